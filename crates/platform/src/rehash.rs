//! Rehashing the duplicate index from the originals, for an index whose hashes were
//! computed the old way (before PDQ was computed for the file a reduced decode stands for,
//! so 10–46 bits from today's hash of the same photo, which near duplicates would miss).

use rayon::prelude::*;
use serde::Serialize;
use stockroom_vocab::AssetId;

use crate::Platform;
use crate::error::Result;
use crate::fingerprint;

/// What a rehash did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Rehashed {
    /// Assets whose hashes were computed again from their originals.
    pub rehashed: u64,
    /// Indexed assets with no original left (they leave the index).
    pub missing: u64,
    /// Originals that no longer decode (they leave the index; each named to `unreadable`).
    pub unreadable: u64,
}

impl Platform {
    /// Whether the duplicate index holds hashes computed the old way, so that `stockroom`
    /// rehashes it before serving ([`Platform::rehash_duplicates`]).
    pub fn duplicates_stale(&self) -> bool {
        self.duplicate_index().open_report().stale_hashes
    }

    /// Computes the hashes of every asset the duplicate index holds again from its
    /// original (on every CPU) and replaces the index with them in one durable step: a
    /// crash leaves the old index or the new one. The index is locked throughout, so no
    /// upload's hashes are lost to the swap (uploads wait). `done` is called after each
    /// asset; `unreadable` names each original that does not decode.
    pub fn rehash_duplicates(
        &self,
        done: impl Fn() + Sync,
        unreadable: impl Fn(AssetId, &str) + Sync,
    ) -> Result<Rehashed> {
        let mut index = self.duplicate_index();
        let hashed: Vec<Result<Hashes>> = index
            .assets()
            .into_par_iter()
            .map(|raw| {
                let asset = AssetId::from_u64(raw);
                let outcome = match self.originals.get(asset)? {
                    None => Hashes::Missing,
                    Some(original) => match fingerprint::fingerprint_for_index(&original.bytes) {
                        Ok((print, _)) => Hashes::Of(
                            print
                                .index_hashes()
                                .into_iter()
                                .map(|(region, pdq)| (raw, region, pdq, print.reliable()))
                                .collect(),
                        ),
                        Err(error) => {
                            unreadable(asset, &error.to_string());
                            Hashes::Unreadable
                        }
                    },
                };
                done();
                Ok(outcome)
            })
            .collect();
        let mut report = Rehashed::default();
        let mut records = Vec::new();
        for outcome in hashed {
            match outcome? {
                Hashes::Of(hashes) => {
                    report.rehashed += 1;
                    records.extend(hashes);
                }
                Hashes::Missing => report.missing += 1,
                Hashes::Unreadable => report.unreadable += 1,
            }
        }
        index.replace_all(records)?;
        Ok(report)
    }
}

/// One asset's new hashes, or why it has none.
enum Hashes {
    Of(Vec<(u64, stockroom_phash::Region, stockroom_phash::Pdq, bool)>),
    Missing,
    Unreadable,
}
