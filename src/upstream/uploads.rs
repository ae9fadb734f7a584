//! An import's data file, uploaded as Anaplan documents it: the file found in the model's list
//! (an id Anaplan does not know would make a new file), opened for chunks (`chunkCount: -1`),
//! its chunks put in order from 0 as gzip, then completed. A chunk's PUT is idempotent, so the
//! request core tries it again after a transient failure; nothing else here is retried.

use std::time::Duration;

use bytes::Bytes;
use reqwest::Method;

use super::request::{Call, Endpoint};
use super::{AnaplanClient, UpstreamError, Urgency};
use crate::address::ModelAddress;
use crate::ids::ObjectId;

/// The bound on a completion: Anaplan may take many minutes to complete a file of gigabytes.
const COMPLETION_BOUND: Duration = Duration::from_secs(45 * 60);

/// A model's file, as its list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFile {
    /// The file's id (digits).
    pub id: String,
    /// The file's name, as the model knows it.
    pub name: String,
}

impl AnaplanClient {
    /// The model's files (`GET …/models/{modelId}/files`).
    pub async fn model_files(&self, model: &ModelAddress) -> Result<Vec<ModelFile>, UpstreamError> {
        let files = self.named_objects(model, "files").await?;
        let file = |file: super::names::NamedObject| ModelFile {
            id: file.id.to_string(),
            name: file.name,
        };
        Ok(files.into_iter().map(file).collect())
    }

    /// Opens `file` for an upload of chunks whose count is not known yet
    /// (`POST …/files/{fileId}` with `{"chunkCount": -1}`).
    pub async fn open_upload(
        &self,
        model: &ModelAddress,
        file: ObjectId,
    ) -> Result<(), UpstreamError> {
        let mut path = model.path();
        path.extend(["files", file.as_str()]);
        let body = Bytes::from_static(br#"{"chunkCount":-1}"#);
        let call = Call {
            body: Some((body, "application/json")),
            ..Call::json(Method::POST, &path, Endpoint::UploadOpen, Urgency::Caller)
        };
        self.call_done(call).await
    }

    /// Puts chunk `chunk` (from 0) of `file`: `gzip`, its compressed bytes
    /// (`PUT …/files/{fileId}/chunks/{chunk}`, `application/x-gzip`).
    pub async fn upload_chunk(
        &self,
        model: &ModelAddress,
        file: ObjectId,
        chunk: u32,
        gzip: Bytes,
    ) -> Result<(), UpstreamError> {
        let chunk = chunk.to_string();
        let mut path = model.path();
        path.extend(["files", file.as_str(), "chunks", chunk.as_str()]);
        // Each attempt may take a whole ANAPLAN_TIMEOUT: sending a chunk takes longer than a
        // status call.
        let call = Call {
            body: Some((gzip, "application/x-gzip")),
            bound: Some(self.timeout() * 3),
            ..Call::json(Method::PUT, &path, Endpoint::UploadChunk, Urgency::Caller)
        };
        self.call_done(call).await
    }

    /// Completes the upload of `file`, named `name` (`POST …/files/{fileId}/complete`, with the
    /// file's id and name: Anaplan has failed a `complete` sent with no body).
    pub async fn complete_upload(
        &self,
        model: &ModelAddress,
        file: ObjectId,
        name: &str,
    ) -> Result<(), UpstreamError> {
        let mut path = model.path();
        path.extend(["files", file.as_str(), "complete"]);
        let body = serde_json::json!({"id": file.as_str(), "name": name});
        let call = Call {
            body: Some((Bytes::from(body.to_string()), "application/json")),
            bound: Some(COMPLETION_BOUND.max(self.timeout())),
            ..Call::json(
                Method::POST,
                &path,
                Endpoint::UploadComplete,
                Urgency::Caller,
            )
        };
        self.call_done(call).await
    }
}
