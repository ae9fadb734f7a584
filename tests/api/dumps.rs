//! Failure dumps streamed through the gateway: chunks in order as one CSV body, with the
//! gateway's token, counted against the upstream limit, and a 404 problem when there is none.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const PROCESS: &str = "118000000007";
const ACTION: &str = "112000000009";

fn import_dump_path(task: &str) -> String {
    format!("{}/dump", import_path(task))
}

fn import_dump_route(task: &str) -> String {
    import_route(task).replacen('?', "/dump?", 1)
}

/// Anaplan's list of `count` chunks.
fn chunk_list(count: usize) -> Reply {
    let chunks: Vec<_> = (0..count)
        .map(|n| json!({"id": n.to_string(), "name": format!("Chunk {n}")}))
        .collect();
    Reply::ok(json!({"meta": {}, "chunks": chunks}))
}

#[tokio::test(start_paused = true)]
async fn an_import_dump_streams_its_chunks_in_order_as_one_csv() {
    let app = spawn_app().await;
    let dump = import_dump_path(TASK);
    app.anaplan.on(&format!("{dump}/chunks"), chunk_list(3));
    let rows = [
        "_Status_,Name,_Line_,_Error_1_\n",
        "E,Ann,2,bad\n",
        "E,Bob,3,bad\n",
    ];
    for (n, text) in rows.iter().enumerate() {
        let chunk = format!("{dump}/chunks/{n}");
        app.anaplan.on(&chunk, Reply::Text((*text).to_owned()));
    }
    let response = app.get(&import_dump_route(TASK)).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(TASK)
    );
    assert_eq!(response.text().await.unwrap(), rows.concat());
    // Every chunk once, with the gateway's own token.
    for n in 0..3 {
        let chunk = format!("{dump}/chunks/{n}");
        assert_eq!(app.anaplan.calls(Method::GET, &chunk), 1);
    }
    let authorizations = app.anaplan.forwarded_authorization();
    assert!(
        authorizations
            .iter()
            .all(|value| value.starts_with("AnaplanAuthToken "))
    );
}

#[tokio::test(start_paused = true)]
async fn a_process_dump_names_the_import_inside_it() {
    let app = spawn_app().await;
    let dump = format!(
        "/workspaces/{WORKSPACE}/models/{MODEL}/processes/{PROCESS}/tasks/{TASK}/dumps/{ACTION}"
    );
    app.anaplan.on(&format!("{dump}/chunks"), chunk_list(1));
    let text = "_Status_,Code\nE,42\n";
    app.anaplan
        .on(&format!("{dump}/chunks/0"), Reply::Text(text.into()));
    let route = format!(
        "/tasks/process/{TASK}/dumps/{ACTION}?modelId={MODEL}&objectId={PROCESS}&workspaceId={WORKSPACE}"
    );
    let response = app.get(&route).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), text);
}

#[tokio::test(start_paused = true)]
async fn no_dump_is_a_404_problem_that_says_why() {
    let app = spawn_app().await;
    app.anaplan.on(
        &format!("{}/chunks", import_dump_path(TASK)),
        Reply::not_found(),
    );
    let response = app.get(&import_dump_route(TASK)).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: serde_json::Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:anaplan-gateway:problem:no-dump");
    assert!(problem["detail"].as_str().unwrap().contains("48 hours"));

    // No chunks listed is no dump either; a bad action id never reaches Anaplan.
    let other = task_id(7);
    app.anaplan.on(
        &format!("{}/chunks", import_dump_path(&other)),
        chunk_list(0),
    );
    assert_eq!(app.get(&import_dump_route(&other)).await.status(), 404);
    let calls = app.anaplan.api_calls();
    let bad = format!("/tasks/process/{TASK}/dumps/x1?modelId={MODEL}&objectId={PROCESS}");
    assert_eq!(app.get(&bad).await.status(), 400);
    assert_eq!(app.anaplan.api_calls(), calls);
}

/// A dump streams in the transfers' lane (`GATEWAY_MAX_TRANSFERS`), so it never holds the
/// permit status polls need: with one of each, the polls are answered while the dump streams,
/// and no more than one of each is ever in flight.
#[tokio::test(start_paused = true)]
async fn a_streaming_chunk_holds_a_transfer_permit_and_leaves_polls_theirs() {
    let app = spawn_app_with(&["--upstream-concurrency", "1", "--max-transfers", "1"]).await;
    let dump = import_dump_path(TASK);
    app.anaplan.on(&format!("{dump}/chunks"), chunk_list(1));
    let slow = Reply::After(Duration::from_secs(2), Box::new(Reply::Text("a\n".into())));
    app.anaplan.on(&format!("{dump}/chunks/0"), slow);
    for n in 1..4 {
        let reply = Reply::ok(fixture("task_in_progress.json"));
        app.anaplan.on(&import_path(&task_id(n)), reply);
    }
    let routes: Vec<String> = (1..4).map(|n| import_route(&task_id(n))).collect();
    let statuses = routes.iter().map(|route| app.get(route));
    let dump_route = import_dump_route(TASK);
    let (dumped, statuses) = tokio::join!(
        app.get(&dump_route),
        futures_util::future::join_all(statuses)
    );
    assert_eq!(dumped.status(), 200);
    assert!(statuses.iter().all(|response| response.status() == 200));
    let dumped = app
        .anaplan
        .answered_at(&format!("{dump}/chunks/0"))
        .unwrap();
    for n in 1..4 {
        let polled = app.anaplan.answered_at(&import_path(&task_id(n)));
        assert!(
            polled.unwrap() < dumped,
            "poll {n} answered while the dump streamed"
        );
    }
    assert_eq!(app.anaplan.most_in_flight(), 2);
}

#[tokio::test(start_paused = true)]
async fn a_reader_that_stalls_loses_the_dump_and_its_upstream_permit() {
    let app = spawn_app_with(&["--upstream-concurrency", "1", "--timeout", "10s"]).await;
    let dump = import_dump_path(TASK);
    app.anaplan.on(&format!("{dump}/chunks"), chunk_list(1));
    // Far more than the sockets between them hold: the gateway must wait for its reader.
    let big = "E,a row that was rejected,1\n".repeat(2_000_000);
    app.anaplan
        .on(&format!("{dump}/chunks/0"), Reply::Text(big));
    let stalled = app.get(&import_dump_route(TASK)).await;
    assert_eq!(stalled.status(), 200);
    // The reader never reads. Past the deadline the gateway lets go, and the one permit is free
    // for a status call.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let reply = Reply::ok(fixture("task_in_progress.json"));
    app.anaplan.on(&import_path(&task_id(1)), reply);
    assert_eq!(app.get(&import_route(&task_id(1))).await.status(), 200);
    drop(stalled);
}
