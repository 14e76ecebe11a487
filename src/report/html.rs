//! HTML for `report.html` (rendered from `templates/report.html`) and the charts: the escaping
//! every value gets, and the page's style.

/// Text made safe for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

pub(super) const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:1200px;color:#1b1f24;padding:0 1rem}\
h1{font-size:1.6rem}h2{border-bottom:2px solid #d0d7de;padding-bottom:.3rem;margin-top:2.2rem}\
table{border-collapse:collapse;font-size:.82rem;margin:.6rem 0;display:block;overflow-x:auto;max-width:100%}th,td{border:1px solid #d0d7de;padding:.25rem .45rem;text-align:left;vertical-align:top}\
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}.card{border:1px solid #d0d7de;border-radius:8px;padding:1rem 1.2rem;margin:1.2rem 0}\
.unusual{border-left:8px solid #cf222e}.risky{border-left:8px solid #bf8700}.verdict{font-weight:700}.unusual .verdict{color:#cf222e}.risky .verdict{color:#9a6700}\
dl{display:grid;grid-template-columns:11rem 1fr;gap:.2rem .8rem;margin:.6rem 0}dt{font-weight:600;color:#57606a}dd{margin:0;word-break:break-all}\
.sev-critical{color:#fff;background:#a40e26}.sev-high{color:#fff;background:#cf222e}.sev-medium{background:#fff8c5}.sev-low{background:#ddf4ff}.sev-info{background:#f6f8fa}\
.badge{display:inline-block;padding:0 .4rem;border-radius:4px;font-size:.78rem;font-weight:600}details{margin:.5rem 0}summary{cursor:pointer;font-weight:600}\
code{font-size:.8rem}.muted{color:#57606a}svg{max-width:100%;height:auto}\
td,th{overflow-wrap:anywhere}.nowrap,.badge{white-space:nowrap}table.story td:nth-child(4),table.story td:nth-child(5){min-width:12rem}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc("<script>alert('x')</script>&"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;");
    }
}
