//! Fair use's rate limits in Redis, so that every node of a cluster counts a member (or an
//! anonymous network) together: N nodes do not give N times the limit (DESIGN §4, §7).
//!
//! [`RedisFairUse`] implements the platform's [`FairUse`] port around the node's own
//! [`Guard`]. Each rate-limited request is decided in Redis by one script call (one round
//! trip): the GCRA step on the subject's theoretical arrival time, atomically, exactly as
//! [`Guard`] decides it in process. Everything else (the detectors, download pacing) is the
//! node's own [`Guard`]'s for now.
//!
//! **Redis unreachable.** A call that fails (or takes longer than [`TIMEOUT`]) falls back to
//! the node's own limits, which the guard keeps all along (every request is counted there
//! too, so they are warm), and Redis is tried again at most once a second. Meanwhile the
//! requests each node lets through are counted per subject; when Redis answers again they
//! are charged to the shared state ([`RedisFairUse::shared`] is `Some(false)` until then),
//! so an outage is no amnesty. Limits never fail closed because Redis did.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use redis::ConnectionLike;
use stockroom_guard::{
    Admission, Download, FairUse, Flag, Guard, GuardConfig, Limit, Pacer, Policy, Request, Signals,
    Subject,
};

/// Longest wait for Redis before a request is decided by the node alone.
pub const TIMEOUT: Duration = Duration::from_millis(250);
/// How long after a failure Redis is tried again (microseconds).
const RETRY_MICROS: u64 = 1_000_000;
/// Idle connections kept.
const MAX_IDLE: usize = 32;

/// The GCRA step: allowed if the bucket, after this request, holds no more than a window.
/// KEYS[1]: the subject's theoretical arrival time (µs); ARGV: now, interval, window (µs).
/// Returns {allowed, tat after}. The key expires once the bucket is empty.
const GCRA: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local next = tat + interval
if next - now <= window then
  redis.call('SET', KEYS[1], string.format('%d', next), 'PX', math.ceil((next - now) / 1000) + 1000)
  return {1, string.format('%d', next)}
end
return {0, string.format('%d', tat)}
";

/// Charges `count` requests let through while Redis was away to a subject's bucket (at
/// most a full window). KEYS[1]: its tat; ARGV: now, interval, window, count.
const CHARGE: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = math.min(tat + count * interval, now + window)
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return 1
";

/// Requests a node let through on its own for one bucket, to charge when Redis is back.
#[derive(Debug)]
struct Owed {
    count: u64,
    interval: u64,
    window: u64,
}

/// Fair use with its rate limits in Redis.
pub struct RedisFairUse {
    local: Arc<Guard>,
    client: redis::Client,
    idle: Mutex<Vec<redis::Connection>>,
    gcra: redis::Script,
    charge: redis::Script,
    /// Keys' prefix: one Redis can serve several platforms.
    prefix: String,
    up: AtomicBool,
    /// When Redis last failed (µs), for the once-a-second retry.
    failed_at: AtomicU64,
    owed: Mutex<HashMap<String, Owed>>,
}

impl std::fmt::Debug for RedisFairUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFairUse")
            .field("prefix", &self.prefix)
            .field("up", &self.up.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Why Redis could not be used.
#[derive(Debug)]
pub struct RedisError(redis::RedisError);

impl std::fmt::Display for RedisError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redis: {}", self.0)
    }
}

impl std::error::Error for RedisError {}

impl RedisFairUse {
    /// Fair use around `local` with its limits in the Redis at `url` (`redis://host:port/db`),
    /// keys under `prefix`. Connects once to check the URL; a Redis that is down now is no
    /// error (the node starts on its own limits and joins when it answers).
    pub fn new(local: Arc<Guard>, url: &str, prefix: &str) -> Result<RedisFairUse, RedisError> {
        let client = redis::Client::open(url).map_err(RedisError)?;
        let fair = RedisFairUse {
            local,
            client,
            idle: Mutex::new(Vec::new()),
            gcra: redis::Script::new(GCRA),
            charge: redis::Script::new(CHARGE),
            prefix: prefix.to_string(),
            up: AtomicBool::new(true),
            failed_at: AtomicU64::new(0),
            owed: Mutex::new(HashMap::new()),
        };
        if let Err(error) = fair.connection() {
            tracing::warn!(%error, "redis is unreachable: rate limits are this node's own until it answers");
            fair.up.store(false, Ordering::Relaxed);
        }
        Ok(fair)
    }

    /// The node's own guard (detectors, pacing, and the fallback limits).
    pub fn local(&self) -> &Arc<Guard> {
        &self.local
    }

    fn idle(&self) -> MutexGuard<'_, Vec<redis::Connection>> {
        self.idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn connection(&self) -> redis::RedisResult<redis::Connection> {
        if let Some(connection) = self.idle().pop() {
            return Ok(connection);
        }
        let connection = self.client.get_connection_with_timeout(TIMEOUT)?;
        connection.set_read_timeout(Some(TIMEOUT))?;
        connection.set_write_timeout(Some(TIMEOUT))?;
        Ok(connection)
    }

    fn give_back(&self, connection: redis::Connection) {
        let mut idle = self.idle();
        if idle.len() < MAX_IDLE && connection.is_open() {
            idle.push(connection);
        }
    }

    /// Runs `call` on a connection, unless Redis failed less than a second ago; marks Redis
    /// up or down by the outcome, and charges what is owed when it is back.
    fn with_redis<T>(
        &self,
        now: u64,
        call: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Option<T> {
        if !self.up.load(Ordering::Relaxed)
            && now.saturating_sub(self.failed_at.load(Ordering::Relaxed)) < RETRY_MICROS
        {
            return None;
        }
        let outcome = self.connection().and_then(|mut connection| {
            // What was let through alone is charged before anything is decided again.
            self.settle(&mut connection, now)?;
            let answer = call(&mut connection)?;
            self.give_back(connection);
            Ok(answer)
        });
        match outcome {
            Ok(answer) => {
                if !self.up.swap(true, Ordering::Relaxed) {
                    tracing::info!("redis answers again: rate limits are shared again");
                }
                Some(answer)
            }
            Err(error) => {
                self.failed_at.store(now, Ordering::Relaxed);
                if self.up.swap(false, Ordering::Relaxed) {
                    tracing::warn!(%error, "redis is unreachable: rate limits are this node's own until it answers");
                }
                // A connection that failed may be broken: start afresh next time.
                self.idle().clear();
                None
            }
        }
    }

    /// Charges the requests let through while Redis was away (none, in the common case:
    /// one lock, no round trip). If a charge fails, the rest stays owed.
    fn settle(&self, connection: &mut redis::Connection, now: u64) -> redis::RedisResult<()> {
        let mut owed = self
            .owed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if owed.is_empty() {
            return Ok(());
        }
        let keys: Vec<String> = owed.keys().cloned().collect();
        for key in keys {
            let Some(debt) = owed.get(&key) else { continue };
            let _: i64 = self
                .charge
                .key(&key)
                .arg(now)
                .arg(debt.interval)
                .arg(debt.window)
                .arg(debt.count)
                .invoke(connection)?;
            owed.remove(&key);
        }
        Ok(())
    }

    fn key(&self, subject: &Subject, policy: Policy) -> String {
        let (kind, id) = match subject {
            Subject::Member(id) => ("m", id),
            Subject::Network(id) => ("n", id),
        };
        format!("{}gcra:{}:{kind}:{id}", self.prefix, policy.name())
    }

    /// Decides `policy` for `subject` in Redis; `None` if Redis is away.
    fn decide(&self, subject: &Subject, policy: Policy, seats: u32, now: u64) -> Option<Limit> {
        let rate = self.local.rate(subject, policy)?;
        let (interval, window) = stockroom_guard::gcra_cell(rate, seats);
        let key = self.key(subject, policy);
        let (allowed, tat): (i64, String) = self.with_redis(now, |connection| {
            self.gcra
                .key(&key)
                .arg(now)
                .arg(interval)
                .arg(window)
                .invoke(connection)
        })?;
        let tat = tat.parse().unwrap_or(now);
        Some(stockroom_guard::gcra_answer(
            rate,
            seats,
            now,
            tat,
            allowed == 1,
            policy.name(),
        ))
    }

    /// Remembers a request the node let through alone, to charge it later.
    fn owe(&self, subject: &Subject, policy: Policy, seats: u32) {
        let Some(rate) = self.local.rate(subject, policy) else {
            return;
        };
        let (interval, window) = stockroom_guard::gcra_cell(rate, seats);
        let mut owed = self
            .owed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        // Bounded: past this many subjects the rest go uncharged (an outage's worth).
        if owed.len() >= 100_000 && !owed.contains_key(&self.key(subject, policy)) {
            return;
        }
        let entry = owed.entry(self.key(subject, policy)).or_insert(Owed {
            count: 0,
            interval,
            window,
        });
        entry.count += 1;
    }
}

impl FairUse for RedisFairUse {
    fn config(&self) -> &GuardConfig {
        self.local.config()
    }

    /// The node's guard sees every request (its detectors, and its limits kept warm for an
    /// outage); the answer is Redis's while it answers.
    fn admit(&self, request: &Request<'_>, now: u64) -> Admission {
        let local = self.local.admit(request, now);
        if local.limit.is_none() {
            return local;
        }
        match self.decide(request.subject, request.policy, request.seats, now) {
            Some(limit) => Admission {
                limit: Some(limit),
                flag: local.flag,
            },
            None => {
                if local.limit.is_some_and(|limit| limit.allowed()) {
                    self.owe(request.subject, request.policy, request.seats);
                }
                local
            }
        }
    }

    fn viewed(&self, member: &str, assets: &[u64], now: u64) {
        self.local.viewed(member, assets, now);
    }

    fn downloaded(&self, member: &str, download: &Download<'_>, now: u64) -> Option<Flag> {
        self.local.downloaded(member, download, now)
    }

    fn used(&self, member: &str, seat: &str, network: &str, seats: u32, now: u64) -> Option<Flag> {
        self.local.used(member, seat, network, seats, now)
    }

    fn stream(&self, subject: &Subject, rate: Option<u64>) -> Arc<dyn Pacer> {
        FairUse::stream(self.local.as_ref(), subject, rate)
    }

    fn signals(&self, member: &str, now: u64) -> Option<Signals> {
        self.local.signals(member, now)
    }

    fn clear(&self, member: &str) {
        self.local.clear(member);
    }

    fn forget(&self, member: &str) {
        self.local.forget(member);
        let subject = Subject::Member(member.to_string());
        let keys: Vec<String> = [Policy::Search, Policy::Previews, Policy::Licences]
            .iter()
            .map(|policy| self.key(&subject, *policy))
            .collect();
        let _ = self.with_redis(0, |connection| {
            redis::cmd("DEL").arg(&keys).query::<i64>(connection)
        });
    }

    fn snapshot(&self, now: u64) -> Option<Vec<u8>> {
        FairUse::snapshot(self.local.as_ref(), now)
    }

    fn shared(&self) -> Option<bool> {
        Some(self.up.load(Ordering::Relaxed))
    }
}
