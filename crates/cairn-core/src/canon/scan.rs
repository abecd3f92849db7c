//! A hand-written JSON scanner for the common case: it reads a document that
//! is valid and unremarkable and writes the same canonical bytes the serde
//! path writes (`CanonicalJson`), in one pass over the text with no visitor
//! calls. Whatever it is not sure of — a syntax error, a repeated key, an
//! integer beyond 64 bits, `-0`, a lone surrogate, deep nesting — makes it
//! give up (`None`), and the caller parses the text again with serde, which
//! gives the answer and the error message. So it never decides anything the
//! serde path would decide differently; `tests` and the decision tests hold
//! the two to the same bytes.

use std::borrow::Cow;

use super::{integer_fits, special_at};

/// Deepest nesting the scanner follows; deeper documents go to serde (whose
/// own limit, 128, then decides).
const DEPTH_MAX: u32 = 100;

/// The canonical bytes of a whole JSON text, or `None` where serde must decide.
pub(crate) fn document(text: &str) -> Option<Vec<u8>> {
    let mut s = Scanner::new(text);
    let mut out = Vec::with_capacity(text.len());
    s.value(&mut out)?;
    s.at_end().then_some(out)
}

/// A number token, read.
pub(crate) enum Number<'a> {
    /// An integer that fits in `u64` (or, negative, `i64`), as written: JSON
    /// allows no leading zeros, so it is already as `serde_json` writes it.
    Int(&'a str),
    /// A number with a fraction, already as `serde_json` writes its double
    /// (see [`canonical_decimal`]).
    Decimal(&'a str),
    /// Any other number with a fraction or exponent, as `serde_json` reads it.
    Float(f64),
}

impl Number<'_> {
    /// The number as a double, as serde gives it to an `f64` field.
    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Number::Float(f) => Some(*f),
            Number::Decimal(t) => decimal_value(t),
            Number::Int(t) if t.starts_with('-') => t.parse::<i64>().ok().map(|i| i as f64),
            Number::Int(t) => t.parse::<u64>().ok().map(|u| u as f64),
        }
    }
}

/// Most significant digits of a decimal written through as it is: any
/// decimal of at most 15 digits is the only one of its length that reads as
/// its double, so it is the shortest that does, which is what is written.
const PASS_DIGITS_MAX: usize = 15;

/// Whether the number `-?I.F` (no exponent; `int` and `frac` its digits) is
/// exactly what `serde_json` writes for the double it reads as: at most 15
/// significant digits, no trailing zero in `F` (but `I.0` for a whole
/// number), neither zero nor so large or small that the double would be
/// written with an exponent (its leading digit's power of ten within
/// -5..=15). `0.0` and `-0.0` are written as they are too.
fn canonical_decimal(int: &[u8], frac: &[u8]) -> bool {
    if frac == b"0" {
        // A whole number: `I.0`, or a zero.
        return int == b"0" || int.len() <= PASS_DIGITS_MAX;
    }
    if frac.ends_with(b"0") {
        return false;
    }
    let (lead_power, digits) = if int == b"0" {
        let zeros = frac.iter().take_while(|&&b| b == b'0').count();
        (-(zeros as i64) - 1, frac.len() - zeros)
    } else {
        (int.len() as i64 - 1, int.len() + frac.len())
    };
    digits <= PASS_DIGITS_MAX && (-5..=15).contains(&lead_power)
}

/// The double of a token [`canonical_decimal`] passed: its digits, at most 15
/// significant with at most 21 after the point, are exact as a double and so
/// is the power of ten, so the one division rounds correctly, as serde_json's
/// reading does.
fn decimal_value(token: &str) -> Option<f64> {
    let (negative, unsigned) = match token.strip_prefix('-') {
        Some(u) => (true, u),
        None => (false, token),
    };
    let (int, frac) = unsigned.split_once('.')?;
    let mut significand = 0u64;
    for b in int.bytes().chain(frac.bytes()) {
        significand = significand
            .checked_mul(10)?
            .checked_add(u64::from(b - b'0'))?;
    }
    let power = 10f64.powi(i32::try_from(frac.len()).ok()?);
    let value = significand as f64 / power;
    Some(if negative { -value } else { value })
}

/// A cursor over one JSON text.
pub(crate) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    depth: u32,
    /// Members of the objects being written, innermost last: each key and
    /// where its `"key":value` bytes are in the output.
    members: Vec<(Cow<'a, str>, usize, usize)>,
}

impl<'a> Scanner<'a> {
    pub(crate) fn new(text: &'a str) -> Scanner<'a> {
        Scanner {
            text,
            pos: 0,
            depth: 0,
            members: Vec::new(),
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// The next byte that is not JSON whitespace, not consumed.
    pub(crate) fn peek(&mut self) -> Option<u8> {
        let b = self.bytes();
        while let Some(&c) = b.get(self.pos) {
            if !matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(c);
            }
            self.pos += 1;
        }
        None
    }

    /// Consume `c` (after whitespace), or give up.
    pub(crate) fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.pos += 1)
    }

    /// Whether only whitespace is left.
    pub(crate) fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Consume `null` if it is next.
    pub(crate) fn null(&mut self) -> Option<bool> {
        if self.peek()? == b'n' {
            self.literal("null")?;
            return Some(true);
        }
        Some(false)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        let end = self.pos + word.len();
        (self.bytes().get(self.pos..end)? == word.as_bytes()).then(|| self.pos = end)
    }

    /// A string (after whitespace), its escapes decoded.
    pub(crate) fn string(&mut self) -> Option<Cow<'a, str>> {
        self.eat(b'"')?;
        let start = self.pos;
        let end = special_at(self.bytes(), start);
        match self.bytes().get(end)? {
            b'"' => {
                self.pos = end + 1;
                Some(Cow::Borrowed(self.text.get(start..end)?))
            }
            b'\\' => {
                let mut s = String::from(self.text.get(start..end)?);
                self.pos = end;
                self.escaped(&mut s)?;
                Some(Cow::Owned(s))
            }
            _ => None, // a control character: not JSON
        }
    }

    /// The rest of a string from a backslash at `pos`, decoded into `s`.
    fn escaped(&mut self, s: &mut String) -> Option<()> {
        let b = self.bytes();
        loop {
            match *b.get(self.pos)? {
                b'"' => {
                    self.pos += 1;
                    return Some(());
                }
                b'\\' => {
                    let c = *b.get(self.pos + 1)?;
                    self.pos += 2;
                    match c {
                        b'"' => s.push('"'),
                        b'\\' => s.push('\\'),
                        b'/' => s.push('/'),
                        b'b' => s.push('\u{8}'),
                        b'f' => s.push('\u{c}'),
                        b'n' => s.push('\n'),
                        b'r' => s.push('\r'),
                        b't' => s.push('\t'),
                        b'u' => s.push(self.unicode_escape()?),
                        _ => return None,
                    }
                }
                c if c < 0x20 => return None,
                _ => {
                    let end = special_at(b, self.pos);
                    s.push_str(self.text.get(self.pos..end)?);
                    self.pos = end;
                }
            }
        }
    }

    /// The character of a `\uXXXX` escape (whose `\u` is read), joining a
    /// surrogate pair; a lone surrogate gives up.
    fn unicode_escape(&mut self) -> Option<char> {
        let hi = self.hex4()?;
        let code = match hi {
            0xD800..=0xDBFF => {
                self.literal("\\u")?;
                let lo = self.hex4()?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return None;
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => return None,
            _ => hi,
        };
        char::from_u32(code)
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.pos += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// A number token (after whitespace).
    pub(crate) fn number(&mut self) -> Option<Number<'a>> {
        self.peek()?;
        let b = self.bytes();
        let start = self.pos;
        let mut i = start;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        match b.get(i)? {
            b'0' => i += 1,
            b'1'..=b'9' => i = digits_end(b, i),
            _ => return None,
        }
        let int = start + usize::from(negative)..i;
        let mut float = false;
        let mut frac = i..i;
        if b.get(i) == Some(&b'.') {
            let end = digits_end(b, i + 1);
            if end == i + 1 {
                return None;
            }
            frac = i + 1..end;
            i = end;
            float = true;
        }
        let exponent = matches!(b.get(i), Some(b'e' | b'E'));
        if exponent {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits_end(b, i);
            if end == i {
                return None;
            }
            i = end;
            float = true;
        }
        if matches!(b.get(i), Some(b'0'..=b'9')) {
            return None; // a leading zero
        }
        let token = self.text.get(start..i)?;
        self.pos = i;
        if float {
            if !exponent && canonical_decimal(b.get(int)?, b.get(frac)?) {
                return Some(Number::Decimal(token));
            }
            // serde_json's own reading of the token, so that the double is the
            // one the serde path gets; it refuses a number beyond the range.
            return serde_json::from_str::<f64>(token).ok().map(Number::Float);
        }
        // `-0` is a double for serde_json, and a long integer is refused.
        if token == "-0" || integer_fits(token.as_bytes()).is_err() {
            return None;
        }
        Some(Number::Int(token))
    }

    /// One value (after whitespace), written canonically to `out`.
    pub(crate) fn value(&mut self, out: &mut Vec<u8>) -> Option<()> {
        match self.peek()? {
            b'{' => self.object(out),
            b'[' => self.array(out),
            b'"' => {
                let s = self.string()?;
                write_string(out, &s)
            }
            b't' => self
                .literal("true")
                .map(|()| out.extend_from_slice(b"true")),
            b'f' => self
                .literal("false")
                .map(|()| out.extend_from_slice(b"false")),
            b'n' => self
                .literal("null")
                .map(|()| out.extend_from_slice(b"null")),
            _ => match self.number()? {
                Number::Int(t) | Number::Decimal(t) => {
                    out.extend_from_slice(t.as_bytes());
                    Some(())
                }
                Number::Float(f) => serde_json::to_writer(out, &f).ok(),
            },
        }
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= DEPTH_MAX).then_some(())
    }

    fn array(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.enter()?;
        self.eat(b'[')?;
        out.push(b'[');
        if self.peek()? == b']' {
            self.pos += 1;
        } else {
            loop {
                self.value(out)?;
                match self.peek()? {
                    b',' => out.push(b','),
                    b']' => break,
                    _ => return None,
                }
                self.pos += 1;
            }
            self.pos += 1;
        }
        out.push(b']');
        self.depth -= 1;
        Some(())
    }

    /// An object (after whitespace), written canonically: members in the
    /// order they come, and rewritten sorted at the end only if their keys
    /// did not come in strictly increasing order. A repeated key gives up.
    pub(crate) fn object(&mut self, out: &mut Vec<u8>) -> Option<()> {
        self.enter()?;
        self.eat(b'{')?;
        out.push(b'{');
        let start = out.len();
        let base = self.members.len();
        let mut in_order = true;
        if self.peek()? == b'}' {
            self.pos += 1;
        } else {
            loop {
                let key = self.string()?;
                self.eat(b':')?;
                if self.members.len() > base {
                    out.push(b',');
                    if let Some((last, _, _)) = self.members.last() {
                        in_order &= last.as_bytes() < key.as_bytes();
                    }
                }
                let at = out.len();
                write_string(out, &key)?;
                out.push(b':');
                self.value(out)?;
                self.members.push((key, at, out.len()));
                match self.peek()? {
                    b',' => self.pos += 1,
                    b'}' => break,
                    _ => return None,
                }
            }
            self.pos += 1;
        }
        if !in_order {
            let written = out.split_off(start);
            let members = &mut self.members[base..];
            members.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            if members.windows(2).any(|w| w[0].0 == w[1].0) {
                return None;
            }
            for (i, (_, from, to)) in members.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(written.get(from - start..to - start)?);
            }
        }
        self.members.truncate(base);
        out.push(b'}');
        self.depth -= 1;
        Some(())
    }
}

/// The end of the run of ASCII digits at `i`.
fn digits_end(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b'0'..=b'9')) {
        i += 1;
    }
    i
}

/// A string read by [`Scanner::string`], as `serde_json` writes it: one
/// borrowed from the text held no escape, quote or control character, so it
/// is written as it is; a decoded one is escaped again where it needs to be.
#[allow(clippy::ptr_arg)] // whether it is borrowed is what it is asked
fn write_string(out: &mut Vec<u8>, s: &Cow<'_, str>) -> Option<()> {
    match s {
        Cow::Borrowed(text) => {
            out.reserve(text.len() + 2);
            out.push(b'"');
            out.extend_from_slice(text.as_bytes());
            out.push(b'"');
            Some(())
        }
        Cow::Owned(text) => super::write_str::<serde_json::Error>(out, text).ok(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::canon::tests::{edited, json, serde_path, written};
    use proptest::prelude::*;

    /// The scanner's bytes, or `None` where it gives up.
    fn scanned(text: &str) -> Option<Vec<u8>> {
        document(text)
    }

    /// The serde path's bytes, or `None` where it refuses the text.
    fn serde(text: &str) -> Option<Vec<u8>> {
        serde_path(text).ok()
    }

    #[test]
    fn agrees_with_the_serde_path_where_it_answers() {
        let docs = [
            r#"{"b":1,"a":[true,false,null,-5,0,1.5e3,"x\u00e9\n\"y"]}"#,
            r#" { "z" : { "y" : 1 , "x" : 2 } , "a" : "\ud83d\ude00" } "#,
            r#"[1E2, 1e-400, -0.0, 0.1, 18446744073709551615, -9223372036854775808]"#,
            r#""\/\b\f\r\t\u0000\u001f""#,
            r#"{"":0,"a":{},"b":[]}"#,
            "\"é ☃ \\u2603\"",
        ];
        for doc in docs {
            let got = scanned(doc);
            assert!(got.is_some(), "gave up on {doc}");
            assert_eq!(got, serde(doc), "{doc}");
        }
    }

    #[test]
    fn gives_up_on_what_it_is_not_sure_of() {
        let docs = [
            r#"{"a":1,"a":2}"#,
            r#"{"b":1,"a":2,"b":3}"#,
            "18446744073709551616",
            "-9223372036854775809",
            "-0",
            "01",
            "1.",
            "1e",
            ".5",
            r#""\ud800""#,
            r#""\udc00x""#,
            r#""\x""#,
            "\"a\u{1}b\"",
            "[1,]",
            "{\"a\":1,}",
            "[1 2]",
            "tru",
            "1e400",
            "\"open",
        ];
        for doc in docs {
            assert_eq!(scanned(doc), None, "{doc}");
        }
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        assert_eq!(scanned(&deep), None);
        let fine = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(scanned(&fine), serde(&fine));
    }

    #[test]
    fn finds_special_bytes_across_words() {
        let text = b"abcdefghijklmnop\"qrs";
        assert_eq!(special_at(text, 0), 16);
        assert_eq!(special_at(text, 17), 20);
        assert_eq!(special_at(b"abcdefg\\", 0), 7);
        assert_eq!(special_at(b"abcdefgh\x1f", 0), 8);
    }

    /// A decimal token `-?I.F` with up to `n` digits on each side.
    fn decimal_token() -> impl Strategy<Value = String> {
        ("-?", "(0|[1-9][0-9]{0,17})", "[0-9]{1,22}")
            .prop_map(|(sign, int, frac)| format!("{sign}{int}.{frac}"))
    }

    #[test]
    fn decimals_written_through_are_what_serde_json_writes() {
        for t in [
            "0.0",
            "-0.0",
            "5.0",
            "0.6633",
            "-1.2081",
            "0.00001",
            "0.000001234",
            "123456789012345.0",
            "999999999999999.9",
            "0.1",
            "1352.4",
        ] {
            let mut s = Scanner::new(t);
            let n = s.number().unwrap();
            let via_serde = serde(t).unwrap();
            if let Number::Decimal(d) = &n {
                assert_eq!(d.as_bytes(), via_serde.as_slice(), "{t}");
            }
            let want: f64 = serde_json::from_str(t).unwrap();
            assert_eq!(n.as_f64().unwrap().to_bits(), want.to_bits(), "{t}");
        }
        let passed = |t: &str| matches!(Scanner::new(t).number(), Some(Number::Decimal(_)));
        assert!(passed("0.6633") && passed("-0.0") && passed("5.0") && passed("-1352.4"));
        assert!(!passed("0.50") && !passed("0.0000001") && !passed("0.00") && !passed("1.5e3"));
        assert!(!passed("1234567890123456.0") && !passed("0.1234567890123456"));
    }

    proptest! {
        #[test]
        fn answers_every_valid_document_as_serde_does(v in json(), seed in any::<u64>(), pretty in any::<bool>()) {
            let text = written(&v, seed, pretty);
            let got = scanned(&text);
            prop_assert!(got.is_some(), "gave up on {}", text);
            prop_assert_eq!(got, serde(&text), "{}", text);
        }

        #[test]
        fn decimal_tokens_read_and_write_as_serde_json_does(t in decimal_token()) {
            let mut s = Scanner::new(&t);
            if let Some(n) = s.number() {
                let want: f64 = serde_json::from_str(&t).unwrap();
                prop_assert_eq!(n.as_f64().unwrap().to_bits(), want.to_bits(), "{}", &t);
                prop_assert_eq!(scanned(&t), serde(&t), "{}", &t);
            }
        }

        #[test]
        fn shortest_doubles_read_and_write_as_serde_json_does(x in any::<f64>(), digits in 0usize..18) {
            // The shortest text of a double, and the same rounded to fewer digits.
            let t = serde_json::to_string(&x).unwrap();
            let rounded = format!("{x:.digits$}");
            for t in [t, rounded] {
                if let Some(n) = Scanner::new(&t).number() {
                    let want: f64 = serde_json::from_str(&t).unwrap();
                    prop_assert_eq!(n.as_f64().unwrap().to_bits(), want.to_bits(), "{}", &t);
                    prop_assert_eq!(scanned(&t), serde(&t), "{}", &t);
                }
            }
        }

        #[test]
        fn never_answers_what_serde_refuses_or_reads_otherwise(
            v in json(),
            edits in prop::collection::vec((any::<usize>(), any::<u8>(), prop::sample::select(
                vec!['"', '\\', '{', '}', '[', ']', ',', ':', '-', '0', '9', '.', 'e', 'u', 'n', ' ', '\u{1}', 'd', '8', 'a', 'é'])), 1..4),
        ) {
            let mut text = serde_json::to_string(&v).unwrap();
            for (at, op, c) in edits {
                text = edited(&text, at, op, c);
            }
            if let Some(got) = scanned(&text) {
                prop_assert_eq!(Some(got), serde(&text), "{}", text);
            }
        }
    }
}
