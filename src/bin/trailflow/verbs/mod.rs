//! One file per verb: its arguments (`Args`, flattened into `cli::Cmd`) and `run`, which calls the
//! library and prints. A verb gets what every verb shares as an [`App`].

use std::path::PathBuf;

use trailflow::session::{Engine, SessionOptions};

pub mod acl;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod compact;
pub mod completions;
pub mod correlate;
pub mod hunt;
pub mod ingest;
pub mod investigate;
pub mod ioc;
pub mod search;
pub mod shell;
pub mod sql;
pub mod stats;
pub mod timeline;

/// What the global options say, for every verb.
pub struct App {
    /// The lake folder (`--lake`, default ./trailflow-lake).
    pub lake_dir: PathBuf,
    /// The lake as given (`investigate` keeps one per case unless a lake is named).
    pub lake: Option<PathBuf>,
    /// No progress bars (`--quiet`).
    pub quiet: bool,
    /// Where the queries run: this process, or the cluster of `--cluster`. Chosen here, once.
    pub engine: Engine,
    /// Address-context files given (`--aws-ranges`, `--geoip`): recorded in the lake a verb opens.
    pub context: trailflow::enrich::ContextFiles,
}

impl App {
    /// Open the lake of `--lake` for a verb that reads it, recording the address-context files
    /// given, if any, so that this and every later command says the same of an address.
    pub fn open_lake(&self) -> trailflow::error::Result<trailflow::lake::Lake> {
        let lake = trailflow::lake::Lake::open(&self.lake_dir)?;
        lake.record_context(&self.context)?;
        Ok(lake)
    }

    /// The session options every verb starts from: the default correlation span, the whole lake,
    /// on this run's engine.
    pub fn session_opts(&self) -> SessionOptions {
        SessionOptions { engine: self.engine.clone(), ..Default::default() }
    }
}
