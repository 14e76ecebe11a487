//! Writing results: a query's or a DataFrame's batches streamed into a format, to a file or the
//! screen.

use std::io::Write;

use futures::StreamExt;
use trailflow::output::{Format, Sink, Stdout};

/// Run a read-only query and write its result batch by batch.
pub async fn stream_query(
    ctx: &datafusion::prelude::SessionContext,
    sql: &str,
    format: Format,
    output: Option<&std::path::Path>,
    screen: trailflow::output::Screen,
) -> anyhow::Result<()> {
    let df = trailflow::query::user_sql(ctx, sql).await?;
    stream_dataframe(df, format, output, screen).await
}

/// Run a DataFrame and write its result batch by batch.
pub async fn stream_dataframe(
    df: datafusion::prelude::DataFrame,
    format: Format,
    output: Option<&std::path::Path>,
    screen: trailflow::output::Screen,
) -> anyhow::Result<()> {
    let schema = df.schema().inner().clone();
    let mut stream = df.execute_stream().await?;
    let mut sink = Sink::new(format, schema, open_output(output)?)?;
    if output.is_none() {
        sink = sink.on_screen(screen);
    }
    while let Some(batch) = stream.next().await {
        sink.write(&batch?)?;
    }
    sink.finish()?;
    Ok(())
}

/// Where results go: the `-o` file, or stdout.
pub fn open_output(path: Option<&std::path::Path>) -> anyhow::Result<Box<dyn Write + Send>> {
    Ok(match path {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(Stdout)),
    })
}

/// Write one batch in a format.
pub fn write_batch(
    batch: &datafusion::arrow::array::RecordBatch,
    format: Format,
    output: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    let mut sink = Sink::new(format, batch.schema(), open_output(output)?)?;
    if output.is_none() {
        sink = sink.on_screen(trailflow::output::Screen::of_stdout(Some(0)));
    }
    sink.write(batch)?;
    sink.finish()?;
    Ok(())
}
