//! The one typed configuration: defaults, then a TOML file, then environment and flags.
//!
//! Flags and environment variables are read by clap (each flag names its variable), so
//! their precedence over the file is clap's: a flag beats its variable, both beat the file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use stockroom_store::{Store, StoreOptions};

/// Everything the commands need to know, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// The data directory: `blobs/`, `archive/`, `dupes/`, `catalog/`, and later the index.
    pub data_dir: PathBuf,
    /// Largest segment file; also bounds the largest blob.
    pub segment_size: u64,
    /// Largest file `ingest` accepts.
    pub max_upload_bytes: u64,
    /// PDQ distance (of 256 bits) within which an upload is a near duplicate.
    pub dedup_threshold: u32,
    /// The platform's name as attributions credit it (`© <name>/<author>`).
    pub site_name: String,
    /// Base URL of the platform's image pages (`<url>/assets/<id>`), linked by attributions.
    pub site_url: String,
    /// The previews' watermark: the site's name (or `watermark.text`) in the bundled font
    /// (or `watermark.font`), with `watermark.logo` if set.
    pub watermark: stockroom_render::WatermarkOptions,
    /// `stockroom serve`'s limits (`[server]`).
    pub server: stockroom_server::ServerConfig,
    /// Fair use: rate limits, pacing rates, detector thresholds (`[guard]`).
    pub guard: stockroom_guard::GuardConfig,
    /// Download quotas by tier (`[quotas.registered]` and so on).
    pub quotas: stockroom_catalog::Quotas,
    /// Where originals are kept when not in the data directory (`[originals] url`,
    /// `s3://bucket/prefix`).
    pub originals: Option<stockroom_s3::Location>,
    /// Where the catalogue is kept when not in the data directory (`[catalog] url`,
    /// `postgres://…`).
    pub catalog_url: Option<String>,
    /// How many days the catalogue keeps a change in its feed (`[catalog]
    /// feed_retention_days`, default 7): a node away for longer rebuilds its replicas.
    pub feed_retention_days: u32,
}

/// The feed's retention when the file names none.
const DEFAULT_FEED_RETENTION_DAYS: u32 = 7;

/// What the command line (flags or their environment variables) supplied.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub segment_size: Option<String>,
    pub max_upload_bytes: Option<String>,
    pub originals_url: Option<String>,
    pub catalog_url: Option<String>,
    pub redis_url: Option<String>,
}

/// The file's shape (`--config FILE`, TOML). Unknown keys are an error, so typos surface.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    #[serde(default)]
    store: StoreSection,
    #[serde(default)]
    ingest: IngestSection,
    #[serde(default)]
    dedup: DedupSection,
    #[serde(default)]
    site: SiteSection,
    #[serde(default)]
    watermark: WatermarkSection,
    #[serde(default)]
    server: stockroom_server::ServerConfig,
    #[serde(default)]
    guard: stockroom_guard::GuardConfig,
    #[serde(default)]
    quotas: stockroom_catalog::Quotas,
    #[serde(default)]
    originals: OriginalsSection,
    #[serde(default)]
    catalog: CatalogSection,
}

/// `[catalog]`: where members, licences and the ledger are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogSection {
    /// `postgres://user:password@host:port/database`; unset, SQLite in the data directory.
    url: Option<String>,
    /// Days a change stays in the feed (at least 1): a node stopped for longer rebuilds its
    /// search and duplicate replicas from the catalogue when it starts.
    feed_retention_days: Option<u32>,
}

/// `[originals]`: where originals are kept.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OriginalsSection {
    /// `s3://bucket/prefix`; unset, the data directory's blob store.
    url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteSection {
    name: Option<String>,
    url: Option<String>,
}

/// `[watermark]`: what previews carry. Paths are relative to the config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WatermarkSection {
    /// The mark's text; the site's name when unset.
    text: Option<String>,
    /// A PNG with an alpha channel, drawn before the text.
    logo: Option<PathBuf>,
    /// A TrueType or OpenType font instead of the bundled Open Sans Bold.
    font: Option<PathBuf>,
    /// 0–255; 0 turns the watermark off (a private deployment).
    opacity: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DedupSection {
    threshold: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreSection {
    segment_size: Option<Size>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct IngestSection {
    max_upload_size: Option<Size>,
}

/// A byte count written as a number or as text with a unit (`"256MiB"`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Size {
    Bytes(u64),
    Text(String),
}

impl Size {
    fn bytes(&self) -> Result<u64> {
        match self {
            Size::Bytes(bytes) => Ok(*bytes),
            Size::Text(text) => parse_size(text),
        }
    }
}

/// Default segment size: 1 GiB (see `StoreOptions::default`).
const DEFAULT_SEGMENT_SIZE: u64 = 1 << 30;

/// Until a deployment names itself (`[site]` in the config file).
const DEFAULT_SITE_NAME: &str = "stockroom.example";
const DEFAULT_SITE_URL: &str = "https://stockroom.example";

/// Above this, unrelated photos' PDQ hashes start to meet (random pairs sit near 128).
const MAX_DEDUP_THRESHOLD: u32 = 64;

impl Config {
    /// Builds the configuration from an optional file and the command line's overrides.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> Result<Config> {
        let mut from_file = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("config file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        if let Some(base) = file.and_then(Path::parent) {
            let server = &mut from_file.server;
            let watermark = &mut from_file.watermark;
            for path in [
                &mut server.tls_certificates,
                &mut server.tls_key,
                &mut server.token_keys,
                &mut watermark.logo,
                &mut watermark.font,
            ]
            .into_iter()
            .flatten()
            {
                *path = base.join(&*path);
            }
        }
        let data_dir = overrides
            .data_dir
            .or(from_file.data)
            .context("no data directory: pass --data DIR, set STOCKROOM_DATA, or set `data` in the config file")?;
        let segment_size = match overrides.segment_size {
            Some(text) => parse_size(&text).context("--segment-size")?,
            None => match &from_file.store.segment_size {
                Some(size) => size.bytes().context("store.segment_size")?,
                None => DEFAULT_SEGMENT_SIZE,
            },
        };
        let max_upload_bytes = match overrides.max_upload_bytes {
            Some(text) => parse_size(&text).context("--max-upload-size")?,
            None => match &from_file.ingest.max_upload_size {
                Some(size) => size.bytes().context("ingest.max_upload_size")?,
                // Unset, the limit shrinks to fit a small segment rather than conflict with it.
                None => stockroom_platform::DEFAULT_MAX_UPLOAD_BYTES.min(
                    StoreOptions {
                        segment_capacity: segment_size,
                    }
                    .max_blob_len(),
                ),
            },
        };
        let site_name = from_file
            .site
            .name
            .unwrap_or_else(|| DEFAULT_SITE_NAME.into());
        let watermark = watermark(&from_file.watermark, &site_name)?;
        let originals = match overrides.originals_url.or(from_file.originals.url) {
            Some(url) => Some(
                stockroom_s3::Location::parse(&url)
                    .map_err(anyhow::Error::msg)
                    .context("originals.url")?,
            ),
            None => None,
        };
        let catalog_url = overrides.catalog_url.or(from_file.catalog.url);
        let feed_retention_days = from_file
            .catalog
            .feed_retention_days
            .unwrap_or(DEFAULT_FEED_RETENTION_DAYS);
        if feed_retention_days == 0 {
            bail!(
                "catalog.feed_retention_days is 0: a change must stay in the feed at least a day, or running nodes would miss it"
            );
        }
        let mut guard = from_file.guard;
        if let Some(url) = overrides.redis_url {
            guard.redis_url = Some(url);
        }
        if let Some(url) = &catalog_url
            && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
        {
            bail!(
                "catalog.url {} is not a postgres:// URL (unset, the catalogue is SQLite in the data directory)",
                stockroom_catalog::redacted(url)
            );
        }
        let config = Config {
            data_dir,
            segment_size,
            max_upload_bytes,
            dedup_threshold: from_file
                .dedup
                .threshold
                .unwrap_or(stockroom_dupes::DEFAULT_THRESHOLD),
            site_name,
            watermark,
            site_url: from_file
                .site
                .url
                .unwrap_or_else(|| DEFAULT_SITE_URL.into()),
            server: from_file.server,
            guard,
            quotas: from_file.quotas,
            originals,
            catalog_url,
            feed_retention_days,
        };
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<()> {
        if self.site_name.trim().is_empty() {
            bail!("site.name is empty: attributions credit it");
        }
        if !(self.site_url.starts_with("https://") || self.site_url.starts_with("http://")) {
            bail!("site.url {:?} is not an http(s) URL", self.site_url);
        }
        self.server.validate().map_err(anyhow::Error::msg)?;
        self.validate_fair_use()?;
        if self.dedup_threshold > MAX_DEDUP_THRESHOLD {
            bail!(
                "dedup.threshold {} is above {MAX_DEDUP_THRESHOLD}: unrelated photos match past that",
                self.dedup_threshold
            );
        }
        if self.segment_size < stockroom_store::MIN_SEGMENT_CAPACITY {
            bail!(
                "segment size {} is below the minimum of {} bytes",
                self.segment_size,
                stockroom_store::MIN_SEGMENT_CAPACITY
            );
        }
        let max_blob = self.store_options().max_blob_len();
        if self.max_upload_bytes > max_blob {
            bail!(
                "max upload size {} does not fit in a {}-byte segment (at most {max_blob}); raise the segment size",
                self.max_upload_bytes,
                self.segment_size
            );
        }
        Ok(())
    }

    /// The guard's and the quotas' figures: every rate and window positive, every share a
    /// share, each soft quota below its hard one.
    /// The guard's and the quotas' own checks, named as the config file names them.
    fn validate_fair_use(&self) -> Result<()> {
        self.guard.validate().map_err(anyhow::Error::msg)?;
        self.quotas.validate()?;
        Ok(())
    }

    pub fn guard_state(&self) -> PathBuf {
        self.data_dir.join("guard").join("state.json")
    }

    /// Options for the stores in the data directory.
    pub fn store_options(&self) -> StoreOptions {
        StoreOptions {
            segment_capacity: self.segment_size,
        }
    }

    /// Where the catalogue lives (members, licences, the download ledger) when it is
    /// SQLite in the data directory.
    pub fn catalog_dir(&self) -> PathBuf {
        self.data_dir.join("catalog")
    }

    /// [`Config::open_catalog`] for a node starting to serve: while PostgreSQL cannot be
    /// reached (down, restarting, not yet up when the machine boots), it waits for it,
    /// saying so, from 1 s up to every 30 s between attempts, instead of exiting; anything
    /// else (a wrong password, a database a newer build migrated) fails at once.
    pub fn open_catalog_waiting(&self) -> Result<stockroom_catalog::SqlCatalog> {
        let mut pause = std::time::Duration::from_secs(1);
        loop {
            let error = match self.open_catalog() {
                Ok(catalog) => return Ok(catalog),
                Err(error) => error,
            };
            let unreachable = self.catalog_url.is_some()
                && error
                    .downcast_ref::<stockroom_catalog::CatalogError>()
                    .is_some_and(|cause| {
                        cause.class() == stockroom_catalog::ErrorClass::Unavailable
                    });
            if !unreachable {
                return Err(error);
            }
            tracing::warn!(
                %error,
                cause = %error.root_cause(),
                retry_in_secs = pause.as_secs(),
                "the catalogue cannot be reached: waiting for it before serving"
            );
            std::thread::sleep(pause);
            pause = (pause * 2).min(std::time::Duration::from_secs(30));
        }
    }

    /// Opens the catalogue: PostgreSQL at `catalog.url`, or SQLite in the data directory.
    pub fn open_catalog(&self) -> Result<stockroom_catalog::SqlCatalog> {
        match &self.catalog_url {
            Some(url) => stockroom_catalog::SqlCatalog::connect(url, self.catalog_options())
                .with_context(|| {
                    format!(
                        "connecting to the catalogue at {}",
                        stockroom_catalog::redacted(url)
                    )
                }),
            None => {
                let dir = self.catalog_dir();
                stockroom_catalog::SqlCatalog::open(&dir, self.catalog_options())
                    .with_context(|| format!("opening the catalogue in {}", dir.display()))
            }
        }
    }

    /// How to open the catalogue.
    pub fn catalog_options(&self) -> stockroom_catalog::Options {
        stockroom_catalog::Options {
            site: stockroom_catalog::Site {
                name: self.site_name.clone(),
                url: self.site_url.clone(),
            },
            quotas: self.quotas,
            ..stockroom_catalog::Options::default()
        }
    }

    /// Where blobs live.
    pub fn blobs_dir(&self) -> PathBuf {
        self.data_dir.join("blobs")
    }

    /// Opens the store in `dir` (one of the data directory's stores).
    pub fn open_store(&self, dir: &Path) -> Result<Store> {
        Store::open(dir, self.store_options()).with_context(|| format!("opening {}", dir.display()))
    }

    /// Opens the blob store (originals, metadata).
    pub fn open_blobs(&self) -> Result<Store> {
        self.open_store(&self.blobs_dir())
    }

    /// The keyword index (tantivy).
    pub fn index_dir(&self) -> PathBuf {
        self.data_dir.join("index")
    }

    /// The duplicate index's hash file.
    pub fn dupes_file(&self) -> PathBuf {
        self.data_dir.join("dupes").join("hashes")
    }

    /// Where thumbnails of withdrawn assets are kept.
    pub fn archive_dir(&self) -> PathBuf {
        self.data_dir.join("archive")
    }
}

/// The watermark `[watermark]` describes, its font and logo read and checked now (a bad
/// file is a start-up error, not a failed render later).
fn watermark(
    section: &WatermarkSection,
    site_name: &str,
) -> Result<stockroom_render::WatermarkOptions> {
    let defaults = stockroom_render::WatermarkOptions::default();
    let text = section
        .text
        .as_deref()
        .unwrap_or(site_name)
        .trim()
        .to_string();
    if text.chars().count() > stockroom_render::MAX_TEXT_CHARS {
        bail!(
            "watermark.text (or site.name) is longer than {} characters: set a shorter watermark.text",
            stockroom_render::MAX_TEXT_CHARS
        );
    }
    let read = |path: &Path, key: &str| {
        std::fs::read(path).with_context(|| format!("{key}: reading {}", path.display()))
    };
    let font = match &section.font {
        Some(path) => Some(
            stockroom_render::MarkFont::from_bytes(read(path, "watermark.font")?)
                .with_context(|| format!("watermark.font {}", path.display()))?,
        ),
        None => None,
    };
    let logo = match &section.logo {
        Some(path) => Some(
            stockroom_render::Logo::from_png(&read(path, "watermark.logo")?)
                .with_context(|| format!("watermark.logo {}", path.display()))?,
        ),
        None => None,
    };
    Ok(stockroom_render::WatermarkOptions {
        text,
        font,
        logo,
        opacity: section.opacity.unwrap_or(defaults.opacity),
        ..defaults
    })
}

/// Parses `4096`, `64KiB`, `256MiB`, `1GiB` (also `KB`/`MB`/`GB` as powers of 1000).
pub fn parse_size(text: &str) -> Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let number: u64 = digits
        .parse()
        .with_context(|| format!("{text:?} is not a size (try 4096, 64KiB or 1GiB)"))?;
    let multiplier: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => bail!("unknown size unit {other:?} in {text:?} (use KiB, MiB or GiB)"),
    };
    number
        .checked_mul(multiplier)
        .with_context(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("4096").ok(), Some(4096));
        assert_eq!(parse_size("64KiB").ok(), Some(65536));
        assert_eq!(parse_size(" 1GiB ").ok(), Some(1 << 30));
        assert_eq!(parse_size("3MB").ok(), Some(3_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("99999999999GiB").is_err());
    }

    #[test]
    fn flags_beat_the_file_which_beats_defaults() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("stockroom.toml");
        std::fs::write(
            &file,
            "data = \"/from/file\"\n[store]\nsegment_size = \"64MiB\"\n",
        )?;
        let config = Config::load(Some(&file), Overrides::default())?;
        assert_eq!(config.data_dir, PathBuf::from("/from/file"));
        assert_eq!(config.segment_size, 64 << 20);
        assert_eq!(
            config.max_upload_bytes,
            config.store_options().max_blob_len(),
            "an unset upload limit shrinks to fit the segment"
        );
        let overridden = Config::load(
            Some(&file),
            Overrides {
                data_dir: Some("/from/flag".into()),
                segment_size: Some("1GiB".into()),
                max_upload_bytes: None,
                originals_url: None,
                catalog_url: None,
                redis_url: None,
            },
        )?;
        assert_eq!(overridden.data_dir, PathBuf::from("/from/flag"));
        assert_eq!(overridden.segment_size, 1 << 30);
        Ok(())
    }

    #[test]
    fn bad_configuration_is_refused_with_a_reason() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("stockroom.toml");
        std::fs::write(&file, "data = \"/d\"\n[store]\nsegmnet_size = 5\n")?;
        let error = Config::load(Some(&file), Overrides::default()).expect_err("typo");
        assert!(format!("{error:#}").contains("segmnet_size"), "{error:#}");

        std::fs::write(&file, "data = \"/d\"\n[catalog]\nfeed_retention_days = 0\n")?;
        let error = Config::load(Some(&file), Overrides::default()).expect_err("no retention");
        assert!(error.to_string().contains("feed_retention_days"), "{error}");
        std::fs::write(
            &file,
            "data = \"/d\"\n[catalog]\nfeed_retention_days = 30\n",
        )?;
        assert_eq!(
            Config::load(Some(&file), Overrides::default())?.feed_retention_days,
            30
        );

        let error = Config::load(None, Overrides::default()).expect_err("no data dir");
        assert!(error.to_string().contains("--data"));

        let error = Config::load(
            None,
            Overrides {
                data_dir: Some("/d".into()),
                segment_size: Some("1MiB".into()),
                max_upload_bytes: Some("2MiB".into()),
                originals_url: None,
                catalog_url: None,
                redis_url: None,
            },
        )
        .expect_err("upload larger than a segment");
        assert!(
            error.to_string().contains("raise the segment size"),
            "{error}"
        );
        Ok(())
    }

    #[test]
    fn the_watermark_says_the_site_name_unless_told_otherwise_and_reads_its_files_relative_to_the_config()
    -> Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("stockroom.toml");
        std::fs::write(&file, "data = \"/d\"\n[site]\nname = \"Example Stock\"\n")?;
        let config = Config::load(Some(&file), Overrides::default())?;
        assert_eq!(config.watermark.text, "Example Stock");
        assert_eq!(config.watermark.logo, None);

        let logo = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/example-logo.png"),
        )?;
        std::fs::create_dir(dir.path().join("brand"))?;
        std::fs::write(dir.path().join("brand/logo.png"), logo)?;
        std::fs::write(
            &file,
            "data = \"/d\"\n[watermark]\ntext = \"EXAMPLE\"\nlogo = \"brand/logo.png\"\nopacity = 64\n",
        )?;
        let config = Config::load(Some(&file), Overrides::default())?;
        assert_eq!(config.watermark.text, "EXAMPLE");
        assert!(config.watermark.logo.is_some());
        assert_eq!(config.watermark.opacity, 64);

        for (toml, says) in [
            ("[watermark]\nlogo = \"missing.png\"\n", "missing.png"),
            (
                "[watermark]\nlogo = \"stockroom.toml\"\n",
                "not a readable PNG",
            ),
            ("[watermark]\nfont = \"stockroom.toml\"\n", "not a TrueType"),
            (
                "[site]\nname = \"An Extraordinarily Long Stock Photography Platform Name\"\n",
                "watermark.text",
            ),
        ] {
            std::fs::write(&file, format!("data = \"/d\"\n{toml}"))?;
            let error = Config::load(Some(&file), Overrides::default()).expect_err(toml);
            assert!(format!("{error:#}").contains(says), "{toml}: {error:#}");
        }
        Ok(())
    }
}
