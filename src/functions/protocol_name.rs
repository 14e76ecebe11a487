//! `protocol_name(n)`: the IANA keyword of an IP protocol number (`6` is `TCP`), `ALL` for AWS's
//! `-1`; NULL for NULL and for numbers without an assigned keyword.

use std::sync::Arc;

use datafusion::arrow::array::{AsArray, StringArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

/// IANA "Assigned Internet Protocol Numbers" keywords for the protocols seen in cloud traffic.
pub const PROTOCOLS: &[(i64, &str)] = &[
    (-1, "ALL"),
    (0, "HOPOPT"),
    (1, "ICMP"),
    (2, "IGMP"),
    (4, "IPv4"),
    (6, "TCP"),
    (8, "EGP"),
    (9, "IGP"),
    (17, "UDP"),
    (27, "RDP"),
    (33, "DCCP"),
    (41, "IPv6"),
    (43, "IPv6-Route"),
    (44, "IPv6-Frag"),
    (46, "RSVP"),
    (47, "GRE"),
    (50, "ESP"),
    (51, "AH"),
    (58, "IPv6-ICMP"),
    (59, "IPv6-NoNxt"),
    (60, "IPv6-Opts"),
    (88, "EIGRP"),
    (89, "OSPFIGP"),
    (94, "IPIP"),
    (97, "ETHERIP"),
    (98, "ENCAP"),
    (103, "PIM"),
    (108, "IPComp"),
    (112, "VRRP"),
    (115, "L2TP"),
    (132, "SCTP"),
    (136, "UDPLite"),
    (137, "MPLS-in-IP"),
    (143, "Ethernet"),
];

pub fn name_of(n: i64) -> Option<&'static str> {
    PROTOCOLS.binary_search_by_key(&n, |p| p.0).ok().map(|i| PROTOCOLS[i].1)
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct ProtocolName {
    signature: Signature,
}

impl ProtocolName {
    pub fn new() -> Self {
        ProtocolName { signature: Signature::any(1, Volatility::Immutable) }
    }
}

impl Default for ProtocolName {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for ProtocolName {
    fn name(&self) -> &str {
        "protocol_name"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let a = args.args[0].to_array(args.number_rows)?;
        // Numbers and numeric text (`aclProtocol` is a string in CloudTrail) both work.
        let a = super::ints(&a)?;
        let out: StringArray = a.as_primitive::<Int64Type>().iter().map(|n| name_of(n?)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_is_sorted_for_binary_search() {
        assert!(super::PROTOCOLS.windows(2).all(|w| w[0].0 < w[1].0));
        assert_eq!(super::name_of(6), Some("TCP"));
        assert_eq!(super::name_of(255), None);
    }
}
