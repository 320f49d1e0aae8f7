//! The `Range` request header (RFC 9110 §14.2), for one range of bytes.
//!
//! A preview or an original is one representation of known length, so a single range is
//! answered with `206` and its bytes. Several ranges (`bytes=0-1,5-9`) are answered with
//! the whole representation (`200`), which the RFC allows and every client handles; a
//! unit other than `bytes` is ignored the same way, and so is a `Range` that does not
//! parse (RFC 9110 §14.2: an invalid range is ignored). Only a well-formed range of which
//! no byte exists (it starts past the end, or asks for the last 0 bytes) gets `416`.
//! Pure: no I/O, no allocation.

/// What to send for a request's `Range` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeAnswer {
    /// The whole representation (`200`): no range, several, another unit, or one that
    /// does not parse.
    Whole,
    /// Bytes `start..=end` (`206`); always `start <= end < len`.
    Part {
        /// The first byte sent.
        start: u64,
        /// The last byte sent (inclusive).
        end: u64,
    },
    /// `416`: well-formed, but no byte of it exists.
    Unsatisfiable,
}

/// Reads a `Range` header value against a representation of `len` bytes.
pub fn answer(header: &[u8], len: u64) -> RangeAnswer {
    let Ok(text) = std::str::from_utf8(header) else {
        return RangeAnswer::Whole;
    };
    let Some((unit, set)) = text.trim().split_once('=') else {
        return RangeAnswer::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || set.contains(',') {
        return RangeAnswer::Whole;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return RangeAnswer::Whole;
    };
    match (number(first), number(last)) {
        // `-N`: the last N bytes; none of an empty representation, nor the last 0.
        (Number::Absent, Number::Value(0)) => RangeAnswer::Unsatisfiable,
        (Number::Absent, Number::Value(_) | Number::TooLarge) if len == 0 => {
            RangeAnswer::Unsatisfiable
        }
        (Number::Absent, Number::Value(suffix)) => RangeAnswer::Part {
            start: len.saturating_sub(suffix),
            end: len - 1,
        },
        (Number::Absent, Number::TooLarge) => RangeAnswer::Part {
            start: 0,
            end: len - 1,
        },
        // A last position before the first makes the range invalid, not unsatisfiable.
        (Number::Value(start), Number::Value(end)) if end < start => RangeAnswer::Whole,
        (Number::TooLarge, Number::Value(_)) => RangeAnswer::Whole,
        // `N-` and `N-M` starting at or past the end.
        (Number::Value(start), Number::Absent | Number::Value(_) | Number::TooLarge)
            if start >= len =>
        {
            RangeAnswer::Unsatisfiable
        }
        (Number::TooLarge, Number::Absent | Number::TooLarge) => RangeAnswer::Unsatisfiable,
        // `N-`: from N to the end; `N-M`: clipped to the end.
        (Number::Value(start), Number::Absent | Number::TooLarge) => RangeAnswer::Part {
            start,
            end: len - 1,
        },
        (Number::Value(start), Number::Value(end)) => RangeAnswer::Part {
            start,
            end: end.min(len - 1),
        },
        // Anything else does not parse: ignored (RFC 9110 §14.2).
        _ => RangeAnswer::Whole,
    }
}

enum Number {
    Absent,
    Value(u64),
    /// All digits, but past `u64`: as good as infinite for an end or a suffix.
    TooLarge,
    Malformed,
}

/// Digits only (no sign, no spaces inside).
fn number(text: &str) -> Number {
    let text = text.trim();
    if text.is_empty() {
        return Number::Absent;
    }
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Number::Malformed;
    }
    match text.parse::<u64>() {
        Ok(value) => Number::Value(value),
        Err(_) => Number::TooLarge,
    }
}

/// `Content-Range` for a part: `bytes START-END/LEN`.
pub fn content_range(start: u64, end: u64, len: u64) -> String {
    format!("bytes {start}-{end}/{len}")
}

/// `Content-Range` for a `416`: `bytes */LEN`.
pub fn unsatisfied_range(len: u64) -> String {
    format!("bytes */{len}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(start: u64, end: u64) -> RangeAnswer {
        RangeAnswer::Part { start, end }
    }

    #[test]
    fn the_forms_of_a_single_range_are_read() {
        assert_eq!(answer(b"bytes=0-99", 1000), part(0, 99));
        assert_eq!(answer(b"bytes=500-", 1000), part(500, 999));
        assert_eq!(answer(b"bytes=-100", 1000), part(900, 999));
        assert_eq!(answer(b"bytes=-5000", 1000), part(0, 999));
        assert_eq!(answer(b"bytes=990-5000", 1000), part(990, 999));
        assert_eq!(answer(b"BYTES = 1-1", 1000), part(1, 1));
        assert_eq!(answer(b"bytes=0-99999999999999999999999", 10), part(0, 9));
        assert_eq!(answer(b"bytes=-99999999999999999999999", 10), part(0, 9));
    }

    #[test]
    fn several_ranges_and_other_units_get_the_whole() {
        assert_eq!(answer(b"bytes=0-1,5-9", 1000), RangeAnswer::Whole);
        assert_eq!(answer(b"items=0-1", 1000), RangeAnswer::Whole);
    }

    #[test]
    fn malformed_ranges_are_ignored_and_ones_past_the_end_unsatisfiable() {
        for header in [
            &b"bytes=5-4"[..],
            b"bytes=x-5",
            b"bytes=+1-5",
            b"bytes=1-2-3",
            b"bytes=",
            b"bytes=-",
            b"bytes 0-5",
            b"bytes=abc",
            b"bytes=99999999999999999999999-5",
            b"bytes=\xff-1",
            b"\xff",
        ] {
            assert_eq!(
                answer(header, 1000),
                RangeAnswer::Whole,
                "{}",
                String::from_utf8_lossy(header)
            );
        }
        for header in [
            &b"bytes=1000-"[..],
            b"bytes=1000-2000",
            b"bytes=-0",
            b"bytes=99999999999999999999999-",
        ] {
            assert_eq!(
                answer(header, 1000),
                RangeAnswer::Unsatisfiable,
                "{}",
                String::from_utf8_lossy(header)
            );
        }
        assert_eq!(answer(b"bytes=-5", 0), RangeAnswer::Unsatisfiable);
        assert_eq!(answer(b"bytes=0-", 0), RangeAnswer::Unsatisfiable);
    }

    /// The property that keeps a response from reading past its bytes: whatever the
    /// header, a part lies inside the representation, and a well-formed single range
    /// gets exactly the bytes a direct reading of the RFC gives.
    #[test]
    fn any_header_yields_a_part_inside_the_representation() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        const ALPHABET: &[u8] = b"bytes=0123456789-, \txB";
        for _ in 0..200_000 {
            let len = next() % 50;
            let header: Vec<u8> = if next() % 2 == 0 {
                let count = next() % 14;
                (0..count)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .collect()
            } else {
                let (a, b) = (next() % 60, next() % 60);
                match next() % 3 {
                    0 => format!("bytes={a}-{b}"),
                    1 => format!("bytes={a}-"),
                    _ => format!("bytes=-{b}"),
                }
                .into_bytes()
            };
            let got = answer(&header, len);
            if let RangeAnswer::Part { start, end } = got {
                assert!(start <= end && end < len, "{header:?} over {len}: {got:?}");
            }
            if let Some(expected) = model(&header, len) {
                assert_eq!(
                    got,
                    expected,
                    "{:?} over {len}",
                    String::from_utf8_lossy(&header)
                );
            }
        }
    }

    /// The RFC's arithmetic for the three well-formed shapes, written the long way.
    fn model(header: &[u8], len: u64) -> Option<RangeAnswer> {
        let text = std::str::from_utf8(header).ok()?.strip_prefix("bytes=")?;
        let (first, last) = text.split_once('-')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        let unsatisfiable = Some(RangeAnswer::Unsatisfiable);
        if first.is_empty() && digits(last) {
            let suffix: u64 = last.parse().ok()?;
            if suffix == 0 || len == 0 {
                return unsatisfiable;
            }
            return Some(part(len - suffix.min(len), len - 1));
        }
        if digits(first) && last.is_empty() {
            let start: u64 = first.parse().ok()?;
            return if start < len {
                Some(part(start, len - 1))
            } else {
                unsatisfiable
            };
        }
        if digits(first) && digits(last) {
            let (start, end): (u64, u64) = (first.parse().ok()?, last.parse().ok()?);
            if end < start {
                return Some(RangeAnswer::Whole);
            }
            return if start < len {
                Some(part(start, end.min(len - 1)))
            } else {
                unsatisfiable
            };
        }
        None
    }
}
