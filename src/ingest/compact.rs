//! `trailflow compact`: merge the small files that many runs leave in a partition into files of a
//! useful size. Each ingest writes at least one file per table and day it touches, so a case
//! loaded a few files at a time (or added to day after day with `investigate --case`) ends up
//! with hundreds of small files per partition, and every query pays for each.
//!
//! A compaction is a run like an ingest: its files are staged, committed, then moved into place,
//! and the files they replace are removed only after that (the run lists them), so a kill at any
//! moment leaves the lake as it was or as it is after. It holds the writer lock, and waits until
//! no other process reads the lake (every session holds a reader's lease). The search index then
//! drops the replaced files and indexes the new ones. Rows are not changed: each output file holds
//! the rows of the files it replaces, sorted by time, in the lake's current schema (files written
//! by an older version gain the columns added since, as NULL).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use crate::error::{Error, Result};
use crate::lake::{Lake, WriteLock};

/// A file smaller than this is small: worth merging with the others of its partition (a file of
/// a quarter of a million flow records, or some 80,000 CloudTrail events, compressed). Sizes
/// come from the file system, so looking costs no read.
pub const SMALL_FILE_BYTES: u64 = 8 << 20;
/// An output file is closed at this many rows, or at [`BATCH_BYTES`] of rows in memory.
const OUT_ROWS: usize = 2 * 1024 * 1024;
/// Memory of the rows gathered for one output file (they are sorted as one).
const BATCH_BYTES: usize = 256 << 20;

/// What a compaction did to one table.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct TableCompaction {
    pub table: &'static str,
    pub files_before: usize,
    pub files_after: usize,
    pub partitions_merged: usize,
    pub rows_rewritten: u64,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactSummary {
    pub tables: Vec<TableCompaction>,
    pub seconds: f64,
}

impl CompactSummary {
    /// The summary in a few lines.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for t in &self.tables {
            if t.partitions_merged == 0 {
                s.push_str(&format!("{:<20} {} files, nothing to merge\n", t.table, t.files_before));
            } else {
                s.push_str(&format!(
                    "{:<20} {} files -> {} ({} partitions merged, {} rows rewritten)\n",
                    t.table, t.files_before, t.files_after, t.partitions_merged, t.rows_rewritten
                ));
            }
        }
        s.push_str(&format!("took                 {:.2}s\n", self.seconds));
        s
    }
}

fn is_small(path: &Path) -> Result<bool> {
    Ok(std::fs::metadata(path).map_err(|e| Error::io(path, e))?.len() < SMALL_FILE_BYTES)
}

/// Merge the small files of every partition that holds two or more of them, waiting for the
/// processes that read the lake. `phase` is told what is being done (for a progress line).
pub fn compact(lake_dir: &Path, phase: &dyn Fn(&str)) -> Result<CompactSummary> {
    let lake = Lake::open(lake_dir)?;
    let lock = lake.lock_for_write()?;
    // Bring the index up to date before files move, so that it lists every file it points at.
    crate::search::catch_up(&lake)?;
    let readers = lake.readers_exclusive(|| phase("waiting for the processes reading the lake to finish"))?;
    merge(&lake, &lock, readers, 2, phase)
}

/// After an ingest: merge the partitions where runs have left [`AUTO_MIN_FILES`] small files or
/// more, when no other process reads the lake at that moment (else the next run or `trailflow
/// compact` does it). `None` when nothing was done.
pub fn after_ingest(lake: &Lake, lock: &WriteLock, phase: &dyn Fn(&str)) -> Result<Option<CompactSummary>> {
    let many = crate::schema::TABLES.iter().try_fold(false, |found, table| -> Result<bool> {
        if found {
            return Ok(true);
        }
        let mut per_dir: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
        for f in lake.table_files(table)? {
            if let Some(dir) = f.parent()
                && is_small(&f)?
            {
                per_dir.entry(dir.to_path_buf()).or_default().push(f);
            }
        }
        Ok(per_dir.values().any(|g| worth_merging(g, AUTO_MIN_FILES)))
    })?;
    if !many {
        return Ok(None);
    }
    let Some(readers) = lake.readers_if_none()? else { return Ok(None) };
    merge(lake, lock, readers, AUTO_MIN_FILES, phase).map(Some)
}

/// A partition with this many small files is merged at the end of an ingest.
pub const AUTO_MIN_FILES: usize = 8;

/// Whether a partition's small files are to be merged, given the least number of them. At the
/// end of an ingest ([`AUTO_MIN_FILES`]), only where they come from more than one run: the files
/// of one large run are sized by its memory budget, and merging them again at once would write
/// (and index) all its rows twice.
fn worth_merging(small: &[PathBuf], min_files: usize) -> bool {
    if small.len() < min_files {
        return false;
    }
    if min_files < AUTO_MIN_FILES {
        return true;
    }
    let runs: std::collections::BTreeSet<&str> = small.iter().filter_map(|f| run_of_file(f)).collect();
    runs.len() != 1
}

/// The run that wrote a lake file (`part-RUN-SEQ.parquet`).
fn run_of_file(f: &Path) -> Option<&str> {
    let name = f.file_name()?.to_str()?.strip_prefix("part-")?.strip_suffix(".parquet")?;
    Some(name.rsplit_once('-')?.0)
}

/// Merge the partitions with `min_files` small files or more (the lake's writer lock and every
/// reader's lease held).
fn merge(
    lake: &Lake,
    lock: &WriteLock,
    _readers: crate::lake::PublishGuard,
    min_files: usize,
    phase: &dyn Fn(&str),
) -> Result<CompactSummary> {
    let started = Instant::now();
    let run = super::run_id();
    let staging = lake.begin(&run, lock)?;
    let mut summary = CompactSummary::default();
    let mut replaced: Vec<String> = Vec::new();
    let mut seq = 0usize;
    let result = (|| -> Result<()> {
        for &table in crate::schema::TABLES {
            let files = lake.table_files(table)?;
            let mut t =
                TableCompaction { table, files_before: files.len(), files_after: files.len(), ..Default::default() };
            // Small files by partition folder.
            let mut small: BTreeMap<PathBuf, Vec<PathBuf>> = BTreeMap::new();
            for f in &files {
                if is_small(f)?
                    && let Some(dir) = f.parent()
                {
                    small.entry(dir.to_path_buf()).or_default().push(f.clone());
                }
            }
            for (dir, group) in small.into_iter().filter(|(_, g)| worth_merging(g, min_files)) {
                let dt = partition_value(&dir)
                    .ok_or_else(|| Error::Lake(format!("{}: not a partition folder (dt=...)", dir.display())))?;
                phase(&format!("compact {table} {dt}: {} files", group.len()));
                let mut pending: Vec<RecordBatch> = Vec::new();
                let mut rows = 0usize;
                let mut bytes = 0usize;
                let mut written = 0usize;
                for f in &group {
                    let file = std::fs::File::open(f).map_err(|e| Error::io(f, e))?;
                    let reader = ParquetRecordBatchReaderBuilder::try_new(file)?.with_batch_size(64 * 1024).build()?;
                    for batch in reader {
                        // As it was: the writer stores it again (`lake::elide`), as it does rows
                        // of any age.
                        let batch = crate::lake::elide::restore(table, batch?)?;
                        rows += batch.num_rows();
                        bytes += batch.get_array_memory_size();
                        pending.push(batch);
                        if rows >= OUT_ROWS || bytes >= BATCH_BYTES {
                            seq += 1;
                            super::writer::write_parquet(
                                &staging,
                                table,
                                &dt,
                                &file_name(&run, seq),
                                std::mem::take(&mut pending),
                                None,
                            )?;
                            t.rows_rewritten += rows as u64;
                            written += 1;
                            (rows, bytes) = (0, 0);
                        }
                    }
                }
                if !pending.is_empty() {
                    seq += 1;
                    super::writer::write_parquet(&staging, table, &dt, &file_name(&run, seq), pending, None)?;
                    t.rows_rewritten += rows as u64;
                    written += 1;
                }
                t.partitions_merged += 1;
                t.files_after = t.files_after + written - group.len();
                replaced.extend(group.iter().map(|f| relative(lake, f)));
            }
            summary.tables.push(t);
        }
        Ok(())
    })();
    if let Err(e) = result {
        lake.abort(staging);
        return Err(e);
    }
    if replaced.is_empty() {
        lake.abort(staging);
    } else {
        staging.replaces(&replaced)?;
        phase("publish");
        let publishing = lake.publish_exclusive()?;
        lake.commit(staging, lock, &publishing)?;
        drop(publishing);
        phase("search index");
        crate::search::catch_up(lake)?;
    }
    summary.seconds = started.elapsed().as_secs_f64();
    Ok(summary)
}

fn file_name(run: &str, seq: usize) -> String {
    format!("part-{run}-{seq:05}.parquet")
}

/// `2026-03-10` from `.../dt=2026-03-10`.
fn partition_value(dir: &Path) -> Option<String> {
    let name = dir.file_name()?.to_str()?;
    name.strip_prefix(&format!("{}=", crate::schema::PARTITION_COLUMN)).map(str::to_string)
}

fn relative(lake: &Lake, path: &Path) -> String {
    path.strip_prefix(&lake.root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(names: &[&str]) -> Vec<PathBuf> {
        names.iter().map(|n| PathBuf::from(format!("/lake/flow_logs/dt=2026-03-10/{n}"))).collect()
    }

    #[test]
    fn one_large_run_is_not_merged_again_at_once_but_many_runs_are() {
        let run = "20261203T045253821600Z-6077";
        assert_eq!(run_of_file(Path::new(&file_name(run, 3))), Some(run));
        assert_eq!(run_of_file(Path::new("other.parquet")), None);
        let one: Vec<String> = (1..=9).map(|i| file_name(run, i)).collect();
        let one = files(&one.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(!worth_merging(&one, AUTO_MIN_FILES));
        // `trailflow compact` merges them all the same.
        assert!(worth_merging(&one, 2));
        let many: Vec<String> = (1..=8).map(|i| file_name(&format!("20261203T0452{i:02}821600Z-6077"), 1)).collect();
        let many = files(&many.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(worth_merging(&many, AUTO_MIN_FILES));
        assert!(!worth_merging(&many[..7], AUTO_MIN_FILES));
    }
}
