//! Network ACL changes: every NACL event of the trail normalised into `nacl_changes`, with the
//! ACL's rules just before and just after it (replayed from CloudTrail and inventory snapshots)
//! and a risk assessment that names its reasons. `acl_allows(...)` evaluates a rule set in SQL.

pub mod acl;
pub mod network;
pub mod path;
pub mod sg;
pub mod stored;
pub mod table;
pub mod topology;

use std::collections::HashMap;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use ipnet::IpNet;
use serde_json::Value;

use crate::nacl::policy::{Diff, Region};
use crate::nacl::{Entry, History, Step, as_bool, as_i64, as_str, entries_of, entry_of, get};

use crate::error::Result;

/// The correlation, as SQL an analyst can read and adapt (`queries/correlate.sql`).
pub const CORRELATE_SQL: &str = include_str!("../../queries/correlate.sql");

/// The same for security-group changes (`queries/correlate_sg.sql`), in the same columns.
pub const CORRELATE_SG_SQL: &str = include_str!("../../queries/correlate_sg.sql");

/// A change's verdict: the names `queries/correlate.sql` writes (a test holds the two together),
/// read by the report and the tests through this one enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The change let in traffic that is unusual against the baseline.
    UnusualTrafficAfterChange,
    /// A risky change (see `risk_reasons`), with no unusual traffic seen after it.
    RiskyChangeNoUnusualTraffic,
    /// Neither risky nor followed by unusual traffic.
    ChangeNoUnusualTraffic,
    /// The call failed: it changed nothing.
    FailedChange,
}

impl Verdict {
    pub const ALL: [Verdict; 4] = [
        Verdict::UnusualTrafficAfterChange,
        Verdict::RiskyChangeNoUnusualTraffic,
        Verdict::ChangeNoUnusualTraffic,
        Verdict::FailedChange,
    ];

    /// The name in `nacl_verdicts.verdict`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::UnusualTrafficAfterChange => "unusual_traffic_after_change",
            Verdict::RiskyChangeNoUnusualTraffic => "risky_change_no_unusual_traffic",
            Verdict::ChangeNoUnusualTraffic => "change_no_unusual_traffic",
            Verdict::FailedChange => "failed_change",
        }
    }

    pub fn parse(name: &str) -> Option<Verdict> {
        Verdict::ALL.into_iter().find(|v| v.as_str() == name)
    }

    /// How the report says it.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::UnusualTrafficAfterChange => "UNUSUAL TRAFFIC AFTER CHANGE",
            Verdict::RiskyChangeNoUnusualTraffic => "risky change, no unusual traffic",
            Verdict::ChangeNoUnusualTraffic => "no unusual traffic",
            Verdict::FailedChange => "failed change",
        }
    }

    /// Does the report show it first, as a change to look at?
    pub fn flagged(self) -> bool {
        matches!(self, Verdict::UnusualTrafficAfterChange | Verdict::RiskyChangeNoUnusualTraffic)
    }
}

/// Default window after a change, and baseline before it: a day each. Attackers who were
/// REJECTed keep knocking, and a day of baseline holds the REJECTs that show it; a day after holds
/// what a change let in without drowning it in the next day's changes.
pub const DEFAULT_WINDOW_US: i64 = 24 * 3_600_000_000;
pub const DEFAULT_BASELINE_US: i64 = 24 * 3_600_000_000;

/// Settings the correlation query is written for: joins keep the order the SQL gives them.
/// Each join of `queries/correlate.sql` names its small side first (rule sets, the peers that
/// count), which becomes the hash table; DataFusion's own choice, made without row counts for
/// aggregated inputs, built the table from the millions of flow groups instead (measured on 20
/// million flows: 2.8 GiB and 28 s against 1.5 s on 2 million with the order kept).
pub fn tune_session(ctx: &datafusion::prelude::SessionContext) {
    ctx.state_ref().write().config_mut().options_mut().optimizer.join_reordering = false;
}

/// Networks trusted by default besides the VPC ranges learned from the evidence: RFC 1918.
pub const RFC1918: &[&str] = &["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];

/// Each risk reason and what it adds to the score (capped at 100).
pub const RISK_WEIGHTS: &[(&str, i64)] = &[
    ("world_open_cidr", 40),
    ("all_protocols", 20),
    ("unusual_protocol", 10),
    ("wide_port_range", 15),
    ("untrusted_source", 15),
    ("egress_opening", 25),
    ("deny_removed", 35),
    ("deleted_entry_unknown", 10),
    ("more_permissive_acl", 30),
    ("failed_call", 5),
    // An inbound TCP/UDP opening confined to the ephemeral ports (32768 and above): a stateless
    // ACL's standard rule for return traffic.
    ("ephemeral_return", 5),
    // A security group's: an administration port (22, 3389) or all protocols opened to peers
    // outside the trusted networks; an interface moved into groups that let in more from them.
    ("admin_port", 10),
    ("more_permissive_group", 30),
    // What a change that opens nothing risky is: named, no risk. `trusted_only`: everything it
    // opened reaches only the trusted networks (RFC 1918, the evidence's VPC ranges, --trusted).
    ("trusted_only", 0),
    ("inactive_acl", 0),
    // A security group no interface is in; an opening the subnet's ACL still denies whole.
    ("unused_group", 0),
    ("blocked_by_acl", 0),
    ("shadowed", 0),
    ("narrowing", 0),
    ("no_effect", 0),
];

/// The lowest port of the ephemeral ranges of the common operating systems (Linux 32768-60999,
/// Windows and the IANA range 49152-65535).
pub const EPHEMERAL_FROM: u32 = 32768;

/// Everything the replay needs, read from the lake.
#[derive(Debug, Default)]
pub struct Evidence {
    /// NACL events and the VPC events that create or extend a default ACL (`CreateVpc`,
    /// `AssociateVpcCidrBlock`), in time order. Only the NACL events become changes.
    pub events: Vec<Event>,
    /// `network_acls` snapshots: (time, acl id, vpc id, item, taken from AWS Config).
    pub acl_snapshots: Vec<(i64, String, Option<String>, Value, bool)>,
    /// `subnets` snapshots: (subnet id, vpc id, CIDRs, taken from AWS Config).
    pub subnet_snapshots: Vec<(String, Option<String>, Vec<IpNet>, bool)>,
    /// VPCs whose snapshots say which of their ACLs is the default: vpc id.
    pub vpc_snapshots: Vec<String>,
    /// VPC ranges learned from inventory and CloudTrail.
    pub vpc_cidrs: Vec<IpNet>,
    /// Successful calls that tell the topology: subnets, interfaces and their addresses
    /// ([`topology::TOPOLOGY_EVENTS`]), in time order.
    pub topology_events: Vec<Event>,
    /// What the security-group model is built from.
    pub sg: sg::SgEvidence,
}

/// The VPC events that shape a default ACL.
pub const VPC_EVENTS: &[&str] = &["CreateVpc", "AssociateVpcCidrBlock"];

#[derive(Debug, Clone, Default)]
pub struct Event {
    pub event_id: String,
    pub time: i64,
    pub name: String,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub request: Value,
    pub response: Value,
    pub actor_arn: Option<String>,
    pub access_key_id: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub error_code: Option<String>,
}

impl Event {
    /// Is this one of the Network ACL events (a row of `nacl_changes`)?
    pub fn is_nacl(&self) -> bool {
        crate::aws::NACL_EVENTS.contains(&self.name.as_str())
    }
}

/// Every CIDR block a `CreateVpc` or `AssociateVpcCidrBlock` call gave a VPC: IPv4 from the
/// request or the response, IPv6 from the response (Amazon-provided blocks are only known there).
pub fn vpc_blocks(e: &Event) -> Vec<IpNet> {
    let mut out: Vec<IpNet> =
        as_str(get(&e.request, "cidrBlock")).and_then(|c| c.parse::<IpNet>().ok()).into_iter().collect();
    if let Some(c) = as_str(get(&e.request, "ipv6CidrBlock")).and_then(|c| c.parse::<IpNet>().ok()) {
        out.push(c);
    }
    let vpc = get(&e.response, "vpc").unwrap_or(&e.response);
    for key in ["cidrBlock", "ipv6CidrBlock"] {
        out.extend(as_str(get(vpc, key)).and_then(|c| c.parse::<IpNet>().ok()));
    }
    for set in
        ["cidrBlockAssociationSet", "ipv6CidrBlockAssociationSet", "cidrBlockAssociation", "ipv6CidrBlockAssociation"]
    {
        for a in topology::list(vpc, set) {
            for key in ["cidrBlock", "ipv6CidrBlock"] {
                out.extend(as_str(get(a, key)).and_then(|c| c.parse::<IpNet>().ok()));
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Read the evidence from a lake session (the plain tables only).
pub async fn load(ctx: &datafusion::prelude::SessionContext) -> Result<Evidence> {
    let names = crate::aws::NACL_EVENTS
        .iter()
        .chain(VPC_EVENTS)
        .chain(topology::TOPOLOGY_EVENTS)
        .chain(sg::SG_EVENTS)
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>();
    let sql = format!(
        "SELECT event_id, event_time, event_name, coalesce(recipient_account_id, account_id), aws_region, \
         request_parameters, response_elements, user_arn, access_key_id, source_ip, user_agent, error_code \
         FROM cloudtrail WHERE event_name IN ({}) ORDER BY event_time, event_id",
        names.join(", ")
    );
    use topology::{text, val};
    let mut ev = Evidence::default();
    if ctx.table_exist("cloudtrail")? {
        for b in crate::query::query(ctx, &sql).await? {
            let cols: Vec<ArrayRef> = (0..b.num_columns())
                .map(|i| if i == 1 { Ok(b.column(1).clone()) } else { text(&b, i) })
                .collect::<Result<_>>()?;
            let times = cols[1].as_primitive::<TimestampMicrosecondType>();
            for r in 0..b.num_rows() {
                let json =
                    |i: usize| val(&cols[i], r).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
                let e = Event {
                    event_id: val(&cols[0], r).unwrap_or_default(),
                    time: times.value(r),
                    name: val(&cols[2], r).unwrap_or_default(),
                    account_id: val(&cols[3], r),
                    region: val(&cols[4], r),
                    request: json(5),
                    response: json(6),
                    actor_arn: val(&cols[7], r),
                    access_key_id: val(&cols[8], r),
                    source_ip: val(&cols[9], r),
                    user_agent: val(&cols[10], r),
                    error_code: val(&cols[11], r),
                };
                if VPC_EVENTS.contains(&e.name.as_str()) {
                    if e.error_code.is_none() {
                        ev.vpc_cidrs.extend(vpc_blocks(&e));
                        ev.events.push(e);
                    }
                    continue;
                }
                if sg::SG_EVENTS.contains(&e.name.as_str()) {
                    ev.sg.events.push(e);
                    continue;
                }
                if topology::TOPOLOGY_EVENTS.contains(&e.name.as_str()) {
                    if e.error_code.is_none() {
                        if e.name == "CreateSubnet" || e.name == "AssociateSubnetCidrBlock" {
                            // A subnet's ranges lie in its VPC's: trusted like them.
                            ev.vpc_cidrs.extend(network::subnets_of_event(&e));
                        }
                        ev.topology_events.push(e);
                    }
                    continue;
                }
                ev.events.push(e);
            }
        }
    }
    if ctx.table_exist("inventory")? {
        let sql = format!(
            "SELECT snapshot_time, kind, resource_id, vpc_id, item, snapshot_time_basis = '{}' FROM inventory \
             WHERE kind IN ('network_acls', 'vpcs', 'subnets')",
            crate::schema::CONFIG_BASIS
        );
        for b in crate::query::query(ctx, &sql).await? {
            let times = b.column(0).as_primitive::<TimestampMicrosecondType>();
            let (kind, id, vpc, item) = (text(&b, 1)?, text(&b, 2)?, text(&b, 3)?, text(&b, 4)?);
            let config = b.column(5).as_boolean().clone();
            for r in 0..b.num_rows() {
                let item: Value = val(&item, r).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
                let from_config = datafusion::arrow::array::Array::is_valid(&config, r) && config.value(r);
                let vpc = val(&vpc, r).or_else(|| as_str(get(&item, "VpcId")));
                match val(&kind, r).as_deref() {
                    Some("network_acls") => {
                        ev.acl_snapshots.push((times.value(r), val(&id, r).unwrap_or_default(), vpc, item, from_config))
                    }
                    Some("subnets") => {
                        let Some(subnet) = val(&id, r).or_else(|| as_str(get(&item, "SubnetId"))) else { continue };
                        let mut cidrs: Vec<IpNet> =
                            as_str(get(&item, "CidrBlock")).and_then(|c| c.parse::<IpNet>().ok()).into_iter().collect();
                        for a in topology::list(&item, "Ipv6CidrBlockAssociationSet") {
                            cidrs.extend(as_str(get(a, "Ipv6CidrBlock")).and_then(|c| c.parse::<IpNet>().ok()));
                        }
                        ev.subnet_snapshots.push((subnet, vpc, cidrs, from_config));
                    }
                    Some("vpcs") => {
                        let mut cidrs: Vec<String> = as_str(get(&item, "CidrBlock")).into_iter().collect();
                        for set in ["CidrBlockAssociationSet", "Ipv6CidrBlockAssociationSet"] {
                            for a in topology::list(&item, set) {
                                cidrs.extend(as_str(get(a, "CidrBlock")).or_else(|| as_str(get(a, "Ipv6CidrBlock"))));
                            }
                        }
                        ev.vpc_cidrs.extend(cidrs.iter().filter_map(|c| c.parse::<IpNet>().ok()));
                        ev.vpc_snapshots.extend(vpc);
                    }
                    _ => {}
                }
            }
        }
    }
    if ctx.table_exist("inventory")? {
        load_sg_inventory(ctx, &mut ev.sg).await?;
    }
    ev.vpc_cidrs.sort();
    ev.vpc_cidrs.dedup();
    Ok(ev)
}

/// Security groups, their rules and the groups of each interface, from `describe-*` output and
/// AWS Config items in `inventory`.
async fn load_sg_inventory(ctx: &datafusion::prelude::SessionContext, out: &mut sg::SgEvidence) -> Result<()> {
    use topology::{text, val};
    let sql = format!(
        "SELECT snapshot_time, kind, resource_id, vpc_id, item, snapshot_time_basis = '{}' FROM inventory \
         WHERE kind IN ('security_groups', 'security_group_rules', 'network_interfaces', 'instances', 'prefix_lists')",
        crate::schema::CONFIG_BASIS
    );
    for b in crate::query::query(ctx, &sql).await? {
        let times = b.column(0).as_primitive::<TimestampMicrosecondType>();
        let (kind, id, vpc, item) = (text(&b, 1)?, text(&b, 2)?, text(&b, 3)?, text(&b, 4)?);
        let config = b.column(5).as_boolean().clone();
        for r in 0..b.num_rows() {
            let Some(item) = val(&item, r).and_then(|s| serde_json::from_str::<Value>(&s).ok()) else { continue };
            let from_config = datafusion::arrow::array::Array::is_valid(&config, r) && config.value(r);
            let t = times.value(r);
            match val(&kind, r).as_deref() {
                Some("security_groups") => {
                    let Some(group) = val(&id, r).or_else(|| as_str(get(&item, "GroupId"))) else { continue };
                    let (rules, _) = sg::rules_of_group(&item);
                    let vpc = val(&vpc, r).or_else(|| as_str(get(&item, "VpcId")));
                    out.group_snapshots.push((t, group, vpc, rules, as_str(get(&item, "GroupName")), from_config));
                }
                Some("security_group_rules") => {
                    let (Some(group), Some(rule)) = (as_str(get(&item, "GroupId")), sg::rule_of_item(&item, None))
                    else {
                        continue;
                    };
                    out.rule_snapshots.push((t, group, rule));
                }
                Some("network_interfaces") => {
                    let Some(iface) = val(&id, r).or_else(|| as_str(get(&item, "NetworkInterfaceId"))) else {
                        continue;
                    };
                    let groups = sg::group_set(&item);
                    if !groups.is_empty() {
                        out.member_snapshots.push((t, iface, groups, from_config));
                    }
                }
                Some("prefix_lists") => {
                    let Some(id) = val(&id, r).or_else(|| as_str(get(&item, "PrefixListId"))) else { continue };
                    let nets = topology::list(&item, "Entries")
                        .into_iter()
                        .filter_map(|e| as_str(get(e, "Cidr")).and_then(|c| c.parse::<IpNet>().ok()))
                        .collect();
                    out.prefix_lists.push((t, id, nets));
                }
                Some("instances") => {
                    for n in topology::list(&item, "NetworkInterfaces") {
                        let (Some(iface), groups) = (as_str(get(n, "NetworkInterfaceId")), sg::group_set(n)) else {
                            continue;
                        };
                        if !groups.is_empty() {
                            out.member_snapshots.push((t, iface, groups, from_config));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The networks a change is judged against: `trusted` when given, else RFC 1918 and the VPC ranges.
pub fn trusted_networks(ev: &Evidence, trusted: Option<&[IpNet]>) -> Vec<IpNet> {
    match trusted {
        Some(t) => t.to_vec(),
        None => {
            let mut t: Vec<IpNet> = RFC1918.iter().filter_map(|c| c.parse().ok()).collect();
            t.extend(ev.vpc_cidrs.iter().cloned());
            t
        }
    }
}

/// Is the region an inbound return-traffic opening (TCP/UDP, ephemeral ports only)?
fn is_ephemeral_return(r: &Region) -> bool {
    !r.egress && r.lowest_port().is_some_and(|p| p >= EPHEMERAL_FROM)
}

/// The risk reasons of what a change opened: each judged on the packets it now lets through,
/// not on the text of the rule.
fn opened_reasons(opened: &[Region], trusted: &[IpNet], out: &mut Vec<&'static str>) {
    let (ephemeral, rest): (Vec<&Region>, Vec<&Region>) = opened.iter().partition(|r| is_ephemeral_return(r));
    if !rest.is_empty() && rest.iter().all(|r| r.share_outside(&[]) < 0.5 && r.share_outside(trusted) == 0.0) {
        out.push("trusted_only");
    }
    for r in rest {
        let outside = r.share_outside(trusted);
        // Half of all addresses or more: the world, whatever the exceptions and the trust.
        let world = r.share_outside(&[]) >= 0.5;
        if world {
            out.push("world_open_cidr");
        } else if outside > 0.0 {
            out.push("untrusted_source");
        }
        // Breadth (protocols, ports) is a risk where it reaches peers outside the trusted
        // networks: all protocols between the VPC's own ranges is how internal networks are run.
        if !(world || outside > 0.0) {
            continue;
        }
        match r.protocol_number {
            None | Some(-1) => out.push("all_protocols"),
            Some(6 | 17 | 1 | 58) => {}
            Some(_) => out.push("unusual_protocol"),
        }
        // A span of 1024 ports or more left open where the change opened any (ports the rules
        // already allowed count: the change joined them into one span).
        if r.has_ports() && r.open_run >= 1024 {
            out.push("wide_port_range");
        }
        if r.egress && outside > 0.0 {
            out.push("egress_opening");
        }
    }
    // All protocols include every port: the wider reason says it.
    if out.contains(&"all_protocols") {
        out.retain(|r| *r != "wide_port_range");
    }
    if !ephemeral.is_empty() {
        out.push("ephemeral_return");
    }
}

/// Reasons in the order of `RISK_WEIGHTS`, each once.
fn ordered(reasons: &[&'static str]) -> Vec<&'static str> {
    RISK_WEIGHTS.iter().map(|(n, _)| *n).filter(|n| reasons.contains(n)).collect()
}

/// Does the evidence show for certain that the ACL governs no subnet at this moment? A subnet
/// association covering the moment says it does; an ACL created earlier in the evidence (a new
/// ACL governs nothing until a subnet is moved to it) or a snapshot taken before the moment that
/// shows it non-default and without associations says it does not; otherwise it may.
fn governs_nothing(acl: &str, t: i64, ord: usize, replay: &Replay, assoc: &[topology::Association]) -> bool {
    let associated = assoc.iter().any(|a| {
        a.network_acl_id.as_deref() == Some(acl)
            && a.valid_from.is_none_or(|f| f <= t)
            && a.valid_to.is_none_or(|to| to > t)
    });
    if associated {
        return false;
    }
    let created =
        replay.hist.get(acl).is_some_and(|h| h.steps.iter().any(|(o, _, s)| *o < ord && matches!(s, Step::Created(_))));
    created
        || replay
            .acl_meta
            .get(acl)
            .and_then(|m| m.iter().filter(|(ts, _, _)| *ts <= t).max_by_key(|(ts, _, _)| *ts))
            .is_some_and(|(_, is_default, associations)| !is_default && *associations == 0)
}

/// The rules of the ACL that governed an interface's subnet at a moment, when the evidence shows
/// the interface's subnet, the subnet's ACL and that ACL's rules.
pub fn acl_of_interface(
    ev: &Evidence,
    replay: &Replay,
    assoc: &[topology::Association],
    ifaces: &[topology::Interface],
    iface: &str,
    t: i64,
) -> Option<Vec<Entry>> {
    let during = |from: Option<i64>, to: Option<i64>| from.is_none_or(|f| f <= t) && to.is_none_or(|x| x > t);
    let subnet = ifaces
        .iter()
        .find(|i| i.interface_id == iface && i.subnet_id.is_some() && during(i.valid_from, i.valid_to))?
        .subnet_id
        .clone()?;
    let acl = assoc
        .iter()
        .find(|a| a.subnet_id.as_deref() == Some(subnet.as_str()) && during(a.valid_from, a.valid_to))?
        .network_acl_id
        .clone()?;
    let ord = ev.events.partition_point(|e| e.time <= t);
    replay.hist.get(&acl)?.state_before(ord)
}

/// One row of `nacl_changes`.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub event: Event,
    pub network_acl_id: Option<String>,
    pub entry: Option<Entry>,
    pub icmp_type: Option<i64>,
    pub icmp_code: Option<i64>,
    pub vpc_id: Option<String>,
    pub association_id: Option<String>,
    pub subnet_id: Option<String>,
    pub reasons: Vec<&'static str>,
    pub rules_before: Option<Vec<Entry>>,
    pub rules_after: Option<Vec<Entry>>,
    /// What the change opened and closed; `None` when the rules after it are not known.
    pub diff: Option<Diff>,
    /// What the scope of the change and the rules it is judged against stand on, and why.
    pub topology_basis: network::Basis,
    pub topology_reason: String,
}

impl Change {
    pub fn score(&self) -> i64 {
        score_of(&self.reasons)
    }
}

/// The risk score of a change's reasons: their weights summed, capped at 100.
pub fn score_of(reasons: &[&str]) -> i64 {
    let s: i64 = reasons.iter().filter_map(|r| RISK_WEIGHTS.iter().find(|(n, _)| n == r).map(|(_, w)| *w)).sum();
    s.min(100)
}

/// Every ACL's history, the VPC of each ACL, and the associations snapshots show.
#[derive(Debug, Default)]
pub struct Replay {
    pub hist: HashMap<String, History>,
    pub acl_vpc: HashMap<String, String>,
    /// Association id → (subnet, acl), as snapshots show them.
    pub assoc: HashMap<String, (Option<String>, String)>,
    /// Snapshot associations: (time, association id, subnet, acl).
    pub snapshot_assoc: Vec<(i64, String, Option<String>, String)>,
    /// What each snapshot says of an ACL: (time, is the VPC's default, associations).
    pub acl_meta: HashMap<String, Vec<(i64, bool, usize)>>,
    /// Which snapshots came from AWS Config: (time, association id).
    pub config_assoc: std::collections::HashSet<(i64, String)>,
    /// The estate as the evidence tells it: VPCs, subnets, default ACLs, resolved moves.
    pub net: network::Network,
}

/// Build every ACL's history: successful steps in time order, and snapshots; the default ACL of
/// each VPC created in the evidence starts with AWS's documented rules at its `CreateVpc`.
pub fn replay(ev: &Evidence, ifaces: &[topology::Interface]) -> Replay {
    let mut r = Replay { net: network::learn(ev, ifaces), ..Default::default() };
    for (t, id, vpc, item, config) in &ev.acl_snapshots {
        r.hist.entry(id.clone()).or_default().snapshots.push((*t, entries_of(item)));
        if let Some(v) = vpc {
            r.acl_vpc.insert(id.clone(), v.clone());
        }
        let associations = get(item, "Associations").and_then(Value::as_array).map_or(0, Vec::len);
        let is_default = as_bool(get(item, "IsDefault")).unwrap_or(false);
        r.acl_meta.entry(id.clone()).or_default().push((*t, is_default, associations));
        for a in get(item, "Associations").and_then(Value::as_array).into_iter().flatten() {
            if let Some(aid) = as_str(get(a, "NetworkAclAssociationId")) {
                let subnet = as_str(get(a, "SubnetId"));
                r.snapshot_assoc.push((*t, aid.clone(), subnet.clone(), id.clone()));
                if *config {
                    r.config_assoc.insert((*t, aid.clone()));
                }
                r.assoc.insert(aid, (subnet, id.clone()));
            }
        }
    }
    for (acl, (vpc, _)) in &r.net.acl_vpc {
        r.acl_vpc.entry(acl.clone()).or_insert_with(|| vpc.clone());
    }
    for (vpc, c) in &r.net.created_vpcs {
        let key = r.net.default_of(vpc);
        r.acl_vpc.insert(key.clone(), vpc.clone());
        r.hist.entry(key).or_default().steps.push((c.ord, c.time, Step::Created(network::default_rules(c.ipv6))));
    }
    for (ord, e) in ev.events.iter().enumerate() {
        if e.error_code.is_some() {
            continue;
        }
        let acl = as_str(get(&e.request, "networkAclId"))
            .or_else(|| get(&e.response, "networkAcl").and_then(|a| as_str(get(a, "networkAclId"))));
        let Some(acl) = acl else { continue };
        let step = match e.name.as_str() {
            "CreateNetworkAclEntry" | "ReplaceNetworkAclEntry" => {
                entry_of(&e.request).map(|entry| Step::Put { entry, replace: e.name == "ReplaceNetworkAclEntry" })
            }
            "DeleteNetworkAclEntry" => as_i64(get(&e.request, "ruleNumber"))
                .map(|n| Step::Removed { egress: as_bool(get(&e.request, "egress")).unwrap_or(false), rule_number: n }),
            "CreateNetworkAcl" => {
                if let Some(v) = as_str(get(&e.request, "vpcId")) {
                    r.acl_vpc.insert(acl.clone(), v);
                }
                let entries = get(&e.response, "networkAcl").map(entries_of).unwrap_or_default();
                let entries = if entries.is_empty() {
                    vec![Entry::default_deny(false), Entry::default_deny(true)]
                } else {
                    entries
                };
                Some(Step::Created(entries))
            }
            _ => None,
        };
        if let Some(s) = step {
            r.hist.entry(acl).or_default().steps.push((ord, e.time, s));
        }
    }
    // An IPv6 block associated later: AWS adds the IPv6 allow rule to each direction of the
    // default ACL that still has its original rules.
    for (ord, e) in ev.events.iter().enumerate() {
        if e.name != "AssociateVpcCidrBlock" || !network::adds_ipv6(e) {
            continue;
        }
        let Some(vpc) = network::vpc_of_call(e).filter(|v| r.net.created_vpcs.get(v).is_some_and(|c| !c.ipv6)) else {
            continue;
        };
        let key = r.net.default_of(&vpc);
        let Some(h) = r.hist.get_mut(&key) else { continue };
        for egress in [false, true] {
            let touched = h.steps.iter().any(|(o, _, s)| {
                *o < ord
                    && match s {
                        Step::Put { entry, .. } => entry.egress == egress,
                        Step::Removed { egress: g, .. } => *g == egress,
                        Step::Created(_) => false,
                    }
            });
            if !touched {
                h.steps.push((ord, e.time, Step::Put { entry: network::ipv6_default_rule(egress), replace: false }));
            }
        }
    }
    for h in r.hist.values_mut() {
        h.steps.sort_by_key(|(o, _, _)| *o);
    }
    r
}

/// Rules of which nothing is known: every packet undecided.
fn unknown_rules() -> Vec<Entry> {
    vec![Entry::unknown(false, 0), Entry::unknown(true, 0)]
}

/// Replay every ACL and assess every change by what it opened and closed. `assoc` is the
/// `acl_associations` table: a change to an ACL that governs no subnet has no effect yet.
pub fn changes(
    ev: &Evidence,
    replay: &Replay,
    trusted: &[IpNet],
    assoc: &[topology::Association],
    ifaces: &[topology::Interface],
) -> Vec<Change> {
    let Replay { hist, acl_vpc, assoc: snapshot_assoc, .. } = replay;
    let mut out = Vec::new();
    for (ord, e) in ev.events.iter().enumerate() {
        if !e.is_nacl() {
            continue;
        }
        let req = &e.request;
        let failed = e.error_code.is_some();
        let mut c = Change { event: e.clone(), ..Default::default() };
        c.network_acl_id = as_str(get(req, "networkAclId"))
            .or_else(|| get(&e.response, "networkAcl").and_then(|a| as_str(get(a, "networkAclId"))));
        let h = c.network_acl_id.as_ref().and_then(|a| hist.get(a));
        c.vpc_id =
            c.network_acl_id.as_ref().and_then(|a| acl_vpc.get(a).cloned()).or_else(|| as_str(get(req, "vpcId")));
        let mut reasons: Vec<&'static str> = Vec::new();
        match e.name.as_str() {
            "CreateNetworkAclEntry" | "ReplaceNetworkAclEntry" | "DeleteNetworkAclEntry" => {
                c.entry = entry_of(req);
                if let Some(icmp) = get(req, "icmpTypeCode") {
                    c.icmp_type = as_i64(get(icmp, "type"));
                    c.icmp_code = as_i64(get(icmp, "code"));
                }
                c.rules_before = h.and_then(|h| h.state_before(ord));
                c.rules_after = if failed { c.rules_before.clone() } else { h.and_then(|h| h.state_before(ord + 1)) };
                let egress = as_bool(get(req, "egress")).unwrap_or(false);
                let number = as_i64(get(req, "ruleNumber"));
                let previous = c
                    .rules_before
                    .as_ref()
                    .and_then(|r| r.iter().find(|x| x.egress == egress && Some(x.rule_number) == number).cloned());
                c.diff = diff_of(failed, c.rules_before.as_deref(), c.rules_after.as_deref());
                let inactive =
                    c.network_acl_id.as_deref().is_some_and(|acl| governs_nothing(acl, e.time, ord, replay, assoc));
                match &c.diff {
                    // A refused call changed nothing; its reasons say what it tried to open.
                    _ if failed => {
                        if let (Some(before), Some(entry)) = (&c.rules_before, &c.entry) {
                            let mut tried: Vec<Entry> = before
                                .iter()
                                .filter(|x| !(x.egress == entry.egress && x.rule_number == entry.rule_number))
                                .cloned()
                                .collect();
                            tried.push(entry.clone());
                            let attempt = crate::nacl::policy::diff(before, &tried);
                            if !inactive {
                                opened_reasons(&attempt.opened, trusted, &mut reasons);
                            }
                        }
                    }
                    _ if inactive => reasons.push("inactive_acl"),
                    Some(d) if !d.opened.is_empty() => {
                        opened_reasons(&d.opened, trusted, &mut reasons);
                        match (e.name.as_str(), &previous) {
                            ("DeleteNetworkAclEntry", Some(p)) if p.is_deny() => reasons.push("deny_removed"),
                            ("DeleteNetworkAclEntry", Some(p)) if p.unknown => reasons.push("deleted_entry_unknown"),
                            ("ReplaceNetworkAclEntry", Some(p))
                                if p.is_deny() && c.entry.as_ref().is_some_and(Entry::is_allow) =>
                            {
                                reasons.push("deny_removed")
                            }
                            _ => {}
                        }
                    }
                    Some(d) => {
                        let shadowed = e.name != "DeleteNetworkAclEntry"
                            && c.entry.as_ref().is_some_and(|en| {
                                en.is_allow()
                                    && c.rules_after.as_ref().is_some_and(|r| !crate::nacl::policy::decides_any(r, en))
                            });
                        let unknown_deleted =
                            e.name == "DeleteNetworkAclEntry" && previous.as_ref().is_none_or(|p| p.unknown);
                        reasons.push(if unknown_deleted {
                            // What the rule was, and so what its removal did, is not in the evidence.
                            "deleted_entry_unknown"
                        } else if shadowed {
                            "shadowed"
                        } else if !d.closed.is_empty() {
                            "narrowing"
                        } else {
                            "no_effect"
                        });
                    }
                    None => {}
                }
                if e.name == "DeleteNetworkAclEntry" {
                    c.entry = previous.filter(|p| !p.unknown).or(c.entry.take());
                }
            }
            "ReplaceNetworkAclAssociation" => {
                c.association_id = as_str(get(req, "associationId"));
                let new_assoc = as_str(get(&e.response, "newAssociationId"));
                let mv = replay.net.move_at(ord);
                let known = |id: &Option<String>| id.as_ref().and_then(|i| snapshot_assoc.get(i));
                let (subnet, old_acl) = match (known(&c.association_id), known(&new_assoc)) {
                    (Some((s, acl)), _) => (s.clone(), Some(acl.clone())),
                    (None, Some((s, _))) => (s.clone(), None),
                    _ => (None, None),
                };
                // The subnet and the ACL it left: from the association chain (snapshots, earlier
                // moves, a VPC's default association), else from `acl_associations` (inferred
                // from the subnet's own flows when nothing shows it).
                c.subnet_id = subnet.or_else(|| mv.and_then(|m| m.subnet.clone()));
                let old_acl = old_acl.or_else(|| mv.and_then(|m| m.from_acl.clone())).or_else(|| {
                    let subnet = c.subnet_id.as_ref()?;
                    assoc
                        .iter()
                        .find(|a| a.subnet_id.as_ref() == Some(subnet) && a.valid_to == Some(e.time))?
                        .network_acl_id
                        .clone()
                });
                let old_acl = old_acl.filter(|a| Some(a) != c.network_acl_id.as_ref());
                c.rules_before = old_acl.as_ref().and_then(|a| hist.get(a)).and_then(|h| h.state_before(ord));
                c.rules_after = h.and_then(|h| h.state_before(ord + 1));
                // The subnet's traffic is judged by the new ACL instead of the one it replaced.
                c.diff = diff_of(failed, c.rules_before.as_deref(), c.rules_after.as_deref());
                match &c.diff {
                    _ if failed => {}
                    Some(d) if !d.opened.is_empty() => {
                        opened_reasons(&d.opened, trusted, &mut reasons);
                        if d.opened.iter().any(|r| !r.egress && r.share_outside(trusted) > 0.0) {
                            reasons.push("more_permissive_acl");
                        }
                    }
                    Some(d) => reasons.push(if d.closed.is_empty() { "no_effect" } else { "narrowing" }),
                    None => {}
                }
            }
            "CreateNetworkAcl" | "DeleteNetworkAcl" => {
                c.rules_before = h.and_then(|h| h.state_before(ord));
                c.rules_after = h.and_then(|h| h.state_before(ord + 1));
                // A new ACL governs no subnet, and AWS deletes only an ACL that governs none.
                c.diff = Some(Diff::default());
                if !failed {
                    reasons.push("no_effect");
                }
            }
            _ => {}
        }
        if failed {
            reasons.push("failed_call");
        }
        c.reasons = ordered(&reasons);
        (c.topology_basis, c.topology_reason) = topology_of(&c, ord, replay, assoc, ifaces);
        out.push(c);
    }
    out
}

/// What a change's scope (the subnets its ACL governed, the interfaces in them) and the rules it
/// is judged against stand on: the weakest basis among them, with a line of reason.
fn topology_of(
    c: &Change,
    ord: usize,
    replay: &Replay,
    assoc: &[topology::Association],
    ifaces: &[topology::Interface],
) -> (network::Basis, String) {
    use network::Basis;
    let e = &c.event;
    let Some(acl) = c.network_acl_id.as_deref() else {
        return (Basis::Unknown, "the call names no ACL".into());
    };
    // Interfaces with a known address in a subnet, and the weakest source among them.
    let interfaces_in = |subnet: &str| -> (usize, Basis, Vec<String>) {
        let rows: Vec<&topology::Interface> =
            ifaces.iter().filter(|i| i.subnet_id.as_deref() == Some(subnet) && i.address.is_some()).collect();
        let mut ids: Vec<&str> = rows.iter().map(|i| i.interface_id.as_str()).collect();
        ids.sort();
        ids.dedup();
        // Each interface stands on its strongest source; the subnet on its weakest interface.
        let basis = ids
            .iter()
            .map(|id| {
                rows.iter()
                    .filter(|i| i.interface_id == *id)
                    .filter_map(|i| Basis::parse(&i.basis))
                    .min()
                    .unwrap_or(Basis::Unknown)
            })
            .max()
            .unwrap_or(Basis::Unknown);
        let mut kinds: Vec<String> = rows.iter().map(|i| i.basis.clone()).collect();
        kinds.sort();
        kinds.dedup();
        (ids.len(), basis, kinds)
    };
    let rules_basis = |key: &str| -> Option<(Basis, String)> {
        if let Some((vpc, (_, b, why))) = replay.net.default_acl.iter().find(|(_, d)| d.0 == key) {
            return replay.net.created_vpcs.contains_key(vpc).then(|| (*b, why.clone()));
        }
        if network::is_stand_in(key) {
            return Some((Basis::Cloudtrail, format!("the {key} has AWS's documented rules and no call changed it")));
        }
        None
    };
    if e.name == "ReplaceNetworkAclAssociation" {
        let mv = replay.net.move_at(ord);
        let Some(subnet) = c.subnet_id.as_deref() else {
            let why = mv.map(|m| m.reason.clone()).unwrap_or_default();
            return (Basis::Unknown, format!("the subnet moved is not known: {why}"));
        };
        let (mut basis, mut why) = match mv {
            Some(m) if m.subnet.as_deref() == Some(subnet) => (m.basis, m.reason.clone()),
            _ => {
                // Placed by `acl_associations` (a snapshot or the subnet's flows).
                let row = assoc.iter().find(|a| a.subnet_id.as_deref() == Some(subnet) && a.valid_to == Some(e.time));
                match row {
                    Some(a) => (Basis::parse(&a.basis).unwrap_or(Basis::Unknown), a.learned_from.clone()),
                    None => (Basis::Inventory, format!("the inventory shows the association of {subnet}")),
                }
            }
        };
        if c.rules_before.is_none() {
            basis = Basis::Unknown;
            why.push_str("; the ACL it left is not known");
        } else if let Some((b, w)) = mv.and_then(|m| m.from_acl.as_deref()).and_then(rules_basis) {
            basis = basis.max(b);
            why.push_str(&format!("; {w}"));
        } else if mv.is_some_and(|m| m.from_acl.is_none()) {
            // The ACL it left comes from `acl_associations`: inferred from the subnet's flows.
            if let Some(a) = assoc.iter().find(|a| a.subnet_id.as_deref() == Some(subnet) && a.valid_to == Some(e.time))
            {
                basis = basis.max(Basis::parse(&a.basis).unwrap_or(Basis::Unknown));
                why.push_str(&format!("; {}", a.learned_from));
            }
        }
        let (n, b, kinds) = interfaces_in(subnet);
        if n == 0 {
            return (Basis::Unknown, format!("{why}; no interface with a known address is in {subnet}"));
        }
        return (basis.max(b), format!("{why}; {n} interface(s) in {subnet} ({})", kinds.join(", ")));
    }
    let at = |a: &topology::Association| {
        a.network_acl_id.as_deref() == Some(acl)
            && a.valid_from.is_none_or(|f| f <= e.time)
            && a.valid_to.is_none_or(|t| t > e.time)
    };
    let governing: Vec<&topology::Association> = assoc.iter().filter(|a| at(a) && a.subnet_id.is_some()).collect();
    if c.reasons.contains(&"inactive_acl") || (governing.is_empty() && e.name == "CreateNetworkAcl") {
        let created = replay.net.created_acls.contains(acl);
        return if created {
            (
                Basis::Cloudtrail,
                format!("{acl} was created in the evidence and no subnet had been moved to it: it governed none"),
            )
        } else {
            let basis = replay.net.acl_vpc.get(acl).map_or(Basis::Inventory, |v| v.1);
            (basis, format!("a snapshot shows {acl} not default and with no subnet"))
        };
    }
    if governing.is_empty() {
        return (Basis::Unknown, format!("no subnet is known to be on {acl} at that time"));
    }
    let mut basis =
        governing.iter().map(|a| Basis::parse(&a.basis).unwrap_or(Basis::Unknown)).max().unwrap_or(Basis::Unknown);
    let mut subnets: Vec<&str> = governing.iter().filter_map(|a| a.subnet_id.as_deref()).collect();
    subnets.sort();
    subnets.dedup();
    // Certain sources by name; an inference with what it was drawn from.
    let mut sources: Vec<&str> = governing
        .iter()
        .map(|a| {
            if Basis::parse(&a.basis).is_some_and(Basis::certain) { a.basis.as_str() } else { a.learned_from.as_str() }
        })
        .collect();
    sources.sort();
    sources.dedup();
    let mut why = format!("{acl} governed {} ({})", subnets.join(", "), sources.join(", "));
    if let Some((b, w)) = rules_basis(acl) {
        basis = basis.max(b);
        why.push_str(&format!("; {w}"));
    }
    let mut total = 0;
    let mut kinds: Vec<String> = Vec::new();
    for s in &subnets {
        let (n, b, k) = interfaces_in(s);
        if n > 0 {
            basis = basis.max(b);
        }
        total += n;
        kinds.extend(k);
    }
    kinds.sort();
    kinds.dedup();
    if total == 0 {
        return (
            Basis::Unknown,
            format!(
                "{why}; no interface with a known address is in {}",
                if subnets.len() == 1 { "it" } else { "them" }
            ),
        );
    }
    (basis, format!("{why}; {total} interface(s) ({})", kinds.join(", ")))
}

/// The difference a change made, from the rules before it (unknown: every packet undecided) to
/// the rules after it; nothing for a failed call.
fn diff_of(failed: bool, before: Option<&[Entry]>, after: Option<&[Entry]>) -> Option<Diff> {
    if failed {
        return Some(Diff::default());
    }
    let after = after?;
    Some(match before {
        Some(b) => crate::nacl::policy::diff(b, after),
        // Nothing known before: what the rules after allow may be new; what they deny says
        // nothing of what was closed.
        None => Diff { opened: crate::nacl::policy::diff(&unknown_rules(), after).opened, closed: Vec::new() },
    })
}

impl Change {
    /// This change as a row of `nacl_changes`.
    pub fn row(&self) -> crate::schema::NaclChangeRow<'_> {
        let e = &self.event;
        let en = self.entry.as_ref();
        let known = en.filter(|x| !x.unknown);
        let rules = |r: &Option<Vec<Entry>>| r.as_ref().and_then(|r| serde_json::to_string(r).ok());
        crate::schema::NaclChangeRow {
            event_id: &e.event_id,
            event_time: e.time,
            event_name: &e.name,
            account_id: e.account_id.as_deref(),
            aws_region: e.region.as_deref(),
            network_acl_id: self.network_acl_id.as_deref(),
            rule_number: en.map(|x| x.rule_number).or_else(|| as_i64(get(&e.request, "ruleNumber"))),
            egress: en.map(|x| x.egress).or_else(|| as_bool(get(&e.request, "egress"))),
            rule_action: known.map(|x| x.action.as_str()),
            protocol: known.map(|x| x.protocol),
            cidr_block: en.and_then(|x| x.cidr.as_deref()),
            ipv6_cidr_block: en.and_then(|x| x.ipv6_cidr.as_deref()),
            port_from: en.and_then(|x| x.port_from),
            port_to: en.and_then(|x| x.port_to),
            icmp_type: self.icmp_type,
            icmp_code: self.icmp_code,
            vpc_id: self.vpc_id.as_deref(),
            association_id: self.association_id.as_deref(),
            subnet_id: self.subnet_id.as_deref(),
            actor_arn: e.actor_arn.as_deref(),
            access_key_id: e.access_key_id.as_deref(),
            source_ip: e.source_ip.as_deref(),
            user_agent: e.user_agent.as_deref(),
            error_code: e.error_code.as_deref(),
            succeeded: e.error_code.is_none(),
            risk_score: self.score(),
            risk_reasons: self.reasons.join(","),
            rules_before: rules(&self.rules_before),
            rules_after: rules(&self.rules_after),
            opened: self.diff.as_ref().and_then(|d| serde_json::to_string(&d.opened).ok()),
            closed: self.diff.as_ref().and_then(|d| serde_json::to_string(&d.closed).ok()),
            opened_text: self.diff.as_ref().and_then(|d| Diff::line(&d.opened, "opened")),
            closed_text: self.diff.as_ref().and_then(|d| Diff::line(&d.closed, "closed")),
            topology_basis: self.topology_basis.as_str(),
            topology_reason: (!self.topology_reason.is_empty()).then(|| self.topology_reason.clone()),
        }
    }
}

/// The rows of `nacl_changes`.
pub fn batch(changes: &[Change]) -> Result<RecordBatch> {
    let rows: Vec<_> = changes.iter().map(Change::row).collect();
    crate::schema::batch_of(crate::schema::NACL_CHANGES, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(n: i64, proto: i64, cidr: &str, ports: Option<(i64, i64)>) -> Entry {
        Entry::rule(n, false, "allow", proto, cidr, ports)
    }

    fn reasons_of(before: Vec<Entry>, after: Vec<Entry>) -> Vec<&'static str> {
        let d = crate::nacl::policy::diff(
            &crate::nacl::with_default_rules(before),
            &crate::nacl::with_default_rules(after),
        );
        let mut out = Vec::new();
        opened_reasons(&d.opened, &RFC1918.iter().map(|c| c.parse().unwrap()).collect::<Vec<IpNet>>(), &mut out);
        ordered(&out)
    }

    #[test]
    fn the_return_traffic_rule_is_named_and_a_lower_range_stays_risky() {
        let https = allow(100, 6, "0.0.0.0/0", Some((443, 443)));
        // Ephemeral ports only: the standard return-traffic rule, scored low.
        let eph =
            reasons_of(vec![https.clone()], vec![https.clone(), allow(120, 6, "0.0.0.0/0", Some((49152, 65535)))]);
        assert_eq!(eph, vec!["ephemeral_return"]);
        let linux =
            reasons_of(vec![https.clone()], vec![https.clone(), allow(120, 17, "0.0.0.0/0", Some((32768, 60999)))]);
        assert_eq!(linux, vec!["ephemeral_return"]);
        // 1024-65535 reaches RDP, databases and 8080: it stays world-open and wide.
        let wide =
            reasons_of(vec![https.clone()], vec![https.clone(), allow(120, 6, "0.0.0.0/0", Some((1024, 65535)))]);
        assert_eq!(wide, vec!["world_open_cidr", "wide_port_range"]);
        // One outside block on SSH; a whole protocol from the world.
        assert_eq!(
            reasons_of(vec![https.clone()], vec![https.clone(), allow(90, 6, "203.0.113.0/24", Some((22, 22)))]),
            vec!["untrusted_source"]
        );
        assert_eq!(
            reasons_of(vec![https.clone()], vec![https.clone(), allow(90, 47, "0.0.0.0/0", None)]),
            vec!["world_open_cidr", "unusual_protocol"]
        );
        // Widening tcp 443 to 0-65535 next to an open 1024-65535: 1023 ports opened, one run of 65536 open.
        let widened = reasons_of(
            vec![https.clone(), allow(130, 6, "0.0.0.0/0", Some((1024, 65535)))],
            vec![allow(100, 6, "0.0.0.0/0", Some((0, 65535))), allow(130, 6, "0.0.0.0/0", Some((1024, 65535)))],
        );
        assert_eq!(widened, vec!["world_open_cidr", "wide_port_range"]);
        // Trusted sources only: nothing risky, and named for it.
        assert_eq!(
            reasons_of(vec![https.clone()], vec![https.clone(), allow(90, 6, "10.0.0.0/8", Some((5432, 5432)))]),
            vec!["trusted_only"]
        );
        // Breadth inside the trusted ranges is how internal networks run: all protocols, all ports.
        assert_eq!(
            reasons_of(vec![https.clone()], vec![https.clone(), allow(90, -1, "10.0.0.0/8", None)]),
            vec!["trusted_only"]
        );
        assert_eq!(
            reasons_of(vec![https.clone()], vec![https.clone(), allow(90, 6, "172.16.0.0/12", Some((0, 65535)))]),
            vec!["trusted_only"]
        );
        // Reaching past them it is risky again: all protocols from one outside block.
        assert_eq!(
            reasons_of(vec![https.clone()], vec![https, allow(90, -1, "198.51.100.0/24", None)]),
            vec!["all_protocols", "untrusted_source"]
        );
    }

    #[test]
    fn the_sql_writes_exactly_the_verdict_names() {
        // Every name the correlation can write is a Verdict, and every Verdict is written.
        for sql in [CORRELATE_SQL, CORRELATE_SG_SQL] {
            let written: std::collections::BTreeSet<&str> = sql
                .split('\'')
                .skip(1)
                .step_by(2)
                .filter(|s| s.ends_with("_change") || s.ends_with("_traffic"))
                .collect();
            let names: std::collections::BTreeSet<&str> = Verdict::ALL.iter().map(|v| v.as_str()).collect();
            assert_eq!(written, names);
        }
        assert!(Verdict::ALL.iter().all(|v| Verdict::parse(v.as_str()) == Some(*v)));
    }
}
