//! `sigma_match(json, path, op, value)`: does any value at a dotted path of a JSON text match, as a
//! Sigma rule means it? The path is followed through lists: where a step meets a list, every
//! element is followed (as Sigma backends for JSON logs do), so
//! `ipPermissions.items.ipRanges.items.cidrIp` reaches every CIDR of every permission, and a list
//! at the end of the path gives each of its elements. Text is compared as it is, numbers and
//! booleans as their JSON text, objects as their JSON text.
//!
//! `op`: `eq` and `like` (a LIKE pattern: `%`, `_`, `\` escaping), each on the value lowered
//! unless `eq_cased` / `like_cased`; `re` (a regular expression); `cidr`; `gt`, `gte`, `lt`,
//! `lte` (numbers); `exists` (any value that is not null); `null` (no value, or only nulls).
//! The answer is never NULL: a path that leads nowhere does not match (and `null` does).

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use serde_json::Value;

use super::Strs;
use crate::pattern::like_match;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct SigmaMatch {
    signature: Signature,
}

impl SigmaMatch {
    pub fn new() -> Self {
        SigmaMatch { signature: Signature::string(4, Volatility::Immutable) }
    }
}

impl Default for SigmaMatch {
    fn default() -> Self {
        Self::new()
    }
}

/// The values at `keys` under `v`, lists followed element by element.
fn values_at<'v>(v: &'v Value, keys: &[&str], out: &mut Vec<&'v Value>) {
    match (v, keys.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|i| values_at(i, keys, out)),
        (_, None) => out.push(v),
        (Value::Object(map), Some((k, rest))) => {
            if let Some(next) = map.get(*k) {
                values_at(next, rest, out);
            }
        }
        _ => {}
    }
}

fn text_of(v: &Value) -> Option<std::borrow::Cow<'_, str>> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(std::borrow::Cow::Borrowed(s)),
        other => Some(std::borrow::Cow::Owned(other.to_string())),
    }
}

enum Op {
    Eq(String, bool),
    Like(String, bool),
    Re(regex::Regex),
    Cidr(ipnet::IpNet),
    Cmp(fn(f64, f64) -> bool, f64),
    Exists,
    Null,
}

impl Op {
    fn parse(op: &str, value: &str) -> Result<Op> {
        let bad = |why: String| DataFusionError::Plan(format!("sigma_match: {why}"));
        Ok(match op {
            "eq" => Op::Eq(value.to_lowercase(), false),
            "eq_cased" => Op::Eq(value.to_string(), true),
            "like" => Op::Like(value.to_lowercase(), false),
            "like_cased" => Op::Like(value.to_string(), true),
            "re" => Op::Re(regex::Regex::new(value).map_err(|e| bad(format!("{value:?}: {e}")))?),
            "cidr" => {
                Op::Cidr(super::cidr_contains::parse_net(value).ok_or_else(|| bad(format!("{value:?} is not a CIDR")))?)
            }
            "gt" | "gte" | "lt" | "lte" => {
                let n: f64 = value.trim().parse().map_err(|_| bad(format!("{value:?} is not a number")))?;
                let f: fn(f64, f64) -> bool = match op {
                    "gt" => |a, b| a > b,
                    "gte" => |a, b| a >= b,
                    "lt" => |a, b| a < b,
                    _ => |a, b| a <= b,
                };
                Op::Cmp(f, n)
            }
            "exists" => Op::Exists,
            "null" => Op::Null,
            other => return Err(bad(format!("unknown operation {other:?}"))),
        })
    }

    fn any(&self, values: &[&Value]) -> bool {
        let texts = || values.iter().filter_map(|v| text_of(v));
        match self {
            Op::Exists => values.iter().any(|v| !v.is_null()),
            Op::Null => values.iter().all(|v| v.is_null()),
            Op::Eq(want, cased) => texts().any(|t| if *cased { t == want.as_str() } else { t.to_lowercase() == *want }),
            Op::Like(pattern, cased) => {
                texts().any(|t| if *cased { like_match(&t, pattern) } else { like_match(&t.to_lowercase(), pattern) })
            }
            Op::Re(re) => texts().any(|t| re.is_match(&t)),
            Op::Cidr(net) => texts().any(|t| super::parse_ip(&t).is_some_and(|ip| net.contains(&ip))),
            Op::Cmp(f, n) => texts().any(|t| t.trim().parse::<f64>().is_ok_and(|x| f(x, *n))),
        }
    }
}

fn literal(v: &ColumnarValue, what: &str) -> Result<String> {
    match v {
        ColumnarValue::Scalar(ScalarValue::Utf8(Some(s)))
        | ColumnarValue::Scalar(ScalarValue::LargeUtf8(Some(s)))
        | ColumnarValue::Scalar(ScalarValue::Utf8View(Some(s))) => Ok(s.clone()),
        _ => Err(DataFusionError::Plan(format!("sigma_match: the {what} must be a text literal"))),
    }
}

impl ScalarUDFImpl for SigmaMatch {
    fn name(&self) -> &str {
        "sigma_match"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let path = literal(&args.args[1], "path")?;
        let op = Op::parse(&literal(&args.args[2], "operation")?, &literal(&args.args[3], "value")?)?;
        let keys: Vec<&str> = path.split('.').filter(|k| !k.is_empty()).collect();
        let docs = args.args[0].to_array(args.number_rows)?;
        let docs = Strs::of(&docs)?;
        let out: BooleanArray = (0..docs.len())
            .map(|i| {
                let doc = docs.get(i).and_then(|d| serde_json::from_str::<Value>(d).ok());
                let mut found = Vec::new();
                if let Some(doc) = &doc {
                    values_at(doc, &keys, &mut found);
                }
                Some(op.any(&found))
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(doc: &str, path: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(doc).unwrap();
        let keys: Vec<&str> = path.split('.').collect();
        let mut out = Vec::new();
        values_at(&v, &keys, &mut out);
        out.iter().map(|v| text_of(v).map(|t| t.to_string()).unwrap_or("null".into())).collect()
    }

    #[test]
    fn paths_go_through_lists() {
        // AuthorizeSecurityGroupIngress as CloudTrail writes it.
        let rp = r#"{"groupId":"sg-1","ipPermissions":{"items":[
            {"ipProtocol":"tcp","fromPort":22,"toPort":22,"ipRanges":{"items":[{"cidrIp":"10.0.0.0/8"},{"cidrIp":"0.0.0.0/0"}]}},
            {"ipProtocol":"-1","ipRanges":{"items":[{"cidrIp":"192.0.2.0/24"}]}}]}}"#;
        assert_eq!(at(rp, "ipPermissions.items.ipRanges.items.cidrIp"), ["10.0.0.0/8", "0.0.0.0/0", "192.0.2.0/24"]);
        assert_eq!(at(rp, "ipPermissions.items.fromPort"), ["22"]);
        // A list at the end: each element.
        let ecs =
            r#"{"containerDefinitions":[{"command":["sh","-c","curl $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]}]}"#;
        assert_eq!(
            at(ecs, "containerDefinitions.command"),
            ["sh", "-c", "curl $AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"]
        );
        assert!(at(rp, "nothing.here").is_empty());
        let op = Op::parse("like", "%$aws_container_credentials_relative_uri%").unwrap();
        let v: Value = serde_json::from_str(ecs).unwrap();
        let mut found = Vec::new();
        values_at(&v, &["containerDefinitions", "command"], &mut found);
        assert!(op.any(&found));
        assert!(Op::parse("null", "").unwrap().any(&[]));
        assert!(!Op::parse("exists", "").unwrap().any(&[]));
    }
}
