//! The ACL as a model, asked directly: `trailflow acl show|diff|check|history` and the same
//! answers in SQL (`acl_decision`, `nacl_rules_at`, `nacl_rule_sets`), on the bundled sample and
//! on the real corpus.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{bin, real, root, sql};
use serde_json::Value;

const WEB: &str = "acl-0a1000000000000web";

/// The sample data, ingested once for all tests of this file.
fn lake() -> &'static Path {
    static LAKE: OnceLock<tempfile::TempDir> = OnceLock::new();
    LAKE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let (out, _) = common::ingest(dir.path(), &[&root().join("sample-data")]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        dir
    })
    .path()
}

fn truth_id(scenario: &str) -> String {
    let truth: Value =
        serde_json::from_slice(&std::fs::read(root().join("sample-data/ground-truth.json")).unwrap()).unwrap();
    let c = truth["changes"].as_array().unwrap().iter().find(|c| c["scenario"] == scenario).unwrap();
    c["event_id"].as_str().unwrap().to_string()
}

fn acl(args: &[&str]) -> (bool, String, String) {
    let out = bin().arg("acl").args(args).arg("--lake").arg(lake()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

fn json(args: &[&str]) -> Value {
    let (ok, out, err) = acl(args);
    assert!(ok, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn show_gives_the_rules_as_they_stood_with_where_each_was_learned() {
    // After the widening at 20:00 on the 10th and before the deny was deleted the next morning.
    let rows = json(&["show", WEB, "--at", "2026-03-10T21:00:00Z", "--format", "json"]);
    let rule = |n: i64, dir: &str| {
        rows.as_array().unwrap().iter().find(|r| r["rule_number"] == n && r["direction"] == dir).cloned().unwrap()
    };
    assert_eq!(rule(100, "ingress")["rule"], "allow tcp 0-65535 from 0.0.0.0/0");
    assert_eq!(
        rule(100, "ingress")["learned_from"],
        format!("cloudtrail ReplaceNetworkAclEntry {}", truth_id("port_range_widened_scanner_accepted"))
    );
    assert!(rule(50, "ingress")["rule"].as_str().unwrap().starts_with("unknown"));
    assert_eq!(rule(110, "ingress")["learned_from"], "inventory");
    assert_eq!(rule(32767, "egress")["rule"], "deny all to 0.0.0.0/0");
    // The latest state: the remediation put rule 100 back to 443, the deny is gone, NTP was added.
    let now = json(&["show", WEB, "--format", "json"]);
    let now = now.as_array().unwrap();
    assert!(now.iter().any(|r| r["rule_number"] == 100 && r["rule"] == "allow tcp 443 from 0.0.0.0/0"));
    assert!(!now.iter().any(|r| r["rule_number"] == 50));
    assert!(
        now.iter().any(|r| r["rule_number"] == 110
            && r["direction"] == "egress"
            && r["rule"] == "allow udp 123 to 0.0.0.0/0")
    );
    // A mistyped ACL is named with the nearest one the evidence shows; a usage error, exit status 2
    // (not 1, which `acl check` gives a denied packet).
    let typo = ["check", "--acl", "acl-0a1000000000000wbe", "--flow", "ingress tcp 1.2.3.4 -> 10.0.0.1:22"];
    let out = bin().arg("acl").args(typo).arg("--lake").arg(lake()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let (ok, _, err) = acl(&["show", "acl-0a1000000000000wbe"]);
    assert!(!ok);
    assert!(err.contains("did you mean acl-0a1000000000000web?"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn diff_says_what_a_change_opened_and_closed_with_the_rules_side_by_side() {
    let remediation = truth_id("remediation_narrows_rule");
    let (ok, out, err) = acl(&["diff", &remediation]);
    assert!(ok, "{err}");
    assert!(out.contains("opened   nothing"), "{out}");
    assert!(
        out.contains("closed   ingress tcp 0-79,81-442,444-1023 from 0.0.0.0/0 except 10.0.0.0/16 closed"),
        "{out}"
    );
    assert!(out.contains("narrowing"), "{out}");
    let d = json(&["diff", &remediation, "--format", "json"]);
    let changed: Vec<&Value> = d["rules"].as_array().unwrap().iter().filter(|r| r["change"] != "").collect();
    assert_eq!(changed.len(), 1, "{d}");
    assert_eq!(changed[0]["before"], "allow tcp 0-65535 from 0.0.0.0/0");
    assert_eq!(changed[0]["after"], "allow tcp 443 from 0.0.0.0/0");
    // The RDP rule in account B opens exactly RDP from the world.
    let rdp = json(&["diff", &truth_id("risky_change_odd_traffic_elsewhere"), "--format", "json"]);
    assert_eq!(rdp["opened"], "ingress tcp 3389 from 0.0.0.0/0 opened");
    assert_eq!(rdp["closed"], "nothing");
    let (ok, _, err) = acl(&["diff", "no-such-event"]);
    assert!(!ok && err.contains("no Network ACL or security-group change with event id no-such-event"), "{err}");
}

#[test]
fn check_answers_allowed_denied_or_unknown_with_the_deciding_rule() {
    // Before the deny of 45.137.21.0/24 (rule 50) was deleted nothing recorded shows it: a packet
    // reaches it first, so the answer is unknown, with what the rules below would decide.
    let code = |args: &[&str]| bin().arg("acl").args(args).arg("--lake").arg(lake()).output().unwrap().status.code();
    let unknown =
        ["check", "--acl", WEB, "--at", "2026-03-10T21:00:00Z", "--flow", "ingress tcp 45.137.21.9 -> 10.0.1.10:22"];
    let (ok, out, err) = acl(&unknown);
    // The exit status answers as grep's does: 0 allowed, 1 denied, and 3 when it cannot tell.
    assert!(!ok && code(&unknown) == Some(3), "{err}");
    assert!(out.contains("unknown: rule 50 comes first"), "{out}");
    assert!(out.contains("if it does not match: allowed by rule 100: allow tcp 0-65535 from 0.0.0.0/0"), "{out}");
    // After the remediation, SSH from outside is denied by the final deny, HTTPS allowed by 100.
    let denied = ["check", "--acl", WEB, "--flow", "ingress tcp 203.0.113.5 -> 10.0.1.10:22"];
    let (_, out, _) = acl(&denied);
    assert!(out.contains("denied by rule * (32767): the final deny"), "{out}");
    assert_eq!(code(&denied), Some(1));
    let allowed = ["check", "--acl", WEB, "--flow", "ingress tcp 203.0.113.5 -> 10.0.1.10:443"];
    let (_, out, _) = acl(&allowed);
    assert!(out.contains("allowed by rule 100: allow tcp 443 from 0.0.0.0/0"), "{out}");
    assert_eq!(code(&allowed), Some(0));
    // SSH from the VPC range is allowed by rule 120; outbound anything by egress rule 100.
    let (_, out, _) = acl(&["check", "--acl", WEB, "--flow", "ingress tcp 10.0.7.7 -> 10.0.1.10:22"]);
    assert!(out.contains("allowed by rule 120"), "{out}");
    let (_, out, _) = acl(&["check", "--acl", WEB, "--flow", "egress udp 10.0.1.10 -> 8.8.8.8:53"]);
    assert!(out.contains("allowed by rule 100: allow all to 0.0.0.0/0"), "{out}");
    // A flow that cannot be read is a usage error (exit 2), named.
    let out = bin()
        .args(["acl", "check", "--acl", WEB, "--flow", "ingress tcp 1.2.3.4 10.0.0.1:22", "--lake"])
        .arg(lake())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read the flow"));
}

#[test]
fn history_lists_every_change_with_its_opened_and_closed_line() {
    let rows = json(&["history", WEB, "--format", "json"]);
    let rows = rows.as_array().unwrap();
    let events: Vec<&str> = rows.iter().map(|r| r["event_id"].as_str().unwrap()).collect();
    for s in [
        "port_range_widened_scanner_accepted",
        "failed_change",
        "deny_rule_deleted",
        "identical_rule_reapplied",
        "remediation_narrows_rule",
        "egress_rule_shadowed",
    ] {
        assert!(events.contains(&truth_id(s).as_str()), "{s} not in the history");
    }
    let by = |s: &str| rows.iter().find(|r| r["event_id"] == truth_id(s).as_str()).unwrap();
    assert_eq!(by("identical_rule_reapplied")["risk_reasons"], "no_effect");
    assert!(by("identical_rule_reapplied")["opened"].is_null());
    assert_eq!(by("egress_rule_shadowed")["risk_reasons"], "shadowed");
    assert!(by("remediation_narrows_rule")["closed"].as_str().unwrap().contains("closed"));
    // In time order.
    let times: Vec<&str> = rows.iter().map(|r| r["event_time"].as_str().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
}

#[test]
fn the_same_answers_in_sql() {
    // The rules at a moment, as a table function.
    let at = sql(
        lake(),
        &format!(
            "SELECT rule_number, rule_action, port_to FROM nacl_rules_at('{WEB}', '2026-03-10T21:00:00Z') WHERE NOT \
                egress"
        ),
    );
    assert!(at.iter().any(|r| r["rule_number"] == 100 && r["port_to"] == 65535));
    assert!(at.iter().any(|r| r["rule_number"] == 50 && r["rule_action"].is_null()));
    // Flows joined to the rule set in force and to the rule that decided them: after the
    // remediation every accepted inbound flow on the web ACL's interfaces is decided by an allow.
    let decided = sql(
        lake(),
        &format!(
            "SELECT acl_decision(s.rules, false, f.protocol, f.srcaddr, f.dstport) AS rule, acl_allows(s.rules, false, f.protocol, f.srcaddr, f.dstport) AS allowed, count(*) AS n \
             FROM flow_logs f JOIN network_interfaces i ON i.interface_id = f.interface_id AND i.address = f.dstaddr \
             JOIN acl_associations a ON a.subnet_id = i.subnet_id AND a.network_acl_id = '{WEB}' \
             JOIN nacl_rule_sets s ON s.network_acl_id = a.network_acl_id AND f.start_time >= s.valid_from AND (s.valid_to IS NULL OR f.start_time < s.valid_to) \
             WHERE f.action = 'ACCEPT' AND f.start_time >= TIMESTAMP '2026-03-11T19:00:00Z' AND f.srcaddr NOT LIKE '10.%' \
             GROUP BY 1, 2 ORDER BY 1"
        ),
    );
    assert!(!decided.is_empty());
    assert!(decided.iter().all(|r| r["allowed"] == true), "{decided:?}");
    assert!(decided.iter().all(|r| [100, 110, 130].contains(&r["rule"].as_i64().unwrap())), "{decided:?}");
    // The rule sets over time, each with how many of its rules the evidence never showed.
    let sets = sql(
        lake(),
        &format!(
            "SELECT unknown_rules FROM nacl_rule_sets WHERE network_acl_id = '{WEB}' ORDER BY valid_from NULLS FIRST"
        ),
    );
    assert_eq!(sets.first().unwrap()["unknown_rules"], 2);
    assert_eq!(sets.last().unwrap()["unknown_rules"], 0);
    // A bad call is a one-line error.
    let out = bin()
        .args(["sql", "--lake"])
        .arg(lake())
        .arg("SELECT * FROM nacl_rules_at('acl-nope', '2026-03-10')")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no ACL acl-nope in the evidence"));
}

#[test]
fn real_acls_are_asked_the_same_questions() {
    // Elastic's capture deletes ingress rule 100 of acl-0af9cb843511d66d4 that nothing recorded
    // shows, then the ACL: its history says so, and nothing is claimed as opened for sure.
    let dir = tempfile::tempdir().unwrap();
    let (out, _) = common::ingest(dir.path(), &[&real("")]);
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3));
    let out = bin()
        .args(["acl", "history", "acl-0af9cb843511d66d4", "--format", "json", "--lake"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let del = rows.iter().find(|r| r["event_name"] == "DeleteNetworkAclEntry").unwrap();
    assert_eq!(del["risk_reasons"], "deleted_entry_unknown");
    assert!(del["opened"].is_null() || del["opened"].as_str().unwrap().contains("possibly"), "{del}");
    assert!(rows.iter().any(|r| r["event_name"] == "DeleteNetworkAcl" && r["risk_reasons"] == "no_effect"));
}
