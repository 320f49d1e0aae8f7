//! Facet counts in the same pass as the top hits.
//!
//! Every categorical attribute of an asset is packed into one fast field (`FacetBits`), so
//! counting all of them costs one column read per matching document. Authors are counted
//! by their term ordinal in the author column and named once per segment, at the end.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{ColumnValues, StrColumn};
use tantivy::{DocId, Score, SegmentOrdinal, SegmentReader};

use crate::document::{AssetDoc, Collection, Color, Kind, Orientation, vocabulary};
use crate::schema::{AUTHOR, FACET_BITS};

/// How many authors an author facet lists (the most frequent).
pub const AUTHOR_FACET_SIZE: usize = 20;

vocabulary!(
    /// A field a search can ask facet counts for.
    FacetField ("facet") {
        Orientation => "orientation", Color => "color", Collection => "collection",
        Kind => "kind", Editorial => "editorial", ModelRelease => "model_release",
        Author => "author",
    }
);

/// Facet counts by field, then by value. Values with no match are left out.
pub type Facets = BTreeMap<String, BTreeMap<String, u64>>;

/// An asset's categorical attributes in one word: orientation (bits 0–1), collection (2),
/// kind (3–4), editorial only (5), model release (6), property release (7), and one bit per
/// dominant colour (8–19).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FacetBits(pub u64);

const COLOR_SHIFT: u32 = 8;

impl FacetBits {
    pub fn of(asset: &AssetDoc) -> FacetBits {
        let mut bits = asset.orientation().code()
            | asset.collection.code() << 2
            | asset.kind.code() << 3
            | u64::from(asset.editorial_only) << 5
            | u64::from(asset.model_release) << 6
            | u64::from(asset.property_release) << 7;
        for color in &asset.colors {
            bits |= 1 << (COLOR_SHIFT + color.code() as u32);
        }
        FacetBits(bits)
    }

    fn orientation(self) -> usize {
        (self.0 & 0b11) as usize
    }

    fn collection(self) -> usize {
        (self.0 >> 2 & 1) as usize
    }

    fn kind(self) -> usize {
        (self.0 >> 3 & 0b11) as usize
    }

    fn editorial(self) -> usize {
        (self.0 >> 5 & 1) as usize
    }

    fn model_release(self) -> usize {
        (self.0 >> 6 & 1) as usize
    }

    fn colors(self) -> u64 {
        self.0 >> COLOR_SHIFT & ((1 << Color::ALL.len()) - 1)
    }
}

/// Counts of the packed attributes (array positions are the vocabularies' codes).
#[derive(Clone, Debug, Default)]
pub(crate) struct Counts {
    orientation: [u64; 3],
    collection: [u64; 2],
    kind: [u64; 3],
    editorial: [u64; 2],
    model_release: [u64; 2],
    color: [u64; 12],
    authors: HashMap<String, u64>,
}

impl Counts {
    fn add(&mut self, bits: FacetBits) {
        self.orientation[bits.orientation()] += 1;
        self.collection[bits.collection()] += 1;
        self.kind[bits.kind()] += 1;
        self.editorial[bits.editorial()] += 1;
        self.model_release[bits.model_release()] += 1;
        let mut colors = bits.colors();
        while colors != 0 {
            self.color[colors.trailing_zeros() as usize] += 1;
            colors &= colors - 1;
        }
    }

    fn merge(&mut self, other: Counts) {
        let pairs: [(&mut [u64], &[u64]); 6] = [
            (&mut self.orientation, &other.orientation),
            (&mut self.collection, &other.collection),
            (&mut self.kind, &other.kind),
            (&mut self.editorial, &other.editorial),
            (&mut self.model_release, &other.model_release),
            (&mut self.color, &other.color),
        ];
        for (into, from) in pairs {
            for (into, from) in into.iter_mut().zip(from) {
                *into += from;
            }
        }
        for (author, count) in other.authors {
            *self.authors.entry(author).or_default() += count;
        }
    }

    /// The requested fields' counts, by wire name.
    fn into_facets(self, fields: &[FacetField]) -> Facets {
        let mut facets = Facets::new();
        for &field in fields {
            let values: BTreeMap<String, u64> = match field {
                FacetField::Orientation => named(&self.orientation, |code| {
                    Orientation::from_code(code).map(Orientation::as_str)
                }),
                FacetField::Collection => named(&self.collection, |code| {
                    Collection::from_code(code).map(Collection::as_str)
                }),
                FacetField::Kind => {
                    named(&self.kind, |code| Kind::from_code(code).map(Kind::as_str))
                }
                FacetField::Color => named(&self.color, |code| {
                    Color::from_code(code).map(Color::as_str)
                }),
                FacetField::Editorial => named(&self.editorial, yes_no),
                FacetField::ModelRelease => named(&self.model_release, yes_no),
                FacetField::Author => top_authors(&self.authors),
            };
            facets.insert(field.as_str().to_string(), values);
        }
        facets
    }
}

fn yes_no(code: u64) -> Option<&'static str> {
    Some(if code == 1 { "true" } else { "false" })
}

fn named(counts: &[u64], name: impl Fn(u64) -> Option<&'static str>) -> BTreeMap<String, u64> {
    counts
        .iter()
        .enumerate()
        .filter(|(_, count)| **count > 0)
        .filter_map(|(code, count)| Some((name(code as u64)?.to_string(), *count)))
        .collect()
}

/// The most frequent authors (ties by id, so the list is stable).
fn top_authors(authors: &HashMap<String, u64>) -> BTreeMap<String, u64> {
    let mut ranked: Vec<(&String, &u64)> = authors.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(AUTHOR_FACET_SIZE)
        .map(|(author, count)| (author.clone(), *count))
        .collect()
}

/// Counts the requested facets of every matching document.
pub(crate) struct FacetCollector {
    pub fields: Vec<FacetField>,
}

pub(crate) struct FacetSegmentCollector {
    bits: Arc<dyn ColumnValues<u64>>,
    counts: Counts,
    /// With the author facet.
    authors: Option<AuthorCounts>,
}

/// The author column and counts by its term ordinals.
pub(crate) struct AuthorCounts {
    column: StrColumn,
    ords: Arc<dyn ColumnValues<u64>>,
    counts: Vec<u64>,
}

impl Collector for FacetCollector {
    type Fruit = Facets;
    type Child = FacetSegmentCollector;

    fn for_segment(
        &self,
        _segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<FacetSegmentCollector> {
        let bits = reader
            .fast_fields()
            .u64(FACET_BITS)?
            .first_or_default_col(0);
        let authors = if self.fields.contains(&FacetField::Author) {
            reader.fast_fields().str(AUTHOR)?.map(|column| {
                let ords = column.ords().clone().first_or_default_col(u64::MAX);
                let counts = vec![0; column.num_terms()];
                AuthorCounts {
                    column,
                    ords,
                    counts,
                }
            })
        } else {
            None
        };
        Ok(FacetSegmentCollector {
            bits,
            counts: Counts::default(),
            authors,
        })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<Counts>) -> tantivy::Result<Facets> {
        let mut total = Counts::default();
        for counts in fruits {
            total.merge(counts);
        }
        Ok(total.into_facets(&self.fields))
    }
}

impl SegmentCollector for FacetSegmentCollector {
    type Fruit = Counts;

    fn collect(&mut self, doc: DocId, _score: Score) {
        self.counts.add(FacetBits(self.bits.get_val(doc)));
        if let Some(authors) = &mut self.authors
            && let Some(count) = authors.counts.get_mut(authors.ords.get_val(doc) as usize)
        {
            *count += 1;
        }
    }

    fn harvest(mut self) -> Counts {
        if let Some(authors) = self.authors.take() {
            let mut name = String::new();
            for (ord, count) in authors.counts.into_iter().enumerate() {
                if count > 0
                    && authors
                        .column
                        .ord_to_str(ord as u64, &mut name)
                        .unwrap_or(false)
                {
                    self.counts.authors.insert(name.clone(), count);
                }
            }
        }
        self.counts
    }
}
