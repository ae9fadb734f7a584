//! A caller's W3C trace context (`traceparent`): kept for the request, so its log lines carry the
//! trace id and the Anaplan calls made for it carry the trace on, each as a child of the caller's
//! span. A call one caller's request starts and others share carries the first caller's trace.
//! A header that is not a valid `traceparent` is ignored, as the W3C recommendation asks.

use std::fmt;
use std::future::Future;

use futures_util::future::Either;

tokio::task_local! {
    static TRACE: TraceParent;
}

/// A valid `traceparent`: version `00`, its trace id, its parent span (the caller's, or the
/// gateway's own request span when spans are exported) and flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: [u8; 32],
    span_id: [u8; 16],
    flags: [u8; 2],
}

impl TraceParent {
    /// Reads `00-{32 hex trace id}-{16 hex parent id}-{2 hex flags}`, lower case, neither id all
    /// zeros; anything else is no trace.
    pub fn parse(header: &[u8]) -> Option<Self> {
        let [b'0', b'0', b'-', rest @ ..] = header else {
            return None;
        };
        if rest.len() != 32 + 1 + 16 + 1 + 2 || rest[32] != b'-' || rest[49] != b'-' {
            return None;
        }
        let (trace_id, parent, flags) = (&rest[..32], &rest[33..49], &rest[50..]);
        let hex = |part: &[u8]| {
            part.iter()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        };
        let zeros = |part: &[u8]| part.iter().all(|b| *b == b'0');
        if !(hex(trace_id) && hex(parent) && hex(flags)) || zeros(trace_id) || zeros(parent) {
            return None;
        }
        Some(Self {
            trace_id: trace_id.try_into().ok()?,
            span_id: parent.try_into().ok()?,
            flags: flags.try_into().ok()?,
        })
    }

    /// The header that names this span as the parent: `00-{trace id}-{span id}-{flags}`.
    pub fn header(&self) -> String {
        let hex = |part: &[u8]| std::str::from_utf8(part).unwrap_or_default().to_owned();
        let (span, flags) = (hex(&self.span_id), hex(&self.flags));
        format!("00-{}-{span}-{flags}", self.trace_id())
    }

    /// The parent span's id.
    pub fn span_id(&self) -> &str {
        std::str::from_utf8(&self.span_id).unwrap_or_default()
    }

    /// The trace flags, as a number (bit 0: sampled).
    pub fn flags(&self) -> u8 {
        let flags = std::str::from_utf8(&self.flags).unwrap_or_default();
        u8::from_str_radix(flags, 16).unwrap_or_default()
    }

    /// The trace id, as log lines carry it.
    pub fn trace_id(&self) -> &str {
        // Only ASCII hex digits are ever stored.
        std::str::from_utf8(&self.trace_id).unwrap_or_default()
    }

    /// The header for a call made for the trace: its trace id, a new span id, its flags.
    pub fn child(&self) -> String {
        let span: u64 = rand::random::<u64>().max(1);
        let flags = std::str::from_utf8(&self.flags).unwrap_or("00");
        format!("00-{}-{span:016x}-{flags}", self.trace_id())
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.trace_id())
    }
}

/// The trace of the request being served, if it came with one.
pub fn current() -> Option<TraceParent> {
    TRACE.try_with(|trace| *trace).ok()
}

/// `work` under `trace`.
pub fn within<F: Future>(trace: Option<TraceParent>, work: F) -> impl Future<Output = F::Output> {
    match trace {
        Some(trace) => Either::Left(TRACE.scope(trace, work)),
        None => Either::Right(work),
    }
}

/// `work` done now (a call that makes a future, or a poll) under `trace`.
pub fn within_now<R>(trace: Option<TraceParent>, work: impl FnOnce() -> R) -> R {
    match trace {
        Some(trace) => TRACE.sync_scope(trace, work),
        None => work(),
    }
}

/// `work` under the current trace, for a task spawned for the request.
pub fn carried<F: Future>(work: F) -> impl Future<Output = F::Output> {
    within(current(), work)
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_is_kept_and_anything_else_is_ignored() {
        let trace = TraceParent::parse(VALID.as_bytes()).unwrap();
        assert_eq!(trace.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        let child = trace.child();
        assert!(
            child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
            "{child}"
        );
        assert!(
            child.ends_with("-01") && child.len() == VALID.len(),
            "{child}"
        );
        assert_ne!(&child[36..52], "00f067aa0ba902b7", "a span of its own");
        assert_eq!(trace.header(), VALID);
        assert_eq!(trace.span_id(), "00f067aa0ba902b7");
        assert_eq!(trace.flags(), 1);
        for bad in [
            "",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn the_trace_is_carried_into_spawned_work() {
        let trace = TraceParent::parse(VALID.as_bytes());
        let seen = within(trace, async {
            tokio::spawn(carried(async { current() })).await
        })
        .await
        .unwrap();
        assert_eq!(seen, trace);
        assert_eq!(current(), None);
    }
}
