//! The licence-and-download decision: the catalogue's terms (entitlement, quotas, the
//! licence itself, decided and recorded in one transaction) combined with the guard's fair
//! use (the stockpiling and login-misuse detectors fed from each new licence and each
//! download, and the pace each download streams at).

use std::sync::atomic::Ordering;

use std::sync::Arc;
use stockroom_catalog::{Caller, Holder, Licensing, Network};

use stockroom_guard::{Pacer, Subject};
use stockroom_render::Format;
use stockroom_vocab::{AssetId, AssetStatus, MemberStatus};

use crate::Platform;
use crate::error::{PlatformError, Result};
use crate::originals::Sendable;

/// An original ready to stream, and how fast.
#[derive(Debug)]
pub struct Download {
    /// The original: in the embedded shape a view into the store's mapping, in object
    /// storage a reader of its ranges.
    pub original: Sendable,
    /// Its format, when it is an image we read.
    pub format: Option<Format>,
    /// The pace its chunks are sent at (shared by the holder's streams).
    pub stream: Arc<dyn Pacer>,
    /// The pace in bytes per second, when it is throttled.
    pub rate: Option<u64>,
    /// When the original was uploaded, Unix seconds (it never changes after).
    pub created_at: i64,
}

impl Platform {
    /// Decides a licence request and records it durably before returning (DESIGN §4): a new
    /// or reused licence for a member, a counted download for an anonymous caller. A new
    /// licence feeds the stockpiling detector and may cross the monthly review level;
    /// either flags the member.
    pub fn license(&self, caller: Caller<'_>, asset: AssetId) -> Result<Licensing> {
        self.license_for(caller, asset, None)
    }

    /// [`Platform::license`] for an end client (terms 5.3 b): an agency's seat licenses the
    /// asset once per client, each a new licence that counts.
    pub fn license_for(
        &self,
        caller: Caller<'_>,
        asset: AssetId,
        client: Option<&str>,
    ) -> Result<Licensing> {
        let licensing = self
            .catalog
            .license_for(caller, asset, client)
            .inspect_err(|error| {
                if error.retry_after_secs().is_some() {
                    self.counters.quota_refusals.fetch_add(1, Ordering::Relaxed);
                }
            })?;
        if let Caller::Member(principal) = caller {
            self.feed_detectors(&principal.member_id, &licensing, asset);
        }
        Ok(licensing)
    }

    fn feed_detectors(&self, member: &str, licensing: &Licensing, asset: AssetId) {
        let Some(usage) = &licensing.usage else {
            return;
        };
        if usage.review_due {
            self.flag(
                member,
                &format!(
                    "quota review: {} new licences in 30 days (review level {})",
                    usage.month, usage.quota.monthly_review
                ),
            );
        }
        let download = stockroom_guard::Download {
            asset: asset.as_u64(),
            author: &licensing.author_id,
            author_assets: licensing.author_assets,
            listed: stockroom_index::listing_key(licensing.created_at, &asset.to_string()),
            seats: licensing.seats,
            ends_at: licensing
                .ends_at
                .map(|end| u64::try_from(end).unwrap_or(0).saturating_mul(1_000_000)),
        };
        if let Some(flag) = self
            .guard
            .downloaded(member, &download, self.clock.now_micros())
        {
            self.flag(member, &flag.to_string());
        }
    }

    /// Records a flag the platform raised; a failure to record it is not the request's.
    fn flag(&self, member: &str, reason: &str) {
        self.counters.flags.fetch_add(1, Ordering::Relaxed);
        let _ = self.record_flag(member, reason);
    }

    /// The original a download link unlocks, and its pace. A takedown ends every link at
    /// once; a withdrawn asset's licensees keep theirs, but an anonymous link (no licence)
    /// ends when the asset leaves the public, and a blocked holder's links end with the
    /// block. The holder's budget is spent (a member's,
    /// shared by their seats, at the throttled rate when flagged or past the soft quota),
    /// or the network's at the anonymous rate; a holder that cannot be read (an erased
    /// member's licence) is paced as its network, never refused for it.
    pub fn download(
        &self,
        asset: AssetId,
        licence: Option<&str>,
        network: &Network,
    ) -> Result<Download> {
        let holder = match licence.map(|licence| self.catalog.holder(licence)) {
            // A suspended licence (its membership unpaid) is refused, not paced.
            Some(Err(error)) if error.class() == stockroom_catalog::ErrorClass::Forbidden => {
                return Err(error.into());
            }
            Some(found) => found.ok(),
            None => None,
        };
        if holder
            .as_ref()
            .is_some_and(|holder| holder.status == MemberStatus::Blocked)
        {
            // A block ends the member's links at once, not when they expire.
            return Err(PlatformError::Forbidden(
                "this account is blocked: its download links no longer work",
            ));
        }
        let record = self.catalog.asset(asset)?;
        let gone = record.status == AssetStatus::Removed
            || record.purged_at.is_some()
            || (licence.is_none() && record.status != AssetStatus::Active);
        if gone {
            return Err(PlatformError::Gone(asset));
        }
        // The node's record names the original's blake3: object storage that does not
        // hold the asset's key need not list its prefix to find it.
        let named = || {
            self.record(asset)
                .ok()
                .and_then(|record| record.blake3_bytes())
        };
        let original = self
            .originals
            .open_named(asset, &named)?
            .ok_or(PlatformError::Gone(asset))?;
        let stream = self.pace(holder.as_ref(), network);
        let rate = stream.rate();
        if rate.is_some() {
            self.counters
                .throttled_streams
                .fetch_add(1, Ordering::Relaxed);
        }
        Ok(Download {
            format: stockroom_render::sniff(original.head()),
            original,
            stream,
            rate,
            created_at: record.created_at,
        })
    }

    fn pace(&self, holder: Option<&Holder>, network: &Network) -> Arc<dyn Pacer> {
        let config = self.guard.config();
        let Some(holder) = holder else {
            return self.guard.stream(
                &Subject::Network(network.as_str().to_string()),
                Some(config.anonymous_bytes_per_sec),
            );
        };
        let throttled = holder.slowed || holder.status == MemberStatus::Flagged;
        if let Some(flag) = self.guard.used(
            &holder.member_id,
            &holder.seat_id,
            network.as_str(),
            holder.seats,
            self.clock.now_micros(),
        ) {
            self.flag(&holder.member_id, &flag.to_string());
        }
        self.guard.stream(
            &Subject::Member(holder.member_id.clone()),
            throttled.then_some(config.throttled_bytes_per_sec),
        )
    }
}
