//! One decoder per source format, and the streaming JSON splitter they share.

pub mod cloudtrail;
pub mod digest;
pub mod flowlog;
pub mod inventory;
pub mod json_stream;
pub mod ocsf;
pub mod parquet_evidence;

/// Why a record, line or file of evidence was not loaded: the decoder says why, its caller where
/// (`ingest_errors` holds both).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Rejected(pub String);

impl From<String> for Rejected {
    fn from(why: String) -> Self {
        Rejected(why)
    }
}

impl From<Rejected> for String {
    fn from(r: Rejected) -> String {
        r.0
    }
}

impl From<&str> for Rejected {
    fn from(why: &str) -> Self {
        Rejected(why.to_string())
    }
}
