//! What an indicator asks of a record: conditions on addresses, ports, keys, principals, agents
//! and calls, and the forms that tell a value's kind.

use std::net::IpAddr;

use ipnet::IpNet;

/// Which end of a connection an address or port must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Any,
    Source,
    Destination,
}

/// One condition on a record.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Cond {
    /// An address or a network (a single address is a /32 or /128).
    Addr(IpNet, Side),
    Port(u16, Side),
    /// An access key id (`AKIA...`, `ASIA...`).
    AccessKey(String),
    Arn(String),
    /// A 12-digit AWS account id.
    Account(String),
    /// Part of a user agent, case ignored.
    UserAgent(String),
    EventName(String),
    /// A user name, key or principal id (STIX `user-account`).
    User(String),
}

impl Cond {
    /// The kind's name in output (`ip`, `cidr`, `access_key`...).
    pub fn kind(&self) -> &'static str {
        match self {
            Cond::Addr(n, _) if n.prefix_len() == n.max_prefix_len() => "ip",
            Cond::Addr(..) => "cidr",
            Cond::Port(..) => "port",
            Cond::AccessKey(_) => "access_key",
            Cond::Arn(_) => "arn",
            Cond::Account(_) => "account",
            Cond::UserAgent(_) => "user_agent",
            Cond::EventName(_) => "event_name",
            Cond::User(_) => "user",
        }
    }

    /// The value as written in output.
    pub fn value(&self) -> String {
        let side = |s: &Side| match s {
            Side::Any => "",
            Side::Source => "src ",
            Side::Destination => "dst ",
        };
        match self {
            Cond::Addr(n, s) if n.prefix_len() == n.max_prefix_len() => format!("{}{}", side(s), n.addr()),
            Cond::Addr(n, s) => format!("{}{n}", side(s)),
            Cond::Port(p, s) => format!("{}port {p}", side(s)),
            Cond::AccessKey(v) | Cond::Arn(v) | Cond::Account(v) | Cond::UserAgent(v) | Cond::EventName(v) => v.clone(),
            Cond::User(v) => v.clone(),
        }
    }
}

pub(super) fn is_access_key(s: &str) -> bool {
    s.len() == 20
        && (s.starts_with("AKIA") || s.starts_with("ASIA"))
        && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

pub(super) fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

pub(super) fn addr_or_net(s: &str) -> Option<IpNet> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(IpNet::from(ip));
    }
    s.parse::<IpNet>().ok().map(|n| n.trunc())
}
