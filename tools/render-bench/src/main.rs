//! `stockroom-render-bench [--out DIR] [--quality Q] [--no-watermark] PATH...`
//!
//! Renders the `large` (1000 px) preview of every JPEG, PNG and WebP under the paths on the
//! calling thread, writes each to `--out` if given, and prints one JSON line: images,
//! source megapixels, seconds, megapixels/s. `tools/render-bench.sh` runs it beside
//! `vipsthumbnail` and compares.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use stockroom_render::{
    Credit, LinearLight, PreviewSize, RenderOptions, WatermarkOptions, probe, render,
};

fn main() -> Result<()> {
    // As the server does at start-up: render threads reuse their decode buffers.
    stockroom_render::keep_decode_buffers();
    let mut out: Option<PathBuf> = None;
    let mut options = RenderOptions::default();
    let mut paths = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--out" => out = Some(args.next().context("--out needs a directory")?.into()),
            "--quality" => {
                options.quality = args.next().context("--quality needs a number")?.parse()?;
            }
            "--no-watermark" => {
                options.watermark = WatermarkOptions {
                    opacity: 0,
                    ..WatermarkOptions::default()
                };
            }
            "--linear" => options.linear_light = LinearLight::Always,
            "--gamma-space" => options.linear_light = LinearLight::Never,
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let mut files = Vec::new();
    for path in &paths {
        collect(path, &mut files)?;
    }
    if files.is_empty() {
        bail!("no images under {paths:?}");
    }
    if let Some(out) = &out {
        std::fs::create_dir_all(out)?;
    }
    let mut megapixels = 0.0;
    let started = Instant::now();
    for file in &files {
        let bytes = std::fs::read(file).with_context(|| format!("{}", file.display()))?;
        let info = probe(&bytes, &options.limits).with_context(|| format!("{}", file.display()))?;
        megapixels += f64::from(info.width) * f64::from(info.height) / 1e6;
        let rendered = render(&bytes, &[PreviewSize::Large], &options, Credit::default())
            .with_context(|| format!("{}", file.display()))?;
        if let Some(out) = &out {
            let name = file.file_stem().unwrap_or_default().to_string_lossy();
            std::fs::write(out.join(format!("{name}.jpg")), &rendered.previews[0].jpeg)?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "{{\"images\":{},\"megapixels\":{megapixels:.1},\"seconds\":{seconds:.3},\"megapixels_per_second\":{:.1}}}",
        files.len(),
        megapixels / seconds
    );
    Ok(())
}

fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .filter_map(|entry| entry.ok().map(|entry| entry.path()))
            .collect();
        entries.sort();
        for entry in entries {
            collect(&entry, files)?;
        }
    } else if path
        .extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| {
            ["jpg", "jpeg", "png", "webp"].contains(&ext.to_ascii_lowercase().as_str())
        })
    {
        files.push(path.to_path_buf());
    }
    Ok(())
}
