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

/// Parse an IP address as flow logs and CloudTrail write them; `None` for anything else
/// (`AWS Internal`, host names, `-`, addresses with leading zeros).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok()
}
