//! The headers of a status answer, built in one place: `ETag`, `Age`, `Cache-Control` and the
//! RFC 9211 `Cache-Status`, and `304 Not Modified` for a matching `If-None-Match`. Values are
//! precomputed so the hit path formats nothing.

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use tokio::time::Instant;

use crate::cache::{CacheStatus, Served};

const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// `Cache-Control` lifetime of a finished task's answer, which never changes.
const TERMINAL_MAX_AGE: &str = "max-age=86400, immutable";

/// `max-age=N` and `Age` values for 0..=`PRECOMPUTED` seconds (past the longest default poll
/// interval and stale bound), built once: the hit path formats nothing.
const PRECOMPUTED: u64 = 600;

fn seconds_header(
    table: &'static OnceLock<Vec<HeaderValue>>,
    prefix: &str,
    seconds: u64,
) -> HeaderValue {
    let values = table.get_or_init(|| {
        (0..=PRECOMPUTED)
            .map(|n| {
                // Static text, kept for the life of the process, so cloning a value on the hit
                // path touches no reference count shared between threads.
                let text: &'static str = String::leak(format!("{prefix}{n}"));
                HeaderValue::from_static(text)
            })
            .collect()
    });
    match values.get(seconds as usize) {
        Some(value) => value.clone(),
        None => HeaderValue::from_str(&format!("{prefix}{seconds}")).expect("ASCII digits"),
    }
}

/// Whole seconds, rounded up.
pub fn seconds_up(duration: std::time::Duration) -> u64 {
    duration.as_secs() + u64::from(duration.subsec_nanos() > 0)
}

fn max_age(seconds: u64) -> HeaderValue {
    static TABLE: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    seconds_header(&TABLE, "max-age=", seconds)
}

fn age(seconds: u64) -> HeaderValue {
    static TABLE: OnceLock<Vec<HeaderValue>> = OnceLock::new();
    seconds_header(&TABLE, "", seconds)
}

/// The RFC 9211 `Cache-Status` value; `Age` and `Cache-Control` carry the times.
fn cache_status(status: CacheStatus) -> HeaderValue {
    HeaderValue::from_static(match status {
        CacheStatus::Hit => "anaplan-gateway; hit",
        CacheStatus::Stale => "anaplan-gateway; hit; detail=stale",
        CacheStatus::Miss => "anaplan-gateway; fwd=miss; stored",
        CacheStatus::Collapsed => "anaplan-gateway; fwd=miss; collapsed",
        CacheStatus::Shared => "anaplan-gateway; hit; detail=shared",
    })
}

/// Answers by how they were obtained, registered once so counting is one atomic add.
fn count_answer(status: CacheStatus) {
    static COUNTERS: OnceLock<[metrics::Counter; 5]> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        ["hit", "stale", "miss", "collapsed", "shared"].map(
            |label| metrics::counter!("anaplan_gateway_cache_answers_total", "status" => label),
        )
    });
    let index = match status {
        CacheStatus::Hit => 0,
        CacheStatus::Stale => 1,
        CacheStatus::Miss => 2,
        CacheStatus::Collapsed => 3,
        CacheStatus::Shared => 4,
    };
    counters[index].increment(1);
}

/// The cached JSON as it is, with headers telling its age at `now`, when it goes stale and its
/// `ETag`; `304 Not Modified` with the same headers when `if_none_match` names the answer.
pub fn respond(served: &Served, now: Instant, if_none_match: Option<&HeaderValue>) -> Response {
    // Its five and the request id, which goes on last: a hit on the fast path has no more.
    respond_with_room(served, now, if_none_match, 6)
}

/// [`respond`] for the router, whose answers also get their `Content-Length` there and may get
/// `Preference-Applied` or `Location`: room made for all at once, as a map that grows moves
/// every header.
pub fn respond_routed(
    served: &Served,
    now: Instant,
    if_none_match: Option<&HeaderValue>,
) -> Response {
    respond_with_room(served, now, if_none_match, 8)
}

fn respond_with_room(
    served: &Served,
    now: Instant,
    if_none_match: Option<&HeaderValue>,
    headers_room: usize,
) -> Response {
    let snapshot = &served.snapshot;
    let cache_control = match snapshot.next_poll_at {
        None => HeaderValue::from_static(TERMINAL_MAX_AGE),
        Some(due) => {
            // Rounded up so max-age never says "now" while the answer is still fresh.
            max_age(seconds_up(due.saturating_duration_since(now)))
        }
    };
    count_answer(served.status);
    let not_modified = if_none_match.is_some_and(|tags| names(tags, &snapshot.etag));
    let mut response = match not_modified {
        true => Response::new(Body::empty()),
        false => Response::new(Body::from(snapshot.body.clone())),
    };
    // One allocation for every header.
    let headers = response.headers_mut();
    headers.reserve(headers_room);
    headers.insert(header::ETAG, snapshot.etag.clone());
    let age_seconds = now.saturating_duration_since(snapshot.fetched_at).as_secs();
    headers.insert(header::AGE, age(age_seconds));
    headers.insert(header::CACHE_CONTROL, cache_control);
    headers.insert(CACHE_STATUS, cache_status(served.status));
    match not_modified {
        true => *response.status_mut() = StatusCode::NOT_MODIFIED,
        false => {
            let json = HeaderValue::from_static("application/json");
            response.headers_mut().insert(header::CONTENT_TYPE, json);
        }
    }
    response
}

/// Whether an `If-None-Match` value names `etag`: `*`, or one of its tags, compared weakly (a
/// `W/` prefix on either side is ignored, RFC 9110 section 13.1.2).
pub fn names(if_none_match: &HeaderValue, etag: &HeaderValue) -> bool {
    fn opaque(tag: &[u8]) -> &[u8] {
        tag.strip_prefix(b"W/").unwrap_or(tag)
    }
    let ours = opaque(etag.as_bytes());
    if_none_match
        .as_bytes()
        .split(|byte| *byte == b',')
        .map(|tag| tag.trim_ascii())
        .any(|tag| tag == b"*" || opaque(tag) == ours)
}
