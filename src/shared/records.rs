//! Records a fleet keeps: an `Idempotency-Key`'s record, taken with `SET NX` before a start is
//! sent and only ever replaced by whoever saw the value it replaces (a Lua compare and swap), the
//! claim on each task a start answered with, which a later start's search of the task list must
//! not take, and the hold on a file an upload is writing. Values are opaque text; what they mean
//! is their users'.

use std::time::Duration;

use super::state::{SharedState, millis};

/// Replaces a value only if it is still the one the writer saw, keeping its expiry; an empty new
/// value deletes it.
const SWAP: &str = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end \
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) \
else redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') end return 1";

/// Keeps a value longer only if it is still the holder's.
const PROLONG: &str = "if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end \
return redis.call('PEXPIRE', KEYS[1], ARGV[2])";

/// Sets a value if the key is free, else answers the value there, in one round trip.
const PUT_NEW: &str = "if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then \
return false end return redis.call('GET', KEYS[1])";

impl SharedState {
    /// Stores `value` under `{tag}:{name}` for `keep` if nothing is stored there: `Ok` when
    /// stored, else what is; `None` when Redis did not answer.
    pub async fn put_new(
        &self,
        tag: &str,
        name: &str,
        value: &str,
        keep: Duration,
    ) -> Option<Result<(), String>> {
        let mut command = redis::cmd("EVAL");
        command
            .arg(PUT_NEW)
            .arg(1)
            .arg(self.key(tag, name))
            .arg(value)
            .arg(millis(keep));
        let found: Option<String> = self.run(command).await?;
        Some(found.map_or(Ok(()), Err))
    }

    /// Replaces `seen` under `{tag}:{name}` with `new` (until `seen` would have expired), or
    /// deletes it when `new` is `None`, if `seen` is still what is stored; `None` when Redis did
    /// not answer.
    pub async fn swap(&self, tag: &str, name: &str, seen: &str, new: Option<&str>) -> Option<bool> {
        let mut command = redis::cmd("EVAL");
        command
            .arg(SWAP)
            .arg(1)
            .arg(self.key(tag, name))
            .arg(seen)
            .arg(new.unwrap_or_default());
        let swapped: i64 = self.run(command).await?;
        Some(swapped == 1)
    }

    /// Keeps `seen` under `{tag}:{name}` for `keep` from now, if it is still what is stored;
    /// `None` when Redis did not answer.
    pub async fn prolong(&self, tag: &str, name: &str, seen: &str, keep: Duration) -> Option<bool> {
        let mut command = redis::cmd("EVAL");
        command
            .arg(PROLONG)
            .arg(1)
            .arg(self.key(tag, name))
            .arg(seen)
            .arg(millis(keep));
        let kept: i64 = self.run(command).await?;
        Some(kept == 1)
    }

    /// What is stored under `{tag}:{name}`; `None` when Redis did not answer.
    pub async fn read(&self, tag: &str, name: &str) -> Option<Option<String>> {
        let mut command = redis::cmd("GET");
        command.arg(self.key(tag, name));
        self.run(command).await
    }
}
