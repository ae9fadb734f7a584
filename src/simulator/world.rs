//! What the simulated Anaplan has seen and will answer: scripts, the scenario, tokens, counters.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use axum::http::{HeaderMap, Method, header};
use tokio::time::Instant;

use super::files::Files;
use super::reply::Reply;
use super::scenario::Scenario;
use super::starts::{self, Starts};

/// What a call asked for besides its method, path and body.
pub struct Call<'a> {
    /// Its body is gzip-compressed.
    pub gzip: bool,
    /// Its `Accept` header.
    pub accept: &'a str,
    /// Its query string.
    pub query: &'a str,
}

/// What the simulated Anaplan has seen and will answer; one lock, held only between awaits.
#[derive(Default)]
pub struct World {
    pub username: String,
    /// The password basic logins must carry; `None`: any.
    pub password: Option<secrecy::SecretString>,
    pub scenario: Option<Scenario>,
    pub scripts: HashMap<String, VecDeque<Reply>>,
    /// Scripted answers to starts (POSTs) only, ahead of `scripts`.
    pub start_scripts: HashMap<String, VecDeque<Reply>>,
    /// Answers every task path nothing else knows.
    pub any_task: Option<Reply>,
    pub calls: HashMap<(Method, String), usize>,
    pub answered_at: HashMap<String, Instant>,
    pub in_flight: usize,
    pub most_in_flight: usize,
    pub forwarded_authorization: Vec<String>,
    /// Every call's `traceparent`, with its path, in order.
    pub traceparents: Vec<(String, String)>,
    pub auth: AuthState,
    pub starts: Starts,
    pub files: Files,
    /// Models opened and closed.
    pub models: super::models::Models,
    /// Every POST's path and body, in order.
    pub posted: Vec<(String, String)>,
    /// The models' imports, exports, actions, processes, views and lists, as
    /// `(collection, id, name)`, in every model.
    pub named: Vec<(String, String, String)>,
    /// How many objects a page of those lists holds; none: Anaplan's 5 000.
    pub names_page: Option<usize>,
    /// CloudWorks' integrations' runs.
    pub runs: super::cloudworks::Runs,
}

impl World {
    /// The reply to a counted call: scripted, a start's, a started task's, the scenario's, the
    /// any-task reply, else 404.
    pub fn reply_for(&mut self, method: &Method, path: &str, body: &[u8], call: Call) -> Reply {
        let scripted = next(self.scripts.get_mut(path));
        if let Some(below_cloudworks) = path.strip_prefix("/cloudworks/2/0") {
            let scripted = match *method == Method::POST {
                true => next(self.start_scripts.get_mut(path)).or(scripted),
                false => scripted,
            };
            return match scripted {
                Some(Reply::Lost(lost)) => {
                    self.runs.reply(method, below_cloudworks);
                    *lost
                }
                Some(Reply::Own) | None => self.runs.reply(method, below_cloudworks),
                Some(reply) => reply,
            };
        }
        let below_api = path.strip_prefix("/2/0").unwrap_or(path);

        if method == Method::POST
            && let Some((collection, object)) = starts::start_target(below_api)
        {
            let scripted = next(self.start_scripts.get_mut(path)).or(scripted);
            return match scripted {
                Some(Reply::Lost(lost)) => {
                    self.starts.create(collection, object, body);
                    *lost
                }
                Some(Reply::Own) | None if self.scenario.is_some() && !in_scenario(below_api) => {
                    Reply::not_found()
                }
                Some(Reply::Own) | None => self.starts.create(collection, object, body),
                Some(refused) => refused,
            };
        }
        let gzip = call.gzip;
        if let Some(Reply::Lost(lost)) = scripted {
            self.files.receive(method, below_api, body, gzip);
            return *lost;
        }
        if let Some(reply) = scripted.filter(|reply| !matches!(reply, Reply::Own)) {
            return reply;
        }
        if let Some(reply) = self.files.receive(method, below_api, body, gzip) {
            return reply;
        }
        if let Some(reply) = self.models.reply(method, below_api) {
            return reply;
        }
        if let Some(reply) = self.named_list(method, below_api, call.query) {
            return reply;
        }
        if let Some(reply) = self.starts.reply(method, below_api) {
            return reply;
        }
        if let Some(reply) = self.listed(method, below_api) {
            return reply;
        }
        if let Some(reply) = super::alm::report(below_api, call.accept) {
            return reply;
        }
        if method == Method::GET
            && let Some(reply) = self.files.reply(below_api)
        {
            return reply;
        }
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

impl World {
    /// An object's task list with the tasks started on it: the scenario's list with them added,
    /// or them alone.
    fn listed(&mut self, method: &Method, path: &str) -> Option<Reply> {
        let (collection, object) = starts::start_target(path)?;
        let started = self.starts.listed(collection, object);
        if method != Method::GET {
            return None;
        }
        // ALM's list leaves out its `tasks` key when there are none.
        if started.is_empty() && collection == "syncTasks" {
            return Some(Reply::ok(serde_json::json!({"status": {"code": 200}})));
        }
        if started.is_empty() {
            return None;
        }
        let scenario = self.scenario.as_mut().and_then(|s| s.reply(method, path));
        let mut tasks = match scenario {
            Some(Reply::Json(_, body)) => body["tasks"].as_array().cloned().unwrap_or_default(),
            _ => Vec::new(),
        };
        tasks.extend(started);
        let size = tasks.len();
        Some(Reply::ok(serde_json::json!({
            "meta": {"paging": {"currentPageSize": size, "offset": 0, "totalSize": size}},
            "tasks": tasks
        })))
    }
}

impl World {
    /// A model's list of imports (exports, actions, processes, views, lists), as Anaplan gives
    /// it: a page from `offset`, the key left out when there are none.
    fn named_list(&self, method: &Method, path: &str, query: &str) -> Option<Reply> {
        const NAMED: [&str; 6] = [
            "imports",
            "exports",
            "actions",
            "processes",
            "views",
            "lists",
        ];
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let ["workspaces", _, "models", _, collection] = segments.as_slice() else {
            return None;
        };
        if method != Method::GET || !NAMED.contains(collection) {
            return None;
        }
        let offset = (form_urlencoded::parse(query.as_bytes()))
            .find(|(name, _)| name == "offset")
            .and_then(|(_, value)| value.parse().ok())
            .unwrap_or(0);
        let all = (self.named.iter()).filter(|(listed, _, _)| listed == collection);
        let total = all.clone().count();
        let objects: Vec<serde_json::Value> = all
            .skip(offset)
            .take(self.names_page.unwrap_or(5000))
            .map(|(_, id, name)| serde_json::json!({"id": id, "name": name}))
            .collect();
        let paging = serde_json::json!({"currentPageSize": objects.len(), "offset": offset,
                                        "totalSize": total});
        let mut body = serde_json::json!({"meta": {"paging": paging}});
        if !objects.is_empty() {
            body[*collection] = serde_json::Value::Array(objects);
        }
        Some(Reply::ok(body))
    }
}

/// Whether `path` (below `/2/0`) is in one of the scenario's models (in its workspace, or
/// ALM's, which names no workspace).
fn in_scenario(path: &str) -> bool {
    use super::scenario::{BUSY_MODEL, IDLE_MODEL, WORKSPACE};
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let model = match segments.as_slice() {
        ["workspaces", WORKSPACE, "models", model, ..] | ["models", model, "alm", ..] => *model,
        _ => return false,
    };
    model == BUSY_MODEL || model == IDLE_MODEL
}

/// The next of scripted replies; the last one repeats.
fn next(replies: Option<&mut VecDeque<Reply>>) -> Option<Reply> {
    let replies = replies?;
    match replies.len() > 1 {
        true => replies.pop_front(),
        false => replies.front().cloned(),
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
    /// The certificate (PEM) whose logins are accepted, as the user `username`.
    pub trusted_certificate: Option<Vec<u8>>,
    /// Certificate payloads accepted so far: each may be used once.
    pub seen_payloads: HashSet<String>,
    /// Why certificate logins were refused.
    pub certificate_refusals: Vec<&'static str>,
    /// The OAuth client whose refresh tokens are accepted.
    pub oauth: Option<OAuthClient>,
    /// Refresh tokens spent by rotation, and how often one was offered again.
    pub spent_refresh_tokens: Vec<String>,
    pub spent_refresh_tokens_reused: usize,
    pub oauth_exchanges: usize,
}

/// An OAuth client of the simulated Anaplan and its current refresh token.
#[derive(Clone, Debug)]
pub struct OAuthClient {
    /// The client's id.
    pub client_id: String,
    /// The refresh token it accepts now.
    pub refresh_token: String,
    /// Whether every use hands out a new refresh token and spends the old one.
    pub rotate: bool,
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
            trusted_certificate: None,
            seen_payloads: HashSet::new(),
            certificate_refusals: Vec::new(),
            oauth: None,
            spent_refresh_tokens: Vec::new(),
            spent_refresh_tokens_reused: 0,
            oauth_exchanges: 0,
        }
    }
}

impl AuthState {
    /// Issues a new token, valid until revoked.
    pub fn issue(&mut self, prefix: &str) -> String {
        self.issued += 1;
        let token = format!("{prefix}-{}", self.issued);
        self.valid_tokens.push(token.clone());
        token
    }

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
