//! Reading a bundle's JSON into its raw fields, strictly: unknown fields, missing
//! fields and wrong types are findings that name the entry and the field.
//!
//! The common case (a well-formed bundle) takes one typed pass that borrows the
//! hex strings from the input. Only when that pass fails is the document read a
//! second time, as generic JSON, to say precisely where it is malformed.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::Value;

use super::{BundleReport, CannotCheck, Location, FORMAT, VERSION};

/// The top level of a bundle.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawBundle<'a> {
    #[serde(borrow)]
    pub format: Cow<'a, str>,
    pub version: u64,
    #[serde(borrow)]
    pub verifier_key: Cow<'a, str>,
    #[serde(borrow)]
    pub checkpoint: Cow<'a, str>,
    #[serde(borrow)]
    pub entries: Vec<RawEntry<'a>>,
}

/// One element of `entries`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawEntry<'a> {
    pub seq: u64,
    #[serde(borrow)]
    pub entry: Cow<'a, str>,
    #[serde(borrow)]
    pub leaf_hash: Cow<'a, str>,
    /// Hex has nothing to escape, so the hashes are borrowed from the input.
    #[serde(borrow)]
    pub proof: Vec<&'a str>,
    #[serde(default, borrow)]
    pub payloads: Option<RawPayloads<'a>>,
}

/// The `payloads` object of a decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPayloads<'a> {
    #[serde(borrow)]
    pub input: RawSlot<'a>,
    #[serde(borrow)]
    pub output: RawSlot<'a>,
}

/// One payload slot: `salt` and `text`, or `erased_by`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlot<'a> {
    #[serde(default, borrow)]
    pub salt: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub text: Option<Cow<'a, str>>,
    #[serde(default)]
    pub erased_by: Option<u64>,
}

/// Parses the document. `Ok(None)`: it is malformed, and the findings say where.
pub(super) fn parse<'a>(
    text: &'a [u8],
    report: &mut BundleReport,
) -> Result<Option<RawBundle<'a>>, CannotCheck> {
    match serde_json::from_slice::<RawBundle<'a>>(text) {
        Ok(raw) => {
            check_head(&raw.format, raw.version, report)?;
            Ok(report.valid().then_some(raw))
        }
        Err(typed) => {
            locate(text, &typed, report)?;
            Ok(None)
        }
    }
}

fn check_head(format: &str, version: u64, report: &mut BundleReport) -> Result<(), CannotCheck> {
    if format != FORMAT {
        report.find(
            Location::Document,
            format!("`format` is {format:?}, not {FORMAT:?}: this is not a Cairn evidence bundle"),
        );
    } else if version != VERSION {
        return Err(CannotCheck::UnsupportedVersion { found: version });
    }
    Ok(())
}

/// Says where a document that failed the typed pass is malformed.
fn locate(
    text: &[u8],
    typed: &serde_json::Error,
    report: &mut BundleReport,
) -> Result<(), CannotCheck> {
    let doc: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            report.find(Location::Document, format!("not valid JSON: {e}"));
            return Ok(());
        }
    };
    let Some(top) = doc.as_object() else {
        report.find(Location::Document, "not a JSON object");
        return Ok(());
    };
    let format = top.get("format").and_then(Value::as_str).unwrap_or("");
    if let Some(version) = top.get("version").and_then(Value::as_u64) {
        check_head(format, version, report)?;
        if !report.valid() {
            return Ok(());
        }
    }
    let before = report.findings_total;
    if let Some(entries) = top.get("entries").and_then(Value::as_array) {
        for (index, e) in entries.iter().enumerate() {
            if let Err(err) = RawEntry::deserialize(e) {
                let seq = e.get("seq").and_then(Value::as_u64);
                report.find(Location::Entry { index, seq }, field_error(&err));
            }
        }
    }
    if report.findings_total == before {
        report.find(Location::Document, field_error(typed));
    }
    Ok(())
}

/// serde's message without the position, which means little in a one-line object.
fn field_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(at) if e.line() > 0 => msg[..at].to_owned(),
        _ => msg,
    }
}
