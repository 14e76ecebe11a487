//! Security groups: which firewall change let in which traffic, with both layers in mind.
//!
//! An estate of our own making, its record shapes from AWS's EC2 API reference and the real
//! events of `../shared/real-data` (the item and flat request shapes, `securityGroupRuleSet`
//! responses): one VPC of three subnets, a web, a Windows and a database interface, groups that
//! reference groups (the database allows 5432 from the web tier's group), inventory taken the
//! day before (`describe-security-groups`, `describe-network-interfaces`,
//! `describe-network-acls`) and again at the end. Planted on day two:
//!
//! * SSH opened to the world on the web group, and a refused intruder then let in: unusual;
//! * RDP opened on the Windows group while the subnet's ACL still denies 3389: a decoy;
//! * an all-protocol opening on a group no interface is in: a decoy;
//! * a new group opened on 5432, and the database interface moved into it: unusual;
//! * the web group's ports 1024-65535 opened while the server downloads 200 MB from a new peer
//!   over HTTPS: the inbound records are replies (stateful), not new traffic: risky, not unusual;
//! * a refused call, and a revoke.

mod common;

use std::path::Path;

use serde_json::{Value, json};

use common::bin;

const ACCT: &str = "444444444444";
const REGION: &str = "us-east-2";
const VPC: &str = "vpc-0d100000000000001";
const SUB_WEB: &str = "subnet-0d10000000000web";
const SUB_WIN: &str = "subnet-0d10000000000win";
const SUB_DB: &str = "subnet-0d100000000000db";
const ACL_MAIN: &str = "acl-0d1000000000main";
const ACL_WIN: &str = "acl-0d10000000000win";
const ENI_WEB: &str = "eni-0d10000000000web";
const ENI_WIN: &str = "eni-0d10000000000win";
const ENI_DB: &str = "eni-0d100000000000db";
const WEB: &str = "10.30.1.10";
const WIN: &str = "10.30.2.30";
const DB: &str = "10.30.3.20";
const SG_WEB: &str = "sg-0d10000000000web";
const SG_WIN: &str = "sg-0d10000000000win";
const SG_DB: &str = "sg-0d100000000000db";
const SG_UNUSED: &str = "sg-0d1000000000idle";
const SG_OPEN: &str = "sg-0d1000000000open";
const INTRUDER: &str = "arn:aws:iam::444444444444:user/contractor";

/// Seconds from 2026-06-01T00:00:00Z.
const T0: i64 = 1_780_272_000;
const H: i64 = 3600;
const D2: i64 = T0 + 24 * H;

fn iso(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0).unwrap().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn event_id(id: &str) -> String {
    format!("{id:0>8}-0d10-4000-8000-000000000000")
}

fn call(id: &str, t: i64, name: &str, req: Value, resp: Value, error: Option<&str>) -> Value {
    let mut r = json!({
        "eventVersion": "1.09",
        "userIdentity": {"type": "IAMUser", "principalId": "AIDAEXAMPLECONTRACT", "arn": INTRUDER, "accountId": ACCT,
            "accessKeyId": "AKIAEXAMPLECONTRACT1", "userName": "contractor"},
        "eventTime": iso(t),
        "eventSource": "ec2.amazonaws.com",
        "eventName": name,
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.9",
        "userAgent": "aws-cli/2.17.0 Python/3.12.4 Linux/6.8 exe/x86_64",
        "requestParameters": req,
        "responseElements": resp,
        "requestID": format!("0d1{id:0>33}"),
        "eventID": event_id(id),
        "readOnly": false,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": ACCT,
        "eventCategory": "Management"
    });
    if let Some(code) = error {
        r["errorCode"] = json!(code);
        r["errorMessage"] = json!("You are not authorized to perform this operation.");
        r["responseElements"] = Value::Null;
    }
    r
}

/// An ingress authorisation in the item shape, answered with its `securityGroupRuleSet`.
fn authorize(id: &str, t: i64, group: &str, proto: &str, ports: (i64, i64), cidr: &str) -> Value {
    call(
        id,
        t,
        "AuthorizeSecurityGroupIngress",
        json!({"groupId": group, "ipPermissions": {"items": [{"ipProtocol": proto, "fromPort": ports.0, "toPort": ports.1,
            "groups": {}, "ipRanges": {"items": [{"cidrIp": cidr}]}, "ipv6Ranges": {}, "prefixListIds": {}}]}}),
        json!({"requestId": "r", "_return": true, "securityGroupRuleSet": {"items": [{"groupOwnerId": ACCT, "groupId": group,
            "securityGroupRuleId": format!("sgr-0d1{id:0>14}"), "isEgress": false, "ipProtocol": proto,
            "fromPort": ports.0, "toPort": ports.1, "cidrIpv4": cidr}]}}),
        None,
    )
}

fn group(id: &str, ingress: Value) -> Value {
    json!({"GroupId": id, "GroupName": id, "VpcId": VPC, "OwnerId": ACCT, "Description": "x",
        "IpPermissions": ingress,
        "IpPermissionsEgress": [{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [],
            "PrefixListIds": [], "UserIdGroupPairs": []}]})
}

fn tcp_from(port: i64, cidr: &str) -> Value {
    json!({"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}], "Ipv6Ranges": [],
        "PrefixListIds": [], "UserIdGroupPairs": []})
}

fn interface(id: &str, subnet: &str, ip: &str, groups: &[&str]) -> Value {
    json!({"NetworkInterfaceId": id, "SubnetId": subnet, "VpcId": VPC, "OwnerId": ACCT,
        "AvailabilityZone": "us-east-2a", "PrivateIpAddress": ip, "Status": "in-use", "InterfaceType": "interface",
        "PrivateIpAddresses": [{"PrivateIpAddress": ip, "Primary": true}],
        "Groups": groups.iter().map(|g| json!({"GroupId": g, "GroupName": g})).collect::<Vec<_>>()})
}

fn acls() -> Value {
    let allow_all = |n: i64, egress: bool| json!({"RuleNumber": n, "Protocol": "-1", "RuleAction": "allow", "Egress": egress, "CidrBlock": "0.0.0.0/0"});
    let deny_end = |egress: bool| json!({"RuleNumber": 32767, "Protocol": "-1", "RuleAction": "deny", "Egress": egress, "CidrBlock": "0.0.0.0/0"});
    json!({"NetworkAcls": [
        {"NetworkAclId": ACL_MAIN, "VpcId": VPC, "IsDefault": true, "OwnerId": ACCT,
         "Associations": [
            {"NetworkAclAssociationId": "aclassoc-0d1000web", "NetworkAclId": ACL_MAIN, "SubnetId": SUB_WEB},
            {"NetworkAclAssociationId": "aclassoc-0d10000db", "NetworkAclId": ACL_MAIN, "SubnetId": SUB_DB}],
         "Entries": [allow_all(100, false), allow_all(100, true), deny_end(false), deny_end(true)]},
        {"NetworkAclId": ACL_WIN, "VpcId": VPC, "IsDefault": false, "OwnerId": ACCT,
         "Associations": [{"NetworkAclAssociationId": "aclassoc-0d1000win", "NetworkAclId": ACL_WIN, "SubnetId": SUB_WIN}],
         "Entries": [
            {"RuleNumber": 90, "Protocol": "6", "RuleAction": "deny", "Egress": false, "CidrBlock": "0.0.0.0/0",
             "PortRange": {"From": 3389, "To": 3389}},
            allow_all(100, false), allow_all(100, true), deny_end(false), deny_end(true)]}
    ]})
}

/// The inventory as `describe-*` writes it: `before` the day before, or at the end (the
/// database interface in both groups, the intruder's SSH rule revoked, the new open group).
fn write_inventory(dir: &Path, at_end: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let mut web = vec![tcp_from(443, "0.0.0.0/0")];
    if at_end {
        web.push(
            json!({"IpProtocol": "tcp", "FromPort": 1024, "ToPort": 65535, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}),
        );
        web.push(tcp_from(443, "198.51.100.0/24"));
        // `describe-security-group-rules` of the web group at the end: the same rules, with ids.
        let rule = |id: &str, egress: bool, proto: &str, ports: (i64, i64), cidr: &str| {
            json!({"SecurityGroupRuleId": id, "GroupId": SG_WEB, "GroupOwnerId": ACCT, "IsEgress": egress,
                "IpProtocol": proto, "FromPort": ports.0, "ToPort": ports.1, "CidrIpv4": cidr, "Tags": []})
        };
        let rules = json!({"SecurityGroupRules": [
            rule("sgr-0d1000000000web443", false, "tcp", (443, 443), "0.0.0.0/0"),
            rule("sgr-0d100000000000107", false, "tcp", (1024, 65535), "0.0.0.0/0"),
            rule("sgr-0d100000000000110", false, "tcp", (443, 443), "198.51.100.0/24"),
            rule("sgr-0d1000000000webout", true, "-1", (-1, -1), "0.0.0.0/0")]});
        std::fs::write(dir.join("security-group-rules.json"), serde_json::to_vec_pretty(&rules).unwrap()).unwrap();
    }
    let db_from_web = json!({"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "IpRanges": [],
        "UserIdGroupPairs": [{"GroupId": SG_WEB, "UserId": ACCT}]});
    let mut groups = vec![
        group(SG_WEB, json!(web)),
        group(SG_WIN, json!(if at_end { vec![tcp_from(3389, "0.0.0.0/0")] } else { vec![] })),
        group(SG_DB, json!([db_from_web])),
        group(
            SG_UNUSED,
            json!(if at_end {
                vec![json!({"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})]
            } else {
                vec![]
            }),
        ),
    ];
    if at_end {
        groups.push(group(SG_OPEN, json!([tcp_from(5432, "0.0.0.0/0")])));
    }
    let db_groups: &[&str] = if at_end { &[SG_DB, SG_OPEN] } else { &[SG_DB] };
    let files = [
        ("security-groups.json", json!({"SecurityGroups": groups})),
        (
            "network-interfaces.json",
            json!({"NetworkInterfaces": [
                interface(ENI_WEB, SUB_WEB, WEB, &[SG_WEB]),
                interface(ENI_WIN, SUB_WIN, WIN, &[SG_WIN]),
                interface(ENI_DB, SUB_DB, DB, db_groups)]}),
        ),
        ("network-acls.json", acls()),
    ];
    for (name, v) in files {
        std::fs::write(dir.join(name), serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    }
}

/// One flow record of the default (version 2) format: no TCP flags, no direction.
#[allow(clippy::too_many_arguments)] // a record is as many fields as its format has
fn flow(t: i64, eni: &str, src: &str, dst: &str, sport: u32, dport: u32, bytes: u64, action: &str) -> String {
    format!("2 {ACCT} {eni} {src} {dst} {sport} {dport} 6 20 {bytes} {t} {} {action} OK", t + 50)
}

fn write_evidence(dir: &Path) {
    let trail = vec![
        authorize("101", D2 + 2 * H, SG_WEB, "tcp", (22, 22), "0.0.0.0/0"),
        // The flat shape of older SDKs (Invictus, Stratus), no rule set in the response.
        call(
            "102",
            D2 + 3 * H,
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": SG_WIN, "ipPermissions": {}, "ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389, "cidrIp": "0.0.0.0/0"}),
            json!({"requestId": "r", "_return": true}),
            None,
        ),
        authorize("103", D2 + 4 * H, SG_UNUSED, "-1", (-1, -1), "0.0.0.0/0"),
        call(
            "104",
            D2 + 5 * H,
            "CreateSecurityGroup",
            json!({"groupName": "db-temp", "groupDescription": "temp", "vpcId": VPC}),
            json!({"requestId": "r", "_return": true, "groupId": SG_OPEN}),
            None,
        ),
        authorize("105", D2 + 5 * H + 60, SG_OPEN, "tcp", (5432, 5432), "0.0.0.0/0"),
        call(
            "106",
            D2 + 6 * H,
            "ModifyNetworkInterfaceAttribute",
            json!({"networkInterfaceId": ENI_DB, "groupSet": {"items": [{"groupId": SG_DB}, {"groupId": SG_OPEN}]}}),
            json!({"requestId": "r", "_return": true}),
            None,
        ),
        authorize("107", D2 + 8 * H, SG_WEB, "tcp", (1024, 65535), "0.0.0.0/0"),
        call(
            "108",
            D2 + 9 * H,
            "AuthorizeSecurityGroupIngress",
            json!({"groupId": SG_WEB, "ipPermissions": {"items": [{"ipProtocol": "tcp", "fromPort": 3389, "toPort": 3389,
                "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}}]}}),
            Value::Null,
            Some("Client.UnauthorizedOperation"),
        ),
        call(
            "109",
            D2 + 10 * H,
            "RevokeSecurityGroupIngress",
            json!({"groupId": SG_WEB, "ipPermissions": {}, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "cidrIp": "0.0.0.0/0"}),
            json!({"requestId": "r", "_return": true}),
            None,
        ),
        // HTTPS from a partner's range on the web group, which already allows HTTPS from anywhere.
        authorize("110", D2 + 11 * H, SG_WEB, "tcp", (443, 443), "198.51.100.0/24"),
    ];
    let mut by_file: std::collections::BTreeMap<i64, Vec<Value>> = std::collections::BTreeMap::new();
    for r in trail {
        let t = chrono::DateTime::parse_from_rfc3339(r["eventTime"].as_str().unwrap()).unwrap().timestamp();
        by_file.entry(t / 300 * 300).or_default().push(r);
    }
    for (t, records) in by_file {
        let when = chrono::DateTime::from_timestamp(t, 0).unwrap();
        let folder = dir.join(format!("AWSLogs/{ACCT}/CloudTrail/{REGION}/{}", when.format("%Y/%m/%d")));
        std::fs::create_dir_all(&folder).unwrap();
        let name = format!("{ACCT}_CloudTrail_{REGION}_{}_0d1{t}.json", when.format("%Y%m%dT%H%MZ"));
        std::fs::write(folder.join(name), serde_json::to_vec(&json!({"Records": records})).unwrap()).unwrap();
    }

    let mut flows: Vec<(i64, String)> = Vec::new();
    let mut add = |t: i64, line: String| flows.push((t, line));
    for hour in 1..48 {
        let t = T0 + hour * H;
        // HTTPS clients of the web tier, and its replies.
        for c in 0..4u32 {
            let client = format!("198.18.{}.{}", hour % 40, 10 + c);
            add(t + c as i64 * 60, flow(t + c as i64 * 60, ENI_WEB, &client, WEB, 40000 + c, 443, 4000, "ACCEPT"));
            add(t + c as i64 * 60, flow(t + c as i64 * 60, ENI_WEB, WEB, &client, 443, 40000 + c, 90000, "ACCEPT"));
        }
        // The web tier reads the database: allowed by the database group's reference to the web
        // group, before and after the move.
        add(t + 900, flow(t + 900, ENI_WEB, WEB, DB, 50000, 5432, 3000, "ACCEPT"));
        add(t + 900, flow(t + 900, ENI_DB, WEB, DB, 50000, 5432, 3000, "ACCEPT"));
        add(t + 900, flow(t + 900, ENI_DB, DB, WEB, 5432, 50000, 60000, "ACCEPT"));
        if hour < 26 {
            // Knocking before the changes: refused by the groups.
            add(t + 1200, flow(t + 1200, ENI_WEB, "203.0.113.50", WEB, 51000, 22, 60, "REJECT"));
            add(t + 1300, flow(t + 1300, ENI_DB, "203.0.113.77", DB, 51001, 5432, 60, "REJECT"));
            add(t + 1400, flow(t + 1400, ENI_WIN, "198.51.100.7", WIN, 51002, 3389, 60, "REJECT"));
        }
    }
    for i in 0..30u32 {
        let k = i as i64;
        // SSH let in by 101.
        let t = D2 + 2 * H + 600 + k * 60;
        add(t, flow(t, ENI_WEB, "203.0.113.50", WEB, 52000 + i, 22, 5000, "ACCEPT"));
        add(t, flow(t, ENI_WEB, WEB, "203.0.113.50", 22, 52000 + i, 9000, "ACCEPT"));
        // RDP still refused by the Windows subnet's ACL after 102.
        let t = D2 + 3 * H + 600 + k * 60;
        add(t, flow(t, ENI_WIN, "198.51.100.7", WIN, 53000 + i, 3389, 60, "REJECT"));
        // PostgreSQL let in by the move (106).
        let t = D2 + 6 * H + 600 + k * 60;
        add(t, flow(t, ENI_DB, "203.0.113.77", DB, 54000 + i, 5432, 7000, "ACCEPT"));
        add(t, flow(t, ENI_DB, DB, "203.0.113.77", 5432, 54000 + i, 70000, "ACCEPT"));
        // After 107: the web server downloads from a new peer over HTTPS; 7 MB a connection
        // comes back on its ephemeral ports, which the group now also opens.
        let t = D2 + 8 * H + 600 + k * 60;
        add(t, flow(t, ENI_WEB, WEB, "192.0.2.80", 56000 + i, 443, 3000, "ACCEPT"));
        add(t, flow(t, ENI_WEB, "192.0.2.80", WEB, 443, 56000 + i, 7_000_000, "ACCEPT"));
    }
    flows.sort();
    let mut by_file: std::collections::BTreeMap<i64, Vec<String>> = std::collections::BTreeMap::new();
    for (t, line) in flows {
        by_file.entry(t / 600 * 600).or_default().push(line);
    }
    for (t, lines) in by_file {
        let when = chrono::DateTime::from_timestamp(t, 0).unwrap();
        let folder = dir.join(format!("AWSLogs/{ACCT}/vpcflowlogs/{REGION}/{}", when.format("%Y/%m/%d")));
        std::fs::create_dir_all(&folder).unwrap();
        let name =
            format!("{ACCT}_vpcflowlogs_{REGION}_fl-0d100000000000aa_{}_0d1{t}.log", when.format("%Y%m%dT%H%MZ"));
        let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status";
        std::fs::write(folder.join(name), format!("{header}\n{}\n", lines.join("\n"))).unwrap();
    }
    // A second flow log on the web interface, version 3 with TCP flags, that records only the
    // inbound half of another download after 107: 18 (SYN-ACK) marks the server's side, so these
    // are replies even with no outbound record to pair them with.
    let t = D2 + 8 * H + 1200;
    let folder = dir.join(format!("AWSLogs/{ACCT}/vpcflowlogs/{REGION}/2026/06/02"));
    let lines: Vec<String> = (0..20u32)
        .map(|i| {
            let t = t + i as i64 * 30;
            format!("3 {ACCT} {ENI_WEB} 192.0.2.90 {WEB} 443 {} 6 900 9000000 {t} {} ACCEPT OK 19", 57000 + i, t + 20)
        })
        .collect();
    let header = "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action log-status tcp-flags";
    std::fs::write(
        folder.join(format!("{ACCT}_vpcflowlogs_{REGION}_fl-0d100000000000bb_20260602T0820Z_0d1flags.log")),
        format!("{header}\n{}\n", lines.join("\n")),
    )
    .unwrap();
}

fn json_rows(out: std::process::Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    if text.trim().is_empty() { Vec::new() } else { serde_json::from_str(&text).unwrap() }
}

fn sql(lake: &Path, q: &str) -> Vec<Value> {
    json_rows(bin().args(["sql", "--format", "json", "--lake"]).arg(lake).arg(q).output().unwrap())
}

/// The estate in a lake: the evidence, the inventory of the day before and of the end.
fn lake() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    write_evidence(&evidence);
    let (before, after) = (dir.path().join("inventory-before"), dir.path().join("inventory-after"));
    write_inventory(&before, false);
    write_inventory(&after, true);
    let lake = dir.path().join("lake");
    for (inputs, at) in [(&evidence, None), (&before, Some(T0)), (&after, Some(D2 + 20 * H))] {
        let mut cmd = bin();
        cmd.args(["ingest", "-q", "--lake"]).arg(&lake).arg(inputs);
        if let Some(t) = at {
            cmd.args(["--inventory-time", &iso(t)]);
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    (dir, lake)
}

fn verdicts(lake: &Path) -> std::collections::BTreeMap<String, Value> {
    let out = bin().args(["correlate", "--format", "json", "--lake"]).arg(lake).output().unwrap();
    json_rows(out)
        .into_iter()
        .filter(|r| r["firewall"] == "security_group")
        .map(|r| (r["event_id"].as_str().unwrap()[..8].trim_start_matches('0').to_string(), r))
        .collect()
}

#[test]
fn each_security_group_change_gets_the_verdict_both_layers_give_it() {
    let (_dir, lake) = lake();
    let v = verdicts(&lake);
    let verdict = |id: &str| v[id]["verdict"].as_str().unwrap().to_string();
    let reasons = |id: &str| v[id]["risk_reasons"].as_str().unwrap_or("").to_string();
    assert_eq!(v.len(), 10, "{v:#?}");

    // SSH to the world, and the refused intruder let in.
    assert_eq!(verdict("101"), "unusual_traffic_after_change", "{:#?}", v["101"]);
    assert_eq!(v["101"]["unusual_peers"], "203.0.113.50");
    assert_eq!(v["101"]["group_id"], SG_WEB);
    assert_eq!(v["101"]["interface_list"], ENI_WEB);
    assert_eq!(v["101"]["matching_flows"], 30, "the intruder's 30 connections, not the server's replies");
    assert!(reasons("101").contains("world_open_cidr") && reasons("101").contains("admin_port"), "{}", reasons("101"));

    // RDP opened on the group, still denied by the subnet's ACL: nothing reaches through.
    assert_eq!(verdict("102"), "change_no_unusual_traffic", "{:#?}", v["102"]);
    assert_eq!(reasons("102"), "blocked_by_acl");
    assert_eq!(v["102"]["risk_score"], 0);

    // A group no interface is in.
    assert_eq!(verdict("103"), "change_no_unusual_traffic", "{:#?}", v["103"]);
    assert_eq!(reasons("103"), "unused_group");
    assert_eq!(verdict("104"), "change_no_unusual_traffic");
    assert_eq!(reasons("105"), "unused_group");

    // The database interface moved into the open group: the refused peer let in on 5432.
    assert_eq!(verdict("106"), "unusual_traffic_after_change", "{:#?}", v["106"]);
    assert_eq!(v["106"]["unusual_peers"], "203.0.113.77");
    assert_eq!(v["106"]["interface_id"], ENI_DB);
    assert!(reasons("106").contains("more_permissive_group"), "{}", reasons("106"));
    assert_eq!(v["106"]["matching_flows"], 30, "the web tier's reads were allowed before: not counted");

    // A wide opening while HTTPS replies come back on the ephemeral ports: risky, and the 210 MB
    // of replies from a new peer are not traffic it let in.
    assert_eq!(verdict("107"), "risky_change_no_unusual_traffic", "{:#?}", v["107"]);
    assert_eq!(v["107"]["matching_flows"], 0, "{:#?}", v["107"]);
    assert_eq!(v["107"]["new_peers"], 0, "neither 192.0.2.80 nor 192.0.2.90 (SYN-ACK) opened anything");
    assert!(reasons("107").contains("wide_port_range"), "{}", reasons("107"));

    assert_eq!(verdict("108"), "failed_change");
    assert_eq!(verdict("109"), "change_no_unusual_traffic");
    assert_eq!(reasons("109"), "narrowing");
    // A rule an existing wider one already covers opens nothing.
    assert_eq!(verdict("110"), "change_no_unusual_traffic");
    assert_eq!(reasons("110"), "shadowed");
    assert!(v["110"]["opened"].is_null(), "{:#?}", v["110"]);
}

#[test]
fn the_tables_hold_rules_membership_and_scope_over_time() {
    let (_dir, lake) = lake();
    // The web group's SSH rule: from the call that added it to the revoke.
    let ssh = sql(
        &lake,
        &format!(
            "SELECT learned_from, CAST(valid_from AS VARCHAR) AS f, CAST(valid_to AS VARCHAR) AS t FROM sg_rules \
             WHERE group_id = '{SG_WEB}' AND port_from = 22 AND NOT egress"
        ),
    );
    assert_eq!(ssh.len(), 1, "{ssh:?}");
    assert!(ssh[0]["learned_from"].as_str().unwrap().contains("AuthorizeSecurityGroupIngress"), "{ssh:?}");
    assert!(ssh[0]["f"].as_str().unwrap().starts_with("2026-06-02T02:00:00"), "{ssh:?}");
    assert!(ssh[0]["t"].as_str().unwrap().starts_with("2026-06-02T10:00:00"), "{ssh:?}");
    // `describe-security-group-rules` names the rules the calls never showed an id for.
    let ids = sql(
        &lake,
        &format!(
            "SELECT rule_id, CAST(valid_from AS VARCHAR) AS f FROM sg_rules WHERE group_id = '{SG_WEB}' \
             AND port_from = 443 AND cidr_block = '0.0.0.0/0'"
        ),
    );
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(ids[0]["rule_id"], "sgr-0d1000000000web443");
    assert!(ids[0]["f"].is_null(), "held from the edge of the evidence: {ids:?}");
    // The database interface: its group until the move, both after it.
    let db = sql(
        &lake,
        &format!(
            "SELECT group_id, basis, CAST(valid_from AS VARCHAR) AS f, CAST(valid_to AS VARCHAR) AS t \
             FROM interface_groups WHERE interface_id = '{ENI_DB}' ORDER BY valid_from NULLS FIRST, group_id"
        ),
    );
    let rows: Vec<(String, Option<String>)> = db
        .iter()
        .map(|r| (r["group_id"].as_str().unwrap().to_string(), r["t"].as_str().map(|s| s[..19].to_string())))
        .collect();
    assert_eq!(
        rows,
        vec![
            (SG_DB.to_string(), Some("2026-06-02T06:00:00".to_string())),
            (SG_DB.to_string(), None),
            (SG_OPEN.to_string(), None)
        ],
        "{db:?}"
    );
    // The peer group is resolved to the web tier's address at the moment of the move.
    let scope = sql(
        &lake,
        &format!(
            "SELECT interface_id, address, scope, rules_before FROM sg_change_scope WHERE event_id = '{}'",
            event_id("106")
        ),
    );
    assert_eq!(scope.len(), 1, "{scope:?}");
    assert_eq!(scope[0]["address"], DB);
    assert_eq!(scope[0]["scope"], "moved");
    assert!(scope[0]["rules_before"].as_str().unwrap().contains("10.30.1.10/32"), "{scope:?}");
    // acl_allows judges flows against the groups' rules in SQL.
    let judged = sql(
        &lake,
        &format!(
            "SELECT acl_allows(rules_before, false, 6, '{WEB}', 5432) AS web_before, \
             acl_allows(rules_before, false, 6, '203.0.113.77', 5432) AS outsider_before, \
             acl_allows(rules_after, false, 6, '203.0.113.77', 5432) AS outsider_after \
             FROM sg_change_scope WHERE event_id = '{}'",
            event_id("106")
        ),
    );
    assert_eq!(judged[0]["web_before"], true);
    assert_eq!(judged[0]["outsider_before"], false);
    assert_eq!(judged[0]["outsider_after"], true);
}

#[test]
fn the_real_invictus_security_group_calls_replay_exactly() {
    // Stratus Red Team's "open port 22" technique as the Invictus dataset recorded it: a group
    // created, its default egress revoked (IPv4 refused for IPv6: the VPC has no IPv6 rule),
    // HTTPS and then SSH opened to the world, SSH revoked, the group deleted. No interface was
    // ever put in it.
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let out = bin()
        .args(["ingest", "-q", "--lake"])
        .arg(&lake)
        .arg(common::real("cloudtrail/invictus-ir-aws_dataset"))
        .output()
        .unwrap();
    assert!(out.status.code() == Some(0) || out.status.code() == Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let rows = sql(
        &lake,
        "SELECT event_name, succeeded, risk_reasons, opened_text, closed_text FROM sg_changes \
         WHERE group_id = 'sg-04cfb7a4712d75b00' ORDER BY event_time, event_id",
    );
    let got: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
            (s("event_name"), s("risk_reasons"), s("opened_text"), s("closed_text"))
        })
        .collect();
    let row = |n: &str, why: &str, opened: &str, closed: &str| (n.into(), why.into(), opened.into(), closed.into());
    assert_eq!(
        got,
        vec![
            row("CreateSecurityGroup", "no_effect", "", ""),
            row("RevokeSecurityGroupEgress", "unused_group", "", "egress all to 0.0.0.0/0 closed"),
            row("RevokeSecurityGroupEgress", "failed_call", "", ""),
            row("AuthorizeSecurityGroupIngress", "unused_group", "ingress tcp 443 from 0.0.0.0/0 opened", ""),
            row(
                "AuthorizeSecurityGroupEgress",
                "unused_group",
                "egress all to 0.0.0.0/0 opened; egress all to ::/0 opened",
                ""
            ),
            row("AuthorizeSecurityGroupIngress", "unused_group", "ingress tcp 22 from 0.0.0.0/0 opened", ""),
            row("RevokeSecurityGroupIngress", "unused_group", "", "ingress tcp 22 from 0.0.0.0/0 closed"),
            row(
                "DeleteSecurityGroup",
                "unused_group",
                "",
                "ingress tcp 443 from 0.0.0.0/0 closed; egress all to 0.0.0.0/0 closed; egress all to ::/0 closed"
            ),
        ],
        "{rows:#?}"
    );
    // Every rule of the group ends with the group; SSH held for the 109 s between its calls.
    let open =
        sql(&lake, "SELECT count(*) AS n FROM sg_rules WHERE group_id = 'sg-04cfb7a4712d75b00' AND valid_to IS NULL");
    assert_eq!(open[0]["n"], 0);
    let ssh = sql(
        &lake,
        "SELECT rule_id, arrow_cast(valid_to, 'Int64') - arrow_cast(valid_from, 'Int64') AS held FROM sg_rules \
         WHERE group_id = 'sg-04cfb7a4712d75b00' AND port_from = 22",
    );
    assert_eq!(ssh.len(), 1, "{ssh:?}");
    assert_eq!(ssh[0]["rule_id"], "sgr-0a11552a7d225f5c7");
    assert_eq!(ssh[0]["held"], 109_000_000);
}

#[test]
fn a_path_check_gives_the_acl_rule_and_the_group_rule_in_one_answer() {
    let (_dir, lake) = lake();
    let check = |flow: &str, at: i64| {
        let out = bin()
            .args(["acl", "check", "--lake"])
            .arg(&lake)
            .args(["--flow", flow, "--at", &iso(at)])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // SSH before the opening: the ACL allows it, no group rule does.
    let (code, text, err) = check("ingress tcp 203.0.113.50 -> 10.30.1.10:22", D2 + H);
    assert_eq!(code, Some(1), "{text}{err}");
    assert!(text.contains(ACL_MAIN) && text.contains("allowed by rule 100"), "{text}");
    assert!(text.contains(&format!("denied: no rule of {SG_WEB} allows it")), "{text}");
    assert!(text.contains("path: denied"), "{text}");
    // After it: both layers, and the rule that does it with its id and the call it came from.
    let (code, text, _) = check("ingress tcp 203.0.113.50 -> 10.30.1.10:22", D2 + 3 * H);
    assert_eq!(code, Some(0), "{text}");
    assert!(
        text.contains(&format!("allowed by {SG_WEB} sgr-0d100000000000101: allow tcp 22 from 0.0.0.0/0")),
        "{text}"
    );
    assert!(text.contains(&event_id("101")), "{text}");
    assert!(text.contains("path: allowed"), "{text}");
    // RDP after the Windows group's opening: the group allows it, the subnet's ACL does not.
    let (code, text, _) = check("ingress tcp 198.51.100.7 -> 10.30.2.30:3389", D2 + 4 * H);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(ACL_WIN) && text.contains("denied by rule 90"), "{text}");
    assert!(text.contains(&format!("allowed by {SG_WIN}")), "{text}");
    // The database group's reference to the web group: the web tier's address is a member's.
    let (code, text, _) = check("ingress tcp 10.30.1.10 -> 10.30.3.20:5432", D2 + H);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("allowed by {SG_DB}: allow tcp 5432 from {SG_WEB}")), "{text}");
    let (code, text, _) = check("ingress tcp 203.0.113.77 -> 10.30.3.20:5432", D2 + H);
    assert_eq!(code, Some(1), "{text}");
    let (code, text, _) = check("ingress tcp 203.0.113.77 -> 10.30.3.20:5432", D2 + 7 * H);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&format!("allowed by {SG_OPEN}")), "{text}");
}

#[test]
fn acl_show_diff_and_history_answer_for_a_security_group() {
    let (_dir, lake) = lake();
    let run = |args: &[&str]| {
        let out = bin().args(args).arg("--lake").arg(&lake).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    // The move: from and to, and the open group's rule added to what the interface allows.
    let diff = run(&["acl", "diff", &event_id("106")]);
    assert!(diff.contains(&format!("moved    {ENI_DB}")), "{diff}");
    assert!(diff.contains(&format!("from     {SG_DB}")), "{diff}");
    assert!(diff.contains(&format!("to       {SG_DB}, {SG_OPEN}")), "{diff}");
    assert!(diff.contains("opened   ingress tcp 5432 from 0.0.0.0/0 except 10.30.1.10/32 opened"), "{diff}");
    assert!(diff.lines().any(|l| l.contains("allow tcp 5432 from 0.0.0.0/0") && l.contains("added")), "{diff}");
    // The web group's rules the evening of day two, and its history with the move out of scope.
    let show = run(&["acl", "show", SG_WEB, "--at", &iso(D2 + 9 * H), "--format", "csv"]);
    let ports: Vec<&str> = show.lines().skip(1).map(|l| l.split(',').nth(2).unwrap_or("")).collect();
    assert_eq!(ports, vec!["22", "443", "1024", ""], "{show}");
    let history = run(&["acl", "history", SG_WEB, "--format", "csv"]);
    let names: Vec<&str> = history.lines().skip(1).map(|l| l.split(',').nth(1).unwrap_or("")).collect();
    assert_eq!(
        names,
        vec![
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupIngress",
            "AuthorizeSecurityGroupIngress",
            "RevokeSecurityGroupIngress",
            "AuthorizeSecurityGroupIngress"
        ],
        "{history}"
    );
    let out = bin().args(["acl", "show", "sg-0d1000000000nope", "--lake"]).arg(&lake).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no security group sg-0d1000000000nope"));
}

#[test]
fn the_report_tells_the_security_group_incidents_and_leaves_the_decoys_out() {
    let (dir, lake) = lake();
    let report = dir.path().join("report");
    let out = bin()
        .args(["investigate", "-q", "--lake"])
        .arg(&lake)
        .arg("-o")
        .arg(&report)
        .arg(dir.path().join("evidence"))
        .arg(dir.path().join("inventory-before"))
        .arg(dir.path().join("inventory-after"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{:?} {} {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let summary = std::fs::read_to_string(report.join("summary.md")).unwrap();
    let flagged =
        summary.split("## Flagged firewall changes").nth(1).unwrap_or("").split("## Housekeeping").next().unwrap();
    for incident in [format!("security group {SG_WEB}"), format!("interface {ENI_DB}")] {
        assert!(flagged.contains(&incident), "{incident} not flagged:\n{flagged}");
    }
    // The decoys: the opening the ACL still blocks, the unused group; the replies' change (107)
    // is flagged as risky, never as letting traffic in.
    for decoy in [SG_WIN, SG_UNUSED] {
        assert!(!flagged.contains(decoy), "{decoy} flagged:\n{flagged}");
    }
    assert_eq!(flagged.matches("\n### ").count(), 3, "{flagged}");
    let csv = std::fs::read_to_string(report.join("correlation.csv")).unwrap();
    let unusual: Vec<&str> = csv.lines().filter(|l| l.contains("unusual_traffic_after_change")).collect();
    assert_eq!(unusual.len(), 2, "{csv}");
    assert!(
        unusual.iter().any(|l| l.contains(&event_id("101"))) && unusual.iter().any(|l| l.contains(&event_id("106"))),
        "{unusual:?}"
    );
}

/// An AWS Config snapshot (the delivered file's shape): a group whose rules name a managed prefix
/// list, the prefix list with its entries, an interface in the group attached to an instance,
/// and a second group; then CloudTrail moves the instance to the second group.
#[test]
fn aws_config_items_and_a_prefix_list_give_the_rules_and_an_instance_move_is_placed() {
    let dir = tempfile::tempdir().unwrap();
    let evidence = dir.path().join("evidence");
    let config = evidence.join(format!("AWSLogs/{ACCT}/Config/{REGION}/2026/6/1/ConfigSnapshot"));
    std::fs::create_dir_all(&config).unwrap();
    let item = |t: &str, id: &str, configuration: Value| {
        json!({"configurationItemCaptureTime": iso(T0), "configurationItemStatus": "OK", "resourceType": t,
            "resourceId": id, "awsAccountId": ACCT, "awsRegion": REGION, "configuration": configuration})
    };
    let all_out = json!([{"ipProtocol": "-1", "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}], "ipRanges": ["0.0.0.0/0"],
        "ipv6Ranges": [], "prefixListIds": [], "userIdGroupPairs": []}]);
    let snapshot = json!({"fileVersion": "1.0", "configSnapshotId": "0d1-config", "configurationItems": [
        item("AWS::EC2::SecurityGroup", "sg-0d1000000000cfg1", json!({"groupId": "sg-0d1000000000cfg1", "groupName": "partners",
            "vpcId": VPC, "ownerId": ACCT,
            "ipPermissions": [
                {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}],
                 "ipRanges": ["0.0.0.0/0"], "ipv6Ranges": [], "prefixListIds": [], "userIdGroupPairs": []},
                {"ipProtocol": "tcp", "fromPort": 8080, "toPort": 8080, "ipv4Ranges": [], "ipRanges": [], "ipv6Ranges": [],
                 "prefixListIds": [{"prefixListId": "pl-0d10000000partner"}], "userIdGroupPairs": []}],
            "ipPermissionsEgress": all_out})),
        item("AWS::EC2::SecurityGroup", "sg-0d1000000000cfg2", json!({"groupId": "sg-0d1000000000cfg2", "groupName": "admin",
            "vpcId": VPC, "ownerId": ACCT,
            "ipPermissions": [{"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "ipv4Ranges": [{"cidrIp": "0.0.0.0/0"}],
                "ipRanges": ["0.0.0.0/0"], "ipv6Ranges": [], "prefixListIds": [], "userIdGroupPairs": []}],
            "ipPermissionsEgress": all_out})),
        item("AWS::EC2::PrefixList", "pl-0d10000000partner", json!({"prefixListId": "pl-0d10000000partner",
            "prefixListName": "partners", "addressFamily": "IPv4", "maxEntries": 5,
            "entries": [{"cidr": "198.51.100.0/24", "description": "partner A"}]})),
        item("AWS::EC2::NetworkInterface", "eni-0d1000000000cfg1", json!({"networkInterfaceId": "eni-0d1000000000cfg1",
            "subnetId": SUB_WEB, "vpcId": VPC, "privateIpAddress": "10.30.1.44",
            "privateIpAddresses": [{"privateIpAddress": "10.30.1.44", "primary": true}],
            "attachment": {"instanceId": "i-0d1000000000cfg1", "deviceIndex": 0, "status": "attached"},
            "groups": [{"groupId": "sg-0d1000000000cfg1", "groupName": "partners"}]}))
    ]});
    std::fs::write(
        config.join(format!("{ACCT}_Config_{REGION}_ConfigSnapshot_20260601T000000Z_0d1.json")),
        serde_json::to_vec(&snapshot).unwrap(),
    )
    .unwrap();
    let trail = json!({"Records": [call(
        "201",
        D2,
        "ModifyInstanceAttribute",
        json!({"instanceId": "i-0d1000000000cfg1", "groupSet": {"items": [{"groupId": "sg-0d1000000000cfg2"}]}}),
        json!({"requestId": "r", "_return": true}),
        None,
    )]});
    let folder = evidence.join(format!("AWSLogs/{ACCT}/CloudTrail/{REGION}/2026/06/02"));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join(format!("{ACCT}_CloudTrail_{REGION}_20260602T0000Z_0d1cfg.json")), trail.to_string())
        .unwrap();
    let lake = dir.path().join("lake");
    let out = bin().args(["ingest", "-q", "--lake"]).arg(&lake).arg(&evidence).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // The instance's interface left the partners group for the admin group.
    let rows = sql(
        &lake,
        "SELECT interface_id, groups_before, groups_after, opened_text, closed_text, topology_basis FROM sg_changes",
    );
    assert_eq!(rows.len(), 1, "{rows:#?}");
    let r = &rows[0];
    assert_eq!(r["interface_id"], "eni-0d1000000000cfg1");
    assert_eq!(r["groups_before"], "sg-0d1000000000cfg1");
    assert_eq!(r["groups_after"], "sg-0d1000000000cfg2");
    assert_eq!(r["opened_text"], "ingress tcp 22 from 0.0.0.0/0 opened", "{r:#?}");
    // What the prefix list allowed is closed, told by its entries.
    let closed = r["closed_text"].as_str().unwrap();
    assert_eq!(
        closed,
        "ingress tcp 443 from 0.0.0.0/0 except 198.51.100.0/24 closed; ingress tcp 443,8080 from 198.51.100.0/24 closed"
    );
    assert!(!closed.contains("possibly"), "the prefix list's entries are known: {closed}");
    let groups = sql(
        &lake,
        "SELECT group_id, basis, CAST(valid_to AS VARCHAR) AS t FROM interface_groups \
         WHERE interface_id = 'eni-0d1000000000cfg1' ORDER BY valid_from NULLS FIRST",
    );
    assert_eq!(groups[0]["group_id"], "sg-0d1000000000cfg1");
    assert_eq!(groups[0]["basis"], "config");
    assert!(groups[0]["t"].as_str().unwrap().starts_with("2026-06-02T00:00:00"), "{groups:?}");
    assert_eq!(groups[1]["group_id"], "sg-0d1000000000cfg2");
    assert_eq!(groups[1]["basis"], "cloudtrail");
    // The rule naming the prefix list is kept as such.
    let pl = sql(&lake, "SELECT port_from, complete FROM sg_rules WHERE prefix_list_id = 'pl-0d10000000partner'");
    assert_eq!(pl.len(), 1, "{pl:?}");
    assert_eq!(pl[0]["port_from"], 8080);
    assert_eq!(pl[0]["complete"], true);
}
