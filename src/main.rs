//! The `trailflow` command line: parses arguments, calls the library, prints.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use futures::StreamExt;
use trailflow::ingest::{IngestOptions, ingest};
use trailflow::lake::Lake;
use trailflow::output::{Format, Sink};

mod shell;

// mimalloc: hash aggregation and Parquet decoding allocate and free many short-lived buffers; the
// system allocator spends a large share of query time in page faults for them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status when some input was rejected (the rest was loaded).
const EXIT_REJECTED: u8 = 3;
/// Exit status for a fatal error (nothing was changed).
const EXIT_FATAL: u8 = 1;

#[derive(Parser)]
#[command(
    name = "trailflow",
    version,
    about = "Offline forensic indexer and query engine for AWS CloudTrail and VPC Flow Logs"
)]
struct Cli {
    /// The lake folder.
    #[arg(long, global = true, env = "TRAILFLOW_LAKE", default_value = "trailflow-lake")]
    lake: PathBuf,
    /// No progress bars.
    #[arg(long, short, global = true)]
    quiet: bool,
    #[command(subcommand)]
    cmd: Cmd,
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
        /// When the inventory (describe-* JSON) was taken, e.g. 2024-05-01T12:00:00Z; inferred when absent.
        #[arg(long, value_name = "TIME")]
        inventory_time: Option<String>,
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
        /// Output format (default: from the -o file's extension, else table).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write to a file instead of stdout (.csv, .json, .ndjson, .parquet pick the format).
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
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
        /// Output format (default: from the -o file's extension, else table).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write to a file instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
    },
    /// Every Network ACL change with its verdict and the evidence: the traffic it newly let in.
    ///
    /// Verdicts: unusual_traffic_after_change, risky_change_no_unusual_traffic,
    /// change_no_unusual_traffic, failed_change. The logic is queries/correlate.sql.
    Correlate {
        /// How long after each change to look at flows.
        #[arg(long, default_value = "24h", value_parser = trailflow::correlate::parse_duration)]
        window: i64,
        /// How long before each change the baseline reaches.
        #[arg(long, default_value = "24h", value_parser = trailflow::correlate::parse_duration)]
        baseline: i64,
        /// Trusted networks for the risk assessment (comma-separated CIDRs); default RFC 1918 and the VPC ranges.
        #[arg(long, value_delimiter = ',', value_parser = parse_cidr)]
        trusted: Option<Vec<ipnet::IpNet>>,
        /// Output format (default: from the -o file's extension, else table).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Write to a file instead of stdout.
        #[arg(short = 'o', long = "output")]
        output: Option<PathBuf>,
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

fn parse_time_arg(s: &str) -> Result<i64, String> {
    if let Some(t) = trailflow::decode::cloudtrail::parse_time(s) {
        return Ok(t);
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros());
    }
    if let Ok(secs) = s.parse::<i64>() {
        return Ok(secs * 1_000_000);
    }
    Err(format!("cannot read {s:?} as a time: use e.g. 2024-05-01T12:00:00Z"))
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
) -> anyhow::Result<()> {
    let df = ctx.sql_with_options(sql, trailflow::query::read_only()).await?;
    let schema = df.schema().inner().clone();
    let mut stream = df.execute_stream().await?;
    let mut sink = Sink::new(format, schema, open_output(output)?)?;
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
        None => Box::new(std::io::BufWriter::new(std::io::stdout())),
    })
}

/// An error as one line (DataFusion's can span several).
pub(crate) fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

fn main() -> ExitCode {
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
            eprintln!("trailflow: error: {}", one_line(e));
            ExitCode::from(EXIT_FATAL)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread().enable_all().build()?)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.cmd {
        Cmd::Ingest { inputs, inventory_time, threads, json, no_index } => {
            let mut opts = IngestOptions::new(&cli.lake, inputs);
            opts.inventory_time =
                inventory_time.as_deref().map(parse_time_arg).transpose().map_err(anyhow::Error::msg)?;
            opts.progress = !cli.quiet;
            opts.threads = threads;
            opts.index = !no_index;
            let summary = ingest(&opts)?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&summary)?)?;
            } else {
                write!(out, "{}", summary.render())?;
            }
            Ok(if summary.had_errors() { ExitCode::from(EXIT_REJECTED) } else { ExitCode::SUCCESS })
        }
        Cmd::Sql { query, file, format, output } => {
            let sql = match (query, file) {
                (Some(q), _) => q,
                (None, Some(f)) => {
                    std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?
                }
                (None, None) => unreachable!("clap requires one"),
            };
            let format = format.or_else(|| output.as_deref().and_then(Format::from_path)).unwrap_or(Format::Table);
            let lake = Lake::open(&cli.lake)?;
            lake.recover_if_idle()?;
            runtime()?.block_on(async {
                let ctx = trailflow::query::session(&lake).await?;
                stream_query(&ctx, &sql, format, output.as_deref()).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Search { query, from, to, limit, format, output } => {
            let format = format.or_else(|| output.as_deref().and_then(Format::from_path)).unwrap_or(Format::Table);
            let lake = Lake::open(&cli.lake)?;
            lake.recover_if_idle()?;
            let req = trailflow::search::SearchRequest { query, from, to, limit };
            let batch = trailflow::search::search(&lake, &req)?;
            let mut sink = Sink::new(format, batch.schema(), open_output(output.as_deref())?)?;
            sink.write(&batch)?;
            sink.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Correlate { window, baseline, trusted, format, output } => {
            let format = format.or_else(|| output.as_deref().and_then(Format::from_path)).unwrap_or(Format::Table);
            let lake = Lake::open(&cli.lake)?;
            lake.recover_if_idle()?;
            runtime()?.block_on(async {
                let ctx = trailflow::query::session_with(&lake, trusted).await?;
                stream_query(&ctx, &trailflow::correlate::correlate_sql(window, baseline), format, output.as_deref())
                    .await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Shell => {
            let lake = Lake::open(&cli.lake)?;
            lake.recover_if_idle()?;
            runtime()?.block_on(async {
                let ctx = trailflow::query::session(&lake).await?;
                shell::shell(ctx).await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Stats { json } => {
            let lake = Lake::open(&cli.lake)?;
            lake.recover_if_idle()?;
            let stats = runtime()?.block_on(trailflow::stats::stats(&lake))?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&stats)?)?;
            } else {
                write!(out, "{}", stats.render())?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
