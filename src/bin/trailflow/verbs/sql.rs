//! `trailflow sql`: a read-only SQL query over the lake.

use std::path::PathBuf;
use std::process::ExitCode;

use super::App;
use crate::cli::OutputArgs;
use crate::runtime;
use crate::write::stream_query;

#[derive(clap::Args)]
pub struct Args {
    /// The query (or use -f).
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub query: Option<String>,
    /// Read the query from a file.
    #[arg(short = 'f', long = "file", value_name = "FILE.sql")]
    pub file: Option<PathBuf>,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { query, file, out } = args;
    let sql = match (query, file) {
        (Some(q), _) => q,
        (None, Some(f)) => {
            std::fs::read_to_string(&f).map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?
        }
        (None, None) => unreachable!("clap requires one"),
    };
    let format = out.format()?;
    let lake = app.open_lake()?;
    runtime()?.block_on(async {
        let ctx = trailflow::session::session(Some(&lake), &app.session_opts()).await?;
        stream_query(&ctx, &sql, format, out.output.as_deref(), out.screen()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
