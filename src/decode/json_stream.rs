//! Splitting a JSON stream into records without holding the file in memory.
//!
//! A file may hold one document or many (JSON Lines, concatenated documents). The elements of a
//! top-level array, and of the `Records` or `Events` array of a top-level object (CloudTrail's
//! `{"Records":[...]}`, event history's `{"Events":[...]}` from `aws cloudtrail lookup-events`),
//! and of the resource arrays of inventory (`describe-*` output's `NetworkAcls`, `Subnets`, ...;
//! AWS Config's `configurationItems`) are handed on one by one as [`Item::Record`]; any other
//! top-level object is handed on whole as [`Item::Document`]. Only the structure is followed here (strings,
//! brackets, commas, colons); the text of each item is checked by the caller's parser, so a record
//! that is well-formed but invalid (a `NaN`, a bad literal) is rejected alone.
//!
//! A record larger than its bound is skipped, not held. Where the structure itself breaks (a line
//! cut short, a stray character), the broken value is reported and reading resumes at the next
//! line that opens an object or array: in the same array when the break was inside one, at the top
//! otherwise. A JSON string never holds a raw line break, so a break inside one is a break of the
//! structure too. Records on lines of their own (JSON Lines, pretty-printed arrays) therefore lose
//! only themselves; in a file of one long line, what follows a structural break on that line is
//! lost, and the report says so.

use std::io::BufRead;

use crate::decode::inventory::{CONFIG_KEYS, INVENTORY_KEYS};
use crate::limits::MAX_JSON_DEPTH;

/// The array a record was an element of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Container {
    /// A top-level array (a bare array of records, as exports write them).
    TopArray,
    /// The `Records` array of a top-level object: a trail's log file.
    Records,
    /// The `Events` array of a top-level object: event history (`lookup-events`).
    Events,
    /// The `events` array of a top-level object: CloudWatch Logs (`filter-log-events`,
    /// `get-log-events`), each element a log event whose `message` is the record.
    LogEvents,
    /// The array of a `describe-*` output under this key (`NetworkAcls`, `Subnets`, ...): each
    /// element one resource (a reservation of `Reservations`, its instances).
    Inventory(&'static str),
    /// The `configurationItems` (or `baseConfigurationItems`) of an AWS Config snapshot, history
    /// file or API output: each element one configuration item.
    Config,
}

/// What the splitter hands on.
pub enum Item<'a> {
    /// An element of a top-level array or of a top-level `Records` or `Events` array: its text,
    /// the line it starts on, its position in the array (1-based), and which array it was in.
    Record { text: &'a [u8], line: u64, index: u64, from: Container },
    /// A whole top-level object that holds no array of records or resources, and its position among the file's
    /// top-level values (1-based).
    Document { text: &'a [u8], line: u64, index: u64 },
    /// A value that could not be taken: where it starts, its position when it is an array element
    /// or a top-level value, why, and the start of its text.
    Bad { line: u64, index: Option<u64>, reason: String, excerpt: &'a [u8] },
}

/// Bounds on what is held in memory.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// An array element, at most.
    pub record: usize,
    /// A top-level object read whole, at most.
    pub document: usize,
}

/// How reading a value ended.
enum End {
    /// Complete.
    Done,
    /// The stream ended inside it.
    Eof,
    /// The structure broke; the reason.
    Broken(String),
}

/// The bytes of an excerpt.
const EXCERPT: usize = 300;

/// The text of the value being read, when it is kept.
struct Cap {
    buf: Vec<u8>,
    on: bool,
    limit: usize,
    /// The value outgrew `limit`: only its start is kept, for the excerpt.
    over: bool,
}

impl Cap {
    fn keep(&mut self, bytes: &[u8]) {
        if !self.on || self.over {
            return;
        }
        let needed = self.buf.len() + bytes.len();
        if needed > self.limit {
            self.over = true;
            self.buf.truncate(EXCERPT);
            return;
        }
        if needed > self.buf.capacity() {
            // Grow by doubling, but never past the bound: a value near it takes no more than it.
            let target = (self.buf.capacity() * 2).max(needed).min(self.limit);
            self.buf.reserve_exact(target - self.buf.len());
        }
        self.buf.extend_from_slice(bytes);
    }
}

/// The stream, with bytes put back in front of it: the lines after the first of a value that
/// broke, read again.
struct Rewind<'r> {
    inner: &'r mut dyn BufRead,
    back: Vec<u8>,
    pos: usize,
}

impl Rewind<'_> {
    fn fill_buf(&mut self) -> Io<&[u8]> {
        if self.pos < self.back.len() {
            return Ok(&self.back[self.pos..]);
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        if self.pos < self.back.len() {
            // fill_buf handed out only the put-back bytes: `n` lies within them.
            self.pos += n;
            if self.pos >= self.back.len() {
                self.back.clear();
                self.pos = 0;
            }
        } else {
            self.inner.consume(n);
        }
    }

    /// Read `bytes` again before what is left.
    fn put_back(&mut self, bytes: &[u8]) {
        let mut back = bytes.to_vec();
        back.extend_from_slice(&self.back[self.pos..]);
        self.back = back;
        self.pos = 0;
    }
}

struct Scanner<'r> {
    r: Rewind<'r>,
    line: u64,
    /// Only white space since the last line break.
    line_start: bool,
    /// White space bytes since the last line break, while only white space has come.
    indent: usize,
    cap: Cap,
    stack: Vec<u8>,
}

/// Split the stream, calling `f` with each item. Fails only when the stream cannot be read (a
/// corrupt gzip): the error comes with the line reached.
pub fn split(r: &mut dyn BufRead, bounds: Bounds, f: &mut dyn FnMut(Item<'_>)) -> Result<(), (u64, std::io::Error)> {
    let cap = Cap { buf: Vec::new(), on: false, limit: 0, over: false };
    let r = Rewind { inner: r, back: Vec::new(), pos: 0 };
    let mut s = Scanner { r, line: 1, line_start: true, indent: 0, cap, stack: Vec::new() };
    s.top(bounds, f).map_err(|e| (s.line, e))
}

type Io<T> = std::io::Result<T>;

/// The keys of a top-level object whose array holds one record per element: a trail file's
/// `Records`, event history's `Events` (`aws cloudtrail lookup-events`), CloudWatch Logs'
/// `events` (`aws logs filter-log-events` / `get-log-events`).
const RECORD_ARRAYS: [(&[u8], Container); 3] =
    [(b"\"Records\"", Container::Records), (b"\"Events\"", Container::Events), (b"\"events\"", Container::LogEvents)];

/// The array a top-level key (with its quotes, as written) holds records or resources in, if any:
/// inventory is read element by element too, so that a large snapshot is never held whole.
fn array_of_key(key: &[u8]) -> Option<Container> {
    let bare = key.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    RECORD_ARRAYS
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, c)| *c)
        .or_else(|| {
            INVENTORY_KEYS.iter().find(|(k, _, _)| k.as_bytes() == bare).map(|(k, _, _)| Container::Inventory(k))
        })
        .or_else(|| CONFIG_KEYS.iter().any(|k| k.as_bytes() == bare).then_some(Container::Config))
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_structural(b: u8) -> bool {
    matches!(b, b'{' | b'}' | b'[' | b']' | b',' | b':' | b'"')
}

impl Scanner<'_> {
    fn peek(&mut self) -> Io<Option<u8>> {
        Ok(self.r.fill_buf()?.first().copied())
    }

    /// Take one byte (already peeked).
    fn bump(&mut self, b: u8) {
        self.cap.keep(&[b]);
        self.r.consume(1);
    }

    fn start_capture(&mut self, limit: usize) {
        self.cap.buf.clear();
        // A large value is not kept around for the small ones after it.
        if self.cap.buf.capacity() > 16 << 20 {
            self.cap.buf = Vec::new();
        }
        self.cap.on = true;
        self.cap.over = false;
        self.cap.limit = limit;
    }

    /// Skip white space (kept when capturing); the next byte, if any.
    fn ws(&mut self) -> Io<Option<u8>> {
        loop {
            let avail = self.r.fill_buf()?;
            if avail.is_empty() {
                return Ok(None);
            }
            let n = avail.iter().take_while(|b| is_ws(**b)).count();
            if n > 0 {
                let lines = avail[..n].iter().filter(|b| **b == b'\n').count() as u64;
                if lines > 0 {
                    self.line += lines;
                    self.line_start = true;
                    self.indent = n - 1 - memchr::memrchr(b'\n', &avail[..n]).unwrap_or(0);
                } else if self.line_start {
                    self.indent += n;
                }
                self.cap.keep(&avail[..n]);
                self.r.consume(n);
                continue;
            }
            return Ok(Some(avail[0]));
        }
    }

    /// The rest of a string whose opening quote was taken.
    fn string(&mut self) -> Io<End> {
        loop {
            let avail = self.r.fill_buf()?;
            if avail.is_empty() {
                return Ok(End::Eof);
            }
            match memchr::memchr3(b'"', b'\\', b'\n', avail) {
                None => {
                    let n = avail.len();
                    self.cap.keep(avail);
                    self.r.consume(n);
                }
                Some(i) => {
                    let c = avail[i];
                    self.cap.keep(&avail[..=i]);
                    self.r.consume(i + 1);
                    match c {
                        b'"' => return Ok(End::Done),
                        b'\n' => {
                            self.line += 1;
                            self.line_start = true;
                            self.indent = 0;
                            return Ok(End::Broken("a line break inside a string".into()));
                        }
                        _ => match self.peek()? {
                            None => return Ok(End::Eof),
                            Some(b'\n') => {
                                self.r.consume(1);
                                self.line += 1;
                                self.line_start = true;
                                self.indent = 0;
                                return Ok(End::Broken("a line break inside a string".into()));
                            }
                            Some(b) => self.bump(b),
                        },
                    }
                }
            }
        }
    }

    /// A scalar (number, literal, or anything else between structural characters); the checking
    /// of it is the record parser's.
    fn scalar(&mut self) -> Io<()> {
        loop {
            let avail = self.r.fill_buf()?;
            if avail.is_empty() {
                return Ok(());
            }
            let n = avail.iter().take_while(|b| !is_ws(**b) && !is_structural(**b)).count();
            self.cap.keep(&avail[..n]);
            let whole = n == avail.len();
            self.r.consume(n);
            if !whole {
                return Ok(());
            }
        }
    }

    /// One whole value, from its first byte.
    fn value(&mut self) -> Io<End> {
        #[derive(Clone, Copy, PartialEq)]
        enum Want {
            Value,
            ValueOrEnd,
            Key,
            KeyOrEnd,
            Colon,
            CommaOrEnd,
        }
        const OBJ: u8 = b'{';
        self.stack.clear();
        let mut want = Want::Value;
        loop {
            let Some(b) = self.ws()? else {
                return Ok(End::Eof);
            };
            let after_value = |stack: &Vec<u8>| if stack.is_empty() { None } else { Some(Want::CommaOrEnd) };
            let next = match (want, b) {
                (Want::Value | Want::ValueOrEnd, b'{' | b'[') => {
                    self.bump(b);
                    self.stack.push(b);
                    if self.stack.len() > MAX_JSON_DEPTH {
                        return Ok(End::Broken(format!("nested deeper than {MAX_JSON_DEPTH} levels")));
                    }
                    Some(if b == OBJ { Want::KeyOrEnd } else { Want::ValueOrEnd })
                }
                (Want::Value | Want::ValueOrEnd | Want::Key | Want::KeyOrEnd, b'"') => {
                    self.bump(b);
                    match self.string()? {
                        End::Done => {}
                        other => return Ok(other),
                    }
                    self.line_start = false;
                    if matches!(want, Want::Key | Want::KeyOrEnd) {
                        Some(Want::Colon)
                    } else {
                        after_value(&self.stack)
                    }
                }
                (Want::Colon, b':') => {
                    self.bump(b);
                    Some(Want::Value)
                }
                (Want::CommaOrEnd, b',') => {
                    self.bump(b);
                    Some(if self.stack.last() == Some(&OBJ) { Want::Key } else { Want::Value })
                }
                (Want::KeyOrEnd | Want::CommaOrEnd, b'}') if self.stack.last() == Some(&OBJ) => {
                    self.bump(b);
                    self.stack.pop();
                    after_value(&self.stack)
                }
                (Want::ValueOrEnd | Want::CommaOrEnd, b']') if self.stack.last() == Some(&b'[') => {
                    self.bump(b);
                    self.stack.pop();
                    after_value(&self.stack)
                }
                (Want::Value | Want::ValueOrEnd, b) if !is_structural(b) => {
                    self.scalar()?;
                    after_value(&self.stack)
                }
                (_, b) => {
                    let expected = match want {
                        Want::Value | Want::ValueOrEnd => "a value",
                        Want::Key | Want::KeyOrEnd => "a key",
                        Want::Colon => "':'",
                        Want::CommaOrEnd => "',' or a closing bracket",
                    };
                    return Ok(End::Broken(format!("{:?} where {expected} should be", b as char)));
                }
            };
            // Something was taken on this line (a break found at its start returned above).
            self.line_start = false;
            match next {
                None => return Ok(End::Done),
                Some(w) => want = w,
            }
        }
    }

    /// After a break: skip to a line that opens an object or array (staying put when the break was
    /// found at the start of such a line). Returns false at the end of the stream.
    fn resync(&mut self) -> Io<bool> {
        self.resync_within(usize::MAX)
    }

    /// A value that began at line `line`, indented `indent`, broke or was cut short: read again
    /// from the line after its first, and resume at the first line there that opens an object or
    /// array no deeper than the value itself (a record of its own, not a part of the broken one).
    /// So a record cut short loses only its own lines, whether records are one a line or
    /// pretty-printed. Without the whole value's text (over its bound), resume after the break.
    /// Returns false at the end of the stream.
    fn rewind(&mut self, line: u64, indent: Option<usize>) -> Io<bool> {
        let Some(indent) = indent.filter(|_| !self.cap.over && self.cap.on) else {
            return self.resync();
        };
        match memchr::memchr(b'\n', &self.cap.buf) {
            Some(i) if i + 1 < self.cap.buf.len() => {
                let rest = self.cap.buf[i + 1..].to_vec();
                self.r.put_back(&rest);
                self.line = line + 1;
                self.line_start = true;
                self.indent = 0;
                self.resync_within(indent)
            }
            _ => self.resync(),
        }
    }

    fn resync_within(&mut self, max_indent: usize) -> Io<bool> {
        self.cap.on = false;
        loop {
            if self.line_start {
                match self.ws()? {
                    None => return Ok(false),
                    Some(b'{' | b'[') if self.line_start && self.indent <= max_indent => return Ok(true),
                    Some(_) => self.line_start = false,
                }
            }
            // To the end of this line.
            loop {
                let avail = self.r.fill_buf()?;
                if avail.is_empty() {
                    return Ok(false);
                }
                match memchr::memchr(b'\n', avail) {
                    Some(i) => {
                        self.r.consume(i + 1);
                        self.line += 1;
                        self.line_start = true;
                        self.indent = 0;
                        break;
                    }
                    None => {
                        let n = avail.len();
                        self.r.consume(n);
                    }
                }
            }
        }
    }

    fn excerpt(&self) -> &[u8] {
        &self.cap.buf[..self.cap.buf.len().min(EXCERPT)]
    }

    /// The file: top-level values one after another.
    fn top(&mut self, bounds: Bounds, f: &mut dyn FnMut(Item<'_>)) -> Io<()> {
        let mut index = 0u64;
        loop {
            self.cap.on = false;
            let Some(b) = self.ws()? else {
                return Ok(());
            };
            index += 1;
            let line = self.line;
            let indent = self.line_start.then_some(self.indent);
            match b {
                b'[' => {
                    self.r.consume(1);
                    self.line_start = false;
                    if !self.array(bounds, Container::TopArray, f)? {
                        return Ok(());
                    }
                }
                b'{' => {
                    if !self.object(bounds, (line, indent), index, f)? {
                        return Ok(());
                    }
                }
                _ => {
                    self.start_capture(EXCERPT);
                    let end = self.value()?;
                    let reason = match end {
                        End::Broken(why) => format!("not JSON: {why}"),
                        _ => "a top-level JSON value that is not an object or array".to_string(),
                    };
                    f(Item::Bad { line, index: Some(index), reason, excerpt: self.excerpt() });
                    if !self.resync()? {
                        return Ok(());
                    }
                }
            }
        }
    }

    /// The elements of an array whose `[` was taken, each handed on as a record. Returns false when
    /// the stream ended.
    fn array(&mut self, bounds: Bounds, from: Container, f: &mut dyn FnMut(Item<'_>)) -> Io<bool> {
        let mut index = 0u64;
        let mut first = true;
        // After a break, the array's end may have been skipped with the broken line: the end of
        // the stream is then no news.
        let mut resynced = false;
        loop {
            self.cap.on = false;
            let Some(b) = self.ws()? else {
                if !resynced {
                    f(Item::Bad {
                        line: self.line,
                        index: None,
                        reason: "truncated JSON: the file ends inside an array".into(),
                        excerpt: b"",
                    });
                }
                return Ok(false);
            };
            if b == b']' {
                self.r.consume(1);
                return Ok(true);
            }
            if !first {
                if b != b',' {
                    self.start_capture(EXCERPT);
                    let line = self.line;
                    f(Item::Bad {
                        line,
                        index: None,
                        reason: format!(
                            "invalid JSON: {:?} where ',' or ']' should be; read again from the next line that opens \
                                a record",
                            b as char
                        ),
                        excerpt: b"",
                    });
                    if !self.resync()? {
                        return Ok(false);
                    }
                    // Resumed on a line that opens a value: the next element.
                    first = true;
                    resynced = true;
                    continue;
                }
                self.r.consume(1);
                if self.ws()?.is_none() {
                    continue;
                }
            }
            first = false;
            index += 1;
            let line = self.line;
            let indent = self.line_start.then_some(self.indent);
            self.start_capture(bounds.record);
            match self.value()? {
                End::Done if self.cap.over => {
                    f(Item::Bad {
                        line,
                        index: Some(index),
                        reason: format!(
                            "record larger than {} bytes: not loaded (TRAILFLOW_MAX_RECORD)",
                            bounds.record
                        ),
                        excerpt: self.excerpt(),
                    });
                }
                End::Done => f(Item::Record { text: &self.cap.buf, line, index, from }),
                End::Eof => {
                    let excerpt = self.excerpt().to_vec();
                    f(Item::Bad {
                        line,
                        index: Some(index),
                        reason: "truncated JSON: the file ends inside this record".into(),
                        excerpt: &excerpt,
                    });
                    // Lines the cut record swallowed may hold records of their own.
                    if !self.rewind(line, indent)? {
                        return Ok(false);
                    }
                    first = true;
                    resynced = true;
                }
                End::Broken(why) => {
                    let at = self.line;
                    let excerpt = self.excerpt().to_vec();
                    f(Item::Bad {
                        line,
                        index: Some(index),
                        reason: format!("invalid JSON: {why} (line {at}); read again from the line after its first"),
                        excerpt: &excerpt,
                    });
                    if !self.rewind(line, indent)? {
                        return Ok(false);
                    }
                    // Resumed on a line that opens a value: the next element.
                    first = true;
                    resynced = true;
                }
            }
        }
    }

    /// A top-level object: its `Records` array streamed, or the whole object handed on. Returns
    /// false when the stream ended.
    fn object(
        &mut self,
        bounds: Bounds,
        (line, indent): (u64, Option<usize>),
        index: u64,
        f: &mut dyn FnMut(Item<'_>),
    ) -> Io<bool> {
        self.start_capture(bounds.document);
        self.bump(b'{');
        self.line_start = false;
        let mut streamed = false;
        let mut first = true;
        // A document that broke is read again from the line after its first (its records, once
        // streamed, were handed on: what follows the break is read from it).
        let broken = |s: &mut Self, f: &mut dyn FnMut(Item<'_>), why: String, streamed: bool| -> Io<bool> {
            let at = s.line;
            let excerpt = s.excerpt().to_vec();
            f(Item::Bad {
                line,
                index: Some(index),
                reason: format!("invalid JSON: {why} (line {at})"),
                excerpt: &excerpt,
            });
            if streamed { s.resync() } else { s.rewind(line, indent) }
        };
        let cut = |s: &mut Self, f: &mut dyn FnMut(Item<'_>), streamed: bool| -> Io<bool> {
            if streamed {
                return Ok(false);
            }
            let excerpt = s.excerpt().to_vec();
            f(Item::Bad {
                line,
                index: Some(index),
                reason: "truncated JSON: the file ends inside this object".into(),
                excerpt: &excerpt,
            });
            s.rewind(line, indent)
        };
        loop {
            let Some(b) = self.ws()? else {
                return cut(self, f, streamed);
            };
            match b {
                b'}' => {
                    self.bump(b);
                    break;
                }
                b',' if !first => {
                    self.bump(b);
                    continue;
                }
                b'"' => {}
                other => return broken(self, f, format!("{:?} where a key should be", other as char), streamed),
            }
            first = false;
            // A key.
            // The key is read into a capture of its own when the document's is past its bound
            // (its text no longer kept), so that a record array after a large member is still
            // found (and streamed) rather than lost with the document.
            let outgrown = self.cap.over || !self.cap.on;
            let doc = outgrown
                .then(|| std::mem::replace(&mut self.cap, Cap { buf: Vec::new(), on: true, limit: 64, over: false }));
            let key_start = self.cap.buf.len();
            self.bump(b'"');
            self.line_start = false;
            let end = self.string()?;
            let records = self.cap.buf.get(key_start..).filter(|_| !self.cap.over).and_then(array_of_key);
            if let Some(doc) = doc {
                self.cap = doc;
            }
            match end {
                End::Done => {}
                End::Eof => return cut(self, f, streamed),
                End::Broken(why) => return broken(self, f, why, streamed),
            }
            match self.ws()? {
                Some(b':') => self.bump(b':'),
                Some(other) => return broken(self, f, format!("{:?} where ':' should be", other as char), streamed),
                None => return cut(self, f, streamed),
            }
            let Some(b) = self.ws()? else {
                return cut(self, f, streamed);
            };
            if let Some(container) = records.filter(|_| b == b'[') {
                // CloudTrail's body (or an inventory's resources): one by one; the rest of the
                // object is not kept.
                self.r.consume(1);
                streamed = true;
                if !self.array(bounds, container, f)? {
                    return Ok(false);
                }
                self.cap.on = false;
                continue;
            }
            // Any other member: part of the document (not kept once the records were streamed).
            match self.value()? {
                End::Done => {}
                End::Eof => return cut(self, f, streamed),
                End::Broken(why) => return broken(self, f, why, streamed),
            }
        }
        if streamed {
            return Ok(true);
        }
        if self.cap.over {
            f(Item::Bad {
                line,
                index: Some(index),
                reason: format!(
                    "JSON document larger than {} bytes: not loaded (TRAILFLOW_MAX_DOCUMENT)",
                    bounds.document
                ),
                excerpt: self.excerpt(),
            });
        } else {
            f(Item::Document { text: &self.cap.buf, line, index });
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Got {
        R(String, u64, u64),
        D(String, u64),
        B(u64, Option<u64>, String),
    }

    fn run(text: &str, record: usize) -> Vec<Got> {
        let mut out = Vec::new();
        let mut r = std::io::BufReader::with_capacity(7, text.as_bytes());
        split(&mut r, Bounds { record, document: 1 << 20 }, &mut |i| {
            out.push(match i {
                Item::Record { text, line, index, .. } => Got::R(String::from_utf8_lossy(text).into(), line, index),
                Item::Document { text, line, .. } => Got::D(String::from_utf8_lossy(text).into(), line),
                Item::Bad { line, index, reason, .. } => Got::B(line, index, reason),
            })
        })
        .unwrap();
        out
    }

    #[test]
    fn records_are_streamed_and_documents_kept_whole() {
        let got = run(r#"{"Records":[{"a":"x\"y"},{"b":[1,2,{"c":null}]}]}"#, 1000);
        assert_eq!(got, vec![Got::R(r#"{"a":"x\"y"}"#.into(), 1, 1), Got::R(r#"{"b":[1,2,{"c":null}]}"#.into(), 1, 2)]);
        let got = run("{\"eventID\": \"1\"}\n{\"eventID\": \"2\"}\n", 1000);
        assert_eq!(got, vec![Got::D("{\"eventID\": \"1\"}".into(), 1), Got::D("{\"eventID\": \"2\"}".into(), 2)]);
        let got = run("[ {\"a\":1},\n {\"a\":2} ]", 1000);
        assert_eq!(got, vec![Got::R("{\"a\":1}".into(), 1, 1), Got::R("{\"a\":2}".into(), 2, 2)]);
        // Members around the records are not records.
        let got = run(r#"{"x":{"y":1},"Records":[{"a":1}],"z":2}"#, 1000);
        assert_eq!(got, vec![Got::R(r#"{"a":1}"#.into(), 1, 1)]);
    }

    #[test]
    fn inventory_is_streamed_resource_by_resource() {
        let mut got = Vec::new();
        let text = "{\"NextToken\": null,\n \"NetworkAcls\": [\n  {\"NetworkAclId\": \"acl-1\"},\n  \
            {\"NetworkAclId\": \"acl-2\"}\n]}\n{\"fileVersion\": \"1.0\", \"configurationItems\": [{\"resourceId\": \
            \"subnet-1\"}]}";
        let mut r = std::io::BufReader::with_capacity(5, text.as_bytes());
        // A document bound far smaller than the file: resources are records, bound by `record`.
        split(&mut r, Bounds { record: 100, document: 20 }, &mut |i| {
            if let Item::Record { text, line, from, .. } = i {
                got.push((String::from_utf8_lossy(text).to_string(), line, from));
            } else {
                panic!("not a record");
            }
        })
        .unwrap();
        assert_eq!(
            got,
            vec![
                ("{\"NetworkAclId\": \"acl-1\"}".into(), 3, Container::Inventory("NetworkAcls")),
                ("{\"NetworkAclId\": \"acl-2\"}".into(), 4, Container::Inventory("NetworkAcls")),
                ("{\"resourceId\": \"subnet-1\"}".into(), 6, Container::Config),
            ]
        );
        // A key that only looks like one (another case, or not an array) is no inventory array.
        assert_eq!(array_of_key(b"\"networkacls\""), None);
        assert_eq!(array_of_key(b"\"Subnets\""), Some(Container::Inventory("Subnets")));
    }

    #[test]
    fn a_broken_line_loses_only_itself() {
        let got = run("{\"a\":1}\n{\"a\":2\n{\"a\":3}\n{\"a\":\"4\n{\"a\":5}\n", 1000);
        assert!(
            matches!(&got[..], [Got::D(..), Got::B(2, Some(2), _), Got::D(..), Got::B(4, Some(4), _), Got::D(..)]),
            "{got:?}"
        );
        assert_eq!(got[4], Got::D("{\"a\":5}".into(), 5));
        // In a pretty-printed array, the next element's line.
        let got = run("{\"Records\": [\n  {\"a\": 1},\n  {\"a\": 2 x},\n  {\"a\": 3}\n]}\n", 1000);
        assert!(matches!(&got[..], [Got::R(_, 2, 1), Got::B(3, Some(2), _), Got::R(_, 4, _)]), "{got:?}");
    }

    #[test]
    fn a_record_cut_short_loses_only_its_own_lines() {
        // A collector that crashed mid-write: the cut line would take the next as its value.
        let got = run(
            "{\"eventID\": \"1\"}\n{\"eventID\": \"broken\", \"eventTime\": \n{\"eventID\": \"2\"}\n{\"eventID\": \
                \"3\"}\n",
            1000,
        );
        let docs: Vec<&Got> = got.iter().filter(|g| matches!(g, Got::D(..))).collect();
        assert_eq!(
            docs,
            vec![
                &Got::D("{\"eventID\": \"1\"}".into(), 1),
                &Got::D("{\"eventID\": \"2\"}".into(), 3),
                &Got::D("{\"eventID\": \"3\"}".into(), 4)
            ],
            "{got:?}"
        );
        assert!(matches!(&got[1], Got::B(2, Some(2), _)), "{got:?}");
        // The same at the end of the file.
        let got = run("{\"eventID\": \"broken\", \"eventTime\": \n{\"eventID\": \"2\"}", 1000);
        assert!(matches!(&got[..], [Got::B(1, _, _), Got::D(_, 2)]), "{got:?}");
        // Pretty-printed: the lines of the broken record are read again, but only a line opening a
        // value no deeper than the record starts the next one (not the record's own nested items).
        let text = "{\"Records\": [\n    {\n        \"eventID\": \"1\",\n        \"items\": [\n            {\"x\": \
            1}\n        ],\n        \"cut\": \n    {\n        \"eventID\": \"2\"\n    },\n    {\n        \"eventID\": \
            \"3\"\n    }\n]}\n";
        let got = run(text, 1000);
        let records: Vec<u64> =
            got.iter().filter_map(|g| if let Got::R(_, line, _) = g { Some(*line) } else { None }).collect();
        assert_eq!(records, vec![8, 11], "{got:?}");
        assert!(matches!(&got[0], Got::B(2, Some(1), _)), "{got:?}");
        assert_eq!(got.len(), 3, "{got:?}");
    }

    #[test]
    fn records_over_the_bound_are_skipped_not_held() {
        let big = "x".repeat(5000);
        let got = run(&format!(r#"{{"Records":[{{"a":"{big}"}},{{"a":1}}]}}"#), 100);
        assert!(
            matches!(&got[..], [Got::B(1, Some(1), r), Got::R(_, 1, 2)] if r.contains("larger than 100")),
            "{got:?}"
        );
    }

    #[test]
    fn truncation_and_scalars() {
        let got = run(r#"{"Records":[{"a":1},{"a":"#, 1000);
        assert!(matches!(&got[..], [Got::R(..), Got::B(1, Some(2), r)] if r.contains("truncated")), "{got:?}");
        let got = run("42\n{\"a\":1}", 1000);
        assert!(matches!(&got[..], [Got::B(1, Some(1), _), Got::D(_, 2)]), "{got:?}");
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let got = run(&format!("{{\"Records\":[{deep}]}}\n{{\"a\":1}}"), 1 << 20);
        assert!(matches!(got.first(), Some(Got::B(_, _, r)) if r.contains("nested deeper")), "{got:?}");
        // The next line opens a value: read as the array's next element, and nothing else reported.
        assert!(matches!(&got[..], [Got::B(..), Got::R(_, 2, _)]), "{got:?}");
    }
}
