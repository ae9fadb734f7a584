//! The client for Anaplan's Integration API v2.
//!
//! One private helper, [`AnaplanClient::call`], owns what every request needs: the URL built from
//! validated ids only, the shared token with one replay after a 401, the global limit on requests
//! in flight, the global pause after a 429, a bound on the whole call, retries of idempotent GETs
//! with jittered backoff, classification of the answer, metrics and tracing.

pub mod auth;
mod budget;
pub mod dump;
pub mod error;
mod gate;
mod response;
pub mod wire;

use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use budget::{Urgency, called_for};
pub use error::UpstreamError;
pub use response::{innermost_cause, parse_retry_after};

use crate::address::{ModelAddress, ObjectAddress, TaskAddress};
use crate::config::{AnaplanSettings, CredentialMethod};
use crate::ids::{ModelId, WorkspaceId};
use crate::shared::SharedState;
use auth::{AuthApi, Basic, Certificate, Credential, Identity, OAuth, Token, TokenManager};
use gate::RateLimitGate;
use response::{classify, read_bounded, transport_error};
use wire::{
    ModelEnvelope, ModelStatusEnvelope, ReadRequestEnvelope, TaskEnvelope, TaskListEnvelope,
};

/// Retries of a transiently failed GET, after the first attempt.
const MAX_RETRIES: u32 = 2;
/// First backoff step; each retry doubles it, and full jitter picks a point below it.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// One attempt may take this share of `ANAPLAN_TIMEOUT`, so a stalled connection leaves time
/// for a retry within the bound on the whole call.
const ATTEMPTS_PER_TIMEOUT: u32 = 3;
/// Anaplan's refusal to cancel a task that has finished: the cancel has nothing left to do.
const ALREADY_COMPLETE: &str = "already complete";

/// What an upstream call was for: the `endpoint` label of the metrics.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Model,
    TaskStatus,
    ModelStatus,
    Cancel,
    DumpChunks,
    DumpChunk,
    TaskList,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Model => "model",
            Endpoint::TaskStatus => "task_status",
            Endpoint::ModelStatus => "model_status",
            Endpoint::Cancel => "cancel",
            Endpoint::DumpChunks => "dump_chunks",
            Endpoint::DumpChunk => "dump_chunk",
            Endpoint::TaskList => "task_list",
        }
    }
}

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
    /// Bounds the Integration API requests in flight at once.
    permits: Arc<Semaphore>,
    /// Bounds the Integration API calls per second.
    budget: budget::Budget,
    /// Shared with the token's auth API calls: a 429 from either pauses both.
    gate: Arc<RateLimitGate>,
    timeout: Duration,
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
                budget: budget::Budget::new(settings.rate, shared),
                gate,
                timeout: settings.timeout,
            }),
        })
    }

    /// Logs in once with the configured credentials and says whom the gateway acts as.
    pub async fn check(&self) -> Result<Identity, UpstreamError> {
        self.inner.tokens.check().await
    }

    /// The workspace a model lives in (`GET /models/{modelId}` → `currentWorkspaceId`).
    pub async fn model_workspace(&self, model: ModelId) -> Result<WorkspaceId, UpstreamError> {
        let envelope: ModelEnvelope = self
            .call(Method::GET, &["models", model.as_str()], Endpoint::Model)
            .await?;
        let text = envelope.model.current_workspace_id.unwrap_or_default();
        WorkspaceId::parse("currentWorkspaceId", &text).map_err(|_| {
            UpstreamError::BadBody(format!("model has no usable workspace id: {text:?}"))
        })
    }

    /// A task's or read request's status.
    pub async fn task_status(&self, at: &TaskAddress) -> Result<WireTaskStatus, UpstreamError> {
        self.task_call(Method::GET, at, Endpoint::TaskStatus).await
    }

    /// Cancels a task or read request; Anaplan answers with its status where it gives one.
    pub async fn cancel_task(
        &self,
        at: &TaskAddress,
    ) -> Result<Option<WireTaskStatus>, UpstreamError> {
        match self.task_call(Method::DELETE, at, Endpoint::Cancel).await {
            Ok(status) => Ok(Some(status)),
            // A DELETE that worked but answered without the task: the caller asks again.
            Err(UpstreamError::BadBody(_)) => Ok(None),
            // The task finished before the cancel came: its final status is the answer.
            Err(UpstreamError::Rejected { message, .. })
                if message.to_ascii_lowercase().contains(ALREADY_COMPLETE) =>
            {
                Ok(None)
            }
            Err(err) => Err(err),
        }
    }

    /// The tasks filed under an import, export, action or process, as Anaplan lists them
    /// (`GET …/{collection}/{id}/tasks`).
    pub async fn task_list(
        &self,
        at: &ObjectAddress,
    ) -> Result<Vec<wire::WireTask>, UpstreamError> {
        let path = at.tasks_path();
        let envelope: TaskListEnvelope = self.call(Method::GET, &path, Endpoint::TaskList).await?;
        Ok(envelope.tasks)
    }

    /// The model's status (`GET /workspaces/{ws}/models/{m}/status`).
    pub async fn model_status(
        &self,
        at: &ModelAddress,
    ) -> Result<wire::WireModelStatus, UpstreamError> {
        let path = at.status_path();
        let envelope: ModelStatusEnvelope =
            self.call(Method::GET, &path, Endpoint::ModelStatus).await?;
        Ok(envelope.request_status)
    }

    async fn task_call(
        &self,
        method: Method,
        at: &TaskAddress,
        endpoint: Endpoint,
    ) -> Result<WireTaskStatus, UpstreamError> {
        let path = at.path();
        if at.kind().is_read_request() {
            let envelope: ReadRequestEnvelope = self.call(method, &path, endpoint).await?;
            envelope
                .into_request()
                .map(WireTaskStatus::ReadRequest)
                .ok_or_else(|| UpstreamError::BadBody("no read request in the answer".into()))
        } else {
            let envelope: TaskEnvelope = self.call(method, &path, endpoint).await?;
            Ok(WireTaskStatus::Task(envelope.task))
        }
    }

    /// The Integration API's URL for `path`, built from validated ids only.
    fn url(&self, path: &[&str]) -> Url {
        let mut url = self.inner.api_url.clone();
        url.path_segments_mut()
            .expect("validated as an http(s) URL")
            .pop_if_empty()
            .extend(path);
        url
    }

    /// Sends one logical request, bounded as a whole by `ANAPLAN_TIMEOUT`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        endpoint: Endpoint,
    ) -> Result<T, UpstreamError> {
        let url = self.url(path);
        let deadline = Instant::now() + self.inner.timeout;
        let started = Instant::now();
        let result = tokio::time::timeout_at(deadline, self.attempts(&method, &url, deadline))
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        let outcome = match &result {
            Ok(_) => "ok",
            Err(err) => err.outcome(),
        };
        metrics::counter!("anaplan_gateway_upstream_requests_total",
            "endpoint" => endpoint.label(), "outcome" => outcome)
        .increment(1);
        metrics::histogram!("anaplan_gateway_upstream_request_duration_seconds",
            "endpoint" => endpoint.label())
        .record(started.elapsed().as_secs_f64());
        match &result {
            Ok(_) => tracing::debug!(%method, path = url.path(), "upstream call answered"),
            Err(err) => {
                tracing::warn!(%method, path = url.path(), error = %err, "upstream call failed")
            }
        }
        let body = result?;
        serde_json::from_slice(&body).map_err(|err| UpstreamError::BadBody(err.to_string()))
    }

    /// Tries, replays once after a 401, and retries transient failures of GETs.
    async fn attempts(
        &self,
        method: &Method,
        url: &Url,
        deadline: Instant,
    ) -> Result<bytes::Bytes, UpstreamError> {
        let mut token = self.inner.tokens.token().await?;
        let mut replayed = false;
        let mut retries = 0;
        // Only a GET is tried again, so only a GET's attempt gets less than the whole bound.
        let per_attempt = match *method {
            Method::GET => self.inner.timeout / ATTEMPTS_PER_TIMEOUT,
            _ => self.inner.timeout,
        };
        // A turn in the budget must leave the call time to be made.
        let turn_by = deadline.checked_sub(per_attempt).unwrap_or(deadline);
        loop {
            // Each attempt is a call: it waits its turn in the budget, within the whole bound.
            (self.inner.budget.turn(turn_by).await)
                .map_err(|retry_after| UpstreamError::OverBudget { retry_after })?;
            let attempt = self.send_once(method, url, &token);
            let outcome = tokio::time::timeout(per_attempt, attempt).await;
            match outcome.unwrap_or(Err(UpstreamError::Timeout)) {
                Err(UpstreamError::Unauthorized) if !replayed => {
                    replayed = true;
                    token = self.inner.tokens.replace_rejected(&token).await?;
                }
                Err(err)
                    if *method == Method::GET && err.is_transient() && retries < MAX_RETRIES =>
                {
                    let step = BACKOFF_BASE * 2u32.pow(retries);
                    let pause = step.mul_f64(rand::rng().random::<f64>());
                    if Instant::now() + pause >= deadline {
                        return Err(err);
                    }
                    retries += 1;
                    tokio::time::sleep(pause).await;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        token: &Token,
    ) -> Result<bytes::Bytes, UpstreamError> {
        if let Some(retry_after) = self.inner.gate.pause_left(Instant::now()).await {
            return Err(UpstreamError::RateLimited { retry_after });
        }
        let _permit = self
            .inner
            .permits
            .acquire()
            .await
            .map_err(|_| UpstreamError::Unreachable("client closed".into()))?;
        // The gate may have closed while this request waited for a permit.
        if let Some(retry_after) = self.inner.gate.remaining(Instant::now()) {
            return Err(UpstreamError::RateLimited { retry_after });
        }
        let response = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(AUTHORIZATION, token.header_value())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|err| transport_error(&err))?;
        let status = response.status();
        let headers = response.headers().clone();
        // The status decides first; an oversized body is read no further than the bound.
        let body = read_bounded(response).await?;
        let body = classify(status, &headers, body, &self.inner.gate)?;
        if body.is_empty() && status != StatusCode::NO_CONTENT {
            return Err(UpstreamError::BadBody(
                "the answer is empty or too large".into(),
            ));
        }
        Ok(body)
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
