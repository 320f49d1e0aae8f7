//! Schema migrations: a new database is brought to the current version, reopening changes
//! nothing, and a database written by a newer build is refused rather than misread.

use std::sync::Arc;

use stockroom_catalog::{CatalogError, NewMember, Options, SqlCatalog};
use stockroom_vocab::{ManualClock, Role, Tier};

fn options() -> Options {
    Options {
        clock: Arc::new(ManualClock::at(1_793_491_200)),
        ..Options::default()
    }
}

#[test]
fn a_new_catalogue_is_migrated_and_reopening_keeps_its_rows() {
    let dir = tempfile::tempdir().expect("temp dir");
    let created = {
        let catalog = SqlCatalog::open(dir.path(), options()).expect("create");
        catalog
            .add_member(&NewMember {
                name: "Rita".into(),
                roles: vec![Role::Customer],
                tier: Tier::Registered,
                seats: 1,
            })
            .expect("add")
    };
    let catalog = SqlCatalog::open(dir.path(), options()).expect("reopen");
    assert_eq!(catalog.member(&created.id).expect("kept").name, "Rita");
    assert_eq!(
        catalog
            .authenticate(&created.keys[0])
            .expect("same secret")
            .member_id,
        created.id
    );
}

#[test]
fn a_catalogue_from_a_newer_build_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(SqlCatalog::open(dir.path(), options()).expect("create"));
    let db = rusqlite::Connection::open(dir.path().join("catalog.sqlite3")).expect("sqlite");
    db.pragma_update(None, "user_version", 99)
        .expect("set version");
    drop(db);
    match SqlCatalog::open(dir.path(), options()) {
        Err(CatalogError::NewerSchema { found: 99, .. }) => {}
        other => panic!("expected NewerSchema, got {other:?}"),
    }
}
