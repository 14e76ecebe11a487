//! Discovery of inputs: files, folders walked recursively, and `.zip` / `.tar` / `.tar.gz` archives
//! nested in any mix, read in place (never extracted to disk).
//!
//! The inputs are the regular files under the given paths, and nothing else. A symbolic link found
//! inside a folder is followed only when it leads to a regular file inside the inputs; a link to a
//! folder, to anything outside the inputs, to nothing, and every special file (device, FIFO,
//! socket, an archive's link or device member) is reported in `ingest_errors` and never read.
//! Archives nest at most `Limits::archive_depth` deep; members are read into memory up to
//! `Limits::member_bytes`, and no more than `Limits::pending_bytes` of them wait for a decoder.

use crate::decode::Rejected;
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use flate2::read::MultiGzDecoder;

use super::paths::{ArchiveKind, archive_kind};
use super::summary::ErrorRow;
use crate::limits::Limits;

/// Where a unit's bytes are.
pub enum UnitData {
    /// A regular file on disk, read by the worker.
    File(Opened),
    /// An archive member, already read (still compressed if it was `.gz`), with its share of the
    /// pending-bytes budget.
    Bytes(Vec<u8>, Option<Reservation>),
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

/// Bytes of archive members read but not yet decoded. The walker waits while the budget is spent.
#[derive(Debug)]
pub struct Pending {
    bytes: Mutex<u64>,
    freed: Condvar,
    limit: u64,
}

/// A share of the [`Pending`] budget, given back when dropped (when its unit is decoded).
#[derive(Debug)]
pub struct Reservation {
    pending: Arc<Pending>,
    n: u64,
}

impl Pending {
    pub fn new(limit: u64) -> Arc<Pending> {
        Arc::new(Pending { bytes: Mutex::new(0), freed: Condvar::new(), limit })
    }

    /// Take `n` bytes of the budget, waiting while others hold it (a unit larger than the whole
    /// budget goes alone).
    fn reserve(self: &Arc<Self>, n: u64) -> Reservation {
        let mut held = self.bytes.lock().unwrap_or_else(|p| p.into_inner());
        while *held > 0 && *held + n > self.limit {
            held = self.freed.wait(held).unwrap_or_else(|p| p.into_inner());
        }
        *held += n;
        Reservation { pending: Arc::clone(self), n }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut held = self.pending.bytes.lock().unwrap_or_else(|p| p.into_inner());
        *held -= self.n;
        self.pending.freed.notify_all();
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

/// What a file that is not a regular file or folder is, in words.
fn special_kind(ft: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
    }
    if ft.is_symlink() { "a symbolic link" } else { "a special file" }
}

/// A zip inside an archive larger than this is spilled to a temporary file rather than held.
const SPILL_ABOVE: u64 = 16 << 20;

/// An unnamed temporary file in `dir` (gone with its handle): Linux's `O_TMPFILE`, else a file of
/// a fresh name removed as soon as it is open.
pub(crate) fn temporary_file(dir: &Path) -> std::io::Result<File> {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if let Ok(f) = File::options().read(true).write(true).mode(0o600).custom_flags(libc::O_TMPFILE).open(dir) {
            return Ok(f);
        }
    }
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    for n in 0..100 {
        let p = dir.join(format!(".trailflow-temporary-{}-{stamp}-{n}", std::process::id()));
        match File::options().read(true).write(true).create_new(true).open(&p) {
            Ok(f) => {
                let _ = std::fs::remove_file(&p);
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("no free temporary name"))
}

/// A regular file to read: opened by the walk through its folder's handle when it could be (so
/// that no folder swapped after the listing changes which file is read), else by its path (a
/// followed link's target, a file read again).
#[derive(Debug)]
pub struct Opened {
    pub path: PathBuf,
    pub file: Option<File>,
}

impl Opened {
    pub fn path(path: PathBuf) -> Opened {
        Opened { path, file: None }
    }

    /// The file, read from its start (each pass over it gets a handle of its own).
    pub fn open(&self) -> std::io::Result<File> {
        match &self.file {
            Some(f) => {
                let mut c = f.try_clone()?;
                c.seek(SeekFrom::Start(0))?;
                Ok(c)
            }
            None => open_regular(&self.path),
        }
    }
}

/// Folders and files opened through their folder's handle, never by a path that could have been
/// swapped since it was listed: `openat` without following links, each opened entry checked
/// against the listing's device and inode.
#[cfg(target_os = "linux")]
mod at {
    use std::ffi::{CString, OsStr, OsString};
    use std::fs::File;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{DirEntryExt, MetadataExt};
    use std::os::unix::io::{AsRawFd, FromRawFd};

    /// One entry of a folder as listed: its name, what it was, its inode.
    pub struct Listed {
        pub name: OsString,
        pub kind: std::io::Result<std::fs::FileType>,
        pub ino: u64,
    }

    /// The entries of the folder a handle is open on (whatever path now leads there).
    pub fn list(dir: &File) -> std::io::Result<Vec<Listed>> {
        let rd = std::fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?;
        Ok(rd
            .filter_map(|e| e.ok())
            .map(|e| Listed { name: e.file_name(), kind: e.file_type(), ino: e.ino() })
            .collect())
    }

    fn open_at(dir: &File, name: &OsStr, flags: i32) -> std::io::Result<File> {
        let c = CString::new(name.as_bytes()).map_err(|_| std::io::Error::other("a name with a NUL byte"))?;
        // SAFETY: `c` is a valid C string and `dir` an open descriptor for the call's duration; a
        // descriptor returned is owned by the File made from it and by nothing else.
        let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by openat and is owned by nothing else.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Is the opened entry the one listed: same device as its folder, same inode?
    fn same(parent: &File, opened: &File, ino: u64) -> std::io::Result<bool> {
        let (p, o) = (parent.metadata()?, opened.metadata()?);
        Ok(p.dev() == o.dev() && o.ino() == ino)
    }

    /// A subfolder, as listed.
    pub fn open_dir(parent: &File, e: &Listed) -> std::io::Result<File> {
        let f = open_at(parent, &e.name, libc::O_RDONLY | libc::O_DIRECTORY)?;
        if !same(parent, &f, e.ino)? {
            return Err(std::io::Error::other("the folder changed between its listing and its opening"));
        }
        Ok(f)
    }

    /// A regular file, as listed (never blocking on a FIFO swapped in).
    pub fn open_file(parent: &File, e: &Listed) -> std::io::Result<File> {
        let f = open_at(parent, &e.name, libc::O_RDONLY | libc::O_NONBLOCK)?;
        let meta = f.metadata()?;
        if !meta.is_file() {
            return Err(std::io::Error::other("no longer a regular file"));
        }
        if !same(parent, &f, e.ino)? {
            return Err(std::io::Error::other("the file changed between its listing and its opening"));
        }
        Ok(f)
    }

    /// A folder named on the command line (a link there is the user's meaning).
    pub fn open_root(path: &std::path::Path) -> std::io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::File::options().read(true).custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC).open(path)
    }
}

/// Open a regular file for reading: never through a link in its last component, never blocking
/// on a FIFO swapped in after the walk, and only when it is still a regular file once open.
pub fn open_regular(path: &Path) -> std::io::Result<File> {
    let mut options = File::options();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other(format!("not a regular file ({})", special_kind(&meta.file_type()))));
    }
    Ok(file)
}

trait ReadSeek: Read + Seek {}
impl<T: Read + Seek> ReadSeek for T {}

/// Walks inputs, handing each leaf file to `emit` and each file it will not or cannot read to
/// `error` (with a warning severity when nothing is lost, such as a link to a folder that is read
/// anyway).
pub struct Walker<'a> {
    pub emit: &'a mut dyn FnMut(Unit),
    pub error: &'a mut dyn FnMut(ErrorRow),
    /// Files left out because a `.trailflowignore` names them.
    pub ignored: u64,
    limits: Limits,
    pending: Arc<Pending>,
    /// The inputs' real paths: a link is followed only to a regular file inside one of them.
    roots: Vec<PathBuf>,
    /// The real path of the lake this run writes: never read as evidence.
    lake: Option<PathBuf>,
    /// trailflow's own folders met in the inputs (lakes, report folders) and left out.
    pub own_folders: Vec<String>,
}

/// What a folder of trailflow's own is, if it is one: a lake (its `_trailflow` folder) or a report
/// folder of `investigate` (its `case.json` beside a lake). Neither is evidence: reading a lake's
/// Parquet files as AWS flow logs would double the lake.
pub fn own_folder(dir: &Path) -> Option<&'static str> {
    if dir.join(crate::lake::META_DIR).is_dir() {
        Some("a trailflow lake")
    } else if dir.join("case.json").is_file() && dir.join("lake").join(crate::lake::META_DIR).is_dir() {
        Some("a trailflow report folder")
    } else {
        None
    }
}

impl<'a> Walker<'a> {
    pub fn new(
        emit: &'a mut dyn FnMut(Unit),
        error: &'a mut dyn FnMut(ErrorRow),
        limits: Limits,
        inputs: &[PathBuf],
        lake: &Path,
    ) -> Self {
        let roots = inputs.iter().filter_map(|p| std::fs::canonicalize(p).ok()).collect();
        let pending = Pending::new(limits.pending_bytes);
        let lake = std::fs::canonicalize(lake).ok();
        Walker { emit, error, ignored: 0, limits, pending, roots, lake, own_folders: Vec::new() }
    }

    /// Is this folder trailflow's own (the lake being written, another lake, a report folder)?
    /// Left out, and named once in the summary.
    fn skip_own(&mut self, dir: &Path) -> bool {
        let real = std::fs::canonicalize(dir).ok();
        let what = if real.is_some() && real == self.lake { Some("the lake this run writes") } else { own_folder(dir) };
        match what {
            Some(what) => {
                self.own_folders.push(format!("{} ({what})", dir.display()));
                true
            }
            None => false,
        }
    }

    fn inside(&self, real: &Path) -> bool {
        self.roots.iter().any(|r| real.starts_with(r))
    }

    fn refuse(&mut self, path: &Path, reason: String) {
        (self.error)(ErrorRow::file(&path.to_string_lossy(), None, reason));
    }

    /// Walk one input as given. A path named on the command line is taken as the user means it,
    /// a link included; it must be a folder or a regular file.
    pub fn walk(&mut self, input: &Path) {
        match std::fs::metadata(input) {
            Err(e) => self.refuse(input, format!("cannot read: {e}")),
            Ok(m) if m.is_dir() => {
                if !self.skip_own(input) {
                    #[cfg(target_os = "linux")]
                    match at::open_root(input) {
                        Ok(h) => self.walk_dir_at(&h, input),
                        Err(e) => self.refuse(input, format!("cannot read folder: {e}")),
                    }
                    #[cfg(not(target_os = "linux"))]
                    self.walk_dir(input)
                }
            }
            Ok(m) if m.is_file() => {
                let open = std::fs::canonicalize(input).unwrap_or_else(|_| input.to_path_buf());
                self.walk_file(input, &open);
            }
            Ok(m) => {
                self.refuse(input, format!("not a regular file or folder ({}): not read", special_kind(&m.file_type())))
            }
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn walk_dir(&mut self, dir: &Path) {
        let mut entries: Vec<(PathBuf, std::io::Result<std::fs::FileType>)> = match std::fs::read_dir(dir) {
            Ok(rd) => rd.filter_map(|e| e.ok().map(|e| (e.path(), e.file_type()))).collect(),
            Err(e) => {
                self.refuse(dir, format!("cannot read folder: {e}"));
                return;
            }
        };
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let patterns = Self::patterns(dir);
        for (p, ft) in entries {
            let name = p.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            if name == IGNORE_FILE {
                continue;
            }
            if ignored_by(&patterns, &name) {
                self.ignored += 1;
                continue;
            }
            match ft {
                Err(e) => self.refuse(&p, format!("cannot read: {e}")),
                Ok(ft) if ft.is_dir() => {
                    if !self.skip_own(&p) {
                        self.walk_dir(&p)
                    }
                }
                Ok(ft) if ft.is_file() => self.walk_file(&p, &p),
                Ok(ft) if ft.is_symlink() => self.walk_link(&p),
                Ok(ft) => self.refuse(&p, format!("not a regular file ({}): not read", special_kind(&ft))),
            }
        }
    }

    /// The `.trailflowignore` patterns of a folder.
    fn patterns(dir: &Path) -> Vec<String> {
        std::fs::read_to_string(dir.join(IGNORE_FILE))
            .map(|t| {
                t.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).map(str::to_string).collect()
            })
            .unwrap_or_default()
    }

    /// A folder read through its handle: each subfolder and file opened through it, checked
    /// against the listing, so a folder renamed and replaced by a link during the walk is refused,
    /// never followed, and a file is read from the folder that was listed.
    #[cfg(target_os = "linux")]
    fn walk_dir_at(&mut self, dir: &File, shown: &Path) {
        let mut entries = match at::list(dir) {
            Ok(e) => e,
            Err(e) => {
                self.refuse(shown, format!("cannot read folder: {e}"));
                return;
            }
        };
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        crate::failpoint("after_listing");
        let patterns = Self::patterns(shown);
        for e in entries {
            let name = e.name.to_string_lossy().to_string();
            let p = shown.join(&e.name);
            if name == IGNORE_FILE {
                continue;
            }
            if ignored_by(&patterns, &name) {
                self.ignored += 1;
                continue;
            }
            match &e.kind {
                Err(err) => self.refuse(&p, format!("cannot read: {err}")),
                Ok(ft) if ft.is_dir() => {
                    if self.skip_own(&p) {
                        continue;
                    }
                    match at::open_dir(dir, &e) {
                        Ok(h) => self.walk_dir_at(&h, &p),
                        Err(err) => self.refuse(
                            &p,
                            format!("folder not read: {err} (swapped for a link or moved during the walk?)"),
                        ),
                    }
                }
                Ok(ft) if ft.is_file() => match at::open_file(dir, &e) {
                    Ok(f) => self.walk_opened(&p, Opened { path: p.clone(), file: Some(f) }),
                    Err(err) => self.refuse(&p, format!("not read: {err}")),
                },
                Ok(ft) if ft.is_symlink() => self.walk_link(&p),
                Ok(ft) => self.refuse(&p, format!("not a regular file ({}): not read", special_kind(ft))),
            }
        }
    }

    /// A symbolic link found in a folder: followed only to a regular file inside the inputs.
    fn walk_link(&mut self, link: &Path) {
        let target = std::fs::read_link(link).map(|t| t.display().to_string()).unwrap_or_default();
        let real = match std::fs::canonicalize(link) {
            Ok(r) => r,
            Err(e) => {
                self.refuse(link, format!("symbolic link to {target:?}, which cannot be followed ({e}): not read"));
                return;
            }
        };
        let inside = self.inside(&real);
        match std::fs::metadata(&real) {
            Ok(m) if m.is_file() && inside => self.walk_file(link, &real),
            Ok(m) if m.is_file() => self
                .refuse(link, format!("symbolic link to a file outside the evidence ({}): not read", real.display())),
            Ok(m) if m.is_dir() && inside => {
                let mut row = ErrorRow::file(
                    &link.to_string_lossy(),
                    None,
                    format!(
                        "symbolic link to a folder inside the evidence ({}): not followed; its files are read where \
                            they are",
                        real.display()
                    ),
                );
                row.severity = super::summary::Severity::Warning;
                (self.error)(row);
            }
            Ok(m) if m.is_dir() => self.refuse(
                link,
                format!("symbolic link to a folder outside the evidence ({}): not followed", real.display()),
            ),
            Ok(m) => self.refuse(
                link,
                format!("symbolic link to {} ({}): not read", special_kind(&m.file_type()), real.display()),
            ),
            Err(e) => {
                self.refuse(link, format!("symbolic link to {target:?}, which cannot be followed ({e}): not read"))
            }
        }
    }

    /// A regular file: `shown` is its name in the lake, `open` the path to read.
    fn walk_file(&mut self, shown: &Path, open: &Path) {
        self.walk_opened(shown, Opened::path(open.to_path_buf()))
    }

    /// A regular file, opened or to open: `shown` is its name in the lake.
    fn walk_opened(&mut self, shown: &Path, opened: Opened) {
        let outer: Arc<str> = shown.to_string_lossy().into();
        let name = shown.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
        let size = match &opened.file {
            Some(f) => f.metadata().map(|m| m.len()).unwrap_or(0),
            None => std::fs::metadata(&opened.path).map(|m| m.len()).unwrap_or(0),
        };
        match archive_kind(&name) {
            None => (self.emit)(Unit { outer, member: None, data: UnitData::File(opened), size }),
            Some(kind) => {
                let file = match opened.open() {
                    Ok(f) => f,
                    Err(e) => {
                        (self.error)(ErrorRow::file(&outer, None, format!("cannot open: {e}")));
                        return;
                    }
                };
                let mut reader = BufReader::new(file);
                match kind {
                    ArchiveKind::Zip => self.walk_zip(&mut reader, &outer, None, 1),
                    ArchiveKind::Tar => self.walk_tar(&mut reader, &outer, None, 1),
                    ArchiveKind::TarGz => self.walk_tar(&mut MultiGzDecoder::new(reader), &outer, None, 1),
                }
            }
        }
    }

    fn member_name(prefix: Option<&str>, name: &str) -> String {
        match prefix {
            Some(p) => format!("{p}!{name}"),
            None => name.to_string(),
        }
    }

    /// A member that is itself an archive, at nesting `depth` (the outermost archive is 1): opened
    /// when the depth allows. Returns false when it is not an archive.
    fn nested(&mut self, outer: &Arc<str>, member: &str, depth: usize, reader: &mut dyn Read, size: u64) -> bool {
        let Some(kind) = archive_kind(member) else {
            return false;
        };
        if depth >= self.limits.archive_depth {
            (self.error)(ErrorRow::file(
                outer,
                Some(member.to_string()),
                format!(
                    "archive nested more than {} deep: not opened (TRAILFLOW_MAX_ARCHIVE_DEPTH)",
                    self.limits.archive_depth
                ),
            ));
            return true;
        }
        match kind {
            // Tar is read as a stream: nothing is held in memory.
            ArchiveKind::Tar => self.walk_tar(reader, outer, Some(member), depth + 1),
            ArchiveKind::TarGz => self.walk_tar(&mut MultiGzDecoder::new(reader), outer, Some(member), depth + 1),
            // Zip needs to seek: a small member is read into memory first; a large one is spilled
            // to an unnamed temporary file, so that a zip of zips holds no level in memory while it
            // walks the next (each level a gigabyte would otherwise be held all at once).
            ArchiveKind::Zip if size > SPILL_ABOVE => {
                if let Some(file) = self.spill_member(outer, member, reader, size) {
                    self.walk_zip(&mut BufReader::new(file), outer, Some(member), depth + 1);
                }
            }
            ArchiveKind::Zip => {
                if let Some(data) = self.read_member(outer, member, reader, size) {
                    self.walk_zip(&mut Cursor::new(data), outer, Some(member), depth + 1);
                }
            }
        }
        true
    }

    fn too_large(n: u64, limit: u64) -> String {
        format!("member of {n} bytes or more is over the {limit}-byte limit for archive members (TRAILFLOW_MAX_MEMBER)")
    }

    /// The member bound, when the size a member's header declares is within it (else reported).
    fn member_limit(&mut self, outer: &Arc<str>, member: &str, size: u64) -> Option<u64> {
        let limit = self.limits.member_bytes;
        if size > limit {
            (self.error)(ErrorRow::file(outer, Some(member.to_string()), Self::too_large(size, limit)));
            return None;
        }
        Some(limit)
    }

    /// Copy a member to an unnamed temporary file, within the member bound; `None` (reported)
    /// when it is too large, unreadable, or there is nowhere to put it.
    fn spill_member(&mut self, outer: &Arc<str>, member: &str, reader: &mut dyn Read, size: u64) -> Option<File> {
        let limit = self.member_limit(outer, member, size)?;
        let too_large = |n: u64| Self::too_large(n, limit);
        let mut file = match temporary_file(&std::env::temp_dir()) {
            Ok(f) => f,
            Err(e) => {
                let why =
                    format!("nested archive not read: no temporary file to hold it ({e}; TMPDIR names the folder)");
                (self.error)(ErrorRow::file(outer, Some(member.to_string()), why));
                return None;
            }
        };
        match std::io::copy(&mut reader.take(limit + 1), &mut file) {
            Ok(n) if n > limit => {
                (self.error)(ErrorRow::file(outer, Some(member.to_string()), too_large(n)));
                None
            }
            Ok(_) => match file.seek(SeekFrom::Start(0)) {
                Ok(_) => Some(file),
                Err(e) => {
                    (self.error)(ErrorRow::file(
                        outer,
                        Some(member.to_string()),
                        format!("nested archive not read: {e}"),
                    ));
                    None
                }
            },
            Err(e) => {
                (self.error)(ErrorRow::file(outer, Some(member.to_string()), format!("corrupt archive member: {e}")));
                None
            }
        }
    }

    /// Read a member into memory, within the member bound; `None` (reported) when it is too large
    /// or unreadable.
    fn read_member(&mut self, outer: &Arc<str>, member: &str, reader: &mut dyn Read, size: u64) -> Option<Vec<u8>> {
        let limit = self.member_limit(outer, member, size)?;
        let too_large = |n: u64| Self::too_large(n, limit);
        // The size a header declares may lie: the read itself is bounded.
        let mut data = Vec::with_capacity(size.min(64 << 20) as usize);
        match reader.take(limit + 1).read_to_end(&mut data) {
            Ok(n) if n as u64 > limit => {
                (self.error)(ErrorRow::file(outer, Some(member.to_string()), too_large(n as u64)));
                None
            }
            Ok(_) => Some(data),
            Err(e) => {
                (self.error)(ErrorRow::file(outer, Some(member.to_string()), format!("corrupt archive member: {e}")));
                None
            }
        }
    }

    /// Hand a leaf member on to the decoders, within the pending-bytes budget.
    fn leaf(&mut self, outer: &Arc<str>, member: String, reader: &mut dyn Read, size: u64) {
        let declared = size.min(self.limits.member_bytes);
        let mut reservation = self.pending.reserve(declared);
        if let Some(data) = self.read_member(outer, &member, reader, size) {
            let size = data.len() as u64;
            // The size a header declares may be less than what came (or absent): count what came.
            if size > declared {
                drop(reservation);
                reservation = self.pending.reserve(size);
            }
            (self.emit)(Unit {
                outer: outer.clone(),
                member: Some(member),
                data: UnitData::Bytes(data, Some(reservation)),
                size,
            });
        }
    }

    fn walk_zip(&mut self, reader: &mut dyn ReadSeek, outer: &Arc<str>, prefix: Option<&str>, depth: usize) {
        fn open(reader: &mut dyn ReadSeek) -> Result<zip::ZipArchive<&mut dyn ReadSeek>, Rejected> {
            zip::ZipArchive::new(reader).map_err(|e| Rejected(format!("not a readable zip archive: {e}")))
        }
        let (duplicated, cd_start, base) = match open(&mut *reader) {
            Ok(z) => (z.has_duplicate_names(), z.central_directory_start(), z.offset()),
            Err(reason) => {
                (self.error)(ErrorRow::file(outer, prefix.map(str::to_string), reason.into()));
                return;
            }
        };
        // Names the central directory holds more than once: the archive reader keeps one entry per
        // name, so every copy of such a name is read by its own offset below.
        let mut copies: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut by_offset = Vec::new();
        if duplicated {
            match central_entries(&mut *reader, cd_start, base) {
                Ok(entries) => {
                    for e in &entries {
                        *copies.entry(e.name.clone()).or_default() += 1;
                    }
                    by_offset = entries.into_iter().filter(|e| copies[&e.name] > 1).collect();
                }
                Err(e) => (self.error)(ErrorRow::file(
                    outer,
                    prefix.map(str::to_string),
                    format!(
                        "zip archive with repeated member names whose directory cannot be read: {e}; one copy of each \
                            name was read"
                    ),
                )),
            }
        }
        let mut zip = match open(&mut *reader) {
            Ok(z) => z,
            Err(reason) => {
                (self.error)(ErrorRow::file(outer, prefix.map(str::to_string), reason.into()));
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
                        format!("zip member #{} unreadable: {e}", i + 1),
                    ));
                    continue;
                }
            };
            let raw_name = entry.name_raw().to_vec();
            if copies.get(&raw_name).is_some_and(|n| *n > 1) {
                continue; // read below, every copy
            }
            let name = String::from_utf8_lossy(&raw_name).to_string();
            // A name ending in `/` is a folder (the zip format's only separator); a name ending
            // in `\` is a file whatever some readers think.
            if name.ends_with('/') {
                continue;
            }
            let member = Self::member_name(prefix, &name);
            if entry.is_symlink() {
                let mut row = ErrorRow::file(outer, Some(member), "symbolic link member: not read".into());
                row.severity = super::summary::Severity::Warning;
                (self.error)(row);
                continue;
            }
            let size = entry.size();
            if !self.nested(outer, &member, depth, &mut entry, size) {
                self.leaf(outer, member, &mut entry, size);
            }
        }
        drop(zip);
        // Every copy of a repeated name, in directory order: the first under its name, the next
        // as `name#2`, `name#3`.
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        for e in by_offset {
            let n = seen.entry(e.name.clone()).or_default();
            *n += 1;
            let name = String::from_utf8_lossy(&e.name).to_string();
            if name.ends_with('/') {
                continue;
            }
            let shown = if *n == 1 { name } else { format!("{name}#{n}") };
            let member = Self::member_name(prefix, &shown);
            if let Err(err) = reader.seek(SeekFrom::Start(e.header)) {
                (self.error)(ErrorRow::file(outer, Some(member), format!("corrupt zip member: {err}")));
                continue;
            }
            let mut stream: &mut dyn ReadSeek = &mut *reader;
            match zip::read::read_zipfile_from_stream_with_compressed_size(&mut stream, e.compressed) {
                Ok(Some(mut entry)) => {
                    let size = entry.size();
                    if !self.nested(outer, &member, depth, &mut entry, size) {
                        self.leaf(outer, member, &mut entry, size);
                    }
                }
                Ok(None) => {
                    (self.error)(ErrorRow::file(outer, Some(member), "zip member not found at its offset".into()))
                }
                Err(err) => (self.error)(ErrorRow::file(outer, Some(member), format!("corrupt zip member: {err}"))),
            }
        }
    }

    fn walk_tar(&mut self, reader: &mut dyn Read, outer: &Arc<str>, prefix: Option<&str>, depth: usize) {
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
            let name = entry.path().map(|p| p.to_string_lossy().to_string()).unwrap_or_else(|_| "?".into());
            let member = Self::member_name(prefix, &name);
            let ty = entry.header().entry_type();
            if ty.is_dir()
                || ty.is_pax_global_extensions()
                || ty.is_pax_local_extensions()
                || ty.is_gnu_longname()
                || ty.is_gnu_longlink()
            {
                continue;
            }
            if ty.is_symlink() || ty.is_hard_link() {
                let target =
                    entry.link_name().ok().flatten().map(|t| t.to_string_lossy().to_string()).unwrap_or_default();
                let what = if ty.is_symlink() { "symbolic" } else { "hard" };
                let mut row = ErrorRow::file(
                    outer,
                    Some(member),
                    format!(
                        "{what} link member to {target:?}: not read (its target is read as a member of its own when \
                            the archive holds it)"
                    ),
                );
                row.severity = super::summary::Severity::Warning;
                (self.error)(row);
                continue;
            }
            if !ty.is_file() && !ty.is_contiguous() && !ty.is_gnu_sparse() {
                let kind = if ty.is_character_special() {
                    "character device"
                } else if ty.is_block_special() {
                    "block device"
                } else if ty.is_fifo() {
                    "FIFO"
                } else {
                    "special"
                };
                (self.error)(ErrorRow::file(outer, Some(member), format!("{kind} member: not read")));
                continue;
            }
            let size = entry.header().size().unwrap_or(0);
            if !self.nested(outer, &member, depth, &mut entry, size) {
                self.leaf(outer, member, &mut entry, size);
            }
        }
    }
}

/// One entry of a zip central directory.
struct CentralEntry {
    name: Vec<u8>,
    /// Where its local header is.
    header: u64,
    compressed: u64,
}

/// Every entry of a zip's central directory (which starts at `cd_start`), repeated names
/// included; `base` is where the archive starts in its file (after any prefix).
fn central_entries(r: &mut dyn ReadSeek, cd_start: u64, base: u64) -> std::io::Result<Vec<CentralEntry>> {
    r.seek(SeekFrom::Start(cd_start))?;
    let mut out = Vec::new();
    let mut fixed = [0u8; 46];
    loop {
        if r.read_exact(&mut fixed).is_err() || fixed[..4] != [0x50, 0x4b, 0x01, 0x02] {
            break;
        }
        let u16_at = |i: usize| u64::from(u16::from_le_bytes([fixed[i], fixed[i + 1]]));
        let u32_at = |i: usize| u64::from(u32::from_le_bytes([fixed[i], fixed[i + 1], fixed[i + 2], fixed[i + 3]]));
        let (name_len, extra_len, comment_len) = (u16_at(28), u16_at(30), u16_at(32));
        let mut compressed = u32_at(20);
        let uncompressed = u32_at(24);
        let mut offset = u32_at(42);
        let mut name = vec![0u8; name_len as usize];
        r.read_exact(&mut name)?;
        let mut extra = vec![0u8; extra_len as usize];
        r.read_exact(&mut extra)?;
        r.seek(SeekFrom::Current(comment_len as i64))?;
        // Zip64: the values set to 0xFFFFFFFF are in the 0x0001 extra field, in this order.
        let mut i = 0;
        while i + 4 <= extra.len() {
            let id = u16::from_le_bytes([extra[i], extra[i + 1]]);
            let len = u16::from_le_bytes([extra[i + 2], extra[i + 3]]) as usize;
            let body = &extra[(i + 4).min(extra.len())..(i + 4 + len).min(extra.len())];
            if id == 1 {
                let mut vals = body.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")));
                if uncompressed == 0xFFFF_FFFF {
                    vals.next();
                }
                if compressed == 0xFFFF_FFFF {
                    compressed = vals.next().unwrap_or(compressed);
                }
                if offset == 0xFFFF_FFFF {
                    offset = vals.next().unwrap_or(offset);
                }
            }
            i += 4 + len;
        }
        // The directory's offsets count from the archive's start, which may sit after a prefix.
        out.push(CentralEntry { name, header: offset + base, compressed });
        if out.len() > 10_000_000 {
            break;
        }
    }
    Ok(out)
}
