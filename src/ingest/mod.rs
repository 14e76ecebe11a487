//! The ingest pipeline: a walker thread finds units (files and archive members), worker threads
//! decode them in parallel, and the calling thread writes the lake; bounded channels between the
//! stages keep memory bounded whatever the input size.

pub mod dedup;
pub mod file;
pub mod inventory_time;
pub mod paths;
pub mod summary;
pub mod source;
pub mod writer;

use std::collections::HashSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::decode::cloudtrail::NaclEvent;
use crate::decode::inventory::InvItem;
use crate::error::{Error, Result};
use crate::lake::Lake;

use crate::schema::{INGEST_ERRORS, INGESTED_FILES, INVENTORY};
use file::{FileResult, Msg};
use summary::{ErrorRow, Severity, Summary};
use source::{Unit, Walker};
use writer::{TableWriter, partition_of};

/// How an ingest runs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub lake: PathBuf,
    pub inputs: Vec<PathBuf>,
    /// When the inventory snapshots were taken (microseconds); inferred when absent.
    pub inventory_time: Option<i64>,
    /// Draw a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Decoder threads; the machine's cores by default.
    pub threads: Option<usize>,
    /// Bytes of rows the writer may buffer before it writes files out.
    pub memory_budget: usize,
    /// Build the search index in the same pass (otherwise the next search builds it from Parquet).
    pub index: bool,
    /// The bounds on nesting, record, document, line and member sizes.
    pub limits: crate::limits::Limits,
}

impl IngestOptions {
    pub fn new(lake: impl Into<PathBuf>, inputs: Vec<PathBuf>) -> Self {
        IngestOptions {
            lake: lake.into(),
            inputs,
            inventory_time: None,
            progress: false,
            threads: None,
            memory_budget: 384 << 20,
            index: true,
            limits: crate::limits::Limits::default(),
        }
    }
}

/// Maximum error rows printed in the summary.
const SUMMARY_REJECTED: usize = 20;

/// The bytes of the regular files under a path, for the progress bar (links are not followed,
/// as the walk does not follow them to folders).
fn input_bytes(p: &Path) -> u64 {
    let mut total = 0;
    let mut dirs = vec![p.to_path_buf()];
    if std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
        return std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    }
    while let Some(d) = dirs.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(|e| e.ok()) {
            match e.file_type() {
                Ok(t) if t.is_dir() => dirs.push(e.path()),
                Ok(t) if t.is_file() => total += e.metadata().map(|m| m.len()).unwrap_or(0),
                _ => {}
            }
        }
    }
    total
}

fn run_id() -> String {
    let now = chrono::Utc::now();
    format!("{}-{}", now.format("%Y%m%dT%H%M%S%6fZ"), std::process::id())
}

/// Load inputs into the lake. Returns the run's summary; input that was rejected is in it (and in
/// `ingest_errors`), never a reason to fail. Fails only when the lake cannot be written.
pub fn ingest(opts: &IngestOptions) -> Result<Summary> {
    for input in &opts.inputs {
        if !input.exists() {
            return Err(Error::InputNotFound(input.clone()));
        }
    }
    let started = Instant::now();
    let lake = Lake::new(&opts.lake);
    let lock = lake.lock_for_write()?;
    // The search index follows the lake: runs committed to the lake but not to the index are
    // indexed from their Parquet files before this run adds its own.
    crate::search::catch_up(&lake)?;
    let known = dedup::known_files(&lake)?;
    let claimed: file::Claims = Mutex::new(known.keys().map(|k| (k.clone(), None)).collect());
    let known_errors = dedup::known_errors(&lake)?;
    let seen = dedup::SeenEvents::load(&lake)?;
    let run_id = run_id();
    let staging = lake.begin(&run_id, &lock)?;
    let mut writer = TableWriter::new(&staging, &run_id, seen, opts.memory_budget);
    if opts.index {
        writer.index = Some(crate::search::Indexer::start(&lake, &run_id)?);
    }
    let mut acc = Accumulated::default();
    let outcome = pipeline(opts, &claimed, &mut writer, &mut acc).and_then(|()| writer.finish());
    if let Err(e) = outcome {
        drop(writer);
        lake.abort(staging);
        return Err(e);
    }
    let mut summary = Summary { lake: opts.lake.display().to_string(), run_id: run_id.clone(), ..Default::default() };
    let finish = finish_run(&lake, opts, &mut writer, acc, &Known { files: known, errors: known_errors }, &run_id, &mut summary);
    if let Err(e) = finish {
        drop(writer);
        lake.abort(staging);
        return Err(e);
    }
    for (t, n) in &writer.rows {
        summary.rows.insert(t.to_string(), *n);
    }
    let index = match writer.index.take().map(|i| i.finish()).transpose() {
        Ok(i) => i,
        Err(e) => {
            drop(writer);
            lake.abort(staging);
            return Err(e);
        }
    };
    drop(writer);
    // Readers wait while the run moves into place and the index takes it, so none sees one
    // without the other.
    let publishing = lake.publish_exclusive()?;
    lake.commit(staging, &lock, &publishing)?;
    // The index is committed after the lake run: a kill in between is repaired by the next opener,
    // which indexes this run again from its Parquet files.
    crate::failpoint("before_index_commit");
    let merging = index.map(|i| i.commit()).transpose()?;
    drop(publishing);
    if let Some(m) = merging {
        m.wait()?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What the writer gathers besides table rows.
#[derive(Default)]
struct Accumulated {
    results: Vec<Box<FileResult>>,
    loose_errors: Vec<ErrorRow>,
    copies: Vec<file::CopyOf>,
    ignored: u64,
}

/// What the lake held before the run: file contents and reported problems.
struct Known {
    files: std::collections::HashMap<String, dedup::KnownFile>,
    errors: HashSet<(String, String)>,
}

/// One row of `ingested_files`.
struct FileRow<'a> {
    file_id: &'a str,
    source_file: &'a str,
    kind: &'a str,
    format: Option<&'a str>,
    size: u64,
    records: u64,
    rows_loaded: i64,
    duplicates: i64,
    errors: u64,
    first: Option<i64>,
    last: Option<i64>,
    account: Option<String>,
    region: Option<String>,
    status: &'a str,
    duplicate_of: Option<&'a str>,
}

fn pipeline(
    opts: &IngestOptions,
    claimed: &file::Claims,
    writer: &mut TableWriter<'_>,
    acc: &mut Accumulated,
) -> Result<()> {
    let threads =
        opts.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)).max(1);
    let (unit_tx, unit_rx) = crossbeam_channel::bounded::<Unit>(threads * 2);
    let (msg_tx, msg_rx) = crossbeam_channel::bounded::<Msg>(threads * 8);
    let pb = progress_bar(opts);
    std::thread::scope(|scope| -> Result<()> {
        // Stage 1: discovery.
        let walker_msgs = msg_tx.clone();
        let inputs = opts.inputs.clone();
        let walker = scope.spawn(move || {
            let mut emit = |u: Unit| {
                let _ = unit_tx.send(u);
            };
            let mut error = |e: ErrorRow| {
                let _ = walker_msgs.send(Msg::Error(e));
            };
            let mut w = Walker::new(&mut emit, &mut error, opts.limits, &inputs);
            for input in &inputs {
                w.walk(input);
            }
            w.ignored
        });
        // Stage 2: decoding, in parallel.
        for _ in 0..threads {
            let rx = unit_rx.clone();
            let tx = msg_tx.clone();
            let pb = pb.clone();
            scope.spawn(move || {
                for unit in rx {
                    let size = unit.size;
                    let mut send = |m: Msg| {
                        let _ = tx.send(m);
                    };
                    file::decode_unit(unit, claimed, &opts.limits, &mut send);
                    pb.inc(size);
                }
            });
        }
        drop(unit_rx);
        drop(msg_tx);
        // Stage 3: writing, on this thread.
        for msg in msg_rx.iter() {
            match msg {
                Msg::Batch(table, batch) => writer.add(table, batch)?,
                Msg::Done(res) => acc.results.push(res),
                Msg::Copy(c) => acc.copies.push(c),
                Msg::Error(e) => acc.loose_errors.push(e),
            }
        }
        acc.ignored = walker.join().unwrap_or(0);
        Ok(())
    })?;
    pb.finish_and_clear();
    Ok(())
}

fn progress_bar(opts: &IngestOptions) -> ProgressBar {
    if !opts.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: u64 = opts.inputs.iter().map(|p| input_bytes(p)).sum();
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{spinner} ingest [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    pb
}

fn opt_ts(v: Option<i64>) -> Option<String> {
    v.map(crate::time::fmt_time)
}

/// After the data: inventory with its time, `ingested_files`, `ingest_errors`, and the summary.
fn finish_run(
    lake: &Lake,
    opts: &IngestOptions,
    writer: &mut TableWriter<'_>,
    acc: Accumulated,
    known: &Known,
    run_id: &str,
    summary: &mut Summary,
) -> Result<()> {
    let now = chrono::Utc::now().timestamp_micros();
    let mut results = acc.results;
    results.sort_by(|a, b| a.source_file.cmp(&b.source_file));
    // A problem not tied to a decoded file (an unreadable archive, a link not followed) is
    // recorded once, not again by every run that finds it.
    let mut seen_errors = HashSet::new();
    let mut errors: Vec<ErrorRow> = acc
        .loose_errors
        .into_iter()
        .filter(|e| {
            let key = (e.source_file(), e.reason.clone());
            !known.errors.contains(&key) && seen_errors.insert(key)
        })
        .collect();
    // Copies: a file whose content this run or the lake already holds is named in
    // `ingested_files` (status `duplicate`) unless the lake already names it under that path.
    let kinds_in_run: std::collections::HashMap<&str, &'static str> =
        results.iter().map(|r| (r.file_id.as_str(), r.kind.map(|k| k.as_str()).unwrap_or("unknown"))).collect();
    let mut copies: Vec<(file::CopyOf, String, String)> = Vec::new();
    let mut copy_list = acc.copies;
    copy_list.sort_by(|a, b| a.source_file.cmp(&b.source_file));
    for c in copy_list {
        summary.evidence.push((c.source_file.clone(), c.file_id.clone()));
        match c.first_in_run.clone() {
            Some(first) if first == c.source_file => summary.files_already_in_lake += 1,
            Some(first) => {
                let kind = kinds_in_run.get(c.file_id.as_str()).copied().unwrap_or("unknown").to_string();
                copies.push((c, first, kind));
            }
            None => match known.files.get(&c.file_id) {
                Some(k) if k.names.contains(&c.source_file) => summary.files_already_in_lake += 1,
                Some(k) => {
                    let (first, kind) = (k.first.clone(), k.kind.clone());
                    copies.push((c, first, kind));
                }
                None => summary.files_already_in_lake += 1,
            },
        }
    }
    summary.files_copies = copies.len() as u64;
    let mut inventory: Vec<(String, InvItem)> = Vec::new();
    let mut nacl_events: Vec<NaclEvent> = Vec::new();
    let mut first: Option<i64> = None;
    let mut last: Option<i64> = None;
    summary.files_ignored = acc.ignored;
    summary.errors = errors.len() as u64;
    summary.files_rejected = errors.len() as u64;
    for r in results.iter_mut() {
        summary.evidence.push((r.source_file.clone(), r.file_id.clone()));
        let dups = writer.duplicates_by_file.get(&r.source_file).copied().unwrap_or(0);
        summary.duplicate_events += dups;
        summary.records += r.records;
        summary.errors += r.error_count;
        summary.warnings += r.warning_count;
        if r.status() == "rejected" {
            summary.files_rejected += 1;
        } else {
            summary.files_loaded += 1;
        }
        let kind = r.kind.map(|k| k.as_str()).unwrap_or("unknown");
        *summary.files_by_kind.entry(kind.to_string()).or_default() += 1;
        summary.accounts.extend(r.accounts.iter().cloned());
        summary.regions.extend(r.regions.iter().cloned());
        let info = paths::path_info(&r.source_file);
        if r.rows > 0 || !r.inventory.is_empty() {
            summary.accounts.extend(info.account_id.clone());
            summary.regions.extend(info.region.clone());
        }
        if r.first_time.is_some() {
            first = Some(first.map_or(r.first_time.unwrap_or(0), |f| f.min(r.first_time.unwrap_or(f))));
        }
        if r.last_time.is_some() {
            last = Some(last.map_or(r.last_time.unwrap_or(0), |l| l.max(r.last_time.unwrap_or(l))));
        }
        errors.append(&mut r.errors);
        inventory.extend(r.inventory.drain(..).map(|i| (r.source_file.clone(), i)));
        nacl_events.append(&mut r.nacl_events);
    }
    summary.files_seen = results.len() as u64 + copies.len() as u64 + summary.files_already_in_lake;
    summary.first_time = opt_ts(first);
    summary.last_time = opt_ts(last);

    // Inventory, at its snapshot time.
    if !inventory.is_empty() {
        let (time, basis) = match opts.inventory_time {
            Some(t) => (t, "given with --inventory-time".to_string()),
            None => {
                let (mut lake_events, lake_newest) = inventory_time::nacl_events(lake)?;
                lake_events.append(&mut nacl_events);
                let newest = match (lake_newest, last) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    (a, b) => a.or(b),
                };
                let items: Vec<InvItem> = inventory.iter().map(|(_, i)| i.clone()).collect();
                inventory_time::infer(&items, &lake_events, newest)
            }
        };
        summary.inventory_time = Some(crate::time::fmt_time(time));
        summary.inventory_time_basis = Some(basis.clone());
        let n = inventory.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(TimestampMicrosecondArray::from(vec![time; n]).with_timezone("UTC")),
            Arc::new(StringArray::from(vec![basis.as_str(); n])),
            Arc::new(StringArray::from_iter_values(inventory.iter().map(|(_, i)| i.kind))),
            Arc::new(StringArray::from_iter(inventory.iter().map(|(_, i)| i.resource_id.as_deref()))),
            Arc::new(StringArray::from_iter(inventory.iter().map(|(_, i)| i.account_id.as_deref()))),
            Arc::new(StringArray::from_iter(inventory.iter().map(|(_, i)| i.region.as_deref()))),
            Arc::new(StringArray::from_iter(inventory.iter().map(|(_, i)| i.vpc_id.as_deref()))),
            Arc::new(StringArray::from_iter_values(inventory.iter().map(|(_, i)| i.item.as_str()))),
            Arc::new(StringArray::from_iter_values(inventory.iter().map(|(f, _)| f.as_str()))),
        ];
        writer.write_file(INVENTORY, &partition_of(Some(time)), vec![writer::batch(INVENTORY, cols)?])?;
        summary.rows.insert(INVENTORY.to_string(), n as u64);
    }

    // ingested_files: one row per file decoded in this run, and one per copy it named.
    let mut file_rows: Vec<FileRow<'_>> = Vec::with_capacity(results.len() + copies.len());
    for r in &results {
        let info = paths::path_info(&r.source_file);
        let dups = writer.duplicates_by_file.get(&r.source_file).copied().unwrap_or(0) as i64;
        file_rows.push(FileRow {
            file_id: &r.file_id,
            source_file: &r.source_file,
            kind: r.kind.map(|k| k.as_str()).unwrap_or("unknown"),
            format: r.format.as_deref(),
            size: r.size,
            records: r.records,
            rows_loaded: r.rows as i64 - dups,
            duplicates: dups,
            errors: r.error_count,
            first: r.first_time,
            last: r.last_time,
            account: info.account_id.or_else(|| r.accounts.iter().next().cloned()),
            region: info.region.or_else(|| r.regions.iter().next().cloned()),
            status: r.status(),
            duplicate_of: None,
        });
    }
    for (c, first, kind) in &copies {
        let info = paths::path_info(&c.source_file);
        file_rows.push(FileRow {
            file_id: &c.file_id,
            source_file: &c.source_file,
            kind,
            format: None,
            size: c.size,
            records: 0,
            rows_loaded: 0,
            duplicates: 0,
            errors: 0,
            first: None,
            last: None,
            account: info.account_id,
            region: info.region,
            status: "duplicate",
            duplicate_of: Some(first),
        });
    }
    if !file_rows.is_empty() {
        let n = file_rows.len();
        let ts = |v: Vec<Option<i64>>| Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![run_id; n])),
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
            Arc::new(StringArray::from_iter_values(file_rows.iter().map(|r| r.file_id))),
            Arc::new(StringArray::from_iter_values(file_rows.iter().map(|r| r.source_file))),
            Arc::new(StringArray::from_iter_values(file_rows.iter().map(|r| r.kind))),
            Arc::new(StringArray::from_iter(file_rows.iter().map(|r| r.format))),
            Arc::new(Int64Array::from_iter_values(file_rows.iter().map(|r| r.size as i64))),
            Arc::new(Int64Array::from_iter_values(file_rows.iter().map(|r| r.records as i64))),
            Arc::new(Int64Array::from_iter_values(file_rows.iter().map(|r| r.rows_loaded))),
            Arc::new(Int64Array::from_iter_values(file_rows.iter().map(|r| r.duplicates))),
            Arc::new(Int64Array::from_iter_values(file_rows.iter().map(|r| r.errors as i64))),
            ts(file_rows.iter().map(|r| r.first).collect()),
            ts(file_rows.iter().map(|r| r.last).collect()),
            Arc::new(StringArray::from_iter(file_rows.iter().map(|r| r.account.as_deref()))),
            Arc::new(StringArray::from_iter(file_rows.iter().map(|r| r.region.as_deref()))),
            Arc::new(StringArray::from_iter_values(file_rows.iter().map(|r| r.status))),
            Arc::new(StringArray::from_iter(file_rows.iter().map(|r| r.duplicate_of))),
        ];
        writer.write_file(INGESTED_FILES, &partition_of(Some(now)), vec![writer::batch(INGESTED_FILES, cols)?])?;
    }

    // ingest_errors.
    summary.rejected = errors
        .iter()
        .filter(|e| e.severity == Severity::Error)
        .take(SUMMARY_REJECTED)
        .map(ErrorRow::one_line)
        .collect();
    if !errors.is_empty() {
        let n = errors.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![run_id; n])),
            Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
            Arc::new(StringArray::from_iter_values(errors.iter().map(|e| e.severity.as_str()))),
            Arc::new(StringArray::from_iter_values(errors.iter().map(|e| e.file.as_str()))),
            Arc::new(StringArray::from_iter(errors.iter().map(|e| e.member.as_deref()))),
            Arc::new(Int64Array::from_iter(errors.iter().map(|e| e.line.map(|l| l as i64)))),
            Arc::new(Int64Array::from_iter(errors.iter().map(|e| e.record.map(|l| l as i64)))),
            Arc::new(StringArray::from_iter_values(errors.iter().map(|e| e.reason.as_str()))),
            Arc::new(StringArray::from_iter(errors.iter().map(|e| e.excerpt.as_deref()))),
            Arc::new(StringArray::from_iter_values(errors.iter().map(ErrorRow::source_file))),
        ];
        writer.write_file(INGEST_ERRORS, &partition_of(Some(now)), vec![writer::batch(INGEST_ERRORS, cols)?])?;
    }
    Ok(())
}
