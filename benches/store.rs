//! Blob store throughput, each measured beside the plain system call it stands in for.
//!
//! - `put`: `Store::put` (append + flush, acknowledged durable) against `pwrite` +
//!   `fdatasync` of the same bytes to a plain file, one writer; and 8 concurrent writers,
//!   where group commit shares flushes.
//! - `get`: `Store::get` plus one pass over the bytes (zero-copy, from the mapping) against
//!   `pread` of the same bytes into a buffer plus the same pass. Both read warm page cache.
//!
//! Run: `cargo bench -p stockroom-benches --bench store`. Criterion prints each figure; the
//! summary at the end prints medians side by side with their ratio.

use std::fs::File;
use std::hint::black_box;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use stockroom_store::{Kind, Store, StoreOptions};
use stockroom_vocab::AssetId;

const SIZES: [(&str, usize); 3] = [("4KiB", 4 << 10), ("256KiB", 256 << 10), ("4MiB", 4 << 20)];
/// Distinct records read per size (4 MiB × 64 = 256 MiB, well inside page cache).
const RECORDS: u64 = 64;
const WRITERS: u64 = 8;

fn body(size: usize, seed: u64) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u64 ^ seed).wrapping_mul(0x9e37) as u8)
        .collect()
}

/// Touches every byte the way a consumer would (sum of 8-byte words).
fn consume(bytes: &[u8]) -> u64 {
    bytes
        .chunks_exact(8)
        .map(|word| u64::from_le_bytes(word.try_into().unwrap_or([0; 8])))
        .fold(0u64, u64::wrapping_add)
}

fn scratch_dir() -> tempfile::TempDir {
    // Beside the build output, on the same disk as a real data directory would be.
    let base = target_dir().join("bench-scratch");
    std::fs::create_dir_all(&base).expect("create scratch base");
    tempfile::tempdir_in(base).expect("scratch dir")
}

fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("bench executable");
    // target/<profile>/deps/<bench> → target
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("target"))
}

fn bench_put(c: &mut Criterion) {
    let mut group = c.benchmark_group("put");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(4));
    for (name, size) in SIZES {
        let data = body(size, 1);
        group.throughput(Throughput::Bytes(size as u64));

        let dir = scratch_dir();
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open store");
        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("store", name), |b| {
            b.iter(|| {
                n += 1;
                store
                    .put(AssetId::from_u64(n % 256), Kind::Original, &data)
                    .expect("put");
            })
        });
        drop(store);

        let file = File::create(dir.path().join("plain")).expect("plain file");
        let mut offset = 0u64;
        group.bench_function(BenchmarkId::new("pwrite+fdatasync", name), |b| {
            b.iter(|| {
                file.write_all_at(&data, offset).expect("pwrite");
                file.sync_data().expect("fdatasync");
                offset += size as u64;
            })
        });
    }
    group.throughput(Throughput::Elements(1));
    let data = body(4 << 10, 2);
    let dir = scratch_dir();
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open store");
    group.bench_function(BenchmarkId::new("store-8-writers", "4KiB"), |b| {
        b.iter_custom(|iters| concurrent_puts(&store, &data, iters))
    });
    group.finish();
}

/// Time for `iters` puts spread over [`WRITERS`] threads.
fn concurrent_puts(store: &Store, data: &[u8], iters: u64) -> Duration {
    let per_writer = iters.div_ceil(WRITERS);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            scope.spawn(move || {
                for n in 0..per_writer {
                    let id = AssetId::from_u64(writer << 32 | (n % 256));
                    store.put(id, Kind::Thumb, data).expect("put");
                }
            });
        }
    });
    start.elapsed()
}

fn bench_get(c: &mut Criterion) {
    let mut group = c.benchmark_group("get");
    for (name, size) in SIZES {
        let dir = scratch_dir();
        let store = Store::open(dir.path(), StoreOptions::default()).expect("open store");
        let plain_path = dir.path().join("plain");
        let plain = File::create(&plain_path).expect("plain file");
        for n in 0..RECORDS {
            let data = body(size, n);
            store
                .put(AssetId::from_u64(n), Kind::Large, &data)
                .expect("put");
            plain
                .write_all_at(&data, n * size as u64)
                .expect("write plain");
        }
        let plain = File::open(&plain_path).expect("reopen plain");
        group.throughput(Throughput::Bytes(size as u64));

        let mut n = 0u64;
        group.bench_function(BenchmarkId::new("store", name), |b| {
            b.iter(|| {
                n = (n + 1) % RECORDS;
                let blob = store
                    .get(AssetId::from_u64(n), Kind::Large)
                    .expect("stored");
                black_box(consume(&blob))
            })
        });
        let mut buffer = vec![0u8; size];
        group.bench_function(BenchmarkId::new("pread", name), |b| {
            b.iter(|| {
                n = (n + 1) % RECORDS;
                plain
                    .read_exact_at(&mut buffer, n * size as u64)
                    .expect("pread");
                black_box(consume(&buffer))
            })
        });
    }
    // The lookup alone: what a request pays before the first byte is streamed.
    group.throughput(Throughput::Elements(1));
    let dir = scratch_dir();
    let store = Store::open(dir.path(), StoreOptions::default()).expect("open store");
    // Filled by several writers, so group commit keeps the setup short.
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let store = &store;
            scope.spawn(move || {
                for n in (writer..100_000u64).step_by(WRITERS as usize) {
                    store
                        .put(AssetId::from_u64(n), Kind::Thumb, &n.to_le_bytes())
                        .expect("put");
                }
            });
        }
    });
    let mut n = 0u64;
    group.bench_function(BenchmarkId::new("store-lookup-only", "100k-keys"), |b| {
        b.iter(|| {
            n = (n + 7919) % 100_000;
            black_box(
                store
                    .get(AssetId::from_u64(n), Kind::Thumb)
                    .map(|blob| blob.len()),
            )
        })
    });
    group.finish();
}

/// Criterion's median estimate, in nanoseconds, for one benchmark.
fn median_ns(out: &Path, group: &str, function: &str, parameter: &str) -> Option<f64> {
    let path = out
        .join(group)
        .join(function)
        .join(parameter)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["median"]["point_estimate"].as_f64()
}

fn print_summary(out: &Path) {
    println!("\nsummary (medians; ratio > 1 means the store is faster)");
    println!(
        "{:<28} {:>14} {:>14} {:>8}",
        "work", "stockroom", "peer", "ratio"
    );
    for (name, size) in SIZES {
        let mb_per_s = |ns: f64| size as f64 / ns * 1e9 / 1e6;
        let rows = [
            ("get", "store", "pread", "get vs pread"),
            (
                "put",
                "store",
                "pwrite+fdatasync",
                "put vs pwrite+fdatasync",
            ),
        ];
        for (group, ours, peer, label) in rows {
            if let (Some(a), Some(b)) = (
                median_ns(out, group, ours, name),
                median_ns(out, group, peer, name),
            ) {
                println!(
                    "{:<28} {:>9.0} MB/s {:>9.0} MB/s {:>7.2}x",
                    format!("{label} {name}"),
                    mb_per_s(a),
                    mb_per_s(b),
                    b / a
                );
            }
        }
    }
    if let (Some(one), Some(many)) = (
        median_ns(out, "put", "store", "4KiB"),
        median_ns(out, "put", "store-8-writers", "4KiB"),
    ) {
        println!(
            "{:<28} {:>9.0} op/s {:>9.0} op/s {:>7.2}x",
            "put 4KiB: 8 writers vs 1",
            1e9 / many,
            1e9 / one,
            one / many
        );
    }
    if let Some(lookup) = median_ns(out, "get", "store-lookup-only", "100k-keys") {
        println!("{:<28} {:>9.0} ns", "get lookup (no read)", lookup);
    }
}

fn main() {
    let out = target_dir().join("criterion");
    let mut criterion = Criterion::default()
        .output_directory(&out)
        .configure_from_args();
    bench_put(&mut criterion);
    bench_get(&mut criterion);
    criterion.final_summary();
    print_summary(&out);
    let _ = std::fs::remove_dir_all(target_dir().join("bench-scratch"));
}
