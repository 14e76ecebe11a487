//! `trailflow stats`: what the lake holds.

use std::process::ExitCode;

use super::App;
use crate::cli::SummaryArgs;
use crate::runtime;

/// Its only option: `--json`.
pub fn run(app: &App, print: SummaryArgs) -> anyhow::Result<ExitCode> {
    let lake = app.open_lake()?;
    let stats = runtime()?.block_on(trailflow::stats::stats(&lake))?;
    print.print(&stats, |s| s.render())?;
    Ok(ExitCode::SUCCESS)
}
