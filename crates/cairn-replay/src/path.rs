//! JSON paths: how differences are named (`$.reasons[1]`, `$.message.content`) and
//! how a user points at parts of an output (`--ignore`, `--tolerance`,
//! `--label-path`, `--score-path`).
//!
//! Syntax: `$` is the whole output; `.key` or `["any key"]` an object member;
//! `[3]` an array element; `*` and `[*]` any member and any element (in patterns
//! only). The leading `$` may be left out: `reasons[0]` is `$.reasons[0]`.

use serde_json::Value;

use crate::error::ReplayError;

/// One step of a concrete path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// An object member.
    Key(String),
    /// An array element.
    Index(usize),
}

/// One step of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PatternSegment {
    Key(String),
    Index(usize),
    AnyKey,
    AnyIndex,
}

/// A path pattern given by the user. A pattern *covers* a path when it matches the
/// path's first segments: `--ignore $.usage` ignores `$.usage.prompt_tokens` too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    segments: Vec<PatternSegment>,
    text: String,
}

impl std::fmt::Display for PathPattern {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl PathPattern {
    /// Parse a path or pattern.
    pub fn parse(text: &str) -> Result<PathPattern, ReplayError> {
        let bad = |reason: &str| ReplayError::BadPath {
            path: text.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = text.trim();
        let implicit;
        let mut rest = match trimmed.strip_prefix('$') {
            Some(r) if r.is_empty() || r.starts_with(['.', '[']) => r,
            Some(_) => return Err(bad("expected `.` or `[` after `$`")),
            None if trimmed.is_empty() => return Err(bad("empty path")),
            None if trimmed.starts_with('[') => trimmed,
            None => {
                // `reasons[0]` means `$.reasons[0]`.
                implicit = format!(".{trimmed}");
                &implicit
            }
        };
        let mut segments = Vec::new();
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix('[') {
                let (seg, tail) = parse_bracket(after).map_err(|r| bad(&r))?;
                segments.push(seg);
                rest = tail;
                continue;
            }
            let body = rest
                .strip_prefix('.')
                .ok_or_else(|| bad("expected `.` or `[`"))?;
            let end = body.find(['.', '[']).unwrap_or(body.len());
            let key = &body[..end];
            if key.is_empty() {
                return Err(bad("empty member name"));
            }
            segments.push(if key == "*" {
                PatternSegment::AnyKey
            } else {
                PatternSegment::Key(key.to_owned())
            });
            rest = &body[end..];
        }
        let mut canonical = String::from("$");
        for s in &segments {
            match s {
                PatternSegment::Key(k) => push_key(&mut canonical, k),
                PatternSegment::Index(i) => push_index(&mut canonical, *i),
                PatternSegment::AnyKey => canonical.push_str(".*"),
                PatternSegment::AnyIndex => canonical.push_str("[*]"),
            }
        }
        Ok(PathPattern {
            segments,
            text: canonical,
        })
    }

    /// The pattern in canonical form (`$.a[0]`).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Number of segments.
    pub fn len(&self) -> usize {
        self.segments.len()
    }

    /// True for `$`, the whole value.
    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Whether this pattern matches the first segments of `path`.
    pub fn covers(&self, path: &[Segment]) -> bool {
        self.segments.len() <= path.len()
            && self.segments.iter().zip(path).all(|(p, s)| match (p, s) {
                (PatternSegment::Key(a), Segment::Key(b)) => a == b,
                (PatternSegment::Index(a), Segment::Index(b)) => a == b,
                (PatternSegment::AnyKey, Segment::Key(_)) => true,
                (PatternSegment::AnyIndex, Segment::Index(_)) => true,
                _ => false,
            })
    }

    /// The value at this path, if the path is concrete (no wildcards) and present.
    pub fn lookup<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        let mut at = value;
        for s in &self.segments {
            at = match (s, at) {
                (PatternSegment::Key(k), Value::Object(m)) => m.get(k)?,
                (PatternSegment::Index(i), Value::Array(a)) => a.get(*i)?,
                _ => return None,
            };
        }
        Some(at)
    }
}

fn parse_bracket(after: &str) -> Result<(PatternSegment, &str), String> {
    if let Some(tail) = after.strip_prefix("*]") {
        return Ok((PatternSegment::AnyIndex, tail));
    }
    if after.starts_with('"') {
        // A JSON string, then `]`.
        let mut de = serde_json::Deserializer::from_str(after).into_iter::<String>();
        let key = match de.next() {
            Some(Ok(k)) => k,
            _ => return Err("bad quoted member name".into()),
        };
        let tail = &after[de.byte_offset()..];
        let tail = tail.strip_prefix(']').ok_or("expected `]`")?;
        return Ok((PatternSegment::Key(key), tail));
    }
    let end = after.find(']').ok_or("expected `]`")?;
    let index = after[..end]
        .parse::<usize>()
        .map_err(|_| format!("bad array index {:?}", &after[..end]))?;
    Ok((PatternSegment::Index(index), &after[end + 1..]))
}

/// Whether a member name can be written as `.name`.
fn plain(key: &str) -> bool {
    !key.is_empty()
        && key != "*"
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Append `.key` or `["key"]` to a rendered path.
pub fn push_key(out: &mut String, key: &str) {
    if plain(key) {
        out.push('.');
        out.push_str(key);
    } else {
        out.push('[');
        out.push_str(&serde_json::to_string(key).unwrap_or_default());
        out.push(']');
    }
}

/// Append `[index]` to a rendered path.
pub fn push_index(out: &mut String, index: usize) {
    use std::fmt::Write as _;
    let _ = write!(out, "[{index}]");
}

/// Render a concrete path: `$`, `$.a`, `$.a[0]["b c"]`.
pub fn render(path: &[Segment]) -> String {
    let mut out = String::from("$");
    for s in path {
        match s {
            Segment::Key(k) => push_key(&mut out, k),
            Segment::Index(i) => push_index(&mut out, *i),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(t: &str) -> PathPattern {
        PathPattern::parse(t).expect("parses")
    }

    #[test]
    fn paths_parse_with_or_without_the_root() {
        assert_eq!(p("$").as_str(), "$");
        assert_eq!(p("score").as_str(), "$.score");
        assert_eq!(p("$.reasons[1]").as_str(), "$.reasons[1]");
        assert_eq!(p("message.content").as_str(), "$.message.content");
        assert_eq!(p(r#"$["a b"].c"#).as_str(), r#"$["a b"].c"#);
        assert_eq!(p("features[*]").as_str(), "$.features[*]");
        assert_eq!(p("*.x").as_str(), "$.*.x");
        for bad in ["$x", "a..b", "a[", "a[x]", "a[\"b\"", "."] {
            assert!(PathPattern::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn patterns_cover_paths_below_them() {
        let path = [
            Segment::Key("usage".into()),
            Segment::Key("prompt_tokens".into()),
        ];
        assert!(p("$.usage").covers(&path));
        assert!(p("$.*.prompt_tokens").covers(&path));
        assert!(p("$").covers(&path));
        assert!(!p("$.usage.completion_tokens").covers(&path));
        assert!(!p("$.usage[*]").covers(&path));
        let arr = [Segment::Key("f".into()), Segment::Index(3)];
        assert!(p("f[*]").covers(&arr));
        assert!(p("f[3]").covers(&arr));
        assert!(!p("f[2]").covers(&arr));
        assert_eq!(render(&arr), "$.f[3]");
        assert_eq!(render(&[Segment::Key("a.b".into())]), r#"$["a.b"]"#);
    }

    #[test]
    fn lookup_finds_values() {
        let v = json!({"a": [{"b": 1}], "c d": 2});
        assert_eq!(p("a[0].b").lookup(&v), Some(&json!(1)));
        assert_eq!(p(r#"$["c d"]"#).lookup(&v), Some(&json!(2)));
        assert_eq!(p("a[1]").lookup(&v), None);
        assert_eq!(p("$").lookup(&v), Some(&v));
    }
}
