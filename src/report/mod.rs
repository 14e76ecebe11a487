//! `trailflow investigate`: ingest, correlate, run every hunt, and write the case report folder:
//!
//! - `summary.md` and `report.html`, read first: the flagged changes (who, when, from where, what
//!   the rule opened, verdict, evidence, a chart of the traffic on the affected interfaces around
//!   the change), the changing actors' timelines, and the hunt results;
//! - `correlation.csv`: every NACL change with its verdict and evidence;
//! - `hunts/`: one CSV per hunt and `summary.csv`;
//! - `sigma/`: with `--sigma DIR`, one CSV per Sigma rule and `sigma_summary.csv`;
//! - `timelines/`: the CloudTrail events of each flagged change's actor around it;
//! - `charts/`: the charts as SVG files (the HTML embeds the same drawings).

mod case;
mod chart;
mod facts;
mod findings;
mod html;
mod markdown;
mod render;
mod rows;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use datafusion::arrow::record_batch::RecordBatch;

use crate::correlate::Verdict;
use crate::error::{Error, Result};
use crate::hunt::{self, HuntResult};
use crate::output::Format;
use crate::time::human_bytes;
use case::CaseFile;
use findings::{Findings, Flagged, Gathered, VerdictRow, what_changed};

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
    /// The layout of flow records without a header line (`--flow-format`).
    pub flow_format: Option<crate::decode::flowlog::Format>,
    pub output: PathBuf,
    pub window_us: i64,
    pub baseline_us: i64,
    pub queries: Option<PathBuf>,
    /// Sigma rules to run beside the hunts (`--sigma DIR`): a rule file or a folder of them.
    pub sigma: Option<PathBuf>,
    /// Where the queries run (`--cluster df://HOST:PORT`: a Ballista cluster); ingest and the
    /// report stay in this process.
    pub engine: crate::query::Engine,
    pub progress: bool,
    /// Address-context files given (`--aws-ranges`, `--geoip`), recorded in the case's lake.
    pub context: crate::enrich::ContextFiles,
    /// Indicator files to sweep (`--ioc`): the report gets a section, `ioc/` the records.
    pub ioc: Vec<PathBuf>,
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
pub(super) const TIMELINE_AROUND_US: i64 = 6 * 3_600_000_000;
/// Rows of a hunt shown in the report (the CSV has them all).
pub(super) const SHOWN_ROWS: usize = 15;

/// Run the whole job.
pub fn investigate(opts: &InvestigateOptions) -> Result<Outcome> {
    // The rules are read first: a folder that is not there stops the run before the long part.
    let sigma = opts.sigma.as_deref().map(hunt::sigma::load_dir).transpose()?;
    opts.context.check()?;
    let indicators = crate::ioc::read(&opts.ioc);
    if !opts.ioc.is_empty() && indicators.list.is_empty() {
        let why: Vec<String> = indicators.problems.iter().map(|p| p.to_string()).collect();
        return Err(Error::Usage(format!("--ioc: no indicator read ({})", why.join("; "))));
    }
    let started = std::time::SystemTime::now();
    let mut case = case::prepare_folder(opts)?;
    let lake_dir = PathBuf::from(&case.lake);
    // The evidence is read under its canonical absolute paths: in a lake several cases share, two
    // cases that each call their evidence `evidence` stay two cases.
    let inputs: Vec<PathBuf> = opts.inputs.iter().map(|p| case::real_path(p)).collect();
    let mut ingest_opts = crate::ingest::IngestOptions::new(&lake_dir, inputs);
    ingest_opts.inventory_time = opts.inventory_time;
    ingest_opts.progress = opts.progress;
    ingest_opts.limits = opts.limits;
    ingest_opts.flow_format = opts.flow_format.clone();
    let ingested = crate::ingest::ingest(&ingest_opts)?;
    // After the ingest's own bar: what is being done, phase by phase, until the report is written.
    let progress = Phases::new(opts.progress);
    progress.say("derived tables: Network ACL and security-group changes, rules, associations, interfaces");
    crate::correlate::stored::store(&lake_dir)?;
    let (hunts, problems) = hunt::catalog(opts.queries.as_deref())?;
    let lake = crate::lake::Lake::open(&lake_dir)?;
    lake.record_context(&opts.context)?;
    let runtime = crate::query::runtime()?;
    let (changes, flagged, results, sigma_results, facts, address_context) = runtime.block_on(async {
        let scope = if case.own_lake {
            crate::query::Scope::default()
        } else {
            // Files read under their canonical paths (a case file of an earlier version knows only
            // the paths as given).
            let paths = if case.evidence_real.is_empty() { &case.evidence } else { &case.evidence_real };
            case::case_scope(&lake, paths).await?
        };
        let session_opts = crate::session::SessionOptions {
            window_us: opts.window_us,
            baseline_us: opts.baseline_us,
            scope,
            engine: opts.engine.clone(),
            ..Default::default()
        };
        let ctx = crate::session::session(Some(&lake), &session_opts).await?;
        progress.say("correlation: which firewall change (Network ACL, security group) let in which traffic");
        // The correlation runs once: its result replaces the view, so the hunts built on
        // nacl_verdicts (traffic_after_change) read it instead of correlating again. (Not on a
        // cluster, whose plans cannot carry a table held in this process.)
        if !opts.engine.is_cluster() {
            let verdicts = ctx.table("nacl_verdicts").await?;
            let schema = verdicts.schema().inner().clone();
            let computed = verdicts.collect().await?;
            ctx.deregister_table("nacl_verdicts")?;
            ctx.register_table(
                "nacl_verdicts",
                std::sync::Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![computed])?),
            )?;
        }
        let verdicts = ctx
            .sql(
                "SELECT v.*, c.account_id, c.aws_region, c.source_ip, c.user_agent, c.ipv6_cidr_block \
                 FROM nacl_verdicts v JOIN nacl_changes c ON c.event_id = v.event_id \
                 UNION ALL \
                 SELECT v.*, c.account_id, c.aws_region, c.source_ip, c.user_agent, c.ipv6_cidr_block \
                 FROM sg_verdicts v JOIN sg_changes c ON c.event_id = v.event_id \
                 ORDER BY event_time, event_id",
            )
            .await?;
        let verdict_schema = verdicts.schema().inner().clone();
        let verdict_batches = verdicts.collect().await?;
        // With its header even when the case holds no Network ACL change.
        write_csv_with(&opts.output.join("correlation.csv"), &verdict_schema, &verdict_batches)?;
        let changes: Vec<VerdictRow> = findings::typed(&verdict_batches)?;
        let mut picked: Vec<&VerdictRow> =
            changes.iter().filter(|c| c.verdict().is_some_and(Verdict::flagged)).collect();
        picked
            .sort_by_key(|c| (c.verdict() != Some(Verdict::UnusualTrafficAfterChange), -c.score, c.event_time.clone()));
        // The charts and timelines join the flows to small tables made here, which a cluster's
        // plans cannot carry: on a cluster they are asked of a session in this process.
        let here = match opts.engine {
            crate::query::Engine::Cluster(_) => Some(
                crate::session::session(
                    Some(&lake),
                    &crate::session::SessionOptions { engine: crate::query::Engine::Local, ..session_opts.clone() },
                )
                .await?,
            ),
            crate::query::Engine::Local => None,
        };
        progress.say(&format!("charts and actor timelines of {} flagged changes", picked.len()));
        let flagged = findings::flag_all(here.as_ref().unwrap_or(&ctx), &picked, opts).await?;
        let refs: Vec<&hunt::Hunt> = hunts.iter().collect();
        let tell = |i: usize, n: usize, name: &str| progress.say(&format!("hunt {i} of {n}: {name}"));
        let results = hunt::run_to_dir_telling(&ctx, &refs, &opts.output.join("hunts"), &tell).await?;
        let sigma_results = match &sigma {
            Some(loaded) => {
                progress.say(&format!("{} Sigma rules", loaded.rules.len()));
                hunt::sigma::run(&ctx, loaded, Some(&opts.output.join("sigma"))).await?
            }
            None => Vec::new(),
        };
        progress.say("key facts and coverage");
        let mut facts = facts::gather(&ctx, &opts.output.join("facts")).await?;
        if !opts.ioc.is_empty() {
            progress.say(&format!("sweep of {} indicators", indicators.list.len()));
            // In this process (a cluster's executors do not have the sweep's index).
            let summary =
                crate::ioc::run(here.as_ref().unwrap_or(&ctx), &indicators, Some(&opts.output.join("ioc"))).await?;
            facts.ioc = Some(facts::ioc_table(&summary)?);
            facts.ioc_swept = indicators.list.len();
        }
        let address_context = crate::functions::session_context(&ctx);
        Ok::<_, Error>((changes, flagged, results, sigma_results, facts, address_context))
    })?;
    let mut notes: Vec<String> = problems.iter().map(|p| format!("hunt file not loaded: {p}")).collect();
    notes.extend(indicators.problems.iter().map(|p| format!("indicator not read: {p}")));
    if ingested.had_errors() {
        notes.push(
            "some input was rejected: see the ingest_errors table (`trailflow sql \"SELECT * FROM ingest_errors\"`)"
                .into(),
        );
    }
    for r in results.iter().filter(|r| r.error.is_some()) {
        notes.push(format!("hunt {} failed: {}", r.name, r.error.as_deref().unwrap_or_default()));
    }
    for r in sigma_results.iter().filter(|r| r.error.is_some()) {
        notes.push(format!("Sigma rule {} failed: {}", r.name, r.error.as_deref().unwrap_or_default()));
    }
    let mut facts = facts;
    facts::add_gaps(&mut facts, &results);
    facts.loaded = format!(
        "{} files read in this run: {} loaded, {} rejected ({} records, {} problems; see the ingest section and the \
            ingest_errors table); {} already in the lake.",
        ingested.files_seen,
        ingested.files_loaded,
        ingested.files_rejected,
        ingested.records,
        ingested.errors,
        ingested.files_already_in_lake
    );
    let findings = Findings::new(Gathered {
        ingest_summary: ingested.render(),
        changes: &changes,
        flagged: &flagged,
        results: &results,
        sigma: sigma.as_ref().map(|loaded| (&sigma_results[..], &loaded.skipped[..])),
        notes: &notes,
        opts,
        case: &case,
        facts,
        hunts: &hunts,
        address_context,
    });
    progress.say("report: summary.md and report.html");
    for page in ["summary.md", "report.html"] {
        write_file(&opts.output.join(page), &render::render(page, &findings)?)?;
    }
    progress.done();
    case::record_written(&opts.output, &mut case, started)?;
    let sigma_summary = sigma.as_ref().map(|loaded| (&sigma_results[..], loaded.skipped.len()));
    Ok(Outcome {
        summary_text: terminal_summary(&flagged, &results, sigma_summary, &notes, opts, &case),
        complete: notes.is_empty(),
    })
}

/// A spinner on standard error naming the phase `investigate` is in (on a terminal, and unless
/// `-q`): after the ingest, minutes can pass in the correlation and the hunts of a large case.
struct Phases(indicatif::ProgressBar);

impl Phases {
    fn new(show: bool) -> Phases {
        use std::io::IsTerminal;
        if !show || !std::io::stderr().is_terminal() {
            return Phases(indicatif::ProgressBar::hidden());
        }
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        Phases(pb)
    }

    fn say(&self, what: &str) {
        self.0.set_message(crate::output::screen_text(what).into_owned());
    }

    fn done(&self) {
        self.0.finish_and_clear();
    }
}

impl Drop for Phases {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

pub(super) fn write_file(path: &Path, text: &str) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

/// [`write_csv`], with the header of `schema` when no row came (a file a reader can still open).
pub(super) fn write_csv_with(
    path: &Path,
    schema: &datafusion::arrow::datatypes::SchemaRef,
    batches: &[RecordBatch],
) -> Result<()> {
    if batches.iter().any(|b| b.num_rows() > 0) {
        return write_csv(path, batches);
    }
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    write_file(path, &format!("{}\n", header.join(",")))
}

pub(super) fn write_csv(path: &Path, batches: &[RecordBatch]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let out = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    crate::output::write(Format::Csv, batches, Box::new(std::io::BufWriter::new(out)))
}

/// Text from the evidence made safe for a terminal: control characters (escape sequences that
/// could move the cursor or retitle the window) become `?`.
pub(super) fn plain(s: &str) -> String {
    crate::output::screen_text(s).into_owned()
}

/// The few lines printed at the end of `investigate`.
fn terminal_summary(
    flagged: &[Flagged],
    results: &[HuntResult],
    sigma: Option<(&[HuntResult], usize)>,
    notes: &[String],
    opts: &InvestigateOptions,
    case: &CaseFile,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "\nFlagged firewall changes (Network ACLs, security groups): {}", flagged.len());
    for f in flagged {
        let c = &f.change;
        let _ = writeln!(
            s,
            "  {}  {}  {}  {}  {}\n      {}{}\n      effect: {}",
            plain(&c.event_time),
            plain(c.verdict_words()),
            plain(&c.target()),
            plain(&c.actor_arn),
            if c.bytes > 0 {
                format!("{} newly allowed, top peer {}", human_bytes(c.bytes), plain(c.top_peer()))
            } else {
                String::new()
            },
            plain(&what_changed(c)),
            if c.risk_reasons.is_empty() { String::new() } else { format!("  [{}]", plain(&c.risk_reasons)) },
            plain(&findings::what_it_did(c)),
        );
    }
    let mut hit: Vec<&HuntResult> = results.iter().filter(|r| r.hits > 0).collect();
    hit.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.name.cmp(&b.name)));
    let _ = writeln!(s, "\nHunts with hits: {} of {}", hit.len(), results.len());
    for r in hit {
        let _ = writeln!(s, "  {:<8} {:<32} {:>6}  {}", r.severity.as_str(), r.name, r.hits, r.title);
    }
    // Hunts that had nothing to look at, by what was missing.
    let mut missing: std::collections::BTreeMap<&str, Vec<&str>> = Default::default();
    for r in results {
        if let Some(why) = &r.not_run {
            missing.entry(why.as_str()).or_default().push(r.name.as_str());
        }
    }
    for (why, names) in missing {
        let _ = writeln!(s, "Not run ({why}): {}", names.join(", "));
    }
    if let Some((rules, skipped)) = sigma {
        let hit = crate::hunt::most_severe_first(rules).into_iter().filter(|r| r.hits > 0).collect::<Vec<_>>();
        let _ = writeln!(
            s,
            "\nSigma rules with hits: {} of {} run ({skipped} not run: sigma/sigma_summary.csv says why)",
            hit.len(),
            rules.len()
        );
        for r in hit {
            let _ =
                writeln!(s, "  {:<8} {:<32} {:>6}  {}", r.severity.as_str(), plain(&r.name), r.hits, plain(&r.title));
        }
    }
    for n in notes {
        let _ = writeln!(s, "note: {}", plain(n));
    }
    let _ = writeln!(s, "\nReport: {}", opts.output.join("report.html").display());
    let _ = writeln!(s, "Lake:   {} (trailflow sql --lake {} \"...\")", case.lake, case.lake);
    s
}
