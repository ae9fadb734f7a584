//! Downloads: an export's file and a large read's pages, streamed through the gateway with its
//! token, byte for byte (digests compared); refused before the task has something to give, and
//! bounded by `GATEWAY_MAX_TRANSFERS`.

use anaplan_gateway::simulator::FileContent;
use anaplan_gateway::simulator::files::{generated_chunk, page};
use bytes::Bytes;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::*;

const EXPORT: &str = "116000000002";
const EXPORT_TASK: &str = "BFEC582EBD4146068FE4061831C8F0F0";
const VIEW: &str = "101000000014";
const READ: &str = "0A06B0739F0E47BB92E2326C603D86EC";

fn export_status_path() -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/exports/{EXPORT}/tasks/{EXPORT_TASK}")
}

fn export_file_route() -> String {
    format!(
        "/tasks/export/{EXPORT_TASK}/file?modelId={MODEL}&objectId={EXPORT}&workspaceId={WORKSPACE}"
    )
}

fn read_status_path() -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/views/{VIEW}/readRequests/{READ}")
}

fn read_route(below: &str) -> String {
    format!(
        "/tasks/view-read/{READ}/{below}?modelId={MODEL}&objectId={VIEW}&workspaceId={WORKSPACE}"
    )
}

/// The export, finished as `successful` says.
fn export_finished(app: &TestApp, successful: bool) {
    let mut body = fixture("export_complete.json");
    body["task"]["result"]["successful"] = json!(successful);
    app.anaplan.on(&export_status_path(), Reply::ok(body));
}

/// The view read in `state` with `pages` available.
fn read_at(app: &TestApp, state: &str, pages: u64) {
    let mut body = fixture("view_read_complete.json");
    body["viewReadRequest"]["requestState"] = json!(state);
    body["viewReadRequest"]["availablePages"] = json!(pages);
    app.anaplan.on(&read_status_path(), Reply::ok(body));
}

async fn problem_type(response: reqwest::Response) -> String {
    let problem: Value = response.json().await.unwrap();
    problem["type"].as_str().unwrap().to_owned()
}

#[tokio::test(start_paused = true)]
async fn an_export_file_streams_byte_for_byte_chunk_after_chunk() {
    let app = spawn_app().await;
    export_finished(&app, true);
    let chunks: Vec<Bytes> = (0..12)
        .map(|n| generated_chunk(EXPORT, n, 65_536))
        .collect();
    let content = FileContent::Generated {
        chunks: 12,
        chunk_size: 65_536,
    };
    app.anaplan.put_file(EXPORT, content);
    let response = app.get(&export_file_route()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "application/octet-stream"
    );
    let body = response.bytes().await.unwrap();
    let expected: Vec<u8> = chunks.concat();
    assert_eq!(body.len(), expected.len());
    assert_eq!(sha256(&body), sha256(&expected));
    // The status, the chunk list, and each chunk once.
    let files = format!("/workspaces/{WORKSPACE}/models/{MODEL}/files/{EXPORT}/chunks");
    assert_eq!(app.anaplan.calls(Method::GET, &files), 1);
    for n in 0..12 {
        assert_eq!(app.anaplan.calls(Method::GET, &format!("{files}/{n}")), 1);
    }
    assert_eq!(app.anaplan.api_calls(), 1 + 1 + 12);
}

#[tokio::test(start_paused = true)]
async fn an_export_file_before_success_is_409_and_none_at_all_is_404() {
    let app = spawn_app().await;
    app.anaplan.on(&export_status_path(), running_at(0.4));
    let running = app.get(&export_file_route()).await;
    assert_eq!(running.status(), 409);
    let running: Value = running.json().await.unwrap();
    assert_eq!(
        running["type"],
        "urn:anaplan-gateway:problem:task-not-finished"
    );
    assert!(running["detail"].as_str().unwrap().contains("running"));

    let app = spawn_app().await;
    export_finished(&app, false);
    assert_eq!(app.get(&export_file_route()).await.status(), 409);
    assert_eq!(app.anaplan.api_calls(), 1, "only the status was asked for");

    // Succeeded, but Anaplan keeps no file (gone after 48 hours, or never made).
    let app = spawn_app().await;
    export_finished(&app, true);
    let none = app.get(&export_file_route()).await;
    assert_eq!(none.status(), 404);
    let none: Value = none.json().await.unwrap();
    assert_eq!(none["type"], "urn:anaplan-gateway:problem:no-file");
    assert!(none["detail"].as_str().unwrap().contains("48 hours"));
    // A file of no chunks is no file either.
    app.anaplan
        .put_file(EXPORT, FileContent::Stored(Vec::new()));
    let empty = app.get(&export_file_route()).await;
    assert_eq!(
        problem_type(empty).await,
        "urn:anaplan-gateway:problem:no-file"
    );
}

#[tokio::test(start_paused = true)]
async fn a_reads_pages_are_given_as_they_become_available() {
    let app = spawn_app().await;
    read_at(&app, "IN_PROGRESS", 2);
    for n in 0..2 {
        let response = app.get(&read_route(&format!("pages/{n}"))).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/csv; charset=utf-8"
        );
        assert_eq!(response.text().await.unwrap(), page(READ, n));
    }
    let later = app.get(&read_route("pages/2")).await;
    assert_eq!(later.status(), 404);
    let later: Value = later.json().await.unwrap();
    assert_eq!(later["type"], "urn:anaplan-gateway:problem:no-page");
    assert!(later["detail"].as_str().unwrap().contains("2 pages"));
    // The whole read is given once it has succeeded.
    assert_eq!(app.get(&read_route("data")).await.status(), 409);
    assert_eq!(
        app.anaplan.calls(Method::GET, &read_status_path()),
        1,
        "every refusal came from the cached status"
    );
}

#[tokio::test(start_paused = true)]
async fn a_succeeded_reads_data_is_every_page_in_order() {
    let app = spawn_app().await;
    read_at(&app, "COMPLETE", 5);
    let response = app.get(&read_route("data")).await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.unwrap();
    let expected: String = (0..5).map(|n| page(READ, n)).collect();
    assert_eq!(body, expected);
    let pages = format!("{}/pages", read_status_path());
    for n in 0..5 {
        assert_eq!(app.anaplan.calls(Method::GET, &format!("{pages}/{n}")), 1);
    }
}

#[tokio::test(start_paused = true)]
async fn bad_download_requests_are_400_and_nothing_goes_upstream() {
    let app = spawn_app().await;
    let query = format!("modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}");
    for route in [
        format!("/tasks/import/{TASK}/pages/0?{query}"),
        format!("/tasks/import/{TASK}/data?{query}"),
        format!("/tasks/view-read/{READ}/pages/x1?{query}"),
        format!("/tasks/view-read/{READ}/pages/1234567890?{query}"),
        format!("/tasks/view-read/{READ}/pages/-1?{query}"),
        format!("/tasks/export/{TASK}/file?modelId={MODEL}"),
    ] {
        let response = app.get(&route).await;
        assert_eq!(response.status(), 400, "{route}");
    }
    assert_eq!(app.anaplan.api_calls(), 0);
}

#[tokio::test]
async fn a_transfer_past_the_bound_is_503_with_retry_after() {
    let app = spawn_app_with(&["--max-transfers", "1"]).await;
    export_finished(&app, true);
    app.anaplan
        .put_file(EXPORT, FileContent::Stored(vec![Bytes::from("a,b\n")]));
    let first_chunk = format!("/workspaces/{WORKSPACE}/models/{MODEL}/files/{EXPORT}/chunks/0");
    app.anaplan.on(&first_chunk, Reply::Stall);
    let held = tokio::spawn(app.http.get(app.url(&export_file_route())).send());
    until("the first transfer to reach its chunk", || {
        app.anaplan.calls(Method::GET, &first_chunk) == 1
    })
    .await;
    let refused = app.get(&read_route("pages/0")).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_eq!(
        problem_type(refused).await,
        "urn:anaplan-gateway:problem:too-many-transfers"
    );
    // A failure dump is a transfer too.
    let dump = format!(
        "/tasks/import/{}/dump?modelId={MODEL}&objectId={IMPORT}",
        task_id(1)
    );
    assert_eq!(app.get(&dump).await.status(), 503);
    held.abort();
}

#[tokio::test(start_paused = true)]
async fn a_finished_transfer_gives_its_place_back() {
    let app = spawn_app_with(&["--max-transfers", "1"]).await;
    read_at(&app, "COMPLETE", 2);
    for _ in 0..3 {
        let response = app.get(&read_route("data")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.text().await.unwrap(),
            page(READ, 0) + &page(READ, 1)
        );
    }
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// Real time: the reader's stall is measured against the gateway's real bound.
#[tokio::test]
async fn a_reader_that_stalls_past_the_bound_loses_the_rest_and_frees_its_place() {
    let app = spawn_app_with(&["--max-transfers", "1", "--timeout", "2s"]).await;
    export_finished(&app, true);
    read_at(&app, "COMPLETE", 1);
    // More than the loopback's buffers hold, so the gateway waits on the reader.
    let content = FileContent::Generated {
        chunks: 8,
        chunk_size: 4 * 1024 * 1024,
    };
    app.anaplan.put_file(EXPORT, content);
    let mut stalled = app.get(&export_file_route()).await;
    assert_eq!(stalled.status(), 200);
    assert!(stalled.chunk().await.unwrap().is_some());
    // The stalled transfer holds the one place...
    assert_eq!(app.get(&read_route("pages/0")).await.status(), 503);
    // ...until it has waited on its reader longer than ANAPLAN_TIMEOUT: then its body is cut off.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(app.get(&read_route("pages/0")).await.status(), 200);
    let (mut rest, mut broken) = (0, false);
    loop {
        match stalled.chunk().await {
            Ok(Some(piece)) => rest += piece.len(),
            Ok(None) => break,
            Err(_) => {
                broken = true;
                break;
            }
        }
    }
    assert!(rest < 8 * 4 * 1024 * 1024, "the stalled body was cut short");
    assert!(
        broken,
        "a cut body ends in an error, never as if it were whole"
    );
}

#[tokio::test(start_paused = true)]
async fn a_download_under_way_finishes_when_the_gateway_is_told_to_stop() {
    let mut app = spawn_app().await;
    export_finished(&app, true);
    let chunks = vec![Bytes::from("id,name\n"), Bytes::from("1,Ann\n")];
    app.anaplan.put_file(EXPORT, FileContent::Stored(chunks));
    // The second chunk comes late, so the body is still streaming when the stop comes.
    let second = format!("/workspaces/{WORKSPACE}/models/{MODEL}/files/{EXPORT}/chunks/1");
    let late = Reply::After(
        std::time::Duration::from_secs(5),
        Box::new(Reply::Bytes(Bytes::from("1,Ann\n"))),
    );
    app.anaplan.on(&second, late);
    let mut response = app.get(&export_file_route()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.chunk().await.unwrap().unwrap(), "id,name\n");
    // As SIGTERM does: the transfer in flight finishes within the drain bound.
    app.shut_down();
    let mut rest = Vec::new();
    while let Some(piece) = response.chunk().await.unwrap() {
        rest.extend_from_slice(&piece);
    }
    assert_eq!(rest, b"1,Ann\n");
}
