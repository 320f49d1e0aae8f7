use super::*;

/// A deterministic, asymmetric test picture with structure at several scales.
fn picture(width: usize, height: usize) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(width * height * 3);
    for y in 0..height {
        for x in 0..width {
            let (fx, fy) = (x as f64 / width as f64, y as f64 / height as f64);
            let blob = (-((fx - 0.3).powi(2) + (fy - 0.35).powi(2)) * 18.0).exp();
            let bar = if (0.55..0.7).contains(&fx) && fy > 0.5 {
                1.0
            } else {
                0.0
            };
            let wave = (fx * 9.0 + fy * 4.0).sin() * 0.5 + (fx * fy * 20.0).cos() * 0.3;
            // Coarse random blocks (12×9 per picture) give PDQ the gradients a photo has.
            let block = (fx * 12.0) as u64 * 31 + (fy * 9.0) as u64;
            let texture = (block.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 58) as f64 - 32.0;
            let value = 80.0 + 110.0 * blob + 60.0 * bar + 25.0 * wave + 30.0 * fy + texture;
            let v = value.clamp(0.0, 255.0) as u8;
            rgb.extend_from_slice(&[v, v.saturating_sub(30), 255 - v]);
        }
    }
    rgb
}

fn transformed(rgb: &[u8], width: usize, height: usize, t: Transform) -> (Vec<u8>, usize, usize) {
    // Where output pixel (x, y) comes from in the source, and the output size.
    let (out_w, out_h) = match t {
        Transform::Identity | Transform::Rot180 | Transform::Flip | Transform::FlipRot180 => {
            (width, height)
        }
        _ => (height, width),
    };
    let mut out = Vec::with_capacity(rgb.len());
    for y in 0..out_h {
        for x in 0..out_w {
            let (sx, sy) = match t {
                Transform::Identity => (x, y),
                Transform::Rot90 => (y, height - 1 - x),
                Transform::Rot180 => (width - 1 - x, height - 1 - y),
                Transform::Rot270 => (width - 1 - y, x),
                Transform::Flip => (width - 1 - x, y),
                // Mirror, then turn clockwise: the anti-transpose.
                Transform::FlipRot90 => (width - 1 - y, height - 1 - x),
                Transform::FlipRot180 => (x, height - 1 - y),
                Transform::FlipRot270 => (y, x),
            };
            let at = (sy * width + sx) * 3;
            out.extend_from_slice(&rgb[at..at + 3]);
        }
    }
    (out, out_w, out_h)
}

fn whole(fingerprint: &Fingerprint) -> &PdqDct {
    &fingerprint.regions[0].1
}

/// The indexed hash of the centre crop.
fn centre_hash(fingerprint: &Fingerprint) -> Hash256 {
    fingerprint
        .index_hashes()
        .into_iter()
        .find(|(region, _)| *region == Region::Centre)
        .map(|(_, pdq)| pdq.hash)
        .unwrap_or_default()
}

#[test]
fn every_rotation_and_flip_is_undone_in_the_dct() {
    let (w, h) = (320, 240);
    let original = Fingerprint::of_rgb(&picture(w, h), w, h);
    assert!(
        original.pdq.is_reliable(),
        "quality {}",
        original.pdq.quality
    );
    for t in Transform::ALL {
        let (rgb, tw, th) = transformed(&picture(w, h), w, h, t);
        let query = Fingerprint::of_rgb(&rgb, tw, th);
        let distances: Vec<(u32, Transform)> = whole(&query)
            .dihedral_hashes()
            .iter()
            .map(|(undo, hash)| (hash.distance(&original.pdq.hash), *undo))
            .collect();
        let best = distances
            .iter()
            .min()
            .copied()
            .unwrap_or((u32::MAX, Transform::Identity));
        assert_eq!(best.1, t, "{t:?}: {distances:?}");
        // Quarter turns of a non-square image shift the reference's decimation grid by up
        // to a pixel, so they come back a little further than mirrors do.
        assert!(best.0 <= 31, "{t:?}: {distances:?}");
        if t != Transform::Identity {
            let plain = query.pdq.hash.distance(&original.pdq.hash);
            assert!(
                plain > 60,
                "{t:?} should defeat a plain match, distance {plain}"
            );
        }
    }
}

#[test]
fn padding_is_trimmed_before_hashing() {
    let (w, h) = (300, 200);
    let rgb = picture(w, h);
    let original = Fingerprint::of_rgb(&rgb, w, h);
    assert_eq!(original.regions.len(), 2, "nothing to trim in the original");
    // 20% white padding on every side.
    let (pw, ph) = (w + 2 * w / 5, h + 2 * h / 5);
    let mut padded = vec![255u8; pw * ph * 3];
    for y in 0..h {
        let at = ((y + h / 5) * pw + w / 5) * 3;
        padded[at..at + w * 3].copy_from_slice(&rgb[y * w * 3..(y + 1) * w * 3]);
    }
    let query = Fingerprint::of_rgb(&padded, pw, ph);
    assert_eq!(
        query.content,
        Rect {
            x: w / 5,
            y: h / 5,
            width: w,
            height: h
        }
    );
    let plain = query.pdq.hash.distance(&original.pdq.hash);
    let (region, trimmed) = &query.regions[1];
    assert_eq!(*region, Region::Trimmed);
    let distance = trimmed.hash().distance(&original.pdq.hash);
    assert!(
        distance <= 8 && plain > 31,
        "trimmed {distance}, plain {plain}"
    );
}

#[test]
fn a_centre_crop_matches_the_originals_centre_hash() {
    let (w, h) = (400, 300);
    let rgb = picture(w, h);
    let original = Fingerprint::of_rgb(&rgb, w, h);
    // 5% cut off each side.
    let (cw, ch) = (w - w / 10, h - h / 10);
    let query = Fingerprint::of_rgb(&crop(&rgb, w, (w / 20, h / 20, cw, ch)), cw, ch);
    let centre = centre_hash(&original);
    let to_centre = query.pdq.hash.distance(&centre);
    let to_whole = query.pdq.hash.distance(&original.pdq.hash);
    assert!(
        to_centre <= 10 && to_centre < to_whole,
        "centre {to_centre}, whole {to_whole}"
    );
}

#[test]
fn flat_tiny_and_empty_images_are_unreliable() {
    let grey = vec![128u8; 100 * 80 * 3];
    let flat = Fingerprint::of_rgb(&grey, 100, 80);
    assert!(!flat.pdq.is_reliable(), "quality {}", flat.pdq.quality);
    assert_eq!(flat.pdq.quality, 0);
    let tiny = pdq_from_rgb(&picture(4, 4), 4, 4);
    assert_eq!((tiny.quality, tiny.hash), (0, Hash256::default()));
    let empty = Fingerprint::of_rgb(&[], 0, 0);
    assert_eq!(empty.pdq.quality, 0);
    assert_eq!(phash64(&[], 0, 0), 0);
    // Two-tone: half black, half white.
    let two_tone: Vec<u8> = (0..100 * 80)
        .flat_map(|i| if i % 100 < 50 { [0u8; 3] } else { [255u8; 3] })
        .collect();
    // PDQ's own quality metric passes a single sharp edge; the fingerprint does not.
    assert!(pdq_from_rgb(&two_tone, 100, 80).is_reliable());
    assert!(!Fingerprint::of_rgb(&two_tone, 100, 80).reliable());
    assert!(!flat.reliable());
    assert!(Fingerprint::of_rgb(&picture(100, 80), 100, 80).reliable());
}

#[test]
fn phash_is_stable_under_resizing_and_differs_between_pictures() {
    let a = phash64(&picture(320, 240), 320, 240);
    let b = phash64(&picture(640, 480), 640, 480);
    assert!((a ^ b).count_ones() <= 6, "{a:016x} {b:016x}");
    let (rgb, w, h) = transformed(&picture(320, 240), 320, 240, Transform::Rot180);
    let c = phash64(&rgb, w, h);
    assert!((a ^ c).count_ones() > 16, "{a:016x} {c:016x}");
}

fn crop(rgb: &[u8], width: usize, (x0, y0, w, h): (usize, usize, usize, usize)) -> Vec<u8> {
    let mut out = Vec::with_capacity(w * h * 3);
    for y in y0..y0 + h {
        out.extend_from_slice(&rgb[(y * width + x0) * 3..(y * width + x0 + w) * 3]);
    }
    out
}

#[test]
fn an_off_centre_crop_lines_up_with_the_originals_centre_through_an_inset() {
    let (w, h) = (400, 300);
    let rgb = picture(w, h);
    let original = Fingerprint::of_rgb(&rgb, w, h);
    let centre = centre_hash(&original);
    // 5% cut off the left and the top only: the centre crops no longer line up.
    let (cw, ch) = (w - w / 20, h - h / 20);
    let query = Fingerprint::of_rgb(&crop(&rgb, w, (w / 20, h / 20, cw, ch)), cw, ch);
    let by_region = |region: Region| {
        query
            .query_hashes()
            .into_iter()
            .filter(|(r, t, _)| *r == region && *t == Transform::Identity)
            .map(|(_, _, pdq)| pdq.hash.distance(&centre))
            .min()
            .unwrap_or(256)
    };
    let (inset, plain) = (
        by_region(Region::Inset),
        by_region(Region::Whole).min(by_region(Region::Centre)),
    );
    assert_eq!(query.insets.len(), 9);
    assert!(
        inset <= 16 && inset < plain,
        "inset {inset}, whole or centre {plain}"
    );
    // Insets are looked up, never indexed.
    assert!(
        original
            .index_hashes()
            .iter()
            .all(|(region, _)| *region != Region::Inset)
    );
}

#[test]
fn stripes_are_unreliable_though_pdq_rates_their_gradients_highly() {
    let (w, h) = (300, 200);
    // Vertical stripes in five tones, with a little noise: PDQ's quality metric sees strong
    // gradients, but the picture varies along one axis, which the hash leaves out.
    let stripes: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            let tone = [30u8, 90, 150, 210, 120][(x / 12) % 5];
            let noise = ((x * 7 + y * 13) % 5) as u8;
            [tone + noise; 3]
        })
        .collect();
    let print = Fingerprint::of_rgb(&stripes, w, h);
    assert!(print.pdq.is_reliable(), "quality {}", print.pdq.quality);
    assert!(!print.two_tone);
    assert!(whole(&print).variance_kept < MIN_VARIANCE_KEPT);
    assert!(!print.reliable());
    let photo = Fingerprint::of_rgb(&picture(w, h), w, h);
    assert!(whole(&photo).variance_kept > 5.0 * MIN_VARIANCE_KEPT);
}

#[test]
fn a_faded_copy_may_still_be_held_though_it_could_not_be_indexed() {
    let (w, h) = (300, 200);
    let rgb = picture(w, h);
    let faded = |k: f64| -> Vec<u8> {
        rgb.iter()
            .map(|&v| (128.0 + (f64::from(v) - 128.0) * k).round() as u8)
            .collect()
    };
    let print = (1..=20)
        .map(|step| Fingerprint::of_rgb(&faded(f64::from(step) * 0.05), w, h))
        .find(|print| (MIN_QUERY_QUALITY..MIN_RELIABLE_QUALITY).contains(&print.pdq.quality))
        .expect("some contrast rates between 30 and 50");
    assert!(print.reliable_query() && !print.reliable());
    let flat = Fingerprint::of_rgb(&faded(0.0), w, h);
    assert!(!flat.reliable_query());
}

#[test]
fn mirrored_lookups_undo_every_rotation_and_flip_without_moving_the_grid() {
    for t in Transform::ALL {
        let (mirror, rest) = t.mirror_first();
        assert!(Transform::MIRRORS.contains(&mirror), "{t:?}");
        assert!(
            matches!(rest, Transform::Identity | Transform::FlipRot270),
            "{t:?}"
        );
        assert_eq!(mirror.after(t), rest);
    }
    // An odd-sized picture: mirroring moves the decimation grid the most.
    let (w, h) = (301, 203);
    let original = Fingerprint::of_rgb(&picture(w, h), w, h);
    let mut worse = 0;
    for t in Transform::ALL {
        let (rgb, tw, th) = transformed(&picture(w, h), w, h, t);
        let query = Fingerprint::of_rgb(&rgb, tw, th);
        let looked_up = query
            .query_hashes()
            .into_iter()
            .find(|(region, transform, _)| *region == Region::Whole && *transform == t)
            .map(|(_, _, pdq)| pdq.hash.distance(&original.pdq.hash));
        let in_the_dct = whole(&query).undo(t).hash().distance(&original.pdq.hash);
        let looked_up = looked_up.unwrap_or(u32::MAX);
        assert!(looked_up <= 8, "{t:?}: {looked_up}");
        worse += u32::from(looked_up > in_the_dct);
    }
    assert_eq!(
        worse, 0,
        "mirrored pixels never do worse than the DCT alone"
    );
}

#[test]
fn a_padded_copy_is_also_looked_up_with_only_its_padding_trimmed() {
    // A picture whose top 15% is a uniform band: trimming takes the band off the original,
    // and the padding and then the band off a padded copy. Where the two part (a gradient
    // eaten to another depth), the copy's picture with only the padding gone still meets
    // the original's whole.
    let (w, h) = (300, 200);
    let mut rgb = picture(w, h);
    let band = h * 15 / 100;
    for pixel in rgb[..band * w * 3].chunks_exact_mut(3) {
        pixel.copy_from_slice(&[40, 60, 200]);
    }
    let original = Fingerprint::of_rgb(&rgb, w, h);
    assert_eq!(original.content.y, band, "the original's band is trimmed");
    let pad = h / 5;
    let mut padded = vec![255u8; w * (h + pad) * 3];
    padded[pad * w * 3..].copy_from_slice(&rgb);
    let query = Fingerprint::of_rgb(&padded, w, h + pad);
    assert_eq!(query.content.y, pad + band);
    let (_, unpadded) = query
        .regions
        .iter()
        .find(|(region, _)| *region == Region::Unpadded)
        .expect("an unpadded region");
    let distance = unpadded.hash().distance(&original.pdq.hash);
    assert!(
        distance <= 8,
        "unpadded to the original's whole: {distance}"
    );
    assert!(Region::may_meet(Region::Unpadded, Region::Whole));
    assert!(!Region::may_meet(Region::Unpadded, Region::Trimmed));
    assert!(
        query
            .index_hashes()
            .iter()
            .all(|(region, _)| region.is_indexed() && *region != Region::Unpadded)
    );
    // Only a lookup computes it.
    let indexed = Fingerprint::for_index(&padded, w, h + pad);
    assert!(
        indexed
            .regions
            .iter()
            .all(|(region, _)| *region != Region::Unpadded)
    );
}

/// `stockroom hash` prints the published hashes without building a fingerprint; they must
/// be the fingerprint's own, which lookups compare and other platforms' lists hold.
#[test]
fn published_hashes_are_the_fingerprints_whole_ones() {
    for (w, h) in [(200, 150), (150, 200), (64, 48)] {
        let rgb = picture(w, h);
        let print = Fingerprint::of_rgb(&rgb, w, h);
        assert_eq!(pdq_from_rgb(&rgb, w, h), print.pdq);
        assert_eq!(phash64(&rgb, w, h), print.phash);
        assert_eq!(Fingerprint::for_index(&rgb, w, h).pdq, print.pdq);
    }
}

/// Each pixel of `small` (`width × height`) repeated over the block of a `full_width ×
/// full_height` picture it stands for: pixel `k` of a side of the picture is the reduced
/// one at `k × reduced / full`, as [`Luma::covers`] assumes.
fn blocks(small: &Luma, full_width: usize, full_height: usize) -> Luma {
    let mut pixels = Vec::with_capacity(full_width * full_height);
    for y in 0..full_height {
        let row = y * small.height / full_height * small.width;
        pixels.extend((0..full_width).map(|x| small.pixels[row + x * small.width / full_width]));
    }
    Luma {
        width: full_width,
        height: full_height,
        pixels,
        covers: (full_width, full_height),
    }
}

#[test]
fn reduced_pixels_hash_as_the_reference_hashes_the_picture_they_stand_for() {
    // Sizes as a JPEG's 1/8 decode leaves them, one as a 1/25 box average does, and one
    // whose sides are not a multiple of the reduction.
    for (full_width, full_height, width, height) in [
        (2560, 1600, 320, 200),
        (1622, 2880, 203, 360),
        (5120, 2880, 205, 116),
        (1000, 997, 125, 125),
    ] {
        let small = Luma::from_rgb(&picture(width, height), width, height);
        let picture_itself = pdq_dct(blocks(&small, full_width, full_height));
        let covering = pdq_dct(small.clone().covering(full_width, full_height));
        let pixels_alone = pdq_dct(small);
        let largest = picture_itself
            .coefficients
            .iter()
            .flatten()
            .fold(0f32, |most, c| most.max(c.abs()));
        for (ours, theirs) in covering
            .coefficients
            .iter()
            .flatten()
            .zip(picture_itself.coefficients.iter().flatten())
        {
            assert!(
                (ours - theirs).abs() <= largest * 1e-4,
                "{full_width}×{full_height} from {width}×{height}: {ours} against {theirs}"
            );
        }
        let apart = covering.hash().distance(&picture_itself.hash());
        let before = pixels_alone.hash().distance(&picture_itself.hash());
        assert!(
            apart <= 2,
            "{full_width}×{full_height}: {apart} bits from the picture's own PDQ"
        );
        assert!(
            before > apart,
            "{full_width}×{full_height}: the pixels alone are {before} bits away, covering {apart}"
        );
        assert_eq!(covering.quality, picture_itself.quality);
    }
}

#[test]
fn a_crop_of_reduced_pixels_stands_for_its_share_of_the_picture() {
    let small = Luma::from_rgb(&picture(320, 200), 320, 200).covering(2560, 1600);
    let crop = small.crop(32, 20, 160, 100);
    assert_eq!(crop.covers, (1280, 800));
    assert_eq!(small.mirrored(Transform::Flip).covers, (2560, 1600));
    // A full decode covers itself, whatever is cropped.
    let full = Luma::from_rgb(&picture(64, 48), 64, 48);
    assert_eq!(full.crop(3, 5, 40, 30).covers, (40, 30));
    // Pixels never stand for less than themselves.
    assert_eq!(full.covering(10, 10).covers, (64, 48));
}
