//! The platform over real parts in a temporary directory: the lifecycle's steps, and what
//! they leave behind.

use std::sync::Arc;

use stockroom_catalog::{
    Caller, Catalog, NewAsset, NewMember, Options as CatalogOptions, SqlCatalog,
};
use stockroom_dupes::DupIndex;
use stockroom_guard::{Guard, GuardConfig};
use stockroom_index::SearchIndex;
use stockroom_store::{Kind, Store, StoreOptions};
use stockroom_vocab::{AssetId, AssetStatus, Collection, ManualClock, Role, Tier};

use crate::{LocalFeed, Options, Parts, Platform};

const DAY: i64 = 24 * 60 * 60;

/// A platform over fresh parts in `dir`, reading `clock`.
fn platform(dir: &std::path::Path, clock: Arc<ManualClock>) -> Platform {
    platform_with(dir, clock, Options::default())
}

/// A platform over the parts in `dir` (created if new), with `options`.
fn platform_with(dir: &std::path::Path, clock: Arc<ManualClock>, options: Options) -> Platform {
    node(dir, &dir.join("catalog"), None, clock, options)
}

/// A platform over the parts in `dir`, with the catalogue in `catalog` and the originals in
/// `originals` (`None`: its own blob store): a node of a cluster when these are shared.
fn node(
    dir: &std::path::Path,
    catalog: &std::path::Path,
    originals: Option<Arc<Store>>,
    clock: Arc<ManualClock>,
    options: Options,
) -> Platform {
    let catalog = SqlCatalog::open(
        catalog,
        CatalogOptions {
            clock: clock.clone(),
            ..CatalogOptions::default()
        },
    )
    .expect("catalogue");
    let store = |name: &str| Store::open(dir.join(name), StoreOptions::default()).expect("store");
    std::fs::create_dir_all(dir.join("dupes")).expect("dupes dir");
    let blobs = Arc::new(store("blobs"));
    let parts = Parts {
        originals: Arc::new(crate::StoreOriginals(
            originals.unwrap_or_else(|| blobs.clone()),
        )),
        blobs,
        archive: store("archive"),
        catalog: Arc::new(catalog),
        index: Arc::new(
            SearchIndex::open(&dir.join("index"), stockroom_index::Options::default())
                .expect("index"),
        ),
        duplicates: DupIndex::open(dir.join("dupes").join("hashes")).expect("dupes"),
        blocklist: {
            let path = dir.join("dupes").join("blocklist");
            let _ = std::fs::remove_file(&path);
            DupIndex::open(path).expect("blocklist")
        },
        guard: Arc::new(Guard::new(GuardConfig::default()).expect("guard")),
        feed: Arc::new(LocalFeed::default()),
        clock,
    };
    Platform::new(parts, options).expect("platform")
}

#[test]
fn a_withdrawn_original_is_purged_after_28_days_unless_it_was_licensed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::at(1_793_491_200));
    let platform = platform(dir.path(), clock.clone());
    let (catalog, blobs) = (platform.catalog(), platform.blobs());
    let author = member(&platform, "Ann", &[Role::Author]);
    let buyer = member(&platform, "Cy", &[Role::Customer]);
    let (kept, purged) = (AssetId::from_u64(1), AssetId::from_u64(2));
    for asset in [kept, purged] {
        add_asset(catalog, asset, author.member_id.clone());
        blobs.put(asset, Kind::Original, b"original").expect("put");
        blobs.put(asset, Kind::Metadata, b"{}").expect("put");
    }
    catalog
        .license(Caller::Member(&buyer), kept)
        .expect("licensed");
    for asset in [kept, purged] {
        catalog.withdraw(asset, &author).expect("withdraw");
    }
    clock.advance(27 * DAY);
    assert_eq!(platform.purge_due().expect("run"), []);
    assert!(blobs.contains(purged, Kind::Original), "not yet");
    clock.advance(DAY);
    assert_eq!(platform.purge_due().expect("run"), [purged]);
    assert!(!blobs.contains(purged, Kind::Original));
    assert!(!blobs.contains(purged, Kind::Metadata));
    assert!(
        blobs.contains(kept, Kind::Original),
        "licensed: kept for its licensees"
    );
    assert_eq!(
        catalog.asset(kept).expect("row").status,
        AssetStatus::Inactive
    );
    let record = catalog.asset(purged).expect("row");
    assert!(record.purged_at.is_some());
    assert!(
        catalog
            .purges_since(0, 100)
            .expect("feed")
            .iter()
            .any(|event| event.asset_id == purged && event.reason == "purged")
    );
    assert_eq!(platform.purge_due().expect("again"), [], "once");
}

#[test]
fn a_takedown_runs_every_step_and_tells_the_feed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let platform = platform(dir.path(), Arc::new(ManualClock::at(1_793_491_200)));
    let heard = Arc::new(std::sync::Mutex::new(Vec::new()));
    let listener = heard.clone();
    platform.feed().subscribe(Box::new(move |change| {
        listener.lock().expect("lock").push(change.clone());
    }));
    let catalog = platform.catalog();
    let moderator = member(&platform, "Mo", &[Role::Moderator]);
    let asset = AssetId::from_u64(3);
    add_asset(platform.catalog(), asset, "ann");
    platform
        .blobs()
        .put(asset, Kind::Original, b"original")
        .expect("put");
    platform
        .duplicate_index()
        .add(asset.as_u64(), &[], true)
        .expect("hashes");
    platform
        .takedown(asset, &moderator, "notice 1")
        .expect("taken down");
    assert!(!platform.blobs().contains(asset, Kind::Original));
    assert_eq!(
        catalog.asset(asset).expect("row").status,
        AssetStatus::Removed
    );
    assert_eq!(
        *heard.lock().expect("lock"),
        [crate::Change::AssetRemoved(asset)]
    );
    let error = platform
        .takedown(asset, &moderator, "again")
        .expect_err("already removed");
    assert_ne!(error.class(), crate::ErrorClass::Internal, "{error}");
}

/// Enters a free, active asset credited to `author_id` ("Ann").
#[test]
fn a_rejected_upload_is_purged_after_28_days_with_no_purge_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::at(1_793_491_200));
    let platform = platform(dir.path(), clock.clone());
    let (catalog, blobs) = (platform.catalog(), platform.blobs());
    let moderator = member(&platform, "Mo", &[Role::Moderator]);
    let asset = AssetId::from_u64(9);
    catalog
        .add_asset(&new_asset(asset, "ann".into(), true))
        .expect("held");
    blobs.put(asset, Kind::Original, b"original").expect("put");
    platform
        .reject(asset, &moderator, "  ")
        .expect_err("a reason is needed");
    platform
        .reject(asset, &moderator, "blurred")
        .expect("rejected");
    let row = catalog.asset(asset).expect("row");
    assert_eq!(row.status, AssetStatus::Rejected);
    assert_eq!(row.rejection.as_deref(), Some("blurred"));
    clock.advance(28 * DAY);
    assert_eq!(platform.purge_due().expect("run"), [asset]);
    assert!(!blobs.contains(asset, Kind::Original));
    assert!(
        catalog.purges_since(0, 100).expect("feed").is_empty(),
        "never public: nothing for a CDN to purge"
    );
}

/// A blocklist entry written to the catalogue by another process (another node of the
/// cluster shape) reaches this platform at its next check, and only a change re-reads it.
#[test]
fn a_blocklist_change_made_elsewhere_is_picked_up_by_the_next_check() {
    let dir = tempfile::tempdir().expect("temp dir");
    let platform = platform(dir.path(), Arc::new(ManualClock::at(1_793_491_200)));
    let moderator = member(&platform, "Mo", &[Role::Moderator]);
    let author = member(&platform, "Ann", &[Role::Author]);
    assert!(
        !platform.sync_blocklist_if_changed().expect("check"),
        "nothing changed"
    );
    let bytes = aqua();
    let hashed =
        crate::fingerprint::hash_bytes(&bytes, &stockroom_render::Limits::default()).expect("hash");
    let pdq = crate::blocklist::hashes_of(&hashed).pdq.expect("pdq");
    // Straight into the catalogue, as another process's import would be.
    platform
        .catalog()
        .import_blocks(&moderator, "elsewhere", vec![pdq])
        .expect("imported");
    assert!(platform.sync_blocklist_if_changed().expect("check"));
    assert!(
        !platform.sync_blocklist_if_changed().expect("check"),
        "read once"
    );
    let refused = upload(&platform, &author, &bytes).expect_err("blocked");
    assert!(refused.to_string().contains("elsewhere"), "{refused}");
}

fn add_asset(catalog: &dyn Catalog, id: AssetId, author_id: impl Into<String>) {
    catalog
        .add_asset(&new_asset(id, author_id.into(), false))
        .expect("asset");
}

/// A free asset's row crediting "Ann", active or held.
fn new_asset(id: AssetId, author_id: String, pending: bool) -> NewAsset {
    NewAsset {
        id,
        author_id,
        author_name: "Ann".into(),
        title: "t".into(),
        collection: Collection::Free,
        editorial_only: false,
        model_release: false,
        property_release: false,
        pending,
        document: Vec::new(),
        blake3: None,
    }
}

/// The corpus photo the upload tests use.
fn aqua() -> Vec<u8> {
    let photo =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../corpus/photos/aqua.jpg");
    std::fs::read(photo).expect("photo")
}

/// `bytes` uploaded by `author`, titled "Aqua".
fn upload(
    platform: &Platform,
    author: &stockroom_catalog::Principal,
    bytes: &[u8],
) -> crate::Result<crate::Admitted> {
    platform.upload(crate::Upload {
        image: bytes,
        author,
        metadata: crate::metadata::AssetMetadata {
            title: "Aqua".into(),
            ..Default::default()
        },
    })
}

/// A new member with `roles`, as their owner seat.
fn member(platform: &Platform, name: &str, roles: &[Role]) -> stockroom_catalog::Principal {
    let created = platform
        .catalog()
        .add_member(&NewMember {
            name: name.into(),
            roles: roles.to_vec(),
            tier: Tier::Registered,
            seats: 1,
        })
        .expect("member");
    platform
        .catalog()
        .authenticate(&created.keys[0])
        .expect("key")
}

#[test]
fn a_blocked_members_download_links_stop_working_at_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let platform = platform(dir.path(), Arc::new(ManualClock::at(1_793_491_200)));
    let buyer = member(&platform, "Cy", &[Role::Customer]);
    let moderator = member(&platform, "Mo", &[Role::Moderator]);
    let asset = AssetId::from_u64(4);
    add_asset(platform.catalog(), asset, "ann");
    platform
        .originals()
        .put(asset, b"original")
        .expect("original");
    let licence = match platform
        .license(Caller::Member(&buyer), asset)
        .expect("licensed")
        .grant
    {
        stockroom_catalog::Grant::New(licence) => licence.id,
        other => panic!("expected a new licence, got {other:?}"),
    };
    let network = stockroom_catalog::anonymise("203.0.113.9".parse().expect("address"));
    assert!(platform.download(asset, Some(&licence), &network).is_ok());
    platform
        .set_member_blocked(&buyer.member_id, true, &moderator, "test")
        .expect("blocked");
    let refused = platform
        .download(asset, Some(&licence), &network)
        .expect_err("a blocked member's link");
    assert_eq!(refused.class(), crate::ErrorClass::Forbidden, "{refused}");
    platform
        .set_member_blocked(&buyer.member_id, false, &moderator, "test")
        .expect("cleared");
    assert!(platform.download(asset, Some(&licence), &network).is_ok());
}

#[test]
fn a_blocked_moderator_has_no_moderation_rights_and_only_an_admin_blocks_an_admin() {
    let dir = tempfile::tempdir().expect("temp dir");
    let platform = platform(dir.path(), Arc::new(ManualClock::at(1_793_491_200)));
    let admin = member(&platform, "Ada", &[Role::Admin]);
    let moderator = member(&platform, "Mo", &[Role::Moderator]);
    let other = member(&platform, "Max", &[Role::Moderator]);
    let forbidden = |result: crate::Result<stockroom_catalog::Member>| {
        result.expect_err("refused").class() == crate::ErrorClass::Forbidden
    };
    assert!(
        forbidden(platform.set_member_blocked(&admin.member_id, true, &moderator, "test")),
        "a moderator may not block an admin"
    );
    platform
        .set_member_blocked(&moderator.member_id, true, &admin, "test")
        .expect("an admin blocks a moderator");
    // The principal as a new request would authenticate it now.
    let blocked = platform
        .catalog()
        .member(&moderator.member_id)
        .map(|member| stockroom_catalog::Principal {
            status: member.status,
            ..moderator.clone()
        })
        .expect("member");
    assert!(
        forbidden(platform.set_member_blocked(&moderator.member_id, false, &blocked, "test")),
        "a blocked moderator may not clear their own block"
    );
    assert!(
        forbidden(platform.set_member_blocked(&other.member_id, true, &blocked, "test")),
        "nor block anyone else"
    );
    let asset = AssetId::from_u64(5);
    add_asset(platform.catalog(), asset, "ann");
    let takedown = platform
        .takedown(asset, &blocked, "notice")
        .expect_err("nor take anything down");
    assert_eq!(takedown.class(), crate::ErrorClass::Forbidden, "{takedown}");
    platform
        .set_member_blocked(&admin.member_id, true, &admin, "test")
        .expect("an admin may block an admin");
}

#[test]
fn an_erased_authors_name_and_id_leave_every_file_of_the_data_directory() {
    let dir = tempfile::tempdir().expect("temp dir");
    let platform = platform(dir.path(), Arc::new(ManualClock::at(1_793_491_200)));
    let author = member(&platform, "Ann Quintessa", &[Role::Author]);
    let bytes = aqua();
    let admitted = upload(&platform, &author, &bytes).expect("uploaded");
    let crate::Admitted::Active { id: asset } = admitted else {
        panic!("expected an active asset, got {admitted:?}");
    };
    // Rendered while the author had a name: the previews credit it.
    let preview = platform
        .preview(asset, stockroom_vocab::PreviewSize::Thumb, false)
        .expect("preview");
    let name = b"Ann Quintessa";
    let credits = |bytes: &[u8]| bytes.windows(name.len()).any(|window| window == name);
    assert!(credits(&preview.blob), "the preview credits its author");
    platform
        .guard()
        .viewed(&author.member_id, &[asset.as_u64()], 1);
    assert!(platform.guard().signals(&author.member_id, 1).is_some());

    platform
        .erase(&author.member_id, |asset, error| panic!("{asset}: {error}"))
        .expect("erased");
    let archived = platform
        .archive
        .get(asset, Kind::Thumb)
        .expect("the thumbnail is archived");
    assert!(
        !credits(&archived),
        "the archived thumbnail credits the pseudonym"
    );
    assert!(platform.guard().signals(&author.member_id, 1).is_none());
    let snapshot = platform.guard().snapshot(1).expect("a snapshot");
    assert!(!String::from_utf8_lossy(&snapshot).contains(&author.member_id));

    // Issue 24, item 6: the live record credits the pseudonym, and no file of the data
    // directory holds the name or the id any more: not the record's earlier version or the
    // deleted previews in the stores' segments, not the index's segments, not the
    // catalogue's database or its write-ahead log.
    let record = platform.blobs.get(asset, Kind::Metadata).expect("record");
    assert!(!credits(&record), "the live record");
    let id = author.member_id.as_bytes();
    let mut files = vec![dir.path().to_path_buf()];
    let mut checked = 0;
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("list")
                    .map(|entry| entry.expect("entry").path()),
            );
            continue;
        }
        let bytes = std::fs::read(&path).expect("read");
        checked += 1;
        assert!(!credits(&bytes), "{} holds the name", path.display());
        assert!(
            !bytes.windows(id.len()).any(|window| window == id),
            "{} holds the member id",
            path.display()
        );
    }
    assert!(checked > 10, "{checked} files");
}

/// A duplicate index written before PDQ was the file's holds hashes of the reduced
/// decode's pixels; it opens stale and rehashing computes every asset's again from its
/// original, so the same photo matches at distance 0 again.
#[test]
fn an_index_hashed_the_old_way_is_rehashed_from_the_originals() {
    use stockroom_phash::{DECODE_LONG_SIDE, Fingerprint};
    use stockroom_render::{Limits, decode_oriented};

    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::at(1_793_491_200));
    let photo = aqua();
    let asset = {
        let platform = platform(dir.path(), clock.clone());
        let author = member(&platform, "Ann", &[Role::Author]);
        let crate::Admitted::Active { id } = upload(&platform, &author, &photo).expect("upload")
        else {
            panic!("admitted")
        };
        let pixels = decode_oriented(&photo, &Limits::default(), DECODE_LONG_SIDE).expect("decode");
        let old =
            Fingerprint::for_index(&pixels.rgb, pixels.width as usize, pixels.height as usize);
        platform
            .duplicate_index()
            .replace_all(
                old.index_hashes()
                    .into_iter()
                    .map(|(region, pdq)| (id.as_u64(), region, pdq, old.reliable())),
            )
            .expect("old hashes");
        id
    };
    let hashes = dir.path().join("dupes").join("hashes");
    let mut bytes = std::fs::read(&hashes).expect("read");
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    std::fs::write(&hashes, &bytes).expect("version 1");

    let platform = platform(dir.path(), clock);
    assert!(platform.duplicates_stale());
    let distance = |platform: &Platform| {
        let found = platform.duplicates(&photo).expect("lookup").matches;
        assert_eq!(found[0].asset_id, asset);
        found[0].distance
    };
    assert!(distance(&platform) > 4, "the old hash is not the file's");
    let report = platform
        .rehash_duplicates(|| {}, |asset, error| panic!("{asset}: {error}"))
        .expect("rehash");
    assert_eq!(
        report,
        crate::Rehashed {
            rehashed: 1,
            ..Default::default()
        }
    );
    assert!(!platform.duplicates_stale());
    assert_eq!(distance(&platform), 0);
}

/// Options whose watermark says `text`.
fn marked(text: &str) -> Options {
    let mut options = Options::default();
    options.render.watermark.text = text.into();
    options
}

#[test]
fn previews_drawn_with_another_watermark_are_dropped_redrawn_and_purged_at_the_cdn() {
    use stockroom_vocab::PreviewSize;
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(ManualClock::at(1_793_491_200));
    let large = |platform: &Platform, id| {
        platform
            .preview(id, PreviewSize::Large, false)
            .expect("preview")
            .blob
            .to_vec()
    };

    let first = platform_with(dir.path(), clock.clone(), marked("First Stock"));
    assert_eq!(first.drop_stale_previews().expect("check").assets, 0);
    let author = member(&first, "Ann", &[Role::Author]);
    let crate::Admitted::Active { id } = upload(&first, &author, &aqua()).expect("upload") else {
        panic!("held")
    };
    let drawn_first = large(&first, id);
    drop(first);

    // Opened again with the same watermark: the previews stay.
    let same = platform_with(dir.path(), clock.clone(), marked("First Stock"));
    assert_eq!(same.drop_stale_previews().expect("check").assets, 0);
    assert!(same.blobs().contains(id, Kind::Large));
    assert_eq!(large(&same, id), drawn_first);
    drop(same);

    // The site renamed: every stored size goes, the CDN is told, and the next request
    // draws the new name.
    let renamed = platform_with(dir.path(), clock.clone(), marked("Second Stock"));
    assert_eq!(renamed.drop_stale_previews().expect("check").assets, 1);
    for kind in [Kind::Thumb, Kind::Small, Kind::Large] {
        assert!(!renamed.blobs().contains(id, kind), "{kind:?} kept");
    }
    let purges = renamed.catalog().purges_since(0, 100).expect("purges");
    assert!(
        purges
            .iter()
            .any(|event| event.asset_id == id && event.reason == "restyled"),
        "{purges:?}"
    );
    let drawn_second = large(&renamed, id);
    assert_ne!(drawn_second, drawn_first);
    assert_eq!(renamed.drop_stale_previews().expect("check").assets, 0);
    assert_eq!(large(&renamed, id), drawn_second);
}

/// Two nodes' places: each its own data directory; one catalogue, and the originals in one
/// store both hold (as object storage would be).
struct Cluster {
    a_dir: tempfile::TempDir,
    b_dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
    originals: Arc<Store>,
}

impl Cluster {
    fn new() -> Cluster {
        let a_dir = tempfile::tempdir().expect("temp dir");
        let originals = Arc::new(
            Store::open(a_dir.path().join("originals"), StoreOptions::default()).expect("store"),
        );
        Cluster {
            a_dir,
            b_dir: tempfile::tempdir().expect("temp dir"),
            clock: Arc::new(ManualClock::at(1_793_491_200)),
            originals,
        }
    }

    /// The node in `dir`; following the feed (its position in `dir`) if `follows`.
    fn node(&self, dir: &std::path::Path, follows: bool) -> Platform {
        node(
            dir,
            &self.a_dir.path().join("catalog"),
            Some(self.originals.clone()),
            self.clock.clone(),
            Options {
                feed_state: follows.then(|| dir.join("feed-seq")),
                ..Options::default()
            },
        )
    }
}

#[test]
fn a_node_following_its_own_upload_writes_and_commits_nothing_to_its_index() {
    // The embedded shape: one node follows the feed of the catalogue it writes itself.
    let cluster = Cluster::new();
    let a = cluster.node(cluster.a_dir.path(), true);
    a.build_replicas(|_, _| {}, |asset, error| panic!("{asset}: {error}"))
        .expect("build");
    let author = member(&a, "Ann", &[Role::Author]);
    let crate::Admitted::Active { id } = upload(&a, &author, &aqua()).expect("upload") else {
        panic!("admitted active");
    };
    let committed = a.index().committed_opstamp().expect("opstamp");
    let followed = a.follow().expect("follow");
    assert_eq!(followed.applied, 1);
    assert_eq!(
        a.index().committed_opstamp().expect("opstamp"),
        committed,
        "the upload's own change was written to the index again"
    );
    assert!(a.index().get(&id.to_string()).expect("get").is_some());
    // A change it did not make is still applied: withdrawn through another node's handle.
    let b = cluster.node(cluster.b_dir.path(), false);
    b.withdraw(id, &author).expect("withdraw");
    assert!(a.index().get(&id.to_string()).expect("get").is_some());
    assert_eq!(a.follow().expect("follow").applied, 1);
    assert!(a.index().get(&id.to_string()).expect("get").is_none());
}

#[test]
fn a_node_following_the_feed_takes_in_an_upload_made_elsewhere_and_lets_go_of_a_takedown() {
    let cluster = Cluster::new();
    let (a_dir, b_dir) = (cluster.a_dir.path(), cluster.b_dir.path());
    let a = cluster.node(a_dir, false);
    // B: its own blobs, indexes and feed position; A's catalogue and originals.
    let b = cluster.node(b_dir, true);
    assert!(b.replicas_unbuilt());
    assert_eq!(
        b.build_replicas(|_, _| {}, |asset, error| panic!("{asset}: {error}"))
            .expect("build"),
        0
    );
    assert!(!b.replicas_unbuilt());

    let author = member(&a, "Ann", &[Role::Author]);
    let moderator = member(&a, "Mo", &[Role::Moderator]);
    let photo = aqua();
    let crate::Admitted::Active { id } = upload(&a, &author, &photo).expect("upload") else {
        panic!("admitted active");
    };
    assert!(b.index().get(&id.to_string()).expect("get").is_none());
    let followed = b.follow().expect("follow");
    assert_eq!(followed.applied, 1);
    // Searchable on B, its record crediting the author, a duplicate of itself, and the
    // same bytes an exact duplicate.
    assert_eq!(
        b.index()
            .get(&id.to_string())
            .expect("get")
            .expect("indexed")
            .title,
        "Aqua"
    );
    assert_eq!(b.record(id).expect("record").metadata.author, "Ann");
    assert_eq!(b.duplicates(&photo).expect("check").matches[0].asset_id, id);
    assert_eq!(
        upload(&b, &author, &photo).expect("again"),
        crate::Admitted::Duplicate { existing: id }
    );
    // Applying it again changes nothing; the position is kept on disk.
    assert_eq!(b.follow().expect("again").applied, 0);
    assert_eq!(
        crate::read_position(&b_dir.join("feed-seq")).expect("position"),
        followed.seq
    );

    a.takedown(id, &moderator, "notice").expect("takedown");
    drop(b);
    // B was away for it: it reads on from its position when it comes back.
    let b = cluster.node(b_dir, true);
    assert!(b.index().get(&id.to_string()).expect("get").is_some());
    b.follow().expect("catch up");
    assert!(b.index().get(&id.to_string()).expect("get").is_none());
    assert!(!b.blobs().contains(id, Kind::Metadata));
    assert!(b.duplicates(&photo).expect("check").matches.is_empty());

    // A document that does not read (a newer build's, say) is passed over, and the feed
    // goes on past it.
    let unreadable = AssetId::from_u64(0xbad);
    a.catalog()
        .add_asset(&NewAsset {
            document: b"not a document".to_vec(),
            ..new_asset(unreadable, author.member_id.clone(), false)
        })
        .expect("add");
    let followed = b.follow().expect("follow");
    assert_eq!(followed.applied, 1);
    assert_eq!(followed.skipped.len(), 1);
    assert_eq!(followed.skipped[0].0, unreadable);
    assert_eq!(b.follow().expect("again").applied, 0, "not tried again");
}

/// A corpus photo by name.
fn photo(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../corpus/photos")
        .join(name);
    std::fs::read(path).expect("photo")
}

#[test]
fn a_node_away_longer_than_the_feed_keeps_changes_rebuilds_and_then_agrees() {
    let cluster = Cluster::new();
    let (a_dir, b_dir) = (cluster.a_dir.path(), cluster.b_dir.path());
    let a = cluster.node(a_dir, false);
    let b = cluster.node(b_dir, true);
    b.build_replicas(|_, _| {}, |asset, error| panic!("{asset}: {error}"))
        .expect("build");
    let author = member(&a, "Ann", &[Role::Author]);
    let moderator = member(&a, "Mo", &[Role::Moderator]);
    let (dune, storm) = (photo("dune.jpg"), photo("storm.jpg"));
    let crate::Admitted::Active { id: taken } = upload(&a, &author, &dune).expect("upload") else {
        panic!("admitted active");
    };
    assert_eq!(b.follow().expect("follow").applied, 1);
    assert!(b.index().get(&taken.to_string()).expect("get").is_some());
    drop(b);

    // While B is away: a takedown and an upload, then a week and a day, and a prune.
    a.takedown(taken, &moderator, "notice").expect("takedown");
    let crate::Admitted::Active { id: added } = upload(&a, &author, &storm).expect("upload") else {
        panic!("admitted active");
    };
    cluster.clock.advance(8 * 24 * 3600);
    assert_eq!(a.prune_feed().expect("prune"), 2, "all but the newest");
    let horizon = a.catalog().feed_horizon().expect("horizon");
    assert!(horizon > 0);

    // B's position is behind the horizon: the takedown's change is gone, so it makes
    // every asset agree with the catalogue instead, and reads on from there.
    let b = cluster.node(b_dir, true);
    assert!(crate::read_position(&b_dir.join("feed-seq")).expect("position") < horizon);
    let followed = b.follow().expect("follow");
    assert!(followed.rebuilt);
    assert!(followed.skipped.is_empty(), "{:?}", followed.skipped);
    assert!(b.index().get(&taken.to_string()).expect("get").is_none());
    assert!(!b.blobs().contains(taken, Kind::Metadata));
    assert!(b.duplicates(&dune).expect("check").matches.is_empty());
    assert_eq!(
        b.index()
            .get(&added.to_string())
            .expect("get")
            .expect("indexed")
            .title,
        "Aqua"
    );
    assert_eq!(
        b.duplicates(&storm).expect("check").matches[0].asset_id,
        added
    );
    // Its position is the feed's newest now: the next round reads on normally.
    let position = crate::read_position(&b_dir.join("feed-seq")).expect("position");
    assert_eq!(position, a.catalog().last_change().expect("last"));
    assert_eq!(
        b.follow().expect("again"),
        crate::Followed {
            seq: position,
            ..Default::default()
        }
    );
}

#[test]
fn the_same_bytes_through_two_nodes_before_either_heard_of_the_other_are_one_asset() {
    let cluster = Cluster::new();
    let (a, b) = (
        cluster.node(cluster.a_dir.path(), false),
        cluster.node(cluster.b_dir.path(), false),
    );
    let author = member(&a, "Ann", &[Role::Author]);
    let photo = aqua();
    let crate::Admitted::Active { id } = upload(&a, &author, &photo).expect("upload") else {
        panic!("admitted active");
    };
    // B has not followed the feed: its own claims do not know the bytes; the catalogue does.
    assert_eq!(
        upload(&b, &author, &photo).expect("upload through B"),
        crate::Admitted::Duplicate { existing: id }
    );
    assert_eq!(a.catalog().asset_ids().expect("ids"), [id]);
    assert_eq!(
        cluster.originals.entries().len(),
        1,
        "B's copy of the bytes did not stay"
    );
    // And B now knows them itself.
    assert_eq!(
        upload(&b, &author, &photo).expect("again"),
        crate::Admitted::Duplicate { existing: id }
    );
}
