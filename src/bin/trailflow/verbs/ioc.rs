//! `trailflow ioc`: sweep indicator files (plain lists, CSV, STIX 2.1, MISP) over the lake.

use std::path::PathBuf;
use std::process::ExitCode;

use super::App;
use crate::cli::OutputArgs;
use crate::runtime;

#[derive(clap::Args)]
pub struct Args {
    /// Indicator files: plain lists (one a line, # comments), CSV with a type and a value column,
    /// STIX 2.1 bundles, MISP JSON events. Addresses and CIDRs, access key ids, ARNs, account ids,
    /// user agents (a part of one), event names.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Write ioc_summary.csv, ioc_cloudtrail.csv and ioc_flows.csv (every matching record with the
    /// indicator it holds) and ioc_problems.csv into this folder.
    #[arg(long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// List every indicator on the screen, those without hits too.
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { files, dir, all, out } = args;
    let format = out.format()?;
    let indicators = trailflow::ioc::read(&files);
    for p in &indicators.problems {
        errln!("trailflow: ioc: {p}");
    }
    if indicators.list.is_empty() {
        return Err(trailflow::error::Error::Usage(format!(
            "no indicator read from {} (see the lines above)",
            files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ")
        ))
        .into());
    }
    let lake = app.open_lake()?;
    let summary = runtime()?.block_on(async {
        // In this process: the sweep's index is a function of this process, which a cluster's
        // executors do not have.
        let opts =
            trailflow::session::SessionOptions { engine: trailflow::session::Engine::Local, ..app.session_opts() };
        let ctx = trailflow::session::session(Some(&lake), &opts).await?;
        trailflow::ioc::run(&ctx, &indicators, dir.as_deref()).await
    })?;
    let with_hits = {
        use datafusion::arrow::array::AsArray;
        let hits = summary
            .column_by_name("hits")
            .map(|c| c.as_primitive::<datafusion::arrow::datatypes::UInt64Type>().clone());
        hits.map_or(0, |h| h.values().iter().filter(|&&n| n > 0).count())
    };
    let shown = if all || out.output.is_some() { summary.clone() } else { summary.slice(0, with_hits) };
    {
        let mut sink =
            trailflow::output::Sink::new(format, shown.schema(), crate::write::open_output(out.output.as_deref())?)?;
        if out.output.is_none() {
            sink = sink.on_screen(out.screen());
        }
        sink.write(&shown)?;
        sink.finish()?;
    }
    errln!(
        "trailflow: ioc: {} of {} indicators found{}{}",
        with_hits,
        indicators.list.len(),
        if indicators.problems.is_empty() {
            String::new()
        } else {
            format!("; {} not read", indicators.problems.len())
        },
        dir.as_ref().map(|d| format!("; records in {}", d.display())).unwrap_or_default()
    );
    Ok(if indicators.problems.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(crate::EXIT_REJECTED) })
}
