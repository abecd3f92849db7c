//! Cairn's archive: a ledger's sealed entry and payload bundles, its tree
//! tiles and its signed checkpoints as immutable objects in an object store
//! (any S3-compatible bucket, or a local directory), laid out as
//! `schemas/archive-v1.md` says so that anyone can read them with plain GETs.
//!
//! - [`upload::archive`] extends the archive to a ledger's newest checkpoint,
//!   data before the checkpoint that covers it; a stopped run is resumed by
//!   the next.
//! - [`source::BucketBackend`] is an archive as a read-only storage backend: a
//!   `Ledger` over it reads entries and proofs, and `verify` checks the whole
//!   archive, from the bucket alone.
//! - [`restore::restore`] copies an archive into a new local ledger.
//! - [`layered::Layered`] is a ledger's local store with the archive behind
//!   the windows it dropped once archived (`cairnd --local-retention`), read
//!   through a bounded cache ([`cache`]); [`localdir`] opens a ledger
//!   directory through it.
//!
//! This crate is part of the store layer: only it knows object storage. Its
//! [`bucket::Bucket`] drives the async `object_store` crate on a private
//! runtime behind a blocking interface, so its callers stay synchronous.

pub mod bucket;
pub mod cache;
pub mod error;
pub mod layered;
pub mod layout;
pub mod localdir;
pub mod restore;
pub mod source;
pub mod upload;

pub use bucket::Bucket;
pub use error::{ArchiveError, Result};
pub use layered::{ArchiveReads, Layered, ReadStats, DEFAULT_CACHE_BYTES};
pub use restore::{restore, RestoreReport};
pub use source::BucketBackend;
pub use upload::{archive, archived_size, ArchiveReport};
