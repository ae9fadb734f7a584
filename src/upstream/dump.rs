//! Failure dumps: the rows an import rejected, as Anaplan keeps them in chunks (up to about
//! 10 MB each). The chunk list is one ordinary call; each chunk is then read as it comes, with the
//! shared token, holding one of the permits that bound upstream requests in flight for as long as
//! it streams, so a dump is never held whole in memory.

use reqwest::Method;

use super::chunks::ChunkList;
use super::request::{Call, Endpoint, Streaming};
use super::{AnaplanClient, UpstreamError, Urgency};
use crate::address::TaskAddress;
use crate::ids::ObjectId;

impl AnaplanClient {
    /// The ids of a failure dump's chunks, in order: the import's own, or (with `action`) that of
    /// one import inside a process.
    pub async fn dump_chunks(
        &self,
        at: &TaskAddress,
        action: Option<ObjectId>,
    ) -> Result<Vec<String>, UpstreamError> {
        let path = dump_path(at, action.as_ref(), &["chunks"]);
        let call = Call::json(Method::GET, &path, Endpoint::DumpChunks, Urgency::Caller);
        let list: ChunkList = self.call_json(call).await?;
        list.ids()
    }

    /// One chunk of a dump, to be read as it comes, holding one of the permits that bound
    /// upstream requests in flight while it streams.
    pub async fn dump_chunk(
        &self,
        at: &TaskAddress,
        action: Option<ObjectId>,
        chunk: &str,
    ) -> Result<Streaming, UpstreamError> {
        let path = dump_path(at, action.as_ref(), &["chunks", chunk]);
        let call = Call {
            accept: "text/csv, text/plain, application/octet-stream",
            ..Call::json(Method::GET, &path, Endpoint::DumpChunk, Urgency::Caller)
        };
        self.call_streaming(call).await
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
