//! `stockroom-search-bench`: keyword search over the generator's records, our index beside
//! PostgreSQL full-text search (GIN) and SQLite FTS5, one workload, one run.
//!
//! Every engine loads the same records, then the same queries run one at a time, the
//! engines taking turns query by query (so a noisy neighbour slows all three alike). Each
//! query returns a page of 20 (id and title; ours returns whole result cards) and the
//! total; a fifth also count four facet fields over every match. Printed: build time and
//! size per engine, queries/s, p50 and p99 latency, the ratios, and how often each peer's
//! total agrees with ours (stemming differs: SQLite has no German stemmer).
//!
//! `tools/search-bench.sh` makes the records, starts PostgreSQL and runs this.

mod peers;
#[path = "../../synth/src/vocabulary.rs"]
#[allow(dead_code)]
mod vocabulary;
mod workload;
#[path = "../../synth/src/zipf.rs"]
#[allow(dead_code)]
mod zipf;

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Parser;
use stockroom_index::{Options, SearchIndex};

use crate::peers::{Postgres, Sqlite};
use crate::workload::{BenchQuery, Record};

#[derive(Debug, Parser)]
#[command(about = "Keyword search: stockroom's index beside PostgreSQL (GIN) and SQLite FTS5")]
struct Args {
    /// The generator's records.jsonl.
    #[arg(long)]
    records: PathBuf,
    /// Where the index and the SQLite file are built (emptied first).
    #[arg(long)]
    work: PathBuf,
    /// A PostgreSQL connection string; without it PostgreSQL is left out.
    #[arg(long)]
    postgres: Option<String>,
    /// Timed queries per engine.
    #[arg(long, default_value_t = 2000)]
    queries: usize,
    /// Untimed queries first (caches warm, statements prepared).
    #[arg(long, default_value_t = 300)]
    warmup: usize,
    /// The generator's vocabulary size, Zipf exponent and seed: queries draw words as the
    /// records drew keywords.
    #[arg(long, default_value_t = 50_000)]
    vocabulary: usize,
    #[arg(long, default_value_t = 1.07)]
    zipf: f64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Run our index alone (no peers), for profiling; reuses the index in WORK if there is
    /// one.
    #[arg(long)]
    only_ours: bool,
    /// Count every match of every query, as the peers do; without it, searches by
    /// relevance with more than the index's bound of matches estimate their totals
    /// (`Options::exact_totals_up_to`).
    #[arg(long)]
    exact_totals: bool,
}

/// One engine's figures.
#[derive(Debug, Default)]
struct Figures {
    name: &'static str,
    build: Duration,
    size_bytes: u64,
    latencies: Vec<Duration>,
    totals: Vec<u64>,
}

impl Figures {
    fn queries_per_second(&self) -> f64 {
        let spent: Duration = self.latencies.iter().sum();
        self.latencies.len() as f64 / spent.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, share: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let at = ((sorted.len() as f64 * share).ceil() as usize).clamp(1, sorted.len().max(1));
        sorted.get(at - 1).copied().unwrap_or_default()
    }
}

fn main() {
    if let Err(error) = run(Args::parse()) {
        // The PostgreSQL client's errors say only "db error" at the top: show the chain.
        let chain: Vec<String> = error.chain().map(|cause| format!("{cause:?}")).collect();
        eprintln!("error: {}", chain.join("\n  caused by: "));
        std::process::exit(1);
    }
}

fn run(args: Args) -> Result<()> {
    std::fs::create_dir_all(&args.work)?;
    let index_dir = args.work.join("index");
    // Alone, the records are read a chunk at a time (ten million do not fit in memory
    // beside the index's writer); with the peers, once and whole.
    let mut counts: HashMap<String, u64> = HashMap::new();
    let records = if args.only_ours {
        Vec::new()
    } else {
        let records = load(&args.records)?;
        eprintln!("{} records", records.len());
        records
    };
    let (index, mut ours) = if args.only_ours && index_dir.exists() {
        stream(&args.records, |chunk| {
            count_authors(&mut counts, chunk);
            Ok(())
        })?;
        let index = SearchIndex::open(
            &index_dir,
            Options {
                exact_totals_up_to: exact_up_to(&args),
                ..Options::read_only()
            },
        )?;
        let figures = Figures {
            name: "stockroom",
            size_bytes: dir_size(&index_dir)?,
            ..Figures::default()
        };
        (index, figures)
    } else if args.only_ours {
        build_streaming(&index_dir, &args.records, &mut counts, exact_up_to(&args))?
    } else {
        count_authors(&mut counts, &records);
        build_ours(&index_dir, &records, exact_up_to(&args))?
    };
    eprintln!("stockroom index built in {:.1} s", ours.build.as_secs_f64());
    let mut sqlite = if args.only_ours {
        None
    } else {
        let started = Instant::now();
        let sqlite = Sqlite::build(&args.work.join("fts5.sqlite"), &records)?;
        let figures = Figures {
            name: "SQLite FTS5",
            build: started.elapsed(),
            size_bytes: sqlite.size_bytes()?,
            ..Figures::default()
        };
        eprintln!("SQLite FTS5 built in {:.1} s", figures.build.as_secs_f64());
        Some((sqlite, figures))
    };
    let postgres_connection = args.postgres.as_ref().filter(|_| !args.only_ours);
    let mut postgres = match postgres_connection {
        Some(connection) => {
            let started = Instant::now();
            let mut postgres = Postgres::build(connection, &records)?;
            let figures = Figures {
                name: "PostgreSQL GIN",
                build: started.elapsed(),
                size_bytes: postgres.size_bytes()?,
                ..Figures::default()
            };
            eprintln!("PostgreSQL built in {:.1} s", figures.build.as_secs_f64());
            Some((postgres, figures))
        }
        None => None,
    };

    let authors = prolific_authors(counts, 50);
    drop(records);
    let queries = workload::queries(
        args.warmup + args.queries,
        args.vocabulary,
        args.zipf,
        args.seed,
        &authors,
    );
    let (warmup, timed) = queries.split_at(args.warmup);
    // Timed searches whose total (and facets) were estimated.
    let mut estimated = 0;
    for query in warmup {
        ours_run(&index, query, &mut 0)?;
        if let Some((sqlite, _)) = &mut sqlite {
            sqlite.run(query)?;
        }
        if let Some((postgres, _)) = &mut postgres {
            postgres.run(query)?;
        }
    }
    for (n, query) in timed.iter().enumerate() {
        // Take turns, starting with a different engine each time.
        for turn in 0..3 {
            match (n + turn) % 3 {
                0 => time(&mut ours, || ours_run(&index, query, &mut estimated))?,
                1 => {
                    if let Some((sqlite, figures)) = &mut sqlite {
                        time(figures, || sqlite.run(query))?;
                    }
                }
                _ => {
                    if let Some((postgres, figures)) = &mut postgres {
                        time(figures, || postgres.run(query))?;
                    }
                }
            }
        }
        if n > 0 && n % 500 == 0 {
            eprintln!("{n} queries");
        }
    }
    let mut peers: Vec<Figures> = sqlite.map(|(_, figures)| figures).into_iter().collect();
    peers.extend(postgres.map(|(_, figures)| figures));
    report(&ours, &peers, timed);
    println!(
        "{estimated} of stockroom's totals estimated ({}; `--exact-totals` counts every match)",
        if args.exact_totals {
            "every match counted".to_string()
        } else {
            format!(
                "searches by relevance count about {} matches exactly",
                stockroom_index::EXACT_TOTALS_UP_TO
            )
        }
    );
    if args.only_ours {
        slowest(&ours, timed);
    }
    Ok(())
}

/// The slowest queries, to see what the tail is made of.
fn slowest(ours: &Figures, queries: &[BenchQuery]) {
    let mut order: Vec<usize> = (0..queries.len()).collect();
    order.sort_by_key(|&n| std::cmp::Reverse(ours.latencies[n]));
    for &n in order.iter().take(15) {
        let query = &queries[n];
        println!(
            "{:.2} ms  total {:>7}  {:?} filter {:?} facets {} {:?} page {}",
            ours.latencies[n].as_secs_f64() * 1e3,
            ours.totals[n],
            query.words,
            query.filter,
            query.facets,
            query.sort,
            query.page
        );
    }
}

fn load(path: &Path) -> Result<Vec<Record>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    std::io::BufReader::new(file)
        .lines()
        .map(|line| Ok(serde_json::from_str(&line?)?))
        .collect()
}

/// Calls `each` with the records in `path`, 10,000 at a time.
fn stream(path: &Path, mut each: impl FnMut(&[Record]) -> Result<()>) -> Result<u64> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut chunk = Vec::with_capacity(10_000);
    let mut read = 0;
    for line in std::io::BufReader::new(file).lines() {
        chunk.push(serde_json::from_str(&line?)?);
        if chunk.len() == 10_000 {
            each(&chunk)?;
            read += chunk.len() as u64;
            chunk.clear();
        }
    }
    each(&chunk)?;
    Ok(read + chunk.len() as u64)
}

/// [`build_ours`] from the records file read a chunk at a time (the build time includes
/// reading and parsing them).
fn build_streaming(
    dir: &Path,
    path: &Path,
    counts: &mut HashMap<String, u64>,
    exact_up_to: u64,
) -> Result<(SearchIndex, Figures)> {
    let (index, started) = fresh(dir, exact_up_to)?;
    let read = stream(path, |chunk| {
        count_authors(counts, chunk);
        let docs: Vec<_> = chunk.iter().map(Record::to_doc).collect();
        index.upsert_many(&docs)?;
        Ok(())
    })?;
    eprintln!("{read} records");
    finish(index, dir, started)
}

/// Commits and merges a built index: it and its figures.
fn finish(index: SearchIndex, dir: &Path, started: Instant) -> Result<(SearchIndex, Figures)> {
    index.commit()?;
    index.merge_segments()?;
    let figures = Figures {
        name: "stockroom",
        build: started.elapsed(),
        size_bytes: dir_size(dir)?,
        ..Figures::default()
    };
    Ok((index, figures))
}

/// An empty index in `dir` (whatever was there removed) for a build, and when it began.
fn fresh(dir: &Path, exact_up_to: u64) -> Result<(SearchIndex, Instant)> {
    let _ = std::fs::remove_dir_all(dir);
    let started = Instant::now();
    let options = Options {
        exact_totals_up_to: exact_up_to,
        ..Options::bulk()
    };
    Ok((SearchIndex::open(dir, options)?, started))
}

/// The index's bound on exact totals for this run.
fn exact_up_to(args: &Args) -> u64 {
    if args.exact_totals {
        u64::MAX
    } else {
        stockroom_index::EXACT_TOTALS_UP_TO
    }
}

fn build_ours(dir: &Path, records: &[Record], exact_up_to: u64) -> Result<(SearchIndex, Figures)> {
    let (index, started) = fresh(dir, exact_up_to)?;
    for chunk in records.chunks(10_000) {
        let docs: Vec<_> = chunk.iter().map(Record::to_doc).collect();
        index.upsert_many(&docs)?;
    }
    finish(index, dir, started)
}

fn ours_run(index: &SearchIndex, query: &BenchQuery, estimated: &mut usize) -> Result<u64> {
    let found = index.search(&query.to_request())?;
    *estimated += usize::from(!found.total_exact);
    Ok(found.total)
}

fn time(figures: &mut Figures, run: impl FnOnce() -> Result<u64>) -> Result<()> {
    let started = Instant::now();
    let total = run()?;
    figures.latencies.push(started.elapsed());
    figures.totals.push(total);
    Ok(())
}

fn count_authors(counts: &mut HashMap<String, u64>, records: &[Record]) {
    for record in records {
        *counts.entry(record.author_id()).or_default() += 1;
    }
}

/// The ids of the `count` authors with the most records.
fn prolific_authors(by_author: HashMap<String, u64>, count: usize) -> Vec<String> {
    let mut ranked: Vec<(String, u64)> = by_author.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked
        .into_iter()
        .take(count)
        .map(|(author, _)| author)
        .collect()
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

fn report(ours: &Figures, peers: &[Figures], queries: &[BenchQuery]) {
    let filtered = queries
        .iter()
        .filter(|query| query.filter.is_some())
        .count();
    let faceted = queries.iter().filter(|query| query.facets).count();
    let found_nothing = ours.totals.iter().filter(|total| **total == 0).count();
    println!(
        "{} queries, one at a time: {:.0}% with a filter, {:.0}% with facets; {:.0}% find nothing (for stockroom)",
        queries.len(),
        100.0 * filtered as f64 / queries.len() as f64,
        100.0 * faceted as f64 / queries.len() as f64,
        100.0 * found_nothing as f64 / queries.len() as f64,
    );
    println!();
    println!(
        "| engine | build | size | queries/s | p50 | p99 | stockroom ÷ engine (queries/s) | same total as stockroom |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for figures in std::iter::once(ours).chain(peers) {
        let same = figures
            .totals
            .iter()
            .zip(&ours.totals)
            .filter(|(theirs, mine)| theirs == mine)
            .count();
        println!(
            "| {} | {:.1} s | {:.0} MB | {:.0} | {:.2} ms | {:.2} ms | {:.1}× | {:.1}% |",
            figures.name,
            figures.build.as_secs_f64(),
            figures.size_bytes as f64 / 1e6,
            figures.queries_per_second(),
            figures.percentile(0.5).as_secs_f64() * 1e3,
            figures.percentile(0.99).as_secs_f64() * 1e3,
            ours.queries_per_second() / figures.queries_per_second(),
            100.0 * same as f64 / figures.totals.len().max(1) as f64,
        );
    }
}
