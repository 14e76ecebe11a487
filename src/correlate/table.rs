//! `nacl_changes` as a SQL table, computed from the lake when a query first reads it, and the
//! `acl_allows(rules, egress, protocol, peer, port)` function over its `rules_before` /
//! `rules_after` columns.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::DataFusionError;
use datafusion::datasource::TableType;
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::logical_expr::{ColumnarValue, Expr, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use datafusion::physical_plan::ExecutionPlan;
use tokio::sync::OnceCell;

use super::acl::{Entry, allows};
use crate::functions::{Strs, parse_ip};
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
                let ctx = crate::query::base_session_scoped(&self.lake, &self.scope).await?;
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

/// `acl_allows(rules, egress, protocol, peer, port)`: does the rule set (JSON of `rules_before` or
/// `rules_after`) let this packet through, as AWS evaluates it? NULL when the rules are unknown, the
/// peer is not an address, or an entry the evidence does not show could decide.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AclAllows {
    signature: Signature,
}

impl AclAllows {
    pub fn new() -> Self {
        AclAllows { signature: Signature::any(5, Volatility::Immutable) }
    }
}

impl Default for AclAllows {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for AclAllows {
    fn name(&self) -> &str {
        "acl_allows"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        // Rule sets repeat row after row. As a dictionary (what queries/correlate.sql passes),
        // each distinct set is parsed once and rows point at it by key; as plain text, each
        // distinct text is parsed once per batch.
        let (keys, rules) = match arrays[0].as_any().downcast_ref::<datafusion::arrow::array::DictionaryArray<datafusion::arrow::datatypes::Int32Type>>() {
            Some(d) => (Some(d.keys().clone()), d.values().clone()),
            None => (None, arrays[0].clone()),
        };
        let rules = Strs::of(&rules)?;
        let sets: Option<Vec<Option<Vec<Entry>>>> = keys.as_ref().map(|_| {
            (0..rules.len()).map(|k| rules.get(k).and_then(|t| serde_json::from_str(t).ok())).collect()
        });
        let egress = datafusion::arrow::compute::cast(&arrays[1], &DataType::Boolean)?;
        let egress = egress.as_any().downcast_ref::<BooleanArray>().expect("boolean");
        let protocol = crate::functions::ints(&arrays[2])?;
        let protocol = protocol.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().expect("int64");
        let peers = Strs::of(&arrays[3])?;
        let port = crate::functions::ints(&arrays[4])?;
        let port = port.as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().expect("int64");
        // Rule sets repeat row after row: parse each distinct text once.
        let mut parsed: HashMap<&str, Option<Vec<Entry>>> = HashMap::new();
        let rows = arrays[1].len();
        let out: BooleanArray = (0..rows)
            .map(|i| {
                let set = match (&keys, &sets) {
                    (Some(keys), Some(sets)) => {
                        if keys.is_null(i) {
                            return None;
                        }
                        sets.get(keys.value(i) as usize)?.as_ref()?
                    }
                    _ => {
                        let text = rules.get(i)?;
                        parsed.entry(text).or_insert_with(|| serde_json::from_str(text).ok()).as_ref()?
                    }
                };
                if egress.is_null(i) || protocol.is_null(i) {
                    return None;
                }
                let peer = parse_ip(peers.get(i)?)?;
                let port = (!port.is_null(i)).then(|| port.value(i));
                allows(set, egress.value(i), protocol.value(i), peer, port)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
