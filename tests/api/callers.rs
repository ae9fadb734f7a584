//! Callers with keys (`GATEWAY_CALLERS_FILE`): no key or an unknown one is 401, a caller without
//! the right is 403, and neither sends anything upstream; a caller's key never shows in a log, a
//! metric or a response; the file is read again when it changes.

use std::time::Duration;

use crate::helpers::*;

const OTHER_MODEL: &str = "95A40874E6B64FA3AE0743278996850F";
const ORDERS_KEY: &str = "orders-3f9c2a7e51d84b06";
const OPS_KEY: &str = "ops-b81e55d0c9a24f7a";

pub(crate) fn sha256_hex(key: &str) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// `orders` may read MODEL and not cancel; `ops` may read every model and cancel.
fn callers_json(extra: &str) -> String {
    format!(
        r#"{{"callers": [
  {{"name": "orders", "keySha256": "{}", "models": ["{MODEL}"], "mayCancel": false{extra}}},
  {{"name": "ops", "keySha256": "{}", "models": ["*"], "mayCancel": true}}
]}}"#,
        sha256_hex(ORDERS_KEY),
        sha256_hex(OPS_KEY)
    )
}

/// A callers file of its own for a test.
pub(crate) fn callers_file(test: &str, content: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gateway-callers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{test}.json"));
    std::fs::write(&path, content).unwrap();
    path
}

async fn app_with_callers(test: &str, content: &str) -> (TestApp, std::path::PathBuf) {
    let path = callers_file(test, content);
    let app = spawn_app_with(&["--callers-file", path.to_str().unwrap()]).await;
    (app, path)
}

async fn send(
    app: &TestApp,
    method: reqwest::Method,
    route: &str,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = app.http.request(method, app.url(route));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    request.send().await.unwrap()
}

async fn problem_type(response: reqwest::Response) -> String {
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem: serde_json::Value = response.json().await.unwrap();
    problem["type"].as_str().unwrap().to_owned()
}

fn routes_for(model: &str) -> Vec<String> {
    let query = format!("modelId={model}&objectId={IMPORT}&workspaceId={WORKSPACE}");
    vec![
        format!("/tasks/import/{TASK}?{query}"),
        format!("/tasks/import/{TASK}/events?{query}"),
        format!("/tasks/import/{TASK}/dump?{query}"),
        format!("/tasks/import?{query}"),
        format!("/models/{model}/status?workspaceId={WORKSPACE}"),
        // Named: a refused caller costs no list call either.
        format!(
            "/tasks/import/{TASK}?modelId={model}&objectName=Import%20Employees.csv&workspaceId={WORKSPACE}"
        ),
    ]
}

#[tokio::test(start_paused = true)]
async fn without_a_known_key_every_route_is_401_and_nothing_goes_upstream() {
    let (app, _file) = app_with_callers("unauthenticated", &callers_json("")).await;
    app.anaplan.answer_any_task(running_at(0.5));
    for route in routes_for(MODEL) {
        for key in [None, Some("not-a-key"), Some(sha256_hex(OPS_KEY).as_str())] {
            for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
                let response = send(&app, method.clone(), &route, key).await;
                assert_eq!(response.status(), 401, "{method} {route} with {key:?}");
                let challenge = response.headers()["www-authenticate"].to_str().unwrap();
                assert!(challenge.starts_with("Bearer realm=\"anaplan-gateway\""));
                assert_eq!(challenge.contains("invalid_token"), key.is_some());
                let problem = problem_type(response).await;
                assert_eq!(problem, "urn:anaplan-gateway:problem:unauthenticated");
            }
        }
    }
    // Not a bearer key: a password sent as Basic is no key at all.
    let basic = app
        .http
        .get(app.url(&routes_for(MODEL)[0]))
        .basic_auth("ops", Some(OPS_KEY));
    assert_eq!(basic.send().await.unwrap().status(), 401);
    assert_eq!(app.anaplan.total_calls(), 0, "nothing reached Anaplan");
    // The description, Swagger UI and the admin listener need no key.
    assert_eq!(app.get("/openapi.json").await.status(), 200);
    assert_eq!(app.get("/docs/").await.status(), 200);
    let livez = reqwest::get(format!("http://{}/livez", app.admin_address)).await;
    assert_eq!(livez.unwrap().status(), 200);
}

#[tokio::test(start_paused = true)]
async fn a_caller_without_the_right_is_403_and_nothing_goes_upstream() {
    let (app, _file) = app_with_callers("forbidden", &callers_json("")).await;
    app.anaplan.answer_any_task(running_at(0.5));
    for route in routes_for(OTHER_MODEL) {
        let response = send(&app, reqwest::Method::GET, &route, Some(ORDERS_KEY)).await;
        assert_eq!(response.status(), 403, "{route}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"],
            "urn:anaplan-gateway:problem:caller-not-allowed"
        );
        assert!(problem["detail"].as_str().unwrap().contains("orders"));
    }
    // Its own model, but a cancel: it may read, not cancel.
    let own = &routes_for(MODEL)[0];
    let cancel = send(&app, reqwest::Method::DELETE, own, Some(ORDERS_KEY)).await;
    assert_eq!(cancel.status(), 403);
    assert_eq!(app.anaplan.total_calls(), 0, "nothing reached Anaplan");

    // What it may do, it does; and ops may cancel.
    let read = send(&app, reqwest::Method::GET, own, Some(ORDERS_KEY)).await;
    assert_eq!(read.status(), 200);
    let cancelled = send(&app, reqwest::Method::DELETE, own, Some(OPS_KEY)).await;
    assert_eq!(cancelled.status(), 200);
    // A fresh hit is answered ahead of routing: still only for a caller that may read it.
    let hit = send(&app, reqwest::Method::GET, own, Some(ORDERS_KEY)).await;
    assert_eq!(hit.status(), 200);
    let other_task = own.replace(MODEL, OTHER_MODEL);
    let fetched = send(&app, reqwest::Method::GET, &other_task, Some(OPS_KEY)).await;
    assert_eq!(cache_status(&fetched), "anaplan-gateway; fwd=miss; stored");
    let calls = app.anaplan.api_calls();
    let refused = send(&app, reqwest::Method::GET, &other_task, Some(ORDERS_KEY)).await;
    assert_eq!(refused.status(), 403);
    let fresh = send(&app, reqwest::Method::GET, &other_task, Some(OPS_KEY)).await;
    assert_eq!(cache_status(&fresh), "anaplan-gateway; hit");
    assert_eq!(app.anaplan.api_calls(), calls);
}

#[tokio::test(start_paused = true)]
async fn a_caller_limited_to_a_workspace_is_asked_about_there_only() {
    let elsewhere = "9a8196b15b7dbae6015b8694411d13fe";
    let json = format!(
        r#"{{"callers": [{{"name": "orders", "keySha256": "{}", "models": ["{WORKSPACE}/{MODEL}"]}}]}}"#,
        sha256_hex(ORDERS_KEY)
    );
    let (app, _file) = app_with_callers("workspace", &json).await;
    app.anaplan.answer_any_task(running_at(0.5));
    // No workspace given: the caller's entry names it, so the model is not looked up.
    let route = format!("/tasks/import/{TASK}?modelId={MODEL}&objectId={IMPORT}");
    let answer = send(&app, reqwest::Method::GET, &route, Some(ORDERS_KEY)).await;
    assert_eq!(answer.status(), 200);
    let answer: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(answer["workspaceId"], WORKSPACE);
    let lookups = app
        .anaplan
        .calls(reqwest::Method::GET, &format!("/models/{MODEL}"));
    assert_eq!(lookups, 0);
    let other = format!("{route}&workspaceId={elsewhere}");
    let refused = send(&app, reqwest::Method::GET, &other, Some(ORDERS_KEY)).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(app.anaplan.api_calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn metrics_carry_the_callers_name_and_never_its_key() {
    // A name no other test uses: the metrics registry is the process's.
    let json = format!(
        r#"{{"callers": [{{"name": "metrics-probe", "keySha256": "{}", "models": ["*"]}}]}}"#,
        sha256_hex(ORDERS_KEY)
    );
    let (app, _file) = app_with_callers("metrics", &json).await;
    app.anaplan.answer_any_task(running_at(0.5));
    let route = &routes_for(MODEL)[0];
    for expected in ["fwd=miss; stored", "hit"] {
        // A miss through the router, then a hit on the fast path.
        let response = send(&app, reqwest::Method::GET, route, Some(ORDERS_KEY)).await;
        assert_eq!(response.status(), 200);
        assert!(cache_status(&response).ends_with(expected));
        let text = response.text().await.unwrap();
        assert!(!text.contains(ORDERS_KEY));
    }
    let _ = send(&app, reqwest::Method::GET, route, Some("wrong")).await;
    let metrics = reqwest::get(format!("http://{}/metrics", app.admin_address))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let served = |line: &&str| {
        line.starts_with("anaplan_gateway_http_requests_total{")
            && line.contains("caller=\"metrics-probe\"")
            && line.contains("status=\"200\"")
    };
    let counts: Vec<&str> = metrics.lines().filter(served).collect();
    // One series: the router's answer and the fast path's under the same labels.
    assert_eq!(counts.len(), 1, "{metrics}");
    assert!(counts[0].ends_with(" 2"), "{}", counts[0]);
    assert!(metrics.contains("anaplan_gateway_unauthenticated_requests_total "));
    for secret in [ORDERS_KEY, OPS_KEY, "wrong\""] {
        assert!(!metrics.contains(secret), "{secret} in the metrics");
    }
}

#[tokio::test(start_paused = true)]
async fn the_callers_file_is_read_again_when_it_changes() {
    let (app, file) = app_with_callers("reload", &callers_json("")).await;
    app.anaplan.answer_any_task(running_at(0.5));
    let route = &routes_for(MODEL)[0];
    assert_eq!(
        send(&app, reqwest::Method::GET, route, Some(OPS_KEY))
            .await
            .status(),
        200
    );
    // ops is dropped: a mounted Secret is replaced with the new file.
    let only_orders = format!(
        r#"{{"callers": [{{"name": "orders", "keySha256": "{}", "models": ["*"]}}]}}"#,
        sha256_hex(ORDERS_KEY)
    );
    std::fs::write(&file, only_orders).unwrap();
    tokio::time::advance(Duration::from_secs(6)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        send(&app, reqwest::Method::GET, route, Some(OPS_KEY))
            .await
            .status(),
        401
    );
    assert_eq!(
        send(&app, reqwest::Method::GET, route, Some(ORDERS_KEY))
            .await
            .status(),
        200
    );
    // A broken file keeps the callers in force.
    std::fs::write(&file, "{ half a file").unwrap();
    tokio::time::advance(Duration::from_secs(6)).await;
    tokio::task::yield_now().await;
    assert_eq!(
        send(&app, reqwest::Method::GET, route, Some(ORDERS_KEY))
            .await
            .status(),
        200
    );
}

#[tokio::test(start_paused = true)]
async fn one_callers_loop_over_made_up_ids_is_bounded_by_its_own_allowance() {
    let allowance = r#", "coldLookupsPerSecond": 3"#;
    let (app, _file) = app_with_callers("cold", &callers_json(allowance)).await;
    app.anaplan.answer_any_task(running_at(0.5));
    let query = format!("modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}");
    let route = |n: usize| format!("/tasks/import/{}?{query}", task_id(n));
    let mut statuses = Vec::new();
    for n in 0..10 {
        let response = send(&app, reqwest::Method::GET, &route(n), Some(ORDERS_KEY)).await;
        if response.status() == 429 {
            assert!(response.headers().contains_key("retry-after"));
        }
        statuses.push(response.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429, 429, 429, 429, 429, 429]);
    assert_eq!(
        app.anaplan.api_calls(),
        3,
        "only the allowance reached Anaplan"
    );
    // Keys it already knows cost nothing of the allowance; another caller has its own.
    assert_eq!(
        send(&app, reqwest::Method::GET, &route(0), Some(ORDERS_KEY))
            .await
            .status(),
        200
    );
    assert_eq!(
        send(&app, reqwest::Method::GET, &route(5), Some(OPS_KEY))
            .await
            .status(),
        200
    );
    // A second on, the allowance is back.
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        send(&app, reqwest::Method::GET, &route(6), Some(ORDERS_KEY))
            .await
            .status(),
        200
    );
}

#[tokio::test]
async fn a_callers_key_never_reaches_a_log() {
    let anaplan = start_anaplan().await;
    anaplan.answer_any_task(running_at(0.5));
    let file = callers_file("logs", &callers_json(""));
    let mut flags: Vec<&str> = BASIC.to_vec();
    flags.extend(["--callers-file", file.to_str().unwrap()]);
    let (gateway, api) = spawn_gateway_process_with(&anaplan, &flags).await;
    let http = reqwest::Client::new();
    let mut answers = String::new();
    for key in [ORDERS_KEY, OPS_KEY, "made-up-key-7d1e"] {
        for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
            let url = format!("http://{api}{}", routes_for(MODEL)[0]);
            let response = http
                .request(method, url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap();
            answers += &format!("{:?}", response.headers());
            answers += &response.text().await.unwrap();
        }
    }
    let logs = stop_for_logs(gateway).await;
    let cancels: Vec<&str> = (logs.lines())
        .filter(|line| line.contains("cancel asked for"))
        .collect();
    assert_eq!(cancels.len(), 1, "only ops may cancel: {logs}");
    assert!(cancels[0].contains(r#""caller":"ops""#), "{}", cancels[0]);
    for secret in [ORDERS_KEY, OPS_KEY, "made-up-key-7d1e"] {
        assert!(!logs.contains(secret), "{secret} in the logs");
        assert!(!answers.contains(secret), "{secret} in a response");
    }
    assert!(
        !logs.contains(&sha256_hex(OPS_KEY)),
        "a key's hash in the logs"
    );
}

#[test]
fn a_bad_callers_file_stops_the_start_without_quoting_it() {
    let file = callers_file(
        "bad",
        r#"{"callers": [{"name": "x", "keySha256": "secret-ish-text"}]}"#,
    );
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"))
        .args(["--callers-file", file.to_str().unwrap()])
        .args(["--username", "u", "--password", "p"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GATEWAY_CALLERS_FILE"), "{stderr}");
    assert!(!stderr.contains("secret-ish-text"), "{stderr}");
}
