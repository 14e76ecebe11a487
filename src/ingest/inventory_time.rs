//! When was an inventory snapshot taken? Given at ingest, or inferred from which CloudTrail NACL
//! changes the snapshot's rules already reflect, falling back to just after the newest event.

use std::collections::HashMap;

use serde_json::Value;

use crate::decode::cloudtrail::NaclEvent;
use crate::decode::inventory::InvItem;
use crate::nacl::{Entry, as_bool, as_i64, as_str, entries_of, entry_of, get};
use crate::time::fmt_time;

/// The entries of each ACL the snapshot shows, by (egress, rule number).
pub type SnapshotRules = HashMap<String, HashMap<(bool, i64), Entry>>;

/// (ACL, egress, rule number) of an entry event.
type RuleKey = (String, bool, i64);

#[cfg(test)]
fn snapshot_rules(items: &[InvItem]) -> SnapshotRules {
    let mut out = SnapshotRules::new();
    for it in items {
        add_rules(&mut out, it);
    }
    out
}

/// Add the rules an item shows, if it is an ACL.
pub fn add_rules(out: &mut SnapshotRules, it: &InvItem) {
    if it.kind != "network_acls" {
        return;
    }
    let Ok(v) = serde_json::from_str::<Value>(&it.item) else {
        return;
    };
    let Some(acl) = as_str(get(&v, "NetworkAclId")) else {
        return;
    };
    let rules = out.entry(acl).or_default();
    for e in entries_of(&v) {
        rules.insert((e.egress, e.rule_number), e);
    }
}

/// The entry an entry event writes (`None` for a deletion), and its key.
fn event_rule(ev: &NaclEvent) -> Option<(RuleKey, Option<Entry>)> {
    let p: Value = serde_json::from_str(&ev.request_parameters).ok()?;
    let acl = as_str(get(&p, "networkAclId"))?;
    let n = as_i64(get(&p, "ruleNumber"))?;
    let egress = as_bool(get(&p, "egress")).unwrap_or(false);
    if ev.event_name == "DeleteNetworkAclEntry" {
        return Some(((acl, egress, n), None));
    }
    Some(((acl, egress, n), Some(entry_of(&p)?)))
}

/// The same rule: action, protocol and range, and the ports where the protocol has ports (AWS
/// reports a port range on other protocols as it was given, without effect).
fn same_rule(a: &Entry, b: &Entry) -> bool {
    let ports_match = !matches!(a.protocol, 6 | 17) || (a.port_from, a.port_to) == (b.port_from, b.port_to);
    a.action == b.action && a.protocol == b.protocol && a.cidr == b.cidr && a.ipv6_cidr == b.ipv6_cidr && ports_match
}

/// Does the snapshot show the effect of this event?
fn reflected(rules: &SnapshotRules, key: &RuleKey, rule: &Option<Entry>) -> Option<bool> {
    let current = rules.get(&key.0)?.get(&(key.1, key.2));
    Some(match (rule, current) {
        (None, cur) => cur.is_none(),
        (Some(_), None) => false,
        (Some(r), Some(c)) => same_rule(r, c),
    })
}

/// Infer a snapshot's time from the rules it shows ([`add_rules`]). Returns microseconds and the
/// basis, in words.
pub fn infer(rules: &SnapshotRules, events: &[NaclEvent], newest_event: Option<i64>) -> (i64, String) {
    let fallback = || match newest_event {
        Some(t) => (t + 1_000_000, "assumed taken after the newest CloudTrail event".to_string()),
        None => (
            chrono::Utc::now().timestamp_micros(),
            "no CloudTrail to place it: assumed taken at ingest time".to_string(),
        ),
    };
    if rules.is_empty() {
        return fallback();
    }
    let mut judged: Vec<(i64, &str, bool)> = Vec::new();
    for ev in events {
        if let Some((key, rule)) = event_rule(ev)
            && let Some(r) = reflected(rules, &key, &rule)
        {
            judged.push((ev.time, ev.event_name.as_str(), r));
        }
    }
    judged.sort_by_key(|j| j.0);
    // The snapshot was taken after the last change it reflects and before the first one after
    // that it does not.
    let Some(last_reflected) = judged.iter().rposition(|j| j.2) else {
        return match judged.first() {
            Some(first) => (
                first.0 - 1_000_000,
                format!(
                    "inferred: reflects none of the {} NACL entry changes, so taken before the first ({})",
                    judged.len(),
                    first.1
                ),
            ),
            None => fallback(),
        };
    };
    if last_reflected + 1 == judged.len() {
        let (t, basis) = fallback();
        return (t, format!("inferred: reflects all {} NACL entry changes; {basis}", judged.len()));
    }
    let (t, name, _) = judged[last_reflected];
    let next = judged[last_reflected + 1];
    let t_assumed = (t + 1_000_000).min(next.0 - 1).max(t);
    (
        t_assumed,
        format!("inferred: reflects the {name} of {} but not the {} of {}", fmt_time(t), next.1, fmt_time(next.0)),
    )
}

/// The successful NACL entry events already in the lake, and the newest event time.
pub fn nacl_events(lake: &crate::lake::Lake) -> crate::error::Result<(Vec<NaclEvent>, Option<i64>)> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    let mut out = Vec::new();
    let mut newest: Option<i64> = None;
    crate::lake::read::for_each_batch(
        lake,
        crate::schema::CLOUDTRAIL,
        &["event_time", "event_name", "error_code", "request_parameters"],
        |b| {
            let t = b.column(0).as_primitive::<TimestampMicrosecondType>();
            let name = b.column(1).as_string::<i32>();
            let err = b.column(2).as_string::<i32>();
            let rp = b.column(3).as_string::<i32>();
            for i in 0..b.num_rows() {
                let time = t.value(i);
                newest = Some(newest.map_or(time, |n| n.max(time)));
                if name.is_valid(i)
                    && crate::aws::NACL_ENTRY_EVENTS.contains(&name.value(i))
                    && err.is_null(i)
                    && rp.is_valid(i)
                {
                    out.push(crate::decode::cloudtrail::NaclEvent {
                        time,
                        event_name: name.value(i).to_string(),
                        request_parameters: rp.value(i).to_string(),
                    });
                }
            }
        },
    )?;
    Ok((out, newest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &str) -> InvItem {
        InvItem {
            kind: "network_acls",
            resource_id: Some("acl-1".into()),
            account_id: None,
            region: None,
            vpc_id: None,
            item: format!(r#"{{"NetworkAclId":"acl-1","Entries":[{entries}]}}"#),
            captured: None,
        }
    }

    fn ev(t: i64, name: &str, rp: &str) -> NaclEvent {
        NaclEvent { time: t * 1_000_000, event_name: name.into(), request_parameters: rp.into() }
    }

    #[test]
    fn between_reflected_and_unreflected() {
        let items =
            [acl(r#"{"RuleNumber":100,"Egress":false,"Protocol":"-1","RuleAction":"allow","CidrBlock":"0.0.0.0/0"}"#)];
        let events = [
            ev(
                100,
                "CreateNetworkAclEntry",
                r#"{"networkAclId":"acl-1","ruleNumber":100,"egress":false,"ruleAction":"allow","aclProtocol":"-1","cidrBlock":"0.0.0.0/0"}"#,
            ),
            ev(200, "DeleteNetworkAclEntry", r#"{"networkAclId":"acl-1","ruleNumber":100,"egress":false}"#),
        ];
        let (t, basis) = infer(&snapshot_rules(&items), &events, Some(300_000_000));
        assert_eq!(t, 101_000_000);
        assert!(basis.contains("not the DeleteNetworkAclEntry"), "{basis}");
    }

    #[test]
    fn all_reflected_falls_back_to_newest_event() {
        let items = [acl("")];
        let events = [ev(200, "DeleteNetworkAclEntry", r#"{"networkAclId":"acl-1","ruleNumber":100,"egress":false}"#)];
        let (t, _) = infer(&snapshot_rules(&items), &events, Some(500_000_000));
        assert_eq!(t, 501_000_000);
    }
}
