//! Evidence in Apache Parquet: VPC flow logs as AWS delivers them in that format, and Amazon
//! Security Lake's OCSF records (CloudTrail and VPC flow logs; mapped by [`super::ocsf`]).
//!
//! VPC flow logs delivered as Apache Parquet (`..._vpcflowlogs_<region>_<fl-id>_<time>_<hash>.log.parquet`,
//! Hive-style or plain S3 layout). AWS names the columns after the fields with `_` for `-`
//! (`account_id`, `interface_id`, `log_status`; `start` and `end` as Unix seconds) and types them
//! `int`/`bigint`/`string`. Each row is handed on as the text record it stands for, after a header
//! line of the columns it has, so that the flow decoder reads it exactly as it reads a text file:
//! the same types, checks and `extra_fields` for columns it does not know.

use datafusion::arrow::array::{Array, ArrayRef, AsArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::file::reader::ChunkReader;

use crate::schema::flow_field;

/// Rows read per batch.
const BATCH: usize = 8192;

/// Does a Parquet file with these columns hold flow records? At least four known flow fields, an
/// address or an interface among them.
fn is_flow_table(names: &[&str]) -> bool {
    let known = names.iter().filter(|n| flow_field(n).is_some()).count();
    let addressed = names.iter().any(|n| matches!(*n, "srcaddr" | "dstaddr" | "interface_id" | "interface-id"));
    addressed && known >= 4
}

/// What a Parquet file that is not evidence seems to be, for the reason it is rejected with.
fn what_it_is(names: &[&str]) -> String {
    let has = |n: &str| names.contains(&n);
    let shown = names.iter().take(8).copied().collect::<Vec<_>>().join(", ");
    if has("event_id") && has("event_time") && has("raw") {
        "a Parquet file of a trailflow lake, not evidence: query the lake itself".to_string()
    } else {
        format!(
            "a Parquet file that is not a VPC flow log (columns {shown}{})",
            if names.len() > 8 { ", ..." } else { "" }
        )
    }
}

/// A column as text, one value a row: time columns as Unix seconds, as the text records have them.
fn as_text(col: &ArrayRef) -> Result<ArrayRef, super::Rejected> {
    let col = match col.data_type() {
        DataType::Timestamp(_, _) => {
            let secs = cast(col, &DataType::Timestamp(TimeUnit::Second, None)).map_err(|e| e.to_string())?;
            cast(&secs, &DataType::Int64).map_err(|e| e.to_string())?
        }
        _ => col.clone(),
    };
    if matches!(col.data_type(), DataType::Float32 | DataType::Float64) {
        // Counts and ports in a double column: a whole number is the integer it stands for; a
        // fraction stays as written, for the flow decoder to reject with its record.
        let f = cast(&col, &DataType::Float64).map_err(|e| e.to_string())?;
        let f = f.as_primitive::<datafusion::arrow::datatypes::Float64Type>();
        let text: datafusion::arrow::array::StringArray = f
            .iter()
            .map(|v| {
                v.map(|v| if v.fract() == 0.0 && v.abs() < 9.0e15 { format!("{}", v as i64) } else { format!("{v}") })
            })
            .collect();
        return Ok(std::sync::Arc::new(text));
    }
    cast(&col, &DataType::Utf8).map_err(|e| format!("a column of type {} cannot be read: {e}", col.data_type()).into())
}

/// What a Parquet file hands on, row by row.
pub enum Row<'a> {
    /// A flow log's text line: its header first (n = 0), then each row (n = its 1-based position).
    Flow(u64, &'a str),
    /// An OCSF record as JSON, and its position.
    Ocsf(u64, &'a str),
}

/// Read a Parquet file of evidence, handing on each row. Fails with a reason naming what the file
/// is when it is not evidence, or where it is corrupt.
pub fn read<R: ChunkReader + 'static>(input: R, line: &mut dyn FnMut(Row<'_>)) -> Result<(), super::Rejected> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(input).map_err(|e| format!("unreadable Parquet: {e}"))?;
    let schema = builder.schema().clone();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    if names.contains(&"class_uid") {
        return read_ocsf(builder, line);
    }
    if !is_flow_table(&names) {
        return Err(what_it_is(&names).into());
    }
    // The columns read: known fields first (a header starts with one), then the others whose
    // names can stand in a header (kept in extra_fields); nested columns are left out.
    let mut used: Vec<usize> = (0..names.len()).filter(|i| flow_field(names[*i]).is_some()).collect();
    used.extend((0..names.len()).filter(|i| {
        let n = names[*i];
        flow_field(n).is_none()
            && !n.is_empty()
            && n.bytes().all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_')
            && !schema.field(*i).data_type().is_nested()
    }));
    let header = used.iter().map(|i| names[*i]).collect::<Vec<_>>().join(" ");
    line(Row::Flow(0, &header));
    let reader = builder.with_batch_size(BATCH).build().map_err(|e| format!("unreadable Parquet: {e}"))?;
    let mut row = 0u64;
    let mut text = String::with_capacity(256);
    for batch in reader {
        let batch = batch.map_err(|e| format!("corrupt Parquet after row {row}: {e}"))?;
        let cols: Vec<ArrayRef> = used.iter().map(|i| as_text(batch.column(*i))).collect::<Result<_, _>>()?;
        let cols: Vec<_> = cols.iter().map(|c| c.as_string::<i32>()).collect();
        for r in 0..batch.num_rows() {
            row += 1;
            text.clear();
            for (k, c) in cols.iter().enumerate() {
                if k > 0 {
                    text.push(' ');
                }
                // A value with white space in it shifts the fields after it: the decoder then
                // rejects the row, naming it, rather than read it wrong.
                match c.is_valid(r).then(|| c.value(r)).filter(|v| !v.is_empty()) {
                    Some(v) => text.push_str(v),
                    None => text.push('-'),
                }
            }
            line(Row::Flow(row, &text));
        }
    }
    Ok(())
}

/// OCSF rows as JSON objects, nested as the schema nests them.
fn read_ocsf<R: ChunkReader + 'static>(
    builder: ParquetRecordBatchReaderBuilder<R>,
    line: &mut dyn FnMut(Row<'_>),
) -> Result<(), super::Rejected> {
    let reader = builder.with_batch_size(BATCH).build().map_err(|e| format!("unreadable Parquet: {e}"))?;
    let mut row = 0u64;
    let mut buf = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| format!("corrupt Parquet after row {row}: {e}"))?;
        buf.clear();
        {
            let mut w = datafusion::arrow::json::LineDelimitedWriter::new(&mut buf);
            w.write(&batch).map_err(|e| format!("OCSF row {} cannot be read: {e}", row + 1))?;
            w.finish().map_err(|e| e.to_string())?;
        }
        for text in buf.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            row += 1;
            line(Row::Ocsf(row, &String::from_utf8_lossy(text)));
        }
    }
    Ok(())
}
