//! Field names and values into SQL: the CloudTrail taxonomy's fields as lake columns or JSON
//! paths (through lists), text literals, wildcards as LIKE patterns, and the encodings a value
//! may be searched in (`base64`, `base64offset`, `windash`).

/// A SQL text literal.
pub(super) fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The SQL for a Sigma field of a CloudTrail event.
pub(super) fn field(name: &str) -> String {
    if let Some((_, col)) = crate::schema::CLOUDTRAIL_FIELD_COLUMNS.iter().find(|(f, _)| *f == name) {
        return (*col).to_string();
    }
    // `userIdentity.userName` is the IAM user's name only (the lake's `user_name` falls back to
    // the role session issuer's): read from the record, through `json_path` below.
    let parts: Vec<&str> = name.split('.').collect();
    let (column, path) = match parts[0] {
        "requestParameters" => ("request_parameters", &parts[1..]),
        "responseElements" => ("response_elements", &parts[1..]),
        "additionalEventData" => ("additional_event_data", &parts[1..]),
        "resources" => ("resources", &parts[1..]),
        _ => ("raw", &parts[..]),
    };
    if path.is_empty() {
        return format!("CAST({column} AS VARCHAR)");
    }
    // Text values as they are; numbers and booleans as their JSON text.
    let keys: Vec<String> = path.iter().map(|p| lit(p)).collect();
    format!("coalesce(json_get_str({column}, {k}), json_as_text({column}, {k}))", k = keys.join(", "))
}

/// A Sigma value with wildcards as a LIKE pattern. As the specification says, a backslash
/// escapes only a wildcard or another backslash; any other backslash is itself (a Windows path's
/// `C:\Windows`), and is a literal backslash in the pattern.
pub(super) fn like(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*') | Some('?') | Some('\\')) => {
                let n = chars.next().unwrap_or('\\');
                if n == '\\' { out.push_str("\\\\") } else { out.push(n) }
            }
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Does a Sigma value hold a wildcard (a `*` or `?` no backslash escapes)?
pub(super) fn has_wildcard(value: &str) -> bool {
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

/// A Sigma value without wildcards as the text it stands for: `\*`, `\?` and `\\` unescaped,
/// any other backslash kept.
pub(super) fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some('*' | '?' | '\\')) => out.push(chars.next().unwrap_or('\\')),
            (c, _) => out.push(c),
        }
    }
    out
}

/// The JSON column and dotted path a Sigma field reads from, when it is not one of the lake's
/// own columns (nor a whole JSON column): matched by `sigma_match`, which follows lists.
pub(super) fn json_path(name: &str) -> Option<(&'static str, String)> {
    if !field(name).contains('(') {
        return None;
    }
    let (first, rest) = name.split_once('.').unwrap_or((name, ""));
    let column = match first {
        "requestParameters" => "request_parameters",
        "responseElements" => "response_elements",
        "additionalEventData" => "additional_event_data",
        "resources" => "resources",
        _ => return Some(("raw", name.to_string())),
    };
    (!rest.is_empty()).then(|| (column, rest.to_string()))
}

/// The three ways a value appears in base64 depending on where it starts in the encoded text,
/// each cut to the characters that depend only on the value (`base64offset`).
pub(super) fn base64_offsets(value: &str) -> Vec<String> {
    use base64::Engine as _;
    let v = value.as_bytes();
    (0..3usize)
        .map(|shift| {
            let mut padded = vec![b' '; shift];
            padded.extend_from_slice(v);
            let encoded = base64::engine::general_purpose::STANDARD.encode(&padded);
            // The leading characters carry the filler's bits; the trailing ones the next bytes'.
            let start = [0, 2, 3][shift];
            let end = encoded.len() - [0, 3, 2][(v.len() + shift) % 3];
            encoded.get(start..end.max(start)).unwrap_or_default().to_string()
        })
        .collect()
}

/// The ways a command-line flag may be written on Windows (`windash`): `-`, `/` and the dashes.
pub(super) fn windash(value: &str) -> Vec<String> {
    let mut out: Vec<String> =
        ["-", "/", "\u{2013}", "\u{2014}", "\u{2015}"].iter().map(|d| value.replace('-', d)).collect();
    out.dedup();
    out
}
