//! Indicator sweeps (`trailflow ioc`, `investigate --ioc`): indicators from threat intelligence
//! (plain lists, CSV, STIX 2.1, MISP: [`parse`]) looked for in both sources at once.
//!
//! One scan of each table, whatever the number of indicators: every record is asked of one index
//! of them all ([`matcher::Matcher`]) inside the scan, as a SQL filter, so only the records that
//! hold an indicator come out; those are then told apart per indicator. What a record "holds":
//!
//! - flow logs: an address or network by its side (`ip-src`: srcaddr or pkt-srcaddr, `ip-dst`:
//!   dstaddr or pkt-dstaddr, a plain address either), ports by side, the account id;
//! - CloudTrail: an address or network as the caller's `sourceIPAddress`; an access key, ARN,
//!   account id or single address anywhere in the record (request, response, resources: a role's
//!   ARN in an `AssumeRole`, an address in a security-group rule), as a whole value; a user agent
//!   as a part of `userAgent` (case ignored); an event name as `eventName`; a STIX `user-account`
//!   as the user's name, principal id or key. Ports never match CloudTrail.

mod cond;
pub mod matcher;
pub mod parse;
mod stix;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility};
use datafusion::prelude::SessionContext;
use futures::StreamExt;

use crate::error::{Error, Result};
use crate::functions::Strs;
use matcher::{Matcher, Record};
pub use parse::{Cond, Indicator, Problem};

/// Values kept per indicator for its summary (actors, interfaces), at most.
const KEEP: usize = 10;

/// Indicators read from files, and what could not be read.
#[derive(Debug, Default)]
pub struct Indicators {
    pub list: Vec<Indicator>,
    pub problems: Vec<Problem>,
}

/// Read indicator files; a file or a line that cannot be read is a problem, and the rest is read.
pub fn read(files: &[PathBuf]) -> Indicators {
    let mut out = Indicators::default();
    for f in files {
        match parse::read_file(f) {
            Ok(p) => {
                out.list.extend(p.indicators);
                out.problems.extend(p.problems);
            }
            Err(problem) => out.problems.push(problem),
        }
    }
    out
}

/// What the sweep found of one indicator.
#[derive(Debug, Clone, Default)]
pub struct Found {
    pub cloudtrail_hits: u64,
    pub flow_hits: u64,
    /// Microseconds.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    pub actors: BTreeSet<String>,
    pub interfaces: BTreeSet<String>,
}

impl Found {
    fn saw(&mut self, t: Option<i64>) {
        if let Some(t) = t {
            self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
    }
    pub fn hits(&self) -> u64 {
        self.cloudtrail_hits + self.flow_hits
    }
}

/// A sweep's result: per indicator, in the order read.
#[derive(Debug, Default)]
pub struct Sweep {
    pub found: Vec<Found>,
}

/// A scan's filter: does a record hold any indicator? (Columns as the scan passes them.)
#[derive(Debug)]
struct Holds {
    name: &'static str,
    matcher: Arc<Matcher>,
    flows: bool,
    signature: Signature,
}

impl PartialEq for Holds {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && Arc::ptr_eq(&self.matcher, &other.matcher)
    }
}
impl Eq for Holds {}
impl std::hash::Hash for Holds {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name.hash(state);
    }
}

impl ScalarUDFImpl for Holds {
    fn name(&self) -> &str {
        self.name
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let arrays: Vec<_> = args.args.iter().map(|a| a.to_array(args.number_rows)).collect::<Result<_, _>>()?;
        let cols: Vec<Strs<'_>> = arrays.iter().map(|a| Strs::of(a.as_ref())).collect::<Result<_, _>>()?;
        let out: BooleanArray = (0..args.number_rows)
            .map(|i| {
                let g = |c: usize| cols[c].get(i);
                Some(if self.flows {
                    flow_hits(&self.matcher, &g).is_some()
                } else {
                    !ct_hits(&self.matcher, &g).is_empty()
                })
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// The flow columns a sweep reads, in order.
const FLOW_COLUMNS: &str =
    "srcaddr, dstaddr, pkt_srcaddr, pkt_dstaddr, account_id, CAST(srcport AS VARCHAR), CAST(dstport AS VARCHAR)";
/// The CloudTrail columns a sweep reads, in order (`raw` last: read only when a literal is swept).
const CT_COLUMNS: &str = "source_ip, access_key_id, user_arn, session_issuer_arn, account_id, recipient_account_id, \
                          user_name, principal_id, event_name, user_agent, session_issuer_user_name";

/// A flow's matched indicators (`None`: none); `g(i)` reads the i-th of [`FLOW_COLUMNS`].
fn flow_hits<'a>(m: &Matcher, g: &dyn Fn(usize) -> Option<&'a str>) -> Option<Vec<u32>> {
    if !m.any_addr(&[g(0), g(1), g(2), g(3)]) && !m.any_exact(&[(matcher::ACCOUNT, g(4))]) {
        return None;
    }
    let accounts = [g(4)];
    let r = Record {
        src: [g(0), g(2).filter(|p| Some(*p) != g(0))],
        dst: [g(1), g(3).filter(|p| Some(*p) != g(1))],
        src_port: g(5).and_then(|p| p.parse().ok()),
        dst_port: g(6).and_then(|p| p.parse().ok()),
        accounts: &accounts,
        ..Default::default()
    };
    let found = m.matches(&r);
    (!found.is_empty()).then_some(found)
}

/// A CloudTrail record's matched indicators; `g(i)` reads the i-th of [`CT_COLUMNS`], then `raw`.
fn ct_hits<'a>(m: &Matcher, g: &dyn Fn(usize) -> Option<&'a str>) -> Vec<u32> {
    let keys = [g(1)];
    let arns = [g(2), g(3)];
    let accounts = [g(4), g(5)];
    let users = [g(6), g(7), g(1), g(10)];
    let r = Record {
        // The caller's address: a network indicator of either side names it.
        src: [g(0), None],
        dst: [g(0), None],
        keys: &keys,
        arns: &arns,
        accounts: &accounts,
        users: &users,
        event_name: g(8),
        user_agent: g(9),
        text: g(11),
        ..Default::default()
    };
    m.matches(&r)
}

/// Where matched records go: one CSV per source under a folder.
pub struct Writers {
    cloudtrail: csv::Writer<std::io::BufWriter<std::fs::File>>,
    flows: csv::Writer<std::io::BufWriter<std::fs::File>>,
}

fn writer(path: &Path, header: &[&str]) -> Result<csv::Writer<std::io::BufWriter<std::fs::File>>> {
    let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    let mut w = csv::Writer::from_writer(std::io::BufWriter::new(f));
    w.write_record(header).map_err(|e| Error::io(path, e.into()))?;
    Ok(w)
}

impl Writers {
    pub fn create(dir: &Path) -> Result<Writers> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Writers {
            cloudtrail: writer(
                &dir.join("ioc_cloudtrail.csv"),
                &[
                    "indicator",
                    "origin",
                    "event_time",
                    "event_name",
                    "event_source",
                    "actor_arn",
                    "source_ip",
                    "access_key_id",
                    "user_agent",
                    "aws_region",
                    "event_id",
                    "source_file",
                ],
            )?,
            flows: writer(
                &dir.join("ioc_flows.csv"),
                &[
                    "indicator",
                    "origin",
                    "start_time",
                    "interface_id",
                    "srcaddr",
                    "srcport",
                    "dstaddr",
                    "dstport",
                    "protocol",
                    "action",
                    "bytes",
                    "account_id",
                    "source_file",
                    "source_line",
                ],
            )?,
        })
    }
}

/// Columns of a batch as text, cast once per batch (not once per row).
struct BatchText {
    cols: Vec<(&'static str, datafusion::arrow::array::StringArray)>,
}

impl BatchText {
    fn new(b: &RecordBatch, names: &[&'static str]) -> Result<BatchText> {
        let mut cols = Vec::new();
        for n in names {
            if let Some(c) = b.column_by_name(n) {
                let text = datafusion::arrow::compute::cast(c, &DataType::Utf8)?;
                cols.push((*n, text.as_string::<i32>().clone()));
            }
        }
        Ok(BatchText { cols })
    }

    fn get(&self, name: &str, i: usize) -> String {
        match self.cols.iter().find(|(n, _)| *n == name) {
            Some((_, a)) if a.is_valid(i) => a.value(i).to_string(),
            _ => String::new(),
        }
    }
}

fn time_at(b: &RecordBatch, name: &str, i: usize) -> Option<i64> {
    let c = b.column_by_name(name)?;
    let c = c.as_primitive_opt::<Int64Type>()?;
    c.is_valid(i).then(|| c.value(i))
}

/// Sweep the indicators over the session's `cloudtrail` and `flow_logs`; with `writers`, every
/// matching record is written out with the indicator it holds.
pub async fn sweep(ctx: &SessionContext, indicators: &[Indicator], mut writers: Option<&mut Writers>) -> Result<Sweep> {
    let matcher = Arc::new(Matcher::new(indicators));
    let mut found = vec![Found::default(); indicators.len()];
    let literal = indicators.iter().flat_map(|i| i.alternatives.iter().flatten()).any(|c| {
        matches!(c, Cond::AccessKey(_) | Cond::Arn(_) | Cond::Account(_))
            || matches!(c, Cond::Addr(n, _) if n.prefix_len() == n.max_prefix_len())
    });
    let ct_filter = Holds {
        name: "trailflow_ioc_cloudtrail",
        matcher: Arc::clone(&matcher),
        flows: false,
        signature: Signature::variadic_any(Volatility::Immutable),
    };
    ctx.register_udf(ScalarUDF::new_from_impl(ct_filter));
    let raw = if literal { ", CAST(raw AS VARCHAR) AS raw_text" } else { "" };
    let sql = format!(
        "SELECT arrow_cast(event_time, 'Int64') AS t, event_id, event_source, aws_region, source_file, {CT_COLUMNS}{raw} \
         FROM cloudtrail WHERE trailflow_ioc_cloudtrail({CT_COLUMNS}{})",
        if literal { ", CAST(raw AS VARCHAR)" } else { "" }
    );
    let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
    let ct_names: Vec<&str> = CT_COLUMNS.split(',').map(str::trim).collect();
    while let Some(batch) = stream.next().await {
        let b = batch?;
        let more = BatchText::new(&b, &["event_source", "aws_region", "event_id", "source_file"])?;
        let cols: Vec<Option<Strs<'_>>> = ct_names
            .iter()
            .chain(std::iter::once(&"raw_text"))
            .map(|n| b.column_by_name(n).and_then(|c| Strs::of(c.as_ref()).ok()))
            .collect();
        for i in 0..b.num_rows() {
            let g = |c: usize| cols.get(c).and_then(|s| s.as_ref()).and_then(|s| s.get(i));
            let t = time_at(&b, "t", i);
            for ind in ct_hits(&matcher, &g) {
                let f = &mut found[ind as usize];
                f.cloudtrail_hits += 1;
                f.saw(t);
                if let Some(a) = g(2)
                    && f.actors.len() < KEEP
                {
                    f.actors.insert(a.to_string());
                }
                if let Some(w) = writers.as_deref_mut() {
                    let ind = &indicators[ind as usize];
                    w.cloudtrail
                        .write_record([
                            ind.text(),
                            ind.origin.clone(),
                            t.map(crate::time::fmt_time).unwrap_or_default(),
                            g(8).unwrap_or_default().to_string(),
                            more.get("event_source", i),
                            g(2).unwrap_or_default().to_string(),
                            g(0).unwrap_or_default().to_string(),
                            g(1).unwrap_or_default().to_string(),
                            g(9).unwrap_or_default().to_string(),
                            more.get("aws_region", i),
                            more.get("event_id", i),
                            more.get("source_file", i),
                        ])
                        .map_err(|e| Error::Internal(format!("writing ioc_cloudtrail.csv: {e}")))?;
                }
            }
        }
    }
    if matcher.flows_possible {
        let flow_filter = Holds {
            name: "trailflow_ioc_flows",
            matcher: Arc::clone(&matcher),
            flows: true,
            signature: Signature::variadic_any(Volatility::Immutable),
        };
        ctx.register_udf(ScalarUDF::new_from_impl(flow_filter));
        let sql = format!(
            "SELECT arrow_cast(start_time, 'Int64') AS t, interface_id, protocol, action, bytes, source_file, source_line, \
             {FLOW_COLUMNS} FROM flow_logs WHERE trailflow_ioc_flows({FLOW_COLUMNS})"
        );
        let mut stream = ctx.sql(&sql).await?.execute_stream().await?;
        while let Some(batch) = stream.next().await {
            let b = batch?;
            let names = ["srcaddr", "dstaddr", "pkt_srcaddr", "pkt_dstaddr", "account_id"];
            let mut cols: Vec<Option<Strs<'_>>> =
                names.iter().map(|n| b.column_by_name(n).and_then(|c| Strs::of(c.as_ref()).ok())).collect();
            // The ports, cast to text by the query, are its last two columns.
            let n = b.num_columns();
            cols.push(Strs::of(b.column(n - 2).as_ref()).ok());
            cols.push(Strs::of(b.column(n - 1).as_ref()).ok());
            let more =
                BatchText::new(&b, &["interface_id", "protocol", "action", "bytes", "source_file", "source_line"])?;
            for i in 0..b.num_rows() {
                let g = |c: usize| cols.get(c).and_then(|s| s.as_ref()).and_then(|s| s.get(i));
                let Some(hits) = flow_hits(&matcher, &g) else { continue };
                let t = time_at(&b, "t", i);
                let iface = Some(more.get("interface_id", i)).filter(|s| !s.is_empty());
                for ind in hits {
                    let f = &mut found[ind as usize];
                    f.flow_hits += 1;
                    f.saw(t);
                    if let Some(x) = &iface
                        && f.interfaces.len() < KEEP
                    {
                        f.interfaces.insert(x.clone());
                    }
                    if let Some(w) = writers.as_deref_mut() {
                        let ind = &indicators[ind as usize];
                        w.flows
                            .write_record([
                                ind.text(),
                                ind.origin.clone(),
                                t.map(crate::time::fmt_time).unwrap_or_default(),
                                iface.clone().unwrap_or_default(),
                                g(0).unwrap_or_default().to_string(),
                                g(5).unwrap_or_default().to_string(),
                                g(1).unwrap_or_default().to_string(),
                                g(6).unwrap_or_default().to_string(),
                                more.get("protocol", i),
                                more.get("action", i),
                                more.get("bytes", i),
                                g(4).unwrap_or_default().to_string(),
                                more.get("source_file", i),
                                more.get("source_line", i),
                            ])
                            .map_err(|e| Error::Internal(format!("writing ioc_flows.csv: {e}")))?;
                    }
                }
            }
        }
    }
    if let Some(w) = writers {
        w.cloudtrail.flush().map_err(|e| Error::Internal(format!("writing ioc_cloudtrail.csv: {e}")))?;
        w.flows.flush().map_err(|e| Error::Internal(format!("writing ioc_flows.csv: {e}")))?;
    }
    Ok(Sweep { found })
}

/// One row per indicator: what it is, where it was read, its hits per source, first and last
/// seen, the actors and interfaces involved, and (for an address) whose it is.
pub fn summary_batch(
    indicators: &[Indicator],
    sweep: &Sweep,
    context: Option<&crate::enrich::AddressContext>,
) -> Result<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
    let text = |f: &dyn Fn(usize) -> Option<String>| -> ArrayRef {
        Arc::new((0..indicators.len()).map(f).collect::<StringArray>())
    };
    let found = |i: usize| &sweep.found[i];
    let address_context = |i: usize| -> Option<String> {
        match indicators[i].alternatives.as_slice() {
            [alt] => alt.iter().find_map(|c| match c {
                Cond::Addr(n, _) => context?.facts(&n.addr().to_string()).and_then(|f| f.label()),
                _ => None,
            }),
            _ => None,
        }
    };
    let joined = |s: &BTreeSet<String>| (!s.is_empty()).then(|| s.iter().cloned().collect::<Vec<_>>().join(" "));
    Ok(RecordBatch::try_from_iter(vec![
        ("indicator", text(&|i| Some(indicators[i].text()))),
        ("kind", text(&|i| Some(indicators[i].kind()))),
        ("hits", Arc::new((0..indicators.len()).map(|i| found(i).hits()).collect::<UInt64Array>()) as ArrayRef),
        ("cloudtrail_hits", Arc::new((0..indicators.len()).map(|i| found(i).cloudtrail_hits).collect::<UInt64Array>())),
        ("flow_hits", Arc::new((0..indicators.len()).map(|i| found(i).flow_hits).collect::<UInt64Array>())),
        ("first_seen", text(&|i| found(i).first_seen.map(crate::time::fmt_time))),
        ("last_seen", text(&|i| found(i).last_seen.map(crate::time::fmt_time))),
        ("actors", text(&|i| joined(&found(i).actors))),
        ("interfaces", text(&|i| joined(&found(i).interfaces))),
        ("address_context", text(&address_context)),
        ("name", text(&|i| indicators[i].name.clone())),
        ("origin", text(&|i| Some(indicators[i].origin.clone()))),
    ])?)
}

/// The problems as a small table (`ioc_problems.csv`).
pub fn problems_batch(problems: &[Problem]) -> Result<RecordBatch> {
    use datafusion::arrow::array::{ArrayRef, StringArray};
    Ok(RecordBatch::try_from_iter(vec![
        ("at", Arc::new(problems.iter().map(|p| Some(p.at.clone())).collect::<StringArray>()) as ArrayRef),
        ("why", Arc::new(problems.iter().map(|p| Some(p.why.clone())).collect::<StringArray>()) as ArrayRef),
    ])?)
}

/// Write a batch as CSV (the summary and problems files).
pub fn write_csv(path: &Path, batch: &RecordBatch) -> Result<()> {
    let f = std::fs::File::create(path).map_err(|e| Error::io(path, e))?;
    crate::output::write(crate::output::Format::Csv, std::slice::from_ref(batch), Box::new(std::io::BufWriter::new(f)))
}

/// A sweep written out: `ioc_summary.csv` (every indicator), `ioc_cloudtrail.csv` and
/// `ioc_flows.csv` (the matching records, with the indicator each holds) and `ioc_problems.csv`
/// (what was not read) under `dir`, when given. Returns the summary, most hits first.
pub async fn run(ctx: &SessionContext, indicators: &Indicators, dir: Option<&Path>) -> Result<RecordBatch> {
    let mut writers = dir.map(Writers::create).transpose()?;
    let result = sweep(ctx, &indicators.list, writers.as_mut()).await?;
    // Whose each address is, from the session's address context.
    let context = crate::functions::session_context(ctx);
    let summary = summary_batch(&indicators.list, &result, context.as_deref())?;
    let order = datafusion::arrow::compute::sort_to_indices(
        summary.column_by_name("hits").ok_or_else(|| Error::Internal("no hits column".into()))?,
        Some(datafusion::arrow::compute::SortOptions { descending: true, nulls_first: false }),
        None,
    )?;
    let summary = datafusion::arrow::compute::take_record_batch(&summary, &order)?;
    if let Some(dir) = dir {
        write_csv(&dir.join("ioc_summary.csv"), &summary)?;
        write_csv(&dir.join("ioc_problems.csv"), &problems_batch(&indicators.problems)?)?;
    }
    Ok(summary)
}
