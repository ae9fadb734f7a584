//! Browser callers: `GATEWAY_CORS_ORIGINS` lets the pages of named origins read the API (status,
//! lists, events), preflights included; no origin is let in by default.

use reqwest::Method;

use crate::helpers::*;

const DASHBOARD: &str = "https://dash.example.com";

fn allowed(response: &reqwest::Response) -> Option<&str> {
    let header = response.headers().get("access-control-allow-origin")?;
    header.to_str().ok()
}

#[tokio::test(start_paused = true)]
async fn a_named_origin_reads_status_and_events_and_others_do_not() {
    let app = spawn_app_with(&[
        "--cors-origins",
        &format!("{DASHBOARD}, http://localhost:3000"),
    ])
    .await;
    app.anaplan.answer_any_task(running_at(0.5));
    let ask = |origin: &'static str, path: String| {
        app.http.get(app.url(&path)).header("Origin", origin).send()
    };
    let status = ask(DASHBOARD, import_route(TASK)).await.unwrap();
    assert_eq!(status.status(), 200);
    assert_eq!(allowed(&status), Some(DASHBOARD));
    let exposed = status.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(
        exposed.contains("etag") && exposed.contains("cache-status"),
        "{exposed}"
    );
    // A cached answer (the fast path) carries them too.
    let cached = ask(DASHBOARD, import_route(TASK)).await.unwrap();
    assert_eq!(allowed(&cached), Some(DASHBOARD));
    let events = format!(
        "/tasks/import/{TASK}/events?modelId={MODEL}&objectId={IMPORT}&workspaceId={WORKSPACE}"
    );
    let stream = ask("http://localhost:3000", events).await.unwrap();
    assert_eq!(allowed(&stream), Some("http://localhost:3000"));
    drop(stream);
    let other = ask("https://elsewhere.example.com", import_route(TASK))
        .await
        .unwrap();
    assert_eq!(other.status(), 200);
    assert_eq!(allowed(&other), None, "an origin not named is not let in");
}

#[tokio::test(start_paused = true)]
async fn a_preflight_is_answered_before_any_key_is_asked_for() {
    let file = crate::callers::callers_file(
        "cors",
        &format!(
            r#"{{"callers": [{{"name": "dash", "keySha256": "{}", "models": ["*"]}}]}}"#,
            crate::callers::sha256_hex("dash-key")
        ),
    );
    let app = spawn_app_with(&[
        "--cors-origins",
        DASHBOARD,
        "--callers-file",
        file.to_str().unwrap(),
    ])
    .await;
    let preflight = app
        .http
        .request(Method::OPTIONS, app.url(&import_route(TASK)))
        .header("Origin", DASHBOARD)
        .header("Access-Control-Request-Method", "GET")
        .header(
            "Access-Control-Request-Headers",
            "authorization, prefer, if-none-match",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(allowed(&preflight), Some(DASHBOARD));
    let headers = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(
        headers.contains("authorization") && headers.contains("prefer"),
        "{headers}"
    );
    assert_eq!(app.anaplan.api_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn no_origin_is_let_in_by_default() {
    let app = spawn_app().await;
    app.anaplan.answer_any_task(running_at(0.5));
    let response = app
        .http
        .get(app.url(&import_route(TASK)))
        .header("Origin", DASHBOARD)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(allowed(&response), None);
}
