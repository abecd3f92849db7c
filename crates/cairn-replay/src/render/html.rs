//! The report as one self-contained HTML page: inline CSS, inline JavaScript that
//! draws SVG charts (flip matrix, score histograms, per-path bars) and tables
//! (examples, errors), the report's JSON embedded. It loads nothing from the
//! network and opens offline.
//!
//! After drawing, the page sets `document.body.dataset.rendered = "ok"`; a
//! `window.onerror` handler records any script error in
//! `document.body.dataset.error`, so a headless browser can check the page.

use crate::report::Report;

/// The page for a report.
pub fn page(report: &Report) -> String {
    let json = String::from_utf8_lossy(&report.to_json_bytes()).into_owned();
    // `<`, `>` and `&` only occur inside JSON strings, where `\u003c` means the same:
    // the embedded JSON can then never close its <script> element.
    let safe = json
        .trim_end()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026");
    let title = format!("Cairn replay: {}", escape(&report.candidate.endpoint));
    TEMPLATE
        .replace("__TITLE__", &title)
        .replace("__REPORT_JSON__", &safe)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
:root { --fg: #1d2430; --muted: #647083; --line: #d9dee6; --bg: #f6f7f9; --rec: #4a78c2; --cand: #e08a2c; --bad: #c8443a; --noise: #a4acb8; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); }
header { padding: 18px 28px; background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 0 0 10px; }
.muted { color: var(--muted); }
main { padding: 20px 28px; display: grid; gap: 18px; grid-template-columns: repeat(auto-fit, minmax(440px, 1fr)); }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 14px 16px; overflow-x: auto; }
section.wide { grid-column: 1 / -1; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card b { display: block; font-size: 20px; }
.warn { color: var(--bad); font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
svg text { font: 11px system-ui, sans-serif; fill: var(--fg); }
.legend span { display: inline-block; margin-right: 14px; }
.sw { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle; }
</style>
</head>
<body>
<header>
<h1 id="title">Cairn replay</h1>
<div id="subtitle" class="muted"></div>
</header>
<main>
<section class="wide"><h2>Summary</h2><div id="cards" class="cards"></div><p id="notes" class="muted"></p></section>
<section><h2>Label flips <span class="muted" id="flip-path"></span></h2><div id="flips"></div></section>
<section><h2>Score distribution <span class="muted" id="score-path"></span></h2><div id="scores"></div></section>
<section class="wide"><h2>Differences by path</h2><div id="paths"></div></section>
<section><h2>Latency (ms)</h2><div id="latency"></div></section>
<section><h2>Errors and entries not replayable</h2><div id="problems"></div></section>
<section class="wide"><h2>Examples</h2><div id="examples"></div></section>
</main>
<script id="report" type="application/json">__REPORT_JSON__</script>
<script>
"use strict";
window.onerror = function (msg, src, line, col) {
  document.body.dataset.error = String(msg) + " at " + line + ":" + col;
};
const R = JSON.parse(document.getElementById("report").textContent);
const SVG = "http://www.w3.org/2000/svg";
function el(tag, attrs, text) {
  const e = document.createElement(tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function sv(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const k in attrs || {}) e.setAttribute(k, attrs[k]);
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function pct(x) { return x === null || x === undefined ? "n/a" : (x * 100).toFixed(1) + "%"; }
function fmt(x, d) { return x === null || x === undefined ? "n/a" : Number(x).toFixed(d); }
function show(v) {
  if (v === null || v === undefined) return "—";
  const t = typeof v === "string" ? JSON.stringify(v) : JSON.stringify(v);
  return t.length > 120 ? t.slice(0, 120) + "…" : t;
}
function table(head, rows, numeric) {
  const t = el("table");
  const tr = el("tr");
  head.forEach((h, i) => tr.appendChild(el("th", numeric && numeric[i] ? { class: "num" } : {}, h)));
  t.appendChild(el("thead")).appendChild(tr);
  const body = t.appendChild(el("tbody"));
  rows.forEach(r => {
    const row = el("tr");
    r.forEach((c, i) => {
      const td = el("td", numeric && numeric[i] ? { class: "num" } : {});
      if (c instanceof Node) td.appendChild(c); else td.textContent = c;
      row.appendChild(td);
    });
    body.appendChild(row);
  });
  return t;
}

function summary() {
  document.getElementById("title").textContent = "Replay against " + R.candidate.endpoint;
  const sub = [];
  if (R.candidate.model) sub.push("candidate model " + R.candidate.model);
  if (R.baseline) sub.push("baseline " + R.baseline.endpoint);
  sub.push("started " + R.started_at);
  document.getElementById("subtitle").textContent = sub.join(" · ");
  const cards = document.getElementById("cards");
  const items = [
    ["selected", R.selected], ["replayed", R.replayed],
    ["label agreement", pct(R.label.agreement_rate)], ["output agreement", pct(R.agreement_rate)],
    ["labels changed", R.label.changed + " / " + R.label.compared], ["differing entries", R.differing.length],
    ["errors", R.errors], ["not replayable", R.not_replayable.length], ["cancelled", R.cancelled],
  ];
  items.forEach(([k, v]) => {
    const c = el("div", { class: "card" });
    c.appendChild(el("b", {}, v));
    c.appendChild(el("span", { class: "muted" }, k));
    cards.appendChild(c);
  });
  const notes = [];
  const failed = (R.gates || []).filter(g => !g.passed);
  if (R.gates && R.gates.length) notes.push("Gates: " + (R.gates.length - failed.length) + " of " +
    R.gates.length + " passed" + (failed.length ? "; failed: " + failed.map(g => g.gate + " (measured " +
    (g.value === null ? "nothing" : g.value) + ")").join(", ") : "") + ".");
  if (R.interrupted) notes.push("Interrupted: only the entries answered before Ctrl-C are counted.");
  if (R.noise) notes.push("Noise rule: " + R.noise.rule.name + ", α = " + R.noise.rule.alpha +
    ", minimum effect " + pct(R.noise.rule.min_effect) + "; " + R.noise.paired + " entries answered by both.");
  const n = document.getElementById("notes");
  n.textContent = notes.join(" ");
  if (R.interrupted || failed.length) n.className = "warn";
}

function flipMatrix() {
  document.getElementById("flip-path").textContent = R.label.path;
  const host = document.getElementById("flips");
  const rows = Object.keys(R.flips).sort();
  const colSet = new Set();
  rows.forEach(r => Object.keys(R.flips[r]).forEach(c => colSet.add(c)));
  const cols = Array.from(colSet).sort();
  if (rows.length === 0) { host.appendChild(el("p", { class: "muted" }, "No labels compared.")); return; }
  const cell = Math.max(30, Math.min(64, Math.floor(640 / cols.length))), left = 120, top = 70;
  const w = left + cols.length * cell + 10, h = top + rows.length * cell + 10;
  const svg = sv("svg", { width: w, height: h, role: "img", "aria-label": "flip matrix" });
  let max = 1;
  rows.forEach(r => cols.forEach(c => { max = Math.max(max, R.flips[r][c] || 0); }));
  svg.appendChild(sv("text", { x: left, y: 14 }, "candidate →"));
  svg.appendChild(sv("text", { x: 4, y: top - 6 }, "recorded ↓"));
  cols.forEach((c, j) => svg.appendChild(sv("text", {
    x: left + j * cell + cell / 2, y: top - 8, "text-anchor": "start",
    transform: "rotate(-35 " + (left + j * cell + cell / 2) + " " + (top - 8) + ")" }, c.length > 14 ? c.slice(0, 14) + "…" : c)));
  rows.forEach((r, i) => {
    svg.appendChild(sv("text", { x: left - 6, y: top + i * cell + cell / 2 + 4, "text-anchor": "end" },
      r.length > 16 ? r.slice(0, 16) + "…" : r));
    cols.forEach((c, j) => {
      const v = R.flips[r][c] || 0;
      const a = v === 0 ? 0.04 : 0.15 + 0.85 * Math.log(1 + v) / Math.log(1 + max);
      const color = r === c ? "74,120,194" : "200,68,58";
      const g = sv("g");
      g.appendChild(sv("rect", { x: left + j * cell + 1, y: top + i * cell + 1, width: cell - 2, height: cell - 2,
        fill: "rgba(" + color + "," + a.toFixed(3) + ")" }));
      g.appendChild(sv("text", { x: left + j * cell + cell / 2, y: top + i * cell + cell / 2 + 4,
        "text-anchor": "middle", "font-weight": r === c ? "400" : "700" }, v));
      g.appendChild(sv("title", {}, r + " → " + c + ": " + v));
      svg.appendChild(g);
    });
  });
  host.appendChild(svg);
}

function scoreHistogram() {
  const host = document.getElementById("scores");
  const s = R.score;
  if (!s || !s.histogram) { host.appendChild(el("p", { class: "muted" }, "No scores compared.")); return; }
  document.getElementById("score-path").textContent = s.path;
  const hgm = s.histogram, bins = hgm.recorded.length;
  const w = 460, h = 220, pad = 30, bw = (w - 2 * pad) / bins;
  let max = 1;
  for (let i = 0; i < bins; i++) max = Math.max(max, hgm.recorded[i], hgm.candidate[i]);
  const svg = sv("svg", { width: w, height: h + 30, role: "img", "aria-label": "score histograms" });
  for (let i = 0; i < bins; i++) {
    const pairs = [[hgm.recorded[i], "var(--rec)", 0], [hgm.candidate[i], "var(--cand)", bw / 2]];
    pairs.forEach(([v, color, dx]) => {
      const bh = (h - pad) * v / max;
      const r = sv("rect", { x: pad + i * bw + dx, y: h - bh, width: Math.max(bw / 2 - 1, 1), height: bh, fill: color });
      r.appendChild(sv("title", {}, fmt(hgm.edges[i], 3) + "–" + fmt(hgm.edges[i + 1], 3) + ": " + v));
      svg.appendChild(r);
    });
  }
  svg.appendChild(sv("line", { x1: pad, y1: h, x2: w - pad, y2: h, stroke: "#888" }));
  svg.appendChild(sv("text", { x: pad, y: h + 14 }, fmt(hgm.edges[0], 3)));
  svg.appendChild(sv("text", { x: w - pad, y: h + 14, "text-anchor": "end" }, fmt(hgm.edges[bins], 3)));
  svg.appendChild(sv("text", { x: pad, y: 12 }, "max " + max + " per bin"));
  host.appendChild(svg);
  const legend = el("div", { class: "legend" });
  [["recorded", "var(--rec)"], ["candidate", "var(--cand)"]].forEach(([k, c]) => {
    const s2 = el("span"); const sw = el("span", { class: "sw" }); sw.style.background = c;
    s2.appendChild(sw); s2.appendChild(document.createTextNode(k)); legend.appendChild(s2);
  });
  host.appendChild(legend);
  const ks = s.ks ? "KS D = " + fmt(s.ks.d, 4) + " (p = " + fmt(s.ks.p_value, 3) + ")" : "";
  host.appendChild(el("p", {}, s.compared + " compared, " + s.changed + " changed; mean " + fmt(s.mean_recorded, 4) +
    " → " + fmt(s.mean_candidate, 4) + " (mean Δ " + fmt(s.mean_delta, 4) + "); " + ks));
}

function pathBars() {
  const host = document.getElementById("paths");
  const paths = R.paths.slice(0, 30);
  if (paths.length === 0) { host.appendChild(el("p", { class: "muted" }, "No path differs.")); return; }
  const left = 260, w = 900, row = 22, barW = w - left - 180;
  const svg = sv("svg", { width: w, height: paths.length * row + 10, role: "img", "aria-label": "differences by path" });
  let max = 1;
  paths.forEach(p => { max = Math.max(max, p.candidate, p.paired_baseline || 0); });
  paths.forEach((p, i) => {
    const y = i * row + 4;
    const name = p.path.length > 40 ? p.path.slice(0, 40) + "…" : p.path;
    svg.appendChild(sv("text", { x: left - 8, y: y + 13, "text-anchor": "end" }, name));
    const color = p.verdict === "noise" ? "var(--noise)" : "var(--cand)";
    const bar = sv("rect", { x: left, y: y + 2, width: Math.max(1, barW * p.candidate / max), height: 8, fill: color });
    bar.appendChild(sv("title", {}, p.path + ": candidate differs on " + p.candidate));
    svg.appendChild(bar);
    if (p.paired_baseline !== null && p.paired_baseline !== undefined) {
      const b = sv("rect", { x: left, y: y + 11, width: Math.max(p.paired_baseline ? 1 : 0, barW * p.paired_baseline / max),
        height: 6, fill: "var(--rec)" });
      b.appendChild(sv("title", {}, p.path + ": baseline differs on " + p.paired_baseline));
      svg.appendChild(b);
    }
    const label = p.candidate + " (" + pct(p.candidate_rate) + ")" + (p.verdict === "noise" ? " noise" : "");
    svg.appendChild(sv("text", { x: left + barW + 8, y: y + 13 }, label));
  });
  host.appendChild(svg);
  const legend = el("div", { class: "legend" });
  const keys = [["candidate differs (real)", "var(--cand)"], ["candidate differs (noise)", "var(--noise)"]];
  if (R.baseline) keys.push(["baseline differs", "var(--rec)"]);
  keys.forEach(([k, c]) => {
    const s2 = el("span"); const sw = el("span", { class: "sw" }); sw.style.background = c;
    s2.appendChild(sw); s2.appendChild(document.createTextNode(k)); legend.appendChild(s2);
  });
  host.appendChild(legend);
  if (R.paths.length > paths.length) host.appendChild(el("p", { class: "muted" }, (R.paths.length - paths.length) + " more paths in the JSON."));
}

function latency() {
  const L = R.latency_ms, rows = [];
  [["recorded (model)", L.recorded], ["candidate (round trip)", L.candidate], ["baseline (round trip)", L.baseline]]
    .forEach(([k, q]) => { if (q) rows.push([k, q.count, fmt(q.p50, 2), fmt(q.p99, 2)]); });
  document.getElementById("latency").appendChild(table(["", "n", "p50", "p99"], rows, [false, true, true, true]));
}

function problems() {
  const host = document.getElementById("problems");
  if (R.error_details.length === 0 && R.not_replayable.length === 0) {
    host.appendChild(el("p", { class: "muted" }, "None.")); return;
  }
  const rows = R.error_details.slice(0, 200).map(e => [e.seq, e.kind, e.message, e.attempts]);
  R.not_replayable.slice(0, 200).forEach(n => rows.push([n.seq, "not replayable", n.reason, 0]));
  host.appendChild(table(["seq", "kind", "why", "attempts"], rows, [true, false, false, true]));
}

function examples() {
  const host = document.getElementById("examples");
  if (R.examples.length === 0) { host.appendChild(el("p", { class: "muted" }, "No differing entries.")); return; }
  const rows = R.examples.map(e => {
    const diffs = el("div");
    e.differences.slice(0, 8).forEach(d => {
      diffs.appendChild(el("div", {}, ""))
        .appendChild(el("code", {}, d.path + "  " + d.kind + "  " + show(d.recorded) + " → " + show(d.candidate)));
    });
    if (e.differences.length > 8) diffs.appendChild(el("div", { class: "muted" }, (e.differences.length - 8) + " more"));
    return [e.seq, e.session || "", e.label ? e.label.recorded + " → " + e.label.candidate : "",
      e.score ? fmt(e.score.recorded, 4) + " → " + fmt(e.score.candidate, 4) : "", diffs];
  });
  host.appendChild(table(["seq", "session", "label", "score", "differences"], rows, [true, false, false, false, false]));
  host.appendChild(el("p", { class: "muted" }, R.examples.length + " of " + R.differing.length + " differing entries shown."));
}

summary();
flipMatrix();
scoreHistogram();
pathBars();
latency();
problems();
examples();
if (!document.body.dataset.error) document.body.dataset.rendered = "ok";
</script>
</body>
</html>
"##;

#[cfg(test)]
mod tests {
    #[test]
    fn the_page_is_self_contained() {
        let t = super::TEMPLATE;
        for banned in ["http://", "https://", "src=", "href="] {
            let hits: Vec<_> = t
                .match_indices(banned)
                .map(|(i, _)| &t[i..(i + 40).min(t.len())])
                .collect();
            // The SVG namespace URI is a name, not a fetch.
            assert!(
                hits.iter()
                    .all(|h| h.starts_with("http://www.w3.org/2000/svg")),
                "{banned}: {hits:?}"
            );
        }
        assert!(t.contains("document.body.dataset.rendered = \"ok\""));
        assert!(t.contains("window.onerror"));
    }

    #[test]
    fn embedded_json_cannot_close_its_script() {
        let evil = "</script><script>alert(1)</script>&";
        let escaped = evil
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
        let back: String = serde_json::from_str(&format!("\"{escaped}\"")).expect("still JSON");
        assert_eq!(back, evil);
        assert_eq!(super::escape("<a&\""), "&lt;a&amp;&quot;");
    }
}
