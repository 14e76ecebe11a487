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
use datafusion::arrow::datatypes::{DataType, Int64Type, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;
use serde_json::Value;

use super::network::Basis;
pub use super::network::list;
use super::{Evidence, Replay, as_str, get};
use crate::error::Result;
use crate::nacl::allows;

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

/// The successful calls that tell which interfaces and subnets exist and which addresses they
/// hold (read with the NACL events by `load`).
pub const TOPOLOGY_EVENTS: &[&str] = &[
    "RunInstances",
    "CreateNetworkInterface",
    "DeleteNetworkInterface",
    "AssignPrivateIpAddresses",
    "UnassignPrivateIpAddresses",
    "AssignIpv6Addresses",
    "UnassignIpv6Addresses",
    "CreateSubnet",
    "AssociateSubnetCidrBlock",
];

/// An address as the flow records write it (RFC 5952 for IPv6).
fn canonical(a: &str) -> Option<String> {
    a.trim().parse::<std::net::IpAddr>().ok().map(|ip| ip.to_string())
}

/// The addresses of an interface as `describe-network-interfaces`, an AWS Config item or a
/// CloudTrail response writes it: (address, type).
fn addresses_of(n: &Value) -> Vec<(String, &'static str)> {
    let mut out: Vec<(String, &'static str)> = Vec::new();
    let primary = as_str(get(n, "privateIpAddress")).and_then(|a| canonical(&a));
    out.extend(primary.clone().map(|a| (a, "private_ipv4")));
    for set in ["privateIpAddresses", "privateIpAddressesSet"] {
        for p in list(n, set) {
            if let Some(a) = as_str(get(p, "privateIpAddress")).and_then(|a| canonical(&a)) {
                let is_primary = crate::nacl::as_bool(get(p, "primary")) == Some(true) || Some(&a) == primary.as_ref();
                out.push((a, if is_primary { "private_ipv4" } else { "secondary_ipv4" }));
            }
            if let Some(ip) = get(p, "association").and_then(|x| as_str(get(x, "publicIp"))).and_then(|a| canonical(&a))
            {
                out.push((ip, "public_ipv4"));
            }
        }
    }
    if let Some(ip) = get(n, "association").and_then(|x| as_str(get(x, "publicIp"))).and_then(|a| canonical(&a)) {
        out.push((ip, "public_ipv4"));
    }
    for set in ["ipv6Addresses", "ipv6AddressesSet"] {
        for p in list(n, set) {
            let a = match p {
                Value::String(s) => Some(s.clone()),
                _ => as_str(get(p, "ipv6Address")),
            };
            out.extend(a.and_then(|a| canonical(&a)).map(|a| (a, "ipv6")));
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(a, _)| seen.insert(a.clone()));
    out
}

/// Interfaces and their addresses, from inventory and AWS Config, CloudTrail and flow logs.
pub async fn interfaces(ctx: &SessionContext, ev: &Evidence) -> Result<Vec<Interface>> {
    let mut out: Vec<Interface> = Vec::new();
    if ctx.table_exist("inventory")? {
        let sql = format!(
            "SELECT resource_id, item, account_id, region, snapshot_time_basis = '{}' FROM inventory WHERE kind = \
                'network_interfaces'",
            crate::schema::CONFIG_BASIS
        );
        for b in crate::query::query(ctx, &sql).await? {
            let (id, item, acct, region) = (text(&b, 0)?, text(&b, 1)?, text(&b, 2)?, text(&b, 3)?);
            let config = b.column(4).as_boolean().clone();
            for r in 0..b.num_rows() {
                let v: Value = val(&item, r).and_then(|s| serde_json::from_str(&s).ok()).unwrap_or(Value::Null);
                let basis = Basis::snapshot(config.is_valid(r) && config.value(r));
                let base = Interface {
                    interface_id: val(&id, r).or_else(|| as_str(get(&v, "NetworkInterfaceId"))).unwrap_or_default(),
                    subnet_id: as_str(get(&v, "SubnetId")),
                    vpc_id: as_str(get(&v, "VpcId")),
                    private_ip: as_str(get(&v, "PrivateIpAddress")),
                    instance_id: get(&v, "Attachment").and_then(|a| as_str(get(a, "InstanceId"))),
                    account_id: val(&acct, r),
                    region: val(&region, r),
                    basis: basis.as_str().into(),
                    learned_from: if basis == Basis::Config { "config".into() } else { "inventory".into() },
                    ..Default::default()
                };
                push_addresses(&mut out, base, addresses_of(&v));
            }
        }
    }
    for e in &ev.topology_events {
        let base = |id: String| Interface {
            interface_id: id,
            account_id: e.account_id.clone(),
            region: e.region.clone(),
            basis: Basis::Cloudtrail.as_str().into(),
            learned_from: format!("cloudtrail {} {}", e.name, e.event_id),
            valid_from: Some(e.time),
            ..Default::default()
        };
        let of_nic = |n: &Value, instance: Option<String>| {
            let id = as_str(get(n, "networkInterfaceId"))?;
            Some(Interface {
                subnet_id: as_str(get(n, "subnetId")),
                vpc_id: as_str(get(n, "vpcId")),
                private_ip: as_str(get(n, "privateIpAddress")),
                instance_id: instance,
                ..base(id)
            })
        };
        let nic_of_call =
            || as_str(get(&e.request, "networkInterfaceId")).or_else(|| as_str(get(&e.response, "networkInterfaceId")));
        match e.name.as_str() {
            "RunInstances" => {
                for inst in list(&e.response, "instancesSet") {
                    let iid = as_str(get(inst, "instanceId"));
                    for n in list(inst, "networkInterfaceSet") {
                        if let Some(row) = of_nic(n, iid.clone()) {
                            push_addresses(&mut out, row, addresses_of(n));
                        }
                    }
                }
            }
            "CreateNetworkInterface" => {
                if let Some(n) = get(&e.response, "networkInterface")
                    && let Some(row) = of_nic(n, None)
                {
                    push_addresses(&mut out, row, addresses_of(n));
                }
            }
            "AssignPrivateIpAddresses" | "AssignIpv6Addresses" => {
                let Some(id) = nic_of_call() else { continue };
                // The response names what was assigned (counts in the request leave the choice
                // to AWS); the request names it when the caller chose.
                let mut ips = Vec::new();
                crate::correlate::network::addresses_in(&e.response, &mut ips);
                if ips.is_empty() {
                    crate::correlate::network::addresses_in(&e.request, &mut ips);
                }
                let v6 = e.name == "AssignIpv6Addresses";
                let found: Vec<(String, &'static str)> = ips
                    .into_iter()
                    .filter(|ip| ip.is_ipv6() == v6)
                    .map(|ip| (ip.to_string(), if v6 { "ipv6" } else { "secondary_ipv4" }))
                    .collect();
                push_addresses(&mut out, base(id), found);
            }
            "UnassignPrivateIpAddresses" | "UnassignIpv6Addresses" | "DeleteNetworkInterface" => {
                let Some(id) = nic_of_call() else { continue };
                let mut ips = Vec::new();
                if e.name != "DeleteNetworkInterface" {
                    crate::correlate::network::addresses_in(&e.request, &mut ips);
                    crate::correlate::network::addresses_in(&e.response, &mut ips);
                }
                let ips: Vec<String> = ips.iter().map(|i| i.to_string()).collect();
                for row in out.iter_mut().filter(|r| r.interface_id == id && r.valid_to.is_none()) {
                    let ends =
                        e.name == "DeleteNetworkInterface" || row.address.as_ref().is_some_and(|a| ips.contains(a));
                    if ends && row.valid_from.is_none_or(|f| f <= e.time) {
                        row.valid_to = Some(e.time);
                        row.learned_from.push_str(&format!("; until {} {}", e.name, e.event_id));
                    }
                }
            }
            _ => {}
        }
    }
    if ctx.table_exist("flow_logs")? {
        flow_interfaces(ctx, ev, &mut out).await?;
    }
    // Every row of an interface names its subnet, VPC, instance and primary address when any
    // source does.
    let mut known: HashMap<String, Interface> = HashMap::new();
    for r in &out {
        let k = known.entry(r.interface_id.clone()).or_insert_with(|| r.clone());
        k.subnet_id = k.subnet_id.clone().or(r.subnet_id.clone());
        k.vpc_id = k.vpc_id.clone().or(r.vpc_id.clone());
        k.instance_id = k.instance_id.clone().or(r.instance_id.clone());
        k.private_ip = k.private_ip.clone().or(r.private_ip.clone());
        k.account_id = k.account_id.clone().or(r.account_id.clone());
        k.region = k.region.clone().or(r.region.clone());
    }
    for r in &mut out {
        if let Some(k) = known.get(&r.interface_id) {
            r.subnet_id = r.subnet_id.clone().or(k.subnet_id.clone());
            r.vpc_id = r.vpc_id.clone().or(k.vpc_id.clone());
            r.instance_id = r.instance_id.clone().or(k.instance_id.clone());
            r.private_ip = r.private_ip.clone().or(k.private_ip.clone());
            r.account_id = r.account_id.clone().or(k.account_id.clone());
            r.region = r.region.clone().or(k.region.clone());
        }
    }
    Ok(out)
}

/// IPv6 addresses as the flow records write them. The lake keeps each record's text; an interface
/// address learned from CloudTrail or inventory is kept in RFC 5952 form, and a flow log that
/// writes the same address otherwise (leading zeros, no `::`) would never meet it. Each such
/// spelling seen on the interface gets a row of its own.
async fn ipv6_as_written(ctx: &SessionContext, out: &mut Vec<Interface>) -> Result<()> {
    let v6: Vec<&Interface> = out.iter().filter(|i| i.address_type.as_deref() == Some("ipv6")).collect();
    if v6.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<&str> = v6.iter().map(|i| i.interface_id.as_str()).collect();
    ids.sort();
    ids.dedup();
    let mut extra: Vec<Interface> = Vec::new();
    for chunk in ids.chunks(2000) {
        let list = chunk.iter().map(|e| format!("'{}'", e.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
        let sql = format!(
            "SELECT DISTINCT interface_id, addr FROM ( \
               SELECT interface_id, srcaddr AS addr FROM flow_logs WHERE interface_id IN ({list}) AND strpos(srcaddr, ':') > 0 \
               UNION ALL SELECT interface_id, dstaddr AS addr FROM flow_logs WHERE interface_id IN ({list}) AND strpos(dstaddr, ':') > 0)"
        );
        for b in crate::query::query(ctx, &sql).await? {
            let (id, addr) = (text(&b, 0)?, text(&b, 1)?);
            for r in 0..b.num_rows() {
                let (Some(id), Some(written)) = (val(&id, r), val(&addr, r)) else { continue };
                let Some(canonical) = canonical(&written).filter(|c| *c != written) else { continue };
                for i in v6.iter().filter(|i| i.interface_id == id && i.address.as_deref() == Some(canonical.as_str()))
                {
                    extra.push(Interface {
                        address: Some(written.clone()),
                        learned_from: format!("{}; {canonical} as the flow records write it", i.learned_from),
                        ..(*i).clone()
                    });
                }
            }
        }
    }
    out.extend(extra);
    Ok(())
}

/// One row per address (one without an address when none is known).
fn push_addresses(out: &mut Vec<Interface>, base: Interface, addresses: Vec<(String, &'static str)>) {
    if base.interface_id.is_empty() {
        return;
    }
    if addresses.is_empty() {
        out.push(base);
        return;
    }
    for (a, kind) in addresses {
        out.push(Interface { address: Some(a), address_type: Some(kind.to_string()), ..base.clone() });
    }
}

/// Per (interface, records say their direction, IPv6): (address, records naming it, records).
type AddressCounts = HashMap<(String, bool, bool), Vec<(String, i64, i64)>>;

/// Share of an interface's records of one family an address must be in to be taken for the
/// interface's own address, where the records do not say their direction.
const OWN_SHARE: f64 = 0.5;

/// Interfaces the flow records name, with their subnet and VPC when the records carry them, and
/// the addresses of those no other source gives one: the side of each record the
/// `flow-direction` field names (ingress: the destination), or, without it, the address that
/// appears in most records of its family (at least half), inside the subnet's range when two do.
async fn flow_interfaces(ctx: &SessionContext, ev: &Evidence, out: &mut Vec<Interface>) -> Result<()> {
    let subnets = super::network::subnets_of(ev);
    let sql = "SELECT interface_id, max(subnet_id), max(vpc_id), max(instance_id), max(account_id), max(region), \
               min(start_time), max(end_time), count(DISTINCT subnet_id) FROM flow_logs WHERE interface_id IS NOT NULL GROUP BY interface_id";
    let mut rows = Vec::new();
    for b in crate::query::query(ctx, sql).await? {
        let cols: Vec<ArrayRef> = (0..6).map(|i| text(&b, i)).collect::<Result<_>>()?;
        let (from, to) = (
            b.column(6).as_primitive::<TimestampMicrosecondType>(),
            b.column(7).as_primitive::<TimestampMicrosecondType>(),
        );
        for r in 0..b.num_rows() {
            let id = val(&cols[0], r).unwrap_or_default();
            let span = (from.is_valid(r).then(|| from.value(r)), to.is_valid(r).then(|| to.value(r)));
            let fields: Vec<&str> = [("subnet-id", 1), ("vpc-id", 2)]
                .iter()
                .filter(|(_, i)| val(&cols[*i], r).is_some())
                .map(|(n, _)| *n)
                .collect();
            rows.push(Interface {
                interface_id: id,
                subnet_id: val(&cols[1], r),
                vpc_id: val(&cols[2], r),
                instance_id: val(&cols[3], r),
                account_id: val(&cols[4], r),
                region: val(&cols[5], r),
                basis: Basis::FlowRecords.as_str().into(),
                learned_from: if fields.is_empty() {
                    "flow_logs".into()
                } else {
                    format!("flow_logs: the records' {} fields", fields.join(" and "))
                },
                valid_from: span.0,
                valid_to: span.1,
                ..Default::default()
            });
        }
    }
    // Addresses for the interfaces no other source gives one.
    let with_address: std::collections::HashSet<&str> =
        out.iter().filter(|i| i.address.is_some()).map(|i| i.interface_id.as_str()).collect();
    let wanted: Vec<String> =
        rows.iter().map(|r| r.interface_id.clone()).filter(|i| !with_address.contains(i.as_str())).collect();
    let mut found: HashMap<String, Vec<(String, String)>> = HashMap::new();
    for chunk in wanted.chunks(2000) {
        let list = chunk.iter().map(|e| format!("'{}'", e.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
        // Per interface and address: records naming it on the interface's side when the record
        // says its direction, on either side when it does not; and per interface and family, the
        // records of each kind.
        let sql = format!(
            "WITH f AS (SELECT interface_id, srcaddr, dstaddr, flow_direction FROM flow_logs \
               WHERE interface_id IN ({list}) AND srcaddr IS NOT NULL AND dstaddr IS NOT NULL), \
             sides AS ( \
               SELECT interface_id, srcaddr AS addr, flow_direction IS NOT NULL AS directed FROM f WHERE flow_direction IS NULL OR flow_direction = 'egress' \
               UNION ALL \
               SELECT interface_id, dstaddr AS addr, flow_direction IS NOT NULL AS directed FROM f WHERE flow_direction IS NULL OR flow_direction = 'ingress'), \
             per_addr AS (SELECT interface_id, addr, directed, strpos(addr, ':') > 0 AS v6, count(*) AS n FROM sides GROUP BY 1, 2, 3), \
             totals AS (SELECT interface_id, flow_direction IS NOT NULL AS directed, strpos(srcaddr, ':') > 0 AS v6, count(*) AS total FROM f GROUP BY 1, 2, 3) \
             SELECT p.interface_id, p.addr, p.directed, p.n, t.total FROM per_addr p \
             JOIN totals t ON t.interface_id = p.interface_id AND t.directed = p.directed AND t.v6 = p.v6 \
             ORDER BY p.interface_id, p.directed DESC, p.n DESC, p.addr"
        );
        let mut candidates: AddressCounts = HashMap::new();
        for b in crate::query::query(ctx, &sql).await? {
            let (ids, addrs) = (text(&b, 0)?, text(&b, 1)?);
            let directed = b.column(2).as_boolean().clone();
            let (n, total) = (crate::functions::ints(b.column(3))?, crate::functions::ints(b.column(4))?);
            let (n, total) = (n.as_primitive::<Int64Type>(), total.as_primitive::<Int64Type>());
            for r in 0..b.num_rows() {
                let (Some(id), Some(addr)) = (val(&ids, r), val(&addrs, r)) else { continue };
                let v6 = addr.contains(':');
                candidates.entry((id, directed.value(r), v6)).or_default().push((addr, n.value(r), total.value(r)));
            }
        }
        for ((id, directed, _), list) in candidates {
            let subnet = rows.iter().find(|r| r.interface_id == id).and_then(|r| r.subnet_id.clone());
            let inside = |a: &str| {
                let ip: Option<std::net::IpAddr> = a.parse().ok();
                subnet
                    .as_ref()
                    .and_then(|s| subnets.get(s))
                    .is_some_and(|x| ip.is_some_and(|ip| x.cidrs.iter().any(|n| n.contains(&ip))))
            };
            let own: Vec<&(String, i64, i64)> = if directed {
                // Every directed record names the interface's side: each address there is its own.
                list.iter().collect()
            } else {
                let strong: Vec<&(String, i64, i64)> =
                    list.iter().filter(|(_, n, t)| *n as f64 >= OWN_SHARE * *t as f64).collect();
                // The most frequent wins; a tie goes to the one inside the subnet's range.
                match strong.as_slice() {
                    [one] => vec![*one],
                    [a, b, ..] if a.1 > b.1 => vec![*a],
                    [a, b] => [*a, *b]
                        .into_iter()
                        .filter(|(x, _, _)| inside(x))
                        .collect::<Vec<_>>()
                        .into_iter()
                        .take(1)
                        .collect(),
                    _ => Vec::new(),
                }
            };
            for (addr, n, total) in own {
                let how = if directed {
                    format!("flow_logs: the interface's side of {n} records (flow-direction)")
                } else {
                    format!("flow_logs: in {n} of the interface's {total} records")
                };
                found.entry(id.clone()).or_default().push((addr.clone(), how));
            }
        }
    }
    ipv6_as_written(ctx, out).await?;
    for row in rows {
        match found.remove(&row.interface_id) {
            Some(addrs) => {
                for (a, how) in addrs {
                    let kind = if a.contains(':') { "ipv6" } else { "private_ipv4" };
                    out.push(Interface {
                        address: Some(a),
                        address_type: Some(kind.into()),
                        learned_from: how,
                        ..row.clone()
                    });
                }
            }
            None => out.push(row),
        }
    }
    Ok(())
}

/// Moves whose subnet the calls do not tell, matched to one of their candidates (the subnets of
/// the ACL's VPC when the walk named none) by the flows, when the flows can tell; a later move of
/// the association such a move made is of the same subnet.
pub async fn place_moves(ctx: &SessionContext, ev: &Evidence, replay: &mut Replay, ifaces: &[Interface]) -> Result<()> {
    for i in 0..replay.net.moves.len() {
        super::network::chain_subnets(&mut replay.net.moves);
        let m = replay.net.moves[i].clone();
        if m.subnet.is_some() {
            continue;
        }
        let candidates: Vec<String> = if m.candidates.is_empty() {
            let vpc = replay.acl_vpc.get(&m.to_acl);
            replay
                .net
                .subnets
                .iter()
                .filter(|(_, s)| vpc.is_some() && s.vpc.as_ref() == vpc)
                .map(|(id, _)| id.clone())
                .collect()
        } else {
            m.candidates.clone()
        };
        if let Some((subnet, why)) = infer_subnet(ctx, ev, replay, ifaces, &m, &candidates).await? {
            let mv = &mut replay.net.moves[i];
            mv.subnet = Some(subnet);
            mv.basis = Basis::Inferred;
            mv.reason = why;
        }
    }
    super::network::chain_subnets(&mut replay.net.moves);
    Ok(())
}

/// What each subnet's ACL was, interval by interval.
pub async fn associations(
    ctx: &SessionContext,
    _ev: &Evidence,
    replay: &Replay,
    ifaces: &[Interface],
) -> Result<Vec<Association>> {
    let net = &replay.net;
    let acl_id = |key: &str| (!super::network::is_stand_in(key)).then(|| key.to_string());
    let mut moves: BTreeMap<String, Vec<super::network::Move>> = BTreeMap::new();
    let mut unplaced = Vec::new();
    for m in &net.moves {
        match m.subnet.clone() {
            Some(s) => moves.entry(s).or_default().push(m.clone()),
            None => unplaced.push(m.clone()),
        }
    }
    let mut out = Vec::new();
    // The ACL of each subnet as snapshots show it over time, oldest first, one entry per ACL
    // the subnet went to (AWS Config's history records a move at its capture time).
    let mut snapshot_of: BTreeMap<String, Vec<(i64, String, String, Basis)>> = BTreeMap::new();
    for (t, aid, subnet, acl) in &replay.snapshot_assoc {
        if let Some(s) = subnet {
            let basis = Basis::snapshot(replay.config_assoc.contains(&(*t, aid.clone())));
            snapshot_of.entry(s.clone()).or_default().push((*t, acl.clone(), aid.clone(), basis));
        }
    }
    for seen in snapshot_of.values_mut() {
        seen.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
        seen.dedup_by(|later, earlier| later.1 == earlier.1);
    }
    let mut subnets: Vec<String> = snapshot_of.keys().cloned().collect();
    subnets.extend(moves.keys().cloned());
    subnets.extend(net.subnets.iter().filter(|(_, s)| s.created.is_some()).map(|(id, _)| id.clone()));
    subnets.sort();
    subnets.dedup();
    for s in subnets {
        let seen = snapshot_of.get(&s).cloned().unwrap_or_default();
        let vpc = net
            .vpc_of_subnet(&s)
            .map(str::to_string)
            .or_else(|| seen.last().and_then(|(_, acl, _, _)| replay.acl_vpc.get(acl).cloned()));
        let list = moves.get(&s).cloned().unwrap_or_default();
        let created = net.subnets.get(&s).and_then(|x| x.created.clone());
        // A subnet created in the evidence starts on its VPC's default ACL.
        let first_default = created.as_ref().zip(vpc.as_ref()).map(|((t, id), v)| {
            let key = net.default_of(v);
            let (basis, named) = match net.default_acl.get(v) {
                Some((_, b, why)) => ((*b).max(Basis::Cloudtrail), format!("; {why}")),
                None => (Basis::Cloudtrail, " (its id is not in the evidence)".to_string()),
            };
            Association {
                subnet_id: Some(s.clone()),
                network_acl_id: acl_id(&key),
                association_id: list.first().and_then(|m| m.old_assoc.clone()),
                vpc_id: Some(v.clone()),
                basis: basis.as_str().into(),
                learned_from: format!("cloudtrail CreateSubnet {id}: a new subnet is on the default ACL of {v}{named}"),
                valid_from: Some(*t),
                valid_to: list.first().map(|m| m.time),
            }
        });
        if list.is_empty() {
            if let Some(row) = first_default {
                out.push(row);
                continue;
            }
            for (i, (t, acl, aid, basis)) in seen.iter().enumerate() {
                out.push(Association {
                    subnet_id: Some(s.clone()),
                    network_acl_id: Some(acl.clone()),
                    association_id: Some(aid.clone()),
                    vpc_id: vpc.clone(),
                    basis: basis.as_str().into(),
                    learned_from: basis.as_str().into(),
                    valid_from: (i > 0).then_some(*t),
                    valid_to: seen.get(i + 1).map(|n| n.0),
                });
            }
            continue;
        }
        for (i, m) in list.iter().enumerate() {
            out.push(Association {
                subnet_id: Some(s.clone()),
                network_acl_id: Some(m.to_acl.clone()),
                association_id: m.new_assoc.clone(),
                vpc_id: vpc.clone().or_else(|| replay.acl_vpc.get(&m.to_acl).cloned()),
                basis: m.basis.max(Basis::Cloudtrail).as_str().into(),
                learned_from: format!("cloudtrail ReplaceNetworkAclAssociation {}: {}", m.event_id, m.reason),
                valid_from: Some(m.time),
                valid_to: list.get(i + 1).map(|n| n.time),
            });
        }
        // Before the first move: the subnet's first association, the ACL the chain names, or the
        // ACL the subnet's own flows fit.
        if let Some(row) = first_default {
            out.push(row);
            continue;
        }
        let first = &list[0];
        let vpc = vpc.or_else(|| replay.acl_vpc.get(&first.to_acl).cloned());
        if let Some(from) = first.from_acl.clone() {
            out.push(Association {
                subnet_id: Some(s.clone()),
                network_acl_id: acl_id(&from),
                association_id: first.old_assoc.clone(),
                vpc_id: vpc,
                basis: first.basis.max(Basis::Cloudtrail).as_str().into(),
                learned_from: format!(
                    "the association ReplaceNetworkAclAssociation {} replaced: {}",
                    first.event_id, first.reason
                ),
                valid_from: None,
                valid_to: Some(first.time),
            });
            continue;
        }
        let inferred = infer_acl(ctx, replay, ifaces, &s, vpc.as_deref(), &first.to_acl, first.time, first.ord).await?;
        let (acl, basis, how) = match inferred {
            Inferred::Acl(acl, how) => (Some(acl), Basis::Inferred, how),
            Inferred::Unknown(why) => (
                None,
                Basis::Unknown,
                format!("unknown: moved by ReplaceNetworkAclAssociation, earlier ACL not in the evidence ({why})"),
            ),
        };
        out.push(Association {
            subnet_id: Some(s.clone()),
            network_acl_id: acl,
            association_id: first.old_assoc.clone(),
            vpc_id: vpc,
            basis: basis.as_str().into(),
            learned_from: how,
            valid_from: None,
            valid_to: Some(first.time),
        });
    }
    // A move whose subnet nothing tells: the ACL is known, the subnet is not.
    for m in unplaced {
        out.push(Association {
            subnet_id: None,
            vpc_id: replay.acl_vpc.get(&m.to_acl).cloned(),
            network_acl_id: Some(m.to_acl.clone()),
            association_id: m.new_assoc.clone(),
            basis: Basis::Unknown.as_str().into(),
            learned_from: format!(
                "cloudtrail ReplaceNetworkAclAssociation {}; subnet unknown: {}",
                m.event_id, m.reason
            ),
            valid_from: Some(m.time),
            valid_to: None,
        });
    }
    Ok(out)
}

/// Where a subnet is: (VPC, account, region).
type Place = (Option<String>, Option<String>, Option<String>);

/// Subnets an ACL governed that no snapshot or call places, told by their flows: an ACL changed
/// in the evidence while no subnet is known on it, and a subnet no association row names, whose
/// flows before the change were REJECTed and after it ACCEPTed exactly where the change opened
/// (allowed by the rules after it, denied by the rules before), with no accepted flow in the
/// day around it that the ACL's rules of the moment deny. Such a subnet is taken as governed by
/// the ACL over the whole evidence, as an inference, and the row names the flows.
pub async fn infer_governed(
    ctx: &SessionContext,
    ev: &Evidence,
    replay: &Replay,
    ifaces: &[Interface],
    assoc: &[Association],
) -> Result<Vec<Association>> {
    let placed: std::collections::HashSet<&str> = assoc.iter().filter_map(|a| a.subnet_id.as_deref()).collect();
    // Subnets with interfaces of known address, no association known: (subnet, vpc, account, region).
    let mut loose: BTreeMap<String, Place> = BTreeMap::new();
    for i in ifaces.iter().filter(|i| i.address.is_some()) {
        if let Some(s) = i.subnet_id.as_ref().filter(|s| !placed.contains(s.as_str())) {
            loose.entry(s.clone()).or_insert((i.vpc_id.clone(), i.account_id.clone(), i.region.clone()));
        }
    }
    if loose.is_empty() {
        return Ok(Vec::new());
    }
    let mut out: Vec<Association> = Vec::new();
    for (ord, e) in ev.events.iter().enumerate() {
        if !crate::aws::NACL_ENTRY_EVENTS.contains(&e.name.as_str()) || e.error_code.is_some() {
            continue;
        }
        let Some(acl) = as_str(get(&e.request, "networkAclId")) else { continue };
        let known = assoc.iter().chain(out.iter()).any(|a| {
            a.network_acl_id.as_deref() == Some(acl.as_str())
                && a.valid_from.is_none_or(|f| f <= e.time)
                && a.valid_to.is_none_or(|t| t > e.time)
        });
        if known || replay.net.created_acls.contains(&acl) {
            continue;
        }
        let Some(h) = replay.hist.get(&acl) else { continue };
        let (Some(before), Some(after)) = (h.state_before(ord), h.state_before(ord + 1)) else { continue };
        let vpc = replay.acl_vpc.get(&acl);
        let ord_at = |t: i64| ev.events.partition_point(|x| x.time <= t);
        for (subnet, (svpc, account, region)) in &loose {
            if out.iter().any(|a| a.subnet_id.as_ref() == Some(subnet)) {
                continue;
            }
            let same_place = match vpc {
                Some(v) => svpc.as_ref() == Some(v),
                None => (account.is_none() || account == &e.account_id) && (region.is_none() || region == &e.region),
            };
            if !same_place {
                continue;
            }
            let flows =
                subnet_flows(ctx, ifaces, subnet, Some(e.time - MOVE_WINDOW_US), e.time + MOVE_WINDOW_US, e.time)
                    .await?;
            let (mut rejected_before, mut accepted_after, mut contradicting) = (0, 0, 0);
            let mut states: HashMap<usize, Option<Vec<crate::nacl::Entry>>> = HashMap::new();
            for (egress, p, peer, port, accepted, later, start) in &flows {
                let opened = allows(&after, *egress, *p, *peer, *port) == Some(true)
                    && allows(&before, *egress, *p, *peer, *port) == Some(false);
                if opened && !*later && !*accepted {
                    rejected_before += 1;
                }
                if opened && *later && *accepted {
                    accepted_after += 1;
                }
                if !known_from_start(h) {
                    continue; // rules no call touched could allow what the known ones deny
                }
                let o = ord_at(*start);
                let rules = states.entry(o).or_insert_with(|| h.state_before(o)).clone();
                if *accepted && rules.as_ref().and_then(|r| allows(r, *egress, *p, *peer, *port)) == Some(false) {
                    contradicting += 1;
                }
            }
            if rejected_before > 0 && accepted_after > 0 && contradicting == 0 {
                out.push(Association {
                    subnet_id: Some(subnet.clone()),
                    network_acl_id: Some(acl.clone()),
                    association_id: None,
                    vpc_id: svpc.clone().or_else(|| vpc.cloned()),
                    basis: Basis::Inferred.as_str().into(),
                    learned_from: format!(
                        "inferred from flows: around {} {} the subnet's flows where it opened went from REJECT \
                            ({rejected_before}) to ACCEPT ({accepted_after}), and none of its accepted flows is \
                            denied by {acl}",
                        e.name, e.event_id
                    ),
                    valid_from: None,
                    valid_to: None,
                });
            }
        }
    }
    Ok(out)
}

/// Are all of an ACL's rules known, not only those calls touched: from a snapshot, or from its
/// creation in the evidence (a `CreateNetworkAcl`, or the `CreateVpc` of its VPC)?
fn known_from_start(h: &crate::nacl::History) -> bool {
    !h.snapshots.is_empty() || h.steps.iter().any(|(_, _, s)| matches!(s, crate::nacl::Step::Created(_)))
}

/// One flow seen from an interface: (egress, protocol, peer, port, accepted, at or after `t`,
/// start).
type SeenFlow = (bool, i64, std::net::IpAddr, Option<i64>, bool, bool, i64);

/// The flows of a subnet's interfaces (with known addresses) before `to` (and from `from`), seen
/// from the interface, at most [`INFER_FLOWS`] of the latest.
async fn subnet_flows(
    ctx: &SessionContext,
    ifaces: &[Interface],
    subnet: &str,
    from: Option<i64>,
    to: i64,
    t: i64,
) -> Result<Vec<SeenFlow>> {
    let mut enis: HashMap<&str, Vec<&str>> = HashMap::new();
    for i in ifaces.iter().filter(|i| i.subnet_id.as_deref() == Some(subnet)) {
        if let Some(a) = i.address.as_deref() {
            enis.entry(i.interface_id.as_str()).or_default().push(a);
        }
    }
    if enis.is_empty() || !ctx.table_exist("flow_logs")? {
        return Ok(Vec::new());
    }
    let list = enis.keys().map(|e| format!("'{}'", e.replace('\'', "''"))).collect::<Vec<_>>().join(", ");
    let lower = from.map(|f| format!(" AND start_time >= to_timestamp_micros({f})")).unwrap_or_default();
    let sql = format!(
        "SELECT interface_id, srcaddr, dstaddr, dstport, protocol, action, arrow_cast(start_time, 'Int64') FROM flow_logs \
         WHERE interface_id IN ({list}) AND action IN ('ACCEPT', 'REJECT') AND start_time < to_timestamp_micros({to}){lower} \
         ORDER BY start_time DESC LIMIT {INFER_FLOWS}"
    );
    let mut flows = Vec::new();
    for b in crate::query::query(ctx, &sql).await? {
        let cols: Vec<ArrayRef> = (0..3).map(|i| text(&b, i)).collect::<Result<_>>()?;
        let action = text(&b, 5)?;
        let port = crate::functions::ints(b.column(3))?;
        let proto = crate::functions::ints(b.column(4))?;
        let start = crate::functions::ints(b.column(6))?;
        let (port, proto, start) =
            (port.as_primitive::<Int64Type>(), proto.as_primitive::<Int64Type>(), start.as_primitive::<Int64Type>());
        for r in 0..b.num_rows() {
            let (Some(eni), Some(src), Some(dst)) = (val(&cols[0], r), val(&cols[1], r), val(&cols[2], r)) else {
                continue;
            };
            let Some(own) = enis.get(eni.as_str()) else { continue };
            let (egress, peer) = if own.contains(&dst.as_str()) {
                (false, src)
            } else if own.contains(&src.as_str()) {
                (true, dst)
            } else {
                continue;
            };
            let Some(peer) = crate::functions::parse_ip(&peer) else { continue };
            if proto.is_null(r) {
                continue;
            }
            let accepted = val(&action, r).as_deref() == Some("ACCEPT");
            flows.push((
                egress,
                proto.value(r),
                peer,
                (!port.is_null(r)).then(|| port.value(r)),
                accepted,
                start.value(r) >= t,
                start.value(r),
            ));
        }
    }
    Ok(flows)
}

/// Window of flows around a move looked at to tell which subnet it moved: a day each side (a
/// subnet built by infrastructure as code has its first traffic some time after the move).
const MOVE_WINDOW_US: i64 = 24 * 3_600_000_000;

/// Which of the candidate subnets a move took, by their flows, each judged by the rules of its
/// moment: after the move a subnet's accepted flows must all be allowed by the ACL it moved to,
/// before it by the ACL it left (an accepted flow the governing ACL denies cannot be; a rejected
/// one can, as security groups reject too). The one candidate with flows and no such
/// contradiction, while every other candidate's flows contradict, is taken; so is the one whose
/// flows changed as the new rules predict (REJECTed where the new rules deny and the old allow,
/// or the reverse), when it alone does.
async fn infer_subnet(
    ctx: &SessionContext,
    ev: &Evidence,
    replay: &Replay,
    ifaces: &[Interface],
    m: &super::network::Move,
    candidates: &[String],
) -> Result<Option<(String, String)>> {
    if candidates.len() < 2 {
        return Ok(None);
    }
    let Some(new_h) = replay.hist.get(&m.to_acl) else { return Ok(None) };
    let old_h = m.from_acl.as_ref().and_then(|k| replay.hist.get(k));
    // The event ordinal just after a moment: the rules then are the state before it.
    let ord_at = |t: i64| ev.events.partition_point(|e| e.time <= t).max(m.ord + 1);
    let mut states: HashMap<(bool, usize), Option<Vec<crate::nacl::Entry>>> = HashMap::new();
    // (candidate, flows, contradicting, telling)
    let mut judged: Vec<(String, usize, usize, usize)> = Vec::new();
    for s in candidates {
        let flows =
            subnet_flows(ctx, ifaces, s, Some(m.time - MOVE_WINDOW_US), m.time + MOVE_WINDOW_US, m.time).await?;
        let (mut contradicting, mut telling) = (0, 0);
        for (egress, p, peer, port, accepted, after, start) in &flows {
            let (new_ord, old_ord) = if *after { (ord_at(*start), ord_at(*start)) } else { (m.ord + 1, m.ord) };
            let new_rules = states.entry((true, new_ord)).or_insert_with(|| new_h.state_before(new_ord)).clone();
            let old_rules =
                states.entry((false, old_ord)).or_insert_with(|| old_h.and_then(|h| h.state_before(old_ord))).clone();
            let by_new = new_rules
                .as_ref()
                .filter(|_| known_from_start(new_h))
                .and_then(|r| allows(r, *egress, *p, *peer, *port));
            let by_old = old_rules
                .as_ref()
                .filter(|_| old_h.is_some_and(known_from_start))
                .and_then(|r| allows(r, *egress, *p, *peer, *port));
            let (fits, other) = if *after { (by_new, by_old) } else { (by_old, by_new) };
            if *accepted && fits == Some(false) {
                contradicting += 1;
            } else if fits == Some(*accepted) && other == Some(!*accepted) {
                telling += 1;
            }
        }
        judged.push((s.clone(), flows.len(), contradicting, telling));
    }
    let fitting: Vec<&(String, usize, usize, usize)> = judged.iter().filter(|j| j.1 > 0 && j.2 == 0).collect();
    let others_contradict = |s: &str| judged.iter().filter(|j| j.0 != s).all(|j| j.2 > 0);
    let tellers: Vec<&&(String, usize, usize, usize)> = fitting.iter().filter(|j| j.3 > 0).collect();
    let pick = match (fitting.as_slice(), tellers.as_slice()) {
        ([one], _) if others_contradict(&one.0) => Some((*one).clone()),
        (_, [one]) => Some((**one).clone()),
        _ => None,
    };
    Ok(pick.map(|(s, n, _, telling)| {
        let others: Vec<String> = judged.iter().filter(|j| j.0 != s).map(|j| format!("{} {}", j.0, j.2)).collect();
        (
            s.clone(),
            format!(
                "inferred from flows: of {} candidate subnets only {s}'s {n} flows around the call fit {} ({telling} \
                    changed as the move predicts); accepted flows the ACL denies: {}",
                candidates.len(),
                m.to_acl,
                others.join(", ")
            ),
        )
    }))
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
    if !ifaces.iter().any(|i| i.subnet_id.as_deref() == Some(subnet) && i.address.is_some()) {
        return Ok(Inferred::Unknown("no interface with a known address in the subnet".into()));
    }
    let flows: Vec<(bool, i64, std::net::IpAddr, Option<i64>, bool)> = subnet_flows(ctx, ifaces, subnet, None, t, t)
        .await?
        .into_iter()
        .map(|(e, p, peer, port, ok, _, _)| (e, p, peer, port, ok))
        .collect();
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
            Ok(Inferred::Acl(
                acl.clone(),
                format!("inferred: the one ACL that fits the {accepted} accepted flows before the move"),
            ))
        }
        [((fit, _), _), ..] if *fit == accepted && tied.len() > 1 && emptied.len() == 1 => Ok(Inferred::Acl(
            (*emptied[0]).clone(),
            format!(
                "inferred: fits the {accepted} accepted flows before the move, as do {}; the only one the move left \
                    governing no subnet",
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
    // A default ACL whose id the evidence never shows is replayed, not listed.
    let mut acls: Vec<&String> = replay.hist.keys().filter(|k| !super::network::is_stand_in(k)).collect();
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
            rows.push(RuleSetRow {
                network_acl_id: acl.clone(),
                rules,
                learned_from,
                valid_from: from,
                valid_to: None,
            });
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
    // A default ACL whose id the evidence never shows is replayed, not listed.
    let mut acls: Vec<&String> = replay.hist.keys().filter(|k| !super::network::is_stand_in(k)).collect();
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
                        if e.rule_number == crate::nacl::DEFAULT_RULE {
                            "default rule".into()
                        } else {
                            "inventory".into()
                        }
                    } else {
                        why.clone()
                    };
                    still.push(EntryRow {
                        network_acl_id: acl.clone(),
                        entry: e,
                        learned_from: learned,
                        valid_from: *from,
                        valid_to: None,
                    });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_every_shape_aws_writes_them() {
        // CloudTrail's RunInstances / CreateNetworkInterface responses: `item` or `items` lists.
        let ct: Value = serde_json::json!({
            "networkInterfaceId": "eni-1", "privateIpAddress": "10.0.1.5",
            "privateIpAddressesSet": {"item": [{"privateIpAddress": "10.0.1.5", "primary": true},
                                               {"privateIpAddress": "10.0.1.6", "primary": false, "association": {"publicIp": "54.0.0.9"}}]},
            "ipv6AddressesSet": {"items": [{"ipv6Address": "2600:1F14:0ABC:DE01:0:0:0:10"}]}
        });
        assert_eq!(
            addresses_of(&ct),
            vec![
                ("10.0.1.5".to_string(), "private_ipv4"),
                ("10.0.1.6".to_string(), "secondary_ipv4"),
                ("54.0.0.9".to_string(), "public_ipv4"),
                // Written as the flow records write it (RFC 5952).
                ("2600:1f14:abc:de01::10".to_string(), "ipv6"),
            ]
        );
        // describe-network-interfaces (PascalCase) and AWS Config (camelCase, plain lists).
        let describe: Value = serde_json::json!({
            "PrivateIpAddress": "10.0.2.7", "Association": {"PublicIp": "3.3.3.3"},
            "PrivateIpAddresses": [{"PrivateIpAddress": "10.0.2.7", "Primary": true}],
            "Ipv6Addresses": [{"Ipv6Address": "2600::7"}]
        });
        let got: Vec<&str> = addresses_of(&describe).iter().map(|(_, k)| *k).collect();
        assert_eq!(got, vec!["private_ipv4", "public_ipv4", "ipv6"]);
        let config: Value =
            serde_json::json!({"privateIpAddress": "10.0.3.1", "ipv6Addresses": [{"ipv6Address": "2600::1"}]});
        assert_eq!(addresses_of(&config).len(), 2);
        // Lists of plain strings, as some responses write assigned addresses.
        assert_eq!(list(&serde_json::json!({"a": {"items": ["x", "y"]}}), "a").len(), 2);
        assert!(list(&serde_json::json!({"a": 5}), "a").is_empty());
    }
}
