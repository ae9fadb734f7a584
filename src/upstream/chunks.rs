//! Anaplan's lists of chunks (a failure dump's, an export's file): the ids, in order, checked
//! before any goes into a URL.

use super::UpstreamError;

/// Anaplan's list of chunks; the key is absent when there are none.
#[derive(serde::Deserialize)]
pub(super) struct ChunkList {
    #[serde(default)]
    chunks: Vec<ChunkRef>,
}

#[derive(serde::Deserialize)]
struct ChunkRef {
    /// `"0"`, `"1"`…; a number is read as its text.
    id: serde_json::Value,
}

impl ChunkList {
    /// The chunks' ids, in order: only the numbers Anaplan documents, since each goes into a URL.
    pub(super) fn ids(self) -> Result<Vec<String>, UpstreamError> {
        let id = |chunk: ChunkRef| match chunk.id {
            serde_json::Value::String(text) => text,
            other => other.to_string(),
        };
        let ids: Vec<String> = self.chunks.into_iter().map(id).collect();
        let numbered = |id: &String| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit());
        match ids.iter().all(numbered) {
            true => Ok(ids),
            false => Err(UpstreamError::BadBody("a chunk id is not a number".into())),
        }
    }
}
