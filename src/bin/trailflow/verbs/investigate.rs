//! `trailflow investigate`: the whole job: ingest, correlate, hunt, and the report folder.

use std::path::PathBuf;
use std::process::ExitCode;

use super::App;
use crate::EXIT_REJECTED;
use crate::cli::{InputArgs, QueriesArg, SpanArgs, case_name, parse_inventory_time};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// The case's name: the report folder is NAME unless -o says otherwise, and evidence
    /// given in later runs under the same name is added to the same case.
    #[arg(long, value_name = "NAME", value_parser = case_name)]
    pub case: Option<String>,
    /// The report folder (default: the case's name, else trailflow-report).
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Replace the report folder (and the case lake in it) when it holds another case.
    #[arg(long)]
    pub replace: bool,
    #[command(flatten)]
    pub span: SpanArgs,
    #[command(flatten)]
    pub queries: QueriesArg,
    /// Also run the AWS CloudTrail Sigma rules in DIR (a rule file or a folder, searched
    /// recursively): results in sigma/ and in the report.
    #[arg(long, value_name = "DIR")]
    pub sigma: Option<PathBuf>,
    /// Also sweep the indicators of FILE (plain list, CSV, STIX 2.1, MISP; repeat for several):
    /// the records that hold them in ioc/ and a section of the report.
    #[arg(long, value_name = "FILE")]
    pub ioc: Vec<PathBuf>,
}

pub fn run(app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { input: InputArgs { inputs, evidence }, case, output, replace, span, queries, sigma, ioc } = args;
    let inventory_time = evidence.inventory_time.as_deref().map(parse_inventory_time).transpose()?;
    let output =
        output.or_else(|| case.as_ref().map(PathBuf::from)).unwrap_or_else(|| PathBuf::from("trailflow-report"));
    let opts = trailflow::report::InvestigateOptions {
        lake: app.lake.clone(),
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
        engine: app.engine.clone(),
        progress: !app.quiet,
        context: app.context.clone(),
        ioc,
    };
    let outcome = trailflow::report::investigate(&opts)?;
    out!("{}", outcome.summary_text);
    Ok(if outcome.complete { ExitCode::SUCCESS } else { ExitCode::from(EXIT_REJECTED) })
}
