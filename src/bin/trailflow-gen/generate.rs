//! Generator of realistic AWS evidence sets with planted incidents and a ground-truth file.
//!
//! It writes CloudTrail (S3 layout, organization trail, a digest file, overlapping copies), VPC
//! Flow Logs (default format in the plain S3 layout, a custom format with `vpc-id`/`subnet-id` in
//! the Hive-style layout) and `describe-*` inventory, for a small network whose Network ACLs change
//! over two days. Flow actions follow the ACL rules in force at each moment, so the evidence is
//! consistent with itself. `ground-truth.json` lists every planted change and its expected verdict.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use serde_json::{Value, json};

use trailflow::error::{Error, Result};

mod late_stories;
mod scenarios;
mod stories;
mod traffic;
mod write;

use scenarios::{Cast, FLOW_LOG_DELETED_HOUR, Planted, at, background_events};
use traffic::{CT_GAP_HOUR, FLOW_GAP_HOUR, Ifaces, traffic};
use write::{write_cloudtrail, write_flow_logs, write_inventory};

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenOptions {
    pub out: PathBuf,
    pub seed: u64,
    /// Hours of evidence.
    pub hours: i64,
    /// Baseline client connections per web interface per hour.
    pub web_clients_per_hour: usize,
    /// Background CloudTrail events per hour per account.
    pub ct_noise_per_hour: usize,
    /// Minutes each delivered file covers: AWS's 5 by default (CloudTrail per account and
    /// region; the default-format flow log every 5 minutes, the others every 10); 60 writes the
    /// few large files of an hourly export.
    pub file_minutes: i64,
    /// AWS's real file count at scale: ten account-regions with activity in nearly every
    /// 5-minute slot, and each VPC's flow log split in two (six flow logs), all delivered every
    /// `file_minutes`. Off for sample-data.
    pub real_count: bool,
}

/// Start of the generated period: 2026-03-10T00:00:00Z, in seconds.
pub const T0: i64 = 1_773_100_800;
const H: i64 = 3600;

/// SplitMix64: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % ((hi - lo).max(1) as u64)) as i64
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1_000_000.0 < p
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[(self.next() % v.len() as u64) as usize]
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| format!("{:x}", self.next() % 16)).collect()
    }
    fn uuid(&mut self) -> String {
        format!("{}-{}-4{}-{}-{}", self.hex(8), self.hex(4), self.hex(3), self.hex(4), self.hex(12))
    }
    /// A public IPv4 address outside the documentation and private ranges.
    fn public_ip(&mut self) -> String {
        loop {
            let a = self.range(1, 224);
            if [10, 100, 127, 169, 172, 192, 198, 203, 45, 185].contains(&a) {
                continue;
            }
            return format!("{a}.{}.{}.{}", self.range(0, 256), self.range(0, 256), self.range(1, 255));
        }
    }
}

// ---------------------------------------------------------------- network model

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    number: i64,
    egress: bool,
    allow: bool,
    /// -1 for all.
    protocol: i64,
    cidr: String,
    ports: Option<(i64, i64)>,
}

fn rule(number: i64, egress: bool, allow: bool, protocol: i64, cidr: &str, ports: Option<(i64, i64)>) -> Rule {
    Rule { number, egress, allow, protocol, cidr: cidr.into(), ports }
}

fn cidr_has(cidr: &str, ip: &str) -> bool {
    match (cidr.parse::<ipnet::IpNet>(), ip.parse::<std::net::IpAddr>()) {
        (Ok(net), Ok(addr)) => net.contains(&addr),
        _ => false,
    }
}

/// AWS evaluation: lowest-numbered matching rule decides; nothing matching denies.
///
/// This evaluator is the generator's own and deliberately not the product's
/// (`trailflow::nacl`): it decides which planted flows are ACCEPTed or REJECTed, that is the
/// ground truth the correlation is tested against, so it must not share the code it checks. It
/// knows only what the generator plants (no unknown entries, no ICMP codes).
fn acl_allows(rules: &[Rule], egress: bool, protocol: i64, peer: &str, port: i64) -> bool {
    let mut rs: Vec<&Rule> = rules.iter().filter(|r| r.egress == egress).collect();
    rs.sort_by_key(|r| r.number);
    for r in rs {
        let proto_ok = r.protocol == -1 || r.protocol == protocol;
        let port_ok = match (r.protocol, r.ports) {
            (6 | 17, Some((a, b))) => (a..=b).contains(&port),
            _ => true,
        };
        if proto_ok && port_ok && cidr_has(&r.cidr, peer) {
            return r.allow;
        }
    }
    false
}

#[derive(Debug, Clone)]
struct Eni {
    id: &'static str,
    ip: &'static str,
    subnet: &'static str,
    vpc: &'static str,
    account: &'static str,
    az: &'static str,
    instance: &'static str,
    /// When it came into being (seconds), for interfaces created during the period.
    since: i64,
}

const ACCT_A: &str = "111111111111";
const ACCT_B: &str = "222222222222";
const ORG: &str = "o-a1b2c3d4e5";

fn enis() -> Vec<Eni> {
    let e = |id, ip, subnet, vpc, account, _region: &'static str, az, instance, since| Eni {
        id,
        ip,
        subnet,
        vpc,
        account,
        az,
        instance,
        since,
    };
    vec![
        e(
            "eni-0a1f0000000000web1",
            "10.0.1.10",
            "subnet-0a1000000000web",
            "vpc-0a1000000000000001",
            ACCT_A,
            "us-east-1",
            "us-east-1a",
            "i-0a10000000000web1",
            0,
        ),
        e(
            "eni-0a1f0000000000web2",
            "10.0.1.11",
            "subnet-0a1000000000web",
            "vpc-0a1000000000000001",
            ACCT_A,
            "us-east-1",
            "us-east-1a",
            "i-0a10000000000web2",
            0,
        ),
        e(
            "eni-0a1f0000000bastion",
            "10.0.1.5",
            "subnet-0a1000000000web",
            "vpc-0a1000000000000001",
            ACCT_A,
            "us-east-1",
            "us-east-1a",
            "i-0a100000000bastion",
            0,
        ),
        e(
            "eni-0a1f0000000000app1",
            "10.0.2.20",
            "subnet-0a1000000000app",
            "vpc-0a1000000000000001",
            ACCT_A,
            "us-east-1",
            "us-east-1b",
            "i-0a10000000000app1",
            0,
        ),
        e(
            "eni-0a1f00000000000db1",
            "10.0.3.30",
            "subnet-0a10000000000db",
            "vpc-0a1000000000000001",
            ACCT_A,
            "us-east-1",
            "us-east-1b",
            "i-0a100000000000db1",
            0,
        ),
        e(
            "eni-0a1f0000000000web3",
            "10.0.1.12",
            "subnet-0a1000000000web",
            "vpc-0a1000000000000001",
            ACCT_A,
            "us-east-1",
            "us-east-1a",
            "i-0a10000000000web3",
            T0 + 12 * H,
        ),
        e(
            "eni-0a2f00000000000rdp",
            "10.1.1.40",
            "subnet-0a20000000000a1",
            "vpc-0a2000000000000002",
            ACCT_A,
            "us-east-1",
            "us-east-1c",
            "i-0a2000000000000rdp",
            0,
        ),
        e(
            "eni-0b1f000000000000b1",
            "172.16.1.10",
            "subnet-0b10000000000a1",
            "vpc-0b1000000000000003",
            ACCT_B,
            "eu-west-1",
            "eu-west-1a",
            "i-0b100000000000000b1",
            0,
        ),
        e(
            "eni-0b1f000000000000b2",
            "172.16.1.11",
            "subnet-0b10000000000a1",
            "vpc-0b1000000000000003",
            ACCT_B,
            "eu-west-1",
            "eu-west-1a",
            "i-0b100000000000000b2",
            0,
        ),
    ]
}

fn initial_acls() -> BTreeMap<&'static str, Vec<Rule>> {
    let deny_all = |egress| rule(32767, egress, false, -1, "0.0.0.0/0", None);
    let mut m = BTreeMap::new();
    m.insert(
        "acl-0a1000000000000web",
        vec![
            rule(50, false, false, -1, "45.137.21.0/24", None),
            rule(100, false, true, 6, "0.0.0.0/0", Some((443, 443))),
            rule(110, false, true, 6, "0.0.0.0/0", Some((80, 80))),
            rule(120, false, true, 6, "10.0.0.0/16", Some((22, 22))),
            rule(130, false, true, 6, "0.0.0.0/0", Some((1024, 65535))),
            deny_all(false),
            rule(100, true, true, -1, "0.0.0.0/0", None),
            deny_all(true),
        ],
    );
    m.insert(
        "acl-0a1000000000000app",
        vec![
            rule(100, false, true, 6, "10.0.1.0/24", Some((8080, 8080))),
            rule(110, false, true, 6, "10.0.1.5/32", Some((22, 22))),
            rule(120, false, true, 6, "0.0.0.0/0", Some((1024, 65535))),
            deny_all(false),
            rule(100, true, true, -1, "0.0.0.0/0", None),
            deny_all(true),
        ],
    );
    m.insert(
        "acl-0a10000000000000db",
        vec![
            rule(100, false, true, 6, "10.0.2.0/24", Some((5432, 5432))),
            rule(120, false, true, 6, "0.0.0.0/0", Some((1024, 65535))),
            deny_all(false),
            rule(100, true, true, 6, "10.0.0.0/16", Some((1024, 65535))),
            deny_all(true),
        ],
    );
    m.insert(
        "acl-0a2000000000000001",
        vec![
            rule(100, false, true, 6, "0.0.0.0/0", Some((3389, 3389))),
            rule(110, false, true, 6, "0.0.0.0/0", Some((1024, 65535))),
            deny_all(false),
            rule(100, true, true, -1, "0.0.0.0/0", None),
            deny_all(true),
        ],
    );
    m.insert(
        "acl-0b1000000000000001",
        vec![
            rule(100, false, true, 6, "0.0.0.0/0", Some((443, 443))),
            // Return traffic on Linux's ephemeral ports only: RDP (3389) stays closed.
            rule(110, false, true, 6, "0.0.0.0/0", Some((32768, 65535))),
            deny_all(false),
            rule(100, true, true, -1, "0.0.0.0/0", None),
            deny_all(true),
        ],
    );
    m
}

/// subnet -> (acl, association id), at the start.
fn initial_associations() -> BTreeMap<&'static str, (&'static str, String)> {
    let mut m = BTreeMap::new();
    m.insert("subnet-0a1000000000web", ("acl-0a1000000000000web", "aclassoc-0a100000000web".to_string()));
    m.insert("subnet-0a1000000000app", ("acl-0a1000000000000app", "aclassoc-0a100000000app".to_string()));
    m.insert("subnet-0a10000000000db", ("acl-0a10000000000000db", "aclassoc-0a1000000000db".to_string()));
    m.insert("subnet-0a20000000000a1", ("acl-0a2000000000000001", "aclassoc-0a200000000a1".to_string()));
    m.insert("subnet-0b10000000000a1", ("acl-0b1000000000000001", "aclassoc-0b100000000a1".to_string()));
    m
}

fn vpc_of_acl(acl: &str) -> &'static str {
    if acl.starts_with("acl-0a1") {
        "vpc-0a1000000000000001"
    } else if acl.starts_with("acl-0a2") {
        "vpc-0a2000000000000002"
    } else {
        "vpc-0b1000000000000003"
    }
}

/// A change to the network, applied at its time.
#[derive(Debug, Clone)]
enum Change {
    Upsert { acl: &'static str, rule: Rule },
    Delete { acl: &'static str, egress: bool, number: i64 },
    Swap { subnet: &'static str, acl: &'static str, new_assoc: String },
    NewAcl { acl: &'static str },
}

/// Each ACL's rules.
type AclRules = BTreeMap<&'static str, Vec<Rule>>;
/// Each subnet's ACL and association id.
type SubnetAcls = BTreeMap<&'static str, (&'static str, String)>;

/// The state of ACLs and associations over time.
struct Network {
    /// (time, change), sorted.
    changes: Vec<(i64, Change)>,
}

impl Network {
    fn state_at(&self, t: i64) -> (AclRules, SubnetAcls) {
        let mut acls = initial_acls();
        let mut assoc = initial_associations();
        for (ct, c) in &self.changes {
            if *ct > t {
                break;
            }
            match c {
                Change::Upsert { acl, rule } => {
                    let rs = acls.entry(acl).or_default();
                    rs.retain(|r| !(r.egress == rule.egress && r.number == rule.number));
                    rs.push(rule.clone());
                }
                Change::Delete { acl, egress, number } => {
                    if let Some(rs) = acls.get_mut(acl) {
                        rs.retain(|r| !(r.egress == *egress && r.number == *number));
                    }
                }
                Change::Swap { subnet, acl, new_assoc } => {
                    assoc.insert(subnet, (acl, new_assoc.clone()));
                }
                Change::NewAcl { acl } => {
                    acls.insert(
                        acl,
                        vec![
                            rule(32767, false, false, -1, "0.0.0.0/0", None),
                            rule(32767, true, false, -1, "0.0.0.0/0", None),
                        ],
                    );
                }
            }
        }
        (acls, assoc)
    }

    /// Is traffic into (`egress` false) or out of an interface allowed at time t?
    fn allows(&self, t: i64, eni: &Eni, egress: bool, protocol: i64, peer: &str, port: i64) -> bool {
        let (acls, assoc) = self.state_at(t);
        let Some((acl, _)) = assoc.get(eni.subnet) else {
            return false;
        };
        acls.get(acl).is_some_and(|rs| acl_allows(rs, egress, protocol, peer, port))
    }
}

// ---------------------------------------------------------------- CloudTrail

#[derive(Debug, Clone)]
struct Actor {
    arn: String,
    kind: &'static str,
    name: Option<String>,
    principal: String,
    account: &'static str,
    key: String,
    ip: String,
    ua: String,
    issuer: Option<String>,
}

fn iam_user(account: &'static str, name: &str, key: &str, ip: &str, ua: &str) -> Actor {
    Actor {
        arn: format!("arn:aws:iam::{account}:user/{name}"),
        kind: "IAMUser",
        name: Some(name.into()),
        principal: format!("AIDA{}", key.trim_start_matches("AKIA")),
        account,
        key: key.into(),
        ip: ip.into(),
        ua: ua.into(),
        issuer: None,
    }
}

fn role_session(account: &'static str, role: &str, session: &str, key: &str, ip: &str, ua: &str) -> Actor {
    Actor {
        arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session}"),
        kind: "AssumedRole",
        name: None,
        principal: format!("AROA{}:{session}", key.trim_start_matches("ASIA")),
        account,
        key: key.into(),
        ip: ip.into(),
        ua: ua.into(),
        issuer: Some(format!("arn:aws:iam::{account}:role/{role}")),
    }
}

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string()).unwrap_or_default()
}

struct CtEvent {
    time: i64,
    account: &'static str,
    region: &'static str,
    value: Value,
    /// Written to a file of its own for its 5-minute slot (CloudTrail delivers several files per
    /// slot when events keep coming), so that events planted later leave the others' files as
    /// they were.
    own_file: bool,
}

#[allow(clippy::too_many_arguments)]
fn ct_event(
    rng: &mut Rng,
    time: i64,
    region: &'static str,
    actor: &Actor,
    source: &str,
    name: &str,
    req: Value,
    resp: Value,
    error: Option<(&str, String)>,
    read_only: bool,
) -> CtEvent {
    let mut ident = json!({
        "type": actor.kind,
        "principalId": actor.principal,
        "arn": actor.arn,
        "accountId": actor.account,
        "accessKeyId": actor.key,
    });
    if let Some(n) = &actor.name {
        ident["userName"] = json!(n);
    }
    if let Some(issuer) = &actor.issuer {
        ident["sessionContext"] = json!({
            "sessionIssuer": {"type": "Role", "principalId": actor.principal.split(':').next().unwrap_or(""), "arn": issuer,
                               "accountId": actor.account, "userName": issuer.rsplit('/').next().unwrap_or("")},
            "webIdFederationData": {},
            "attributes": {"creationDate": iso(time - 1800), "mfaAuthenticated": "false"}
        });
    }
    let request_id = rng.uuid();
    let mut v = json!({
        "eventVersion": "1.10",
        "userIdentity": ident,
        "eventTime": iso(time),
        "eventSource": source,
        "eventName": name,
        "awsRegion": region,
        "sourceIPAddress": actor.ip,
        "userAgent": actor.ua,
        "requestParameters": req,
        "responseElements": resp,
        "requestID": request_id,
        "eventID": rng.uuid(),
        "readOnly": read_only,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": actor.account,
        "eventCategory": "Management",
        "tlsDetails": {"tlsVersion": "TLSv1.3", "cipherSuite": "TLS_AES_128_GCM_SHA256", "clientProvidedHostHeader": format!("{}.{region}.amazonaws.com", source.split('.').next().unwrap_or("ec2"))}
    });
    if let Some((code, msg)) = error {
        v["errorCode"] = json!(code);
        v["errorMessage"] = json!(msg);
        v["responseElements"] = Value::Null;
    }
    CtEvent { time, account: actor.account, region, value: v, own_file: false }
}

fn entry_params(acl: &str, r: &Rule) -> Value {
    let mut p = json!({
        "networkAclId": acl,
        "ruleNumber": r.number,
        "egress": r.egress,
        "ruleAction": if r.allow { "allow" } else { "deny" },
        "icmpTypeCode": {},
        "aclProtocol": r.protocol.to_string(),
    });
    // IPv6 rules carry `ipv6CidrBlock` instead of `cidrBlock`.
    p[if r.cidr.contains(':') { "ipv6CidrBlock" } else { "cidrBlock" }] = json!(r.cidr);
    p["portRange"] = match r.ports {
        Some((a, b)) => json!({"from": a, "to": b}),
        None => json!({}),
    };
    p
}

// ---------------------------------------------------------------- flows

#[derive(Debug, Clone)]
struct Flow {
    eni: usize,
    src: String,
    dst: String,
    srcport: i64,
    dstport: i64,
    protocol: i64,
    packets: i64,
    bytes: i64,
    start: i64,
    end: i64,
    action: &'static str,
    status: &'static str,
    tcp_flags: i64,
    direction: &'static str,
}

struct FlowGen<'a> {
    rng: Rng,
    enis: &'a [Eni],
    net: &'a Network,
    flows: Vec<Flow>,
}

impl FlowGen<'_> {
    /// One connection seen on interface `e`: inbound from `peer` to `port` (and the reply when
    /// both directions are allowed), or outbound when `outbound`.
    #[allow(clippy::too_many_arguments)]
    fn conn(&mut self, e: usize, t: i64, peer: &str, port: i64, protocol: i64, bytes: i64, outbound: bool) {
        let eni = &self.enis[e];
        let eph = self.rng.range(32768, 61000);
        let dur = self.rng.range(1, 55);
        let packets = (bytes / 900).max(1);
        let (first_egress, first_port, reply_port) = if outbound { (true, port, eph) } else { (false, port, eph) };
        let ok = self.net.allows(t, eni, first_egress, protocol, peer, first_port);
        let (src, dst, sp, dp) = if outbound {
            (eni.ip.to_string(), peer.to_string(), eph, port)
        } else {
            (peer.to_string(), eni.ip.to_string(), eph, port)
        };
        let flags = if protocol == 6 { if ok { 19 } else { 2 } } else { 0 };
        let dir = if outbound { "egress" } else { "ingress" };
        self.flows.push(Flow {
            eni: e,
            src: src.clone(),
            dst: dst.clone(),
            srcport: sp,
            dstport: dp,
            protocol,
            packets: if ok { packets } else { 1 + self.rng.range(0, 3) },
            bytes: if ok { bytes } else { 44 * (1 + self.rng.range(0, 3)) },
            start: t,
            end: t + dur,
            action: if ok { "ACCEPT" } else { "REJECT" },
            status: "OK",
            tcp_flags: flags,
            direction: dir,
        });
        // The reply, when the request got through and the way back is open.
        if ok && self.net.allows(t, eni, !first_egress, protocol, peer, reply_port) {
            let reply_bytes = if outbound { bytes / 20 + 200 } else { bytes * 3 + 400 };
            self.flows.push(Flow {
                eni: e,
                src: dst,
                dst: src,
                srcport: dp,
                dstport: sp,
                protocol,
                packets: (reply_bytes / 900).max(1),
                bytes: reply_bytes,
                start: t,
                end: t + dur,
                action: "ACCEPT",
                status: "OK",
                tcp_flags: if protocol == 6 { 27 } else { 0 },
                direction: if outbound { "ingress" } else { "egress" },
            });
        }
    }

    fn nodata(&mut self, e: usize, t: i64) {
        self.flows.push(Flow {
            eni: e,
            src: String::new(),
            dst: String::new(),
            srcport: 0,
            dstport: 0,
            protocol: 0,
            packets: 0,
            bytes: 0,
            start: t,
            end: t + 60,
            action: "",
            status: "NODATA",
            tcp_flags: 0,
            direction: "",
        });
    }
}

// ---------------------------------------------------------------- writing

fn write_gz(path: &Path, data: &[u8]) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
    }
    let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut gz = GzEncoder::new(std::io::BufWriter::new(f), Compression::new(6));
    gz.write_all(data).map_err(|e| Error::io(path, e))?;
    gz.finish().and_then(|mut w| w.flush()).map_err(|e| Error::io(path, e))?;
    Ok(())
}

fn write_text(path: &Path, data: &str) -> Result<()> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).map_err(|e| Error::io(p, e))?;
    }
    std::fs::write(path, data).map_err(|e| Error::io(path, e))
}

fn ymd(t: i64) -> (String, String, String, String) {
    let d = chrono::DateTime::from_timestamp(t, 0).expect("valid time");
    (d.format("%Y").to_string(), d.format("%m").to_string(), d.format("%d").to_string(), d.format("%H").to_string())
}

const DEFAULT_HEADER: &str = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes \
    start end action log-status";
const CUSTOM_HEADER: &str = "version vpc-id subnet-id instance-id interface-id account-id type srcaddr dstaddr \
    srcport dstport pkt-srcaddr pkt-dstaddr protocol bytes packets start end action tcp-flags log-status \
    flow-direction";

fn dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn flow_line(f: &Flow, e: &Eni, custom: bool) -> String {
    let nodata = f.status != "OK";
    let num = |n: i64| {
        if nodata { "-".to_string() } else { n.to_string() }
    };
    if custom {
        format!(
            "5 {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {} {}",
            e.vpc,
            e.subnet,
            e.instance,
            e.id,
            e.account,
            if nodata { "-" } else { "IPv4" },
            dash(&f.src),
            dash(&f.dst),
            num(f.srcport),
            num(f.dstport),
            dash(&f.src),
            dash(&f.dst),
            num(f.protocol),
            num(f.bytes),
            num(f.packets),
            f.start,
            f.end,
            dash(f.action),
            num(f.tcp_flags),
            f.status,
            dash(f.direction)
        )
    } else {
        format!(
            "2 {} {} {} {} {} {} {} {} {} {} {} {} {}",
            e.account,
            e.id,
            dash(&f.src),
            dash(&f.dst),
            num(f.srcport),
            num(f.dstport),
            num(f.protocol),
            num(f.packets),
            num(f.bytes),
            f.start,
            f.end,
            dash(f.action),
            f.status
        )
    }
}

// ---------------------------------------------------------------- the case

/// Generate an evidence set. Returns the ground truth that was written beside it.
pub fn generate(opts: &GenOptions) -> Result<Value> {
    let mut rng = Rng(opts.seed ^ 0x5EED);
    let enis = enis();
    let end = T0 + opts.hours * H;
    let cast = Cast::new();
    let mut planted = Planted::default();
    planted.scenarios(&mut rng, &cast, &scenarios::scenarios());
    planted.activity(&mut rng, &cast, scenarios::activity(&cast));
    // Planted later, from a random stream of its own: the events above keep their ids.
    let mut xr = Rng(opts.seed.wrapping_mul(97) ^ 0x5EED_F00D);
    planted.scenarios(&mut xr, &cast, &scenarios::later_scenarios());
    planted.activity(&mut xr, &cast, scenarios::later_activity(&cast));
    planted.events.extend(background_events(&mut rng, opts, &cast));
    // The regions a multi-region trail also covers, where little happens: from a stream of their
    // own, so the events above keep their ids.
    planted.events.extend(scenarios::sparse_region_events(&mut Rng(opts.seed.wrapping_mul(131) ^ 0x5EA5), opts, &cast));
    if opts.real_count {
        // Ten account-regions, each busy enough to deliver a file nearly every five minutes.
        planted.events.extend(scenarios::busy_region_events(
            &mut Rng(opts.seed.wrapping_mul(241) ^ 0xB05E),
            opts,
            &cast,
        ));
    }
    // The identity story, from a stream of its own as well.
    planted.identity_story(&mut Rng(opts.seed.wrapping_mul(173) ^ 0x1D5), &cast);
    // What the intruder did around it that a case file must show (an escalation that worked, the
    // probe of the backups' recovery settings, a logging change breaking delivery): from a stream
    // of its own, in files of their own.
    planted.recovery_story(&mut Rng(opts.seed.wrapping_mul(211) ^ 0x5ECE), &cast);
    // The contractor's security-group work: a stream and files of its own as well.
    planted.security_group_story(&mut Rng(opts.seed.wrapping_mul(251) ^ 0x5EC6), &cast);
    let Planted { mut events, mut changes, mut truth_changes, mut other } = planted;
    // An evidence gap: no CloudTrail at all from account A in us-east-1 for one hour.
    events.retain(|e| !(e.account == ACCT_A && e.region == "us-east-1" && (e.time - T0) / H == CT_GAP_HOUR));
    changes.sort_by_key(|c| c.0);
    let net = Network { changes };
    let flows = traffic(opts, &enis, &net, &mut other);
    let out = &opts.out;
    let flow_records = write_flow_logs(&mut rng, out, &enis, &flows, opts.file_minutes, opts.real_count)?;
    let mut own = Rng(opts.seed.wrapping_mul(223) ^ 0xF11E);
    let (dup_count, removed) = write_cloudtrail(&mut rng, &mut own, out, &events, opts.file_minutes)?;
    other.push(json!({"scenario": "log_file_removed_from_bucket", "object": removed}));
    let inventory_items = write_inventory(out, &net, &enis, end)?;
    let (inv_time, gap_hour, ct_gap_hour) = (end, FLOW_GAP_HOUR, CT_GAP_HOUR);
    let bastion = Ifaces::of(&enis).bastion;

    // --- ground truth
    truth_changes.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    let unique_events = events.len();
    let truth = json!({
        "generator": "trailflow-gen",
        "seed": opts.seed,
        "period": {"start": iso(T0), "end": iso(end)},
        "inventory_time": iso(inv_time),
        "counts": {
            "cloudtrail_events": unique_events,
            "cloudtrail_duplicate_copies": dup_count,
            "flow_records": flow_records,
            "digest_files": 1,
            "inventory_items": inventory_items,
        },
        "accounts": [ACCT_A, ACCT_B],
        "regions": ["ap-southeast-2", "eu-central-1", "eu-west-1", "us-east-1", "us-west-2"],
        "changes": truth_changes,
        "other_planted": other,
        "evidence_gaps": [
            {"kind": "missing_flow_log_hour", "vpc_id": "vpc-0a1000000000000001", "start": iso(T0 + gap_hour * H), "end": iso(T0 + (gap_hour + 1) * H)},
            {"kind": "missing_cloudtrail_hour", "account_id": ACCT_A, "region": "us-east-1", "start": iso(T0 + ct_gap_hour * H), "end": iso(T0 + (ct_gap_hour + 1) * H)},
            {"kind": "nodata_runs", "interface_id": enis[bastion].id},
        ],
    });
    write_text(&out.join("ground-truth.json"), &serde_json::to_string_pretty(&truth)?)?;
    write_text(
        &out.join(".trailflowignore"),
        "# Not evidence: what the generator planted, and this set's notes.\nground-truth.json\nREADME.md\n",
    )?;
    write_text(&out.join("README.md"), &readme(&truth, opts))?;
    Ok(truth)
}

fn readme(truth: &Value, opts: &GenOptions) -> String {
    let mut s = String::new();
    s.push_str("# Generated evidence set\n\n");
    s.push_str(&format!(
        "Made by `trailflow-gen --seed {} --hours {} --web-clients {} --ct-noise {} --file-minutes {}` (this repository's generator, \
`src/bin/trailflow-gen/generate.rs`); synthetic, no third-party data, same licence as the code. \
Regenerate with the same arguments to get the same files.\n\n\
Files come in AWS's delivery shape: CloudTrail one file per account and region for each {}-minute interval \
with events (a multi-region trail also covers us-west-2, ap-southeast-2 and eu-central-1, where almost nothing \
happens), the default-format flow log one file per {} minutes and the custom-format ones one per {}.\n\n",
        opts.seed, opts.hours, opts.web_clients_per_hour, opts.ct_noise_per_hour, opts.file_minutes,
        opts.file_minutes, opts.file_minutes, (2 * opts.file_minutes).min(60)
    ));
    s.push_str("## Layout\n\n");
    s.push_str(
        "- `AWSLogs/111111111111/CloudTrail/us-east-1/...`: CloudTrail as S3 delivers it \
        (`{\"Records\":[...]}`, gzip, records not in time order, a second file repeating five events as an \
        overlapping trail would).\n",
    );
    s.push_str("- `AWSLogs/o-a1b2c3d4e5/222222222222/CloudTrail/eu-west-1/...`: an organization trail.\n");
    s.push_str(
        "- `AWSLogs/111111111111/CloudTrail-Digest/...`: a digest file (not events): it names the first hour's \
        log files of account A in us-east-1 with their SHA-256, and one that is not in the set (removed from the \
        bucket).\n",
    );
    s.push_str(
        "- `AWSLogs/111111111111/vpcflowlogs/us-east-1/...`: VPC flow logs of vpc-0a1, default format (version \
        2) with its header line.\n",
    );
    s.push_str(
        "- `AWSLogs/aws-account-id=.../aws-service=vpcflowlogs/...`: flow logs of vpc-0a2 (account \
        111111111111) and vpc-0b1 (account 222222222222) in the Hive-style layout, custom format with `vpc-id`, \
        `subnet-id`, `tcp-flags`, `flow-direction`.\n",
    );
    s.push_str(
        "- `inventory/<account>/<region>/describe-*.json`: `aws ec2 describe-network-acls`, \
        `-network-interfaces`, `-subnets`, `-vpcs` as collected at the end of the period.\n",
    );
    s.push_str(
        "- `ground-truth.json`: what was planted (below), with event ids and expected verdicts. \
        `.trailflowignore` keeps it and this file out of an ingest.\n\n",
    );
    s.push_str(&format!("Counts: {}\n\n", truth["counts"]));
    s.push_str(
        "## Planted NACL changes\n\n| scenario | time | event | ACL | expected verdict | attacker peers \
        |\n|---|---|---|---|---|---|\n",
    );
    for c in truth["changes"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            c["scenario"].as_str().unwrap_or(""),
            c["time"].as_str().unwrap_or(""),
            c["event_name"].as_str().unwrap_or(""),
            c["network_acl_id"].as_str().unwrap_or(""),
            c["expected_verdict"].as_str().unwrap_or(""),
            c["attacker_peers"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                .unwrap_or_default()
        ));
    }
    s.push('\n');
    for c in truth["changes"].as_array().into_iter().flatten() {
        s.push_str(&format!(
            "- **{}**: {}.\n",
            c["scenario"].as_str().unwrap_or(""),
            c["description"].as_str().unwrap_or("")
        ));
    }
    s.push_str("\n## Other planted activity\n\n");
    for o in truth["other_planted"].as_array().into_iter().flatten() {
        s.push_str(&format!("- `{o}`\n"));
    }
    for g in truth["evidence_gaps"].as_array().into_iter().flatten() {
        s.push_str(&format!("- evidence gap: `{g}`\n"));
    }
    s
}
