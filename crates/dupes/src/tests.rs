use std::io::Write;

use stockroom_phash::{Hash256, Pdq, Region, Transform};

use super::*;

/// A xorshift generator: deterministic hashes without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// `hash` with `bits` distinct random bits flipped.
    fn flip(&mut self, hash: Hash256, bits: u32) -> Hash256 {
        let mut out = hash;
        while out.distance(&hash) < bits {
            let bit = (self.next() % 256) as usize;
            out.0[bit / 64] ^= 1 << (bit % 64);
            if out.distance(&hash) > bits {
                out.0[bit / 64] ^= 1 << (bit % 64);
            }
        }
        out
    }

    fn hash(&mut self) -> Hash256 {
        Hash256([self.next(), self.next(), self.next(), self.next()])
    }
}

fn pdq(hash: Hash256) -> Pdq {
    Pdq { hash, quality: 90 }
}

fn query(hash: Hash256) -> Vec<Query> {
    vec![Query::new(hash, Region::Whole, Transform::Identity)]
}

/// The lookups ingest makes of one picture: several regions under several transforms, so
/// margins of 16, 0 and -8 all occur.
fn lookups(hash: Hash256, rng: &mut Rng) -> Vec<Query> {
    let mut out = query(hash);
    for (region, transform) in [
        (Region::Centre, Transform::Identity),
        (Region::Whole, Transform::Flip),
        (Region::Inset, Transform::Identity),
        (Region::Inset, Transform::Rot90),
    ] {
        out.push(Query::new(rng.flip(hash, 4), region, transform));
    }
    out
}

#[test]
fn tables_find_exactly_what_a_scan_finds() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut index = DupIndex::open(dir.path().join("hashes")).expect("open");
    let mut rng = Rng(0x5EED);
    // Clusters of near-identical hashes around a few centres, as real catalogues have.
    let centres: Vec<Hash256> = (0..20).map(|_| rng.hash()).collect();
    for asset in 0..3000u64 {
        let centre = centres[(asset % 20) as usize];
        let bits = (rng.next() % 60) as u32;
        let hash = rng.flip(centre, bits);
        let region = [Region::Whole, Region::Centre][asset as usize % 2];
        index.add(asset, &[(region, pdq(hash))], true).expect("add");
    }
    // Half in the tables, half recent: reopen, then add more.
    drop(index);
    let mut index = DupIndex::open(dir.path().join("hashes")).expect("reopen");
    assert_eq!(index.records(), 3000);
    for asset in 3000..3500u64 {
        let hash = rng.flip(centres[(asset % 20) as usize], 20);
        index
            .add(asset, &[(Region::Whole, pdq(hash))], asset % 2 == 0)
            .expect("add");
    }
    for (round, centre) in centres.iter().enumerate() {
        let probe = rng.flip(*centre, (round % 12) as u32);
        let probes = lookups(probe, &mut rng);
        for threshold in [0, 8, 15, 16, 31, 32, 47, 48, 60, 63, 64, 70, 80, 90] {
            let fast = index.search(&probes, threshold);
            let slow = index.search_linear(&probes, threshold);
            assert_eq!(fast, slow, "threshold {threshold}");
            if threshold == 31 {
                assert!(!fast.is_empty());
                assert!(fast.iter().all(|m| m.score <= 31));
                assert!(fast.windows(2).all(|w| w[0].score <= w[1].score));
            }
        }
    }
}

#[test]
fn best_match_per_asset_names_the_transform_and_regions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut index = DupIndex::open(dir.path().join("hashes")).expect("open");
    let mut rng = Rng(7);
    let whole = rng.hash();
    let centre = rng.hash();
    index
        .add(
            42,
            &[(Region::Whole, pdq(whole)), (Region::Centre, pdq(centre))],
            true,
        )
        .expect("add");
    let queries = vec![
        Query::new(rng.flip(whole, 20), Region::Whole, Transform::Identity),
        Query::new(rng.flip(centre, 3), Region::Whole, Transform::Rot90),
    ];
    let found = index.search(&queries, 31);
    assert_eq!(found.len(), 1);
    // The turned lookup is nearer (3 bits) but has no margin: it still wins, 3 to 4.
    assert_eq!(
        (
            found[0].asset,
            found[0].distance,
            found[0].score,
            found[0].transform,
            found[0].indexed_region
        ),
        (42, 3, 3, Transform::Rot90, Region::Centre)
    );
    assert!(found[0].reliable);
}

#[test]
fn lookups_beyond_the_plain_one_must_come_closer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut index = DupIndex::open(dir.path().join("hashes")).expect("open");
    let mut rng = Rng(11);
    let (whole, centre) = (rng.hash(), rng.hash());
    index
        .add(
            7,
            &[(Region::Whole, pdq(whole)), (Region::Centre, pdq(centre))],
            true,
        )
        .expect("add");
    // Insets are never indexed.
    assert!(matches!(
        index.add(8, &[(Region::Inset, pdq(whole))], true),
        Err(DupesError::LookupOnly("inset"))
    ));
    let near_whole = rng.flip(whole, 40);
    let near_centre = rng.flip(centre, 30);
    let found = |queries: &[Query], threshold| {
        index
            .search(queries, threshold)
            .first()
            .map(|m| (m.distance, m.score))
    };
    // As uploaded: 40 bits are within 31 + 16.
    let plain = [Query::new(near_whole, Region::Whole, Transform::Identity)];
    assert_eq!(found(&plain, 31), Some((40, 24)));
    assert_eq!(found(&plain, 23), None);
    // Mirrored, the same 40 bits are over 31.
    let mirrored = [Query::new(near_whole, Region::Whole, Transform::Flip)];
    assert_eq!(found(&mirrored, 31), None);
    assert_eq!(found(&mirrored, 40), Some((40, 40)));
    // An inset meets only the centre crop, within the threshold (8 inside when turned).
    let inset = [Query::new(near_centre, Region::Inset, Transform::Identity)];
    assert_eq!(found(&inset, 31), Some((30, 30)));
    let inset_at_whole = [Query::new(near_whole, Region::Inset, Transform::Identity)];
    assert_eq!(found(&inset_at_whole, 64), None);
    let turned_inset = [Query::new(near_centre, Region::Inset, Transform::Rot90)];
    assert_eq!(found(&turned_inset, 37), None);
    assert_eq!(found(&turned_inset, 38), Some((30, 38)));
    // A threshold below the margin rules such a lookup out altogether.
    assert_eq!(
        found(&[Query::new(centre, Region::Inset, Transform::Rot90)], 7),
        None
    );
    assert_eq!(
        found(&[Query::new(centre, Region::Inset, Transform::Rot90)], 8),
        Some((0, 8))
    );
}

#[test]
fn removals_and_additions_survive_reopening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hashes");
    let mut rng = Rng(99);
    let (a, b) = (rng.hash(), rng.hash());
    {
        let mut index = DupIndex::open(&path).expect("open");
        index.add(1, &[(Region::Whole, pdq(a))], true).expect("add");
        index
            .add(2, &[(Region::Whole, pdq(b))], false)
            .expect("add");
        index.remove(1).expect("remove");
        assert!(index.search(&query(a), 31).is_empty());
    }
    let index = DupIndex::open(&path).expect("reopen");
    assert!(index.search(&query(a), 31).is_empty(), "removal persisted");
    let found = index.search(&query(b), 31);
    assert_eq!(
        (found.len(), found[0].asset, found[0].reliable),
        (1, 2, false)
    );
}

#[test]
fn a_torn_tail_is_cut_and_a_corrupt_record_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hashes");
    let mut rng = Rng(3);
    let hashes: Vec<Hash256> = (0..5).map(|_| rng.hash()).collect();
    {
        let mut index = DupIndex::open(&path).expect("open");
        for (asset, hash) in hashes.iter().enumerate() {
            index
                .add(asset as u64, &[(Region::Whole, pdq(*hash))], true)
                .expect("add");
        }
    }
    // Half a record at the end, as a crash mid-append leaves.
    let record = file::Record {
        asset: 9,
        hash: rng.hash(),
        quality: 80,
        region: Region::Whole,
        flags: 1,
    }
    .encode();
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| f.write_all(&record[..20]))
        .expect("tear");
    let index = DupIndex::open(&path).expect("reopen torn");
    assert_eq!(index.open_report().torn_bytes, 20);
    assert_eq!(index.records(), 5);
    drop(index);
    // Flip a bit inside record 2.
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[file::HEADER_LEN + 2 * file::RECORD_LEN + 10] ^= 4;
    std::fs::write(&path, &bytes).expect("write");
    let index = DupIndex::open(&path).expect("reopen corrupt");
    assert_eq!(index.open_report().corrupt_records, 1);
    assert_eq!(index.records(), 4);
    for (asset, hash) in hashes.iter().enumerate() {
        let found = index.search(&query(*hash), 0);
        assert_eq!(found.len(), usize::from(asset != 2), "asset {asset}");
    }
    drop(index);
    let index = DupIndex::open(&path).expect("reopen repaired");
    assert_eq!(
        index.open_report(),
        OpenReport {
            records: 4,
            ..OpenReport::default()
        }
    );
}

#[test]
fn a_file_that_is_not_an_index_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hashes");
    std::fs::write(&path, b"hello, this is not an index at all").expect("write");
    let error = DupIndex::open(&path).expect_err("not an index");
    assert!(
        error
            .to_string()
            .contains("not a Stockroom duplicate index"),
        "{error}"
    );
    assert_eq!(
        std::fs::read(&path).expect("read").len(),
        34,
        "left untouched"
    );
}

#[test]
fn many_appends_trigger_a_rebuild_without_changing_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut index = DupIndex::open(dir.path().join("hashes")).expect("open");
    let mut rng = Rng(11);
    let target = rng.hash();
    index
        .add(0, &[(Region::Whole, pdq(target))], true)
        .expect("add");
    for asset in 1..5000u64 {
        index
            .add(asset, &[(Region::Whole, pdq(rng.hash()))], true)
            .expect("add");
    }
    assert!(index.base > 0, "rebuilt after 4096 recent records");
    let found = index.search(&query(rng.flip(target, 30)), 31);
    assert_eq!(found.iter().map(|m| m.asset).collect::<Vec<_>>(), vec![0]);
}

#[test]
fn slot_keys_permute_the_bits() {
    let mut rng = Rng(5);
    for _ in 0..50 {
        let hash = rng.hash();
        let keys = mih::slot_keys(&hash);
        let ones: u32 = keys.iter().map(|key| key.count_ones()).sum();
        assert_eq!(ones, hash.0.iter().map(|w| w.count_ones()).sum::<u32>());
        for bit in 0..256 {
            let mut flipped = hash;
            flipped.0[bit / 64] ^= 1 << (bit % 64);
            let other = mih::slot_keys(&flipped);
            let changed: u32 = keys
                .iter()
                .zip(&other)
                .map(|(a, b)| (a ^ b).count_ones())
                .sum();
            assert_eq!(changed, 1, "bit {bit}");
        }
    }
}

#[test]
fn an_index_hashed_the_old_way_opens_stale_and_rehashing_replaces_it_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("hashes");
    let mut rng = Rng(11);
    let (old, new): (Vec<Hash256>, Vec<Hash256>) = (0..3).map(|_| (rng.hash(), rng.hash())).unzip();
    let mut index = DupIndex::open(&path).expect("open");
    assert!(!index.open_report().stale_hashes, "a new file is current");
    for (asset, hash) in old.iter().enumerate() {
        index
            .add(asset as u64, &[(Region::Whole, pdq(*hash))], true)
            .expect("add");
    }
    index.remove(1).expect("remove");
    assert_eq!(index.assets(), vec![0, 2]);
    // Removing again (a change applied twice by a node following the feed) writes nothing.
    let records = index.records();
    index.remove(1).expect("remove again");
    assert_eq!(index.records(), records);
    drop(index);
    // The same records under version 1: hashed on the reduced decode's pixels.
    let mut bytes = std::fs::read(&path).expect("read");
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&path, &bytes).expect("write");

    let mut index = DupIndex::open(&path).expect("open stale");
    assert!(index.open_report().stale_hashes);
    assert_eq!(index.assets(), vec![0, 2], "the records read as they were");
    assert_eq!(index.search(&query(old[2]), 0)[0].asset, 2);
    index
        .replace_all(
            index
                .assets()
                .into_iter()
                .map(|asset| (asset, Region::Whole, pdq(new[asset as usize]), true)),
        )
        .expect("rehash");
    for hashes in [&old, &new] {
        for (asset, hash) in hashes.iter().enumerate() {
            let found: Vec<u64> = index
                .search(&query(*hash), 0)
                .iter()
                .map(|m| m.asset)
                .collect();
            let wanted = if std::ptr::eq(hashes, &new) && asset != 1 {
                vec![asset as u64]
            } else {
                vec![]
            };
            assert_eq!(found, wanted, "asset {asset}");
        }
    }
    drop(index);
    let index = DupIndex::open(&path).expect("reopen");
    assert!(!index.open_report().stale_hashes, "rehashed is current");
    assert_eq!(index.assets(), vec![0, 2]);
    assert_eq!(index.records(), 2);
}
