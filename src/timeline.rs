//! `trailflow timeline`: everything one actor, access key or address did, from CloudTrail and the
//! flow logs, merged in time order, in a shape Timesketch imports (`message`, `datetime`,
//! `timestamp_desc`, and `timestamp` in microseconds) as well as a table or CSV.

use datafusion::common::ParamValues;
use datafusion::prelude::{DataFrame, SessionContext};
use datafusion::scalar::ScalarValue;

use crate::error::{Error, Result};

/// Whose timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pivot {
    /// A principal's ARN (a user, a role session; the role itself matches its sessions).
    Actor(String),
    /// An address: CloudTrail calls from it, and flow records to or from it.
    Ip(String),
    /// An access key id.
    Key(String),
}

/// The CloudTrail half of every timeline.
///
/// A call failed when CloudTrail gives an `errorCode`, or, for sign-in events, when a value of
/// `responseElements` is `Failure` (a failed `ConsoleLogin` has no `errorCode`: its
/// `responseElements` say `{"ConsoleLogin": "Failure"}` and its `errorMessage` why).
const CLOUDTRAIL: &str = "
SELECT event_time AS datetime, arrow_cast(event_time, 'Int64') AS timestamp, 'CloudTrail call' AS timestamp_desc,
       concat_ws(' ', coalesce(user_arn, principal_id, '(unknown principal)'), event_name,
                 CASE WHEN error_code IS NOT NULL THEN '(failed: ' || error_code || ')'
                      WHEN regexp_like(response_elements, '\"[A-Za-z]+\"\\s*:\\s*\"Failure\"')
                      THEN '(Failure' || coalesce(': ' || error_message, '') || ')' END,
                 'from ' || with_ip_context(source_ip), 'in ' || aws_region) AS message,
       'cloudtrail' AS source, user_arn AS actor, access_key_id, source_ip, aws_region, event_name, error_code,
       CASE WHEN error_code IS NOT NULL OR regexp_like(response_elements, '\"[A-Za-z]+\"\\s*:\\s*\"Failure\"')
            THEN 'Failure' ELSE 'Success' END AS outcome,
       CAST(NULL AS VARCHAR) AS interface_id, CAST(NULL AS VARCHAR) AS flow, CAST(NULL AS BIGINT) AS bytes, event_id,
       ip_context(source_ip) AS address_context
FROM cloudtrail";

/// The flow half of an address's timeline.
const FLOWS: &str = "
SELECT start_time AS datetime, arrow_cast(start_time, 'Int64') AS timestamp, 'Flow start' AS timestamp_desc,
       with_ip_context(concat_ws(' ', action, protocol_name(protocol), srcaddr || ':' || CAST(srcport AS VARCHAR), '->',
                 dstaddr || ':' || CAST(dstport AS VARCHAR), CAST(coalesce(bytes, 0) AS VARCHAR) || ' bytes',
                 'on ' || interface_id)) AS message,
       'flow_logs' AS source, CAST(NULL AS VARCHAR) AS actor, CAST(NULL AS VARCHAR) AS access_key_id,
       srcaddr AS source_ip, region AS aws_region, CAST(NULL AS VARCHAR) AS event_name, CAST(NULL AS VARCHAR) AS error_code,
       action AS outcome, interface_id, concat_ws(' ', action, protocol_name(protocol), srcaddr, '->', dstaddr || ':' || CAST(dstport AS VARCHAR)) AS flow,
       bytes, CAST(NULL AS VARCHAR) AS event_id,
       ip_context(CASE WHEN is_private_ip(srcaddr) THEN dstaddr ELSE srcaddr END) AS address_context
FROM flow_logs";

/// The events of an actor given as `$1`: an ARN, or a user name, role name or access key id.
const ACTOR: &str = "(user_arn = $1 OR session_issuer_arn = $1 OR (NOT starts_with($1, 'arn:') AND (user_name = $1 OR \
    session_issuer_user_name = $1 OR access_key_id = $1)))";

/// The principals (ARNs) an `--actor` value matched, with their events, most first.
pub async fn actor_arns(ctx: &SessionContext, actor: &str) -> Result<Vec<(String, i64)>> {
    use datafusion::arrow::array::{Array, AsArray};
    let sql = format!(
        "SELECT coalesce(user_arn, principal_id, '(unknown principal)') AS arn, count(*) AS n FROM cloudtrail WHERE \
            {ACTOR} GROUP BY 1 ORDER BY 2 DESC, 1"
    );
    let df = crate::query::user_sql(ctx, &sql).await?;
    let df = df.with_param_values(ParamValues::List(vec![ScalarValue::Utf8(Some(actor.to_string())).into()]))?;
    let mut out = Vec::new();
    for b in df.collect().await? {
        let b = datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8)
            .map(|a| (a, b.column(1).clone()))?;
        let (arns, n) =
            (b.0.as_string::<i32>().clone(), b.1.as_primitive::<datafusion::arrow::datatypes::Int64Type>().clone());
        for i in 0..arns.len() {
            out.push((arns.value(i).to_string(), n.value(i)));
        }
    }
    Ok(out)
}

impl Pivot {
    /// The pivot given on the command line: exactly one of them.
    pub fn from_args(actor: Option<String>, ip: Option<String>, key: Option<String>) -> Result<Pivot> {
        match (actor, ip, key) {
            (Some(a), None, None) => Ok(Pivot::Actor(a)),
            (None, Some(i), None) => {
                i.trim()
                    .parse::<std::net::IpAddr>()
                    .map_err(|_| Error::Usage(format!("--ip {i:?} is not an address")))?;
                Ok(Pivot::Ip(i.trim().to_string()))
            }
            (None, None, Some(k)) => Ok(Pivot::Key(k)),
            _ => Err(Error::Usage("give one of --actor ARN, --ip ADDRESS, --key ACCESS-KEY-ID".into())),
        }
    }

    /// The timeline's SQL; the pivot's value is `$1`, bound as a value.
    fn sql(&self, with_flows: bool) -> String {
        let ct = match self {
            // A role's ARN also matches the sessions of that role; a name (not an ARN) matches the
            // IAM user, the role (its sessions) or the access key of that name.
            Pivot::Actor(_) => format!("{CLOUDTRAIL} WHERE {ACTOR}"),
            Pivot::Ip(_) => format!("{CLOUDTRAIL} WHERE source_ip = $1"),
            Pivot::Key(_) => format!("{CLOUDTRAIL} WHERE access_key_id = $1"),
        };
        match self {
            Pivot::Ip(_) if with_flows => format!(
                "{ct}\nUNION ALL\n{FLOWS} WHERE srcaddr = $1 OR dstaddr = $1\nORDER BY datetime, source, event_id"
            ),
            _ => format!("{ct}\nORDER BY datetime, event_id"),
        }
    }

    fn value(&self) -> &str {
        match self {
            Pivot::Actor(v) | Pivot::Ip(v) | Pivot::Key(v) => v,
        }
    }
}

/// The timeline as a DataFrame, optionally bounded in time.
pub async fn timeline(ctx: &SessionContext, pivot: &Pivot, from: Option<i64>, to: Option<i64>) -> Result<DataFrame> {
    use datafusion::prelude::{col, lit};
    let with_flows = ctx.table_exist("flow_logs")?;
    let df = crate::query::user_sql(ctx, &pivot.sql(with_flows)).await?;
    let mut df =
        df.with_param_values(ParamValues::List(vec![ScalarValue::Utf8(Some(pivot.value().to_string())).into()]))?;
    let at = |us: i64| lit(ScalarValue::TimestampMicrosecond(Some(us), Some("UTC".into())));
    if let Some(f) = from {
        df = df.filter(col("datetime").gt_eq(at(f)))?;
    }
    if let Some(t) = to {
        df = df.filter(col("datetime").lt(at(t)))?;
    }
    Ok(df)
}
