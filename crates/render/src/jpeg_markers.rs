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
    /// The frame is progressive (SOF2 or SOF10).
    pub progressive: bool,
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
        progressive: false,
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
            0xc2 | 0xca => metadata.progressive = true,
            _ => {}
        }
        position += 2 + length;
    }
    metadata.icc_profile = assemble_icc(&mut icc_chunks);
    metadata
}

/// A progressive JPEG without the AC scans of the components libjpeg decodes at 1/8 with a
/// 1×1 inverse DCT, which reads only the DC coefficient, or `None` if the file is not laid
/// out as expected. It decodes to exactly the pixels of the whole file at 1/8 while
/// skipping most of a progressive decode's entropy decoding. 4:2:0 chroma is scaled up by
/// a 2×2 inverse DCT that reads AC coefficients, so its scans stay.
///
/// Dropped scans are replaced, not just removed: libjpeg would otherwise see coefficients
/// it was never sent and "smooth" the blocks from their neighbours (changing half the
/// pixels, by up to 44 levels, on a corpus photo). Each such component gets one AC scan
/// that codes every block as end-of-block with a one-symbol Huffman table (one bit per
/// block), after which its coefficients count as known, as after the real scans.
pub fn skip_ac_for_eighth_scale(jpeg: &[u8]) -> Option<Vec<u8>> {
    if !jpeg.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut out = Vec::with_capacity(jpeg.len() / 4);
    out.extend_from_slice(&jpeg[..2]);
    let mut position = 2;
    let mut kept_scans = 0;
    let mut frame: Option<Frame> = None;
    loop {
        if *jpeg.get(position)? != 0xff {
            return None;
        }
        let marker = *jpeg.get(position + 1)?;
        match marker {
            0xff => {
                position += 1;
                continue;
            }
            0xd9 => break,
            0xd0..=0xd7 | 0x01 => return None, // stray restart or TEM outside a scan
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([
            *jpeg.get(position + 2)?,
            *jpeg.get(position + 3)?,
        ]));
        let segment_end = position.checked_add(2 + length)?;
        let segment = jpeg.get(position..segment_end)?;
        match marker {
            0xc2 => frame = Some(Frame::parse(segment.get(4..)?)?),
            // Restart intervals would need restart markers in the synthetic scans.
            0xdd if segment.get(4..6)? != [0, 0] => return None,
            _ => {}
        }
        if marker != 0xda {
            // Application data and comments mean nothing to the decoder (some files carry
            // megabytes of them), except Adobe's APP14, which names the colour transform.
            if !matches!(marker, 0xe0..=0xed | 0xef | 0xfe) {
                out.extend_from_slice(segment);
            }
            position = segment_end;
            continue;
        }
        // SOS: components, then Ss, Se, Ah/Al. The entropy-coded data runs to the next
        // marker that is not a stuffed 0xFF00 or a restart marker.
        let payload = segment.get(4..)?;
        let components = usize::from(*payload.first()?);
        let spectral_start = *payload.get(1 + 2 * components)?;
        // AC scans hold one component; DC scans (spectral start 0) are always kept.
        let full_resolution = {
            let frame = frame.as_ref()?;
            let id = *payload.get(1)?;
            let component = frame.components.iter().find(|c| c.id == id)?;
            frame.full_resolution(component)
        };
        let mut end = segment_end;
        loop {
            end += memchr::memchr(0xff, jpeg.get(end..)?)?;
            if !matches!(*jpeg.get(end + 1)?, 0x00 | 0xd0..=0xd7 | 0xff) {
                break;
            }
            end += 1;
        }
        if spectral_start == 0 || !full_resolution {
            out.extend_from_slice(&jpeg[position..end]);
            kept_scans += 1;
        }
        position = end;
    }
    let frame = frame?;
    if kept_scans == 0 {
        return None;
    }
    // AC table 0 becomes a single 1-bit code for symbol 0x00 (EOB). The kept scans are
    // already in `out`, so redefining the table affects only the scans below.
    out.extend_from_slice(&[0xff, 0xc4, 0x00, 0x14, 0x10, 1]);
    out.extend_from_slice(&[0; 15]);
    out.push(0x00);
    for component in frame.components.iter().filter(|c| frame.full_resolution(c)) {
        out.extend_from_slice(&[0xff, 0xda, 0x00, 0x08, 1, component.id, 0x00, 1, 63, 0x00]);
        let blocks = frame.blocks(component);
        // One 0 bit per block; the last byte is padded with 1 bits (never a whole 0xFF).
        out.resize(out.len() + blocks / 8, 0);
        if blocks % 8 != 0 {
            out.push((1u8 << (8 - blocks % 8)) - 1);
        }
    }
    out.extend_from_slice(&[0xff, 0xd9]);
    Some(out)
}

/// What a progressive frame header says about the sampling of each component.
struct Frame {
    width: usize,
    height: usize,
    max_h: usize,
    max_v: usize,
    components: Vec<FrameComponent>,
}

struct FrameComponent {
    id: u8,
    h: usize,
    v: usize,
}

impl Frame {
    /// SOF payload: precision, height, width, component count, then id, HV, table each.
    fn parse(payload: &[u8]) -> Option<Frame> {
        let height = usize::from(u16::from_be_bytes([*payload.get(1)?, *payload.get(2)?]));
        let width = usize::from(u16::from_be_bytes([*payload.get(3)?, *payload.get(4)?]));
        let count = usize::from(*payload.get(5)?);
        let mut components = Vec::with_capacity(count);
        for index in 0..count {
            let at = 6 + index * 3;
            let sampling = *payload.get(at + 1)?;
            let (h, v) = (usize::from(sampling >> 4), usize::from(sampling & 15));
            if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
                return None;
            }
            components.push(FrameComponent {
                id: *payload.get(at)?,
                h,
                v,
            });
        }
        let max_h = components.iter().map(|c| c.h).max()?;
        let max_v = components.iter().map(|c| c.v).max()?;
        (width > 0 && height > 0).then_some(Frame {
            width,
            height,
            max_h,
            max_v,
            components,
        })
    }

    /// Decoded at 1/8 by a 1×1 inverse DCT. libjpeg-turbo scales a component's inverse DCT
    /// up from 1×1 only while the frame's sampling factors are a multiple of twice the
    /// component's in both directions (`jpeg_core_output_dimensions`): so luma, every
    /// component of 4:4:4, and 4:2:2 chroma (upsampled afterwards) use 1×1; 4:2:0 chroma
    /// uses 2×2, which reads AC coefficients.
    fn full_resolution(&self, component: &FrameComponent) -> bool {
        !(self.max_h.is_multiple_of(2 * component.h) && self.max_v.is_multiple_of(2 * component.v))
    }

    /// Blocks in a non-interleaved scan of `component`: its own size in 8×8 blocks.
    fn blocks(&self, component: &FrameComponent) -> usize {
        let width = (self.width * component.h).div_ceil(self.max_h);
        let height = (self.height * component.v).div_ceil(self.max_v);
        width.div_ceil(8) * height.div_ceil(8)
    }
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
