//! Shared output helpers: receipts, hex, time, progress bars.

use std::time::{SystemTime, UNIX_EPOCH};

use cairn_store::Receipt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A receipt as one JSON line: `{"seq":N,"leaf_hash":"hex"}`.
pub fn receipt_json(r: &Receipt) -> String {
    let mut v = serde_json::json!({"seq": r.seq, "leaf_hash": hex::encode(r.leaf_hash)});
    if r.duplicate {
        v["duplicate"] = serde_json::Value::Bool(true);
    }
    v.to_string()
}

/// Now, in microseconds since the Unix epoch.
pub fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A progress bar on standard error, drawn only when it is a terminal.
pub fn progress(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg} {bar:40} {human_pos}/{human_len} ({per_sec}, eta {eta})",
    ) {
        bar.set_style(style);
    }
    bar.set_message(what.to_owned());
    bar
}

/// `println!` that returns an error instead of panicking when stdout is closed
/// (`cairn get | head`), so that `main` can end quietly on a broken pipe
/// (exit 141, as a process stopped by SIGPIPE).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)?;
    }};
}

/// `print!` with the same error handling as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($arg)*)?;
    }};
}
