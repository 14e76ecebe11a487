//! An ACL's effective policy, and what a change did to it.
//!
//! The packets one direction of an ACL judges form a space: protocol × port (the ICMP type and
//! code for ICMP) × peer address, IPv4 and IPv6 apart. Every rule covers a box of it. The rules'
//! edges cut the space into cells no rule edge crosses, so one evaluation per cell (lowest rule
//! number first, first match wins, the implicit final deny) decides every packet in it. Two rule
//! sets cut on the union of their edges are compared cell by cell; the cells that differ, merged
//! back into a few regions, are what a change opened and what it closed.
//!
//! A rule the evidence never showed (`Entry::unknown`) could match anything: a cell that reaches
//! it is decided by it, as unknown, and a difference that depends on it is reported as possible
//! (`certain: false`), never as fact.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use serde::Serialize;

use super::{DEFAULT_RULE, Entry};

/// How a rule set decides a packet, and by which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow(i64),
    Deny(i64),
    /// A rule the evidence does not show is reached before any known rule matches.
    Unknown(i64),
}

impl Decision {
    /// The deciding rule's number (32767 for the final deny).
    pub fn rule(self) -> i64 {
        match self {
            Decision::Allow(n) | Decision::Deny(n) | Decision::Unknown(n) => n,
        }
    }

    /// Allowed (`Some(true)`), denied, or unknown (`None`).
    pub fn allowed(self) -> Option<bool> {
        match self {
            Decision::Allow(_) => Some(true),
            Decision::Deny(_) => Some(false),
            Decision::Unknown(_) => None,
        }
    }
}

/// The rules of one direction in evaluation order.
pub fn in_order(rules: &[Entry], egress: bool) -> Vec<&Entry> {
    let mut dir: Vec<&Entry> = rules.iter().filter(|e| e.egress == egress).collect();
    dir.sort_by_key(|e| e.rule_number);
    dir
}

/// How the rule set decides a packet (the peer is the far side: the source of an inbound packet,
/// the destination of an outbound one).
pub fn decide(rules: &[Entry], egress: bool, protocol: i64, peer: IpAddr, port: Option<i64>) -> Decision {
    for e in in_order(rules, egress) {
        if e.unknown {
            return Decision::Unknown(e.rule_number);
        }
        if e.matches(protocol, peer, port) {
            return if e.is_allow() { Decision::Allow(e.rule_number) } else { Decision::Deny(e.rule_number) };
        }
    }
    Decision::Deny(DEFAULT_RULE)
}

/// An address family and its span as integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    fn max(self) -> u128 {
        match self {
            Family::V4 => u32::MAX as u128,
            Family::V6 => u128::MAX,
        }
    }
    /// Addresses in the family, as a float (2^128 does not fit an integer).
    fn size(self) -> f64 {
        self.max() as f64 + 1.0
    }
    fn addr(self, v: u128) -> IpAddr {
        match self {
            Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
            Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
        }
    }
}

/// A network as (family, first, last).
pub fn span(net: &IpNet) -> (Family, u128, u128) {
    match net {
        IpNet::V4(n) => (Family::V4, u32::from(n.network()) as u128, u32::from(n.broadcast()) as u128),
        IpNet::V6(n) => (Family::V6, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// A class of protocols that every rule treats alike: one protocol a rule names, or every
/// protocol no rule names (which only "all protocols" rules reach).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Class {
    Proto(i64),
    Other,
}

/// The second axis of a class: TCP/UDP ports, ICMP type × 256 + code, or nothing.
fn axis_max(class: Class) -> u32 {
    match class {
        Class::Proto(6 | 17 | 1 | 58) => 65535,
        _ => 0,
    }
}

/// The part of a class's second axis an entry covers (inclusive), `None` when it covers none.
fn axis_of(e: &Entry, class: Class) -> Option<(u32, u32)> {
    let all = Some((0, axis_max(class)));
    if e.unknown || e.protocol == -1 {
        return all;
    }
    match class {
        Class::Proto(p) if p == e.protocol => match p {
            6 | 17 => match (e.port_from, e.port_to) {
                (Some(f), Some(t)) if f <= t && t >= 0 && f <= 65535 => Some((f.max(0) as u32, t.min(65535) as u32)),
                (Some(_), Some(_)) => None,
                _ => all,
            },
            1 | 58 => match (e.icmp_type, e.icmp_code) {
                (Some(t), _) if !(0..=255).contains(&t) => all,
                (Some(t), Some(c)) if (0..=255).contains(&c) => {
                    Some((t as u32 * 256 + c as u32, t as u32 * 256 + c as u32))
                }
                (Some(t), _) => Some((t as u32 * 256, t as u32 * 256 + 255)),
                (None, _) => all,
            },
            _ => all,
        },
        _ => None,
    }
}

/// The addresses an entry covers in a family (inclusive), `None` when none.
fn addresses_of(e: &Entry, family: Family) -> Option<(u128, u128)> {
    if e.unknown {
        return Some((0, family.max()));
    }
    let (f, lo, hi) = span(&e.net()?);
    (f == family).then_some((lo, hi))
}

/// Cut points of one axis: the start of every cell.
fn cuts<T: Copy + Ord + num_like::Step>(edges: impl Iterator<Item = (T, T)>, max: T) -> Vec<T> {
    let mut out = vec![T::ZERO];
    for (lo, hi) in edges {
        out.push(lo);
        if hi < max {
            out.push(hi.next());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Integer steps for the two axes (u32 ports, u128 addresses).
mod num_like {
    pub trait Step {
        const ZERO: Self;
        fn next(self) -> Self;
    }
    impl Step for u32 {
        const ZERO: u32 = 0;
        fn next(self) -> u32 {
            self + 1
        }
    }
    impl Step for u128 {
        const ZERO: u128 = 0;
        fn next(self) -> u128 {
            self + 1
        }
    }
}

/// The cells `[lo, hi]` covers, as an index range into `cuts`.
fn cell_range<T: Copy + Ord>(cuts: &[T], lo: T, hi: T) -> std::ops::Range<usize> {
    let first = cuts.partition_point(|c| *c < lo);
    let end = cuts.partition_point(|c| *c <= hi);
    first..end
}

/// One class and family of one direction, cut on the edges of the rule sets given.
struct Grid {
    class: Class,
    family: Family,
    axis: Vec<u32>,
    addrs: Vec<u128>,
}

impl Grid {
    fn new(class: Class, family: Family, sets: &[&[&Entry]]) -> Grid {
        let relevant = || sets.iter().flat_map(|s| s.iter()).filter(|e| !e.unknown);
        let axis = cuts(relevant().filter_map(|e| axis_of(e, class)), axis_max(class));
        let addrs = cuts(relevant().filter_map(|e| addresses_of(e, family)), family.max());
        Grid { class, family, axis, addrs }
    }

    fn axis_span(&self, i: usize) -> (u32, u32) {
        let hi = self.axis.get(i + 1).map(|c| c - 1).unwrap_or(axis_max(self.class));
        (self.axis[i], hi)
    }

    fn addr_span(&self, i: usize) -> (u128, u128) {
        let hi = self.addrs.get(i + 1).map(|c| c - 1).unwrap_or(self.family.max());
        (self.addrs[i], hi)
    }

    /// Every cell's decision under `rules` (in evaluation order), row by address. With
    /// `skip_unknown`, rules the evidence does not show are passed over, as if they matched
    /// nothing: what the rules below them decide.
    fn paint(&self, rules: &[&Entry], skip_unknown: bool) -> Vec<Decision> {
        let (na, np) = (self.addrs.len(), self.axis.len());
        let mut cells: Vec<Option<Decision>> = vec![None; na * np];
        let mut left = cells.len();
        for e in rules {
            if left == 0 {
                break;
            }
            if skip_unknown && e.unknown {
                continue;
            }
            let (Some((plo, phi)), Some((alo, ahi))) = (axis_of(e, self.class), addresses_of(e, self.family)) else {
                continue;
            };
            let d = if e.unknown {
                Decision::Unknown(e.rule_number)
            } else if e.is_allow() {
                Decision::Allow(e.rule_number)
            } else {
                Decision::Deny(e.rule_number)
            };
            let ports = cell_range(&self.axis, plo, phi);
            for a in cell_range(&self.addrs, alo, ahi) {
                for p in ports.clone() {
                    let c = &mut cells[a * np + p];
                    if c.is_none() {
                        *c = Some(d);
                        left -= 1;
                    }
                }
            }
        }
        cells.into_iter().map(|c| c.unwrap_or(Decision::Deny(DEFAULT_RULE))).collect()
    }
}

impl Grid {
    /// For each cell, the length (in axis values) of the run of consecutive allowed cells it
    /// lies in, for its addresses; 0 where the cell is not allowed.
    fn allowed_runs(&self, cells: &[Decision]) -> Vec<u64> {
        let np = self.axis.len();
        let mut out = vec![0u64; cells.len()];
        for a in 0..self.addrs.len() {
            let row = a * np;
            let mut p = 0;
            while p < np {
                if !matches!(cells[row + p], Decision::Allow(_)) {
                    p += 1;
                    continue;
                }
                let start = p;
                let mut len = 0u64;
                while p < np && matches!(cells[row + p], Decision::Allow(_)) {
                    let (lo, hi) = self.axis_span(p);
                    len += (hi - lo) as u64 + 1;
                    p += 1;
                }
                out[row + start..row + p].iter_mut().for_each(|r| *r = len);
            }
        }
        out
    }
}

/// What a region of packets went through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Opened { certain: bool },
    Closed { certain: bool },
}

/// What happened to a cell: its decisions before and after, and (`skipped_*`) what the rules
/// below the unknown ones decide. Both sides stopped at the same unknown rule: the change matters
/// only if that rule does not match, so only a difference below it counts, as possible.
fn kind_of(before: Decision, after: Decision, skipped_before: Decision, skipped_after: Decision) -> Vec<Kind> {
    use Decision::*;
    match (before, after) {
        (Deny(_), Allow(_)) => vec![Kind::Opened { certain: true }],
        (Allow(_), Deny(_)) => vec![Kind::Closed { certain: true }],
        (Unknown(a), Unknown(b)) if a == b => match (skipped_before.allowed(), skipped_after.allowed()) {
            (Some(false), Some(true)) => vec![Kind::Opened { certain: false }],
            (Some(true), Some(false)) => vec![Kind::Closed { certain: false }],
            _ => vec![],
        },
        (Unknown(_), Allow(_)) | (Deny(_), Unknown(_)) => vec![Kind::Opened { certain: false }],
        (Allow(_), Unknown(_)) | (Unknown(_), Deny(_)) => vec![Kind::Closed { certain: false }],
        (Unknown(_), Unknown(_)) => vec![Kind::Opened { certain: false }, Kind::Closed { certain: false }],
        _ => vec![],
    }
}

/// A set of packets of one direction: a protocol (or all, or all but some), the ports (ICMP
/// types) and the peer addresses. Serialised as the `opened` / `closed` JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Region {
    /// `ingress` or `egress`.
    pub direction: &'static str,
    /// `tcp`, `udp`, `icmp`, `icmpv6`, a number, `all`, or `all but tcp, udp`.
    pub protocol: String,
    /// IANA number; -1 for all protocols; absent for "all but ...".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol_number: Option<i64>,
    /// TCP/UDP port ranges, inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<[u32; 2]>>,
    /// ICMP types (`8`, `3:4` for type 3 code 4, `0-255`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub icmp: Option<Vec<String>>,
    /// Peer networks, and networks inside them that are not part of the region.
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    /// False when a rule the evidence does not show could have decided otherwise.
    pub certain: bool,
    #[serde(skip)]
    pub family: Option<Family>,
    #[serde(skip)]
    pub address_ranges: Vec<(u128, u128)>,
    #[serde(skip)]
    pub axis: Vec<(u32, u32)>,
    #[serde(skip)]
    pub egress: bool,
    /// The longest run of consecutive ports (TCP/UDP) open after the change that an opened port
    /// of the region lies in: what the change leaves open around what it opened.
    #[serde(skip)]
    pub open_run: u64,
}

impl Region {
    /// TCP or UDP.
    pub fn has_ports(&self) -> bool {
        matches!(self.protocol_number, Some(6 | 17))
    }

    /// How many ports a TCP/UDP region spans (65536 for any other).
    pub fn port_count(&self) -> u64 {
        if self.has_ports() { self.axis.iter().map(|(a, b)| (b - a + 1) as u64).sum() } else { 65536 }
    }

    /// Lowest port of a TCP/UDP region.
    pub fn lowest_port(&self) -> Option<u32> {
        self.has_ports().then(|| self.axis.first().map(|r| r.0)).flatten()
    }

    /// Addresses of the region outside the given networks, as a share of the family's space.
    pub fn share_outside(&self, trusted: &[IpNet]) -> f64 {
        let Some(family) = self.family else { return 0.0 };
        let mut inside: Vec<(u128, u128)> =
            trusted.iter().map(span).filter(|(f, _, _)| *f == family).map(|(_, a, b)| (a, b)).collect();
        inside = merge(inside);
        let mut outside = 0.0;
        for &(lo, hi) in &self.address_ranges {
            let mut n = (hi - lo) as f64 + 1.0;
            for &(a, b) in &inside {
                let (s, e) = (lo.max(a), hi.min(b));
                if s <= e {
                    n -= (e - s) as f64 + 1.0;
                }
            }
            outside += n.max(0.0);
        }
        outside / family.size()
    }

    /// The region in words: `ingress tcp 22,80 from 0.0.0.0/0 except 10.0.0.0/8`.
    pub fn words(&self) -> String {
        let mut s = format!("{} {}", self.direction, self.protocol);
        if let Some(p) = &self.ports {
            let list: Vec<String> =
                p.iter().map(|[a, b]| if a == b { a.to_string() } else { format!("{a}-{b}") }).collect();
            s.push(' ');
            s.push_str(&list.join(","));
        }
        if let Some(t) = &self.icmp {
            s.push_str(" type ");
            s.push_str(&t.join(","));
        }
        s.push_str(if self.egress { " to " } else { " from " });
        s.push_str(&self.addresses.join(","));
        if !self.except.is_empty() {
            s.push_str(" except ");
            s.push_str(&self.except.join(","));
        }
        s
    }
}

/// Sorted, merged inclusive ranges.
fn merge<T: Copy + Ord + num_like::Step>(mut v: Vec<(T, T)>) -> Vec<(T, T)> {
    v.sort();
    let mut out: Vec<(T, T)> = Vec::new();
    for (lo, hi) in v {
        match out.last_mut() {
            Some(last) if lo <= last.1 || lo == last.1.next() => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The fewest CIDR blocks that cover exactly `[lo, hi]`.
fn cidrs(family: Family, lo: u128, hi: u128) -> Vec<IpNet> {
    match family {
        Family::V4 => {
            ipnet::Ipv4Subnets::new(Ipv4Addr::from(lo as u32), Ipv4Addr::from(hi as u32), 0).map(IpNet::V4).collect()
        }
        Family::V6 => ipnet::Ipv6Subnets::new(Ipv6Addr::from(lo), Ipv6Addr::from(hi), 0).map(IpNet::V6).collect(),
    }
}

/// Addresses as a short list: the blocks themselves when there are few, else the smallest block
/// around them with the gaps named (`0.0.0.0/0` except `10.0.0.0/8`).
fn describe(family: Family, ranges: &[(u128, u128)]) -> (Vec<String>, Vec<String>) {
    let blocks: Vec<IpNet> = ranges.iter().flat_map(|&(a, b)| cidrs(family, a, b)).collect();
    let (lo, hi) = (ranges.first().map(|r| r.0).unwrap_or(0), ranges.last().map(|r| r.1).unwrap_or(0));
    let hull = {
        let bits = match family {
            Family::V4 => 32u32,
            Family::V6 => 128,
        };
        let diff = lo ^ hi;
        let len = if diff == 0 { bits } else { bits - (128 - diff.leading_zeros()) };
        IpNet::new(family.addr(lo), len as u8).map(|n| n.trunc()).ok()
    };
    if blocks.len() > 3
        && let Some(hull) = hull
    {
        let (_, hlo, hhi) = span(&hull);
        let mut gaps = Vec::new();
        let mut at = hlo;
        for &(a, b) in ranges {
            if a > at {
                gaps.extend(cidrs(family, at, a - 1));
            }
            at = if b == u128::MAX { b } else { b + 1 };
        }
        if ranges.last().is_some_and(|r| r.1 < hhi) {
            gaps.extend(cidrs(family, at, hhi));
        }
        if gaps.len() < blocks.len() {
            return (vec![hull.to_string()], gaps.iter().map(IpNet::to_string).collect());
        }
    }
    (blocks.iter().map(IpNet::to_string).collect(), Vec::new())
}

pub fn protocol_word(p: i64) -> String {
    match p {
        -1 => "all".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        1 => "icmp".into(),
        58 => "icmpv6".into(),
        n => format!("protocol {n}"),
    }
}

fn icmp_words(axis: &[(u32, u32)]) -> Vec<String> {
    let one = |v: u32| if v.is_multiple_of(256) { format!("{}", v / 256) } else { format!("{}:{}", v / 256, v % 256) };
    axis.iter()
        .map(|&(a, b)| match (a, b) {
            (0, 65535) => "0-255".to_string(),
            (a, b) if a % 256 == 0 && b % 256 == 255 && a / 256 == b / 256 => format!("{}", a / 256),
            (a, b) if a % 256 == 0 && b % 256 == 255 => format!("{}-{}", a / 256, b / 256),
            (a, b) if a == b => format!("{}:{}", a / 256, a % 256),
            (a, b) => format!("{}-{}", one(a), one(b)),
        })
        .collect()
}

/// The difference between two rule sets: what the second allows that the first did not
/// (`opened`), and the reverse (`closed`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    pub opened: Vec<Region>,
    pub closed: Vec<Region>,
}

impl Diff {
    /// One line: `ingress tcp 22 from 0.0.0.0/0 opened; ...`, or `None` when nothing changed.
    pub fn line(regions: &[Region], verb: &str) -> Option<String> {
        if regions.is_empty() {
            return None;
        }
        let parts: Vec<String> = regions
            .iter()
            .map(|r| {
                if r.certain {
                    format!("{} {verb}", r.words())
                } else {
                    format!("{} possibly {verb} (a rule the evidence does not show could decide)", r.words())
                }
            })
            .collect();
        Some(parts.join("; "))
    }
}

/// The classes a direction's rules distinguish.
fn classes(sets: &[&[&Entry]]) -> Vec<Class> {
    let mut out: Vec<Class> = sets
        .iter()
        .flat_map(|s| s.iter())
        .filter(|e| !e.unknown && e.protocol != -1)
        .map(|e| Class::Proto(e.protocol))
        .collect();
    out.push(Class::Other);
    out.sort();
    out.dedup();
    out
}

/// What changed from `before` to `after`, direction by direction.
pub fn diff(before: &[Entry], after: &[Entry]) -> Diff {
    let mut d = Diff::default();
    for egress in [false, true] {
        let (b, a) = (in_order(before, egress), in_order(after, egress));
        let sets: [&[&Entry]; 2] = [&b, &a];
        // (kind, class, family) → (address cell span, axis span) cells.
        let mut found: Cells = Default::default();
        let class_list = classes(&sets);
        for &class in &class_list {
            for family in [Family::V4, Family::V6] {
                // A family no rule names is denied on both sides: nothing to compare.
                let named = |e: &&Entry| e.unknown || addresses_of(e, family).is_some();
                if !b.iter().chain(&a).any(named) {
                    continue;
                }
                let g = Grid::new(class, family, &sets);
                let (pb, pa) = (g.paint(&b, false), g.paint(&a, false));
                // Passing over unknown rules changes nothing where there are none.
                let skip = |rules: &[&Entry], painted: &Vec<Decision>| {
                    if rules.iter().any(|e| e.unknown) { g.paint(rules, true) } else { painted.clone() }
                };
                let (sb, sa) = (skip(&b, &pb), skip(&a, &pa));
                let np = g.axis.len();
                let runs = g.allowed_runs(&sa);
                for i in 0..pb.len() {
                    for k in kind_of(pb[i], pa[i], sb[i], sa[i]) {
                        found.entry((k, class, family)).or_default().push((
                            g.addr_span(i / np),
                            g.axis_span(i % np),
                            runs[i],
                        ));
                    }
                }
            }
        }
        for (kind, regions) in regions_of(egress, &class_list, found) {
            match kind {
                Kind::Opened { .. } => d.opened.extend(regions),
                Kind::Closed { .. } => d.closed.extend(regions),
            }
        }
    }
    d
}

/// Cells by what happened to them: (address span, axis span, the run of open ports it is in).
type Cells = std::collections::BTreeMap<(Kind, Class, Family), Vec<((u128, u128), (u32, u32), u64)>>;

/// Merge cells into regions: per address span the set of axis ranges; spans with equal axis sets
/// become one region; classes with identical regions that together make every protocol become
/// `all`.
fn regions_of(egress: bool, class_list: &[Class], found: Cells) -> Vec<(Kind, Vec<Region>)> {
    // (kind, family) → class → [(axis ranges, address ranges)]
    type Shapes = Vec<(Vec<(u32, u32)>, Vec<(u128, u128)>)>;
    let mut by: std::collections::BTreeMap<(Kind, Family), std::collections::BTreeMap<Class, (Shapes, u64)>> =
        Default::default();
    for ((kind, class, family), cells) in found {
        let mut per_addr: std::collections::BTreeMap<(u128, u128), Vec<(u32, u32)>> = Default::default();
        let run = cells.iter().map(|c| c.2).max().unwrap_or(0);
        for (addr, axis, _) in cells {
            per_addr.entry(addr).or_default().push(axis);
        }
        let mut shapes: Shapes = Vec::new();
        for (addr, axis) in per_addr {
            let axis = merge(axis);
            match shapes.iter_mut().find(|(a, _)| *a == axis) {
                Some((_, addrs)) => addrs.push(addr),
                None => shapes.push((axis, vec![addr])),
            }
        }
        for s in &mut shapes {
            s.1 = merge(std::mem::take(&mut s.1));
        }
        by.entry((kind, family)).or_default().insert(class, (shapes, run));
    }
    let mut out: Vec<(Kind, Vec<Region>)> = Vec::new();
    for ((kind, family), per_class) in by {
        let certain = match kind {
            Kind::Opened { certain } | Kind::Closed { certain } => certain,
        };
        let full = |c: &Class, shapes: &Shapes| shapes.len() == 1 && shapes[0].0 == vec![(0, axis_max(*c))];
        // Every class opened on the whole of its axis, over the same addresses: all protocols.
        let all_same = class_list.iter().all(|c| per_class.get(c).is_some_and(|(s, _)| full(c, s)))
            && per_class.values().map(|(s, _)| &s[0].1).collect::<std::collections::BTreeSet<_>>().len() == 1;
        let mut regions = Vec::new();
        let region =
            |protocol: String, number: Option<i64>, axis: Vec<(u32, u32)>, addrs: Vec<(u128, u128)>, run: u64| {
                let (addresses, except) = describe(family, &addrs);
                let ports = matches!(number, Some(6 | 17)).then(|| axis.iter().map(|&(a, b)| [a, b]).collect());
                let icmp = matches!(number, Some(1 | 58)).then(|| icmp_words(&axis));
                Region {
                    direction: if egress { "egress" } else { "ingress" },
                    protocol,
                    protocol_number: number,
                    ports,
                    icmp,
                    addresses,
                    except,
                    certain,
                    family: Some(family),
                    address_ranges: addrs,
                    axis,
                    egress,
                    open_run: run,
                }
            };
        if all_same {
            let addrs = per_class.values().next().map(|(s, _)| s[0].1.clone()).unwrap_or_default();
            regions.push(region("all".into(), Some(-1), vec![(0, 65535)], addrs, 65536));
        } else {
            let named: Vec<String> = class_list
                .iter()
                .filter_map(|c| match c {
                    Class::Proto(p) => Some(protocol_word(*p)),
                    Class::Other => None,
                })
                .collect();
            for (class, (shapes, run)) in per_class {
                for (axis, addrs) in shapes {
                    let (word, number) = match class {
                        Class::Proto(p) => (protocol_word(p), Some(p)),
                        Class::Other => (format!("all but {}", named.join(", ")), None),
                    };
                    regions.push(region(word, number, axis, addrs, run));
                }
            }
        }
        match out.iter_mut().find(|(k, _)| *k == kind) {
            Some((_, r)) => r.extend(regions),
            None => out.push((kind, regions)),
        }
    }
    out
}

/// The cells a rule decides in a rule set: none when rules above it decide all of its packets.
pub fn decides_any(rules: &[Entry], entry: &Entry) -> bool {
    let dir = in_order(rules, entry.egress);
    let sets: [&[&Entry]; 1] = [&dir];
    classes(&sets).into_iter().any(|class| {
        [Family::V4, Family::V6].into_iter().any(|family| {
            let g = Grid::new(class, family, &sets);
            g.paint(&dir, false).iter().any(|d| d.rule() == entry.rule_number && !matches!(d, Decision::Unknown(_)))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(n: i64, egress: bool, action: &str, proto: i64, cidr: &str, ports: Option<(i64, i64)>) -> Entry {
        Entry::rule(n, egress, action, proto, cidr, ports)
    }

    fn defaults(v: Vec<Entry>) -> Vec<Entry> {
        super::super::with_default_rules(v)
    }

    #[test]
    fn narrowing_a_wide_rule_to_443_closes_the_rest() {
        let before = defaults(vec![rule(100, false, "allow", 6, "0.0.0.0/0", Some((0, 65535)))]);
        let after = defaults(vec![rule(100, false, "allow", 6, "0.0.0.0/0", Some((443, 443)))]);
        let d = diff(&before, &after);
        assert!(d.opened.is_empty());
        assert_eq!(Diff::line(&d.closed, "closed").unwrap(), "ingress tcp 0-442,444-65535 from 0.0.0.0/0 closed");
        let back = diff(&after, &before);
        assert_eq!(Diff::line(&back.opened, "opened").unwrap(), "ingress tcp 0-442,444-65535 from 0.0.0.0/0 opened");
    }

    #[test]
    fn an_identical_rule_changes_nothing_and_a_rule_below_an_allow_all_is_shadowed() {
        let base = defaults(vec![rule(100, true, "allow", -1, "0.0.0.0/0", None)]);
        assert_eq!(diff(&base, &base), Diff::default());
        let ntp = rule(110, true, "allow", 17, "0.0.0.0/0", Some((123, 123)));
        let mut with_ntp = base.clone();
        with_ntp.push(ntp.clone());
        assert_eq!(diff(&base, &with_ntp), Diff::default());
        assert!(!decides_any(&with_ntp, &ntp));
        assert!(decides_any(&with_ntp, &rule(100, true, "allow", -1, "0.0.0.0/0", None)));
    }

    #[test]
    fn a_lower_deny_is_carved_out_of_what_a_wide_allow_opens() {
        let before = defaults(vec![rule(50, false, "deny", -1, "10.0.0.0/8", None)]);
        let after = defaults(vec![
            rule(50, false, "deny", -1, "10.0.0.0/8", None),
            rule(100, false, "allow", -1, "0.0.0.0/0", None),
        ]);
        let d = diff(&before, &after);
        assert!(d.closed.is_empty());
        assert_eq!(Diff::line(&d.opened, "opened").unwrap(), "ingress all from 0.0.0.0/0 except 10.0.0.0/8 opened");
        assert_eq!(d.opened[0].protocol_number, Some(-1));
        // IPv6 stays apart: an IPv4 allow opens nothing of it.
        assert!(d.opened.iter().all(|r| r.family == Some(Family::V4)));
    }

    #[test]
    fn removing_a_deny_over_an_allow_opens_what_it_blocked() {
        let deny = rule(90, false, "deny", 6, "198.51.100.0/24", Some((22, 22)));
        let allow = rule(100, false, "allow", 6, "0.0.0.0/0", Some((22, 22)));
        let before = defaults(vec![deny, allow.clone()]);
        let after = defaults(vec![allow]);
        let d = diff(&before, &after);
        assert_eq!(Diff::line(&d.opened, "opened").unwrap(), "ingress tcp 22 from 198.51.100.0/24 opened");
    }

    #[test]
    fn an_unknown_rule_makes_the_difference_uncertain() {
        let before = defaults(vec![Entry::unknown(false, 100)]);
        let after = defaults(vec![rule(100, false, "allow", 6, "0.0.0.0/0", Some((22, 22)))]);
        let d = diff(&before, &after);
        assert!(d.opened.iter().all(|r| !r.certain) && !d.opened.is_empty());
        assert!(Diff::line(&d.opened, "opened").unwrap().contains("possibly opened"));
        assert_eq!(decide(&before, false, 6, "8.8.8.8".parse().unwrap(), Some(22)), Decision::Unknown(100));
        assert_eq!(decide(&after, false, 6, "8.8.8.8".parse().unwrap(), Some(22)), Decision::Allow(100));
        assert_eq!(decide(&after, false, 6, "8.8.8.8".parse().unwrap(), Some(23)), Decision::Deny(DEFAULT_RULE));
    }

    #[test]
    fn a_change_below_the_same_unknown_rule_matters_only_where_that_rule_does_not_match() {
        // Rule 50 existed (a later delete shows it) but nothing shows what it was; rule 100 is
        // widened below it. Whatever rule 50 is, the widening may open tcp 0-1023.
        let below = rule(130, false, "allow", 6, "0.0.0.0/0", Some((1024, 65535)));
        let before = defaults(vec![
            Entry::unknown(false, 50),
            rule(100, false, "allow", 6, "0.0.0.0/0", Some((443, 443))),
            below.clone(),
        ]);
        let after = defaults(vec![
            Entry::unknown(false, 50),
            rule(100, false, "allow", 6, "0.0.0.0/0", Some((0, 65535))),
            below,
        ]);
        let d = diff(&before, &after);
        assert_eq!(
            Diff::line(&d.opened, "opened").unwrap(),
            "ingress tcp 0-442,444-1023 from 0.0.0.0/0 possibly opened (a rule the evidence does not show could decide)"
        );
        assert!(d.closed.is_empty());
        assert_eq!(d.opened[0].open_run, 65536);
        // Re-applying the same rule under it changes nothing at all.
        assert_eq!(diff(&after, &after), Diff::default());
    }

    #[test]
    fn protocols_other_than_tcp_udp_icmp_cover_every_port_and_icmp_types_are_kept() {
        let mut icmp = rule(120, false, "allow", 1, "0.0.0.0/0", None);
        icmp.icmp_type = Some(8);
        icmp.icmp_code = Some(-1);
        let gre = rule(130, false, "allow", 47, "203.0.113.0/24", Some((80, 80)));
        let after = defaults(vec![icmp, gre]);
        let d = diff(&defaults(vec![]), &after);
        let words = Diff::line(&d.opened, "opened").unwrap();
        assert!(words.contains("ingress icmp type 8 from 0.0.0.0/0 opened"), "{words}");
        assert!(words.contains("ingress protocol 47 from 203.0.113.0/24 opened"), "{words}");
    }

    #[test]
    fn a_full_acl_of_forty_rules_a_direction_is_compared() {
        // AWS allows up to 40 rules per direction: every rule a different port and block.
        let mut before = Vec::new();
        for i in 0..40 {
            let net = format!("{}.{}.0.0/16", 20 + i, i * 3);
            for egress in [false, true] {
                before.push(rule(
                    100 + i * 10,
                    egress,
                    if i % 5 == 0 { "deny" } else { "allow" },
                    if i % 3 == 0 { 17 } else { 6 },
                    &net,
                    Some((1000 + i * 7, 1100 + i * 13)),
                ));
            }
        }
        let before = defaults(before);
        let mut after = before.clone();
        after.retain(|e| e.rule_number != 100 || e.egress);
        after.push(rule(105, false, "allow", -1, "0.0.0.0/0", None));
        let d = diff(&before, &after);
        assert!(
            d.opened.iter().any(|r| r.protocol == "all but tcp, udp" || r.protocol_number == Some(-1) || r.has_ports())
        );
        assert!(d.closed.is_empty());
    }

    #[test]
    fn ipv6_is_judged_apart() {
        let after = defaults(vec![rule(101, false, "allow", 6, "::/0", Some((22, 22)))]);
        let d = diff(&defaults(vec![]), &after);
        assert_eq!(Diff::line(&d.opened, "opened").unwrap(), "ingress tcp 22 from ::/0 opened");
        assert!(d.opened[0].share_outside(&[]) > 0.99);
        assert_eq!(decide(&after, false, 6, "2001:db8::1".parse().unwrap(), Some(22)), Decision::Allow(101));
        assert_eq!(decide(&after, false, 6, "192.0.2.1".parse().unwrap(), Some(22)), Decision::Deny(DEFAULT_RULE));
    }
}
