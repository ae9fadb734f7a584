//! What the simulated Anaplan has seen and will answer: scripts, the scenario, tokens, counters.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use axum::http::{HeaderMap, Method, header};
use tokio::time::Instant;

use super::reply::Reply;
use super::scenario::Scenario;

/// What the simulated Anaplan has seen and will answer; one lock, held only between awaits.
#[derive(Default)]
pub struct World {
    pub username: String,
    pub scenario: Option<Scenario>,
    pub scripts: HashMap<String, VecDeque<Reply>>,
    /// Answers every task path nothing else knows.
    pub any_task: Option<Reply>,
    pub calls: HashMap<(Method, String), usize>,
    pub answered_at: HashMap<String, Instant>,
    pub in_flight: usize,
    pub most_in_flight: usize,
    pub forwarded_authorization: Vec<String>,
    pub auth: AuthState,
}

impl World {
    /// The reply to a counted call: scripted, the scenario's, the any-task reply, else 404.
    pub fn reply_for(&mut self, method: &Method, path: &str) -> Reply {
        if let Some(replies) = self.scripts.get_mut(path) {
            let next = if replies.len() > 1 {
                replies.pop_front()
            } else {
                replies.front().cloned()
            };
            if let Some(reply) = next {
                return reply;
            }
        }
        let below_api = path.strip_prefix("/2/0").unwrap_or(path);
        if let Some(reply) = self
            .scenario
            .as_mut()
            .and_then(|s| s.reply(method, below_api))
        {
            return reply;
        }
        let is_task = path.contains("/tasks/") || path.contains("/readRequests/");
        match &self.any_task {
            Some(reply) if is_task => reply.clone(),
            _ => Reply::not_found(),
        }
    }
}

/// Tokens and logins.
pub struct AuthState {
    pub authentications: usize,
    pub refreshes: usize,
    pub passwords_seen: Vec<String>,
    pub valid_tokens: Vec<String>,
    pub issued: usize,
    pub token_lifetime: Duration,
    /// The auth API answers after this delay, and with this failure while it is set.
    pub delay: Duration,
    pub failure: Option<Reply>,
}

impl Default for AuthState {
    fn default() -> Self {
        Self {
            authentications: 0,
            refreshes: 0,
            passwords_seen: Vec::new(),
            valid_tokens: Vec::new(),
            issued: 0,
            token_lifetime: Duration::from_secs(35 * 60),
            delay: Duration::ZERO,
            failure: None,
        }
    }
}

impl AuthState {
    /// Whether a call carries a token this auth API issued and has not revoked.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        self.valid_tokens.contains(&bearer(headers))
    }
}

pub fn bearer(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("AnaplanAuthToken "))
        .unwrap_or_default()
        .to_owned()
}
