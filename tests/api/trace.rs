//! W3C trace context: a caller's `traceparent` is kept for its request: its trace id is in the
//! request's log lines and goes on to the Anaplan calls made for it (each a span of its own); a
//! header that is not a valid one is ignored.

use reqwest::Method;

use crate::helpers::*;
use anaplan_gateway::simulator::Reply;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn traced_get(app: &TestApp, route: &str, traceparent: &str) -> reqwest::Response {
    let request = app
        .http
        .get(app.url(route))
        .header("traceparent", traceparent);
    request.send().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_anaplan_calls_made_for_a_traced_request_carry_its_trace() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.5));
    let model = serde_json::json!({"model": {"id": MODEL, "currentWorkspaceId": WORKSPACE}});
    app.anaplan
        .on(&format!("/models/{MODEL}"), Reply::ok(model));
    let route = format!("/tasks/import/{TASK}?modelId={MODEL}&objectId={IMPORT}");
    assert_eq!(traced_get(&app, &route, TRACEPARENT).await.status(), 200);
    let seen = app.anaplan.traceparents();
    // The workspace's lookup and the status: both made for this request.
    let paths: Vec<&str> = seen.iter().map(|(path, _)| path.as_str()).collect();
    assert_eq!(
        paths,
        [format!("/models/{MODEL}"), import_path(TASK)],
        "{seen:?}"
    );
    for (_, sent) in &seen {
        assert!(sent.starts_with(&format!("00-{TRACE}-")), "{sent}");
        assert!(sent.ends_with("-01"), "{sent}");
        assert!(
            !sent.contains("00f067aa0ba902b7"),
            "a span of its own: {sent}"
        );
    }
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
}

#[tokio::test(start_paused = true)]
async fn a_start_carries_the_trace_and_untraced_or_bad_ones_carry_none() {
    let app = spawn_app().await;
    let start = format!("/tasks/import?modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}");
    let request = app
        .http
        .post(app.url(&start))
        .header("traceparent", TRACEPARENT);
    assert_eq!(request.send().await.unwrap().status(), 202);
    let tasks = format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports/{IMPORT}/tasks");
    let seen = app.anaplan.traceparents();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].0, tasks);
    assert!(seen[0].1.contains(TRACE));

    app.anaplan.on(&import_path(TASK), running_at(0.5));
    let route = import_route(TASK);
    assert_eq!(app.get(&route).await.status(), 200);
    let bad = "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01";
    let other = import_route(&task_id(2));
    app.anaplan.on(&import_path(&task_id(2)), running_at(0.5));
    assert_eq!(traced_get(&app, &other, bad).await.status(), 200);
    assert_eq!(
        app.anaplan.traceparents().len(),
        1,
        "nothing more carried a trace"
    );
}

#[tokio::test]
async fn the_trace_id_is_in_the_requests_log_lines() {
    let anaplan = start_anaplan().await;
    anaplan.answer_any_task(running_at(0.5));
    let (gateway, api) = spawn_gateway_process(&anaplan).await;
    let url = format!("http://{api}{}", import_route(TASK));
    let client = reqwest::Client::new();
    let answer = client
        .get(url)
        .header("traceparent", TRACEPARENT)
        .send()
        .await;
    assert_eq!(answer.unwrap().status(), 200);
    let logs = stop_for_logs(gateway).await;
    let traced: Vec<&str> = (logs.lines()).filter(|line| line.contains(TRACE)).collect();
    assert!(
        traced.iter().any(|line| line.contains("upstream")),
        "the upstream call's log line carries the trace id: {logs}"
    );
}
