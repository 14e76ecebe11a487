//! The one session every verb queries in (`sql`, `shell`, `correlate`, `hunt`, `investigate`,
//! `stats`), built by [`session`] from explicit per-verb [`SessionOptions`], so that the same SQL
//! plans and answers the same under every verb.
//!
//! It holds the lake's stored tables and functions ([`crate::query::tables_session`]), empty
//! tables for those a lake does not have yet (every hunt plans on any lake), the derived tables
//! (`nacl_changes`, `network_interfaces`, `acl_associations`, `nacl_entries`, `nacl_rule_sets`:
//! read from the lake where [`crate::correlate::stored`] wrote them, else computed), and the correlation
//! as the view `nacl_verdicts`, its window and baseline bound as query parameters. Joins keep the
//! order the SQL writes them in ([`crate::correlate::tune_session`]).

use std::sync::Arc;

use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::prelude::{DataFrame, SessionContext};
use tokio::sync::OnceCell;

use crate::correlate::table::{Derived, DerivedTable};
use crate::error::{Error, Result};
use crate::lake::Lake;
pub use crate::query::Engine;
use crate::query::Scope;

/// What a verb asks of its session.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    /// Trusted networks of the risk assessment (`correlate --trusted`); `None`: RFC 1918 and the
    /// VPC ranges of the evidence.
    pub trusted: Option<Vec<ipnet::IpNet>>,
    /// How long after each change the correlation looks at flows, in microseconds.
    pub window_us: i64,
    /// How long before each change its baseline reaches, in microseconds.
    pub baseline_us: i64,
    /// The rows shown: the whole lake, or one case's evidence in a shared lake.
    pub scope: Scope,
    /// In this process or on a Ballista cluster (`--cluster`).
    pub engine: Engine,
}

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            trusted: None,
            window_us: crate::correlate::DEFAULT_WINDOW_US,
            baseline_us: crate::correlate::DEFAULT_BASELINE_US,
            scope: Scope::default(),
            engine: Engine::Local,
        }
    }
}

/// Build the session over a lake (`None`: plan against a lake that holds nothing, as `hunt lint`
/// does without one).
pub async fn session(lake: Option<&Lake>, opts: &SessionOptions) -> Result<SessionContext> {
    let none = Lake::new(std::env::temp_dir().join("trailflow-no-lake-for-planning"));
    let lake = lake.unwrap_or(&none);
    let cluster = opts.engine.is_cluster();
    if cluster && (opts.trusted.is_some() || opts.scope.files.is_some()) {
        return Err(Error::Usage(
            "--cluster reads the derived tables stored in the lake: other --trusted networks, or one case of a shared \
                lake, need them computed here (drop --cluster)"
                .into(),
        ));
    }
    let ctx = crate::query::tables_session_on(lake, &opts.scope, &opts.engine).await?;
    crate::correlate::tune_session(&ctx);
    register_missing_tables(&ctx, lake, cluster)?;
    let derived = Arc::new(Derived::new(lake.clone(), opts.trusted.clone(), opts.scope.clone()));
    // The derived tables as stored in the lake when they match it and the session sees the lake
    // as stored (no other trusted networks, not one case of a shared lake); else computed here.
    let stored = match opts.trusted.is_none() && opts.scope.files.is_none() {
        true => crate::correlate::stored::current(lake)?,
        false => None,
    };
    if cluster && stored.is_none() {
        return Err(Error::Lake(format!(
            "--cluster: the derived tables of {} are not stored for its current state (a lake written by an older \
                trailflow, or changed since): `trailflow compact --lake {}` stores them",
            lake.root.display(),
            lake.root.display()
        )));
    }
    for name in crate::schema::DERIVED_TABLES {
        let table: Arc<dyn TableProvider> = match stored.iter().flatten().find(|(t, _)| t == name) {
            // The same types as computed here (text as `Utf8`), so every reader of them agrees.
            Some((_, file)) => {
                crate::query::parquet_file_table(file, crate::schema::schema_of(name).expect("known table"))?
            }
            None => Arc::new(
                DerivedTable::new(derived.clone(), name).ok_or_else(|| Error::Lake(format!("no table {name}")))?,
            ),
        };
        ctx.register_table(*name, table)?;
    }
    match opts.engine {
        Engine::Local => ctx.register_udtf(
            "nacl_rules_at",
            Arc::new(crate::correlate::table::RulesAtFunction { derived: derived.clone() }),
        ),
        Engine::Cluster(_) => ctx.register_udtf(
            "nacl_rules_at",
            Arc::new(crate::query::NotOnCluster {
                name: "nacl_rules_at",
                why: "it is computed in this process; nacl_entries with valid_from/valid_to holds the same rows",
            }),
        ),
    }
    // `nacl_verdicts` is planned when a query first names it: planning the correlation takes
    // about 10 ms, which every other query would pay for nothing.
    let catalog = ctx.catalog("datafusion").ok_or_else(|| Error::Internal("no default catalog".into()))?;
    let tables = catalog.schema("public").ok_or_else(|| Error::Internal("no default schema".into()))?;
    let lazy = Tables {
        inner: tables,
        state: ctx.state_weak_ref(),
        opts: opts.clone(),
        verdicts: OnceCell::new(),
        sg_verdicts: OnceCell::new(),
        integrity: OnceCell::new(),
    };
    catalog.register_schema("public", Arc::new(lazy))?;
    Ok(ctx)
}

/// The name of the correlation's view.
pub const VERDICTS: &str = "nacl_verdicts";
/// The name of the security-group correlation's view (`queries/correlate_sg.sql`).
pub const SG_VERDICTS: &str = "sg_verdicts";
/// The view of the evidence checked against its CloudTrail digests (`queries/evidence_integrity.sql`).
pub const INTEGRITY: &str = "evidence_integrity";
const INTEGRITY_SQL: &str = include_str!("../queries/views/evidence_integrity.sql");

/// The views planned on first use.
const LAZY_VIEWS: [&str; 3] = [VERDICTS, SG_VERDICTS, INTEGRITY];

/// The session's tables, with [`VERDICTS`] planned on first use.
#[derive(Debug)]
struct Tables {
    inner: Arc<dyn SchemaProvider>,
    state: std::sync::Weak<parking_lot::RwLock<datafusion::execution::SessionState>>,
    opts: SessionOptions,
    verdicts: OnceCell<Arc<dyn TableProvider>>,
    sg_verdicts: OnceCell<Arc<dyn TableProvider>>,
    integrity: OnceCell<Arc<dyn TableProvider>>,
}

#[async_trait::async_trait]
impl SchemaProvider for Tables {
    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        for view in LAZY_VIEWS {
            if !names.iter().any(|n| n == view) {
                names.push(view.to_string());
            }
        }
        names
    }

    async fn table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        // A table registered under the name (investigate's computed verdicts) comes first.
        if !LAZY_VIEWS.contains(&name) || self.inner.table_exist(name) {
            return self.inner.table(name).await;
        }
        let cell = match name {
            VERDICTS => &self.verdicts,
            SG_VERDICTS => &self.sg_verdicts,
            _ => &self.integrity,
        };
        let view = cell
            .get_or_try_init(|| async {
                let state = self.state.upgrade().ok_or_else(|| DataFusionError::Plan("the session is gone".into()))?;
                let ctx = SessionContext::new_with_state(state.read().clone());
                let df = match name {
                    VERDICTS => correlation(&ctx, &self.opts).await,
                    SG_VERDICTS => sg_correlation(&ctx, &self.opts).await,
                    _ => crate::query::plan_sql(&ctx, INTEGRITY_SQL, None).await,
                }
                .map_err(|e| DataFusionError::External(Box::new(e)))?;
                Ok::<_, DataFusionError>(df.into_view())
            })
            .await?;
        Ok(Some(Arc::clone(view)))
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> datafusion::error::Result<Option<Arc<dyn TableProvider>>> {
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        LAZY_VIEWS.contains(&name) || self.inner.table_exist(name)
    }
}

/// The correlation (`queries/correlate.sql`) with the window and baseline bound as parameters:
/// what `trailflow correlate` prints and what the view `nacl_verdicts` holds.
pub async fn correlation(ctx: &SessionContext, opts: &SessionOptions) -> Result<DataFrame> {
    with_span(ctx, crate::correlate::CORRELATE_SQL, opts).await
}

/// A correlation's SQL planned with the window and baseline bound.
async fn with_span(ctx: &SessionContext, sql: &str, opts: &SessionOptions) -> Result<DataFrame> {
    with_params(ctx, sql, opts, Vec::new()).await
}

/// A correlation's SQL with the window and baseline and `more` parameters bound.
async fn with_params(
    ctx: &SessionContext,
    sql: &str,
    opts: &SessionOptions,
    more: Vec<(&str, ScalarValue)>,
) -> Result<DataFrame> {
    let df = crate::query::plan_sql(ctx, sql, None).await?;
    let params = [("window_us", opts.window_us), ("baseline_us", opts.baseline_us)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), ScalarValue::Int64(Some(v)).into()))
        .chain(more.into_iter().map(|(k, v)| (k.to_string(), v.into())))
        .collect();
    Ok(df.with_param_values(datafusion::common::ParamValues::Map(params))?)
}

/// The correlation of security-group changes (`queries/correlate_sg.sql`), in the columns of
/// [`correlation`]: what the view `sg_verdicts` holds. The span of flows it can look at (from the
/// baseline of the first change that opened something to the window's end after the last) is
/// bound as two timestamps, so that the scans skip the files and row groups outside it.
pub async fn sg_correlation(ctx: &SessionContext, opts: &SessionOptions) -> Result<DataFrame> {
    let span = "SELECT arrow_cast(min(c.event_time), 'Int64'), arrow_cast(max(c.event_time), 'Int64') \
                FROM sg_changes c WHERE c.succeeded AND c.event_id IN (SELECT event_id FROM sg_change_scope WHERE opens)";
    let mut bounds = (0i64, 0i64);
    for b in crate::query::query(ctx, span).await? {
        use datafusion::arrow::array::{Array, AsArray};
        use datafusion::arrow::datatypes::Int64Type;
        let (lo, hi) = (b.column(0).as_primitive::<Int64Type>(), b.column(1).as_primitive::<Int64Type>());
        if b.num_rows() > 0 && lo.is_valid(0) && hi.is_valid(0) {
            bounds = (lo.value(0).saturating_sub(opts.baseline_us), hi.value(0).saturating_add(opts.window_us));
        }
    }
    let ts = |v: i64| ScalarValue::TimestampMicrosecond(Some(v), Some("UTC".into()));
    with_params(
        ctx,
        crate::correlate::CORRELATE_SG_SQL,
        opts,
        vec![("span_from", ts(bounds.0)), ("span_to", ts(bounds.1))],
    )
    .await
}

/// Both layers' changes, one table in time order: what `trailflow correlate` prints.
pub async fn firewall_correlation(ctx: &SessionContext, opts: &SessionOptions) -> Result<DataFrame> {
    let acl = correlation(ctx, opts).await?;
    let sg = sg_correlation(ctx, opts).await?;
    let both = acl.union(sg)?;
    // Whose the unusual peers are (`enrich`), beside the list.
    use datafusion::execution::FunctionRegistry as _;
    let annotate = ctx.udf("with_ip_context")?;
    let both =
        both.with_column("unusual_peer_context", annotate.call(vec![datafusion::prelude::col("unusual_peers")]))?;
    Ok(both.sort(vec![
        datafusion::prelude::col("event_time").sort(true, true),
        datafusion::prelude::col("event_id").sort(true, true),
    ])?)
}

/// Register empty tables for those the lake does not have yet, so every query plans on any lake.
/// On a cluster, where a plan names its tables by where their files are, the empty table is a
/// Parquet file of no rows in the lake ([`crate::query::empty_table`]).
fn register_missing_tables(ctx: &SessionContext, lake: &Lake, on_cluster: bool) -> Result<()> {
    for table in crate::schema::TABLES {
        if ctx.table_exist(*table)? {
            continue;
        }
        let schema = crate::query::view_types(&crate::schema::schema_of(table).expect("known table"));
        let empty: Arc<dyn TableProvider> = match on_cluster {
            false => Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![vec![]])?),
            true => crate::query::empty_table(lake, table)?,
        };
        ctx.register_table(*table, empty)?;
    }
    Ok(())
}
