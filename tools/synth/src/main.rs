//! `stockroom-synth`: makes N synthetic stock assets for scale tests.
//!
//! Writes into `--out DIR`:
//! - `records.jsonl`: N records with the metadata a stock catalogue holds (title,
//!   description, Zipf-distributed keywords, author, collection, language, flags, kind,
//!   width, height, dominant colours, created_at, downloads). Millions are fine: it streams.
//! - `images/NNNNNNNN.jpg`: the first `--images` records get a real image derived from one
//!   of the source photos (random crop, flip, colour cast, size, JPEG quality).
//! - `manifest.jsonl`: those records in the form `stockroom ingest --manifest` reads.
//!
//! Everything is a pure function of `--seed`: the same arguments give the same bytes.

mod vocabulary;
mod zipf;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::Parser;
use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, RgbImage};
use serde::Serialize;

use zipf::{Rng, Zipf};

#[derive(Debug, Parser)]
#[command(about = "Generate synthetic stock assets (derived images + Zipf-keyword metadata)")]
struct Args {
    /// How many records to generate.
    #[arg(long)]
    count: u64,
    /// Output directory (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// How many of the records also get an image file (the first ones).
    #[arg(long, default_value_t = 100)]
    images: u64,
    /// Directory of source photos to derive images from.
    #[arg(long, default_value = "corpus/photos")]
    source: PathBuf,
    /// Longest side of derived images, at most.
    #[arg(long, default_value_t = 1600)]
    max_side: u32,
    /// Distinct keywords in the vocabulary (real stock words first, then made-up ones).
    #[arg(long, default_value_t = 50_000)]
    vocabulary: usize,
    /// Zipf exponent of keyword frequency.
    #[arg(long, default_value_t = 1.07)]
    zipf: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// One generated record (`records.jsonl`).
#[derive(Debug, Serialize)]
struct Record {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    title: String,
    description: String,
    keywords: Vec<String>,
    author: String,
    collection: &'static str,
    language: &'static str,
    editorial_only: bool,
    model_release: bool,
    property_release: bool,
    kind: &'static str,
    width: u32,
    height: u32,
    /// Dominant colour names (the automatic keywords' twelve), as ingest would find them.
    colors: Vec<&'static str>,
    created_at: u64,
    downloads: u64,
}

/// The subset of a record that an ingest manifest line holds.
#[derive(Debug, Serialize)]
struct ManifestLine<'a> {
    file: &'a str,
    title: &'a str,
    description: &'a str,
    keywords: &'a [String],
    author: &'a str,
    collection: &'static str,
    language: &'static str,
    editorial_only: bool,
    model_release: bool,
    property_release: bool,
}

/// Shared, read-only inputs of generation.
struct Generator {
    words: Vec<String>,
    german: Vec<&'static str>,
    keywords: Zipf,
    authors: Zipf,
    author_names: Vec<String>,
    seed: u64,
}

/// 2020-01-01 to 2025-01-01 in Unix seconds: the spread of `created_at`.
const CREATED_FROM: u64 = 1_577_836_800;
const CREATED_SPAN: u64 = 5 * 365 * 86_400;
const AUTHORS: usize = 2_000;

impl Generator {
    fn new(args: &Args) -> Result<Generator> {
        if args.vocabulary < vocabulary::ENGLISH.len() {
            bail!(
                "--vocabulary must be at least {} (the real words)",
                vocabulary::ENGLISH.len()
            );
        }
        let words = vocabulary::build(args.vocabulary, args.seed);
        let mut rng = Rng::new(args.seed ^ 0xa17);
        let author_names = (0..AUTHORS).map(|_| vocabulary::person(&mut rng)).collect();
        Ok(Generator {
            keywords: Zipf::new(words.len(), args.zipf),
            authors: Zipf::new(AUTHORS, 0.9),
            words,
            german: vocabulary::GERMAN.to_vec(),
            author_names,
            seed: args.seed,
        })
    }

    fn record(&self, index: u64, file: Option<String>, size: Option<(u32, u32)>) -> Record {
        let mut rng = Rng::new(self.seed.wrapping_mul(0x9e37_79b9) ^ index);
        let german = rng.below(100) < 15;
        let count = 5 + rng.below(16) as usize;
        let mut keywords: Vec<String> = Vec::with_capacity(count);
        while keywords.len() < count {
            let word = if german && rng.below(2) == 0 {
                self.german[rng.below(self.german.len() as u64) as usize].to_string()
            } else {
                self.words[self.keywords.sample(&mut rng)].clone()
            };
            if !keywords.contains(&word) {
                keywords.push(word);
            }
        }
        let title = title_case(&keywords[..2 + rng.below(3) as usize]);
        let description = format!(
            "{} with {} and {}.",
            title,
            keywords[count - 1],
            keywords[count - 2]
        );
        let kind = match rng.below(100) {
            0..=84 => "photo",
            85..=96 => "illustration",
            _ => "vector",
        };
        let (width, height) = size.unwrap_or_else(|| camera_size(&mut rng));
        let colors = dominant_colors(&mut rng);
        Record {
            id: format!(
                "{:016x}",
                index.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ self.seed
            ),
            file,
            title,
            description,
            keywords,
            author: self.author_names[self.authors.sample(&mut rng)].clone(),
            collection: if rng.below(100) < 70 {
                "free"
            } else {
                "unlimited"
            },
            language: if german { "de" } else { "en" },
            editorial_only: rng.below(100) < 5,
            model_release: rng.below(100) < 20,
            property_release: rng.below(100) < 10,
            kind,
            width,
            height,
            colors,
            created_at: CREATED_FROM + rng.below(CREATED_SPAN),
            // Heavy-tailed like real download counts: most assets are rarely downloaded.
            downloads: (rng.unit().powi(6) * 5_000.0) as u64,
        }
    }
}

/// Zero to three of the twelve colour names, the common ones of photographs more often.
fn dominant_colors(rng: &mut Rng) -> Vec<&'static str> {
    // Weights roughly as colour keywords occur on stock sites: blue, white, green, black and
    // gray most, purple and turquoise least.
    const COLORS: [(&str, u64); 12] = [
        ("blue", 18),
        ("white", 16),
        ("green", 14),
        ("black", 12),
        ("gray", 10),
        ("brown", 8),
        ("red", 6),
        ("orange", 5),
        ("yellow", 4),
        ("pink", 3),
        ("purple", 2),
        ("turquoise", 2),
    ];
    let total: u64 = COLORS.iter().map(|(_, weight)| weight).sum();
    let mut colors = Vec::new();
    for _ in 0..rng.below(4) {
        let mut pick = rng.below(total);
        for (name, weight) in COLORS {
            if pick < weight {
                if !colors.contains(&name) {
                    colors.push(name);
                }
                break;
            }
            pick -= weight;
        }
    }
    colors
}

fn title_case(words: &[String]) -> String {
    let mut title = words.join(" ");
    if let Some(first) = title.get(..1) {
        title.replace_range(..1, &first.to_uppercase());
    }
    title
}

/// A plausible original size: common camera aspect ratios, 6–50 MP.
fn camera_size(rng: &mut Rng) -> (u32, u32) {
    let long = 3000 + rng.below(5700) as u32;
    let (num, den) = [(3, 2), (4, 3), (16, 9), (1, 1)][rng.below(4) as usize];
    let short = long * den / num;
    if rng.below(100) < 70 {
        (long, short)
    } else {
        (short, long)
    }
}

/// Source photos, decoded and shrunk once.
fn load_sources(dir: &Path, max_side: u32) -> Result<Vec<DynamicImage>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext.eq_ignore_ascii_case("jpg"))
        })
        .collect();
    paths.sort();
    if paths.is_empty() {
        bail!("no .jpg photos in {}", dir.display());
    }
    paths
        .iter()
        .map(|path| {
            let image =
                image::open(path).with_context(|| format!("decoding {}", path.display()))?;
            Ok(image.thumbnail(max_side * 2, max_side * 2))
        })
        .collect()
}

/// A new image from a source: crop, maybe flip, colour cast, resize. Returns JPEG bytes.
fn derive(source: &DynamicImage, rng: &mut Rng, max_side: u32) -> Result<(Vec<u8>, u32, u32)> {
    let (width, height) = (source.width(), source.height());
    let keep = 0.55 + 0.45 * rng.unit();
    let crop_w = ((width as f64 * keep) as u32).max(16);
    let crop_h = ((height as f64 * (0.55 + 0.45 * rng.unit())) as u32).max(16);
    let x = rng.below(u64::from(width - crop_w + 1)) as u32;
    let y = rng.below(u64::from(height - crop_h + 1)) as u32;
    let mut image = source.crop_imm(x, y, crop_w, crop_h);
    if rng.below(2) == 0 {
        image = image.fliph();
    }
    let side = 320 + rng.below(u64::from(max_side.saturating_sub(320)) + 1) as u32;
    let mut rgb: RgbImage = image.thumbnail(side, side).to_rgb8();
    let cast = [
        0.85 + 0.3 * rng.unit(),
        0.85 + 0.3 * rng.unit(),
        0.85 + 0.3 * rng.unit(),
    ];
    for pixel in rgb.pixels_mut() {
        for (channel, factor) in pixel.0.iter_mut().zip(cast) {
            *channel = (f64::from(*channel) * factor).min(255.0) as u8;
        }
    }
    let quality = 75 + rng.below(21) as u8;
    let mut bytes = Vec::new();
    JpegEncoder::new_with_quality(&mut bytes, quality)
        .encode_image(&rgb)
        .context("encoding JPEG")?;
    Ok((bytes, rgb.width(), rgb.height()))
}

fn main() -> Result<()> {
    let args = Args::parse();
    let generator = Generator::new(&args)?;
    let images_dir = args.out.join("images");
    std::fs::create_dir_all(&images_dir)
        .with_context(|| format!("creating {}", images_dir.display()))?;
    let sources = if args.images > 0 {
        load_sources(&args.source, args.max_side)?
    } else {
        Vec::new()
    };
    let mut records = BufWriter::new(File::create(args.out.join("records.jsonl"))?);
    let mut manifest = BufWriter::new(File::create(args.out.join("manifest.jsonl"))?);
    for index in 0..args.count {
        let (file, size) = if index < args.images {
            let mut rng = Rng::new(args.seed ^ index.rotate_left(32));
            let source = &sources[(index as usize) % sources.len()];
            let (bytes, width, height) = derive(source, &mut rng, args.max_side)?;
            let name = format!("images/{index:08}.jpg");
            std::fs::write(args.out.join(&name), bytes)?;
            (Some(name), Some((width, height)))
        } else {
            (None, None)
        };
        let record = generator.record(index, file, size);
        serde_json::to_writer(&mut records, &record)?;
        records.write_all(b"\n")?;
        if let Some(file) = &record.file {
            serde_json::to_writer(&mut manifest, &manifest_line(&record, file))?;
            manifest.write_all(b"\n")?;
        }
        if index > 0 && index % 100_000 == 0 {
            eprintln!("{index} records");
        }
    }
    records.flush()?;
    manifest.flush()?;
    eprintln!(
        "{} records, {} images in {}",
        args.count,
        args.images.min(args.count),
        args.out.display()
    );
    Ok(())
}

fn manifest_line<'a>(record: &'a Record, file: &'a str) -> ManifestLine<'a> {
    ManifestLine {
        file,
        title: &record.title,
        description: &record.description,
        keywords: &record.keywords,
        author: &record.author,
        collection: record.collection,
        language: record.language,
        editorial_only: record.editorial_only,
        model_release: record.model_release,
        property_release: record.property_release,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> Args {
        Args {
            count: 10,
            out: PathBuf::new(),
            images: 0,
            source: PathBuf::new(),
            max_side: 400,
            vocabulary: 5_000,
            zipf: 1.07,
            seed: 7,
        }
    }

    #[test]
    fn records_are_a_pure_function_of_seed_and_index() -> Result<()> {
        let generator = Generator::new(&args())?;
        let first = serde_json::to_string(&generator.record(3, None, None))?;
        let again = serde_json::to_string(&Generator::new(&args())?.record(3, None, None))?;
        assert_eq!(first, again);
        let other = serde_json::to_string(&generator.record(4, None, None))?;
        assert_ne!(first, other);
        Ok(())
    }

    #[test]
    fn records_look_like_stock_metadata() -> Result<()> {
        let generator = Generator::new(&args())?;
        for index in 0..500 {
            let record = generator.record(index, None, None);
            assert!((5..=20).contains(&record.keywords.len()));
            let mut unique = record.keywords.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), record.keywords.len(), "keywords repeat");
            assert!(!record.title.is_empty() && !record.author.is_empty());
            assert!(record.width >= 1000 && record.height >= 1000);
            assert!((CREATED_FROM..CREATED_FROM + CREATED_SPAN).contains(&record.created_at));
        }
        Ok(())
    }

    #[test]
    fn manifest_lines_carry_exactly_the_fields_ingest_accepts() -> Result<()> {
        let generator = Generator::new(&args())?;
        let record = generator.record(1, Some("images/00000001.jpg".into()), Some((640, 480)));
        let line = serde_json::to_value(manifest_line(&record, "images/00000001.jpg"))?;
        let mut fields: Vec<&str> = line
            .as_object()
            .map(|object| object.keys().map(String::as_str).collect())
            .unwrap_or_default();
        fields.sort_unstable();
        assert_eq!(
            fields,
            [
                "author",
                "collection",
                "description",
                "editorial_only",
                "file",
                "keywords",
                "language",
                "model_release",
                "property_release",
                "title"
            ]
        );
        Ok(())
    }

    #[test]
    fn derived_images_are_new_jpegs_within_the_size_limit() -> Result<()> {
        let source = DynamicImage::ImageRgb8(RgbImage::from_fn(900, 600, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
        }));
        let mut rng = Rng::new(1);
        let (bytes, width, height) = derive(&source, &mut rng, 400)?;
        assert!(bytes.starts_with(&[0xff, 0xd8, 0xff]));
        assert!(width.max(height) <= 400);
        let decoded = image::load_from_memory(&bytes)?;
        assert_eq!((decoded.width(), decoded.height()), (width, height));
        Ok(())
    }
}
