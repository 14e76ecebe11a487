//! Evidence that is not a stream of JSON or text lines: Parquet (flow logs, Security Lake's
//! OCSF, whose records may also come as JSON) and CloudTrail digest files, and the hashing of a trail log's uncompressed content.

use super::decode_flow_fields;
use super::*;

pub(super) const PARQUET_MAGIC: &[u8] = b"PAR1";

/// Does the file begin with these bytes?
pub(super) fn starts_with(file: &super::super::source::Opened, magic: &[u8]) -> bool {
    let mut head = vec![0u8; magic.len()];
    file.open().and_then(|mut f| f.read_exact(&mut head)).is_ok() && head == magic
}

/// A Parquet file: flow records, read through the flow decoder as the text records they stand
/// for; any other Parquet file is rejected with what it seems to be.
pub(super) fn decode_parquet<R: datafusion::parquet::file::reader::ChunkReader + 'static>(ctx: &mut Ctx<'_>, input: R) {
    use crate::decode::parquet_evidence::{Row, read};
    let result = read(input, &mut |row| match row {
        Row::Flow(n, text) => ctx.flow_line(n, text),
        Row::Ocsf(n, text) => decode_ocsf(ctx, n, text),
    });
    if let Err(reason) = result {
        ctx.error(None, None, reason, None);
    }
}

/// One Amazon Security Lake (OCSF) record: a CloudTrail record (the OCSF record kept whole as its
/// `raw`) or a flow record; another class is rejected, naming it.
pub(super) fn decode_ocsf(ctx: &mut Ctx<'_>, n: u64, text: &str) {
    use crate::decode::ocsf::{Mapped, map};
    let row: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            ctx.res.records += 1;
            ctx.error(Some(n), Some(n), format!("unreadable OCSF record: {e}"), Some(text));
            return;
        }
    };
    match map(&row) {
        Mapped::CloudTrail(record) => match serde_json::from_str::<Rec<'_>>(&record) {
            Ok(rec) if rec.is_event() => ctx.push_record(&rec, text, Some(n), n, Delivery::SecurityLake),
            _ => {
                ctx.res.records += 1;
                ctx.error(Some(n), Some(n), "OCSF API activity without the fields of a CloudTrail record", Some(text));
            }
        },
        Mapped::Flow(fields) => {
            // The OCSF record itself is kept in `extra_fields`, under `ocsf`.
            ctx.flow().attach = Some(("ocsf".to_string(), row.clone()));
            decode_flow_fields(ctx, &fields, n, text);
            ctx.flow().attach = None;
        }
        Mapped::Other(what) => {
            ctx.res.records += 1;
            ctx.error(Some(n), Some(n), format!("{what}: neither CloudTrail nor a VPC flow log"), Some(text));
        }
    }
}

/// A CloudTrail digest file: its entries, and the SHA-256 of its uncompressed content (which the
/// next digest records).
pub(super) fn read_digest(ctx: &mut Ctx<'_>, raw: Box<dyn BufRead + '_>) {
    use sha2::Digest;
    let limit = ctx.limits.document_bytes as u64;
    let mut bytes = Vec::new();
    let mut reader = raw;
    let gz = reader.fill_buf().is_ok_and(|b| b.starts_with(&[0x1f, 0x8b]));
    let read = if gz {
        MultiGzDecoder::new(reader).take(limit + 1).read_to_end(&mut bytes)
    } else {
        reader.take(limit + 1).read_to_end(&mut bytes)
    };
    if let Err(e) = read {
        ctx.error(None, None, format!("unreadable digest file: {e}"), None);
        return;
    }
    if bytes.len() as u64 > limit {
        ctx.error(
            None,
            None,
            format!("digest file larger than {limit} bytes: not read (TRAILFLOW_MAX_DOCUMENT)"),
            None,
        );
        return;
    }
    ctx.res.digest_sha256 = Some(hex(&sha2::Sha256::digest(&bytes)));
    match serde_json::from_slice::<serde_json::Value>(&bytes)
        .map_err(|e| crate::decode::Rejected(e.to_string()))
        .and_then(|v| crate::decode::digest::entries(&v))
    {
        Ok(entries) => {
            ctx.res.records += entries.len() as u64;
            ctx.res.digests = entries;
        }
        Err(reason) => ctx.error(Some(1), None, format!("digest file: {reason}"), None),
    }
}

/// Hashes what passes through (the uncompressed content of a trail's log file).
pub(super) struct Hashing<R> {
    pub(super) inner: R,
    pub(super) sha: std::rc::Rc<std::cell::RefCell<sha2::Sha256>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use sha2::Digest;
        let n = self.inner.read(buf)?;
        self.sha.borrow_mut().update(&buf[..n]);
        Ok(n)
    }
}
