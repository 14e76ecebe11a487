//! `summary.md`: the findings in Markdown, every text from the evidence escaped.

use std::fmt::Write as _;

use super::findings::{Findings, Row, int, or_unknown, text, verdict_word, what_changed};
use super::plain;
use crate::hunt;
use crate::time::{duration_text, human_bytes};

/// Text made inert in Markdown: every character with a meaning there (emphasis, links, HTML,
/// code, tables, math) is escaped with a backslash, and line breaks become spaces, so nothing
/// from the evidence renders as markup.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '(' | ')' | '#' | '+' | '!' | '|' | '~' | '&' | '$' | '"' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

pub(super) fn summary_md(f: &Findings) -> String {
    let Findings { ingest_summary, changes, flagged, results, notes, opts, case } = *f;
    let text = |r: &Row, k: &str| md(&text(r, k));
    let what_changed = |c: &Row| md(&what_changed(c));
    let mut s = String::new();
    match &case.case {
        Some(name) => {
            let _ = writeln!(s, "# trailflow investigation: {}\n", md(name));
        }
        None => {
            let _ = writeln!(s, "# trailflow investigation\n");
        }
    }
    let _ = writeln!(
        s,
        "Evidence: {}. Lake: {}. Window after each change {}, baseline before it {}.\n",
        case.evidence.iter().map(|p| md(p)).collect::<Vec<_>>().join(", "),
        md(&case.lake),
        duration_text(opts.window_us),
        duration_text(opts.baseline_us)
    );
    if !notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in notes {
            let _ = writeln!(s, "- {}", md(n));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Flagged Network ACL changes ({} of {})\n", flagged.len(), changes.len());
    for (i, f) in flagged.iter().enumerate() {
        let c = &f.change;
        let _ = writeln!(s, "### {}. {} on {} at {}\n", i + 1, md(verdict_word(&crate::report::text(c, "verdict"))), text(c, "network_acl_id"), text(c, "event_time"));
        let _ = writeln!(s, "- **Who:** {} (account {}, {})", text(c, "actor_arn"), text(c, "account_id"), text(c, "aws_region"));
        let _ = writeln!(s, "- **From where:** {} with {}", text(c, "source_ip"), text(c, "user_agent"));
        let _ = writeln!(s, "- **What:** {} ({})", what_changed(c), text(c, "event_name"));
        let _ = writeln!(s, "- **Risk:** score {} ({})", text(c, "score"), text(c, "risk_reasons"));
        let _ = writeln!(s, "- **Interfaces governed:** {}", or_unknown(&text(c, "interface_list")));
        if int(c, "matching_flows") > 0 {
            let _ = writeln!(
                s,
                "- **Newly allowed traffic:** {} flows, {}, from {} to {}; unusual peers {}; rejected before, accepted after: {}; top peers {}",
                text(c, "matching_flows"),
                human_bytes(int(c, "bytes")),
                text(c, "first_flow"),
                text(c, "last_flow"),
                or_unknown(&text(c, "unusual_peers")),
                or_unknown(&text(c, "reject_to_accept_peers")),
                text(c, "top_peers")
            );
        } else {
            let _ = writeln!(s, "- **Newly allowed traffic:** none seen in the window");
        }
        let _ = writeln!(s, "- **Event:** {}; chart {}; actor timeline {} ({} events within 6 h)\n", text(c, "event_id"), md(&f.chart_file), md(&f.timeline_file), f.timeline.len());
    }
    let _ = writeln!(s, "## All Network ACL changes\n");
    let _ = writeln!(s, "| time | event | ACL | actor | verdict | score | bytes |\n|---|---|---|---|---|---|---|");
    for c in changes {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            text(c, "event_time"),
            text(c, "event_name"),
            text(c, "network_acl_id"),
            text(c, "actor_arn"),
            text(c, "verdict"),
            text(c, "score"),
            human_bytes(int(c, "bytes"))
        );
    }
    let _ = writeln!(s, "\n## Hunts\n");
    let _ = writeln!(s, "| severity | hunt | hits | title | file |\n|---|---|---|---|---|");
    let sorted = hunt::most_severe_first(results);
    for r in sorted {
        let hits = if r.error.is_some() { "failed".to_string() } else { r.hits.to_string() };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.severity.as_str(),
            md(&r.name),
            hits,
            md(&r.title),
            r.file.as_deref().map(|f| md(&format!("hunts/{f}"))).unwrap_or_default()
        );
    }
    // An indented block: nothing in it is markup, whatever the file names and reasons hold.
    let _ = writeln!(s, "\n## Ingest\n");
    for line in ingest_summary.lines() {
        let _ = writeln!(s, "    {}", plain(line));
    }
    s
}

