//! An import's data file, uploaded through the gateway with its token: the caller's body read as
//! it comes, cut into chunks of `GATEWAY_UPLOAD_CHUNK` bytes and compressed on the way in, each
//! chunk sent while the next is read (so one chunk is held as it fills and one as it is sent),
//! in order, then the file completed. A body that breaks off or stalls is never completed, and
//! an empty one never leaves.

use std::io::Write;

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use futures_util::{Stream, StreamExt};

use super::upload_holds::{Hold, NotHeld};
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uploaded {
    /// Chunks sent.
    pub chunks: u32,
    /// Bytes of the body, before compression.
    pub bytes: u64,
    /// The file's name, as the model lists it.
    pub name: String,
}

/// Why an upload was not completed.
#[derive(Debug)]
pub enum UploadError {
    /// Anaplan failed or refused.
    Upstream(UpstreamError),
    /// `GATEWAY_MAX_TRANSFERS` are in flight.
    TooManyTransfers,
    /// The body is empty: it would replace the file's content with nothing.
    Empty,
    /// The model's file list has no such file: Anaplan would have made a new one.
    NoSuchFile,
    /// Another upload of the same file is under way.
    Busy,
    /// The fleet's Redis did not answer, or lost the hold: nothing keeps another replica from the
    /// file, so nothing more was sent.
    HoldUnavailable,
    /// The body broke off, or stalled past `ANAPLAN_TIMEOUT`, after this many bytes.
    BodyBroken {
        /// Bytes read before it broke.
        read: u64,
    },
    /// The body needs more chunks than Anaplan takes for one file.
    TooLarge,
    /// Every chunk was sent and the completion asked for, and its answer was lost: the file may
    /// be complete.
    CompletionUnknown(UpstreamError),
}

impl From<UpstreamError> for UploadError {
    fn from(error: UpstreamError) -> Self {
        UploadError::Upstream(error)
    }
}

impl From<NotHeld> for UploadError {
    fn from(refused: NotHeld) -> Self {
        match refused {
            NotHeld::Busy => UploadError::Busy,
            NotHeld::Unavailable => UploadError::HoldUnavailable,
        }
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
        let mut body = Incoming {
            body,
            left_over: Bytes::new(),
            read: 0,
            done: false,
            deadline: self.inner.reader_deadline,
        };
        // Nothing goes upstream before the body shows it has something to give.
        if !body.has_bytes().await? {
            return Err(UploadError::Empty);
        }
        let at = self.locate_model(request.model).await?;
        let hold = self.inner.uploads.hold(&at, request.file).await?;
        let sender = ChunkSender {
            client: &self.inner.client,
            at,
            file: request.file,
            hold: &hold,
        };
        let uploaded = sender.upload(&mut body, self.inner.upload_chunk).await;
        hold.release().await;
        uploaded
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
        // Room for a chunk that does not compress, so the buffer never grows by doubling.
        let room = size + size / 1000 + 64;
        let mut gzip = GzEncoder::new(Vec::with_capacity(room), Compression::fast());
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

    /// Whether the body has a byte to give: reads past empty pieces to the first that has one.
    async fn has_bytes(&mut self) -> Result<bool, UploadError> {
        while self.left_over.is_empty() {
            match self.next_piece().await? {
                Some(piece) => self.left_over = piece,
                None => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Whether the body has ended, and nothing of it is left over.
    fn ended(&self) -> bool {
        self.done && self.left_over.is_empty()
    }
}

/// Sends one upload's calls: the file found, opened, its chunks in order, completed.
struct ChunkSender<'a> {
    client: &'a AnaplanClient,
    at: ModelAddress,
    file: ObjectId,
    hold: &'a Hold,
}

impl ChunkSender<'_> {
    async fn upload<Body, Failure>(
        &self,
        body: &mut Incoming<Body>,
        chunk_size: usize,
    ) -> Result<Uploaded, UploadError>
    where
        Body: Stream<Item = Result<Bytes, Failure>> + Unpin,
    {
        let (client, at, file) = (self.client, &self.at, self.file);
        let files = client.model_files(at).await?;
        let listed = files.iter().find(|listed| listed.id == file.as_str());
        let name = listed.ok_or(UploadError::NoSuchFile)?.name.clone();
        client.open_upload(at, file).await?;
        let mut sending: Option<(u32, Chunk)> = None;
        let mut chunks = 0;
        while !body.ended() {
            let send = self.send(sending.take());
            let (filled, ()) = tokio::try_join!(body.fill(chunk_size), send)?;
            if filled.raw > 0 {
                if chunks == MAX_CHUNKS {
                    return Err(UploadError::TooLarge);
                }
                sending = Some((chunks, filled));
                chunks += 1;
            }
        }
        self.send(sending).await?;
        self.still_held()?;
        client
            .complete_upload(at, file, &name)
            .await
            .map_err(|error| {
                match error {
                    // Refused, or never sent: Anaplan did not complete it.
                    UpstreamError::Rejected { .. }
                    | UpstreamError::NotFound { .. }
                    | UpstreamError::Busy { .. }
                    | UpstreamError::Unauthorized
                    | UpstreamError::RateLimited { .. }
                    | UpstreamError::OverBudget { .. } => UploadError::Upstream(error),
                    lost => UploadError::CompletionUnknown(lost),
                }
            })?;
        Ok(Uploaded {
            chunks,
            bytes: body.read,
            name,
        })
    }

    /// Puts one chunk, if there is one, and counts its bytes once Anaplan has them.
    async fn send(&self, chunk: Option<(u32, Chunk)>) -> Result<(), UploadError> {
        let Some((number, chunk)) = chunk else {
            return Ok(());
        };
        self.still_held()?;
        (self.client)
            .upload_chunk(&self.at, self.file, number, chunk.gzip)
            .await?;
        metrics::counter!("anaplan_gateway_transfer_bytes_total", "direction" => "upload")
            .increment(chunk.raw as u64);
        Ok(())
    }

    /// Whether the file is still this upload's to write.
    fn still_held(&self) -> Result<(), UploadError> {
        match self.hold.is_lost() {
            true => Err(UploadError::HoldUnavailable),
            false => Ok(()),
        }
    }
}
