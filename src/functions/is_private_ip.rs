//! `is_private_ip(ip)`: RFC 1918, RFC 6598 (carrier-grade NAT), loopback, link-local and IPv6
//! unique-local addresses. NULL for NULL or for text that is not an address.

use std::net::IpAddr;
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

/// Is this address private, shared, loopback or link-local?
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private() || v4.is_loopback() || v4.is_link_local() || (o[0] == 100 && (o[1] & 0xC0) == 64) // 100.64.0.0/10
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_loopback()
                || (s[0] & 0xFE00) == 0xFC00 // fc00::/7 unique local
                || (s[0] & 0xFFC0) == 0xFE80 // fe80::/10 link local
        }
    }
}

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
