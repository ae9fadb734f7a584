//! Uploads: an import's file streamed through the gateway in compressed chunks, in order, then
//! completed, byte for byte (digests compared); refused before anything is made in Anaplan when
//! the file is not the model's, busy, too large or the caller may not write; never completed when
//! the body breaks off or stalls; a chunk that fails upstream tried again alone.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const FILE: &str = "113000000000";
const MIB: usize = 1024 * 1024;

fn upload_route(file: &str) -> String {
    format!("/models/{MODEL}/files/{file}?workspaceId={WORKSPACE}")
}

fn upstream(below: &str) -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/files{below}")
}

/// `size` bytes of CSV rows, each numbered, so a chunk out of place changes the digest.
fn rows(size: usize) -> Vec<u8> {
    let mut content = Vec::with_capacity(size + 64);
    let mut row = 0;
    while content.len() < size {
        content.extend_from_slice(format!("{row},Employee {row},Sales,{}\n", row % 97).as_bytes());
        row += 1;
    }
    content.truncate(size);
    content
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

async fn app_with_file(extra: &[&str]) -> TestApp {
    let app = spawn_app_with(extra).await;
    app.anaplan.list_file(FILE, "Employees.csv");
    app
}

async fn put(app: &TestApp, file: &str, body: Vec<u8>) -> reqwest::Response {
    let request = app.http.put(app.url(&upload_route(file))).body(body);
    request.send().await.unwrap()
}

async fn problem_type(response: reqwest::Response) -> String {
    let problem: Value = response.json().await.unwrap();
    problem["type"].as_str().unwrap().to_owned()
}

/// An upload whose body the test writes piece by piece (chunked), over a connection of its own.
struct RawUpload(TcpStream);

impl RawUpload {
    async fn open(app: &TestApp, file: &str) -> Self {
        let mut stream = TcpStream::connect(app.address).await.unwrap();
        let head = format!(
            "PUT {} HTTP/1.1\r\nhost: gateway\r\ntransfer-encoding: chunked\r\n\
             connection: close\r\n\r\n",
            upload_route(file)
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        Self(stream)
    }

    async fn send(&mut self, piece: &[u8]) {
        let framed = [format!("{:x}\r\n", piece.len()).as_bytes(), piece, b"\r\n"].concat();
        self.0.write_all(&framed).await.unwrap();
    }

    /// Ends the body and reads the answer: its status line and body.
    async fn finish(mut self) -> String {
        self.0.write_all(b"0\r\n\r\n").await.unwrap();
        self.answer().await
    }

    async fn answer(mut self) -> String {
        let mut answer = String::new();
        let _ = self.0.read_to_string(&mut answer).await;
        answer
    }
}

#[tokio::test(start_paused = true)]
async fn an_upload_goes_in_order_as_compressed_chunks_byte_for_byte_then_is_completed() {
    let app = app_with_file(&["--upload-chunk", "1MiB"]).await;
    let content = rows(2 * MIB + MIB / 2);
    let response = put(&app, FILE, content.clone()).await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["fileId"], FILE);
    assert_eq!(answer["chunks"], 3);
    assert_eq!(answer["bytes"], content.len());
    let uploaded = app.anaplan.uploaded(FILE).unwrap();
    assert!(uploaded.completed);
    assert_eq!(uploaded.compressed, 3, "every chunk sent as gzip");
    let sizes: Vec<usize> = uploaded.chunks.iter().map(|chunk| chunk.len()).collect();
    assert_eq!(sizes, [MIB, MIB, MIB / 2], "chunks of GATEWAY_UPLOAD_CHUNK");
    assert_eq!(sha256(&uploaded.content()), sha256(&content));
    // The file list once, the file opened once for chunks of unknown count, each chunk once,
    // and the completion with the file's id and name.
    assert_eq!(app.anaplan.calls(Method::GET, &upstream("")), 1);
    let opened = app.anaplan.posted(&upstream(&format!("/{FILE}")));
    assert_eq!(opened, [r#"{"chunkCount":-1}"#]);
    for n in 0..3 {
        let chunk = upstream(&format!("/{FILE}/chunks/{n}"));
        assert_eq!(app.anaplan.calls(Method::PUT, &chunk), 1);
    }
    let completed = app.anaplan.posted(&upstream(&format!("/{FILE}/complete")));
    let completed: Value = serde_json::from_str(&completed[0]).unwrap();
    assert_eq!(completed["id"], FILE);
    assert_eq!(completed["name"], "Employees.csv");
}

#[tokio::test(start_paused = true)]
async fn a_body_of_whole_chunks_is_that_many_chunks() {
    let app = app_with_file(&["--upload-chunk", "1MiB"]).await;
    let content = rows(2 * MIB);
    let answer: Value = put(&app, FILE, content.clone()).await.json().await.unwrap();
    assert_eq!(
        answer["chunks"], 2,
        "no empty chunk after the last whole one"
    );
    let uploaded = app.anaplan.uploaded(FILE).unwrap();
    assert_eq!(uploaded.chunks.len(), 2);
    assert_eq!(sha256(&uploaded.content()), sha256(&content));
}

#[tokio::test(start_paused = true)]
async fn an_empty_body_is_refused_before_anything_goes_upstream() {
    let app = app_with_file(&[]).await;
    let response = put(&app, FILE, Vec::new()).await;
    assert_eq!(response.status(), 400);
    let problem: Value = response.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("body is empty")
    );
    // Nor when it comes in chunks of nothing.
    let upload = RawUpload::open(&app, FILE).await;
    let answer = upload.finish().await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(app.anaplan.api_calls(), 0);
    assert!(app.anaplan.uploaded(FILE).is_none());
}

#[tokio::test(start_paused = true)]
async fn a_chunk_kept_by_anaplan_whose_answer_was_lost_is_put_again_alone() {
    let app = app_with_file(&["--upload-chunk", "1MiB"]).await;
    let first = upstream(&format!("/{FILE}/chunks/0"));
    let lost = Reply::Lost(Box::new(Reply::Reset));
    app.anaplan.script(&first, vec![lost, Reply::Own]);
    let content = rows(MIB + 10);
    assert_eq!(put(&app, FILE, content.clone()).await.status(), 200);
    assert_eq!(app.anaplan.calls(Method::PUT, &first), 2);
    let uploaded = app.anaplan.uploaded(FILE).unwrap();
    assert_eq!(uploaded.chunks.len(), 2);
    assert_eq!(sha256(&uploaded.content()), sha256(&content));
}

#[tokio::test(start_paused = true)]
async fn a_completion_whose_answer_was_lost_is_502_and_never_asked_again() {
    let app = app_with_file(&[]).await;
    let complete = upstream(&format!("/{FILE}/complete"));
    app.anaplan
        .script(&complete, vec![Reply::Lost(Box::new(Reply::status(500)))]);
    let response = put(&app, FILE, rows(100)).await;
    assert_eq!(response.status(), 502);
    assert_eq!(
        problem_type(response).await,
        "urn:anaplan-gateway:problem:upload-outcome-unknown"
    );
    assert_eq!(app.anaplan.calls(Method::POST, &complete), 1);
}

#[tokio::test(start_paused = true)]
async fn a_file_not_in_the_models_list_is_404_and_nothing_is_made_in_anaplan() {
    let app = app_with_file(&[]).await;
    let response = put(&app, "113000000099", b"a,b\n".to_vec()).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        problem_type(response).await,
        "urn:anaplan-gateway:problem:no-such-file"
    );
    // Only the list was asked for: the POST that would have made a new file was never sent.
    assert_eq!(app.anaplan.calls(Method::GET, &upstream("")), 1);
    assert_eq!(app.anaplan.api_calls(), 1, "the file list alone");
    assert!(app.anaplan.uploaded("113000000099").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_chunk_that_fails_upstream_is_tried_again_alone() {
    let app = app_with_file(&["--upload-chunk", "1MiB"]).await;
    let second = upstream(&format!("/{FILE}/chunks/1"));
    app.anaplan
        .script(&second, vec![Reply::status(502), Reply::Own]);
    let content = rows(2 * MIB + 10);
    let response = put(&app, FILE, content.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.anaplan.calls(Method::PUT, &second),
        2,
        "the failed chunk again"
    );
    let first = upstream(&format!("/{FILE}/chunks/0"));
    assert_eq!(
        app.anaplan.calls(Method::PUT, &first),
        1,
        "never the whole file"
    );
    let opened = upstream(&format!("/{FILE}"));
    assert_eq!(app.anaplan.posted(&opened).len(), 1);
    let uploaded = app.anaplan.uploaded(FILE).unwrap();
    assert_eq!(sha256(&uploaded.content()), sha256(&content));
}

#[tokio::test(start_paused = true)]
async fn a_body_that_breaks_off_is_never_completed() {
    let app = app_with_file(&["--upload-chunk", "1MiB"]).await;
    let mut upload = RawUpload::open(&app, FILE).await;
    upload.send(&rows(MIB + 100)).await;
    let first = upstream(&format!("/{FILE}/chunks/0"));
    until("the first chunk to reach Anaplan", || {
        app.anaplan.calls(Method::PUT, &first) == 1
    })
    .await;
    // The caller goes away mid-body.
    drop(upload);
    let complete = upstream(&format!("/{FILE}/complete"));
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(app.anaplan.calls(Method::POST, &complete), 0);
    assert!(!app.anaplan.uploaded(FILE).unwrap().completed);
    // The file is free again for the caller's next try.
    assert_eq!(put(&app, FILE, rows(10)).await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_stalled_writer_is_answered_400_past_the_bound_and_frees_its_place() {
    let app = app_with_file(&["--max-transfers", "1", "--timeout", "2s"]).await;
    let mut stalled = RawUpload::open(&app, FILE).await;
    stalled.send(b"id,name\n").await;
    let opened = upstream(&format!("/{FILE}"));
    until("the upload to open the file", || {
        app.anaplan.calls(Method::POST, &opened) == 1
    })
    .await;
    // It holds the one place...
    let refused = put(&app, FILE, rows(10)).await;
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    // ...until its writer has kept it waiting longer than ANAPLAN_TIMEOUT.
    let answer = stalled.answer().await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("upload-incomplete"), "{answer}");
    assert!(answer.contains("after 8 bytes"), "{answer}");
    let complete = upstream(&format!("/{FILE}/complete"));
    assert_eq!(app.anaplan.calls(Method::POST, &complete), 0);
    assert_eq!(put(&app, FILE, rows(10)).await.status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_second_upload_of_the_same_file_is_409_while_the_first_runs() {
    let app = app_with_file(&[]).await;
    app.anaplan.list_file("113000000001", "Products.csv");
    let mut first = RawUpload::open(&app, FILE).await;
    first.send(b"id,name\n").await;
    let opened = upstream(&format!("/{FILE}"));
    until("the first upload to open the file", || {
        app.anaplan.calls(Method::POST, &opened) == 1
    })
    .await;
    let busy = put(&app, FILE, rows(10)).await;
    assert_eq!(busy.status(), 409);
    assert_eq!(busy.headers()["retry-after"], "5");
    assert_eq!(
        problem_type(busy).await,
        "urn:anaplan-gateway:problem:file-busy"
    );
    // Another file is not held up.
    assert_eq!(put(&app, "113000000001", rows(10)).await.status(), 200);
    first.send(b"1,Ann\n").await;
    let answer = first.finish().await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let uploaded = app.anaplan.uploaded(FILE).unwrap();
    assert_eq!(uploaded.content(), b"id,name\n1,Ann\n");
    assert_eq!(app.anaplan.posted(&opened).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn bad_uploads_are_refused_and_nothing_goes_upstream() {
    let app = app_with_file(&["--upload-chunk", "1MiB"]).await;
    for route in [
        format!("/models/{MODEL}/files/113%01"),
        format!("/models/not-a-model/files/{FILE}"),
        format!("/models/{MODEL}/files/{FILE}?workspaceId=nope"),
    ] {
        let response = app
            .http
            .put(app.url(&route))
            .body("a")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{route}");
    }
    // Larger than 1 000 chunks, as its Content-Length says: refused before a byte is read.
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    let head = format!(
        "PUT {} HTTP/1.1\r\nhost: gateway\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        upload_route(FILE),
        1000 * MIB + 1
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("upload-too-large"), "{answer}");
    assert_eq!(app.anaplan.api_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn uploading_needs_may_write() {
    let file = crate::callers::callers_file(
        "uploads",
        &format!(
            r#"{{"callers": [
  {{"name": "reader", "keySha256": "{}", "models": ["*"], "mayStart": true}},
  {{"name": "loader", "keySha256": "{}", "models": ["*"], "mayWrite": true}}
]}}"#,
            crate::callers::sha256_hex("reader-key"),
            crate::callers::sha256_hex("loader-key")
        ),
    );
    let app = app_with_file(&["--callers-file", file.to_str().unwrap()]).await;
    let send = |key: &'static str| {
        let request = app.http.put(app.url(&upload_route(FILE))).bearer_auth(key);
        request.body("a,b\n").send()
    };
    let refused = send("reader-key").await.unwrap();
    assert_eq!(refused.status(), 403);
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:anaplan-gateway:problem:caller-not-allowed"
    );
    assert!(problem["detail"].as_str().unwrap().contains("mayWrite"));
    assert_eq!(app.anaplan.api_calls(), 0);
    assert_eq!(send("loader-key").await.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn an_upload_under_way_finishes_when_the_gateway_is_told_to_stop() {
    let mut app = app_with_file(&[]).await;
    let mut upload = RawUpload::open(&app, FILE).await;
    upload.send(b"id,name\n").await;
    let opened = upstream(&format!("/{FILE}"));
    until("the upload to open the file", || {
        app.anaplan.calls(Method::POST, &opened) == 1
    })
    .await;
    // As SIGTERM does: no new connections, while those in flight finish within the drain bound.
    app.shut_down();
    upload.send(b"1,Ann\n").await;
    let answer = upload.finish().await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let uploaded = app.anaplan.uploaded(FILE).unwrap();
    assert!(uploaded.completed);
    assert_eq!(uploaded.content(), b"id,name\n1,Ann\n");
}

/// Real time: the fleet's Redis is asked, and does not answer.
#[tokio::test]
async fn a_fleet_whose_redis_is_away_sends_nothing_of_an_upload() {
    let anaplan = start_anaplan().await;
    anaplan.list_file(FILE, "Employees.csv");
    let away = format!(
        "redis://{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
    );
    let app = crate::fleet::replica_with(&anaplan, &away, "upload-away", &[]).await;
    let response = put(&app, FILE, rows(10)).await;
    assert_eq!(response.status(), 503);
    assert_eq!(
        problem_type(response).await,
        "urn:anaplan-gateway:problem:file-hold-unavailable"
    );
    assert_eq!(
        anaplan.calls(Method::POST, &upstream(&format!("/{FILE}"))),
        0
    );
}

/// Real time: a fleet's hold lives in Redis.
#[tokio::test]
async fn a_fleet_lets_one_upload_of_a_file_run_across_its_replicas() {
    let Some(redis) = crate::fleet::redis() else {
        return;
    };
    let anaplan = start_anaplan().await;
    anaplan.list_file(FILE, "Employees.csv");
    let prefix = crate::fleet::prefix("upload-hold");
    let one = crate::fleet::replica_with(&anaplan, &redis.url, &prefix, &[]).await;
    let two = crate::fleet::replica_with(&anaplan, &redis.url, &prefix, &[]).await;
    let mut first = RawUpload::open(&one, FILE).await;
    first.send(b"id,name\n").await;
    let opened = upstream(&format!("/{FILE}"));
    until("the first upload to open the file", || {
        anaplan.calls(Method::POST, &opened) == 1
    })
    .await;
    let busy = put(&two, FILE, rows(10)).await;
    assert_eq!(busy.status(), 409, "the other replica sees the hold");
    let answer = first.finish().await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // The hold is let go as the upload ends: the other replica may write the file then.
    let mut status = 0;
    for _ in 0..100 {
        status = put(&two, FILE, rows(10)).await.status().as_u16();
        if status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 200);
}
