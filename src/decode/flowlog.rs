//! VPC Flow Log text decoder: header-driven field order, any fields of versions 2 to 11 and of
//! transit gateway flow logs, `-` as NULL, one bad line never costs the others.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use datafusion::arrow::record_batch::RecordBatch;

use crate::schema::{self, DEFAULT_FORMAT_FIELDS, FLOW_FIELDS, FLOW_LOGS_SCHEMA, FlowType};

/// Rows per batch handed to the writer.
pub const BATCH_ROWS: usize = 64 * 1024;
/// Rows a column is first sized for; it grows as a file needs. AWS delivers a flow log every 5 to
/// 10 minutes, mostly in files of a few hundred to a few thousand records: sizing every column of
/// every file for a whole batch allocated megabytes per file, and the batches kept that capacity
/// (counted against the writer's budget, which then wrote Parquet files ten times too small).
const START_ROWS: usize = 1024;

enum Col {
    Str(StringBuilder),
    I32(Int32Builder),
    I64(Int64Builder),
    Time(TimestampMicrosecondBuilder),
}

impl Col {
    fn new(ty: FlowType) -> Self {
        match ty {
            FlowType::Str => Col::Str(StringBuilder::with_capacity(START_ROWS, START_ROWS * 16)),
            FlowType::Int32 => Col::I32(Int32Builder::with_capacity(START_ROWS)),
            FlowType::Int64 => Col::I64(Int64Builder::with_capacity(START_ROWS)),
            FlowType::Time => Col::Time(TimestampMicrosecondBuilder::with_capacity(START_ROWS).with_timezone("UTC")),
        }
    }
    fn finish(&mut self) -> ArrayRef {
        match self {
            Col::Str(b) => Arc::new(b.finish()),
            Col::I32(b) => Arc::new(b.finish()),
            Col::I64(b) => Arc::new(b.finish()),
            Col::Time(b) => Arc::new(b.finish()),
        }
    }
}

/// Is a number a possible value of this field? Ports are 0-65535, protocols 0-255 (IANA), TCP
/// flags a byte's worth of bits; the other integer fields (version, traffic path) are small and
/// not negative.
fn int_in_range(field: &str, n: i32) -> bool {
    match field {
        "srcport" | "dstport" => (0..=65_535).contains(&n),
        "protocol" | "tcp-flags" => (0..=255).contains(&n),
        _ => n >= 0,
    }
}

/// A parsed value of one field, before it is appended (so a bad line appends nothing).
/// An empty vector of values in the allocation of `v` (collected in place: no allocation).
#[allow(clippy::unnecessary_filter_map, reason = "the filter_map is what changes the lifetime in place")]
fn recycle<'a>(v: Vec<Val<'_>>) -> Vec<Val<'a>> {
    v.into_iter().filter_map(|_| None).collect()
}

#[derive(Clone, Copy)]
enum Val<'a> {
    Null,
    Str(&'a str),
    Int(i64),
}

/// The layout of the records that follow a header line (or the default format).
#[derive(Debug, Clone)]
pub struct Format {
    /// For each position in a line: index into `FLOW_FIELDS`, or `None` for an unknown field.
    positions: Vec<Option<usize>>,
    /// Names of unknown fields, by position.
    unknown: Vec<Option<String>>,
    /// For each of `FLOW_FIELDS`: does this format carry it?
    present: Vec<bool>,
    pub header: String,
}

impl Format {
    pub fn default_v2() -> Self {
        Format {
            positions: (0..DEFAULT_FORMAT_FIELDS).map(Some).collect(),
            unknown: vec![None; DEFAULT_FORMAT_FIELDS],
            present: (0..FLOW_FIELDS.len()).map(|i| i < DEFAULT_FORMAT_FIELDS).collect(),
            header: FLOW_FIELDS[..DEFAULT_FORMAT_FIELDS].iter().map(|f| f.aws).collect::<Vec<_>>().join(" "),
        }
    }

    /// A flow log's `LogFormat` as AWS gives it (`${version} ${vpc-id} ...`, from
    /// `describe-flow-logs` or the console), or the same names without `${}`: the layout of
    /// records that carry no header line (CloudWatch Logs). Every field must be one AWS documents.
    pub fn from_log_format(spec: &str) -> crate::error::Result<Format> {
        use crate::error::Error::Usage;
        let mut names = Vec::new();
        for token in spec.split_ascii_whitespace() {
            let name = token.strip_prefix("${").and_then(|t| t.strip_suffix('}')).unwrap_or(token);
            if schema::flow_field(name).is_none() {
                return Err(Usage(format!("unknown flow log field {token:?} in the flow log format")));
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(Usage("the flow log format is empty".into()));
        }
        match Format::from_header(&names.join(" ")) {
            Some((format, unknown)) if unknown.is_empty() => Ok(format),
            _ => Err(Usage(format!("the flow log format {spec:?} names a field twice"))),
        }
    }

    /// Parse a header line. It is a header when its first token is a known field name and no token
    /// looks like a value (a number, an address or `-`).
    pub fn from_header(line: &str) -> Option<(Self, Vec<String>)> {
        // A record's first field is a value, a header's a field name: most lines stop here.
        let first = line.split_ascii_whitespace().next()?;
        if !first.as_bytes()[0].is_ascii_lowercase() {
            return None;
        }
        schema::flow_field(first)?;
        let tokens: Vec<&str> = line.split_ascii_whitespace().collect();
        if tokens.iter().any(|t| !t.bytes().all(|b| b.is_ascii_lowercase() || b == b'-' || b == b'_') || *t == "-") {
            return None;
        }
        let mut positions = Vec::with_capacity(tokens.len());
        let mut unknown = Vec::with_capacity(tokens.len());
        let mut unknown_names = Vec::new();
        let mut seen = vec![false; FLOW_FIELDS.len()];
        for t in &tokens {
            // A field named twice: the second copy is kept as an unknown field.
            let idx = schema::flow_field(t).filter(|i| !std::mem::replace(&mut seen[*i], true));
            positions.push(idx);
            if idx.is_none() {
                unknown.push(Some(t.to_string()));
                unknown_names.push(t.to_string());
            } else {
                unknown.push(None);
            }
        }
        let mut present = vec![false; FLOW_FIELDS.len()];
        for idx in positions.iter().flatten() {
            present[*idx] = true;
        }
        Some((Format { positions, unknown, present, header: tokens.join(" ") }, unknown_names))
    }

    pub fn len(&self) -> usize {
        self.positions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// A format from a list of AWS field names (all known).
    fn of_names(names: &[&str]) -> Self {
        let line = names.join(" ");
        Format::from_header(&line).expect("documented field names").0
    }

    /// A header-less line: the default format (14 fields), or one of the layouts AWS documents as
    /// "all fields in the documented order" (29 fields of versions 2-5, 39 with the ECS fields of
    /// version 7, 40 with version 8's `reject-reason`) or the transit gateway default format (36),
    /// recognised by its field count and by values that only fit that layout. Returns the format and
    /// whether it was a guess beyond the default.
    pub fn infer(line: &str) -> Option<(Self, bool)> {
        let t: Vec<&str> = line.split_ascii_whitespace().collect();
        let is_num = |s: &str| s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty();
        if !t.first().is_some_and(|v| is_num(v)) {
            return None;
        }
        let vpc_like = t.len() >= 14
            && matches!(t[12], "ACCEPT" | "REJECT" | "-")
            && matches!(t[13], "OK" | "NODATA" | "SKIPDATA");
        match t.len() {
            DEFAULT_FORMAT_FIELDS => Some((Format::default_v2(), false)),
            29 | 39 | 40 if vpc_like => {
                let names: Vec<&str> = FLOW_FIELDS[..t.len()].iter().map(|f| f.aws).collect();
                Some((Format::of_names(&names), true))
            }
            36 if (t[1].starts_with("TransitGateway") || t[3].starts_with("tgw-"))
                && matches!(t[25], "OK" | "NODATA" | "SKIPDATA") =>
            {
                Some((Format::of_names(TGW_DEFAULT), true))
            }
            _ => None,
        }
    }
}

/// The transit gateway flow log default format, in AWS's documented order.
const TGW_DEFAULT: &[&str] = &[
    "version",
    "resource-type",
    "account-id",
    "tgw-id",
    "tgw-attachment-id",
    "tgw-src-vpc-account-id",
    "tgw-dst-vpc-account-id",
    "tgw-src-vpc-id",
    "tgw-dst-vpc-id",
    "tgw-src-subnet-id",
    "tgw-dst-subnet-id",
    "tgw-src-eni",
    "tgw-dst-eni",
    "tgw-src-az-id",
    "tgw-dst-az-id",
    "tgw-pair-attachment-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "log-status",
    "type",
    "packets-lost-no-route",
    "packets-lost-blackhole",
    "packets-lost-mtu-exceeded",
    "packets-lost-ttl-expired",
    "tcp-flags",
    "region",
    "flow-direction",
    "pkt-src-aws-service",
    "pkt-dst-aws-service",
];

/// Why one line was not loaded.
pub use super::Rejected as LineError;

/// Builds `flow_logs` batches from lines of one file.
pub struct FlowDecoder {
    source_file: Arc<str>,
    /// The allocation of the values of a line, kept from line to line.
    vals: Vec<Val<'static>>,
    cols: Vec<Option<Col>>,
    extra: StringBuilder,
    any_extra: bool,
    /// A value for the next record's `extra_fields` beside its unknown fields (the OCSF record a
    /// flow record was mapped from): (key, value).
    pub attach: Option<(String, serde_json::Value)>,
    source_line: Int64Builder,
    rows: usize,
    /// Bytes of the lines gathered since the last batch.
    text_bytes: usize,
    pub format: Option<Format>,
    /// Every distinct header this file used, for `ingested_files.format`.
    pub formats_seen: Vec<String>,
    pub records: u64,
    /// Set when a header-less file's layout was recognised by its field count (beyond the default).
    pub inferred: Option<usize>,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    /// The account and region the file's S3 key names (`AWSLogs/ACCOUNT/vpcflowlogs/REGION/...`,
    /// `aws-account-id=`/`aws-region=`): given to records whose format lacks `account-id` or
    /// `region`.
    pub path_account: Option<Arc<str>>,
    pub path_region: Option<Arc<str>>,
}

impl FlowDecoder {
    pub fn new(source_file: Arc<str>) -> Self {
        FlowDecoder {
            source_file,
            vals: Vec::new(),
            cols: FLOW_FIELDS.iter().map(|_| None).collect(),
            extra: StringBuilder::new(),
            any_extra: false,
            attach: None,
            source_line: Int64Builder::with_capacity(START_ROWS),
            rows: 0,
            text_bytes: 0,
            format: None,
            formats_seen: Vec::new(),
            records: 0,
            inferred: None,
            min_time: None,
            max_time: None,
            path_account: None,
            path_region: None,
        }
    }

    /// Use this format for the lines that follow (a header line, or a format known from elsewhere).
    pub fn set_format(&mut self, f: Format) {
        if !self.formats_seen.contains(&f.header) {
            self.formats_seen.push(f.header.clone());
        }
        self.format = Some(f);
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of the lines gathered since the last batch: a batch of few long lines (unknown
    /// fields kept in `extra_fields`) is sent as soon as one of many short ones would be.
    pub fn text_bytes(&self) -> usize {
        self.text_bytes
    }

    /// Feed one line. Blank lines are skipped; header lines switch the format and return the names
    /// of unknown fields in it (which are kept in `extra_fields`).
    pub fn feed_line(&mut self, line_no: u64, line: &str) -> Result<Option<Vec<String>>, LineError> {
        let line = line.trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            return Ok(None);
        }
        if let Some((format, unknown)) = Format::from_header(line) {
            self.set_format(format);
            return Ok(Some(unknown));
        }
        let n_tokens = line.split_ascii_whitespace().count();
        if self.format.is_none() {
            match Format::infer(line) {
                Some((f, guessed)) => {
                    if guessed {
                        self.inferred = Some(n_tokens);
                    }
                    self.set_format(f);
                }
                None => {
                    return Err(LineError(format!(
                        "no header line and {n_tokens} fields: the field order is unknown (without a header, a file \
                            must be the default format of 14 fields or a documented all-fields layout; give the flow \
                            log's LogFormat with --flow-format, or ingest its describe-flow-logs output first)"
                    )));
                }
            }
        }
        self.records += 1;
        let format = self.format.as_ref().expect("set above");
        if n_tokens != format.len() {
            return Err(LineError(format!("{n_tokens} fields where the header has {}", format.len())));
        }
        // Parse every value first, so that a bad line appends nothing.
        // The values' vector is the one of the line before, emptied (no allocation per line).
        let mut vals: Vec<Val<'_>> = recycle(std::mem::take(&mut self.vals));
        vals.reserve(format.len());
        let mut extras: Vec<(&str, &str)> = Vec::new();
        let mut time = None;
        for (pos, tok) in line.split_ascii_whitespace().enumerate() {
            let Some(idx) = format.positions[pos] else {
                if tok != "-" {
                    extras.push((format.unknown[pos].as_deref().unwrap_or("?"), tok));
                }
                vals.push(Val::Null);
                continue;
            };
            let field = &FLOW_FIELDS[idx];
            if tok == "-" {
                vals.push(Val::Null);
                continue;
            }
            let v = match field.ty {
                FlowType::Str => Val::Str(tok),
                FlowType::Int32 => match tok.parse::<i32>() {
                    Ok(n) if !int_in_range(field.aws, n) => {
                        return Err(LineError(format!("field {} out of range: {tok:?}", field.aws)));
                    }
                    Ok(n) => Val::Int(n as i64),
                    Err(_) => {
                        return Err(LineError(format!("field {} is not a number: {tok:?}", field.aws)));
                    }
                },
                FlowType::Int64 | FlowType::Time => match tok.parse::<i64>() {
                    Ok(n)
                        if field.ty == FlowType::Time
                            && !n.checked_mul(1_000_000).is_some_and(crate::time::time_in_range) =>
                    {
                        return Err(LineError(format!(
                            "field {} is not a Unix time between 1970 and 2200: {tok:?}",
                            field.aws
                        )));
                    }
                    Ok(n) if field.ty == FlowType::Int64 && n < 0 => {
                        return Err(LineError(format!("field {} is negative: {tok:?}", field.aws)));
                    }
                    Ok(n) => {
                        if field.ty == FlowType::Time && field.aws == "start" {
                            time = Some(n);
                        }
                        Val::Int(n)
                    }
                    Err(_) => {
                        return Err(LineError(format!("field {} is not a number: {tok:?}", field.aws)));
                    }
                },
            };
            vals.push(v);
        }
        // Append.
        let positions = &format.positions;
        let rows = self.rows;
        for (pos, idx) in positions.iter().enumerate() {
            let Some(idx) = *idx else { continue };
            let col = self.cols[idx].get_or_insert_with(|| {
                let mut c = Col::new(FLOW_FIELDS[idx].ty);
                // Columns first seen mid-file: back-fill nulls for the rows before.
                for _ in 0..rows {
                    match &mut c {
                        Col::Str(b) => b.append_null(),
                        Col::I32(b) => b.append_null(),
                        Col::I64(b) => b.append_null(),
                        Col::Time(b) => b.append_null(),
                    }
                }
                c
            });
            match (col, vals[pos]) {
                (Col::Str(b), Val::Str(s)) => b.append_value(s),
                (Col::Str(b), _) => b.append_null(),
                (Col::I32(b), Val::Int(n)) => b.append_value(n as i32),
                (Col::I32(b), _) => b.append_null(),
                (Col::I64(b), Val::Int(n)) => b.append_value(n),
                (Col::I64(b), _) => b.append_null(),
                (Col::Time(b), Val::Int(n)) => b.append_value(n * 1_000_000),
                (Col::Time(b), _) => b.append_null(),
            }
        }
        // Columns this format lacks get a null for this row.
        for (idx, col) in self.cols.iter_mut().enumerate() {
            if let Some(col) = col
                && !format.present[idx]
            {
                match col {
                    Col::Str(b) => b.append_null(),
                    Col::I32(b) => b.append_null(),
                    Col::I64(b) => b.append_null(),
                    Col::Time(b) => b.append_null(),
                }
            }
        }
        let attach = self.attach.take();
        if extras.is_empty() && attach.is_none() {
            self.extra.append_null();
        } else {
            self.any_extra = true;
            let mut map: serde_json::Map<String, serde_json::Value> =
                extras.iter().map(|(k, v)| (k.to_string(), serde_json::Value::String(v.to_string()))).collect();
            map.extend(attach);
            self.extra.append_value(serde_json::Value::Object(map).to_string());
        }
        self.source_line.append_value(line_no as i64);
        if let Some(t) = time {
            let t = t * 1_000_000;
            self.min_time = Some(self.min_time.map_or(t, |m| m.min(t)));
            self.max_time = Some(self.max_time.map_or(t, |m| m.max(t)));
        }
        self.rows += 1;
        self.text_bytes += line.len();
        self.vals = recycle(vals);
        Ok(None)
    }

    /// Take the rows gathered so far as one batch of `flow_logs` columns, lean for the writer's
    /// buffer: only the columns of this file's format (and `extra_fields` when a line had one),
    /// the file's name as a dictionary of one value rather than a copy per row. The writer
    /// stores what is left out as nulls (`ingest::writer`); a default-format row takes about a
    /// third of the memory that the whole schema, 50 columns of nulls and the name included, took.
    pub fn take_batch(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        let n = self.rows;
        let lake = FLOW_LOGS_SCHEMA.clone();
        let mut fields = Vec::with_capacity(self.cols.len());
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.cols.len());
        let (account, region) = (self.path_account.clone(), self.path_region.clone());
        let from_path = |idx: usize| match FLOW_FIELDS[idx].aws {
            "account-id" => account.clone(),
            "region" => region.clone(),
            _ => None,
        };
        for (idx, col) in self.cols.iter_mut().enumerate() {
            if col.is_none()
                && let Some(value) = from_path(idx)
            {
                // The format lacks the field: every record of the file is of the account (region)
                // its S3 key names.
                fields.push(lake.field(idx).clone().with_data_type(constant(n, &value).data_type().clone()));
                arrays.push(constant(n, &value));
                continue;
            }
            if let Some(c) = col {
                let mut array = c.finish();
                match few_values(&array) {
                    Some(dict) => {
                        let f = lake.field(idx);
                        fields.push(datafusion::arrow::datatypes::Field::new(
                            f.name(),
                            dict.data_type().clone(),
                            f.is_nullable(),
                        ));
                        arrays.push(dict);
                    }
                    None => {
                        // Without the builder's spare capacity: the writer's budget counts it.
                        datafusion::arrow::array::Array::shrink_to_fit(&mut array);
                        fields.push(lake.field(idx).clone());
                        arrays.push(array);
                    }
                }
            }
        }
        let extra = self.extra.finish();
        if self.any_extra {
            fields.push(lake.field_with_name("extra_fields").expect("extra_fields").clone());
            arrays.push(Arc::new(extra));
        }
        let keys = datafusion::arrow::array::Int32Array::from(vec![0i32; n]);
        let names: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![&*self.source_file]));
        let sf =
            datafusion::arrow::array::DictionaryArray::<datafusion::arrow::datatypes::Int32Type>::try_new(keys, names)
                .expect("key 0 of one value");
        let sf_field = lake.field_with_name("source_file").expect("source_file");
        fields.push(datafusion::arrow::datatypes::Field::new(
            sf_field.name(),
            datafusion::arrow::array::Array::data_type(&sf).clone(),
            sf_field.is_nullable(),
        ));
        arrays.push(Arc::new(sf));
        fields.push(lake.field_with_name("source_line").expect("source_line").clone());
        arrays.push(Arc::new(self.source_line.finish()));
        self.rows = 0;
        self.text_bytes = 0;
        self.any_extra = false;
        // Columns are re-created lazily, so a later format starts clean.
        for c in self.cols.iter_mut() {
            *c = None;
        }
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
        Some(RecordBatch::try_new(schema, arrays).expect("flow batch matches its schema"))
    }
}

/// `n` rows of one text value, as a dictionary of one.
fn constant(n: usize, value: &str) -> ArrayRef {
    let keys = datafusion::arrow::array::Int32Array::from(vec![0i32; n]);
    let values: ArrayRef = Arc::new(datafusion::arrow::array::StringArray::from(vec![value]));
    Arc::new(
        datafusion::arrow::array::DictionaryArray::<datafusion::arrow::datatypes::Int32Type>::try_new(keys, values)
            .expect("key 0 of one value"),
    )
}

/// Distinct values a text column may hold to be handed to the writer as a dictionary.
const FEW: usize = 16;

/// A text column as a dictionary, when it holds no more than [`FEW`] distinct values (an
/// interface, its account, `ACCEPT`/`REJECT`, `OK`): four bytes a row in the writer's buffer
/// rather than the text. `None` for other columns, as soon as their values show they are many.
fn few_values(array: &ArrayRef) -> Option<ArrayRef> {
    use datafusion::arrow::array::{Array, AsArray, DictionaryArray, Int32Array, StringArray};
    let text = array.as_string_opt::<i32>()?;
    let mut values: Vec<&str> = Vec::new();
    let mut keys: Vec<i32> = Vec::with_capacity(text.len());
    let mut last = usize::MAX;
    for i in 0..text.len() {
        if text.is_null(i) {
            keys.push(0);
            continue;
        }
        let v = text.value(i);
        // Rows mostly repeat the value before.
        if last == usize::MAX || values[last] != v {
            last = match values.iter().position(|x| *x == v) {
                Some(k) => k,
                None if values.len() == FEW => return None,
                None => {
                    values.push(v);
                    values.len() - 1
                }
            };
        }
        keys.push(last as i32);
    }
    let keys = Int32Array::new(keys.into(), text.nulls().cloned());
    let dict = DictionaryArray::try_new(keys, Arc::new(StringArray::from(values))).ok()?;
    Some(Arc::new(dict))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::Int32Type;

    fn decode(text: &str) -> (Option<RecordBatch>, Vec<(u64, LineError)>) {
        let mut d = FlowDecoder::new("t.log".into());
        let mut errs = Vec::new();
        for (i, l) in text.lines().enumerate() {
            if let Err(e) = d.feed_line(i as u64 + 1, l) {
                errs.push((i as u64 + 1, e));
            }
        }
        // As the lake stores it: every column, the absent ones null.
        let lake = |b: RecordBatch| {
            let rows: Vec<(usize, usize)> = (0..b.num_rows()).map(|r| (0, r)).collect();
            schema::gather(&FLOW_LOGS_SCHEMA, &[b], &rows).expect("lake rows")
        };
        (d.take_batch().map(lake), errs)
    }

    #[test]
    fn headerless_default_format() {
        let (b, e) = decode(
            "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 \
                ACCEPT OK\n",
        );
        assert!(e.is_empty());
        let b = b.unwrap();
        assert_eq!(b.num_rows(), 1);
        let dst = b.column_by_name("dstport").unwrap().as_primitive::<Int32Type>();
        assert_eq!(dst.value(0), 22);
        assert!(b.column_by_name("vpc_id").unwrap().is_null(0));
    }

    #[test]
    fn custom_order_dash_and_bad_line() {
        let text = "version srcaddr dstaddr vpc-id subnet-id start end action log-status\n\
                    5 10.0.0.1 10.0.0.2 vpc-1 - 1700000000 1700000060 ACCEPT OK\n\
                    5 10.0.0.1 10.0.0.2 vpc-1 subnet-1 notatime 1700000060 ACCEPT OK\n\
                    - - - - - 1700000000 1700000060 - NODATA\n";
        let (b, e) = decode(text);
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].0, 3);
        let b = b.unwrap();
        assert_eq!(b.num_rows(), 2);
        assert!(b.column_by_name("subnet_id").unwrap().is_null(0));
        assert_eq!(b.column_by_name("log_status").unwrap().as_string::<i32>().value(1), "NODATA");
    }

    #[test]
    fn headerless_custom_is_rejected() {
        let (b, e) = decode("Phony unsupported log format.\n");
        assert!(b.is_none());
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn headerless_documented_layouts() {
        // The v5 all-fields record from Elastic's test data (29 fields, AWS order).
        let (b, e) = decode(
            "5 64111117617 eni-069xxxxxb7a490 89.160.20.156 10.200.0.0 50041 33004 17 52 1 164000066 1640000297 \
                REJECT OK vpc-09676f97xxxxxb8a7 subnet-02d645xxxxxxxdbc0 i-0axxxxxx1ad77 1 IPv4 89.160.20.156 \
                10.200.0.80 us-east-1 use1-az5 - - AMAZON CLOUDFRONT ingress 1\n",
        );
        assert!(e.is_empty(), "{e:?}");
        let b = b.unwrap();
        assert_eq!(b.column_by_name("flow_direction").unwrap().as_string::<i32>().value(0), "ingress");
        assert_eq!(b.column_by_name("traffic_path").unwrap().as_primitive::<Int32Type>().value(0), 1);
        // 20 fields without a header: unknown.
        let (_, e) = decode(&format!("2 {}\n", vec!["x"; 19].join(" ")));
        assert_eq!(e.len(), 1);
    }

    #[test]
    fn unknown_fields_are_kept() {
        let (b, e) = decode("version srcaddr future-field\n11 1.2.3.4 xyz\n");
        assert!(e.is_empty());
        let b = b.unwrap();
        assert_eq!(b.column_by_name("extra_fields").unwrap().as_string::<i32>().value(0), r#"{"future-field":"xyz"}"#);
    }
}
