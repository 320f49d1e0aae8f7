//! The cluster shape's storage against real servers on loopback (issue 21): originals in
//! Garage, the catalogue in PostgreSQL. Slow to set up and needing Garage, so `#[ignore]`d
//! in the default `cargo test`; `tools/test.sh` installs Garage and PostgreSQL and runs
//! them (`cargo test --test cluster -- --ignored`).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};

use stockroom_platform::Originals;
use stockroom_s3::{Location, S3Originals};
use stockroom_vocab::AssetId;

mod common;
use common::garage::Garage;
use common::postgres::Postgres;
use common::{corpus_manifest, repo, stockroom, text};

/// `S3Originals` on `garage`, configured as a deployment would be, from `AWS_*`.
fn originals(garage: &Garage, prefix: &str) -> S3Originals {
    S3Originals::open_with(
        Location::parse(&format!("s3://{}/{prefix}", garage.bucket)).expect("url"),
        garage.s3(),
    )
    .expect("open")
}

#[test]
#[ignore = "cluster suite: needs Garage (tools/test.sh)"]
fn originals_in_garage_come_back_byte_identical_large_ones_in_parts() {
    let garage = Garage::start("originals");
    let store = originals(&garage, "site-a");
    let small = std::fs::read(repo().join("corpus/photos/aqua.jpg")).expect("photo");
    // Above the multipart threshold: 20 MiB that no two parts share.
    let large: Vec<u8> = (0..20u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let (a, b) = (AssetId::from_u64(1), AssetId::from_u64(2));
    store.put(a, &small).expect("put small");
    store.put(b, &large).expect("put large, in parts");
    for (asset, bytes) in [(a, &small), (b, &large)] {
        let got = store.get(asset).expect("get").expect("stored");
        assert!(got.bytes == bytes[..], "{asset} came back different");
        assert_eq!(&got.blake3, blake3::hash(bytes).as_bytes());
        assert!(store.contains(asset));
    }
    assert_eq!(
        store.get_range(b, 1000..1010).expect("range").as_deref(),
        Some(&large[1000..1010])
    );
    // Another process (a node started later) lists the same, and sees writes it did not make.
    let other = originals(&garage, "site-a");
    let mut listed = other.list().expect("list");
    listed.sort();
    assert_eq!(
        listed,
        vec![
            (a, *blake3::hash(&small).as_bytes()),
            (b, *blake3::hash(&large).as_bytes())
        ]
    );
    let c = AssetId::from_u64(3);
    store
        .put(c, b"written after the other opened")
        .expect("put");
    assert!(other.get(c).expect("get").is_some());
    // Written again with other bytes: the older object goes, and a node started later
    // lists only the new one.
    store.put(c, b"written again").expect("put again");
    assert_eq!(
        store.get(c).expect("get").expect("stored").bytes.as_ref(),
        b"written again"
    );
    let later: Vec<_> = originals(&garage, "site-a")
        .list()
        .expect("list")
        .into_iter()
        .filter(|(asset, _)| *asset == c)
        .collect();
    assert_eq!(later, [(c, *blake3::hash(b"written again").as_bytes())]);
    // Another prefix is another site: nothing shared.
    assert!(
        originals(&garage, "site-b")
            .list()
            .expect("list")
            .is_empty()
    );

    store.delete(a).expect("delete");
    assert!(store.get(a).expect("get").is_none());
    assert!(!store.contains(a));
    store.delete(a).expect("deleting twice is no error");

    // Opened as a node whose catalogue says what is stored: nothing is read at start, an
    // asset's key is found when it is first read, and what goes is known to be gone.
    let node = S3Originals::open_from_catalogue_with(
        Location::parse(&format!("s3://{}/site-a", garage.bucket)).expect("url"),
        garage.s3(),
    )
    .expect("open without a listing");
    assert!(node.knows_from_catalogue());
    let got = node.get(b).expect("get").expect("found by its prefix");
    assert!(got.bytes == large[..]);
    assert_eq!(
        node.get_range(b, 5..9).expect("range").as_deref(),
        Some(&large[5..9])
    );
    assert!(node.contains(b));
    // Deleted by another node: this one finds it missing when it reads it, and says so.
    store.delete(b).expect("delete elsewhere");
    assert!(node.get(b).expect("get").is_none());
    assert!(!node.contains(b));
    // Heard of on the feed: stored again elsewhere, or gone.
    node.learn(b, Some(*blake3::hash(&large).as_bytes()));
    assert!(node.contains(b));
    node.learn(c, None);
    assert!(!node.contains(c));
    // A download names the key from the node's record: taken instead of a listing for an
    // asset whose key the store does not hold (a wrong name finds nothing; a listing
    // would have found the object).
    let fresh = || {
        S3Originals::open_from_catalogue_with(
            Location::parse(&format!("s3://{}/site-a", garage.bucket)).expect("url"),
            garage.s3(),
        )
        .expect("open")
    };
    let again = *blake3::hash(b"written again").as_bytes();
    assert!(
        fresh()
            .open_named(c, &|| Some([0; 32]))
            .expect("open")
            .is_none()
    );
    let opened = fresh()
        .open_named(c, &|| Some(again))
        .expect("open")
        .expect("named");
    assert_eq!(opened.head(), b"written again");
}

/// `stockroom ARGS --data DATA` with originals at `url` in `garage`.
/// `stockroom --config CONFIG ARGS` with the variables `env`.
fn with_config(
    config: &Path,
    env: &[(&'static str, String)],
    args: &[impl AsRef<std::ffi::OsStr>],
) -> std::process::Output {
    stockroom()
        .envs(env.iter().cloned())
        .arg("--config")
        .arg(config)
        .args(args)
        .output()
        .expect("stockroom")
}

/// [`with_config`], which must succeed: its standard output.
fn with_config_ok(config: &Path, env: &[(&'static str, String)], args: &[&str]) -> String {
    let output = with_config(config, env, args);
    assert!(
        output.status.success(),
        "{args:?}: {}",
        text(&output.stderr)
    );
    text(&output.stdout)
}

fn on_garage(garage: &Garage, url: &str, data: &Path, args: &[&str]) -> std::process::Output {
    stockroom()
        .envs(garage.env())
        .env("STOCKROOM_ORIGINALS_URL", url)
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .expect("stockroom")
}

/// The id ingest printed for the file whose path ends with `file`.
fn ingested_id(ingest_stdout: &[u8], file: &str) -> String {
    text(ingest_stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| {
            line["path"]
                .as_str()
                .is_some_and(|path| path.ends_with(file))
        })
        .and_then(|line| line["id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("{file} ingested"))
}

/// A new member's first key, from `stockroom members add` with the command set up by
/// `configure` (where the catalogue is).
fn member_key(
    configure: impl FnOnce(&mut std::process::Command),
    name: &str,
    role: &str,
    tier: &str,
) -> String {
    let mut add = stockroom();
    add.args([
        "members", "add", "--name", name, "--role", role, "--tier", tier,
    ]);
    configure(&mut add);
    let output = add.output().expect("members add");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let member: serde_json::Value = serde_json::from_slice(&output.stdout).expect("member JSON");
    member["keys"][0].as_str().expect("key").to_string()
}

/// `stockroom ingest` of the bundled corpus with the command set up by `configure`; its
/// output, having succeeded.
fn ingest_corpus(configure: impl FnOnce(&mut std::process::Command)) -> std::process::Output {
    let mut ingest = stockroom();
    ingest
        .arg("ingest")
        .arg("--manifest")
        .arg(corpus_manifest());
    configure(&mut ingest);
    let ingested = ingest.output().expect("ingest");
    assert!(ingested.status.success(), "{}", text(&ingested.stderr));
    ingested
}

/// One HTTP/1.1 exchange with no body; the status, the head (lower case) and the body.
fn http(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String, Vec<u8>) {
    http_with(address, method, path, headers, b"")
}

/// [`http`] with a request body.
fn http_with(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    sent: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(address).expect("connect");
    let mut request = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str(&format!("Content-Length: {}\r\n\r\n", sent.len()));
    stream.write_all(request.as_bytes()).expect("send");
    stream.write_all(sent).expect("send the body");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
    let status = head[9..12].parse().expect("status");
    let mut body = raw[end..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = unchunk(&body);
    }
    (status, head, body)
}

fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("chunk size");
        let size = usize::from_str_radix(
            std::str::from_utf8(&raw[..line_end]).expect("hex").trim(),
            16,
        )
        .expect("size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "cluster suite: needs Garage (tools/test.sh)"]
fn a_node_keeps_originals_in_garage_and_answers_503_while_it_is_down_then_recovers() {
    let mut garage = Garage::start("stock");
    let data = tempfile::tempdir().expect("temp dir");
    let url = format!("s3://{}/originals", garage.bucket);
    let with_env = |command: &mut std::process::Command| {
        command
            .envs(garage.env())
            .env("STOCKROOM_ORIGINALS_URL", &url)
            .arg("--data")
            .arg(data.path());
    };
    let ingested = ingest_corpus(|command| with_env(command));
    // The originals are in the bucket, not in the data directory's blob store.
    let mut stats = stockroom();
    stats.arg("stats");
    with_env(&mut stats);
    let stats: serde_json::Value =
        serde_json::from_slice(&stats.output().expect("stats").stdout).expect("stats JSON");
    assert!(
        stats["stores"]["blobs"]["kinds"]["original"].is_null(),
        "{stats}"
    );
    assert_eq!(stats["originals"]["objects"], 12, "{stats}");
    let corpus_bytes: u64 = std::fs::read_dir(repo().join("corpus/photos"))
        .expect("corpus")
        .map(|entry| entry.expect("entry").metadata().expect("size").len())
        .sum();
    assert_eq!(stats["originals"]["bytes"], corpus_bytes, "{stats}");
    assert_eq!(
        originals(&garage, "originals").list().expect("list").len(),
        12
    );

    let key_of =
        |name: &str, role: &str| member_key(|command| with_env(command), name, role, "registered");
    let auth = format!("Bearer {}", key_of("Cy", "customer"));
    let author_key = key_of("Ann", "author");

    let (_server, address) = serve(|command| with_env(command));

    let asset = ingested_id(&ingested.stdout, "aqua.jpg");
    let original = std::fs::read(repo().join("corpus/photos/aqua.jpg")).expect("photo");
    // A preview rendered (from the original in Garage) while it is up.
    let (status, _, preview) = http(
        &address,
        "GET",
        &format!("/v1/previews/{asset}/small.jpg"),
        &[],
    );
    assert_eq!(status, 200);
    let (status, _, licence) = http(
        &address,
        "POST",
        &format!("/v1/assets/{asset}/licenses"),
        &[("Authorization", &auth)],
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&licence));
    let licence: serde_json::Value = serde_json::from_slice(&licence).expect("licence");
    let link = licence["download_url"]
        .as_str()
        .expect("a download link")
        .to_string();
    let path = link
        .find("/v1/")
        .map(|at| link[at..].to_string())
        .expect("a path");
    let (status, _, body) = http(&address, "GET", &path, &[]);
    assert_eq!(status, 200);
    assert!(
        body == original,
        "the download is the original, byte for byte"
    );

    // Garage down: downloads are 503 with Retry-After; previews in the node's cache are served.
    garage.stop();
    let (status, head, _) = http(&address, "GET", &path, &[]);
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("retry-after:"), "{head}");
    let (status, _, again) = http(
        &address,
        "GET",
        &format!("/v1/previews/{asset}/small.jpg"),
        &[],
    );
    assert_eq!((status, again == preview), (200, true));

    // An upload while it is down is refused as unavailable, and leaves nothing behind that
    // would refuse the same bytes later.
    let fresh = {
        let image = image::RgbImage::from_fn(640, 480, |x, y| {
            image::Rgb([(x / 3) as u8, (y / 2) as u8, ((x + y) % 256) as u8])
        });
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&image)
            .expect("encode");
        jpeg
    };
    let upload = "/v1/assets?title=Gradient&collection=free";
    let as_author = format!("Bearer {author_key}");
    let post = || {
        http_with(
            &address,
            "POST",
            upload,
            &[("Authorization", &as_author)],
            &fresh,
        )
    };
    let (status, head, _) = post();
    assert_eq!(status, 503, "{head}");
    assert!(head.contains("retry-after:"), "{head}");

    // Back up: the same node serves the original again, without a restart, and takes the
    // upload it refused.
    garage.restart();
    let (status, _, body) = http(&address, "GET", &path, &[]);
    assert_eq!(status, 200);
    assert!(body == original);
    let (status, _, stored) = post();
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&stored));
}

#[test]
#[ignore = "cluster suite: needs Garage (tools/test.sh)"]
fn an_object_a_crash_left_without_a_catalogue_row_is_set_aside_and_never_blocks_a_reupload() {
    let garage = Garage::start("stock");
    let data = tempfile::tempdir().expect("temp dir");
    let url = format!("s3://{}/originals", garage.bucket);
    let photo = repo().join("corpus/photos/aqua.jpg");
    // What a kill between the upload to the bucket and the catalogue row leaves behind.
    let ghost = AssetId::from_u64(7);
    originals(&garage, "originals")
        .put(ghost, &std::fs::read(&photo).expect("photo"))
        .expect("put");
    let run = |args: &[&str]| on_garage(&garage, &url, data.path(), args);
    let ingested = run(&["ingest", photo.to_str().expect("path")]);
    assert!(ingested.status.success(), "{}", text(&ingested.stderr));
    let line: serde_json::Value =
        serde_json::from_str(text(&ingested.stdout).lines().next().expect("a line")).expect("JSON");
    assert_eq!(line["status"], "stored", "{line}");
    assert_ne!(
        line["id"],
        ghost.to_string(),
        "the same bytes get an id of their own"
    );
    let stats: serde_json::Value =
        serde_json::from_slice(&run(&["stats"]).stdout).expect("stats JSON");
    assert_eq!(stats["orphans"], serde_json::json!([ghost.to_string()]));
}

#[test]
#[ignore = "cluster suite: needs Garage (tools/test.sh)"]
fn verify_rereads_every_object_and_names_a_damaged_and_a_missing_one() {
    use stockroom_s3::object_store::{ObjectStore, ObjectStoreExt, PutPayload, path::Path};
    let garage = Garage::start("stock");
    let data = tempfile::tempdir().expect("temp dir");
    let url = format!("s3://{}/originals", garage.bucket);
    let run = |args: &[&str]| on_garage(&garage, &url, data.path(), args);
    let ingested = run(&[
        "ingest",
        "--manifest",
        corpus_manifest().to_str().expect("path"),
    ]);
    assert!(ingested.status.success(), "{}", text(&ingested.stderr));
    let id_of = |file: &str| ingested_id(&ingested.stdout, file);
    let clean = run(&["verify"]);
    assert!(clean.status.success(), "{}", text(&clean.stderr));
    assert!(
        text(&clean.stdout).contains(r#""objects":12,"problems":0,"store":"originals""#),
        "{}",
        text(&clean.stdout)
    );

    // Reach into the bucket: one object's bytes replaced, another deleted.
    let bucket = garage
        .s3()
        .with_bucket_name(&garage.bucket)
        .build()
        .expect("client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let key_of = |asset: &str| {
        runtime.block_on(async {
            use futures_util::TryStreamExt;
            let prefix = Path::from(format!("originals/{asset}"));
            let found: Vec<_> = bucket
                .list(Some(&prefix))
                .try_collect()
                .await
                .expect("list");
            found[0].location.clone()
        })
    };
    let (damaged, lost) = (id_of("aqua.jpg"), id_of("blinds.jpg"));
    runtime
        .block_on(bucket.put(&key_of(&damaged), PutPayload::from_static(b"not the photo")))
        .expect("overwrite");
    runtime
        .block_on(bucket.delete(&key_of(&lost)))
        .expect("delete");

    let found = run(&["verify"]);
    assert_eq!(found.status.code(), Some(1), "{}", text(&found.stdout));
    let stderr = text(&found.stderr);
    assert!(
        stderr.contains(&format!("damaged: the original of {damaged}")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("missing: the original of {lost}")),
        "{stderr}"
    );
}

#[test]
#[ignore = "cluster suite: needs Garage (tools/test.sh)"]
fn migrate_moves_originals_to_object_storage_and_back_resumably_and_verify_stays_clean() {
    let garage = Garage::start("stock");
    let data = tempfile::tempdir().expect("temp dir");
    let configs = tempfile::tempdir().expect("temp dir");
    let embedded = configs.path().join("embedded.toml");
    let cluster = configs.path().join("cluster.toml");
    let data_line = format!("data = {:?}\n", data.path().display().to_string());
    std::fs::write(&embedded, &data_line).expect("config");
    std::fs::write(
        &cluster,
        format!(
            "{data_line}[originals]\nurl = \"s3://{}/originals\"\n",
            garage.bucket
        ),
    )
    .expect("config");
    let run = |config: &Path, args: &[&std::ffi::OsStr]| {
        let output = with_config(config, &garage.env(), args);
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr),
        )
    };
    let migrate = |from: &Path, to: &Path, delete: bool| {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "migrate".as_ref(),
            "--from".as_ref(),
            from.as_os_str(),
            "--to".as_ref(),
            to.as_os_str(),
        ];
        if delete {
            args.push("--delete-source".as_ref());
        }
        let (code, out, err) = run(&embedded, &args);
        assert_eq!(code, Some(0), "{err}");
        serde_json::from_str::<serde_json::Value>(out.trim()).expect("a JSON summary")
    };
    let manifest = corpus_manifest();
    let (code, _, err) = run(
        &embedded,
        &[
            "ingest".as_ref(),
            "--manifest".as_ref(),
            manifest.as_os_str(),
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    let originals_in_blobs = |config: &Path| {
        let (_, out, _) = run(config, &["stats".as_ref()]);
        let stats: serde_json::Value = serde_json::from_str(&out).expect("stats");
        stats["stores"]["blobs"]["kinds"]["original"]["records"]
            .as_u64()
            .unwrap_or(0)
    };
    assert_eq!(originals_in_blobs(&embedded), 12);

    // Out to the bucket, source kept; run again (as after a cut-off run) deleting the source.
    let first = migrate(&embedded, &cluster, false);
    assert_eq!(
        (first["copied"].as_u64(), first["skipped"].as_u64()),
        (Some(12), Some(0)),
        "{first}"
    );
    let again = migrate(&embedded, &cluster, true);
    assert_eq!(
        (
            again["copied"].as_u64(),
            again["skipped"].as_u64(),
            again["deleted_from_source"].as_u64()
        ),
        (Some(0), Some(12), Some(12)),
        "{again}"
    );
    assert_eq!(originals_in_blobs(&cluster), 0);
    let (code, out, err) = run(&cluster, &["verify".as_ref()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(r#""objects":12,"problems":0"#), "{out}");
    assert!(out.contains(r#"{"missing":[]}"#), "{out}");
    // The same bytes, under the same ids.
    let bucket = originals(&garage, "originals");
    let aqua = std::fs::read(repo().join("corpus/photos/aqua.jpg")).expect("photo");
    let hash = *blake3::hash(&aqua).as_bytes();
    assert!(
        bucket
            .list()
            .expect("list")
            .iter()
            .any(|(_, stored)| *stored == hash)
    );

    // And back into the data directory.
    let back = migrate(&cluster, &embedded, true);
    assert_eq!(back["copied"].as_u64(), Some(12), "{back}");
    assert_eq!(originals_in_blobs(&embedded), 12);
    let (code, out, err) = run(&embedded, &["verify".as_ref()]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains(r#"{"missing":[]}"#), "{out}");
    assert!(
        originals(&garage, "originals")
            .list()
            .expect("list")
            .is_empty()
    );
}

/// A running `stockroom serve` and its address.
fn serve(configure: impl FnOnce(&mut std::process::Command)) -> (Server, String) {
    let mut serve = stockroom();
    serve
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(if std::env::var_os("NODE_LOGS").is_some() {
            Stdio::inherit()
        } else {
            Stdio::null()
        });
    configure(&mut serve);
    let mut server = Server(serve.spawn().expect("serve"));
    let mut line = String::new();
    BufReader::new(server.0.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("listening line");
    let listening: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    let address = listening["listening"]
        .as_str()
        .expect("address")
        .to_string();
    (server, address)
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL (tools/test.sh)"]
fn postgres_restarted_during_a_stream_of_licences_loses_none_acknowledged_and_answers_503_meanwhile()
 {
    let postgres = Postgres::start();
    let url = postgres.database();
    let data = tempfile::tempdir().expect("temp dir");
    let with_env = |command: &mut std::process::Command| {
        command
            .env("STOCKROOM_CATALOG_URL", &url)
            .arg("--data")
            .arg(data.path());
    };
    let ingested = ingest_corpus(|command| with_env(command));
    let assets: Vec<String> = text(&ingested.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter_map(|line| line["id"].as_str().map(str::to_string))
        .collect();
    assert_eq!(assets.len(), 12);
    let customers: Vec<String> = (0..6)
        .map(|n| {
            let key = member_key(
                |command| with_env(command),
                &format!("Buyer {n}"),
                "customer",
                "unlimited",
            );
            format!("Bearer {key}")
        })
        .collect();
    // The catalogue is in PostgreSQL, not in the data directory.
    assert!(!data.path().join("catalog/catalog.sqlite3").exists());
    let (_server, address) = serve(|command| with_env(command));

    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::Relaxed};
    let stop = AtomicBool::new(false);
    let (acknowledged, unavailable) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let held = std::thread::scope(|scope| {
        let streamer = scope.spawn(|| {
            let mut held = Vec::new();
            let pairs = customers
                .iter()
                .flat_map(|c| assets.iter().map(move |a| (c, a)));
            for (auth, asset) in pairs.cycle() {
                if stop.load(Relaxed) {
                    break;
                }
                let (status, head, body) = http(
                    &address,
                    "POST",
                    &format!("/v1/assets/{asset}/licenses"),
                    &[("Authorization", auth)],
                );
                match status {
                    200 | 201 => {
                        let licence: serde_json::Value =
                            serde_json::from_slice(&body).expect("licence JSON");
                        let id = licence["license"]["id"]
                            .as_str()
                            .or(licence["id"].as_str())
                            .unwrap_or_else(|| panic!("a licence id in {licence}"))
                            .to_string();
                        held.push((auth.clone(), id));
                        acknowledged.fetch_add(1, Relaxed);
                    }
                    503 => {
                        assert!(head.contains("retry-after:"), "{head}");
                        unavailable.fetch_add(1, Relaxed);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    other => panic!("{other} during the stream: {}", text(&body)),
                }
            }
            held
        });
        let wait_for = |what: &AtomicUsize, at_least: usize| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            while what.load(Relaxed) < at_least {
                assert!(!streamer.is_finished(), "the stream ended");
                assert!(std::time::Instant::now() < deadline, "the stream stalled");
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        wait_for(&acknowledged, 20);
        // A crash: SIGQUIT to the postmaster stops it and its backends at once, with no
        // checkpoint; it starts again with crash recovery.
        postgres.kill();
        wait_for(&unavailable, 5);
        postgres.resume();
        let after = acknowledged.load(Relaxed) + 20;
        wait_for(&acknowledged, after);
        stop.store(true, Relaxed);
        streamer.join().expect("the stream")
    });
    assert!(unavailable.load(Relaxed) >= 5);
    // Every licence the node acknowledged is in the catalogue after the crash.
    let mut distinct = std::collections::HashSet::new();
    for (auth, id) in &held {
        if !distinct.insert(id.clone()) {
            continue;
        }
        let (status, _, body) = http(
            &address,
            "GET",
            &format!("/v1/licenses/{id}"),
            &[("Authorization", auth)],
        );
        assert_eq!(status, 200, "licence {id}: {}", text(&body));
    }
    assert!(distinct.len() >= 20, "{} licences", distinct.len());
}

/// The catalogue of `data` opened in process, as `stockroom` opens it (no server running).
fn embedded_catalogue(data: &Path) -> stockroom_catalog::SqlCatalog {
    stockroom_catalog::SqlCatalog::open(
        &data.join("catalog"),
        stockroom_catalog::Options::default(),
    )
    .expect("the data directory's catalogue")
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL (tools/test.sh)"]
fn migrate_moves_the_catalogue_to_postgres_and_back_with_10000_synthetic_assets_and_keys_still_work()
 {
    use stockroom_catalog::{Caller, Grant, NewAsset, NewMember, Principal};
    use stockroom_vocab::{Collection, Role, Tier};
    const SYNTHETIC: u64 = 10_000;
    let url = common::postgres::database();
    let data = tempfile::tempdir().expect("temp dir");
    let configs = tempfile::tempdir().expect("temp dir");
    let embedded = configs.path().join("embedded.toml");
    let cluster = configs.path().join("cluster.toml");
    let data_line = format!("data = {:?}\n", data.path().display().to_string());
    std::fs::write(&embedded, &data_line).expect("config");
    std::fs::write(&cluster, format!("{data_line}[catalog]\nurl = \"{url}\"\n")).expect("config");
    let run = |config: &Path, args: &[&str]| with_config_ok(config, &[], args);
    let manifest = corpus_manifest();
    run(
        &embedded,
        &["ingest", "--manifest", manifest.to_str().expect("path")],
    );

    // 10,000 synthetic assets beside the corpus's 12, 40 customers with 25 licences each, a
    // takedown (a blocklist entry and an audit record) and a blocked member.
    let (key, licence, customers) = {
        let catalog = std::sync::Arc::new(embedded_catalogue(data.path()));
        let created = |name: &str, roles: Vec<Role>, tier: Tier| {
            let created = catalog
                .add_member(&NewMember {
                    name: name.into(),
                    roles,
                    tier,
                    seats: 1,
                })
                .expect("member");
            let principal = catalog.authenticate(&created.keys[0]).expect("key");
            (created.keys[0].clone(), principal)
        };
        let (_, author) = created("Synthetic Author", vec![Role::Author], Tier::Registered);
        let (_, moderator) = created("Mo", vec![Role::Moderator], Tier::Registered);
        std::thread::scope(|scope| {
            for part in 0..8u64 {
                let (catalog, author) = (&catalog, &author);
                scope.spawn(move || {
                    for n in (part..SYNTHETIC).step_by(8) {
                        catalog
                            .add_asset(&NewAsset {
                                id: AssetId::from_u64(1_000_000 + n),
                                author_id: author.member_id.clone(),
                                author_name: "Synthetic Author".into(),
                                title: format!("synthetic asset {n}: a lighthouse at dusk"),
                                collection: Collection::Free,
                                editorial_only: n % 7 == 0,
                                model_release: n % 3 == 0,
                                property_release: n % 5 == 0,
                                pending: n % 11 == 0,
                                document: Vec::new(),
                                blake3: None,
                            })
                            .expect("synthetic asset");
                    }
                });
            }
        });
        let customers: Vec<(String, Principal)> = (0..40)
            .map(|n| {
                created(
                    &format!("Customer {n}"),
                    vec![Role::Customer],
                    Tier::Unlimited,
                )
            })
            .collect();
        let mut licence = None;
        for (n, (_, who)) in customers.iter().enumerate() {
            for step in 0..25u64 {
                let asset = AssetId::from_u64(1_000_001 + (n as u64 * 25 + step) * 11 % SYNTHETIC);
                if let Ok(Grant::New(granted)) = catalog.license(Caller::Member(who), asset) {
                    licence.get_or_insert(granted);
                }
            }
        }
        catalog
            .takedown(AssetId::from_u64(1_000_002), &moderator, "a notice", &[])
            .expect("takedown");
        catalog.block(&customers[39].1.member_id).expect("block");
        (
            customers[0].0.clone(),
            licence.expect("a licence"),
            customers
                .iter()
                .map(|(_, who)| who.clone())
                .collect::<Vec<_>>(),
        )
    };
    // What the embedded catalogue holds, read through the catalogue's own API.
    let holdings = |catalog: &stockroom_catalog::SqlCatalog| {
        let mut assets = catalog.asset_ids().expect("assets");
        assets.sort();
        let members = catalog.members().expect("members");
        let licences: Vec<_> = customers
            .iter()
            .map(|who| catalog.licences(who).expect("licences"))
            .collect();
        let audit = catalog
            .actions(&stockroom_catalog::AuditFilter::default(), 100)
            .expect("audit");
        (assets, members, licences, audit)
    };
    let before = holdings(&embedded_catalogue(data.path()));
    assert_eq!(before.0.len() as u64, SYNTHETIC + 12);

    // What verify finds, on either side: the stores sound, and the synthetic assets (rows
    // made without originals) named as missing, the same ones.
    let verify = |config: &Path| {
        let output = stockroom()
            .arg("--config")
            .arg(config)
            .arg("verify")
            .output()
            .expect("verify");
        let out = text(&output.stdout);
        let missing: Vec<String> = out
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find_map(|line| line.get("missing").cloned())
            .and_then(|missing| serde_json::from_value(missing).ok())
            .unwrap_or_else(|| panic!("no missing line: {out}"));
        assert_eq!(output.status.code(), Some(1), "{out}");
        assert!(out.contains(r#""problems":0"#), "{out}");
        missing
    };
    let missing = verify(&embedded);
    assert!(missing.len() as u64 > SYNTHETIC / 2, "{}", missing.len());
    let migrate = |from: &Path, to: &Path| -> serde_json::Value {
        let out = run(
            &embedded,
            &[
                "migrate",
                "--from",
                from.to_str().expect("path"),
                "--to",
                to.to_str().expect("path"),
            ],
        );
        serde_json::from_str(out.trim()).expect("a JSON summary")
    };
    let out = migrate(&embedded, &cluster);
    assert_eq!(out["catalogue"]["unequal"], serde_json::json!([]), "{out}");
    let rows = out["catalogue"]["rows"].as_u64().expect("rows");
    assert!(rows > SYNTHETIC + 1_000, "{out}");
    // Run again, as after a cut-off run: the same rows, still equal.
    let again = migrate(&embedded, &cluster);
    assert_eq!(again["catalogue"]["rows"].as_u64(), Some(rows), "{again}");
    assert_eq!(
        again["catalogue"]["unequal"],
        serde_json::json!([]),
        "{again}"
    );

    assert_eq!(verify(&cluster), missing);
    // A node on PostgreSQL: the old key works, and its licence is there, verifiable.
    let (server, address) = serve(|command| {
        command.arg("--config").arg(&cluster);
    });
    let auth = format!("Bearer {key}");
    let (status, _, body) = http(
        &address,
        "GET",
        &format!("/v1/licenses/{}", licence.id),
        &[("Authorization", &auth)],
    );
    assert_eq!(status, 200, "{}", text(&body));
    let shown: serde_json::Value = serde_json::from_slice(&body).expect("licence");
    assert_eq!(
        shown["verification_code"],
        licence.verification_code.as_str()
    );
    drop(server);

    // And back into a fresh SQLite catalogue in the data directory.
    std::fs::rename(
        data.path().join("catalog"),
        data.path().join("catalog.before"),
    )
    .expect("setting the embedded catalogue aside");
    let back = migrate(&cluster, &embedded);
    assert_eq!(back["catalogue"]["rows"].as_u64(), Some(rows), "{back}");
    assert_eq!(
        back["catalogue"]["unequal"],
        serde_json::json!([]),
        "{back}"
    );
    assert_eq!(verify(&embedded), missing);
    let returned = embedded_catalogue(data.path());
    assert!(
        holdings(&returned) == before,
        "the round trip changed the catalogue"
    );
    assert_eq!(
        returned.authenticate(&key).expect("the old key").member_id,
        customers[0].member_id
    );
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL and Redis (tools/test.sh)"]
fn two_nodes_share_a_members_rate_limit_through_redis_and_each_limits_alone_while_it_is_down() {
    let mut redis = common::redis::Redis::start();
    let url = common::postgres::database();
    let configs = tempfile::tempdir().expect("temp dir");
    let config = configs.path().join("node.toml");
    std::fs::write(
        &config,
        format!(
            "[catalog]\nurl = \"{url}\"\n[guard]\nredis_url = \"{}\"\nsearch = {{ requests = 6, window_secs = 600 }}\n",
            redis.url()
        ),
    )
    .expect("config");
    let (data_a, data_b) = (
        tempfile::tempdir().expect("temp dir"),
        tempfile::tempdir().expect("temp dir"),
    );
    let on_a = |command: &mut std::process::Command| {
        command
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(data_a.path());
    };
    let auth = format!(
        "Bearer {}",
        member_key(on_a, "Cy", "customer", "registered")
    );
    // Two nodes, each with its own data directory, one catalogue and one Redis.
    let node = |data: &Path| {
        serve(|command| {
            command.arg("--config").arg(&config).arg("--data").arg(data);
        })
    };
    let ((_a, a), (_b, b)) = (node(data_a.path()), node(data_b.path()));
    let search = |address: &str| {
        http(
            address,
            "GET",
            "/v1/search?q=sea",
            &[("Authorization", &auth)],
        )
        .0
    };
    // Alternating, the member gets six searches in all, not six per node.
    let statuses: Vec<u16> = (0..12)
        .map(|n| search(if n % 2 == 0 { &a } else { &b }))
        .collect();
    assert_eq!(
        statuses.iter().filter(|&&status| status == 200).count(),
        6,
        "{statuses:?}"
    );
    assert!(
        statuses[6..].iter().all(|&status| status == 429),
        "{statuses:?}"
    );
    let gauge = |address: &str| {
        let (_, _, body) = http(address, "GET", "/metrics", &[]);
        text(&body)
            .lines()
            .find(|line| line.starts_with("stockroom_guard_shared_up "))
            .map(str::to_string)
            .unwrap_or_default()
    };
    assert_eq!(gauge(&a), "stockroom_guard_shared_up 1");

    // Redis away: each node limits on its own, from what it saw itself (node A saw six of
    // the member's searches, so it is at the limit too), answers without waiting on Redis,
    // and says so. A member it has not seen gets the whole limit from it.
    redis.kill();
    let started = std::time::Instant::now();
    assert_eq!(search(&a), 429);
    assert!(started.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(gauge(&a), "stockroom_guard_shared_up 0");
    let (status, _, ready) = http(&a, "GET", "/readyz", &[]);
    assert_eq!(status, 200);
    assert!(
        text(&ready).contains("redis is unreachable"),
        "{}",
        text(&ready)
    );
    let other = format!(
        "Bearer {}",
        member_key(on_a, "Di", "customer", "registered")
    );
    let alone: Vec<u16> = (0..8)
        .map(|_| http(&a, "GET", "/v1/search?q=sea", &[("Authorization", &other)]).0)
        .collect();
    assert_eq!(
        alone.iter().filter(|&&status| status == 200).count(),
        6,
        "{alone:?}"
    );

    // Back: shared again once a node tries it (a second after its last failed try, by a
    // request or by the detectors' writer).
    redis.resume();
    until(std::time::Duration::from_secs(3), || {
        search(&a);
        gauge(&a) == "stockroom_guard_shared_up 1"
    });
}

/// Three nodes of one platform: the catalogue in PostgreSQL, originals in Garage, each
/// node its own data directory (its replicas and preview cache).
struct Cluster {
    garage: Garage,
    catalog: String,
    originals: String,
    data: Vec<tempfile::TempDir>,
    /// A config file every node reads (`None`: the defaults).
    config: Option<(tempfile::TempDir, std::path::PathBuf)>,
}

impl Cluster {
    fn start(name: &str, nodes: usize) -> Cluster {
        let garage = Garage::start(name);
        let originals = format!("s3://{}/originals", garage.bucket);
        Cluster {
            catalog: common::postgres::database(),
            originals,
            garage,
            data: (0..nodes)
                .map(|_| tempfile::tempdir().expect("temp dir"))
                .collect(),
            config: None,
        }
    }

    /// [`Cluster::start`] with `config` (TOML) for every node, and one file of
    /// download-link keys that they all read (`server.token_keys`).
    fn configured(name: &str, nodes: usize, config: &str) -> Cluster {
        Cluster::configured_as(Cluster::start(name, nodes), config)
    }

    /// `cluster` with `config` for every node, as [`Cluster::configured`] gives it.
    fn configured_as(cluster: Cluster, config: &str) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let keys = dir.path().join("token-keys");
        let path = dir.path().join("node.toml");
        std::fs::write(
            &path,
            format!("{config}\n[server]\ntoken_keys = \"{}\"\n", keys.display()),
        )
        .expect("config");
        Cluster {
            config: Some((dir, path)),
            ..cluster
        }
    }

    /// Sets `command` up as node `n` of the cluster.
    fn on(&self, n: usize, command: &mut std::process::Command) {
        command
            .envs(self.garage.env())
            .env("STOCKROOM_ORIGINALS_URL", &self.originals)
            .env("STOCKROOM_CATALOG_URL", &self.catalog)
            .arg("--data")
            .arg(self.data[n].path());
        if let Some((_, config)) = &self.config {
            command.arg("--config").arg(config);
        }
    }

    fn serve(&self, n: usize) -> (Server, String) {
        serve(|command| self.on(n, command))
    }

    /// Every node, serving.
    fn serve_all(&self) -> Vec<(Server, String)> {
        (0..self.data.len()).map(|n| self.serve(n)).collect()
    }

    fn key(&self, name: &str, role: &str) -> String {
        format!(
            "Bearer {}",
            member_key(|command| self.on(0, command), name, role, "registered")
        )
    }
}

/// Asks `ask` every 10 ms until it says yes, for at most `limit`; how long that took.
fn until(limit: std::time::Duration, mut ask: impl FnMut() -> bool) -> std::time::Duration {
    let started = std::time::Instant::now();
    while !ask() {
        assert!(started.elapsed() < limit, "not within {limit:?}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    started.elapsed()
}

/// The ids a search found, in order.
fn found(address: &str, query: &str) -> Vec<String> {
    let (status, _, body) = http(address, "GET", &format!("/v1/search?q={query}"), &[]);
    assert_eq!(status, 200, "{}", text(&body));
    let body: serde_json::Value = serde_json::from_slice(&body).expect("search JSON");
    body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|card| card["id"].as_str().expect("id").to_string())
        .collect()
}

/// A corpus photo's bytes.
fn photo(file: &str) -> Vec<u8> {
    std::fs::read(repo().join("corpus/photos").join(file)).expect("photo")
}

/// Uploads `image` through `address` as `auth`, which must be admitted: its id.
fn uploaded(address: &str, auth: &str, title: &str, image: &[u8]) -> String {
    let (status, stored) = upload(address, auth, title, image);
    assert_eq!(status, 201, "{stored}");
    stored["id"].as_str().expect("id").to_string()
}

/// The assets a moderator's duplicate check of `image` through `address` names.
fn duplicate_matches(address: &str, moderator: &str, image: &[u8]) -> Vec<String> {
    let (status, _, checked) = http_with(
        address,
        "POST",
        "/v1/moderation/duplicates",
        &[("Authorization", moderator)],
        image,
    );
    assert_eq!(status, 200, "{}", text(&checked));
    let checked: serde_json::Value = serde_json::from_slice(&checked).expect("JSON");
    checked["matches"]
        .as_array()
        .expect("matches")
        .iter()
        .map(|found| found["asset_id"].as_str().expect("asset id").to_string())
        .collect()
}

fn upload(address: &str, auth: &str, title: &str, image: &[u8]) -> (u16, serde_json::Value) {
    let (status, _, body) = http_with(
        address,
        "POST",
        &format!("/v1/assets?title={title}&keywords=feedtest"),
        &[("Authorization", auth)],
        image,
    );
    (status, serde_json::from_slice(&body).unwrap_or_default())
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL and Garage (tools/test.sh)"]
fn an_upload_through_node_a_is_searchable_previewable_and_similar_on_b_and_c_within_a_second() {
    let cluster = Cluster::start("feed", 3);
    let author = cluster.key("Ann", "author");
    let moderator = cluster.key("Mo", "moderator");
    let nodes = cluster.serve_all();
    let (a, b, c) = (&nodes[0].1, &nodes[1].1, &nodes[2].1);
    let photo = photo("aqua.jpg");
    let id = uploaded(a, &author, "Lighthouse%20at%20dusk", &photo);
    for other in [b, c] {
        let took = until(std::time::Duration::from_secs(1), || {
            found(other, "lighthouse") == [id.clone()]
        });
        eprintln!("searchable on another node after {took:?}");
        let (status, head, preview) =
            http(other, "GET", &format!("/v1/previews/{id}/small.jpg"), &[]);
        assert_eq!(status, 200, "{}", text(&preview));
        assert!(head.contains("content-type: image/jpeg"), "{head}");
        assert_eq!(duplicate_matches(other, &moderator, &photo), [id.as_str()]);
    }
    // The same bytes through another node are the same asset: an exact duplicate.
    let (status, again) = upload(b, &author, "Again", &photo);
    assert_eq!(status, 409, "{again}");
    assert_eq!(again["id"], id.as_str());
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL and Garage (tools/test.sh)"]
fn a_takedown_on_a_answers_410_on_b_and_c_within_a_second_and_the_purge_feed_carries_it_once() {
    let cluster = Cluster::start("takedown", 3);
    let author = cluster.key("Ann", "author");
    let moderator = cluster.key("Mo", "moderator");
    let nodes = cluster.serve_all();
    let (a, b, c) = (&nodes[0].1, &nodes[1].1, &nodes[2].1);
    let photo = photo("ladybird.jpg");
    let id = uploaded(a, &author, "Ladybird", &photo);
    let preview = format!("/v1/previews/{id}/small.jpg");
    for other in [b, c] {
        until(std::time::Duration::from_secs(1), || {
            http(other, "GET", &preview, &[]).0 == 200
        });
    }
    let (status, _, body) = http(
        a,
        "POST",
        &format!("/v1/moderation/assets/{id}/takedown?reason=notice%2017"),
        &[("Authorization", &moderator)],
    );
    assert_eq!(status, 200, "{}", text(&body));
    for other in [b, c] {
        // Its preview was in the node's cache: the feed evicts it.
        let took = until(std::time::Duration::from_secs(1), || {
            http(other, "GET", &preview, &[]).0 == 410
        });
        eprintln!("410 on another node after {took:?}");
        assert!(found(other, "ladybird").is_empty());
        assert!(!duplicate_matches(other, &moderator, &photo).contains(&id));
    }
    // Every node reads the one feed; the takedown is in it once.
    for node in [a, b, c] {
        let (_, _, feed) = http(node, "GET", "/v1/purges?since=0", &[]);
        let feed: serde_json::Value = serde_json::from_slice(&feed).expect("JSON");
        let events = feed["purges"]
            .as_array()
            .expect("purges")
            .iter()
            .filter(|event| event["asset_id"] == id.as_str())
            .count();
        assert_eq!(events, 1, "{feed}");
    }
    // Taken down, it is blocked everywhere: uploading it again through C is refused.
    let (status, refused) = upload(c, &author, "Ladybird%20again", &photo);
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["type"], "/problems/blocked-image", "{refused}");
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL and Garage (tools/test.sh)"]
fn a_node_stopped_for_a_while_catches_up_and_answers_searches_as_the_others_do() {
    let cluster = Cluster::start("catchup", 3);
    let author = cluster.key("Ann", "author");
    let moderator = cluster.key("Mo", "moderator");
    let (_a, a) = cluster.serve(0);
    let (_b, b) = cluster.serve(1);
    let (stopped, _) = cluster.serve(2);
    drop(stopped);
    // While C is down: three uploads through A and B, one withdrawn, one taken down.
    let mut ids = Vec::new();
    for (node, file) in [
        (&a, "aqua.jpg"),
        (&b, "freshflower.jpg"),
        (&a, "ladybird.jpg"),
    ] {
        ids.push(uploaded(node, &author, "Feed%20test", &photo(file)));
    }
    let (status, _, body) = http(
        &b,
        "DELETE",
        &format!("/v1/assets/{}", ids[1]),
        &[("Authorization", &author)],
    );
    assert_eq!(status, 200, "{}", text(&body));
    let (status, _, body) = http(
        &a,
        "POST",
        &format!("/v1/moderation/assets/{}/takedown?reason=notice", ids[2]),
        &[("Authorization", &moderator)],
    );
    assert_eq!(status, 200, "{}", text(&body));
    let expected = [ids[0].clone()];
    for node in [&a, &b] {
        until(std::time::Duration::from_secs(1), || {
            found(node, "feedtest") == expected
        });
    }
    // C comes back on the same data directory and reads on from where it stopped.
    let (_c, c) = cluster.serve(2);
    assert_eq!(found(&c, "feedtest"), expected);
    let (_, _, metrics) = http(&c, "GET", "/metrics", &[]);
    let metrics = text(&metrics);
    assert!(metrics.contains("\nstockroom_feed_behind 0\n"), "{metrics}");
    assert!(
        !metrics.contains("\nstockroom_feed_applied 0\n"),
        "{metrics}"
    );
    assert_eq!(found(&c, "feedtest"), found(&a, "feedtest"));
    for id in &ids[1..] {
        let (status, _, _) = http(&c, "GET", &format!("/v1/previews/{id}/small.jpg"), &[]);
        assert_eq!(status, 410, "{id}");
    }
    // A new node, with an empty data directory, builds its replicas from the catalogue.
    let fresh = Cluster {
        data: vec![tempfile::tempdir().expect("temp dir")],
        ..cluster
    };
    let (_d, d) = fresh.serve(0);
    assert_eq!(found(&d, "feedtest"), expected);
    let (status, _, _) = http(
        &d,
        "GET",
        &format!("/v1/previews/{}/small.jpg", ids[0]),
        &[],
    );
    assert_eq!(status, 200);
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL and Garage (tools/test.sh)"]
fn a_block_on_a_stops_licences_and_issued_links_on_b_and_c_at_once() {
    let cluster = Cluster::start("block", 3);
    let author = cluster.key("Ann", "author");
    let moderator = cluster.key("Mo", "moderator");
    let customer = cluster.key("Cy", "customer");
    let nodes = cluster.serve_all();
    let (a, b, c) = (&nodes[0].1, &nodes[1].1, &nodes[2].1);
    let photo = photo("aqua.jpg");
    let id = uploaded(a, &author, "Sea", &photo);
    let license = |node: &str| {
        let (status, _, body) = http(
            node,
            "POST",
            &format!("/v1/assets/{id}/licenses"),
            &[("Authorization", &customer)],
        );
        (
            status,
            serde_json::from_slice::<serde_json::Value>(&body).unwrap_or_default(),
        )
    };
    // Licensed through B and C (their key caches now hold the member as active).
    let mut links = Vec::new();
    for node in [b, c] {
        let (status, granted) = until_licensed(|| license(node));
        // 201 the first time, 200 with a new link for the licence the seat holds.
        assert!(status == 201 || status == 200, "{status} {granted}");
        let link = granted["download_url"]
            .as_str()
            .expect("download_url")
            .to_string();
        let link = link[link.find("/v1/").expect("path")..].to_string();
        let (status, _, original) = http(node, "GET", &link, &[]);
        assert_eq!(status, 200);
        assert!(original == photo, "the original, byte for byte");
        links.push(link);
    }
    let (_, _, me) = http(b, "GET", "/v1/members/me", &[("Authorization", &customer)]);
    let me: serde_json::Value = serde_json::from_slice(&me).expect("me");
    let member = me["id"].as_str().expect("member id");
    let (status, _, body) = http(
        a,
        "POST",
        &format!("/v1/moderation/members/{member}/block"),
        &[("Authorization", &moderator)],
    );
    assert_eq!(status, 200, "{}", text(&body));
    // At once: no wait for any feed. Each node decides a licence and a download by the
    // catalogue's word, read in the same transaction or request.
    for node in [b, c] {
        assert_eq!(license(node).0, 403, "a licence on {node}");
        for link in &links {
            assert_eq!(http(node, "GET", link, &[]).0, 403, "{link} on {node}");
        }
    }
}

/// A licence asked for until the asset is known to the node asked (an upload on another
/// node reaches it through the change feed within a second).
fn until_licensed(
    mut license: impl FnMut() -> (u16, serde_json::Value),
) -> (u16, serde_json::Value) {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = license();
        if status != 404 || started.elapsed() > std::time::Duration::from_secs(1) {
            return (status, body);
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// The cluster's nodes behind one HAProxy; the nodes (kept running) and its address.
fn behind_haproxy(cluster: &Cluster) -> (Vec<(Server, String)>, common::haproxy::Haproxy) {
    let nodes = cluster.serve_all();
    let addresses: Vec<String> = nodes.iter().map(|(_, address)| address.clone()).collect();
    let haproxy = common::haproxy::Haproxy::start(&addresses);
    (nodes, haproxy)
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL, Garage and HAProxy (tools/test.sh)"]
fn a_hard_quota_of_n_hit_concurrently_through_all_three_nodes_yields_exactly_n_licences() {
    let cluster = Cluster::configured(
        "quota",
        3,
        "[quotas.registered]\nsoft_daily = 2\nhard_daily = 5\nmonthly_review = 100\n",
    );
    ingest_corpus(|command| cluster.on(0, command));
    let customer = cluster.key("Cy", "customer");
    let (_nodes, haproxy) = behind_haproxy(&cluster);
    let lb = haproxy.address.clone();
    // The corpus's free photos, which a registered member may license.
    let (status, _, body) = http(&lb, "GET", "/v1/search?per_page=100&collection=free", &[]);
    assert_eq!(status, 200, "{}", text(&body));
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    let assets: Vec<String> = body["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|card| card["id"].as_str().expect("id").to_string())
        .collect();
    assert_eq!(assets.len(), 8);
    // Eight licences at once, each for another asset, spread over the nodes.
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(assets.len()));
    let answers: Vec<(u16, String)> = std::thread::scope(|scope| {
        let asked: Vec<_> = assets
            .iter()
            .map(|asset| {
                let (barrier, lb, customer) = (barrier.clone(), &lb, &customer);
                scope.spawn(move || {
                    barrier.wait();
                    let (status, head, _) = http(
                        lb,
                        "POST",
                        &format!("/v1/assets/{asset}/licenses"),
                        &[("Authorization", customer)],
                    );
                    let node = head
                        .lines()
                        .find_map(|line| line.strip_prefix("x-node: "))
                        .unwrap_or("?")
                        .trim()
                        .to_string();
                    (status, node)
                })
            })
            .collect();
        asked
            .into_iter()
            .map(|one| one.join().expect("licence"))
            .collect()
    });
    let granted = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(granted, 5, "{answers:?}");
    assert!(
        answers
            .iter()
            .all(|(status, _)| *status == 201 || *status == 429),
        "{answers:?}"
    );
    let mut nodes: Vec<&str> = answers.iter().map(|(_, node)| node.as_str()).collect();
    nodes.sort();
    nodes.dedup();
    assert_eq!(nodes, ["n0", "n1", "n2"], "every node answered some");
    // The ledger holds exactly those five.
    let mut client =
        ::postgres::Client::connect(&cluster.catalog, ::postgres::NoTls).expect("connect");
    let licences: i64 = client
        .query_one("SELECT COUNT(*) FROM licences", &[])
        .expect("count")
        .get(0);
    assert_eq!(licences, 5);
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL, Garage, Redis and HAProxy (tools/test.sh)"]
fn a_rate_limit_hit_through_all_three_nodes_holds_within_10_percent_of_its_rate() {
    let redis = common::redis::Redis::start();
    let cluster = Cluster::configured(
        "rate",
        3,
        &format!(
            "[guard]\nredis_url = \"{}\"\nsearch = {{ requests = 10, window_secs = 1 }}\n",
            redis.url()
        ),
    );
    let customer = cluster.key("Cy", "customer");
    let (_nodes, haproxy) = behind_haproxy(&cluster);
    let lb = haproxy.address.clone();
    // Four clients asking as fast as they can for 6 s; the member's limit is 10 a second
    // (with a burst of 10), on whichever node each request lands.
    let started = std::time::Instant::now();
    let run = std::time::Duration::from_secs(6);
    let allowed: Vec<std::time::Duration> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..4)
            .map(|_| {
                let (lb, customer) = (&lb, &customer);
                scope.spawn(move || {
                    let mut allowed = Vec::new();
                    while started.elapsed() < run {
                        let (status, _, _) = http(
                            lb,
                            "GET",
                            "/v1/search?q=sea",
                            &[("Authorization", customer)],
                        );
                        match status {
                            200 => allowed.push(started.elapsed()),
                            429 => {}
                            other => panic!("search answered {other}"),
                        }
                    }
                    allowed
                })
            })
            .collect();
        clients
            .into_iter()
            .flat_map(|client| client.join().expect("client"))
            .collect()
    });
    // Past the first two seconds (the burst spent), the rate let through is the limit's.
    let settled = std::time::Duration::from_secs(2);
    let steady = allowed.iter().filter(|at| **at >= settled).count() as f64;
    let rate = steady / (run - settled).as_secs_f64();
    eprintln!(
        "{} searches let through, {rate:.2}/s after the burst",
        allowed.len()
    );
    assert!((9.0..=11.0).contains(&rate), "{rate:.2}/s against 10/s");
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL, Garage and HAProxy (tools/test.sh)"]
fn a_node_killed_mid_download_the_client_resumes_through_the_load_balancer_with_range() {
    // Anonymous downloads paced at 128 KiB/s: a 1.2 MB original takes about 9 s.
    let cluster = Cluster::configured("resume", 3, "[guard]\nanonymous_bytes_per_sec = 131072\n");
    let author = cluster.key("Ann", "author");
    let (mut nodes, haproxy) = behind_haproxy(&cluster);
    let lb = haproxy.address.clone();
    let photo = photo("raindrops.jpg");
    let id = uploaded(&nodes[0].1, &author, "Raindrops", &photo);
    std::thread::sleep(std::time::Duration::from_secs(1)); // on every node's replicas
    let (status, _, granted) = http(&lb, "POST", &format!("/v1/assets/{id}/licenses"), &[]);
    assert_eq!(status, 201, "{}", text(&granted));
    let granted: serde_json::Value = serde_json::from_slice(&granted).expect("JSON");
    let link = granted["download_url"]
        .as_str()
        .expect("download_url")
        .to_string();

    // Start the download through the balancer, read a part, and kill the node sending it.
    let mut stream = TcpStream::connect(&lb).expect("connect");
    write!(
        stream,
        "GET {link} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 << 10];
    let head_end = loop {
        let read = stream.read(&mut buffer).expect("read");
        assert!(read > 0, "closed before the head");
        raw.extend_from_slice(&buffer[..read]);
        if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).to_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("transfer-encoding: chunked"), "{head}");
    let header = |name: &str| {
        head.lines()
            .find_map(|line| line.strip_prefix(&format!("{name}: ")))
            .map(|value| value.trim().to_string())
            .unwrap_or_else(|| panic!("{name} in {head}"))
    };
    let (node, etag) = (header("x-node"), header("etag"));
    let mut body = raw[head_end..].to_vec();
    while body.len() < 300 << 10 {
        let read = stream.read(&mut buffer).expect("read");
        assert!(read > 0, "the download ended early");
        body.extend_from_slice(&buffer[..read]);
    }
    let victim: usize = node.trim_start_matches('n').parse().expect("node number");
    let mut killed = nodes.remove(victim).0;
    let _ = killed.0.kill();
    let _ = killed.0.wait();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    while let Ok(read) = stream.read(&mut buffer) {
        if read == 0 {
            break;
        }
        body.extend_from_slice(&buffer[..read]);
    }
    assert!(body.len() < photo.len(), "the download was cut off");
    // Resume: the rest, through the balancer, which sends it to a live node.
    let range = format!("bytes={}-", body.len());
    let (status, head, rest) = http(&lb, "GET", &link, &[("Range", &range), ("If-Range", &etag)]);
    assert_eq!(status, 206, "{head}");
    assert!(!head.contains(&format!("x-node: {node}")), "{head}");
    body.extend_from_slice(&rest);
    assert!(body == photo, "resumed bytes differ from the original");
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL, Garage and Redis (tools/test.sh)"]
fn one_members_two_downloads_on_two_nodes_are_paced_together_at_the_configured_rate() {
    let redis = common::redis::Redis::start();
    // Past one licence a day the member is throttled to 256 KiB/s, for all its downloads
    // together, wherever they are served.
    let rate = 256.0 * 1024.0;
    let cluster = Cluster::configured(
        "pace",
        2,
        &format!(
            "[guard]\nredis_url = \"{}\"\nthrottled_bytes_per_sec = {rate}\n\
             [quotas.registered]\nsoft_daily = 1\nhard_daily = 60\nmonthly_review = 600\n",
            redis.url()
        ),
    );
    let author = cluster.key("Ann", "author");
    let customer = cluster.key("Cy", "customer");
    let nodes = cluster.serve_all();
    let (a, b) = (&nodes[0].1, &nodes[1].1);
    let mut links = Vec::new();
    let mut sizes = Vec::new();
    for file in ["dune.jpg", "raindrops.jpg", "blinds.jpg"] {
        let photo = photo(file);
        let id = uploaded(a, &author, "Pace", &photo);
        let (status, granted) = until_licensed(|| {
            let (status, _, body) = http(
                b,
                "POST",
                &format!("/v1/assets/{id}/licenses"),
                &[("Authorization", &customer)],
            );
            (status, serde_json::from_slice(&body).unwrap_or_default())
        });
        assert_eq!(status, 201, "{granted}");
        links.push(granted["download_url"].as_str().expect("link").to_string());
        sizes.push(photo.len());
    }
    // The second and third licences are past the soft quota: both downloads throttled,
    // one from each node, at the same time.
    let started = std::time::Instant::now();
    let got: Vec<usize> = std::thread::scope(|scope| {
        let downloads: Vec<_> = [(a, &links[1]), (b, &links[2])]
            .into_iter()
            .map(|(node, link)| {
                scope.spawn(move || {
                    let (status, _, body) = http(node, "GET", link, &[]);
                    assert_eq!(status, 200);
                    body.len()
                })
            })
            .collect();
        downloads
            .into_iter()
            .map(|download| download.join().expect("download"))
            .collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(got, sizes[1..]);
    let paced = (got[0] + got[1]) as f64 / elapsed;
    eprintln!(
        "two downloads on two nodes: {:.0} KiB/s together against {:.0} KiB/s",
        paced / 1024.0,
        rate / 1024.0
    );
    assert!(
        (0.95 * rate..=1.05 * rate).contains(&paced),
        "{paced:.0} B/s against {rate} B/s"
    );
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL, Garage, Redis and HAProxy (tools/test.sh)"]
fn postgres_redis_and_garage_each_restarted_mid_traffic_lose_nothing_acknowledged() {
    let mut redis = common::redis::Redis::start();
    let postgres = Postgres::start();
    let garage = Garage::start("restarts");
    let originals = format!("s3://{}/originals", garage.bucket);
    let mut cluster = Cluster {
        garage,
        catalog: postgres.database(),
        originals,
        data: (0..3)
            .map(|_| tempfile::tempdir().expect("temp dir"))
            .collect(),
        config: None,
    };
    cluster = Cluster::configured_as(
        cluster,
        &format!("[guard]\nredis_url = \"{}\"\n", redis.url()),
    );
    let author = cluster.key("Ann", "author");
    let customer = cluster.key("Cy", "customer");
    let (_nodes, haproxy) = behind_haproxy(&cluster);
    let lb = haproxy.address.clone();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let statuses = std::sync::Mutex::new(std::collections::BTreeMap::<u16, usize>::new());
    let uploaded = std::sync::Mutex::new(Vec::<String>::new());
    let licensed = std::sync::Mutex::new(Vec::<String>::new());
    let count = |status: u16| *statuses.lock().expect("lock").entry(status).or_default() += 1;
    let recovered = std::thread::scope(|scope| {
        // Uploads of distinct pictures, and licences of what was uploaded, all the while.
        scope.spawn(|| {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let (status, body) = upload(
                    &lb,
                    &author,
                    &format!("Restart%20{n}"),
                    &common::pictures::picture(n, 320, 240),
                );
                count(status);
                if status == 201 {
                    let id = body["id"].as_str().expect("id").to_string();
                    uploaded.lock().expect("lock").push(id);
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
        });
        scope.spawn(|| {
            let mut next = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let asset = uploaded.lock().expect("lock").get(next).cloned();
                let Some(asset) = asset else {
                    std::thread::sleep(std::time::Duration::from_millis(50));
                    continue;
                };
                let (status, _, body) = http(
                    &lb,
                    "POST",
                    &format!("/v1/assets/{asset}/licenses"),
                    &[("Authorization", &customer)],
                );
                count(status);
                match status {
                    201 => {
                        let granted: serde_json::Value =
                            serde_json::from_slice(&body).expect("JSON");
                        let id = granted["license"]["id"].as_str().expect("licence id");
                        licensed.lock().expect("lock").push(id.to_string());
                        next += 1;
                    }
                    // Not yet on the node asked (the feed), or refused while a service
                    // is down: asked again.
                    404 | 503 => std::thread::sleep(std::time::Duration::from_millis(50)),
                    _ => next += 1,
                }
            }
        });
        let pause = || std::thread::sleep(std::time::Duration::from_secs(2));
        pause();
        postgres.kill();
        pause();
        postgres.resume();
        pause();
        cluster.garage.stop();
        pause();
        cluster.garage.restart();
        pause();
        redis.kill();
        pause();
        redis.resume();
        // Recovered without a node restarting: uploads and licences are acknowledged again
        // after the last restart (however fast this machine makes them).
        let counts = || {
            (
                uploaded.lock().expect("lock").len(),
                licensed.lock().expect("lock").len(),
            )
        };
        let (uploads, licences) = counts();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let recovered = loop {
            let (now_uploads, now_licences) = counts();
            if now_uploads >= uploads + 3 && now_licences >= licences + 3 {
                break true;
            }
            if std::time::Instant::now() > deadline {
                break false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        // Stopped before anything is asserted, so that a failure ends the traffic too.
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        recovered
    });
    assert!(
        recovered,
        "no uploads and licences acknowledged within 30 s of the last restart"
    );
    let statuses = statuses.into_inner().expect("lock");
    eprintln!("answers: {statuses:?}");
    assert!(
        statuses
            .keys()
            .all(|status| [200, 201, 404, 429, 503].contains(status)),
        "{statuses:?}"
    );
    assert!(statuses.get(&503).is_some_and(|&n| n > 0), "{statuses:?}");
    let (uploaded, licensed) = (
        uploaded.into_inner().expect("lock"),
        licensed.into_inner().expect("lock"),
    );
    assert!(
        uploaded.len() > 5 && licensed.len() > 5,
        "{uploaded:?} {licensed:?}"
    );
    // Every acknowledged upload and licence is there, and the nodes recovered on their own.
    let mut client =
        ::postgres::Client::connect(&cluster.catalog, ::postgres::NoTls).expect("connect");
    for id in &uploaded {
        let rows = client
            .query("SELECT 1 FROM assets WHERE id = $1", &[id])
            .expect("asset");
        assert_eq!(
            rows.len(),
            1,
            "upload {id} was acknowledged but is not catalogued"
        );
    }
    for id in &licensed {
        let rows = client
            .query("SELECT 1 FROM licences WHERE id = $1", &[id])
            .expect("licence");
        assert_eq!(rows.len(), 1, "licence {id} was acknowledged but is lost");
    }
    let last = uploaded.last().expect("an upload");
    until(std::time::Duration::from_secs(2), || {
        (0..3).all(|_| http(&lb, "GET", &format!("/v1/previews/{last}/small.jpg"), &[]).0 == 200)
    });
}

#[test]
#[ignore = "cluster suite: needs Garage (tools/test.sh)"]
fn a_node_whose_catalogue_keeps_the_hashes_starts_while_the_object_store_is_down() {
    let mut garage = Garage::start("startdown");
    let data = tempfile::tempdir().expect("temp dir");
    let url = format!("s3://{}/originals", garage.bucket);
    let env = garage.env();
    let with_env = |command: &mut std::process::Command| {
        command
            .envs(env.clone())
            .env("STOCKROOM_ORIGINALS_URL", &url)
            .arg("--data")
            .arg(data.path());
    };
    let ingested = ingest_corpus(|command| with_env(command));
    let aqua = ingested_id(&ingested.stdout, "aqua.jpg");
    // The node learns what the bucket holds from the catalogue, not by listing it: it
    // starts, and searches, with the store down.
    garage.stop();
    let (_node, address) = serve(|command| with_env(command));
    let (status, _, body) = http(&address, "GET", "/v1/search?q=aqua", &[]);
    assert_eq!(status, 200, "{}", text(&body));
    // A duplicate check knows the stored assets (what a listing would have told it).
    let moderator = member_key(|command| with_env(command), "Mo", "moderator", "registered");
    let photo = photo("aqua.jpg");
    assert_eq!(
        duplicate_matches(&address, &format!("Bearer {moderator}"), &photo),
        [aqua.as_str()]
    );
    // What needs the bytes waits for the store: a preview not yet drawn is a 503...
    let preview = format!("/v1/previews/{aqua}/small.jpg");
    assert_eq!(http(&address, "GET", &preview, &[]).0, 503);
    // ...and is drawn once it is back, with no restart of the node.
    garage.restart();
    until(std::time::Duration::from_secs(10), || {
        http(&address, "GET", &preview, &[]).0 == 200
    });
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL (tools/test.sh)"]
fn a_node_started_while_postgres_is_down_waits_for_it_and_then_serves() {
    let postgres = Postgres::start();
    let url = postgres.database();
    let data = tempfile::tempdir().expect("temp dir");
    let with_env = |command: &mut std::process::Command| {
        command
            .env("STOCKROOM_CATALOG_URL", &url)
            .arg("--data")
            .arg(data.path());
    };
    let ingested = ingest_corpus(|command| with_env(command));
    let aqua = ingested_id(&ingested.stdout, "aqua.jpg");
    postgres.stop();
    let starting = std::thread::scope(|scope| {
        // `serve` returns once the node prints where it listens, and panics if it exits.
        let node = scope.spawn(|| serve(|command| with_env(command)));
        std::thread::sleep(std::time::Duration::from_secs(4));
        assert!(
            !node.is_finished(),
            "the node neither exited nor served while PostgreSQL was down"
        );
        postgres.resume();
        node.join()
            .expect("the node started once PostgreSQL was back")
    });
    let (_node, address) = starting;
    assert_eq!(found(&address, "splash"), [aqua]);
}

#[test]
#[ignore = "cluster suite: needs PostgreSQL and Garage (tools/test.sh)"]
fn migrate_gives_assets_from_before_documents_theirs_so_a_new_node_indexes_every_one() {
    let garage = Garage::start("backfill");
    let url = common::postgres::database();
    let data = tempfile::tempdir().expect("temp dir");
    let configs = tempfile::tempdir().expect("temp dir");
    let originals = format!("[originals]\nurl = \"s3://{}/originals\"\n", garage.bucket);
    let data_line = format!("data = {:?}\n", data.path().display().to_string());
    let (embedded, cluster) = (
        configs.path().join("embedded.toml"),
        configs.path().join("cluster.toml"),
    );
    std::fs::write(&embedded, format!("{data_line}{originals}")).expect("config");
    std::fs::write(
        &cluster,
        format!("{data_line}{originals}[catalog]\nurl = \"{url}\"\n"),
    )
    .expect("config");
    let env = garage.env();
    let run = |config: &Path, args: &[&str]| with_config_ok(config, &env, args);
    let manifest = corpus_manifest();
    run(
        &embedded,
        &["ingest", "--manifest", manifest.to_str().expect("path")],
    );
    // As a catalogue written before documents and hashes were kept.
    {
        let sqlite =
            rusqlite::Connection::open(data.path().join("catalog/catalog.sqlite3")).expect("open");
        sqlite
            .execute_batch("DELETE FROM asset_documents; UPDATE assets SET blake3 = NULL;")
            .expect("strip");
    }
    let out: serde_json::Value = serde_json::from_str(
        run(
            &embedded,
            &[
                "migrate",
                "--from",
                embedded.to_str().expect("path"),
                "--to",
                cluster.to_str().expect("path"),
            ],
        )
        .trim(),
    )
    .expect("a JSON summary");
    assert_eq!(out["catalogue"]["documents_written"], 12, "{out}");
    assert_eq!(out["catalogue"]["documents_left_out"], 0, "{out}");
    assert_eq!(out["catalogue"]["unequal"], serde_json::json!([]), "{out}");
    let added: serde_json::Value = serde_json::from_str(&run(
        &cluster,
        &[
            "members",
            "add",
            "--name",
            "Mo",
            "--role",
            "moderator",
            "--tier",
            "registered",
        ],
    ))
    .expect("member JSON");
    let moderator = format!("Bearer {}", added["keys"][0].as_str().expect("key"));
    // A new node on the cluster's catalogue, with a data directory of its own, builds its
    // replicas from the documents: every asset searchable, and a duplicate of itself.
    let node_data = tempfile::tempdir().expect("temp dir");
    let (_node, address) = serve(|command| {
        command
            .envs(garage.env())
            .arg("--config")
            .arg(&cluster)
            .arg("--data")
            .arg(node_data.path());
    });
    let (_, _, body) = http(&address, "GET", "/v1/search?per_page=100", &[]);
    let body: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(body["total"], 12, "{body}");
    assert_eq!(
        duplicate_matches(&address, &moderator, &photo("ladybird.jpg")).len(),
        1
    );
}
