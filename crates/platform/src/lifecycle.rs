//! The content lifecycle (DESIGN §2) and moderation: approving a held upload, an author's
//! withdrawal, a moderator's takedown, a member's erasure, the scheduled purge of
//! withdrawn originals, and blocking or clearing a member. Each runs catalogue → search
//! index → previews → blobs → archive → duplicate index in that order, and publishes the
//! change, so the server and the CLI take the same steps.

use serde::Serialize;
use stockroom_catalog::{
    AssetRecord, Erasure, Member, MembershipChange, MembershipChanged, Principal, SeatKey,
    Withdrawal,
};
use stockroom_guard::Signals;
use stockroom_store::Kind;
use stockroom_vocab::{AssetId, MemberStatus, PreviewSize};

use crate::Platform;
use crate::error::{PlatformError, Result};
use crate::feed::Change;
use crate::fingerprint::Candidate;

/// One held upload in the moderation queue, with the near duplicates that hold it.
#[derive(Debug, Serialize)]
pub struct Held {
    /// Its catalogue record.
    #[serde(flatten)]
    pub record: AssetRecord,
    /// Nearest first; a duplicate taken down since holds nothing any more.
    pub duplicates: Vec<Candidate>,
}

/// A flagged member, with the detectors' signals now.
#[derive(Debug, Serialize)]
pub struct Flagged {
    /// The member, with the reasons recorded (and their values at the time).
    #[serde(flatten)]
    pub member: Member,
    /// The detectors' signals now (`None` once their state expired).
    pub signals: Option<Signals>,
}

impl Platform {
    /// Uploads held for review, oldest first, after `after`, at most `limit`.
    pub fn queue(&self, after: Option<AssetId>, limit: u32) -> Result<Vec<Held>> {
        self.catalog
            .held(after, limit)?
            .into_iter()
            .map(|record| {
                Ok(Held {
                    duplicates: self.held_by(record.id)?,
                    record,
                })
            })
            .collect()
    }

    /// The near duplicates that hold a pending asset for review (those still stored).
    pub fn held_by(&self, asset: AssetId) -> Result<Vec<Candidate>> {
        Ok(self
            .record(asset)?
            .duplicates
            .into_iter()
            .filter(|candidate| self.exists(candidate.asset_id))
            .collect())
    }

    /// A moderator releases a held upload: public and searchable when this returns.
    pub fn approve(&self, asset: AssetId, moderator: &Principal) -> Result<()> {
        let _following = self.applied();
        self.catalog.approve(asset, moderator)?;
        // Its private, moderator-only previews may have been looked at; none were cached.
        let doc = self
            .indexable(asset)?
            .ok_or(PlatformError::NoAsset(asset))?;
        self.index.upsert(&doc)?;
        self.index.commit()?;
        self.feed.publish(&Change::AssetChanged(asset));
        Ok(())
    }

    /// A moderator rejects a held upload with a reason its author reads: it leaves the
    /// queue, nobody's duplicate from now on, its private previews go, and its original is
    /// purged after 28 days. Not a takedown: no blocklist entry, no purge event.
    pub fn reject(&self, asset: AssetId, moderator: &Principal, reason: &str) -> Result<()> {
        let _following = self.applied();
        self.catalog.reject(asset, moderator, reason)?;
        self.feed.publish(&Change::AssetRemoved(asset));
        for size in PreviewSize::ALL {
            self.blobs.delete(asset, crate::previews::kind(*size))?;
        }
        self.duplicate_index().remove(asset.as_u64())?;
        Ok(())
    }

    /// Its author (or an admin) withdraws an asset: it leaves search and the previews at
    /// once; its thumbnail is kept in the archive; the original stays for the purge job
    /// (or for its licensees, when it was licensed).
    pub fn withdraw(&self, asset: AssetId, by: &Principal) -> Result<Withdrawal> {
        let _following = self.applied();
        let record = self.catalog.asset(asset)?;
        let withdrawal = self.catalog.withdraw(asset, by)?;
        self.index.remove(&asset.to_string())?;
        self.feed.publish(&Change::AssetRemoved(asset));
        if record.is_public() {
            self.archive_thumbnail(asset, &record.author_name)?;
        } else {
            self.delete_previews(asset)?;
        }
        Ok(withdrawal)
    }

    /// A moderator takes an asset down on a notice: gone from search, previews and
    /// downloads at once; its bytes are deleted; a purge event goes to the CDN feed; its
    /// hashes leave the duplicate index; only the audit record stays.
    pub fn takedown(&self, asset: AssetId, moderator: &Principal, reason: &str) -> Result<()> {
        let _following = self.applied();
        // Its hashes go on the blocklist with the takedown, in the same write: the same
        // or a near-identical image uploaded again is refused until a moderator lifts it.
        let blocks = self.takedown_hashes(asset)?;
        self.catalog.takedown(asset, moderator, reason, &blocks)?;
        self.sync_blocklist()?;
        self.index.remove(&asset.to_string())?;
        self.feed.publish(&Change::AssetRemoved(asset));
        self.originals.delete(asset)?;
        for kind in Kind::ALL {
            self.blobs.delete(asset, kind)?;
        }
        self.archive.delete(asset, Kind::Thumb)?;
        // Infringing bytes leave the disk now, not at the next compaction.
        let keys: Vec<(AssetId, Kind)> = Kind::ALL.iter().map(|&kind| (asset, kind)).collect();
        self.blobs.scrub(&keys)?;
        self.archive.scrub(&[(asset, Kind::Thumb)])?;
        self.duplicate_index().remove(asset.as_u64())?;
        Ok(())
    }

    /// Erases a member (terms: a member may leave and take their name with them). The
    /// catalogue pseudonymises them in one transaction and empties its write-ahead log;
    /// then nothing else may keep the name or id either:
    /// - the guard forgets them;
    /// - their public assets leave search, and the index segments that held them are
    ///   rewritten without them (`SearchIndex::expunge_deleted`);
    /// - every asset that credited them gets its metadata record rewritten to credit the
    ///   pseudonym, its previews deleted, and its archived thumbnail rendered anew crediting
    ///   the pseudonym (where the original is still kept);
    /// - the replaced records and deleted previews are scrubbed from the stores' segments
    ///   (`Store::scrub`), not left for a compaction.
    ///
    /// What fails for one asset after the catalogue committed is reported through
    /// `asset_failed` and the rest goes on; an erasure is not undone.
    pub fn erase(
        &self,
        member_id: &str,
        asset_failed: impl Fn(AssetId, &PlatformError),
    ) -> Result<Erasure> {
        let _following = self.applied();
        let erasure = self.catalog.erase(member_id)?;
        self.guard.forget(member_id);
        let ids: Vec<String> = erasure.withdrawn.iter().map(AssetId::to_string).collect();
        self.index
            .remove_many(&ids.iter().map(String::as_str).collect::<Vec<_>>())?;
        self.index.expunge_deleted()?;
        for asset in &erasure.withdrawn {
            self.feed.publish(&Change::AssetRemoved(*asset));
        }
        self.feed
            .publish(&Change::MemberChanged(member_id.to_string()));
        for &asset in &erasure.credited {
            if let Err(error) = self.credit_pseudonym(asset, &erasure.credit) {
                asset_failed(asset, &error);
            }
        }
        let keys: Vec<(AssetId, Kind)> = erasure
            .credited
            .iter()
            .flat_map(|&asset| {
                [Kind::Metadata, Kind::Thumb, Kind::Small, Kind::Large].map(|kind| (asset, kind))
            })
            .collect();
        self.blobs.scrub(&keys)?;
        let thumbs: Vec<(AssetId, Kind)> = erasure
            .credited
            .iter()
            .map(|&asset| (asset, Kind::Thumb))
            .collect();
        self.archive.scrub(&thumbs)?;
        Ok(erasure)
    }

    /// One erased author's asset: its record credits `credit`, and no preview names them
    /// (previews rendered before credit the real name in their EXIF).
    fn credit_pseudonym(&self, asset: AssetId, credit: &str) -> Result<()> {
        if let Some(bytes) = self.blobs.get(asset, Kind::Metadata) {
            let mut record = crate::metadata::MetadataRecord::decode(asset, &bytes)?;
            record.metadata.author = credit.to_string();
            record.author_id = Some(credit.to_string());
            self.blobs.put(asset, Kind::Metadata, &record.encode())?;
        }
        for size in PreviewSize::ALL {
            self.blobs.delete(asset, crate::previews::kind(*size))?;
        }
        if self.originals.contains(asset) {
            self.archive_thumbnail(asset, credit)?;
        } else {
            self.archive.delete(asset, Kind::Thumb)?;
        }
        Ok(())
    }

    /// Purges every withdrawn asset whose 28 days are up: its original (and any preview or
    /// metadata record left) is deleted, durably, and only then does the catalogue record
    /// the purge (a purge event for the CDN feed); its hashes leave the duplicate index. A
    /// run that stops between the two is finished by the next one. Returns the assets
    /// purged. (An anonymous download leaves no licence to honour.)
    pub fn purge_due(&self) -> Result<Vec<AssetId>> {
        let _following = self.applied();
        let mut purged = Vec::new();
        for asset in self.catalog.due_for_purge()? {
            self.originals.delete(asset)?;
            for kind in Kind::ALL {
                self.blobs.delete(asset, kind)?;
            }
            self.catalog.mark_purged(asset)?;
            self.feed.publish(&Change::AssetRemoved(asset));
            self.duplicate_index().remove(asset.as_u64())?;
            purged.push(asset);
        }
        Ok(purged)
    }

    /// Flagged members with their reasons and the detectors' signals now.
    pub fn flagged_members(&self) -> Result<Vec<Flagged>> {
        self.flagged_members_page(None, u32::MAX)
    }

    /// A page of [`flagged_members`](Self::flagged_members): oldest membership first, at
    /// most `limit`, after `after`.
    pub fn flagged_members_page(
        &self,
        after: Option<&stockroom_catalog::After>,
        limit: u32,
    ) -> Result<Vec<Flagged>> {
        let now = self.clock.now_micros();
        Ok(self
            .catalog
            .members_in(MemberStatus::Flagged, after, limit)?
            .into_iter()
            .map(|member| Flagged {
                signals: self.guard.signals(&member.id, now),
                member,
            })
            .collect())
    }

    /// A moderator (`by`) blocks a member (no downloads, uploads, links or moderation) or
    /// clears them (the detectors start over: a cleared member is not flagged again for
    /// what a moderator has just judged); only an admin may block or clear an admin.
    /// Returns the member as they now are.
    pub fn set_member_blocked(
        &self,
        member_id: &str,
        block: bool,
        by: &Principal,
        reason: &str,
    ) -> Result<Member> {
        let target = self.catalog.member(member_id)?;
        stockroom_catalog::terms::may_set_status(&by.roles, by.status, &target.roles)?;
        if block {
            self.catalog.block(member_id)?;
        } else {
            self.catalog.clear(member_id)?;
            self.guard.clear(member_id);
        }
        let action = if block { "block" } else { "clear" };
        self.catalog
            .record_action(by, action, member_id, reason.trim())?;
        self.feed
            .publish(&Change::MemberChanged(member_id.to_string()));
        Ok(self.catalog.member(member_id)?)
    }

    /// Changes a membership's tier, seats, end date or payment (admins only; audited).
    /// Seats removed stop at once here, and within a second on every other node.
    pub fn change_membership(
        &self,
        member_id: &str,
        change: &MembershipChange,
        by: &Principal,
        reason: &str,
    ) -> Result<MembershipChanged> {
        stockroom_catalog::terms::may_administer(&by.roles, by.status)?;
        let changed = self
            .catalog
            .change_membership(member_id, change, by, reason.trim())?;
        self.feed
            .publish(&Change::MemberChanged(member_id.to_string()));
        Ok(changed)
    }

    /// Gives a seat of `by`'s membership a new key (the owner for any seat, a seat for
    /// itself); the old key stops at once.
    pub fn rotate_key(&self, seat_id: &str, by: &Principal) -> Result<SeatKey> {
        stockroom_catalog::terms::may_rotate_key(by.owner, &by.seat_id, by.status, seat_id)?;
        let key = self.catalog.rotate_key(&by.member_id, seat_id)?;
        self.feed
            .publish(&Change::MemberChanged(by.member_id.clone()));
        Ok(key)
    }

    /// Records a detector's flag on a member: the catalogue keeps the reason with its
    /// values; the member is throttled from their next download. (The caller counts it in
    /// [`crate::Counters::flags`] when it raises it.)
    pub fn record_flag(&self, member_id: &str, reason: &str) -> Result<()> {
        self.catalog.flag(member_id, reason)?;
        Ok(())
    }
}
