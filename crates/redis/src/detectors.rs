//! The detectors' per-member state in Redis: one hash per member (`v`, a version, and `s`,
//! the state as the guard serialises it), so that a stockpiler spreading downloads over
//! the nodes, or a shared key used through several, is seen whole.
//!
//! The detectors stay the guard's code; Redis holds their state and swaps it atomically.
//! An update is optimistic: the node applies the observation to the state it holds and
//! asks Redis, in one script call, to take the result if the member's version is still the
//! one it last saw. If another node wrote since, the script answers with the newer state;
//! the node adopts it, replays what it observed since its last write, applies the
//! observation again and retries. So a member used through one node costs one round trip
//! per licence or download stream, and a busy member spread over nodes two.
//!
//! Requests (a card, a preview, a seat's key used) feed the detectors on the hot path: the
//! node's guard counts them at once and keeps them pending here, and a thread writes them
//! to Redis every [`FLUSH`] (before a licence of that member, at once). A flag a replay
//! raises in the background is handed to the member's next licence or stream.
//!
//! **Redis away.** The node's guard goes on alone (its state holds everything it saw);
//! the members it updated meanwhile are written over Redis's state when Redis is back
//! (this node's view wins once), so an outage is no amnesty.
//!
//! Limits of this design: an observation made while a flush of the same member runs may be
//! counted twice after a conflict; a flag from a request's own observation on another node
//! is raised where that node saw it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use stockroom_guard::{Flag, Guard};

use crate::Link;

/// How often observations made on the request path are written to Redis.
pub(crate) const FLUSH: Duration = Duration::from_millis(250);

/// Takes a member's state if its version is the one expected (`force`: whatever it is).
/// KEYS[1]: the member's hash; ARGV: the expected version, the state (empty: none), the
/// expiry in seconds. Returns {1, the new version, ''} or {0, the version, the state}.
const SWAP: &str = r"
local current = redis.call('HMGET', KEYS[1], 'v', 's')
local version = tonumber(current[1]) or 0
if ARGV[1] ~= 'force' and tonumber(ARGV[1]) ~= version then
  return {0, version, current[2] or ''}
end
version = version + 1
redis.call('HSET', KEYS[1], 'v', version, 's', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, version, ''}
";

/// What a request showed the detectors, kept until written to Redis.
#[derive(Clone, Debug)]
pub(crate) enum Observation {
    /// Assets shown (search results, a card, a preview).
    Viewed { assets: Vec<u64>, now: u64 },
    /// A request with one of the member's keys (and maybe an asset shown).
    Request {
        seat: Option<(String, String)>,
        seats: u32,
        viewed: Option<u64>,
        now: u64,
    },
}

/// The node's side of the shared detectors.
pub(crate) struct Detectors {
    link: Arc<Link>,
    swap: redis::Script,
    prefix: String,
    /// The connection; held for the whole of an update, so a node updates one member at a
    /// time (licences and streams, not the request path).
    connection: Mutex<Option<redis::Connection>>,
    /// The version of each member's state this node last read or wrote.
    versions: Mutex<HashMap<String, u64>>,
    /// Members this node updated while Redis was away.
    dirty: Mutex<HashSet<String>>,
    pending: Mutex<HashMap<String, Vec<Observation>>>,
    /// Flags raised by a background replay, for the member's next licence or stream.
    flags: Mutex<HashMap<String, Flag>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Most members' observations kept pending (past it, new members' go to the node only).
const MAX_PENDING: usize = 100_000;

impl Detectors {
    pub(crate) fn new(link: Arc<Link>, prefix: &str) -> Detectors {
        Detectors {
            link,
            swap: redis::Script::new(SWAP),
            prefix: prefix.to_string(),
            connection: Mutex::new(None),
            versions: Mutex::new(HashMap::new()),
            dirty: Mutex::new(HashSet::new()),
            pending: Mutex::new(HashMap::new()),
            flags: Mutex::new(HashMap::new()),
        }
    }

    fn key(&self, member: &str) -> String {
        format!("{}det:{member}", self.prefix)
    }

    /// Keeps what a request showed, to write to Redis with the next flush.
    pub(crate) fn observed(&self, member: &str, observation: Observation) {
        let mut pending = lock(&self.pending);
        if pending.len() >= MAX_PENDING && !pending.contains_key(member) {
            return;
        }
        pending
            .entry(member.to_string())
            .or_default()
            .push(observation);
    }

    /// Members with observations not yet written, and those updated while Redis was away
    /// (written over Redis's state as soon as it answers).
    pub(crate) fn pending_members(&self) -> Vec<String> {
        let mut members: HashSet<String> = lock(&self.pending).keys().cloned().collect();
        members.extend(lock(&self.dirty).iter().cloned());
        members.into_iter().collect()
    }

    /// Applies `update` to the member's shared state (and the node's), as the module says;
    /// returns its flag, or one a background replay raised.
    pub(crate) fn update(
        &self,
        local: &Guard,
        member: &str,
        now: u64,
        update: impl Fn(&Guard) -> Option<Flag>,
    ) -> Option<Flag> {
        let mut connection = lock(&self.connection);
        let pending = lock(&self.pending).remove(member).unwrap_or_default();
        let stashed = lock(&self.flags).remove(member);
        if connection.is_none() && self.link.worth_trying() {
            match self.link.connect() {
                Ok(made) => *connection = Some(made),
                Err(error) => self.link.failed(&error),
            }
        }
        // Optimistic: the node's state is the version it last saw plus what it observed
        // since (the guard counted each observation as it came).
        let mut flag = update(local);
        let Some(redis) = connection.as_mut() else {
            self.alone(member);
            return flag.or(stashed);
        };
        let ttl = local.config().idle_secs.max(1);
        let dirty = lock(&self.dirty).contains(member);
        let mut expected = match lock(&self.versions).get(member) {
            _ if dirty => "force".to_string(),
            Some(version) => version.to_string(),
            // Never read here: the first call only reads.
            None => "-1".to_string(),
        };
        for _ in 0..4 {
            let state = local.detectors_state(member).unwrap_or_default();
            let answer: redis::RedisResult<(i64, u64, Vec<u8>)> = self
                .swap
                .key(self.key(member))
                .arg(&expected)
                .arg(state)
                .arg(ttl)
                .invoke(redis);
            match answer {
                Ok((1, version, _)) => {
                    lock(&self.versions).insert(member.to_string(), version);
                    lock(&self.dirty).remove(member);
                    self.link.answered();
                    return flag.or(stashed);
                }
                Ok((_, version, current)) => {
                    // Another node wrote: start from its state, replay, apply again.
                    let current = (!current.is_empty()).then_some(current);
                    if let Err(error) = local.adopt_detectors(member, current.as_deref(), now) {
                        tracing::warn!(member, %error, "a member's shared detector state does not read; this node's is written over it");
                        expected = "force".to_string();
                        continue;
                    }
                    let mut replayed = None;
                    for observation in &pending {
                        replayed = replayed.or(replay(local, member, observation));
                    }
                    flag = update(local).or(replayed);
                    expected = version.to_string();
                }
                Err(error) => {
                    self.link.failed(&error);
                    *connection = None;
                    self.alone(member);
                    return flag.or(stashed);
                }
            }
        }
        // Four nodes in a row wrote first: this node's state stays its own until next time.
        lock(&self.versions).remove(member);
        flag.or(stashed)
    }

    /// Writes a member's pending observations (the background flush); a flag it raised is
    /// kept for the member's next licence or stream.
    pub(crate) fn flush(&self, local: &Guard, member: &str, now: u64) {
        if let Some(flag) = self.update(local, member, now, |_| None) {
            lock(&self.flags).insert(member.to_string(), flag);
        }
    }

    /// The node updated `member` on its own: written over Redis's state when it is back.
    fn alone(&self, member: &str) {
        lock(&self.versions).remove(member);
        lock(&self.dirty).insert(member.to_string());
    }

    /// Forgets the member here and in Redis (cleared or erased).
    pub(crate) fn drop_member(&self, member: &str) {
        let mut connection = lock(&self.connection);
        lock(&self.pending).remove(member);
        lock(&self.flags).remove(member);
        lock(&self.versions).remove(member);
        lock(&self.dirty).remove(member);
        if connection.is_none() && self.link.worth_trying() {
            *connection = self.link.connect().ok();
        }
        if let Some(redis) = connection.as_mut()
            && let Err(error) = redis::cmd("DEL").arg(self.key(member)).query::<i64>(redis)
        {
            self.link.failed(&error);
            *connection = None;
        }
    }
}

/// Replays one observation on the node's (adopted) state.
fn replay(local: &Guard, member: &str, observation: &Observation) -> Option<Flag> {
    match observation {
        Observation::Viewed { assets, now } => {
            local.viewed(member, assets, *now);
            None
        }
        Observation::Request {
            seat,
            seats,
            viewed,
            now,
        } => local.observe(
            member,
            seat.as_ref()
                .map(|(seat, network)| (seat.as_str(), network.as_str())),
            *seats,
            *viewed,
            *now,
        ),
    }
}
