//! Facet counts, and the categorical filters, from one packed fast field.
//!
//! Every categorical attribute of an asset is packed into one fast field (`FacetBits`), so
//! counting all of them costs one column read per matching document, and so does checking
//! every categorical filter (`FacetBits::required`). Authors are counted
//! by their term ordinal in the author column and named once per segment, at the end.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tantivy::columnar::{ColumnValues, StrColumn};
use tantivy::{DocId, SegmentReader};

use stockroom_vocab::Collection;

use crate::document::{AssetDoc, Color, Kind, Orientation, vocabulary};
use crate::request::Filters;
use crate::schema::AUTHOR;

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

/// Where one attribute sits in `FacetBits`.
#[derive(Clone, Copy)]
struct Slot {
    shift: u32,
    width: u32,
}

const ORIENTATION: Slot = Slot { shift: 0, width: 2 };
const COLLECTION: Slot = Slot { shift: 2, width: 1 };
const KIND: Slot = Slot { shift: 3, width: 2 };
const EDITORIAL: Slot = Slot { shift: 5, width: 1 };
const MODEL_RELEASE: Slot = Slot { shift: 6, width: 1 };
const PROPERTY_RELEASE: Slot = Slot { shift: 7, width: 1 };
const COLOR_SHIFT: u32 = 8;

impl Slot {
    fn mask(self) -> u64 {
        ((1 << self.width) - 1) << self.shift
    }

    fn put(self, code: u64) -> u64 {
        code << self.shift & self.mask()
    }

    fn get(self, bits: FacetBits) -> usize {
        ((bits.0 & self.mask()) >> self.shift) as usize
    }
}

impl FacetBits {
    pub fn of(asset: &AssetDoc) -> FacetBits {
        let mut bits = ORIENTATION.put(asset.orientation().code())
            | COLLECTION.put(asset.collection.position() as u64)
            | KIND.put(asset.kind.code())
            | EDITORIAL.put(u64::from(asset.editorial_only))
            | MODEL_RELEASE.put(u64::from(asset.model_release))
            | PROPERTY_RELEASE.put(u64::from(asset.property_release));
        for color in &asset.colors {
            bits |= color_bit(*color);
        }
        FacetBits(bits)
    }

    /// What the filters on these attributes require, as `(mask, value)`: an asset passes
    /// them when its `bits & mask == value`.
    pub fn required(filters: &Filters) -> (u64, u64) {
        let mut mask = 0;
        let mut value = 0;
        let mut require = |slot: Slot, code: Option<u64>| {
            if let Some(code) = code {
                mask |= slot.mask();
                value |= slot.put(code);
            }
        };
        require(ORIENTATION, filters.orientation.map(Orientation::code));
        require(
            COLLECTION,
            filters
                .collection
                .map(|collection| collection.position() as u64),
        );
        require(KIND, filters.kind.map(Kind::code));
        require(EDITORIAL, filters.editorial.map(u64::from));
        require(MODEL_RELEASE, filters.model_release.map(u64::from));
        require(PROPERTY_RELEASE, filters.property_release.map(u64::from));
        if let Some(color) = filters.color {
            mask |= color_bit(color);
            value |= color_bit(color);
        }
        (mask, value)
    }

    fn colors(self) -> u64 {
        self.0 >> COLOR_SHIFT & ((1 << Color::ALL.len()) - 1)
    }
}

fn color_bit(color: Color) -> u64 {
    1 << (COLOR_SHIFT + color.code() as u32)
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
    /// `n` assets with these one-value attributes.
    fn add_attributes(&mut self, bits: FacetBits, n: u64) {
        self.orientation[ORIENTATION.get(bits)] += n;
        self.collection[COLLECTION.get(bits)] += n;
        self.kind[KIND.get(bits)] += n;
        self.editorial[EDITORIAL.get(bits)] += n;
        self.model_release[MODEL_RELEASE.get(bits)] += n;
    }

    /// `n` assets with these colours.
    fn add_colors(&mut self, bits: FacetBits, n: u64) {
        let mut colors = bits.colors();
        while colors != 0 {
            self.color[colors.trailing_zeros() as usize] += n;
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
                    usize::try_from(code)
                        .ok()
                        .and_then(Collection::from_position)
                        .map(Collection::as_str)
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

/// Counts the requested facets of the matching documents of one segment: a histogram of
/// the low byte of the packed bits (every one-value attribute) and one of the colour bits,
/// so that a match costs two increments; the per-field counts are read off at the end.
pub(crate) struct SegmentFacets {
    low: Vec<u64>,
    colors: Vec<u64>,
    /// With the author facet.
    authors: Option<AuthorCounts>,
}

/// The author column and counts by its term ordinals.
struct AuthorCounts {
    column: StrColumn,
    ords: Arc<dyn ColumnValues<u64>>,
    counts: Vec<u64>,
}

impl SegmentFacets {
    pub fn new(fields: &[FacetField], reader: &SegmentReader) -> tantivy::Result<SegmentFacets> {
        let authors = if fields.contains(&FacetField::Author) {
            reader.fast_fields().str(AUTHOR)?.map(|column| {
                // An asset without an author (none is indexed so) counts for no one.
                let ords = crate::collect::dense(column.ords().clone(), u64::MAX);
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
        Ok(SegmentFacets {
            low: vec![0; 1 << COLOR_SHIFT],
            colors: vec![0; 1 << Color::ALL.len()],
            authors,
        })
    }

    /// Counts matching documents, given their packed bits; `scratch` is as long as a block.
    #[inline]
    pub fn add(&mut self, docs: &[DocId], bits: &[u64], scratch: &mut [u64]) {
        for &bits in bits {
            let bits = FacetBits(bits);
            self.low[(bits.0 & ((1 << COLOR_SHIFT) - 1)) as usize] += 1;
            self.colors[bits.colors() as usize] += 1;
        }
        if let Some(authors) = &mut self.authors {
            let ords = &mut scratch[..docs.len()];
            authors.ords.get_vals(docs, ords);
            for &ord in ords.iter() {
                if let Some(count) = authors.counts.get_mut(ord as usize) {
                    *count += 1;
                }
            }
        }
    }

    /// The counts, authors named; each multiplied by `scale` if given (the counts of a
    /// sample, as estimates of the whole).
    pub fn harvest(self, scale: Option<f64>) -> Counts {
        let scaled = |n: u64| scale.map_or(n, |scale| (n as f64 * scale).round() as u64);
        let mut counts = Counts::default();
        for (low, &n) in self.low.iter().enumerate() {
            if n > 0 {
                counts.add_attributes(FacetBits(low as u64), n);
            }
        }
        for (colors, &n) in self.colors.iter().enumerate() {
            if n > 0 {
                counts.add_colors(FacetBits((colors as u64) << COLOR_SHIFT), n);
            }
        }
        // Scaled once counted by value, so that each value's estimate is rounded once.
        for values in [
            &mut counts.orientation[..],
            &mut counts.collection[..],
            &mut counts.kind[..],
            &mut counts.editorial[..],
            &mut counts.model_release[..],
            &mut counts.color[..],
        ] {
            for count in values {
                *count = scaled(*count);
            }
        }
        if let Some(authors) = self.authors {
            let mut name = String::new();
            for (ord, count) in authors.counts.into_iter().enumerate() {
                if count > 0
                    && authors
                        .column
                        .ord_to_str(ord as u64, &mut name)
                        .unwrap_or(false)
                {
                    counts.authors.insert(name.clone(), scaled(count));
                }
            }
        }
        counts
    }
}

/// The segments' counts of the requested fields, added up and named.
pub(crate) fn merge(segments: impl IntoIterator<Item = Counts>, fields: &[FacetField]) -> Facets {
    let mut total = Counts::default();
    for counts in segments {
        total.merge(counts);
    }
    total.into_facets(fields)
}
