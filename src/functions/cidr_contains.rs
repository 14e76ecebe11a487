//! `cidr_contains(cidr, ip)`: is the address inside the network (IPv4 or IPv6)? NULL when either
//! argument is NULL or not an address/network; an IPv4 address is never inside an IPv6 network.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use ipnet::IpNet;

use super::{Strs, parse_ip};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct CidrContains {
    signature: Signature,
}

impl CidrContains {
    pub fn new() -> Self {
        CidrContains { signature: Signature::string(2, Volatility::Immutable) }
    }
}

impl Default for CidrContains {
    fn default() -> Self {
        Self::new()
    }
}

/// Parse a network; a bare address is its own /32 or /128.
pub fn parse_net(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>().ok().or_else(|| parse_ip(s).map(IpNet::from))
}

fn scalar_str(v: &ColumnarValue) -> Option<Option<String>> {
    match v {
        ColumnarValue::Scalar(s) => Some(match s {
            ScalarValue::Utf8(x) | ScalarValue::LargeUtf8(x) | ScalarValue::Utf8View(x) => x.clone(),
            _ => None,
        }),
        ColumnarValue::Array(_) => None,
    }
}

impl ScalarUDFImpl for CidrContains {
    fn name(&self) -> &str {
        "cidr_contains"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        // Fast path: a literal network against a column of addresses parses the network once.
        if let Some(cidr) = scalar_str(&args.args[0]) {
            let net = cidr.as_deref().and_then(parse_net);
            let ips = args.args[1].to_array(n)?;
            let ips = Strs::of(&ips)?;
            let out: BooleanArray = (0..ips.len()).map(|i| Some(net?.contains(&parse_ip(ips.get(i)?)?))).collect();
            return Ok(ColumnarValue::Array(Arc::new(out) as ArrayRef));
        }
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (cidrs, ips) = (Strs::of(&arrays[0])?, Strs::of(&arrays[1])?);
        let out: BooleanArray =
            (0..cidrs.len()).map(|i| Some(parse_net(cidrs.get(i)?)?.contains(&parse_ip(ips.get(i)?)?))).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
