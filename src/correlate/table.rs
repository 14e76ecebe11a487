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
use crate::schema::{ACL_ASSOCIATIONS, NACL_CHANGES, NACL_ENTRIES, NETWORK_INTERFACES};

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
                let replay = super::replay(&ev);
                let ifaces = super::topology::interfaces(&ctx, &ev).await?;
                let assoc = super::topology::associations(&ctx, &ev, &replay, &ifaces).await?;
                let changes = super::changes(&ev, &trusted, &assoc);
                Ok(BTreeMap::from([
                    (NACL_CHANGES, super::batch(&changes)?),
                    (NETWORK_INTERFACES, super::topology::interfaces_batch(&ifaces)?),
                    (ACL_ASSOCIATIONS, super::topology::associations_batch(&assoc)?),
                    (NACL_ENTRIES, super::topology::entries_batch(&super::topology::entries(&replay, &ev))?),
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
        let tables = self.derived.tables().await.map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.name)))?;
        let batch = tables
            .get(self.name)
            .ok_or_else(|| DataFusionError::Internal(format!("derived table {} was not computed", self.name)))?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![batch.clone()]], self.schema.clone(), projection.cloned())?)
    }
}
