//! The self-contained HTML page: the report's JSON inlined into one page whose
//! inline script draws the decision-mix charts (SVG) and the timeline. No
//! network access, no external files.

use std::path::Path;

use anyhow::{Context, Result};
use serde_json::Value;

const TEMPLATE: &str = include_str!("page.html");
const DATA_SLOT: &str = "/*INCIDENT_DATA*/";

/// JSON that is safe inside a `<script>` element: no `<`, `>` or `&` can end the
/// element or open a comment (they are escaped as `\u003c` and so on, which
/// JSON strings allow; outside strings JSON has none of them).
fn script_safe(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// The page for a report.
pub fn page(report: &Value) -> String {
    TEMPLATE.replacen(DATA_SLOT, &script_safe(report), 1)
}

/// Writes the page to `path`.
pub fn write(path: &Path, report: &Value) -> Result<()> {
    std::fs::write(path, page(report)).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_cannot_close_the_script_element() {
        let v = serde_json::json!({"subject": "</script><script>alert(1)</script>"});
        let html = page(&v);
        assert_eq!(
            html.matches("</script>").count(),
            TEMPLATE.matches("</script>").count()
        );
        assert!(html.contains(r"\u003c/script\u003e"));
        assert!(!html.contains(DATA_SLOT));
    }
}
