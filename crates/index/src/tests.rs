//! Behaviour of the index against the corpus manifest and against brute-force counts.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde::Deserialize;

use stockroom_vocab::{Collection, Language};

use crate::facets::AUTHOR_FACET_SIZE;

/// Ranks every search of several words by their stems' union, however narrow (`broad`).
pub(crate) static ALWAYS_BROAD: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

use super::*;

type TestResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// The bundled corpus's manifest lines (the fields the index uses).
#[derive(Deserialize)]
struct ManifestLine {
    file: String,
    title: String,
    description: String,
    keywords: Vec<String>,
    author: String,
    collection: Collection,
    language: Language,
    editorial_only: bool,
    model_release: bool,
    property_release: bool,
}

fn corpus() -> Vec<AssetDoc> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../corpus/manifest.jsonl");
    let text = std::fs::read_to_string(path).expect("reading the corpus manifest");
    text.lines()
        .enumerate()
        .map(|(n, line)| {
            let line: ManifestLine = serde_json::from_str(line).expect("a manifest line");
            let name = line
                .file
                .trim_start_matches("photos/")
                .trim_end_matches(".jpg");
            AssetDoc {
                id: name.to_string(),
                title: line.title,
                description: line.description,
                keywords: line.keywords,
                language: line.language,
                author: Author {
                    id: line.author.to_lowercase().replace(' ', "-"),
                    name: line.author,
                },
                collection: line.collection,
                kind: Kind::Photo,
                width: 2560,
                height: 1600,
                colors: Vec::new(),
                editorial_only: line.editorial_only,
                model_release: line.model_release,
                property_release: line.property_release,
                created_at: 1_700_000_000 + n as i64,
                downloads: 0,
            }
        })
        .collect()
}

fn open(dir: &Path) -> SearchIndex {
    SearchIndex::open(dir, Options::default()).expect("opening the index")
}

fn indexed(assets: &[AssetDoc]) -> (tempfile::TempDir, SearchIndex) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let index = open(dir.path());
    index.upsert_many(assets).expect("indexing");
    index.commit().expect("committing");
    (dir, index)
}

fn ids(index: &SearchIndex, query: &str) -> Vec<String> {
    let mut request = SearchRequest::words(query);
    request.per_page = MAX_PER_PAGE;
    index
        .search(&request)
        .expect("searching")
        .results
        .into_iter()
        .map(|hit| hit.id)
        .collect()
}

/// Every stem of an asset's words, as its language stems them.
fn stems(asset: &AssetDoc, analyzers: &mut Analyzers) -> HashSet<String> {
    let analyzer = match asset.language {
        Language::En => &mut analyzers.en,
        Language::De => &mut analyzers.de,
    };
    let text = format!(
        "{} {} {}",
        asset.title,
        asset.description,
        asset.keywords.join(" ")
    );
    Analyzers::tokens(analyzer, &text).into_iter().collect()
}

#[test]
fn a_keyword_only_one_photo_has_finds_it_first_and_shared_ones_find_all() {
    let assets = corpus();
    let (_dir, index) = indexed(&assets);
    let mut analyzers = Analyzers::new();
    let words: Vec<HashSet<String>> = assets.iter().map(|a| stems(a, &mut analyzers)).collect();
    let mut checked = 0;
    for asset in &assets {
        for keyword in &asset.keywords {
            let found = ids(&index, keyword);
            assert!(!found.is_empty(), "{keyword:?} finds nothing");
            // Who else has the word, in any form either language's stemmer folds together.
            let forms = [
                Analyzers::tokens(&mut analyzers.en, keyword),
                Analyzers::tokens(&mut analyzers.de, keyword),
            ];
            let others = assets
                .iter()
                .zip(&words)
                .filter(|(other, _)| other.id != asset.id)
                .filter(|(_, stems)| forms.iter().flatten().any(|form| stems.contains(form)))
                .count();
            if others == 0 && !keyword.contains('-') {
                assert_eq!(found, std::slice::from_ref(&asset.id), "{keyword:?}");
                checked += 1;
            } else {
                assert!(found.contains(&asset.id), "{keyword:?} misses {}", asset.id);
            }
        }
    }
    assert!(checked > 30, "only {checked} unique keywords checked");
}

#[test]
fn inflections_find_what_the_base_form_finds_in_either_language() {
    let (_dir, index) = indexed(&corpus());
    let same = |inflected: &str, base: &str| {
        let (mut a, mut b) = (ids(&index, inflected), ids(&index, base));
        assert!(!b.is_empty(), "{base:?} finds nothing");
        a.sort();
        b.sort();
        assert_eq!(a, b, "{inflected:?} vs {base:?}");
    };
    // German assets, German words.
    same("Gärten", "Garten");
    same("Blüten", "Blüte");
    same("Blumen", "Blume");
    same("Blättern", "Blatt");
    same("Tropfens", "Tropfen");
    // English.
    same("clouds", "cloud");
    same("flower", "flowers");
    same("splashing", "splash");
    same("planks", "plank");
    assert_eq!(ids(&index, "Gärten"), ["garden"]);
    assert_eq!(ids(&index, "rote blume")[0], "garden");
}

#[test]
fn titles_outrank_descriptions_and_phrases_and_exclusions_hold() {
    let (_dir, index) = indexed(&corpus());
    // "grass" is in the title of dune and greenmeadow; "green" in greenmeadow's title.
    assert_eq!(ids(&index, "green grass")[0], "greenmeadow");
    assert_eq!(ids(&index, "\"storm clouds\""), ["storm"]);
    assert!(ids(&index, "\"clouds storm\"").is_empty());
    let macro_photos = ids(&index, "macro");
    let without_blue = ids(&index, "macro -blue");
    assert!(without_blue.len() < macro_photos.len());
    assert!(!without_blue.contains(&"aqua".to_string()));
    assert!(
        ids(&index, "-macro")
            .iter()
            .all(|id| !macro_photos.contains(id))
    );
    assert_eq!(ids(&index, "forget-me-not"), ["ladybird"]);
}

#[test]
fn odd_queries_find_nothing_or_something_but_never_fail() -> TestResult {
    let (_dir, index) = indexed(&corpus());
    let odd = [
        "\"",
        "\"\"",
        "-",
        "--",
        "-\"",
        "AND",
        "title:water",
        "water^2",
        "wat*",
        "(water",
        "[a TO z]",
        "\u{0}",
        "🦀",
        "ä ö ü ß",
        "\"unclosed phrase",
        "a\"b\"c",
        "-water -sea",
    ];
    for text in odd {
        index.search(&SearchRequest::words(text))?;
    }
    // Random bytes as text, as a fuzz target would send them.
    let mut next = xorshift(0x2545_f491_4f6c_dd1d);
    for _ in 0..300 {
        let len = (next() % 40) as usize;
        let text: String = (0..len)
            .map(|_| char::from_u32((next() % 0x3000) as u32).unwrap_or('"'))
            .collect();
        index.search(&SearchRequest::words(&text))?;
    }
    Ok(())
}

#[test]
fn an_empty_query_lists_every_asset_newest_first() -> TestResult {
    let assets = corpus();
    let (_dir, index) = indexed(&assets);
    let found = index.search(&SearchRequest::default())?;
    assert_eq!(found.total, assets.len() as u64);
    let dates: Vec<i64> = found.results.iter().map(|hit| hit.created_at).collect();
    assert!(dates.windows(2).all(|pair| pair[0] > pair[1]), "{dates:?}");
    Ok(())
}

#[test]
fn unknown_words_get_the_closest_indexed_word() -> TestResult {
    let (_dir, index) = indexed(&corpus());
    let found = index.search(&SearchRequest::words("dandelin seeds"))?;
    assert_eq!(found.total, 0);
    assert_eq!(found.suggestion.as_deref(), Some("dandelion seeds"));
    let found = index.search(&SearchRequest::words("ladybrid"))?;
    assert_eq!(found.suggestion.as_deref(), Some("ladybird"));
    // Known words that simply do not meet get no suggestion; nor does gibberish.
    assert_eq!(
        index
            .search(&SearchRequest::words("dandelion storm"))?
            .suggestion,
        None
    );
    assert_eq!(
        index.search(&SearchRequest::words("qqqqqqq"))?.suggestion,
        None
    );
    Ok(())
}

#[test]
fn similar_assets_share_keywords_and_exclude_the_asset() -> TestResult {
    let (_dir, index) = indexed(&corpus());
    let similar = index.similar("yellowflower", 5)?;
    assert!(!similar.is_empty());
    assert!(similar.iter().all(|asset| asset.id != "yellowflower"));
    // garden shares blume, blüte, sommer and makro.
    assert_eq!(similar[0].id, "garden");
    assert!(index.similar("no-such-asset", 5)?.is_empty());
    Ok(())
}

#[test]
fn removal_is_visible_when_it_returns_and_upserts_within_the_interval() -> TestResult {
    let assets = corpus();
    let (_dir, index) = indexed(&assets);
    index.remove("aqua")?;
    assert!(ids(&index, "splash").is_empty());
    assert!(index.get("aqua")?.is_none());

    let mut again = assets[0].clone();
    again.title = "Water drop splash, again".into();
    index.upsert(&again)?;
    // The committer makes it visible within the interval (500 ms); allow a loaded machine
    // far more before calling it lost.
    let deadline = Instant::now() + Duration::from_secs(10);
    while ids(&index, "again").is_empty() {
        assert!(Instant::now() < deadline, "the upsert never became visible");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        index.len(),
        assets.len() as u64,
        "the upsert replaced, not added"
    );
    Ok(())
}

#[test]
fn the_index_survives_reopening_and_replaces_by_id() -> TestResult {
    let assets = corpus();
    let dir = tempfile::tempdir()?;
    {
        let index = open(dir.path());
        index.upsert_many(&assets)?;
        index.upsert_many(&assets)?;
        // Dropped without an explicit commit: the committer commits on the way out.
    }
    let index = open(dir.path());
    assert_eq!(index.len(), assets.len() as u64);
    assert_eq!(
        index.get("storm")?.as_ref(),
        assets.iter().find(|a| a.id == "storm")
    );
    Ok(())
}

#[test]
fn page_parameters_out_of_range_are_bad_requests() {
    let (_dir, index) = indexed(&corpus());
    for (page, per_page) in [(0, 20), (1, 0), (1, MAX_PER_PAGE + 1), (MAX_PAGE + 1, 20)] {
        let request = SearchRequest {
            page,
            per_page,
            ..SearchRequest::default()
        };
        let error = index.search(&request).expect_err("out of range");
        assert_eq!(error.class(), ErrorClass::BadInput, "{page} {per_page}");
    }
}

/// A xorshift64 stream: reproducible noise without a dependency.
fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

/// Synthetic assets with every attribute varied, for brute-force comparisons.
fn synthetic(count: usize) -> Vec<AssetDoc> {
    let words = [
        "sea", "sky", "city", "tree", "dog", "cat", "snow", "road", "sun", "bird",
    ];
    let mut random = xorshift(0x9e37_79b9_7f4a_7c15);
    let mut next = move |below: u64| random() % below;
    (0..count)
        .map(|n| {
            let keywords: Vec<String> = (0..1 + next(4))
                .map(|_| words[next(words.len() as u64) as usize].to_string())
                .collect();
            let colors = (0..next(3))
                .map(|_| Color::ALL[next(12) as usize])
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            AssetDoc {
                id: format!("a{n:05}"),
                title: keywords[0].clone(),
                description: String::new(),
                keywords,
                language: Language::En,
                author: Author {
                    id: format!("author{}", next(30)),
                    name: "Someone".into(),
                },
                collection: Collection::ALL[next(2) as usize],
                kind: Kind::ALL[next(3) as usize],
                width: 500 + next(5000) as u32,
                height: 500 + next(5000) as u32,
                colors,
                editorial_only: next(10) == 0,
                model_release: next(3) == 0,
                property_release: next(5) == 0,
                // Many equal dates and counts, to exercise the tie-breaks.
                created_at: 1_600_000_000 + next(50) as i64 * 86_400,
                downloads: next(20),
            }
        })
        .collect()
}

fn matches(asset: &AssetDoc, word: Option<&str>, filters: &Filters) -> bool {
    word.is_none_or(|word| asset.keywords.iter().any(|keyword| keyword == word))
        && filters.orientation.is_none_or(|o| asset.orientation() == o)
        && filters.color.is_none_or(|c| asset.colors.contains(&c))
        && filters.collection.is_none_or(|c| asset.collection == c)
        && filters.kind.is_none_or(|k| asset.kind == k)
        && filters.editorial.is_none_or(|e| asset.editorial_only == e)
        && filters
            .model_release
            .is_none_or(|m| asset.model_release == m)
        && filters
            .property_release
            .is_none_or(|p| asset.property_release == p)
        && filters
            .author
            .as_ref()
            .is_none_or(|a| &asset.author.id == a)
        && filters.min_width.is_none_or(|w| asset.width >= w)
        && filters.min_height.is_none_or(|h| asset.height >= h)
        && filters.created_from.is_none_or(|t| asset.created_at >= t)
        && filters.created_to.is_none_or(|t| asset.created_at < t)
}

fn brute_facets(assets: &[&AssetDoc]) -> Facets {
    let mut facets = Facets::new();
    let mut add = |field: &str, value: &str| {
        *facets
            .entry(field.to_string())
            .or_default()
            .entry(value.to_string())
            .or_default() += 1;
    };
    for asset in assets {
        add("orientation", asset.orientation().as_str());
        add("collection", asset.collection.as_str());
        add("kind", asset.kind.as_str());
        add(
            "editorial",
            if asset.editorial_only {
                "true"
            } else {
                "false"
            },
        );
        add(
            "model_release",
            if asset.model_release { "true" } else { "false" },
        );
        add("author", &asset.author.id);
        for color in &asset.colors {
            add("color", color.as_str());
        }
    }
    facets
}

#[test]
fn filters_and_facets_agree_with_brute_force() -> TestResult {
    let assets = synthetic(3000);
    let (_dir, index) = indexed(&assets);
    let filter_sets = [
        Filters::default(),
        Filters {
            orientation: Some(Orientation::Portrait),
            ..Filters::default()
        },
        Filters {
            color: Some(Color::Blue),
            collection: Some(Collection::Free),
            ..Filters::default()
        },
        Filters {
            editorial: Some(true),
            ..Filters::default()
        },
        Filters {
            model_release: Some(false),
            kind: Some(Kind::Vector),
            ..Filters::default()
        },
        Filters {
            property_release: Some(true),
            ..Filters::default()
        },
        Filters {
            author: Some("author7".into()),
            ..Filters::default()
        },
        Filters {
            min_width: Some(3000),
            min_height: Some(2000),
            ..Filters::default()
        },
        Filters {
            created_from: Some(1_600_000_000 + 10 * 86_400),
            created_to: Some(1_600_000_000 + 20 * 86_400),
            ..Filters::default()
        },
    ];
    for word in [None, Some("sea"), Some("bird")] {
        for filters in &filter_sets {
            let request = SearchRequest {
                query: word.unwrap_or_default().to_string(),
                filters: filters.clone(),
                facets: FacetField::ALL.to_vec(),
                ..SearchRequest::default()
            };
            let found = index.search(&request)?;
            let expected: Vec<&AssetDoc> = assets
                .iter()
                .filter(|asset| matches(asset, word, filters))
                .collect();
            assert_eq!(found.total, expected.len() as u64, "{word:?} {filters:?}");
            let mut facets = brute_facets(&expected);
            // The author facet lists the top 20 only.
            let authors = facets.remove("author").unwrap_or_default();
            let mut found_facets = found.facets.clone();
            let found_authors = found_facets.remove("author").unwrap_or_default();
            for (field, values) in &facets {
                assert_eq!(
                    found_facets.get(field),
                    Some(values),
                    "{field} {word:?} {filters:?}"
                );
            }
            assert!(found_authors.len() <= AUTHOR_FACET_SIZE);
            for (author, count) in &found_authors {
                assert_eq!(authors.get(author), Some(count), "{author}");
            }
            let least_listed = found_authors.values().min().copied().unwrap_or(0);
            let unlisted_max = authors
                .iter()
                .filter(|(author, _)| !found_authors.contains_key(*author))
                .map(|(_, count)| *count)
                .max()
                .unwrap_or(0);
            assert!(
                unlisted_max <= least_listed,
                "an author with more matches was left out"
            );
            assert!(found.results.iter().all(|hit| matches(hit, word, filters)));
        }
    }
    Ok(())
}

#[test]
fn pages_are_disjoint_stable_and_in_order_for_every_sort() -> TestResult {
    let assets = synthetic(700);
    let (_dir, index) = indexed(&assets);
    for sort in [Sort::Relevance, Sort::Newest, Sort::Popular] {
        let page = |page: u32| -> Result<Vec<AssetDoc>> {
            let request = SearchRequest {
                query: "sea".into(),
                sort,
                page,
                per_page: 7,
                ..SearchRequest::default()
            };
            Ok(index.search(&request)?.results)
        };
        let total = index.search(&SearchRequest::words("sea"))?.total as u32;
        let mut seen = Vec::new();
        for number in 1..=total.div_ceil(7) + 1 {
            let hits = page(number)?;
            assert_eq!(hits, page(number)?, "{sort:?} page {number} is not stable");
            seen.extend(hits);
        }
        let unique: HashSet<&str> = seen.iter().map(|hit| hit.id.as_str()).collect();
        assert_eq!(unique.len(), seen.len(), "{sort:?}: a hit on two pages");
        let expected = assets
            .iter()
            .filter(|a| a.keywords.iter().any(|k| k == "sea"))
            .count();
        assert_eq!(seen.len(), expected, "{sort:?}");
        let ordered = match sort {
            Sort::Newest => seen.windows(2).all(|p| p[0].created_at >= p[1].created_at),
            Sort::Popular => seen.windows(2).all(|p| p[0].downloads >= p[1].downloads),
            Sort::Relevance => true,
        };
        assert!(ordered, "{sort:?} out of order");
    }
    Ok(())
}

#[test]
fn facet_names_and_values_parse_from_their_wire_names() {
    let names: BTreeMap<&str, FacetField> = FacetField::ALL
        .iter()
        .map(|field| (field.as_str(), *field))
        .collect();
    for (name, field) in names {
        assert_eq!(name.parse::<FacetField>().ok(), Some(field));
    }
    assert!("colour".parse::<FacetField>().is_err());
    assert_eq!("blue".parse::<Color>().ok(), Some(Color::Blue));
    assert_eq!(
        "landscape".parse::<Orientation>().ok(),
        Some(Orientation::Landscape)
    );
    assert!("sideways".parse::<Orientation>().is_err());
}

#[test]
fn a_read_only_index_searches_beside_a_writer_and_refuses_writes() -> TestResult {
    let assets = corpus();
    let (dir, writer) = indexed(&assets);
    let reader = SearchIndex::open(dir.path(), Options::read_only())?;
    assert_eq!(reader.len(), assets.len() as u64);
    assert_eq!(ids(&reader, "dandelion"), ["twowings"]);
    assert!(matches!(
        reader.upsert(&assets[0]),
        Err(IndexError::ReadOnly)
    ));
    assert!(matches!(reader.remove("aqua"), Err(IndexError::ReadOnly)));
    drop(writer);
    Ok(())
}

#[test]
fn download_counts_fed_in_reorder_popular() -> TestResult {
    let (_dir, index) = indexed(&corpus());
    let popular = |index: &SearchIndex| -> Result<Vec<String>> {
        let request = SearchRequest {
            query: "macro".into(),
            sort: Sort::Popular,
            ..SearchRequest::default()
        };
        Ok(index
            .search(&request)?
            .results
            .into_iter()
            .map(|hit| hit.id)
            .collect())
    };
    assert_ne!(
        popular(&index)?.first().map(String::as_str),
        Some("ladybird")
    );
    let updated = index.set_downloads(&[("ladybird", 40), ("aqua", 7), ("no-such-asset", 3)])?;
    assert_eq!(updated, 2);
    index.commit()?;
    assert_eq!(popular(&index)?[..2], ["ladybird", "aqua"]);
    assert_eq!(
        index.get("ladybird")?.map(|asset| asset.downloads),
        Some(40)
    );
    Ok(())
}

#[test]
fn a_rebuild_that_stops_halfway_leaves_the_old_index_whole() -> TestResult {
    let assets = corpus();
    let (dir, index) = indexed(&assets);
    drop(index);
    {
        let rebuild = SearchIndex::open(dir.path(), Options::bulk())?;
        rebuild.clear()?;
        rebuild.upsert_many(&assets[..3])?;
        // Longer than the default commit interval: nothing may commit on its own.
        std::thread::sleep(Duration::from_millis(800));
        // Dropped without commit: the rebuild failed.
    }
    let index = open(dir.path());
    assert_eq!(index.len(), assets.len() as u64);
    Ok(())
}

/// Every match of `request` ranked by brute force: tantivy's plain collector scores the
/// words, `matches` applies the filters, and a full sort applies the documented order
/// (score, newest or downloads then newest; the id's key last). Returns the total and the
/// requested page's ids.
fn brute_page(index: &SearchIndex, request: &SearchRequest) -> Result<(u64, Vec<String>)> {
    let mut analyzers = index.analyzers.clone();
    let user = UserQuery::parse(&request.query, &mut analyzers);
    let TextQueries { required, excluded } = user.to_queries(&index.fields, &mut analyzers);
    let words = !required.is_empty();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = required
        .into_iter()
        .map(|query| (Occur::Must, query))
        .collect();
    if clauses.is_empty() {
        clauses.push((Occur::Must, Box::new(AllQuery)));
    }
    clauses.extend(excluded.into_iter().map(|query| (Occur::MustNot, query)));
    let searcher = index.reader.searcher();
    let all = searcher.search(
        &BooleanQuery::new(clauses),
        &TopDocs::with_limit(100_000).order_by_score(),
    )?;
    let mut ranked = Vec::new();
    for (score, address) in all {
        let asset = index.card(&searcher, address)?;
        if matches(&asset, None, &request.filters) {
            ranked.push((score, asset));
        }
    }
    let sort = match (request.sort, words) {
        (Sort::Relevance, false) => Sort::Newest,
        (sort, _) => sort,
    };
    ranked.sort_by(|(score_a, a), (score_b, b)| {
        let first = match sort {
            Sort::Relevance => score_b.total_cmp(score_a),
            Sort::Newest => b.created_at.cmp(&a.created_at),
            Sort::Popular => (b.downloads, b.created_at).cmp(&(a.downloads, a.created_at)),
        };
        first.then_with(|| schema::id_key(&b.id).cmp(&schema::id_key(&a.id)))
    });
    let page = ranked
        .iter()
        .skip(request.offset())
        .take(request.per_page as usize)
        .map(|(_, asset)| asset.id.clone())
        .collect();
    Ok((ranked.len() as u64, page))
}

#[test]
fn pruned_and_filtered_pages_equal_a_brute_force_ranking() -> TestResult {
    // Several segments, some with deleted documents (replaced assets), and many equal
    // scores, dates and counts: the cases where pruning and per-document filters could go
    // wrong.
    let dir = tempfile::tempdir()?;
    let options = Options {
        commit_interval: None,
        background_merges: false,
        ..Options::default()
    };
    let index = SearchIndex::open(dir.path(), options)?;
    let mut assets = synthetic(2400);
    // Some German assets with "trees", which German stems as "trees" and English as
    // "tree": the query "trees" is then a union of two stems, pruned by block-max WAND.
    for asset in assets.iter_mut().step_by(5) {
        asset.language = Language::De;
        for keyword in &mut asset.keywords {
            if keyword == "tree" {
                *keyword = "trees".into();
            }
        }
    }
    for chunk in assets.chunks(800) {
        index.upsert_many(chunk)?;
        index.commit()?;
    }
    for asset in assets.iter_mut().step_by(7) {
        asset.downloads += 5;
        index.upsert(asset)?;
    }
    index.commit()?;
    assert!(index.reader.searcher().segment_readers().len() > 1);

    let filter_sets = [
        Filters::default(),
        Filters {
            kind: Some(Kind::Photo),
            ..Filters::default()
        },
        Filters {
            color: Some(Color::Red),
            editorial: Some(false),
            ..Filters::default()
        },
        Filters {
            author: Some("author3".into()),
            min_width: Some(2000),
            ..Filters::default()
        },
        Filters {
            created_from: Some(1_600_000_000 + 5 * 86_400),
            created_to: Some(1_600_000_000 + 30 * 86_400),
            min_height: Some(1500),
            ..Filters::default()
        },
        Filters {
            created_to: Some(i64::MIN),
            ..Filters::default()
        },
    ];
    // Several words are ranked by their stems' union only when their intersection looks
    // broad, which none here is: once as they come, once all ranked so.
    for always in [false, true] {
        ALWAYS_BROAD.store(always, std::sync::atomic::Ordering::Relaxed);
        for query in [
            "sea",
            "sky",
            "trees",
            "sea bird",
            "trees sea",
            "sky sea bird",
            "sea -dog",
            "\"sea sky\"",
            "",
        ] {
            for filters in &filter_sets {
                for sort in [Sort::Relevance, Sort::Newest, Sort::Popular] {
                    for (page, per_page) in [(1, 7), (3, 7), (2, 100)] {
                        let request = SearchRequest {
                            query: query.into(),
                            filters: filters.clone(),
                            sort,
                            page,
                            per_page,
                            facets: Vec::new(),
                            cursor: None,
                        };
                        let found = index.search(&request)?;
                        let ids: Vec<String> =
                            found.results.into_iter().map(|hit| hit.id).collect();
                        let (total, expected) = brute_page(&index, &request)?;
                        assert_eq!(
                            (found.total, &ids),
                            (total, &expected),
                            "{query:?} {filters:?} {sort:?} page {page} of {per_page}"
                        );
                        if page != 1 {
                            continue;
                        }
                        // The cursor walks on to the same pages as page numbers would.
                        let mut next = found.next;
                        for following in 2..=5 {
                            let by_number = SearchRequest {
                                page: following,
                                ..request.clone()
                            };
                            let (_, expected) = brute_page(&index, &by_number)?;
                            let Some(cursor) = next.take() else {
                                assert!(
                                    expected.is_empty(),
                                    "{query:?} {sort:?}: no next before page {following}"
                                );
                                break;
                            };
                            let walked = index.search(&SearchRequest {
                                cursor: Some(cursor),
                                ..request.clone()
                            })?;
                            let ids: Vec<String> =
                                walked.results.iter().map(|hit| hit.id.clone()).collect();
                            assert_eq!(
                                ids, expected,
                                "{query:?} {filters:?} {sort:?} page {following} of {per_page} by cursor"
                            );
                            assert_eq!(walked.total, total);
                            next = walked.next;
                        }
                    }
                }
            }
        }
    }
    ALWAYS_BROAD.store(false, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

#[test]
fn an_outdated_index_is_refused_for_search_and_discarded_by_a_rebuild() -> TestResult {
    let dir = tempfile::tempdir()?;
    {
        let mut builder = tantivy::schema::Schema::builder();
        builder.add_text_field("title", tantivy::schema::TEXT);
        tantivy::Index::create_in_dir(dir.path(), builder.build())?;
    }
    let refused = SearchIndex::open(dir.path(), Options::default()).expect_err("outdated");
    assert!(
        matches!(refused, IndexError::OutdatedSchema { .. }),
        "{refused}"
    );
    let rebuild = SearchIndex::open(dir.path(), Options::bulk())?;
    rebuild.upsert_many(&corpus())?;
    rebuild.merge_segments()?;
    drop(rebuild);
    let index = open(dir.path());
    assert_eq!(index.len(), corpus().len() as u64);
    Ok(())
}

#[test]
fn a_cursor_walks_every_match_once_and_pages_count_on_from_it() -> TestResult {
    let dir = tempfile::tempdir()?;
    let index = SearchIndex::open(dir.path(), Options::default())?;
    index.upsert_many(&synthetic(300))?;
    index.commit()?;
    let request = SearchRequest {
        sort: Sort::Newest,
        per_page: 100,
        ..SearchRequest::default()
    };
    let mut seen = std::collections::HashSet::new();
    let mut next = None;
    loop {
        let page = index.search(&SearchRequest {
            cursor: next.take(),
            ..request.clone()
        })?;
        for hit in &page.results {
            assert!(seen.insert(hit.id.clone()), "{} twice", hit.id);
        }
        match page.next {
            Some(cursor) => next = Some(cursor),
            None => break,
        }
    }
    assert_eq!(seen.len(), 300);

    // Pages count on from a cursor: page 2 after it is the page after the next.
    let first = index.search(&request)?;
    let second = index.search(&SearchRequest {
        cursor: first.next.clone(),
        ..request.clone()
    })?;
    let third = index.search(&SearchRequest {
        cursor: first.next.clone(),
        page: 2,
        ..request.clone()
    })?;
    let by_cursor = index.search(&SearchRequest {
        cursor: second.next.clone(),
        ..request.clone()
    })?;
    assert_eq!(third.results, by_cursor.results);
    assert_eq!(third.results.len(), 100);

    for cursor in [
        "x".repeat(48),
        "0".repeat(47),
        format!("{}g", "0".repeat(47)),
    ] {
        let refused = index
            .search(&SearchRequest {
                cursor: Some(cursor),
                ..request.clone()
            })
            .expect_err("refused");
        assert!(
            refused.to_string().contains("not one a search gave"),
            "{refused}"
        );
    }
    Ok(())
}

#[test]
fn a_broad_search_estimates_its_total_and_facets_from_a_sample_and_ranks_as_ever() -> TestResult {
    // Indexes that count 200 matches exactly and estimate past that.
    let open_sampled = |dir: &std::path::Path| {
        let options = Options {
            commit_interval: None,
            exact_totals_up_to: 200,
            ..Options::default()
        };
        SearchIndex::open(dir, options)
    };
    let dir = tempfile::tempdir()?;
    let sampled = open_sampled(dir.path())?;
    sampled.upsert_many(&synthetic(12_000))?;
    sampled.commit()?;
    let exact = SearchIndex::open(
        dir.path(),
        Options {
            exact_totals_up_to: u64::MAX,
            ..Options::read_only()
        },
    )?;
    let request = |query: &str, filters: Filters| SearchRequest {
        query: query.into(),
        filters,
        sort: Sort::Relevance,
        page: 1,
        per_page: 20,
        facets: vec![FacetField::Orientation, FacetField::Collection],
        cursor: None,
    };
    // "sea" alone, and "sea sky" ranked by the union of its words.
    ALWAYS_BROAD.store(true, std::sync::atomic::Ordering::Relaxed);
    for query in ["sea", "sea sky"] {
        let asked = request(query, Filters::default());
        let (estimated, counted) = (sampled.search(&asked)?, exact.search(&asked)?);
        assert!(
            counted.total_exact && counted.total > 400,
            "{query}: {}",
            counted.total
        );
        assert!(!estimated.total_exact, "{query}: counted past the bound");
        let error = (estimated.total as f64 / counted.total as f64 - 1.0).abs();
        assert!(
            error < 0.25,
            "{query}: {} for {}",
            estimated.total,
            counted.total
        );
        // The page is the same: only the counting is sampled.
        let ids = |found: &SearchResults| -> Vec<String> {
            found.results.iter().map(|hit| hit.id.clone()).collect()
        };
        assert_eq!(ids(&estimated), ids(&counted), "{query}");
        // Facets are scaled like the total: each asset has one orientation.
        let orientations: u64 = estimated.facets["orientation"].values().sum();
        assert!(
            orientations.abs_diff(estimated.total) <= 3,
            "{query}: {orientations} oriented of {}",
            estimated.total
        );
        for (value, count) in &counted.facets["collection"] {
            let guess = estimated.facets["collection"][value];
            assert!(
                (guess as f64 / *count as f64 - 1.0).abs() < 0.3,
                "{query} {value}: {guess} for {count}"
            );
        }
    }
    ALWAYS_BROAD.store(false, std::sync::atomic::Ordering::Relaxed);
    // A word only the newest quarter of the assets has (a season's), in one segment, is
    // estimated as well: the sample is spread over the segment, not taken from its start.
    let seasons = tempfile::tempdir()?;
    let seasonal = open_sampled(seasons.path())?;
    let mut assets = synthetic(12_000);
    for asset in &mut assets[9_000..] {
        asset.keywords.push("winter".into());
    }
    seasonal.upsert_many(&assets)?;
    seasonal.commit()?;
    seasonal.merge_segments()?;
    assert_eq!(seasonal.reader.searcher().segment_readers().len(), 1);
    let estimated = seasonal.search(&request("winter", Filters::default()))?;
    assert!(!estimated.total_exact);
    assert!(
        estimated.total.abs_diff(3_000) < 300,
        "winter: {} for 3000",
        estimated.total
    );
    // Up to the bound, counted exactly.
    let narrow = request(
        "sea",
        Filters {
            author: Some("author3".into()),
            ..Filters::default()
        },
    );
    let found = sampled.search(&narrow)?;
    assert!(found.total_exact && found.total < 200);
    assert_eq!(found.total, exact.search(&narrow)?.total);
    // Newest first visits every match to rank them: counted exactly, however many.
    let newest = SearchRequest {
        sort: Sort::Newest,
        ..request("sea", Filters::default())
    };
    let found = sampled.search(&newest)?;
    assert!(found.total_exact);
    assert_eq!(found.total, exact.search(&newest)?.total);
    Ok(())
}
