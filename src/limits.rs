//! The bounds that keep one hostile or broken input from taking a run down: how deep archives
//! nest, how large a record, a document, a line or an archive member may be, how deep a user's
//! query may nest, and which times the lake accepts. Each has a default and an environment
//! variable that changes it; `docs/lake.md` ("Guarantees") lists them.

use crate::error::{Error, Result};

/// How deep a user's expression may nest: brackets in a search or in SQL (nested calls, nested
/// subqueries). Deeper input gets an error instead of exhausting the stack.
pub const MAX_EXPRESSION_DEPTH: usize = 256;

/// How deep JSON may nest before a record is rejected (serde_json's own limit is 128).
pub const MAX_JSON_DEPTH: usize = 128;

/// The ingest bounds, read from the environment once per run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// What one ingest may hold in memory at its peak (`TRAILFLOW_INGEST_MEMORY`, default 1 GiB).
    /// [`FIXED_MEMORY`] of it is the program's own, the search index writer's and the decoders'
    /// scratch; of the rest, three eighths hold rows waiting to be written as Parquet and a
    /// quarter archive members waiting for a decoder (unless `TRAILFLOW_MAX_PENDING` says
    /// otherwise); the last three eighths are the Parquet writer's and the decoders' batches.
    pub ingest_memory: u64,
    /// Archives inside archives, at most this deep (`TRAILFLOW_MAX_ARCHIVE_DEPTH`).
    pub archive_depth: usize,
    /// An archive member is read into memory; larger members are rejected (`TRAILFLOW_MAX_MEMBER`).
    pub member_bytes: u64,
    /// Archive members read but not yet decoded, in bytes (`TRAILFLOW_MAX_PENDING`): the walker
    /// waits while this much is queued.
    pub pending_bytes: u64,
    /// One CloudTrail record (or another element of a JSON array), at most (`TRAILFLOW_MAX_RECORD`).
    pub record_bytes: usize,
    /// A JSON document that is read whole (a log envelope, an object of no known shape), at most
    /// (`TRAILFLOW_MAX_DOCUMENT`). `{"Records":[...]}` files and inventory (`describe-*` output,
    /// AWS Config files) are streamed record by record and have no such bound. By default the
    /// decoders' share of the memory (three eighths of what [`FIXED_MEMORY`] leaves) divided
    /// among the decoder threads, each of which holds one document at most: 256 MiB at most,
    /// 16 MiB at least.
    pub document_bytes: usize,
    /// One line of a text flow log, at most (`TRAILFLOW_MAX_LINE`).
    pub line_bytes: usize,
    /// Decompressed bytes per compressed byte before a file is taken for a decompression bomb
    /// (`TRAILFLOW_MAX_EXPANSION`); files below `expansion_floor` bytes decompressed are not judged.
    pub expansion: u64,
    pub expansion_floor: u64,
}

/// The part of an ingest's memory that does not grow with the evidence: the program itself, the
/// search index writer's arena (96 MiB), the decoders' scratch. Measured on the benchmark sets:
/// about 300 MiB at the peak of a run whose buffers are nearly empty.
pub const FIXED_MEMORY: u64 = 320 << 20;

impl Limits {
    /// The part of `ingest_memory` that buffers may use: what [`FIXED_MEMORY`] leaves, and never
    /// less than a quarter of it (a small setting still makes progress; it is then exceeded).
    fn buffer_memory(&self) -> u64 {
        self.ingest_memory.saturating_sub(FIXED_MEMORY).max(self.ingest_memory / 4)
    }

    /// Bytes of rows the ingest's writer buffers before it writes Parquet files out.
    pub fn row_buffer_bytes(&self) -> usize {
        usize::try_from(self.buffer_memory() / 8 * 3).unwrap_or(usize::MAX)
    }

    /// Bytes of archive members read but not yet decoded, when `TRAILFLOW_MAX_PENDING` is not set.
    fn default_pending(&self) -> u64 {
        self.buffer_memory() / 4
    }

    /// A document read whole, when `TRAILFLOW_MAX_DOCUMENT` is not set: see [`Limits::document_bytes`].
    fn default_document(&self) -> usize {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) as u64;
        let share = self.buffer_memory() / 8 * 3 / threads;
        usize::try_from(share.clamp(16 << 20, 256 << 20)).unwrap_or(256 << 20)
    }
}

impl Default for Limits {
    fn default() -> Self {
        let limits = Limits {
            ingest_memory: 1 << 30,
            archive_depth: 8,
            member_bytes: 1 << 30,
            pending_bytes: 0,
            record_bytes: 32 << 20,
            document_bytes: 256 << 20,
            line_bytes: 64 << 10,
            expansion: 1100,
            expansion_floor: 16 << 30,
        };
        Limits { pending_bytes: limits.default_pending(), document_bytes: limits.default_document(), ..limits }
    }
}

impl Limits {
    /// The defaults, with any bound set in the environment; a value that does not read is an error
    /// naming the variable.
    pub fn from_env() -> Result<Limits> {
        // A variable's value: a size (`32M`), or with `size` false a whole number of 1 or more.
        let read = |var: &str, size: bool| -> Result<Option<u64>> {
            let Some(text) = std::env::var(var).ok().filter(|v| !v.trim().is_empty()) else {
                return Ok(None);
            };
            let n =
                if size { parse_size(&text).map(|n| n as u64) } else { text.trim().parse().ok().filter(|n| *n >= 1) };
            let want = if size { "a size such as 64K, 32M or 2G" } else { "a whole number of 1 or more" };
            n.map(Some).ok_or_else(|| Error::Usage(format!("{var}={text:?}: give {want}")))
        };
        let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let d = Limits::default();
        let ingest_memory = read("TRAILFLOW_INGEST_MEMORY", true)?.unwrap_or(d.ingest_memory);
        Ok(Limits {
            ingest_memory,
            archive_depth: read("TRAILFLOW_MAX_ARCHIVE_DEPTH", false)?.map_or(d.archive_depth, to_usize),
            member_bytes: read("TRAILFLOW_MAX_MEMBER", true)?.unwrap_or(d.member_bytes),
            pending_bytes: read("TRAILFLOW_MAX_PENDING", true)?
                .unwrap_or_else(|| Limits { ingest_memory, ..d }.default_pending()),
            record_bytes: read("TRAILFLOW_MAX_RECORD", true)?.map_or(d.record_bytes, to_usize),
            document_bytes: read("TRAILFLOW_MAX_DOCUMENT", true)?
                .map_or_else(|| Limits { ingest_memory, ..d }.default_document(), to_usize),
            line_bytes: read("TRAILFLOW_MAX_LINE", true)?.map_or(d.line_bytes, to_usize),
            expansion: read("TRAILFLOW_MAX_EXPANSION", false)?.unwrap_or(d.expansion),
            expansion_floor: d.expansion_floor,
        })
    }
}

/// A size as people write it: `1500M`, `2G`, `64KiB`, or bytes. `None` when it does not read or is 0.
pub fn parse_size(text: &str) -> Option<usize> {
    let t = text.trim();
    let (num, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&t[..i], t[i..].trim().to_ascii_uppercase()),
        None => (t, String::new()),
    };
    let scale: usize = match unit.trim_end_matches("IB").trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return None,
    };
    num.parse::<usize>().ok().filter(|n| *n > 0).and_then(|n| n.checked_mul(scale))
}

/// Operators one SQL expression may chain (`a OR b OR ...`, `1+1+...`): the parser nests each
/// in the one before.
pub const MAX_CHAINED_OPERATORS: usize = 2000;

/// Operators one statement may hold in all, whatever its brackets: a chain spread over nested
/// parentheses (`((a OR b) OR c) OR ...`) costs the planner as much as one long chain (8,000
/// terms planned for over a minute). The largest built-in query holds a few hundred.
pub const MAX_TOTAL_OPERATORS: usize = 4000;

/// How deep expressions may nest in a parsed statement, and how many it may hold in all: the
/// text's bounds ([`check_nesting`]) allow a chain of [`MAX_CHAINED_OPERATORS`] in
/// [`MAX_EXPRESSION_DEPTH`] brackets, and nothing past them whatever way the text was written
/// (escapes, quoting, comments the text scan does not know).
pub const MAX_TREE_DEPTH: usize = MAX_CHAINED_OPERATORS + MAX_EXPRESSION_DEPTH;
pub const MAX_TREE_EXPRESSIONS: usize = 4 * MAX_TOTAL_OPERATORS + 10_000;

/// Check a parsed statement as [`check_nesting`] checks its text: the expressions' depth and
/// number, counted on the tree the planner would be given.
pub fn check_tree(statement: &datafusion::sql::parser::Statement) -> Result<()> {
    use datafusion::sql::parser::Statement;
    use datafusion::sql::sqlparser::ast::{Expr, Visit, Visitor};
    use std::ops::ControlFlow;
    struct Depth {
        depth: usize,
        count: usize,
    }
    impl Visitor for Depth {
        type Break = String;
        fn pre_visit_expr(&mut self, _: &Expr) -> ControlFlow<String> {
            self.depth += 1;
            self.count += 1;
            if self.depth > MAX_TREE_DEPTH {
                return ControlFlow::Break(format!("SQL nests expressions more than {MAX_TREE_DEPTH} deep"));
            }
            if self.count > MAX_TREE_EXPRESSIONS {
                return ControlFlow::Break(format!(
                    "SQL holds more than {MAX_TREE_EXPRESSIONS} expressions: use IN (...) or split it up"
                ));
            }
            ControlFlow::Continue(())
        }
        fn post_visit_expr(&mut self, _: &Expr) -> ControlFlow<String> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
    }
    let mut v = Depth { depth: 0, count: 0 };
    let mut statement = statement;
    loop {
        match statement {
            Statement::Explain(e) => statement = &e.statement,
            Statement::Statement(s) => {
                return match s.visit(&mut v) {
                    ControlFlow::Break(why) => Err(Error::Limit(why)),
                    ControlFlow::Continue(()) => Ok(()),
                };
            }
            // Not a query (refused as such by the read-only options).
            _ => return Ok(()),
        }
    }
}

/// Check how deeply a user's text nests, without parsing it (so that the check itself cannot run
/// out of stack): brackets outside quotes and comments, and with `sql`, runs of binary operators
/// at one bracket level, which a SQL parser turns into one level of nesting each. `what` names the
/// text in the error (`search query`, `SQL`).
pub fn check_nesting(text: &str, what: &str, sql: bool) -> Result<()> {
    let mut depth = 0usize;
    // Binary operators seen at each bracket level since the level opened.
    let mut chain: Vec<usize> = vec![0];
    let b = text.as_bytes();
    let mut i = 0;
    let mut total = 0usize;
    let mut count = |n: &mut usize| -> Result<()> {
        *n += 1;
        total += 1;
        if *n > MAX_CHAINED_OPERATORS {
            return Err(Error::Limit(format!(
                "{what} chains more than {MAX_CHAINED_OPERATORS} operators in one expression: use IN (...) or split \
                    it up"
            )));
        }
        if total > MAX_TOTAL_OPERATORS {
            return Err(Error::Limit(format!(
                "{what} holds more than {MAX_TOTAL_OPERATORS} operators in all: use IN (...) or split it up"
            )));
        }
        Ok(())
    };
    while i < b.len() {
        let c = b[i];
        match c {
            b'\'' | b'"' | b'`' => {
                // To the closing quote; SQL doubles a quote to escape it, search queries use `\`,
                // and so do SQL's escape strings (`E'it\'s'`).
                let escapes = !sql
                    || (c == b'\''
                        && i > 0
                        && b[i - 1].eq_ignore_ascii_case(&b'e')
                        && (i < 2 || !b[i - 2].is_ascii_alphanumeric() && b[i - 2] != b'_'));
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' && escapes {
                        i += 2;
                        continue;
                    }
                    if b[i] == c {
                        if sql && i + 1 < b.len() && b[i + 1] == c {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'-' if sql && b.get(i + 1) == Some(&b'-') => {
                i = b[i..].iter().position(|x| *x == b'\n').map_or(b.len(), |p| i + p);
            }
            b'/' if sql && b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |p| i + 2 + p + 1);
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                chain.push(0);
                if depth > MAX_EXPRESSION_DEPTH {
                    return Err(Error::Limit(format!(
                        "{what} nests brackets deeper than {MAX_EXPRESSION_DEPTH} levels: simplify it"
                    )));
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if chain.len() > 1 {
                    chain.pop();
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'|' | b'&' | b'^' | b'<' | b'>' | b'=' if sql => {
                if let Some(n) = chain.last_mut() {
                    count(n)?;
                }
            }
            c if sql
                && c.is_ascii_alphabetic()
                && (i == 0 || !b[i - 1].is_ascii_alphanumeric() && b[i - 1] != b'_') =>
            {
                // Word operators: AND, OR.
                let end =
                    b[i..].iter().position(|x| !x.is_ascii_alphanumeric() && *x != b'_').map_or(b.len(), |p| i + p);
                let word = &text[i..end];
                if (word.eq_ignore_ascii_case("and") || word.eq_ignore_ascii_case("or"))
                    && let Some(n) = chain.last_mut()
                {
                    count(n)?;
                }
                i = end;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsed_statements_are_bounded_too() {
        use datafusion::sql::parser::DFParserBuilder;
        let parse = |sql: &str| {
            DFParserBuilder::new(sql).with_recursion_limit(usize::MAX / 2).build().unwrap().parse_statements().unwrap()
        };
        let chain = |n: usize| (0..n).map(|i| format!("x = {i}")).collect::<Vec<_>>().join(" OR ");
        let fine = parse(&format!("SELECT 1 FROM t WHERE {}", chain(1000)));
        assert!(check_tree(&fine[0]).is_ok());
        // Deeper than the text's bounds allow: refused on the tree, whatever the text looked like.
        let deep = parse(&format!("SELECT 1 FROM t WHERE {}", chain(MAX_TREE_DEPTH + 10)));
        let e = check_tree(&deep[0]).unwrap_err().to_string();
        assert!(e.contains("deep"), "{e}");
        let explained = parse(&format!("EXPLAIN SELECT 1 FROM t WHERE {}", chain(MAX_TREE_DEPTH + 10)));
        assert!(check_tree(&explained[0]).is_err());
        // Many expressions side by side, none deep.
        let wide = (0..=MAX_TREE_EXPRESSIONS).map(|i| format!("{i}")).collect::<Vec<_>>().join(", ");
        let wide = parse(&format!("SELECT {wide}"));
        assert!(check_tree(&wide[0]).unwrap_err().to_string().contains("expressions"));
    }

    #[test]
    fn operator_chains_are_bounded_however_they_hide() {
        let chain = |n: usize| (0..n).map(|i| format!("x = {i}")).collect::<Vec<_>>().join(" OR ");
        assert!(check_nesting(&format!("SELECT 1 WHERE {}", chain(100)), "q", true).is_ok());
        // Spread over nested parentheses, each level short.
        let mut nested = String::from("x = 0");
        for i in 0..200 {
            nested = format!(
                "({nested} OR x = {i} OR x = {i} OR x = {i} OR x = {i} OR x = {i} OR x = {i} OR x = {i} OR x = {i} OR \
                    x = {i} OR x = {i})"
            );
        }
        assert!(
            check_nesting(&format!("SELECT 1 WHERE {nested}"), "q", true).unwrap_err().to_string().contains("in all")
        );
        // Behind an escape string's escaped quote, the rest is not a string.
        let hidden = format!("SELECT E'it\\'s' WHERE {}", chain(3000));
        assert!(check_nesting(&hidden, "q", true).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1500M"), Some(1500 << 20));
        assert_eq!(parse_size("2 GiB"), Some(2 << 30));
        assert_eq!(parse_size("64k"), Some(64 << 10));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("0"), None);
        assert_eq!(parse_size("lots"), None);
    }

    #[test]
    fn memory_shares() {
        // The 1 GiB default: 320 MiB fixed, of the 704 MiB left 264 buffer rows, 176 hold members.
        let d = Limits::default();
        assert_eq!(d.row_buffer_bytes(), 264 << 20);
        assert_eq!(d.pending_bytes, 176 << 20);
        // A setting below the fixed part still buffers a quarter of itself.
        let small = Limits { ingest_memory: 256 << 20, ..d };
        assert_eq!(small.row_buffer_bytes(), (64 << 20) / 8 * 3);
    }

    #[test]
    fn nesting() {
        assert!(check_nesting("a AND (b OR c)", "q", false).is_ok());
        assert!(check_nesting(&"(".repeat(10_000), "q", false).is_err());
        let sum = format!("SELECT 1{}", "+1".repeat(8000));
        assert!(check_nesting(&sum, "SQL", true).is_err());
        let ors = format!("SELECT 1 WHERE {}", vec!["a = 1"; 500].join(" OR "));
        assert!(check_nesting(&ors, "SQL", true).is_ok());
        let fine = format!("SELECT * FROM t WHERE x IN ({})", vec!["'a'"; 5000].join(","));
        assert!(check_nesting(&fine, "SQL", true).is_ok());
        // Brackets inside quotes and comments are text.
        assert!(check_nesting(&format!("'{}'", "(".repeat(1000)), "q", false).is_ok());
        assert!(check_nesting("SELECT 'it''s (' FROM t", "q", true).is_ok());
        assert!(check_nesting(&format!("SELECT 1 -- don't {}\n", "(".repeat(1000)), "q", true).is_ok());
        // An ARN's slashes and dashes are not operators in a search.
        assert!(check_nesting(&"arn:aws:iam::1:role/a-b-c/".repeat(500), "q", false).is_ok());
    }
}
