//! Files and pages on the simulated Anaplan: files kept in chunks (an export's output is the file
//! named by the export's id), or generated chunk by chunk when large, so none is held whole;
//! every large read's pages, generated from the request id and page number; and the model's
//! list of files, which uploads write as Anaplan takes them (opened, chunks in order, gzip or
//! not, completed), an unknown id making a new file as it does in Anaplan.

use std::collections::HashMap;
use std::io::Read;

use axum::http::Method;
use bytes::Bytes;
use serde_json::json;

use super::reply::Reply;

/// A file's content.
#[derive(Clone)]
pub enum FileContent {
    /// These chunks.
    Stored(Vec<Bytes>),
    /// `chunks` chunks of `chunk_size` bytes each, made when asked for ([`generated_chunk`]).
    Generated {
        /// How many.
        chunks: usize,
        /// Bytes in each.
        chunk_size: usize,
    },
}

/// The files the simulated Anaplan holds, by file id.
#[derive(Default)]
pub struct Files {
    files: HashMap<String, FileContent>,
    /// The model's file list: ids and names, in order.
    listed: Vec<(String, String)>,
    /// What uploads wrote, by file id.
    uploads: HashMap<String, Upload>,
}

/// What uploads wrote to one file.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    /// Each chunk as it was put, decompressed, in order.
    pub chunks: Vec<Bytes>,
    /// Chunks put gzip-compressed.
    pub compressed: usize,
    /// Whether the upload was completed.
    pub completed: bool,
}

impl Upload {
    /// The file as its chunks make it.
    pub fn content(&self) -> Vec<u8> {
        self.chunks.concat()
    }
}

impl Files {
    /// Keeps `content` as the file `id`.
    pub fn put(&mut self, id: &str, content: FileContent) {
        self.files.insert(id.to_owned(), content);
    }

    /// Lists the file `id`, named `name`, in the model's files.
    pub fn list(&mut self, id: &str, name: &str) {
        self.listed.push((id.to_owned(), name.to_owned()));
    }

    /// What uploads wrote to the file `id`.
    pub fn upload(&self, id: &str) -> Option<Upload> {
        self.uploads.get(id).cloned()
    }

    /// The answer to an upload's call (`POST …/files/{id}`, `PUT …/chunks/{n}`,
    /// `POST …/complete`), if `path` (below `/2/0`) is one; `gzip` when the body is compressed.
    pub fn receive(
        &mut self,
        method: &Method,
        path: &str,
        body: &[u8],
        gzip: bool,
    ) -> Option<Reply> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["workspaces", _, "models", _, "files", id]) => {
                // As Anaplan does: an id it does not know makes a new file.
                if !self.listed.iter().any(|(listed, _)| listed == id) {
                    self.listed.push((id.to_string(), format!("{id}.csv")));
                }
                self.uploads.insert(id.to_string(), Upload::default());
                Some(Reply::ok(json!({"file": self.described(id)})))
            }
            ("PUT", ["workspaces", _, "models", _, "files", id, "chunks", n]) => {
                let upload = self.uploads.get_mut(*id)?;
                // In order from 0; the last chunk put again replaces it, as a PUT does.
                let n: usize = n.parse().ok()?;
                let again = n + 1 == upload.chunks.len();
                if (n != upload.chunks.len() && !again) || upload.completed {
                    return Some(Reply::status(400));
                }
                let chunk = match gzip {
                    true => {
                        let mut plain = Vec::new();
                        let mut decoder = flate2::read::GzDecoder::new(body);
                        if decoder.read_to_end(&mut plain).is_err() {
                            return Some(Reply::status(400));
                        }
                        upload.compressed += 1;
                        plain
                    }
                    false => body.to_vec(),
                };
                if again {
                    upload.chunks.pop();
                }
                upload.chunks.push(Bytes::from(chunk));
                Some(Reply::status(204))
            }
            ("POST", ["workspaces", _, "models", _, "files", id, "complete"]) => {
                let upload = self.uploads.get_mut(*id)?;
                if body.is_empty() {
                    // Anaplan has failed a `complete` sent with no body.
                    return Some(Reply::status(500));
                }
                upload.completed = true;
                Some(Reply::ok(json!({"file": self.described(id)})))
            }
            _ => None,
        }
    }

    /// A listed file as Anaplan describes it.
    fn described(&self, id: &str) -> serde_json::Value {
        let name = self.listed.iter().find(|(listed, _)| listed == id);
        let chunks = self.uploads.get(id).map_or(0, |upload| upload.chunks.len());
        json!({"id": id, "name": name.map(|(_, name)| name.as_str()), "chunkCount": chunks,
            "delimiter": "\"", "encoding": "UTF-8", "firstDataRow": 2, "format": "txt",
            "headerRow": 1, "separator": ","})
    }

    /// The answer to a call below `…/files/{id}`, if `path` (below `/2/0`) is one.
    pub fn reply(&self, path: &str) -> Option<Reply> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
            ["workspaces", _, "models", _, "files"] => {
                let files: Vec<_> = (self.listed.iter())
                    .map(|(id, _)| self.described(id))
                    .collect();
                // Anaplan leaves the key out when there are none.
                Some(Reply::ok(match files.is_empty() {
                    true => json!({"meta": {"paging": {"totalSize": 0}}}),
                    false => {
                        json!({"meta": {"paging": {"totalSize": files.len()}}, "files": files})
                    }
                }))
            }
            ["workspaces", _, "models", _, "files", id, "chunks"] => {
                let count = match self.files.get(*id)? {
                    FileContent::Stored(chunks) => chunks.len(),
                    FileContent::Generated { chunks, .. } => *chunks,
                };
                let chunks: Vec<_> = (0..count)
                    .map(|n| json!({"id": n.to_string(), "name": format!("Chunk {n}")}))
                    .collect();
                // Anaplan leaves the key out when there are none.
                Some(Reply::ok(match chunks.is_empty() {
                    true => json!({"meta": {"paging": {"totalSize": 0}}}),
                    false => json!({"meta": {"paging": {"totalSize": count}}, "chunks": chunks}),
                }))
            }
            ["workspaces", _, "models", _, "files", id, "chunks", n] => {
                let n: usize = n.parse().ok()?;
                let chunk = match self.files.get(*id)? {
                    FileContent::Stored(chunks) => chunks.get(n)?.clone(),
                    FileContent::Generated { chunks, chunk_size } if n < *chunks => {
                        generated_chunk(id, n, *chunk_size)
                    }
                    FileContent::Generated { .. } => return None,
                };
                Some(Reply::Bytes(chunk))
            }
            [.., "readRequests", request, "pages", n] => {
                let n: u64 = n.parse().ok()?;
                Some(Reply::Text(page(request, n)))
            }
            _ => None,
        }
    }
}

/// Chunk `n` of a generated file: CSV rows naming the file, chunk and row (a block of 1 000 rows,
/// repeated: cheap to make at a gigabyte's scale), cut at `size` bytes.
pub fn generated_chunk(file: &str, n: usize, size: usize) -> Bytes {
    let block: String = (0..1000)
        .map(|row| format!("{file},{n},{row},Example row of an export\n"))
        .collect();
    let mut chunk = Vec::with_capacity(size + block.len());
    while chunk.len() < size {
        chunk.extend_from_slice(block.as_bytes());
    }
    chunk.truncate(size);
    Bytes::from(chunk)
}

/// Page `n` of the large read `request`: a header line, then rows naming the request and page.
pub fn page(request: &str, n: u64) -> String {
    let rows = (0..3).map(|row| format!("{request},{n},{row}\n"));
    std::iter::once("Request,Page,Row\n".to_owned())
        .chain(rows)
        .collect()
}
