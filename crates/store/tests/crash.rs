//! Crash consistency: a writer process is killed with SIGKILL at random points, many times,
//! and after each kill the store must hold every acknowledged write and delete, and nothing
//! half-written.
//!
//! The writer is this test binary itself, re-run with `STOCKROOM_CRASH_CHILD` set: it opens the
//! store, then several threads put, overwrite and delete records (and one compacts now and
//! then), printing a line for each operation only after the store acknowledged it.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use stockroom_store::{Kind, Store, StoreOptions};
use stockroom_vocab::AssetId;

const CHILD_ENV: &str = "STOCKROOM_CRASH_CHILD";
const ROUND_ENV: &str = "STOCKROOM_CRASH_ROUND";
const ROUNDS: u64 = 100;
const THREADS: u64 = 3;
const KEYS_PER_THREAD: u64 = 150;

fn options() -> StoreOptions {
    StoreOptions {
        segment_capacity: 256 * 1024,
    }
}

/// A small, seedable PRNG (splitmix64): the test needs reproducible choices, not quality.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

/// The bytes written for `key` at `version`: the version first, so a reader can tell which
/// write it sees and regenerate the rest to compare.
fn content(key: u64, version: u64) -> Vec<u8> {
    let mut rng = Rng(key ^ version.rotate_left(17));
    let len = 8 + rng.below(12_000) as usize;
    let mut bytes = version.to_le_bytes().to_vec();
    bytes.extend((8..len).map(|_| rng.next() as u8));
    bytes
}

/// Not a test: the writer process that `killed_writers_lose_nothing_acknowledged` runs and
/// kills. Ignored so that a plain test run neither runs nor counts it.
#[test]
#[ignore = "helper process for the crash test, which runs it with --ignored"]
fn child_writer() {
    let dir = std::env::var_os(CHILD_ENV).expect("run by the crash test, which sets the dir");
    let round: u64 = std::env::var(ROUND_ENV)
        .ok()
        .and_then(|text| text.parse().ok())
        .expect("round number");
    let store = Store::open(Path::new(&dir), options()).expect("child opens the store");
    println!("ready");
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let store = &store;
            scope.spawn(move || write_forever(store, round, thread));
        }
    });
}

fn write_forever(store: &Store, round: u64, thread: u64) {
    let mut rng = Rng(round * 1000 + thread);
    // Versions grow across rounds, so a later round's write is always newer.
    let mut version = round * 1_000_000_000 + thread * 100_000_000;
    loop {
        version += 1;
        let key = thread * KEYS_PER_THREAD + rng.below(KEYS_PER_THREAD);
        let asset = AssetId::from_u64(key);
        match rng.below(100) {
            0..=69 => {
                store
                    .put(asset, Kind::Original, &content(key, version))
                    .expect("put");
                println!("put {key} {version}");
            }
            70..=97 => {
                store.delete(asset, Kind::Original).expect("delete");
                println!("del {key} {version}");
            }
            _ if thread == 0 => {
                store.compact().expect("compact");
                println!("compacted");
            }
            _ => {}
        }
    }
}

/// The last acknowledged operation on a key.
#[derive(Clone, Copy, Debug)]
enum Acked {
    Put(u64),
    Deleted(u64),
}

#[test]
fn killed_writers_lose_nothing_acknowledged() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut acked: HashMap<u64, Acked> = HashMap::new();
    let mut rng = Rng(20261121);
    let mut compactions = 0;
    let mut recovered = 0;
    let mut in_flight = 0;
    for round in 1..=ROUNDS {
        let lines = run_and_kill(dir.path(), round, &mut rng);
        for line in &lines {
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["put", key, version] => {
                    acked.insert(
                        key.parse().expect("key"),
                        Acked::Put(version.parse().expect("v")),
                    );
                }
                ["del", key, version] => {
                    acked.insert(
                        key.parse().expect("key"),
                        Acked::Deleted(version.parse().expect("v")),
                    );
                }
                ["compacted"] => compactions += 1,
                _ => {}
            }
        }
        let store = Store::open(dir.path(), options()).expect("reopen after kill");
        recovered += store.open_report().recovered_segments.len();
        in_flight += check(&store, &mut acked, round);
    }
    eprintln!(
        "{ROUNDS} kills, {} keys acknowledged, {compactions} compactions, \
         {recovered} segments recovered, {in_flight} unacknowledged operations took effect",
        acked.len()
    );
    assert!(
        acked.len() > 100,
        "the writer barely ran; the test proved little"
    );
    assert!(recovered > 0, "no kill ever interrupted a write");
}

/// Runs the child for a random while and kills it; returns the lines it printed.
fn run_and_kill(dir: &Path, round: u64, rng: &mut Rng) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "child_writer",
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir)
        .env(ROUND_ENV, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let (sender, receiver) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    // One round in five kills at a random moment from the start, possibly during recovery;
    // the rest wait for the store to be open first.
    if !round.is_multiple_of(5) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Ok(line) = receiver.recv_timeout(deadline - Instant::now()) {
            // libtest prints "test child_writer ... " without a newline first.
            let ready = line.ends_with("ready");
            lines.push(line);
            if ready {
                break;
            }
        }
    }
    std::thread::sleep(Duration::from_millis(rng.below(120)));
    child.kill().expect("SIGKILL the writer");
    child.wait().expect("reap the writer");
    reader.join().expect("reader thread");
    lines.extend(receiver.try_iter());
    lines
}

/// Every acknowledged operation holds, except that each writer thread may have had one more
/// operation take effect whose acknowledgement the kill cut off; every visible record is
/// whole. Adopts what is seen as the new expectation and returns how many keys deviated.
fn check(store: &Store, acked: &mut HashMap<u64, Acked>, round: u64) -> usize {
    let mut deviating_threads = Vec::new();
    for (&key, op) in acked.iter_mut() {
        let got = store.get(AssetId::from_u64(key), Kind::Original);
        let seen = got.as_ref().map(|blob| {
            let version = u64::from_le_bytes(blob[..8].try_into().expect("8 bytes"));
            assert_eq!(
                &blob[..],
                &content(key, version)[..],
                "round {round}: key {key} holds damaged bytes"
            );
            version
        });
        let deviation = match (*op, seen) {
            (Acked::Put(version), Some(seen)) if seen == version => None,
            (Acked::Deleted(_), None) => None,
            (Acked::Put(version) | Acked::Deleted(version), Some(seen)) => {
                assert!(
                    seen > version,
                    "round {round}: key {key} went back from version {version} to {seen}"
                );
                Some(Acked::Put(seen))
            }
            // Only an unacknowledged delete, issued after the acknowledged put, explains this.
            (Acked::Put(version), None) => Some(Acked::Deleted(version)),
        };
        if let Some(now) = deviation {
            deviating_threads.push(key / KEYS_PER_THREAD);
            *op = now;
        }
    }
    let deviations = deviating_threads.len();
    deviating_threads.sort_unstable();
    deviating_threads.dedup();
    assert_eq!(
        deviating_threads.len(),
        deviations,
        "round {round}: a thread had more than its one in-flight operation take effect \
         (acknowledged work was lost)"
    );
    let report = store.verify(|_| ()).expect("verify runs");
    assert!(report.is_clean(), "round {round}: {:?}", report.problems);
    deviations
}
