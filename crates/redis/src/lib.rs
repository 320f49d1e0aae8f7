//! Fair use's rate limits in Redis, so that every node of a cluster counts a member (or an
//! anonymous network) together: N nodes do not give N times the limit (DESIGN §4, §7).
//!
//! [`RedisFairUse`] implements the platform's [`FairUse`] port around the node's own
//! [`Guard`]. Each rate-limited request is decided in Redis by the GCRA step on the
//! subject's theoretical arrival time, atomically, exactly as [`Guard`] decides it in
//! process. The decisions of all requests waiting at a moment go to Redis together, one
//! script call ([`DECIDE`]) answering each with an integer, from one thread
//! ([`FairUse::admit_then`]), so a busy node pays a round trip, a script run and a reply
//! to parse per batch, not per request. Downloads are paced on one schedule per subject
//! in Redis, so a member's streams on several nodes share one rate. The detectors' state
//! per member is kept in Redis too, swapped atomically by a script (`detectors.rs`).
//!
//! **Redis unreachable.** A call that fails (or takes longer than [`TIMEOUT`]) falls back to
//! the node's own limits, which the guard keeps all along (every request is counted there
//! too, so they are warm), and Redis is tried again at most once a second. Meanwhile the
//! requests each node lets through are counted per subject; when Redis answers again they
//! are charged to the shared state ([`RedisFairUse::shared`] is `Some(false)` until then),
//! so an outage is no amnesty. Limits never fail closed because Redis did.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod detectors;
mod shares;

use detectors::{Detectors, Observation};
use shares::Shares;
use stockroom_guard::{
    Admission, Download, FairUse, Flag, Guard, GuardConfig, Pacer, Policy, Request, Signals,
    Subject,
};

/// Longest wait for Redis before a request is decided by the node alone.
pub const TIMEOUT: Duration = Duration::from_millis(250);
/// How long after a failure Redis is tried again.
const RETRY: Duration = Duration::from_secs(1);

/// A batch of decisions in one script call (one round trip, one script run for the whole
/// batch): KEYS[i] is the i-th decision's key, ARGV[6i-5..6i] its kind and five numbers.
/// Returns two integers per decision, in order.
///
/// - `g`, the GCRA step for `want` requests at once (a share, `shares.rs`; one request
///   is a share of one): the key is the subject's theoretical arrival time (µs); the numbers
///   are now, interval, window (µs), want, and `back`, requests of an ended share to give
///   back first. As many of the `want` are taken as the bucket holds (it may hold no more
///   than a window after them). Returns the tat after them and how many, or minus the tat
///   and 0 if none (a tat is never 0). The key expires once the bucket is empty.
/// - `p`, a download's chunk booked on the subject's byte schedule, shared by every node's
///   streams of it (as `stockroom_guard::Stream` books it in process), in Redis's own time
///   so that nodes' clocks do not matter. The key is when the schedule is next free (µs);
///   the numbers are the chunk's cost and the lateness forgiven (µs). Returns how long to
///   wait (µs) and 0.
///
/// Decisions on one key in a batch see each other, in order. Numbers stay below 2^53 (µs
/// since 1970 are about 2^51), which Lua's doubles and Redis's integer replies hold exactly.
const DECIDE: &str = r"
local out = {}
local clock = nil
for i = 1, #KEYS do
  local at = (i - 1) * 6
  local a = tonumber(ARGV[at + 2])
  local b = tonumber(ARGV[at + 3])
  if ARGV[at + 1] == 'g' then
    local window = tonumber(ARGV[at + 4])
    local want = tonumber(ARGV[at + 5])
    local back = tonumber(ARGV[at + 6])
    local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
    local was = tat
    if back > 0 then tat = tat - back * b end
    if tat < a then tat = a end
    local room = math.floor((a + window - tat) / b)
    local granted = math.max(0, math.min(want, room))
    tat = tat + granted * b
    if tat ~= was then
      redis.call('SET', KEYS[i], string.format('%d', tat), 'PX', math.ceil((tat - a) / 1000) + 1000)
    end
    if granted > 0 then
      out[2 * i - 1] = tat
    else
      out[2 * i - 1] = -tat
    end
    out[2 * i] = granted
  else
    if not clock then
      local t = redis.call('TIME')
      clock = tonumber(t[1]) * 1000000 + tonumber(t[2])
    end
    local free = tonumber(redis.call('GET', KEYS[i]) or '0')
    local finish = math.max(free, clock - b) + a
    redis.call('SET', KEYS[i], string.format('%d', finish), 'PX', math.ceil((finish - clock) / 1000) + 1000)
    out[2 * i - 1] = finish - clock
    out[2 * i] = 0
  end
end
return out
";

/// Charges `count` requests let through while Redis was away to a subject's bucket (at
/// most a full window). `count` is net of what the node's shares held unspent when Redis
/// went away (`shares.rs`: charged then, never spent), so it may be negative: a refund.
/// KEYS[1]: its tat; ARGV: now, interval, window, count.
const CHARGE: &str = r"
local now = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local count = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
tat = math.max(now, math.min(tat + count * interval, now + window))
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return 1
";

/// Requests a node let through on its own for one bucket, to charge when Redis is back.
#[derive(Debug)]
struct Owed {
    /// Let through alone, less what shares held unspent.
    count: i64,
    interval: u64,
    window: u64,
}

/// Redis's answer: a GCRA step's (allowed, the bucket's tat after it, requests taken), or
/// a booking's (unused, the wait in µs, unused).
type Decided = Option<(bool, u64, u64)>;

/// Which decision a job asks for ([`DECIDE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Which {
    /// The GCRA step: args now, interval, window, want, back.
    Gcra,
    /// A chunk booked on the byte schedule: args cost, slack (the rest unused).
    Pace,
}

impl Which {
    /// Its name in [`DECIDE`]'s arguments.
    fn tag(self) -> &'static str {
        match self {
            Which::Gcra => "g",
            Which::Pace => "p",
        }
    }

    /// [`DECIDE`]'s two integers as a decision (see [`Decided`]).
    fn decided(self, answer: &[i64]) -> Decided {
        let &[first, second] = answer else {
            return None;
        };
        let taken = u64::try_from(second).ok()?;
        match self {
            Which::Gcra if first > 0 && taken > 0 => Some((true, first.unsigned_abs(), taken)),
            Which::Gcra if first < 0 && taken == 0 => Some((false, first.unsigned_abs(), 0)),
            Which::Gcra => None,
            Which::Pace => u64::try_from(first).ok().map(|wait| (false, wait, 0)),
        }
    }
}

/// One call on its way to Redis; `done` gets the answer, or `None` if Redis did not answer.
struct Job {
    which: Which,
    key: String,
    args: [u64; 5],
    done: Box<dyn FnOnce(Decided) + Send>,
}

/// Most decisions in one round trip.
const MAX_BATCH: usize = 256;

/// The link to Redis: its state, shared by the callers and the thread that talks to it.
struct Link {
    client: redis::Client,
    charge: redis::Script,
    up: AtomicBool,
    /// When Redis last failed, for the once-a-second retry.
    failed_at: Mutex<Option<Instant>>,
    owed: Mutex<HashMap<String, Owed>>,
    /// Shares of busy buckets this node took ahead of need.
    shares: Shares,
}

impl Link {
    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let connection = self.client.get_connection_with_timeout(TIMEOUT)?;
        connection.set_read_timeout(Some(TIMEOUT))?;
        connection.set_write_timeout(Some(TIMEOUT))?;
        Ok(connection)
    }

    fn owed(&self) -> MutexGuard<'_, HashMap<String, Owed>> {
        self.owed
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    fn failed_at(&self) -> MutexGuard<'_, Option<Instant>> {
        self.failed_at
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Whether Redis is worth trying now (up, or last failed a second ago or more).
    fn worth_trying(&self) -> bool {
        self.up.load(Ordering::Relaxed)
            || self
                .failed_at()
                .is_none_or(|failed| failed.elapsed() >= RETRY)
    }

    fn failed(&self, error: &redis::RedisError) {
        *self.failed_at() = Some(Instant::now());
        if self.up.swap(false, Ordering::Relaxed) {
            tracing::warn!(%error, "redis is unreachable: rate limits are this node's own until it answers");
        }
        // What the shares hold was charged to Redis and will not be spent now (the node's
        // own limits decide): refund it with the charge of what is let through alone, so
        // that the charge counts only what was spent.
        for (key, left, (interval, window)) in self.shares.release() {
            self.owe(key, -(left as i64), interval, window);
        }
    }

    /// Adds `count` to what `key`'s bucket is owed for requests let through alone.
    fn owe(&self, key: String, count: i64, interval: u64, window: u64) {
        let mut owed = self.owed();
        // Bounded: past this many subjects the rest go uncharged (an outage's worth).
        if owed.len() >= 100_000 && !owed.contains_key(&key) {
            return;
        }
        owed.entry(key)
            .or_insert(Owed {
                count: 0,
                interval,
                window,
            })
            .count += count;
    }

    fn answered(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            tracing::info!("redis answers again: rate limits are shared again");
        }
    }

    /// Charges the requests let through while Redis was away (none, in the common case:
    /// one lock, no round trip). If a charge fails, the rest stays owed.
    fn settle(&self, connection: &mut redis::Connection, now: u64) -> redis::RedisResult<()> {
        let mut owed = self.owed();
        let keys: Vec<String> = owed.keys().cloned().collect();
        for key in keys {
            let Some(debt) = owed.get(&key) else { continue };
            if debt.count == 0 {
                owed.remove(&key);
                continue;
            }
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
}

/// The thread that talks to Redis: takes every decision waiting, sends them in one script
/// call, and answers each.
fn run(link: Arc<Link>, jobs: Receiver<Job>) {
    // The connection, and the decisions script's SHA1 as loaded on it.
    let mut connection: Option<(redis::Connection, String)> = None;
    while let Ok(first) = jobs.recv() {
        // Whatever else is waiting, up to a batch.
        let batch: Vec<Job> = std::iter::once(first)
            .chain(jobs.try_iter().take(MAX_BATCH - 1))
            .collect();
        // The charge of what was let through alone is dated by the newest request.
        let now = batch
            .iter()
            .filter(|job| job.which == Which::Gcra)
            .map(|job| job.args[0])
            .max();
        if !link.worth_trying() {
            batch.into_iter().for_each(|job| (job.done)(None));
            continue;
        }
        let outcome = (|| {
            let (connection, script) = match connection.as_mut() {
                Some(connected) => connected,
                None => {
                    let mut fresh = link.connect()?;
                    let script: String = redis::cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(DECIDE)
                        .query(&mut fresh)?;
                    connection.insert((fresh, script))
                }
            };
            // What was let through alone is charged before anything is decided again.
            if let Some(now) = now {
                link.settle(connection, now)?;
            }
            let mut decide = redis::cmd("EVALSHA");
            decide.arg(&*script).arg(batch.len());
            for job in &batch {
                decide.arg(&job.key);
            }
            for job in &batch {
                decide.arg(job.which.tag()).arg(&job.args[..]);
            }
            decide.query::<Vec<i64>>(connection)
        })();
        match outcome {
            Ok(answers) if answers.len() == 2 * batch.len() => {
                link.answered();
                for (job, answer) in batch.into_iter().zip(answers.chunks_exact(2)) {
                    (job.done)(job.which.decided(answer));
                }
            }
            outcome => {
                let error = match outcome {
                    Err(error) => error,
                    Ok(_) => redis::RedisError::from((
                        redis::ErrorKind::Client,
                        "the decisions script answered a different number of decisions",
                    )),
                };
                link.failed(&error);
                // A connection that failed may be broken: start afresh next time.
                connection = None;
                batch.into_iter().for_each(|job| (job.done)(None));
            }
        }
    }
}

/// Hands `job` to the thread that talks to Redis; if it is gone (it panicked), the job is
/// answered at once as if Redis were away.
fn send(jobs: &Mutex<Sender<Job>>, job: Job) {
    let sent = jobs
        .lock()
        .unwrap_or_else(|poison| poison.into_inner())
        .send(job);
    if let Err(mpsc::SendError(job)) = sent {
        (job.done)(None);
    }
}

/// A download's pace on its subject's schedule in Redis, which every node's streams of the
/// subject share. Each chunk is booked without waiting for Redis (the booking goes with
/// others' in the next round trip); the wait after a chunk is until the end of the last
/// booking Redis answered, and at least the chunk's own time at the rate, so a stream runs
/// about one chunk ahead of the shared schedule and never faster than the rate. While Redis
/// is away, the node's own schedule paces it.
struct RedisPacer {
    local: Arc<dyn Pacer>,
    rate: u64,
    key: String,
    jobs: Arc<Mutex<Sender<Job>>>,
    /// When the last booking known ends.
    free_at: Arc<Mutex<Option<Instant>>>,
}

impl std::fmt::Debug for RedisPacer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisPacer")
            .field("key", &self.key)
            .field("rate", &self.rate)
            .finish_non_exhaustive()
    }
}

impl Pacer for RedisPacer {
    fn chunk(&self) -> usize {
        self.local.chunk()
    }

    fn delay_after(&self, bytes: u64) -> Duration {
        let now = Instant::now();
        let micros = |bytes: u64| bytes.saturating_mul(1_000_000) / self.rate.max(1);
        let (cost, slack) = (micros(bytes), micros(self.chunk() as u64));
        let free_at = Arc::clone(&self.free_at);
        let local = Arc::clone(&self.local);
        let job = Job {
            which: Which::Pace,
            key: self.key.clone(),
            args: [cost, slack, 0, 0, 0],
            done: Box::new(move |decided| {
                let wait = match decided {
                    Some((_, wait, _)) => Duration::from_micros(wait),
                    None => local.delay_after(bytes),
                };
                *free_at.lock().unwrap_or_else(|poison| poison.into_inner()) = Some(now + wait);
            }),
        };
        let known = *self
            .free_at
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        send(&self.jobs, job);
        // At least this chunk's own time, whatever Redis has said so far: a stream whose
        // bookings are still on their way never runs faster than the rate alone.
        let own = Duration::from_micros(cost);
        known.map_or(own, |free| free.saturating_duration_since(now).max(own))
    }

    fn rate(&self) -> Option<u64> {
        Some(self.rate)
    }
}

/// Fair use with its rate limits in Redis.
pub struct RedisFairUse {
    local: Arc<Guard>,
    link: Arc<Link>,
    jobs: Arc<Mutex<Sender<Job>>>,
    detectors: Arc<Detectors>,
    /// Keys' prefix: one Redis can serve several platforms.
    prefix: String,
}

impl std::fmt::Debug for RedisFairUse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisFairUse")
            .field("prefix", &self.prefix)
            .field("up", &self.link.up.load(Ordering::Relaxed))
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

impl RedisError {
    fn thread(error: std::io::Error) -> RedisError {
        RedisError(redis::RedisError::from((
            redis::ErrorKind::Client,
            "starting a redis thread",
            error.to_string(),
        )))
    }
}

impl RedisFairUse {
    /// Fair use around `local` with its limits in the Redis at `url` (`redis://host:port/db`),
    /// keys under `prefix`. Connects once to check the URL; a Redis that is down now is no
    /// error (the node starts on its own limits and joins when it answers).
    pub fn new(local: Arc<Guard>, url: &str, prefix: &str) -> Result<RedisFairUse, RedisError> {
        let link = Arc::new(Link {
            client: redis::Client::open(url).map_err(RedisError)?,
            charge: redis::Script::new(CHARGE),
            up: AtomicBool::new(true),
            failed_at: Mutex::new(None),
            owed: Mutex::new(HashMap::new()),
            shares: Shares::default(),
        });
        if let Err(error) = link.connect() {
            tracing::warn!(%error, "redis is unreachable: rate limits are this node's own until it answers");
            link.up.store(false, Ordering::Relaxed);
            *link.failed_at() = Some(Instant::now());
        }
        let (jobs, received) = mpsc::channel();
        let thread_link = Arc::clone(&link);
        std::thread::Builder::new()
            .name("redis-guard".into())
            .spawn(move || run(thread_link, received))
            .map_err(RedisError::thread)?;
        let detectors = Arc::new(Detectors::new(Arc::clone(&link), prefix));
        let (flushed, guard) = (Arc::downgrade(&detectors), Arc::clone(&local));
        std::thread::Builder::new()
            .name("redis-detectors".into())
            .spawn(move || {
                // Until the fair use it serves is dropped.
                while let Some(detectors) = {
                    std::thread::sleep(detectors::FLUSH);
                    flushed.upgrade()
                } {
                    let now = stockroom_vocab::Clock::now_micros(&stockroom_vocab::SystemClock);
                    for member in detectors.pending_members() {
                        detectors.flush(&guard, &member, now);
                    }
                }
            })
            .map_err(RedisError::thread)?;
        Ok(RedisFairUse {
            local,
            link,
            jobs: Arc::new(Mutex::new(jobs)),
            detectors,
            prefix: prefix.to_string(),
        })
    }

    /// The node's own guard (detectors, pacing, and the fallback limits).
    pub fn local(&self) -> &Arc<Guard> {
        &self.local
    }

    /// The Redis key of `subject`'s `what` (`gcra:<policy>` or `pace`).
    fn key(&self, what: &str, subject: &Subject) -> String {
        let (kind, id) = match subject {
            Subject::Member(id) => ("m", id),
            Subject::Network(id) => ("n", id),
        };
        format!("{}{what}:{kind}:{id}", self.prefix)
    }

    /// The key of `subject`'s bucket for `policy`.
    fn bucket(&self, subject: &Subject, policy: Policy) -> String {
        self.key(&format!("gcra:{}", policy.name()), subject)
    }
}

impl FairUse for RedisFairUse {
    fn config(&self) -> &GuardConfig {
        self.local.config()
    }

    /// Blocks until Redis (or the fallback) answered: [`FairUse::admit_then`] and a wait.
    fn admit(&self, request: &Request<'_>, now: u64) -> Admission {
        let (answer, answered) = mpsc::sync_channel(1);
        self.admit_then(
            request,
            now,
            Box::new(move |admission| {
                let _ = answer.send(admission);
            }),
        );
        // `done` is always called; were it dropped, the request goes unlimited rather than
        // counted twice.
        answered.recv().unwrap_or_default()
    }

    /// The node's guard sees every request (its detectors, and its limits kept warm for an
    /// outage); the answer is Redis's while it answers.
    fn admit_then(&self, request: &Request<'_>, now: u64, done: Box<dyn FnOnce(Admission) + Send>) {
        let local = self.local.admit(request, now);
        if let Subject::Member(member) = request.subject
            && self.local.enabled()
            && (request.used.is_some() || request.viewed.is_some())
        {
            // What the node's guard just observed, for the shared state. (A view the rate
            // limit refused is not one: the guard counts only what it lets through.)
            let shown = local.limit.as_ref().is_none_or(|limit| limit.allowed());
            self.detectors.observed(
                member,
                Observation::Request {
                    seat: request
                        .used
                        .map(|(seat, network)| (seat.to_string(), network.to_string())),
                    seats: request.seats,
                    viewed: request.viewed.filter(|_| shown),
                    now,
                },
            );
        }
        let Some(rate) = local
            .limit
            .and_then(|_| self.local.rate(request.subject, request.policy))
        else {
            return done(local);
        };
        let seats = request.seats;
        let cell = stockroom_guard::gcra_cell(rate, seats);
        let (interval, window) = cell;
        let key = self.bucket(request.subject, request.policy);
        let policy = request.policy.name();
        // A share this node already took from the bucket (or the bucket seen empty) decides
        // it here and now.
        if let Some((allowed, tat)) = self.link.shares.spend(&key, cell, now) {
            return done(Admission {
                limit: Some(stockroom_guard::gcra_answer(
                    rate, seats, now, tat, allowed, policy,
                )),
                flag: local.flag,
            });
        }
        let ask = self.link.shares.ask(&key, cell, now);
        let link = Arc::clone(&self.link);
        let job = Job {
            which: Which::Gcra,
            key: key.clone(),
            args: [now, interval, window, ask.want, ask.back],
            done: Box::new(move |decided| {
                if ask.share {
                    let granted = decided.map(|(_, tat, taken)| (taken, tat));
                    link.shares.taken(&key, cell, now, granted);
                }
                match decided {
                    Some((allowed, tat, _)) => done(Admission {
                        limit: Some(stockroom_guard::gcra_answer(
                            rate, seats, now, tat, allowed, policy,
                        )),
                        flag: local.flag,
                    }),
                    None => {
                        if local.limit.is_some_and(|limit| limit.allowed()) {
                            link.owe(key, 1, interval, window);
                        }
                        done(local);
                    }
                }
            }),
        };
        send(&self.jobs, job);
    }

    fn viewed(&self, member: &str, assets: &[u64], now: u64) {
        self.local.viewed(member, assets, now);
        if self.local.enabled() {
            self.detectors.observed(
                member,
                Observation::Viewed {
                    assets: assets.to_vec(),
                    now,
                },
            );
        }
    }

    /// Decided on the member's state in Redis (what every node saw), one round trip.
    fn downloaded(&self, member: &str, download: &Download<'_>, now: u64) -> Option<Flag> {
        if !self.local.enabled() {
            return None;
        }
        self.detectors.update(&self.local, member, now, |guard| {
            guard.downloaded(member, download, now)
        })
    }

    fn used(&self, member: &str, seat: &str, network: &str, seats: u32, now: u64) -> Option<Flag> {
        if !self.local.enabled() {
            return None;
        }
        self.detectors.update(&self.local, member, now, |guard| {
            guard.used(member, seat, network, seats, now)
        })
    }

    /// Counted among the subject's streams on this node, paced on its schedule in Redis.
    fn stream(&self, subject: &Subject, rate: Option<u64>) -> Arc<dyn Pacer> {
        let local = FairUse::stream(self.local.as_ref(), subject, rate);
        let Some(rate) = local.rate() else {
            return local;
        };
        Arc::new(RedisPacer {
            local,
            rate,
            key: self.key("pace", subject),
            jobs: Arc::clone(&self.jobs),
            free_at: Arc::new(Mutex::new(None)),
        })
    }

    /// As every node saw the member: the shared state read first.
    fn signals(&self, member: &str, now: u64) -> Option<Signals> {
        if self.local.enabled() {
            self.detectors.flush(&self.local, member, now);
        }
        self.local.signals(member, now)
    }

    fn clear(&self, member: &str) {
        self.local.clear(member);
        self.detectors.drop_member(member);
    }

    fn forget(&self, member: &str) {
        self.local.forget(member);
        self.detectors.drop_member(member);
        let subject = Subject::Member(member.to_string());
        let keys: Vec<String> = [Policy::Search, Policy::Previews, Policy::Licences]
            .iter()
            .map(|policy| self.bucket(&subject, *policy))
            .collect();
        self.link.shares.forget(&keys);
        if self.link.up.load(Ordering::Relaxed) {
            let _ = self.link.connect().and_then(|mut connection| {
                redis::cmd("DEL").arg(&keys).query::<i64>(&mut connection)
            });
        }
    }

    fn snapshot(&self, now: u64) -> Option<Vec<u8>> {
        FairUse::snapshot(self.local.as_ref(), now)
    }

    fn shared(&self) -> Option<bool> {
        Some(self.link.up.load(Ordering::Relaxed))
    }
}
