//! The derived tables (`nacl_changes`, `network_interfaces`, `acl_associations`, `nacl_entries`,
//! `nacl_rule_sets`) stored in the lake as plain Parquet, so that any engine (DuckDB, Athena, a
//! Ballista cluster) reads them like the evidence tables, and no query needs them computed in
//! this process.
//!
//! They are written after every ingest and compaction ([`store`], called by `ingest`, `compact`
//! and `investigate`), under
//! `derived/TABLE/TABLE-FINGERPRINT.parquet`. The fingerprint names the state of the evidence
//! tables they were computed from (every data file's path and size: files are never rewritten,
//! only added or replaced by new ones). A session uses them while the fingerprint matches the lake;
//! when it does not (a lake written by an older trailflow, a copy of half a lake), or when the
//! session asks for something else than the lake's own view (`correlate --trusted`, one case's
//! evidence in a shared lake), the tables are computed in process as before.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::lake::Lake;

/// The folder of the stored derived tables, in the lake.
pub const DERIVED_DIR: &str = "derived";

/// The state of the lake's evidence tables: a hash of every data file's path and size, and of
/// what this trailflow computes from them (its version, the derived tables' columns).
pub fn fingerprint(lake: &Lake) -> Result<String> {
    let mut files = Vec::new();
    for table in crate::schema::TABLES {
        for f in lake.table_files(table)? {
            let rel = f.strip_prefix(&lake.root).unwrap_or(&f).to_string_lossy().replace('\\', "/");
            let len = std::fs::metadata(&f).map_err(|e| Error::io(&f, e))?.len();
            files.push((rel, len));
        }
    }
    Ok(fingerprint_of(&files))
}

/// The fingerprint of a lake holding `files` (path relative to the lake, size): SHA-256 of a text
/// that names the program's version, the derived tables' schemas and every file with its size,
/// cut to 16 hex digits. Documented in `docs/correlate.md`, the same on every build.
pub fn fingerprint_of(files: &[(String, u64)]) -> String {
    let mut text = format!("trailflow derived tables\nversion {}\n", env!("CARGO_PKG_VERSION"));
    for table in crate::schema::DERIVED_TABLES {
        text.push_str(&format!("table {table}\n"));
        if let Some(schema) = crate::schema::schema_of(table) {
            text.push_str(&crate::schema::schema_text(&schema));
        }
    }
    let mut files = files.to_vec();
    files.sort();
    for (rel, len) in files {
        text.push_str(&format!("file {rel} {len}\n"));
    }
    crate::schema::sha256_hex(&text)[..16].to_string()
}

/// Where a derived table computed from the lake state `fingerprint` is stored.
pub fn file(lake: &Lake, table: &str, fingerprint: &str) -> PathBuf {
    lake.root.join(DERIVED_DIR).join(table).join(format!("{table}-{fingerprint}.parquet"))
}

/// The stored derived tables, by name, when every one of them matches the lake as it is now.
pub fn current(lake: &Lake) -> Result<Option<Vec<(&'static str, PathBuf)>>> {
    if !lake.root.join(DERIVED_DIR).is_dir() {
        return Ok(None);
    }
    current_for(lake, &fingerprint(lake)?)
}

fn current_for(lake: &Lake, fp: &str) -> Result<Option<Vec<(&'static str, PathBuf)>>> {
    let files: Vec<(&'static str, PathBuf)> =
        crate::schema::DERIVED_TABLES.iter().map(|t| (*t, file(lake, t, fp))).collect();
    Ok(files.iter().all(|(_, f)| f.is_file()).then_some(files))
}

/// Compute the derived tables from the lake and store them, holding the lake's write lock (after
/// an ingest or a compaction). Files of earlier states are removed when no other process reads the
/// lake; otherwise the next writer removes them. Returns the rows stored per table, or `None` when
/// the stored tables were already current. Not from inside an async runtime (it runs its own).
pub fn store(lake_dir: &std::path::Path) -> Result<Option<Vec<(&'static str, usize)>>> {
    let lake = Lake::open(lake_dir)?;
    let _lock = lake.lock_for_write()?;
    let lake = &lake;
    let fp = fingerprint(lake)?;
    if current_for(lake, &fp)?.is_some() {
        return Ok(None);
    }
    let runtime = crate::query::runtime()?;
    let tables = runtime.block_on(async {
        let derived = super::table::Derived::new(lake.clone(), None, crate::query::Scope::default());
        derived.tables().await.cloned()
    })?;
    let mut written = Vec::new();
    for (name, batch) in &tables {
        let path = file(lake, name, &fp);
        let dir = path.parent().expect("a file in a folder");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let tmp = path.with_extension("parquet.tmp");
        let out = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
        crate::output::write(
            crate::output::Format::Parquet,
            std::slice::from_ref(batch),
            Box::new(std::io::BufWriter::new(out)),
        )?;
        std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&tmp, e))?;
        written.push((*name, batch.num_rows()));
    }
    remove_stale(lake, &fp)?;
    Ok(Some(written))
}

/// Remove the stored tables of other lake states, unless a reader may be using them.
fn remove_stale(lake: &Lake, fingerprint: &str) -> Result<()> {
    let Some(_alone) = lake.readers_if_none()? else { return Ok(()) };
    for table in crate::schema::DERIVED_TABLES {
        let keep = file(lake, table, fingerprint);
        let dir = lake.root.join(DERIVED_DIR).join(table);
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for e in entries.flatten() {
            let p = e.path();
            if p != keep {
                std::fs::remove_file(&p).map_err(|err| Error::io(&p, err))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod fingerprint_tests {
    use super::fingerprint_of;

    #[test]
    fn the_fingerprint_is_a_stable_digest_of_the_files() {
        let files = vec![
            ("cloudtrail/dt=2026-03-10/part-a.parquet".to_string(), 1000),
            ("flow_logs/dt=2026-03-10/part-b.parquet".to_string(), 2000),
        ];
        let fp = fingerprint_of(&files);
        // SHA-256 of a documented text: the same on every build, every machine and every run
        // (pinned here; it changes only with the version, the derived schemas or the files).
        assert_eq!(fp, fingerprint_of(&files.iter().rev().cloned().collect::<Vec<_>>()));
        assert_eq!(fp.len(), 16);
        assert!(fp.chars().all(|c| c.is_ascii_hexdigit()));
        let mut grown = files.clone();
        grown[1].1 += 1;
        assert_ne!(fp, fingerprint_of(&grown));
        let text = format!(
            "trailflow derived tables\nversion {}\n{}file cloudtrail/dt=2026-03-10/part-a.parquet 1000\nfile \
                flow_logs/dt=2026-03-10/part-b.parquet 2000\n",
            env!("CARGO_PKG_VERSION"),
            crate::schema::DERIVED_TABLES
                .iter()
                .map(|t| format!(
                    "table {t}\n{}",
                    crate::schema::schema_of(t).map(|s| crate::schema::schema_text(&s)).unwrap_or_default()
                ))
                .collect::<String>()
        );
        // Any other program computing SHA-256 of that text gets the same fingerprint.
        use sha2::Digest;
        let hex: String = sha2::Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(fp, hex[..16]);
    }
}
