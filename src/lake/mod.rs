//! The lake on disk: its layout, the single-writer lock, and crash-safe commits.
//!
//! Layout (see `docs/lake.md`):
//! ```text
//! LAKE/
//!   cloudtrail/dt=YYYY-MM-DD/part-<run>-<n>.parquet
//!   flow_logs/dt=YYYY-MM-DD/...
//!   inventory/ ingested_files/ ingest_errors/   (same layout)
//!   _trailflow/lock                 held by the one process writing
//!   _trailflow/staging/<run>/...    a run's files before they are published
//!   index/                          the full-text index of cloudtrail (tantivy; see `search`)
//! ```
//! A run writes everything under its staging folder, then writes `COMMITTED` there (atomically,
//! after syncing every file), then renames each file into place. Recovery rolls a committed run
//! forward and deletes an uncommitted one, so a kill at any moment leaves the lake as it was before
//! the run or as it is after it.
//!
//! Readers never see half a run: the writer holds `_trailflow/publish` exclusively while a run's
//! files move into place and the search index takes them, and a reader holds it shared while it
//! lists files (see [`Lake::snapshot`]). A run cut off while it was being published is finished by
//! the next process that can write the lake; one that cannot (a read-only copy) says so and stops.
//!
//! Files are only added, except by a compaction (`trailflow compact`), whose run lists the files it
//! replaces (`REMOVE`); they go once its files are in place. A process that reads the lake holds
//! `_trailflow/readers` shared while it may read ([`Lake::reader_lease`]), so a query planned
//! before a compaction never finds its files gone: the compaction waits for it.

pub mod context;
pub mod elide;
pub mod read;

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The folder of a lake that marks it as one (locks, staging, the publish log).
pub const META_DIR: &str = "_trailflow";
const STAGING_DIR: &str = "staging";
const LOCK_FILE: &str = "lock";
const PUBLISH_FILE: &str = "publish";
/// Held shared by every process that reads the lake, for as long as it may read; exclusively by
/// a compaction while it removes the files it replaced.
const READERS_FILE: &str = "readers";
const COMMITTED: &str = "COMMITTED";
/// The data files the last publication left, one `PATH<TAB>SIZE` a line (paths relative to the
/// lake): what tells a file that went missing or changed from one the lake never had.
const FILES: &str = "files";
/// Lake files (relative paths) a committed run replaces: removed once its own files are in place.
const REMOVE: &str = "REMOVE";
/// How long a reader waits for another process to finish a cut-off run before it gives up.
const RECOVERY_WAIT: std::time::Duration = std::time::Duration::from_secs(300);

/// A lake folder.
#[derive(Debug, Clone)]
pub struct Lake {
    pub root: PathBuf,
}

/// The writer's hold on a lake; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct WriteLock {
    _file: File,
}

/// Held while files move into the lake (exclusive) or while a reader lists them (shared).
#[derive(Debug)]
pub struct PublishGuard {
    _file: Option<File>,
}

/// Whether the writer lock could be had.
enum Idle {
    Free(WriteLock),
    /// Another process writes the lake.
    Busy,
    /// This process cannot write the lake (read-only file system, permissions).
    Denied(std::io::Error),
}
impl Lake {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Lake { root: root.into() }
    }

    /// Open an existing lake (for reading).
    pub fn open(root: impl Into<PathBuf>) -> Result<Self> {
        let lake = Lake::new(root);
        if !lake.root.join(META_DIR).is_dir() {
            return Err(Error::NoLake(lake.root.clone()));
        }
        Ok(lake)
    }

    pub fn exists(&self) -> bool {
        self.root.join(META_DIR).is_dir()
    }

    pub fn table_dir(&self, table: &str) -> PathBuf {
        self.root.join(table)
    }

    fn meta(&self) -> PathBuf {
        self.root.join(META_DIR)
    }

    /// Create the lake if needed and take the writer lock. A second writer gets `LakeLocked`.
    pub fn lock_for_write(&self) -> Result<WriteLock> {
        fs::create_dir_all(self.meta().join(STAGING_DIR)).map_err(|e| Error::io(self.meta(), e))?;
        // Every table has its folder, so that an empty table can still be queried.
        for table in crate::schema::TABLES {
            let dir = self.table_dir(table);
            fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        let path = self.meta().join(LOCK_FILE);
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(Error::LakeLocked(self.root.clone())),
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        let lock = WriteLock { _file: file };
        self.recover(&lock)?;
        Ok(lock)
    }

    /// A reader's lease: while it is held, no compaction removes a file. `None` inside when the
    /// lake cannot hold the lock file (a read-only copy, which nothing compacts).
    pub fn reader_lease(&self) -> Result<PublishGuard> {
        // Any trouble with the lock file leaves the reader unleased, never stopped.
        Ok(shared_lock(&self.meta().join(READERS_FILE)).unwrap_or(PublishGuard { _file: None }))
    }

    /// Every reader's lease at once, for a compaction: waits until no other process reads the
    /// lake, calling `waiting` once if it has to.
    pub fn readers_exclusive(&self, waiting: impl FnOnce()) -> Result<PublishGuard> {
        let path = self.meta().join(READERS_FILE);
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                waiting();
                file.lock().map_err(|e| Error::io(&path, e))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(Error::io(&path, e)),
        }
        Ok(PublishGuard { _file: Some(file) })
    }

    /// Every reader's lease, if no other process reads the lake right now.
    pub fn readers_if_none(&self) -> Result<Option<PublishGuard>> {
        let path = self.meta().join(READERS_FILE);
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(Some(PublishGuard { _file: Some(file) })),
            Err(fs::TryLockError::WouldBlock) => Ok(None),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    /// The writer lock, when no writer holds it (for readers that repair on the way).
    fn idle_lock(&self) -> Idle {
        let path = self.meta().join(LOCK_FILE);
        let file = match File::options().write(true).open(&path) {
            Ok(f) => f,
            Err(e) => return Idle::Denied(e),
        };
        match file.try_lock() {
            Ok(()) => Idle::Free(WriteLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Idle::Busy,
            Err(fs::TryLockError::Error(e)) => Idle::Denied(e),
        }
    }

    /// For readers: finish or undo an interrupted run when no writer is active.
    pub fn recover_if_idle(&self) -> Result<()> {
        if let Idle::Free(lock) = self.idle_lock() {
            self.recover(&lock)?;
        }
        Ok(())
    }

    fn recover(&self, _lock: &WriteLock) -> Result<()> {
        let staging = self.meta().join(STAGING_DIR);
        let Ok(entries) = fs::read_dir(&staging) else {
            return Ok(());
        };
        for entry in entries {
            let run_dir = entry.map_err(|e| Error::io(&staging, e))?.path();
            if !run_dir.is_dir() {
                continue;
            }
            if run_dir.join(COMMITTED).is_file() {
                let _publishing = self.publish_exclusive()?;
                self.publish(&run_dir)?;
            }
            fs::remove_dir_all(&run_dir).map_err(|e| Error::io(&run_dir, e))?;
        }
        Ok(())
    }

    /// Is a committed run waiting to be moved into place (a run cut off while it was published)?
    fn half_published(&self) -> bool {
        let Ok(entries) = fs::read_dir(self.meta().join(STAGING_DIR)) else {
            return false;
        };
        entries.filter_map(|e| e.ok()).any(|e| e.path().join(COMMITTED).is_file())
    }

    /// Hold the publish lock exclusively: no reader lists files while a run moves into place.
    pub fn publish_exclusive(&self) -> Result<PublishGuard> {
        let path = self.meta().join(PUBLISH_FILE);
        let file =
            File::options().create(true).truncate(false).write(true).open(&path).map_err(|e| Error::io(&path, e))?;
        file.lock().map_err(|e| Error::io(&path, e))?;
        Ok(PublishGuard { _file: Some(file) })
    }

    /// Hold the publish lock shared (none when the lake has no such file and it cannot be made).
    fn publish_shared(&self) -> Result<PublishGuard> {
        shared_lock(&self.meta().join(PUBLISH_FILE))
    }

    /// A consistent view of the lake for a reader: while the guard is held, no run is half in
    /// place and none starts moving in. A run cut off while it was published is finished first
    /// (by this process when nobody writes, else by the writer, which is waited for); a reader that
    /// cannot write the lake and finds such a run stops with an error that says what to do.
    pub fn snapshot(&self) -> Result<PublishGuard> {
        let started = std::time::Instant::now();
        loop {
            let idle = self.idle_lock();
            if let Idle::Free(lock) = &idle {
                self.recover(lock)?;
            }
            let idle = match idle {
                Idle::Free(lock) => {
                    drop(lock);
                    None
                }
                Idle::Busy => Some(None),
                Idle::Denied(e) => Some(Some(e)),
            };
            let guard = self.publish_shared()?;
            if !self.half_published() {
                return Ok(guard);
            }
            drop(guard);
            match idle {
                Some(Some(e)) => {
                    return Err(Error::Lake(format!(
                        "the lake at {} holds an ingest run that was cut off while it was being published, and this \
                            process cannot finish it ({e}): make the lake writable, or copy it (cp -r) and use the \
                            copy; the next trailflow command on it completes the run",
                        self.root.display()
                    )));
                }
                _ if started.elapsed() > RECOVERY_WAIT => {
                    return Err(Error::Lake(format!(
                        "the lake at {} holds an ingest run cut off while it was being published, and the process \
                            writing the lake has not finished it: try again when it is done",
                        self.root.display()
                    )));
                }
                // A writer is at work; it finishes the run when it starts.
                _ => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        }
    }

    /// The write lock when no other process holds it, with any interrupted run finished or
    /// undone (for readers that repair on the way, such as a search bringing its index up to
    /// date). `Err(None)` when another process writes the lake, `Err(Some(reason))` when this one
    /// cannot write it.
    pub fn try_write(&self) -> Result<Result<WriteLock, Option<std::io::Error>>> {
        match self.idle_lock() {
            Idle::Free(lock) => {
                self.recover(&lock)?;
                Ok(Ok(lock))
            }
            Idle::Busy => Ok(Err(None)),
            Idle::Denied(e) => Ok(Err(Some(e))),
        }
    }

    /// A new staging folder for a run.
    pub fn begin(&self, run_id: &str, _lock: &WriteLock) -> Result<Staging> {
        let dir = self.meta().join(STAGING_DIR).join(run_id);
        if dir.exists() {
            fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        }
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(Staging { dir })
    }

    /// Make a staged run part of the lake: mark it committed, then move its files into place.
    /// The caller holds [`Lake::publish_exclusive`] across this and the index commit.
    pub fn commit(&self, staging: Staging, _lock: &WriteLock, _publishing: &PublishGuard) -> Result<()> {
        // Every data file was synced when written; the marker makes the run durable as a whole.
        let marker_tmp = staging.dir.join("COMMITTED.tmp");
        let mut f = File::create(&marker_tmp).map_err(|e| Error::io(&marker_tmp, e))?;
        f.write_all(b"committed\n").map_err(|e| Error::io(&marker_tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&marker_tmp, e))?;
        fs::rename(&marker_tmp, staging.dir.join(COMMITTED)).map_err(|e| Error::io(&marker_tmp, e))?;
        sync_dir(&staging.dir);
        crate::failpoint("after_commit_marker");
        self.publish(&staging.dir)?;
        fs::remove_dir_all(&staging.dir).map_err(|e| Error::io(&staging.dir, e))?;
        Ok(())
    }

    /// Drop a staged run.
    pub fn abort(&self, staging: Staging) {
        let _ = fs::remove_dir_all(&staging.dir);
    }

    /// Move every file of a committed staging folder to the same relative path in the lake, then
    /// remove the files it replaces. Done again after a crash, it finds the moved files gone from
    /// the staging folder and the removed ones gone from the lake, and does the rest.
    fn publish(&self, run_dir: &Path) -> Result<()> {
        let mut files = Vec::new();
        collect_files(run_dir, &mut files)?;
        for src in files {
            let rel = src.strip_prefix(run_dir).expect("below run dir");
            if rel.components().count() < 2 {
                continue; // the marker, the removal list
            }
            let dst = self.root.join(rel);
            if let Some(parent) = dst.parent() {
                fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            fs::rename(&src, &dst).map_err(|e| Error::io(&src, e))?;
            crate::failpoint("during_publish");
            if let Some(parent) = dst.parent() {
                sync_dir(parent);
            }
        }
        let list = run_dir.join(REMOVE);
        if let Ok(text) = fs::read_to_string(&list) {
            for rel in text.lines().filter(|l| !l.is_empty()) {
                // Only files of the lake's tables, never a path that leaves the lake.
                let rel = Path::new(rel);
                if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                    continue;
                }
                let path = self.root.join(rel);
                match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::io(&path, e)),
                }
                crate::failpoint("during_remove");
                if let Some(parent) = path.parent() {
                    sync_dir(parent);
                }
            }
        }
        self.write_manifest()
    }

    /// Record the data files as they are now (after a publication, under its exclusive lock).
    fn write_manifest(&self) -> Result<()> {
        let mut text = String::new();
        for table in crate::schema::TABLES {
            for f in self.table_files(table)? {
                let size = fs::metadata(&f).map_err(|e| Error::io(&f, e))?.len();
                let rel = f.strip_prefix(&self.root).unwrap_or(&f);
                text.push_str(&format!("{}\t{size}\n", rel.display()));
            }
        }
        let path = self.meta().join(FILES);
        let tmp = path.with_extension("tmp");
        let mut f = File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.write_all(text.as_bytes()).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| Error::io(&tmp, e))?;
        sync_dir(&self.meta());
        Ok(())
    }

    /// What keeps the lake from being whole, one line each naming the file: a data file that is
    /// empty, that ends without a Parquet footer, that the last publication recorded with another
    /// size, or that it recorded and is gone. Empty when the lake is whole. (A lake written before
    /// the record was kept is checked for empty and cut files only.)
    pub fn not_whole(&self) -> Result<Vec<String>> {
        let recorded: std::collections::BTreeMap<String, u64> = fs::read_to_string(self.meta().join(FILES))
            .map(|t| {
                t.lines()
                    .filter_map(|l| l.rsplit_once('\t'))
                    .filter_map(|(p, n)| Some((p.to_string(), n.parse().ok()?)))
                    .collect()
            })
            .unwrap_or_default();
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for table in crate::schema::TABLES {
            for f in self.table_files(table)? {
                let rel = f.strip_prefix(&self.root).unwrap_or(&f).display().to_string();
                let size = fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
                let footer = || -> std::io::Result<bool> {
                    use std::io::{Read, Seek, SeekFrom};
                    let mut file = File::open(&f)?;
                    file.seek(SeekFrom::End(-4))?;
                    let mut magic = [0u8; 4];
                    file.read_exact(&mut magic)?;
                    Ok(&magic == b"PAR1")
                };
                if size == 0 {
                    problems.push(format!("{rel} is empty (0 bytes)"));
                } else if size < 12 || !footer().unwrap_or(false) {
                    problems.push(format!("{rel} is not a whole Parquet file (it ends without a footer)"));
                } else if let Some(was) = recorded.get(&rel).filter(|was| **was != size) {
                    problems.push(format!("{rel} changed size since it was written ({size} bytes, was {was})"));
                }
                seen.insert(rel);
            }
        }
        for rel in recorded.keys().filter(|r| !seen.contains(*r)) {
            problems.push(format!("{rel} is missing"));
        }
        Ok(problems)
    }

    /// Every Parquet file of a table.
    pub fn table_files(&self, table: &str) -> Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        let dir = self.table_dir(table);
        if dir.is_dir() {
            collect_files(&dir, &mut files)?;
        }
        files.retain(|f| f.extension().is_some_and(|e| e == "parquet"));
        files.sort();
        Ok(files)
    }
}

/// A lock file held shared; none when it does not exist and cannot be made (a lake written before
/// the lock existed, on a read-only medium).
fn shared_lock(path: &Path) -> Result<PublishGuard> {
    let file = match File::options().read(true).open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match File::options().create(true).truncate(false).write(true).open(path) {
                Ok(f) => f,
                Err(_) => return Ok(PublishGuard { _file: None }),
            }
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    file.lock_shared().map_err(|e| Error::io(path, e))?;
    Ok(PublishGuard { _file: Some(file) })
}

/// A run's private folder, laid out like the lake.
#[derive(Debug)]
pub struct Staging {
    pub dir: PathBuf,
}

impl Staging {
    /// The lake files (paths relative to the lake) this run replaces: removed when it is
    /// published, after its own files are in place.
    pub fn replaces(&self, files: &[String]) -> Result<()> {
        let path = self.dir.join(REMOVE);
        let mut f = File::create(&path).map_err(|e| Error::io(&path, e))?;
        for rel in files {
            writeln!(f, "{rel}").map_err(|e| Error::io(&path, e))?;
        }
        f.sync_all().map_err(|e| Error::io(&path, e))?;
        Ok(())
    }

    /// Where a new file of `table` in partition `dt` goes.
    pub fn file_path(&self, table: &str, dt: &str, name: &str) -> Result<PathBuf> {
        let dir = self.dir.join(table).join(format!("{}={dt}", crate::schema::PARTITION_COLUMN));
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        Ok(dir.join(name))
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| Error::io(dir, e))?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let p = e.path();
        let ft = e.file_type().map_err(|err| Error::io(&p, err))?;
        if ft.is_dir() {
            collect_files(&p, out)?;
        } else if ft.is_file() {
            out.push(p);
        }
    }
    Ok(())
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}
