//! What a path tells: archive types, and the account and region of the AWS S3 layouts.

use crate::aws::is_region;

/// The kind of archive a name says, if any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    Zip,
    Tar,
    TarGz,
}

pub fn archive_kind(name: &str) -> Option<ArchiveKind> {
    let n = name.to_ascii_lowercase();
    if n.ends_with(".zip") {
        Some(ArchiveKind::Zip)
    } else if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
        Some(ArchiveKind::TarGz)
    } else if n.ends_with(".tar") {
        Some(ArchiveKind::Tar)
    } else {
        None
    }
}

/// What the S3 delivery layout in a path says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathInfo {
    pub account_id: Option<String>,
    pub region: Option<String>,
    /// `CloudTrail-Digest` in the path, or `_CloudTrail-Digest_` in the name.
    pub digest: bool,
    /// A trail's log file by its name (`<account>_CloudTrail_<region>_…`): the files digests cover.
    pub trail_log: bool,
}

/// Read `AWSLogs/[o-org/]<account>/<Service>/<region>/...` and the Hive-style
/// `aws-account-id=<a>/aws-service=<s>/aws-region=<r>/` layouts.
pub fn path_info(path: &str) -> PathInfo {
    let mut info = PathInfo::default();
    let parts: Vec<&str> = path.split(['/', '\\', '!']).collect();
    for (i, p) in parts.iter().enumerate() {
        if let Some(a) = p.strip_prefix("aws-account-id=") {
            info.account_id = Some(a.to_string());
        } else if let Some(r) = p.strip_prefix("aws-region=").or_else(|| p.strip_prefix("region=")) {
            info.region = Some(r.to_string());
        } else if *p == "AWSLogs" {
            let mut j = i + 1;
            if parts.get(j).is_some_and(|x| x.starts_with("o-")) {
                j += 1;
            }
            if let Some(acct) = parts.get(j).filter(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit())) {
                info.account_id = Some(acct.to_string());
                if let Some(region) = parts.get(j + 2).filter(|x| is_region(x)) {
                    info.region = Some(region.to_string());
                }
            }
        } else if *p == "CloudTrail-Digest" {
            info.digest = true;
        }
    }
    if parts.last().is_some_and(|n| n.contains("_CloudTrail-Digest_")) {
        info.digest = true;
    }
    info.trail_log = !info.digest && parts.last().is_some_and(|n| n.contains("_CloudTrail_"));
    if info.region.is_none() {
        info.region = parts.iter().rev().find(|p| is_region(p)).map(|p| p.to_string());
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_layouts() {
        let i = path_info("x.zip!AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/2024/01/02/f.json.gz");
        assert_eq!(i.account_id.as_deref(), Some("111122223333"));
        assert_eq!(i.region.as_deref(), Some("eu-west-1"));
        assert!(!i.digest);
        let i = path_info("AWSLogs/aws-account-id=123/aws-service=vpcflowlogs/aws-region=us-east-1/year=2024/x.log.gz");
        assert_eq!(i.account_id.as_deref(), Some("123"));
        assert_eq!(i.region.as_deref(), Some("us-east-1"));
        assert!(path_info("AWSLogs/1/CloudTrail-Digest/us-east-1/2024/1_CloudTrail-Digest_us-east-1_x.json.gz").digest);
    }
}
