//! The library's error type: one enum, one `Result` alias, and the one place that turns an error
//! into what the user sees (a line of text and an exit status: [`Error::exit_code`]).
//!
//! Each family is a variant, so a caller can act on it (the command line exits 2 on a bad
//! argument, the shell keeps going after a bad query, a test asks for the family) and every
//! message says what to do. Errors from the crates underneath keep their type.

use std::path::PathBuf;

/// Exit status of a command that could not do its work (nothing was changed).
pub const EXIT_FATAL: u8 = 1;
/// Exit status of a bad argument or setting, as for the command line's own usage errors.
pub const EXIT_USAGE: u8 = 2;

/// Everything that can go wrong inside trailflow's library.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    PlainIo(#[from] std::io::Error),
    #[error(transparent)]
    Arrow(#[from] datafusion::arrow::error::ArrowError),
    #[error(transparent)]
    Parquet(#[from] datafusion::parquet::errors::ParquetError),
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    #[error("the lake at {0} is being written by another trailflow process; wait for it to finish")]
    LakeLocked(PathBuf),
    #[error(
        "no lake at {0}: run `trailflow ingest INPUT... --lake {0}` first, or point --lake / TRAILFLOW_LAKE at an \
            existing lake"
    )]
    NoLake(PathBuf),
    #[error("input not found: {0}")]
    InputNotFound(PathBuf),
    /// Evidence that cannot be read: the file (and line or record, where known) and why.
    #[error("{at}: {why}")]
    BadInput { at: String, why: String },
    /// A query, search expression, hunt or rule the user gave that cannot run as written.
    #[error("{0}")]
    BadQuery(String),
    /// A command-line argument, option value or environment setting that is wrong.
    #[error("{0}")]
    Usage(String),
    /// The lake on disk is not as this build expects (a damaged file, a folder out of place, a
    /// table or column missing).
    #[error("{0}")]
    Lake(String),
    /// A bound of `limits` reached: the work was refused rather than exhausting the machine.
    #[error("{0}")]
    Limit(String),
    /// The cluster could not be reached or answered wrongly.
    #[error("cluster: {0}")]
    Cluster(String),
    /// One of trailflow's own threads or invariants failed: a bug to report.
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// Attach a path to an I/O error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    /// Bad evidence at `at` (a file, `file:line` or `file record N`).
    pub fn bad_input(at: impl std::fmt::Display, why: impl std::fmt::Display) -> Self {
        Error::BadInput { at: at.to_string(), why: why.to_string() }
    }

    /// The exit status the command line ends with on this error: [`EXIT_USAGE`] for a bad
    /// argument or setting, [`EXIT_FATAL`] otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => EXIT_USAGE,
            _ => EXIT_FATAL,
        }
    }

    /// The error as the one line the user sees (without the `trailflow: error:` the command line
    /// puts before it).
    pub fn message(&self) -> String {
        one_line(self)
    }

    /// Is this a closed pipe (`trailflow sql ... | head`), which is not an error?
    pub fn is_broken_pipe(&self) -> bool {
        let io = match self {
            Error::Io { source, .. } | Error::PlainIo(source) => Some(source),
            _ => None,
        };
        io.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A message on one line: its lines trimmed and joined by spaces (DataFusion's and serde's errors
/// span several).
pub fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string().lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_family_says_its_line_and_status() {
        let bad = Error::bad_input("AWSLogs/x.json.gz:3", "not JSON");
        assert_eq!(bad.message(), "AWSLogs/x.json.gz:3: not JSON");
        assert_eq!(bad.exit_code(), EXIT_FATAL);
        assert_eq!(Error::Usage("--cluster x: give df://HOST:PORT".into()).exit_code(), EXIT_USAGE);
        assert_eq!(Error::Cluster("no answer\nwithin 10 s".into()).message(), "cluster: no answer within 10 s");
        let pipe = Error::io("out.csv", std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(pipe.is_broken_pipe());
        assert!(!Error::Internal("writer stopped".into()).is_broken_pipe());
    }
}
