//! Every task kind and state, and model status, through the real app against the simulated Anaplan.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{Value, json};

/// The upstream path Anaplan files a task of `kind` under.
fn upstream_path(kind: &str, object: &str, task: &str) -> String {
    let (collection, tasks) = match kind {
        "import" => ("imports", "tasks"),
        "export" => ("exports", "tasks"),
        "action" => ("actions", "tasks"),
        "process" => ("processes", "tasks"),
        "view-read" => ("views", "readRequests"),
        "list-read" => ("lists", "readRequests"),
        other => panic!("no kind {other}"),
    };
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/{collection}/{object}/{tasks}/{task}")
}

async fn ask(app: &TestApp, kind: &str, object: &str, task: &str, fixture_name: &str) -> Value {
    app.anaplan.on(
        &upstream_path(kind, object, task),
        Reply::ok(fixture(fixture_name)),
    );
    let route =
        format!("/tasks/{kind}/{task}?modelId={MODEL}&objectId={object}&workspaceId={WORKSPACE}");
    let response = app.get(&route).await;
    assert_eq!(response.status(), 200, "{kind} {fixture_name}");
    assert_eq!(response.headers()["content-type"], "application/json");
    response.json().await.unwrap()
}

#[tokio::test]
async fn every_kind_and_every_state_is_normalised() {
    let app = spawn_app().await;
    let cases = [
        ("import", "task_not_started.json", "queued", false),
        ("import", "task_in_progress.json", "running", false),
        ("import", "import_complete.json", "succeeded", true),
        ("import", "import_failed.json", "failed", true),
        ("export", "task_cancelling.json", "cancelling", false),
        ("export", "export_complete.json", "succeeded", true),
        ("action", "action_complete.json", "succeeded", true),
        ("action", "task_cancelled.json", "cancelled", true),
        ("process", "process_complete.json", "succeeded", true),
        ("process", "task_unknown_state.json", "unknown", false),
        ("view-read", "view_read_in_progress.json", "running", false),
        ("view-read", "view_read_complete.json", "succeeded", true),
        ("list-read", "list_read_failed.json", "failed", true),
        ("list-read", "list_read_cancelled.json", "cancelled", true),
    ];
    for (n, (kind, fixture_name, state, terminal)) in cases.into_iter().enumerate() {
        let task = task_id(n + 1);
        let body = ask(&app, kind, "101000000001", &task, fixture_name).await;
        assert_eq!(body["kind"], kind);
        assert_eq!(body["state"], state, "{kind} {fixture_name}");
        assert_eq!(body["terminal"], terminal, "{kind} {fixture_name}");
        assert_eq!(body["taskId"], task.as_str());
        assert_eq!(body["workspaceId"], WORKSPACE);
        assert_eq!(body["modelId"], MODEL);
        assert_eq!(body["objectId"], "101000000001");
        assert!(body["fetchedAt"].as_str().unwrap().ends_with('Z'));
        assert_eq!(
            body["nextPollAt"].is_null(),
            terminal,
            "finished tasks are not polled again"
        );
    }
}

#[tokio::test]
async fn a_completed_import_matches_the_contract_example() {
    let app = spawn_app().await;
    let body = ask(&app, "import", IMPORT, TASK, "import_complete.json").await;
    assert_eq!(body["successful"], true);
    assert_eq!(body["progress"], 1.0);
    assert_eq!(body["currentStep"], "Complete.");
    assert_eq!(body["upstreamState"], "COMPLETE");
    assert_eq!(body["createdAt"], "2019-10-16T20:39:07.545Z");
    assert_eq!(body["availablePages"], Value::Null);
    let result = &body["result"];
    assert_eq!(result["objectId"], IMPORT);
    assert_eq!(result["failureDumpAvailable"], false);
    assert_eq!(result["nestedResults"], json!([]));
    let detail = &result["details"][0];
    assert_eq!(detail["type"], "hierarchyRowsProcessed");
    assert_eq!(
        detail["message"],
        "Employees: 90 (0/90) rows successful, 5 ignored "
    );
    assert_eq!(detail["occurrences"], 0);
    assert_eq!(detail["values"]["hierarchyName"], "Employees");
    assert_eq!(detail["values"]["successRowCount"], 90);
    assert_eq!(detail["values"]["ignoredCount"], 5);
}

#[tokio::test]
async fn warnings_succeed_failures_fail_and_both_say_whether_a_dump_exists() {
    let app = spawn_app().await;
    let warned = ask(&app, "import", IMPORT, &task_id(1), "import_warnings.json").await;
    assert_eq!(
        (warned["state"].as_str(), warned["successful"].as_bool()),
        (Some("succeeded"), Some(true))
    );
    assert_eq!(warned["result"]["failureDumpAvailable"], true);
    assert_eq!(
        warned["result"]["details"][0]["values"]["warningsRowCount"],
        2
    );

    let failed = ask(&app, "import", IMPORT, &task_id(2), "import_failed.json").await;
    assert_eq!(
        (failed["state"].as_str(), failed["successful"].as_bool()),
        (Some("failed"), Some(false))
    );
    assert_eq!(failed["currentStep"], "Failed.");
    assert_eq!(failed["result"]["details"][0]["values"]["failedCount"], 90);
}

#[tokio::test]
async fn a_process_answers_with_its_nested_results() {
    let app = spawn_app().await;
    let body = ask(
        &app,
        "process",
        "118000000007",
        TASK,
        "process_complete.json",
    )
    .await;
    let nested = body["result"]["nestedResults"].as_array().unwrap();
    assert_eq!(nested.len(), 3);
    assert_eq!(nested[0]["objectId"], "112000000009");
    assert_eq!(nested[0]["details"][0]["values"]["successRowCount"], 90);
    assert_eq!(
        nested[1]["details"],
        json!([]),
        "a nested result without details"
    );
    assert_eq!(nested[1]["failureDumpAvailable"], true);
    assert_eq!(
        nested[2]["objectId"], "116000000002",
        "a numeric id stays a string"
    );
}

#[tokio::test]
async fn read_requests_report_their_pages() {
    let app = spawn_app().await;
    let running = ask(
        &app,
        "view-read",
        "101000000014",
        &task_id(1),
        "view_read_in_progress.json",
    )
    .await;
    assert_eq!(running["availablePages"], 50);
    assert_eq!(
        running["successful"],
        Value::Null,
        "not known until complete"
    );
    assert_eq!(running["result"], Value::Null);
    let done = ask(
        &app,
        "view-read",
        "101000000014",
        &task_id(2),
        "view_read_complete.json",
    )
    .await;
    assert_eq!(done["availablePages"], 100);
    assert_eq!(done["successful"], true);
}

#[tokio::test]
async fn the_workspace_is_found_from_the_model_once_and_kept() {
    let app = spawn_app().await;
    app.anaplan.on(
        &format!("/models/{MODEL}"),
        Reply::ok(fixture("model.json")),
    );
    for n in 1..=3 {
        let task = task_id(n);
        app.anaplan.on(
            &import_path(&task),
            Reply::ok(fixture("task_in_progress.json")),
        );
        let response = app
            .get(&format!(
                "/tasks/import/{task}?modelId={MODEL}&objectId={IMPORT}"
            ))
            .await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["workspaceId"], WORKSPACE);
    }
    assert_eq!(
        app.anaplan.calls(Method::GET, &format!("/models/{MODEL}")),
        1
    );
}

#[tokio::test]
async fn configured_defaults_stand_in_for_model_and_workspace() {
    let app = spawn_app_with(&["--model-id", MODEL, "--workspace-id", WORKSPACE]).await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    let response = app
        .get(&format!("/tasks/import/{TASK}?objectId={IMPORT}"))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);
    assert_eq!(
        app.anaplan.calls(Method::GET, &format!("/models/{MODEL}")),
        0
    );
}

#[tokio::test]
async fn model_status_accepts_both_shapes() {
    let app = spawn_app().await;
    let status_path = format!("/workspaces/{WORKSPACE}/models/{MODEL}/status");
    let route = format!("/models/{MODEL}/status?workspaceId={WORKSPACE}");

    app.anaplan
        .on(&status_path, Reply::ok(fixture("model_status_export.json")));
    let busy: Value = app.get(&route).await.json().await.unwrap();
    assert_eq!(busy["state"], "processing");
    assert_eq!(busy["busy"], true);
    assert_eq!(busy["modelId"], MODEL);
    assert_eq!(busy["workspaceId"], WORKSPACE);
    assert_eq!(busy["activity"]["type"], "export");
    assert_eq!(
        busy["activity"]["taskId"],
        "6EB7F52C07CA4E86909A213C608765A1-11"
    );
    assert_eq!(
        busy["activity"]["startedBy"],
        json!({"name": "Jesse Smith", "email": "jesse.smith@yourcompany.com"})
    );
    assert_eq!(busy["activity"]["startedAt"], "11:23 (UTC)");

    // The same model again within the interval is answered from the cache; another model
    // with the bare shape is fetched.
    let other = "0B1C2D3E4F5061728394A5B6C7D8E9F0";
    app.anaplan.on(
        &format!("/workspaces/{WORKSPACE}/models/{other}/status"),
        Reply::ok(fixture("model_status_import_bare.json")),
    );
    let bare: Value = app
        .get(&format!("/models/{other}/status?workspaceId={WORKSPACE}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bare["state"], "processing");
    assert_eq!(bare["activity"]["type"], "import");
    assert_eq!(bare["progress"], 0.0);
}

#[tokio::test]
async fn an_idle_model_has_no_activity_and_no_progress() {
    let app = spawn_app().await;
    app.anaplan.on(
        &format!("/workspaces/{WORKSPACE}/models/{MODEL}/status"),
        Reply::ok(fixture("model_status_open.json")),
    );
    let idle: Value = app
        .get(&format!("/models/{MODEL}/status?workspaceId={WORKSPACE}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(idle["state"], "open");
    assert_eq!(idle["busy"], false);
    assert_eq!(idle["activity"], Value::Null);
    assert_eq!(idle["progress"], Value::Null);
}

#[tokio::test]
async fn anaplan_errors_map_to_the_contract_statuses() {
    let app = spawn_app().await;
    for (n, (upstream, expected)) in [
        (404, 404),
        (409, 409),
        (423, 409),
        (403, 403),
        (500, 502),
        (400, 502),
    ]
    .into_iter()
    .enumerate()
    {
        let task = task_id(100 + n);
        app.anaplan.on(&import_path(&task), Reply::status(upstream));
        let response = app.get(&import_route(&task)).await;
        assert_eq!(response.status(), expected, "upstream {upstream}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], expected);
        assert!(
            problem["type"]
                .as_str()
                .unwrap()
                .starts_with("urn:anaplan-gateway:problem:")
        );
        assert!(!problem["title"].as_str().unwrap().is_empty());
        assert!(!problem["detail"].as_str().unwrap().is_empty());
    }
}

#[tokio::test]
async fn unreadable_answers_are_502() {
    let app = spawn_app().await;
    app.anaplan
        .on(&import_path(TASK), Reply::ok(json!({"unexpected": true})));
    let response = app.get(&import_route(TASK)).await;
    assert_eq!(response.status(), 502);
}

#[tokio::test]
async fn the_callers_authorization_is_never_forwarded() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    let response = app
        .http
        .get(app.url(&import_route(TASK)))
        .header("authorization", "Bearer callers-own-secret")
        .header("cookie", "session=callers-cookie")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let forwarded = app.anaplan.forwarded_authorization();
    assert!(!forwarded.is_empty());
    assert!(
        forwarded
            .iter()
            .all(|value| value == "AnaplanAuthToken token-1"),
        "{forwarded:?}"
    );
    let body = response.text().await.unwrap();
    assert!(
        !body.contains("token-1"),
        "the token never reaches a caller"
    );
}

#[tokio::test]
async fn a_model_that_cannot_be_looked_up_is_not_asked_about_again_at_once() {
    let app = spawn_app().await;
    let unknown = "0123456789ABCDEF0123456789ABCDEF";
    for _ in 0..5 {
        let response = app
            .get(&format!(
                "/tasks/import/{TASK}?modelId={unknown}&objectId={IMPORT}"
            ))
            .await;
        assert_eq!(response.status(), 404);
    }
    assert_eq!(
        app.anaplan
            .calls(Method::GET, &format!("/models/{unknown}")),
        1
    );
}

#[tokio::test]
async fn the_default_workspace_applies_to_the_default_model_only() {
    let app = spawn_app_with(&["--model-id", MODEL, "--workspace-id", WORKSPACE]).await;
    let other = "0B1C2D3E4F5061728394A5B6C7D8E9F0";
    app.anaplan.on(
        &format!("/models/{other}"),
        Reply::ok(fixture("model.json")),
    );
    let path = format!("/workspaces/{WORKSPACE}/models/{other}/imports/{IMPORT}/tasks/{TASK}");
    app.anaplan
        .on(&path, Reply::ok(fixture("task_in_progress.json")));
    let response = app
        .get(&format!(
            "/tasks/import/{TASK}?modelId={other}&objectId={IMPORT}"
        ))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        app.anaplan.calls(Method::GET, &format!("/models/{other}")),
        1,
        "looked up, not assumed"
    );
}

#[tokio::test(start_paused = true)]
async fn a_404_names_what_anaplan_did_not_find() {
    let app = spawn_app().await;
    let lower = MODEL.to_ascii_lowercase();
    // The task, in a model asked for in lower case: the detail shows the path as it was asked.
    let route =
        format!("/tasks/import/{TASK}?modelId={lower}&objectId={IMPORT}&workspaceId={WORKSPACE}");
    let response = app.get(&route).await;
    assert_eq!(response.status(), 404);
    let problem: serde_json::Value = response.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("/models/{lower}/imports/{IMPORT}/tasks/{TASK}")),
        "{detail}"
    );
    // Without a workspace, the model itself is looked up: the detail names the model.
    let route = format!("/tasks/import/{TASK}?modelId={lower}&objectId={IMPORT}");
    let problem: serde_json::Value = app.get(&route).await.json().await.unwrap();
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!("no /2/0/models/{lower},")),
        "{detail}"
    );
}
