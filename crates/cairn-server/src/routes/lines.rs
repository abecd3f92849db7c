//! Parsing an append body into decisions: one JSON decision, or NDJSON lines
//! (blank lines skipped, every bad line reported with its number), cut at line
//! ends into pieces that parse on several cores when the body is large.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use cairn_core::decision::DecisionInput;

use super::append::{spawn_holding, Framing, Numbered};
use crate::admission::Reservation;
use crate::config::Limits;
use crate::error::{ApiError, ErrorCode, LineError};

/// Most per-line errors listed in one answer.
pub(super) const LINE_ERRORS_SHOWN: usize = 100;
/// A batch body is parsed and prepared in pieces of at least this size, one per
/// core, so that one large request does not wait on a single core.
const PIECE_BYTES_MIN: usize = 128 << 10;
/// Most pieces one body is cut into.
const PIECES_MAX: usize = 8;
/// Fewer bytes than the shortest valid decision line
/// (`{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1}`
/// is 70).
const DECISION_BYTES_MIN: usize = 64;

/// Most decisions `body` can hold: its lines, but no more than
/// `batch_len_max` of them nor more than its bytes could make.
pub(super) fn decisions_at_most(body: &[u8], limits: &Limits) -> usize {
    let ends = memchr::memchr_iter(b'\n', body).count();
    (ends + 1)
        .min(limits.batch_len_max)
        .min(body.len() / DECISION_BYTES_MIN + 1)
}

pub(super) fn parse(
    framing: Framing,
    body: &[u8],
    limits: &Limits,
) -> Result<Vec<Numbered>, ApiError> {
    match framing {
        Framing::Single => parse_single(body, limits),
        Framing::Batch => parse_batch(body, limits),
    }
}

pub(super) fn parse_single(body: &[u8], limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
    if body.len() > limits.line_bytes_max {
        return Err(ApiError::new(
            ErrorCode::DecisionTooLarge,
            format!(
                "the decision is {} bytes, over line_bytes_max ({} bytes)",
                body.len(),
                limits.line_bytes_max
            ),
        ));
    }
    let body = match std::str::from_utf8(body) {
        Ok(text) => text,
        Err(e) => {
            return Err(ApiError::new(
                ErrorCode::InvalidUtf8,
                format!(
                    "the body is not valid UTF-8 (first bad byte at offset {})",
                    e.valid_up_to()
                ),
            ))
        }
    };
    let decision = DecisionInput::parse_str(body)
        .map_err(|e| ApiError::new(ErrorCode::InvalidDecision, e.to_string()))?;
    Ok(vec![Numbered { line: 1, decision }])
}

/// One line's problem: its message and whether it is one of size.
struct LineProblem {
    too_large: bool,
    message: String,
}

fn parse_line(line: &[u8], limits: &Limits) -> Result<DecisionInput, LineProblem> {
    if line.len() > limits.line_bytes_max {
        return Err(LineProblem {
            too_large: true,
            message: format!(
                "the line is {} bytes, over line_bytes_max ({} bytes)",
                line.len(),
                limits.line_bytes_max
            ),
        });
    }
    let line = match std::str::from_utf8(line) {
        Ok(text) => text,
        Err(e) => {
            return Err(LineProblem {
                too_large: false,
                message: format!(
                    "not valid UTF-8 (first bad byte at column {})",
                    e.valid_up_to() + 1
                ),
            })
        }
    };
    DecisionInput::parse_str(line).map_err(|e| LineProblem {
        too_large: false,
        message: e.to_string(),
    })
}

/// What parsing some lines of a batch found.
struct Lines {
    good: Vec<Numbered>,
    bad: Vec<LineError>,
    /// Non-blank lines seen.
    count: usize,
    too_large: bool,
}

fn parse_batch(body: &[u8], limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
    finish_batch(vec![parse_lines(body, 1, limits)], limits)
}

/// Parse the lines of `body`, numbering them from `first_line`. Stops early once
/// there are more than `batch_len_max` (the whole batch is refused then).
fn parse_lines(body: &[u8], first_line: usize, limits: &Limits) -> Lines {
    // Sized once for every line (memchr counts a megabyte in microseconds):
    // growing a vector of decisions by doubling copies it several times over.
    // Never more than the body could hold decisions, so that a body of blank
    // lines cannot reserve memory it never uses.
    let mut lines = Lines {
        good: Vec::with_capacity(decisions_at_most(body, limits)),
        bad: Vec::new(),
        count: 0,
        too_large: false,
    };
    for (i, raw) in split_lines(body).enumerate() {
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        lines.count += 1;
        if lines.count > limits.batch_len_max {
            break;
        }
        match parse_line(line, limits) {
            Ok(decision) => lines.good.push(Numbered {
                line: first_line + i,
                decision,
            }),
            Err(p) => {
                lines.too_large |= p.too_large;
                lines.bad.push(LineError {
                    line: first_line + i,
                    error: p.message,
                });
            }
        }
    }
    lines
}

/// The lines of `body`, split at `\n` as `[u8]::split` would (a final empty
/// line when it ends with one), finding each end with memchr.
fn split_lines(body: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let text = rest?;
        match memchr::memchr(b'\n', text) {
            Some(at) => {
                rest = Some(&text[at + 1..]);
                Some(&text[..at])
            }
            None => {
                rest = None;
                Some(text)
            }
        }
    })
}

/// Put the parsed pieces of a batch together, in order, and judge the whole.
fn finish_batch(pieces: Vec<Lines>, limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
    let count: usize = pieces.iter().map(|p| p.count).sum();
    if count > limits.batch_len_max {
        return Err(ApiError::new(
            ErrorCode::BatchTooLong,
            format!(
                "the batch has more than batch_len_max ({}) decisions: split it",
                limits.batch_len_max
            ),
        ));
    }
    if count == 0 {
        return Err(ApiError::new(
            ErrorCode::EmptyBatch,
            "the batch holds no decision: send one JSON object per line",
        ));
    }
    let too_large = pieces.iter().any(|p| p.too_large);
    let mut good = Vec::with_capacity(count);
    let mut bad = Vec::new();
    for p in pieces {
        good.extend(p.good);
        bad.extend(p.bad);
    }
    if bad.is_empty() {
        return Ok(good);
    }
    let code = if too_large {
        ErrorCode::DecisionTooLarge
    } else {
        ErrorCode::InvalidBatch
    };
    Err(lines_rejected(code, bad, count))
}

/// How many pieces to parse and prepare a body in: one, unless it is a large
/// batch and there is more than one core to share it.
pub(super) fn pieces_for(len: usize, framing: Framing) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    if framing == Framing::Single || len < 2 * PIECE_BYTES_MIN {
        return 1;
    }
    let cores = *CORES.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(PIECES_MAX))
    });
    cores.min(len / PIECE_BYTES_MIN).max(1)
}

/// Cut `body` into about `n` pieces at line ends: (range, number of its first line).
fn line_pieces(body: &[u8], n: usize) -> Vec<(std::ops::Range<usize>, usize)> {
    let mut pieces = Vec::with_capacity(n);
    let (mut start, mut line) = (0, 1);
    for k in 1..=n {
        let target = body.len() * k / n;
        let end = if k == n || target <= start {
            body.len()
        } else {
            memchr::memchr(b'\n', &body[target..]).map_or(body.len(), |at| target + at + 1)
        };
        if end <= start {
            continue;
        }
        pieces.push((start..end, line));
        line += memchr::memchr_iter(b'\n', &body[start..end]).count();
        start = end;
    }
    pieces
}

/// Parse a large NDJSON batch on several blocking threads, one piece each.
pub(super) async fn parse_in_pieces(
    bytes: Bytes,
    n: usize,
    limits: Limits,
    held: &Arc<Reservation>,
) -> Result<Vec<Numbered>, ApiError> {
    let tasks: Vec<_> = line_pieces(&bytes, n)
        .into_iter()
        .map(|(range, first_line)| {
            let bytes = bytes.clone();
            spawn_holding(held, move || {
                parse_lines(&bytes[range], first_line, &limits)
            })
        })
        .collect();
    let mut pieces = Vec::with_capacity(tasks.len());
    for task in tasks {
        pieces.push(
            task.await
                .map_err(|e| ApiError::new(ErrorCode::Internal, format!("parsing failed: {e}")))?,
        );
    }
    finish_batch(pieces, &limits)
}

pub(super) fn lines_rejected(code: ErrorCode, mut bad: Vec<LineError>, count: usize) -> ApiError {
    let message = format!(
        "{} of {count} lines rejected (first: line {}: {}); nothing was stored",
        bad.len(),
        bad.first().map_or(0, |l| l.line),
        bad.first().map_or("", |l| l.error.as_str()),
    );
    bad.truncate(LINE_ERRORS_SHOWN);
    ApiError::new(code, message).with_lines(bad)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const OK: &str = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":2}"#;

    fn limits() -> Limits {
        Limits {
            line_bytes_max: 200,
            batch_len_max: 3,
            ..Limits::default()
        }
    }

    fn in_pieces(body: &[u8], n: usize, limits: &Limits) -> Result<Vec<Numbered>, ApiError> {
        let pieces = line_pieces(body, n)
            .into_iter()
            .map(|(range, first)| parse_lines(&body[range], first, limits))
            .collect();
        finish_batch(pieces, limits)
    }

    #[test]
    fn pieces_cover_the_body_at_line_ends_and_number_lines_like_one_piece() {
        let limits = Limits {
            batch_len_max: 1000,
            ..Limits::default()
        };
        let mut body = String::new();
        for i in 0..300 {
            match i % 7 {
                0 => body.push_str("\r\n"),
                3 => body.push_str("{\"stream\":1}\n"),
                _ => body.push_str(&format!(
                    "{}\n",
                    OK.replace("\"input\":1", &format!("\"input\":{i}"))
                )),
            }
        }
        body.push_str(OK);
        for n in 1..=8 {
            let pieces = line_pieces(body.as_bytes(), n);
            assert_eq!(pieces.first().map(|p| p.0.start), Some(0));
            assert_eq!(pieces.last().map(|p| p.0.end), Some(body.len()));
            for w in pieces.windows(2) {
                assert_eq!(w[0].0.end, w[1].0.start, "no gap, no overlap");
                assert_eq!(
                    body.as_bytes()[w[0].0.end - 1],
                    b'\n',
                    "cut after a line end"
                );
            }
            let one = parse_batch(body.as_bytes(), &limits).unwrap_err();
            let many = in_pieces(body.as_bytes(), n, &limits).unwrap_err();
            assert_eq!(many.message(), one.message(), "{n} pieces");
            assert_eq!(format!("{many:?}"), format!("{one:?}"), "{n} pieces");
        }
        let good: String = body
            .lines()
            .filter(|l| !l.contains("\"stream\":1"))
            .map(|l| format!("{l}\n"))
            .collect();
        let one = parse_batch(good.as_bytes(), &limits).unwrap();
        for n in 1..=8 {
            let many = in_pieces(good.as_bytes(), n, &limits).unwrap();
            let lines = |v: &[Numbered]| v.iter().map(|x| x.line).collect::<Vec<_>>();
            assert_eq!(lines(&many), lines(&one), "{n} pieces");
        }
        let short = Limits {
            batch_len_max: 50,
            ..Limits::default()
        };
        let err = in_pieces(good.as_bytes(), 4, &short).unwrap_err();
        assert!(err.message().contains("batch_len_max"), "{}", err.message());
    }

    #[test]
    fn lines_split_like_the_standard_split() {
        let bodies: [&[u8]; 8] = [
            b"",
            b"\n",
            b"\n\n",
            b"a",
            b"a\n",
            b"a\nb",
            b"\na\r\n\nbc\n",
            b"{\"x\":1}\n{\"y\":2}",
        ];
        for body in bodies {
            let ours: Vec<&[u8]> = split_lines(body).collect();
            let std: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
            assert_eq!(ours, std, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn blank_lines_reserve_no_room_for_decisions() {
        let limits = Limits::default();
        let body = vec![b'\n'; 64 << 10];
        assert!(limits.batch_len_max > body.len() / DECISION_BYTES_MIN + 1);
        let lines = parse_lines(&body, 1, &limits);
        assert_eq!(lines.count, 0);
        assert!(lines.good.capacity() <= body.len() / DECISION_BYTES_MIN + 1);
        // The shortest decision is longer than the bound assumes.
        let shortest = r#"{"stream":"s","model":{"name":"m","version":"1"},"input":1,"output":1}"#;
        assert!(DecisionInput::parse_str(shortest).is_ok());
        assert!(shortest.len() > DECISION_BYTES_MIN);
        let body = format!("{shortest}\n").repeat(100);
        let lines = parse_lines(body.as_bytes(), 1, &limits);
        assert_eq!(lines.good.len(), 100);
    }

    #[test]
    fn batch_skips_blank_lines_and_numbers_lines_from_one() {
        let body = format!("\n{OK}\r\n  \n{OK}\n");
        let parsed = parse_batch(body.as_bytes(), &limits()).unwrap();
        let lines: Vec<_> = parsed.iter().map(|n| n.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn batch_reports_every_bad_line_and_size_wins_the_status() {
        let long = format!(r#"{{"stream":"{}"}}"#, "x".repeat(300));
        let body = format!("{OK}\n{{\"stream\":1}}\n{long}\n");
        let err = parse_batch(body.as_bytes(), &limits()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecisionTooLarge);
        assert!(
            err.message().starts_with("2 of 3 lines rejected"),
            "{}",
            err.message()
        );
        let body = format!("{OK}\n{{\"stream\":1}}\n");
        let err = parse_batch(body.as_bytes(), &limits()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidBatch);
    }

    #[test]
    fn batch_length_and_emptiness_are_checked() {
        let body = format!("{OK}\n{OK}\n{OK}\n{OK}\n");
        let err = parse_batch(body.as_bytes(), &limits()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::BatchTooLong);
        let err = parse_batch(b"\n \n", &limits()).unwrap_err();
        assert_eq!(err.code(), ErrorCode::EmptyBatch);
    }
}
