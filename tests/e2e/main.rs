//! End-to-end tests: they run the real `cairn`, `cairn-synth` and `cairn-tamper`
//! executables on real RocksDB ledgers in temp dirs, and read what a user reads.
//!
//! Build the binaries first (`scripts/test.sh` does): `cargo build --release --workspace --bins`.
#![allow(clippy::unwrap_used, missing_docs)]

mod archive;
mod breaker;
mod breaker_state;
mod bundle;
mod cli;
mod crash;
mod crashpoints;
mod daemon;
mod deps;
mod diskfull;
mod erasure;
mod flips;
mod gates;
mod incident;
mod keys;
mod live;
mod modes;
mod overload;
mod reference;
mod replay;
mod replay_run;
mod retention;
mod signer;
mod support;
mod tamper;
mod watch;
