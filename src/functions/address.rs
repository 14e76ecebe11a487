//! Whose an address is, in SQL (`enrich`):
//!
//! - `aws_service(ip)`, `aws_region(ip)`, `aws_prefix(ip)`: the AWS service (`EC2`, `S3`, or
//!   `AMAZON` when no service names it), its region and the prefix of AWS's published ranges that
//!   holds the address; NULL outside AWS's ranges.
//! - `geo_country(ip)` (ISO code), `geo_city(ip)`, `geo_asn(ip)`, `geo_org(ip)`: from the GeoIP
//!   databases given (`--geoip FILE`); an error saying so when none was.
//! - `ip_context(ip)`: all of it in a few words (`AWS EC2 us-east-1`, `GB London, AS1221 Telstra
//!   Pty Ltd`, `private`), from what is available.
//!
//! - `with_ip_context(text)`: the text with each public address in it followed by that, in
//!   brackets (`from 3.238.12.183 (AWS EC2 us-east-1)`).
//!
//! NULL for NULL or for text that is not an address. Each distinct address of a batch is looked up
//! once.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::Strs;
use crate::enrich::{AddressContext, LazyContext};

/// Which fact a function gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fact {
    AwsService,
    AwsRegion,
    AwsPrefix,
    GeoCountry,
    GeoCity,
    GeoAsn,
    GeoOrg,
    Context,
    /// A text with its addresses annotated (`with_ip_context`).
    Annotated,
}

impl Fact {
    pub const ALL: [Fact; 9] = [
        Fact::AwsService,
        Fact::AwsRegion,
        Fact::AwsPrefix,
        Fact::GeoCountry,
        Fact::GeoCity,
        Fact::GeoAsn,
        Fact::GeoOrg,
        Fact::Context,
        Fact::Annotated,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fact::AwsService => "aws_service",
            Fact::AwsRegion => "aws_region",
            Fact::AwsPrefix => "aws_prefix",
            Fact::GeoCountry => "geo_country",
            Fact::GeoCity => "geo_city",
            Fact::GeoAsn => "geo_asn",
            Fact::GeoOrg => "geo_org",
            Fact::Context => "ip_context",
            Fact::Annotated => "with_ip_context",
        }
    }

    fn needs_geoip(self) -> bool {
        matches!(self, Fact::GeoCountry | Fact::GeoCity | Fact::GeoAsn | Fact::GeoOrg)
    }

    /// The fact as text (`geo_asn` as its number's text, turned into a number after).
    fn of(self, ctx: &AddressContext, addr: &str) -> Option<String> {
        if self == Fact::Context {
            return ctx.facts(addr)?.label();
        }
        if self == Fact::Annotated {
            return Some(ctx.annotate(addr));
        }
        let ip: std::net::IpAddr = addr.trim().parse().ok()?;
        match self {
            Fact::AwsService => ctx.aws.lookup(ip).map(|p| p.service.clone()),
            Fact::AwsRegion => ctx.aws.lookup(ip).map(|p| p.region.clone()),
            Fact::AwsPrefix => ctx.aws.lookup(ip).map(|p| p.prefix.to_string()),
            _ => {
                let geo = ctx.geo.as_ref()?.lookup(ip);
                match self {
                    Fact::GeoCountry => geo.country,
                    Fact::GeoCity => geo.city,
                    Fact::GeoAsn => geo.asn.map(|a| a.to_string()),
                    _ => geo.org,
                }
            }
        }
    }
}

/// One of the functions, over the session's address context.
#[derive(Debug)]
pub struct AddressFunction {
    fact: Fact,
    context: Arc<LazyContext>,
    signature: Signature,
}

impl AddressFunction {
    pub fn new(fact: Fact, context: Arc<LazyContext>) -> Self {
        AddressFunction { fact, context, signature: Signature::string(1, Volatility::Immutable) }
    }
}

/// The address context a session's functions read (`None` when it cannot be read: its reason
/// is said where a function is asked).
pub fn session_context(ctx: &datafusion::prelude::SessionContext) -> Option<Arc<AddressContext>> {
    use datafusion::execution::FunctionRegistry as _;
    let udf = ctx.udf(Fact::Context.name()).ok()?;
    udf.inner().downcast_ref::<AddressFunction>()?.context.get().ok()
}

impl PartialEq for AddressFunction {
    fn eq(&self, other: &Self) -> bool {
        self.fact == other.fact && Arc::ptr_eq(&self.context, &other.context)
    }
}

impl Eq for AddressFunction {}

impl std::hash::Hash for AddressFunction {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.fact.hash(state);
    }
}

impl ScalarUDFImpl for AddressFunction {
    fn name(&self) -> &str {
        self.fact.name()
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(if self.fact == Fact::GeoAsn { DataType::Int64 } else { DataType::Utf8 })
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let ctx = self.context.get().map_err(|e| DataFusionError::Execution(e.message()))?;
        if self.fact.needs_geoip() {
            ctx.geo().map_err(|e| DataFusionError::Execution(format!("{}: {}", self.fact.name(), e.message())))?;
        }
        let ips = args.args[0].to_array(args.number_rows)?;
        let ips = Strs::of(&ips)?;
        let mut seen: HashMap<&str, Option<String>> = HashMap::new();
        let values: Vec<Option<String>> = (0..ips.len())
            .map(|i| {
                let addr = ips.get(i)?;
                seen.entry(addr).or_insert_with(|| self.fact.of(&ctx, addr)).clone()
            })
            .collect();
        let out: ArrayRef = if self.fact == Fact::GeoAsn {
            Arc::new(values.iter().map(|v| v.as_deref().and_then(|v| v.parse::<i64>().ok())).collect::<Int64Array>())
        } else {
            Arc::new(values.into_iter().collect::<StringArray>())
        };
        Ok(ColumnarValue::Array(out))
    }
}
