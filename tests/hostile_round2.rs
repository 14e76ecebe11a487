//! The second hostile-input round (issue 29): nothing read that is not evidence, nothing lost,
//! nothing silent. Each test reproduces one way trailflow broke and asserts the rule that now
//! holds (`docs/lake.md`, "Guarantees").

mod common;

use std::path::{Path, PathBuf};

use common::{bin, count, ingest, root, sql};
use serde_json::Value;

/// A case folder holding a day of the sample's CloudTrail and flow logs, in their S3 layout.
fn case_folder() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for sub in [
        "AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/10",
        "AWSLogs/111111111111/vpcflowlogs/us-east-1/2026/03/10",
    ] {
        let from = root().join("sample-data").join(sub);
        let to = dir.path().join("evidence").join(sub);
        std::fs::create_dir_all(&to).unwrap();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&from).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        for f in files.iter().take(40) {
            std::fs::copy(f, to.join(f.file_name().unwrap())).unwrap();
        }
    }
    dir
}

fn rows(lake: &Path) -> (i64, i64) {
    (count(lake, "SELECT * FROM cloudtrail"), count(lake, "SELECT * FROM flow_logs"))
}

#[test]
fn a_lake_inside_the_evidence_is_never_read() {
    // `cd case && trailflow ingest .` with the default lake `./trailflow-lake`, twice.
    let case = case_folder();
    let run = |args: &[&str]| {
        let out = bin().current_dir(case.path()).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = run(&["ingest", "--quiet", "--json", "."]);
    let lake = case.path().join("trailflow-lake");
    let once = rows(&lake);
    assert!(once.0 > 0 && once.1 > 0, "{once:?}");
    let second = run(&["ingest", "--quiet", "--json", "."]);
    assert_eq!(rows(&lake), once, "the second run read the lake's own files");
    assert_eq!(second["files_rejected"], 0, "{second}");
    // Said once, in the summary.
    let own = second["own_folders"].as_array().unwrap();
    assert_eq!(own.len(), 1, "{second}");
    assert!(own[0].as_str().unwrap().contains("the lake this run writes"), "{second}");
    assert_eq!(first["files_loaded"], second["files_already_in_lake"], "{first} {second}");

    // Another lake inside an input, named with --lake elsewhere: recognised by its marker.
    let other = tempfile::tempdir().unwrap();
    let (out, summary) = ingest(other.path(), &[case.path()]);
    assert!(out.status.success(), "{summary}");
    assert_eq!(rows(other.path()), once);
    assert!(
        summary["own_folders"].as_array().unwrap().iter().any(|f| f.as_str().unwrap().contains("a trailflow lake")),
        "{summary}"
    );

    // A report folder of `investigate` inside the evidence: left out whole.
    let out = bin()
        .args(["investigate", "--quiet", "-o"])
        .arg(case.path().join("report"))
        .arg(case.path().join("evidence"))
        .output()
        .unwrap();
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    let third = tempfile::tempdir().unwrap();
    let (out, summary) = ingest(third.path(), &[case.path()]);
    assert_eq!(out.status.code(), Some(0), "{summary}");
    assert_eq!(rows(third.path()), once);
    let own: Vec<&str> = summary["own_folders"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(own.iter().any(|f| f.contains("report") && f.contains("report folder")), "{own:?}");
}

#[test]
fn a_record_cut_short_loses_only_itself() {
    // One record a line, as collectors write; one crashed mid-write.
    let dir = tempfile::tempdir().unwrap();
    let rec = |i: usize| {
        format!(
            r#"{{"eventVersion":"1.08","eventID":"cut-{i}","eventTime":"2026-03-10T10:0{i}:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7"}}"#
        )
    };
    let mut lines: Vec<String> = (0..3).map(rec).collect();
    lines.push(r#"{"eventID": "broken", "eventTime": "#.to_string());
    lines.extend((3..6).map(rec));
    std::fs::write(dir.path().join("events.jsonl"), lines.join("\n") + "\n").unwrap();
    // And pretty-printed, as `jq .` writes a trail file, with a record cut after a nested list.
    let indented = |i: usize| {
        let text = serde_json::to_string_pretty(&serde_json::from_str::<Value>(&rec(i)).unwrap()).unwrap();
        text.lines().map(|l| format!("    {l}")).collect::<Vec<_>>().join("\n")
    };
    let pretty = format!(
        "{{\n  \"Records\": [\n{},\n    {{\n      \"eventID\": \"pretty-cut\",\n      \"resources\": [\n        \
            {{\"ARN\": \"x\"}}\n      ],\n      \"eventTime\": \n{}\n  ]\n}}\n",
        indented(6),
        indented(7)
    );
    std::fs::write(dir.path().join("pretty.json"), pretty).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, summary) = ingest(lake.path(), &[dir.path()]);
    assert_eq!(out.status.code(), Some(3), "{summary}");
    let ids: Vec<String> = sql(lake.path(), "SELECT event_id FROM cloudtrail ORDER BY event_id")
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, (0..8).map(|i| format!("cut-{i}")).collect::<Vec<_>>(), "{summary}");
    let errors = sql(lake.path(), "SELECT file, line FROM ingest_errors ORDER BY file");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(errors[0]["line"], 4, "{errors:?}");
}

/// Does any output hold a byte that would drive a terminal (ESC, CSI, BEL, a C1 control)?
fn drives_terminal(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.chars().any(|c| matches!(c, '\u{1b}' | '\u{7}' | '\u{8}' | '\u{80}'..='\u{9f}' | '\u{202e}'))
}

#[test]
fn evidence_text_never_drives_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    // A retitle (OSC), a screen clear (CSI) and a C1 CSI, in a region, a user agent, an account id
    // and an archive member's name.
    let record = serde_json::json!({
        "eventVersion": "1.08", "eventID": "esc-1", "eventTime": "2026-03-10T10:00:00Z",
        "eventSource": "ec2.amazonaws.com", "eventName": "DescribeInstances",
        "awsRegion": "us-east-1\u{1b}]0;pwned\u{7}", "sourceIPAddress": "198.51.100.7",
        "userAgent": "curl\u{1b}[2J\u{1b}[31mred\u{9b}1m", "recipientAccountId": "1111\u{1b}[8m",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111111111111:user/\u{202e}nimda", "accountId": "111111111111"}
    });
    let body = serde_json::to_vec(&serde_json::json!({"Records": [record]})).unwrap();
    let zip_path = dir.path().join("collected.zip");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
        z.start_file("trail\u{1b}[2J.json", opts).unwrap();
        std::io::Write::write_all(&mut z, &body).unwrap();
        z.start_file("bad\u{1b}]0;x\u{7}.json", opts).unwrap();
        std::io::Write::write_all(&mut z, b"{\"Records\": [{\"eventID\": 5}]}").unwrap();
        z.finish().unwrap();
    }
    let lake = tempfile::tempdir().unwrap();
    let l = lake.path().to_str().unwrap();
    let out = bin().args(["ingest", "--lake", l]).arg(&zip_path).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        !drives_terminal(&out.stdout) && !drives_terminal(&out.stderr),
        "ingest: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let screens: Vec<Vec<&str>> = vec![
        vec!["sql", "SELECT aws_region, user_agent, recipient_account_id, user_arn, source_file FROM cloudtrail"],
        vec!["sql", "--format", "line", "SELECT * FROM cloudtrail"],
        vec!["sql", "SELECT * FROM ingest_errors"],
        vec!["search", "DescribeInstances"],
        vec!["timeline", "--ip", "198.51.100.7"],
        vec!["stats"],
        vec!["hunt", "run", "iam_enumeration_burst"],
    ];
    for args in screens {
        let out = bin().args(&args).args(["--lake", l]).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(
            !drives_terminal(&out.stdout) && !drives_terminal(&out.stderr),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // The values are shown, escapes made visible, and kept whole in the lake and machine formats.
    let out = bin().args(["sql", "--lake", l, "SELECT user_agent FROM cloudtrail"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("curl␛[2J␛[31mred<U+009B>1m"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let json = sql(lake.path(), "SELECT user_agent FROM cloudtrail");
    assert_eq!(json[0]["user_agent"], "curl\u{1b}[2J\u{1b}[31mred\u{9b}1m");
}

#[test]
fn search_time_ranges_far_from_the_evidence_are_plain_ranges() {
    let lake = tempfile::tempdir().unwrap();
    let case = case_folder();
    let (out, summary) = ingest(lake.path(), &[case.path()]);
    assert!(out.status.success(), "{summary}");
    let n = |q: &str| {
        let out = bin()
            .args(["search", "--format", "json", "--limit", "100000", "--lake"])
            .arg(lake.path())
            .arg(q)
            .output()
            .unwrap();
        assert!(out.status.success(), "{q}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap().len() as i64
    };
    let all = count(lake.path(), "SELECT * FROM cloudtrail");
    assert!(all > 0);
    assert_eq!(n("event_time:[1970-01-01 TO 2300-01-01]"), all);
    assert_eq!(n("event_time:[1900-01-01 TO 2999-12-31]"), all);
    assert_eq!(n("event_time:[3000-01-01 TO 4000-01-01]"), 0);
    assert_eq!(n("event_time:[1900-01-01 TO 1960-01-01]"), 0);
}

/// A small evidence folder for `investigate`.
fn small_evidence(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let rec = r#"{"eventVersion":"1.08","eventID":"ev-1","eventTime":"2026-03-10T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7"}"#;
    std::fs::write(dir.join("trail.json"), format!("{{\"Records\":[{rec}]}}")).unwrap();
}

#[test]
fn report_folders_hold_only_what_trailflow_writes() {
    let work = tempfile::tempdir().unwrap();
    small_evidence(&work.path().join("evidence"));
    let investigate =
        |args: &[&str]| bin().current_dir(work.path()).args(["investigate", "--quiet"]).args(args).output().unwrap();
    // A case name is a folder name, never a path that leads elsewhere.
    for bad in ["../../x", "a/b", "..", ""] {
        let out = investigate(&["--case", bad, "evidence"]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(!work.path().parent().unwrap().join("x").exists());
    }
    // A user's own file in hunts/ survives a rerun and a --replace by another case.
    let out = investigate(&["-o", "report", "evidence"]);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    let mine = work.path().join("report/hunts/my-notes.txt");
    std::fs::write(&mine, "my own notes").unwrap();
    let out = investigate(&["-o", "report", "evidence"]);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    small_evidence(&work.path().join("other"));
    let out = investigate(&["-o", "report", "--replace", "other"]);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "my own notes");
    // What trailflow wrote is listed in case.json, and the new run's files are there.
    let case: Value = serde_json::from_slice(&std::fs::read(work.path().join("report/case.json")).unwrap()).unwrap();
    let written: Vec<&str> = case["written"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert!(written.contains(&"hunts/summary.csv") && written.contains(&"report.html"), "{written:?}");
    assert!(!written.iter().any(|w| w.contains("my-notes")), "{written:?}");
}

#[test]
fn cases_that_name_their_evidence_alike_stay_apart_in_a_shared_lake() {
    // Two cases, each in its own folder, each calling its evidence `evidence`, one shared lake.
    let shared = tempfile::tempdir().unwrap();
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    small_evidence(&a.path().join("evidence"));
    let rec = r#"{"eventVersion":"1.08","eventID":"ev-b","eventTime":"2026-03-11T10:00:00Z","eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"203.0.113.99","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111111111111:user/b","accountId":"111111111111","userName":"b"},"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"}}"#;
    std::fs::create_dir_all(b.path().join("evidence")).unwrap();
    std::fs::write(b.path().join("evidence/trail.json"), format!("{{\"Records\":[{rec}]}}")).unwrap();
    // A, then B, then A again: each run of A sees the shared lake holding B's rows too.
    for dir in [a.path(), b.path(), a.path()] {
        let out = bin()
            .current_dir(dir)
            .args(["investigate", "--quiet", "-o", "report", "--lake"])
            .arg(shared.path())
            .arg("evidence")
            .output()
            .unwrap();
        assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
    }
    // Case B's report shows its console sign-in without MFA; case A's knows nothing of it.
    let hits = |dir: &Path| {
        std::fs::read_to_string(dir.join("report/hunts/console_login_without_mfa.csv")).unwrap_or_default()
    };
    assert!(hits(b.path()).contains("203.0.113.99"), "{}", hits(b.path()));
    assert!(!hits(a.path()).contains("203.0.113.99"), "case A shows case B's evidence: {}", hits(a.path()));
    let case: Value = serde_json::from_slice(&std::fs::read(a.path().join("report/case.json")).unwrap()).unwrap();
    let real = case["evidence_real"][0].as_str().unwrap();
    assert!(Path::new(real).is_absolute() && real.ends_with("evidence"), "{case}");
    let events = sql(shared.path(), "SELECT DISTINCT source_file FROM cloudtrail");
    assert_eq!(events.len(), 2, "{events:?}");
}

#[test]
fn a_hunt_named_like_a_summary_does_not_overwrite_it() {
    let lake = tempfile::tempdir().unwrap();
    let case = case_folder();
    let (out, summary) = ingest(lake.path(), &[case.path()]);
    assert!(out.status.success(), "{summary}");
    let queries = tempfile::tempdir().unwrap();
    std::fs::write(
        queries.path().join("summary.sql"),
        "-- name: summary\n-- title: A hunt called summary\n-- severity: low\n-- description: Named like the summary \
            file.\n-- attack: T1078\n-- attack_v19: T1078\nSELECT event_id FROM cloudtrail LIMIT 3\n",
    )
    .unwrap();
    let outdir = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["hunt", "run", "summary", "--queries"])
        .arg(queries.path())
        .args(["-o"])
        .arg(outdir.path())
        .args(["--lake"])
        .arg(lake.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = std::fs::read_to_string(outdir.path().join("summary.csv")).unwrap();
    assert!(summary.starts_with("hunt,"), "{summary}");
    let hunt = std::fs::read_to_string(outdir.path().join("summary-hunt.csv")).unwrap();
    assert_eq!(hunt.lines().count(), 4, "{hunt}");
}

#[test]
fn flow_parquet_with_double_counts_is_read_as_integers() {
    use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, StringArray};
    use std::sync::Arc;
    let s = |v: &[&str]| Arc::new(StringArray::from(v.to_vec())) as ArrayRef;
    let f = |v: &[f64]| Arc::new(Float64Array::from(v.to_vec())) as ArrayRef;
    let i = |v: &[i64]| Arc::new(Int64Array::from(v.to_vec())) as ArrayRef;
    let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter(vec![
        ("version", i(&[2, 2])),
        ("account_id", s(&["123456789010", "123456789010"])),
        ("interface_id", s(&["eni-1", "eni-1"])),
        ("srcaddr", s(&["203.0.113.9", "203.0.113.10"])),
        ("dstaddr", s(&["10.0.1.5", "10.0.1.5"])),
        ("srcport", f(&[40123.0, 40124.0])),
        ("dstport", f(&[443.0, 443.0])),
        ("protocol", f(&[6.0, 6.0])),
        ("packets", f(&[3.0, 3.0])),
        ("bytes", f(&[208.0, 208.5])),
        ("start", i(&[1_700_000_000, 1_700_000_000])),
        ("end", i(&[1_700_000_060, 1_700_000_060])),
        ("action", s(&["ACCEPT", "ACCEPT"])),
        ("log_status", s(&["OK", "OK"])),
    ])
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("AWSLogs/123456789010/vpcflowlogs/us-east-1/2023/11/14/123456789010_vpcflowlogs_us-east-1_fl-1_20231114T2210Z_a.log.parquet");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let mut w =
        datafusion::parquet::arrow::ArrowWriter::try_new(std::fs::File::create(&path).unwrap(), batch.schema(), None)
            .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, summary) = ingest(lake.path(), &[dir.path()]);
    assert_eq!(out.status.code(), Some(3), "{summary}");
    let rows = sql(lake.path(), "SELECT srcport, dstport, protocol, packets, bytes FROM flow_logs");
    assert_eq!(
        rows,
        vec![serde_json::json!({"srcport": 40123, "dstport": 443, "protocol": 6, "packets": 3, "bytes": 208})]
    );
    // The fraction is the record's error, named.
    let errors = sql(lake.path(), "SELECT reason FROM ingest_errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0]["reason"].as_str().unwrap().contains("208.5"), "{errors:?}");
}

#[test]
fn a_lake_that_is_not_whole_says_so_naming_the_file() {
    let case = case_folder();
    let damage = |how: &dyn Fn(&Path)| {
        let lake = tempfile::tempdir().unwrap();
        let (out, summary) = ingest(lake.path(), &[case.path()]);
        assert!(out.status.success(), "{summary}");
        let mut files: Vec<PathBuf> = Vec::new();
        for e in walk(&lake.path().join("flow_logs")) {
            if e.extension().is_some_and(|x| x == "parquet") {
                files.push(e);
            }
        }
        files.sort();
        let victim = files[0].clone();
        how(&victim);
        let name = victim.file_name().unwrap().to_string_lossy().to_string();
        for args in [
            vec!["sql", "SELECT count(*) FROM flow_logs"],
            vec!["correlate"],
            vec!["hunt", "run", "port_scan"],
            vec!["stats"],
        ] {
            let out = bin().args(&args).arg("--lake").arg(lake.path()).output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{args:?} answered on a damaged lake: {}",
                String::from_utf8_lossy(&out.stdout)
            );
            assert!(err.contains(&name) && err.contains("not whole"), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        }
        lake
    };
    damage(&|f: &Path| std::fs::write(f, b"").unwrap());
    damage(&|f: &Path| std::fs::remove_file(f).unwrap());
    damage(&|f: &Path| {
        let bytes = std::fs::read(f).unwrap();
        std::fs::write(f, &bytes[..bytes.len() / 2]).unwrap();
    });
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[cfg(unix)]
#[test]
fn index_files_are_as_readable_as_the_lake() {
    use std::os::unix::fs::PermissionsExt;
    let case = case_folder();
    let lake = tempfile::tempdir().unwrap();
    let (out, summary) = ingest(lake.path(), &[case.path()]);
    assert!(out.status.success(), "{summary}");
    let index = lake.path().join("index");
    let dir_mode = std::fs::metadata(&index).unwrap().permissions().mode() & 0o044;
    assert_eq!(dir_mode, 0o044, "the test expects a folder others can read");
    for f in walk(&index) {
        let mode = std::fs::metadata(&f).unwrap().permissions().mode();
        assert_eq!(mode & 0o044, 0o044, "{} is {:o}", f.display(), mode);
    }
}

#[cfg(target_os = "linux")]
#[test]
fn folders_swapped_during_the_walk_lead_nowhere() {
    use std::io::{BufRead, BufReader};
    let rec = |id: &str| {
        format!(
            r#"{{"Records":[{{"eventVersion":"1.08","eventID":"{id}","eventTime":"2026-03-10T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7"}}]}}"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let (evidence, outside) = (dir.path().join("evidence"), dir.path().join("outside"));
    for (sub, id) in [("a", "a-1"), ("c", "c-1")] {
        std::fs::create_dir_all(evidence.join(sub)).unwrap();
        std::fs::write(evidence.join(sub).join("x.json"), rec(id)).unwrap();
    }
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.json"), rec("secret-1")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let mut child = bin()
        .env("TRAILFLOW_PAUSEPOINT", "after_listing:1500")
        .args(["ingest", "--quiet", "--json", "--lake"])
        .arg(lake.path())
        .arg(&evidence)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("paused at") {
        line.clear();
    }
    assert!(line.contains("paused at after_listing"), "{line}");
    // While the walk holds the top folder's listing: `a` becomes a link out of the evidence, and
    // `c` a new folder holding other content.
    std::fs::rename(evidence.join("a"), evidence.join("a-moved")).unwrap();
    std::os::unix::fs::symlink(&outside, evidence.join("a")).unwrap();
    std::fs::rename(evidence.join("c"), evidence.join("c-moved")).unwrap();
    std::fs::create_dir_all(evidence.join("c")).unwrap();
    std::fs::write(evidence.join("c/x.json"), rec("swapped-1")).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(3));
    let ids: Vec<Value> = sql(lake.path(), "SELECT event_id FROM cloudtrail");
    assert!(ids.is_empty(), "read after the swap: {ids:?}");
    let errors = sql(lake.path(), "SELECT file, reason FROM ingest_errors ORDER BY file");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e["reason"].as_str().unwrap().contains("folder not read")), "{errors:?}");
}

#[cfg(unix)]
#[test]
fn sigma_rule_folders_are_read_within_bounds() {
    let rules = tempfile::tempdir().unwrap();
    std::fs::copy(root().join("tests/data/sigma/attacker_tooling.yml"), rules.path().join("attacker_tooling.yml"))
        .unwrap();
    // A rule of 1.3 KB whose aliases, each ten of the one before, would expand to 10^9 nodes.
    let mut laughs = String::from(
        "title: laughs\nlogsource:\n  product: aws\n  service: cloudtrail\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..10 {
        let p = i - 1;
        laughs
            .push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    laughs.push_str("detection:\n  sel:\n    eventName: *a9\n  condition: sel\n");
    std::fs::write(rules.path().join("laughs.yml"), laughs).unwrap();
    // Links back to the folder itself, twice.
    std::os::unix::fs::symlink(".", rules.path().join("loop")).unwrap();
    std::os::unix::fs::symlink("..", rules.path().join("up")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, summary) =
        ingest(lake.path(), &[&root().join("tests/data/real/cloudtrail/stratus-red-team-detonation-logs")]);
    assert!(out.status.success(), "{summary}");
    let started = std::time::Instant::now();
    let out = bin().args(["hunt", "run", "--sigma"]).arg(rules.path()).arg("--lake").arg(lake.path()).output().unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(60), "took {:?}", started.elapsed());
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("laughs.yml") && text.contains("aliases expand"), "{text}");
    assert!(text.contains("attacker_tooling") || text.contains("Calls from offensive tooling"), "{text}");
}

#[test]
fn large_zips_inside_zips_are_read_from_spilled_files() {
    use std::io::Write;
    let zip = |members: Vec<(&str, Vec<u8>, bool)>| -> Vec<u8> {
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, data, stored) in members {
            let method = if stored { zip::CompressionMethod::Stored } else { zip::CompressionMethod::Deflated };
            z.start_file(
                name,
                zip::write::SimpleFileOptions::default().compression_method(method).large_file(data.len() > (1 << 30)),
            )
            .unwrap();
            z.write_all(&data).unwrap();
        }
        z.finish().unwrap().into_inner()
    };
    let rec = br#"{"Records":[{"eventVersion":"1.08","eventID":"nested-1","eventTime":"2026-03-10T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7"}]}"#;
    // The innermost zip is 24 MiB (a stored pad): over the size held in memory, so it is spilled.
    let l1 = zip(vec![("ev.json", rec.to_vec(), true), ("pad.bin", vec![0u8; 24 << 20], true)]);
    assert!(l1.len() > 16 << 20);
    let l2 = zip(vec![("l1.zip", l1, false)]);
    let l3 = zip(vec![("l2.zip", l2, false)]);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("l3.zip"), l3).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, summary) = ingest(lake.path(), &[dir.path()]);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{summary}");
    let rows = sql(lake.path(), "SELECT event_id, source_file FROM cloudtrail");
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert!(rows[0]["source_file"].as_str().unwrap().ends_with("l3.zip!l2.zip!l1.zip!ev.json"), "{rows:?}");
}

#[cfg(unix)]
#[test]
fn a_damaged_index_is_rebuilt_or_refused_never_a_hang() {
    use std::os::unix::fs::PermissionsExt;
    let case = case_folder();
    let lake = tempfile::tempdir().unwrap();
    let (out, summary) = ingest(lake.path(), &[case.path()]);
    assert!(out.status.success(), "{summary}");
    let search = |lake: &Path| {
        let started = std::time::Instant::now();
        let out = bin()
            .args(["search", "--format", "json", "--limit", "100000", "event_source:ec2.amazonaws.com", "--lake"])
            .arg(lake)
            .output()
            .unwrap();
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "search took {:?}", started.elapsed());
        out
    };
    let want = count(lake.path(), "SELECT * FROM cloudtrail WHERE event_source = 'ec2.amazonaws.com'");
    // Flip bytes in the middle of the largest segment file (the posting lists live there).
    let damage = |lake: &Path| {
        let mut files: Vec<PathBuf> = walk(&lake.join("index"))
            .into_iter()
            .filter(|f| !f.file_name().unwrap().to_string_lossy().starts_with('.'))
            .collect();
        files.sort_by_key(|f| std::fs::metadata(f).unwrap().len());
        let big = files.last().unwrap().clone();
        let mut bytes = std::fs::read(&big).unwrap();
        let mid = bytes.len() / 2;
        for b in &mut bytes[mid..mid + 64] {
            *b ^= 0x5a;
        }
        std::fs::write(&big, bytes).unwrap();
    };
    // A copy to try read-only, damaged the same way (in a folder another user can reach).
    let top = tempfile::tempdir().unwrap();
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let ro = top.path().join("lake");
    assert!(std::process::Command::new("cp").arg("-r").arg(lake.path()).arg(&ro).status().unwrap().success());
    let names = |lake: &Path| {
        let mut n: Vec<String> =
            walk(&lake.join("index")).iter().map(|f| f.file_name().unwrap().to_string_lossy().to_string()).collect();
        n.sort();
        n
    };
    let before = names(lake.path());
    damage(lake.path());
    // A writable lake: rebuilt from the Parquet files (new segments), the same answer.
    let out = search(lake.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap().len() as i64, want);
    assert_ne!(names(lake.path()), before, "the damaged index was used as it was");
    // A read-only lake, searched by another user: refused in one line, no hang.
    damage(&ro);
    assert!(std::process::Command::new("chmod").args(["-R", "a-w,a+rX"]).arg(&ro).status().unwrap().success());
    let exe = env!("CARGO_BIN_EXE_trailflow");
    // SAFETY: geteuid takes nothing and cannot fail.
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", exe]);
        c
    } else {
        std::process::Command::new(exe)
    };
    let started = std::time::Instant::now();
    let out = cmd
        .env_remove("TRAILFLOW_LAKE")
        .args(["search", "event_source:ec2.amazonaws.com", "--lake"])
        .arg(&ro)
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    let _ = std::process::Command::new("chmod").args(["-R", "u+w"]).arg(&ro).status();
    assert!(!out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("damaged") && err.trim().lines().count() == 1, "{err}");
}
