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

pub mod index;
pub mod indexer;
pub mod query;
pub mod readonly;
pub mod table;
pub mod tokenize;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, UInt32Array};
use datafusion::arrow::compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef, TimestampMicrosecondType};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::{ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection};
use datafusion::parquet::file::metadata::PageIndexPolicy;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DateTime, DocId, Score, SegmentReader, Term};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::schema;
pub use index::{INDEX_DIR, Merging, index_bytes};
use index::{Payload, fields, index_dir, lake_runs, open_read_only, run_of, tantivy_err};
pub use indexer::{Indexer, PendingIndex, catch_up};

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
                // and at no file a compaction replaced.
                && p.files.iter().filter(|f| !f.is_empty()).all(|f| lake.root.join(f).is_file())
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
                return Err(Error::Lake(format!(
                    "the search index of the lake at {} is damaged or does not cover all of its CloudTrail events, \
                        and this process cannot rebuild it ({e}): make the lake writable, or search a copy (cp -r); \
                        SQL over the lake is not affected",
                    lake.root.display()
                )));
            }
            Err(None) if started.elapsed() > INDEX_WAIT => {
                return Err(Error::Lake(format!(
                    "the search index of the lake at {} is being brought up to date by the process writing the lake: \
                        try again when it is done",
                    lake.root.display()
                )));
            }
            Err(None) => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
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
        return Err(Error::BadQuery(
            "empty search query: give a needle, e.g. 45.137.21.9 or event_name:StopLogging".into(),
        ));
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
    // The events are read from the files the index names: no compaction removes them meanwhile.
    let _lease = lake.reader_lease()?;
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
    // (file, (first time, last time, rows)).
    type FileHits = (u32, (i64, i64, Vec<usize>));
    let mut files: Vec<FileHits> = by_file.into_iter().collect();
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
            Error::Lake(format!(
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
fn read_rows(
    path: &Path,
    rows: &[usize],
    columns: &[&str],
    each: &mut dyn FnMut(RecordBatch) -> Result<()>,
) -> Result<()> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new_with_options(
        file,
        ArrowReaderOptions::new().with_page_index_policy(PageIndexPolicy::Optional),
    )
    .map_err(|e| Error::Lake(format!("{}: {e}", path.display())))?;
    let file_schema = Arc::clone(builder.schema());
    let mut idx: Vec<usize> = columns
        .iter()
        .map(|c| file_schema.index_of(c).map_err(|_| Error::Lake(format!("{}: no column {c}", path.display()))))
        .collect::<Result<_>>()?;
    // The columns that put back what the asked ones store in part (`lake::elide`).
    let asked = idx.len();
    idx.extend(
        crate::lake::elide::sources(schema::CLOUDTRAIL, columns).iter().filter_map(|c| file_schema.index_of(c).ok()),
    );
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
    let order: Vec<usize> =
        idx[..asked].iter().map(|i| sorted.iter().position(|s| s == i).expect("projected")).collect();
    for b in reader {
        let b = crate::lake::elide::restore(schema::CLOUDTRAIL, b?)?;
        each(b.project(&order)?)?;
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
