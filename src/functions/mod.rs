//! SQL functions for network forensics, registered as one pack: `cidr_contains`, `is_private_ip`,
//! `protocol_name`, `port_in_range`, plus the JSON functions of datafusion-functions-json
//! (`json_get_str`, `->`, `->>`, ...).

mod cidr_contains;
mod is_private_ip;
mod port_in_range;
mod protocol_name;

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionState;
use datafusion::logical_expr::ScalarUDF;

pub use cidr_contains::CidrContains;
pub use is_private_ip::IsPrivateIp;
pub use port_in_range::PortInRange;
pub use protocol_name::{PROTOCOLS, ProtocolName};

/// Register every trailflow function and the JSON functions (with their `->`/`->>` operators).
pub fn register_all(state: &mut SessionState) -> Result<()> {
    for udf in [
        ScalarUDF::new_from_impl(CidrContains::new()),
        ScalarUDF::new_from_impl(IsPrivateIp::new()),
        ScalarUDF::new_from_impl(ProtocolName::new()),
        ScalarUDF::new_from_impl(PortInRange::new()),
    ] {
        state.register_udf(Arc::new(udf))?;
    }
    datafusion_functions_json::register_all(state)
}

/// Integers from a number column or from numeric text (CloudTrail writes `aclProtocol` and ports
/// as text in places); text that is not a number becomes NULL.
pub(crate) fn ints(a: &dyn datafusion::arrow::array::Array) -> Result<datafusion::arrow::array::ArrayRef> {
    use datafusion::arrow::array::AsArray;
    use datafusion::arrow::datatypes::DataType;
    if matches!(a.data_type(), DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View) {
        let s = datafusion::arrow::compute::cast(a, &DataType::Utf8)?;
        let parsed: datafusion::arrow::array::Int64Array =
            s.as_string::<i32>().iter().map(|v| v.and_then(|v| v.trim().parse::<i64>().ok())).collect();
        return Ok(Arc::new(parsed));
    }
    Ok(datafusion::arrow::compute::cast(a, &DataType::Int64)?)
}

/// Parse an IP address as flow logs and CloudTrail write them; `None` for anything else
/// (`AWS Internal`, host names, `-`, addresses with leading zeros).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok()
}
