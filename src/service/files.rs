//! What a finished task left to collect, streamed to the caller with the gateway's token: an
//! export's output file and a large read's pages. Each transfer holds one of
//! `GATEWAY_MAX_TRANSFERS`' places for as long as its body streams.

use futures_util::StreamExt;
use serde::Deserialize;

pub use super::streams::ByteStream;
use super::streams::{in_order, paced_by_reader};
use super::{StatusService, TaskRequest};
use crate::ids::RevisionId;
use crate::schema::TaskState;
use crate::upstream::UpstreamError;

/// Why a file or page could not be given.
#[derive(Debug)]
pub enum FileError {
    /// Anaplan failed or refused.
    Upstream(UpstreamError),
    /// The task has not succeeded (yet): its state.
    NotFinished(TaskState),
    /// Anaplan has no file for the export.
    NoFile,
    /// The read has not made that page available (yet): how many it has.
    NoPage {
        /// Pages available now.
        available: u64,
    },
    /// `GATEWAY_MAX_TRANSFERS` are in flight.
    TooManyTransfers,
}

impl From<UpstreamError> for FileError {
    fn from(error: UpstreamError) -> Self {
        FileError::Upstream(error)
    }
}

/// What a download needs of a task's status.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Progress {
    state: TaskState,
    available_pages: Option<u64>,
    result: Option<Revisions>,
}

/// The revisions an ALM report compared, as its result names them.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Revisions {
    source_revision_id: Option<String>,
    target_revision_id: Option<String>,
}

impl StatusService {
    /// The output file of an export that succeeded, chunk by chunk in order.
    pub async fn export_file(&self, request: TaskRequest) -> Result<ByteStream, FileError> {
        let place = self.transfer_place()?;
        self.succeeded(request).await?;
        let at = self.locate(&request).await?;
        let model = *at.model().ok_or(FileError::NoFile)?;
        let file = at.object.id.ok_or(FileError::NoFile)?;
        let client = self.inner.client.clone();
        let chunks = match client.file_chunks(&model, file).await {
            Err(UpstreamError::NotFound { .. }) => return Err(FileError::NoFile),
            chunks => chunks?,
        };
        let open = move |chunk: String| {
            let client = client.clone();
            async move { client.file_chunk(&model, file, &chunk).await }
        };
        let missing = UpstreamError::NotFound {
            path: "export file".into(),
        };
        let stream = match in_order(chunks.into_iter(), open, missing).await {
            Err(UpstreamError::NotFound { .. }) => return Err(FileError::NoFile),
            stream => stream?,
        };
        Ok(self.delivered(stream, place))
    }

    /// The report an ALM report task that succeeded made, of the revisions its result names.
    pub async fn alm_report(&self, request: TaskRequest) -> Result<ByteStream, FileError> {
        let place = self.transfer_place()?;
        let revisions = self.succeeded(request).await?.result;
        let revision = |field, id: Option<String>| {
            let id = id.unwrap_or_default();
            RevisionId::parse(field, &id).map_err(|_| {
                let problem = format!("the report's result gives no usable {field}");
                FileError::Upstream(UpstreamError::BadBody(problem))
            })
        };
        let (source, target) = match revisions {
            Some(Revisions {
                source_revision_id,
                target_revision_id,
            }) => (source_revision_id, target_revision_id),
            None => (None, None),
        };
        let source = revision("sourceRevisionId", source)?;
        let target = revision("targetRevisionId", target)?;
        let at = self.locate(&request).await?;
        let model = *at.model().ok_or(FileError::NoFile)?;
        let client = self.inner.client.clone();
        let open = move |_| {
            let client = client.clone();
            async move { client.alm_report(&model, at.kind(), target, source).await }
        };
        let stream = match in_order(
            std::iter::once(()),
            open,
            UpstreamError::NotFound {
                path: "ALM report".into(),
            },
        )
        .await
        {
            Err(UpstreamError::NotFound { .. }) => return Err(FileError::NoFile),
            stream => stream?,
        };
        Ok(self.delivered(stream, place))
    }

    /// Page `page` of a large read, once the read has made it available.
    pub async fn read_page(
        &self,
        request: TaskRequest,
        page: u64,
    ) -> Result<ByteStream, FileError> {
        let place = self.transfer_place()?;
        let available = self.progress(request).await?.available_pages.unwrap_or(0);
        if page >= available {
            return Err(FileError::NoPage { available });
        }
        match self.pages(request, page..page + 1, place).await {
            // Gone from Anaplan (the read was deleted, or idle past its 30 minutes).
            Err(FileError::Upstream(UpstreamError::NotFound { .. })) => {
                Err(FileError::NoPage { available: 0 })
            }
            answer => answer,
        }
    }

    /// Every page of a large read that succeeded, in order, as one body.
    pub async fn read_data(&self, request: TaskRequest) -> Result<ByteStream, FileError> {
        let place = self.transfer_place()?;
        let pages = self.succeeded(request).await?.available_pages;
        let pages = pages.ok_or_else(|| {
            UpstreamError::BadBody("a finished read's status gives no availablePages".into())
        })?;
        if pages == 0 {
            return Ok(Box::pin(futures_util::stream::empty()));
        }
        self.pages(request, 0..pages, place).await
    }

    async fn pages(
        &self,
        request: TaskRequest,
        pages: std::ops::Range<u64>,
        place: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<ByteStream, FileError> {
        let at = self.locate(&request).await?;
        let client = self.inner.client.clone();
        let open = move |page: u64| {
            let client = client.clone();
            async move { client.read_page(&at, page).await }
        };
        let missing = UpstreamError::NotFound {
            path: "read page".into(),
        };
        let stream = in_order(pages, open, missing).await?;
        Ok(self.delivered(stream, place))
    }

    /// The task's status as the cache holds it: a download asks no more of Anaplan than a
    /// status request does.
    async fn progress(&self, request: TaskRequest) -> Result<Progress, FileError> {
        let served = self.task(request).await?;
        serde_json::from_slice(&served.snapshot.body)
            .map_err(|err| FileError::Upstream(UpstreamError::BadBody(err.to_string())))
    }

    /// The task's status, if it succeeded.
    async fn succeeded(&self, request: TaskRequest) -> Result<Progress, FileError> {
        let progress = self.progress(request).await?;
        match progress.state {
            TaskState::Succeeded => Ok(progress),
            state => Err(FileError::NotFinished(state)),
        }
    }

    /// One of `GATEWAY_MAX_TRANSFERS`' places, taken at once or not at all.
    pub(super) fn transfer_place(&self) -> Result<tokio::sync::OwnedSemaphorePermit, FileError> {
        (self.inner.transfers.clone().try_acquire_owned()).map_err(|_| FileError::TooManyTransfers)
    }

    /// `stream` holding `place` until it ends (or its reader is let go), paced by its reader,
    /// and counted as its reader is given each piece.
    pub(super) fn delivered(
        &self,
        stream: ByteStream,
        place: tokio::sync::OwnedSemaphorePermit,
    ) -> ByteStream {
        let holding = stream.map(move |piece| {
            let _place = &place;
            piece
        });
        let paced = paced_by_reader(Box::pin(holding), self.inner.reader_deadline);
        let bytes =
            metrics::counter!("anaplan_gateway_transfer_bytes_total", "direction" => "download");
        Box::pin(paced.map(move |piece| {
            if let Ok(piece) = &piece {
                bytes.increment(piece.len() as u64);
            }
            piece
        }))
    }
}
