//! `date_trunc` over UTC timestamps at the speed of plain arithmetic.
//!
//! Every time column of the lake is `Timestamp(µs, "UTC")`. DataFusion's `date_trunc` takes a
//! per-row calendar path for any timestamp that carries a time zone, even UTC, which makes
//! `date_trunc('hour', start_time)` the slowest part of a bytes-per-hour query. A UTC timestamp
//! holds the same number as a zone-less one, so this wrapper hands the built-in function the values
//! without their zone (its arithmetic path), then puts the zone back. Any other zone, and every
//! other input, goes to the built-in function unchanged, so the results are the built-in's.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::{
    ColumnarValue, Documentation, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature,
};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct DateTruncUtc {
    inner: ScalarUDF,
}

impl DateTruncUtc {
    pub fn new() -> Self {
        DateTruncUtc { inner: datafusion::functions::datetime::date_trunc().as_ref().clone() }
    }
}

impl Default for DateTruncUtc {
    fn default() -> Self {
        Self::new()
    }
}

/// Is this time zone UTC under another name (no offset, ever)?
fn is_utc(tz: &str) -> bool {
    ["UTC", "Z", "+00:00", "+0000", "+00", "Etc/UTC", "GMT", "Etc/GMT"].iter().any(|u| u.eq_ignore_ascii_case(tz))
}

/// The type with a UTC zone removed, if it has one.
fn without_utc(t: &DataType) -> Option<DataType> {
    match t {
        DataType::Timestamp(unit, Some(tz)) if is_utc(tz) => Some(DataType::Timestamp(*unit, None)),
        _ => None,
    }
}

/// The same value with its UTC zone removed, if it has one.
fn strip(v: &ColumnarValue) -> Result<Option<ColumnarValue>> {
    Ok(match v {
        ColumnarValue::Array(a) => match without_utc(a.data_type()) {
            Some(t) => Some(ColumnarValue::Array(datafusion::arrow::compute::cast(a, &t)?)),
            None => None,
        },
        ColumnarValue::Scalar(s) => {
            let stripped = match s {
                ScalarValue::TimestampSecond(v, Some(tz)) if is_utc(tz) => ScalarValue::TimestampSecond(*v, None),
                ScalarValue::TimestampMillisecond(v, Some(tz)) if is_utc(tz) => {
                    ScalarValue::TimestampMillisecond(*v, None)
                }
                ScalarValue::TimestampMicrosecond(v, Some(tz)) if is_utc(tz) => {
                    ScalarValue::TimestampMicrosecond(*v, None)
                }
                ScalarValue::TimestampNanosecond(v, Some(tz)) if is_utc(tz) => {
                    ScalarValue::TimestampNanosecond(*v, None)
                }
                _ => return Ok(None),
            };
            Some(ColumnarValue::Scalar(stripped))
        }
    })
}

impl ScalarUDFImpl for DateTruncUtc {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }
    fn signature(&self) -> &Signature {
        self.inner.signature()
    }
    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let (Some(value), Some(field)) = (args.args.get(1), args.arg_fields.get(1)) else {
            return self.inner.invoke_with_args(args);
        };
        let (Some(stripped), Some(naive_type)) = (strip(value)?, without_utc(field.data_type())) else {
            return self.inner.invoke_with_args(args);
        };
        let zoned = args.return_field.data_type().clone();
        let mut naive = args.clone();
        naive.args[1] = stripped;
        naive.arg_fields[1] = Arc::new(Field::new(field.name(), naive_type.clone(), field.is_nullable()));
        naive.return_field = Arc::new(Field::new(args.return_field.name(), naive_type, true));
        // Putting the UTC zone back on a zone-less value does not change the number.
        match self.inner.invoke_with_args(naive)? {
            ColumnarValue::Array(a) => Ok(ColumnarValue::Array(datafusion::arrow::compute::cast(&a, &zoned)?)),
            ColumnarValue::Scalar(s) => Ok(ColumnarValue::Scalar(s.cast_to(&zoned)?)),
        }
    }
    fn output_ordering(&self, input: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.inner().output_ordering(input)
    }
    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    /// The wrapper gives exactly what the built-in gives, for UTC and for other zones, on every
    /// granularity, including values before 1970 and at the edges of days.
    #[tokio::test]
    async fn same_results_as_builtin() {
        let ctx = SessionContext::new();
        let values = "('1969-12-31T23:59:59.999999Z'), ('2026-03-10T00:00:00Z'), ('2026-03-10T13:47:21.123456Z'), \
                      ('2024-02-29T23:00:01Z'), (NULL)";
        for unit in
            ["microsecond", "millisecond", "second", "minute", "hour", "day", "week", "month", "quarter", "year"]
        {
            for tz in ["UTC", "+00:00", "Europe/Berlin", "+05:30"] {
                let sql = format!(
                    "SELECT CAST(date_trunc('{unit}', arrow_cast(column1, 'Timestamp(Microsecond, Some(\"{tz}\"))')) \
                     AS VARCHAR) FROM (VALUES {values})"
                );
                let builtin = ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                let ours_ctx = SessionContext::new();
                ours_ctx.register_udf(ScalarUDF::new_from_impl(DateTruncUtc::new()));
                let ours = ours_ctx.sql(&sql).await.unwrap().collect().await.unwrap();
                assert_eq!(
                    datafusion::arrow::util::pretty::pretty_format_batches(&builtin).unwrap().to_string(),
                    datafusion::arrow::util::pretty::pretty_format_batches(&ours).unwrap().to_string(),
                    "{unit} {tz}"
                );
            }
        }
        // A literal UTC timestamp (scalar path) too.
        let ours_ctx = SessionContext::new();
        ours_ctx.register_udf(ScalarUDF::new_from_impl(DateTruncUtc::new()));
        let b = ours_ctx
            .sql(
                "SELECT CAST(date_trunc('hour', arrow_cast('2026-03-10T13:47:21Z', \
                 'Timestamp(Microsecond, Some(\"UTC\"))')) AS VARCHAR)",
            )
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        let s = datafusion::arrow::util::pretty::pretty_format_batches(&b).unwrap().to_string();
        assert!(s.contains("2026-03-10T13:00:00"), "{s}");
    }
}
