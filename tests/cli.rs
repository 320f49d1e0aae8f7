//! End-to-end tests of the `stockroom` binary: each runs the real executable in its own
//! temporary data directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use stockroom_store::{Store, StoreOptions};

fn stockroom() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_stockroom"));
    command
        .env_remove("STOCKROOM_DATA")
        .env_remove("STOCKROOM_CONFIG")
        .env_remove("STOCKROOM_SEGMENT_SIZE")
        .env_remove("STOCKROOM_MAX_UPLOAD_SIZE");
    command
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus_manifest() -> PathBuf {
    repo().join("corpus/manifest.jsonl")
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run stockroom")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Parses ingest's JSON lines into path → (status, id).
fn ingest_lines(output: &Output) -> HashMap<String, (String, Option<String>)> {
    text(&output.stdout)
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("ingest prints JSON lines");
            let path = value["path"].as_str().expect("path").to_string();
            let file = Path::new(&path)
                .file_name()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            let status = value["status"].as_str().expect("status").to_string();
            let id = value["id"].as_str().map(str::to_string);
            (file, (status, id))
        })
        .collect()
}

fn ingest_corpus(data: &Path) -> HashMap<String, (String, Option<String>)> {
    let output = run(stockroom()
        .arg("ingest")
        .arg("--data")
        .arg(data)
        .arg("--manifest")
        .arg(corpus_manifest()));
    assert!(output.status.success(), "{}", text(&output.stderr));
    ingest_lines(&output)
}

#[test]
fn demo_ingests_the_corpus_and_verifies_it() {
    let data = tempfile::tempdir().expect("temp dir");
    let output = run(stockroom()
        .current_dir(repo())
        .arg("demo")
        .arg("--data")
        .arg(data.path()));
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        text(&output.stderr)
    );
    assert!(stdout.contains("\"problems\":0"), "{stdout}");
    assert!(text(&output.stderr).contains("12 stored, 0 already stored, 0 not stored"));
    assert!(stdout.contains("\"assets\": 12"), "{stdout}");
}

#[test]
fn ingest_refuses_exact_duplicates_with_the_existing_id() {
    let data = tempfile::tempdir().expect("temp dir");
    let first = ingest_corpus(data.path());
    assert_eq!(first.len(), 12);
    assert!(first.values().all(|(status, _)| status == "stored"));
    let again = run(stockroom()
        .arg("ingest")
        .arg("--data")
        .arg(data.path())
        .arg(repo().join("corpus/photos")));
    assert!(again.status.success());
    for (file, (status, id)) in ingest_lines(&again) {
        assert_eq!(status, "duplicate", "{file}");
        assert_eq!(id, first[&file].1, "{file} must name the stored id");
    }
}

#[test]
fn verify_exits_non_zero_and_names_the_record_with_a_flipped_byte() {
    let data = tempfile::tempdir().expect("temp dir");
    let ingested = ingest_corpus(data.path());
    let clean = run(stockroom().arg("verify").arg("--data").arg(data.path()));
    assert!(clean.status.success(), "{}", text(&clean.stderr));

    // The first record starts at byte 0 with an 80-byte header; flip a byte of its body.
    let segment = data.path().join("blobs/0000000001.seg");
    let mut bytes = std::fs::read(&segment).expect("read segment");
    let first_asset = u64::from_le_bytes(bytes[16..24].try_into().expect("id bytes"));
    bytes[80 + 1000] ^= 0x01;
    std::fs::write(&segment, bytes).expect("write segment");

    let damaged = run(stockroom().arg("verify").arg("--data").arg(data.path()));
    let stderr = text(&damaged.stderr);
    assert_eq!(damaged.status.code(), Some(1), "{stderr}");
    let named = format!("{first_asset:016x}/original");
    assert!(stderr.contains(&named), "{stderr} should name {named}");
    assert!(stderr.contains("0000000001.seg at byte 0"), "{stderr}");
    assert!(
        ingested
            .values()
            .any(|(_, id)| id.as_deref() == Some(&named[..16])),
        "the damaged record is one that ingest reported"
    );
}

#[test]
fn a_second_writer_on_the_same_data_dir_is_refused_clearly() {
    let data = tempfile::tempdir().expect("temp dir");
    let _held = Store::open(data.path().join("blobs"), StoreOptions::default()).expect("open");
    let output = run(stockroom()
        .arg("ingest")
        .arg("--data")
        .arg(data.path())
        .arg(repo().join("corpus/photos/aqua.jpg")));
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    let pid = format!("pid {}", std::process::id());
    assert!(
        stderr.contains("already open by another stockroom process"),
        "{stderr}"
    );
    assert!(stderr.contains(&pid), "{stderr}");
}

#[test]
fn a_full_disk_stops_ingest_and_loses_nothing_acknowledged() {
    let data = tempfile::tempdir().expect("temp dir");
    // RLIMIT_FSIZE stands in for a full disk: past 2 MiB, writes fail with EFBIG. SIGXFSZ is
    // ignored (inherited across exec) so the write fails instead of killing the process.
    let script = format!(
        "trap '' XFSZ; ulimit -f 2048; exec {} ingest --data {} --manifest {}",
        env!("CARGO_BIN_EXE_stockroom"),
        data.path().display(),
        corpus_manifest().display()
    );
    let limited = run(Command::new("bash").arg("-c").arg(script));
    let stderr = text(&limited.stderr);
    assert_eq!(limited.status.code(), Some(1), "{stderr}");
    let outcomes = ingest_lines(&limited);
    let stored: Vec<_> = outcomes
        .iter()
        .filter(|(_, (status, _))| status == "stored")
        .collect();
    assert!(!stored.is_empty(), "some photos fit under the limit");
    assert!(stored.len() < 12, "the limit must have been hit");
    let stdout = text(&limited.stdout);
    assert!(stdout.contains("no space left"), "{stdout}");

    // Without the limit: the store verifies clean and every acknowledged photo is there.
    let verify = run(stockroom().arg("verify").arg("--data").arg(data.path()));
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    let again = ingest_corpus(data.path());
    for (file, (_, id)) in stored {
        assert_eq!(
            again[file].0, "duplicate",
            "{file} was acknowledged, so it is stored"
        );
        assert_eq!(&again[file].1, id);
    }
}

#[test]
fn bad_input_gets_a_clear_error_and_stores_nothing() {
    let data = tempfile::tempdir().expect("temp dir");
    let junk = data.path().join("notes.jpg");
    std::fs::write(&junk, "this is text, not a JPEG").expect("write");
    let output = run(stockroom()
        .arg("ingest")
        .arg("--data")
        .arg(data.path())
        .arg("--max-upload-size")
        .arg("100KiB")
        .arg(&junk)
        .arg(repo().join("corpus/photos/aqua.jpg")));
    assert_eq!(output.status.code(), Some(1));
    let outcomes = ingest_lines(&output);
    assert_eq!(outcomes["notes.jpg"].0, "failed");
    assert_eq!(outcomes["aqua.jpg"].0, "failed");
    let stdout = text(&output.stdout);
    assert!(stdout.contains("not a JPEG, PNG or WebP image"), "{stdout}");
    assert!(
        stdout.contains("the upload limit is 102400 bytes"),
        "{stdout}"
    );
    let stats = run(stockroom().arg("stats").arg("--data").arg(data.path()));
    let stats: Value = serde_json::from_slice(&stats.stdout).expect("stats JSON");
    assert_eq!(stats["stores"]["blobs"]["assets"], 0);

    let config = data.path().join("stockroom.toml");
    std::fs::write(&config, "[store]\nsegment_size = \"12 parsecs\"\n").expect("write");
    let output = run(stockroom()
        .arg("stats")
        .arg("--data")
        .arg(data.path())
        .arg("--config")
        .arg(&config));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("unknown size unit"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn compaction_reclaims_deleted_space_and_keeps_every_asset() {
    let data = tempfile::tempdir().expect("temp dir");
    ingest_corpus(data.path());
    let blobs = data.path().join("blobs");
    {
        // Overwrite one original so there is something to reclaim.
        let store = Store::open(&blobs, StoreOptions::default()).expect("open");
        let entry = store
            .entries()
            .into_iter()
            .max_by_key(|entry| entry.len)
            .expect("entries");
        let bytes = store.get(entry.asset, entry.kind).expect("live").to_vec();
        store.put(entry.asset, entry.kind, &bytes).expect("rewrite");
    }
    let stats = |data: &Path| -> Value {
        let output = run(stockroom().arg("stats").arg("--data").arg(data));
        serde_json::from_slice(&output.stdout).expect("stats JSON")
    };
    let before = stats(data.path());
    assert!(before["stores"]["blobs"]["reclaimable_bytes"].as_u64() > Some(1000));
    let compact = run(stockroom().arg("compact").arg("--data").arg(data.path()));
    assert!(compact.status.success(), "{}", text(&compact.stderr));
    let after = stats(data.path());
    assert!(after["stores"]["blobs"]["reclaimable_bytes"].as_u64() < Some(200));
    assert_eq!(
        after["stores"]["blobs"]["kinds"],
        before["stores"]["blobs"]["kinds"]
    );
    let verify = run(stockroom().arg("verify").arg("--data").arg(data.path()));
    assert!(verify.status.success());
}
