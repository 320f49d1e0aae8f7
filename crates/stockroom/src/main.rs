//! `stockroom`: argument parsing and wiring; the work happens in the library crates.

mod assets;
mod blocklist;
mod config;
mod control;
mod ingest;
mod maintenance;
mod members;
mod migrate;
mod open;
mod progress;
mod search;
mod serve;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use config::{Config, Overrides};
use open::Purpose;
use stockroom_platform::manifest::Manifest;
use stockroom_platform::{FileOutcome, fingerprint};

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

    /// Where originals are kept: `s3://bucket/prefix` (endpoint, region and credentials
    /// from the AWS_* variables); unset, in the data directory's blob store.
    #[arg(long, global = true, env = "STOCKROOM_ORIGINALS_URL")]
    originals_url: Option<String>,

    /// Where the catalogue is kept: `postgres://user:password@host:port/database` (the
    /// database must exist; its tables are made on first use); unset, SQLite in the data
    /// directory.
    #[arg(
        long,
        global = true,
        env = "STOCKROOM_CATALOG_URL",
        hide_env_values = true
    )]
    catalog_url: Option<String>,

    /// Where the rate limits every node shares are kept: `redis://host:port/db`; unset,
    /// each node limits on its own (`[guard] redis_url`).
    #[arg(
        long,
        global = true,
        env = "STOCKROOM_REDIS_URL",
        hide_env_values = true
    )]
    redis_url: Option<String>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ingest the bundled corpus into a fresh data directory, show what is stored and how
    /// it is found, create demo members and serve it all over HTTP.
    Demo {
        /// Where to serve (port 0 picks a free one).
        #[arg(long, default_value = serve::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
        /// Stop after the walkthrough instead of serving.
        #[arg(long)]
        no_serve: bool,
    },
    /// Serve the HTTP API, previews and downloads until SIGINT or SIGTERM.
    Serve {
        /// Address to listen on (port 0 picks a free one; the first stdout line names it).
        #[arg(long, default_value = serve::DEFAULT_LISTEN)]
        listen: std::net::SocketAddr,
    },
    /// Store image files (or every image under directories) as assets.
    Ingest {
        /// JSON-lines manifest with each file's title, keywords, author, collection.
        #[arg(long)]
        manifest: Option<PathBuf>,
        /// Credit every file to this author member (their id; their name is the credit),
        /// so that they see its statistics and export it; a manifest entry may name one
        /// with `author_member` instead.
        #[arg(long)]
        author_member: Option<String>,
        /// Files or directories; with none, every file the manifest lists.
        paths: Vec<PathBuf>,
    },
    /// Print each image's hashes as JSON lines: path, pdq, quality, phash, blake3.
    Hash {
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Look up images in the duplicate index: one JSON line per image with its matches.
    Dedup {
        /// PDQ distance (of 256 bits) to report; default from the config (31). The upload
        /// as it is may match 16 bits further; a turned inset must come 8 bits closer.
        #[arg(long)]
        threshold: Option<u32>,
        /// Image files.
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Search active assets by keywords: prints the page as JSON (the shape of
    /// `GET /v1/search`).
    Search(SearchArgs),
    /// Active assets like an asset: those that look alike (PDQ), then those that share
    /// keywords; JSON lines.
    Similar {
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// The asset's id.
        id: String,
    },
    /// Rebuild the search index from the stored assets (the old one serves until the new
    /// one is complete).
    Reindex,
    /// Re-hash every stored record; exits 1 and names each damaged record.
    Verify,
    /// Rewrite live records into fresh segments and reclaim the rest.
    Compact,
    /// Copy the catalogue and the originals from where one configuration keeps them to
    /// where another does (the data directory's SQLite or `catalog.url` in PostgreSQL; the
    /// data directory's blob store or `originals.url` in object storage); resumable, each
    /// original checked against its blake3, each table compared at the end. Not while a
    /// server runs.
    Migrate {
        /// The configuration the catalogue and originals are kept under now.
        #[arg(long)]
        from: PathBuf,
        /// The configuration to keep them under.
        #[arg(long)]
        to: PathBuf,
        /// Delete each original from the old place once the new one holds it (the old
        /// catalogue is left as it was).
        #[arg(long)]
        delete_source: bool,
    },
    /// Count assets and records and measure the data directory.
    Stats,
    /// Administer members: add (prints the id and keys), block, clear, list.
    Members {
        #[command(subcommand)]
        command: members::MembersCommand,
    },
    /// Withdraw, take down or approve an asset as a member (by their key).
    Assets {
        #[command(subcommand)]
        command: assets::AssetsCommand,
    },
    /// The blocklist: import a shared PDQ hash list (as a moderator), or list the entries.
    Blocklist {
        #[command(subcommand)]
        command: blocklist::BlocklistCommand,
    },
}

/// `stockroom search`'s words, filters, sort, page and facets (DESIGN §3).
#[derive(Debug, clap::Args)]
struct SearchArgs {
    /// Words (all must match), "quoted phrases", -exclusions. None lists every asset.
    query: Vec<String>,
    #[arg(long, default_value = "relevance")]
    sort: stockroom_index::Sort,
    #[arg(long, default_value_t = 1)]
    page: u32,
    #[arg(long, default_value_t = stockroom_index::DEFAULT_PER_PAGE)]
    per_page: u32,
    /// Continue after a previous answer's `next` (`--page` then counts on from there).
    #[arg(long)]
    cursor: Option<String>,
    /// Facet fields to count, comma-separated (orientation, color, collection, kind,
    /// editorial, model_release, author).
    #[arg(long, value_delimiter = ',')]
    facets: Vec<stockroom_index::FacetField>,
    #[arg(long)]
    orientation: Option<stockroom_index::Orientation>,
    #[arg(long)]
    color: Option<stockroom_index::Color>,
    #[arg(long)]
    collection: Option<stockroom_vocab::Collection>,
    #[arg(long)]
    kind: Option<stockroom_index::Kind>,
    /// An author's id.
    #[arg(long)]
    author: Option<String>,
    #[arg(long)]
    editorial: Option<bool>,
    #[arg(long)]
    model_release: Option<bool>,
    /// Has a property release.
    #[arg(long)]
    property_release: Option<bool>,
    #[arg(long)]
    min_width: Option<u32>,
    #[arg(long)]
    min_height: Option<u32>,
    /// Created at or after, Unix seconds.
    #[arg(long)]
    created_from: Option<i64>,
    /// Created before, Unix seconds.
    #[arg(long)]
    created_to: Option<i64>,
}

impl SearchArgs {
    fn request(self) -> stockroom_index::SearchRequest {
        stockroom_index::SearchRequest {
            query: self.query.join(" "),
            filters: stockroom_index::Filters {
                orientation: self.orientation,
                color: self.color,
                collection: self.collection,
                editorial: self.editorial,
                model_release: self.model_release,
                property_release: self.property_release,
                author: self.author,
                min_width: self.min_width,
                min_height: self.min_height,
                kind: self.kind,
                created_from: self.created_from,
                created_to: self.created_to,
            },
            sort: self.sort,
            page: self.page,
            per_page: self.per_page,
            facets: self.facets,
            cursor: self.cursor,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // What the data directory holds (members, licences, logs, keys) is for this user only:
    // files are created 0600 and directories 0700, whatever the shell's umask.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    // Decoders reuse their large buffers instead of faulting in fresh pages per image.
    stockroom_render::keep_decode_buffers();
    match run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::from(2)
        }
    }
}

/// Logs to stderr at the levels `RUST_LOG` names (`info` unless set; `debug` adds a line
/// per request with its id, route, status and latency).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

fn run(cli: Cli) -> Result<ExitCode> {
    let overrides = Overrides {
        data_dir: cli.data,
        segment_size: cli.segment_size,
        max_upload_bytes: cli.max_upload_size,
        originals_url: cli.originals_url,
        catalog_url: cli.catalog_url,
        redis_url: cli.redis_url,
    };
    let interactive = std::io::stderr().is_terminal();
    match cli.command {
        Command::Demo { listen, no_serve } => demo(
            cli.config,
            overrides,
            interactive,
            (!no_serve).then_some(listen),
        ),
        Command::Serve { listen } => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            serve::run_on(&config, serve::bind(listen)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Ingest {
            manifest,
            author_member,
            paths,
        } => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            let manifest = manifest.as_deref().map(Manifest::load).transpose()?;
            let platform = open::platform(&config, Purpose::Ingest)?;
            let reports = ingest::run(
                &platform,
                manifest.as_ref(),
                author_member.as_deref(),
                &paths,
                interactive,
            )?;
            print_ingest(&reports)
        }
        Command::Hash { images } => hash(&images),
        Command::Dedup { threshold, images } => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            dedup(&config, threshold, &images)
        }
        Command::Search(args) => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            search::search(&open::platform(&config, Purpose::Read)?, &args.request())
        }
        Command::Similar { limit, id } => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            let id: stockroom_vocab::AssetId = id
                .parse()
                .with_context(|| format!("{id:?} is not an asset id"))?;
            search::similar(&open::platform(&config, Purpose::Read)?, id, limit)
        }
        Command::Reindex => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            let platform = open::platform(&config, Purpose::Reindex)?;
            let report = search::reindex(&platform, interactive)?;
            println!("{}", serde_json::to_string(&report)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            maintenance::verify(&config, interactive)
        }
        Command::Compact => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            maintenance::compact(&config)
        }
        Command::Migrate {
            from,
            to,
            delete_source,
        } => {
            let from = Config::load(Some(&from), Overrides::default())?;
            let to = Config::load(Some(&to), Overrides::default())?;
            migrate::run(&from, &to, delete_source, interactive)
        }
        Command::Members { command } => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            members::run(&config, command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Assets { command } => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            assets::run(&config, command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Blocklist { command } => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            blocklist::run(&config, command)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Stats => {
            let config = Config::load(cli.config.as_deref(), overrides)?;
            maintenance::stats(&config)
        }
    }
}

/// Hashes each image (within the upload limit `max_bytes`) on every CPU with `hash` and
/// prints the line `line` makes of it, or an error line, in the order given, each as soon
/// as the lines before it are printed; exits 1 if any image could not be hashed.
fn print_per_image<Hashed: Send>(
    images: &[PathBuf],
    max_bytes: u64,
    hash: impl Fn(&[u8]) -> stockroom_platform::Result<Hashed> + Sync,
    line: impl Fn(&std::path::Path, &Hashed) -> serde_json::Value,
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let mut failed = false;
    fingerprint::hash_files_in_order(images, max_bytes, hash, |path, hashed| {
        let value = match hashed {
            Ok(hashed) => line(path, &hashed),
            Err(error) => {
                failed = true;
                serde_json::json!({ "path": path, "error": stockroom_platform::error::one_line(&error) })
            }
        };
        serde_json::to_writer(&mut *out, &value)?;
        writeln!(out)?;
        out.flush()
    })?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `stockroom hash`: `{"path", "pdq", "quality", "phash", "blake3"}` per image.
fn hash(images: &[PathBuf]) -> Result<ExitCode> {
    let limits = stockroom_render::Limits::default();
    print_per_image(
        images,
        limits.max_file_bytes,
        |bytes| Ok(fingerprint::print_bytes(bytes, &limits)?),
        |path, printed| serde_json::json!(HashLine::new(path.to_path_buf(), printed)),
        &mut std::io::stdout().lock(),
    )
}

/// `stockroom dedup`: `{"query", "quality", "reliable", "matches": [...]}` per image. While
/// a server runs, asks it.
fn dedup(config: &Config, threshold: Option<u32>, images: &[PathBuf]) -> Result<ExitCode> {
    // The store's lock keeps an ingest from appending to the index while we read it.
    let platform = match open::platform(config, Purpose::Read) {
        Ok(platform) => platform,
        Err(error) => {
            let request = control::Request::Dedup {
                threshold,
                images: control::absolute(images)?,
            };
            return control::or_ask(config, error, request);
        }
    };
    dedup_with(
        &platform,
        config,
        threshold,
        images,
        &mut std::io::stdout().lock(),
    )
}

/// [`dedup`] over an open platform (the CLI's, or a running server's).
fn dedup_with(
    platform: &stockroom_platform::Platform,
    config: &Config,
    threshold: Option<u32>,
    images: &[PathBuf],
    out: &mut dyn Write,
) -> Result<ExitCode> {
    let threshold = threshold.unwrap_or(config.dedup_threshold);
    print_per_image(
        images,
        config.max_upload_bytes,
        |bytes| platform.duplicates_within(bytes, threshold),
        |path, report| {
            serde_json::json!({
                "query": path,
                "quality": report.quality,
                "reliable": report.reliable,
                "matches": report.matches,
            })
        },
        out,
    )
}

/// The line `stockroom hash` prints per image (DESIGN §3).
#[derive(Debug, serde::Serialize)]
struct HashLine {
    path: PathBuf,
    pdq: String,
    quality: u8,
    phash: String,
    blake3: String,
}

impl HashLine {
    fn new(path: PathBuf, printed: &fingerprint::Printed) -> HashLine {
        HashLine {
            path,
            pdq: printed.pdq.hash.to_string(),
            quality: printed.pdq.quality,
            phash: stockroom_phash::phash_hex(printed.phash),
            blake3: printed.blake3.to_hex().to_string(),
        }
    }
}

/// Prints one JSON line per file and a summary; fails if any file failed.
fn print_ingest(reports: &[ingest::FileReport]) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let (mut stored, mut pending, mut duplicates, mut failed) = (0, 0, 0, 0);
    for report in reports {
        serde_json::to_writer(&mut out, report)?;
        writeln!(out)?;
        match report.outcome {
            FileOutcome::Stored { .. } => stored += 1,
            FileOutcome::Pending { .. } => pending += 1,
            FileOutcome::Duplicate { .. } => duplicates += 1,
            FileOutcome::Failed { .. } | FileOutcome::Skipped { .. } => failed += 1,
        }
    }
    out.flush()?;
    eprintln!(
        "ingest: {stored} stored, {pending} held for review as near duplicates, \
         {duplicates} already stored, {failed} not stored"
    );
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
    listen: Option<std::net::SocketAddr>,
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
    let reports = {
        let platform = open::platform(&config, Purpose::Ingest)?;
        ingest::run(&platform, Some(&manifest), None, &[], interactive)?
    };
    let code = print_ingest(&reports)?;
    println!("\n$ stockroom verify");
    maintenance::verify(&config, interactive)?;
    println!("\n$ stockroom stats");
    maintenance::stats(&config)?;
    let sample = manifest.files().first().cloned();
    if let Some(sample) = &sample {
        println!("\n$ stockroom hash {}", sample.display());
        hash(std::slice::from_ref(sample))?;
        println!("\n$ stockroom dedup {}", sample.display());
        dedup(&config, None, std::slice::from_ref(sample))?;
    }
    println!("\n$ stockroom search --per-page 2 --facets collection,color blumen");
    let request = stockroom_index::SearchRequest {
        query: "blumen".into(),
        per_page: 2,
        facets: vec![
            stockroom_index::FacetField::Collection,
            stockroom_index::FacetField::Color,
        ],
        ..stockroom_index::SearchRequest::default()
    };
    search::search(&open::platform(&config, Purpose::Read)?, &request)?;
    let Some(listen) = listen else {
        return Ok(code);
    };
    let keys = members::demo_members(&config)?;
    let (photo, asset) = reports
        .iter()
        .find_map(|report| match &report.outcome {
            FileOutcome::Stored { id } => Some((report.path.clone(), id.to_string())),
            _ => None,
        })
        .context("the demo stored no asset")?;
    let listener = serve::bind(listen)?;
    let address = listener.local_addr()?;
    print!(
        "{}",
        demo_examples(&format!("http://{address}"), &asset, &photo, &keys)
    );
    std::io::stdout().flush()?;
    serve::run_on(&config, listener)?;
    Ok(code)
}

/// Working requests against the demo server, with the demo members' keys (`demo.txt`,
/// whose `{name}`s are filled in here).
fn demo_examples(
    base: &str,
    asset: &str,
    photo: &std::path::Path,
    keys: &members::DemoKeys,
) -> String {
    let fills = [
        ("{registered}", keys.registered.as_str()),
        ("{unlimited_owner}", &keys.unlimited_owner),
        ("{unlimited_seat}", &keys.unlimited_seat),
        ("{author}", &keys.author),
        ("{moderator}", &keys.moderator),
        ("{base}", base),
        ("{asset}", asset),
        ("{photo}", &photo.display().to_string()),
    ];
    let text = fills.iter().fold(
        include_str!("demo.txt").to_string(),
        |text, (name, value)| text.replace(name, value),
    );
    format!("\n{text}")
}
