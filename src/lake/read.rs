//! Reading columns of a table straight from its Parquet files, without a query engine: for the
//! ingest's look at what the lake already holds, and for the search index's catch-up.

use std::fs::File;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::Lake;
use crate::error::{Error, Result};

/// Call `f` with every non-null value of one string column of a table.
pub fn for_each_string(lake: &Lake, table: &str, column: &str, mut f: impl FnMut(&str)) -> Result<()> {
    for path in lake.table_files(table)? {
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let Some(idx) = builder.schema().fields().iter().position(|fl| fl.name() == column) else {
            continue;
        };
        let mask = ProjectionMask::roots(builder.parquet_schema(), [idx]);
        for batch in builder.with_projection(mask).with_batch_size(64 * 1024).build()? {
            let batch = batch?;
            let col = batch.column(0).as_string::<i32>();
            for i in 0..col.len() {
                if col.is_valid(i) {
                    f(col.value(i));
                }
            }
        }
    }
    Ok(())
}

/// Call `f` with batches of the named columns (in that order) of every file of a table.
pub fn for_each_batch(
    lake: &Lake,
    table: &str,
    columns: &[&str],
    mut f: impl FnMut(&datafusion::arrow::record_batch::RecordBatch),
) -> Result<()> {
    for_each_batch_in(&lake.table_files(table)?, columns, |b| {
        f(b);
        Ok(())
    })
}

/// Call `f` with batches of the named columns (in that order) of the given Parquet files; a file
/// that lacks one of the columns is passed over.
pub fn for_each_batch_in(
    files: &[std::path::PathBuf],
    columns: &[&str],
    mut f: impl FnMut(&datafusion::arrow::record_batch::RecordBatch) -> Result<()>,
) -> Result<()> {
    for path in files {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let idx: Vec<usize> =
            columns.iter().filter_map(|c| builder.schema().fields().iter().position(|fl| fl.name() == c)).collect();
        if idx.len() != columns.len() {
            continue;
        }
        let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
        for batch in builder.with_projection(mask).with_batch_size(64 * 1024).build()? {
            let batch = batch?;
            let cols: Vec<_> = columns.iter().map(|c| batch.column_by_name(c).expect("projected").clone()).collect();
            let ordered = datafusion::arrow::record_batch::RecordBatch::try_new(
                std::sync::Arc::new(datafusion::arrow::datatypes::Schema::new(
                    columns
                        .iter()
                        .map(|c| batch.schema().field_with_name(c).expect("projected").clone())
                        .collect::<Vec<_>>(),
                )),
                cols,
            )?;
            f(&ordered)?;
        }
    }
    Ok(())
}
