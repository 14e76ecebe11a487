//! The query engine over a lake: one function sets it up (tables, Parquet settings, memory,
//! functions), and helpers run read-only SQL.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::config::ConfigOptions;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::memory_pool::FairSpillPool;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SQLOptions, SessionConfig, SessionContext, col};

use crate::error::{Error, Result};
use crate::lake::Lake;
use crate::schema::{self, PARTITION_COLUMN, TABLES};

/// Memory the query engine may use before it spills or fails a query.
pub const DEFAULT_MEMORY_LIMIT: usize = 4 << 30;

/// The query memory limit: `TRAILFLOW_MEMORY_LIMIT` (`1500M`, `2G`, or bytes) when set, else
/// [`DEFAULT_MEMORY_LIMIT`]. Operators that can spill to disk (sorts, aggregations) do so past it.
pub fn memory_limit() -> Result<usize> {
    let Ok(text) = std::env::var("TRAILFLOW_MEMORY_LIMIT") else {
        return Ok(DEFAULT_MEMORY_LIMIT);
    };
    crate::limits::parse_size(&text)
        .ok_or_else(|| Error::Usage(format!("TRAILFLOW_MEMORY_LIMIT={text:?}: give a size such as 1500M or 2G")))
}

/// Plans every query of a session while holding the lake's reader guard
/// ([`Lake::snapshot`]): the files a query lists are those of one state of the lake, never half
/// of an ingest run that is being published. Only planning holds it; the files a plan names stay
/// in place while it runs (only a compaction removes files, and it waits for the session's lease).
#[derive(Debug)]
struct SnapshotPlanner {
    lake: Lake,
    /// Held as long as the session lives: a compaction waits for it before it removes a file a
    /// plan of this session may read.
    _lease: crate::lake::PublishGuard,
}

#[async_trait::async_trait]
impl datafusion::execution::context::QueryPlanner for SnapshotPlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &datafusion::logical_expr::LogicalPlan,
        session: &dyn datafusion::catalog::Session,
    ) -> datafusion::error::Result<Arc<dyn datafusion::physical_plan::ExecutionPlan>> {
        use datafusion::physical_planner::PhysicalPlanner;
        let guard = self.lake.snapshot().map_err(|e| datafusion::error::DataFusionError::External(Box::new(e)))?;
        let plan = datafusion::physical_planner::DefaultPhysicalPlanner::default()
            .create_physical_plan(logical_plan, session)
            .await;
        drop(guard);
        plan
    }
}

/// Which rows a session shows: the whole lake, or only the rows of some source files (one case's
/// evidence in a lake that several cases share).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    /// The `source_file` values kept; `None` keeps every row.
    pub files: Option<Arc<Vec<String>>>,
    /// CloudTrail events kept besides those of `files`: events of these files that were stored
    /// once from another file (their copies are in `event_copies`).
    pub events: Arc<Vec<String>>,
    /// The evidence paths as given: `ingest_errors` rows about files under them are kept.
    pub inputs: Arc<Vec<String>>,
}

impl Scope {
    /// The filter that keeps this scope's rows of a table; `None` for the whole lake.
    fn filter(&self, table: &str) -> Option<datafusion::prelude::Expr> {
        use datafusion::prelude::lit;
        let files = self.files.as_ref()?;
        let list = |values: &[String]| values.iter().map(|v| lit(v.as_str())).collect::<Vec<_>>();
        let in_files = col("source_file").in_list(list(files), false);
        Some(match table {
            schema::CLOUDTRAIL if !self.events.is_empty() => {
                in_files.or(col("event_id").in_list(list(&self.events), false))
            }
            schema::INGEST_ERRORS => self.inputs.iter().fold(in_files, |e, input| {
                e.or(datafusion::functions::string::expr_fn::starts_with(col("file"), lit(input.as_str())))
            }),
            _ => in_files,
        })
    }
}

/// The session over the stored tables of a lake (the scope's rows of them), with trailflow's
/// functions and `search()`: every setting of the query engine is made here. The session the
/// verbs query in adds the derived tables and the correlation to it ([`crate::session`]).
pub async fn tables_session(lake: &Lake, scope: &Scope) -> Result<SessionContext> {
    tables_session_on(lake, scope, &Engine::Local).await
}

/// Where a session's queries are planned and run. Chosen once, from the command line's
/// `--cluster` (or `TRAILFLOW_CLUSTER`), and handed to every session the command opens; the
/// library decides nothing about it from the environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Engine {
    /// In this process (DataFusion).
    #[default]
    Local,
    /// On the Ballista cluster whose scheduler is at `df://HOST:PORT`.
    Cluster(String),
}

impl Engine {
    /// The engine a `--cluster` flag names: the cluster when given, else this process.
    pub fn from_flag(cluster: Option<String>) -> Engine {
        cluster.map_or(Engine::Local, Engine::Cluster)
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Engine::Cluster(_))
    }
}

/// A table function that cannot run on a cluster: asked for under `--cluster`, it says why.
#[derive(Debug)]
pub struct NotOnCluster {
    pub name: &'static str,
    pub why: &'static str,
}

impl datafusion::catalog::TableFunctionImpl for NotOnCluster {
    fn call_with_args(
        &self,
        _args: datafusion::catalog::TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn datafusion::catalog::TableProvider>> {
        Err(datafusion::error::DataFusionError::Plan(format!(
            "{}() cannot run on a cluster (--cluster): {}; run it without --cluster",
            self.name, self.why
        )))
    }
}

/// A session whose queries a Ballista cluster plans and runs.
#[cfg(feature = "cluster")]
async fn on_cluster(
    url: &str,
    state: datafusion::execution::SessionState,
    context: &Arc<crate::enrich::LazyContext>,
) -> Result<SessionContext> {
    crate::cluster::connect(url, state, context).await
}

#[cfg(not(feature = "cluster"))]
async fn on_cluster(
    url: &str,
    _state: datafusion::execution::SessionState,
    _context: &Arc<crate::enrich::LazyContext>,
) -> Result<SessionContext> {
    Err(Error::Usage(format!(
        "--cluster {url}: this trailflow was built without the cluster feature (cargo build --release --features \
            cluster)"
    )))
}

/// [`tables_session`], run by `engine`: in this process or on a Ballista cluster.
pub async fn tables_session_on(lake: &Lake, scope: &Scope, engine: &Engine) -> Result<SessionContext> {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut config = SessionConfig::new()
        // `information_schema` lets users (and `stats`) list tables and columns in SQL.
        .with_information_schema(true)
        // Two partitions per core: while one partition waits on a page read or decompression, the
        // other keeps the core busy (measured with benches/query.sh on a 2-core machine).
        .with_target_partitions(cores * 2);
    {
        let pq = &mut config.options_mut().execution.parquet;
        // Filters are evaluated after decoding, batch-wise, not row by row inside the Parquet
        // decoder: row-level pushdown cost more than it saved on every benchmark query, and made a
        // join of all flows to a few interfaces three times slower (the join's dynamic filter was
        // checked on every row). Row groups are still skipped by statistics, page index and bloom
        // filters, which is where the savings of a needle search come from.
        pq.pushdown_filters = false;
        // Use the page index (per-page min/max) to skip pages.
        pq.enable_page_index = true;
        // Use the bloom filters written on lookup columns (event_id, srcaddr, ...).
        pq.bloom_filter_on_read = true;
    }
    // Grouping by addresses has many groups: when a first look shows more than one new group per
    // ten rows, rows go straight to the final aggregation instead of being pre-aggregated twice.
    config.options_mut().execution.skip_partial_aggregation_probe_ratio_threshold = 0.1;
    // Any DataFusion setting can be changed for a run from the environment, under its documented
    // variable name (`DATAFUSION_EXECUTION_BATCH_SIZE=32768`); these win over the settings above.
    apply_env_settings(config.options_mut())?;
    if engine.is_cluster() {
        // Dynamic filters (a TopK's or a join's bound pushed into the scans below it) are shared
        // state between operators of one process; Ballista ships the operators to executors
        // separately, where DataFusion 55 finds the TopK's filter without its emitters (a failed
        // assertion in the executor, then a lost executor and a query that never ends).
        let o = &mut config.options_mut().optimizer;
        o.enable_dynamic_filter_pushdown = false;
        o.enable_topk_dynamic_filter_pushdown = false;
        o.enable_join_dynamic_filter_pushdown = false;
        o.enable_aggregate_dynamic_filter_pushdown = false;
        // A window function over rows hash-partitioned by a Ballista shuffle saw the rows of one
        // window partition split over several tasks (a `lead()` per flow log came out wrong three
        // times over on the sample): each window runs over all its rows in one task instead.
        o.repartition_windows = false;
        // Field and JSON accesses pulled out into a projection of their own, merged with the
        // projection of a table's view (`lake::elide`), come back from Ballista's plan encoding
        // under names that no longer match ("No field named array_agg(DISTINCT
        // __datafusion_extracted_1)"): they stay where the query has them.
        o.enable_leaf_expression_pushdown = false;
    }
    let runtime = RuntimeEnvBuilder::new()
        // Bounded memory: operators that can spill do, the others fail with a clear error.
        .with_memory_pool(Arc::new(FairSpillPool::new(memory_limit()?)))
        .build_arc()?;
    let mut state = SessionStateBuilder::new()
        .with_config(config)
        .with_runtime_env(runtime)
        .with_default_features()
        .with_query_planner(Arc::new(SnapshotPlanner { lake: lake.clone(), _lease: lake.reader_lease()? }))
        .build();
    // The address functions read the context files the lake recorded (`lake::context`).
    let context = crate::enrich::LazyContext::new(lake.context_files()?);
    crate::functions::register_all(&mut state, &context)?;
    let ctx = match engine {
        Engine::Local => SessionContext::new_with_state(state),
        Engine::Cluster(url) => on_cluster(url, state, &context).await?,
    };
    register_tables(&ctx, lake, scope).await?;
    // `search('QUERY')`: the full-text index as a table that joins back to `cloudtrail`.
    match engine {
        Engine::Local => {
            ctx.register_udtf("search", Arc::new(crate::search::table::SearchFunction { lake: lake.clone() }))
        }
        Engine::Cluster(_) => ctx.register_udtf(
            "search",
            Arc::new(NotOnCluster { name: "search", why: "it reads the full-text index of this machine" }),
        ),
    }
    Ok(ctx)
}

/// Copy the DataFusion settings that are set in the environment (`DATAFUSION_<KEY>` with dots as
/// underscores) onto `options`; a value that does not parse is an error naming the variable.
fn apply_env_settings(options: &mut ConfigOptions) -> Result<()> {
    let from_env =
        ConfigOptions::from_env().map_err(|e| Error::Usage(format!("DataFusion setting in environment: {e}")))?;
    for entry in from_env.entries() {
        let var = entry.key.to_uppercase().replace('.', "_");
        if std::env::var_os(&var).is_some()
            && let Some(value) = entry.value
        {
            options.set(&entry.key, &value).map_err(|e| Error::Usage(format!("{var}: {e}")))?;
        }
    }
    Ok(())
}

/// Register every table of the lake that has files (as a view of the scope's rows when the scope
/// is not the whole lake).
pub async fn register_tables(ctx: &SessionContext, lake: &Lake, scope: &Scope) -> Result<()> {
    // A lake that is not whole would answer as if the missing rows never were: say so instead.
    let problems = {
        let _guard = lake.snapshot()?;
        lake.not_whole()?
    };
    if !problems.is_empty() {
        let shown: Vec<&str> = problems.iter().take(3).map(String::as_str).collect();
        return Err(Error::Lake(format!(
            "the lake at {} is not whole, so its answers would be wrong: {}{}; restore the files from a copy of the \
                lake, or remove them and ingest their evidence again",
            lake.root.display(),
            shown.join("; "),
            if problems.len() > 3 { format!("; and {} more", problems.len() - 3) } else { String::new() }
        )));
    }
    for table in TABLES {
        let dir = lake.table_dir(table);
        if !dir.is_dir() {
            continue;
        }
        let dir = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, e))?;
        let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
        let time = schema::time_column(table);
        let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
            .with_file_extension(".parquet")
            // Hive partitions `dt=YYYY-MM-DD`: a filter on dt prunes whole folders.
            .with_table_partition_cols(vec![(PARTITION_COLUMN.to_string(), DataType::Utf8)])
            // Every file is written sorted by its time column.
            .with_file_sort_order(vec![vec![col(time).sort(true, false)]]);
        let config = ListingTableConfig::new(url)
            .with_listing_options(options)
            .with_schema(view_types(&schema::schema_of(table).expect("known table")));
        let provider = Arc::new(ListingTable::try_new(config)?);
        // Values stored once (`lake::elide`) put back, and the scope's rows kept.
        let restored =
            crate::lake::elide::view_exprs(table, &datafusion::catalog::TableProvider::schema(provider.as_ref()));
        match (restored, scope.filter(table)) {
            (None, None) => ctx.register_table(*table, provider)?,
            (restored, keep) => {
                // A scan under the table's own name: what a plan reads is known by its tables.
                let source = datafusion::datasource::provider_as_source(provider);
                let mut plan = datafusion::logical_expr::LogicalPlanBuilder::scan(*table, source, None)?;
                if let Some(exprs) = restored {
                    plan = plan.project(exprs)?;
                }
                if let Some(keep) = keep {
                    plan = plan.filter(keep)?;
                }
                let frame = datafusion::dataframe::DataFrame::new(ctx.state(), plan.build()?);
                ctx.register_table(*table, frame.into_view())?
            }
        };
    }
    Ok(())
}

/// One Parquet file as a table with the given schema.
pub fn parquet_file_table(
    file: &std::path::Path,
    schema: datafusion::arrow::datatypes::SchemaRef,
) -> Result<Arc<ListingTable>> {
    let file = std::fs::canonicalize(file).map_err(|e| Error::io(file, e))?;
    let url = ListingTableUrl::parse(file.display().to_string())?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(schema);
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// An empty table that a plan can name by its place, as a cluster needs: a Parquet file of no
/// rows, kept in the lake's own folder (`_trailflow/empty/`; written once per table and schema).
/// A lake that cannot be written gets a table over a folder with no files instead.
pub fn empty_table(lake: &Lake, table: &str) -> Result<Arc<ListingTable>> {
    let schema = schema::schema_of(table).ok_or_else(|| Error::Internal(format!("no table {table}")))?;
    let hash = schema::sha256_hex(&schema::schema_text(&schema));
    let file = lake.root.join("_trailflow").join("empty").join(format!("{table}-{}.parquet", &hash[..16]));
    let written = file.is_file() || {
        let tmp = file.with_extension("tmp");
        let write = || -> Result<()> {
            std::fs::create_dir_all(file.parent().expect("a folder")).map_err(|e| Error::io(&file, e))?;
            let out = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
            let empty = RecordBatch::new_empty(schema.clone());
            crate::output::write(crate::output::Format::Parquet, &[empty], Box::new(std::io::BufWriter::new(out)))?;
            std::fs::rename(&tmp, &file).map_err(|e| Error::io(&tmp, e))
        };
        write().is_ok()
    };
    if written {
        // Text as views, as the evidence tables have it.
        return parquet_file_table(&file, view_types(&schema));
    }
    let dir = std::path::absolute(lake.table_dir(table)).map_err(|e| Error::io(&file, e))?;
    let url = ListingTableUrl::parse(format!("{}/", dir.display()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new(url).with_listing_options(options).with_schema(view_types(&schema));
    Ok(Arc::new(ListingTable::try_new(config)?))
}

/// The table's schema as queries see it: text columns as `Utf8View`. The Parquet reader then fills
/// string views straight from the pages (no copy of every value), and grouping, joining and
/// comparing on text works on the views; the files themselves stay plain `Utf8`.
pub fn view_types(schema: &datafusion::arrow::datatypes::Schema) -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{Field, Schema};
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Utf8 | DataType::LargeUtf8 => f.as_ref().clone().with_data_type(DataType::Utf8View),
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Stack for the query engine's threads: expressions nest up to the bounds of
/// [`crate::limits::check_nesting`] and are evaluated recursively.
const WORKER_STACK: usize = 64 << 20;

/// The runtime every query runs on.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(WORKER_STACK)
        .build()
        .map_err(|e| Error::Internal(format!("cannot start the query runtime: {e}")))
}

/// SQL options for users' queries: read-only.
pub fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// A user's SQL, planned read-only: its nesting is checked first (a deeper query gets an error,
/// not a stack overflow), then it is parsed in trailflow's dialect (PostgreSQL's precedence,
/// [`crate::sql_dialect`]) and checked again on the parsed tree.
pub async fn user_sql(ctx: &SessionContext, sql: &str) -> Result<datafusion::prelude::DataFrame> {
    crate::limits::check_nesting(sql, "SQL", true)?;
    plan_sql(ctx, sql, Some(read_only())).await
}

/// Parse one statement in trailflow's dialect and plan it; with `options`, only what they allow.
/// Every query of the program (the user's, the hunts', the built-in views') is planned here, so
/// each reads the same way.
pub async fn plan_sql(
    ctx: &SessionContext,
    sql: &str,
    options: Option<SQLOptions>,
) -> Result<datafusion::prelude::DataFrame> {
    use datafusion::sql::parser::{DFParserBuilder, Statement};
    let state = ctx.state();
    let limit = state.config().options().sql_parser.recursion_limit.get();
    let dialect = crate::sql_dialect::TrailflowDialect::default();
    let mut statements = DFParserBuilder::new(sql)
        .with_dialect(&dialect)
        .with_recursion_limit(limit)
        .build()
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| Error::BadQuery(format!("SQL syntax: {}", syntax_message(&e.to_string()))))?;
    let statement = match (statements.pop_front(), statements.is_empty()) {
        (Some(s), true) => s,
        (None, _) => return Err(Error::BadQuery("SQL: no statement given".into())),
        (Some(_), false) => {
            return Err(Error::BadQuery("SQL: one statement at a time (no ';' between statements)".into()));
        }
    };
    crate::limits::check_tree(&statement)?;
    if options.is_some() {
        let query = match &statement {
            Statement::Statement(s) => {
                use datafusion::sql::sqlparser::ast::Statement as S;
                matches!(
                    **s,
                    S::Query(_)
                        | S::Explain { .. }
                        | S::ExplainTable { .. }
                        | S::ShowTables { .. }
                        | S::ShowColumns { .. }
                        | S::ShowFunctions { .. }
                        | S::ShowVariable { .. }
                )
            }
            Statement::Explain(_) => true,
            _ => false,
        };
        if !query {
            let verb = sql.split_whitespace().next().unwrap_or_default().to_uppercase();
            return Err(Error::BadQuery(format!(
                "the lake is read-only: {verb} is not run (trailflow answers SELECT, WITH, EXPLAIN, DESCRIBE and SHOW)"
            )));
        }
    }
    let plan = state.statement_to_plan(statement).await.map_err(|e| with_table_suggestion(ctx, e))?;
    if let Some(options) = options {
        options.verify_plan(&plan)?;
    }
    Ok(ctx.execute_logical_plan(plan).await?)
}

/// A parser error in one line: without the parser's own prefix, the position as people write it.
fn syntax_message(text: &str) -> String {
    let text = text.trim_start_matches("sql parser error: ").trim_start_matches("SQL error: ");
    let text = text.trim_start_matches("ParserError(\"").trim_end_matches("\")");
    text.replace(" at Line: ", " at line ").replace(", Column: ", ", column ")
}

/// A query naming a table the session lacks: the error names the nearest one that exists
/// (DataFusion suggests columns itself).
fn with_table_suggestion(ctx: &SessionContext, e: datafusion::error::DataFusionError) -> Error {
    let text = e.to_string();
    // A mistyped column: DataFusion's own suggestion, without the list of every column after it.
    if let (Some(at), Some(_)) = (text.find("No field named "), text.find("Did you mean")) {
        let message = text[at..].split("Valid fields are").next().unwrap_or_default().trim();
        return Error::BadQuery(format!(
            "{message} (`\\d TABLE` in the shell, or `trailflow sql \"DESCRIBE TABLE\"`, lists the columns)"
        ));
    }
    let missing = text
        .split("table '")
        .nth(1)
        .and_then(|r| r.split("' not found").next())
        .filter(|_| text.contains("' not found"));
    let Some(missing) = missing else { return e.into() };
    let name = missing.rsplit('.').next().unwrap_or(missing);
    let tables: Vec<String> =
        ctx.catalog("datafusion").and_then(|c| c.schema("public")).map(|s| s.table_names()).unwrap_or_default();
    match tables.iter().map(|t| (strsim::levenshtein(t, name), t)).filter(|(d, _)| *d <= 3).min() {
        Some((_, near)) => Error::BadQuery(format!(
            "no table {name}; did you mean {near}? (`SELECT table_name FROM information_schema.tables`, or \\d in the \
                shell, lists them)"
        )),
        None => e.into(),
    }
}

/// Run one read-only query and collect its result.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(user_sql(ctx, sql).await?.collect().await?)
}
