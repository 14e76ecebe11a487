//! `is_private_ip(ip)`: RFC 1918, RFC 6598 (carrier-grade NAT), loopback, link-local and IPv6
//! unique-local addresses. NULL for NULL or for text that is not an address.

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::{Strs, parse_ip};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IsPrivateIp {
    signature: Signature,
}

impl IsPrivateIp {
    pub fn new() -> Self {
        IsPrivateIp { signature: Signature::string(1, Volatility::Immutable) }
    }
}

impl Default for IsPrivateIp {
    fn default() -> Self {
        Self::new()
    }
}

pub use crate::enrich::is_private;

impl ScalarUDFImpl for IsPrivateIp {
    fn name(&self) -> &str {
        "is_private_ip"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ips = args.args[0].to_array(args.number_rows)?;
        let ips = Strs::of(&ips)?;
        let out: BooleanArray = (0..ips.len()).map(|i| Some(is_private(parse_ip(ips.get(i)?)?))).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
