//! Which address-context files a lake uses (`enrich`): recorded when a command is given
//! `--aws-ranges FILE` or `--geoip FILE`, so that every later command on the lake, and the report,
//! say the same of an address. The AWS ranges file is copied into the lake (it is small and the
//! answer depends on its date); GeoIP databases, which are large and licensed per user, are
//! recorded by path with their hash, and a command whose database went missing says so.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Lake, META_DIR};
use crate::enrich::{AwsRanges, ContextFiles, GeoIp};
use crate::error::{Error, Result};

const DIR: &str = "context";
const RECORD: &str = "context.json";
const RANGES_COPY: &str = "ip-ranges.json";

/// What the lake records of its address-context files.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recorded {
    /// The AWS ranges given: where from, the file's `createDate`, its SHA-256; `None`: the copy
    /// shipped with trailflow.
    pub aws_ranges: Option<RecordedFile>,
    /// The GeoIP databases given, in order.
    #[serde(default)]
    pub geoip: Vec<RecordedFile>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFile {
    /// The path given.
    pub path: PathBuf,
    /// AWS's `createDate`, or the database's type (`GeoLite2-City`).
    pub version: String,
    pub sha256: String,
}

fn sha256_file(path: &Path) -> Result<String> {
    use sha2::Digest;
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    Ok(sha2::Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

impl Lake {
    fn context_dir(&self) -> PathBuf {
        self.root.join(META_DIR).join(DIR)
    }

    /// What the lake recorded (nothing recorded: the shipped ranges, no GeoIP).
    pub fn recorded_context(&self) -> Result<Recorded> {
        let path = self.context_dir().join(RECORD);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Lake(format!("{}: not a context record: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Recorded::default()),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// The files a session of this lake reads context from.
    pub fn context_files(&self) -> Result<ContextFiles> {
        let r = self.recorded_context()?;
        Ok(ContextFiles {
            aws_ranges: r.aws_ranges.map(|_| self.context_dir().join(RANGES_COPY)),
            geoip: r.geoip.into_iter().map(|g| g.path).collect(),
        })
    }

    /// Record files given on the command line, after checking that they read: the AWS ranges
    /// copied in, GeoIP databases by path. What is not given stays as recorded.
    pub fn record_context(&self, given: &ContextFiles) -> Result<Recorded> {
        let mut r = self.recorded_context()?;
        if given.aws_ranges.is_none() && given.geoip.is_empty() {
            return Ok(r);
        }
        let dir = self.context_dir();
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        if let Some(src) = &given.aws_ranges {
            let ranges = AwsRanges::from_file(src)?;
            let tmp = dir.join(format!("{RANGES_COPY}.tmp"));
            std::fs::copy(src, &tmp).map_err(|e| Error::io(&tmp, e))?;
            std::fs::rename(&tmp, dir.join(RANGES_COPY)).map_err(|e| Error::io(&dir, e))?;
            r.aws_ranges = Some(RecordedFile {
                path: std::path::absolute(src).unwrap_or_else(|_| src.clone()),
                version: ranges.create_date,
                sha256: sha256_file(src)?,
            });
        }
        if !given.geoip.is_empty() {
            let geo = GeoIp::open(&given.geoip)?;
            r.geoip = geo
                .describe()
                .into_iter()
                .map(|(p, kind)| {
                    Ok(RecordedFile {
                        path: std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()),
                        version: kind.to_string(),
                        sha256: sha256_file(p)?,
                    })
                })
                .collect::<Result<_>>()?;
        }
        let path = dir.join(RECORD);
        let tmp = dir.join(format!("{RECORD}.tmp"));
        let text = serde_json::to_vec_pretty(&r)?;
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(r)
    }
}
