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
//! only one whose keys do not is rewritten in order at its end.
//!
//! Two inputs a `serde_json::Value` would quietly change are refused instead,
//! because a payload must be the document the model saw: an object that
//! repeats a key (a `Value` keeps the last one), and an integer written without
//! fraction or exponent that does not fit in 64 bits (a `Value` rounds it to a
//! double). [`check_integers`] finds the second in the text; the deserializer
//! cannot tell such an integer from a float.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Serialize;

pub(crate) mod scan;

/// Any JSON value, as canonical bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalJson(Vec<u8>);

/// A JSON object, as canonical bytes; anything else is refused ("expected a map").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanonicalObject(Vec<u8>);

impl CanonicalJson {
    /// Bytes already canonical (written by `scan`).
    pub(crate) fn from_canonical(bytes: Vec<u8>) -> CanonicalJson {
        CanonicalJson(bytes)
    }

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
    /// Bytes already canonical (written by `scan`).
    pub(crate) fn from_canonical(bytes: Vec<u8>) -> CanonicalObject {
        CanonicalObject(bytes)
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The canonical bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.0
    }
}

/// Why a JSON text cannot be made canonical.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CanonError {
    /// Not JSON, or an object repeats a key.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// An integer that would be rounded.
    #[error("{0}")]
    Integer(#[from] IntegerTooLarge),
}

/// The canonical bytes of a JSON text.
pub fn canonical(text: &[u8]) -> Result<Vec<u8>, CanonError> {
    if let Some(out) = std::str::from_utf8(text).ok().and_then(scan::document) {
        return Ok(out);
    }
    let out = serde_json::from_slice::<CanonicalJson>(text).map(CanonicalJson::into_bytes)?;
    check_integers(text)?;
    Ok(out)
}

/// An integer literal (no fraction, no exponent) outside `i64`/`u64`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the integer {literal} (column {column}) does not fit in 64 bits and would be rounded: \
     send it as a string, or with a fraction or exponent if a double is what it is"
)]
pub struct IntegerTooLarge {
    /// The literal, as written.
    pub literal: String,
    /// Its 1-based byte column in the text.
    pub column: usize,
}

/// Digits of `u64::MAX` and of `-i64::MIN`: the largest integers kept exactly.
const U64_MAX_DIGITS: &[u8] = b"18446744073709551615";
const I64_MIN_DIGITS: &[u8] = b"9223372036854775808";

/// Find an integer literal of valid JSON `text` that does not fit in `u64`
/// (or, negative, in `i64`): such a number would be read as a double and
/// rounded. Text with no run of 19 digits is passed at once.
pub fn check_integers(text: &[u8]) -> Result<(), IntegerTooLarge> {
    if !has_long_digit_run(text) {
        return Ok(());
    }
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'"' => i = string_end(text, i + 1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < text.len()
                    && matches!(text[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                integer_fits(&text[start..i]).map_err(|()| IntegerTooLarge {
                    literal: String::from_utf8_lossy(&text[start..i]).into_owned(),
                    column: start + 1,
                })?;
            }
            _ => i += 1,
        }
    }
    Ok(())
}

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Whether the 8-byte word is all ASCII digits.
fn digit_word(w: &[u8]) -> bool {
    let x = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
    // Every byte's high nibble is 3, and adding 6 keeps it 3 (no byte above
    // `9`; no carry crosses bytes once every high nibble is 3).
    let nibbles = u64::from_ne_bytes([0xf0; 8]);
    let threes = u64::from_ne_bytes([0x30; 8]);
    x & nibbles == threes && x.wrapping_add(6 * ONES) & nibbles == threes
}

/// Whether `text` holds a run of 19 or more ASCII digits. Such a run always
/// holds an 8-byte word at an offset that is a multiple of 8 (it starts at
/// most 7 bytes into the run and ends at most 15 bytes into it), so the text is
/// passed 8 bytes at a time, and only around a word of digits (hex ids have
/// them now and then) is the run measured.
fn has_long_digit_run(text: &[u8]) -> bool {
    let mut checked_to = 0;
    for (i, w) in text.chunks_exact(8).enumerate() {
        let at = i * 8;
        if at < checked_to || !digit_word(w) {
            continue;
        }
        let digit = |b: &u8| b.is_ascii_digit();
        let before = text[..at].iter().rev().take_while(|b| digit(b)).count();
        let after = text[at..].iter().take_while(|b| digit(b)).count();
        if before + after >= I64_MIN_DIGITS.len() {
            return true;
        }
        checked_to = at + after;
    }
    false
}

/// Whether any byte of `x` is zero (exact for the word as a whole).
fn has_zero_byte(x: u64) -> bool {
    x.wrapping_sub(ONES) & !x & HIGHS != 0
}

/// Whether `s` is written in JSON as it is, between quotes: it holds no
/// quote, no backslash and no control character, the only bytes `serde_json`
/// escapes.
fn needs_no_escape(s: &[u8]) -> bool {
    special_at(s, 0) == s.len()
}

/// The index of the first quote, backslash or control character at or after
/// `i` (or the end), 8 bytes at a time.
pub(crate) fn special_at(s: &[u8], mut i: usize) -> usize {
    let quotes = u64::from(b'"') * ONES;
    let backslashes = u64::from(b'\\') * ONES;
    while let Some(w) = s.get(i..i + 8) {
        let x = u64::from_ne_bytes([w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7]]);
        let below_space = x.wrapping_sub(0x20 * ONES) & !x & HIGHS != 0;
        if below_space || has_zero_byte(x ^ quotes) || has_zero_byte(x ^ backslashes) {
            break;
        }
        i += 8;
    }
    while let Some(&c) = s.get(i) {
        if c < 0x20 || c == b'"' || c == b'\\' {
            break;
        }
        i += 1;
    }
    i
}

/// Write a string as `serde_json` writes it: as it is between quotes when
/// nothing in it needs escaping, which is nearly always.
fn write_str<E: de::Error>(out: &mut Vec<u8>, v: &str) -> Result<(), E> {
    if needs_no_escape(v.as_bytes()) {
        out.reserve(v.len() + 2);
        out.push(b'"');
        out.extend_from_slice(v.as_bytes());
        out.push(b'"');
        Ok(())
    } else {
        write_scalar(out, v)
    }
}

/// The index just past the string whose contents start at `i`.
fn string_end(text: &[u8], mut i: usize) -> usize {
    while i < text.len() {
        match text[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// `Err` for an integer literal outside `i64`/`u64`; floats always pass.
fn integer_fits(token: &[u8]) -> Result<(), ()> {
    if token.iter().any(|b| matches!(b, b'.' | b'e' | b'E')) {
        return Ok(());
    }
    let (digits, max) = match token.strip_prefix(b"-") {
        Some(d) => (d, I64_MIN_DIGITS),
        None => (token, U64_MAX_DIGITS),
    };
    // Valid JSON has no leading zeros, so the longer number is the larger one.
    match digits.len().cmp(&max.len()) {
        std::cmp::Ordering::Less => Ok(()),
        std::cmp::Ordering::Equal if digits <= max => Ok(()),
        _ => Err(()),
    }
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
/// bytewise order is rewritten, sorted, at its end. A repeated key is an error.
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
        write_str(out, key.as_ref())?;
        out.push(b':');
        map.next_value_seed(ValueSeed(out))?;
        members.push((key, at..out.len()));
    }
    if !in_order {
        let written = out.split_off(start);
        members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        if let Some(pair) = members.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(de::Error::custom(format_args!(
                "duplicate key {:?} in an object: send each key once",
                pair[0].0
            )));
        }
        for (i, (_, range)) in members.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
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
        write_str(self.0, v)
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
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    fn via_value(text: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::from_str::<serde_json::Value>(text).unwrap()).unwrap()
    }

    /// The serde path alone (what reads a text the scanner gives up on).
    pub(crate) fn serde_path(text: &str) -> Result<Vec<u8>, CanonError> {
        let out = serde_json::from_str::<CanonicalJson>(text)?;
        check_integers(text.as_bytes())?;
        Ok(out.into_bytes())
    }

    #[test]
    fn tricky_documents_match_serde_json_value() {
        let cases = [
            r#"{"b":1,"a":2}"#,
            r#" { "z" : [ 1 , 2.50 , -0 , -0.0 , 1e5 , 1E-7 , 18446744073709551615 , 1.8446744073709551616e19 , -9223372036854775808 , 123456789012345678901234567890.0 ] } "#,
            r#"{"c":1,"a":2,"b":{"y":1,"x":2}}"#,
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
        let text = "[1.0,1E2,1.50,-0,1e-7,18446744073709551615,18446744073709551616.0,-9223372036854775808,-9223372036854775809e0,0.30000000000000004]";
        let out = String::from_utf8(canonical(text.as_bytes()).unwrap()).unwrap();
        assert_eq!(
            out,
            "[1.0,100.0,1.5,-0.0,1e-7,18446744073709551615,1.8446744073709552e+19,-9223372036854775808,-9.223372036854776e+18,0.30000000000000004]"
        );
    }

    #[test]
    fn integers_beyond_64_bits_are_refused_not_rounded() {
        for (text, literal, column) in [
            ("18446744073709551616", "18446744073709551616", 1),
            (r#"{"id": -9223372036854775809}"#, "-9223372036854775809", 8),
            (
                r#"["12345678901234567890123", 123456789012345678901234567890]"#,
                "123456789012345678901234567890",
                29,
            ),
        ] {
            match canonical(text.as_bytes()) {
                Err(CanonError::Integer(e)) => {
                    assert_eq!((e.literal.as_str(), e.column), (literal, column), "{text}");
                }
                other => panic!("{text}: {other:?}"),
            }
        }
        // At the edges, in strings and as floats they are kept.
        for ok in [
            "[18446744073709551615,-9223372036854775808,0,-0]",
            r#"{"s":"18446744073709551616\"x99999999999999999999"}"#,
            "[1.8446744073709551616e19,99999999999999999999.5]",
        ] {
            assert!(canonical(ok.as_bytes()).is_ok(), "{ok}");
        }
    }

    #[test]
    fn repeated_keys_are_refused() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"b":1,"a":2,"b":1}"#,
            r#"[{"x":{"k":1,"j":2,"k":3}}]"#,
        ] {
            let err = canonical(text.as_bytes()).unwrap_err();
            assert!(err.to_string().contains("duplicate key"), "{text}: {err}");
        }
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

    pub(crate) fn json() -> impl Strategy<Value = serde_json::Value> {
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

    /// `v` as JSON text with every object's members in a shuffled order.
    /// `text` with one edit at `at`: a character dropped, or one of JSON's
    /// meaningful characters put in or over it.
    pub(crate) fn edited(text: &str, at: usize, op: u8, c: char) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        let at = at % chars.len().max(1);
        match op % 3 {
            0 if !chars.is_empty() => {
                chars.remove(at);
            }
            2 if !chars.is_empty() => chars[at] = c,
            _ => chars.insert(at, c),
        }
        chars.into_iter().collect()
    }

    /// `v` as a producer might send it: pretty-printed, or compact with its
    /// members shuffled (seeded by `seed`).
    pub(crate) fn written(v: &serde_json::Value, seed: u64, pretty: bool) -> String {
        if pretty {
            return serde_json::to_string_pretty(v).unwrap();
        }
        shuffled(v, &mut (seed | 1))
    }

    pub(crate) fn shuffled(v: &serde_json::Value, rng: &mut u64) -> String {
        match v {
            serde_json::Value::Array(items) => {
                let items: Vec<String> = items.iter().map(|i| shuffled(i, rng)).collect();
                format!("[{}]", items.join(","))
            }
            serde_json::Value::Object(map) => {
                let mut members: Vec<(u64, String)> = Vec::new();
                for (k, v) in map {
                    let key = serde_json::to_string(k).unwrap();
                    members.push((xorshift(rng), format!("{key}:{}", shuffled(v, rng))));
                }
                members.sort();
                let out: Vec<String> = members.into_iter().map(|(_, m)| m).collect();
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
            prop_assert_eq!(serde_path(&text).unwrap(), via_value(&text));
        }

        #[test]
        fn nested_objects_out_of_order_match(v in json(), seed in any::<u64>()) {
            let mut rng = seed | 1;
            let text = shuffled(&v, &mut rng);
            prop_assert_eq!(canonical(text.as_bytes()).unwrap(), via_value(&text), "{}", text);
            prop_assert_eq!(serde_path(&text).unwrap(), via_value(&text), "{}", text);
        }

        #[test]
        fn reordered_keys_match_and_repeated_keys_are_refused(keys in prop::collection::vec("[a-d]{0,2}", 0..12)) {
            let body: Vec<String> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| format!("{k:?} : {i}"))
                .collect();
            let text = format!("{{ {} }}", body.join(" , "));
            let distinct: std::collections::BTreeSet<&String> = keys.iter().collect();
            if distinct.len() == keys.len() {
                prop_assert_eq!(canonical(text.as_bytes()).unwrap(), via_value(&text));
                prop_assert_eq!(serde_path(&text).unwrap(), via_value(&text));
            } else {
                prop_assert!(canonical(text.as_bytes()).is_err(), "{}", text);
                prop_assert!(serde_path(&text).is_err(), "{}", text);
            }
        }

        #[test]
        fn strings_are_written_as_serde_json_writes_them(
            s in "[\\x00-\\x7f\"\\\\é\u{2028}\u{1f600}]{0,40}",
        ) {
            let mut out = Vec::new();
            write_str::<serde_json::Error>(&mut out, &s).unwrap();
            prop_assert_eq!(out, serde_json::to_vec(&s).unwrap());
        }

        #[test]
        fn runs_of_19_digits_are_found_8_bytes_at_a_time(
            text in "[0-9a\"]{0,80}",
        ) {
            let mut run = 0usize;
            let long_run = text.bytes().any(|b| {
                run = if b.is_ascii_digit() { run + 1 } else { 0 };
                run >= 19
            });
            prop_assert_eq!(long_run, has_long_digit_run(text.as_bytes()), "{}", text);
        }
    }
}
