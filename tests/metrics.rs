//! `/metrics` on the admin listener: the documented families move as the gateway works.
//! Health probes and request ids live here too; that test touches none of the series asserted
//! by the metrics test, so exact values hold although the recorder is process-wide.

#[path = "api/helpers.rs"]
mod helpers;

use helpers::*;

#[tokio::test(start_paused = true)]
async fn the_metric_families_move_with_traffic() {
    let app = spawn_app().await;
    let metrics_url = format!("http://{}/metrics", app.admin_address);
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    app.anaplan.on(
        &import_path(&task_id(2)),
        Reply::Status(
            reqwest::StatusCode::TOO_MANY_REQUESTS,
            vec![("retry-after", "7".into())],
        ),
    );

    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    assert_eq!(app.get(&import_route(TASK)).await.status(), 200);
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 503);
    // While the 429's pause lasts, a call for another task never leaves: it is no upstream
    // request.
    assert_eq!(app.get(&import_route(&task_id(3))).await.status(), 503);
    let path = import_path(&task_id(3));
    assert_eq!(app.anaplan.calls(reqwest::Method::GET, &path), 0);
    assert_eq!(app.get("/tasks/import/bad?objectId=1").await.status(), 400);

    let response = app.http.get(&metrics_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = response.text().await.unwrap();
    for family in [
        "anaplan_gateway_http_requests_total",
        "anaplan_gateway_upstream_requests_total",
        "anaplan_gateway_cache_answers_total",
    ] {
        assert!(
            text.contains(&format!("# HELP {family} ")),
            "no HELP for {family}"
        );
    }

    for (prefix, expected) in expected_samples() {
        assert_eq!(sample(&text, prefix), expected, "{prefix}\n{text}");
    }
    assert!(!text.contains("token-1") && !text.contains(PASSWORD));

    // Once the pause is over, the next call out reopens the gate and the gauge says so.
    tokio::time::advance(std::time::Duration::from_secs(8)).await;
    app.anaplan.on(
        &import_path(&task_id(3)),
        Reply::ok(fixture("task_in_progress.json")),
    );
    assert_eq!(app.get(&import_route(&task_id(3))).await.status(), 200);
    let text = app.http.get(&metrics_url).send().await.unwrap();
    let text = text.text().await.unwrap();
    assert!(
        text.contains("\nanaplan_gateway_rate_limit_backoff_seconds 0\n"),
        "{text}"
    );
}

#[tokio::test]
async fn health_probes_and_request_ids() {
    let app = spawn_app().await;
    let livez = app
        .http
        .get(format!("http://{}/livez", app.admin_address))
        .send()
        .await
        .unwrap();
    assert_eq!(livez.status(), 200);
    let readyz = app
        .http
        .get(format!("http://{}/readyz", app.admin_address))
        .send()
        .await
        .unwrap();
    assert_eq!(readyz.status(), 200);

    let echoed = app
        .http
        .get(app.url("/nowhere"))
        .header("x-request-id", "caller-id-42")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "caller-id-42");
    let generated = app.get("/nowhere").await;
    assert_eq!(
        generated.headers()["x-request-id"].len(),
        36,
        "a UUID when the caller sends none"
    );

    // The `healthcheck` subcommand probes /readyz and exits 0, or 1 when nothing answers.
    let healthcheck = |admin: String| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"))
            .env_clear()
            .args(["healthcheck", "--admin-listen", &admin])
            .status()
    };
    assert!(
        healthcheck(app.admin_address.to_string())
            .await
            .unwrap()
            .success()
    );
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(
        healthcheck(closed.to_string()).await.unwrap().code(),
        Some(1)
    );
    assert_eq!(
        app.anaplan.total_calls(),
        0,
        "health never depends on Anaplan"
    );
}

/// The samples the traffic of `the_metric_families_move_with_traffic` leaves.
fn expected_samples() -> [(&'static str, f64); 15] {
    [
        // The one status Anaplan answered, by its task's kind.
        (r#"anaplan_gateway_task_statuses_total{kind="import"}"#, 1.0),
        // The tests' budget (helpers.rs), and the two status calls it let through; the third
        // met the 429's pause first, so it spent no turn and never left.
        ("anaplan_gateway_upstream_budget_per_second", 1_000_000.0),
        ("anaplan_gateway_upstream_budget_calls_total", 2.0),
        (
            r#"anaplan_gateway_upstream_requests_total{endpoint="task_status",outcome="ok"}"#,
            1.0,
        ),
        (
            r#"anaplan_gateway_upstream_requests_total{endpoint="task_status",outcome="rate_limited"}"#,
            1.0,
        ),
        (
            r#"anaplan_gateway_upstream_request_duration_seconds_count{endpoint="task_status"}"#,
            3.0,
        ),
        (r#"anaplan_gateway_cache_answers_total{status="miss"}"#, 1.0),
        (r#"anaplan_gateway_cache_answers_total{status="hit"}"#, 1.0),
        (
            r#"anaplan_gateway_token_authentications_total{outcome="ok"}"#,
            1.0,
        ),
        ("anaplan_gateway_upstream_rate_limited_total", 1.0),
        ("anaplan_gateway_rate_limit_backoff_seconds", 7.0),
        (
            r#"anaplan_gateway_http_requests_total{route="/tasks/{kind}/{taskId}",method="GET",status="200"}"#,
            2.0,
        ),
        (
            r#"anaplan_gateway_http_requests_total{route="/tasks/{kind}/{taskId}",method="GET",status="400"}"#,
            1.0,
        ),
        (
            r#"anaplan_gateway_http_requests_total{route="/tasks/{kind}/{taskId}",method="GET",status="503"}"#,
            2.0,
        ),
        (
            r#"anaplan_gateway_http_request_duration_seconds_bucket{route="/tasks/{kind}/{taskId}",le="+Inf"}"#,
            5.0,
        ),
    ]
}
