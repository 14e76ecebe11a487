//! The SQL surface, as DataFusion-style `.slt` files in `tests/slt/`, run against a lake of the
//! bundled sample data and the real corpus.
//!
//! Format: `query <column types>` then the SQL, `----`, and the expected rows (values separated
//! by a space, NULL for null); or `statement error <text>` then SQL whose error must contain
//! the text. Blank lines end a record; `#` starts a comment.

mod common;


use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use trailflow::ingest::{IngestOptions, ingest};
use trailflow::lake::Lake;
use common::{root};

async fn run(ctx: &datafusion::prelude::SessionContext, sql: &str) -> Result<Vec<String>, String> {
    let batches = trailflow::query::query(ctx, sql).await.map_err(|e| e.to_string())?;
    let opts = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for b in &batches {
        let fmts: Vec<_> = b.columns().iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).unwrap()).collect();
        for i in 0..b.num_rows() {
            rows.push(fmts.iter().map(|f| f.value(i).to_string()).collect::<Vec<_>>().join(" "));
        }
    }
    Ok(rows)
}

#[tokio::test(flavor = "multi_thread")]
async fn slt_files() {
    let lake_dir = tempfile::tempdir().unwrap();
    let mut opts = IngestOptions::new(
        lake_dir.path(),
        vec![root().join("sample-data"), root().join("tests/data/real/flowlogs/awsdocs-vpc-user-guide")],
    );
    opts.threads = Some(2);
    ingest(&opts).unwrap();
    let lake = Lake::open(lake_dir.path()).unwrap();
    let ctx = trailflow::session::session(Some(&lake), &Default::default()).await.unwrap();
    let mut files: Vec<_> = std::fs::read_dir(root().join("tests/slt")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut checked = 0;
    let mut failures: Vec<String> = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        for record in text.split("\n\n") {
            let lines: Vec<&str> = record.lines().filter(|l| !l.trim_start().starts_with('#')).collect();
            let Some(head) = lines.first() else { continue };
            if let Some(want) = head.strip_prefix("statement error") {
                let sql = lines[1..].join("\n");
                let err = run(&ctx, &sql).await.expect_err(&format!("{name}: expected an error from {sql}"));
                assert!(err.to_lowercase().contains(&want.trim().to_lowercase()), "{name}: {sql}: {err}");
            } else if head.starts_with("query") {
                let sep = lines
                    .iter()
                    .position(|l| l.trim() == "----")
                    .unwrap_or_else(|| panic!("{name}: no ---- in {record}"));
                let sql = lines[1..sep].join("\n");
                let want: Vec<String> = lines[sep + 1..].iter().map(|l| l.trim().to_string()).collect();
                match run(&ctx, &sql).await {
                    Ok(got) if got == want => {}
                    Ok(got) => failures.push(format!("{name}: {sql}\n  want {want:?}\n  got  {got:?}")),
                    Err(e) => failures.push(format!("{name}: {sql}: {e}")),
                }
            } else {
                panic!("{name}: unknown record {head}");
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked > 20, "{checked}");
}
