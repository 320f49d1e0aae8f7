//! `stockroom`: argument parsing and wiring; the work happens in the library crates.

mod config;
mod ingest;
mod maintenance;
mod manifest;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use config::{Config, Overrides};
use manifest::Manifest;

#[derive(Debug, Parser)]
#[command(
    name = "stockroom",
    version,
    about = "A stock-photo engine: store, search, preview, license"
)]
struct Cli {
    /// Configuration file (TOML); flags and environment variables override it.
    #[arg(long, global = true, env = "STOCKROOM_CONFIG")]
    config: Option<PathBuf>,

    /// Data directory.
    #[arg(long, global = true, env = "STOCKROOM_DATA")]
    data: Option<PathBuf>,

    /// Largest segment file (e.g. 1GiB); also bounds the largest blob.
    #[arg(long, global = true, env = "STOCKROOM_SEGMENT_SIZE")]
    segment_size: Option<String>,

    /// Largest file ingest accepts (e.g. 200MiB).
    #[arg(long, global = true, env = "STOCKROOM_MAX_UPLOAD_SIZE")]
    max_upload_size: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest the bundled corpus into a fresh data directory and show what is stored.
    Demo,
    /// Store image files (or every image under directories) as assets.
    Ingest {
        /// JSON-lines manifest with each file's title, keywords, author, collection.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Files or directories; with none, every file the manifest lists.
        paths: Vec<PathBuf>,
    },
    /// Re-hash every stored record; exits 1 and names each damaged record.
    Verify,
    /// Rewrite live records into fresh segments and reclaim the rest.
    Compact,
    /// Count assets and records and measure the data directory.
    Stats,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let overrides = Overrides {
        data_dir: cli.data,
        segment_size: cli.segment_size,
        max_upload_bytes: cli.max_upload_size,
    };
    let interactive = std::io::stderr().is_terminal();
    match cli.command {
        Command::Demo => demo(cli.config, overrides, interactive),
        Command::Ingest { manifest, paths } => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            let manifest = manifest.as_deref().map(Manifest::load).transpose()?;
            let reports = ingest::run(&config, manifest.as_ref(), &paths, interactive)?;
            print_ingest(&reports)
        }
        Command::Verify => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            maintenance::verify(&config, interactive)
        }
        Command::Compact => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            maintenance::compact(&config)
        }
        Command::Stats => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            maintenance::stats(&config)
        }
    }
}

/// Prints one JSON line per file and a summary; fails if any file failed.
fn print_ingest(reports: &[ingest::FileReport]) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let (mut stored, mut duplicates, mut failed) = (0, 0, 0);
    for report in reports {
        serde_json::to_writer(&mut out, report)?;
        writeln!(out)?;
        match report.outcome {
            ingest::Outcome::Stored { .. } => stored += 1,
            ingest::Outcome::Duplicate { .. } => duplicates += 1,
            ingest::Outcome::Failed { .. } | ingest::Outcome::Skipped { .. } => failed += 1,
        }
    }
    out.flush()?;
    eprintln!("ingest: {stored} stored, {duplicates} already stored, {failed} not stored");
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The bundled corpus: beside the current directory when run from a checkout, else where
/// this binary was built from.
fn corpus_manifest() -> Result<PathBuf> {
    let candidates = [
        PathBuf::from("corpus/manifest.jsonl"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../corpus/manifest.jsonl"),
    ];
    candidates
        .into_iter()
        .find(|path| path.exists())
        .context("cannot find corpus/manifest.jsonl; run the demo from the repository's root")
}

fn demo(
    config_file: Option<PathBuf>,
    mut overrides: Overrides,
    interactive: bool,
) -> Result<ExitCode> {
    if overrides.data_dir.is_none() {
        let dir = tempfile::Builder::new()
            .prefix("stockroom-demo-")
            .tempdir()
            .context("creating a temporary data directory")?;
        overrides.data_dir = Some(dir.keep());
    }
    let config = Config::load(config_file.as_deref(), overrides)?;
    let manifest = Manifest::load(&corpus_manifest()?)?;
    println!(
        "Stockroom demo: data directory {}",
        config.data_dir.display()
    );
    println!("\n$ stockroom ingest --manifest corpus/manifest.jsonl");
    let reports = ingest::run(&config, Some(&manifest), &[], interactive)?;
    let code = print_ingest(&reports)?;
    println!("\n$ stockroom verify");
    maintenance::verify(&config, interactive)?;
    println!("\n$ stockroom stats");
    maintenance::stats(&config)?;
    let data = config.data_dir.display();
    println!(
        "\nTry next:\n  stockroom stats --data {data}\n  stockroom verify --data {data}\n  \
         stockroom ingest --data {data} corpus/photos   # every file is already stored\n\n\
         The HTTP server (search, previews, licences) arrives with the delivery-server work."
    );
    Ok(code)
}
