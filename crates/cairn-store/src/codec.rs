//! Compression of stored values: zstd, with dictionaries trained on the ledger's
//! own data. Hashes cover uncompressed bytes, so recompression never breaks them.
//!
//! A stored value is a 9-byte header then the frame:
//! `codec (u8) ‖ dict_id (u32 LE) ‖ raw_len (u32 LE) ‖ bytes`, where codec 0 is
//! stored as is, 1 is zstd without a dictionary, 2 is zstd with dictionary `dict_id`.

use std::cell::RefCell;
use std::collections::HashMap;

use zstd::zstd_safe::{CCtx, CDict, DCtx, DDict};

use crate::error::{Result, StoreError};

const HEADER_LEN: usize = 9;
const RAW: u8 = 0;
const ZSTD: u8 = 1;
const ZSTD_DICT: u8 = 2;
/// Largest value the codec will inflate (a damaged header must not allocate wildly).
pub const VALUE_BYTES_MAX: usize = 256 << 20;
/// zstd level: 3 is zstd's default, a good balance of speed and ratio here.
pub const LEVEL: i32 = 3;
/// Target size of a trained dictionary.
pub const DICT_BYTES: usize = 110 * 1024;

thread_local! {
    // zstd contexts are independent of the dictionary (it is passed per call), so
    // one per thread serves every codec without locking.
    static CCTX: RefCell<CCtx<'static>> = RefCell::new(CCtx::create());
    static DCTX: RefCell<DCtx<'static>> = RefCell::new(DCtx::create());
}

/// Compresses and decompresses values; holds the ledger's dictionaries.
pub struct Codec {
    current: Option<(u32, CDict<'static>)>,
    ddicts: HashMap<u32, DDict<'static>>,
}

impl std::fmt::Debug for Codec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Codec")
            .field("dict", &self.current.as_ref().map(|c| c.0))
            .finish()
    }
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new()
    }
}

impl Codec {
    /// A codec with no dictionary yet.
    pub fn new() -> Codec {
        Codec {
            current: None,
            ddicts: HashMap::new(),
        }
    }

    /// Learn a dictionary; the one with the highest id is used for new values.
    pub fn add_dictionary(&mut self, id: u32, dict: &[u8]) -> Result<()> {
        let ddict = DDict::try_create(dict)
            .ok_or_else(|| StoreError::corrupt(format!("dictionary {id}"), "zstd rejects it"))?;
        let cdict = CDict::try_create(dict, LEVEL)
            .ok_or_else(|| StoreError::corrupt(format!("dictionary {id}"), "zstd rejects it"))?;
        self.ddicts.insert(id, ddict);
        if self.current.as_ref().is_none_or(|(cur, _)| id > *cur) {
            self.current = Some((id, cdict));
        }
        Ok(())
    }

    /// The id of the dictionary used for new values, if any.
    pub fn current_dictionary(&self) -> Option<u32> {
        self.current.as_ref().map(|c| c.0)
    }

    /// Compress one value.
    pub fn compress(&self, raw: &[u8]) -> Vec<u8> {
        self.compress_at(raw, Some(LEVEL))
    }

    /// Compress one value with zstd at `level` (and the current dictionary, if
    /// any), or store it as it is when `level` is `None`.
    pub fn compress_at(&self, raw: &[u8], level: Option<i32>) -> Vec<u8> {
        let Some(level) = level else {
            let mut out = Vec::with_capacity(HEADER_LEN + raw.len());
            out.push(RAW);
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
            out.extend_from_slice(raw);
            return out;
        };
        let bound = zstd::zstd_safe::compress_bound(raw.len());
        let mut out = Vec::with_capacity(HEADER_LEN + bound);
        let (codec, dict_id) = match &self.current {
            Some((id, _)) => (ZSTD_DICT, *id),
            None => (ZSTD, 0),
        };
        out.push(codec);
        out.extend_from_slice(&dict_id.to_le_bytes());
        out.extend_from_slice(&(raw.len() as u32).to_le_bytes());
        // The frame is written straight after the header, into `out`.
        let res = CCTX.with_borrow_mut(|ctx| {
            let mut frame = std::io::Cursor::new(&mut out);
            frame.set_position(HEADER_LEN as u64);
            match &self.current {
                Some((_, cdict)) => ctx.compress_using_cdict(&mut frame, raw, cdict),
                None => ctx.compress(&mut frame, raw, level),
            }
        });
        match res {
            Ok(n) if n < raw.len() && out.len() == HEADER_LEN + n => {}
            // Incompressible (or a zstd failure): store as is, which always works.
            _ => {
                out.truncate(HEADER_LEN);
                out[0] = RAW;
                out[1..5].copy_from_slice(&0u32.to_le_bytes());
                out.extend_from_slice(raw);
            }
        }
        out
    }

    /// Decompress one value; `what` names it in errors.
    pub fn decompress(&self, stored: &[u8], what: &dyn Fn() -> String) -> Result<Vec<u8>> {
        if stored.len() < HEADER_LEN {
            return Err(StoreError::corrupt(
                what(),
                "stored value shorter than its header",
            ));
        }
        let codec = stored[0];
        let dict_id = u32::from_le_bytes([stored[1], stored[2], stored[3], stored[4]]);
        let raw_len = u32::from_le_bytes([stored[5], stored[6], stored[7], stored[8]]) as usize;
        let body = &stored[HEADER_LEN..];
        if raw_len > VALUE_BYTES_MAX {
            return Err(StoreError::corrupt(
                what(),
                format!("claims {raw_len} bytes"),
            ));
        }
        match codec {
            RAW if body.len() == raw_len => Ok(body.to_vec()),
            RAW => Err(StoreError::corrupt(what(), "stored length does not match")),
            ZSTD | ZSTD_DICT => self.inflate(codec, dict_id, raw_len, body, what),
            other => Err(StoreError::corrupt(
                what(),
                format!("unknown codec {other}"),
            )),
        }
    }

    fn inflate(
        &self,
        codec: u8,
        dict_id: u32,
        raw_len: usize,
        body: &[u8],
        what: &dyn Fn() -> String,
    ) -> Result<Vec<u8>> {
        let mut out = Vec::with_capacity(raw_len);
        let res = if codec == ZSTD_DICT {
            match self.ddicts.get(&dict_id) {
                Some(d) => {
                    DCTX.with_borrow_mut(|ctx| ctx.decompress_using_ddict(&mut out, body, d))
                }
                None => {
                    return Err(StoreError::corrupt(
                        what(),
                        format!("refers to unknown dictionary {dict_id}"),
                    ))
                }
            }
        } else {
            DCTX.with_borrow_mut(|ctx| ctx.decompress(&mut out, body))
        };
        match res {
            Ok(n) if n == raw_len => Ok(out),
            Ok(n) => Err(StoreError::corrupt(
                what(),
                format!("inflates to {n} bytes, header says {raw_len}"),
            )),
            Err(code) => Err(StoreError::corrupt(
                what(),
                format!("zstd: {}", zstd::zstd_safe::get_error_name(code)),
            )),
        }
    }
}

/// Train a dictionary from sample values.
pub fn train(samples: &[Vec<u8>]) -> Result<Vec<u8>> {
    zstd::dict::from_samples(samples, DICT_BYTES).map_err(|e| StoreError::Backend {
        kind: crate::error::EngineErrorKind::Other,
        op: "train dictionary",
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn samples() -> Vec<Vec<u8>> {
        (0..2000)
            .map(|i| {
                format!(r#"{{"amount":{i},"currency":"EUR","merchant":"shop-{}","country":"DE","features":[0.{i},0.5,0.25]}}"#, i % 17)
                    .into_bytes()
            })
            .collect()
    }

    #[test]
    fn round_trips_with_and_without_dictionary() {
        let mut c = Codec::new();
        let what = || "v".to_string();
        let s = samples();
        let plain = c.compress(&s[1]);
        assert_eq!(c.decompress(&plain, &what).unwrap(), s[1]);
        let dict = train(&s).unwrap();
        c.add_dictionary(1, &dict).unwrap();
        let small = c.compress(&s[7]);
        assert!(
            small.len() < plain.len(),
            "dictionary should help small records"
        );
        assert_eq!(c.decompress(&small, &what).unwrap(), s[7]);
        // Old values stay readable after a dictionary arrives.
        assert_eq!(c.decompress(&plain, &what).unwrap(), s[1]);
    }

    #[test]
    fn a_value_is_its_header_then_one_zstd_frame() {
        let c = Codec::new();
        let raw = samples().concat();
        let v = c.compress(&raw);
        assert_eq!(v[0], ZSTD);
        assert_eq!(v[1..5], 0u32.to_le_bytes());
        assert_eq!(v[5..9], (raw.len() as u32).to_le_bytes());
        let frame = zstd::bulk::compress(&raw, LEVEL).unwrap();
        assert_eq!(v[HEADER_LEN..], frame[..]);
    }

    #[test]
    fn incompressible_values_are_stored_as_they_are() {
        let c = Codec::new();
        let what = || "v".to_string();
        // A xorshift stream: no repeats for zstd to find.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let raw: Vec<u8> = (0..4096)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        for len in [0, 1, 8, 100, 4096] {
            let v = c.compress(&raw[..len]);
            assert_eq!(v[0], RAW, "{len} bytes");
            assert_eq!(v[5..9], (len as u32).to_le_bytes());
            assert_eq!(v[HEADER_LEN..], raw[..len]);
            assert_eq!(c.decompress(&v, &what).unwrap(), raw[..len]);
        }
    }

    #[test]
    fn damaged_values_are_errors() {
        let c = Codec::new();
        let what = || "v".to_string();
        let mut v = c.compress(&[b'a'; 1000]);
        assert!(c.decompress(&v[..4], &what).is_err());
        let last = v.len() - 1;
        v[last] ^= 0xff;
        // zstd frames carry no checksum here (the ledger's hashes do that job), so a
        // flipped byte is either an error or different bytes, never the original.
        assert!(c
            .decompress(&v, &what)
            .map_or(true, |out| out != [b'a'; 1000]));
        v[0] = 9;
        assert!(c.decompress(&v, &what).is_err());
        let mut d = c.compress(&[b'a'; 1000]);
        d[0] = ZSTD_DICT;
        assert!(c.decompress(&d, &what).is_err());
    }
}
