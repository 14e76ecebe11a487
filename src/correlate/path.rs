//! `acl check` as a path check: for a packet at a moment, the interface it reaches, the ACL of
//! that interface's subnet and the rule of it that decides, and the security-group rule that
//! allows it (or that none does). Read from the derived tables (`network_interfaces`,
//! `acl_associations`, `interface_groups`, `sg_rules`), so SQL gives the same answers
//! (`docs/acl.md`).

use std::net::IpAddr;

use datafusion::prelude::SessionContext;

use super::acl::{Packet, rows};
use super::sg::{Peer, Rule};
use crate::error::Result;

fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// "Held at the moment" for a table of facts over time (`alias.valid_from` / `valid_to`); the
/// latest the evidence shows when no moment is given.
fn held(alias: &str, at: Option<i64>) -> String {
    match at {
        Some(t) => {
            let t = lit(&crate::time::fmt_time(t));
            format!(
                "({alias}.valid_from IS NULL OR {alias}.valid_from <= CAST({t} AS TIMESTAMP)) \
                 AND ({alias}.valid_to IS NULL OR {alias}.valid_to > CAST({t} AS TIMESTAMP))"
            )
        }
        None => format!("{alias}.valid_to IS NULL"),
    }
}

/// The interface that held `address` at the moment, when the evidence shows one.
pub async fn interface_of(ctx: &SessionContext, address: IpAddr, at: Option<i64>) -> Result<Option<String>> {
    let sql = format!(
        "SELECT DISTINCT n.interface_id FROM network_interfaces n WHERE n.address = {} AND {} ORDER BY 1",
        lit(&address.to_string()),
        held("n", at)
    );
    Ok(rows(ctx, &sql).await?.into_iter().find_map(|r| r.into_iter().next().flatten()))
}

/// The ACL of the interface's subnet at the moment.
pub async fn acl_of(ctx: &SessionContext, interface: &str, at: Option<i64>) -> Result<Option<String>> {
    let sql = format!(
        "SELECT DISTINCT a.network_acl_id FROM network_interfaces n JOIN acl_associations a ON a.subnet_id = n.subnet_id \
         WHERE n.interface_id = {} AND a.network_acl_id IS NOT NULL AND {} AND {} ORDER BY 1",
        lit(interface),
        held("n", at),
        held("a", at)
    );
    Ok(rows(ctx, &sql).await?.into_iter().find_map(|r| r.into_iter().next().flatten()))
}

/// What the interface's security groups say of the packet: lines, and allowed (`None`: not
/// known). `None` for the lines when nothing shows the interface's groups at the moment.
pub async fn groups_check(
    ctx: &SessionContext,
    interface: &str,
    at: Option<i64>,
    packet: &Packet,
) -> Result<Option<(Vec<String>, Option<bool>)>> {
    let groups: Vec<String> = rows(
        ctx,
        &format!(
            "SELECT DISTINCT g.group_id FROM interface_groups g WHERE g.interface_id = {} AND {} ORDER BY 1",
            lit(interface),
            held("g", at)
        ),
    )
    .await?
    .into_iter()
    .filter_map(|r| r.into_iter().next().flatten())
    .collect();
    if groups.is_empty() {
        return Ok(None);
    }
    let list = groups.iter().map(|g| lit(g)).collect::<Vec<_>>().join(", ");
    let rules = rows(
        ctx,
        &format!(
            "SELECT r.group_id, r.egress, r.protocol, r.port_from, r.port_to, \
             coalesce(r.cidr_block, r.ipv6_cidr_block), r.referenced_group_id, r.prefix_list_id, r.complete, \
             r.learned_from, r.rule_id FROM sg_rules r WHERE r.group_id IN ({list}) AND {} \
             ORDER BY r.group_id, r.egress, r.protocol, r.port_from",
            held("r", at)
        ),
    )
    .await?;
    let mut lines = vec![format!("{interface} is in {}", groups.join(", "))];
    let mut possible: Vec<String> = Vec::new();
    for g in &groups {
        let has_rows = rules.iter().any(|r| r[0].as_deref() == Some(g.as_str()));
        let incomplete = rules.iter().any(|r| r[0].as_deref() == Some(g.as_str()) && r[8].as_deref() == Some("false"));
        if !has_rows {
            possible.push(format!("{g}: its rules are not in the evidence"));
        } else if incomplete {
            possible.push(format!("{g}: rules the evidence does not show may allow it"));
        }
    }
    for r in &rules {
        let num = |i: usize| r[i].as_deref().and_then(|v| v.parse::<i64>().ok());
        let egress = r[1].as_deref() == Some("true");
        if egress != packet.egress {
            continue;
        }
        let peer = match (&r[5], &r[6], &r[7]) {
            (Some(c), _, _) => Peer::Cidr(c.clone()),
            (_, Some(g), _) => Peer::Group(g.clone()),
            (_, _, Some(p)) => Peer::PrefixList(p.clone()),
            _ => continue,
        };
        let rule = Rule {
            egress,
            protocol: num(2).unwrap_or(-1),
            port_from: num(3),
            port_to: num(4),
            peer,
            rule_id: r[10].clone(),
        };
        if !covers(&rule, packet) {
            continue;
        }
        let group = r[0].clone().unwrap_or_default();
        let learned = r[9].clone().unwrap_or_default();
        let id = rule.rule_id.as_deref().map(|i| format!(" {i}")).unwrap_or_default();
        let matched = match &rule.peer {
            Peer::Cidr(c) => c.parse::<ipnet::IpNet>().is_ok_and(|n| n.contains(&packet.peer)),
            Peer::Group(peer_group) => {
                let members = members(ctx, peer_group, at).await?;
                if members.contains(&packet.peer) {
                    true
                } else {
                    if members.is_empty() {
                        possible.push(format!(
                            "{group}{id}: {} (the members of {peer_group} are not in the evidence)",
                            rule.words()
                        ));
                    }
                    false
                }
            }
            Peer::PrefixList(p) => match prefix_list(ctx, p, at).await? {
                Some(nets) => nets.iter().any(|n| n.contains(&packet.peer)),
                None => {
                    possible.push(format!(
                        "{group}{id}: {} (the prefix list {p}'s entries are not in the evidence)",
                        rule.words()
                    ));
                    false
                }
            },
        };
        if matched {
            lines.push(format!("allowed by {group}{id}: {} (learned from {learned})", rule.words()));
            lines.push(stateful_note(packet));
            return Ok(Some((lines, Some(true))));
        }
    }
    if possible.is_empty() {
        lines.push(format!("denied: no rule of {} allows it", groups.join(", ")));
        lines.push(stateful_note(packet));
        Ok(Some((lines, Some(false))))
    } else {
        lines.push("unknown: no rule the evidence shows allows it, but".into());
        lines.extend(possible.into_iter().map(|p| format!("  {p}")));
        Ok(Some((lines, None)))
    }
}

fn stateful_note(packet: &Packet) -> String {
    let other = if packet.egress { "inbound" } else { "outbound" };
    format!(
        "(as the start of a connection: groups are stateful, and a reply to an {other} connection they allowed passes whatever these rules say)"
    )
}

/// Does the rule's protocol and port range cover the packet (its peer aside)?
fn covers(rule: &Rule, packet: &Packet) -> bool {
    if rule.protocol != -1 && rule.protocol != packet.protocol {
        return false;
    }
    match (rule.protocol, packet.port) {
        (6 | 17, Some(p)) => rule.port_from.is_none_or(|f| f <= p) && rule.port_to.is_none_or(|t| p <= t),
        _ => true,
    }
}

/// The addresses of a group's members at the moment.
async fn members(ctx: &SessionContext, group: &str, at: Option<i64>) -> Result<Vec<IpAddr>> {
    let sql = format!(
        "SELECT DISTINCT n.address FROM interface_groups g JOIN network_interfaces n ON n.interface_id = g.interface_id \
         WHERE g.group_id = {} AND n.address IS NOT NULL AND {} AND {}",
        lit(group),
        held("g", at),
        held("n", at)
    );
    Ok(rows(ctx, &sql).await?.into_iter().filter_map(|r| r[0].as_deref().and_then(|a| a.parse().ok())).collect())
}

/// A managed prefix list's entries as AWS Config recorded them (the newest item not after the
/// moment, else the first), when the evidence holds one.
async fn prefix_list(ctx: &SessionContext, id: &str, at: Option<i64>) -> Result<Option<Vec<ipnet::IpNet>>> {
    let order = match at {
        Some(t) => {
            let t = lit(&crate::time::fmt_time(t));
            format!(
                "ORDER BY snapshot_time <= CAST({t} AS TIMESTAMP) DESC, \
                 CASE WHEN snapshot_time <= CAST({t} AS TIMESTAMP) THEN -arrow_cast(snapshot_time, 'Int64') \
                 ELSE arrow_cast(snapshot_time, 'Int64') END"
            )
        }
        None => "ORDER BY snapshot_time DESC".into(),
    };
    let sql =
        format!("SELECT item FROM inventory WHERE kind = 'prefix_lists' AND resource_id = {} {order} LIMIT 1", lit(id));
    let Some(item) = rows(ctx, &sql).await?.into_iter().find_map(|r| r.into_iter().next().flatten()) else {
        return Ok(None);
    };
    let item: serde_json::Value = serde_json::from_str(&item)?;
    Ok(Some(
        super::network::list(&item, "Entries")
            .into_iter()
            .filter_map(|e| crate::nacl::as_str(crate::nacl::get(e, "Cidr")).and_then(|c| c.parse().ok()))
            .collect(),
    ))
}
