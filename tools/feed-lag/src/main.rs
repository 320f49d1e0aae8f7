//! `stockroom-feed-lag [--rate N] [--uploads N] [--stockroom PATH]`
//!
//! Starts a throwaway PostgreSQL and a Garage node on loopback and two `stockroom serve`
//! nodes on them (each its own data directory), uploads `--uploads` distinct JPEGs through
//! node A at `--rate` a second (several uploaders, each upload at its slot), and watches
//! node B's search (newest first, every 5 ms) for each new id. Prints the lag from A's
//! `201` to the id's first appearance in B's results: p50, p99 and the largest, and the
//! upload rate reached. The `201` comes after the catalogue's commit (and A's own index
//! commit), so B often finds an upload before A has answered; those count as 0, and the
//! lag from sending the upload is printed beside the upload's own round trip. Either
//! includes up to 5 ms of polling.
//! `tools/feed-lag.sh` builds and runs it.

#[path = "../../../tests/common/garage.rs"]
#[allow(dead_code)] // the tests use more of it
mod garage;
#[path = "../../../crates/catalog/tests/support/postgres.rs"]
mod pg_server;
#[path = "../../../tests/common/pictures.rs"]
mod pictures;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

struct Args {
    rate: f64,
    uploads: usize,
    stockroom: PathBuf,
}

fn args() -> Result<Args> {
    let mut parsed = Args {
        rate: 50.0,
        uploads: 500,
        stockroom: PathBuf::from("target/release/stockroom"),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("{arg} needs a value"))?;
        match arg.as_str() {
            "--rate" => parsed.rate = value.parse()?,
            "--uploads" => parsed.uploads = value.parse()?,
            "--stockroom" => parsed.stockroom = value.into(),
            _ => bail!("unknown argument {arg}"),
        }
    }
    Ok(parsed)
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 exchange; the status and the body.
fn http(
    address: &str,
    method: &str,
    path: &str,
    auth: &str,
    body: &[u8],
) -> Result<(u16, Vec<u8>)> {
    let mut stream = TcpStream::connect(address)?;
    let auth = if auth.is_empty() {
        String::new()
    } else {
        format!("Authorization: {auth}\r\n")
    };
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("an answer's head")?
        + 4;
    let head = String::from_utf8_lossy(&raw[..end]).to_lowercase();
    let status = head.get(9..12).context("a status")?.parse()?;
    let mut body = raw[end..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = unchunk(&body)?;
    }
    Ok((status, body))
}

fn unchunk(mut raw: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line = raw.windows(2).position(|w| w == b"\r\n").context("chunk")?;
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line])?.trim(), 16)?;
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&raw[line + 2..line + 2 + size]);
        raw = &raw[line + 2 + size + 2..];
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn main() -> Result<()> {
    let args = args()?;
    let postgres = pg_server::Postgres::start();
    let catalog = postgres.database();
    let garage = garage::Garage::start("feedlag");
    let originals = format!("s3://{}/originals", garage.bucket);
    // The watcher searches 200 times a second, as anonymous: well past the default
    // limit for a network, which is not what is measured here.
    let config_dir = tempfile::tempdir()?;
    let config = config_dir.path().join("node.toml");
    std::fs::write(
        &config,
        "[guard]\nsearch_anonymous = { requests = 1000000, window_secs = 1 }\n",
    )?;
    let data: Vec<tempfile::TempDir> = (0..2)
        .map(|_| tempfile::tempdir())
        .collect::<std::io::Result<_>>()?;
    let on = |command: &mut Command, dir: &Path| {
        command
            .envs(garage.env())
            .env("STOCKROOM_ORIGINALS_URL", &originals)
            .env("STOCKROOM_CATALOG_URL", &catalog)
            .env("RUST_LOG", "warn")
            .arg("--config")
            .arg(&config)
            .arg("--data")
            .arg(dir);
    };
    let mut add = Command::new(&args.stockroom);
    add.args([
        "members",
        "add",
        "--name",
        "Ann",
        "--role",
        "author",
        "--tier",
        "registered",
    ]);
    on(&mut add, data[0].path());
    let added = add.output()?;
    if !added.status.success() {
        bail!("members add: {}", String::from_utf8_lossy(&added.stderr));
    }
    let member: serde_json::Value = serde_json::from_slice(&added.stdout)?;
    let auth = format!("Bearer {}", member["keys"][0].as_str().context("a key")?);
    let mut nodes = Vec::new();
    let mut addresses = Vec::new();
    for dir in &data {
        let mut serve = Command::new(&args.stockroom);
        serve
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        on(&mut serve, dir.path());
        let mut node = Node(serve.spawn()?);
        let mut line = String::new();
        BufReader::new(node.0.stdout.as_mut().context("stdout")?).read_line(&mut line)?;
        let listening: serde_json::Value = serde_json::from_str(&line)?;
        addresses.push(
            listening["listening"]
                .as_str()
                .context("address")?
                .to_string(),
        );
        nodes.push(node);
    }
    let (a, b) = (addresses[0].clone(), addresses[1].clone());
    eprintln!("drawing {} pictures", args.uploads);
    let pictures: Vec<Vec<u8>> = (0..args.uploads)
        .map(|n| pictures::picture(n, 640, 480))
        .collect();

    // Per id: when its upload was sent and when its 201 arrived.
    let answered: Arc<Mutex<HashMap<String, (Instant, Instant)>>> = Arc::default();
    let seen: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let poller = {
        let (seen, done, b) = (seen.clone(), done.clone(), b.clone());
        std::thread::spawn(move || -> Result<()> {
            while !done.load(Ordering::Relaxed) {
                let (status, body) = http(
                    &b,
                    "GET",
                    "/v1/search?q=feedlag&sort=newest&per_page=100",
                    "",
                    b"",
                )?;
                let at = Instant::now();
                if status != 200 {
                    bail!(
                        "node B's search answered {status}: {}",
                        String::from_utf8_lossy(&body)
                    );
                }
                {
                    let body: serde_json::Value = serde_json::from_slice(&body)?;
                    let mut seen = seen.lock().expect("lock");
                    for card in body["results"].as_array().into_iter().flatten() {
                        if let Some(id) = card["id"].as_str() {
                            seen.entry(id.to_string()).or_insert(at);
                        }
                    }
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Ok(())
        })
    };
    let started = Instant::now();
    let interval = Duration::from_secs_f64(1.0 / args.rate);
    let next = Arc::new(AtomicUsize::new(0));
    let pictures = Arc::new(pictures);
    let uploaders: Vec<_> = (0..4)
        .map(|_| {
            let (next, pictures, answered, a, auth) = (
                next.clone(),
                pictures.clone(),
                answered.clone(),
                a.clone(),
                auth.clone(),
            );
            std::thread::spawn(move || -> Result<()> {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    let Some(picture) = pictures.get(n) else {
                        return Ok(());
                    };
                    let slot = started + interval * n as u32;
                    if let Some(wait) = slot.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let sent = Instant::now();
                    let (status, body) = http(
                        &a,
                        "POST",
                        &format!("/v1/assets?title=Lag%20{n}&keywords=feedlag"),
                        &auth,
                        picture,
                    )?;
                    let at = Instant::now();
                    if status != 201 {
                        eprintln!("upload {n}: {status} {}", String::from_utf8_lossy(&body));
                        continue;
                    }
                    let body: serde_json::Value = serde_json::from_slice(&body)?;
                    let id = body["id"].as_str().context("an id")?.to_string();
                    answered.lock().expect("lock").insert(id, (sent, at));
                }
            })
        })
        .collect();
    for uploader in uploaders {
        uploader.join().expect("uploader")?;
    }
    let elapsed = started.elapsed();
    let expected = answered.lock().expect("lock").len();
    let deadline = Instant::now() + Duration::from_secs(10);
    while seen.lock().expect("lock").len() < expected && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    done.store(true, Ordering::Relaxed);
    poller.join().expect("poller")?;
    let (answered, seen) = (answered.lock().expect("lock"), seen.lock().expect("lock"));
    let mut lags = Vec::new();
    let mut from_sent = Vec::new();
    let mut round_trips = Vec::new();
    let mut early = 0;
    for (id, (sent, at)) in answered.iter() {
        round_trips.push(at.duration_since(*sent));
        if let Some(seen) = seen.get(id) {
            lags.push(seen.saturating_duration_since(*at));
            from_sent.push(seen.saturating_duration_since(*sent));
            early += usize::from(seen < at);
        }
    }
    for list in [&mut lags, &mut from_sent, &mut round_trips] {
        list.sort();
    }
    let missing = answered.len() - lags.len();
    if lags.is_empty() {
        bail!("node B never found an upload");
    }
    let ms = |list: &[Duration], p: f64| percentile(list, p).as_secs_f64() * 1e3;
    println!(
        "uploads: {} answered of {} at a target of {}/s: {:.1}/s reached",
        answered.len(),
        args.uploads,
        args.rate,
        answered.len() as f64 / elapsed.as_secs_f64()
    );
    println!(
        "lag, A's 201 to searchable on B: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({early} found on B before A's 201 arrived, counted as 0; {missing} never seen within 10 s)",
        ms(&lags, 0.5),
        ms(&lags, 0.99),
        ms(&lags, 1.0),
    );
    println!(
        "upload sent to searchable on B: p50 {:.1} ms, p99 {:.1} ms; the upload's own round trip on A: p50 {:.1} ms, p99 {:.1} ms",
        ms(&from_sent, 0.5),
        ms(&from_sent, 0.99),
        ms(&round_trips, 0.5),
        ms(&round_trips, 0.99),
    );
    drop(nodes);
    Ok(())
}
