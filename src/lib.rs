//! trailflow: an offline forensic indexer and query engine for AWS CloudTrail and VPC Flow Logs.
//!
//! The library does the work; the `trailflow` binary only parses arguments and prints.

// The library never prints: what it has to say goes back to the caller (clippy holds it to that).
#![deny(clippy::print_stdout, clippy::print_stderr)]

pub mod aws;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod correlate;
pub mod decode;
pub mod enrich;
pub mod error;
pub mod functions;
pub mod hunt;
pub mod ingest;
pub mod ioc;
pub mod lake;
pub mod limits;
pub mod nacl;
pub mod output;
pub mod pattern;
pub mod query;
pub mod report;

pub mod schema;
pub mod search;
pub mod session;
pub mod sql_dialect;
pub mod stats;
pub mod time;
pub mod timeline;

pub use error::{Error, Result};

/// Test hook: when `TRAILFLOW_FAILPOINT` names this point, the process dies on the spot, as if
/// killed; when `TRAILFLOW_PAUSEPOINT` is `NAME:MILLISECONDS`, it waits there that long (for the
/// tests of readers running beside a writer). Costs one environment lookup otherwise.
pub fn failpoint(name: &str) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    static PAUSE: std::sync::OnceLock<Option<(String, u64)>> = std::sync::OnceLock::new();
    if POINT.get_or_init(|| std::env::var("TRAILFLOW_FAILPOINT").ok()).as_deref() == Some(name) {
        std::process::abort();
    }
    let pause = PAUSE.get_or_init(|| {
        let v = std::env::var("TRAILFLOW_PAUSEPOINT").ok()?;
        let (n, ms) = v.split_once(':')?;
        Some((n.to_string(), ms.parse().ok()?))
    });
    if let Some((n, ms)) = pause
        && n == name
    {
        use std::io::Write;
        let _ = writeln!(std::io::stderr(), "trailflow: paused at {name}");
        std::thread::sleep(std::time::Duration::from_millis(*ms));
    }
}
