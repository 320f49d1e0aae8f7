//! The scheduled side of the content lifecycle (DESIGN §2): a withdrawn asset that was
//! never licensed loses its original 28 days after the withdrawal (its thumbnail was
//! archived when it was withdrawn). The server runs [`purge_due`] at start and then every
//! `purge_interval`. (An anonymous download leaves no licence to honour: nobody could
//! re-download as that anonymous caller.)

use stockroom_catalog::{Catalog, CatalogError};
use stockroom_store::{AssetId, Kind, Store, StoreError};

/// Why a purge run stopped early (what it purged before that stays purged).
#[derive(Debug, thiserror::Error)]
pub enum PurgeError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the catalogue names asset {0:?}, which is not an asset id")]
    BadId(String),
}

/// Purges every withdrawn asset whose 28 days are up: its original (and any preview or
/// metadata record left) is deleted, durably, and only then does the catalogue record the
/// purge (a purge event for the CDN feed). A run that stops between the two is finished by
/// the next one. Returns the assets purged.
pub fn purge_due(blobs: &Store, catalog: &Catalog) -> Result<Vec<AssetId>, PurgeError> {
    let mut purged = Vec::new();
    for id in catalog.due_for_purge()? {
        let asset: AssetId = id.parse().map_err(|_| PurgeError::BadId(id.clone()))?;
        for kind in Kind::ALL {
            blobs.delete(asset, kind)?;
        }
        catalog.mark_purged(&id)?;
        purged.push(asset);
    }
    Ok(purged)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use stockroom_catalog::{
        AssetStatus, Caller, Collection, ManualClock, NewAsset, NewMember, Options, Role, Tier,
    };
    use stockroom_store::StoreOptions;

    use super::*;

    const DAY: i64 = 24 * 60 * 60;

    #[test]
    fn a_withdrawn_original_is_purged_after_28_days_unless_it_was_licensed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = Arc::new(ManualClock::at(1_793_491_200));
        let catalog = Catalog::open(
            &dir.path().join("catalog"),
            Options {
                clock: clock.clone(),
                ..Options::default()
            },
        )
        .expect("catalogue");
        let blobs = Store::open(dir.path().join("blobs"), StoreOptions::default()).expect("store");
        let member = |name: &str, role| {
            let created = catalog
                .add_member(&NewMember {
                    name: name.into(),
                    roles: vec![role],
                    tier: Tier::Registered,
                    seats: 1,
                })
                .expect("member");
            catalog.authenticate(&created.keys[0]).expect("key")
        };
        let (author, buyer) = (member("Ann", Role::Author), member("Cy", Role::Customer));
        let (kept, purged) = (AssetId::from_u64(1), AssetId::from_u64(2));
        for asset in [kept, purged] {
            catalog
                .add_asset(&NewAsset {
                    id: asset,
                    author_id: author.member_id.clone(),
                    author_name: "Ann".into(),
                    title: "t".into(),
                    collection: Collection::Free,
                    editorial_only: false,
                    model_release: false,
                    property_release: false,
                    pending: false,
                })
                .expect("asset");
            blobs.put(asset, Kind::Original, b"original").expect("put");
            blobs.put(asset, Kind::Metadata, b"{}").expect("put");
        }
        catalog
            .license(Caller::Member(&buyer), &kept.to_string())
            .expect("licensed");
        for asset in [kept, purged] {
            catalog
                .withdraw(&asset.to_string(), &author)
                .expect("withdraw");
        }
        clock.advance(27 * DAY);
        assert_eq!(purge_due(&blobs, &catalog).expect("run"), []);
        assert!(blobs.contains(purged, Kind::Original), "not yet");
        clock.advance(DAY);
        assert_eq!(purge_due(&blobs, &catalog).expect("run"), [purged]);
        assert!(!blobs.contains(purged, Kind::Original));
        assert!(!blobs.contains(purged, Kind::Metadata));
        assert!(
            blobs.contains(kept, Kind::Original),
            "licensed: kept for its licensees"
        );
        assert_eq!(
            catalog.asset(&kept.to_string()).expect("row").status,
            AssetStatus::Inactive
        );
        let record = catalog.asset(&purged.to_string()).expect("row");
        assert!(record.purged_at.is_some());
        assert!(
            catalog
                .purges_since(0, 100)
                .expect("feed")
                .iter()
                .any(|event| event.asset_id == purged.to_string() && event.reason == "purged")
        );
        assert_eq!(purge_due(&blobs, &catalog).expect("again"), [], "once");
    }
}
