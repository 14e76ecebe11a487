//! `trailflow investigate`: ingest, correlate, run every hunt, and write the case report folder:
//!
//! - `summary.md` and `report.html`, read first: the flagged changes (who, when, from where, what
//!   the rule opened, verdict, evidence, a chart of the traffic on the affected interfaces around
//!   the change), the changing actors' timelines, and the hunt results;
//! - `correlation.csv`: every NACL change with its verdict and evidence;
//! - `hunts/`: one CSV per hunt and `summary.csv`;
//! - `timelines/`: the CloudTrail events of each flagged change's actor around it;
//! - `charts/`: the charts as SVG files (the HTML embeds the same drawings).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::prelude::{SessionContext, col, lit};
use serde_json::{Map, Value};

use crate::error::{Error, Result};
use crate::hunt::{self, HuntResult};
use crate::output::Format;
use crate::time::{duration_text, human_bytes};

/// What `investigate` is asked to do.
#[derive(Debug, Clone)]
pub struct InvestigateOptions {
    /// A lake several cases share (`--lake`): the report covers only the evidence given. `None`:
    /// the case's own lake, `lake/` in the report folder.
    pub lake: Option<PathBuf>,
    /// The case's name (`--case`): later runs under the same name add to the case.
    pub case: Option<String>,
    /// Replace a report folder that holds another case.
    pub replace: bool,
    pub limits: crate::limits::Limits,
    pub inputs: Vec<PathBuf>,
    pub inventory_time: Option<i64>,
    pub output: PathBuf,
    pub window_us: i64,
    pub baseline_us: i64,
    pub queries: Option<PathBuf>,
    pub progress: bool,
}

/// What it did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The short summary for the terminal.
    pub summary_text: String,
    /// False when some input was rejected or a hunt failed (the report says which).
    pub complete: bool,
}

/// How far around a flagged change its actor's timeline reaches.
const TIMELINE_AROUND_US: i64 = 6 * 3_600_000_000;
/// Rows of a hunt shown in the report (the CSV has them all).
const SHOWN_ROWS: usize = 15;

type Row = Map<String, Value>;

/// Record batches as JSON objects, one per row (what the report templates read).
fn rows(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let v: Vec<Row> = serde_json::from_slice(&buf)?;
    Ok(v)
}

fn text(row: &Row, key: &str) -> String {
    match row.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

fn int(row: &Row, key: &str) -> i64 {
    match row.get(key) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A time column's text as microseconds.
fn micros(row: &Row, key: &str) -> Option<i64> {
    crate::time::parse_time(&text(row, key))
}

/// What a change did to the rules, in words.
fn what_changed(c: &Row) -> String {
    let event = text(c, "event_name");
    let rule = text(c, "rule_number");
    let dir = if text(c, "egress") == "true" { "outbound" } else { "inbound" };
    let proto = match text(c, "protocol").as_str() {
        "-1" => "all protocols".to_string(),
        "6" => "tcp".to_string(),
        "17" => "udp".to_string(),
        "1" => "icmp".to_string(),
        "58" => "icmpv6".to_string(),
        "" => String::new(),
        p => format!("protocol {p}"),
    };
    let ports = match (text(c, "port_from"), text(c, "port_to")) {
        (a, _) if a.is_empty() => String::new(),
        (a, b) if a == b => format!(" port {a}"),
        (a, b) => format!(" ports {a}-{b}"),
    };
    let cidr = [text(c, "cidr_block"), text(c, "ipv6_cidr_block")].into_iter().find(|s| !s.is_empty()).unwrap_or_default();
    let peer = if dir == "inbound" { format!("from {cidr}") } else { format!("to {cidr}") };
    match event.as_str() {
        "CreateNetworkAclEntry" | "ReplaceNetworkAclEntry" => {
            let verb = if event.starts_with("Create") { "added" } else { "replaced with" };
            format!("rule {rule} {verb}: {} {dir} {proto}{ports} {peer}", text(c, "rule_action"))
        }
        "DeleteNetworkAclEntry" if !text(c, "rule_action").is_empty() => {
            format!("rule {rule} deleted (was: {} {dir} {proto}{ports} {peer})", text(c, "rule_action"))
        }
        "DeleteNetworkAclEntry" => format!("{dir} rule {rule} deleted (its content is not in the evidence)"),
        "ReplaceNetworkAclAssociation" => {
            format!("subnet {} moved to {}", or_unknown(&text(c, "subnet_id")), text(c, "network_acl_id"))
        }
        "CreateNetworkAcl" => "new ACL created".to_string(),
        "DeleteNetworkAcl" => "ACL deleted".to_string(),
        other => other.to_string(),
    }
}

/// At most `max` bytes of `s` (cut at a character boundary), with an ellipsis when cut.
fn clip(mut s: String, max: usize) -> String {
    if s.len() > max {
        let cut = (0..=max).rev().find(|i| s.is_char_boundary(*i)).unwrap_or(0);
        s.truncate(cut);
        s.push('…');
    }
    s
}

fn or_unknown(s: &str) -> &str {
    if s.is_empty() { "(unknown)" } else { s }
}

/// The first of the top peers (`peer bytes, peer bytes, ...`).
fn top_peer(c: &Row) -> String {
    text(c, "top_peers").split(", ").next().unwrap_or("").split(' ').next().unwrap_or("").to_string()
}

/// Everything the report shows about one flagged change.
struct Flagged {
    change: Row,
    /// Per hour: (hour start µs, accepted bytes, rejected flows).
    traffic: Vec<(i64, i64, i64)>,
    chart_svg: String,
    timeline: Vec<Row>,
    timeline_file: String,
    chart_file: String,
}

/// The file that marks a folder as a case's report folder, and says which case.
const CASE_FILE: &str = "case.json";
/// The case's own lake, inside its report folder.
const CASE_LAKE: &str = "lake";
/// What `investigate` writes in a report folder besides the case file and lake; a rerun writes
/// all of it anew.
const GENERATED: &[&str] = &["summary.md", "report.html", "correlation.csv", "hunts", "timelines", "charts"];

/// The case a report folder holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct CaseFile {
    /// `--case`, when given.
    case: Option<String>,
    /// The evidence paths, as given, of every run of the case.
    evidence: Vec<String>,
    /// The lake the case's rows are in.
    lake: String,
    /// True when the lake is the case's own (in the folder) rather than shared.
    own_lake: bool,
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
            let mut r: Vec<PathBuf> = v.iter().map(|p| std::fs::canonicalize(p).unwrap_or_else(|_| PathBuf::from(p))).collect();
            r.sort();
            r.dedup();
            r
        };
        match (&self.case, &other.case) {
            (Some(a), Some(b)) => a == b,
            (None, None) => real(&self.evidence) == real(&other.evidence) && self.lake == other.lake,
            _ => false,
        }
    }
}

/// Make the report folder ready for this case, and say where its lake is. A folder that holds
/// another case, or other files, is refused unless `--replace` is given; then trailflow's files in
/// it (and its own lake) are removed. A rerun of the same case keeps the lake (it grows) and
/// rewrites the rest.
fn prepare_folder(opts: &InvestigateOptions) -> Result<CaseFile> {
    let out = &opts.output;
    if out.exists() && !out.is_dir() {
        return Err(Error::Invalid(format!("{} is a file, not a report folder: give -o a folder", out.display())));
    }
    let lake = opts.lake.clone().unwrap_or_else(|| out.join(CASE_LAKE));
    let mut case = CaseFile {
        case: opts.case.clone(),
        evidence: opts.inputs.iter().map(|p| p.display().to_string()).collect(),
        lake: lake.display().to_string(),
        own_lake: opts.lake.is_none(),
    };
    let previous: Option<std::result::Result<CaseFile, String>> = std::fs::read_to_string(out.join(CASE_FILE))
        .ok()
        .map(|t| serde_json::from_str(&t).map_err(|e| e.to_string()));
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
            return Err(Error::Invalid(match &previous {
                Some(Ok(p)) => format!(
                    "{} holds the report of another case ({}): give -o another folder, --case NAME to name this one, or --replace to replace that case (its own lake included)",
                    out.display(),
                    p.describe()
                ),
                Some(Err(_)) | None => format!(
                    "{} is not empty and holds no trailflow report: give -o a new or empty folder, or --replace to write over trailflow's files in it",
                    out.display()
                ),
            }));
        }
        for name in GENERATED.iter().chain([&CASE_FILE]) {
            remove(name)?;
        }
        // The replaced case's own lake goes with it; a shared lake is never touched.
        if matches!(&previous, Some(Ok(p)) if p.own_lake) || out.join(CASE_LAKE).join("_trailflow").is_dir() {
            remove(CASE_LAKE)?;
        }
    } else if same {
        for name in GENERATED {
            remove(name)?;
        }
        if let Some(Ok(p)) = &previous {
            // A named case gathers the evidence of all its runs.
            for e in &p.evidence {
                if !case.evidence.contains(e) {
                    case.evidence.insert(0, e.clone());
                }
            }
        }
    }
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    write_file(&out.join(CASE_FILE), &serde_json::to_string_pretty(&case)?)?;
    Ok(case)
}

/// The rows of a case in a shared lake: the files under its evidence paths, the files they are
/// copies of, and the events of those files stored once from another file.
async fn case_scope(lake: &crate::lake::Lake, evidence: &[String]) -> Result<crate::query::Scope> {
    use datafusion::arrow::array::{Array, AsArray};
    let ctx = crate::query::base_session(lake).await?;
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

/// Run the whole job.
pub fn investigate(opts: &InvestigateOptions) -> Result<Outcome> {
    let case = prepare_folder(opts)?;
    let lake_dir = PathBuf::from(&case.lake);
    let mut ingest_opts = crate::ingest::IngestOptions::new(&lake_dir, opts.inputs.clone());
    ingest_opts.inventory_time = opts.inventory_time;
    ingest_opts.progress = opts.progress;
    ingest_opts.limits = opts.limits;
    let ingested = crate::ingest::ingest(&ingest_opts)?;
    let (hunts, problems) = hunt::catalog(opts.queries.as_deref())?;
    let lake = crate::lake::Lake::open(&lake_dir)?;
    let runtime = crate::query::runtime()?;
    let (changes, flagged, results) = runtime.block_on(async {
        let scope = if case.own_lake { crate::query::Scope::default() } else { case_scope(&lake, &case.evidence).await? };
        let ctx = hunt::session_scoped(Some(&lake), opts.window_us, opts.baseline_us, &scope).await?;
        // The correlation runs once: its result replaces the view, so the hunts built on
        // nacl_verdicts (traffic_after_change) read it instead of correlating again.
        let verdicts = ctx.table("nacl_verdicts").await?;
        let schema = verdicts.schema().inner().clone();
        let computed = verdicts.collect().await?;
        ctx.deregister_table("nacl_verdicts")?;
        ctx.register_table(
            "nacl_verdicts",
            std::sync::Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![computed])?),
        )?;
        let verdict_batches = ctx
            .sql(
                "SELECT v.*, c.account_id, c.aws_region, c.source_ip, c.user_agent, c.ipv6_cidr_block \
                 FROM nacl_verdicts v JOIN nacl_changes c ON c.event_id = v.event_id \
                 ORDER BY v.event_time, v.event_id",
            )
            .await?
            .collect()
            .await?;
        write_csv(&opts.output.join("correlation.csv"), &verdict_batches)?;
        let changes = rows(&verdict_batches)?;
        let mut picked: Vec<&Row> = changes
            .iter()
            .filter(|c| matches!(text(c, "verdict").as_str(), "unusual_traffic_after_change" | "risky_change_no_unusual_traffic"))
            .collect();
        picked.sort_by_key(|c| (text(c, "verdict") != "unusual_traffic_after_change", -int(c, "score"), text(c, "event_time")));
        let flagged = flag_all(&ctx, &picked, opts).await?;
        let refs: Vec<&hunt::Hunt> = hunts.iter().collect();
        let results = hunt::run_to_dir(
            &ctx,
            &refs,
            &HashMap::new(),
            hunt::TimeRange::default(),
            &opts.output.join("hunts"),
            Format::Csv,
        )
        .await?;
        Ok::<_, Error>((changes, flagged, results))
    })?;
    let mut notes: Vec<String> = problems.iter().map(|p| format!("hunt file not loaded: {p}")).collect();
    if ingested.had_errors() {
        notes.push("some input was rejected: see the ingest_errors table (`trailflow sql \"SELECT * FROM ingest_errors\"`)".into());
    }
    for r in results.iter().filter(|r| r.error.is_some()) {
        notes.push(format!("hunt {} failed: {}", r.name, r.error.as_deref().unwrap_or_default()));
    }
    let ingest_summary = ingested.render();
    let findings = Findings {
        ingest_summary: &ingest_summary,
        changes: &changes,
        flagged: &flagged,
        results: &results,
        notes: &notes,
        opts,
        case: &case,
    };
    write_file(&opts.output.join("summary.md"), &summary_md(&findings))?;
    write_file(&opts.output.join("report.html"), &report_html(&findings))?;
    Ok(Outcome { summary_text: terminal_summary(&flagged, &results, &notes, opts, &case), complete: notes.is_empty() })
}

fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

fn write_csv(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let out = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    crate::output::write(Format::Csv, batches, Box::new(std::io::BufWriter::new(out)))
}

/// Gather the traffic chart and the actor's timeline of every flagged change: one pass over
/// `flow_logs` and one over `cloudtrail` for all of them. Values from the evidence go into the
/// plan as a small table joined in, never into SQL text.
async fn flag_all(ctx: &SessionContext, picked: &[&Row], opts: &InvestigateOptions) -> Result<Vec<Flagged>> {
    use datafusion::arrow::array::{ArrayRef, Int64Array, StringViewArray, TimestampMicrosecondArray};
    use datafusion::common::JoinType;
    use datafusion::functions_aggregate::expr_fn::sum;
    use datafusion::logical_expr::when;
    let at = |c: &Row| micros(c, "event_time").unwrap_or(0);
    let ts = |v: Vec<i64>| -> ArrayRef { std::sync::Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC")) };
    // (change number, key, from, to) as a table to join: key is an interface or an actor.
    let scope = |rows: Vec<(i64, String, i64, i64)>| -> Result<RecordBatch> {
        Ok(RecordBatch::try_from_iter(vec![
            ("n", std::sync::Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()) as ArrayRef),
            ("key", std::sync::Arc::new(rows.iter().map(|r| Some(r.1.as_str())).collect::<StringViewArray>()) as ArrayRef),
            ("from_t", ts(rows.iter().map(|r| r.2).collect())),
            ("to_t", ts(rows.iter().map(|r| r.3).collect())),
        ])?)
    };
    let mut by_interface = Vec::new();
    let mut by_actor = Vec::new();
    for (i, c) in picked.iter().enumerate() {
        let (n, t) = (i as i64 + 1, at(c));
        for iface in text(c, "interface_list").split(", ").filter(|s| !s.is_empty()) {
            by_interface.push((n, iface.to_string(), t - opts.baseline_us, t + opts.window_us));
        }
        by_actor.push((n, text(c, "actor_arn"), t - TIMELINE_AROUND_US, t + TIMELINE_AROUND_US + 1));
    }
    let mut traffic: HashMap<i64, Vec<(i64, i64, i64)>> = HashMap::new();
    if !by_interface.is_empty() && ctx.table_exist("flow_logs")? {
        let sc = ctx.read_batch(scope(by_interface)?)?;
        let df = ctx
            .table("flow_logs")
            .await?
            .join(sc, JoinType::Inner, &["interface_id"], &["key"], None)?
            .filter(col("start_time").gt_eq(col("from_t")).and(col("start_time").lt(col("to_t"))))?
            .aggregate(
                vec![col("n"), datafusion::functions::datetime::expr_fn::date_trunc(lit("hour"), col("start_time")).alias("hour")],
                vec![
                    sum(when(col("action").eq(lit("ACCEPT")), col("bytes")).otherwise(lit(0i64))?).alias("accepted_bytes"),
                    sum(when(col("action").eq(lit("REJECT")), lit(1i64)).otherwise(lit(0i64))?).alias("rejected_flows"),
                ],
            )?
            .sort(vec![col("n").sort(true, false), col("hour").sort(true, false)])?;
        for r in rows(&df.collect().await?)? {
            traffic.entry(int(&r, "n")).or_default().push((
                micros(&r, "hour").unwrap_or(0),
                int(&r, "accepted_bytes"),
                int(&r, "rejected_flows"),
            ));
        }
    }
    let sc = ctx.read_batch(scope(by_actor)?)?;
    let timelines = ctx
        .table("cloudtrail")
        .await?
        .join(sc, JoinType::Inner, &["user_arn"], &["key"], None)?
        .filter(col("event_time").gt_eq(col("from_t")).and(col("event_time").lt(col("to_t"))))?
        .sort(vec![col("n").sort(true, false), col("event_time").sort(true, false), col("event_id").sort(true, false)])?
        .select(vec![
            col("n"),
            col("event_time"),
            col("event_source"),
            col("event_name"),
            col("error_code"),
            col("source_ip"),
            col("aws_region"),
            col("user_agent"),
            col("request_parameters"),
            col("event_id"),
        ])?
        .collect()
        .await?;
    let n_column = |b: &RecordBatch| -> Result<Int64Array> {
        Ok(b.column(0).as_any().downcast_ref::<Int64Array>().cloned().unwrap_or_else(|| Int64Array::from(vec![0; b.num_rows()])))
    };
    let mut out = Vec::new();
    for (i, c) in picked.iter().enumerate() {
        let n = i as i64 + 1;
        let t = at(c);
        let interfaces: Vec<String> =
            text(c, "interface_list").split(", ").filter(|s| !s.is_empty()).map(str::to_string).collect();
        let traffic = traffic.remove(&n).unwrap_or_default();
        let chart_svg =
            crate::report_chart::traffic_chart(&traffic, t, t - opts.baseline_us, t + opts.window_us, &interfaces);
        let chart_file = format!("charts/change-{n:02}.svg");
        write_file(&opts.output.join(&chart_file), &chart_svg)?;
        // This change's events, without the change number.
        let mut mine = Vec::new();
        for b in &timelines {
            let keep = datafusion::arrow::compute::kernels::cmp::eq(&n_column(b)?, &Int64Array::new_scalar(n))?;
            let b = datafusion::arrow::compute::filter_record_batch(b, &keep)?;
            mine.push(b.project(&(1..b.num_columns()).collect::<Vec<_>>())?);
        }
        let timeline_file = format!("timelines/change-{n:02}.csv");
        write_csv(&opts.output.join(&timeline_file), &mine)?;
        out.push(Flagged { change: (*c).clone(), traffic, chart_svg, timeline: rows(&mine)?, timeline_file, chart_file });
    }
    Ok(out)
}

fn verdict_word(v: &str) -> &str {
    match v {
        "unusual_traffic_after_change" => "UNUSUAL TRAFFIC AFTER CHANGE",
        "risky_change_no_unusual_traffic" => "risky change, no unusual traffic",
        "change_no_unusual_traffic" => "no unusual traffic",
        "failed_change" => "failed change",
        other => other,
    }
}

/// Text from the evidence made safe for a terminal: control characters (escape sequences that
/// could move the cursor or retitle the window) become `?`.
fn plain(s: &str) -> String {
    s.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

/// The few lines printed at the end of `investigate`.
fn terminal_summary(
    flagged: &[Flagged],
    results: &[HuntResult],
    notes: &[String],
    opts: &InvestigateOptions,
    case: &CaseFile,
) -> String {
    let text = |r: &Row, k: &str| plain(&text(r, k));
    let what_changed = |c: &Row| plain(&what_changed(c));
    let top_peer = |c: &Row| plain(&top_peer(c));
    let mut s = String::new();
    let _ = writeln!(s, "\nFlagged Network ACL changes: {}", flagged.len());
    for f in flagged {
        let c = &f.change;
        let bytes = int(c, "bytes");
        let _ = writeln!(
            s,
            "  {}  {}  {}  {}  {}\n      {}{}",
            text(c, "event_time"),
            verdict_word(&text(c, "verdict")),
            text(c, "network_acl_id"),
            text(c, "actor_arn"),
            if bytes > 0 { format!("{} newly allowed, top peer {}", human_bytes(bytes), top_peer(c)) } else { String::new() },
            what_changed(c),
            if text(c, "risk_reasons").is_empty() { String::new() } else { format!("  [{}]", text(c, "risk_reasons")) },
        );
    }
    let mut hit: Vec<&HuntResult> = results.iter().filter(|r| r.hits > 0).collect();
    hit.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.name.cmp(&b.name)));
    let _ = writeln!(s, "\nHunts with hits: {} of {}", hit.len(), results.len());
    for r in hit {
        let _ = writeln!(s, "  {:<8} {:<32} {:>6}  {}", r.severity.as_str(), r.name, r.hits, r.title);
    }
    for n in notes {
        let _ = writeln!(s, "note: {}", plain(n));
    }
    let _ = writeln!(s, "\nReport: {}", opts.output.join("report.html").display());
    let _ = writeln!(s, "Lake:   {} (trailflow sql --lake {} \"...\")", case.lake, case.lake);
    s
}

/// Everything the summary and the report show.
#[derive(Clone, Copy)]
struct Findings<'a> {
    ingest_summary: &'a str,
    changes: &'a [Row],
    flagged: &'a [Flagged],
    results: &'a [HuntResult],
    notes: &'a [String],
    opts: &'a InvestigateOptions,
    case: &'a CaseFile,
}

/// Text made inert in Markdown: every character with a meaning there (emphasis, links, HTML,
/// code, tables, math) is escaped with a backslash, and line breaks become spaces, so nothing
/// from the evidence renders as markup.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '(' | ')' | '#' | '+' | '!' | '|' | '~' | '&' | '$' | '"' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}

fn summary_md(f: &Findings) -> String {
    let Findings { ingest_summary, changes, flagged, results, notes, opts, case } = *f;
    let text = |r: &Row, k: &str| md(&text(r, k));
    let what_changed = |c: &Row| md(&what_changed(c));
    let mut s = String::new();
    match &case.case {
        Some(name) => {
            let _ = writeln!(s, "# trailflow investigation: {}\n", md(name));
        }
        None => {
            let _ = writeln!(s, "# trailflow investigation\n");
        }
    }
    let _ = writeln!(
        s,
        "Evidence: {}. Lake: {}. Window after each change {}, baseline before it {}.\n",
        case.evidence.iter().map(|p| md(p)).collect::<Vec<_>>().join(", "),
        md(&case.lake),
        duration_text(opts.window_us),
        duration_text(opts.baseline_us)
    );
    if !notes.is_empty() {
        let _ = writeln!(s, "## Notes\n");
        for n in notes {
            let _ = writeln!(s, "- {}", md(n));
        }
        s.push('\n');
    }
    let _ = writeln!(s, "## Flagged Network ACL changes ({} of {})\n", flagged.len(), changes.len());
    for (i, f) in flagged.iter().enumerate() {
        let c = &f.change;
        let _ = writeln!(s, "### {}. {} on {} at {}\n", i + 1, md(verdict_word(&crate::report::text(c, "verdict"))), text(c, "network_acl_id"), text(c, "event_time"));
        let _ = writeln!(s, "- **Who:** {} (account {}, {})", text(c, "actor_arn"), text(c, "account_id"), text(c, "aws_region"));
        let _ = writeln!(s, "- **From where:** {} with {}", text(c, "source_ip"), text(c, "user_agent"));
        let _ = writeln!(s, "- **What:** {} ({})", what_changed(c), text(c, "event_name"));
        let _ = writeln!(s, "- **Risk:** score {} ({})", text(c, "score"), text(c, "risk_reasons"));
        let _ = writeln!(s, "- **Interfaces governed:** {}", or_unknown(&text(c, "interface_list")));
        if int(c, "matching_flows") > 0 {
            let _ = writeln!(
                s,
                "- **Newly allowed traffic:** {} flows, {}, from {} to {}; unusual peers {}; rejected before, accepted after: {}; top peers {}",
                text(c, "matching_flows"),
                human_bytes(int(c, "bytes")),
                text(c, "first_flow"),
                text(c, "last_flow"),
                or_unknown(&text(c, "unusual_peers")),
                or_unknown(&text(c, "reject_to_accept_peers")),
                text(c, "top_peers")
            );
        } else {
            let _ = writeln!(s, "- **Newly allowed traffic:** none seen in the window");
        }
        let _ = writeln!(s, "- **Event:** {}; chart {}; actor timeline {} ({} events within 6 h)\n", text(c, "event_id"), md(&f.chart_file), md(&f.timeline_file), f.timeline.len());
    }
    let _ = writeln!(s, "## All Network ACL changes\n");
    let _ = writeln!(s, "| time | event | ACL | actor | verdict | score | bytes |\n|---|---|---|---|---|---|---|");
    for c in changes {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} |",
            text(c, "event_time"),
            text(c, "event_name"),
            text(c, "network_acl_id"),
            text(c, "actor_arn"),
            text(c, "verdict"),
            text(c, "score"),
            human_bytes(int(c, "bytes"))
        );
    }
    let _ = writeln!(s, "\n## Hunts\n");
    let _ = writeln!(s, "| severity | hunt | hits | title | file |\n|---|---|---|---|---|");
    let sorted = hunt::most_severe_first(results);
    for r in sorted {
        let hits = if r.error.is_some() { "failed".to_string() } else { r.hits.to_string() };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} |",
            r.severity.as_str(),
            md(&r.name),
            hits,
            md(&r.title),
            r.file.as_deref().map(|f| md(&format!("hunts/{f}"))).unwrap_or_default()
        );
    }
    // An indented block: nothing in it is markup, whatever the file names and reasons hold.
    let _ = writeln!(s, "\n## Ingest\n");
    for line in ingest_summary.lines() {
        let _ = writeln!(s, "    {}", plain(line));
    }
    s
}

/// A table cell of the report.
enum Cell {
    Text(String),
    /// Right-aligned.
    Num(String),
    /// In a code font.
    Code(String),
}

/// One table row, its cells escaped; `attrs` go on the `<tr>`.
fn html_row(attrs: &str, cells: impl IntoIterator<Item = Cell>) -> String {
    let mut row = format!("<tr{attrs}>");
    for cell in cells {
        match cell {
            Cell::Text(t) => row.push_str(&format!("<td>{}</td>", esc(&t))),
            Cell::Num(t) => row.push_str(&format!("<td class=\"num\">{}</td>", esc(&t))),
            Cell::Code(t) => row.push_str(&format!("<td><code>{}</code></td>", esc(&t))),
        }
    }
    row.push_str("</tr>\n");
    row
}

/// Text made safe for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;color:#1b1f24;padding:0 1rem}\
h1{font-size:1.6rem}h2{border-bottom:2px solid #d0d7de;padding-bottom:.3rem;margin-top:2.2rem}\
table{border-collapse:collapse;font-size:.82rem;margin:.6rem 0;display:block;overflow-x:auto;max-width:100%}th,td{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}.card{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.2rem;margin:1.2rem 0}\
.unusual{border-left:8px solid #cf222e}.risky{border-left:8px solid #bf8700}.verdict{font-weight:700}.unusual .verdict{color:#cf222e}.risky .verdict{color:#9a6700}\
dl{display:grid;grid-template-columns:11rem 1fr;gap:.2rem .8rem;margin:.6rem 0}dt{font-weight:600;color:#57606a}dd{margin:0;word-break:break-all}\
.sev-critical{color:#fff;background:#a40e26}.sev-high{color:#fff;background:#cf222e}.sev-medium{background:#fff8c5}.sev-low{background:#ddf4ff}.sev-info{background:#f6f8fa}\
.badge{display:inline-block;padding:0 .4rem;border-radius:4px;font-size:.78rem;font-weight:600}details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}\
code{font-size:.8rem}.muted{color:#57606a}svg{max-width:100%;height:auto}";

fn report_html(f: &Findings) -> String {
    let Findings { ingest_summary, changes, flagged, results, notes, opts, case } = *f;
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>trailflow investigation</title><style>{STYLE}</style></head><body>\n"
    );
    let _ = writeln!(h, "<h1>trailflow investigation</h1>");
    let _ = writeln!(
        h,
        "<p class=\"muted\">{}Evidence: {}. Lake: {}. Window after each change {}, baseline before it {}. Every number here comes from a CSV file in this folder.</p>",
        case.case.as_deref().map(|n| format!("Case {}. ", esc(n))).unwrap_or_default(),
        esc(&case.evidence.join(", ")),
        esc(&case.lake),
        duration_text(opts.window_us),
        duration_text(opts.baseline_us)
    );
    if !notes.is_empty() {
        let _ = writeln!(h, "<div class=\"card risky\"><b>Notes</b><ul>");
        for n in notes {
            let _ = writeln!(h, "<li>{}</li>", esc(n));
        }
        let _ = writeln!(h, "</ul></div>");
    }
    let unusual = flagged.iter().filter(|f| text(&f.change, "verdict") == "unusual_traffic_after_change").count();
    let _ = writeln!(
        h,
        "<h2 id=\"flagged\">Flagged Network ACL changes</h2><p>{} of {} changes flagged: {} let in unusual traffic, {} are risky without unusual traffic seen. All changes: <a href=\"correlation.csv\">correlation.csv</a>.</p>",
        flagged.len(),
        changes.len(),
        unusual,
        flagged.len() - unusual
    );
    for (i, f) in flagged.iter().enumerate() {
        let c = &f.change;
        let class = if text(c, "verdict") == "unusual_traffic_after_change" { "unusual" } else { "risky" };
        let _ = writeln!(h, "<div class=\"card {class}\" id=\"change-{}\">", i + 1);
        let _ = writeln!(
            h,
            "<h3>{}. <span class=\"verdict\">{}</span> &mdash; {} at {}</h3>",
            i + 1,
            esc(verdict_word(&text(c, "verdict"))),
            esc(&text(c, "network_acl_id")),
            esc(&text(c, "event_time"))
        );
        let _ = writeln!(h, "<dl>");
        let mut dd = |k: &str, v: String| {
            let _ = writeln!(h, "<dt>{}</dt><dd>{}</dd>", esc(k), v);
        };
        dd("Who", format!("{} <span class=\"muted\">(account {}, {})</span>", esc(&text(c, "actor_arn")), esc(&text(c, "account_id")), esc(&text(c, "aws_region"))));
        dd("From where", format!("{} <span class=\"muted\">{}</span>", esc(&text(c, "source_ip")), esc(&text(c, "user_agent"))));
        dd("What the rule opened", format!("{} <span class=\"muted\">({})</span>", esc(&what_changed(c)), esc(&text(c, "event_name"))));
        dd("Risk", format!("score {} &mdash; {}", esc(&text(c, "score")), esc(&text(c, "risk_reasons"))));
        dd("Interfaces governed", esc(or_unknown(&text(c, "interface_list"))));
        if int(c, "matching_flows") > 0 {
            dd(
                "Newly allowed traffic",
                format!(
                    "{} flows, {} ({} bytes), {} distinct ports, from {} to {}",
                    esc(&text(c, "matching_flows")),
                    esc(&human_bytes(int(c, "bytes"))),
                    esc(&text(c, "bytes")),
                    esc(&text(c, "distinct_ports")),
                    esc(&text(c, "first_flow")),
                    esc(&text(c, "last_flow"))
                ),
            );
            dd("Unusual peers", esc(or_unknown(&text(c, "unusual_peers"))));
            dd("Rejected before, accepted after", esc(or_unknown(&text(c, "reject_to_accept_peers"))));
            dd("Top peers (bytes)", esc(&text(c, "top_peers")));
        } else {
            dd("Newly allowed traffic", "none seen in the window".to_string());
        }
        dd("Event", format!("<code>{}</code>", esc(&text(c, "event_id"))));
        let _ = writeln!(h, "</dl>");
        let _ = writeln!(
            h,
            "<figure>{}<figcaption class=\"muted\">Traffic on the governed interfaces per hour: accepted bytes (bars) and rejected flows (line); the red line is the change. <a href=\"{}\">SVG</a></figcaption></figure>",
            f.chart_svg,
            esc(&f.chart_file)
        );
        if f.traffic.is_empty() {
            let _ = writeln!(h, "<p class=\"muted\">No flow records on these interfaces around the change.</p>");
        }
        let _ = writeln!(
            h,
            "<details><summary>Timeline of {} from 6 h before to 6 h after ({} events, <a href=\"{}\">CSV</a>)</summary>",
            esc(&text(c, "actor_arn")),
            f.timeline.len(),
            esc(&f.timeline_file)
        );
        let _ = writeln!(h, "<table><tr><th>time</th><th>event</th><th>source</th><th>error</th><th>from</th><th>request</th></tr>");
        for e in &f.timeline {
            let req = clip(text(e, "request_parameters"), 160);
            let mark = if text(e, "event_id") == text(c, "event_id") { " style=\"background:#ffebe9\"" } else { "" };
            let cells = ["event_time", "event_name", "event_source", "error_code", "source_ip"].map(|k| Cell::Text(text(e, k)));
            h.push_str(&html_row(mark, cells.into_iter().chain([Cell::Code(req)])));
        }
        let _ = writeln!(h, "</table></details></div>");
    }
    let _ = writeln!(h, "<h2 id=\"changes\">All Network ACL changes</h2><table><tr><th>time</th><th>event</th><th>ACL</th><th>actor</th><th>verdict</th><th>score</th><th>bytes</th><th>reasons</th></tr>");
    for c in changes {
        let cells = ["event_time", "event_name", "network_acl_id", "actor_arn", "verdict"].map(|k| Cell::Text(text(c, k)));
        let more = [Cell::Num(text(c, "score")), Cell::Num(human_bytes(int(c, "bytes"))), Cell::Text(text(c, "risk_reasons"))];
        h.push_str(&html_row("", cells.into_iter().chain(more)));
    }
    let _ = writeln!(h, "</table>");
    let _ = writeln!(h, "<h2 id=\"hunts\">Hunts</h2><p>Hits per hunt, most severe first (<a href=\"hunts/summary.csv\">summary.csv</a>).</p>");
    let _ = writeln!(h, "<table><tr><th>severity</th><th>hunt</th><th class=\"num\">hits</th><th>title</th><th>ATT&amp;CK</th><th>file</th></tr>");
    let sorted = hunt::most_severe_first(results);
    for r in &sorted {
        let sev = r.severity.as_str();
        let hits = if r.error.is_some() { "failed".to_string() } else { r.hits.to_string() };
        let _ = writeln!(
            h,
            "<tr><td><span class=\"badge sev-{sev}\">{sev}</span></td><td><a href=\"#hunt-{0}\">{0}</a></td><td class=\"num\">{1}</td><td>{2}</td><td>{3} <span class=\"muted\">({4})</span></td><td>{5}</td></tr>",
            esc(&r.name),
            hits,
            esc(&r.title),
            esc(&r.attack.join(" ")),
            esc(&r.attack_v19.join(" ")),
            r.file.as_deref().map(|f| format!("<a href=\"hunts/{0}\">{0}</a>", esc(f))).unwrap_or_default()
        );
    }
    let _ = writeln!(h, "</table>");
    for r in sorted.iter().filter(|r| r.hits > 0) {
        let _ = writeln!(
            h,
            "<details id=\"hunt-{0}\"><summary><span class=\"badge sev-{1}\">{1}</span> {0}: {2} ({3} hits)</summary>",
            esc(&r.name),
            r.severity.as_str(),
            esc(&r.title),
            r.hits
        );
        let shown = rows(&r.rows).unwrap_or_default();
        if let Some(first) = shown.first() {
            let keys: Vec<&String> = first.keys().collect();
            let _ = write!(h, "<table><tr>");
            for k in &keys {
                let _ = write!(h, "<th>{}</th>", esc(k));
            }
            let _ = writeln!(h, "</tr>");
            for row in shown.iter().take(SHOWN_ROWS) {
                let _ = write!(h, "<tr>");
                for k in &keys {
                    let v = clip(text(row, k), 200);
                    let _ = write!(h, "<td>{}</td>", esc(&v));
                }
                let _ = writeln!(h, "</tr>");
            }
            let _ = writeln!(h, "</table>");
        }
        if r.hits > SHOWN_ROWS {
            let _ = writeln!(h, "<p class=\"muted\">First {SHOWN_ROWS} of {} rows; all in the CSV.</p>", r.hits);
        }
        let _ = writeln!(h, "</details>");
    }
    let _ = writeln!(h, "<h2 id=\"ingest\">Ingest</h2><pre>{}</pre>", esc(ingest_summary));
    let _ = writeln!(h, "<p class=\"muted\">Written by trailflow {}.</p></body></html>", env!("CARGO_PKG_VERSION"));
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc("<script>alert('x')</script>&"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;");
    }

    #[test]
    fn changes_are_described() {
        let row: Row = serde_json::from_str(
            r#"{"event_name":"CreateNetworkAclEntry","rule_number":90,"egress":false,"protocol":-1,"rule_action":"allow","cidr_block":"0.0.0.0/0"}"#,
        )
        .unwrap();
        assert_eq!(what_changed(&row), "rule 90 added: allow inbound all protocols from 0.0.0.0/0");
        let row: Row = serde_json::from_str(
            r#"{"event_name":"ReplaceNetworkAclEntry","rule_number":100,"egress":false,"protocol":6,"rule_action":"allow","cidr_block":"0.0.0.0/0","port_from":0,"port_to":65535}"#,
        )
        .unwrap();
        assert_eq!(what_changed(&row), "rule 100 replaced with: allow inbound tcp ports 0-65535 from 0.0.0.0/0");
    }
}
