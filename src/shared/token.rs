//! The fleet's one token, as opaque sealed bytes with a generation: read by every replica,
//! renewed by the one replica holding the renewal lease, and replaced only by a writer that saw
//! the generation it replaces (a Lua script swaps it atomically), so a replica that saw an older
//! token can never overwrite a newer one.

use std::time::Duration;

use super::{SharedState, millis, random_id};

/// The token as stored: its generation and its sealed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetToken {
    /// Counts the tokens the fleet has stored; 0 is none.
    pub generation: u64,
    /// The token, sealed by the token manager.
    pub sealed: Vec<u8>,
}

/// The outcome of offering a new token to the fleet.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Stored as this generation.
    Stored(u64),
    /// Another replica stored a newer one first: this one.
    Newer(FleetToken),
}

/// Stores the token if the generation is still the one the writer saw; else returns the newer.
const SWAP_TOKEN: &str = "\
local generation = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') \
if generation ~= tonumber(ARGV[1]) then \
  return {generation, redis.call('HGET', KEYS[1], 'sealed') or ''} end \
redis.call('HSET', KEYS[1], 'generation', generation + 1, 'sealed', ARGV[2]) \
redis.call('PEXPIRE', KEYS[1], ARGV[3]) \
return {generation + 1}";

/// Deletes a lease only if this replica still holds it.
const RELEASE_LEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) end return 0";

/// Proof that this replica is the fleet's one renewer for now.
pub struct RenewalLease(String);

impl SharedState {
    /// The fleet's token: `Some(None)` when there is none, `None` when Redis did not answer.
    pub async fn fleet_token(&self) -> Option<Option<FleetToken>> {
        let mut command = redis::cmd("HMGET");
        command
            .arg(self.key("fleet", "token"))
            .arg("generation")
            .arg("sealed");
        let (generation, sealed): (Option<u64>, Option<Vec<u8>>) = self.run(command).await?;
        Some(
            generation
                .zip(sealed)
                .map(|(generation, sealed)| FleetToken { generation, sealed }),
        )
    }

    /// Takes the renewal lease for `lease` unless another replica holds it: `Some(None)` then,
    /// `None` when Redis did not answer.
    pub async fn take_renewal(&self, lease: Duration) -> Option<Option<RenewalLease>> {
        let id = random_id();
        let mut command = redis::cmd("SET");
        command
            .arg(self.key("fleet", "token-renewal"))
            .arg(&id)
            .arg("NX")
            .arg("PX")
            .arg(millis(lease));
        let taken: Option<String> = self.run(command).await?;
        Some(taken.map(|_| RenewalLease(id)))
    }

    /// Ends a renewal: the next one may start at once (a 401 must not wait out the lease).
    pub async fn release_renewal(&self, lease: RenewalLease) {
        let mut command = redis::cmd("EVAL");
        command
            .arg(RELEASE_LEASE)
            .arg(1)
            .arg(self.key("fleet", "token-renewal"))
            .arg(lease.0);
        let _: Option<i64> = self.run(command).await;
    }

    /// Stores `sealed` as the generation after `seen`, kept for `keep_for`, unless another
    /// replica stored one since; `None` when Redis did not answer.
    pub async fn write_token(
        &self,
        seen: u64,
        sealed: &[u8],
        keep_for: Duration,
    ) -> Option<Written> {
        let mut command = redis::cmd("EVAL");
        command
            .arg(SWAP_TOKEN)
            .arg(1)
            .arg(self.key("fleet", "token"))
            .arg(seen)
            .arg(sealed)
            .arg(millis(keep_for));
        // `{generation}` when stored, `{newer generation, its sealed token}` when not.
        let mut swapped = self.run::<Vec<redis::Value>>(command).await?.into_iter();
        let generation = redis::from_redis_value(swapped.next()?).ok()?;
        Some(match swapped.next() {
            None => Written::Stored(generation),
            Some(sealed) => Written::Newer(FleetToken {
                generation,
                sealed: redis::from_redis_value(sealed).ok()?,
            }),
        })
    }
}
