//! The tantivy schema, its analyzers, and how an `AssetDoc` becomes a tantivy document.
//!
//! An asset's words go into one field, `text`, stemmed by the rules of the language they
//! are written in (the document is tokenized here, by the asset's language's analyzer). A
//! query word is stemmed both ways and looked up as either stem, so a German "Häuser"
//! finds a German asset's "Haus" and an English "houses" an English "house"; where the two
//! stems agree (most words), the word is one posting list.
//!
//! Title, keywords and description share that field, the title written into it three
//! times and the keywords twice: BM25's term frequency then weighs a title match above a
//! keyword match above a description match, while a word costs one posting list instead
//! of one per field and language (a word in three quarters of a million assets is scored
//! and counted several times faster that way).
//! `exact` holds every word unstemmed (lower case, accents folded), with positions: it
//! serves "quoted phrases", rewards a query word's exact form, and is the vocabulary the
//! spelling help draws from.

use tantivy::schema::{
    BytesOptions, FAST, Field, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language as StemLanguage, LowerCaser, PreTokenizedString, RemoveLongFilter,
    SimpleTokenizer, Stemmer, TextAnalyzer, Token, TokenizerManager,
};
use tantivy::{Index, TantivyDocument};

use stockroom_vocab::Language;

use crate::document::AssetDoc;

pub(crate) const ANALYZER_EN: &str = "stockroom_en";
pub(crate) const ANALYZER_DE: &str = "stockroom_de";
pub(crate) const ANALYZER_EXACT: &str = "stockroom_exact";
/// Longer tokens are dropped: nobody searches for them and they bloat the dictionary.
const MAX_TOKEN_BYTES: usize = 40;

/// Names of the fast fields the collectors read.
pub(crate) const ID_KEY: &str = "id_key";
pub(crate) const FACET_BITS: &str = "facet_bits";
pub(crate) const AUTHOR: &str = "author";
pub(crate) const CREATED_AT: &str = "created_at";
pub(crate) const DOWNLOADS: &str = "downloads";
pub(crate) const WIDTH: &str = "width";
pub(crate) const HEIGHT: &str = "height";

/// How many times the title and each keyword are written into the text field (the
/// description once): the field weights, by term frequency.
pub(crate) const TITLE_REPEATS: usize = 3;
pub(crate) const KEYWORD_REPEATS: usize = 2;

#[derive(Clone, Debug)]
pub(crate) struct Fields {
    pub schema: Schema,
    pub id: Field,
    pub id_key: Field,
    pub card: Field,
    pub text: Field,
    pub exact: Field,
    pub author: Field,
    pub facet_bits: Field,
    pub width: Field,
    pub height: Field,
    pub created_at: Field,
    pub downloads: Field,
}

impl Fields {
    pub fn new() -> Fields {
        let mut builder = Schema::builder();
        let stemmed = |analyzer: &str| {
            TextOptions::default().set_indexing_options(
                TextFieldIndexing::default()
                    .set_tokenizer(analyzer)
                    .set_index_option(IndexRecordOption::WithFreqs),
            )
        };
        // Filled pre-tokenized (by language), so the field's own tokenizer is never used.
        let text = builder.add_text_field("text", stemmed(ANALYZER_EN));
        let exact = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER_EXACT)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let id = builder.add_text_field("id", STRING);
        let id_key = builder.add_u64_field(ID_KEY, FAST);
        let card = builder.add_bytes_field("card", BytesOptions::default().set_stored());
        let exact = builder.add_text_field("exact", exact);
        let author = builder.add_text_field(AUTHOR, STRING | FAST);
        let facet_bits = builder.add_u64_field(FACET_BITS, FAST);
        let width = builder.add_u64_field(WIDTH, FAST);
        let height = builder.add_u64_field(HEIGHT, FAST);
        let created_at = builder.add_i64_field(CREATED_AT, FAST);
        let downloads = builder.add_u64_field(DOWNLOADS, FAST);
        Fields {
            schema: builder.build(),
            id,
            id_key,
            card,
            text,
            exact,
            author,
            facet_bits,
            width,
            height,
            created_at,
            downloads,
        }
    }

    pub fn document(
        &self,
        asset: &AssetDoc,
        analyzers: &mut Analyzers,
    ) -> serde_json::Result<TantivyDocument> {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, &asset.id);
        doc.add_u64(self.id_key, id_key(&asset.id));
        doc.add_bytes(self.card, &serde_json::to_vec(asset)?);
        doc.add_pre_tokenized_text(self.text, stemmed_text(asset, analyzers));
        doc.add_text(self.exact, &asset.title);
        doc.add_text(self.exact, &asset.description);
        for keyword in &asset.keywords {
            doc.add_text(self.exact, keyword);
        }
        doc.add_text(self.author, &asset.author.id);
        doc.add_u64(self.facet_bits, crate::facets::FacetBits::of(asset).0);
        doc.add_u64(self.width, u64::from(asset.width));
        doc.add_u64(self.height, u64::from(asset.height));
        doc.add_i64(self.created_at, asset.created_at);
        doc.add_u64(self.downloads, asset.downloads);
        Ok(doc)
    }
}

/// The asset's title (three times), keywords (twice each) and description, tokenized and
/// stemmed by its language's analyzer.
fn stemmed_text(asset: &AssetDoc, analyzers: &mut Analyzers) -> PreTokenizedString {
    let analyzer = match asset.language {
        Language::En => &mut analyzers.en,
        Language::De => &mut analyzers.de,
    };
    let mut tokens: Vec<Token> = Vec::new();
    let mut push = |text: &str| {
        let mut stream = analyzer.token_stream(text);
        while stream.advance() {
            let mut token = stream.token().clone();
            token.position = tokens.len();
            tokens.push(token);
        }
    };
    for _ in 0..TITLE_REPEATS {
        push(&asset.title);
    }
    for keyword in &asset.keywords {
        for _ in 0..KEYWORD_REPEATS {
            push(keyword);
        }
    }
    push(&asset.description);
    PreTokenizedString {
        text: String::new(),
        tokens,
    }
}

/// A stable 64-bit key of an id (FNV-1a): the last tie-break of every sort, so equal
/// scores and dates keep one order across pages and segment merges.
pub(crate) fn id_key(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Registers the three analyzers on an index.
pub(crate) fn register_analyzers(index: &Index) {
    register(index.tokenizers());
}

fn register(manager: &TokenizerManager) {
    manager.register(ANALYZER_EN, analyzer(Some(StemLanguage::English)));
    manager.register(ANALYZER_DE, analyzer(Some(StemLanguage::German)));
    manager.register(ANALYZER_EXACT, analyzer(None));
}

/// Words (Unicode letters and digits), lower-cased, stemmed when a language is given, and
/// folded to ASCII. German is stemmed before folding: its stemmer reads the umlauts.
fn analyzer(stem: Option<StemLanguage>) -> TextAnalyzer {
    let builder = TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(MAX_TOKEN_BYTES))
        .filter(LowerCaser);
    match stem {
        Some(language) => builder
            .filter(Stemmer::new(language))
            .filter(AsciiFoldingFilter)
            .build(),
        None => builder.filter(AsciiFoldingFilter).build(),
    }
}

/// The analyzers, for turning query text into the terms the index holds.
#[derive(Clone)]
pub(crate) struct Analyzers {
    pub en: TextAnalyzer,
    pub de: TextAnalyzer,
    pub exact: TextAnalyzer,
}

impl std::fmt::Debug for Analyzers {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("Analyzers")
    }
}

impl Analyzers {
    pub fn new() -> Analyzers {
        Analyzers {
            en: analyzer(Some(StemLanguage::English)),
            de: analyzer(Some(StemLanguage::German)),
            exact: analyzer(None),
        }
    }

    /// The terms `text` becomes under `analyzer`.
    pub fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
        let mut stream = analyzer.token_stream(text);
        let mut tokens = Vec::new();
        while stream.advance() {
            tokens.push(stream.token().text.clone());
        }
        tokens
    }
}
