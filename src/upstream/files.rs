//! What a task left to collect: an export's output file, read chunk by chunk (Anaplan files it
//! under the export's id, as the gateway's user's private copy), a large read's pages, and an
//! ALM report. Each chunk, page or report is read as it comes, holding one upstream permit
//! while it streams.

use reqwest::Method;

use super::chunks::ChunkList;
use super::request::{Call, Endpoint, Streaming};
use super::{AnaplanClient, UpstreamError, Urgency};
use crate::address::{ModelAddress, TaskAddress};
use crate::ids::{ObjectId, RevisionId, TaskKind};

/// What a chunk of a file may come as.
const FILE_TYPES: &str = "application/octet-stream, text/csv, text/plain";

impl AnaplanClient {
    /// The ids of a file's chunks, in order (`GET …/files/{fileId}/chunks`).
    pub async fn file_chunks(
        &self,
        model: &ModelAddress,
        file: ObjectId,
    ) -> Result<Vec<String>, UpstreamError> {
        let mut path = model.path();
        path.extend(["files", file.as_str(), "chunks"]);
        let call = Call::json(Method::GET, &path, Endpoint::FileChunks, Urgency::Caller);
        let list: ChunkList = self.call_json(call).await?;
        list.ids()
    }

    /// One chunk of a file, to be read as it comes.
    pub async fn file_chunk(
        &self,
        model: &ModelAddress,
        file: ObjectId,
        chunk: &str,
    ) -> Result<Streaming, UpstreamError> {
        let mut path = model.path();
        path.extend(["files", file.as_str(), "chunks", chunk]);
        let call = Call {
            accept: FILE_TYPES,
            ..Call::json(Method::GET, &path, Endpoint::FileChunk, Urgency::Caller)
        };
        self.call_streaming(call).await
    }

    /// Page `page` (from 0) of a large read, to be read as it comes
    /// (`GET …/readRequests/{requestId}/pages/{page}`).
    pub async fn read_page(&self, at: &TaskAddress, page: u64) -> Result<Streaming, UpstreamError> {
        let page = page.to_string();
        let mut path = at.path();
        path.extend(["pages", page.as_str()]);
        let call = Call {
            accept: "text/csv",
            ..Call::json(Method::GET, &path, Endpoint::ReadPage, Urgency::Caller)
        };
        self.call_streaming(call).await
    }

    /// The report an ALM report task made of `source` against `target`, to be read as it
    /// comes: a comparison report as tab-separated text (Anaplan answers 406 unless asked for
    /// octets), a summary report as JSON (`GET /models/{modelId}/alm/comparisonReports/
    /// {targetRevisionId}/{sourceRevisionId}`, or `…/summaryReports/…`).
    pub async fn alm_report(
        &self,
        model: &ModelAddress,
        kind: TaskKind,
        target: RevisionId,
        source: RevisionId,
    ) -> Result<Streaming, UpstreamError> {
        let (collection, accept) = match kind {
            TaskKind::AlmSummaryReport => ("summaryReports", "application/json"),
            _ => ("comparisonReports", "application/octet-stream"),
        };
        let model = model.model.as_str();
        let path = [
            "models",
            model,
            "alm",
            collection,
            target.as_str(),
            source.as_str(),
        ];
        let call = Call {
            accept,
            ..Call::json(Method::GET, &path, Endpoint::AlmReport, Urgency::Caller)
        };
        self.call_streaming(call).await
    }
}
