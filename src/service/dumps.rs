//! Failure dumps as they stream from Anaplan to a caller: chunk after chunk, each read as it
//! comes, paced by the caller's reading (see [`super::streams`]), holding one of
//! `GATEWAY_MAX_TRANSFERS`' places as the other transfers do.

use super::StatusService;
use super::files::FileError;
use super::streams::{ByteStream, in_order};
use crate::ids::ObjectId;
use crate::upstream::UpstreamError;

impl StatusService {
    /// The failure dump of an import task, or (with `action`) of one import inside a process
    /// task, streamed chunk by chunk; `NotFound` when Anaplan has none. The first chunk is opened
    /// before this returns, so a dump that cannot be read is an error, not a cut-off body.
    pub async fn dump(
        &self,
        request: super::TaskRequest,
        action: Option<ObjectId>,
    ) -> Result<ByteStream, FileError> {
        let place = self.transfer_place()?;
        let at = self.locate(&request).await?;
        let client = self.inner.client.clone();
        let no_dump = UpstreamError::NotFound {
            path: "failure dump".into(),
        };
        if at.kind().is_cloudworks() {
            // The run's status (cached, as any caller's) checks that it is the integration's.
            self.task_at(at).await?;
            // CloudWorks sends a run's dump whole, in one answer.
            let open = move |_| {
                let client = client.clone();
                async move { client.run_dump(&at, action).await }
            };
            let stream = in_order(std::iter::once(()), open, no_dump).await?;
            return Ok(self.delivered(stream, place));
        }
        let chunks = client.dump_chunks(&at, action).await?.into_iter();
        let open = move |chunk: String| {
            let client = client.clone();
            async move { client.dump_chunk(&at, action, &chunk).await }
        };
        let stream = in_order(chunks, open, no_dump).await?;
        Ok(self.delivered(stream, place))
    }
}
