//! The client against a real daemon: `cairn-server` served in-process on port 0
//! over a RocksDB ledger in a temp dir, talked to over real HTTP.

#![allow(clippy::unwrap_used, missing_docs)]

mod batching;
mod failures;
mod support;
