//! The one way a request goes to the Integration API. [`AnaplanClient::send`] owns what every
//! request needs: the URL built from validated ids only, the shared token with one replay after a
//! 401, a turn in the upstream budget (for a caller or a refresh), the pause after a 429 (looked
//! at before and after waiting for a permit), the global limit on requests in flight, a bound on
//! the whole call, retries of idempotent calls with jittered backoff, classification of the
//! answer, metrics and logs. Its answer is read whole, or left open to stream while it holds its
//! permit. Only a GET or a PUT (idempotent: an upload's chunk) is tried again after a failure;
//! any request refused with a 401 is sent once more with a fresh token, since Anaplan did nothing
//! with it (a start too: it was not made).

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rand::RngExt;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, DATE};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::auth::Token;
pub(super) use super::endpoint::Endpoint;
use super::response::{classify, read_bounded, transport_error};
use super::{AnaplanClient, UpstreamError, Urgency};
use crate::address::Host;

/// Retries of a transiently failed GET or PUT, after the first attempt.
const MAX_RETRIES: u32 = 2;
/// First backoff step; each retry doubles it, and full jitter picks a point below it.
const BACKOFF_BASE: Duration = Duration::from_millis(200);
/// One attempt may take this share of `ANAPLAN_TIMEOUT`, so a stalled connection leaves time
/// for a retry within the bound on the whole call.
const ATTEMPTS_PER_TIMEOUT: u32 = 3;

/// One logical request to the Integration API.
pub(super) struct Call<'a> {
    pub method: Method,
    /// The API the path is below.
    pub host: Host,
    /// The path below the API's base URL, every segment a validated id or a fixed name.
    pub path: &'a [&'a str],
    pub endpoint: Endpoint,
    /// Who waits for it: a refresh's calls give way to callers' in the budget.
    pub urgency: Urgency,
    /// The `Accept` header.
    pub accept: &'static str,
    /// A body, sent as it is, with its `Content-Type`.
    pub body: Option<(Bytes, &'static str)>,
    /// Set once the request has left for Anaplan (a refused connection clears it again): whether
    /// a call that failed may have reached Anaplan.
    pub left: Option<&'a AtomicBool>,
    /// The bound on the whole call, when not `ANAPLAN_TIMEOUT`: an upload's chunk and its
    /// completion may take longer.
    pub bound: Option<Duration>,
    /// Query parameters of the gateway's own (a list's page), never a caller's text.
    pub query: &'a [(&'static str, String)],
}

impl<'a> Call<'a> {
    /// A call for JSON.
    pub fn json(method: Method, path: &'a [&'a str], endpoint: Endpoint, urgency: Urgency) -> Self {
        Self {
            method,
            host: Host::Integration,
            path,
            endpoint,
            urgency,
            accept: "application/json",
            body: None,
            left: None,
            bound: None,
            query: &[],
        }
    }
}

/// A successful answer whose body streams as it comes, holding one of the permits that bound
/// upstream requests in flight until it is read to its end or dropped. The request is counted
/// when it is dropped, with how its body ended.
pub struct Streaming {
    response: reqwest::Response,
    _permit: OwnedSemaphorePermit,
    /// The longest wait for the next piece.
    idle: Duration,
    sent: Sent,
}

impl Streaming {
    /// The next piece of the body; `None` at its end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        let piece = tokio::time::timeout(self.idle, self.response.chunk())
            .await
            .map_err(|_| UpstreamError::Timeout)
            .and_then(|read| read.map_err(|err| transport_error(&err)));
        self.sent.outcome = match &piece {
            Ok(Some(_)) => "timeout",
            Ok(None) => "ok",
            Err(err) => err.outcome(),
        };
        piece
    }

    /// The whole body, within the bound on a status answer's size.
    async fn read_whole(mut self) -> Result<Bytes, UpstreamError> {
        let status = self.response.status();
        let body = read_bounded(self.response).await.and_then(|body| {
            match body.is_empty() && status != StatusCode::NO_CONTENT {
                true => Err(UpstreamError::BadBody(
                    "the answer is empty or too large".into(),
                )),
                false => Ok(body),
            }
        });
        self.sent.outcome = match &body {
            Ok(_) => "ok",
            Err(err) => err.outcome(),
        };
        body
    }

    /// Reads the body to its end, within the same bound, and lets it go.
    async fn read_past(mut self) -> Result<(), UpstreamError> {
        let read = read_bounded(self.response).await.map(drop);
        self.sent.outcome = match &read {
            Ok(()) => "ok",
            Err(err) => err.outcome(),
        };
        read
    }
}

/// Counts one request that left for Anaplan, with its outcome, once it is over: a request cut off
/// by its bound (or the gateway stopping) before its answer was read counts as a timeout.
struct Sent {
    endpoint: Endpoint,
    outcome: &'static str,
}

impl Drop for Sent {
    fn drop(&mut self) {
        metrics::counter!("anaplan_gateway_upstream_requests_total",
            "endpoint" => self.endpoint.label(), "outcome" => self.outcome)
        .increment(1);
    }
}

impl AnaplanClient {
    /// The URL for `path` and `query` on `host`'s API, built from validated ids only.
    fn url(&self, host: Host, path: &[&str], query: &[(&'static str, String)]) -> Url {
        let mut url = match host {
            Host::Integration => self.inner.api_url.clone(),
            Host::CloudWorks => self.inner.cloudworks_api.clone(),
        };
        url.path_segments_mut()
            .expect("validated as an http(s) URL")
            .pop_if_empty()
            .extend(path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// Sends `call` and reads its JSON answer.
    pub(super) async fn call_json<T: DeserializeOwned>(
        &self,
        call: Call<'_>,
    ) -> Result<T, UpstreamError> {
        let body = self.send(call, Streaming::read_whole).await?;
        serde_json::from_slice(&body).map_err(|err| UpstreamError::BadBody(err.to_string()))
    }

    /// Sends `call` for what it does, reading past whatever its answer says (often nothing: a
    /// 204).
    pub(super) async fn call_done(&self, call: Call<'_>) -> Result<(), UpstreamError> {
        self.send(call, Streaming::read_past).await
    }

    /// Sends `call` and leaves its successful answer open, to be read as it comes.
    pub(super) async fn call_streaming(&self, call: Call<'_>) -> Result<Streaming, UpstreamError> {
        self.send(call, |streaming| async { Ok(streaming) }).await
    }

    /// Sends one logical request, bounded as a whole by `ANAPLAN_TIMEOUT`; a successful answer
    /// is read by `read`, within its attempt.
    async fn send<T, Read, Reading>(&self, call: Call<'_>, read: Read) -> Result<T, UpstreamError>
    where
        Read: Fn(Streaming) -> Reading,
        Reading: Future<Output = Result<T, UpstreamError>>,
    {
        let url = self.url(call.host, call.path, call.query);
        let bound = call.bound.unwrap_or(self.inner.timeout);
        let deadline = Instant::now() + bound;
        let started = Instant::now();
        let attempts = self.attempts(&call, &url, &read, bound, deadline);
        let mut result = tokio::time::timeout_at(deadline, attempts)
            .await
            .unwrap_or(Err(UpstreamError::Timeout));
        // What was not found, so the caller sees which of its ids Anaplan did not know.
        if let Err(UpstreamError::NotFound { path }) = &mut result {
            *path = url.path().to_owned();
        }
        metrics::histogram!("anaplan_gateway_upstream_request_duration_seconds",
            "endpoint" => call.endpoint.label())
        .record(started.elapsed().as_secs_f64());
        let method = &call.method;
        match &result {
            Ok(_) => tracing::debug!(%method, path = url.path(), "upstream call answered"),
            Err(err) => {
                tracing::warn!(%method, path = url.path(), error = %err, "upstream call failed")
            }
        }
        result
    }

    /// Tries, replays once after a 401, and retries transient failures of GETs and PUTs.
    async fn attempts<T, Read, Reading>(
        &self,
        call: &Call<'_>,
        url: &Url,
        read: &Read,
        bound: Duration,
        deadline: Instant,
    ) -> Result<T, UpstreamError>
    where
        Read: Fn(Streaming) -> Reading,
        Reading: Future<Output = Result<T, UpstreamError>>,
    {
        let mut token = self.inner.tokens.token().await?;
        let mut replayed = false;
        let mut retries = 0;
        let idempotent = call.method == Method::GET || call.method == Method::PUT;
        // Only these are tried again, so only their attempts get less than the whole bound.
        let per_attempt = match idempotent {
            true => bound / ATTEMPTS_PER_TIMEOUT,
            false => bound,
        };
        // A turn in the budget must leave the call time to be made.
        let turn_by = deadline.checked_sub(per_attempt).unwrap_or(deadline);
        loop {
            // A 429's pause (here or anywhere in the fleet) holds the call back before it spends
            // a turn in the budget.
            if let Some(retry_after) = self.inner.gate.pause_left(Instant::now()).await {
                return Err(UpstreamError::RateLimited { retry_after });
            }
            // Each attempt is a call: it waits its turn in the budget, within the whole bound.
            (self.inner.budget.turn(turn_by, call.urgency).await)
                .map_err(|retry_after| UpstreamError::OverBudget { retry_after })?;
            let attempt = async { read(self.send_once(call, url, &token).await?).await };
            let outcome = tokio::time::timeout(per_attempt, attempt).await;
            match outcome.unwrap_or(Err(UpstreamError::Timeout)) {
                Err(UpstreamError::Unauthorized) if !replayed => {
                    replayed = true;
                    token = self.inner.tokens.replace_rejected(&token).await?;
                }
                Err(err) if idempotent && err.is_transient() && retries < MAX_RETRIES => {
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

    /// One attempt: a permit, the request; a successful answer is handed back open, holding the
    /// permit, and any other is classified.
    async fn send_once(
        &self,
        call: &Call<'_>,
        url: &Url,
        token: &Token,
    ) -> Result<Streaming, UpstreamError> {
        let inner = &self.inner;
        let lane = match call.endpoint.is_transfer() {
            true => &inner.transfer_permits,
            false => &inner.permits,
        };
        let permit = (lane.clone().acquire_owned().await)
            .map_err(|_| UpstreamError::Unreachable("client closed".into()))?;
        // The gate may have closed while this request waited for a permit.
        if let Some(retry_after) = inner.gate.remaining(Instant::now()) {
            return Err(UpstreamError::RateLimited { retry_after });
        }
        // From here the request has left: it is counted, however it ends.
        let mut sent = Sent {
            endpoint: call.endpoint,
            outcome: "timeout",
        };
        let mut request = (inner.http.request(call.method.clone(), url.clone()))
            .header(AUTHORIZATION, token.header_value())
            .header(ACCEPT, call.accept);
        let span = crate::spans::start_call(&call.method, call.endpoint.label(), url.as_str());
        let traceparent = match &span {
            Some((_, header)) => Some(header.clone()),
            None => crate::trace::current().map(|trace| trace.child()),
        };
        if let Some(traceparent) = traceparent {
            request = request.header("traceparent", traceparent);
        }
        if let Some((body, content_type)) = &call.body {
            request = request
                .header(CONTENT_TYPE, *content_type)
                .body(body.clone());
        }
        if let Some(left) = call.left {
            left.store(true, Ordering::Release);
        }
        let response = request.send().await;
        if let Some((span, _)) = span {
            let status = response.as_ref().ok().map(|r| r.status().as_u16());
            span.end_call(status);
        }
        let response = response.map_err(|err| {
            // A connection that was never made carried nothing.
            if let (true, Some(left)) = (err.is_connect(), call.left) {
                left.store(false, Ordering::Release);
            }
            let err = transport_error(&err);
            sent.outcome = err.outcome();
            err
        })?;
        let status = response.status();
        // Refused before it was read: a request that failed its authentication did nothing.
        if let (StatusCode::UNAUTHORIZED, Some(left)) = (status, call.left) {
            left.store(false, Ordering::Release);
        }
        if let Some(date) = response.headers().get(DATE) {
            inner.clock.observe(date);
        }
        if status.is_success() {
            return Ok(Streaming {
                response,
                _permit: permit,
                idle: inner.timeout,
                sent,
            });
        }
        let headers = response.headers().clone();
        let body = read_bounded(response).await;
        drop(permit);
        let error = match body.and_then(|body| classify(status, &headers, body, &inner.gate)) {
            Err(error) => error,
            // Not a success, yet not classified as a failure: never so.
            Ok(_) => UpstreamError::BadBody(format!("Anaplan answered {status}")),
        };
        sent.outcome = error.outcome();
        Err(error)
    }
}
