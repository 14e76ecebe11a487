//! Golden SQL of the Sigma compiler: every modifier, the value forms (wildcards, escapes, null,
//! lists with and without `all`), keywords and conditions, and every correlation type, compiled
//! from small rules and held as `insta` snapshots (`tests/snapshots/sigma_sql__*.snap`). A change
//! to the compiler shows here as a diff of the SQL it writes; the SQL's answers on real rules are
//! checked against an independent backend by `benches/sigma_reference.py`.

use std::fmt::Write as _;
use std::path::Path;

use trailflow::hunt::sigma;

/// A CloudTrail rule of one detection, compiled; its WHERE condition.
fn condition(detection: &str) -> String {
    let text = format!("title: t\nid: x\nlogsource:\n  product: aws\n  service: cloudtrail\ndetection:\n{detection}");
    match sigma::compile(Path::new("r.yml"), &text) {
        Ok(Some(rule)) => rule.condition,
        Ok(None) => "(not a CloudTrail rule)".into(),
        Err(why) => format!("not compiled: {why}"),
    }
}

#[test]
fn every_modifier_compiles_to_its_sql() {
    let cases: &[(&str, &str)] = &[
        ("equals, case folded", "  s:\n    eventName: CreateUser\n"),
        ("a list is any of its values", "  s:\n    eventName:\n      - CreateUser\n      - DeleteUser\n"),
        ("wildcards * and ?", "  s:\n    eventName: Create*Key?\n"),
        ("escaped wildcard", "  s:\n    eventName: 'Create\\*'\n"),
        ("null", "  s:\n    errorCode: null\n"),
        ("a number", "  s:\n    recipientAccountId: 123456789012\n"),
        ("contains", "  s:\n    userAgent|contains: boto3\n"),
        ("startswith", "  s:\n    eventName|startswith: Put\n"),
        ("endswith", "  s:\n    eventName|endswith: Policy\n"),
        ("contains|all", "  s:\n    userAgent|contains|all:\n      - aws-cli\n      - linux\n"),
        ("cased", "  s:\n    eventName|cased: CreateUser\n"),
        ("re with flags", "  s:\n    userAgent|re|i: '^aws-cli/[12]\\.'\n"),
        ("re, not a regex", "  s:\n    userAgent|re: '(('\n"),
        ("cidr", "  s:\n    sourceIPAddress|cidr: 10.0.0.0/8\n"),
        ("cidr, IPv6", "  s:\n    sourceIPAddress|cidr: 2001:db8::/32\n"),
        ("exists true", "  s:\n    errorCode|exists: true\n"),
        ("exists false", "  s:\n    errorCode|exists: false\n"),
        ("gt", "  s:\n    requestParameters.maxResults|gt: 100\n"),
        ("gte", "  s:\n    requestParameters.maxResults|gte: 100\n"),
        ("lt", "  s:\n    requestParameters.maxResults|lt: 5\n"),
        ("lte", "  s:\n    requestParameters.maxResults|lte: 5\n"),
        ("fieldref", "  s:\n    userIdentity.principalId|fieldref: userIdentity.accessKeyId\n"),
        ("base64", "  s:\n    requestParameters.userData|base64: curl\n"),
        ("base64offset|contains", "  s:\n    requestParameters.userData|base64offset|contains: curl\n"),
        ("windash|contains", "  s:\n    requestParameters.commands|windash|contains: -enc\n"),
        (
            "a JSON path through lists",
            "  s:\n    requestParameters.ipPermissions.items.ipRanges.items.cidrIp: 0.0.0.0/0\n",
        ),
        ("a JSON path, contains", "  s:\n    requestParameters.policyDocument|contains: '\"Effect\": \"Allow\"'\n"),
        ("keywords", "  keywords:\n    - AssumeRoot\n    - 'Get*Token'\n"),
        (
            "and, or, not, 1 of, all of",
            "  a:\n    eventSource: iam.amazonaws.com\n  b1:\n    eventName: CreateUser\n  b2:\n    eventName: \
                CreateAccessKey\n  f:\n    userIdentity.type: AWSService\n  condition: a and 1 of b* and not f\n",
        ),
        (
            "all of them",
            "  a:\n    eventSource: s3.amazonaws.com\n  b:\n    eventName: PutBucketPolicy\n  condition: all of them\n",
        ),
        ("wide (not compiled)", "  s:\n    userAgent|wide: x\n"),
        ("expand (not compiled)", "  s:\n    userAgent|expand: '%x%'\n"),
        ("two operators (not compiled)", "  s:\n    userAgent|contains|startswith: x\n"),
        ("an unknown modifier (not compiled)", "  s:\n    userAgent|sounds_like: x\n"),
    ];
    let mut out = String::new();
    for (name, detection) in cases {
        // A detection without a condition of its own is its one selection.
        let selected = if detection.contains("keywords:") { "keywords" } else { "s" };
        let detection = match detection.contains("condition:") {
            true => detection.to_string(),
            false => format!("{detection}  condition: {selected}\n"),
        };
        writeln!(out, "## {name}\n{}\n", condition(&detection)).unwrap();
    }
    insta::assert_snapshot!("modifiers", out);
}

#[test]
fn every_correlation_type_compiles_to_its_sql() {
    let dir = tempfile::tempdir().unwrap();
    let base = |name: &str, event: &str| {
        format!(
            "title: {name}\nid: {name}-id\nname: {name}\nlogsource:\n  product: aws\n  service: \
                cloudtrail\ndetection:\n  s:\n    eventName: {event}\n  condition: s\n"
        )
    };
    let correlation = |name: &str, body: &str| {
        format!("title: {name}\nid: {name}-id\nname: {name}\nlevel: high\ncorrelation:\n{body}")
    };
    let files = [
        ("failed_login.yml", base("failed_login", "ConsoleLogin")),
        ("key_created.yml", base("key_created", "CreateAccessKey")),
        (
            "event_count.yml",
            correlation(
                "many_logins",
                "  type: event_count\n  rules: [failed_login]\n  group-by: [sourceIPAddress]\n  timespan: 10m\n  \
                    condition:\n    gte: 5\n",
            ),
        ),
        (
            "value_count.yml",
            correlation(
                "many_users",
                "  type: value_count\n  rules: [failed_login]\n  group-by: [sourceIPAddress]\n  timespan: 1h\n  \
                    condition:\n    field: userIdentity.userName\n    gt: 3\n",
            ),
        ),
        (
            "temporal.yml",
            correlation(
                "login_and_key",
                "  type: temporal\n  rules: [failed_login, key_created]\n  group-by: [sourceIPAddress]\n  timespan: \
                    30m\n",
            ),
        ),
        (
            "temporal_ordered.yml",
            correlation(
                "login_then_key",
                "  type: temporal_ordered\n  rules: [failed_login, key_created]\n  group-by: [sourceIPAddress]\n  \
                    timespan: 30m\n",
            ),
        ),
    ];
    for (f, text) in &files {
        std::fs::write(dir.path().join(f), text).unwrap();
    }
    let loaded = sigma::load_dir(dir.path()).unwrap();
    assert!(loaded.skipped.is_empty(), "{:?}", loaded.skipped);
    let mut out = String::new();
    let mut rules: Vec<_> = loaded.rules.iter().collect();
    rules.sort_by_key(|r| r.stem());
    for r in rules {
        writeln!(out, "## {} ({:?})\n{}\n", r.stem(), r.kind, r.sql()).unwrap();
    }
    insta::assert_snapshot!("correlations", out);
}
