//! Cairn's storage: a small [`Backend`] trait with in-memory and RocksDB
//! implementations, and the [`Ledger`] built over it (sequencing, compression,
//! tree nodes, indexes, checkpoints, recovery), plus [`verify`].
//!
//! Only this crate knows RocksDB.

pub mod backend;
pub mod codec;
pub mod datadir;
pub mod error;
pub mod failpoint;
pub mod keys;
pub mod ledger;
pub mod memory;
pub mod migrate;
pub mod pieces;
pub mod postings;
pub mod query;
pub mod retention;
pub mod rocks;
pub mod tamper;
pub mod tiles;
pub mod verify;

pub use backend::{Backend, Cf, EngineMemory, WriteBatch};
pub use error::{Result, StoreError};
pub use ledger::{Append, Ledger, PayloadState, Receipt, DISK_RESERVE};
pub use memory::MemoryBackend;
pub use rocks::RocksBackend;
