//! An import's data file, uploaded through the gateway with its token: the caller's body read as
//! it comes, cut into chunks of `GATEWAY_UPLOAD_CHUNK` bytes and compressed on the way in, each
//! chunk sent while the next is read (so one chunk is held as it fills and one as it is sent),
//! in order, then the file completed. A body that breaks off or stalls is never completed.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::{Stream, StreamExt};

use super::{ModelRequest, StatusService};
use crate::address::ModelAddress;
use crate::ids::ObjectId;
use crate::upstream::{AnaplanClient, UpstreamError};

/// Anaplan takes at most this many chunks for one file.
pub const MAX_CHUNKS: u32 = 1000;

/// An upload whose ids passed the checks.
#[derive(Debug, Clone, Copy)]
pub struct UploadRequest {
    /// The model (and its workspace, if given).
    pub model: ModelRequest,
    /// The file, which must be in the model's file list.
    pub file: ObjectId,
}

/// What an upload sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uploaded {
    /// Chunks sent.
    pub chunks: u32,
    /// Bytes of the body, before compression.
    pub bytes: u64,
}

/// Why an upload was not completed.
#[derive(Debug)]
pub enum UploadError {
    /// Anaplan failed or refused.
    Upstream(UpstreamError),
    /// `GATEWAY_MAX_TRANSFERS` are in flight.
    TooManyTransfers,
    /// The model's file list has no such file: Anaplan would have made a new one.
    NoSuchFile,
    /// Another upload of the same file is under way.
    Busy,
    /// The body broke off, or stalled past `ANAPLAN_TIMEOUT`, after this many bytes.
    BodyBroken {
        /// Bytes read before it broke.
        read: u64,
    },
    /// The body needs more chunks than Anaplan takes for one file.
    TooLarge,
}

impl From<UpstreamError> for UploadError {
    fn from(error: UpstreamError) -> Self {
        UploadError::Upstream(error)
    }
}

impl StatusService {
    /// The largest upload Anaplan takes in chunks of `GATEWAY_UPLOAD_CHUNK`, in bytes.
    pub fn max_upload(&self) -> u64 {
        u64::from(MAX_CHUNKS) * self.inner.upload_chunk as u64
    }

    /// Uploads `body` as the model's file, in chunks of `GATEWAY_UPLOAD_CHUNK`, then completes it.
    pub async fn upload<Body, Failure>(
        &self,
        request: UploadRequest,
        body: Body,
    ) -> Result<Uploaded, UploadError>
    where
        Body: Stream<Item = Result<Bytes, Failure>> + Unpin,
    {
        let _place = (self.transfer_place()).map_err(|_| UploadError::TooManyTransfers)?;
        let at = self.locate_model(request.model).await?;
        let file = request.file;
        let _hold = (self.inner.uploads.hold(&at, file).await).ok_or(UploadError::Busy)?;
        let client = &self.inner.client;
        let files = client.model_files(&at).await?;
        let listed = files.iter().find(|listed| listed.id == file.as_str());
        let name = listed.ok_or(UploadError::NoSuchFile)?.name.clone();
        client.open_upload(&at, file).await?;
        let mut body = Incoming {
            body,
            left_over: Bytes::new(),
            read: 0,
            done: false,
            deadline: self.inner.reader_deadline,
        };
        let sender = ChunkSender { client, at, file };
        let mut sending: Option<(u32, Chunk)> = None;
        let mut chunks = 0;
        loop {
            let send = sender.send(sending.take());
            let (filled, ()) = tokio::try_join!(body.fill(self.inner.upload_chunk), send)?;
            // The first chunk is sent even when empty: an empty file is still a file.
            if filled.raw > 0 || chunks == 0 {
                if chunks == MAX_CHUNKS {
                    return Err(UploadError::TooLarge);
                }
                sending = Some((chunks, filled));
                chunks += 1;
            }
            if body.ended() {
                break;
            }
        }
        sender.send(sending).await?;
        client.complete_upload(&at, file, &name).await?;
        Ok(Uploaded {
            chunks,
            bytes: body.read,
        })
    }
}

/// One chunk, compressed as it was read.
struct Chunk {
    gzip: Bytes,
    /// Its bytes before compression.
    raw: usize,
}

/// The caller's body as it comes: what a chunk took too much of is kept for the next.
struct Incoming<Body> {
    body: Body,
    left_over: Bytes,
    /// Bytes read so far.
    read: u64,
    /// Whether the body has ended.
    done: bool,
    deadline: std::time::Duration,
}

impl<Body, Failure> Incoming<Body>
where
    Body: Stream<Item = Result<Bytes, Failure>> + Unpin,
{
    /// The next chunk of at most `size` bytes, compressed as its pieces come; shorter only at the
    /// body's end.
    async fn fill(&mut self, size: usize) -> Result<Chunk, UploadError> {
        let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
        let mut raw = 0;
        while raw < size && !self.ended() {
            let mut piece = match std::mem::take(&mut self.left_over) {
                piece if !piece.is_empty() => piece,
                _ => match self.next_piece().await? {
                    Some(piece) => piece,
                    None => break,
                },
            };
            if piece.len() > size - raw {
                self.left_over = piece.split_off(size - raw);
            }
            raw += piece.len();
            gzip.write_all(&piece).expect("writing to memory");
        }
        let gzip = gzip.finish().expect("writing to memory");
        Ok(Chunk {
            gzip: Bytes::from(gzip),
            raw,
        })
    }

    /// The body's next piece, within the deadline; `None` at its end.
    async fn next_piece(&mut self) -> Result<Option<Bytes>, UploadError> {
        let broken = UploadError::BodyBroken { read: self.read };
        let piece = match tokio::time::timeout(self.deadline, self.body.next()).await {
            Ok(Some(Ok(piece))) => piece,
            Ok(None) => {
                self.done = true;
                return Ok(None);
            }
            Ok(Some(Err(_))) | Err(_) => return Err(broken),
        };
        self.read += piece.len() as u64;
        Ok(Some(piece))
    }

    /// Whether the body has ended, and nothing of it is left over.
    fn ended(&self) -> bool {
        self.done && self.left_over.is_empty()
    }
}

/// Sends chunks of one upload, counting their bytes once Anaplan has them.
struct ChunkSender<'a> {
    client: &'a AnaplanClient,
    at: ModelAddress,
    file: ObjectId,
}

impl ChunkSender<'_> {
    async fn send(&self, chunk: Option<(u32, Chunk)>) -> Result<(), UploadError> {
        let Some((number, chunk)) = chunk else {
            return Ok(());
        };
        (self.client)
            .upload_chunk(&self.at, self.file, number, chunk.gzip)
            .await?;
        metrics::counter!("anaplan_gateway_transfer_bytes_total", "direction" => "upload")
            .increment(chunk.raw as u64);
        Ok(())
    }
}
