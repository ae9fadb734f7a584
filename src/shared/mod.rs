//! What the replicas of a fleet share through Redis or Valkey (`GATEWAY_REDIS_URL`); without it,
//! each process keeps its state alone, as one process needs nothing but itself.
//!
//! Shared: the pause after a 429, so a 429 seen by one replica pauses every replica until its
//! `Retry-After`; each key's polling floor, last answer and remembered failure, with wake-ups for
//! replicas waiting on another's poll ([`answers`]); and the one Anaplan token, sealed, with a
//! renewal lease and a generation swapped atomically ([`token`]); and the budget of Integration API
//! calls ([`budget`]); and the records of starts: `Idempotency-Key`s and the tasks starts answered
//! with ([`records`]). Redis is never on the path of a
//! fresh cached answer; every call to it is bounded by a short timeout, and while it is
//! unreachable each replica goes on alone and says so once (in the log and in
//! `anaplan_gateway_shared_state_up`): no caller gets an error because of it. Connections are made
//! in the background and remade by themselves.
//!
//! This module stores bytes and keeps the protocols (leases, swaps, wake-ups); what the bytes mean
//! is the cache's and the token manager's.

mod answers;
mod budget;
mod records;
mod state;
mod token;

pub use answers::{Claim, FleetKey, Lease, SharedAnswer, now_ms};
pub use budget::{Ask, Turn};
pub use state::{SharedState, random_id};
pub use token::{FleetLook, FleetToken, Renewal, RenewalLease, Written};
