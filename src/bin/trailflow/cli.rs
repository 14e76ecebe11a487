//! The command line's grammar: the global options, the verbs (whose arguments live with each verb
//! under `verbs/`) and the argument groups and value parsers they share.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use trailflow::output::Format;

use crate::verbs;

#[derive(Parser)]
#[command(
    name = "trailflow",
    version,
    about = "Offline forensic indexer and query engine for AWS CloudTrail and VPC Flow Logs"
)]
pub struct Cli {
    /// The lake folder (default ./trailflow-lake; `investigate` keeps a lake of its own per case
    /// unless one is named).
    #[arg(long, global = true, env = "TRAILFLOW_LAKE")]
    pub lake: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    /// Plan and run the queries (sql, hunts, the correlation, investigate's queries) on the
    /// Ballista cluster whose scheduler is at df://HOST:PORT (built with the `cluster` feature;
    /// docs/cluster.md). The lake must be at the same path on every machine of the cluster.
    #[arg(long, global = true, env = "TRAILFLOW_CLUSTER", value_name = "df://HOST:PORT")]
    pub cluster: Option<String>,
    /// AWS's ip-ranges.json (or a .gz of it) to name AWS services and regions by, in place of the
    /// copy shipped with trailflow. The lake keeps a copy and uses it from then on.
    #[arg(long, global = true, env = "TRAILFLOW_AWS_RANGES", value_name = "FILE")]
    pub aws_ranges: Option<PathBuf>,
    /// A MaxMind GeoLite2/GeoIP2 or DB-IP .mmdb database (City or Country, ASN) for countries and
    /// networks; repeat for several. The lake records it and uses it from then on.
    #[arg(long, global = true, env = "TRAILFLOW_GEOIP", value_name = "FILE", value_delimiter = ',')]
    pub geoip: Vec<PathBuf>,
    #[command(subcommand)]
    pub cmd: Cmd,
}

/// The verbs, each in its own file under `verbs/` with its arguments and what it does.
#[derive(Subcommand)]
pub enum Cmd {
    /// Load CloudTrail, VPC Flow Logs and inventory (files, folders, .zip/.tar/.tar.gz) into the lake.
    ///
    /// Exit status: 0 when everything was loaded, 3 when some input was rejected (see the
    /// ingest_errors table), 1 on a fatal error (the lake is left as it was), 2 on a wrong argument
    /// or setting.
    Ingest(verbs::ingest::Args),
    /// Run a read-only SQL query over the lake.
    Sql(verbs::sql::Args),
    /// Full-text search over CloudTrail: the matching events, oldest first.
    ///
    /// Needles as they are (45.137.21.9, AKIA..., arn:aws:iam::...:user/x, aws-cli/2.15.0),
    /// field-scoped terms (event_name:CreateNetworkAclEntry, user_arn:..., error_code:AccessDenied,
    /// source_ip:...), JSON paths (request_parameters.cidrBlock:"0.0.0.0/0"), AND / OR / NOT or
    /// -term, "phrases", and time ranges (--from/--to, or event_time:[T1 TO T2]). Terms are joined
    /// by AND; case is ignored. In SQL: SELECT * FROM search('QUERY').
    Search(verbs::search::Args),
    /// Every Network ACL and security-group change with its verdict and the evidence: the traffic it newly let in.
    ///
    /// Verdicts: unusual_traffic_after_change, risky_change_no_unusual_traffic,
    /// change_no_unusual_traffic, failed_change (`correlate::Verdict`). The logic is
    /// queries/correlate.sql and queries/correlate_sg.sql.
    Correlate(verbs::correlate::Args),
    /// Saved hunts: list them, check them, run them.
    Hunt(verbs::hunt::Args),
    /// The whole job in one step: ingest, correlate, run every hunt, write the report folder.
    ///
    /// The report folder holds summary.md and report.html (read these first), correlation.csv,
    /// one CSV per hunt under hunts/, a timeline per flagged change, and the case's own lake
    /// (lake/; query it with --lake DIR/lake). Each case has its own lake unless --lake names a
    /// shared one, in which case the report covers only the evidence given. Exit status 0 when all
    /// went through, 3 when some input was rejected or a hunt failed (the rest is in the report).
    Investigate(verbs::investigate::Args),
    /// Sweep indicators (plain lists, CSV, STIX 2.1 bundles, MISP events) over both sources: one
    /// row per indicator with its hits, first and last seen, the actors and interfaces involved.
    ///
    /// Exit status 0 when every indicator was read, 3 when some line was not (said on stderr and
    /// in ioc_problems.csv; the rest is swept), 2 when no indicator could be read at all.
    Ioc(verbs::ioc::Args),
    /// One Network ACL or security group: its rules at a moment, a change's diff, a path check, its history.
    Acl(verbs::acl::Args),
    /// Merge the small files that many ingest runs leave in each partition into files of a useful
    /// size (rows unchanged; the search index follows). Waits for other processes reading the lake.
    Compact(SummaryArgs),
    /// Run a Ballista scheduler or executor that knows trailflow's functions (docs/cluster.md).
    #[cfg(feature = "cluster")]
    Cluster(verbs::cluster::Args),
    /// Everything one actor, access key or address did, from CloudTrail and the flow logs, in time
    /// order. `--format jsonl` writes Timesketch's import shape (message, datetime,
    /// timestamp_desc, timestamp).
    Timeline(verbs::timeline::Args),
    /// Print a shell completion script: `trailflow completions bash > /etc/bash_completion.d/trailflow`
    /// (zsh: into a folder of your $fpath as _trailflow; fish: ~/.config/fish/completions/trailflow.fish).
    Completions(verbs::completions::Args),
    /// An interactive SQL prompt over the lake (history, multi-line statements, \d to list tables).
    Shell,
    /// What the lake holds: rows, files and bytes per table, time ranges, accounts, regions.
    Stats(SummaryArgs),
}

/// Where results go and in which format (every verb that prints a result).
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Output format (default: from the -o file's extension, else table).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write to a file instead of stdout (.csv, .json, .ndjson/.jsonl, .parquet, .txt pick the format).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Rows a table shows on the screen (default 40 on a terminal; 0: all). Files get every row.
    #[arg(long, value_name = "N")]
    pub maxrows: Option<usize>,
    /// Longest value a table shows on the screen, cut with … (default 80 on a terminal; 0: whole).
    /// Files, pipes and --format line get every value whole.
    #[arg(long, value_name = "N")]
    pub maxwidth: Option<usize>,
}

impl OutputArgs {
    pub fn format(&self) -> anyhow::Result<Format> {
        Ok(Format::choose(self.format, self.output.as_deref())?)
    }

    /// How a result shown on the screen is fitted to it (`--format table` keeps a wide table).
    pub fn screen(&self) -> trailflow::output::Screen {
        screen_for(self.format, self.maxrows, self.maxwidth)
    }
}

pub fn screen_for(
    format: Option<Format>,
    maxrows: Option<usize>,
    maxwidth: Option<usize>,
) -> trailflow::output::Screen {
    let s = trailflow::output::Screen::of_stdout_cut(maxrows, maxwidth);
    if format == Some(Format::Table) { s.keep_table() } else { s }
}

/// More hunts besides the built-in ones.
#[derive(clap::Args)]
pub struct QueriesArg {
    /// More hunts (a folder of .sql files; a file named like a built-in hunt replaces it).
    #[arg(long = "queries", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// The evidence to load, and what it may not say itself (`ingest`, `investigate`).
#[derive(clap::Args)]
pub struct InputArgs {
    /// Files, folders and archives of evidence.
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub evidence: EvidenceArgs,
}

/// A verb that ends with a summary (`ingest`, `compact`, `stats`): as text, or as JSON.
#[derive(clap::Args)]
pub struct SummaryArgs {
    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

impl SummaryArgs {
    /// Print `summary`: as JSON, or as its text.
    pub fn print<T: serde::Serialize>(&self, summary: &T, text: impl FnOnce(&T) -> String) -> anyhow::Result<()> {
        if self.json {
            rawln!("{}", serde_json::to_string_pretty(summary)?);
        } else {
            out!("{}", text(summary));
        }
        Ok(())
    }
}

/// What the evidence itself may not say.
#[derive(clap::Args)]
pub struct EvidenceArgs {
    /// When the inventory (describe-* JSON) was taken, e.g. 2024-05-01T12:00:00Z; inferred when absent.
    #[arg(long, value_name = "TIME")]
    pub inventory_time: Option<String>,
    /// The layout of flow records without a header line (flow logs delivered to CloudWatch Logs):
    /// the flow log's LogFormat, e.g. '${version} ${vpc-id} ${srcaddr} ...' (default: the
    /// default format, or a documented layout recognised by its field count).
    #[arg(long, value_name = "FORMAT", env = "TRAILFLOW_FLOW_FORMAT", value_parser = parse_flow_format)]
    pub flow_format: Option<trailflow::decode::flowlog::Format>,
}

pub fn parse_flow_format(s: &str) -> trailflow::error::Result<trailflow::decode::flowlog::Format> {
    trailflow::decode::flowlog::Format::from_log_format(s)
}

/// The correlation's window after each change and baseline before it.
#[derive(clap::Args)]
pub struct SpanArgs {
    /// How long after each change to look at flows.
    #[arg(long, default_value = "24h", value_parser = trailflow::time::parse_duration)]
    pub window: i64,
    /// How long before each change the baseline reaches.
    #[arg(long, default_value = "24h", value_parser = trailflow::time::parse_duration)]
    pub baseline: i64,
}

pub fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?}: give a parameter as NAME=VALUE")),
    }
}

/// A time given on the command line. The lake holds times from 1970 to 2200 only, so a bound
/// beyond them is moved to the nearest (it selects the same rows).
pub fn parse_time_arg(s: &str) -> Result<i64, String> {
    let t = if let Some(t) = trailflow::time::parse_time(s) {
        t
    } else if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros()
    } else if let Some(t) = s.parse::<i64>().ok().and_then(|secs| secs.checked_mul(1_000_000)) {
        t
    } else {
        return Err(format!("cannot read {s:?} as a time: use e.g. 2024-05-01T12:00:00Z"));
    };
    Ok(trailflow::time::clamp_time(t))
}

/// The inventory time given at ingest: it becomes a stored time, so it must be one the lake holds.
pub fn parse_inventory_time(s: &str) -> anyhow::Result<i64> {
    let t = parse_time_arg(s).map_err(anyhow::Error::msg)?;
    let exact = trailflow::time::parse_time(s).or_else(|| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros())
    });
    if exact.is_some_and(|e| e != t) || !trailflow::time::time_in_range(t) {
        let why = trailflow::time::time_out_of_range("the time", s);
        return Err(trailflow::error::Error::Usage(format!("--inventory-time: {why}")).into());
    }
    Ok(t)
}

pub fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not a CIDR such as 10.0.0.0/8"))
}

/// A case's name: one folder name (it is the report folder unless -o says otherwise), never a
/// path that leads elsewhere.
pub fn case_name(s: &str) -> Result<String, String> {
    let bad = s.trim().is_empty()
        || s == "."
        || s == ".."
        || s.len() > 200
        || s.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err("a case name is one folder name (no '/', '\\', '.' or '..', no control characters); give the \
            folder with -o"
            .into());
    }
    Ok(s.to_string())
}
