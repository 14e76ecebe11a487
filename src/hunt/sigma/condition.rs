//! Selections (maps, lists of maps, keyword lists) and the `condition` that joins them: or > and
//! > not > (brackets | `1 of` / `all of` X | a selection).

use super::*;

/// A selection as SQL: a map (every field), a list of maps (any of them), or keywords (any).
pub(super) fn selection(s: &Selection) -> Result<Expr, NotCompiled> {
    let all_of = |fields: &[FieldMatch]| -> Result<Expr, NotCompiled> {
        Ok(Expr::And(fields.iter().map(field_condition).collect::<Result<_, _>>()?))
    };
    Ok(match s {
        Selection::AllOf(fields) => all_of(fields)?,
        Selection::AnyOf(maps) => Expr::Or(maps.iter().map(|m| all_of(m)).collect::<Result<_, _>>()?),
        Selection::Keywords(words) => Expr::Or(words.iter().map(|k| keyword(k)).collect()),
    })
}

/// A keyword: as the specification says, found anywhere in the event's text, case-insensitively,
/// as a part of a value or a whole one, with `*` and `?` as wildcards.
pub(super) fn keyword(k: &str) -> Expr {
    Expr::Like(Box::new(Expr::Field(Field::Column("raw")).lower()), format!("%{}%", like(&k.to_lowercase())))
}

pub(super) fn tokenize(s: &str) -> Vec<String> {
    s.replace('(', " ( ").replace(')', " ) ").split_whitespace().map(str::to_string).collect()
}

/// The condition's grammar: or > and > not > (group | `1 of`/`all of` X | selection).
pub(super) struct Condition<'a> {
    pub(super) tokens: Vec<String>,
    pub(super) at: usize,
    pub(super) selections: &'a [(String, Expr)],
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
    pub(super) fn parse_all(mut self) -> Result<Expr, NotCompiled> {
        let e = self.or()?;
        match self.peek() {
            None => Ok(e),
            Some(t) => Err(not_compiled!("condition: unexpected `{t}`")),
        }
    }
    pub(super) fn or(&mut self) -> Result<Expr, NotCompiled> {
        let mut e = self.and()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.next();
            e = Expr::Or(vec![e, self.and()?]);
        }
        Ok(e)
    }
    pub(super) fn and(&mut self) -> Result<Expr, NotCompiled> {
        let mut e = self.not()?;
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.next();
            e = Expr::And(vec![e, self.not()?]);
        }
        Ok(e)
    }
    pub(super) fn not(&mut self) -> Result<Expr, NotCompiled> {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("not")) {
            self.next();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }
    pub(super) fn atom(&mut self) -> Result<Expr, NotCompiled> {
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
            let chosen: Vec<Expr> = self
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
                .map(|(_, sql)| sql.clone())
                .collect();
            if chosen.is_empty() {
                return Err(not_compiled!("condition: no selection matches `{pattern}`"));
            }
            let any = t == "1" || t.eq_ignore_ascii_case("any");
            return Ok(if any { Expr::Or(chosen) } else { Expr::And(chosen) });
        }
        self.selections
            .iter()
            .find(|(n, _)| *n == t)
            .map(|(_, sql)| sql.clone())
            .ok_or_else(|| not_compiled!("condition: no selection named `{t}`"))
    }
}
