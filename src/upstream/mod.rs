//! The client for Anaplan's Integration API v2: one connection pool, the shared token, the
//! budget, the permits and the pause after a 429, which every request passes through the one
//! request core ([`request`]). What is asked of Anaplan is built on it: statuses, task lists and
//! cancels ([`status`]), starts ([`start`]), failure dumps ([`dump`]), export files and read
//! pages ([`files`]), uploads of import files ([`uploads`]).

pub mod auth;
mod budget;
mod chunks;
pub mod dump;
pub mod error;
mod files;
mod gate;
pub mod names;
pub mod request;
mod response;
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
}

/// The Integration API client; cheap to clone.
#[derive(Clone)]
pub struct AnaplanClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    api_url: Url,
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
