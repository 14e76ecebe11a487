//! `trailflow hunt`: saved hunts and Sigma rules: list, show, lint, run.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use trailflow::error::EXIT_FATAL;
use trailflow::lake::Lake;
use trailflow::output::{Format, one_line};

use super::App;
use crate::cli::{QueriesArg, parse_param, parse_time_arg, screen_for};
use crate::runtime;
use crate::write::stream_dataframe;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: HuntCmd,
}

#[derive(Subcommand)]
pub enum HuntCmd {
    /// The hunts: name, severity, title, ATT&CK techniques, parameters.
    List {
        #[command(flatten)]
        queries: QueriesArg,
        /// Also print each hunt's description and parameters.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Print a hunt: its header (severity, ATT&CK, parameters, description) and its SQL.
    Show {
        /// The hunt's name (see `hunt list`).
        name: String,
        #[command(flatten)]
        queries: QueriesArg,
    },
    /// Plan every hunt without running it; exit 1 if any is broken.
    Lint {
        #[command(flatten)]
        queries: QueriesArg,
    },
    /// Run hunts by name (or --all), or Sigma rules (--sigma DIR), and print or write their results.
    Run {
        /// Hunt names (see `hunt list`).
        #[arg(required_unless_present_any = ["all", "sigma"], conflicts_with = "all")]
        names: Vec<String>,
        /// Run the Sigma rules for AWS CloudTrail in this folder (a checkout of SigmaHQ's
        /// rules/cloud/aws/cloudtrail, or your own); rules that cannot be compiled are listed with
        /// the reason.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["all", "names"])]
        sigma: Option<PathBuf>,
        /// Run every hunt.
        #[arg(long)]
        all: bool,
        /// A parameter value, NAME=VALUE (repeatable); bound as a query parameter.
        #[arg(long = "param", value_name = "NAME=VALUE", value_parser = parse_param)]
        params: Vec<(String, String)>,
        /// Only hits at or after this time (on the hunt's time column).
        #[arg(long, value_parser = parse_time_arg)]
        from: Option<i64>,
        /// Only hits before this time.
        #[arg(long, value_parser = parse_time_arg)]
        to: Option<i64>,
        /// Write one file per hunt and summary.csv into this folder.
        #[arg(short = 'o', long = "output", value_name = "DIR")]
        output: Option<PathBuf>,
        /// Output format (default: table on screen, csv in a folder).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// Rows a table shows on the screen (default 40 on a terminal; 0: all).
        #[arg(long, value_name = "N")]
        maxrows: Option<usize>,
        /// Longest value a table shows on the screen, cut with … (default 80 on a terminal; 0: whole).
        #[arg(long, value_name = "N")]
        maxwidth: Option<usize>,
        #[command(flatten)]
        queries: QueriesArg,
    },
}

pub fn run(app: &App, Args { cmd }: Args) -> anyhow::Result<ExitCode> {
    use trailflow::hunt;
    match cmd {
        HuntCmd::List { queries, verbose } => {
            let (hunts, problems) = hunt::catalog(queries.dir.as_deref())?;
            out!("{}", hunt::render_list(&hunts, verbose));
            for p in &problems {
                errln!("trailflow: warning: {p}");
            }
            Ok(ExitCode::SUCCESS)
        }
        HuntCmd::Show { name, queries } => {
            let (hunts, _) = hunt::catalog(queries.dir.as_deref())?;
            let h = hunt::select(&hunts, std::slice::from_ref(&name))?;
            out!("{}", hunt::render_show(h[0]));
            Ok(ExitCode::SUCCESS)
        }
        HuntCmd::Lint { queries } => {
            let (hunts, mut problems) = hunt::catalog(queries.dir.as_deref())?;
            let lake = Lake::open(&app.lake_dir).ok();
            runtime()?.block_on(async {
                let ctx = trailflow::session::session(lake.as_ref(), &app.session_opts()).await?;
                problems.extend(hunt::lint(&ctx, &hunts).await);
                anyhow::Ok(())
            })?;
            for p in &problems {
                errln!("{p}");
            }
            if problems.is_empty() {
                outln!("{} hunts plan cleanly", hunts.len());
                Ok(ExitCode::SUCCESS)
            } else {
                errln!(
                    "trailflow: {} problem{} in the hunts",
                    problems.len(),
                    if problems.len() == 1 { "" } else { "s" }
                );
                Ok(ExitCode::from(EXIT_FATAL))
            }
        }
        HuntCmd::Run { sigma: Some(dir), output, .. } => sigma_run(app, &dir, output.as_deref()),
        HuntCmd::Run { names, all, params, from, to, output, format, maxrows, maxwidth, queries, .. } => {
            let (hunts, problems) = hunt::catalog(queries.dir.as_deref())?;
            for p in &problems {
                errln!("trailflow: warning: {p}");
            }
            let selected: Vec<&hunt::Hunt> = if all { hunts.iter().collect() } else { hunt::select(&hunts, &names)? };
            let values = hunt::check_params(&selected, &params)?;
            let range = hunt::TimeRange { from, to };
            let lake = app.open_lake()?;
            let failed = runtime()?.block_on(async {
                let ctx = trailflow::session::session(Some(&lake), &app.session_opts()).await?;
                match &output {
                    Some(dir) => {
                        let format = format.unwrap_or(Format::Csv);
                        let results = hunt::run_to_dir(&ctx, &selected, &values, range, dir, format).await?;
                        out!("{}", hunt::render_summary(&results));
                        anyhow::Ok(results.iter().filter(|r| r.error.is_some()).count())
                    }
                    None => {
                        let asked = format;
                        let format = format.unwrap_or(Format::Table);
                        if selected.len() > 1 && !matches!(format, Format::Table | Format::Line) {
                            let why = format!("several hunts in {format:?}: give -o DIR to get one file per hunt");
                            return Err(trailflow::error::Error::Usage(why).into());
                        }
                        let mut failed = 0;
                        let evidence = hunt::Evidence::default();
                        for h in &selected {
                            if selected.len() > 1 {
                                outln!("== {} ({}): {}", h.name, h.severity.as_str(), h.title);
                            }
                            if let Ok(Some(why)) = evidence.missing(&ctx, h).await {
                                errln!("trailflow: hunt {}: not run: {why} in the lake", h.name);
                                continue;
                            }
                            let result = async {
                                let df = hunt::dataframe(&ctx, h, &values, range).await?;
                                stream_dataframe(df, format, None, screen_for(asked, maxrows, maxwidth)).await
                            }
                            .await;
                            if let Err(e) = result {
                                errln!("trailflow: error: hunt {}: {}", h.name, one_line(e));
                                failed += 1;
                            }
                        }
                        anyhow::Ok(failed)
                    }
                }
            })?;
            Ok(if failed == 0 { ExitCode::SUCCESS } else { ExitCode::from(EXIT_FATAL) })
        }
    }
}

/// `trailflow hunt run --sigma DIR`: compile the rules, run each, say what each matched.
fn sigma_run(app: &App, dir: &std::path::Path, output: Option<&std::path::Path>) -> anyhow::Result<ExitCode> {
    let loaded = trailflow::hunt::sigma::load_dir(dir)?;
    for (f, why) in &loaded.skipped {
        errln!("trailflow: sigma: {}: not run: {why}", f.display());
    }
    let lake = app.open_lake()?;
    let results = runtime()?.block_on(async {
        let ctx = trailflow::session::session(Some(&lake), &app.session_opts()).await?;
        trailflow::hunt::sigma::run(&ctx, &loaded, output).await
    })?;
    let mut table = comfy_table::Table::new();
    table.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
    table.set_header(vec!["level", "rule", "hits", "title", "id"]);
    let ids: std::collections::HashMap<String, (&str, &str)> =
        loaded.rules.iter().map(|r| (r.stem(), (r.id.as_str(), r.level.as_str()))).collect();
    for r in trailflow::hunt::most_severe_first(&results) {
        let (id, level) = ids.get(&r.name).copied().unwrap_or_default();
        let hits = match (&r.error, &r.not_run) {
            (Some(e), _) => {
                errln!("trailflow: sigma: {}: {e}", r.name);
                "FAILED".to_string()
            }
            (None, Some(why)) => format!("not run: {why}"),
            (None, None) => r.hits.to_string(),
        };
        table.add_row(vec![level.to_string(), r.name.clone(), hits, r.title.clone(), id.to_string()]);
    }
    outln!("{table}");
    outln!(
        "{} Sigma rules run, {} not run{}",
        results.len(),
        loaded.skipped.len(),
        if loaded.skipped.is_empty() { "" } else { " (see the lines above)" }
    );
    if let Some(o) = output {
        outln!("Results: {} (sigma_summary.csv and one CSV per rule)", o.display());
    }
    // A rule that failed to run (its SQL did not plan or run) leaves a question unanswered: the
    // others still ran, and the exit status says one did not, as for hunts.
    let failed = results.iter().filter(|r| r.error.is_some()).count();
    if failed > 0 {
        errln!("trailflow: sigma: {failed} rule{} failed to run (named above)", if failed == 1 { "" } else { "s" });
        return Ok(ExitCode::from(EXIT_FATAL));
    }
    Ok(ExitCode::SUCCESS)
}
