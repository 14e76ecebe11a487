//! `trailflow investigate` end to end on `sample-data/`: the report folder, its verdicts against
//! the ground truth, and the HTML report rendered by a real headless browser (Chromium; `.ci/run`
//! installs it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{bin, root, truth};
use trailflow::correlate::Verdict;

/// `trailflow investigate EVIDENCE --lake LAKE -o REPORT -q`.
fn investigate(evidence: &Path, lake: &Path, report: &Path) -> std::process::Output {
    bin().arg("investigate").arg(evidence).arg("--lake").arg(lake).arg("-o").arg(report).arg("-q").output().unwrap()
}

struct Run {
    _dir: tempfile::TempDir,
    report: PathBuf,
    stdout: String,
}

/// One investigation of the sample data, shared by the tests of this file.
fn investigation() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let report = dir.path().join("report");
        // With our test Sigma rules beside the hunts.
        let out = bin()
            .arg("investigate")
            .arg(root().join("sample-data"))
            .arg("--lake")
            .arg(dir.path().join("lake"))
            .arg("-o")
            .arg(&report)
            .arg("-q")
            .arg("--sigma")
            .arg(root().join("tests/data/sigma"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Run { stdout: String::from_utf8(out.stdout).unwrap(), report, _dir: dir }
    })
}

/// A CSV file's rows as column name -> value.
fn csv_rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let mut reader = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    reader.deserialize().map(|r| r.unwrap_or_else(|e| panic!("{}: {e}", path.display()))).collect()
}

#[test]
fn investigate_runs_sigma_rules_beside_the_hunts() {
    let run = investigation();
    let r = &run.report;
    let summary = csv_rows(&r.join("sigma/sigma_summary.csv"));
    let row = |rule: &str| {
        summary.iter().find(|s| s["rule"] == rule).unwrap_or_else(|| panic!("{rule} not in sigma_summary.csv"))
    };
    // An event rule and each kind of correlation found what the sample plants.
    assert_eq!(row("root_console_login_without_mfa")["hits"], "1");
    assert_eq!(row("many_failures")["kind"], "event_count");
    assert_eq!(row("user_then_key")["hits"], "1");
    assert!(row("windows_process")["status"].starts_with("not run: not an AWS CloudTrail rule"));
    let failures = csv_rows(&r.join("sigma/many_failures.csv"));
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["actor_arn"], "arn:aws:iam::111111111111:root");
    assert_eq!(failures[0]["events"], "3");
    // In the report: the section, the rules not run, the story's lines linking to the rules.
    let html = std::fs::read_to_string(r.join("report.html")).unwrap();
    assert!(html.contains("<h2 id=\"sigma\">Sigma rules</h2>"));
    assert!(html.contains("<details id=\"sigma-user_then_key\">"));
    assert!(html.contains("windows_process.yml"));
    let story = html.split("<h2 id=\"flagged\">").next().unwrap();
    assert!(story.contains("href=\"#sigma-many_failures\""), "the story names the high Sigma hits");
    let md = std::fs::read_to_string(r.join("summary.md")).unwrap();
    assert!(md.contains("## Sigma rules") && md.contains("| high | many\\_failures | 1 |"), "{md}");
    assert!(run.stdout.contains("Sigma rules with hits:"), "{}", run.stdout);
}

#[test]
fn investigate_writes_the_report_folder_with_the_right_verdicts() {
    let run = investigation();
    let r = &run.report;
    for f in ["summary.md", "report.html", "correlation.csv", "hunts/summary.csv"] {
        assert!(r.join(f).is_file(), "{f} missing");
    }
    let t = truth();
    let rows = csv_rows(&r.join("correlation.csv"));
    let summary_all = std::fs::read_to_string(r.join("summary.md")).unwrap();
    let html_all = std::fs::read_to_string(r.join("report.html")).unwrap();
    // The flagged changes' sections (the hunt tables further down name other events too).
    let summary = summary_all.split("## Housekeeping and refused calls").next().unwrap();
    let html = html_all.split("<h2 id=\"changes\">").next().unwrap();
    for c in t["changes"].as_array().unwrap() {
        let id = c["event_id"].as_str().unwrap();
        let row =
            rows.iter().find(|row| row["event_id"] == id).unwrap_or_else(|| panic!("{id} not in correlation.csv"));
        assert_eq!(row["verdict"], c["expected_verdict"].as_str().unwrap(), "{}", c["scenario"]);
        let flagged = c["expected_verdict"].as_str().and_then(Verdict::parse).is_some_and(Verdict::flagged);
        assert_eq!(summary.contains(id), flagged, "{}: flagged in summary.md?", c["scenario"]);
        assert_eq!(html.contains(id), flagged, "{}: flagged in report.html?", c["scenario"]);
        for peer in c["attacker_peers"].as_array().unwrap() {
            assert!(summary.contains(peer.as_str().unwrap()), "{peer} not named in summary.md");
            assert!(run.stdout.contains(peer.as_str().unwrap()), "{peer} not named in the printed summary");
        }
    }
    // The story comes first: both sources in time order, the identity story of the second day
    // among the network changes.
    let story = summary_all.split("## What happened").nth(1).unwrap().split("## Flagged").next().unwrap();
    assert!(summary_all.find("## What happened").unwrap() < summary_all.find("## Flagged").unwrap());
    let times: Vec<&str> = story.lines().filter(|l| l.starts_with("| 20")).map(|l| &l[2..22]).collect();
    assert!(times.len() > 20 && times.windows(2).all(|w| w[0] <= w[1]), "{story}");
    let at = |needle: &str| story.find(needle).unwrap_or_else(|| panic!("{needle} not in the story:\n{story}"));
    assert!(at("Administrator rights granted") < at("Console sign-ins without MFA"));
    assert!(at("UNUSUAL TRAFFIC AFTER CHANGE on acl-0a1000000000000app") < at("Administrator rights granted"));
    assert!(story.contains("| flow logs |") && story.contains("| CloudTrail |"));
    assert!(html_all.find("id=\"story\"").unwrap() < html_all.find("id=\"flagged\"").unwrap());
    // Flagged changes come first in the printed summary, the unusual ones before the risky.
    let unusual = run.stdout.find("UNUSUAL TRAFFIC AFTER CHANGE").unwrap();
    let risky = run.stdout.find("risky change, no unusual traffic").unwrap();
    let hunts = run.stdout.find("Hunts with hits").unwrap();
    assert!(unusual < risky && risky < hunts, "{}", run.stdout);
    // One chart and one actor timeline per flagged change; every hunt's CSV.
    let n_flagged = rows.iter().filter(|r| Verdict::parse(&r["verdict"]).is_some_and(Verdict::flagged)).count();
    // A chart only where flows were recorded around the change; the others say so.
    let charts = std::fs::read_dir(r.join("charts")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(std::fs::read_dir(r.join("timelines")).unwrap().count(), n_flagged);
    assert_eq!(html_all.matches("<svg").count(), charts);
    assert_eq!(charts + html_all.matches("around the change: no chart").count(), n_flagged);
    assert!(charts > 0);
    // The peers a change let in are drawn apart, on a clock-time axis.
    assert!(html_all.contains("the peers the change let in") && html_all.contains("UTC (day hour:minute)"));
    let hunt_summary = csv_rows(&r.join("hunts/summary.csv"));
    assert!(hunt_summary.len() >= 18);
    for h in &hunt_summary {
        assert!(r.join("hunts").join(&h["file"]).is_file(), "{}", h["hunt"]);
        assert_eq!(h["error"], "", "{}", h["hunt"]);
        assert_ne!(h["hits"], "0", "{} found nothing on the sample data", h["hunt"]);
    }
    // The timeline of the actor of the first flagged change holds the change itself.
    let first = std::fs::read_to_string(r.join("timelines/change-01.csv")).unwrap();
    assert!(
        first.contains(
            &t["changes"].as_array().unwrap().iter().find(|c| c["scenario"] == "egress_opening_large_upload").unwrap()
                ["event_id"]
                .as_str()
                .unwrap()
                .to_string()
        )
    );
}

#[test]
fn investigate_again_adds_nothing_and_gives_the_same_verdicts() {
    let run = investigation();
    let again = tempfile::tempdir().unwrap();
    let lake = run.report.parent().unwrap().join("lake");
    let out = investigate(&root().join("sample-data"), &lake, again.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        std::fs::read_to_string(again.path().join("correlation.csv")).unwrap(),
        std::fs::read_to_string(run.report.join("correlation.csv")).unwrap()
    );
}

#[test]
fn investigate_of_a_missing_input_fails_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("investigate")
        .arg(dir.path().join("nothing-here"))
        .arg("--lake")
        .arg(dir.path().join("lake"))
        .arg("-o")
        .arg(dir.path().join("r"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nothing-here") && err.lines().count() == 1, "{err}");
}

/// Chromium from Debian (`chromium`), or the one named by TRAILFLOW_CHROMIUM.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("TRAILFLOW_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
            if dir.join(name).is_file() {
                return dir.join(name);
            }
        }
    }
    panic!(
        "no Chromium to check the HTML report: install it (`apt-get install chromium`, as .ci/run does) or set \
            TRAILFLOW_CHROMIUM"
    );
}

fn headless(profile: &Path) -> Command {
    let mut c = Command::new(chromium());
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ])
    .arg(format!("--user-data-dir={}", profile.display()));
    c
}

/// The report opens offline in a real browser: the DOM it builds holds the flagged changes and
/// their charts, and the screenshot is a page with content, not a blank one.
#[test]
fn the_html_report_renders_in_headless_chromium() {
    let run = investigation();
    let html = run.report.join("report.html");
    let url = format!("file://{}", html.canonicalize().unwrap().display());
    let profile = tempfile::tempdir().unwrap();
    let out = headless(profile.path()).args(["--virtual-time-budget=2000", "--dump-dom"]).arg(&url).output().unwrap();
    assert!(out.status.success(), "chromium --dump-dom: {}", String::from_utf8_lossy(&out.stderr));
    let dom = String::from_utf8_lossy(&out.stdout);
    let source = std::fs::read_to_string(&html).unwrap();
    assert!(dom.contains("<h1>trailflow investigation</h1>"), "{}", &dom[..dom.len().min(500)]);
    assert_eq!(dom.matches("<svg").count(), source.matches("<svg").count(), "every chart is in the rendered DOM");
    assert!(dom.contains("UNUSUAL TRAFFIC AFTER CHANGE"));
    // The key facts, what the evidence cannot show, and the coverage are rendered, first.
    for id in ["facts", "caveats", "principals", "addresses", "keys", "coverage"] {
        assert!(dom.contains(&format!("id=\"{id}\"")), "section {id} not in the rendered page");
    }
    assert!(dom.find("id=\"facts\"") < dom.find("id=\"story\""));
    let shot = profile.path().join("report.png");
    let out = headless(profile.path())
        .arg("--window-size=1280,2000")
        .arg(format!("--screenshot={}", shot.display()))
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium --screenshot: {}", String::from_utf8_lossy(&out.stderr));
    let png = std::fs::read(&shot).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // A blank 1280x2000 page compresses to a few kilobytes; text, tables and charts do not.
    assert!(png.len() > 60_000, "screenshot of {} bytes looks blank", png.len());
    // At a laptop's width (1366 px) the page and every table fit: nothing needs a horizontal
    // scroll. The report has no script; a page of the test's own frames it and measures.
    let probe = profile.path().join("probe.html");
    std::fs::write(
        &probe,
        format!(
            r#"<html><body><iframe id="f" src="{url}" style="width:1366px;height:800px;border:0"></iframe><pre id="out">pending</pre>
<script>
document.getElementById('f').onload = function () {{
  var d = this.contentDocument, w = d.documentElement.clientWidth, bad = [];
  if (d.documentElement.scrollWidth > w + 1) bad.push('page ' + d.documentElement.scrollWidth + ' > ' + w);
  d.querySelectorAll('table').forEach(function (t, i) {{
    if (t.scrollWidth > t.clientWidth + 1) bad.push('table ' + i + ' ' + t.scrollWidth + ' > ' + t.clientWidth);
  }});
  document.getElementById('out').textContent = 'RESULT:' + (bad.length ? bad.join('; ') : 'fits') + ':END';
}};
</script></body></html>"#
        ),
    )
    .unwrap();
    let out = headless(profile.path())
        .args(["--allow-file-access-from-files", "--virtual-time-budget=5000", "--dump-dom"])
        .arg(format!("file://{}", probe.display()))
        .output()
        .unwrap();
    let dom = String::from_utf8_lossy(&out.stdout);
    let result = dom.split("RESULT:").nth(1).and_then(|r| r.split(":END").next()).unwrap_or("no result");
    assert_eq!(result, "fits", "at 1366 px: {result}");
}

/// A corrupt file among the evidence: the rest is investigated, the report says what was
/// rejected, and the exit status (3) tells the user to look.
#[test]
fn investigate_with_a_corrupt_file_reports_it_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    let ct = evidence.join("AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/10");
    std::fs::create_dir_all(&ct).unwrap();
    // One real CloudTrail file of the sample, and a truncated gzip beside it.
    let sample = root().join("sample-data/AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/10");
    let first = std::fs::read_dir(&sample).unwrap().map(|e| e.unwrap().path()).min().unwrap();
    std::fs::copy(&first, ct.join(first.file_name().unwrap())).unwrap();
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(
        ct.join("111111111111_CloudTrail_us-east-1_20260310T2355Z_broken.json.gz"),
        &bytes[..bytes.len() / 2],
    )
    .unwrap();
    let report = dir.path().join("report");
    let out = investigate(&evidence, &dir.path().join("lake"), &report);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("some input was rejected"), "{stdout}");
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(summary.contains("broken.json.gz"), "the ingest section names the file");
    assert!(report.join("report.html").is_file() && report.join("hunts/summary.csv").is_file());
}

/// A small real case of its own: Elastic's test events (a NACL entry deleted, an ACL deleted).
fn other_case() -> PathBuf {
    root().join("tests/data/real/cloudtrail/elastic-integrations")
}

fn investigate_to(evidence: &Path, report: &Path, extra: &[&str]) -> std::process::Output {
    bin().arg("investigate").arg(evidence).arg("-o").arg(report).arg("-q").args(extra).output().unwrap()
}

#[test]
fn cases_never_mix() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("case-a"), dir.path().join("case-b"));
    // Each case gets a lake of its own, inside its report folder.
    let out = investigate_to(&root().join("sample-data"), &a, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = investigate_to(&other_case(), &b, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(a.join("lake/_trailflow").is_dir() && b.join("lake/_trailflow").is_dir());
    let b_changes = std::fs::read_to_string(b.join("correlation.csv")).unwrap();
    assert!(
        b_changes.contains("acl-0af9cb843511d66d4") && !b_changes.contains("acl-0a1000000000000app"),
        "{b_changes}"
    );
    assert!(!std::fs::read_to_string(a.join("correlation.csv")).unwrap().contains("acl-0af9cb843511d66d4"));

    // Another case into a folder that holds one: refused, and the folder is left as it was.
    let before = std::fs::read_to_string(a.join("summary.md")).unwrap();
    let out = investigate_to(&other_case(), &a, &[]);
    // A usage error (give -o another folder, or --replace): exit status 2.
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("another case") && err.contains("--replace") && err.lines().count() == 1, "{err}");
    assert_eq!(std::fs::read_to_string(a.join("summary.md")).unwrap(), before);
    // A folder of other files: refused too.
    let busy = dir.path().join("notes");
    std::fs::create_dir_all(&busy).unwrap();
    std::fs::write(busy.join("my-notes.txt"), "mine").unwrap();
    let out = investigate_to(&other_case(), &busy, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));

    // --replace: the old case is gone, its charts and timelines and lake with it.
    assert!(a.join("charts").read_dir().unwrap().next().is_some());
    let out = investigate_to(&other_case(), &a, &["--replace"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let changes = std::fs::read_to_string(a.join("correlation.csv")).unwrap();
    assert!(changes.contains("acl-0af9cb843511d66d4") && !changes.contains("acl-0a1000000000000app"), "{changes}");
    // Its charts and timelines are those of the new case alone, as in a fresh folder.
    let listing = |r: &Path| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = ["charts", "timelines"]
            .iter()
            .flat_map(|d| std::fs::read_dir(r.join(d)).into_iter().flatten())
            .map(|e| e.unwrap().path())
            .map(|p| (p.file_name().unwrap().to_string_lossy().to_string(), std::fs::read_to_string(&p).unwrap()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(listing(&a), listing(&b), "the old case's charts or timelines are left");
    let out = bin()
        .args(["sql", "--format", "csv", "--lake"])
        .arg(a.join("lake"))
        .arg("SELECT count(*) AS n FROM flow_logs")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().nth(1), Some("0"), "the old case's lake is gone");

    // A shared lake: each report shows its own evidence only.
    let shared = dir.path().join("shared-lake");
    let (sa, sb) = (dir.path().join("shared-a"), dir.path().join("shared-b"));
    let lake_arg = ["--lake", shared.to_str().unwrap()];
    assert!(investigate_to(&root().join("sample-data"), &sa, &lake_arg).status.success());
    let out = investigate_to(&other_case(), &sb, &lake_arg);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let sb_changes = std::fs::read_to_string(sb.join("correlation.csv")).unwrap();
    assert!(
        sb_changes.contains("acl-0af9cb843511d66d4") && !sb_changes.contains("acl-0a1000000000000app"),
        "{sb_changes}"
    );
    let hunts = std::fs::read_to_string(sb.join("hunts/summary.csv")).unwrap();
    let a_hunts = std::fs::read_to_string(sa.join("hunts/summary.csv")).unwrap();
    assert_ne!(hunts, a_hunts);
    // The first case, investigated again in the shared lake, still shows only its own changes.
    let again = dir.path().join("shared-a-again");
    assert!(investigate_to(&root().join("sample-data"), &again, &lake_arg).status.success());
    assert_eq!(
        std::fs::read_to_string(again.join("correlation.csv")).unwrap(),
        std::fs::read_to_string(sa.join("correlation.csv")).unwrap()
    );
}

#[test]
fn text_from_the_evidence_is_inert_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let record = serde_json::json!({
        "eventVersion": "1.08",
        "eventID": "hostile-1",
        "eventTime": "2024-05-01T10:00:00Z",
        "eventSource": "ec2.amazonaws.com",
        "eventName": "CreateNetworkAclEntry",
        "awsRegion": "us-east-1",
        "sourceIPAddress": "198.51.100.7",
        "userAgent": "[click](http://evil.example) **bold** `code` <img src=x onerror=alert(2)> | cell",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/<script>alert(1)</script>", "accountId": "111122223333"},
        "requestParameters": {"networkAclId": "acl-0123456789abcdef0", "ruleNumber": 90, "egress": false,
            "ruleAction": "allow", "protocol": "-1", "cidrBlock": "0.0.0.0/0"},
        "responseElements": {"_return": true},
        "recipientAccountId": "111122223333"
    });
    std::fs::write(evidence.join("hostile.json"), serde_json::json!({"Records": [record]}).to_string()).unwrap();
    let report = dir.path().join("report");
    let out = investigate_to(&evidence, &report, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(md.contains("alert"), "the flagged change is in the summary: {md}");
    // Each markup character from the evidence is escaped: none appears without a backslash.
    let unescaped = |pat: &str| md.match_indices(pat).any(|(i, _)| !md[..i].ends_with('\\'));
    for raw in ["<script>", "<img", "](http", "**bold**", "`code`", "| cell"] {
        assert!(!unescaped(raw), "summary.md passes {raw:?} through: {md}");
    }
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(!html.contains("<script>alert") && !html.contains("<img src=x"), "report.html passes markup through");
}

#[test]
fn key_facts_and_coverage_say_what_the_evidence_holds_and_cannot_show() {
    let run = investigation();
    let r = &run.report;
    // The tables, whole, beside the pages; each checked against the lake.
    let lake = r.parent().unwrap().join("lake");
    let count = |q: &str| common::count(&lake, q) as usize;
    let principals = csv_rows(&r.join("facts/principals.csv"));
    assert_eq!(
        principals.len(),
        count("SELECT DISTINCT coalesce(user_arn, principal_id, invoked_by, '(unknown)'), user_type FROM cloudtrail")
    );
    let root_row = principals.iter().find(|p| p["principal"] == "arn:aws:iam::111111111111:root").unwrap();
    assert_eq!(root_row["kind"], "root");
    let keys = csv_rows(&r.join("facts/access_keys.csv"));
    let new_key = keys.iter().find(|k| k["access_key"] == "AKIA1111SVCBACKUP009").unwrap();
    assert_eq!(new_key["owner"], "arn:aws:iam::111111111111:user/svc-backup");
    assert_eq!(new_key["kind"], "long-term");
    let addresses = csv_rows(&r.join("facts/addresses.csv"));
    let attacker = addresses.iter().find(|a| a["address"] == "203.0.113.50").unwrap();
    assert!(attacker["used_by"].contains("user/dev-temp"), "{attacker:?}");
    let coverage = csv_rows(&r.join("facts/coverage.csv"));
    let records = |kind: &str| -> usize {
        coverage.iter().filter(|c| c["kind"] == kind).map(|c| c["records"].parse::<usize>().unwrap()).sum()
    };
    let ct_kinds = [
        "management_events",
        "s3_data_events",
        "lambda_data_events",
        "other_data_events",
        "insights_events",
        "network_activity_events",
    ];
    assert_eq!(ct_kinds.iter().map(|k| records(k)).sum::<usize>(), count("SELECT * FROM cloudtrail"));
    assert_eq!(records("flow_logs"), count("SELECT * FROM flow_logs"));
    // What the sample's evidence cannot show: its digests cover its first hour only, and its
    // S3 data events stop three hours before the rest; the S3 hunts say they were partly blind.
    let md = std::fs::read_to_string(r.join("summary.md")).unwrap();
    assert!(md.contains(" loaded, 0 rejected"), "{md}");
    // The planted gaps of the ground truth, as what cannot be seen.
    for gap in truth()["evidence_gaps"].as_array().unwrap().iter().filter(|g| g["start"].is_string()) {
        let (start, end) = (gap["start"].as_str().unwrap(), gap["end"].as_str().unwrap());
        assert!(md.contains(&format!("from {start} to {end}")), "gap {gap} not said: {md}");
    }
    assert!(md.contains("CloudTrail digest files cover 2026-03-10T00:00:00Z to 2026-03-10T01:00:00Z only"), "{md}");
    assert!(md.contains("The last S3 data event is at 2026-03-11T21:00:00Z"), "{md}");
    let mass_deletion = md.lines().find(|l| l.contains("s3\\_mass\\_deletion")).unwrap();
    assert!(mass_deletion.contains("partly blind"), "{mass_deletion}");
    let html = std::fs::read_to_string(r.join("report.html")).unwrap();
    assert!(html.contains("id=\"caveats\"") && html.contains("id=\"coverage\"") && html.contains("id=\"principals\""));
    // Every link of the page resolves: to an element of the page, or to a file of the folder.
    let mut broken = Vec::new();
    for href in html.split("href=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]) {
        match href.strip_prefix('#') {
            Some(anchor) => {
                if !html.contains(&format!("id=\"{anchor}\"")) {
                    broken.push(href.to_string());
                }
            }
            None if href.starts_with("http") => {}
            None => {
                if !r.join(href).exists() {
                    broken.push(href.to_string());
                }
            }
        }
    }
    assert!(broken.is_empty(), "links that lead nowhere: {broken:?}");
    // Every table of the evidence is bounded (the files have the rest), and so is the page; the
    // story and the list of hunts grow with the catalogue of hunts, not with the evidence.
    for table in html.split("<table").skip(1) {
        let table = table.split("</table>").next().unwrap();
        if table.starts_with(" class=\"story\"") || table.starts_with("><tr><th>severity</th>") {
            continue;
        }
        let rows = table.matches("<tr").count();
        assert!(rows <= 61, "a table of {rows} rows: {}", &table[..table.len().min(300)]);
    }
    assert!(html.len() < 1 << 20, "{} bytes", html.len());
}

#[test]
fn a_case_without_network_acl_changes_writes_correlation_csv_with_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report");
    let out = investigate_to(&root().join("tests/data/real/cloudtrail/trailscraper"), &report, &[]);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(report.join("correlation.csv")).unwrap();
    assert!(text.starts_with("event_id,") || text.lines().next().is_some_and(|l| l.contains("verdict")), "{text:?}");
    assert_eq!(text.lines().count(), 1, "{text}");
    // No flow logs: said, once, as what cannot be seen; the ACL sections collapse to one line.
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(md.contains("No VPC flow logs in the evidence"), "{md}");
    assert!(
        md.contains("No Network ACL or security-group change in the evidence.") && !md.contains("Housekeeping"),
        "{md}"
    );
    let html = std::fs::read_to_string(report.join("report.html")).unwrap();
    assert!(
        html.contains("No Network ACL or security-group change in the evidence")
            && !html.contains("<h2 id=\"changes\">")
    );
}

#[test]
fn the_story_tells_episodes_with_their_keys_and_actors() {
    let run = investigation();
    let md = std::fs::read_to_string(run.report.join("summary.md")).unwrap();
    let story: Vec<&str> = md
        .split("## What happened")
        .nth(1)
        .unwrap()
        .split("## Flagged")
        .next()
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("| 20"))
        .collect();
    let row = |needle: &str| -> &str {
        story
            .iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no story row with {needle:?}:\n{}", story.join("\n")))
    };
    // The new key, with its id, by the intruder from the intruder's address.
    let key = row("key AKIA1111SVCBACKUP009");
    assert!(key.contains("user/dev-temp") && key.contains("203.0.113.50"), "{key}");
    // Three security services switched off in two minutes by one actor: one row.
    let off = row("security services disabled");
    assert!(off.contains("3 hits to 2026-03-11T13:26:24Z"), "{off}");
    assert_eq!(story.iter().filter(|l| l.contains("security services disabled")).count(), 1);
    // One flow log bucket failing its deliveries day after day: one row.
    assert_eq!(story.iter().filter(|l| l.contains("Flow logs configured but not delivered")).count(), 1);
    // The rows beyond a hunt's first episodes say how many, by whom and from where.
    let more = row("more episodes");
    let cells: Vec<&str> = more.split(" | ").collect();
    assert!(cells.len() >= 6 && !cells[3].trim().is_empty() && !cells[5].trim().is_empty(), "{more}");
    // In time order.
    let times: Vec<&str> = story.iter().map(|l| &l[2..22]).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
}

#[test]
fn the_sample_output_in_the_docs_is_what_investigate_prints() {
    // docs/investigation.md shows what `investigate sample-data` prints, shortened with `...`:
    // every other line of it must be printed, in that order.
    let doc = std::fs::read_to_string(root().join("docs/investigation.md")).unwrap();
    let block = doc
        .split("What it prints, shortened:\n\n```\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("the sample output block of docs/investigation.md");
    let dir = tempfile::tempdir().unwrap();
    let out =
        bin().current_dir(dir.path()).arg("investigate").arg(root().join("sample-data")).arg("-q").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let printed = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = printed.lines().collect();
    let mut at = 0;
    for want in block.lines().filter(|l| !l.trim().is_empty() && l.trim() != "...") {
        match lines[at..].iter().position(|l| *l == want) {
            Some(i) => at += i + 1,
            None => panic!(
                "docs/investigation.md shows a line investigate no longer prints (regenerate the \
                    block):\n{want}\n\nprinted:\n{printed}"
            ),
        }
    }
}

#[test]
fn reading_the_log_files_is_named_as_collecting_the_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    std::fs::create_dir_all(&evidence).unwrap();
    let records: Vec<serde_json::Value> = (0..30)
        .map(|i| {
            serde_json::json!({
                "eventVersion": "1.09", "eventID": format!("collect-{i}"), "eventTime": format!("2026-05-01T10:{i:02}:00Z"),
                "eventSource": "s3.amazonaws.com", "eventName": "GetObject", "awsRegion": "us-east-1",
                "sourceIPAddress": "198.51.100.9", "userAgent": "aws-cli/2.15.0", "eventCategory": "Data", "managementEvent": false,
                "userIdentity": {"type": "IAMUser", "userName": "responder", "arn": "arn:aws:iam::111122223333:user/responder", "accountId": "111122223333"},
                "requestParameters": {"bucketName": "org-trail-logs", "key": format!("AWSLogs/111122223333/CloudTrail/us-east-1/2026/05/01/f{i}.json.gz")},
                "recipientAccountId": "111122223333"
            })
        })
        .collect();
    std::fs::write(evidence.join("reads.json"), serde_json::json!({"Records": records}).to_string()).unwrap();
    let report = dir.path().join("report");
    let out = investigate_to(&evidence, &report, &[]);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    let md = std::fs::read_to_string(report.join("summary.md")).unwrap();
    assert!(
        md.contains("arn:aws:iam::111122223333:user/responder read 30 log files of the bucket org-trail-logs")
            && md.contains("the evidence being collected"),
        "{md}"
    );
}
