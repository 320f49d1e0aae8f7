use super::*;

const START: u64 = 1_700_000_000 * SECOND;

/// xorshift64*, for jittered timings.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An exponential gap with this mean, in microseconds.
    fn gap(&mut self, mean_secs: f64) -> u64 {
        (-(1.0 - self.unit()).ln() * mean_secs * SECOND as f64) as u64
    }
}

fn download(asset: u64, author: &str, created_at: i64) -> Download<'_> {
    Download {
        asset,
        author,
        author_assets: 40,
        listed: (created_at, asset),
        seats: 1,
        ends_at: None,
    }
}

/// A person: searches, looks at a few results, licenses one now and then, at human gaps.
fn person(guard: &Guard, member: &str, rng: &mut Rng, downloads: usize) -> Option<Flag> {
    let mut now = START;
    let mut flag = None;
    for _ in 0..downloads {
        let results: Vec<u64> = (0..20).map(|_| rng.next()).collect();
        guard.viewed(member, &results, now);
        let pick = results[(rng.next() % 20) as usize];
        now += rng.gap(120.0);
        let author = format!("author{}", rng.next() % 50);
        let created = (rng.next() % 1_000_000) as i64;
        flag = flag.or(guard.downloaded(member, &download(pick, &author, created), now));
    }
    flag
}

#[test]
fn people_are_not_flagged() {
    let guard = valid_guard(GuardConfig::default());
    let mut rng = Rng(7);
    let flagged = (0..200)
        .filter(|i| person(&guard, &format!("m{i}"), &mut rng, 60).is_some())
        .count();
    assert_eq!(flagged, 0);
}

#[test]
fn a_bulk_grabber_is_flagged_with_its_reasons() {
    let guard = valid_guard(GuardConfig::default());
    let mut rng = Rng(9);
    let mut now = START;
    let flag = (0..200)
        .find_map(|i| {
            now += 2 * SECOND + rng.next() % (SECOND / 10);
            guard.downloaded("bot", &download(rng.next(), &format!("a{i}"), i), now)
        })
        .expect("flagged");
    assert_eq!(flag.detector, Detector::Stockpiling);
    let crossed: Vec<Signal> = flag.reasons.iter().map(|reason| reason.signal).collect();
    assert!(crossed.contains(&Signal::Unviewed), "{flag}");
    assert!(crossed.contains(&Signal::Regular), "{flag}");
    // Flagged once: it stays quiet until a moderator clears it.
    now += SECOND;
    assert!(guard.downloaded("bot", &download(1, "x", 0), now).is_none());
    let signals = guard.signals("bot", now).expect("kept");
    assert!(signals.stockpiling.flagged);
    guard.clear("bot");
    assert!(
        !guard
            .signals("bot", now)
            .is_some_and(|s| s.stockpiling.flagged)
    );
}

#[test]
fn a_listing_walker_who_looks_first_is_flagged_by_order() {
    let guard = valid_guard(GuardConfig::default());
    let mut rng = Rng(11);
    let mut now = START;
    let flag = (0..30).find_map(|i: i64| {
        let asset = rng.next();
        guard.viewed("walker", &[asset], now);
        now += rng.gap(60.0);
        guard.downloaded(
            "walker",
            &download(asset, &format!("a{}", rng.next() % 9), 10_000 - i),
            now,
        )
    });
    let flag = flag.expect("flagged");
    assert!(
        flag.reasons.iter().any(|r| r.signal == Signal::Listing),
        "{flag}"
    );
}

#[test]
fn an_author_sweep_is_flagged() {
    let guard = valid_guard(GuardConfig::default());
    let mut rng = Rng(13);
    let mut now = START;
    let flag = (0..40).find_map(|_| {
        let asset = rng.next();
        guard.viewed("sweeper", &[asset], now);
        now += rng.gap(45.0);
        let created = (rng.next() % 1_000) as i64;
        guard.downloaded("sweeper", &download(asset, "prolific", created), now)
    });
    let flag = flag.expect("flagged");
    assert!(
        flag.reasons.iter().any(|r| r.signal == Signal::Author),
        "{flag}"
    );
}

#[test]
fn a_shared_key_is_flagged_and_a_commuter_is_not() {
    let guard = valid_guard(GuardConfig::default());
    let mut now = START;
    // Home in the morning, office all day, home again, a phone in between.
    for network in ["home", "phone", "office", "office", "phone", "home"] {
        now += 2 * 3_600 * SECOND;
        assert!(guard.used("commuter", "s1", network, 1, now).is_none());
    }
    // Four people on four networks with one key.
    let flag = (0..40).find_map(|i| {
        now += 20 * SECOND;
        guard.used("shared", "s9", &format!("net{}", i % 4), 1, now)
    });
    let flag = flag.expect("flagged");
    assert_eq!(flag.detector, Detector::Login);
    assert!(
        flag.reasons
            .iter()
            .any(|r| r.signal == Signal::ConcurrentNetworks),
        "{flag}"
    );
    // A team's seats on their own networks are people, not a shared key.
    for seat in 0..10 {
        assert!(
            guard
                .used(
                    "team",
                    &format!("seat{seat}"),
                    &format!("net{seat}"),
                    10,
                    now
                )
                .is_none()
        );
    }
}

#[test]
fn more_streams_than_the_seats_allow_is_flagged() {
    let guard = valid_guard(GuardConfig::default());
    let member = Subject::Member("m".into());
    let streams: Vec<Stream> = (0..5).map(|_| guard.stream(&member, None)).collect();
    assert_eq!(guard.open_streams(&member), 5);
    let flag = guard.used("m", "s", "net", 1, START).expect("flagged");
    assert!(
        flag.reasons.iter().any(|r| r.signal == Signal::Streams),
        "{flag}"
    );
    drop(streams);
    assert_eq!(guard.open_streams(&member), 0);
}

const DAY: u64 = 86_400 * SECOND;

/// A member of a paid membership ending 3 days after a month of ordinary use (a few
/// downloads a day, each looked at first), who then licenses 150 assets in a day, looking
/// at them first or not. The flag, if any, and the signals at the end of the burst.
fn burst_before_the_end(ends: bool, looks: bool) -> (Option<Flag>, Signals) {
    let guard = valid_guard(GuardConfig::default());
    let mut rng = Rng(11);
    let burst_starts = START + 30 * DAY;
    let ends_at = ends.then_some(burst_starts + 3 * DAY);
    let mut now = START;
    let mut flag = None;
    let take = |now: u64, rng: &mut Rng, look: bool| {
        let asset = rng.next();
        if look {
            let results: Vec<u64> = (0..20).map(|_| rng.next()).collect();
            guard.viewed("m", &results, now);
            guard.viewed("m", &[asset], now + 30 * SECOND);
        }
        let author = format!("author{}", rng.next() % 50);
        let listed = (rng.next() % 1_000_000) as i64;
        let download = Download {
            ends_at,
            ..download(asset, &author, listed)
        };
        guard.downloaded("m", &download, now + 60 * SECOND)
    };
    while now < burst_starts {
        now += rng.gap(86_400.0 / 4.0);
        flag = flag.or(take(now, &mut rng, true));
    }
    assert!(flag.is_none(), "a month of ordinary use is not flagged");
    for _ in 0..150 {
        now += rng.gap(500.0);
        flag = flag.or(take(now, &mut rng, looks));
    }
    let signals = guard.signals("m", now + 60 * SECOND).expect("known");
    (flag, signals)
}

fn crossed(signals: &Signals, signal: Signal) -> bool {
    signals
        .stockpiling
        .signals
        .iter()
        .any(|reason| reason.signal == signal && reason.crossed)
}

#[test]
fn a_burst_of_unviewed_downloads_before_the_membership_ends_is_flagged() {
    let (flag, signals) = burst_before_the_end(true, false);
    let flag = flag.expect("flagged");
    assert!(
        flag.reasons
            .iter()
            .any(|reason| reason.signal == Signal::Ending),
        "{flag}"
    );
    assert!(crossed(&signals, Signal::Unviewed));
    // The same burst with no end in sight is below the flag: the end is what tells.
    let (flag, signals) = burst_before_the_end(false, false);
    assert!(flag.is_none(), "{flag:?}");
    assert!(!crossed(&signals, Signal::Ending));
    assert!(crossed(&signals, Signal::Unviewed));
}

#[test]
fn a_member_finishing_a_project_before_the_end_is_not_flagged_by_the_end_alone() {
    let (flag, signals) = burst_before_the_end(true, true);
    assert!(crossed(&signals, Signal::Ending), "{signals:?}");
    assert!(flag.is_none(), "{flag:?}");
}

#[test]
fn a_snapshot_carries_limits_and_flags_over_a_restart() {
    let config = GuardConfig::default();
    let guard = valid_guard(config.clone());
    let member = Subject::Member("m".into());
    for _ in 0..60 {
        assert!(
            guard
                .check(&member, Policy::Licences, 1, START)
                .is_some_and(|l| l.allowed())
        );
    }
    assert!(
        !guard
            .check(&member, Policy::Licences, 1, START)
            .is_some_and(|l| l.allowed())
    );
    let mut now = START;
    let flagged = (0..100).find_map(|i| {
        now += SECOND;
        guard.downloaded("m", &download(i, "a", i as i64), now)
    });
    assert!(flagged.is_some());
    let restored = Guard::restore(config.clone(), &guard.snapshot()).expect("reads back");
    assert_eq!(restored.len(), guard.len());
    // Still limited, still flagged (no second flag), same signals.
    assert!(
        !restored
            .check(&member, Policy::Licences, 1, START)
            .is_some_and(|l| l.allowed())
    );
    assert_eq!(restored.signals("m", now), guard.signals("m", now));
    assert!(
        restored
            .downloaded("m", &download(500, "a", 500), now + SECOND)
            .is_none()
    );
    assert!(matches!(
        Guard::restore(config, b"{\"version\":9,\"entries\":[]}"),
        Err(GuardError::Version(9))
    ));
}

#[test]
fn state_is_bounded_and_idle_subjects_go() {
    let config = GuardConfig {
        max_subjects: 1_600,
        idle_secs: 3_600,
        ..GuardConfig::default()
    };
    let guard = valid_guard(config);
    for i in 0..10_000 {
        guard.check(
            &Subject::Network(format!("n{i}")),
            Policy::Search,
            1,
            START + i * SECOND,
        );
    }
    assert!(guard.len() <= 1_600, "{}", guard.len());
    // 2,800 s after the last: those seen in its last 800 s stay.
    let later = START + (10_000 + 2_800) * SECOND;
    let before = guard.len();
    let dropped = guard.evict_idle(later);
    assert!(dropped > 0 && dropped < before, "{dropped} of {before}");
    assert!(guard.evict_idle(later + 7_200 * SECOND) > 0);
    assert!(guard.is_empty());
}

#[test]
fn a_disabled_guard_limits_paces_and_flags_nothing() {
    let guard = valid_guard(GuardConfig {
        enabled: false,
        ..GuardConfig::default()
    });
    let member = Subject::Member("m".into());
    assert!(guard.check(&member, Policy::Licences, 1, START).is_none());
    assert_eq!(guard.stream(&member, Some(1_000)).rate(), None);
    assert!((0..500).all(|i| {
        guard
            .downloaded("m", &download(i, "a", i as i64), START + i * SECOND)
            .is_none()
    }));
}

#[test]
fn anonymous_previews_are_not_limited_unless_configured() {
    let guard = valid_guard(GuardConfig::default());
    let network = Subject::Network("192.0.2.0/24".into());
    assert!(guard.check(&network, Policy::Previews, 1, START).is_none());
    assert!(guard.check(&network, Policy::Search, 1, START).is_some());
}

#[test]
fn admit_does_the_login_signal_the_limit_and_the_view_in_one_visit() {
    let guard = valid_guard(GuardConfig::default());
    let member = Subject::Member("m".into());
    let request = |network: &'static str, asset| Request {
        subject: &member,
        policy: Policy::Licences,
        seats: 1,
        used: Some(("seat", network)),
        viewed: Some(asset),
    };
    let mut flags = 0;
    for i in 0..61u64 {
        let admission = guard.admit(&request(["a", "b", "c"][i as usize % 3], i), START);
        flags += usize::from(admission.flag.is_some());
        let limit = admission.limit.expect("limited policy");
        assert_eq!(limit.allowed(), i < 60, "request {i}");
    }
    assert_eq!(flags, 1, "three networks at once flag once");
    // The refused request's asset was not shown, so it does not count as seen.
    let download = |asset| download(asset, "a", asset as i64);
    guard.downloaded("m", &download(59), START + SECOND);
    guard.downloaded("m", &download(60), START + 2 * SECOND);
    let signals = guard.signals("m", START + 2 * SECOND).expect("kept");
    let unviewed = signals
        .stockpiling
        .signals
        .iter()
        .find(|r| r.signal == Signal::Unviewed);
    assert_eq!(unviewed.map(|r| r.value), Some(0.5));
    assert!(
        valid_guard(GuardConfig {
            enabled: false,
            ..GuardConfig::default()
        })
        .admit(&request("a", 1), START)
        .limit
        .is_none()
    );
}

/// A guard whose configuration the test knows to be valid.
fn valid_guard(config: GuardConfig) -> Guard {
    Guard::new(config).expect("a valid configuration")
}

#[test]
fn a_zero_rate_or_share_out_of_range_is_refused() {
    let mut config = GuardConfig::default();
    config.licences.requests = 0;
    let error = Guard::new(config).expect_err("zero rate");
    assert!(error.to_string().contains("guard.licences"), "{error}");
    let config = GuardConfig {
        throttled_bytes_per_sec: 0,
        ..GuardConfig::default()
    };
    assert!(Guard::new(config).is_err());
    let mut config = GuardConfig::default();
    config.stockpiling.author_share = 1.5;
    assert!(Guard::new(config).is_err());
}
