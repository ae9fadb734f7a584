//! HTTP/2 over cleartext (h2c, prior knowledge) on the API listener, beside HTTP/1.1: one
//! connection carries many requests at once, held ones included.

use futures_util::future::join_all;
use reqwest::{Method, Version};
use serde_json::Value;

use crate::helpers::*;

fn h2c() -> reqwest::Client {
    reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_client_speaking_h2c_is_answered_over_http2_and_one_connection_carries_many() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.5));
    let client = h2c();
    let url = app.url(&import_route(TASK));
    let first = client.get(&url).send().await.unwrap();
    assert_eq!(first.version(), Version::HTTP_2);
    assert_eq!(first.status(), 200);
    let tag = first.headers()["etag"].to_str().unwrap().to_owned();
    let task: Value = first.json().await.unwrap();
    assert_eq!(task["taskId"], TASK);

    // Held requests and plain ones at once, as streams of the one connection.
    let held = (0..20).map(|_| {
        let request = client.get(&url).header("if-none-match", &tag);
        request.header("prefer", "wait=10").send()
    });
    let plain = (0..20).map(|_| client.get(&url).send());
    let (held, plain) = tokio::join!(join_all(held), join_all(plain));
    assert!(
        plain
            .iter()
            .all(|answer| answer.as_ref().unwrap().status() == 200)
    );
    for answer in held {
        let answer = answer.unwrap();
        assert_eq!(answer.version(), Version::HTTP_2);
        assert_eq!(answer.status(), 304, "unchanged for the whole wait");
    }
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 3);
    // HTTP/1.1 still answers on the same listener.
    let http1 = app.get(&import_route(TASK)).await;
    assert_eq!(http1.version(), Version::HTTP_11);
}
