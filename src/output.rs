//! Writing query results: a table for the screen, CSV (escaped against spreadsheet formulas),
//! JSON and NDJSON.

use std::io::Write;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;

use crate::error::Result;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    /// One JSON object per line (`jsonl` is the same).
    #[value(alias = "jsonl")]
    Ndjson,
    Parquet,
    /// One block per row, a line per column (`vertical` is the same): for results wider than the
    /// screen. A table that would not fit a terminal is shown this way on its own.
    #[value(alias = "vertical")]
    Line,
}

/// The file extensions that name a format.
pub const EXTENSIONS: &[(&str, Format)] = &[
    ("csv", Format::Csv),
    ("json", Format::Json),
    ("ndjson", Format::Ndjson),
    ("jsonl", Format::Ndjson),
    ("parquet", Format::Parquet),
    ("txt", Format::Table),
];

impl Format {
    /// The format a file name asks for: `.csv`, `.json`, `.ndjson`/`.jsonl`, `.parquet`, `.txt`.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        let ext = path.extension()?.to_string_lossy().to_ascii_lowercase();
        EXTENSIONS.iter().find(|(e, _)| *e == ext).map(|(_, f)| *f)
    }

    /// The format to write: the one asked for, else the one the output file's extension names,
    /// else the screen table. A file whose extension names no format is refused (rather than
    /// getting a text table under, say, `.xlsx`).
    pub fn choose(asked: Option<Format>, output: Option<&std::path::Path>) -> Result<Format> {
        if let Some(f) = asked {
            return Ok(f);
        }
        let Some(path) = output else {
            return Ok(Format::Table);
        };
        Format::from_path(path).ok_or_else(|| {
            let known: Vec<String> = EXTENSIONS.iter().map(|(e, _)| format!(".{e}")).collect();
            crate::error::Error::Usage(format!(
                "cannot tell the output format of {}: name the file {} or give --format table|csv|json|ndjson|parquet",
                path.display(),
                known.join(", ")
            ))
        })
    }
}

/// Standard output for results. A reader that goes away (`trailflow sql ... | head`) ends the
/// process quietly with success, as other Unix tools do: the output it wanted was written.
pub struct Stdout;

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        quiet_on_closed_pipe(std::io::stdout().write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        quiet_on_closed_pipe(std::io::stdout().flush())
    }
}

fn quiet_on_closed_pipe<T>(r: std::io::Result<T>) -> std::io::Result<T> {
    if r.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe) {
        std::process::exit(0);
    }
    r
}

/// Cut a text to at most `n` characters for an excerpt.
pub fn excerpt(s: &str, n: usize) -> String {
    match s.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// A text from the evidence (a value, a name, a path) made safe for a terminal: every character
/// that would drive it instead of showing (C0 and C1 controls, DEL, line and paragraph breaks,
/// the bidirectional overrides that reorder what is shown) is replaced by a visible stand-in:
/// the Unicode control picture for C0 and DEL (`ESC` shows as `␛`, a line break as `␊`), `<U+XXXX>`
/// for the others. Text without any is returned as it is, without a copy.
pub fn screen_text(s: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}')
    }
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\u{0}'..='\u{1f}' => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('?')),
            '\u{7f}' => out.push('\u{2421}'),
            c if unsafe_char(c) => out.push_str(&format!("<U+{:04X}>", c as u32)),
            c => out.push(c),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// Lines for a terminal: each line of `s` made safe with [`screen_text`], the line breaks between
/// them kept (text trailflow lays out itself, with evidence values inside it).
pub fn screen_lines(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&screen_text(line));
    }
    out
}

/// Longest cell a table shows on a terminal unless `--maxwidth` says otherwise; a longer one is
/// cut and ends in `…`. Files, pipes and the line format get every value whole.
pub const SCREEN_CELL: usize = 80;

/// A cell that a spreadsheet would run as a formula gets a leading `'`.
pub fn escape_formula(s: &str) -> Option<String> {
    matches!(s.as_bytes().first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')).then(|| format!("'{s}"))
}

/// A text column (Utf8, LargeUtf8 or Utf8View) as plain `Utf8`; `None` for other columns.
fn as_text(c: &ArrayRef) -> Result<Option<StringArray>> {
    Ok(match c.data_type() {
        DataType::Utf8 => Some(c.as_string::<i32>().clone()),
        DataType::LargeUtf8 | DataType::Utf8View => {
            Some(datafusion::arrow::compute::cast(c, &DataType::Utf8)?.as_string::<i32>().clone())
        }
        _ => None,
    })
}

/// Rewrite the text columns of a batch with `f` (their type becomes `Utf8`); other columns stay.
fn map_text(batch: &RecordBatch, f: impl Fn(&StringArray) -> Option<StringArray>) -> Result<RecordBatch> {
    use datafusion::arrow::datatypes::{Field, Schema};
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
    let mut fields: Vec<Field> = Vec::with_capacity(batch.num_columns());
    for (c, field) in batch.columns().iter().zip(batch.schema().fields()) {
        match as_text(c)? {
            Some(text) => {
                let out = f(&text).unwrap_or(text);
                fields.push(field.as_ref().clone().with_data_type(DataType::Utf8));
                cols.push(Arc::new(out));
            }
            None => {
                fields.push(field.as_ref().clone());
                cols.push(c.clone());
            }
        }
    }
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn escape_batch(batch: &RecordBatch) -> Result<RecordBatch> {
    map_text(batch, |s| {
        s.iter()
            .flatten()
            .any(|v| escape_formula(v).is_some())
            .then(|| s.iter().map(|v| v.map(|v| escape_formula(v).unwrap_or_else(|| v.to_string()))).collect())
    })
}

/// Text for a table: controls made visible, and with `cut`, cells longer than that many characters
/// cut (ending in `…`).
fn screen_batch(batch: &RecordBatch, cut: Option<usize>) -> Result<RecordBatch> {
    map_text(batch, |s| {
        Some(
            s.iter()
                .map(|v| {
                    v.map(|v| match cut {
                        Some(n) => excerpt(&screen_text(v), n),
                        None => screen_text(v).into_owned(),
                    })
                })
                .collect(),
        )
    })
}

pub use crate::error::one_line;

/// Where result batches go, one batch at a time (only the screen table is gathered, to size its
/// columns).
pub enum Sink {
    Table { batches: Vec<RecordBatch>, out: Box<dyn Write + Send>, screen: Screen, vertical: bool },
    Csv(datafusion::arrow::csv::Writer<Box<dyn Write + Send>>),
    Json(datafusion::arrow::json::ArrayWriter<Box<dyn Write + Send>>, bool),
    Ndjson(datafusion::arrow::json::LineDelimitedWriter<Box<dyn Write + Send>>),
    Parquet(datafusion::parquet::arrow::ArrowWriter<Box<dyn Write + Send>>),
}

impl Sink {
    pub fn new(
        format: Format,
        schema: datafusion::arrow::datatypes::SchemaRef,
        out: Box<dyn Write + Send>,
    ) -> Result<Sink> {
        Ok(match format {
            Format::Table => Sink::Table { batches: Vec::new(), out, screen: Screen::default(), vertical: false },
            Format::Line => Sink::Table { batches: Vec::new(), out, screen: Screen::default(), vertical: true },
            Format::Csv => Sink::Csv(datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(out)),
            Format::Json => Sink::Json(datafusion::arrow::json::ArrayWriter::new(out), false),
            Format::Ndjson => Sink::Ndjson(datafusion::arrow::json::LineDelimitedWriter::new(out)),
            Format::Parquet => {
                let props = datafusion::parquet::file::properties::WriterProperties::builder()
                    .set_compression(datafusion::parquet::basic::Compression::ZSTD(Default::default()))
                    .build();
                // Text is written as plain strings, which every Parquet reader knows, whatever
                // string layout the query produced.
                let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(
                    schema
                        .fields()
                        .iter()
                        .map(|f| match f.data_type() {
                            DataType::LargeUtf8 | DataType::Utf8View => {
                                f.as_ref().clone().with_data_type(DataType::Utf8)
                            }
                            _ => f.as_ref().clone(),
                        })
                        .collect::<Vec<_>>(),
                ));
                Sink::Parquet(datafusion::parquet::arrow::ArrowWriter::try_new(out, schema, Some(props))?)
            }
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        match self {
            Sink::Table { batches, screen, vertical, .. } => {
                // Rows past the screen's limit are counted, not kept.
                let kept: usize = batches.iter().map(|b| b.num_rows()).sum();
                screen.rows += batch.num_rows();
                let room = screen.max_rows.map_or(usize::MAX, |m| m.saturating_sub(kept));
                if room > 0 {
                    // The line format shows every value whole, a row at a time.
                    let cut = if *vertical { None } else { screen.max_cell };
                    batches.push(screen_batch(&batch.slice(0, batch.num_rows().min(room)), cut)?);
                }
            }
            Sink::Csv(w) => w.write(&escape_batch(batch)?)?,
            Sink::Json(w, any) => {
                *any = true;
                w.write(batch)?
            }
            Sink::Ndjson(w) => w.write(batch)?,
            Sink::Parquet(w) => w.write(&map_text(batch, |_| None)?)?,
        }
        Ok(())
    }

    pub fn finish(self) -> Result<()> {
        match self {
            Sink::Table { batches, mut out, screen, vertical } => {
                let shown: usize = batches.iter().map(|b| b.num_rows()).sum();
                let rows = screen.rows;
                let mut note = Vec::new();
                if !batches.is_empty() {
                    let table = datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
                    let wide =
                        screen.width.is_some_and(|w| table.lines().next().is_some_and(|l| l.chars().count() > w));
                    if vertical || wide {
                        write!(out, "{}", vertical_text(&batches)?)?;
                        if wide && !vertical {
                            note.push(
                                "shown a row at a time: the table is wider than the screen; --format table keeps it"
                                    .to_string(),
                            );
                        }
                    } else {
                        writeln!(out, "{table}")?;
                    }
                }
                if shown < rows {
                    note.push(format!("{shown} shown; --maxrows 0 shows all"));
                }
                if let Some(n) = screen.max_cell.filter(|_| !vertical)
                    && batches.iter().any(|b| cut_any(b, n))
                {
                    note.push(format!(
                        "values longer than {n} characters cut at …; --maxwidth 0 or --format line shows them whole"
                    ));
                }
                let note = if note.is_empty() { String::new() } else { format!(" ({})", note.join("; ")) };
                writeln!(out, "{rows} row{}{note}", if rows == 1 { "" } else { "s" })?;
                out.flush()?;
            }
            Sink::Csv(w) => w.into_inner().flush()?,
            Sink::Json(mut w, any) => {
                w.finish()?;
                // The writer opens and closes the array itself, even when no row came.
                let _ = any;
                let mut out = w.into_inner();
                out.write_all(b"\n")?;
                out.flush()?;
            }
            Sink::Ndjson(mut w) => {
                w.finish()?;
                w.into_inner().flush()?;
            }
            Sink::Parquet(w) => {
                w.into_inner()?.flush()?;
            }
        }
        Ok(())
    }
}

/// How a table is fitted to the screen it goes to: the screen's width (a table wider than it is
/// shown a row at a time), how many rows it shows and how long a cell may be; none of these for a
/// file or a pipe.
#[derive(Debug, Clone, Copy, Default)]
pub struct Screen {
    pub width: Option<usize>,
    pub max_rows: Option<usize>,
    /// Longest cell shown ([`SCREEN_CELL`] on a terminal; `--maxwidth`).
    pub max_cell: Option<usize>,
    /// Rows seen (shown or not).
    rows: usize,
}

/// Rows a table shows on a terminal unless `--maxrows` says otherwise (as the DuckDB shell).
pub const SCREEN_ROWS: usize = 40;

impl Screen {
    /// The screen standard output is, if it is one: its width (or `COLUMNS` when set), and
    /// `max_rows` (`Some(0)`: all; `None`: [`SCREEN_ROWS`] on a terminal, all elsewhere).
    pub fn of_stdout(max_rows: Option<usize>) -> Screen {
        Screen::of_stdout_cut(max_rows, None)
    }

    /// [`Screen::of_stdout`] with `max_width` the longest cell shown (`Some(0)`: whole; `None`:
    /// [`SCREEN_CELL`] on a terminal, whole elsewhere).
    pub fn of_stdout_cut(max_rows: Option<usize>, max_width: Option<usize>) -> Screen {
        use std::io::IsTerminal;
        let terminal = std::io::stdout().is_terminal();
        let columns = std::env::var("COLUMNS").ok().and_then(|c| c.trim().parse::<usize>().ok()).filter(|c| *c > 0);
        let width = columns
            .or_else(|| terminal.then(|| console::Term::stdout().size_checked().map(|(_, c)| c as usize)).flatten());
        let max_rows = match max_rows {
            Some(0) => None,
            Some(n) => Some(n),
            None if terminal => Some(SCREEN_ROWS),
            None => None,
        };
        let max_cell = match max_width {
            Some(0) => None,
            Some(n) => Some(n),
            None if terminal => Some(SCREEN_CELL),
            None => None,
        };
        Screen { width, max_rows, max_cell, rows: 0 }
    }
}

impl Screen {
    /// The table kept a table however wide (asked for by name).
    pub fn keep_table(self) -> Screen {
        Screen { width: None, ..self }
    }
}

impl Sink {
    /// Fit a table (or the line format) to a screen; other formats are written whole.
    pub fn on_screen(mut self, s: Screen) -> Sink {
        if let Sink::Table { screen, .. } = &mut self {
            *screen = s;
        }
        self
    }
}

/// Was a cell of this (screen) batch cut?
fn cut_any(batch: &RecordBatch, n: usize) -> bool {
    batch.columns().iter().any(|c| {
        c.as_string_opt::<i32>()
            .is_some_and(|s| s.iter().flatten().any(|v| v.ends_with('…') && v.chars().count() == n + 1))
    })
}

/// Rows one block each, a line per column: `-[ row 1 ]-` then `name | value`.
fn vertical_text(batches: &[RecordBatch]) -> Result<String> {
    use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
    let mut out = String::new();
    let mut n = 0;
    for b in batches {
        let names: Vec<String> = b.schema().fields().iter().map(|f| f.name().clone()).collect();
        let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
        let options = FormatOptions::default().with_null("");
        let cols: Vec<ArrayFormatter> = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<_, _>>()?;
        for r in 0..b.num_rows() {
            n += 1;
            out.push_str(&format!("-[ row {n} ]{}\n", "-".repeat(width.saturating_sub(4).max(8))));
            for (name, col) in names.iter().zip(&cols) {
                out.push_str(&format!("{name:<width$} | {}\n", col.value(r)));
            }
        }
    }
    Ok(out)
}

/// Write batches in a format.
pub fn write(format: Format, batches: &[RecordBatch], out: Box<dyn Write + Send>) -> Result<()> {
    let schema = match batches.first() {
        Some(b) => b.schema(),
        None => Arc::new(datafusion::arrow::datatypes::Schema::empty()),
    };
    let mut sink = Sink::new(format, schema, out)?;
    for b in batches {
        sink.write(b)?;
    }
    sink.finish()
}

/// A batch as a JSON array of row objects (for results that go inside a larger JSON document).
pub fn batch_json(batch: &RecordBatch) -> Result<serde_json::Value> {
    let mut w = datafusion::arrow::json::ArrayWriter::new(Vec::new());
    w.write(batch)?;
    w.finish()?;
    let bytes = w.into_inner();
    Ok(if bytes.is_empty() {
        serde_json::Value::Array(Vec::new())
    } else {
        serde_json::from_slice(&bytes).map_err(|e| crate::error::Error::Internal(e.to_string()))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_escaped() {
        assert_eq!(escape_formula("=cmd|' /C calc'!A0").as_deref(), Some("'=cmd|' /C calc'!A0"));
        assert_eq!(escape_formula("-1"), Some("'-1".to_string()));
        assert_eq!(escape_formula("10.0.0.1"), None);
    }
}
