//! The daemon end to end: a real server on port 0, real HTTP, real RocksDB in a
//! temp dir (or, where a test needs a slow or failing disk, a backend that is).

#![allow(clippy::unwrap_used, missing_docs)]

mod append;
mod bad_input;
mod binary;
mod limits;
mod monitor;
mod openapi;
mod otlp;
mod overload;
mod proofs;
mod shutdown;
mod support;
mod tls;
mod trust;
