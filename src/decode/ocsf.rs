//! Amazon Security Lake's OCSF 1.x records (Parquet) mapped back to the shapes trailflow stores:
//! CloudTrail's API activity (classes 6003 API Activity, 3001 Account Change, 3002
//! Authentication) to a CloudTrail record, VPC flow logs' network activity (class 4001) to the
//! flow log fields. The mapping is the reverse of the one OCSF documents for these sources
//! (`metadata.uid` is `eventID`, `api.operation` is `eventName`, `src_endpoint.ip` is `srcaddr`,
//! ...); the OCSF record itself is kept whole in `cloudtrail.raw`.

use serde_json::{Map, Value, json};

/// What an OCSF record becomes.
pub enum Mapped {
    /// A CloudTrail record (JSON text).
    CloudTrail(String),
    /// Flow log fields by their AWS names (`interface-id`, `start` in Unix seconds, ...).
    Flow(Map<String, Value>),
    /// A class trailflow does not store, by its uid and name.
    Other(String),
}

/// The OCSF classes of CloudTrail's events in Security Lake.
const API_CLASSES: [i64; 3] = [6003, 3001, 3002];
/// Network Activity: VPC flow logs in Security Lake.
const NETWORK_ACTIVITY: i64 = 4001;

/// The value at a dotted path (`actor.user.uid`), when present and not null.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    (!cur.is_null()).then_some(cur)
}

fn text(v: &Value, path: &str) -> Option<Value> {
    at(v, path).map(|x| match x {
        Value::String(_) => x.clone(),
        other => Value::String(other.to_string()),
    })
}

/// A count or a port as an integer, whatever type the Parquet column had: `208.0` (a double
/// column, as some Security Lake writers make) is 208. A fraction or a value out of range is left
/// as it is, for the flow decoder to reject with the record.
fn whole(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if v.is_f64() && f.fract() == 0.0 && f.abs() < 9.0e15 => Value::from(f as i64),
        _ => v.clone(),
    }
}

/// Below this, an epoch number is seconds, not milliseconds: OCSF's timestamps are milliseconds,
/// but some mappers (OCSF's own Data Prepper example among them) write seconds. 10^11
/// milliseconds is March 1973; 10^11 seconds is the year 5138.
const SECONDS_BELOW: i64 = 100_000_000_000;

/// An OCSF epoch time in milliseconds.
fn epoch_ms(n: &serde_json::Number) -> Option<i64> {
    let t = n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))?;
    Some(if t.abs() < SECONDS_BELOW { t.checked_mul(1000)? } else { t })
}

/// An OCSF time (epoch milliseconds, or a time already in text) as CloudTrail writes times.
fn iso_time(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => {
            let ms = epoch_ms(n)?;
            chrono::DateTime::from_timestamp_millis(ms).map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// An OCSF time as Unix seconds, as flow records carry them.
fn unix_seconds(v: &Value) -> Option<Value> {
    match v {
        Value::Number(n) => epoch_ms(n).map(|ms| Value::from(ms.div_euclid(1000))),
        Value::String(s) => crate::time::parse_time(s).map(|us| Value::from(us.div_euclid(1_000_000))),
        _ => None,
    }
}

/// A part of the record that OCSF keeps as JSON text (`api.request.data`): back to JSON.
fn json_part(v: Option<&Value>) -> Option<Value> {
    match v? {
        Value::String(s) => serde_json::from_str(s).ok().or_else(|| Some(Value::String(s.clone()))),
        other => Some(other.clone()),
    }
}

/// Put `value` at `key` when there is one.
fn put(m: &mut Map<String, Value>, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        m.insert(key.to_string(), v);
    }
}

/// Map one OCSF record (as JSON).
pub fn map(row: &Value) -> Mapped {
    let class = at(row, "class_uid").and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()));
    match class {
        Some(c) if API_CLASSES.contains(&c) => Mapped::CloudTrail(cloudtrail(row).to_string()),
        Some(NETWORK_ACTIVITY) => Mapped::Flow(flow(row)),
        other => Mapped::Other(format!(
            "OCSF class {} ({})",
            other.map(|c| c.to_string()).unwrap_or_else(|| "without class_uid".into()),
            at(row, "class_name").and_then(Value::as_str).unwrap_or("unnamed")
        )),
    }
}

/// A CloudTrail record from an OCSF API activity record.
fn cloudtrail(r: &Value) -> Value {
    let unmapped = |k: &str| at(r, "unmapped").and_then(|u| u.get(k)).filter(|v| !v.is_null());
    let mut rec = Map::new();
    put(&mut rec, "eventVersion", text(r, "metadata.product.version"));
    put(&mut rec, "eventID", text(r, "metadata.uid"));
    put(&mut rec, "eventTime", at(r, "time").or_else(|| at(r, "time_dt")).and_then(iso_time).map(Value::from));
    put(&mut rec, "eventSource", text(r, "api.service.name"));
    put(&mut rec, "eventName", text(r, "api.operation"));
    put(&mut rec, "awsRegion", text(r, "cloud.region"));
    put(&mut rec, "sourceIPAddress", text(r, "src_endpoint.ip").or_else(|| text(r, "src_endpoint.domain")));
    put(&mut rec, "userAgent", text(r, "http_request.user_agent"));
    put(&mut rec, "errorCode", text(r, "api.response.error"));
    put(&mut rec, "errorMessage", text(r, "api.response.message"));
    put(&mut rec, "requestID", text(r, "api.request.uid"));
    put(&mut rec, "apiVersion", text(r, "api.version"));
    put(&mut rec, "eventType", text(r, "metadata.event_code").or_else(|| unmapped("eventType").cloned()));
    put(&mut rec, "eventCategory", text(r, "metadata.product.feature.name"));
    put(&mut rec, "recipientAccountId", text(r, "cloud.account.uid").or_else(|| text(r, "cloud.account_uid")));
    put(&mut rec, "vpcEndpointId", text(r, "src_endpoint.uid"));
    put(&mut rec, "readOnly", unmapped("readOnly").cloned());
    put(&mut rec, "managementEvent", unmapped("managementEvent").cloned());
    put(&mut rec, "sharedEventID", unmapped("sharedEventID").cloned());
    put(&mut rec, "requestParameters", json_part(at(r, "api.request.data")));
    put(&mut rec, "responseElements", json_part(at(r, "api.response.data")));
    put(&mut rec, "additionalEventData", json_part(unmapped("additionalEventData")));
    put(&mut rec, "serviceEventDetails", json_part(unmapped("serviceEventDetails")));
    let mut who = Map::new();
    put(&mut who, "type", text(r, "actor.user.type"));
    put(&mut who, "principalId", text(r, "actor.user.uid_alt"));
    put(&mut who, "arn", text(r, "actor.user.uid"));
    put(&mut who, "accountId", text(r, "actor.user.account.uid").or_else(|| text(r, "actor.user.account_uid")));
    put(&mut who, "accessKeyId", text(r, "actor.user.credential_uid"));
    put(&mut who, "userName", text(r, "actor.user.name"));
    put(&mut who, "invokedBy", text(r, "actor.invoked_by"));
    let mut attributes = Map::new();
    put(&mut attributes, "mfaAuthenticated", text(r, "actor.session.is_mfa").or_else(|| text(r, "actor.session.mfa")));
    put(
        &mut attributes,
        "creationDate",
        at(r, "actor.session.created_time_dt")
            .or_else(|| at(r, "actor.session.created_time"))
            .and_then(iso_time)
            .map(Value::from),
    );
    let mut session = Map::new();
    if !attributes.is_empty() {
        session.insert("attributes".into(), Value::Object(attributes));
    }
    if let Some(issuer) = text(r, "actor.session.issuer") {
        session.insert("sessionIssuer".into(), json!({ "arn": issuer }));
    }
    if !session.is_empty() {
        who.insert("sessionContext".into(), Value::Object(session));
    }
    rec.insert("userIdentity".into(), Value::Object(who));
    if let Some(Value::Array(resources)) = at(r, "resources") {
        let list: Vec<Value> = resources
            .iter()
            .map(|x| {
                let mut m = Map::new();
                put(&mut m, "ARN", text(x, "uid"));
                put(&mut m, "accountId", text(x, "owner.account.uid"));
                put(&mut m, "type", text(x, "type"));
                Value::Object(m)
            })
            .collect();
        rec.insert("resources".into(), Value::Array(list));
    }
    Value::Object(rec)
}

/// Flow log fields from an OCSF network activity record. The interface, VPC, subnet and instance
/// are on the destination endpoint for ingress and on the source for egress; where a packet
/// address differs from the interface's, OCSF keeps the interface's in `intermediate_ips`.
fn flow(r: &Value) -> Map<String, Value> {
    let mut f = Map::new();
    let ingress = text(r, "connection_info.direction").and_then(|d| d.as_str().map(str::to_ascii_lowercase));
    // OCSF says Inbound/Outbound; a record mapped from flow logs may keep AWS's ingress/egress.
    let ingress = matches!(ingress.as_deref(), Some("ingress" | "inbound"));
    let local = if ingress { "dst_endpoint" } else { "src_endpoint" };
    let local_or_other = |k: &str| {
        text(r, &format!("{local}.{k}"))
            .or_else(|| text(r, &format!("{}.{k}", if ingress { "src_endpoint" } else { "dst_endpoint" })))
    };
    put(&mut f, "version", text(r, "metadata.product.version"));
    put(&mut f, "account-id", text(r, "cloud.account.uid").or_else(|| text(r, "cloud.account_uid")));
    put(&mut f, "interface-id", local_or_other("interface_uid"));
    put(&mut f, "vpc-id", local_or_other("vpc_uid"));
    put(&mut f, "subnet-id", local_or_other("subnet_uid"));
    put(&mut f, "instance-id", local_or_other("instance_uid"));
    // The addresses in the packets are the endpoints' ips; the interface's own, when it differs,
    // is the first intermediate ip.
    let first_hop = |side: &str| at(r, &format!("{side}.intermediate_ips")).and_then(|a| a.get(0)).cloned();
    for (side, addr, pkt) in [("src_endpoint", "srcaddr", "pkt-srcaddr"), ("dst_endpoint", "dstaddr", "pkt-dstaddr")] {
        let ip = text(r, &format!("{side}.ip"));
        match first_hop(side) {
            Some(hop) => {
                put(&mut f, addr, Some(hop));
                put(&mut f, pkt, ip);
            }
            None => put(&mut f, addr, ip),
        }
    }
    put(&mut f, "srcport", at(r, "src_endpoint.port").map(whole));
    put(&mut f, "dstport", at(r, "dst_endpoint.port").map(whole));
    put(&mut f, "protocol", at(r, "connection_info.protocol_num").map(whole));
    put(&mut f, "packets", at(r, "traffic.packets").map(whole));
    put(&mut f, "bytes", at(r, "traffic.bytes").map(whole));
    put(
        &mut f,
        "start",
        at(r, "start_time").or_else(|| at(r, "start_time_dt")).or_else(|| at(r, "time")).and_then(unix_seconds),
    );
    put(&mut f, "end", at(r, "end_time").or_else(|| at(r, "end_time_dt")).and_then(unix_seconds));
    let action = text(r, "action").or_else(|| text(r, "disposition")).and_then(|a| {
        match a.as_str()?.to_ascii_lowercase().as_str() {
            "allowed" | "accept" | "accepted" => Some(Value::from("ACCEPT")),
            "denied" | "blocked" | "reject" | "rejected" => Some(Value::from("REJECT")),
            _ => None,
        }
    });
    put(&mut f, "action", action);
    put(&mut f, "log-status", text(r, "status_code"));
    put(&mut f, "tcp-flags", at(r, "connection_info.tcp_flags").filter(|v| v.is_number()).map(whole));
    put(&mut f, "region", text(r, "cloud.region"));
    put(&mut f, "az-id", text(r, "cloud.zone"));
    put(&mut f, "pkt-src-aws-service", text(r, "src_endpoint.svc_name"));
    put(&mut f, "pkt-dst-aws-service", text(r, "dst_endpoint.svc_name"));
    let direction =
        text(r, "connection_info.direction").and_then(|d| match d.as_str()?.to_ascii_lowercase().as_str() {
            "inbound" | "ingress" => Some(Value::from("ingress")),
            "outbound" | "egress" => Some(Value::from("egress")),
            _ => None,
        });
    put(&mut f, "flow-direction", direction);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ports_written_as_doubles_are_read_as_integers() {
        // Security Lake writers that type every number as a double: 208.0 is 208.
        let row = json!({
            "class_uid": 4001, "metadata": {"product": {"version": "5"}},
            "src_endpoint": {"ip": "203.0.113.9", "port": 40123.0}, "dst_endpoint": {"ip": "10.0.1.5", "port": 443.0, "interface_uid": "eni-1"},
            "connection_info": {"protocol_num": 6.0, "direction": "Inbound", "tcp_flags": 2.0},
            "traffic": {"packets": 3.0, "bytes": 208.0}, "start_time": 1700000000000i64, "end_time": 1700000060000i64, "action": "Allowed"
        });
        let Mapped::Flow(f) = map(&row) else { panic!("not a flow") };
        for (k, v) in
            [("srcport", 40123), ("dstport", 443), ("protocol", 6), ("packets", 3), ("bytes", 208), ("tcp-flags", 2)]
        {
            assert_eq!(f[k], json!(v), "{k}");
        }
        // A fraction stays as written: the flow decoder rejects that record, not the file.
        let mut odd = row.clone();
        odd["traffic"]["bytes"] = json!(208.5);
        let Mapped::Flow(f) = map(&odd) else { panic!("not a flow") };
        assert_eq!(f["bytes"], json!(208.5));
    }
}
