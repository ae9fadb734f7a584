//! The connection to the fleet's Redis or Valkey, every call bounded and counted as reaching it or
//! not, and the pause after a 429 that every replica honours.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo};
use secrecy::ExposeSecret;
use tokio::sync::broadcast;
use tokio::time::Instant;

use crate::config::SharedSettings;
use crate::secret_file;

/// The bound on one call to Redis: past it the replica goes on alone for that call.
pub(super) const TIMEOUT: Duration = Duration::from_millis(250);
/// While Redis is unreachable, one call this often goes to it to find it back; the others go on
/// alone at once, rather than each waiting out the timeout.
const PROBE_EVERY: Duration = Duration::from_secs(1);
const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// The fleet's shared state.
pub struct SharedState {
    pub(super) client: redis::Client,
    connection: ConnectionManager,
    /// Every key starts with it, so several fleets can share one server.
    prefix: String,
    /// `{prefix}:{fleet}:pause`: the hash tag keeps the fleet's keys in one slot of a cluster.
    pause_key: String,
    /// Whether the last call reached Redis, so a change is logged once, not per call.
    reachable: AtomicU8,
    /// When this state was made, and when a call last went to Redis while it was unreachable
    /// (ms since then).
    started: Instant,
    last_probe_ms: AtomicU64,
    /// Tags of keys whose answer or failure another replica just stored; `*` after the
    /// subscription was remade, when any may have been missed.
    pub(super) wakes: broadcast::Sender<Arc<str>>,
    /// Whether the subscription that feeds `wakes` was started.
    pub(super) listening: AtomicBool,
}

impl SharedState {
    /// The state shared through `settings`' server; connects in the background.
    pub fn new(settings: &SharedSettings) -> anyhow::Result<Self> {
        let mut info = settings
            .url
            .as_str()
            .into_connection_info()
            .context("GATEWAY_REDIS_URL")?;
        if let Some(file) = &settings.password_file {
            let password = secret_file::read(file).context("GATEWAY_REDIS_PASSWORD_FILE")?;
            let redis = info.redis_settings().clone();
            info = info.set_redis_settings(redis.set_password(password.expose_secret()));
        }
        let client = match &settings.ca_file {
            Some(file) => {
                let root_cert = std::fs::read(file).context("GATEWAY_REDIS_CA_FILE")?;
                let trusted = redis::TlsCertificates {
                    client_tls: None,
                    root_cert: Some(root_cert),
                };
                redis::Client::build_with_tls(info, trusted).context("GATEWAY_REDIS_CA_FILE")?
            }
            None => redis::Client::open(info).context("GATEWAY_REDIS_URL")?,
        };
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config)
            .context("connecting to GATEWAY_REDIS_URL")?;
        Ok(Self {
            client,
            connection,
            prefix: settings.prefix.clone(),
            pause_key: format!("{}:{{fleet}}:pause", settings.prefix),
            reachable: AtomicU8::new(UNKNOWN),
            started: Instant::now(),
            last_probe_ms: AtomicU64::new(0),
            wakes: broadcast::channel(1024).0,
            listening: AtomicBool::new(false),
        })
    }

    /// A fleet-wide key: `{prefix}:{tag}:{name}`, the braces making `tag` its hash tag.
    pub(super) fn key(&self, tag: &str, name: &str) -> String {
        format!("{}:{{{tag}}}:{name}", self.prefix)
    }

    /// How long the fleet's pause has left, if one holds.
    pub async fn pause_left(&self) -> Option<Duration> {
        let mut command = redis::cmd("PTTL");
        command.arg(&self.pause_key);
        left(self.run(command).await?)
    }

    /// Pauses the fleet for `pause`, unless a longer pause already holds. While Redis does not
    /// answer the pause is offered again, for what is left of it: a 429 seen while Redis is
    /// away still reaches the fleet once it is back.
    pub async fn pause_for(&self, pause: Duration) {
        let until = Instant::now() + pause;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero()
                || self
                    .run::<()>(pause_pipeline(&self.pause_key, left))
                    .await
                    .is_some()
            {
                return;
            }
            tokio::time::sleep(TIMEOUT).await;
        }
    }

    /// Sends a command or pipeline within the timeout; `None` when Redis did not answer.
    pub(super) async fn run<T: FromRedisValue>(&self, command: impl Query) -> Option<T> {
        if !self.may_call() {
            return None;
        }
        let mut connection = self.connection.clone();
        let answered = tokio::time::timeout(TIMEOUT, command.send(&mut connection)).await;
        let value = answered.ok().flatten();
        self.mark(value.is_some());
        value
    }

    /// Whether a call may go to Redis now: always while it answers; while it does not, one call
    /// per [`PROBE_EVERY`].
    fn may_call(&self) -> bool {
        if self.reachable.load(Ordering::Acquire) != DOWN {
            return true;
        }
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let last = self.last_probe_ms.load(Ordering::Acquire);
        let due = last.saturating_add(PROBE_EVERY.as_millis() as u64);
        now >= due
            && (self.last_probe_ms)
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
    }

    fn mark(&self, reached: bool) {
        let now = if reached { UP } else { DOWN };
        if self.reachable.swap(now, Ordering::AcqRel) == now {
            return;
        }
        metrics::gauge!("anaplan_gateway_shared_state_up").set(f64::from(u8::from(reached)));
        if reached {
            tracing::info!(
                "shared state reachable: the fleet shares its token, answers and pauses"
            );
        } else {
            tracing::warn!("shared state unreachable: this replica goes on alone until it is back");
        }
    }
}

/// A command or a pipeline.
pub(super) trait Query {
    async fn send<T: FromRedisValue>(self, connection: &mut ConnectionManager) -> Option<T>;
}

impl Query for redis::Cmd {
    async fn send<T: FromRedisValue>(self, connection: &mut ConnectionManager) -> Option<T> {
        self.query_async(connection).await.ok()
    }
}

impl Query for redis::Pipeline {
    async fn send<T: FromRedisValue>(self, connection: &mut ConnectionManager) -> Option<T> {
        self.query_async(connection).await.ok()
    }
}

/// A random value no other replica picks: who holds a lease.
pub fn random_id() -> String {
    use rand::RngExt;
    format!("{:016x}", rand::rng().random::<u64>())
}

/// Milliseconds, at least one: Redis refuses a zero expiry.
pub(super) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// What a `PTTL` answer leaves of a key's life; nothing when it is gone or has no expiry.
pub(super) fn left(pttl: i64) -> Option<Duration> {
    u64::try_from(pttl)
        .ok()
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

/// Sets the pause key for `pause` if absent; otherwise only ever lengthens it (PEXPIRE … GT,
/// Redis 7).
fn pause_pipeline(key: &str, pause: Duration) -> redis::Pipeline {
    let millis = millis(pause);
    let mut pipe = redis::pipe();
    pipe.cmd("SET")
        .arg(key)
        .arg(1)
        .arg("PX")
        .arg(millis)
        .arg("NX")
        .ignore();
    pipe.cmd("PEXPIRE").arg(key).arg(millis).arg("GT").ignore();
    pipe
}
