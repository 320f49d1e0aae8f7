//! Rendering real photos and hostile files.

use std::time::{Duration, Instant};

use super::*;
use crate::png_shrink::Averaging;

fn corpus(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpus/photos")
        .join(name);
    std::fs::read(path).expect("corpus photo")
}

fn encode_test_jpeg(pixels: &[u8], width: usize, height: usize, format: PixelFormat) -> Vec<u8> {
    let mut compressor = Compressor::new().expect("compressor");
    compressor.set_quality(90).expect("quality");
    if format == PixelFormat::GRAY {
        compressor.set_subsamp(Subsamp::Gray).expect("gray");
    }
    let image = Image {
        pixels,
        width,
        pitch: width * format.size(),
        height,
        format,
    };
    compressor.compress_to_vec(image).expect("encode")
}

fn gradient(width: usize, height: usize) -> Vec<u8> {
    (0..width * height)
        .flat_map(|i| {
            [
                (i % width * 255 / width) as u8,
                (i / width * 255 / height) as u8,
                90,
            ]
        })
        .collect()
}

/// A PNG with just the chunks given (CRC computed), for crafting hostile headers.
fn png(chunks: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in chunks {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32(&body).to_be_bytes());
    }
    out
}

/// A tiny zlib stream (an empty deflate block): a bomb's pixel data need not be large.
const IDAT: &[u8] = b"\x78\x9c\x03\x00\x00\x00\x00\x01";

fn ihdr(width: u32, height: u32) -> Vec<u8> {
    let mut data = width.to_be_bytes().to_vec();
    data.extend_from_slice(&height.to_be_bytes());
    data.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB
    data
}

#[test]
fn a_corpus_photo_renders_all_three_sizes_with_credit() -> Result<()> {
    let original = corpus("aqua.jpg"); // 2560×1600
    let credit = Credit {
        author: Some("Charles Barbin"),
        copyright: Some("2008, Charles Barbin"),
    };
    let rendered = render(
        &original,
        PreviewSize::ALL,
        &RenderOptions::default(),
        credit,
    )?;
    let sizes: Vec<(PreviewSize, u32, u32)> = rendered
        .previews
        .iter()
        .map(|p| (p.size, p.width, p.height))
        .collect();
    assert_eq!(
        sizes,
        vec![
            (PreviewSize::Thumb, 240, 150),
            (PreviewSize::Small, 500, 313),
            (PreviewSize::Large, 1000, 625)
        ]
    );
    for preview in &rendered.previews {
        let header = turbojpeg::read_header(&preview.jpeg).map_err(RenderError::Jpeg)?;
        assert_eq!(
            (header.width as u32, header.height as u32),
            (preview.width, preview.height)
        );
        assert!(preview.jpeg.windows(14).any(|w| w == b"Charles Barbin"));
    }
    assert_eq!(
        rendered.keywords[..2],
        ["landscape".to_string(), "medium".to_string()]
    );
    assert!(
        rendered.keywords.iter().any(|k| k == "blue" || k == "gray"),
        "{:?}",
        rendered.keywords
    );
    Ok(())
}

#[test]
fn output_is_deterministic_so_etags_are_stable() -> Result<()> {
    let original = corpus("ladybird.jpg");
    let once = render(
        &original,
        PreviewSize::ALL,
        &RenderOptions::default(),
        Credit::default(),
    )?;
    let twice = render(
        &original,
        PreviewSize::ALL,
        &RenderOptions::default(),
        Credit::default(),
    )?;
    assert_eq!(once, twice);
    Ok(())
}

#[test]
fn jpegs_shrink_on_load_in_the_dct() -> Result<()> {
    let original = corpus("aqua.jpg"); // 2560×1600
    let limits = Limits::default();
    assert_eq!(decode(&original, &limits, 1000)?.width, 1280); // 1/2
    assert_eq!(decode(&original, &limits, 500)?.width, 640); // 1/4
    assert_eq!(decode(&original, &limits, 240)?.width, 320); // 1/8
    assert_eq!(decode(&original, &limits, 2000)?.width, 2560); // full size
    Ok(())
}

#[test]
fn the_watermark_is_in_every_preview() -> Result<()> {
    let original = corpus("wood.jpg");
    let plain = RenderOptions {
        watermark: WatermarkOptions {
            opacity: 0,
            ..WatermarkOptions::default()
        },
        ..RenderOptions::default()
    };
    let marked = render(
        &original,
        PreviewSize::ALL,
        &RenderOptions::default(),
        Credit::default(),
    )?;
    let unmarked = render(&original, PreviewSize::ALL, &plain, Credit::default())?;
    for (a, b) in marked.previews.iter().zip(&unmarked.previews) {
        let a = turbojpeg::decompress(&a.jpeg, PixelFormat::RGB).map_err(RenderError::Jpeg)?;
        let b = turbojpeg::decompress(&b.jpeg, PixelFormat::RGB).map_err(RenderError::Jpeg)?;
        let differing = a
            .pixels
            .iter()
            .zip(&b.pixels)
            .filter(|(x, y)| x.abs_diff(**y) > 12)
            .count();
        assert!(
            differing * 40 > a.pixels.len(),
            "too little watermark: {differing}"
        );
    }
    Ok(())
}

/// A 400×200 gradient JPEG whose EXIF says to turn it 90° clockwise to display (APP1 with
/// IFD0 holding Orientation = 6).
fn turned_gradient_jpeg() -> Vec<u8> {
    let jpeg = encode_test_jpeg(&gradient(400, 200), 400, 200, PixelFormat::RGB);
    let tiff: &[u8] = b"MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0";
    let mut app1 = vec![0xff, 0xe1];
    app1.extend_from_slice(&((tiff.len() + 8) as u16).to_be_bytes());
    app1.extend_from_slice(b"Exif\0\0");
    app1.extend_from_slice(tiff);
    jpeg_markers::insert_after_soi(jpeg, &app1)
}

#[test]
fn exif_orientation_is_applied() -> Result<()> {
    let rotated = turned_gradient_jpeg();
    let rendered = render(
        &rotated,
        &[PreviewSize::Thumb],
        &RenderOptions::default(),
        Credit::default(),
    )?;
    assert_eq!(rendered.source.orientation, 6);
    assert_eq!(
        (rendered.previews[0].width, rendered.previews[0].height),
        (120, 240)
    );
    assert_eq!(rendered.keywords[0], "portrait");
    Ok(())
}

#[test]
fn grayscale_cmyk_png_and_webp_render() -> Result<()> {
    let gray: Vec<u8> = (0..300 * 200).map(|i| (i % 256) as u8).collect();
    let gray_jpeg = encode_test_jpeg(&gray, 300, 200, PixelFormat::GRAY);
    let cmyk: Vec<u8> = (0..300 * 200).flat_map(|_| [255u8, 40, 40, 255]).collect();
    let mut compressor = Compressor::new().expect("compressor");
    compressor.set_quality(90).expect("quality");
    let cmyk_jpeg = compressor
        .compress_to_vec(Image {
            pixels: &cmyk[..],
            width: 300,
            pitch: 1200,
            height: 200,
            format: PixelFormat::CMYK,
        })
        .expect("cmyk");
    let rgba = image::RgbaImage::from_fn(300, 200, |x, _| {
        image::Rgba([200, 30, 30, if x < 150 { 0 } else { 255 }])
    });
    let mut png_bytes = Vec::new();
    image::DynamicImage::ImageRgba8(rgba.clone())
        .write_to(
            &mut std::io::Cursor::new(&mut png_bytes),
            image::ImageFormat::Png,
        )
        .expect("png");
    let mut webp_bytes = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut webp_bytes)
        .encode(rgba.as_raw(), 300, 200, image::ExtendedColorType::Rgba8)
        .expect("webp");
    // Without the watermark, so pixel checks see the image itself.
    let unmarked = RenderOptions {
        watermark: WatermarkOptions {
            opacity: 0,
            ..WatermarkOptions::default()
        },
        ..RenderOptions::default()
    };
    for (name, bytes, format) in [
        ("gray", gray_jpeg, Format::Jpeg),
        ("cmyk", cmyk_jpeg, Format::Jpeg),
        ("png", png_bytes, Format::Png),
        ("webp", webp_bytes, Format::WebP),
    ] {
        let rendered = render(&bytes, &[PreviewSize::Thumb], &unmarked, Credit::default())
            .unwrap_or_else(|error| panic!("{name}: {error}"));
        assert_eq!(rendered.source.format, format, "{name}");
        assert_eq!(
            (rendered.previews[0].width, rendered.previews[0].height),
            (240, 160),
            "{name}"
        );
        if name == "cmyk" {
            // No cyan ink, some magenta and yellow: red.
            assert_eq!(rendered.keywords[2], "red", "{:?}", rendered.keywords);
        }
        if name == "png" {
            // The transparent left half is composited over white.
            let pixels = turbojpeg::decompress(&rendered.previews[0].jpeg, PixelFormat::RGB)
                .map_err(RenderError::Jpeg)?;
            let left = &pixels.pixels[(80 * 240 + 20) * 3..(80 * 240 + 20) * 3 + 3];
            assert!(left.iter().all(|&v| v > 200), "{left:?}");
        }
    }
    Ok(())
}

/// Each hostile input gets a typed error quickly; none panics.
#[test]
fn hostile_files_get_typed_errors_fast() {
    let photo = corpus("greenmeadow.jpg");
    let mut corrupt_huffman = photo.clone();
    let dht = photo
        .windows(2)
        .position(|w| w == [0xff, 0xc4])
        .expect("a DHT segment");
    corrupt_huffman[dht + 5..dht + 21].fill(0xff); // code counts far beyond 256
    let mut huge_itxt = vec![0u8; 0];
    huge_itxt.extend_from_slice(b"Comment\0\0\0\0\0");
    huge_itxt.extend(std::iter::repeat_n(b'x', 8 << 20));
    type Expected = fn(&RenderError) -> bool;
    let cases: Vec<(&str, Vec<u8>, Expected)> = vec![
        (
            "png bomb",
            png(&[
                (b"IHDR", ihdr(60_000, 60_000)),
                (b"IDAT", IDAT.to_vec()),
                (b"IEND", vec![]),
            ]),
            |e| matches!(e, RenderError::TooManyPixels { .. }),
        ),
        (
            "jpeg bomb",
            {
                // Patch the SOF0 dimensions of a baseline JPEG to 65000×65000.
                let mut bytes = encode_test_jpeg(&gradient(64, 64), 64, 64, PixelFormat::RGB);
                let sof = bytes
                    .windows(2)
                    .position(|w| w == [0xff, 0xc0])
                    .expect("SOF0");
                bytes[sof + 5..sof + 9].copy_from_slice(&[0xfd, 0xe8, 0xfd, 0xe8]);
                bytes
            },
            |e| matches!(e, RenderError::TooManyPixels { .. }),
        ),
        ("truncated jpeg", photo[..photo.len() / 3].to_vec(), |e| {
            matches!(e, RenderError::Jpeg(_))
        }),
        ("corrupt huffman", corrupt_huffman, |e| {
            matches!(e, RenderError::Jpeg(_))
        }),
        (
            "zero size png",
            png(&[
                (b"IHDR", ihdr(0, 10)),
                (b"IDAT", IDAT.to_vec()),
                (b"IEND", vec![]),
            ]),
            |e| matches!(e, RenderError::Empty { .. } | RenderError::Decode { .. }),
        ),
        (
            "huge iTXt png",
            png(&[
                (b"IHDR", ihdr(10, 10)),
                (b"iTXt", huge_itxt),
                (b"IDAT", IDAT.to_vec()),
                (b"IEND", vec![]),
            ]),
            |e| matches!(e, RenderError::Decode { .. }),
        ),
        (
            "text file",
            b"I am not a JPEG, whatever my name says".to_vec(),
            |e| matches!(e, RenderError::UnsupportedFormat),
        ),
        ("empty", Vec::new(), |e| {
            matches!(e, RenderError::UnsupportedFormat)
        }),
        ("just a jpeg magic", vec![0xff, 0xd8, 0xff], |e| {
            matches!(e, RenderError::Jpeg(_))
        }),
    ];
    for (name, bytes, expected) in cases {
        let started = Instant::now();
        let result = render(
            &bytes,
            PreviewSize::ALL,
            &RenderOptions::default(),
            Credit::default(),
        );
        let elapsed = started.elapsed();
        match result {
            Err(error) => assert!(expected(&error), "{name}: unexpected error {error:?}"),
            Ok(_) => panic!("{name}: rendered"),
        }
        assert!(elapsed < Duration::from_secs(5), "{name} took {elapsed:?}");
    }
}

/// A xorshift64 stream: reproducible noise without a dependency.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Random damage to real JPEG and PNG bytes: never a panic (a stand-in for cargo-fuzz,
/// which needs a nightly toolchain).
#[test]
fn mangled_images_never_panic() {
    let jpeg = encode_test_jpeg(&gradient(160, 120), 160, 120, PixelFormat::RGB);
    let mut png_bytes = Vec::new();
    image::DynamicImage::ImageRgb8(
        image::RgbImage::from_raw(160, 120, gradient(160, 120)).expect("rgb"),
    )
    .write_to(
        &mut std::io::Cursor::new(&mut png_bytes),
        image::ImageFormat::Png,
    )
    .expect("png");
    let mut next = xorshift(0x1234_5678);
    for seed in [jpeg, png_bytes] {
        for _ in 0..400 {
            let mut bytes = seed.clone();
            for _ in 0..1 + next() % 6 {
                let at = (next() as usize) % bytes.len();
                match next() % 3 {
                    0 => bytes[at] = next() as u8,
                    1 => bytes.truncate(at.max(4)),
                    _ => bytes.insert(at, next() as u8),
                }
            }
            let _ = render(
                &bytes,
                &[PreviewSize::Thumb],
                &RenderOptions::default(),
                Credit::default(),
            );
            // Hashing's decode, which streams PNGs.
            let _ = decode_oriented(&bytes, &Limits::default(), 40);
        }
    }
}

#[test]
fn the_pool_renders_off_the_calling_thread() -> Result<()> {
    let pool = RenderPool::new(1).expect("pool");
    let original = corpus("dune.jpg");
    let rendered = pool.render(
        &original,
        &[PreviewSize::Small],
        &RenderOptions::default(),
        Credit::default(),
    )?;
    assert_eq!(rendered.previews[0].width, 500);
    assert_eq!(
        pool.pool
            .install(|| std::thread::current().name().map(str::to_string)),
        Some("render-0".into())
    );
    Ok(())
}

/// Decodes `jpeg` whole at 1/8 with libjpeg-turbo directly, bypassing our shortcuts.
fn eighth_scale_reference(jpeg: &[u8]) -> (Vec<u8>, usize, usize) {
    let mut decompressor = turbojpeg::Decompressor::new().expect("decompressor");
    let header = decompressor.read_header(jpeg).expect("header");
    decompressor
        .set_scaling_factor(turbojpeg::ScalingFactor::ONE_EIGHTH)
        .expect("scale");
    let scaled = header.scaled(turbojpeg::ScalingFactor::ONE_EIGHTH);
    let mut pixels = vec![0u8; scaled.width * scaled.height * 3];
    let image = Image {
        pixels: &mut pixels[..],
        width: scaled.width,
        pitch: scaled.width * 3,
        height: scaled.height,
        format: PixelFormat::RGB,
    };
    decompressor.decompress(jpeg, image).expect("decode");
    (pixels, scaled.width, scaled.height)
}

#[test]
fn progressive_jpegs_at_an_eighth_skip_full_resolution_ac_scans_with_identical_pixels() {
    for name in ["freshflower.jpg", "greenmeadow.jpg"] {
        let jpeg = corpus(name);
        assert!(jpeg_markers::read_metadata(&jpeg).progressive, "{name}");
        let dc = jpeg_markers::skip_ac_for_eighth_scale(&jpeg).expect("dc scans");
        assert!(
            dc.len() * 2 < jpeg.len(),
            "{name}: {} of {} bytes",
            dc.len(),
            jpeg.len()
        );
        let (reference, width, height) = eighth_scale_reference(&jpeg);
        let decoded = decode(&jpeg, &Limits::default(), 150).expect("decode");
        assert_eq!(
            (decoded.width as usize, decoded.height as usize),
            (width, height)
        );
        assert!(decoded.rgb == reference, "{name}: pixels differ");
    }
    // Baseline files and damaged layouts keep the ordinary path.
    let baseline = corpus("aqua.jpg");
    assert!(!jpeg_markers::read_metadata(&baseline).progressive);
    let mut cut = corpus("freshflower.jpg");
    cut.truncate(cut.len() / 3);
    // A truncated file never reaches its end marker: no shortcut, the decoder reports it.
    assert!(jpeg_markers::skip_ac_for_eighth_scale(&cut).is_none());
    assert!(jpeg_markers::skip_ac_for_eighth_scale(b"\xff\xd8\xff\xda").is_none());
    assert!(jpeg_markers::skip_ac_for_eighth_scale(b"not a jpeg").is_none());
}

#[test]
fn a_large_png_is_box_averaged_for_hashing_as_a_jpeg_is_shrunk_in_the_dct() -> Result<()> {
    let rgb = image::RgbImage::from_fn(1000, 700, |x, y| {
        // 2×2 checks average to grey; a shrink by 2 or more shows no checks at all.
        let v = if (x + y) % 2 == 0 { 40 } else { 200 };
        image::Rgb([v, v, v])
    });
    let mut png_bytes = Vec::new();
    image::DynamicImage::ImageRgb8(rgb)
        .write_to(
            &mut std::io::Cursor::new(&mut png_bytes),
            image::ImageFormat::Png,
        )
        .expect("png");
    let pixels = decode_oriented(&png_bytes, &Limits::default(), 200)?;
    // The largest whole factor that keeps 200 px on the long side: 5.
    assert_eq!((pixels.width, pixels.height), (200, 140));
    // 5×5 boxes of checks hold 13 of one and 12 of the other: 117 or 123.
    assert!(
        pixels.rgb.iter().all(|v| v.abs_diff(120) <= 4),
        "box averages"
    );
    let small = decode_oriented(&png_bytes, &Limits::default(), 600)?;
    assert_eq!(
        (small.width, small.height),
        (1000, 700),
        "factor 1: unchanged"
    );
    Ok(())
}

/// A PNG written by the `png` crate from raw samples (palette and tRNS when given).
fn encode_png(
    samples: &[u8],
    (width, height): (u32, u32),
    (color, depth): (::png::ColorType, ::png::BitDepth),
    palette: Option<(Vec<u8>, Vec<u8>)>,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = ::png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(color);
    encoder.set_depth(depth);
    if let Some((palette, alphas)) = palette {
        encoder.set_palette(palette);
        encoder.set_trns(alphas);
    }
    let mut writer = encoder.write_header().expect("png header");
    writer.write_image_data(samples).expect("png data");
    writer.finish().expect("png end");
    bytes
}

/// A PNG of 8- or 16-bit samples (big-endian), Adam7-interlaced when asked, its image data
/// in stored (uncompressed) deflate blocks: the `png` crate's encoder cannot interlace.
fn raw_png(
    samples: &[u8],
    (width, height): (u32, u32),
    (color_type, channels, depth): (u8, usize, u8),
    interlaced: bool,
) -> Vec<u8> {
    let (width, height) = (width as usize, height as usize);
    let pixel = channels * usize::from(depth) / 8;
    let mut scanlines = Vec::new();
    let passes: &[(usize, usize, usize, usize)] = if interlaced {
        &[
            (0, 8, 0, 8),
            (4, 8, 0, 8),
            (0, 4, 4, 8),
            (2, 4, 0, 4),
            (0, 2, 2, 4),
            (1, 2, 0, 2),
            (0, 1, 1, 2),
        ]
    } else {
        &[(0, 1, 0, 1)]
    };
    for &(x0, dx, y0, dy) in passes {
        if x0 >= width || y0 >= height {
            continue;
        }
        for y in (y0..height).step_by(dy) {
            scanlines.push(0); // filter: none
            for x in (x0..width).step_by(dx) {
                let at = (y * width + x) * pixel;
                scanlines.extend_from_slice(&samples[at..at + pixel]);
            }
        }
    }
    let mut zlib = vec![0x78, 0x01];
    let blocks: Vec<&[u8]> = scanlines.chunks(65_535).collect();
    for (i, block) in blocks.iter().enumerate() {
        zlib.push(u8::from(i + 1 == blocks.len()));
        let len = block.len() as u16;
        zlib.extend_from_slice(&len.to_le_bytes());
        zlib.extend_from_slice(&(!len).to_le_bytes());
        zlib.extend_from_slice(block);
    }
    let (mut a, mut b) = (1u32, 0u32);
    for &byte in &scanlines {
        a = (a + u32::from(byte)) % 65_521;
        b = (b + a) % 65_521;
    }
    zlib.extend_from_slice(&((b << 16) | a).to_be_bytes());
    let mut header = Vec::new();
    header.extend_from_slice(&(width as u32).to_be_bytes());
    header.extend_from_slice(&(height as u32).to_be_bytes());
    header.extend_from_slice(&[depth, color_type, 0, 0, u8::from(interlaced)]);
    png(&[(b"IHDR", header), (b"IDAT", zlib), (b"IEND", Vec::new())])
}

/// What streaming must equal: the whole image as the `image` crate decodes it, each pixel
/// composited over white without rounding, then the mean of each `factor × factor` block
/// (narrower at the edges), rounded once.
fn box_means_of_whole(png: &[u8], factor: usize) -> (Vec<u8>, u32, u32) {
    let whole = image::load_from_memory(png)
        .expect("whole decode")
        .to_rgba8();
    let (width, height) = (whole.width() as usize, whole.height() as usize);
    let (out_width, out_height) = (width.div_ceil(factor), height.div_ceil(factor));
    let mut out = Vec::with_capacity(out_width * out_height * 3);
    for by in 0..out_height {
        for bx in 0..out_width {
            for channel in 0..3 {
                // 255 × (c·a/255 + 255 − a), summed, over 255 × the count.
                let (mut sum, mut count) = (0u64, 0u64);
                for y in by * factor..((by + 1) * factor).min(height) {
                    for x in bx * factor..((bx + 1) * factor).min(width) {
                        let pixel = whole.get_pixel(x as u32, y as u32).0;
                        let (c, a) = (u64::from(pixel[channel]), u64::from(pixel[3]));
                        sum += c * a + 255 * (255 - a);
                        count += 255;
                    }
                }
                out.push(((sum + count / 2) / count) as u8);
            }
        }
    }
    (out, out_width as u32, out_height as u32)
}

#[test]
fn png_rows_are_box_averaged_while_decoding_as_decoding_whole_would() {
    use ::png::{BitDepth, ColorType};
    let (width, height) = (203u32, 157u32);
    let mut next = xorshift(0x9e37_79b9);
    let mut noise = move || next() as u8;
    // Every other row opaque (the fast path); the rest with alphas from 0 to 255.
    let samples = |channels: usize, alpha: bool, noise: &mut dyn FnMut() -> u8| -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..height {
            for _ in 0..width {
                for channel in 0..channels {
                    let is_alpha = alpha && channel == channels - 1;
                    out.push(if is_alpha && y % 2 == 0 { 255 } else { noise() });
                }
            }
        }
        out
    };
    let palette: Vec<u8> = (0..=255u8).flat_map(|i| [i, 255 - i, i / 2]).collect();
    let alphas: Vec<u8> = (0..=255u8).map(|i| i.wrapping_mul(37)).collect();
    let one_bit: Vec<u8> = (0..height as usize * width.div_ceil(8) as usize)
        .map(|_| noise())
        .collect();
    let mut cases = vec![
        (
            "grey",
            encode_png(
                &samples(1, false, &mut noise),
                (width, height),
                (ColorType::Grayscale, BitDepth::Eight),
                None,
            ),
        ),
        (
            "grey+alpha",
            encode_png(
                &samples(2, true, &mut noise),
                (width, height),
                (ColorType::GrayscaleAlpha, BitDepth::Eight),
                None,
            ),
        ),
        (
            "rgb",
            encode_png(
                &samples(3, false, &mut noise),
                (width, height),
                (ColorType::Rgb, BitDepth::Eight),
                None,
            ),
        ),
        (
            "rgba",
            encode_png(
                &samples(4, true, &mut noise),
                (width, height),
                (ColorType::Rgba, BitDepth::Eight),
                None,
            ),
        ),
        (
            "palette+tRNS",
            encode_png(
                &samples(1, false, &mut noise),
                (width, height),
                (ColorType::Indexed, BitDepth::Eight),
                Some((palette, alphas)),
            ),
        ),
        (
            "1-bit grey",
            encode_png(
                &one_bit,
                (width, height),
                (ColorType::Grayscale, BitDepth::One),
                None,
            ),
        ),
    ];
    // 16-bit samples, and interlaced images of both depths.
    let deep = |channels: usize, noise: &mut dyn FnMut() -> u8| -> Vec<u8> {
        let eight = samples(channels, channels.is_multiple_of(2), noise);
        // Each 16-bit sample near its 8-bit value, so that narrowing's rounding shows.
        eight
            .iter()
            .flat_map(|&v| {
                (u16::from(v) * 257)
                    .saturating_add(u16::from(noise()) % 129)
                    .saturating_sub(64)
                    .to_be_bytes()
            })
            .collect()
    };
    for (name, color_type, channels, depth, interlaced) in [
        ("grey 16-bit", 0u8, 1usize, 16u8, false),
        ("rgba 16-bit", 6, 4, 16, false),
        ("rgb interlaced", 2, 3, 8, true),
        ("grey+alpha interlaced", 4, 2, 8, true),
        ("rgba 16-bit interlaced", 6, 4, 16, true),
    ] {
        let samples = if depth == 16 {
            deep(channels, &mut noise)
        } else {
            samples(channels, channels.is_multiple_of(2), &mut noise)
        };
        cases.push((
            name,
            raw_png(
                &samples,
                (width, height),
                (color_type, channels, depth),
                interlaced,
            ),
        ));
    }
    for (name, png) in &cases {
        for target in [1, 20, 67, 100, 202, 203, 1000] {
            let factor = (width.max(height) / target).max(1) as usize;
            let streamed = decode(png, &Limits::default(), target).expect(name);
            // Only an interlaced image that needs no shrinking is decoded whole.
            let whole = name.contains("interlaced") && factor == 1;
            assert_eq!(
                png_shrink::decode_shrunk(png, &Limits::default(), target, Averaging::Srgb)
                    .expect(name)
                    .is_none(),
                whole,
                "{name} at {target}: streamed"
            );
            assert_eq!(streamed.prescaled, factor > 1, "{name} at {target}");
            let (expected, out_width, out_height) = box_means_of_whole(png, factor);
            assert_eq!(
                (streamed.width, streamed.height),
                (out_width, out_height),
                "{name} at {target}"
            );
            assert!(
                streamed.rgb == expected,
                "{name} at {target}: pixels differ"
            );
        }
    }
}

#[test]
fn sixteen_bit_pngs_stream_and_exif_orientation_is_read_while_streaming() -> Result<()> {
    let wide: Vec<u8> = gradient(120, 80).iter().flat_map(|&v| [v, v]).collect();
    let deep = encode_png(
        &wide,
        (120, 80),
        (::png::ColorType::Rgb, ::png::BitDepth::Sixteen),
        None,
    );
    assert!(png_shrink::decode_shrunk(&deep, &Limits::default(), 40, Averaging::Srgb)?.is_some());
    let pixels = decode_oriented(&deep, &Limits::default(), 40)?;
    assert_eq!((pixels.width, pixels.height), (40, 27));

    // An eXIf chunk (orientation 6, turn right) before the image data.
    let plain = encode_png(
        &gradient(60, 20),
        (60, 20),
        (::png::ColorType::Rgb, ::png::BitDepth::Eight),
        None,
    );
    let exif = b"MM\0*\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01\0\x06\0\0\0\0\0\0".to_vec();
    let ihdr_end = 8 + 4 + 4 + 13 + 4;
    let mut turned = plain[..ihdr_end].to_vec();
    turned.extend_from_slice(&png(&[(b"eXIf", exif)])[8..]);
    turned.extend_from_slice(&plain[ihdr_end..]);
    assert_eq!(probe(&turned, &Limits::default())?.orientation, 6);
    let pixels = decode_oriented(&turned, &Limits::default(), 60)?;
    assert_eq!(pixels.source.orientation, 6);
    assert_eq!((pixels.width, pixels.height), (20, 60));
    Ok(())
}

/// Streaming stops at the last row, but the image data after it is still checked, as the
/// whole decode checks it: a damaged last IDAT chunk holding only the zlib checksum is
/// refused both ways.
#[test]
fn png_data_past_the_last_row_is_still_checked() {
    let good = encode_png(
        &gradient(64, 48),
        (64, 48),
        (::png::ColorType::Rgb, ::png::BitDepth::Eight),
        None,
    );
    // The encoder's chunks: IHDR, one IDAT, IEND.
    let mut chunks = Vec::new();
    let mut at = 8;
    while at < good.len() {
        let len = u32::from_be_bytes(good[at..at + 4].try_into().expect("length")) as usize;
        let kind: [u8; 4] = good[at + 4..at + 8].try_into().expect("kind");
        chunks.push((kind, good[at + 8..at + 8 + len].to_vec()));
        at += 12 + len;
    }
    let idat = chunks
        .iter()
        .position(|(kind, _)| kind == b"IDAT")
        .expect("IDAT");
    let data = chunks[idat].1.clone();
    let (rows, checksum) = data.split_at(data.len() - 4);
    chunks[idat].1 = rows.to_vec();
    chunks.insert(idat + 1, (*b"IDAT", checksum.to_vec()));
    let split: Vec<(&[u8; 4], Vec<u8>)> = chunks
        .iter()
        .map(|(kind, data)| (kind, data.clone()))
        .collect();
    let split = png(&split);
    assert!(
        decode_oriented(&split, &Limits::default(), 16).is_ok(),
        "split but sound"
    );
    // Flip a bit of the second IDAT's CRC (the last 4 bytes before IEND's 12).
    let mut damaged = split.clone();
    let crc = damaged.len() - 12 - 4;
    damaged[crc] ^= 1;
    assert!(
        decode(&damaged, &Limits::default(), u32::MAX).is_err(),
        "whole decode"
    );
    assert!(
        decode_oriented(&damaged, &Limits::default(), 16).is_err(),
        "streamed"
    );
}

/// A preview's PNG is averaged in light while it decodes, as the whole image resized in
/// light was: each block's mean light, within a level of the exact figure.
#[test]
fn png_blocks_for_previews_are_averaged_in_light() {
    let (width, height) = (301u32, 205u32);
    let mut next = xorshift(0x51_7cc1);
    let rgba: Vec<u8> = (0..width * height * 4).map(|_| next() as u8).collect();
    let light = |v: f64| {
        let v = v / 255.0;
        if v <= 0.04045 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    let srgb = |l: f64| {
        let v = if l <= 0.003_130_8 {
            l * 12.92
        } else {
            1.055 * l.powf(1.0 / 2.4) - 0.055
        };
        v * 255.0
    };
    for interlaced in [false, true] {
        let png = raw_png(&rgba, (width, height), (6, 4, 8), interlaced);
        let factor = 3usize;
        let decoded = png_shrink::decode_shrunk(
            &png,
            &Limits::default(),
            width / factor as u32,
            Averaging::Linear,
        )
        .expect("decode")
        .expect("streamed");
        assert!(!decoded.prescaled, "the rest is owed in light");
        let flat = decode::composite_over_white(&rgba);
        let (out_width, out_height) = (decoded.width as usize, decoded.height as usize);
        assert_eq!(
            (out_width, out_height),
            (width.div_ceil(3) as usize, height.div_ceil(3) as usize)
        );
        let mut worst = 0f64;
        for by in 0..out_height {
            for bx in 0..out_width {
                for channel in 0..3 {
                    let (mut sum, mut count) = (0f64, 0f64);
                    for y in by * factor..((by + 1) * factor).min(height as usize) {
                        for x in bx * factor..((bx + 1) * factor).min(width as usize) {
                            sum += light(f64::from(flat[(y * width as usize + x) * 3 + channel]));
                            count += 1.0;
                        }
                    }
                    let exact = srgb(sum / count);
                    let got = f64::from(decoded.rgb[(by * out_width + bx) * 3 + channel]);
                    worst = worst.max((exact - got).abs());
                }
            }
        }
        assert!(worst <= 1.0, "interlaced {interlaced}: off by {worst}");
    }
}

/// Counts the bytes each thread holds, and its peak, for the memory tests below: the
/// decoders run on the calling thread, and tests run on threads of their own.
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static HELD: Cell<usize> = const { Cell::new(0) };
        static PEAK: Cell<usize> = const { Cell::new(0) };
    }

    pub struct Counting;

    // SAFETY: every call is forwarded to the system allocator unchanged; the counters are
    // const-initialised thread-locals without destructors, so they never allocate.
    #[allow(unsafe_code)]
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            let held = HELD.with(|held| {
                held.set(held.get() + layout.size());
                held.get()
            });
            PEAK.with(|peak| peak.set(peak.get().max(held)));
            // SAFETY: the caller's layout, passed on.
            unsafe { System.alloc(layout) }
        }

        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // Freed on another thread than it was taken on: this one's count may dip.
            HELD.with(|held| held.set(held.get().saturating_sub(layout.size())));
            // SAFETY: the caller's pointer and layout, passed on.
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    /// The most this thread held at once while `f` ran, above what it held before.
    pub fn peak_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let before = HELD.with(Cell::get);
        PEAK.with(|peak| peak.set(before));
        let out = f();
        (out, PEAK.with(Cell::get) - before)
    }
}

#[global_allocator]
static ALLOCATOR: counting::Counting = counting::Counting;

/// Issue 24, item 1: a 16-bit RGBA PNG took 8 bytes a pixel to admit and twice that to
/// preview, decoded whole. Streamed, hashing holds a row and the hash-sized image, and a
/// preview the preview-sized image and its resizes, interlaced or not.
#[test]
fn large_sixteen_bit_and_interlaced_pngs_are_never_decoded_whole() {
    let (width, height) = (2100u32, 1200u32);
    let whole_16_bit = (width * height * 8) as usize;
    let samples: Vec<u8> = (0..height)
        .flat_map(|y| {
            (0..width).flat_map(move |x| {
                let v = ((x ^ y) as u16).wrapping_mul(97);
                [v, v / 2, 65_535 - v, 65_535]
                    .into_iter()
                    .flat_map(u16::to_be_bytes)
            })
        })
        .collect();
    for interlaced in [false, true] {
        let png = raw_png(&samples, (width, height), (6, 4, 16), interlaced);
        let (pixels, hashing) =
            counting::peak_during(|| decode_oriented(&png, &Limits::default(), 200));
        let pixels = pixels.expect("decode");
        assert_eq!((pixels.width, pixels.height), (210, 120));
        assert!(
            hashing < 2 << 20,
            "interlaced {interlaced}: hashing held {hashing} bytes"
        );
        let (rendered, preview) = counting::peak_during(|| {
            render(
                &png,
                PreviewSize::ALL,
                &RenderOptions::default(),
                Credit::default(),
            )
        });
        let rendered = rendered.expect("render");
        assert_eq!(rendered.previews.len(), 3);
        // Whole, the 16-bit image alone was this size (and its 8-bit copy half as much
        // again); what a preview holds now is its resizes'.
        assert!(
            preview < whole_16_bit * 3 / 4,
            "interlaced {interlaced}: previews held {preview} bytes of {whole_16_bit}"
        );
    }
}

/// Hashing reads a JPEG's own Y channel: the same grey, size and orientation as the BT.601
/// luma of its RGB decode, with nothing for other formats.
#[test]
fn a_jpegs_grey_is_the_luma_of_its_colour_decode_sized_and_turned_alike() -> Result<()> {
    let turned = turned_gradient_jpeg();
    for (bytes, long_side) in [
        (corpus("aqua.jpg"), 300),
        (corpus("storm.jpg"), 300),
        (turned, 100),
    ] {
        let limits = Limits::default();
        let grey = decode_grey_oriented(&bytes, &limits, long_side)?.expect("a JPEG");
        let colour = decode_oriented(&bytes, &limits, long_side)?;
        assert_eq!((grey.width, grey.height), (colour.width, colour.height));
        let luma = colour
            .rgb
            .chunks_exact(3)
            .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]));
        let off: f64 = grey
            .luma
            .iter()
            .zip(luma)
            .map(|(&y, l)| (f64::from(y) - l).abs())
            .sum::<f64>()
            / grey.luma.len() as f64;
        assert!(
            off < 1.5,
            "{}×{}: off by {off} on average",
            grey.width,
            grey.height
        );
    }
    let png = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/render/deep16.png"),
    )
    .expect("a PNG");
    assert!(decode_grey_oriented(&png, &Limits::default(), 100)?.is_none());
    Ok(())
}
