//! A search query, read with tantivy's query grammar and answered in two steps: the index gives
//! the candidate events (every event that can match, found by its tokens), and each candidate the
//! index cannot vouch for is checked against its record in Parquet.
//!
//! The index knows which tokens an event holds, not where. So a needle on its own, or needles
//! combined with `AND`, `OR` and `NOT`, and time ranges, are answered by the index alone; a phrase,
//! a field-scoped term (`event_name:...`), a JSON path (`request_parameters.cidrBlock:...`) and a
//! needle whose term is a shared bucket (see [`tokenize::term_of`]) are answered by the index
//! narrowing the events down and the record deciding.

use std::collections::HashMap;
use std::ops::Bound;

use tantivy::query::{AllQuery, BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::query_grammar::{Delimiter, UserInputAst, UserInputBound, UserInputLeaf, UserInputLiteral};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DateTime, Term};

use super::tokenize;
use crate::error::{Error, Result};

/// Where a term is looked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// Anywhere in the record (its values, not its keys).
    Record,
    /// One column of `cloudtrail` (`event_name`, `user_arn`, ...; the JSON columns as a whole).
    Column(&'static str),
    /// A path inside a JSON column (`request_parameters` `cidrBlock`).
    Json(&'static str, Vec<String>),
}

impl Target {
    /// The `cloudtrail` column the check of this target reads.
    pub fn column(&self) -> &'static str {
        match self {
            Target::Record => "raw",
            Target::Column(c) | Target::Json(c, _) => c,
        }
    }
}

/// A query, compiled.
#[derive(Debug, Clone)]
pub enum Q {
    All,
    /// Runs in a row (one run: a single needle).
    Terms(Target, Vec<String>),
    /// `[from, to)` in microseconds.
    Time(Option<i64>, Option<i64>),
    Exists(Target),
    /// A token of the target matches a wildcard pattern (`*` any run, `?` one character),
    /// lowercased: `AKIA*`, `*example*`.
    Glob(Target, String),
    /// Every `must`, no `not`, and one of `should` when there is no `must`. Without `must` and
    /// `should`, every event but the `not` ones.
    Bool {
        must: Vec<Q>,
        should: Vec<Q>,
        not: Vec<Q>,
    },
}

/// The fields of the index a query reads, and how to find the values that hold a term.
pub struct IndexFields<'a> {
    pub tok: Field,
    pub time: Field,
    pub vid: Field,
    /// The ids of the values (indexed once, referred to by events through `vid`) that hold a term.
    pub values_with: &'a dyn Fn(u64) -> Vec<u64>,
}

/// The events that hold a term: directly, or through a value that holds it.
fn term_query(f: &IndexFields<'_>, term: u64) -> Box<dyn Query> {
    let direct: Box<dyn Query> = Box::new(TermQuery::new(Term::from_field_u64(f.tok, term), IndexRecordOption::Basic));
    let values = (f.values_with)(term);
    if values.is_empty() {
        return direct;
    }
    let mut any = vec![(Occur::Should, direct)];
    for v in values {
        let q: Box<dyn Query> = Box::new(TermQuery::new(Term::from_field_u64(f.vid, v), IndexRecordOption::Basic));
        any.push((Occur::Should, q));
    }
    Box::new(BooleanQuery::new(any))
}

fn bad(query: &str, why: impl std::fmt::Display) -> Error {
    Error::BadQuery(format!("bad search query {query:?}: {why}"))
}

/// Read a query (already prepared by [`tokenize::prepare_query`]); `original` is what the user
/// typed, for messages.
pub fn compile(prepared: &str, original: &str, columns: &[&'static str], json: &[&'static str]) -> Result<Q> {
    let ast = tantivy::query_grammar::parse_query(prepared).map_err(|_| {
        let (_, errors) = tantivy::query_grammar::parse_query_lenient(prepared);
        match errors.first() {
            Some(e) => bad(original, format!("{} at character {}", e.message, e.pos + 1)),
            None => bad(original, "the grammar cannot read it (check quotes, parentheses and brackets)"),
        }
    })?;
    let c = Compiler { original, columns, json };
    c.ast(ast)
}

struct Compiler<'a> {
    original: &'a str,
    columns: &'a [&'static str],
    json: &'a [&'static str],
}

impl Compiler<'_> {
    fn ast(&self, ast: UserInputAst) -> Result<Q> {
        match ast {
            UserInputAst::Boost(inner, _) => self.ast(*inner),
            UserInputAst::Leaf(leaf) => self.leaf(*leaf),
            UserInputAst::Clause(items) => {
                let (mut must, mut should, mut not) = (Vec::new(), Vec::new(), Vec::new());
                for (occur, item) in items {
                    let q = self.ast(item)?;
                    match occur {
                        None | Some(Occur::Must) => must.push(q),
                        Some(Occur::Should) => should.push(q),
                        Some(Occur::MustNot) => not.push(q),
                    }
                }
                if must.len() == 1 && should.is_empty() && not.is_empty() {
                    return Ok(must.pop().expect("one"));
                }
                Ok(Q::Bool { must, should, not })
            }
        }
    }

    fn target(&self, field: Option<&str>) -> Result<Target> {
        let Some(f) = field else { return Ok(Target::Record) };
        if let Some(c) = self.columns.iter().find(|c| **c == f) {
            return Ok(Target::Column(c));
        }
        // Any path of the record itself (`userIdentity.userName`, through `tokenize::field_alias`).
        if let Some(path) = f.strip_prefix("raw.") {
            return Ok(Target::Json("raw", path.split('.').map(str::to_string).collect()));
        }
        for j in self.json {
            if f == *j {
                return Ok(Target::Column(j));
            }
            if let Some(path) = f.strip_prefix(j).and_then(|r| r.strip_prefix('.')) {
                return Ok(Target::Json(j, path.split('.').map(str::to_string).collect()));
            }
        }
        Err(bad(
            self.original,
            format!(
                "no field {f:?}; fields are {}, event_time (ranges), request_parameters./response_elements. paths, \
                    and CloudTrail's own names (eventName, userIdentity.arn, requestParameters.x, ...)",
                self.columns.join(" ")
            ),
        ))
    }

    fn literal(&self, lit: UserInputLiteral) -> Result<Q> {
        if lit.field_name.as_deref() == Some("event_time") {
            return Err(bad(
                self.original,
                "give event_time a range, e.g. event_time:[2026-03-10T00:00:00Z TO 2026-03-11T00:00:00Z}",
            ));
        }
        if lit.prefix {
            return Err(bad(
                self.original,
                format!("{:?}*: prefix searches are not supported; search whole needles", lit.phrase),
            ));
        }
        if lit.slop > 0 {
            return Err(bad(self.original, "phrase slop (~N) is not supported"));
        }
        let target = self.target(lit.field_name.as_deref())?;
        let runs = tokenize::query_runs(&lit.phrase);
        if runs.is_empty() {
            return Err(bad(self.original, format!("{:?} holds nothing to search for", lit.phrase)));
        }
        Ok(Q::Terms(target, runs))
    }

    fn time(&self, b: &UserInputBound) -> Result<Option<(i64, bool)>> {
        let parse = |s: &str| -> Result<i64> {
            crate::time::parse_time(s)
                .or_else(|| {
                    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .ok()
                        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp_micros())
                })
                .ok_or_else(|| {
                    bad(self.original, format!("cannot read {s:?} as a time: use e.g. 2026-03-10T00:00:00Z"))
                })
        };
        Ok(match b {
            UserInputBound::Inclusive(s) if s != "*" => Some((parse(s)?, true)),
            UserInputBound::Exclusive(s) if s != "*" => Some((parse(s)?, false)),
            _ => None,
        })
    }

    fn leaf(&self, leaf: UserInputLeaf) -> Result<Q> {
        match leaf {
            UserInputLeaf::Literal(lit) => self.literal(lit),
            UserInputLeaf::All => Ok(Q::All),
            UserInputLeaf::Range { field, lower, upper } => {
                if field.as_deref() != Some("event_time") {
                    return Err(bad(
                        self.original,
                        "ranges are for event_time only, e.g. event_time:[2026-03-10 TO 2026-03-11}",
                    ));
                }
                // The lake holds times from 1970 to 2200 only: a bound beyond them selects the same
                // events (and the index's own time type cannot hold years far past them).
                let from = self
                    .time(&lower)?
                    .map(|(t, incl)| crate::time::clamp_time(if incl { t } else { t.saturating_add(1) }));
                let to = self
                    .time(&upper)?
                    .map(|(t, incl)| crate::time::clamp_time(if incl { t.saturating_add(1) } else { t }));
                Ok(Q::Time(from, to))
            }
            UserInputLeaf::Set { field, elements } => {
                let should = elements
                    .into_iter()
                    .map(|e| {
                        self.literal(UserInputLiteral {
                            field_name: field.clone(),
                            phrase: e,
                            delimiter: Delimiter::None,
                            slop: 0,
                            prefix: false,
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Q::Bool { must: Vec::new(), should, not: Vec::new() })
            }
            UserInputLeaf::Exists { field } => Ok(Q::Exists(self.target(Some(&field))?)),
            UserInputLeaf::Regex { field, pattern } => match pattern.strip_prefix(tokenize::GLOB_MARK) {
                Some(glob) => Ok(Q::Glob(self.target(field.as_deref())?, glob.to_lowercase())),
                None => Err(bad(self.original, "regular expressions are not supported; use * and ? wildcards")),
            },
        }
    }
}

impl Q {
    /// The candidates: a tantivy query over the index that every matching event matches, and
    /// whether it matches nothing else (then no event needs checking).
    pub fn candidates(&self, f: &IndexFields<'_>) -> (Box<dyn Query>, bool) {
        match self {
            Q::All => (Box::new(AllQuery), true),
            Q::Terms(target, runs) => {
                // Literal values of JSON (`true`, `false`, `null`) are not tokens of the record.
                if *target != Target::Record && runs.iter().any(|r| matches!(r.as_str(), "true" | "false" | "null")) {
                    return (Box::new(AllQuery), false);
                }
                let terms: Vec<(u64, bool)> = runs.iter().map(|r| tokenize::term_of(r)).collect();
                let exact = *target == Target::Record && runs.len() == 1 && terms[0].1;
                let mut ids: Vec<u64> = terms.iter().map(|t| t.0).collect();
                ids.sort_unstable();
                ids.dedup();
                let mut clauses: Vec<(Occur, Box<dyn Query>)> =
                    ids.into_iter().map(|t| (Occur::Must, term_query(f, t))).collect();
                if clauses.len() == 1 {
                    (clauses.pop().expect("one").1, exact)
                } else {
                    (Box::new(BooleanQuery::new(clauses)), exact)
                }
            }
            Q::Time(from, to) => {
                let bound = |t: &Option<i64>, incl: bool| match t {
                    Some(t) => {
                        let term = Term::from_field_date(f.time, DateTime::from_timestamp_micros(*t));
                        if incl { Bound::Included(term) } else { Bound::Excluded(term) }
                    }
                    None => Bound::Unbounded,
                };
                if from.is_none() && to.is_none() {
                    return (Box::new(AllQuery), true);
                }
                (Box::new(RangeQuery::new(bound(from, true), bound(to, false))), true)
            }
            // The index holds tokens by their hash: a pattern is checked on every event in range.
            Q::Exists(_) | Q::Glob(..) => (Box::new(AllQuery), false),
            Q::Bool { must, should, not } => {
                let mut exact = true;
                let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                for m in must {
                    let (q, e) = m.candidates(f);
                    exact &= e;
                    clauses.push((Occur::Must, q));
                }
                if must.is_empty() && !should.is_empty() {
                    let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
                    for s in should {
                        let (q, e) = s.candidates(f);
                        exact &= e;
                        any.push((Occur::Should, q));
                    }
                    clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
                }
                for n in not {
                    let (q, e) = n.candidates(f);
                    // Only an exact set can be taken away: a wider one would take matches with it.
                    if e {
                        clauses.push((Occur::MustNot, q));
                    } else {
                        exact = false;
                    }
                }
                if !clauses.iter().any(|(o, _)| *o == Occur::Must) {
                    clauses.push((Occur::Must, Box::new(AllQuery)));
                }
                (Box::new(BooleanQuery::new(clauses)), exact)
            }
        }
    }

    /// The columns an exact check reads.
    pub fn columns(&self, out: &mut Vec<&'static str>) {
        let mut add = |c: &'static str| {
            if !out.contains(&c) {
                out.push(c);
            }
        };
        match self {
            Q::All | Q::Time(..) => {}
            Q::Terms(t, _) | Q::Exists(t) | Q::Glob(t, _) => add(t.column()),
            Q::Bool { must, should, not } => {
                for q in must.iter().chain(should).chain(not) {
                    q.columns(out);
                }
            }
        }
    }

    /// Does this event match? `time` is its time, `row` gives its columns' text and tokens.
    pub fn matches(&self, time: i64, row: &mut RowTokens<'_>) -> bool {
        match self {
            Q::All => true,
            Q::Time(from, to) => from.is_none_or(|f| time >= f) && to.is_none_or(|t| time < t),
            Q::Terms(target, runs) => row.has(target, runs),
            Q::Exists(target) => row.exists(target),
            Q::Glob(target, pattern) => row.glob(target, pattern),
            Q::Bool { must, should, not } => {
                must.iter().all(|q| q.matches(time, row))
                    && (!must.is_empty() || should.is_empty() || should.iter().any(|q| q.matches(time, row)))
                    && !not.iter().any(|q| q.matches(time, row))
            }
        }
    }
}

/// A row's text of a column, by the column's name.
type ColumnText<'a> = Box<dyn Fn(&str) -> Option<&'a str> + 'a>;

/// One event's text, tokenized on demand for the exact check.
pub struct RowTokens<'a> {
    column: ColumnText<'a>,
    /// Tokens with positions, per column (or JSON path), computed once.
    cache: HashMap<String, Vec<Vec<(usize, String)>>>,
}

impl<'a> RowTokens<'a> {
    pub fn new(column: impl Fn(&str) -> Option<&'a str> + 'a) -> Self {
        RowTokens { column: Box::new(column), cache: HashMap::new() }
    }

    /// The token lists of a target: one per value (a JSON path may hold several).
    fn tokens(&mut self, target: &Target) -> &Vec<Vec<(usize, String)>> {
        let key = match target {
            Target::Record => "raw".to_string(),
            Target::Column(c) => c.to_string(),
            Target::Json(c, path) => format!("{c}.{}", path.join(".")),
        };
        if !self.cache.contains_key(&key) {
            let text = (self.column)(target.column());
            let lists = match (target, text) {
                (_, None) => Vec::new(),
                (Target::Record, Some(t)) => {
                    let mut out = Vec::new();
                    tokenize::json_tokens(t, &mut out);
                    vec![out]
                }
                (Target::Column(_), Some(t)) => {
                    let mut out = Vec::new();
                    if t.trim_start().starts_with(['{', '[']) {
                        tokenize::json_tokens(t, &mut out);
                    } else {
                        tokenize::text_tokens(t, 0, &mut out);
                    }
                    vec![out]
                }
                (Target::Json(_, path), Some(t)) => {
                    let mut values = Vec::new();
                    if let Ok(v) = serde_json::from_str::<serde_json::Value>(t) {
                        json_path_values(&v, path, &mut values);
                    }
                    values
                        .into_iter()
                        .map(|v| {
                            let mut out = Vec::new();
                            tokenize::text_tokens(&v, 0, &mut out);
                            out
                        })
                        .collect()
                }
            };
            self.cache.insert(key.clone(), lists);
        }
        &self.cache[&key]
    }

    fn has(&mut self, target: &Target, runs: &[String]) -> bool {
        self.tokens(target).iter().any(|list| holds_phrase(list, runs))
    }

    fn glob(&mut self, target: &Target, pattern: &str) -> bool {
        // As a LIKE pattern: `%` and `_` of the text are themselves.
        let like: String = pattern
            .chars()
            .map(|c| match c {
                '*' => "%".to_string(),
                '?' => "_".to_string(),
                '%' | '_' | '\\' => format!("\\{c}"),
                c => c.to_string(),
            })
            .collect();
        self.tokens(target).iter().any(|list| list.iter().any(|(_, t)| crate::pattern::like_match(t, &like)))
    }

    fn exists(&mut self, target: &Target) -> bool {
        match target {
            Target::Json(..) => !self.tokens(target).is_empty(),
            _ => (self.column)(target.column()).is_some_and(|t| !t.is_empty()),
        }
    }
}

/// Do the runs come one after another in this token list?
fn holds_phrase(list: &[(usize, String)], runs: &[String]) -> bool {
    let starts = list.iter().filter(|(_, t)| *t == runs[0]).map(|(p, _)| *p);
    for p in starts {
        if runs[1..].iter().enumerate().all(|(i, r)| list.iter().any(|(q, t)| *q == p + 1 + i && t == r)) {
            return true;
        }
    }
    false
}

/// The leaf values at a path of a JSON value (arrays are looked through), as text.
fn json_path_values(v: &serde_json::Value, path: &[String], out: &mut Vec<String>) {
    use serde_json::Value;
    match v {
        Value::Array(items) => {
            for i in items {
                json_path_values(i, path, out);
            }
        }
        Value::Object(map) => {
            if let Some((first, rest)) = path.split_first()
                && let Some(next) = map.get(first)
            {
                json_path_values(next, rest, out);
            }
        }
        _ if !path.is_empty() => {}
        Value::Null => {}
        Value::Bool(b) => out.push(b.to_string()),
        Value::Number(n) => out.push(n.to_string()),
        Value::String(s) => out.push(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COLS: &[&str] = &["event_name", "user_arn", "event_id"];
    const JSON: &[&str] = &["request_parameters"];

    fn q(s: &str) -> Q {
        let prepared = tokenize::prepare_query(s, |f| {
            COLS.contains(&f) || f == "event_time" || f.starts_with("request_parameters")
        });
        compile(&prepared, s, COLS, JSON).unwrap()
    }

    fn check(query: &str, cols: &[(&str, &str)], time: i64) -> bool {
        let map: HashMap<String, String> = cols.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut row = RowTokens::new(|c| map.get(c).map(|s| s.as_str()));
        q(query).matches(time, &mut row)
    }

    #[test]
    fn exact_checks_of_fields_paths_phrases_and_booleans() {
        let raw = r#"{"eventName":"CreateNetworkAclEntry","userAgent":"aws-cli/2.15.0 Python/3.11.6","requestParameters":{"cidrBlock":"0.0.0.0/0","egress":false,"ruleNumber":100}}"#;
        let rp = r#"{"cidrBlock":"0.0.0.0/0","egress":false,"ruleNumber":100}"#;
        let row = [("raw", raw), ("event_name", "CreateNetworkAclEntry"), ("request_parameters", rp)];
        assert!(check("createnetworkaclentry", &row, 0));
        assert!(check("event_name:CreateNetworkAclEntry", &row, 0));
        assert!(!check("user_arn:CreateNetworkAclEntry", &row, 0));
        assert!(check("request_parameters.cidrBlock:0.0.0.0/0", &row, 0));
        assert!(check("request_parameters.ruleNumber:100", &row, 0));
        assert!(check("request_parameters.egress:false", &row, 0));
        assert!(!check("request_parameters.egress:true", &row, 0));
        assert!(check("event_name:CreateNetworkAclEntry AND NOT request_parameters.egress:true", &row, 0));
        assert!(check("\"aws-cli/2.15.0 python/3.11.6\"", &row, 0));
        assert!(!check("\"python/3.11.6 aws-cli/2.15.0\"", &row, 0));
        assert!(check("nothere OR cli", &row, 0));
        assert!(!check("nothere cli", &row, 0));
        assert!(check("-nothere", &row, 0));
        assert!(check(
            "cli AND event_time:[2026-03-10T00:00:00Z TO 2026-03-11T00:00:00Z}",
            &row,
            1_773_100_800_000_000
        ));
        assert!(!check(
            "cli AND event_time:[2026-03-10T00:00:00Z TO 2026-03-11T00:00:00Z}",
            &row,
            1_773_187_200_000_000
        ));
        // A phrase does not run from one JSON value into the next.
        assert!(!check("\"0.0.0.0/0 100\"", &row, 0));
    }

    #[test]
    fn bad_queries_name_the_problem() {
        for (s, want) in [("user_arn:[a TO b]", "event_time only"), ("event_time:[soon TO later]", "as a time")] {
            let prepared = tokenize::prepare_query(s, |f| COLS.contains(&f) || f == "event_time");
            let e = compile(&prepared, s, COLS, JSON).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
    }
}
