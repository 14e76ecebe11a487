//! `trailflow-gen`: writes a realistic evidence set with planted incidents (see `generate.rs`).

mod generate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use generate::{GenOptions, generate};

#[derive(Parser)]
#[command(
    name = "trailflow-gen",
    version,
    about = "Generate AWS evidence (CloudTrail, VPC Flow Logs, inventory) with planted NACL incidents"
)]
struct Args {
    /// Output folder.
    #[arg(long, short)]
    out: PathBuf,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Hours of evidence (the planted incidents need 48).
    #[arg(long, default_value_t = 48)]
    hours: i64,
    /// Client connections per web interface per hour (40 for sample-data; about 3700 gives 2 million flow records).
    #[arg(long, default_value_t = 40)]
    web_clients: usize,
    /// Background CloudTrail events per hour and account (30 for sample-data; 1600 gives about 150,000).
    #[arg(long, default_value_t = 30)]
    ct_noise: usize,
    /// Minutes each delivered file covers (AWS delivers every 5; 60 writes few, large files).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(i64).range(1..=60))]
    file_minutes: i64,
    /// AWS's real file count at scale: ten busy account-regions and six flow logs, every file
    /// delivered every --file-minutes (for benches/; not sample-data).
    #[arg(long)]
    real_count: bool,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let opts = GenOptions {
        out: a.out,
        seed: a.seed,
        hours: a.hours.max(48),
        web_clients_per_hour: a.web_clients,
        ct_noise_per_hour: a.ct_noise,
        file_minutes: a.file_minutes,
        real_count: a.real_count,
    };
    match generate(&opts) {
        Ok(truth) => {
            println!("{}", serde_json::to_string_pretty(&truth["counts"]).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trailflow-gen: error: {e}");
            ExitCode::FAILURE
        }
    }
}
