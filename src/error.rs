//! The library's error type: one enum, one `Result` alias.

use std::path::PathBuf;

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
        "no lake at {0}: run `trailflow ingest INPUT... --lake {0}` first, or point --lake / TRAILFLOW_LAKE at an existing lake"
    )]
    NoLake(PathBuf),
    #[error("input not found: {0}")]
    InputNotFound(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// Attach a path to an I/O error.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
