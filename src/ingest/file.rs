//! Decoding one unit (a file or an archive member): identity, decompression, sniffing, and the
//! decoder for what it holds. Runs on a worker thread; everything it finds goes out as messages.

use std::collections::BTreeSet;

use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::record_batch::RecordBatch;
use flate2::bufread::MultiGzDecoder;
use serde_json::value::RawValue;

use super::paths::path_info;
use super::source::{Opened, Unit, UnitData};
use super::summary::{ErrorRow, Kind, Severity};
use crate::decode::cloudtrail::{self, CtBuilder, Delivery, NaclEvent, Rec, raw_text};
use crate::decode::flowlog::{self, FlowDecoder};
use crate::decode::inventory::{self, INVENTORY_KEYS, InvItem};
use crate::decode::json_stream::{self, Bounds, Container, Item};
use crate::limits::Limits;
use crate::output::excerpt;
use crate::schema::{CLOUDTRAIL, FLOW_LOGS};

mod formats;
mod records;

use formats::{Hashing, PARQUET_MAGIC, decode_parquet, read_digest, starts_with};
use records::{decode_inventory_element, decode_log_message, decode_record, decode_top};

/// Files up to this size are read into memory once (hash and decode from the same bytes); larger
/// ones are hashed in one streaming pass and decoded in a second.
const BUFFER_LIMIT: u64 = 64 << 20;
/// Rows of `ingest_errors` kept per file (all are counted).
const ERROR_ROWS_PER_FILE: usize = 1000;
/// Give up on a text file whose first lines are all unreadable.
const GIVE_UP_AFTER: u64 = 5;

/// A message from a worker to the writer.
pub enum Msg {
    Batch(&'static str, RecordBatch),
    /// CloudTrail rows with each row's deduplication key ([`super::dedup::event_key`]), computed
    /// by the decoder threads rather than by the one writing.
    Events(RecordBatch, Vec<u128>),
    /// Inventory items of the file named (sent in pieces as a large snapshot is read, so that
    /// none is held whole by a decoder).
    Inventory(Arc<str>, Vec<InvItem>),
    Done(Box<FileResult>),
    /// A file whose identical content is already in the lake or earlier in this run: it is named
    /// (in `ingested_files`, as a copy) but not decoded again.
    Copy(CopyOf),
    /// A problem not tied to one unit (an unreadable archive).
    Error(ErrorRow),
}

/// Who holds a file's content: the lake (an earlier run) or this run, under a name.
pub type Claims = Mutex<std::collections::HashMap<String, Option<String>>>;

/// A file not decoded because its identical content is already held.
#[derive(Debug, Clone)]
pub struct CopyOf {
    pub file_id: String,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    pub source_file: String,
    pub size: u64,
    /// The name it has in this run, when this run holds it (else the lake does).
    pub first_in_run: Option<String>,
}

/// Everything known about one unit once decoded (an `ingested_files` row and more).
#[derive(Debug, Default)]
pub struct FileResult {
    pub file_id: String,
    /// SHA-256 of the file's bytes (hex).
    pub sha256: String,
    /// SHA-256 of a trail log file's uncompressed content (hex): what digests record.
    pub content_sha256: Option<String>,
    /// The entries of a CloudTrail digest file, and the SHA-256 of its uncompressed content.
    pub digests: Vec<crate::decode::digest::DigestEntry>,
    pub digest_sha256: Option<String>,
    pub source_file: String,
    pub kind: Option<Kind>,
    pub format: Option<String>,
    pub size: u64,
    pub records: u64,
    pub rows: u64,
    pub errors: Vec<ErrorRow>,
    pub error_count: u64,
    pub warning_count: u64,
    pub first_time: Option<i64>,
    pub last_time: Option<i64>,
    pub accounts: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    /// Inventory items not yet sent on ([`Msg::Inventory`]).
    pub inventory: Vec<InvItem>,
    /// The bytes of `inventory`'s item text.
    pub inventory_bytes: usize,
    /// Inventory items the file held, sent or not.
    pub inventory_items: u64,
    pub nacl_events: Vec<NaclEvent>,
    pub digest: bool,
    /// Flow records were rejected because no header line, no `--flow-format` and no
    /// `describe-flow-logs` output known at the start of the run said their field order.
    pub needs_flow_format: bool,
}

impl FileResult {
    pub fn status(&self) -> &'static str {
        if self.digest {
            "not_events"
        } else if self.rows == 0 && self.inventory_items == 0 && self.error_count > 0 {
            "rejected"
        } else if self.error_count > 0 {
            "partial"
        } else {
            "loaded"
        }
    }
}

struct Ctx<'a> {
    res: FileResult,
    outer: Arc<str>,
    member: Option<String>,
    send: &'a mut dyn FnMut(Msg),
    ct: Option<CtBuilder>,
    flow: Option<FlowDecoder>,
    source: Arc<str>,
    limits: Limits,
    settings: &'a Settings,
    /// Invalid UTF-8 was already reported for this file.
    warned_utf8: bool,
    /// The header last fed to the flow decoder for a flow record given as a JSON object.
    json_flow_header: String,
}

impl Ctx<'_> {
    fn problem(
        &mut self,
        severity: Severity,
        line: Option<u64>,
        record: Option<u64>,
        reason: String,
        text: Option<&str>,
    ) {
        match severity {
            Severity::Error => self.res.error_count += 1,
            Severity::Warning => self.res.warning_count += 1,
        }
        if self.res.errors.len() < ERROR_ROWS_PER_FILE {
            self.res.errors.push(ErrorRow {
                severity,
                file: self.outer.to_string(),
                member: self.member.clone(),
                line,
                record,
                reason,
                excerpt: text.map(|t| excerpt(t, 300)),
            });
        }
    }

    fn error(&mut self, line: Option<u64>, record: Option<u64>, reason: impl Into<String>, text: Option<&str>) {
        self.problem(Severity::Error, line, record, reason.into(), text);
    }

    fn ct(&mut self) -> &mut CtBuilder {
        let source = self.source.clone();
        self.ct.get_or_insert_with(|| CtBuilder::new(source))
    }

    /// Whether this file loaded rows so far (of any kind).
    fn loaded_rows(&self) -> bool {
        self.res.rows > 0
            || self.flow.as_ref().is_some_and(|f| f.rows() > 0)
            || self.ct.as_ref().is_some_and(|c| c.file_rows > 0)
    }

    fn flow(&mut self) -> &mut FlowDecoder {
        let source = self.source.clone();
        let preset = self.settings.flow_format.as_ref();
        self.flow.get_or_insert_with(|| {
            let info = path_info(&source);
            let mut decoder = FlowDecoder::new(source);
            decoder.path_account = info.account_id.map(Into::into);
            decoder.path_region = info.region.map(Into::into);
            // Records without a header are read in the format the user gave, if any.
            if let Some(f) = preset {
                decoder.set_format(f.clone());
            }
            decoder
        })
    }

    fn push_record(&mut self, rec: &Rec<'_>, raw: &str, line: Option<u64>, record_no: u64, delivery: Delivery) {
        self.res.records += 1;
        if raw.len() > self.limits.record_bytes {
            let reason =
                format!("record larger than {} bytes: not loaded (TRAILFLOW_MAX_RECORD)", self.limits.record_bytes);
            self.error(line, Some(record_no), reason, Some(raw));
            return;
        }
        if let Err(reason) = self.ct().push(rec, raw, record_no, delivery) {
            self.error(line, Some(record_no), reason, Some(raw));
            return;
        }
        if let Some(a) = rec.recipientAccountId.and_then(raw_text)
            && !self.res.accounts.contains(a.as_ref())
        {
            self.res.accounts.insert(a.into_owned());
        }
        if let Some(r) = rec.awsRegion.and_then(raw_text)
            && !self.res.regions.contains(r.as_ref())
        {
            self.res.regions.insert(r.into_owned());
        }
        if self
            .ct
            .as_ref()
            .is_some_and(|c| c.rows() >= cloudtrail::BATCH_ROWS || c.text_bytes() >= cloudtrail::BATCH_BYTES)
        {
            self.flush_ct();
        }
    }

    /// Send the CloudTrail rows gathered (of this file and of earlier ones of this decoder); the
    /// file's own rows are counted at its end ([`CtBuilder::file_rows`]).
    fn flush_ct(&mut self) {
        send_events(self.ct.as_mut(), self.send);
    }

    fn flow_line(&mut self, line_no: u64, line: &str) {
        match self.flow().feed_line(line_no, line) {
            Ok(Some(unknown)) if !unknown.is_empty() => {
                let reason = format!("unknown flow log field(s) {}: kept in column extra_fields", unknown.join(", "));
                self.problem(Severity::Warning, Some(line_no), None, reason, Some(line));
            }
            Ok(_) => {}
            Err(e) => {
                if self.flow.as_ref().is_some_and(|f| f.format.is_none()) {
                    self.res.needs_flow_format = true;
                }
                self.error(Some(line_no), None, e.0, Some(line))
            }
        }
        if self
            .flow
            .as_ref()
            .is_some_and(|f| f.rows() >= flowlog::BATCH_ROWS || f.text_bytes() >= cloudtrail::BATCH_BYTES)
        {
            self.flush_flow();
        }
    }

    fn flush_flow(&mut self) {
        if let Some(b) = self.flow.as_mut().and_then(|f| f.take_batch()) {
            self.res.rows += b.num_rows() as u64;
            // Accounts and regions seen, cheaply: a set lookup only when the value differs from
            // the row before.
            for name in ["account_id", "region"] {
                let Some(col) = b.column_by_name(name) else { continue };
                let set = if name == "account_id" { &mut self.res.accounts } else { &mut self.res.regions };
                // A column of few values comes as a dictionary of exactly the values it holds.
                let col = match col.as_dictionary_opt::<datafusion::arrow::datatypes::Int32Type>() {
                    Some(d) => d.values(),
                    None => col,
                };
                let Some(col) = col.as_string_opt::<i32>() else { continue };
                if col.null_count() == col.len() {
                    continue;
                }
                let mut last: Option<&str> = None;
                for v in col.iter().flatten() {
                    if last != Some(v) {
                        if !set.contains(v) {
                            set.insert(v.to_string());
                        }
                        last = Some(v);
                    }
                }
            }
            (self.send)(Msg::Batch(FLOW_LOGS, b));
        }
    }

    /// Send the inventory items held on, to be kept by the run (on disk) until its end.
    fn flush_inventory(&mut self) {
        if !self.res.inventory.is_empty() {
            let items = std::mem::take(&mut self.res.inventory);
            self.res.inventory_bytes = 0;
            (self.send)(Msg::Inventory(self.source.clone(), items));
        }
    }

    /// The file's result, and the CloudTrail rows gathered and not yet sent, for the decoder to
    /// carry on to its next file.
    fn finish(mut self) -> (FileResult, Option<CtBuilder>) {
        self.flush_flow();
        self.flush_inventory();
        let mut res = std::mem::take(&mut self.res);
        let mut kinds = Vec::new();
        if let Some(ct) = self.ct.as_mut().filter(|c| c.file_touched) {
            res.rows += ct.file_rows;
            res.first_time = ct.min_time;
            res.last_time = ct.max_time;
            res.nacl_events = std::mem::take(&mut ct.nacl_events);
            kinds.push((ct_rows(&res), Kind::Cloudtrail));
        }
        if let Some(f) = self.flow.take() {
            res.first_time = min_opt(res.first_time, f.min_time);
            res.last_time = max_opt(res.last_time, f.max_time);
            if !f.formats_seen.is_empty() {
                res.format = Some(f.formats_seen.join(" | "));
            }
            res.records += f.records;
            kinds.push((f.records, Kind::FlowLogs));
        }
        if res.inventory_items > 0 {
            kinds.push((res.inventory_items, Kind::Inventory));
        }
        if res.digest {
            res.kind = Some(Kind::CloudtrailDigest);
        } else if res.kind.is_none() {
            res.kind = kinds.into_iter().max_by_key(|(n, _)| *n).map(|(_, k)| k);
        }
        (res, self.ct.take())
    }
}

/// Send the CloudTrail rows a builder holds, with their deduplication keys.
fn send_events(ct: Option<&mut CtBuilder>, send: &mut dyn FnMut(Msg)) {
    if let Some(b) = ct.and_then(|c| c.take_batch()) {
        let keys = super::dedup::event_keys(&b);
        send(Msg::Events(b, keys));
    }
}

/// What a decoder thread carries from one unit to the next: the CloudTrail rows of small files,
/// gathered into batches of [`cloudtrail::BATCH_ROWS`] or [`cloudtrail::BATCH_BYTES`] rather
/// than sent a file's few rows at a time (AWS delivers most events in files of a handful). A
/// file's `Done` may so reach the writer before its rows; the run is published only once every
/// decoder has sent what it carries ([`Carry::flush`]).
#[derive(Default)]
pub struct Carry {
    ct: Option<CtBuilder>,
}

impl Carry {
    /// Send what is gathered: at the end of a decoder's units.
    pub fn flush(&mut self, send: &mut dyn FnMut(Msg)) {
        send_events(self.ct.as_mut(), send);
    }
}

fn ct_rows(res: &FileResult) -> u64 {
    res.records
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// A reader that fails once more than `limit` bytes came through it.
struct Limited<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n as u64 > self.left {
            return Err(std::io::Error::other(format!(
                "decompressed data exceeds {} bytes (decompression bomb?)",
                self.limit
            )));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// How to decode what the files themselves do not say.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub limits: Limits,
    /// The layout of flow records without a header line (`--flow-format`).
    pub flow_format: Option<crate::decode::flowlog::Format>,
}

/// Decode one unit, sending batches and then a `Done` (or `Skipped`) message.
pub fn decode_unit(unit: Unit, claimed: &Claims, settings: &Settings, carry: &mut Carry, send: &mut dyn FnMut(Msg)) {
    let source: Arc<str> = unit.logical().into();
    let Unit { outer, member, data, size } = unit;
    let mut bytes_storage = None;
    let (file_id, sha256);
    match &data {
        UnitData::Bytes(b, _) => (file_id, sha256) = fingerprint(b),
        UnitData::File(path) => {
            let read = if size <= BUFFER_LIMIT {
                read_small(path).map(|b| {
                    let ids = fingerprint(&b);
                    bytes_storage = Some(b);
                    ids
                })
            } else {
                hash_file(path)
            };
            match read {
                Ok(ids) => (file_id, sha256) = ids,
                Err(e) => {
                    send(Msg::Error(ErrorRow::file(&outer, member, format!("cannot read: {e}"))));
                    return;
                }
            }
        }
    }
    {
        let mut claims = claimed.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(holder) = claims.get(&file_id) {
            let first_in_run = holder.clone();
            send(Msg::Copy(CopyOf { file_id, sha256, source_file: source.to_string(), size, first_in_run }));
            return;
        }
        claims.insert(file_id.clone(), Some(source.to_string()));
    }
    let info = path_info(&source);
    let mut ctx = Ctx {
        res: FileResult { file_id, sha256, source_file: source.to_string(), size, ..Default::default() },
        outer: outer.clone(),
        member,
        send: &mut *send,
        ct: carry.ct.take().map(|mut b| {
            b.begin_file(source.clone());
            b
        }),
        flow: None,
        source: source.clone(),
        limits: settings.limits,
        settings,
        warned_utf8: false,
        json_flow_header: String::new(),
    };
    // Parquet (flow logs as AWS delivers them in that format) needs the whole file: its footer
    // comes last.
    let parquet = match (&data, &bytes_storage) {
        (UnitData::Bytes(b, _), _) | (UnitData::File(_), Some(b)) => b.starts_with(PARQUET_MAGIC),
        (UnitData::File(file), None) => starts_with(file, PARQUET_MAGIC),
    };
    if parquet {
        match (&data, bytes_storage.take()) {
            (UnitData::Bytes(b, _), _) => decode_parquet(&mut ctx, bytes::Bytes::from(b.clone())),
            (UnitData::File(_), Some(b)) => decode_parquet(&mut ctx, bytes::Bytes::from(b)),
            (UnitData::File(file), None) => match file.open() {
                Ok(f) => decode_parquet(&mut ctx, f),
                Err(e) => ctx.error(None, None, format!("cannot open: {e}"), None),
            },
        }
        let res = finish_unit(ctx, carry);
        send(Msg::Done(Box::new(res)));
        return;
    }
    // Bytes held in memory are read in place; a file read as it goes through a buffer.
    let raw: Box<dyn BufRead + '_> = match (&data, &bytes_storage) {
        (UnitData::Bytes(b, _), _) => Box::new(&b[..]),
        (UnitData::File(_), Some(b)) => Box::new(&b[..]),
        (UnitData::File(file), None) => match file.open() {
            Ok(f) => Box::new(BufReader::with_capacity(256 << 10, f)),
            Err(e) => {
                ctx.error(None, None, format!("cannot open: {e}"), None);
                let res = finish_unit(ctx, carry);
                send(Msg::Done(Box::new(res)));
                return;
            }
        },
    };
    if info.digest {
        // Digest files sign the event files; they are not events, and are read as such.
        ctx.res.digest = true;
        read_digest(&mut ctx, raw);
    } else {
        decode_stream(&mut ctx, raw, size, &info);
    }
    let res = finish_unit(ctx, carry);
    send(Msg::Done(Box::new(res)));
}

/// A unit's result; the CloudTrail rows it leaves gathered go back to the decoder's carry.
fn finish_unit(ctx: Ctx<'_>, carry: &mut Carry) -> FileResult {
    let (res, ct) = ctx.finish();
    carry.ct = ct;
    res
}

/// Flow records given as JSON objects (CloudWatch Logs, OCSF converted, exports) come here from
/// both the JSON shapes (`records`) and the other formats (`formats`).
/// Flow record fields by name (`original` is the record they came from, for error excerpts).
fn decode_flow_fields(ctx: &mut Ctx<'_>, map: &serde_json::Map<String, serde_json::Value>, line: u64, original: &str) {
    let s = original;
    // Known fields first: a header starts with one.
    let mut fields: Vec<(&String, &serde_json::Value)> = map.iter().collect();
    fields.sort_by_key(|(k, _)| crate::schema::flow_field(k).is_none());
    let mut names = Vec::with_capacity(fields.len());
    let mut values = Vec::with_capacity(fields.len());
    for (k, v) in fields {
        let plain_name = !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_');
        if crate::schema::flow_field(k).is_none() && !plain_name {
            continue;
        }
        let text = match v {
            serde_json::Value::Null => "-".to_string(),
            serde_json::Value::String(t) if t.is_empty() => "-".to_string(),
            serde_json::Value::String(t) => t.clone(),
            other => other.to_string(),
        };
        if text.chars().any(char::is_whitespace) {
            ctx.res.records += 1;
            ctx.error(Some(line), None, format!("flow record field {k} holds white space: {text:?}"), Some(s));
            return;
        }
        names.push(k.as_str());
        values.push(text);
    }
    let header = names.join(" ");
    if header != ctx.json_flow_header {
        ctx.flow_line(line, &header);
        ctx.json_flow_header = header;
    }
    ctx.flow_line(line, &values.join(" "));
}

/// A small regular file, whole.
fn read_small(file: &Opened) -> std::io::Result<Vec<u8>> {
    let mut f = file.open()?;
    let mut b = Vec::with_capacity(f.metadata().map(|m| m.len() as usize + 1).unwrap_or(0));
    f.read_to_end(&mut b)?;
    Ok(b)
}

/// A file's id (xxh3-128 of its bytes: what runs deduplicate files by) and its SHA-256 (what a
/// responder proves the evidence with), both in hex.
fn fingerprint(bytes: &[u8]) -> (String, String) {
    use sha2::Digest;
    (format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes)), hex(&sha2::Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// [`fingerprint`] of a file read in pieces.
fn hash_file(file: &Opened) -> std::io::Result<(String, String)> {
    use sha2::Digest;
    let mut f = file.open()?;
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    let mut sha = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        sha.update(&buf[..n]);
    }
    Ok((format!("{:032x}", h.digest128()), hex(&sha.finalize())))
}

/// Decompress if gzip (by its magic bytes, whatever the name says), then decode JSON or text.
fn decode_stream(ctx: &mut Ctx<'_>, raw: Box<dyn BufRead + '_>, size: u64, info: &super::paths::PathInfo) {
    let mut reader = raw;
    let gz = match reader.fill_buf() {
        Ok(b) => b.len() >= 2 && b[0] == 0x1f && b[1] == 0x8b,
        Err(e) => {
            ctx.error(None, None, format!("cannot read: {e}"), None);
            return;
        }
    };
    let text_limit = (size.saturating_mul(ctx.limits.expansion)).max(ctx.limits.expansion_floor);
    // A trail's log file: its uncompressed content is hashed on the way, as its digest records it.
    let content_hash = (gz && info.trail_log)
        .then(|| std::rc::Rc::new(std::cell::RefCell::new(<sha2::Sha256 as sha2::Digest>::new())));
    if !gz && info.trail_log {
        ctx.res.content_sha256 = Some(ctx.res.sha256.clone());
    }
    let mut reader: Box<dyn BufRead + '_> = if gz {
        let limit = text_limit;
        let inner: Box<dyn Read + '_> = match &content_hash {
            Some(sha) => Box::new(Hashing { inner: MultiGzDecoder::new(reader), sha: sha.clone() }),
            None => Box::new(MultiGzDecoder::new(reader)),
        };
        // Sized by the file: AWS delivers most CloudTrail files at a few kilobytes, and a buffer
        // is zeroed before its first use.
        let capacity = size.saturating_mul(8).next_power_of_two().clamp(16 << 10, 256 << 10) as usize;
        Box::new(BufReader::with_capacity(capacity, Limited { inner, left: limit, limit }))
    } else {
        Box::new(reader)
    };
    // Sniff: JSON starts with `{` or `[` (after a byte order mark and white space).
    let first = loop {
        let buf = match reader.fill_buf() {
            Ok(b) => b,
            Err(e) => {
                ctx.error(None, None, format!("{}: {e}", if gz { "corrupt gzip" } else { "cannot read" }), None);
                return;
            }
        };
        if buf.is_empty() {
            break None;
        }
        let skip = if buf.starts_with(&[0xEF, 0xBB, 0xBF]) { 3 } else { 0 };
        let ws = buf[skip..].iter().take_while(|b| b.is_ascii_whitespace()).count();
        if skip + ws < buf.len() {
            let c = buf[skip + ws];
            // Keep any leading white space for line numbering; drop only the BOM.
            reader.consume(skip);
            break Some(c);
        }
        let n = buf.len();
        reader.consume(n);
    };
    match first {
        None => ctx.error(None, None, "empty file", None),
        Some(b'{') | Some(b'[') => decode_json(ctx, reader.as_mut(), gz),
        Some(_) => decode_text(ctx, reader.as_mut(), gz),
    }
    if let Some(sha) = content_hash {
        // Whatever the decoder left unread counts too; a file that cannot be read to its end has
        // no content hash.
        if std::io::copy(&mut reader, &mut std::io::sink()).is_ok() {
            let sha = std::rc::Rc::try_unwrap(sha).map(|c| c.into_inner()).unwrap_or_else(|rc| rc.borrow().clone());
            ctx.res.content_sha256 = Some(hex(&sha2::Digest::finalize(sha)));
        }
    }
}

/// Read one line of at most `limit` bytes into `buf` (without its newline). Returns
/// `Ok(None)` at the end, `Ok(Some(false))` for a line that was too long (skipped).
fn read_line(reader: &mut dyn BufRead, buf: &mut Vec<u8>, limit: usize) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let avail = reader.fill_buf()?;
        if avail.is_empty() {
            return Ok(if any { Some(!too_long) } else { None });
        }
        any = true;
        let (chunk, done) = match memchr::memchr(b'\n', avail) {
            Some(i) => (&avail[..i], Some(i + 1)),
            None => (avail, None),
        };
        if !too_long {
            if buf.len() + chunk.len() > limit {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(chunk);
            }
        }
        let n = done.unwrap_or(avail.len());
        reader.consume(n);
        if done.is_some() {
            return Ok(Some(!too_long));
        }
    }
}

fn decode_text(ctx: &mut Ctx<'_>, reader: &mut dyn BufRead, gz: bool) {
    if ctx.source.ends_with(".json") || ctx.source.ends_with(".json.gz") {
        ctx.error(Some(1), None, "not JSON: a .json file must hold CloudTrail or inventory JSON", None);
        return;
    }
    let mut buf = Vec::with_capacity(1024);
    let mut line_no = 0u64;
    // Until a line loads, failures are held back: a file that is not a flow log at all gets one
    // error, not one per line.
    let mut held: Vec<ErrorRow> = Vec::new();
    let mut held_count = 0u64;
    let mut loaded_any = false;
    loop {
        match read_line(reader, &mut buf, ctx.limits.line_bytes) {
            Ok(None) => break,
            Ok(Some(false)) => {
                line_no += 1;
                let reason =
                    format!("line longer than {} bytes: not a flow record (TRAILFLOW_MAX_LINE)", ctx.limits.line_bytes);
                ctx.error(Some(line_no), None, reason, None);
            }
            Ok(Some(true)) => {
                line_no += 1;
                // Checked whole first (fast for ASCII); replaced characters only where it fails.
                let line = match std::str::from_utf8(&buf) {
                    Ok(s) => std::borrow::Cow::Borrowed(s),
                    Err(_) => String::from_utf8_lossy(&buf),
                };
                let before = (ctx.res.error_count, ctx.res.errors.len());
                match export_message(&line) {
                    // A CloudWatch Logs export to S3: each line the event's time and its message.
                    Some(msg) => decode_log_message(ctx, msg, line_no, line_no),
                    None => ctx.flow_line(line_no, &line),
                }
                if !loaded_any {
                    if ctx.res.error_count > before.0 {
                        held_count += ctx.res.error_count - before.0;
                        ctx.res.error_count = before.0;
                        held.extend(ctx.res.errors.drain(before.1..));
                        if held_count >= GIVE_UP_AFTER {
                            let first = held
                                .first()
                                .map(|e| format!("line {}: {}", e.line.unwrap_or(0), e.reason))
                                .unwrap_or_default();
                            let text = held.first().and_then(|e| e.excerpt.clone());
                            ctx.error(
                                None,
                                None,
                                format!(
                                    "not a VPC flow log (first {held_count} lines unreadable; \
                                {first}); the rest of the file was not read"
                                ),
                                text.as_deref(),
                            );
                            return;
                        }
                    } else if ctx.loaded_rows() {
                        loaded_any = true;
                        ctx.res.error_count += held_count;
                        ctx.res.errors.append(&mut held);
                    }
                }
            }
            Err(e) => {
                ctx.res.error_count += held_count;
                ctx.res.errors.append(&mut held);
                let what = if gz { "corrupt or truncated gzip" } else { "read error" };
                ctx.error(
                    Some(line_no + 1),
                    None,
                    format!("{what} after line {line_no}: {e}; the lines before it were loaded"),
                    None,
                );
                return;
            }
        }
    }
    ctx.res.error_count += held_count;
    ctx.res.errors.append(&mut held);
    if let Some(n) = ctx.flow.as_ref().and_then(|f| f.inferred) {
        ctx.problem(
            Severity::Warning,
            Some(1),
            None,
            format!("no header line: read as the documented layout of {n} fields"),
            None,
        );
    }
}

/// The message of a line of a CloudWatch Logs export to S3 (`<RFC 3339 time, UTC> <message>`, as
/// `aws logs create-export-task` writes them), or `None` for any other line.
fn export_message(line: &str) -> Option<&str> {
    let (stamp, rest) = line.split_once(' ')?;
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shaped = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && stamp.ends_with('Z');
    shaped.then_some(rest)
}

/// Decode JSON: any number of top-level values (one document, or one per line), streamed record
/// by record (see [`json_stream`]): a record that cannot be read is rejected alone.
fn decode_json(ctx: &mut Ctx<'_>, reader: &mut dyn BufRead, gz: bool) {
    let bounds = Bounds { record: ctx.limits.record_bytes, document: ctx.limits.document_bytes };
    let result = json_stream::split(reader, bounds, &mut |item| match item {
        Item::Record { text, line, index, from } => {
            let text = utf8(ctx, text, line);
            let delivery = match from {
                Container::Records => Delivery::Trail,
                Container::Events => Delivery::EventHistory,
                Container::TopArray => Delivery::Export,
                Container::LogEvents => Delivery::CloudWatchLogs,
                Container::Inventory(key) => return decode_inventory_element(ctx, Some(key), &text, line, index),
                Container::Config => return decode_inventory_element(ctx, None, &text, line, index),
            };
            decode_record(ctx, &text, Some(line), index, delivery);
        }
        Item::Document { text, line, index } => {
            let text = utf8(ctx, text, line);
            decode_top(ctx, &text, line, index);
        }
        Item::Bad { line, index, reason, excerpt } => {
            if index.is_some() {
                ctx.res.records += 1;
            }
            ctx.error(Some(line), index, reason, Some(&String::from_utf8_lossy(excerpt)));
        }
    });
    if let Err((line, e)) = result {
        let what = if gz { "corrupt or truncated gzip" } else { "read error" };
        ctx.error(Some(line), None, format!("{what} at line {line}: {e}; the records before it were loaded"), None);
    }
}

/// A record's text as UTF-8: invalid bytes are replaced, with one warning per file.
fn utf8<'t>(ctx: &mut Ctx<'_>, text: &'t [u8], line: u64) -> std::borrow::Cow<'t, str> {
    match std::str::from_utf8(text) {
        Ok(t) => std::borrow::Cow::Borrowed(t),
        Err(_) => {
            if !ctx.warned_utf8 {
                ctx.warned_utf8 = true;
                ctx.problem(
                    Severity::Warning,
                    Some(line),
                    None,
                    "not valid UTF-8: invalid bytes replaced".into(),
                    None,
                );
            }
            String::from_utf8_lossy(text)
        }
    }
}

/// Decode bytes held in memory as if they were a file named `name`: the file's result and every
/// batch it produced. For tests and embedding; ingest itself streams.
pub fn decode_bytes(name: &str, bytes: Vec<u8>) -> (FileResult, Vec<(&'static str, RecordBatch)>) {
    let unit = Unit { outer: name.into(), member: None, size: bytes.len() as u64, data: UnitData::Bytes(bytes, None) };
    let claimed = Claims::default();
    let mut batches = Vec::new();
    let mut result = FileResult::default();
    let mut inventory = Vec::new();
    let mut send = |m: Msg| match m {
        Msg::Batch(t, b) => batches.push((t, b)),
        Msg::Events(b, _) => batches.push((CLOUDTRAIL, b)),
        Msg::Inventory(_, items) => inventory.extend(items),
        Msg::Done(r) => result = *r,
        Msg::Copy(_) => {}
        Msg::Error(e) => result.errors.push(e),
    };
    let mut carry = Carry::default();
    decode_unit(unit, &claimed, &Settings::default(), &mut carry, &mut send);
    carry.flush(&mut send);
    result.inventory = inventory;
    (result, batches)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rows(b: &[(&'static str, RecordBatch)], table: &str) -> usize {
        b.iter().filter(|(t, _)| *t == table).map(|(_, b)| b.num_rows()).sum()
    }

    /// Two small CloudTrail files through one decoder: their rows go out together, once, and
    /// each file's result tells its own rows, times and NACL changes.
    #[test]
    fn a_decoders_carry_gathers_small_files_and_keeps_each_files_account() {
        let rec = |id: &str, time: &str, name: &str| {
            format!(
                r#"{{"eventID":"{id}","eventTime":"{time}","eventName":"{name}","eventSource":"ec2.amazonaws.com","awsRegion":"us-east-1","recipientAccountId":"111122223333","requestParameters":{{"networkAclId":"acl-1","ruleNumber":100,"egress":false,"ruleAction":"allow","protocol":"-1","cidrBlock":"0.0.0.0/0"}}}}"#
            )
        };
        let a = format!(
            r#"{{"Records":[{},{}]}}"#,
            rec("a1", "2026-03-10T00:01:00Z", "CreateNetworkAclEntry"),
            rec("a2", "2026-03-10T00:03:00Z", "DescribeInstances")
        );
        let b = format!(r#"{{"Records":[{}]}}"#, rec("b1", "2026-03-11T05:00:00Z", "DescribeInstances"));
        let claimed = Claims::default();
        let (mut done, mut events) = (Vec::new(), Vec::new());
        let mut carry = Carry::default();
        for (name, text) in [("a.json", a), ("b.json", b)] {
            let bytes = text.into_bytes();
            let unit =
                Unit { outer: name.into(), member: None, size: bytes.len() as u64, data: UnitData::Bytes(bytes, None) };
            decode_unit(unit, &claimed, &Settings::default(), &mut carry, &mut |m| match m {
                Msg::Done(r) => done.push(*r),
                Msg::Events(b, keys) => events.push((b, keys)),
                _ => {}
            });
        }
        // Nothing sent yet: the rows wait for more files.
        assert!(events.is_empty());
        carry.flush(&mut |m| {
            if let Msg::Events(b, keys) = m {
                events.push((b, keys))
            }
        });
        assert_eq!(events.len(), 1);
        let (batch, keys) = &events[0];
        assert_eq!((batch.num_rows(), keys.len()), (3, 3));
        let files = batch.column_by_name("source_file").unwrap().as_string::<i32>();
        let ids = batch.column_by_name("event_id").unwrap().as_string::<i32>();
        let by_id: Vec<(&str, &str)> = (0..3).map(|i| (ids.value(i), files.value(i))).collect();
        assert_eq!(by_id, [("a1", "a.json"), ("a2", "a.json"), ("b1", "b.json")]);
        assert_eq!((done[0].rows, done[1].rows), (2, 1));
        assert_eq!(done[0].status(), "loaded");
        assert_eq!(done[0].kind, Some(Kind::Cloudtrail));
        assert_eq!(done[1].kind, Some(Kind::Cloudtrail));
        let t = |s: &str| crate::time::parse_time(s);
        assert_eq!((done[0].first_time, done[0].last_time), (t("2026-03-10T00:01:00Z"), t("2026-03-10T00:03:00Z")));
        assert_eq!((done[1].first_time, done[1].last_time), (t("2026-03-11T05:00:00Z"), t("2026-03-11T05:00:00Z")));
        assert_eq!((done[0].nacl_events.len(), done[1].nacl_events.len()), (1, 0));
    }

    #[test]
    fn body_shapes() {
        let rec = r#"{"eventVersion":"1.08","eventID":"e1","eventTime":"2024-01-01T00:00:00Z","eventSource":"ec2.amazonaws.com","eventName":"X"}"#;
        let rec2 = rec.replace("e1", "e2");
        for body in [
            format!(r#"{{"Records":[{rec},{rec2}]}}"#),
            format!("[{rec},\n{rec2}]"),
            format!("{rec}\n{rec2}\n\n"),
            format!(r#"{{"detail-type":"AWS API Call via CloudTrail","detail":{rec}}}{}{{"detail":{rec2}}}"#, "\n"),
        ] {
            let (res, b) = decode_bytes("x.json", body.clone().into_bytes());
            assert_eq!(rows(&b, CLOUDTRAIL), 2, "{body}");
            assert_eq!(res.error_count, 0, "{body}: {:?}", res.errors);
        }
        // CloudWatch Logs envelope with the record as a JSON string.
        let cw = serde_json::json!({"messageType":"DATA_MESSAGE","logGroup":"g","logEvents":[{"id":"1","timestamp":1,"message":rec}]});
        let (_, b) = decode_bytes("cw.json", cw.to_string().into_bytes());
        assert_eq!(rows(&b, CLOUDTRAIL), 1);
    }

    #[test]
    fn long_flow_lines_are_sent_in_batches_of_bounded_bytes() {
        // 300 lines of 40 KB (an unknown field kept in extra_fields): 12 MB in far fewer rows than
        // a batch holds, sent as several batches of about BATCH_BYTES each.
        let mut text = String::from(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action \
                log-status future-field\n",
        );
        let long = "x".repeat(40_000);
        for i in 0..300 {
            text.push_str(&format!(
                "2 1 eni-1 10.0.0.1 10.0.1.1 {} 443 6 1 40 1700000000 1700000060 ACCEPT OK {long}\n",
                1000 + i
            ));
        }
        let (res, b) = decode_bytes("long.log", text.into_bytes());
        assert_eq!(res.error_count, 0, "{:?}", res.errors);
        assert_eq!(rows(&b, FLOW_LOGS), 300);
        let batches: Vec<usize> = b.iter().filter(|(t, _)| *t == FLOW_LOGS).map(|(_, b)| b.num_rows()).collect();
        assert!(batches.len() >= 3, "{batches:?}");
        assert!(batches.iter().all(|&n| n * 40_000 <= cloudtrail::BATCH_BYTES + 40_100), "{batches:?}");
    }

    #[test]
    fn gzip_is_found_by_content_and_truncation_keeps_earlier_lines() {
        use std::io::Write;
        let mut text = String::from(
            "version account-id interface-id srcaddr dstaddr srcport dstport protocol packets bytes start end action \
                log-status\n",
        );
        for i in 0..5000 {
            text.push_str(&format!(
                "2 1 eni-1 10.0.0.{} 10.0.1.1 {} 443 6 1 40 1700000000 1700000060 ACCEPT OK\n",
                i % 250,
                1000 + i
            ));
        }
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let data = gz.finish().unwrap();
        let (res, b) = decode_bytes("noext", data.clone());
        assert_eq!(rows(&b, FLOW_LOGS), 5000);
        assert_eq!(res.error_count, 0);
        let cut = data[..data.len() / 2].to_vec();
        let (res, b) = decode_bytes("cut.log.gz", cut);
        let n = rows(&b, FLOW_LOGS);
        assert!(n > 0 && n < 5000, "{n}");
        assert_eq!(res.error_count, 1);
        assert!(res.errors[0].reason.contains("truncated gzip"), "{:?}", res.errors);
    }

    #[test]
    fn empty_and_invalid() {
        let (res, _) = decode_bytes("e.json", Vec::new());
        assert_eq!(res.errors[0].reason, "empty file");
        let (res, b) =
            decode_bytes("bad.json", br#"{"Records":[{"eventID":"a","eventTime":"2024-01-01T00:00:00Z","#.to_vec());
        assert!(b.is_empty());
        assert!(res.errors[0].reason.contains("truncated JSON"), "{:?}", res.errors);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

        #[test]
        fn decoding_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = decode_bytes("p.log", data.clone());
            let _ = decode_bytes("p.json", data);
        }

        #[test]
        fn flow_lines_never_panic(lines in proptest::collection::vec("[0-9a-z .:\\-]{0,120}", 0..20)) {
            let text = format!("version srcaddr dstaddr srcport dstport start end action log-status\n{}", lines.join("\n"));
            let _ = decode_bytes("p.log", text.into_bytes());
            let text = lines.join("\n");
            let _ = decode_bytes("q.log", text.into_bytes());
        }

        #[test]
        fn json_like_input_never_panics(s in "[\\[\\]{}\",:a-zA-Z0-9 \\n]{0,400}") {
            let _ = decode_bytes("p.json", s.into_bytes());
        }
    }
}
