//! What a run must not add again: file contents, CloudTrail events and reported problems the lake
//! already holds, or the run itself already added.

use std::collections::HashSet;

use datafusion::arrow::array::{Array, AsArray};

use crate::error::Result;
use crate::lake::Lake;
use crate::lake::read::{for_each_batch, for_each_string};
use crate::schema::{CLOUDTRAIL, INGESTED_FILES};

/// The 128-bit key a CloudTrail event is deduplicated by: its `eventID` and its record's content,
/// where neither the whitespace between JSON tokens nor the order of an object's keys counts
/// (`scratch` is reused between calls).
///
/// The same event delivered twice (an organization trail and an account trail, a file copied
/// into two archives, pretty-printed once and on one line once, a trail file and event history's
/// `CloudTrailEvent` string with its keys in another order) has one key. Records that share an
/// `eventID` but differ (test fixtures reuse ids like `"1"`; some exports set it to `"redacted"`)
/// keep their own keys, so neither is lost.
pub fn event_key(id: &str, raw: &str, scratch: &mut Vec<u8>) -> u128 {
    scratch.clear();
    scratch.extend_from_slice(id.as_bytes());
    if !id.starts_with(crate::decode::cloudtrail::MADE_UP_ID) {
        // (A stand-in id is already a hash of the record's content.)
        scratch.push(0);
        match content_hash(raw.as_bytes()) {
            Some(h) => scratch.extend_from_slice(&h.to_le_bytes()),
            // Not one JSON value (the decoders store only parsed records): the text itself.
            None => scratch.extend_from_slice(raw.as_bytes()),
        }
    }
    xxhash_rust::xxh3::xxh3_128(scratch)
}

/// The key of every row of a `cloudtrail` batch.
pub fn event_keys(batch: &datafusion::arrow::record_batch::RecordBatch) -> Vec<u128> {
    let ids = batch.column_by_name("event_id").map(|c| c.as_string::<i32>());
    let raws = batch.column_by_name("raw").map(|c| c.as_string::<i32>());
    let mut scratch = Vec::new();
    (0..batch.num_rows())
        .map(|i| {
            let id = ids.filter(|a| a.is_valid(i)).map_or("", |a| a.value(i));
            let raw = raws.filter(|a| a.is_valid(i)).map_or("", |a| a.value(i));
            event_key(id, raw, &mut scratch)
        })
        .collect()
}

/// Nesting deeper than this is not hashed by structure (serde_json, which parsed every stored
/// record, refuses more than 128 levels).
const MAX_DEPTH: usize = 256;

/// A hash of one JSON value's content: arrays in order, an object's members in any order,
/// strings and numbers by their text. `None` when `b` is not one JSON value.
pub fn content_hash(b: &[u8]) -> Option<u128> {
    let mut i = 0;
    let h = value_hash(b, &mut i, 0)?;
    skip_ws(b, &mut i);
    (i == b.len()).then_some(h)
}

fn skip_ws(b: &[u8], i: &mut usize) {
    while *i < b.len() && matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r') {
        *i += 1;
    }
}

/// Two hashes combined in order.
fn mix(tag: u8, a: u128, b: u128) -> u128 {
    let mut buf = [0u8; 33];
    buf[0] = tag;
    buf[1..17].copy_from_slice(&a.to_le_bytes());
    buf[17..].copy_from_slice(&b.to_le_bytes());
    xxhash_rust::xxh3::xxh3_128(&buf)
}

/// The text of the string starting at `b[*i]` (a quote), escapes as written.
fn string_span<'a>(b: &'a [u8], i: &mut usize) -> Option<&'a [u8]> {
    let start = *i + 1;
    let mut j = start;
    loop {
        let k = memchr::memchr2(b'"', b'\\', b.get(j..)?)?;
        if b[j + k] == b'\\' {
            j += k + 2;
        } else {
            *i = j + k + 1;
            return b.get(start..j + k);
        }
    }
}

fn value_hash(b: &[u8], i: &mut usize, depth: usize) -> Option<u128> {
    if depth > MAX_DEPTH {
        return None;
    }
    skip_ws(b, i);
    match *b.get(*i)? {
        b'{' => {
            *i += 1;
            // The members' hashes summed: the same for any order.
            let (mut sum, mut n) = (0u128, 0u128);
            skip_ws(b, i);
            if b.get(*i) == Some(&b'}') {
                *i += 1;
                return Some(mix(b'{', 0, 0));
            }
            loop {
                skip_ws(b, i);
                if b.get(*i) != Some(&b'"') {
                    return None;
                }
                let key = xxhash_rust::xxh3::xxh3_128(string_span(b, i)?);
                skip_ws(b, i);
                if b.get(*i) != Some(&b':') {
                    return None;
                }
                *i += 1;
                let v = value_hash(b, i, depth + 1)?;
                sum = sum.wrapping_add(mix(b':', key, v));
                n += 1;
                skip_ws(b, i);
                match *b.get(*i)? {
                    b',' => *i += 1,
                    b'}' => {
                        *i += 1;
                        return Some(mix(b'{', sum, n));
                    }
                    _ => return None,
                }
            }
        }
        b'[' => {
            *i += 1;
            let mut h = mix(b'[', 0, 0);
            skip_ws(b, i);
            if b.get(*i) == Some(&b']') {
                *i += 1;
                return Some(h);
            }
            loop {
                h = mix(b',', h, value_hash(b, i, depth + 1)?);
                skip_ws(b, i);
                match *b.get(*i)? {
                    b',' => *i += 1,
                    b']' => {
                        *i += 1;
                        return Some(h);
                    }
                    _ => return None,
                }
            }
        }
        b'"' => Some(mix(b'"', xxhash_rust::xxh3::xxh3_128(string_span(b, i)?), 0)),
        _ => {
            // A number, true, false or null: its text.
            let start = *i;
            while *i < b.len() && !matches!(b[*i], b' ' | b'\t' | b'\n' | b'\r' | b',' | b'}' | b']' | b':') {
                *i += 1;
            }
            (*i > start).then(|| mix(b'#', xxhash_rust::xxh3::xxh3_128(&b[start..*i]), 0))
        }
    }
}

/// What the lake knows of one file content (`ingested_files.file_id`).
#[derive(Debug, Clone, Default)]
pub struct KnownFile {
    /// The name it was first loaded under.
    pub first: String,
    pub kind: String,
    /// Every name it is recorded under (the first and its copies).
    pub names: HashSet<String>,
}

/// The files the lake holds, by their id.
pub type KnownFiles = std::collections::HashMap<String, KnownFile>;

/// Every file content the lake holds, by `file_id`.
///
/// A file of which nothing could be loaded (status `rejected`) is not counted as held: a later
/// run reads it again, since what it lacked may since have come (a flow log's `LogFormat` given
/// with `--flow-format` or found in `describe-flow-logs` output, a newer trailflow). The problems
/// it had are not recorded twice ([`known_errors`]), nor the file itself when it is rejected
/// again under the same name: those (`file_id`, `source_file`) are returned beside.
pub fn known_files(lake: &Lake) -> Result<(KnownFiles, HashSet<(String, String)>)> {
    let mut out: std::collections::HashMap<String, KnownFile> = Default::default();
    let mut held: HashSet<String> = HashSet::new();
    let mut rejected: HashSet<(String, String)> = HashSet::new();
    for_each_batch(lake, INGESTED_FILES, &["file_id", "source_file", "kind", "status"], |b| {
        let col = |i: usize| b.column(i).as_string::<i32>();
        let (ids, names, kinds, status) = (col(0), col(1), col(2), col(3));
        for i in 0..b.num_rows() {
            let k = out.entry(ids.value(i).to_string()).or_default();
            if status.value(i) != "duplicate" {
                k.first = names.value(i).to_string();
                k.kind = kinds.value(i).to_string();
            }
            match status.value(i) {
                "duplicate" => {}
                "rejected" => {
                    rejected.insert((ids.value(i).to_string(), names.value(i).to_string()));
                }
                _ => {
                    held.insert(ids.value(i).to_string());
                }
            }
            k.names.insert(names.value(i).to_string());
        }
    })?;
    out.retain(|id, _| held.contains(id));
    Ok((out, rejected))
}

/// A problem as `ingest_errors` records it: (`source_file`, `line`, `record`, `reason`).
pub type ErrorKey = (String, Option<i64>, Option<i64>, String);

/// The key of every row of `ingest_errors`: a problem found again by a later run (an unreadable
/// archive met again, a rejected file read again) is not recorded twice.
pub fn known_errors(lake: &Lake) -> Result<HashSet<ErrorKey>> {
    use datafusion::arrow::datatypes::Int64Type;
    let mut out = HashSet::new();
    for_each_batch(lake, crate::schema::INGEST_ERRORS, &["source_file", "line", "record", "reason"], |b| {
        let (files, reasons) = (b.column(0).as_string::<i32>(), b.column(3).as_string::<i32>());
        let (lines, records) = (b.column(1).as_primitive::<Int64Type>(), b.column(2).as_primitive::<Int64Type>());
        let opt = |a: &datafusion::arrow::array::PrimitiveArray<Int64Type>, i: usize| a.is_valid(i).then(|| a.value(i));
        for i in 0..b.num_rows() {
            out.insert((files.value(i).to_string(), opt(lines, i), opt(records, i), reasons.value(i).to_string()));
        }
    })?;
    Ok(out)
}

/// The CloudTrail events an ingest has seen: those the lake holds and those the run adds.
///
/// Only the lake's event ids are read up front (a small column). The content keys of the lake's
/// events, which need the `raw` column, are read only when a new event shares its id with a
/// stored one, that is when an ingest overlaps what the lake already holds.
pub struct SeenEvents {
    lake: Lake,
    lake_ids: HashSet<u128>,
    lake_keys: Option<HashSet<u128>>,
    keys: HashSet<u128>,
}

fn id_key(id: &str) -> u128 {
    xxhash_rust::xxh3::xxh3_128(id.as_bytes())
}

impl SeenEvents {
    pub fn load(lake: &Lake) -> Result<SeenEvents> {
        let mut lake_ids = HashSet::new();
        for_each_string(lake, CLOUDTRAIL, "event_id", |s| {
            lake_ids.insert(id_key(s));
        })?;
        Ok(SeenEvents { lake: lake.clone(), lake_ids, lake_keys: None, keys: HashSet::new() })
    }

    /// Is this event new (neither in the lake nor added before)? It counts as seen from now on.
    /// `key` is its [`event_key`].
    pub fn insert(&mut self, id: &str, key: u128) -> Result<bool> {
        if !self.keys.insert(key) {
            return Ok(false);
        }
        if !self.lake_ids.contains(&id_key(id)) {
            return Ok(true);
        }
        if self.lake_keys.is_none() {
            let mut keys = HashSet::new();
            let mut scratch = Vec::new();
            for_each_batch(&self.lake, CLOUDTRAIL, &["event_id", "raw"], |b| {
                let ids = b.column(0).as_string::<i32>();
                let raws = b.column(1).as_string::<i32>();
                for i in 0..b.num_rows() {
                    keys.insert(event_key(
                        ids.value(i),
                        if raws.is_valid(i) { raws.value(i) } else { "" },
                        &mut scratch,
                    ));
                }
            })?;
            self.lake_keys = Some(keys);
        }
        Ok(!self.lake_keys.as_ref().is_some_and(|k| k.contains(&key)))
    }
}

#[cfg(test)]
mod tests {
    use super::event_key;

    #[test]
    fn event_keys_ignore_layout_not_content() {
        let mut s = Vec::new();
        let one_line =
            r#"{"eventID":"1","eventName":"CreateNetworkAclEntry","requestParameters":{"cidrBlock":"0.0.0.0/0"}}"#;
        let pretty = "{\n  \"eventID\": \"1\",\n  \"eventName\": \"CreateNetworkAclEntry\",\n  \"requestParameters\": \
            {\"cidrBlock\": \"0.0.0.0/0\"}\n}";
        let other =
            r#"{"eventID":"1","eventName":"CreateNetworkAclEntry","requestParameters":{"cidrBlock":"10.0.0.0/8"}}"#;
        let in_string =
            r#"{"eventID":"1","eventName":"Create NetworkAclEntry","requestParameters":{"cidrBlock":"0.0.0.0/0"}}"#;
        let escaped = r#"{"eventID":"1","userAgent":"a\" b"}"#;
        let escaped_squeezed = r#"{"eventID":"1","userAgent":"a\"b"}"#;
        assert_eq!(event_key("1", one_line, &mut s), event_key("1", pretty, &mut s));
        assert_ne!(event_key("1", one_line, &mut s), event_key("1", other, &mut s));
        assert_ne!(event_key("1", one_line, &mut s), event_key("1", in_string, &mut s));
        assert_ne!(event_key("1", escaped, &mut s), event_key("1", escaped_squeezed, &mut s));
        assert_ne!(event_key("1", one_line, &mut s), event_key("2", one_line, &mut s));
        // Event history's CloudTrailEvent string lists the keys in another order.
        let reordered =
            r#"{"requestParameters":{"cidrBlock":"0.0.0.0/0"},"eventName":"CreateNetworkAclEntry","eventID":"1"}"#;
        assert_eq!(event_key("1", one_line, &mut s), event_key("1", reordered, &mut s));
        // Arrays keep their order; a key moved to another level is another record.
        let a = r#"{"eventID":"1","resources":[{"ARN":"a"},{"ARN":"b"}]}"#;
        let b = r#"{"eventID":"1","resources":[{"ARN":"b"},{"ARN":"a"}]}"#;
        let c = r#"{"eventID":"1","x":{"y":"1"},"y":"2"}"#;
        let d = r#"{"eventID":"1","x":{"y":"2"},"y":"1"}"#;
        assert_ne!(event_key("1", a, &mut s), event_key("1", b, &mut s));
        assert_ne!(event_key("1", c, &mut s), event_key("1", d, &mut s));
        // A string holding a brace or a key-like text is content, not structure.
        let e = r#"{"eventID":"1","m":"{\"a\":1}"}"#;
        let f = r#"{"eventID":"1","m":{"a":1}}"#;
        assert_ne!(event_key("1", e, &mut s), event_key("1", f, &mut s));
    }

    #[test]
    fn content_hash_reads_only_json() {
        use super::content_hash;
        assert!(content_hash(b"{\"a\":1} trailing").is_none());
        assert!(content_hash(b"{\"a\":").is_none());
        assert!(content_hash(b"[1,2").is_none());
        assert!(content_hash(b"\"open").is_none());
        let deep = "[".repeat(10_000);
        assert!(content_hash(deep.as_bytes()).is_none());
        assert_eq!(content_hash(b" [1, {\"b\":2,\"a\":[]}] "), content_hash(b"[1,{\"a\":[],\"b\":2}]"));
    }
}
