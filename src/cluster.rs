//! trailflow's queries on an Apache DataFusion Ballista cluster (the `cluster` feature).
//!
//! A cluster is Ballista's own scheduler and executors, started by this binary
//! (`trailflow cluster scheduler`, `trailflow cluster executor`) so that both know trailflow's
//! functions (`cidr_contains`, `acl_allows`, the JSON functions, ...): the scheduler plans with
//! them, the executors run them. A verb given `--cluster df://HOST:PORT` plans its SQL as always
//! (the same tables, views and functions) and hands the plan to the scheduler; the lake must be at
//! the same path on every machine (a shared file system), and its derived tables stored
//! ([`crate::correlate::stored`]). What reads this machine's files outside the lake's tables (the
//! full-text index behind `search()`) cannot run there and says so.

use std::io::Write;
use std::sync::Arc;

use ballista::prelude::SessionContextExt;
use datafusion::execution::SessionState;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::error::{Error, Result};

/// Ballista's log lines on stderr, at the level `TRAILFLOW_CLUSTER_LOG` names (`error`, `warn`,
/// `info`, `debug`; default `warn`), for the scheduler and executor processes.
struct StderrLog(log::LevelFilter);

impl log::Log for StderrLog {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= self.0
    }
    fn log(&self, r: &log::Record) {
        if self.enabled(r.metadata()) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(0);
            // A log line may quote a query or evidence: screened like every text for a terminal;
            // a closed stderr is ignored.
            let line = format!("{} {} {}: {}", crate::time::fmt_time(now), r.level(), r.target(), r.args());
            let _ = writeln!(std::io::stderr(), "{}", crate::output::screen_text(&line));
        }
    }
    fn flush(&self) {}
}

/// Send Ballista's log to stderr (once per process).
pub fn init_log() {
    let level =
        std::env::var("TRAILFLOW_CLUSTER_LOG").ok().and_then(|l| l.parse().ok()).unwrap_or(log::LevelFilter::Warn);
    if log::set_logger(Box::leak(Box::new(StderrLog(level)))).is_ok() {
        log::set_max_level(level);
    }
}

/// The default port of a Ballista scheduler.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// A session state with DataFusion's functions and trailflow's, on `config`, whose plans Ballista
/// can split into stages without changing their answers ([`MergeInOneTask`]).
fn state_with_functions(config: SessionConfig, context: &Arc<crate::enrich::LazyContext>) -> Result<SessionState> {
    let mut state = datafusion::execution::SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_physical_optimizer_rule(Arc::new(MergeInOneTask))
        .build();
    crate::functions::register_all(&mut state, context)?;
    Ok(state)
}

/// Ballista 55 cuts a plan into stages at repartitions and at `CoalescePartitionsExec`, not at a
/// `SortPreservingMergeExec`: a merge of several sorted partitions (before a window function, a
/// final ORDER BY) then ran once per partition, each task merging only its own, and a
/// `row_number()` per principal gave one "first" per task. This rule, run last on the scheduler,
/// writes such a merge as a sort over all partitions coalesced, which Ballista runs as one task
/// after a stage boundary.
#[derive(Debug)]
struct MergeInOneTask;

impl datafusion::physical_optimizer::PhysicalOptimizerRule for MergeInOneTask {
    fn optimize(
        &self,
        plan: Arc<dyn datafusion::physical_plan::ExecutionPlan>,
        _config: &datafusion::config::ConfigOptions,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::common::tree_node::{Transformed, TreeNode};
        use datafusion::physical_plan::ExecutionPlanProperties;
        use datafusion::physical_plan::coalesce_partitions::CoalescePartitionsExec;
        use datafusion::physical_plan::sorts::sort::SortExec;
        use datafusion::physical_plan::sorts::sort_preserving_merge::SortPreservingMergeExec;
        plan.transform_up(|node| {
            let Some(merge) = node.downcast_ref::<SortPreservingMergeExec>() else { return Ok(Transformed::no(node)) };
            let input = Arc::clone(merge.input());
            if input.output_partitioning().partition_count() <= 1 {
                return Ok(Transformed::no(node));
            }
            let sort = SortExec::new(merge.expr().clone(), Arc::new(CoalescePartitionsExec::new(input)))
                .with_fetch(merge.fetch());
            Ok(Transformed::yes(Arc::new(sort) as Arc<dyn datafusion::physical_plan::ExecutionPlan>))
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "merge_in_one_task"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The functions an executor runs plans with: DataFusion's and trailflow's.
fn function_registry(
    context: &Arc<crate::enrich::LazyContext>,
) -> Result<Arc<ballista_core::registry::BallistaFunctionRegistry>> {
    let state = state_with_functions(SessionConfig::new(), context)?;
    Ok(Arc::new(ballista_core::registry::BallistaFunctionRegistry::from(&state)))
}

fn ballista_error(e: impl std::fmt::Display) -> Error {
    Error::Cluster(format!("cluster: {e}"))
}

/// Run a scheduler on `bind:port` until the process is stopped; executors reach it at
/// `external_host:port`.
pub async fn run_scheduler(bind: &str, port: u16, external_host: &str) -> Result<()> {
    use ballista_scheduler::config::SchedulerConfig;
    let addr: std::net::SocketAddr =
        format!("{bind}:{port}").parse().map_err(|e| Error::Usage(format!("--bind {bind}: {e}")))?;
    // The scheduler only plans: the address functions' answers do not matter there.
    let context = crate::enrich::LazyContext::new(Default::default());
    let config = SchedulerConfig {
        bind_host: bind.to_string(),
        bind_port: port,
        external_host: external_host.to_string(),
        ..Default::default()
    }
    .with_override_session_builder(Arc::new(move |config: SessionConfig| {
        state_with_functions(config, &context).map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))
    }));
    let cluster =
        ballista_scheduler::cluster::BallistaCluster::new_from_config(&config).await.map_err(ballista_error)?;
    ballista_scheduler::scheduler_process::start_server(cluster, addr, Arc::new(config)).await.map_err(ballista_error)
}

/// Where an executor listens and which scheduler it serves.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    pub scheduler_host: String,
    pub scheduler_port: u16,
    pub bind: String,
    /// The host the scheduler and other executors reach this one at (default: `bind`).
    pub external_host: Option<String>,
    /// Arrow Flight port (results and shuffles).
    pub port: u16,
    /// gRPC port (tasks).
    pub grpc_port: u16,
    /// Tasks run at once (default: the machine's cores).
    pub concurrency: Option<usize>,
    /// Where shuffle files go (default: a temporary folder).
    pub work_dir: Option<String>,
    /// The address-context files the executor's `aws_service`, `geo_country`... read (its own
    /// `--aws-ranges` / `--geoip`; default: the shipped AWS ranges, no GeoIP).
    pub context: crate::enrich::ContextFiles,
}

/// Run an executor until the process is stopped.
pub async fn run_executor(opts: &ExecutorOptions) -> Result<()> {
    use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
    let mut config = ExecutorProcessConfig {
        bind_host: opts.bind.clone(),
        external_host: opts.external_host.clone(),
        port: opts.port,
        grpc_port: opts.grpc_port,
        scheduler_host: opts.scheduler_host.clone(),
        scheduler_port: opts.scheduler_port,
        work_dir: opts.work_dir.clone(),
        // Heartbeats often enough that a test cluster is ready within seconds.
        executor_heartbeat_interval_seconds: 5,
        override_function_registry: Some(function_registry(&crate::enrich::LazyContext::new(opts.context.clone()))?),
        ..Default::default()
    };
    if let Some(n) = opts.concurrency {
        config.vcores = n;
    }
    start_executor_process(Arc::new(config)).await.map_err(ballista_error)
}

/// `df://HOST:PORT` as given, checked.
pub fn parse_url(url: &str) -> Result<String> {
    let rest = url
        .strip_prefix("df://")
        .ok_or_else(|| Error::Usage(format!("--cluster {url}: give the scheduler as df://HOST:PORT")))?;
    let (host, port) = rest.rsplit_once(':').unwrap_or((rest, ""));
    if host.is_empty() || (!port.is_empty() && port.parse::<u16>().is_err()) {
        return Err(Error::Usage(format!("--cluster {url}: give the scheduler as df://HOST:PORT")));
    }
    Ok(if port.is_empty() { format!("df://{host}:{DEFAULT_SCHEDULER_PORT}") } else { url.to_string() })
}

/// A session whose queries the cluster at `url` plans and runs: `state`'s settings, catalog and
/// functions, with Ballista's planner.
pub async fn connect(
    url: &str,
    state: SessionState,
    context: &Arc<crate::enrich::LazyContext>,
) -> Result<SessionContext> {
    let url = parse_url(url)?;
    // Ballista connects only when the first query runs: say now, in words, when nothing listens.
    let addr = url.trim_start_matches("df://");
    let reachable =
        tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::TcpStream::connect(addr)).await;
    match reachable {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            return Err(Error::Cluster(format!(
                "--cluster {url}: no scheduler answers there ({e}); start one with `trailflow cluster scheduler`"
            )));
        }
        Err(_) => return Err(Error::Cluster(format!("--cluster {url}: no answer within 10 s"))),
    }
    let ctx =
        SessionContext::remote_with_state(&url, state).await.map_err(|e| ballista_error(format!("{url}: {e}")))?;
    // Ballista's session keeps only DataFusion's own functions: trailflow's go back in.
    let mut state = ctx.state();
    crate::functions::register_all(&mut state, context)?;
    // Ballista 55's adaptive planner re-plans stages as their inputs finish; on some of the hunts
    // (a window over a shuffle joined to an aggregate) it builds a TopK over no partitions, which
    // fails an assertion in the executor and leaves the query waiting for ever. The static
    // distributed planner runs them all.
    state.config_mut().options_mut().set("ballista.planner.adaptive.enabled", "false")?;
    Ok(SessionContext::new_with_state(state))
}
