//! `acl_allows(rules, egress, protocol, peer, port)`: does a Network ACL rule set (JSON of
//! `nacl_changes.rules_before` or `rules_after`) let a packet through, as AWS evaluates it; and
//! `acl_decision(...)`: which rule decides it.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, Int64Array};
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::{Strs, parse_ip};
use crate::nacl::Entry;
use crate::nacl::policy::{Decision, decide};

/// `acl_allows(rules, egress, protocol, peer, port)`: does the rule set (JSON of `rules_before` or
/// `rules_after`) let this packet through, as AWS evaluates it? NULL when the rules are unknown, the
/// peer is not an address, or an entry the evidence does not show could decide.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AclAllows {
    signature: Signature,
}

impl AclAllows {
    pub fn new() -> Self {
        AclAllows { signature: Signature::any(5, Volatility::Immutable) }
    }
}

impl Default for AclAllows {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for AclAllows {
    fn name(&self) -> &str {
        "acl_allows"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let out: BooleanArray = decisions(&args)?.into_iter().map(|d| d.and_then(Decision::allowed)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// `acl_decision(rules, egress, protocol, peer, port)`: the number of the rule that decides the
/// packet (32767 for the final deny); where a rule the evidence does not show is reached first,
/// that rule's number (`acl_allows` is NULL then). Join it to `nacl_entries.rule_number` for the
/// rule itself.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct AclDecision {
    signature: Signature,
}

impl AclDecision {
    pub fn new() -> Self {
        AclDecision { signature: Signature::any(5, Volatility::Immutable) }
    }
}

impl Default for AclDecision {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for AclDecision {
    fn name(&self) -> &str {
        "acl_decision"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Int64)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> datafusion::error::Result<ColumnarValue> {
        let out: Int64Array = decisions(&args)?.into_iter().map(|d| d.map(Decision::rule)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

/// How the rule set of each row decides its packet: `None` when the rules, the direction, the
/// protocol or the peer are missing or unreadable.
fn decisions(args: &ScalarFunctionArgs) -> datafusion::error::Result<Vec<Option<Decision>>> {
    let arrays = ColumnarValue::values_to_arrays(&args.args)?;
    // Rule sets repeat row after row. As a dictionary (what queries/correlate.sql passes), each
    // distinct set is parsed once and rows point at it by key; as plain text, each distinct text
    // is parsed once per batch.
    let (keys, rules) = match arrays[0]
        .as_any()
        .downcast_ref::<datafusion::arrow::array::DictionaryArray<datafusion::arrow::datatypes::Int32Type>>()
    {
        Some(d) => (Some(d.keys().clone()), d.values().clone()),
        None => (None, arrays[0].clone()),
    };
    let rules = Strs::of(&rules)?;
    let sets: Option<Vec<Option<Vec<Entry>>>> = keys
        .as_ref()
        .map(|_| (0..rules.len()).map(|k| rules.get(k).and_then(|t| serde_json::from_str(t).ok())).collect());
    let egress = datafusion::arrow::compute::cast(&arrays[1], &DataType::Boolean)?;
    let egress = egress.as_any().downcast_ref::<BooleanArray>().expect("boolean");
    let protocol = crate::functions::ints(&arrays[2])?;
    let protocol = protocol.as_any().downcast_ref::<Int64Array>().expect("int64");
    let peers = Strs::of(&arrays[3])?;
    let port = crate::functions::ints(&arrays[4])?;
    let port = port.as_any().downcast_ref::<Int64Array>().expect("int64");
    let mut parsed: HashMap<&str, Option<Vec<Entry>>> = HashMap::new();
    let rows = arrays[1].len();
    Ok((0..rows)
        .map(|i| {
            let set = match (&keys, &sets) {
                (Some(keys), Some(sets)) => {
                    if keys.is_null(i) {
                        return None;
                    }
                    sets.get(keys.value(i) as usize)?.as_ref()?
                }
                _ => {
                    let text = rules.get(i)?;
                    parsed.entry(text).or_insert_with(|| serde_json::from_str(text).ok()).as_ref()?
                }
            };
            if egress.is_null(i) || protocol.is_null(i) {
                return None;
            }
            let peer = parse_ip(peers.get(i)?)?;
            let port = (!port.is_null(i)).then(|| port.value(i));
            Some(decide(set, egress.value(i), protocol.value(i), peer, port))
        })
        .collect())
}
