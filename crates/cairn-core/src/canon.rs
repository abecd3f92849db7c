//! Canonical JSON: compact, object keys in bytewise order, numbers and strings
//! written the way `serde_json` writes them — byte for byte what
//! `serde_json::to_vec(&serde_json::Value)` gives for the same document, which
//! is how payload bytes are defined (`schemas/entry-v1.md`, the definition that
//! counts). One difference: keys that serde_json reserves for its optional
//! features (`$serde_json::private::RawValue`, ...) are ordinary keys here.
//!
//! Deserializing a [`CanonicalJson`] writes those bytes as the document is
//! read, into one buffer, without building a `serde_json::Value` or any other
//! tree: an object whose keys arrive in order stays where it was written, and
//! only one whose keys do not is rewritten in order at its end. A repeated key
//! keeps its last value, as a `Value` does.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

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

/// First capacity of a canonical value's buffer (payloads are mostly a few
/// hundred bytes).
const FIRST_CAPACITY: usize = 256;

impl<'de> Deserialize<'de> for CanonicalJson {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::with_capacity(FIRST_CAPACITY);
        d.deserialize_any(ValueVisitor(&mut out))?;
        Ok(CanonicalJson(out))
    }
}

impl<'de> Deserialize<'de> for CanonicalObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::with_capacity(FIRST_CAPACITY);
        d.deserialize_map(ObjectVisitor(&mut out))?;
        Ok(CanonicalObject(out))
    }
}

/// Write a scalar the way `serde_json` writes it. Writing into memory cannot
/// fail, and every float reaching here is finite; an error is still passed on
/// rather than assumed away.
fn write_scalar<T: Serialize + ?Sized, E: de::Error>(out: &mut Vec<u8>, v: &T) -> Result<(), E> {
    serde_json::to_writer(out, v).map_err(E::custom)
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

/// One value, written to the buffer as it is read.
struct ValueSeed<'b>(&'b mut Vec<u8>);

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(ValueVisitor(self.0))
    }
}

/// An object, written to the buffer as it is read: members go out in the order
/// they come, and only an object whose keys did not come in strictly increasing
/// bytewise order is rewritten, sorted, at its end. A repeated key keeps its
/// last value, as in a `serde_json::Value`.
fn object<'de, A: MapAccess<'de>>(out: &mut Vec<u8>, mut map: A) -> Result<(), A::Error> {
    out.push(b'{');
    let start = out.len();
    // Each member's key and where its `"key":value` bytes are.
    let mut members: Vec<(Cow<'de, str>, std::ops::Range<usize>)> = Vec::new();
    let mut in_order = true;
    while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
        if let Some((last, _)) = members.last() {
            in_order &= last.as_bytes() < key.as_bytes();
            out.push(b',');
        }
        let at = out.len();
        write_scalar(out, key.as_ref())?;
        out.push(b':');
        map.next_value_seed(ValueSeed(out))?;
        members.push((key, at..out.len()));
    }
    if !in_order {
        let written = out.split_off(start);
        // Stable, so that among repeated keys the last one read stays last.
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut first = true;
        for (i, (key, range)) in members.iter().enumerate() {
            if members.get(i + 1).is_some_and(|(next, _)| next == key) {
                continue;
            }
            if !first {
                out.push(b',');
            }
            first = false;
            out.extend_from_slice(&written[range.start - start..range.end - start]);
        }
    }
    out.push(b'}');
    Ok(())
}

struct ValueVisitor<'b>(&'b mut Vec<u8>);

impl<'de> Visitor<'de> for ValueVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.extend_from_slice(if v { b"true" } else { b"false" });
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        write_scalar(self.0, &v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        write_scalar(self.0, &v)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        // As `serde_json::Value`: a float that is not finite becomes null.
        if v.is_finite() {
            write_scalar(self.0, &v)
        } else {
            self.visit_unit()
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        write_scalar(self.0, v)
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.visit_unit()
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.0.extend_from_slice(b"null");
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let out = self.0;
        out.push(b'[');
        let mut first = true;
        loop {
            // The comma goes before the element, and back out if there is none.
            if !first {
                out.push(b',');
            }
            if seq.next_element_seed(ValueSeed(out))?.is_none() {
                if !first {
                    out.pop();
                }
                break;
            }
            first = false;
        }
        out.push(b']');
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        object(self.0, map)
    }
}

struct ObjectVisitor<'b>(&'b mut Vec<u8>);

impl<'de> Visitor<'de> for ObjectVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        object(self.0, map)
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
    fn numbers_are_written_as_the_format_says() {
        // schemas/entry-v1.md, "Payload bytes": pinned here, not only compared
        // with serde_json, so that a serde_json feature turned on elsewhere in a
        // build (arbitrary_precision, say) cannot change them unnoticed.
        let text = "[1.0,1E2,1.50,-0,1e-7,18446744073709551615,18446744073709551616,-9223372036854775808,-9223372036854775809,0.30000000000000004]";
        let out = String::from_utf8(canonical(text.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            out,
            "[1.0,100.0,1.5,-0.0,1e-7,18446744073709551615,1.8446744073709552e+19,-9223372036854775808,-9.223372036854776e+18,0.30000000000000004]"
        );
    }

    #[test]
    fn serde_json_private_key_names_are_ordinary_keys() {
        // With serde_json's raw_value feature, a `Value` reads an object whose
        // only key is this token as a raw value; the format knows no such rule.
        let text = r#"{"$serde_json::private::RawValue":"[2,1]","a":{"$serde_json::private::Number":"1"}}"#;
        assert_eq!(canonical(text.as_bytes()).unwrap(), text.as_bytes());
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

    fn xorshift(x: &mut u64) -> u64 {
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        *x
    }

    /// `v` as JSON text with every object's members in a shuffled order, some
    /// of them preceded by an earlier member of the same key that must lose.
    fn shuffled(v: &serde_json::Value, rng: &mut u64) -> String {
        match v {
            serde_json::Value::Array(items) => {
                let items: Vec<String> = items.iter().map(|i| shuffled(i, rng)).collect();
                format!("[{}]", items.join(","))
            }
            serde_json::Value::Object(map) => {
                let mut members: Vec<(u64, String)> = Vec::new();
                for (k, v) in map {
                    let key = serde_json::to_string(k).unwrap();
                    let order = xorshift(rng);
                    if order.is_multiple_of(4) {
                        // A first occurrence, read before the one that counts.
                        members.push((0, format!("{key}:\"loser\"")));
                    }
                    members.push((order | 1, format!("{key}:{}", shuffled(v, rng))));
                }
                // Shuffled, except that a loser stays before its winner.
                let mut out: Vec<String> = Vec::new();
                let mut rest: Vec<(u64, String)> = Vec::new();
                for (order, m) in members {
                    if order == 0 {
                        out.push(m);
                    } else {
                        rest.push((order, m));
                    }
                }
                rest.sort();
                out.extend(rest.into_iter().map(|(_, m)| m));
                format!("{{{}}}", out.join(","))
            }
            other => serde_json::to_string(other).unwrap(),
        }
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
        fn nested_objects_out_of_order_and_repeated_keys_match(v in json(), seed in any::<u64>()) {
            let mut rng = seed | 1;
            let text = shuffled(&v, &mut rng);
            prop_assert_eq!(canonical(text.as_bytes()).unwrap(), via_value(&text), "{}", text);
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
