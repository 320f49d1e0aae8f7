//! Reading and writing the JPEG marker segments we care about: EXIF orientation and ICC
//! profiles on the way in; copyright/author EXIF and the ICC profile on the way out.
//!
//! Input is untrusted: every length and offset is checked, and anything odd means "not
//! there" rather than an error (the pixel decoder decides whether the file is usable).

/// What the marker segments before the image data say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JpegMetadata {
    /// EXIF orientation, 1–8 (1 when absent or invalid).
    pub orientation: u8,
    /// The ICC profile, reassembled from its APP2 chunks, if complete.
    pub icc_profile: Option<Vec<u8>>,
}

const ICC_SIGNATURE: &[u8] = b"ICC_PROFILE\0";
const EXIF_SIGNATURE: &[u8] = b"Exif\0\0";
/// An ICC profile larger than this is ignored (real ones are a few KB to ~1 MB).
const MAX_ICC_BYTES: usize = 4 << 20;

/// Walks the segments between SOI and SOS.
pub fn read_metadata(jpeg: &[u8]) -> JpegMetadata {
    let mut metadata = JpegMetadata {
        orientation: 1,
        icc_profile: None,
    };
    let mut icc_chunks: Vec<(u8, u8, &[u8])> = Vec::new();
    let mut position = 2; // after SOI
    if !jpeg.starts_with(&[0xff, 0xd8]) {
        return metadata;
    }
    while position + 4 <= jpeg.len() {
        if jpeg[position] != 0xff {
            break;
        }
        let marker = jpeg[position + 1];
        if marker == 0xff {
            position += 1; // fill byte
            continue;
        }
        if marker == 0xda || marker == 0xd9 {
            break; // start of scan / end of image
        }
        let length = usize::from(u16::from_be_bytes([jpeg[position + 2], jpeg[position + 3]]));
        let Some(payload) = length
            .checked_sub(2)
            .and_then(|len| jpeg.get(position + 4..position + 4 + len))
        else {
            break;
        };
        match marker {
            0xe1 if payload.starts_with(EXIF_SIGNATURE) => {
                if let Some(orientation) = exif_orientation(&payload[EXIF_SIGNATURE.len()..]) {
                    metadata.orientation = orientation;
                }
            }
            0xe2 if payload.starts_with(ICC_SIGNATURE) && payload.len() >= 14 => {
                icc_chunks.push((payload[12], payload[13], &payload[14..]));
            }
            _ => {}
        }
        position += 2 + length;
    }
    metadata.icc_profile = assemble_icc(&mut icc_chunks);
    metadata
}

/// Joins ICC chunks in sequence order, if they are a complete, consistent set.
fn assemble_icc(chunks: &mut [(u8, u8, &[u8])]) -> Option<Vec<u8>> {
    let count = chunks.first()?.1;
    if count == 0 || chunks.len() != usize::from(count) {
        return None;
    }
    chunks.sort_by_key(|chunk| chunk.0);
    let mut profile = Vec::new();
    for (index, (sequence, chunk_count, data)) in chunks.iter().enumerate() {
        if usize::from(*sequence) != index + 1 || *chunk_count != count {
            return None;
        }
        profile.extend_from_slice(data);
        if profile.len() > MAX_ICC_BYTES {
            return None;
        }
    }
    Some(profile)
}

/// The orientation tag (0x0112) of IFD0 in a TIFF-structured EXIF block.
fn exif_orientation(tiff: &[u8]) -> Option<u8> {
    let big_endian = match tiff.get(0..2)? {
        b"MM" => true,
        b"II" => false,
        _ => return None,
    };
    let u16_at = |offset: usize| -> Option<u16> {
        let bytes: [u8; 2] = tiff.get(offset..offset + 2)?.try_into().ok()?;
        Some(if big_endian {
            u16::from_be_bytes(bytes)
        } else {
            u16::from_le_bytes(bytes)
        })
    };
    let u32_at = |offset: usize| -> Option<u32> {
        let bytes: [u8; 4] = tiff.get(offset..offset + 4)?.try_into().ok()?;
        Some(if big_endian {
            u32::from_be_bytes(bytes)
        } else {
            u32::from_le_bytes(bytes)
        })
    };
    if u16_at(2)? != 42 {
        return None;
    }
    let ifd = usize::try_from(u32_at(4)?).ok()?;
    let entries = usize::from(u16_at(ifd)?);
    for entry in 0..entries.min(512) {
        let at = ifd + 2 + entry * 12;
        if u16_at(at)? == 0x0112 {
            let value = u16_at(at + 8)?;
            return (1..=8).contains(&value).then_some(value as u8);
        }
    }
    None
}

/// An APP1 EXIF segment holding only Artist (0x013b) and Copyright (0x8298), big-endian.
pub fn exif_segment(artist: Option<&str>, copyright: Option<&str>) -> Option<Vec<u8>> {
    let mut fields: Vec<(u16, Vec<u8>)> = Vec::new();
    for (tag, text) in [(0x013b_u16, artist), (0x8298, copyright)] {
        if let Some(text) = text.filter(|text| !text.is_empty()) {
            // EXIF ASCII is 7-bit; anything else becomes '?', and the string ends with NUL.
            let mut bytes: Vec<u8> = text
                .chars()
                .take(1000)
                .map(|c| {
                    if c.is_ascii() && !c.is_ascii_control() {
                        c as u8
                    } else {
                        b'?'
                    }
                })
                .collect();
            bytes.push(0);
            fields.push((tag, bytes));
        }
    }
    if fields.is_empty() {
        return None;
    }
    let mut tiff = Vec::new();
    tiff.extend_from_slice(b"MM\0\x2a\0\0\0\x08");
    tiff.extend_from_slice(&(fields.len() as u16).to_be_bytes());
    let mut data_offset = 8 + 2 + fields.len() * 12 + 4;
    let mut data = Vec::new();
    for (tag, bytes) in &fields {
        tiff.extend_from_slice(&tag.to_be_bytes());
        tiff.extend_from_slice(&2u16.to_be_bytes()); // ASCII
        tiff.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        if bytes.len() <= 4 {
            let mut inline = [0u8; 4];
            inline[..bytes.len()].copy_from_slice(bytes);
            tiff.extend_from_slice(&inline);
        } else {
            tiff.extend_from_slice(&(data_offset as u32).to_be_bytes());
            data.extend_from_slice(bytes);
            data_offset += bytes.len();
        }
    }
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    tiff.extend_from_slice(&data);
    segment(0xe1, &[EXIF_SIGNATURE, &tiff])
}

/// APP2 segments carrying an ICC profile, split into chunks that fit a segment.
pub fn icc_segments(profile: &[u8]) -> Vec<u8> {
    const CHUNK: usize = 65_519 - 14;
    let chunks: Vec<&[u8]> = profile.chunks(CHUNK).collect();
    if chunks.is_empty() || chunks.len() > 255 {
        return Vec::new();
    }
    let count = chunks.len() as u8;
    chunks
        .iter()
        .enumerate()
        .filter_map(|(index, chunk)| {
            segment(0xe2, &[ICC_SIGNATURE, &[index as u8 + 1, count], chunk])
        })
        .flatten()
        .collect()
}

/// One marker segment, or `None` if the payload is too long for one.
fn segment(marker: u8, parts: &[&[u8]]) -> Option<Vec<u8>> {
    let payload: usize = parts.iter().map(|part| part.len()).sum();
    let length = u16::try_from(payload + 2).ok()?;
    let mut out = vec![0xff, marker];
    out.extend_from_slice(&length.to_be_bytes());
    for part in parts {
        out.extend_from_slice(part);
    }
    Some(out)
}

/// Inserts marker segments right after SOI (dropping the encoder's own JFIF APP0 is not
/// needed: APP0 may follow APP1 in practice and every decoder accepts it).
pub fn insert_after_soi(jpeg: Vec<u8>, segments: &[u8]) -> Vec<u8> {
    if segments.is_empty() || !jpeg.starts_with(&[0xff, 0xd8]) {
        return jpeg;
    }
    let mut out = Vec::with_capacity(jpeg.len() + segments.len());
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(segments);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg_with(segments: &[u8]) -> Vec<u8> {
        let mut jpeg = vec![0xff, 0xd8];
        jpeg.extend_from_slice(segments);
        jpeg.extend_from_slice(&[0xff, 0xda, 0, 2, 0xff, 0xd9]);
        jpeg
    }

    fn orientation_exif(value: u16, big_endian: bool) -> Vec<u8> {
        let mut tiff: Vec<u8> = Vec::new();
        let put16 = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let put32 = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        tiff.extend_from_slice(if big_endian { b"MM" } else { b"II" });
        tiff.extend_from_slice(&put16(42));
        tiff.extend_from_slice(&put32(8));
        tiff.extend_from_slice(&put16(1));
        tiff.extend_from_slice(&put16(0x0112));
        tiff.extend_from_slice(&put16(3));
        tiff.extend_from_slice(&put32(1));
        tiff.extend_from_slice(&put16(value));
        tiff.extend_from_slice(&[0, 0]);
        tiff.extend_from_slice(&put32(0));
        segment(0xe1, &[EXIF_SIGNATURE, &tiff]).expect("fits")
    }

    #[test]
    fn orientation_is_read_in_both_byte_orders() {
        for big_endian in [true, false] {
            for value in 1..=8 {
                let jpeg = jpeg_with(&orientation_exif(value, big_endian));
                assert_eq!(read_metadata(&jpeg).orientation, value as u8);
            }
        }
        assert_eq!(
            read_metadata(&jpeg_with(&orientation_exif(9, true))).orientation,
            1
        );
    }

    #[test]
    fn icc_profiles_round_trip_through_chunks() {
        let profile: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
        let segments = icc_segments(&profile);
        let jpeg = jpeg_with(&segments);
        assert_eq!(
            read_metadata(&jpeg).icc_profile.as_deref(),
            Some(&profile[..])
        );
    }

    #[test]
    fn an_incomplete_icc_set_is_ignored() {
        let profile = vec![7u8; 100_000];
        let segments = icc_segments(&profile);
        // Keep only the first chunk of two.
        let first_len = usize::from(u16::from_be_bytes([segments[2], segments[3]])) + 2;
        let jpeg = jpeg_with(&segments[..first_len]);
        assert_eq!(read_metadata(&jpeg).icc_profile, None);
    }

    #[test]
    fn written_exif_carries_artist_and_copyright() {
        let segment = exif_segment(Some("Jens Ansorg"), Some("© 2005 Jens Ansorg")).expect("exif");
        let text = String::from_utf8_lossy(&segment);
        assert!(text.contains("Jens Ansorg\0"));
        assert!(text.contains("? 2005 Jens Ansorg\0"));
        assert_eq!(exif_segment(None, Some("")), None);
    }

    #[test]
    fn truncated_and_garbage_headers_never_panic() {
        let good = jpeg_with(&[orientation_exif(6, true), icc_segments(&[1u8; 5000])].concat());
        for cut in 0..good.len() {
            let _ = read_metadata(&good[..cut]);
        }
        let mut state = 1u32;
        for _ in 0..2000 {
            let mut bytes = good.clone();
            for _ in 0..4 {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let at = (state as usize >> 8) % bytes.len();
                bytes[at] = (state >> 24) as u8;
            }
            let metadata = read_metadata(&bytes);
            assert!((1..=8).contains(&metadata.orientation));
        }
    }
}
