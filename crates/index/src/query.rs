//! What users type, turned into a tantivy query. Parsing cannot fail: anything that is not
//! a word, a "quoted phrase" or a `-exclusion` is read as spacing.
//!
//! Every word must match (in the title, keywords or description, stemmed as the asset's
//! language stems it); title matches weigh most, then keywords, then the description (see
//! `schema.rs` for how). A phrase must occur as written (unstemmed, in order). An exclusion
//! drops assets that match the word or phrase anywhere.

use tantivy::Term;
use tantivy::query::{BooleanQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::IndexRecordOption;

use crate::schema::{Analyzers, Fields};

/// Words beyond these are ignored: a query is a search, not a document.
pub(crate) const MAX_CLAUSES: usize = 32;
const MAX_PHRASE_WORDS: usize = 16;

/// One part of a user's query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Clause {
    /// A single word, as typed (lower-cased).
    Word(String),
    /// Words that must appear in this order.
    Phrase(Vec<String>),
}

/// A user's query, read.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UserQuery {
    pub required: Vec<Clause>,
    pub excluded: Vec<Clause>,
}

impl UserQuery {
    /// Reads `text`. Quotes pair up; an unpaired quote runs to the end. A `-` right before
    /// a word or a quote excludes it. A word that the tokenizer splits (`black-and-white`,
    /// `e-mail`) is read as a phrase of its parts.
    pub fn parse(text: &str, analyzers: &mut Analyzers) -> UserQuery {
        let mut query = UserQuery::default();
        let mut rest = text;
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            rest = &rest[start..];
            let negated = rest.starts_with('-');
            if negated {
                rest = &rest[1..];
            }
            let (chunk, quoted, after) = if let Some(inner) = rest.strip_prefix('"') {
                let end = inner.find('"').unwrap_or(inner.len());
                let after = inner.get(end + 1..).unwrap_or("");
                (&inner[..end], true, after)
            } else {
                let end = rest
                    .find(|c: char| c.is_whitespace() || c == '"')
                    .unwrap_or(rest.len());
                (&rest[..end], false, &rest[end..])
            };
            rest = after;
            let mut words = Analyzers::tokens(&mut analyzers.exact, chunk);
            let clause = match words.len() {
                0 => continue,
                1 if !quoted => Clause::Word(
                    chunk
                        .trim_matches(|c: char| !c.is_alphanumeric())
                        .to_lowercase(),
                ),
                1 => Clause::Word(words.remove(0)),
                _ => {
                    words.truncate(MAX_PHRASE_WORDS);
                    Clause::Phrase(words)
                }
            };
            let into = if negated {
                &mut query.excluded
            } else {
                &mut query.required
            };
            if into.len() < MAX_CLAUSES && !into.contains(&clause) {
                into.push(clause);
            }
        }
        query
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.required.is_empty() && self.excluded.is_empty()
    }

    /// One word alone, nothing excluded: a term or a union of two stems, which tantivy can
    /// rank by block maxima without scoring every match.
    pub fn is_one_word(&self) -> bool {
        matches!(self.required.as_slice(), [Clause::Word(_)]) && self.excluded.is_empty()
    }

    /// Words alone (no phrase, nothing excluded): each word's stems as terms. `None` for
    /// anything else.
    pub fn word_terms(&self, fields: &Fields, analyzers: &mut Analyzers) -> Option<Vec<Vec<Term>>> {
        if self.required.is_empty() || !self.excluded.is_empty() {
            return None;
        }
        self.required
            .iter()
            .map(|clause| match clause {
                Clause::Word(word) => Some(
                    stems(word, analyzers)
                        .iter()
                        .map(|stem| Term::from_field_text(fields.text, stem))
                        .collect(),
                ),
                Clause::Phrase(_) => None,
            })
            .collect()
    }

    /// The tantivy queries of the required and the excluded clauses.
    pub fn to_queries(&self, fields: &Fields, analyzers: &mut Analyzers) -> TextQueries {
        let mut query = |clause| clause_query(clause, fields, analyzers);
        TextQueries {
            required: self.required.iter().map(&mut query).collect(),
            excluded: self.excluded.iter().map(&mut query).collect(),
        }
    }
}

/// A user query as tantivy queries.
pub(crate) struct TextQueries {
    /// Each required clause (none: match every asset).
    pub required: Vec<Box<dyn Query>>,
    /// Each excluded clause.
    pub excluded: Vec<Box<dyn Query>>,
}

fn clause_query(clause: &Clause, fields: &Fields, analyzers: &mut Analyzers) -> Box<dyn Query> {
    match clause {
        Clause::Word(word) => word_query(word, fields, analyzers),
        Clause::Phrase(words) => {
            let terms = words
                .iter()
                .map(|word| Term::from_field_text(fields.exact, word))
                .collect();
            Box::new(PhraseQuery::new(terms))
        }
    }
}

/// The union of every word's stems ([`UserQuery::word_terms`]), which scores an asset that
/// has all the words as the words' intersection does (a sum over the terms it holds, up to
/// the order of the sum), and which tantivy ranks by block maxima (block-max WAND) without
/// scoring every match. The search ranks a broad intersection's matches by it
/// (`collect.rs`).
pub(crate) fn ranking_query(words: &[Vec<Term>]) -> Box<dyn Query> {
    let terms = words
        .iter()
        .flatten()
        .map(|term| {
            let query: Box<dyn Query> =
                Box::new(TermQuery::new(term.clone(), IndexRecordOption::WithFreqs));
            (Occur::Should, query)
        })
        .collect();
    Box::new(BooleanQuery::new(terms))
}

/// A word's stems: as English stems it, and as German does when that differs.
fn stems(word: &str, analyzers: &mut Analyzers) -> Vec<String> {
    let mut stems = Analyzers::tokens(&mut analyzers.en, word);
    stems.truncate(1);
    stems.extend(
        Analyzers::tokens(&mut analyzers.de, word)
            .into_iter()
            .take(1),
    );
    stems.dedup();
    stems
}

/// One word, as either language stems it.
fn word_query(word: &str, fields: &Fields, analyzers: &mut Analyzers) -> Box<dyn Query> {
    let mut terms: Vec<(Occur, Box<dyn Query>)> = stems(word, analyzers)
        .iter()
        .map(|stem| {
            let term = Term::from_field_text(fields.text, stem);
            let query: Box<dyn Query> =
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs));
            (Occur::Should, query)
        })
        .collect();
    match terms.len() {
        1 => terms.remove(0).1,
        _ => Box::new(BooleanQuery::new(terms)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> UserQuery {
        UserQuery::parse(text, &mut Analyzers::new())
    }

    fn word(text: &str) -> Clause {
        Clause::Word(text.into())
    }

    fn phrase(words: &[&str]) -> Clause {
        Clause::Phrase(words.iter().map(|word| word.to_string()).collect())
    }

    #[test]
    fn words_phrases_and_exclusions() {
        let query = parse(r#"Red  "old car" -rust -"for sale" Häuser"#);
        assert_eq!(
            query.required,
            vec![word("red"), phrase(&["old", "car"]), word("häuser")]
        );
        assert_eq!(query.excluded, vec![word("rust"), phrase(&["for", "sale"])]);
    }

    #[test]
    fn odd_input_is_spacing_not_an_error() {
        for text in [
            "",
            "   ",
            "-",
            "--",
            "\"",
            "\"\"",
            "- \"",
            "((",
            "AND OR NOT",
            "title:x",
            "*",
            "a\u{0}b",
        ] {
            let query = parse(text);
            for clause in query.required.iter().chain(&query.excluded) {
                match clause {
                    Clause::Word(word) => assert!(!word.is_empty(), "{text:?}"),
                    Clause::Phrase(words) => assert!(words.len() > 1, "{text:?}"),
                }
            }
        }
        assert!(parse("((").is_empty());
        assert_eq!(
            parse("\"unclosed phrase here").required,
            vec![phrase(&["unclosed", "phrase", "here"])]
        );
        assert_eq!(parse("title:x").required, vec![phrase(&["title", "x"])]);
        assert_eq!(
            parse("black-and-white").required,
            vec![phrase(&["black", "and", "white"])]
        );
    }

    #[test]
    fn repeated_clauses_count_once_and_long_queries_are_cut() {
        assert_eq!(parse("sea sea SEA").required, vec![word("sea")]);
        let long: Vec<String> = (0..100).map(|n| format!("w{n}")).collect();
        assert_eq!(parse(&long.join(" ")).required.len(), MAX_CLAUSES);
    }
}
