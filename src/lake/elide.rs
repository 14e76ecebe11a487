//! Values the lake stores once although two columns hold them.
//!
//! Parquet compresses each column on its own, so a value held by two columns is paid for twice,
//! and a random one (a UUID) costs its full entropy both times; inside `raw` it also breaks the
//! runs that zstd would otherwise find between neighbouring records. Two such pairs are stored
//! once:
//!
//! - `cloudtrail.raw` holds the record's `eventID` and `requestID` values, which are also the
//!   `event_id` and `request_id` columns. In the file, the value's first quoted occurrence in
//!   `raw` is replaced by one character: U+0001 for the event id, U+0002 for the request id.
//!   A JSON text never holds either unescaped, so a marker never stands for itself, and the
//!   record comes back byte for byte. Ids shorter than [`MIN_ID`] are left in place.
//! - `flow_logs.pkt_srcaddr` and `pkt_dstaddr` are stored as the empty string where they equal
//!   `srcaddr` and `dstaddr` (most rows; a flow record never holds an empty field, and an empty
//!   value read from elsewhere is stored as absent).
//! - `flow_logs.end_time`, where it lies a whole number of seconds `d` at or after `start_time`
//!   (every flow record: AWS writes both in seconds), is stored as the number `-1 - d` (as
//!   microseconds, a time before 1970, which the lake never stores: [`crate::time::MIN_TIME_MICROS`]).
//!   The two times of a record are as random as each other, but the seconds between them are a
//!   few values (the aggregation interval's): 24.8 MB became 7.8 on the large benchmark set.
//!
//! Every reader puts the values back: the SQL tables through [`view_exprs`] (a view over the
//! Parquet files), and code that reads Parquet itself through [`restore`]. A file written before
//! this holds the values in full, which reads back unchanged. `docs/lake.md` gives other engines
//! the same expressions.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, StringArray, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::prelude::{Expr, cast, col, lit, when};

use crate::error::Result;
use crate::schema::{CLOUDTRAIL, FLOW_LOGS};

/// Stands for the `event_id` column's value in a stored `raw`.
pub const EVENT_ID_MARK: char = '\u{1}';
/// Stands for the `request_id` column's value in a stored `raw`.
pub const REQUEST_ID_MARK: char = '\u{2}';
/// Ids shorter than this stay in `raw`: they save little, and a short value (`"1"`) may first
/// occur elsewhere in the record, which a reader of the file would find confusing.
pub const MIN_ID: usize = 16;

/// The flow columns stored as `""` where they equal another column: (column, the other column).
const SAME_AS: [(&str, &str); 2] = [("pkt_srcaddr", "srcaddr"), ("pkt_dstaddr", "dstaddr")];

/// The flow column stored as seconds after another: (column, the column it counts from).
const SECONDS_AFTER: (&str, &str) = ("end_time", "start_time");
const MICROS: i64 = 1_000_000;

/// The columns a reader must also read to restore `columns` of `table`.
pub fn sources(table: &str, columns: &[&str]) -> Vec<&'static str> {
    let mut extra: Vec<&'static str> = Vec::new();
    let mut need = |c: &'static str| {
        if !columns.contains(&c) && !extra.contains(&c) {
            extra.push(c);
        }
    };
    match table {
        CLOUDTRAIL if columns.contains(&"raw") => {
            need("event_id");
            need("request_id");
        }
        FLOW_LOGS => {
            for (pkt, addr) in SAME_AS.into_iter().chain([SECONDS_AFTER]) {
                if columns.contains(&pkt) {
                    need(addr);
                }
            }
        }
        _ => {}
    }
    extra
}

/// Columns of `table` whose stored values are not times at all (`end_time`, stored as seconds
/// after the start): statistics of them would be of no use to a reader, and wrong to one that
/// pruned by them.
pub fn coded_columns(table: &str) -> &'static [&'static str] {
    match table {
        FLOW_LOGS => &[SECONDS_AFTER.0],
        _ => &[],
    }
}

/// `raw` as stored: the first quoted occurrence of `event_id`, then of `request_id`, replaced by
/// its marker. `None` when nothing is left out (no id long enough, not found, or a marker
/// already in the text: a record stored before, or not JSON).
pub fn elide_raw(raw: &str, event_id: &str, request_id: Option<&str>) -> Option<String> {
    if memchr::memchr2(EVENT_ID_MARK as u8, REQUEST_ID_MARK as u8, raw.as_bytes()).is_some() {
        return None;
    }
    let long = |id: &&str| id.len() >= MIN_ID;
    let event = Some(event_id).filter(long).and_then(|id| Some((find_quoted(raw, id, None)?, id.len(), EVENT_ID_MARK)));
    // The request id's occurrence is another than the event id's (the two may be equal).
    let skip = event.map(|(at, len, _)| at..at + len);
    let request = request_id.filter(long).and_then(|id| Some((find_quoted(raw, id, skip)?, id.len(), REQUEST_ID_MARK)));
    let mut cuts: Vec<(usize, usize, char)> = [event, request].into_iter().flatten().collect();
    if cuts.is_empty() {
        return None;
    }
    cuts.sort_unstable();
    let mut out = String::with_capacity(raw.len());
    let mut done = 0;
    for (at, len, mark) in cuts {
        out.push_str(&raw[done..at]);
        out.push(mark);
        done = at + len;
    }
    out.push_str(&raw[done..]);
    Some(out)
}

/// Where `"value"` first occurs in `text` outside `skip`: the position of the value (after its
/// quote).
fn find_quoted(text: &str, value: &str, skip: Option<std::ops::Range<usize>>) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memmem::find(&bytes[from..], value.as_bytes()) {
        let at = from + i;
        let end = at + value.len();
        let overlaps = skip.as_ref().is_some_and(|s| at < s.end && s.start < end);
        if !overlaps && at > 0 && bytes[at - 1] == b'"' && bytes.get(end) == Some(&b'"') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// `raw` as the record was: each marker replaced by its id.
pub fn restore_raw<'a>(raw: &'a str, event_id: &str, request_id: Option<&str>) -> Cow<'a, str> {
    let mut out = String::new();
    match restore_raw_into(raw, event_id, request_id, &mut out) {
        true => Cow::Owned(out),
        false => Cow::Borrowed(raw),
    }
}

/// [`restore_raw`] into `out` (cleared first); `false`, leaving `out` empty, when `raw` holds no
/// marker and is the record as it is.
pub fn restore_raw_into(raw: &str, event_id: &str, request_id: Option<&str>, out: &mut String) -> bool {
    out.clear();
    let bytes = raw.as_bytes();
    let Some(first) = memchr::memchr2(EVENT_ID_MARK as u8, REQUEST_ID_MARK as u8, bytes) else {
        return false;
    };
    out.reserve(raw.len() + event_id.len() + request_id.map_or(0, str::len));
    let mut done = 0;
    let mut next = Some(first);
    while let Some(at) = next {
        out.push_str(&raw[done..at]);
        out.push_str(if bytes[at] == EVENT_ID_MARK as u8 { event_id } else { request_id.unwrap_or("") });
        done = at + 1;
        next = memchr::memchr2(EVENT_ID_MARK as u8, REQUEST_ID_MARK as u8, &bytes[done..]).map(|i| done + i);
    }
    out.push_str(&raw[done..]);
    true
}

/// `restore_raw(raw, event_id, request_id)`: the SQL function the `cloudtrail` table's `raw` is
/// read through ([`view_exprs`]). The same as `replace(replace(raw, chr(1), event_id), chr(2),
/// coalesce(request_id, ''))`, in one pass.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RestoreRaw {
    signature: datafusion::logical_expr::Signature,
}

impl RestoreRaw {
    pub fn new() -> Self {
        RestoreRaw {
            signature: datafusion::logical_expr::Signature::string(3, datafusion::logical_expr::Volatility::Immutable),
        }
    }
}

impl Default for RestoreRaw {
    fn default() -> Self {
        Self::new()
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for RestoreRaw {
    fn name(&self) -> &str {
        "restore_raw"
    }
    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8View)
    }
    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<datafusion::logical_expr::ColumnarValue> {
        use datafusion::arrow::array::{StringViewArray, StringViewBuilder};
        let n = args.number_rows;
        let cols: Vec<ArrayRef> = args
            .args
            .iter()
            .map(|a| a.to_array(n).and_then(|a| Ok(datafusion::arrow::compute::cast(&a, &DataType::Utf8View)?)))
            .collect::<datafusion::error::Result<_>>()?;
        let (raw, ids, reqs) = (cols[0].as_string_view(), cols[1].as_string_view(), cols[2].as_string_view());
        let mut out = StringViewBuilder::with_capacity(n);
        let mut scratch = String::new();
        for i in 0..n {
            if raw.is_null(i) {
                out.append_null();
                continue;
            }
            let id = if ids.is_valid(i) { ids.value(i) } else { "" };
            let req = reqs.is_valid(i).then(|| reqs.value(i));
            match restore_raw_into(raw.value(i), id, req, &mut scratch) {
                true => out.append_value(&scratch),
                false => out.append_value(raw.value(i)),
            }
        }
        let out: StringViewArray = out.finish();
        Ok(datafusion::logical_expr::ColumnarValue::Array(Arc::new(out)))
    }
}

/// Rows of `table` as the lake stores them (see the module's notes); other tables unchanged.
pub fn store(table: &str, batch: RecordBatch) -> Result<RecordBatch> {
    match table {
        CLOUDTRAIL => map_raw(batch, |raw, id, req| elide_raw(raw, id, req).map(Cow::Owned)),
        FLOW_LOGS => map_seconds_after(
            map_same_as(batch, |pkt, addr| match (pkt, addr) {
                ("", _) => None,
                (p, Some(a)) if p == a => Some(""),
                (p, _) => Some(p),
            })?,
            stored_end,
        ),
        _ => Ok(batch),
    }
}

/// An end time as stored, given its start (microseconds): `-1 - seconds` from the start when it
/// is a whole number of seconds at or after it, else the time itself.
pub fn stored_end(start: i64, end: i64) -> i64 {
    match end.checked_sub(start) {
        Some(d) if d >= 0 && d % MICROS == 0 => -1 - d / MICROS,
        _ => end,
    }
}

/// An end time as it was, from its stored value and its start ([`stored_end`] undone); a stored
/// time (zero or more) is the time itself.
pub fn restored_end(start: i64, stored: i64) -> i64 {
    match stored {
        0.. => stored,
        _ => start.saturating_add((-1i64).saturating_sub(stored).saturating_mul(MICROS)),
    }
}

/// Stored rows of `table` as they were: the columns of the batch that are stored in part put
/// back from the columns they were taken from (which the batch must hold where [`sources`] says).
pub fn restore(table: &str, batch: RecordBatch) -> Result<RecordBatch> {
    match table {
        // A file written before the ids were left out (or whose ids are short) has no marker:
        // its rows are handed on as they are, not copied.
        CLOUDTRAIL if !has_marker(&batch) => Ok(batch),
        CLOUDTRAIL => map_raw(batch, |raw, id, req| match restore_raw(raw, id, req) {
            Cow::Borrowed(_) => None,
            owned => Some(owned),
        }),
        FLOW_LOGS => map_seconds_after(
            map_same_as(batch, |pkt, addr| match pkt {
                "" => addr,
                p => Some(p),
            })?,
            restored_end,
        ),
        _ => Ok(batch),
    }
}

/// Replace `end_time` by `f(start_time, end_time)` in the rows that hold both (a null stays null).
fn map_seconds_after(batch: RecordBatch, f: fn(i64, i64) -> i64) -> Result<RecordBatch> {
    use datafusion::arrow::array::{PrimitiveArray, TimestampMicrosecondArray};
    use datafusion::arrow::datatypes::TimestampMicrosecondType;
    let (end_col, start_col) = SECONDS_AFTER;
    let schema = batch.schema();
    let (Ok(at), Ok(from)) = (schema.index_of(end_col), schema.index_of(start_col)) else {
        return Ok(batch);
    };
    let (Some(end), Some(start)) = (
        batch.column(at).as_primitive_opt::<TimestampMicrosecondType>(),
        batch.column(from).as_primitive_opt::<TimestampMicrosecondType>(),
    ) else {
        return Ok(batch);
    };
    if end.null_count() == end.len() || start.null_count() == start.len() {
        return Ok(batch);
    }
    let values: Vec<i64> = (0..end.len())
        .map(|i| match start.is_valid(i) {
            true => f(start.value(i), end.value(i)),
            false => end.value(i),
        })
        .collect();
    let new: TimestampMicrosecondArray =
        PrimitiveArray::new(values.into(), end.nulls().cloned()).with_data_type(end.data_type().clone());
    replace_column(batch, at, Arc::new(new))
}

/// Does the batch's `raw` hold a marker anywhere in its bytes?
fn has_marker(batch: &RecordBatch) -> bool {
    text(batch, "raw").is_some_and(|raw| {
        memchr::memchr2(EVENT_ID_MARK as u8, REQUEST_ID_MARK as u8, raw.as_string::<i32>().value_data()).is_some()
    })
}

fn text(batch: &RecordBatch, name: &str) -> Option<ArrayRef> {
    let c = batch.column_by_name(name)?;
    match c.data_type() {
        DataType::Utf8 => Some(c.clone()),
        _ => datafusion::arrow::compute::cast(c, &DataType::Utf8).ok(),
    }
}

/// Replace `raw` by `f(raw, event_id, request_id)` where `f` gives a new value.
fn map_raw(
    batch: RecordBatch,
    f: impl for<'a> Fn(&'a str, &str, Option<&str>) -> Option<Cow<'a, str>>,
) -> Result<RecordBatch> {
    let (Some(at), Some(raw), Some(ids)) =
        (batch.schema().index_of("raw").ok(), text(&batch, "raw"), text(&batch, "event_id"))
    else {
        return Ok(batch);
    };
    let reqs = text(&batch, "request_id");
    let (raw, ids) = (raw.as_string::<i32>(), ids.as_string::<i32>());
    let reqs = reqs.as_ref().map(|r| r.as_string::<i32>());
    let mut out = StringBuilder::with_capacity(raw.len(), raw.value_data().len());
    let mut changed = false;
    for i in 0..raw.len() {
        if raw.is_null(i) {
            out.append_null();
            continue;
        }
        let id = if ids.is_valid(i) { ids.value(i) } else { "" };
        let req = reqs.filter(|r| r.is_valid(i)).map(|r| r.value(i));
        match f(raw.value(i), id, req) {
            Some(v) => {
                changed = true;
                out.append_value(v);
            }
            None => out.append_value(raw.value(i)),
        }
    }
    if !changed {
        return Ok(batch);
    }
    replace_column(batch, at, Arc::new(out.finish()))
}

/// Replace each `pkt_*addr` column by `f(value, the address it is stored against)` (a null stays null).
fn map_same_as(
    batch: RecordBatch,
    f: impl for<'a> Fn(&'a str, Option<&'a str>) -> Option<&'a str>,
) -> Result<RecordBatch> {
    let mut batch = batch;
    for (pkt, addr) in SAME_AS {
        let Some(at) = batch.schema().index_of(pkt).ok() else {
            continue;
        };
        if batch.column(at).null_count() == batch.num_rows() {
            continue;
        }
        let (Some(values), addrs) = (text(&batch, pkt), text(&batch, addr)) else {
            continue;
        };
        let values = values.as_string::<i32>();
        let addrs = addrs.as_ref().map(|a| a.as_string::<i32>());
        let new: StringArray = (0..values.len())
            .map(|i| {
                let a = addrs.filter(|a| a.is_valid(i)).map(|a| a.value(i));
                values.is_valid(i).then(|| f(values.value(i), a)).flatten()
            })
            .collect();
        let typed = match batch.column(at).data_type() {
            DataType::Utf8 => Arc::new(new) as ArrayRef,
            other => datafusion::arrow::compute::cast(&new, other)?,
        };
        batch = replace_column(batch, at, typed)?;
    }
    Ok(batch)
}

fn replace_column(batch: RecordBatch, at: usize, column: ArrayRef) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut columns = batch.columns().to_vec();
    let column = match column.data_type() == schema.field(at).data_type() {
        true => column,
        false => datafusion::arrow::compute::cast(&column, schema.field(at).data_type())?,
    };
    columns[at] = column;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// The columns of `table` (of schema `schema`, as the query engine sees the files) with every
/// value put back, in order and under their names: `None` when the table stores nothing in part.
/// The same expressions work in any SQL engine (`docs/lake.md`).
pub fn view_exprs(table: &str, schema: &Schema) -> Option<Vec<Expr>> {
    if !matches!(table, CLOUDTRAIL | FLOW_LOGS) {
        return None;
    }
    let has = |c: &str| schema.index_of(c).is_ok();
    let exprs = schema
        .fields()
        .iter()
        .map(|f| {
            let name = f.name().as_str();
            let restored = match (table, name) {
                (CLOUDTRAIL, "raw") if has("event_id") && has("request_id") => {
                    datafusion::logical_expr::ScalarUDF::new_from_impl(RestoreRaw::new()).call(vec![
                        col("raw"),
                        col("event_id"),
                        col("request_id"),
                    ])
                }
                (FLOW_LOGS, "end_time") if has(SECONDS_AFTER.1) => {
                    let as_int = |c: &str| cast(col(c), DataType::Int64);
                    let stored = as_int(SECONDS_AFTER.0);
                    when(
                        stored.clone().lt(lit(0i64)),
                        as_int(SECONDS_AFTER.1) + (lit(-1i64) - stored.clone()) * lit(MICROS),
                    )
                    .otherwise(stored)
                    .ok()?
                }
                (FLOW_LOGS, _) => match SAME_AS.iter().find(|(pkt, addr)| *pkt == name && has(addr)) {
                    Some((pkt, addr)) => when(col(*pkt).eq(lit("")), col(*addr)).otherwise(col(*pkt)).ok()?,
                    None => return Some(col(name)),
                },
                _ => return Some(col(name)),
            };
            Some(cast(restored, f.data_type().clone()).alias(name))
        })
        .collect::<Option<Vec<Expr>>>()?;
    Some(exprs)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "c0682011-8a32-4064-bff1-19d87f88414b";
    const REQ: &str = "b8986a9b-11a2-4fdc-4802-af759ad5487c";

    #[test]
    fn ids_leave_raw_and_come_back_byte_for_byte() {
        // (record, as stored): the first quoted occurrence of each id, whichever comes first.
        let cases = [
            (
                format!(r#"{{"eventID":"{ID}", "requestID": "{REQ}","x":"{ID}"}}"#),
                format!(r#"{{"eventID":"{EVENT_ID_MARK}", "requestID": "{REQUEST_ID_MARK}","x":"{ID}"}}"#),
            ),
            (
                format!(r#"{{"requestID":"{REQ}","x":["{ID}"],"eventID":"{ID}"}}"#),
                format!(r#"{{"requestID":"{REQUEST_ID_MARK}","x":["{EVENT_ID_MARK}"],"eventID":"{ID}"}}"#),
            ),
        ];
        for (raw, expected) in cases {
            let stored = elide_raw(&raw, ID, Some(REQ)).unwrap();
            assert_eq!(stored, expected);
            assert_eq!(restore_raw(&stored, ID, Some(REQ)), raw);
            // Stored once: storing again changes nothing.
            assert_eq!(elide_raw(&stored, ID, Some(REQ)), None);
        }
    }

    #[test]
    fn what_cannot_be_left_out_stays() {
        // Short ids, ids not found quoted, ids inside longer values, no request id.
        assert_eq!(elide_raw(r#"{"eventID":"1"}"#, "1", None), None);
        let raw = format!(r#"{{"eventID":"x{ID}","note":"{ID}x"}}"#);
        assert_eq!(elide_raw(&raw, ID, None), None);
        let raw = format!(r#"{{"requestID":null,"eventID":"{ID}"}}"#);
        let stored = elide_raw(&raw, ID, None).unwrap();
        assert_eq!(restore_raw(&stored, ID, None), raw);
        // A record written before: no markers, read back as it is.
        assert!(matches!(restore_raw(&raw, ID, Some(REQ)), Cow::Borrowed(_)));
    }

    #[test]
    fn equal_request_and_event_ids() {
        let raw = format!(r#"{{"eventID":"{ID}","requestID":"{ID}"}}"#);
        let stored = elide_raw(&raw, ID, Some(ID)).unwrap();
        assert_eq!(stored, format!(r#"{{"eventID":"{EVENT_ID_MARK}","requestID":"{REQUEST_ID_MARK}"}}"#));
        assert_eq!(restore_raw(&stored, ID, Some(ID)), raw);
    }

    #[test]
    fn packet_addresses_equal_to_the_flow_are_stored_empty() {
        use datafusion::arrow::datatypes::Field;
        let schema = Arc::new(Schema::new(vec![
            Field::new("srcaddr", DataType::Utf8, true),
            Field::new("pkt_srcaddr", DataType::Utf8, true),
        ]));
        let src: ArrayRef = Arc::new(StringArray::from(vec![
            Some("10.0.0.1"),
            Some("10.0.0.2"),
            None,
            Some("10.0.0.4"),
            Some("10.0.0.5"),
        ]));
        let pkt: ArrayRef =
            Arc::new(StringArray::from(vec![Some("10.0.0.1"), Some("192.0.2.7"), Some("10.0.0.3"), None, Some("")]));
        let batch = RecordBatch::try_new(schema, vec![src, pkt]).unwrap();
        let stored = store(FLOW_LOGS, batch.clone()).unwrap();
        let col = stored.column(1).as_string::<i32>();
        let got: Vec<Option<&str>> = (0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))).collect();
        assert_eq!(got, vec![Some(""), Some("192.0.2.7"), Some("10.0.0.3"), None, None]);
        let back = restore(FLOW_LOGS, stored).unwrap();
        let col = back.column(1).as_string::<i32>();
        let got: Vec<Option<&str>> = (0..col.len()).map(|i| col.is_valid(i).then(|| col.value(i))).collect();
        // Every value as it was, but the empty one, which no flow record holds: absent.
        assert_eq!(got, vec![Some("10.0.0.1"), Some("192.0.2.7"), Some("10.0.0.3"), None, None]);
    }

    #[test]
    fn end_times_are_stored_as_seconds_after_the_start() {
        use datafusion::arrow::array::TimestampMicrosecondArray;
        use datafusion::arrow::datatypes::{Field, TimeUnit};
        let ts = DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
        let schema = Arc::new(Schema::new(vec![
            Field::new("start_time", ts.clone(), true),
            Field::new("end_time", ts.clone(), true),
        ]));
        let s = 1_700_000_000_000_000i64;
        // (start, end, stored): whole seconds after (0 and 60), a fraction after, before the
        // start, no start, no end, and an end in 1970 with a later start.
        let cases = [
            (Some(s), Some(s + 60 * MICROS), Some(-61)),
            (Some(s), Some(s), Some(-1)),
            (Some(s), Some(s + 1_500_000), Some(s + 1_500_000)),
            (Some(s), Some(s - MICROS), Some(s - MICROS)),
            (None, Some(s), Some(s)),
            (Some(s), None, None),
            (Some(s), Some(0), Some(0)),
        ];
        let start: TimestampMicrosecondArray = cases.iter().map(|c| c.0).collect();
        let end: TimestampMicrosecondArray = cases.iter().map(|c| c.1).collect();
        let columns: Vec<ArrayRef> = vec![Arc::new(start.with_timezone("UTC")), Arc::new(end.with_timezone("UTC"))];
        let batch = RecordBatch::try_new(schema, columns).unwrap();
        let stored = store(FLOW_LOGS, batch.clone()).unwrap();
        assert_eq!(stored.column(1).data_type(), &ts);
        let got: Vec<Option<i64>> =
            stored.column(1).as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>().iter().collect();
        assert_eq!(got, cases.iter().map(|c| c.2).collect::<Vec<_>>());
        assert_eq!(restore(FLOW_LOGS, stored).unwrap(), batch);
        // A file written before: every stored time is a time, read back unchanged.
        assert_eq!(restore(FLOW_LOGS, batch.clone()).unwrap(), batch);
        assert_eq!(sources(FLOW_LOGS, &["end_time"]), vec!["start_time"]);
    }
}
