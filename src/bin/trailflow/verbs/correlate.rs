//! `trailflow correlate`: every Network ACL and security-group change with its verdict and the traffic it let in.

use std::process::ExitCode;

use super::App;
use crate::cli::{OutputArgs, SpanArgs, parse_cidr};
use crate::runtime;
use crate::write::stream_dataframe;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub span: SpanArgs,
    /// Trusted networks for the risk assessment (comma-separated CIDRs); default RFC 1918 and the VPC ranges.
    #[arg(long, value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted: Option<Vec<ipnet::IpNet>>,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { span, trusted, out } = args;
    let format = out.format()?;
    let lake = app.open_lake()?;
    runtime()?.block_on(async {
        let opts = trailflow::session::SessionOptions {
            trusted,
            window_us: span.window,
            baseline_us: span.baseline,
            ..app.session_opts()
        };
        let ctx = trailflow::session::session(Some(&lake), &opts).await?;
        let df = trailflow::session::firewall_correlation(&ctx, &opts).await?;
        stream_dataframe(df, format, out.output.as_deref(), out.screen()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
