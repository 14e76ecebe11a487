//! `report.html`: the findings as one self-contained page, every text escaped.

use std::fmt::Write as _;

use super::SHOWN_ROWS;
use super::findings::{Findings, clip, int, or_unknown, rows, text, verdict_of, verdict_word, what_changed};
use crate::correlate::Verdict;
use crate::hunt;
use crate::time::{duration_text, human_bytes};

/// A table cell of the report.
pub(super) enum Cell {
    Text(String),
    /// Right-aligned.
    Num(String),
    /// In a code font.
    Code(String),
}

/// One table row, its cells escaped; `attrs` go on the `<tr>`.
pub(super) fn html_row(attrs: &str, cells: impl IntoIterator<Item = Cell>) -> String {
    let mut row = format!("<tr{attrs}>");
    for cell in cells {
        match cell {
            Cell::Text(t) => row.push_str(&format!("<td>{}</td>", esc(&t))),
            Cell::Num(t) => row.push_str(&format!("<td class=\"num\">{}</td>", esc(&t))),
            Cell::Code(t) => row.push_str(&format!("<td><code>{}</code></td>", esc(&t))),
        }
    }
    row.push_str("</tr>\n");
    row
}

/// Text made safe for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;color:#1b1f24;padding:0 1rem}\
h1{font-size:1.6rem}h2{border-bottom:2px solid #d0d7de;padding-bottom:.3rem;margin-top:2.2rem}\
table{border-collapse:collapse;font-size:.82rem;margin:.6rem 0;display:block;overflow-x:auto;max-width:100%}th,td{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}.card{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.2rem;margin:1.2rem 0}\
.unusual{border-left:8px solid #cf222e}.risky{border-left:8px solid #bf8700}.verdict{font-weight:700}.unusual .verdict{color:#cf222e}.risky .verdict{color:#9a6700}\
dl{display:grid;grid-template-columns:11rem 1fr;gap:.2rem .8rem;margin:.6rem 0}dt{font-weight:600;color:#57606a}dd{margin:0;word-break:break-all}\
.sev-critical{color:#fff;background:#a40e26}.sev-high{color:#fff;background:#cf222e}.sev-medium{background:#fff8c5}.sev-low{background:#ddf4ff}.sev-info{background:#f6f8fa}\
.badge{display:inline-block;padding:0 .4rem;border-radius:4px;font-size:.78rem;font-weight:600}details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}\
code{font-size:.8rem}.muted{color:#57606a}svg{max-width:100%;height:auto}";

pub(super) fn report_html(f: &Findings) -> String {
    let Findings { ingest_summary, changes, flagged, results, notes, opts, case } = *f;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trailflow investigation</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>trailflow investigation</h1>");
    let _ = writeln!(
        h,
        "<p class=\"muted\">{}Evidence: {}. Lake: {}. Window after each change {}, baseline before it {}. Every number here comes from a CSV file in this folder.</p>",
        case.case.as_deref().map(|n| format!("Case {}. ", esc(n))).unwrap_or_default(),
        esc(&case.evidence.join(", ")),
        esc(&case.lake),
        duration_text(opts.window_us),
        duration_text(opts.baseline_us)
    );
    if !notes.is_empty() {
        let _ = writeln!(h, "<div class=\"card risky\"><b>Notes</b><ul>");
        for n in notes {
            let _ = writeln!(h, "<li>{}</li>", esc(n));
        }
        let _ = writeln!(h, "</ul></div>");
    }
    let unusual = flagged.iter().filter(|f| verdict_of(&f.change) == Some(Verdict::UnusualTrafficAfterChange)).count();
    let _ = writeln!(
        h,
        "<h2 id=\"flagged\">Flagged Network ACL changes</h2><p>{} of {} changes flagged: {} let in unusual traffic, {} are risky without unusual traffic seen. All changes: <a href=\"correlation.csv\">correlation.csv</a>.</p>",
        flagged.len(),
        changes.len(),
        unusual,
        flagged.len() - unusual
    );
    for (i, f) in flagged.iter().enumerate() {
        let c = &f.change;
        let class = if verdict_of(c) == Some(Verdict::UnusualTrafficAfterChange) { "unusual" } else { "risky" };
        let _ = writeln!(h, "<div class=\"card {class}\" id=\"change-{}\">", i + 1);
        let _ = writeln!(
            h,
            "<h3>{}. <span class=\"verdict\">{}</span> &mdash; {} at {}</h3>",
            i + 1,
            esc(verdict_word(&text(c, "verdict"))),
            esc(&text(c, "network_acl_id")),
            esc(&text(c, "event_time"))
        );
        let _ = writeln!(h, "<dl>");
        let mut dd = |k: &str, v: String| {
            let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), v);
        };
        dd("Who", format!("{} <span class=\"muted\">(account {}, {})</span>", esc(&text(c, "actor_arn")), esc(&text(c, "account_id")), esc(&text(c, "aws_region"))));
        dd("From where", format!("{} <span class=\"muted\">{}</span>", esc(&text(c, "source_ip")), esc(&text(c, "user_agent"))));
        dd("What the rule opened", format!("{} <span class=\"muted\">({})</span>", esc(&what_changed(c)), esc(&text(c, "event_name"))));
        dd("Risk", format!("score {} &mdash; {}", esc(&text(c, "score")), esc(&text(c, "risk_reasons"))));
        dd("Interfaces governed", esc(or_unknown(&text(c, "interface_list"))));
        if int(c, "matching_flows") > 0 {
            dd(
                "Newly allowed traffic",
                format!(
                    "{} flows, {} ({} bytes), {} distinct ports, from {} to {}",
                    esc(&text(c, "matching_flows")),
                    esc(&human_bytes(int(c, "bytes"))),
                    esc(&text(c, "bytes")),
                    esc(&text(c, "distinct_ports")),
                    esc(&text(c, "first_flow")),
                    esc(&text(c, "last_flow"))
                ),
            );
            dd("Unusual peers", esc(or_unknown(&text(c, "unusual_peers"))));
            dd("Rejected before, accepted after", esc(or_unknown(&text(c, "reject_to_accept_peers"))));
            dd("Top peers (bytes)", esc(&text(c, "top_peers")));
        } else {
            dd("Newly allowed traffic", "none seen in the window".to_string());
        }
        dd("Event", format!("<code>{}</code>", esc(&text(c, "event_id"))));
        let _ = writeln!(h, "</dl>");
        let _ = writeln!(
            h,
            "<figure>{}<figcaption class=\"muted\">Traffic on the governed interfaces per hour: accepted bytes (bars) and rejected flows (line); the red line is the change. <a href=\"{}\">SVG</a></figcaption></figure>",
            f.chart_svg,
            esc(&f.chart_file)
        );
        if f.traffic.is_empty() {
            let _ = writeln!(h, "<p class=\"muted\">No flow records on these interfaces around the change.</p>");
        }
        let _ = writeln!(
            h,
            "<details><summary>Timeline of {} from 6 h before to 6 h after ({} events, <a href=\"{}\">CSV</a>)</summary>",
            esc(&text(c, "actor_arn")),
            f.timeline.len(),
            esc(&f.timeline_file)
        );
        let _ = writeln!(h, "<table><tr><th>time</th><th>event</th><th>source</th><th>error</th><th>from</th><th>request</th></tr>");
        for e in &f.timeline {
            let req = clip(text(e, "request_parameters"), 160);
            let mark = if text(e, "event_id") == text(c, "event_id") { " style=\"background:#ffebe9\"" } else { "" };
            let cells = ["event_time", "event_name", "event_source", "error_code", "source_ip"].map(|k| Cell::Text(text(e, k)));
            h.push_str(&html_row(mark, cells.into_iter().chain([Cell::Code(req)])));
        }
        let _ = writeln!(h, "</table></details></div>");
    }
    let _ = writeln!(h, "<h2 id=\"changes\">All Network ACL changes</h2><table><tr><th>time</th><th>event</th><th>ACL</th><th>actor</th><th>verdict</th><th>score</th><th>bytes</th><th>reasons</th></tr>");
    for c in changes {
        let cells = ["event_time", "event_name", "network_acl_id", "actor_arn", "verdict"].map(|k| Cell::Text(text(c, k)));
        let more = [Cell::Num(text(c, "score")), Cell::Num(human_bytes(int(c, "bytes"))), Cell::Text(text(c, "risk_reasons"))];
        h.push_str(&html_row("", cells.into_iter().chain(more)));
    }
    let _ = writeln!(h, "</table>");
    let _ = writeln!(h, "<h2 id=\"hunts\">Hunts</h2><p>Hits per hunt, most severe first (<a href=\"hunts/summary.csv\">summary.csv</a>).</p>");
    let _ = writeln!(h, "<table><tr><th>severity</th><th>hunt</th><th class=\"num\">hits</th><th>title</th><th>ATT&amp;CK</th><th>file</th></tr>");
    let sorted = hunt::most_severe_first(results);
    for r in &sorted {
        let sev = r.severity.as_str();
        let hits = if r.error.is_some() { "failed".to_string() } else { r.hits.to_string() };
        let _ = writeln!(
            h,
            "<tr><td><span class=\"badge sev-{sev}\">{sev}</span></td><td><a href=\"#hunt-{0}\">{0}</a></td><td class=\"num\">{1}</td><td>{2}</td><td>{3} <span class=\"muted\">({4})</span></td><td>{5}</td></tr>",
            esc(&r.name),
            hits,
            esc(&r.title),
            esc(&r.attack.join(" ")),
            esc(&r.attack_v19.join(" ")),
            r.file.as_deref().map(|f| format!("<a href=\"hunts/{0}\">{0}</a>", esc(f))).unwrap_or_default()
        );
    }
    let _ = writeln!(h, "</table>");
    for r in sorted.iter().filter(|r| r.hits > 0) {
        let _ = writeln!(
            h,
            "<details id=\"hunt-{0}\"><summary><span class=\"badge sev-{1}\">{1}</span> {0}: {2} ({3} hits)</summary>",
            esc(&r.name),
            r.severity.as_str(),
            esc(&r.title),
            r.hits
        );
        let shown = rows(&r.rows).unwrap_or_default();
        if let Some(first) = shown.first() {
            let keys: Vec<&String> = first.keys().collect();
            let _ = write!(h, "<table><tr>");
            for k in &keys {
                let _ = write!(h, "<th>{}</th>", esc(k));
            }
            let _ = writeln!(h, "</tr>");
            for row in shown.iter().take(SHOWN_ROWS) {
                let _ = write!(h, "<tr>");
                for k in &keys {
                    let v = clip(text(row, k), 200);
                    let _ = write!(h, "<td>{}</td>", esc(&v));
                }
                let _ = writeln!(h, "</tr>");
            }
            let _ = writeln!(h, "</table>");
        }
        if r.hits > SHOWN_ROWS {
            let _ = writeln!(h, "<p class=\"muted\">First {SHOWN_ROWS} of {} rows; all in the CSV.</p>", r.hits);
        }
        let _ = writeln!(h, "</details>");
    }
    let _ = writeln!(h, "<h2 id=\"ingest\">Ingest</h2><pre>{}</pre>", esc(ingest_summary));
    let _ = writeln!(h, "<p class=\"muted\">Written by trailflow {}.</p></body></html>", env!("CARGO_PKG_VERSION"));
    h
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc("<script>alert('x')</script>&"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;");
    }
}
