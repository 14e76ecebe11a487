//! `rsa_sha256_verify(public_key, signature, message)`: does `signature` (hex) sign `message`
//! with SHA256withRSA (PKCS #1 v1.5) under `public_key` (base64 of a DER PKCS #1 RSAPublicKey, as
//! `aws cloudtrail list-public-keys` prints it)? What CloudTrail digest signatures are checked
//! with. NULL when an argument is NULL or the key or signature cannot be read.

use std::sync::Arc;

use base64::Engine;
use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};
use rsa::pkcs1::DecodeRsaPublicKey;
use sha2::Digest;

use super::Strs;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct RsaSha256Verify {
    signature: Signature,
}

impl RsaSha256Verify {
    pub fn new() -> Self {
        RsaSha256Verify { signature: Signature::string(3, Volatility::Immutable) }
    }
}

impl Default for RsaSha256Verify {
    fn default() -> Self {
        Self::new()
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Verify one signature; `None` when the key or the signature cannot be read.
pub fn verify(public_key: &str, signature_hex: &str, message: &str) -> Option<bool> {
    let der = base64::engine::general_purpose::STANDARD.decode(public_key.trim()).ok()?;
    let key = rsa::RsaPublicKey::from_pkcs1_der(&der).ok()?;
    let signature = unhex(signature_hex)?;
    let hashed = sha2::Sha256::digest(message.as_bytes());
    Some(key.verify(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &hashed, &signature).is_ok())
}

impl ScalarUDFImpl for RsaSha256Verify {
    fn name(&self) -> &str {
        "rsa_sha256_verify"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let n = args.number_rows;
        let (k, s, m) = (args.args[0].to_array(n)?, args.args[1].to_array(n)?, args.args[2].to_array(n)?);
        let (k, s, m) = (Strs::of(&k)?, Strs::of(&s)?, Strs::of(&m)?);
        let out: BooleanArray = (0..n).map(|i| verify(k.get(i)?, s.get(i)?, m.get(i)?)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}
