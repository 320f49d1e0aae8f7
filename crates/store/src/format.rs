//! The record format, byte by byte (see `docs/format.md`, which this module must match).
//!
//! Every record is an 80-byte header, then `length` body bytes, then zero padding up to the
//! next multiple of 8. All integers are little-endian.

use std::fmt;

pub(crate) use stockroom_vocab::AssetId;

/// First 8 bytes of every record.
pub const MAGIC: [u8; 8] = *b"STKRMREC";
/// Version written into every header; readers refuse other versions.
pub const FORMAT_VERSION: u16 = 1;
/// Size of a record header in bytes.
pub const HEADER_LEN: usize = 80;
/// Records start at offsets that are multiples of this.
pub const ALIGN: u64 = 8;

/// The header's kind byte for a seal record (see [`SEAL_RECORD_LEN`]).
const SEAL_KIND_BYTE: u8 = 0;
/// The header's kind byte for a padding record: bytes recovery set aside and covered over.
const PADDING_KIND_BYTE: u8 = 255;
/// Flag bit: this record is a tombstone for `(asset, kind)`.
const FLAG_TOMBSTONE: u8 = 0b0000_0001;
/// Bytes of the header covered by the header check.
const CHECKED_LEN: usize = 72;

/// A seal record is a bare header (no body); it ends a segment that was closed cleanly.
pub const SEAL_RECORD_LEN: u64 = HEADER_LEN as u64;

/// What a record holds for its asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// The uploaded original, as the author sent it.
    Original,
    /// The 240 px watermarked preview.
    Thumb,
    /// The 500 px watermarked preview.
    Small,
    /// The 1000 px watermarked preview.
    Large,
    /// The metadata submitted with the asset (JSON).
    Metadata,
}

impl Kind {
    /// Every kind, in kind-byte order.
    pub const ALL: [Kind; 5] = [
        Kind::Original,
        Kind::Thumb,
        Kind::Small,
        Kind::Large,
        Kind::Metadata,
    ];

    /// The kind byte written into the header.
    pub const fn to_byte(self) -> u8 {
        match self {
            Kind::Original => 1,
            Kind::Thumb => 2,
            Kind::Small => 3,
            Kind::Large => 4,
            Kind::Metadata => 5,
        }
    }

    /// The kind for a header's kind byte, if it names one.
    pub const fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            1 => Some(Kind::Original),
            2 => Some(Kind::Thumb),
            3 => Some(Kind::Small),
            4 => Some(Kind::Large),
            5 => Some(Kind::Metadata),
            _ => None,
        }
    }

    /// Lowercase name, as the CLI and stats print it.
    pub const fn name(self) -> &'static str {
        match self {
            Kind::Original => "original",
            Kind::Thumb => "thumb",
            Kind::Small => "small",
            Kind::Large => "large",
            Kind::Metadata => "metadata",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a valid header says the record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RecordType {
    /// Bytes for `(asset, kind)`.
    Put(Kind),
    /// `(asset, kind)` is deleted as of this record's sequence number.
    Tombstone(Kind),
    /// The segment was closed cleanly; nothing follows.
    Seal,
    /// Unreadable bytes that recovery copied to `lost+found/` and covered with this header so
    /// later scans step over them. Never part of the index.
    Padding,
}

/// A decoded record header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub record_type: RecordType,
    pub asset: AssetId,
    /// Store-wide, strictly increasing write sequence number: the newest record for a key wins.
    pub seq: u64,
    pub body_len: u64,
    pub body_hash: [u8; 32],
}

/// Why bytes are not a valid header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeaderError {
    TooShort,
    BadMagic,
    BadCheck,
    UnknownVersion(u16),
    UnknownKind(u8),
}

impl Header {
    pub(crate) fn seal(seq: u64) -> Header {
        Header {
            record_type: RecordType::Seal,
            asset: AssetId::from_u64(0),
            seq,
            body_len: 0,
            body_hash: *blake3::hash(&[]).as_bytes(),
        }
    }

    /// Bytes this record occupies in its segment, header and padding included.
    pub(crate) fn record_len(&self) -> u64 {
        record_len(self.body_len)
    }

    pub(crate) fn encode(&self) -> [u8; HEADER_LEN] {
        let (kind_byte, flags) = match self.record_type {
            RecordType::Put(kind) => (kind.to_byte(), 0),
            RecordType::Tombstone(kind) => (kind.to_byte(), FLAG_TOMBSTONE),
            RecordType::Seal => (SEAL_KIND_BYTE, 0),
            RecordType::Padding => (PADDING_KIND_BYTE, 0),
        };
        let mut out = [0u8; HEADER_LEN];
        out[0..8].copy_from_slice(&MAGIC);
        out[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        out[10] = kind_byte;
        out[11] = flags;
        // 12..16 reserved, zero.
        out[16..24].copy_from_slice(&self.asset.as_u64().to_le_bytes());
        out[24..32].copy_from_slice(&self.seq.to_le_bytes());
        out[32..40].copy_from_slice(&self.body_len.to_le_bytes());
        out[40..72].copy_from_slice(&self.body_hash);
        let check = header_check(&out[..CHECKED_LEN]);
        out[72..80].copy_from_slice(&check);
        out
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Header, HeaderError> {
        let Some(bytes) = bytes.get(..HEADER_LEN) else {
            return Err(HeaderError::TooShort);
        };
        if bytes[0..8] != MAGIC {
            return Err(HeaderError::BadMagic);
        }
        if bytes[72..80] != header_check(&bytes[..CHECKED_LEN]) {
            return Err(HeaderError::BadCheck);
        }
        let version = u16::from_le_bytes([bytes[8], bytes[9]]);
        if version != FORMAT_VERSION {
            return Err(HeaderError::UnknownVersion(version));
        }
        let (kind_byte, flags) = (bytes[10], bytes[11]);
        let record_type = match (kind_byte, Kind::from_byte(kind_byte)) {
            (SEAL_KIND_BYTE, _) => RecordType::Seal,
            (PADDING_KIND_BYTE, _) => RecordType::Padding,
            (_, Some(kind)) if flags & FLAG_TOMBSTONE != 0 => RecordType::Tombstone(kind),
            (_, Some(kind)) => RecordType::Put(kind),
            (other, None) => return Err(HeaderError::UnknownKind(other)),
        };
        Ok(Header {
            record_type,
            asset: AssetId::from_u64(read_u64(&bytes[16..24])),
            seq: read_u64(&bytes[24..32]),
            body_len: read_u64(&bytes[32..40]),
            body_hash: bytes[40..72].try_into().unwrap_or([0; 32]),
        })
    }
}

/// The zero bytes that follow a body of `body_len` bytes up to the next record boundary.
pub(crate) fn padding(body_len: u64) -> &'static [u8] {
    const ZEROS: [u8; ALIGN as usize] = [0; ALIGN as usize];
    let len = record_len(body_len) - HEADER_LEN as u64 - body_len;
    &ZEROS[..len as usize]
}

/// The body-hash field of a header that was validated when its record was indexed: a read
/// of 32 bytes, without recomputing the header check (that costs a blake3 call per read).
pub(crate) fn indexed_body_hash(header: &[u8]) -> Option<[u8; 32]> {
    header.get(40..72)?.try_into().ok()
}

/// Bytes a record with a body of `body_len` bytes occupies, header and padding included.
pub(crate) fn record_len(body_len: u64) -> u64 {
    // Saturates for absurd lengths read from damaged headers; such records never fit anyway.
    (HEADER_LEN as u64)
        .saturating_add(body_len)
        .checked_next_multiple_of(ALIGN)
        .unwrap_or(u64::MAX - (ALIGN - 1))
}

/// First 8 bytes of the blake3 hash of the header's first 72 bytes.
fn header_check(checked: &[u8]) -> [u8; 8] {
    let hash = blake3::hash(checked);
    let mut out = [0u8; 8];
    out.copy_from_slice(&hash.as_bytes()[..8]);
    out
}

fn read_u64(bytes: &[u8]) -> u64 {
    let mut raw = [0u8; 8];
    raw.copy_from_slice(bytes);
    u64::from_le_bytes(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(record_type: RecordType) -> Header {
        Header {
            record_type,
            asset: AssetId::from_u64(0x0123_4567_89ab_cdef),
            seq: 42,
            body_len: 5,
            body_hash: *blake3::hash(b"hello").as_bytes(),
        }
    }

    #[test]
    fn header_round_trips_for_every_record_type() {
        for kind in Kind::ALL {
            for record_type in [RecordType::Put(kind), RecordType::Tombstone(kind)] {
                let header = sample(record_type);
                assert_eq!(Header::decode(&header.encode()), Ok(header));
            }
        }
        let seal = Header::seal(7);
        assert_eq!(Header::decode(&seal.encode()), Ok(seal));
        let padding = sample(RecordType::Padding);
        assert_eq!(Header::decode(&padding.encode()), Ok(padding));
    }

    #[test]
    fn every_single_byte_flip_in_a_header_is_detected() {
        let encoded = sample(RecordType::Put(Kind::Large)).encode();
        for position in 0..HEADER_LEN {
            for bit in 0..8 {
                let mut damaged = encoded;
                damaged[position] ^= 1 << bit;
                assert!(
                    Header::decode(&damaged).is_err(),
                    "flip of bit {bit} at byte {position} went unnoticed"
                );
            }
        }
    }

    #[test]
    fn short_input_is_rejected() {
        let encoded = sample(RecordType::Put(Kind::Thumb)).encode();
        assert_eq!(
            Header::decode(&encoded[..HEADER_LEN - 1]),
            Err(HeaderError::TooShort)
        );
    }

    #[test]
    fn record_lengths_are_aligned() {
        assert_eq!(record_len(0), 80);
        assert_eq!(record_len(1), 88);
        assert_eq!(record_len(8), 88);
        assert_eq!(record_len(9), 96);
        for body_len in 0..40 {
            assert_eq!(
                HEADER_LEN as u64 + body_len + padding(body_len).len() as u64,
                record_len(body_len)
            );
        }
    }
}
