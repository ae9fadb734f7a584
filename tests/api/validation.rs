//! Bad input: a clear 400 problem naming the parameter, and not one call to Anaplan.

use crate::helpers::*;
use serde_json::Value;

const BAD_CASES: &[(&str, &str)] = &[
    (
        "/tasks/import/not-hex?modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009",
        "taskId",
    ),
    (
        "/tasks/import/1B1D84DDD53847BAA621810B593C3FC?modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009",
        "taskId",
    ),
    (
        "/tasks/import/1B1D84DDD53847BAA621810B593C3FC1?objectId=112000000009",
        "modelId is required",
    ),
    (
        "/tasks/import/1B1D84DDD53847BAA621810B593C3FC1?modelId=75A40874E6B64FA3AE0743278996850F",
        "objectId (or objectName) is required",
    ),
    (
        "/tasks/import/1B1D84DDD53847BAA621810B593C3FC1?modelId=../../etc&objectId=112000000009",
        "modelId",
    ),
    (
        "/tasks/import/1B1D84DDD53847BAA621810B593C3FC1?modelId=75A40874E6B64FA3AE0743278996850F&objectId=11200000000x",
        "objectId",
    ),
    (
        "/tasks/import/1B1D84DDD53847BAA621810B593C3FC1?modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009&workspaceId=nothex",
        "workspaceId",
    ),
    (
        "/tasks/imports/1B1D84DDD53847BAA621810B593C3FC1?modelId=75A40874E6B64FA3AE0743278996850F&objectId=112000000009",
        "kind",
    ),
    (
        "/tasks/view-read/1B1D84DDD53847BAA621810B593C3FC1?modelId=75A40874E6B64FA3AE0743278996850F&objectId=%2F..%2F",
        "objectId",
    ),
    (
        "/tasks/import/%ff%fe?modelId=75A40874E6B64FA3AE0743278996850F&objectId=1",
        "",
    ),
    (
        "/tasks/import/1B1D84DDD53847BAA621810B593C3FC1?modelId=%ff&objectId=1",
        "",
    ),
];

async fn assert_bad_request(response: reqwest::Response, names: &str) {
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["status"], 400);
    assert_eq!(problem["title"], "Bad request");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains(names), "{detail:?} should name {names:?}");
}

#[tokio::test]
async fn every_bad_task_request_is_400_with_nothing_sent_upstream() {
    let app = spawn_app().await;
    for (route, names) in BAD_CASES {
        assert_bad_request(app.get(route).await, names).await;
        assert_bad_request(app.delete(route).await, names).await;
    }
    assert_eq!(app.anaplan.total_calls(), 0, "not even an authentication");
}

#[tokio::test]
async fn every_bad_model_request_is_400_with_nothing_sent_upstream() {
    let app = spawn_app().await;
    for (route, names) in [
        ("/models/not-a-model/status", "modelId"),
        (
            "/models/75A40874E6B64FA3AE0743278996850F/status?workspaceId=xyz",
            "workspaceId",
        ),
        (
            "/models/75A40874E6B64FA3AE0743278996850F0/status",
            "modelId",
        ),
    ] {
        assert_bad_request(app.get(route).await, names).await;
    }
    assert_eq!(app.anaplan.total_calls(), 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = spawn_app().await;
    let missing = app.get("/nothing/here").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let wrong_method = app
        .http
        .post(app.url(&import_route(TASK)))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(app.anaplan.total_calls(), 0);
}
