//! The catalogue as an interface: what the platform asks of it, whichever engine keeps it.
//! [`SqlCatalog`] implements it on SQLite (the embedded shape) and on PostgreSQL (the
//! cluster shape). Every method blocks (a database round trip, a commit): call it from a
//! blocking context. A write returns only once it is durable; a licence is decided inside
//! the transaction that records it.

use stockroom_vocab::{AssetId, MemberStatus};

use crate::error::Result;
use crate::{
    After, AssetChange, AssetRecord, AuditEntry, AuditFilter, BlockEntry, BlockHashes, Caller,
    Created, Erasure, Export, Grant, Holder, Licence, LicenceCheck, Licensing, Member,
    MembershipChange, MembershipChanged, MonthStats, NewAsset, NewMember, Principal, PurgeEvent,
    SeatKey, SqlCatalog, Withdrawal,
};

/// Members, assets' terms and lifecycle, licences and the download ledger.
pub trait Catalog: Send + Sync + std::fmt::Debug {
    // Assets.
    /// Enters a new asset (active, or held when `pending`).
    fn add_asset(&self, asset: &NewAsset) -> Result<()>;
    /// The asset's row.
    fn asset(&self, id: AssetId) -> Result<AssetRecord>;
    /// A moderator releases a held asset to the public.
    fn approve(&self, id: AssetId, moderator: &Principal) -> Result<()>;
    /// A moderator rejects a held asset, with the reason its author reads.
    fn reject(&self, id: AssetId, moderator: &Principal, reason: &str) -> Result<()>;
    /// Its author (or an admin) withdraws an asset (`inactive` where licensed).
    fn withdraw(&self, id: AssetId, by: &Principal) -> Result<Withdrawal>;
    /// A moderator removes an asset on a notice; only the audit record stays, and its
    /// hashes go on the blocklist.
    fn takedown(
        &self,
        id: AssetId,
        moderator: &Principal,
        reason: &str,
        blocks: &[BlockHashes],
    ) -> Result<()>;
    /// Held assets, oldest first, after `after`, at most `limit`.
    fn held(&self, after: Option<AssetId>, limit: u32) -> Result<Vec<AssetRecord>>;
    /// Every asset it holds, whatever its status.
    fn asset_ids(&self) -> Result<Vec<AssetId>>;
    /// At most `limit` asset ids after `after`, in id order.
    fn asset_ids_after(&self, after: Option<AssetId>, limit: u32) -> Result<Vec<AssetId>>;
    /// Withdrawn, never-licensed assets whose 28 days are up.
    fn due_for_purge(&self) -> Result<Vec<AssetId>>;
    /// Records that an asset's bytes were purged (a purge event).
    fn mark_purged(&self, id: AssetId) -> Result<()>;
    /// Records that these assets' previews were redrawn (a purge event each, `restyled`).
    fn mark_restyled(&self, ids: &[AssetId]) -> Result<()>;
    /// The CDN purge feed after `since`, oldest first.
    fn purges_since(&self, since: i64, limit: u32) -> Result<Vec<PurgeEvent>>;
    /// An asset's moderation history: when, what, and the detail recorded.
    fn audit(&self, id: AssetId) -> Result<Vec<(i64, String, String)>>;

    // Moderation.
    /// Blocklist entries not lifted.
    fn active_blocks(&self) -> Result<Vec<BlockEntry>>;
    /// Blocklist entries, newest first, before entry `before`, at most `limit`.
    fn blocklist(&self, before: Option<i64>, limit: u32) -> Result<Vec<BlockEntry>>;
    /// A moderator imports PDQ hashes under a source label; the new entries' ids.
    fn import_blocks(
        &self,
        moderator: &Principal,
        source: &str,
        hashes: Vec<String>,
    ) -> Result<Vec<i64>>;
    /// A moderator lifts a blocklist entry.
    fn lift_block(&self, id: i64, moderator: &Principal, reason: &str) -> Result<BlockEntry>;
    /// Records a moderator action taken by another call (a block, a clear).
    fn record_action(
        &self,
        moderator: &Principal,
        action: &str,
        target: &str,
        reason: &str,
    ) -> Result<()>;
    /// The audit history, newest first.
    fn actions(&self, filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>>;
    /// The newest audit entry's number (moves with every blocklist change).
    fn last_action_seq(&self) -> Result<i64>;

    // Licences.
    /// Decides and records a licence request ([`Catalog::license_counted`]'s grant).
    fn license(&self, caller: Caller<'_>, asset: AssetId) -> Result<Grant>;
    /// Decides and records a licence request with the quota applied in the same
    /// transaction, and what fair use needs to know of it.
    fn license_counted(&self, caller: Caller<'_>, asset: AssetId) -> Result<Licensing>;
    /// [`Catalog::license_counted`] for an end client (terms 5.3 b): a separate licence,
    /// counted, per client.
    fn license_for(
        &self,
        caller: Caller<'_>,
        asset: AssetId,
        client: Option<&str>,
    ) -> Result<Licensing>;
    /// Whose licence a download link carries.
    fn holder(&self, licence_id: &str) -> Result<Holder>;
    /// A licence, for its holder.
    fn licence(&self, viewer: &Principal, id: &str) -> Result<Licence>;
    /// The licences a seat (or, for the owner, the membership) holds.
    fn licences(&self, viewer: &Principal) -> Result<Vec<Licence>>;
    /// A page of them: at most `limit`, after `after`.
    fn licences_page(
        &self,
        viewer: &Principal,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<Licence>>;
    /// A licence's public check by id and verification code.
    fn verify_licence(&self, id: &str, code: &str) -> Result<LicenceCheck>;
    /// The whole licence, to anyone with its id and verification code (its certificate).
    fn licence_by_code(&self, id: &str, code: &str) -> Result<Licence>;

    // Members.
    /// Creates a member with one key per seat.
    fn add_member(&self, new: &NewMember) -> Result<Created>;
    /// The seat a key belongs to (cached).
    fn authenticate(&self, key: &str) -> Result<Principal>;
    /// The seat a key belongs to if the cache holds it (no database round trip).
    fn cached_principal(&self, key: &str) -> Option<Principal>;
    /// A member.
    fn member(&self, id: &str) -> Result<Member>;
    /// Every member.
    fn members(&self) -> Result<Vec<Member>>;
    /// Members in `status`, oldest first: at most `limit`, after `after`.
    fn members_in(
        &self,
        status: MemberStatus,
        after: Option<&After>,
        limit: u32,
    ) -> Result<Vec<Member>>;
    /// Flags a member with a reason (throttled from their next download).
    fn flag(&self, id: &str, reason: &str) -> Result<()>;
    /// Blocks a member.
    fn block(&self, id: &str) -> Result<()>;
    /// Clears a member's flags or block.
    fn clear(&self, id: &str) -> Result<()>;
    /// Adds a seat; its id and key.
    fn add_seat(&self, member_id: &str) -> Result<(String, String)>;
    /// Removes a seat (its key stops working).
    fn remove_seat(&self, member_id: &str, seat_id: &str) -> Result<()>;
    /// Changes a membership's tier, seats, end date or payment (an admin's act, audited).
    fn change_membership(
        &self,
        member_id: &str,
        change: &MembershipChange,
        admin: &Principal,
        reason: &str,
    ) -> Result<MembershipChanged>;
    /// Gives a live seat a new key; the old one stops at once.
    fn rotate_key(&self, member_id: &str, seat_id: &str) -> Result<SeatKey>;
    /// Forgets cached principals if any member changed since the last call, here or in
    /// another process; whether one did.
    fn sync_member_changes(&self) -> Result<bool>;

    // The change feed (`changes.rs`).
    /// Changes after `after`, oldest first, at most `limit`.
    fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<AssetChange>>;
    /// The newest change's sequence number (0 for none).
    fn last_change(&self) -> Result<i64>;
    /// The newest sequence number pruned from the feed (0 when none was).
    fn feed_horizon(&self) -> Result<i64>;
    /// Deletes the changes made before `before` but the newest; how many went.
    fn prune_changes(&self, before: i64) -> Result<u64>;
    /// An asset's document, if the catalogue keeps one.
    fn asset_document(&self, asset: AssetId) -> Result<Option<Vec<u8>>>;
    /// How many documents the catalogue keeps.
    fn count_documents(&self) -> Result<u64>;
    /// Documents in id order after `after`, at most `limit`.
    fn documents_after(
        &self,
        after: Option<AssetId>,
        limit: u32,
    ) -> Result<Vec<(AssetId, Vec<u8>)>>;
    /// Kept assets with no document or no hash (admitted before the catalogue kept them).
    fn assets_lacking_documents(&self) -> Result<Vec<AssetId>>;
    /// Keeps an existing asset's document and its original's blake3 (hex).
    fn keep_document(&self, asset: AssetId, document: &[u8], blake3: &str) -> Result<()>;
    /// Whether every kept original's blake3 is in the catalogue.
    fn keeps_every_hash(&self) -> Result<bool>;
    /// Waits for a change after `after`, at most `timeout`; the newest sequence number.
    fn wait_for_change(&self, after: i64, timeout: std::time::Duration) -> Result<i64>;

    // Privacy and statistics.
    /// Everything held on a member.
    fn export(&self, member_id: &str) -> Result<Export>;
    /// Erases a member (licences kept pseudonymised); their public assets leave.
    fn erase(&self, member_id: &str) -> Result<Erasure>;
    /// An author's downloads per month and share of all downloads.
    fn author_stats(&self, author_id: &str) -> Result<Vec<MonthStats>>;
}

/// Declares each trait method as a call of the inherent method of the same name.
macro_rules! forward {
    ($($name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;)+) => {
        impl Catalog for SqlCatalog {
            $(fn $name(&self, $($arg: $ty),*) -> $ret {
                SqlCatalog::$name(self, $($arg),*)
            })+
        }
    };
}

forward! {
    add_asset(asset: &NewAsset) -> Result<()>;
    asset(id: AssetId) -> Result<AssetRecord>;
    approve(id: AssetId, moderator: &Principal) -> Result<()>;
    reject(id: AssetId, moderator: &Principal, reason: &str) -> Result<()>;
    withdraw(id: AssetId, by: &Principal) -> Result<Withdrawal>;
    takedown(id: AssetId, moderator: &Principal, reason: &str, blocks: &[BlockHashes]) -> Result<()>;
    held(after: Option<AssetId>, limit: u32) -> Result<Vec<AssetRecord>>;
    asset_ids() -> Result<Vec<AssetId>>;
    asset_ids_after(after: Option<AssetId>, limit: u32) -> Result<Vec<AssetId>>;
    due_for_purge() -> Result<Vec<AssetId>>;
    mark_purged(id: AssetId) -> Result<()>;
    mark_restyled(ids: &[AssetId]) -> Result<()>;
    purges_since(since: i64, limit: u32) -> Result<Vec<PurgeEvent>>;
    audit(id: AssetId) -> Result<Vec<(i64, String, String)>>;
    active_blocks() -> Result<Vec<BlockEntry>>;
    blocklist(before: Option<i64>, limit: u32) -> Result<Vec<BlockEntry>>;
    import_blocks(moderator: &Principal, source: &str, hashes: Vec<String>) -> Result<Vec<i64>>;
    lift_block(id: i64, moderator: &Principal, reason: &str) -> Result<BlockEntry>;
    record_action(moderator: &Principal, action: &str, target: &str, reason: &str) -> Result<()>;
    actions(filter: &AuditFilter, limit: u32) -> Result<Vec<AuditEntry>>;
    last_action_seq() -> Result<i64>;
    license(caller: Caller<'_>, asset: AssetId) -> Result<Grant>;
    license_counted(caller: Caller<'_>, asset: AssetId) -> Result<Licensing>;
    license_for(caller: Caller<'_>, asset: AssetId, client: Option<&str>) -> Result<Licensing>;
    holder(licence_id: &str) -> Result<Holder>;
    licence(viewer: &Principal, id: &str) -> Result<Licence>;
    licences(viewer: &Principal) -> Result<Vec<Licence>>;
    licences_page(viewer: &Principal, after: Option<&After>, limit: u32) -> Result<Vec<Licence>>;
    verify_licence(id: &str, code: &str) -> Result<LicenceCheck>;
    licence_by_code(id: &str, code: &str) -> Result<Licence>;
    add_member(new: &NewMember) -> Result<Created>;
    authenticate(key: &str) -> Result<Principal>;
    cached_principal(key: &str) -> Option<Principal>;
    member(id: &str) -> Result<Member>;
    members() -> Result<Vec<Member>>;
    members_in(status: MemberStatus, after: Option<&After>, limit: u32) -> Result<Vec<Member>>;
    flag(id: &str, reason: &str) -> Result<()>;
    block(id: &str) -> Result<()>;
    clear(id: &str) -> Result<()>;
    add_seat(member_id: &str) -> Result<(String, String)>;
    remove_seat(member_id: &str, seat_id: &str) -> Result<()>;
    change_membership(member_id: &str, change: &MembershipChange, admin: &Principal, reason: &str) -> Result<MembershipChanged>;
    rotate_key(member_id: &str, seat_id: &str) -> Result<SeatKey>;
    sync_member_changes() -> Result<bool>;
    changes_after(after: i64, limit: u32) -> Result<Vec<AssetChange>>;
    last_change() -> Result<i64>;
    feed_horizon() -> Result<i64>;
    prune_changes(before: i64) -> Result<u64>;
    asset_document(asset: AssetId) -> Result<Option<Vec<u8>>>;
    documents_after(after: Option<AssetId>, limit: u32) -> Result<Vec<(AssetId, Vec<u8>)>>;
    count_documents() -> Result<u64>;
    wait_for_change(after: i64, timeout: std::time::Duration) -> Result<i64>;
    keeps_every_hash() -> Result<bool>;
    assets_lacking_documents() -> Result<Vec<AssetId>>;
    keep_document(asset: AssetId, document: &[u8], blake3: &str) -> Result<()>;
    export(member_id: &str) -> Result<Export>;
    erase(member_id: &str) -> Result<Erasure>;
    author_stats(author_id: &str) -> Result<Vec<MonthStats>>;
}
