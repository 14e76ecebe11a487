//! `trailflow shell`: an interactive SQL prompt over the lake.

use std::io::Write;

use datafusion::prelude::SessionContext;
use futures::StreamExt;
use rustyline::DefaultEditor;
use rustyline::error::ReadlineError;
use trailflow::output::{Format, Sink, Stdout};

/// A line on standard error; a closed stderr is ignored.
macro_rules! errln {
    ($($arg:tt)*) => {{
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

const HELP: &str = "\
Statements end with ';' and may span lines. Commands:
  \\d  or .tables          list tables
  \\d T or .schema T       columns of table T
  \\format FORMAT          table, line, csv, json, ndjson (now: {format})
  \\maxwidth N             longest value a table shows, cut with … (0: whole; default 80)
  \\q  or .quit            leave (Ctrl-D too)
  \\?  or .help            this help";

fn history_path() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".trailflow_history"))
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Run one statement and print its result; errors are printed, never fatal.
pub async fn run_sql(ctx: &SessionContext, sql: &str, format: Format, maxwidth: Option<usize>) {
    let result: anyhow::Result<()> = async {
        let df = trailflow::query::user_sql(ctx, sql).await?;
        let schema = df.schema().inner().clone();
        let mut stream = df.execute_stream().await?;
        let mut sink = Sink::new(format, schema, Box::new(std::io::BufWriter::new(Stdout)))?
            .on_screen(trailflow::output::Screen::of_stdout_cut(None, maxwidth));
        while let Some(b) = stream.next().await {
            sink.write(&b?)?;
        }
        sink.finish()?;
        Ok(())
    }
    .await;
    if let Err(e) = result {
        errln!("error: {}", crate::one_line(e));
    }
}

pub async fn shell(ctx: SessionContext) -> anyhow::Result<()> {
    let mut rl = DefaultEditor::new()?;
    let history = history_path();
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let mut format = Format::Table;
    // Longest value a table shows (`\maxwidth N`; 0: whole; unset: 80 on a terminal).
    let mut maxwidth: Option<usize> = None;
    let mut buf = String::new();
    let _ = writeln!(Stdout, "trailflow shell: SQL over the lake. \\? for help, \\q to leave.");
    loop {
        let prompt = if buf.is_empty() { "trailflow> " } else { "        -> " };
        let line = match rl.readline(prompt) {
            Ok(l) => l,
            Err(ReadlineError::Interrupted) => {
                buf.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if buf.is_empty() {
            let mut words = trimmed.trim_end_matches(';').split_whitespace();
            let cmd = words.next().unwrap_or("");
            let arg = words.next();
            let handled = match cmd {
                "" => true,
                "\\q" | ".quit" | ".exit" | "quit" | "exit" => break,
                "\\?" | ".help" | "help" => {
                    let _ = writeln!(Stdout, "{}", HELP.replace("{format}", &format!("{format:?}").to_lowercase()));
                    true
                }
                "\\d" | ".tables" | ".schema" if arg.is_none() => {
                    run_sql(
                        &ctx,
                        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
                        format,
                        maxwidth,
                    )
                    .await;
                    true
                }
                "\\d" | ".schema" => {
                    let t = arg.unwrap_or_default();
                    run_sql(
                        &ctx,
                        &format!(
                            "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE \
                            table_name = {} ORDER BY ordinal_position",
                            quote(t)
                        ),
                        format,
                        maxwidth,
                    )
                    .await;
                    true
                }
                "\\maxwidth" | ".maxwidth" => {
                    match arg.map(str::parse::<usize>) {
                        Some(Ok(n)) => maxwidth = Some(n),
                        _ => errln!("error: \\maxwidth N: the longest value shown, 0 for whole values"),
                    }
                    true
                }
                "\\format" | ".format" => {
                    match arg.and_then(|a| <Format as clap::ValueEnum>::from_str(a, true).ok()) {
                        Some(Format::Parquet) | None => {
                            errln!("error: formats here are table, line, csv, json, ndjson")
                        }
                        Some(f) => format = f,
                    }
                    true
                }
                c if c.starts_with('\\')
                    || (c.starts_with('.') && c.len() > 1 && c[1..].chars().all(|ch| ch.is_ascii_alphabetic())) =>
                {
                    // An unknown command is an error, never the start of a statement that would
                    // swallow the next line.
                    let known = [
                        "\\q",
                        "\\?",
                        "\\d",
                        "\\format",
                        "\\maxwidth",
                        ".quit",
                        ".exit",
                        ".help",
                        ".tables",
                        ".schema",
                        ".format",
                        ".maxwidth",
                    ];
                    let near = known
                        .iter()
                        .min_by_key(|k| strsim::levenshtein(k, c))
                        .filter(|k| strsim::levenshtein(k, c) <= 2);
                    match near {
                        Some(k) => errln!("error: unknown command {c}; did you mean {k}? (\\? lists the commands)"),
                        None => errln!("error: unknown command {c} (\\? lists the commands)"),
                    }
                    true
                }
                _ => false,
            };
            if handled {
                let _ = rl.add_history_entry(trimmed);
                continue;
            }
        }
        buf.push_str(&line);
        buf.push('\n');
        if trimmed.ends_with(';') {
            let sql = std::mem::take(&mut buf);
            let _ = rl.add_history_entry(sql.trim());
            run_sql(&ctx, sql.trim().trim_end_matches(';'), format, maxwidth).await;
            let _ = Stdout.flush();
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}
