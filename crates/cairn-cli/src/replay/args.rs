//! The command line of `cairn replay`, and its translation into a plan: what to
//! select, where the candidate and the baseline are, how to run and how to compare.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cairn_core::decision::parse_time_us;
use cairn_core::entry::ModelRef;
use cairn_replay::candidate::{CandidateOptions, Template};
use cairn_replay::noise::NoiseRule;
use cairn_replay::record::parse_model_ref;
use cairn_replay::{AnalyzeOptions, DiffRules, Gate, PathPattern, RunOptions, Target, Tolerance};

use super::select::Criteria;

/// Arguments of `cairn replay`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ReplayArgs {
    #[command(subcommand)]
    pub(super) command: Option<ReplayCommand>,
    // Boxed: the run's many flags would make every `cairn` command this large.
    #[command(flatten)]
    pub(super) run: Box<RunArgs>,
}

/// Subcommands of `cairn replay`.
#[derive(Debug, clap::Subcommand)]
pub(super) enum ReplayCommand {
    /// Print a replay entry; with --results FILE, check that FILE holds exactly the
    /// JSON results whose digest the entry carries; with --key KEY (or
    /// --key-file FILE), prove the entry included in the newest checkpoint
    /// signed by that key.
    ///
    /// Exit status: 0 checked, 1 the results file differs or the entry is not
    /// proven, 2 could not check.
    Show(ShowArgs),
}

/// Arguments of `cairn replay show`.
#[derive(Debug, clap::Args)]
pub(super) struct ShowArgs {
    /// The replay entry's seq.
    pub seq: u64,
    /// Print compact JSON.
    #[arg(long)]
    pub json: bool,
    /// A JSON results file to check against the entry's digest (exit 1 if it differs).
    #[arg(long, value_name = "FILE")]
    pub results: Option<PathBuf>,
    // With --key KEY or --key-file FILE, also prove that the entry is included
    // in the newest stored checkpoint signed by that key (exit 1 if not).
    #[command(flatten)]
    pub key: crate::datadir::KeyArgs,
}

/// Arguments of a replay run.
#[derive(Debug, clap::Args)]
pub(super) struct RunArgs {
    /// The candidate: an HTTP endpoint receiving each record as a POST.
    #[arg(long, value_name = "URL", help_heading = "Candidate")]
    candidate_url: Option<String>,
    /// The candidate: a command (run by `sh -c`) speaking JSON lines on stdin/stdout.
    #[arg(long, value_name = "CMD", help_heading = "Candidate")]
    candidate_cmd: Option<String>,
    /// The candidate's model, recorded in the ledger: NAME@VERSION[#DIGEST].
    #[arg(long, value_name = "MODEL", help_heading = "Candidate")]
    pub candidate_model: Option<String>,
    /// A baseline serving the recorded model version, over HTTP: its differences
    /// from the record measure noise.
    #[arg(long, value_name = "URL", help_heading = "Candidate")]
    baseline_url: Option<String>,
    /// A baseline as a JSON-lines command.
    #[arg(long, value_name = "CMD", help_heading = "Candidate")]
    baseline_cmd: Option<String>,
    /// Shape of the HTTP request body: JSON (or @FILE) with placeholders such as
    /// "{{input}}", "{{params.seed}}", "{{seq}}" (see schemas/replay-protocol.md).
    #[arg(long, value_name = "JSON|@FILE", help_heading = "Candidate")]
    template: Option<String>,

    /// Only decisions of this stream.
    #[arg(long, help_heading = "Selection")]
    stream: Option<String>,
    /// Only decisions of this model: NAME or NAME@VERSION.
    #[arg(long, value_name = "NAME[@VERSION]", help_heading = "Selection")]
    model: Option<String>,
    /// Only decisions at or after this time (RFC 3339; event time, else recorded time).
    #[arg(long, value_name = "TIME", help_heading = "Selection")]
    from: Option<String>,
    /// Only decisions before this time (RFC 3339).
    #[arg(long, value_name = "TIME", help_heading = "Selection")]
    to: Option<String>,
    /// Only decisions about this subject.
    #[arg(long, help_heading = "Selection")]
    subject: Option<String>,
    /// Only decisions of this session.
    #[arg(long, help_heading = "Selection")]
    session: Option<String>,
    /// Only decisions with this request id (repeatable).
    #[arg(long = "request-id", value_name = "ID", help_heading = "Selection")]
    request_ids: Vec<String>,
    /// Keep this fraction (0 < F ≤ 1) of the matching decisions, chosen by --seed.
    #[arg(long, value_name = "FRACTION", help_heading = "Selection")]
    sample: Option<f64>,
    /// Seed of --sample: the same seed picks the same decisions.
    #[arg(long, default_value_t = 0, help_heading = "Selection")]
    seed: u64,
    /// At most this many decisions (the first in ledger order).
    #[arg(long, help_heading = "Selection")]
    limit: Option<u64>,

    /// Most sessions replayed at once (requests in flight per endpoint).
    #[arg(long, default_value_t = 16, help_heading = "Running")]
    concurrency: usize,
    /// Most decisions started per second.
    #[arg(long, value_name = "PER_SECOND", help_heading = "Running")]
    rate: Option<f64>,
    /// Time allowed for one request.
    #[arg(long, default_value_t = 10_000, help_heading = "Running")]
    pub timeout_ms: u64,
    /// Further attempts after a timeout, a broken connection or a 5xx answer.
    #[arg(long, default_value_t = 1, help_heading = "Running")]
    pub retries: u32,

    /// Numeric tolerance at or below a path: PATH=ABS[,REL] (repeatable).
    #[arg(
        long = "tolerance",
        value_name = "PATH=ABS[,REL]",
        help_heading = "Comparing"
    )]
    tolerances: Vec<String>,
    /// Ignore differences at or below a path (repeatable).
    #[arg(long = "ignore", value_name = "PATH", help_heading = "Comparing")]
    ignore: Vec<String>,
    /// Where the decision label is in an output (else the recorded `decision`).
    #[arg(long, default_value = "$.decision", help_heading = "Comparing")]
    label_path: String,
    /// Where the score is in an output (else the recorded `score`).
    #[arg(long, default_value = "$.score", help_heading = "Comparing")]
    score_path: String,
    /// Most examples in the report.
    #[arg(long, default_value_t = 20, help_heading = "Comparing")]
    examples: usize,

    /// A deploy gate the run must pass: METRIC OP NUMBER, OP one of >= <= > < ==
    /// != (repeatable). Metrics: agreement, label_agreement, flip[A->B] (share of
    /// label-compared decisions that went from A to B), score_shift_mean
    /// (|mean score delta|), score_shift_mean_abs, score_ks, errors, error_rate,
    /// replayed, p50_latency_ms, p99_latency_ms (candidate round trip). A gate
    /// the run cannot measure fails. Results go into the JSON results and so
    /// into the replay entry; any failed gate makes the exit status 3.
    #[arg(long = "gate", value_name = "EXPR", help_heading = "Gates")]
    gates: Vec<String>,

    /// Print the JSON results instead of the summary.
    #[arg(long, help_heading = "Output")]
    pub json: bool,
    /// Write the JSON results to FILE (the exact bytes whose digest is recorded).
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub json_out: Option<PathBuf>,
    /// Write a self-contained HTML report to FILE.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub html: Option<PathBuf>,
    /// Do not append a replay entry to the ledger.
    #[arg(long, help_heading = "Output")]
    pub no_record: bool,
    /// Record the run through this running `cairnd` (e.g. `http://127.0.0.1:7070`)
    /// instead of opening the ledger: needed while the daemon holds it.
    #[arg(
        long,
        env = "CAIRN_DAEMON",
        value_name = "URL",
        help_heading = "Output"
    )]
    pub daemon: Option<String>,
    /// Bearer token for `--daemon` (needs write rights to `cairn.replay`).
    #[arg(
        long,
        env = "CAIRN_TOKEN",
        value_name = "TOKEN",
        help_heading = "Output",
        hide_env_values = true
    )]
    pub token: Option<String>,
}

/// A run, checked and parsed.
pub(super) struct Plan {
    pub criteria: Criteria,
    pub candidate: Target,
    pub baseline: Option<Target>,
    pub candidate_model: Option<ModelRef>,
    pub candidate_options: CandidateOptions,
    pub run_options: RunOptions,
    pub analyze: AnalyzeOptions,
    pub gates: Vec<Gate>,
}

fn target(url: &Option<String>, cmd: &Option<String>, what: &str) -> Result<Option<Target>> {
    match (url, cmd) {
        (Some(_), Some(_)) => bail!("give either --{what}-url or --{what}-cmd, not both"),
        (Some(u), None) => Ok(Some(Target::Url(u.clone()))),
        (None, Some(c)) => Ok(Some(Target::Command(c.clone()))),
        (None, None) => Ok(None),
    }
}

impl RunArgs {
    /// Check the arguments and build the plan.
    pub fn plan(&self) -> Result<Plan> {
        let candidate = target(&self.candidate_url, &self.candidate_cmd, "candidate")?
            .context("no candidate: pass --candidate-url URL or --candidate-cmd CMD")?;
        let baseline = target(&self.baseline_url, &self.baseline_cmd, "baseline")?;
        let candidate_model = match &self.candidate_model {
            Some(m) => Some(parse_model_ref(m).with_context(|| {
                format!("--candidate-model {m:?}: expected NAME@VERSION or NAME@VERSION#DIGEST")
            })?),
            None => None,
        };
        if self.concurrency == 0 {
            bail!("--concurrency must be at least 1");
        }
        if let Some(r) = self.rate {
            if !(r >= 0.001 && r.is_finite()) {
                bail!("--rate must be a number of decisions per second, at least 0.001 (one every 1000 s)");
            }
        }
        let template = match &self.template {
            Some(t) => Some(Template::parse(&read_arg(t)?)?),
            None => None,
        };
        Ok(Plan {
            criteria: self.criteria()?,
            candidate,
            baseline,
            candidate_model,
            candidate_options: CandidateOptions {
                concurrency: self.concurrency,
                template,
            },
            run_options: RunOptions {
                concurrency: self.concurrency,
                rate_per_s: self.rate,
                timeout: Duration::from_millis(self.timeout_ms.max(1)),
                retries: self.retries,
                ..RunOptions::default()
            },
            analyze: self.analyze()?,
            gates: self
                .gates
                .iter()
                .map(|g| Gate::parse(g))
                .collect::<Result<Vec<_>, _>>()?,
        })
    }

    fn criteria(&self) -> Result<Criteria> {
        let time = |t: &Option<String>, flag: &str| -> Result<Option<i64>> {
            t.as_deref()
                .map(|t| parse_time_us(t).map_err(|e| anyhow::anyhow!("--{flag}: {e}")))
                .transpose()
        };
        if let Some(f) = self.sample {
            if !(f > 0.0 && f <= 1.0) {
                bail!("--sample must be a fraction in (0, 1], got {f}");
            }
        }
        let (model_name, model_version) = match &self.model {
            Some(m) => match m.rsplit_once('@') {
                Some((n, v)) if !n.is_empty() && !v.is_empty() => {
                    (Some(n.to_owned()), Some(v.to_owned()))
                }
                Some(_) => bail!("--model {m:?}: expected NAME or NAME@VERSION"),
                None => (Some(m.clone()), None),
            },
            None => (None, None),
        };
        Ok(Criteria {
            stream: self.stream.clone(),
            model_name,
            model_version,
            from: self.from.clone(),
            to: self.to.clone(),
            from_us: time(&self.from, "from")?,
            to_us: time(&self.to, "to")?,
            subject: self.subject.clone(),
            session: self.session.clone(),
            request_ids: self.request_ids.clone(),
            sample: self.sample.map(|f| (f, self.seed)),
            limit: self.limit,
        })
    }

    fn analyze(&self) -> Result<AnalyzeOptions> {
        let tolerances = self
            .tolerances
            .iter()
            .map(|t| Tolerance::parse(t))
            .collect::<Result<Vec<_>, _>>()?;
        let ignore = self
            .ignore
            .iter()
            .map(|p| PathPattern::parse(p))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AnalyzeOptions {
            rules: DiffRules { tolerances, ignore },
            label_path: PathPattern::parse(&self.label_path).context("--label-path")?,
            score_path: PathPattern::parse(&self.score_path).context("--score-path")?,
            examples_max: self.examples,
            noise: NoiseRule::default(),
        })
    }
}

/// An argument given inline or as `@FILE`.
fn read_arg(text: &str) -> Result<String> {
    match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}")),
        None => Ok(text.to_owned()),
    }
}
