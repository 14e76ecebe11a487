//! The key facts of a case and what its evidence covers: the span of each source per account and
//! region, the principals with their kind, the addresses and who used them, the access keys with
//! their owner and first and last use; and, as plain sentences, what the evidence cannot show
//! (a kind of event missing, or starting late, or stopping early, within the case's span).
//!
//! Every table is written whole to `facts/` in the case folder; the pages show its first rows.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::{Map, Value};

use super::rows::{int, micros, rows, text};
use crate::error::Result;

/// Rows of each fact table the pages show; the CSV files have every row.
pub const SHOWN: usize = 15;

/// Coverage rows the pages show (sources x accounts x regions); `facts/coverage.csv` has all.
pub const COVERAGE_SHOWN: usize = 60;

/// A gap at either end of a source's span smaller than this is no gap (delivery lag, quiet hours).
const EDGE_US: i64 = 3_600_000_000;

/// The kinds of evidence the coverage tells apart, with what they let one see.
const KINDS: &[(&str, &str, &str)] = crate::hunt::COVERAGE_KINDS;

/// Kinds every case is judged for being absent (the others are only described when present).
const EXPECTED: &[&str] = &["management_events", "s3_data_events", "flow_logs", "digests"];

/// One source in one account and region.
#[derive(Debug, Clone, Serialize)]
pub struct CoverageRow {
    pub kind: String,
    pub source: String,
    pub account_id: String,
    pub region: String,
    pub first: String,
    pub last: String,
    pub records: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FactTable {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// Rows in all (the file has them).
    pub total: usize,
    pub file: String,
}

/// What the pages say of the case's evidence.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facts {
    /// The span of all the evidence.
    pub first: String,
    pub last: String,
    pub coverage: Vec<CoverageRow>,
    /// Coverage rows in all (the pages show the first [`COVERAGE_SHOWN`]).
    pub coverage_total: usize,
    /// What the evidence cannot show, one sentence each.
    pub caveats: Vec<String>,
    /// The caveats by kind (for the hunts that depend on one).
    #[serde(skip)]
    pub blind: HashMap<String, Vec<String>>,
    pub principals: FactTable,
    pub addresses: FactTable,
    pub keys: FactTable,
    pub shown: usize,
    /// What this run loaded and rejected, in one line.
    pub loaded: String,
    /// Who read the log files themselves, one sentence each: the evidence being collected.
    pub collection: Vec<String>,
    /// The indicators of `--ioc` found in the evidence, when some were swept.
    pub ioc: Option<FactTable>,
    /// Indicators swept.
    pub ioc_swept: usize,
}

const COVERAGE_SQL: &str = "
SELECT CASE
         WHEN event_category = 'Insight' THEN 'insights_events'
         WHEN event_category = 'NetworkActivity' THEN 'network_activity_events'
         WHEN event_category = 'Data' AND event_source = 's3.amazonaws.com' THEN 's3_data_events'
         WHEN event_category = 'Data' AND event_source = 'lambda.amazonaws.com' THEN 'lambda_data_events'
         WHEN event_category = 'Data' THEN 'other_data_events'
         WHEN management_event = false AND event_source = 's3.amazonaws.com' THEN 's3_data_events'
         ELSE 'management_events' END AS kind,
       coalesce(recipient_account_id, account_id, '') AS account_id, coalesce(aws_region, '') AS region,
       arrow_cast(min(event_time), 'Int64') AS first_us, arrow_cast(max(event_time), 'Int64') AS last_us, count(*) AS records
FROM cloudtrail GROUP BY 1, 2, 3";

const FLOW_SQL: &str = "
SELECT 'flow_logs' AS kind, coalesce(account_id, '') AS account_id, coalesce(region, '') AS region,
       arrow_cast(min(start_time), 'Int64') AS first_us, arrow_cast(max(end_time), 'Int64') AS last_us, count(*) AS records
FROM flow_logs GROUP BY 1, 2, 3";

const DIGEST_SQL: &str = "
SELECT 'digests' AS kind, coalesce(account_id, '') AS account_id, coalesce(region, '') AS region,
       arrow_cast(min(digest_start_time), 'Int64') AS first_us, arrow_cast(max(digest_end_time), 'Int64') AS last_us,
       count(*) AS records
FROM cloudtrail_digests GROUP BY 1, 2, 3";

const PRINCIPALS_SQL: &str = "
SELECT coalesce(user_arn, principal_id, invoked_by, '(unknown)') AS principal,
       CASE coalesce(user_type, '')
         WHEN 'Root' THEN 'root' WHEN 'IAMUser' THEN 'IAM user' WHEN 'AssumedRole' THEN 'role session'
         WHEN 'AWSService' THEN 'AWS service' WHEN 'AWSAccount' THEN 'another account'
         WHEN 'FederatedUser' THEN 'federated user' WHEN 'IdentityCenterUser' THEN 'Identity Center user'
         WHEN '' THEN 'unknown' ELSE user_type END AS kind,
       count(*) AS calls, sum(CASE WHEN coalesce(is_refusal(error_code), false) THEN 1 ELSE 0 END) AS refused,
       CAST(min(event_time) AS VARCHAR) AS first_call, CAST(max(event_time) AS VARCHAR) AS last_call,
       array_to_string(array_slice(array_sort(array_agg(DISTINCT source_ip)), 1, 5), ', ') AS addresses
FROM cloudtrail GROUP BY 1, 2 ORDER BY calls DESC, principal";

const ADDRESSES_SQL: &str = "
SELECT source_ip AS address, ip_context(source_ip) AS whose, count(*) AS calls,
       array_to_string(array_slice(array_sort(array_agg(DISTINCT coalesce(user_arn, principal_id))), 1, 5), ', ') AS used_by,
       count(DISTINCT coalesce(user_arn, principal_id)) AS principals,
       CAST(min(event_time) AS VARCHAR) AS first_call, CAST(max(event_time) AS VARCHAR) AS last_call
FROM cloudtrail
WHERE source_ip IS NOT NULL AND source_ip <> 'AWS Internal' AND source_ip NOT LIKE '%.amazonaws.com'
GROUP BY 1 ORDER BY calls DESC, address";

/// Reads of AWS's own log files (keys under AWSLogs/ACCOUNT/CloudTrail, vpcflowlogs, ...): the
/// evidence being collected, said as such rather than counted as data leaving.
const COLLECTION_SQL: &str = "
SELECT coalesce(user_arn, principal_id, '(unknown)') AS principal, json_get_str(request_parameters, 'bucketName') AS bucket,
       count(*) AS reads, CAST(min(event_time) AS VARCHAR) AS first_read, CAST(max(event_time) AS VARCHAR) AS last_read
FROM cloudtrail
WHERE event_source = 's3.amazonaws.com' AND event_name = 'GetObject'
  AND regexp_like(json_get_str(request_parameters, 'key'),
        '(^|/)AWSLogs/(o-[a-z0-9]+/)?[0-9]{12}/(CloudTrail|CloudTrail-Digest|CloudTrail-Insight|vpcflowlogs|Config|elasticloadbalancing)/')
GROUP BY 1, 2 ORDER BY reads DESC";

const KEYS_SQL: &str = "
SELECT access_key_id AS access_key, CASE WHEN access_key_id LIKE 'AKIA%' THEN 'long-term' WHEN access_key_id LIKE 'ASIA%' THEN 'temporary' ELSE 'other' END AS kind,
       array_to_string(array_sort(array_agg(DISTINCT coalesce(user_arn, principal_id))), ', ') AS owner,
       count(*) AS calls, CAST(min(event_time) AS VARCHAR) AS first_use, CAST(max(event_time) AS VARCHAR) AS last_use,
       array_to_string(array_slice(array_sort(array_agg(DISTINCT source_ip)), 1, 5), ', ') AS addresses
FROM cloudtrail WHERE access_key_id IS NOT NULL AND access_key_id <> ''
GROUP BY 1, 2 ORDER BY CASE WHEN access_key_id LIKE 'AKIA%' THEN 0 ELSE 1 END, calls DESC, access_key";

async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<Map<String, Value>>> {
    rows(&crate::query::plan_sql(ctx, sql, None).await?.collect().await?)
}

/// A fact table: its rows as text, written whole to `dir/file`.
async fn table(ctx: &SessionContext, sql: &str, dir: &Path, file: &str) -> Result<FactTable> {
    let df = crate::query::plan_sql(ctx, sql, None).await?;
    let schema = df.schema().inner().clone();
    let batches = df.collect().await?;
    super::write_csv_with(&dir.join(file), &schema, &batches)?;
    let all = rows(&batches)?;
    let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let shown = all.iter().take(SHOWN).map(|r| columns.iter().map(|c| text(r, c)).collect()).collect();
    Ok(FactTable { columns, rows: shown, total: all.len(), file: format!("facts/{file}") })
}

/// The indicator sweep as the pages show it: the indicators with hits (at most [`SHOWN`]).
pub fn ioc_table(summary: &datafusion::arrow::array::RecordBatch) -> Result<FactTable> {
    let all = rows(std::slice::from_ref(summary))?;
    let columns: Vec<String> = [
        "indicator",
        "kind",
        "cloudtrail_hits",
        "flow_hits",
        "first_seen",
        "last_seen",
        "actors",
        "interfaces",
        "address_context",
        "name",
    ]
    .iter()
    .map(|c| c.to_string())
    .collect();
    let hit: Vec<_> = all.iter().filter(|r| text(r, "hits") != "0").collect();
    let shown = hit.iter().take(SHOWN).map(|r| columns.iter().map(|c| text(r, c)).collect()).collect();
    Ok(FactTable { columns, rows: shown, total: hit.len(), file: "ioc/ioc_summary.csv".into() })
}

/// Read the facts of the lake the session reads (scoped to the case), writing the tables to
/// `dir` (`facts/` in the case folder).
pub async fn gather(ctx: &SessionContext, dir: &Path) -> Result<Facts> {
    std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
    let mut spans: Vec<Map<String, Value>> = Vec::new();
    spans.extend(query(ctx, COVERAGE_SQL).await?);
    if ctx.table_exist("flow_logs")? {
        spans.extend(query(ctx, FLOW_SQL).await?);
    }
    if ctx.table_exist("cloudtrail_digests")? {
        spans.extend(query(ctx, DIGEST_SQL).await?);
    }
    let time = |us: Option<i64>| us.map(crate::time::fmt_time).unwrap_or_default();
    let mut coverage: Vec<CoverageRow> = spans
        .iter()
        .map(|r| {
            let kind = text(r, "kind");
            CoverageRow {
                source: KINDS.iter().find(|k| k.0 == kind).map(|k| k.1.to_string()).unwrap_or_else(|| kind.clone()),
                kind,
                account_id: text(r, "account_id"),
                region: text(r, "region"),
                first: time(int_opt(r, "first_us")),
                last: time(int_opt(r, "last_us")),
                records: int(r, "records"),
            }
        })
        .collect();
    coverage.sort_by(|a, b| {
        (kind_order(&a.kind), &a.account_id, &a.region).cmp(&(kind_order(&b.kind), &b.account_id, &b.region))
    });
    // The case's span: of the events (digests cover hours around them, not events).
    let events: Vec<&Map<String, Value>> = spans.iter().filter(|r| text(r, "kind") != "digests").collect();
    let first = events.iter().filter_map(|r| int_opt(r, "first_us")).min();
    let last = events.iter().filter_map(|r| int_opt(r, "last_us")).max();
    let (caveats, blind) = caveats(&spans, first, last);
    let facts = Facts {
        first: time(first),
        last: time(last),
        coverage,
        coverage_total: 0,
        caveats,
        blind,
        principals: table(ctx, PRINCIPALS_SQL, dir, "principals.csv").await?,
        addresses: table(ctx, ADDRESSES_SQL, dir, "addresses.csv").await?,
        keys: table(ctx, KEYS_SQL, dir, "access_keys.csv").await?,
        shown: SHOWN,
        loaded: String::new(),
        collection: query(ctx, COLLECTION_SQL)
            .await?
            .iter()
            .map(|r| {
                format!(
                    "{} read {} log files of the bucket {} from {} to {}: the evidence being collected (left out of \
                        s3_bulk_download).",
                    text(r, "principal"),
                    int(r, "reads"),
                    text(r, "bucket"),
                    text(r, "first_read"),
                    text(r, "last_read")
                )
            })
            .collect(),
        ioc: None,
        ioc_swept: 0,
    };
    let mut facts = facts;
    let text = facts
        .coverage
        .iter()
        .map(|c| format!("{},{},{},{},{},{}", c.kind, c.account_id, c.region, c.first, c.last, c.records))
        .collect::<Vec<_>>();
    super::write_file(
        &dir.join("coverage.csv"),
        &format!("kind,account_id,region,first,last,records\n{}\n", text.join("\n")),
    )?;
    facts.coverage_total = facts.coverage.len();
    facts.coverage.truncate(COVERAGE_SHOWN);
    Ok(facts)
}

/// Gaps inside the span, from the gap hunts' rows: each a caveat (a few listed one by one, more
/// summed up), charged to the kinds they blind.
pub fn add_gaps(facts: &mut Facts, results: &[crate::hunt::HuntResult]) {
    const LISTED: usize = 5;
    let gaps = [
        ("evidence_gap_cloudtrail", "CloudTrail", "management_events", "API calls"),
        ("evidence_gap_flow_logs", "VPC flow logs", "flow_logs", "network traffic"),
    ];
    for (hunt, source, kind, sees) in gaps {
        let Some(r) = results.iter().find(|r| r.name == hunt && r.error.is_none() && r.not_run.is_none()) else {
            continue;
        };
        let found = rows(&r.rows).unwrap_or_default();
        if found.is_empty() {
            continue;
        }
        let mut said = Vec::new();
        if r.hits <= LISTED {
            for g in &found {
                let place = [text(g, "account_id"), first_nonempty(g, &["aws_region", "region"]), text(g, "flow_log")]
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .collect::<Vec<_>>()
                    .join(" ");
                said.push(format!(
                    "No {source} from {} to {} ({place}): {sees} then cannot be seen.",
                    text(g, "gap_start"),
                    text(g, "gap_end")
                ));
            }
        } else {
            let hours: i64 = found.iter().map(|g| int(g, "missing_hours")).sum();
            said.push(format!(
                "{} gaps in the {source} ({hours} hours or more in all; hunts/{hunt}.csv lists them): {sees} in them \
                    cannot be seen.",
                r.hits
            ));
        }
        for s in said {
            facts.blind.entry(kind.to_string()).or_default().push(s.clone());
            facts.caveats.push(s);
        }
    }
}

fn first_nonempty(r: &Map<String, Value>, keys: &[&str]) -> String {
    keys.iter().map(|k| text(r, k)).find(|v| !v.is_empty()).unwrap_or_default()
}

fn int_opt(r: &Map<String, Value>, key: &str) -> Option<i64> {
    r.get(key).and_then(Value::as_i64).or_else(|| micros(r, key))
}

fn kind_order(kind: &str) -> usize {
    KINDS.iter().position(|k| k.0 == kind).unwrap_or(KINDS.len())
}

/// What the evidence cannot show within the case's span `[first, last]`: a kind absent, or one
/// that starts late or stops early in an account and region where other evidence goes on.
fn caveats(
    spans: &[Map<String, Value>],
    first: Option<i64>,
    last: Option<i64>,
) -> (Vec<String>, HashMap<String, Vec<String>>) {
    let (Some(first), Some(last)) = (first, last) else { return (Vec::new(), HashMap::new()) };
    let mut out: Vec<String> = Vec::new();
    let mut blind: HashMap<String, Vec<String>> = HashMap::new();
    let mut by_kind: BTreeMap<&str, Vec<&Map<String, Value>>> = BTreeMap::new();
    for r in spans {
        if let Some(Value::String(k)) = r.get("kind") {
            by_kind.entry(k.as_str()).or_default().push(r);
        }
    }
    let mut say = |kind: &str, sentence: String| {
        blind.entry(kind.to_string()).or_default().push(sentence.clone());
        out.push(sentence);
    };
    let fmt = crate::time::fmt_time;
    for &(kind, source, sees) in KINDS {
        // Kinds that come and go with what happened (data events of other services, Insights)
        // are described in the table, not judged.
        if !EXPECTED.contains(&kind) {
            continue;
        }
        let Some(rows) = by_kind.get(kind) else {
            let why = match kind {
                "digests" => "the log files' integrity cannot be proven".to_string(),
                "flow_logs" => format!("{sees} cannot be seen, and Network ACL changes are judged without flows"),
                _ => format!("{sees} cannot be seen"),
            };
            say(kind, format!("No {source} in the evidence: {why}."));
            continue;
        };
        // Where a kind begins late or ends early, over all accounts and regions it covers.
        let k_first = rows.iter().filter_map(|r| int_opt(r, "first_us")).min().unwrap_or(first);
        let k_last = rows.iter().filter_map(|r| int_opt(r, "last_us")).max().unwrap_or(last);
        let (late, early) = (k_first > first + EDGE_US, k_last < last - EDGE_US);
        match kind {
            "digests" if late || early => say(
                kind,
                format!(
                    "CloudTrail digest files cover {} to {} only (the evidence spans {} to {}): the log files of the \
                        rest cannot be proven whole and unchanged.",
                    fmt(k_first),
                    fmt(k_last),
                    fmt(first),
                    fmt(last)
                ),
            ),
            // Data events are written only when objects are touched: an edge without them is
            // either quiet or unrecorded, and the evidence cannot say which.
            "s3_data_events" => {
                let edge = |which: &str, at: i64, side: &str, other: i64| {
                    format!(
                        "The {which} S3 data event is at {} (the evidence {side} {}): {sees} {} it are not in the \
                            evidence (none happened, or they were not recorded).",
                        fmt(at),
                        fmt(other),
                        if which == "first" { "before" } else { "after" }
                    )
                };
                if late {
                    say(kind, edge("first", k_first, "starts at", first));
                }
                if early {
                    say(kind, edge("last", k_last, "goes on to", last));
                }
            }
            _ => {
                let edge = |when: &str, at: i64, side: &str, other: i64| {
                    format!(
                        "No {source} {when} {} (the evidence {side} {}): {sees} in that time cannot be seen.",
                        fmt(at),
                        fmt(other)
                    )
                };
                if late {
                    say(kind, edge("before", k_first, "starts at", first));
                }
                if early {
                    say(kind, edge("after", k_last, "goes on to", last));
                }
            }
        }
    }
    (out, blind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(kind: &str, first: i64, last: i64) -> Map<String, Value> {
        let v = serde_json::json!({"kind": kind, "first_us": first * EDGE_US, "last_us": last * EDGE_US});
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn what_the_evidence_cannot_show() {
        // Management events over hours 0-100, S3 data events only from hour 60, no flow logs.
        let spans = [span("management_events", 0, 100), span("s3_data_events", 60, 100), span("digests", 0, 101)];
        let (said, blind) = caveats(&spans, Some(0), Some(100 * EDGE_US));
        assert_eq!(said.len(), 2, "{said:?}");
        assert!(said[0].starts_with("The first S3 data event is at"), "{said:?}");
        assert!(said[0].contains("object reads, writes and deletions"), "{said:?}");
        assert!(said[1].starts_with("No VPC flow logs in the evidence"), "{said:?}");
        assert_eq!(blind["s3_data_events"].len(), 1);
        assert!(!blind.contains_key("management_events"));
        // Within the hour at either end: no gap.
        let spans = [span("management_events", 0, 100), span("s3_data_events", 0, 100), span("flow_logs", 0, 100)];
        let (said, _) = caveats(&spans, Some(0), Some(100 * EDGE_US));
        assert_eq!(
            said,
            vec!["No CloudTrail digest files in the evidence: the log files' integrity cannot be proven."]
        );
    }
}
