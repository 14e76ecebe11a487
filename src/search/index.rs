//! The index on disk: its tantivy schema, the commit payload that says which runs and files it
//! covers, opening it (for writing, or read-only), committing it, and which runs the lake has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use tantivy::schema::{DateOptions, DateTimePrecision, Field, NumericOptions, Schema as TSchema};
use tantivy::{Index, IndexWriter};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::schema::CLOUDTRAIL;

/// The index folder inside the lake.
pub const INDEX_DIR: &str = "index";
/// Memory tantivy may use for its in-progress segments while indexing.
pub(super) const WRITER_MEMORY: usize = 96 << 20;
/// The index layout this build writes; an index of another layout is rebuilt from Parquet.
const FORMAT: u32 = 5;

#[derive(Clone, Copy)]
pub(super) struct Fields {
    pub(super) tok: Field,
    pub(super) time: Field,
    pub(super) at: Field,
    pub(super) vid: Field,
    pub(super) vkey: Field,
}

pub(super) fn build_schema() -> TSchema {
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

/// The settings of a new index. Documents store no field, but the document store still keeps each
/// one's place in its block (four bytes a document), which zstd packs several times smaller than
/// lz4 (an index made with lz4, by an older build, still reads: each store names its compressor).
fn settings() -> tantivy::IndexSettings {
    tantivy::IndexSettings {
        docstore_compression: tantivy::store::Compressor::Zstd(tantivy::store::ZstdCompressor::default()),
        ..Default::default()
    }
}

pub(super) fn fields(schema: &TSchema) -> Result<Fields> {
    let f = |n: &str| schema.get_field(n).map_err(|e| Error::Lake(format!("search index: {e}")));
    Ok(Fields { tok: f("tok")?, time: f("time")?, at: f("at")?, vid: f("vid")?, vkey: f("vkey")? })
}

pub(super) fn tantivy_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Lake(format!("search index {what}: {e}"))
}

pub fn index_dir(lake: &Lake) -> PathBuf {
    lake.root.join(INDEX_DIR)
}

/// What a committed index covers: its commit payload.
#[derive(serde::Serialize, serde::Deserialize, Default, Clone)]
pub(super) struct Payload {
    pub(super) format: u32,
    /// The runs whose events the index holds.
    pub(super) runs: BTreeSet<String>,
    /// Lake files (relative to the lake) by number; `at` points into this list.
    pub(super) files: Vec<String>,
}

/// Read an index's commit payload; `None` when it has none or is of another layout.
pub(super) fn payload_of(index: &Index) -> Option<Payload> {
    let meta = index.load_metas().ok()?;
    let payload: Payload = serde_json::from_str(meta.payload.as_deref()?).ok()?;
    (payload.format == FORMAT && fields(&index.schema()).is_ok()).then_some(payload)
}

/// Open the index with what it covers, for writing; `None` when the lake has none, or one of
/// another layout (which is then removed, to be rebuilt from Parquet). Only a process holding the
/// lake's write lock calls this.
pub(super) fn open_existing(lake: &Lake) -> Result<Option<(Index, Payload)>> {
    let dir = index_dir(lake);
    if !dir.join("meta.json").is_file() {
        return Ok(None);
    }
    let current = Index::open_in_dir(&dir).ok().filter(whole).and_then(|index| payload_of(&index).map(|p| (index, p)));
    if current.is_none() {
        std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    }
    Ok(current)
}

/// Open the index for reading, changing nothing on disk; `None` when there is no usable index.
pub(super) fn open_read_only(lake: &Lake) -> Option<(Index, Payload)> {
    let dir = index_dir(lake);
    if !dir.join("meta.json").is_file() {
        return None;
    }
    let mmap = tantivy::directory::MmapDirectory::open(&dir).ok()?;
    let index = Index::open(super::readonly::ReadOnlyDirectory(mmap)).ok().filter(whole)?;
    let payload = payload_of(&index)?;
    Some((index, payload))
}

/// Do the index's segment files match their checksums? A damaged posting list could make a search
/// read garbage or never end; an index that fails is not used (a writer rebuilds it from the
/// lake's Parquet files, a reader of a read-only lake says it cannot search).
fn whole(index: &Index) -> bool {
    index.validate_checksum().is_ok_and(|bad| bad.is_empty())
}

/// Open the index, creating an empty one when absent.
pub(super) fn open_or_create(lake: &Lake) -> Result<(Index, Payload)> {
    if let Some(found) = open_existing(lake)? {
        return Ok(found);
    }
    let dir = index_dir(lake);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let mmap = tantivy::directory::MmapDirectory::open(&dir).map_err(|e| tantivy_err("open", e))?;
    let index = Index::builder()
        .schema(build_schema())
        .settings(settings())
        .open_or_create(mmap)
        .map_err(|e| tantivy_err("open", e))?;
    Ok((index, Payload { format: FORMAT, ..Default::default() }))
}

/// The run that wrote a lake file, from its name `part-<run>-<seq>.parquet`.
pub fn run_of(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let stem = name.strip_prefix("part-")?.strip_suffix(".parquet")?;
    Some(stem.rsplit_once('-')?.0.to_string())
}

/// Every run that owns CloudTrail files, with its files.
pub(super) fn lake_runs(lake: &Lake) -> Result<BTreeMap<String, Vec<PathBuf>>> {
    let mut out: BTreeMap<String, Vec<PathBuf>> = Default::default();
    for f in lake.table_files(CLOUDTRAIL)? {
        if let Some(run) = run_of(&f) {
            out.entry(run).or_default().push(f);
        }
    }
    Ok(out)
}

/// A file's name relative to the lake, as the payload lists it.
pub(super) fn relative(lake: &Lake, path: &Path) -> String {
    path.strip_prefix(&lake.root).unwrap_or(path).to_string_lossy().replace('\\', "/")
}

pub(super) fn commit(writer: IndexWriter, payload: &Payload) -> Result<()> {
    commit_only(writer, payload)?.wait()
}

/// Commit, leaving the merges that follow to run: see [`Merging::wait`].
pub(super) fn commit_only(mut writer: IndexWriter, payload: &Payload) -> Result<Merging> {
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

/// Make the index's files as readable as its folder: tantivy writes `meta.json` and
/// `.managed.json` through temporary files created private (0600), so a reviewer who can read
/// the lake could not search it. Nothing is made more open than the folder already is.
pub fn share_files(lake: &Lake) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir = index_dir(lake);
        let Ok(meta) = std::fs::metadata(&dir) else { return };
        let readable = meta.permissions().mode() & 0o044;
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let Ok(m) = e.metadata() else { continue };
            let mode = m.permissions().mode();
            if m.is_file() && mode & readable != readable {
                let _ = std::fs::set_permissions(e.path(), std::fs::Permissions::from_mode(mode | readable));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = lake;
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
