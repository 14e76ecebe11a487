//! Security groups over time, and what each change to them let through.
//!
//! AWS's model, as its documentation gives it: a security group is a set of allow rules (no deny,
//! no order); each names a direction, a protocol (`-1` for all), a port range for TCP/UDP (an ICMP
//! type and code for ICMP) and one peer: an IPv4 or IPv6 CIDR, a managed prefix list, or another
//! security group (its members' addresses, the group itself included). An interface holds up to
//! five groups and a packet passes when any rule of any of them allows it. Groups are stateful:
//! the reply to an allowed connection passes whatever the other direction's rules say. A group
//! created in a VPC starts with one rule, all outbound IPv4 traffic (the real `CreateSecurityGroup`
//! in the Invictus data is followed by a refused revoke of `::/0`: no IPv6 rule is added to a group
//! of a VPC without IPv6).
//!
//! The rules of a group at a moment come from the nearest base before it (its `CreateSecurityGroup`,
//! a `describe-security-groups` / `describe-security-group-rules` / AWS Config snapshot), with every
//! successful call after it replayed; failing a base before, from the first snapshot after the
//! moment with the calls between undone. A group known from neither is partly known: the rules its
//! calls added, and an unknown rest, said as "possibly".
//!
//! The rules become [`Entry`] lists (allow entries, an unknown entry for what is not known, the
//! final deny), so that the ACL policy model (`nacl::policy`) diffs them and `acl_allows` judges
//! flows against them in SQL. A peer group is resolved to its members' addresses at the moment.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;
use serde::Serialize;
use serde_json::Value;

use super::network::{Basis, list};
use super::{Event, as_bool, as_i64, as_str, get};
use crate::nacl::Entry;
use crate::nacl::policy::{Diff, Region};

/// The CloudTrail calls that change a group's rules or an interface's groups.
pub const SG_EVENTS: &[&str] = &[
    "CreateSecurityGroup",
    "DeleteSecurityGroup",
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupRules",
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
    "ModifyNetworkInterfaceAttribute",
    "ModifyInstanceAttribute",
];

/// The calls that move an interface between groups.
pub const MOVE_EVENTS: &[&str] = &["ModifyNetworkInterfaceAttribute", "ModifyInstanceAttribute"];

/// The peer of a rule.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Peer {
    Cidr(String),
    PrefixList(String),
    Group(String),
}

/// One rule of a security group.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub struct Rule {
    pub egress: bool,
    /// IANA protocol number, -1 for all.
    pub protocol: i64,
    /// TCP/UDP: the port range; ICMP: the type and code (absent: all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_from: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port_to: Option<i64>,
    pub peer: Peer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_id: Option<String>,
}

/// What makes two rules the same rule for AWS (a revoke by permission names it so).
type RuleKey = (bool, i64, Option<i64>, Option<i64>, Peer);

impl Rule {
    pub fn key(&self) -> RuleKey {
        (self.egress, self.protocol, self.port_from, self.port_to, self.peer.clone())
    }

    /// The rule in words: `allow tcp 22 from 0.0.0.0/0`, `allow all to sg-1`.
    pub fn words(&self) -> String {
        let mut s = format!("allow {}", crate::nacl::policy::protocol_word(self.protocol));
        match (self.protocol, self.port_from, self.port_to) {
            (6 | 17, Some(f), Some(t)) if f == t => s.push_str(&format!(" {f}")),
            (6 | 17, Some(f), Some(t)) => s.push_str(&format!(" {f}-{t}")),
            (1 | 58, Some(t), Some(c)) => s.push_str(&format!(" type {t} code {c}")),
            (1 | 58, Some(t), None) => s.push_str(&format!(" type {t}")),
            _ => {}
        }
        s.push_str(if self.egress { " to " } else { " from " });
        s.push_str(match &self.peer {
            Peer::Cidr(c) | Peer::PrefixList(c) | Peer::Group(c) => c,
        });
        s
    }
}

/// A protocol as EC2 writes it: `tcp`, `udp`, `icmp`, `icmpv6`, `-1`, or a number.
fn protocol_of(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "tcp" => Some(6),
            "udp" => Some(17),
            "icmp" => Some(1),
            "icmpv6" => Some(58),
            "-1" | "all" => Some(-1),
            n => n.parse().ok(),
        },
        _ => None,
    }
}

/// A value that the XML-derived CloudTrail shapes may wrap as `{"tag": 1, "content": ...}`.
fn bare(v: &Value) -> &Value {
    get(v, "content").filter(|_| get(v, "tag").is_some()).unwrap_or(v)
}

fn text(v: &Value, key: &str) -> Option<String> {
    as_str(get(v, key).map(bare))
}

fn number(v: &Value, key: &str) -> Option<i64> {
    as_i64(get(v, key).map(bare))
}

/// The port fields of a rule normalised: TCP/UDP ranges (all ports when absent or -1); ICMP type
/// and code (-1: all); nothing for other protocols, which have no ports.
fn ports(protocol: i64, from: Option<i64>, to: Option<i64>) -> (Option<i64>, Option<i64>) {
    match protocol {
        6 | 17 => match (from, to) {
            (Some(f), Some(t)) if f >= 0 && t >= 0 => (Some(f), Some(t)),
            (Some(f), None) if f >= 0 => (Some(f), Some(f)),
            _ => (Some(0), Some(65535)),
        },
        1 | 58 => (from.filter(|t| *t >= 0), to.filter(|c| *c >= 0).filter(|_| from.is_some_and(|t| t >= 0))),
        _ => (None, None),
    }
}

/// A peer network in canonical form (`0.0.0.0/0`), or `None` when it does not parse.
fn cidr(s: &str) -> Option<String> {
    s.trim().parse::<IpNet>().ok().map(|n| n.trunc().to_string())
}

/// The rules of `ipPermissions` (CloudTrail: `{"items": [...]}`), `IpPermissions` /
/// `IpPermissionsEgress` (describe-security-groups), or AWS Config's `ipPermissions`
/// (`ipv4Ranges`, `userIdGroupPairs`). A peer named only by group name is not resolvable: it is
/// counted in the second value.
pub fn rules_of_permissions(perms: &[&Value], egress: bool) -> (Vec<Rule>, usize) {
    let mut out = Vec::new();
    let mut unresolved = 0;
    for p in perms {
        let Some(protocol) = protocol_of(get(p, "ipProtocol")) else {
            unresolved += 1;
            continue;
        };
        let (port_from, port_to) = ports(protocol, number(p, "fromPort"), number(p, "toPort"));
        let mut peers: Vec<Peer> = Vec::new();
        for key in ["ipRanges", "ipv4Ranges"] {
            for r in list(p, key) {
                let c = match r {
                    Value::String(s) => cidr(s),
                    _ => text(r, "cidrIp").and_then(|c| cidr(&c)),
                };
                peers.extend(c.map(Peer::Cidr));
            }
        }
        for r in list(p, "ipv6Ranges") {
            let c = match r {
                Value::String(s) => cidr(s),
                _ => text(r, "cidrIpv6").and_then(|c| cidr(&c)),
            };
            peers.extend(c.map(Peer::Cidr));
        }
        for r in list(p, "prefixListIds") {
            peers.extend(text(r, "prefixListId").map(Peer::PrefixList));
        }
        for key in ["groups", "userIdGroupPairs"] {
            for r in list(p, key) {
                match text(r, "groupId") {
                    Some(g) => peers.push(Peer::Group(g)),
                    None => unresolved += 1,
                }
            }
        }
        for peer in peers {
            out.push(Rule { egress, protocol, port_from, port_to, peer, rule_id: None });
        }
    }
    (out, unresolved)
}

/// One rule as `securityGroupRuleSet` items, `describe-security-group-rules` and
/// `ModifySecurityGroupRules` write it (`IsEgress`, `CidrIpv4`, `ReferencedGroupInfo`, ...).
/// `egress` is used when the item does not say.
pub fn rule_of_item(v: &Value, egress: Option<bool>) -> Option<Rule> {
    let protocol = protocol_of(get(v, "ipProtocol").map(bare))?;
    let (port_from, port_to) = ports(protocol, number(v, "fromPort"), number(v, "toPort"));
    let peer = text(v, "cidrIpv4")
        .or_else(|| text(v, "cidrIpv6"))
        .and_then(|c| cidr(&c))
        .map(Peer::Cidr)
        .or_else(|| text(v, "prefixListId").map(Peer::PrefixList))
        .or_else(|| get(v, "referencedGroupInfo").and_then(|g| text(g, "groupId")).map(Peer::Group))
        .or_else(|| text(v, "referencedGroupId").map(Peer::Group))?;
    Some(Rule {
        egress: as_bool(get(v, "isEgress").map(bare)).or(egress).unwrap_or(false),
        protocol,
        port_from,
        port_to,
        peer,
        rule_id: text(v, "securityGroupRuleId"),
    })
}

/// A rule as `sg_changes.rules_before` / `rules_after` hold it (this module's own JSON).
pub fn rule_of_json(v: &Value) -> Option<Rule> {
    let peer = get(v, "peer")?;
    let peer = if let Some(c) = as_str(get(peer, "cidr")) {
        Peer::Cidr(c)
    } else if let Some(g) = as_str(get(peer, "group")) {
        Peer::Group(g)
    } else {
        Peer::PrefixList(as_str(get(peer, "prefix_list"))?)
    };
    Some(Rule {
        egress: as_bool(get(v, "egress"))?,
        protocol: as_i64(get(v, "protocol"))?,
        port_from: as_i64(get(v, "port_from")),
        port_to: as_i64(get(v, "port_to")),
        peer,
        rule_id: as_str(get(v, "rule_id")),
    })
}

/// The rules of a `describe-security-groups` item or an AWS Config item's configuration.
pub fn rules_of_group(item: &Value) -> (Vec<Rule>, usize) {
    let (mut rules, mut unresolved) = rules_of_permissions(&list(item, "ipPermissions"), false);
    let (egress, u) = rules_of_permissions(&list(item, "ipPermissionsEgress"), true);
    rules.extend(egress);
    unresolved += u;
    (rules, unresolved)
}

/// The request of a call whose parameters CloudTrail wraps as `{"XRequest": {...}}`.
fn request_of(e: &Event) -> &Value {
    let wrapped = format!("{}Request", e.name);
    get(&e.request, &wrapped).unwrap_or(&e.request)
}

/// Every string under a key named `key` (any case, any depth): rule ids in whatever shape.
fn strings_under(v: &Value, key: &str, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k.eq_ignore_ascii_case(key) {
                    match bare(x) {
                        Value::String(s) if !s.is_empty() => out.push(s.clone()),
                        other => strings_under(other, key, out),
                    }
                } else {
                    strings_under(x, key, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| strings_under(x, key, out)),
        Value::String(s) if !s.is_empty() && key.is_empty() => out.push(s.clone()),
        _ => {}
    }
}

/// What a successful call did to a group.
#[derive(Debug, Clone)]
pub enum Op {
    /// `CreateSecurityGroup`: the group and its first rule.
    Create(Vec<Rule>),
    Add(Vec<Rule>),
    Remove(Vec<Rule>),
    RemoveIds(Vec<String>),
    /// Rule id → the rule it became.
    Modify(Vec<(String, Rule)>),
    Delete,
}

/// The rules a rule call names: (group, direction, rules, rule ids, unresolved peers). The
/// response's `securityGroupRuleSet` is preferred: it holds the ids and AWS's normal form.
pub fn call_rules(e: &Event) -> (Option<String>, Option<bool>, Vec<Rule>, Vec<String>, usize) {
    let req = request_of(e);
    let egress = match e.name.as_str() {
        n if n.ends_with("Egress") => Some(true),
        n if n.ends_with("Ingress") => Some(false),
        _ => None,
    };
    let group = text(req, "groupId").or_else(|| get(&e.response, "groupId").and_then(|g| as_str(Some(bare(g)))));
    let mut ids = Vec::new();
    let mut unresolved = 0;
    let mut rules: Vec<Rule> =
        list(&e.response, "securityGroupRuleSet").iter().filter_map(|v| rule_of_item(v, egress)).collect();
    if rules.is_empty() {
        let (r, u) = rules_of_permissions(&list(req, "ipPermissions"), egress.unwrap_or(false));
        rules = r;
        unresolved = u;
        // The flat shape of older SDKs: one rule at the top of the request.
        if rules.is_empty()
            && let Some(protocol) = protocol_of(get(req, "ipProtocol"))
        {
            let (port_from, port_to) = ports(protocol, number(req, "fromPort"), number(req, "toPort"));
            match text(req, "cidrIp").and_then(|c| cidr(&c)) {
                Some(c) => rules.push(Rule {
                    egress: egress.unwrap_or(false),
                    protocol,
                    port_from,
                    port_to,
                    peer: Peer::Cidr(c),
                    rule_id: None,
                }),
                None => unresolved += 1,
            }
        }
    }
    if e.name == "ModifySecurityGroupRules" {
        for item in list(req, "securityGroupRule").into_iter().chain(list(req, "securityGroupRules")) {
            let (Some(id), Some(inner)) = (text(item, "securityGroupRuleId"), get(item, "securityGroupRule")) else {
                continue;
            };
            if let Some(mut r) = rule_of_item(inner, None) {
                r.rule_id = Some(id.clone());
                rules.push(r);
            }
            ids.push(id);
        }
    } else if e.name.starts_with("Revoke") {
        strings_under(req, "securityGroupRuleId", &mut ids);
        strings_under(req, "securityGroupRuleIds", &mut ids);
        ids.sort();
        ids.dedup();
    }
    (group, egress, rules, ids, unresolved)
}

/// The history of one group: successful calls (ordinal, time, op) and snapshots (time, rules,
/// taken from AWS Config).
#[derive(Debug, Clone, Default)]
pub struct GroupHistory {
    pub vpc: Option<String>,
    pub name: Option<String>,
    pub steps: Vec<(usize, i64, Op)>,
    pub snapshots: Vec<(i64, Vec<Rule>, bool)>,
}

/// A group's rules at a moment, and whether they are all known.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupState {
    pub exists: bool,
    pub rules: Vec<Rule>,
    /// False when rules the evidence does not show may exist.
    pub complete: bool,
}

fn apply(rules: &mut Vec<Rule>, complete: &mut bool, op: &Op) {
    match op {
        Op::Create(r) => {
            *rules = r.clone();
            *complete = true;
        }
        Op::Add(add) => {
            for r in add {
                match rules.iter_mut().find(|x| x.key() == r.key()) {
                    Some(x) => {
                        if r.rule_id.is_some() {
                            x.rule_id = r.rule_id.clone();
                        }
                    }
                    None => rules.push(r.clone()),
                }
            }
        }
        Op::Remove(rem) => rules.retain(|x| !rem.iter().any(|r| r.key() == x.key())),
        Op::RemoveIds(ids) => {
            let before = rules.len();
            rules.retain(|x| !x.rule_id.as_ref().is_some_and(|id| ids.contains(id)));
            if before - rules.len() < ids.len() {
                // A rule removed by an id the evidence never tied to a rule: which one is unknown.
                *complete = false;
            }
        }
        Op::Modify(m) => {
            for (id, r) in m {
                match rules.iter_mut().find(|x| x.rule_id.as_ref() == Some(id)) {
                    Some(x) => *x = r.clone(),
                    None => {
                        rules.push(r.clone());
                        *complete = false;
                    }
                }
            }
        }
        Op::Delete => rules.clear(),
    }
}

impl GroupHistory {
    /// The group just before the step of ordinal `upto` (after every step `< upto`), at `time`.
    pub fn state_before(&self, upto: usize, time: i64) -> GroupState {
        let done = |o: usize| o < upto;
        // The nearest base before the point: a create, or a snapshot not older than it.
        let create = self.steps.iter().rfind(|(o, _, s)| done(*o) && matches!(s, Op::Create(_)));
        let snap = self.snapshots.iter().filter(|(t, _, _)| *t <= time).max_by_key(|(t, _, _)| *t);
        let (mut rules, mut complete, from_time, from_ord) = match (create, snap) {
            (Some((o, t, _)), Some((st, r, _))) if *st > *t => (r.clone(), true, *st, Some(*o)),
            (Some((o, t, Op::Create(r))), _) => (r.clone(), true, *t, Some(*o)),
            (None, Some((st, r, _))) => (r.clone(), true, *st, None),
            _ => (Vec::new(), false, i64::MIN, None),
        };
        let mut exists = complete;
        if !complete {
            // Nothing before: the first snapshot after, with the calls between undone.
            if let Some((st, r, _)) = self.snapshots.iter().filter(|(t, _, _)| *t > time).min_by_key(|(t, _, _)| *t) {
                let between: Vec<&Op> =
                    self.steps.iter().filter(|(o, t, _)| !done(*o) && *t < *st).map(|(_, _, s)| s).collect();
                if !between.iter().any(|s| matches!(s, Op::Create(_) | Op::Delete)) {
                    let mut base = r.clone();
                    let mut exact = true;
                    for s in between.iter().rev() {
                        match s {
                            Op::Add(add) => base.retain(|x| !add.iter().any(|r| r.key() == x.key())),
                            Op::Remove(rem) => base.extend(rem.iter().cloned()),
                            _ => exact = false,
                        }
                    }
                    rules = base;
                    complete = exact;
                    exists = true;
                }
            }
        }
        for (o, t, s) in &self.steps {
            if !done(*o) || *t < from_time || from_ord.is_some_and(|f| *o <= f) {
                continue;
            }
            if complete && from_ord.is_none() && *t == from_time {
                continue; // a snapshot at the call's own time already shows it
            }
            exists = !matches!(s, Op::Delete);
            apply(&mut rules, &mut complete, s);
        }
        if !exists && !self.steps.iter().any(|(o, _, s)| done(*o) && matches!(s, Op::Delete)) {
            exists = self.steps.iter().any(|(o, _, _)| done(*o)) || !rules.is_empty();
        }
        rules.sort();
        GroupState { exists, rules, complete }
    }
}

/// Which groups an interface held from when: (time, groups, basis, what said so).
#[derive(Debug, Clone, Default)]
pub struct Membership {
    pub observations: Vec<(i64, BTreeSet<String>, Basis, String)>,
    /// Times of the calls that changed the groups (moves), with the ordinal of the call.
    pub moves: Vec<i64>,
}

impl Membership {
    /// The groups at `time` (just before a call at that time when `before`), and on what basis;
    /// `None` when nothing shows them.
    pub fn at(&self, time: i64, before: bool) -> Option<(&BTreeSet<String>, Basis)> {
        let known = self.observations.iter().rfind(|(t, ..)| if before { *t < time } else { *t <= time });
        if let Some((_, g, b, _)) = known {
            return Some((g, *b));
        }
        // Nothing before: the first observation after it, when it is a snapshot (not the call
        // that made the interface) and no move lies between.
        let (t, g, b, why) = self.observations.first()?;
        let moved_between = self.moves.iter().any(|m| *m >= time && *m <= *t);
        (!moved_between && !why.starts_with("cloudtrail")).then_some((g, *b))
    }
}

/// Everything the security-group model knows, replayed.
#[derive(Debug, Default)]
pub struct Groups {
    pub groups: BTreeMap<String, GroupHistory>,
    pub members: BTreeMap<String, Membership>,
    /// The SG calls in time order, failed ones included: each becomes a row of `sg_changes`.
    pub events: Vec<Event>,
    /// Every interface the topology knows (`network_interfaces`).
    pub interfaces: BTreeSet<String>,
    /// Managed prefix lists the evidence shows: (time, id, CIDRs).
    pub prefix_lists: Vec<(i64, String, Vec<IpNet>)>,
    /// Every interface's addresses over time (`network_interfaces`), by interface.
    addresses: HashMap<String, AddressSpans>,
}

/// Groups named in a `groupSet` (`{"items": [{"groupId": ...}]}`) or `Groups` list.
pub fn group_set(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for key in ["groupSet", "groups"] {
        for g in list(v, key) {
            match g {
                Value::String(s) => {
                    out.insert(s.clone());
                }
                _ => {
                    out.extend(text(g, "groupId"));
                }
            }
        }
    }
    out
}

/// A group as a snapshot shows it: (time, group id, vpc, rules, name, from AWS Config).
pub type GroupSnapshot = (i64, String, Option<String>, Vec<Rule>, Option<String>, bool);

/// The evidence the model is built from (read by `correlate::load`).
#[derive(Debug, Default)]
pub struct SgEvidence {
    /// The SG calls, failed ones included, in time order.
    pub events: Vec<Event>,
    /// Group snapshots.
    pub group_snapshots: Vec<GroupSnapshot>,
    /// `describe-security-group-rules` rows: (time, group id, rule).
    pub rule_snapshots: Vec<(i64, String, Rule)>,
    /// Interface snapshots: (time, interface id, groups, from AWS Config).
    pub member_snapshots: Vec<(i64, String, BTreeSet<String>, bool)>,
    /// Managed prefix lists and their entries, as AWS Config items show them: (time, id, CIDRs).
    pub prefix_lists: Vec<(i64, String, Vec<IpNet>)>,
}

/// Replay every group and every interface's membership.
pub fn replay(sg: &SgEvidence, topology_events: &[Event], ifaces: &[super::topology::Interface]) -> Groups {
    let mut out = Groups {
        events: sg.events.clone(),
        interfaces: ifaces.iter().map(|i| i.interface_id.clone()).collect(),
        prefix_lists: sg.prefix_lists.clone(),
        addresses: address_index(ifaces),
        ..Default::default()
    };
    for (t, id, vpc, rules, name, _) in &sg.group_snapshots {
        let h = out.groups.entry(id.clone()).or_default();
        h.snapshots.push((*t, rules.clone(), false));
        h.vpc = h.vpc.clone().or(vpc.clone());
        h.name = h.name.clone().or(name.clone());
    }
    // describe-security-group-rules: the rules of each group at each snapshot time, with ids.
    let mut by_snapshot: BTreeMap<(String, i64), Vec<Rule>> = BTreeMap::new();
    for (t, g, r) in &sg.rule_snapshots {
        by_snapshot.entry((g.clone(), *t)).or_default().push(r.clone());
    }
    for ((g, t), rules) in by_snapshot {
        let h = out.groups.entry(g).or_default();
        match h.snapshots.iter_mut().find(|(st, _, _)| *st == t) {
            // The same moment seen by both describes: the rules' listing carries their ids.
            Some((_, r, _)) => *r = rules,
            None => h.snapshots.push((t, rules, false)),
        }
    }
    for (ord, e) in sg.events.iter().enumerate() {
        if e.error_code.is_some() || MOVE_EVENTS.contains(&e.name.as_str()) {
            continue;
        }
        let (group, _, rules, ids, _) = call_rules(e);
        let Some(group) = group else { continue };
        let op = match e.name.as_str() {
            "CreateSecurityGroup" => {
                let h = out.groups.entry(group.clone()).or_default();
                h.vpc = h.vpc.clone().or_else(|| text(request_of(e), "vpcId"));
                h.name = h.name.clone().or_else(|| text(request_of(e), "groupName"));
                // A VPC group starts with all outbound IPv4 traffic allowed; a group made without
                // a VPC (EC2-Classic, long gone) with nothing.
                let first = h.vpc.is_some().then(|| Rule {
                    egress: true,
                    protocol: -1,
                    port_from: None,
                    port_to: None,
                    peer: Peer::Cidr("0.0.0.0/0".into()),
                    rule_id: None,
                });
                Op::Create(first.into_iter().collect())
            }
            "DeleteSecurityGroup" => Op::Delete,
            n if n.starts_with("Authorize") => Op::Add(rules),
            n if n.starts_with("Revoke") => {
                if ids.is_empty() {
                    Op::Remove(rules)
                } else {
                    Op::RemoveIds(ids)
                }
            }
            "ModifySecurityGroupRules" => {
                Op::Modify(rules.into_iter().filter_map(|r| r.rule_id.clone().map(|id| (id, r))).collect())
            }
            _ => continue, // descriptions change nothing a packet meets
        };
        out.groups.entry(group).or_default().steps.push((ord, e.time, op));
    }
    for h in out.groups.values_mut() {
        h.snapshots.sort_by_key(|(t, _, _)| *t);
    }
    // Membership: snapshots, the calls that create interfaces, and the moves.
    let mut add = |iface: String, t: i64, groups: BTreeSet<String>, basis: Basis, why: String| {
        out.members.entry(iface).or_default().observations.push((t, groups, basis, why));
    };
    for (t, iface, groups, config) in &sg.member_snapshots {
        add(iface.clone(), *t, groups.clone(), Basis::snapshot(*config), "inventory".into());
    }
    for e in topology_events {
        let why = format!("cloudtrail {} {}", e.name, e.event_id);
        match e.name.as_str() {
            "CreateNetworkInterface" => {
                if let Some(n) = get(&e.response, "networkInterface")
                    && let Some(id) = text(n, "networkInterfaceId")
                {
                    let g = group_set(n);
                    let g = if g.is_empty() { group_set(&e.request) } else { g };
                    if !g.is_empty() {
                        add(id, e.time, g, Basis::Cloudtrail, why);
                    }
                }
            }
            "RunInstances" => {
                for inst in list(&e.response, "instancesSet") {
                    for n in list(inst, "networkInterfaceSet") {
                        if let Some(id) = text(n, "networkInterfaceId") {
                            let g = group_set(n);
                            let g = if g.is_empty() { group_set(inst) } else { g };
                            if !g.is_empty() {
                                add(id, e.time, g, Basis::Cloudtrail, why.clone());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for e in &sg.events {
        if e.error_code.is_some() {
            continue;
        }
        for iface in moved_interfaces(e, ifaces, topology_events) {
            let g = group_set(request_of(e));
            let m = out.members.entry(iface).or_default();
            m.moves.push(e.time);
            m.observations.push((e.time, g, Basis::Cloudtrail, format!("cloudtrail {} {}", e.name, e.event_id)));
        }
    }
    for m in out.members.values_mut() {
        m.observations.sort_by_key(|a| a.0);
    }
    out
}

/// The interfaces a move call put in other groups: `ModifyNetworkInterfaceAttribute` names its
/// interface; `ModifyInstanceAttribute` with a `groupSet` changes the instance's interface (AWS
/// refuses it for an instance with several).
pub fn moved_interfaces(e: &Event, ifaces: &[super::topology::Interface], topology_events: &[Event]) -> Vec<String> {
    let req = request_of(e);
    if !MOVE_EVENTS.contains(&e.name.as_str()) || group_set(req).is_empty() {
        return Vec::new();
    }
    if let Some(i) = text(req, "networkInterfaceId") {
        return vec![i];
    }
    let Some(instance) = text(req, "instanceId") else { return Vec::new() };
    let mut out: BTreeSet<String> = ifaces
        .iter()
        .filter(|i| i.instance_id.as_deref() == Some(instance.as_str()))
        .map(|i| i.interface_id.clone())
        .collect();
    for t in topology_events.iter().filter(|t| t.name == "RunInstances") {
        for inst in list(&t.response, "instancesSet") {
            if text(inst, "instanceId").as_deref() == Some(instance.as_str()) {
                for n in list(inst, "networkInterfaceSet") {
                    out.extend(text(n, "networkInterfaceId"));
                }
            }
        }
    }
    out.into_iter().collect()
}

impl Groups {
    /// A prefix list's entries at `time`: the newest snapshot not after it, else the first after.
    pub fn prefix_list_at(&self, id: &str, time: i64) -> Option<&[IpNet]> {
        let of = self.prefix_lists.iter().filter(|(_, p, _)| p == id);
        let before = of.clone().filter(|(t, _, _)| *t <= time).max_by_key(|(t, _, _)| *t);
        before.or_else(|| of.min_by_key(|(t, _, _)| *t)).map(|(_, _, n)| n.as_slice())
    }

    /// The interfaces in `group` at `time` (before a call at that time when `before`).
    pub fn members_of(&self, group: &str, time: i64, before: bool) -> Vec<(&String, Basis)> {
        self.members
            .iter()
            .filter_map(|(i, m)| m.at(time, before).filter(|(g, _)| g.contains(group)).map(|(_, b)| (i, b)))
            .collect()
    }

    /// Is what is known of the membership of `group` at `time` complete enough to say it has no
    /// member? A group created in the evidence has none until an interface is put in it; a group
    /// a snapshot shows has none when every interface the evidence knows has known groups at the
    /// time (a `describe-network-interfaces` snapshot lists every interface of its region) and
    /// none of them holds it.
    pub fn known_empty(&self, group: &str, time: i64) -> bool {
        if !self.members_of(group, time, true).is_empty() {
            return false;
        }
        let Some(h) = self.groups.get(group) else { return false };
        let created = h.steps.iter().any(|(_, t, s)| *t <= time && matches!(s, Op::Create(_)));
        let every_known = !self.members.is_empty()
            && self.members.values().all(|m| m.at(time, true).is_some())
            && self.interfaces.iter().all(|i| self.members.get(i).is_some_and(|m| m.at(time, true).is_some()));
        created || (!h.snapshots.is_empty() && every_known)
    }
}

/// An interface's addresses over time: (valid from, valid to, address).
type AddressSpans = Vec<(Option<i64>, Option<i64>, std::net::IpAddr)>;

/// Every interface's addresses from `network_interfaces`, by interface, read once.
fn address_index(ifaces: &[super::topology::Interface]) -> HashMap<String, AddressSpans> {
    let mut out: HashMap<String, AddressSpans> = HashMap::new();
    for i in ifaces {
        if let Some(a) = i.address.as_deref().and_then(|a| a.parse().ok()) {
            out.entry(i.interface_id.clone()).or_default().push((i.valid_from, i.valid_to, a));
        }
    }
    out
}

impl Groups {
    /// The addresses of an interface at a moment.
    pub fn addresses_at(&self, iface: &str, time: i64) -> Vec<std::net::IpAddr> {
        let mut out: Vec<std::net::IpAddr> = self
            .addresses
            .get(iface)
            .into_iter()
            .flatten()
            .filter(|(from, to, _)| from.is_none_or(|f| f <= time) && to.is_none_or(|t| t > time))
            .map(|(_, _, a)| *a)
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// A rule set of groups as ACL entries, with every peer resolved at `time`: allow entries, an
/// unknown entry per direction where something is not known (a prefix list, a group whose members
/// or whose own rules are not all shown), and the final deny.
pub fn entries(groups: &[(&str, &GroupState)], model: &Groups, time: i64) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut unknown = [false, false];
    let mut n = 1;
    for (_, state) in groups {
        if !state.complete {
            unknown = [true, true];
        }
        for r in &state.rules {
            let nets: Vec<IpNet> = match &r.peer {
                Peer::Cidr(c) => c.parse().ok().into_iter().collect(),
                Peer::PrefixList(p) => match model.prefix_list_at(p, time) {
                    Some(nets) => nets.to_vec(),
                    None => {
                        unknown[r.egress as usize] = true;
                        continue;
                    }
                },
                Peer::Group(g) => {
                    let members = model.members_of(g, time, false);
                    if members.is_empty() && !model.known_empty(g, time) {
                        unknown[r.egress as usize] = true;
                    }
                    members.iter().flat_map(|(i, _)| model.addresses_at(i, time)).map(IpNet::from).collect()
                }
            };
            for net in nets {
                let mut e = Entry::rule(n, r.egress, "allow", r.protocol, &net.to_string(), None);
                match r.protocol {
                    6 | 17 => (e.port_from, e.port_to) = (r.port_from, r.port_to),
                    1 | 58 => (e.icmp_type, e.icmp_code) = (r.port_from, r.port_to),
                    _ => {}
                }
                out.push(e);
                n += 1;
            }
        }
    }
    for egress in [false, true] {
        if unknown[egress as usize] {
            out.push(Entry::unknown(egress, crate::nacl::DEFAULT_RULE - 1));
        }
        out.push(Entry::default_deny(egress));
        let mut v6 = Entry::default_deny(egress);
        v6.cidr = None;
        v6.ipv6_cidr = Some("::/0".into());
        out.push(v6);
    }
    out.dedup_by(|a, b| a.rule_number != crate::nacl::DEFAULT_RULE && a == b);
    out
}

/// The packets both an ACL (stateless, ordered) and the groups (as [`entries`]) let through, as
/// one ordered list: within each allow rule of the ACL, what the groups allow of it; what the
/// groups do not allow, and what the ACL denies, denied. Each ACL rule keeps a block of numbers
/// of its own, so that two lists made from one ACL compare rule by rule.
pub fn both(acl: &[Entry], groups: &[Entry]) -> Vec<Entry> {
    const BLOCK: i64 = 100_000;
    let mut out = Vec::new();
    for egress in [false, true] {
        let sg: Vec<&Entry> = crate::nacl::policy::in_order(groups, egress)
            .into_iter()
            .filter(|e| e.rule_number != crate::nacl::DEFAULT_RULE)
            .collect();
        for (i, a) in crate::nacl::policy::in_order(acl, egress).into_iter().enumerate() {
            let base = (i as i64 + 1) * BLOCK;
            if a.unknown {
                out.push(Entry::unknown(egress, base));
                continue;
            }
            if a.is_allow() {
                for (j, s) in sg.iter().enumerate() {
                    if s.unknown {
                        out.push(Entry::unknown(egress, base + 1 + j as i64));
                    } else if let Some(mut x) = intersect(a, s) {
                        x.rule_number = base + 1 + j as i64;
                        out.push(x);
                    }
                }
            }
            let mut d = a.clone();
            d.action = "deny".into();
            d.rule_number = base + BLOCK - 1;
            out.push(d);
        }
    }
    out
}

/// The packets two allow entries both match, as one entry (their box's intersection).
fn intersect(a: &Entry, b: &Entry) -> Option<Entry> {
    let protocol = match (a.protocol, b.protocol) {
        (-1, p) | (p, -1) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let (na, nb) = (a.net()?, b.net()?);
    let net = if na.contains(&nb) {
        nb
    } else if nb.contains(&na) {
        na
    } else {
        return None;
    };
    let mut e = Entry::rule(0, a.egress, "allow", protocol, &net.to_string(), None);
    match protocol {
        6 | 17 => {
            let range = |x: &Entry| match (x.protocol, x.port_from, x.port_to) {
                (6 | 17, Some(f), Some(t)) => (f, t),
                _ => (0, 65535),
            };
            let ((fa, ta), (fb, tb)) = (range(a), range(b));
            let (f, t) = (fa.max(fb), ta.min(tb));
            if f > t {
                return None;
            }
            (e.port_from, e.port_to) = (Some(f), Some(t));
        }
        1 | 58 => {
            let field = |x: Option<i64>, y: Option<i64>| match (x.filter(|v| *v >= 0), y.filter(|v| *v >= 0)) {
                (Some(p), Some(q)) if p != q => Err(()),
                (Some(p), _) | (_, Some(p)) => Ok(Some(p)),
                _ => Ok(None),
            };
            e.icmp_type = field(a.icmp_type, b.icmp_type).ok()?;
            e.icmp_code = field(a.icmp_code, b.icmp_code).ok()?;
        }
        _ => {}
    }
    Some(e)
}

/// One row of `sg_changes`.
#[derive(Debug, Clone, Default)]
pub struct SgChange {
    pub event: Event,
    pub group_id: Option<String>,
    pub vpc_id: Option<String>,
    /// For a move: the interface and instance moved, and the groups before and after.
    pub interface_id: Option<String>,
    pub instance_id: Option<String>,
    pub groups_before: Option<Vec<String>>,
    pub groups_after: Option<Vec<String>>,
    /// The rules the call names.
    pub requested: Vec<Rule>,
    pub rules_before: Option<Vec<Rule>>,
    pub rules_after: Option<Vec<Rule>>,
    pub diff: Option<Diff>,
    pub reasons: Vec<&'static str>,
    pub scope: Vec<Scoped>,
    pub topology_basis: Basis,
    pub topology_reason: String,
}

/// An interface a change reaches, with the groups' rules (as entries) it is judged by, before and
/// after the change.
#[derive(Debug, Clone)]
pub struct Scoped {
    pub interface_id: String,
    pub addresses: Vec<std::net::IpAddr>,
    /// `member` (in the group at the time), `moved` (the interface a move names), or `inferred`
    /// (no evidence of the group's members: any interface of its VPC whose groups are unknown).
    pub how: &'static str,
    pub before: Vec<Entry>,
    pub after: Vec<Entry>,
}

impl SgChange {
    pub fn score(&self) -> i64 {
        super::score_of(&self.reasons)
    }
}

/// The state of each group of a set, just before the call `ord` (`after`: just after it).
fn states(model: &Groups, groups: &BTreeSet<String>, ord: usize, time: i64, after: bool) -> Vec<(String, GroupState)> {
    groups
        .iter()
        .map(|g| {
            let st = model
                .groups
                .get(g)
                .map(|h| h.state_before(if after { ord + 1 } else { ord }, time))
                .unwrap_or_default();
            (g.clone(), st)
        })
        .collect()
}

fn as_entries(model: &Groups, st: &[(String, GroupState)], t: i64) -> Vec<Entry> {
    let refs: Vec<(&str, &GroupState)> = st.iter().map(|(g, s)| (g.as_str(), s)).collect();
    entries(&refs, model, t)
}

/// The ACL rules governing an interface's subnet at a moment, when the evidence shows them.
pub type AclAt<'a> = dyn Fn(&str, i64) -> Option<Vec<Entry>> + 'a;

/// Every SG call as a change: what it did to the group (or to the interface's groups), which
/// interfaces it reached, and the risk of what it opened where the ACL lets it through.
pub fn changes(
    model: &Groups,
    ifaces: &[super::topology::Interface],
    topology_events: &[Event],
    trusted: &[IpNet],
    acl_at: &AclAt<'_>,
) -> Vec<SgChange> {
    let mut out = Vec::new();
    for (ord, e) in model.events.iter().enumerate() {
        let failed = e.error_code.is_some();
        let t = e.time;
        let mut c = SgChange { event: e.clone(), ..Default::default() };
        let mut reasons: Vec<&'static str> = Vec::new();
        let mut scope: Vec<Scoped> = Vec::new();
        let basis: Basis;
        let why: String;
        if MOVE_EVENTS.contains(&e.name.as_str()) {
            let req = request_of(e);
            let to = group_set(req);
            if to.is_empty() {
                continue; // another attribute (source/dest check, user data, ...): not a firewall change
            }
            c.instance_id = text(req, "instanceId");
            let moved = moved_interfaces(e, ifaces, topology_events);
            c.interface_id = moved.first().cloned();
            c.groups_after = Some(to.iter().cloned().collect());
            let from = c
                .interface_id
                .as_ref()
                .and_then(|i| model.members.get(i))
                .and_then(|m| m.at(t, true))
                .map(|(g, _)| g.clone());
            c.groups_before = from.as_ref().map(|g| g.iter().cloned().collect());
            let after_states = states(model, &to, ord, t, true);
            c.rules_after = Some(after_states.iter().flat_map(|(_, s)| s.rules.clone()).collect());
            let before_states = from.as_ref().map(|g| states(model, g, ord, t, false));
            c.rules_before = before_states.as_ref().map(|s| s.iter().flat_map(|(_, s)| s.rules.clone()).collect());
            let after = as_entries(model, &after_states, t);
            let before = match &before_states {
                Some(s) => as_entries(model, s, t),
                None => vec![Entry::unknown(false, 0), Entry::unknown(true, 0)],
            };
            c.vpc_id = to.iter().find_map(|g| model.groups.get(g).and_then(|h| h.vpc.clone()));
            for i in &moved {
                scope.push(Scoped {
                    interface_id: i.clone(),
                    addresses: model.addresses_at(i, t),
                    how: "moved",
                    before: before.clone(),
                    after: after.clone(),
                });
            }
            c.diff = Some(if failed {
                Diff::default()
            } else if before_states.is_none() {
                // Nothing known of the groups before: what the groups after are known to allow
                // may be new, and nothing is known to have closed.
                let known: Vec<Entry> = after.iter().filter(|e| !e.unknown).cloned().collect();
                let mut opened = crate::nacl::policy::diff(&crate::nacl::with_default_rules(Vec::new()), &known).opened;
                opened.iter_mut().for_each(|r| r.certain = false);
                Diff { opened, closed: Vec::new() }
            } else {
                crate::nacl::policy::diff(&before, &after)
            });
            basis = if from.is_some() { Basis::Cloudtrail } else { Basis::Unknown };
            why = match &from {
                Some(g) => format!("groups before the move: {}", g.iter().cloned().collect::<Vec<_>>().join(", ")),
                None => "the interface's groups before the move are not in the evidence".into(),
            };
        } else {
            let (group, _, requested, _, _) = call_rules(e);
            c.requested = requested;
            c.group_id = group.clone();
            let Some(g) = group else {
                reasons.push(if failed { "failed_call" } else { "no_effect" });
                c.reasons = super::ordered(&reasons);
                c.topology_basis = Basis::Unknown;
                c.topology_reason = "the call names no group id".into();
                out.push(c);
                continue;
            };
            let h = model.groups.get(&g);
            c.vpc_id = h.and_then(|h| h.vpc.clone()).or_else(|| text(request_of(e), "vpcId"));
            let before = h.map(|h| h.state_before(ord, t)).unwrap_or_default();
            let after = if failed { before.clone() } else { h.map(|h| h.state_before(ord + 1, t)).unwrap_or_default() };
            c.rules_before = before.exists.then(|| before.rules.clone());
            c.rules_after = after.exists.then(|| after.rules.clone());
            // The group's own rules, diffed: what the call opened and closed in the group.
            let one = |s: &GroupState| as_entries(model, &[(g.clone(), s.clone())], t);
            let (ge_before, ge_after) = (one(&before), one(&after));
            // A refused call changed nothing; a new group has no member: nothing reached.
            c.diff = Some(if failed || e.name == "CreateSecurityGroup" {
                Diff::default()
            } else {
                crate::nacl::policy::diff(&ge_before, &ge_after)
            });
            let members = model.members_of(&g, t, true);
            for (i, _) in &members {
                // The interface's other groups allow what they allow before and after.
                let held =
                    model.members.get(*i).and_then(|m| m.at(t, true)).map(|(g, _)| g.clone()).unwrap_or_default();
                let (sb, sa) = (states(model, &held, ord, t, false), states(model, &held, ord, t, !failed));
                scope.push(Scoped {
                    interface_id: (*i).clone(),
                    addresses: model.addresses_at(i, t),
                    how: "member",
                    before: as_entries(model, &sb, t),
                    after: as_entries(model, &sa, t),
                });
            }
            let empty = model.known_empty(&g, t);
            if members.is_empty() && !empty && e.name != "CreateSecurityGroup" {
                // Nothing shows the group's members: interfaces of its VPC whose groups are not
                // known may be among them, judged by this group's rules alone.
                for i in unplaced(model, ifaces, c.vpc_id.as_deref(), e, t) {
                    scope.push(Scoped {
                        addresses: model.addresses_at(&i, t),
                        interface_id: i,
                        how: "inferred",
                        before: ge_before.clone(),
                        after: ge_after.clone(),
                    });
                }
            }
            (basis, why) = if !members.is_empty() {
                let b = members.iter().map(|(_, b)| *b).max().unwrap_or(Basis::Unknown);
                (b, format!("{} member interface(s) at the time", members.len()))
            } else if empty {
                (Basis::Cloudtrail, "the group was created in the evidence and no interface was put in it".into())
            } else {
                (
                    Basis::Unknown,
                    "no evidence of the group's members: interfaces whose groups are unknown are looked at".into(),
                )
            };
            if !failed && e.name != "CreateSecurityGroup" && members.is_empty() && empty {
                reasons.push("unused_group");
            }
        }
        if failed {
            reasons.push("failed_call");
        } else if let Some(d) = &c.diff {
            if reasons.contains(&"unused_group") {
                // Nothing reached: what it opened is said, not scored.
            } else if !d.opened.is_empty() {
                // What both layers now let through: the opening where the subnet's ACL allows it.
                let reached = reached_through_acl(&scope, &d.opened, acl_at, t);
                match reached {
                    Some(opened) if opened.is_empty() => reasons.push("blocked_by_acl"),
                    Some(opened) => super::opened_reasons(&opened, trusted, &mut reasons),
                    None => super::opened_reasons(&d.opened, trusted, &mut reasons),
                }
                let admin = |r: &Region| {
                    !r.egress
                        && r.share_outside(trusted) > 0.0
                        && (r.protocol_number == Some(-1)
                            || r.has_ports()
                                && r.axis.iter().any(|(lo, hi)| [22u32, 3389].iter().any(|p| lo <= p && p <= hi)))
                };
                if !reasons.contains(&"blocked_by_acl") && d.opened.iter().any(admin) {
                    reasons.push("admin_port");
                }
                if MOVE_EVENTS.contains(&e.name.as_str())
                    && d.opened.iter().any(|r| !r.egress && r.share_outside(trusted) > 0.0)
                {
                    reasons.push("more_permissive_group");
                }
            } else if e.name == "CreateSecurityGroup" || e.name.starts_with("UpdateSecurityGroupRuleDescriptions") {
                reasons.push("no_effect");
            } else if !d.closed.is_empty() {
                reasons.push("narrowing");
            } else if e.name.starts_with("Authorize") {
                reasons.push("shadowed"); // an existing rule already allowed it
            } else {
                reasons.push("no_effect");
            }
        }
        c.reasons = super::ordered(&reasons);
        c.scope = scope;
        c.topology_basis = basis;
        c.topology_reason = why;
        out.push(c);
    }
    out
}

/// Interfaces of a VPC (when it is not known, of the call's account and region) whose groups
/// nothing shows at `time`.
fn unplaced(
    model: &Groups,
    ifaces: &[super::topology::Interface],
    vpc: Option<&str>,
    call: &Event,
    time: i64,
) -> Vec<String> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    for i in ifaces {
        let same = match vpc {
            Some(v) => i.vpc_id.as_deref() == Some(v),
            None => {
                i.account_id.is_some()
                    && i.account_id == call.account_id
                    && (i.region.is_none() || call.region.is_none() || i.region == call.region)
            }
        };
        if !same {
            continue;
        }
        if model.members.get(&i.interface_id).and_then(|m| m.at(time, true)).is_none() {
            out.insert(i.interface_id.clone());
        }
    }
    out.into_iter().collect()
}

/// What a change's opening lets through both layers on the interfaces it reaches: each opened
/// region of the groups, intersected with what the ACL of each scoped interface's subnet allows.
/// `None` when the ACL of a scoped interface (or of every one) is not known: the opening is then
/// judged alone.
fn reached_through_acl(scope: &[Scoped], opened: &[Region], acl_at: &AclAt<'_>, t: i64) -> Option<Vec<Region>> {
    let opening: Vec<Entry> = opened.iter().flat_map(region_entries).collect();
    let mut acls: Vec<Vec<Entry>> = Vec::new();
    for s in scope {
        let acl = acl_at(&s.interface_id, t)?;
        if !acls.contains(&acl) {
            acls.push(acl);
        }
    }
    if acls.is_empty() {
        return None;
    }
    let nothing = crate::nacl::with_default_rules(Vec::new());
    let mut out: Vec<Region> = Vec::new();
    for acl in acls {
        let mut opening = opening.clone();
        opening.extend(nothing.iter().cloned());
        out.extend(crate::nacl::policy::diff(&both(&acl, &nothing), &both(&acl, &opening)).opened);
    }
    Some(out)
}

/// A region of packets as allow entries (its address ranges as CIDRs, its port or ICMP ranges);
/// "all but" a few protocols is taken as all protocols, which can only make more of it reach.
fn region_entries(r: &Region) -> Vec<Entry> {
    let protocol = r.protocol_number.unwrap_or(-1);
    let mut nets: Vec<IpNet> = Vec::new();
    for &(lo, hi) in &r.address_ranges {
        match r.family {
            Some(crate::nacl::policy::Family::V4) => {
                nets.extend(ipnet::Ipv4Subnets::new((lo as u32).into(), (hi as u32).into(), 0).map(IpNet::V4))
            }
            Some(crate::nacl::policy::Family::V6) => {
                nets.extend(ipnet::Ipv6Subnets::new(lo.into(), hi.into(), 0).map(IpNet::V6))
            }
            None => {}
        }
    }
    let mut out = Vec::new();
    for net in nets {
        for &(lo, hi) in &r.axis {
            let mut e = Entry::rule(1, r.egress, "allow", protocol, &net.to_string(), None);
            match protocol {
                6 | 17 => (e.port_from, e.port_to) = (Some(lo as i64), Some(hi as i64)),
                // The ICMP axis is type * 256 + code: a whole type, or one type and code.
                1 | 58 if lo % 256 == 0 && hi == lo + 255 => e.icmp_type = Some((lo / 256) as i64),
                1 | 58 if lo == hi => (e.icmp_type, e.icmp_code) = (Some((lo / 256) as i64), Some((lo % 256) as i64)),
                _ => {}
            }
            out.push(e);
            if !matches!(protocol, 6 | 17 | 1 | 58) {
                break; // no ports: one entry covers the region
            }
        }
    }
    out
}

fn joined(v: &Option<Vec<String>>) -> Option<String> {
    v.as_ref().map(|g| g.join(", "))
}

impl SgChange {
    pub fn row(&self) -> crate::schema::SgChangeRow<'_> {
        let e = &self.event;
        let first = self.requested.first();
        let cidr = |v6: bool| {
            first.and_then(|r| match &r.peer {
                Peer::Cidr(c) if c.contains(':') == v6 => Some(c.as_str()),
                _ => None,
            })
        };
        let json = |r: &Option<Vec<Rule>>| r.as_ref().and_then(|r| serde_json::to_string(r).ok());
        let regions = |r: Option<&Vec<Region>>| r.and_then(|r| serde_json::to_string(r).ok());
        let ids: Vec<&str> = self.requested.iter().filter_map(|r| r.rule_id.as_deref()).collect();
        crate::schema::SgChangeRow {
            event_id: &e.event_id,
            event_time: e.time,
            event_name: &e.name,
            account_id: e.account_id.as_deref(),
            aws_region: e.region.as_deref(),
            group_id: self.group_id.as_deref(),
            vpc_id: self.vpc_id.as_deref(),
            interface_id: self.interface_id.as_deref(),
            instance_id: self.instance_id.as_deref(),
            groups_before: joined(&self.groups_before),
            groups_after: joined(&self.groups_after),
            egress: first.map(|r| r.egress),
            protocol: first.map(|r| r.protocol),
            port_from: first.and_then(|r| r.port_from),
            port_to: first.and_then(|r| r.port_to),
            cidr_block: cidr(false),
            ipv6_cidr_block: cidr(true),
            referenced_group_id: first.and_then(|r| match &r.peer {
                Peer::Group(g) => Some(g.as_str()),
                _ => None,
            }),
            prefix_list_id: first.and_then(|r| match &r.peer {
                Peer::PrefixList(p) => Some(p.as_str()),
                _ => None,
            }),
            rule_ids: (!ids.is_empty()).then(|| ids.join(", ")),
            rules_requested: (!self.requested.is_empty())
                .then(|| serde_json::to_string(&self.requested).ok())
                .flatten(),
            actor_arn: e.actor_arn.as_deref(),
            access_key_id: e.access_key_id.as_deref(),
            source_ip: e.source_ip.as_deref(),
            user_agent: e.user_agent.as_deref(),
            error_code: e.error_code.as_deref(),
            succeeded: e.error_code.is_none(),
            risk_score: self.score(),
            risk_reasons: self.reasons.join(","),
            rules_before: json(&self.rules_before),
            rules_after: json(&self.rules_after),
            opened: regions(self.diff.as_ref().map(|d| &d.opened)),
            closed: regions(self.diff.as_ref().map(|d| &d.closed)),
            opened_text: self.diff.as_ref().and_then(|d| Diff::line(&d.opened, "opened")),
            closed_text: self.diff.as_ref().and_then(|d| Diff::line(&d.closed, "closed")),
            interfaces_in_scope: self.scope.iter().map(|s| &s.interface_id).collect::<BTreeSet<_>>().len() as i64,
            topology_basis: self.topology_basis.as_str(),
            topology_reason: Some(self.topology_reason.as_str()).filter(|s| !s.is_empty()),
        }
    }
}

/// The rows of `sg_changes`.
pub fn changes_batch(changes: &[SgChange]) -> crate::error::Result<datafusion::arrow::array::RecordBatch> {
    let rows: Vec<_> = changes.iter().map(SgChange::row).collect();
    crate::schema::batch_of(crate::schema::SG_CHANGES, &rows)
}

/// The rows of `sg_change_scope`: one per change, interface and address.
pub fn scope_batch(changes: &[SgChange]) -> crate::error::Result<datafusion::arrow::array::RecordBatch> {
    let mut rows = Vec::new();
    for c in changes {
        let opened: &[Region] = c.diff.as_ref().map_or(&[], |d| d.opened.as_slice());
        let protocols: BTreeSet<Option<i64>> = opened.iter().map(|r| r.protocol_number).collect();
        let protocol = match protocols.iter().collect::<Vec<_>>().as_slice() {
            [Some(p)] if *p >= 0 => Some(*p),
            _ => None,
        };
        let ports = opened.iter().all(Region::has_ports).then(|| {
            let lo = opened.iter().flat_map(|r| r.axis.iter().map(|a| a.0)).min();
            let hi = opened.iter().flat_map(|r| r.axis.iter().map(|a| a.1)).max();
            (lo.map(i64::from), hi.map(i64::from))
        });
        let (port_from, port_to) = ports.unwrap_or((None, None));
        for s in &c.scope {
            let (before, after) = (serde_json::to_string(&s.before)?, serde_json::to_string(&s.after)?);
            let addresses: Vec<Option<String>> = if s.addresses.is_empty() {
                vec![None]
            } else {
                s.addresses.iter().map(|a| Some(a.to_string())).collect()
            };
            for address in addresses {
                rows.push(crate::schema::SgChangeScopeRow {
                    event_id: &c.event.event_id,
                    interface_id: &s.interface_id,
                    address,
                    scope: s.how,
                    rules_before: before.clone(),
                    rules_after: after.clone(),
                    opens: !opened.is_empty(),
                    opened_protocol: protocol,
                    opened_port_from: port_from,
                    opened_port_to: port_to,
                });
            }
        }
    }
    crate::schema::batch_of(crate::schema::SG_CHANGE_SCOPE, &rows)
}

/// One rule of one group over an interval: a row of `sg_rules`.
#[derive(Debug, Clone)]
pub struct RuleRow {
    pub group_id: String,
    pub vpc_id: Option<String>,
    pub rule: Rule,
    pub complete: bool,
    pub learned_from: String,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// Every group's rules, interval by interval between the calls that changed them (or, for a
/// group no call changed, between its snapshots).
pub fn rule_rows(model: &Groups) -> Vec<RuleRow> {
    let mut out = Vec::new();
    for (g, h) in &model.groups {
        // The points the rules may change at: each call, and each snapshot.
        let mut points: Vec<(i64, usize, String)> = h
            .steps
            .iter()
            .map(|(o, t, _)| (*t, o + 1, format!("cloudtrail {} {}", model.events[*o].name, model.events[*o].event_id)))
            .collect();
        for (t, _, _) in &h.snapshots {
            let done = h.steps.iter().filter(|(_, st, _)| st <= t).map(|(o, _, _)| o + 1).max().unwrap_or(0);
            points.push((*t, done, "inventory".into()));
        }
        points.sort_by_key(|a| (a.0, a.1));
        let first_ord = h.steps.first().map_or(0, |(o, _, _)| *o);
        let first_time = points.first().map_or(i64::MIN, |p| p.0);
        let mut states: Vec<(Option<i64>, GroupState, String)> =
            vec![(None, h.state_before(first_ord, first_time), "inventory".into())];
        for (t, ord, why) in points {
            let st = h.state_before(ord, t);
            if states.last().is_some_and(|(_, s, _)| *s == st) {
                continue;
            }
            states.push((Some(t), st, why));
        }
        // One row per rule over the whole interval it held: opened where it first appears,
        // closed at the state without it.
        let mut open: Vec<RuleRow> = Vec::new();
        for (from, st, why) in &states {
            let present: Vec<&Rule> = if st.exists { st.rules.iter().collect() } else { Vec::new() };
            let (kept, gone): (Vec<RuleRow>, Vec<RuleRow>) =
                open.drain(..).partition(|r| present.iter().any(|p| p.key() == r.rule.key()));
            for mut r in gone {
                r.valid_to = *from;
                out.push(r);
            }
            open = kept;
            for p in present {
                match open.iter_mut().find(|r| r.rule.key() == p.key()) {
                    Some(r) => {
                        if r.rule.rule_id.is_none() {
                            r.rule.rule_id = p.rule_id.clone();
                        }
                    }
                    None => open.push(RuleRow {
                        group_id: g.clone(),
                        vpc_id: h.vpc.clone(),
                        rule: p.clone(),
                        complete: st.complete,
                        learned_from: why.clone(),
                        valid_from: *from,
                        valid_to: None,
                    }),
                }
            }
        }
        out.extend(open);
    }
    out
}

/// The rows of `sg_rules`.
pub fn rules_batch(rows: &[RuleRow]) -> crate::error::Result<datafusion::arrow::array::RecordBatch> {
    let rows: Vec<_> = rows
        .iter()
        .map(|r| {
            let peer = |want: fn(&Peer) -> Option<&str>| want(&r.rule.peer);
            crate::schema::SgRuleRow {
                group_id: &r.group_id,
                vpc_id: r.vpc_id.as_deref(),
                rule_id: r.rule.rule_id.as_deref(),
                egress: r.rule.egress,
                protocol: r.rule.protocol,
                port_from: r.rule.port_from,
                port_to: r.rule.port_to,
                cidr_block: peer(|p| match p {
                    Peer::Cidr(c) if !c.contains(':') => Some(c),
                    _ => None,
                }),
                ipv6_cidr_block: peer(|p| match p {
                    Peer::Cidr(c) if c.contains(':') => Some(c),
                    _ => None,
                }),
                referenced_group_id: peer(|p| match p {
                    Peer::Group(g) => Some(g),
                    _ => None,
                }),
                prefix_list_id: peer(|p| match p {
                    Peer::PrefixList(x) => Some(x),
                    _ => None,
                }),
                complete: r.complete,
                learned_from: &r.learned_from,
                valid_from: r.valid_from,
                valid_to: r.valid_to,
            }
        })
        .collect();
    crate::schema::batch_of(crate::schema::SG_RULES, &rows)
}

/// The rows of `interface_groups`: each interface's groups between the observations of them. The
/// first holds from the edge of the evidence when it is a snapshot and no move came before it.
pub fn membership_rows(model: &Groups) -> Vec<crate::schema::InterfaceGroupRow> {
    let mut out = Vec::new();
    for (iface, m) in &model.members {
        let mut spans: Vec<(Option<i64>, &BTreeSet<String>, Basis, &String)> = Vec::new();
        for (i, (t, g, b, why)) in m.observations.iter().enumerate() {
            if spans.last().is_some_and(|(_, last, _, _)| *last == g) {
                continue;
            }
            let backfilled = i == 0 && !why.starts_with("cloudtrail");
            spans.push((if backfilled { None } else { Some(*t) }, g, *b, why));
        }
        for (i, (from, groups, basis, why)) in spans.iter().enumerate() {
            let to = spans.get(i + 1).and_then(|s| s.0);
            for g in *groups {
                out.push(crate::schema::InterfaceGroupRow {
                    interface_id: iface.clone(),
                    group_id: g.clone(),
                    basis: basis.as_str(),
                    learned_from: (*why).clone(),
                    valid_from: *from,
                    valid_to: to,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(name: &str, t: i64, req: Value, resp: Value) -> Event {
        Event {
            event_id: format!("e{t}"),
            time: t,
            name: name.into(),
            request: req,
            response: resp,
            ..Default::default()
        }
    }

    #[test]
    fn both_request_shapes_and_the_rule_set_response_give_the_same_rule() {
        // The three real shapes of NOTES.md 3.2 (Invictus, Elastic).
        let items = ev(
            "AuthorizeSecurityGroupIngress",
            1,
            serde_json::json!({"groupId":"sg-1","ipPermissions":{"items":[{"ipProtocol":"tcp","fromPort":22,"toPort":22,
                "groups":{},"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]},"ipv6Ranges":{},"prefixListIds":{}}]}}),
            Value::Null,
        );
        let flat = ev(
            "AuthorizeSecurityGroupIngress",
            2,
            serde_json::json!({"groupId":"sg-1","ipPermissions":{},"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIp":"0.0.0.0/0"}),
            Value::Null,
        );
        let set = ev(
            "AuthorizeSecurityGroupIngress",
            3,
            serde_json::json!({"groupId":"sg-1","ipPermissions":{}}),
            serde_json::json!({"_return":true,"securityGroupRuleSet":{"items":[{"groupId":"sg-1","securityGroupRuleId":"sgr-1",
                "isEgress":false,"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIpv4":"0.0.0.0/0"}]}}),
        );
        let keys: Vec<Vec<RuleKey>> =
            [items, flat, set].iter().map(|e| call_rules(e).2.iter().map(Rule::key).collect()).collect();
        assert_eq!(keys[0], vec![(false, 6, Some(22), Some(22), Peer::Cidr("0.0.0.0/0".into()))]);
        assert_eq!(keys[0], keys[1]);
        assert_eq!(keys[0], keys[2]);
    }

    #[test]
    fn all_protocols_are_one_rule_whether_ports_say_minus_one_or_zero() {
        // Responses write all-protocol rules with ports -1, revoke requests with 0 (NOTES.md 3.2).
        let (add, _) = rules_of_permissions(
            &[
                &serde_json::json!({"ipProtocol":"-1","fromPort":-1,"toPort":-1,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}),
            ],
            true,
        );
        let (rem, _) = rules_of_permissions(
            &[
                &serde_json::json!({"ipProtocol":"-1","fromPort":0,"toPort":0,"ipRanges":{"items":[{"cidrIp":"0.0.0.0/0"}]}}),
            ],
            true,
        );
        assert_eq!(add[0].key(), rem[0].key());
    }

    fn model_of(events: Vec<Event>, snapshots: Vec<(i64, &str, Vec<Rule>)>) -> Groups {
        let sg = SgEvidence {
            events,
            group_snapshots: snapshots.into_iter().map(|(t, g, r)| (t, g.to_string(), None, r, None, false)).collect(),
            ..Default::default()
        };
        replay(&sg, &[], &[])
    }

    fn ssh_world() -> Rule {
        Rule {
            egress: false,
            protocol: 6,
            port_from: Some(22),
            port_to: Some(22),
            peer: Peer::Cidr("0.0.0.0/0".into()),
            rule_id: None,
        }
    }

    #[test]
    fn a_later_snapshot_gives_the_rules_before_a_call_with_the_calls_between_undone() {
        let add = ev(
            "AuthorizeSecurityGroupIngress",
            10,
            serde_json::json!({"groupId":"sg-1","ipPermissions":{},"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIp":"0.0.0.0/0"}),
            Value::Null,
        );
        let https = Rule { port_from: Some(443), port_to: Some(443), ..ssh_world() };
        let m = model_of(vec![add], vec![(20, "sg-1", vec![ssh_world(), https.clone()])]);
        let h = &m.groups["sg-1"];
        let before = h.state_before(0, 10);
        assert!(before.complete);
        assert_eq!(before.rules, vec![https.clone()]);
        let after = h.state_before(1, 10);
        assert_eq!(after.rules.len(), 2);
    }

    #[test]
    fn a_group_known_only_by_its_calls_is_partly_known() {
        let add = ev(
            "AuthorizeSecurityGroupIngress",
            10,
            serde_json::json!({"groupId":"sg-1","ipPermissions":{},"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIp":"0.0.0.0/0"}),
            Value::Null,
        );
        let m = model_of(vec![add], vec![]);
        let after = m.groups["sg-1"].state_before(1, 10);
        assert!(!after.complete);
        let es = entries(&[("sg-1", &after)], &m, 10);
        let ip = "198.51.100.7".parse().unwrap();
        assert_eq!(crate::nacl::allows(&es, false, 6, ip, Some(22)), Some(true));
        assert_eq!(crate::nacl::allows(&es, false, 6, ip, Some(3389)), None, "another rule may allow it");
    }

    #[test]
    fn an_acl_that_denies_the_port_leaves_nothing_opened_through_both_layers() {
        let acl = crate::nacl::with_default_rules(vec![
            Entry::rule(100, false, "deny", 6, "0.0.0.0/0", Some((22, 22))),
            Entry::rule(200, false, "allow", -1, "0.0.0.0/0", None),
            Entry::rule(100, true, "allow", -1, "0.0.0.0/0", None),
        ]);
        let create = ev(
            "CreateSecurityGroup",
            1,
            serde_json::json!({"vpcId":"vpc-1","groupName":"x"}),
            serde_json::json!({"groupId":"sg-1"}),
        );
        let add = ev(
            "AuthorizeSecurityGroupIngress",
            10,
            serde_json::json!({"groupId":"sg-1","ipPermissions":{},"ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIp":"0.0.0.0/0"}),
            Value::Null,
        );
        let m = model_of(vec![create, add], vec![]);
        let h = &m.groups["sg-1"];
        let (b, a) = (h.state_before(1, 10), h.state_before(2, 10));
        assert!(b.complete && a.complete);
        let eb = entries(&[("sg-1", &b)], &m, 10);
        let ea = entries(&[("sg-1", &a)], &m, 10);
        assert_eq!(crate::nacl::policy::diff(&eb, &ea).opened.len(), 1, "the group opened 22");
        let d = crate::nacl::policy::diff(&both(&acl, &eb), &both(&acl, &ea));
        assert!(d.opened.is_empty(), "{:?}", d.opened);
        // With the ACL allowing it, the opening reaches through.
        let open_acl = crate::nacl::with_default_rules(vec![Entry::rule(100, false, "allow", -1, "0.0.0.0/0", None)]);
        let d = crate::nacl::policy::diff(&both(&open_acl, &eb), &both(&open_acl, &ea));
        assert_eq!(d.opened.len(), 1);
        assert_eq!(d.opened[0].ports, Some(vec![[22, 22]]));
    }

    #[test]
    fn a_revoke_by_rule_id_removes_the_rule_that_id_named() {
        let create =
            ev("CreateSecurityGroup", 1, serde_json::json!({"vpcId":"vpc-1"}), serde_json::json!({"groupId":"sg-1"}));
        let add = ev(
            "AuthorizeSecurityGroupIngress",
            2,
            serde_json::json!({"groupId":"sg-1"}),
            serde_json::json!({"securityGroupRuleSet":{"items":[{"securityGroupRuleId":"sgr-9","isEgress":false,
                "ipProtocol":"tcp","fromPort":22,"toPort":22,"cidrIpv4":"0.0.0.0/0"}]}}),
        );
        let revoke = ev(
            "RevokeSecurityGroupIngress",
            3,
            serde_json::json!({"groupId":"sg-1","securityGroupRuleIds":{"items":[{"securityGroupRuleId":"sgr-9"}]}}),
            serde_json::json!({"_return":true}),
        );
        let m = model_of(vec![create, add, revoke], vec![]);
        let h = &m.groups["sg-1"];
        assert_eq!(h.state_before(1, 2).rules.iter().filter(|r| !r.egress).count(), 0);
        assert_eq!(h.state_before(2, 2).rules.iter().filter(|r| !r.egress).count(), 1);
        let end = h.state_before(3, 3);
        assert!(end.complete);
        assert_eq!(end.rules.iter().filter(|r| !r.egress).count(), 0);
    }
}
