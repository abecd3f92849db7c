//! Lower-case hex, the only spelling a bundle allows, encoded and decoded with
//! lookup tables: entries and proofs are most of a bundle's bytes.

const DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Value of each byte as a lower-case hex digit; 0xff for anything else.
const VALUES: [u8; 256] = {
    let mut t = [0xffu8; 256];
    let mut i = 0;
    while i < 16 {
        t[DIGITS[i] as usize] = i as u8;
        i += 1;
    }
    t
};

/// Appends the lower-case hex of `bytes` to `out`.
pub(super) fn encode_into(bytes: &[u8], out: &mut String) {
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
}

/// The lower-case hex of `bytes`.
pub(super) fn encode(bytes: &[u8]) -> String {
    let mut s = String::new();
    encode_into(bytes, &mut s);
    s
}

/// Decodes lower-case hex into `out`, which must be exactly half as long.
pub(super) fn decode_into(text: &str, out: &mut [u8]) -> Result<(), String> {
    let t = text.as_bytes();
    if t.len() != out.len() * 2 {
        return Err(format!(
            "{} hex digits where {} are expected",
            t.len(),
            out.len() * 2
        ));
    }
    for (i, (o, pair)) in out.iter_mut().zip(t.chunks_exact(2)).enumerate() {
        let (hi, lo) = (VALUES[usize::from(pair[0])], VALUES[usize::from(pair[1])]);
        if hi == 0xff || lo == 0xff {
            let at = if hi == 0xff { 2 * i } else { 2 * i + 1 };
            let c = text[at..].chars().next().unwrap_or('?');
            return Err(format!(
                "{c:?} at position {at} is not a lower-case hex digit"
            ));
        }
        *o = (hi << 4) | lo;
    }
    Ok(())
}

/// Decodes lower-case hex of any even length.
pub(super) fn decode(text: &str) -> Result<Vec<u8>, String> {
    if !text.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits ({})", text.len()));
    }
    let mut out = vec![0u8; text.len() / 2];
    decode_into(text, &mut out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn round_trips_and_refuses_other_spellings() {
        let bytes: Vec<u8> = (0..=255).collect();
        let text = encode(&bytes);
        assert_eq!(text, hex::encode(&bytes));
        assert_eq!(decode(&text).unwrap(), bytes);
        assert!(decode("AB").unwrap_err().contains("'A' at position 0"));
        assert!(decode("0g").unwrap_err().contains("'g' at position 1"));
        assert!(decode("abc").is_err());
        assert!(decode("é0").is_err());
    }
}
