//! CloudTrail decoder: every body shape seen in the field (`{"Records":[...]}`, bare arrays, one
//! record per line, CloudWatch Logs and EventBridge envelopes), digest files recognised, and each
//! record flattened into the `cloudtrail` columns with its original text kept in `raw`.

use std::borrow::Cow;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::schema::{CLOUDTRAIL_SCHEMA, CLOUDTRAIL_STRING_COLUMNS};

pub const BATCH_ROWS: usize = 16 * 1024;
/// A batch (of CloudTrail rows, or of flow log rows: `ingest::file` applies it to both) is sent
/// once its records' text reaches this many bytes, however few they are: the batches in flight
/// between the decoders and the writer stay small whatever the files hold.
pub const BATCH_BYTES: usize = 4 << 20;

/// The text of a JSON string value without allocating when it has no escapes; numbers and
/// booleans as their literal text; `null` as `None`.
pub fn raw_text(r: &RawValue) -> Option<Cow<'_, str>> {
    let s = r.get().trim();
    if s == "null" {
        return None;
    }
    if let Some(inner) = s.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
        return serde_json::from_str::<String>(s).ok().map(Cow::Owned);
    }
    Some(Cow::Borrowed(s))
}

fn raw_bool(r: Option<&RawValue>) -> Option<bool> {
    match raw_text(r?)?.as_ref() {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

/// JSON text of a sub-object; `null`, `{}`-less absence as `None`.
fn raw_json(r: Option<&RawValue>) -> Option<&str> {
    let s = r?.get();
    if s == "null" { None } else { Some(s) }
}

/// How the id of a record without `eventID` begins (the rest is a hash of the record).
pub const MADE_UP_ID: &str = "no-event-id-";

/// How a record reached the evidence: the `delivery` column of `cloudtrail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// In a trail's log file (`{"Records":[...]}`), as CloudTrail writes to S3.
    Trail,
    /// From event history (`aws cloudtrail lookup-events`, its `CloudTrailEvent`).
    EventHistory,
    /// In a CloudWatch Logs envelope or export (`logEvents`, `events`, each `message` a record).
    CloudWatchLogs,
    /// In an EventBridge event (`detail`).
    EventBridge,
    /// A bare record or an array of them, as exports and SIEMs write them.
    Export,
    /// Amazon Security Lake's OCSF record (`raw` holds the OCSF record).
    SecurityLake,
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Trail => "trail",
            Delivery::EventHistory => "event_history",
            Delivery::CloudWatchLogs => "cloudwatch_logs",
            Delivery::EventBridge => "eventbridge",
            Delivery::Export => "export",
            Delivery::SecurityLake => "security_lake",
        }
    }
}

/// A record's content in a canonical text: object keys sorted at every level, no whitespace.
/// Two copies of a record that differ only in layout or key order have the same canonical text.
pub fn canonical(raw: &str) -> Option<String> {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::from(k.as_str()).to_string());
                    out.push(':');
                    write(&m[k], out);
                }
                out.push('}');
            }
            serde_json::Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let v: serde_json::Value = serde_json::from_str(raw).ok()?;
    let mut out = String::with_capacity(raw.len());
    write(&v, &mut out);
    Some(out)
}

/// One top-level JSON value or one record: the CloudTrail fields plus the keys that tell the
/// container shapes apart. Everything is borrowed from the input.
#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
pub struct Rec<'a> {
    // Container shapes.
    #[serde(borrow, rename = "Records")]
    pub records: Option<Vec<&'a RawValue>>,
    #[serde(borrow, rename = "logEvents")]
    pub log_events: Option<Vec<&'a RawValue>>,
    #[serde(borrow, rename = "messageType")]
    pub message_type: Option<&'a RawValue>,
    #[serde(borrow)]
    pub detail: Option<&'a RawValue>,
    #[serde(borrow, rename = "digestStartTime")]
    pub digest_start_time: Option<&'a RawValue>,
    #[serde(borrow)]
    pub message: Option<&'a RawValue>,
    #[serde(borrow, rename = "logGroup")]
    pub log_group: Option<&'a RawValue>,
    /// Event history (`aws cloudtrail lookup-events`): each event carries the CloudTrail record
    /// as JSON text in `CloudTrailEvent`.
    #[serde(borrow, rename = "CloudTrailEvent")]
    pub cloudtrail_event: Option<&'a RawValue>,
    // CloudTrail record fields.
    #[serde(borrow)]
    pub eventID: Option<&'a RawValue>,
    #[serde(borrow)]
    pub eventTime: Option<&'a RawValue>,
    #[serde(borrow, rename = "@timestamp")]
    pub at_timestamp: Option<&'a RawValue>,
    #[serde(borrow)]
    pub eventVersion: Option<&'a RawValue>,
    #[serde(borrow)]
    pub eventSource: Option<&'a RawValue>,
    #[serde(borrow)]
    pub eventName: Option<&'a RawValue>,
    #[serde(borrow)]
    pub awsRegion: Option<&'a RawValue>,
    #[serde(borrow)]
    pub sourceIPAddress: Option<&'a RawValue>,
    #[serde(borrow)]
    pub userAgent: Option<&'a RawValue>,
    #[serde(borrow)]
    pub errorCode: Option<&'a RawValue>,
    #[serde(borrow)]
    pub errorMessage: Option<&'a RawValue>,
    #[serde(borrow)]
    pub readOnly: Option<&'a RawValue>,
    #[serde(borrow)]
    pub eventType: Option<&'a RawValue>,
    #[serde(borrow)]
    pub eventCategory: Option<&'a RawValue>,
    #[serde(borrow)]
    pub managementEvent: Option<&'a RawValue>,
    #[serde(borrow)]
    pub recipientAccountId: Option<&'a RawValue>,
    #[serde(borrow)]
    pub requestID: Option<&'a RawValue>,
    #[serde(borrow)]
    pub sharedEventID: Option<&'a RawValue>,
    #[serde(borrow)]
    pub vpcEndpointId: Option<&'a RawValue>,
    #[serde(borrow)]
    pub userIdentity: Option<&'a RawValue>,
    #[serde(borrow)]
    pub requestParameters: Option<&'a RawValue>,
    #[serde(borrow)]
    pub responseElements: Option<&'a RawValue>,
    #[serde(borrow)]
    pub additionalEventData: Option<&'a RawValue>,
    #[serde(borrow)]
    pub resources: Option<&'a RawValue>,
    #[serde(borrow)]
    pub serviceEventDetails: Option<&'a RawValue>,
    #[serde(borrow)]
    pub tlsDetails: Option<&'a RawValue>,
}

impl Rec<'_> {
    /// Does this object look like a CloudTrail record (rather than a container or another thing)?
    pub fn is_event(&self) -> bool {
        self.eventVersion.is_some()
            || self.eventID.is_some()
            || (self.eventTime.is_some() && (self.eventSource.is_some() || self.eventName.is_some()))
            || (self.eventSource.is_some() && self.eventName.is_some())
    }
}

#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
struct Identity<'a> {
    #[serde(borrow, rename = "type")]
    ty: Option<&'a RawValue>,
    #[serde(borrow)]
    arn: Option<&'a RawValue>,
    #[serde(borrow)]
    userName: Option<&'a RawValue>,
    #[serde(borrow)]
    principalId: Option<&'a RawValue>,
    #[serde(borrow)]
    accountId: Option<&'a RawValue>,
    #[serde(borrow)]
    accessKeyId: Option<&'a RawValue>,
    #[serde(borrow)]
    invokedBy: Option<&'a RawValue>,
    #[serde(borrow)]
    sessionContext: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
struct SessionContext<'a> {
    #[serde(borrow)]
    sessionIssuer: Option<&'a RawValue>,
    #[serde(borrow)]
    attributes: Option<&'a RawValue>,
}

/// A part of a record read as an object of the expected shape; anything else (a string where an
/// object belongs, as some exporters write, or an object of another shape) reads as empty, so that
/// one odd part never blanks its neighbours.
fn part<'a, T: Deserialize<'a> + Default>(r: Option<&'a RawValue>) -> T {
    match r {
        Some(v) if v.get().starts_with('{') => serde_json::from_str(v.get()).unwrap_or_default(),
        _ => T::default(),
    }
}

#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
struct Issuer<'a> {
    #[serde(borrow)]
    arn: Option<&'a RawValue>,
    #[serde(borrow)]
    userName: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
struct Attributes<'a> {
    #[serde(borrow)]
    mfaAuthenticated: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
#[allow(non_snake_case)]
struct Tls<'a> {
    #[serde(borrow)]
    tlsVersion: Option<&'a RawValue>,
}

/// A NACL write seen during ingest, kept for inferring when an inventory snapshot was taken.
#[derive(Debug, Clone)]
pub struct NaclEvent {
    pub time: i64,
    pub event_name: String,
    pub request_parameters: String,
}

/// Builds `cloudtrail` batches.
pub struct CtBuilder {
    source_file: Arc<str>,
    event_id: StringBuilder,
    event_time: TimestampMicrosecondBuilder,
    strings: Vec<StringBuilder>,
    read_only: BooleanBuilder,
    management_event: BooleanBuilder,
    mfa: BooleanBuilder,
    source_record: Int64Builder,
    rows: usize,
    /// Of the file being read (see [`CtBuilder::begin_file`]): its rows, whether any record was
    /// offered, its time range and its NACL entry changes.
    pub file_rows: u64,
    pub file_touched: bool,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    pub nacl_events: Vec<NaclEvent>,
}

/// The place of a text column among [`CLOUDTRAIL_STRING_COLUMNS`], found when compiling (an
/// unknown name does not compile): `col!("raw")`.
const fn col_of(name: &str) -> usize {
    let mut i = 0;
    while i < CLOUDTRAIL_STRING_COLUMNS.len() {
        let c = CLOUDTRAIL_STRING_COLUMNS[i].as_bytes();
        let n = name.as_bytes();
        if c.len() == n.len() {
            let mut j = 0;
            while j < n.len() && c[j] == n[j] {
                j += 1;
            }
            if j == n.len() {
                return i;
            }
        }
        i += 1;
    }
    panic!("not a cloudtrail text column")
}

macro_rules! col {
    ($name:literal) => {
        const { col_of($name) }
    };
}

impl CtBuilder {
    pub fn new(source_file: Arc<str>) -> Self {
        CtBuilder {
            source_file,
            event_id: StringBuilder::new(),
            event_time: TimestampMicrosecondBuilder::new().with_timezone("UTC"),
            strings: CLOUDTRAIL_STRING_COLUMNS.iter().map(|_| StringBuilder::new()).collect(),
            read_only: BooleanBuilder::new(),
            management_event: BooleanBuilder::new(),
            mfa: BooleanBuilder::new(),
            source_record: Int64Builder::new(),
            rows: 0,
            file_rows: 0,
            file_touched: false,
            min_time: None,
            max_time: None,
            nacl_events: Vec::new(),
        }
    }

    /// Go on with the records of another file: the rows gathered so far stay (a decoder gathers
    /// the events of many small files into one batch); what is told of a file starts anew.
    pub fn begin_file(&mut self, source_file: Arc<str>) {
        self.source_file = source_file;
        self.file_rows = 0;
        self.file_touched = false;
        self.min_time = None;
        self.max_time = None;
        self.nacl_events.clear();
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes of record text gathered so far: the bulk of a batch's memory.
    pub fn text_bytes(&self) -> usize {
        self.strings.get(col!("raw")).map_or(0, |b| b.values_slice().len())
    }

    /// Add one record. `raw` is its original text. Fails (adding nothing) when the record has no
    /// usable time.
    pub fn push(
        &mut self,
        rec: &Rec<'_>,
        raw: &str,
        record_no: u64,
        delivery: Delivery,
    ) -> Result<(), super::Rejected> {
        self.file_touched = true;
        let time_text = rec.eventTime.or(rec.at_timestamp).and_then(raw_text);
        let Some(time_text) = time_text else {
            return Err("record has no eventTime".into());
        };
        let Some(time) = crate::time::parse_time(&time_text) else {
            return Err(format!("eventTime is not a time: {time_text:?}").into());
        };
        if !crate::time::time_in_range(time) {
            return Err(crate::time::time_out_of_range("eventTime", &time_text).into());
        }
        let ident: Identity<'_> = part(rec.userIdentity);
        let tls: Tls<'_> = part(rec.tlsDetails);
        let session: SessionContext<'_> = part(ident.sessionContext);
        let issuer: Option<Issuer<'_>> = session.sessionIssuer.map(|i| part(Some(i)));
        let issuer = issuer.as_ref();
        let event_id: Cow<'_, str> = match rec.eventID.and_then(raw_text) {
            Some(id) => id,
            // No eventID: a stable stand-in from the record's content (not its layout or key order),
            // so that a copy is still stored once.
            None => {
                let content = canonical(raw).unwrap_or_else(|| raw.to_string());
                Cow::Owned(format!("{MADE_UP_ID}{:032x}", xxhash_rust::xxh3::xxh3_128(content.as_bytes())))
            }
        };
        self.event_id.append_value(&event_id);
        self.event_time.append_value(time);
        fn t<'b>(r: Option<&'b RawValue>) -> Option<Cow<'b, str>> {
            r.and_then(raw_text)
        }
        let issuer_arn = issuer.and_then(|i| t(i.arn));
        let issuer_name = issuer.and_then(|i| t(i.userName));
        let user_name = t(ident.userName).or_else(|| issuer_name.clone());
        let values: [(usize, Option<Cow<'_, str>>); 29] = [
            (col!("event_version"), t(rec.eventVersion)),
            (col!("event_source"), t(rec.eventSource)),
            (col!("event_name"), t(rec.eventName)),
            (col!("aws_region"), t(rec.awsRegion)),
            (col!("source_ip"), t(rec.sourceIPAddress)),
            (col!("user_agent"), t(rec.userAgent)),
            (col!("error_code"), t(rec.errorCode)),
            (col!("error_message"), t(rec.errorMessage)),
            (col!("event_type"), t(rec.eventType)),
            (col!("event_category"), t(rec.eventCategory)),
            (col!("recipient_account_id"), t(rec.recipientAccountId)),
            (col!("request_id"), t(rec.requestID)),
            (col!("shared_event_id"), t(rec.sharedEventID)),
            (col!("vpc_endpoint_id"), t(rec.vpcEndpointId)),
            (col!("user_type"), t(ident.ty)),
            (col!("user_arn"), t(ident.arn)),
            (col!("user_name"), user_name),
            (col!("principal_id"), t(ident.principalId)),
            (col!("account_id"), t(ident.accountId)),
            (col!("access_key_id"), t(ident.accessKeyId)),
            (col!("session_issuer_arn"), issuer_arn),
            (col!("session_issuer_user_name"), issuer_name),
            (col!("invoked_by"), t(ident.invokedBy)),
            (col!("tls_version"), t(tls.tlsVersion)),
            (col!("request_parameters"), raw_json(rec.requestParameters).map(Cow::Borrowed)),
            (col!("response_elements"), raw_json(rec.responseElements).map(Cow::Borrowed)),
            (col!("additional_event_data"), raw_json(rec.additionalEventData).map(Cow::Borrowed)),
            (col!("resources"), raw_json(rec.resources).map(Cow::Borrowed)),
            (col!("service_event_details"), raw_json(rec.serviceEventDetails).map(Cow::Borrowed)),
        ];
        for (i, v) in &values {
            match v {
                Some(v) => self.strings[*i].append_value(v),
                None => self.strings[*i].append_null(),
            }
        }
        self.strings[col!("raw")].append_value(raw);
        self.strings[col!("source_file")].append_value(&*self.source_file);
        self.strings[col!("delivery")].append_value(delivery.as_str());
        self.read_only.append_option(raw_bool(rec.readOnly));
        self.management_event.append_option(raw_bool(rec.managementEvent));
        let attributes: Attributes<'_> = part(session.attributes);
        self.mfa.append_option(raw_bool(attributes.mfaAuthenticated));
        self.source_record.append_value(record_no as i64);
        self.rows += 1;
        self.file_rows += 1;
        self.min_time = Some(self.min_time.map_or(time, |m| m.min(time)));
        self.max_time = Some(self.max_time.map_or(time, |m| m.max(time)));
        let name = t(rec.eventName);
        if let Some(name) = name
            && crate::aws::NACL_ENTRY_EVENTS.contains(&name.as_ref())
            && rec.errorCode.and_then(raw_text).is_none()
            && let Some(rp) = raw_json(rec.requestParameters)
        {
            self.nacl_events.push(NaclEvent {
                time,
                event_name: name.into_owned(),
                request_parameters: rp.to_string(),
            });
        }
        Ok(())
    }

    pub fn take_batch(&mut self) -> Option<RecordBatch> {
        if self.rows == 0 {
            return None;
        }
        // The next batch is sized like this one: its builders do not grow by copying (a decoder
        // gathers batch after batch of about the same size from many small files).
        let (rows, id_bytes) = (self.rows, self.event_id.values_slice().len());
        let text_bytes: Vec<usize> = self.strings.iter().map(|b| b.values_slice().len()).collect();
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(self.event_id.finish()), Arc::new(self.event_time.finish())];
        arrays.extend(self.strings.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
        self.event_id = StringBuilder::with_capacity(rows, id_bytes);
        for (b, bytes) in self.strings.iter_mut().zip(text_bytes) {
            *b = StringBuilder::with_capacity(rows, bytes + bytes / 8);
        }
        arrays.push(Arc::new(self.read_only.finish()));
        arrays.push(Arc::new(self.management_event.finish()));
        arrays.push(Arc::new(self.mfa.finish()));
        arrays.push(Arc::new(self.source_record.finish()));
        // Without the builders' spare capacity: the writer's budget counts it.
        for a in arrays.iter_mut() {
            datafusion::arrow::array::Array::shrink_to_fit(a);
        }
        self.rows = 0;
        Some(RecordBatch::try_new(CLOUDTRAIL_SCHEMA.clone(), arrays).expect("cloudtrail batch matches its schema"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_text_forms() {
        let r: Box<RawValue> = serde_json::from_str(r#""a\"b""#).unwrap();
        assert_eq!(raw_text(&r).unwrap(), "a\"b");
        let r: Box<RawValue> = serde_json::from_str("12").unwrap();
        assert_eq!(raw_text(&r).unwrap(), "12");
        let r: Box<RawValue> = serde_json::from_str("null").unwrap();
        assert!(raw_text(&r).is_none());
    }
}
