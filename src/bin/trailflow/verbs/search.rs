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
    // Each result with whose its caller's address is (`source_context`).
    let context = trailflow::enrich::LazyContext::new(lake.context_files()?);
    let schema = trailflow::search::result_schema();
    let mut fields: Vec<_> = schema.fields().iter().cloned().collect();
    fields.push(std::sync::Arc::new(datafusion::arrow::datatypes::Field::new(
        "source_context",
        datafusion::arrow::datatypes::DataType::Utf8,
        true,
    )));
    let schema = std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
    let mut sink = Sink::new(format, schema.clone(), open_output(out.output.as_deref())?)?;
    if out.output.is_none() {
        sink = sink.on_screen(out.screen());
    }
    let ip = req.query.trim().parse::<std::net::IpAddr>().ok();
    let ctx = context.get()?;
    trailflow::search::search_each(&lake, &req, &mut |batch| {
        use datafusion::arrow::array::{Array, AsArray, StringArray};
        let labels: StringArray = match batch.column_by_name("source_ip").and_then(|c| c.as_string_opt::<i32>()) {
            Some(ips) => (0..ips.len())
                .map(|i| ips.is_valid(i).then(|| ctx.facts(ips.value(i)).and_then(|f| f.label())).flatten())
                .collect(),
            None => (0..batch.num_rows()).map(|_| None::<String>).collect(),
        };
        let mut columns = batch.columns().to_vec();
        columns.push(std::sync::Arc::new(labels));
        sink.write(&datafusion::arrow::array::RecordBatch::try_new(schema.clone(), columns)?)
    })?;
    sink.finish()?;
    if let Some(ip) = ip {
        errln!("note: search covers CloudTrail only; `trailflow timeline --ip {ip}` adds this address's flow records");
    }
    Ok(ExitCode::SUCCESS)
}
