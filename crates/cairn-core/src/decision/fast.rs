//! The decision's fields read by the hand-written scanner (`canon::scan`)
//! instead of serde's derived deserializer. It answers only for a decision it
//! is sure of and gives up (`None`) on anything else — an unknown or repeated
//! field, a missing one, a value of the wrong type — so that serde parses the
//! line again and gives its answer and its message. Where it answers, the
//! result is the one serde gives (see the tests beside `DecisionInput::parse`).

use std::collections::BTreeMap;

use super::{DecisionInput, ModelInput};
use crate::canon::scan::Scanner;
use crate::canon::{CanonicalJson, CanonicalObject};

/// First capacity of a payload's buffer, as on the serde path.
const FIRST_CAPACITY: usize = 256;

/// Read arbitrary bytes as a decision and as one JSON document, by the
/// scanner and by serde alone; for fuzzing. Must never panic, and wherever the
/// scanner answers, its answer must be serde's.
pub fn fuzz_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        assert!(
            DecisionInput::parse(data).is_err(),
            "bytes that are not UTF-8 were accepted"
        );
        return;
    };
    if let Some(fast) = decision(text) {
        assert_eq!(
            Ok(&fast),
            DecisionInput::parse_serde(text).as_ref(),
            "the scanner reads a decision otherwise than serde"
        );
    }
    let _ = DecisionInput::parse_str(text);
    if let Some(doc) = crate::canon::scan::document(text) {
        let serde = serde_json::from_str::<CanonicalJson>(text)
            .ok()
            .filter(|_| crate::canon::check_integers(data).is_ok());
        assert_eq!(
            Some(doc),
            serde.map(CanonicalJson::into_bytes),
            "the scanner writes a document otherwise than serde"
        );
    }
}

/// The decision in `text`, or `None` where serde must decide.
pub(super) fn decision(text: &str) -> Option<DecisionInput> {
    let mut s = Scanner::new(text);
    let mut f = Fields::default();
    s.eat(b'{')?;
    if s.peek()? != b'}' {
        loop {
            let key = s.string()?;
            s.eat(b':')?;
            f.field(&mut s, &key)?;
            match s.peek()? {
                b',' => s.eat(b',')?,
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.eat(b'}')?;
    if !s.at_end() {
        return None;
    }
    f.finish()
}

/// The fields read so far; each may be set once (`Some(None)` is an
/// explicit `null`).
#[derive(Default)]
struct Fields {
    stream: Option<String>,
    model: Option<ModelInput>,
    input: Option<CanonicalJson>,
    output: Option<CanonicalJson>,
    request_id: Option<Option<String>>,
    trace_id: Option<Option<String>>,
    span_id: Option<Option<String>>,
    subject: Option<Option<String>>,
    session: Option<Option<String>>,
    event_time: Option<Option<String>>,
    operation: Option<Option<String>>,
    params: Option<Option<CanonicalObject>>,
    decision: Option<Option<String>>,
    score: Option<Option<f64>>,
    latency_ms: Option<Option<f64>>,
    attributes: Option<Option<BTreeMap<String, String>>>,
    idempotency_key: Option<Option<String>>,
}

/// Set `slot` once: a second value for it gives up.
fn once<T>(slot: &mut Option<T>, value: T) -> Option<()> {
    slot.is_none().then(|| *slot = Some(value))
}

impl Fields {
    fn field(&mut self, s: &mut Scanner<'_>, key: &str) -> Option<()> {
        match key {
            "stream" => once(&mut self.stream, s.string()?.into_owned()),
            "model" => once(&mut self.model, model(s)?),
            "input" => once(&mut self.input, payload(s)?),
            "output" => once(&mut self.output, payload(s)?),
            "request_id" => once(&mut self.request_id, opt_string(s)?),
            "trace_id" => once(&mut self.trace_id, opt_string(s)?),
            "span_id" => once(&mut self.span_id, opt_string(s)?),
            "subject" => once(&mut self.subject, opt_string(s)?),
            "session" => once(&mut self.session, opt_string(s)?),
            "event_time" => once(&mut self.event_time, opt_string(s)?),
            "operation" => once(&mut self.operation, opt_string(s)?),
            "params" => once(&mut self.params, params(s)?),
            "decision" => once(&mut self.decision, opt_string(s)?),
            "score" => once(&mut self.score, opt_f64(s)?),
            "latency_ms" => once(&mut self.latency_ms, opt_f64(s)?),
            "attributes" => once(&mut self.attributes, attributes(s)?),
            "idempotency_key" => once(&mut self.idempotency_key, opt_string(s)?),
            _ => None,
        }
    }

    fn finish(self) -> Option<DecisionInput> {
        Some(DecisionInput {
            stream: self.stream?,
            model: self.model?,
            input: self.input?,
            output: self.output?,
            request_id: self.request_id.flatten(),
            trace_id: self.trace_id.flatten(),
            span_id: self.span_id.flatten(),
            subject: self.subject.flatten(),
            session: self.session.flatten(),
            event_time: self.event_time.flatten(),
            operation: self.operation.flatten(),
            params: self.params.flatten(),
            decision: self.decision.flatten(),
            score: self.score.flatten(),
            latency_ms: self.latency_ms.flatten(),
            attributes: self.attributes.flatten(),
            idempotency_key: self.idempotency_key.flatten(),
        })
    }
}

fn opt_string(s: &mut Scanner<'_>) -> Option<Option<String>> {
    if s.null()? {
        return Some(None);
    }
    s.string().map(|v| Some(v.into_owned()))
}

fn opt_f64(s: &mut Scanner<'_>) -> Option<Option<f64>> {
    if s.null()? {
        return Some(None);
    }
    s.number()?.as_f64().map(Some)
}

fn payload(s: &mut Scanner<'_>) -> Option<CanonicalJson> {
    let mut out = Vec::with_capacity(FIRST_CAPACITY);
    s.value(&mut out)?;
    Some(CanonicalJson::from_canonical(out))
}

fn params(s: &mut Scanner<'_>) -> Option<Option<CanonicalObject>> {
    match s.peek()? {
        b'n' => s.null()?.then_some(None),
        b'{' => {
            let mut out = Vec::with_capacity(FIRST_CAPACITY);
            s.object(&mut out)?;
            Some(Some(CanonicalObject::from_canonical(out)))
        }
        _ => None,
    }
}

fn model(s: &mut Scanner<'_>) -> Option<ModelInput> {
    let (mut name, mut version, mut digest) = (None, None, None);
    s.eat(b'{')?;
    if s.peek()? != b'}' {
        loop {
            let key = s.string()?;
            s.eat(b':')?;
            match key.as_ref() {
                "name" => once(&mut name, s.string()?.into_owned())?,
                "version" => once(&mut version, s.string()?.into_owned())?,
                "digest" => once(&mut digest, opt_string(s)?)?,
                _ => return None,
            }
            match s.peek()? {
                b',' => s.eat(b',')?,
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.eat(b'}')?;
    Some(ModelInput {
        name: name?,
        version: version?,
        digest: digest.flatten(),
    })
}

fn attributes(s: &mut Scanner<'_>) -> Option<Option<BTreeMap<String, String>>> {
    if s.null()? {
        return Some(None);
    }
    let mut out = BTreeMap::new();
    s.eat(b'{')?;
    if s.peek()? != b'}' {
        loop {
            let key = s.string()?.into_owned();
            s.eat(b':')?;
            let value = s.string()?.into_owned();
            if out.insert(key, value).is_some() {
                return None;
            }
            match s.peek()? {
                b',' => s.eat(b',')?,
                b'}' => break,
                _ => return None,
            }
        }
    }
    s.eat(b'}')?;
    Some(Some(out))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::canon::tests::{edited, json, written};
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    /// Text of one optional field: absent, `null`, or a value.
    fn optional(value: impl Strategy<Value = Value>) -> impl Strategy<Value = Option<Value>> {
        prop_oneof![Just(None), Just(Some(Value::Null)), value.prop_map(Some)]
    }

    fn text() -> impl Strategy<Value = Value> {
        "[a-z0-9\"\\\\é\n/-]{0,6}".prop_map(Value::String)
    }

    fn number() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<f64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
        ]
    }

    fn object() -> impl Strategy<Value = Value> {
        json().prop_map(|v| match v {
            Value::Object(m) => Value::Object(m),
            other => json!({ "v": other }),
        })
    }

    fn attributes() -> impl Strategy<Value = Value> {
        prop::collection::btree_map("[a-c]{1,2}", "[a-z é\\\\]{0,4}", 0..4).prop_map(|m| {
            Value::Object(m.into_iter().map(|(k, v)| (k, Value::String(v))).collect())
        })
    }

    /// A decision as a producer might write it: every optional field absent,
    /// `null` or set, payloads of any JSON.
    fn decisions() -> impl Strategy<Value = Value> {
        let ids = [
            "request_id",
            "trace_id",
            "span_id",
            "subject",
            "session",
            "operation",
            "decision",
            "idempotency_key",
        ];
        (
            (text(), text(), text(), optional(text())),
            (json(), json()),
            prop::collection::vec(optional(text()), ids.len()),
            (optional(number()), optional(number())),
            (optional(object()), optional(attributes())),
            optional(Just(Value::String("2026-11-20T10:00:00Z".into()))),
        )
            .prop_map(
                move |(
                    (stream, name, version, digest),
                    (input, output),
                    id_values,
                    (score, latency),
                    (params, attrs),
                    time,
                )| {
                    let mut model = Map::new();
                    model.insert("name".into(), name);
                    model.insert("version".into(), version);
                    if let Some(d) = digest {
                        model.insert("digest".into(), d);
                    }
                    let mut d = Map::new();
                    d.insert("stream".into(), stream);
                    d.insert("model".into(), Value::Object(model));
                    d.insert("input".into(), input);
                    d.insert("output".into(), output);
                    let optional = ids.iter().copied().zip(id_values).chain([
                        ("score", score),
                        ("latency_ms", latency),
                        ("params", params),
                        ("attributes", attrs),
                        ("event_time", time),
                    ]);
                    for (k, v) in optional {
                        if let Some(v) = v {
                            d.insert(k.into(), v);
                        }
                    }
                    Value::Object(d)
                },
            )
    }

    proptest! {
        #[test]
        fn reads_every_decision_as_serde_does(v in decisions(), seed in any::<u64>(), pretty in any::<bool>()) {
            let text = written(&v, seed, pretty);
            let fast = decision(&text);
            prop_assert!(fast.is_some(), "gave up on {}", text);
            prop_assert_eq!(fast.unwrap(), DecisionInput::parse_serde(&text).unwrap(), "{}", text);
        }

        #[test]
        fn never_reads_what_serde_refuses_or_reads_otherwise(
            v in decisions(),
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), prop::sample::select(
                vec!['"', '\\', '{', '}', ',', ':', '-', '0', '.', 'n', 'u', ' ', 'x'])), 1..3),
        ) {
            let mut text = serde_json::to_string(&v).unwrap();
            for (at, op, c) in edits {
                text = edited(&text, at, op, c);
            }
            if let Some(fast) = decision(&text) {
                prop_assert_eq!(Ok(fast), DecisionInput::parse_serde(&text), "{}", text);
            }
        }

        #[test]
        fn gives_up_on_unknown_repeated_and_missing_fields(field in prop::sample::select(vec![
            "stream", "model", "input", "output", "subject", "score", "params", "attributes", "extra",
        ])) {
            let base = r#""stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2"#;
            let value = match field {
                "model" => r#"{"name":"m","version":"1"}"#,
                "score" => "1.5",
                "params" => "{}",
                "attributes" => "{}",
                _ => r#""x""#,
            };
            let twice = format!("{{{base},\"{field}\":{value},\"{field}\":{value}}}");
            prop_assert!(decision(&twice).is_none(), "{}", twice);
            prop_assert!(DecisionInput::parse_serde(&twice).is_err(), "{}", twice);
            let without = base
                .split(",\"")
                .filter(|m| !m.trim_start_matches('"').starts_with(field))
                .collect::<Vec<_>>()
                .join(",\"");
            let without = format!("{{{without}}}");
            if without.len() < base.len() + 2 {
                prop_assert!(decision(&without).is_none(), "{}", without);
            }
        }
    }
}
