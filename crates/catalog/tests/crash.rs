//! Killing the process while licences are being recorded loses none that were answered:
//! a child process licenses in a loop from several threads and prints each licence as its
//! call returns; the parent kills it mid-stream (SIGKILL), reopens the catalogue and
//! verifies every printed licence.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use stockroom_catalog::{Caller, Grant, NewAsset, NewMember, Options, SqlCatalog};
use stockroom_vocab::{AssetId, Collection, Role, Tier};

const CHILD: &str = "STOCKROOM_CATALOG_CRASH_CHILD";
const ASSETS: u64 = 2_000;
const THREADS: u64 = 8;

/// In the child: set up, then license until killed.
fn child(dir: &str) {
    let catalog =
        Arc::new(SqlCatalog::open(std::path::Path::new(dir), Options::default()).expect("open"));
    let created = catalog
        .add_member(&NewMember {
            name: "A".into(),
            roles: vec![Role::Author, Role::Customer],
            tier: Tier::Registered,
            seats: 1,
        })
        .expect("author");
    let author = catalog.authenticate(&created.keys[0]).expect("auth");
    for raw in 1..=ASSETS {
        catalog
            .add_asset(&NewAsset {
                id: AssetId::from_u64(raw),
                author_id: author.member_id.clone(),
                author_name: "A".into(),
                title: String::new(),
                collection: Collection::Free,
                editorial_only: false,
                model_release: false,
                property_release: false,
                pending: false,
                document: Vec::new(),
                blake3: None,
            })
            .expect("asset");
    }
    println!("ready");
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let catalog = Arc::clone(&catalog);
            scope.spawn(move || {
                let created = catalog
                    .add_member(&NewMember {
                        name: format!("buyer {thread}"),
                        roles: vec![Role::Customer],
                        tier: Tier::Registered,
                        seats: 1,
                    })
                    .expect("buyer");
                let buyer = catalog.authenticate(&created.keys[0]).expect("auth");
                for raw in (1..=ASSETS).filter(|raw| raw % THREADS == thread) {
                    let asset = AssetId::from_u64(raw);
                    if let Grant::New(licence) = catalog
                        .license(Caller::Member(&buyer), asset)
                        .expect("licence")
                    {
                        println!("licence {} {}", licence.id, licence.verification_code);
                    }
                }
            });
        }
    });
}

#[test]
fn a_kill_mid_batch_loses_no_licence_that_was_answered() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(&dir);
        return;
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let mut process = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_kill_mid_batch_loses_no_licence_that_was_answered",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child");
    let mut lines = BufReader::new(process.stdout.take().expect("stdout")).lines();
    let mut answered = Vec::new();
    let mut ready = false;
    for line in lines.by_ref() {
        let line = line.expect("line");
        // libtest prints its own words before the child's first line.
        ready |= line.ends_with("ready");
        if let Some(licence) = parse(&line) {
            answered.push(licence);
        }
        if answered.len() == 300 {
            break;
        }
    }
    assert!(ready && answered.len() == 300, "the child stopped early");
    process.kill().expect("kill");
    // Whatever else it printed before dying was answered too.
    answered.extend(lines.map_while(Result::ok).filter_map(|line| parse(&line)));
    process.wait().expect("reap");
    let catalog = SqlCatalog::open(dir.path(), Options::default()).expect("reopen after the kill");
    for (id, code) in &answered {
        catalog
            .verify_licence(id, code)
            .unwrap_or_else(|error| panic!("licence {id} was answered but lost: {error}"));
    }
    assert!(answered.len() < ASSETS as usize, "killed before the end");
}

/// A `licence ID CODE` line the child printed.
fn parse(line: &str) -> Option<(String, String)> {
    let (id, code) = line.strip_prefix("licence ")?.split_once(' ')?;
    Some((id.to_string(), code.to_string()))
}
