//! Answers shared by the fleet. Before polling a key, a replica takes the key's floor
//! (`SET … NX PX`) under an id of that attempt's own, so one replica polls each key per interval,
//! fleet-wide. The floor is held for [`POLL_HOLD`] and renewed by its holder while the call runs,
//! so a floor whose holder is gone (it crashed, or gave up on a claim that Redis ran only later,
//! after a stall) lapses within seconds, never a whole call's bound. A claim whose answer was lost
//! is still the attempt's own: its holder stores under that id. When the call ends, the holder
//! sets the floor to the answer's own next poll (or a failure's pause), and nobody ever deletes
//! it: the floor expires. The poller stores the answer, already serialised, or the failure, and
//! publishes the key's tag; replicas waiting on that key wake within milliseconds and read it.
//!
//! An answer is stored tagged with the floor it answers: while that floor holds, the answer is the
//! key's latest, fresh for the floor's time to live as Redis counts it, so replicas whose clocks
//! disagree still agree on freshness. A new floor (a poll under way) makes it stale. A finished
//! task's answer never changes, and is served whatever the floor.

use std::future::Future;
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::state::{SharedState, TIMEOUT, left, millis, random_id};

/// The Redis keys of one cache key, all under its hash tag.
pub struct FleetKey {
    tag: Arc<str>,
    floor: String,
    answer: String,
    failure: String,
}

/// Proof that this replica holds a key's floor, so only it renews the floor and sets it after its
/// call.
pub struct Lease(String);

/// How long a poll's floor holds unless its holder renews it: a floor left by a holder that is
/// gone lapses within this.
pub const POLL_HOLD: Duration = Duration::from_secs(3);
/// How often a holder renews its floor while its call runs.
const RENEW_EVERY: Duration = Duration::from_secs(1);

/// An answer as the fleet stores it: when it was fetched and is next due (wall clock, ms since the
/// epoch: data only, never what freshness is timed by), and the body served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedAnswer {
    /// When Anaplan was asked.
    pub fetched_ms: i64,
    /// When the next poll is due; `None` once the task finished.
    pub next_poll_ms: Option<i64>,
    /// Its `ETag`, with no space in it.
    pub etag: String,
    /// The serialised answer.
    pub body: Bytes,
}

/// What a replica about to poll a key does instead, or not.
pub enum Claim {
    /// Poll Anaplan holding the floor: the lease is this attempt's own even when Redis did not
    /// answer in time (it may yet run the claim); `None` after waiting out another's poll.
    Poll(Option<Lease>),
    /// Serve this answer another replica fetched, fresh for this long (`None`: finished).
    Answer(SharedAnswer, Option<Duration>),
    /// Another replica's call failed: its failure (as the cache stored it) and the time left of
    /// its pause.
    Failure(Bytes, Duration),
}

impl SharedAnswer {
    /// `fetched next|- etag body`: a header of two numbers and the tag, then the body as it is
    /// served. The store script puts the id of the floor it answers in front.
    fn encode(&self) -> Vec<u8> {
        let next = (self.next_poll_ms).map_or("-".to_owned(), |ms| ms.to_string());
        let mut bytes = format!("{} {next} {} ", self.fetched_ms, self.etag).into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Reads an answer as stored, its floor's id in front.
    fn decode_stored(stored: &[u8]) -> Option<Self> {
        let space = stored.iter().position(|b| *b == b' ')?;
        Self::decode(&stored[space + 1..])
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let mut parts = bytes.splitn(4, |b| *b == b' ');
        let number = |part: Option<&[u8]>| std::str::from_utf8(part?).ok()?.parse::<i64>().ok();
        let fetched_ms = number(parts.next())?;
        let next = parts.next()?;
        let next_poll_ms = if next == b"-" {
            None
        } else {
            Some(number(Some(next))?)
        };
        let etag = String::from_utf8(parts.next()?.to_vec()).ok()?;
        // A record in any other layout is no answer: it is fetched again.
        if !(etag.starts_with("W/\"") && etag.ends_with('"')) {
            return None;
        }
        let body = Bytes::copy_from_slice(parts.next()?);
        Some(Self {
            fetched_ms,
            next_poll_ms,
            etag,
            body,
        })
    }
}

/// Takes the key's floor when it is free, and tells what the fleet holds, in one round trip so
/// no other replica's write falls between the looks. Keys: floor, answer, failure; arguments: a
/// new floor's id and its lease.
const CLAIM: &str = "\
local answer = redis.call('GET', KEYS[2]) \
if answer and string.match(answer, '^%S+ %S+ %- ') then return {'finished', answer} end \
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'poll'} end \
local floor = redis.call('GET', KEYS[1]) \
local floor_ttl = redis.call('PTTL', KEYS[1]) \
if answer and floor and string.sub(answer, 1, #floor + 1) == floor .. ' ' then \
  return {'fresh', answer, floor_ttl} end \
local failure = redis.call('GET', KEYS[3]) \
if failure then return {'failed', failure, redis.call('PTTL', KEYS[3])} end \
return {'wait', '', floor_ttl}";

/// Stores an answer tagged with the floor it answers. The floor's holder (`ARGV[1]`) lets its
/// floor run until the next poll (`ARGV[4]` ms), or sets it where none holds (its claim never
/// ran, or lapsed); anyone else (a cancel's answer) tags it with the floor in force, or sets one
/// (`ARGV[5]`) where none holds. `ARGV[2]` is the answer, kept `ARGV[3]` ms.
const STORE_ANSWER: &str = "\
local id = ARGV[1] \
local floor = redis.call('GET', KEYS[1]) \
if id == '' then id = floor or ARGV[5] \
elseif floor == id then redis.call('PEXPIRE', KEYS[1], ARGV[4]) end \
if not floor then redis.call('SET', KEYS[1], id, 'PX', ARGV[4]) end \
redis.call('SET', KEYS[2], id .. ' ' .. ARGV[2], 'PX', ARGV[3]) \
redis.call('DEL', KEYS[3]) \
return 1";

/// Stores a failure (`ARGV[2]`) for its pause (`ARGV[3]` ms); the floor's holder holds its floor
/// as long, and where no floor holds one is set (the holder's id, or `ARGV[4]`).
const STORE_FAILURE: &str = "\
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3]) \
local floor = redis.call('GET', KEYS[1]) \
if ARGV[1] ~= '' and floor == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[3]) \
elseif not floor then \
  local id = ARGV[4] \
  if ARGV[1] ~= '' then id = ARGV[1] end \
  redis.call('SET', KEYS[1], id, 'PX', ARGV[3]) \
end \
return 1";

/// Renews the floor (`ARGV[2]` ms) while its holder (`ARGV[1]`) still holds it.
const HOLD_FLOOR: &str = "\
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end \
return 0";

/// The longest a replica waits for a wake-up before it looks again: a lost one (the subscription
/// remade) costs at most this.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Wall-clock milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl SharedState {
    /// The keys for the cache key named `tag`.
    pub fn fleet_key(&self, tag: &str) -> FleetKey {
        FleetKey {
            floor: self.key(tag, "floor"),
            answer: self.key(tag, "answer"),
            failure: self.key(tag, "failure"),
            tag: tag.into(),
        }
    }

    /// Takes `key`'s floor for [`POLL_HOLD`] (renewed by [`hold_floor`](Self::hold_floor) while
    /// the call runs), or finds what another replica's poll brought. While another replica polls,
    /// waits for its outcome, until the floor lapses; past `deadline`, or whenever Redis does not
    /// answer, the replica polls alone.
    pub async fn claim(self: &Arc<Self>, key: &FleetKey, deadline: Instant) -> Claim {
        // Subscribed before looking, so an outcome stored in between still wakes this wait.
        let mut wakes = self.wakes();
        loop {
            let id = random_id();
            let command = key.script(CLAIM).arg(&id).arg(millis(POLL_HOLD)).clone();
            let Some(found) = self.run::<Vec<redis::Value>>(command).await else {
                // Redis may run this claim later (it stalled): the floor it then sets is this
                // attempt's, renewed and settled by it like any other.
                return Claim::Poll(Some(Lease(id)));
            };
            let mut found = found.into_iter();
            let what: String = found.next().and_then(value).unwrap_or_default();
            let bytes: Option<Vec<u8>> = found.next().and_then(value);
            let ttl: Option<i64> = found.next().and_then(value);
            let answer = bytes.as_deref().and_then(SharedAnswer::decode_stored);
            let time_left = ttl.and_then(left);
            match (what.as_str(), answer, time_left) {
                ("poll", _, _) => return Claim::Poll(Some(Lease(id))),
                ("finished", Some(answer), _) => return Claim::Answer(answer, None),
                ("fresh", Some(answer), Some(fresh_for)) => {
                    return Claim::Answer(answer, Some(fresh_for));
                }
                ("failed", _, Some(pause)) => {
                    if let Some(failure) = bytes {
                        return Claim::Failure(failure.into(), pause);
                    }
                }
                _ => {}
            }
            // Another replica is polling: wait for its outcome, or for its floor to lapse.
            let now = Instant::now();
            if now >= deadline {
                return Claim::Poll(None);
            }
            let floor_left = time_left.unwrap_or(Duration::from_millis(1));
            let wait = floor_left.min(LOOK_AGAIN).min(deadline - now);
            wait_for(&mut wakes, &key.tag, wait).await;
        }
    }

    /// Runs `call` while holding `key`'s floor under `lease`, renewed every second, so the floor
    /// outlives the call however long it takes, and lapses soon after a holder that is gone.
    /// Renewing stops once the floor is found to be another's.
    pub async fn hold_floor<T>(
        &self,
        key: &FleetKey,
        lease: &Lease,
        call: impl Future<Output = T>,
    ) -> T {
        let renew = async {
            loop {
                tokio::time::sleep(RENEW_EVERY).await;
                let mut command = key.script(HOLD_FLOOR);
                command.arg(&lease.0).arg(millis(POLL_HOLD));
                if self.run::<i64>(command).await == Some(0) {
                    return;
                }
            }
        };
        tokio::pin!(call);
        tokio::select! {
            outcome = &mut call => outcome,
            () = renew => call.await,
        }
    }

    /// Stores what this replica's poll brought (or a cancel's answer, with no lease), lets the
    /// floor run until the answer's next poll (`floor_for` from now), and wakes the replicas
    /// waiting for it. Runs apart, so no caller waits for Redis.
    pub fn share_answer(
        self: &Arc<Self>,
        key: &FleetKey,
        lease: Option<Lease>,
        answer: &SharedAnswer,
        floor_for: Duration,
        keep_for: Duration,
    ) {
        let mut store = key.script(STORE_ANSWER);
        store
            .arg(lease.map_or(String::new(), |Lease(id)| id))
            .arg(answer.encode())
            .arg(millis(keep_for))
            .arg(millis(floor_for))
            .arg(random_id());
        self.send_outcome(key, store);
    }

    /// Stores a failure (serialised by the cache) for `pause`, holds the floor as long, and wakes
    /// the replicas waiting for it.
    pub fn share_failure(
        self: &Arc<Self>,
        key: &FleetKey,
        lease: Option<Lease>,
        failure: Vec<u8>,
        pause: Duration,
    ) {
        let mut store = key.script(STORE_FAILURE);
        store
            .arg(lease.map_or(String::new(), |Lease(id)| id))
            .arg(failure)
            .arg(millis(pause))
            .arg(random_id());
        self.send_outcome(key, store);
    }

    /// Runs `store`, then publishes the key's tag, apart from any caller.
    fn send_outcome(self: &Arc<Self>, key: &FleetKey, store: redis::Cmd) {
        let mut pipe = redis::pipe();
        pipe.add_command(store).ignore();
        pipe.cmd("PUBLISH")
            .arg(self.key("fleet", "answers"))
            .arg(&*key.tag)
            .ignore();
        let state = self.clone();
        tokio::spawn(async move { state.run::<()>(pipe).await });
    }

    /// Wake-ups for keys other replicas stored an outcome for; starts the subscription that
    /// feeds them at first use.
    fn wakes(self: &Arc<Self>) -> broadcast::Receiver<Arc<str>> {
        let receiver = self.wakes.subscribe();
        if !self
            .listening
            .swap(true, std::sync::atomic::Ordering::AcqRel)
        {
            let channel = self.key("fleet", "answers");
            tokio::spawn(listen(Arc::downgrade(self), self.client.clone(), channel));
        }
        receiver
    }
}

impl FleetKey {
    /// `script` run on this key's floor, answer and failure; its arguments follow.
    fn script(&self, script: &str) -> redis::Cmd {
        let mut command = redis::cmd("EVAL");
        command
            .arg(script)
            .arg(3)
            .arg(&self.floor)
            .arg(&self.answer)
            .arg(&self.failure);
        command
    }
}

/// One element of a script's answer, read as `T`.
fn value<T: redis::FromRedisValue>(found: redis::Value) -> Option<T> {
    redis::from_redis_value(found).ok()
}

/// Waits until `tag` (or every key, `*`) is woken, or `at_most`.
async fn wait_for(wakes: &mut broadcast::Receiver<Arc<str>>, tag: &str, at_most: Duration) {
    let woken = async {
        loop {
            match wakes.recv().await {
                Ok(woken) if &*woken == tag || &*woken == "*" => return,
                Ok(_) => continue,
                // Some wake-ups were lost: this one may have been among them.
                Err(broadcast::error::RecvError::Lagged(_)) => return,
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    };
    let _ = tokio::time::timeout(at_most, woken).await;
}

/// Feeds the fleet's wake-ups to this replica's waiters, resubscribing after Redis drops the
/// subscription; ends with the shared state.
async fn listen(state: Weak<SharedState>, client: redis::Client, channel: String) {
    loop {
        let subscribed = tokio::time::timeout(TIMEOUT, async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            redis::RedisResult::Ok(pubsub)
        })
        .await;
        if let Ok(Ok(pubsub)) = subscribed {
            let Some(wakes) = state.upgrade().map(|state| state.wakes.clone()) else {
                return;
            };
            // Outcomes stored while unsubscribed were not heard: every waiter looks again.
            let _ = wakes.send("*".into());
            let mut messages = pubsub.into_on_message();
            while let Some(message) = messages.next().await {
                if let Ok(tag) = message.get_payload::<String>() {
                    let _ = wakes.send(tag.into());
                }
            }
            // The subscription dropped: waiters look again rather than wait out their floors.
            let _ = wakes.send("*".into());
        }
        if state.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(TIMEOUT).await;
    }
}

#[cfg(test)]
mod tests;
