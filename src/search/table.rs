//! `search('QUERY')` in SQL: a table of the matching events (the columns of a `trailflow search`
//! result) that joins back to `cloudtrail` on `event_id`.
//!
//! Filters on its `event_time` (`>`, `>=`, `<`, `<=`, `=`, `BETWEEN`, against constants) are
//! handed to the index as a time range, so only hits in range are read. DataFusion keeps the
//! filter above the scan as well (the pushdown is declared inexact), so results never depend on
//! it. Joined to `cloudtrail`, the hits are the small build side of a hash join whose dynamic
//! filter (the hits' `event_id` values and time bounds) prunes the Parquet row groups of
//! `cloudtrail` by statistics and bloom filter: only row groups that hold hits are read.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::{DataFusionError, ScalarValue};
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::ExecutionPlan;

use super::{SearchRequest, result_schema, search};
use crate::lake::Lake;

/// The table function; holds the lake whose index it searches.
#[derive(Debug)]
pub struct SearchFunction {
    pub lake: Lake,
}

impl TableFunctionImpl for SearchFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> datafusion::error::Result<Arc<dyn TableProvider>> {
        let query = match args.exprs() {
            [
                Expr::Literal(
                    ScalarValue::Utf8(Some(q)) | ScalarValue::Utf8View(Some(q)) | ScalarValue::LargeUtf8(Some(q)),
                    _,
                ),
            ] => q.clone(),
            _ => {
                return Err(DataFusionError::Plan(
                    "search() takes one text literal, e.g. search('45.137.21.9') or search('event_name:StopLogging')"
                        .into(),
                ));
            }
        };
        Ok(Arc::new(SearchTable { lake: self.lake.clone(), query }))
    }
}

#[derive(Debug)]
struct SearchTable {
    lake: Lake,
    query: String,
}

/// The time bound a filter puts on `event_time`, if it is one: (from inclusive, to exclusive).
fn time_bound(e: &Expr) -> Option<(Option<i64>, Option<i64>)> {
    fn micros(e: &Expr) -> Option<i64> {
        match e {
            Expr::Literal(v, _) => match v.cast_to(&crate::schema::ts_type()).ok()? {
                ScalarValue::TimestampMicrosecond(Some(t), _) => Some(t),
                _ => None,
            },
            Expr::Cast(c) => micros(&c.expr),
            Expr::TryCast(c) => micros(&c.expr),
            _ => None,
        }
    }
    let is_time = |e: &Expr| matches!(e, Expr::Column(c) if c.name == "event_time");
    match e {
        Expr::BinaryExpr(b) => {
            let (op, t) = if is_time(&b.left) {
                (b.op, micros(&b.right)?)
            } else if is_time(&b.right) {
                (b.op.swap()?, micros(&b.left)?)
            } else {
                return None;
            };
            match op {
                Operator::Gt => Some((Some(t + 1), None)),
                Operator::GtEq => Some((Some(t), None)),
                Operator::Lt => Some((None, Some(t))),
                Operator::LtEq => Some((None, Some(t + 1))),
                Operator::Eq => Some((Some(t), Some(t + 1))),
                _ => None,
            }
        }
        Expr::Between(b) if !b.negated && is_time(&b.expr) => Some((Some(micros(&b.low)?), Some(micros(&b.high)? + 1))),
        _ => None,
    }
}

#[async_trait::async_trait]
impl TableProvider for SearchTable {
    fn schema(&self) -> SchemaRef {
        result_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> datafusion::error::Result<Vec<TableProviderFilterPushDown>> {
        Ok(filters
            .iter()
            .map(|f| {
                if time_bound(f).is_some() {
                    TableProviderFilterPushDown::Inexact
                } else {
                    TableProviderFilterPushDown::Unsupported
                }
            })
            .collect())
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        _limit: Option<usize>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        let mut req = SearchRequest { query: self.query.clone(), ..Default::default() };
        for (from, to) in filters.iter().filter_map(time_bound) {
            if let Some(f) = from {
                req.from = Some(req.from.map_or(f, |x| x.max(f)));
            }
            if let Some(t) = to {
                req.to = Some(req.to.map_or(t, |x| x.min(t)));
            }
        }
        let lake = self.lake.clone();
        let batches = tokio::task::spawn_blocking(move || search(&lake, &req))
            .await
            .map_err(|e| DataFusionError::Execution(format!("search: {e}")))?
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        Ok(MemorySourceConfig::try_new_exec(&[batches], result_schema(), projection.cloned())?)
    }
}
