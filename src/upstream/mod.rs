//! The client for Anaplan's Integration API v2.
//!
//! One private helper, [`AnaplanClient::call`], owns what every request needs: the URL built from
//! validated ids only, the shared token with one replay after a 401, the global limit on requests
//! in flight, the global pause after a 429, a bound on the whole call, retries of idempotent GETs
//! with jittered backoff, classification of the answer, metrics and tracing.

pub mod error;
pub mod wire;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rand::RngExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::sync::Semaphore;
use tokio::time::Instant;

pub use error::UpstreamError;

use crate::config::AnaplanSettings;
use crate::ids::{ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};
use crate::token::TokenManager;
use wire::{ModelEnvelope, ModelStatusEnvelope, ReadRequestEnvelope, TaskEnvelope};

/// Pause after a 429 that carried no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);
/// The longest pause a `Retry-After` can impose: one bad header must not stop the gateway for good.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);
/// Anaplan's status answers are a few KiB; anything this large is not one.
const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;
/// Retries of a transiently failed GET, after the first attempt.
const MAX_RETRIES: u32 = 2;
/// First backoff step; each retry doubles it, and full jitter picks a point below it.
const BACKOFF_BASE: Duration = Duration::from_millis(200);

/// What an upstream call was for: the `endpoint` label of the metrics.
#[derive(Debug, Clone, Copy)]
enum Endpoint {
    Model,
    TaskStatus,
    ModelStatus,
    Cancel,
}

impl Endpoint {
    fn label(self) -> &'static str {
        match self {
            Endpoint::Model => "model",
            Endpoint::TaskStatus => "task_status",
            Endpoint::ModelStatus => "model_status",
            Endpoint::Cancel => "cancel",
        }
    }
}

/// What a task URL needs: every part already validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskLocator {
    /// Which kind of task.
    pub kind: TaskKind,
    /// The workspace the model lives in.
    pub workspace: WorkspaceId,
    /// The model.
    pub model: ModelId,
    /// The import, export, action, process, view or list the task is filed under.
    pub object: ObjectId,
    /// The task id, or a read request's request id.
    pub task: TaskId,
}

/// A task's status as Anaplan sent it, in its kind's shape.
#[derive(Debug)]
pub enum WireTaskStatus {
    /// Imports, exports, actions, processes.
    Task(wire::WireTask),
    /// View and list read requests.
    ReadRequest(wire::WireReadRequest),
}

/// Stops every upstream call until a 429's `Retry-After` has passed.
#[derive(Default)]
struct RateLimitGate {
    until: Mutex<Option<Instant>>,
}

impl RateLimitGate {
    /// The pause left, if any; the first call after a pause ends reopens the gate.
    fn remaining(&self, now: Instant) -> Option<Duration> {
        let mut until = self.until.lock().unwrap_or_else(|p| p.into_inner());
        match *until {
            Some(at) if at > now => Some(at - now),
            Some(_) => {
                *until = None;
                backoff_gauge().set(0.0);
                None
            }
            None => None,
        }
    }

    fn close_for(&self, pause: Duration) {
        let until = Instant::now() + pause;
        let mut current = self.until.lock().unwrap_or_else(|p| p.into_inner());
        if current.is_none_or(|existing| existing < until) {
            *current = Some(until);
        }
        backoff_gauge().set(pause.as_secs_f64());
    }
}

fn backoff_gauge() -> metrics::Gauge {
    metrics::gauge!("anaplan_gateway_rate_limit_backoff_seconds")
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
    permits: Semaphore,
    gate: RateLimitGate,
    timeout: Duration,
}

impl AnaplanClient {
    /// Builds the client: one connection pool, no redirects, a user agent naming the gateway.
    pub fn new(settings: &AnaplanSettings) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("anaplan-gateway/", env!("CARGO_PKG_VERSION")))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(settings.timeout)
            .build()?;
        let tokens = Arc::new(TokenManager::new(
            http.clone(),
            &settings.auth_url,
            settings.credentials.clone(),
            settings.timeout,
        ));
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                api_url: settings.api_url.clone(),
                tokens,
                permits: Semaphore::new(settings.concurrency),
                gate: RateLimitGate::default(),
                timeout: settings.timeout,
            }),
        })
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
    pub async fn task_status(&self, at: &TaskLocator) -> Result<WireTaskStatus, UpstreamError> {
        self.task_call(Method::GET, at, Endpoint::TaskStatus).await
    }

    /// Cancels a task or read request; Anaplan answers with its status where it gives one.
    pub async fn cancel_task(
        &self,
        at: &TaskLocator,
    ) -> Result<Option<WireTaskStatus>, UpstreamError> {
        match self.task_call(Method::DELETE, at, Endpoint::Cancel).await {
            Ok(status) => Ok(Some(status)),
            // A DELETE that worked but answered without the task: the caller asks again.
            Err(UpstreamError::BadBody(_)) => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The model's status (`GET /workspaces/{ws}/models/{m}/status`).
    pub async fn model_status(
        &self,
        workspace: WorkspaceId,
        model: ModelId,
    ) -> Result<wire::WireModelStatus, UpstreamError> {
        let path = [
            "workspaces",
            workspace.as_str(),
            "models",
            model.as_str(),
            "status",
        ];
        let envelope: ModelStatusEnvelope =
            self.call(Method::GET, &path, Endpoint::ModelStatus).await?;
        Ok(envelope.request_status)
    }

    async fn task_call(
        &self,
        method: Method,
        at: &TaskLocator,
        endpoint: Endpoint,
    ) -> Result<WireTaskStatus, UpstreamError> {
        let (collection, tasks) = at.kind.upstream_collection();
        let path = [
            "workspaces",
            at.workspace.as_str(),
            "models",
            at.model.as_str(),
            collection,
            at.object.as_str(),
            tasks,
            at.task.as_str(),
        ];
        if at.kind.is_read_request() {
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

    /// Sends one logical request, bounded as a whole by `ANAPLAN_TIMEOUT`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &[&str],
        endpoint: Endpoint,
    ) -> Result<T, UpstreamError> {
        let mut url = self.inner.api_url.clone();
        url.path_segments_mut()
            .expect("validated as an http(s) URL")
            .pop_if_empty()
            .extend(path);
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
        loop {
            match self.send_once(method, url, &token).await {
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
        token: &crate::token::Token,
    ) -> Result<bytes::Bytes, UpstreamError> {
        if let Some(retry_after) = self.inner.gate.remaining(Instant::now()) {
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
        let body = if response.content_length().unwrap_or(0) > MAX_BODY_BYTES {
            bytes::Bytes::new()
        } else {
            read_bounded(response).await?
        };
        let body = classify(status, &headers, body, &self.inner.gate)?;
        if body.is_empty() && status != StatusCode::NO_CONTENT {
            return Err(UpstreamError::BadBody(
                "the answer is empty or too large".into(),
            ));
        }
        Ok(body)
    }
}

/// Reads the body, stopping at `MAX_BODY_BYTES` (what was read then is dropped: no Anaplan
/// status answer is that large).
async fn read_bounded(mut response: reqwest::Response) -> Result<bytes::Bytes, UpstreamError> {
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| transport_error(&err))?
    {
        if (body.len() + chunk.len()) as u64 > MAX_BODY_BYTES {
            return Ok(bytes::Bytes::new());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Maps an HTTP answer to the body or a classified error.
fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: bytes::Bytes,
    gate: &RateLimitGate,
) -> Result<bytes::Bytes, UpstreamError> {
    match status.as_u16() {
        200..=299 => Ok(body),
        401 => Err(UpstreamError::Unauthorized),
        404 => Err(UpstreamError::NotFound),
        409 | 423 => Err(UpstreamError::Busy {
            status: status.as_u16(),
        }),
        429 => {
            let retry_after = retry_after(headers);
            metrics::counter!("anaplan_gateway_upstream_rate_limited_total").increment(1);
            tracing::warn!(
                retry_after_s = retry_after.as_secs_f64(),
                "Anaplan answered 429: pausing all upstream calls"
            );
            gate.close_for(retry_after);
            Err(UpstreamError::RateLimited { retry_after })
        }
        500..=599 => Err(UpstreamError::Server {
            status: status.as_u16(),
        }),
        code => Err(UpstreamError::Rejected {
            status: code,
            message: error_message(&body),
        }),
    }
}

/// Anaplan's `status.message`, else the start of the body.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<wire::ErrorEnvelope>(body)
        .ok()
        .and_then(|envelope| envelope.status.message)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// Classifies a failure below HTTP.
pub(crate) fn transport_error(err: &reqwest::Error) -> UpstreamError {
    if err.is_timeout() {
        UpstreamError::Timeout
    } else {
        // The source chain says "connection refused", "reset by peer"… without any secret.
        let mut cause = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(inner) = source {
            cause = inner.to_string();
            source = inner.source();
        }
        UpstreamError::Unreachable(cause)
    }
}

/// Reads `Retry-After` as delta-seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Duration {
    let Some(text) = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok()) else {
        return DEFAULT_RETRY_AFTER;
    };
    let text = text.trim();
    let asked = match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(text)
            .ok()
            .map(|at| at.duration_since(SystemTime::now()).unwrap_or_default()),
    };
    asked.unwrap_or(DEFAULT_RETRY_AFTER).min(MAX_RETRY_AFTER)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(retry_after(&headers("7")), Duration::from_secs(7));
        let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        let parsed = retry_after(&headers(&in_a_minute));
        assert!(parsed > Duration::from_secs(55) && parsed <= Duration::from_secs(60));
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(retry_after(&headers(&past)), Duration::ZERO);
        assert_eq!(retry_after(&headers("soon")), DEFAULT_RETRY_AFTER);
        assert_eq!(
            retry_after(&headers("18446744073709551615")),
            MAX_RETRY_AFTER
        );
        assert_eq!(retry_after(&HeaderMap::new()), DEFAULT_RETRY_AFTER);
    }

    #[test]
    fn anaplan_error_bodies_give_their_message() {
        let body = br#"{"status":{"code":405,"message":"Method Not Allowed"},"path":"/2/0/x"}"#;
        assert_eq!(error_message(body), "Method Not Allowed");
        assert_eq!(error_message(b"plain text"), "plain text");
    }
}
