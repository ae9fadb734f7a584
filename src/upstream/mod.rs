//! The client for Anaplan's Integration API v2: one connection pool, the shared token, the
//! budget, the permits and the pause after a 429, which every request passes through the one
//! request core ([`request`]). What is asked of Anaplan is built on it: statuses, task lists and
//! cancels ([`status`]), starts ([`start`]), failure dumps ([`dump`]), export files and read
//! pages ([`files`]), uploads of import files ([`uploads`]); and, on CloudWorks' API with the
//! same token, integrations' runs ([`cloudworks`]).

pub mod auth;
mod budget;
mod chunks;
pub mod cloudworks;
pub mod dump;
mod endpoint;
pub mod error;
mod files;
mod gate;
pub mod names;
pub mod request;
mod response;
pub mod runs;
mod server_clock;
pub mod start;
pub mod status;
pub mod uploads;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use tokio::sync::Semaphore;

pub use budget::Urgency;
pub use error::UpstreamError;
pub use response::{innermost_cause, parse_retry_after};

use crate::config::{AnaplanSettings, CredentialMethod};
use crate::shared::SharedState;
use auth::{AuthApi, Basic, Certificate, Credential, Identity, OAuth, TokenManager};
use gate::RateLimitGate;

/// A task's status as Anaplan sent it, in its kind's shape.
#[derive(Debug)]
pub enum WireTaskStatus {
    /// Imports, exports, actions, processes.
    Task(wire::WireTask),
    /// View and list read requests.
    ReadRequest(wire::WireReadRequest),
    /// CloudWorks integration runs.
    Run(runs::WireRun),
}

impl WireTaskStatus {
    /// The id Anaplan gave it, where it gave one.
    pub fn id(&self) -> Option<&str> {
        match self {
            WireTaskStatus::Task(task) => task.task_id.as_deref(),
            WireTaskStatus::ReadRequest(request) => request.request_id.as_deref(),
            WireTaskStatus::Run(run) => run.id.as_deref(),
        }
    }

    /// Whether it may be what a caller's start made: a CloudWorks run its schedule started is not.
    pub fn may_be_a_callers_start(&self) -> bool {
        match self {
            WireTaskStatus::Run(run) => !(run.trigger_source.as_deref())
                .is_some_and(|source| source.starts_with("scheduled")),
            _ => true,
        }
    }

    /// When Anaplan created it (a run: started it), in milliseconds since the epoch, where it says.
    pub fn created_ms(&self) -> Option<i64> {
        match self {
            WireTaskStatus::Task(task) => task.creation_time,
            WireTaskStatus::ReadRequest(_) => None,
            WireTaskStatus::Run(run) => run.started_ms(),
        }
    }
}

/// The Integration API client; cheap to clone.
#[derive(Clone)]
pub struct AnaplanClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_url: Url,
    /// CloudWorks' API, `{ANAPLAN_CLOUDWORKS_URL}/2/0`.
    cloudworks_api: Url,
    tokens: Arc<TokenManager>,
    /// Bounds the Integration API requests in flight at once, transfers' parts aside.
    permits: Arc<Semaphore>,
    /// Bounds transfers' parts in flight: a lane of their own, so that slow transfers never
    /// take the permits status polls need.
    transfer_permits: Arc<Semaphore>,
    /// Bounds the Integration API calls per second.
    budget: budget::Budget,
    /// Shared with the token's auth API calls: a 429 from either pauses both.
    gate: Arc<RateLimitGate>,
    timeout: Duration,
    /// Anaplan's clock against the gateway's, from its answers' `Date`.
    clock: server_clock::ServerClock,
}

impl AnaplanClient {
    /// Builds the client: one connection pool, no redirects, a user agent naming the gateway;
    /// pauses after a 429 are shared with the fleet through `shared`, when given.
    pub fn new(
        settings: &AnaplanSettings,
        shared: Option<Arc<SharedState>>,
    ) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("anaplan-gateway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .build()?;
        let gate = Arc::new(RateLimitGate::new(shared.clone()));
        let auth = AuthApi::new(
            http.clone(),
            &settings.auth_url,
            settings.timeout,
            gate.clone(),
        );
        let credential = credential(&settings.credentials);
        let tokens = Arc::new(TokenManager::new(auth, credential, shared.clone()));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api_url: settings.api_url.clone(),
                cloudworks_api: cloudworks_api(&settings.cloudworks_url),
                tokens,
                permits: Arc::new(Semaphore::new(settings.concurrency)),
                transfer_permits: Arc::new(Semaphore::new(settings.transfers)),
                budget: budget::Budget::new(settings.rate, shared),
                gate,
                timeout: settings.timeout,
                clock: server_clock::ServerClock::default(),
            }),
        })
    }

    /// The bound on one call, `ANAPLAN_TIMEOUT`.
    pub fn timeout(&self) -> Duration {
        self.inner.timeout
    }

    /// Anaplan's time minus the gateway's, in milliseconds, as its last answer's `Date` said.
    pub fn clock_offset_ms(&self) -> i64 {
        self.inner.clock.offset_ms()
    }

    /// Logs in once with the configured credentials and says whom the gateway acts as.
    pub async fn check(&self) -> Result<Identity, UpstreamError> {
        self.inner.tokens.check().await
    }
}

/// The configured credential method's implementation.
fn credential(method: &CredentialMethod) -> Box<dyn Credential> {
    match method {
        CredentialMethod::Basic(credentials) => Box::new(Basic::new(credentials.clone())),
        CredentialMethod::Certificate(files) => Box::new(Certificate::new(files.clone())),
        CredentialMethod::OAuth(settings) => Box::new(OAuth::new(settings)),
    }
}

/// CloudWorks' API below its host's base: `{ANAPLAN_CLOUDWORKS_URL}/2/0`.
fn cloudworks_api(base: &Url) -> Url {
    let mut url = base.clone();
    url.path_segments_mut()
        .expect("validated as an http(s) URL")
        .pop_if_empty()
        .extend(["2", "0"]);
    url
}
