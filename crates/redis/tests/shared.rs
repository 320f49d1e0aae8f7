//! Fair use shared through a real Redis (Debian's `redis-server`, started on a free
//! loopback port by each test): two nodes count one member together, pace its downloads
//! together and see its stockpiling whole, and a node rides out Redis going away and
//! charges (or writes) what it let through (or saw) when Redis is back.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stockroom_guard::{FairUse, Guard, GuardConfig, Policy, Request, Subject};
use stockroom_redis::RedisFairUse;

#[path = "support/redis.rs"]
mod redis_server;
use redis_server::Redis;

fn node(redis: &Redis) -> RedisFairUse {
    let guard = Guard::new(GuardConfig::default()).expect("guard");
    RedisFairUse::new(Arc::new(guard), &redis.url(), "test:").expect("redis url")
}

/// `n` licence requests of `member` through `node` at `now`: how many were let through.
fn licences(node: &RedisFairUse, member: &Subject, n: usize, now: u64) -> usize {
    (0..n)
        .filter(|_| {
            let request = Request {
                subject: member,
                policy: Policy::Licences,
                seats: 1,
                used: None,
                viewed: None,
            };
            node.admit(&request, now)
                .limit
                .expect("licences are limited")
                .allowed()
        })
        .count()
}

const NOW: u64 = 1_800_000_000_000_000;

#[test]
fn two_nodes_count_one_member_together() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let quota = GuardConfig::default().licences.requests as usize;
    let member = Subject::Member("m_shared".into());
    // Alternating between the nodes, the member gets the quota once, not once per node.
    let allowed: usize = (0..quota * 2)
        .map(|n| licences(if n % 2 == 0 { &a } else { &b }, &member, 1, NOW))
        .sum();
    assert_eq!(allowed, quota);
    assert_eq!((a.shared(), b.shared()), (Some(true), Some(true)));
    // Another member is not limited by the first.
    assert_eq!(licences(&a, &Subject::Member("m_other".into()), 1, NOW), 1);
}

#[test]
fn without_redis_a_node_limits_alone_and_charges_what_it_let_through_when_redis_is_back() {
    let mut redis = Redis::start();
    let a = node(&redis);
    let quota = GuardConfig::default().licences.requests as usize;
    let member = Subject::Member("m_outage".into());
    assert_eq!(licences(&a, &member, 10, NOW), 10);
    redis.kill();
    // Another member's request finds Redis away first. The node held part of a share of
    // the member's bucket (taken, so charged, but not spent): it is refunded with the
    // charge below, or the member would come back to a bucket spent by more than they used.
    let other = Subject::Member("m_first_to_notice".into());
    assert_eq!(licences(&a, &other, 1, NOW + 1), 1);
    // Away: the node's own limit holds (it counted the ten too), and it says so.
    let started = Instant::now();
    let alone = licences(&a, &member, quota, NOW + 1);
    assert_eq!(alone, quota - 10);
    assert_eq!(a.shared(), Some(false));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no wait per request while away"
    );
    redis.resume();
    std::thread::sleep(Duration::from_millis(1_100));
    // Back (tried again once a second): the shared state is charged with what the node let
    // through alone, so another node sees the member's bucket spent: in the two seconds
    // since, two requests' worth came back (60 a minute: one a second), one
    // of which this node takes. Without the charge the other would get 49 more.
    let later = NOW + 2_000_000;
    assert_eq!(licences(&a, &member, 1, later), 1);
    assert_eq!(a.shared(), Some(true));
    let b = node(&redis);
    assert_eq!(
        licences(&b, &member, quota, later),
        1,
        "the outage was an amnesty"
    );
}

/// Decision script calls Redis has run so far.
fn script_calls(redis: &Redis) -> u64 {
    let mut connection = redis::Client::open(redis.url())
        .and_then(|client| client.get_connection())
        .expect("redis");
    let info: String = redis::cmd("INFO")
        .arg("commandstats")
        .query(&mut connection)
        .expect("INFO");
    info.lines()
        .find_map(|line| line.strip_prefix("cmdstat_evalsha:calls="))
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |calls| calls.parse().expect("a count"))
}

#[test]
fn a_busy_member_on_two_nodes_is_decided_from_shares_and_never_gets_past_the_limit() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let rate = GuardConfig::default().previews;
    let (burst, per_second) = (
        u64::from(rate.requests),
        u64::from(rate.requests / rate.window_secs),
    );
    let member = Subject::Member("m_busy".into());
    let preview = |node: &RedisFairUse, now: u64| {
        let request = Request {
            subject: &member,
            policy: Policy::Previews,
            seats: 1,
            used: None,
            viewed: None,
        };
        let limit = node
            .admit(&request, now)
            .limit
            .expect("previews are limited");
        limit.allowed()
    };
    // Two requests a millisecond on each node, 200 times the limit, for three seconds of
    // the requests' clock.
    let (mut allowed, mut requests, mut calls_in_burst) = (0, 0, None);
    for step in 0..3_000u64 {
        let now = NOW + step * 1_000;
        for node in [&a, &a, &b, &b] {
            requests += 1;
            allowed += u64::from(preview(node, now));
            if allowed == burst && calls_in_burst.is_none() {
                calls_in_burst = Some(script_calls(&redis));
            }
        }
    }
    // Never more than the limit: the burst, and what three seconds refill.
    let most = burst + 3 * per_second;
    assert!(
        allowed <= most,
        "{allowed} let through, the limit allows {most}"
    );
    // And nearly all of it: each node may end holding one share it took and did not spend.
    assert!(
        allowed + 2 * (burst / 8) >= most,
        "only {allowed} of {most} let through"
    );
    // The burst went to Redis in shares, not request by request, and the refusals past it
    // about once per interval of the rate on each node.
    let calls = calls_in_burst.expect("the burst was spent");
    let all = script_calls(&redis);
    eprintln!(
        "{allowed} of {requests} let through (the limit allows {most}); {calls} script calls for the burst, {all} in all"
    );
    assert!(
        calls * 10 < burst,
        "{calls} script calls for a burst of {burst}"
    );
    assert!(requests > 5 * most);
    assert!(
        all < 2 * (calls + 2 * 3 * per_second),
        "{all} script calls in all"
    );
}

#[test]
fn two_nodes_pace_one_members_downloads_together() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let member = Subject::Member("m_paced".into());
    let rate: u64 = 2 << 20;
    // One download on each node, each sending as fast as its pacer lets it for two seconds.
    let started = Instant::now();
    let run = Duration::from_secs(2);
    let sent: u64 = std::thread::scope(|scope| {
        let streams: Vec<_> = [&a, &b]
            .into_iter()
            .map(|node| {
                let pacer = node.stream(&member, Some(rate));
                scope.spawn(move || {
                    let mut sent = 0u64;
                    while started.elapsed() < run {
                        let chunk = pacer.chunk() as u64;
                        sent += chunk;
                        std::thread::sleep(pacer.delay_after(chunk));
                    }
                    sent
                })
            })
            .collect();
        streams
            .into_iter()
            .map(|stream| stream.join().expect("stream"))
            .sum()
    });
    let delivered = sent as f64 / started.elapsed().as_secs_f64();
    // Together they get the member's rate, not twice it (each node alone would give each
    // stream the whole rate). Wide bounds: a busy machine sleeps late.
    let share = delivered / rate as f64;
    assert!((0.6..1.3).contains(&share), "{share:.2} of the rate");
}

const SECOND: u64 = 1_000_000;

/// The bulk grabber of the guard's own tests: a licence every two seconds or so, never a
/// look first, each of another author.
fn grab(n: u64) -> (u64, String, u64) {
    let asset = n.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (
        asset,
        format!("a{n}"),
        NOW + n * (2 * SECOND + (asset % (SECOND / 10))),
    )
}

fn grab_on(node: &dyn FairUse, member: &str, n: u64) -> Option<stockroom_guard::Flag> {
    let (asset, author, now) = grab(n);
    node.downloaded(
        member,
        &stockroom_guard::Download {
            asset,
            author: &author,
            author_assets: 40,
            listed: (n as i64, asset),
            seats: 1,
            ends_at: None,
        },
        now,
    )
}

/// The licence at which `nodes`, taking turns, flag the grabber.
fn flagged_at(nodes: &[&dyn FairUse], member: &str) -> Option<u64> {
    (0..200).find(|&n| grab_on(nodes[n as usize % nodes.len()], member, n).is_some())
}

#[test]
fn a_stockpiler_spread_over_two_nodes_is_flagged_as_on_one() {
    let redis = Redis::start();
    let alone = Guard::new(GuardConfig::default()).expect("guard");
    let on_one = flagged_at(&[&alone], "bot").expect("flagged on one node");
    // Two nodes with their own detectors each see half, and flag later or never.
    let (x, y) = (
        Guard::new(GuardConfig::default()).expect("guard"),
        Guard::new(GuardConfig::default()).expect("guard"),
    );
    let apart = flagged_at(&[&x, &y], "bot");
    assert!(
        apart.is_none_or(|n| n > on_one),
        "{apart:?} against {on_one}"
    );
    // Sharing the state in Redis, they flag at the very licence one node would.
    let (a, b) = (node(&redis), node(&redis));
    assert_eq!(flagged_at(&[&a, &b], "bot"), Some(on_one));
    // Either node's moderators see the flag; a clear on one clears it for both.
    let now = grab(on_one).2;
    assert!(b.signals("bot", now).expect("kept").stockpiling.flagged);
    assert!(a.signals("bot", now).expect("kept").stockpiling.flagged);
    a.clear("bot");
    assert!(
        !b.signals("bot", now)
            .is_some_and(|signals| signals.stockpiling.flagged)
    );
}

#[test]
fn assets_viewed_through_one_node_count_as_looked_at_for_a_licence_on_another() {
    let redis = Redis::start();
    let (a, b) = (node(&redis), node(&redis));
    let unviewed = |node: &RedisFairUse, member: &str, now: u64| {
        node.signals(member, now)
            .expect("kept")
            .stockpiling
            .signals
            .iter()
            .find(|reason| reason.signal == stockroom_guard::Signal::Unviewed)
            .map(|reason| reason.value)
            .expect("the unviewed signal")
    };
    let mut now = NOW;
    for (member, looks) in [("looker", true), ("grabber", false)] {
        for n in 0..12u64 {
            let asset = 1_000 + n;
            if looks {
                // Shown on A (a card), through the request path.
                let subject = Subject::Member(member.into());
                a.admit(
                    &Request {
                        subject: &subject,
                        policy: Policy::Previews,
                        seats: 1,
                        used: Some(("s1", "net")),
                        viewed: Some(asset),
                    },
                    now,
                );
            }
            now += 30 * SECOND;
            if looks {
                // Written to Redis by A's next flush.
                std::thread::sleep(Duration::from_millis(300));
            }
            grab_on_asset(&b, member, asset, now);
        }
    }
    let (looker, grabber) = (unviewed(&b, "looker", now), unviewed(&b, "grabber", now));
    assert!(
        looker < 0.1 && grabber > 0.9,
        "unviewed share: looker {looker:.2}, grabber {grabber:.2}"
    );
}

fn grab_on_asset(node: &RedisFairUse, member: &str, asset: u64, now: u64) {
    node.downloaded(
        member,
        &stockroom_guard::Download {
            asset,
            author: "someone",
            author_assets: 400,
            listed: (asset as i64, asset),
            seats: 1,
            ends_at: None,
        },
        now,
    );
}

#[test]
fn what_a_node_saw_of_a_member_while_redis_was_away_is_written_when_it_is_back() {
    let mut redis = Redis::start();
    let alone = Guard::new(GuardConfig::default()).expect("guard");
    let on_one = flagged_at(&[&alone], "bot").expect("flagged on one node");
    let (a, b) = (node(&redis), node(&redis));
    redis.kill();
    // Away: A sees every licence but the last that flags, on its own.
    for n in 0..on_one {
        assert!(grab_on(&a, "bot", n).is_none());
    }
    redis.resume();
    // A writes what it saw once Redis answers (its flush retries once a second).
    std::thread::sleep(Duration::from_millis(1_600));
    assert_eq!(a.shared(), Some(true));
    // B's licence is the one a single node would flag at: the outage was no amnesty.
    assert!(grab_on(&b, "bot", on_one).is_some());
}
