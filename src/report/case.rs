//! Which case a report folder holds (`case.json`), making a folder ready for a case, and the rows
//! of a case in a lake that several cases share.

use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;

use super::{InvestigateOptions, write_file};
use crate::error::{Error, Result};

/// The file that marks a folder as a case's report folder, and says which case.
pub(super) const CASE_FILE: &str = "case.json";
/// The case's own lake, inside its report folder.
pub(super) const CASE_LAKE: &str = "lake";
/// What `investigate` writes in a report folder besides the case file and lake; a rerun writes
/// all of it anew.
pub(super) const GENERATED: &[&str] = &["summary.md", "report.html", "correlation.csv", "hunts", "timelines", "charts"];

/// The case a report folder holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(super) struct CaseFile {
    /// `--case`, when given.
    pub(super) case: Option<String>,
    /// The evidence paths, as given, of every run of the case.
    pub(super) evidence: Vec<String>,
    /// The same, as canonical absolute paths: what the case's rows are read under in a shared
    /// lake (two cases that each call their evidence `evidence` are two cases). Empty in case
    /// files written before it was recorded.
    #[serde(default)]
    pub(super) evidence_real: Vec<String>,
    /// The files the last run wrote in the folder (relative paths): what a rerun or `--replace`
    /// removes, and nothing else. `None` in case files written before it was recorded.
    #[serde(default)]
    pub(super) written: Option<Vec<String>>,
    /// The lake the case's rows are in.
    pub(super) lake: String,
    /// True when the lake is the case's own (in the folder) rather than shared.
    pub(super) own_lake: bool,
}

impl CaseFile {
    fn describe(&self) -> String {
        match &self.case {
            Some(name) => format!("case {name:?}"),
            None => format!("evidence {}", self.evidence.join(", ")),
        }
    }

    /// Is this the same case as `other`: the same name, or (both unnamed) the same evidence in the
    /// same lake?
    fn same_case(&self, other: &CaseFile) -> bool {
        let real = |v: &[String]| -> Vec<PathBuf> {
            let mut r: Vec<PathBuf> =
                v.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))).collect();
            r.sort();
            r.dedup();
            r
        };
        match (&self.case, &other.case) {
            (Some(a), Some(b)) => a == b,
            (None, None) => {
                let mine = if self.evidence_real.is_empty() { real(&self.evidence) } else { real(&self.evidence_real) };
                let theirs =
                    if other.evidence_real.is_empty() { real(&other.evidence) } else { real(&other.evidence_real) };
                mine == theirs && self.lake == other.lake
            }
            _ => false,
        }
    }
}

/// Make the report folder ready for this case, and say where its lake is. A folder that holds
/// another case, or other files, is refused unless `--replace` is given; then trailflow's files in
/// it (and its own lake) are removed. A rerun of the same case keeps the lake (it grows) and
/// rewrites the rest.
pub(super) fn prepare_folder(opts: &InvestigateOptions) -> Result<CaseFile> {
    let out = &opts.output;
    if out.exists() && !out.is_dir() {
        return Err(Error::Usage(format!("{} is a file, not a report folder: give -o a folder", out.display())));
    }
    let lake = opts.lake.clone().unwrap_or_else(|| out.join(CASE_LAKE));
    let mut case = CaseFile {
        case: opts.case.clone(),
        evidence: opts.inputs.iter().map(|p| p.display().to_string()).collect(),
        evidence_real: opts.inputs.iter().map(|p| real_path(p).display().to_string()).collect(),
        lake: lake.display().to_string(),
        own_lake: opts.lake.is_none(),
        written: None,
    };
    let previous: Option<Result<CaseFile>> =
        std::fs::read_to_string(out.join(CASE_FILE)).ok().map(|t| Ok(serde_json::from_str(&t)?));
    let same = matches!(&previous, Some(Ok(p)) if p.same_case(&case));
    let used = std::fs::read_dir(out).is_ok_and(|mut d| d.next().is_some());
    let remove = |name: &str| -> Result<()> {
        let p = out.join(name);
        let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
        match r {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(&p, e)),
            _ => Ok(()),
        }
    };
    if used && !same {
        if !opts.replace {
            return Err(Error::Usage(match &previous {
                Some(Ok(p)) => format!(
                    "{} holds the report of another case ({}): give -o another folder, --case NAME to name this one, \
                        or --replace to replace that case (its own lake included)",
                    out.display(),
                    p.describe()
                ),
                Some(Err(_)) | None => format!(
                    "{} is not empty and holds no trailflow report: give -o a new or empty folder, or --replace to \
                        write over trailflow's files in it",
                    out.display()
                ),
            }));
        }
        remove_generated(out, previous.as_ref().and_then(|p| p.as_ref().ok()))?;
        remove(CASE_FILE)?;
        // The replaced case's own lake goes with it; a shared lake is never touched.
        if matches!(&previous, Some(Ok(p)) if p.own_lake) || out.join(CASE_LAKE).join("_trailflow").is_dir() {
            remove(CASE_LAKE)?;
        }
    } else if same {
        remove_generated(out, previous.as_ref().and_then(|p| p.as_ref().ok()))?;
        if let Some(Ok(p)) = &previous {
            // A named case gathers the evidence of all its runs.
            for e in &p.evidence {
                if !case.evidence.contains(e) {
                    case.evidence.insert(0, e.clone());
                }
            }
            for e in &p.evidence_real {
                if !case.evidence_real.contains(e) {
                    case.evidence_real.insert(0, e.clone());
                }
            }
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    write_file(&out.join(CASE_FILE), &serde_json::to_string_pretty(&case)?)?;
    Ok(case)
}

/// A path as a canonical absolute one (as given when it cannot be resolved).
pub(super) fn real_path(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()))
}

/// Remove what an earlier run wrote in the folder: the files its case file lists (a file of the
/// user's own among them, in `hunts/` say, stays), then the folders left empty. A case file
/// written before the list was kept: trailflow's files and folders by name, as then.
fn remove_generated(out: &Path, previous: Option<&CaseFile>) -> Result<()> {
    let gone = |r: std::io::Result<()>, p: &Path| match r {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    };
    match previous.and_then(|p| p.written.as_ref()) {
        Some(files) => {
            for f in files {
                // Only plain relative names inside the folder: a case file is no licence to remove
                // anything else.
                let rel = Path::new(f);
                if rel.is_absolute() || rel.components().any(|c| !matches!(c, std::path::Component::Normal(_))) {
                    continue;
                }
                let p = out.join(rel);
                if p.symlink_metadata().is_ok_and(|m| m.is_file()) {
                    gone(std::fs::remove_file(&p), &p)?;
                }
            }
            for dir in GENERATED.iter().chain(["sigma"].iter()) {
                let p = out.join(dir);
                if p.is_dir() {
                    // Left when the user's own files are in it.
                    let _ = std::fs::remove_dir(&p);
                }
            }
            Ok(())
        }
        None => {
            for name in GENERATED {
                let p = out.join(name);
                let r = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
                gone(r, &p)?;
            }
            Ok(())
        }
    }
}

/// Record in the case file the files this run wrote in the folder (those changed since `since`,
/// outside the lake).
pub(super) fn record_written(out: &Path, case: &mut CaseFile, since: std::time::SystemTime) -> Result<()> {
    fn walk(dir: &Path, base: &Path, since: std::time::SystemTime, acc: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else { return };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() {
                walk(&p, base, since, acc);
            } else if meta.is_file()
                && meta.modified().is_ok_and(|m| m >= since)
                && let Ok(rel) = p.strip_prefix(base)
            {
                acc.push(rel.to_string_lossy().to_string());
            }
        }
    }
    let mut written = Vec::new();
    for name in GENERATED.iter().chain(["sigma"].iter()) {
        let p = out.join(name);
        if p.is_dir() {
            walk(&p, out, since, &mut written);
        } else if p.is_file() {
            written.push(name.to_string());
        }
    }
    written.sort();
    case.written = Some(written);
    write_file(&out.join(CASE_FILE), &serde_json::to_string_pretty(&*case)?)
}

/// The rows of a case in a shared lake: the files under its evidence paths, the files they are
/// copies of, and the events of those files stored once from another file.
pub(super) async fn case_scope(lake: &crate::lake::Lake, evidence: &[String]) -> Result<crate::query::Scope> {
    use datafusion::arrow::array::{Array, AsArray};
    let ctx = crate::query::tables_session(lake, &crate::query::Scope::default()).await?;
    let under = |file: &str| {
        evidence.iter().any(|p| {
            let p = p.trim_end_matches('/');
            file == p || file.strip_prefix(p).is_some_and(|rest| rest.starts_with(['/', '!']))
        })
    };
    let text = |b: &RecordBatch, i: usize| -> Result<datafusion::arrow::array::StringArray> {
        let c = datafusion::arrow::compute::cast(b.column(i), &datafusion::arrow::datatypes::DataType::Utf8)?;
        Ok(c.as_string::<i32>().clone())
    };
    let mut files = std::collections::BTreeSet::new();
    let listed = crate::query::query(&ctx, "SELECT source_file, duplicate_of FROM ingested_files").await?;
    for b in &listed {
        let (names, of) = (text(b, 0)?, text(b, 1)?);
        for i in 0..b.num_rows() {
            if under(names.value(i)) {
                files.insert(names.value(i).to_string());
                if of.is_valid(i) {
                    files.insert(of.value(i).to_string());
                }
            }
        }
    }
    let mut events = std::collections::BTreeSet::new();
    if ctx.table_exist(crate::schema::EVENT_COPIES)? {
        let copies = crate::query::query(&ctx, "SELECT DISTINCT event_id, source_file FROM event_copies").await?;
        for b in &copies {
            let (ids, names) = (text(b, 0)?, text(b, 1)?);
            for i in 0..b.num_rows() {
                if files.contains(names.value(i)) {
                    events.insert(ids.value(i).to_string());
                }
            }
        }
    }
    Ok(crate::query::Scope {
        files: Some(std::sync::Arc::new(files.into_iter().collect())),
        events: std::sync::Arc::new(events.into_iter().collect()),
        inputs: std::sync::Arc::new(evidence.to_vec()),
    })
}
