//! `trailflow compact`: the small files of many runs merged per partition, with every row, every
//! search hit and every verdict unchanged; crash-safe at each step; and never under a reader.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use common::{bin, root, sql};

/// The sample loaded in several runs, as a case is loaded a few folders at a time.
fn lake_of_many_runs(dir: &Path) {
    let ct = root().join("sample-data/AWSLogs/111111111111/CloudTrail/us-east-1/2026/03");
    for part in [
        ct.join("10"),
        ct.join("11"),
        root().join("sample-data/AWSLogs/111111111111/vpcflowlogs"),
        root().join("sample-data"),
    ] {
        let (out, _) = common::ingest(dir, &[&part]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

fn files(lake: &Path) -> usize {
    walk(lake).into_iter().filter(|p| p.extension().is_some_and(|e| e == "parquet")).count()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// What a responder sees: every row of the stored tables, a search, the correlation.
fn fingerprint(lake: &Path) -> Vec<String> {
    let q = |s: &str| serde_json::to_string(&sql(lake, s)).unwrap();
    let search = bin()
        .args(["search", "event_name:CreateNetworkAclEntry", "--format", "csv", "--lake"])
        .arg(lake)
        .output()
        .unwrap();
    assert!(search.status.success());
    let correlate = bin().args(["correlate", "--format", "csv", "--lake"]).arg(lake).output().unwrap();
    assert!(correlate.status.success());
    vec![
        q("SELECT event_id, event_time, event_name, raw, source_file FROM cloudtrail ORDER BY event_id"),
        q("SELECT source_file, source_line, srcaddr, dstaddr, dstport, action, bytes, start_time FROM flow_logs \
                ORDER BY source_file, source_line"),
        q("SELECT count(*) AS n, count(DISTINCT source_file) AS f FROM ingested_files"),
        q("SELECT count(*) AS n FROM inventory"),
        String::from_utf8(search.stdout).unwrap(),
        String::from_utf8(correlate.stdout).unwrap(),
    ]
}

fn compact(lake: &Path) -> std::process::Output {
    bin().args(["compact", "--json", "--lake"]).arg(lake).output().unwrap()
}

#[test]
fn compaction_merges_small_files_and_changes_no_answer() {
    let dir = tempfile::tempdir().unwrap();
    lake_of_many_runs(dir.path());
    let before = fingerprint(dir.path());
    let files_before = files(dir.path());
    let out = compact(dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ct = summary["tables"].as_array().unwrap().iter().find(|t| t["table"] == "cloudtrail").unwrap();
    assert!(ct["files_after"].as_u64().unwrap() < ct["files_before"].as_u64().unwrap(), "{summary}");
    assert!(files(dir.path()) < files_before);
    assert_eq!(fingerprint(dir.path()), before);
    // A second compaction finds nothing to merge; an ingest after it still dedups.
    let again: serde_json::Value = serde_json::from_slice(&compact(dir.path()).stdout).unwrap();
    assert!(again["tables"].as_array().unwrap().iter().all(|t| t["partitions_merged"] == 0), "{again}");
    let (out, summary) = common::ingest(dir.path(), &[&root().join("sample-data")]);
    assert!(out.status.success());
    assert_eq!(summary["records"], 0, "{summary}");
    assert!(summary["files_already_in_lake"].as_u64().unwrap() > 2000, "{summary}");
    assert_eq!(fingerprint(dir.path()), before);
}

#[test]
fn a_compaction_killed_at_any_step_leaves_the_lake_whole() {
    for point in ["after_data_file", "after_commit_marker", "during_publish", "during_remove"] {
        let dir = tempfile::tempdir().unwrap();
        lake_of_many_runs(dir.path());
        let before = fingerprint(dir.path());
        let out = bin().args(["compact", "--lake"]).arg(dir.path()).env("TRAILFLOW_FAILPOINT", point).output().unwrap();
        assert!(!out.status.success(), "{point}: the failpoint did not fire");
        // The next command finishes or undoes the cut-off run: no row lost, none twice.
        assert_eq!(fingerprint(dir.path()), before, "{point}");
        let out = compact(dir.path());
        assert!(out.status.success(), "{point}: {}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(fingerprint(dir.path()), before, "{point}");
    }
}

#[test]
fn a_compaction_waits_for_the_processes_reading_the_lake() {
    let dir = tempfile::tempdir().unwrap();
    lake_of_many_runs(dir.path());
    // An open shell holds a session, and with it a reader's lease.
    let mut shell = bin()
        .args(["shell", "--lake"])
        .arg(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = shell.stdin.take().unwrap();
    writeln!(stdin, "SELECT count(*) FROM cloudtrail;").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut compaction = bin().args(["compact", "--lake"]).arg(dir.path()).stdout(Stdio::piped()).spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(compaction.try_wait().unwrap().is_none(), "the compaction did not wait for the reader");
    assert!(files(dir.path()) > 0);
    drop(stdin); // the shell ends
    shell.wait().unwrap();
    let status = compaction.wait().unwrap();
    assert!(status.success());
}

#[test]
fn runs_that_pile_small_files_into_a_partition_are_merged_as_they_go() {
    let dir = tempfile::tempdir().unwrap();
    let day = root().join("sample-data/AWSLogs/111111111111/CloudTrail/us-east-1/2026/03/10");
    let mut hours: Vec<std::path::PathBuf> = std::fs::read_dir(&day).unwrap().map(|e| e.unwrap().path()).collect();
    hours.sort();
    // One run per hour of CloudTrail files, as a collector that ships every hour would load it.
    let mut merged = 0;
    for chunk in hours.chunks(12).take(12) {
        let inputs: Vec<&Path> = chunk.iter().map(|p| p.as_path()).collect();
        let (out, summary) = common::ingest(dir.path(), &inputs);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        merged += summary["compacted_files"].as_u64().unwrap();
    }
    assert!(merged >= 7, "no run merged the small files: {merged}");
    let ct_files = walk(&dir.path().join("cloudtrail"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .count();
    assert!(ct_files < 8, "{ct_files} CloudTrail files after 12 runs");
    // The same events as one run over the same files (which copy of an event that two files
    // carry is kept may differ, so the file is left out).
    let one = tempfile::tempdir().unwrap();
    let inputs: Vec<&Path> = hours.iter().take(144).map(|p| p.as_path()).collect();
    common::ingest(one.path(), &inputs);
    let q = "SELECT event_id, raw FROM cloudtrail ORDER BY event_id";
    assert_eq!(sql(dir.path(), q), sql(one.path(), q));
}
