//! The SQL the compiler writes, as a small typed tree: conditions ([`Expr`]) over the lake's
//! columns and the record's JSON ([`Field`]), and the queries of correlations ([`Query`]). Only
//! [`fmt::Display`] turns them into text, in one place: literals are quoted there, and every
//! `AND` / `OR` group is bracketed, so what a rule means cannot depend on where its parts land.

use std::fmt;

/// Where a Sigma field's value is read from.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Field {
    /// One of the lake's own columns (`event_name`).
    Column(&'static str),
    /// A whole JSON column as text (`requestParameters` alone).
    Whole(&'static str),
    /// A value inside a JSON column: text as it is, numbers and booleans as their JSON text.
    Json { column: &'static str, path: Vec<String> },
}

/// A number as the SQL compares it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Cmp {
    Gt,
    Gte,
    Lt,
    Lte,
    Eq,
}

impl Cmp {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Gte => ">=",
            Cmp::Lt => "<",
            Cmp::Lte => "<=",
            Cmp::Eq => "=",
        }
    }
}

/// A condition or value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Expr {
    Field(Field),
    /// A column of the query being built, maybe of a named input (`a.event_time`); `quoted` for
    /// the names correlation groups are reported under.
    Col {
        table: Option<String>,
        name: String,
        quoted: bool,
    },
    Text(String),
    Number(f64),
    /// `INTERVAL 'n seconds'`.
    Seconds(u64),
    Star,
    Lower(Box<Expr>),
    Eq(Box<Expr>, Box<Expr>),
    /// `x LIKE 'pattern'` (the pattern already in LIKE's syntax).
    Like(Box<Expr>, String),
    IsNull(Box<Expr>),
    IsNotNull(Box<Expr>),
    Regex(Box<Expr>, String),
    /// Whether the address is in the CIDR (false when it is not an address).
    InCidr(String, Box<Expr>),
    /// The value as a number, compared (`TRY_CAST(x AS DOUBLE) > n`).
    NumberCmp(Box<Expr>, Cmp, f64),
    /// Any value a JSON path reaches, through lists, compared by `sigma_match`.
    SigmaMatch {
        column: &'static str,
        path: String,
        op: String,
        value: String,
    },
    Compare(Box<Expr>, Cmp, Box<Expr>),
    NotDistinct(Box<Expr>, Box<Expr>),
    Between(Box<Expr>, Box<Expr>, Box<Expr>),
    Plus(Box<Expr>, Box<Expr>),
    Minus(Box<Expr>, Box<Expr>),
    /// An aggregate or other function (`count`, `min`); `distinct` for `count(DISTINCT x)`.
    Call {
        name: &'static str,
        distinct: bool,
        args: Vec<Expr>,
    },
    /// `f OVER (PARTITION BY ... ORDER BY o RANGE BETWEEN INTERVAL 'n seconds' PRECEDING AND CURRENT ROW)`.
    Window {
        call: Box<Expr>,
        partition: Vec<Expr>,
        order: Box<Expr>,
        seconds: u64,
    },
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// A conjunction at the top of a clause (`WHERE`, `ON`, `HAVING`), not bracketed.
    All(Vec<Expr>),
    /// Not, with an unknown (null) part taken as not matching.
    Not(Box<Expr>),
}

impl Expr {
    pub(super) fn col(name: &str) -> Expr {
        Expr::Col { table: None, name: name.to_string(), quoted: false }
    }
    pub(super) fn of(table: &str, name: &str) -> Expr {
        Expr::Col { table: Some(table.to_string()), name: name.to_string(), quoted: false }
    }
    pub(super) fn call(name: &'static str, args: Vec<Expr>) -> Expr {
        Expr::Call { name, distinct: false, args }
    }
    pub(super) fn count_star() -> Expr {
        Expr::call("count", vec![Expr::Star])
    }
    pub(super) fn lower(self) -> Expr {
        Expr::Lower(Box::new(self))
    }
    pub(super) fn eq(self, other: Expr) -> Expr {
        Expr::Eq(Box::new(self), Box::new(other))
    }
    pub(super) fn cmp(self, op: Cmp, other: Expr) -> Expr {
        Expr::Compare(Box::new(self), op, Box::new(other))
    }
    /// Several conditions, any of which holds; one alone is itself.
    pub(super) fn any(mut parts: Vec<Expr>) -> Expr {
        if parts.len() == 1 { parts.remove(0) } else { Expr::Or(parts) }
    }
}

/// A SQL text literal.
pub(super) struct Lit<'a>(pub(super) &'a str);

impl fmt::Display for Lit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "'{}'", self.0.replace('\'', "''"))
    }
}

fn join(f: &mut fmt::Formatter, items: &[Expr], sep: &str) -> fmt::Result {
    for (i, e) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(sep)?;
        }
        write!(f, "{e}")?;
    }
    Ok(())
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Field::Column(c) => f.write_str(c),
            Field::Whole(c) => write!(f, "CAST({c} AS VARCHAR)"),
            Field::Json { column, path } => {
                let keys: Vec<String> = path.iter().map(|p| Lit(p).to_string()).collect();
                let keys = keys.join(", ");
                write!(f, "coalesce(json_get_str({column}, {keys}), json_as_text({column}, {keys}))")
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Expr::Field(x) => write!(f, "{x}"),
            Expr::Col { table, name, quoted } => {
                if let Some(t) = table {
                    write!(f, "{t}.")?;
                }
                if *quoted { write!(f, "\"{name}\"") } else { f.write_str(name) }
            }
            Expr::Text(s) => write!(f, "{}", Lit(s)),
            Expr::Number(n) => write!(f, "{n}"),
            Expr::Seconds(n) => write!(f, "INTERVAL '{n} seconds'"),
            Expr::Star => f.write_str("*"),
            Expr::Lower(x) => write!(f, "lower({x})"),
            Expr::Eq(a, b) => write!(f, "{a} = {b}"),
            Expr::Like(x, p) => write!(f, "{x} LIKE {}", Lit(p)),
            Expr::IsNull(x) => write!(f, "{x} IS NULL"),
            Expr::IsNotNull(x) => write!(f, "{x} IS NOT NULL"),
            Expr::Regex(x, re) => write!(f, "regexp_like({x}, {})", Lit(re)),
            Expr::InCidr(net, x) => write!(f, "coalesce(cidr_contains({}, {x}), false)", Lit(net)),
            Expr::NumberCmp(x, op, n) => write!(f, "TRY_CAST({x} AS DOUBLE) {} {n}", op.symbol()),
            Expr::SigmaMatch { column, path, op, value } => {
                write!(f, "sigma_match({column}, {}, {}, {})", Lit(path), Lit(op), Lit(value))
            }
            Expr::Compare(a, op, b) => write!(f, "{a} {} {b}", op.symbol()),
            Expr::NotDistinct(a, b) => write!(f, "{a} IS NOT DISTINCT FROM {b}"),
            Expr::Between(x, lo, hi) => write!(f, "{x} BETWEEN {lo} AND {hi}"),
            Expr::Plus(a, b) => write!(f, "{a} + {b}"),
            Expr::Minus(a, b) => write!(f, "{a} - {b}"),
            Expr::Call { name, distinct, args } => {
                write!(f, "{name}({}", if *distinct { "DISTINCT " } else { "" })?;
                join(f, args, ", ")?;
                f.write_str(")")
            }
            Expr::Window { call, partition, order, seconds } => {
                write!(f, "{call} OVER (")?;
                if !partition.is_empty() {
                    f.write_str("PARTITION BY ")?;
                    join(f, partition, ", ")?;
                    f.write_str(" ")?;
                }
                write!(f, "ORDER BY {order} RANGE BETWEEN {} PRECEDING AND CURRENT ROW)", Expr::Seconds(*seconds))
            }
            Expr::And(parts) => {
                f.write_str("(")?;
                join(f, parts, " AND ")?;
                f.write_str(")")
            }
            Expr::Or(parts) => {
                f.write_str("(")?;
                join(f, parts, " OR ")?;
                f.write_str(")")
            }
            Expr::All(parts) => join(f, parts, " AND "),
            Expr::Not(x) => write!(f, "(NOT coalesce({x}, false))"),
        }
    }
}

/// What a query reads: a table or earlier result under an optional name, and the inputs joined
/// to it.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct From {
    pub(super) table: String,
    pub(super) alias: Option<String>,
    pub(super) joins: Vec<(String, String, Expr)>,
}

impl From {
    pub(super) fn table(name: &str) -> From {
        From { table: name.to_string(), alias: None, joins: Vec::new() }
    }
    pub(super) fn named(name: &str, alias: &str) -> From {
        From { table: name.to_string(), alias: Some(alias.to_string()), joins: Vec::new() }
    }
    pub(super) fn join(mut self, table: &str, alias: &str, on: Expr) -> From {
        self.joins.push((table.to_string(), alias.to_string(), on));
        self
    }
}

/// One `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Select {
    /// Each column and the name it is given, if any (quoted: the names groups are reported under
    /// may be any text).
    pub(super) columns: Vec<(Expr, Option<Alias>)>,
    pub(super) from: From,
    pub(super) filter: Option<Expr>,
    pub(super) group_by: Vec<Expr>,
    pub(super) having: Option<Expr>,
    pub(super) order_by: Vec<Expr>,
}

/// A column's name in a result.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Alias {
    Plain(&'static str),
    Quoted(String),
}

impl Select {
    pub(super) fn from(from: From) -> Select {
        Select { columns: Vec::new(), from, filter: None, group_by: Vec::new(), having: None, order_by: Vec::new() }
    }
    pub(super) fn column(mut self, e: Expr) -> Select {
        self.columns.push((e, None));
        self
    }
    pub(super) fn named(mut self, e: Expr, alias: &'static str) -> Select {
        self.columns.push((e, Some(Alias::Plain(alias))));
        self
    }
    pub(super) fn quoted(mut self, e: Expr, alias: &str) -> Select {
        self.columns.push((e, Some(Alias::Quoted(alias.to_string()))));
        self
    }
}

/// A query: named results (`WITH`) and the final one, each a `SELECT` or a `UNION ALL` of them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Query {
    pub(super) with: Vec<(&'static str, Vec<Select>)>,
    pub(super) body: Select,
}

fn list(f: &mut fmt::Formatter, keyword: &str, items: &[Expr]) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    write!(f, " {keyword} ")?;
    join(f, items, ", ")
}

impl fmt::Display for Select {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("SELECT ")?;
        for (i, (e, alias)) in self.columns.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            match alias {
                None => write!(f, "{e}")?,
                Some(Alias::Plain(a)) => write!(f, "{e} AS {a}")?,
                Some(Alias::Quoted(a)) => write!(f, "{e} AS \"{a}\"")?,
            }
        }
        write!(f, " FROM {}", self.from.table)?;
        if let Some(a) = &self.from.alias {
            write!(f, " {a}")?;
        }
        for (table, alias, on) in &self.from.joins {
            write!(f, " JOIN {table} {alias} ON {on}")?;
        }
        if let Some(w) = &self.filter {
            write!(f, " WHERE {w}")?;
        }
        list(f, "GROUP BY", &self.group_by)?;
        if let Some(h) = &self.having {
            write!(f, " HAVING {h}")?;
        }
        list(f, "ORDER BY", &self.order_by)
    }
}

impl fmt::Display for Query {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        for (i, (name, parts)) in self.with.iter().enumerate() {
            f.write_str(if i == 0 { "WITH " } else { ", " })?;
            write!(f, "{name} AS (")?;
            for (j, s) in parts.iter().enumerate() {
                if j > 0 {
                    f.write_str(" UNION ALL ")?;
                }
                write!(f, "{s}")?;
            }
            f.write_str(")")?;
        }
        if !self.with.is_empty() {
            f.write_str(" ")?;
        }
        write!(f, "{}", self.body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_written_in_one_place_quoted_and_bracketed() {
        let f = Expr::Field(Field::Json { column: "raw", path: vec!["userIdentity".into(), "o'brien".into()] });
        assert_eq!(
            f.to_string(),
            "coalesce(json_get_str(raw, 'userIdentity', 'o''brien'), json_as_text(raw, 'userIdentity', 'o''brien'))"
        );
        let name = || Expr::Field(Field::Column("event_name")).lower();
        let e = Expr::Or(vec![
            Expr::And(vec![name().eq(Expr::Text("it's".into())), Expr::Like(Box::new(name()), "%x%".into())]),
            Expr::Not(Box::new(Expr::IsNull(Box::new(Expr::Field(Field::Whole("resources")))))),
        ]);
        assert_eq!(
            e.to_string(),
            "((lower(event_name) = 'it''s' AND lower(event_name) LIKE '%x%') OR (NOT coalesce(CAST(resources AS \
             VARCHAR) IS NULL, false)))"
        );
        // One alternative is itself; several are bracketed.
        assert_eq!(Expr::any(vec![name()]).to_string(), "lower(event_name)");
        let q = Query {
            with: vec![(
                "base",
                vec![
                    Select::from(From::table("t")).column(Expr::Star),
                    Select::from(From::table("u")).column(Expr::Star),
                ],
            )],
            body: Select::from(From::named("base", "a").join("base", "b", Expr::of("a", "x").eq(Expr::of("b", "x"))))
                .quoted(Expr::of("a", "x"), "the x")
                .named(Expr::count_star(), "n"),
        };
        assert_eq!(
            q.to_string(),
            "WITH base AS (SELECT * FROM t UNION ALL SELECT * FROM u) SELECT a.x AS \"the x\", count(*) AS n FROM base a \
             JOIN base b ON a.x = b.x"
        );
    }
}
