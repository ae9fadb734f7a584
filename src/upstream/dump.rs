//! Failure dumps: the rows an import rejected, as Anaplan keeps them in chunks (up to about
//! 10 MB each). The chunk list is one ordinary call; each chunk is then read as it comes, with the
//! shared token, holding one of the permits that bound upstream requests in flight for as long as
//! it streams, so a dump is never held whole in memory.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{ACCEPT, AUTHORIZATION};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

use super::response::{classify, read_bounded, transport_error};
use super::{AnaplanClient, Endpoint, UpstreamError};
use crate::address::TaskAddress;
use crate::ids::ObjectId;

/// Anaplan's list of a dump's chunks.
#[derive(serde::Deserialize)]
struct ChunkList {
    #[serde(default)]
    chunks: Vec<ChunkRef>,
}

#[derive(serde::Deserialize)]
struct ChunkRef {
    /// `"0"`, `"1"`…; a number is read as its text.
    id: serde_json::Value,
}

/// One chunk as it streams, with the permit it holds until it is read or dropped.
pub struct ChunkBody {
    response: reqwest::Response,
    _permit: OwnedSemaphorePermit,
    /// The longest wait for the next piece.
    idle: Duration,
}

impl ChunkBody {
    /// The next piece of the chunk; `None` at its end.
    pub async fn next(&mut self) -> Result<Option<Bytes>, UpstreamError> {
        tokio::time::timeout(self.idle, self.response.chunk())
            .await
            .map_err(|_| UpstreamError::Timeout)?
            .map_err(|err| transport_error(&err))
    }
}

impl AnaplanClient {
    /// The ids of a failure dump's chunks, in order: the import's own, or (with `action`) that of
    /// one import inside a process.
    pub async fn dump_chunks(
        &self,
        at: &TaskAddress,
        action: Option<ObjectId>,
    ) -> Result<Vec<String>, UpstreamError> {
        let path = dump_path(at, action.as_ref(), &["chunks"]);
        let list: ChunkList = self.call(Method::GET, &path, Endpoint::DumpChunks).await?;
        let id = |chunk: ChunkRef| match chunk.id {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        let ids: Vec<String> = list.chunks.into_iter().map(id).collect();
        // Chunk ids go into a URL: only the numbers Anaplan documents are followed.
        let numbered = |id: &String| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        if !ids.iter().all(numbered) {
            return Err(UpstreamError::BadBody(
                "a dump chunk id is not a number".into(),
            ));
        }
        Ok(ids)
    }

    /// One chunk of a dump, to be read as it comes; replayed once after a 401, as every call is.
    pub async fn dump_chunk(
        &self,
        at: &TaskAddress,
        action: Option<ObjectId>,
        chunk: &str,
    ) -> Result<ChunkBody, UpstreamError> {
        let url = self.url(&dump_path(at, action.as_ref(), &["chunks", chunk]));
        let inner = &self.inner;
        let mut token = inner.tokens.token().await?;
        let mut replayed = false;
        loop {
            let deadline = Instant::now() + inner.timeout;
            (inner.budget.turn(deadline).await)
                .map_err(|retry_after| UpstreamError::OverBudget { retry_after })?;
            if let Some(retry_after) = inner.gate.pause_left(Instant::now()).await {
                return Err(UpstreamError::RateLimited { retry_after });
            }
            // Waiting for a permit is bounded as the call itself is.
            let permit = tokio::time::timeout(inner.timeout, inner.permits.clone().acquire_owned())
                .await
                .map_err(|_| UpstreamError::Timeout)?
                .map_err(|_| UpstreamError::Unreachable("client closed".into()))?;
            let request = (inner.http.get(url.clone()))
                .header(AUTHORIZATION, token.header_value())
                .header(ACCEPT, "text/csv, text/plain, application/octet-stream");
            let response = tokio::time::timeout(inner.timeout, request.send())
                .await
                .map_err(|_| UpstreamError::Timeout)?
                .map_err(|err| transport_error(&err))?;
            let status = response.status();
            let outcome = if status.is_success() { "ok" } else { "refused" };
            metrics::counter!("anaplan_gateway_upstream_requests_total",
                "endpoint" => Endpoint::DumpChunk.label(), "outcome" => outcome)
            .increment(1);
            if status.is_success() {
                return Ok(ChunkBody {
                    response,
                    _permit: permit,
                    idle: inner.timeout,
                });
            }
            let headers = response.headers().clone();
            let body = read_bounded(response).await?;
            drop(permit);
            match classify(status, &headers, body, &inner.gate) {
                Err(UpstreamError::Unauthorized) if !replayed => {
                    replayed = true;
                    token = inner.tokens.replace_rejected(&token).await?;
                }
                Err(err) => return Err(err),
                Ok(_) => {
                    return Err(UpstreamError::BadBody(format!(
                        "a dump chunk answered {status}"
                    )));
                }
            }
        }
    }
}

/// `…/imports/{id}/tasks/{task}/dump/…`, or `…/processes/{id}/tasks/{task}/dumps/{action}/…`.
fn dump_path<'a>(
    at: &'a TaskAddress,
    action: Option<&'a ObjectId>,
    tail: &[&'a str],
) -> Vec<&'a str> {
    let mut path = at.path();
    match action {
        None => path.push("dump"),
        Some(action) => path.extend(["dumps", action.as_str()]),
    }
    path.extend(tail);
    path
}
