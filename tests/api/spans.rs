//! Spans exported over OTLP/HTTP: with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the gateway's binary
//! sends a span for each request (the child of the caller's `traceparent`, or a new trace's
//! root) and one for each Anaplan call made for it, whose id is the `traceparent` the call
//! carried; what is still unsent goes out as the process stops.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message;

use crate::helpers::*;
use anaplan_gateway::simulator::Reply;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLERS_SPAN: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Every export request's body, as received.
type Received = Arc<Mutex<Vec<Bytes>>>;

/// An OTLP/HTTP receiver on loopback, for as long as the test runs.
async fn otlp_receiver() -> (SocketAddr, Received) {
    let received = Received::default();
    let store = received.clone();
    let keep = move |body: Bytes| {
        store.lock().unwrap().push(body);
        async { axum::http::StatusCode::OK }
    };
    let app = axum::Router::new().route("/v1/traces", axum::routing::post(keep));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (address, received)
}

/// The service name and every span in `received`.
fn decoded(received: &Received) -> (Vec<String>, Vec<Span>) {
    let (mut services, mut spans) = (Vec::new(), Vec::new());
    for body in received.lock().unwrap().iter() {
        let export = ExportTraceServiceRequest::decode(body.as_ref()).expect("OTLP protobuf");
        for resource_spans in export.resource_spans {
            let attributes = resource_spans.resource.unwrap_or_default().attributes;
            for attribute in attributes.into_iter().filter(|a| a.key == "service.name") {
                if let Some(Value::StringValue(name)) = attribute.value.and_then(|v| v.value) {
                    services.push(name);
                }
            }
            for scope in resource_spans.scope_spans {
                spans.extend(scope.spans);
            }
        }
    }
    (services, spans)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[tokio::test]
async fn requests_and_their_anaplan_calls_are_exported_as_spans_of_the_callers_trace() {
    let (receiver, received) = otlp_receiver().await;
    let anaplan = start_anaplan().await;
    anaplan.answer_any_task(running_at(0.5));
    let endpoint = format!("http://{receiver}");
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ];
    let (gateway, api) = spawn_gateway_process_in(&anaplan, BASIC, &env).await;
    let client = reqwest::Client::new();
    let traced = format!("http://{api}{}", import_route(TASK));
    // The first asks Anaplan; the second is answered from the cache.
    for _ in 0..2 {
        let answer = client.get(&traced).header("traceparent", TRACEPARENT);
        assert_eq!(answer.send().await.unwrap().status(), 200);
    }
    let untraced = format!("http://{api}{}", import_route(&task_id(2)));
    assert_eq!(client.get(&untraced).send().await.unwrap().status(), 200);
    let logs = stop_for_logs(gateway).await;

    let (services, spans) = decoded(&received);
    assert!(
        services.iter().all(|name| name == "anaplan-gateway"),
        "{services:?}"
    );
    let of_trace = |trace: &str| -> Vec<&Span> {
        spans
            .iter()
            .filter(|span| hex(&span.trace_id) == trace)
            .collect()
    };
    let traced_spans = of_trace(TRACE);
    let servers: Vec<&&Span> = (traced_spans.iter())
        .filter(|span| span.kind == SpanKind::Server as i32)
        .collect();
    assert_eq!(servers.len(), 2, "the miss and the hit: {spans:#?}\n{logs}");
    for server in &servers {
        assert_eq!(server.name, "GET /tasks/{kind}/{taskId}");
        assert_eq!(hex(&server.parent_span_id), CALLERS_SPAN);
    }
    // The miss's call is its child, the span the call's `traceparent` named.
    let clients: Vec<&&Span> = (traced_spans.iter())
        .filter(|span| span.kind == SpanKind::Client as i32)
        .collect();
    let sent = anaplan.traceparents();
    let traced_sent: Vec<&String> = (sent.iter())
        .map(|(_, header)| header)
        .filter(|header| header.contains(TRACE))
        .collect();
    assert!(!clients.is_empty(), "{spans:#?}");
    assert_eq!(clients.len(), traced_sent.len(), "{sent:?}");
    let parents: Vec<String> = servers.iter().map(|s| hex(&s.span_id)).collect();
    for client in &clients {
        assert!(
            parents.contains(&hex(&client.parent_span_id)),
            "{client:#?}"
        );
        let header = format!("00-{TRACE}-{}-01", hex(&client.span_id));
        assert!(traced_sent.contains(&&header), "{header} in {sent:?}");
    }
    assert!(clients.iter().any(|span| span.name == "GET task_status"));

    // A request without a trace starts one of its own, which its call carries on.
    let roots: Vec<&Span> = (spans.iter())
        .filter(|span| span.kind == SpanKind::Server as i32 && span.parent_span_id.is_empty())
        .collect();
    assert_eq!(
        roots.len(),
        1,
        "only the untraced request (no probe): {spans:#?}"
    );
    let own_trace = hex(&roots[0].trace_id);
    assert_ne!(own_trace, TRACE);
    let own_calls = of_trace(&own_trace).len() - 1;
    assert!(own_calls >= 1, "{spans:#?}");
    let carried = sent
        .iter()
        .filter(|(_, header)| header.contains(&own_trace));
    assert_eq!(carried.count(), own_calls, "{sent:?}");
}

#[tokio::test]
async fn a_call_callers_share_carries_the_first_callers_trace_and_links_the_others() {
    let (receiver, received) = otlp_receiver().await;
    let anaplan = start_anaplan().await;
    let slow = Reply::After(Duration::from_millis(1500), Box::new(running_at(0.5)));
    anaplan.on(&import_path(TASK), slow);
    let endpoint = format!("http://{receiver}");
    let env = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
    let (gateway, api) = spawn_gateway_process_in(&anaplan, BASIC, &env).await;
    let url = format!("http://{api}{}", import_route(TASK));
    let (first, second) = (
        TRACEPARENT,
        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    );
    let ask = |traceparent: &'static str| {
        let request = reqwest::Client::new()
            .get(&url)
            .header("traceparent", traceparent);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    let late = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ask(second).await
    };
    let (one, two) = tokio::join!(ask(first), late);
    assert_eq!((one, two), (200, 200));
    stop_for_logs(gateway).await;

    let (_, spans) = decoded(&received);
    let calls: Vec<&Span> = (spans.iter())
        .filter(|span| span.kind == SpanKind::Client as i32)
        .collect();
    assert_eq!(calls.len(), 1, "one call for both: {spans:#?}");
    assert_eq!(hex(&calls[0].trace_id), TRACE, "the first caller's trace");
    let second_request = (spans.iter())
        .find(|span| hex(&span.trace_id) == "0af7651916cd43dd8448eb211c80319c")
        .expect("the second caller's request span");
    let links: Vec<(String, String)> = (calls[0].links.iter())
        .map(|link| (hex(&link.trace_id), hex(&link.span_id)))
        .collect();
    assert_eq!(
        links,
        [(hex(&second_request.trace_id), hex(&second_request.span_id))],
        "the call links the caller that joined it"
    );
}
