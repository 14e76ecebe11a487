//! The `trailflow` command line: parses arguments (`cli`), runs one verb (`verbs/`, a file each),
//! and turns an error into its one line and exit status (`trailflow::error::Error::exit_code`).

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use trailflow::error::EXIT_FATAL;
use trailflow::output::one_line;

// mimalloc: hash aggregation and Parquet decoding allocate and free many short-lived buffers; the
// system allocator spends a large share of query time in page faults for them.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit status when some input was rejected (the rest was loaded), or a check cannot tell.
const EXIT_REJECTED: u8 = 3;

/// Write a line to standard error, whatever becomes of it (a closed stderr is no reason to stop).
/// Every line is made safe for a terminal first: evidence values and paths in it cannot drive
/// the terminal (`output::screen_lines`).
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "{}", trailflow::output::screen_lines(&format!($($arg)*)));
    }};
}

/// Write text meant for a screen to standard output, made safe for a terminal (a closed pipe
/// ends the process quietly with success).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(trailflow::output::Stdout, "{}", trailflow::output::screen_lines(&format!($($arg)*)));
    }};
}
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(trailflow::output::Stdout, "{}", trailflow::output::screen_lines(&format!($($arg)*)));
    }};
}
/// Machine output (JSON) as it is: its own escaping is the reader's.
macro_rules! rawln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(trailflow::output::Stdout, $($arg)*);
    }};
}

mod cli;
mod shell;
mod verbs;
mod write;

use cli::{Cli, Cmd};

/// Stack for the command's thread: deep but bounded user expressions (see `limits`) are planned
/// recursively by the SQL and search parsers.
const STACK: usize = 256 << 20;

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    std::panic::set_hook(Box::new(|info| {
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let _ = writeln!(std::io::stderr(), "trailflow: internal error (please report it): {}{at}", one_line(what));
    }));
    let worker = std::thread::Builder::new().name("trailflow".into()).stack_size(STACK).spawn(main_thread);
    match worker.map(|h| h.join()) {
        Ok(Ok(code)) => code,
        _ => ExitCode::from(EXIT_FATAL),
    }
}

fn main_thread() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`trailflow sql ... | head`) is not an error.
            let lib = e.chain().find_map(|c| c.downcast_ref::<trailflow::error::Error>());
            if lib.is_some_and(trailflow::error::Error::is_broken_pipe)
                || e.chain().any(|c| {
                    c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                })
            {
                return ExitCode::SUCCESS;
            }
            errln!("trailflow: error: {}", one_line(&e));
            // The library's error says its status (a usage error 2); anything else is fatal.
            ExitCode::from(lib.map_or(EXIT_FATAL, trailflow::error::Error::exit_code))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(trailflow::query::runtime()?)
}

/// Run the verb the command line names, with what the global options say.
fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let app = verbs::App {
        lake_dir: cli.lake.clone().unwrap_or_else(|| std::path::PathBuf::from("trailflow-lake")),
        lake: cli.lake,
        quiet: cli.quiet,
        engine: trailflow::session::Engine::from_flag(cli.cluster),
        context: trailflow::enrich::ContextFiles { aws_ranges: cli.aws_ranges, geoip: cli.geoip },
    };
    match cli.cmd {
        #[cfg(feature = "cluster")]
        Cmd::Cluster(args) => verbs::cluster::run(&app, args),
        Cmd::Ingest(args) => verbs::ingest::run(&app, args),
        Cmd::Ioc(args) => verbs::ioc::run(&app, args),
        Cmd::Sql(args) => verbs::sql::run(&app, args),
        Cmd::Search(args) => verbs::search::run(&app, args),
        Cmd::Correlate(args) => verbs::correlate::run(&app, args),
        Cmd::Hunt(args) => verbs::hunt::run(&app, args),
        Cmd::Acl(args) => verbs::acl::run(&app, args),
        Cmd::Timeline(args) => verbs::timeline::run(&app, args),
        Cmd::Completions(args) => verbs::completions::run(&app, args),
        Cmd::Compact(args) => verbs::compact::run(&app, args),
        Cmd::Investigate(args) => verbs::investigate::run(&app, args),
        Cmd::Shell => verbs::shell::run(&app),
        Cmd::Stats(args) => verbs::stats::run(&app, args),
    }
}
