//! Replay recorded decisions against a candidate model and say exactly what changes.
//!
//! The caller (the `cairn replay` command) selects decisions from a ledger and hands
//! them over as [`Record`]s; this crate knows no storage. It then
//!
//! 1. sends each record's input to a [`Candidate`] — an HTTP endpoint or a long-lived
//!    subprocess speaking JSON lines (`schemas/replay-protocol.md`) — and, optionally,
//!    to a baseline serving the recorded model version, with bounded concurrency, an
//!    optional rate limit, timeouts and retries, decisions of one session in their
//!    recorded order ([`run::replay`]);
//! 2. diffs every answer against the recorded output by JSON path, with tolerances and
//!    ignored paths ([`diff`]);
//! 3. separates real differences from noise using the baseline ([`noise`]);
//! 4. builds a [`Report`] (agreement, label flips, per-path counts, score and latency
//!    shift, errors, examples) and renders it for a terminal, as JSON and as a
//!    self-contained HTML page ([`render`]).
//!
//! Async is a thin shell: the diff, the noise rule, the statistics and the report are
//! pure functions over values.

pub mod candidate;
pub mod diff;
pub mod driver;
pub mod error;
pub mod gate;
pub mod noise;
pub mod path;
pub mod record;
pub mod render;
pub mod report;
pub mod run;
pub mod selection;
pub mod stats;

pub use candidate::{Candidate, CandidateOptions};
pub use diff::{DiffKind, DiffRules, Difference, Tolerance};
pub use driver::{run_blocking, Finished, Target};
pub use error::ReplayError;
pub use gate::{Gate, GateError, GateResult};
pub use path::PathPattern;
pub use record::{NotReplayable, Record};
pub use report::{
    analyze, analyze_examined, examine, AnalyzeOptions, Endpoint, Examined, Report, RunInfo,
    Settings,
};
pub use run::{replay, replay_examined, Outcome, Replayed, Reply, RunOptions};
pub use selection::Selection;
