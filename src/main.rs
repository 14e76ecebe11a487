//! The `trailflow` command line: parses arguments, calls the library, prints.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use futures::StreamExt;
use trailflow::ingest::{IngestOptions, ingest};
use trailflow::lake::Lake;
use trailflow::output::{Format, Sink, one_line};

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
    /// Saved hunts: list them, check them, run them.
    Hunt {
        #[command(subcommand)]
        cmd: HuntCmd,
    },
    /// The whole job in one step: ingest, correlate, run every hunt, write the report folder.
    ///
    /// The report folder holds summary.md and report.html (read these first), correlation.csv,
    /// one CSV per hunt under hunts/, and a timeline per flagged change. Exit status 0 when all
    /// went through, 3 when some input was rejected or a hunt failed (the rest is in the report).
    Investigate {
        /// Files, folders and archives of evidence.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        /// When the inventory (describe-* JSON) was taken; inferred when absent.
        #[arg(long, value_name = "TIME")]
        inventory_time: Option<String>,
        /// The report folder.
        #[arg(short = 'o', long = "output", default_value = "trailflow-report")]
        output: PathBuf,
        /// How long after each change to look at flows.
        #[arg(long, default_value = "24h", value_parser = trailflow::correlate::parse_duration)]
        window: i64,
        /// How long before each change the baseline reaches.
        #[arg(long, default_value = "24h", value_parser = trailflow::correlate::parse_duration)]
        baseline: i64,
        /// More hunts (a folder of .sql files; a file named like a built-in hunt replaces it).
        #[arg(long, value_name = "DIR")]
        queries: Option<PathBuf>,
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

#[derive(Subcommand)]
enum HuntCmd {
    /// The hunts: name, severity, title, ATT&CK techniques, parameters.
    List {
        /// More hunts (a folder of .sql files).
        #[arg(long, value_name = "DIR")]
        queries: Option<PathBuf>,
        /// Also print each hunt's description and parameters.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Plan every hunt without running it; exit 1 if any is broken.
    Lint {
        /// More hunts (a folder of .sql files).
        #[arg(long, value_name = "DIR")]
        queries: Option<PathBuf>,
    },
    /// Run hunts by name (or --all) and print or write their results.
    Run {
        /// Hunt names (see `hunt list`).
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        names: Vec<String>,
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
        /// More hunts (a folder of .sql files).
        #[arg(long, value_name = "DIR")]
        queries: Option<PathBuf>,
    },
}

fn parse_param(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        _ => Err(format!("{s:?}: give a parameter as NAME=VALUE")),
    }
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
    stream_dataframe(df, format, output).await
}

/// Run a DataFrame and write its result batch by batch.
async fn stream_dataframe(
    df: datafusion::prelude::DataFrame,
    format: Format,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
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
            let mut sink = Sink::new(format, trailflow::search::result_schema(), open_output(output.as_deref())?)?;
            trailflow::search::search_each(&lake, &req, &mut |batch| sink.write(&batch))?;
            sink.finish()?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Correlate { window, baseline, trusted, format, output } => {
            let format = format.or_else(|| output.as_deref().and_then(Format::from_path)).unwrap_or(Format::Table);
            let lake = Lake::open(&cli.lake)?;
            lake.recover_if_idle()?;
            runtime()?.block_on(async {
                let ctx = trailflow::query::session_with(&lake, trusted).await?;
                trailflow::correlate::tune_session(&ctx);
                stream_query(&ctx, &trailflow::correlate::correlate_sql(window, baseline), format, output.as_deref())
                    .await
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Hunt { cmd } => hunt_cmd(&cli.lake, cmd),
        Cmd::Investigate { inputs, inventory_time, output, window, baseline, queries } => {
            let inventory_time =
                inventory_time.as_deref().map(parse_time_arg).transpose().map_err(anyhow::Error::msg)?;
            let opts = trailflow::report::InvestigateOptions {
                lake: cli.lake.clone(),
                inputs,
                inventory_time,
                output,
                window_us: window,
                baseline_us: baseline,
                queries,
                progress: !cli.quiet,
            };
            let outcome = trailflow::report::investigate(&opts)?;
            print!("{}", outcome.summary_text);
            Ok(if outcome.complete { ExitCode::SUCCESS } else { ExitCode::from(EXIT_REJECTED) })
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

/// `trailflow hunt ...`.
fn hunt_cmd(lake_dir: &std::path::Path, cmd: HuntCmd) -> anyhow::Result<ExitCode> {
    use trailflow::hunt;
    match cmd {
        HuntCmd::List { queries, verbose } => {
            let (hunts, problems) = hunt::catalog(queries.as_deref())?;
            let mut out = std::io::stdout().lock();
            write!(out, "{}", hunt::render_list(&hunts, verbose))?;
            for p in &problems {
                eprintln!("trailflow: warning: {p}");
            }
            Ok(ExitCode::SUCCESS)
        }
        HuntCmd::Lint { queries } => {
            let (hunts, mut problems) = hunt::catalog(queries.as_deref())?;
            let lake = Lake::open(lake_dir).ok();
            runtime()?.block_on(async {
                let ctx = hunt::session(lake.as_ref()).await?;
                problems.extend(hunt::lint(&ctx, &hunts).await);
                anyhow::Ok(())
            })?;
            for p in &problems {
                eprintln!("{p}");
            }
            if problems.is_empty() {
                println!("{} hunts plan cleanly", hunts.len());
                Ok(ExitCode::SUCCESS)
            } else {
                eprintln!("trailflow: {} problem{} in the hunts", problems.len(), if problems.len() == 1 { "" } else { "s" });
                Ok(ExitCode::from(EXIT_FATAL))
            }
        }
        HuntCmd::Run { names, all, params, from, to, output, format, queries } => {
            let (hunts, problems) = hunt::catalog(queries.as_deref())?;
            for p in &problems {
                eprintln!("trailflow: warning: {p}");
            }
            let selected: Vec<&hunt::Hunt> = if all { hunts.iter().collect() } else { hunt::select(&hunts, &names)? };
            let values = hunt::check_params(&selected, &params)?;
            let range = hunt::TimeRange { from, to };
            let lake = Lake::open(lake_dir)?;
            lake.recover_if_idle()?;
            let failed = runtime()?.block_on(async {
                let ctx = hunt::session(Some(&lake)).await?;
                match &output {
                    Some(dir) => {
                        let format = format.unwrap_or(Format::Csv);
                        let results = hunt::run_to_dir(&ctx, &selected, &values, range, dir, format).await?;
                        print!("{}", hunt::render_summary(&results));
                        anyhow::Ok(results.iter().filter(|r| r.error.is_some()).count())
                    }
                    None => {
                        let format = format.unwrap_or(Format::Table);
                        if selected.len() > 1 && format != Format::Table {
                            anyhow::bail!("several hunts in {format:?}: give -o DIR to get one file per hunt");
                        }
                        let mut failed = 0;
                        for h in &selected {
                            if selected.len() > 1 {
                                println!("== {} ({}): {}", h.name, h.severity.as_str(), h.title);
                            }
                            let result = async {
                                let df = hunt::dataframe(&ctx, h, &values, range).await?;
                                stream_dataframe(df, format, None).await
                            }
                            .await;
                            if let Err(e) = result {
                                eprintln!("trailflow: error: hunt {}: {}", h.name, one_line(e));
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
