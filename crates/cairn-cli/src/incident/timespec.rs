//! Times and durations as users type them: RFC 3339, `now`, or relative to now
//! (`-2h`, `-30m`, `-7d`); durations like `5m`, `90s`, `2h`, `1d`, `500ms`.

use anyhow::{bail, Context, Result};
use cairn_core::decision::parse_time_us;

/// A time: RFC 3339, `now`, or `-DURATION` before `now_us`. Microseconds since the epoch.
pub fn parse_time(text: &str, now_us: i64) -> Result<i64> {
    let text = text.trim();
    if text == "now" {
        return Ok(now_us);
    }
    if let Some(ago) = text.strip_prefix('-') {
        let d = parse_duration_us(ago)
            .with_context(|| format!("{text:?} is neither RFC 3339 nor relative like -2h"))?;
        return Ok(now_us.saturating_sub(d));
    }
    parse_time_us(text).map_err(|e| {
        anyhow::anyhow!(
            "{e}; use RFC 3339 (2026-11-20T10:00:00Z) or relative to now (-2h, -30m, -7d)"
        )
    })
}

/// A duration in microseconds: a whole number and a unit (`us`, `ms`, `s`, `m`, `h`, `d`, `w`).
pub fn parse_duration_us(text: &str) -> Result<i64> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    if digits.is_empty() {
        bail!("duration {text:?} does not start with a number (e.g. 5m, 2h, 7d)");
    }
    let n: i64 = digits
        .parse()
        .with_context(|| format!("duration {text:?} is too large"))?;
    let unit_us: i64 = match unit {
        "us" => 1,
        "ms" => 1_000,
        "s" => 1_000_000,
        "m" => 60_000_000,
        "h" => 3_600_000_000,
        "d" => 86_400_000_000,
        "w" => 604_800_000_000,
        other => bail!("unknown unit {other:?} in duration {text:?}: use us, ms, s, m, h, d or w"),
    };
    n.checked_mul(unit_us)
        .with_context(|| format!("duration {text:?} is too large"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn relative_absolute_and_durations() {
        let now = 1_000_000_000_000;
        assert_eq!(parse_time("-2h", now).unwrap(), now - 7_200_000_000);
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("1970-01-01T00:00:01Z", now).unwrap(), 1_000_000);
        assert_eq!(parse_duration_us("5m").unwrap(), 300_000_000);
        assert_eq!(parse_duration_us("500ms").unwrap(), 500_000);
        assert!(parse_time("-2x", now).is_err());
        assert!(parse_time("yesterday", now).is_err());
        assert!(parse_duration_us("m").is_err());
    }
}
