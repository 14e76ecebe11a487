//! trailflow: an offline forensic indexer and query engine for AWS CloudTrail and VPC Flow Logs.
//!
//! The library does the work; the `trailflow` binary only parses arguments and prints.

pub mod correlate;
pub mod decode;
pub mod error;
pub mod functions;
pub mod generate;
pub mod hunt;
pub mod ingest;
pub mod lake;
pub mod output;
pub mod query;
pub mod report;
pub mod report_chart;
pub mod schema;
pub mod search;
pub mod stats;

pub use error::{Error, Result};

/// Test hook: when `TRAILFLOW_FAILPOINT` names this point, the process dies on the spot, as if
/// killed. Used by the crash-safety tests; costs one environment lookup otherwise.
pub fn failpoint(name: &str) {
    static POINT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    if POINT.get_or_init(|| std::env::var("TRAILFLOW_FAILPOINT").ok()).as_deref() == Some(name) {
        std::process::abort();
    }
}
