//! Spans of requests and of the Anaplan calls made for them, exported over OTLP/HTTP (protobuf)
//! when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is
//! set, with the OpenTelemetry SDK's batch exporter and its `OTEL_*` settings. Unset, nothing here
//! is made: every function first reads a static that is then never filled.
//!
//! A request's span is the child of the caller's `traceparent`, or a new trace's root, and
//! becomes the parent the request's Anaplan calls name; each call's span is the one its
//! `traceparent` header names.

use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context as _;
use axum::http::Method;
use futures_util::future::Either;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider, Span};

use crate::trace::TraceParent;

/// The variables that name where spans go.
const ENDPOINT_VARIABLES: [&str; 2] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
];

struct Export {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

static EXPORT: OnceLock<Export> = OnceLock::new();

/// Starts exporting spans when the environment names an endpoint; `Ok(false)` when it names
/// none. A value the exporter cannot use is an error naming the variable.
pub fn export_from_env() -> anyhow::Result<bool> {
    let named = |name: &&&str| std::env::var_os(name).is_some_and(|value| !value.is_empty());
    let Some(variable) = ENDPOINT_VARIABLES.iter().rev().find(named) else {
        return Ok(false);
    };
    let protocol = std::env::var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|_| std::env::var("OTEL_EXPORTER_OTLP_PROTOCOL"));
    if let Ok(protocol) = protocol.as_deref()
        && protocol != "http/protobuf"
    {
        anyhow::bail!(
            "OTEL_EXPORTER_OTLP_PROTOCOL: `{protocol}` is not exported here; spans go over \
             http/protobuf (an OTLP/HTTP endpoint, usually port 4318)"
        );
    }
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        // The error quotes the URL, which could hold credentials: it is not repeated.
        .ok()
        .with_context(|| format!("{variable}: not a URL spans can be exported to"))?;
    let mut resource = Resource::builder();
    let attributes = std::env::var("OTEL_RESOURCE_ATTRIBUTES").unwrap_or_default();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() && !attributes.contains("service.name=") {
        resource = resource.with_service_name(env!("CARGO_PKG_NAME"));
    }
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build();
    let tracer = provider.tracer(env!("CARGO_PKG_NAME"));
    let _ = EXPORT.set(Export { provider, tracer });
    Ok(true)
}

/// Sends the spans not yet exported and stops exporting; waits for the exporter, so call it
/// off the runtime's workers.
pub fn flush() {
    if let Some(export) = EXPORT.get() {
        let _ = export.provider.shutdown();
    }
}

/// Whether spans are exported.
pub fn exporting() -> bool {
    EXPORT.get().is_some()
}

/// The route template a response was answered by, which the request's span is named after;
/// put on responses only while spans are exported.
#[derive(Debug, Clone)]
pub struct Route(pub String);

/// The most callers a shared call's span links.
const LINKS: usize = 128;

/// The traces of the callers that joined a call another caller's request started: the call's
/// span carries the first caller's trace and links these.
#[derive(Clone, Default)]
pub struct Joiners(Arc<Mutex<Vec<TraceParent>>>);

tokio::task_local! {
    static JOINERS: Joiners;
}

impl Joiners {
    /// Room for the callers that will join a call, while spans are exported.
    pub fn for_a_call() -> Option<Self> {
        exporting().then(Self::default)
    }

    /// Adds the current request's trace, as a caller joins the call; the SDK keeps no more
    /// than `LINKS` links a span anyway.
    pub fn join(&self) {
        if let Some(trace) = crate::trace::current() {
            let mut traces = self.traces();
            if traces.len() < LINKS && !traces.contains(&trace) {
                traces.push(trace);
            }
        }
    }

    fn traces(&self) -> std::sync::MutexGuard<'_, Vec<TraceParent>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// `call`, whose Anaplan calls link the traces that `joiners` gathers.
pub fn linking<F: Future>(joiners: Option<Joiners>, call: F) -> impl Future<Output = F::Output> {
    match joiners {
        Some(joiners) => Either::Left(JOINERS.scope(joiners, call)),
        None => Either::Right(call),
    }
}

/// A span being recorded, ended by one of its `end_…` methods.
pub struct OpenSpan {
    span: Span,
    method: Method,
}

/// A request's span, the child of the caller's trace (or a new trace's root), and the trace its
/// work runs under; `None` when spans are not exported.
pub fn start_request(
    caller: Option<TraceParent>,
    method: &Method,
    path: &str,
) -> Option<(OpenSpan, TraceParent)> {
    let export = EXPORT.get()?;
    let parent = caller.map_or_else(Context::new, remote);
    let span = (export.tracer.span_builder(method.as_str().to_owned()))
        .with_kind(SpanKind::Server)
        .with_attributes([
            KeyValue::new("http.request.method", method.as_str().to_owned()),
            KeyValue::new("url.path", path.to_owned()),
        ])
        .start_with_context(&export.tracer, &parent);
    let trace = parent_for(span.span_context())?;
    let method = method.clone();
    Some((OpenSpan { span, method }, trace))
}

/// The span of an Anaplan call made for the current request, and the `traceparent` that names
/// it; `None` when spans are not exported or the call is made for no request.
pub fn start_call(method: &Method, endpoint: &str, url: &str) -> Option<(OpenSpan, String)> {
    let export = EXPORT.get()?;
    let parent = remote(crate::trace::current()?);
    let span = (export.tracer.span_builder(format!("{method} {endpoint}")))
        .with_kind(SpanKind::Client)
        .with_attributes([
            KeyValue::new("http.request.method", method.as_str().to_owned()),
            KeyValue::new("url.full", url.to_owned()),
            KeyValue::new("anaplan.endpoint", endpoint.to_owned()),
        ])
        .start_with_context(&export.tracer, &parent);
    let header = parent_for(span.span_context())?.header();
    let method = method.clone();
    Some((OpenSpan { span, method }, header))
}

impl OpenSpan {
    /// Ends a request's span with its route template (when routed) and status.
    pub fn end_request(mut self, route: Option<&str>, status: u16) {
        if let Some(route) = route {
            self.span.update_name(format!("{} {route}", self.method));
            self.span
                .set_attribute(KeyValue::new("http.route", route.to_owned()));
        }
        self.end_with(Some(status), 500);
    }

    /// Ends a call's span with Anaplan's status, or none when no answer came; it links the
    /// callers that joined the call so far.
    pub fn end_call(mut self, status: Option<u16>) {
        let joined = JOINERS.try_with(|joiners| joiners.traces().clone());
        for trace in joined.unwrap_or_default() {
            let context = remote(trace);
            let joiner = context.span().span_context().clone();
            self.span.add_link(joiner, Vec::new());
        }
        self.end_with(status, 400);
    }

    /// Ends the span, an error from status `failing` up or without an answer.
    fn end_with(mut self, status: Option<u16>, failing: u16) {
        match status {
            Some(status) => {
                let code = KeyValue::new("http.response.status_code", i64::from(status));
                self.span.set_attribute(code);
                if status >= failing {
                    self.span.set_status(Status::error(status.to_string()));
                }
            }
            None => self.span.set_status(Status::error("no answer")),
        }
        self.span.end();
    }
}

/// A context whose remote parent is `trace`.
fn remote(trace: TraceParent) -> Context {
    let parent = SpanContext::new(
        TraceId::from_hex(trace.trace_id()).unwrap_or(TraceId::INVALID),
        SpanId::from_hex(trace.span_id()).unwrap_or(SpanId::INVALID),
        TraceFlags::new(trace.flags()),
        true,
        TraceState::default(),
    );
    Context::new().with_remote_span_context(parent)
}

/// The trace whose parent is the span `context` describes.
fn parent_for(context: &SpanContext) -> Option<TraceParent> {
    let header = format!(
        "00-{:032x}-{:016x}-{:02x}",
        context.trace_id(),
        context.span_id(),
        context.trace_flags().to_u8()
    );
    TraceParent::parse(header.as_bytes())
}
