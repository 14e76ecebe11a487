//! The full-text index over CloudTrail: built by `ingest` from the same rows it writes to
//! Parquet, kept consistent with the lake after any crash, and searched by `trailflow search` and
//! the SQL table function `search('...')`.
//!
//! The index lives in `LAKE/index/` (tantivy). Parquet stays the system of record: the index holds,
//! per event, the terms of its tokens (64-bit hashes; see [`tokenize::term_of`]), its time, a
//! pointer to its Parquet row (file and row number); a repeated value of several tokens is indexed
//! once, as a document of its own that events name by id. Nothing else: no positions, no copies of
//! fields. A search finds the candidate events in the index, reads their
//! rows from Parquet (only the pages that hold them), checks each against its record when the
//! index alone cannot vouch for it (phrases, field-scoped terms, JSON paths, bucketed terms; see
//! [`query`]), and returns them in time order.
//!
//! Consistency: an ingest adds each CloudTrail file to the index as it writes it, and commits the
//! index only after the lake run is committed, with the runs and files the index covers as the
//! commit's payload. Whoever next opens the lake compares that list with the runs that own
//! CloudTrail files and indexes any missing run again from its Parquet files (and drops a run the
//! lake no longer has), so a kill at any moment leaves index and Parquet telling the same story.

pub mod query;
pub mod readonly;
pub mod table;
pub mod tokenize;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef, TimestampMicrosecondType};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::indexer::UserOperation;
use tantivy::query::RangeQuery;
use tantivy::schema::{DateOptions, DateTimePrecision, Field, NumericOptions, Schema as TSchema};
use tantivy::{DateTime, DocId, Index, IndexWriter, Score, SegmentReader, TantivyDocument, Term};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::schema::{self, CLOUDTRAIL};

/// The index folder inside the lake.
pub const INDEX_DIR: &str = "index";
/// Memory tantivy may use for its in-progress segments while indexing.
const WRITER_MEMORY: usize = 96 << 20;
/// The index layout this build writes; an index of another layout is rebuilt from Parquet.
const FORMAT: u32 = 5;
/// Rows handed to an indexing thread at a time.
const CHUNK_ROWS: usize = 8192;

/// Columns of `cloudtrail` that can be searched field by field (`user_arn:...`).
pub const KEYWORDS: &[&str] = &[
    "event_name",
    "event_source",
    "aws_region",
    "source_ip",
    "user_arn",
    "user_name",
    "user_type",
    "access_key_id",
    "principal_id",
    "account_id",
    "recipient_account_id",
    "error_code",
    "error_message",
    "user_agent",
    "event_type",
    "request_id",
    "session_issuer_arn",
    "event_id",
];
/// Of those, the columns a search result shows (after `event_time` and `event_id`).
pub const SHOWN: &[&str] =
    &["event_name", "event_source", "aws_region", "source_ip", "user_arn", "access_key_id", "error_code"];
/// JSON columns searchable by path (`request_parameters.cidrBlock:"0.0.0.0/0"`).
pub const JSON_FIELDS: &[&str] = &["request_parameters", "response_elements"];

/// The columns the index is built from.
const SOURCE_COLUMNS: [&str; 3] = ["event_id", "event_time", "raw"];

#[derive(Clone, Copy)]
struct Fields {
    tok: Field,
    time: Field,
    at: Field,
    vid: Field,
    vkey: Field,
}

fn build_schema() -> TSchema {
    let mut b = TSchema::builder();
    // Terms only: which events hold a token, not how often or where.
    b.add_u64_field("tok", NumericOptions::default().set_indexed());
    b.add_date_field("time", DateOptions::default().set_fast().set_precision(DateTimePrecision::Microseconds));
    // File number (in the payload's file list) << 32 | row number in that file.
    b.add_u64_field("at", NumericOptions::default().set_fast());
    // A value that repeats from event to event and holds several tokens (a user agent, an ARN, a
    // TLS host name) is indexed once, as a document of its own: its tokens (`tok`) and its id
    // (`vkey`). Events name it by id (`vid`) instead of holding its tokens: one term instead of
    // twenty. A search for a token finds the values that hold it, then the events that name them.
    b.add_u64_field("vid", NumericOptions::default().set_indexed());
    b.add_u64_field("vkey", NumericOptions::default().set_fast());
    b.build()
}

fn fields(schema: &TSchema) -> Result<Fields> {
    let f = |n: &str| schema.get_field(n).map_err(|e| Error::Invalid(format!("search index: {e}")));
    Ok(Fields { tok: f("tok")?, time: f("time")?, at: f("at")?, vid: f("vid")?, vkey: f("vkey")? })
}

fn tantivy_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("search index {what}: {e}"))
}

pub fn index_dir(lake: &Lake) -> PathBuf {
    lake.root.join(INDEX_DIR)
}

/// What a committed index covers: its commit payload.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone)]
struct Payload {
    format: u32,
    /// The runs whose events the index holds.
    runs: BTreeSet<String>,
    /// Lake files (relative to the lake) by number; `at` points into this list.
    files: Vec<String>,
}

/// Read an index's commit payload; `None` when it has none or is of another layout.
fn payload_of(index: &Index) -> Option<Payload> {
    let meta = index.load_metas().ok()?;
    let payload: Payload = serde_json::from_str(meta.payload.as_deref()?).ok()?;
    (payload.format == FORMAT && fields(&index.schema()).is_ok()).then_some(payload)
}

/// Open the index with what it covers, for writing; `None` when the lake has none, or one of
/// another layout (which is then removed, to be rebuilt from Parquet). Only a process holding the
/// lake's write lock calls this.
fn open_existing(lake: &Lake) -> Result<Option<(Index, Payload)>> {
    let dir = index_dir(lake);
    if !dir.join("meta.json").is_file() {
        return Ok(None);
    }
    let current = Index::open_in_dir(&dir).ok().and_then(|index| payload_of(&index).map(|p| (index, p)));
    if current.is_none() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    Ok(current)
}

/// Open the index for reading, changing nothing on disk; `None` when there is no usable index.
fn open_read_only(lake: &Lake) -> Option<(Index, Payload)> {
    let dir = index_dir(lake);
    if !dir.join("meta.json").is_file() {
        return None;
    }
    let mmap = tantivy::directory::MmapDirectory::open(&dir).ok()?;
    let index = Index::open(readonly::ReadOnlyDirectory(mmap)).ok()?;
    let payload = payload_of(&index)?;
    Some((index, payload))
}

/// How long a search waits for a writer to bring the index up to date before giving up.
const INDEX_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The index and a searcher that agree with the lake: every run that owns CloudTrail files is in
/// the index. When one is missing (a run cut off before its index was saved, an index removed or
/// of an older layout), the index is brought up to date first, by this process when nobody writes
/// the lake, else by the writer, which is waited for. A process that cannot write the lake says
/// so. `None` when the lake has no CloudTrail events.
fn open_consistent(lake: &Lake) -> Result<Option<(Payload, tantivy::Searcher)>> {
    let started = std::time::Instant::now();
    loop {
        let guard = lake.snapshot()?;
        let runs = lake_runs(lake)?;
        let opened = open_read_only(lake);
        // Every run the lake has is in the index, and the index points at no file of a run the
        // lake no longer has.
        let covered = opened.as_ref().is_some_and(|(_, p)| {
            runs.keys().all(|r| p.runs.contains(r))
                && p.files.iter().filter(|f| !f.is_empty()).all(|f| run_of(Path::new(f)).is_some_and(|r| runs.contains_key(&r)))
        });
        if runs.is_empty() && !covered {
            return Ok(None);
        }
        if covered && let Some((index, payload)) = opened {
            // A writer's merge may remove segment files between reading the index's list and
            // opening them: then the list is read again.
            let reader = index
                .reader_builder()
                .reload_policy(tantivy::ReloadPolicy::Manual)
                .try_into()
                .map_err(|e: tantivy::TantivyError| tantivy_err("read", e));
            match reader {
                Ok(r) => {
                    drop(guard);
                    return Ok(Some((payload, r.searcher())));
                }
                Err(e) if started.elapsed() > INDEX_WAIT => return Err(e),
                Err(_) => {
                    drop(guard);
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                }
            }
        }
        drop(guard);
        match lake.try_write()? {
            Ok(lock) => {
                catch_up(lake)?;
                drop(lock);
            }
            Err(Some(e)) => {
                return Err(Error::Invalid(format!(
                    "the search index of the lake at {} does not cover all of its CloudTrail events, and this process cannot bring it up to date ({e}): make the lake writable, or search a copy (cp -r); SQL over the lake is not affected",
                    lake.root.display()
                )));
            }
            Err(None) if started.elapsed() > INDEX_WAIT => {
                return Err(Error::Invalid(format!(
                    "the search index of the lake at {} is being brought up to date by the process writing the lake: try again when it is done",
                    lake.root.display()
                )));
            }
            Err(None) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

/// Open the index, creating an empty one when absent.
fn open_or_create(lake: &Lake) -> Result<(Index, Payload)> {
    if let Some(found) = open_existing(lake)? {
        return Ok(found);
    }
    let dir = index_dir(lake);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mmap = tantivy::directory::MmapDirectory::open(&dir).map_err(|e| tantivy_err("open", e))?;
    let index = Index::open_or_create(mmap, build_schema()).map_err(|e| tantivy_err("open", e))?;
    Ok((index, Payload { format: FORMAT, ..Default::default() }))
}

/// The run that wrote a lake file, from its name `part-<run>-<seq>.parquet`.
pub fn run_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    Some(stem.rsplit_once('-')?.0.to_string())
}

/// Every run that owns CloudTrail files, with its files.
fn lake_runs(lake: &Lake) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = Default::default();
    for f in lake.table_files(CLOUDTRAIL)? {
        if let Some(run) = run_of(&f) {
            out.entry(run).or_default().push(f);
        }
    }
    Ok(out)
}

/// A file's name relative to the lake, as the payload lists it.
fn relative(lake: &Lake, path: &Path) -> String {
    path.strip_prefix(&lake.root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

/// Scratch space of one indexing thread.
#[derive(Default)]
struct Tokens {
    terms: Vec<u64>,
    value: String,
    lc: String,
    vids: Vec<u64>,
    /// What values seen lately stand for (event names, ARNs, user agents repeat from event to event).
    cache: std::collections::HashMap<u128, Cached, std::hash::BuildHasherDefault<KeyHasher>>,
}

/// The cache's keys are hashes already: their low bits are used as they are.
#[derive(Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u128(&mut self, v: u128) {
        self.0 = v as u64;
    }
}

enum Cached {
    /// The value's terms, held by each event that holds the value.
    Terms(Vec<u64>),
    /// The id of the value's own document.
    Value(u64),
}

/// A value with at least this many terms, all exact, is indexed once as a value document.
const VALUE_TERMS: usize = 4;

/// Values whose terms an indexing thread remembers, at most.
const CACHED_VALUES: usize = 1 << 18;

/// Add rows of `cloudtrail` (with at least [`SOURCE_COLUMNS`]) that are rows `first..` of file
/// number `file`.
fn add_rows(writer: &IndexWriter, f: Fields, file: u32, first: usize, batch: &RecordBatch, t: &mut Tokens) -> Result<()> {
    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| Error::Invalid(format!("search index: rows without {name}")))
    };
    let ids = col("event_id")?.as_string::<i32>();
    let times = col("event_time")?.as_primitive::<TimestampMicrosecondType>();
    let raw = col("raw")?.as_string::<i32>();
    let mut docs = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        t.terms.clear();
        t.vids.clear();
        if t.cache.len() >= CACHED_VALUES {
            t.cache.clear();
        }
        let (terms, vids, lc, cache) = (&mut t.terms, &mut t.vids, &mut t.lc, &mut t.cache);
        let mut value_terms = |v: &str| {
            let key = xxhash_rust::xxh3::xxh3_128(v.as_bytes());
            match cache.get(&key) {
                Some(Cached::Terms(known)) => terms.extend_from_slice(known),
                Some(Cached::Value(id)) => vids.push(*id),
                None => {
                    let mut own = Vec::new();
                    let mut all_exact = true;
                    tokenize::each_text_token(v, lc, &mut |tok| {
                        let (term, exact) = tokenize::term_of(tok);
                        all_exact &= exact;
                        own.push(term);
                    });
                    own.sort_unstable();
                    own.dedup();
                    if all_exact && own.len() >= VALUE_TERMS {
                        let id = key as u64;
                        let mut vdoc = TantivyDocument::new();
                        for term in &own {
                            vdoc.add_u64(f.tok, *term);
                        }
                        vdoc.add_u64(f.vkey, id);
                        docs.push(UserOperation::Add(vdoc));
                        vids.push(id);
                        cache.insert(key, Cached::Value(id));
                    } else {
                        terms.extend_from_slice(&own);
                        // A value with a one-of-a-kind token (an id, a time) will not come again.
                        if all_exact {
                            cache.insert(key, Cached::Terms(own));
                        }
                    }
                }
            }
        };
        if raw.is_valid(i) {
            tokenize::json_values(raw.value(i), &mut t.value, &mut value_terms);
        }
        // The event id is a value of the record, unless the record has none and trailflow made one up.
        if ids.value(i).starts_with(crate::decode::cloudtrail::MADE_UP_ID) {
            value_terms(ids.value(i));
        }
        t.terms.sort_unstable();
        t.terms.dedup();
        t.vids.sort_unstable();
        t.vids.dedup();
        let mut doc = TantivyDocument::new();
        for term in &t.terms {
            doc.add_u64(f.tok, *term);
        }
        for id in &t.vids {
            doc.add_u64(f.vid, *id);
        }
        doc.add_date(f.time, DateTime::from_timestamp_micros(times.value(i)));
        doc.add_u64(f.at, (u64::from(file) << 32) | (first + i) as u64);
        docs.push(UserOperation::Add(doc));
    }
    // One hand-over to tantivy per batch, not per document.
    writer.run(docs).map_err(|e| tantivy_err("write", e))?;
    Ok(())
}

/// Bring the index in line with the lake: index runs it misses (from their Parquet files) and
/// drop runs the lake does not have. Called with the lake's write lock held.
pub fn catch_up(lake: &Lake) -> Result<()> {
    let runs = lake_runs(lake)?;
    let (index, mut payload) = match open_existing(lake)? {
        Some(found) => found,
        None if runs.is_empty() => return Ok(()),
        None => open_or_create(lake)?,
    };
    let missing: Vec<&String> = runs.keys().filter(|r| !payload.runs.contains(*r)).collect();
    let extra: Vec<String> = payload.runs.iter().filter(|r| !runs.contains_key(*r)).cloned().collect();
    if missing.is_empty() && extra.is_empty() && index.load_metas().is_ok_and(|m| m.payload.is_some()) {
        return Ok(());
    }
    let f = fields(&index.schema())?;
    let writer: IndexWriter = index.writer(WRITER_MEMORY).map_err(|e| tantivy_err("open writer", e))?;
    // A committed index holds exactly the events of its runs: a missing run has none in it, and
    // the events of a run the lake lacks are found by their files.
    for run in &extra {
        for (n, name) in payload.files.iter_mut().enumerate() {
            if run_of(Path::new(name.as_str())).as_ref() == Some(run) {
                let n = n as u64;
                let at = |v: u64| Term::from_field_u64(f.at, v);
                let files = RangeQuery::new(Bound::Included(at(n << 32)), Bound::Excluded(at((n + 1) << 32)));
                writer.delete_query(Box::new(files)).map_err(|e| tantivy_err("delete", e))?;
                name.clear();
            }
        }
        payload.runs.remove(run);
    }
    let mut t = Tokens::default();
    for run in &missing {
        for path in &runs[*run] {
            let file = payload.files.len() as u32;
            payload.files.push(relative(lake, path));
            let mut first = 0;
            crate::lake::read::for_each_batch_in(std::slice::from_ref(path), &SOURCE_COLUMNS, |b| {
                add_rows(&writer, f, file, first, b, &mut t)?;
                first += b.num_rows();
                Ok(())
            })?;
        }
        payload.runs.insert((*run).clone());
    }
    commit(writer, &payload)
}

fn commit(writer: IndexWriter, payload: &Payload) -> Result<()> {
    commit_only(writer, payload)?.wait()
}

/// Commit, leaving the merges that follow to run: see [`Merging::wait`].
fn commit_only(mut writer: IndexWriter, payload: &Payload) -> Result<Merging> {
    let mut prepared = writer.prepare_commit().map_err(|e| tantivy_err("commit", e))?;
    prepared.set_payload(&serde_json::to_string(payload)?);
    prepared.commit().map_err(|e| tantivy_err("commit", e))?;
    Ok(Merging(writer))
}

/// A committed index whose segments may still be merging.
pub struct Merging(IndexWriter);

impl Merging {
    /// Wait for the merges (readers see the committed index meanwhile).
    pub fn wait(self) -> Result<()> {
        self.0.wait_merging_threads().map_err(|e| tantivy_err("merge", e))
    }
}

/// A slice of a file for an indexing thread: file number, first row, rows.
type Chunk = (u32, usize, RecordBatch);

/// Adds a run's CloudTrail files to the index, on threads of their own, as the run writes them.
pub struct Indexer {
    tx: Option<crossbeam_channel::Sender<Chunk>>,
    handles: Vec<JoinHandle<Result<()>>>,
    writer: Arc<IndexWriter>,
    payload: Payload,
    run: String,
    files_before: usize,
}

impl Indexer {
    /// Start indexing for run `run` (the index must be caught up with the lake: see [`catch_up`]).
    pub fn start(lake: &Lake, run: &str) -> Result<Indexer> {
        let (index, mut payload) = open_or_create(lake)?;
        payload.runs.insert(run.to_string());
        let f = fields(&index.schema())?;
        let writer: Arc<IndexWriter> =
            Arc::new(index.writer_with_num_threads(1, WRITER_MEMORY).map_err(|e| tantivy_err("open writer", e))?);
        // Up to about one large file waits: the chunks share the file's buffers.
        let (tx, rx) = crossbeam_channel::bounded::<Chunk>(256);
        let mut handles = Vec::new();
        for n in 0..2 {
            let (rx, writer) = (rx.clone(), Arc::clone(&writer));
            let h = std::thread::Builder::new()
                .name(format!("trailflow-index-{n}"))
                .spawn(move || -> Result<()> {
                    let mut t = Tokens::default();
                    for (file, first, batch) in rx {
                        add_rows(&writer, f, file, first, &batch, &mut t)?;
                    }
                    Ok(())
                })
                .map_err(Error::PlainIo)?;
            handles.push(h);
        }
        let files_before = payload.files.len();
        Ok(Indexer { tx: Some(tx), handles, writer, payload, run: run.to_string(), files_before })
    }

    /// Queue a CloudTrail file for the index: its rows as written, in order, and its final place in
    /// the lake (`cloudtrail/dt=.../part-....parquet`).
    pub fn add_file(&mut self, relative_path: String, rows: &RecordBatch) -> Result<()> {
        let file = self.payload.files.len() as u32;
        self.payload.files.push(relative_path);
        let idx: Vec<usize> = SOURCE_COLUMNS.iter().filter_map(|c| rows.schema().index_of(c).ok()).collect();
        let rows = rows.project(&idx)?;
        let mut first = 0;
        while first < rows.num_rows() {
            let len = CHUNK_ROWS.min(rows.num_rows() - first);
            let sent = self.tx.as_ref().is_some_and(|tx| tx.send((file, first, rows.slice(first, len))).is_ok());
            if !sent {
                // A thread stopped: its error says why.
                return Err(self.join().err().unwrap_or_else(|| Error::Invalid("search index stopped".into())));
            }
            first += len;
        }
        Ok(())
    }

    fn join(&mut self) -> Result<()> {
        self.tx = None;
        let mut result = Ok(());
        for h in self.handles.drain(..) {
            let r = h.join().map_err(|_| Error::Invalid("search index thread failed".into())).and_then(|r| r);
            if result.is_ok() {
                result = r;
            }
        }
        result
    }

    /// Wait for every row to be indexed; the result is committed after the lake run is.
    pub fn finish(mut self) -> Result<PendingIndex> {
        self.join()?;
        let Indexer { writer, mut payload, run, files_before, .. } = self;
        // A run without CloudTrail rows is not one the index covers.
        if payload.files.len() == files_before {
            payload.runs.remove(&run);
        }
        let writer =
            Arc::try_unwrap(writer).map_err(|_| Error::Invalid("search index writer still in use".into()))?;
        Ok(PendingIndex { writer, payload })
    }
}

/// An index update ready to be committed once the lake run is committed.
pub struct PendingIndex {
    writer: IndexWriter,
    payload: Payload,
}

impl PendingIndex {
    /// Commit the run's index; the merges that follow are the caller's to wait for, outside the
    /// lake's publish lock.
    pub fn commit(self) -> Result<Merging> {
        commit_only(self.writer, &self.payload)
    }
}

/// A search: the query text and an optional time range (microseconds, `to` exclusive).
#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub query: String,
    pub from: Option<i64>,
    pub to: Option<i64>,
    pub limit: Option<usize>,
}

/// The columns of a search result, in order.
pub fn result_schema() -> SchemaRef {
    let mut fields = vec![
        ArrowField::new("event_time", schema::ts_type(), false),
        ArrowField::new("event_id", DataType::Utf8, false),
    ];
    fields.extend(SHOWN.iter().map(|n| ArrowField::new(*n, DataType::Utf8, true)));
    fields.push(ArrowField::new(schema::PARTITION_COLUMN, DataType::Utf8, false));
    Arc::new(Schema::new(fields))
}

/// Collects (time, pointer) of every hit.
struct HitCollector;

struct HitSegment {
    times: tantivy::columnar::Column<DateTime>,
    at: tantivy::columnar::Column<u64>,
    hits: Vec<(i64, u64)>,
}

impl Collector for HitCollector {
    type Fruit = Vec<(i64, u64)>;
    type Child = HitSegment;
    fn for_segment(&self, _seg: tantivy::SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<HitSegment> {
        let ff = reader.fast_fields();
        Ok(HitSegment { times: ff.date("time")?, at: ff.u64("at")?, hits: Vec::new() })
    }
    fn requires_scoring(&self) -> bool {
        false
    }
    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for HitSegment {
    type Fruit = Vec<(i64, u64)>;
    fn collect(&mut self, doc: DocId, _score: Score) {
        let t = self.times.first(doc).map(|d| d.into_timestamp_micros()).unwrap_or(i64::MIN);
        if let Some(at) = self.at.first(doc) {
            self.hits.push((t, at));
        }
    }
    fn harvest(self) -> Self::Fruit {
        self.hits
    }
}

/// Collects the ids of value documents.
struct ValueCollector;

struct ValueSegment {
    keys: tantivy::columnar::Column<u64>,
    ids: Vec<u64>,
}

impl Collector for ValueCollector {
    type Fruit = Vec<u64>;
    type Child = ValueSegment;
    fn for_segment(&self, _seg: tantivy::SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<ValueSegment> {
        Ok(ValueSegment { keys: reader.fast_fields().u64("vkey")?, ids: Vec::new() })
    }
    fn requires_scoring(&self) -> bool {
        false
    }
    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for ValueSegment {
    type Fruit = Vec<u64>;
    fn collect(&mut self, doc: DocId, _score: Score) {
        self.ids.extend(self.keys.values_for_doc(doc));
    }
    fn harvest(self) -> Self::Fruit {
        self.ids
    }
}

/// Is `name` a field a query may name (`event_name`, `request_parameters.cidrBlock`, ...)?
fn is_field(name: &str) -> bool {
    name == "event_time"
        || KEYWORDS.contains(&name)
        || JSON_FIELDS.iter().any(|j| name == *j || name.strip_prefix(j).is_some_and(|rest| rest.starts_with('.')))
}

/// Read a query and add the request's time range to it.
fn compile(req: &SearchRequest) -> Result<query::Q> {
    crate::limits::check_nesting(&req.query, "search query", false)?;
    let text = tokenize::prepare_query(&req.query, is_field);
    if text.trim().is_empty() {
        return Err(Error::Invalid("empty search query: give a needle, e.g. 45.137.21.9 or event_name:StopLogging".into()));
    }
    let q = query::compile(&text, &req.query, KEYWORDS, JSON_FIELDS)?;
    if req.from.is_none() && req.to.is_none() {
        return Ok(q);
    }
    // The lake holds times from 1970 to 2200 only: a bound beyond them selects the same events.
    let (from, to) = (req.from.map(crate::time::clamp_time), req.to.map(crate::time::clamp_time));
    Ok(query::Q::Bool { must: vec![q, query::Q::Time(from, to)], should: Vec::new(), not: Vec::new() })
}

/// Run a search: the matching events, oldest first, as batches of [`result_schema`].
pub fn search(lake: &Lake, req: &SearchRequest) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    search_each(lake, req, &mut |b| {
        out.push(b);
        Ok(())
    })?;
    Ok(out)
}

/// Run a search, handing the matching events, oldest first, to `emit` batch by batch.
pub fn search_each(lake: &Lake, req: &SearchRequest, emit: &mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<()> {
    let schema = result_schema();
    let q = compile(req)?;
    let Some((payload, searcher)) = open_consistent(lake)? else {
        return Ok(());
    };
    let f = fields(searcher.schema())?;
    let failed = std::cell::RefCell::new(None);
    let values_with = |term: u64| -> Vec<u64> {
        let q = tantivy::query::TermQuery::new(
            Term::from_field_u64(f.tok, term),
            tantivy::schema::IndexRecordOption::Basic,
        );
        let mut ids = searcher.search(&q, &ValueCollector).unwrap_or_else(|e| {
            failed.borrow_mut().get_or_insert(tantivy_err("search", e));
            Vec::new()
        });
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let (candidates, exact) =
        q.candidates(&query::IndexFields { tok: f.tok, time: f.time, vid: f.vid, values_with: &values_with });
    if let Some(e) = failed.into_inner() {
        return Err(e);
    }
    let mut hits = searcher.search(&candidates, &HitCollector).map_err(|e| tantivy_err("search", e))?;
    hits.sort_unstable();
    if exact && let Some(limit) = req.limit {
        hits.truncate(limit);
    }
    let mut columns: Vec<&'static str> = vec!["event_time", "event_id"];
    columns.extend(SHOWN);
    if !exact {
        q.columns(&mut columns);
    }
    // The hits by file, and each file's first and last hit time. Files are sorted by time inside:
    // when the files' hit spans do not overlap, reading them one after another, earliest first,
    // gives the hits in time order, and they are handed on batch by batch as they are read.
    let mut by_file: BTreeMap<u32, (i64, i64, Vec<usize>)> = BTreeMap::new();
    for (t, at) in &hits {
        let e = by_file.entry((at >> 32) as u32).or_insert((*t, *t, Vec::new()));
        e.0 = e.0.min(*t);
        e.1 = e.1.max(*t);
        e.2.push((at & 0xffff_ffff) as usize);
    }
    drop(hits);
    let mut files: Vec<(u32, (i64, i64, Vec<usize>))> = by_file.into_iter().collect();
    files.sort_by_key(|(n, (first, last, _))| (*first, *last, *n));
    let streamed = files.windows(2).all(|w| w[0].1.1 <= w[1].1.0);
    let mut left = req.limit.unwrap_or(usize::MAX);
    let mut held = Vec::new();
    for (file, (_, _, mut rows)) in files {
        if left == 0 {
            break;
        }
        rows.sort_unstable();
        rows.dedup();
        let name = payload.files.get(file as usize).filter(|n| !n.is_empty()).ok_or_else(|| {
            Error::Invalid(format!(
                "search index points at file #{file}, which it does not list: delete {} to rebuild it",
                index_dir(lake).display()
            ))
        })?;
        // The result columns, and the file's partition as `dt`.
        let dt = name.split('/').find_map(|p| p.strip_prefix("dt=")).unwrap_or(schema::NULL_PARTITION);
        read_rows(&lake.root.join(name), &rows, &columns, &mut |batch| {
            let batch = if exact { batch } else { confirm(&q, &batch)? };
            if batch.num_rows() == 0 || left == 0 {
                return Ok(());
            }
            let mut out: Vec<ArrayRef> = Vec::new();
            for (i, field) in schema.fields().iter().enumerate().take(schema.fields().len() - 1) {
                let col = batch.column(i);
                out.push(if col.data_type() == field.data_type() {
                    Arc::clone(col)
                } else {
                    datafusion::arrow::compute::cast(col, field.data_type())?
                });
            }
            out.push(Arc::new(StringArray::from_iter_values(std::iter::repeat_n(dt, batch.num_rows()))));
            let batch = RecordBatch::try_new(Arc::clone(&schema), out)?;
            if streamed {
                let batch = batch.slice(0, left.min(batch.num_rows()));
                left -= batch.num_rows();
                emit(batch)
            } else {
                held.push(batch);
                Ok(())
            }
        })?;
    }
    if !held.is_empty() {
        let all = concat_batches(&schema, &held)?;
        drop(held);
        let order = lexsort_to_indices(&[SortColumn { values: Arc::clone(all.column(0)), options: None }], req.limit)?;
        emit(take_record_batch(&all, &order)?)?;
    }
    Ok(())
}

/// Read rows (numbers in the file, sorted) of a lake file: only the named columns (in that order),
/// and only the pages that hold those rows; `each` gets them batch by batch.
fn read_rows(path: &Path, rows: &[usize], columns: &[&str], each: &mut dyn FnMut(RecordBatch) -> Result<()>) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(file, ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional))
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    let file_schema = Arc::clone(builder.schema());
    let idx: Vec<usize> = columns
        .iter()
        .map(|c| file_schema.index_of(c).map_err(|_| Error::Invalid(format!("{}: no column {c}", path.display()))))
        .collect::<Result<_>>()?;
    // The row groups that hold hits, and the hits' rows within them.
    let mut groups = Vec::new();
    let mut ranges = Vec::new();
    let (mut start, mut selected) = (0usize, 0usize);
    let mut next = rows.iter().peekable();
    for (g, rg) in builder.metadata().row_groups().iter().enumerate() {
        let end = start + rg.num_rows() as usize;
        let mut any = false;
        while let Some(&&r) = next.peek() {
            if r >= end {
                break;
            }
            next.next();
            ranges.push(selected + r - start..selected + r - start + 1);
            any = true;
        }
        if any {
            groups.push(g);
            selected += end - start;
        }
        start = end;
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), idx.iter().copied());
    let reader = builder
        .with_row_groups(groups)
        .with_row_selection(RowSelection::from_consecutive_ranges(ranges.into_iter(), selected))
        .with_projection(mask)
        .with_batch_size(8192)
        .build()?;
    // The projection keeps the file's column order; put the columns in the asked order.
    let mut sorted = idx.clone();
    sorted.sort_unstable();
    let order: Vec<usize> = idx.iter().map(|i| sorted.iter().position(|s| s == i).expect("projected")).collect();
    for b in reader {
        each(b?.project(&order)?)?;
    }
    Ok(())
}

/// The rows of `batch` (columns as [`read_rows`] gives them, `event_time` first) that match.
fn confirm(q: &query::Q, batch: &RecordBatch) -> Result<RecordBatch> {
    let times = batch.column(0).as_primitive::<TimestampMicrosecondType>();
    let mut checked = Vec::new();
    q.columns(&mut checked);
    let text: Vec<(&str, Option<ArrayRef>)> = checked
        .iter()
        .map(|c| (*c, batch.column_by_name(c).and_then(|a| datafusion::arrow::compute::cast(a, &DataType::Utf8).ok())))
        .collect();
    let mut keep = Vec::new();
    for i in 0..batch.num_rows() {
        let mut row = query::RowTokens::new(|name: &str| {
            let (_, col) = text.iter().find(|(n, _)| *n == name)?;
            let col = col.as_ref()?.as_string::<i32>();
            col.is_valid(i).then(|| col.value(i))
        });
        if q.matches(times.value(i), &mut row) {
            keep.push(i as u32);
        }
    }
    Ok(take_record_batch(batch, &UInt32Array::from(keep))?)
}

/// Size of the index on disk, in bytes.
pub fn index_bytes(lake: &Lake) -> u64 {
    fn walk(p: &Path) -> u64 {
        std::fs::read_dir(p)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| {
                        let p = e.path();
                        if p.is_dir() { walk(&p) } else { e.metadata().map(|m| m.len()).unwrap_or(0) }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }
    walk(&index_dir(lake))
}
