//! `trailflow compact`: merge small files into files of a useful size.

use std::process::ExitCode;

use super::App;
use crate::cli::SummaryArgs;

/// Its only option: `--json`.
pub fn run(app: &App, print: SummaryArgs) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let pb = if app.quiet || !std::io::stderr().is_terminal() {
        indicatif::ProgressBar::hidden()
    } else {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    };
    let summary = trailflow::ingest::compact::compact(&app.lake_dir, &|what| pb.set_message(what.to_string()))?;
    pb.set_message("derive: Network ACL changes, interfaces, associations, rules");
    trailflow::correlate::stored::store(&app.lake_dir)?;
    pb.finish_and_clear();
    print.print(&summary, |s| s.render())?;
    Ok(ExitCode::SUCCESS)
}
