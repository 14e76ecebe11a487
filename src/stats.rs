//! `trailflow stats`: what a lake holds.

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{Int64Type, TimestampMicrosecondType};
use datafusion::prelude::SessionContext;
use serde::Serialize;

use crate::error::Result;
use crate::lake::Lake;
use crate::query;
use crate::schema::{self, TABLES};
use crate::time::fmt_time;

#[derive(Debug, Serialize)]
pub struct TableStats {
    pub table: String,
    pub rows: i64,
    pub files: usize,
    pub bytes: u64,
    pub first_time: Option<String>,
    pub last_time: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Stats {
    pub lake: String,
    pub tables: Vec<TableStats>,
    pub accounts: Vec<String>,
    pub regions: Vec<String>,
    pub vpcs: Vec<String>,
    pub interfaces: usize,
}

async fn distinct(ctx: &SessionContext, parts: &[(&str, &str)]) -> Result<Vec<String>> {
    let mut selects = Vec::new();
    for (table, column) in parts {
        if ctx.table_exist(*table)? {
            selects.push(format!("SELECT {column} AS v FROM {table} WHERE {column} IS NOT NULL"));
        }
    }
    if selects.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT DISTINCT v FROM ({}) ORDER BY v", selects.join(" UNION ALL "));
    let mut out = Vec::new();
    for b in query::query(ctx, &sql).await? {
        let c = datafusion::arrow::compute::cast(b.column(0), &datafusion::arrow::datatypes::DataType::Utf8)?;
        let c = c.as_string::<i32>();
        out.extend((0..c.len()).map(|i| c.value(i).to_string()));
    }
    Ok(out)
}

pub async fn stats(lake: &Lake) -> Result<Stats> {
    let ctx = crate::session::session(Some(lake), &Default::default()).await?;
    let mut tables = Vec::new();
    for table in TABLES {
        // A lake written by an earlier version may lack a newer table.
        if !ctx.table_exist(*table)? {
            continue;
        }
        let files = lake.table_files(table)?;
        let bytes = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        let t = schema::time_column(table);
        let b = query::query(&ctx, &format!("SELECT COUNT(*), MIN({t}), MAX({t}) FROM {table}")).await?;
        let (mut rows, mut first, mut last) = (0, None, None);
        if let Some(b) = b.first().filter(|b| b.num_rows() > 0) {
            rows = b.column(0).as_primitive::<Int64Type>().value(0);
            let mn = b.column(1).as_primitive::<TimestampMicrosecondType>();
            let mx = b.column(2).as_primitive::<TimestampMicrosecondType>();
            first = mn.is_valid(0).then(|| fmt_time(mn.value(0)));
            last = mx.is_valid(0).then(|| fmt_time(mx.value(0)));
        }
        tables.push(TableStats {
            table: table.to_string(),
            rows,
            files: files.len(),
            bytes,
            first_time: first,
            last_time: last,
        });
    }
    let accounts = distinct(
        &ctx,
        &[("cloudtrail", "recipient_account_id"), ("flow_logs", "account_id"), ("inventory", "account_id")],
    )
    .await?;
    let regions =
        distinct(&ctx, &[("cloudtrail", "aws_region"), ("flow_logs", "region"), ("inventory", "region")]).await?;
    let vpcs = distinct(&ctx, &[("flow_logs", "vpc_id"), ("inventory", "vpc_id")]).await?;
    let interfaces = distinct(&ctx, &[("flow_logs", "interface_id")]).await?.len();
    Ok(Stats { lake: lake.root.display().to_string(), tables, accounts, regions, vpcs, interfaces })
}

impl Stats {
    pub fn render(&self) -> String {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED);
        t.set_header(vec!["table", "rows", "files", "bytes", "first", "last"]);
        for s in &self.tables {
            t.add_row(vec![
                s.table.clone(),
                s.rows.to_string(),
                s.files.to_string(),
                s.bytes.to_string(),
                s.first_time.clone().unwrap_or_default(),
                s.last_time.clone().unwrap_or_default(),
            ]);
        }
        let list = |v: &[String]| {
            if v.is_empty() { "-".to_string() } else { v.join(", ") }
        };
        format!(
            "lake        {}\n{t}\naccounts    {}\nregions     {}\nvpcs        {}\ninterfaces  {}\n",
            self.lake,
            list(&self.accounts),
            list(&self.regions),
            list(&self.vpcs),
            self.interfaces
        )
    }
}
