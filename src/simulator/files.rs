//! Files and pages on the simulated Anaplan: files kept in chunks (an export's output is the file
//! named by the export's id), or generated chunk by chunk when large, so none is held whole; and
//! every large read's pages, generated from the request id and page number.

use std::collections::HashMap;

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
}

impl Files {
    /// Keeps `content` as the file `id`.
    pub fn put(&mut self, id: &str, content: FileContent) {
        self.files.insert(id.to_owned(), content);
    }

    /// The answer to a call below `…/files/{id}`, if `path` (below `/2/0`) is one.
    pub fn reply(&self, path: &str) -> Option<Reply> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segments.as_slice() {
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
