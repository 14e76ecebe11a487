//! The correlation on an estate unlike the sample's: one account with no inventory at all, whose
//! VPC Terraform builds inside the evidence (dual-stack, two subnets, three ACLs), flow logs in a
//! custom format without `account-id` or `region` (taken from the S3 key), an interface known
//! only from the flow records, IPv6 attacks, a subnet moved to a permissive ACL and back through
//! the association ids the calls return, a narrowing off the default ACL, and an internal
//! all-protocol rule. Record shapes follow AWS's documentation of the EC2 API and CloudTrail's
//! examples (responses with `items` lists, the Amazon-provided IPv6 block still associating).

mod common;

use std::path::Path;

use serde_json::{Value, json};

use common::bin;

const ACCT: &str = "333333333333";
const REGION: &str = "us-west-2";
const VPC: &str = "vpc-0c10000000000000a";
const WEB: &str = "subnet-0c1000000000000we";
const DB: &str = "subnet-0c1000000000000db";
const ACL_WEB: &str = "acl-0c10000000000web";
const ACL_DB: &str = "acl-0c100000000000db";
const ACL_OPEN: &str = "acl-0c1000000000open";
const WEB_ENI: &str = "eni-0c100000000000web";
const DB_ENI: &str = "eni-0c1000000000000db";
const WEB_V4: &str = "10.20.1.10";
const WEB_V6: &str = "2600:1f14:abc:de01::10";
const DB_V4: &str = "10.20.3.20";
const TERRAFORM: &str = "arn:aws:sts::333333333333:assumed-role/terraform-deployer/ci-run-4411";
const INTRUDER: &str = "arn:aws:iam::333333333333:user/ops-temp";

/// Seconds from 2026-05-01T00:00:00Z.
const T0: i64 = 1_777_593_600;

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

struct Trail {
    records: Vec<Value>,
}

impl Trail {
    fn call(&mut self, id: &str, t: i64, name: &str, actor: &str, req: Value, resp: Value) {
        let (kind, key) = if actor.contains(":user/") {
            ("IAMUser", "AKIAEXAMPLEOPSTEMP01")
        } else {
            ("AssumedRole", "ASIAEXAMPLETERRAFORM")
        };
        self.records.push(json!({
            "eventVersion": "1.09",
            "userIdentity": {"type": kind, "principalId": "AIDAEXAMPLE", "arn": actor, "accountId": ACCT, "accessKeyId": key},
            "eventTime": iso(t),
            "eventSource": "ec2.amazonaws.com",
            "eventName": name,
            "awsRegion": REGION,
            "sourceIPAddress": if kind == "IAMUser" { "203.0.113.50" } else { "198.51.100.20" },
            "userAgent": if kind == "IAMUser" { "aws-cli/2.15.0" } else { "APN/1.0 HashiCorp/1.0 Terraform/1.9.5 (+https://www.terraform.io) terraform-provider-aws/5.70.0" },
            "requestParameters": req,
            "responseElements": resp,
            "requestID": format!("0c1{id:0>33}"),
            "eventID": format!("{id:0>8}-0c10-4000-8000-000000000000"),
            "readOnly": false,
            "eventType": "AwsApiCall",
            "managementEvent": true,
            "recipientAccountId": ACCT,
            "eventCategory": "Management"
        }));
    }

    #[allow(clippy::too_many_arguments)] // a rule is as many fields as the call has
    fn entry(
        &mut self,
        id: &str,
        t: i64,
        actor: &str,
        acl: &str,
        n: i64,
        egress: bool,
        proto: &str,
        cidr: &str,
        ports: Option<(i64, i64)>,
    ) {
        let mut req = json!({"networkAclId": acl, "ruleNumber": n, "egress": egress, "ruleAction": "allow", "icmpTypeCode": {}, "aclProtocol": proto});
        req[if cidr.contains(':') { "ipv6CidrBlock" } else { "cidrBlock" }] = json!(cidr);
        if let Some((f, to)) = ports {
            req["portRange"] = json!({"from": f, "to": to});
        }
        self.call(id, t, "CreateNetworkAclEntry", actor, req, json!({"requestId": "r", "_return": true}));
    }

    fn create_acl(&mut self, id: &str, t: i64, actor: &str, acl: &str) {
        let deny = |egress: bool, cidr: &str, n: i64| {
            let mut e = json!({"ruleNumber": n, "protocol": "-1", "ruleAction": "deny", "egress": egress});
            e[if cidr.contains(':') { "ipv6CidrBlock" } else { "cidrBlock" }] = json!(cidr);
            e
        };
        let entries = vec![
            deny(true, "0.0.0.0/0", 32767),
            deny(false, "0.0.0.0/0", 32767),
            deny(true, "::/0", 32768),
            deny(false, "::/0", 32768),
        ];
        self.call(
            id,
            t,
            "CreateNetworkAcl",
            actor,
            json!({"vpcId": VPC}),
            json!({"networkAcl": {"networkAclId": acl, "vpcId": VPC, "default": false, "entrySet": {"items": entries}, "associationSet": {}, "tagSet": {}}}),
        );
    }

    fn associate(&mut self, id: &str, t: i64, actor: &str, old: &str, acl: &str, new: &str) {
        self.call(
            id,
            t,
            "ReplaceNetworkAclAssociation",
            actor,
            json!({"associationId": old, "networkAclId": acl}),
            json!({"newAssociationId": new}),
        );
    }
}

/// One flow record of the custom format (`FLOW_HEADER`), as the interface's flow log writes it.
#[allow(clippy::too_many_arguments)] // a record is as many fields as its format has
fn flow(
    t: i64,
    subnet: &str,
    eni: &str,
    src: &str,
    dst: &str,
    sport: u16,
    dport: u16,
    action: &str,
    direction: &str,
) -> String {
    format!("5 {VPC} {subnet} {eni} {src} {dst} {sport} {dport} 6 10 840 {t} {} {action} OK {direction}", t + 55)
}

/// The custom format, without `account-id` or `region`: those come from the S3 key.
const FLOW_HEADER: &str = "version vpc-id subnet-id interface-id srcaddr dstaddr srcport dstport protocol packets \
    bytes start end action log-status flow-direction";

/// The estate, written as AWS delivers it. `parallel`: Terraform creates both subnets before it
/// moves either (as it does when nothing orders them), so the calls alone cannot tell which
/// subnet each move took.
fn write_estate(dir: &Path, parallel: bool) {
    let h = 3600;
    let mut ct = Trail { records: Vec::new() };
    ct.call(
        "1",
        T0,
        "CreateVpc",
        TERRAFORM,
        json!({"cidrBlock": "10.20.0.0/16", "amazonProvidedIpv6CidrBlock": true, "instanceTenancy": "default"}),
        json!({"vpc": {"vpcId": VPC, "state": "pending", "ownerId": ACCT, "cidrBlock": "10.20.0.0/16",
            "cidrBlockAssociationSet": {"items": [{"cidrBlock": "10.20.0.0/16", "associationId": "vpc-cidr-assoc-0c1", "cidrBlockState": {"state": "associated"}}]},
            "ipv6CidrBlockAssociationSet": {"items": [{"associationId": "vpc-cidr-assoc-0c16", "ipv6CidrBlockState": {"state": "associating"}, "networkBorderGroup": REGION, "ipv6Pool": "Amazon"}]},
            "isDefault": false}}),
    );
    let subnet = |id: &str, cidr: &str, v6: Option<&str>| {
        let mut req = json!({"vpcId": VPC, "cidrBlock": cidr, "availabilityZone": "us-west-2a"});
        let mut resp = json!({"subnet": {"subnetId": id, "state": "available", "vpcId": VPC, "cidrBlock": cidr, "availabilityZone": "us-west-2a", "defaultForAz": false}});
        if let Some(v6) = v6 {
            req["ipv6CidrBlock"] = json!(v6);
            resp["subnet"]["ipv6CidrBlockAssociationSet"] = json!({"items": [{"ipv6CidrBlock": v6, "associationId": "subnet-cidr-assoc-0c1", "ipv6CidrBlockState": {"state": "associating"}}]});
        }
        (req, resp)
    };
    let (req, resp) = subnet(WEB, "10.20.1.0/24", Some("2600:1f14:abc:de01::/64"));
    ct.call("2", T0 + 60, "CreateSubnet", TERRAFORM, req, resp);
    let (req, resp) = subnet(DB, "10.20.3.0/24", None);
    let db_subnet_at = if parallel { T0 + 61 } else { T0 + 360 };
    ct.call("11", db_subnet_at, "CreateSubnet", TERRAFORM, req, resp);
    // The web ACL: HTTPS from anywhere, SSH from the company's ranges, return traffic.
    ct.create_acl("3", T0 + 120, TERRAFORM, ACL_WEB);
    ct.entry("4", T0 + 130, TERRAFORM, ACL_WEB, 100, false, "6", "0.0.0.0/0", Some((443, 443)));
    ct.entry("5", T0 + 131, TERRAFORM, ACL_WEB, 101, false, "6", "::/0", Some((443, 443)));
    ct.entry("6", T0 + 132, TERRAFORM, ACL_WEB, 110, false, "6", "10.0.0.0/8", Some((22, 22)));
    ct.entry("7", T0 + 133, TERRAFORM, ACL_WEB, 120, false, "6", "0.0.0.0/0", Some((32768, 65535)));
    ct.entry("8", T0 + 134, TERRAFORM, ACL_WEB, 100, true, "-1", "0.0.0.0/0", None);
    ct.entry("9", T0 + 135, TERRAFORM, ACL_WEB, 101, true, "-1", "::/0", None);
    // The web subnet leaves the default ACL: the association id is in no call before.
    ct.associate("10", T0 + 300, TERRAFORM, "aclassoc-0c1default01", ACL_WEB, "aclassoc-0c1web000001");
    ct.create_acl("12", T0 + 400, TERRAFORM, ACL_DB);
    // The database subnet leaves the allow-all default ACL for one that allows nothing yet: a
    // narrowing; then the VPC's own range, all protocols: internal, trusted.
    ct.associate("13", T0 + 420, TERRAFORM, "aclassoc-0c1default02", ACL_DB, "aclassoc-0c1db0000001");
    ct.entry("14", T0 + 430, TERRAFORM, ACL_DB, 100, false, "-1", "10.20.0.0/16", None);
    ct.entry("15", T0 + 431, TERRAFORM, ACL_DB, 100, true, "-1", "10.20.0.0/16", None);
    ct.call(
        "16",
        T0 + 600,
        "RunInstances",
        TERRAFORM,
        json!({"instancesSet": {"items": [{"imageId": "ami-0c1", "minCount": 1, "maxCount": 1}]}, "instanceType": "t3.small", "subnetId": WEB, "ipv6AddressCount": 1}),
        json!({"instancesSet": {"items": [{"instanceId": "i-0c100000000000web", "subnetId": WEB, "vpcId": VPC, "privateIpAddress": WEB_V4,
            "networkInterfaceSet": {"items": [{"networkInterfaceId": WEB_ENI, "subnetId": WEB, "vpcId": VPC, "status": "in-use",
                "privateIpAddress": WEB_V4,
                "privateIpAddressesSet": {"item": [{"privateIpAddress": WEB_V4, "primary": true}]},
                "ipv6AddressesSet": {"items": [{"ipv6Address": WEB_V6}]}}]}}]}}),
    );
    // Day 2: the intruder opens SSH to the world, IPv4 then IPv6; then moves the web subnet to
    // an ACL of its own that allows everything, and back two hours later.
    let d2 = T0 + 24 * h;
    ct.entry("20", d2 + 6 * h, INTRUDER, ACL_WEB, 140, false, "6", "0.0.0.0/0", Some((22, 22)));
    ct.entry("21", d2 + 9 * h, INTRUDER, ACL_WEB, 141, false, "6", "::/0", Some((22, 22)));
    ct.create_acl("22", d2 + 11 * h, INTRUDER, ACL_OPEN);
    ct.entry("23", d2 + 11 * h + 60, INTRUDER, ACL_OPEN, 100, false, "-1", "0.0.0.0/0", None);
    ct.entry("24", d2 + 11 * h + 61, INTRUDER, ACL_OPEN, 100, true, "-1", "0.0.0.0/0", None);
    ct.entry("231", d2 + 11 * h + 62, INTRUDER, ACL_OPEN, 101, false, "-1", "::/0", None);
    ct.entry("241", d2 + 11 * h + 63, INTRUDER, ACL_OPEN, 101, true, "-1", "::/0", None);
    ct.associate("25", d2 + 12 * h, INTRUDER, "aclassoc-0c1web000001", ACL_OPEN, "aclassoc-0c1open00001");
    ct.associate("26", d2 + 14 * h, INTRUDER, "aclassoc-0c1open00001", ACL_WEB, "aclassoc-0c1web000002");

    // CloudTrail as a trail delivers it: a file per five minutes with activity.
    let mut by_file: std::collections::BTreeMap<i64, Vec<Value>> = std::collections::BTreeMap::new();
    for r in ct.records {
        let t = chrono::DateTime::parse_from_rfc3339(r["eventTime"].as_str().unwrap()).unwrap().timestamp();
        by_file.entry(t / 300 * 300).or_default().push(r);
    }
    for (t, records) in by_file {
        let when = chrono::DateTime::from_timestamp(t, 0).unwrap();
        let folder = dir.join(format!("AWSLogs/{ACCT}/CloudTrail/{REGION}/{}", when.format("%Y/%m/%d")));
        std::fs::create_dir_all(&folder).unwrap();
        let name = format!("{ACCT}_CloudTrail_{REGION}_{}_0c1{t}.json", when.format("%Y%m%dT%H%MZ"));
        std::fs::write(folder.join(name), serde_json::to_vec(&json!({"Records": records})).unwrap()).unwrap();
    }

    // The parallel estate's flow log writes IPv6 addresses unabridged: the lake must still meet
    // them with the address RunInstances gave (RFC 5952).
    let web_v6 = if parallel { "2600:1f14:0abc:de01:0000:0000:0000:0010" } else { WEB_V6 };
    // Flow records: HTTPS clients over IPv4 and IPv6 all along, the web tier reading the
    // database (an interface only the flow records tell), and the intruders.
    let mut flows: Vec<(i64, String)> = Vec::new();
    let mut add = |t: i64, line: String| flows.push((t, line));
    for hour in 1..48 {
        let t = T0 + hour * h;
        for c in 0..6 {
            let v4 = format!("198.18.{}.{}", hour % 50, 10 + c);
            let v6 = format!("2001:db8:c1::{:x}", hour * 16 + c);
            add(t + c * 60, flow(t + c * 60, WEB, WEB_ENI, &v4, WEB_V4, 40000 + c as u16, 443, "ACCEPT", "ingress"));
            add(t + c * 60, flow(t + c * 60, WEB, WEB_ENI, WEB_V4, &v4, 443, 40000 + c as u16, "ACCEPT", "egress"));
            add(
                t + c * 60 + 5,
                flow(t + c * 60 + 5, WEB, WEB_ENI, &v6, web_v6, 41000 + c as u16, 443, "ACCEPT", "ingress"),
            );
        }
        add(t + 900, flow(t + 900, WEB, WEB_ENI, WEB_V4, DB_V4, 50000, 5432, "ACCEPT", "egress"));
        add(t + 900, flow(t + 900, DB, DB_ENI, WEB_V4, DB_V4, 50000, 5432, "ACCEPT", "ingress"));
        add(t + 900, flow(t + 900, DB, DB_ENI, DB_V4, WEB_V4, 5432, 50000, "ACCEPT", "egress"));
        if hour < 30 {
            // Knocking before the changes: refused.
            add(t + 1200, flow(t + 1200, WEB, WEB_ENI, "203.0.113.50", WEB_V4, 51000, 22, "REJECT", "ingress"));
            add(t + 1300, flow(t + 1300, WEB, WEB_ENI, "2001:db8:bad::66", web_v6, 51001, 22, "REJECT", "ingress"));
            add(t + 1400, flow(t + 1400, WEB, WEB_ENI, "198.51.100.7", WEB_V4, 51002, 3389, "REJECT", "ingress"));
        }
    }
    for i in 0..30 {
        // IPv4 SSH brute force after rule 140, IPv6 after rule 141, RDP while on the open ACL.
        let t = d2 + 6 * h + 600 + i * 120;
        add(t, flow(t, WEB, WEB_ENI, "203.0.113.50", WEB_V4, 52000 + i as u16, 22, "ACCEPT", "ingress"));
        let t = d2 + 9 * h + 600 + i * 120;
        add(t, flow(t, WEB, WEB_ENI, "2001:db8:bad::66", web_v6, 53000 + i as u16, 22, "ACCEPT", "ingress"));
        let t = d2 + 12 * h + 300 + i * 180;
        add(t, flow(t, WEB, WEB_ENI, "198.51.100.7", WEB_V4, 54000 + i as u16, 3389, "ACCEPT", "ingress"));
        let t = d2 + 14 * h + 300 + i * 60;
        add(t, flow(t, WEB, WEB_ENI, "198.51.100.7", WEB_V4, 55000 + i as u16, 3389, "REJECT", "ingress"));
    }
    flows.sort();
    // A file per ten minutes, in the plain S3 layout.
    let mut by_file: std::collections::BTreeMap<i64, Vec<String>> = std::collections::BTreeMap::new();
    for (t, line) in flows {
        by_file.entry(t / 600 * 600).or_default().push(line);
    }
    for (t, lines) in by_file {
        let when = chrono::DateTime::from_timestamp(t, 0).unwrap();
        let folder = dir.join(format!("AWSLogs/{ACCT}/vpcflowlogs/{REGION}/{}", when.format("%Y/%m/%d")));
        std::fs::create_dir_all(&folder).unwrap();
        let name =
            format!("{ACCT}_vpcflowlogs_{REGION}_fl-0c1000000000000aa_{}_0c1{t}.log", when.format("%Y%m%dT%H%MZ"));
        std::fs::write(folder.join(name), format!("{FLOW_HEADER}\n{}\n", lines.join("\n"))).unwrap();
    }
}

fn json_rows(out: std::process::Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() { Vec::new() } else { serde_json::from_str(&text).unwrap() }
}

fn sql(lake: &Path, q: &str) -> Vec<Value> {
    json_rows(bin().args(["sql", "--format", "json", "--lake"]).arg(lake).arg(q).output().unwrap())
}

fn event(id: &str) -> String {
    format!("{id:0>8}-0c10-4000-8000-000000000000")
}

#[test]
fn an_estate_built_in_the_evidence_with_no_inventory() {
    check_estate(false);
}

#[test]
fn subnets_built_together_are_told_apart_by_their_flows() {
    check_estate(true);
}

fn check_estate(parallel: bool) {
    // Which subnet each move took: certain from the calls when one subnet at a time is built,
    // inferred from the flows when both wait on the default ACL together.
    let placed = if parallel { "inferred" } else { "cloudtrail" };
    let data = tempfile::tempdir().unwrap();
    write_estate(data.path(), parallel);
    let lake = tempfile::tempdir().unwrap();
    let out = bin().arg("ingest").arg("--lake").arg(lake.path()).arg("--quiet").arg(data.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));

    // Flow records without account-id and region take them from their S3 key.
    let where_from = sql(lake.path(), "SELECT DISTINCT account_id, region FROM flow_logs");
    assert_eq!(where_from, vec![json!({"account_id": ACCT, "region": REGION})]);

    // Interfaces keep every address: the web instance's IPv4 and IPv6 from RunInstances; the
    // database's from the side of its records the flow-direction field names.
    let addrs = sql(
        lake.path(),
        "SELECT interface_id, address, address_type, basis, subnet_id FROM network_interfaces WHERE address IS NOT \
            NULL ORDER BY 1, 2",
    );
    let has = |eni: &str, a: &str, kind: &str, basis: &str| {
        addrs
            .iter()
            .any(|r| r["interface_id"] == eni && r["address"] == a && r["address_type"] == kind && r["basis"] == basis)
    };
    assert!(has(WEB_ENI, WEB_V4, "private_ipv4", "cloudtrail"), "{addrs:?}");
    assert!(has(WEB_ENI, WEB_V6, "ipv6", "cloudtrail"), "{addrs:?}");
    assert!(has(DB_ENI, DB_V4, "private_ipv4", "flow_records"), "{addrs:?}");
    assert!(
        !addrs.iter().any(|r| r["interface_id"] == DB_ENI && r["address"] == WEB_V4),
        "a peer taken for the interface: {addrs:?}"
    );

    // Each subnet starts on the default ACL of its VPC (AWS's documented allow-all rules), and
    // the chain of association ids places the web subnet on every move.
    let assoc = sql(
        lake.path(),
        &format!(
            "SELECT subnet_id, network_acl_id, basis, learned_from FROM acl_associations WHERE subnet_id = '{WEB}' \
                ORDER BY valid_from NULLS FIRST"
        ),
    );
    let acls: Vec<&Value> = assoc.iter().map(|r| &r["network_acl_id"]).collect();
    assert_eq!(acls, vec![&Value::Null, &json!(ACL_WEB), &json!(ACL_OPEN), &json!(ACL_WEB)], "{assoc:?}");
    assert_eq!(assoc[0]["basis"], "cloudtrail", "{assoc:?}");
    assert!(assoc[1..].iter().all(|r| r["basis"] == placed), "{assoc:?}");
    assert!(assoc[0]["learned_from"].as_str().unwrap().contains("default ACL of vpc-0c1"), "{assoc:?}");

    let rows = json_rows(bin().args(["correlate", "--format", "json", "--lake"]).arg(lake.path()).output().unwrap());
    let row =
        |id: &str| rows.iter().find(|r| r["event_id"] == event(id)).unwrap_or_else(|| panic!("{id} not correlated"));
    let reasons = |id: &str| row(id)["risk_reasons"].as_str().unwrap_or("").to_string();

    // The planted incidents: every one found, its attacker named.
    for (id, peer) in [("20", "203.0.113.50"), ("21", "2001:db8:bad::66"), ("25", "198.51.100.7")] {
        let r = row(id);
        assert_eq!(r["verdict"], "unusual_traffic_after_change", "{id}: {r}");
        assert!(r["unusual_peers"].as_str().unwrap_or("").split(", ").any(|p| p == peer), "{id}: {r}");
        assert_eq!(r["topology_basis"], placed, "{id}: {r}");
        assert_eq!(r["interfaces_in_scope"], 1, "{r}");
    }
    // IPv6: the brute force counted on the interface's IPv6 address.
    assert_eq!(row("21")["matching_flows"], 30, "{}", row("21"));
    assert!(reasons("21").contains("world_open_cidr"));
    // The move to the open ACL: from the web ACL (known through the chain), to allow-all.
    assert!(reasons("25").contains("more_permissive_acl"), "{}", row("25"));
    assert_eq!(row("25")["subnet_id"], WEB);

    // Housekeeping, each named for what it is and not called risky.
    let quiet = |id: &str, reason: &str| {
        let r = row(id);
        assert_eq!(r["verdict"], "change_no_unusual_traffic", "{id}: {r}");
        assert_eq!(r["risk_score"], 0, "{id}: {r}");
        assert!(reasons(id).split(',').any(|x| x == reason), "{id}: {r}");
    };
    // Entries of ACLs that govern nothing yet.
    for id in ["4", "5", "6", "7", "8", "9", "23", "24", "231", "241"] {
        quiet(id, "inactive_acl");
    }
    // Off the allow-all default ACL onto a stricter one: only closes.
    quiet("10", "narrowing");
    quiet("13", "narrowing");
    assert_eq!(row("13")["subnet_id"], DB);
    // All protocols within the VPC's own range.
    quiet("14", "trusted_only");
    quiet("15", "trusted_only");
    assert_eq!(row("14")["topology_basis"], if parallel { "inferred" } else { "flow_records" }, "{}", row("14"));
    // Back from the open ACL: a remediation.
    quiet("26", "narrowing");
    assert_eq!(row("26")["subnet_id"], WEB);
    // Nothing else flagged.
    let flagged: Vec<&Value> =
        rows.iter().filter(|r| r["verdict"] != "change_no_unusual_traffic").map(|r| &r["event_id"]).collect();
    assert_eq!(flagged.len(), 3, "{flagged:?}");
    // Every change is named: a risk, or what it is (no_effect for the ACLs created).
    assert!(rows.iter().all(|r| !r["risk_reasons"].as_str().unwrap_or("").is_empty()), "{rows:?}");
    // No row is silent about what it stands on.
    assert!(rows.iter().all(|r| r["topology_basis"].is_string() && r["topology_reason"].is_string()), "{rows:?}");
}

#[test]
fn an_acl_no_call_places_is_placed_by_its_flows() {
    // A VPC made before the evidence, no inventory: only the flow records (Hive-style keys,
    // without account-id, region or flow-direction) tell the subnets and interfaces. An ACL no
    // call places is opened to SSH from the world, and one subnet's refused SSH becomes accepted.
    const ACCT2: &str = "444444444444";
    const ACL: &str = "acl-0d10000000000001";
    let (web, web_eni, web_ip) = ("subnet-0d10000000000001", "eni-0d10000000000001", "10.30.1.5");
    let (app, app_eni, app_ip) = ("subnet-0d10000000000002", "eni-0d10000000000002", "10.30.2.9");
    let data = tempfile::tempdir().unwrap();
    let h = 3600;
    let change = T0 + 30 * h;
    let mut ct = Trail { records: Vec::new() };
    ct.entry("40", change, INTRUDER, ACL, 120, false, "6", "0.0.0.0/0", Some((22, 22)));
    for r in &mut ct.records {
        r["recipientAccountId"] = json!(ACCT2);
        r["userIdentity"]["accountId"] = json!(ACCT2);
        r["userIdentity"]["arn"] = json!("arn:aws:iam::444444444444:user/ops-temp");
    }
    let folder = data.path().join(format!("AWSLogs/{ACCT2}/CloudTrail/{REGION}/2026/05/02"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join(format!("{ACCT2}_CloudTrail_{REGION}_20260502T0600Z_0d1.json")),
        serde_json::to_vec(&json!({"Records": ct.records})).unwrap(),
    )
    .unwrap();
    let line = |t: i64, subnet: &str, eni: &str, src: &str, dst: &str, sport: u16, dport: u16, action: &str| {
        format!("5 vpc-0d1 {subnet} {eni} {src} {dst} {sport} {dport} 6 10 840 {t} {} {action} OK", t + 55)
    };
    let mut by_hour: std::collections::BTreeMap<i64, Vec<String>> = std::collections::BTreeMap::new();
    for hour in 1..48 {
        let t = T0 + hour * h;
        let lines = by_hour.entry(t).or_default();
        for c in 0..5 {
            let client = format!("198.18.{}.{}", hour, 20 + c);
            lines.push(line(t + c * 60, web, web_eni, &client, web_ip, 40000, 443, "ACCEPT"));
            lines.push(line(t + c * 60, web, web_eni, web_ip, &client, 443, 40000, "ACCEPT"));
        }
        lines.push(line(t + 600, app, app_eni, web_ip, app_ip, 41000, 8080, "ACCEPT"));
        lines.push(line(t + 600, app, app_eni, app_ip, web_ip, 8080, 41000, "ACCEPT"));
        lines.push(line(t + 700, app, app_eni, "203.0.113.77", app_ip, 42000, 22, "REJECT"));
        let action = if t < change { "REJECT" } else { "ACCEPT" };
        for k in 0..3 {
            lines.push(line(t + 900 + k * 60, web, web_eni, "203.0.113.77", web_ip, 43000 + k as u16, 22, action));
        }
    }
    for (t, lines) in by_hour {
        let when = chrono::DateTime::from_timestamp(t, 0).unwrap();
        let folder = data.path().join(format!(
            "AWSLogs/aws-account-id={ACCT2}/aws-service=vpcflowlogs/aws-region={REGION}/year={}/month={}/day={}/hour={}",
            when.format("%Y"),
            when.format("%m"),
            when.format("%d"),
            when.format("%H")
        ));
        std::fs::create_dir_all(&folder).unwrap();
        let header = "version vpc-id subnet-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes \
            start end action log-status";
        std::fs::write(
            folder.join(format!("{ACCT2}_vpcflowlogs_{REGION}_fl-0d1_{}_0d1.log", when.format("%Y%m%dT%H%MZ"))),
            format!("{header}\n{}\n", lines.join("\n")),
        )
        .unwrap();
    }
    let lake = tempfile::tempdir().unwrap();
    let out = bin().arg("ingest").arg("--lake").arg(lake.path()).arg("--quiet").arg(data.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        sql(lake.path(), "SELECT DISTINCT account_id, region FROM flow_logs"),
        vec![json!({"account_id": ACCT2, "region": REGION})]
    );
    // Addresses from the records alone: the one in every record of the interface.
    let addrs =
        sql(lake.path(), "SELECT interface_id, address FROM network_interfaces WHERE address IS NOT NULL ORDER BY 1");
    assert_eq!(
        addrs,
        vec![json!({"interface_id": web_eni, "address": web_ip}), json!({"interface_id": app_eni, "address": app_ip})]
    );
    // The web subnet is placed on the ACL by its flows, the app subnet (refused SSH all along) not.
    let placed = sql(lake.path(), "SELECT subnet_id, network_acl_id, basis FROM acl_associations");
    assert_eq!(placed, vec![json!({"subnet_id": web, "network_acl_id": ACL, "basis": "inferred"})]);
    let rows = json_rows(bin().args(["correlate", "--format", "json", "--lake"]).arg(lake.path()).output().unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["verdict"], "unusual_traffic_after_change", "{}", rows[0]);
    assert_eq!(rows[0]["unusual_peers"], "203.0.113.77");
    assert_eq!(rows[0]["topology_basis"], "inferred");
    assert!(rows[0]["topology_reason"].as_str().unwrap().contains("inferred from flows"), "{}", rows[0]);
}

#[test]
fn a_snapshot_after_the_moves_places_the_whole_chain() {
    // describe-* output collected after the incident shows only the last association; the chain
    // of ids the calls returned places the earlier moves of the same subnet, and the ACL the
    // subnet first left is told by its flows.
    const ACCT3: &str = "555555555555";
    let (subnet, eni, ip) = ("subnet-0e10000000000001", "eni-0e10000000000001", "10.40.1.10");
    let (web, open) = ("acl-0e10000000000web", "acl-0e1000000000open");
    let data = tempfile::tempdir().unwrap();
    let h = 3600;
    let (out_at, back_at) = (T0 + 26 * h, T0 + 28 * h);
    let mut ct = Trail { records: Vec::new() };
    ct.associate("60", out_at, INTRUDER, "aclassoc-0e1original", open, "aclassoc-0e1open0001");
    ct.associate("61", back_at, INTRUDER, "aclassoc-0e1open0001", web, "aclassoc-0e1web00002");
    for r in &mut ct.records {
        r["recipientAccountId"] = json!(ACCT3);
        r["userIdentity"]["accountId"] = json!(ACCT3);
    }
    let folder = data.path().join(format!("AWSLogs/{ACCT3}/CloudTrail/{REGION}/2026/05/02"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join(format!("{ACCT3}_CloudTrail_{REGION}_20260502T0200Z_0e1.json")),
        serde_json::to_vec(&json!({"Records": ct.records})).unwrap(),
    )
    .unwrap();
    let rule = |n: i64, egress: bool, proto: &str, cidr: &str, ports: Option<(i64, i64)>, action: &str| {
        let mut e =
            json!({"RuleNumber": n, "Egress": egress, "Protocol": proto, "CidrBlock": cidr, "RuleAction": action});
        if let Some((f, t)) = ports {
            e["PortRange"] = json!({"From": f, "To": t});
        }
        e
    };
    let acls = json!({"NetworkAcls": [
        {"NetworkAclId": web, "VpcId": "vpc-0e1", "IsDefault": true, "OwnerId": ACCT3,
         "Associations": [{"NetworkAclAssociationId": "aclassoc-0e1web00002", "NetworkAclId": web, "SubnetId": subnet}],
         "Entries": [rule(100, false, "6", "0.0.0.0/0", Some((443, 443)), "allow"), rule(110, false, "6", "0.0.0.0/0", Some((32768, 65535)), "allow"),
                     rule(100, true, "-1", "0.0.0.0/0", None, "allow"),
                     rule(32767, false, "-1", "0.0.0.0/0", None, "deny"), rule(32767, true, "-1", "0.0.0.0/0", None, "deny")]},
        {"NetworkAclId": open, "VpcId": "vpc-0e1", "IsDefault": false, "OwnerId": ACCT3, "Associations": [],
         "Entries": [rule(100, false, "-1", "0.0.0.0/0", None, "allow"), rule(100, true, "-1", "0.0.0.0/0", None, "allow"),
                     rule(32767, false, "-1", "0.0.0.0/0", None, "deny"), rule(32767, true, "-1", "0.0.0.0/0", None, "deny")]}
    ]});
    let enis = json!({"NetworkInterfaces": [{"NetworkInterfaceId": eni, "SubnetId": subnet, "VpcId": "vpc-0e1", "OwnerId": ACCT3,
        "AvailabilityZone": "us-west-2a", "PrivateIpAddress": ip, "PrivateIpAddresses": [{"PrivateIpAddress": ip, "Primary": true}]}]});
    let inv = data.path().join(format!("inventory/{ACCT3}/{REGION}"));
    std::fs::create_dir_all(&inv).unwrap();
    std::fs::write(inv.join("describe-network-acls.json"), acls.to_string()).unwrap();
    std::fs::write(inv.join("describe-network-interfaces.json"), enis.to_string()).unwrap();
    // Flows: HTTPS all along; RDP from one outside peer refused, let in while the subnet was on
    // the open ACL, refused again after.
    let mut lines = Vec::new();
    for hour in 1..40 {
        let t = T0 + hour * h;
        for c in 0..4 {
            let client = format!("198.18.{hour}.{}", 30 + c);
            lines.push(format!(
                "2 {ACCT3} {eni} {client} {ip} 40000 443 6 10 840 {} {} ACCEPT OK",
                t + c * 60,
                t + c * 60 + 50
            ));
        }
        let action = if (out_at..back_at).contains(&(t + 1200)) { "ACCEPT" } else { "REJECT" };
        for k in 0..3 {
            let at = t + 1200 + k * 300;
            let action = if (out_at..back_at).contains(&at) { "ACCEPT" } else { action };
            lines.push(format!("2 {ACCT3} {eni} 198.51.100.9 {ip} 5{k}000 3389 6 10 840 {at} {} {action} OK", at + 50));
        }
    }
    let flows = data.path().join(format!("AWSLogs/{ACCT3}/vpcflowlogs/{REGION}/2026/05/01"));
    std::fs::create_dir_all(&flows).unwrap();
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end \
        action log-status";
    std::fs::write(
        flows.join(format!("{ACCT3}_vpcflowlogs_{REGION}_fl-0e1_20260501T0000Z_0e1.log")),
        format!("{header}\n{}\n", lines.join("\n")),
    )
    .unwrap();

    let lake = tempfile::tempdir().unwrap();
    let out = bin().arg("ingest").arg("--lake").arg(lake.path()).arg("--quiet").arg(data.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = json_rows(bin().args(["correlate", "--format", "json", "--lake"]).arg(lake.path()).output().unwrap());
    let row =
        |id: &str| rows.iter().find(|r| r["event_id"] == event(id)).unwrap_or_else(|| panic!("{id} not correlated"));
    // The move out: its subnet from the chain back from the snapshot, the ACL it left from the
    // subnet's flows before it, so the verdict stands on an inference and says so.
    assert_eq!(row("60")["subnet_id"], subnet, "{}", row("60"));
    assert_eq!(row("60")["verdict"], "unusual_traffic_after_change", "{}", row("60"));
    assert_eq!(row("60")["unusual_peers"], "198.51.100.9");
    assert_eq!(row("60")["topology_basis"], "inferred", "{}", row("60"));
    // The move back: both ACLs known; it only closes.
    assert_eq!(row("61")["subnet_id"], subnet);
    assert_eq!(row("61")["verdict"], "change_no_unusual_traffic", "{}", row("61"));
    assert_eq!(row("61")["risk_reasons"], "narrowing", "{}", row("61"));
    assert_eq!(row("61")["topology_basis"], "cloudtrail", "{}", row("61"));
    // acl diff shows the rules the subnet left, not "(not known)".
    let diff = bin().args(["acl", "diff", &event("60"), "--lake"]).arg(lake.path()).output().unwrap();
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(diff.status.success(), "{}", String::from_utf8_lossy(&diff.stderr));
    assert!(!text.contains("(not known)"), "{text}");
    assert!(text.contains("topology") && text.contains("inferred"), "{text}");
}
