//! The sink of an ingest: deduplicates events, buffers rows per table and date partition within a
//! memory budget, and writes time-sorted, zstd-compressed Parquet files with bloom filters into the
//! run's staging folder.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, UInt32Array};
use datafusion::arrow::compute::{filter_record_batch, take_record_batch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use super::dedup::SeenEvents;
use crate::error::{Error, Result};
use crate::lake::Staging;
use crate::schema::{self, CLOUDTRAIL, NULL_PARTITION};

/// Rows per Parquet row group: small enough for statistics and bloom filters to prune well.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// False-positive rate of the bloom filters. A filter's size is a power of two: for the 30,000 to
/// 50,000 distinct addresses of a row group of flows, 1 % takes 64 KiB a column and 10 % 32 KiB
/// (the filters were 5 % of the flows' bytes at 1 %). A needle search then reads one row group in
/// ten that it need not (its lookup column only), against one in a hundred.
const BLOOM_FPP: f64 = 0.1;
/// Rows gathered into the lake's schema at a time while a file is written.
const GATHER_ROWS: usize = 16 * 1024;
/// A partition's buffer is written out when it holds this many rows.
const FILE_ROWS: usize = 2 * 1024 * 1024;
/// A CloudTrail partition's buffer is written out sooner (a file of this many events holds some
/// 40 MB of records): its rows are indexed as the file is written, and waiting for two million
/// events would leave the index and the Parquet writers idle while the decoders read, then the
/// decoders idle while they catch up. Profiled on 141,591 real events in 8,164 files: decoding,
/// writing and indexing ran one after another.
const CT_FILE_ROWS: usize = 32 * 1024;

const DAY_MICROS: i64 = 86_400_000_000;

/// The `dt=` value of a time in microseconds.
pub fn partition_of(micros: Option<i64>) -> String {
    match micros.and_then(chrono::DateTime::from_timestamp_micros) {
        Some(t) => t.format("%Y-%m-%d").to_string(),
        None => NULL_PARTITION.to_string(),
    }
}

/// A Parquet file to write: its table, partition, name and rows.
type Job = (&'static str, String, String, Vec<RecordBatch>);

/// The threads that write the files of an ingest while the rows of the next ones come in, one
/// per core: writing (sorting, encoding, compressing) costs more than decoding, so the decoders
/// would otherwise wait for it. They share the search index, held only while a CloudTrail file is
/// named to it and while a slice of its rows is handed over (each file's rows reach it in order).
/// The rows of a file handed to them count against the memory budget until it is written.
struct Background {
    tx: Option<crossbeam_channel::Sender<(Job, usize)>>,
    /// The bytes of each file written (or the first failure).
    done: crossbeam_channel::Receiver<Result<usize>>,
    handles: Vec<std::thread::JoinHandle<()>>,
    index: Arc<std::sync::Mutex<Option<crate::search::Indexer>>>,
    /// Set when the run fails: the threads drop the files still queued rather than write them.
    stop: Arc<std::sync::atomic::AtomicBool>,
    /// Bytes of rows handed over and not yet written.
    bytes: usize,
    /// Files handed over and not yet acknowledged.
    pending: usize,
}

impl Background {
    fn start(staging: &Staging, index: Option<crate::search::Indexer>) -> Result<Background> {
        // Not bounded by count: the bytes handed over are, by the memory budget.
        let (tx, rx) = crossbeam_channel::unbounded::<(Job, usize)>();
        let (done_tx, done) = crossbeam_channel::unbounded();
        let index = Arc::new(std::sync::Mutex::new(index));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
        let mut handles = Vec::with_capacity(threads);
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        for n in 0..threads {
            let (rx, done_tx, index, stop) = (rx.clone(), done_tx.clone(), Arc::clone(&index), Arc::clone(&stop));
            let staging = Staging { dir: staging.dir.clone() };
            let handle = std::thread::Builder::new()
                .name(format!("trailflow-write-{n}"))
                .spawn(move || {
                    for ((table, dt, name, batches), bytes) in rx {
                        if stop.load(std::sync::atomic::Ordering::Relaxed) {
                            break;
                        }
                        let r = if table == CLOUDTRAIL {
                            write_parquet(&staging, table, &dt, &name, batches, Some(IndexSink::Shared(&index)))
                        } else {
                            write_parquet(&staging, table, &dt, &name, batches, None)
                        };
                        let failed = r.is_err();
                        if done_tx.send(r.map(|()| bytes)).is_err() || failed {
                            break;
                        }
                    }
                })
                .map_err(Error::PlainIo)?;
            handles.push(handle);
        }
        Ok(Background { tx: Some(tx), done, handles, index, stop, bytes: 0, pending: 0 })
    }

    /// Take the acknowledgements that came (waiting for one when `wait`), releasing their bytes.
    fn collect(&mut self, wait: bool) -> Result<()> {
        let mut first = wait && self.pending > 0;
        while self.pending > 0 {
            let r = if first {
                first = false;
                self.done.recv().map_err(|_| ())
            } else {
                match self.done.try_recv() {
                    Ok(r) => Ok(r),
                    Err(crossbeam_channel::TryRecvError::Empty) => return Ok(()),
                    Err(crossbeam_channel::TryRecvError::Disconnected) => Err(()),
                }
            };
            match r {
                Ok(r) => {
                    self.pending -= 1;
                    self.bytes -= r?;
                }
                Err(()) => return Err(Error::Internal("the Parquet writer thread stopped".into())),
            }
        }
        Ok(())
    }

    fn submit(&mut self, job: Job, bytes: usize) -> Result<()> {
        self.collect(false)?;
        let sent = self.tx.as_ref().is_some_and(|tx| tx.send((job, bytes)).is_ok());
        if !sent {
            // The thread stopped after a failure: its acknowledgement says which.
            self.collect(true)?;
            return Err(Error::Internal("the Parquet writer thread stopped".into()));
        }
        self.pending += 1;
        self.bytes += bytes;
        Ok(())
    }

    /// Wait for every file handed over; gives the search index back.
    fn join(mut self) -> Result<Option<crate::search::Indexer>> {
        self.tx = None;
        let waited = self.collect_all();
        let mut panicked = false;
        for h in self.handles.drain(..) {
            panicked |= h.join().is_err();
        }
        waited?;
        if panicked {
            return Err(Error::Internal("a Parquet writer thread failed".into()));
        }
        Ok(self.index.lock().unwrap_or_else(|p| p.into_inner()).take())
    }

    fn collect_all(&mut self) -> Result<()> {
        while self.pending > 0 {
            self.collect(true)?;
        }
        Ok(())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        // Dropped without `join`: the run failed, and its staging folder is removed.
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.tx = None;
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

#[derive(Default)]
struct PartBuf {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
    /// How many of the last `batches` are small ones not yet gathered into one, and their rows.
    small: usize,
    small_rows: usize,
}

/// A batch of fewer rows than this (a flow log file of a few hundred records, AWS's usual) is
/// gathered with the small ones after it into one batch of the lake's schema once they hold
/// [`GATHER_SMALL_ROWS`] rows: a file written from thousands of small batches looks each column
/// up in each batch for every slice it writes (13 % of the writers' time on 4,836 flow files).
const SMALL_BATCH_ROWS: usize = 8 * 1024;
const GATHER_SMALL_ROWS: usize = 32 * 1024;

impl PartBuf {
    /// Gather the trailing small batches into one; returns the change in bytes held.
    fn gather_small(&mut self, table: &str) -> Result<isize> {
        let Some(lake_schema) = schema::schema_of(table) else { return Ok(0) };
        if self.small < 2 {
            self.small = 0;
            self.small_rows = 0;
            return Ok(0);
        }
        let tail = self.batches.split_off(self.batches.len() - self.small);
        let rows: Vec<(usize, usize)> =
            tail.iter().enumerate().flat_map(|(b, batch)| (0..batch.num_rows()).map(move |r| (b, r))).collect();
        let before: usize = tail.iter().map(|b| b.get_array_memory_size()).sum();
        let one = schema::gather(&lake_schema, &tail, &rows)?;
        let after = one.get_array_memory_size();
        self.batches.push(one);
        self.bytes = (self.bytes + after).saturating_sub(before);
        self.small = 0;
        self.small_rows = 0;
        Ok(after as isize - before as isize)
    }
}

/// Writes a run's tables into its staging folder.
pub struct TableWriter<'a> {
    staging: &'a Staging,
    run_id: String,
    seq: usize,
    buffers: HashMap<(&'static str, String), PartBuf>,
    buffered_bytes: usize,
    memory_budget: usize,
    seen: SeenEvents,
    /// Duplicate events dropped, by `source_file`.
    pub duplicates_by_file: HashMap<String, u64>,
    /// The dropped copies not yet written to `event_copies`.
    copies: Vec<RecordBatch>,
    copies_rows: usize,
    pub rows: BTreeMap<&'static str, u64>,
    pub files_written: usize,
    /// The search index, fed each CloudTrail file as it is written (held by the background
    /// writer while it runs).
    pub index: Option<crate::search::Indexer>,
    background: Option<Background>,
}

impl<'a> TableWriter<'a> {
    pub fn new(staging: &'a Staging, run_id: &str, seen: SeenEvents, memory_budget: usize) -> Self {
        TableWriter {
            staging,
            run_id: run_id.to_string(),
            seq: 0,
            buffers: HashMap::new(),
            buffered_bytes: 0,
            memory_budget,
            seen,
            duplicates_by_file: HashMap::new(),
            copies: Vec::new(),
            copies_rows: 0,
            rows: BTreeMap::new(),
            files_written: 0,
            index: None,
            background: None,
        }
    }

    /// Add CloudTrail rows, given each row's [`super::dedup::event_key`]: rows of an event already
    /// stored are dropped.
    pub fn add_events(&mut self, batch: RecordBatch, keys: Vec<u128>) -> Result<()> {
        let batch = self.dedup_events(batch, &keys)?;
        self.add_rows(CLOUDTRAIL, batch)
    }

    /// Add rows to a table. CloudTrail rows whose event is already stored are dropped.
    pub fn add(&mut self, table: &'static str, batch: RecordBatch) -> Result<()> {
        if table == CLOUDTRAIL {
            let keys = super::dedup::event_keys(&batch);
            return self.add_events(batch, keys);
        }
        self.add_rows(table, batch)
    }

    fn add_rows(&mut self, table: &'static str, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        *self.rows.entry(table).or_default() += batch.num_rows() as u64;
        for (dt, part) in split_by_day(&batch, schema::time_column(table))? {
            let key = (table, dt);
            let buf = self.buffers.entry(key.clone()).or_default();
            let bytes = part.get_array_memory_size();
            buf.rows += part.num_rows();
            buf.bytes += bytes;
            let part_rows = part.num_rows();
            let small = part_rows < SMALL_BATCH_ROWS;
            buf.batches.push(part);
            self.buffered_bytes += bytes;
            if small {
                buf.small += 1;
                buf.small_rows += part_rows;
                if buf.small_rows >= GATHER_SMALL_ROWS {
                    let change = buf.gather_small(table)?;
                    self.buffered_bytes = self.buffered_bytes.saturating_add_signed(change);
                }
            } else {
                // A large batch ends the run of small ones before it (they stay as they are).
                buf.small = 0;
                buf.small_rows = 0;
            }
            // A third of the budget at most: one file filling while two are written.
            let file_rows = if table == CLOUDTRAIL { CT_FILE_ROWS } else { FILE_ROWS };
            if buf.rows >= file_rows || buf.bytes >= self.memory_budget / 3 {
                self.flush(&key)?;
            }
        }
        // Rows handed to the background writer count until they are written.
        loop {
            let writing = match self.background.as_mut() {
                Some(bg) => {
                    bg.collect(false)?;
                    bg.bytes
                }
                None => 0,
            };
            if self.buffered_bytes + writing <= self.memory_budget {
                break;
            }
            let largest = self.buffers.iter().max_by_key(|(_, b)| b.bytes).map(|(k, b)| (k.clone(), b.bytes));
            match largest {
                // A file being written frees its rows soon: wait for it rather than cut small
                // files out of the buffers.
                Some((_, bytes)) if writing > 0 && bytes < self.memory_budget / 4 => self.wait_for_writer()?,
                Some((key, _)) => self.flush(&key)?,
                None if writing > 0 => self.wait_for_writer()?,
                None => break,
            }
        }
        Ok(())
    }

    fn wait_for_writer(&mut self) -> Result<()> {
        match self.background.as_mut() {
            Some(bg) => bg.collect(true),
            None => Ok(()),
        }
    }

    fn dedup_events(&mut self, batch: RecordBatch, keys: &[u128]) -> Result<RecordBatch> {
        let ids = batch.column_by_name("event_id").expect("event_id").as_string::<i32>();
        let files = batch.column_by_name("source_file").expect("source_file").as_string::<i32>();
        let mut keep = Vec::with_capacity(ids.len());
        let mut dropped = 0;
        // One key per row, made by the decoder beside the batch.
        debug_assert_eq!(keys.len(), ids.len());
        for (i, &key) in keys.iter().enumerate() {
            let new = self.seen.insert(ids.value(i), key)?;
            if !new {
                dropped += 1;
                *self.duplicates_by_file.entry(files.value(i).to_string()).or_default() += 1;
            }
            keep.push(new);
        }
        if dropped == 0 {
            return Ok(batch);
        }
        let keep = BooleanArray::from(keep);
        let dropped_rows = filter_record_batch(&batch, &datafusion::arrow::compute::not(&keep)?)?;
        self.copies_rows += dropped_rows.num_rows();
        self.copies.push(dropped_rows.project(&[
            dropped_rows.schema().index_of("event_id")?,
            dropped_rows.schema().index_of("event_time")?,
            dropped_rows.schema().index_of("source_file")?,
            dropped_rows.schema().index_of("source_record")?,
        ])?);
        if self.copies_rows >= 64 * 1024 {
            self.flush_copies()?;
        }
        Ok(filter_record_batch(&batch, &keep)?)
    }

    /// Hand the dropped copies gathered so far to `event_copies`.
    fn flush_copies(&mut self) -> Result<()> {
        let batches = std::mem::take(&mut self.copies);
        self.copies_rows = 0;
        let schema = schema::EVENT_COPIES_SCHEMA.clone();
        for b in batches {
            // Each column of the table by its name: the run's id, the rest from the dropped rows.
            let run: ArrayRef =
                Arc::new(datafusion::arrow::array::StringArray::from(vec![self.run_id.as_str(); b.num_rows()]));
            let cols = schema
                .fields()
                .iter()
                .map(|f| match f.name().as_str() {
                    "run_id" => Ok(run.clone()),
                    name => b
                        .column_by_name(name)
                        .cloned()
                        .ok_or_else(|| Error::Internal(format!("event_copies: no {name}"))),
                })
                .collect::<Result<Vec<_>>>()?;
            self.add(schema::EVENT_COPIES, RecordBatch::try_new(schema.clone(), cols)?)?;
        }
        Ok(())
    }

    fn flush(&mut self, key: &(&'static str, String)) -> Result<()> {
        let Some(buf) = self.buffers.remove(key) else {
            return Ok(());
        };
        self.buffered_bytes -= buf.bytes;
        if self.background.is_none() {
            self.background = Some(Background::start(self.staging, self.index.take())?);
        }
        let name = self.next_name();
        self.files_written += 1;
        let bg = self.background.as_mut().expect("started above");
        bg.submit((key.0, key.1.clone(), name, buf.batches), buf.bytes)
    }

    /// Write rows as one sorted Parquet file of `table` in partition `dt` (see [`write_parquet`]),
    /// on this thread.
    pub fn write_file(&mut self, table: &'static str, dt: &str, batches: Vec<RecordBatch>) -> Result<()> {
        if batches.is_empty() {
            return Ok(());
        }
        let name = self.next_name();
        let index = self.index.as_mut().filter(|_| table == CLOUDTRAIL).map(IndexSink::Own);
        write_parquet(self.staging, table, dt, &name, batches, index)?;
        self.files_written += 1;
        Ok(())
    }

    fn next_name(&mut self) -> String {
        self.seq += 1;
        format!("part-{}-{:05}.parquet", self.run_id, self.seq)
    }

    /// Write every buffer out (by the background writers: the decoders are done, so they have
    /// every core) and wait for them; the search index comes back to [`TableWriter::index`].
    pub fn finish(&mut self) -> Result<()> {
        self.flush_copies()?;
        let mut keys: Vec<_> = self.buffers.keys().cloned().collect();
        keys.sort();
        for key in keys {
            self.flush(&key)?;
        }
        if let Some(bg) = self.background.take() {
            self.index = bg.join()?;
        }
        Ok(())
    }
}

/// Where the rows of a CloudTrail file being written go to be indexed: the run's indexer, held by
/// the caller or shared by the writing threads (locked only while the file is named and while a
/// slice of its rows is handed over, so that two files are written at once).
pub enum IndexSink<'a> {
    Own(&'a mut crate::search::Indexer),
    Shared(&'a std::sync::Mutex<Option<crate::search::Indexer>>),
}

impl IndexSink<'_> {
    fn with<T>(&mut self, f: impl FnOnce(&mut crate::search::Indexer) -> T) -> Option<T> {
        match self {
            IndexSink::Own(i) => Some(f(i)),
            IndexSink::Shared(m) => m.lock().unwrap_or_else(|p| p.into_inner()).as_mut().map(f),
        }
    }
}

/// Write rows as one sorted Parquet file of `table` in partition `dt`.
///
/// The rows are not gathered into one batch and then copied again in order: only the time
/// column is, to find the order; the rows are then taken in order straight from the batches as
/// they came, [`GATHER_ROWS`] at a time, written, and indexed. The memory a file needs beyond its
/// rows is one such slice and the encoded row group the Parquet writer holds.
pub fn write_parquet(
    staging: &Staging,
    table: &str,
    dt: &str,
    name: &str,
    batches: Vec<RecordBatch>,
    mut index: Option<IndexSink<'_>>,
) -> Result<()> {
    if batches.is_empty() {
        return Ok(());
    }
    let schema = batches[0].schema();
    let time_col = schema::time_column(table);
    let order = time_order(&batches, time_col)?;
    // Where each batch starts in the concatenation: a row's place there names its batch and
    // its row within it.
    let mut starts = Vec::with_capacity(batches.len());
    let mut total = 0usize;
    for b in &batches {
        starts.push(total);
        total += b.num_rows();
    }
    let locate = |i: u32| {
        let i = i as usize;
        let b = starts.partition_point(|&s| s <= i) - 1;
        (b, i - starts[b])
    };
    let lake_schema = schema::schema_of(table).unwrap_or_else(|| schema.clone());
    let index_file = index
        .as_mut()
        .and_then(|index| index.with(|i| i.begin_file(format!("{table}/{}={dt}/{name}", schema::PARTITION_COLUMN))));
    let path = staging.file_path(table, dt, name)?;
    let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
    let first_group: Vec<(usize, usize)> = order.iter().take(ROW_GROUP_ROWS).map(|&i| locate(i)).collect();
    let time_idx = lake_schema.index_of(time_col)?;
    let props = writer_properties(table, &lake_schema, time_idx, &|col| distinct_values(&batches, &first_group, col));
    drop(first_group);
    let mut writer = ArrowWriter::try_new(file, lake_schema.clone(), Some(props))?;
    let mut first = 0;
    // Gathered a slice at a time (the writer closes each row group at `ROW_GROUP_ROWS`): a
    // gathered row group of CloudTrail is hundreds of megabytes, two writers at once more.
    for group in order.chunks(GATHER_ROWS) {
        let group: Vec<(usize, usize)> = group.iter().map(|&i| locate(i)).collect();
        let rows = schema::gather(&lake_schema, &batches, &group)?;
        if let (Some(index), Some(file_no)) = (index.as_mut(), index_file) {
            index.with(|i| i.add_rows(file_no, first, &rows)).transpose()?;
        }
        // Indexed as the records are, stored with what two columns hold kept once.
        let rows = crate::lake::elide::store(table, rows)?;
        writer.write(&rows)?;
        first += rows.num_rows();
    }
    let file = writer.into_inner()?;
    file.sync_all().map_err(|e| Error::io(&path, e))?;
    crate::failpoint("after_data_file");
    Ok(())
}

/// The Parquet settings of every lake file, in one place. `distinct` estimates how many values a
/// column holds in a row group, to size its bloom filter.
///
/// Encodings per column, measured on flow logs and CloudTrail (`docs/lake.md`): the time column
/// and columns that count up with it as deltas; other integers (ports, packets, protocol, an end
/// time) plain, which zstd then compresses to about their entropy (half the size of deltas of
/// unordered values); ids and the raw record without a dictionary; other text with one.
pub fn writer_properties(
    table: &str,
    columns: &datafusion::arrow::datatypes::Schema,
    time_idx: usize,
    distinct: &dyn Fn(&str) -> u64,
) -> WriterProperties {
    use datafusion::parquet::basic::Encoding;
    let mut b = WriterProperties::builder()
        // zstd level 3: about the ratio of gzip at a fraction of its CPU cost.
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
        // Min/max per page as well as per row group, so the page index can skip pages.
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Readers may rely on the time order of each file.
        .set_sorting_columns(Some(vec![SortingColumn {
            column_idx: time_idx as i32,
            descending: false,
            nulls_first: false,
        }]))
        .set_created_by(format!("trailflow {}", env!("CARGO_PKG_VERSION")));
    let deltas = schema::delta_columns(table);
    let split = schema::split_columns(table);
    let unique = schema::unique_columns(table);
    for (i, f) in columns.fields().iter().enumerate() {
        use datafusion::arrow::datatypes::DataType::*;
        let name = f.name().as_str();
        let encoding = match f.data_type() {
            Int32 | Int64 | UInt32 | UInt64 | Timestamp(..) if i == time_idx || deltas.contains(&name) => {
                Encoding::DELTA_BINARY_PACKED
            }
            Int32 | Int64 | UInt32 | UInt64 if split.contains(&name) => Encoding::BYTE_STREAM_SPLIT,
            Int32 | Int64 | UInt32 | UInt64 | Timestamp(..) => Encoding::PLAIN,
            Utf8 if unique.contains(&name) => Encoding::DELTA_LENGTH_BYTE_ARRAY,
            _ => continue,
        };
        let path = ColumnPath::from(name);
        b = b.set_column_dictionary_enabled(path.clone(), false).set_column_encoding(path, encoding);
    }
    // Columns stored as something else than their values (`lake::elide`): statistics of the stored
    // values would mislead a reader that prunes by them.
    for col in schema::document_columns(table).iter().chain(crate::lake::elide::coded_columns(table)) {
        b = b.set_column_statistics_enabled(ColumnPath::from(*col), EnabledStatistics::None);
    }
    for col in schema::bloom_columns(table) {
        let path = ColumnPath::from(*col);
        b = b
            .set_column_bloom_filter_enabled(path.clone(), true)
            .set_column_bloom_filter_fpp(path.clone(), BLOOM_FPP)
            .set_column_bloom_filter_max_ndv(path, distinct(col).clamp(64, ROW_GROUP_ROWS as u64));
    }
    b.build()
}

/// How many values of a text column a row group holds, about: the distinct values of the file's
/// first row group (`rows`, as (batch, row)). A bloom filter sized for this many keeps its
/// false-positive rate; one sized for a row group of distinct values is several times larger
/// than it needs to be where values repeat (addresses, ARNs, interfaces). Filters come in powers
/// of two, whose slack covers groups that hold somewhat more (a quarter more, sized in, pushed the
/// flows' address filters of a third of the row groups from 32 to 64 KiB).
fn distinct_values(batches: &[RecordBatch], rows: &[(usize, usize)], column: &str) -> u64 {
    use datafusion::arrow::array::StringArray;
    use datafusion::arrow::datatypes::Int32Type;
    // Each batch's column as its text, and for a dictionary the keys that index it.
    let columns: Vec<Option<(&StringArray, Option<&datafusion::arrow::array::Int32Array>)>> = batches
        .iter()
        .map(|b| {
            let c = b.column_by_name(column)?;
            match c.as_dictionary_opt::<Int32Type>() {
                Some(d) => Some((d.values().as_string_opt::<i32>()?, Some(d.keys()))),
                None => Some((c.as_string_opt::<i32>()?, None)),
            }
        })
        .collect();
    let mut seen = std::collections::HashSet::new();
    for &(b, r) in rows {
        match columns[b] {
            Some((values, None)) if values.is_valid(r) => {
                seen.insert(values.value(r));
            }
            Some((values, Some(keys))) if keys.is_valid(r) => {
                seen.insert(values.value(keys.value(r) as usize));
            }
            Some(_) => {}
            // Not text here: size for a row group of distinct values (the caller's bound).
            None => return u64::MAX,
        }
    }
    seen.len() as u64
}

/// The rows of `batches` in time order (rows without a time last), as positions in their
/// concatenation. Rows of the same time keep the order they came in, that is file by file and
/// line by line: neighbours then share their file, their interface, their account, and every
/// column compresses better than in the arbitrary order of an unstable sort (and a run's files
/// are the same however often it is repeated).
fn time_order(batches: &[RecordBatch], time_col: &str) -> Result<Vec<u32>> {
    let total: usize = batches.iter().map(|b| b.num_rows()).sum();
    let Ok(total32) = u32::try_from(total) else {
        return Err(Error::Limit(format!("{total} rows for one Parquet file")));
    };
    let mut keys: Vec<(i64, u32)> = Vec::with_capacity(total);
    for b in batches {
        let at = keys.len() as u32;
        // Stored times lie before 2200 (`limits`): i64::MAX sorts the rows without one last (a
        // batch without the column has no times: a flow log format without `start`).
        match b.column_by_name(time_col).and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>()) {
            Some(times) => keys.extend(
                (0..times.len()).map(|i| (if times.is_valid(i) { times.value(i) } else { i64::MAX }, at + i as u32)),
            ),
            None => keys.extend((0..b.num_rows()).map(|i| (i64::MAX, at + i as u32))),
        }
    }
    debug_assert_eq!(keys.len(), total32 as usize);
    keys.sort_unstable();
    Ok(keys.into_iter().map(|(_, i)| i).collect())
}

/// Split a batch by the UTC day of its time column.
fn split_by_day(batch: &RecordBatch, time_col: &str) -> Result<Vec<(String, RecordBatch)>> {
    let Some(times) = batch.column_by_name(time_col).and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>())
    else {
        // No time column in these rows (a flow log format without `start`): the NULL partition.
        return Ok(vec![(partition_of(None), batch.clone())]);
    };
    let day = |i: usize| -> Option<i64> { times.is_valid(i).then(|| times.value(i).div_euclid(DAY_MICROS)) };
    let first = day(0);
    if (1..times.len()).all(|i| day(i) == first) {
        return Ok(vec![(partition_of(first.map(|d| d * DAY_MICROS)), batch.clone())]);
    }
    let mut groups: BTreeMap<Option<i64>, Vec<u32>> = BTreeMap::new();
    for i in 0..times.len() {
        groups.entry(day(i)).or_default().push(i as u32);
    }
    let mut out = Vec::with_capacity(groups.len());
    for (d, idx) in groups {
        let part = take_record_batch(batch, &UInt32Array::from(idx))?;
        out.push((partition_of(d.map(|d| d * DAY_MICROS)), part));
    }
    Ok(out)
}
