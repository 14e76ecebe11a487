//! The one model of a Network ACL entry: read from CloudTrail `requestParameters` and from
//! `describe-network-acls` output, evaluated as AWS evaluates it, and replayed over time.
//!
//! AWS evaluates the entries of one direction in rule-number order; the first entry whose
//! protocol, CIDR and (for TCP/UDP) port range match decides, allow or deny; the `*` entry
//! (rule 32767, deny all) ends every list. An entry whose content the evidence does not show
//! (a rule deleted or replaced before anything recorded it) is `unknown`: when evaluation reaches
//! one that could match, the answer is "unknown" (`None`), never a guess.

pub mod policy;

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The `*` rule number.
pub const DEFAULT_RULE: i64 = 32767;

/// One ACL entry (one direction, one rule number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub rule_number: i64,
    pub egress: bool,
    /// `allow` or `deny`.
    pub action: String,
    /// IANA protocol number, -1 for all.
    pub protocol: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipv6_cidr: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_from: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port_to: Option<i64>,
    /// ICMP type and code (protocol 1 or 58); -1 or absent: all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_type: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icmp_code: Option<i64>,
    /// The evidence says an entry existed here, not what it was.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unknown: bool,
}

impl Entry {
    pub fn unknown(egress: bool, rule_number: i64) -> Entry {
        Entry {
            rule_number,
            egress,
            action: String::new(),
            protocol: -1,
            cidr: None,
            ipv6_cidr: None,
            port_from: None,
            port_to: None,
            icmp_type: None,
            icmp_code: None,
            unknown: true,
        }
    }

    /// An entry as a rule table writes it: number, direction, action, protocol (-1 for all), an
    /// IPv4 or IPv6 range, and a port range for TCP/UDP.
    pub fn rule(
        rule_number: i64,
        egress: bool,
        action: &str,
        protocol: i64,
        cidr: &str,
        ports: Option<(i64, i64)>,
    ) -> Entry {
        let v6 = cidr.contains(':');
        Entry {
            rule_number,
            egress,
            action: action.into(),
            protocol,
            cidr: (!v6).then(|| cidr.into()),
            ipv6_cidr: v6.then(|| cidr.into()),
            port_from: ports.map(|p| p.0),
            port_to: ports.map(|p| p.1),
            icmp_type: None,
            icmp_code: None,
            unknown: false,
        }
    }

    pub fn default_deny(egress: bool) -> Entry {
        Entry {
            rule_number: DEFAULT_RULE,
            egress,
            action: "deny".into(),
            protocol: -1,
            cidr: Some("0.0.0.0/0".into()),
            ipv6_cidr: None,
            port_from: None,
            port_to: None,
            icmp_type: None,
            icmp_code: None,
            unknown: false,
        }
    }

    pub fn is_allow(&self) -> bool {
        !self.unknown && self.action.eq_ignore_ascii_case("allow")
    }

    pub fn is_deny(&self) -> bool {
        !self.unknown && self.action.eq_ignore_ascii_case("deny")
    }

    /// The network of the entry, IPv4 or IPv6.
    pub fn net(&self) -> Option<IpNet> {
        self.cidr.as_deref().or(self.ipv6_cidr.as_deref()).and_then(|c| c.trim().parse().ok())
    }

    /// Does a packet of this protocol, peer and port fall under the entry (its action aside)?
    pub fn matches(&self, protocol: i64, peer: std::net::IpAddr, port: Option<i64>) -> bool {
        if self.protocol != -1 && self.protocol != protocol {
            return false;
        }
        if !self.net().is_some_and(|n| n.contains(&peer)) {
            return false;
        }
        if matches!(self.protocol, 6 | 17)
            && let (Some(from), Some(to), Some(p)) = (self.port_from, self.port_to, port)
        {
            return from <= p && p <= to;
        }
        true
    }

    /// The entry in words: `allow tcp 22 from 0.0.0.0/0`, `deny all to ::/0`, `allow icmp type 8
    /// from 10.0.0.0/8`; an entry known only to exist says so.
    pub fn words(&self) -> String {
        if self.unknown {
            return "unknown (it existed; nothing recorded shows what it was)".into();
        }
        let mut s = format!("{} {}", self.action, policy::protocol_word(self.protocol));
        match (self.protocol, self.port_from, self.port_to) {
            (6 | 17, Some(f), Some(t)) if f == t => s.push_str(&format!(" {f}")),
            (6 | 17, Some(f), Some(t)) => s.push_str(&format!(" {f}-{t}")),
            (1 | 58, ..) => match (self.icmp_type, self.icmp_code) {
                (Some(t), Some(c)) if t >= 0 && c >= 0 => s.push_str(&format!(" type {t} code {c}")),
                (Some(t), _) if t >= 0 => s.push_str(&format!(" type {t}")),
                _ => {}
            },
            _ => {}
        }
        let net = self.cidr.as_deref().or(self.ipv6_cidr.as_deref()).unwrap_or("?");
        s.push_str(if self.egress { " to " } else { " from " });
        s.push_str(net);
        s
    }

    /// Ports the entry opens: its span, 65536 when it has none (all protocols, or no range).
    pub fn port_span(&self) -> i64 {
        match (self.protocol, self.port_from, self.port_to) {
            (6 | 17, Some(f), Some(t)) => (t - f + 1).max(0),
            _ => 65536,
        }
    }
}

/// Does the rule set allow the packet? `None` when an unknown entry could decide it.
pub fn allows(rules: &[Entry], egress: bool, protocol: i64, peer: std::net::IpAddr, port: Option<i64>) -> Option<bool> {
    policy::decide(rules, egress, protocol, peer, port).allowed()
}

/// What happened to an ACL, in the order it happened.
#[derive(Debug, Clone)]
pub enum Step {
    /// The ACL was created with these entries.
    Created(Vec<Entry>),
    /// An entry was created (`replace` false) or replaced.
    Put { entry: Entry, replace: bool },
    /// An entry was deleted.
    Removed { egress: bool, rule_number: i64 },
}

/// The history of one ACL: steps (ordinal, time, step) and snapshots (time, entries).
#[derive(Debug, Clone, Default)]
pub struct History {
    pub steps: Vec<(usize, i64, Step)>,
    pub snapshots: Vec<(i64, Vec<Entry>)>,
}

impl History {
    /// The entries after every step with ordinal `< upto` (the state just before that step).
    ///
    /// Each rule number is known from the latest step on it before the point; failing that, from
    /// a snapshot taken before the next step on it (or from the newest snapshot when no step
    /// touches it); failing that, a rule the next step replaces or deletes existed with unknown
    /// content, and a rule the next step creates did not exist.
    pub fn state_before(&self, upto: usize) -> Option<Vec<Entry>> {
        let created = self.steps.iter().find(|(_, _, s)| matches!(s, Step::Created(_)));
        if let Some((ord, _, _)) = created
            && *ord >= upto
        {
            return None; // the ACL did not exist yet
        }
        let mut keys: BTreeMap<(bool, i64), ()> = BTreeMap::new();
        for (_, _, s) in &self.steps {
            match s {
                Step::Created(es) => es.iter().for_each(|e| {
                    keys.insert((e.egress, e.rule_number), ());
                }),
                Step::Put { entry: e, .. } => {
                    keys.insert((e.egress, e.rule_number), ());
                }
                Step::Removed { egress, rule_number } => {
                    keys.insert((*egress, *rule_number), ());
                }
            }
        }
        for (_, es) in &self.snapshots {
            for e in es {
                keys.insert((e.egress, e.rule_number), ());
            }
        }
        if keys.is_empty() {
            return None; // nothing is known of this ACL
        }
        let mut out = Vec::new();
        for &(egress, n) in keys.keys() {
            let on_key = |s: &Step| -> Option<Option<Entry>> {
                match s {
                    Step::Created(es) => Some(es.iter().find(|e| e.egress == egress && e.rule_number == n).cloned()),
                    Step::Put { entry: e, .. } if e.egress == egress && e.rule_number == n => Some(Some(e.clone())),
                    Step::Removed { egress: g, rule_number } if *g == egress && *rule_number == n => Some(None),
                    _ => None,
                }
            };
            let before = self.steps.iter().filter(|(o, _, _)| *o < upto).filter_map(|(_, _, s)| on_key(s)).next_back();
            let entry = match before {
                Some(e) => e,
                None => {
                    let next = self.steps.iter().filter(|(o, _, _)| *o >= upto).find_map(|(_, t, s)| {
                        // A CreateNetworkAcl after the point does not say what was there.
                        if matches!(s, Step::Created(_)) { None } else { on_key(s).map(|e| (*t, s.clone(), e)) }
                    });
                    let snapshot_before = |limit: i64| {
                        self.snapshots
                            .iter()
                            .filter(|(t, _)| *t <= limit)
                            .max_by_key(|(t, _)| *t)
                            .map(|(_, es)| es.iter().find(|e| e.egress == egress && e.rule_number == n).cloned())
                    };
                    match next {
                        Some((t, step, _)) => match snapshot_before(t) {
                            Some(e) => e,
                            // AWS replaces and deletes only rules that exist: the rule was there,
                            // its content unknown. A create means it was not there.
                            None => match step {
                                Step::Put { replace: true, .. } | Step::Removed { .. } => {
                                    Some(Entry::unknown(egress, n))
                                }
                                _ => None,
                            },
                        },
                        None => snapshot_before(i64::MAX).flatten(),
                    }
                }
            };
            if let Some(e) = entry {
                out.push(e);
            }
        }
        Some(with_default_rules(out))
    }

    /// The rule sets the snapshots show, oldest first, each with the time it was taken; a
    /// snapshot that shows the same rules as the one before it is left out.
    pub fn snapshot_states(&self) -> Vec<(i64, Vec<Entry>)> {
        let mut snaps = self.snapshots.clone();
        snaps.sort_by_key(|(t, _)| *t);
        let mut out: Vec<(i64, Vec<Entry>)> = Vec::new();
        for (t, es) in snaps {
            let es = with_default_rules(es);
            if out.last().is_none_or(|(_, last)| *last != es) {
                out.push((t, es));
            }
        }
        out
    }
}

/// A rule set with AWS's final deny in each direction (every ACL has them), in rule order.
pub fn with_default_rules(mut out: Vec<Entry>) -> Vec<Entry> {
    for egress in [false, true] {
        if !out.iter().any(|e| e.egress == egress && e.rule_number == DEFAULT_RULE) {
            out.push(Entry::default_deny(egress));
        }
    }
    out.sort_by_key(|e| (e.egress, e.rule_number));
    out
}

/// Look a key up the way CloudTrail (camelCase) and describe-* output (PascalCase) spell it.
pub fn get<'a>(v: &'a Value, key: &str) -> Option<&'a Value> {
    v.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v)
}

pub fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn as_bool(v: Option<&Value>) -> Option<bool> {
    match v? {
        Value::Bool(b) => Some(*b),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub fn as_str(v: Option<&Value>) -> Option<String> {
    v?.as_str().map(str::to_string).filter(|s| !s.is_empty())
}

/// An entry from CloudTrail `requestParameters` or a describe-* `Entries` item.
pub fn entry_of(v: &Value) -> Option<Entry> {
    let protocol = match get(v, "aclProtocol").or_else(|| get(v, "protocol")) {
        Some(Value::String(s)) if s.eq_ignore_ascii_case("all") => -1,
        p => as_i64(p)?,
    };
    let ports = get(v, "portRange");
    let icmp = get(v, "icmpTypeCode");
    Some(Entry {
        rule_number: as_i64(get(v, "ruleNumber"))?,
        egress: as_bool(get(v, "egress")).unwrap_or(false),
        action: as_str(get(v, "ruleAction")).unwrap_or_else(|| "allow".into()).to_lowercase(),
        protocol,
        cidr: as_str(get(v, "cidrBlock")),
        ipv6_cidr: as_str(get(v, "ipv6CidrBlock")),
        port_from: ports.and_then(|p| as_i64(get(p, "from"))),
        port_to: ports.and_then(|p| as_i64(get(p, "to"))),
        icmp_type: icmp.and_then(|i| as_i64(get(i, "type"))),
        icmp_code: icmp.and_then(|i| as_i64(get(i, "code"))),
        unknown: false,
    })
}

/// The entries of a describe-* `NetworkAcls` item or a CreateNetworkAcl response `networkAcl`.
pub fn entries_of(acl: &Value) -> Vec<Entry> {
    let list = get(acl, "Entries").or_else(|| get(acl, "entrySet").and_then(|s| get(s, "items")));
    list.and_then(Value::as_array).map(|a| a.iter().filter_map(entry_of).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(n: i64, egress: bool, proto: i64, cidr: &str, ports: Option<(i64, i64)>) -> Entry {
        Entry::rule(n, egress, "allow", proto, cidr, ports)
    }

    #[test]
    fn first_match_by_rule_number_decides() {
        let mut deny = allow(50, false, -1, "45.137.21.0/24", None);
        deny.action = "deny".into();
        let rules = vec![allow(100, false, 6, "0.0.0.0/0", Some((443, 443))), deny, Entry::default_deny(false)];
        let ip = |s: &str| s.parse().unwrap();
        assert_eq!(allows(&rules, false, 6, ip("45.137.21.9"), Some(443)), Some(false));
        assert_eq!(allows(&rules, false, 6, ip("8.8.8.8"), Some(443)), Some(true));
        assert_eq!(allows(&rules, false, 6, ip("8.8.8.8"), Some(22)), Some(false));
        assert_eq!(allows(&rules, true, 6, ip("8.8.8.8"), Some(443)), Some(false));
        let with_unknown = vec![Entry::unknown(false, 10), allow(100, false, -1, "0.0.0.0/0", None)];
        assert_eq!(allows(&with_unknown, false, 6, ip("8.8.8.8"), Some(22)), None);
    }

    #[test]
    fn replay_before_and_after_steps_with_a_late_snapshot() {
        // Snapshot at the end shows rule 100 tcp/0-65535 (after a replace) and no rule 50.
        let mut h = History::default();
        let wide = allow(100, false, 6, "0.0.0.0/0", Some((0, 65535)));
        h.steps.push((1, 100, Step::Put { entry: wide.clone(), replace: true }));
        h.steps.push((2, 200, Step::Removed { egress: false, rule_number: 50 }));
        h.snapshots.push((300, vec![wide.clone(), Entry::default_deny(false)]));
        let before_replace = h.state_before(1).unwrap();
        // Rule 100 existed before the replace, with content the evidence does not show.
        assert!(before_replace.iter().any(|e| e.rule_number == 100 && e.unknown));
        let after_replace = h.state_before(2).unwrap();
        assert!(after_replace.contains(&wide));
        assert!(after_replace.iter().any(|e| e.rule_number == 50 && e.unknown));
        let after_delete = h.state_before(3).unwrap();
        assert!(!after_delete.iter().any(|e| e.rule_number == 50));
    }
}
