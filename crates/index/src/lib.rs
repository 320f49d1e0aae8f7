//! `stockroom-index`: keyword search over active assets, on tantivy.
//!
//! An asset's title, keywords and description are indexed stemmed by its language (English
//! or German) and unstemmed; its categories, sizes and dates are filterable, sortable and
//! counted as facets in the same pass as the top hits. What users type cannot fail to parse
//! (see `query.rs`); when it finds nothing, the closest known word is suggested.
//!
//! Writes are near-real-time: [`SearchIndex::upsert`] is searchable within the commit
//! interval (a background thread commits at most that often, and searches keep reading the
//! last commit meanwhile); [`SearchIndex::remove`] commits before it returns, so a
//! withdrawn or taken-down asset leaves search at once. The index holds only what search
//! shows; the catalogue stays the source of truth, and `stockroom reindex` rebuilds the
//! index from it. It does no HTTP and knows nothing of members or licences.
//!
//! ```no_run
//! use stockroom_index::{SearchIndex, SearchRequest, Options};
//! # fn main() -> stockroom_index::Result<()> {
//! let index = SearchIndex::open("data/index".as_ref(), Options::default())?;
//! let found = index.search(&SearchRequest::words("\"old car\" -rust"))?;
//! println!("{} assets, first: {:?}", found.total, found.results.first().map(|hit| &hit.title));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod collect;
mod document;
mod error;
mod facets;
mod query;
mod request;
mod schema;
mod spelling;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rayon::prelude::*;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::indexer::{LogMergePolicy, NoMergePolicy};
use tantivy::query::{AllQuery, BooleanQuery, ConstScoreQuery, Occur, Query, TermQuery};
use tantivy::schema::{IndexRecordOption, Value};
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, ReloadPolicy, Searcher, TantivyDocument, Term,
};

pub use document::{AssetDoc, Author, Color, Kind, Orientation};
pub use error::{ErrorClass, IndexError, Result};

/// An asset's place in the `newest` listing: its upload time, then the tie-break every
/// sort ends in. Assets listed later have smaller keys.
pub fn listing_key(created_at: i64, id: &str) -> (i64, u64) {
    (created_at, schema::id_key(id))
}
pub use facets::{FacetField, Facets};
pub use request::{DEFAULT_PER_PAGE, Filters, MAX_PAGE, MAX_PER_PAGE, SearchRequest, Sort};

use crate::query::{Clause, TextQueries, UserQuery};
use crate::schema::{Analyzers, Fields};

/// Documents an upsert prepares per parallel task (as many or fewer are prepared on the
/// caller's thread).
const DOCUMENTS_PER_TASK: usize = 64;

/// How often `merge_segments` starts over when a background merge got there first.
const MERGE_ATTEMPTS: u32 = 50;

/// How the index is opened.
#[derive(Clone, Debug)]
pub struct Options {
    /// Search only: no writer, so no lock (other processes may write meanwhile), and the
    /// reader follows their commits.
    pub read_only: bool,
    /// Upserts become searchable within this long (a thread commits them). `None`: only
    /// an explicit `commit` (or `remove`) commits, and what was not committed when the
    /// index is dropped is discarded, as a rebuild wants when it fails halfway.
    pub commit_interval: Option<Duration>,
    /// The writer's indexing memory, split over its threads (tantivy needs ≥ 15 MB each).
    pub writer_memory_bytes: usize,
    /// Indexing threads of the writer.
    pub writer_threads: usize,
    /// Merge segments in the background as they accumulate (tantivy's log merge policy).
    /// A rebuild turns this off and merges once at the end (`merge_segments`).
    pub background_merges: bool,
    /// An index built with another schema (an older build) is discarded and started anew,
    /// as a rebuild wants, instead of refused.
    pub discard_outdated: bool,
    /// Threads a single search spreads its segments over (default: the CPUs, up to 4).
    /// One query at a time then finishes sooner; many at once keep every CPU busy anyway.
    pub search_threads: usize,
    /// A search ranked by relevance counts its matches (and their facets) exactly up to
    /// about this many; past it, the total and the facet counts are estimated from a
    /// sample spread over each segment ([`SearchResults::total_exact`] false), as stock
    /// sites show "about 1,000,000 results", so that a broad search costs about its page,
    /// not its millions of matches. `u64::MAX`: always exact.
    pub exact_totals_up_to: u64,
}

/// [`Options::exact_totals_up_to`] by default.
pub const EXACT_TOTALS_UP_TO: u64 = 10_000;

impl Default for Options {
    fn default() -> Options {
        Options {
            read_only: false,
            commit_interval: Some(Duration::from_millis(500)),
            writer_memory_bytes: 64 << 20,
            writer_threads: 1,
            background_merges: true,
            discard_outdated: false,
            search_threads: std::thread::available_parallelism().map_or(1, |n| n.get().min(4)),
            exact_totals_up_to: EXACT_TOTALS_UP_TO,
        }
    }
}

impl Options {
    /// Options for searching only: no writer, no lock on the directory.
    pub fn read_only() -> Options {
        Options {
            read_only: true,
            ..Options::default()
        }
    }

    /// For rebuilding the whole index: more memory and threads, fewer, larger segments,
    /// nothing committed before the rebuild says so (the old index serves meanwhile), and
    /// an index of an outdated schema discarded.
    pub fn bulk() -> Options {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
        Options {
            writer_memory_bytes: 256 << 20,
            writer_threads: threads,
            background_merges: false,
            commit_interval: None,
            discard_outdated: true,
            ..Options::default()
        }
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SearchResults {
    /// Every match, not only this page's.
    pub total: u64,
    /// Whether `total` and the facet counts are exact; false when they were estimated
    /// from a sample of the matches ([`Options::exact_totals_up_to`]).
    pub total_exact: bool,
    /// The page, from 1.
    pub page: u32,
    /// Results per page.
    pub per_page: u32,
    /// This page's assets, in the requested order.
    pub results: Vec<AssetDoc>,
    /// Counts for the requested facet fields, over every match.
    pub facets: Facets,
    /// When nothing matched and a word is unknown: the query with that word replaced by the
    /// closest indexed one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggestion: Option<String>,
    /// The cursor to the page after this one (`SearchRequest::cursor`); none when this page
    /// was not full.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The keyword index of one data directory.
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    analyzers: Analyzers,
    /// `None` when opened read-only.
    shared: Option<Arc<Shared>>,
    /// Threads one search uses, one segment each.
    search_threads: usize,
    /// See [`Options::exact_totals_up_to`].
    exact_totals_up_to: u64,
    committer: Option<(mpsc::Sender<()>, JoinHandle<()>)>,
}

/// What the committer thread shares with the index.
struct Shared {
    writer: Mutex<IndexWriter>,
    reader: IndexReader,
    dirty: AtomicBool,
    /// A background commit that failed, reported by the next write.
    failed: Mutex<Option<IndexError>>,
}

impl std::fmt::Debug for SearchIndex {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SearchIndex")
            .field("docs", &self.reader.searcher().num_docs())
            .finish_non_exhaustive()
    }
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it if the directory holds none. An index built
    /// with another schema is refused ([`IndexError::OutdatedSchema`]).
    pub fn open(dir: &Path, options: Options) -> Result<SearchIndex> {
        std::fs::create_dir_all(dir).map_err(|source| IndexError::Io {
            what: "creating",
            path: dir.display().to_string(),
            source,
        })?;
        let fields = Fields::new();
        let mut directory = MmapDirectory::open(dir)?;
        let mut exists = Index::exists(&directory).map_err(tantivy::TantivyError::from)?;
        if exists && Index::open(directory.clone())?.schema() != fields.schema {
            if !options.discard_outdated {
                return Err(IndexError::OutdatedSchema {
                    path: dir.display().to_string(),
                });
            }
            // A rebuild replaces an index this build cannot read anyway: start empty.
            drop(directory);
            discard(dir)?;
            directory = MmapDirectory::open(dir)?;
            exists = false;
        }
        let mut index = if exists {
            Index::open(directory)?
        } else {
            Index::create(directory, fields.schema.clone(), Default::default())?
        };
        schema::register_analyzers(&index);
        let search_threads = options.search_threads.max(1);
        if search_threads > 1 {
            index.set_multithread_executor(search_threads)?;
        }
        let reader: IndexReader = index
            .reader_builder()
            .reload_policy(if options.read_only {
                ReloadPolicy::OnCommitWithDelay
            } else {
                ReloadPolicy::Manual
            })
            .try_into()?;
        let mut opened = SearchIndex {
            index,
            reader,
            fields,
            analyzers: Analyzers::new(),
            shared: None,
            search_threads,
            exact_totals_up_to: options.exact_totals_up_to,
            committer: None,
        };
        if options.read_only {
            return Ok(opened);
        }
        let writer = opened
            .index
            .writer_with_num_threads(options.writer_threads.max(1), options.writer_memory_bytes)?;
        if !options.background_merges {
            writer.set_merge_policy(Box::new(NoMergePolicy));
        }
        let shared = Arc::new(Shared {
            writer: Mutex::new(writer),
            reader: opened.reader.clone(),
            dirty: AtomicBool::new(false),
            failed: Mutex::new(None),
        });
        if let Some(interval) = options.commit_interval {
            let committer = spawn_committer(Arc::clone(&shared), interval).map_err(|source| {
                IndexError::Io {
                    what: "starting the commit thread for",
                    path: dir.display().to_string(),
                    source,
                }
            })?;
            opened.committer = Some(committer);
        }
        opened.shared = Some(shared);
        Ok(opened)
    }

    fn shared(&self) -> Result<&Shared> {
        self.shared.as_deref().ok_or(IndexError::ReadOnly)
    }

    /// Adds an active asset, or replaces the one with its id. Searchable within the commit
    /// interval.
    pub fn upsert(&self, asset: &AssetDoc) -> Result<()> {
        self.upsert_many(std::slice::from_ref(asset))
    }

    /// Adds or replaces several assets (searchable within the commit interval).
    pub fn upsert_many(&self, assets: &[AssetDoc]) -> Result<()> {
        let shared = self.shared()?;
        if let Some(error) = lock(&shared.failed).take() {
            return Err(error);
        }
        // Tokenizing and stemming are most of a document's cost: a batch is prepared on every
        // CPU, before the writer (whose threads only invert what they are given) is locked.
        // A few documents (an upload's one) are prepared here, not handed to the pool.
        let document = |analyzers: &mut Analyzers, asset| self.fields.document(asset, analyzers);
        let docs = if assets.len() <= DOCUMENTS_PER_TASK {
            let mut analyzers = self.analyzers.clone();
            assets
                .iter()
                .map(|asset| document(&mut analyzers, asset))
                .collect::<serde_json::Result<Vec<_>>>()?
        } else {
            assets
                .par_iter()
                .with_min_len(DOCUMENTS_PER_TASK)
                .map_init(|| self.analyzers.clone(), document)
                .collect::<serde_json::Result<Vec<_>>>()?
        };
        let writer = lock(&shared.writer);
        for (asset, doc) in assets.iter().zip(docs) {
            writer.delete_term(self.id_term(&asset.id));
            writer.add_document(doc)?;
        }
        shared.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Upserts `asset` unless the index already holds exactly it with no write pending:
    /// what a follower applying a change this node made itself does, so that it writes,
    /// and commits, nothing. Returns whether it wrote. (With writes pending, the committed
    /// view is not the last word: the upsert is made, and the order of writes decides, as
    /// before. Upserts mark the index dirty under the writer's lock, which this holds while
    /// it looks, and removes commit at once.)
    pub fn upsert_if_changed(&self, asset: &AssetDoc) -> Result<bool> {
        let shared = self.shared()?;
        {
            let _writer = lock(&shared.writer);
            if !shared.dirty.load(Ordering::Acquire) && self.get(&asset.id)?.as_ref() == Some(asset)
            {
                return Ok(false);
            }
        }
        self.upsert(asset)?;
        Ok(true)
    }

    /// The number of the index's last commit (it grows with each commit that wrote).
    pub fn committed_opstamp(&self) -> Result<u64> {
        Ok(self.index.load_metas()?.opstamp)
    }

    /// Feeds the catalogue's download counts in (for `sort=popular`): each indexed asset
    /// named is rewritten with its new count; ids not indexed are skipped. Searchable within
    /// the commit interval, like an upsert. Returns how many were updated.
    pub fn set_downloads(&self, counts: &[(&str, u64)]) -> Result<usize> {
        let mut changed = Vec::with_capacity(counts.len());
        for (id, downloads) in counts {
            if let Some(mut asset) = self.get(id)?
                && asset.downloads != *downloads
            {
                asset.downloads = *downloads;
                changed.push(asset);
            }
        }
        self.upsert_many(&changed)?;
        Ok(changed.len())
    }

    /// Takes an asset out of search (withdrawn, removed, or no longer active); committed and
    /// visible to the next search when this returns.
    pub fn remove(&self, id: &str) -> Result<()> {
        self.remove_many(&[id])
    }

    /// Removes several assets in one commit (an author's whole catalogue on erasure).
    pub fn remove_many(&self, ids: &[&str]) -> Result<()> {
        let shared = self.shared()?;
        {
            let writer = lock(&shared.writer);
            for id in ids {
                writer.delete_term(self.id_term(id));
            }
        }
        shared.dirty.store(true, Ordering::Release);
        shared.commit()
    }

    /// Makes every write so far durable and searchable now.
    pub fn commit(&self) -> Result<()> {
        self.shared()?.commit()
    }

    /// Deletes every asset (committed with the next commit): the start of a rebuild, which
    /// replaces the old contents atomically when it commits.
    pub fn clear(&self) -> Result<()> {
        let shared = self.shared()?;
        lock(&shared.writer).delete_all_documents()?;
        shared.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Commits, then merges the segments into one per search thread and deletes the files
    /// they replaced: the end of a rebuild (few segments, searched side by side). Writes
    /// wait meanwhile.
    pub fn merge_segments(&self) -> Result<()> {
        let shared = self.shared()?;
        shared.commit()?;
        let mut writer = lock(&shared.writer);
        // Background merges would race this one for the same segments: stop starting them,
        // and when one finishes first (the merge then names a segment that is gone), merge
        // what there is now.
        writer.set_merge_policy(Box::new(NoMergePolicy));
        let mut attempts = 0;
        loop {
            let mut segments = self.index.searchable_segment_ids()?;
            if segments.len() <= self.search_threads {
                break;
            }
            // One segment per search thread: a query searches them side by side.
            segments.sort();
            let per_group = segments.len().div_ceil(self.search_threads);
            let merged = segments
                .chunks(per_group)
                .filter(|group| group.len() > 1)
                .try_for_each(|group| writer.merge(group).wait().map(drop));
            match merged {
                Ok(()) => break,
                Err(tantivy::TantivyError::InvalidArgument(_)) if attempts < MERGE_ATTEMPTS => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => return Err(error.into()),
            }
        }
        writer.set_merge_policy(Box::new(LogMergePolicy::default()));
        writer.garbage_collect_files().wait()?;
        drop(writer);
        self.reader.reload()?;
        Ok(())
    }

    /// Rewrites every segment that holds deleted documents without them, and deletes the
    /// files it replaces: a removed asset's stored fields (an erased author's name) stay in
    /// its segment until a merge drops them, and this is that merge, now rather than when
    /// the merge policy gets to it. Costs a rewrite of those segments; writes wait
    /// meanwhile. Returns how many segments were rewritten.
    pub fn expunge_deleted(&self) -> Result<usize> {
        let shared = self.shared()?;
        shared.commit()?;
        let mut writer = lock(&shared.writer);
        // As in `merge_segments`: no background merge may race this one.
        writer.set_merge_policy(Box::new(NoMergePolicy));
        let mut attempts = 0;
        let merged = loop {
            let with_deletes: Vec<_> = self
                .index
                .searchable_segment_metas()?
                .iter()
                .filter(|meta| meta.has_deletes())
                .map(|meta| meta.id())
                .collect();
            if with_deletes.is_empty() {
                break Ok(0);
            }
            match writer.merge(&with_deletes).wait() {
                Ok(_) => break Ok(with_deletes.len()),
                Err(tantivy::TantivyError::InvalidArgument(_)) if attempts < MERGE_ATTEMPTS => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(error) => break Err(error),
            }
        };
        writer.set_merge_policy(Box::new(LogMergePolicy::default()));
        let merged = merged?;
        self.reader.reload()?;
        writer.garbage_collect_files().wait()?;
        Ok(merged)
    }

    /// How many assets the last commit holds.
    pub fn len(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Whether no asset is indexed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An indexed (that is, active) asset.
    pub fn get(&self, id: &str) -> Result<Option<AssetDoc>> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(self.id_term(id), IndexRecordOption::Basic);
        let found = searcher.search(&query, &TopDocs::with_limit(1).order_by_score())?;
        match found.first() {
            Some((_, address)) => Ok(Some(self.card(&searcher, *address)?)),
            None => Ok(None),
        }
    }

    /// One page of results, with its total and facet counts.
    pub fn search(&self, request: &SearchRequest) -> Result<SearchResults> {
        request.check()?;
        let mut analyzers = self.analyzers.clone();
        let user = UserQuery::parse(&request.query, &mut analyzers);
        let TextQueries { required, excluded } = user.to_queries(&self.fields, &mut analyzers);
        let sort = match (request.sort, required.is_empty()) {
            (Sort::Relevance, true) => Sort::Newest,
            (sort, _) => sort,
        };
        let author = request.filters.author_query(&self.fields);
        // A word alone ranks by its own block maxima; several words whose intersection
        // looks broad by their stems' union's, each hit then checked against the query.
        let prunable = user.is_one_word() && author.is_none();
        let searcher = self.reader.searcher();
        let hits = request.offset() + request.per_page as usize;
        // (An author's posting list is short: the intersection leaps by it.)
        let ranking = if prunable || sort != Sort::Relevance || author.is_some() {
            None
        } else {
            user.word_terms(&self.fields, &mut analyzers)
                .filter(|words| broad(&searcher, words, hits))
                .map(|words| query::ranking_query(&words))
        };
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = required
            .into_iter()
            .map(|query| (Occur::Must, query))
            .collect();
        // The author's posting list narrows; it adds nothing to the score.
        clauses.extend(author.map(|query| {
            (
                Occur::Must,
                Box::new(ConstScoreQuery::new(query, 0.0)) as Box<dyn Query>,
            )
        }));
        if clauses.is_empty() {
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        clauses.extend(excluded.into_iter().map(|query| (Occur::MustNot, query)));
        // One clause alone is searched as itself, so that a word keeps its pruning.
        let query: Box<dyn Query> = match clauses.len() {
            1 => clauses.remove(0).1,
            _ => Box::new(BooleanQuery::new(clauses)),
        };

        let after = request.cursor.as_deref().and_then(collect::decode_cursor);
        let found = collect::run(
            &searcher,
            &collect::Plan {
                query: &*query,
                predicate: collect::Predicate::of(&request.filters),
                sort,
                prunable,
                ranking: ranking.as_deref(),
                total: true,
                exact_up_to: self.exact_totals_up_to,
                hits,
                after,
                facets: &request.facets,
            },
        )?;
        let shown = found.hits.len().saturating_sub(request.offset());
        let next = (shown == request.per_page as usize)
            .then(|| found.last.map(collect::encode_cursor))
            .flatten();
        let results = found
            .hits
            .into_iter()
            .skip(request.offset())
            .map(|address| self.card(&searcher, address))
            .collect::<Result<Vec<_>>>()?;
        let suggestion = if found.total == 0 {
            self.suggestion(&searcher, &request.query, &user)?
        } else {
            None
        };
        Ok(SearchResults {
            total: found.total,
            total_exact: found.total_exact,
            page: request.page,
            per_page: request.per_page,
            results,
            facets: found.facets.unwrap_or_default(),
            suggestion,
            next,
        })
    }

    /// Other active assets that share the most keywords with `id` (ranked as a search for
    /// any of them would rank them), best first. Empty when `id` is not indexed.
    pub fn similar(&self, id: &str, limit: usize) -> Result<Vec<AssetDoc>> {
        let Some(asset) = self.get(id)? else {
            return Ok(Vec::new());
        };
        let mut analyzers = self.analyzers.clone();
        let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for keyword in asset.keywords.iter().take(query::MAX_CLAUSES) {
            for word in Analyzers::tokens(&mut analyzers.exact, keyword) {
                let term = Term::from_field_text(self.fields.exact, &word);
                should.push((
                    Occur::Should,
                    Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
                ));
            }
        }
        if should.is_empty() {
            return Ok(Vec::new());
        }
        // Ranked by the keywords' union alone (block-max WAND), each hit checked against
        // the whole query (which leaves the asset itself out).
        let ranking = BooleanQuery::new(
            should
                .iter()
                .map(|(occur, query)| (*occur, query.box_clone()))
                .collect(),
        );
        let query = BooleanQuery::new(vec![
            (
                Occur::Must,
                Box::new(BooleanQuery::new(should)) as Box<dyn Query>,
            ),
            (
                Occur::MustNot,
                Box::new(TermQuery::new(self.id_term(id), IndexRecordOption::Basic)),
            ),
        ]);
        let searcher = self.reader.searcher();
        let found = collect::run(
            &searcher,
            &collect::Plan {
                query: &query,
                predicate: collect::Predicate::default(),
                sort: Sort::Relevance,
                prunable: false,
                ranking: Some(&ranking),
                total: false,
                exact_up_to: u64::MAX,
                hits: limit.clamp(1, MAX_PER_PAGE as usize),
                after: None,
                facets: &[],
            },
        )?;
        found
            .hits
            .into_iter()
            .map(|address| self.card(&searcher, address))
            .collect()
    }

    /// The query with each unknown word replaced by its closest indexed word; `None` when
    /// every word is known or no unknown word has a close neighbour.
    fn suggestion(
        &self,
        searcher: &Searcher,
        text: &str,
        user: &UserQuery,
    ) -> Result<Option<String>> {
        let mut suggested = text.to_lowercase();
        let mut changed = false;
        let mut analyzers = self.analyzers.clone();
        for clause in &user.required {
            let Clause::Word(word) = clause else { continue };
            let Some(exact) = Analyzers::tokens(&mut analyzers.exact, word).pop() else {
                continue;
            };
            if spelling::is_known(searcher, &self.fields, &exact)? {
                continue;
            }
            if let Some(closest) = spelling::closest_term(searcher, &self.fields, &exact)? {
                suggested = suggested.replacen(word.as_str(), &closest, 1);
                changed = true;
            }
        }
        Ok(changed.then_some(suggested))
    }

    fn id_term(&self, id: &str) -> Term {
        Term::from_field_text(self.fields.id, id)
    }

    fn card(&self, searcher: &Searcher, address: DocAddress) -> Result<AssetDoc> {
        let doc: TantivyDocument = searcher.doc(address)?;
        let bytes = doc
            .get_first(self.fields.card)
            .and_then(|value| value.as_bytes())
            .unwrap_or_default();
        Ok(serde_json::from_slice(bytes)?)
    }
}

impl Shared {
    fn commit(&self) -> Result<()> {
        let mut writer = lock(&self.writer);
        if self.dirty.swap(false, Ordering::AcqRel) {
            if let Err(error) = writer.commit() {
                self.dirty.store(true, Ordering::Release);
                return Err(error.into());
            }
            self.reader.reload()?;
        }
        Ok(())
    }
}

/// Commits what upserts left uncommitted, every `interval`, until told to stop (then once
/// more).
fn spawn_committer(
    shared: Arc<Shared>,
    interval: Duration,
) -> std::io::Result<(mpsc::Sender<()>, JoinHandle<()>)> {
    let (stop, stopped) = mpsc::channel::<()>();
    let handle = std::thread::Builder::new()
        .name("index-commit".into())
        .spawn(move || {
            loop {
                let last = match stopped.recv_timeout(interval) {
                    Err(RecvTimeoutError::Timeout) => false,
                    Ok(()) | Err(RecvTimeoutError::Disconnected) => true,
                };
                if let Err(error) = shared.commit() {
                    *lock(&shared.failed) = Some(error);
                }
                if last {
                    return;
                }
            }
        })?;
    Ok((stop, handle))
}

impl Drop for SearchIndex {
    fn drop(&mut self) {
        if let Some((stop, handle)) = self.committer.take() {
            let _ = stop.send(());
            let _ = handle.join();
        }
    }
}

/// Removes an index's files from `dir` (and nothing else: the directory may be shared).
fn discard(dir: &Path) -> Result<()> {
    let io = |source| IndexError::Io {
        what: "discarding the outdated index in",
        path: dir.display().to_string(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() {
            std::fs::remove_file(&path).map_err(io)?;
        }
    }
    Ok(())
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Fewest matches, as estimated, for which several words are ranked by their stems' union.
const BROAD: f64 = 10_000.0;

/// Whether the words' intersection is likely broad enough that ranking it by their stems'
/// union (block-max WAND) beats scoring every match: for a broad intersection the page
/// fills at once and the union then visits little more than the best matches. Not for a
/// narrow one (a rare word and a common one): there the page stays unfilled, and the union
/// would walk the common word's postings where the intersection leaps by the rare word's.
/// Estimated as if the words were independent: the assets times each word's share of them.
fn broad(searcher: &Searcher, words: &[Vec<Term>], hits: usize) -> bool {
    #[cfg(test)]
    if tests::ALWAYS_BROAD.load(std::sync::atomic::Ordering::Relaxed) {
        return true;
    }
    let assets = searcher.num_docs().max(1) as f64;
    let mut estimate = assets;
    for stems in words {
        let holding: u64 = stems
            .iter()
            .map(|term| searcher.doc_freq(term).unwrap_or(0))
            .sum();
        estimate *= (holding as f64 / assets).min(1.0);
    }
    estimate >= BROAD.max(100.0 * hits as f64)
}
