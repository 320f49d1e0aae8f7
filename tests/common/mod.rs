//! What the end-to-end tests share: the binary under test, run with none of the operator's
//! `STOCKROOM_*` settings, and where the repository's corpus is.

#![allow(dead_code)] // each test file uses its own part of this

pub mod garage;
pub mod haproxy;
pub mod pictures;
#[path = "../../crates/catalog/tests/support/postgres.rs"]
pub mod postgres;
#[path = "../../crates/redis/tests/support/redis.rs"]
pub mod redis;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The `stockroom` binary of this build, with no `STOCKROOM_*` variable inherited.
pub fn stockroom() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stockroom"));
    for variable in [
        "STOCKROOM_DATA",
        "STOCKROOM_CONFIG",
        "STOCKROOM_SEGMENT_SIZE",
        "STOCKROOM_MAX_UPLOAD_SIZE",
        "STOCKROOM_KEY",
        "STOCKROOM_ORIGINALS_URL",
        "STOCKROOM_CATALOG_URL",
        "STOCKROOM_REDIS_URL",
    ] {
        command.env_remove(variable);
    }
    command
}

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bundled corpus's manifest.
pub fn corpus_manifest() -> PathBuf {
    repo().join("corpus/manifest.jsonl")
}

/// Bytes as text, lossily (a command's output).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A corpus photo at half size, re-encoded: a near duplicate an upload is held for.
pub fn near_duplicate(file: &str) -> Vec<u8> {
    let photo = image::open(repo().join("corpus/photos").join(file)).expect("decode");
    let half = photo.resize(
        photo.width() / 2,
        photo.height() / 2,
        image::imageops::FilterType::Triangle,
    );
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 80)
        .encode_image(&half.to_rgb8())
        .expect("encode");
    jpeg
}
