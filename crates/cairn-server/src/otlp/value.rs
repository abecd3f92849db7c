//! OTLP attribute values (`AnyValue`) as JSON and as text, and lookups in a
//! span's or a resource's attribute list.

use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use serde_json::{Map, Number, Value};

/// An attribute list (`repeated KeyValue`), looked up by key.
#[derive(Debug, Clone, Copy)]
pub struct Attrs<'a>(pub &'a [KeyValue]);

impl<'a> Attrs<'a> {
    /// The value of `key`, if present and set. With a repeated key (which the
    /// OTLP data model forbids) the first wins.
    pub fn get(&self, key: &str) -> Option<&'a Any> {
        self.0
            .iter()
            .find(|kv| kv.key == key)
            .and_then(|kv| set(kv.value.as_ref()))
    }

    /// The value of `key` as text (see [`text`]).
    pub fn text(&self, key: &str) -> Option<String> {
        self.get(key).map(text).filter(|t| !t.is_empty())
    }

    /// Every attribute, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a Any)> + 'a {
        self.0
            .iter()
            .filter_map(|kv| Some((kv.key.as_str(), set(kv.value.as_ref())?)))
    }
}

/// The value held, if any. A string-table reference belongs to the profiling
/// signal only; the specification says to treat it as absent elsewhere.
fn set(v: Option<&AnyValue>) -> Option<&Any> {
    v?.value
        .as_ref()
        .filter(|v| !matches!(v, Any::StringValueStrindex(_)))
}

/// A value as text: strings as they are, numbers and booleans as written in
/// JSON, arrays and maps as compact JSON.
pub fn text(v: &Any) -> String {
    match v {
        Any::StringValue(s) => s.clone(),
        other => json(other).to_string(),
    }
}

/// A value as JSON: strings, booleans and numbers as themselves (a double that
/// is not finite as the string `NaN`, `Infinity` or `-Infinity`), arrays and
/// maps (`kvlistValue`) as arrays and objects, bytes as base64.
pub fn json(v: &Any) -> Value {
    match v {
        Any::StringValue(s) => Value::String(s.clone()),
        Any::BoolValue(b) => Value::Bool(*b),
        Any::IntValue(i) => Value::Number(Number::from(*i)),
        Any::DoubleValue(d) => match Number::from_f64(*d) {
            Some(n) => Value::Number(n),
            None if d.is_nan() => Value::String("NaN".into()),
            None if *d > 0.0 => Value::String("Infinity".into()),
            None => Value::String("-Infinity".into()),
        },
        Any::ArrayValue(a) => Value::Array(a.values.iter().map(any_json).collect()),
        Any::KvlistValue(kv) => Value::Object(object(&kv.values)),
        Any::StringValueStrindex(_) => Value::Null,
        Any::BytesValue(b) => {
            use base64::Engine as _;
            Value::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
    }
}

fn any_json(v: &AnyValue) -> Value {
    set(Some(v)).map_or(Value::Null, json)
}

/// An attribute list as a JSON object (a repeated key keeps its last value).
pub fn object(kvs: &[KeyValue]) -> Map<String, Value> {
    kvs.iter()
        .map(|kv| {
            (
                kv.key.clone(),
                kv.value.as_ref().map_or(Value::Null, any_json),
            )
        })
        .collect()
}

/// Content recorded by an instrumentation: a string holding JSON (how span
/// attributes carry structured messages) is that JSON; any other value is
/// itself as JSON.
pub fn content(v: &Any) -> Value {
    match v {
        Any::StringValue(s) => serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone())),
        other => json(other),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn kv(key: &str, value: Any) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue { value: Some(value) }),
            ..KeyValue::default()
        }
    }

    #[test]
    fn values_become_json_and_text() {
        let list = Any::KvlistValue(KeyValueList {
            values: vec![
                kv("role", Any::StringValue("user".into())),
                kv("n", Any::IntValue(-3)),
                kv("ok", Any::BoolValue(true)),
                kv("x", Any::DoubleValue(f64::NAN)),
                kv("raw", Any::BytesValue(vec![0xff, 0])),
            ],
        });
        let array = Any::ArrayValue(ArrayValue {
            values: vec![AnyValue { value: Some(list) }, AnyValue { value: None }],
        });
        assert_eq!(
            json(&array),
            serde_json::json!([{"role": "user", "n": -3, "ok": true, "x": "NaN", "raw": "/wA="}, null])
        );
        assert_eq!(text(&Any::DoubleValue(0.5)), "0.5");
        assert_eq!(text(&Any::StringValue("a\"b".into())), "a\"b");
        assert_eq!(
            text(&Any::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(Any::StringValue("stop".into()))
                }]
            })),
            r#"["stop"]"#
        );
    }

    #[test]
    fn content_strings_holding_json_are_json() {
        let msgs = r#"[{"role":"user","parts":[{"type":"text","content":"hi"}]}]"#;
        assert_eq!(
            content(&Any::StringValue(msgs.into())),
            serde_json::from_str::<Value>(msgs).unwrap()
        );
        assert_eq!(
            content(&Any::StringValue("just words".into())),
            Value::String("just words".into())
        );
    }

    #[test]
    fn lookups_skip_unset_values() {
        let kvs = vec![
            KeyValue {
                key: "a".into(),
                value: None,
                ..KeyValue::default()
            },
            kv("b", Any::StringValue(String::new())),
            kv("c", Any::IntValue(7)),
        ];
        let a = Attrs(&kvs);
        assert!(a.get("a").is_none());
        assert_eq!(a.text("b"), None, "empty text counts as absent");
        assert_eq!(a.text("c").as_deref(), Some("7"));
        assert_eq!(a.iter().count(), 2);
    }
}
