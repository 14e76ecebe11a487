//! The estate as the evidence tells it, whatever the evidence holds: VPCs and subnets (with their
//! ranges) from inventory snapshots, AWS Config items, CloudTrail's `CreateVpc` / `CreateSubnet`
//! responses and the flow records' own `vpc-id` / `subnet-id`; which ACL is each VPC's default;
//! and every `ReplaceNetworkAclAssociation` resolved to the subnet it moved and the ACL it left.
//!
//! An association id names one subnet on one ACL for its whole life (a move makes a new id), so
//! what any source says of an id holds at every moment. The moves are walked in time order:
//!
//! - an `associationId` a snapshot shows, or that an earlier move returned as its
//!   `newAssociationId`, gives the subnet and the ACL it leaves;
//! - an id never seen before, moving a subnet of a VPC created in the evidence, is the subnet's
//!   first association: every new subnet starts on its VPC's default ACL, whose rules AWS
//!   documents (allow all, then the final deny, in both directions; IPv6 too when the VPC has a
//!   block). When the VPC has one subnet created in the evidence still on its first association,
//!   that is the subnet; when it has several, the moves are matched to them later (by the
//!   subnets' flows, or as a group when as many moves take all of them to one ACL), and say so;
//! - an ACL in a VPC created in the evidence that no `CreateNetworkAcl` made is that VPC's default.
//!
//! Every conclusion carries its [`Basis`] and a line of reason.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;
use serde_json::Value;

use super::{Evidence, as_str, get};
use crate::schema::NetworkInterfaceRow as Interface;

/// The items of a list as CloudTrail and the EC2 API write it: `{"items": [...]}`,
/// `{"item": [...]}` or a plain array.
pub fn list<'a>(v: &'a Value, key: &str) -> Vec<&'a Value> {
    match get(v, key) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(o @ Value::Object(_)) => match get(o, "items").or_else(|| get(o, "item")) {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(x @ Value::Object(_)) => vec![x],
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}

/// Where a fact of the topology comes from, strongest first. A conclusion drawn from several
/// facts has the weakest basis among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Basis {
    /// A `describe-*` snapshot.
    Inventory,
    /// An AWS Config item.
    Config,
    /// CloudTrail calls' request and response elements.
    Cloudtrail,
    /// The flow records' own `vpc-id`, `subnet-id`, `interface-id` fields.
    FlowRecords,
    /// Deduced from what the flows did, or from how the calls fit together; never certain.
    Inferred,
    /// The evidence does not say.
    #[default]
    Unknown,
}

impl Basis {
    pub const ALL: [Basis; 6] =
        [Basis::Inventory, Basis::Config, Basis::Cloudtrail, Basis::FlowRecords, Basis::Inferred, Basis::Unknown];

    /// The name in `topology_basis` and the topology tables' `basis` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Basis::Inventory => "inventory",
            Basis::Config => "config",
            Basis::Cloudtrail => "cloudtrail",
            Basis::FlowRecords => "flow_records",
            Basis::Inferred => "inferred",
            Basis::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Basis> {
        Basis::ALL.into_iter().find(|b| b.as_str() == s)
    }

    /// A snapshot's basis: AWS Config's or a `describe-*` output's.
    pub fn snapshot(config: bool) -> Basis {
        if config { Basis::Config } else { Basis::Inventory }
    }

    /// Does a verdict standing on this basis stand on what the evidence says for certain?
    pub fn certain(self) -> bool {
        self <= Basis::FlowRecords
    }
}

/// The key a VPC's default ACL is replayed under while its id is not in the evidence.
pub fn default_key(vpc: &str) -> String {
    format!("default ACL of {vpc}")
}

/// Is this ACL key a stand-in for a default ACL whose id the evidence never shows?
pub fn is_stand_in(key: &str) -> bool {
    key.starts_with("default ACL of ")
}

/// A VPC created in the evidence.
#[derive(Debug, Clone, Default)]
pub struct CreatedVpc {
    /// Its `CreateVpc` event: ordinal in `Evidence::events` and time.
    pub ord: usize,
    pub time: i64,
    pub event_id: String,
    pub ipv6: bool,
    pub account_id: Option<String>,
    pub region: Option<String>,
}

/// A subnet, as far as the evidence tells it.
#[derive(Debug, Clone, Default)]
pub struct Subnet {
    pub vpc: Option<String>,
    pub cidrs: Vec<IpNet>,
    /// `CreateSubnet` in the evidence: time and event id.
    pub created: Option<(i64, String)>,
    pub basis: Basis,
}

/// One `ReplaceNetworkAclAssociation`, resolved.
#[derive(Debug, Clone, Default)]
pub struct Move {
    pub ord: usize,
    pub time: i64,
    pub event_id: String,
    pub subnet: Option<String>,
    /// Subnets the move may have been of, when the evidence does not say which.
    pub candidates: Vec<String>,
    /// The ACL the subnet left (a key of `Replay::hist`; a stand-in for a default ACL whose id
    /// the evidence never shows).
    pub from_acl: Option<String>,
    pub to_acl: String,
    pub old_assoc: Option<String>,
    pub new_assoc: Option<String>,
    /// How the subnet and the ACL it left are known.
    pub basis: Basis,
    pub reason: String,
}

/// The estate: VPCs, subnets, defaults and moves.
#[derive(Debug, Default)]
pub struct Network {
    pub created_vpcs: HashMap<String, CreatedVpc>,
    pub subnets: BTreeMap<String, Subnet>,
    /// Each VPC's default ACL: (key, basis, reason).
    pub default_acl: HashMap<String, (String, Basis, String)>,
    /// The VPC of each ACL: (vpc, basis).
    pub acl_vpc: HashMap<String, (String, Basis)>,
    /// ACLs created in the evidence (`CreateNetworkAcl`).
    pub created_acls: BTreeSet<String>,
    /// ACLs some snapshot shows.
    pub snapshot_acls: BTreeSet<String>,
    pub moves: Vec<Move>,
}

impl Network {
    pub fn vpc_of_subnet(&self, s: &str) -> Option<&str> {
        self.subnets.get(s).and_then(|x| x.vpc.as_deref())
    }

    /// The key a VPC's default ACL is replayed under: its id when known, else a stand-in.
    pub fn default_of(&self, vpc: &str) -> String {
        self.default_acl.get(vpc).map(|d| d.0.clone()).unwrap_or_else(|| default_key(vpc))
    }

    /// The move at an event ordinal.
    pub fn move_at(&self, ord: usize) -> Option<&Move> {
        self.moves.iter().find(|m| m.ord == ord)
    }
}

/// Learn the estate from the evidence and the interfaces already known.
pub fn learn(ev: &Evidence, ifaces: &[Interface]) -> Network {
    let mut n = Network::default();
    // Snapshots: ACLs and their VPCs, defaults; subnets.
    for (_, id, vpc, item, config) in &ev.acl_snapshots {
        n.snapshot_acls.insert(id.clone());
        if let Some(v) = vpc {
            n.acl_vpc.insert(id.clone(), (v.clone(), Basis::snapshot(*config)));
            if super::as_bool(get(item, "IsDefault")) == Some(true) {
                let what = if *config { "an AWS Config item" } else { "the inventory" };
                n.default_acl.insert(
                    v.clone(),
                    (id.clone(), Basis::snapshot(*config), format!("{what} shows {id} as the default ACL of {v}")),
                );
            }
        }
    }
    n.subnets = subnets_of(ev);
    // CloudTrail: VPCs, subnets and ACLs created in the evidence.
    for (ord, e) in ev.events.iter().enumerate() {
        match e.name.as_str() {
            "CreateVpc" => {
                let vpc = get(&e.response, "vpc").unwrap_or(&e.response);
                if let Some(id) = as_str(get(vpc, "vpcId")) {
                    let ipv6 = super::vpc_blocks(e).iter().any(|b| matches!(b, IpNet::V6(_)))
                        || super::as_bool(get(&e.request, "amazonProvidedIpv6CidrBlock")) == Some(true);
                    n.created_vpcs.insert(
                        id,
                        CreatedVpc {
                            ord,
                            time: e.time,
                            event_id: e.event_id.clone(),
                            ipv6,
                            account_id: e.account_id.clone(),
                            region: e.region.clone(),
                        },
                    );
                }
            }
            "CreateNetworkAcl" if e.error_code.is_none() => {
                let acl = get(&e.response, "networkAcl");
                if let Some(id) = acl.and_then(|a| as_str(get(a, "networkAclId"))) {
                    n.created_acls.insert(id.clone());
                    if let Some(v) =
                        as_str(get(&e.request, "vpcId")).or_else(|| acl.and_then(|a| as_str(get(a, "vpcId"))))
                    {
                        n.acl_vpc.insert(id, (v, Basis::Cloudtrail));
                    }
                }
            }
            _ => {}
        }
    }
    // Interfaces name their subnet and VPC (CloudTrail responses, inventory, flow records).
    for i in ifaces {
        if let (Some(sub), Some(vpc)) = (&i.subnet_id, &i.vpc_id) {
            let s = n.subnets.entry(sub.clone()).or_default();
            if s.vpc.is_none() {
                s.vpc = Some(vpc.clone());
                if s.basis == Basis::Unknown {
                    s.basis = Basis::parse(&i.basis).unwrap_or(Basis::Unknown);
                }
            }
        }
    }
    for s in n.subnets.values_mut() {
        s.cidrs.sort();
        s.cidrs.dedup();
    }
    resolve_moves(ev, &mut n);
    infer_lone_defaults(ev, ifaces, &mut n);
    // Stand-ins give way to the ids learned later in the walk.
    let ids: HashMap<String, String> =
        n.default_acl.iter().map(|(v, (id, _, _))| (default_key(v), id.clone())).collect();
    for m in &mut n.moves {
        if let Some(id) = m.from_acl.as_ref().and_then(|k| ids.get(k)) {
            m.from_acl = Some(id.clone());
        }
    }
    n
}

/// Subnets, their VPCs and ranges, from snapshots and `CreateSubnet` / `AssociateSubnetCidrBlock`.
pub fn subnets_of(ev: &Evidence) -> BTreeMap<String, Subnet> {
    let mut subnets: BTreeMap<String, Subnet> = BTreeMap::new();
    for (id, vpc, cidrs, config) in &ev.subnet_snapshots {
        let s = subnets.entry(id.clone()).or_default();
        s.vpc = s.vpc.clone().or(vpc.clone());
        s.cidrs.extend(cidrs.iter().cloned());
        s.basis = Basis::snapshot(*config);
    }
    for e in &ev.topology_events {
        if e.name != "CreateSubnet" && e.name != "AssociateSubnetCidrBlock" {
            continue;
        }
        let sub = get(&e.response, "subnet").unwrap_or(&e.response);
        let Some(id) = as_str(get(sub, "subnetId")).or_else(|| as_str(get(&e.request, "subnetId"))) else { continue };
        let s = subnets.entry(id).or_default();
        if e.name == "CreateSubnet" {
            s.created = Some((e.time, e.event_id.clone()));
            s.vpc = as_str(get(sub, "vpcId")).or_else(|| as_str(get(&e.request, "vpcId"))).or(s.vpc.clone());
            if s.basis == Basis::Unknown {
                s.basis = Basis::Cloudtrail;
            }
        }
        s.cidrs.extend(subnets_of_event(e));
    }
    for s in subnets.values_mut() {
        s.cidrs.sort();
        s.cidrs.dedup();
    }
    subnets
}

/// The ranges a `CreateSubnet` or `AssociateSubnetCidrBlock` call gives a subnet.
pub fn subnets_of_event(e: &super::Event) -> Vec<IpNet> {
    let sub = get(&e.response, "subnet").unwrap_or(&e.response);
    let mut out = Vec::new();
    for v in [sub, &e.request] {
        for key in ["cidrBlock", "ipv6CidrBlock"] {
            out.extend(as_str(get(v, key)).and_then(|c| c.parse::<IpNet>().ok()));
        }
    }
    for set in ["ipv6CidrBlockAssociationSet", "ipv6CidrBlockAssociation"] {
        for a in list(sub, set) {
            out.extend(as_str(get(a, "ipv6CidrBlock")).and_then(|c| c.parse::<IpNet>().ok()));
        }
    }
    out
}

/// A VPC created in the evidence whose ACL `acl` is: `acl` is its default when no
/// `CreateNetworkAcl` made it and no snapshot says otherwise.
fn note_default(n: &mut Network, acl: &str, vpc: &str) {
    if n.created_acls.contains(acl) || n.default_acl.contains_key(vpc) || !n.created_vpcs.contains_key(vpc) {
        return;
    }
    n.default_acl.insert(
        vpc.to_string(),
        (
            acl.to_string(),
            Basis::Cloudtrail,
            format!("{vpc} was created in the evidence and {acl}, in it, was not created by any call: its default ACL"),
        ),
    );
}

/// What each association id is known to be: (subnet, ACL key, basis, reason).
type AssocIds = HashMap<String, (Option<String>, Option<String>, Basis, String)>;

/// Walk the `ReplaceNetworkAclAssociation` calls in time order.
fn resolve_moves(ev: &Evidence, n: &mut Network) {
    // What each association id is known to be: (subnet, acl key, basis, reason).
    let mut ids: AssocIds = HashMap::new();
    for (_, acl, _, item, config) in &ev.acl_snapshots {
        for a in list(item, "Associations") {
            if let Some(aid) = as_str(get(a, "NetworkAclAssociationId")) {
                let what = if *config { "an AWS Config item" } else { "the inventory" };
                ids.insert(
                    aid.clone(),
                    (
                        as_str(get(a, "SubnetId")),
                        Some(acl.clone()),
                        Basis::snapshot(*config),
                        format!("{what} shows {aid}"),
                    ),
                );
            }
        }
    }
    // Subnets moved so far: on which ACL.
    let mut moved: HashMap<String, String> = HashMap::new();
    for (ord, e) in ev.events.iter().enumerate() {
        if e.name != "ReplaceNetworkAclAssociation" || e.error_code.is_some() {
            continue;
        }
        let Some(to) = as_str(get(&e.request, "networkAclId")) else { continue };
        let old = as_str(get(&e.request, "associationId"));
        let new = as_str(get(&e.response, "newAssociationId"));
        let mut m = Move {
            ord,
            time: e.time,
            event_id: e.event_id.clone(),
            to_acl: to.clone(),
            old_assoc: old.clone(),
            new_assoc: new.clone(),
            ..Default::default()
        };
        let known_old = old.as_ref().and_then(|i| ids.get(i)).cloned();
        let known_new = new.as_ref().and_then(|i| ids.get(i)).cloned();
        if let Some((subnet, acl, basis, why)) = known_old.clone().filter(|k| k.0.is_some()) {
            m.subnet = subnet;
            m.from_acl = acl;
            m.basis = basis;
            m.reason =
                format!("{why} ({} on {})", m.subnet.as_deref().unwrap_or("?"), m.from_acl.as_deref().unwrap_or("?"));
        } else if let Some((None, acl, _, why)) =
            known_old.clone().filter(|_| known_new.as_ref().is_none_or(|k| k.0.is_none()))
        {
            // The association an earlier move made, of a subnet that move did not name: the ACL
            // it leaves is known; the subnet is the earlier move's (matched after the walk).
            m.from_acl = acl;
            m.basis = Basis::Unknown;
            m.reason = format!("{why}; the subnet of that association is not known");
        } else if let Some((Some(subnet), _, basis, why)) = known_new {
            // The subnet from the id the move made; the ACL it left from the subnet's story so far.
            m.from_acl = known_old.and_then(|k| k.1).or_else(|| moved.get(&subnet).cloned()).or_else(|| {
                n.subnets
                    .get(&subnet)
                    .filter(|s| s.created.is_some())
                    .and_then(|s| s.vpc.clone())
                    .map(|v| n.default_of(&v))
            });
            m.basis = basis.max(Basis::Cloudtrail);
            m.reason = format!("{why}, the association this move made (subnet {subnet})");
            if m.from_acl.is_none() {
                m.reason.push_str("; the ACL it left is in no call or snapshot");
            }
            m.subnet = Some(subnet);
        } else {
            // An id never seen before. In a VPC created in the evidence, the first association of
            // a subnet created there: the subnet left the VPC's default ACL.
            let vpc = n.acl_vpc.get(&to).map(|v| v.0.clone());
            match vpc.as_deref().filter(|v| n.created_vpcs.contains_key(*v)) {
                Some(v) => {
                    let candidates: Vec<String> = first_associations(n, v, e.time, &moved);
                    m.from_acl = Some(n.default_of(v));
                    match candidates.as_slice() {
                        [one] => {
                            m.subnet = Some(one.clone());
                            m.basis = Basis::Cloudtrail;
                            m.reason = format!(
                                "{} is the only subnet of {v} (created in the evidence) still on its first \
                                    association, the default ACL",
                                one
                            );
                        }
                        [] => {
                            m.basis = Basis::Unknown;
                            m.reason = format!(
                                "association {} is in no snapshot nor earlier call, and no subnet of {v} created in \
                                    the evidence is left on the default ACL",
                                old.as_deref().unwrap_or("?")
                            );
                        }
                        many => {
                            m.candidates = many.to_vec();
                            m.basis = Basis::Unknown;
                            m.reason = format!(
                                "one of the {} subnets of {v} still on the default ACL ({}); the call does not say \
                                    which",
                                many.len(),
                                many.join(", ")
                            );
                        }
                    }
                }
                None => {
                    m.basis = Basis::Unknown;
                    m.reason = format!(
                        "association {} is in no snapshot nor earlier call{}",
                        old.as_deref().unwrap_or("?"),
                        if vpc.is_none() { format!(", and the VPC of {to} is not known") } else { String::new() }
                    );
                }
            }
        }
        if let Some(s) = &m.subnet {
            if let Some(v) = n.vpc_of_subnet(s).map(str::to_string) {
                n.acl_vpc.entry(to.clone()).or_insert((v.clone(), Basis::Cloudtrail));
                note_default(n, &to, &v);
                if let Some(from) = m.from_acl.clone().filter(|f| !super::network::is_stand_in(f)) {
                    n.acl_vpc.entry(from.clone()).or_insert((v.clone(), Basis::Cloudtrail));
                    note_default(n, &from, &v);
                }
            }
            moved.insert(s.clone(), to.clone());
        }
        if let Some(id) = &new {
            ids.insert(
                id.clone(),
                (m.subnet.clone(), Some(to.clone()), m.basis, format!("{} returned {id}", e.event_id)),
            );
        }
        n.moves.push(m);
    }
    group_moves(n, &mut ids);
    chain_subnets(&mut n.moves);
}

/// Carry the subnet along the chain of association ids both ways: a move that made the
/// association a later move of a known subnet replaced is of that subnet (a snapshot taken after
/// the moves shows only the last association), and a move of an association an earlier move made
/// is of the earlier move's subnet.
pub fn chain_subnets(moves: &mut [Move]) {
    for i in (0..moves.len()).rev() {
        let Some(subnet) = moves[i].subnet.clone() else { continue };
        let Some(old) = moves[i].old_assoc.clone() else { continue };
        let (basis, event) = (moves[i].basis, moves[i].event_id.clone());
        if let Some(earlier) = moves[..i].iter_mut().rev().find(|m| m.new_assoc.as_ref() == Some(&old))
            && earlier.subnet.is_none()
        {
            earlier.subnet = Some(subnet.clone());
            earlier.basis = basis.max(Basis::Cloudtrail);
            earlier.reason = format!("it made {old}, which {event} later moved for {subnet} ({})", earlier.reason);
        }
    }
    for i in 0..moves.len() {
        if moves[i].subnet.is_some() {
            continue;
        }
        let Some(old) = moves[i].old_assoc.clone() else { continue };
        let Some(earlier) = moves[..i].iter().rev().find(|m| m.new_assoc.as_ref() == Some(&old)).cloned() else {
            continue;
        };
        let m = &mut moves[i];
        m.candidates = earlier.candidates.clone();
        if let Some(s) = earlier.subnet {
            m.basis = earlier.basis.max(Basis::Cloudtrail);
            m.reason = format!("{old} was made by {} for {s} ({})", earlier.event_id, earlier.reason);
            m.subnet = Some(s);
        }
    }
}

/// Subnets of a VPC created in the evidence before `t` that no move has taken yet.
fn first_associations(n: &Network, vpc: &str, t: i64, moved: &HashMap<String, String>) -> Vec<String> {
    n.subnets
        .iter()
        .filter(|(id, s)| {
            s.vpc.as_deref() == Some(vpc)
                && s.created.as_ref().is_some_and(|(c, _)| *c <= t)
                && !moved.contains_key(*id)
        })
        .map(|(id, _)| id.clone())
        .collect()
}

/// Moves that could each be of several subnets: when as many moves take all of those subnets to
/// one ACL, each subnet is on that ACL after the last of them; which move took which is not in
/// the evidence, and the rows say so.
fn group_moves(n: &mut Network, ids: &mut AssocIds) {
    let mut groups: BTreeMap<(String, Vec<String>), Vec<usize>> = BTreeMap::new();
    for (i, m) in n.moves.iter().enumerate() {
        if m.subnet.is_none() && m.candidates.len() > 1 {
            groups.entry((m.to_acl.clone(), m.candidates.clone())).or_default().push(i);
        }
    }
    // Candidates shrink as moves take subnets: a later move of the same burst sees fewer. Join a
    // move to the group whose candidates include all of its own.
    let keys: Vec<(String, Vec<String>)> = groups.keys().cloned().collect();
    for k in &keys {
        for other in &keys {
            if k != other && k.0 == other.0 && k.1.iter().all(|c| other.1.contains(c)) && k.1.len() < other.1.len() {
                let moved = groups.remove(k).unwrap_or_default();
                if let Some(g) = groups.get_mut(other) {
                    g.extend(moved);
                }
                break;
            }
        }
    }
    for ((acl, candidates), mut members) in groups {
        members.sort();
        // Subnets taken by single-candidate moves of the same burst count too.
        if members.len() != candidates.len() {
            continue;
        }
        for (m, subnet) in members.iter().zip(candidates.iter()) {
            let mv = &mut n.moves[*m];
            mv.subnet = Some(subnet.clone());
            mv.basis = Basis::Inferred;
            mv.reason = format!(
                "{} calls moved {} subnets of one VPC ({}) off the default ACL to {acl}: each is on {acl} after the \
                    last; which call moved which is not in the evidence",
                candidates.len(),
                candidates.len(),
                candidates.join(", ")
            );
            if let Some(id) = &mv.new_assoc {
                ids.insert(id.clone(), (Some(subnet.clone()), Some(acl.clone()), Basis::Inferred, mv.reason.clone()));
            }
        }
    }
}

/// An ACL changed in the evidence that no snapshot shows, no call created and no move places:
/// when its account and region hold exactly one VPC the evidence knows of, and that VPC was
/// created in the evidence without a default ACL known, the ACL is taken for that default, as an
/// inference (a VPC made before the evidence, such as the region's default VPC, could own it).
fn infer_lone_defaults(ev: &Evidence, ifaces: &[Interface], n: &mut Network) {
    let mut vpcs_in: HashMap<(Option<String>, Option<String>), BTreeSet<String>> = HashMap::new();
    for (v, c) in &n.created_vpcs {
        vpcs_in.entry((c.account_id.clone(), c.region.clone())).or_default().insert(v.clone());
    }
    for i in ifaces {
        if let Some(v) = &i.vpc_id {
            vpcs_in.entry((i.account_id.clone(), i.region.clone())).or_default().insert(v.clone());
        }
    }
    let placed: BTreeSet<String> = n.acl_vpc.keys().cloned().collect();
    for e in &ev.events {
        if !crate::aws::NACL_ENTRY_EVENTS.contains(&e.name.as_str()) {
            continue;
        }
        let Some(acl) = as_str(get(&e.request, "networkAclId")) else { continue };
        if placed.contains(&acl) || n.created_acls.contains(&acl) || n.snapshot_acls.contains(&acl) {
            continue;
        }
        if n.default_acl.values().any(|d| d.0 == acl) {
            continue;
        }
        let Some(set) = vpcs_in.get(&(e.account_id.clone(), e.region.clone())) else { continue };
        let only: Vec<&String> = set.iter().collect();
        let [v] = only.as_slice() else { continue };
        let v: String = (*v).clone();
        if !n.created_vpcs.contains_key(&v) || n.default_acl.contains_key(&v) {
            continue;
        }
        n.default_acl.insert(
            v.clone(),
            (
                acl.clone(),
                Basis::Inferred,
                format!(
                    "{v}, created in the evidence, is the only VPC known in {} {}, and {acl} was not created by any \
                        call: taken for its default ACL",
                    e.account_id.as_deref().unwrap_or("?"),
                    e.region.as_deref().unwrap_or("?")
                ),
            ),
        );
        n.acl_vpc.insert(acl, (v.clone(), Basis::Inferred));
    }
}

/// The rules AWS gives a new VPC's default ACL: allow all traffic in and out (rule 100, and 101
/// for IPv6 when the VPC has an IPv6 block), then the final deny of each direction.
pub fn default_rules(ipv6: bool) -> Vec<crate::nacl::Entry> {
    let mut out = Vec::new();
    for egress in [false, true] {
        out.push(crate::nacl::Entry::rule(100, egress, "allow", -1, "0.0.0.0/0", None));
        if ipv6 {
            out.push(crate::nacl::Entry::rule(101, egress, "allow", -1, "::/0", None));
        }
    }
    crate::nacl::with_default_rules(out)
}

/// The IPv6 rule AWS adds to a default ACL when an IPv6 block is associated with its VPC later.
pub fn ipv6_default_rule(egress: bool) -> crate::nacl::Entry {
    crate::nacl::Entry::rule(101, egress, "allow", -1, "::/0", None)
}

/// Does an `AssociateVpcCidrBlock` call give its VPC an IPv6 block?
pub fn adds_ipv6(e: &super::Event) -> bool {
    super::as_bool(get(&e.request, "amazonProvidedIpv6CidrBlock")) == Some(true)
        || as_str(get(&e.request, "ipv6Pool")).is_some()
        || super::vpc_blocks(e).iter().any(|b| matches!(b, IpNet::V6(_)))
}

/// The VPC an `AssociateVpcCidrBlock` call names.
pub fn vpc_of_call(e: &super::Event) -> Option<String> {
    as_str(get(&e.request, "vpcId")).or_else(|| as_str(get(&e.response, "vpcId")))
}

/// Every address written anywhere in a JSON value (lists of assigned addresses come in several
/// shapes: `{"items": [...]}`, `{"item": [...]}`, plain strings or objects).
pub fn addresses_in(v: &Value, out: &mut Vec<std::net::IpAddr>) {
    match v {
        Value::String(s) => out.extend(s.parse::<std::net::IpAddr>().ok()),
        Value::Array(a) => a.iter().for_each(|x| addresses_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| addresses_in(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_acl_of_a_new_vpc_allows_all_and_denies_the_rest() {
        let v4 = default_rules(false);
        let peer: std::net::IpAddr = "203.0.113.9".parse().unwrap();
        let peer6: std::net::IpAddr = "2001:db8::9".parse().unwrap();
        for egress in [false, true] {
            assert_eq!(crate::nacl::allows(&v4, egress, 6, peer, Some(22)), Some(true));
            // Without an IPv6 block, IPv6 falls to the final deny.
            assert_eq!(crate::nacl::allows(&v4, egress, 6, peer6, Some(22)), Some(false));
        }
        let dual = default_rules(true);
        assert_eq!(crate::nacl::allows(&dual, false, 17, peer6, Some(53)), Some(true));
        assert_eq!(dual.len(), 6);
    }

    #[test]
    fn the_weakest_basis_decides_and_only_firm_ones_are_certain() {
        assert_eq!(
            [Basis::Cloudtrail, Basis::FlowRecords, Basis::Inventory].into_iter().max(),
            Some(Basis::FlowRecords)
        );
        assert!(Basis::FlowRecords.certain());
        assert!(!Basis::Inferred.certain());
        assert!(Basis::ALL.iter().all(|b| Basis::parse(b.as_str()) == Some(*b)));
        assert!(is_stand_in(&default_key("vpc-1")));
    }

    #[test]
    fn assigned_addresses_are_found_whatever_the_list_shape() {
        let mut out = Vec::new();
        addresses_in(
            &serde_json::json!({"assignedIpv6Addresses": {"items": ["2600::5", {"ipv6Address": "2600::6"}]}, "networkInterfaceId": "eni-1"}),
            &mut out,
        );
        assert_eq!(out.len(), 2);
    }
}
