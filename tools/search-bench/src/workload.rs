//! The records every engine loads and the one query workload they all run.

use serde::Deserialize;
use stockroom_index::{
    AssetDoc, Author, Color, FacetField, Filters, Kind, Orientation, SearchRequest, Sort,
};

use crate::vocabulary;
use crate::zipf::{Rng, Zipf};
use stockroom_vocab::{Collection, Language};

/// One line of the generator's `records.jsonl`.
#[derive(Clone, Debug, Deserialize)]
pub struct Record {
    pub id: String,
    pub title: String,
    pub description: String,
    pub keywords: Vec<String>,
    pub author: String,
    pub collection: Collection,
    pub language: Language,
    pub editorial_only: bool,
    pub model_release: bool,
    pub property_release: bool,
    pub kind: Kind,
    pub width: u32,
    pub height: u32,
    #[serde(default)]
    pub colors: Vec<Color>,
    pub created_at: i64,
    pub downloads: u64,
}

impl Record {
    /// Author names double as ids here (the generator has no members).
    pub fn author_id(&self) -> String {
        self.author.to_lowercase().replace(' ', "-")
    }

    pub fn to_doc(&self) -> AssetDoc {
        AssetDoc {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            keywords: self.keywords.clone(),
            language: self.language,
            author: Author {
                id: self.author_id(),
                name: self.author.clone(),
            },
            collection: self.collection,
            kind: self.kind,
            width: self.width,
            height: self.height,
            colors: self.colors.clone(),
            editorial_only: self.editorial_only,
            model_release: self.model_release,
            property_release: self.property_release,
            created_at: self.created_at,
            downloads: self.downloads,
        }
    }
}

/// The filter a query carries, if any: one at a time, as users add them.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    Orientation(Orientation),
    Collection(Collection),
    Editorial(bool),
    MinWidth(u32),
    Kind(Kind),
    Color(Color),
    Author(String),
    CreatedFrom(i64),
}

/// One query of the workload.
#[derive(Clone, Debug)]
pub struct BenchQuery {
    /// Every word must match.
    pub words: Vec<String>,
    pub filter: Option<Filter>,
    /// Count orientation, collection, kind and editorial over every match.
    pub facets: bool,
    pub sort: Sort,
    pub page: u32,
}

pub const PER_PAGE: u32 = 20;
/// The facet fields every engine counts when a query asks for facets.
pub const FACETS: [FacetField; 4] = [
    FacetField::Orientation,
    FacetField::Collection,
    FacetField::Kind,
    FacetField::Editorial,
];

impl BenchQuery {
    pub fn to_request(&self) -> SearchRequest {
        let mut filters = Filters::default();
        match &self.filter {
            None => {}
            Some(Filter::Orientation(value)) => filters.orientation = Some(*value),
            Some(Filter::Collection(value)) => filters.collection = Some(*value),
            Some(Filter::Editorial(value)) => filters.editorial = Some(*value),
            Some(Filter::MinWidth(value)) => filters.min_width = Some(*value),
            Some(Filter::Kind(value)) => filters.kind = Some(*value),
            Some(Filter::Color(value)) => filters.color = Some(*value),
            Some(Filter::Author(value)) => filters.author = Some(value.clone()),
            Some(Filter::CreatedFrom(value)) => filters.created_from = Some(*value),
        }
        SearchRequest {
            query: self.words.join(" "),
            filters,
            sort: self.sort,
            page: self.page,
            per_page: PER_PAGE,
            facets: if self.facets {
                FACETS.to_vec()
            } else {
                Vec::new()
            },
            cursor: None,
        }
    }
}

/// `count` queries: 1–3 words drawn by the same Zipf law as the generator's keywords (a
/// tenth German), 30% with a filter, 20% asking for facets, mostly by relevance, mostly
/// the first page. `authors` are the most prolific authors' ids (the author filter's
/// values). A pure function of its arguments.
pub fn queries(
    count: usize,
    vocabulary_size: usize,
    zipf_exponent: f64,
    seed: u64,
    authors: &[String],
) -> Vec<BenchQuery> {
    let words = vocabulary::build(vocabulary_size, seed);
    let zipf = Zipf::new(words.len(), zipf_exponent);
    let mut rng = Rng::new(seed ^ 0x5ea7c4);
    (0..count)
        .map(|_| {
            let word_count = match rng.below(100) {
                0..=54 => 1,
                55..=89 => 2,
                _ => 3,
            };
            let mut query_words: Vec<String> = Vec::with_capacity(word_count);
            while query_words.len() < word_count {
                let word = if rng.below(10) == 0 {
                    vocabulary::GERMAN[rng.below(vocabulary::GERMAN.len() as u64) as usize]
                        .to_string()
                } else {
                    words[zipf.sample(&mut rng)].clone()
                };
                if !query_words.contains(&word) {
                    query_words.push(word);
                }
            }
            let filter = (rng.below(100) < 30).then(|| filter(&mut rng, authors));
            BenchQuery {
                words: query_words,
                filter,
                facets: rng.below(100) < 20,
                sort: match rng.below(100) {
                    0..=84 => Sort::Relevance,
                    85..=94 => Sort::Newest,
                    _ => Sort::Popular,
                },
                page: if rng.below(10) == 0 {
                    2 + rng.below(4) as u32
                } else {
                    1
                },
            }
        })
        .collect()
}

fn filter(rng: &mut Rng, authors: &[String]) -> Filter {
    let pick = |rng: &mut Rng, len: usize| rng.below(len as u64) as usize;
    match rng.below(8) {
        0 => Filter::Orientation(Orientation::ALL[pick(rng, Orientation::ALL.len())]),
        1 => Filter::Collection(Collection::ALL[pick(rng, Collection::ALL.len())]),
        2 => Filter::Editorial(rng.below(2) == 0),
        3 => Filter::MinWidth(3000 + 1000 * rng.below(5) as u32),
        4 => Filter::Kind(Kind::ALL[pick(rng, Kind::ALL.len())]),
        5 => Filter::Color(Color::ALL[pick(rng, Color::ALL.len())]),
        6 if !authors.is_empty() => Filter::Author(authors[pick(rng, authors.len())].clone()),
        // 2020–2025 is the generator's span: from somewhere in it.
        _ => Filter::CreatedFrom(1_577_836_800 + rng.below(5 * 365) as i64 * 86_400),
    }
}
