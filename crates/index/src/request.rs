//! A search request (DESIGN §3 `GET /v1/search`), its checks, and its filters as queries.

use std::ops::Bound;

use serde::{Deserialize, Serialize};
use tantivy::Term;
use tantivy::query::{Query, RangeQuery, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

use crate::document::{Collection, Color, Kind, Orientation, vocabulary};
use crate::facets::FacetField;
use crate::schema::Fields;
use crate::{IndexError, Result};

/// Results per page, at most.
pub const MAX_PER_PAGE: u32 = 100;
pub const DEFAULT_PER_PAGE: u32 = 20;
/// How deep pages may go (`page × per_page`): deeper pages cost a sort of every match and
/// no person reads them; crawlers get the catalogue another way.
pub const MAX_RESULT_WINDOW: u32 = 10_000;

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
    pub orientation: Option<Orientation>,
    /// One of the asset's dominant colours.
    pub color: Option<Color>,
    pub collection: Option<Collection>,
    /// `editorial_only` is this.
    pub editorial: Option<bool>,
    pub model_release: Option<bool>,
    /// An author's member id.
    pub author: Option<String>,
    pub min_width: Option<u32>,
    pub min_height: Option<u32>,
    pub kind: Option<Kind>,
    /// Created at or after (Unix seconds).
    pub created_from: Option<i64>,
    /// Created before (Unix seconds).
    pub created_to: Option<i64>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        *self == Filters::default()
    }

    /// One query per filter that is set.
    pub(crate) fn to_queries(&self, fields: &Fields) -> Vec<Box<dyn Query>> {
        let mut queries: Vec<Box<dyn Query>> = Vec::new();
        let mut code = |field: Field, value: Option<u64>| {
            if let Some(value) = value {
                queries.push(term_query(Term::from_field_u64(field, value)));
            }
        };
        code(fields.orientation, self.orientation.map(Orientation::code));
        code(fields.color, self.color.map(Color::code));
        code(fields.collection, self.collection.map(Collection::code));
        code(fields.kind, self.kind.map(Kind::code));
        code(fields.editorial_only, self.editorial.map(u64::from));
        code(fields.model_release, self.model_release.map(u64::from));
        if let Some(author) = &self.author {
            queries.push(term_query(Term::from_field_text(fields.author, author)));
        }
        for (field, min) in [
            (fields.width, self.min_width),
            (fields.height, self.min_height),
        ] {
            if let Some(min) = min {
                queries.push(Box::new(RangeQuery::new(
                    Bound::Included(Term::from_field_u64(field, u64::from(min))),
                    Bound::Unbounded,
                )));
            }
        }
        if self.created_from.is_some() || self.created_to.is_some() {
            let bound = |value: Option<i64>, make: fn(Term) -> Bound<Term>| {
                value.map_or(Bound::Unbounded, |value| {
                    make(Term::from_field_i64(fields.created_at, value))
                })
            };
            queries.push(Box::new(RangeQuery::new(
                bound(self.created_from, Bound::Included),
                bound(self.created_to, Bound::Excluded),
            )));
        }
        queries
    }
}

fn term_query(term: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(term, IndexRecordOption::Basic))
}

/// A search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SearchRequest {
    /// What the user typed: words, "phrases", `-exclusions`. Empty lists every asset.
    pub query: String,
    pub filters: Filters,
    pub sort: Sort,
    /// From 1.
    pub page: u32,
    pub per_page: u32,
    /// Fields to count values of, over every match.
    pub facets: Vec<FacetField>,
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
        }
    }
}

impl SearchRequest {
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
        if u64::from(self.page) * u64::from(self.per_page) > u64::from(MAX_RESULT_WINDOW) {
            return Err(IndexError::BadRequest(format!(
                "pages end at result {MAX_RESULT_WINDOW}; narrow the search instead"
            )));
        }
        Ok(())
    }

    pub(crate) fn offset(&self) -> usize {
        (self.page as usize - 1) * self.per_page as usize
    }
}
