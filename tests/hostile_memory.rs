//! Hostile inputs that used to take gigabytes: one long record, a whitespace bomb, zips nested a
//! thousand deep. Each is rejected with a reason while the rest of the run loads, and the largest
//! of these ingests stays within a bounded memory (this file's one test, so that the peak of its
//! children is its own).

mod common;

use std::io::Write;

use common::{bin, count, sql};

/// The peak resident memory of the children this process has waited for, in bytes.
fn children_peak() -> u64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) }, 0);
    usage.ru_maxrss as u64 * 1024
}

/// Write `head`, then `n` bytes of `fill`, then `tail`, gzip-compressed, to a file.
fn gz_bomb(path: &std::path::Path, head: &str, fill: u8, n: usize, tail: &str) {
    let f = std::fs::File::create(path).unwrap();
    let mut e = flate2::write::GzEncoder::new(f, flate2::Compression::best());
    e.write_all(head.as_bytes()).unwrap();
    let chunk = vec![fill; 1 << 20];
    for _ in 0..n / chunk.len() {
        e.write_all(&chunk).unwrap();
    }
    e.write_all(tail.as_bytes()).unwrap();
    e.finish().unwrap();
}

fn record(id: &str, extra: &str) -> String {
    format!(
        r#"{{"eventVersion":"1.08","eventID":"{id}","eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject"{extra}}}"#
    )
}

#[test]
fn hostile_files_are_rejected_in_bounded_memory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // One record with a 600 MB string (a 600 KB .json.gz), between two good ones.
    let open_long = r#"{"eventVersion":"1.08","eventID":"long","eventTime":"2024-05-01T10:00:00Z","eventSource":"s3.amazonaws.com","eventName":"GetObject","userAgent":""#;
    gz_bomb(
        &d.join("long.json.gz"),
        &format!(r#"{{"Records":[{},{open_long}"#, record("before", "")),
        b'a',
        600 << 20,
        &format!(r#""}},{}]}}"#, record("after", "")),
    );
    // White space, 1 GB of it, inside a record and between records.
    gz_bomb(
        &d.join("space-in.json.gz"),
        &format!(r#"{{"Records":[{},{{"eventID":"ws","#, record("ws-before", "")),
        b' ',
        1 << 30,
        r#""eventTime":"x"}]}"#,
    );
    gz_bomb(
        &d.join("space-between.json.gz"),
        r#"{"Records":["#,
        b' ',
        1 << 30,
        &format!("{}]}}", record("ws-after", "")),
    );
    let lake = tempfile::tempdir().unwrap();
    let before = children_peak();
    let out = bin().args(["ingest", "--quiet", "--json", "--lake"]).arg(lake.path()).arg(d).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let peak = children_peak().max(before);
    let ids: Vec<String> = sql(lake.path(), "SELECT event_id FROM cloudtrail ORDER BY event_id")
        .iter()
        .map(|r| r["event_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, ["after", "before", "ws-after", "ws-before"]);
    let errors = sql(lake.path(), "SELECT source_file, record, reason FROM ingest_errors ORDER BY source_file");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors.iter().all(|e| e["reason"].as_str().unwrap().contains("larger than")), "{errors:?}");
    assert_eq!(count(lake.path(), "SELECT * FROM ingested_files"), 3);
    assert!(peak < 1 << 30, "peak memory of the ingest: {} MB", peak >> 20);
}
