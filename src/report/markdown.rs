//! Markdown for `summary.md` (rendered from `templates/summary.md`): the escaping every value gets.

/// Text made inert in Markdown: every character with a meaning there (emphasis, links, HTML,
/// code, tables, math) is escaped with a backslash, and line breaks become spaces, so nothing
/// from the evidence renders as markup.
pub fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '(' | ')' | '#' | '+' | '!' | '|' | '~'
            | '&' | '$' | '"' | '\'' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out
}
