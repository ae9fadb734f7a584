//! Failure dumps as they stream from Anaplan to a caller: chunk after chunk, each read as it
//! comes, paced by the caller's reading so a stalled reader never holds an upstream permit long.

use bytes::Bytes;

use super::StatusService;
use crate::ids::ObjectId;
use crate::upstream::UpstreamError;

/// `stream` read apart from the response that carries it, one piece ahead: a reader that takes
/// longer than `deadline` for a piece loses the rest, so a stalled client never holds an
/// upstream permit (the chunk being read holds one) for longer than that.
fn paced_by_reader(stream: DumpStream, deadline: std::time::Duration) -> DumpStream {
    use futures_util::StreamExt;
    let (pieces, mut received) = tokio::sync::mpsc::channel(1);
    tokio::spawn(async move {
        let mut stream = stream;
        while let Some(piece) = stream.next().await {
            if pieces.send_timeout(piece, deadline).await.is_err() {
                return;
            }
        }
    });
    Box::pin(futures_util::stream::poll_fn(move |context| {
        received.poll_recv(context)
    }))
}

/// A failure dump as it streams: its chunks in order, each read as it comes.
pub type DumpStream = futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>;

impl StatusService {
    /// The failure dump of an import task, or (with `action`) of one import inside a process
    /// task, streamed chunk by chunk; `NotFound` when Anaplan has none. The first chunk is opened
    /// before this returns, so a dump that cannot be read is an error, not a cut-off body.
    pub async fn dump(
        &self,
        request: super::TaskRequest,
        action: Option<ObjectId>,
    ) -> Result<DumpStream, UpstreamError> {
        let at = self.locate(request).await?;
        let client = self.inner.client.clone();
        let mut chunks: std::collections::VecDeque<String> =
            client.dump_chunks(&at, action).await?.into();
        let no_dump = || UpstreamError::NotFound {
            path: "failure dump".into(),
        };
        let first = chunks.pop_front().ok_or_else(no_dump)?;
        let current = client.dump_chunk(&at, action, &first).await?;
        let reader_deadline = self.inner.dump_reader_deadline;
        let state = (client, at, action, chunks, Some(current));
        let stream = futures_util::stream::unfold(state, |mut state| async move {
            let (client, at, action, chunks, current) = &mut state;
            loop {
                if let Some(body) = current {
                    match body.next().await {
                        Ok(Some(piece)) => return Some((Ok(piece), state)),
                        Ok(None) => *current = None,
                        Err(error) => {
                            // The body is cut short: the caller sees a broken transfer.
                            chunks.clear();
                            *current = None;
                            return Some((Err(std::io::Error::other(error)), state));
                        }
                    }
                }
                let next = chunks.pop_front()?;
                match client.dump_chunk(at, *action, &next).await {
                    Ok(body) => *current = Some(body),
                    Err(error) => {
                        chunks.clear();
                        return Some((Err(std::io::Error::other(error)), state));
                    }
                }
            }
        });
        Ok(paced_by_reader(Box::pin(stream), reader_deadline))
    }
}
