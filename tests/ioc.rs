//! Address context and indicator sweeps (issue 35): AWS's ranges and GeoIP databases in SQL and
//! recorded in the lake, and `trailflow ioc` over indicator files of every format, each count
//! checked against a query written independently of the sweep's matcher.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{bin, count, ingest, real, root, sql, stderr};

fn sample_lake() -> tempfile::TempDir {
    let lake = tempfile::tempdir().unwrap();
    let (out, _) = ingest(lake.path(), &[&root().join("sample-data")]);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(3), "{}", stderr(&out));
    lake
}

fn summary(dir: &Path) -> HashMap<String, HashMap<String, String>> {
    csv::Reader::from_path(dir.join("ioc_summary.csv"))
        .unwrap()
        .deserialize::<HashMap<String, String>>()
        .map(|r| {
            let r = r.unwrap();
            (r["origin"].clone(), r)
        })
        .collect()
}

#[test]
fn indicators_in_every_format_find_exactly_the_records_that_hold_them() {
    let lake = sample_lake();
    let files = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = files.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let plain = write(
        "plain.txt",
        "# the sample case\n203.0.113.45        # scanner\n192.0.2.0/24\nAKIA1111DEVTEMP00042\n\
         arn:aws:iam::222222222222:user/contractor\nBoto3/1.34 # a part of an agent\nDeleteFlowLogs\n999.1.1.1\n\
         notanindicator\n",
    );
    let csv_file = write(
        "iocs.csv",
        "type,value,comment\nip-src,198.51.100.23,\nip-dst|port,203.0.113.45|443,replies to the scanner\n\
         aws-account-id,222222222222,partner\nmd5,d41d8cd98f00b204e9800998ecf8427e,a hash\n",
    );
    let stix = write(
        "bundle.json",
        r#"{"type":"bundle","id":"bundle--1","objects":[
          {"type":"indicator","spec_version":"2.1","id":"indicator--a","name":"HTTPS to the scanner","pattern_type":"stix",
           "pattern":"[network-traffic:dst_ref.value = '203.0.113.45' AND network-traffic:dst_port = 443]"},
          {"type":"indicator","spec_version":"2.1","id":"indicator--b","pattern_type":"stix",
           "pattern":"[ipv4-addr:value ISSUBSET '198.51.100.0/24' OR user-account:user_id = 'AKIA1111DEVTEMP00042']"},
          {"type":"indicator","spec_version":"2.1","id":"indicator--c","pattern_type":"stix",
           "pattern":"[file:hashes.'SHA-256' = 'abc']"},
          {"type":"malware","id":"malware--x","name":"x"}]}"#,
    );
    let misp = write(
        "event.json",
        r#"{"Event":{"info":"Sample case C2","Attribute":[
          {"type":"ip-src","value":"192.0.2.200","uuid":"u1"},
          {"type":"user-agent","value":"aws-cli/2.15.30","uuid":"u3"},
          {"type":"text","value":"AKIA2222CONTRACTOR01","uuid":"u4"},
          {"type":"domain","value":"evil.example","uuid":"u5"}],
          "Object":[{"name":"ip-port","Attribute":[{"type":"ip-dst","value":"192.0.2.77","uuid":"u6"}]}]}}"#,
    );
    // Files that cannot be read at all: each is named once, and the others are swept.
    let broken = write("broken.json", r#"{"type": "bundle", "objects": ["#);
    let other = write("other.json", r#"{"hello": "world"}"#);
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("ioc")
        .args([&plain, &csv_file, &stix, &misp, &broken, &other])
        .arg("--dir")
        .arg(dir.path())
        .arg("--lake")
        .arg(lake.path())
        .output()
        .unwrap();
    // Lines not read are said, each naming its place; the rest is swept; exit 3.
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    for said in [
        "plain.txt:8: \"999.1.1.1\" is neither an address nor a CIDR",
        "plain.txt:9: \"notanindicator\" is not an address",
        "iocs.csv:5: type \"md5\" is not swept",
        "bundle.json: indicator--c: pattern",
        "event.json: attribute u5: type \"domain\" is not swept",
        "broken.json: not JSON: ",
        "other.json: neither a STIX 2.1 bundle nor MISP events",
    ] {
        assert!(err.contains(said), "{said} not in {err}");
    }
    assert_eq!(err.matches("broken.json").count(), 1, "{err}");
    let s = summary(dir.path());
    let at = |origin: &str| &s[&format!("{}{origin}", files.path().display())];
    let l = lake.path();
    let flows = |w: &str| count(l, &format!("SELECT 1 FROM flow_logs WHERE {w}"));
    let events = |w: &str| count(l, &format!("SELECT 1 FROM cloudtrail WHERE {w}"));
    let in_raw = |v: &str| events(&format!("strpos(CAST(raw AS VARCHAR), '{v}') > 0"));
    let any_side = |net: &str| {
        flows(&format!(
            "cidr_contains('{net}', srcaddr) OR cidr_contains('{net}', dstaddr) OR coalesce(cidr_contains('{net}', \
             pkt_srcaddr), false) OR coalesce(cidr_contains('{net}', pkt_dstaddr), false)"
        ))
    };
    let want: Vec<(&str, i64, i64)> = vec![
        // An address: a flow either way; a CloudTrail record that names it anywhere.
        ("/plain.txt:2", in_raw("203.0.113.45"), any_side("203.0.113.45/32")),
        // A network: flows either way, CloudTrail callers in it.
        ("/plain.txt:3", events("cidr_contains('192.0.2.0/24', source_ip)"), any_side("192.0.2.0/24")),
        ("/plain.txt:4", in_raw("AKIA1111DEVTEMP00042"), 0),
        ("/plain.txt:5", in_raw("arn:aws:iam::222222222222:user/contractor\""), 0),
        ("/plain.txt:6", events("strpos(lower(user_agent), 'boto3/1.34') > 0"), 0),
        ("/plain.txt:7", events("event_name = 'DeleteFlowLogs'"), 0),
        // ip-src: a flow from it (or a CloudTrail call from it, which has no other side).
        ("/iocs.csv:2", in_raw("198.51.100.23"), flows("srcaddr = '198.51.100.23' OR pkt_srcaddr = '198.51.100.23'")),
        ("/iocs.csv:3", 0, flows("(dstaddr = '203.0.113.45' OR pkt_dstaddr = '203.0.113.45') AND dstport = 443")),
        ("/iocs.csv:4", in_raw("222222222222"), flows("account_id = '222222222222'")),
        ("/bundle.json: indicator--a", 0, flows("dstaddr = '203.0.113.45' AND dstport = 443")),
        (
            "/bundle.json: indicator--b",
            events(
                "cidr_contains('198.51.100.0/24', source_ip) OR strpos(CAST(raw AS VARCHAR), 'AKIA1111DEVTEMP00042') > 0",
            ),
            any_side("198.51.100.0/24"),
        ),
        (
            "/event.json: attribute u1",
            in_raw("192.0.2.200"),
            flows("srcaddr = '192.0.2.200' OR pkt_srcaddr = '192.0.2.200'"),
        ),
        ("/event.json: attribute u3", events("strpos(lower(user_agent), 'aws-cli/2.15.30') > 0"), 0),
        ("/event.json: attribute u4", in_raw("AKIA2222CONTRACTOR01"), 0),
        (
            "/event.json: attribute u6",
            in_raw("192.0.2.77"),
            flows("dstaddr = '192.0.2.77' OR pkt_dstaddr = '192.0.2.77'"),
        ),
    ];
    for (origin, ct, fl) in &want {
        let row = at(origin);
        assert_eq!(row["cloudtrail_hits"].parse::<i64>().unwrap(), *ct, "{origin} cloudtrail: {row:?}");
        assert_eq!(row["flow_hits"].parse::<i64>().unwrap(), *fl, "{origin} flows: {row:?}");
    }
    // The planted ones are there: the scanner's flows, the intruder's key.
    assert!(want[0].2 > 100 && want[2].1 > 10, "{want:?}");
    assert_eq!(s.len(), want.len());
    // Every matching record is written with the indicator it holds.
    let records = |f: &str, origin: &str| {
        csv::Reader::from_path(dir.path().join(f))
            .unwrap()
            .deserialize::<HashMap<String, String>>()
            .filter(|r| r.as_ref().unwrap()["origin"].ends_with(origin))
            .count() as i64
    };
    assert_eq!(records("ioc_flows.csv", "/plain.txt:3"), want[1].2);
    assert_eq!(records("ioc_cloudtrail.csv", "/plain.txt:4"), want[2].1);
    let problems = std::fs::read_to_string(dir.path().join("ioc_problems.csv")).unwrap();
    assert_eq!(problems.lines().count(), 8, "{problems}");
    // Nothing read at all: a clear error, exit 2.
    let empty = write("empty.txt", "# nothing\n");
    let out = bin().arg("ioc").arg(&empty).arg("--lake").arg(lake.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no indicator read from"), "{}", stderr(&out));
}

#[test]
fn aws_ranges_and_geoip_name_addresses() {
    let lake = tempfile::tempdir().unwrap();
    let (out, _) = ingest(lake.path(), &[&real("cloudtrail/invictus-ir-aws_dataset")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let l = lake.path();
    // The shipped ranges (2026-08-22), against a reference computed with Python's ipaddress over
    // the same file (the longest prefix of a service, else of AMAZON).
    let rows = sql(
        l,
        "SELECT aws_service('18.236.253.47') a, aws_region('18.236.253.47') b, aws_prefix('18.236.253.47') c, \
         aws_service('205.251.233.179') d, aws_service('13.248.124.7') e, aws_region('2600:1f18:4a3:6902::1') f, \
         aws_service('198.51.100.7') g, ip_context('3.225.16.109') h, ip_context('10.1.2.3') i",
    );
    let r = &rows[0];
    assert_eq!(
        [&r["a"], &r["b"], &r["c"], &r["d"], &r["e"], &r["f"], &r["h"], &r["i"]],
        [
            "EC2",
            "us-west-2",
            "18.236.0.0/15",
            "AMAZON",
            "GLOBALACCELERATOR",
            "us-east-1",
            "AWS EC2 us-east-1",
            "private"
        ]
    );
    assert!(r.get("g").is_none_or(|g| g.is_null()), "{r:?}");
    // Without a GeoIP database, the geo functions say what to give.
    let out = bin().args(["sql", "SELECT geo_country('81.2.69.142')", "--lake"]).arg(l).output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("no GeoIP database: give --geoip FILE"), "{}", stderr(&out));
    // MaxMind's test databases (tests/data/geoip/README.md lists what they hold).
    let geo = root().join("tests/data/geoip");
    let out = bin()
        .arg("--geoip")
        .arg(geo.join("GeoLite2-City-Test.mmdb"))
        .arg("--geoip")
        .arg(geo.join("GeoLite2-ASN-Test.mmdb"))
        .args(["sql", "--format", "json", "--lake"])
        .arg(l)
        .arg(
            "SELECT geo_country('81.2.69.142') a, geo_city('89.160.20.128') b, geo_asn('1.128.0.1') c, \
             geo_org('12.81.92.1') d, geo_country('2001:218::1') e, ip_context('81.2.69.142') f, ip_context('1.128.0.1') g",
        )
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["a"], "GB");
    assert_eq!(v[0]["b"], "Linköping");
    assert_eq!(v[0]["c"], 1221);
    assert_eq!(v[0]["d"], "AT&T Services");
    assert_eq!(v[0]["e"], "JP");
    assert_eq!(v[0]["f"], "GB London");
    assert_eq!(v[0]["g"], "AS1221 Telstra Pty Ltd");
    // The lake recorded the databases: the next command uses them without being told.
    assert_eq!(sql(l, "SELECT geo_country('81.2.69.142') a")[0]["a"], "GB");
    // A newer AWS ranges file replaces the shipped one, is copied into the lake and kept.
    let ranges = tempfile::tempdir().unwrap();
    let file = ranges.path().join("ip-ranges.json");
    std::fs::write(
        &file,
        r#"{"syncToken":"2","createDate":"2027-01-01-00-00-00","prefixes":[{"ip_prefix":"198.51.100.0/24","region":"eu-west-1","service":"EC2","network_border_group":"eu-west-1"}],"ipv6_prefixes":[]}"#,
    )
    .unwrap();
    let out = bin()
        .arg("--aws-ranges")
        .arg(&file)
        .args(["sql", "--format", "json", "SELECT aws_region('198.51.100.7') a", "--lake"])
        .arg(l)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("eu-west-1"));
    std::fs::remove_file(&file).unwrap();
    assert_eq!(sql(l, "SELECT aws_region('198.51.100.7') a")[0]["a"], "eu-west-1");
    let record = std::fs::read_to_string(l.join("_trailflow/context/context.json")).unwrap();
    assert!(record.contains("2027-01-01-00-00-00") && record.contains("GeoLite2-ASN"), "{record}");
    // A file that is not AWS's ranges: one line naming it, exit 2, nothing recorded.
    std::fs::write(&file, "{\"not\": \"ranges\"}").unwrap();
    let out = bin().arg("--aws-ranges").arg(&file).args(["sql", "SELECT 1", "--lake"]).arg(l).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not AWS's ip-ranges.json") && stderr(&out).contains("ip-ranges.json:"));
    assert_eq!(sql(l, "SELECT aws_region('198.51.100.7') a")[0]["a"], "eu-west-1");
    let out = bin().arg("--geoip").arg(&file).args(["sql", "SELECT 1", "--lake"]).arg(l).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a MaxMind DB (.mmdb) file"), "{}", stderr(&out));
}

/// Address context where people look: the timeline (Timesketch's shape), search, correlate, and
/// the report's key facts, findings and HTML, named by a ranges file the user gives.
#[test]
fn addresses_carry_their_context_in_every_output() {
    let lake = sample_lake();
    let l = lake.path();
    let ranges = tempfile::tempdir().unwrap();
    let file = ranges.path().join("ip-ranges.json");
    std::fs::write(
        &file,
        r#"{"syncToken":"3","createDate":"2027-02-01-00-00-00","prefixes":[{"ip_prefix":"198.51.100.0/24","region":"eu-west-1","service":"EC2","network_border_group":"eu-west-1"}],"ipv6_prefixes":[]}"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = bin().arg("--aws-ranges").arg(&file).args(args).arg("--lake").arg(l).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        String::from_utf8(out.stdout).unwrap()
    };
    // The timeline: every flow of the address says whose it is, in the message and a column.
    let lines: Vec<serde_json::Value> = run(&["timeline", "--ip", "198.51.100.23", "--format", "jsonl"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let flows = count(l, "SELECT 1 FROM flow_logs WHERE srcaddr = '198.51.100.23' OR dstaddr = '198.51.100.23'");
    assert_eq!(lines.len() as i64, flows);
    for v in &lines {
        assert_eq!(v["address_context"], "AWS EC2 eu-west-1", "{v}");
        assert!(v["message"].as_str().unwrap().contains("198.51.100.23:"), "{v}");
        assert!(v["message"].as_str().unwrap().contains("(AWS EC2 eu-west-1)"), "{v}");
    }
    // Search: the caller's address.
    let found: serde_json::Value =
        serde_json::from_str(&run(&["search", "198.51.100.99", "--format", "json"])).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 1);
    assert_eq!(found[0]["source_context"], "AWS EC2 eu-west-1");
    // Correlate: the unusual peers with theirs, the others bare.
    let csv_text = run(&["correlate", "--format", "csv"]);
    let mut contexts: Vec<String> = csv::Reader::from_reader(csv_text.as_bytes())
        .deserialize::<HashMap<String, String>>()
        .map(|r| r.unwrap()["unusual_peer_context"].clone())
        .filter(|c| c.contains("198.51.100.23"))
        .collect();
    contexts.dedup();
    assert_eq!(contexts, ["198.51.100.23 (AWS EC2 eu-west-1)"]);
    // The report: key facts' addresses, the findings and the HTML.
    let case = tempfile::tempdir().unwrap();
    let out = bin()
        .arg("--aws-ranges")
        .arg(&file)
        .arg("investigate")
        .arg(root().join("sample-data"))
        .arg("-o")
        .arg(case.path().join("r"))
        .arg("-q")
        .output()
        .unwrap();
    assert!(out.status.code() == Some(0) || out.status.code() == Some(3), "{}", stderr(&out));
    let r = case.path().join("r");
    let addresses = std::fs::read_to_string(r.join("facts/addresses.csv")).unwrap();
    assert!(
        addresses.lines().any(|l| l.starts_with("198.51.100.99,") && l.contains("AWS EC2 eu-west-1")),
        "{addresses}"
    );
    let summary = std::fs::read_to_string(r.join("summary.md")).unwrap();
    assert!(summary.contains(r"198.51.100.23 \(AWS EC2 eu-west-1\)"), "{summary}");
    let html = std::fs::read_to_string(r.join("report.html")).unwrap();
    assert!(html.contains("198.51.100.23 (AWS EC2 eu-west-1)"));
}

/// IPv6 indicators over AWS's own documented flow records (tests/data/real, IPv6 among them):
/// networks and addresses by side, each count checked against SQL written apart from the matcher.
#[test]
fn ipv6_indicators_find_the_real_ipv6_flows() {
    let lake = tempfile::tempdir().unwrap();
    let (out, _) = ingest(lake.path(), &[&real("flowlogs/awsdocs-vpc-user-guide")]);
    assert!(out.status.code() == Some(0) || out.status.code() == Some(3), "{}", stderr(&out));
    let l = lake.path();
    let files = tempfile::tempdir().unwrap();
    let feed = files.path().join("v6.csv");
    std::fs::write(
        &feed,
        "type,value\r\ncidr,2001:db8:1234:a102::/64\r\nip-src,2001:db8:1234:a100:8d6e:3477:df66:f105\r\nip,2001:db8::dead\r\n",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = bin().arg("ioc").arg(&feed).arg("--dir").arg(dir.path()).arg("--lake").arg(l).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let s = summary(dir.path());
    let hits = |line: usize| s[&format!("{}:{line}", feed.display())]["flow_hits"].parse::<i64>().unwrap();
    let net = count(
        l,
        "SELECT 1 FROM flow_logs WHERE cidr_contains('2001:db8:1234:a102::/64', srcaddr) \
         OR cidr_contains('2001:db8:1234:a102::/64', dstaddr)",
    );
    let src = count(l, "SELECT 1 FROM flow_logs WHERE srcaddr = '2001:db8:1234:a100:8d6e:3477:df66:f105'");
    assert!(net > 0 && src > 0, "the documented IPv6 examples are in the lake");
    assert_eq!((hits(2), hits(3), hits(4)), (net, src, 0));
}
