//! How an answer from Anaplan is read: its status classified into an [`UpstreamError`], its
//! `Retry-After` understood, its body read within a bound, a failure below HTTP named.

use std::time::{Duration, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

use super::error::UpstreamError;
use super::gate::RateLimitGate;
use super::wire;

/// Pause after a 429 that carried no usable `Retry-After`.
pub const DEFAULT_RATE_LIMIT_PAUSE: Duration = Duration::from_secs(10);
/// Pause after a 503 that carried no usable `Retry-After`: one default poll interval.
const DEFAULT_UNAVAILABLE_PAUSE: Duration = Duration::from_secs(5);
/// The longest pause a `Retry-After` can impose: one bad header must not stop the gateway for good.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60 * 60);
/// Anaplan's status answers are a few KiB; anything this large is not one.
pub const MAX_BODY_BYTES: u64 = 4 * 1024 * 1024;

/// Maps an HTTP answer to its body or a classified error; a 429 closes `gate`.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: bytes::Bytes,
    gate: &RateLimitGate,
) -> Result<bytes::Bytes, UpstreamError> {
    match status.as_u16() {
        200..=299 => Ok(body),
        401 => Err(UpstreamError::Unauthorized),
        404 => Err(UpstreamError::NotFound {
            path: String::new(),
        }),
        409 | 423 => Err(UpstreamError::Busy {
            status: status.as_u16(),
        }),
        429 => {
            let retry_after = retry_after(headers, DEFAULT_RATE_LIMIT_PAUSE);
            gate.close_for(retry_after);
            Err(UpstreamError::RateLimited { retry_after })
        }
        503 => Err(UpstreamError::Unavailable {
            retry_after: retry_after(headers, DEFAULT_UNAVAILABLE_PAUSE),
        }),
        500..=599 => Err(UpstreamError::Server {
            status: status.as_u16(),
        }),
        code => Err(UpstreamError::Rejected {
            status: code,
            message: error_message(&body),
        }),
    }
}

/// Reads the body, stopping at `MAX_BODY_BYTES` (what was read then is dropped: no Anaplan
/// status answer is that large, and an empty body is refused as unreadable).
pub async fn read_bounded(mut response: reqwest::Response) -> Result<bytes::Bytes, UpstreamError> {
    if response.content_length().unwrap_or(0) > MAX_BODY_BYTES {
        return Ok(bytes::Bytes::new());
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| transport_error(&err))?
    {
        if (body.len() + chunk.len()) as u64 > MAX_BODY_BYTES {
            return Ok(bytes::Bytes::new());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Anaplan's `status.message`, else the start of the body.
fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<wire::ErrorEnvelope>(body)
        .ok()
        .and_then(|envelope| envelope.status.message)
        .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned())
}

/// Classifies a failure below HTTP.
pub fn transport_error(err: &reqwest::Error) -> UpstreamError {
    if err.is_timeout() {
        UpstreamError::Timeout
    } else {
        UpstreamError::Unreachable(innermost_cause(err))
    }
}

/// The end of an error's source chain: "connection refused", "reset by peer"… without any secret.
pub fn innermost_cause(err: &reqwest::Error) -> String {
    let mut cause = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(inner) = source {
        cause = inner.to_string();
        source = inner.source();
    }
    cause
}

/// Reads `Retry-After` as delta-seconds or an HTTP date; `default` when missing or unreadable.
pub fn retry_after(headers: &HeaderMap, default: Duration) -> Duration {
    let text = headers.get(RETRY_AFTER).and_then(|v| v.to_str().ok());
    text.and_then(parse_retry_after)
        .unwrap_or(default)
        .min(MAX_RETRY_AFTER)
}

/// `Retry-After`'s two forms: delta-seconds, or an HTTP date (a date past is no pause).
pub fn parse_retry_after(text: &str) -> Option<Duration> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => httpdate::parse_http_date(text)
            .ok()
            .map(|at| at.duration_since(SystemTime::now()).unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(retry_after).unwrap());
        headers
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let default = DEFAULT_RATE_LIMIT_PAUSE;
        assert_eq!(retry_after(&headers("7"), default), Duration::from_secs(7));
        let in_a_minute = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(60));
        let parsed = retry_after(&headers(&in_a_minute), default);
        assert!(parsed > Duration::from_secs(55) && parsed <= Duration::from_secs(60));
        let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(60));
        assert_eq!(retry_after(&headers(&past), default), Duration::ZERO);
        assert_eq!(retry_after(&headers("soon"), default), default);
        let huge = retry_after(&headers("18446744073709551615"), default);
        assert_eq!(huge, MAX_RETRY_AFTER);
        assert_eq!(retry_after(&HeaderMap::new(), default), default);
    }

    #[test]
    fn a_503_carries_its_retry_after() {
        let gate = RateLimitGate::default();
        let body = bytes::Bytes::new();
        let error = classify(StatusCode::SERVICE_UNAVAILABLE, &headers("42"), body, &gate);
        let retry_after = Duration::from_secs(42);
        assert_eq!(error, Err(UpstreamError::Unavailable { retry_after }));
    }

    /// Anaplan's two error formats: `status` alone, and `status` with the `path` and a
    /// `timestamp` (spaced as Jackson writes it, too).
    #[test]
    fn anaplan_error_bodies_give_their_message() {
        let body = br#"{"status":{"code":405,"message":"Method Not Allowed"},"path":"/2/0/x"}"#;
        assert_eq!(error_message(body), "Method Not Allowed");
        let bare = br#"{"status":{"code":400,"message":"Parameter 'x' is missing"}}"#;
        assert_eq!(error_message(bare), "Parameter 'x' is missing");
        let spaced = br#"{ "status" : { "code" : 404, "message" : "Not Found" },
            "path" : "/2/0/models/x", "timestamp" : "2026-01-01T00:00:00.000000001Z" }"#;
        assert_eq!(error_message(spaced), "Not Found");
        assert_eq!(error_message(b"plain text"), "plain text");
    }
}
