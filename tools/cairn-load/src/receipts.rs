//! Receipts: read from the daemon's answers, written to and read from a
//! receipts file (one `{"seq","leaf_hash","duplicate"}` object per line, the
//! daemon's own receipt format).

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// One acknowledged decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Receipt {
    /// The entry's seq.
    pub seq: u64,
    /// The entry's leaf hash.
    pub leaf_hash: [u8; 32],
    /// Answered from the idempotency index rather than appended.
    pub duplicate: bool,
}

#[derive(Serialize, Deserialize)]
struct ReceiptJson {
    seq: u64,
    leaf_hash: String,
    #[serde(default)]
    duplicate: bool,
}

#[derive(Deserialize)]
struct Batch {
    receipts: Vec<ReceiptJson>,
}

impl TryFrom<ReceiptJson> for Receipt {
    type Error = anyhow::Error;

    fn try_from(r: ReceiptJson) -> Result<Receipt> {
        let mut leaf_hash = [0u8; 32];
        hex::decode_to_slice(&r.leaf_hash, &mut leaf_hash)
            .with_context(|| format!("leaf hash {:?} of seq {}", r.leaf_hash, r.seq))?;
        Ok(Receipt {
            seq: r.seq,
            leaf_hash,
            duplicate: r.duplicate,
        })
    }
}

/// The receipts in a `200` answer: one object for a single decision,
/// `{"receipts": [...]}` for a batch; `expected` of them.
pub fn from_answer(body: &[u8], batch: bool, expected: u32, out: &mut Vec<Receipt>) -> Result<()> {
    let parsed: Vec<ReceiptJson> = if batch {
        serde_json::from_slice::<Batch>(body)?.receipts
    } else {
        vec![serde_json::from_slice(body)?]
    };
    if parsed.len() != expected as usize {
        bail!("{} receipts for {expected} decisions", parsed.len());
    }
    for r in parsed {
        out.push(r.try_into()?);
    }
    Ok(())
}

/// Write `receipts` to `path`, one per line.
pub fn write(path: &Path, receipts: &[Receipt]) -> Result<()> {
    let file = File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(file);
    for r in receipts {
        let line = ReceiptJson {
            seq: r.seq,
            leaf_hash: hex::encode(r.leaf_hash),
            duplicate: r.duplicate,
        };
        serde_json::to_writer(&mut w, &line)?;
        w.write_all(b"\n")?;
    }
    w.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|f| f.sync_all())
        .with_context(|| format!("writing {}", path.display()))
}

/// Read every receipt in the files, in order.
pub fn read(paths: &[impl AsRef<Path>]) -> Result<Vec<Receipt>> {
    let mut out = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        for (i, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if line.trim().is_empty() {
                continue;
            }
            let r: ReceiptJson = serde_json::from_str(&line)
                .with_context(|| format!("{}:{}: not a receipt", path.display(), i + 1))?;
            out.push(
                r.try_into()
                    .with_context(|| format!("{}:{}", path.display(), i + 1))?,
            );
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn answers_are_read_and_files_round_trip() {
        let h = "cd".repeat(32);
        let mut got = Vec::new();
        let single = format!(r#"{{"seq":7,"leaf_hash":"{h}","duplicate":false}}"#);
        from_answer(single.as_bytes(), false, 1, &mut got).unwrap();
        let batch = format!(
            r#"{{"receipts":[{{"seq":8,"leaf_hash":"{h}","duplicate":false}},{{"seq":3,"leaf_hash":"{h}","duplicate":true}}]}}"#
        );
        from_answer(batch.as_bytes(), true, 2, &mut got).unwrap();
        assert!(from_answer(batch.as_bytes(), true, 3, &mut got).is_err());
        assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), [7, 8, 3]);
        assert!(got[2].duplicate);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.ndjson");
        write(&path, &got).unwrap();
        assert_eq!(read(&[&path]).unwrap(), got);
    }
}
