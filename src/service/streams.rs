//! Bodies that stream from Anaplan to a caller (a failure dump, an export's file, a large read's
//! pages): parts fetched in order, each read as it comes with the shared token and one upstream
//! permit while it streams, paced by the caller's reading so a stalled reader never holds that
//! permit long.

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;

use crate::upstream::UpstreamError;
use crate::upstream::request::Streaming;

/// A body as it streams; an error cuts it short, so the caller sees a broken transfer.
pub type ByteStream = futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>;

/// `parts` in order as one body, each opened by `open` once the one before it has ended. The
/// first is opened before this returns, so a body that cannot be read at all is an error, not a
/// cut-off body; none at all is `missing`.
pub(super) async fn in_order<Part, Open, Opening>(
    mut parts: VecDeque<Part>,
    open: Open,
    missing: UpstreamError,
) -> Result<ByteStream, UpstreamError>
where
    Part: Send + 'static,
    Open: Fn(Part) -> Opening + Send + 'static,
    Opening: Future<Output = Result<Streaming, UpstreamError>> + Send,
{
    let first = parts.pop_front().ok_or(missing)?;
    let current = open(first).await?;
    let state = (open, parts, Some(current));
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        let (open, parts, current) = &mut state;
        loop {
            if let Some(body) = current {
                match body.next().await {
                    Ok(Some(piece)) => return Some((Ok(piece), state)),
                    Ok(None) => *current = None,
                    Err(error) => {
                        parts.clear();
                        *current = None;
                        return Some((Err(std::io::Error::other(error)), state));
                    }
                }
            }
            let next = parts.pop_front()?;
            match open(next).await {
                Ok(body) => *current = Some(body),
                Err(error) => {
                    parts.clear();
                    return Some((Err(std::io::Error::other(error)), state));
                }
            }
        }
    });
    Ok(Box::pin(stream))
}

/// `stream` read apart from the response that carries it, one piece ahead: a reader that takes
/// longer than `deadline` for a piece loses the rest, so a stalled client never holds an
/// upstream permit (the part being read holds one) for longer than that.
pub(super) fn paced_by_reader(stream: ByteStream, deadline: Duration) -> ByteStream {
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
