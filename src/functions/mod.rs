//! SQL functions for network forensics, registered as one pack: `cidr_contains`, `is_private_ip`,
//! `is_refusal`, `sigma_match`,
//! `protocol_name`, `port_in_range`, `acl_allows`, `acl_decision`, `rsa_sha256_verify`, the address
//! functions (`aws_service`, `aws_region`, `aws_prefix`, `geo_country`, `geo_city`, `geo_asn`,
//! `geo_org`, `ip_context`), plus the JSON functions of datafusion-functions-json
//! (`json_get_str`, `->`, `->>`, ...), and a faster `date_trunc` for UTC timestamps.

mod acl_allows;
mod address;
mod cidr_contains;
mod date_trunc_utc;
mod is_private_ip;
mod is_refusal;
mod port_in_range;
mod protocol_name;
mod rsa_verify;
mod sigma_match;

use std::net::IpAddr;
use std::sync::Arc;

use datafusion::error::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::execution::SessionState;
use datafusion::logical_expr::ScalarUDF;

pub use acl_allows::{AclAllows, AclDecision};
pub use address::{AddressFunction, Fact, session_context};
pub use cidr_contains::CidrContains;
pub use date_trunc_utc::DateTruncUtc;
pub use is_private_ip::IsPrivateIp;
pub use is_refusal::{IsRefusal, is_refusal};
pub use port_in_range::PortInRange;
pub use protocol_name::{PROTOCOLS, ProtocolName};
pub use rsa_verify::RsaSha256Verify;
pub use sigma_match::SigmaMatch;

/// Register every trailflow function and the JSON functions (with their `->`/`->>` operators);
/// the address functions read `context` (`enrich`).
pub fn register_all(state: &mut SessionState, context: &Arc<crate::enrich::LazyContext>) -> Result<()> {
    for fact in Fact::ALL {
        state.register_udf(Arc::new(ScalarUDF::new_from_impl(AddressFunction::new(fact, Arc::clone(context)))))?;
    }
    for udf in [
        ScalarUDF::new_from_impl(CidrContains::new()),
        ScalarUDF::new_from_impl(IsPrivateIp::new()),
        // CloudTrail error codes that refuse the caller's rights, not answers (`NoSuch*`).
        ScalarUDF::new_from_impl(IsRefusal::new()),
        ScalarUDF::new_from_impl(ProtocolName::new()),
        ScalarUDF::new_from_impl(PortInRange::new()),
        // Replaces the built-in `date_trunc` with the same results, faster on the lake's UTC times.
        ScalarUDF::new_from_impl(DateTruncUtc::new()),
        // Network ACL rule evaluation over `nacl_changes.rules_before` / `rules_after`.
        ScalarUDF::new_from_impl(AclAllows::new()),
        ScalarUDF::new_from_impl(AclDecision::new()),
        // CloudTrail digest signatures (`evidence_integrity`).
        ScalarUDF::new_from_impl(RsaSha256Verify::new()),
        // Sigma field conditions on JSON paths, through lists (`hunt::sigma`).
        ScalarUDF::new_from_impl(SigmaMatch::new()),
        // What the `cloudtrail` table reads `raw` through (`lake::elide`).
        ScalarUDF::new_from_impl(crate::lake::elide::RestoreRaw::new()),
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

/// Text values of any string array (Utf8, LargeUtf8, Utf8View) without copying them; other types
/// are cast to text once.
pub(crate) enum Strs<'a> {
    Utf8(&'a datafusion::arrow::array::StringArray),
    Large(&'a datafusion::arrow::array::LargeStringArray),
    View(&'a datafusion::arrow::array::StringViewArray),
    Cast(datafusion::arrow::array::StringArray),
}

impl<'a> Strs<'a> {
    pub(crate) fn of(a: &'a dyn datafusion::arrow::array::Array) -> Result<Self> {
        use datafusion::arrow::array::AsArray;
        use datafusion::arrow::datatypes::DataType;
        Ok(match a.data_type() {
            DataType::Utf8 => Strs::Utf8(a.as_string::<i32>()),
            DataType::LargeUtf8 => Strs::Large(a.as_string::<i64>()),
            DataType::Utf8View => Strs::View(a.as_string_view()),
            _ => Strs::Cast(datafusion::arrow::compute::cast(a, &DataType::Utf8)?.as_string::<i32>().clone()),
        })
    }

    pub(crate) fn len(&self) -> usize {
        use datafusion::arrow::array::Array;
        match self {
            Strs::Utf8(a) => a.len(),
            Strs::Large(a) => a.len(),
            Strs::View(a) => a.len(),
            Strs::Cast(a) => a.len(),
        }
    }

    /// The value at `i`, `None` when NULL.
    pub(crate) fn get(&self, i: usize) -> Option<&str> {
        use datafusion::arrow::array::Array;
        match self {
            Strs::Utf8(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::View(a) => a.is_valid(i).then(|| a.value(i)),
            Strs::Cast(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// Parse an IP address as flow logs and CloudTrail write them; `None` for anything else
/// (`AWS Internal`, host names, `-`, addresses with leading zeros).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse::<IpAddr>().ok()
}
