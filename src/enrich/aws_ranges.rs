//! AWS's published IP ranges (`ip-ranges.json`): which AWS service and region an address is in.
//!
//! The file lists prefixes under a service (`EC2`, `S3`, `CLOUDFRONT`, ...) and under `AMAZON`,
//! AWS's catch-all that holds every range, the services' included. An address is named by the
//! longest prefix of a service that holds it; `AMAZON` only when no service's prefix does (an EC2
//! address inside a longer `AMAZON` block is still EC2). IPv4 and IPv6 alike.

use std::collections::HashMap;
use std::io::Read as _;
use std::net::IpAddr;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The copy shipped with trailflow (`data/README.md` gives its provenance).
const SHIPPED: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/aws-ip-ranges.json.gz"));

/// AWS's catch-all service name.
pub const CATCH_ALL: &str = "AMAZON";

/// One prefix of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsPrefix {
    pub prefix: ipnet::IpNet,
    pub service: String,
    pub region: String,
    pub network_border_group: String,
}

/// The file as AWS writes it.
#[derive(Deserialize)]
struct File {
    #[serde(rename = "createDate")]
    create_date: String,
    #[serde(rename = "syncToken", default)]
    sync_token: String,
    prefixes: Vec<V4>,
    #[serde(default)]
    ipv6_prefixes: Vec<V6>,
}

#[derive(Deserialize)]
struct V4 {
    ip_prefix: String,
    region: String,
    service: String,
    #[serde(default)]
    network_border_group: String,
}

#[derive(Deserialize)]
struct V6 {
    ipv6_prefix: String,
    region: String,
    service: String,
    #[serde(default)]
    network_border_group: String,
}

/// The ranges, indexed for longest-prefix lookups.
#[derive(Debug)]
pub struct AwsRanges {
    /// The file's `createDate` (`2026-08-22-15-17-05`).
    pub create_date: String,
    pub sync_token: String,
    /// Where the ranges came from: `shipped` or the file's path.
    pub source: String,
    prefixes: Vec<AwsPrefix>,
    /// (is IPv6, prefix length, network as bits) -> the prefixes of that network, services first.
    index: HashMap<(bool, u8, u128), Vec<u32>>,
    /// The prefix lengths present, longest first, per family.
    lengths_v4: Vec<u8>,
    lengths_v6: Vec<u8>,
}

fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(v4) => (false, u32::from(v4) as u128),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (false, u32::from(v4) as u128),
            None => (true, u128::from(v6)),
        },
    }
}

fn network(v6: bool, addr: u128, len: u8) -> u128 {
    let width = if v6 { 128 } else { 32 };
    if len == 0 { 0 } else { addr >> (width - len as u32) }
}

impl AwsRanges {
    /// The copy shipped with trailflow.
    pub fn shipped() -> Result<AwsRanges> {
        let mut text = String::new();
        flate2::read::GzDecoder::new(SHIPPED)
            .read_to_string(&mut text)
            .map_err(|e| Error::Internal(format!("the shipped AWS ranges do not read: {e}")))?;
        AwsRanges::parse(&text, "shipped")
    }

    /// A file the user gives (`ip-ranges.json` as AWS publishes it, or gzip-compressed).
    pub fn from_file(path: &std::path::Path) -> Result<AwsRanges> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let mut text = String::new();
        if bytes.starts_with(&[0x1f, 0x8b]) {
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .map_err(|e| Error::Usage(format!("{}: not a gzip file of AWS ranges: {e}", path.display())))?;
        } else {
            text = String::from_utf8(bytes)
                .map_err(|_| Error::Usage(format!("{}: not AWS's ip-ranges.json (not text)", path.display())))?;
        }
        AwsRanges::parse(&text, &path.display().to_string())
            .map_err(|e| Error::Usage(format!("{}: {}", path.display(), e.message())))
    }

    /// The ranges in AWS's JSON.
    pub fn parse(text: &str, source: &str) -> Result<AwsRanges> {
        let file: File = serde_json::from_str(text)
            .map_err(|e| Error::Usage(format!("not AWS's ip-ranges.json ({})", crate::error::one_line(&e))))?;
        let mut prefixes = Vec::with_capacity(file.prefixes.len() + file.ipv6_prefixes.len());
        let v4 = file.prefixes.into_iter().map(|p| (p.ip_prefix, p.region, p.service, p.network_border_group));
        let v6 = file.ipv6_prefixes.into_iter().map(|p| (p.ipv6_prefix, p.region, p.service, p.network_border_group));
        for (prefix, region, service, network_border_group) in v4.chain(v6) {
            let prefix: ipnet::IpNet =
                prefix.parse().map_err(|_| Error::Usage(format!("{prefix:?} in the ranges is not a CIDR")))?;
            prefixes.push(AwsPrefix { prefix: prefix.trunc(), service, region, network_border_group });
        }
        let mut index: HashMap<(bool, u8, u128), Vec<u32>> = HashMap::new();
        for (i, p) in prefixes.iter().enumerate() {
            let (v6, addr) = bits(p.prefix.network());
            let len = p.prefix.prefix_len();
            index.entry((v6, len, network(v6, addr, len))).or_default().push(i as u32);
        }
        // Services before the catch-all, then by name, so that the choice is the same every time.
        for ids in index.values_mut() {
            ids.sort_by_key(|&i| (prefixes[i as usize].service == CATCH_ALL, prefixes[i as usize].service.clone()));
        }
        let lengths = |v6: bool| {
            let mut l: Vec<u8> = index.keys().filter(|k| k.0 == v6).map(|k| k.1).collect();
            l.sort_unstable_by(|a, b| b.cmp(a));
            l.dedup();
            l
        };
        let (lengths_v4, lengths_v6) = (lengths(false), lengths(true));
        Ok(AwsRanges {
            create_date: file.create_date,
            sync_token: file.sync_token,
            source: source.to_string(),
            prefixes,
            index,
            lengths_v4,
            lengths_v6,
        })
    }

    pub fn len(&self) -> usize {
        self.prefixes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.prefixes.is_empty()
    }

    /// The prefix that names the address: the longest of a service, else the longest of `AMAZON`.
    pub fn lookup(&self, ip: IpAddr) -> Option<&AwsPrefix> {
        let (v6, addr) = bits(ip);
        let lengths = if v6 { &self.lengths_v6 } else { &self.lengths_v4 };
        let mut catch_all: Option<&AwsPrefix> = None;
        for &len in lengths {
            let Some(ids) = self.index.get(&(v6, len, network(v6, addr, len))) else { continue };
            let first = &self.prefixes[ids[0] as usize];
            if first.service != CATCH_ALL {
                return Some(first);
            }
            catch_all = catch_all.or(Some(first));
        }
        catch_all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_names_an_address_before_the_catch_all() {
        let r = AwsRanges::parse(
            r#"{"syncToken":"1","createDate":"2026-01-01-00-00-00","prefixes":[
                {"ip_prefix":"3.0.0.0/9","region":"us-east-1","service":"AMAZON","network_border_group":"us-east-1"},
                {"ip_prefix":"3.80.0.0/12","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"},
                {"ip_prefix":"3.80.0.0/12","region":"us-east-1","service":"AMAZON","network_border_group":"us-east-1"},
                {"ip_prefix":"3.84.0.0/22","region":"us-east-1","service":"AMAZON","network_border_group":"us-east-1"},
                {"ip_prefix":"3.84.0.0/24","region":"us-east-1","service":"ROUTE53_HEALTHCHECKS","network_border_group":"us-east-1"}],
              "ipv6_prefixes":[
                {"ipv6_prefix":"2600:1f18::/33","region":"us-east-1","service":"EC2","network_border_group":"us-east-1"}]}"#,
            "test",
        )
        .unwrap();
        let at = |ip: &str| r.lookup(ip.parse().unwrap()).map(|p| (p.service.as_str(), p.prefix.to_string()));
        // The longer AMAZON block does not hide EC2; a longer service prefix wins over EC2.
        assert_eq!(at("3.84.1.9"), Some(("EC2", "3.80.0.0/12".into())));
        assert_eq!(at("3.84.0.9"), Some(("ROUTE53_HEALTHCHECKS", "3.84.0.0/24".into())));
        assert_eq!(at("3.1.2.3"), Some(("AMAZON", "3.0.0.0/9".into())));
        assert_eq!(at("4.1.2.3"), None);
        assert_eq!(at("2600:1f18:1234::1"), Some(("EC2", "2600:1f18::/33".into())));
        assert_eq!(at("::ffff:3.84.1.9"), Some(("EC2", "3.80.0.0/12".into())));
        assert!(AwsRanges::parse("{}", "x").unwrap_err().message().contains("not AWS's ip-ranges.json"));
    }

    #[test]
    fn the_shipped_copy_is_whole() {
        let r = AwsRanges::shipped().unwrap();
        assert_eq!(r.create_date, "2026-08-22-15-17-05");
        assert_eq!(r.len(), 10_668 + 6_160);
    }
}
