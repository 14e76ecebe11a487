//! The full-text index over CloudTrail: built by `ingest` from the same rows it writes to
//! Parquet, kept consistent with the lake after any crash, and searched by `trailflow search` and
//! the SQL table function `search('...')`.
//!
//! The index lives in `LAKE/index/` (tantivy). It holds what lookups need, not a copy of the
//! records: the event id and time, the run that wrote the event, every token of the record (field
//! `all`), the keyword fields for field-scoped terms, and `request_parameters` /
//! `response_elements` as JSON fields for path queries. The columns a result shows are tantivy
//! fast fields; the full record stays in Parquet (join back on `event_id`).
//!
//! Consistency: an ingest adds its events to the index while it writes Parquet, and commits the
//! index only after the lake run is committed, with the list of runs the index covers as the
//! commit's payload. Whoever next opens the lake compares that list with the runs that own
//! CloudTrail files and indexes any missing run again from its Parquet files (and drops a run the
//! lake no longer has), so a kill at any moment leaves index and Parquet telling the same story.

pub mod table;
pub mod tokenize;

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringBuilder, TimestampMicrosecondArray};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef, TimestampMicrosecondType};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, RangeQuery};
use tantivy::schema::{
    DateOptions, DateTimePrecision, Field, IndexRecordOption, JsonObjectOptions, STRING, Schema as TSchema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{TextAnalyzer, TokenizerManager};
use tantivy::{DateTime, DocId, Index, IndexWriter, Score, SegmentOrdinal, SegmentReader, TantivyDocument, Term};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::schema::{self, CLOUDTRAIL};

/// The index folder inside the lake.
pub const INDEX_DIR: &str = "index";
/// Memory tantivy may use for its in-progress segments while indexing.
const WRITER_MEMORY: usize = 96 << 20;
/// Name of the index-side tokenizer of text and JSON fields, and of the `raw` record.
const TOKENS: &str = "trailflow";
const JSON_TOKENS: &str = "trailflow_json";

/// Keyword columns of `cloudtrail` that can be searched field by field (`user_arn:...`).
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
];
/// Of those, the columns a search result shows (kept as fast fields in the index).
pub const SHOWN: &[&str] =
    &["event_name", "event_source", "aws_region", "source_ip", "user_arn", "access_key_id", "error_code"];
/// JSON columns searchable by path (`request_parameters.cidrBlock:"0.0.0.0/0"`).
pub const JSON_FIELDS: &[&str] = &["request_parameters", "response_elements"];

/// The columns the index is built from (all in `cloudtrail`).
pub fn source_columns() -> Vec<&'static str> {
    let mut c = vec!["event_id", "event_time", "raw"];
    c.extend(KEYWORDS);
    c.extend(JSON_FIELDS);
    c
}

struct Fields {
    event_id: Field,
    event_time: Field,
    run: Field,
    all: Field,
    keywords: Vec<(&'static str, Field)>,
    json: Vec<(&'static str, Field)>,
}

fn build_schema() -> TSchema {
    let mut b = TSchema::builder();
    b.add_text_field("event_id", STRING | tantivy::schema::FAST);
    b.add_date_field(
        "event_time",
        DateOptions::default().set_indexed().set_fast().set_precision(DateTimePrecision::Microseconds),
    );
    b.add_text_field("run", STRING);
    // Field-scoped terms and JSON paths are looked up as terms: documents only, no frequencies or
    // positions (phrases are for the whole record, `all`). This keeps the index small.
    let terms_only = TextFieldIndexing::default().set_tokenizer(TOKENS).set_index_option(IndexRecordOption::Basic);
    b.add_text_field(
        "all",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(JSON_TOKENS)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions)
                .set_fieldnorms(false),
        ),
    );
    for k in KEYWORDS {
        let mut opts = TextOptions::default().set_indexing_options(terms_only.clone().set_fieldnorms(false));
        if SHOWN.contains(k) {
            opts = opts.set_fast("raw");
        }
        b.add_text_field(k, opts);
    }
    for j in JSON_FIELDS {
        b.add_json_field(j, JsonObjectOptions::default().set_indexing_options(terms_only.clone().set_fieldnorms(false)));
    }
    b.build()
}

fn fields(schema: &TSchema) -> Result<Fields> {
    let f = |n: &str| schema.get_field(n).map_err(|e| Error::Invalid(format!("search index: {e}")));
    Ok(Fields {
        event_id: f("event_id")?,
        event_time: f("event_time")?,
        run: f("run")?,
        all: f("all")?,
        keywords: KEYWORDS.iter().map(|k| Ok((*k, f(k)?))).collect::<Result<_>>()?,
        json: JSON_FIELDS.iter().map(|k| Ok((*k, f(k)?))).collect::<Result<_>>()?,
    })
}

fn index_tokenizers() -> TokenizerManager {
    let m = TokenizerManager::default();
    m.register(TOKENS, TextAnalyzer::from(tokenize::IndexTokenizer::plain()));
    m.register(JSON_TOKENS, TextAnalyzer::from(tokenize::IndexTokenizer::json()));
    m
}

fn query_tokenizers() -> TokenizerManager {
    let m = TokenizerManager::default();
    m.register(TOKENS, TextAnalyzer::from(tokenize::QueryTokenizer::default()));
    m.register(JSON_TOKENS, TextAnalyzer::from(tokenize::QueryTokenizer::default()));
    m
}

fn tantivy_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("search index {what}: {e}"))
}

pub fn index_dir(lake: &Lake) -> PathBuf {
    lake.root.join(INDEX_DIR)
}

/// Open the index of a lake, creating it when absent.
fn open_or_create(lake: &Lake) -> Result<Index> {
    let dir = index_dir(lake);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mmap = tantivy::directory::MmapDirectory::open(&dir).map_err(|e| tantivy_err("open", e))?;
    let mut index = Index::open_or_create(mmap, build_schema()).map_err(|e| tantivy_err("open", e))?;
    index.set_tokenizers(index_tokenizers());
    Ok(index)
}

/// Open the index for reading; `None` when the lake has none yet.
fn open_existing(lake: &Lake) -> Result<Option<Index>> {
    let dir = index_dir(lake);
    if !dir.join("meta.json").is_file() {
        return Ok(None);
    }
    let mut index = Index::open_in_dir(&dir).map_err(|e| tantivy_err("open", e))?;
    index.set_tokenizers(index_tokenizers());
    Ok(Some(index))
}

/// The runs whose events a committed index holds (its commit payload).
fn indexed_runs(index: &Index) -> Result<BTreeSet<String>> {
    let meta = index.load_metas().map_err(|e| tantivy_err("read", e))?;
    Ok(match meta.payload {
        Some(p) => serde_json::from_str::<Payload>(&p).map(|p| p.runs).unwrap_or_default(),
        None => BTreeSet::new(),
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Payload {
    runs: BTreeSet<String>,
}

/// The run that wrote a lake file, from its name `part-<run>-<seq>.parquet`.
pub fn run_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    Some(stem.rsplit_once('-')?.0.to_string())
}

/// Every run that owns CloudTrail files, with its files.
fn lake_runs(lake: &Lake) -> Result<std::collections::BTreeMap<String, Vec<PathBuf>>> {
    let mut out: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for f in lake.table_files(CLOUDTRAIL)? {
        if let Some(run) = run_of(&f) {
            out.entry(run).or_default().push(f);
        }
    }
    Ok(out)
}

/// Turn rows of `cloudtrail` (with at least the columns of [`source_columns`]) into documents.
fn add_rows(writer: &IndexWriter, f: &Fields, run: &str, batch: &RecordBatch) -> Result<()> {
    let text = |name: &str| -> Option<ArrayRef> {
        batch.column_by_name(name).and_then(|c| datafusion::arrow::compute::cast(c, &DataType::Utf8).ok())
    };
    let (Some(ids), Some(times)) = (text("event_id"), batch.column_by_name("event_time")) else {
        return Err(Error::Invalid("search index: rows without event_id/event_time".into()));
    };
    let ids = ids.as_string::<i32>().clone();
    let times = times.as_primitive::<TimestampMicrosecondType>();
    let raw = text("raw");
    let keywords: Vec<(Field, Option<ArrayRef>)> = f.keywords.iter().map(|(n, fl)| (*fl, text(n))).collect();
    let json: Vec<(Field, Option<ArrayRef>)> = f.json.iter().map(|(n, fl)| (*fl, text(n))).collect();
    fn value(a: &Option<ArrayRef>, i: usize) -> Option<&str> {
        let a = a.as_ref()?.as_string::<i32>();
        a.is_valid(i).then(|| a.value(i))
    }
    for i in 0..batch.num_rows() {
        let mut doc = TantivyDocument::new();
        doc.add_text(f.event_id, ids.value(i));
        doc.add_date(f.event_time, DateTime::from_timestamp_micros(times.value(i)));
        doc.add_text(f.run, run);
        if let Some(r) = value(&raw, i) {
            doc.add_text(f.all, r);
        }
        for (field, col) in &keywords {
            if let Some(v) = value(col, i) {
                doc.add_text(*field, v);
            }
        }
        for (field, col) in &json {
            if let Some(v) = value(col, i)
                && let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(v)
            {
                let obj = map.into_iter().map(|(k, v)| (k, tantivy::schema::OwnedValue::from(v))).collect();
                doc.add_object(*field, obj);
            }
        }
        writer.add_document(doc).map_err(|e| tantivy_err("write", e))?;
    }
    Ok(())
}

/// Bring the index in line with the lake: index runs it misses (from their Parquet files) and
/// drop runs the lake does not have. Called with the lake's write lock held.
pub fn catch_up(lake: &Lake) -> Result<()> {
    let runs = lake_runs(lake)?;
    let index = match open_existing(lake)? {
        Some(i) => i,
        None if runs.is_empty() => return Ok(()),
        None => open_or_create(lake)?,
    };
    let have = indexed_runs(&index)?;
    let missing: Vec<&String> = runs.keys().filter(|r| !have.contains(*r)).collect();
    let extra: Vec<&String> = have.iter().filter(|r| !runs.contains_key(*r)).collect();
    if missing.is_empty() && extra.is_empty() {
        return Ok(());
    }
    let f = fields(&index.schema())?;
    let writer: IndexWriter = index.writer(WRITER_MEMORY).map_err(|e| tantivy_err("open writer", e))?;
    for run in missing.iter().chain(extra.iter()) {
        // A run half-added by an earlier attempt is removed before it is added again.
        writer.delete_term(Term::from_field_text(f.run, run));
    }
    let columns = source_columns();
    for run in &missing {
        crate::lake::existing::for_each_batch_in(&runs[*run], &columns, |b| add_rows(&writer, &f, run, b))?;
    }
    let payload = Payload { runs: runs.keys().cloned().collect() };
    commit(writer, &payload)
}

fn commit(mut writer: IndexWriter, payload: &Payload) -> Result<()> {
    let mut prepared = writer.prepare_commit().map_err(|e| tantivy_err("commit", e))?;
    prepared.set_payload(&serde_json::to_string(payload)?);
    prepared.commit().map_err(|e| tantivy_err("commit", e))?;
    writer.wait_merging_threads().map_err(|e| tantivy_err("merge", e))?;
    Ok(())
}

/// Adds a run's CloudTrail rows to the index on a thread of its own while the run writes Parquet.
pub struct Indexer {
    tx: Option<crossbeam_channel::Sender<RecordBatch>>,
    handle: Option<JoinHandle<Result<IndexWriter>>>,
    runs: BTreeSet<String>,
}

impl Indexer {
    /// Start indexing for run `run` (the index must be caught up with the lake: see [`catch_up`]).
    pub fn start(lake: &Lake, run: &str) -> Result<Indexer> {
        let index = open_or_create(lake)?;
        let mut runs = indexed_runs(&index)?;
        runs.insert(run.to_string());
        let f = fields(&index.schema())?;
        // Two indexing threads: the decoders and the Parquet writer use the other cores' time.
        let writer: IndexWriter =
            index.writer_with_num_threads(2, WRITER_MEMORY).map_err(|e| tantivy_err("open writer", e))?;
        let (tx, rx) = crossbeam_channel::bounded::<RecordBatch>(16);
        let run = run.to_string();
        let handle = std::thread::Builder::new()
            .name("trailflow-index".into())
            .spawn(move || -> Result<IndexWriter> {
                for batch in rx {
                    add_rows(&writer, &f, &run, &batch)?;
                }
                Ok(writer)
            })
            .map_err(Error::PlainIo)?;
        Ok(Indexer { tx: Some(tx), handle: Some(handle), runs })
    }

    /// Queue rows for the index (they are the rows written to Parquet, after deduplication).
    pub fn add(&mut self, batch: &RecordBatch) -> Result<()> {
        let sent = self.tx.as_ref().map(|tx| tx.send(batch.clone()).is_ok()).unwrap_or(false);
        if !sent {
            // The thread stopped: its error says why.
            return Err(self.join().err().unwrap_or_else(|| Error::Invalid("search index stopped".into())));
        }
        Ok(())
    }

    fn join(&mut self) -> Result<IndexWriter> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h.join().map_err(|_| Error::Invalid("search index thread failed".into()))?,
            None => Err(Error::Invalid("search index already finished".into())),
        }
    }

    /// Wait for every row to be indexed; the result is committed after the lake run is.
    pub fn finish(mut self) -> Result<PendingIndex> {
        let writer = self.join()?;
        Ok(PendingIndex { writer, payload: Payload { runs: std::mem::take(&mut self.runs) } })
    }
}

/// An index update ready to be committed once the lake run is committed.
pub struct PendingIndex {
    writer: IndexWriter,
    payload: Payload,
}

impl PendingIndex {
    pub fn commit(self) -> Result<()> {
        commit(self.writer, &self.payload)
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

/// Collects (time, segment, doc) of every hit.
struct TimeCollector;

struct TimeSegment {
    seg: SegmentOrdinal,
    times: tantivy::columnar::Column<DateTime>,
    hits: Vec<(i64, SegmentOrdinal, DocId)>,
}

impl Collector for TimeCollector {
    type Fruit = Vec<(i64, SegmentOrdinal, DocId)>;
    type Child = TimeSegment;
    fn for_segment(&self, seg: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<TimeSegment> {
        Ok(TimeSegment { seg, times: reader.fast_fields().date("event_time")?, hits: Vec::new() })
    }
    fn requires_scoring(&self) -> bool {
        false
    }
    fn merge_fruits(&self, fruits: Vec<Self::Fruit>) -> tantivy::Result<Self::Fruit> {
        Ok(fruits.into_iter().flatten().collect())
    }
}

impl SegmentCollector for TimeSegment {
    type Fruit = Vec<(i64, SegmentOrdinal, DocId)>;
    fn collect(&mut self, doc: DocId, _score: Score) {
        let t = self.times.first(doc).map(|d| d.into_timestamp_micros()).unwrap_or(i64::MIN);
        self.hits.push((t, self.seg, doc));
    }
    fn harvest(self) -> Self::Fruit {
        self.hits
    }
}

/// Is `name` a field a query may name (`event_name`, `request_parameters.cidrBlock`, ...)?
fn is_field(name: &str) -> bool {
    name == "event_id"
        || name == "event_time"
        || KEYWORDS.contains(&name)
        || JSON_FIELDS.iter().any(|j| name == *j || name.strip_prefix(j).is_some_and(|rest| rest.starts_with('.')))
}

/// Parse a query; a bad one gets a one-line message that names the problem.
fn parse(index: &Index, f: &Fields, req: &SearchRequest) -> Result<Box<dyn Query>> {
    let text = tokenize::prepare_query(&req.query, is_field);
    if text.trim().is_empty() {
        return Err(Error::Invalid("empty search query: give a needle, e.g. 45.137.21.9 or event_name:StopLogging".into()));
    }
    let mut parser = QueryParser::new(index.schema(), vec![f.all], query_tokenizers());
    parser.set_conjunction_by_default();
    let q = parser.parse_query(&text).map_err(|e| {
        Error::Invalid(format!("bad search query {:?}: {}", req.query, one_line(&e.to_string())))
    })?;
    if req.from.is_none() && req.to.is_none() {
        return Ok(q);
    }
    let bound = |t: Option<i64>, inclusive: bool| match t {
        Some(t) => {
            let term = Term::from_field_date(f.event_time, DateTime::from_timestamp_micros(t));
            if inclusive { Bound::Included(term) } else { Bound::Excluded(term) }
        }
        None => Bound::Unbounded,
    };
    let range = RangeQuery::new(bound(req.from, true), bound(req.to, false));
    Ok(Box::new(BooleanQuery::new(vec![(Occur::Must, q), (Occur::Must, Box::new(range))])))
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Run a search: the matching events, oldest first, as one batch of [`result_schema`].
pub fn search(lake: &Lake, req: &SearchRequest) -> Result<RecordBatch> {
    let schema = result_schema();
    lake.sync_index_if_idle()?;
    let Some(index) = open_existing(lake)? else {
        return Ok(RecordBatch::new_empty(schema));
    };
    let f = fields(&index.schema())?;
    let query = parse(&index, &f, req)?;
    let reader = index.reader().map_err(|e| tantivy_err("read", e))?;
    let searcher = reader.searcher();
    let mut hits = searcher.search(&query, &TimeCollector).map_err(|e| tantivy_err("search", e))?;
    hits.sort_unstable();
    if let Some(limit) = req.limit {
        hits.truncate(limit);
    }
    // Read the shown columns of each hit from the segments' fast fields.
    let mut times = Vec::with_capacity(hits.len());
    let mut shown: Vec<StringBuilder> = SHOWN.iter().map(|_| StringBuilder::new()).collect();
    let mut dts = StringBuilder::new();
    let mut cache: Vec<Option<Vec<Option<tantivy::columnar::StrColumn>>>> =
        (0..searcher.segment_readers().len()).map(|_| None).collect();
    // Most shown columns hold few distinct values (an actor, a key, an event name): each term of
    // a segment's column is looked up in its dictionary once.
    let mut terms: HashMap<(SegmentOrdinal, usize, u64), String> = HashMap::new();
    // Event ids are unique: their terms are read per segment in dictionary order, in one pass.
    let mut id_ords: HashMap<SegmentOrdinal, Vec<(u64, usize)>> = HashMap::new();
    for (i, (t, seg, doc)) in hits.iter().enumerate() {
        let cols = match &mut cache[*seg as usize] {
            Some(c) => c,
            slot => {
                let ff = searcher.segment_reader(*seg).fast_fields();
                let mut cols = vec![ff.str("event_id").map_err(|e| tantivy_err("read", e))?];
                for n in SHOWN {
                    cols.push(ff.str(n).map_err(|e| tantivy_err("read", e))?);
                }
                slot.insert(cols)
            }
        };
        if let Some(ord) = cols[0].as_ref().and_then(|c| c.term_ords(*doc).next()) {
            id_ords.entry(*seg).or_default().push((ord, i));
        }
        let mut value = |col: usize| -> Option<String> {
            let c = cols[col].as_ref()?;
            let ord = c.term_ords(*doc).next()?;
            if let Some(s) = terms.get(&(*seg, col, ord)) {
                return Some(s.clone());
            }
            let mut s = String::new();
            c.ord_to_str(ord, &mut s).ok()?.then_some(())?;
            terms.insert((*seg, col, ord), s.clone());
            Some(s)
        };
        times.push(*t);
        for (k, b) in shown.iter_mut().enumerate() {
            b.append_option(value(k + 1));
        }
        dts.append_value(crate::ingest::writer::partition_of(Some(*t)));
    }
    let mut id_values: Vec<String> = vec![String::new(); hits.len()];
    for (seg, mut pairs) in id_ords {
        pairs.sort_unstable();
        let Some(col) = cache[seg as usize].as_ref().and_then(|c| c[0].as_ref()) else { continue };
        let ords: Vec<u64> = pairs.iter().map(|p| p.0).collect();
        let mut next = pairs.iter().map(|p| p.1);
        col.dictionary()
            .sorted_ords_to_term_cb(&ords, |bytes| {
                if let Some(i) = next.next() {
                    id_values[i] = String::from_utf8_lossy(bytes).into_owned();
                }
            })
            .map_err(|e| tantivy_err("read", e))?;
    }
    let mut ids = StringBuilder::new();
    for v in &id_values {
        ids.append_value(v);
    }
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(TimestampMicrosecondArray::from(times).with_timezone("UTC")),
        Arc::new(ids.finish()) as ArrayRef,
    ];
    columns.extend(shown.into_iter().map(|mut b| Arc::new(b.finish()) as ArrayRef));
    columns.push(Arc::new(dts.finish()));
    Ok(RecordBatch::try_new(schema, columns)?)
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
