//! `trailflow ingest`: load evidence into the lake, then store the derived tables for it.

use std::process::ExitCode;

use trailflow::ingest::{IngestOptions, ingest};

use super::App;
use crate::EXIT_REJECTED;
use crate::cli::{InputArgs, SummaryArgs, parse_inventory_time};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub input: InputArgs,
    /// Decoder threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    #[command(flatten)]
    pub summary: SummaryArgs,
    /// Do not build the search index now (the next `search` builds it from the Parquet files).
    #[arg(long)]
    pub no_index: bool,
}

pub fn run(app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { input: InputArgs { inputs, evidence }, threads, summary: print, no_index } = args;
    let mut opts = IngestOptions::new(&app.lake_dir, inputs);
    opts.inventory_time = evidence.inventory_time.as_deref().map(parse_inventory_time).transpose()?;
    opts.flow_format = evidence.flow_format;
    opts.progress = !app.quiet;
    opts.threads = threads;
    opts.index = !no_index;
    opts.limits = trailflow::limits::Limits::from_env()?;
    // Address-context files given are checked before anything is read, recorded after.
    app.context.check()?;
    let summary = ingest(&opts)?;
    // The derived tables, stored for the lake as it now is (docs/lake.md, "Derived tables").
    trailflow::correlate::stored::store(&app.lake_dir)?;
    trailflow::lake::Lake::new(&app.lake_dir).record_context(&app.context)?;
    print.print(&summary, |s| s.render())?;
    Ok(if summary.had_errors() { ExitCode::from(EXIT_REJECTED) } else { ExitCode::SUCCESS })
}
