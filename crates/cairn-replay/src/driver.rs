//! The blocking entry point for command-line tools: start a Tokio runtime and the
//! candidates, replay, stop cleanly on Ctrl-C, shut the candidates down, and give
//! back the outcomes. Callers need no async runtime of their own.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::candidate::{Candidate, CandidateOptions};
use crate::error::ReplayError;
use crate::record::Record;
use crate::report::{AnalyzeOptions, Examined};
use crate::run::{run, Outcome, Replayed, RunOptions};

/// How often the progress callback is called.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Where a candidate or a baseline is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An HTTP endpoint.
    Url(String),
    /// A command line, run by `sh -c`, speaking JSON lines.
    Command(String),
}

impl Target {
    /// The URL or the command line.
    pub fn describe(&self) -> &str {
        match self {
            Target::Url(u) | Target::Command(u) => u,
        }
    }

    async fn start(&self, options: &CandidateOptions) -> Result<Candidate, ReplayError> {
        match self {
            Target::Url(u) => Candidate::http(u, options),
            Target::Command(c) => Candidate::command(c).await,
        }
    }
}

/// A finished (or interrupted) run.
#[derive(Debug)]
pub struct Finished {
    /// The records, as given.
    pub records: Arc<Vec<Record>>,
    /// One outcome per record, in the same order.
    pub outcomes: Vec<Outcome>,
    /// Each entry as examined during the run, for
    /// [`crate::report::analyze_examined`] (all `None` without analysis options).
    pub examined: Vec<Option<Examined>>,
    /// Whether Ctrl-C cut the run short.
    pub interrupted: bool,
    /// How long the replay took.
    pub duration_ms: f64,
}

/// Replay `records` against `candidate` (and `baseline`). With `ctrl_c`, an
/// interrupt cancels the run; what was answered until then is returned.
/// `progress` is called with the number of records finished, every 100 ms. With
/// `analyze`, each entry is examined for the report as its answers arrive.
#[allow(clippy::too_many_arguments)]
pub fn run_blocking(
    records: Vec<Record>,
    candidate: &Target,
    baseline: Option<&Target>,
    candidate_options: &CandidateOptions,
    options: RunOptions,
    analyze: Option<&AnalyzeOptions>,
    ctrl_c: bool,
    mut progress: impl FnMut(u64) + Send + 'static,
) -> Result<Finished, ReplayError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| ReplayError::Runtime {
            reason: e.to_string(),
        })?;
    runtime.block_on(async move {
        let candidate = Arc::new(candidate.start(candidate_options).await?);
        let baseline = match baseline {
            Some(b) => Some(Arc::new(b.start(candidate_options).await?)),
            None => None,
        };
        let cancel = options.cancel.clone();
        if ctrl_c {
            let cancel = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    cancel.cancel();
                }
            });
        }
        let counter = options.progress.clone();
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(PROGRESS_EVERY);
            loop {
                every.tick().await;
                progress(counter.load(Ordering::Relaxed));
            }
        });
        let records = Arc::new(records);
        let start = Instant::now();
        let examine = analyze.map(|a| Arc::new(a.clone()));
        let Replayed { outcomes, examined } = run(
            records.clone(),
            candidate.clone(),
            baseline.clone(),
            &options,
            examine,
        )
        .await;
        let duration_ms = start.elapsed().as_secs_f64() * 1000.0;
        ticker.abort();
        candidate.shutdown().await;
        if let Some(b) = &baseline {
            b.shutdown().await;
        }
        Ok(Finished {
            records,
            outcomes,
            examined,
            interrupted: cancel.is_cancelled(),
            duration_ms,
        })
    })
}
