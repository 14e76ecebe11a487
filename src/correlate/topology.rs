//! Topology over time: which interfaces sit in which subnet (`network_interfaces`) and which ACL
//! governs which subnet when (`acl_associations`). Each row says where it was learned and the
//! interval it held (NULL `valid_from` / `valid_to`: since or until the edge of the evidence).
//!
//! Sources: inventory snapshots (`describe-network-interfaces`, `describe-network-acls`);
//! CloudTrail (`RunInstances` and `CreateNetworkInterface` responses give interface, subnet, VPC
//! and address; `ReplaceNetworkAclAssociation` moves a subnet to another ACL); and flow logs that
//! carry `vpc_id` / `subnet_id` / `instance_id`.
//!
//! A subnet moved by `ReplaceNetworkAclAssociation` was governed, before the move, by an ACL the
//! event does not name. trailflow then asks the subnet's own flows before the move: among the ACLs
//! of the VPC whose rules at that moment allow every accepted flow, the one that also denies the
//! most rejected flows is taken, recorded as `inferred from N accepted flows`; when no ACL stands
//! out, the association stays unknown rather than guessed, and the row says why.

use std::collections::{BTreeMap, HashMap};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;
use serde_json::Value;

use crate::nacl::allows;
use super::{Evidence, Replay, as_str, get};
use crate::error::Result;

/// Flows looked at to infer a subnet's earlier ACL.
const INFER_FLOWS: usize = 20_000;

/// An interface in a subnet over an interval: a row of `network_interfaces`.
pub type Interface = crate::schema::NetworkInterfaceRow;

/// A subnet governed by an ACL over an interval: a row of `acl_associations`.
pub type Association = crate::schema::AclAssociationRow;

/// Column `i` as plain text.
pub(super) fn text(b: &RecordBatch, i: usize) -> Result<ArrayRef> {
    Ok(datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8)?)
}

/// A non-empty text value.
pub(super) fn val(a: &ArrayRef, r: usize) -> Option<String> {
    let a = a.as_string::<i32>();
    a.is_valid(r).then(|| a.value(r).to_string()).filter(|s| !s.is_empty())
}

/// Interfaces from inventory, CloudTrail and flow logs.
pub async fn interfaces(ctx: &SessionContext, ev: &Evidence) -> Result<Vec<Interface>> {
    let mut out: Vec<Interface> = Vec::new();
    if ctx.table_exist("inventory")? {
        let sql = "SELECT snapshot_time, resource_id, item, account_id, region FROM inventory WHERE kind = 'network_interfaces'";
        for b in crate::query::query(ctx, sql).await? {
            let (id, item, acct, region) = (text(&b, 1)?, text(&b, 2)?, text(&b, 3)?, text(&b, 4)?);
            for r in 0..b.num_rows() {
                let v: Value = val(&item, r).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
                out.push(Interface {
                    interface_id: val(&id, r).unwrap_or_default(),
                    subnet_id: as_str(get(&v, "SubnetId")),
                    vpc_id: as_str(get(&v, "VpcId")),
                    private_ip: as_str(get(&v, "PrivateIpAddress")),
                    instance_id: get(&v, "Attachment").and_then(|a| as_str(get(a, "InstanceId"))),
                    account_id: val(&acct, r),
                    region: val(&region, r),
                    learned_from: "inventory".into(),
                    valid_from: None,
                    valid_to: None,
                });
            }
        }
    }
    for e in &ev.topology_events {
        let mut add = |n: &Value, instance: Option<String>| {
            if let Some(id) = as_str(get(n, "networkInterfaceId")) {
                out.push(Interface {
                    interface_id: id,
                    subnet_id: as_str(get(n, "subnetId")),
                    vpc_id: as_str(get(n, "vpcId")),
                    private_ip: as_str(get(n, "privateIpAddress")),
                    instance_id: instance,
                    account_id: e.account_id.clone(),
                    region: e.region.clone(),
                    learned_from: format!("cloudtrail {} {}", e.name, e.event_id),
                    valid_from: Some(e.time),
                    valid_to: None,
                });
            }
        };
        match e.name.as_str() {
            "RunInstances" => {
                let items = get(&e.response, "instancesSet").and_then(|s| get(s, "items")).and_then(Value::as_array);
                for inst in items.into_iter().flatten() {
                    let iid = as_str(get(inst, "instanceId"));
                    let nics = get(inst, "networkInterfaceSet").and_then(|s| get(s, "items")).and_then(Value::as_array);
                    for n in nics.into_iter().flatten() {
                        add(n, iid.clone());
                    }
                }
            }
            "CreateNetworkInterface" => {
                if let Some(n) = get(&e.response, "networkInterface") {
                    add(n, None);
                }
            }
            _ => {}
        }
    }
    if ctx.table_exist("flow_logs")? {
        let sql = "SELECT interface_id, max(subnet_id), max(vpc_id), max(instance_id), max(account_id), max(region), \
                   min(start_time), max(end_time) FROM flow_logs WHERE interface_id IS NOT NULL GROUP BY interface_id";
        for b in crate::query::query(ctx, sql).await? {
            let cols: Vec<ArrayRef> = (0..6).map(|i| text(&b, i)).collect::<Result<_>>()?;
            let (from, to) = (b.column(6).as_primitive::<TimestampMicrosecondType>(), b.column(7).as_primitive::<TimestampMicrosecondType>());
            for r in 0..b.num_rows() {
                out.push(Interface {
                    interface_id: val(&cols[0], r).unwrap_or_default(),
                    subnet_id: val(&cols[1], r),
                    vpc_id: val(&cols[2], r),
                    private_ip: None,
                    instance_id: val(&cols[3], r),
                    account_id: val(&cols[4], r),
                    region: val(&cols[5], r),
                    learned_from: "flow_logs".into(),
                    valid_from: from.is_valid(r).then(|| from.value(r)),
                    valid_to: to.is_valid(r).then(|| to.value(r)),
                });
            }
        }
    }
    Ok(out)
}

/// What each subnet's ACL was, interval by interval.
pub async fn associations(
    ctx: &SessionContext,
    ev: &Evidence,
    replay: &Replay,
    ifaces: &[Interface],
) -> Result<Vec<Association>> {
    // Moves of each subnet: (time, event ordinal, new ACL, old association, new association).
    let mut moves: BTreeMap<String, Vec<(i64, usize, String, Option<String>, Option<String>)>> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for (ord, e) in ev.events.iter().enumerate() {
        if e.name != "ReplaceNetworkAclAssociation" || e.error_code.is_some() {
            continue;
        }
        let (Some(acl), old) = (as_str(get(&e.request, "networkAclId")), as_str(get(&e.request, "associationId"))) else {
            continue;
        };
        let new = as_str(get(&e.response, "newAssociationId"));
        let subnet = [&old, &new]
            .iter()
            .find_map(|id| id.as_ref().and_then(|i| replay.assoc.get(i)).and_then(|(s, _)| s.clone()));
        match subnet {
            Some(s) => moves.entry(s).or_default().push((e.time, ord, acl, old, new)),
            None => unplaced.push((e.time, acl, new)),
        }
    }
    let mut out = Vec::new();
    // The ACL of each subnet as snapshots show it over time, oldest first, one entry per ACL
    // the subnet went to (AWS Config's history records a move at its capture time).
    let mut snapshot_of: BTreeMap<String, Vec<(i64, String, String)>> = BTreeMap::new();
    for (t, aid, subnet, acl) in &replay.snapshot_assoc {
        if let Some(s) = subnet {
            snapshot_of.entry(s.clone()).or_default().push((*t, acl.clone(), aid.clone()));
        }
    }
    for seen in snapshot_of.values_mut() {
        seen.sort();
        seen.dedup_by(|later, earlier| later.1 == earlier.1);
    }
    let mut subnets: Vec<String> = snapshot_of.keys().cloned().collect();
    subnets.extend(moves.keys().cloned());
    subnets.sort();
    subnets.dedup();
    for s in subnets {
        let seen = snapshot_of.get(&s).cloned().unwrap_or_default();
        let vpc = seen.last().and_then(|(_, acl, _)| replay.acl_vpc.get(acl).cloned());
        let list = moves.get(&s).cloned().unwrap_or_default();
        if list.is_empty() {
            for (i, (t, acl, aid)) in seen.iter().enumerate() {
                out.push(Association {
                    subnet_id: Some(s.clone()),
                    network_acl_id: Some(acl.clone()),
                    association_id: Some(aid.clone()),
                    vpc_id: vpc.clone(),
                    learned_from: "inventory".into(),
                    valid_from: (i > 0).then_some(*t),
                    valid_to: seen.get(i + 1).map(|n| n.0),
                });
            }
            continue;
        }
        for (i, (t, _, acl, _, new)) in list.iter().enumerate() {
            out.push(Association {
                subnet_id: Some(s.clone()),
                network_acl_id: Some(acl.clone()),
                association_id: new.clone(),
                vpc_id: vpc.clone().or_else(|| replay.acl_vpc.get(acl).cloned()),
                learned_from: "cloudtrail ReplaceNetworkAclAssociation".into(),
                valid_from: Some(*t),
                valid_to: list.get(i + 1).map(|m| m.0),
            });
        }
        // Before the first move: the ACL the subnet's own flows fit.
        let (t0, ord0, moved_to, old_assoc, _) = list[0].clone();
        let vpc = vpc.or_else(|| replay.acl_vpc.get(&moved_to).cloned());
        let inferred = infer_acl(ctx, replay, ifaces, &s, vpc.as_deref(), &moved_to, t0, ord0).await?;
        let (acl, how) = match inferred {
            Inferred::Acl(acl, how) => (Some(acl), how),
            Inferred::Unknown(why) => {
                (None, format!("unknown: moved by ReplaceNetworkAclAssociation, earlier ACL not in the evidence ({why})"))
            }
        };
        out.push(Association {
            subnet_id: Some(s.clone()),
            network_acl_id: acl,
            association_id: old_assoc,
            vpc_id: vpc,
            learned_from: how,
            valid_from: None,
            valid_to: Some(t0),
        });
    }
    // A move whose association ids no snapshot shows: the ACL is known, the subnet is not.
    for (t, acl, new) in unplaced {
        out.push(Association {
            subnet_id: None,
            vpc_id: replay.acl_vpc.get(&acl).cloned(),
            network_acl_id: Some(acl),
            association_id: new,
            learned_from: "cloudtrail ReplaceNetworkAclAssociation; subnet unknown (no snapshot shows the association)".into(),
            valid_from: Some(t),
            valid_to: None,
        });
    }
    Ok(out)
}

enum Inferred {
    Acl(String, String),
    Unknown(String),
}

/// The ACL of the VPC whose rules just before `ord` allow the subnet's accepted flows before `t`.
#[allow(clippy::too_many_arguments)]
async fn infer_acl(
    ctx: &SessionContext,
    replay: &Replay,
    ifaces: &[Interface],
    subnet: &str,
    vpc: Option<&str>,
    moved_to: &str,
    t: i64,
    ord: usize,
) -> Result<Inferred> {
    let enis: HashMap<&str, &str> = ifaces
        .iter()
        .filter(|i| i.subnet_id.as_deref() == Some(subnet))
        .filter_map(|i| Some((i.interface_id.as_str(), i.private_ip.as_deref()?)))
        .collect();
    if enis.is_empty() || !ctx.table_exist("flow_logs")? {
        return Ok(Inferred::Unknown("no interface with a known address in the subnet".into()));
    }
    let list = enis.keys().map(|e| format!("'{}'", e.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
    let sql = format!(
        "SELECT interface_id, srcaddr, dstaddr, dstport, protocol, action FROM flow_logs \
         WHERE interface_id IN ({list}) AND action IN ('ACCEPT', 'REJECT') AND start_time < to_timestamp_micros({t}) \
         ORDER BY start_time DESC LIMIT {INFER_FLOWS}"
    );
    let mut flows = Vec::new();
    for b in crate::query::query(ctx, &sql).await? {
        let cols: Vec<ArrayRef> = (0..3).map(|i| text(&b, i)).collect::<Result<_>>()?;
        let action = text(&b, 5)?;
        let port = crate::functions::ints(b.column(3))?;
        let proto = crate::functions::ints(b.column(4))?;
        let (port, proto) = (port.as_primitive::<datafusion::arrow::datatypes::Int64Type>(), proto.as_primitive::<datafusion::arrow::datatypes::Int64Type>());
        for r in 0..b.num_rows() {
            let (Some(eni), Some(src), Some(dst)) = (val(&cols[0], r), val(&cols[1], r), val(&cols[2], r)) else { continue };
            let Some(ip) = enis.get(eni.as_str()) else { continue };
            let (egress, peer) = if dst == *ip { (false, src) } else if src == *ip { (true, dst) } else { continue };
            let Some(peer) = crate::functions::parse_ip(&peer) else { continue };
            if proto.is_null(r) {
                continue;
            }
            let accepted = val(&action, r).as_deref() == Some("ACCEPT");
            flows.push((egress, proto.value(r), peer, (!port.is_null(r)).then(|| port.value(r)), accepted));
        }
    }
    let accepted = flows.iter().filter(|f| f.4).count();
    if accepted == 0 {
        return Ok(Inferred::Unknown("no accepted flow before the move".into()));
    }
    // An ACL must allow every accepted flow; among those, the one that also denies the most
    // rejected flows explains the subnet best (a security group can reject too, so rejects only
    // break ties).
    let mut scores: Vec<((usize, usize), String)> = Vec::new();
    for (acl, h) in &replay.hist {
        if acl == moved_to || (vpc.is_some() && replay.acl_vpc.get(acl).map(String::as_str) != vpc) {
            continue;
        }
        let Some(rules) = h.state_before(ord) else { continue };
        let fit = flows
            .iter()
            .filter(|(e, p, peer, port, ok)| *ok && allows(&rules, *e, *p, *peer, *port) == Some(true))
            .count();
        let denied = flows
            .iter()
            .filter(|(e, p, peer, port, ok)| !*ok && allows(&rules, *e, *p, *peer, *port) == Some(false))
            .count();
        scores.push(((fit, denied), acl.clone()));
    }
    scores.sort_by(|a, b| b.cmp(a));
    // Last tie-break: the move left the earlier ACL without this subnet; an ACL that the newest
    // snapshot shows governing no subnet at all is the one the move emptied.
    let governs_none = |acl: &str| !replay.snapshot_assoc.iter().any(|(_, _, _, a)| a == acl);
    let best = scores.first().map(|(s, _)| *s);
    let tied: Vec<&String> = scores.iter().filter(|(s, _)| Some(*s) == best).map(|(_, a)| a).collect();
    let emptied: Vec<&&String> = tied.iter().filter(|a| governs_none(a)).collect();
    match scores.as_slice() {
        [((fit, denied), acl), rest @ ..]
            if *fit == accepted && rest.first().is_none_or(|((f, d), _)| f < fit || d < denied) =>
        {
            Ok(Inferred::Acl(acl.clone(), format!("inferred: the one ACL that fits the {accepted} accepted flows before the move")))
        }
        [((fit, _), _), ..] if *fit == accepted && tied.len() > 1 && emptied.len() == 1 => Ok(Inferred::Acl(
            (*emptied[0]).clone(),
            format!(
                "inferred: fits the {accepted} accepted flows before the move, as do {}; the only one the move left governing no subnet",
                tied.iter().filter(|a| **a != *emptied[0]).map(|a| a.as_str()).collect::<Vec<_>>().join(", ")
            ),
        )),
        _ => Ok(Inferred::Unknown(format!(
            "accepted flows allowed and rejected flows denied, of {accepted} and {}: {}",
            flows.len() - accepted,
            scores.iter().take(3).map(|((f, d), a)| format!("{a} {f}/{d}")).collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// The rows of `network_interfaces`.
pub fn interfaces_batch(rows: &[Interface]) -> Result<RecordBatch> {
    crate::schema::batch_of(crate::schema::NETWORK_INTERFACES, rows)
}

/// The rows of `acl_associations`.
pub fn associations_batch(rows: &[Association]) -> Result<RecordBatch> {
    crate::schema::batch_of(crate::schema::ACL_ASSOCIATIONS, rows)
}

/// One entry of one ACL over an interval: the rule set of every ACL replayed in time order.
#[derive(Debug, Clone)]
pub struct EntryRow {
    pub network_acl_id: String,
    pub entry: crate::nacl::Entry,
    pub learned_from: String,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// The rule set of an ACL from each point on: (from, entries, the event that made it; empty
/// for the state before the first step or a snapshot's). Before the first step, and after each
/// step; an ACL no CloudTrail call changed follows its snapshots instead (AWS Config's
/// configuration history records each change at its capture time).
fn points(h: &crate::nacl::History, ev: &Evidence) -> Vec<(Option<i64>, Vec<crate::nacl::Entry>, String)> {
    if h.steps.is_empty() {
        let states = h.snapshot_states();
        states.into_iter().enumerate().map(|(i, (t, es))| ((i > 0).then_some(t), es, String::new())).collect()
    } else {
        let mut points = vec![(None, h.state_before(0).unwrap_or_default(), String::new())];
        for (ord, t, _) in &h.steps {
            let why = format!("cloudtrail {} {}", ev.events[*ord].name, ev.events[*ord].event_id);
            points.push((Some(*t), h.state_before(ord + 1).unwrap_or_default(), why));
        }
        points
    }
}

/// One row of `nacl_rule_sets`: an ACL's whole rule set over the interval it held.
#[derive(Debug, Clone)]
pub struct RuleSetRow {
    pub network_acl_id: String,
    pub rules: Vec<crate::nacl::Entry>,
    pub learned_from: String,
    pub valid_from: Option<i64>,
    pub valid_to: Option<i64>,
}

/// Every ACL's rule set, interval by interval: the table flows join to (with `acl_decision`) to
/// learn which rule decided them.
pub fn rule_sets(replay: &Replay, ev: &Evidence) -> Vec<RuleSetRow> {
    let mut out: Vec<RuleSetRow> = Vec::new();
    let mut acls: Vec<&String> = replay.hist.keys().collect();
    acls.sort();
    for acl in acls {
        let mut rows: Vec<RuleSetRow> = Vec::new();
        for (from, rules, why) in points(&replay.hist[acl], ev) {
            if rows.last().is_some_and(|r| r.rules == rules) {
                continue; // a step that changed nothing (a no-op, a refused call)
            }
            if let Some(last) = rows.last_mut() {
                last.valid_to = from;
            }
            let learned_from = if why.is_empty() { "inventory".to_string() } else { why };
            rows.push(RuleSetRow { network_acl_id: acl.clone(), rules, learned_from, valid_from: from, valid_to: None });
        }
        out.extend(rows);
    }
    out
}

impl RuleSetRow {
    pub fn row(&self) -> crate::schema::NaclRuleSetRow<'_> {
        crate::schema::NaclRuleSetRow {
            network_acl_id: &self.network_acl_id,
            rules: serde_json::to_string(&self.rules).unwrap_or_default(),
            unknown_rules: self.rules.iter().filter(|e| e.unknown).count() as i64,
            learned_from: &self.learned_from,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        }
    }
}

/// The rows of `nacl_rule_sets`.
pub fn rule_sets_batch(rows: &[RuleSetRow]) -> Result<RecordBatch> {
    let rows: Vec<_> = rows.iter().map(RuleSetRow::row).collect();
    crate::schema::batch_of(crate::schema::NACL_RULE_SETS, &rows)
}

/// The entries of every ACL, interval by interval between the changes of that ACL.
pub fn entries(replay: &Replay, ev: &Evidence) -> Vec<EntryRow> {
    let mut out = Vec::new();
    let mut acls: Vec<&String> = replay.hist.keys().collect();
    acls.sort();
    for acl in acls {
        let h = &replay.hist[acl];
        let points = points(h, ev);
        let mut open: Vec<EntryRow> = Vec::new();
        for (from, state, why) in points {
            let from = &from;
            // Close entries that changed; open the new ones.
            let mut still = Vec::new();
            for row in open.drain(..) {
                if state.contains(&row.entry) {
                    still.push(row);
                } else {
                    let mut row = row;
                    row.valid_to = *from;
                    out.push(row);
                }
            }
            for e in state {
                if !still.iter().any(|r| r.entry == e) {
                    let learned = if e.unknown {
                        "unknown: a later change shows the rule existed, nothing recorded shows it".to_string()
                    } else if why.is_empty() || !h.steps.iter().any(|(_, _, s)| step_is(s, &e)) {
                        if e.rule_number == crate::nacl::DEFAULT_RULE { "default rule".into() } else { "inventory".into() }
                    } else {
                        why.clone()
                    };
                    still.push(EntryRow { network_acl_id: acl.clone(), entry: e, learned_from: learned, valid_from: *from, valid_to: None });
                }
            }
            open = still;
        }
        out.extend(open);
    }
    out
}

fn step_is(s: &crate::nacl::Step, e: &crate::nacl::Entry) -> bool {
    match s {
        crate::nacl::Step::Put { entry, .. } => entry == e,
        crate::nacl::Step::Created(es) => es.contains(e),
        crate::nacl::Step::Removed { .. } => false,
    }
}

impl EntryRow {
    /// This entry as a row of `nacl_entries` (an entry known only by its number shows no action
    /// and no protocol).
    pub fn row(&self) -> crate::schema::NaclEntryRow<'_> {
        let e = &self.entry;
        crate::schema::NaclEntryRow {
            network_acl_id: &self.network_acl_id,
            rule_number: Some(e.rule_number),
            egress: Some(e.egress),
            rule_action: (!e.unknown).then_some(e.action.as_str()),
            protocol: (!e.unknown).then_some(e.protocol),
            cidr_block: e.cidr.as_deref(),
            ipv6_cidr_block: e.ipv6_cidr.as_deref(),
            port_from: e.port_from,
            port_to: e.port_to,
            icmp_type: e.icmp_type,
            icmp_code: e.icmp_code,
            learned_from: &self.learned_from,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
        }
    }
}

/// The rows of `nacl_entries`.
pub fn entries_batch(rows: &[EntryRow]) -> Result<RecordBatch> {
    let rows: Vec<_> = rows.iter().map(EntryRow::row).collect();
    crate::schema::batch_of(crate::schema::NACL_ENTRIES, &rows)
}
