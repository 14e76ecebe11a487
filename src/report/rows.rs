//! Query results as JSON rows, and their values as text, numbers and times: what the pages are
//! built from.

use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Map, Value};

use crate::error::Result;

/// Record batches as typed rows (by column name; columns the type lacks are ignored).
pub(super) fn typed<T: serde::de::DeserializeOwned>(batches: &[RecordBatch]) -> Result<Vec<T>> {
    Ok(rows(batches)?
        .into_iter()
        .map(|r| serde_json::from_value(Value::Object(r)))
        .collect::<std::result::Result<_, _>>()?)
}

/// Record batches as JSON objects, one per row.
pub(super) fn rows(batches: &[RecordBatch]) -> Result<Vec<Map<String, Value>>> {
    let mut buf = Vec::new();
    {
        let mut w = datafusion::arrow::json::ArrayWriter::new(&mut buf);
        for b in batches {
            w.write(b)?;
        }
        w.finish()?;
    }
    if buf.is_empty() {
        return Ok(Vec::new());
    }
    let v: Vec<Map<String, Value>> = serde_json::from_slice(&buf)?;
    Ok(v)
}

/// A value of a JSON row as text (absent or null: empty).
pub(super) fn text(row: &Map<String, Value>, key: &str) -> String {
    match row.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

pub(super) fn int(row: &Map<String, Value>, key: &str) -> i64 {
    match row.get(key) {
        Some(Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    }
}

/// A time column's text as microseconds.
pub(super) fn micros(row: &Map<String, Value>, key: &str) -> Option<i64> {
    crate::time::parse_time(&text(row, key))
}
