//! The catalogue's tables and their migrations. `PRAGMA user_version` holds the version;
//! each migration runs in the transaction that sets it, so a crash leaves the database at
//! one version or the next, never between. Add a migration, never edit a shipped one.

use rusqlite::Connection;

use crate::error::{CatalogError, Result};

/// Migration `n` (1-based) takes the database from version `n - 1` to `n`.
const MIGRATIONS: &[&str] = &[
    // 1: members, seats, assets, licences, the download ledger and the event feed.
    r"
    CREATE TABLE members (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        roles        TEXT NOT NULL,
        tier         TEXT NOT NULL CHECK (tier IN ('registered', 'unlimited')),
        status       TEXT NOT NULL CHECK (status IN ('active', 'flagged', 'blocked')),
        flag_reasons TEXT NOT NULL DEFAULT '[]',
        created_at   INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE seats (
        id         TEXT PRIMARY KEY,
        member_id  TEXT NOT NULL REFERENCES members(id) ON DELETE CASCADE,
        is_owner   INTEGER NOT NULL,
        key_hash   BLOB UNIQUE,
        created_at INTEGER NOT NULL,
        removed_at INTEGER
    ) STRICT;
    CREATE INDEX seats_member ON seats(member_id);
    CREATE TABLE assets (
        id               TEXT PRIMARY KEY,
        author_id        TEXT NOT NULL,
        author_name      TEXT NOT NULL,
        title            TEXT NOT NULL,
        collection       TEXT NOT NULL CHECK (collection IN ('free', 'unlimited')),
        editorial_only   INTEGER NOT NULL,
        model_release    INTEGER NOT NULL,
        property_release INTEGER NOT NULL,
        status           TEXT NOT NULL
            CHECK (status IN ('pending', 'active', 'withdrawn', 'inactive', 'removed')),
        created_at       INTEGER NOT NULL,
        withdrawn_at     INTEGER,
        purged_at        INTEGER
    ) STRICT;
    CREATE INDEX assets_withdrawn ON assets(status, withdrawn_at);
    CREATE TABLE licences (
        id                   TEXT PRIMARY KEY,
        asset_id             TEXT NOT NULL,
        member_id            TEXT NOT NULL,
        seat_id              TEXT NOT NULL,
        tier                 TEXT NOT NULL,
        type                 TEXT NOT NULL CHECK (type IN ('standard', 'editorial')),
        print_run_limit      INTEGER NOT NULL,
        attribution_required INTEGER NOT NULL,
        attribution_text     TEXT NOT NULL,
        attribution_html     TEXT NOT NULL,
        verification_code    TEXT NOT NULL,
        created_at           INTEGER NOT NULL,
        UNIQUE (seat_id, asset_id)
    ) STRICT;
    CREATE INDEX licences_member ON licences(member_id);
    CREATE INDEX licences_asset ON licences(asset_id);
    CREATE TABLE downloads (
        seq        INTEGER PRIMARY KEY,
        asset_id   TEXT NOT NULL,
        author_id  TEXT NOT NULL,
        licence_id TEXT,
        member_id  TEXT,
        network    TEXT,
        counted    INTEGER NOT NULL,
        at         INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX downloads_at ON downloads(at);
    CREATE INDEX downloads_member ON downloads(member_id);
    CREATE TABLE events (
        seq      INTEGER PRIMARY KEY,
        at       INTEGER NOT NULL,
        kind     TEXT NOT NULL,
        asset_id TEXT NOT NULL,
        detail   TEXT NOT NULL
    ) STRICT;
    ",
    // 2: the moderation queue reads held assets oldest first without scanning the rest.
    r"
    CREATE INDEX assets_pending ON assets(created_at, id) WHERE status = 'pending';
    ",
    // 3: quotas count a member's (or a network's) new licences of the last 24 hours and
    // 30 days; the stockpiling detector asks for an author's portfolio size.
    r"
    CREATE INDEX downloads_member_counted ON downloads(member_id, at) WHERE counted = 1;
    CREATE INDEX downloads_network_counted ON downloads(network, at) WHERE counted = 1;
    CREATE INDEX assets_author ON assets(author_id, status);
    ",
    // 4: a counter every change to a member moves, so that another process (a server while
    // the CLI blocks someone) knows to forget the principals it has cached.
    r"
    CREATE TABLE member_changes (
        id  INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL
    ) STRICT;
    INSERT INTO member_changes (id, seq) VALUES (1, 0);
    ",
    // 5: takedowns stick (the removed image's hashes on a blocklist, and hash lists
    // imported from elsewhere), and every moderator action is kept for moderators to read.
    r"
    CREATE TABLE blocklist (
        id          INTEGER PRIMARY KEY,
        blake3      TEXT,
        pdq         TEXT,
        source      TEXT NOT NULL,
        asset_id    TEXT,
        reason      TEXT NOT NULL,
        added_by    TEXT NOT NULL,
        added_at    INTEGER NOT NULL,
        lifted_at   INTEGER,
        lifted_by   TEXT,
        lift_reason TEXT
    ) STRICT;
    CREATE INDEX blocklist_blake3 ON blocklist(blake3) WHERE lifted_at IS NULL;
    CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        at        INTEGER NOT NULL,
        moderator TEXT NOT NULL,
        action    TEXT NOT NULL,
        target    TEXT NOT NULL,
        reason    TEXT NOT NULL
    ) STRICT;
    CREATE INDEX audit_moderator ON audit(moderator, seq);
    CREATE INDEX audit_target ON audit(target, seq);
    ",
    // 6: a held upload can be rejected (not a takedown), with the reason its author reads.
    // SQLite cannot change a CHECK constraint in place: the table is rebuilt, as its
    // documentation's twelve steps do (no other table references it).
    r"
    CREATE TABLE assets_new (
        id               TEXT PRIMARY KEY,
        author_id        TEXT NOT NULL,
        author_name      TEXT NOT NULL,
        title            TEXT NOT NULL,
        collection       TEXT NOT NULL CHECK (collection IN ('free', 'unlimited')),
        editorial_only   INTEGER NOT NULL,
        model_release    INTEGER NOT NULL,
        property_release INTEGER NOT NULL,
        status           TEXT NOT NULL
            CHECK (status IN ('pending', 'active', 'withdrawn', 'inactive', 'removed',
                              'rejected')),
        created_at       INTEGER NOT NULL,
        withdrawn_at     INTEGER,
        purged_at        INTEGER,
        rejection        TEXT
    ) STRICT;
    INSERT INTO assets_new (id, author_id, author_name, title, collection, editorial_only,
            model_release, property_release, status, created_at, withdrawn_at, purged_at)
        SELECT id, author_id, author_name, title, collection, editorial_only, model_release,
            property_release, status, created_at, withdrawn_at, purged_at FROM assets;
    DROP TABLE assets;
    ALTER TABLE assets_new RENAME TO assets;
    CREATE INDEX assets_withdrawn ON assets(status, withdrawn_at);
    CREATE INDEX assets_pending ON assets(created_at, id) WHERE status = 'pending';
    CREATE INDEX assets_author ON assets(author_id, status);
    ",
    // 7: an agency licenses an asset once per end client (terms 5.3 b): a licence names
    // its client ('' for none), and a seat holds one per asset and client. The UNIQUE
    // constraint changes, so the table is rebuilt; downloads refer to licences by id only.
    r"
    CREATE TABLE licences_new (
        id                   TEXT PRIMARY KEY,
        asset_id             TEXT NOT NULL,
        member_id            TEXT NOT NULL,
        seat_id              TEXT NOT NULL,
        tier                 TEXT NOT NULL,
        type                 TEXT NOT NULL CHECK (type IN ('standard', 'editorial')),
        print_run_limit      INTEGER NOT NULL,
        attribution_required INTEGER NOT NULL,
        attribution_text     TEXT NOT NULL,
        attribution_html     TEXT NOT NULL,
        verification_code    TEXT NOT NULL,
        created_at           INTEGER NOT NULL,
        client               TEXT NOT NULL DEFAULT '',
        UNIQUE (seat_id, asset_id, client)
    ) STRICT;
    INSERT INTO licences_new (id, asset_id, member_id, seat_id, tier, type, print_run_limit,
            attribution_required, attribution_text, attribution_html, verification_code,
            created_at)
        SELECT id, asset_id, member_id, seat_id, tier, type, print_run_limit,
            attribution_required, attribution_text, attribution_html, verification_code,
            created_at FROM licences;
    DROP TABLE licences;
    ALTER TABLE licences_new RENAME TO licences;
    CREATE INDEX licences_member ON licences(member_id);
    CREATE INDEX licences_asset ON licences(asset_id);
    ",
    // 8: the membership lifecycle (DESIGN §2): a paid membership's end date, after which
    // it falls back to registered (NULL: no end), and whether it is unpaid, which
    // suspends the licences issued under it (terms 6.3) until it is paid.
    r"
    ALTER TABLE members ADD COLUMN ends_at INTEGER;
    ALTER TABLE members ADD COLUMN unpaid INTEGER NOT NULL DEFAULT 0 CHECK (unpaid IN (0, 1));
    ",
    // 9: the change feed (DESIGN §7): every write that changes an asset appends a row to
    // `changes` in its own transaction (an outbox), which each node follows to keep its
    // search and duplicate replicas and its caches; `asset_documents` holds what a node
    // needs to index an asset it did not admit (its metadata record without the author,
    // whose name is the `assets` row's, and its perceptual hashes). AUTOINCREMENT: a
    // sequence number is never handed out twice, even after old changes are pruned.
    r"
    CREATE TABLE changes (
        seq      INTEGER PRIMARY KEY AUTOINCREMENT,
        asset_id TEXT NOT NULL,
        what     TEXT NOT NULL,
        at       INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE asset_documents (
        asset_id TEXT PRIMARY KEY,
        document BLOB NOT NULL
    ) STRICT;
    ",
    // 10: each asset's original's blake3 (hex), so that an exact duplicate is refused by the
    // catalogue, whichever node admits it: two nodes given the same bytes at once admit
    // one. NULL for assets admitted before (their node's claims still hold them).
    r"
    ALTER TABLE assets ADD COLUMN blake3 TEXT;
    CREATE INDEX assets_blake3 ON assets(blake3) WHERE blake3 IS NOT NULL;
    ",
    // 11: the feed is pruned (changes older than the retention go); `feed_horizon` keeps
    // the newest sequence number pruned, so that a node whose position is behind it knows
    // it missed changes and rebuilds its replicas from the catalogue instead of reading on.
    // `assets_lacking_blake3`: whether any kept asset lacks its hash is one index probe,
    // not a scan of every row.
    r"
    CREATE TABLE feed_horizon (
        id             INTEGER PRIMARY KEY CHECK (id = 1),
        pruned_through INTEGER NOT NULL
    ) STRICT;
    INSERT INTO feed_horizon (id, pruned_through) VALUES (1, 0);
    CREATE INDEX changes_at ON changes(at);
    CREATE INDEX assets_lacking_blake3 ON assets(id) WHERE blake3 IS NULL;
    ",
];

/// The version this build writes.
pub const VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database up to [`VERSION`], refusing one a newer build wrote.
pub fn migrate(connection: &mut Connection) -> Result<()> {
    let found: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if found > VERSION {
        return Err(CatalogError::NewerSchema {
            found,
            known: VERSION,
        });
    }
    for (done, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let transaction = connection.transaction()?;
        transaction.execute_batch(migration)?;
        transaction.pragma_update(None, "user_version", done as i64 + 1)?;
        transaction.commit()?;
    }
    Ok(())
}
