//! Context for addresses: whose they are. AWS's own published ranges (which service and region:
//! [`aws_ranges`]), and, from a database the user provides, the country, city, ASN and
//! organisation ([`geoip`]). The SQL functions `aws_service`, `aws_region`, `aws_prefix`,
//! `geo_country`, `geo_city`, `geo_asn`, `geo_org` and `ip_context` read them
//! (`functions::address`); `trailflow timeline`, `search`, `correlate`, `ioc` and the report show
//! them beside addresses.
//!
//! Which files: those given on the command line (`--aws-ranges FILE`, `--geoip FILE`), else those
//! the lake recorded when they were last given (`lake::context`), else the AWS ranges shipped with
//! trailflow and no GeoIP database. Loaded once per session, and only when something asks.

pub mod aws_ranges;
pub mod geoip;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

pub use aws_ranges::{AwsPrefix, AwsRanges};
pub use geoip::{GeoFacts, GeoIp};

use crate::error::{Error, Result};

/// The files address context is read from.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ContextFiles {
    /// AWS's `ip-ranges.json`; `None`: the copy shipped with trailflow.
    pub aws_ranges: Option<PathBuf>,
    /// MaxMind / DB-IP `.mmdb` files, asked in this order.
    pub geoip: Vec<PathBuf>,
}

impl ContextFiles {
    /// Do the files given read? (Before a long run that would record them at its end.)
    pub fn check(&self) -> Result<()> {
        if let Some(p) = &self.aws_ranges {
            AwsRanges::from_file(p)?;
        }
        if !self.geoip.is_empty() {
            GeoIp::open(&self.geoip)?;
        }
        Ok(())
    }
}

/// The message for a GeoIP function asked with no database.
pub const NO_GEOIP: &str = "no GeoIP database: give --geoip FILE (a MaxMind GeoLite2/GeoIP2 or DB-IP .mmdb file)";

/// Is this address private, shared, loopback or link-local?
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64.0.0/10
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || (s[0] & 0xFE00) == 0xFC00 // fc00::/7 unique local
                || (s[0] & 0xFFC0) == 0xFE80 // fe80::/10 link local
        }
    }
}

/// Address context, loaded.
#[derive(Debug)]
pub struct AddressContext {
    pub aws: AwsRanges,
    pub geo: Option<GeoIp>,
}

/// What one address is, in a few words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressFacts {
    pub private: bool,
    /// The AWS service and region (`EC2`, `us-east-1`) and the prefix that names them.
    pub aws: Option<(String, String, String)>,
    pub geo: GeoFacts,
}

impl AddressFacts {
    /// `AWS EC2 us-east-1`, `GB London, AS1221 Telstra Pty Ltd`, `private`; `None` when nothing is
    /// known.
    pub fn label(&self) -> Option<String> {
        if self.private {
            return Some("private".into());
        }
        let mut parts = Vec::new();
        if let Some((service, region, _)) = &self.aws {
            parts.push(format!("AWS {service} {region}"));
        }
        let place = match (&self.geo.country, &self.geo.city) {
            (Some(c), Some(city)) => Some(format!("{c} {city}")),
            (Some(c), None) => Some(c.clone()),
            _ => None,
        };
        let net = self.geo.asn.map(|a| match &self.geo.org {
            Some(o) => format!("AS{a} {o}"),
            None => format!("AS{a}"),
        });
        match (place, net) {
            (Some(p), Some(n)) => parts.push(format!("{p}, {n}")),
            (Some(p), None) => parts.push(p),
            (None, Some(n)) => parts.push(n),
            (None, None) => {}
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

impl AddressContext {
    pub fn load(files: &ContextFiles) -> Result<AddressContext> {
        let aws = match &files.aws_ranges {
            Some(p) => AwsRanges::from_file(p)?,
            None => AwsRanges::shipped()?,
        };
        let geo = if files.geoip.is_empty() { None } else { Some(GeoIp::open(&files.geoip)?) };
        Ok(AddressContext { aws, geo })
    }

    /// Everything known of an address (text that is not an address: nothing).
    pub fn facts(&self, addr: &str) -> Option<AddressFacts> {
        let ip: IpAddr = addr.trim().parse().ok()?;
        let private = is_private(ip);
        let aws = self.aws.lookup(ip).map(|p| (p.service.clone(), p.region.clone(), p.prefix.to_string()));
        let geo =
            if private { GeoFacts::default() } else { self.geo.as_ref().map(|g| g.lookup(ip)).unwrap_or_default() };
        Some(AddressFacts { private, aws, geo })
    }

    /// The text with each public address in it followed by whose it is: `3.238.12.183:443 (AWS
    /// EC2 us-east-1)`. Private addresses, addresses nothing is known of, and networks (`/24`)
    /// are left as they are.
    pub fn annotate(&self, text: &str) -> String {
        static ADDR: OnceLock<regex::Regex> = OnceLock::new();
        let re = ADDR.get_or_init(|| {
            regex::Regex::new(r"(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}")
                .unwrap_or_else(|_| unreachable!())
        });
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        for m in re.find_iter(text) {
            let rest = &text[m.end()..];
            // A network, or a longer token (a version, an id) this is a part of: left alone.
            let joined = |c: char| c.is_ascii_alphanumeric() || c == '/' || c == '.' || c == '_' || c == '-';
            if rest.starts_with(|c: char| joined(c) || c == ':' && !rest[1..].starts_with(|d: char| d.is_ascii_digit()))
                || text[..m.start()].ends_with(|c: char| joined(c) || c == ':')
            {
                continue;
            }
            let Some(label) = self.facts(m.as_str()).filter(|f| !f.private).and_then(|f| f.label()) else { continue };
            // A port after the address stays with it.
            let port = rest.strip_prefix(':').map_or(0, |p| {
                let n = p.bytes().take_while(u8::is_ascii_digit).count();
                if n > 0 { n + 1 } else { 0 }
            });
            let end = m.end() + port;
            out.push_str(&text[last..end]);
            out.push_str(&format!(" ({label})"));
            last = end;
        }
        out.push_str(&text[last..]);
        out
    }

    /// The GeoIP databases, or the one-line message that none was given.
    pub fn geo(&self) -> Result<&GeoIp> {
        self.geo.as_ref().ok_or_else(|| Error::Usage(NO_GEOIP.into()))
    }
}

/// Address context loaded the first time something asks (a session that never shows an address's
/// context never reads the files).
#[derive(Debug, Default)]
pub struct LazyContext {
    pub files: ContextFiles,
    loaded: OnceLock<std::result::Result<Arc<AddressContext>, String>>,
}

impl LazyContext {
    pub fn new(files: ContextFiles) -> Arc<LazyContext> {
        Arc::new(LazyContext { files, loaded: OnceLock::new() })
    }

    /// The context, or the one-line reason it could not be read (said once per use).
    pub fn get(&self) -> Result<Arc<AddressContext>> {
        self.loaded
            .get_or_init(|| AddressContext::load(&self.files).map(Arc::new).map_err(|e| e.message()))
            .clone()
            .map_err(Error::Usage)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_text_are_said_whose_they_are() {
        let aws = AwsRanges::parse(
            r#"{"createDate":"t","prefixes":[{"ip_prefix":"3.224.0.0/12","region":"us-east-1","service":"EC2"}],
                "ipv6_prefixes":[{"ipv6_prefix":"2600:1f18::/33","region":"us-east-1","service":"EC2"}]}"#,
            "test",
        )
        .unwrap();
        let ctx = AddressContext { aws, geo: None };
        assert_eq!(
            ctx.annotate("ACCEPT tcp 3.238.12.183:443 -> 10.0.1.7:22 on eni-1"),
            "ACCEPT tcp 3.238.12.183:443 (AWS EC2 us-east-1) -> 10.0.1.7:22 on eni-1"
        );
        // Networks, versions, unknown and private addresses, times: left as they are.
        for same in ["3.224.0.0/12", "aws-cli/3.238.12.183", "8.8.8.8", "10.0.0.1", "at 12:00:17 and 1.2.3.4.5"] {
            assert_eq!(ctx.annotate(same), same);
        }
        assert_eq!(
            ctx.annotate("2600:1f18::5, 3.224.0.1"),
            "2600:1f18::5 (AWS EC2 us-east-1), 3.224.0.1 (AWS EC2 us-east-1)"
        );
        let facts = ctx.facts("3.224.9.9").unwrap();
        assert_eq!(facts.label().as_deref(), Some("AWS EC2 us-east-1"));
        assert_eq!(ctx.facts("192.168.1.1").unwrap().label().as_deref(), Some("private"));
        assert!(ctx.facts("not an address").is_none());
        assert!(ctx.geo().unwrap_err().message().contains("give --geoip FILE"));
    }
}
