//! Writing query results: a table for the screen, CSV (escaped against spreadsheet formulas),
//! JSON and NDJSON.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
}

/// Longest cell shown on screen; longer ones are cut (only on screen).
const SCREEN_CELL: usize = 80;

/// A cell that a spreadsheet would run as a formula gets a leading `'`.
pub fn escape_formula(s: &str) -> Option<String> {
    matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')).then(|| format!("'{s}"))
}

fn escape_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for c in batch.columns() {
        if c.data_type() == &DataType::Utf8 {
            let s = c.as_string::<i32>();
            if s.iter().flatten().any(|v| escape_formula(v).is_some()) {
                let out: StringArray =
                    s.iter().map(|v| v.map(|v| escape_formula(v).unwrap_or_else(|| v.to_string()))).collect();
                cols.push(Arc::new(out));
                continue;
            }
        }
        cols.push(c.clone());
    }
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}

fn truncate_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    for c in batch.columns() {
        if c.data_type() == &DataType::Utf8 {
            let s = c.as_string::<i32>();
            let out: StringArray = s
                .iter()
                .map(|v| v.map(|v| crate::ingest::report::excerpt(&v.replace(['\n', '\r'], " "), SCREEN_CELL)))
                .collect();
            cols.push(Arc::new(out));
        } else {
            cols.push(c.clone());
        }
    }
    Ok(RecordBatch::try_new(batch.schema(), cols)?)
}

/// Write batches in a format.
pub fn write(format: Format, batches: &[RecordBatch], out: &mut dyn Write) -> Result<()> {
    match format {
        Format::Table => {
            let shown: Vec<RecordBatch> = batches.iter().map(truncate_batch).collect::<Result<_>>()?;
            let table = datafusion::arrow::util::pretty::pretty_format_batches(&shown)?;
            writeln!(out, "{table}")?;
            let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
            writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(out);
            for b in batches {
                w.write(&escape_batch(b)?)?;
            }
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
        Format::Ndjson => {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_escaped() {
        assert_eq!(escape_formula("=cmd|' /C calc'!A0").as_deref(), Some("'=cmd|' /C calc'!A0"));
        assert_eq!(escape_formula("-1"), Some("'-1".to_string()));
        assert_eq!(escape_formula("10.0.0.1"), None);
    }
}
