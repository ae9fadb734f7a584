//! Guarding the tenant: `GATEWAY_ALLOWED_MODELS` limits the models the gateway asks about, and
//! a refused request sends nothing upstream, not even a workspace lookup.

use crate::helpers::*;

const OTHER_MODEL: &str = "95A40874E6B64FA3AE0743278996850F";

#[tokio::test(start_paused = true)]
async fn a_model_outside_the_allow_list_is_refused_with_no_upstream_call() {
    let allowed = format!("{WORKSPACE}/{MODEL}");
    let app = spawn_app_with(&["--allowed-models", &allowed]).await;
    let other = format!("modelId={OTHER_MODEL}&objectId={IMPORT}");
    let elsewhere = "workspaceId=9a8196b15b7dbae6015b8694411d13fe";
    let refused = [
        format!("/tasks/import/{TASK}?{other}"),
        format!("/tasks/import/{TASK}/events?{other}"),
        format!("/tasks/import/{TASK}/dump?{other}"),
        format!("/tasks/import?{other}"),
        format!("/models/{OTHER_MODEL}/status"),
        format!("/tasks/import/{TASK}?modelId={MODEL}&objectId={IMPORT}&{elsewhere}"),
    ];
    for route in &refused {
        let response = app.get(route).await;
        assert_eq!(response.status(), 403, "{route}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"],
            "urn:anaplan-gateway:problem:model-not-allowed"
        );
    }
    let cancel = app.delete(&format!("/tasks/import/{TASK}?{other}")).await;
    assert_eq!(cancel.status(), 403);
    assert_eq!(app.anaplan.total_calls(), 0, "nothing reached Anaplan");
}

#[tokio::test(start_paused = true)]
async fn an_allowed_model_is_asked_about_in_the_workspace_the_list_names() {
    let allowed = format!("{WORKSPACE}/{MODEL}");
    let app = spawn_app_with(&["--allowed-models", &allowed]).await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    // No workspaceId: the allow-list names it, so the model is not looked up.
    let route = format!("/tasks/import/{TASK}?modelId={MODEL}&objectId={IMPORT}");
    assert_eq!(app.get(&route).await.status(), 200);
    let lookups = app
        .anaplan
        .calls(reqwest::Method::GET, &format!("/models/{MODEL}"));
    assert_eq!(lookups, 0);
}

#[test]
fn a_malformed_allow_list_stops_the_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"))
        .args([
            "--allowed-models",
            "not-a-model",
            "--username",
            "u",
            "--password",
            "p",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GATEWAY_ALLOWED_MODELS"), "{stderr}");
}
