//! What the replicas of a fleet share through Redis or Valkey (`GATEWAY_REDIS_URL`); without it,
//! each process keeps its state alone, as one process needs nothing but itself.
//!
//! Shared so far: the pause after a 429, so a 429 seen by one replica pauses every replica until
//! its `Retry-After`. Redis is never on the path of a cached answer; every call to it is bounded
//! by a short timeout, and while it is unreachable each replica goes on alone and says so once
//! (in the log and in `anaplan_gateway_shared_state_up`): no caller gets an error because of it.
//! The connection is made in the background and remade by itself.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use anyhow::Context;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{FromRedisValue, IntoConnectionInfo};
use secrecy::ExposeSecret;
use tokio::time::Instant;

use crate::config::SharedSettings;
use crate::secret_file;

/// The bound on one call to Redis: past it the replica goes on alone for that call.
const TIMEOUT: Duration = Duration::from_millis(250);
const UNKNOWN: u8 = 0;
const UP: u8 = 1;
const DOWN: u8 = 2;

/// The fleet's shared state.
pub struct SharedState {
    connection: ConnectionManager,
    /// `{prefix}:{fleet}:pause`: the hash tag keeps the fleet's keys in one slot of a cluster.
    pause_key: String,
    /// Whether the last call reached Redis, so a change is logged once, not per call.
    reachable: AtomicU8,
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
        let client = redis::Client::open(info).context("GATEWAY_REDIS_URL")?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(TIMEOUT))
            .set_response_timeout(Some(TIMEOUT));
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .context("connecting to GATEWAY_REDIS_URL")?;
        Ok(Self {
            connection,
            pause_key: format!("{}:{{fleet}}:pause", settings.prefix),
            reachable: AtomicU8::new(UNKNOWN),
        })
    }

    /// How long the fleet's pause has left, if one holds.
    pub async fn pause_left(&self) -> Option<Duration> {
        let mut command = redis::cmd("PTTL");
        command.arg(&self.pause_key);
        let left: i64 = self.run(command).await?;
        u64::try_from(left)
            .ok()
            .filter(|ms| *ms > 0)
            .map(Duration::from_millis)
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
    async fn run<T: FromRedisValue>(&self, command: impl Query) -> Option<T> {
        let mut connection = self.connection.clone();
        let answered = tokio::time::timeout(TIMEOUT, command.send(&mut connection)).await;
        let value = answered.ok().flatten();
        self.mark(value.is_some());
        value
    }

    fn mark(&self, reached: bool) {
        let now = if reached { UP } else { DOWN };
        if self.reachable.swap(now, Ordering::AcqRel) == now {
            return;
        }
        metrics::gauge!("anaplan_gateway_shared_state_up").set(f64::from(u8::from(reached)));
        if reached {
            tracing::info!("shared state reachable: the fleet shares its pauses");
        } else {
            tracing::warn!("shared state unreachable: this replica goes on alone until it is back");
        }
    }
}

/// A command or a pipeline.
trait Query {
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

/// Sets the pause key for `pause` if absent; otherwise only ever lengthens it (PEXPIRE … GT,
/// Redis 7).
fn pause_pipeline(key: &str, pause: Duration) -> redis::Pipeline {
    let millis = pause.as_millis().max(1) as u64;
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
