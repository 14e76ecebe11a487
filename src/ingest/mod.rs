//! The ingest pipeline: a walker thread finds units (files and archive members), worker threads
//! decode them in parallel, and the calling thread writes the lake; bounded channels between the
//! stages keep memory bounded whatever the input size.

pub mod compact;
pub mod dedup;
pub mod file;
pub mod inventory_time;
pub mod paths;
pub mod source;
pub mod spill;
pub mod summary;
pub mod writer;

use std::collections::{BTreeMap, HashSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::decode::cloudtrail::NaclEvent;
use crate::decode::inventory::InvItem;
use crate::error::{Error, Result};
use crate::lake::Lake;

use crate::schema::{
    INGEST_ERRORS, INGESTED_FILES, INVENTORY, IngestErrorRow, IngestedFileRow, InventoryRow, batch_of,
};
use file::{FileResult, Msg};
use source::{Unit, Walker};
use summary::{ErrorRow, Severity, Summary};
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
    /// Bytes of rows the writer may buffer before it writes files out; by default three eighths
    /// of `limits.ingest_memory` (`TRAILFLOW_INGEST_MEMORY`).
    pub memory_budget: Option<usize>,
    /// Build the search index in the same pass (otherwise the next search builds it from Parquet).
    pub index: bool,
    /// The bounds on nesting, record, document, line and member sizes.
    pub limits: crate::limits::Limits,
    /// The layout of flow records without a header line (CloudWatch Logs): the flow log's
    /// `LogFormat` (`--flow-format`).
    pub flow_format: Option<crate::decode::flowlog::Format>,
}

impl IngestOptions {
    pub fn new(lake: impl Into<PathBuf>, inputs: Vec<PathBuf>) -> Self {
        IngestOptions {
            lake: lake.into(),
            inputs,
            inventory_time: None,
            progress: false,
            threads: None,
            memory_budget: None,
            index: true,
            limits: crate::limits::Limits::default(),
            flow_format: None,
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

/// While an ingest runs, the process's fresh memory comes in 4 KiB pages, not 2 MiB transparent
/// huge pages (the allocator asks for those): an ingest allocates and frees buffers by the
/// thousand, and each huge page first touched is zeroed whole by the kernel. Measured on the
/// benchmark sets (`benches/ingest.sh`, 2 cores): a fifth of the ingest's samples were the kernel
/// zeroing pages; without huge pages the large set took 6 % less CPU and the medium one a sixth
/// less system time, at the same peak memory. Queries, which keep large hash tables, are left with
/// them: the setting is put back when the ingest ends.
struct SmallPages {
    was: Option<libc::c_int>,
}

impl SmallPages {
    fn for_this_run() -> SmallPages {
        #[cfg(target_os = "linux")]
        {
            // SAFETY: PR_GET/SET_THP_DISABLE take no pointers; a kernel without them returns -1.
            let was = unsafe { libc::prctl(libc::PR_GET_THP_DISABLE, 0, 0, 0, 0) };
            // SAFETY: as above.
            let set = |v: libc::c_int| unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, v, 0, 0, 0) };
            if was == 0 && set(1) == 0 {
                return SmallPages { was: Some(was) };
            }
        }
        SmallPages { was: None }
    }
}

impl Drop for SmallPages {
    fn drop(&mut self) {
        #[cfg(target_os = "linux")]
        if let Some(was) = self.was {
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, was, 0, 0, 0) };
        }
    }
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
    let _small_pages = SmallPages::for_this_run();
    let lake = Lake::new(&opts.lake);
    let lock = lake.lock_for_write()?;
    // The search index follows the lake: runs committed to the lake but not to the index are
    // indexed from their Parquet files before this run adds its own.
    crate::search::catch_up(&lake)?;
    let (known, rejected_before) = dedup::known_files(&lake)?;
    let claimed: file::Claims = Mutex::new(known.keys().map(|k| (k.clone(), None)).collect());
    let known_errors = dedup::known_errors(&lake)?;
    let seen = dedup::SeenEvents::load(&lake)?;
    let run_id = run_id();
    let staging = lake.begin(&run_id, &lock)?;
    let budget = opts.memory_budget.unwrap_or_else(|| opts.limits.row_buffer_bytes());
    let mut writer = TableWriter::new(&staging, &run_id, seen, budget);
    if opts.index {
        writer.index = Some(crate::search::Indexer::start(&lake, &run_id)?);
    }
    let mut acc = Accumulated::default();
    acc.inventory.dir = Some(staging.dir.clone());
    // Flow records without a header line are read in the format given, else in the one format of
    // the CloudWatch Logs flow logs that inventory already in the lake describes.
    let with_format;
    let opts = match (&opts.flow_format, cloudwatch_flow_format(&lake)?) {
        (None, Some(format)) => {
            with_format = IngestOptions { flow_format: Some(format), ..opts.clone() };
            &with_format
        }
        _ => opts,
    };
    let pb = Clearing(progress_bar(opts));
    let outcome = pipeline(opts, &pb, &claimed, &mut writer, &mut acc).and_then(|()| {
        phase(&pb, "write: the last Parquet files");
        writer.finish()
    });
    if let Err(e) = outcome {
        drop(writer);
        lake.abort(staging);
        return Err(e);
    }
    let mut summary = Summary { lake: opts.lake.display().to_string(), run_id: run_id.clone(), ..Default::default() };
    phase(&pb, "write: inventory, files read and problems");
    let finish = finish_run(
        &lake,
        opts,
        &mut writer,
        acc,
        &Known { files: known, errors: known_errors, rejected: rejected_before },
        &run_id,
        &mut summary,
    );
    if let Err(e) = finish {
        drop(writer);
        lake.abort(staging);
        return Err(e);
    }
    for (t, n) in &writer.rows {
        summary.rows.insert(t.to_string(), *n);
    }
    phase(&pb, "index: the last CloudTrail rows");
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
    phase(&pb, "commit: the run into the lake");
    let publishing = lake.publish_exclusive()?;
    lake.commit(staging, &lock, &publishing)?;
    // The index is committed after the lake run: a kill in between is repaired by the next opener,
    // which indexes this run again from its Parquet files.
    crate::failpoint("before_index_commit");
    // The run is in the lake from here on: what fails now is said, and the exit status says some
    // work is left (3), but the run stands.
    let merging = match index.map(|i| i.commit()).transpose() {
        Ok(m) => m,
        Err(e) => {
            summary.after_publish(format!(
                "the search index was not updated ({e}): the next search brings it up to date from the lake"
            ));
            None
        }
    };
    drop(publishing);
    if let Some(m) = merging {
        phase(&pb, "index: merging segments");
        if let Err(e) = m.wait() {
            summary.after_publish(format!(
                "the search index's segments were not merged ({e}): searches still see every event"
            ));
        }
    }
    crate::search::index::share_files(&lake);
    // Runs that each leave a few files in the same partitions: merge them once they pile up.
    match compact::after_ingest(&lake, &lock, &|what| phase(&pb, what)) {
        Ok(Some(c)) => summary.compacted_files = c.tables.iter().map(|t| t.files_before - t.files_after).sum(),
        Ok(None) => {}
        Err(e) => summary.after_publish(format!(
            "small files were not merged ({e}): the lake is whole; `trailflow compact` tries again"
        )),
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// What the writer gathers besides table rows.
#[derive(Default)]
#[allow(clippy::vec_box, reason = "the results come boxed from the decoders' channel; kept as they came")]
struct Accumulated {
    results: Vec<Box<FileResult>>,
    loose_errors: Vec<ErrorRow>,
    copies: Vec<file::CopyOf>,
    ignored: u64,
    /// trailflow's own folders the walk left out.
    own_folders: Vec<String>,
    /// The run's inventory items, on disk until the run's end.
    inventory: spill::InventorySpill,
}

/// What the lake held before the run: file contents and reported problems.
struct Known {
    files: std::collections::HashMap<String, dedup::KnownFile>,
    errors: HashSet<dedup::ErrorKey>,
    /// Files recorded as rejected, by (`file_id`, `source_file`): read again, not recorded again
    /// when still rejected.
    rejected: HashSet<(String, String)>,
}

fn pipeline(
    opts: &IngestOptions,
    pb: &ProgressBar,
    claimed: &file::Claims,
    writer: &mut TableWriter<'_>,
    acc: &mut Accumulated,
) -> Result<()> {
    let threads =
        opts.threads.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2)).max(1);
    let (unit_tx, unit_rx) = crossbeam_channel::bounded::<Unit>(threads * 2);
    // Few batches in flight: with `BATCH_BYTES`, they stay a small, fixed part of the memory.
    let (msg_tx, msg_rx) = crossbeam_channel::bounded::<Msg>(threads * 4);
    let settings = file::Settings { limits: opts.limits, flow_format: opts.flow_format.clone() };
    let (started, mut records) = (Instant::now(), 0u64);
    pb.set_message("0 records");
    let settings = &settings;
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
            let mut w = Walker::new(&mut emit, &mut error, opts.limits, &inputs, &opts.lake);
            for input in &inputs {
                w.walk(input);
            }
            (w.ignored, std::mem::take(&mut w.own_folders))
        });
        // Stage 2: decoding, in parallel.
        for _ in 0..threads {
            let rx = unit_rx.clone();
            let tx = msg_tx.clone();
            let pb = pb.clone();
            scope.spawn(move || {
                let mut writer_gone = false;
                let mut carry = file::Carry::default();
                for unit in rx {
                    // The writer stopped (it failed): decoding more would be lost.
                    if writer_gone {
                        break;
                    }
                    let size = unit.size;
                    let mut send = |m: Msg| {
                        writer_gone |= tx.send(m).is_err();
                    };
                    file::decode_unit(unit, claimed, settings, &mut carry, &mut send);
                    pb.inc(size);
                }
                carry.flush(&mut |m| {
                    let _ = tx.send(m);
                });
            });
        }
        drop(unit_rx);
        drop(msg_tx);
        // Stage 3: writing, on this thread. Should it fail, the channel closes with it, so that
        // the decoders and the walk stop rather than wait for it forever.
        let msg_rx = msg_rx;
        for msg in msg_rx.iter() {
            match msg {
                Msg::Batch(table, batch) => writer.add(table, batch)?,
                Msg::Events(batch, keys) => writer.add_events(batch, keys)?,
                Msg::Inventory(source, items) => acc.inventory.add(&source, items)?,
                Msg::Done(res) => {
                    records += res.records;
                    let rate = records as f64 / started.elapsed().as_secs_f64().max(1e-3);
                    pb.set_message(format!("{records} records, {rate:.0}/s"));
                    acc.results.push(res);
                }
                Msg::Copy(c) => acc.copies.push(c),
                Msg::Error(e) => acc.loose_errors.push(e),
            }
        }
        (acc.ignored, acc.own_folders) = walker.join().unwrap_or_default();
        Ok(())
    })?;
    if opts.flow_format.is_none() {
        read_again_with_flow_format(opts, claimed, writer, acc)?;
    }
    Ok(())
}

/// Header-less flow files this run could not read, because the flow log's `LogFormat` came in the
/// same run (`describe-flow-logs` output beside the CloudWatch Logs export): read again in that
/// format. Archive members are left for the next run (a rejected file is read again then).
fn read_again_with_flow_format(
    opts: &IngestOptions,
    claimed: &file::Claims,
    writer: &mut TableWriter<'_>,
    acc: &mut Accumulated,
) -> Result<()> {
    let plain = |r: &FileResult| r.needs_flow_format && r.rows == 0 && Path::new(&r.source_file).is_file();
    if !acc.results.iter().any(|r| plain(r)) {
        return Ok(());
    }
    let mut flow_logs = Vec::new();
    acc.inventory.for_each(|_, i| {
        if i.kind == "flow_logs" {
            flow_logs.push(i.item);
        }
        Ok(())
    })?;
    let Some(format) = cloudwatch_format_of(flow_logs.iter().map(String::as_str)) else { return Ok(()) };
    let settings = file::Settings { limits: opts.limits, flow_format: Some(format) };
    for slot in acc.results.iter_mut().filter(|r| plain(r)) {
        claimed.lock().unwrap_or_else(|p| p.into_inner()).remove(&slot.file_id);
        let path = PathBuf::from(&slot.source_file);
        let unit = Unit {
            outer: slot.source_file.as_str().into(),
            member: None,
            size: slot.size,
            data: source::UnitData::File(source::Opened::path(path)),
        };
        let mut msgs = Vec::new();
        let mut carry = file::Carry::default();
        file::decode_unit(unit, claimed, &settings, &mut carry, &mut |m| msgs.push(m));
        carry.flush(&mut |m| msgs.push(m));
        for m in msgs {
            match m {
                Msg::Batch(table, batch) => writer.add(table, batch)?,
                Msg::Events(batch, keys) => writer.add_events(batch, keys)?,
                Msg::Inventory(source, items) => acc.inventory.add(&source, items)?,
                Msg::Done(res) => *slot = res,
                Msg::Copy(c) => acc.copies.push(c),
                Msg::Error(e) => acc.loose_errors.push(e),
            }
        }
    }
    Ok(())
}

fn progress_bar(opts: &IngestOptions) -> ProgressBar {
    if !opts.progress || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let total: u64 = opts.inputs.iter().map(|p| input_bytes(p)).sum();
    let pb = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template(
            "{spinner} decode [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}, {msg}, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    // The spinner turns while the writer holds the decoders back to write a Parquet file.
    pb.enable_steady_tick(std::time::Duration::from_millis(200));
    pb
}

/// The progress bar, cleared from the terminal however the run ends.
struct Clearing(ProgressBar);

impl std::ops::Deref for Clearing {
    type Target = ProgressBar;
    fn deref(&self) -> &ProgressBar {
        &self.0
    }
}

impl Drop for Clearing {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Show that the ingest has moved on to another phase (a spinner that keeps turning, so a long
/// phase is never silent).
fn phase(pb: &ProgressBar, what: &str) {
    if pb.is_hidden() {
        return;
    }
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(what.to_string());
    pb.enable_steady_tick(std::time::Duration::from_millis(120));
}

fn opt_ts(v: Option<i64>) -> Option<String> {
    v.map(crate::time::fmt_time)
}

/// After the data: the summary, inventory with its time, `ingested_files` and `ingest_errors`.
fn finish_run(
    lake: &Lake,
    opts: &IngestOptions,
    writer: &mut TableWriter<'_>,
    mut acc: Accumulated,
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
            let key = error_key(e);
            !known.errors.contains(&key) && seen_errors.insert(key)
        })
        .collect();
    summary.files_ignored = acc.ignored;
    summary.own_folders = acc.own_folders.clone();
    summary.errors = errors.len() as u64;
    summary.files_rejected = errors.len() as u64;
    let copies = name_copies(acc.copies, &results, known, summary);
    let mut nacl_events: Vec<NaclEvent> = Vec::new();
    for r in results.iter_mut() {
        let dups = writer.duplicates_by_file.get(&r.source_file).copied().unwrap_or(0);
        count_file(summary, r, dups);
        errors.append(&mut r.errors);
        nacl_events.append(&mut r.nacl_events);
    }
    summary.files_seen = results.len() as u64 + copies.len() as u64 + summary.files_already_in_lake;
    let last = results.iter().filter_map(|r| r.last_time).max();
    summary.first_time = opt_ts(results.iter().filter_map(|r| r.first_time).min());
    summary.last_time = opt_ts(last);
    if !acc.inventory.is_empty() {
        write_inventory(lake, opts, writer, &mut acc.inventory, nacl_events, last, summary)?;
    }
    let again = |r: &FileResult| {
        r.status() == "rejected" && known.rejected.contains(&(r.file_id.clone(), r.source_file.clone()))
    };
    let new_results: Vec<&FileResult> = results.iter().map(|r| &**r).filter(|r| !again(r)).collect();
    write_files(writer, &new_results, &copies, run_id, now)?;
    write_digests(writer, &results, summary)?;
    summary.rejected = errors
        .iter()
        .filter(|e| e.severity == Severity::Error)
        .take(SUMMARY_REJECTED)
        .map(ErrorRow::one_line)
        .collect();
    // A file rejected before and read again reports its problems again, but they are recorded once.
    errors.retain(|e| !known.errors.contains(&error_key(e)));
    write_errors(writer, &errors, run_id, now)
}

fn error_key(e: &ErrorRow) -> dedup::ErrorKey {
    (e.source_file(), e.line.map(|l| l as i64), e.record.map(|r| r as i64), e.reason.clone())
}

/// Sort the files this run did not decode because their content is already held: those the lake
/// already names under the same path add nothing; the others are copies, named in
/// `ingested_files` with the file they copy (returned with it and its kind).
fn name_copies(
    mut copy_list: Vec<file::CopyOf>,
    results: &[Box<FileResult>],
    known: &Known,
    summary: &mut Summary,
) -> Vec<(file::CopyOf, String, String)> {
    let kinds_in_run: std::collections::HashMap<&str, &'static str> =
        results.iter().map(|r| (r.file_id.as_str(), r.kind.map(|k| k.as_str()).unwrap_or("unknown"))).collect();
    let mut copies = Vec::new();
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
    copies
}

/// Count one decoded file into the summary.
fn count_file(summary: &mut Summary, r: &FileResult, duplicates: u64) {
    summary.evidence.push((r.source_file.clone(), r.file_id.clone()));
    summary.duplicate_events += duplicates;
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
    if r.rows > 0 || r.inventory_items > 0 {
        let info = paths::path_info(&r.source_file);
        summary.accounts.extend(info.account_id);
        summary.regions.extend(info.region);
    }
}

/// Inventory rows held before they are written out: a large snapshot is written in pieces.
const INVENTORY_FILE_ROWS: usize = 50_000;

/// Bytes of inventory item text held before the rows are written out.
const INVENTORY_FILE_BYTES: usize = 16 << 20;

/// The run's inventory, at the time it was taken: given, or inferred from the NACL changes of the
/// lake and of this run that the snapshot already reflects. Read from where the run kept it, twice
/// (the rules the snapshot shows, then the rows), and written in pieces.
fn write_inventory(
    lake: &Lake,
    opts: &IngestOptions,
    writer: &mut TableWriter<'_>,
    inventory: &mut spill::InventorySpill,
    mut nacl_events: Vec<NaclEvent>,
    newest_in_run: Option<i64>,
    summary: &mut Summary,
) -> Result<()> {
    // AWS Config items carry their own capture time; describe-* output is placed as a whole.
    let mut undated = 0u64;
    let mut rules = inventory_time::SnapshotRules::new();
    inventory.for_each(|_, i| {
        if i.captured.is_none() {
            undated += 1;
            inventory_time::add_rules(&mut rules, &i);
        }
        Ok(())
    })?;
    let (time, basis) = match opts.inventory_time {
        Some(t) => (t, "given with --inventory-time".to_string()),
        None if undated == 0 => (0, String::new()),
        None => {
            let (mut lake_events, lake_newest) = inventory_time::nacl_events(lake)?;
            lake_events.append(&mut nacl_events);
            let newest = lake_newest.into_iter().chain(newest_in_run).max();
            inventory_time::infer(&rules, &lake_events, newest)
        }
    };
    drop(rules);
    if undated > 0 {
        summary.inventory_time = Some(crate::time::fmt_time(time));
        summary.inventory_time_basis = Some(basis.clone());
    }
    // Items by day, written out whenever what is held is a piece's worth.
    let mut by_day: BTreeMap<String, Vec<(String, InvItem)>> = BTreeMap::new();
    let (mut held_rows, mut held_bytes) = (0usize, 0usize);
    let write = |writer: &mut TableWriter<'_>, by_day: &mut BTreeMap<String, Vec<(String, InvItem)>>| -> Result<()> {
        for (dt, items) in std::mem::take(by_day) {
            let rows: Vec<InventoryRow<'_>> = items
                .iter()
                .map(|(file, i)| {
                    let (t, b) = match i.captured {
                        Some(c) => (c, CONFIG_BASIS),
                        None => (time, basis.as_str()),
                    };
                    InventoryRow {
                        snapshot_time: t,
                        snapshot_time_basis: b,
                        kind: i.kind,
                        resource_id: i.resource_id.as_deref(),
                        account_id: i.account_id.as_deref(),
                        region: i.region.as_deref(),
                        vpc_id: i.vpc_id.as_deref(),
                        item: &i.item,
                        source_file: file,
                    }
                })
                .collect();
            writer.write_file(INVENTORY, &dt, vec![batch_of(INVENTORY, &rows)?])?;
        }
        Ok(())
    };
    inventory.for_each(|file, i| {
        held_rows += 1;
        held_bytes += i.item.len();
        by_day.entry(partition_of(Some(i.captured.unwrap_or(time)))).or_default().push((file.to_string(), i));
        if held_rows >= INVENTORY_FILE_ROWS || held_bytes >= INVENTORY_FILE_BYTES {
            write(writer, &mut by_day)?;
            (held_rows, held_bytes) = (0, 0);
        }
        Ok(())
    })?;
    write(writer, &mut by_day)?;
    summary.rows.insert(INVENTORY.to_string(), inventory.len());
    Ok(())
}

/// `cloudtrail_digests`: the entries of the digest files of the run, by day of their end.
fn write_digests(writer: &mut TableWriter<'_>, results: &[Box<FileResult>], summary: &mut Summary) -> Result<()> {
    let mut by_day: BTreeMap<String, Vec<crate::schema::DigestRow<'_>>> = BTreeMap::new();
    for r in results.iter().filter(|r| !r.digests.is_empty()) {
        // The region the digest covers, from its own S3 key (the same for all its entries), else
        // from where the file was.
        let key = r.digests.first().and_then(|d| d.digest_s3_object.as_deref());
        let region =
            key.map(paths::path_info).and_then(|i| i.region).or_else(|| paths::path_info(&r.source_file).region);
        for d in &r.digests {
            let region = region.clone();
            by_day.entry(partition_of(d.digest_end_time)).or_default().push(crate::schema::DigestRow {
                digest_file: &r.source_file,
                digest_s3_bucket: d.digest_s3_bucket.as_deref(),
                digest_s3_object: d.digest_s3_object.as_deref(),
                digest_end_text: d.digest_end_text.as_deref(),
                public_key_fingerprint: d.public_key_fingerprint.as_deref(),
                previous_digest_signature: d.previous_digest_signature.as_deref(),
                account_id: d.account_id.as_deref(),
                region,
                digest_start_time: d.digest_start_time,
                digest_end_time: d.digest_end_time,
                digest_sha256: r.digest_sha256.as_deref(),
                entry: d.entry,
                s3_object: d.s3_object.as_deref(),
                hash_value: d.hash_value.as_deref(),
                hash_algorithm: d.hash_algorithm.as_deref(),
                source_file: &r.source_file,
            });
        }
    }
    let mut n = 0;
    for (dt, rows) in &by_day {
        n += rows.len() as u64;
        writer.write_file(
            crate::schema::CLOUDTRAIL_DIGESTS,
            dt,
            vec![batch_of(crate::schema::CLOUDTRAIL_DIGESTS, rows)?],
        )?;
    }
    if n > 0 {
        summary.rows.insert(crate::schema::CLOUDTRAIL_DIGESTS.to_string(), n);
    }
    Ok(())
}

/// The `LogFormat` of the flow logs that deliver to CloudWatch Logs, as `describe-flow-logs`
/// inventory in the lake shows them, when they all share one: the layout of the header-less
/// records CloudWatch Logs holds. `None` when there is none, or more than one.
fn cloudwatch_flow_format(lake: &Lake) -> Result<Option<crate::decode::flowlog::Format>> {
    use datafusion::arrow::array::{Array, AsArray};
    let mut items = Vec::new();
    crate::lake::read::for_each_batch(lake, INVENTORY, &["kind", "item"], |b| {
        let (kind, item) = (b.column(0).as_string::<i32>(), b.column(1).as_string::<i32>());
        for i in 0..b.num_rows() {
            if kind.is_valid(i) && kind.value(i) == "flow_logs" && item.is_valid(i) {
                items.push(item.value(i).to_string());
            }
        }
    })?;
    Ok(cloudwatch_format_of(items.iter().map(String::as_str)))
}

/// The one `LogFormat` of the flow logs these `describe-flow-logs` items show delivering to
/// CloudWatch Logs; `None` when there is none, or more than one.
fn cloudwatch_format_of<'a>(items: impl Iterator<Item = &'a str>) -> Option<crate::decode::flowlog::Format> {
    let mut formats = std::collections::BTreeSet::new();
    for item in items {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(item) else { continue };
        let to_cloudwatch = v.get("LogDestinationType").and_then(|d| d.as_str()) == Some("cloud-watch-logs");
        if let Some(f) = v.get("LogFormat").and_then(|f| f.as_str()).filter(|_| to_cloudwatch) {
            formats.insert(f.to_string());
        }
    }
    match formats.len() {
        1 => formats.into_iter().next().and_then(|f| crate::decode::flowlog::Format::from_log_format(&f).ok()),
        _ => None,
    }
}

/// How an AWS Config item's time is known.
use crate::schema::CONFIG_BASIS;

/// `ingested_files`: one row per file decoded in this run, and one per copy it named.
fn write_files(
    writer: &mut TableWriter<'_>,
    results: &[&FileResult],
    copies: &[(file::CopyOf, String, String)],
    run_id: &str,
    now: i64,
) -> Result<()> {
    let infos: Vec<paths::PathInfo> = results.iter().map(|r| paths::path_info(&r.source_file)).collect();
    let mut rows: Vec<IngestedFileRow<'_>> = Vec::with_capacity(results.len() + copies.len());
    for (r, info) in results.iter().zip(&infos) {
        let dups = writer.duplicates_by_file.get(&r.source_file).copied().unwrap_or(0) as i64;
        rows.push(IngestedFileRow {
            run_id,
            ingested_at: now,
            file_id: &r.file_id,
            source_file: &r.source_file,
            kind: r.kind.map(|k| k.as_str()).unwrap_or("unknown"),
            format: r.format.as_deref(),
            size_bytes: r.size as i64,
            records: r.records as i64,
            rows_loaded: r.rows as i64 - dups,
            duplicates: dups,
            errors: r.error_count as i64,
            first_time: r.first_time,
            last_time: r.last_time,
            account_id: info.account_id.as_deref().or_else(|| r.accounts.iter().next().map(String::as_str)),
            region: info.region.as_deref().or_else(|| r.regions.iter().next().map(String::as_str)),
            status: r.status(),
            duplicate_of: None,
            sha256: Some(&r.sha256),
            content_sha256: r.content_sha256.as_deref(),
        });
    }
    let copy_infos: Vec<paths::PathInfo> = copies.iter().map(|(c, _, _)| paths::path_info(&c.source_file)).collect();
    // A copy's content is its original's.
    let content_of: std::collections::HashMap<&str, &str> =
        results.iter().filter_map(|r| Some((r.file_id.as_str(), r.content_sha256.as_deref()?))).collect();
    for ((c, first, kind), info) in copies.iter().zip(&copy_infos) {
        rows.push(IngestedFileRow {
            run_id,
            ingested_at: now,
            file_id: &c.file_id,
            source_file: &c.source_file,
            kind,
            format: None,
            size_bytes: c.size as i64,
            records: 0,
            rows_loaded: 0,
            duplicates: 0,
            errors: 0,
            first_time: None,
            last_time: None,
            account_id: info.account_id.as_deref(),
            region: info.region.as_deref(),
            status: "duplicate",
            duplicate_of: Some(first),
            sha256: Some(&c.sha256),
            content_sha256: content_of.get(c.file_id.as_str()).copied(),
        });
    }
    if rows.is_empty() {
        return Ok(());
    }
    writer.write_file(INGESTED_FILES, &partition_of(Some(now)), vec![batch_of(INGESTED_FILES, &rows)?])
}

/// `ingest_errors`: every problem of the run.
fn write_errors(writer: &mut TableWriter<'_>, errors: &[ErrorRow], run_id: &str, now: i64) -> Result<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let sources: Vec<String> = errors.iter().map(ErrorRow::source_file).collect();
    let rows: Vec<IngestErrorRow<'_>> = errors
        .iter()
        .zip(&sources)
        .map(|(e, source_file)| IngestErrorRow {
            run_id,
            logged_at: now,
            severity: e.severity.as_str(),
            file: &e.file,
            member: e.member.as_deref(),
            line: e.line.map(|l| l as i64),
            record: e.record.map(|r| r as i64),
            reason: &e.reason,
            excerpt: e.excerpt.as_deref(),
            source_file,
        })
        .collect();
    writer.write_file(INGEST_ERRORS, &partition_of(Some(now)), vec![batch_of(INGEST_ERRORS, &rows)?])
}
