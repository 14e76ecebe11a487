//! `trailflow shell`: the interactive SQL prompt.

use std::process::ExitCode;

use super::App;
use crate::runtime;

pub fn run(app: &App) -> anyhow::Result<ExitCode> {
    let lake = app.open_lake()?;
    runtime()?.block_on(async {
        let ctx = trailflow::session::session(Some(&lake), &app.session_opts()).await?;
        crate::shell::shell(ctx).await
    })?;
    Ok(ExitCode::SUCCESS)
}
