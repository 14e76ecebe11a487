//! `nacl_changes` and the other derived tables (`schema::DERIVED_TABLES`) as SQL tables, computed
//! from the lake when a query first reads one of them.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::ExecutionPlan;
use tokio::sync::OnceCell;

use crate::lake::Lake;
use crate::schema::{
    ACL_ASSOCIATIONS, INTERFACE_GROUPS, NACL_CHANGES, NACL_ENTRIES, NACL_RULE_SETS, NETWORK_INTERFACES,
    SG_CHANGE_SCOPE, SG_CHANGES, SG_RULES,
};

/// The derived tables of a session, computed together from the lake when a query first reads one
/// of them, by name.
#[derive(Debug)]
pub struct Derived {
    pub lake: Lake,
    pub trusted: Option<Vec<ipnet::IpNet>>,
    pub scope: crate::query::Scope,
    cache: OnceCell<BTreeMap<&'static str, RecordBatch>>,
}

impl Derived {
    pub fn new(lake: Lake, trusted: Option<Vec<ipnet::IpNet>>, scope: crate::query::Scope) -> Self {
        Derived { lake, trusted, scope, cache: OnceCell::new() }
    }

    /// Every derived table, by name.
    pub async fn tables(&self) -> crate::error::Result<&BTreeMap<&'static str, RecordBatch>> {
        self.cache
            .get_or_try_init(|| async {
                let ctx = crate::query::tables_session(&self.lake, &self.scope).await?;
                let ev = super::load(&ctx).await?;
                let trusted = super::trusted_networks(&ev, self.trusted.as_deref());
                let ifaces = super::topology::interfaces(&ctx, &ev).await?;
                let mut replay = super::replay(&ev, &ifaces);
                super::topology::place_moves(&ctx, &ev, &mut replay, &ifaces).await?;
                let mut assoc = super::topology::associations(&ctx, &ev, &replay, &ifaces).await?;
                let governed = super::topology::infer_governed(&ctx, &ev, &replay, &ifaces, &assoc).await?;
                assoc.extend(governed);
                let changes = super::changes(&ev, &replay, &trusted, &assoc, &ifaces);
                let groups = super::sg::replay(&ev.sg, &ev.topology_events, &ifaces);
                let acl_at = |iface: &str, t: i64| super::acl_of_interface(&ev, &replay, &assoc, &ifaces, iface, t);
                let sg_changes = super::sg::changes(&groups, &ifaces, &ev.topology_events, &trusted, &acl_at);
                Ok(BTreeMap::from([
                    (SG_CHANGES, super::sg::changes_batch(&sg_changes)?),
                    (SG_CHANGE_SCOPE, super::sg::scope_batch(&sg_changes)?),
                    (SG_RULES, super::sg::rules_batch(&super::sg::rule_rows(&groups))?),
                    (
                        INTERFACE_GROUPS,
                        crate::schema::batch_of(INTERFACE_GROUPS, &super::sg::membership_rows(&groups))?,
                    ),
                    (NACL_CHANGES, super::batch(&changes)?),
                    (NETWORK_INTERFACES, super::topology::interfaces_batch(&ifaces)?),
                    (ACL_ASSOCIATIONS, super::topology::associations_batch(&assoc)?),
                    (NACL_ENTRIES, super::topology::entries_batch(&super::topology::entries(&replay, &ev))?),
                    (NACL_RULE_SETS, super::topology::rule_sets_batch(&super::topology::rule_sets(&replay, &ev))?),
                ]))
            })
            .await
    }
}

/// One derived table, by its name in `schema::DERIVED_TABLES`.
#[derive(Debug)]
pub struct DerivedTable {
    pub derived: Arc<Derived>,
    pub name: &'static str,
    schema: SchemaRef,
}

impl DerivedTable {
    /// The table `name`, or `None` when no derived table has that name.
    pub fn new(derived: Arc<Derived>, name: &'static str) -> Option<Self> {
        let schema = crate::schema::DERIVED_TABLES.contains(&name).then(|| crate::schema::schema_of(name)).flatten()?;
        Some(DerivedTable { derived, name, schema })
    }
}

#[async_trait::async_trait]
impl TableProvider for DerivedTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let tables =
            self.derived.tables().await.map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.name)))?;
        let batch = tables
            .get(self.name)
            .ok_or_else(|| DataFusionError::Internal(format!("derived table {} was not computed", self.name)))?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], self.schema.clone(), projection.cloned())?)
    }
}

/// `nacl_rules_at(acl, time)`: the entries of an ACL as they stood at a moment (rows of
/// `nacl_entries`, in evaluation order: ingress then egress, by rule number).
#[derive(Debug)]
pub struct RulesAtFunction {
    pub derived: Arc<Derived>,
}

impl datafusion::catalog::TableFunctionImpl for RulesAtFunction {
    fn call_with_args(
        &self,
        args: datafusion::catalog::TableFunctionArgs,
    ) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        use datafusion::common::ScalarValue;
        let usage = || {
            DataFusionError::Plan(
                "nacl_rules_at() takes an ACL id and a time, e.g. nacl_rules_at('acl-0a1b2c3d', \
                '2026-03-10T14:07:00Z')"
                    .into(),
            )
        };
        let [acl, at] = args.exprs() else { return Err(usage()) };
        let acl = match acl {
            Expr::Literal(
                ScalarValue::Utf8(Some(a)) | ScalarValue::Utf8View(Some(a)) | ScalarValue::LargeUtf8(Some(a)),
                _,
            ) => a.clone(),
            _ => return Err(usage()),
        };
        let at = literal_time(at).ok_or_else(usage)?;
        Ok(Arc::new(RulesAt { derived: self.derived.clone(), acl, at }))
    }
}

/// A time given as a literal: text (`2026-03-10T14:07:00Z`, `2026-03-10 14:07:00`) or a timestamp.
fn literal_time(e: &Expr) -> Option<i64> {
    use datafusion::common::ScalarValue;
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s)) | ScalarValue::Utf8View(Some(s)) | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => crate::time::parse_time(s).or_else(|| {
            let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()?;
            Some(d.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros())
        }),
        Expr::Literal(v, _) => match v.cast_to(&crate::schema::ts_type()).ok()? {
            ScalarValue::TimestampMicrosecond(Some(t), _) => Some(t),
            _ => None,
        },
        Expr::Cast(c) => literal_time(&c.expr),
        _ => None,
    }
}

#[derive(Debug)]
struct RulesAt {
    derived: Arc<Derived>,
    acl: String,
    at: i64,
}

/// The rows of `nacl_entries` for one ACL at one moment, in evaluation order; `None` when the
/// evidence shows nothing of that ACL.
pub fn rules_at(entries: &RecordBatch, acl: &str, at: i64) -> crate::error::Result<Option<RecordBatch>> {
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
    let col = |n: &str| {
        entries.column_by_name(n).ok_or_else(|| crate::error::Error::Lake(format!("nacl_entries has no {n}")))
    };
    let ids = col("network_acl_id")?.as_string::<i32>().clone();
    let (from, to) = (
        col("valid_from")?.as_primitive::<TimestampMicrosecondType>().clone(),
        col("valid_to")?.as_primitive::<TimestampMicrosecondType>().clone(),
    );
    let egress = col("egress")?.as_boolean().clone();
    let number = col("rule_number")?.as_primitive::<Int64Type>().clone();
    if !(0..ids.len()).any(|i| ids.value(i) == acl) {
        return Ok(None);
    }
    let mut rows: Vec<u32> = (0..ids.len())
        .filter(|&i| {
            ids.value(i) == acl && (from.is_null(i) || from.value(i) <= at) && (to.is_null(i) || to.value(i) > at)
        })
        .map(|i| i as u32)
        .collect();
    rows.sort_by_key(|&i| (egress.value(i as usize), number.value(i as usize)));
    let take = datafusion::arrow::array::UInt32Array::from(rows);
    Ok(Some(datafusion::arrow::compute::take_record_batch(entries, &take)?))
}

#[async_trait::async_trait]
impl TableProvider for RulesAt {
    fn schema(&self) -> SchemaRef {
        crate::schema::NACL_ENTRIES_SCHEMA.clone()
    }
    fn table_type(&self) -> TableType {
        TableType::View
    }
    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let tables =
            self.derived.tables().await.map_err(|e| DataFusionError::Execution(format!("nacl_rules_at: {e}")))?;
        let entries = tables
            .get(NACL_ENTRIES)
            .ok_or_else(|| DataFusionError::Internal("nacl_entries was not computed".into()))?;
        let batch = rules_at(entries, &self.acl, self.at)
            .map_err(|e| DataFusionError::Execution(format!("nacl_rules_at: {e}")))?
            .ok_or_else(|| DataFusionError::Execution(format!("nacl_rules_at: no ACL {} in the evidence", self.acl)))?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch]], self.schema(), projection.cloned())?)
    }
}
