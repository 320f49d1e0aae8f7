//! End-to-end tests of the `stockroom` binary: each runs the real executable in its own
//! temporary data directory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use stockroom_store::{Store, StoreOptions};

mod common;
use common::{corpus_manifest, repo, stockroom, text};

fn run(command: &mut Command) -> Output {
    command.output().expect("run stockroom")
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
fn demo_ingests_the_corpus_verifies_it_and_serves_it() {
    use std::io::{BufRead, BufReader, Read, Write};
    let data = tempfile::tempdir().expect("temp dir");
    /// Stops the demo however the test ends.
    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut demo = stockroom()
        .current_dir(repo())
        .arg("demo")
        .arg("--data")
        .arg(data.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map(Running)
        .expect("start the demo");
    let mut stdout = String::new();
    let mut lines = BufReader::new(demo.0.stdout.take().expect("stdout"));
    let mut base = None;
    // The walkthrough ends with the example requests, the last of them /openapi.json.
    while !stdout.contains("/openapi.json") {
        let mut line = String::new();
        assert!(lines.read_line(&mut line).expect("read") > 0, "{stdout}");
        if let Some(rest) = line.strip_prefix("Serving on ") {
            base = rest.split(' ').next().map(str::to_string);
        }
        stdout.push_str(&line);
    }
    let base = base.expect("the address served");
    assert!(stdout.contains("\"problems\":0"), "{stdout}");
    assert!(stdout.contains("\"assets\": 12"), "{stdout}");
    assert!(stdout.contains("Authorization: Bearer sr_"), "{stdout}");
    assert!(
        stdout.contains("/console/"),
        "the demo names the console: {stdout}"
    );
    let address = base.strip_prefix("http://").expect("http");
    let mut connection = std::net::TcpStream::connect(address).expect("connect");
    connection
        .write_all(b"GET /v1/search?q=blumen HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut answer = String::new();
    connection.read_to_string(&mut answer).expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("\"total\":2"), "{answer}");
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(demo.0.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = demo.0.wait().expect("wait");
    let mut stderr = String::new();
    demo.0
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("stderr");
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains(
        "12 stored, 0 held for review as near duplicates, 0 already stored, 0 not stored"
    ));
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

/// A copy a thief might upload: mirrored, shrunk to 60%, padded with 15% white on every
/// side, and recompressed at quality 70.
fn disguised_copy(original: &Path, out: &Path) {
    let photo = image::open(original)
        .expect("decode corpus photo")
        .to_rgb8();
    let mirrored = image::imageops::flip_horizontal(&photo);
    let (w, h) = (mirrored.width() * 3 / 5, mirrored.height() * 3 / 5);
    let small = image::imageops::resize(&mirrored, w, h, image::imageops::FilterType::Triangle);
    let (pad_x, pad_y) = (w * 15 / 100, h * 15 / 100);
    let mut canvas =
        image::RgbImage::from_pixel(w + 2 * pad_x, h + 2 * pad_y, image::Rgb([255, 255, 255]));
    image::imageops::replace(&mut canvas, &small, i64::from(pad_x), i64::from(pad_y));
    let file = std::fs::File::create(out).expect("create copy");
    image::codecs::jpeg::JpegEncoder::new_with_quality(file, 70)
        .encode_image(&canvas)
        .expect("encode copy");
}

fn json_lines(output: &Output) -> Vec<Value> {
    text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

#[test]
fn a_disguised_copy_is_found_and_held_for_review() {
    let data = tempfile::tempdir().expect("temp dir");
    let ingested = ingest_corpus(data.path());
    let aqua = ingested["aqua.jpg"].1.clone().expect("aqua's id");
    let copy = data.path().join("copy.jpg");
    disguised_copy(&repo().join("corpus/photos/aqua.jpg"), &copy);

    let output = run(stockroom()
        .arg("dedup")
        .arg("--data")
        .arg(data.path())
        .arg(&copy));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 1);
    let matches = lines[0]["matches"].as_array().expect("matches");
    assert!(!matches.is_empty(), "{}", lines[0]);
    let best = &matches[0];
    assert_eq!(best["asset_id"], aqua.as_str(), "{}", lines[0]);
    assert_eq!(best["transform"], "flip", "{}", lines[0]);
    assert!(best["distance"].as_u64().expect("distance") <= 31);
    // Both regions are cut from the picture with its padding trimmed (the centre crop is
    // the trimmed content's); the whole, padding included, would be far.
    assert!(
        ["trimmed", "centre"].contains(&best["query_region"].as_str().unwrap_or_default()),
        "padding was trimmed: {}",
        lines[0]
    );
    assert!(lines[0]["quality"].as_u64().expect("quality") >= 50);

    let output = run(stockroom()
        .arg("ingest")
        .arg("--data")
        .arg(data.path())
        .arg(&copy));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    assert_eq!(lines[0]["status"], "pending", "{}", lines[0]);
    assert_eq!(lines[0]["duplicates"][0]["asset_id"], aqua.as_str());
    // Held, but stored: a moderator can see it.
    let id = lines[0]["id"].as_str().expect("id").to_string();
    let store = Store::open(data.path().join("blobs"), StoreOptions::default()).expect("open");
    let metadata = store
        .get(
            id.parse().expect("asset id"),
            stockroom_store::Kind::Metadata,
        )
        .expect("metadata record");
    let metadata: Value = serde_json::from_slice(metadata.as_ref()).expect("metadata JSON");
    assert_eq!(metadata["status"], "pending");
}

#[test]
fn flat_images_never_hold_each_other() {
    let data = tempfile::tempdir().expect("temp dir");
    for (name, colour) in [("grey.png", [128u8, 128, 128]), ("blue.png", [20, 40, 200])] {
        image::RgbImage::from_pixel(640, 480, image::Rgb(colour))
            .save(data.path().join(name))
            .expect("write flat image");
    }
    let output = run(stockroom()
        .arg("ingest")
        .arg("--data")
        .arg(data.path())
        .arg(data.path().join("grey.png"))
        .arg(data.path().join("blue.png")));
    assert!(output.status.success(), "{}", text(&output.stderr));
    for line in json_lines(&output) {
        assert_eq!(line["status"], "stored", "{line}");
    }
}

#[test]
fn hash_prints_the_design_fields_and_an_error_line_for_a_non_image() {
    let data = tempfile::tempdir().expect("temp dir");
    let not_image = data.path().join("notes.jpg");
    std::fs::write(&not_image, "just some text").expect("write");
    let photo = repo().join("corpus/photos/aqua.jpg");
    let output = run(stockroom().arg("hash").arg(&photo).arg(&not_image));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 2);
    let hex = |value: &Value, digits: usize| {
        value.as_str().is_some_and(|s| {
            s.len() == digits
                && s.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    };
    assert!(hex(&lines[0]["pdq"], 64), "{}", lines[0]);
    assert!(hex(&lines[0]["phash"], 16), "{}", lines[0]);
    assert!(hex(&lines[0]["blake3"], 64), "{}", lines[0]);
    assert!(lines[0]["quality"].as_u64().expect("quality") <= 100);
    assert!(
        lines[1]["error"].as_str().expect("error").contains("not"),
        "{}",
        lines[1]
    );
}

/// `hash` hashes a batch on every CPU; its lines must still come out in the order given,
/// each the same as when that image is hashed alone, the error line in its place.
#[test]
fn hash_prints_a_batch_in_the_order_given() {
    let data = tempfile::tempdir().expect("temp dir");
    let not_image = data.path().join("broken.png");
    std::fs::write(&not_image, b"\x89PNG\r\n\x1a\n and then nothing").expect("write");
    let mut photos: Vec<PathBuf> = std::fs::read_dir(repo().join("corpus/photos"))
        .expect("corpus")
        .map(|entry| entry.expect("entry").path())
        .collect();
    photos.sort();
    // Three times over, so that the batch is longer than one round of the pool.
    let mut batch: Vec<PathBuf> = photos
        .iter()
        .chain(&photos)
        .chain(&photos)
        .cloned()
        .collect();
    batch.insert(batch.len() / 2, not_image.clone());
    let output = run(stockroom().arg("hash").args(&batch));
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    let paths: Vec<&str> = lines
        .iter()
        .map(|line| line["path"].as_str().expect("path"))
        .collect();
    let expected: Vec<String> = batch
        .iter()
        .map(|path| path.display().to_string())
        .collect();
    assert_eq!(paths, expected);
    assert!(
        lines[batch.len() / 2]["error"].is_string(),
        "{}",
        lines[batch.len() / 2]
    );
    let alone = json_lines(&run(stockroom().arg("hash").arg(&photos[3])));
    for (line, path) in lines.iter().zip(&batch) {
        if path == &photos[3] {
            assert_eq!(line, &alone[0]);
        }
    }
}

#[test]
fn members_add_prints_the_id_and_one_key_per_seat_and_block_and_clear_change_the_status() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let add = run(stockroom()
        .arg("members")
        .arg("add")
        .arg("--data")
        .arg(&data)
        .args([
            "--name",
            "Team Blue",
            "--role",
            "customer,author",
            "--tier",
            "unlimited",
            "--seats",
            "3",
        ]));
    assert!(add.status.success(), "{}", text(&add.stderr));
    let created: Value = serde_json::from_slice(&add.stdout).expect("one JSON object");
    let id = created["id"].as_str().expect("id").to_string();
    let keys = created["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 3);
    assert!(
        keys.iter()
            .all(|key| key.as_str().is_some_and(|k| k.starts_with("sr_")))
    );

    let block = run(stockroom()
        .args(["members", "block", &id])
        .arg("--data")
        .arg(&data));
    assert!(block.status.success(), "{}", text(&block.stderr));
    let list = run(stockroom()
        .args(["members", "list"])
        .arg("--data")
        .arg(&data));
    let members = json_lines(&list);
    assert_eq!(members.len(), 1);
    assert_eq!(members[0]["status"], "blocked");
    assert_eq!(
        members[0]["roles"],
        serde_json::json!(["customer", "author"])
    );
    assert_eq!(members[0]["seats"].as_array().map(Vec::len), Some(3));
    assert!(
        !text(&list.stdout).contains(keys[0].as_str().unwrap_or("-")),
        "keys are never listed"
    );
    let clear = run(stockroom()
        .args(["members", "clear", &id])
        .arg("--data")
        .arg(&data));
    let cleared: Value = serde_json::from_slice(&clear.stdout).expect("JSON");
    assert_eq!(cleared["status"], "active");
}

#[test]
fn members_add_refuses_bad_input_clearly_and_creates_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    for (args, expected) in [
        (["--tier", "gold", "--seats", "1"], "not a tier"),
        (
            ["--tier", "registered", "--seats", "2"],
            "only unlimited memberships have seats",
        ),
        (
            ["--tier", "anonymous", "--seats", "1"],
            "anonymous users have no account",
        ),
    ] {
        let output = run(stockroom()
            .args(["members", "add", "--name", "X", "--role", "customer"])
            .args(args)
            .arg("--data")
            .arg(&data));
        assert_eq!(output.status.code(), Some(2));
        assert!(
            text(&output.stderr).contains(expected),
            "{}",
            text(&output.stderr)
        );
    }
    let list = run(stockroom()
        .args(["members", "list"])
        .arg("--data")
        .arg(&data));
    assert!(list.status.success());
    assert!(list.stdout.is_empty());
}

/// Runs `stockroom search` and parses its JSON.
fn search(data: &Path, args: &[&str]) -> Value {
    let output = run(stockroom().arg("search").arg("--data").arg(data).args(args));
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("search prints JSON")
}

fn result_ids(found: &Value) -> Vec<String> {
    found["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|hit| hit["id"].as_str().expect("id").to_string())
        .collect()
}

#[test]
fn ingested_photos_are_searchable_at_once_and_reindex_rebuilds_the_same_index() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let ingested = ingest_corpus(&data);
    let id_of = |file: &str| ingested[file].1.clone().expect("an id");

    // A word of one photo's keywords finds it first; German inflections find German photos.
    let found = search(&data, &["dandelion"]);
    assert_eq!(result_ids(&found), [id_of("twowings.jpg")]);
    assert_eq!(found["results"][0]["author"]["name"], "Charles Barbin");
    let found = search(&data, &["Gärten"]);
    assert_eq!(result_ids(&found), [id_of("garden.jpg")]);
    // Automatic keywords and filters: every corpus photo is a landscape.
    let all = search(
        &data,
        &["--facets", "orientation,collection", "--per-page", "100"],
    );
    assert_eq!(all["total"], 12);
    assert_eq!(all["facets"]["orientation"]["landscape"], 12);
    assert_eq!(all["facets"]["collection"]["unlimited"], 4);
    let unlimited = search(&data, &["--collection", "unlimited"]);
    assert_eq!(unlimited["total"], 4);
    // Nothing found: a suggestion, not an error; odd input is no error either.
    let found = search(&data, &["dandelin"]);
    assert_eq!(found["total"], 0);
    assert_eq!(found["suggestion"], "dandelion");
    search(&data, &["\"unclosed", "-", "title:(x"]);
    let output = run(stockroom()
        .args(["search", "--per-page", "101", "--data"])
        .arg(&data));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("per_page"),
        "{}",
        text(&output.stderr)
    );

    let output = run(stockroom().arg("reindex").arg("--data").arg(&data));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("reindex prints JSON");
    assert_eq!(report["indexed"], 12);
    let again = search(
        &data,
        &["--facets", "orientation,collection", "--per-page", "100"],
    );
    assert_eq!(again, all, "reindex built a different index");

    // Similar: the other German flower shares the most keywords with the yellow one.
    let output = run(stockroom()
        .args(["similar", "--limit", "3", "--data"])
        .arg(&data)
        .arg(id_of("yellowflower.jpg")));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let similar = json_lines(&output);
    assert_eq!(similar.len(), 3);
    assert_eq!(similar[0]["id"], id_of("garden.jpg").as_str());
    assert!(
        similar
            .iter()
            .all(|hit| hit["id"] != id_of("yellowflower.jpg").as_str())
    );
}

/// Creates a registered member through the CLI; what it printed (`{"id", "keys"}`).
fn add_member(data: &Path, name: &str, role: &str) -> Value {
    let output = run(stockroom()
        .args(["members", "add", "--data"])
        .arg(data)
        .args(["--name", name, "--role", role, "--tier", "registered"]));
    assert!(output.status.success(), "{}", text(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("JSON")
}

/// Creates a member through the CLI; its first key.
fn member_key(data: &Path, name: &str, role: &str) -> String {
    add_member(data, name, role)["keys"][0]
        .as_str()
        .expect("a key")
        .to_string()
}

#[test]
fn a_takedown_from_the_cli_takes_the_same_steps_as_the_api() {
    let data = tempfile::tempdir().expect("temp dir");
    let ingested = ingest_corpus(data.path());
    let (_, (_, id)) = ingested
        .iter()
        .find(|(path, _)| path.ends_with("aqua.jpg"))
        .expect("aqua.jpg ingested");
    let id = id.clone().expect("an id");
    let before = search(data.path(), &[])["total"].as_u64().expect("total");
    let customer = member_key(data.path(), "Cy Customer", "customer");
    let moderator = member_key(data.path(), "Mo Moderator", "moderator");
    let takedown = |key: &str| {
        run(stockroom()
            .args(["assets", "takedown", &id, "--reason", "notice 7", "--data"])
            .arg(data.path())
            .args(["--key", key]))
    };

    let refused = takedown(&customer);
    assert!(!refused.status.success(), "a customer may not take down");
    assert!(
        text(&refused.stderr).contains("moderators only"),
        "{}",
        text(&refused.stderr)
    );
    assert_eq!(
        search(data.path(), &[])["total"].as_u64(),
        Some(before),
        "nothing changed"
    );

    let done = takedown(&moderator);
    assert!(done.status.success(), "{}", text(&done.stderr));
    let answer: Value = serde_json::from_slice(&done.stdout).expect("JSON");
    assert_eq!(
        (answer["id"].as_str(), answer["status"].as_str()),
        (Some(id.as_str()), Some("removed"))
    );
    // Out of search, its bytes gone from the store, its hashes from the duplicate index.
    assert_eq!(search(data.path(), &[])["total"].as_u64(), Some(before - 1));
    assert!(!result_ids(&search(data.path(), &["--per-page", "100"])).contains(&id));
    let stats = run(stockroom().arg("stats").arg("--data").arg(data.path()));
    assert!(
        text(&stats.stdout).contains("\"assets\": 11"),
        "{}",
        text(&stats.stdout)
    );
    let dedup = run(stockroom()
        .arg("dedup")
        .arg("--data")
        .arg(data.path())
        .arg(repo().join("corpus/photos/aqua.jpg")));
    assert!(
        !text(&dedup.stdout).contains(&id),
        "{}",
        text(&dedup.stdout)
    );
    assert!(
        !takedown(&moderator).status.success(),
        "a removed asset is not taken down twice"
    );

    // Issue 23: the takedown sticks for ingest as for uploads, and a hash list imported
    // from the command line refuses what it lists.
    let again = run(stockroom()
        .arg("ingest")
        .arg("--data")
        .arg(data.path())
        .arg(repo().join("corpus/photos/aqua.jpg")));
    assert!(
        text(&again.stdout).contains("blocklist entry")
            || text(&again.stderr).contains("blocklist entry"),
        "{}{}",
        text(&again.stdout),
        text(&again.stderr)
    );
    let hashed = run(stockroom()
        .arg("hash")
        .arg(repo().join("corpus/photos/blinds.jpg")));
    let pdq = json_lines(&hashed)[0]["pdq"]
        .as_str()
        .expect("pdq")
        .to_string();
    let list = data.path().join("list.txt");
    std::fs::write(&list, format!("# from a partner\n{pdq} 100\n")).expect("list");
    let import = |key: &str| {
        run(stockroom()
            .args(["blocklist", "import"])
            .arg(&list)
            .args(["--source", "partner", "--key", key, "--data"])
            .arg(data.path()))
    };
    assert!(!import(&customer).status.success(), "moderators only");
    let imported = import(&moderator);
    assert!(imported.status.success(), "{}", text(&imported.stderr));
    assert_eq!(json_lines(&imported)[0]["imported"], 1);
    let listed = run(stockroom()
        .args(["blocklist", "list", "--data"])
        .arg(data.path()));
    let entries = json_lines(&listed);
    assert_eq!(entries.len(), 2, "{}", text(&listed.stdout));
    assert_eq!(entries[0]["source"], "partner");
    assert_eq!(entries[1]["source"], "takedown");
    assert_eq!(entries[1]["asset_id"], id.as_str());
}

#[test]
fn the_data_directory_is_for_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().expect("temp dir");
    ingest_corpus(data.path());
    let mode = |path: &Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|error| panic!("{}: {error}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    for dir in ["blobs", "catalog", "index", "dupes"] {
        assert_eq!(mode(&data.path().join(dir)), 0o700, "{dir}/");
    }
    for file in [
        "catalog/catalog.sqlite3",
        "catalog/key-secret",
        "dupes/hashes",
    ] {
        assert_eq!(mode(&data.path().join(file)), 0o600, "{file}");
    }
    let segment = std::fs::read_dir(data.path().join("blobs"))
        .expect("blobs")
        .map(|entry| entry.expect("entry").path())
        .find(|path| path.extension().is_some_and(|extension| extension == "seg"))
        .expect("a segment");
    assert_eq!(mode(&segment), 0o600, "{}", segment.display());
}

#[test]
fn a_crash_mid_upload_leaves_no_ghost_that_refuses_the_image_again() {
    let data = tempfile::tempdir().expect("temp dir");
    let photo = repo().join("corpus/photos/aqua.jpg");
    let ghost = stockroom_vocab::AssetId::from_u64(7);
    let recorded = stockroom_vocab::AssetId::from_u64(8);
    {
        // What a kill leaves behind: an original with no record yet, and one whose
        // record this build wrote just before the catalogue row that never came.
        let store = Store::open(data.path().join("blobs"), StoreOptions::default()).expect("store");
        let bytes = std::fs::read(&photo).expect("photo");
        let other = std::fs::read(repo().join("corpus/photos/blinds.jpg")).expect("photo");
        store
            .put(ghost, stockroom_store::Kind::Original, &bytes)
            .expect("put");
        store
            .put(recorded, stockroom_store::Kind::Original, &other)
            .expect("put");
        let record =
            br#"{"version":2,"status":"active","width":10,"height":10,"title":"Ghost words"}"#;
        store
            .put(recorded, stockroom_store::Kind::Metadata, record)
            .expect("put");
    }
    let output = run(stockroom()
        .arg("ingest")
        .arg("--data")
        .arg(data.path())
        .arg(&photo));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let lines = json_lines(&output);
    assert_eq!(lines[0]["status"], "stored", "{}", text(&output.stdout));
    assert_ne!(lines[0]["id"].as_str(), Some(ghost.to_string().as_str()));
    let reindex = run(stockroom().arg("reindex").arg("--data").arg(data.path()));
    assert!(reindex.status.success(), "{}", text(&reindex.stderr));
    assert_eq!(
        search(data.path(), &["ghost"])["total"],
        0,
        "an orphan is never searchable"
    );
    let stats = run(stockroom().arg("stats").arg("--data").arg(data.path()));
    assert!(stats.status.success(), "{}", text(&stats.stderr));
    let stats: Value = serde_json::from_slice(&stats.stdout).expect("JSON");
    assert_eq!(
        stats["orphans"],
        serde_json::json!([ghost.to_string(), recorded.to_string()])
    );
    let verify = run(stockroom().arg("verify").arg("--data").arg(data.path()));
    assert!(verify.status.success(), "{}", text(&verify.stderr));
    let orphans = json_lines(&verify)
        .into_iter()
        .find(|line| !line["orphans"].is_null())
        .expect("verify names the orphans");
    assert_eq!(
        orphans["orphans"],
        serde_json::json!([ghost.to_string(), recorded.to_string()])
    );
}

/// Creates a member through the CLI; their id.
fn member_id(data: &Path, name: &str, role: &str) -> String {
    add_member(data, name, role)["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

#[test]
fn ingest_credits_an_author_member_who_may_upload_and_no_one_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let author = member_id(&data, "Ann Author", "author");
    let customer = member_id(&data, "Cy Customer", "customer");
    let photo = repo().join("corpus/photos/twowings.jpg");
    let ingest = |member: &str| {
        run(stockroom()
            .args(["ingest", "--author-member", member, "--manifest"])
            .arg(corpus_manifest())
            .arg("--data")
            .arg(&data)
            .arg(&photo))
    };
    // Not an author, or no member at all: refused per file with the reason, nothing stored.
    for (member, why) in [
        (customer.as_str(), "only authors may upload"),
        ("m_nobody", "not found"),
    ] {
        let refused = ingest(member);
        assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stderr));
        assert!(
            text(&refused.stdout).contains(why),
            "{}",
            text(&refused.stdout)
        );
    }
    assert_eq!(search(&data, &["dandelion"])["total"], 0);
    // An author: credited by id and name (the manifest's "Charles Barbin" gives way).
    let admitted = ingest(&author);
    assert!(admitted.status.success(), "{}", text(&admitted.stdout));
    let found = search(&data, &["dandelion"]);
    assert_eq!(found["results"][0]["author"]["id"], author.as_str());
    assert_eq!(found["results"][0]["author"]["name"], "Ann Author");
}

#[test]
fn stats_verify_and_dedup_ask_a_running_server_and_print_what_they_print_alone() {
    use std::io::{BufRead, BufReader};
    let data = tempfile::tempdir().expect("temp dir");
    ingest_corpus(data.path());
    let aqua = repo().join("corpus/photos/aqua.jpg");
    let missing = data.path().join("no-such.jpg");
    let commands: [Vec<&std::ffi::OsStr>; 4] = [
        vec!["stats".as_ref()],
        vec!["verify".as_ref()],
        vec!["dedup".as_ref(), aqua.as_os_str()],
        vec!["dedup".as_ref(), aqua.as_os_str(), missing.as_os_str()],
    ];
    let each = || {
        commands
            .iter()
            .map(|args| {
                let output = run(stockroom().args(args).arg("--data").arg(data.path()));
                (output.status.code(), text(&output.stdout))
            })
            .collect::<Vec<_>>()
    };
    let alone = each();
    assert_eq!(alone[3].0, Some(1), "a missing image fails dedup");
    assert!(alone[2].1.contains("\"distance\":0"), "{}", alone[2].1);

    struct Running(std::process::Child);
    impl Drop for Running {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = stockroom()
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Running)
        .expect("serve");
    let mut line = String::new();
    BufReader::new(server.0.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("the listening line");
    assert!(line.contains("listening"), "{line}");

    // The server holds the stores; the commands ask it and print the same.
    assert_eq!(each(), alone);
    let socket = data.path().join("server/control.sock");
    assert!(socket.exists());

    // A data directory held by something other than a server is still refused.
    let killed = Command::new("kill")
        .arg("-TERM")
        .arg(server.0.id().to_string())
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(server.0.wait().expect("wait").success());
    assert!(!socket.exists(), "the socket goes with the server");
    let _held = Store::open(data.path().join("blobs"), StoreOptions::default()).expect("open");
    let output = run(stockroom().arg("stats").arg("--data").arg(data.path()));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("already open by another stockroom process"),
        "{}",
        text(&output.stderr)
    );
}
