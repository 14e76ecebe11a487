//! The JSON shapes records come in: trail files, event history, EventBridge, CloudWatch Logs
//! envelopes and exports, flow records as objects, `describe-*` and AWS Config inventory.

use super::*;

pub(super) fn decode_top(ctx: &mut Ctx<'_>, s: &str, line: u64, top_no: u64) {
    if s.starts_with('[') {
        match serde_json::from_str::<Vec<&RawValue>>(s) {
            Ok(items) => {
                for (i, item) in items.iter().enumerate() {
                    decode_record(ctx, item.get(), None, i as u64 + 1, Delivery::Export);
                }
            }
            Err(e) => ctx.error(Some(line), None, format!("invalid JSON array: {e}"), None),
        }
        return;
    }
    if !s.starts_with('{') {
        ctx.error(Some(line), Some(top_no), "a JSON value that is not an object or array", Some(s));
        return;
    }
    let rec: Rec<'_> = match serde_json::from_str(s) {
        Ok(r) => r,
        Err(e) => {
            ctx.res.records += 1;
            ctx.error(Some(line), Some(top_no), format!("unreadable JSON object: {e}"), Some(s));
            return;
        }
    };
    if let Some(records) = &rec.records {
        for (i, r) in records.iter().enumerate() {
            decode_record(ctx, r.get(), None, i as u64 + 1, Delivery::Trail);
        }
    } else if rec.digest_start_time.is_some() {
        ctx.res.digest = true;
    } else if let Some(events) = &rec.log_events {
        decode_cloudwatch(ctx, &rec, events);
    } else if rec.is_event() {
        ctx.push_record(&rec, s, Some(line), top_no, Delivery::Export);
    } else if let Some(event) = rec.cloudtrail_event {
        // One event of event history, on a line of its own (JSON Lines of lookup-events output).
        decode_history_event(ctx, event, Some(line), top_no);
    } else if let Some(detail) = rec.detail {
        decode_record(ctx, detail.get(), Some(line), top_no, Delivery::EventBridge);
    } else if let Some(msg) = rec.message.and_then(raw_text) {
        // A forwarder's wrapper around one log event: a flow log line or a CloudTrail record.
        decode_log_message(ctx, &msg, line, top_no);
    } else if inventory::is_inventory(s) {
        decode_inventory(ctx, s, line);
    } else if is_ocsf(s) {
        super::formats::decode_ocsf(ctx, line, s);
    } else if let Some(map) = flow_object(s) {
        decode_flow_fields(ctx, &map, line, s);
    } else {
        let reason = format!("{}: not a CloudTrail record, a log envelope, a flow record or inventory", what_object(s));
        ctx.error(Some(line), Some(top_no), reason, Some(s));
    }
}

fn decode_inventory(ctx: &mut Ctx<'_>, s: &str, line: u64) {
    let value: serde_json::Value = match serde_json::from_str(s) {
        Ok(v) => v,
        Err(e) => {
            ctx.error(Some(line), None, format!("unreadable inventory JSON: {e}"), None);
            return;
        }
    };
    let region = path_info(&ctx.source).region;
    for items in inventory::CONFIG_KEYS.iter().filter_map(|k| value.get(*k)) {
        match inventory::config_items(items) {
            Ok(config) => {
                ctx.res.records += (config.items.len() + config.skipped + config.rejected.len()) as u64;
                for (n, why) in config.rejected {
                    ctx.error(Some(line), Some(n as u64), why, None);
                }
                note_inventory(ctx, config.items);
            }
            Err(reason) => ctx.error(Some(line), None, reason, None),
        }
    }
    for (key, _, _) in INVENTORY_KEYS {
        if let Some(arr) = value.get(*key) {
            match inventory::items(key, arr, region.as_deref()) {
                Ok(items) => {
                    ctx.res.records += items.len() as u64;
                    note_inventory(ctx, items);
                }
                Err(reason) => ctx.error(Some(line), None, reason, None),
            }
        }
    }
}

/// One element of an inventory's resource array, read on its own: of the `describe-*` array
/// under `key`, or with `None` an AWS Config configuration item.
pub(super) fn decode_inventory_element(ctx: &mut Ctx<'_>, key: Option<&str>, text: &str, line: u64, index: u64) {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            ctx.res.records += 1;
            let what = if key.is_some() { "resource" } else { "configuration item" };
            ctx.error(Some(line), Some(index), format!("unreadable {what}: {e}"), Some(text));
            return;
        }
    };
    let items = match key {
        Some(key) => inventory::element_items(key, &value, path_info(&ctx.source).region.as_deref()),
        None => {
            // Every configuration item counts, stored or not (as a whole file's do).
            ctx.res.records += 1;
            inventory::config_item(&value).map(|item| item.into_iter().collect())
        }
    };
    match items {
        Ok(items) => {
            if key.is_some() {
                // A reservation counts as the instances it holds.
                ctx.res.records += items.len() as u64;
            }
            note_inventory(ctx, items)
        }
        Err(reason) => {
            if key.is_some() {
                ctx.res.records += 1;
            }
            ctx.error(Some(line), Some(index), reason, None)
        }
    }
}

/// Bytes of inventory text a decoder holds before sending it on.
const INVENTORY_CHUNK: usize = 2 << 20;

/// Keep a file's inventory items, noting their accounts and regions; sent on in pieces of about
/// [`INVENTORY_CHUNK`] bytes.
fn note_inventory(ctx: &mut Ctx<'_>, items: Vec<InvItem>) {
    for it in &items {
        if let Some(a) = &it.account_id {
            ctx.res.accounts.insert(a.clone());
        }
        if let Some(r) = &it.region {
            ctx.res.regions.insert(r.clone());
        }
        ctx.res.inventory_bytes += it.item.len();
    }
    ctx.res.inventory_items += items.len() as u64;
    ctx.res.inventory.extend(items);
    if ctx.res.inventory_bytes >= INVENTORY_CHUNK {
        ctx.flush_inventory();
    }
}

/// Decode one record, delivered as `delivery` says unless it turns out to be wrapped (event
/// history's `CloudTrailEvent`, EventBridge's `detail`).
pub(super) fn decode_record(ctx: &mut Ctx<'_>, s: &str, line: Option<u64>, record_no: u64, delivery: Delivery) {
    match serde_json::from_str::<Rec<'_>>(s) {
        Ok(rec) if rec.is_event() => ctx.push_record(&rec, s, line, record_no, delivery),
        Ok(Rec { cloudtrail_event: Some(event), .. }) => decode_history_event(ctx, event, line, record_no),
        Ok(Rec { message: Some(m), detail: None, .. }) if raw_text(m).is_some() => {
            let msg = raw_text(m).unwrap_or_default();
            decode_log_message(ctx, &msg, line.unwrap_or(record_no), record_no);
        }
        // EventBridge wraps a CloudTrail record in `detail`.
        Ok(Rec { detail: Some(d), .. }) => decode_record(ctx, d.get(), line, record_no, Delivery::EventBridge),
        Ok(_) if is_ocsf(s) => super::formats::decode_ocsf(ctx, line.unwrap_or(record_no), s),
        Ok(_) => match flow_object(s) {
            Some(map) => decode_flow_fields(ctx, &map, line.unwrap_or(record_no), s),
            None => {
                ctx.res.records += 1;
                let reason = format!(
                    "{}: not a CloudTrail record (no eventVersion, eventID, eventTime or eventSource) nor a flow \
                        record",
                    what_object(s)
                );
                ctx.error(line, Some(record_no), reason, Some(s));
            }
        },
        Err(e) => {
            ctx.res.records += 1;
            ctx.error(line, Some(record_no), format!("unreadable record: {e}"), Some(s));
        }
    }
}

/// An event of CloudTrail event history (`aws cloudtrail lookup-events`): its `CloudTrailEvent`
/// is the record, as JSON text.
fn decode_history_event(ctx: &mut Ctx<'_>, event: &RawValue, line: Option<u64>, record_no: u64) {
    match raw_text(event) {
        Some(text) if text.trim_start().starts_with('{') => {
            decode_record(ctx, &text, line, record_no, Delivery::EventHistory)
        }
        _ => {
            ctx.res.records += 1;
            ctx.error(
                line,
                Some(record_no),
                "event history entry whose CloudTrailEvent is not a JSON object",
                Some(event.get()),
            );
        }
    }
}

/// A CloudWatch Logs subscription envelope: each `message` is a CloudTrail record (JSON text) or a
/// flow log line.
fn decode_cloudwatch(ctx: &mut Ctx<'_>, rec: &Rec<'_>, events: &[&RawValue]) {
    if rec.message_type.and_then(raw_text).is_some_and(|t| t == "CONTROL_MESSAGE") {
        return;
    }
    #[derive(serde::Deserialize)]
    struct LogEvent<'a> {
        #[serde(borrow)]
        message: Option<&'a RawValue>,
    }
    for (i, ev) in events.iter().enumerate() {
        let n = i as u64 + 1;
        let msg = serde_json::from_str::<LogEvent<'_>>(ev.get()).ok().and_then(|e| e.message).and_then(raw_text);
        let Some(msg) = msg else {
            ctx.error(None, Some(n), "log event without a message", Some(ev.get()));
            continue;
        };
        decode_log_message(ctx, &msg, n, n);
    }
}

/// One CloudWatch Logs event's message: a CloudTrail record (JSON) or a flow log line. `line` is
/// where it is in the file (or its position among the events), `n` its position.
pub(super) fn decode_log_message(ctx: &mut Ctx<'_>, msg: &str, line: u64, n: u64) {
    let trimmed = msg.trim_start();
    if !trimmed.starts_with('{') {
        ctx.flow_line(line, trimmed);
        return;
    }
    match serde_json::from_str::<Rec<'_>>(trimmed) {
        Ok(r) if r.is_event() => ctx.push_record(&r, trimmed, Some(line), n, Delivery::CloudWatchLogs),
        Ok(_) => match flow_object(trimmed) {
            Some(map) => decode_flow_fields(ctx, &map, line, trimmed),
            None => {
                ctx.res.records += 1;
                let reason = "log event message is JSON but neither a CloudTrail record nor a flow record";
                ctx.error(Some(line), Some(n), reason, Some(trimmed));
            }
        },
        Err(e) => {
            ctx.res.records += 1;
            ctx.error(Some(line), Some(n), format!("log event message is not valid JSON: {e}"), Some(trimmed));
        }
    }
}

/// The known flow log fields among a JSON object's keys, AWS's names (`interface-id`) or the
/// lake's (`interface_id`).
fn flow_keys(map: &serde_json::Map<String, serde_json::Value>) -> usize {
    map.keys().filter(|k| crate::schema::flow_field(k).is_some()).count()
}

/// The fields of a JSON object that is a flow record (Firehose, CloudWatch Logs exports, SIEM
/// re-exports): at least four known flow fields, an address or interface among them; a CloudTrail
/// record has none. Parsed once, then read by [`decode_flow_fields`].
fn flow_object(s: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    // The keys first, read in place: an object that is no flow record is not built as a tree.
    let keys = serde_json::from_str::<std::collections::HashMap<std::borrow::Cow<'_, str>, &RawValue>>(s).ok()?;
    let addressed = ["srcaddr", "dstaddr", "interface-id", "interface_id"].iter().any(|k| keys.contains_key(*k));
    if !addressed {
        return None;
    }
    let map = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(s).ok()?;
    let addressed = ["srcaddr", "dstaddr", "interface-id", "interface_id"].iter().any(|k| map.contains_key(*k));
    (addressed && flow_keys(&map) >= 4).then_some(map)
}

/// Is this JSON object an OCSF event (as Security Lake's subscribers and SIEM exports write them
/// in JSON): a `class_uid` beside its `metadata`?
fn is_ocsf(s: &str) -> bool {
    serde_json::from_str::<std::collections::HashMap<&str, &serde_json::value::RawValue>>(s)
        .is_ok_and(|top| top.contains_key("class_uid") && top.contains_key("metadata"))
}

/// What a JSON object that is not evidence holds, for the reason it is rejected with: its first
/// keys, and what they suggest when they are a shape responders often mistake for evidence.
fn what_object(s: &str) -> String {
    // Read in place (its keys in order, values not built): the object may be large.
    let Ok(map) = serde_json::from_str::<std::collections::BTreeMap<String, &RawValue>>(s) else {
        return "a JSON value".into();
    };
    let has = |k: &str| map.contains_key(k);
    let hint = if has("SchemaVersion") && has("AwsAccountId") && has("ProductArn") {
        " (a Security Hub finding)"
    } else if has("schemaVersion") && has("type") && has("service") && has("severity") {
        " (a GuardDuty finding)"
    } else if has("class_uid") {
        " (an OCSF record)"
    } else {
        ""
    };
    let mut keys: Vec<&str> = map.keys().map(String::as_str).take(6).collect();
    if map.len() > 6 {
        keys.push("...");
    }
    if keys.is_empty() {
        format!("an empty JSON object{hint}")
    } else {
        format!("a JSON object with keys {}{hint}", keys.join(", "))
    }
}
