//! Discovery of inputs: files, folders walked recursively, and `.zip` / `.tar` / `.tar.gz` archives
//! nested in any mix, read in place (never extracted to disk).

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::paths::{ArchiveKind, archive_kind};
use super::report::ErrorRow;

/// Archive members larger than this are rejected with a message (they would have to be held in
/// memory); S3 delivers CloudTrail and flow log objects far smaller.
pub const MEMBER_LIMIT: u64 = 2 << 30;

/// Where a unit's bytes are.
pub enum UnitData {
    /// A plain file on disk, read by the worker.
    File(PathBuf),
    /// An archive member, already read (still compressed if it was `.gz`).
    Bytes(Vec<u8>),
}

/// One file to decode: a plain file or an archive member.
pub struct Unit {
    /// The input path as the user gave it (or as found while walking a folder).
    pub outer: Arc<str>,
    /// The member path inside the archive(s), `!`-separated when nested.
    pub member: Option<String>,
    pub data: UnitData,
    pub size: u64,
}

impl Unit {
    /// The name rows of this unit carry in `source_file`: `outer` or `outer!member`.
    pub fn logical(&self) -> String {
        match &self.member {
            Some(m) => format!("{}!{m}", self.outer),
            None => self.outer.to_string(),
        }
    }
}

/// The file in a folder that lists names not to ingest (notes, ground truth, checksums), one
/// pattern a line: an exact name, `*suffix` or `prefix*`; `#` starts a comment.
pub const IGNORE_FILE: &str = ".trailflowignore";

fn ignored_by(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| {
        if let Some(suffix) = p.strip_prefix('*') {
            name.ends_with(suffix)
        } else if let Some(prefix) = p.strip_suffix('*') {
            name.starts_with(prefix)
        } else {
            name == p
        }
    })
}

/// Walks inputs, handing each leaf file to `emit` and each unreadable archive or folder to `error`.
pub struct Walker<'a> {
    pub emit: &'a mut dyn FnMut(Unit),
    pub error: &'a mut dyn FnMut(ErrorRow),
    /// Files left out because a `.trailflowignore` names them.
    pub ignored: u64,
}

impl Walker<'_> {
    pub fn walk(&mut self, input: &Path) {
        let outer: Arc<str> = input.to_string_lossy().into();
        if input.is_dir() {
            self.walk_dir(input);
        } else {
            self.walk_file(input, outer);
        }
    }

    fn walk_dir(&mut self, dir: &Path) {
        let mut entries: Vec<PathBuf> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| e.path())).collect(),
            Err(e) => {
                (self.error)(ErrorRow::file(&dir.to_string_lossy(), None, format!("cannot read folder: {e}")));
                return;
            }
        };
        entries.sort();
        let patterns: Vec<String> = std::fs::read_to_string(dir.join(IGNORE_FILE))
            .map(|t| {
                t.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
            })
            .unwrap_or_default();
        for p in entries {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if name == IGNORE_FILE {
                continue;
            }
            if ignored_by(&patterns, &name) {
                self.ignored += 1;
                continue;
            }
            if p.is_dir() {
                self.walk_dir(&p);
            } else if p.is_file() {
                let outer: Arc<str> = p.to_string_lossy().into();
                self.walk_file(&p, outer);
            }
        }
    }

    fn walk_file(&mut self, path: &Path, outer: Arc<str>) {
        let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        match archive_kind(&name) {
            None => (self.emit)(Unit { outer, member: None, data: UnitData::File(path.to_path_buf()), size }),
            Some(kind) => {
                let file = match File::open(path) {
                    Ok(f) => f,
                    Err(e) => {
                        (self.error)(ErrorRow::file(&outer, None, format!("cannot open: {e}")));
                        return;
                    }
                };
                self.walk_archive(kind, BufReader::new(file), &outer, None);
            }
        }
    }

    /// Walk one archive. `prefix` is the member path of the archive itself when nested.
    fn walk_archive<R: Read + Seek>(&mut self, kind: ArchiveKind, reader: R, outer: &Arc<str>, prefix: Option<&str>) {
        match kind {
            ArchiveKind::Zip => self.walk_zip(reader, outer, prefix),
            ArchiveKind::Tar => self.walk_tar(reader, outer, prefix),
            ArchiveKind::TarGz => self.walk_tar(MultiGzDecoder::new(reader), outer, prefix),
        }
    }

    fn member_name(prefix: Option<&str>, name: &str) -> String {
        match prefix {
            Some(p) => format!("{p}!{name}"),
            None => name.to_string(),
        }
    }

    /// Hand a member on: recurse into nested archives, emit the rest.
    fn member(&mut self, outer: &Arc<str>, member: String, data: Vec<u8>) {
        let size = data.len() as u64;
        match archive_kind(&member) {
            Some(kind) => self.walk_archive(kind, Cursor::new(data), outer, Some(&member)),
            None => (self.emit)(Unit { outer: outer.clone(), member: Some(member), data: UnitData::Bytes(data), size }),
        }
    }

    fn walk_zip<R: Read + Seek>(&mut self, reader: R, outer: &Arc<str>, prefix: Option<&str>) {
        let mut zip = match zip::ZipArchive::new(reader) {
            Ok(z) => z,
            Err(e) => {
                (self.error)(ErrorRow::file(
                    outer,
                    prefix.map(str::to_string),
                    format!("not a readable zip archive: {e}"),
                ));
                return;
            }
        };
        for i in 0..zip.len() {
            let mut entry = match zip.by_index(i) {
                Ok(e) => e,
                Err(e) => {
                    (self.error)(ErrorRow::file(
                        outer,
                        prefix.map(str::to_string),
                        format!("zip member #{i} unreadable: {e}"),
                    ));
                    continue;
                }
            };
            if entry.is_dir() {
                continue;
            }
            let name = entry.name().map(|n| n.to_string()).unwrap_or_else(|_| format!("#{i}"));
            let member = Self::member_name(prefix, &name);
            if entry.size() > MEMBER_LIMIT {
                (self.error)(ErrorRow::file(
                    outer,
                    Some(member),
                    format!(
                        "member of {} bytes is over the {MEMBER_LIMIT}-byte limit for archive members",
                        entry.size()
                    ),
                ));
                continue;
            }
            let mut data = Vec::with_capacity(entry.size() as usize);
            match (&mut entry).take(MEMBER_LIMIT + 1).read_to_end(&mut data) {
                Ok(_) => {
                    drop(entry);
                    self.member(outer, member, data);
                }
                Err(e) => (self.error)(ErrorRow::file(outer, Some(member), format!("corrupt zip member: {e}"))),
            }
        }
    }

    fn walk_tar<R: Read>(&mut self, reader: R, outer: &Arc<str>, prefix: Option<&str>) {
        let mut tar = tar::Archive::new(reader);
        let entries = match tar.entries() {
            Ok(e) => e,
            Err(e) => {
                (self.error)(ErrorRow::file(
                    outer,
                    prefix.map(str::to_string),
                    format!("not a readable tar archive: {e}"),
                ));
                return;
            }
        };
        for entry in entries {
            let mut entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    // A corrupt or truncated tar stream cannot be resynchronised.
                    (self.error)(ErrorRow::file(
                        outer,
                        prefix.map(str::to_string),
                        format!("corrupt or truncated tar archive: {e}"),
                    ));
                    return;
                }
            };
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path().map(|p| p.to_string_lossy().to_string()).unwrap_or_else(|_| "?".into());
            let member = Self::member_name(prefix, &name);
            let size = entry.header().size().unwrap_or(0);
            if size > MEMBER_LIMIT {
                (self.error)(ErrorRow::file(
                    outer,
                    Some(member),
                    format!("member of {size} bytes is over the {MEMBER_LIMIT}-byte limit for archive members"),
                ));
                continue;
            }
            let mut data = Vec::with_capacity(size as usize);
            match (&mut entry).take(MEMBER_LIMIT + 1).read_to_end(&mut data) {
                Ok(_) => self.member(outer, member, data),
                Err(e) => {
                    (self.error)(ErrorRow::file(outer, Some(member), format!("corrupt or truncated tar member: {e}")));
                    return;
                }
            }
        }
    }
}
