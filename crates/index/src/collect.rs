//! One search's pass over the segments: the page's hits, the total and the facet counts.
//!
//! The words (and an author filter) drive: their posting lists say which assets to visit.
//! Every other filter is checked per visited asset from fast fields (`Predicate`: one read
//! of the packed categories, and the sizes or the date when those are filtered), which
//! costs less than intersecting another dense posting list.
//!
//! Every page reports an exact total and exact facet counts, so every match is visited.
//! What is spared is the scoring: for one word in relevance order, the top hits come from
//! tantivy's block-max WAND (`Weight::for_each_pruning`: blocks of postings that cannot
//! beat the page's current last hit are skipped unscored), and the total and facets from a
//! second pass that reads no frequencies and scores nothing (or, with neither facets nor
//! filters, from the posting list's length). Several words are ranked the same way by the
//! union of their stems (whose score of an asset holding every word is the words'
//! intersection's), each hit checked against the intersection as the two go through the
//! segment together; once the page's last score is above what any one word can score
//! alone, block-max WAND visits only blocks where the words meet. Other queries make one
//! pass that does all.
//!
//! Ties keep one order: each sort ends in the id's key (a hash of the id: unlike tantivy's
//! document address, it survives merges), and the pruning threshold is set just below the
//! page's last score, so that an equal score still competes.

use std::sync::Arc;

use tantivy::columnar::{Column, ColumnIndex, ColumnValues, MonotonicallyMappableToU64};
use tantivy::fastfield::AliveBitSet;
use tantivy::query::{EnableScoring, Query, Weight};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader};

use crate::facets::{self, FacetBits, FacetField, Facets, SegmentFacets};
use crate::request::{Filters, Sort};
use crate::schema::{CREATED_AT, DOWNLOADS, FACET_BITS, HEIGHT, ID_KEY, WIDTH};

/// What one search asks of the segments.
pub(crate) struct Plan<'a> {
    /// The words, the author filter and the exclusions (`AllQuery` when there are none).
    pub query: &'a dyn Query,
    /// The other filters.
    pub predicate: Predicate,
    /// `Relevance` only when there are words.
    pub sort: Sort,
    /// The query is one word (a term, or the union of its two stems), which tantivy can
    /// prune by block maxima.
    pub prunable: bool,
    /// Otherwise, a query that scores every match of `query` as `query` does and that
    /// tantivy can prune by block maxima (the union of the words' stems): the hits are
    /// ranked by it, each checked against `query` (by relevance only).
    pub ranking: Option<&'a dyn Query>,
    /// Whether the total is wanted (a ranked search that wants none skips its counting pass).
    pub total: bool,
    /// A pruned search's counting pass counts about this many matches (shared among the
    /// segments by size) and estimates the rest.
    pub exact_up_to: u64,
    /// Hits to keep: the pages up to and including the requested one.
    pub hits: usize,
    /// Only hits after this one in the order (a cursor's position).
    pub after: Option<Key>,
    pub facets: &'a [FacetField],
}

/// What the pass found.
pub(crate) struct Found {
    /// The best `hits` matches, best first.
    pub hits: Vec<DocAddress>,
    /// The last hit's place in the order.
    pub last: Option<Key>,
    pub total: u64,
    /// Whether the total and facets were counted, not estimated.
    pub total_exact: bool,
    /// When facets were asked for.
    pub facets: Option<Facets>,
}

/// A hit's place in the order, compared as a whole (larger is better): relevance is
/// (score, id key), newest (created, id key), popular (downloads, created, id key).
pub(crate) type Key = (u64, u64, u64);

/// A position in a search's order, as the `cursor` a page hands out: the last hit's key in
/// hex. Opaque to callers; a position, not a snapshot (a search whose matches change
/// between pages continues from the same place in its order). Given with another order
/// than the one it came from, it is read as a position in that order.
pub(crate) fn encode_cursor(key: Key) -> String {
    format!("{:016x}{:016x}{:016x}", key.0, key.1, key.2)
}

/// The key a cursor names, if it is one.
pub(crate) fn decode_cursor(text: &str) -> Option<Key> {
    if text.len() != 48 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let part = |at: usize| u64::from_str_radix(&text[at..at + 16], 16).ok();
    Some((part(0)?, part(16)?, part(32)?))
}

pub(crate) fn run(searcher: &Searcher, plan: &Plan) -> tantivy::Result<Found> {
    let scored = plan.sort == Sort::Relevance;
    let scoring = if scored {
        EnableScoring::enabled_from_searcher(searcher)
    } else {
        EnableScoring::disabled_from_searcher(searcher)
    };
    let pruned = scored && (plan.prunable || plan.ranking.is_some());
    let weight = plan
        .ranking
        .filter(|_| pruned)
        .unwrap_or(plan.query)
        .weight(scoring)?;
    // The counting pass of a pruned search scores nothing, so it needs no frequencies.
    let counting = if pruned {
        Some(
            plan.query
                .weight(EnableScoring::disabled_from_searcher(searcher))?,
        )
    } else {
        None
    };
    // A hit ranked by another query is scored by this one, so that its score (and so the
    // order of equal scores) is the one every other path gives it.
    let members = match plan.ranking {
        Some(_) if pruned => Some(plan.query.weight(scoring)?),
        _ => None,
    };
    let documents: u64 = searcher
        .segment_readers()
        .iter()
        .map(|reader| u64::from(reader.max_doc()))
        .sum();
    let segments = searcher.segment_readers().iter().enumerate();
    let fruits = searcher.index().search_executor().map(
        |(ordinal, reader)| {
            let weights = Weights {
                main: &*weight,
                counting: counting.as_deref(),
                members: members.as_deref(),
            };
            // The segment's share of the matches to count, and at least a thousand (or
            // all that are to be counted, if fewer).
            let share = u64::from(reader.max_doc()) as f64 / documents.max(1) as f64;
            let least = SAMPLE_AT_LEAST.min(plan.exact_up_to as f64);
            let budget = (plan.exact_up_to as f64 * share).max(least) as u64;
            segment(plan, weights, budget, ordinal as u32, reader)
        },
        segments,
    )?;

    let mut total = 0;
    let mut total_exact = true;
    let mut counts = Vec::new();
    let mut hits: Vec<(Key, DocAddress)> = Vec::new();
    for fruit in fruits {
        total += fruit.total;
        total_exact &= fruit.exact;
        counts.extend(fruit.counts);
        hits.extend(fruit.hits);
    }
    hits.sort_unstable_by_key(|&(key, _)| std::cmp::Reverse(key));
    hits.truncate(plan.hits);
    Ok(Found {
        last: hits.last().map(|&(key, _)| key),
        hits: hits.into_iter().map(|(_, address)| address).collect(),
        total,
        total_exact,
        facets: (!plan.facets.is_empty()).then(|| facets::merge(counts, plan.facets)),
    })
}

/// Fewest matches a segment's estimate is made from.
const SAMPLE_AT_LEAST: f64 = 1_000.0;

/// Stretches of a segment a sampled count reads ([`Scan::count_up_to`]).
const WINDOWS: u64 = 8;

/// One segment's share.
struct Fruit {
    hits: Vec<(Key, DocAddress)>,
    total: u64,
    exact: bool,
    counts: Option<facets::Counts>,
}

/// The weights one segment's pass uses.
struct Weights<'a> {
    /// The query's, or the ranking query's when pruned.
    main: &'a dyn Weight,
    /// A pruned search's counting pass: the query's, unscored.
    counting: Option<&'a dyn Weight>,
    /// A search ranked by another query: the query's, scored.
    members: Option<&'a dyn Weight>,
}

fn segment(
    plan: &Plan,
    weights: Weights,
    budget: u64,
    ordinal: SegmentOrdinal,
    reader: &SegmentReader,
) -> tantivy::Result<Fruit> {
    let mut scan = Scan::new(plan, reader)?;
    let weight = weights.main;
    match (weights.counting, plan.sort) {
        (Some(counting), _) => {
            // Ranked by another query: its hits must match this one too (both go through
            // the segment in the order of documents), and are scored by it.
            let mut members = match weights.members {
                Some(members) => Some(members.scorer(reader, 1.0)?),
                None => None,
            };
            let mut previous = None;
            weight.for_each_pruning(Score::NEG_INFINITY, reader, &mut |doc, score| {
                let score = match members.as_mut() {
                    None => score,
                    Some(members) => {
                        // Block-max WAND hands documents over in increasing order, so one
                        // forward pass of the members answers every check.
                        debug_assert!(previous < Some(doc), "WAND went back");
                        previous = Some(doc);
                        if members.doc() < doc {
                            members.seek(doc);
                        }
                        if members.doc() != doc {
                            return scan.top.ranking_threshold();
                        }
                        members.score()
                    }
                };
                scan.block.load(&[doc], Some(score));
                scan.filter();
                scan.rank();
                match members {
                    None => scan.top.score_threshold(),
                    Some(_) => scan.top.ranking_threshold(),
                }
            })?;
            let counted = plan.total || scan.facets.is_some();
            if !counted {
                // Neither a total nor facets wanted: no second pass.
            } else if plan.prunable
                && reader.alive_bitset().is_none()
                && scan.facets.is_none()
                && scan.is_unfiltered()
            {
                // A word's posting list says how long it is.
                scan.total = u64::from(counting.count(reader)?);
            } else {
                scan.count_up_to(counting, reader, budget)?;
            }
        }
        (None, Sort::Relevance) => {
            weight.for_each(reader, &mut |doc, score| {
                if scan.block.push(doc, score) {
                    scan.flush();
                }
            })?;
            scan.flush();
        }
        (None, Sort::Newest | Sort::Popular) => {
            weight.for_each_no_score(reader, &mut |docs| {
                scan.block.load(docs, None);
                scan.flush();
            })?;
        }
    }
    let scale = scan.scale;
    Ok(Fruit {
        hits: scan
            .top
            .into_sorted()
            .into_iter()
            .map(|(key, doc)| (key, DocAddress::new(ordinal, doc)))
            .collect(),
        total: scale.map_or(scan.total, |scale| {
            (scan.total as f64 * scale).round() as u64
        }),
        exact: scale.is_none(),
        counts: scan.facets.map(|facets| facets.harvest(scale)),
    })
}

/// Matches are handled in blocks of this many (tantivy hands unscored matches over in
/// blocks of 64; scored ones are gathered into blocks), so that one virtual call reads a
/// column for a whole block.
pub(crate) const BLOCK: usize = 64;

/// A block of matches on their way through the filters.
struct Block {
    len: usize,
    docs: [DocId; BLOCK],
    /// When scored.
    scores: [Score; BLOCK],
    /// The packed categories, when the filters or the facets need them.
    bits: [u64; BLOCK],
    /// Another column's values.
    values: [u64; BLOCK],
}

impl Block {
    fn new() -> Block {
        Block {
            len: 0,
            docs: [0; BLOCK],
            scores: [0.0; BLOCK],
            bits: [0; BLOCK],
            values: [0; BLOCK],
        }
    }

    fn load(&mut self, docs: &[DocId], score: Option<Score>) {
        self.len = docs.len();
        self.docs[..docs.len()].copy_from_slice(docs);
        if let Some(score) = score {
            self.scores[..docs.len()].fill(score);
        }
    }

    /// Adds a scored match; true when the block is full.
    fn push(&mut self, doc: DocId, score: Score) -> bool {
        self.docs[self.len] = doc;
        self.scores[self.len] = score;
        self.len += 1;
        self.len == BLOCK
    }

    /// Reads a column for the block's documents into `values`.
    fn read(&mut self, column: &dyn ColumnValues<u64>) {
        column.get_vals(&self.docs[..self.len], &mut self.values[..self.len]);
    }

    /// Keeps the matches at the positions `keep` accepts, in order.
    #[inline]
    fn retain(&mut self, keep: impl Fn(&Block, usize) -> bool) {
        let mut kept = 0;
        for at in 0..self.len {
            if keep(self, at) {
                self.docs[kept] = self.docs[at];
                self.scores[kept] = self.scores[at];
                self.bits[kept] = self.bits[at];
                kept += 1;
            }
        }
        self.len = kept;
    }
}

/// One segment's pass: the filters, the count, the facets and the top hits.
struct Scan<'a> {
    alive: Option<&'a AliveBitSet>,
    /// The packed categories; read when filtered on or counted.
    bits: Option<Arc<dyn ColumnValues<u64>>>,
    mask: u64,
    value: u64,
    /// Other columns and the inclusive range each must be in.
    ranges: Vec<(Arc<dyn ColumnValues<u64>>, u64, u64)>,
    facets: Option<SegmentFacets>,
    total: u64,
    /// When the total and facets were counted over the first part of the segment only:
    /// what to multiply them by.
    scale: Option<f64>,
    keys: Keys,
    top: TopK,
    block: Block,
}

impl<'a> Scan<'a> {
    fn new(plan: &Plan, reader: &'a SegmentReader) -> tantivy::Result<Scan<'a>> {
        let predicate = &plan.predicate;
        let facets = if plan.facets.is_empty() {
            None
        } else {
            Some(SegmentFacets::new(plan.facets, reader)?)
        };
        let bits = (predicate.mask != 0 || facets.is_some())
            .then(|| u64_column(reader, FACET_BITS))
            .transpose()?;
        let ranges = predicate
            .ranges
            .iter()
            .map(|&(name, low, high)| Ok((u64_column(reader, name)?, low, high)))
            .collect::<tantivy::Result<_>>()?;
        Ok(Scan {
            alive: reader.alive_bitset(),
            bits,
            mask: predicate.mask,
            value: predicate.value,
            ranges,
            facets,
            total: 0,
            scale: None,
            keys: Keys::for_segment(plan.sort, reader)?,
            top: TopK::new(plan.hits, plan.after),
            block: Block::new(),
        })
    }

    fn is_unfiltered(&self) -> bool {
        self.mask == 0 && self.ranges.is_empty()
    }

    /// Drops the block's deleted documents and those the filters refuse.
    fn filter(&mut self) {
        if let Some(alive) = self.alive {
            self.block
                .retain(|block, at| alive.is_alive(block.docs[at]));
        }
        if let Some(bits) = &self.bits {
            let block = &mut self.block;
            bits.get_vals(&block.docs[..block.len], &mut block.bits[..block.len]);
            if self.mask != 0 {
                let (mask, value) = (self.mask, self.value);
                block.retain(|block, at| block.bits[at] & mask == value);
            }
        }
        for (column, low, high) in &self.ranges {
            self.block.read(&**column);
            self.block
                .retain(|block, at| (*low..=*high).contains(&block.values[at]));
        }
    }

    /// Counts the block's matches and their facets.
    fn count(&mut self) {
        let block = &mut self.block;
        self.total += block.len as u64;
        if let Some(facets) = &mut self.facets {
            facets.add(
                &block.docs[..block.len],
                &block.bits[..block.len],
                &mut block.values,
            );
        }
    }

    /// Counts the matches of `counting` (and their facets): all of them, or, past `budget`,
    /// a sample. The segment is read as [`WINDOWS`] equal stretches of documents, and in
    /// each the matches are counted from its start until its share of the budget is
    /// reached; the rest of each stretch is taken to match as its counted part did. The
    /// stretches spread over the segment, not its first part alone, and each is estimated
    /// on its own, so that a word whose assets bunch in time (a season, an event) is not
    /// misjudged by where the segment begins. The facets are scaled as the total is
    /// (`scale`): their shares are the sample's.
    fn count_up_to(
        &mut self,
        counting: &dyn Weight,
        reader: &SegmentReader,
        budget: u64,
    ) -> tantivy::Result<()> {
        let mut matches = counting.scorer(reader, 1.0)?;
        let documents = u64::from(reader.max_doc());
        let per_window = budget.div_ceil(WINDOWS).max(1);
        let mut estimate = 0.0;
        let mut sampled = false;
        let mut docs = [0; BLOCK];
        for window in 0..WINDOWS {
            let start = (documents * window / WINDOWS) as DocId;
            let end = (documents * (window + 1) / WINDOWS) as DocId;
            if matches.doc() < start {
                matches.seek(start);
            }
            let before = self.total;
            let mut reached = end;
            loop {
                let mut found = 0;
                while found < BLOCK && matches.doc() < end {
                    docs[found] = matches.doc();
                    found += 1;
                    matches.advance();
                }
                self.block.load(&docs[..found], None);
                self.filter();
                self.count();
                if matches.doc() >= end {
                    break;
                }
                if self.total - before >= per_window {
                    reached = matches.doc();
                    sampled = true;
                    break;
                }
            }
            let counted = (self.total - before) as f64;
            estimate += counted * f64::from(end - start) / f64::from((reached - start).max(1));
        }
        if sampled && self.total > 0 {
            self.scale = Some(estimate / self.total as f64);
        }
        Ok(())
    }

    /// Offers the block's matches to the top hits.
    fn rank(&mut self) {
        let block = &mut self.block;
        let keys = &self.keys;
        if keys.sort == Sort::Relevance {
            for at in 0..block.len {
                self.top
                    .offer_scored(block.docs[at], block.scores[at], &keys.id);
            }
            return;
        }
        // The first part of the key alone orders most matches: the rest is read only for
        // a match that may enter.
        block.read(&*keys.first);
        for at in 0..block.len {
            let (doc, first) = (block.docs[at], block.values[at]);
            if self.top.may_enter(first) {
                self.top.push(keys.rest(doc, first), doc);
            }
        }
    }

    fn flush(&mut self) {
        self.filter();
        self.count();
        self.rank();
        self.block.len = 0;
    }
}

/// A column read without the per-document detour through its index when every document
/// has a value (as every document has each of ours); otherwise a document without one reads
/// as `missing`.
pub(crate) fn dense(column: Column<u64>, missing: u64) -> Arc<dyn ColumnValues<u64>> {
    match column.index {
        ColumnIndex::Full => column.values,
        _ => column.first_or_default_col(missing),
    }
}

/// A fast field as u64 (an i64 column mapped so that it keeps its order).
fn u64_column(reader: &SegmentReader, name: &str) -> tantivy::Result<Arc<dyn ColumnValues<u64>>> {
    let (column, _) = reader
        .fast_fields()
        .u64_lenient(name)?
        .ok_or_else(|| tantivy::TantivyError::SchemaError(format!("{name} is not a fast field")))?;
    Ok(dense(column, 0))
}

/// The filters checked per document: the categories as a mask over the packed bits, sizes
/// and dates as ranges.
#[derive(Clone, Debug, Default)]
pub(crate) struct Predicate {
    mask: u64,
    value: u64,
    /// A fast field and the inclusive range (in its u64 mapping) its value must be in.
    ranges: Vec<(&'static str, u64, u64)>,
}

impl Predicate {
    /// Every filter but the author (which is a query: it is selective, and its posting list
    /// drives better than a check of every candidate).
    pub fn of(filters: &Filters) -> Predicate {
        let (mask, value) = FacetBits::required(filters);
        let mut ranges = Vec::new();
        if let Some(min) = filters.min_width {
            ranges.push((WIDTH, u64::from(min), u64::MAX));
        }
        if let Some(min) = filters.min_height {
            ranges.push((HEIGHT, u64::from(min), u64::MAX));
        }
        if filters.created_from.is_some() || filters.created_to.is_some() {
            let from = filters.created_from.unwrap_or(i64::MIN).to_u64();
            // `created_to` is exclusive; nothing is before i64::MIN.
            let (low, high) = match filters.created_to.map(|to| to.to_u64().checked_sub(1)) {
                None => (from, u64::MAX),
                Some(Some(high)) => (from, high),
                Some(None) => (1, 0),
            };
            ranges.push((CREATED_AT, low, high));
        }
        Predicate {
            mask,
            value,
            ranges,
        }
    }
}

/// The columns a sort key is read from.
struct Keys {
    sort: Sort,
    id: Arc<dyn ColumnValues<u64>>,
    /// Newest: the creation time; popular: the downloads. (Relevance: unused.)
    first: Arc<dyn ColumnValues<u64>>,
    /// Popular: the creation time.
    second: Option<Arc<dyn ColumnValues<u64>>>,
}

impl Keys {
    fn for_segment(sort: Sort, reader: &SegmentReader) -> tantivy::Result<Keys> {
        let id = u64_column(reader, ID_KEY)?;
        let (first, second) = match sort {
            Sort::Relevance => (Arc::clone(&id), None),
            Sort::Newest => (u64_column(reader, CREATED_AT)?, None),
            Sort::Popular => (
                u64_column(reader, DOWNLOADS)?,
                Some(u64_column(reader, CREATED_AT)?),
            ),
        };
        Ok(Keys {
            sort,
            id,
            first,
            second,
        })
    }

    /// The whole key of an unscored order, its first part known.
    #[inline]
    fn rest(&self, doc: DocId, first: u64) -> Key {
        let id = self.id.get_val(doc);
        match &self.second {
            Some(second) => (first, second.get_val(doc), id),
            None => (first, id, 0),
        }
    }
}

/// The best `want` keys seen so far: appended to a buffer of twice that, which is cut back
/// to the best `want` (a selection, not a sort) when full; what cannot beat the worst kept
/// key is not appended.
struct TopK {
    want: usize,
    items: Vec<(Key, DocId)>,
    /// The worst kept key, once `want` are kept.
    threshold: Option<Key>,
    /// Only keys below this enter (a cursor's position: what came before it was shown).
    after: Option<Key>,
}

impl TopK {
    fn new(want: usize, after: Option<Key>) -> TopK {
        let want = want.max(1);
        TopK {
            want,
            items: Vec::with_capacity(want.min(1024) * 2),
            threshold: None,
            after,
        }
    }

    #[inline]
    fn offer_scored(&mut self, doc: DocId, score: Score, id: &Arc<dyn ColumnValues<u64>>) {
        // A BM25 score is never negative; as bits, non-negative floats order as numbers.
        let first = if score > 0.0 {
            u64::from(score.to_bits())
        } else {
            0
        };
        if self.may_enter(first) {
            self.push((first, id.get_val(doc), 0), doc);
        }
    }

    /// Whether a key that starts so may still beat the worst kept one.
    #[inline]
    fn may_enter(&self, first: u64) -> bool {
        self.threshold.is_none_or(|threshold| first >= threshold.0)
            && self.after.is_none_or(|after| first <= after.0)
    }

    #[inline]
    fn push(&mut self, key: Key, doc: DocId) {
        if self.threshold.is_some_and(|threshold| key <= threshold)
            || self.after.is_some_and(|after| key >= after)
        {
            return;
        }
        self.items.push((key, doc));
        if self.items.len() >= self.want * 2 {
            self.cut();
        }
    }

    fn cut(&mut self) {
        if self.items.len() > self.want {
            self.items
                .select_nth_unstable_by(self.want - 1, |a, b| b.0.cmp(&a.0));
            self.items.truncate(self.want);
            self.threshold = self.items.iter().map(|(key, _)| *key).min();
        }
    }

    /// The score below which nothing can enter: just under the worst kept score, so that an
    /// equal score (which the id may still decide for) is still offered.
    fn score_threshold(&self) -> Score {
        match self.threshold {
            Some((bits, _, _)) if bits > 0 => Score::from_bits(bits as u32 - 1),
            _ => Score::NEG_INFINITY,
        }
    }

    /// The threshold for a ranking query whose score of a hit may differ from the hit's
    /// own in the last bits (the same terms' scores, summed in another order): a little
    /// lower, so that no hit that could still enter is passed over.
    fn ranking_threshold(&self) -> Score {
        let threshold = self.score_threshold();
        if threshold.is_finite() {
            threshold - threshold.abs() * 1e-4
        } else {
            threshold
        }
    }

    fn into_sorted(mut self) -> Vec<(Key, DocId)> {
        self.cut();
        self.items
            .sort_unstable_by_key(|&(key, _)| std::cmp::Reverse(key));
        self.items
    }
}
