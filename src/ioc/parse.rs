//! Indicator files read: plain lists (one indicator a line, `#` comments), CSV with a type column,
//! STIX 2.1 bundles (indicator patterns) and MISP JSON events. Each indicator is a set of
//! alternatives, each a set of conditions that must all hold in one record (a STIX pattern's OR
//! and AND); a plain, CSV or MISP indicator is one condition. A line, object or attribute that
//! cannot be read is a [`Problem`] naming where it is and why; the rest is read.

use std::path::Path;

use serde_json::Value;

pub use super::cond::{Cond, Side};
use super::cond::{addr_or_net, is_access_key, is_account};

/// An indicator: any of its alternatives, each all of its conditions, in one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Indicator {
    pub alternatives: Vec<Vec<Cond>>,
    /// Where it was read: `file:line`, or `file` and the STIX id / MISP attribute.
    pub origin: String,
    /// Its name or comment, if the file gives one.
    pub name: Option<String>,
}

impl Indicator {
    fn one(cond: Cond, origin: String, name: Option<String>) -> Indicator {
        Indicator { alternatives: vec![vec![cond]], origin, name }
    }

    /// The indicator in words: `1.2.3.4`, `[dst 1.2.3.4 AND dst port 22]`.
    pub fn text(&self) -> String {
        let alt = |a: &Vec<Cond>| a.iter().map(Cond::value).collect::<Vec<_>>().join(" AND ");
        if self.alternatives.len() == 1 && self.alternatives[0].len() == 1 {
            return alt(&self.alternatives[0]);
        }
        self.alternatives.iter().map(|a| format!("[{}]", alt(a))).collect::<Vec<_>>().join(" OR ")
    }

    /// The kinds of its conditions (`ip`, `ip+port`).
    pub fn kind(&self) -> String {
        let mut kinds: Vec<&str> = self.alternatives.iter().flatten().map(Cond::kind).collect();
        kinds.sort_unstable();
        kinds.dedup();
        kinds.join("+")
    }
}

/// Something in an indicator file that was not read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// `file:line`, or the file and the object.
    pub at: String,
    pub why: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.at, self.why)
    }
}

/// What a file gave.
#[derive(Debug, Default)]
pub struct Parsed {
    pub indicators: Vec<Indicator>,
    pub problems: Vec<Problem>,
}

/// A value whose kind is to be told from its form (plain lists, MISP `text`).
fn guess(value: &str) -> Result<Cond, String> {
    let v = value.trim();
    if let Some(n) = addr_or_net(v) {
        return Ok(Cond::Addr(n, Side::Any));
    }
    if is_access_key(v) {
        return Ok(Cond::AccessKey(v.into()));
    }
    if v.starts_with("arn:") && v.split(':').count() >= 6 {
        return Ok(Cond::Arn(v.into()));
    }
    if is_account(v) {
        return Ok(Cond::Account(v.into()));
    }
    let looks_numeric = v.bytes().all(|b| b.is_ascii_digit() || b == b'.' || b == b'/' || b == b':');
    if looks_numeric {
        return Err(format!("{v:?} is neither an address nor a CIDR"));
    }
    if v.len() > 2 && v.starts_with(|c: char| c.is_ascii_uppercase()) && v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Ok(Cond::EventName(v.into()));
    }
    if v.contains('/') || v.contains(' ') {
        return Ok(Cond::UserAgent(v.into()));
    }
    Err(format!(
        "{v:?} is not an address, CIDR, access key id, ARN, account id, event name or user agent (an agent has a / \
         or a space)"
    ))
}

/// A value of a named type (CSV `type` column, MISP attribute types).
fn typed(kind: &str, value: &str) -> Result<Vec<Cond>, String> {
    let v = value.trim();
    let net = |side: Side| {
        addr_or_net(v).map(|n| vec![Cond::Addr(n, side)]).ok_or_else(|| format!("{v:?} is not an address or a CIDR"))
    };
    let addr_port = |side: Side| -> Result<Vec<Cond>, String> {
        let (a, p) = v.rsplit_once('|').ok_or_else(|| format!("{v:?} is not ADDRESS|PORT"))?;
        let n = addr_or_net(a.trim()).ok_or_else(|| format!("{a:?} is not an address"))?;
        let port: u16 = p.trim().parse().map_err(|_| format!("{p:?} is not a port"))?;
        Ok(vec![Cond::Addr(n, side), Cond::Port(port, side)])
    };
    match kind.trim().to_ascii_lowercase().replace('_', "-").as_str() {
        "ip" | "ipv4" | "ipv6" | "ip-address" | "ipv4-addr" | "ipv6-addr" | "cidr" | "ip-range" | "network" => {
            net(Side::Any)
        }
        "ip-src" | "src-ip" | "source-ip" => net(Side::Source),
        "ip-dst" | "dst-ip" | "destination-ip" => net(Side::Destination),
        "ip-src|port" => addr_port(Side::Source),
        "ip-dst|port" => addr_port(Side::Destination),
        "access-key" | "access-key-id" | "aws-access-key-id" | "key" => {
            if is_access_key(v) {
                Ok(vec![Cond::AccessKey(v.into())])
            } else {
                Err(format!("{v:?} is not an access key id (AKIA... or ASIA..., 20 characters)"))
            }
        }
        "arn" | "aws-arn" => {
            if v.starts_with("arn:") {
                Ok(vec![Cond::Arn(v.into())])
            } else {
                Err(format!("{v:?} is not an ARN"))
            }
        }
        "account" | "account-id" | "aws-account-id" => {
            if is_account(v) {
                Ok(vec![Cond::Account(v.into())])
            } else {
                Err(format!("{v:?} is not a 12-digit account id"))
            }
        }
        "user-agent" | "useragent" | "ua" => {
            if v.is_empty() {
                Err("an empty user agent".into())
            } else {
                Ok(vec![Cond::UserAgent(v.into())])
            }
        }
        "event-name" | "eventname" | "event" | "api" | "api-call" => Ok(vec![Cond::EventName(v.into())]),
        "user" | "user-name" | "username" | "user-id" => Ok(vec![Cond::User(v.into())]),
        "text" | "other" | "comment" => guess(v).map(|c| vec![c]),
        other => Err(format!(
            "type {other:?} is not swept (ip, ip-src, ip-dst, ip-src|port, ip-dst|port, cidr, access_key, arn, \
             account, user_agent, event_name, user)"
        )),
    }
}

/// Read one indicator file, its format told by its content: a JSON bundle or event, a CSV with a
/// header naming a type and a value column, else a plain list.
pub fn read_file(path: &Path) -> Result<Parsed, Problem> {
    let name = path.display().to_string();
    let problem = |why: String| Problem { at: name.clone(), why };
    let bytes = std::fs::read(path).map_err(|e| problem(format!("cannot read: {}", crate::error::one_line(&e))))?;
    let text = String::from_utf8_lossy(&bytes);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value =
            serde_json::from_str(trimmed).map_err(|e| problem(format!("not JSON: {}", crate::error::one_line(&e))))?;
        return json(&name, &value).ok_or_else(|| problem("neither a STIX 2.1 bundle nor MISP events".into()));
    }
    let skipped = text.len() - trimmed.len();
    if let Some(first) = trimmed.lines().next()
        && let Some(parsed) = csv_file(&name, trimmed, first, 1 + text[..skipped].matches('\n').count())
    {
        return Ok(parsed);
    }
    Ok(plain(&name, &text))
}

/// A plain list: one indicator a line; `#` starts a comment (a whole line, or after a space).
pub fn plain(name: &str, text: &str) -> Parsed {
    let mut out = Parsed::default();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{name}:{}", i + 1);
        let (value, comment) = match line.find(" #").or_else(|| line.trim_start().starts_with('#').then_some(0)) {
            Some(0) => continue,
            Some(p) => (&line[..p], Some(line[p + 2..].trim().to_string())),
            None => (line, None),
        };
        let value = value.trim().trim_start_matches('\u{feff}');
        if value.is_empty() {
            continue;
        }
        match guess(value) {
            Ok(c) => out.indicators.push(Indicator::one(c, at, comment.filter(|c| !c.is_empty()))),
            Err(why) => out.problems.push(Problem { at, why }),
        }
    }
    out
}

/// Line numbers of byte offsets met in order.
struct Lines<'a> {
    text: &'a [u8],
    /// Bytes counted so far, and the line they end on.
    at: usize,
    line: usize,
}

impl Lines<'_> {
    /// The line of the first character of a record found at `byte` (line ends before it skipped).
    fn of(&mut self, byte: usize) -> usize {
        let mut start = byte.max(self.at).min(self.text.len());
        while start < self.text.len() && matches!(self.text[start], b'\r' | b'\n') {
            start += 1;
        }
        self.line += self.text[self.at.min(start)..start].iter().filter(|b| **b == b'\n').count();
        self.at = start;
        self.line
    }
}

/// A CSV file with a header naming its type column (`type`, `kind`, `indicator_type`) and value
/// column (`value`, `indicator`); `None` when the first line names no such columns.
/// `first_line` is the line of the file `text` starts at.
fn csv_file(name: &str, text: &str, first: &str, first_line: usize) -> Option<Parsed> {
    let header: Vec<String> = first.split(',').map(|h| h.trim().trim_matches('"').to_ascii_lowercase()).collect();
    let col = |names: &[&str]| header.iter().position(|h| names.contains(&h.as_str()));
    let kind_col = col(&["type", "kind", "indicator_type", "ioc_type"])?;
    let value_col = col(&["value", "indicator", "ioc", "observable"])?;
    let note_col = col(&["comment", "description", "name", "note", "context"]);
    let mut out = Parsed::default();
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
    // Lines are counted here from the record's first byte: the reader's own line number is one
    // short after a CRLF (Windows and Python's csv module write them), whose `\n` it counts as
    // the next record's.
    let mut lines = Lines { text: text.as_bytes(), at: 0, line: first_line };
    for (i, record) in reader.records().enumerate() {
        let line = record.as_ref().ok().and_then(|r| r.position()).map(|p| lines.of(p.byte() as usize));
        let at = format!("{name}:{}", line.unwrap_or(first_line + i + 1));
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                out.problems.push(Problem { at, why: format!("not CSV: {e}") });
                continue;
            }
        };
        let (Some(kind), Some(value)) = (record.get(kind_col), record.get(value_col)) else {
            out.problems.push(Problem { at, why: "a row without a type or a value".into() });
            continue;
        };
        if value.trim().is_empty() {
            continue;
        }
        let note = note_col.and_then(|c| record.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        match typed(kind, value) {
            Ok(conds) => out.indicators.push(Indicator { alternatives: vec![conds], origin: at, name: note }),
            Err(why) => out.problems.push(Problem { at, why }),
        }
    }
    Some(out)
}

/// A STIX 2.1 bundle (or one indicator, or a list of objects), or MISP events (an `Event`, a list
/// of them, or a `response` holding them). `None` when it is neither.
fn json(name: &str, v: &Value) -> Option<Parsed> {
    let mut out = Parsed::default();
    let objects: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        Value::Object(o) if o.get("type").and_then(Value::as_str) == Some("bundle") => {
            o.get("objects").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default()
        }
        Value::Object(o) if o.contains_key("response") => match &o["response"] {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        },
        other => vec![other],
    };
    let mut understood = false;
    for obj in objects {
        if let Some(event) = obj.get("Event") {
            understood = true;
            misp_event(name, event, &mut out);
        } else if obj.get("Attribute").is_some() && obj.get("info").is_some() {
            understood = true;
            misp_event(name, obj, &mut out);
        } else if obj.get("type").and_then(Value::as_str) == Some("indicator") {
            understood = true;
            stix_indicator(name, obj, &mut out);
        } else if obj.get("type").and_then(Value::as_str).is_some() {
            // Other STIX objects (identities, relationships, malware): nothing to sweep.
            understood = true;
        }
    }
    understood.then_some(out)
}

fn misp_event(name: &str, event: &Value, out: &mut Parsed) {
    let info = event.get("info").and_then(Value::as_str).map(str::to_string);
    let mut attributes: Vec<&Value> =
        event.get("Attribute").and_then(Value::as_array).map(|a| a.iter().collect()).unwrap_or_default();
    for object in event.get("Object").and_then(Value::as_array).into_iter().flatten() {
        attributes.extend(object.get("Attribute").and_then(Value::as_array).into_iter().flatten());
    }
    for (i, a) in attributes.into_iter().enumerate() {
        let id = a.get("uuid").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| format!("#{}", i + 1));
        let at = format!("{name}: attribute {id}");
        let (Some(kind), Some(value)) = (a.get("type").and_then(Value::as_str), a.get("value").and_then(Value::as_str))
        else {
            out.problems.push(Problem { at, why: "an attribute without a type or a value".into() });
            continue;
        };
        let comment = a.get("comment").and_then(Value::as_str).filter(|c| !c.is_empty()).map(str::to_string);
        match typed(kind, value) {
            Ok(conds) => {
                out.indicators.push(Indicator { alternatives: vec![conds], origin: at, name: comment.or(info.clone()) })
            }
            Err(why) => out.problems.push(Problem { at, why }),
        }
    }
}

fn stix_indicator(name: &str, obj: &Value, out: &mut Parsed) {
    let id = obj.get("id").and_then(Value::as_str).unwrap_or("an indicator without an id");
    let at = format!("{name}: {id}");
    let pattern_type = obj.get("pattern_type").and_then(Value::as_str).unwrap_or("stix");
    if pattern_type != "stix" {
        out.problems.push(Problem { at, why: format!("pattern_type {pattern_type:?} is not swept (only stix)") });
        return;
    }
    let Some(pattern) = obj.get("pattern").and_then(Value::as_str) else {
        out.problems.push(Problem { at, why: "an indicator without a pattern".into() });
        return;
    };
    let label = obj.get("name").and_then(Value::as_str).map(str::to_string);
    match super::stix::pattern(pattern) {
        Ok(alternatives) => out.indicators.push(Indicator { alternatives, origin: at, name: label }),
        Err(why) => out.problems.push(Problem { at, why }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_are_named_by_their_line_whatever_the_line_ends() {
        let origins = |text: &str, first_line: usize| {
            let first = text.lines().next().unwrap();
            let p = csv_file("f", text, first, first_line).unwrap();
            let mut at: Vec<String> = p.indicators.iter().map(|i| i.origin.clone()).collect();
            at.extend(p.problems.iter().map(|p| format!("!{}", p.at)));
            at
        };
        let unix = "type,value,note\nip,192.0.2.1,\n\nip,192.0.2.2,\"two\nlines\"\nip,192.0.2.3,\nmd5,abc,\n";
        let want = ["f:2", "f:4", "f:6", "!f:7"];
        assert_eq!(origins(unix, 1), want);
        // Windows' and Python's CRLF: the same lines.
        assert_eq!(origins(&unix.replace('\n', "\r\n"), 1), want);
        // A file that began with blank lines, trimmed before it is read.
        assert_eq!(origins(unix, 3), ["f:4", "f:6", "f:8", "!f:9"]);
    }
}
