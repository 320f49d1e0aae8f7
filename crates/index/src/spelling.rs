//! Spelling help: for a query word the index has never seen, the closest word it has.
//!
//! The `exact` field's term dictionary is an FST; a Levenshtein automaton walks it and
//! visits only the terms within the allowed distance, so a suggestion costs a small part of
//! a search even over millions of assets.

use std::collections::HashMap;
use std::sync::OnceLock;

use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use tantivy::{Searcher, Term};
use tantivy_fst::Automaton;

use crate::Result;
use crate::schema::Fields;

/// Words this short get no suggestion (too many neighbours to guess from).
const MIN_WORD_CHARS: usize = 3;

/// One edit for words up to 5 characters, two beyond: "ses" is not "sea" but "mountian" is
/// "mountain".
fn max_distance(word: &str) -> u8 {
    if word.chars().count() <= 5 { 1 } else { 2 }
}

fn builder(distance: u8) -> &'static LevenshteinAutomatonBuilder {
    static ONE: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    static TWO: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    let cell = if distance <= 1 { &ONE } else { &TWO };
    // Transpositions count as one edit ("mountian").
    cell.get_or_init(|| LevenshteinAutomatonBuilder::new(distance.max(1), true))
}

struct Within<'a>(&'a DFA);

impl Automaton for Within<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

/// The indexed word closest to `word` (an `exact`-analyzed term that no asset has): fewest
/// edits, then most assets, then alphabetical. `None` when nothing is close enough.
pub(crate) fn closest_term(
    searcher: &Searcher,
    fields: &Fields,
    word: &str,
) -> Result<Option<String>> {
    if word.chars().count() < MIN_WORD_CHARS {
        return Ok(None);
    }
    let dfa = builder(max_distance(word)).build_dfa(word);
    // Doc frequencies summed over segments, by term.
    let mut candidates: HashMap<String, (u8, u64)> = HashMap::new();
    for segment in searcher.segment_readers() {
        let inverted = segment.inverted_index(fields.exact)?;
        let mut stream = inverted.terms().search(Within(&dfa)).into_stream()?;
        while stream.advance() {
            let Ok(term) = std::str::from_utf8(stream.key()) else {
                continue;
            };
            let distance = dfa.eval(term).to_u8();
            let entry = candidates.entry(term.to_string()).or_insert((distance, 0));
            entry.1 += u64::from(stream.value().doc_freq);
        }
    }
    let best = candidates
        .into_iter()
        .filter(|(term, _)| term != word)
        .min_by(|(a, (a_distance, a_docs)), (b, (b_distance, b_docs))| {
            a_distance
                .cmp(b_distance)
                .then(b_docs.cmp(a_docs))
                .then_with(|| a.cmp(b))
        });
    Ok(best.map(|(term, _)| term))
}

/// Whether any live asset has `word` in its `exact` field.
pub(crate) fn is_known(searcher: &Searcher, fields: &Fields, word: &str) -> Result<bool> {
    Ok(searcher.doc_freq(&Term::from_field_text(fields.exact, word))? > 0)
}
