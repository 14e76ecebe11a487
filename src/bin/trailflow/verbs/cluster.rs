//! `trailflow cluster`: a Ballista scheduler or executor that knows trailflow's functions.

#![cfg(feature = "cluster")]

use clap::Subcommand;
use std::process::ExitCode;

use super::App;
use crate::runtime;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: ClusterCmd,
}

pub fn run(app: &App, args: Args) -> anyhow::Result<ExitCode> {
    let Args { cmd } = args;
    trailflow::cluster::init_log();
    runtime()?.block_on(async {
        match cmd {
            ClusterCmd::Scheduler { bind, port, external_host } => {
                errln!("trailflow: cluster scheduler on {bind}:{port} (df://{external_host}:{port})");
                trailflow::cluster::run_scheduler(&bind, port, &external_host).await
            }
            ClusterCmd::Executor { scheduler, bind, external_host, port, grpc_port, concurrency, work_dir } => {
                let (host, sport) = scheduler.rsplit_once(':').unwrap_or((scheduler.as_str(), "50050"));
                let scheduler_port: u16 = sport
                    .parse()
                    .map_err(|_| trailflow::error::Error::Usage(format!("--scheduler {scheduler}: give HOST:PORT")))?;
                let opts = trailflow::cluster::ExecutorOptions {
                    scheduler_host: host.to_string(),
                    scheduler_port,
                    bind,
                    external_host,
                    port,
                    grpc_port,
                    concurrency,
                    work_dir,
                    context: app.context.clone(),
                };
                errln!("trailflow: cluster executor on {}:{} serving {scheduler}", opts.bind, opts.port);
                trailflow::cluster::run_executor(&opts).await
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum ClusterCmd {
    /// The scheduler: plans the queries sent with --cluster and hands their tasks to executors.
    Scheduler {
        /// The address it listens on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        #[arg(long, default_value_t = trailflow::cluster::DEFAULT_SCHEDULER_PORT)]
        port: u16,
        /// The name executors reach it by.
        #[arg(long, default_value = "localhost")]
        external_host: String,
    },
    /// An executor: runs tasks on the lake's files (at the same path as on the scheduler).
    Executor {
        /// The scheduler, HOST:PORT.
        #[arg(long, default_value = "localhost:50050")]
        scheduler: String,
        /// The address it listens on.
        #[arg(long, default_value = "127.0.0.1")]
        bind: String,
        /// The name the scheduler and the other executors reach it by (default: --bind).
        #[arg(long)]
        external_host: Option<String>,
        /// Arrow Flight port (results and shuffles).
        #[arg(long, default_value_t = 50051)]
        port: u16,
        /// gRPC port (tasks).
        #[arg(long, default_value_t = 50052)]
        grpc_port: u16,
        /// Tasks run at once (default: one per core).
        #[arg(long)]
        concurrency: Option<usize>,
        /// Where shuffle files go (default: a temporary folder).
        #[arg(long)]
        work_dir: Option<String>,
    },
}
