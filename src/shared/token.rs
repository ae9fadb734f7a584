//! The fleet's one token, as opaque sealed bytes with a generation: read by every replica,
//! renewed by the one replica holding the renewal lease, and replaced only by a writer that saw
//! the generation it replaces (a Lua script swaps it atomically), so a replica that saw an older
//! token can never overwrite a newer one. A failed login is kept for its pause, so the other
//! replicas do not try the same credentials at once (repeated bad logins can lock the account).

use std::time::Duration;

use super::state::{SharedState, left, millis, random_id};

/// The token as stored: its generation and its sealed bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FleetToken {
    /// Counts the tokens the fleet has stored; 0 is none.
    pub generation: u64,
    /// The token, sealed by the token manager.
    pub sealed: Vec<u8>,
}

/// What the fleet holds of its token.
#[derive(Debug, Default)]
pub struct FleetLook {
    /// The token, if one is stored.
    pub token: Option<FleetToken>,
    /// The last failed login (as the token manager stored it) and the time left of its pause.
    pub login_failure: Option<(Vec<u8>, Duration)>,
}

/// The outcome of offering a new token to the fleet.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// Stored as this generation.
    Stored(u64),
    /// Another replica stored a newer one first: this one.
    Newer(FleetToken),
}

/// Whether this replica may renew for the fleet.
pub enum Renewal {
    /// It holds the lease until it releases it (or the lease runs out).
    Taken(RenewalLease),
    /// Another replica renews.
    Held,
}

/// Proof that this replica is the fleet's one renewer for now.
pub struct RenewalLease(String);

/// Stores the token if the generation is still the one the writer saw, and forgets a failed
/// login; else returns the newer token.
const SWAP_TOKEN: &str = "\
local generation = tonumber(redis.call('HGET', KEYS[1], 'generation') or '0') \
if generation ~= tonumber(ARGV[1]) then \
  return {generation, redis.call('HGET', KEYS[1], 'sealed') or ''} end \
redis.call('HSET', KEYS[1], 'generation', generation + 1, 'sealed', ARGV[2]) \
redis.call('PEXPIRE', KEYS[1], ARGV[3]) \
redis.call('DEL', KEYS[2]) \
return {generation + 1}";

/// Deletes a lease only if this replica still holds it.
const RELEASE_LEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) end return 0";

impl SharedState {
    /// What the fleet holds of its token; `None` when Redis did not answer.
    pub async fn fleet_token(&self) -> Option<FleetLook> {
        let failure = self.key("fleet", "login-failure");
        let mut pipe = redis::pipe();
        pipe.cmd("HMGET")
            .arg(self.key("fleet", "token"))
            .arg("generation")
            .arg("sealed");
        pipe.cmd("GET").arg(&failure);
        pipe.cmd("PTTL").arg(&failure);
        type Found = ((Option<u64>, Option<Vec<u8>>), Option<Vec<u8>>, i64);
        let ((generation, sealed), failure, failure_ttl): Found = self.run(pipe).await?;
        let token = generation
            .zip(sealed)
            .map(|(generation, sealed)| FleetToken { generation, sealed });
        Some(FleetLook {
            token,
            login_failure: failure.zip(left(failure_ttl)),
        })
    }

    /// Keeps a failed login (serialised by the token manager) for `pause`.
    pub async fn fail_login(&self, failure: Vec<u8>, pause: Duration) {
        let mut command = redis::cmd("SET");
        command
            .arg(self.key("fleet", "login-failure"))
            .arg(failure)
            .arg("PX")
            .arg(millis(pause));
        let _: Option<()> = self.run(command).await;
    }

    /// Takes the renewal lease for `lease` unless another replica holds it; `None` when Redis did
    /// not answer.
    pub async fn take_renewal(&self, lease: Duration) -> Option<Renewal> {
        let id = random_id();
        let mut command = redis::cmd("SET");
        command
            .arg(self.key("fleet", "token-renewal"))
            .arg(&id)
            .arg("NX")
            .arg("PX")
            .arg(millis(lease));
        let taken: Option<String> = self.run(command).await?;
        Some(match taken {
            Some(_) => Renewal::Taken(RenewalLease(id)),
            None => Renewal::Held,
        })
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
    /// replica stored one since; tried three times, since a lost write may lose a rotated refresh
    /// token for the fleet. `None` when Redis did not answer.
    pub async fn write_token(
        &self,
        seen: u64,
        sealed: &[u8],
        keep_for: Duration,
    ) -> Option<Written> {
        for _ in 0..2 {
            if let Some(written) = self.write_token_once(seen, sealed, keep_for).await {
                return Some(written);
            }
        }
        self.write_token_once(seen, sealed, keep_for).await
    }

    async fn write_token_once(
        &self,
        seen: u64,
        sealed: &[u8],
        keep_for: Duration,
    ) -> Option<Written> {
        let mut command = redis::cmd("EVAL");
        command
            .arg(SWAP_TOKEN)
            .arg(2)
            .arg(self.key("fleet", "token"))
            .arg(self.key("fleet", "login-failure"))
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
