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
        "{{\n  \"Records\": [\n{},\n    {{\n      \"eventID\": \"pretty-cut\",\n      \"resources\": [\n        {{\"ARN\": \"x\"}}\n      ],\n      \"eventTime\": \n{}\n  ]\n}}\n",
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
    assert!(!drives_terminal(&out.stdout) && !drives_terminal(&out.stderr), "ingest: {}", String::from_utf8_lossy(&out.stdout));
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
        assert!(!drives_terminal(&out.stdout) && !drives_terminal(&out.stderr), "{args:?}: {}", String::from_utf8_lossy(&out.stdout));
    }
    // The values are shown, escapes made visible, and kept whole in the lake and machine formats.
    let out = bin().args(["sql", "--lake", l, "SELECT user_agent FROM cloudtrail"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("curl␛[2J␛[31mred<U+009B>1m"), "{}", String::from_utf8_lossy(&out.stdout));
    let json = sql(lake.path(), "SELECT user_agent FROM cloudtrail");
    assert_eq!(json[0]["user_agent"], "curl\u{1b}[2J\u{1b}[31mred\u{9b}1m");
}
