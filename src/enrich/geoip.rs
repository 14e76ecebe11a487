//! Geography and networks from databases the user provides: MaxMind GeoLite2 / GeoIP2 and DB-IP
//! `.mmdb` files (City or Country, and ASN), read with the `maxminddb` crate. Several files are
//! asked in the order given; each fact comes from the first that has it.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// What the databases say of an address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoFacts {
    /// ISO 3166-1 alpha-2 code (`GB`): where the address is, else where its network is registered.
    pub country: Option<String>,
    /// The country's English name.
    pub country_name: Option<String>,
    pub city: Option<String>,
    pub asn: Option<u32>,
    /// The organisation the ASN is registered to.
    pub org: Option<String>,
}

/// The fields of a City, Country or ASN record that trailflow reads (DB-IP's records use the
/// same names).
#[derive(Deserialize, Default)]
struct Record {
    #[serde(default)]
    country: Option<Place>,
    #[serde(default)]
    registered_country: Option<Place>,
    #[serde(default)]
    city: Option<Place>,
    #[serde(default)]
    autonomous_system_number: Option<u32>,
    #[serde(default)]
    autonomous_system_organization: Option<String>,
}

#[derive(Deserialize, Default)]
struct Place {
    #[serde(default)]
    iso_code: Option<String>,
    #[serde(default)]
    names: BTreeMap<String, String>,
}

/// One database file.
struct Database {
    path: PathBuf,
    /// The file's own `database_type` (`GeoLite2-City`, `GeoLite2-ASN`, `DBIP-City-Lite`...).
    kind: String,
    reader: maxminddb::Reader<Vec<u8>>,
}

/// The databases given, in order.
pub struct GeoIp {
    databases: Vec<Database>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.databases.iter().map(|d| (&d.path, &d.kind))).finish()
    }
}

impl GeoIp {
    /// Open the files; one that is not a MaxMind DB is an error naming it.
    pub fn open(paths: &[PathBuf]) -> Result<GeoIp> {
        let mut databases = Vec::new();
        for path in paths {
            let reader = maxminddb::Reader::open_readfile(path).map_err(|e| {
                Error::Usage(format!(
                    "--geoip {}: not a MaxMind DB (.mmdb) file: {}",
                    path.display(),
                    crate::error::one_line(&e)
                ))
            })?;
            let kind = reader.metadata().database_type.clone();
            databases.push(Database { path: path.clone(), kind, reader });
        }
        Ok(GeoIp { databases })
    }

    /// The files and their database types, for the record of what a lake used.
    pub fn describe(&self) -> Vec<(&Path, &str)> {
        self.databases.iter().map(|d| (d.path.as_path(), d.kind.as_str())).collect()
    }

    /// Does any database hold networks (ASN), and any places (City / Country)?
    pub fn has(&self) -> (bool, bool) {
        let asn = self.databases.iter().any(|d| d.kind.contains("ASN") || d.kind.contains("ISP"));
        (asn, self.databases.iter().any(|d| !(d.kind.contains("ASN"))))
    }

    /// What the databases know of the address; a database that cannot decode its record is
    /// passed over (its facts stay unknown).
    pub fn lookup(&self, ip: IpAddr) -> GeoFacts {
        let mut facts = GeoFacts::default();
        for d in &self.databases {
            let Ok(found) = d.reader.lookup(ip) else { continue };
            let Ok(Some(r)) = found.decode::<Record>() else { continue };
            let place = r.country.filter(|c| c.iso_code.is_some()).or(r.registered_country);
            if facts.country.is_none()
                && let Some(p) = place
            {
                facts.country = p.iso_code.clone();
                facts.country_name = p.names.get("en").cloned();
            }
            if facts.city.is_none() {
                facts.city = r.city.and_then(|c| c.names.get("en").cloned());
            }
            if facts.asn.is_none() {
                facts.asn = r.autonomous_system_number;
                facts.org = r.autonomous_system_organization;
            }
        }
        facts
    }
}
