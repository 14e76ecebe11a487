//! Saved hunts: plain `.sql` files with a comment header (name, title, severity, description,
//! ATT&CK ids in both numberings, parameters with defaults). The files of `queries/` are built into
//! the binary; `--queries DIR` adds more, and a file there with the name of a built-in hunt
//! replaces it.
//!
//! Parameters are bound as query parameters (`$name` in the SQL), never pasted into the text: a
//! value is parsed as the declared type and becomes a literal of the plan.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::ParamValues;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{DataFrame, SessionContext, col, lit};
use datafusion::scalar::ScalarValue;

pub mod sigma;

use crate::error::{Error, Result};

/// The hunts built into the binary: `(file name, text)` of every `queries/*.sql` but the correlation.
pub const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/hunts.rs"));

/// How much a hit matters, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: &[Severity] = &[Severity::Critical, Severity::High, Severity::Medium, Severity::Low, Severity::Info];

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "info" | "informational" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The type of a parameter, which decides how its text is read and what literal it becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamType {
    /// A 64-bit integer.
    Int,
    /// A floating-point number.
    Float,
    /// Text (a list is text too, read in SQL with `string_to_array($p, ',')`).
    Text,
    /// `true` or `false`.
    Bool,
    /// `90m`, `24h`, `2d`: an interval, to add to or subtract from times.
    Duration,
}

impl ParamType {
    fn parse(s: &str) -> Option<ParamType> {
        Some(match s {
            "int" => ParamType::Int,
            "float" => ParamType::Float,
            "text" => ParamType::Text,
            "bool" => ParamType::Bool,
            "duration" => ParamType::Duration,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::Int => "int",
            ParamType::Float => "float",
            ParamType::Text => "text",
            ParamType::Bool => "bool",
            ParamType::Duration => "duration",
        }
    }

    /// The literal for a value given as text, or why it is not one.
    pub fn value(self, text: &str) -> Result<ScalarValue> {
        let t = text.trim();
        let bad = |what: &str| Error::Usage(format!("{t:?} is not {what}"));
        Ok(match self {
            ParamType::Int => ScalarValue::Int64(Some(t.parse().map_err(|_| bad("an integer"))?)),
            ParamType::Float => ScalarValue::Float64(Some(t.parse().map_err(|_| bad("a number"))?)),
            ParamType::Text => ScalarValue::Utf8(Some(text.to_string())),
            ParamType::Bool => ScalarValue::Boolean(Some(match t.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => true,
                "false" | "no" | "0" => false,
                _ => return Err(bad("true or false")),
            })),
            ParamType::Duration => {
                let us = crate::time::parse_duration(t)?;
                ScalarValue::IntervalMonthDayNano(Some(datafusion::arrow::datatypes::IntervalMonthDayNano::new(
                    0,
                    0,
                    us * 1000,
                )))
            }
        })
    }
}

/// A declared parameter: `-- param: NAME TYPE DEFAULT DESCRIPTION`.
#[derive(Debug, Clone)]
pub struct Param {
    pub name: String,
    pub ty: ParamType,
    pub default: String,
    pub description: String,
}

/// One saved hunt.
#[derive(Debug, Clone)]
pub struct Hunt {
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    /// ATT&CK technique ids as numbered before 2026 (T1562.007).
    pub attack: Vec<String>,
    /// The same techniques in the renumbered ATT&CK (v19 and later: T1686.001).
    pub attack_v19: Vec<String>,
    pub params: Vec<Param>,
    /// The output column that `--from` / `--to` filter on (default: the first timestamp column).
    pub time_column: Option<String>,
    /// Kinds of evidence the hunt depends on beyond its tables (`-- sees: s3_data_events`): where
    /// the evidence lacks one for part of the case, the report says the hunt was partly blind.
    pub sees: Vec<String>,
    pub sql: String,
    /// Where it came from: `built-in queries/NAME.sql` or the file's path.
    pub origin: String,
}

/// A problem with a hunt file, with the line it is on (1-based; 0 when it is about the whole file).
#[derive(Debug, Clone)]
pub struct Problem {
    pub origin: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: {}", self.origin, self.line, self.message)
        } else {
            write!(f, "{}: {}", self.origin, self.message)
        }
    }
}

fn is_ident(s: &str) -> bool {
    let mut c = s.chars();
    c.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn is_technique(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    b.first() == Some(&b'T') && digits(1..5) && (b.len() == 5 || (b.len() == 9 && b[5] == b'.' && digits(6..9)))
}

/// The kinds of evidence a hunt's `sees:` may name, the coverage the report measures: each
/// with what the report calls it and what it lets one see.
pub const COVERAGE_KINDS: &[(&str, &str, &str)] = &[
    ("management_events", "CloudTrail management events", "API calls that read or change the account's configuration"),
    ("s3_data_events", "CloudTrail S3 data events", "object reads, writes and deletions"),
    ("lambda_data_events", "CloudTrail Lambda data events", "function invocations"),
    ("other_data_events", "CloudTrail data events of other services", "their data-plane calls"),
    ("insights_events", "CloudTrail Insights events", "unusual API call rates"),
    ("network_activity_events", "CloudTrail network activity events", "calls through VPC endpoints"),
    ("flow_logs", "VPC flow logs", "network traffic to and from the interfaces"),
    ("digests", "CloudTrail digest files", "proof that the log files are whole and unchanged"),
];

/// Read a hunt file: its header and its SQL. `stem` is the file name without `.sql`, which must be
/// the hunt's name.
pub fn parse(text: &str, origin: &str, stem: &str) -> std::result::Result<Hunt, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut fields: BTreeMap<&str, (usize, String)> = BTreeMap::new();
    let mut attack = Vec::new();
    let mut attack_v19 = Vec::new();
    let mut params: Vec<Param> = Vec::new();
    let mut sees: Vec<String> = Vec::new();
    let mut last: Option<&str> = None;
    let problem = |line: usize, message: String| Problem { origin: origin.to_string(), line, message };
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        let Some(body) = line.trim_start().strip_prefix("--") else {
            if line.trim().is_empty() {
                continue;
            }
            break;
        };
        let key_value = body.trim().split_once(':').filter(|(k, _)| is_ident(k.trim()) && !body.starts_with("   "));
        match key_value {
            Some((key, value)) => {
                let (key, value) = (key.trim(), value.trim());
                last = Some(match key {
                    "sees" => {
                        for kind in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                            if !COVERAGE_KINDS.iter().any(|(k, _, _)| *k == kind) {
                                let known: Vec<&str> = COVERAGE_KINDS.iter().map(|(k, _, _)| *k).collect();
                                problems.push(problem(n, format!("sees: {kind:?} is none of {}", known.join(", "))));
                            }
                            sees.push(kind.to_string());
                        }
                        "sees"
                    }
                    "name" | "title" | "severity" | "description" | "time" => {
                        if fields.insert(key, (n, value.to_string())).is_some() {
                            problems.push(problem(n, format!("`{key}` is given twice")));
                        }
                        key
                    }
                    "attack" | "attack_v19" => {
                        for id in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                            if !is_technique(id) {
                                problems.push(problem(
                                    n,
                                    format!("{id:?} is not an ATT&CK technique id such as T1562.007"),
                                ));
                            }
                            if key == "attack" { attack.push(id.to_string()) } else { attack_v19.push(id.to_string()) }
                        }
                        "attack"
                    }
                    "param" => {
                        let mut parts = value.splitn(4, char::is_whitespace).filter(|s| !s.is_empty());
                        let (name, ty, default) = (parts.next(), parts.next(), parts.next());
                        let description = parts.next().unwrap_or("").trim().to_string();
                        match (name, ty.and_then(ParamType::parse), default) {
                            (Some(name), Some(ty), Some(default)) if is_ident(name) => {
                                let default = if default == "''" { String::new() } else { default.to_string() };
                                if let Err(e) = ty.value(&default) {
                                    problems.push(problem(n, format!("parameter {name}: default {e}")));
                                }
                                if params.iter().any(|p| p.name == name) {
                                    problems.push(problem(n, format!("parameter {name} is declared twice")));
                                }
                                params.push(Param { name: name.to_string(), ty, default, description });
                            }
                            _ => problems.push(problem(
                                n,
                                "a parameter is `-- param: NAME TYPE DEFAULT description`, TYPE one of int, float, \
                                    text, bool, duration"
                                    .into(),
                            )),
                        }
                        "param"
                    }
                    other => {
                        problems.push(problem(
                            n,
                            format!(
                                "unknown header field `{other}` (known: name, title, \
                            severity, description, attack, attack_v19, time, sees, param)"
                            ),
                        ));
                        other
                    }
                });
            }
            None => {
                // A continuation line: more description (or more of a parameter's description).
                let more = body.trim();
                if more.is_empty() {
                    continue;
                }
                match last {
                    Some("description") => {
                        let d = &mut fields.get_mut("description").expect("seen").1;
                        d.push(' ');
                        d.push_str(more);
                    }
                    Some("param") => {
                        let p = params.last_mut().expect("seen");
                        p.description.push(' ');
                        p.description.push_str(more);
                    }
                    _ => {}
                }
            }
        }
    }
    let mut get = |key: &str| -> String {
        match fields.remove(key) {
            Some((_, v)) if !v.is_empty() => v,
            _ => {
                problems.push(problem(0, format!("the header has no `-- {key}:` line")));
                String::new()
            }
        }
    };
    let name = get("name");
    let title = get("title");
    let severity_text = get("severity");
    let description = get("description");
    let time_column = fields.remove("time").map(|(_, v)| v);
    if !name.is_empty() && !is_ident(&name) {
        problems.push(problem(0, format!("name {name:?}: use lowercase letters, digits and _")));
    } else if !name.is_empty() && name != stem {
        problems.push(problem(0, format!("name {name:?} differs from the file name {stem}.sql")));
    }
    let severity = Severity::parse(&severity_text);
    if severity.is_none() && !severity_text.is_empty() {
        problems.push(problem(0, format!("severity {severity_text:?}: use info, low, medium, high or critical")));
    }
    if attack.is_empty() {
        problems.push(problem(0, "the header has no `-- attack:` technique ids (pre-2026 numbering)".into()));
    }
    if attack_v19.is_empty() {
        problems.push(problem(0, "the header has no `-- attack_v19:` technique ids (renumbered ATT&CK)".into()));
    }
    let sql = text.trim().trim_end_matches(';').trim().to_string();
    if sql.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with("--")) {
        problems.push(problem(0, "no SQL after the header".into()));
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    Ok(Hunt {
        name,
        title,
        severity: severity.expect("checked"),
        description,
        attack,
        attack_v19,
        params,
        time_column,
        sees,
        sql,
        origin: origin.to_string(),
    })
}

/// The hunts: the built-in ones, then those of `extra` (which replace built-ins of the same name).
/// Files that do not parse are returned as problems, and the others still load.
pub fn catalog(extra: Option<&Path>) -> Result<(Vec<Hunt>, Vec<Problem>)> {
    let mut hunts: BTreeMap<String, Hunt> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut add = |file: &str, text: &str, origin: String| {
        let stem = file.strip_suffix(".sql").unwrap_or(file);
        match parse(text, &origin, stem) {
            Ok(h) => {
                hunts.insert(h.name.clone(), h);
            }
            Err(p) => problems.extend(p),
        }
    };
    for (file, text) in BUILTIN {
        add(file, text, format!("built-in queries/{file}"));
    }
    if let Some(dir) = extra {
        let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(Error::Usage(format!("{}: no .sql hunt files in this folder", dir.display())));
        }
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            let file = path.file_name().expect("a file").to_string_lossy().to_string();
            add(&file, &text, path.display().to_string());
        }
    }
    Ok((hunts.into_values().collect(), problems))
}

/// Pick hunts by name; an unknown name is an error that lists the known ones.
pub fn select<'a>(hunts: &'a [Hunt], names: &[String]) -> Result<Vec<&'a Hunt>> {
    names
        .iter()
        .map(|n| {
            hunts.iter().find(|h| &h.name == n).ok_or_else(|| {
                let near = hunts
                    .iter()
                    .map(|h| (strsim::levenshtein(&h.name, n), &h.name))
                    .filter(|(d, name)| *d <= 3 || name.contains(n.as_str()))
                    .min();
                match near {
                    Some((_, name)) => Error::Usage(format!(
                        "unknown hunt {n:?}; did you mean {name}? (`trailflow hunt list` shows the {} hunts)",
                        hunts.len()
                    )),
                    None => Error::Usage(format!(
                        "unknown hunt {n:?}: `trailflow hunt list` shows the {} hunts",
                        hunts.len()
                    )),
                }
            })
        })
        .collect()
}

/// `--param k=v` values, checked against the hunts that will run: every name must belong to at
/// least one of them, and every value must read as its type.
pub fn check_params(hunts: &[&Hunt], given: &[(String, String)]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for (k, v) in given {
        let declared: Vec<&Param> = hunts.iter().flat_map(|h| h.params.iter()).filter(|p| &p.name == k).collect();
        if declared.is_empty() {
            let mut known: Vec<&str> = hunts.iter().flat_map(|h| h.params.iter().map(|p| p.name.as_str())).collect();
            known.sort();
            known.dedup();
            return Err(Error::Usage(format!(
                "unknown parameter {k:?} for the selected hunts (they take: {})",
                if known.is_empty() { "none".to_string() } else { known.join(", ") }
            )));
        }
        for p in declared {
            p.ty.value(v).map_err(|e| Error::Usage(format!("parameter {k}: {e} (a {})", p.ty.as_str())))?;
        }
        out.insert(k.clone(), v.clone());
    }
    Ok(out)
}

/// A time window for `--from` / `--to`, in microseconds since the epoch (UTC).
#[derive(Debug, Clone, Copy, Default)]
pub struct TimeRange {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// The hunt as a DataFrame, parameters bound and the time range applied to its time column.
pub async fn dataframe(
    ctx: &SessionContext,
    hunt: &Hunt,
    values: &HashMap<String, String>,
    range: TimeRange,
) -> Result<DataFrame> {
    let err =
        |e: &dyn std::fmt::Display| Error::BadQuery(format!("hunt {}: {}", hunt.name, crate::output::one_line(e)));
    let df = crate::query::user_sql(ctx, &hunt.sql).await.map_err(|e| err(&e))?;
    let used = df.logical_plan().get_parameter_names().map_err(|e| err(&e))?;
    for id in &used {
        let name = id.trim_start_matches('$');
        if !hunt.params.iter().any(|p| p.name == name) {
            return Err(err(&format!(
                "the SQL uses {id}, which the header does not declare (`-- param: {name} TYPE DEFAULT ...`)"
            )));
        }
    }
    let mut map = HashMap::new();
    for p in &hunt.params {
        let text = values.get(&p.name).unwrap_or(&p.default);
        let v = p.ty.value(text).map_err(|e| err(&format!("parameter {}: {e}", p.name)))?;
        map.insert(p.name.clone(), v.into());
    }
    let mut df = if used.is_empty() { df } else { df.with_param_values(ParamValues::Map(map)).map_err(|e| err(&e))? };
    if range.from.is_some() || range.to.is_some() {
        let column = time_column(hunt, &df).ok_or_else(|| {
            err(&"--from/--to need a time column: the hunt returns no timestamp (set `-- time: COLUMN`)")
        })?;
        let at = |us: i64| lit(ScalarValue::TimestampMicrosecond(Some(us), Some(Arc::from("UTC"))));
        let mut cond: Option<Expr> = None;
        if let Some(f) = range.from {
            cond = Some(col(&column).gt_eq(at(f)));
        }
        if let Some(t) = range.to {
            let c = col(&column).lt(at(t));
            cond = Some(match cond {
                Some(x) => x.and(c),
                None => c,
            });
        }
        df = df.filter(cond.expect("one bound")).map_err(|e| err(&e))?;
    }
    Ok(df)
}

/// The column `--from` / `--to` apply to: the declared one, else the first timestamp column.
fn time_column(hunt: &Hunt, df: &DataFrame) -> Option<String> {
    let schema = df.schema();
    if let Some(c) = &hunt.time_column {
        return schema.field_with_unqualified_name(c).ok().map(|f| f.name().clone());
    }
    schema
        .fields()
        .iter()
        .find(|f| matches!(f.data_type(), DataType::Timestamp(TimeUnit::Microsecond, _)))
        .map(|f| f.name().clone())
}

/// Check every hunt without running it: the header, the parameters against the SQL, and a full
/// plan (analysis, optimisation, physical plan) with the defaults bound.
pub async fn lint(ctx: &SessionContext, hunts: &[Hunt]) -> Vec<Problem> {
    let mut problems = Vec::new();
    for hunt in hunts {
        let problem = |message: String| Problem { origin: hunt.origin.clone(), line: 0, message };
        let df = match dataframe(ctx, hunt, &HashMap::new(), TimeRange::default()).await {
            Ok(df) => df,
            Err(e) => {
                problems.push(problem(e.to_string()));
                continue;
            }
        };
        match df.logical_plan().get_parameter_names() {
            Ok(used) => {
                for p in &hunt.params {
                    if !hunt.sql.contains(&format!("${}", p.name)) && !used.contains(&format!("${}", p.name)) {
                        problems.push(problem(format!(
                            "parameter {} is declared but the SQL never uses ${}",
                            p.name, p.name
                        )));
                    }
                }
            }
            Err(e) => problems.push(problem(e.to_string())),
        }
        if let Some(c) = &hunt.time_column
            && df.schema().field_with_unqualified_name(c).is_err()
        {
            problems.push(problem(format!("time column {c:?} is not a column of the result")));
        }
        if let Err(e) = df.create_physical_plan().await {
            problems.push(problem(format!("does not plan: {}", crate::output::one_line(&e))));
        }
    }
    problems
}

/// The kinds of evidence the tables of a hunt come from: (table, what it is called when absent,
/// the stored tables any one of which supplies it).
const SOURCES: &[(&str, &str, &[&str])] = &[
    ("cloudtrail", "CloudTrail", &["cloudtrail"]),
    ("event_copies", "CloudTrail", &["cloudtrail"]),
    ("cloudtrail_digests", "CloudTrail digests", &["cloudtrail_digests"]),
    ("flow_logs", "flow logs", &["flow_logs"]),
    ("inventory", "inventory", &["inventory"]),
    ("nacl_changes", "CloudTrail", &["cloudtrail"]),
    ("network_interfaces", "CloudTrail, inventory or flow logs", &["cloudtrail", "inventory", "flow_logs"]),
    ("acl_associations", "CloudTrail or inventory", &["cloudtrail", "inventory"]),
    ("nacl_entries", "CloudTrail or inventory", &["cloudtrail", "inventory"]),
    ("nacl_rule_sets", "CloudTrail or inventory", &["cloudtrail", "inventory"]),
];

/// Which stored tables hold no row in this session (its scope), asked once per session.
#[derive(Debug, Default)]
pub struct Evidence {
    empty: tokio::sync::Mutex<HashMap<String, bool>>,
}

impl Evidence {
    async fn is_empty(&self, ctx: &SessionContext, table: &str) -> Result<bool> {
        let mut known = self.empty.lock().await;
        if let Some(e) = known.get(table) {
            return Ok(*e);
        }
        let rows = crate::query::query(ctx, &format!("SELECT 1 FROM {table} LIMIT 1")).await?;
        let empty = rows.iter().all(|b| b.num_rows() == 0);
        known.insert(table.to_string(), empty);
        Ok(empty)
    }

    /// Why the hunt cannot look at anything: `Some("no flow logs")` when a table it reads comes
    /// from evidence the lake does not hold; `None` when it can run (0 hits then means it looked).
    pub async fn missing(&self, ctx: &SessionContext, hunt: &Hunt) -> Result<Option<String>> {
        use datafusion::common::tree_node::TreeNodeRecursion;
        let df = crate::query::user_sql(ctx, &hunt.sql).await?;
        let mut tables = Vec::new();
        df.logical_plan().apply_with_subqueries(|node| {
            if let datafusion::logical_expr::LogicalPlan::TableScan(scan) = node {
                tables.push(scan.table_name.table().to_string());
            }
            Ok(TreeNodeRecursion::Continue)
        })?;
        tables.sort();
        tables.dedup();
        let mut absent: Vec<&str> = Vec::new();
        for t in &tables {
            let Some((_, words, from)) = SOURCES.iter().find(|(name, _, _)| name == t) else { continue };
            let mut none = true;
            for base in from.iter() {
                if !self.is_empty(ctx, base).await? {
                    none = false;
                    break;
                }
            }
            if none && !absent.contains(words) {
                absent.push(words);
            }
        }
        Ok((!absent.is_empty()).then(|| format!("no {}", absent.join(", no "))))
    }
}

/// What one hunt gave.
#[derive(Debug, Clone)]
pub struct HuntResult {
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub attack: Vec<String>,
    pub attack_v19: Vec<String>,
    pub hits: usize,
    /// The file written, relative to the output folder.
    pub file: Option<String>,
    pub error: Option<String>,
    /// Why the hunt was not run: the evidence it reads is absent (`no flow logs`).
    pub not_run: Option<String>,
    /// The result itself, kept for the report (at most [`KEEP_ROWS`] rows).
    pub rows: Vec<datafusion::arrow::record_batch::RecordBatch>,
}

impl HuntResult {
    /// A hunt's result with nothing in it yet.
    fn of(h: &Hunt) -> HuntResult {
        HuntResult {
            name: h.name.clone(),
            title: h.title.clone(),
            severity: h.severity,
            attack: h.attack.clone(),
            attack_v19: h.attack_v19.clone(),
            hits: 0,
            file: None,
            error: None,
            not_run: None,
            rows: Vec::new(),
        }
    }

    /// `ok`, `failed: ...` or `not run: no flow logs`.
    pub fn status(&self) -> String {
        match (&self.error, &self.not_run) {
            (Some(e), _) => format!("failed: {e}"),
            (None, Some(why)) => format!("not run: {why}"),
            (None, None) => "ok".into(),
        }
    }
}

/// Rows of each hunt kept in memory for the report; the files hold them all.
pub const KEEP_ROWS: usize = 200;

/// Run hunts and write one file per hunt into `dir`, plus `summary.csv` (hunt, severity, hits,
/// status, title, ATT&CK ids, file, error). A hunt that fails is recorded and the rest go on.
pub async fn run_to_dir(
    ctx: &SessionContext,
    hunts: &[&Hunt],
    values: &HashMap<String, String>,
    range: TimeRange,
    dir: &Path,
    format: crate::output::Format,
) -> Result<Vec<HuntResult>> {
    let results = run_each(ctx, hunts, values, range, Some(dir), format, None).await?;
    write_summary_csv(&dir.join("summary.csv"), &results)?;
    Ok(results)
}

/// Told of each hunt as it starts: its position (1-based), how many there are, its name.
pub type Progress<'a> = &'a (dyn Fn(usize, usize, &str) + Sync);

/// [`run_to_dir`], telling `progress` of each hunt as it starts.
pub async fn run_to_dir_telling(
    ctx: &SessionContext,
    hunts: &[&Hunt],
    dir: &Path,
    progress: Progress<'_>,
) -> Result<Vec<HuntResult>> {
    let results = run_each(
        ctx,
        hunts,
        &HashMap::new(),
        TimeRange::default(),
        Some(dir),
        crate::output::Format::Csv,
        Some(progress),
    )
    .await?;
    write_summary_csv(&dir.join("summary.csv"), &results)?;
    Ok(results)
}

/// The summaries a results folder holds beside the hunts' files.
pub const SUMMARY_FILES: [&str; 2] = ["summary", "sigma_summary"];

/// The file a hunt's rows go to: `NAME.EXT`, or `NAME-hunt.EXT` for a hunt (or Sigma rule) whose
/// name is a summary's, which would otherwise overwrite it.
pub fn hunt_file(name: &str, ext: &str) -> String {
    if SUMMARY_FILES.iter().any(|s| s.eq_ignore_ascii_case(name)) {
        format!("{name}-hunt.{ext}")
    } else {
        format!("{name}.{ext}")
    }
}

/// Run hunts one after the other; with `dir`, write each one's rows to `NAME.EXT` there. A hunt
/// whose evidence the lake lacks is not run (and says why); one that fails is recorded and the
/// rest go on.
pub async fn run_each(
    ctx: &SessionContext,
    hunts: &[&Hunt],
    values: &HashMap<String, String>,
    range: TimeRange,
    dir: Option<&Path>,
    format: crate::output::Format,
    progress: Option<Progress<'_>>,
) -> Result<Vec<HuntResult>> {
    use futures::StreamExt;
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let ext = match format {
        crate::output::Format::Table | crate::output::Format::Line => "txt",
        crate::output::Format::Csv => "csv",
        crate::output::Format::Json => "json",
        crate::output::Format::Ndjson => "ndjson",
        crate::output::Format::Parquet => "parquet",
    };
    let mut results = Vec::new();
    let evidence = Evidence::default();
    for (i, h) in hunts.iter().enumerate() {
        if let Some(tell) = progress {
            tell(i + 1, hunts.len(), &h.name);
        }
        let file = hunt_file(&h.name, ext);
        let path = dir.map(|d| d.join(&file));
        if let Ok(Some(why)) = evidence.missing(ctx, h).await {
            // Nothing to look at: no file, and the summary says why rather than "0".
            if let Some(path) = &path {
                let _ = std::fs::remove_file(path);
            }
            results.push(HuntResult { not_run: Some(why), ..HuntResult::of(h) });
            continue;
        }
        let mut kept = Vec::new();
        let outcome: Result<usize> = async {
            let df = dataframe(ctx, h, values, range).await?;
            let schema = df.schema().inner().clone();
            let mut stream = df.execute_stream().await?;
            let mut sink = match &path {
                Some(path) => {
                    let out = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
                    Some(crate::output::Sink::new(format, schema, Box::new(std::io::BufWriter::new(out)))?)
                }
                None => None,
            };
            let mut hits = 0;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                if hits < KEEP_ROWS {
                    kept.push(batch.slice(0, batch.num_rows().min(KEEP_ROWS - hits)));
                }
                hits += batch.num_rows();
                if let Some(sink) = sink.as_mut() {
                    sink.write(&batch)?;
                }
            }
            if let Some(sink) = sink {
                sink.finish()?;
            }
            Ok(hits)
        }
        .await;
        let (hits, error) = match outcome {
            Ok(n) => (n, None),
            Err(e) => (0, Some(crate::output::one_line(&e))),
        };
        let file = (error.is_none() && dir.is_some()).then_some(file);
        results.push(HuntResult { hits, file, error, rows: kept, ..HuntResult::of(h) });
    }
    Ok(results)
}

/// Results in the order people read them: most severe first, then most hits, then by name.
pub fn most_severe_first(results: &[HuntResult]) -> Vec<&HuntResult> {
    let mut sorted: Vec<&HuntResult> = results.iter().collect();
    sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(b.hits.cmp(&a.hits)).then(a.name.cmp(&b.name)));
    sorted
}

fn write_summary_csv(path: &Path, results: &[HuntResult]) -> Result<()> {
    use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
    let sorted = most_severe_first(results);
    let results = sorted;
    let text = |f: &dyn Fn(&HuntResult) -> Option<String>| -> ArrayRef {
        Arc::new(results.iter().map(|r| f(r)).collect::<StringArray>())
    };
    let batch = datafusion::arrow::record_batch::RecordBatch::try_from_iter(vec![
        ("hunt", text(&|r| Some(r.name.clone()))),
        ("severity", text(&|r| Some(r.severity.as_str().to_string()))),
        (
            "hits",
            Arc::new(results.iter().map(|r| r.not_run.is_none().then_some(r.hits as u64)).collect::<UInt64Array>())
                as ArrayRef,
        ),
        ("status", text(&|r| Some(r.status()))),
        ("title", text(&|r| Some(r.title.clone()))),
        ("attack", text(&|r| Some(r.attack.join(" ")))),
        ("attack_v19", text(&|r| Some(r.attack_v19.join(" ")))),
        ("file", text(&|r| r.file.clone())),
        ("error", text(&|r| r.error.clone())),
    ])?;
    let out = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    crate::output::write(crate::output::Format::Csv, &[batch], Box::new(std::io::BufWriter::new(out)))
}

/// Hits per hunt, most severe first, and the totals per severity, as a text table.
pub fn render_summary(results: &[HuntResult]) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["severity", "hunt", "hits", "title"]);
    let sorted = most_severe_first(results);
    for r in &sorted {
        let hits = match (&r.error, &r.not_run) {
            (Some(_), _) => "FAILED".to_string(),
            (None, Some(why)) => format!("not run: {why}"),
            (None, None) => r.hits.to_string(),
        };
        table.add_row(vec![r.severity.as_str().to_string(), r.name.clone(), hits, r.title.clone()]);
    }
    let mut out = format!("{table}\n");
    let per: Vec<String> = Severity::ALL
        .iter()
        .map(|s| {
            let n: usize = results.iter().filter(|r| r.severity == *s).map(|r| r.hits).sum();
            let hunts = results.iter().filter(|r| r.severity == *s && r.hits > 0).count();
            format!("{} {n} in {hunts} hunt{}", s.as_str(), if hunts == 1 { "" } else { "s" })
        })
        .collect();
    out.push_str(&format!("hits by severity: {}\n", per.join(", ")));
    let not_run = results.iter().filter(|r| r.not_run.is_some()).count();
    if not_run > 0 {
        out.push_str(&format!(
            "not run: {not_run} hunt{} whose evidence is not in the lake\n",
            if not_run == 1 { "" } else { "s" }
        ));
    }
    for r in results.iter().filter(|r| r.error.is_some()) {
        out.push_str(&format!("failed: {}: {}\n", r.name, r.error.as_deref().unwrap_or_default()));
    }
    out
}

/// `hunt show` as text: the hunt's header as it reads in its file, then its SQL.
pub fn render_show(h: &Hunt) -> String {
    let mut out = format!("{} ({}): {}\n", h.name, h.severity.as_str(), h.title);
    out.push_str(&format!("from: {}\n", h.origin));
    out.push_str(&format!("ATT&CK: {} (renumbered: {})\n", h.attack.join(", "), h.attack_v19.join(", ")));
    for p in &h.params {
        out.push_str(&format!(
            "param: {} {} (default {}): {}\n",
            p.name,
            p.ty.as_str(),
            if p.default.is_empty() { "empty" } else { &p.default },
            p.description
        ));
    }
    // The SQL without the header comments above it (said just above).
    let sql: Vec<&str> =
        h.sql.lines().skip_while(|l| l.trim_start().starts_with("--") || l.trim().is_empty()).collect();
    out.push_str(&format!("\n{}\n\n{}\n", h.description, sql.join("\n").trim_end()));
    out
}

/// `hunt list` as text.
pub fn render_list(hunts: &[Hunt], verbose: bool) -> String {
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["hunt", "severity", "title", "ATT&CK (v19)", "parameters"]);
    for h in hunts {
        let params: Vec<String> = h.params.iter().map(|p| format!("{}={}", p.name, p.default)).collect();
        table.add_row(vec![
            h.name.clone(),
            h.severity.as_str().to_string(),
            h.title.clone(),
            format!("{} ({})", h.attack.join(" "), h.attack_v19.join(" ")),
            params.join(" "),
        ]);
    }
    let mut out = format!("{table}\n{} hunts\n", hunts.len());
    if verbose {
        for h in hunts {
            out.push_str(&format!("\n{} ({}, {})\n  {}\n", h.name, h.severity.as_str(), h.origin, h.description));
            for p in &h.params {
                out.push_str(&format!(
                    "  --param {}=VALUE  ({}, default {:?}) {}\n",
                    p.name,
                    p.ty.as_str(),
                    p.default,
                    p.description
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "-- name: demo\n-- title: A demo\n-- severity: high\n-- description: first line\n--   second \
        line\n-- attack: T1562.007\n-- attack_v19: T1686.001\n-- param: min_bytes int 1000 bytes that count\n--   and \
        more words\nSELECT 1 WHERE 2 > $min_bytes\n";

    #[test]
    fn header_is_read() {
        let h = parse(GOOD, "x", "demo").unwrap();
        assert_eq!(h.name, "demo");
        assert_eq!(h.severity, Severity::High);
        assert_eq!(h.description, "first line second line");
        assert_eq!(h.attack, vec!["T1562.007"]);
        assert_eq!(h.attack_v19, vec!["T1686.001"]);
        assert_eq!(h.params.len(), 1);
        assert_eq!(h.params[0].ty, ParamType::Int);
        assert_eq!(h.params[0].description, "bytes that count and more words");
    }

    #[test]
    fn header_problems_are_named() {
        let bad = GOOD
            .replace("severity: high", "severity: urgent")
            .replace("T1686.001", "T16")
            .replace("int 1000", "int lots");
        let p = parse(&bad, "x.sql", "demo").unwrap_err();
        let text: Vec<String> = p.iter().map(|p| p.to_string()).collect();
        assert!(text.iter().any(|t| t.contains("urgent")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("T16")), "{text:?}");
        assert!(text.iter().any(|t| t.contains("min_bytes") && t.contains("lots")), "{text:?}");
        let p = parse(GOOD, "x.sql", "other").unwrap_err();
        assert!(p[0].message.contains("file name"));
    }

    #[test]
    fn builtin_hunts_parse() {
        let (hunts, problems) = catalog(None).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        assert!(hunts.len() >= 18, "{} hunts", hunts.len());
    }

    #[test]
    fn values_read_as_their_type() {
        assert_eq!(ParamType::Int.value("12").unwrap(), ScalarValue::Int64(Some(12)));
        assert!(ParamType::Int.value("1; DROP TABLE x").is_err());
        assert_eq!(ParamType::Text.value("a' OR '1'='1").unwrap(), ScalarValue::Utf8(Some("a' OR '1'='1".into())));
        assert!(ParamType::Duration.value("2h").is_ok());
        assert!(ParamType::Bool.value("maybe").is_err());
    }
}
