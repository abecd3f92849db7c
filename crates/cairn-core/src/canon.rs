//! Canonical JSON: compact, object keys in bytewise order, numbers and strings
//! written the way `serde_json` writes them — byte for byte what
//! `serde_json::to_vec(&serde_json::Value)` gives for the same document, which
//! is how payload bytes are defined (`schemas/entry-v1.md`).
//!
//! Deserializing a [`CanonicalJson`] writes those bytes without building a
//! `serde_json::Value`: strings are borrowed from the input where they hold no
//! escapes, and objects are sorted vectors instead of B-tree maps. A repeated
//! key keeps its last value, as a `Value` does.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// Any JSON value, as canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalJson(Vec<u8>);

/// A JSON object, as canonical bytes; anything else is refused ("expected a map").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalObject(Vec<u8>);

impl CanonicalJson {
    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The canonical bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

impl CanonicalObject {
    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The canonical bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// The canonical bytes of a JSON text.
pub fn canonical(text: &[u8]) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::from_slice::<CanonicalJson>(text).map(CanonicalJson::into_bytes)
}

/// A parsed value borrowing from the input.
enum Node<'a> {
    Null,
    Bool(bool),
    PosInt(u64),
    NegInt(i64),
    Float(f64),
    Str(Cow<'a, str>),
    Array(Vec<Node<'a>>),
    Object(Vec<(Cow<'a, str>, Node<'a>)>),
}

fn to_bytes(node: &Node<'_>) -> Vec<u8> {
    // Writing into memory has no failure mode, and every float came from the
    // parser, so it is finite.
    serde_json::to_vec(node).unwrap_or_default()
}

impl<'de> Deserialize<'de> for CanonicalJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let node = d.deserialize_any(NodeVisitor)?;
        Ok(CanonicalJson(to_bytes(&node)))
    }
}

impl<'de> Deserialize<'de> for CanonicalObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let node = d.deserialize_map(ObjectVisitor)?;
        Ok(CanonicalObject(to_bytes(&node)))
    }
}

impl<'de> Deserialize<'de> for Node<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NodeVisitor)
    }
}

/// Keys that borrow from the input when they can.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(KeyVisitor)
    }
}

struct KeyVisitor;

impl<'de> Visitor<'de> for KeyVisitor {
    type Value = Key<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
        Ok(Key(Cow::Owned(v)))
    }
}

fn object<'de, A: MapAccess<'de>>(mut map: A) -> Result<Node<'de>, A::Error> {
    let mut entries: Vec<(Cow<'de, str>, Node<'de>)> =
        Vec::with_capacity(map.size_hint().unwrap_or(0));
    while let Some((Key(k), v)) = map.next_entry::<Key<'de>, Node<'de>>()? {
        entries.push((k, v));
    }
    // Stable, so that among repeated keys the last one read stays last.
    entries.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out: Vec<(Cow<'de, str>, Node<'de>)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        match out.last_mut() {
            Some(last) if last.0 == k => last.1 = v,
            _ => out.push((k, v)),
        }
    }
    Ok(Node::Object(out))
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node<'de>, E> {
        Ok(Node::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node<'de>, E> {
        Ok(match u64::try_from(v) {
            Ok(u) => Node::PosInt(u),
            Err(_) => Node::NegInt(v),
        })
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node<'de>, E> {
        Ok(Node::PosInt(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        // As `serde_json::Value`: a float that is not finite becomes null.
        Ok(if v.is_finite() {
            Node::Float(v)
        } else {
            Node::Null
        })
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Node<'de>, E> {
        Ok(Node::Str(Cow::Owned(v)))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        Deserialize::deserialize(d)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node<'de>, E> {
        Ok(Node::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Node<'de>, A::Error> {
        object(map)
    }
}

struct ObjectVisitor;

impl<'de> Visitor<'de> for ObjectVisitor {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Node<'de>, A::Error> {
        object(map)
    }
}

impl Serialize for Node<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => s.serialize_unit(),
            Node::Bool(b) => s.serialize_bool(*b),
            Node::PosInt(u) => s.serialize_u64(*u),
            Node::NegInt(i) => s.serialize_i64(*i),
            Node::Float(f) => s.serialize_f64(*f),
            Node::Str(v) => s.serialize_str(v),
            Node::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Node::Object(entries) => {
                let mut map = s.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k.as_ref(), v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn via_value(text: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(text).unwrap()).unwrap()
    }

    #[test]
    fn tricky_documents_match_serde_json_value() {
        let cases = [
            r#"{"b":1,"a":2}"#,
            r#" { "z" : [ 1 , 2.50 , -0 , -0.0 , 1e5 , 1E-7 , 18446744073709551615 , 18446744073709551616 , -9223372036854775808 , 123456789012345678901234567890 ] } "#,
            r#"{"a":1,"a":2,"b":{"y":1,"x":2},"a":3}"#,
            r#"{"\u00e9":"\u00e9\n\t\"\\\/\u0001\u001f\u2028\ud83d\ude00","e":"é","":null}"#,
            r#"{"é":1,"e":2,"E":3,"ä":4,"a\u0000b":5,"a":6}"#,
            r#"[true,false,null,"",[],{},[{}],{"k":[]}]"#,
            "0.1",
            "1.7976931348623157e308",
            "5e-324",
            "-1.5e-10",
            "\"x\"",
            "[1.0,2.000,100e-2,0.30000000000000004]",
        ];
        for text in cases {
            assert_eq!(
                String::from_utf8(canonical(text.as_bytes()).unwrap()).unwrap(),
                String::from_utf8(via_value(text)).unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn an_object_is_required_where_one_is_expected() {
        let err = serde_json::from_str::<CanonicalObject>("[1]").unwrap_err();
        assert!(err.to_string().contains("expected a map"), "{err}");
        let ok = serde_json::from_str::<CanonicalObject>(r#"{"b":[1],"a":null}"#).unwrap();
        assert_eq!(ok.as_bytes(), br#"{"a":null,"b":[1]}"#);
    }

    #[test]
    fn invalid_json_is_refused() {
        for bad in [
            "{",
            "[1,]",
            r#"{"a":1,}"#,
            "nul",
            "1e999",
            r#""\ud800""#,
            "01",
        ] {
            let ours = canonical(bad.as_bytes()).is_err();
            let theirs = serde_json::from_str::<serde_json::Value>(bad).is_err();
            assert_eq!(ours, theirs, "{bad}");
        }
    }

    fn json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<u64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            ".{0,8}".prop_map(serde_json::Value::String),
        ];
        leaf.prop_recursive(4, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                prop::collection::vec(("[a-cé\\\\\"\n]{0,3}", inner), 0..6)
                    .prop_map(|kv| { serde_json::Value::Object(kv.into_iter().collect()) }),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_document_matches_serde_json_value(v in json(), pretty in any::<bool>()) {
            // Written out of order and with whitespace, then read back both ways.
            let text = if pretty {
                serde_json::to_string_pretty(&v).unwrap()
            } else {
                serde_json::to_string(&v).unwrap()
            };
            prop_assert_eq!(canonical(text.as_bytes()).unwrap(), via_value(&text));
        }

        #[test]
        fn reordered_and_repeated_keys_match(keys in prop::collection::vec("[a-d]{0,2}", 0..12)) {
            let body: Vec<String> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{k:?} : {i}"))
                .collect();
            let text = format!("{{ {} }}", body.join(" , "));
            prop_assert_eq!(canonical(text.as_bytes()).unwrap(), via_value(&text));
        }
    }
}
