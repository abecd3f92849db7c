//! Request templates: shape the HTTP body for endpoints that expect something other
//! than the protocol's object.
//!
//! A template is any JSON value. A string that is exactly a placeholder is replaced
//! by the value it names, keeping its type: `"{{input}}"`, `"{{params}}"`,
//! `"{{model}}"`, `"{{seq}}"`, or a path below one of them such as
//! `"{{params.seed}}"` or `"{{input.messages}}"` (null when absent). Placeholders
//! inside longer strings are replaced by the value's text.

use serde_json::Value;

use crate::error::ReplayError;
use crate::path::PathPattern;
use crate::record::{model_json, Record};

/// A parsed request template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template(Value);

impl Template {
    /// Parse a template from JSON text.
    pub fn parse(text: &str) -> Result<Template, ReplayError> {
        serde_json::from_str(text)
            .map(Template)
            .map_err(|e| ReplayError::BadTemplate {
                reason: e.to_string(),
            })
    }

    /// The request body for a record.
    pub fn render(&self, record: &Record) -> Value {
        let model = model_json(&record.model);
        let ctx = Context { record, model };
        fill(&self.0, &ctx)
    }
}

struct Context<'a> {
    record: &'a Record,
    model: Value,
}

impl Context<'_> {
    fn resolve(&self, name: &str) -> Value {
        let (root, rest) = match name.find(['.', '[']) {
            Some(at) => (&name[..at], &name[at..]),
            None => (name, ""),
        };
        let base = match root {
            "seq" => return Value::from(self.record.seq),
            "input" => &self.record.input,
            "params" => match &self.record.params {
                Some(p) => p,
                None => return Value::Null,
            },
            "model" => &self.model,
            _ => return Value::Null,
        };
        if rest.is_empty() {
            return base.clone();
        }
        PathPattern::parse(&format!("${rest}"))
            .ok()
            .and_then(|p| p.lookup(base).cloned())
            .unwrap_or(Value::Null)
    }
}

fn fill(v: &Value, ctx: &Context<'_>) -> Value {
    match v {
        Value::String(s) => {
            if let Some(name) = s.strip_prefix("{{").and_then(|r| r.strip_suffix("}}")) {
                if !name.contains("{{") {
                    return ctx.resolve(name.trim());
                }
            }
            Value::String(inline(s, ctx))
        }
        Value::Array(items) => Value::Array(items.iter().map(|i| fill(i, ctx)).collect()),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), fill(v, ctx))).collect())
        }
        other => other.clone(),
    }
}

fn inline(s: &str, ctx: &Context<'_>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        let name = rest[open + 2..open + close].trim();
        match ctx.resolve(name) {
            Value::String(text) => out.push_str(&text),
            other => out.push_str(&other.to_string()),
        }
        rest = &rest[open + close + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn placeholders_keep_their_type_and_inline_ones_become_text() {
        let mut r = crate::candidate::tests::record(9);
        r.params = Some(json!({"seed": 42, "temperature": 0.2}));
        let t = Template::parse(
            r#"{"inputs": "{{input}}", "seed": "{{params.seed}}", "id": "req-{{seq}}",
                "model": "{{model.name}}@{{model.version}}", "none": "{{params.nope}}", "k": [1]}"#,
        )
        .expect("parses");
        assert_eq!(
            t.render(&r),
            json!({"inputs": {"x": 9}, "seed": 42, "id": "req-9", "model": "m@1", "none": null, "k": [1]})
        );
        assert!(Template::parse("{").is_err());
    }
}
