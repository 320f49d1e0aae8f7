//! A search request (DESIGN §3 `GET /v1/search`), its checks, and its filters as queries.

use serde::{Deserialize, Serialize};
use tantivy::Term;
use tantivy::query::{Query, TermQuery};
use tantivy::schema::IndexRecordOption;

use stockroom_vocab::Collection;

use crate::document::{Color, Kind, Orientation, vocabulary};
use crate::facets::FacetField;
use crate::schema::Fields;
use crate::{IndexError, Result};

/// Results per page, at most.
pub const MAX_PER_PAGE: u32 = 100;
/// Results per page unless asked otherwise.
pub const DEFAULT_PER_PAGE: u32 = 20;
/// How deep pages may go: page 500 (10,000 results at the default size, 50,000 at the
/// largest). Deeper pages cost a sort of every match and no person reads them; crawlers
/// get the catalogue another way. A bound on the page alone, not on `page × per_page`, so
/// that the OpenAPI document can state it.
pub const MAX_PAGE: u32 = 500;

vocabulary!(
    /// The order of results. `relevance` is BM25 with title and keyword weights (with no
    /// words, the same as `newest`); `popular` is most downloads first (the catalogue's
    /// counts), then newest.
    #[derive(Default)]
    Sort ("sort") {
        #[default]
        Relevance => "relevance",
        Newest => "newest",
        Popular => "popular",
    }
);

/// What results must be. Every filter that is set must hold.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filters {
    /// Landscape, portrait or square.
    pub orientation: Option<Orientation>,
    /// One of the asset's dominant colours.
    pub color: Option<Color>,
    /// Free or unlimited content only.
    pub collection: Option<Collection>,
    /// `editorial_only` is this.
    pub editorial: Option<bool>,
    /// `model_release` is this.
    pub model_release: Option<bool>,
    /// `property_release` is this.
    pub property_release: Option<bool>,
    /// An author's member id.
    pub author: Option<String>,
    /// At least this wide, in pixels.
    pub min_width: Option<u32>,
    /// At least this high, in pixels.
    pub min_height: Option<u32>,
    /// Photos, illustrations or vectors only.
    pub kind: Option<Kind>,
    /// Created at or after (Unix seconds).
    pub created_from: Option<i64>,
    /// Created before (Unix seconds).
    pub created_to: Option<i64>,
}

impl Filters {
    /// Whether no filter is set.
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }

    /// The author filter as a query: selective, so its posting list drives the search (the
    /// other filters are checked per match, see `collect::Predicate`).
    pub(crate) fn author_query(&self, fields: &Fields) -> Option<Box<dyn Query>> {
        self.author.as_ref().map(|author| {
            Box::new(TermQuery::new(
                Term::from_field_text(fields.author, author),
                IndexRecordOption::Basic,
            )) as Box<dyn Query>
        })
    }
}

/// A search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// What the user typed: words, "phrases", `-exclusions`. Empty lists every asset.
    pub query: String,
    /// What every result must be.
    pub filters: Filters,
    /// The order of results.
    pub sort: Sort,
    /// From 1.
    pub page: u32,
    /// Results per page, at most 100.
    pub per_page: u32,
    /// Fields to count values of, over every match.
    pub facets: Vec<FacetField>,
    /// Where to continue: a previous answer's `next`; `page` then counts from there (page 1
    /// is the page right after it). Past page 500, and for stable paging through a long
    /// list, this is the way on.
    #[serde(default)]
    pub cursor: Option<String>,
}

impl Default for SearchRequest {
    fn default() -> SearchRequest {
        SearchRequest {
            query: String::new(),
            filters: Filters::default(),
            sort: Sort::Relevance,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
            facets: Vec::new(),
            cursor: None,
        }
    }
}

impl SearchRequest {
    /// A request for `query`'s words, with every default.
    pub fn words(query: &str) -> SearchRequest {
        SearchRequest {
            query: query.to_string(),
            ..SearchRequest::default()
        }
    }

    /// Refuses pages and sizes out of range (the query text is never refused).
    pub fn check(&self) -> Result<()> {
        if self.page == 0 {
            return Err(IndexError::BadRequest("page counts from 1".into()));
        }
        if self.per_page == 0 || self.per_page > MAX_PER_PAGE {
            return Err(IndexError::BadRequest(format!(
                "per_page must be 1 to {MAX_PER_PAGE}"
            )));
        }
        if self.page > MAX_PAGE {
            return Err(IndexError::BadRequest(format!(
                "pages end at page {MAX_PAGE}; go on with the cursor a page's next gives"
            )));
        }
        if let Some(cursor) = &self.cursor
            && crate::collect::decode_cursor(cursor).is_none()
        {
            return Err(IndexError::BadRequest(
                "cursor is not one a search gave".into(),
            ));
        }
        Ok(())
    }

    pub(crate) fn offset(&self) -> usize {
        (self.page as usize - 1) * self.per_page as usize
    }
}
