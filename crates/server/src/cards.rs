//! The asset card every listing shows (search results, `similar`, an asset's page): the
//! index's document with its preview links.

use serde::Serialize;
use stockroom_index::AssetDoc;
use stockroom_vocab::PreviewSize;

/// A search result: the index's card with the preview links.
#[derive(Debug, Serialize)]
pub struct Card {
    /// The index's document.
    #[serde(flatten)]
    pub asset: AssetDoc,
    preview_url: String,
    thumb_url: String,
}

impl Card {
    /// The card of `asset`, linking its large preview and its thumbnail.
    pub fn new(asset: AssetDoc) -> Card {
        let url = |size: PreviewSize| format!("/v1/previews/{}/{}.jpg", asset.id, size.as_str());
        Card {
            preview_url: url(PreviewSize::Large),
            thumb_url: url(PreviewSize::Thumb),
            asset,
        }
    }
}
