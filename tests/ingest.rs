//! End-to-end tests of `trailflow ingest`, `sql` and `stats`, driving the binary on the real
//! corpus (`tests/data/real`), the bundled `sample-data/` and generated broken inputs.

mod common;

use std::io::Write;
use std::path::Path;

use common::{bin, count, gz, ingest, killed_ingest, real, root, sql, truth};
use serde_json::Value;

fn rows_of(summary: &Value, table: &str) -> u64 {
    summary["rows"][table].as_u64().unwrap_or(0)
}

/// The distinct `eventID`s of files whose body is `{"Records":[...]}` or a bare array, by a plain
/// scan independent of trailflow's decoder.
fn plain_scan_event_ids(dir: &Path) -> std::collections::HashSet<String> {
    let mut ids = std::collections::HashSet::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        let recs = v.get("Records").cloned().unwrap_or(v);
        for r in recs.as_array().unwrap() {
            ids.insert(r["eventID"].as_str().unwrap().to_string());
        }
    }
    ids
}

#[test]
fn real_corpus_counts_per_source() {
    // (source folder, table, rows loaded, errors, warnings)
    let expected: &[(&str, &str, u64, u64, u64)] = &[
        ("cloudtrail/aws-cli-examples", "cloudtrail", 1, 0, 0),
        ("cloudtrail/awsdocs-cloudtrail-user-guide", "cloudtrail", 18, 0, 0),
        ("cloudtrail/cloudgrep", "cloudtrail", 2, 1, 0),
        ("cloudtrail/elastic-integrations", "cloudtrail", 11, 0, 0),
        ("cloudtrail/grafana-loki-lambda-promtail", "cloudtrail", 2, 0, 0),
        ("cloudtrail/invictus-ir-aws_dataset", "cloudtrail", 2900, 0, 0),
        ("cloudtrail/otel-collector-contrib", "cloudtrail", 1, 0, 0),
        ("cloudtrail/otrf-security-datasets", "cloudtrail", 103, 0, 0),
        ("cloudtrail/panther-analysis", "cloudtrail", 421, 25, 0),
        ("cloudtrail/stratus-red-team-detonation-logs", "cloudtrail", 310, 0, 0),
        ("cloudtrail/trailscraper", "cloudtrail", 2, 0, 0),
        ("flowlogs/awsdocs-vpc-user-guide", "flow_logs", 27, 0, 0),
        ("flowlogs/elastic-beats", "flow_logs", 6, 1, 0),
        ("flowlogs/elastic-integrations", "flow_logs", 33, 0, 4),
        ("flowlogs/grafana-loki-lambda-promtail", "flow_logs", 3, 0, 0),
        ("flowlogs/otel-collector-contrib", "flow_logs", 7, 3, 0),
    ];
    // Records that share an eventID but differ are distinct events and all kept: the AWS docs'
    // examples reuse ids (and leave some out), Panther's fixtures reuse "1" and "1111", Elastic's
    // redact them. Trailscraper's two copies of the same records are stored once, as is the event
    // (982f8066-...) that two of Panther's rule tests hold with the same content in another key order.
    for (dir, table, rows, errors, warnings) in expected {
        let lake = tempfile::tempdir().unwrap();
        let (out, s) = ingest(lake.path(), &[&real(dir)]);
        assert_eq!(rows_of(&s, table), *rows, "{dir}: {s}");
        assert_eq!(s["errors"].as_u64(), Some(*errors), "{dir}: {s}");
        assert_eq!(s["warnings"].as_u64(), Some(*warnings), "{dir}: {s}");
        assert_eq!(out.status.code(), Some(if *errors > 0 { 3 } else { 0 }), "{dir}");
        assert_eq!(count(lake.path(), &format!("SELECT * FROM {table}")), *rows as i64, "{dir}");
    }
    // Independent check: every eventID of the S3-delivered and bare-array corpora, stored once.
    for dir in ["cloudtrail/invictus-ir-aws_dataset", "cloudtrail/stratus-red-team-detonation-logs"] {
        let ids = plain_scan_event_ids(&real(dir));
        let lake = tempfile::tempdir().unwrap();
        ingest(lake.path(), &[&real(dir)]);
        let got = sql(lake.path(), "SELECT DISTINCT event_id FROM cloudtrail");
        let got: std::collections::HashSet<String> =
            got.iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect();
        assert_eq!(got, ids, "{dir}");
    }
}

#[test]
fn every_real_file_is_loaded_or_rejected_with_a_reason() {
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[&real("")]);
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(s["files_ignored"], 2, "README.md and NOTES.md are named in .trailflowignore");
    let mut files = Vec::new();
    fn walk(d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p, out) } else { out.push(p.to_string_lossy().to_string()) }
        }
    }
    walk(&real(""), &mut files);
    let accounted: std::collections::HashSet<String> = sql(
        lake.path(),
        "SELECT source_file AS f FROM ingested_files UNION SELECT source_file AS f FROM ingest_errors",
    )
    .iter()
    .map(|r| r["f"].as_str().unwrap().to_string())
    .collect();
    for f in files {
        let name = Path::new(&f).file_name().unwrap().to_string_lossy().to_string();
        if [".trailflowignore", "README.md", "NOTES.md"].contains(&name.as_str())
            && Path::new(&f).parent() == Some(&real(""))
        {
            continue;
        }
        assert!(accounted.contains(&f), "{f} is neither in ingested_files nor in ingest_errors");
    }
    // Rejected files carry a reason; partially read ones too.
    assert_eq!(count(lake.path(), "SELECT * FROM ingest_errors WHERE reason IS NULL OR reason = ''"), 0);
    let bad = sql(lake.path(), "SELECT reason FROM ingest_errors WHERE source_file LIKE '%bad_cloudtrail.json'");
    assert!(bad[0]["reason"].as_str().unwrap().contains("truncated JSON"));
    let digest =
        sql(lake.path(), "SELECT kind, status FROM ingested_files WHERE source_file LIKE '%cloudtrail_digest.json'");
    assert_eq!(digest[0]["kind"], "cloudtrail_digest");
    assert_eq!(digest[0]["status"], "not_events");
}

#[test]
fn real_shapes_are_flattened_faithfully() {
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&real("cloudtrail/elastic-integrations"), &real("flowlogs")]);
    let r = sql(
        lake.path(),
        "SELECT event_time, source_ip, user_arn, access_key_id, request_parameters, raw FROM cloudtrail WHERE \
            event_name = 'DeleteNetworkAclEntry'",
    );
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["source_ip"], "216.160.83.56");
    assert_eq!(r[0]["user_arn"], "arn:aws:iam::000000000:user/test@elastic.co");
    assert_eq!(r[0]["access_key_id"], "ACCESSKEYID");
    assert_eq!(
        r[0]["request_parameters"],
        r#"{"egress":false,"networkAclId":"acl-0af9cb843511d66d4","ruleNumber":100}"#
    );
    assert!(r[0]["event_time"].as_str().unwrap().starts_with("2024-10-14T09:00:16"));
    let raw: Value = serde_json::from_str(r[0]["raw"].as_str().unwrap()).unwrap();
    assert_eq!(raw["eventID"], "0b1e6921-5fc4-4946-995e-c4e825701372");
    // Flow logs: IPv6, NODATA and SKIPDATA kept, `-` as NULL, the doc's double space.
    assert!(count(lake.path(), "SELECT * FROM flow_logs WHERE srcaddr LIKE '%:%'") >= 1);
    assert!(
        count(
            lake.path(),
            "SELECT * FROM flow_logs WHERE log_status = 'NODATA' AND srcaddr IS NULL AND packets IS NULL"
        ) >= 1
    );
    assert!(count(lake.path(), "SELECT * FROM flow_logs WHERE log_status = 'SKIPDATA'") >= 1);
    assert_eq!(
        count(
            lake.path(),
            "SELECT * FROM flow_logs WHERE source_file LIKE '%custom_v3_tcp_flags.log' AND tcp_flags IS NOT NULL"
        ),
        8
    );
    let v5 = sql(
        lake.path(),
        "SELECT traffic_path, flow_direction, pkt_dst_aws_service, region, az_id FROM flow_logs WHERE source_file \
            LIKE '%custom_v5_traffic_path_flow_direction.log' ORDER BY start_time LIMIT 1",
    );
    assert_eq!(v5[0]["region"], "ap-southeast-2");
    assert!(v5[0]["traffic_path"].is_number() || v5[0]["traffic_path"].is_null());
}

#[test]
fn sample_data_matches_its_ground_truth_and_reingest_adds_nothing() {
    let t = truth();
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[&root().join("sample-data")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows_of(&s, "cloudtrail"), t["counts"]["cloudtrail_events"].as_u64().unwrap());
    assert_eq!(s["duplicate_events"], t["counts"]["cloudtrail_duplicate_copies"]);
    assert_eq!(rows_of(&s, "flow_logs"), t["counts"]["flow_records"].as_u64().unwrap());
    assert_eq!(rows_of(&s, "inventory"), t["counts"]["inventory_items"].as_u64().unwrap());
    assert_eq!(s["errors"], 0);
    assert_eq!(s["accounts"], serde_json::json!(["111111111111", "222222222222"]));
    assert_eq!(s["regions"], t["regions"]);
    for c in t["changes"].as_array().unwrap() {
        let id = c["event_id"].as_str().unwrap();
        let r = sql(lake.path(), &format!("SELECT event_name, user_arn FROM cloudtrail WHERE event_id = '{id}'"));
        assert_eq!(r.len(), 1, "{c}");
        assert_eq!(r[0]["event_name"], c["event_name"]);
        assert_eq!(r[0]["user_arn"], c["actor_arn"]);
    }
    // Both flow log formats are there, with vpc_id/subnet_id only where the format has them.
    assert!(count(lake.path(), "SELECT * FROM flow_logs WHERE vpc_id IS NULL") > 1000);
    assert!(
        count(lake.path(), "SELECT * FROM flow_logs WHERE vpc_id = 'vpc-0b1000000000000003' AND subnet_id IS NOT NULL")
            > 1000
    );
    // Files are partitioned by day and sorted by time.
    assert_eq!(count(lake.path(), "SELECT DISTINCT dt FROM cloudtrail"), 2);
    // The inventory's time was inferred: the snapshot reflects every NACL change.
    assert!(s["inventory_time_basis"].as_str().unwrap().contains("reflects all"), "{s}");

    let before = count(lake.path(), "SELECT * FROM ingested_files");
    let (out, s2) = ingest(lake.path(), &[&root().join("sample-data")]);
    assert!(out.status.success());
    assert_eq!(s2["files_loaded"], 0);
    assert_eq!(s2["files_already_in_lake"], s["files_seen"]);
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail"), rows_of(&s, "cloudtrail") as i64);
    assert_eq!(count(lake.path(), "SELECT * FROM flow_logs"), rows_of(&s, "flow_logs") as i64);
    assert_eq!(count(lake.path(), "SELECT * FROM ingested_files"), before);
}

#[test]
fn new_files_add_only_their_rows() {
    let lake = tempfile::tempdir().unwrap();
    let part = root().join("sample-data/AWSLogs/111111111111");
    let (_, a) = ingest(lake.path(), &[&part]);
    let (_, b) = ingest(lake.path(), &[&root().join("sample-data")]);
    let t = truth();
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail"), t["counts"]["cloudtrail_events"].as_i64().unwrap());
    assert_eq!(count(lake.path(), "SELECT * FROM flow_logs"), t["counts"]["flow_records"].as_i64().unwrap());
    assert_eq!(b["files_already_in_lake"], a["files_seen"]);
}

#[test]
fn nested_archives_give_the_same_lake_as_the_folder() {
    // sample-data's account-B folder as a .tar.gz inside a .zip, beside a plain member.
    let dir = tempfile::tempdir().unwrap();
    let src = root().join("sample-data/AWSLogs/aws-account-id=222222222222");
    let mut tar_bytes = Vec::new();
    {
        let mut tb = tar::Builder::new(&mut tar_bytes);
        tb.append_dir_all("AWSLogs/aws-account-id=222222222222", &src).unwrap();
        tb.finish().unwrap();
    }
    let tgz = gz(&tar_bytes);
    let zip_path = dir.path().join("evidence.zip");
    {
        let mut zw = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
        let opts = zip::write::SimpleFileOptions::default();
        zw.start_file("case/flows.tar.gz", opts).unwrap();
        zw.write_all(&tgz).unwrap();
        zw.start_file("case/inner/ct.json", opts).unwrap();
        zw.write_all(
            std::fs::read(real("cloudtrail/elastic-integrations/test-delete-network-acl-json.log")).unwrap().as_slice(),
        )
        .unwrap();
        zw.finish().unwrap();
    }
    let a = tempfile::tempdir().unwrap();
    let (out, sa) = ingest(a.path(), &[&zip_path]);
    assert!(out.status.success(), "{sa}");
    let b = tempfile::tempdir().unwrap();
    let (_, sb) = ingest(b.path(), &[&src]);
    assert_eq!(rows_of(&sa, "flow_logs"), rows_of(&sb, "flow_logs"));
    assert!(rows_of(&sa, "flow_logs") > 1000);
    assert_eq!(rows_of(&sa, "cloudtrail"), 1);
    let f = sql(a.path(), "SELECT source_file FROM flow_logs LIMIT 1");
    assert!(f[0]["source_file"].as_str().unwrap().contains("evidence.zip!case/flows.tar.gz!AWSLogs/"), "{f:?}");
}

#[test]
fn broken_inputs_are_reported_and_the_rest_is_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good_flow = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
                     2 1 eni-1 10.0.0.1 10.0.0.2 1000 443 6 1 40 1700000000 1700000060 ACCEPT OK\n\
                     2 1 eni-1 10.0.0.1 10.0.0.2 1000 443 six 1 40 1700000000 1700000060 ACCEPT OK\n\
                     2 1 eni-1 10.0.0.1 10.0.0.2 1001 443 6 1 40 1700000000 1700000060 ACCEPT OK\n";
    std::fs::write(d.join("flows.log"), good_flow).unwrap();
    let mut corrupt = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    corrupt.extend_from_slice(b"this is not deflate data at all");
    std::fs::write(d.join("corrupt.json.gz"), corrupt).unwrap();
    let big: String = (0..20000)
        .map(|i| format!("2 1 eni-1 10.0.0.1 10.0.0.2 {i} 443 6 1 40 1700000000 1700000060 ACCEPT OK\n"))
        .collect();
    let z = gz(big.as_bytes());
    std::fs::write(d.join("truncated.log.gz"), &z[..z.len() / 2]).unwrap();
    std::fs::write(d.join("invalid.json"), "{\"Records\": [ {\"eventID\": 1,, } ]}").unwrap();
    std::fs::write(d.join("empty.json"), "").unwrap();
    std::fs::write(
        d.join("notime.json"),
        r#"{"Records":[{"eventVersion":"1.08","eventID":"x1","eventName":"A","eventSource":"s"},{"eventVersion":"1.08","eventID":"x2","eventTime":"2024-01-01T00:00:00Z","eventName":"B","eventSource":"s"}]}"#,
    )
    .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[d]);
    assert_eq!(out.status.code(), Some(3), "{s}");
    assert_eq!(rows_of(&s, "cloudtrail"), 1);
    let flows = rows_of(&s, "flow_logs");
    assert!(flows > 2 && flows < 20002, "{flows}");
    let errs = sql(lake.path(), "SELECT file, line, record, reason FROM ingest_errors ORDER BY file, line");
    let find = |name: &str| {
        errs.iter()
            .find(|e| e["file"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name}: {errs:?}"))
            .clone()
    };
    assert!(find("corrupt.json.gz")["reason"].as_str().unwrap().contains("gzip"));
    assert!(find("truncated.log.gz")["reason"].as_str().unwrap().contains("truncated gzip"));
    assert!(find("invalid.json")["reason"].as_str().unwrap().contains("invalid JSON"));
    assert_eq!(find("empty.json")["reason"], "empty file");
    let nt = find("notime.json");
    assert_eq!(nt["record"], 1);
    assert_eq!(nt["reason"], "record has no eventTime");
    let fl = find("flows.log");
    assert_eq!(fl["line"], 3);
    assert!(fl["reason"].as_str().unwrap().contains("protocol"));
    // The one-line summary names the file and the reason.
    assert!(s["rejected"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains("flows.log:3")));
}

/// A lake's content, without the columns that say when or in which run it was written.
fn content(lake: &Path) -> String {
    let mut s = String::new();
    for (t, order) in [
        ("cloudtrail", "event_id"),
        ("flow_logs", "source_file, source_line"),
        ("inventory", "kind, resource_id"),
        ("ingest_errors", "source_file, line, record"),
        ("ingested_files", "source_file"),
    ] {
        // Which copy of an event delivered twice is kept (its source_file) depends on which file a
        // worker finished first; the event itself is the same.
        let cols = match t {
            "cloudtrail" => "* EXCLUDE (source_file, source_record)".to_string(),
            "ingested_files" => "file_id, source_file, kind, records, errors, status".to_string(),
            "ingest_errors" => "severity, source_file, line, record, reason".to_string(),
            _ => "*".to_string(),
        };
        let rows = serde_json::to_string(&sql(lake, &format!("SELECT {cols} FROM {t} ORDER BY {order}"))).unwrap();
        s.push_str(&format!("{t}: {} bytes, hash {:x}\n", rows.len(), xxhash_rust::xxh3::xxh3_64(rows.as_bytes())));
    }
    s
}

#[test]
fn a_killed_ingest_leaves_the_lake_whole_and_a_rerun_completes_it() {
    let input = root().join("sample-data");
    let clean = tempfile::tempdir().unwrap();
    ingest(clean.path(), &[&input]);
    let expected = content(clean.path());

    // Killed after writing data files, before the commit: the lake is as before (empty).
    for point in ["after_data_file", "after_commit_marker", "during_publish"] {
        let lake = killed_ingest(point, &input);
        let n = count(lake.path(), "SELECT * FROM cloudtrail");
        if point == "after_data_file" {
            assert_eq!(n, 0, "{point}");
        } else {
            // Committed: the next reader rolls the run forward.
            assert_eq!(n, truth()["counts"]["cloudtrail_events"].as_i64().unwrap(), "{point}");
        }
        let (out, _) = ingest(lake.path(), &[&input]);
        assert!(out.status.success());
        assert_eq!(content(lake.path()), expected, "{point}");
    }

    // A real SIGKILL at a moment during the run.
    for delay_ms in [30u64, 120, 300] {
        let lake = tempfile::tempdir().unwrap();
        let mut child = bin().args(["ingest", "--quiet", "--lake"]).arg(lake.path()).arg(&input).spawn().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        let _ = child.kill();
        let _ = child.wait();
        // Killed before it made the lake (a loaded machine may not have started it in time): no
        // lake, which readers say plainly, is as good as an empty one.
        let out = bin()
            .args(["sql", "--format", "csv", "--lake"])
            .arg(lake.path())
            .arg("SELECT count(*) FROM cloudtrail")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let n: i64 = if out.status.success() {
            String::from_utf8_lossy(&out.stdout).lines().nth(1).and_then(|l| l.trim().parse().ok()).unwrap()
        } else {
            assert!(stderr.contains("no lake at"), "killed after {delay_ms} ms: {stderr}");
            0
        };
        let full = truth()["counts"]["cloudtrail_events"].as_i64().unwrap();
        assert!(n == 0 || n == full, "half-written lake: {n} events");
        let (out, _) = ingest(lake.path(), &[&input]);
        assert!(out.status.success());
        assert_eq!(content(lake.path()), expected, "killed after {delay_ms} ms");
    }
}

#[test]
fn a_second_writer_gets_a_clear_error() {
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&real("cloudtrail/trailscraper")]);
    let lock = std::fs::File::options().write(true).open(lake.path().join("_trailflow/lock")).unwrap();
    lock.try_lock().unwrap();
    let (out, _) = ingest(lake.path(), &[&real("cloudtrail/cloudgrep")]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("being written by another trailflow process"), "{err}");
    assert_eq!(err.trim().lines().count(), 1);
    drop(lock);
    let (out, _) = ingest(lake.path(), &[&real("cloudtrail/cloudgrep")]);
    assert_eq!(out.status.code(), Some(3), "bad_cloudtrail.json is rejected, the rest loads");
}

#[test]
fn user_errors_get_one_line_and_a_nonzero_exit() {
    let lake = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec!["sql".into(), "--lake".into(), lake.path().join("nope").display().to_string(), "SELECT 1".into()],
            "no lake at",
        ),
        (
            vec!["ingest".into(), "--lake".into(), lake.path().display().to_string(), "/no/such/evidence".into()],
            "input not found",
        ),
    ];
    for (args, want) in cases {
        let out = bin().args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    ingest(lake.path(), &[&real("cloudtrail/trailscraper")]);
    for (q, want) in [
        ("SELECT * FROM no_such_table", "not found"),
        ("SELEC 1", "sql syntax: expected: an sql statement, found: selec at line 1, column 1"),
        ("SELECT 1 +", "sql syntax: expected: an expression, found: eof"),
        ("DROP TABLE cloudtrail", "the lake is read-only: drop is not run"),
        ("INSERT INTO cloudtrail SELECT * FROM cloudtrail", "the lake is read-only: insert is not run"),
    ] {
        let out = bin().args(["sql", "--lake"]).arg(lake.path()).arg(q).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{q}");
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(err.contains(want), "{q}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{q}: {err}");
    }
}

#[test]
fn stats_and_csv_output() {
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&root().join("sample-data")]);
    let out = bin().args(["stats", "--json", "--lake"]).arg(lake.path()).output().unwrap();
    assert!(out.status.success());
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ct = s["tables"].as_array().unwrap().iter().find(|t| t["table"] == "cloudtrail").unwrap();
    assert_eq!(ct["rows"], truth()["counts"]["cloudtrail_events"]);
    assert_eq!(s["interfaces"], 9);
    let out = bin()
        .args(["sql", "--format", "csv", "--lake"])
        .arg(lake.path())
        .arg("SELECT '=HYPERLINK(\"x\")' AS a, event_name FROM cloudtrail ORDER BY event_time LIMIT 2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("a,event_name\n"), "{text}");
    assert!(text.lines().nth(1).unwrap().starts_with("\"'=HYPERLINK"), "{text}");
}

#[test]
fn events_already_in_the_lake_are_not_stored_again_from_other_files() {
    // Run 1 loads trailscraper's plain copy; run 2 brings its gzip copy (other bytes, same events),
    // a pretty-printed copy (other layout, same events), and a record that shares an eventID with
    // a stored one but differs: only that one is new.
    let dir = real("cloudtrail/trailscraper");
    let plain = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap();
    let gz = plain.with_extension("json.gz");
    assert!(gz.is_file());
    let first = tempfile::tempdir().unwrap();
    std::fs::copy(&plain, first.path().join("a.json")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (_, s) = ingest(lake.path(), &[first.path()]);
    assert_eq!(rows_of(&s, "cloudtrail"), 2, "{s}");

    let second = tempfile::tempdir().unwrap();
    std::fs::copy(&gz, second.path().join("b.json.gz")).unwrap();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&plain).unwrap()).unwrap();
    // The same text with whitespace between its tokens (key order kept: a copy whose keys were
    // reordered by some tool counts as a different record).
    let text = std::fs::read_to_string(&plain).unwrap();
    std::fs::write(second.path().join("pretty.json"), text.replace(",\"", ",\n  \"").replace("\":", "\" : ")).unwrap();
    let mut changed = v["Records"][0].clone();
    changed["eventName"] = Value::from("SomethingElse");
    std::fs::write(second.path().join("changed.json"), serde_json::json!({ "Records": [changed] }).to_string())
        .unwrap();
    let (_, s) = ingest(lake.path(), &[second.path()]);
    assert_eq!(rows_of(&s, "cloudtrail"), 1, "{s}");
    assert_eq!(s["duplicate_events"], 4, "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail"), 3);
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail WHERE event_name = 'SomethingElse'"), 1);
}

/// `aws cloudtrail lookup-events` output as the CLI writes it: `{"Events":[...]}` pages, each
/// event's record as JSON text in `CloudTrailEvent`, beside the summary fields the CLI adds.
fn history_event(record: &Value) -> Value {
    serde_json::json!({
        "EventId": record["eventID"],
        "EventName": record["eventName"],
        "ReadOnly": record.get("readOnly").map(|r| r.to_string()).unwrap_or_default(),
        "EventTime": record["eventTime"].as_str().unwrap().replace('Z', "+00:00"),
        "EventSource": record["eventSource"],
        "Resources": [],
        "CloudTrailEvent": record.to_string(),
    })
}

#[test]
fn event_history_output_loads_every_event() {
    // A real trail file, and the same events as event history: two pages concatenated (pretty,
    // as the CLI prints them) and JSON Lines of events.
    let trail = real(
        "cloudtrail/invictus-ir-aws_dataset/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&trail).unwrap()).unwrap();
    let records = v["Records"].as_array().unwrap();
    assert!(records.len() > 10);
    let ids: std::collections::BTreeSet<String> =
        records.iter().map(|r| r["eventID"].as_str().unwrap().to_string()).collect();
    let events: Vec<Value> = records.iter().map(history_event).collect();
    let (first, second) = events.split_at(events.len() / 2);
    let pages = format!(
        "{}\n{}\n",
        serde_json::to_string_pretty(&serde_json::json!({"Events": first, "NextToken": "eyJ0b2tlbiI6IDF9"})).unwrap(),
        serde_json::to_string_pretty(&serde_json::json!({"Events": second})).unwrap()
    );
    let lines: String = events.iter().map(|e| format!("{e}\n")).collect();
    for (name, body) in [("lookup-events.json", pages), ("events.jsonl", lines)] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(name), body).unwrap();
        let lake = tempfile::tempdir().unwrap();
        let (out, s) = ingest(lake.path(), &[dir.path()]);
        assert!(out.status.success(), "{name}: {s}");
        assert_eq!(count(lake.path(), "SELECT * FROM ingest_errors"), 0, "{name}: {s}");
        let stored: std::collections::BTreeSet<String> = sql(lake.path(), "SELECT event_id FROM cloudtrail")
            .iter()
            .map(|r| r["event_id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(stored, ids, "{name}");
        // The record is the CloudTrailEvent, not the wrapper, and it says where it came from.
        let raw = sql(lake.path(), "SELECT raw FROM cloudtrail LIMIT 1");
        assert!(raw[0]["raw"].as_str().unwrap().contains("\"eventVersion\""), "{name}");
        let delivery = sql(lake.path(), "SELECT DISTINCT delivery FROM cloudtrail");
        assert_eq!(delivery, vec![serde_json::json!({"delivery": "event_history"})], "{name}");
    }
}

#[test]
fn the_aws_cli_documented_event_history_output_loads() {
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&real("cloudtrail/aws-cli-examples/lookup-events.json")]);
    let rows = sql(
        lake.path(),
        "SELECT event_id, event_name, event_time, delivery, user_arn, json_get_str(response_elements, 'ConsoleLogin') \
            AS outcome FROM cloudtrail",
    );
    assert_eq!(
        rows,
        vec![serde_json::json!({"event_id": "654ccbc0-ba0d-486a-9076-dbf7274677a7", "event_name": "ConsoleLogin",
        "event_time": "2016-01-26T21:42:12Z", "delivery": "event_history", "user_arn": "arn:aws:sts::123456789012:assumed-role/my-role/my-session-name", "outcome": "Success"})]
    );
}

#[test]
fn an_event_history_entry_without_a_record_is_rejected_alone() {
    let dir = tempfile::tempdir().unwrap();
    let good = history_event(
        &serde_json::json!({"eventVersion": "1.08", "eventID": "e-1", "eventTime": "2024-01-01T00:00:00Z", "eventSource": "ec2.amazonaws.com", "eventName": "DescribeVpcs"}),
    );
    let bad = serde_json::json!({"EventId": "e-2", "CloudTrailEvent": "not json"});
    std::fs::write(dir.path().join("history.json"), serde_json::json!({"Events": [good, bad]}).to_string()).unwrap();
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[dir.path()]);
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail"), 1);
    let errors = sql(lake.path(), "SELECT reason FROM ingest_errors");
    assert_eq!(errors.len(), 1);
    assert!(errors[0]["reason"].as_str().unwrap().contains("CloudTrailEvent"), "{errors:?}");
}

#[test]
fn an_event_in_event_history_and_in_a_trail_file_is_stored_once() {
    // Event history's CloudTrailEvent is the record's own text: the same event as the trail
    // delivered it, so it is one event, whichever came first.
    let trail = real(
        "cloudtrail/invictus-ir-aws_dataset/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json",
    );
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(rename = "Records")]
        records: Vec<Box<serde_json::value::RawValue>>,
    }
    let body: Body = serde_json::from_str(&std::fs::read_to_string(&trail).unwrap()).unwrap();
    let events: Vec<Value> = body
        .records
        .iter()
        .map(|r| {
            let record: Value = serde_json::from_str(r.get()).unwrap();
            let mut e = history_event(&record);
            e["CloudTrailEvent"] = Value::from(r.get());
            e
        })
        .collect();
    // The same events as event history may write them: every object's keys in another order.
    fn reversed(v: &Value) -> String {
        match v {
            Value::Object(m) => format!(
                "{{{}}}",
                m.iter()
                    .rev()
                    .map(|(k, v)| format!("{}:{}", Value::from(k.as_str()), reversed(v)))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Value::Array(a) => format!("[{}]", a.iter().map(reversed).collect::<Vec<_>>().join(",")),
            other => other.to_string(),
        }
    }
    let reordered: Vec<Value> = body
        .records
        .iter()
        .map(|r| {
            let record: Value = serde_json::from_str(r.get()).unwrap();
            let text = reversed(&record);
            assert_ne!(text, r.get());
            let mut e = history_event(&record);
            e["CloudTrailEvent"] = Value::from(text);
            e
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&trail, dir.path().join("trail.json")).unwrap();
    std::fs::write(dir.path().join("history.json"), serde_json::json!({ "Events": events }).to_string()).unwrap();
    std::fs::write(dir.path().join("history-reordered.json"), serde_json::json!({ "Events": reordered }).to_string())
        .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (_, s) = ingest(lake.path(), &[dir.path()]);
    assert_eq!(rows_of(&s, "cloudtrail"), body.records.len() as u64, "{s}");
    assert_eq!(s["duplicate_events"], 2 * body.records.len() as u64, "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM event_copies"), 2 * body.records.len() as i64);
    assert_eq!(count(lake.path(), "SELECT DISTINCT event_id FROM event_copies"), body.records.len() as i64);
}

#[test]
fn every_row_says_how_its_record_was_delivered() {
    // One real record in each wrapper AWS and the usual exporters put CloudTrail records in.
    let trail = real(
        "cloudtrail/invictus-ir-aws_dataset/218007301253_CloudTrail_us-east-1_20230710T1150Z_1vnLavRRp0ek1mP4.json",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&trail).unwrap()).unwrap();
    let record = v["Records"][0].clone();
    let with_id = |id: &str| {
        let mut r = record.clone();
        r["eventID"] = Value::from(id);
        r
    };
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("trail.json", serde_json::json!({"Records": [with_id("t-1")]}).to_string()),
        ("history.json", serde_json::json!({"Events": [history_event(&with_id("h-1"))]}).to_string()),
        ("eventbridge.json", serde_json::json!({"version": "0", "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": with_id("e-1")}).to_string()),
        ("cloudwatch.json", serde_json::json!({"messageType": "DATA_MESSAGE", "owner": "111111111111", "logGroup": "trail", "logStream": "s", "subscriptionFilters": ["f"], "logEvents": [{"id": "1", "timestamp": 1, "message": with_id("c-1").to_string()}]}).to_string()),
        ("export.jsonl", format!("{}\n", with_id("x-1"))),
    ];
    for (name, body) in &files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[dir.path()]);
    let rows = sql(lake.path(), "SELECT event_id, delivery FROM cloudtrail ORDER BY event_id");
    let got: Vec<(String, String)> = rows
        .iter()
        .map(|r| (r["event_id"].as_str().unwrap().to_string(), r["delivery"].as_str().unwrap().to_string()))
        .collect();
    let want = [
        ("c-1", "cloudwatch_logs"),
        ("e-1", "eventbridge"),
        ("h-1", "event_history"),
        ("t-1", "trail"),
        ("x-1", "export"),
    ];
    assert_eq!(got, want.map(|(a, b)| (a.to_string(), b.to_string())).to_vec());
}

#[test]
fn records_without_an_event_id_are_stored_once_whatever_their_layout_or_key_order() {
    let record = r#"{"eventVersion":"1.08","eventTime":"2024-01-01T00:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","requestParameters":{"bucketName":"b","key":"k"}}"#;
    let pretty = serde_json::to_string_pretty(&serde_json::from_str::<Value>(record).unwrap()).unwrap();
    let reordered = r#"{"requestParameters":{"key":"k","bucketName":"b"},"eventName":"GetObject","eventSource":"s3.amazonaws.com","eventTime":"2024-01-01T00:00:00Z","eventVersion":"1.08"}"#;
    let other = record.replace("\"k\"", "\"other-key\"");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), format!("{{\"Records\":[{record}]}}")).unwrap();
    std::fs::write(dir.path().join("b.json"), format!("{{\"Records\":[\n{pretty}\n]}}")).unwrap();
    std::fs::write(dir.path().join("c.jsonl"), format!("{reordered}\n{other}\n")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (_, s) = ingest(lake.path(), &[dir.path()]);
    assert_eq!(rows_of(&s, "cloudtrail"), 2, "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail WHERE event_id LIKE 'no-event-id-%'"), 2);
}

/// The AWS documentation's default-format flow records (header left out, as CloudWatch Logs
/// holds them: one record a log event), and a real CloudTrail record.
fn cloudwatch_material() -> (Vec<String>, Value) {
    let text = std::fs::read_to_string(real("flowlogs/awsdocs-vpc-user-guide/default_v2_examples.log")).unwrap();
    let flows: Vec<String> = text.lines().skip(1).filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
    let trail = real(
        "cloudtrail/invictus-ir-aws_dataset/218007301253_CloudTrail_us-east-1_20230710T1150Z_1vnLavRRp0ek1mP4.json",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&trail).unwrap()).unwrap();
    (flows, v["Records"][0].clone())
}

#[test]
fn cloudwatch_logs_exports_of_both_sources_load() {
    let (flows, record) = cloudwatch_material();
    let dir = tempfile::tempdir().unwrap();
    // `aws logs filter-log-events` on a trail's log group, and `get-log-events` on a flow log's.
    let trail_events = serde_json::json!({
        "events": [{"logStreamName": "218007301253_CloudTrail_us-east-1", "timestamp": 1688989807000u64, "message": record.to_string(), "ingestionTime": 1688989810000u64, "eventId": "37683038480370524850532357357453924457924470425427312640"}],
        "searchedLogStreams": [{"logStreamName": "218007301253_CloudTrail_us-east-1", "searchedCompletely": true}]
    });
    std::fs::write(dir.path().join("filter-log-events.json"), serde_json::to_string_pretty(&trail_events).unwrap())
        .unwrap();
    let flow_events: Vec<Value> = flows
        .iter()
        .enumerate()
        .map(|(i, m)| serde_json::json!({"timestamp": 1418530070000u64 + i as u64, "message": m, "ingestionTime": 1418530080000u64}))
        .collect();
    let page = serde_json::json!({"events": flow_events, "nextForwardToken": "f/3800", "nextBackwardToken": "b/3799"});
    std::fs::write(dir.path().join("get-log-events.json"), page.to_string()).unwrap();
    // The S3 export task's files: `<time> <message>` lines, gzip.
    let mut export = String::new();
    for f in &flows {
        export.push_str(&format!("2014-12-14T04:07:50.000Z {f}\n"));
    }
    std::fs::create_dir_all(dir.path().join("exportedlogs/task-1/eni-1235b8ca123456789-all")).unwrap();
    std::fs::write(dir.path().join("exportedlogs/task-1/eni-1235b8ca123456789-all/000000.gz"), gz(export.as_bytes()))
        .unwrap();
    let mut ct_export = record.clone();
    ct_export["eventID"] = Value::from("exported-1");
    std::fs::create_dir_all(dir.path().join("exportedlogs/task-2/trail")).unwrap();
    std::fs::write(
        dir.path().join("exportedlogs/task-2/trail/000000.gz"),
        gz(format!("2023-07-10T11:50:07.000Z {ct_export}\n").as_bytes()),
    )
    .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[dir.path()]);
    assert!(out.status.success(), "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM ingest_errors WHERE severity = 'error'"), 0, "{s}");
    // Both copies of the flow records are there (flow records are not deduplicated), and both
    // CloudTrail records, marked as delivered through CloudWatch Logs.
    assert_eq!(count(lake.path(), "SELECT * FROM flow_logs"), 2 * flows.len() as i64);
    assert_eq!(
        count(lake.path(), "SELECT * FROM flow_logs WHERE interface_id IS NULL OR account_id <> '123456789010'"),
        0
    );
    let ct = sql(lake.path(), "SELECT event_id, delivery FROM cloudtrail ORDER BY event_id");
    assert_eq!(ct.len(), 2, "{ct:?}");
    assert!(ct.iter().all(|r| r["delivery"] == "cloudwatch_logs"), "{ct:?}");
}

#[test]
fn flow_records_as_json_objects_are_read_by_field_name() {
    let (flows, _) = cloudwatch_material();
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
        action log-status";
    let names: Vec<&str> = header.split(' ').collect();
    let dir = tempfile::tempdir().unwrap();
    // AWS's names (hyphens, numbers as numbers) in one file, the lake's names in another, each
    // with a field trailflow does not know.
    let mut hyphens = String::new();
    let mut underscores = String::new();
    for line in &flows {
        let mut a = serde_json::Map::new();
        let mut b = serde_json::Map::new();
        for (k, v) in names.iter().zip(line.split(' ')) {
            let value = v.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::from(v));
            a.insert(k.to_string(), value.clone());
            let column = match *k {
                "start" | "end" => k.to_string(),
                other => other.replace('-', "_"),
            };
            b.insert(column, value);
        }
        a.insert("firehose-stream".into(), Value::from("flows"));
        b.insert("siem_tag".into(), Value::from("x"));
        hyphens.push_str(&format!("{}\n", Value::Object(a)));
        underscores.push_str(&format!("{}\n", Value::Object(b)));
    }
    std::fs::write(dir.path().join("firehose.json"), hyphens).unwrap();
    std::fs::write(dir.path().join("siem.json"), underscores).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (_, s) = ingest(lake.path(), &[dir.path()]);
    assert_eq!(count(lake.path(), "SELECT * FROM ingest_errors WHERE severity = 'error'"), 0, "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM flow_logs"), 2 * flows.len() as i64, "{s}");
    // The same values as the text records give.
    let text_lake = tempfile::tempdir().unwrap();
    ingest(text_lake.path(), &[&real("flowlogs/awsdocs-vpc-user-guide/default_v2_examples.log")]);
    let q = "SELECT srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, start_time, end_time, action, \
        log_status FROM flow_logs ORDER BY 1, 2, 3, 4";
    let sorted = |rows: Vec<Value>| {
        let mut t: Vec<String> = rows.iter().map(Value::to_string).collect();
        t.sort();
        t
    };
    let text_rows = sql(text_lake.path(), q);
    let doubled = sorted(text_rows.iter().flat_map(|r| [r.clone(), r.clone()]).collect());
    assert_eq!(sorted(sql(lake.path(), q)), doubled);
    // Unknown fields are kept.
    assert_eq!(count(lake.path(), "SELECT * FROM flow_logs WHERE extra_fields IS NOT NULL"), 2 * flows.len() as i64);
}

#[test]
fn flow_logs_in_cloudwatch_are_read_in_the_format_given() {
    // A flow log of a custom format delivered to CloudWatch Logs: no header line anywhere, so the
    // layout comes from the flow log's LogFormat, given with --flow-format.
    let file = real("flowlogs/awsdocs-vpc-user-guide/custom_v5_traffic_path_flow_direction.log");
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next().unwrap();
    let records: Vec<&str> = lines.collect();
    let events: Vec<Value> =
        records.iter().map(|m| serde_json::json!({"timestamp": 1616729349000u64, "message": m})).collect();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("get-log-events.json"), serde_json::json!({ "events": events }).to_string())
        .unwrap();
    let log_format: String = header.split(' ').map(|f| format!("${{{f}}}")).collect::<Vec<_>>().join(" ");

    // Without the format: each record is rejected, saying why.
    let rejected_lake = tempfile::tempdir().unwrap();
    let lake = &rejected_lake;
    ingest(lake.path(), &[dir.path()]);
    assert_eq!(count(lake.path(), "SELECT * FROM flow_logs"), 0);
    let reasons = sql(lake.path(), "SELECT DISTINCT reason FROM ingest_errors");
    assert!(reasons.iter().any(|r| r["reason"].as_str().unwrap().contains("no header line")), "{reasons:?}");

    // With it: every record, with the values the text file with its header gives.
    let lake = tempfile::tempdir().unwrap();
    let out = bin()
        .args(["ingest", "--quiet", "--flow-format", &log_format, "--lake"])
        .arg(lake.path())
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text_lake = tempfile::tempdir().unwrap();
    ingest(text_lake.path(), &[&file]);
    let q = "SELECT srcaddr, dstaddr, traffic_path, flow_direction, pkt_src_aws_service, az_id FROM flow_logs ORDER \
        BY srcaddr";
    assert_eq!(sql(lake.path(), q), sql(text_lake.path(), q));
    assert_eq!(sql(lake.path(), q).len(), records.len());

    // Or with the flow log's description already in the lake: `describe-flow-logs` says how it
    // delivers to CloudWatch Logs, and in which format.
    let inventory = tempfile::tempdir().unwrap();
    let described = serde_json::json!({"FlowLogs": [{"CreationTime": "2021-03-26T03:20:00.000Z", "DeliverLogsPermissionArn": "arn:aws:iam::123456789012:role/flow-logs",
        "DeliverLogsStatus": "SUCCESS", "FlowLogId": "fl-0123456789abcdef0", "FlowLogStatus": "ACTIVE", "LogGroupName": "vpc-flow-logs",
        "ResourceId": "vpc-abcdefab012345678", "TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs", "LogFormat": log_format, "MaxAggregationInterval": 60}]});
    std::fs::write(inventory.path().join("describe-flow-logs.json"), described.to_string()).unwrap();
    let described_lake = tempfile::tempdir().unwrap();
    ingest(described_lake.path(), &[inventory.path()]);
    ingest(described_lake.path(), &[dir.path()]);
    assert_eq!(sql(described_lake.path(), q), sql(text_lake.path(), q));

    // Or in the same run: the flow log's description handed over beside its export.
    let both = tempfile::tempdir().unwrap();
    std::fs::copy(inventory.path().join("describe-flow-logs.json"), both.path().join("describe-flow-logs.json"))
        .unwrap();
    std::fs::copy(dir.path().join("get-log-events.json"), both.path().join("get-log-events.json")).unwrap();
    let same_run = tempfile::tempdir().unwrap();
    let (out, s) = ingest(same_run.path(), &[both.path()]);
    assert!(out.status.success(), "{s}");
    assert_eq!(s["errors"], 0, "{s}");
    assert_eq!(sql(same_run.path(), q), sql(text_lake.path(), q));
    assert_eq!(count(same_run.path(), "SELECT * FROM ingested_files WHERE status = 'loaded'"), 2);

    // Or after the fact: the file rejected in the first lake is read again once the lake knows
    // the format (a rejected file is not "already in the lake"); its problems are not recorded twice.
    let (first_lake, errors_before) = (&rejected_lake, count(rejected_lake.path(), "SELECT * FROM ingest_errors"));
    let files_before = count(first_lake.path(), "SELECT * FROM ingested_files");
    let (_, s) = ingest(first_lake.path(), &[dir.path()]);
    assert_eq!(s["files_already_in_lake"], 0, "{s}");
    assert_eq!(count(first_lake.path(), "SELECT * FROM flow_logs"), 0);
    assert_eq!(count(first_lake.path(), "SELECT * FROM ingest_errors"), errors_before);
    assert_eq!(count(first_lake.path(), "SELECT * FROM ingested_files"), files_before);
    ingest(first_lake.path(), &[inventory.path()]);
    ingest(first_lake.path(), &[dir.path()]);
    assert_eq!(sql(first_lake.path(), q), sql(text_lake.path(), q));
    let (_, s) = ingest(first_lake.path(), &[dir.path()]);
    assert_eq!(s["files_already_in_lake"], 1, "{s}");
    assert_eq!(sql(first_lake.path(), q).len(), records.len());

    // A format naming a field AWS does not document is refused in one line.
    let out = bin()
        .args(["ingest", "--quiet", "--flow-format", "${version} ${no-such-field}", "--lake"])
        .arg(lake.path())
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-field"), "{err}");
}

/// A Parquet file as AWS writes flow logs in that format: the fields' names with `_`, `int` and
/// `bigint` columns, `start`/`end` in Unix seconds, GZIP pages; made from text records.
fn flow_parquet(header: &str, lines: &[&str]) -> Vec<u8> {
    use datafusion::arrow::array::{ArrayRef, Int32Array, Int64Array, StringArray};
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::basic::{Compression, GzipLevel};
    use datafusion::parquet::file::properties::WriterProperties;
    let names: Vec<&str> = header.split(' ').collect();
    let mut cols: Vec<(String, ArrayRef)> = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let vals: Vec<Option<&str>> = lines.iter().map(|l| l.split(' ').nth(i).filter(|v| *v != "-")).collect();
        let column = name.replace('-', "_");
        let array: ArrayRef = match *name {
            "version" | "srcport" | "dstport" | "tcp-flags" | "traffic-path" => {
                std::sync::Arc::new(vals.iter().map(|v| v.map(|x| x.parse::<i32>().unwrap())).collect::<Int32Array>())
            }
            "protocol" | "packets" | "bytes" | "start" | "end" => {
                std::sync::Arc::new(vals.iter().map(|v| v.map(|x| x.parse::<i64>().unwrap())).collect::<Int64Array>())
            }
            _ => std::sync::Arc::new(vals.iter().copied().collect::<StringArray>()),
        };
        cols.push((column, array));
    }
    let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter(cols).unwrap();
    let props = WriterProperties::builder().set_compression(Compression::GZIP(GzipLevel::default())).build();
    let mut out = Vec::new();
    let mut w = ArrowWriter::try_new(&mut out, batch.schema(), Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

#[test]
fn parquet_flow_logs_load_as_their_text_records_do() {
    for name in ["default_v2_examples.log", "custom_v5_traffic_path_flow_direction.log"] {
        let file = real(&format!("flowlogs/awsdocs-vpc-user-guide/{name}"));
        let text = std::fs::read_to_string(&file).unwrap();
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header = lines.next().unwrap();
        let records: Vec<&str> = lines.collect();
        let dir = tempfile::tempdir().unwrap();
        let hive = dir.path().join("AWSLogs/aws-account-id=123456789010/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/month=05/day=01/hour=10");
        std::fs::create_dir_all(&hive).unwrap();
        std::fs::write(
            hive.join("123456789010_vpcflowlogs_us-east-1_fl-1234abcd_20240501T1000Z_abcdef01.log.parquet"),
            flow_parquet(header, &records),
        )
        .unwrap();
        let lake = tempfile::tempdir().unwrap();
        let (out, s) = ingest(lake.path(), &[dir.path()]);
        assert!(out.status.success(), "{name}: {s}");
        let text_lake = tempfile::tempdir().unwrap();
        ingest(text_lake.path(), &[&file]);
        // The region: the text file's records do not say it and its path names none; the
        // Parquet file's key (`aws-region=us-east-1`) gives it to the formats that lack it.
        let q = "SELECT * EXCLUDE (source_file, source_line, dt, region) FROM flow_logs ORDER BY start_time, srcaddr, \
            dstaddr, log_status";
        let (got, want) = (sql(lake.path(), q), sql(text_lake.path(), q));
        assert_eq!(got.len(), records.len(), "{name}");
        assert_eq!(got, want, "{name}");
        // A record's own field wins over the key.
        let regions = "SELECT DISTINCT region FROM flow_logs";
        if header.contains("region") {
            assert_eq!(sql(lake.path(), regions), sql(text_lake.path(), regions), "{name}");
        } else {
            assert_eq!(sql(lake.path(), regions), vec![serde_json::json!({"region": "us-east-1"})], "{name}");
            assert_eq!(sql(text_lake.path(), regions), vec![serde_json::json!({})], "{name}");
        }
    }
}

#[test]
fn a_parquet_file_that_is_not_a_flow_log_is_rejected_saying_what_it_is() {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter(vec![
        ("class_uid", std::sync::Arc::new(StringArray::from(vec!["2001"])) as ArrayRef),
        ("class_name", std::sync::Arc::new(StringArray::from(vec!["Security Finding"])) as ArrayRef),
    ])
    .unwrap();
    let mut bytes = Vec::new();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ocsf.parquet"), &bytes).unwrap();
    std::fs::write(dir.path().join("broken.parquet"), &bytes[..bytes.len() / 2]).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, _) = ingest(lake.path(), &[dir.path()]);
    assert_eq!(out.status.code(), Some(3));
    let reasons: Vec<String> = sql(lake.path(), "SELECT file, reason FROM ingest_errors ORDER BY file")
        .iter()
        .map(|r| format!("{} {}", r["file"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("broken.parquet") && reasons[0].contains("unreadable Parquet"), "{reasons:?}");
    assert!(
        reasons[1].contains("ocsf.parquet") && reasons[1].contains("OCSF class 2001 (Security Finding)"),
        "{reasons:?}"
    );
}

/// Parquet written from JSON Lines, nested as the JSON nests (as Security Lake's OCSF tables are).
fn parquet_of_json(rows: &[Value]) -> Vec<u8> {
    use datafusion::arrow::json::ReaderBuilder;
    use datafusion::arrow::json::reader::infer_json_schema_from_iterator;
    let schema = std::sync::Arc::new(infer_json_schema_from_iterator(rows.iter().map(|r| Ok(r.clone()))).unwrap());
    let mut decoder = ReaderBuilder::new(schema.clone()).build_decoder().unwrap();
    decoder.serialize(rows).unwrap();
    let batch = decoder.flush().unwrap().unwrap();
    let mut out = Vec::new();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    out
}

/// A CloudTrail record as Security Lake writes it in OCSF 1.1 (API Activity), by the mapping OCSF
/// documents for CloudTrail.
fn ocsf_api_activity(r: &Value) -> Value {
    let ms = chrono::DateTime::parse_from_rfc3339(r["eventTime"].as_str().unwrap()).unwrap().timestamp_millis();
    let u = &r["userIdentity"];
    serde_json::json!({
        "class_uid": 6003, "class_name": "API Activity", "category_uid": 6, "activity_id": 99, "severity_id": 1,
        "time": ms,
        "metadata": {"uid": r["eventID"], "version": "1.1.0", "product": {"name": "CloudTrail", "vendor_name": "AWS", "version": r["eventVersion"], "feature": {"name": r["eventCategory"]}}, "event_code": r["eventType"]},
        "api": {"operation": r["eventName"], "service": {"name": r["eventSource"]}, "request": {"uid": r["requestID"], "data": r.get("requestParameters").map(|p| p.to_string())}, "response": {"error": r.get("errorCode"), "message": r.get("errorMessage"), "data": r.get("responseElements").filter(|x| !x.is_null()).map(|p| p.to_string())}},
        "actor": {"user": {"type": u["type"], "uid": u["arn"], "uid_alt": u["principalId"], "name": u.get("userName"), "credential_uid": u.get("accessKeyId"), "account": {"uid": u.get("accountId")}}, "invoked_by": u.get("invokedBy")},
        "src_endpoint": {"ip": r["sourceIPAddress"]},
        "http_request": {"user_agent": r["userAgent"]},
        "cloud": {"provider": "AWS", "region": r["awsRegion"], "account": {"uid": r["recipientAccountId"]}},
        "unmapped": {"readOnly": r.get("readOnly").map(|x| x.to_string()), "managementEvent": r.get("managementEvent").map(|x| x.to_string())},
    })
}

/// A flow record (version 2 default format) as OCSF 1.1 Network Activity, by the mapping OCSF
/// documents; times in epoch units of `1/unit` seconds (OCSF says milliseconds, some mappers
/// write seconds).
fn ocsf_network_activity(line: &str, unit: i64) -> Value {
    let f: Vec<&str> = line.split(' ').collect();
    let n = |i: usize| f[i].parse::<i64>().unwrap();
    serde_json::json!({
        "class_uid": 4001, "class_name": "Network Activity", "time": n(10) * unit,
        "metadata": {"product": {"version": f[0], "name": "Amazon VPC"}, "version": "1.1.0"},
        "cloud": {"account": {"uid": f[1]}, "region": "us-east-1"},
        "src_endpoint": {"ip": f[3], "port": n(5), "interface_uid": f[2]},
        "dst_endpoint": {"ip": f[4], "port": n(6)},
        "connection_info": {"protocol_num": n(7), "direction": "Outbound"},
        "traffic": {"packets": n(8), "bytes": n(9)},
        "start_time": n(10) * unit, "end_time": n(11) * unit,
        "action": if f[12] == "ACCEPT" { "Allowed" } else { "Denied" },
        "status_code": f[13],
    })
}

#[test]
fn ocsf_records_in_json_load_as_in_parquet() {
    // The same OCSF events as JSON Lines (as Security Lake subscribers and SIEM exports write
    // them): CloudTrail's, and flows with their times in milliseconds and in seconds.
    let trail = real(
        "cloudtrail/invictus-ir-aws_dataset/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&trail).unwrap()).unwrap();
    let records = v["Records"].as_array().unwrap();
    let flows = std::fs::read_to_string(real("flowlogs/awsdocs-vpc-user-guide/default_v2_examples.log")).unwrap();
    let ok_lines: Vec<&str> = flows.lines().skip(1).filter(|l| l.ends_with(" OK")).collect();
    let jsonl = |vals: Vec<Value>| vals.iter().map(|v| format!("{v}\n")).collect::<String>();
    let parquet_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        parquet_dir.path().join("api.parquet"),
        parquet_of_json(&records.iter().map(ocsf_api_activity).collect::<Vec<_>>()),
    )
    .unwrap();
    std::fs::write(
        parquet_dir.path().join("net.parquet"),
        parquet_of_json(&ok_lines.iter().map(|l| ocsf_network_activity(l, 1000)).collect::<Vec<_>>()),
    )
    .unwrap();
    let json_dir = tempfile::tempdir().unwrap();
    std::fs::write(json_dir.path().join("api.jsonl"), jsonl(records.iter().map(ocsf_api_activity).collect())).unwrap();
    let (ms, secs) = ok_lines.split_at(ok_lines.len() / 2);
    std::fs::write(
        json_dir.path().join("net-ms.jsonl"),
        jsonl(ms.iter().map(|l| ocsf_network_activity(l, 1000)).collect()),
    )
    .unwrap();
    std::fs::write(
        json_dir.path().join("net-s.json"),
        serde_json::to_string_pretty(&secs.iter().map(|l| ocsf_network_activity(l, 1)).collect::<Vec<_>>()).unwrap(),
    )
    .unwrap();
    let (from_parquet, from_json) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    ingest(from_parquet.path(), &[parquet_dir.path()]);
    let (out, s) = ingest(from_json.path(), &[json_dir.path()]);
    assert!(out.status.success(), "{s}");
    assert_eq!(count(from_json.path(), "SELECT * FROM ingest_errors"), 0, "{s}");
    for q in [
        "SELECT event_id, event_time, event_name, user_arn, source_ip, delivery FROM cloudtrail ORDER BY event_id",
        "SELECT interface_id, srcaddr, dstaddr, dstport, protocol, bytes, start_time, end_time, action FROM flow_logs \
            ORDER BY start_time, srcaddr, dstaddr",
    ] {
        let got = sql(from_json.path(), q);
        assert!(!got.is_empty(), "{q}");
        assert_eq!(got, sql(from_parquet.path(), q), "{q}");
    }
    assert_eq!(
        count(from_json.path(), "SELECT * FROM flow_logs WHERE start_time < TIMESTAMP '2000-01-01T00:00:00Z'"),
        0
    );
}

#[test]
fn security_lake_ocsf_records_load_as_cloudtrail_and_flows() {
    let trail = real(
        "cloudtrail/invictus-ir-aws_dataset/218007301253_CloudTrail_us-east-1_20230710T1145Z_s7dpHbl38neqZbm2.json",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&trail).unwrap()).unwrap();
    let records = v["Records"].as_array().unwrap();
    let ocsf: Vec<Value> = records.iter().map(ocsf_api_activity).collect();
    // Network activity from the AWS documentation's flow records, mapped as OCSF documents it.
    let flows = std::fs::read_to_string(real("flowlogs/awsdocs-vpc-user-guide/default_v2_examples.log")).unwrap();
    let ok_lines: Vec<&str> = flows.lines().skip(1).filter(|l| l.ends_with(" OK")).collect();
    let net: Vec<Value> = ok_lines.iter().map(|l| ocsf_network_activity(l, 1000)).collect();
    let dir = tempfile::tempdir().unwrap();
    let lake_dir = dir.path().join("aws-security-data-lake-us-east-1-x/aws/CLOUD_TRAIL_MGMT/2.0/region=us-east-1/accountId=218007301253/eventDay=20230710");
    std::fs::create_dir_all(&lake_dir).unwrap();
    std::fs::write(lake_dir.join("a.gz.parquet"), parquet_of_json(&ocsf)).unwrap();
    std::fs::write(dir.path().join("vpc-flow.parquet"), parquet_of_json(&net)).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[dir.path()]);
    assert!(out.status.success(), "{s}");
    // CloudTrail: the same rows as from the trail file, the OCSF record kept as raw.
    let trail_lake = tempfile::tempdir().unwrap();
    ingest(trail_lake.path(), &[&trail]);
    let q = "SELECT event_id, event_time, event_name, event_source, aws_region, source_ip, user_agent, error_code, \
        user_type, user_arn, principal_id, account_id, access_key_id, recipient_account_id, request_id, event_type, \
        read_only, management_event, request_parameters FROM cloudtrail ORDER BY event_id";
    let got = sql(lake.path(), q);
    let want = sql(trail_lake.path(), q);
    assert_eq!(got.len(), records.len());
    for (g, w) in got.iter().zip(&want) {
        for (k, wv) in w.as_object().unwrap() {
            let gv = &g[k];
            if k == "request_parameters" {
                let parse = |x: &Value| x.as_str().map(|t| serde_json::from_str::<Value>(t).unwrap());
                assert_eq!(parse(gv), parse(wv), "{k}");
            } else {
                assert_eq!(gv, wv, "{k} of {}", w["event_id"]);
            }
        }
    }
    let raw = sql(lake.path(), "SELECT DISTINCT delivery, raw LIKE '%\"class_uid\":6003%' AS ocsf FROM cloudtrail");
    assert_eq!(raw, vec![serde_json::json!({"delivery": "security_lake", "ocsf": true})]);
    // Flows: the same values as the text records.
    let text_lake = tempfile::tempdir().unwrap();
    let only_ok = tempfile::tempdir().unwrap();
    std::fs::write(
        only_ok.path().join("ok.log"),
        format!("{}\n{}\n", flows.lines().next().unwrap(), ok_lines.join("\n")),
    )
    .unwrap();
    ingest(text_lake.path(), &[only_ok.path()]);
    let q = "SELECT account_id, interface_id, srcaddr, dstaddr, srcport, dstport, protocol, packets, bytes, \
        start_time, end_time, action, log_status FROM flow_logs ORDER BY start_time, srcaddr";
    let got = sql(lake.path(), q);
    assert_eq!(got.len(), ok_lines.len());
    assert_eq!(got, sql(text_lake.path(), q));
    // Nothing lost: each flow row keeps the OCSF record it came from.
    let kept = count(
        lake.path(),
        "SELECT * FROM flow_logs WHERE json_get_str(extra_fields, 'ocsf', 'class_name') = 'Network Activity' AND \
            json_get_int(extra_fields, 'ocsf', 'class_uid') = 4001",
    );
    assert_eq!(kept, ok_lines.len() as i64);
}

/// A configuration item as AWS Config writes it in snapshot and history files.
fn config_item(resource_type: &str, id: &str, captured: &str, configuration: Value) -> Value {
    serde_json::json!({
        "relatedEvents": [], "relationships": [], "configuration": configuration,
        "supplementaryConfiguration": {}, "tags": {}, "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": captured, "configurationStateId": 1714557600123u64,
        "awsAccountId": "123456789012", "configurationItemStatus": "OK", "resourceType": resource_type,
        "resourceId": id, "ARN": format!("arn:aws:ec2:us-east-1:123456789012:{id}"), "awsRegion": "us-east-1",
        "availabilityZone": "Multiple Availability Zones", "configurationStateMd5Hash": ""
    })
}

#[test]
fn aws_config_items_are_inventory_at_their_own_times_and_feed_the_topology() {
    let acl_with = |id: &str, subnets: &[&str], entries: Value| {
        serde_json::json!({
        "associations": subnets.iter().map(|s| serde_json::json!({"networkAclAssociationId": format!("aclassoc-{id}-{s}"), "networkAclId": id, "subnetId": s})).collect::<Vec<_>>(),
        "entries": entries, "isDefault": false, "networkAclId": id, "tags": [], "vpcId": "vpc-0a1", "ownerId": "123456789012"})
    };
    let acl = |entries: Value| acl_with("acl-0a1", &["subnet-0a1"], entries);
    let deny_all = |egress: bool| serde_json::json!({"cidrBlock": "0.0.0.0/0", "egress": egress, "protocol": "-1", "ruleAction": "deny", "ruleNumber": 32767});
    let https = serde_json::json!({"cidrBlock": "0.0.0.0/0", "egress": false, "protocol": "6", "ruleAction": "allow", "ruleNumber": 100, "portRange": {"from": 443, "to": 443}});
    let all = serde_json::json!({"cidrBlock": "0.0.0.0/0", "egress": false, "protocol": "-1", "ruleAction": "allow", "ruleNumber": 90});
    let history = serde_json::json!({"fileVersion": "1.0", "configurationItems": [
        config_item("AWS::EC2::NetworkAcl", "acl-0a1", "2024-05-01T10:00:00.000Z", acl(serde_json::json!([https, deny_all(false), deny_all(true)]))),
        config_item("AWS::EC2::NetworkAcl", "acl-0a1", "2024-05-01T12:30:00.000Z", acl(serde_json::json!([all, https, deny_all(false), deny_all(true)]))),
        // The subnet moved to another ACL: both ACLs' items record it.
        config_item("AWS::EC2::NetworkAcl", "acl-0b2", "2024-05-01T12:45:00.000Z", acl_with("acl-0b2", &["subnet-0a1"], serde_json::json!([https, deny_all(false), deny_all(true)]))),
        config_item("AWS::EC2::NetworkAcl", "acl-0a1", "2024-05-01T12:45:01.000Z", acl_with("acl-0a1", &[], serde_json::json!([all, https, deny_all(false), deny_all(true)]))),
        config_item("AWS::S3::Bucket", "evidence-bucket", "2024-05-01T12:00:00.000Z", serde_json::json!({"name": "evidence-bucket"})),
    ]});
    let snapshot = serde_json::json!({"fileVersion": "1.0", "configSnapshotId": "2a8c2f2e-example", "configurationItems": [
        config_item("AWS::EC2::NetworkInterface", "eni-0a1", "2024-05-01T09:00:00.000Z", serde_json::json!({
            "networkInterfaceId": "eni-0a1", "subnetId": "subnet-0a1", "vpcId": "vpc-0a1", "privateIpAddress": "10.0.1.10",
            "attachment": {"instanceId": "i-0a1", "deviceIndex": 0, "status": "attached"}, "status": "in-use"})),
        config_item("AWS::EC2::Subnet", "subnet-0a1", "2024-05-01T09:00:00.000Z", serde_json::json!({"subnetId": "subnet-0a1", "vpcId": "vpc-0a1", "cidrBlock": "10.0.1.0/24"})),
    ]});
    let dir = tempfile::tempdir().unwrap();
    let hist_dir = dir.path().join("AWSLogs/123456789012/Config/us-east-1/2024/5/1/ConfigHistory");
    let snap_dir = dir.path().join("AWSLogs/123456789012/Config/us-east-1/2024/5/1/ConfigSnapshot");
    std::fs::create_dir_all(&hist_dir).unwrap();
    std::fs::create_dir_all(&snap_dir).unwrap();
    std::fs::write(hist_dir.join("123456789012_Config_us-east-1_ConfigHistory_AWS::EC2::NetworkAcl_20240501T100000Z_20240501T130000Z_1.json.gz"), gz(history.to_string().as_bytes())).unwrap();
    std::fs::write(
        snap_dir.join("123456789012_Config_us-east-1_ConfigSnapshot_20240501T090000Z_2a8c2f2e.json.gz"),
        gz(snapshot.to_string().as_bytes()),
    )
    .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[dir.path()]);
    assert!(out.status.success(), "{s}");
    let inv = sql(
        lake.path(),
        "SELECT kind, resource_id, snapshot_time, snapshot_time_basis FROM inventory ORDER BY snapshot_time, kind",
    );
    let got: Vec<String> = inv
        .iter()
        .map(|r| {
            format!(
                "{} {} {}",
                r["kind"].as_str().unwrap(),
                r["resource_id"].as_str().unwrap(),
                r["snapshot_time"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "network_interfaces eni-0a1 2024-05-01T09:00:00Z",
            "subnets subnet-0a1 2024-05-01T09:00:00Z",
            "network_acls acl-0a1 2024-05-01T10:00:00Z",
            "network_acls acl-0a1 2024-05-01T12:30:00Z",
            "network_acls acl-0b2 2024-05-01T12:45:00Z",
            "network_acls acl-0a1 2024-05-01T12:45:01Z",
        ]
    );
    assert!(inv.iter().all(|r| r["snapshot_time_basis"] == "AWS Config configurationItemCaptureTime"));
    // The topology and the ACL's rules, as the items show them.
    let ifaces = sql(lake.path(), "SELECT interface_id, subnet_id, private_ip, instance_id FROM network_interfaces");
    assert_eq!(
        ifaces,
        vec![
            serde_json::json!({"interface_id": "eni-0a1", "subnet_id": "subnet-0a1", "private_ip": "10.0.1.10", "instance_id": "i-0a1"})
        ]
    );
    // Every topology row says it stands on AWS Config, not on a describe-* snapshot.
    let bases = sql(
        lake.path(),
        "SELECT DISTINCT basis FROM network_interfaces UNION SELECT DISTINCT basis FROM acl_associations",
    );
    assert_eq!(bases, vec![serde_json::json!({"basis": "config"})]);
    // The subnet's ACL over time, as the items captured it.
    let assoc = sql(
        lake.path(),
        "SELECT subnet_id, network_acl_id, valid_from, valid_to FROM acl_associations ORDER BY valid_from NULLS FIRST",
    );
    assert_eq!(
        assoc,
        vec![
            serde_json::json!({"subnet_id": "subnet-0a1", "network_acl_id": "acl-0a1", "valid_to": "2024-05-01T12:45:00Z"}),
            serde_json::json!({"subnet_id": "subnet-0a1", "network_acl_id": "acl-0b2", "valid_from": "2024-05-01T12:45:00Z"}),
        ]
    );
    // The ACL's rules over time: rule 90 appears at the capture time of the item that shows it,
    // though no CloudTrail call is in the evidence.
    let rules = sql(
        lake.path(),
        "SELECT rule_number, protocol, port_from, rule_action, valid_from, valid_to FROM nacl_entries \
        WHERE network_acl_id = 'acl-0a1' AND NOT egress AND rule_number < 32767 ORDER BY rule_number",
    );
    assert_eq!(
        rules,
        vec![
            serde_json::json!({"rule_number": 90, "protocol": -1, "rule_action": "allow", "valid_from": "2024-05-01T12:30:00Z"}),
            serde_json::json!({"rule_number": 100, "protocol": 6, "port_from": 443, "rule_action": "allow"}),
        ]
    );
    let at = |t: &str| {
        count(
            lake.path(),
            &format!(
                "SELECT * FROM nacl_entries WHERE network_acl_id = 'acl-0a1' AND NOT egress \
        AND (valid_from IS NULL OR valid_from <= TIMESTAMP '{t}') AND (valid_to IS NULL OR valid_to > TIMESTAMP '{t}')"
            ),
        )
    };
    assert_eq!((at("2024-05-01T11:00:00Z"), at("2024-05-01T13:00:00Z")), (2, 3));
}

#[test]
fn aws_config_api_output_is_read_like_its_delivered_files() {
    // get-resource-config-history and batch-get-resource-config print items as the API returns
    // them: `accountId`, `configuration` as JSON text, and (AWS CLI v1) epoch-second times.
    let configuration =
        serde_json::json!({"networkInterfaceId": "eni-0c3", "subnetId": "subnet-0c3", "vpcId": "vpc-0c3",
        "privateIpAddress": "10.3.0.5", "status": "in-use"})
        .to_string();
    let item = |t: Value| {
        serde_json::json!({"version": "1.3", "accountId": "210987654321", "configurationItemCaptureTime": t,
        "configurationItemStatus": "OK", "configurationStateId": "1714557600123", "arn": "arn:aws:ec2:eu-west-1:210987654321:network-interface/eni-0c3",
        "resourceType": "AWS::EC2::NetworkInterface", "resourceId": "eni-0c3", "awsRegion": "eu-west-1", "availabilityZone": "eu-west-1a",
        "configuration": configuration, "supplementaryConfiguration": {}, "relationships": []})
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("history.json"),
        serde_json::json!({"configurationItems": [item(Value::from("2024-05-01T09:00:00.000000+00:00"))]}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("batch.json"),
        serde_json::json!({"baseConfigurationItems": [item(Value::from(1714560000.5))], "unprocessedResourceKeys": []})
            .to_string(),
    )
    .unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[dir.path()]);
    assert!(out.status.success(), "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM ingest_errors"), 0, "{s}");
    let rows = sql(
        lake.path(),
        "SELECT resource_id, account_id, snapshot_time, json_get_str(item, 'subnetId') AS subnet FROM inventory ORDER \
            BY snapshot_time",
    );
    assert_eq!(
        rows,
        vec![
            serde_json::json!({"resource_id": "eni-0c3", "account_id": "210987654321", "snapshot_time": "2024-05-01T09:00:00Z", "subnet": "subnet-0c3"}),
            serde_json::json!({"resource_id": "eni-0c3", "account_id": "210987654321", "snapshot_time": "2024-05-01T10:40:00.500Z", "subnet": "subnet-0c3"}),
        ]
    );
}

#[test]
fn every_file_read_is_recorded_with_its_sha256() {
    use sha2::Digest;
    let trail = real(
        "cloudtrail/invictus-ir-aws_dataset/218007301253_CloudTrail_us-east-1_20230710T1150Z_1vnLavRRp0ek1mP4.json",
    );
    let bytes = std::fs::read(&trail).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.json"), &bytes).unwrap();
    std::fs::write(dir.path().join("copy.json"), &bytes).unwrap();
    std::fs::write(dir.path().join("b.json.gz"), gz(&bytes)).unwrap();
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[dir.path()]);
    let rows = sql(lake.path(), "SELECT source_file, status, sha256 FROM ingested_files ORDER BY source_file");
    assert_eq!(rows.len(), 3, "{rows:?}");
    let sha = |b: &[u8]| sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect::<String>();
    for r in &rows {
        let name = r["source_file"].as_str().unwrap();
        let on_disk = std::fs::read(dir.path().join(std::path::Path::new(name).file_name().unwrap())).unwrap();
        assert_eq!(r["sha256"].as_str().unwrap(), sha(&on_disk), "{name}");
    }
    assert!(rows.iter().any(|r| r["status"] == "duplicate"), "{rows:?}");
}

#[test]
fn evidence_is_checked_against_its_cloudtrail_digests() {
    use sha2::Digest;
    let sha = |b: &[u8]| sha2::Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect::<String>();
    let trail = real(
        "cloudtrail/invictus-ir-aws_dataset/218007301253_CloudTrail_us-east-1_20230710T1150Z_1vnLavRRp0ek1mP4.json",
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&trail).unwrap()).unwrap();
    let log = |id: &str, time: &str| {
        let mut r = v["Records"][0].clone();
        r["eventID"] = Value::from(id);
        r["eventTime"] = Value::from(time);
        serde_json::json!({ "Records": [r] }).to_string()
    };
    let prefix = "AWSLogs/123456789012/CloudTrail/us-east-1/2024/05/01";
    let name = |t: &str, r: &str| format!("123456789012_CloudTrail_us-east-1_20240501T{t}Z_{r}.json.gz");
    let logs = [
        (name("1005", "aaaa"), log("e-1", "2024-05-01T10:01:00Z")),
        (name("1010", "bbbb"), log("e-2", "2024-05-01T10:06:00Z")),
        (name("1105", "cccc"), log("e-3", "2024-05-01T11:01:00Z")),
        (name("1110", "dddd"), log("e-4", "2024-05-01T11:06:00Z")),
    ];
    let entry = |n: &str, content: &str| serde_json::json!({"s3Bucket": "trail-bucket", "s3Object": format!("{prefix}/{n}"), "hashValue": sha(content.as_bytes()), "hashAlgorithm": "SHA-256", "newestEventTime": "2024-05-01T10:59:00Z", "oldestEventTime": "2024-05-01T10:00:00Z"});
    let digest_prefix = "AWSLogs/123456789012/CloudTrail-Digest/us-east-1/2024/05/01";
    let digest_name =
        |t: &str| format!("123456789012_CloudTrail-Digest_us-east-1_management_us-east-1_20240501T{t}Z.json.gz");
    let digest = |start: &str, end: &str, t: &str, files: Vec<Value>, prev: Option<(String, String, String)>| {
        let mut d = serde_json::json!({"awsAccountId": "123456789012", "digestStartTime": start, "digestEndTime": end, "digestS3Bucket": "trail-bucket",
            "digestS3Object": format!("{digest_prefix}/{}", digest_name(t)), "digestPublicKeyFingerprint": "31e8b5433410dfb61a9dc45cc65b22ff",
            "digestSignatureAlgorithm": "SHA256withRSA", "newestEventTime": end, "oldestEventTime": start, "logFiles": files});
        if let Some((object, hash, signature)) = prev {
            d["previousDigestS3Bucket"] = Value::from("trail-bucket");
            d["previousDigestS3Object"] = Value::from(object);
            d["previousDigestHashValue"] = Value::from(hash);
            d["previousDigestHashAlgorithm"] = Value::from("SHA-256");
            d["previousDigestSignature"] = Value::from(signature);
        }
        d.to_string()
    };
    // A test key pair (made for this test with openssl; not AWS's): the digests are signed as AWS
    // signs them, over digestEndTime, bucket/object, the content's SHA-256 and the previous
    // signature, a line each.
    let private = {
        use base64::Engine;
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let der = base64::engine::general_purpose::STANDARD.decode(TEST_RSA_PRIVATE_KEY).unwrap();
        rsa::RsaPrivateKey::from_pkcs1_der(&der).unwrap()
    };
    let sign = |end: &str, t: &str, content: &str, previous: &str| {
        let message =
            format!("{end}\ntrail-bucket/{digest_prefix}/{}\n{}\n{previous}", digest_name(t), sha(content.as_bytes()));
        let hashed = sha2::Sha256::digest(message.as_bytes());
        private
            .sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed)
            .unwrap()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    let d1 = digest(
        "2024-05-01T10:00:00Z",
        "2024-05-01T11:00:00Z",
        "110000",
        vec![entry(&logs[0].0, &logs[0].1), entry(&logs[1].0, &logs[1].1)],
        Some((format!("{digest_prefix}/{}", digest_name("100000")), "ab".repeat(32), "00".into())),
    );
    let d2 = digest(
        "2024-05-01T11:00:00Z",
        "2024-05-01T12:00:00Z",
        "120000",
        vec![entry(&logs[2].0, &logs[2].1), entry(&logs[3].0, &logs[3].1)],
        Some((
            format!("{digest_prefix}/{}", digest_name("110000")),
            sha(d1.as_bytes()),
            sign("2024-05-01T11:00:00Z", "110000", &d1, "00"),
        )),
    );
    // The third digest carries a signature of the second that does not verify.
    let wrong = sign("2024-05-01T12:00:00Z", "120000", "not the second digest", "00");
    let d3 = digest(
        "2024-05-01T12:00:00Z",
        "2024-05-01T13:00:00Z",
        "130000",
        vec![],
        Some((format!("{digest_prefix}/{}", digest_name("120000")), sha(b"not d2"), wrong)),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(prefix)).unwrap();
    std::fs::create_dir_all(dir.path().join(digest_prefix)).unwrap();
    // e-2's file altered after delivery, e-4's never handed over, and one file no digest names.
    let altered = logs[1].1.replace("e-2", "e-2x");
    for (n, content) in [(&logs[0].0, &logs[0].1), (&logs[1].0, &altered), (&logs[2].0, &logs[2].1)] {
        std::fs::write(dir.path().join(prefix).join(n), gz(content.as_bytes())).unwrap();
    }
    std::fs::write(
        dir.path().join(prefix).join(name("1030", "eeee")),
        gz(log("e-5", "2024-05-01T10:25:00Z").as_bytes()),
    )
    .unwrap();
    for (t, d) in [("110000", &d1), ("120000", &d2), ("130000", &d3)] {
        std::fs::write(dir.path().join(digest_prefix).join(digest_name(t)), gz(d.as_bytes())).unwrap();
    }
    // AWS's public keys, as `aws cloudtrail list-public-keys` prints them (here the test key).
    let keys = tempfile::tempdir().unwrap();
    let list = serde_json::json!({"PublicKeyList": [{"Value": TEST_RSA_PUBLIC_KEY, "ValidityStartTime": "2024-01-01T00:00:00+00:00",
        "ValidityEndTime": "2025-01-01T00:00:00+00:00", "Fingerprint": "31e8b5433410dfb61a9dc45cc65b22ff"}]});
    std::fs::write(keys.path().join("list-public-keys.json"), list.to_string()).unwrap();
    // Without the keys, signatures are not verified, and the view says so.
    let unkeyed = tempfile::tempdir().unwrap();
    ingest(unkeyed.path(), &[dir.path()]);
    let first = sql(
        unkeyed.path(),
        &format!(
            "SELECT status FROM evidence_integrity WHERE status LIKE 'signature%' AND object LIKE '%{}'",
            digest_name("110000")
        ),
    );
    assert_eq!(first, vec![serde_json::json!({"status": "signature_not_verified"})]);
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[dir.path(), keys.path()]);
    assert!(out.status.success(), "{s}");
    let rows = sql(lake.path(), "SELECT status, object FROM evidence_integrity ORDER BY status, object");
    let got: Vec<String> = rows
        .iter()
        .map(|r| {
            format!("{} {}", r["status"].as_str().unwrap(), r["object"].as_str().unwrap().rsplit('/').next().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        [
            format!("altered {}", logs[1].0),
            format!("chain_break {}", digest_name("120000")),
            format!("chain_ok {}", digest_name("110000")),
            format!("missing {}", logs[3].0),
            format!("not_covered {}", name("1030", "eeee")),
            format!("ok {}", logs[0].0),
            format!("ok {}", logs[2].0),
            format!("previous_digest_not_in_evidence {}", digest_name("100000")),
            format!("signature_invalid {}", digest_name("120000")),
            format!("signature_not_in_evidence {}", digest_name("130000")),
            format!("signature_ok {}", digest_name("110000")),
        ]
    );
    let accounts = sql(lake.path(), "SELECT DISTINCT account_id, region FROM evidence_integrity");
    assert_eq!(accounts, vec![serde_json::json!({"account_id": "123456789012", "region": "us-east-1"})]);
    // The hunt lists the problems only.
    let out = bin()
        .args(["hunt", "run", "evidence_integrity_problems", "--format", "json", "--lake"])
        .arg(lake.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    for status in ["altered", "chain_break", "missing", "not_covered", "signature_invalid"] {
        assert!(text.contains(&format!("\"status\":\"{status}\"")), "{status}: {text}");
    }
    assert!(!text.contains("\"status\":\"ok\""), "{text}");
}

#[test]
fn a_json_object_that_is_not_evidence_is_rejected_saying_what_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let finding = serde_json::json!({"SchemaVersion": "2018-10-08", "Id": "arn:aws:securityhub:finding/1", "ProductArn": "arn:aws:securityhub:us-east-1::product/aws/guardduty", "AwsAccountId": "123456789012", "Types": [], "Severity": {"Label": "HIGH"}});
    std::fs::write(dir.path().join("findings.jsonl"), format!("{finding}\n{{\"foo\":1}}\n")).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, _) = ingest(lake.path(), &[dir.path()]);
    assert_eq!(out.status.code(), Some(3));
    let reasons: Vec<String> = sql(lake.path(), "SELECT reason FROM ingest_errors ORDER BY line")
        .iter()
        .map(|r| r["reason"].as_str().unwrap().to_string())
        .collect();
    assert!(reasons[0].contains("(a Security Hub finding)") && reasons[0].contains("keys AwsAccountId"), "{reasons:?}");
    assert!(reasons[1].starts_with("a JSON object with keys foo:"), "{reasons:?}");
}

/// A 1024-bit RSA key pair made with openssl for the digest signature test (PKCS #1 DER, base64).
const TEST_RSA_PRIVATE_KEY: &str = "MIICXAIBAAKBgQDPBKLWJAGVSoLBMzE/Ug4Uz5Rm0KTw7WetzuW0v0wHtf6W2gxdmUXCzflxxOecQrJWXldw8eMjTH1lq81db7iQUB7dBJ6gX+sNdVJfx4KMf3m0XQgao6qbr5i0cygs6Gacyyc3ogqwBGvmtbyCwS0hCsmL3oJNg7ytaq7/Bj/DNQIDAQABAoGBAKM33YcGlnT1bUgUK5ToBhAkZbX2dMU7+I2R3Yv3c2N0+0hGnI9DZDwmF7C6dX2/HEp6UWjMXbAcA5YgsWckyZcbZozrkm9Uk8LIcFNGzHiiMPZmjATsxq1nA22YRxd/YRFFmRHHmx/NYtdqG0UYO0GPh2G9bzU3MwrCiSgrp6oBAkEA681l3VAsSSc2QJURjEWcnBotvC4sq1wuaJg/qtsGjAqlWhs0l0F/B963n1pz2wQgy/lBe5SR9DoRi7AaJhzPgQJBAODAEP9oH3FKsXysFd6IOOsFEzPd5AmPQ7dapLuYRl51Bdc+vQSWoSMkrSNcOIxk6S7/2MR/EUPf67GiJhEXjbUCQGSHOLpVh8vYL8TwyH5o3w+eCYmElf6oWhC1d887eVsS3tO/bXher+2HAfmp8mKZK/JJ3aT1/hOE/h3zgfJlrgECQHZD2y3q5pDBE0BddWySFhFlrEMgwfxdzO5Q3lpwuKa/wYEQXHproQNTK2BuCLun5iR7MN/FVZp33BivEITx9fkCQADByAwv6lvoDgrKiKXgCQRy5bTHFO4zbf1yKpp4sNvVDBNpk0FYdMAO4xb6f2GWjjyBxCnVq6Txit0Mqp4Br3c=";
const TEST_RSA_PUBLIC_KEY: &str = "MIGJAoGBAM8EotYkAZVKgsEzMT9SDhTPlGbQpPDtZ63O5bS/TAe1/pbaDF2ZRcLN+XHE55xCslZeV3Dx4yNMfWWrzV1vuJBQHt0EnqBf6w11Ul/Hgox/ebRdCBqjqpuvmLRzKCzoZpzLJzeiCrAEa+a1vILBLSEKyYvegk2DvK1qrv8GP8M1AgMBAAE=";

/// One column of every Parquet file under `dir`, a batch at a time, read with the Parquet reader
/// alone (as another engine sees the files).
fn stored_column(dir: &Path, column: &str) -> Vec<datafusion::arrow::array::ArrayRef> {
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "parquet") {
                let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
                out.extend(reader.map(|b| b.unwrap().column_by_name(column).unwrap().clone()));
            }
        }
    }
    out
}

/// The text values of one column as stored ([`stored_column`]).
fn stored_strings(dir: &Path, column: &str) -> Vec<Option<String>> {
    use datafusion::arrow::array::{Array, AsArray};
    let mut out = Vec::new();
    for c in stored_column(dir, column) {
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i).to_string())));
    }
    out
}

/// The integer values (times as microseconds) of one column as stored ([`stored_column`]).
fn stored_ints(dir: &Path, column: &str) -> Vec<Option<i64>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{DataType, Int64Type};
    let mut out = Vec::new();
    for c in stored_column(dir, column) {
        let c = datafusion::arrow::compute::cast(&c, &DataType::Int64).unwrap();
        let c = c.as_primitive::<Int64Type>();
        out.extend((0..c.len()).map(|i| c.is_valid(i).then(|| c.value(i))));
    }
    out
}

#[test]
fn values_held_twice_are_stored_once_and_read_back_whole() {
    // Stratus's detonation logs (pretty-printed arrays of records whose eventID and requestID are
    // UUIDs) and the AWS docs' flow
    // logs (custom formats with pkt-srcaddr/pkt-dstaddr, a NAT gateway's among them).
    let lake = tempfile::tempdir().unwrap();
    let trail = real("cloudtrail/stratus-red-team-detonation-logs");
    let flows = real("flowlogs/awsdocs-vpc-user-guide");
    let (out, _) = ingest(lake.path(), &[&trail, &flows]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // In the files, the ids are left out of `raw` (a marker in their place)...
    let stored = stored_strings(&lake.path().join("cloudtrail"), "raw");
    let ids = stored_strings(&lake.path().join("cloudtrail"), "event_id");
    assert_eq!(stored.len(), 310);
    let elided = stored.iter().flatten().filter(|r| r.contains("\"\u{1}\"")).count();
    assert_eq!(elided, 310, "every UUID eventID is stored once");
    assert!(stored.iter().flatten().filter(|r| r.contains("\"\u{2}\"")).count() > 250);
    for (raw, id) in stored.iter().zip(&ids) {
        assert!(!raw.as_deref().unwrap().contains(id.as_deref().unwrap()));
    }
    // ... and every table gives each record back byte for byte, as the trail file has it.
    let mut originals = std::collections::HashSet::new();
    for e in std::fs::read_dir(&trail).unwrap() {
        let records: Vec<Box<serde_json::value::RawValue>> =
            serde_json::from_str(&std::fs::read_to_string(e.unwrap().path()).unwrap()).unwrap();
        originals.extend(records.iter().map(|r| r.get().to_string()));
    }
    let rows = sql(lake.path(), "SELECT event_id, request_id, raw FROM cloudtrail");
    assert_eq!(rows.len(), 310);
    for r in &rows {
        let raw = r["raw"].as_str().unwrap();
        assert!(originals.contains(raw), "not a record of the files: {raw}");
        let v: Value = serde_json::from_str(raw).unwrap();
        assert_eq!(v["eventID"], r["event_id"]);
        assert_eq!(v["requestID"], r["request_id"]);
    }
    // Search indexes the records whole and checks a hit of a one-of-a-kind token (an id) against
    // its record, read from Parquet itself: the id is found.
    let id = rows[0]["event_id"].as_str().unwrap();
    let out = bin().args(["search", "--format", "json", "--lake"]).arg(lake.path()).arg(id).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hits: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["event_id"], rows[0]["event_id"]);

    // Flows: a packet address equal to the flow's is stored as "" and read back as that address.
    let stored = stored_strings(&lake.path().join("flow_logs"), "pkt_srcaddr");
    assert!(stored.iter().any(|v| v.as_deref() == Some("")));
    let mut plain: Vec<(String, String, String, String)> = Vec::new();
    for e in std::fs::read_dir(&flows).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let at = |n: &str| header.iter().position(|h| *h == n);
        let (Some(s), Some(d), Some(ps), Some(pd)) =
            (at("srcaddr"), at("dstaddr"), at("pkt-srcaddr"), at("pkt-dstaddr"))
        else {
            continue;
        };
        for l in lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            plain.push((f[s].into(), f[d].into(), f[ps].into(), f[pd].into()));
        }
    }
    plain.sort();
    assert!(plain.iter().any(|(s, _, ps, _)| s == ps) && plain.iter().any(|(s, _, ps, _)| s != ps && ps != "-"));
    let rows = sql(
        lake.path(),
        "SELECT srcaddr, dstaddr, pkt_srcaddr, pkt_dstaddr FROM flow_logs WHERE pkt_srcaddr IS NOT NULL OR \
            pkt_dstaddr IS NOT NULL",
    );
    let text = |v: &Value| v.as_str().unwrap_or("-").to_string();
    let mut got: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| (text(&r["srcaddr"]), text(&r["dstaddr"]), text(&r["pkt_srcaddr"]), text(&r["pkt_dstaddr"])))
        .collect();
    got.sort();
    let known: Vec<_> = plain.into_iter().filter(|(_, _, ps, pd)| ps != "-" || pd != "-").collect();
    assert_eq!(got, known);

    // An end time is stored as the seconds after the start (a negative number, not a time), and
    // every table reads it back as the record's `end`.
    let mut ends: Vec<(i64, i64)> = Vec::new();
    for e in std::fs::read_dir(&flows).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        let at = |n: &str| header.iter().position(|h| *h == n);
        let (Some(s), Some(d)) = (at("start"), at("end")) else { continue };
        for l in lines {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let (Ok(s), Ok(d)) = (f[s].parse(), f[d].parse()) {
                ends.push((s, d));
            }
        }
    }
    ends.sort();
    assert!(ends.len() > 10 && ends.iter().any(|(s, e)| e > s));
    let stored = stored_ints(&lake.path().join("flow_logs"), "end_time");
    assert!(stored.iter().flatten().all(|v| *v < 0), "{stored:?}");
    let rows = sql(
        lake.path(),
        "SELECT arrow_cast(start_time, 'Int64') / 1000000 AS s, arrow_cast(end_time, 'Int64') / 1000000 AS e \
         FROM flow_logs WHERE end_time IS NOT NULL",
    );
    let mut got: Vec<(i64, i64)> = rows.iter().map(|r| (r["s"].as_i64().unwrap(), r["e"].as_i64().unwrap())).collect();
    got.sort();
    assert_eq!(got, ends);
    // The time functions see times: a filter and a difference on the column.
    let late = sql(lake.path(), "SELECT count(*) AS n FROM flow_logs WHERE end_time > start_time");
    assert_eq!(late[0]["n"], ends.iter().filter(|(s, e)| e > s).count());
}

#[test]
fn a_lake_written_before_values_were_stored_once_reads_the_same() {
    use datafusion::parquet::arrow::ArrowWriter;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let lake = tempfile::tempdir().unwrap();
    let (out, _) = ingest(
        lake.path(),
        &[&real("cloudtrail/stratus-red-team-detonation-logs"), &real("flowlogs/awsdocs-vpc-user-guide")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ct_q = "SELECT event_id, raw FROM cloudtrail ORDER BY event_id, raw";
    let fl_q = "SELECT source_file, source_line, pkt_srcaddr, pkt_dstaddr, end_time FROM flow_logs \
                ORDER BY source_file, source_line";
    let (ct, fl) = (sql(lake.path(), ct_q), sql(lake.path(), fl_q));
    // Rewrite every file as an older trailflow wrote it: the values in full.
    for table in ["cloudtrail", "flow_logs"] {
        let mut stack = vec![lake.path().join(table)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    stack.push(p);
                    continue;
                }
                let reader = ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&p).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
                let batches: Vec<_> =
                    reader.map(|b| trailflow::lake::elide::restore(table, b.unwrap()).unwrap()).collect();
                let tmp = p.with_extension("tmp");
                let mut w =
                    ArrowWriter::try_new(std::fs::File::create(&tmp).unwrap(), batches[0].schema(), None).unwrap();
                for b in &batches {
                    w.write(b).unwrap();
                }
                w.close().unwrap();
                std::fs::rename(&tmp, &p).unwrap();
            }
        }
    }
    // A lake of that older trailflow kept no record of its files' sizes.
    std::fs::remove_file(lake.path().join("_trailflow/files")).unwrap();
    assert!(
        stored_strings(&lake.path().join("cloudtrail"), "raw")
            .iter()
            .flatten()
            .all(|r| !r.contains('\u{1}') && !r.contains('\u{2}'))
    );
    assert!(stored_strings(&lake.path().join("flow_logs"), "pkt_srcaddr").iter().all(|v| v.as_deref() != Some("")));
    assert!(stored_ints(&lake.path().join("flow_logs"), "end_time").iter().flatten().all(|v| *v > 0));
    assert_eq!(sql(lake.path(), ct_q), ct);
    assert_eq!(sql(lake.path(), fl_q), fl);
}

/// AWS's delivery: many small files. The CloudTrail rows of many files travel together and the
/// flow rows of many files are gathered into one batch before they are written (two flow
/// formats, one without `vpc-id`); every row arrives once, each file is counted with its own rows,
/// and the values are those of the files (a sum checked against the text).
#[test]
fn many_small_files_are_gathered_without_losing_or_mixing_a_row() {
    let ev = tempfile::tempdir().unwrap();
    let d = ev.path();
    let (mut bytes_sum, mut plain_rows) = (0i64, 0i64);
    for f in 0..30 {
        let custom = f % 3 == 0;
        let mut text = String::from(if custom {
            "version vpc-id account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
                action log-status\n"
        } else {
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action \
                log-status\n"
        });
        for i in 0..1500i64 {
            let b = 100 + f * 7 + i;
            bytes_sum += b;
            let start = 1_773_100_800 + f * 300 + i % 300;
            let vpc = if custom { "vpc-0abc " } else { "" };
            text.push_str(&format!(
                "2 {vpc}123456789012 eni-0{f:03} 10.0.0.{} 198.51.100.{} 443 {} 6 3 {b} {start} {} ACCEPT OK\n",
                i % 250,
                f,
                30000 + i,
                start + 30
            ));
        }
        if !custom {
            plain_rows += 1500;
        }
        let dir = d.join("AWSLogs/123456789012/vpcflowlogs/us-east-1/2026/03/10");
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("123456789012_vpcflowlogs_us-east-1_fl-0abc_20260310T{:04}Z_{f:08x}.log.gz", f * 5);
        std::fs::write(dir.join(name), gz(text.as_bytes())).unwrap();
    }
    for f in 0..40 {
        let recs: Vec<String> = (0..5)
            .map(|i| {
                format!(
                    r#"{{"eventVersion":"1.08","eventID":"e-{f}-{i}","eventTime":"2026-03-10T{:02}:{:02}:00Z","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","recipientAccountId":"123456789012","userIdentity":{{"type":"IAMUser","userName":"u{f}"}}}}"#,
                    f % 24,
                    i
                )
            })
            .collect();
        let dir = d.join("AWSLogs/123456789012/CloudTrail/us-east-1/2026/03/10");
        std::fs::create_dir_all(&dir).unwrap();
        let body = format!(r#"{{"Records":[{}]}}"#, recs.join(","));
        std::fs::write(
            dir.join(format!("123456789012_CloudTrail_us-east-1_20260310T{f:04}Z_x{f}.json.gz")),
            gz(body.as_bytes()),
        )
        .unwrap();
    }
    let lake = tempfile::tempdir().unwrap();
    let (out, summary) = ingest(lake.path(), &[d]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(rows_of(&summary, "flow_logs"), 45_000);
    assert_eq!(rows_of(&summary, "cloudtrail"), 200);
    let s = sql(lake.path(), "SELECT sum(bytes) AS b, count(*) FILTER (WHERE vpc_id IS NULL) AS plain FROM flow_logs");
    assert_eq!(s[0]["b"].as_i64(), Some(bytes_sum), "{s:?}");
    assert_eq!(s[0]["plain"].as_i64(), Some(plain_rows), "{s:?}");
    // Each flow file's rows carry its own name and interface.
    assert_eq!(
        count(
            lake.path(),
            "SELECT source_file FROM flow_logs GROUP BY source_file, interface_id HAVING count(*) = 1500"
        ),
        30
    );
    // Each CloudTrail file is counted with its own five events, and its events name it.
    assert_eq!(count(lake.path(), "SELECT * FROM ingested_files WHERE kind = 'cloudtrail' AND rows_loaded = 5"), 40);
    assert_eq!(
        count(
            lake.path(),
            "SELECT source_file FROM cloudtrail GROUP BY source_file HAVING count(*) = 5 AND min(user_name) = \
                max(user_name)"
        ),
        40
    );
}
