//! AWS's names: regions and availability zones, and the CloudTrail events that change Network
//! ACLs.

/// Does this look like an AWS region name (`us-east-1`, `us-gov-west-1`, `ap-southeast-2`)?
pub fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() < 3 || parts.len() > 4 {
        return false;
    }
    let last = parts[parts.len() - 1];
    parts[0].len() == 2
        && parts[0].bytes().all(|b| b.is_ascii_lowercase())
        && parts[1..parts.len() - 1].iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && !last.is_empty()
        && last.len() <= 2
        && last.bytes().all(|b| b.is_ascii_digit())
}

/// The region an availability zone (`us-east-1a`, `us-west-2-lax-1a`) belongs to.
pub fn region_of_az(az: &str) -> Option<String> {
    // Regions look like `xx-name-N` or `xx-gov-name-N`; an AZ adds a letter or a local-zone suffix.
    let parts: Vec<&str> = az.split('-').collect();
    for n in (3..=parts.len()).rev() {
        let candidate = parts[..n].join("-");
        if is_region(&candidate) {
            return Some(candidate);
        }
    }
    let trimmed = az.trim_end_matches(|c: char| c.is_ascii_lowercase());
    is_region(trimmed).then(|| trimmed.to_string())
}

/// The CloudTrail events that change one entry of a Network ACL.
pub const NACL_ENTRY_EVENTS: &[&str] = &["CreateNetworkAclEntry", "ReplaceNetworkAclEntry", "DeleteNetworkAclEntry"];

/// The CloudTrail events that change Network ACLs: the entry events, and those that create or
/// delete an ACL or move a subnet onto another.
pub const NACL_EVENTS: &[&str] = &[
    "CreateNetworkAclEntry",
    "ReplaceNetworkAclEntry",
    "DeleteNetworkAclEntry",
    "CreateNetworkAcl",
    "DeleteNetworkAcl",
    "ReplaceNetworkAclAssociation",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions() {
        assert!(is_region("us-east-1"));
        assert!(is_region("us-gov-west-1"));
        assert!(is_region("ap-southeast-2"));
        assert!(!is_region("2024"));
        assert!(!is_region("CloudTrail"));
        assert_eq!(region_of_az("us-east-1a").as_deref(), Some("us-east-1"));
        assert_eq!(region_of_az("us-west-2-lax-1a").as_deref(), Some("us-west-2"));
        assert!(NACL_ENTRY_EVENTS.iter().all(|e| NACL_EVENTS.contains(e)));
    }
}
