//! `trailflow completions`: shell completion scripts.

use std::process::ExitCode;

use trailflow::output::Stdout;

use super::App;

#[derive(clap::Args)]
pub struct Args {
    /// The shell.
    pub shell: clap_complete::Shell,
}

pub fn run(_app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { shell } = args;
    let mut cmd = <crate::cli::Cli as clap::CommandFactory>::command();
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut cmd, "trailflow", &mut out);
    std::io::Write::write_all(&mut Stdout, &out)?;
    Ok(ExitCode::SUCCESS)
}
