//! Rate limits shared through a real Redis (Debian's `redis-server`, started on a free
//! loopback port by each test): two nodes count one member together, and a node rides out
//! Redis going away and charges what it let through when Redis is back.

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
