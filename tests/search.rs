//! Full-text search: needles against a plain scan of the raw records, field and path queries,
//! time ranges, `search()` in SQL and its join back to `cloudtrail`, bad queries, and index
//! consistency after a killed ingest.

mod common;

use std::path::{Path, PathBuf};

use std::sync::OnceLock;

use common::{bin, killed_ingest, root, sql};
use serde_json::Value;

fn ingest(lake: &Path, inputs: &[&Path]) {
    let out = bin().arg("ingest").arg("--lake").arg(lake).arg("--quiet").args(inputs).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c == 0 || c == 3), "{}", String::from_utf8_lossy(&out.stderr));
}

fn count(lake: &Path, q: &str) -> usize {
    sql(lake, &format!("SELECT count(*) AS n FROM ({q})"))[0]["n"].as_u64().unwrap() as usize
}

/// The event ids `trailflow search` returns, in its order.
fn search(lake: &Path, args: &[&str]) -> Vec<String> {
    let out = bin().args(["search", "--format", "json", "--lake"]).arg(lake).args(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<Value> = if text.trim().is_empty() { Vec::new() } else { serde_json::from_str(&text).unwrap() };
    rows.iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The sample data, ingested once for the read-only tests.
fn sample_lake() -> &'static Path {
    static LAKE: OnceLock<tempfile::TempDir> = OnceLock::new();
    LAKE.get_or_init(|| {
        let lake = tempfile::tempdir().unwrap();
        ingest(lake.path(), &[&root().join("sample-data")]);
        lake
    })
    .path()
}

/// The real corpus, ingested once.
fn real_lake() -> &'static Path {
    static LAKE: OnceLock<tempfile::TempDir> = OnceLock::new();
    LAKE.get_or_init(|| {
        let lake = tempfile::tempdir().unwrap();
        ingest(lake.path(), &[&root().join("tests/data/real")]);
        lake
    })
    .path()
}

/// A plain scan, independent of the index: the ids of events whose raw record holds `needle` as a
/// whole (not inside a longer address, key or name), ignoring case.
fn plain_scan(lake: &Path, needle: &str) -> Vec<String> {
    let rows = sql(lake, "SELECT event_id, raw FROM cloudtrail");
    let needle = needle.to_lowercase();
    let inside = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut ids = Vec::new();
    for r in rows {
        let raw = r["raw"].as_str().unwrap_or("").to_lowercase();
        let hit = raw.match_indices(&needle).any(|(i, _)| {
            let before = raw[..i].chars().next_back();
            let rest = &raw[i + needle.len()..];
            let mut after = rest.chars();
            let a = after.next();
            let before_ok = before.is_none_or(|c| !(inside(c) || c == '.'));
            // A dot after is the end of a sentence only if no letter or digit follows it.
            let after_ok = match a {
                None => true,
                Some('.') => after.next().is_none_or(|c| !c.is_alphanumeric()),
                Some(c) => !inside(c),
            };
            before_ok && after_ok
        });
        if hit {
            ids.push(r["event_id"].as_str().unwrap().to_string());
        }
    }
    sorted(ids)
}

#[test]
fn needles_match_a_plain_scan_on_sample_data() {
    let lake = sample_lake();
    // The busiest access key, a rare source address, the planted attackers, an actor's ARN.
    let busiest = sql(
        lake,
        "SELECT access_key_id AS v FROM cloudtrail WHERE access_key_id IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC, \
            1 LIMIT 1",
    )[0]["v"]
        .as_str()
        .unwrap()
        .to_string();
    let rare = sql(
        lake,
        "SELECT source_ip AS v FROM cloudtrail WHERE source_ip LIKE '%.%.%.%' GROUP BY 1 ORDER BY count(*), 1 LIMIT 1",
    )[0]["v"]
        .as_str()
        .unwrap()
        .to_string();
    let arn = sql(
        lake,
        "SELECT user_arn AS v FROM cloudtrail WHERE user_arn LIKE 'arn:aws:iam::%:user/%' GROUP BY 1 \
        ORDER BY 1 LIMIT 1",
    )[0]["v"]
        .as_str()
        .unwrap()
        .to_string();
    for needle in [busiest.as_str(), rare.as_str(), arn.as_str(), "45.137.21.9", "198.51.100.23", "0.0.0.0/0"] {
        let want = plain_scan(lake, needle);
        let got = sorted(search(lake, &[needle]));
        assert_eq!(got, want, "{needle}");
    }
    assert!(search(lake, &[&busiest]).len() > 100, "the busiest key is in many events");
}

#[test]
fn results_are_in_time_order_and_limited() {
    let lake = sample_lake();
    let out = bin()
        .args(["search", "--format", "json", "--lake"])
        .arg(lake)
        .arg("event_source:ec2.amazonaws.com")
        .output()
        .unwrap();
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let times: Vec<&str> = rows.iter().map(|r| r["event_time"].as_str().unwrap()).collect();
    assert!(times.len() > 10);
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "time order");
    let limited = search(lake, &["event_source:ec2.amazonaws.com", "--limit", "5"]);
    let all: Vec<String> = rows.iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect();
    assert_eq!(limited.len(), 5);
    // The limit keeps the oldest (ties in time may come in either order).
    let fifth = times[4];
    for id in &limited {
        let i = all.iter().position(|x| x == id).unwrap();
        assert!(times[i] <= fifth);
    }
}

#[test]
fn field_path_and_boolean_queries_match_sql() {
    let lake = sample_lake();
    let cases: &[(&str, &str)] = &[
        (
            "event_name:CreateNetworkAclEntry",
            "SELECT event_id FROM cloudtrail WHERE event_name = 'CreateNetworkAclEntry'",
        ),
        (
            "event_name:createnetworkaclentry",
            "SELECT event_id FROM cloudtrail WHERE event_name = 'CreateNetworkAclEntry'",
        ),
        (
            "request_parameters.cidrBlock:\"0.0.0.0/0\"",
            "SELECT event_id FROM cloudtrail WHERE json_get_str(request_parameters, 'cidrBlock') = '0.0.0.0/0'",
        ),
        (
            "request_parameters.cidrBlock:0.0.0.0/0",
            "SELECT event_id FROM cloudtrail WHERE json_get_str(request_parameters, 'cidrBlock') = '0.0.0.0/0'",
        ),
        (
            "event_name:CreateNetworkAclEntry AND NOT request_parameters.egress:true",
            "SELECT event_id FROM cloudtrail WHERE event_name = 'CreateNetworkAclEntry' AND NOT \
                coalesce(json_get_bool(request_parameters, 'egress'), false)",
        ),
        (
            "event_name:StopLogging OR event_name:DeleteFlowLogs",
            "SELECT event_id FROM cloudtrail WHERE event_name IN ('StopLogging', 'DeleteFlowLogs')",
        ),
        // CloudTrail's own field names, as analysts type them.
        ("eventName:CreateAccessKey", "SELECT event_id FROM cloudtrail WHERE event_name = 'CreateAccessKey'"),
        ("sourceIPAddress:203.0.113.50", "SELECT event_id FROM cloudtrail WHERE source_ip = '203.0.113.50'"),
        (
            "userIdentity.arn:arn:aws:iam::111111111111:root",
            "SELECT event_id FROM cloudtrail WHERE user_arn = 'arn:aws:iam::111111111111:root'",
        ),
        (
            "requestParameters.cidrBlock:0.0.0.0/0",
            "SELECT event_id FROM cloudtrail WHERE json_get_str(request_parameters, 'cidrBlock') = '0.0.0.0/0'",
        ),
        // The IAM user's own name, not the role session issuer's the lake's user_name falls back to.
        (
            "userIdentity.userName:dev-temp",
            "SELECT event_id FROM cloudtrail WHERE json_get_str(raw, 'userIdentity', 'userName') = 'dev-temp'",
        ),
        // Wildcards on identifiers: a prefix, and a pattern within.
        ("AKIA*", "SELECT event_id FROM cloudtrail WHERE regexp_like(raw, '(?i)(^|[^a-z0-9])akia')"),
        ("sourceIPAddress:203.0.113.*", "SELECT event_id FROM cloudtrail WHERE source_ip LIKE '203.0.113.%'"),
        ("event_name:*AccessKey*", "SELECT event_id FROM cloudtrail WHERE event_name LIKE '%AccessKey%'"),
        (
            "requestParameters.userName:dev*",
            "SELECT event_id FROM cloudtrail WHERE json_get_str(request_parameters, 'userName') LIKE 'dev%'",
        ),
    ];
    for (q, s) in cases {
        let want: Vec<String> =
            sorted(sql(lake, s).iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect());
        assert!(!want.is_empty(), "{s} finds nothing in the sample");
        assert_eq!(sorted(search(lake, &[q])), want, "{q}");
    }
    // Every distinct error code, searched by field, finds exactly its events.
    for r in sql(lake, "SELECT error_code AS c, count(*) AS n FROM cloudtrail WHERE error_code IS NOT NULL GROUP BY 1")
    {
        let code = r["c"].as_str().unwrap();
        let n = r["n"].as_u64().unwrap() as usize;
        assert_eq!(search(lake, &[&format!("error_code:{code}")]).len(), n, "{code}");
    }
}

#[test]
fn time_ranges_in_options_and_query() {
    let lake = sample_lake();
    let q = "event_source:ec2.amazonaws.com";
    let (from, to) = ("2026-03-10T12:00:00Z", "2026-03-11T06:00:00Z");
    let want = count(
        lake,
        &format!(
            "SELECT * FROM cloudtrail WHERE event_source = 'ec2.amazonaws.com' AND event_time >= '{from}' AND \
                event_time < '{to}'"
        ),
    );
    assert!(want > 0);
    assert_eq!(search(lake, &[q, "--from", from, "--to", to]).len(), want);
    let in_query = format!("{q} AND event_time:[{from} TO {to}}}");
    assert_eq!(search(lake, &[&in_query]).len(), want);
}

#[test]
fn search_in_sql_joins_back_and_prunes() {
    let lake = sample_lake();
    let ids = sorted(search(lake, &["event_name:DeleteNetworkAclEntry"]));
    assert!(!ids.is_empty());
    let joined = sql(
        lake,
        "SELECT c.event_id, c.event_name FROM search('event_name:DeleteNetworkAclEntry') s JOIN cloudtrail c ON \
            c.event_id = s.event_id ORDER BY c.event_time",
    );
    let got: Vec<String> = sorted(joined.iter().map(|r| r["event_id"].as_str().unwrap().to_string()).collect());
    assert_eq!(got, ids);
    assert!(joined.iter().all(|r| r["event_name"] == "DeleteNetworkAclEntry"));
    // A time filter on the function's output goes to the index and gives the same rows as filtering after.
    let filtered = count(
        lake,
        "SELECT * FROM search('event_source:ec2.amazonaws.com') WHERE event_time >= '2026-03-11T00:00:00Z'",
    );
    let after = count(
        lake,
        "SELECT * FROM (SELECT * FROM search('event_source:ec2.amazonaws.com')) s WHERE s.event_time >= \
            '2026-03-11T00:00:00Z'",
    );
    assert_eq!(filtered, after);
    assert_eq!(
        filtered,
        count(
            lake,
            "SELECT * FROM cloudtrail WHERE event_source = 'ec2.amazonaws.com' AND event_time >= '2026-03-11T00:00:00Z'"
        )
    );
    // The join reads only the cloudtrail row groups that hold hits: the dynamic filter of the
    // join prunes the others (by the hits' time bounds and by the bloom filter on event_id).
    let plan = sql(
        lake,
        "EXPLAIN ANALYZE SELECT c.event_name FROM search('event_name:DeleteNetworkAclEntry') s JOIN cloudtrail c ON \
            c.event_id = s.event_id AND c.event_time = s.event_time",
    );
    let text = plan.iter().map(|r| r["plan"].as_str().unwrap_or("")).collect::<Vec<_>>().join("\n");
    let pruned = text.contains("DynamicFilter");
    assert!(pruned, "no dynamic filter reached the cloudtrail scan:\n{text}");
    let re_total = |key: &str| -> Option<(u64, u64)> {
        let i = text.find(key)?;
        let rest = &text[i + key.len()..];
        let total: u64 = rest.split_whitespace().next()?.parse().ok()?;
        let matched: u64 = rest.split("→").nth(1)?.split_whitespace().next()?.parse().ok()?;
        Some((total, matched))
    };
    if let Some((total, matched)) = re_total("row_groups_pruned_statistics=") {
        assert!(matched < total || total <= 1, "statistics pruned nothing: {total} → {matched}");
    }
}

#[test]
fn bad_queries_get_one_line() {
    let lake = sample_lake();
    for q in [
        "(45.137.21.9 OR 198.51.100.23",
        "\"unclosed",
        "event_time:[yesterday TO today]",
        "",
        "eventNme:CreateAccessKey",
        "request_paramters.cidrBlock:0.0.0.0/0",
    ] {
        let out = bin().args(["search", "--lake"]).arg(lake).arg(q).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{q:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.trim().lines().count(), 1, "{q:?}: {err}");
        assert!(err.contains("search query"), "{q:?}: {err}");
    }
    let out = bin().args(["sql", "--lake"]).arg(lake).arg("SELECT * FROM search(1)").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("search() takes one text literal"));
}

#[test]
fn an_address_finds_itself_and_not_a_longer_one() {
    let dir = tempfile::tempdir().unwrap();
    let ev = |id: &str, ip: &str, cidr: &str| {
        format!(
            r#"{{"eventVersion":"1.08","eventID":"{id}","eventTime":"2026-03-10T10:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"CreateNetworkAclEntry","awsRegion":"us-east-1","sourceIPAddress":"{ip}","userAgent":"aws-cli/2.15.0 Python/3.11.6","userIdentity":{{"type":"IAMUser","arn":"arn:aws:iam::111111111111:user/alice","accessKeyId":"AKIAEXAMPLE000000001"}},"requestParameters":{{"networkAclId":"acl-1","cidrBlock":"{cidr}","ruleNumber":100}},"responseElements":null,"eventType":"AwsApiCall","recipientAccountId":"111111111111"}}"#
        )
    };
    let body = format!(
        "{{\"Records\":[{},{},{}]}}",
        ev("e1", "45.137.21.9", "10.0.0.0/8"),
        ev("e2", "45.137.21.90", "45.137.21.9/32"),
        ev("e3", "145.137.21.9", "0.0.0.0/0")
    );
    std::fs::write(dir.path().join("trail.json"), body).unwrap();
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[dir.path()]);
    assert_eq!(sorted(search(lake.path(), &["45.137.21.9"])), vec!["e1", "e2"]);
    assert_eq!(search(lake.path(), &["45.137.21.90"]), vec!["e2"]);
    assert_eq!(search(lake.path(), &["source_ip:45.137.21.9"]), vec!["e1"]);
    assert_eq!(search(lake.path(), &["45.137.21.9/32"]), vec!["e2"]);
    assert_eq!(sorted(search(lake.path(), &["arn:aws:iam::111111111111:user/alice"])).len(), 3);
    assert_eq!(search(lake.path(), &["arn:aws:iam::111111111111:user/ali"]).len(), 0);
    assert_eq!(search(lake.path(), &["akiaexample000000001"]).len(), 3);
    assert_eq!(search(lake.path(), &["aws-cli/2.15.0"]).len(), 3);
    assert_eq!(search(lake.path(), &["request_parameters.ruleNumber:100"]).len(), 3);
    assert_eq!(search(lake.path(), &["\"aws-cli/2.15.0 python/3.11.6\""]).len(), 3);
    assert_eq!(search(lake.path(), &["\"python/3.11.6 aws-cli/2.15.0\""]).len(), 0);
    // Re-ingesting adds nothing to the index either.
    ingest(lake.path(), &[dir.path()]);
    assert_eq!(search(lake.path(), &["akiaexample000000001"]).len(), 3);
}

#[test]
fn index_and_parquet_agree_after_a_kill() {
    let input = root().join("sample-data");
    for point in ["after_data_file", "after_commit_marker", "before_index_commit"] {
        let lake = killed_ingest(point, &input);
        // The next reader repairs the lake and the index; both tell the same story.
        let hits = search(lake.path(), &["event_source:ec2.amazonaws.com"]);
        let rows = count(lake.path(), "SELECT * FROM cloudtrail WHERE event_source = 'ec2.amazonaws.com'");
        assert_eq!(hits.len(), rows, "{point}");
        // And a clean re-run completes both without duplicates.
        ingest(lake.path(), &[&input]);
        let hits = search(lake.path(), &["event_source:ec2.amazonaws.com"]);
        let rows = count(lake.path(), "SELECT * FROM cloudtrail WHERE event_source = 'ec2.amazonaws.com'");
        assert_eq!(hits.len(), rows, "{point} then rerun");
        let distinct: std::collections::HashSet<_> = hits.iter().collect();
        assert_eq!(distinct.len(), hits.len(), "{point}: an event indexed twice");
    }
}

#[test]
fn real_corpus_needles_match_a_plain_scan() {
    let lake = real_lake();
    // A few needles of each kind taken from the real records themselves.
    let mut needles: Vec<String> = Vec::new();
    for col in ["source_ip", "access_key_id", "user_arn"] {
        for r in sql(
            lake,
            &format!(
                "SELECT {col} AS v FROM cloudtrail WHERE {col} IS NOT NULL AND {col} <> '' GROUP BY 1 ORDER BY \
                    count(*) DESC, 1 LIMIT 3"
            ),
        ) {
            needles.push(r["v"].as_str().unwrap().to_string());
        }
    }
    assert!(needles.len() >= 6);
    for n in &needles {
        if n.contains(' ') {
            continue; // `AWS Internal` and the like are phrases, not needles
        }
        assert_eq!(sorted(search(lake, &[n])), plain_scan(lake, n), "{n}");
    }
}

#[test]
fn the_index_follows_the_lake_and_rebuilds_an_old_layout() {
    let lake = tempfile::tempdir().unwrap();
    ingest(lake.path(), &[&root().join("sample-data")]);
    let files = |lake: &Path| -> Vec<PathBuf> {
        let mut out = Vec::new();
        for day in std::fs::read_dir(lake.join("cloudtrail")).unwrap() {
            for f in std::fs::read_dir(day.unwrap().path()).unwrap() {
                out.push(f.unwrap().path());
            }
        }
        out
    };
    let first = files(lake.path());
    // A second run: Stratus Red Team's detonation logs.
    ingest(lake.path(), &[&root().join("tests/data/real/cloudtrail/stratus-red-team-detonation-logs")]);
    let needle = "event_source:ec2.amazonaws.com";
    let both = search(lake.path(), &[needle]).len();
    assert_eq!(both, count(lake.path(), "SELECT * FROM cloudtrail WHERE event_source = 'ec2.amazonaws.com'"));
    // An index of another layout (here: an older format number) is rebuilt from Parquet.
    let meta = lake.path().join("index/meta.json");
    let text = std::fs::read_to_string(&meta).unwrap();
    assert!(text.contains("\\\"format\\\":"), "{text}");
    let old = text.replacen("\\\"format\\\":", "\\\"format\\\":1", 1);
    std::fs::write(&meta, old).unwrap();
    assert_eq!(search(lake.path(), &[needle]).len(), both);
    // The second run's files leave the lake (removed by hand): its events leave the index too.
    let record = lake.path().join("_trailflow/files");
    let mut kept = std::fs::read_to_string(&record).unwrap();
    for f in files(lake.path()) {
        if !first.contains(&f) {
            std::fs::remove_file(&f).unwrap();
            // Removed on purpose, so struck from the lake's record of its files too (else the
            // lake says it is not whole, and refuses to answer).
            let rel = f.strip_prefix(lake.path()).unwrap().display().to_string();
            kept = kept.lines().filter(|l| !l.starts_with(&format!("{rel}\t"))).map(|l| format!("{l}\n")).collect();
        }
    }
    std::fs::write(&record, kept).unwrap();
    let left = count(lake.path(), "SELECT * FROM cloudtrail WHERE event_source = 'ec2.amazonaws.com'");
    assert!(left < both);
    assert_eq!(search(lake.path(), &[needle]).len(), left);
}

#[test]
fn values_indexed_once_are_found_by_every_token() {
    // User agents and ARNs repeat: they are indexed once as values, and still found by any of
    // their tokens, alone, in phrases and in fields, exactly as a plain scan finds them.
    let lake = sample_lake();
    for needle in ["aws-cli/2.15.0", "python/3.11.6", "ec2.us-east-1.amazonaws.com", "tls_aes_128_gcm_sha256"] {
        let want = plain_scan(lake, needle);
        assert!(!want.is_empty(), "{needle} is not in the sample");
        assert_eq!(sorted(search(lake, &[needle])), want, "{needle}");
    }
    let phrase = search(lake, &["\"aws-cli/2.15.0 python/3.11.6\""]).len();
    assert_eq!(
        phrase,
        count(lake, "SELECT * FROM cloudtrail WHERE lower(user_agent) LIKE '%aws-cli/2.15.0 python/3.11.6%'")
    );
    let field = search(lake, &["user_agent:python/3.11.6"]).len();
    assert_eq!(field, count(lake, "SELECT * FROM cloudtrail WHERE lower(user_agent) LIKE '%python/3.11.6%'"));
}
