//! The fleet's one budget of Integration API calls (`GATEWAY_UPSTREAM_RATE` for the whole fleet):
//! the same token bucket as a lone process keeps (a GCRA: the time at which the bucket would be
//! full again), held in Redis and read with Redis's clock, so replicas whose clocks disagree
//! still share one rate. Each turn is one Lua script: it grants a call now, or reserves a later
//! turn within the caller's bound (the caller sleeps until then), or says how long until there
//! is room.

use std::time::Duration;

use super::state::SharedState;

/// A turn in the budget, as the script granted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// The call may go after this wait (zero: at once); the turn is reserved.
    After(Duration),
    /// No room within the bound: there will be room for one call after this long.
    Refused(Duration),
}

/// The bucket's shape and what a call asks of it.
#[derive(Debug, Clone, Copy)]
pub struct Ask {
    /// Time between two calls at the steady rate.
    pub every: Duration,
    /// Calls that may go at once from a full bucket.
    pub burst: u32,
    /// The longest the call can wait for its turn.
    pub max_wait: Duration,
    /// Room the call must leave in the bucket (a refresh leaves room for callers with no answer).
    pub leave: Duration,
}

/// KEYS[1]: the time (µs, Redis's clock) at which the bucket is full again. ARGV: the interval
/// between calls, the bucket's span (interval × burst), the caller's longest wait and the room
/// it must leave, all in µs. Returns `{1, wait}` with the turn reserved, or `{0, wait}`.
const TAKE_TURN: &str = "\
local clock = redis.call('TIME') \
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2]) \
local every, span = tonumber(ARGV[1]), tonumber(ARGV[2]) \
local full_at = tonumber(redis.call('GET', KEYS[1]) or '0') \
if full_at < now then full_at = now end \
local next_full = full_at + every \
local wait = next_full - span + tonumber(ARGV[4]) - now \
if wait > tonumber(ARGV[3]) then return {0, math.ceil(wait)} end \
if wait < 0 then wait = 0 end \
redis.call('SET', KEYS[1], string.format('%.0f', next_full), 'PX', \
  math.ceil((next_full - now) / 1000) + 1000) \
return {1, math.ceil(wait)}";

impl SharedState {
    /// A turn in the fleet's budget; `None` when Redis did not answer (the replica then keeps
    /// the budget alone).
    pub async fn budget_turn(&self, ask: Ask) -> Option<Turn> {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let mut command = redis::cmd("EVAL");
        command
            .arg(TAKE_TURN)
            .arg(1)
            .arg(self.key("fleet", "budget"))
            .arg(micros(ask.every))
            .arg(micros(ask.every).saturating_mul(u64::from(ask.burst)))
            .arg(micros(ask.max_wait))
            .arg(micros(ask.leave));
        let (granted, wait): (u8, u64) = self.run(command).await?;
        let wait = Duration::from_micros(wait);
        Some(if granted == 1 {
            Turn::After(wait)
        } else {
            Turn::Refused(wait)
        })
    }
}
