//! One decoder per source format.

pub mod cloudtrail;
pub mod flowlog;
pub mod inventory;
