//! The query session over a lake: one function builds it (tables, Parquet settings, memory), and
//! helpers run read-only SQL.

use std::sync::Arc;

use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;
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

/// Build the session over a lake: every table that exists, registered under its name.
pub async fn session(lake: &Lake) -> Result<SessionContext> {
    let mut config = SessionConfig::new()
        // `information_schema` lets users (and `stats`) list tables and columns in SQL.
        .with_information_schema(true)
        .with_target_partitions(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    {
        let pq = &mut config.options_mut().execution.parquet;
        // Evaluate filters while decoding Parquet, skipping rows (not only row groups).
        pq.pushdown_filters = true;
        // Put the cheapest, most selective filters first.
        pq.reorder_filters = true;
        // Use the page index (per-page min/max) to skip pages.
        pq.enable_page_index = true;
        // Use the bloom filters written on lookup columns (event_id, srcaddr, ...).
        pq.bloom_filter_on_read = true;
    }
    let runtime = RuntimeEnvBuilder::new()
        // Bounded memory: operators that can spill do, the others fail with a clear error.
        .with_memory_pool(Arc::new(FairSpillPool::new(DEFAULT_MEMORY_LIMIT)))
        .build_arc()?;
    let mut state =
        SessionStateBuilder::new().with_config(config).with_runtime_env(runtime).with_default_features().build();
    crate::functions::register_all(&mut state)?;
    let ctx = SessionContext::new_with_state(state);
    register_tables(&ctx, lake).await?;
    Ok(ctx)
}

/// Register every table of the lake that has files.
pub async fn register_tables(ctx: &SessionContext, lake: &Lake) -> Result<()> {
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
            .with_schema(schema::schema_of(table).expect("known table"));
        let provider = ListingTable::try_new(config)?;
        ctx.register_table(*table, Arc::new(provider))?;
    }
    Ok(())
}

/// SQL options for users' queries: read-only.
pub fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// Run one read-only query and collect its result.
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let df = ctx.sql_with_options(sql, read_only()).await?;
    Ok(df.collect().await?)
}
