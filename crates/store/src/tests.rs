//! Unit tests of the store as a whole (recovery, compaction, concurrency).

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use super::*;
use crate::recovery::segment_numbers;

fn small() -> StoreOptions {
    StoreOptions {
        segment_capacity: 64 * 1024,
    }
}

fn body(id: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64).wrapping_mul(31).wrapping_add(id * 7) as u8)
        .collect()
}

fn id(raw: u64) -> AssetId {
    AssetId::from_u64(raw)
}

/// Drops the store the way a crash would: without sealing its active segment.
fn crash(store: Store) {
    store.poisoned.store(true, Ordering::Release);
    drop(store);
}

fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    segment_numbers(dir)
        .expect("list segments")
        .into_iter()
        .map(|number| dir.join(segment::file_name(number, segment::SEGMENT_SUFFIX)))
        .collect()
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = fs::read(path).expect("read segment");
    bytes[at as usize] ^= 0x40;
    fs::write(path, bytes).expect("write segment");
}

#[test]
fn put_get_delete_survive_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), small())?;
        store.put(id(1), Kind::Original, &body(1, 1000))?;
        store.put(id(1), Kind::Thumb, &body(2, 100))?;
        store.put(id(2), Kind::Original, &body(3, 10))?;
        store.put(id(2), Kind::Original, &body(4, 20))?;
        assert!(store.delete(id(1), Kind::Thumb)?);
        assert!(!store.delete(id(1), Kind::Thumb)?);
        assert!(!store.delete(id(9), Kind::Large)?);
    }
    let store = Store::open(dir.path(), small())?;
    assert_eq!(
        store.get(id(1), Kind::Original).as_deref(),
        Some(&body(1, 1000)[..])
    );
    assert!(store.get(id(1), Kind::Thumb).is_none());
    assert_eq!(
        store.get(id(2), Kind::Original).as_deref(),
        Some(&body(4, 20)[..])
    );
    let blob = store.get(id(2), Kind::Original).expect("stored");
    assert_eq!(blob.blake3(), *blake3::hash(&body(4, 20)).as_bytes());
    assert!(store.open_report().recovered_segments.is_empty());
    Ok(())
}

#[test]
fn records_spread_over_many_segments_are_all_found() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), small())?;
        for n in 0..200 {
            store.put(id(n), Kind::Small, &body(n, 1000 + n as usize))?;
        }
        assert!(store.stats()?.segments > 2);
    }
    let store = Store::open(dir.path(), small())?;
    for n in 0..200 {
        assert_eq!(
            store.get(id(n), Kind::Small).as_deref(),
            Some(&body(n, 1000 + n as usize)[..])
        );
    }
    Ok(())
}

#[test]
fn a_record_larger_than_a_segment_is_refused_and_nothing_changes() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), small())?;
    store.put(id(1), Kind::Original, b"kept")?;
    let max = store.options().max_blob_len();
    let too_big = vec![0u8; max as usize + 1];
    let error = store
        .put(id(2), Kind::Original, &too_big)
        .expect_err("must refuse");
    assert!(
        matches!(error, StoreError::RecordTooLarge { .. }),
        "{error}"
    );
    store.put(id(3), Kind::Original, &vec![1u8; max as usize])?;
    assert_eq!(
        store.get(id(1), Kind::Original).as_deref(),
        Some(&b"kept"[..])
    );
    assert_eq!(
        store.get(id(3), Kind::Original).map(|b| b.len() as u64),
        Some(max)
    );
    Ok(())
}

#[test]
fn a_second_opener_is_refused_with_the_holders_pid() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let _first = Store::open(dir.path(), small())?;
    let error = Store::open(dir.path(), small()).expect_err("second open must fail");
    match &error {
        StoreError::Locked { holder, .. } => assert_eq!(*holder, Some(std::process::id())),
        other => panic!("expected Locked, got {other}"),
    }
    assert!(error.to_string().contains("already open"), "{error}");
    Ok(())
}

#[test]
fn a_tail_torn_at_any_byte_is_cut_and_everything_before_it_survives() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), small())?;
    let sizes = [10usize, 300, 1, 77];
    for (n, size) in sizes.iter().enumerate() {
        store.put(id(n as u64), Kind::Original, &body(n as u64, *size))?;
    }
    crash(store);
    let path = segment_paths(dir.path()).pop().expect("one segment");
    let full = fs::read(&path).expect("read");
    let ends: Vec<u64> = sizes
        .iter()
        .scan(0, |end, size| {
            *end += format::record_len(*size as u64);
            Some(*end)
        })
        .collect();
    for cut in 0..=full.len() as u64 {
        let trial = tempfile::tempdir().expect("temp dir");
        let trial_path = trial.path().join(path.file_name().expect("name"));
        fs::write(&trial_path, &full[..cut as usize]).expect("write");
        let store = Store::open(trial.path(), small())?;
        let complete = ends.iter().filter(|&&end| end <= cut).count();
        for (n, size) in sizes.iter().enumerate() {
            let got = store.get(id(n as u64), Kind::Original);
            if n < complete {
                assert_eq!(
                    got.as_deref(),
                    Some(&body(n as u64, *size)[..]),
                    "cut {cut}"
                );
            } else {
                assert!(got.is_none(), "record {n} visible after cut at {cut}");
            }
        }
        let torn = cut > ends.get(complete.wrapping_sub(1)).copied().unwrap_or(0);
        assert_eq!(
            store.open_report().set_aside.len(),
            usize::from(torn),
            "cut {cut}"
        );
        drop(store);
        // The repaired segment is sealed: a second open recovers nothing more.
        let again = Store::open(trial.path(), small())?;
        assert!(again.open_report().recovered_segments.is_empty());
        assert!(again.verify(|_| ())?.is_clean());
    }
    Ok(())
}

#[test]
fn a_torn_record_between_valid_ones_is_set_aside_and_stays_invisible() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), small())?;
    for n in 0..3 {
        store.put(id(n), Kind::Original, &body(n, 500))?;
    }
    crash(store);
    let path = segment_paths(dir.path()).pop().expect("segment");
    // Zero part of the first record's body, as a reordered write lost in a power cut would.
    let mut bytes = fs::read(&path).expect("read");
    bytes[100..300].fill(0);
    fs::write(&path, bytes).expect("write");
    for round in 0..2 {
        let store = Store::open(dir.path(), small())?;
        assert!(store.get(id(0), Kind::Original).is_none(), "round {round}");
        for n in 1..3 {
            assert_eq!(
                store.get(id(n), Kind::Original).as_deref(),
                Some(&body(n, 500)[..])
            );
        }
        assert!(store.open_report().unreadable.is_empty());
        assert!(store.verify(|_| ())?.is_clean());
        if round == 0 {
            let (range, kept) = &store.open_report().set_aside[0];
            assert_eq!(range.offset, 0);
            assert_eq!(fs::metadata(kept).expect("kept").len(), range.len);
        }
    }
    Ok(())
}

#[test]
fn verify_names_a_record_whose_byte_was_flipped() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), small())?;
        store.put(id(5), Kind::Original, &body(5, 400))?;
        store.put(id(6), Kind::Large, &body(6, 400))?;
    }
    let path = segment_paths(dir.path()).pop().expect("segment");
    let second_body = format::record_len(400) + HEADER_LEN as u64 + 17;
    flip_byte(&path, second_body);
    let store = Store::open(dir.path(), small())?;
    let report = store.verify(|_| ())?;
    assert_eq!(
        report.problems,
        vec![Problem::Corrupt {
            segment: path.clone(),
            offset: format::record_len(400),
            asset: id(6),
            kind: Kind::Large,
            live: true,
        }]
    );
    assert!(
        report.problems[0]
            .to_string()
            .contains("0000000000000006/large")
    );
    // Compaction refuses to copy the damage, and deletes nothing.
    let error = store.compact().expect_err("must refuse");
    assert!(matches!(error, StoreError::CorruptRecord { .. }), "{error}");
    assert!(path.exists());
    assert_eq!(
        store.get(id(5), Kind::Original).as_deref(),
        Some(&body(5, 400)[..])
    );
    Ok(())
}

#[test]
fn a_damaged_header_in_a_sealed_segment_is_reported_and_blocks_compaction() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), small())?;
        for n in 0..3 {
            store.put(id(n), Kind::Thumb, &body(n, 64))?;
        }
    }
    let path = segment_paths(dir.path()).pop().expect("segment");
    flip_byte(&path, format::record_len(64) + 20);
    let store = Store::open(dir.path(), small())?;
    assert_eq!(store.open_report().unreadable.len(), 1);
    assert!(store.get(id(1), Kind::Thumb).is_none());
    assert!(store.get(id(2), Kind::Thumb).is_some());
    assert!(!store.verify(|_| ())?.is_clean());
    let error = store.compact().expect_err("must refuse");
    assert!(
        matches!(error, StoreError::UnreadableRegion { .. }),
        "{error}"
    );
    assert!(path.exists());
    Ok(())
}

#[test]
fn compaction_keeps_live_records_drops_the_rest_and_survives_reopen() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), small())?;
        for n in 0..100 {
            store.put(id(n), Kind::Original, &body(n, 2000))?;
        }
        for n in 0..100 {
            if n % 2 == 0 {
                store.delete(id(n), Kind::Original)?;
            } else if n % 3 == 0 {
                store.put(id(n), Kind::Original, &body(n + 1000, 300))?;
            }
        }
        let held = store.get(id(1), Kind::Original).expect("live");
        let before = store.stats()?;
        let report = store.compact()?;
        assert_eq!(report.records_kept, 50);
        assert!(
            report.bytes_after < report.bytes_before / 2 + 10_000,
            "{report:?}"
        );
        let after = store.stats()?;
        assert!(after.disk_bytes < before.disk_bytes);
        assert_eq!(after.kinds, before.kinds);
        // A blob handed out before compaction still reads its bytes.
        assert_eq!(&*held, &body(1, 2000)[..]);
        store.put(id(1000), Kind::Thumb, b"written after compaction")?;
    }
    let store = Store::open(dir.path(), small())?;
    for n in 0..100 {
        let got = store.get(id(n), Kind::Original);
        match (n % 2, n % 3) {
            (0, _) => assert!(got.is_none(), "deleted {n} came back"),
            (_, 0) => assert_eq!(got.as_deref(), Some(&body(n + 1000, 300)[..])),
            _ => assert_eq!(got.as_deref(), Some(&body(n, 2000)[..])),
        }
    }
    assert!(store.get(id(1000), Kind::Thumb).is_some());
    assert!(store.verify(|_| ())?.is_clean());
    Ok(())
}

#[test]
fn an_abandoned_compaction_output_is_removed_on_open() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    {
        let store = Store::open(dir.path(), small())?;
        store.put(id(1), Kind::Original, b"one")?;
    }
    let stray = dir
        .path()
        .join(segment::file_name(99, segment::COMPACTING_SUFFIX));
    fs::write(&stray, b"half a compaction").expect("write");
    let store = Store::open(dir.path(), small())?;
    assert!(store.open_report().compaction_cleaned_up);
    assert!(!stray.exists());
    assert_eq!(
        store.get(id(1), Kind::Original).as_deref(),
        Some(&b"one"[..])
    );
    Ok(())
}

#[test]
fn concurrent_writers_share_flushes() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), StoreOptions::default())?;
    let threads = 8u64;
    let per_thread = 100u64;
    std::thread::scope(|scope| {
        for t in 0..threads {
            let store = &store;
            scope.spawn(move || {
                for n in 0..per_thread {
                    let key = t * 1000 + n;
                    store
                        .put(id(key), Kind::Thumb, &body(key, 256))
                        .expect("put");
                }
            });
        }
    });
    for t in 0..threads {
        for n in 0..per_thread {
            let key = t * 1000 + n;
            assert_eq!(
                store.get(id(key), Kind::Thumb).as_deref(),
                Some(&body(key, 256)[..])
            );
        }
    }
    let writes = threads * per_thread;
    assert!(
        store.flushes() < writes,
        "{} flushes for {writes} writes: no batching",
        store.flushes()
    );
    Ok(())
}

#[test]
fn archiving_moves_a_thumbnail_to_the_archive_store() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let blobs = Store::open(dir.path().join("blobs"), small())?;
    let archive = Store::open(dir.path().join("archive"), small())?;
    blobs.put(id(3), Kind::Thumb, b"thumb")?;
    assert!(blobs.archive_to(&archive, id(3), Kind::Thumb)?);
    assert!(!blobs.archive_to(&archive, id(3), Kind::Thumb)?);
    assert!(blobs.get(id(3), Kind::Thumb).is_none());
    assert_eq!(
        archive.get(id(3), Kind::Thumb).as_deref(),
        Some(&b"thumb"[..])
    );
    Ok(())
}

#[test]
fn bad_options_are_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let error = Store::open(
        dir.path(),
        StoreOptions {
            segment_capacity: 100,
        },
    )
    .expect_err("too small");
    assert!(matches!(error, StoreError::InvalidOptions(_)));
}

/// Whether any segment file holds `needle`.
fn segments_hold(dir: &Path, needle: &[u8]) -> bool {
    segment_paths(dir).iter().any(|path| {
        fs::read(path)
            .expect("read segment")
            .windows(needle.len())
            .any(|window| window == needle)
    })
}

/// Issue 24, item 6: an erasure must not leave a replaced metadata record or a deleted
/// preview on disk until a compaction that may never come. Scrubbing zeroes exactly the
/// dead versions of the keys asked for, leaves every live record and every other key's
/// history alone, and the store still reopens (after a crash too) and verifies clean.
#[test]
fn scrubbing_leaves_no_byte_of_a_replaced_or_deleted_record() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path(), small())?;
    let (record, preview, other) = (id(1), id(2), id(3));
    store.put(
        record,
        Kind::Metadata,
        b"{\"author\":\"Zyx Erasable\",\"v\":1}",
    )?;
    store.put(
        record,
        Kind::Metadata,
        b"{\"author\":\"Zyx Erasable\",\"v\":2}",
    )?;
    store.put(
        record,
        Kind::Metadata,
        b"{\"author\":\"erased-00ff\",\"v\":3}",
    )?;
    store.put(preview, Kind::Thumb, b"Artist: Zyx Erasable, thumb")?;
    store.delete(preview, Kind::Thumb)?;
    // Another key's replaced version is not asked for and stays until compaction.
    store.put(other, Kind::Metadata, b"Keep Me Until Compaction")?;
    store.put(other, Kind::Metadata, b"newer")?;
    for batch in 0..40u64 {
        store.put(id(100 + batch), Kind::Large, &body(batch, 3000))?;
    }
    assert!(segments_hold(dir.path(), b"Zyx Erasable"));

    let scrubbed = store.scrub(&[(record, Kind::Metadata), (preview, Kind::Thumb)])?;
    assert_eq!(scrubbed, 3, "two old versions and one deleted preview");
    assert!(!segments_hold(dir.path(), b"Zyx Erasable"));
    assert!(segments_hold(dir.path(), b"Keep Me Until Compaction"));
    assert_eq!(
        store.get(record, Kind::Metadata).as_deref(),
        Some(&b"{\"author\":\"erased-00ff\",\"v\":3}"[..])
    );
    assert!(store.get(preview, Kind::Thumb).is_none());
    assert_eq!(store.scrub(&[(record, Kind::Metadata)])?, 0, "nothing left");
    assert!(store.verify(|_| {})?.is_clean());

    // The active segment, unsealed by a crash, is recovered with every body hashed: the
    // padding's hash holds, so nothing is set aside.
    crash(store);
    let store = Store::open(dir.path(), small())?;
    assert!(store.open_report().set_aside.is_empty());
    assert_eq!(
        store.get(record, Kind::Metadata).as_deref(),
        Some(&b"{\"author\":\"erased-00ff\",\"v\":3}"[..])
    );
    for batch in 0..40u64 {
        assert_eq!(
            store.get(id(100 + batch), Kind::Large).as_deref(),
            Some(&body(batch, 3000)[..])
        );
    }
    assert!(store.verify(|_| {})?.is_clean());
    Ok(())
}

/// Scrub zeroes bodies, flushes, then writes padding headers and flushes again: a power
/// cut between the two leaves superseded records whose bodies are zeros under their old
/// headers. Verify counts those apart (nothing is lost, reads never reach them) and the
/// next scrub finishes them; a live record with a zeroed body is still damage.
#[test]
fn a_scrub_cut_off_between_its_flushes_is_not_damage_and_finishes_on_the_next() -> Result<()> {
    let dir = tempfile::tempdir().expect("temp dir");
    let (old, new) = (vec![0xab_u8; 3000], vec![0xcd_u8; 3000]);
    {
        let store = Store::open(dir.path(), small())?;
        store.put(id(1), Kind::Original, &old)?;
        store.put(id(1), Kind::Original, &new)?;
        store.put(id(2), Kind::Original, &body(2, 3000))?;
    }
    // What the first flush of the scrub leaves: the old body zeroed, its header intact.
    let zero_body = |pattern: &[u8]| {
        for path in segment_paths(dir.path()) {
            let mut bytes = std::fs::read(&path).expect("read");
            if let Some(at) = bytes.windows(pattern.len()).position(|w| w == pattern) {
                bytes[at..at + pattern.len()].fill(0);
                std::fs::write(&path, bytes).expect("write");
            }
        }
    };
    zero_body(&old);
    let store = Store::open(dir.path(), small())?;
    let verified = store.verify(|_| {})?;
    assert!(verified.is_clean(), "{verified:?}");
    assert_eq!(verified.unfinished_scrubs, 1);
    assert_eq!(store.get(id(1), Kind::Original).as_deref(), Some(&new[..]));
    assert_eq!(
        store.scrub(&[(id(1), Kind::Original)])?,
        1,
        "the cut-off record"
    );
    assert_eq!(store.verify(|_| {})?.unfinished_scrubs, 0);
    drop(store);
    // The live version zeroed is damage, whatever its bytes.
    zero_body(&body(2, 3000));
    let store = Store::open(dir.path(), small())?;
    let verified = store.verify(|_| {})?;
    assert!(
        matches!(
            verified.problems.as_slice(),
            [Problem::Corrupt { live: true, .. }]
        ),
        "{verified:?}"
    );
    Ok(())
}

/// A key's value as the test knows it: what was last acknowledged before the power went,
/// and what was asked after it but not acknowledged in time (any of which may have landed).
#[derive(Debug, Default)]
struct Known {
    acknowledged: Option<Vec<u8>>,
    in_flight: Vec<Option<Vec<u8>>>,
}

/// Issue 24: a power cut, unlike a kill, loses what the page cache held. Each round a
/// writer thread puts, deletes, compacts and scrubs while the power is cut at a random
/// moment; the directory is then put back to what its flushes made durable
/// (`durable::power_cut`) and reopened. Every write acknowledged before the cut must be
/// there, nothing may appear that was never written, and the store must verify clean.
#[test]
fn a_power_cut_at_any_moment_keeps_every_acknowledged_write() -> Result<()> {
    use std::collections::HashMap;
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().expect("temp dir");
    let known: Arc<Mutex<HashMap<(u64, Kind), Known>>> = Arc::default();
    let mut seed = 0x5eed_0000_u64;
    let rounds = 24u64;
    let mut writes = 0u64;
    for round in 0..rounds {
        let watch = durable::power_cut::watch(dir.path());
        let store = Arc::new(Store::open(dir.path(), small())?);
        // What the last round's cut left is exactly what the test allows.
        for (&(asset, kind), value) in known.lock().expect("known").iter_mut() {
            let got = store.get(id(asset), kind).map(|blob| blob.to_vec());
            assert!(
                value.acknowledged == got || value.in_flight.contains(&got),
                "round {round}: ({asset}, {kind:?}) is {:?} bytes; acknowledged {:?}, in flight {:?}",
                got.as_ref().map(Vec::len),
                value.acknowledged.as_ref().map(Vec::len),
                value
                    .in_flight
                    .iter()
                    .map(|v| v.as_ref().map(Vec::len))
                    .collect::<Vec<_>>()
            );
            value.acknowledged = got;
            value.in_flight.clear();
        }
        assert!(store.verify(|_| {})?.is_clean(), "round {round}");

        let power_went = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let writer = {
            let (store, known, power_went, stop) = (
                store.clone(),
                known.clone(),
                power_went.clone(),
                stop.clone(),
            );
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let mut state = seed;
            std::thread::spawn(move || {
                let mut next = move || {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    state
                };
                let mut count = 0u64;
                while !stop.load(Ordering::Acquire) {
                    count += 1;
                    let asset = next() % 24;
                    let kind = [Kind::Original, Kind::Thumb, Kind::Metadata][(next() % 3) as usize];
                    let roll = next() % 100;
                    let value = match roll {
                        0..=64 => {
                            let len = 16 + (next() % 6000) as usize;
                            let mut bytes = body(round * 1_000_000 + count, len);
                            bytes[..16].copy_from_slice(
                                &(round * 1_000_000 + count).to_le_bytes().repeat(2),
                            );
                            Some(Some(bytes))
                        }
                        65..=84 => Some(None),
                        85..=92 => {
                            let _ = store.compact();
                            None
                        }
                        _ => {
                            let _ = store.scrub(&[(id(asset), kind)]);
                            None
                        }
                    };
                    let Some(value) = value else { continue };
                    known
                        .lock()
                        .expect("known")
                        .entry((asset, kind))
                        .or_default()
                        .in_flight
                        .push(value.clone());
                    let done = match &value {
                        Some(bytes) => store.put(id(asset), kind, bytes),
                        None => store.delete(id(asset), kind).map(drop),
                    };
                    // Acknowledged before the power went (checked after the call returned,
                    // and the flag is raised before the cut): durable for certain.
                    if done.is_ok() && !power_went.load(Ordering::Acquire) {
                        let mut known = known.lock().expect("known");
                        let entry = known.entry((asset, kind)).or_default();
                        entry.acknowledged = value;
                        entry.in_flight.clear();
                    }
                }
                count
            })
        };
        std::thread::sleep(std::time::Duration::from_millis(5 + seed % 40));
        power_went.store(true, Ordering::Release);
        watch.cut();
        stop.store(true, Ordering::Release);
        writes += writer.join().expect("writer");
        let store = Arc::try_unwrap(store).expect("the writer is done");
        crash(store);
        watch.restore();
    }
    assert!(writes > rounds * 10, "{writes} operations");
    Ok(())
}

/// Issue 24: the project's other rewritten files (the guard's state, the download links'
/// keys, a repaired hash file) go through `stockroom_vocab::durable::write_file`: temporary
/// sibling, flush, rename, flush the directory. A writer rewrites one such file while the
/// power is cut at a random moment; after each cut the file holds exactly the last version
/// acknowledged or a later one in flight, whole, never torn, never gone.
#[test]
fn a_power_cut_keeps_every_acknowledged_rewrite_whole() {
    use std::sync::atomic::{AtomicBool, AtomicU64};
    use std::sync::{Arc, Mutex};

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("state.json");
    let version = |n: u64| {
        format!(
            "{{\"version\":{n},\"pad\":\"{}\"}}",
            "x".repeat((n % 7000) as usize)
        )
    };
    stockroom_vocab::durable::write_file(&path, version(0).as_bytes(), None).expect("first");
    let mut acknowledged = 0u64;
    let mut seed = 0x00c0_ffeeu64;
    for round in 0..24u64 {
        let watch = durable::power_cut::watch(dir.path());
        let found = std::fs::read_to_string(&path).expect("the file is there");
        let n: u64 = found
            .strip_prefix("{\"version\":")
            .and_then(|rest| rest.split(',').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("round {round}: torn: {found:?}"));
        assert_eq!(found, version(n), "round {round}: whole");
        assert!(
            n >= acknowledged,
            "round {round}: {n} is older than acknowledged {acknowledged}"
        );
        let power_went = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let last_acked = Arc::new(AtomicU64::new(n));
        let attempted = Arc::new(Mutex::new(n));
        let writer = {
            let (path, power_went, stop, last_acked, attempted) = (
                path.clone(),
                power_went.clone(),
                stop.clone(),
                last_acked.clone(),
                attempted.clone(),
            );
            std::thread::spawn(move || {
                let mut next = n;
                while !stop.load(Ordering::Acquire) {
                    next += 1;
                    *attempted.lock().expect("attempted") = next;
                    if stockroom_vocab::durable::write_file(&path, version(next).as_bytes(), None)
                        .is_ok()
                        && !power_went.load(Ordering::Acquire)
                    {
                        last_acked.store(next, Ordering::Release);
                    }
                }
            })
        };
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        std::thread::sleep(std::time::Duration::from_millis(2 + (seed >> 33) % 25));
        power_went.store(true, Ordering::Release);
        watch.cut();
        stop.store(true, Ordering::Release);
        writer.join().expect("writer");
        acknowledged = last_acked.load(Ordering::Acquire);
        watch.restore();
    }
    assert!(acknowledged > 24, "{acknowledged} rewrites acknowledged");
}
