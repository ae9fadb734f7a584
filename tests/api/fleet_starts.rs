//! Starts in a fleet: an `Idempotency-Key`'s record lives in the shared Redis, so two replicas
//! given one key start one task, and a replica that stops mid-start leaves the key to another
//! replica's search of the task list. Real time, as every fleet test (see `fleet.rs`).

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use crate::fleet::{prefix, redis, replica_with};
use crate::helpers::*;
use crate::starts::keyed_import;

fn import_tasks() -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports/{IMPORT}/tasks")
}

async fn start_on(app: &TestApp, key: &str) -> (u16, Option<String>) {
    let route = format!("/tasks/import?modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}");
    let request = app
        .http
        .post(app.url(&route))
        .header("idempotency-key", key);
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["taskId"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn two_replicas_given_one_key_start_one_task() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let prefix = prefix("one-key");
    let one = replica_with(&anaplan, &redis.url, &prefix, &[]).await;
    let two = replica_with(&anaplan, &redis.url, &prefix, &[]).await;
    for round in 0..5 {
        let key = format!("fleet-{round}");
        let (first, second) = tokio::join!(start_on(&one, &key), start_on(&two, &key));
        let answers = [first, second];
        // One started it; the other replayed it, or was told it is under way.
        assert!(
            answers.iter().any(|(status, _)| *status == 202),
            "{answers:?}"
        );
        assert!(
            answers
                .iter()
                .all(|(status, _)| [202, 409].contains(status)),
            "{answers:?}"
        );
        let created = anaplan.started_tasks();
        assert_eq!(created.len(), round + 1, "one task per key");
        // Both replicas now answer the same task for the key.
        for app in [&one, &two] {
            let (status, task) = start_on(app, &key).await;
            assert_eq!(
                (status, task.as_deref()),
                (202, created.last().map(String::as_str))
            );
        }
    }
    assert_eq!(anaplan.calls(Method::POST, &import_tasks()), 5);
}

#[tokio::test]
async fn a_replica_stopped_mid_start_leaves_the_key_to_another_replicas_search() {
    let Some(redis) = redis() else { return };
    let anaplan = start_anaplan().await;
    let prefix = prefix("crash");
    let lost = Reply::Lost(Box::new(Reply::Stall));
    anaplan.script_starts(&import_tasks(), vec![lost, Reply::status(500)]);
    let one = replica_with(&anaplan, &redis.url, &prefix, &["--timeout", "2s"]).await;
    let two = replica_with(&anaplan, &redis.url, &prefix, &["--timeout", "2s"]).await;
    let service = one.service.clone();
    let stopped = tokio::spawn(async move { service.start(keyed_import("crash")).await });
    let posts = || anaplan.calls(Method::POST, &import_tasks());
    until("the start to reach Anaplan", || posts() == 1).await;
    stopped.abort();
    assert!(stopped.await.unwrap_err().is_cancelled());
    drop(one);
    // The other replica sees the key in flight until the record's lease (2 x 2 s + 1 s) ends...
    assert_eq!(start_on(&two, "crash").await.0, 409);
    tokio::time::sleep(Duration::from_millis(5_100)).await;
    // ...then finds the task in the list instead of starting another.
    let (status, task) = start_on(&two, "crash").await;
    assert_eq!(
        (status, task),
        (202, anaplan.started_tasks().first().cloned())
    );
    assert_eq!(posts(), 1, "the start was sent once in the whole fleet");
}

#[tokio::test]
async fn with_redis_gone_a_keyed_start_sends_nothing_and_a_keyless_one_still_answers() {
    let Some(mut redis) = redis() else { return };
    let Some(mut server) = redis.server.take() else {
        eprintln!(
            "skipped: stopping a server given by GATEWAY_TEST_REDIS_URL is not this test's to do"
        );
        return;
    };
    let anaplan = start_anaplan().await;
    let one = replica_with(&anaplan, &redis.url, &prefix("gone"), &[]).await;
    assert_eq!(start_on(&one, "before").await.0, 202);
    server.kill().unwrap();
    server.wait().unwrap();
    let posts = || anaplan.calls(Method::POST, &import_tasks());
    // A key that cannot be recorded fleet-wide could be started again elsewhere: refused.
    let route = format!("/tasks/import?modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}");
    let keyed = one
        .http
        .post(one.url(&route))
        .header("idempotency-key", "after");
    let keyed = keyed.send().await.unwrap();
    assert_eq!(keyed.status(), 503);
    assert_eq!(keyed.headers()["retry-after"], "1");
    let problem: Value = keyed.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:anaplan-gateway:problem:idempotency-unavailable"
    );
    assert_eq!(posts(), 1, "nothing was sent");
    // Without a key there is no record to keep: the start is made, and its answer given.
    let keyless = one.http.post(one.url(&route)).send().await.unwrap();
    assert_eq!(keyless.status(), 202);
    assert_eq!(posts(), 2);
}
