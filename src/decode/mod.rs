//! One decoder per source format, and the streaming JSON splitter they share.

pub mod cloudtrail;
pub mod digest;
pub mod flowlog;
pub mod inventory;
pub mod json_stream;
pub mod ocsf;
pub mod parquet_evidence;
