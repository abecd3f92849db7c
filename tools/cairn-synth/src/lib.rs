//! Seeded, deterministic synthetic workload of realistic model decisions.
//!
//! [`Synth`] yields one JSON object per decision, and [`write_ndjson`] writes
//! them as newline-delimited JSON. The same [`SynthConfig`] always produces the
//! same bytes: all randomness comes from one ChaCha8 stream seeded from
//! [`SynthConfig::seed`], and timestamps come from [`SynthConfig::start_unix_ms`],
//! never from the clock.
//!
//! Three kinds of decision are mixed (about 45% / 30% / 25%), each on its own
//! stream:
//!
//! * `payments.fraud`: a card transaction and a feature vector in, an
//!   approve / review / decline verdict with a score and reasons out.
//! * `support.chat`: a multi-turn support conversation in, an assistant reply
//!   with token usage out; the top-level `decision` is the intent label.
//! * `commerce.pricing`: a SKU with inventory, competitor prices and demand
//!   signals in, a hold / raise / lower price decision out.
//!
//! Every record has these fields and no others: `stream`, `model`
//! (`name`, `version`, optional `digest`), `input`, `output`, and the optional
//! `request_id`, `trace_id` (32 hex), `span_id` (16 hex), `subject`, `session`,
//! `event_time` (RFC 3339 UTC, milliseconds), `operation`, `params`, `decision`,
//! `score`, `latency_ms`, `attributes` (string to string) and `idempotency_key`.
//!
//! The workload has a population of subjects drawn with a skewed distribution
//! (a few are very frequent), sessions that group consecutive decisions of one
//! subject on one stream, unique request ids, non-decreasing event times with
//! exponential gaps, and model-version changes at fixed fractions of the run
//! that visibly shift each stream's decision mix.

mod chat;
mod fraud;
mod pricing;
mod rng;
mod text;

use std::io::{self, BufWriter, Write};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Map, Value};

use crate::rng::{mix64, RngExt};

/// 2026-11-20T10:00:00Z in Unix milliseconds, the default start of the run.
pub const DEFAULT_START_UNIX_MS: i64 = 1_795_168_800_000;

/// The stream carrying fraud-scoring decisions.
pub const STREAM_FRAUD: &str = "payments.fraud";
/// The stream carrying support-chat completions.
pub const STREAM_CHAT: &str = "support.chat";
/// The stream carrying pricing decisions.
pub const STREAM_PRICING: &str = "commerce.pricing";

/// The fields a generated record may carry; every record uses a subset.
pub const FIELDS: [&str; 17] = [
    "stream",
    "model",
    "input",
    "output",
    "request_id",
    "trace_id",
    "span_id",
    "subject",
    "session",
    "event_time",
    "operation",
    "params",
    "decision",
    "score",
    "latency_ms",
    "attributes",
    "idempotency_key",
];

/// Parameters of a generated run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SynthConfig {
    /// Seed of the random stream; the same seed gives the same output bytes.
    pub seed: u64,
    /// Number of decisions to generate.
    pub count: u64,
    /// `event_time` of the run's start, in Unix milliseconds (UTC).
    pub start_unix_ms: i64,
    /// Size of the subject population (`cust-000000` upwards); 0 is taken as 1.
    pub subjects: u32,
    /// Mean gap between consecutive decisions, in microseconds (exponentially
    /// distributed). The default of 1000 makes a million decisions span about
    /// 17 minutes; 0 puts every decision at the start time.
    pub mean_gap_us: u64,
    /// Small decisions only: fraud scores and prices (about 500 B of NDJSON
    /// each), no chat completions.
    pub small: bool,
}

impl Default for SynthConfig {
    fn default() -> Self {
        SynthConfig {
            seed: 1,
            count: 1000,
            start_unix_ms: DEFAULT_START_UNIX_MS,
            subjects: 10_000,
            mean_gap_us: 1000,
            small: false,
        }
    }
}

/// Formats Unix milliseconds as RFC 3339 UTC with exactly three fractional
/// digits, e.g. `2026-11-20T10:00:00.123Z`. Meant for years 0000 to 9999.
pub fn format_event_time(unix_ms: i64) -> String {
    let days = unix_ms.div_euclid(86_400_000);
    let ms_of_day = unix_ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let secs = ms_of_day / 1000;
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms_of_day % 1000
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// A model whose version changes at fixed fractions of the run.
pub(crate) struct ModelSpec {
    name: &'static str,
    versions: &'static [&'static str],
    /// Fractions of the run at which `versions[k + 1]` takes over from `versions[k]`.
    changes: &'static [f64],
    with_digest: bool,
}

impl ModelSpec {
    /// The index of the version in force for record `index` of `count`.
    fn version_at(&self, index: u64, count: u64) -> usize {
        self.changes
            .iter()
            .filter(|frac| index >= (count as f64 * **frac) as u64)
            .count()
    }

    /// The `model` object for a version index.
    fn json(&self, version: usize) -> Value {
        let v = self.versions[version.min(self.versions.len() - 1)];
        let mut m = Map::new();
        m.insert("name".into(), self.name.into());
        m.insert("version".into(), v.into());
        if self.with_digest {
            let mut h = 0xCBF2_9CE4_8422_2325u64;
            for b in self.name.bytes().chain([0]).chain(v.bytes()) {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
            }
            let digest: String = (0..4)
                .map(|k| format!("{:016x}", mix64(h.wrapping_add(k))))
                .collect();
            m.insert("digest".into(), format!("sha256:{digest}").into());
        }
        Value::Object(m)
    }
}

/// A tenant of the recorder: the customers of each tenant live in one region.
pub(crate) struct Tenant {
    pub id: &'static str,
    pub display: &'static str,
    pub region: &'static str,
    pub currency: &'static str,
}

pub(crate) static TENANTS: [(Tenant, u32); 8] = [
    (
        Tenant {
            id: "northwind",
            display: "Northwind",
            region: "us-east-1",
            currency: "USD",
        },
        30,
    ),
    (
        Tenant {
            id: "contoso",
            display: "Contoso",
            region: "eu-west-1",
            currency: "EUR",
        },
        20,
    ),
    (
        Tenant {
            id: "fabrikam",
            display: "Fabrikam",
            region: "us-west-2",
            currency: "USD",
        },
        14,
    ),
    (
        Tenant {
            id: "tailspin",
            display: "Tailspin Toys",
            region: "eu-central-1",
            currency: "EUR",
        },
        10,
    ),
    (
        Tenant {
            id: "wingtip",
            display: "Wingtip",
            region: "ap-southeast-1",
            currency: "SGD",
        },
        9,
    ),
    (
        Tenant {
            id: "litware",
            display: "Litware",
            region: "us-east-1",
            currency: "USD",
        },
        7,
    ),
    (
        Tenant {
            id: "proseware",
            display: "Proseware",
            region: "eu-west-1",
            currency: "GBP",
        },
        6,
    ),
    (
        Tenant {
            id: "adatum",
            display: "Adatum",
            region: "ap-northeast-1",
            currency: "JPY",
        },
        4,
    ),
];

/// The tenant a subject belongs to (stable for the subject).
pub(crate) fn tenant_of(subject: u32) -> &'static Tenant {
    let total: u32 = TENANTS.iter().map(|(_, w)| w).sum();
    let mut ticket = (rng::stable_unit(u64::from(subject), 0x7e4a) * f64::from(total)) as u32;
    for (t, w) in &TENANTS {
        if ticket < *w {
            return t;
        }
        ticket -= w;
    }
    &TENANTS[0].0
}

/// The skewed subject population: low ranks are drawn far more often, and a
/// seeded affine permutation spreads the frequent ones over the id space.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Population {
    size: u64,
    mul: u64,
    add: u64,
}

impl Population {
    fn new(size: u32, rng: &mut ChaCha8Rng) -> Self {
        let size = u64::from(size.max(1));
        let mut mul = rng.random_range(1..=size.max(2)) | 1;
        while gcd(mul, size) != 1 {
            mul += 1;
        }
        let add = rng.random_range(0..size);
        Population { size, mul, add }
    }

    /// Draws a subject number in `0..size`.
    pub(crate) fn draw(&self, rng: &mut ChaCha8Rng) -> u32 {
        let u = rng.unit();
        let rank = (u * u * self.size as f64) as u64 % self.size;
        let id = (u128::from(rank) * u128::from(self.mul) + u128::from(self.add))
            % u128::from(self.size);
        u32::try_from(id).unwrap_or(u32::MAX)
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// The display form of a subject number.
pub(crate) fn subject_name(subject: u32) -> String {
    format!("cust-{subject:06}")
}

/// An open session: consecutive decisions of one subject on one stream.
pub(crate) struct Open<S> {
    pub subject: u32,
    pub id: String,
    /// Decisions still to come in this session, including the current one.
    pub left: u32,
    pub state: S,
}

/// Picks the open session for the next decision on a stream: an existing one
/// (`Ok(slot)`) or a new subject that has no open session (`Err(subject)`).
pub(crate) fn session_slot<S>(
    pool: &[Open<S>],
    rng: &mut ChaCha8Rng,
    population: &Population,
    p_continue: f64,
    cap: usize,
) -> Result<usize, u32> {
    if !pool.is_empty() && (pool.len() >= cap || rng.chance(p_continue)) {
        return Ok(rng.random_range(0..pool.len()));
    }
    let subject = population.draw(rng);
    match pool.iter().position(|o| o.subject == subject) {
        Some(slot) => Ok(slot),
        None => Err(subject),
    }
}

/// Marks one decision of the session in `slot` as done, closing it when spent.
pub(crate) fn session_step<S>(pool: &mut Vec<Open<S>>, slot: usize) {
    pool[slot].left = pool[slot].left.saturating_sub(1);
    if pool[slot].left == 0 {
        pool.swap_remove(slot);
    }
}

/// The kind-specific part of a record, completed by [`Synth::finish`].
pub(crate) struct Draft {
    pub stream: &'static str,
    pub model: Value,
    pub subject: Option<u32>,
    pub session: Option<String>,
    pub operation: &'static str,
    pub params: Option<Value>,
    pub input: Value,
    pub output: Value,
    pub decision: String,
    pub score: f64,
    pub latency_ms: f64,
    /// Tenant used for attributes when the record has no subject.
    pub tenant: &'static Tenant,
    pub extra_attributes: Vec<(&'static str, String)>,
    /// Whether the record carries a request id.
    pub with_request_id: bool,
    /// Probability that the record carries attributes.
    pub p_attributes: f64,
    /// Probability that the record carries trace and span ids.
    pub p_trace: f64,
    /// Probability that the record carries an idempotency key.
    pub p_idempotency: f64,
}

/// An iterator over generated decisions; see the crate documentation.
pub struct Synth {
    cfg: SynthConfig,
    rng: ChaCha8Rng,
    index: u64,
    elapsed_us: u64,
    id_key: u64,
    idem_key: u64,
    session_key: u64,
    sessions_opened: u64,
    population: Population,
    sku_population: Population,
    fraud_sessions: Vec<Open<fraud::SessionState>>,
    chat_sessions: Vec<Open<chat::SessionState>>,
    pricing_sessions: Vec<Open<pricing::SessionState>>,
}

impl Synth {
    /// A generator for `cfg`; it yields exactly `cfg.count` records.
    pub fn new(cfg: SynthConfig) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        let id_key = rng.random();
        let idem_key = rng.random();
        let session_key = rng.random();
        let population = Population::new(cfg.subjects, &mut rng);
        let sku_population = Population::new(pricing::SKUS, &mut rng);
        Synth {
            cfg,
            rng,
            index: 0,
            elapsed_us: 0,
            id_key,
            idem_key,
            session_key,
            sessions_opened: 0,
            population,
            sku_population,
            fraud_sessions: Vec::new(),
            chat_sessions: Vec::new(),
            pricing_sessions: Vec::new(),
        }
    }

    /// The configuration this generator was built from.
    pub fn config(&self) -> &SynthConfig {
        &self.cfg
    }

    /// The version index of `model` for the record being generated.
    pub(crate) fn version(&self, model: &ModelSpec) -> usize {
        model.version_at(self.index, self.cfg.count)
    }

    /// A fresh, run-unique session id.
    pub(crate) fn new_session_id(&mut self) -> String {
        let n = self.sessions_opened;
        self.sessions_opened += 1;
        format!("sess-{:016x}", mix64(n ^ self.session_key))
    }

    /// Adds the fields every stream shares and assembles the record.
    fn finish(&mut self, d: Draft) -> Value {
        let rng = &mut self.rng;
        let event_ms = self
            .cfg
            .start_unix_ms
            .saturating_add(i64::try_from(self.elapsed_us / 1000).unwrap_or(i64::MAX));
        let mut m = Map::new();
        m.insert("stream".into(), d.stream.into());
        m.insert("model".into(), d.model);
        if d.with_request_id {
            let id = mix64(self.index.wrapping_add(self.id_key));
            m.insert("request_id".into(), format!("req_{id:016x}").into());
        }
        if rng.chance(d.p_trace) {
            m.insert("trace_id".into(), rng.hex(32).into());
            m.insert("span_id".into(), rng.hex(16).into());
        }
        let tenant = match d.subject {
            Some(s) => {
                m.insert("subject".into(), subject_name(s).into());
                tenant_of(s)
            }
            None => d.tenant,
        };
        if let Some(session) = d.session {
            m.insert("session".into(), session.into());
        }
        m.insert("event_time".into(), format_event_time(event_ms).into());
        m.insert("operation".into(), d.operation.into());
        if let Some(params) = d.params {
            m.insert("params".into(), params);
        }
        m.insert("input".into(), d.input);
        m.insert("output".into(), d.output);
        m.insert("decision".into(), d.decision.into());
        m.insert("score".into(), d.score.into());
        m.insert("latency_ms".into(), d.latency_ms.into());
        if rng.chance(d.p_attributes) {
            let mut a = Map::new();
            a.insert("region".into(), tenant.region.into());
            a.insert("tenant".into(), tenant.id.into());
            for (k, v) in d.extra_attributes {
                a.insert(k.into(), v.into());
            }
            m.insert("attributes".into(), Value::Object(a));
        }
        if rng.chance(d.p_idempotency) {
            let hi = mix64(self.index ^ self.idem_key);
            let lo: u64 = rng.random();
            m.insert(
                "idempotency_key".into(),
                format!("idk_{hi:016x}{lo:016x}").into(),
            );
        }
        Value::Object(m)
    }
}

/// Trim a record to the fields a small scoring service logs (about 500 bytes):
/// no tracing ids, parameters, attributes or feature vectors.
fn compact(record: &mut Value) {
    if let Some(obj) = record.as_object_mut() {
        for key in [
            "attributes",
            "params",
            "span_id",
            "trace_id",
            "session",
            "operation",
        ] {
            obj.remove(key);
        }
        if let Some(m) = obj.get_mut("model").and_then(Value::as_object_mut) {
            m.remove("digest");
        }
        if let Some(i) = obj.get_mut("input").and_then(Value::as_object_mut) {
            for key in ["features", "demand_features", "competitor_prices"] {
                i.remove(key);
            }
        }
    }
}

impl Iterator for Synth {
    type Item = Value;

    fn next(&mut self) -> Option<Value> {
        if self.index >= self.cfg.count {
            return None;
        }
        if self.index > 0 && self.cfg.mean_gap_us > 0 {
            let gap = self.rng.exponential(self.cfg.mean_gap_us as f64).round() as u64;
            self.elapsed_us = self.elapsed_us.saturating_add(gap);
        }
        let mut pick = self.rng.unit();
        if self.cfg.small && (0.45..0.75).contains(&pick) {
            // No chat completions: the pick falls to fraud or pricing instead.
            pick = if pick < 0.6 { 0.0 } else { 0.9 };
        }
        let draft = if pick < 0.45 {
            fraud::generate(self)
        } else if pick < 0.75 {
            chat::generate(self)
        } else {
            pricing::generate(self)
        };
        let mut record = self.finish(draft);
        if self.cfg.small {
            compact(&mut record);
        }
        self.index += 1;
        Some(record)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let left = self.cfg.count.saturating_sub(self.index);
        match usize::try_from(left) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}

/// Writes the run described by `cfg` to `out` as NDJSON (one record per line,
/// each ending in `\n`), through an internal buffer, and flushes it. Returns
/// the number of bytes written.
pub fn write_ndjson<W: Write>(cfg: &SynthConfig, out: W) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 16, out);
    let mut line = Vec::with_capacity(16 << 10);
    let mut total = 0u64;
    for record in Synth::new(cfg.clone()) {
        line.clear();
        serde_json::to_writer(&mut line, &record).map_err(io::Error::other)?;
        line.push(b'\n');
        out.write_all(&line)?;
        total += line.len() as u64;
    }
    out.flush()?;
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_time_formatting() {
        assert_eq!(format_event_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_event_time(DEFAULT_START_UNIX_MS),
            "2026-11-20T10:00:00.000Z"
        );
        assert_eq!(
            format_event_time(DEFAULT_START_UNIX_MS + 123),
            "2026-11-20T10:00:00.123Z"
        );
        assert_eq!(
            format_event_time(951_868_799_999),
            "2000-02-29T23:59:59.999Z"
        );
        assert_eq!(format_event_time(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn event_time_matches_time_crate() {
        use time::format_description::well_known::Rfc3339;
        let mut ms = -2_208_988_800_000i64; // 1900-01-01
        while ms < 4_102_444_800_000 {
            let s = format_event_time(ms);
            let parsed = time::OffsetDateTime::parse(&s, &Rfc3339).expect("valid RFC 3339");
            assert_eq!(
                parsed.unix_timestamp_nanos() / 1_000_000,
                i128::from(ms),
                "{s}"
            );
            ms += 7_777_777_777;
        }
    }

    #[test]
    fn population_stays_in_range_and_is_skewed() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for size in [1u32, 2, 7, 10_000] {
            let p = Population::new(size, &mut rng);
            let mut counts = vec![0u32; size as usize];
            for _ in 0..20_000 {
                let s = p.draw(&mut rng);
                assert!(s < size);
                counts[s as usize] += 1;
            }
            if size == 10_000 {
                counts.sort_unstable_by(|a, b| b.cmp(a));
                let top: u32 = counts[..100].iter().sum();
                assert!(
                    top > 20_000 * 7 / 100,
                    "top 1% of subjects get {top} of 20000"
                );
            }
        }
    }

    #[test]
    fn model_versions_change_at_fractions() {
        let spec = ModelSpec {
            name: "m",
            versions: &["1", "2", "3"],
            changes: &[0.25, 0.5],
            with_digest: true,
        };
        assert_eq!(spec.version_at(0, 100), 0);
        assert_eq!(spec.version_at(24, 100), 0);
        assert_eq!(spec.version_at(25, 100), 1);
        assert_eq!(spec.version_at(99, 100), 2);
        let digest = spec.json(0)["digest"].as_str().map(str::len);
        assert_eq!(digest, Some("sha256:".len() + 64));
    }
}
