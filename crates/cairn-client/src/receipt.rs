//! Receipts, and the daemon's answers to `POST /v1/decisions` read into them.
//!
//! Pure functions over the answer's bytes, so they are tested without a
//! daemon.

use serde::Deserialize;

/// Proof that a decision is durable in the ledger: its sequence number and the
/// leaf hash of its entry. `cairn verify` and the daemon's inclusion proofs
/// check against the same two values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Receipt {
    /// The entry's sequence number.
    pub seq: u64,
    /// The entry's leaf hash, `blake3(0x00 ‖ entry bytes)`.
    pub leaf_hash: [u8; 32],
    /// True when the daemon already held a decision with this idempotency key
    /// on this stream (an earlier attempt was stored) and answered with its
    /// receipt instead of appending again.
    pub duplicate: bool,
}

impl Receipt {
    /// The leaf hash in lower-case hex, as the daemon and `cairn` print it.
    pub fn leaf_hash_hex(&self) -> String {
        hex::encode(self.leaf_hash)
    }
}

#[derive(Deserialize)]
struct ReceiptJson {
    seq: u64,
    leaf_hash: String,
    #[serde(default)]
    duplicate: bool,
}

#[derive(Deserialize)]
struct ReceiptsJson {
    receipts: Vec<ReceiptJson>,
}

/// The receipts of a `200` answer to an NDJSON batch of `expected` decisions.
pub(crate) fn parse_receipts(body: &[u8], expected: usize) -> Result<Vec<Receipt>, String> {
    let parsed: ReceiptsJson = serde_json::from_slice(body)
        .map_err(|e| format!("a 200 answer that is not a list of receipts ({e})"))?;
    if parsed.receipts.len() != expected {
        return Err(format!(
            "{} receipts for {expected} decisions",
            parsed.receipts.len()
        ));
    }
    parsed
        .receipts
        .into_iter()
        .map(|r| {
            let mut leaf_hash = [0u8; 32];
            hex::decode_to_slice(&r.leaf_hash, &mut leaf_hash)
                .map_err(|e| format!("leaf hash {:?} of seq {}: {e}", r.leaf_hash, r.seq))?;
            Ok(Receipt {
                seq: r.seq,
                leaf_hash,
                duplicate: r.duplicate,
            })
        })
        .collect()
}

/// One line's error in a `400`, `403` or `413` answer (lines count from 1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct LineError {
    pub line: usize,
    pub error: String,
}

/// The daemon's error answer: `{"error", "code", "lines"}`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub(crate) struct ErrorBody {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub lines: Vec<LineError>,
}

impl ErrorBody {
    /// The error answer in `body`; a body that is not one (a proxy's page, say)
    /// becomes its text as the message.
    pub(crate) fn parse(body: &[u8]) -> ErrorBody {
        serde_json::from_slice(body).unwrap_or_else(|_| ErrorBody {
            error: String::from_utf8_lossy(body).chars().take(500).collect(),
            code: String::new(),
            lines: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn receipts_are_read_in_order_and_counted() {
        let h = "ab".repeat(32);
        let body = format!(
            r#"{{"receipts":[{{"seq":4,"leaf_hash":"{h}","duplicate":false}},{{"seq":2,"leaf_hash":"{h}","duplicate":true}}]}}"#
        );
        let r = parse_receipts(body.as_bytes(), 2).unwrap();
        assert_eq!(r[0].seq, 4);
        assert_eq!(r[1].seq, 2);
        assert!(r[1].duplicate);
        assert_eq!(r[0].leaf_hash_hex(), h);
        let err = parse_receipts(body.as_bytes(), 3).unwrap_err();
        assert_eq!(err, "2 receipts for 3 decisions");
        assert!(parse_receipts(b"{\"receipts\":[{\"seq\":1,\"leaf_hash\":\"zz\"}]}", 1).is_err());
    }

    #[test]
    fn error_bodies_are_read_or_kept_as_text() {
        let e = ErrorBody::parse(
            br#"{"error":"1 of 2 lines rejected","code":"invalid_batch","lines":[{"line":2,"error":"missing field `model`"}]}"#,
        );
        assert_eq!(e.code, "invalid_batch");
        assert_eq!(
            e.lines,
            [LineError {
                line: 2,
                error: "missing field `model`".into()
            }]
        );
        let e = ErrorBody::parse(b"<html>bad gateway</html>");
        assert_eq!(e.error, "<html>bad gateway</html>");
        assert!(e.code.is_empty());
    }
}
