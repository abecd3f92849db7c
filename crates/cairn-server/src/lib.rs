//! The Cairn daemon as a library: an HTTP/1.1 server (axum on tokio) that
//! appends the decisions services send to a Cairn ledger and answers with a
//! receipt only once they are durable, and serves checkpoints, proofs and
//! entries to auditors.
//!
//! [`serve`] takes a bound listener and a shutdown future, so a test binds port
//! 0 and stops the daemon when it likes. The binary `cairnd` adds the command
//! line, configuration file, logging and signals around it.
//!
//! Code map: [`config`] (options and their sources), [`store`] (the ledger
//! directory), [`auth`] (tokens and rights), [`admission`] (the byte budget),
//! [`sequencer`] (the one appending thread, group commit), [`checkpointer`]
//! (signed checkpoints), [`archiver`] (the archive in object storage), [`routes`] (the HTTP API), [`otlp`] (OpenTelemetry
//! trace ingest), [`monitor`] (the live monitor and its breakers), [`metrics`], [`health`],
//! [`tls`], [`server`] (connections and shutdown), [`error`].

pub mod admission;
pub mod archiver;
pub mod auth;
pub mod checkpointer;
pub mod config;
pub mod error;
pub mod health;
pub mod indexer;
pub mod metrics;
pub mod monitor;
pub mod otlp;
pub mod routes;
pub mod sequencer;
pub mod server;
pub mod store;
pub mod tls;

pub use config::{Config, Settings};
pub use error::{ApiError, ErrorCode, ServeError};
pub use routes::ROUTES;
pub use server::{preflight, serve, Daemon};
