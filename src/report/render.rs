//! The report's pages rendered from one [`Findings`] value through templates
//! (`src/report/templates/`), with escaping on by default: every value written into
//! `report.html` is HTML-escaped and every value written into `summary.md` is made inert in
//! Markdown, unless the template marks it safe (only the chart, which trailflow draws itself).

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Error as TemplateError, ErrorKind, UndefinedBehavior};

use super::findings::Findings;
use crate::error::{Error, Result};

const REPORT_HTML: &str = include_str!("templates/report.html");
const SUMMARY_MD: &str = include_str!("templates/summary.md");

/// The escaping of the Markdown templates (minijinja knows HTML, not Markdown).
const MARKDOWN: &str = "markdown";

fn environment(context: Option<std::sync::Arc<crate::enrich::AddressContext>>) -> Result<Environment<'static>> {
    let mut env = Environment::new();
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .keep_trailing_newline(true)
        .build()
        .map_err(template_error)?;
    env.set_syntax(syntax);
    // A name the findings lack is a mistake in the template, not an empty value.
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| match name.rsplit('.').next() {
        Some("html") => AutoEscape::Html,
        Some("md") => AutoEscape::Custom(MARKDOWN.into()),
        _ => AutoEscape::None,
    });
    env.set_formatter(|out, state, value| {
        // An absent value (SQL NULL) writes nothing.
        if value.is_none() {
            return Ok(());
        }
        let text = value.to_string();
        let text = match state.auto_escape() {
            _ if value.is_safe() => text,
            AutoEscape::Html => super::html::esc(&text),
            AutoEscape::Custom(name) if name == MARKDOWN => super::markdown::md(&text),
            _ => text,
        };
        out.write_str(&text).map_err(|_| TemplateError::new(ErrorKind::WriteFailure, "writing the report failed"))
    });
    // Terminal-safe text, already inert: for the Markdown's indented ingest block.
    env.add_filter("plain", |s: &str| Value::from_safe_string(super::plain(s)));
    // Each public address in a text followed by whose it is (`enrich`), when that is known.
    env.add_filter("whose", move |v: Value| -> Value {
        match (v.as_str(), &context) {
            (Some(s), Some(ctx)) => Value::from(ctx.annotate(s)),
            _ => v,
        }
    });
    env.add_template("report.html", REPORT_HTML).map_err(template_error)?;
    env.add_template("summary.md", SUMMARY_MD).map_err(template_error)?;
    Ok(env)
}

fn template_error(e: TemplateError) -> Error {
    Error::Internal(format!("report template: {e:#}"))
}

/// Render one page (`report.html` or `summary.md`) of the findings.
pub(super) fn render(page: &str, findings: &Findings) -> Result<String> {
    let env = environment(findings.address_context.clone())?;
    env.get_template(page).and_then(|t| t.render(Value::from(Serde(findings)))).map_err(template_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_is_escaped_for_its_page() {
        let mut f = Findings::example();
        f.notes = vec!["<script>alert('x')</script> *bold* [link](http://x)".into()];
        let html = render("report.html", &f).unwrap();
        assert!(
            html.contains("<li>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; *bold* [link](http://x)</li>"),
            "{html}"
        );
        assert!(!html.contains("<script>"));
        let md = render("summary.md", &f).unwrap();
        assert!(md.contains(r"- \<script\>alert\(\'x\'\)\</script\> \*bold\* \[link\]\(http://x\)"), "{md}");
        assert!(md.starts_with("# trailflow investigation\n\nEvidence: "), "{md}");
    }
}
