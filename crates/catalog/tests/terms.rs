//! The platform's terms, one test per rule, named for it: members and keys, entitlement,
//! licences, the content lifecycle, statistics and privacy.

use std::net::IpAddr;
use std::sync::Arc;

use stockroom_catalog::{
    AuditFilter, Caller, CatalogError, ChangeKind, ErrorClass, Grant, MembershipChange, NewAsset,
    NewMember, Options, Principal, Quotas, Site, SqlCatalog, anonymise, terms,
};
use stockroom_vocab::{
    AssetId, AssetStatus, Collection, LicenceType, ManualClock, MemberStatus, Role, Tier,
};

const DAY: i64 = 24 * 60 * 60;
/// 2026-11-01T00:00:00Z.
const START: i64 = 1_793_491_200;

#[path = "support/postgres.rs"]
mod postgres_server;

/// Which engine a test's catalogue is on: every test that keeps a catalogue runs on both
/// (the modules `sqlite` and `postgres` at the end).
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's catalogue is kept.
enum Place {
    Dir(tempfile::TempDir),
    Url(String),
}

impl Place {
    fn new(backend: Backend) -> Place {
        match backend {
            Backend::Sqlite => Place::Dir(tempfile::tempdir().expect("temp dir")),
            Backend::Postgres => Place::Url(postgres_server::database()),
        }
    }

    /// Opens (another handle to) the catalogue kept here: another process's, as it were.
    fn open(&self, clock: &Arc<ManualClock>) -> SqlCatalog {
        self.open_with(options(clock))
    }

    /// [`Place::open`] with other options.
    fn open_with(&self, options: Options) -> SqlCatalog {
        match self {
            Place::Dir(dir) => SqlCatalog::open(dir.path(), options).expect("open"),
            Place::Url(url) => SqlCatalog::connect(url, options).expect("connect"),
        }
    }

    /// Every byte the catalogue keeps: the SQLite directory's files, or PostgreSQL's tables
    /// as text (`bytea` in hex).
    fn stored(&self) -> Vec<u8> {
        match self {
            Place::Dir(dir) => std::fs::read_dir(dir.path())
                .expect("list")
                .flat_map(|entry| std::fs::read(entry.expect("entry").path()).expect("read"))
                .collect(),
            Place::Url(url) => {
                let mut client =
                    ::postgres::Client::connect(url, ::postgres::NoTls).expect("connect");
                let tables: Vec<String> = client
                    .query(
                        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                        &[],
                    )
                    .expect("tables")
                    .iter()
                    .map(|row| row.get(0))
                    .collect();
                let mut stored = Vec::new();
                for table in tables {
                    for row in client
                        .query(&format!("SELECT t::text FROM {table} t"), &[])
                        .expect("rows")
                    {
                        stored.extend_from_slice(row.get::<_, String>(0).as_bytes());
                    }
                }
                stored
            }
        }
    }
}

struct World {
    place: Place,
    clock: Arc<ManualClock>,
    catalog: SqlCatalog,
    author: Principal,
    moderator: Principal,
}

fn options(clock: &Arc<ManualClock>) -> Options {
    Options {
        clock: clock.clone(),
        site: Site {
            name: "stock.example".into(),
            url: "https://stock.example/".into(),
        },
        key_cache_entries: 1000,
        quotas: Quotas::default(),
    }
}

fn world(backend: Backend) -> World {
    let place = Place::new(backend);
    let clock = Arc::new(ManualClock::at(START));
    let catalog = place.open(&clock);
    let author = member(&catalog, "Ann Author", &[Role::Author], Tier::Registered, 1).remove(0);
    let moderator = member(&catalog, "Mo", &[Role::Moderator], Tier::Registered, 1).remove(0);
    World {
        place,
        clock,
        catalog,
        author,
        moderator,
    }
}

/// A customer (or, with struct update, any member) to create.
fn new_member(name: &str, tier: Tier, seats: u32) -> NewMember {
    NewMember {
        name: name.into(),
        roles: vec![Role::Customer],
        tier,
        seats,
    }
}

/// A free, unrestricted, active asset by `author` (credited as `author_name`).
fn new_asset(raw: u64, author: &Principal, author_name: &str) -> NewAsset {
    NewAsset {
        id: AssetId::from_u64(raw),
        author_id: author.member_id.clone(),
        author_name: author_name.into(),
        title: format!("asset {raw}"),
        collection: Collection::Free,
        editorial_only: false,
        model_release: false,
        property_release: false,
        pending: false,
        document: Vec::new(),
        blake3: None,
    }
}

/// Creates a member and authenticates each of its keys.
fn member(
    catalog: &SqlCatalog,
    name: &str,
    roles: &[Role],
    tier: Tier,
    seats: u32,
) -> Vec<Principal> {
    let created = catalog
        .add_member(&NewMember {
            roles: roles.to_vec(),
            ..new_member(name, tier, seats)
        })
        .expect("add member");
    created
        .keys
        .iter()
        .map(|key| catalog.authenticate(key).expect("authenticate"))
        .collect()
}

fn customer(world: &World, tier: Tier) -> Principal {
    member(&world.catalog, "Cy", &[Role::Customer], tier, 1).remove(0)
}

impl World {
    fn asset(&self, raw: u64, collection: Collection, editorial_only: bool) -> String {
        let id = AssetId::from_u64(raw);
        self.catalog
            .add_asset(&NewAsset {
                collection,
                editorial_only,
                ..new_asset(raw, &self.author, "Ann Author")
            })
            .expect("add asset");
        id.to_string()
    }

    fn free(&self, raw: u64) -> String {
        self.asset(raw, Collection::Free, false)
    }

    fn license(&self, who: &Principal, asset: &str) -> Result<Grant, CatalogError> {
        self.catalog.license(Caller::Member(who), id(asset))
    }

    fn downloads(&self, asset: &str) -> u64 {
        self.catalog.asset(id(asset)).expect("asset").downloads
    }
}

/// The test's text id as the catalogue takes it.
fn id(text: &str) -> AssetId {
    text.parse().expect("an asset id")
}

fn new_licence(grant: Grant) -> stockroom_catalog::Licence {
    match grant {
        Grant::New(licence) => licence,
        other => panic!("expected a new licence, got {other:?}"),
    }
}

fn class(result: Result<impl std::fmt::Debug, CatalogError>) -> ErrorClass {
    result.expect_err("expected a refusal").class()
}

fn address(text: &str) -> IpAddr {
    text.parse().expect("address")
}

// Members and keys

fn members_add_issues_one_key_per_seat_and_the_first_is_the_owners(backend: Backend) {
    let world = world(backend);
    let seats = member(
        &world.catalog,
        "Team",
        &[Role::Customer],
        Tier::Unlimited,
        3,
    );
    assert_eq!(seats.len(), 3);
    assert!(seats[0].owner && !seats[1].owner && !seats[2].owner);
    assert!(
        seats
            .iter()
            .all(|seat| seat.member_id == seats[0].member_id)
    );
    let ids: std::collections::HashSet<_> = seats.iter().map(|seat| &seat.seat_id).collect();
    assert_eq!(ids.len(), 3);
}

fn only_unlimited_memberships_have_seats_and_nobody_signs_up_as_anonymous(backend: Backend) {
    let world = world(backend);
    let add = |tier, seats| world.catalog.add_member(&new_member("X", tier, seats));
    assert_eq!(class(add(Tier::Registered, 2)), ErrorClass::BadInput);
    assert_eq!(class(add(Tier::Anonymous, 1)), ErrorClass::BadInput);
    assert_eq!(class(add(Tier::Unlimited, 0)), ErrorClass::BadInput);
}

fn api_keys_are_stored_only_as_keyed_hashes(backend: Backend) {
    let place = Place::new(backend);
    let clock = Arc::new(ManualClock::at(START));
    let catalog = place.open(&clock);
    let created = catalog
        .add_member(&new_member("Kay", Tier::Registered, 1))
        .expect("add");
    drop(catalog);
    let key = &created.keys[0];
    let unkeyed = blake3::hash(key.as_bytes());
    let bytes = place.stored();
    assert!(!bytes.is_empty());
    let holds = |needle: &[u8]| bytes.windows(needle.len()).any(|window| window == needle);
    assert!(!holds(key.as_bytes()), "the key itself is stored");
    assert!(!holds(&key.as_bytes()[3..35]), "part of the key is stored");
    assert!(
        !holds(unkeyed.as_bytes()) && !holds(unkeyed.to_hex().as_bytes()),
        "an unkeyed hash of the key is stored"
    );
}

fn an_unknown_key_is_refused_as_unauthenticated(backend: Backend) {
    let world = world(backend);
    assert_eq!(
        class(world.catalog.authenticate("sr_00")),
        ErrorClass::Unauthenticated
    );
    assert_eq!(
        class(world.catalog.authenticate("")),
        ErrorClass::Unauthenticated
    );
}

fn a_removed_seats_key_stops_working_at_once_though_it_was_cached(backend: Backend) {
    let world = world(backend);
    let created = world
        .catalog
        .add_member(&new_member("Team", Tier::Unlimited, 2))
        .expect("add");
    let seat = world
        .catalog
        .authenticate(&created.keys[1])
        .expect("cached now");
    world
        .catalog
        .remove_seat(&created.id, &seat.seat_id)
        .expect("remove");
    assert_eq!(
        class(world.catalog.authenticate(&created.keys[1])),
        ErrorClass::Unauthenticated
    );
    // Its principal, held by a request already under way, cannot license either.
    let asset = world.free(1);
    assert_eq!(
        class(world.license(&seat, &asset)),
        ErrorClass::Unauthenticated
    );
    assert_eq!(world.downloads(&asset), 0);
    // The owner's seat cannot be removed; the owner's key still works.
    let owner = world.catalog.authenticate(&created.keys[0]).expect("owner");
    assert_eq!(
        class(world.catalog.remove_seat(&created.id, &owner.seat_id)),
        ErrorClass::NotFound
    );
}

fn a_blocked_member_may_download_nothing_and_nothing_is_written(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let blocked = customer(&world, Tier::Unlimited);
    world.catalog.block(&blocked.member_id).expect("block");
    let record = world.catalog.member(&blocked.member_id).expect("member");
    assert_eq!(record.status, MemberStatus::Blocked);
    // The principal from before the block (as a request in flight holds it) is refused too.
    assert_eq!(
        class(world.license(&blocked, &asset)),
        ErrorClass::Forbidden
    );
    assert_eq!(world.downloads(&asset), 0);
    assert!(
        world
            .catalog
            .export(&blocked.member_id)
            .expect("export")
            .licences
            .is_empty()
    );
}

fn a_flagged_member_keeps_downloading_with_the_reasons_on_file_until_cleared(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let flagged = customer(&world, Tier::Registered);
    world
        .catalog
        .flag(&flagged.member_id, "stockpiling: 900 downloads in an hour")
        .expect("flag");
    let record = world.catalog.member(&flagged.member_id).expect("member");
    assert_eq!(record.status, MemberStatus::Flagged);
    assert_eq!(
        record.flag_reasons,
        ["stockpiling: 900 downloads in an hour"]
    );
    new_licence(
        world
            .license(&flagged, &asset)
            .expect("flagged members still download"),
    );
    world.catalog.clear(&flagged.member_id).expect("clear");
    let record = world.catalog.member(&flagged.member_id).expect("member");
    assert_eq!(record.status, MemberStatus::Active);
    assert!(record.flag_reasons.is_empty());
}

// Entitlement and licences

fn a_licence_names_its_licensee_the_image_its_releases_and_what_it_allows(backend: Backend) {
    let world = world(backend);
    let raw = 7;
    world
        .catalog
        .add_asset(&NewAsset {
            title: "Harbour at dawn".into(),
            editorial_only: true,
            model_release: true,
            ..new_asset(raw, &world.author, "Ann Author")
        })
        .expect("add asset");
    let asset = AssetId::from_u64(raw).to_string();
    let buyer = member(
        &world.catalog,
        "Bea Buyer",
        &[Role::Customer],
        Tier::Registered,
        1,
    )
    .remove(0);
    let granted = new_licence(world.license(&buyer, &asset).expect("licence"));
    assert_eq!(granted.licensee, "Bea Buyer");
    assert_eq!(granted.asset.title, "Harbour at dawn");
    assert_eq!(granted.asset.author, "Ann Author");
    assert!(granted.asset.model_release);
    assert!(!granted.asset.property_release);
    assert_eq!(granted.licence_type, LicenceType::Editorial);
    assert_eq!(
        granted.terms,
        terms::licence_text(
            LicenceType::Editorial,
            terms::print_run_limit(Tier::Registered)
        )
    );
    let text = granted.terms.join(" ");
    assert!(text.contains("editorial context"), "{text}");
    assert!(text.contains("2000 in all"), "{text}");
    assert!(text.contains("may not be resold"), "{text}");
    // Read back, re-downloaded and listed, it says the same.
    let read = world.catalog.licence(&buyer, &granted.id).expect("read");
    assert_eq!(read, granted);
    match world.license(&buyer, &asset).expect("again") {
        Grant::Reused(licence) => assert_eq!(licence, granted),
        other => panic!("expected the same licence: {other:?}"),
    }
}

fn unlimited_collection_content_is_for_unlimited_members_only(backend: Backend) {
    let world = world(backend);
    let asset = world.asset(1, Collection::Unlimited, false);
    let registered = customer(&world, Tier::Registered);
    assert_eq!(
        class(world.license(&registered, &asset)),
        ErrorClass::Forbidden
    );
    let network = anonymise(address("192.0.2.7"));
    assert_eq!(
        class(
            world
                .catalog
                .license(Caller::Anonymous(&network), id(&asset))
        ),
        ErrorClass::Forbidden
    );
    assert_eq!(world.downloads(&asset), 0);
    let unlimited = customer(&world, Tier::Unlimited);
    new_licence(world.license(&unlimited, &asset).expect("unlimited member"));
}

fn anonymous_users_get_free_content_with_a_print_run_of_50_and_no_certificate(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let network = anonymise(address("192.0.2.7"));
    match world
        .catalog
        .license(Caller::Anonymous(&network), id(&asset))
        .expect("free")
    {
        Grant::Anonymous {
            print_run_limit,
            attribution,
        } => {
            assert_eq!(print_run_limit, 50);
            assert!(attribution.required);
        }
        other => panic!("anonymous users get no licence record: {other:?}"),
    }
    assert_eq!(world.downloads(&asset), 1);
}

fn the_print_run_limit_follows_the_tier_at_the_time_of_licensing(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let registered = new_licence(
        world
            .license(&customer(&world, Tier::Registered), &asset)
            .expect("licence"),
    );
    let unlimited = new_licence(
        world
            .license(&customer(&world, Tier::Unlimited), &asset)
            .expect("licence"),
    );
    assert_eq!(
        (registered.print_run_limit, registered.tier),
        (2_000, Tier::Registered)
    );
    assert_eq!(
        (unlimited.print_run_limit, unlimited.tier),
        (50_000, Tier::Unlimited)
    );
}

fn unlimited_members_owe_no_attribution_except_for_editorial_use(backend: Backend) {
    let world = world(backend);
    let standard = world.free(1);
    let editorial = world.asset(2, Collection::Free, true);
    let unlimited = customer(&world, Tier::Unlimited);
    let registered = customer(&world, Tier::Registered);
    let licence =
        |who: &Principal, asset: &str| new_licence(world.license(who, asset).expect("licence"));
    let plain = licence(&unlimited, &standard);
    assert!(!plain.attribution.required);
    assert_eq!(plain.licence_type, LicenceType::Standard);
    let news = licence(&unlimited, &editorial);
    assert!(news.attribution.required);
    assert_eq!(news.licence_type, LicenceType::Editorial);
    assert!(licence(&registered, &standard).attribution.required);
}

fn attribution_credits_the_site_and_author_and_links_the_image_page(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let licence = new_licence(
        world
            .license(&customer(&world, Tier::Registered), &asset)
            .expect("licence"),
    );
    assert_eq!(licence.attribution.text, "© stock.example/Ann Author");
    assert_eq!(
        licence.attribution.html,
        format!("<a href=\"https://stock.example/assets/{asset}\">© stock.example/Ann Author</a>")
    );
}

fn a_redownload_by_the_same_seat_reuses_its_licence_and_does_not_count_again(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let buyer = customer(&world, Tier::Registered);
    let first = new_licence(world.license(&buyer, &asset).expect("first"));
    match world.license(&buyer, &asset).expect("again") {
        Grant::Reused(licence) => assert_eq!(licence, first),
        other => panic!("expected the same licence: {other:?}"),
    }
    assert_eq!(world.downloads(&asset), 1);
    // Another seat of the same membership gets its own licence, and it counts.
    let seats = member(
        &world.catalog,
        "Team",
        &[Role::Customer],
        Tier::Unlimited,
        2,
    );
    let a = new_licence(world.license(&seats[0], &asset).expect("seat 1"));
    let b = new_licence(world.license(&seats[1], &asset).expect("seat 2"));
    assert_ne!(a.id, b.id);
    assert_eq!(world.downloads(&asset), 3);
}

fn the_owner_sees_every_seats_licences_and_a_seat_only_its_own(backend: Backend) {
    let world = world(backend);
    let (one, two) = (world.free(1), world.free(2));
    let seats = member(
        &world.catalog,
        "Team",
        &[Role::Customer],
        Tier::Unlimited,
        2,
    );
    let (owner, seat) = (&seats[0], &seats[1]);
    let owners = new_licence(world.license(owner, &one).expect("owner"));
    let seats_own = new_licence(world.license(seat, &two).expect("seat"));
    let mut all: Vec<_> = world
        .catalog
        .licences(owner)
        .expect("owner's list")
        .into_iter()
        .map(|l| l.id)
        .collect();
    all.sort();
    let mut expected = vec![owners.id.clone(), seats_own.id.clone()];
    expected.sort();
    assert_eq!(all, expected);
    let own: Vec<_> = world
        .catalog
        .licences(seat)
        .expect("seat's list")
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(own, std::slice::from_ref(&seats_own.id));
    assert!(world.catalog.licence(owner, &seats_own.id).is_ok());
    assert_eq!(
        class(world.catalog.licence(seat, &owners.id)),
        ErrorClass::NotFound
    );
    let stranger = customer(&world, Tier::Unlimited);
    assert_eq!(
        class(world.catalog.licence(&stranger, &owners.id)),
        ErrorClass::NotFound
    );
}

fn anyone_with_its_id_and_code_can_verify_a_licence_and_a_wrong_code_reveals_nothing(
    backend: Backend,
) {
    let world = world(backend);
    let asset = world.free(1);
    let licence = new_licence(
        world
            .license(&customer(&world, Tier::Registered), &asset)
            .expect("licence"),
    );
    let check = world
        .catalog
        .verify_licence(&licence.id, &licence.verification_code)
        .expect("valid");
    assert_eq!(
        (check.asset_id.to_string().as_str(), check.print_run_limit),
        (asset.as_str(), 2_000)
    );
    let wrong = world
        .catalog
        .verify_licence(&licence.id, "0000000000000000");
    let unknown = world
        .catalog
        .verify_licence("l0000000000000000", "0000000000000000");
    assert_eq!(
        format!("{:?}", class(wrong)),
        format!("{:?}", class(unknown))
    );
}

fn a_licence_is_durable_once_recorded(backend: Backend) {
    let place = Place::new(backend);
    let clock = Arc::new(ManualClock::at(START));
    let (asset, licence);
    {
        let catalog = place.open(&clock);
        let created = catalog
            .add_member(&NewMember {
                roles: vec![Role::Customer, Role::Author],
                ..new_member("D", Tier::Registered, 1)
            })
            .expect("add");
        let who = catalog.authenticate(&created.keys[0]).expect("auth");
        asset = AssetId::from_u64(9).to_string();
        catalog.add_asset(&new_asset(9, &who, "D")).expect("asset");
        licence = new_licence(
            catalog
                .license(Caller::Member(&who), id(&asset))
                .expect("licence"),
        );
        // No orderly close: the process could die here.
        std::mem::forget(catalog);
    }
    let reopened = place.open(&clock);
    let check = reopened
        .verify_licence(&licence.id, &licence.verification_code)
        .expect("kept");
    assert_eq!(check.asset_id, id(&asset));
}

// Lifecycle

fn an_unknown_asset_is_not_found_and_a_pending_one_is_not_public_until_approved(backend: Backend) {
    let world = world(backend);
    let buyer = customer(&world, Tier::Registered);
    assert_eq!(
        class(world.license(&buyer, "00000000000000ff")),
        ErrorClass::NotFound
    );
    world
        .catalog
        .add_asset(&NewAsset {
            pending: true,
            document: Vec::new(),
            blake3: None,
            ..new_asset(5, &world.author, "Ann Author")
        })
        .expect("add");
    let pending = AssetId::from_u64(5).to_string();
    assert_eq!(class(world.license(&buyer, &pending)), ErrorClass::NotFound);
    assert_eq!(
        class(world.catalog.approve(id(&pending), &buyer)),
        ErrorClass::Forbidden
    );
    world
        .catalog
        .approve(id(&pending), &world.moderator)
        .expect("approve");
    new_licence(world.license(&buyer, &pending).expect("public now"));
}

#[test]
fn only_authors_and_admins_who_are_not_blocked_may_upload() {
    use stockroom_catalog::terms::may_upload;
    assert!(may_upload(&[Role::Author], MemberStatus::Active).is_ok());
    assert!(may_upload(&[Role::Author], MemberStatus::Flagged).is_ok());
    assert!(may_upload(&[Role::Admin], MemberStatus::Active).is_ok());
    for refused in [
        may_upload(&[Role::Customer, Role::Moderator], MemberStatus::Active),
        may_upload(&[Role::Author], MemberStatus::Blocked),
    ] {
        assert_eq!(class(refused), ErrorClass::Forbidden);
    }
}

fn the_moderation_queue_holds_pending_assets_oldest_first_until_approved(backend: Backend) {
    let world = world(backend);
    for raw in [7, 3, 9] {
        world
            .catalog
            .add_asset(&NewAsset {
                pending: raw != 9,
                document: Vec::new(),
                blake3: None,
                ..new_asset(raw, &world.author, "Ann Author")
            })
            .expect("add");
        world.clock.advance(1);
    }
    let ids = |records: Vec<stockroom_catalog::AssetRecord>| -> Vec<String> {
        records
            .into_iter()
            .map(|record| record.id.to_string())
            .collect()
    };
    let (seven, three) = (
        AssetId::from_u64(7).to_string(),
        AssetId::from_u64(3).to_string(),
    );
    let queue = world.catalog.held(None, 10).expect("queue");
    assert_eq!(ids(queue), [seven.clone(), three.clone()]);
    let first = world.catalog.held(None, 1).expect("page 1");
    assert_eq!(ids(first), std::slice::from_ref(&seven));
    let second = world.catalog.held(Some(id(&seven)), 1).expect("page 2");
    assert_eq!(ids(second), std::slice::from_ref(&three));
    world
        .catalog
        .approve(id(&seven), &world.moderator)
        .expect("approve");
    assert_eq!(ids(world.catalog.held(None, 10).expect("queue")), [three]);
}

fn a_withdrawn_asset_leaves_the_public_at_once_and_is_gone_for_new_licences(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let outcome = world
        .catalog
        .withdraw(id(&asset), &world.author)
        .expect("withdraw");
    assert_eq!(outcome.status, AssetStatus::Withdrawn);
    assert!(!world.catalog.asset(id(&asset)).expect("row").is_public());
    assert_eq!(
        class(world.license(&customer(&world, Tier::Unlimited), &asset)),
        ErrorClass::Gone
    );
    let feed = world.catalog.purges_since(0, 100).expect("feed");
    assert_eq!(
        (
            feed.len(),
            feed[0].asset_id.to_string().as_str(),
            feed[0].reason.as_str()
        ),
        (1, asset.as_str(), "withdrawn")
    );
}

fn only_its_author_may_withdraw_an_asset(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let other = customer(&world, Tier::Unlimited);
    assert_eq!(
        class(world.catalog.withdraw(id(&asset), &other)),
        ErrorClass::Forbidden
    );
    assert!(world.catalog.asset(id(&asset)).expect("row").is_public());
}

fn a_withdrawn_original_never_licensed_is_due_for_purge_after_28_days(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    world
        .catalog
        .withdraw(id(&asset), &world.author)
        .expect("withdraw");
    world.clock.advance(28 * DAY - 1);
    assert!(world.catalog.due_for_purge().expect("due").is_empty());
    world.clock.advance(1);
    assert_eq!(world.catalog.due_for_purge().expect("due"), [id(&asset)]);
    world.catalog.mark_purged(id(&asset)).expect("purged");
    assert!(world.catalog.due_for_purge().expect("due").is_empty());
    let record = world.catalog.asset(id(&asset)).expect("row");
    assert_eq!(record.purged_at, Some(START + 28 * DAY));
    let reasons: Vec<_> = world
        .catalog
        .purges_since(0, 100)
        .expect("feed")
        .into_iter()
        .map(|e| e.reason)
        .collect();
    assert_eq!(reasons, ["withdrawn", "purged"]);
}

fn a_licensed_asset_withdrawn_becomes_inactive_and_only_its_licensees_may_download_it(
    backend: Backend,
) {
    let world = world(backend);
    let asset = world.free(1);
    let licensee = customer(&world, Tier::Registered);
    let licence = new_licence(world.license(&licensee, &asset).expect("licence"));
    let outcome = world
        .catalog
        .withdraw(id(&asset), &world.author)
        .expect("withdraw");
    assert_eq!(outcome.status, AssetStatus::Inactive);
    world.clock.advance(60 * DAY);
    assert!(
        world.catalog.due_for_purge().expect("due").is_empty(),
        "licensed originals are kept"
    );
    match world
        .license(&licensee, &asset)
        .expect("licensee re-downloads")
    {
        Grant::Reused(again) => assert_eq!(again.id, licence.id),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        class(world.license(&customer(&world, Tier::Unlimited), &asset)),
        ErrorClass::Gone
    );
}

fn a_takedown_removes_everything_but_an_audit_record_at_once_and_emits_a_purge(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let licensee = customer(&world, Tier::Registered);
    new_licence(world.license(&licensee, &asset).expect("licence"));
    assert_eq!(
        class(world.catalog.takedown(id(&asset), &licensee, "notice", &[])),
        ErrorClass::Forbidden
    );
    world
        .catalog
        .takedown(id(&asset), &world.moderator, "DMCA notice 42", &[])
        .expect("takedown");
    let record = world.catalog.asset(id(&asset)).expect("row");
    assert_eq!(record.status, AssetStatus::Removed);
    assert!(record.title.is_empty() && record.author_name.is_empty());
    assert_eq!(
        class(world.license(&licensee, &asset)),
        ErrorClass::Gone,
        "even for licensees"
    );
    let audit = world.catalog.audit(id(&asset)).expect("audit");
    assert_eq!(audit.len(), 1);
    assert!(
        audit[0].2.contains("DMCA notice 42") && audit[0].2.contains(&world.moderator.member_id)
    );
    let feed = world.catalog.purges_since(0, 100).expect("feed");
    assert_eq!(feed.last().map(|e| e.reason.as_str()), Some("removed"));
    assert_eq!(
        class(
            world
                .catalog
                .takedown(id(&asset), &world.moderator, "again", &[])
        ),
        ErrorClass::Gone
    );
}

// Statistics

fn authors_are_paid_on_counted_downloads_per_month_as_a_share_of_all(backend: Backend) {
    let world = world(backend);
    let other_author =
        member(&world.catalog, "Otto", &[Role::Author], Tier::Registered, 1).remove(0);
    let mine = world.free(1);
    let theirs = AssetId::from_u64(2);
    world
        .catalog
        .add_asset(&new_asset(2, &other_author, "Otto"))
        .expect("add");
    let (a, b, c) = (
        customer(&world, Tier::Registered),
        customer(&world, Tier::Registered),
        customer(&world, Tier::Registered),
    );
    world.license(&a, &mine).expect("1");
    world.license(&a, &mine).expect("re-download: not counted");
    world.license(&b, &mine).expect("2");
    world.license(&c, &theirs.to_string()).expect("3");
    world.clock.advance(30 * DAY); // December
    world.license(&c, &mine).expect("4");
    let stats = world
        .catalog
        .author_stats(&world.author.member_id)
        .expect("stats");
    let rows: Vec<_> = stats
        .iter()
        .map(|m| (m.month.as_str(), m.downloads, m.all_downloads))
        .collect();
    assert_eq!(rows, [("2026-11", 2, 3), ("2026-12", 1, 1)]);
    assert!((stats[0].share - 2.0 / 3.0).abs() < 1e-9);
}

// Lists

fn lists_page_after_a_position_and_show_each_item_once(backend: Backend) {
    use stockroom_catalog::After;
    let world = world(backend);
    let members: Vec<Principal> = (0..5)
        .map(|n| {
            world.clock.advance(n % 2); // some share a second: the id decides
            customer(&world, Tier::Registered)
        })
        .collect();
    for member in &members[..4] {
        world.catalog.flag(&member.member_id, "test").expect("flag");
    }
    let mut seen = Vec::new();
    let mut after: Option<After> = None;
    loop {
        let page = world
            .catalog
            .members_in(MemberStatus::Flagged, after.as_ref(), 3)
            .expect("page");
        seen.extend(page.iter().map(|member| member.id.clone()));
        match page.last() {
            Some(last) if page.len() == 3 => {
                after = Some(After {
                    at: last.created_at,
                    id: last.id.clone(),
                });
            }
            _ => break,
        }
    }
    let flagged: Vec<String> = members[..4].iter().map(|m| m.member_id.clone()).collect();
    let mut sorted = seen.clone();
    sorted.sort();
    let mut expected = flagged.clone();
    expected.sort();
    assert_eq!(
        sorted, expected,
        "each flagged member once, the unflagged one not"
    );

    // A member's licences, newest first, two at a time.
    let buyer = &members[4];
    for raw in 1..=5 {
        let asset = world.free(raw);
        world.clock.advance((raw % 2) as i64);
        new_licence(world.license(buyer, &asset).expect("licence"));
    }
    let all = world.catalog.licences(buyer).expect("all");
    let mut paged = Vec::new();
    let mut after: Option<After> = None;
    loop {
        let page = world
            .catalog
            .licences_page(buyer, after.as_ref(), 2)
            .expect("page");
        paged.extend(page.iter().cloned());
        match page.last() {
            Some(last) if page.len() == 2 => {
                let position = After {
                    at: last.created_at,
                    id: last.id.clone(),
                };
                assert_eq!(After::parse(&position.cursor()), Some(position.clone()));
                after = Some(position);
            }
            _ => break,
        }
    }
    assert_eq!(paged, all);
    assert_eq!(After::parse("12"), None);
    assert_eq!(After::parse("x.l1"), None);
    assert_eq!(After::parse("5.a b"), None);
}

// Privacy

#[test]
fn networks_keep_only_the_first_24_or_48_bits() {
    assert_eq!(
        anonymise(address("203.0.113.77")).as_str(),
        "203.0.113.0/24"
    );
    assert_eq!(
        anonymise(address("2001:db8:abcd:12:1::9")).as_str(),
        "2001:db8:abcd::/48"
    );
    assert_eq!(
        anonymise(address("::ffff:198.51.100.9")).as_str(),
        "198.51.100.0/24"
    );
}

fn a_member_can_export_their_profile_licences_and_downloads_without_keys(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let created = world
        .catalog
        .add_member(&new_member("Eve", Tier::Registered, 1))
        .expect("add");
    let eve = world.catalog.authenticate(&created.keys[0]).expect("auth");
    let licence = new_licence(world.license(&eve, &asset).expect("licence"));
    world.license(&eve, &asset).expect("again");
    let export = world.catalog.export(&eve.member_id).expect("export");
    assert_eq!(export.profile.name, "Eve");
    assert_eq!(export.licences, [licence]);
    assert_eq!(
        export
            .downloads
            .iter()
            .map(|d| d.counted)
            .collect::<Vec<_>>(),
        [true, false]
    );
    let json = serde_json::to_string(&export).expect("json");
    assert!(!json.contains(&created.keys[0]));
}

fn an_erased_authors_content_leaves_the_public_and_credits_a_pseudonym(backend: Backend) {
    let world = world(backend);
    let (licensed, unlicensed) = (world.free(1), world.free(2));
    world
        .catalog
        .add_asset(&NewAsset {
            pending: true,
            document: Vec::new(),
            blake3: None,
            ..new_asset(3, &world.author, "Ann Author")
        })
        .expect("held");
    let held = AssetId::from_u64(3).to_string();
    let buyer = customer(&world, Tier::Registered);
    new_licence(world.license(&buyer, &licensed).expect("licence"));
    let erasure = world.catalog.erase(&world.author.member_id).expect("erase");
    let mut expected = vec![licensed.clone(), unlicensed.clone(), held.clone()];
    expected.sort();
    assert_eq!(
        erasure.withdrawn,
        expected.iter().map(|text| id(text)).collect::<Vec<_>>()
    );
    let status = |text: &str| world.catalog.asset(id(text)).expect("row").status;
    assert_eq!(status(&licensed), AssetStatus::Inactive);
    assert_eq!(status(&unlicensed), AssetStatus::Withdrawn);
    assert_eq!(status(&held), AssetStatus::Withdrawn);
    for text in &expected {
        let record = world.catalog.asset(id(text)).expect("row");
        assert!(record.author_name.starts_with("erased-"), "{record:?}");
        assert_eq!(record.author_id, record.author_name);
    }
    // Its licensee keeps what they licensed; nobody else gets it.
    world.license(&buyer, &licensed).expect("re-download");
    let other = customer(&world, Tier::Registered);
    assert_eq!(class(world.license(&other, &licensed)), ErrorClass::Gone);
    let feed = world.catalog.purges_since(0, 100).expect("feed");
    for text in [&licensed, &unlicensed, &held] {
        assert!(
            feed.iter()
                .any(|event| event.asset_id == id(text) && event.reason == "withdrawn")
        );
    }
}

fn erasure_keeps_licences_under_a_pseudonym_and_deletes_the_rest(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let created = world
        .catalog
        .add_member(&new_member("Erin Erasable", Tier::Registered, 1))
        .expect("add");
    let erin = world.catalog.authenticate(&created.keys[0]).expect("auth");
    let licence = new_licence(world.license(&erin, &asset).expect("licence"));
    world.catalog.erase(&erin.member_id).expect("erase");
    assert_eq!(
        class(world.catalog.authenticate(&created.keys[0])),
        ErrorClass::Unauthenticated
    );
    assert_eq!(
        class(world.catalog.member(&erin.member_id)),
        ErrorClass::NotFound
    );
    assert_eq!(
        class(world.catalog.export(&erin.member_id)),
        ErrorClass::NotFound
    );
    // The licence still verifies and still counts for the author.
    world
        .catalog
        .verify_licence(&licence.id, &licence.verification_code)
        .expect("kept");
    assert_eq!(world.downloads(&asset), 1);
    assert!(
        world
            .catalog
            .members()
            .expect("list")
            .iter()
            .all(|m| m.name != "Erin Erasable")
    );
}

// Concurrency

fn concurrent_licences_are_each_recorded_once_and_a_refusal_spoils_no_other(backend: Backend) {
    let world = Arc::new(world(backend));
    let asset = world.free(1);
    let forbidden = world.asset(2, Collection::Unlimited, false);
    let buyers: Vec<Principal> = (0..8).map(|_| customer(&world, Tier::Registered)).collect();
    std::thread::scope(|scope| {
        for buyer in &buyers {
            let (world, asset, forbidden) = (&world, &asset, &forbidden);
            scope.spawn(move || {
                for _ in 0..20 {
                    world.license(buyer, asset).expect("free asset");
                    assert_eq!(
                        class(world.license(buyer, forbidden)),
                        ErrorClass::Forbidden
                    );
                }
            });
        }
    });
    assert_eq!(world.downloads(&asset), 8, "one counted download per buyer");
    assert_eq!(world.downloads(&forbidden), 0);
    for buyer in &buyers {
        assert_eq!(world.catalog.licences(buyer).expect("list").len(), 1);
    }
}

/// Issue 21: the hard quota is decided inside the licence's transaction, so it holds
/// exactly when one member's requests arrive at once through several nodes (three handles
/// on one catalogue: three servers on one PostgreSQL, or three processes on one SQLite
/// file), each with its own group commit.
fn a_hard_quota_hit_at_once_through_three_nodes_yields_exactly_its_licences(backend: Backend) {
    let world = world(backend);
    let hard = Quotas::default().registered.hard_daily as u64;
    let buyer = customer(&world, Tier::Registered);
    // Twice the quota's assets, every one asked for by every node.
    let assets: Vec<String> = (1..=2 * hard).map(|raw| world.free(raw)).collect();
    let nodes: Vec<SqlCatalog> = (0..3).map(|_| world.place.open(&world.clock)).collect();
    let granted = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for (n, node) in nodes.iter().enumerate() {
            for thread in 0..4 {
                let (buyer, assets, granted) = (&buyer, &assets, &granted);
                scope.spawn(move || {
                    for (i, asset) in assets.iter().enumerate() {
                        if (i + thread + n) % 2 == 1 {
                            continue;
                        }
                        match node.license_counted(Caller::Member(buyer), id(asset)) {
                            Ok(licensing) if licensing.usage.is_some() => {
                                granted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(error) => assert_eq!(error.class(), ErrorClass::Limited, "{error}"),
                        }
                    }
                });
            }
        }
    });
    assert_eq!(granted.into_inner(), hard, "new licences granted");
    assert_eq!(
        world.catalog.licences(&buyer).expect("list").len() as u64,
        hard,
        "licences recorded"
    );
}

fn past_the_soft_quota_downloads_slow_and_at_the_hard_one_new_licences_stop(backend: Backend) {
    let world = world(backend);
    let quota = Quotas::default().registered;
    let buyer = customer(&world, Tier::Registered);
    let hard = quota.hard_daily as usize;
    let assets: Vec<String> = (0..=hard as u64).map(|raw| world.free(raw + 1)).collect();
    let mut first = None;
    for (n, asset) in assets[..hard].iter().enumerate() {
        let licensing = world
            .catalog
            .license_counted(Caller::Member(&buyer), id(asset))
            .expect("within the quota");
        let usage = licensing.usage.expect("a new licence counts");
        assert_eq!(usage.day, n as u32 + 1);
        assert_eq!(
            usage.slowed,
            usage.day > quota.soft_daily,
            "licence {}",
            n + 1
        );
        first.get_or_insert(new_licence(licensing.grant).id);
        world.clock.advance(60);
    }
    let first = first.expect("licensed");
    assert!(world.catalog.holder(&first).expect("holder").slowed);
    let refused = world
        .license(&buyer, &assets[hard])
        .expect_err("over the hard limit");
    assert_eq!(refused.class(), ErrorClass::Limited);
    // The day's first licence leaves the 24 hours one day after it was granted.
    assert_eq!(refused.retry_after_secs(), Some(86_400 - 60 * hard as u32));
    assert!(
        refused
            .to_string()
            .contains("licences you hold still download")
    );
    // A re-download is no new licence: it works, and does not count.
    let again = world
        .catalog
        .license_counted(Caller::Member(&buyer), id(&assets[0]))
        .expect("re-download");
    assert!(matches!(again.grant, Grant::Reused(_)) && again.usage.is_none());
    // Someone else is not limited by the buyer's quota.
    new_licence(
        world
            .license(&customer(&world, Tier::Registered), &assets[hard])
            .expect("other"),
    );
    world.clock.advance(86_400 - 60 * hard as i64);
    new_licence(world.license(&buyer, &assets[hard]).expect("a day later"));
    assert!(world.catalog.holder(&first).expect("holder").slowed);
}

/// The 30-day count goes on across days while the 24-hour one starts over, and a licence
/// that reaches the monthly review level says so, once.
fn the_30_day_count_spans_days_and_reaches_the_review_level_once(backend: Backend) {
    let world = world(backend);
    let quota = stockroom_catalog::Quota {
        soft_daily: 0,
        hard_daily: 3,
        monthly_review: 5,
    };
    let custom = Options {
        quotas: Quotas {
            registered: quota,
            ..Quotas::default()
        },
        ..options(&world.clock)
    };
    // A second handle on the same catalogue, with these quotas.
    let catalog = world.place.open_with(custom);
    let buyer = customer(&world, Tier::Registered);
    let mut seen = Vec::new();
    for raw in 1..=7u64 {
        let asset = world.free(raw);
        let usage = catalog
            .license_counted(Caller::Member(&buyer), id(&asset))
            .expect("within the quota")
            .usage
            .expect("a new licence counts");
        seen.push((usage.day, usage.month, usage.review_due));
        // Three a day: the fourth comes the next day.
        world.clock.advance(if raw % 3 == 0 { DAY } else { 60 });
    }
    assert_eq!(
        seen,
        [
            (1, 1, false),
            (2, 2, false),
            (3, 3, false),
            (1, 4, false),
            (2, 5, true),
            (3, 6, false),
            (1, 7, false),
        ]
    );
}

fn an_anonymous_network_has_a_daily_quota(backend: Backend) {
    let world = world(backend);
    let network = anonymise("198.51.100.7".parse().expect("address"));
    let hard = Quotas::default().anonymous.hard_daily as u64;
    for raw in 1..=hard {
        let asset = world.free(raw);
        world
            .catalog
            .license(Caller::Anonymous(&network), id(&asset))
            .expect("within the quota");
    }
    let asset = world.free(hard + 1);
    assert_eq!(
        class(
            world
                .catalog
                .license(Caller::Anonymous(&network), id(&asset))
        ),
        ErrorClass::Limited
    );
    let elsewhere = anonymise("203.0.113.9".parse().expect("address"));
    world
        .catalog
        .license(Caller::Anonymous(&elsewhere), id(&asset))
        .expect("another network");
}

fn a_member_change_made_by_another_process_clears_the_cached_principals(backend: Backend) {
    let world = world(backend);
    // A second opener of the same database: the CLI beside a running server.
    let other = world.place.open(&world.clock);
    let key = world
        .catalog
        .add_member(&new_member("Cy", Tier::Registered, 1))
        .expect("member")
        .keys
        .remove(0);
    let principal = world.catalog.authenticate(&key).expect("cached now");
    assert!(!world.catalog.sync_member_changes().expect("sync"));
    other
        .block(&principal.member_id)
        .expect("blocked elsewhere");
    assert!(
        world.catalog.cached_principal(&key).is_some(),
        "not seen until synced"
    );
    assert!(world.catalog.sync_member_changes().expect("sync"));
    assert!(world.catalog.cached_principal(&key).is_none());
    assert_eq!(
        world
            .catalog
            .authenticate(&key)
            .expect("from the row")
            .status,
        MemberStatus::Blocked
    );
    assert!(!world.catalog.sync_member_changes().expect("nothing new"));
}

/// Issue 25, honest counts: one anonymous network licensing the same asset again and
/// again within a day is one download for the author's share and the network's quota;
/// the next day it counts again.
fn an_anonymous_networks_repeats_of_an_asset_within_a_day_count_once(backend: Backend) {
    let world = world(backend);
    let (asset, other) = (world.free(1), world.free(2));
    // Two addresses of one /24: one network.
    for address_text in ["192.0.2.7", "192.0.2.99"].iter().cycle().take(10) {
        let network = anonymise(address(address_text));
        world
            .catalog
            .license(Caller::Anonymous(&network), id(&asset))
            .expect("free");
    }
    assert_eq!(world.downloads(&asset), 1);
    let network = anonymise(address("192.0.2.7"));
    world
        .catalog
        .license(Caller::Anonymous(&network), id(&other))
        .expect("another asset");
    assert_eq!(world.downloads(&other), 1, "another asset counts");
    let elsewhere = anonymise(address("198.51.100.7"));
    world
        .catalog
        .license(Caller::Anonymous(&elsewhere), id(&asset))
        .expect("another network");
    assert_eq!(world.downloads(&asset), 2, "another network counts");
    world.clock.advance(24 * 3600 + 1);
    world
        .catalog
        .license(Caller::Anonymous(&network), id(&asset))
        .expect("the next day");
    assert_eq!(world.downloads(&asset), 3, "a day later it counts again");
}

/// Issue 25, terms 5.3 b: an agency needs an additional licence, a new download, for each
/// end customer. Naming a client gives the seat a separate licence per client, counted;
/// the same client again reuses it; without a client the seat's own licence is reused as
/// before. An anonymous caller has no licence to name a client on.
fn an_agency_licenses_an_asset_once_per_end_client_and_each_counts(backend: Backend) {
    let world = world(backend);
    let asset = world.free(1);
    let agency = customer(&world, Tier::Registered);
    let license = |client: Option<&str>| {
        world
            .catalog
            .license_for(Caller::Member(&agency), id(&asset), client)
            .expect("licensed")
            .grant
    };
    let own = new_licence(license(None));
    assert_eq!(own.client, None);
    let acme = match license(Some("  Acme Shoes, spring campaign ")) {
        Grant::New(licence) => licence,
        other => panic!("a new licence for a new client: {other:?}"),
    };
    assert_eq!(acme.client.as_deref(), Some("Acme Shoes, spring campaign"));
    assert_ne!(acme.id, own.id);
    let globex = new_licence(license(Some("Globex")));
    assert_ne!(globex.id, acme.id);
    assert_eq!(world.downloads(&asset), 3, "one count per new licence");
    match license(Some("Acme Shoes, spring campaign")) {
        Grant::Reused(licence) => assert_eq!(licence, acme),
        other => panic!("the same client again reuses its licence: {other:?}"),
    }
    match license(None) {
        Grant::Reused(licence) => assert_eq!(licence, own),
        other => panic!("no client: the seat's own licence: {other:?}"),
    }
    assert_eq!(world.downloads(&asset), 3, "re-downloads do not count");
    // The licence lists show the client.
    let mine = world.catalog.licences(&agency).expect("licences");
    assert_eq!(mine.len(), 3);
    assert!(
        mine.iter()
            .any(|licence| licence.client.as_deref() == Some("Globex"))
    );
    for bad in ["", "   ", "tab\there", &"x".repeat(201)] {
        assert_eq!(
            class(
                world
                    .catalog
                    .license_for(Caller::Member(&agency), id(&asset), Some(bad))
            ),
            ErrorClass::BadInput,
            "{bad:?}"
        );
    }
    let network = anonymise(address("192.0.2.7"));
    assert_eq!(
        class(
            world
                .catalog
                .license_for(Caller::Anonymous(&network), id(&asset), Some("Acme"))
        ),
        ErrorClass::BadInput
    );
    assert_eq!(world.downloads(&asset), 3, "refusals write nothing");
}

/// Each key's principal (cached from here on).
fn keys(world: &World, keys: &[String]) -> Vec<Principal> {
    keys.iter()
        .map(|key| world.catalog.authenticate(key).expect("authenticate"))
        .collect()
}

/// An admin principal, for changes of membership.
fn admin(world: &World) -> Principal {
    member(
        &world.catalog,
        "Ada Admin",
        &[Role::Admin],
        Tier::Registered,
        1,
    )
    .remove(0)
}

fn change(tier: Option<Tier>, seats: Option<u32>) -> MembershipChange {
    MembershipChange {
        tier,
        seats,
        ..MembershipChange::default()
    }
}

fn an_admin_changes_tier_and_seat_count_and_removed_seats_stop_at_once(backend: Backend) {
    let world = world(backend);
    let admin = admin(&world);
    let created = world
        .catalog
        .add_member(&new_member("Ria", Tier::Registered, 1))
        .expect("add");
    let owner_key = &created.keys[0];
    assert_eq!(
        world.catalog.authenticate(owner_key).expect("key").tier,
        Tier::Registered
    );
    // Up to unlimited with three seats: two new keys, shown once, that sign in.
    let up = world
        .catalog
        .change_membership(
            &created.id,
            &change(Some(Tier::Unlimited), Some(3)),
            &admin,
            "bought",
        )
        .expect("upgrade");
    assert_eq!(up.member.tier, Tier::Unlimited);
    assert_eq!(up.member.seats.len(), 3);
    assert_eq!(up.new_keys.len(), 2);
    let seat = world
        .catalog
        .authenticate(&up.new_keys[1].key)
        .expect("a new seat");
    assert_eq!(
        (seat.tier, seat.seats, seat.owner),
        (Tier::Unlimited, 3, false)
    );
    let owner = world
        .catalog
        .authenticate(owner_key)
        .expect("the owner's key still works");
    assert_eq!((owner.tier, owner.seats), (Tier::Unlimited, 3));
    // Down to two seats: the newest goes, its key (cached a moment ago) stops at once.
    let down = world
        .catalog
        .change_membership(&created.id, &change(None, Some(2)), &admin, "fewer people")
        .expect("fewer seats");
    assert_eq!(down.member.seats.len(), 2);
    assert!(down.new_keys.is_empty());
    assert_eq!(
        class(world.catalog.authenticate(&up.new_keys[1].key)),
        ErrorClass::Unauthenticated
    );
    assert!(world.catalog.authenticate(&up.new_keys[0].key).is_ok());
    // Back to registered: the owner's seat alone. The change is in the audit history.
    let back = world
        .catalog
        .change_membership(
            &created.id,
            &change(Some(Tier::Registered), None),
            &admin,
            "lapsed",
        )
        .expect("downgrade");
    assert_eq!(
        (back.member.tier, back.member.seats.len()),
        (Tier::Registered, 1)
    );
    assert_eq!(
        class(world.catalog.authenticate(&up.new_keys[0].key)),
        ErrorClass::Unauthenticated
    );
    let history = world
        .catalog
        .actions(&AuditFilter::default(), 10)
        .expect("audit");
    let changes: Vec<_> = history
        .iter()
        .filter(|entry| entry.action == "membership")
        .collect();
    assert_eq!(changes.len(), 3);
    assert!(
        changes
            .iter()
            .all(|entry| entry.moderator == admin.member_id)
    );
    // Nonsense is refused and changes nothing.
    for bad in [
        change(Some(Tier::Registered), Some(2)),
        change(Some(Tier::Unlimited), Some(0)),
        change(Some(Tier::Anonymous), None),
    ] {
        assert_eq!(
            class(
                world
                    .catalog
                    .change_membership(&created.id, &bad, &admin, "")
            ),
            ErrorClass::BadInput
        );
    }
    assert_eq!(
        world.catalog.member(&created.id).expect("member").tier,
        Tier::Registered
    );
}

fn a_rotated_key_replaces_the_old_one_at_once(backend: Backend) {
    let world = world(backend);
    let created = world
        .catalog
        .add_member(&new_member("Uli", Tier::Unlimited, 2))
        .expect("add");
    let seat = world
        .catalog
        .authenticate(&created.keys[1])
        .expect("cached now");
    let rotated = world
        .catalog
        .rotate_key(&created.id, &seat.seat_id)
        .expect("rotate");
    assert_eq!(rotated.seat_id, seat.seat_id);
    assert_eq!(
        class(world.catalog.authenticate(&created.keys[1])),
        ErrorClass::Unauthenticated
    );
    let again = world
        .catalog
        .authenticate(&rotated.key)
        .expect("the new key");
    assert_eq!(again.seat_id, seat.seat_id);
    // The other seat's key is untouched; a seat of another membership is not found.
    assert!(world.catalog.authenticate(&created.keys[0]).is_ok());
    let other = customer(&world, Tier::Registered);
    assert_eq!(
        class(world.catalog.rotate_key(&created.id, &other.seat_id)),
        ErrorClass::NotFound
    );
}

fn a_seat_may_rotate_its_own_key_and_the_owner_any_seats(backend: Backend) {
    let world = world(backend);
    let created = world
        .catalog
        .add_member(&new_member("Uli", Tier::Unlimited, 3))
        .expect("add");
    let seats = keys(&world, &created.keys);
    let (owner, first, second) = (&seats[0], &seats[1], &seats[2]);
    let may = |by: &Principal, seat: &Principal| {
        terms::may_rotate_key(by.owner, &by.seat_id, by.status, &seat.seat_id).is_ok()
    };
    assert!(may(owner, second));
    assert!(may(first, first));
    assert!(!may(first, second));
    world.catalog.block(&owner.member_id).expect("block");
    let blocked = world
        .catalog
        .authenticate(&created.keys[1])
        .expect("signs in");
    assert!(!may(&blocked, &blocked));
}

fn after_its_end_date_a_membership_licenses_as_registered_and_its_licences_stay_valid(
    backend: Backend,
) {
    let world = world(backend);
    let admin = admin(&world);
    let created = world
        .catalog
        .add_member(&new_member("Uli", Tier::Unlimited, 2))
        .expect("add");
    let seats = keys(&world, &created.keys);
    let (owner, seat) = (&seats[0], &seats[1]);
    let member_id = &owner.member_id;
    let ends = START + 30 * DAY;
    let ending = MembershipChange {
        ends_at: Some(Some(ends)),
        ..MembershipChange::default()
    };
    world
        .catalog
        .change_membership(member_id, &ending, &admin, "a month")
        .expect("end date");
    let premium = world.asset(1, Collection::Unlimited, false);
    let before = new_licence(world.license(owner, &premium).expect("licensed while paid"));
    assert_eq!(before.print_run_limit, 50_000);
    world.clock.advance(30 * DAY);
    // Past the end: the owner is registered (though the key was cached while unlimited),
    // another seat no longer signs in, unlimited content is refused, free content is
    // licensed on registered terms, and the licence from before still holds.
    let now = world
        .catalog
        .authenticate(&created.keys[0])
        .expect("the owner signs in");
    assert_eq!((now.tier, now.seats), (Tier::Registered, 1));
    assert_eq!(
        class(world.catalog.authenticate(&created.keys[1])),
        ErrorClass::Forbidden
    );
    assert_eq!(
        world.catalog.member(member_id).expect("member").paid_tier,
        Tier::Unlimited
    );
    assert_eq!(class(world.license(seat, &premium)), ErrorClass::Forbidden);
    let second = world.asset(2, Collection::Unlimited, false);
    assert_eq!(class(world.license(&now, &second)), ErrorClass::Forbidden);
    let free = world.free(3);
    let after = new_licence(world.license(&now, &free).expect("free content"));
    assert_eq!(
        (after.tier, after.print_run_limit),
        (Tier::Registered, 2_000)
    );
    assert!(matches!(
        world.license(&now, &premium),
        Ok(Grant::Reused(_))
    ));
    let check = world
        .catalog
        .verify_licence(&before.id, &before.verification_code)
        .expect("verifies");
    assert!(!check.suspended);
    // Renewed: unlimited again, every seat back.
    let renew = MembershipChange {
        ends_at: Some(Some(START + 400 * DAY)),
        ..MembershipChange::default()
    };
    world
        .catalog
        .change_membership(member_id, &renew, &admin, "renewed")
        .expect("renew");
    let seat = world
        .catalog
        .authenticate(&created.keys[1])
        .expect("signs in again");
    assert_eq!((seat.tier, seat.seats), (Tier::Unlimited, 2));
    assert!(matches!(world.license(&seat, &second), Ok(Grant::New(_))));
}

fn an_unpaid_membership_suspends_its_licences_until_it_is_paid(backend: Backend) {
    let world = world(backend);
    let admin = admin(&world);
    let created = world
        .catalog
        .add_member(&new_member("Uli", Tier::Unlimited, 1))
        .expect("add");
    let owner = keys(&world, &created.keys).remove(0);
    let premium = world.asset(1, Collection::Unlimited, false);
    let free = world.free(2);
    let premium_licence = new_licence(world.license(&owner, &premium).expect("licensed"));
    let free_licence = new_licence(world.license(&owner, &free).expect("licensed"));
    let paid = |paid| MembershipChange {
        paid: Some(paid),
        ..MembershipChange::default()
    };
    let unpaid = world
        .catalog
        .change_membership(&owner.member_id, &paid(false), &admin, "card declined")
        .expect("unpaid");
    assert!(!unpaid.member.paid);
    assert_eq!(unpaid.member.tier, Tier::Registered);
    // Verification says suspended; the licence does not download or reissue a link.
    for licence in [&premium_licence, &free_licence] {
        let check = world
            .catalog
            .verify_licence(&licence.id, &licence.verification_code)
            .expect("still verifiable");
        assert!(check.suspended, "{licence:?}");
        assert_eq!(
            class(world.catalog.holder(&licence.id)),
            ErrorClass::Forbidden
        );
    }
    let owner_now = world
        .catalog
        .authenticate(&created.keys[0])
        .expect("signs in");
    assert_eq!(
        class(world.license(&owner_now, &premium)),
        ErrorClass::Forbidden
    );
    assert_eq!(
        class(world.license(&owner_now, &free)),
        ErrorClass::Forbidden
    );
    assert!(
        world
            .catalog
            .licences(&owner_now)
            .expect("own licences")
            .iter()
            .all(|licence| licence.suspended)
    );
    // Paid: every licence is valid again.
    world
        .catalog
        .change_membership(&owner.member_id, &paid(true), &admin, "paid")
        .expect("paid");
    let owner_now = world
        .catalog
        .authenticate(&created.keys[0])
        .expect("signs in");
    assert!(matches!(
        world.license(&owner_now, &premium),
        Ok(Grant::Reused(_))
    ));
    let check = world
        .catalog
        .verify_licence(&premium_licence.id, &premium_licence.verification_code)
        .expect("verifies");
    assert!(!check.suspended);
    assert!(world.catalog.holder(&premium_licence.id).is_ok());
}

fn an_authors_export_includes_their_uploads_in_every_status(backend: Backend) {
    let world = world(backend);
    let first = world.free(1);
    let second = world.free(2);
    world
        .catalog
        .withdraw(id(&second), &world.author)
        .expect("withdraw");
    let export = world
        .catalog
        .export(&world.author.member_id)
        .expect("export");
    let uploads: Vec<(String, AssetStatus)> = export
        .uploads
        .iter()
        .map(|asset| (asset.id.to_string(), asset.status))
        .collect();
    assert_eq!(
        uploads,
        [
            (first, AssetStatus::Active),
            (second, AssetStatus::Withdrawn)
        ]
    );
    let customer = customer(&world, Tier::Registered);
    assert!(
        world
            .catalog
            .export(&customer.member_id)
            .expect("export")
            .uploads
            .is_empty()
    );
}

/// Each catalogue test as two tests, one per engine.
fn kinds(catalog: &SqlCatalog, after: i64) -> Vec<(String, ChangeKind)> {
    catalog
        .changes_after(after, 100)
        .expect("changes")
        .into_iter()
        .map(|change| (change.asset_id.to_string(), change.kind))
        .collect()
}

fn every_asset_change_is_in_the_feed_in_commit_order_and_a_takedown_drops_the_document(
    backend: Backend,
) {
    let world = world(backend);
    assert_eq!(world.catalog.last_change().expect("last"), 0);
    let held = AssetId::from_u64(0x51);
    world
        .catalog
        .add_asset(&NewAsset {
            pending: true,
            document: b"{\"title\":\"held\"}".to_vec(),
            ..new_asset(0x51, &world.author, "Ann Author")
        })
        .expect("add");
    let active = world.free(0x52);
    world
        .catalog
        .approve(held, &world.moderator)
        .expect("approve");
    world
        .catalog
        .withdraw(id(&active), &world.author)
        .expect("withdraw");
    assert_eq!(
        world.catalog.asset_document(held).expect("document"),
        Some(b"{\"title\":\"held\"}".to_vec())
    );
    // An asset admitted with no document has none.
    assert_eq!(
        world.catalog.asset_document(id(&active)).expect("none"),
        None
    );
    world
        .catalog
        .takedown(held, &world.moderator, "notice", &[])
        .expect("takedown");
    assert_eq!(
        kinds(&world.catalog, 0),
        [
            (held.to_string(), ChangeKind::Added),
            (active.clone(), ChangeKind::Added),
            (held.to_string(), ChangeKind::Status),
            (active.clone(), ChangeKind::Status),
            (held.to_string(), ChangeKind::Removed),
        ]
    );
    assert_eq!(world.catalog.asset_document(held).expect("gone"), None);
    let all = world.catalog.changes_after(0, 100).expect("changes");
    assert!(all.windows(2).all(|pair| pair[0].seq < pair[1].seq));
    assert_eq!(world.catalog.last_change().expect("last"), all[4].seq);
    // Reading on from a number gives what came after it, and a page stops at its limit.
    assert_eq!(kinds(&world.catalog, all[2].seq).len(), 2);
    assert_eq!(world.catalog.changes_after(0, 2).expect("page").len(), 2);
    // A purge after a withdrawal is a change too.
    world.clock.advance(29 * DAY);
    assert_eq!(world.catalog.due_for_purge().expect("due"), [id(&active)]);
    world.catalog.mark_purged(id(&active)).expect("purge");
    assert_eq!(
        kinds(&world.catalog, all[4].seq),
        [(active, ChangeKind::Purged)]
    );
}

fn an_erasure_puts_each_of_the_authors_assets_in_the_feed(backend: Backend) {
    let world = world(backend);
    let public = world.free(0x61);
    let before = world.catalog.last_change().expect("last");
    world.catalog.erase(&world.author.member_id).expect("erase");
    let after: Vec<(String, ChangeKind)> = kinds(&world.catalog, before);
    assert!(
        after.contains(&(public.clone(), ChangeKind::Status)),
        "{after:?}"
    );
    assert!(after.contains(&(public, ChangeKind::Credit)), "{after:?}");
}

fn documents_are_read_in_pages_in_id_order(backend: Backend) {
    let world = world(backend);
    for raw in [0x73, 0x71, 0x72] {
        world
            .catalog
            .add_asset(&NewAsset {
                document: vec![raw as u8],
                ..new_asset(raw, &world.author, "Ann Author")
            })
            .expect("add");
    }
    let first = world.catalog.documents_after(None, 2).expect("first page");
    assert_eq!(
        first,
        [
            (AssetId::from_u64(0x71), vec![0x71]),
            (AssetId::from_u64(0x72), vec![0x72])
        ]
    );
    let rest = world
        .catalog
        .documents_after(Some(first[1].0), 2)
        .expect("second page");
    assert_eq!(rest, [(AssetId::from_u64(0x73), vec![0x73])]);
    // The assets' ids page the same way.
    let ids = world.catalog.asset_ids_after(None, 2).expect("first ids");
    assert_eq!(ids, [AssetId::from_u64(0x71), AssetId::from_u64(0x72)]);
    assert_eq!(
        world
            .catalog
            .asset_ids_after(Some(ids[1]), 2)
            .expect("rest"),
        [AssetId::from_u64(0x73)]
    );
}

fn a_waiting_follower_wakes_when_another_handle_commits_a_change(backend: Backend) {
    let world = world(backend);
    let other = std::sync::Arc::new(world.place.open(&world.clock));
    let start = other.last_change().expect("last");
    // Nothing new: the wait ends at its timeout with the same number.
    assert_eq!(
        other
            .wait_for_change(start, std::time::Duration::from_millis(50))
            .expect("wait"),
        start
    );
    let waiter = {
        let other = other.clone();
        std::thread::spawn(move || {
            let began = std::time::Instant::now();
            let seen = other
                .wait_for_change(start, std::time::Duration::from_secs(30))
                .expect("wait");
            (seen, began.elapsed())
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    world.free(0x81);
    let (seen, waited) = waiter.join().expect("waiter");
    assert!(seen > start);
    // Woken by the commit, not by the 30 s timeout.
    assert!(waited < std::time::Duration::from_secs(20), "{waited:?}");
}

fn the_same_bytes_are_refused_while_the_asset_that_has_them_is_kept(backend: Backend) {
    let world = world(backend);
    let hash = Some("ab".repeat(32));
    let with_hash = |raw: u64, blake3: &Option<String>| NewAsset {
        blake3: blake3.clone(),
        ..new_asset(raw, &world.author, "Ann Author")
    };
    world
        .catalog
        .add_asset(&with_hash(0x91, &hash))
        .expect("first");
    match world.catalog.add_asset(&with_hash(0x92, &hash)) {
        Err(CatalogError::SameBytes { existing }) => assert_eq!(existing, AssetId::from_u64(0x91)),
        other => panic!("{other:?}"),
    }
    // Other bytes, or none named, are another asset.
    world
        .catalog
        .add_asset(&with_hash(0x93, &Some("cd".repeat(32))))
        .expect("other bytes");
    world
        .catalog
        .add_asset(&with_hash(0x94, &None))
        .expect("no hash");
    // Taken down, its bytes are nobody's: the same may come again (the blocklist, not the
    // catalogue, is what refuses an infringing image).
    world
        .catalog
        .takedown(AssetId::from_u64(0x91), &world.moderator, "notice", &[])
        .expect("takedown");
    world
        .catalog
        .add_asset(&with_hash(0x92, &hash))
        .expect("the bytes again");
}

fn old_changes_are_pruned_but_the_newest_stays_and_the_horizon_says_how_far(backend: Backend) {
    let world = world(backend);
    assert_eq!(world.catalog.feed_horizon().expect("horizon"), 0);
    assert_eq!(world.catalog.prune_changes(i64::MAX).expect("empty"), 0);
    world.free(0xa1);
    world.free(0xa2);
    let old = world.catalog.changes_after(0, 100).expect("changes");
    assert_eq!(old.len(), 2);
    // The newest change is never pruned, however old: the feed's position stays readable.
    assert_eq!(
        world.catalog.prune_changes(i64::MAX).expect("all but one"),
        1
    );
    assert_eq!(world.catalog.feed_horizon().expect("horizon"), old[0].seq);
    assert_eq!(world.catalog.last_change().expect("last"), old[1].seq);
    world.clock.advance(3 * DAY);
    let new = world.free(0xa3);
    let cutoff = stockroom_vocab::Clock::now(world.clock.as_ref()) - DAY;
    assert_eq!(world.catalog.prune_changes(cutoff).expect("prune"), 1);
    assert_eq!(world.catalog.feed_horizon().expect("horizon"), old[1].seq);
    assert_eq!(kinds(&world.catalog, 0), [(new, ChangeKind::Added)]);
    // Nothing older is left; pruning again changes nothing, and the horizon never goes back.
    assert_eq!(world.catalog.prune_changes(cutoff).expect("again"), 0);
    assert_eq!(world.catalog.feed_horizon().expect("horizon"), old[1].seq);
    // A number is never handed out again, pruned or not.
    world.free(0xa4);
    let last = world.catalog.changes_after(0, 100).expect("changes");
    assert!(
        last.iter().all(|change| change.seq > old[1].seq),
        "{last:?}"
    );
}

fn a_prune_larger_than_one_write_goes_in_several(backend: Backend) {
    let world = world(backend);
    let count = stockroom_catalog::PRUNE_BATCH as u64 + 5;
    world
        .catalog
        .add_asset(&new_asset(0xb1, &world.author, "Ann Author"))
        .expect("add");
    // Backfilled documents announce themselves: a cheap way to many changes.
    for _ in 0..count {
        world
            .catalog
            .keep_document(AssetId::from_u64(0xb1), b"{}", &"ef".repeat(32))
            .expect("keep");
    }
    // All but the newest go, the asset's own `added` among them.
    assert_eq!(world.catalog.prune_changes(i64::MAX).expect("prune"), count);
    assert_eq!(world.catalog.changes_after(0, 10).expect("left").len(), 1);
    assert_eq!(
        world.catalog.feed_horizon().expect("horizon"),
        world.catalog.last_change().expect("last") - 1
    );
}

fn the_catalogue_says_whether_it_keeps_every_kept_originals_hash(backend: Backend) {
    let world = world(backend);
    assert!(world.catalog.keeps_every_hash().expect("empty"));
    world
        .catalog
        .add_asset(&NewAsset {
            blake3: Some("ab".repeat(32)),
            ..new_asset(0xc1, &world.author, "Ann Author")
        })
        .expect("with its hash");
    assert!(world.catalog.keeps_every_hash().expect("one with"));
    // An asset from before the catalogue kept hashes.
    world
        .catalog
        .add_asset(&new_asset(0xc2, &world.author, "Ann Author"))
        .expect("without");
    assert!(!world.catalog.keeps_every_hash().expect("one without"));
    // Its original gone, it is not kept: its hash is not needed.
    world
        .catalog
        .takedown(AssetId::from_u64(0xc2), &world.moderator, "notice", &[])
        .expect("takedown");
    assert!(
        world
            .catalog
            .keeps_every_hash()
            .expect("only kept ones count")
    );
}

macro_rules! on_both_engines {
    ($($name:ident),+ $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                super::$name(super::Backend::Sqlite)
            })+
        }
        mod postgres {
            $(#[test]
            fn $name() {
                super::$name(super::Backend::Postgres)
            })+
        }
    };
}

on_both_engines! {
    the_catalogue_says_whether_it_keeps_every_kept_originals_hash,
    old_changes_are_pruned_but_the_newest_stays_and_the_horizon_says_how_far,
    a_prune_larger_than_one_write_goes_in_several,
    the_same_bytes_are_refused_while_the_asset_that_has_them_is_kept,
    every_asset_change_is_in_the_feed_in_commit_order_and_a_takedown_drops_the_document,
    an_erasure_puts_each_of_the_authors_assets_in_the_feed,
    documents_are_read_in_pages_in_id_order,
    a_waiting_follower_wakes_when_another_handle_commits_a_change,
    members_add_issues_one_key_per_seat_and_the_first_is_the_owners,
    only_unlimited_memberships_have_seats_and_nobody_signs_up_as_anonymous,
    api_keys_are_stored_only_as_keyed_hashes,
    an_unknown_key_is_refused_as_unauthenticated,
    a_removed_seats_key_stops_working_at_once_though_it_was_cached,
    a_blocked_member_may_download_nothing_and_nothing_is_written,
    a_flagged_member_keeps_downloading_with_the_reasons_on_file_until_cleared,
    a_licence_names_its_licensee_the_image_its_releases_and_what_it_allows,
    unlimited_collection_content_is_for_unlimited_members_only,
    anonymous_users_get_free_content_with_a_print_run_of_50_and_no_certificate,
    the_print_run_limit_follows_the_tier_at_the_time_of_licensing,
    unlimited_members_owe_no_attribution_except_for_editorial_use,
    attribution_credits_the_site_and_author_and_links_the_image_page,
    a_redownload_by_the_same_seat_reuses_its_licence_and_does_not_count_again,
    the_owner_sees_every_seats_licences_and_a_seat_only_its_own,
    anyone_with_its_id_and_code_can_verify_a_licence_and_a_wrong_code_reveals_nothing,
    a_licence_is_durable_once_recorded,
    an_unknown_asset_is_not_found_and_a_pending_one_is_not_public_until_approved,
    the_moderation_queue_holds_pending_assets_oldest_first_until_approved,
    a_withdrawn_asset_leaves_the_public_at_once_and_is_gone_for_new_licences,
    only_its_author_may_withdraw_an_asset,
    a_withdrawn_original_never_licensed_is_due_for_purge_after_28_days,
    a_licensed_asset_withdrawn_becomes_inactive_and_only_its_licensees_may_download_it,
    a_takedown_removes_everything_but_an_audit_record_at_once_and_emits_a_purge,
    authors_are_paid_on_counted_downloads_per_month_as_a_share_of_all,
    lists_page_after_a_position_and_show_each_item_once,
    a_member_can_export_their_profile_licences_and_downloads_without_keys,
    an_erased_authors_content_leaves_the_public_and_credits_a_pseudonym,
    erasure_keeps_licences_under_a_pseudonym_and_deletes_the_rest,
    concurrent_licences_are_each_recorded_once_and_a_refusal_spoils_no_other,
    a_hard_quota_hit_at_once_through_three_nodes_yields_exactly_its_licences,
    the_30_day_count_spans_days_and_reaches_the_review_level_once,
    past_the_soft_quota_downloads_slow_and_at_the_hard_one_new_licences_stop,
    an_anonymous_network_has_a_daily_quota,
    a_member_change_made_by_another_process_clears_the_cached_principals,
    an_anonymous_networks_repeats_of_an_asset_within_a_day_count_once,
    an_agency_licenses_an_asset_once_per_end_client_and_each_counts,
    an_admin_changes_tier_and_seat_count_and_removed_seats_stop_at_once,
    a_rotated_key_replaces_the_old_one_at_once,
    a_seat_may_rotate_its_own_key_and_the_owner_any_seats,
    after_its_end_date_a_membership_licenses_as_registered_and_its_licences_stay_valid,
    an_unpaid_membership_suspends_its_licences_until_it_is_paid,
    an_authors_export_includes_their_uploads_in_every_status,
}
