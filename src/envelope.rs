//! What every request passes through before anything else, on both listeners: its id (the
//! caller's `x-request-id`, or one made here), echoed on the answer; its span, which each of its
//! log lines carries; the caller's trace (and, when spans are exported, the request's own span);
//! and the one-`Host` check. One layer written out, so a cached hit is answered before any future
//! is made and the request is not moved from layer to layer (README, "Performance").

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Version, header};
use axum::response::{IntoResponse, Response};
use hyper::body::Frame;
use tokio::time::Instant;
use tower::Service;

use crate::trace::TraceParent;
use crate::{api, spans};

/// The header a request's id comes in and goes back out in.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Whether a listener's requests are exported as spans: the admin listener's probes and scrapes
/// are not.
#[derive(Clone, Copy)]
pub enum Spans {
    /// Each request's span is exported (when an endpoint is set).
    Exported,
    /// Never exported.
    NotExported,
}

/// `service` with every request's id, span, trace and Host check.
///
/// The services wrapped here (the API and the admin router) are always ready, so each request is
/// handed to a clone at once: what can be answered without waiting (a cached hit) is answered
/// before the answer's future is made, and nothing but that small future is moved about.
pub fn enveloped<S>(
    service: S,
    exported: Spans,
) -> impl Service<Request, Response = Response, Error = Infallible, Future: Send> + Clone + Send + 'static
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + Sync + 'static,
    S::Future: Send + Unpin,
{
    tower::service_fn(move |request: Request| {
        let started = tracing::enabled!(tracing::Level::DEBUG).then(Instant::now);
        let id = request_id(&request);
        let span = tracing::info_span!("request",
            method = %request.method(),
            path = request.uri().path(),
            request_id = id.to_str().unwrap_or_default(),
            // Recorded once the trace is read.
            trace_id = tracing::field::Empty);
        let (called, trace, exported) = match one_host(&request) {
            true => {
                let (trace, exported) = traced(&request, exported, &span);
                let called = span
                    .in_scope(|| crate::trace::within_now(trace, || service.clone().call(request)));
                (Some(called), trace, exported.map(Box::new))
            }
            false => (None, None, None),
        };
        let finish = Finish { id, started, span };
        Answer {
            called,
            trace,
            exported,
            finish: Some(finish),
        }
    })
}

/// A request's answer: the wrapped service's future, polled in the request's span and under its
/// trace, then finished. Written out rather than an `async` block, which would keep the service's
/// future twice over while a request is held.
struct Answer<F> {
    /// `None` when the request was refused before reaching the service.
    called: Option<F>,
    trace: Option<TraceParent>,
    /// Boxed, as it is rare (spans exported) and large, and every held request carries the room.
    exported: Option<Box<spans::OpenSpan>>,
    /// Taken when the answer is given.
    finish: Option<Finish>,
}

/// What the answer is finished with: the request's id, its span, when it started.
struct Finish {
    id: HeaderValue,
    started: Option<Instant>,
    span: tracing::Span,
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        const GIVEN: &str = "an answer is not polled once given";
        let this = self.get_mut();
        let span = &this.finish.as_ref().expect(GIVEN).span;
        let response = match &mut this.called {
            Some(called) => {
                let _entered = span.enter();
                let polled =
                    crate::trace::within_now(this.trace, || Pin::new(called).poll(context));
                let Poll::Ready(Ok(response)) = polled else {
                    return Poll::Pending;
                };
                if let Some(exported) = this.exported.take() {
                    let route = response.extensions().get::<spans::Route>();
                    let route = route.map(|route| route.0.as_str());
                    exported.end_request(route, response.status().as_u16());
                }
                response
            }
            None => {
                let why = "an HTTP/1.1 request needs exactly one Host header";
                api::ApiError::Malformed(why.into()).into_response()
            }
        };
        let finish = this.finish.take().expect(GIVEN);
        Poll::Ready(Ok(finish.answered(response)))
    }
}

/// A request whose caller went away: its work is dropped in its span and under its trace too,
/// so what that starts (an upload's release, say) still carries them.
impl<F> Drop for Answer<F> {
    fn drop(&mut self) {
        if let (Some(called), Some(finish)) = (self.called.take(), &self.finish) {
            let _entered = finish.span.enter();
            crate::trace::within_now(self.trace, || drop(called));
        }
    }
}

impl Finish {
    /// The answer with its id, logged, and a streamed body set to log under the request.
    fn answered(self, mut response: Response) -> Response {
        let Self { id, started, span } = self;
        log_answer(&response, started, &span);
        // A streamed body's later work (a dump's next chunk) logs under the request too.
        if !span.is_disabled() && response.body().size_hint().exact().is_none() {
            response = response.map(|body| Body::new(InSpan { body, span }));
        }
        response.headers_mut().entry(REQUEST_ID).or_insert(id);
        response
    }
}

/// The request's id: the caller's (copied, so a held request's id keeps no slice of the
/// connection's read buffer), or a new one.
fn request_id(request: &Request) -> HeaderValue {
    let given = request.headers().get(REQUEST_ID);
    given
        .and_then(|id| HeaderValue::from_bytes(id.as_bytes()).ok())
        .unwrap_or_else(new_request_id)
}

/// An id no other request of this process, or (but for a one in 2^60 chance) of another, has:
/// a random number drawn once per process beside a count, in a version 4 UUID's layout, as
/// `x-request-id` values usually are. Counting costs less than drawing a random number per
/// request.
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    static PROCESS: OnceLock<u64> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let process = *PROCESS.get_or_init(rand::random::<u64>);
    // Odd, so multiplying spreads consecutive counts over the whole range.
    let count = COUNT
        .fetch_add(1, Ordering::Relaxed)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let random = (u128::from(process) << 64) | u128::from(count);
    // The version (4) and the variant (binary 10) in their places.
    let bits = (random & !(0xF << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    let mut text = [b'-'; 36];
    let mut nibble = 32;
    for (at, byte) in text.iter_mut().enumerate() {
        if !matches!(at, 8 | 13 | 18 | 23) {
            nibble -= 1;
            *byte = HEX[((bits >> (nibble * 4)) & 0xF) as usize];
        }
    }
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("-"))
}

/// Whether the request may go on: an HTTP/1.1 request needs exactly one `Host` header (RFC 9112,
/// section 3.2).
fn one_host(request: &Request) -> bool {
    request.version() != Version::HTTP_11
        || request.headers().get_all(header::HOST).iter().count() == 1
}

/// The trace the request's work runs under: the caller's, or when spans are exported the
/// request's own span's (started here), whose id goes on the request's log span.
fn traced(
    request: &Request,
    exported: Spans,
    span: &tracing::Span,
) -> (Option<TraceParent>, Option<spans::OpenSpan>) {
    let mut trace = caller_trace(request);
    let own = match exported {
        Spans::Exported => spans::start_request(trace, request.method(), request.uri().path()),
        Spans::NotExported => None,
    };
    let own = own.map(|(open, parent)| {
        trace = Some(parent);
        open
    });
    if let Some(trace) = &trace {
        span.record("trace_id", tracing::field::display(trace));
    }
    (trace, own)
}

/// The W3C trace context the request came with, when it is a valid one.
fn caller_trace(request: &Request) -> Option<TraceParent> {
    let header = request.headers().get(TRACEPARENT)?;
    TraceParent::parse(header.as_bytes())
}

/// The answer's line: as an error for a server error, and at debug level (when `started` was
/// read, debug being on) with the time it took.
fn log_answer(response: &Response, started: Option<Instant>, span: &tracing::Span) {
    let status = response.status().as_u16();
    let latency = started.map(|started| started.elapsed());
    match (response.status().is_server_error(), latency) {
        (true, Some(latency)) => {
            tracing::error!(parent: span, status, ?latency, "response failed");
        }
        (true, None) => tracing::error!(parent: span, status, "response failed"),
        (false, Some(latency)) => {
            tracing::debug!(parent: span, status, ?latency, "finished processing request");
        }
        (false, None) => {}
    }
}

/// A streamed body polled inside its request's span.
struct InSpan {
    body: Body,
    span: tracing::Span,
}

impl HttpBody for InSpan {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        context: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let _entered = this.span.enter();
        let frame = Pin::new(&mut this.body).poll_frame(context);
        if let Poll::Ready(Some(Err(error))) = &frame {
            tracing::error!(%error, "response body failed");
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_request_id_is_unique_and_laid_out_as_a_version_4_uuid() {
        let (one, other) = (new_request_id(), new_request_id());
        assert_ne!(one, other);
        let text = one.to_str().unwrap();
        let groups: Vec<usize> = text.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12], "{text}");
        assert!(
            text.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(&text[14..15], "4", "version 4: {text}");
        assert!("89ab".contains(&text[19..20]), "variant 10: {text}");
    }
}
