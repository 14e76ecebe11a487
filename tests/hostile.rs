//! The hostile-input suite: evidence made to break a forensic tool, and the handling a busy
//! responder gives it. Each test reproduces one way trailflow used to break (reading outside the
//! evidence, losing valid records, one file taking the run down, times out of range, readers
//! disturbing a writer, closed pipes) and asserts the rule that now holds (`docs/lake.md`,
//! "Guarantees"). Hostile inputs are small or generated at test time.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bin, count, ingest, real, sql, stderr};
use serde_json::Value;

/// A CloudTrail record with an id, a time and more fields (JSON text without braces).
fn record(id: &str, time: &str, more: &str) -> String {
    let sep = if more.is_empty() { "" } else { "," };
    format!(
        r#"{{"eventVersion":"1.08","eventID":"{id}","eventTime":"{time}","eventSource":"ec2.amazonaws.com","eventName":"DescribeInstances","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7"{sep}{more}}}"#
    )
}

fn records_file(records: &[String]) -> String {
    format!(r#"{{"Records":[{}]}}"#, records.join(","))
}

/// A zip of stored members, names as given: repeated names and odd names are allowed, as in
/// archives other tools make.
fn zip_of(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in members {
        let offset = out.len() as u32;
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let crc = crc.sum();
        let (n, len) = (name.len() as u16, data.len() as u32);
        for part in [&0x04034b50u32.to_le_bytes()[..], &20u16.to_le_bytes(), &0u16.to_le_bytes(), &0u16.to_le_bytes()] {
            out.extend_from_slice(part);
        }
        for part in [
            &0u32.to_le_bytes()[..],
            &crc.to_le_bytes(),
            &len.to_le_bytes(),
            &len.to_le_bytes(),
            &n.to_le_bytes(),
            &0u16.to_le_bytes(),
        ] {
            out.extend_from_slice(part);
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        for part in [
            &0x02014b50u32.to_le_bytes()[..],
            &20u16.to_le_bytes(),
            &20u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &0u16.to_le_bytes(),
        ] {
            central.extend_from_slice(part);
        }
        for part in
            [&0u32.to_le_bytes()[..], &crc.to_le_bytes(), &len.to_le_bytes(), &len.to_le_bytes(), &n.to_le_bytes()]
        {
            central.extend_from_slice(part);
        }
        for part in [
            &0u16.to_le_bytes()[..],
            &0u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &0u16.to_le_bytes(),
            &0u32.to_le_bytes(),
            &offset.to_le_bytes(),
        ] {
            central.extend_from_slice(part);
        }
        central.extend_from_slice(name.as_bytes());
    }
    let (cd_offset, cd_len, entries) = (out.len() as u32, central.len() as u32, members.len() as u16);
    out.extend_from_slice(&central);
    for part in [
        &0x06054b50u32.to_le_bytes()[..],
        &0u16.to_le_bytes(),
        &0u16.to_le_bytes(),
        &entries.to_le_bytes(),
        &entries.to_le_bytes(),
    ] {
        out.extend_from_slice(part);
    }
    for part in [&cd_len.to_le_bytes()[..], &cd_offset.to_le_bytes(), &0u16.to_le_bytes()] {
        out.extend_from_slice(part);
    }
    out
}

/// Run a command, killing it if it outlives `limit`.
fn run_within(mut cmd: Command, limit: Duration) -> std::process::Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", stderr(&out));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn errors_of(lake: &Path) -> Vec<Value> {
    sql(
        lake,
        "SELECT severity, file, member, line, record, reason, excerpt, source_file FROM ingest_errors ORDER BY \
            source_file, line, record",
    )
}

#[test]
fn inputs_are_the_regular_files_under_the_given_paths() {
    let top = tempfile::tempdir().unwrap();
    let ev = top.path().join("evidence");
    let outside = top.path().join("outside");
    std::fs::create_dir_all(ev.join("sub")).unwrap();
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("secret.json"), "{\"shadow\":\"root:SECRET-HASH:19000\"}\n").unwrap();
    std::fs::write(ev.join("good.json"), records_file(&[record("e1", "2024-05-01T10:00:00Z", "")])).unwrap();
    std::fs::write(ev.join("sub/real.json"), records_file(&[record("e2", "2024-05-01T11:00:00Z", "")])).unwrap();
    let link = |target: &Path, at: &Path| std::os::unix::fs::symlink(target, at).unwrap();
    // A folder link out of the evidence (as to /etc), a file link out, a link loop, a dangling link.
    link(&outside, &ev.join("etc"));
    link(&outside.join("secret.json"), &ev.join("shadow.json"));
    link(Path::new(".."), &ev.join("sub/up"));
    link(Path::new("no-such-file"), &ev.join("dangling.json"));
    // A link to a regular file inside the evidence is followed.
    link(Path::new("sub/real.json"), &ev.join("alias.json"));
    // A FIFO would block a reader forever.
    assert!(Command::new("mkfifo").arg(ev.join("pipe.json")).status().unwrap().success());

    let lake = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args(["ingest", "--quiet", "--json", "--lake"]).arg(lake.path()).arg(&ev);
    let out = run_within(cmd, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail"), 2);
    // Nothing from outside the evidence is anywhere in the lake.
    for t in ["cloudtrail", "ingest_errors", "ingested_files"] {
        let all = serde_json::to_string(&sql(lake.path(), &format!("SELECT * FROM {t}"))).unwrap();
        assert!(!all.contains("SECRET"), "{t} holds text from outside the evidence: {all}");
    }
    let errors = errors_of(lake.path());
    let reason = |name: &str| -> (String, String) {
        let rows: Vec<&Value> = errors.iter().filter(|e| e["source_file"].as_str().unwrap().ends_with(name)).collect();
        assert_eq!(rows.len(), 1, "{name}: exactly one row, got {errors:?}");
        (rows[0]["severity"].as_str().unwrap().to_string(), rows[0]["reason"].as_str().unwrap().to_string())
    };
    let (sev, r) = reason("evidence/etc");
    assert!(sev == "error" && r.contains("folder outside the evidence"), "{r}");
    let (sev, r) = reason("shadow.json");
    assert!(sev == "error" && r.contains("file outside the evidence"), "{r}");
    let (sev, r) = reason("sub/up");
    assert!(sev == "warning" && r.contains("not followed"), "{r}");
    let (_, r) = reason("dangling.json");
    assert!(r.contains("cannot be followed"), "{r}");
    let (_, r) = reason("pipe.json");
    assert!(r.contains("FIFO"), "{r}");
    // The followed link and the file it leads to: one loaded, the other named as its copy.
    let pair = sql(
        lake.path(),
        "SELECT source_file, status, duplicate_of FROM ingested_files WHERE source_file LIKE '%alias.json' OR \
            source_file LIKE '%sub/real.json' ORDER BY status",
    );
    assert_eq!(pair.len(), 2, "{pair:?}");
    assert_eq!(
        (pair[0]["status"].as_str(), pair[1]["status"].as_str()),
        (Some("duplicate"), Some("loaded")),
        "{pair:?}"
    );
    assert_eq!(pair[0]["duplicate_of"], pair[1]["source_file"]);

    // A device named on the command line is refused, not read.
    let lake2 = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args(["ingest", "--quiet", "--json", "--lake"]).arg(lake2.path()).arg("/dev/zero");
    let out = run_within(cmd, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let e = errors_of(lake2.path());
    assert!(e[0]["reason"].as_str().unwrap().contains("character device"), "{e:?}");
}

#[test]
fn a_bad_record_is_rejected_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // A real Elastic file of one record per line, with one bad line added after the first.
    let text = std::fs::read_to_string(real("cloudtrail/elastic-integrations/test-console-login-json.log")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3);
    lines.insert(1, r#"{"eventVersion":"1.05","eventID":"broken","eventTime":"2014-07-16T15:49:27Z","#);
    std::fs::write(d.join("lines.json"), lines.join("\n")).unwrap();
    // One NaN (Python's json.dumps writes it) in the middle record of an S3-shaped file.
    let nan = records_file(&[
        record("n1", "2024-05-01T10:00:00Z", ""),
        record("n2", "2024-05-01T10:01:00Z", r#""requestParameters":{"ratio":NaN}"#),
        record("n3", "2024-05-01T10:02:00Z", ""),
    ]);
    std::fs::write(d.join("nan.json"), nan).unwrap();
    // A sessionContext some exporter wrote as a string.
    let ident = r#""userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::111122223333:assumed-role/r/s","accountId":"111122223333","accessKeyId":"ASIAEXAMPLEKEY","sessionContext":"{\"attributes\":{}}"}"#;
    std::fs::write(d.join("session.json"), records_file(&[record("s1", "2024-05-01T10:00:00Z", ident)])).unwrap();

    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[d]);
    assert_eq!(out.status.code(), Some(3), "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail WHERE source_file LIKE '%lines.json'"), 3);
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail WHERE source_file LIKE '%nan.json'"), 2);
    let errors = errors_of(lake.path());
    let line = errors.iter().find(|e| e["source_file"].as_str().unwrap().ends_with("lines.json")).unwrap();
    assert_eq!(line["line"], 2, "{line}");
    let nan = errors.iter().find(|e| e["source_file"].as_str().unwrap().ends_with("nan.json")).unwrap();
    assert_eq!(nan["record"], 2, "{nan}");
    assert_eq!(errors.len(), 2, "{errors:?}");
    let who = sql(lake.path(), "SELECT user_arn, access_key_id, account_id FROM cloudtrail WHERE event_id = 's1'");
    assert_eq!(who[0]["user_arn"], "arn:aws:sts::111122223333:assumed-role/r/s");
    assert_eq!(who[0]["access_key_id"], "ASIAEXAMPLEKEY");
}

#[test]
fn every_archive_member_is_read_or_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let a = records_file(&[record("z1", "2024-05-01T10:00:00Z", "")]);
    let b = records_file(&[record("z2", "2024-05-01T10:00:01Z", "")]);
    let c = records_file(&[record("z3", "2024-05-01T10:00:02Z", "")]);
    // Two members of one name, and a name ending in a backslash.
    std::fs::write(
        d.join("odd.zip"),
        zip_of(&[("dup.json", a.as_bytes()), ("dup.json", b.as_bytes()), ("trailing.json\\", c.as_bytes())]),
    )
    .unwrap();
    // A tar with a link, a hard link, a FIFO and a device beside a regular member.
    let mut t = tar::Builder::new(Vec::new());
    let mut add = |name: &str, ty: tar::EntryType, data: &[u8], link: Option<&str>| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(ty);
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        h.set_cksum();
        t.append(&h, data).unwrap();
    };
    let d4 = records_file(&[record("t1", "2024-05-01T10:00:03Z", "")]);
    add("real.json", tar::EntryType::Regular, d4.as_bytes(), None);
    add("link.json", tar::EntryType::Symlink, b"", Some("/etc/shadow"));
    add("hard.json", tar::EntryType::Link, b"", Some("real.json"));
    add("fifo.json", tar::EntryType::Fifo, b"", None);
    add("tty.json", tar::EntryType::Char, b"", None);
    std::fs::write(d.join("special.tar"), t.into_inner().unwrap()).unwrap();
    // Zips nested 1,000 deep (about 110 KB): opened to the depth bound, reported, the run goes on.
    let mut nested = zip_of(&[("deepest.json", b"{}")]);
    for _ in 0..1000 {
        nested = zip_of(&[("inner.zip", &nested)]);
    }
    std::fs::write(d.join("deep.zip"), &nested).unwrap();

    let lake = tempfile::tempdir().unwrap();
    let mut cmd = bin();
    cmd.args(["ingest", "--quiet", "--json", "--lake"]).arg(lake.path()).arg(d);
    let out = run_within(cmd, Duration::from_secs(120));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let ids: Vec<String> = sql(lake.path(), "SELECT event_id FROM cloudtrail ORDER BY event_id")
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["t1", "z1", "z2", "z3"]);
    let names: Vec<String> =
        sql(lake.path(), "SELECT source_file FROM ingested_files WHERE source_file LIKE '%odd.zip%' ORDER BY 1")
            .iter()
            .map(|r| r["source_file"].as_str().unwrap().rsplit('!').next().unwrap().to_string())
            .collect();
    assert_eq!(names, ["dup.json", "dup.json#2", "trailing.json\\"]);
    let errors = errors_of(lake.path());
    let member = |m: &str| -> Value {
        let rows: Vec<&Value> =
            errors.iter().filter(|e| e["member"].as_str().is_some_and(|x| x.ends_with(m))).collect();
        assert_eq!(rows.len(), 1, "{m}: {errors:?}");
        rows[0].clone()
    };
    assert_eq!(member("link.json")["severity"], "warning");
    assert_eq!(member("hard.json")["severity"], "warning");
    assert!(member("fifo.json")["reason"].as_str().unwrap().contains("FIFO"));
    assert!(member("tty.json")["reason"].as_str().unwrap().contains("character device"));
    let deep = member("inner.zip");
    assert!(deep["reason"].as_str().unwrap().contains("nested more than"), "{deep}");
    // A second run reads everything again and adds nothing: no repeated rows for the archives.
    let before = count(lake.path(), "SELECT * FROM ingest_errors");
    let (out, s) = ingest(lake.path(), &[d]);
    assert!(out.status.success() || out.status.code() == Some(3), "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM ingest_errors"), before);
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail"), 4);
}

#[test]
fn identical_files_are_named_as_copies() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let body = records_file(&[record("c1", "2024-05-01T10:00:00Z", "")]);
    for i in 0..22 {
        std::fs::write(d.join(format!("copy-{i:02}.json")), &body).unwrap();
    }
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[d]);
    assert!(out.status.success(), "{s}");
    assert_eq!(s["files_loaded"], 1);
    assert_eq!(s["files_copies"], 21);
    assert_eq!(s["files_already_in_lake"], 0, "a fresh lake holds nothing: {s}");
    assert_eq!(count(lake.path(), "SELECT * FROM ingested_files"), 22);
    let copies = sql(lake.path(), "SELECT DISTINCT duplicate_of FROM ingested_files WHERE status = 'duplicate'");
    assert_eq!(copies.len(), 1);
    // Which copy is decoded is whichever decoder thread claims the content first; the others
    // name that one.
    let loaded = sql(lake.path(), "SELECT source_file FROM ingested_files WHERE status = 'loaded'");
    assert_eq!(loaded.len(), 1);
    assert_eq!(copies[0]["duplicate_of"], loaded[0]["source_file"]);
    // The same evidence again: already named, nothing added.
    let (_, s) = ingest(lake.path(), &[d]);
    assert_eq!(s["files_already_in_lake"], 22, "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM ingested_files"), 22);
}

#[test]
fn times_outside_1970_to_2200_are_rejected_and_ranges_clamped() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let recs = [
        record("old", "1600-01-01T00:00:00Z", ""),
        record("neg", "-0001-01-01T00:00:00Z", ""),
        record("far", "2300-01-01T00:00:00Z", ""),
        record("ok", "2024-05-01T10:00:00Z", ""),
    ];
    std::fs::write(d.join("times.json"), records_file(&recs)).unwrap();
    let flows = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status\n\
                 2 1 eni-1 10.0.0.1 10.0.0.2 1000 443 6 1 40 -1 1700000060 ACCEPT OK\n\
                 2 1 eni-1 10.0.0.1 10.0.0.2 -1 443 6 1 40 1700000000 1700000060 ACCEPT OK\n\
                 2 1 eni-1 10.0.0.1 10.0.0.2 1000 70000 6 1 40 1700000000 1700000060 ACCEPT OK\n\
                 2 1 eni-1 10.0.0.1 10.0.0.2 1000 443 6 1 40 1700000000 1700000060 ACCEPT OK\n";
    std::fs::write(d.join("flows.log"), flows).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let (out, s) = ingest(lake.path(), &[d]);
    assert_eq!(out.status.code(), Some(3), "{s}");
    assert_eq!(count(lake.path(), "SELECT * FROM cloudtrail"), 1);
    assert_eq!(count(lake.path(), "SELECT * FROM flow_logs"), 1);
    let errors = errors_of(lake.path());
    assert_eq!(errors.len(), 6, "{errors:?}");
    assert!(errors.iter().filter(|e| e["reason"].as_str().unwrap().contains("1970")).count() >= 4, "{errors:?}");
    assert!(errors.iter().any(|e| e["reason"].as_str().unwrap().contains("dstport")));
    // Everything later works on the lake: hunts, and searches bounded far outside the range.
    let out = bin().args(["hunt", "run", "--all", "--lake"]).arg(lake.path()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for (args, n) in
        [(vec!["--to", "1600-01-01"], 0), (vec!["--from", "1600-01-01"], 1), (vec!["--from", "2500-01-01"], 0)]
    {
        let out = bin()
            .args(["search", "198.51.100.7", "--format", "json", "--lake"])
            .arg(lake.path())
            .args(&args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.len(), n, "{args:?}");
    }
}

#[test]
fn deep_expressions_get_an_error_not_a_crash() {
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&real("cloudtrail/trailscraper")]);
    let parens = format!("{}x{}", "(".repeat(10_000), ")".repeat(10_000));
    let nested_call = format!("SELECT * FROM search('{}a{}')", "(".repeat(5_000), ")".repeat(5_000));
    let sum = format!("SELECT 1{}", "+1".repeat(8_000));
    let subqueries = format!("{}SELECT 1{}", "SELECT * FROM (".repeat(3_000), ")".repeat(3_000));
    for args in [
        vec!["search".to_string(), parens],
        vec!["sql".to_string(), nested_call],
        vec!["sql".to_string(), sum],
        vec!["sql".to_string(), subqueries],
    ] {
        let out = bin().args(&args).arg("--lake").arg(lake.path()).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", &args[0]);
        assert!(err.contains("deeper than") || err.contains("more than"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // Long but shallow input is fine.
    let wide = format!("SELECT count(*) AS n FROM cloudtrail WHERE {}", vec!["event_name = 'x'"; 300].join(" OR "));
    let out = bin().args(["sql", "--lake"]).arg(lake.path()).arg(wide).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// Read a little of a command's output, close the pipe, and return how it ended.
fn close_early(mut cmd: Command) -> std::process::Output {
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 64];
    let _ = stdout.read(&mut first).unwrap();
    drop(stdout);
    child.wait_with_output().unwrap()
}

#[test]
fn closed_pipes_end_output_quietly() {
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&common::root().join("sample-data")]);
    let mut cases = Vec::new();
    let mut c = bin();
    c.args(["hunt", "run", "--all", "--lake"]).arg(lake.path());
    cases.push(c);
    let mut c = bin();
    c.args(["sql", "--format", "csv", "--lake"]).arg(lake.path()).arg("SELECT * FROM flow_logs");
    cases.push(c);
    let mut c = bin();
    c.args(["search", "ec2.amazonaws.com", "--format", "ndjson", "--lake"]).arg(lake.path());
    cases.push(c);
    for cmd in cases {
        let what = format!("{:?}", cmd.get_args().next());
        let out = close_early(cmd);
        assert_eq!(out.status.code(), Some(0), "{what}: {}", stderr(&out));
        assert!(stderr(&out).is_empty(), "{what}: {}", stderr(&out));
    }
}

/// An ingest paused at a point, and what it prints on stderr (read to the end, so that it never
/// writes to a closed pipe).
struct Paused {
    child: std::process::Child,
    stderr: std::thread::JoinHandle<String>,
}

impl Paused {
    fn wait(mut self) -> (bool, String) {
        let ok = self.child.wait().unwrap().success();
        (ok, self.stderr.join().unwrap())
    }
}

/// Start an ingest that pauses at a point, and wait until it is there.
fn paused_writer(lake: &Path, evidence: &Path, point: &str) -> Paused {
    use std::io::BufRead;
    let mut writer = bin()
        .env("TRAILFLOW_PAUSEPOINT", point)
        .args(["ingest", "--quiet", "--lake"])
        .arg(lake)
        .arg(evidence)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = std::io::BufReader::new(writer.stderr.take().unwrap());
    let mut line = String::new();
    while err.read_line(&mut line).unwrap() > 0 && !line.contains("paused at") {
        line.clear();
    }
    assert!(line.contains("paused at"), "the writer never reached {point}");
    let stderr = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
        rest
    });
    Paused { child: writer, stderr }
}

/// SQL's count of EC2 events and search's, which must agree.
fn ec2_events(lake: &Path) -> (i64, i64) {
    let n = count(lake, "SELECT * FROM cloudtrail WHERE event_source = 'ec2.amazonaws.com'");
    let out = bin()
        .args(["search", "event_source:ec2.amazonaws.com", "--format", "ndjson", "--lake"])
        .arg(lake)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    (n, String::from_utf8_lossy(&out.stdout).lines().count() as i64)
}

#[test]
fn readers_beside_a_writer_see_a_whole_lake_and_leave_it_alone() {
    // A search while the first ingest of a fresh lake writes: the index being built is left alone.
    let lake = tempfile::tempdir().unwrap();
    let writer = paused_writer(lake.path(), &real("cloudtrail/invictus-ir-aws_dataset"), "after_data_file:1500");
    assert_eq!(ec2_events(lake.path()), (0, 0));
    let (ok, err) = writer.wait();
    assert!(ok, "the writer was disturbed: {err}");
    let (n, hits) = ec2_events(lake.path());
    assert!(n > 0 && hits == n, "{n} {hits}");
    // A run paused in the middle of publishing its files, and again before its index is saved:
    // readers wait for it and then see the whole run, SQL and search alike.
    for (point, evidence) in [
        ("during_publish:400", "cloudtrail/stratus-red-team-detonation-logs"),
        ("before_index_commit:1500", "cloudtrail/otrf-security-datasets"),
    ] {
        let writer = paused_writer(lake.path(), &real(evidence), point);
        let seen = ec2_events(lake.path());
        let (ok, err) = writer.wait();
        assert!(ok, "{point}: the writer was disturbed: {err}");
        let after = ec2_events(lake.path());
        assert_eq!(seen, after, "{point}: a reader saw part of the run");
        assert_eq!(after.0, after.1, "{point}: search and SQL disagree");
    }
}

/// Run a reader as a user who cannot write the lake (root is made `nobody` for it).
fn as_reader(args: &[&str], lake: &Path) -> std::process::Output {
    let exe = env!("CARGO_BIN_EXE_trailflow");
    // SAFETY: geteuid takes nothing and cannot fail.
    let mut cmd = if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", exe]);
        c
    } else {
        Command::new(exe)
    };
    cmd.env_remove("TRAILFLOW_LAKE").args(args).arg("--lake").arg(lake).output().unwrap()
}

fn make_read_only(dir: &Path) {
    let status = Command::new("chmod").args(["-R", "a-w,a+rX"]).arg(dir).status().unwrap();
    assert!(status.success());
}

fn make_writable(dir: &Path) {
    let _ = Command::new("chmod").args(["-R", "u+w"]).arg(dir).status();
}

#[test]
fn a_read_only_lake_is_searched_or_refused_plainly() {
    let top = tempfile::tempdir().unwrap();
    std::fs::set_permissions(top.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let lake = top.path().join("lake");
    ingest(&lake, &[&real("cloudtrail/stratus-red-team-detonation-logs")]);
    let n = count(&lake, "SELECT * FROM cloudtrail WHERE raw LIKE '%sts.amazonaws.com%'");
    make_read_only(&lake);
    let out = as_reader(&["search", "sts.amazonaws.com", "--format", "ndjson"], &lake);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count() as i64, n);
    let out = as_reader(&["sql", "--format", "csv", "SELECT count(*) FROM cloudtrail"], &lake);
    assert!(out.status.success(), "{}", stderr(&out));
    make_writable(&lake);

    // A lake whose ingest was killed in the middle of publishing, then made read-only: readers
    // refuse it plainly instead of reading half a run.
    let lake2 = top.path().join("lake2");
    ingest(&lake2, &[&real("cloudtrail/invictus-ir-aws_dataset")]);
    let out = bin()
        .env("TRAILFLOW_FAILPOINT", "during_publish")
        .args(["ingest", "--quiet", "--lake"])
        .arg(&lake2)
        .arg(common::root().join("sample-data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    make_read_only(&lake2);
    for args in [vec!["sql", "SELECT count(*) FROM flow_logs"], vec!["search", "ec2.amazonaws.com"]] {
        let out = as_reader(&args, &lake2);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains("cut off while it was being published"), "{err}");
        assert_eq!(err.trim().lines().count(), 1, "{err}");
    }
    // Made writable again, the next reader completes the run.
    make_writable(&lake2);
    assert!(count(&lake2, "SELECT * FROM flow_logs") > 0);
}

#[test]
fn output_files_name_their_format() {
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&real("cloudtrail/trailscraper")]);
    let out_dir = tempfile::tempdir().unwrap();
    let xlsx = out_dir.path().join("out.xlsx");
    let out = bin().args(["sql", "--lake"]).arg(lake.path()).arg("SELECT 1").arg("-o").arg(&xlsx).output().unwrap();
    // A usage error, as the command line's own: exit status 2.
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains(".csv") && err.contains(".parquet") && err.contains("--format"), "{err}");
    assert!(!xlsx.exists());
    let out = bin()
        .args(["sql", "--format", "jsonl", "--lake"])
        .arg(lake.path())
        .arg("SELECT 1 AS a UNION ALL SELECT 2")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 2);
}

#[test]
fn the_release_profile_ships_no_debug_info() {
    let toml = std::fs::read_to_string(common::root().join("Cargo.toml")).unwrap();
    let release = toml.split("[profile.release]").nth(1).unwrap().split("\n[").next().unwrap();
    assert!(release.contains("debug = false") && release.contains("strip"), "{release}");
    // The README says how large the binary is.
    let readme = std::fs::read_to_string(common::root().join("README.md")).unwrap();
    assert!(readme.contains("MB") && readme.to_lowercase().contains("binary"), "README names the binary's size");
}

#[test]
fn bounds_are_settings_that_reject_one_thing_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let long = format!(r#""userAgent":"{}""#, "x".repeat(3000));
    std::fs::write(
        d.join("two.json"),
        records_file(&[record("big", "2024-05-01T10:00:00Z", &long), record("small", "2024-05-01T10:00:01Z", "")]),
    )
    .unwrap();
    let inner = zip_of(&[("in.json", records_file(&[record("zipped", "2024-05-01T10:00:02Z", "")]).as_bytes())]);
    std::fs::write(d.join("outer.zip"), zip_of(&[("inner.zip", &inner)])).unwrap();
    let lake = tempfile::tempdir().unwrap();
    let out = bin()
        .env("TRAILFLOW_MAX_RECORD", "2K")
        .env("TRAILFLOW_MAX_ARCHIVE_DEPTH", "1")
        .args(["ingest", "--quiet", "--lake"])
        .arg(lake.path())
        .arg(d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let ids = sql(lake.path(), "SELECT event_id FROM cloudtrail");
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(ids[0]["event_id"], "small");
    let reasons: Vec<String> =
        errors_of(lake.path()).iter().map(|e| e["reason"].as_str().unwrap().to_string()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("larger than 2048 bytes") && r.contains("TRAILFLOW_MAX_RECORD")),
        "{reasons:?}"
    );
    assert!(reasons.iter().any(|r| r.contains("TRAILFLOW_MAX_ARCHIVE_DEPTH")), "{reasons:?}");
    // A setting that does not read is a one-line error before anything is done.
    let out =
        bin().env("TRAILFLOW_MAX_RECORD", "lots").args(["ingest", "--lake"]).arg(lake.path()).arg(d).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("TRAILFLOW_MAX_RECORD") && err.trim().lines().count() == 1, "{err}");
}
