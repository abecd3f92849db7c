//! Cairn's pure core: the entry model and its canonical encoding, hashes, the
//! hash chain, the RFC 9162 Merkle tree with its proofs, and signed checkpoints.
//!
//! This crate does no I/O: no files, no sockets, no clocks, no randomness. Callers
//! pass in salts, times and keys.

pub mod bundle;
pub mod canon;
pub mod checkpoint;
pub mod decision;
pub mod entry;
pub mod hash;
pub mod merkle;
pub mod render;
pub mod signing;
