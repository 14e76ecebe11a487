//! `port_in_range(port, from, to)`: is the port within `from..=to`? A NULL bound is open (AWS
//! leaves `portRange` out for all ports, and writes `-1` for "all" in some places: a negative
//! bound is open too). NULL when the port is NULL.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, BooleanArray};
use datafusion::arrow::datatypes::{DataType, Int64Type};
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PortInRange {
    signature: Signature,
}

impl PortInRange {
    pub fn new() -> Self {
        PortInRange { signature: Signature::any(3, Volatility::Immutable) }
    }
}

impl Default for PortInRange {
    fn default() -> Self {
        Self::new()
    }
}

impl ScalarUDFImpl for PortInRange {
    fn name(&self) -> &str {
        "port_in_range"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let (p, f, t) = (super::ints(&arrays[0])?, super::ints(&arrays[1])?, super::ints(&arrays[2])?);
        let (p, f, t) = (p.as_primitive::<Int64Type>(), f.as_primitive::<Int64Type>(), t.as_primitive::<Int64Type>());
        let out: BooleanArray = (0..p.len())
            .map(|i| {
                if p.is_null(i) {
                    return None;
                }
                let port = p.value(i);
                let lo = if f.is_null(i) || f.value(i) < 0 { i64::MIN } else { f.value(i) };
                let hi = if t.is_null(i) || t.value(i) < 0 { i64::MAX } else { t.value(i) };
                Some(lo <= port && port <= hi)
            })
            .collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
