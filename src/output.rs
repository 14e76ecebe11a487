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
    /// One JSON object per line (`jsonl` is the same).
    #[value(alias = "jsonl")]
    Ndjson,
    Parquet,
}

/// The file extensions that name a format.
pub const EXTENSIONS: &[(&str, Format)] = &[
    ("csv", Format::Csv),
    ("json", Format::Json),
    ("ndjson", Format::Ndjson),
    ("jsonl", Format::Ndjson),
    ("parquet", Format::Parquet),
    ("txt", Format::Table),
];

impl Format {
    /// The format a file name asks for: `.csv`, `.json`, `.ndjson`/`.jsonl`, `.parquet`, `.txt`.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|(_, f)| *f)
    }

    /// The format to write: the one asked for, else the one the output file's extension names,
    /// else the screen table. A file whose extension names no format is refused (rather than
    /// getting a text table under, say, `.xlsx`).
    pub fn choose(asked: Option<Format>, output: Option<&std::path::Path>) -> Result<Format> {
        if let Some(f) = asked {
            return Ok(f);
        }
        let Some(path) = output else {
            return Ok(Format::Table);
        };
        Format::from_path(path).ok_or_else(|| {
            let known: Vec<String> = EXTENSIONS.iter().map(|(e, _)| format!(".{e}")).collect();
            crate::error::Error::Invalid(format!(
                "cannot tell the output format of {}: name the file {} or give --format table|csv|json|ndjson|parquet",
                path.display(),
                known.join(", ")
            ))
        })
    }
}

/// Standard output for results. A reader that goes away (`trailflow sql ... | head`) ends the
/// process quietly with success, as other Unix tools do: the output it wanted was written.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        quiet_on_closed_pipe(std::io::stdout().write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        quiet_on_closed_pipe(std::io::stdout().flush())
    }
}

fn quiet_on_closed_pipe<T>(r: std::io::Result<T>) -> std::io::Result<T> {
    if r.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
        std::process::exit(0);
    }
    r
}

/// Cut a text to at most `n` characters for an excerpt.
pub fn excerpt(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// Longest cell shown on screen; longer ones are cut (only on screen).
const SCREEN_CELL: usize = 80;

/// A cell that a spreadsheet would run as a formula gets a leading `'`.
pub fn escape_formula(s: &str) -> Option<String> {
    matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')).then(|| format!("'{s}"))
}

/// A text column (Utf8, LargeUtf8 or Utf8View) as plain `Utf8`; `None` for other columns.
fn as_text(c: &ArrayRef) -> Result<Option<StringArray>> {
    Ok(match c.data_type() {
        DataType::Utf8 => Some(c.as_string::<i32>().clone()),
        DataType::LargeUtf8 | DataType::Utf8View => {
            Some(datafusion::arrow::compute::cast(c, &DataType::Utf8)?.as_string::<i32>().clone())
        }
        _ => None,
    })
}

/// Rewrite the text columns of a batch with `f` (their type becomes `Utf8`); other columns stay.
fn map_text(batch: &RecordBatch, f: impl Fn(&StringArray) -> Option<StringArray>) -> Result<RecordBatch> {
    use datafusion::arrow::datatypes::{Field, Schema};
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    for (c, field) in batch.columns().iter().zip(batch.schema().fields()) {
        match as_text(c)? {
            Some(text) => {
                let out = f(&text).unwrap_or(text);
                fields.push(field.as_ref().clone().with_data_type(DataType::Utf8));
                cols.push(Arc::new(out));
            }
            None => {
                fields.push(field.as_ref().clone());
                cols.push(c.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn escape_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    map_text(batch, |s| {
        s.iter().flatten().any(|v| escape_formula(v).is_some()).then(|| {
            s.iter().map(|v| v.map(|v| escape_formula(v).unwrap_or_else(|| v.to_string()))).collect()
        })
    })
}

fn truncate_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    map_text(batch, |s| {
        Some(
            s.iter()
                .map(|v| v.map(|v| excerpt(&v.replace(['\n', '\r'], " "), SCREEN_CELL)))
                .collect(),
        )
    })
}

/// An error as one line (DataFusion's can span several).
pub fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

/// Where result batches go, one batch at a time (only the screen table is gathered, to size its
/// columns).
pub enum Sink {
    Table { batches: Vec<RecordBatch>, out: Box<dyn Write + Send> },
    Csv(datafusion::arrow::csv::Writer<Box<dyn Write + Send>>),
    Json(datafusion::arrow::json::ArrayWriter<Box<dyn Write + Send>>, bool),
    Ndjson(datafusion::arrow::json::LineDelimitedWriter<Box<dyn Write + Send>>),
    Parquet(datafusion::parquet::arrow::ArrowWriter<Box<dyn Write + Send>>),
}

impl Sink {
    pub fn new(
        format: Format,
        schema: datafusion::arrow::datatypes::SchemaRef,
        out: Box<dyn Write + Send>,
    ) -> Result<Sink> {
        Ok(match format {
            Format::Table => Sink::Table { batches: Vec::new(), out },
            Format::Csv => Sink::Csv(datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(out)),
            Format::Json => Sink::Json(datafusion::arrow::json::ArrayWriter::new(out), false),
            Format::Ndjson => Sink::Ndjson(datafusion::arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => {
                let props = datafusion::parquet::file::properties::WriterProperties::builder()
                    .set_compression(datafusion::parquet::basic::Compression::ZSTD(Default::default()))
                    .build();
                // Text is written as plain strings, which every Parquet reader knows, whatever
                // string layout the query produced.
                let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(
                    schema
                        .fields()
                        .iter()
                        .map(|f| match f.data_type() {
                            DataType::LargeUtf8 | DataType::Utf8View => {
                                f.as_ref().clone().with_data_type(DataType::Utf8)
                            }
                            _ => f.as_ref().clone(),
                        })
                        .collect::<Vec<_>>(),
                ));
                Sink::Parquet(datafusion::parquet::arrow::ArrowWriter::try_new(out, schema, Some(props))?)
            }
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Table { batches, .. } => batches.push(truncate_batch(batch)?),
            Sink::Csv(w) => w.write(&escape_batch(batch)?)?,
            Sink::Json(w, any) => {
                *any = true;
                w.write(batch)?
            }
            Sink::Ndjson(w) => w.write(batch)?,
            Sink::Parquet(w) => w.write(&map_text(batch, |_| None)?)?,
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        match self {
            Sink::Table { batches, mut out } => {
                let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
                if !batches.is_empty() {
                    writeln!(out, "{}", datafusion::arrow::util::pretty::pretty_format_batches(&batches)?)?;
                }
                writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
                out.flush()?;
            }
            Sink::Csv(w) => w.into_inner().flush()?,
            Sink::Json(mut w, any) => {
                w.finish()?;
                // The writer opens and closes the array itself, even when no row came.
                let _ = any;
                let mut out = w.into_inner();
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Sink::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner().flush()?;
            }
            Sink::Parquet(w) => {
                w.into_inner()?.flush()?;
            }
        }
        Ok(())
    }
}

/// Write batches in a format.
pub fn write(format: Format, batches: &[RecordBatch], out: Box<dyn Write + Send>) -> Result<()> {
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => Arc::new(datafusion::arrow::datatypes::Schema::empty()),
    };
    let mut sink = Sink::new(format, schema, out)?;
    for b in batches {
        sink.write(b)?;
    }
    sink.finish()
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

/// A batch as a JSON array of row objects (for results that go inside a larger JSON document).
pub fn batch_json(batch: &RecordBatch) -> Result<serde_json::Value> {
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write(batch)?;
    w.finish()?;
    let bytes = w.into_inner();
    Ok(if bytes.is_empty() { serde_json::Value::Array(Vec::new()) } else { serde_json::from_slice(&bytes).map_err(|e| crate::error::Error::Invalid(e.to_string()))? })
}
