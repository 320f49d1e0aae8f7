//! The tantivy schema, its analyzers, and how an `AssetDoc` becomes a tantivy document.
//!
//! Text goes into fields by the asset's language: `*_en` fields are stemmed as English,
//! `*_de` as German, so each asset's words are stemmed by the rules of the language they
//! are written in. A query word is stemmed both ways and looked up in both, so a German
//! "Häuser" finds a German asset's "Haus" and an English "houses" an English "house".
//! `exact` holds every word unstemmed (lower case, accents folded), with positions: it
//! serves "quoted phrases", rewards a query word's exact form, and is the vocabulary the
//! spelling help draws from.

use tantivy::schema::{
    BytesOptions, FAST, Field, INDEXED, IndexRecordOption, NumericOptions, STRING, Schema,
    TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language as StemLanguage, LowerCaser, RemoveLongFilter, SimpleTokenizer,
    Stemmer, TextAnalyzer, TokenizerManager,
};
use tantivy::{Index, TantivyDocument};

use crate::document::{AssetDoc, Language};

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

/// The text fields of one language.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LanguageFields {
    pub title: Field,
    pub keywords: Field,
    pub description: Field,
}

#[derive(Clone, Debug)]
pub(crate) struct Fields {
    pub schema: Schema,
    pub id: Field,
    pub id_key: Field,
    pub card: Field,
    pub en: LanguageFields,
    pub de: LanguageFields,
    pub exact: Field,
    pub author: Field,
    pub orientation: Field,
    pub collection: Field,
    pub kind: Field,
    pub editorial_only: Field,
    pub model_release: Field,
    pub property_release: Field,
    pub color: Field,
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
        let mut language = |suffix: &str, analyzer: &str| LanguageFields {
            title: builder.add_text_field(&format!("title_{suffix}"), stemmed(analyzer)),
            keywords: builder.add_text_field(&format!("keywords_{suffix}"), stemmed(analyzer)),
            description: builder
                .add_text_field(&format!("description_{suffix}"), stemmed(analyzer)),
        };
        let en = language("en", ANALYZER_EN);
        let de = language("de", ANALYZER_DE);
        let exact = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(ANALYZER_EXACT)
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        );
        let filter = NumericOptions::default().set_indexed();
        let number = || NumericOptions::default().set_indexed().set_fast();
        let id = builder.add_text_field("id", STRING);
        let id_key = builder.add_u64_field(ID_KEY, FAST);
        let card = builder.add_bytes_field("card", BytesOptions::default().set_stored());
        let exact = builder.add_text_field("exact", exact);
        let author = builder.add_text_field(AUTHOR, STRING | FAST);
        let orientation = builder.add_u64_field("orientation", filter.clone());
        let collection = builder.add_u64_field("collection", filter.clone());
        let kind = builder.add_u64_field("kind", filter.clone());
        let editorial_only = builder.add_u64_field("editorial_only", filter.clone());
        let model_release = builder.add_u64_field("model_release", filter.clone());
        let property_release = builder.add_u64_field("property_release", filter);
        let color = builder.add_u64_field("color", INDEXED);
        let facet_bits = builder.add_u64_field(FACET_BITS, FAST);
        let width = builder.add_u64_field("width", number());
        let height = builder.add_u64_field("height", number());
        let created_at = builder.add_i64_field(CREATED_AT, number());
        let downloads = builder.add_u64_field(DOWNLOADS, FAST);
        Fields {
            schema: builder.build(),
            id,
            id_key,
            card,
            en,
            de,
            exact,
            author,
            orientation,
            collection,
            kind,
            editorial_only,
            model_release,
            property_release,
            color,
            facet_bits,
            width,
            height,
            created_at,
            downloads,
        }
    }

    pub fn language(&self, language: Language) -> LanguageFields {
        match language {
            Language::En => self.en,
            Language::De => self.de,
        }
    }

    pub fn document(&self, asset: &AssetDoc) -> serde_json::Result<TantivyDocument> {
        let mut doc = TantivyDocument::default();
        doc.add_text(self.id, &asset.id);
        doc.add_u64(self.id_key, id_key(&asset.id));
        doc.add_bytes(self.card, &serde_json::to_vec(asset)?);
        let text = self.language(asset.language);
        doc.add_text(text.title, &asset.title);
        doc.add_text(text.description, &asset.description);
        doc.add_text(self.exact, &asset.title);
        doc.add_text(self.exact, &asset.description);
        for keyword in &asset.keywords {
            doc.add_text(text.keywords, keyword);
            doc.add_text(self.exact, keyword);
        }
        doc.add_text(self.author, &asset.author.id);
        doc.add_u64(self.orientation, asset.orientation().code());
        doc.add_u64(self.collection, asset.collection.code());
        doc.add_u64(self.kind, asset.kind.code());
        doc.add_u64(self.editorial_only, u64::from(asset.editorial_only));
        doc.add_u64(self.model_release, u64::from(asset.model_release));
        doc.add_u64(self.property_release, u64::from(asset.property_release));
        for color in &asset.colors {
            doc.add_u64(self.color, color.code());
        }
        doc.add_u64(self.facet_bits, crate::facets::FacetBits::of(asset).0);
        doc.add_u64(self.width, u64::from(asset.width));
        doc.add_u64(self.height, u64::from(asset.height));
        doc.add_i64(self.created_at, asset.created_at);
        doc.add_u64(self.downloads, asset.downloads);
        Ok(doc)
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
