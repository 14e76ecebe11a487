//! How CloudTrail text is cut into searchable tokens, and how a query is cut the same way.
//!
//! A responder types needles as they are: `45.137.21.9`, `AKIAIOSFODNN7EXAMPLE`,
//! `arn:aws:iam::123456789012:user/alice`, `aws-cli/2.15.0`, `0.0.0.0/0`. Each must find exactly the
//! events that contain it, so the text is cut into *runs*: the longest stretches of letters, digits
//! and the punctuation that lives inside identifiers (`. - _ : / @ = + % ~ $ # *`). Whitespace,
//! quotes, brackets, commas and the like end a run. Every run is indexed whole, and also as its
//! *parts* (split at `: / @ = + % ~ $ # *`, so `45.137.21.9/32` gives `45.137.21.9` and `32`) and
//! as its *words* (letters and digits only, so `aws-cli` gives `aws` and `cli`), all at the run's
//! position (a UUID or a time to the second only whole: their pieces are not words anyone searches
//! for). A query term
//! is one run, whole: `45.137.21.9` matches the run or part
//! `45.137.21.9` and never `45.137.21.90`; `cli` matches the word. Everything is lowercased, so
//! searches ignore case. Phrases work run by run (`"not authorized to perform"`).
//!
//! The index side of the JSON record (`raw`) reads the JSON itself: it indexes string values and
//! numbers, not the keys (those are searched by path through the JSON fields), and undoes escapes.

/// Runs longer than this are not indexed whole (their parts and words still are).
const MAX_RUN: usize = 255;

/// Characters that stay inside a run.
fn is_inner(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | ':' | '/' | '@' | '=' | '+' | '%' | '~' | '$' | '#' | '*')
}

/// Characters at which a run splits into parts.
fn is_strong(c: char) -> bool {
    matches!(c, ':' | '/' | '@' | '=' | '+' | '%' | '~' | '$' | '#' | '*')
}

/// Trailing sentence punctuation (`alice.` at the end of a message) is not part of the run.
fn trim(s: &str) -> &str {
    s.trim_end_matches(['.', ':']).trim_start_matches('.')
}

/// Call `f` with the runs of a text, trimmed and lowercased, in order (`lc` is scratch space).
/// The index, the query and the exact check of a hit all cut text here.
fn each_run(text: &str, lc: &mut String, f: &mut impl FnMut(&str)) {
    for run in text.split(|c: char| !is_inner(c)) {
        let run = trim(run);
        if run.is_empty() {
            continue;
        }
        lc.clear();
        if run.is_ascii() {
            lc.extend(run.chars().map(|c| c.to_ascii_lowercase()));
        } else {
            lc.push_str(&run.to_lowercase());
        }
        f(lc);
    }
}

/// The runs of a query term, as the index knows them (runs too long to be indexed are left out).
pub fn query_runs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    each_run(text, &mut String::new(), &mut |r| {
        if r.len() <= MAX_RUN {
            out.push(r.to_string());
        }
    });
    out
}

/// Every token of one run: the run, its parts and its words, each once.
fn run_tokens(run: &str, out: &mut Vec<String>) {
    let start = out.len();
    each_run_token(run, &mut |t| {
        if !out[start..].iter().any(|x| x == t) {
            out.push(t.to_string());
        }
    });
}

/// Call `f` with every token of one (lowercased) run: the run, its parts and its words (a token
/// may come more than once). The index and the exact check of a hit both read tokens from here.
fn each_run_token(run: &str, f: &mut impl FnMut(&str)) {
    let mut push = |t: &str| {
        let t = trim(t);
        if !t.is_empty() && t.len() <= MAX_RUN {
            f(t);
        }
    };
    push(run);
    // A UUID (event, request and session ids) and a time to the second are one of a kind: they are
    // searched whole (a time also by range), and their pieces (hex groups, `06z`) would add terms
    // nobody types, in every event.
    if is_uuid(run) || is_second(run) {
        return;
    }
    if run.contains(is_strong) {
        for part in run.split(is_strong) {
            push(part);
        }
    }
    if run.contains(|c: char| !c.is_alphanumeric()) {
        for word in run.split(|c: char| !c.is_alphanumeric()) {
            push(word);
        }
    }
}

/// Call `f` with every index token of a plain text (`lc` is scratch space).
pub fn each_text_token(text: &str, lc: &mut String, f: &mut impl FnMut(&str)) {
    each_run(text, lc, &mut |run| each_run_token(run, f));
}

/// The index term of a token: a 64-bit hash, or, for a token that is very likely found in one event
/// only (a UUID, a time to the second, a long random string), one of 2^18 shared buckets. Bucket
/// terms keep the index small (such tokens are most of a record's distinct terms); a hit through a
/// bucket is checked against the record before it is returned. The second value says whether the
/// term is exact.
pub fn term_of(token: &str) -> (u64, bool) {
    let h = xxhash_rust::xxh3::xxh3_64(token.as_bytes());
    if looks_unique(token) { (BUCKET_FLAG | (h >> (64 - BUCKET_BITS)), false) } else { (h & !BUCKET_FLAG, true) }
}

const BUCKET_FLAG: u64 = 1 << 63;
const BUCKET_BITS: u32 = 18;

/// UUIDs, times to the second (`2026-03-10t15:33:06z`), and long strings of letters and digits with
/// several digits among them (hex ids, base64 pieces of session tokens and signatures).
fn looks_unique(t: &str) -> bool {
    if is_uuid(t) {
        return true;
    }
    if is_second(t) {
        return true;
    }
    let b = t.as_bytes();
    b.len() >= 24
        && b.iter().all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'=' | b'_' | b'-'))
        && b.iter().filter(|c| c.is_ascii_digit()).count() >= 3
}

/// A time to the second, as CloudTrail writes it (`2026-03-10t15:33:06z`, lowercased; also with a
/// fraction or an offset).
fn is_second(t: &str) -> bool {
    let b = t.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    b.len() >= 19
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
}

/// `8-4-4-4-12` hex digits.
fn is_uuid(run: &str) -> bool {
    let b = run.as_bytes();
    b.len() == 36
        && b.iter()
            .enumerate()
            .all(|(i, c)| if matches!(i, 8 | 13 | 18 | 23) { *c == b'-' } else { c.is_ascii_hexdigit() })
}

/// Index tokens of plain text: `(position, token)`, positions counting runs from `first`.
pub fn text_tokens(text: &str, first: usize, out: &mut Vec<(usize, String)>) -> usize {
    let mut pos = first;
    let mut buf = Vec::new();
    each_run(text, &mut String::new(), &mut |run| {
        buf.clear();
        run_tokens(run, &mut buf);
        out.extend(buf.drain(..).map(|t| (pos, t)));
        pos += 1;
    });
    pos
}

/// Index tokens of a JSON document: the values' text, not the keys, each value's runs at their
/// own positions with a gap between values (a phrase does not run from one value into the next).
pub fn json_tokens(json: &str, out: &mut Vec<(usize, String)>) {
    let mut pos = 0;
    let mut value = String::new();
    json_values(json, &mut value, &mut |v| pos = text_tokens(v, pos, out) + 1);
}

/// Call `f` with the text of every string and number value of a JSON document (escapes undone),
/// not its keys. Text that is not JSON is read as plain text from where the JSON stops making sense.
pub fn json_values(json: &str, value: &mut String, f: &mut impl FnMut(&str)) {
    let b = json.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                // Most strings hold no escape: they are passed as they stand, without a copy.
                if let Some(k) = memchr::memchr2(b'"', b'\\', &b[i + 1..])
                    && b[i + 1 + k] == b'"'
                {
                    let (start, end) = (i + 1, i + 1 + k);
                    i = end + 1;
                    let mut j = i;
                    while j < b.len() && b[j].is_ascii_whitespace() {
                        j += 1;
                    }
                    if !(j < b.len() && b[j] == b':') {
                        f(&json[start..end]);
                    }
                    continue;
                }
                value.clear();
                i += 1;
                let mut ok = false;
                while i < b.len() {
                    match b[i] {
                        b'"' => {
                            ok = true;
                            i += 1;
                            break;
                        }
                        b'\\' if i + 1 < b.len() => {
                            i += 1;
                            match b[i] {
                                b'n' | b'r' | b't' | b'b' | b'f' => value.push(' '),
                                b'u' if i + 4 < b.len() => {
                                    let hex = std::str::from_utf8(&b[i + 1..i + 5]).ok();
                                    let c = hex.and_then(|h| u32::from_str_radix(h, 16).ok()).and_then(char::from_u32);
                                    value.push(c.unwrap_or(' '));
                                    i += 4;
                                }
                                other => value.push(other as char),
                            }
                            i += 1;
                        }
                        _ => {
                            // Copy a whole UTF-8 sequence up to the next quote or backslash.
                            let start = i;
                            while i < b.len() && b[i] != b'"' && b[i] != b'\\' {
                                i += 1;
                            }
                            value.push_str(&json[start..i]);
                        }
                    }
                }
                // A string followed by `:` is a key.
                let mut j = i;
                while j < b.len() && b[j].is_ascii_whitespace() {
                    j += 1;
                }
                let is_key = ok && j < b.len() && b[j] == b':';
                if !is_key {
                    f(value);
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                f(&json[start..i]);
            }
            _ => i += 1,
        }
    }
}

/// Make a query typed by a responder safe for the query grammar: a needle that holds `:` or `/`
/// (an ARN, an IPv6 address, a CIDR, a user agent) is quoted unless the part before its first `:`
/// names a field, and then only the value is quoted. Quoted text, ranges and operators stay.
///
/// `a AND NOT b` becomes `a -b`: the grammar reads `AND NOT b` as a required clause that is purely
/// negative, which matches nothing.
pub fn prepare_query(query: &str, is_field: impl Fn(&str) -> bool) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut negate = false;
    for chunk in chunks(query) {
        if chunk == "NOT" && !negate && out.last().is_none_or(|l| l == "AND") {
            if out.last().is_some_and(|l| l == "AND") {
                out.pop();
            }
            negate = true;
            continue;
        }
        let prepared = prepare_chunk(&chunk, &is_field);
        out.push(if std::mem::take(&mut negate) { format!("-{prepared}") } else { prepared });
    }
    if negate {
        out.push("NOT".into());
    }
    out.join(" ")
}

/// Split at whitespace outside quotes and brackets.
fn chunks(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut depth) = (false, 0i32);
    for c in query.chars() {
        match c {
            '"' => quoted = !quoted,
            '[' | '{' if !quoted => depth += 1,
            ']' | '}' if !quoted => depth -= 1,
            _ => {}
        }
        if c.is_whitespace() && !quoted && depth <= 0 {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn needs_quotes(v: &str) -> bool {
    !v.starts_with('"')
        && !v.starts_with('[')
        && !v.starts_with('{')
        && v.chars().any(|c| !(c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '*')))
}

fn quote(v: &str) -> String {
    format!("\"{}\"", v.replace('"', " "))
}

fn prepare_chunk(chunk: &str, is_field: &impl Fn(&str) -> bool) -> String {
    // Keep operators and grouping outside: `-`, `+`, `(` before and `)` after.
    let lead = chunk.len() - chunk.trim_start_matches(['+', '-', '(']).len();
    let (head, rest) = chunk.split_at(lead);
    let core = rest.trim_end_matches(')');
    let tail = &rest[core.len()..];
    if core.is_empty() || matches!(core, "AND" | "OR" | "NOT") || core.starts_with('"') {
        return chunk.to_string();
    }
    let core = match core.split_once(':') {
        Some((field, value)) => {
            let named = field_alias(field);
            let field = named.as_deref().unwrap_or(field);
            if is_field(field) || looks_like_field(field) {
                // A field the lake knows, or one it does not (left for the compiler to name).
                format!("{field}:{}", value_of(value))
            } else if needs_quotes(core) {
                quote(core)
            } else {
                core.to_string()
            }
        }
        None => value_of(core),
    };
    format!("{head}{core}{tail}")
}

/// A needle as the grammar should read it: a wildcard pattern (`AKIA*`, `*example*`) as a marked
/// regular-expression leaf the compiler reads as a pattern ([`GLOB_MARK`]), text with other
/// characters quoted.
fn value_of(v: &str) -> String {
    let bracketed = v.starts_with('"') || v.starts_with('[') || v.starts_with('{');
    if !bracketed && v != "*" && v.contains(['*', '?']) {
        return format!("/{GLOB_MARK}{}/", v.replace('/', "\\/"));
    }
    if needs_quotes(v) { quote(v) } else { v.to_string() }
}

/// Marks a regular-expression leaf of the grammar as a wildcard pattern written by
/// [`prepare_query`] (a user's own `/.../` is refused).
pub const GLOB_MARK: char = '\u{1}';

/// CloudTrail's own field names, as analysts type them from the console, Athena or Splunk, for
/// the lake's columns: `eventName` is `event_name`, `userIdentity.arn` is `user_arn`,
/// `requestParameters.x` is `request_parameters.x`; any other path of the record (such as
/// `userIdentity.userName`, the IAM user's own name) is read from the record itself (`raw.`).
pub fn field_alias(name: &str) -> Option<String> {
    // A column the search knows; a field whose column it does not search is read from the record.
    if let Some((_, col)) = crate::schema::CLOUDTRAIL_FIELD_COLUMNS
        .iter()
        .find(|(n, col)| n.eq_ignore_ascii_case(name) && super::KEYWORDS.contains(col))
    {
        return Some((*col).to_string());
    }
    let (first, rest) = name.split_once('.')?;
    let column = match first {
        "requestParameters" => "request_parameters",
        "responseElements" => "response_elements",
        "userIdentity"
        | "additionalEventData"
        | "tlsDetails"
        | "serviceEventDetails"
        | "resources"
        | "eventCategory" => {
            return Some(format!("raw.{name}"));
        }
        _ => return None,
    };
    Some(format!("{column}.{rest}"))
}

/// Does `name` look like a field someone meant to name (camelCase, snake_case or a dotted path),
/// rather than the start of a value with a colon (`arn:aws:...`, `https://...`, `10:00`)?
fn looks_like_field(name: &str) -> bool {
    !name.is_empty()
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        && name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().any(|c| c.is_ascii_uppercase() || c == '_' || c == '.')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(text: &str) -> Vec<String> {
        let mut out = Vec::new();
        text_tokens(text, 0, &mut out);
        out.into_iter().map(|(_, t)| t).collect()
    }

    #[test]
    fn a_uuid_is_one_token() {
        assert_eq!(index("1b08167d-d835-4378-02c2-2c9403f4e686"), vec!["1b08167d-d835-4378-02c2-2c9403f4e686"]);
        assert_eq!(index("2026-03-10T15:33:06Z"), vec!["2026-03-10t15:33:06z"]);
        // Bucketed: UUIDs, times, long random strings; not words, addresses or ARNs.
        assert!(!term_of("1b08167d-d835-4378-02c2-2c9403f4e686").1);
        assert!(!term_of("2026-03-10t15:33:06z").1);
        assert!(!term_of("iqojb3jpz2lux2vjekgaaaaaaaaaaaaaaaaaaaaaaaaaaaa1234").1);
        for exact in [
            "45.137.21.9",
            "akiaexample000000001",
            "arn:aws:iam::111111111111:user/alice",
            "cli",
            "i-0123456789abcdef0",
        ] {
            assert!(term_of(exact).1, "{exact}");
        }
        // Not a UUID: the words are indexed as usual.
        assert_eq!(index("aws-cli/2.15.0"), vec!["aws-cli/2.15.0", "aws-cli", "2.15.0", "aws", "cli", "2", "15", "0"]);
    }

    #[test]
    fn query_and_index_lowercase_alike() {
        for needle in ["ΟΔΟΣ", "Straße", "ÉTÉ-2024", "AKIAEXAMPLE"] {
            let q = query_runs(needle);
            assert_eq!(q.len(), 1, "{needle}");
            assert!(index(&format!("x {needle} y")).contains(&q[0]), "{needle}: {q:?}");
        }
    }

    #[test]
    fn needles_are_whole_and_exact() {
        let t = index("45.137.21.90 45.137.21.9/32 arn:aws:iam::123456789012:user/Alice aws-cli/2.15.0");
        assert!(t.contains(&"45.137.21.9".to_string()));
        assert!(t.contains(&"45.137.21.90".to_string()));
        assert!(t.contains(&"45.137.21.9/32".to_string()));
        assert!(t.contains(&"arn:aws:iam::123456789012:user/alice".to_string()));
        assert!(t.contains(&"alice".to_string()));
        assert!(t.contains(&"aws-cli".to_string()));
        assert!(t.contains(&"cli".to_string()));
        // `45.137.21.9` appears only from the run that holds it.
        let only = index("45.137.21.90");
        assert!(!only.contains(&"45.137.21.9".to_string()));
    }

    #[test]
    fn json_values_not_keys_and_escapes() {
        let mut out = Vec::new();
        json_tokens(r#"{"sourceIPAddress":"10.0.0.1","n":100,"msg":"a \"quoted\" \/path","ok":true}"#, &mut out);
        let t: Vec<_> = out.into_iter().map(|(_, t)| t).collect();
        assert!(t.contains(&"10.0.0.1".to_string()));
        assert!(t.contains(&"100".to_string()));
        assert!(t.contains(&"quoted".to_string()));
        assert!(t.contains(&"/path".to_string()) || t.contains(&"path".to_string()));
        assert!(!t.contains(&"sourceipaddress".to_string()));
        assert!(!t.contains(&"true".to_string()));
    }

    #[test]
    fn queries_are_quoted_where_the_grammar_needs_it() {
        let f = |s: &str| matches!(s, "user_arn" | "event_name" | "event_time" | "request_parameters.cidrBlock");
        assert_eq!(prepare_query("arn:aws:iam::1:user/a", f), "\"arn:aws:iam::1:user/a\"");
        assert_eq!(prepare_query("user_arn:arn:aws:iam::1:user/a", f), "user_arn:\"arn:aws:iam::1:user/a\"");
        assert_eq!(
            prepare_query("event_name:CreateNetworkAclEntry AND 45.137.21.9", f),
            "event_name:CreateNetworkAclEntry AND 45.137.21.9"
        );
        assert_eq!(
            prepare_query("request_parameters.cidrBlock:0.0.0.0/0", f),
            "request_parameters.cidrBlock:\"0.0.0.0/0\""
        );
        assert_eq!(prepare_query("-(aws-cli/2.0)", f), "-(\"aws-cli/2.0\")");
        assert_eq!(prepare_query("\"not authorized\" x", f), "\"not authorized\" x");
        assert_eq!(prepare_query("a AND NOT b", f), "a -b");
        assert_eq!(prepare_query("NOT b", f), "-b");
        assert_eq!(prepare_query("a OR NOT b", f), "a OR NOT b");
        assert_eq!(
            prepare_query("event_time:[2026-03-10T00:00:00Z TO 2026-03-11T00:00:00Z]", f),
            "event_time:[2026-03-10T00:00:00Z TO 2026-03-11T00:00:00Z]"
        );
    }
}
