//! `trailflow acl`: the questions a responder asks of one ACL. Its rules as they stood at a
//! moment (`show`), what one change opened and closed (`diff`), whether a packet would have
//! passed (`check`), and every change it went through (`history`). Each answer is read from the
//! derived tables (`nacl_entries`, `nacl_changes`), so SQL gives the same answers.

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;

use crate::error::{Error, Result};
use crate::nacl::Entry;
use crate::nacl::policy::{Decision, decide};

/// A text literal for SQL.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// One entry of an ACL with where it was learned and since when it held.
#[derive(Debug, Clone)]
pub struct Rule {
    pub entry: Entry,
    pub learned_from: String,
    pub valid_from: Option<i64>,
}

/// The ACL ids the evidence shows.
async fn known_acls(ctx: &SessionContext) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for b in crate::query::query(ctx, "SELECT DISTINCT network_acl_id FROM nacl_entries ORDER BY 1").await? {
        let ids = b.column(0).as_string::<i32>();
        out.extend((0..ids.len()).filter(|&i| ids.is_valid(i)).map(|i| ids.value(i).to_string()));
    }
    Ok(out)
}

/// The error for an ACL the evidence does not show, naming the nearest it does.
async fn no_such_acl(ctx: &SessionContext, acl: &str) -> Error {
    let known = known_acls(ctx).await.unwrap_or_default();
    let near = known.iter().min_by_key(|k| strsim::levenshtein(k, acl)).filter(|k| strsim::levenshtein(k, acl) <= 4);
    Error::Usage(match (near, known.len()) {
        (Some(k), _) => format!("no ACL {acl} in the evidence; did you mean {k}?"),
        (None, 0) => format!("no ACL {acl} in the evidence: it shows no Network ACL at all"),
        (None, n) => format!(
            "no ACL {acl} in the evidence ({n} ACLs: {})",
            known.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
        ),
    })
}

/// An entry from a row of `nacl_entries` (or of `nacl_rules_at`).
fn rules_of(batches: &[RecordBatch]) -> Result<Vec<Rule>> {
    let mut out = Vec::new();
    for b in batches {
        let col = |n: &str| b.column_by_name(n).cloned().ok_or_else(|| Error::Lake(format!("nacl_entries has no {n}")));
        let text = |n: &str| -> Result<StringArray> { Ok(col(n)?.as_string::<i32>().clone()) };
        let int = |n: &str| -> Result<Int64Array> { Ok(col(n)?.as_primitive::<Int64Type>().clone()) };
        let (number, protocol, from, to, itype, icode) = (
            int("rule_number")?,
            int("protocol")?,
            int("port_from")?,
            int("port_to")?,
            int("icmp_type")?,
            int("icmp_code")?,
        );
        let (action, cidr, cidr6, learned) =
            (text("rule_action")?, text("cidr_block")?, text("ipv6_cidr_block")?, text("learned_from")?);
        let egress = col("egress")?.as_boolean().clone();
        let since = col("valid_from")?.as_primitive::<TimestampMicrosecondType>().clone();
        let get = |a: &StringArray, i: usize| a.is_valid(i).then(|| a.value(i).to_string());
        let num = |a: &Int64Array, i: usize| a.is_valid(i).then(|| a.value(i));
        for i in 0..b.num_rows() {
            let entry = match get(&action, i) {
                None => Entry::unknown(egress.value(i), number.value(i)),
                Some(action) => Entry {
                    rule_number: number.value(i),
                    egress: egress.value(i),
                    action,
                    protocol: num(&protocol, i).unwrap_or(-1),
                    cidr: get(&cidr, i),
                    ipv6_cidr: get(&cidr6, i),
                    port_from: num(&from, i),
                    port_to: num(&to, i),
                    icmp_type: num(&itype, i),
                    icmp_code: num(&icode, i),
                    unknown: false,
                },
            };
            out.push(Rule { entry, learned_from: learned.value(i).to_string(), valid_from: num_ts(&since, i) });
        }
    }
    Ok(out)
}

fn num_ts(a: &datafusion::arrow::array::TimestampMicrosecondArray, i: usize) -> Option<i64> {
    a.is_valid(i).then(|| a.value(i))
}

/// The ACL's entries at `at` (the latest the evidence shows when `None`), in evaluation order.
pub async fn rules(ctx: &SessionContext, acl: &str, at: Option<i64>) -> Result<Vec<Rule>> {
    if !known_acls(ctx).await?.iter().any(|k| k == acl) {
        return Err(no_such_acl(ctx, acl).await);
    }
    let sql = match at {
        Some(t) => format!("SELECT * FROM nacl_rules_at({}, {})", lit(acl), lit(&crate::time::fmt_time(t))),
        None => format!(
            "SELECT * FROM nacl_entries WHERE network_acl_id = {} AND valid_to IS NULL ORDER BY egress, rule_number",
            lit(acl)
        ),
    };
    rules_of(&crate::query::query(ctx, &sql).await?)
}

/// Rules as a table: direction, rule number, the rule in words, where it was learned, since when.
pub fn rules_batch(rules: &[Rule]) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("direction", DataType::Utf8, false),
        Field::new("rule_number", DataType::Int64, false),
        Field::new("rule", DataType::Utf8, false),
        Field::new("learned_from", DataType::Utf8, false),
        Field::new("since", crate::schema::ts_type(), true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(rules.iter().map(|r| direction(r.entry.egress)))),
        Arc::new(Int64Array::from_iter_values(rules.iter().map(|r| r.entry.rule_number))),
        Arc::new(StringArray::from_iter_values(rules.iter().map(|r| r.entry.words()))),
        Arc::new(StringArray::from_iter_values(rules.iter().map(|r| r.learned_from.clone()))),
        Arc::new(
            datafusion::arrow::array::TimestampMicrosecondArray::from(
                rules.iter().map(|r| r.valid_from).collect::<Vec<_>>(),
            )
            .with_timezone("UTC"),
        ),
    ];
    Ok(RecordBatch::try_new(schema, cols)?)
}

fn direction(egress: bool) -> &'static str {
    if egress { "egress" } else { "ingress" }
}

/// One change's difference: what it was, what it opened and closed, and the rules side by side.
#[derive(Debug)]
pub struct ChangeDiff {
    /// (label, value) lines: event, time, ACL, actor, reasons.
    pub header: Vec<(&'static str, String)>,
    pub opened: Option<String>,
    pub closed: Option<String>,
    /// direction, rule_number, before, after, change.
    pub rules: RecordBatch,
}

/// `acl diff EVENT-ID`.
pub async fn diff(ctx: &SessionContext, event_id: &str) -> Result<ChangeDiff> {
    let sql = format!(
        "SELECT event_name, CAST(event_time AS VARCHAR), coalesce(network_acl_id, ''), coalesce(actor_arn, ''), \
         coalesce(risk_reasons, ''), CAST(risk_score AS VARCHAR), coalesce(subnet_id, ''), \
         rules_before, rules_after, opened_text, closed_text, opened, topology_basis, topology_reason \
         FROM nacl_changes WHERE event_id = {}",
        lit(event_id)
    );
    let Some(row) = first_row(ctx, &sql).await? else {
        if let Some(d) = sg_diff(ctx, event_id).await? {
            return Ok(d);
        }
        return Err(Error::Usage(format!(
            "no Network ACL or security-group change with event id {event_id} \
             (`trailflow acl history ACL-ID|SG-ID` lists one's changes)"
        )));
    };
    let v = |i: usize| row.get(i).cloned().flatten().filter(|s| !s.is_empty());
    let mut header = vec![("event", format!("{} {}", v(0).unwrap_or_default(), event_id))];
    header.push(("time", v(1).unwrap_or_default()));
    header.push(("acl", v(2).unwrap_or_else(|| "unknown".into())));
    if let Some(s) = v(6) {
        header.push(("subnet", s));
    }
    header.push(("actor", v(3).unwrap_or_else(|| "unknown".into())));
    let reasons = v(4).unwrap_or_else(|| "none".into());
    header.push(("risk", format!("{} ({reasons})", v(5).unwrap_or_default())));
    // What the subnet, its interfaces and the rules before stand on.
    header.push(("topology", format!("{}: {}", v(12).unwrap_or_else(|| "unknown".into()), v(13).unwrap_or_default())));
    let parse = |i: usize| v(i).and_then(|t| serde_json::from_str::<Vec<Entry>>(&t).ok());
    let (before, after) = (parse(7), parse(8));
    let unknown_after = v(11).is_none();
    let opened = v(9).or_else(|| (!unknown_after).then(|| "nothing".into()));
    let closed = v(10).or_else(|| (!unknown_after).then(|| "nothing".into()));
    Ok(ChangeDiff { header, opened, closed, rules: side_by_side(before.as_deref(), after.as_deref())? })
}

/// The rows of a query, every value as text.
pub(crate) async fn rows(ctx: &SessionContext, sql: &str) -> Result<Vec<Vec<Option<String>>>> {
    let mut out = Vec::new();
    for b in crate::query::query(ctx, sql).await? {
        let cols = (0..b.num_columns())
            .map(|i| datafusion::arrow::compute::cast(b.column(i), &DataType::Utf8))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            out.push(
                cols.iter()
                    .map(|c| {
                        let c = c.as_string::<i32>();
                        c.is_valid(r).then(|| c.value(r).to_string())
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// The first row of a query, every value as text.
async fn first_row(ctx: &SessionContext, sql: &str) -> Result<Option<Vec<Option<String>>>> {
    Ok(rows(ctx, sql).await?.into_iter().next())
}

/// `acl diff` of a security-group change: the group (or the interface moved), what it opened
/// and closed, and the rules before and after, one row per rule.
async fn sg_diff(ctx: &SessionContext, event_id: &str) -> Result<Option<ChangeDiff>> {
    let sql = format!(
        "SELECT event_name, CAST(event_time AS VARCHAR), coalesce(group_id, ''), coalesce(actor_arn, ''), \
         coalesce(risk_reasons, ''), CAST(risk_score AS VARCHAR), coalesce(interface_id, ''), \
         rules_before, rules_after, opened_text, closed_text, opened, topology_basis, topology_reason, \
         groups_before, groups_after FROM sg_changes WHERE event_id = {}",
        lit(event_id)
    );
    let Some(row) = first_row(ctx, &sql).await? else { return Ok(None) };
    let v = |i: usize| row.get(i).cloned().flatten().filter(|s| !s.is_empty());
    let mut header = vec![("event", format!("{} {}", v(0).unwrap_or_default(), event_id))];
    header.push(("time", v(1).unwrap_or_default()));
    if let Some(g) = v(2) {
        header.push(("group", g));
    }
    if let Some(i) = v(6) {
        header.push(("moved", i));
        header.push(("from", v(14).unwrap_or_else(|| "not known".into())));
        header.push(("to", v(15).unwrap_or_default()));
    }
    header.push(("actor", v(3).unwrap_or_else(|| "unknown".into())));
    let reasons = v(4).unwrap_or_else(|| "none".into());
    header.push(("risk", format!("{} ({reasons})", v(5).unwrap_or_default())));
    header.push(("topology", format!("{}: {}", v(12).unwrap_or_else(|| "unknown".into()), v(13).unwrap_or_default())));
    let parse = |i: usize| v(i).and_then(|t| serde_json::from_str::<Vec<serde_json::Value>>(&t).ok());
    let words = |rules: &Option<Vec<serde_json::Value>>| -> Option<Vec<(bool, String)>> {
        rules.as_ref().map(|r| r.iter().filter_map(super::sg::rule_of_json).map(|x| (x.egress, x.words())).collect())
    };
    let (before, after) = (words(&parse(7)), words(&parse(8)));
    let unknown_after = v(11).is_none();
    let opened = v(9).or_else(|| (!unknown_after).then(|| "nothing".into()));
    let closed = v(10).or_else(|| (!unknown_after).then(|| "nothing".into()));
    let mut keys: Vec<(bool, String)> = before.iter().chain(after.iter()).flatten().cloned().collect();
    keys.sort();
    keys.dedup();
    let none = |set: &Option<Vec<(bool, String)>>| if set.is_none() { "(not known)" } else { "" };
    let has = |set: &Option<Vec<(bool, String)>>, k: &(bool, String)| set.as_ref().is_some_and(|s| s.contains(k));
    let (mut dir, mut num, mut b_col, mut a_col, mut change) = (vec![], vec![], vec![], vec![], vec![]);
    for (i, k) in keys.iter().enumerate() {
        let (x, y) = (has(&before, k), has(&after, k));
        dir.push(direction(k.0));
        num.push(i as i64 + 1);
        b_col.push(if x { k.1.clone() } else { none(&before).into() });
        a_col.push(if y { k.1.clone() } else { none(&after).into() });
        change.push(match (x, y) {
            (false, true) if before.is_some() => "added",
            (true, false) if after.is_some() => "removed",
            _ => "",
        });
    }
    let rules = side_by_side_batch(dir, num, b_col, a_col, change)?;
    Ok(Some(ChangeDiff { header, opened, closed, rules }))
}

/// `acl history SG-ID`: every change of a security group, and every move of an interface into
/// or out of it, in time order.
pub fn sg_history_sql(group: &str) -> String {
    let g = lit(group);
    let like = lit(&format!("%{group}%"));
    format!(
        "SELECT event_time, event_name, coalesce(interface_id, '') AS interface, \
         CASE WHEN egress THEN 'egress' WHEN NOT egress THEN 'ingress' END AS direction, \
         actor_arn, succeeded, risk_score, risk_reasons, opened_text AS opened, closed_text AS closed, event_id \
         FROM sg_changes WHERE group_id = {g} OR groups_before LIKE {like} OR groups_after LIKE {like} \
         ORDER BY event_time, event_id"
    )
}

/// `acl show SG-ID`: the group's rules as they stood.
pub fn sg_rules_sql(group: &str, at: Option<i64>) -> String {
    let when = match at {
        Some(t) => {
            let t = lit(&crate::time::fmt_time(t));
            format!(
                "(valid_from IS NULL OR valid_from <= CAST({t} AS TIMESTAMP)) \
                 AND (valid_to IS NULL OR valid_to > CAST({t} AS TIMESTAMP))"
            )
        }
        None => "valid_to IS NULL".into(),
    };
    format!(
        "SELECT CASE WHEN egress THEN 'egress' ELSE 'ingress' END AS direction, \
         CASE protocol WHEN -1 THEN 'all' ELSE protocol_name(protocol) END AS protocol, port_from, port_to, \
         coalesce(cidr_block, ipv6_cidr_block, referenced_group_id, prefix_list_id) AS peer, rule_id, \
         complete, learned_from, valid_from AS since \
         FROM sg_rules WHERE group_id = {} AND {when} ORDER BY egress, protocol, port_from, peer",
        lit(group)
    )
}

/// Rules before and after, one row per rule number and direction.
fn side_by_side(before: Option<&[Entry]>, after: Option<&[Entry]>) -> Result<RecordBatch> {
    let mut keys: Vec<(bool, i64)> =
        before.into_iter().chain(after).flatten().map(|e| (e.egress, e.rule_number)).collect();
    keys.sort();
    keys.dedup();
    fn find<'a>(set: Option<&'a [Entry]>, k: &(bool, i64)) -> Option<&'a Entry> {
        set.and_then(|s| s.iter().find(|e| (e.egress, e.rule_number) == *k))
    }
    let none = |set: Option<&[Entry]>| if set.is_none() { "(not known)" } else { "" };
    let (mut dir, mut num, mut b, mut a, mut change) = (vec![], vec![], vec![], vec![], vec![]);
    for k in &keys {
        let (x, y) = (find(before, k), find(after, k));
        dir.push(direction(k.0));
        num.push(k.1);
        b.push(x.map(Entry::words).unwrap_or_else(|| none(before).into()));
        a.push(y.map(Entry::words).unwrap_or_else(|| none(after).into()));
        change.push(match (x, y) {
            (None, Some(_)) if before.is_some() => "added",
            (Some(_), None) if after.is_some() => "removed",
            (Some(x), Some(y)) if x != y => "changed",
            _ => "",
        });
    }
    side_by_side_batch(dir, num, b, a, change)
}

/// The columns of `acl diff`'s rules side by side: direction, rule number, before, after, change.
fn side_by_side_batch(
    dir: Vec<&str>,
    num: Vec<i64>,
    before: Vec<String>,
    after: Vec<String>,
    change: Vec<&str>,
) -> Result<RecordBatch> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("direction", DataType::Utf8, false),
        Field::new("rule_number", DataType::Int64, false),
        Field::new("before", DataType::Utf8, false),
        Field::new("after", DataType::Utf8, false),
        Field::new("change", DataType::Utf8, false),
    ]));
    Ok(RecordBatch::try_new(
        schema,
        vec![
            Arc::new(StringArray::from(dir)),
            Arc::new(Int64Array::from(num)),
            Arc::new(StringArray::from(before)),
            Arc::new(StringArray::from(after)),
            Arc::new(StringArray::from(change)),
        ],
    )?)
}

/// A packet to check: `ingress tcp 203.0.113.5 -> 10.0.1.7:22`.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    pub egress: bool,
    pub protocol: i64,
    /// The far side: the source of an inbound packet, the destination of an outbound one.
    pub peer: IpAddr,
    /// The destination port (NACL port ranges match it in both directions).
    pub port: Option<i64>,
    /// The near side: the interface's address (the destination of an inbound packet).
    pub local: IpAddr,
}

/// An address with an optional port: `10.0.1.7:22`, `[2001:db8::7]:22`, `2001:db8::7`.
fn endpoint(s: &str) -> Option<(IpAddr, Option<i64>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    let sock: std::net::SocketAddr = s.parse().ok()?;
    Some((sock.ip(), Some(sock.port() as i64)))
}

impl std::str::FromStr for Packet {
    type Err = Error;

    fn from_str(s: &str) -> Result<Packet> {
        let usage = || {
            Error::Usage(format!("cannot read the flow {s:?}: write it as \"ingress tcp 203.0.113.5 -> 10.0.1.7:22\""))
        };
        let words: Vec<&str> = s.split_whitespace().collect();
        let [dir, proto, src, arrow, dst] = words.as_slice() else { return Err(usage()) };
        if *arrow != "->" {
            return Err(usage());
        }
        let egress = match dir.to_ascii_lowercase().as_str() {
            "ingress" | "in" | "inbound" => false,
            "egress" | "out" | "outbound" => true,
            _ => return Err(Error::Usage(format!("{dir:?}: the direction is ingress or egress"))),
        };
        let protocol = match proto.to_ascii_lowercase().as_str() {
            "tcp" => 6,
            "udp" => 17,
            "icmp" => 1,
            "icmpv6" => 58,
            p => p.parse::<i64>().ok().filter(|n| (0..=255).contains(n)).ok_or_else(|| {
                Error::Usage(format!("{proto:?}: the protocol is tcp, udp, icmp, icmpv6 or a number 0-255"))
            })?,
        };
        let (src, _) =
            endpoint(src).ok_or_else(|| Error::Usage(format!("{src:?} is not an address (or address:port)")))?;
        let (dst, port) =
            endpoint(dst).ok_or_else(|| Error::Usage(format!("{dst:?} is not an address (or address:port)")))?;
        if matches!(protocol, 6 | 17) && port.is_none() {
            return Err(Error::Usage(format!("{s:?}: a TCP or UDP flow needs the destination port (10.0.1.7:22)")));
        }
        let (peer, local) = if egress { (dst, src) } else { (src, dst) };
        Ok(Packet { egress, protocol, peer, port, local })
    }
}

/// `acl check`: the decision in words, one line each: the verdict and the rule that gave it;
/// for an unknown, what the known rules below would decide.
/// `acl check`: what the ACL decides for the packet, in lines, and whether it is allowed (`None`
/// when a rule nothing recorded describes comes first and could match).
pub async fn check(
    ctx: &SessionContext,
    acl: &str,
    at: Option<i64>,
    packet: &Packet,
) -> Result<(Vec<String>, Option<bool>)> {
    let rules = rules(ctx, acl, at).await?;
    let entries: Vec<Entry> = rules.iter().map(|r| r.entry.clone()).collect();
    let entries = crate::nacl::with_default_rules(entries);
    let rule_line = |n: i64| -> String {
        if n == crate::nacl::DEFAULT_RULE {
            return format!("rule * ({n}): the final deny");
        }
        match rules.iter().find(|r| r.entry.egress == packet.egress && r.entry.rule_number == n) {
            Some(r) => format!("rule {n}: {} (learned from {})", r.entry.words(), r.learned_from),
            None => format!("rule {n}"),
        }
    };
    let mut out = Vec::new();
    let decision = decide(&entries, packet.egress, packet.protocol, packet.peer, packet.port);
    match decision {
        Decision::Allow(n) => out.push(format!("allowed by {}", rule_line(n))),
        Decision::Deny(n) => out.push(format!("denied by {}", rule_line(n))),
        Decision::Unknown(n) => {
            let learned = rules
                .iter()
                .find(|r| r.entry.egress == packet.egress && r.entry.rule_number == n)
                .map(|r| format!(" ({})", r.learned_from))
                .unwrap_or_default();
            out.push(format!(
                "unknown: rule {n} comes first and could match, and nothing recorded shows what it was{learned}"
            ));
            let known: Vec<Entry> = entries.iter().filter(|e| !e.unknown).cloned().collect();
            let below = decide(&known, packet.egress, packet.protocol, packet.peer, packet.port);
            let what = if below.allowed() == Some(true) { "allowed" } else { "denied" };
            out.push(format!("if it does not match: {what} by {}", rule_line(below.rule())));
        }
    }
    Ok((out, decision.allowed()))
}

/// `acl history`: every change of the ACL in time order with what it opened and closed.
pub fn history_sql(acl: &str) -> String {
    format!(
        "SELECT event_time, event_name, rule_number, CASE WHEN egress THEN 'egress' WHEN NOT egress THEN 'ingress' END AS direction, \
         actor_arn, succeeded, risk_score, risk_reasons, opened_text AS opened, closed_text AS closed, event_id \
         FROM nacl_changes WHERE network_acl_id = {} ORDER BY event_time, event_id",
        lit(acl)
    )
}

/// Is the ACL one the evidence shows? The error names the nearest one when it is not.
pub async fn require_acl(ctx: &SessionContext, acl: &str) -> Result<()> {
    if known_acls(ctx).await?.iter().any(|k| k == acl) { Ok(()) } else { Err(no_such_acl(ctx, acl).await) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flows_are_read_as_a_responder_writes_them() {
        let p: Packet = "ingress tcp 203.0.113.5 -> 10.0.1.7:22".parse().unwrap();
        let local = "10.0.1.7".parse().unwrap();
        assert_eq!(
            p,
            Packet { egress: false, protocol: 6, peer: "203.0.113.5".parse().unwrap(), port: Some(22), local }
        );
        let p: Packet = "egress udp 10.0.1.7:40000 -> [2001:db8::53]:53".parse().unwrap();
        assert_eq!(
            p,
            Packet { egress: true, protocol: 17, peer: "2001:db8::53".parse().unwrap(), port: Some(53), local }
        );
        let p: Packet = "in icmp 198.51.100.1 -> 10.0.1.7".parse().unwrap();
        assert_eq!((p.protocol, p.port), (1, None));
        for bad in [
            "ingress tcp 203.0.113.5 10.0.1.7:22",
            "sideways tcp 1.2.3.4 -> 10.0.0.1:22",
            "ingress tcp 1.2.3.4 -> 10.0.0.1",
            "ingress xyz 1.2.3.4 -> 10.0.0.1:1",
        ] {
            assert!(bad.parse::<Packet>().is_err(), "{bad}");
        }
    }
}
