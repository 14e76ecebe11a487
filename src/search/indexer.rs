//! Building the index: the tokens of each event (and the repeated values indexed once), added by
//! threads of their own as an ingest writes its CloudTrail files, or from the Parquet files of the
//! runs the index misses ([`catch_up`]).

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::datatypes::TimestampMicrosecondType;
use tantivy::indexer::UserOperation;
use tantivy::query::RangeQuery;
use tantivy::{DateTime, IndexWriter, TantivyDocument, Term};

use super::index::{
    Fields, Merging, Payload, WRITER_MEMORY, commit, commit_only, fields, lake_runs, open_existing, open_or_create,
    relative, run_of, tantivy_err,
};
use super::tokenize;
use crate::error::{Error, Result};
use crate::lake::Lake;

/// Rows handed to an indexing thread at a time.
pub(super) const CHUNK_ROWS: usize = 8192;
/// The columns the index is built from.
pub(super) const SOURCE_COLUMNS: [&str; 3] = ["event_id", "event_time", "raw"];
/// Scratch space of one indexing thread.
#[derive(Default)]
pub(super) struct Tokens {
    terms: Vec<u64>,
    value: String,
    lc: String,
    vids: Vec<u64>,
    /// What values seen lately stand for (event names, ARNs, user agents repeat from event to event).
    cache: std::collections::HashMap<u128, Cached, std::hash::BuildHasherDefault<KeyHasher>>,
}

/// The cache's keys are hashes already: their low bits are used as they are.
#[derive(Default)]
pub(super) struct KeyHasher(u64);

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

pub(super) enum Cached {
    /// The value's terms, held by each event that holds the value.
    Terms(Vec<u64>),
    /// The id of the value's own document.
    Value(u64),
}

/// A value with at least this many terms, all exact, is indexed once as a value document.
pub(super) const VALUE_TERMS: usize = 4;

/// Values whose terms an indexing thread remembers, at most.
pub(super) const CACHED_VALUES: usize = 1 << 18;

/// Add rows of `cloudtrail` (with at least [`SOURCE_COLUMNS`]) that are rows `first..` of file
/// number `file`.
pub(super) fn add_rows(
    writer: &IndexWriter,
    f: Fields,
    file: u32,
    first: usize,
    batch: &RecordBatch,
    t: &mut Tokens,
) -> Result<()> {
    let col = |name: &str| {
        batch.column_by_name(name).ok_or_else(|| Error::Internal(format!("search index: rows without {name}")))
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
    // Files a compaction replaced: their run may live on in its other files.
    let gone: Vec<usize> = (0..payload.files.len())
        .filter(|&n| !payload.files[n].is_empty() && !lake.root.join(&payload.files[n]).is_file())
        .collect();
    if missing.is_empty()
        && extra.is_empty()
        && gone.is_empty()
        && index.load_metas().is_ok_and(|m| m.payload.is_some())
    {
        return Ok(());
    }
    let f = fields(&index.schema())?;
    let writer: IndexWriter = index.writer(WRITER_MEMORY).map_err(|e| tantivy_err("open writer", e))?;
    for n in gone {
        let n = n as u64;
        let at = |v: u64| Term::from_field_u64(f.at, v);
        let files = RangeQuery::new(Bound::Included(at(n << 32)), Bound::Excluded(at((n + 1) << 32)));
        writer.delete_query(Box::new(files)).map_err(|e| tantivy_err("delete", e))?;
        payload.files[n as usize].clear();
    }
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
            crate::lake::read::for_each_batch_in(
                crate::schema::CLOUDTRAIL,
                std::slice::from_ref(path),
                &SOURCE_COLUMNS,
                |b| {
                    add_rows(&writer, f, file, first, b, &mut t)?;
                    first += b.num_rows();
                    Ok(())
                },
            )?;
        }
        payload.runs.insert((*run).clone());
    }
    commit(writer, &payload)?;
    super::index::share_files(lake);
    Ok(())
}

/// A slice of a file for an indexing thread: file number, first row, rows.
pub(super) type Chunk = (u32, usize, RecordBatch);

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
            Arc::new(index.writer_with_num_threads(2, WRITER_MEMORY).map_err(|e| tantivy_err("open writer", e))?);
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

    /// Name the next CloudTrail file to index by its final place in the lake
    /// (`cloudtrail/dt=.../part-....parquet`); its number for [`Indexer::add_rows`], which queues
    /// its rows as written, in order.
    pub fn begin_file(&mut self, relative_path: String) -> u32 {
        let file = self.payload.files.len() as u32;
        self.payload.files.push(relative_path);
        file
    }

    /// Index rows of file `file`, the first of them at row `first` of that file.
    pub fn add_rows(&mut self, file: u32, first: usize, rows: &RecordBatch) -> Result<()> {
        let idx: Vec<usize> = SOURCE_COLUMNS.iter().filter_map(|c| rows.schema().index_of(c).ok()).collect();
        let rows = rows.project(&idx)?;
        let mut done = 0;
        while done < rows.num_rows() {
            let len = CHUNK_ROWS.min(rows.num_rows() - done);
            let sent = self.tx.as_ref().is_some_and(|tx| tx.send((file, first + done, rows.slice(done, len))).is_ok());
            if !sent {
                // A thread stopped: its error says why.
                return Err(self.join().err().unwrap_or_else(|| Error::Internal("search index stopped".into())));
            }
            done += len;
        }
        Ok(())
    }

    fn join(&mut self) -> Result<()> {
        self.tx = None;
        let mut result = Ok(());
        for h in self.handles.drain(..) {
            let r = h.join().map_err(|_| Error::Internal("search index thread failed".into())).and_then(|r| r);
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
        let writer = Arc::try_unwrap(writer).map_err(|_| Error::Internal("search index writer still in use".into()))?;
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
