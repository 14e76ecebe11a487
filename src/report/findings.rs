//! What the report shows, gathered once: the correlation's rows, and for each flagged change the
//! traffic around it and its actor's timeline; and the words that describe a change.

use std::collections::HashMap;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionContext, col, lit};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::case::CaseFile;
use super::chart::Traffic;
pub(super) use super::rows::{int, micros, rows, text, typed};
use super::{InvestigateOptions, SHOWN_ROWS, TIMELINE_AROUND_US, write_csv, write_file};
use crate::correlate::Verdict;
use crate::error::Result;
use crate::hunt::HuntResult;

/// One NACL change as the report reads it: a row of `nacl_verdicts` with where the call came from
/// (`correlation.csv` holds the same columns). Absent values read as empty text or `None`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct VerdictRow {
    pub(super) event_id: String,
    pub(super) event_time: String,
    pub(super) event_name: String,
    pub(super) network_acl_id: String,
    pub(super) actor_arn: String,
    pub(super) verdict: String,
    pub(super) score: i64,
    pub(super) risk_reasons: String,
    /// What the change opened and closed, in words (empty: nothing).
    pub(super) opened: String,
    pub(super) closed: String,
    pub(super) interface_list: String,
    /// What the scope of the change stands on (`inventory` ... `unknown`), and why.
    pub(super) topology_basis: String,
    pub(super) topology_reason: String,
    pub(super) matching_flows: i64,
    pub(super) bytes: i64,
    pub(super) reject_to_accept_peers: String,
    pub(super) unusual_peers: String,
    pub(super) distinct_ports: Option<i64>,
    pub(super) top_peers: String,
    pub(super) first_flow: String,
    pub(super) last_flow: String,
    pub(super) rule_number: Option<i64>,
    pub(super) egress: Option<bool>,
    pub(super) rule_action: String,
    pub(super) protocol: Option<i64>,
    pub(super) cidr_block: String,
    pub(super) ipv6_cidr_block: String,
    pub(super) port_from: Option<i64>,
    pub(super) port_to: Option<i64>,
    pub(super) subnet_id: String,
    pub(super) account_id: String,
    pub(super) aws_region: String,
    pub(super) source_ip: String,
    pub(super) user_agent: String,
    /// `network_acl` or `security_group`; the group changed, or the interface moved.
    pub(super) firewall: String,
    pub(super) group_id: String,
    pub(super) interface_id: String,
}

impl VerdictRow {
    /// What the change was made to: the ACL, the interface moved, or the security group.
    pub(super) fn target(&self) -> String {
        if !self.network_acl_id.is_empty() {
            self.network_acl_id.clone()
        } else if !self.interface_id.is_empty() {
            format!("interface {}", self.interface_id)
        } else if !self.group_id.is_empty() {
            format!("security group {}", self.group_id)
        } else {
            String::new()
        }
    }

    /// The verdict, when it is one the correlation writes.
    pub(super) fn verdict(&self) -> Option<Verdict> {
        Verdict::parse(&self.verdict)
    }

    /// The verdict in words (a name it does not know, as it is).
    pub(super) fn verdict_words(&self) -> &str {
        match self.verdict() {
            Some(v) => v.words(),
            None => &self.verdict,
        }
    }

    /// The interfaces the changed ACL governs.
    pub(super) fn interfaces(&self) -> impl Iterator<Item = &str> {
        self.interface_list.split(", ").filter(|s| !s.is_empty())
    }

    /// The first of the top peers (`peer bytes, peer bytes, ...`).
    pub(super) fn top_peer(&self) -> &str {
        self.top_peers.split(", ").next().unwrap_or("").split(' ').next().unwrap_or("")
    }
}

/// One CloudTrail event of a flagged change's actor timeline.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub(super) struct TimelineEvent {
    pub(super) event_time: String,
    pub(super) event_source: String,
    pub(super) event_name: String,
    pub(super) error_code: String,
    pub(super) source_ip: String,
    pub(super) aws_region: String,
    pub(super) user_agent: String,
    pub(super) request_parameters: String,
    pub(super) event_id: String,
}

/// What a change did to the rules, in words.
pub(super) fn what_changed(c: &VerdictRow) -> String {
    let event = c.event_name.as_str();
    let rule = c.rule_number.map(|n| n.to_string()).unwrap_or_default();
    let dir = if c.egress == Some(true) { "outbound" } else { "inbound" };
    let proto = match c.protocol {
        Some(-1) => "all protocols".to_string(),
        Some(6) => "tcp".to_string(),
        Some(17) => "udp".to_string(),
        Some(1) => "icmp".to_string(),
        Some(58) => "icmpv6".to_string(),
        None => String::new(),
        Some(p) => format!("protocol {p}"),
    };
    let ports = match (c.port_from, c.port_to) {
        (None, _) => String::new(),
        (Some(a), b) if Some(a) == b => format!(" port {a}"),
        (Some(a), b) => format!(" ports {a}-{}", b.map(|b| b.to_string()).unwrap_or_default()),
    };
    let cidr = [&c.cidr_block, &c.ipv6_cidr_block].into_iter().find(|s| !s.is_empty()).cloned().unwrap_or_default();
    let peer = if dir == "inbound" { format!("from {cidr}") } else { format!("to {cidr}") };
    let action = &c.rule_action;
    match event {
        "CreateNetworkAclEntry" | "ReplaceNetworkAclEntry" => {
            let verb = if event.starts_with("Create") { "added" } else { "replaced with" };
            format!("rule {rule} {verb}: {action} {dir} {proto}{ports} {peer}")
        }
        "DeleteNetworkAclEntry" if !action.is_empty() => {
            format!("rule {rule} deleted (was: {action} {dir} {proto}{ports} {peer})")
        }
        "DeleteNetworkAclEntry" => format!("{dir} rule {rule} deleted (its content is not in the evidence)"),
        "ReplaceNetworkAclAssociation" => format!("subnet {} moved to {}", or_unknown(&c.subnet_id), c.network_acl_id),
        "CreateNetworkAcl" => "new ACL created".to_string(),
        "DeleteNetworkAcl" => "ACL deleted".to_string(),
        n if n.starts_with("AuthorizeSecurityGroup") => format!("rule added: allow {dir} {proto}{ports} {peer}"),
        n if n.starts_with("RevokeSecurityGroup") && !proto.is_empty() => {
            format!("rule removed: allow {dir} {proto}{ports} {peer}")
        }
        n if n.starts_with("RevokeSecurityGroup") => "rules removed by id".to_string(),
        "ModifySecurityGroupRules" => format!("rule changed to: allow {dir} {proto}{ports} {peer}"),
        "CreateSecurityGroup" => "new security group created".to_string(),
        "DeleteSecurityGroup" => "security group deleted".to_string(),
        "ModifyNetworkInterfaceAttribute" | "ModifyInstanceAttribute" => {
            format!("interface {} put in other security groups", or_unknown(&c.interface_id))
        }
        other => other.to_string(),
    }
}

/// What a change did to the ACL's policy, in one line: what it opened (and closed), or what kind
/// of housekeeping it was.
pub(super) fn what_it_did(c: &VerdictRow) -> String {
    let named = |r: &str| c.risk_reasons.split(',').any(|x| x == r);
    let closed = if c.closed.is_empty() { String::new() } else { format!("; {}", c.closed) };
    if c.verdict() == Some(Verdict::FailedChange) {
        return "nothing: the call failed".into();
    }
    if named("unused_group") {
        let opened = if c.opened.is_empty() { String::new() } else { format!(" (once one is: {})", c.opened) };
        return format!("nothing yet: no interface is in the group{opened}");
    }
    if named("blocked_by_acl") {
        return format!("nothing through the subnet's ACL, which still denies what the group opened ({})", c.opened);
    }
    if named("inactive_acl") {
        let opened = if c.opened.is_empty() { String::new() } else { format!(" (once it does: {})", c.opened) };
        return format!("nothing yet: the ACL governs no subnet{opened}");
    }
    if named("shadowed") {
        return "nothing: rules ranked above it decide every packet it names".into();
    }
    if named("no_effect") {
        return "nothing: the ACL lets the same packets through as before".into();
    }
    if !c.opened.is_empty() {
        return format!("{}{closed}", c.opened);
    }
    if !c.closed.is_empty() {
        return c.closed.clone();
    }
    "nothing the evidence shows".into()
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

/// Everything the report shows about one flagged change.
pub(super) struct Flagged {
    pub(super) change: VerdictRow,
    /// Per hour: (hour start µs, accepted bytes, rejected flows).
    pub(super) traffic: Vec<Traffic>,
    pub(super) chart_svg: String,
    pub(super) timeline: Vec<TimelineEvent>,
    pub(super) timeline_file: String,
    pub(super) chart_file: String,
}

/// Gather the traffic chart and the actor's timeline of every flagged change: one pass over
/// `flow_logs` and one over `cloudtrail` for all of them. Values from the evidence go into the
/// plan as a small table joined in, never into SQL text.
pub(super) async fn flag_all(
    ctx: &SessionContext,
    picked: &[&VerdictRow],
    opts: &InvestigateOptions,
) -> Result<Vec<Flagged>> {
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringViewArray, TimestampMicrosecondArray};
    use datafusion::common::JoinType;
    use datafusion::functions_aggregate::expr_fn::sum;
    use datafusion::logical_expr::when;
    let at = |c: &VerdictRow| crate::time::parse_time(&c.event_time).unwrap_or(0);
    let ts = |v: Vec<i64>| -> ArrayRef { std::sync::Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) };
    // (change number, key, from, to) as a table to join: key is an interface or an actor.
    let scope = |rows: Vec<(i64, String, i64, i64)>| -> Result<RecordBatch> {
        Ok(RecordBatch::try_from_iter(vec![
            ("n", std::sync::Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()) as ArrayRef),
            (
                "key",
                std::sync::Arc::new(rows.iter().map(|r| Some(r.1.as_str())).collect::<StringViewArray>()) as ArrayRef,
            ),
            ("from_t", ts(rows.iter().map(|r| r.2).collect())),
            ("to_t", ts(rows.iter().map(|r| r.3).collect())),
        ])?)
    };
    let mut by_interface = Vec::new();
    let mut by_actor = Vec::new();
    for (i, c) in picked.iter().enumerate() {
        let (n, t) = (i as i64 + 1, at(c));
        for iface in c.interfaces() {
            by_interface.push((n, iface.to_string(), t - opts.baseline_us, t + opts.window_us));
        }
        by_actor.push((n, c.actor_arn.clone(), t - TIMELINE_AROUND_US, t + TIMELINE_AROUND_US + 1));
    }
    let mut traffic: HashMap<i64, Vec<Traffic>> = HashMap::new();
    if !by_interface.is_empty() && ctx.table_exist("flow_logs")? {
        let sc = ctx.read_batch(scope(by_interface)?)?;
        // The peers each change let in (unusual, rejected before, the top of the counted ones):
        // their accepted bytes after the change are drawn apart from the rest.
        let mut peers: Vec<(i64, String, i64)> = Vec::new();
        for (i, c) in picked.iter().enumerate() {
            let mut named: Vec<&str> =
                c.unusual_peers.split(", ").chain(c.reject_to_accept_peers.split(", ")).collect();
            named.extend(c.top_peers.split(", ").filter_map(|p| p.split(' ').next()));
            named.retain(|p| !p.is_empty());
            named.sort();
            named.dedup();
            peers.extend(named.into_iter().map(|p| (i as i64 + 1, p.to_string(), at(c))));
        }
        let peer_table = |side: &str| -> Result<RecordBatch> {
            Ok(RecordBatch::try_from_iter(vec![
                (
                    format!("{side}_n"),
                    std::sync::Arc::new(peers.iter().map(|r| r.0).collect::<Int64Array>()) as ArrayRef,
                ),
                (
                    format!("{side}_peer"),
                    std::sync::Arc::new(peers.iter().map(|r| Some(r.1.as_str())).collect::<StringViewArray>())
                        as ArrayRef,
                ),
                (format!("{side}_since"), ts(peers.iter().map(|r| r.2).collect())),
            ])?)
        };
        let let_in = col("src_peer")
            .is_not_null()
            .and(col("start_time").gt_eq(col("src_since")))
            .or(col("dst_peer").is_not_null().and(col("start_time").gt_eq(col("dst_since"))));
        // The small tables go first: a hash join builds its table from its left input, and the
        // flows of a large case (tens of millions) must stream past it, not be held (they were:
        // 2.6 GB on 27 million flows, over the query memory).
        let flows = ctx.table("flow_logs").await?;
        let df = sc
            .join(flows, JoinType::Inner, &["key"], &["interface_id"], None)?
            .filter(col("start_time").gt_eq(col("from_t")).and(col("start_time").lt(col("to_t"))))?;
        let df = ctx.read_batch(peer_table("src")?)?.join(
            df,
            JoinType::Right,
            &["src_n", "src_peer"],
            &["n", "srcaddr"],
            None,
        )?;
        let df = ctx
            .read_batch(peer_table("dst")?)?
            .join(df, JoinType::Right, &["dst_n", "dst_peer"], &["n", "dstaddr"], None)?
            .aggregate(
                vec![
                    col("n"),
                    datafusion::functions::datetime::expr_fn::date_trunc(lit("hour"), col("start_time")).alias("hour"),
                ],
                vec![
                    sum(when(
                        col("action").eq(lit("ACCEPT")).and(datafusion::logical_expr::not(let_in.clone())),
                        col("bytes"),
                    )
                    .otherwise(lit(0i64))?)
                    .alias("accepted_bytes"),
                    sum(when(col("action").eq(lit("ACCEPT")).and(let_in), col("bytes")).otherwise(lit(0i64))?)
                        .alias("let_in_bytes"),
                    sum(when(col("action").eq(lit("REJECT")), lit(1i64)).otherwise(lit(0i64))?).alias("rejected_flows"),
                ],
            )?
            .sort(vec![col("n").sort(true, false), col("hour").sort(true, false)])?;
        for r in rows(&df.collect().await?)? {
            traffic.entry(int(&r, "n")).or_default().push(Traffic {
                hour: micros(&r, "hour").unwrap_or(0),
                accepted_bytes: int(&r, "accepted_bytes"),
                let_in_bytes: int(&r, "let_in_bytes"),
                rejected_flows: int(&r, "rejected_flows"),
            });
        }
    }
    let sc = ctx.read_batch(scope(by_actor)?)?;
    let events = ctx.table("cloudtrail").await?;
    let timelines = sc
        .join(events, JoinType::Inner, &["key"], &["user_arn"], None)?
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
        Ok(b.column(0)
            .as_any()
            .downcast_ref::<Int64Array>()
            .cloned()
            .unwrap_or_else(|| Int64Array::from(vec![0; b.num_rows()])))
    };
    let mut out = Vec::new();
    for (i, c) in picked.iter().enumerate() {
        let n = i as i64 + 1;
        let t = at(c);
        let interfaces: Vec<String> = c.interfaces().map(str::to_string).collect();
        let traffic = traffic.remove(&n).unwrap_or_default();
        // No flow on the governed interfaces around the change: no chart, the report says so.
        let (chart_svg, chart_file) = if traffic.is_empty() {
            (String::new(), String::new())
        } else {
            let svg = super::chart::traffic_chart(&traffic, t, t - opts.baseline_us, t + opts.window_us, &interfaces);
            let file = format!("charts/change-{n:02}.svg");
            write_file(&opts.output.join(&file), &svg)?;
            (svg, file)
        };
        // This change's events, without the change number.
        let mut mine = Vec::new();
        for b in &timelines {
            let keep = datafusion::arrow::compute::kernels::cmp::eq(&n_column(b)?, &Int64Array::new_scalar(n))?;
            let b = datafusion::arrow::compute::filter_record_batch(b, &keep)?;
            mine.push(b.project(&(1..b.num_columns()).collect::<Vec<_>>())?);
        }
        let timeline_file = format!("timelines/change-{n:02}.csv");
        write_csv(&opts.output.join(&timeline_file), &mine)?;
        out.push(Flagged {
            change: (*c).clone(),
            traffic,
            chart_svg,
            timeline: typed(&mine)?,
            timeline_file,
            chart_file,
        });
    }
    Ok(out)
}

/// One change as the pages show it: its row and the words for it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct ChangeView {
    #[serde(flatten)]
    pub(super) row: VerdictRow,
    /// The verdict in words.
    pub(super) words: String,
    /// What the change was made to: an ACL, a security group, an interface.
    pub(super) target: String,
    /// What the change did to the rules, in words.
    pub(super) what: String,
    /// What it did to the ACL's policy: opened, closed, or which housekeeping it was.
    pub(super) did: String,
    pub(super) bytes_human: String,
    /// Let in unusual traffic (the most severe verdict).
    pub(super) unusual: bool,
}

impl ChangeView {
    fn of(row: &VerdictRow) -> ChangeView {
        ChangeView {
            words: row.verdict_words().to_string(),
            target: row.target(),
            what: what_changed(row),
            did: what_it_did(row),
            bytes_human: crate::time::human_bytes(row.bytes),
            unusual: row.verdict() == Some(Verdict::UnusualTrafficAfterChange),
            row: row.clone(),
        }
    }
}

/// A flagged change with its chart and its actor's timeline.
#[derive(Debug, Clone, Serialize)]
pub(super) struct FlaggedView {
    pub(super) change: ChangeView,
    pub(super) chart_svg: String,
    pub(super) chart_file: String,
    pub(super) timeline_file: String,
    /// The actor's events nearest the change (at most [`TIMELINE_SHOWN`]).
    pub(super) timeline: Vec<TimelineView>,
    /// The actor's events around the change in all (the CSV has them).
    pub(super) timeline_total: usize,
    /// Some flow was recorded on the governed interfaces around the change.
    pub(super) traffic_seen: bool,
}

/// One event of a timeline as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct TimelineView {
    #[serde(flatten)]
    pub(super) event: TimelineEvent,
    /// The request, cut short.
    pub(super) request: String,
    /// This is the flagged change itself.
    pub(super) is_change: bool,
}

/// One hunt's result as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub(super) struct HuntView {
    pub(super) name: String,
    pub(super) title: String,
    pub(super) severity: &'static str,
    pub(super) hits: usize,
    /// The hits, or `failed`.
    pub(super) hits_text: String,
    pub(super) attack: String,
    pub(super) attack_v19: String,
    pub(super) file: Option<String>,
    /// The first rows, each value cut short, under their column names.
    pub(super) columns: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
    /// What the hunt could not see for want of evidence it depends on (its header's `sees:`).
    pub(super) blind: Vec<String>,
}

impl HuntView {
    fn of(r: &HuntResult) -> HuntView {
        let shown = rows(&r.rows).unwrap_or_default();
        // The hunt's own column order (rows as JSON objects lose it), times first.
        let columns: Vec<String> = match r.rows.first() {
            Some(b) => {
                let schema = b.schema();
                let is_time = |f: &datafusion::arrow::datatypes::Field| {
                    matches!(f.data_type(), datafusion::arrow::datatypes::DataType::Timestamp(..))
                };
                let (times, rest): (Vec<_>, Vec<_>) = schema.fields().iter().partition(|f| is_time(f));
                times.into_iter().chain(rest).map(|f| f.name().clone()).collect()
            }
            None => Vec::new(),
        };
        let rows = shown
            .iter()
            .take(SHOWN_ROWS)
            .map(|row| columns.iter().map(|k| clip(text(row, k), 200)).collect())
            .collect();
        HuntView {
            name: r.name.clone(),
            title: r.title.clone(),
            severity: r.severity.as_str(),
            hits: r.hits,
            hits_text: match (&r.error, &r.not_run) {
                (Some(_), _) => "failed".to_string(),
                (None, Some(why)) => format!("not run: {why}"),
                (None, None) => r.hits.to_string(),
            },
            attack: r.attack.join(" "),
            attack_v19: r.attack_v19.join(" "),
            file: r.file.clone(),
            columns,
            rows,
            blind: Vec::new(),
        }
    }
}

/// One line of the story: something that happened, from either source, in time order.
#[derive(Debug, Clone, Serialize)]
pub(super) struct StoryLine {
    pub(super) time: String,
    /// `CloudTrail`, `flow logs`, or both for a Network ACL change and the traffic it let in.
    pub(super) source: &'static str,
    pub(super) severity: &'static str,
    pub(super) who: String,
    pub(super) what: String,
    pub(super) from_where: String,
    /// Where the details are: `#change-N` or `#hunt-NAME`.
    pub(super) link: String,
}

/// Events of an actor's timeline a card shows; its CSV has the rest.
pub(super) const TIMELINE_SHOWN: usize = 40;

/// Unflagged changes the pages list; `correlation.csv` has the rest.
pub(super) const HOUSEKEEPING_SHOWN: usize = 50;

/// Episodes of one hunt that go into the story; the rest are one line, and in its CSV.
pub(super) const STORY_ROWS_PER_HUNT: usize = 5;

/// Hits of one hunt by one actor this close to the one before are one episode.
const EPISODE_GAP_US: i64 = 6 * 3_600_000_000;

/// Consecutive hits of one hunt by one actor: one line of the story.
struct Episode {
    first: String,
    last: String,
    last_us: Option<i64>,
    count: usize,
    who: String,
    from: Vec<String>,
    details: Vec<String>,
    keys: Vec<String>,
}

/// Values as one text: the first `n`, then how many more.
fn listed(values: &[String], n: usize) -> String {
    let mut s = values.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if values.len() > n {
        s.push_str(&format!(" and {} more", values.len() - n));
    }
    s
}

/// The first of these columns a row has, as text.
fn first_of(row: &Map<String, Value>, keys: &[&str]) -> String {
    keys.iter().map(|k| text(row, k)).find(|v| !v.is_empty()).unwrap_or_default()
}

/// The story of the case: the flagged Network ACL changes and the hits of the critical and high
/// hunts (a few rows each, the rest behind a link), merged in time order: who did what, when, from
/// where, across CloudTrail and the flow logs.
pub(super) fn story(flagged: &[FlaggedView], results: &[HuntResult], sigma: &[HuntResult]) -> Vec<StoryLine> {
    const TIME: &[&str] = &[
        "event_time",
        "first_seen",
        "first_call",
        "first_read",
        "first_failure",
        "first_accept",
        "first_flow",
        "first_time",
        "gap_start",
        "start_time",
        "hour",
        "time",
    ];
    const WHO: &[&str] = &["actor_arn", "who", "caller", "session", "user_arn", "scanner", "peer", "interface_id"];
    const WHERE: &[&str] =
        &["source_ip", "new_address", "other_address", "source_ips", "created_from", "peer", "scanner"];
    const KEY: &[&str] = &["access_key_id", "access_key", "new_key", "key_id"];
    const DETAIL: &[&str] = &[
        "what",
        "policy",
        "new_user",
        "for_user",
        "bucket",
        "resource",
        "status",
        "apis_called",
        "event_name",
        "ports",
        "dstport",
    ];
    let mut out = Vec::new();
    for (i, f) in flagged.iter().enumerate() {
        let c = &f.change;
        let traffic = if c.row.matching_flows > 0 {
            format!("; then {} newly allowed ({} flows)", c.bytes_human, c.row.matching_flows)
        } else {
            String::new()
        };
        out.push(StoryLine {
            time: c.row.event_time.clone(),
            source: if c.row.matching_flows > 0 { "CloudTrail + flow logs" } else { "CloudTrail" },
            severity: if c.unusual { "critical" } else { "high" },
            who: c.row.actor_arn.clone(),
            what: clip(format!("{} on {}: {}{traffic}", c.words, c.target, c.did), 300),
            from_where: c.row.source_ip.clone(),
            link: format!("#change-{}", i + 1),
        });
    }
    let tagged = results.iter().map(|r| (r, "hunt")).chain(sigma.iter().map(|r| (r, "sigma")));
    for (r, anchor) in
        tagged.filter(|(r, _)| r.error.is_none() && r.not_run.is_none() && r.severity >= crate::hunt::Severity::High)
    {
        // The correlation's own hunt is the flagged changes above.
        if r.name == "traffic_after_change" {
            continue;
        }
        let rows = rows(&r.rows).unwrap_or_default();
        // Flow hunts name an interface or a peer; CloudTrail hunts an event or an actor.
        let flows = rows.first().is_some_and(|row| row.contains_key("interface_id") || row.contains_key("peer"));
        let source = if flows { "flow logs" } else { "CloudTrail" };
        // Each hit as (time, who, where, detail, key), in time order.
        let mut hits: Vec<(String, String, String, String, String)> = rows
            .iter()
            .map(|row| {
                // A hunt with a time column of its own naming (`first_delete`) still has its place.
                let mut time = first_of(row, TIME);
                if time.is_empty() {
                    time =
                        row.keys().filter(|k| k.starts_with("first_")).min().map(|k| text(row, k)).unwrap_or_default();
                }
                (time, first_of(row, WHO), first_of(row, WHERE), first_of(row, DETAIL), first_of(row, KEY))
            })
            .collect();
        hits.sort_by(|a, b| a.0.cmp(&b.0));
        // Episodes: consecutive hits of the hunt by one actor, within EPISODE_GAP of each other.
        let mut episodes: Vec<Episode> = Vec::new();
        for (time, who, from, detail, key) in hits {
            let t = crate::time::parse_time(&time);
            match episodes.last_mut() {
                // One actor's hits close together; hits naming no actor, by what they are about
                // (one delivery failing day after day is one episode).
                Some(e)
                    if e.who == who
                        && if who.is_empty() {
                            e.details.first().is_some_and(|d| *d == detail)
                        } else {
                            t.zip(e.last_us).is_some_and(|(t, l)| t - l <= EPISODE_GAP_US)
                        } =>
                {
                    e.count += 1;
                    e.last = time;
                    e.last_us = t;
                    for (list, v) in [(&mut e.from, from), (&mut e.details, detail), (&mut e.keys, key)] {
                        if !v.is_empty() && !list.contains(&v) {
                            list.push(v);
                        }
                    }
                }
                _ => episodes.push(Episode {
                    first: time.clone(),
                    last: time,
                    last_us: t,
                    count: 1,
                    who,
                    from: vec![from].into_iter().filter(|v| !v.is_empty()).collect(),
                    details: vec![detail].into_iter().filter(|v| !v.is_empty()).collect(),
                    keys: vec![key].into_iter().filter(|v| !v.is_empty()).collect(),
                }),
            }
        }
        let total = episodes.len();
        for e in episodes.iter().take(STORY_ROWS_PER_HUNT) {
            let mut what = r.title.clone();
            if !e.details.is_empty() {
                what.push_str(&format!(": {}", listed(&e.details, 3)));
            }
            if !e.keys.is_empty() {
                what.push_str(&format!(" (key {})", listed(&e.keys, 3)));
            }
            if e.count > 1 {
                what.push_str(&format!("; {} hits to {}", e.count, e.last));
            }
            out.push(StoryLine {
                time: e.first.clone(),
                source,
                severity: r.severity.as_str(),
                who: e.who.clone(),
                what: clip(what, 300),
                from_where: listed(&e.from, 3),
                link: format!("#{anchor}-{}", r.name),
            });
        }
        if total > STORY_ROWS_PER_HUNT {
            let rest = &episodes[STORY_ROWS_PER_HUNT..];
            let mut who: Vec<String> = Vec::new();
            let mut from: Vec<String> = Vec::new();
            for e in rest {
                if !e.who.is_empty() && !who.contains(&e.who) {
                    who.push(e.who.clone());
                }
                for f in &e.from {
                    if !from.contains(f) {
                        from.push(f.clone());
                    }
                }
            }
            let hits: usize = rest.iter().map(|e| e.count).sum();
            out.push(StoryLine {
                time: rest[0].first.clone(),
                source,
                severity: r.severity.as_str(),
                who: listed(&who, 2),
                what: format!(
                    "{}: {} more episode{} ({hits} hits) to {}",
                    r.title,
                    rest.len(),
                    if rest.len() == 1 { "" } else { "s" },
                    rest.last().map(|e| e.last.as_str()).unwrap_or_default()
                ),
                from_where: listed(&from, 2),
                link: format!("#{anchor}-{}", r.name),
            });
        }
    }
    out.sort_by(|a, b| a.time.cmp(&b.time));
    out
}

/// Everything the summary and the report show: the one value both pages are rendered from.
#[derive(Debug, Clone, Serialize)]
pub(super) struct Findings {
    /// Whose addresses are (`enrich`), for the templates' `whose` filter; `None`: not known.
    #[serde(skip)]
    pub(super) address_context: Option<std::sync::Arc<crate::enrich::AddressContext>>,
    /// The case's name, when it has one.
    pub(super) case: Option<String>,
    pub(super) evidence: Vec<String>,
    pub(super) lake: String,
    pub(super) window: String,
    pub(super) baseline: String,
    pub(super) notes: Vec<String>,
    /// What happened, from both sources, in time order.
    pub(super) story: Vec<StoryLine>,
    /// Every change, in time order.
    pub(super) changes: Vec<ChangeView>,
    /// The changes that are not flagged: housekeeping (they opened nothing, or governed nothing)
    /// and refused calls, in time order.
    pub(super) housekeeping: Vec<ChangeView>,
    /// How many changes are not flagged (the pages show the first [`HOUSEKEEPING_SHOWN`]).
    pub(super) housekeeping_total: usize,
    /// The flagged ones, most severe first.
    pub(super) flagged: Vec<FlaggedView>,
    /// How many flagged changes let in unusual traffic.
    pub(super) unusual: usize,
    /// Every hunt, most severe first.
    pub(super) hunts: Vec<HuntView>,
    /// The Sigma rules, when `--sigma` gave some.
    pub(super) sigma: Option<SigmaView>,
    pub(super) shown_rows: usize,
    pub(super) story_rows: usize,
    pub(super) ingest_summary: String,
    pub(super) ingest_lines: Vec<String>,
    pub(super) version: &'static str,
    pub(super) style: &'static str,
    pub(super) facts: super::facts::Facts,
}

/// The Sigma rules run, most severe first, and those not run with the reason.
#[derive(Debug, Clone, Serialize)]
pub(super) struct SigmaView {
    pub(super) rules: Vec<HuntView>,
    pub(super) with_hits: usize,
    pub(super) not_run: Vec<NotRun>,
}

#[derive(Debug, Clone, Serialize)]
pub(super) struct NotRun {
    pub(super) file: String,
    pub(super) why: String,
}

/// A rule file not run, and why.
pub(super) type Skipped = (std::path::PathBuf, String);

/// What `investigate` found, before it is put into words.
pub(super) struct Gathered<'a> {
    pub(super) ingest_summary: String,
    pub(super) changes: &'a [VerdictRow],
    pub(super) flagged: &'a [Flagged],
    pub(super) results: &'a [HuntResult],
    /// The Sigma rules run and those not run, when `--sigma` gave some.
    pub(super) sigma: Option<(&'a [HuntResult], &'a [Skipped])>,
    pub(super) notes: &'a [String],
    pub(super) opts: &'a InvestigateOptions,
    pub(super) case: &'a CaseFile,
    /// The case's key facts and coverage.
    pub(super) facts: super::facts::Facts,
    /// The hunts run (their headers: what each depends on).
    pub(super) hunts: &'a [crate::hunt::Hunt],
    /// Whose addresses are, from the case's session.
    pub(super) address_context: Option<std::sync::Arc<crate::enrich::AddressContext>>,
}

impl Findings {
    pub(super) fn new(g: Gathered<'_>) -> Findings {
        let flagged: Vec<FlaggedView> = g
            .flagged
            .iter()
            .map(|f| FlaggedView {
                change: ChangeView::of(&f.change),
                chart_svg: f.chart_svg.clone(),
                chart_file: f.chart_file.clone(),
                timeline_file: f.timeline_file.clone(),
                timeline_total: f.timeline.len(),
                timeline: {
                    // The events nearest the change, as many before as after; the CSV has all.
                    let at = f.timeline.iter().position(|e| e.event_id == f.change.event_id).unwrap_or(0);
                    let from = at.saturating_sub(TIMELINE_SHOWN / 2);
                    let from = from.min(f.timeline.len().saturating_sub(TIMELINE_SHOWN));
                    f.timeline
                        .iter()
                        .skip(from)
                        .take(TIMELINE_SHOWN)
                        .map(|e| TimelineView {
                            request: clip(e.request_parameters.clone(), 160),
                            is_change: e.event_id == f.change.event_id,
                            event: e.clone(),
                        })
                        .collect()
                },
                traffic_seen: !f.traffic.is_empty(),
            })
            .collect();
        Findings {
            address_context: g.address_context.clone(),
            case: g.case.case.clone(),
            evidence: g.case.evidence.clone(),
            lake: g.case.lake.clone(),
            window: crate::time::duration_text(g.opts.window_us),
            baseline: crate::time::duration_text(g.opts.baseline_us),
            notes: g.notes.to_vec(),
            changes: g.changes.iter().map(ChangeView::of).collect(),
            housekeeping: g
                .changes
                .iter()
                .filter(|c| !c.verdict().is_some_and(Verdict::flagged))
                .take(HOUSEKEEPING_SHOWN)
                .map(ChangeView::of)
                .collect(),
            housekeeping_total: g.changes.iter().filter(|c| !c.verdict().is_some_and(Verdict::flagged)).count(),
            unusual: flagged.iter().filter(|f| f.change.unusual).count(),
            story: story(&flagged, g.results, g.sigma.map(|(r, _)| r).unwrap_or_default()),
            flagged,
            hunts: crate::hunt::most_severe_first(g.results)
                .into_iter()
                .map(|r| {
                    let mut view = HuntView::of(r);
                    // A hunt that depends on evidence the case lacks for part of its span says so.
                    let sees = g.hunts.iter().find(|h| h.name == r.name).map(|h| h.sees.clone()).unwrap_or_default();
                    view.blind = sees.iter().flat_map(|k| g.facts.blind.get(k).cloned().unwrap_or_default()).collect();
                    view
                })
                .collect(),
            sigma: g.sigma.map(|(results, skipped)| SigmaView {
                rules: crate::hunt::most_severe_first(results).into_iter().map(HuntView::of).collect(),
                with_hits: results.iter().filter(|r| r.hits > 0).count(),
                not_run: skipped
                    .iter()
                    .map(|(f, why)| NotRun { file: f.display().to_string(), why: why.clone() })
                    .collect(),
            }),
            shown_rows: SHOWN_ROWS,
            story_rows: STORY_ROWS_PER_HUNT,
            ingest_lines: g.ingest_summary.lines().map(str::to_string).collect(),
            ingest_summary: g.ingest_summary,
            version: env!("CARGO_PKG_VERSION"),
            style: super::html::STYLE,
            facts: g.facts,
        }
    }

    /// Findings with no evidence, for tests of the pages.
    #[cfg(test)]
    pub(super) fn example() -> Findings {
        Findings {
            address_context: None,
            case: None,
            evidence: vec!["evidence/".into()],
            lake: "lake".into(),
            window: "6h".into(),
            baseline: "7days".into(),
            notes: Vec::new(),
            story: Vec::new(),
            changes: Vec::new(),
            housekeeping: Vec::new(),
            housekeeping_total: 0,
            flagged: Vec::new(),
            unusual: 0,
            hunts: Vec::new(),
            sigma: None,
            shown_rows: SHOWN_ROWS,
            story_rows: STORY_ROWS_PER_HUNT,
            ingest_summary: String::new(),
            ingest_lines: Vec::new(),
            version: "test",
            style: "",
            facts: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_are_described() {
        let row: VerdictRow = serde_json::from_str(
            r#"{"event_name":"CreateNetworkAclEntry","rule_number":90,"egress":false,"protocol":-1,"rule_action":"allow","cidr_block":"0.0.0.0/0"}"#,
        )
        .unwrap();
        assert_eq!(what_changed(&row), "rule 90 added: allow inbound all protocols from 0.0.0.0/0");
        let row: VerdictRow = serde_json::from_str(
            r#"{"event_name":"ReplaceNetworkAclEntry","rule_number":100,"egress":false,"protocol":6,"rule_action":"allow","cidr_block":"0.0.0.0/0","port_from":0,"port_to":65535}"#,
        )
        .unwrap();
        assert_eq!(what_changed(&row), "rule 100 replaced with: allow inbound tcp ports 0-65535 from 0.0.0.0/0");
    }

    #[test]
    fn what_a_change_did_is_said_in_one_line() {
        let row = |j: &str| -> VerdictRow { serde_json::from_str(j).unwrap() };
        let opened = row(
            r#"{"verdict":"risky_change_no_unusual_traffic","risk_reasons":"world_open_cidr","opened":"ingress tcp 3389 from 0.0.0.0/0 opened"}"#,
        );
        assert_eq!(what_it_did(&opened), "ingress tcp 3389 from 0.0.0.0/0 opened");
        let inactive = row(
            r#"{"verdict":"change_no_unusual_traffic","risk_reasons":"inactive_acl","opened":"ingress all from ::/0 opened"}"#,
        );
        assert_eq!(
            what_it_did(&inactive),
            "nothing yet: the ACL governs no subnet (once it does: ingress all from ::/0 opened)"
        );
        let narrowing = row(
            r#"{"verdict":"change_no_unusual_traffic","risk_reasons":"narrowing","closed":"ingress tcp 0-442 from 0.0.0.0/0 closed"}"#,
        );
        assert_eq!(what_it_did(&narrowing), "ingress tcp 0-442 from 0.0.0.0/0 closed");
        let failed = row(r#"{"verdict":"failed_change","risk_reasons":"world_open_cidr,failed_call"}"#);
        assert_eq!(what_it_did(&failed), "nothing: the call failed");
    }
}
