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
    for_each_batch_in(table, &lake.table_files(table)?, columns, |b| {
        f(b);
        Ok(())
    })
}

/// Call `f` with batches of the named columns (in that order) of the given Parquet files of
/// `table`, their values as they were read ([`super::elide::restore`]); a file that lacks one of
/// the columns is passed over.
pub fn for_each_batch_in(
    table: &str,
    files: &[std::path::PathBuf],
    columns: &[&str],
    mut f: impl FnMut(&datafusion::arrow::record_batch::RecordBatch) -> Result<()>,
) -> Result<()> {
    let extra = super::elide::sources(table, columns);
    for path in files {
        let file = File::open(path).map_err(|e| Error::io(path, e))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
        let position = |c: &&str| builder.schema().fields().iter().position(|fl| fl.name() == c);
        let idx: Vec<usize> = columns.iter().filter_map(position).collect();
        if idx.len() != columns.len() {
            continue;
        }
        // The columns that put back what the asked ones store in part, where the file has them.
        let idx: Vec<usize> = idx.into_iter().chain(extra.iter().filter_map(position)).collect();
        let mask = ProjectionMask::roots(builder.parquet_schema(), idx);
        for batch in builder.with_projection(mask).with_batch_size(64 * 1024).build()? {
            let batch = super::elide::restore(table, batch?)?;
            let order: Vec<usize> =
                columns.iter().map(|c| batch.schema().index_of(c)).collect::<std::result::Result<_, _>>()?;
            f(&batch.project(&order)?)?;
        }
    }
    Ok(())
}
