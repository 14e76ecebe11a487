//! The planted case as data: who is in it (`Cast`), the network changes with the verdict each
//! must get (`scenarios()`, one row per change, planted by one loop: `Planted::scenarios`), and
//! the other activity the hunts must find. The order of the rows is the order the random stream
//! is drawn in, so that the same seed writes the same evidence.

use serde_json::{Value, json};

use super::{
    ACCT_A, ACCT_B, Actor, Change, CtEvent, GenOptions, H, Rng, Rule, T0, ct_event, entry_params, iam_user, iso,
    role_session, rule,
};

/// Hours after [`T0`] as a time in seconds.
pub(super) fn at(h: f64) -> i64 {
    T0 + (h * H as f64) as i64
}

/// When account B's flow log is deleted (hours after [`T0`]).
pub(super) const FLOW_LOG_DELETED_HOUR: f64 = 46.5;

/// Who acts in a scenario.
#[derive(Debug, Clone, Copy)]
enum Who {
    Netadmin,
    Attacker,
    Automation,
    DbRole,
    Intern,
    Contractor,
}

/// The people and machines of the case.
pub(super) struct Cast {
    pub(super) netadmin: Actor,
    pub(super) attacker: Actor,
    pub(super) automation: Actor,
    pub(super) db_role: Actor,
    pub(super) intern: Actor,
    pub(super) contractor: Actor,
    /// Who makes the background calls in account A (us-east-1) and in account B (eu-west-1).
    background: Vec<Actor>,
    background_b: Vec<Actor>,
}

impl Cast {
    pub(super) fn new() -> Cast {
        let netadmin = iam_user(
            ACCT_A,
            "netadmin",
            "AKIA1111NETADMIN0001",
            "198.18.10.4",
            "aws-cli/2.15.30 Python/3.11.8 Darwin/23.4.0 exe/x86_64 prompt/off command/ec2.create-network-acl-entry",
        );
        let automation = role_session(
            ACCT_A,
            "ops-automation",
            "i-0a100000000bastion",
            "ASIA1111OPSAUTOMATE7",
            "3.91.20.14",
            "Boto3/1.34.69 md/Botocore#1.34.69 ua/2.0 os/linux#5.10 md/arch#x86_64 lang/python#3.11.8 Botocore/1.34.69",
        );
        let admin_b = iam_user(
            ACCT_B,
            "platform-admin",
            "AKIA2222PLATFORM0002",
            "198.18.20.5",
            "aws-cli/2.15.0 Python/3.11.6 Linux/5.15 exe/x86_64",
        );
        Cast {
            background: vec![
                netadmin.clone(),
                automation.clone(),
                role_session(
                    ACCT_A,
                    "ReadOnlyAudit",
                    "audit-bot",
                    "ASIA1111AUDITBOT0003",
                    "34.201.10.8",
                    "aws-sdk-java/2.25.0 Linux/5.10 OpenJDK_64-Bit_Server_VM/17",
                ),
                iam_user(ACCT_A, "alice", "AKIA1111ALICE0000005", "198.18.10.21", "console.amazonaws.com"),
            ],
            background_b: vec![admin_b],
            netadmin,
            automation,
            attacker: iam_user(
                ACCT_A,
                "dev-temp",
                "AKIA1111DEVTEMP00042",
                "203.0.113.50",
                "aws-cli/2.13.0 Python/3.11.4 Linux/6.1.0-kali7-amd64 exe/x86_64.kali.2023 prompt/off",
            ),
            db_role: role_session(
                ACCT_A,
                "db-instance-role",
                "i-0a100000000000db1",
                "ASIA1111DBROLE000099",
                "54.210.33.7",
                "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/ec2#1.141.0",
            ),
            intern: iam_user(ACCT_A, "intern", "AKIA1111INTERN000007", "198.18.10.77", "console.ec2.amazonaws.com"),
            contractor: iam_user(
                ACCT_B,
                "contractor",
                "AKIA2222CONTRACTOR01",
                "100.24.8.9",
                "aws-cli/2.15.0 Python/3.11.6 Windows/10 exe/AMD64 prompt/off",
            ),
        }
    }

    fn get(&self, who: Who) -> &Actor {
        match who {
            Who::Netadmin => &self.netadmin,
            Who::Attacker => &self.attacker,
            Who::Automation => &self.automation,
            Who::DbRole => &self.db_role,
            Who::Intern => &self.intern,
            Who::Contractor => &self.contractor,
        }
    }
}

/// The EC2 call a scenario makes.
enum Call {
    /// `CreateNetworkAclEntry`, or `ReplaceNetworkAclEntry` when `replace`.
    PutEntry {
        acl: &'static str,
        rule: Rule,
        replace: bool,
    },
    /// `CreateNetworkAclEntry` refused with `Client.UnauthorizedOperation`: it changes nothing.
    RefusedEntry {
        acl: &'static str,
        rule: Rule,
    },
    DeleteEntry {
        acl: &'static str,
        egress: bool,
        number: i64,
    },
    CreateAcl {
        acl: &'static str,
        vpc: &'static str,
    },
    /// `ReplaceNetworkAclAssociation`: `subnet` (associated as `association`) moves to `acl`.
    ReplaceAssociation {
        association: &'static str,
        subnet: &'static str,
        acl: &'static str,
    },
    /// `RunInstances` of one instance with one interface.
    RunInstance {
        instance: &'static str,
        interface: &'static str,
        subnet: &'static str,
        vpc: &'static str,
        ip: &'static str,
    },
}

/// A call as CloudTrail records it, and what it does to the network.
struct Recorded {
    name: &'static str,
    request: Value,
    response: Value,
    error: Option<(&'static str, String)>,
    change: Option<Change>,
}

impl Call {
    /// The ACL the call names, if any.
    fn acl(&self) -> Option<&'static str> {
        match self {
            Call::PutEntry { acl, .. }
            | Call::RefusedEntry { acl, .. }
            | Call::DeleteEntry { acl, .. }
            | Call::CreateAcl { acl, .. }
            | Call::ReplaceAssociation { acl, .. } => Some(acl),
            Call::RunInstance { .. } => None,
        }
    }

    /// The call's record. It draws its request ids from `rng`, always in the same order.
    fn record(&self, rng: &mut Rng, actor: &Actor, region: &str) -> Recorded {
        let ok = |rng: &mut Rng| json!({"requestId": rng.uuid(), "_return": true});
        let account = actor.account;
        let (name, request, response, error, change) = match self {
            Call::PutEntry { acl, rule, replace } => (
                if *replace { "ReplaceNetworkAclEntry" } else { "CreateNetworkAclEntry" },
                entry_params(acl, rule),
                ok(rng),
                None,
                Some(Change::Upsert { acl, rule: rule.clone() }),
            ),
            Call::RefusedEntry { acl, rule } => {
                let message = format!(
                    "You are not authorized to perform this operation. User: {} is not authorized to perform: \
                        ec2:CreateNetworkAclEntry on resource: arn:aws:ec2:{region}:{account}:network-acl/{acl} \
                        because no identity-based policy allows the ec2:CreateNetworkAclEntry action.",
                    actor.arn
                );
                (
                    "CreateNetworkAclEntry",
                    entry_params(acl, rule),
                    Value::Null,
                    Some(("Client.UnauthorizedOperation", message)),
                    None,
                )
            }
            Call::DeleteEntry { acl, egress, number } => (
                "DeleteNetworkAclEntry",
                json!({"networkAclId": acl, "ruleNumber": number, "egress": egress}),
                ok(rng),
                None,
                Some(Change::Delete { acl, egress: *egress, number: *number }),
            ),
            Call::CreateAcl { acl, vpc } => {
                let response = json!({"requestId": rng.uuid(), "networkAcl": {"networkAclId": acl, "vpcId": vpc, "default": false, "ownerId": account,
                    "entrySet": {"items": [
                        {"ruleNumber": 32767, "protocol": "-1", "ruleAction": "deny", "egress": true, "cidrBlock": "0.0.0.0/0"},
                        {"ruleNumber": 32767, "protocol": "-1", "ruleAction": "deny", "egress": false, "cidrBlock": "0.0.0.0/0"}]},
                    "associationSet": {}, "tagSet": {}}});
                let token = rng.uuid();
                (
                    "CreateNetworkAcl",
                    json!({"vpcId": vpc, "clientToken": token}),
                    response,
                    None,
                    Some(Change::NewAcl { acl }),
                )
            }
            Call::ReplaceAssociation { association, subnet, acl } => {
                let new_assoc = format!("aclassoc-0a1{}", rng.hex(14));
                let response = json!({"requestId": rng.uuid(), "newAssociationId": new_assoc});
                let request = json!({"associationId": association, "networkAclId": acl});
                ("ReplaceNetworkAclAssociation", request, response, None, Some(Change::Swap { subnet, acl, new_assoc }))
            }
            Call::RunInstance { instance, interface, subnet, vpc, ip } => {
                let rid = rng.uuid();
                let request = json!({"instancesSet": {"items": [{"imageId": "ami-0abcdef1234567890", "minCount": 1, "maxCount": 1}]}, "instanceType": "t3.medium", "subnetId": subnet});
                let nic = json!({"networkInterfaceId": interface, "subnetId": subnet, "vpcId": vpc, "privateIpAddress": ip, "ownerId": account, "status": "in-use"});
                let item = json!({"instanceId": instance, "subnetId": subnet, "vpcId": vpc, "privateIpAddress": ip, "networkInterfaceSet": {"items": [nic]}});
                let reservation = format!("r-{}", instance.trim_start_matches("i-"));
                let response = json!({"requestId": rid, "reservationId": reservation, "ownerId": account, "instancesSet": {"items": [item]}});
                ("RunInstances", request, response, None, None)
            }
        };
        Recorded { name, request, response, error, change }
    }
}

/// What the correlation must say about a planted change: its record in `ground-truth.json`.
struct Expected {
    scenario: &'static str,
    verdict: &'static str,
    reasons: &'static [&'static str],
    /// The addresses whose traffic the change let in.
    peers: &'static [&'static str],
    description: &'static str,
}

/// One planted step of the case: who calls what, when and where, and what it should be judged.
pub(super) struct Scenario {
    hour: f64,
    who: Who,
    region: &'static str,
    call: Call,
    /// `None` for a step that is not a NACL change (it shapes the topology).
    expected: Option<Expected>,
}

const WEB_ACL: &str = "acl-0a1000000000000web";
const APP_ACL: &str = "acl-0a1000000000000app";
const DB_ACL: &str = "acl-0a10000000000000db";
const NEW_ACL: &str = "acl-0a10000000000new1";
const VPC_A1: &str = "vpc-0a1000000000000001";

fn scenario(hour: f64, who: Who, region: &'static str, call: Call, expected: Expected) -> Scenario {
    Scenario { hour, who, region, call, expected: Some(expected) }
}

fn expect(
    scenario: &'static str,
    verdict: &'static str,
    reasons: &'static [&'static str],
    peers: &'static [&'static str],
    description: &'static str,
) -> Expected {
    Expected { scenario, verdict, reasons, peers, description }
}

const UNUSUAL: &str = "unusual_traffic_after_change";
const RISKY: &str = "risky_change_no_unusual_traffic";
const HARMLESS: &str = "change_no_unusual_traffic";

/// The network changes of the case, in the order they are planted (the order the random stream
/// is drawn in, not the order of their times).
pub(super) fn scenarios() -> Vec<Scenario> {
    use Who::*;
    let put = |acl, rule| Call::PutEntry { acl, rule, replace: false };
    vec![
        scenario(
            8.0,
            Netadmin,
            "us-east-1",
            put(DB_ACL, rule(105, false, true, 6, "10.0.0.0/16", Some((5432, 5432)))),
            expect(
                "benign_internal_range",
                HARMLESS,
                &[],
                &[],
                "netadmin allows PostgreSQL from the VPC range to the database subnet",
            ),
        ),
        scenario(
            10.0,
            Attacker,
            "us-east-1",
            put(APP_ACL, rule(90, false, true, -1, "0.0.0.0/0", None)),
            expect(
                "world_open_all_protocols_ssh_bruteforce_exfil",
                UNUSUAL,
                &["world_open_cidr", "all_protocols"],
                &["198.51.100.23"],
                "dev-temp opens the app subnet to 0.0.0.0/0 on all protocols; 198.51.100.23, REJECTed on SSH before, \
                    brute-forces SSH and pulls data out",
            ),
        ),
        // The web tier grows: an instance (and its interface) created inside the period.
        Scenario {
            hour: 12.0,
            who: Automation,
            region: "us-east-1",
            call: Call::RunInstance {
                instance: "i-0a10000000000web3",
                interface: "eni-0a1f0000000000web3",
                subnet: "subnet-0a1000000000web",
                vpc: VPC_A1,
                ip: "10.0.1.12",
            },
            expected: None,
        },
        // A decoy: a risky change in account B's VPC while odd traffic happens in account A's other VPC.
        scenario(
            16.0,
            Contractor,
            "eu-west-1",
            put("acl-0b1000000000000001", rule(80, false, true, 6, "0.0.0.0/0", Some((3389, 3389)))),
            expect(
                "risky_change_odd_traffic_elsewhere",
                RISKY,
                &["world_open_cidr"],
                &[],
                "contractor opens RDP to the world in account B; the RDP traffic from 203.0.113.99 at the same time \
                    is in account A's vpc-0a2, which the change does not govern",
            ),
        ),
        scenario(
            20.0,
            Automation,
            "us-east-1",
            Call::PutEntry {
                acl: WEB_ACL,
                rule: rule(100, false, true, 6, "0.0.0.0/0", Some((0, 65535))),
                replace: true,
            },
            expect(
                "port_range_widened_scanner_accepted",
                UNUSUAL,
                &["world_open_cidr", "wide_port_range"],
                &["192.0.2.77"],
                "rule 100 of the web ACL goes from tcp/443 to tcp/0-65535 from 0.0.0.0/0; scanner 192.0.2.77, \
                    REJECTed on low ports before, is ACCEPTed after",
            ),
        ),
        scenario(
            22.0,
            Intern,
            "us-east-1",
            Call::RefusedEntry { acl: WEB_ACL, rule: rule(10, false, true, -1, "0.0.0.0/0", None) },
            expect(
                "failed_change",
                "failed_change",
                &["world_open_cidr", "all_protocols", "failed_call"],
                &[],
                "the intern tries to open the web ACL to everything and is denied",
            ),
        ),
        scenario(
            26.0,
            DbRole,
            "us-east-1",
            put(DB_ACL, rule(50, true, true, 6, "0.0.0.0/0", Some((0, 65535)))),
            expect(
                "egress_opening_large_upload",
                UNUSUAL,
                &["world_open_cidr", "wide_port_range", "egress_opening"],
                &["185.199.110.9"],
                "the database instance's own role opens egress to the world; the database then uploads gigabytes to \
                    185.199.110.9, a peer never seen before",
            ),
        ),
        scenario(
            28.0,
            Netadmin,
            "us-east-1",
            Call::CreateAcl { acl: NEW_ACL, vpc: VPC_A1 },
            expect("benign_new_acl", HARMLESS, &[], &[], "netadmin creates a new ACL"),
        ),
        scenario(
            28.1,
            Netadmin,
            "us-east-1",
            put(NEW_ACL, rule(100, false, true, 6, "10.0.0.0/8", Some((443, 443)))),
            expect(
                "benign_new_acl_rule",
                HARMLESS,
                &[],
                &[],
                "a rule of the new ACL, for an internal range; no subnet uses the ACL",
            ),
        ),
        scenario(
            30.0,
            Attacker,
            "us-east-1",
            Call::DeleteEntry { acl: WEB_ACL, egress: false, number: 50 },
            expect(
                "deny_rule_deleted",
                UNUSUAL,
                &["deny_removed"],
                &["45.137.21.9"],
                "dev-temp deletes the deny of 45.137.21.0/24; 45.137.21.9, REJECTed before, gets in",
            ),
        ),
        scenario(
            34.0,
            Netadmin,
            "us-east-1",
            Call::DeleteEntry { acl: APP_ACL, egress: false, number: 90 },
            expect("benign_remediation", HARMLESS, &[], &[], "netadmin removes the allow-all rule 90 from the app ACL"),
        ),
        scenario(
            40.0,
            Attacker,
            "us-east-1",
            Call::ReplaceAssociation {
                association: "aclassoc-0a1000000000db",
                subnet: "subnet-0a10000000000db",
                acl: WEB_ACL,
            },
            expect(
                "association_swap_to_permissive_acl",
                RISKY,
                &["more_permissive_acl", "world_open_cidr", "all_protocols", "egress_opening"],
                &[],
                "the database subnet is moved onto the web ACL, which allows tcp/0-65535 from the world and \
                    everything out; only internal traffic follows",
            ),
        ),
    ]
}

/// Changes planted later, from a random stream of their own (the events above keep their ids).
pub(super) fn later_scenarios() -> Vec<Scenario> {
    use Who::*;
    let put = |acl, rule| Call::PutEntry { acl, rule, replace: false };
    vec![
        // Rules written into the new ACL before any subnet uses it: no effect until a subnet is
        // moved to it (judged then, by the difference from the ACL the subnet leaves).
        scenario(
            28.3,
            Attacker,
            "us-east-1",
            put(NEW_ACL, rule(110, false, true, -1, "::/0", None)),
            expect(
                "ipv6_world_open_unused_acl",
                HARMLESS,
                &["inactive_acl"],
                &[],
                "dev-temp allows all IPv6 traffic from ::/0 into the new ACL, which no subnet uses: no effect yet",
            ),
        ),
        scenario(
            28.2,
            Netadmin,
            "us-east-1",
            put(NEW_ACL, rule(120, false, true, 6, "203.0.113.0/24", Some((22, 22)))),
            expect(
                "untrusted_source_unused_acl",
                HARMLESS,
                &["inactive_acl"],
                &[],
                "netadmin lets a vendor's block 203.0.113.0/24 in on SSH, on the new ACL that no subnet uses: no \
                    effect yet",
            ),
        ),
        scenario(
            28.4,
            Automation,
            "us-east-1",
            put(NEW_ACL, rule(100, true, true, -1, "0.0.0.0/0", None)),
            expect(
                "standard_egress_unused_acl",
                HARMLESS,
                &["inactive_acl"],
                &[],
                "infrastructure-as-code writes the standard egress allow-all into the new ACL, which no subnet uses",
            ),
        ),
        scenario(
            28.5,
            Automation,
            "us-east-1",
            put(NEW_ACL, rule(130, false, true, 6, "0.0.0.0/0", Some((49152, 65535)))),
            expect(
                "return_traffic_unused_acl",
                HARMLESS,
                &["inactive_acl"],
                &[],
                "infrastructure-as-code writes the inbound return-traffic rule (ephemeral ports 49152-65535) into the \
                    new ACL",
            ),
        ),
        // Housekeeping on ACLs in use: each opens nothing.
        scenario(
            42.0,
            Automation,
            "us-east-1",
            Call::PutEntry {
                acl: WEB_ACL,
                rule: rule(100, false, true, 6, "0.0.0.0/0", Some((0, 65535))),
                replace: true,
            },
            expect(
                "identical_rule_reapplied",
                HARMLESS,
                &["no_effect"],
                &[],
                "infrastructure-as-code re-applies rule 100 of the web ACL exactly as it stands: a no-op",
            ),
        ),
        scenario(
            43.0,
            Netadmin,
            "us-east-1",
            Call::PutEntry {
                acl: WEB_ACL,
                rule: rule(100, false, true, 6, "0.0.0.0/0", Some((443, 443))),
                replace: true,
            },
            expect(
                "remediation_narrows_rule",
                HARMLESS,
                &["narrowing"],
                &[],
                "netadmin narrows rule 100 of the web ACL back from tcp 0-65535 to tcp 443",
            ),
        ),
        scenario(
            45.0,
            Automation,
            "us-east-1",
            put(WEB_ACL, rule(110, true, true, 17, "0.0.0.0/0", Some((123, 123)))),
            expect(
                "egress_rule_shadowed",
                HARMLESS,
                &["shadowed"],
                &[],
                "an egress NTP allow below the web ACL's egress allow-all (rule 100): it decides no packet",
            ),
        ),
        // A vendor's block let in on SSH where it takes effect.
        scenario(
            46.0,
            Netadmin,
            "us-east-1",
            put(APP_ACL, rule(105, false, true, 6, "203.0.113.0/24", Some((22, 22)))),
            expect(
                "untrusted_source_app_acl",
                RISKY,
                &["untrusted_source"],
                &[],
                "netadmin lets a vendor's block 203.0.113.0/24 in on SSH to the app subnet",
            ),
        ),
    ]
}

/// What the generator has planted so far.
#[derive(Default)]
pub(super) struct Planted {
    pub(super) events: Vec<CtEvent>,
    /// (time, change) of the network.
    pub(super) changes: Vec<(i64, Change)>,
    /// Ground truth of each NACL change.
    pub(super) truth_changes: Vec<Value>,
    /// Ground truth of the other planted activity.
    pub(super) other: Vec<Value>,
}

impl Planted {
    /// Plant scenarios in order: each call's CloudTrail event, the change it makes, and what it
    /// should be judged.
    pub(super) fn scenarios(&mut self, rng: &mut Rng, cast: &Cast, scenarios: &[Scenario]) {
        for s in scenarios {
            let t = at(s.hour);
            let actor = cast.get(s.who);
            let r = s.call.record(rng, actor, s.region);
            let ev =
                ct_event(rng, t, s.region, actor, "ec2.amazonaws.com", r.name, r.request, r.response, r.error, false);
            let id = ev.value["eventID"].as_str().unwrap_or_default().to_string();
            self.events.push(ev);
            if let Some(change) = r.change {
                self.changes.push((t, change));
            }
            if let Some(x) = &s.expected {
                let mut truth = serde_json::Map::new();
                truth.insert("scenario".into(), json!(x.scenario));
                truth.insert("event_id".into(), json!(id));
                truth.insert("event_name".into(), json!(r.name));
                truth.insert("time".into(), json!(iso(t)));
                truth.insert("network_acl_id".into(), json!(s.call.acl()));
                truth.insert("actor_arn".into(), json!(actor.arn));
                truth.insert("expected_verdict".into(), json!(x.verdict));
                if !x.reasons.is_empty() {
                    truth.insert("risk_reasons".into(), json!(x.reasons));
                }
                truth.insert("attacker_peers".into(), json!(x.peers));
                truth.insert("description".into(), json!(x.description));
                self.truth_changes.push(Value::Object(truth));
            }
        }
    }

    /// Plant other activity in order: each call's CloudTrail event and its ground truth.
    pub(super) fn activity(&mut self, rng: &mut Rng, cast: &Cast, rows: Vec<Activity>) {
        for a in rows {
            let response = match a.response {
                Response::Nothing => Value::Null,
                Response::Fixed(v) => v,
                Response::WithId(build) => build(rng.uuid()),
            };
            let ev = ct_event(
                rng,
                at(a.hour),
                a.region,
                cast.get(a.who),
                a.source,
                a.name,
                a.request,
                response,
                a.error,
                false,
            );
            let mut truth = a.truth;
            truth["event_id"] = ev.value["eventID"].clone();
            self.other.push(truth);
            self.events.push(ev);
        }
    }
}

// ---------------------------------------------------------------- other planted activity

/// The response of a planted call.
enum Response {
    /// None recorded, and no request id drawn.
    Nothing,
    Fixed(Value),
    /// Built around a request id drawn from the random stream just before the event.
    WithId(fn(String) -> Value),
}

/// Another planted call for the hunts, with its ground truth (`event_id` is added when planted).
pub(super) struct Activity {
    hour: f64,
    who: Who,
    region: &'static str,
    source: &'static str,
    name: &'static str,
    request: Value,
    response: Response,
    error: Option<(&'static str, String)>,
    truth: Value,
}

fn flow_log_deletion(flow_log: &str) -> Value {
    json!({"DeleteFlowLogsRequest": {"FlowLogId": {"content": flow_log, "tag": 1}}})
}

fn flow_log_deleted(rid: String) -> Value {
    json!({"DeleteFlowLogsResponse": {"requestId": rid, "unsuccessful": "", "xmlns": "http://ec2.amazonaws.com/doc/2016-11-15/"}})
}

/// Activity for the hunts besides the NACL changes: security groups opened, flow logs and trails
/// tampered with.
pub(super) fn activity(cast: &Cast) -> Vec<Activity> {
    use Who::*;
    vec![
        Activity {
            hour: 10.5,
            who: Attacker,
            region: "us-east-1",
            source: "ec2.amazonaws.com",
            name: "AuthorizeSecurityGroupIngress",
            request: json!({"groupId": "sg-0a10000000000app1", "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}}),
            response: Response::WithId(
                |rid| json!({"requestId": rid, "_return": true, "securityGroupRuleSet": {"items": [{"groupOwnerId": ACCT_A, "groupId": "sg-0a10000000000app1", "securityGroupRuleId": "sgr-0a10000000000001", "isEgress": false, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIpv4": "0.0.0.0/0"}]}}),
            ),
            error: None,
            truth: json!({"scenario": "security_group_open_to_world_ssh", "shape": "items"}),
        },
        Activity {
            hour: 16.2,
            who: Contractor,
            region: "eu-west-1",
            source: "ec2.amazonaws.com",
            name: "AuthorizeSecurityGroupIngress",
            request: json!({"groupId": "sg-0b100000000000001", "ipPermissions": {}, "ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "cidrIp": "0.0.0.0/0"}),
            response: Response::WithId(|rid| json!({"requestId": rid, "_return": true})),
            error: None,
            truth: json!({"scenario": "security_group_open_to_world_rdp", "shape": "legacy_flat"}),
        },
        Activity {
            hour: 26.5,
            who: DbRole,
            region: "us-east-1",
            source: "ec2.amazonaws.com",
            name: "DeleteFlowLogs",
            request: flow_log_deletion("fl-0a10000000000000a"),
            response: Response::WithId(flow_log_deleted),
            error: Some((
                "Client.UnauthorizedOperation",
                "You are not authorized to perform this operation.".to_string(),
            )),
            truth: json!({"scenario": "flow_log_deletion_attempt"}),
        },
        Activity {
            hour: 31.0,
            who: Attacker,
            region: "us-east-1",
            source: "cloudtrail.amazonaws.com",
            name: "StopLogging",
            request: json!({"name": format!("arn:aws:cloudtrail:us-east-1:{ACCT_A}:trail/management-events")}),
            response: Response::Nothing,
            error: Some((
                "AccessDenied",
                format!("User: {} is not authorized to perform: cloudtrail:StopLogging", cast.attacker.arn),
            )),
            truth: json!({"scenario": "trail_tampering_attempt"}),
        },
    ]
}

/// More activity for the hunts, from the later random stream: a burst of firewall changes, trail
/// tampering that worked, a flow log deleted for good.
pub(super) fn later_activity(cast: &Cast) -> Vec<Activity> {
    use Who::*;
    let trail = |name: &str| format!("arn:aws:cloudtrail:us-east-1:{ACCT_A}:trail/{name}");
    let selectors = json!([{"readWriteType": "All", "includeManagementEvents": false, "dataResources": [], "excludeManagementEventSources": []}]);
    vec![
        // A burst: minutes after the RDP rule, the contractor opens the security group's egress too.
        Activity {
            hour: 16.3,
            who: Contractor,
            region: "eu-west-1",
            source: "ec2.amazonaws.com",
            name: "AuthorizeSecurityGroupEgress",
            request: json!({"groupId": "sg-0b100000000000001", "ipPermissions": {"items": [{"ipProtocol": "-1", "groups": {}, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}}),
            response: Response::WithId(
                |rid| json!({"requestId": rid, "_return": true, "securityGroupRuleSet": {"items": [{"groupOwnerId": ACCT_B, "groupId": "sg-0b100000000000001", "securityGroupRuleId": "sgr-0b10000000000003", "isEgress": true, "ipProtocol": "-1", "fromPort": -1, "toPort": -1, "cidrIpv4": "0.0.0.0/0"}]}}),
            ),
            error: None,
            truth: json!({"scenario": "firewall_change_burst", "actor_arn": cast.contractor.arn, "time": iso(at(16.3))}),
        },
        // Trail tampering that worked: data events turned off on one trail, another trail deleted.
        Activity {
            hour: 41.0,
            who: Attacker,
            region: "us-east-1",
            source: "cloudtrail.amazonaws.com",
            name: "PutEventSelectors",
            request: json!({"trailName": trail("s3-data-events"), "eventSelectors": selectors.clone()}),
            response: Response::Fixed(json!({"trailARN": trail("s3-data-events"), "eventSelectors": selectors})),
            error: None,
            truth: json!({"scenario": "event_selectors_emptied"}),
        },
        Activity {
            hour: 41.1,
            who: Attacker,
            region: "us-east-1",
            source: "cloudtrail.amazonaws.com",
            name: "DeleteTrail",
            request: json!({"name": trail("backup-trail")}),
            response: Response::Nothing,
            error: None,
            truth: json!({"scenario": "trail_deleted"}),
        },
        // Account B's flow log deleted for good, the VPC kept: no flow records after it.
        Activity {
            hour: FLOW_LOG_DELETED_HOUR,
            who: Contractor,
            region: "eu-west-1",
            source: "ec2.amazonaws.com",
            name: "DeleteFlowLogs",
            request: flow_log_deletion("fl-0b10000000000000c"),
            response: Response::WithId(flow_log_deleted),
            error: None,
            truth: json!({"scenario": "flow_log_deleted_vpc_kept", "vpc_id": "vpc-0b1000000000000003"}),
        },
    ]
}

/// Background CloudTrail: routine reads and writes by the usual callers, a few throttled.
pub(super) fn background_events(rng: &mut Rng, opts: &GenOptions, cast: &Cast) -> Vec<CtEvent> {
    let noise: &[(&str, &str, bool)] = &[
        ("ec2.amazonaws.com", "DescribeInstances", true),
        ("ec2.amazonaws.com", "DescribeNetworkAcls", true),
        ("ec2.amazonaws.com", "DescribeSecurityGroups", true),
        ("sts.amazonaws.com", "GetCallerIdentity", true),
        ("s3.amazonaws.com", "ListBuckets", true),
        ("iam.amazonaws.com", "ListUsers", true),
        ("cloudwatch.amazonaws.com", "GetMetricData", true),
        ("ssm.amazonaws.com", "UpdateInstanceInformation", false),
    ];
    let mut events = Vec::new();
    for hour in 0..opts.hours {
        for (actors, region) in [(&cast.background, "us-east-1"), (&cast.background_b, "eu-west-1")] {
            for _ in 0..opts.ct_noise_per_hour {
                let t = T0 + hour * H + rng.range(0, H);
                let (src, name, ro) = *rng.pick(noise);
                let actor = rng.pick(actors).clone();
                let req = match name {
                    "DescribeNetworkAcls" => json!({"networkAclIdSet": {}, "filterSet": {}}),
                    "DescribeInstances" => json!({"instancesSet": {}, "filterSet": {}}),
                    _ => Value::Null,
                };
                let mut ev = ct_event(rng, t, region, &actor, src, name, req, Value::Null, None, ro);
                if rng.chance(0.02) {
                    ev.value["errorCode"] = json!("ThrottlingException");
                    ev.value["errorMessage"] = json!("Rate exceeded");
                }
                events.push(ev);
            }
        }
    }
    events
}

/// The regions of a multi-region trail where almost nothing happens: AWS still delivers a small
/// file for each of them whenever an event falls in a delivery interval. A monitoring read about
/// every twenty minutes per account and region.
pub(super) fn sparse_region_events(rng: &mut Rng, opts: &GenOptions, cast: &Cast) -> Vec<CtEvent> {
    let mut events = Vec::new();
    for (actors, region) in
        [(&cast.background, "us-west-2"), (&cast.background, "ap-southeast-2"), (&cast.background_b, "eu-central-1")]
    {
        let mut t = T0 + rng.range(0, 1200);
        while t < T0 + opts.hours * H {
            let actor = rng.pick(actors).clone();
            let (src, name) = *rng.pick(&[
                ("ec2.amazonaws.com", "DescribeInstanceStatus"),
                ("cloudwatch.amazonaws.com", "GetMetricData"),
            ]);
            events.push(ct_event(rng, t, region, &actor, src, name, Value::Null, Value::Null, None, true));
            t += 600 + rng.range(0, 1200);
        }
    }
    events
}

/// Background calls for `--real-count`: every account-region but the two busy ones gets a call
/// every 40 s to 2 min, so that each of the ten (account A in us-east-1, us-west-2,
/// ap-southeast-2, us-east-2, eu-west-2, ap-northeast-1; account B in eu-west-1, eu-central-1,
/// us-east-1, ap-northeast-1) delivers a file nearly every 5-minute slot, as a busy estate does.
pub(super) fn busy_region_events(rng: &mut Rng, opts: &GenOptions, cast: &Cast) -> Vec<CtEvent> {
    let mut events = Vec::new();
    for (actors, region) in [
        (&cast.background, "us-west-2"),
        (&cast.background, "ap-southeast-2"),
        (&cast.background, "us-east-2"),
        (&cast.background, "eu-west-2"),
        (&cast.background, "ap-northeast-1"),
        (&cast.background_b, "eu-central-1"),
        (&cast.background_b, "us-east-1"),
        (&cast.background_b, "ap-northeast-1"),
    ] {
        let mut t = T0 + rng.range(0, 60);
        while t < T0 + opts.hours * H {
            let actor = rng.pick(actors).clone();
            let (src, name) = *rng.pick(&[
                ("ec2.amazonaws.com", "DescribeInstances"),
                ("ec2.amazonaws.com", "DescribeInstanceStatus"),
                ("cloudwatch.amazonaws.com", "GetMetricData"),
                ("s3.amazonaws.com", "ListBuckets"),
                ("sts.amazonaws.com", "GetCallerIdentity"),
                ("logs.amazonaws.com", "DescribeLogGroups"),
            ]);
            events.push(ct_event(rng, t, region, &actor, src, name, Value::Null, Value::Null, None, true));
            t += 40 + rng.range(0, 80);
        }
    }
    events
}
