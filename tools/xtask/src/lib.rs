//! `cargo xtask`: developer chores for the Cairn workspace.
//!
//! Today one chore: [`peers`], the side-by-side benchmark of Cairn against a
//! hash-chained PostgreSQL table and a hash-chained JSON-lines file
//! (`cargo xtask bench-peers`).

pub mod peers;
