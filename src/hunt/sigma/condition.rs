//! Selections (maps, lists of maps, keyword lists) and the `condition` that joins them: or > and
//! > not > (brackets | `1 of` / `all of` X | a selection).

use super::*;

/// A selection: a map (every field), a list of maps (any of them), or a list of keywords.
pub(super) fn selection(v: &Yaml) -> Result<String, NotCompiled> {
    match v {
        Yaml::Hash(map) => {
            let parts: Vec<String> = map
                .iter()
                .map(|(k, v)| field_condition(&text(k).ok_or("a field name that is not text")?, v))
                .collect::<Result<_, _>>()?;
            if parts.is_empty() {
                return Err("an empty selection".into());
            }
            Ok(format!("({})", parts.join(" AND ")))
        }
        Yaml::Array(items) if items.iter().all(|i| matches!(i, Yaml::Hash(_))) => {
            let parts: Vec<String> = items.iter().map(selection).collect::<Result<_, _>>()?;
            Ok(format!("({})", parts.join(" OR ")))
        }
        Yaml::Array(items) => {
            // Keywords: any of them anywhere in the event.
            let parts: Vec<String> = items
                .iter()
                .map(|i| text(i).map(|k| keyword(&k)))
                .collect::<Option<_>>()
                .ok_or("a keyword that is not text")?;
            Ok(format!("({})", parts.join(" OR ")))
        }
        Yaml::String(k) => Ok(format!("({})", keyword(k))),
        _ => Err("a selection that is neither a map nor a list".into()),
    }
}

/// A keyword: as the specification says, found anywhere in the event's text, case-insensitively,
/// as a part of a value or a whole one, with `*` and `?` as wildcards.
pub(super) fn keyword(k: &str) -> String {
    format!("lower(raw) LIKE {}", lit(&format!("%{}%", like(&k.to_lowercase()))))
}

pub(super) fn tokenize(s: &str) -> Vec<String> {
    s.replace('(', " ( ").replace(')', " ) ").split_whitespace().map(str::to_string).collect()
}

/// The condition's grammar: or > and > not > (group | `1 of`/`all of` X | selection).
pub(super) struct Condition<'a> {
    pub(super) tokens: Vec<String>,
    pub(super) at: usize,
    pub(super) selections: &'a [(String, String)],
}

impl Condition<'_> {
    pub(super) fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }
    pub(super) fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    pub(super) fn parse_all(mut self) -> Result<String, NotCompiled> {
        let e = self.or()?;
        match self.peek() {
            None => Ok(e),
            Some(t) => Err(not_compiled!("condition: unexpected `{t}`")),
        }
    }
    pub(super) fn or(&mut self) -> Result<String, NotCompiled> {
        let mut e = self.and()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.next();
            e = format!("({e} OR {})", self.and()?);
        }
        Ok(e)
    }
    pub(super) fn and(&mut self) -> Result<String, NotCompiled> {
        let mut e = self.not()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.next();
            e = format!("({e} AND {})", self.not()?);
        }
        Ok(e)
    }
    pub(super) fn not(&mut self) -> Result<String, NotCompiled> {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("not")) {
            self.next();
            return Ok(format!("(NOT coalesce({}, false))", self.not()?));
        }
        self.atom()
    }
    pub(super) fn atom(&mut self) -> Result<String, NotCompiled> {
        let t = self.next().ok_or("condition: ends too early")?;
        if t == "(" {
            let e = self.or()?;
            return match self.next().as_deref() {
                Some(")") => Ok(e),
                _ => Err("condition: a bracket is not closed".into()),
            };
        }
        if t == "1" || t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("any") {
            if !self.next().is_some_and(|o| o.eq_ignore_ascii_case("of")) {
                return Err(not_compiled!("condition: `{t}` without `of`"));
            }
            let pattern = self.next().ok_or("condition: `of` what?")?;
            let chosen: Vec<&String> = self
                .selections
                .iter()
                .filter(|(n, _)| {
                    if pattern == "them" {
                        true
                    } else if let Some(p) = pattern.strip_suffix('*') {
                        n.starts_with(p)
                    } else {
                        *n == pattern
                    }
                })
                .map(|(_, sql)| sql)
                .collect();
            if chosen.is_empty() {
                return Err(not_compiled!("condition: no selection matches `{pattern}`"));
            }
            let join = if t == "1" || t.eq_ignore_ascii_case("any") { " OR " } else { " AND " };
            return Ok(format!("({})", chosen.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(join)));
        }
        self.selections
            .iter()
            .find(|(n, _)| *n == t)
            .map(|(_, sql)| sql.clone())
            .ok_or_else(|| not_compiled!("condition: no selection named `{t}`"))
    }
}
