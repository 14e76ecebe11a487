//! The SQL dialect every query is parsed in: the engine's generic dialect with PostgreSQL's
//! operator precedence where the parser of this engine version gets it wrong, until the engine
//! ships a parser with the fixes (see `Cargo.toml`, beside `datafusion`).
//!
//! - `a IS [NOT] DISTINCT FROM b AND c` is `(a IS DISTINCT FROM b) AND c`: the right operand of
//!   `IS [NOT] DISTINCT FROM` binds as tightly as `IS` does (the parser took the whole rest of the
//!   expression, so `NULL IS DISTINCT FROM true AND false` was `true`).
//! - JSON and other PostgreSQL operators (`->`, `->>`, `#>`, `#>>`, `@>`, `<@`, `?`, ...) bind
//!   more tightly than comparisons, `LIKE`, `BETWEEN`, `IN` and `IS`, and less than `+`, `-`, `*`
//!   and `/`, as in PostgreSQL ("any other operator"): `col->>'k' = 'v'` compares the value, where
//!   the parser read `col ->> ('k' = 'v')`.
//! - `LIKE`, `ILIKE`, `SIMILAR TO`, `BETWEEN` and `IN` bind more tightly than comparisons:
//!   `x LIKE 'a%' = true` is `(x LIKE 'a%') = true`.
//!
//! Everything else is the generic dialect's, method for method (it is the dialect the engine uses
//! by default, and the parser checks for it by type in places, which this dialect passes as).

use datafusion::sql::sqlparser::ast::Expr;
use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

/// The generic dialect with PostgreSQL's precedence for the operators above.
#[derive(Debug, Default)]
pub struct TrailflowDialect(GenericDialect);

macro_rules! same_as_generic {
    ($($name:ident),* $(,)?) => {
        $(fn $name(&self) -> bool {
            self.0.$name()
        })*
    };
}

impl Dialect for TrailflowDialect {
    fn dialect(&self) -> std::any::TypeId {
        self.0.dialect()
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        self.0.is_delimited_identifier_start(ch)
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        self.0.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.0.is_identifier_part(ch)
    }

    /// PostgreSQL's order (highest first): `.`, `::`, `AT TIME ZONE`, `* / %`, `+ -`, any other
    /// operator (`->>`, `||` aside, bitwise), `BETWEEN IN LIKE ILIKE SIMILAR`, comparisons, `IS`,
    /// `NOT`, `AND`, `OR`. The generic dialect put any other operator below comparisons and
    /// `LIKE` below them too.
    fn prec_value(&self, prec: Precedence) -> u8 {
        match prec {
            Precedence::Period => 100,
            Precedence::DoubleColon => 50,
            Precedence::AtTz => 41,
            Precedence::MulDivModOp => 40,
            Precedence::PlusMinus => 30,
            Precedence::PgOther => 29,
            Precedence::Xor => 28,
            Precedence::Ampersand => 27,
            Precedence::Caret => 26,
            Precedence::Pipe | Precedence::Colon => 25,
            Precedence::Between | Precedence::Like => 22,
            Precedence::Eq => 20,
            Precedence::Is => 17,
            Precedence::UnaryNot => 15,
            Precedence::And => 10,
            Precedence::Or => 5,
        }
    }

    fn parse_infix(&self, parser: &mut Parser, expr: &Expr, _precedence: u8) -> Option<Result<Expr, ParserError>> {
        let keyword = |parser: &Parser, n: usize, k: Keyword| matches!(&parser.peek_nth_token_ref(n).token, Token::Word(w) if w.keyword == k);
        if !keyword(parser, 0, Keyword::IS) {
            return None;
        }
        let not = keyword(parser, 1, Keyword::NOT);
        let at = if not { 2 } else { 1 };
        if !(keyword(parser, at, Keyword::DISTINCT) && keyword(parser, at + 1, Keyword::FROM)) {
            return None;
        }
        for _ in 0..at + 2 {
            parser.next_token();
        }
        let right = match parser.parse_subexpr(self.prec_value(Precedence::Is)) {
            Ok(r) => Box::new(r),
            Err(e) => return Some(Err(e)),
        };
        let left = Box::new(expr.clone());
        Some(Ok(if not { Expr::IsNotDistinctFrom(left, right) } else { Expr::IsDistinctFrom(left, right) }))
    }

    same_as_generic!(
        supports_unicode_string_literal,
        supports_partition_by_after_order_by,
        supports_array_join_syntax,
        supports_group_by_expr,
        supports_group_by_with_modifier,
        supports_left_associative_joins_without_parens,
        supports_connect_by,
        supports_match_recognize,
        supports_pipe_operator,
        supports_start_transaction_modifier,
        supports_window_function_null_treatment_arg,
        supports_dictionary_syntax,
        supports_window_clause_named_window_reference,
        supports_parenthesized_set_variables,
        supports_select_wildcard_except,
        support_map_literal_syntax,
        allow_extract_custom,
        allow_extract_single_quotes,
        supports_extract_comma_syntax,
        supports_create_view_comment_syntax,
        supports_parens_around_table_factor,
        supports_values_as_table_factor,
        supports_create_index_with_clause,
        supports_explain_with_utility_options,
        supports_limit_comma,
        supports_update_order_by,
        supports_from_first_select,
        supports_projection_trailing_commas,
        supports_asc_desc_in_column_definition,
        supports_try_convert,
        supports_bitwise_shift_operators,
        supports_comment_on,
        supports_load_extension,
        supports_named_fn_args_with_assignment_operator,
        supports_struct_literal,
        supports_empty_projections,
        supports_nested_comments,
        supports_multiline_comment_hints,
        supports_user_host_grantee,
        supports_string_escape_constant,
        supports_array_typedef_with_brackets,
        supports_match_against,
        supports_set_names,
        supports_comma_separated_set_assignments,
        supports_filter_during_aggregation,
        supports_select_wildcard_exclude,
        supports_data_type_signed_suffix,
        supports_interval_options,
        supports_quote_delimited_string,
        supports_select_wildcard_replace,
        supports_select_wildcard_ilike,
        supports_select_wildcard_rename,
        supports_optimize_table,
        supports_install,
        supports_detach,
        supports_prewhere,
        supports_with_fill,
        supports_limit_by,
        supports_interpolate,
        supports_settings,
        supports_select_format,
        supports_comment_optimizer_hint,
        supports_constraint_keyword_without_name,
        supports_key_column_option,
        supports_comma_separated_trim,
        supports_cte_without_as,
        supports_select_item_multi_column_alias,
        supports_xml_expressions,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(dialect: &dyn Dialect, sql: &str) -> String {
        Parser::parse_sql(dialect, sql).map(|s| s[0].to_string()).unwrap_or_else(|e| format!("error: {e}"))
    }

    fn expr(sql: &str) -> Expr {
        let d = TrailflowDialect::default();
        Parser::new(&d).try_with_sql(sql).unwrap().parse_expr().unwrap()
    }

    #[test]
    fn is_distinct_from_binds_as_is_does() {
        // (NULL IS DISTINCT FROM true) AND false
        let e = expr("NULL IS DISTINCT FROM true AND false");
        assert!(matches!(&e, Expr::BinaryOp { left, .. } if matches!(**left, Expr::IsDistinctFrom(..))), "{e:?}");
        let e = expr("a IS NOT DISTINCT FROM b OR c");
        assert!(matches!(&e, Expr::BinaryOp { left, .. } if matches!(**left, Expr::IsNotDistinctFrom(..))), "{e:?}");
        // Comparisons bind more tightly than IS (PostgreSQL): a IS DISTINCT FROM (b = c).
        let e = expr("a IS DISTINCT FROM b = c");
        assert!(matches!(&e, Expr::IsDistinctFrom(_, r) if matches!(**r, Expr::BinaryOp { .. })), "{e:?}");
        // IS is left-associative: (a IS DISTINCT FROM b) IS NULL.
        let e = expr("a IS DISTINCT FROM b IS NULL");
        assert!(matches!(&e, Expr::IsNull(inner) if matches!(**inner, Expr::IsDistinctFrom(..))), "{e:?}");
        // Brackets as written.
        let e = expr("a IS DISTINCT FROM (b AND c)");
        assert!(matches!(&e, Expr::IsDistinctFrom(..)), "{e:?}");
    }

    #[test]
    fn json_operators_bind_above_comparisons_below_arithmetic() {
        let e = expr("col ->> 'k' = 'v'");
        assert!(
            matches!(&e, Expr::BinaryOp { left, op, .. } if op.to_string() == "=" && matches!(**left, Expr::BinaryOp { .. })),
            "{e:?}"
        );
        assert_eq!(expr("a = b ->> 'k'").to_string(), "a = b ->> 'k'");
        let e = expr("a = b ->> 'k'");
        assert!(matches!(&e, Expr::BinaryOp { op, .. } if op.to_string() == "="), "{e:?}");
        let e = expr("col -> 'a' ->> 'b' LIKE 'x%'");
        assert!(matches!(&e, Expr::Like { .. }), "{e:?}");
        let e = expr("col ->> 'k' IS NULL");
        assert!(matches!(&e, Expr::IsNull(_)), "{e:?}");
    }

    #[test]
    fn everything_else_parses_as_the_generic_dialect_does() {
        let generic = GenericDialect {};
        let ours = TrailflowDialect::default();
        for sql in [
            "SELECT a, count(*) FILTER (WHERE b > 1) FROM t GROUP BY a ORDER BY 2 DESC LIMIT 5",
            "SELECT * EXCLUDE (x) FROM t",
            "SELECT `weird name`, \"other\" FROM t WHERE x IN (1, 2) AND y BETWEEN 1 AND 2",
            "WITH q AS (SELECT 1 AS a) SELECT a FROM q UNION ALL SELECT 2",
            "SELECT {'a': 1}['a'], [1, 2][1], x::BIGINT, E'\\n' FROM t",
            "SELECT a FROM t WHERE b ILIKE '%x%' ESCAPE '\\\\' AND NOT c IS NULL",
            "SELECT #a, @b FROM t",
            "EXPLAIN ANALYZE SELECT 1",
            "SHOW TABLES",
        ] {
            assert_eq!(parsed(&ours, sql), parsed(&generic, sql), "{sql}");
        }
    }

    /// Every built-in query read under both dialects: the trees differ only where the old reading
    /// was wrong (one hunt's `read_only IS DISTINCT FROM true AND ...`, which counted read calls).
    #[test]
    fn built_in_queries_read_as_before_but_where_the_old_reading_was_wrong() {
        let generic = GenericDialect {};
        let ours = TrailflowDialect::default();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let mut differ = Vec::new();
        let mut read = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "sql") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let a = Parser::parse_sql(&generic, &text).map(|s| format!("{s:?}")).unwrap_or_else(|e| e.to_string());
            let b = Parser::parse_sql(&ours, &text).map(|s| format!("{s:?}")).unwrap_or_else(|e| e.to_string());
            read += 1;
            if a != b {
                differ.push(path.file_stem().unwrap().to_string_lossy().to_string());
            }
        }
        assert!(read > 40, "{read}");
        assert_eq!(differ, ["first_sensitive_api_for_principal"]);
    }
}
