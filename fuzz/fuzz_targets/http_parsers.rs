//! The server's parsers of untrusted header and path text: `Range` against any length,
//! and download tokens. Neither may panic, a range part must lie inside the
//! representation, and no input but a signed token may verify.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stockroom_server::range::{RangeAnswer, answer};
use stockroom_server::token::TokenKeys;

fuzz_target!(|data: &[u8]| {
    let Some((&len_byte, header)) = data.split_first() else {
        return;
    };
    let len = u64::from(len_byte) * 997;
    if let RangeAnswer::Part { start, end } = answer(header, len) {
        assert!(start <= end && end < len);
    }
    let keys = TokenKeys::new(vec![(1, [7; 32])]).expect("a key");
    if let Ok(text) = std::str::from_utf8(data) {
        assert!(keys.verify(text, 0).is_err(), "an unsigned token verified: {text}");
    }
});
