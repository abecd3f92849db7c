//! Structural diff of a candidate's output against the recorded output, by JSON
//! path: changed values, type changes, missing and extra members, array length and
//! order; with per-path numeric tolerances and ignored paths.

use serde::Serialize;
use serde_json::Value;

use crate::error::ReplayError;
use crate::path::{self, PathPattern, Segment};

/// Longest value kept in a [`Difference`], as compact JSON text, in bytes: enough to
/// show an example, small enough to keep a million differences in memory.
pub const VALUE_BYTES_MAX: usize = 240;
/// Arrays longer than this are compared element by element only, never for order.
const ORDER_CHECK_LEN_MAX: usize = 1000;

/// What kind of difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// Same type, another value (numbers: beyond tolerance).
    Changed,
    /// Another JSON type (e.g. a number became a string).
    TypeChanged,
    /// The recorded output has it, the candidate's does not.
    Missing,
    /// The candidate's output has it, the recorded one does not.
    Extra,
    /// An array of another length (elements of the common prefix are compared too).
    ArrayLength,
    /// An array with the same elements in another order.
    Order,
}

impl DiffKind {
    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            DiffKind::Changed => "changed",
            DiffKind::TypeChanged => "type_changed",
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::ArrayLength => "array_length",
            DiffKind::Order => "order",
        }
    }
}

/// One difference at one path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Where, e.g. `$.reasons[1]`.
    pub path: String,
    /// What kind.
    pub kind: DiffKind,
    /// The recorded value (clipped to [`VALUE_BYTES_MAX`]); for `array_length`, the length.
    pub recorded: Option<Value>,
    /// The candidate's value (clipped); for `array_length`, the length.
    pub candidate: Option<Value>,
}

/// A numeric tolerance for the numbers at or below a path.
#[derive(Debug, Clone, PartialEq)]
pub struct Tolerance {
    /// Where it applies.
    pub path: PathPattern,
    /// Largest accepted absolute difference.
    pub abs: f64,
    /// Largest accepted difference relative to the larger magnitude of the two.
    pub rel: f64,
}

impl Tolerance {
    /// Parse `PATH=ABS[,REL]`.
    pub fn parse(text: &str) -> Result<Tolerance, ReplayError> {
        let bad = |reason: &str| ReplayError::BadTolerance {
            text: text.to_owned(),
            reason: reason.to_owned(),
        };
        let (p, nums) = text.rsplit_once('=').ok_or_else(|| bad("no `=`"))?;
        let path = PathPattern::parse(p)?;
        let (abs, rel) = match nums.split_once(',') {
            Some((a, r)) => (a, r),
            None => (nums, "0"),
        };
        let num = |s: &str, what: &str| -> Result<f64, ReplayError> {
            let v: f64 = s
                .trim()
                .parse()
                .map_err(|_| bad(&format!("{what} {s:?} is not a number")))?;
            if !v.is_finite() || v < 0.0 {
                return Err(bad(&format!("{what} must be a finite number ≥ 0")));
            }
            Ok(v)
        };
        Ok(Tolerance {
            path,
            abs: num(abs, "the absolute tolerance")?,
            rel: num(rel, "the relative tolerance")?,
        })
    }

    /// Whether two numbers are equal within this tolerance.
    pub fn accepts(&self, a: f64, b: f64) -> bool {
        let d = (a - b).abs();
        d <= self.abs || d <= self.rel * a.abs().max(b.abs())
    }
}

/// How to compare: tolerances and ignored paths.
#[derive(Debug, Clone, Default)]
pub struct DiffRules {
    /// Numeric tolerances; where several cover a path, the longest pattern wins.
    pub tolerances: Vec<Tolerance>,
    /// Paths whose differences (and those of everything below them) are ignored.
    pub ignore: Vec<PathPattern>,
}

impl DiffRules {
    fn ignored(&self, path: &[Segment]) -> bool {
        self.ignore.iter().any(|p| p.covers(path))
    }

    fn tolerance(&self, path: &[Segment]) -> Option<&Tolerance> {
        self.tolerances
            .iter()
            .filter(|t| t.path.covers(path))
            .max_by_key(|t| t.path.len())
    }
}

/// The differences between a recorded output and a candidate's, in path order.
pub fn diff(recorded: &Value, candidate: &Value, rules: &DiffRules) -> Vec<Difference> {
    run(recorded, candidate, rules, true)
}

/// The same differences as [`diff`], without their values (`recorded` and
/// `candidate` are `None`): cheaper, for counting.
pub fn diff_paths(recorded: &Value, candidate: &Value, rules: &DiffRules) -> Vec<Difference> {
    run(recorded, candidate, rules, false)
}

fn run(recorded: &Value, candidate: &Value, rules: &DiffRules, values: bool) -> Vec<Difference> {
    // Most answers reproduce the record exactly. Equal values have no difference
    // under any rules (tolerances and ignored paths only ever remove differences),
    // and comparing is much cheaper than walking with paths.
    if recorded == candidate {
        return Vec::new();
    }
    walk(recorded, candidate, rules, values)
}

/// The structural walk, without the equality shortcut.
fn walk(recorded: &Value, candidate: &Value, rules: &DiffRules, values: bool) -> Vec<Difference> {
    let mut d = Differ {
        rules,
        values,
        segments: Vec::new(),
        out: Vec::new(),
    };
    d.walk(recorded, candidate);
    d.out
}

struct Differ<'r> {
    rules: &'r DiffRules,
    values: bool,
    segments: Vec<Segment>,
    out: Vec<Difference>,
}

impl Differ<'_> {
    fn push(&mut self, kind: DiffKind, recorded: Option<&Value>, candidate: Option<&Value>) {
        if !self.rules.ignore.is_empty() && self.rules.ignored(&self.segments) {
            return;
        }
        let keep = |v: Option<&Value>| if self.values { v.map(clip) } else { None };
        let (recorded, candidate) = (keep(recorded), keep(candidate));
        self.out.push(Difference {
            path: path::render(&self.segments),
            kind,
            recorded,
            candidate,
        });
    }

    fn walk(&mut self, a: &Value, b: &Value) {
        if !self.rules.ignore.is_empty() && self.rules.ignored(&self.segments) {
            return;
        }
        match (a, b) {
            (Value::Object(ma), Value::Object(mb)) => {
                for (k, va) in ma {
                    self.segments.push(Segment::Key(k.clone()));
                    match mb.get(k) {
                        Some(vb) => self.walk(va, vb),
                        None => self.push(DiffKind::Missing, Some(va), None),
                    }
                    self.segments.pop();
                }
                for (k, vb) in mb {
                    if !ma.contains_key(k) {
                        self.segments.push(Segment::Key(k.clone()));
                        self.push(DiffKind::Extra, None, Some(vb));
                        self.segments.pop();
                    }
                }
            }
            (Value::Array(xa), Value::Array(xb)) => self.arrays(xa, xb),
            (Value::Number(na), Value::Number(nb)) => {
                if !self.numbers_equal(na, nb) {
                    self.push(DiffKind::Changed, Some(a), Some(b));
                }
            }
            _ if std::mem::discriminant(a) != std::mem::discriminant(b) => {
                self.push(DiffKind::TypeChanged, Some(a), Some(b));
            }
            _ => {
                if a != b {
                    self.push(DiffKind::Changed, Some(a), Some(b));
                }
            }
        }
    }

    fn arrays(&mut self, xa: &[Value], xb: &[Value]) {
        if xa.len() != xb.len() {
            let (la, lb) = (Value::from(xa.len()), Value::from(xb.len()));
            self.push(DiffKind::ArrayLength, Some(&la), Some(&lb));
        }
        let mark = self.out.len();
        for (i, (va, vb)) in xa.iter().zip(xb).enumerate() {
            self.segments.push(Segment::Index(i));
            self.walk(va, vb);
            self.segments.pop();
        }
        if self.out.len() > mark && xa.len() == xb.len() && xa.len() <= ORDER_CHECK_LEN_MAX {
            let sorted = |x: &[Value]| {
                let mut s: Vec<String> = x.iter().map(Value::to_string).collect();
                s.sort_unstable();
                s
            };
            if sorted(xa) == sorted(xb) {
                self.out.truncate(mark);
                let (va, vb) = (Value::Array(xa.to_vec()), Value::Array(xb.to_vec()));
                self.push(DiffKind::Order, Some(&va), Some(&vb));
            }
        }
    }

    fn numbers_equal(&self, a: &serde_json::Number, b: &serde_json::Number) -> bool {
        if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
            if x == y {
                return true;
            }
        }
        let (Some(x), Some(y)) = (a.as_f64(), b.as_f64()) else {
            return a == b;
        };
        if x == y {
            return true;
        }
        self.rules
            .tolerance(&self.segments)
            .is_some_and(|t| t.accepts(x, y))
    }
}

/// A value small enough to keep: long strings are cut, large arrays and objects
/// become the start of their JSON text followed by `…`.
pub fn clip(v: &Value) -> Value {
    match v {
        Value::String(s) if s.len() > VALUE_BYTES_MAX => Value::String(cut(s)),
        Value::Array(_) | Value::Object(_) => {
            let text = v.to_string();
            if text.len() > VALUE_BYTES_MAX {
                Value::String(cut(&text))
            } else {
                v.clone()
            }
        }
        _ => v.clone(),
    }
}

fn cut(s: &str) -> String {
    let mut end = VALUE_BYTES_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn kinds(d: &[Difference]) -> Vec<(String, &'static str)> {
        d.iter().map(|x| (x.path.clone(), x.kind.name())).collect()
    }

    fn pairs(v: &[(&str, &'static str)]) -> Vec<(String, &'static str)> {
        v.iter().map(|(p, k)| ((*p).to_owned(), *k)).collect()
    }

    #[test]
    fn names_every_kind_of_difference_by_path() {
        let rec = json!({"decision": "approve", "score": 0.2, "reasons": ["a", "b"],
                         "usage": {"tokens": 3}, "gone": 1, "t": 1, "order": [1, 2, 3]});
        let cand = json!({"decision": "review", "score": 0.2, "reasons": ["a"],
                          "usage": {"tokens": 3}, "new": true, "t": "1", "order": [3, 2, 1]});
        let d = diff(&rec, &cand, &DiffRules::default());
        assert_eq!(
            kinds(&d),
            pairs(&[
                ("$.decision", "changed"),
                ("$.gone", "missing"),
                ("$.order", "order"),
                ("$.reasons", "array_length"),
                ("$.t", "type_changed"),
                ("$.new", "extra"),
            ])
        );
        assert_eq!(d[3].recorded, Some(json!(2)));
        assert_eq!(d[3].candidate, Some(json!(1)));
        assert!(diff(&rec, &rec, &DiffRules::default()).is_empty());
    }

    #[test]
    fn integers_and_floats_of_equal_value_agree() {
        assert!(diff(&json!({"a": 1}), &json!({"a": 1.0}), &DiffRules::default()).is_empty());
        assert_eq!(diff(&json!(1), &json!(2), &DiffRules::default()).len(), 1);
    }

    #[test]
    fn tolerances_are_absolute_or_relative_and_the_longest_pattern_wins() {
        let rules = DiffRules {
            tolerances: vec![
                Tolerance::parse("$.p=0.01").expect("parses"),
                Tolerance::parse("$.p.exact=0").expect("parses"),
                Tolerance::parse("q=0,0.1").expect("parses"),
            ],
            ignore: vec![],
        };
        let rec = json!({"p": {"a": 1.0, "exact": 1.0}, "q": 100.0});
        let ok = json!({"p": {"a": 1.009, "exact": 1.0}, "q": 109.0});
        assert!(diff(&rec, &ok, &rules).is_empty());
        let bad = json!({"p": {"a": 1.02, "exact": 1.001}, "q": 112.0});
        assert_eq!(
            kinds(&diff(&rec, &bad, &rules)),
            pairs(&[
                ("$.p.a", "changed"),
                ("$.p.exact", "changed"),
                ("$.q", "changed")
            ])
        );
        for bad in ["x", "x=a", "x=-1", "x=1,z", "[=1"] {
            assert!(Tolerance::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ignored_paths_hide_their_subtree_only() {
        let rules = DiffRules {
            tolerances: vec![],
            ignore: vec![
                PathPattern::parse("$.explanation").expect("parses"),
                PathPattern::parse("$.items[*].id").expect("parses"),
            ],
        };
        let rec = json!({"explanation": {"text": "a"}, "items": [{"id": 1, "v": 1}], "k": 1});
        let cand = json!({"explanation": 5, "items": [{"id": 2, "v": 2}], "k": 1});
        assert_eq!(
            kinds(&diff(&rec, &cand, &rules)),
            pairs(&[("$.items[0].v", "changed")])
        );
    }

    #[test]
    fn paths_only_is_the_same_diff_without_values() {
        let rec = json!({"a": [1, 2], "b": {"c": "x"}, "d": 1});
        let cand = json!({"a": [2, 1], "b": {"c": 5}, "e": 1});
        let full = diff(&rec, &cand, &DiffRules::default());
        let bare = diff_paths(&rec, &cand, &DiffRules::default());
        assert_eq!(kinds(&full), kinds(&bare));
        assert!(bare
            .iter()
            .all(|d| d.recorded.is_none() && d.candidate.is_none()));
        assert!(full
            .iter()
            .all(|d| d.recorded.is_some() || d.candidate.is_some()));
    }

    #[test]
    fn equal_outputs_give_what_the_full_walk_gives() {
        let rules = DiffRules {
            tolerances: vec![Tolerance::parse("$.score=0.5").expect("parses")],
            ignore: vec![PathPattern::parse("$.usage").expect("parses")],
        };
        let text = r#"{"decision":"approve","reasons":["a","b"],"score":0.25,"usage":{"n":1}}"#;
        let reordered =
            r#"{"usage":{"n":1},"score":0.25,"reasons":["a","b"],"decision":"approve"}"#;
        let spaced =
            r#"{ "score": 0.25, "decision": "approve", "usage": {"n": 1}, "reasons": ["a", "b"] }"#;
        let rec: Value = serde_json::from_str(text).expect("json");
        for other in [text, reordered, spaced] {
            let cand: Value = serde_json::from_str(other).expect("json");
            assert_eq!(rec, cand, "{other}");
            for rules in [&DiffRules::default(), &rules] {
                for values in [true, false] {
                    let fast = run(&rec, &cand, rules, values);
                    assert_eq!(fast, walk(&rec, &cand, rules, values), "{other}");
                    assert!(fast.is_empty());
                }
            }
        }
        // Values that are not equal still take the full walk, whatever the rules say.
        let near: Value = serde_json::from_str(
            r#"{"decision":"approve","reasons":["a","b"],"score":0.5,"usage":{"n":2}}"#,
        )
        .expect("json");
        assert!(run(&rec, &near, &rules, true).is_empty());
        assert_eq!(
            kinds(&run(&rec, &near, &DiffRules::default(), true)),
            pairs(&[("$.score", "changed"), ("$.usage.n", "changed")])
        );
        // An integer and a float of equal value differ as values but agree as numbers.
        let (int, float) = (json!({"a": 1}), json!({"a": 1.0}));
        assert_ne!(int, float);
        assert_eq!(diff(&int, &float, &DiffRules::default()), vec![]);
    }

    #[test]
    fn long_values_are_clipped() {
        let long = "x".repeat(1000);
        let d = diff(
            &json!({"m": long}),
            &json!({"m": "y"}),
            &DiffRules::default(),
        );
        let kept = d[0].recorded.as_ref().and_then(Value::as_str).map(str::len);
        assert_eq!(kept, Some(VALUE_BYTES_MAX + "…".len()));
    }
}
