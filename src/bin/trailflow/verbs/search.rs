//! `trailflow search`: full-text search over CloudTrail.

use std::process::ExitCode;

use trailflow::output::Sink;

use super::App;
use crate::cli::{OutputArgs, parse_time_arg};
use crate::write::open_output;

#[derive(clap::Args)]
pub struct Args {
    /// The query.
    pub query: String,
    /// Only events at or after this time (2024-05-01T12:00:00Z, 2024-05-01, or epoch seconds).
    #[arg(long, value_parser = parse_time_arg)]
    pub from: Option<i64>,
    /// Only events before this time.
    #[arg(long, value_parser = parse_time_arg)]
    pub to: Option<i64>,
    /// At most this many events (the oldest).
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { query, from, to, limit, out } = args;
    let format = out.format()?;
    let lake = app.open_lake()?;
    let req = trailflow::search::SearchRequest { query, from, to, limit };
    let mut sink = Sink::new(format, trailflow::search::result_schema(), open_output(out.output.as_deref())?)?;
    if out.output.is_none() {
        sink = sink.on_screen(out.screen());
    }
    let ip = req.query.trim().parse::<std::net::IpAddr>().ok();
    trailflow::search::search_each(&lake, &req, &mut |batch| sink.write(&batch))?;
    sink.finish()?;
    if let Some(ip) = ip {
        errln!("note: search covers CloudTrail only; `trailflow timeline --ip {ip}` adds this address's flow records");
    }
    Ok(ExitCode::SUCCESS)
}
