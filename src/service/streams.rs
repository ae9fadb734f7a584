//! Bodies that stream from Anaplan to a caller (a failure dump, an export's file, a large read's
//! pages): parts fetched in order, each read as it comes with the shared token and one upstream
//! permit while it streams, paced by the caller's reading so a stalled reader never holds that
//! permit long.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt;
use tracing::Instrument;

use crate::upstream::UpstreamError;
use crate::upstream::request::Streaming;

/// A body as it streams; an error cuts it short, so the caller sees a broken transfer.
pub type ByteStream = futures_util::stream::BoxStream<'static, Result<Bytes, std::io::Error>>;

/// `parts` in order as one body, each opened by `open` once the one before it has ended. The
/// first is opened before this returns, so a body that cannot be read at all is an error, not a
/// cut-off body; none at all is `missing`. Parts are taken from `parts` one at a time, however
/// many it names.
pub(super) async fn in_order<Part, Parts, Open, Opening>(
    mut parts: Parts,
    open: Open,
    missing: UpstreamError,
) -> Result<ByteStream, UpstreamError>
where
    Parts: Iterator<Item = Part> + Send + 'static,
    Open: Fn(Part) -> Opening + Send + 'static,
    Opening: Future<Output = Result<Streaming, UpstreamError>> + Send,
{
    let first = parts.next().ok_or(missing)?;
    let current = open(first).await?;
    // The parts still to come; none once the body has failed.
    let state = (open, Some(parts), Some(current));
    let stream = futures_util::stream::unfold(state, |mut state| async move {
        let (open, parts, current) = &mut state;
        loop {
            if let Some(body) = current {
                match body.next().await {
                    Ok(Some(piece)) => return Some((Ok(piece), state)),
                    Ok(None) => *current = None,
                    Err(error) => {
                        (*parts, *current) = (None, None);
                        return Some((Err(std::io::Error::other(error)), state));
                    }
                }
            }
            let next = parts.as_mut()?.next()?;
            match open(next).await {
                Ok(body) => *current = Some(body),
                Err(error) => {
                    *parts = None;
                    return Some((Err(std::io::Error::other(error)), state));
                }
            }
        }
    });
    Ok(Box::pin(stream))
}

/// `stream` read apart from the response that carries it, one piece ahead: a reader that takes
/// longer than `deadline` for a piece loses the rest, and sees its body end in an error (never
/// as if it were whole); a reader that hangs up lets it go at once. Either way a stalled client
/// never holds an upstream permit (the part being read holds one) for longer than `deadline`.
pub(super) fn paced_by_reader(stream: ByteStream, deadline: Duration) -> ByteStream {
    let (pieces, mut received) = tokio::sync::mpsc::channel(1);
    let cut = Arc::new(AtomicBool::new(false));
    let cut_here = cut.clone();
    let pass_on = async move {
        let mut stream = stream;
        loop {
            let piece = tokio::select! {
                piece = stream.next() => piece,
                () = pieces.closed() => return,
            };
            let Some(piece) = piece else { return };
            if pieces.send_timeout(piece, deadline).await.is_err() {
                cut_here.store(true, Ordering::Release);
                return;
            }
        }
    };
    tokio::spawn(crate::trace::carried(pass_on.in_current_span()));
    Box::pin(futures_util::stream::poll_fn(move |context| {
        received.poll_recv(context).map(|piece| match piece {
            None if cut.swap(false, Ordering::AcqRel) => Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the reader took longer than ANAPLAN_TIMEOUT for a piece",
            ))),
            piece => piece,
        })
    }))
}
