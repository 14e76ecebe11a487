//! `nacl_changes` and the other derived tables as SQL tables, computed from the lake when a query
//! first reads one of them.

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

/// The derived tables of a session (`nacl_changes`, `network_interfaces`, `acl_associations`,
/// `nacl_entries`),
/// computed together from the lake when a query first reads one of them.
#[derive(Debug)]
pub struct Derived {
    pub lake: Lake,
    pub trusted: Option<Vec<ipnet::IpNet>>,
    pub scope: crate::query::Scope,
    cache: OnceCell<Vec<RecordBatch>>,
}

/// The names of the derived tables, in the order [`Derived::tables`] returns them.
pub const DERIVED: &[&str] = &["nacl_changes", "network_interfaces", "acl_associations", "nacl_entries"];

impl Derived {
    pub fn new(lake: Lake, trusted: Option<Vec<ipnet::IpNet>>, scope: crate::query::Scope) -> Self {
        Derived { lake, trusted, scope, cache: OnceCell::new() }
    }

    pub async fn tables(&self) -> crate::error::Result<Vec<RecordBatch>> {
        self.cache
            .get_or_try_init(|| async {
                let ctx = crate::query::tables_session(&self.lake, &self.scope).await?;
                let ev = super::load(&ctx).await?;
                let trusted = super::trusted_networks(&ev, self.trusted.as_deref());
                let replay = super::replay(&ev);
                let ifaces = super::topology::interfaces(&ctx, &ev).await?;
                let assoc = super::topology::associations(&ctx, &ev, &replay, &ifaces).await?;
                Ok(vec![
                    super::batch(&super::changes(&ev, &trusted))?,
                    super::topology::interfaces_batch(&ifaces)?,
                    super::topology::associations_batch(&assoc)?,
                    super::topology::entries_batch(&super::topology::entries(&replay, &ev))?,
                ])
            })
            .await
            .cloned()
    }
}

/// One derived table.
#[derive(Debug)]
pub struct DerivedTable {
    pub derived: Arc<Derived>,
    pub index: usize,
}

impl DerivedTable {
    fn table_schema(&self) -> SchemaRef {
        match self.index {
            0 => super::schema(),
            1 => super::topology::interfaces_schema(),
            2 => super::topology::associations_schema(),
            _ => super::topology::entries_schema(),
        }
    }
}

#[async_trait::async_trait]
impl TableProvider for DerivedTable {
    fn schema(&self) -> SchemaRef {
        self.table_schema()
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
        let tables = self
            .derived
            .tables()
            .await
            .map_err(|e| DataFusionError::Execution(format!("{}: {e}", DERIVED[self.index])))?;
        Ok(MemorySourceConfig::try_new_exec(&[vec![tables[self.index].clone()]], self.table_schema(), projection.cloned())?)
    }
}

