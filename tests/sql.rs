//! The SQL surface, as sqllogictest files in `tests/slt/` (the format DataFusion's own tests use:
//! `query <types>` / `statement ok` / `statement error <text>`, `rowsort`, `#` comments), run by
//! the `sqllogictest` crate against a lake of the bundled sample data and the real corpus, in the
//! session every verb queries in. Values print as arrow formats them, NULL as `NULL`.

mod common;

use std::sync::Arc;

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::SessionContext;
use sqllogictest::{DBOutput, DefaultColumnType};
use trailflow::ingest::{IngestOptions, ingest};
use trailflow::lake::Lake;

use common::root;

/// A session as sqllogictest's database.
struct Trailflow(Arc<SessionContext>);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct SqlError(String);

#[async_trait::async_trait]
impl sqllogictest::AsyncDB for Trailflow {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let batches = trailflow::query::query(&self.0, sql).await.map_err(|e| SqlError(e.to_string()))?;
        let opts = FormatOptions::default().with_null("NULL");
        let mut rows = Vec::new();
        let mut columns = 0;
        for b in &batches {
            columns = b.num_columns();
            let fmts: Vec<_> = b
                .columns()
                .iter()
                .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts).map_err(|e| SqlError(e.to_string())))
                .collect::<Result<_, _>>()?;
            for i in 0..b.num_rows() {
                rows.push(fmts.iter().map(|f| f.value(i).to_string()).collect());
            }
        }
        Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; columns], rows })
    }

    async fn shutdown(&mut self) {}

    fn engine_name(&self) -> &str {
        "trailflow"
    }

    async fn sleep(dur: std::time::Duration) {
        tokio::time::sleep(dur).await;
    }
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
    let ctx = Arc::new(trailflow::session::session(Some(&lake), &Default::default()).await.unwrap());
    let mut files: Vec<_> = std::fs::read_dir(root().join("tests/slt")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut records = 0;
    for file in files {
        records += sqllogictest::parse_file::<DefaultColumnType>(&file).unwrap().len();
        let ctx = ctx.clone();
        let mut runner = sqllogictest::Runner::new(move || {
            let ctx = ctx.clone();
            async move { Ok(Trailflow(ctx)) }
        });
        if let Err(e) = runner.run_file_async(&file).await {
            panic!("{}: {}", file.display(), e.display(false));
        }
    }
    assert!(records > 20, "{records}");
}
