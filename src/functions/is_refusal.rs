//! `is_refusal(error_code)`: is this CloudTrail `errorCode` a refusal of the caller's rights (the
//! call was not allowed), rather than an answer (`NoSuchBucketPolicy`, `ResourceNotFoundException`:
//! the call was allowed and found nothing) or a failure of another kind (throttling, a bad
//! parameter)? NULL for NULL.
//!
//! Refusals, as AWS services write them in CloudTrail: `AccessDenied` and `AccessDeniedException`
//! (S3, IAM, most JSON APIs), `Client.UnauthorizedOperation` / `UnauthorizedOperation` (EC2),
//! `UnauthorizedAccess`, `AuthorizationError` / `AuthorizationErrorException` (SNS),
//! `NotAuthorized` / `NotAuthorizedException` (Cognito and others), `Forbidden` /
//! `ForbiddenException` (API Gateway and others), `AllAccessDisabled`, `InvalidClientTokenId`,
//! `UnrecognizedClientException` and `SignatureDoesNotMatch` (credentials refused); read
//! case-insensitively, with or without a `Client.` prefix, and any code that contains
//! `AccessDenied`, `Unauthorized`, `NotAuthorized` or `Forbidden`.

use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::Strs;

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct IsRefusal {
    signature: Signature,
}

impl IsRefusal {
    pub fn new() -> Self {
        IsRefusal { signature: Signature::string(1, Volatility::Immutable) }
    }
}

impl Default for IsRefusal {
    fn default() -> Self {
        Self::new()
    }
}

/// Is this error code a refusal? See the module's documentation.
pub fn is_refusal(code: &str) -> bool {
    let c = code.trim().to_ascii_lowercase();
    let c = c.strip_prefix("client.").unwrap_or(&c);
    const EXACT: [&str; 6] = [
        "authorizationerror",
        "authorizationerrorexception",
        "allaccessdisabled",
        "invalidclienttokenid",
        "unrecognizedclientexception",
        "signaturedoesnotmatch",
    ];
    EXACT.contains(&c) || ["accessdenied", "unauthorized", "notauthorized", "forbidden"].iter().any(|p| c.contains(p))
}

impl ScalarUDFImpl for IsRefusal {
    fn name(&self) -> &str {
        "is_refusal"
    }
    fn signature(&self) -> &Signature {
        &self.signature
    }
    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }
    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let codes = args.args[0].to_array(args.number_rows)?;
        let codes = Strs::of(&codes)?;
        let out: BooleanArray = (0..codes.len()).map(|i| codes.get(i).map(is_refusal)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[cfg(test)]
mod tests {
    use super::is_refusal;

    #[test]
    fn refusals_and_answers() {
        for code in [
            "AccessDenied",
            "AccessDeniedException",
            "Client.UnauthorizedOperation",
            "UnauthorizedOperation",
            "NotAuthorizedException",
            "AuthorizationErrorException",
            "ForbiddenException",
            "InvalidClientTokenId",
            "Client.InvalidClientTokenId",
        ] {
            assert!(is_refusal(code), "{code}");
        }
        for code in [
            "NoSuchBucketPolicy",
            "NoSuchWebsiteConfiguration",
            "ObjectLockConfigurationNotFoundError",
            "ResourceNotFoundException",
            "ThrottlingException",
            "ValidationException",
            "Client.InvalidParameterValue",
            "NoSuchEntityException",
            "TrailNotFoundException",
        ] {
            assert!(!is_refusal(code), "{code}");
        }
    }
}
