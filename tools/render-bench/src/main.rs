//! `stockroom-render-bench [--out DIR] [--quality Q] [--no-watermark] [--text T] [--logo PNG] PATH...`
//!
//! Renders the `large` (1000 px) preview of every JPEG, PNG and WebP under the paths on the
//! calling thread, writes each to `--out` if given, and prints one JSON line: images,
//! source megapixels, seconds, megapixels/s. `tools/render-bench.sh` runs it beside
//! `vipsthumbnail` and compares.

#[path = "../../common/images.rs"]
mod images;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use stockroom_render::{Credit, LinearLight, Logo, RenderOptions, WatermarkOptions, probe, render};
use stockroom_vocab::PreviewSize;

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
            "--text" => {
                options.watermark.text = args.next().context("--text needs the mark's text")?
            }
            "--logo" => {
                let path = args.next().context("--logo needs a PNG")?;
                let bytes = std::fs::read(&path).with_context(|| path.clone())?;
                options.watermark.logo = Some(Logo::from_png(&bytes).context(path)?);
            }
            "--linear" => options.linear_light = LinearLight::Always,
            "--gamma-space" => options.linear_light = LinearLight::Never,
            _ => paths.push(PathBuf::from(arg)),
        }
    }
    let files = images::collect_images(&paths)?;
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
