//! Answers shared by the fleet. Before polling a key, a replica takes the key's floor
//! (`SET … NX PX`), so one replica polls each key per interval, fleet-wide. The lease outlives the
//! slowest upstream call, so two calls never overlap; when the call ends, its holder shortens it
//! to the answer's own next poll (or a failure's pause), and nobody ever deletes it: the floor
//! expires. The poller stores the answer, already serialised, or the failure, and publishes the
//! key's tag; replicas waiting on that key wake within milliseconds and read it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::broadcast;
use tokio::time::Instant;

use super::{SharedState, TIMEOUT, left, millis, random_id};

/// The Redis keys of one cache key, all under its hash tag.
pub struct FleetKey {
    tag: Arc<str>,
    floor: String,
    answer: String,
    failure: String,
}

/// Proof that this replica holds a key's floor, so only it shortens the floor after its call.
pub struct Lease(String);

/// An answer as the fleet stores it: when it was fetched and is next due (wall clock, ms since the
/// epoch: data only, never what a floor is timed by), and the body served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedAnswer {
    /// When Anaplan was asked.
    pub fetched_ms: i64,
    /// When the next poll is due; `None` once the task finished.
    pub next_poll_ms: Option<i64>,
    /// The serialised answer.
    pub body: Bytes,
}

/// What a replica about to poll a key does instead, or not.
pub enum Claim {
    /// Poll Anaplan: holding the floor, or alone while Redis does not answer.
    Poll(Option<Lease>),
    /// Serve this answer another replica fetched.
    Answer(SharedAnswer),
    /// Another replica's call failed: its failure (as the cache stored it) and the time left of
    /// its pause.
    Failure(Bytes, Duration),
}

impl SharedAnswer {
    /// Whether it may be served at `now_ms`: finished, or not yet due.
    fn usable(&self, now_ms: i64) -> bool {
        self.next_poll_ms.is_none_or(|due| due > now_ms)
    }

    /// `fetched next|- body`: a header of two numbers, then the body as it is served.
    fn encode(&self) -> Vec<u8> {
        let next = self
            .next_poll_ms
            .map_or("-".to_owned(), |ms| ms.to_string());
        let mut bytes = format!("{} {next} ", self.fetched_ms).into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    fn decode(bytes: Vec<u8>) -> Option<Self> {
        let mut parts = bytes.splitn(3, |b| *b == b' ');
        let number = |part: Option<&[u8]>| std::str::from_utf8(part?).ok()?.parse::<i64>().ok();
        let fetched_ms = number(parts.next())?;
        let next = parts.next()?;
        let next_poll_ms = if next == b"-" {
            None
        } else {
            Some(number(Some(next))?)
        };
        let body = Bytes::copy_from_slice(parts.next()?);
        Some(Self {
            fetched_ms,
            next_poll_ms,
            body,
        })
    }
}

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

    /// Takes `key`'s floor for `lease` (longer than any upstream call), or finds what another
    /// replica's poll brought. While another replica polls, waits for its outcome, until the
    /// floor lapses; past `deadline`, or whenever Redis does not answer, the replica polls alone.
    pub async fn claim(
        self: &Arc<Self>,
        key: &FleetKey,
        lease: Duration,
        deadline: Instant,
    ) -> Claim {
        // Subscribed before looking, so an outcome stored in between still wakes this wait.
        let mut wakes = self.wakes();
        loop {
            let id = random_id();
            let mut pipe = redis::pipe();
            pipe.cmd("SET")
                .arg(&key.floor)
                .arg(&id)
                .arg("NX")
                .arg("PX")
                .arg(millis(lease));
            pipe.cmd("GET").arg(&key.answer);
            pipe.cmd("GET").arg(&key.failure);
            pipe.cmd("PTTL").arg(&key.failure);
            pipe.cmd("PTTL").arg(&key.floor);
            type Looked = (Option<String>, Option<Vec<u8>>, Option<Vec<u8>>, i64, i64);
            let Some((won, answer, failure, failure_ttl, floor_ttl)) =
                self.run::<Looked>(pipe).await
            else {
                return Claim::Poll(None);
            };
            if won.is_some() {
                return Claim::Poll(Some(Lease(id)));
            }
            if let Some(answer) = answer
                .and_then(SharedAnswer::decode)
                .filter(|answer| answer.usable(now_ms()))
            {
                return Claim::Answer(answer);
            }
            if let (Some(failure), Some(pause)) = (failure, left(failure_ttl)) {
                return Claim::Failure(failure.into(), pause);
            }
            // Another replica is polling: wait for its outcome, or for its floor to lapse.
            let now = Instant::now();
            if now >= deadline {
                return Claim::Poll(None);
            }
            let floor_left = left(floor_ttl).unwrap_or(Duration::from_millis(1));
            wait_for(&mut wakes, &key.tag, floor_left.min(deadline - now)).await;
        }
    }

    /// Stores what this replica's poll brought, lets the floor run until the answer's next poll
    /// (`floor_for` from now), and wakes the replicas waiting for it. Runs apart, so no caller
    /// waits for Redis.
    pub fn share_answer(
        self: &Arc<Self>,
        key: &FleetKey,
        lease: Option<Lease>,
        answer: &SharedAnswer,
        floor_for: Duration,
        keep_for: Duration,
    ) {
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&key.answer)
            .arg(answer.encode())
            .arg("PX")
            .arg(millis(keep_for))
            .ignore();
        pipe.cmd("DEL").arg(&key.failure).ignore();
        self.send_outcome(key, lease, pipe, floor_for);
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
        let mut pipe = redis::pipe();
        pipe.cmd("SET")
            .arg(&key.failure)
            .arg(failure)
            .arg("PX")
            .arg(millis(pause))
            .ignore();
        self.send_outcome(key, lease, pipe, pause);
    }

    /// Sets the floor to `floor_for` (the lease holder's own floor only; without a lease, only
    /// where no floor holds), then publishes the key's tag after `pipe`'s writes.
    fn send_outcome(
        self: &Arc<Self>,
        key: &FleetKey,
        lease: Option<Lease>,
        mut pipe: redis::Pipeline,
        floor_for: Duration,
    ) {
        let floor_ms = millis(floor_for);
        match lease {
            Some(Lease(id)) => {
                pipe.cmd("EVAL")
                    .arg(SHORTEN_OWN_FLOOR)
                    .arg(1)
                    .arg(&key.floor)
                    .arg(id)
                    .arg(floor_ms)
                    .ignore();
            }
            None => {
                pipe.cmd("SET")
                    .arg(&key.floor)
                    .arg("alone")
                    .arg("NX")
                    .arg("PX")
                    .arg(floor_ms)
                    .ignore();
            }
        }
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

/// Sets the floor's expiry only if this replica still holds it.
const SHORTEN_OWN_FLOOR: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";

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
        }
        if state.strong_count() == 0 {
            return;
        }
        tokio::time::sleep(TIMEOUT).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shared_answer_reads_back_as_it_was_stored() {
        for next_poll_ms in [Some(1_700_000_005_000), None] {
            let answer = SharedAnswer {
                fetched_ms: 1_700_000_000_000,
                next_poll_ms,
                body: Bytes::from_static(b"{\"a\": \"b c\"}"),
            };
            assert_eq!(SharedAnswer::decode(answer.encode()), Some(answer));
        }
        assert_eq!(SharedAnswer::decode(b"garbage".to_vec()), None);
        assert_eq!(SharedAnswer::decode(b"1 x {}".to_vec()), None);
    }

    #[test]
    fn a_finished_answer_is_always_usable_and_a_running_one_until_due() {
        let running = SharedAnswer {
            fetched_ms: 0,
            next_poll_ms: Some(100),
            body: Bytes::new(),
        };
        assert!(running.usable(99));
        assert!(!running.usable(100));
        let finished = SharedAnswer {
            next_poll_ms: None,
            ..running
        };
        assert!(finished.usable(i64::MAX));
    }
}
