//! What the report shows, gathered once: the correlation's rows, and for each flagged change the
//! traffic around it and its actor's timeline; and the words that describe a change.

use std::collections::HashMap;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionContext, col, lit};
use serde_json::{Map, Value};

use super::case::CaseFile;
use super::{InvestigateOptions, TIMELINE_AROUND_US, write_csv, write_file};
use crate::correlate::Verdict;
use crate::error::Result;
use crate::hunt::HuntResult;

pub(super) type Row = Map<String, Value>;

/// Record batches as JSON objects, one per row (what the report templates read).
pub(super) fn rows(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let v: Vec<Row> = serde_json::from_slice(&buf)?;
    Ok(v)
}

pub(super) fn text(row: &Row, key: &str) -> String {
    match row.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

pub(super) fn int(row: &Row, key: &str) -> i64 {
    match row.get(key) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A time column's text as microseconds.
pub(super) fn micros(row: &Row, key: &str) -> Option<i64> {
    crate::time::parse_time(&text(row, key))
}

/// What a change did to the rules, in words.
pub(super) fn what_changed(c: &Row) -> String {
    let event = text(c, "event_name");
    let rule = text(c, "rule_number");
    let dir = if text(c, "egress") == "true" { "outbound" } else { "inbound" };
    let proto = match text(c, "protocol").as_str() {
        "-1" => "all protocols".to_string(),
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        "1" => "icmp".to_string(),
        "58" => "icmpv6".to_string(),
        "" => String::new(),
        p => format!("protocol {p}"),
    };
    let ports = match (text(c, "port_from"), text(c, "port_to")) {
        (a, _) if a.is_empty() => String::new(),
        (a, b) if a == b => format!(" port {a}"),
        (a, b) => format!(" ports {a}-{b}"),
    };
    let cidr = [text(c, "cidr_block"), text(c, "ipv6_cidr_block")].into_iter().find(|s| !s.is_empty()).unwrap_or_default();
    let peer = if dir == "inbound" { format!("from {cidr}") } else { format!("to {cidr}") };
    match event.as_str() {
        "CreateNetworkAclEntry" | "ReplaceNetworkAclEntry" => {
            let verb = if event.starts_with("Create") { "added" } else { "replaced with" };
            format!("rule {rule} {verb}: {} {dir} {proto}{ports} {peer}", text(c, "rule_action"))
        }
        "DeleteNetworkAclEntry" if !text(c, "rule_action").is_empty() => {
            format!("rule {rule} deleted (was: {} {dir} {proto}{ports} {peer})", text(c, "rule_action"))
        }
        "DeleteNetworkAclEntry" => format!("{dir} rule {rule} deleted (its content is not in the evidence)"),
        "ReplaceNetworkAclAssociation" => {
            format!("subnet {} moved to {}", or_unknown(&text(c, "subnet_id")), text(c, "network_acl_id"))
        }
        "CreateNetworkAcl" => "new ACL created".to_string(),
        "DeleteNetworkAcl" => "ACL deleted".to_string(),
        other => other.to_string(),
    }
}

/// At most `max` bytes of `s` (cut at a character boundary), with an ellipsis when cut.
pub(super) fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let cut = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

pub(super) fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "(unknown)" } else { s }
}

/// The first of the top peers (`peer bytes, peer bytes, ...`).
pub(super) fn top_peer(c: &Row) -> String {
    text(c, "top_peers").split(", ").next().unwrap_or("").split(' ').next().unwrap_or("").to_string()
}

/// Everything the report shows about one flagged change.
pub(super) struct Flagged {
    pub(super) change: Row,
    /// Per hour: (hour start µs, accepted bytes, rejected flows).
    pub(super) traffic: Vec<(i64, i64, i64)>,
    pub(super) chart_svg: String,
    pub(super) timeline: Vec<Row>,
    pub(super) timeline_file: String,
    pub(super) chart_file: String,
}

/// Gather the traffic chart and the actor's timeline of every flagged change: one pass over
/// `flow_logs` and one over `cloudtrail` for all of them. Values from the evidence go into the
/// plan as a small table joined in, never into SQL text.
pub(super) async fn flag_all(ctx: &SessionContext, picked: &[&Row], opts: &InvestigateOptions) -> Result<Vec<Flagged>> {
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringViewArray, TimestampMicrosecondArray};
    use datafusion::common::JoinType;
    use datafusion::functions_aggregate::expr_fn::sum;
    use datafusion::logical_expr::when;
    let at = |c: &Row| micros(c, "event_time").unwrap_or(0);
    let ts = |v: Vec<i64>| -> ArrayRef { std::sync::Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) };
    // (change number, key, from, to) as a table to join: key is an interface or an actor.
    let scope = |rows: Vec<(i64, String, i64, i64)>| -> Result<RecordBatch> {
        Ok(RecordBatch::try_from_iter(vec![
            ("n", std::sync::Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()) as ArrayRef),
            ("key", std::sync::Arc::new(rows.iter().map(|r| Some(r.1.as_str())).collect::<StringViewArray>()) as ArrayRef),
            ("from_t", ts(rows.iter().map(|r| r.2).collect())),
            ("to_t", ts(rows.iter().map(|r| r.3).collect())),
        ])?)
    };
    let mut by_interface = Vec::new();
    let mut by_actor = Vec::new();
    for (i, c) in picked.iter().enumerate() {
        let (n, t) = (i as i64 + 1, at(c));
        for iface in text(c, "interface_list").split(", ").filter(|s| !s.is_empty()) {
            by_interface.push((n, iface.to_string(), t - opts.baseline_us, t + opts.window_us));
        }
        by_actor.push((n, text(c, "actor_arn"), t - TIMELINE_AROUND_US, t + TIMELINE_AROUND_US + 1));
    }
    let mut traffic: HashMap<i64, Vec<(i64, i64, i64)>> = HashMap::new();
    if !by_interface.is_empty() && ctx.table_exist("flow_logs")? {
        let sc = ctx.read_batch(scope(by_interface)?)?;
        let df = ctx
            .table("flow_logs")
            .await?
            .join(sc, JoinType::Inner, &["interface_id"], &["key"], None)?
            .filter(col("start_time").gt_eq(col("from_t")).and(col("start_time").lt(col("to_t"))))?
            .aggregate(
                vec![col("n"), datafusion::functions::datetime::expr_fn::date_trunc(lit("hour"), col("start_time")).alias("hour")],
                vec![
                    sum(when(col("action").eq(lit("ACCEPT")), col("bytes")).otherwise(lit(0i64))?).alias("accepted_bytes"),
                    sum(when(col("action").eq(lit("REJECT")), lit(1i64)).otherwise(lit(0i64))?).alias("rejected_flows"),
                ],
            )?
            .sort(vec![col("n").sort(true, false), col("hour").sort(true, false)])?;
        for r in rows(&df.collect().await?)? {
            traffic.entry(int(&r, "n")).or_default().push((
                micros(&r, "hour").unwrap_or(0),
                int(&r, "accepted_bytes"),
                int(&r, "rejected_flows"),
            ));
        }
    }
    let sc = ctx.read_batch(scope(by_actor)?)?;
    let timelines = ctx
        .table("cloudtrail")
        .await?
        .join(sc, JoinType::Inner, &["user_arn"], &["key"], None)?
        .filter(col("event_time").gt_eq(col("from_t")).and(col("event_time").lt(col("to_t"))))?
        .sort(vec![col("n").sort(true, false), col("event_time").sort(true, false), col("event_id").sort(true, false)])?
        .select(vec![
            col("n"),
            col("event_time"),
            col("event_source"),
            col("event_name"),
            col("error_code"),
            col("source_ip"),
            col("aws_region"),
            col("user_agent"),
            col("request_parameters"),
            col("event_id"),
        ])?
        .collect()
        .await?;
    let n_column = |b: &RecordBatch| -> Result<Int64Array> {
        Ok(b.column(0).as_any().downcast_ref::<Int64Array>().cloned().unwrap_or_else(|| Int64Array::from(vec![0; b.num_rows()])))
    };
    let mut out = Vec::new();
    for (i, c) in picked.iter().enumerate() {
        let n = i as i64 + 1;
        let t = at(c);
        let interfaces: Vec<String> =
            text(c, "interface_list").split(", ").filter(|s| !s.is_empty()).map(str::to_string).collect();
        let traffic = traffic.remove(&n).unwrap_or_default();
        let chart_svg =
            super::chart::traffic_chart(&traffic, t, t - opts.baseline_us, t + opts.window_us, &interfaces);
        let chart_file = format!("charts/change-{n:02}.svg");
        write_file(&opts.output.join(&chart_file), &chart_svg)?;
        // This change's events, without the change number.
        let mut mine = Vec::new();
        for b in &timelines {
            let keep = datafusion::arrow::compute::kernels::cmp::eq(&n_column(b)?, &Int64Array::new_scalar(n))?;
            let b = datafusion::arrow::compute::filter_record_batch(b, &keep)?;
            mine.push(b.project(&(1..b.num_columns()).collect::<Vec<_>>())?);
        }
        let timeline_file = format!("timelines/change-{n:02}.csv");
        write_csv(&opts.output.join(&timeline_file), &mine)?;
        out.push(Flagged { change: (*c).clone(), traffic, chart_svg, timeline: rows(&mine)?, timeline_file, chart_file });
    }
    Ok(out)
}

/// How the report says a verdict (a name it does not know, as it is).
pub(super) fn verdict_word(v: &str) -> &str {
    match Verdict::parse(v) {
        Some(verdict) => verdict.words(),
        None => v,
    }
}

/// A change's verdict.
pub(super) fn verdict_of(c: &Row) -> Option<Verdict> {
    Verdict::parse(&text(c, "verdict"))
}

/// Everything the summary and the report show.
#[derive(Clone, Copy)]
pub(super) struct Findings<'a> {
    pub(super) ingest_summary: &'a str,
    pub(super) changes: &'a [Row],
    pub(super) flagged: &'a [Flagged],
    pub(super) results: &'a [HuntResult],
    pub(super) notes: &'a [String],
    pub(super) opts: &'a InvestigateOptions,
    pub(super) case: &'a CaseFile,
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_described() {
        let row: Row = serde_json::from_str(
            r#"{"event_name":"CreateNetworkAclEntry","rule_number":90,"egress":false,"protocol":-1,"rule_action":"allow","cidr_block":"0.0.0.0/0"}"#,
        )
        .unwrap();
        assert_eq!(what_changed(&row), "rule 90 added: allow inbound all protocols from 0.0.0.0/0");
        let row: Row = serde_json::from_str(
            r#"{"event_name":"ReplaceNetworkAclEntry","rule_number":100,"egress":false,"protocol":6,"rule_action":"allow","cidr_block":"0.0.0.0/0","port_from":0,"port_to":65535}"#,
        )
        .unwrap();
        assert_eq!(what_changed(&row), "rule 100 replaced with: allow inbound tcp ports 0-65535 from 0.0.0.0/0");
    }
}
