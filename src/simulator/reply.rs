//! How the simulated Anaplan answers one call: a JSON body, an error status with Anaplan's error
//! body, a stall, a connection reset mid-body, or any of these after a delay.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use serde_json::{Value, json};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A JSON body with a status.
    Json(StatusCode, Value),
    /// A status with headers and Anaplan's error body.
    Status(StatusCode, Vec<(&'static str, String)>),
    /// Never answers.
    Stall,
    /// Sends headers, then drops the connection mid-body.
    Reset,
    /// Waits, then replies.
    After(Duration, Box<Reply>),
    /// 200 with a text body, as a dump chunk comes.
    Text(String),
    /// 200 with bytes, as a file's chunk comes.
    Bytes(bytes::Bytes),
    /// Scripted: done as if nothing were scripted (a start creates its task, an upload's chunk
    /// is kept), and then this is answered instead (a stall, a reset, a 5xx): the answer is lost.
    Lost(Box<Reply>),
    /// Scripted: answered as if nothing were scripted (a start creates its task and answers it,
    /// an upload's chunk is kept).
    Own,
}

impl Reply {
    /// 200 with `body`.
    pub fn ok(body: Value) -> Self {
        Reply::Json(StatusCode::OK, body)
    }

    /// `code` with Anaplan's error body; an unknown code is a 500.
    pub fn status(code: u16) -> Self {
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Reply::Status(status, Vec::new())
    }

    /// Anaplan's 404 for an unknown object.
    pub fn not_found() -> Self {
        Reply::status(404)
    }

    /// Plays the reply to a call of `path`.
    pub fn play(self, path: String) -> BoxFuture<'static, Response> {
        Box::pin(async move {
            match self {
                Reply::Json(status, body) => (status, Json(body)).into_response(),
                Reply::Status(status, headers) => error_response(status, headers, &path),
                Reply::Stall => std::future::pending().await,
                Reply::Reset => reset_mid_body(),
                Reply::Lost(reply) => reply.play(path).await,
                // Only a start is answered so; anywhere else it names nothing.
                Reply::Own => error_response(StatusCode::NOT_FOUND, Vec::new(), &path),
                Reply::After(delay, reply) => {
                    tokio::time::sleep(delay).await;
                    reply.play(path).await
                }
                Reply::Bytes(bytes) => {
                    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
                }
                Reply::Text(text) => {
                    ([(axum::http::header::CONTENT_TYPE, "text/plain")], text).into_response()
                }
            }
        })
    }
}

/// Anaplan's error body: `{"status": {"code", "message"}, "path", "timestamp"}`.
fn error_response(
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    path: &str,
) -> Response {
    let body = json!({
        "status": {"code": status.as_u16(), "message": status.canonical_reason().unwrap_or("")},
        "path": path, "timestamp": "2026-11-23T10:00:00.000Z"
    });
    let mut response = (status, Json(body)).into_response();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Headers promising 100 bytes, then a reset connection.
fn reset_mid_body() -> Response {
    let failing = futures_util::stream::once(async {
        Err::<bytes::Bytes, _>(std::io::Error::from(std::io::ErrorKind::ConnectionReset))
    });
    let mut response = Body::from_stream(failing).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from_static("100"));
    response
}
