//! CloudTrail digest files (`…/CloudTrail-Digest/…_CloudTrail-Digest_….json.gz`): each names the
//! log files the trail delivered in an hour with the SHA-256 of their uncompressed content, and the
//! previous digest with the SHA-256 of its uncompressed content, so the files chain hour to hour.
//! Read here into one row per entry (`cloudtrail_digests`), which `evidence_integrity` checks the
//! evidence against.

use serde_json::Value;

/// One entry of a digest: the digest itself, a log file it covers, or the digest before it.
#[derive(Debug, Clone, Default)]
pub struct DigestEntry {
    pub digest_s3_bucket: Option<String>,
    pub digest_s3_object: Option<String>,
    /// `digestEndTime` exactly as written: it is part of the text the digest's signature signs.
    pub digest_end_text: Option<String>,
    pub public_key_fingerprint: Option<String>,
    /// `previousDigestSignature`: the signature of the digest before (hex), also part of the
    /// text this digest's own signature signs.
    pub previous_digest_signature: Option<String>,
    pub account_id: Option<String>,
    /// Microseconds, UTC.
    pub digest_start_time: Option<i64>,
    pub digest_end_time: Option<i64>,
    /// `digest`, `log_file` or `previous_digest`.
    pub entry: &'static str,
    pub s3_object: Option<String>,
    /// The SHA-256 (hex) the digest records for the entry.
    pub hash_value: Option<String>,
    pub hash_algorithm: Option<String>,
}

fn s(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).filter(|x| !x.is_empty()).map(str::to_string)
}

fn t(v: &Value, key: &str) -> Option<i64> {
    s(v, key).and_then(|x| crate::time::parse_time(&x))
}

/// The entries of one digest file's JSON, or why it is not one.
pub fn entries(doc: &Value) -> Result<Vec<DigestEntry>, super::Rejected> {
    if doc.get("digestStartTime").is_none() || doc.get("logFiles").is_none() {
        return Err("not a CloudTrail digest (no digestStartTime or logFiles)".into());
    }
    let base = DigestEntry {
        digest_s3_bucket: s(doc, "digestS3Bucket"),
        digest_s3_object: s(doc, "digestS3Object"),
        digest_end_text: s(doc, "digestEndTime"),
        public_key_fingerprint: s(doc, "digestPublicKeyFingerprint"),
        previous_digest_signature: s(doc, "previousDigestSignature"),
        account_id: s(doc, "awsAccountId"),
        digest_start_time: t(doc, "digestStartTime"),
        digest_end_time: t(doc, "digestEndTime"),
        ..Default::default()
    };
    let mut out = vec![DigestEntry { entry: "digest", s3_object: base.digest_s3_object.clone(), ..base.clone() }];
    if let Some(prev) = s(doc, "previousDigestS3Object") {
        out.push(DigestEntry {
            entry: "previous_digest",
            s3_object: Some(prev),
            hash_value: s(doc, "previousDigestHashValue").map(|h| h.to_ascii_lowercase()),
            hash_algorithm: s(doc, "previousDigestHashAlgorithm"),
            ..base.clone()
        });
    }
    for f in doc.get("logFiles").and_then(Value::as_array).into_iter().flatten() {
        out.push(DigestEntry {
            entry: "log_file",
            s3_object: s(f, "s3Object"),
            hash_value: s(f, "hashValue").map(|h| h.to_ascii_lowercase()),
            hash_algorithm: s(f, "hashAlgorithm"),
            ..base.clone()
        });
    }
    Ok(out)
}
