//! How each answer is held: serialised once with its poll times, and tagged with a weak `ETag`
//! that every replica computes alike.

use axum::http::HeaderValue;
use bytes::Bytes;

use crate::cache::Cacheable;
use crate::schema::{ListedTask, ModelReport, ModelStatus, PollTimes, Task, TaskList, TaskStatus};

/// An object's tasks, newest first, as the cache holds them.
pub(super) struct TaskListing(pub(super) Vec<ListedTask>);

impl Cacheable for TaskListing {
    fn is_terminal(&self) -> bool {
        false
    }

    fn etag(&self) -> HeaderValue {
        etag(&self.0)
    }

    fn into_body(self, poll: PollTimes) -> Bytes {
        serialise(&TaskList {
            tasks: self.0,
            poll,
        })
    }
}

/// Serialised once, when an answer is stored; the schema cannot fail to serialise.
fn serialise(answer: &impl serde::Serialize) -> Bytes {
    Bytes::from(serde_json::to_vec(answer).unwrap_or_default())
}

/// A weak `ETag` over `status` as serialised (without the poll times): the first 16 bytes of
/// its SHA-256, so every replica tags an equal answer alike.
fn etag(status: &impl serde::Serialize) -> HeaderValue {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &serialise(status));
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    HeaderValue::from_str(&format!("W/\"{hex}\"")).expect("hex digits")
}

impl Cacheable for TaskStatus {
    fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Without the object's name: one replica knows it before another, and none at first; it
    /// names the object and never changes the answer, so it never makes a change to wait for.
    fn etag(&self) -> HeaderValue {
        match self.object_name {
            Some(_) => etag(&TaskStatus {
                object_name: None,
                ..self.clone()
            }),
            None => etag(self),
        }
    }

    fn into_body(self, poll: PollTimes) -> Bytes {
        serialise(&Task { status: self, poll })
    }
}

impl Cacheable for ModelReport {
    fn is_terminal(&self) -> bool {
        false
    }

    fn etag(&self) -> HeaderValue {
        etag(self)
    }

    fn into_body(self, poll: PollTimes) -> Bytes {
        serialise(&ModelStatus { status: self, poll })
    }
}
