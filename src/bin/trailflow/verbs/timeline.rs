//! `trailflow timeline`: everything one actor, key or address did, in time order.

use std::process::ExitCode;

use super::App;
use crate::cli::{OutputArgs, parse_time_arg};
use crate::runtime;
use crate::write::stream_dataframe;

#[derive(clap::Args)]
pub struct Args {
    /// A principal's ARN (a role's ARN also matches its sessions).
    #[arg(long, value_name = "ARN")]
    pub actor: Option<String>,
    /// An address: CloudTrail calls from it and flow records to or from it.
    #[arg(long, value_name = "ADDRESS")]
    pub ip: Option<String>,
    /// An access key id (AKIA..., ASIA...).
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,
    /// Only what happened at or after this time.
    #[arg(long, value_parser = parse_time_arg)]
    pub from: Option<i64>,
    /// Only what happened before this time.
    #[arg(long, value_parser = parse_time_arg)]
    pub to: Option<i64>,
    #[command(flatten)]
    pub out: OutputArgs,
}

pub fn run(app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { actor, ip, key, from, to, out } = args;
    let pivot = trailflow::timeline::Pivot::from_args(actor, ip, key)?;
    let format = out.format()?;
    let lake = app.open_lake()?;
    runtime()?.block_on(async {
        let ctx = trailflow::session::session(Some(&lake), &app.session_opts()).await?;
        // A name rather than an ARN: say which principals it stood for.
        if let trailflow::timeline::Pivot::Actor(a) = &pivot
            && !a.starts_with("arn:")
        {
            let arns = trailflow::timeline::actor_arns(&ctx, a).await?;
            if arns.is_empty() {
                errln!(
                    "trailflow: --actor {a:?} matched no principal (a user name, role name, access key id or ARN; \
                            `trailflow stats` lists the principals)"
                );
            } else {
                let list: Vec<String> = arns.iter().map(|(arn, n)| format!("{arn} ({n} events)")).collect();
                errln!("trailflow: --actor {a:?} matched {}", list.join(", "));
            }
        }
        let mut df = trailflow::timeline::timeline(&ctx, &pivot, from, to).await?;
        // On the screen, unless a format is asked for: time, source and what happened.
        if out.output.is_none() && out.format.is_none() {
            df = df.select_columns(&["datetime", "source", "message"])?;
        }
        stream_dataframe(df, format, out.output.as_deref(), out.screen()).await
    })?;
    Ok(ExitCode::SUCCESS)
}
