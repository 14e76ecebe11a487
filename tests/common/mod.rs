//! Helpers the end-to-end test files share: the binary, the real corpus, ingest and SQL.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The `trailflow` binary, with the environment the tests set cleared.
pub fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_trailflow"));
    c.env_remove("TRAILFLOW_LAKE")
        .env_remove("TRAILFLOW_FAILPOINT")
        .env_remove("TRAILFLOW_PAUSEPOINT")
        .env_remove("TRAILFLOW_AWS_RANGES")
        .env_remove("TRAILFLOW_GEOIP");
    c
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A file or folder of the real corpus.
pub fn real(p: &str) -> PathBuf {
    root().join("tests/data/real").join(p)
}

/// `trailflow ingest --json`: the process's output and its summary.
pub fn ingest(lake: &Path, inputs: &[&Path]) -> (Output, Value) {
    let out = bin().arg("ingest").arg("--lake").arg(lake).arg("--quiet").arg("--json").args(inputs).output().unwrap();
    let summary = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, summary)
}

/// Rows of a query, as JSON objects; the query must succeed.
pub fn sql(lake: &Path, q: &str) -> Vec<Value> {
    let out = bin().args(["sql", "--format", "json", "--lake"]).arg(lake).arg(q).output().unwrap();
    assert!(out.status.success(), "{q}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() { Vec::new() } else { serde_json::from_str(&text).unwrap() }
}

pub fn count(lake: &Path, q: &str) -> i64 {
    let rows = sql(lake, &format!("SELECT count(*) AS n FROM ({q})"));
    rows[0]["n"].as_i64().unwrap()
}

/// The ground truth of the bundled sample evidence.
pub fn truth() -> Value {
    serde_json::from_slice(&std::fs::read(root().join("sample-data/ground-truth.json")).unwrap()).unwrap()
}

pub fn gz(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Standard error as text.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).to_string()
}

/// Ingest `input` into a new lake with the process killed at the failpoint `point`; the lake is
/// left as the kill left it. Fails the test when the failpoint did not fire.
pub fn killed_ingest(point: &str, input: &Path) -> tempfile::TempDir {
    let lake = tempfile::tempdir().unwrap();
    let out = bin()
        .env("TRAILFLOW_FAILPOINT", point)
        .args(["ingest", "--quiet", "--lake"])
        .arg(lake.path())
        .arg(input)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{point}: the failpoint did not fire");
    lake
}
