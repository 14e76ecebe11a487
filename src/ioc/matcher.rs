//! The indicators as one index, asked once per record: addresses and networks as disjoint ranges
//! of one 128-bit space (IPv4 as its IPv4-mapped IPv6 form) found by binary search; keys, ARNs,
//! accounts, users and event names in hash maps; user agents, and literal values anywhere in a
//! CloudTrail record, with one Aho-Corasick automaton each. A record's matched conditions then
//! decide which indicators' alternatives hold in it whole.

use std::collections::HashMap;
use std::net::IpAddr;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::cond::{Cond, Side};
use super::parse::Indicator;

/// A condition's place: which indicator, which of its alternatives.
#[derive(Debug, Clone, Copy)]
struct Owner {
    indicator: u32,
    alternative: u32,
}

fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn range(n: &ipnet::IpNet) -> (u128, u128) {
    let (lo, hi) = (key(n.network()), key(n.broadcast()));
    (lo, hi)
}

/// What one record offers to be matched.
#[derive(Debug, Default)]
pub struct Record<'a> {
    /// Source-side addresses (CloudTrail's caller, a flow's srcaddr and pkt-srcaddr).
    pub src: [Option<&'a str>; 2],
    pub dst: [Option<&'a str>; 2],
    pub src_port: Option<i64>,
    pub dst_port: Option<i64>,
    /// Exact values: access key, ARNs, accounts, user names and ids.
    pub keys: &'a [Option<&'a str>],
    pub arns: &'a [Option<&'a str>],
    pub accounts: &'a [Option<&'a str>],
    pub users: &'a [Option<&'a str>],
    pub event_name: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// The whole record's text (CloudTrail), searched for literal values.
    pub text: Option<&'a str>,
}

/// The index.
pub struct Matcher {
    conds: Vec<(Cond, Owner)>,
    /// Disjoint address ranges `(start, end)`, sorted, each with the conditions covering it.
    ranges: Vec<(u128, u128, Vec<u32>)>,
    /// Per kind ([`KEY`], [`ARN`], ...): value -> conditions.
    exact: [HashMap<String, Vec<u32>>; 5],
    agents: Option<(AhoCorasick, Vec<u32>)>,
    literals: Option<(AhoCorasick, Vec<(u32, String)>)>,
    /// Each indicator's alternatives, as the condition ids they need.
    alternatives: Vec<Vec<Vec<u32>>>,
    pub flows_possible: bool,
}

impl std::fmt::Debug for Matcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Matcher({} conditions, {} address ranges)", self.conds.len(), self.ranges.len())
    }
}

const KEY: u8 = 0;
const ARN: u8 = 1;
pub const ACCOUNT: u8 = 2;
const USER: u8 = 3;
const EVENT: u8 = 4;

/// The characters that continue a literal value (an ARN's, a key's, an address's): a match
/// next to one of them is part of a longer value, not this one.
fn continues(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_+=,.@/:-".contains(c)
}

impl Matcher {
    pub fn new(indicators: &[Indicator]) -> Matcher {
        let mut conds = Vec::new();
        let mut alternatives = Vec::with_capacity(indicators.len());
        for (i, ind) in indicators.iter().enumerate() {
            let mut alts = Vec::new();
            for (a, alt) in ind.alternatives.iter().enumerate() {
                let mut ids = Vec::new();
                for c in alt {
                    ids.push(conds.len() as u32);
                    conds.push((c.clone(), Owner { indicator: i as u32, alternative: a as u32 }));
                }
                alts.push(ids);
            }
            alternatives.push(alts);
        }
        // Address ranges made disjoint: cut at every start and every end + 1.
        let nets: Vec<(u128, u128, u32)> = conds
            .iter()
            .enumerate()
            .filter_map(|(id, (c, _))| match c {
                Cond::Addr(n, _) => {
                    let (lo, hi) = range(n);
                    Some((lo, hi, id as u32))
                }
                _ => None,
            })
            .collect();
        let mut cuts: Vec<u128> = nets.iter().flat_map(|&(lo, hi, _)| [lo, hi.saturating_add(1)]).collect();
        cuts.sort_unstable();
        cuts.dedup();
        let mut ranges: Vec<(u128, u128, Vec<u32>)> = Vec::new();
        let mut by_start: Vec<(u128, u128, u32)> = nets.clone();
        by_start.sort_unstable_by_key(|n| n.0);
        // Open networks (end, id), checked at each cut.
        let mut open: Vec<(u128, u32)> = Vec::new();
        let mut next = 0;
        for w in cuts.windows(2) {
            let (lo, hi) = (w[0], w[1] - 1);
            while next < by_start.len() && by_start[next].0 <= lo {
                open.push((by_start[next].1, by_start[next].2));
                next += 1;
            }
            open.retain(|&(end, _)| end >= lo);
            if !open.is_empty() {
                let mut ids: Vec<u32> = open.iter().map(|o| o.1).collect();
                ids.sort_unstable();
                ranges.push((lo, hi, ids));
            }
        }
        // The last cut may close a range that reaches the top of the space.
        if let Some(&last) = cuts.last() {
            let tail: Vec<u32> = nets.iter().filter(|n| n.1 == u128::MAX && n.0 <= last).map(|n| n.2).collect();
            if !tail.is_empty() && ranges.last().is_none_or(|r| r.1 < last) {
                ranges.push((last, u128::MAX, tail));
            }
        }
        let mut exact: [HashMap<String, Vec<u32>>; 5] = Default::default();
        let mut agents: Vec<(String, u32)> = Vec::new();
        let mut literals: Vec<(String, u32)> = Vec::new();
        for (id, (c, _)) in conds.iter().enumerate() {
            let id = id as u32;
            let mut put = |kind: u8, v: &str| exact[kind as usize].entry(v.to_string()).or_default().push(id);
            match c {
                Cond::AccessKey(v) => {
                    put(KEY, v);
                    literals.push((v.clone(), id));
                }
                Cond::Arn(v) => {
                    put(ARN, v);
                    literals.push((v.clone(), id));
                }
                Cond::Account(v) => {
                    put(ACCOUNT, v);
                    literals.push((v.clone(), id));
                }
                Cond::User(v) => put(USER, v),
                Cond::EventName(v) => put(EVENT, &v.to_ascii_lowercase()),
                Cond::UserAgent(v) => agents.push((v.to_lowercase(), id)),
                Cond::Addr(n, _) if n.prefix_len() == n.max_prefix_len() => literals.push((n.addr().to_string(), id)),
                _ => {}
            }
        }
        let automaton = |patterns: &[(String, u32)], nocase: bool| -> Option<AhoCorasick> {
            if patterns.is_empty() {
                return None;
            }
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(nocase)
                .match_kind(MatchKind::Standard)
                .build(patterns.iter().map(|p| p.0.as_str()))
                .ok()
        };
        let agents = automaton(&agents, true).map(|a| (a, agents.iter().map(|p| p.1).collect()));
        let literals = automaton(&literals, false).map(|a| (a, literals.iter().map(|p| (p.1, p.0.clone())).collect()));
        let flows_possible = conds.iter().any(|(c, _)| matches!(c, Cond::Addr(..) | Cond::Account(_)));
        Matcher { conds, ranges, exact, agents, literals, alternatives, flows_possible }
    }

    /// The conditions an address falls under.
    fn addr_conds(&self, addr: &str) -> &[u32] {
        let Some(ip) = crate::functions::parse_ip(addr) else { return &[] };
        let k = key(ip);
        let i = self.ranges.partition_point(|r| r.0 <= k);
        match i.checked_sub(1).map(|j| &self.ranges[j]) {
            Some(r) if r.1 >= k => &r.2,
            _ => &[],
        }
    }

    /// Could the record match anything? (A cheap first look, for the scan's filter.)
    pub fn any_addr(&self, addrs: &[Option<&str>]) -> bool {
        !self.ranges.is_empty() && addrs.iter().flatten().any(|a| !self.addr_conds(a).is_empty())
    }

    pub fn any_exact(&self, kind_values: &[(u8, Option<&str>)]) -> bool {
        kind_values.iter().any(|(k, v)| v.is_some_and(|v| self.exact[*k as usize].contains_key(v)))
    }

    /// The indicators (their index) whose alternatives hold whole in the record.
    pub fn matches(&self, r: &Record<'_>) -> Vec<u32> {
        let mut hit: Vec<u32> = Vec::new();
        let side_ok = |addrs: &[Option<&str>; 2], want: Side, hit: &mut Vec<u32>| {
            for a in addrs.iter().flatten() {
                for &id in self.addr_conds(a) {
                    if let (Cond::Addr(_, s), _) = &self.conds[id as usize]
                        && (*s == Side::Any || *s == want)
                    {
                        hit.push(id);
                    }
                }
            }
        };
        side_ok(&r.src, Side::Source, &mut hit);
        side_ok(&r.dst, Side::Destination, &mut hit);
        let exact = |kind: u8, values: &[Option<&str>], hit: &mut Vec<u32>| {
            for v in values.iter().flatten() {
                if let Some(ids) = self.exact[kind as usize].get(*v) {
                    hit.extend(ids);
                }
            }
        };
        exact(KEY, r.keys, &mut hit);
        exact(ARN, r.arns, &mut hit);
        exact(ACCOUNT, r.accounts, &mut hit);
        exact(USER, r.users, &mut hit);
        if let Some(e) = r.event_name {
            exact(EVENT, &[Some(&e.to_ascii_lowercase())], &mut hit);
        }
        if let (Some(ua), Some((ac, ids))) = (r.user_agent, &self.agents) {
            hit.extend(ac.find_overlapping_iter(ua).map(|m| ids[m.pattern().as_usize()]));
        }
        if let (Some(text), Some((ac, ids))) = (r.text, &self.literals) {
            for m in ac.find_overlapping_iter(text) {
                let before = text[..m.start()].chars().next_back();
                let after = text[m.end()..].chars().next();
                if !before.is_some_and(continues) && !after.is_some_and(continues) {
                    hit.push(ids[m.pattern().as_usize()].0);
                }
            }
        }
        if hit.is_empty() {
            return Vec::new();
        }
        hit.sort_unstable();
        hit.dedup();
        // Ports, checked for the alternatives that need them.
        let port_ok = |c: &Cond| match c {
            Cond::Port(p, s) => {
                let p = Some(*p as i64);
                match s {
                    Side::Source => r.src_port == p,
                    Side::Destination => r.dst_port == p,
                    Side::Any => r.src_port == p || r.dst_port == p,
                }
            }
            _ => false,
        };
        let mut out: Vec<u32> = Vec::new();
        for &id in &hit {
            let owner = self.conds[id as usize].1;
            if out.last() == Some(&owner.indicator) {
                continue;
            }
            let needed = &self.alternatives[owner.indicator as usize][owner.alternative as usize];
            if needed.iter().all(|n| hit.binary_search(n).is_ok() || port_ok(&self.conds[*n as usize].0)) {
                out.push(owner.indicator);
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse::plain;
    use super::*;

    #[test]
    fn overlapping_networks_and_literals() {
        let p = plain(
            "t",
            "10.0.0.0/8\n10.1.2.3\n2001:db8::/32\nAKIAIOSFODNN7EXAMPLE\narn:aws:iam::123456789012:user/alice\nboto3/1\n",
        );
        assert!(p.problems.is_empty(), "{:?}", p.problems);
        let m = Matcher::new(&p.indicators);
        let flow = |s: &'static str, d: &'static str| Record {
            src: [Some(s), None],
            dst: [Some(d), None],
            ..Default::default()
        };
        assert_eq!(m.matches(&flow("10.1.2.3", "8.8.8.8")), vec![0, 1]);
        assert_eq!(m.matches(&flow("8.8.8.8", "10.200.0.1")), vec![0]);
        assert_eq!(m.matches(&flow("8.8.8.8", "11.0.0.0")), Vec::<u32>::new());
        assert_eq!(m.matches(&flow("2001:db8::5", "::1")), vec![2]);
        // A literal anywhere in the record, not as part of a longer value.
        let ct = |text: &'static str| Record { text: Some(text), ..Default::default() };
        assert_eq!(m.matches(&ct(r#"{"roleArn":"arn:aws:iam::123456789012:user/alice"}"#)), vec![4]);
        assert_eq!(m.matches(&ct(r#"{"roleArn":"arn:aws:iam::123456789012:user/alice2"}"#)), Vec::<u32>::new());
        assert_eq!(m.matches(&ct(r#"{"ip":"110.1.2.3"}"#)), Vec::<u32>::new());
        assert_eq!(m.matches(&ct(r#"{"ip":"10.1.2.3"}"#)), vec![1]);
        let ua = Record { user_agent: Some("Boto3/1.34 Python"), ..Default::default() };
        assert_eq!(m.matches(&ua), vec![5]);
    }
}
