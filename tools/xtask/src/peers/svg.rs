//! `peers.svg`: a hand-written bar plot of durable ingest and ack latency per
//! system. Plain SVG 1.1, no scripts, no external fonts.

use std::fmt::Write;

use super::report::Report;

const WIDTH: f64 = 960.0;
const LABEL_W: f64 = 310.0;
const BAR_MAX_W: f64 = 480.0;
const ROW_H: f64 = 30.0;
const BAR_H: f64 = 20.0;
const PANEL_HEAD_H: f64 = 34.0;
const PANEL_GAP_H: f64 = 26.0;
const TITLE_H: f64 = 56.0;

/// Fill colour per system key.
fn colour(key: &str) -> &'static str {
    match key {
        "cairnd" => "#0b6e4f",
        "embedded" => "#35a47a",
        "postgres" => "#336791",
        _ => "#9a6700",
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The plot of `r`.
pub fn plot(r: &Report) -> String {
    let n = r.systems.len() as f64;
    let panel_h = PANEL_HEAD_H + n * ROW_H;
    let height = TITLE_H + 2.0 * panel_h + PANEL_GAP_H + 36.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" font-size="13">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="16" y="26" font-size="17" font-weight="bold">Cairn and its peers: {} decisions, batches of {}, every batch acknowledged after fsync</text>"#,
        r.workload.decisions, r.params.batch
    );
    let _ = writeln!(
        s,
        r#"<text x="16" y="46" fill="dimgray">{} · {} × {} · load average at start {:.2}</text>"#,
        escape(&r.date),
        r.machine.cpus,
        escape(&r.machine.cpu),
        r.load_average[0][0]
    );
    let ingest_max = r
        .systems
        .iter()
        .map(|x| x.ingest.decisions_per_s)
        .fold(1.0, f64::max);
    let mut y = TITLE_H;
    panel_head(
        &mut s,
        y,
        "Durable ingest, decisions per second (longer is better)",
    );
    for (i, sys) in r.systems.iter().enumerate() {
        let top = y + PANEL_HEAD_H + i as f64 * ROW_H;
        let writers = if sys.writers == 1 {
            "writer"
        } else {
            "writers"
        };
        row_label(
            &mut s,
            top,
            &format!("{} ({} {writers})", sys.name, sys.writers),
        );
        let w = BAR_MAX_W * sys.ingest.decisions_per_s / ingest_max;
        bar(&mut s, top, w, colour(sys.key), 1.0);
        value(
            &mut s,
            top,
            w,
            &format!("{:.0} /s", sys.ingest.decisions_per_s),
        );
    }
    y += panel_h + PANEL_GAP_H;
    let latency_max = r
        .systems
        .iter()
        .map(|x| x.ingest.ack_p99_ms)
        .fold(1e-3, f64::max);
    panel_head(
        &mut s,
        y,
        "Ack latency per batch, ms: p50 (dark) and p99 (light) (shorter is better)",
    );
    for (i, sys) in r.systems.iter().enumerate() {
        let top = y + PANEL_HEAD_H + i as f64 * ROW_H;
        row_label(&mut s, top, sys.name);
        let p99 = BAR_MAX_W * sys.ingest.ack_p99_ms / latency_max;
        let p50 = BAR_MAX_W * sys.ingest.ack_p50_ms / latency_max;
        bar(&mut s, top, p99, colour(sys.key), 0.35);
        bar(&mut s, top, p50, colour(sys.key), 1.0);
        value(
            &mut s,
            top,
            p99,
            &format!(
                "p50 {:.1} · p99 {:.1}",
                sys.ingest.ack_p50_ms, sys.ingest.ack_p99_ms
            ),
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.0}" fill="dimgray">Data: peers.json. Command: {}</text>"#,
        height - 14.0,
        escape(&r.command)
    );
    s.push_str("</svg>\n");
    s
}

fn panel_head(s: &mut String, y: f64, title: &str) {
    let _ = writeln!(
        s,
        r#"<text x="16" y="{:.0}" font-weight="bold">{}</text>"#,
        y + 20.0,
        escape(title)
    );
}

fn row_label(s: &mut String, top: f64, label: &str) {
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="{:.0}" text-anchor="end">{}</text>"#,
        LABEL_W - 10.0,
        top + BAR_H * 0.75,
        escape(label)
    );
}

fn bar(s: &mut String, top: f64, w: f64, fill: &str, opacity: f64) {
    let _ = writeln!(
        s,
        r#"<rect x="{LABEL_W:.0}" y="{top:.0}" width="{:.1}" height="{BAR_H:.0}" fill="{fill}" fill-opacity="{opacity}"/>"#,
        w.max(1.0)
    );
}

fn value(s: &mut String, top: f64, w: f64, text: &str) {
    let _ = writeln!(
        s,
        r#"<text x="{:.0}" y="{:.0}">{}</text>"#,
        LABEL_W + w.max(1.0) + 6.0,
        top + BAR_H * 0.75,
        escape(text)
    );
}
