//! What an ingest reports: rejected input (`ingest_errors` rows), what kind of evidence a file held,
//! and the run's summary.

use crate::output::screen_text;
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// How bad a reported problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Input that was not loaded.
    Error,
    /// Input that was loaded, with something worth knowing (an unknown field).
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One row of `ingest_errors`.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorRow {
    pub severity: Severity,
    pub file: String,
    pub member: Option<String>,
    pub line: Option<u64>,
    pub record: Option<u64>,
    pub reason: String,
    pub excerpt: Option<String>,
}

impl ErrorRow {
    pub fn file(file: &str, member: Option<String>, reason: String) -> Self {
        ErrorRow {
            severity: Severity::Error,
            file: file.to_string(),
            member,
            line: None,
            record: None,
            reason,
            excerpt: None,
        }
    }

    /// `file!member`, as in the other tables' `source_file`.
    pub fn source_file(&self) -> String {
        match &self.member {
            Some(m) => format!("{}!{m}", self.file),
            None => self.file.clone(),
        }
    }

    /// The one-line form printed in summaries.
    pub fn one_line(&self) -> String {
        let mut s = self.source_file();
        if let Some(l) = self.line {
            s.push_str(&format!(":{l}"));
        }
        if let Some(r) = self.record {
            s.push_str(&format!(" (record {r})"));
        }
        format!("{s}: {}", self.reason)
    }
}

/// What kind of evidence a file held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Cloudtrail,
    CloudtrailDigest,
    FlowLogs,
    Inventory,
    Unknown,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Cloudtrail => "cloudtrail",
            Kind::CloudtrailDigest => "cloudtrail_digest",
            Kind::FlowLogs => "flow_logs",
            Kind::Inventory => "inventory",
            Kind::Unknown => "unknown",
        }
    }
}

/// The run's summary, printed by `ingest` and returned to callers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub lake: String,
    pub run_id: String,
    pub files_seen: u64,
    pub files_loaded: u64,
    /// Files whose identical content another file of this run or of the lake holds: named in
    /// `ingested_files` (status `duplicate`, with `duplicate_of`), not loaded again.
    pub files_copies: u64,
    /// Files the lake already names under the same path: nothing to add.
    pub files_already_in_lake: u64,
    /// Left out because a `.trailflowignore` names them.
    pub files_ignored: u64,
    /// trailflow's own folders in the inputs (lakes, report folders), left out: not evidence.
    pub own_folders: Vec<String>,
    /// What failed after the run was in the lake (the index, the merge of small files): the run
    /// stands, and the exit status says work is left.
    pub after_publish: Vec<String>,
    pub files_by_kind: BTreeMap<String, u64>,
    pub files_rejected: u64,
    pub records: u64,
    pub rows: BTreeMap<String, u64>,
    pub duplicate_events: u64,
    pub errors: u64,
    pub warnings: u64,
    /// The first rejected inputs, one line each.
    pub rejected: Vec<String>,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
    pub accounts: BTreeSet<String>,
    pub regions: BTreeSet<String>,
    pub inventory_time: Option<String>,
    pub inventory_time_basis: Option<String>,
    /// Small files merged away at the end of the run (`ingest::compact::after_ingest`).
    pub compacted_files: usize,
    pub seconds: f64,
    /// Every file this run read, loaded or not: (`source_file`, `file_id`).
    #[serde(skip)]
    pub evidence: Vec<(String, String)>,
}

/// Evidence values, each made safe for a terminal, joined.
fn screen_list(values: &BTreeSet<String>) -> String {
    values.iter().map(|v| screen_text(v).into_owned()).collect::<Vec<_>>().join(", ")
}

impl Summary {
    /// Some input was rejected: the caller should exit with the "partial" status.
    pub fn had_errors(&self) -> bool {
        self.errors > 0 || !self.after_publish.is_empty()
    }

    /// Something failed after the run was published: a warning, not a fatal error.
    pub fn after_publish(&mut self, what: String) {
        self.warnings += 1;
        self.after_publish.push(what);
    }

    /// A human-readable rendering.
    pub fn render(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("lake            {}\n", screen_text(&self.lake)));
        s.push_str(&format!(
            "files           {} seen, {} loaded, {} rejected, {} already in the lake\n",
            self.files_seen, self.files_loaded, self.files_rejected, self.files_already_in_lake
        ));
        if self.files_copies > 0 {
            s.push_str(&format!(
                "  copies        {} identical to another file, named in ingested_files (status duplicate)\n",
                self.files_copies
            ));
        }
        if self.files_ignored > 0 {
            s.push_str(&format!("  ignored       {} (named in .trailflowignore)\n", self.files_ignored));
        }
        for f in &self.own_folders {
            s.push_str(&format!("  not evidence  {}: left out\n", screen_text(f)));
        }
        if !self.files_by_kind.is_empty() {
            let kinds: Vec<String> = self.files_by_kind.iter().map(|(k, n)| format!("{k} {n}")).collect();
            s.push_str(&format!("  by kind       {}\n", kinds.join(", ")));
        }
        s.push_str(&format!("records         {}\n", self.records));
        for (t, n) in &self.rows {
            s.push_str(&format!("  {t:<13} {n} rows\n"));
        }
        if self.duplicate_events > 0 {
            s.push_str(&format!(
                "duplicates      {} CloudTrail events already stored (kept once)\n",
                self.duplicate_events
            ));
        }
        if let (Some(a), Some(b)) = (&self.first_time, &self.last_time) {
            s.push_str(&format!("time range      {a} .. {b}\n"));
        }
        if !self.accounts.is_empty() {
            s.push_str(&format!("accounts        {}\n", screen_list(&self.accounts)));
        }
        if !self.regions.is_empty() {
            s.push_str(&format!("regions         {}\n", screen_list(&self.regions)));
        }
        if let Some(t) = &self.inventory_time {
            s.push_str(&format!("inventory time  {t} ({})\n", self.inventory_time_basis.as_deref().unwrap_or("given")));
        }
        s.push_str(&format!(
            "problems        {} errors, {} warnings (see table ingest_errors)\n",
            self.errors, self.warnings
        ));
        for r in &self.rejected {
            s.push_str(&format!("  {}\n", screen_text(r)));
        }
        if self.errors as usize > self.rejected.len() {
            s.push_str(&format!(
                "  ... and {} more: trailflow sql \"SELECT * FROM ingest_errors\"\n",
                self.errors as usize - self.rejected.len()
            ));
        }
        for w in &self.after_publish {
            s.push_str(&format!("after the run   {}\n", screen_text(w)));
        }
        if self.compacted_files > 0 {
            s.push_str(&format!("compacted       {} small files merged into larger ones\n", self.compacted_files));
        }
        s.push_str(&format!("took            {:.2}s\n", self.seconds));
        s
    }
}
