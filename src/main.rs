//! The `trailflow` command line: parses arguments, calls the library, prints.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use futures::StreamExt;
use trailflow::ingest::{IngestOptions, ingest};
use trailflow::lake::Lake;
use trailflow::output::{Format, Sink, Stdout, one_line};

mod shell;

// mimalloc: hash aggregation and Parquet decoding allocate and free many short-lived buffers; the
// system allocator spends a large share of query time in page faults for them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status when some input was rejected (the rest was loaded).
const EXIT_REJECTED: u8 = 3;
/// Exit status for a fatal error (nothing was changed).
const EXIT_FATAL: u8 = 1;

/// A case's name: one folder name (it is the report folder unless -o says otherwise), never a
/// path that leads elsewhere.
fn case_name(s: &str) -> Result<String, String> {
    let bad = s.trim().is_empty()
        || s == "."
        || s == ".."
        || s.len() > 200
        || s.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if bad {
        return Err("a case name is one folder name (no '/', '\\', '.' or '..', no control characters); give the folder with -o".into());
    }
    Ok(s.to_string())
}

/// Write a line to standard error, whatever becomes of it (a closed stderr is no reason to stop).
/// Every line is made safe for a terminal first: evidence values and paths in it cannot drive
/// the terminal (`output::screen_lines`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), "{}", trailflow::output::screen_lines(&format!($($arg)*)));
    }};
}

/// Write text meant for a screen to standard output, made safe for a terminal (a closed pipe
/// ends the process quietly with success).
macro_rules! out {
    ($($arg:tt)*) => {{
        let _ = write!(Stdout, "{}", trailflow::output::screen_lines(&format!($($arg)*)));
    }};
}
macro_rules! outln {
    ($($arg:tt)*) => {{
        let _ = writeln!(Stdout, "{}", trailflow::output::screen_lines(&format!($($arg)*)));
    }};
}
/// Machine output (JSON) as it is: its own escaping is the reader's.
macro_rules! rawln {
    ($($arg:tt)*) => {{
        let _ = writeln!(Stdout, $($arg)*);
    }};
}

#[derive(Parser)]
#[command(
    name = "trailflow",
    version,
    about = "Offline forensic indexer and query engine for AWS CloudTrail and VPC Flow Logs"
)]
struct Cli {
    /// The lake folder (default ./trailflow-lake; `investigate` keeps a lake of its own per case
    /// unless one is named).
    #[arg(long, global = true, env = "TRAILFLOW_LAKE")]
    lake: Option<PathBuf>,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// Plan and run the queries (sql, hunts, the correlation, investigate's queries) on the
    /// Ballista cluster whose scheduler is at df://HOST:PORT (built with the `cluster` feature;
    /// docs/cluster.md). The lake must be at the same path on every machine of the cluster.
    #[arg(long, global = true, env = "TRAILFLOW_CLUSTER", value_name = "df://HOST:PORT")]
    cluster: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

/// The cluster the queries run on (`--cluster`), for every session of this process.
static CLUSTER: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// The session every verb queries in: in this process, or on the cluster given.
fn session_opts() -> trailflow::session::SessionOptions {
    trailflow::session::SessionOptions { cluster: CLUSTER.get().cloned().flatten(), ..Default::default() }
}

#[derive(Subcommand)]
enum Cmd {
    /// Load CloudTrail, VPC Flow Logs and inventory (files, folders, .zip/.tar/.tar.gz) into the lake.
    ///
    /// Exit status: 0 when everything was loaded, 3 when some input was rejected (see the
    /// ingest_errors table), 1 on a fatal error (the lake is left as it was).
    Ingest {
        /// Files, folders and archives.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        evidence: EvidenceArgs,
        /// Decoder threads (default: one per core).
        #[arg(long)]
        threads: Option<usize>,
        /// Print the summary as JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Do not build the search index now (the next `search` builds it from the Parquet files).
        #[arg(long)]
        no_index: bool,
    },
    /// Run a read-only SQL query over the lake.
    Sql {
        /// The query (or use -f).
        #[arg(required_unless_present = "file", conflicts_with = "file")]
        query: Option<String>,
        /// Read the query from a file.
        #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
        file: Option<PathBuf>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Full-text search over CloudTrail: the matching events, oldest first.
    ///
    /// Needles as they are (45.137.21.9, AKIA..., arn:aws:iam::...:user/x, aws-cli/2.15.0),
    /// field-scoped terms (event_name:CreateNetworkAclEntry, user_arn:..., error_code:AccessDenied,
    /// source_ip:...), JSON paths (request_parameters.cidrBlock:"0.0.0.0/0"), AND / OR / NOT or
    /// -term, "phrases", and time ranges (--from/--to, or event_time:[T1 TO T2]). Terms are joined
    /// by AND; case is ignored. In SQL: SELECT * FROM search('QUERY').
    Search {
        /// The query.
        query: String,
        /// Only events at or after this time (2024-05-01T12:00:00Z, 2024-05-01, or epoch seconds).
        #[arg(long, value_parser = parse_time_arg)]
        from: Option<i64>,
        /// Only events before this time.
        #[arg(long, value_parser = parse_time_arg)]
        to: Option<i64>,
        /// At most this many events (the oldest).
        #[arg(long)]
        limit: Option<usize>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Every Network ACL change with its verdict and the evidence: the traffic it newly let in.
    ///
    /// Verdicts: unusual_traffic_after_change, risky_change_no_unusual_traffic,
    /// change_no_unusual_traffic, failed_change (`correlate::Verdict`). The logic is
    /// queries/correlate.sql.
    Correlate {
        #[command(flatten)]
        span: SpanArgs,
        /// Trusted networks for the risk assessment (comma-separated CIDRs); default RFC 1918 and the VPC ranges.
        #[arg(long, value_delimiter = ',', value_parser = parse_cidr)]
        trusted: Option<Vec<ipnet::IpNet>>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Saved hunts: list them, check them, run them.
    Hunt {
        #[command(subcommand)]
        cmd: HuntCmd,
    },
    /// The whole job in one step: ingest, correlate, run every hunt, write the report folder.
    ///
    /// The report folder holds summary.md and report.html (read these first), correlation.csv,
    /// one CSV per hunt under hunts/, a timeline per flagged change, and the case's own lake
    /// (lake/; query it with --lake DIR/lake). Each case has its own lake unless --lake names a
    /// shared one, in which case the report covers only the evidence given. Exit status 0 when all
    /// went through, 3 when some input was rejected or a hunt failed (the rest is in the report).
    Investigate {
        /// Files, folders and archives of evidence.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        evidence: EvidenceArgs,
        /// The case's name: the report folder is NAME unless -o says otherwise, and evidence
        /// given in later runs under the same name is added to the same case.
        #[arg(long, value_name = "NAME", value_parser = case_name)]
        case: Option<String>,
        /// The report folder (default: the case's name, else trailflow-report).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
        /// Replace the report folder (and the case lake in it) when it holds another case.
        #[arg(long)]
        replace: bool,
        #[command(flatten)]
        span: SpanArgs,
        #[command(flatten)]
        queries: QueriesArg,
        /// Also run the AWS CloudTrail Sigma rules in DIR (a rule file or a folder, searched
        /// recursively): results in sigma/ and in the report.
        #[arg(long, value_name = "DIR")]
        sigma: Option<PathBuf>,
    },
    /// One Network ACL: its rules at a moment, what a change did, whether a packet would pass, its history.
    Acl {
        #[command(subcommand)]
        cmd: AclCmd,
    },
    /// Merge the small files that many ingest runs leave in each partition into files of a useful
    /// size (rows unchanged; the search index follows). Waits for other processes reading the lake.
    Compact {
        /// Print the summary as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run a Ballista scheduler or executor that knows trailflow's functions (docs/cluster.md).
    #[cfg(feature = "cluster")]
    Cluster {
        #[command(subcommand)]
        cmd: ClusterCmd,
    },
    /// Everything one actor, access key or address did, from CloudTrail and the flow logs, in time
    /// order. `--format jsonl` writes Timesketch's import shape (message, datetime,
    /// timestamp_desc, timestamp).
    Timeline {
        /// A principal's ARN (a role's ARN also matches its sessions).
        #[arg(long, value_name = "ARN")]
        actor: Option<String>,
        /// An address: CloudTrail calls from it and flow records to or from it.
        #[arg(long, value_name = "ADDRESS")]
        ip: Option<String>,
        /// An access key id (AKIA..., ASIA...).
        #[arg(long, value_name = "KEY")]
        key: Option<String>,
        /// Only what happened at or after this time.
        #[arg(long, value_parser = parse_time_arg)]
        from: Option<i64>,
        /// Only what happened before this time.
        #[arg(long, value_parser = parse_time_arg)]
        to: Option<i64>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Print a shell completion script: `trailflow completions bash > /etc/bash_completion.d/trailflow`
    /// (zsh: into a folder of your $fpath as _trailflow; fish: ~/.config/fish/completions/trailflow.fish).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// An interactive SQL prompt over the lake (history, multi-line statements, \d to list tables).
    Shell,
    /// What the lake holds: rows, files and bytes per table, time ranges, accounts, regions.
    Stats {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where results go and in which format (every verb that prints a result).
#[derive(clap::Args)]
struct OutputArgs {
    /// Output format (default: from the -o file's extension, else table).
    #[arg(long, value_enum)]
    format: Option<Format>,
    /// Write to a file instead of stdout (.csv, .json, .ndjson/.jsonl, .parquet, .txt pick the format).
    #[arg(short = 'o', long = "output")]
    output: Option<PathBuf>,
    /// Rows a table shows on the screen (default 40 on a terminal; 0: all). Files get every row.
    #[arg(long, value_name = "N")]
    maxrows: Option<usize>,
    /// Longest value a table shows on the screen, cut with … (default 80 on a terminal; 0: whole).
    /// Files, pipes and --format line get every value whole.
    #[arg(long, value_name = "N")]
    maxwidth: Option<usize>,
}

impl OutputArgs {
    fn format(&self) -> anyhow::Result<Format> {
        Ok(Format::choose(self.format, self.output.as_deref())?)
    }

    /// How a result shown on the screen is fitted to it (`--format table` keeps a wide table).
    fn screen(&self) -> trailflow::output::Screen {
        screen_for(self.format, self.maxrows, self.maxwidth)
    }
}

fn screen_for(format: Option<Format>, maxrows: Option<usize>, maxwidth: Option<usize>) -> trailflow::output::Screen {
    let s = trailflow::output::Screen::of_stdout_cut(maxrows, maxwidth);
    if format == Some(Format::Table) { s.keep_table() } else { s }
}

/// More hunts besides the built-in ones.
#[derive(clap::Args)]
struct QueriesArg {
    /// More hunts (a folder of .sql files; a file named like a built-in hunt replaces it).
    #[arg(long = "queries", value_name = "DIR")]
    dir: Option<PathBuf>,
}

/// What the evidence itself may not say.
#[derive(clap::Args)]
struct EvidenceArgs {
    /// When the inventory (describe-* JSON) was taken, e.g. 2024-05-01T12:00:00Z; inferred when absent.
    #[arg(long, value_name = "TIME")]
    inventory_time: Option<String>,
    /// The layout of flow records without a header line (flow logs delivered to CloudWatch Logs):
    /// the flow log's LogFormat, e.g. '${version} ${vpc-id} ${srcaddr} ...' (default: the
    /// default format, or a documented layout recognised by its field count).
    #[arg(long, value_name = "FORMAT", env = "TRAILFLOW_FLOW_FORMAT", value_parser = parse_flow_format)]
    flow_format: Option<trailflow::decode::flowlog::Format>,
}

fn parse_flow_format(s: &str) -> Result<trailflow::decode::flowlog::Format, String> {
    trailflow::decode::flowlog::Format::from_log_format(s)
}

/// The correlation's window after each change and baseline before it.
#[derive(clap::Args)]
struct SpanArgs {
    /// How long after each change to look at flows.
    #[arg(long, default_value = "24h", value_parser = trailflow::time::parse_duration)]
    window: i64,
    /// How long before each change the baseline reaches.
    #[arg(long, default_value = "24h", value_parser = trailflow::time::parse_duration)]
    baseline: i64,
}

#[cfg(feature = "cluster")]
#[derive(Subcommand)]
enum ClusterCmd {
    /// The scheduler: plans the queries sent with --cluster and hands their tasks to executors.
    Scheduler {
        /// The address it listens on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        #[arg(long, default_value_t = trailflow::cluster::DEFAULT_SCHEDULER_PORT)]
        port: u16,
        /// The name executors reach it by.
        #[arg(long, default_value = "localhost")]
        external_host: String,
    },
    /// An executor: runs tasks on the lake's files (at the same path as on the scheduler).
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "localhost:50050")]
        scheduler: String,
        /// The address it listens on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// The name the scheduler and the other executors reach it by (default: --bind).
        #[arg(long)]
        external_host: Option<String>,
        /// Arrow Flight port (results and shuffles).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port (tasks).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once (default: one per core).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Where shuffle files go (default: a temporary folder).
        #[arg(long)]
        work_dir: Option<String>,
    },
}

#[derive(Subcommand)]
enum HuntCmd {
    /// The hunts: name, severity, title, ATT&CK techniques, parameters.
    List {
        #[command(flatten)]
        queries: QueriesArg,
        /// Also print each hunt's description and parameters.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Print a hunt: its header (severity, ATT&CK, parameters, description) and its SQL.
    Show {
        /// The hunt's name (see `hunt list`).
        name: String,
        #[command(flatten)]
        queries: QueriesArg,
    },
    /// Plan every hunt without running it; exit 1 if any is broken.
    Lint {
        #[command(flatten)]
        queries: QueriesArg,
    },
    /// Run hunts by name (or --all), or Sigma rules (--sigma DIR), and print or write their results.
    Run {
        /// Hunt names (see `hunt list`).
        #[arg(required_unless_present_any = ["all", "sigma"], conflicts_with = "all")]
        names: Vec<String>,
        /// Run the Sigma rules for AWS CloudTrail in this folder (a checkout of SigmaHQ's
        /// rules/cloud/aws/cloudtrail, or your own); rules that cannot be compiled are listed with
        /// the reason.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["all", "names"])]
        sigma: Option<PathBuf>,
        /// Run every hunt.
        #[arg(long)]
        all: bool,
        /// A parameter value, NAME=VALUE (repeatable); bound as a query parameter.
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Only hits at or after this time (on the hunt's time column).
        #[arg(long, value_parser = parse_time_arg)]
        from: Option<i64>,
        /// Only hits before this time.
        #[arg(long, value_parser = parse_time_arg)]
        to: Option<i64>,
        /// Write one file per hunt and summary.csv into this folder.
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: Option<PathBuf>,
        /// Output format (default: table on screen, csv in a folder).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Rows a table shows on the screen (default 40 on a terminal; 0: all).
        #[arg(long, value_name = "N")]
        maxrows: Option<usize>,
        /// Longest value a table shows on the screen, cut with … (default 80 on a terminal; 0: whole).
        #[arg(long, value_name = "N")]
        maxwidth: Option<usize>,
        #[command(flatten)]
        queries: QueriesArg,
    },
}

#[derive(Subcommand)]
enum AclCmd {
    /// The ACL's rules as they stood (now, or --at a time), each with where it was learned.
    Show {
        /// The ACL id (acl-...).
        acl: String,
        /// The moment (2026-03-10T14:07:00Z); default: the latest the evidence shows.
        #[arg(long, value_parser = parse_time_arg)]
        at: Option<i64>,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// What one change (its CloudTrail event id) opened and closed, and the rules before and after.
    Diff {
        /// The event id of the change (nacl_changes.event_id).
        event_id: String,
        #[command(flatten)]
        out: OutputArgs,
    },
    /// Would a packet have passed the ACL: allowed or denied, by which rule, or unknown and why.
    Check {
        /// The ACL id (acl-...).
        #[arg(long)]
        acl: String,
        /// The moment (default: the latest rules the evidence shows).
        #[arg(long, value_parser = parse_time_arg)]
        at: Option<i64>,
        /// The packet: "ingress tcp 203.0.113.5 -> 10.0.1.7:22" (egress: "egress udp 10.0.1.7 -> 8.8.8.8:53").
        #[arg(long)]
        flow: trailflow::correlate::acl::Packet,
    },
    /// Every change of the ACL in time order, with what each opened and closed.
    History {
        /// The ACL id (acl-...).
        acl: String,
        #[command(flatten)]
        out: OutputArgs,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?}: give a parameter as NAME=VALUE")),
    }
}

/// A time given on the command line. The lake holds times from 1970 to 2200 only, so a bound
/// beyond them is moved to the nearest (it selects the same rows).
fn parse_time_arg(s: &str) -> Result<i64, String> {
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
fn parse_inventory_time(s: &str) -> anyhow::Result<i64> {
    let t = parse_time_arg(s).map_err(anyhow::Error::msg)?;
    let exact = trailflow::time::parse_time(s).or_else(|| {
        chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros())
    });
    if exact.is_some_and(|e| e != t) || !trailflow::time::time_in_range(t) {
        anyhow::bail!("--inventory-time: {}", trailflow::time::time_out_of_range("the time", s));
    }
    Ok(t)
}

fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not a CIDR such as 10.0.0.0/8"))
}

/// Run a read-only query and write its result batch by batch.
async fn stream_query(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    format: Format,
    output: Option<&std::path::Path>,
    screen: trailflow::output::Screen,
) -> anyhow::Result<()> {
    let df = trailflow::query::user_sql(ctx, sql).await?;
    stream_dataframe(df, format, output, screen).await
}

/// Run a DataFrame and write its result batch by batch.
async fn stream_dataframe(
    df: datafusion::prelude::DataFrame,
    format: Format,
    output: Option<&std::path::Path>,
    screen: trailflow::output::Screen,
) -> anyhow::Result<()> {
    let schema = df.schema().inner().clone();
    let mut stream = df.execute_stream().await?;
    let mut sink = Sink::new(format, schema, open_output(output)?)?;
    if output.is_none() {
        sink = sink.on_screen(screen);
    }
    while let Some(batch) = stream.next().await {
        sink.write(&batch?)?;
    }
    sink.finish()?;
    Ok(())
}

/// Where results go: the `-o` file, or stdout.
fn open_output(path: Option<&std::path::Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(Stdout)),
    })
}

/// Stack for the command's thread: deep but bounded user expressions (see `limits`) are planned
/// recursively by the SQL and search parsers.
const STACK: usize = 256 << 20;

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let _ = writeln!(std::io::stderr(), "trailflow: internal error (please report it): {}{at}", one_line(what));
    }));
    let worker = std::thread::Builder::new().name("trailflow".into()).stack_size(STACK).spawn(main_thread);
    match worker.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => ExitCode::from(EXIT_FATAL),
    }
}

fn main_thread() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`trailflow sql ... | head`) is not an error.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            errln!("trailflow: error: {}", one_line(e));
            ExitCode::from(EXIT_FATAL)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(trailflow::query::runtime()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let lake_dir = cli.lake.clone().unwrap_or_else(|| PathBuf::from("trailflow-lake"));
    let _ = CLUSTER.set(cli.cluster.clone());
    match cli.cmd {
        #[cfg(feature = "cluster")]
        Cmd::Cluster { cmd } => {
            trailflow::cluster::init_log();
            runtime()?.block_on(async {
                match cmd {
                    ClusterCmd::Scheduler { bind, port, external_host } => {
                        errln!("trailflow: cluster scheduler on {bind}:{port} (df://{external_host}:{port})");
                        trailflow::cluster::run_scheduler(&bind, port, &external_host).await
                    }
                    ClusterCmd::Executor { scheduler, bind, external_host, port, grpc_port, concurrency, work_dir } => {
                        let (host, sport) = scheduler.rsplit_once(':').unwrap_or((scheduler.as_str(), "50050"));
                        let scheduler_port: u16 = sport.parse().map_err(|_| {
                            trailflow::error::Error::Invalid(format!("--scheduler {scheduler}: give HOST:PORT"))
                        })?;
                        let opts = trailflow::cluster::ExecutorOptions {
                            scheduler_host: host.to_string(),
                            scheduler_port,
                            bind,
                            external_host,
                            port,
                            grpc_port,
                            concurrency,
                            work_dir,
                        };
                        errln!("trailflow: cluster executor on {}:{} serving {scheduler}", opts.bind, opts.port);
                        trailflow::cluster::run_executor(&opts).await
                    }
                }
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Ingest { inputs, evidence, threads, json, no_index } => {
            let mut opts = IngestOptions::new(&lake_dir, inputs);
            opts.inventory_time = evidence.inventory_time.as_deref().map(parse_inventory_time).transpose()?;
            opts.flow_format = evidence.flow_format;
            opts.progress = !cli.quiet;
            opts.threads = threads;
            opts.index = !no_index;
            opts.limits = trailflow::limits::Limits::from_env()?;
            let summary = ingest(&opts)?;
            // The derived tables, stored for the lake as it now is (docs/lake.md, "Derived tables").
            trailflow::correlate::stored::store(&lake_dir)?;
            if json {
                rawln!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                out!("{}", summary.render());
            }
            Ok(if summary.had_errors() { ExitCode::from(EXIT_REJECTED) } else { ExitCode::SUCCESS })
        }
        Cmd::Sql { query, file, out } => {
            let sql = match (query, file) {
                (Some(q), _) => q,
                (None, Some(f)) => {
                    std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?
                }
                (None, None) => unreachable!("clap requires one"),
            };
            let format = out.format()?;
            let lake = Lake::open(&lake_dir)?;
            runtime()?.block_on(async {
                let ctx = trailflow::session::session(Some(&lake), &session_opts()).await?;
                stream_query(&ctx, &sql, format, out.output.as_deref(), out.screen()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Search { query, from, to, limit, out } => {
            let format = out.format()?;
            let lake = Lake::open(&lake_dir)?;
            let req = trailflow::search::SearchRequest { query, from, to, limit };
            let mut sink = Sink::new(format, trailflow::search::result_schema(), open_output(out.output.as_deref())?)?;
            if out.output.is_none() {
                sink = sink.on_screen(out.screen());
            }
            let ip = req.query.trim().parse::<std::net::IpAddr>().ok();
            trailflow::search::search_each(&lake, &req, &mut |batch| sink.write(&batch))?;
            sink.finish()?;
            if let Some(ip) = ip {
                errln!(
                    "note: search covers CloudTrail only; `trailflow timeline --ip {ip}` adds this address's flow records"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Correlate { span, trusted, out } => {
            let format = out.format()?;
            let lake = Lake::open(&lake_dir)?;
            runtime()?.block_on(async {
                let opts = trailflow::session::SessionOptions {
                    trusted,
                    window_us: span.window,
                    baseline_us: span.baseline,
                    ..session_opts()
                };
                let ctx = trailflow::session::session(Some(&lake), &opts).await?;
                let df = trailflow::session::correlation(&ctx, &opts).await?;
                stream_dataframe(df, format, out.output.as_deref(), out.screen()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Hunt { cmd } => hunt_cmd(&lake_dir, cmd),
        Cmd::Acl { cmd } => acl_cmd(&lake_dir, cmd),
        Cmd::Timeline { actor, ip, key, from, to, out } => {
            let pivot = trailflow::timeline::Pivot::from_args(actor, ip, key)?;
            let format = out.format()?;
            let lake = Lake::open(&lake_dir)?;
            runtime()?.block_on(async {
                let ctx = trailflow::session::session(Some(&lake), &session_opts()).await?;
                // A name rather than an ARN: say which principals it stood for.
                if let trailflow::timeline::Pivot::Actor(a) = &pivot
                    && !a.starts_with("arn:")
                {
                    let arns = trailflow::timeline::actor_arns(&ctx, a).await?;
                    if arns.is_empty() {
                        errln!(
                            "trailflow: --actor {a:?} matched no principal (a user name, role name, access key id or ARN; `trailflow stats` lists the principals)"
                        );
                    } else {
                        let list: Vec<String> = arns.iter().map(|(arn, n)| format!("{arn} ({n} events)")).collect();
                        errln!("trailflow: --actor {a:?} matched {}", list.join(", "));
                    }
                }
                let mut df = trailflow::timeline::timeline(&ctx, &pivot, from, to).await?;
                // On the screen, unless a format is asked for: time, source and what happened.
                if out.output.is_none() && out.format.is_none() {
                    df = df.select_columns(&["datetime", "source", "message"])?;
                }
                stream_dataframe(df, format, out.output.as_deref(), out.screen()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cmd, "trailflow", &mut out);
            std::io::Write::write_all(&mut Stdout, &out)?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Compact { json } => {
            use std::io::IsTerminal;
            let pb = if cli.quiet || !std::io::stderr().is_terminal() {
                indicatif::ProgressBar::hidden()
            } else {
                let pb = indicatif::ProgressBar::new_spinner();
                pb.enable_steady_tick(std::time::Duration::from_millis(120));
                pb
            };
            let summary = trailflow::ingest::compact::compact(&lake_dir, &|what| pb.set_message(what.to_string()))?;
            pb.set_message("derive: Network ACL changes, interfaces, associations, rules");
            trailflow::correlate::stored::store(&lake_dir)?;
            pb.finish_and_clear();
            if json {
                rawln!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                out!("{}", summary.render());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Investigate { inputs, evidence, case, output, replace, span, queries, sigma } => {
            let inventory_time = evidence.inventory_time.as_deref().map(parse_inventory_time).transpose()?;
            let output = output
                .or_else(|| case.as_ref().map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("trailflow-report"));
            let opts = trailflow::report::InvestigateOptions {
                lake: cli.lake.clone(),
                case,
                replace,
                limits: trailflow::limits::Limits::from_env()?,
                inputs,
                inventory_time,
                flow_format: evidence.flow_format,
                output,
                window_us: span.window,
                baseline_us: span.baseline,
                queries: queries.dir,
                sigma,
                cluster: cli.cluster.clone(),
                progress: !cli.quiet,
            };
            let outcome = trailflow::report::investigate(&opts)?;
            out!("{}", outcome.summary_text);
            Ok(if outcome.complete { ExitCode::SUCCESS } else { ExitCode::from(EXIT_REJECTED) })
        }
        Cmd::Shell => {
            let lake = Lake::open(&lake_dir)?;
            runtime()?.block_on(async {
                let ctx = trailflow::session::session(Some(&lake), &session_opts()).await?;
                shell::shell(ctx).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Stats { json } => {
            let lake = Lake::open(&lake_dir)?;
            let stats = runtime()?.block_on(trailflow::stats::stats(&lake))?;
            if json {
                rawln!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                out!("{}", stats.render());
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Write one batch in a format.
fn write_batch(
    batch: &datafusion::arrow::array::RecordBatch,
    format: Format,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut sink = Sink::new(format, batch.schema(), open_output(output)?)?;
    if output.is_none() {
        sink = sink.on_screen(trailflow::output::Screen::of_stdout(Some(0)));
    }
    sink.write(batch)?;
    sink.finish()?;
    Ok(())
}

/// `trailflow acl ...`.
fn acl_cmd(lake_dir: &std::path::Path, cmd: AclCmd) -> anyhow::Result<ExitCode> {
    use trailflow::correlate::acl;
    let lake = Lake::open(lake_dir)?;
    // `acl check`'s answer, for the exit status, as grep's: 0 allowed, 1 denied; 3 when nothing
    // recorded says what a rule that comes first was (2 is a usage error, as everywhere).
    let allowed = std::cell::Cell::new(None::<Option<bool>>);
    runtime()?.block_on(async {
        let ctx = trailflow::session::session(Some(&lake), &session_opts()).await?;
        match cmd {
            AclCmd::Show { acl: id, at, out } => {
                let format = out.format()?;
                let rules = acl::rules(&ctx, &id, at).await?;
                if format == Format::Table && out.output.is_none() {
                    let when =
                        at.map(trailflow::time::fmt_time).unwrap_or_else(|| "the latest the evidence shows".into());
                    outln!("{id} at {when}");
                }
                write_batch(&acl::rules_batch(&rules)?, format, out.output.as_deref())
            }
            AclCmd::Diff { event_id, out } => {
                let format = out.format()?;
                let d = acl::diff(&ctx, &event_id).await?;
                match format {
                    Format::Table => {
                        let mut text = String::new();
                        for (k, v) in &d.header {
                            text.push_str(&format!("{k:<8}{v}\n"));
                        }
                        text.push_str(&format!(
                            "{:<8}{}\n",
                            "opened",
                            d.opened.as_deref().unwrap_or("not known (the rules after it are not in the evidence)")
                        ));
                        text.push_str(&format!("{:<8}{}\n", "closed", d.closed.as_deref().unwrap_or("not known")));
                        match &out.output {
                            Some(path) => {
                                let mut w = open_output(Some(path))?;
                                w.write_all(text.as_bytes())?;
                                let mut sink = Sink::new(format, d.rules.schema(), w)?;
                                sink.write(&d.rules)?;
                                sink.finish()?;
                            }
                            None => {
                                out!("{text}");
                                write_batch(&d.rules, format, None)?;
                            }
                        }
                        Ok(())
                    }
                    Format::Json => {
                        let rules = trailflow::output::batch_json(&d.rules)?;
                        let mut obj = serde_json::Map::new();
                        for (k, v) in &d.header {
                            obj.insert((*k).into(), serde_json::Value::String(v.clone()));
                        }
                        obj.insert("event_id".into(), event_id.clone().into());
                        obj.insert("opened".into(), d.opened.clone().into());
                        obj.insert("closed".into(), d.closed.clone().into());
                        obj.insert("rules".into(), rules);
                        let mut w = open_output(out.output.as_deref())?;
                        writeln!(w, "{}", serde_json::to_string_pretty(&obj)?)?;
                        w.flush()?;
                        Ok(())
                    }
                    // The other formats carry the rules side by side.
                    _ => write_batch(&d.rules, format, out.output.as_deref()),
                }
            }
            AclCmd::Check { acl: id, at, flow } => {
                let when = at.map(trailflow::time::fmt_time).unwrap_or_else(|| "the latest rules".into());
                outln!("{id} at {when}");
                let (lines, decision) = acl::check(&ctx, &id, at, &flow).await?;
                for line in lines {
                    outln!("{line}");
                }
                allowed.set(Some(decision));
                Ok(())
            }
            AclCmd::History { acl: id, out } => {
                let format = out.format()?;
                acl::require_acl(&ctx, &id).await?;
                stream_query(&ctx, &acl::history_sql(&id), format, out.output.as_deref(), out.screen()).await
            }
        }
    })?;
    Ok(match allowed.get() {
        None | Some(Some(true)) => ExitCode::SUCCESS,
        Some(Some(false)) => ExitCode::from(1),
        Some(None) => ExitCode::from(EXIT_REJECTED),
    })
}

/// `trailflow hunt run --sigma DIR`: compile the rules, run each, say what each matched.
fn sigma_run(
    lake_dir: &std::path::Path,
    dir: &std::path::Path,
    output: Option<&std::path::Path>,
) -> anyhow::Result<ExitCode> {
    let loaded = trailflow::hunt::sigma::load_dir(dir)?;
    for (f, why) in &loaded.skipped {
        errln!("trailflow: sigma: {}: not run: {why}", f.display());
    }
    let lake = Lake::open(lake_dir)?;
    let results = runtime()?.block_on(async {
        let ctx = trailflow::session::session(Some(&lake), &session_opts()).await?;
        trailflow::hunt::sigma::run(&ctx, &loaded, output).await
    })?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["level", "rule", "hits", "title", "id"]);
    let ids: std::collections::HashMap<String, (&str, &str)> =
        loaded.rules.iter().map(|r| (r.stem(), (r.id.as_str(), r.level.as_str()))).collect();
    for r in trailflow::hunt::most_severe_first(&results) {
        let (id, level) = ids.get(&r.name).copied().unwrap_or_default();
        let hits = match (&r.error, &r.not_run) {
            (Some(e), _) => {
                errln!("trailflow: sigma: {}: {e}", r.name);
                "FAILED".to_string()
            }
            (None, Some(why)) => format!("not run: {why}"),
            (None, None) => r.hits.to_string(),
        };
        table.add_row(vec![level.to_string(), r.name.clone(), hits, r.title.clone(), id.to_string()]);
    }
    outln!("{table}");
    outln!(
        "{} Sigma rules run, {} not run{}",
        results.len(),
        loaded.skipped.len(),
        if loaded.skipped.is_empty() { "" } else { " (see the lines above)" }
    );
    if let Some(o) = output {
        outln!("Results: {} (sigma_summary.csv and one CSV per rule)", o.display());
    }
    // A rule that failed to run (its SQL did not plan or run) leaves a question unanswered: the
    // others still ran, and the exit status says one did not, as for hunts.
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        errln!("trailflow: sigma: {failed} rule{} failed to run (named above)", if failed == 1 { "" } else { "s" });
        return Ok(ExitCode::from(EXIT_FATAL));
    }
    Ok(ExitCode::SUCCESS)
}

/// `trailflow hunt ...`.
fn hunt_cmd(lake_dir: &std::path::Path, cmd: HuntCmd) -> anyhow::Result<ExitCode> {
    use trailflow::hunt;
    match cmd {
        HuntCmd::List { queries, verbose } => {
            let (hunts, problems) = hunt::catalog(queries.dir.as_deref())?;
            out!("{}", hunt::render_list(&hunts, verbose));
            for p in &problems {
                errln!("trailflow: warning: {p}");
            }
            Ok(ExitCode::SUCCESS)
        }
        HuntCmd::Show { name, queries } => {
            let (hunts, _) = hunt::catalog(queries.dir.as_deref())?;
            let h = hunt::select(&hunts, std::slice::from_ref(&name))?;
            out!("{}", hunt::render_show(h[0]));
            Ok(ExitCode::SUCCESS)
        }
        HuntCmd::Lint { queries } => {
            let (hunts, mut problems) = hunt::catalog(queries.dir.as_deref())?;
            let lake = Lake::open(lake_dir).ok();
            runtime()?.block_on(async {
                let ctx = trailflow::session::session(lake.as_ref(), &session_opts()).await?;
                problems.extend(hunt::lint(&ctx, &hunts).await);
                anyhow::Ok(())
            })?;
            for p in &problems {
                errln!("{p}");
            }
            if problems.is_empty() {
                outln!("{} hunts plan cleanly", hunts.len());
                Ok(ExitCode::SUCCESS)
            } else {
                errln!(
                    "trailflow: {} problem{} in the hunts",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                Ok(ExitCode::from(EXIT_FATAL))
            }
        }
        HuntCmd::Run { sigma: Some(dir), output, .. } => sigma_run(lake_dir, &dir, output.as_deref()),
        HuntCmd::Run { names, all, params, from, to, output, format, maxrows, maxwidth, queries, .. } => {
            let (hunts, problems) = hunt::catalog(queries.dir.as_deref())?;
            for p in &problems {
                errln!("trailflow: warning: {p}");
            }
            let selected: Vec<&hunt::Hunt> = if all { hunts.iter().collect() } else { hunt::select(&hunts, &names)? };
            let values = hunt::check_params(&selected, &params)?;
            let range = hunt::TimeRange { from, to };
            let lake = Lake::open(lake_dir)?;
            let failed = runtime()?.block_on(async {
                let ctx = trailflow::session::session(Some(&lake), &session_opts()).await?;
                match &output {
                    Some(dir) => {
                        let format = format.unwrap_or(Format::Csv);
                        let results = hunt::run_to_dir(&ctx, &selected, &values, range, dir, format).await?;
                        out!("{}", hunt::render_summary(&results));
                        anyhow::Ok(results.iter().filter(|r| r.error.is_some()).count())
                    }
                    None => {
                        let asked = format;
                        let format = format.unwrap_or(Format::Table);
                        if selected.len() > 1 && !matches!(format, Format::Table | Format::Line) {
                            anyhow::bail!("several hunts in {format:?}: give -o DIR to get one file per hunt");
                        }
                        let mut failed = 0;
                        let evidence = hunt::Evidence::default();
                        for h in &selected {
                            if selected.len() > 1 {
                                outln!("== {} ({}): {}", h.name, h.severity.as_str(), h.title);
                            }
                            if let Ok(Some(why)) = evidence.missing(&ctx, h).await {
                                errln!("trailflow: hunt {}: not run: {why} in the lake", h.name);
                                continue;
                            }
                            let result = async {
                                let df = hunt::dataframe(&ctx, h, &values, range).await?;
                                stream_dataframe(df, format, None, screen_for(asked, maxrows, maxwidth)).await
                            }
                            .await;
                            if let Err(e) = result {
                                errln!("trailflow: error: hunt {}: {}", h.name, one_line(e));
                                failed += 1;
                            }
                        }
                        anyhow::Ok(failed)
                    }
                }
            })?;
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FATAL) })
        }
    }
}
