//! The annotated worked example of `entry-v1.md`: a second, field-by-field
//! encoder that follows the spec's layout and records what each run of bytes is.

use super::*;

#[derive(Default)]
pub(super) struct Annotated {
    pub(super) bytes: Vec<u8>,
    rows: Vec<(usize, Vec<u8>, String)>,
}

impl Annotated {
    fn push(&mut self, bytes: &[u8], what: String) {
        self.rows.push((self.bytes.len(), bytes.to_vec(), what));
        self.bytes.extend_from_slice(bytes);
    }
    fn variant(&mut self, index: u32, name: &str, what: &str) {
        self.push(
            &index.to_le_bytes(),
            format!("{what}: variant index (u32) = {index} ({name})"),
        );
    }
    fn u64(&mut self, v: u64, what: &str) {
        self.push(&v.to_le_bytes(), format!("{what} (u64) = {v}"));
    }
    fn i64(&mut self, v: i64, what: &str) {
        self.push(&v.to_le_bytes(), format!("{what} (i64) = {v}"));
    }
    fn f64(&mut self, v: f64, what: &str) {
        self.push(&v.to_le_bytes(), format!("{what} (f64) = {v}"));
    }
    fn hash(&mut self, v: &Hash, what: &str) {
        self.push(v, format!("{what} ([u8; 32])"));
    }
    fn string(&mut self, v: &str, what: &str) {
        self.push(
            &(v.len() as u64).to_le_bytes(),
            format!("{what}: length (u64) = {}", v.len()),
        );
        if !v.is_empty() {
            self.push(v.as_bytes(), format!("{what} = {v:?}"));
        }
    }
    fn tag(&mut self, some: bool, what: &str) {
        let t = u8::from(some);
        let name = if some { "Some" } else { "None" };
        self.push(&[t], format!("{what}: Option tag = {t} ({name})"));
    }
    fn opt_string(&mut self, v: &Option<String>, what: &str) {
        self.tag(v.is_some(), what);
        if let Some(s) = v {
            self.string(s, what);
        }
    }
    fn model(&mut self, m: &ModelRef, what: &str) {
        self.string(&m.name, &format!("{what}.name"));
        self.string(&m.version, &format!("{what}.version"));
        self.opt_string(&m.digest, &format!("{what}.digest"));
    }
    fn payload(&mut self, p: &PayloadRef, what: &str) {
        self.u64(p.len, &format!("{what}.len"));
        self.hash(&p.commitment, &format!("{what}.commitment"));
    }

    fn decision(&mut self, d: &DecisionV1) {
        self.string(&d.stream, "stream");
        self.model(&d.model, "model");
        self.tag(d.event_time_us.is_some(), "event_time_us");
        if let Some(t) = d.event_time_us {
            self.i64(t, "event_time_us");
        }
        self.opt_string(&d.request_id, "request_id");
        self.opt_string(&d.trace_id, "trace_id");
        self.opt_string(&d.span_id, "span_id");
        self.opt_string(&d.subject, "subject");
        self.opt_string(&d.session, "session");
        self.opt_string(&d.operation, "operation");
        self.opt_string(&d.params, "params");
        self.opt_string(&d.decision, "decision");
        self.tag(d.score.is_some(), "score");
        if let Some(s) = d.score {
            self.f64(s, "score");
        }
        self.tag(d.latency_ms.is_some(), "latency_ms");
        if let Some(l) = d.latency_ms {
            self.f64(l, "latency_ms");
        }
        self.u64(d.attributes.len() as u64, "attributes: count");
        for (i, (k, v)) in d.attributes.iter().enumerate() {
            self.string(k, &format!("attributes[{i}].key"));
            self.string(v, &format!("attributes[{i}].value"));
        }
        self.opt_string(&d.idempotency_key, "idempotency_key");
        self.payload(&d.input, "input");
        self.payload(&d.output, "output");
    }

    pub(super) fn entry(e: &Entry) -> Annotated {
        let mut a = Annotated::default();
        a.push(
            &[FORMAT_VERSION],
            format!("format version = {FORMAT_VERSION}"),
        );
        a.u64(e.seq, "seq");
        a.hash(&e.prev_hash, "prev_hash");
        a.i64(e.recorded_at_us, "recorded_at_us");
        match &e.body {
            EntryBody::DecisionV1(d) => {
                a.variant(0, "DecisionV1", "body: EntryBody");
                a.decision(d);
            }
            EntryBody::RedactionV1(r) => {
                a.variant(1, "RedactionV1", "body: EntryBody");
                a.u64(r.target_seq, "target_seq");
                a.u64(r.slots.len() as u64, "slots: count");
                for (i, s) in r.slots.iter().enumerate() {
                    let idx = match s {
                        PayloadSlot::Input => 0,
                        PayloadSlot::Output => 1,
                    };
                    a.variant(idx, s.name(), &format!("slots[{i}]: PayloadSlot"));
                }
                a.string(&r.reason, "reason");
                a.string(&r.actor, "actor");
            }
            EntryBody::ReplayV1(r) => {
                a.variant(2, "ReplayV1", "body: EntryBody");
                a.string(&r.candidate, "candidate");
                a.tag(r.candidate_model.is_some(), "candidate_model");
                if let Some(m) = &r.candidate_model {
                    a.model(m, "candidate_model");
                }
                a.string(&r.selection, "selection");
                a.u64(r.selected, "selected");
                a.u64(r.replayed, "replayed");
                a.u64(r.errors, "errors");
                a.hash(&r.results_digest, "results_digest");
            }
            EntryBody::AlertV1(al) => {
                a.variant(3, "AlertV1", "body: EntryBody");
                a.string(&al.stream, "stream");
                a.string(&al.check, "check");
                a.f64(al.statistic, "statistic");
                a.f64(al.threshold, "threshold");
                a.tag(al.p_value.is_some(), "p_value");
                if let Some(p) = al.p_value {
                    a.f64(p, "p_value");
                }
                a.model(&al.current, "current");
                a.model(&al.reference, "reference");
                a.u64(al.samples, "samples");
                a.u64(al.reference_samples, "reference_samples");
                a.i64(al.window_start_us, "window_start_us");
                a.i64(al.window_end_us, "window_end_us");
            }
        }
        a
    }

    /// The rows as a text table: offset, hex (at most 32 bytes a line), meaning.
    fn table(&self) -> String {
        let mut s = String::from(
            "offset  bytes (hex)                                                        field\n",
        );
        for (offset, bytes, what) in &self.rows {
            for (i, chunk) in bytes.chunks(32).enumerate() {
                let label = if i == 0 {
                    what.as_str()
                } else {
                    "  (continued)"
                };
                writeln!(
                    s,
                    "{:>6}  {:<66} {label}",
                    offset + 32 * i,
                    hex::encode(chunk)
                )
                .unwrap();
            }
        }
        s
    }
}

const EXAMPLE_BEGIN: &str =
    "<!-- BEGIN GENERATED worked-example (crates/cairn-core/tests/format_vectors.rs) -->";
const EXAMPLE_END: &str = "<!-- END GENERATED worked-example -->";

pub(super) fn worked_example_block(v: &EntryVector) -> String {
    let bytes = v.entry.encode();
    let a = Annotated::entry(&v.entry);
    assert_eq!(
        a.bytes, bytes,
        "the annotated layout differs from the encoder"
    );
    let d = v.decision.as_ref().unwrap();
    let mut s = String::new();
    writeln!(s, "{EXAMPLE_BEGIN}").unwrap();
    writeln!(
        s,
        "The `{}` vector of `entries-v1.json`: entry seq {}, decision input\n",
        v.name, v.entry.seq
    )
    .unwrap();
    writeln!(s, "```json\n{}\n```\n", d.json_line).unwrap();
    writeln!(
        s,
        "with input salt `11` × 32 and output salt `22` × 32. Stored payloads:\n"
    )
    .unwrap();
    writeln!(
        s,
        "```text\ninput  payload ({} bytes): {}\noutput payload ({} bytes): {}\ninput  commitment = BLAKE3(salt ‖ payload) = {}\noutput commitment = BLAKE3(salt ‖ payload) = {}\n```\n",
        d.input.len(),
        String::from_utf8_lossy(&d.input),
        d.output.len(),
        String::from_utf8_lossy(&d.output),
        hex::encode(payload_commitment(&INPUT_SALT, &d.input)),
        hex::encode(payload_commitment(&OUTPUT_SALT, &d.output)),
    )
    .unwrap();
    writeln!(s, "Entry bytes ({} bytes), field by field:\n", bytes.len()).unwrap();
    writeln!(s, "```text\n{}```\n", a.table()).unwrap();
    writeln!(
        s,
        "```text\nleaf hash = BLAKE3(00 ‖ entry bytes) = {}\n```",
        hex::encode(leaf_hash(&bytes))
    )
    .unwrap();
    write!(s, "{EXAMPLE_END}").unwrap();
    s
}

pub(super) fn write_or_compare_spec(block: &str) {
    let spec = std::fs::read_to_string(SPEC_PATH).unwrap();
    let (Some(begin), Some(end)) = (spec.find(EXAMPLE_BEGIN), spec.find(EXAMPLE_END)) else {
        panic!("{SPEC_PATH} lacks the generated worked-example markers");
    };
    let current = &spec[begin..end + EXAMPLE_END.len()];
    if regenerate() {
        let updated = format!(
            "{}{block}{}",
            &spec[..begin],
            &spec[end + EXAMPLE_END.len()..]
        );
        std::fs::write(SPEC_PATH, updated).unwrap();
        return;
    }
    assert_eq!(
        current, block,
        "the worked example in {SPEC_PATH} is out of date; run with {REGENERATE_VAR}=1"
    );
}
