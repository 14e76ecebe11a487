//! Field names and values for SQL: the CloudTrail taxonomy's fields as lake columns or JSON
//! paths (through lists), wildcards as LIKE patterns, and the encodings a value
//! may be searched in (`base64`, `base64offset`, `windash`).

use super::sql::Field;

/// Where the Sigma taxonomy's objects are kept in the lake: the record's JSON columns. A field
/// under none of them (and not one of [`crate::schema::CLOUDTRAIL_FIELD_COLUMNS`]) is read from
/// the whole record.
pub(super) const JSON_COLUMNS: &[(&str, &str)] = &[
    ("requestParameters", "request_parameters"),
    ("responseElements", "response_elements"),
    ("additionalEventData", "additional_event_data"),
    ("resources", "resources"),
];

/// Where a Sigma field of a CloudTrail event is read from.
pub(super) fn field(name: &str) -> Field {
    if let Some((_, col)) = crate::schema::CLOUDTRAIL_FIELD_COLUMNS.iter().find(|(f, _)| *f == name) {
        return Field::Column(col);
    }
    // `userIdentity.userName` is the IAM user's name only (the lake's `user_name` falls back to
    // the role session issuer's): read from the record.
    let parts: Vec<String> = name.split('.').map(str::to_string).collect();
    match JSON_COLUMNS.iter().find(|(root, _)| *root == parts[0]) {
        Some((_, column)) if parts.len() == 1 => Field::Whole(column),
        Some((_, column)) => Field::Json { column, path: parts[1..].to_vec() },
        None => Field::Json { column: "raw", path: parts },
    }
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
    match field(name) {
        Field::Json { column, path } => Some((column, path.join("."))),
        _ => None,
    }
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
