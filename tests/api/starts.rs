//! Starts: `POST /tasks/{kind}` starts a task once and answers 202 with where to watch it; its
//! first status request costs nothing; a start is never sent twice (a lost answer is found in the
//! task list, Anaplan's refusals are passed on, not retried); an `Idempotency-Key` replays.
//! Counts are of upstream POSTs: each is a task Anaplan would run.

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use anaplan_gateway::ids::{ModelId, ObjectId, TaskKind, WorkspaceId};
use anaplan_gateway::service::starts::StartRequest;
use anaplan_gateway::starts::{IdempotencyKey, StartOptions};

use crate::callers::{callers_file, sha256_hex};
use crate::helpers::*;

const EXPORT: &str = "116000000002";

/// The upstream path where IMPORT's tasks are started and listed.
fn import_tasks() -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports/{IMPORT}/tasks")
}

fn start_route(kind: &str, object: &str) -> String {
    format!("/tasks/{kind}?modelId={MODEL}&objectId={object}&workspaceId={WORKSPACE}")
}

/// Starts an import with `key`, if any, and `body`.
async fn start(app: &TestApp, key: Option<&str>, body: &str) -> reqwest::Response {
    let mut request = app.http.post(app.url(&start_route("import", IMPORT)));
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.body(body.to_owned()).send().await.unwrap()
}

fn posts(app: &TestApp) -> usize {
    app.anaplan.calls(Method::POST, &import_tasks())
}

async fn problem(response: reqwest::Response) -> Value {
    let content_type = response.headers()["content-type"].to_str().unwrap();
    assert_eq!(content_type, "application/problem+json");
    response.json().await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_start_answers_202_with_where_to_watch_and_its_first_poll_costs_nothing() {
    let app = spawn_app().await;
    let body = r#"{"mappingParameters":[{"entityType":"Version","entityName":"Actual"}],"localeName":"en_GB"}"#;
    let response = start(&app, None, body).await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let task: Value = response.json().await.unwrap();
    let id = app.anaplan.started_tasks()[0].clone();
    assert_eq!(task["taskId"], id.as_str());
    assert_eq!(task["state"], "queued");
    assert_eq!(location, import_route(&id));
    // Anaplan asks for the locale before the mapping parameters.
    let sent = app.anaplan.posted(&import_tasks());
    assert_eq!(
        sent,
        [
            r#"{"localeName":"en_GB","mappingParameters":[{"entityType":"Version","entityName":"Actual"}]}"#
        ]
    );

    let watched = app.get(&location).await;
    assert_eq!(cache_status(&watched), "anaplan-gateway; hit");
    let watched: Value = watched.json().await.unwrap();
    assert_eq!(watched["taskId"], id.as_str());
    assert_eq!(
        app.anaplan.api_calls(),
        1,
        "the start alone reached Anaplan"
    );
}

#[tokio::test(start_paused = true)]
async fn every_kind_starts_with_its_own_body() {
    let app = spawn_app().await;
    let starts = [
        (
            "import",
            IMPORT,
            "",
            "imports",
            "tasks",
            r#"{"localeName":"en_US"}"#,
        ),
        (
            "process",
            "118000000007",
            "",
            "processes",
            "tasks",
            r#"{"localeName":"en_US"}"#,
        ),
        (
            "export",
            EXPORT,
            r#"{"localeName":"en_US"}"#,
            "exports",
            "tasks",
            r#"{"localeName":"en_US"}"#,
        ),
        (
            "action",
            "117000000019",
            "{}",
            "actions",
            "tasks",
            r#"{"localeName":"en_US"}"#,
        ),
        (
            "view-read",
            "101000000014",
            r#"{"exportType":"GRID_ALL_PAGES"}"#,
            "views",
            "readRequests",
            r#"{"exportType":"GRID_ALL_PAGES"}"#,
        ),
        (
            "view-read",
            "101000000015",
            "",
            "views",
            "readRequests",
            r#"{"exportType":"TABULAR_MULTI_COLUMN"}"#,
        ),
        ("list-read", "101000000001", "", "lists", "readRequests", ""),
    ];
    for (kind, object, body, collection, tasks, sent) in starts {
        let response = app
            .http
            .post(app.url(&start_route(kind, object)))
            .body(body)
            .send()
            .await;
        let response = response.unwrap();
        assert_eq!(response.status(), 202, "{kind}");
        let task: Value = response.json().await.unwrap();
        assert_eq!(task["kind"], kind);
        assert_eq!(task["objectId"], object);
        let path = format!("/workspaces/{WORKSPACE}/models/{MODEL}/{collection}/{object}/{tasks}");
        assert_eq!(app.anaplan.posted(&path), [sent], "{kind}");
    }
}

#[tokio::test(start_paused = true)]
async fn bad_starts_are_400_and_nothing_goes_upstream() {
    let app = spawn_app_with(&["--require-idempotency-key", "true"]).await;
    let bad = [
        (
            "import",
            IMPORT,
            "k",
            r#"{"localeName":"en_US","priority":1}"#,
            "unknown field `priority`",
        ),
        (
            "export",
            EXPORT,
            "k",
            r#"{"mappingParameters":[]}"#,
            "takes none",
        ),
        (
            "view-read",
            "101000000014",
            "k",
            r#"{"exportType":"CSV"}"#,
            "unknown variant",
        ),
        (
            "list-read",
            "101000000001",
            "k",
            r#"{"exportType":"GRID_ALL_PAGES"}"#,
            "no fields",
        ),
        ("import", IMPORT, "k", "not json", "the body"),
        ("import", IMPORT, "two words", "", "Idempotency-Key"),
        ("cube", IMPORT, "k", "", "kind"),
        ("import", "12ab", "k", "", "objectId"),
    ];
    for (kind, object, key, body, why) in bad {
        let request = app.http.post(app.url(&start_route(kind, object)));
        let response = request
            .header("idempotency-key", key)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{kind} {body}");
        let detail = problem(response).await["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.contains(why), "{body}: {detail}");
    }
    // GATEWAY_REQUIRE_IDEMPOTENCY_KEY: a start without one is refused.
    let keyless = start(&app, None, "").await;
    assert_eq!(keyless.status(), 400);
    assert!(
        problem(keyless).await["detail"]
            .as_str()
            .unwrap()
            .contains("Idempotency-Key is required")
    );
    assert_eq!(app.anaplan.api_calls(), 0, "nothing reached Anaplan");
    assert_eq!(start(&app, Some("k"), "").await.status(), 202);
}

#[tokio::test(start_paused = true)]
async fn a_repeat_of_a_key_answers_as_the_first_and_starts_nothing() {
    let app = spawn_app().await;
    let first = start(&app, Some("nightly-1"), r#"{"localeName":"en_US"}"#).await;
    assert_eq!(first.status(), 202);
    let location = first.headers()["location"].clone();
    let first: Value = first.json().await.unwrap();
    // Quoted, as the draft writes it, and with the defaults spelt out: the same key and request.
    for (key, body) in [("nightly-1", ""), ("\"nightly-1\"", "{}")] {
        let repeat = start(&app, Some(key), body).await;
        assert_eq!(repeat.status(), 202);
        assert_eq!(repeat.headers()["location"], location);
        assert_eq!(repeat.headers()["idempotent-replayed"], "true");
        let repeat: Value = repeat.json().await.unwrap();
        assert_eq!(repeat["taskId"], first["taskId"]);
    }
    assert_eq!(posts(&app), 1);

    // The same key for another request is refused; another key starts another task.
    let reused = start(&app, Some("nightly-1"), r#"{"localeName":"en_GB"}"#).await;
    assert_eq!(reused.status(), 422);
    let reused = problem(reused).await;
    assert_eq!(
        reused["type"],
        "urn:anaplan-gateway:problem:idempotency-key-reused"
    );
    assert_eq!(start(&app, Some("nightly-2"), "").await.status(), 202);
    assert_eq!(posts(&app), 2);
}

#[tokio::test]
async fn a_repeat_while_the_first_is_under_way_is_409_and_sends_nothing() {
    let app = spawn_app().await;
    app.anaplan.on(&import_tasks(), Reply::Stall);
    let url = app.url(&start_route("import", IMPORT));
    let first = app.http.post(url).header("idempotency-key", "k").send();
    let first = tokio::spawn(first);
    until("the first start to reach Anaplan", || posts(&app) == 1).await;
    let repeat = start(&app, Some("k"), "").await;
    assert_eq!(repeat.status(), 409);
    assert_eq!(repeat.headers()["retry-after"], "1");
    let repeat = problem(repeat).await;
    assert_eq!(
        repeat["type"],
        "urn:anaplan-gateway:problem:idempotency-in-flight"
    );
    assert_eq!(posts(&app), 1);
    first.abort();
}

#[tokio::test(start_paused = true)]
async fn a_lost_answer_is_found_in_the_task_list_and_the_start_is_never_sent_again() {
    let app = spawn_app_with(&["--timeout", "10s"]).await;
    let lost = [
        Reply::Reset,
        Reply::status(500),
        Reply::status(503),
        Reply::Stall,
    ];
    for (n, lost) in lost.into_iter().enumerate() {
        let lost_after_start = Reply::Lost(Box::new(lost.clone()));
        app.anaplan
            .script_starts(&import_tasks(), vec![lost_after_start]);
        let response = start(&app, Some(&format!("lost-{n}")), "").await;
        assert_eq!(response.status(), 202, "{lost:?}");
        let task: Value = response.json().await.unwrap();
        // The task this start created, not the earlier ones (each claimed by its own start).
        let created = app.anaplan.started_tasks();
        assert_eq!(task["taskId"], created[n].as_str(), "{lost:?}");
        assert_eq!(posts(&app), n + 1, "{lost:?}: sent once");
    }
    assert_eq!(app.anaplan.calls(Method::GET, &import_tasks()), 4);
    // A repeat of a found start answers it again, and asks nothing.
    let calls = app.anaplan.api_calls();
    let repeat = start(&app, Some("lost-0"), "").await;
    assert_eq!(repeat.status(), 202);
    assert_eq!(app.anaplan.api_calls(), calls);
}

#[tokio::test(start_paused = true)]
async fn two_candidates_are_502_with_both_and_nothing_is_sent_again() {
    let app = spawn_app().await;
    let lost = Reply::Lost(Box::new(Reply::Reset));
    app.anaplan.script_starts(&import_tasks(), vec![lost]);
    // Two tasks created within the start's window, neither claimed by another start.
    let now = chrono::Utc::now().timestamp_millis();
    let (one, other) = (task_id(1), task_id(2));
    let tasks: Vec<Value> = [&one, &other]
        .iter()
        .map(|id| json!({"taskId": id, "taskState": "NOT_STARTED", "creationTime": now}))
        .collect();
    app.anaplan
        .on(&import_tasks(), Reply::ok(json!({"tasks": tasks})));
    for _ in 0..2 {
        let response = start(&app, Some("ambiguous"), "").await;
        assert_eq!(response.status(), 502);
        let unknown = problem(response).await;
        assert_eq!(
            unknown["type"],
            "urn:anaplan-gateway:problem:start-outcome-unknown"
        );
        assert_eq!(unknown["candidates"], json!([one, other]));
    }
    assert_eq!(
        posts(&app),
        1,
        "a repeat looks again; it never sends the start again"
    );
    assert_eq!(app.anaplan.calls(Method::GET, &import_tasks()), 2);

    // Once the list shows one (the other was someone else's, now gone from the window), a
    // repeat adopts it.
    let tasks = json!({"tasks": [{"taskId": one, "taskState": "IN_PROGRESS", "creationTime": now},
                                 {"taskId": other, "creationTime": now - 3_600_000}]});
    app.anaplan.on(&import_tasks(), Reply::ok(tasks));
    let found = start(&app, Some("ambiguous"), "").await;
    assert_eq!(found.status(), 202);
    let found: Value = found.json().await.unwrap();
    assert_eq!(
        (found["taskId"].as_str(), found["state"].as_str()),
        (Some(one.as_str()), Some("running"))
    );
    assert_eq!(posts(&app), 1);
}

#[tokio::test(start_paused = true)]
async fn a_listed_task_without_a_creation_time_is_never_taken_for_the_start() {
    let app = spawn_app().await;
    let lost = Reply::Lost(Box::new(Reply::Reset));
    app.anaplan.script_starts(&import_tasks(), vec![lost]);
    let undated = task_id(7);
    let tasks = json!({"tasks": [{"taskId": undated, "taskState": "IN_PROGRESS"}]});
    app.anaplan.on(&import_tasks(), Reply::ok(tasks));
    let response = start(&app, None, "").await;
    assert_eq!(response.status(), 502);
    assert_eq!(problem(response).await["candidates"], json!([undated]));
    assert_eq!(posts(&app), 1);
}

#[tokio::test(start_paused = true)]
async fn a_lost_read_start_is_unknown_since_reads_keep_no_list() {
    let app = spawn_app().await;
    let path = format!("/workspaces/{WORKSPACE}/models/{MODEL}/views/101000000014/readRequests");
    let lost = Reply::Lost(Box::new(Reply::status(502)));
    app.anaplan.script_starts(&path, vec![lost]);
    let route = start_route("view-read", "101000000014");
    let response = app.http.post(app.url(&route)).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(problem(response).await["candidates"], json!([]));
    assert_eq!(app.anaplan.calls(Method::POST, &path), 1);
    assert_eq!(app.anaplan.api_calls(), 1, "no list was asked for");
}

#[tokio::test(start_paused = true)]
async fn anaplans_refusals_are_passed_on_never_retried_and_free_the_key() {
    let app = spawn_app().await;
    let refusals = [
        (400, 400, "start-refused"),
        (403, 403, "upstream-forbidden"),
        (404, 404, "not-found"),
        (409, 409, "model-busy"),
        (423, 409, "model-busy"),
        (422, 400, "start-refused"),
    ];
    for (n, (anaplan, status, kind)) in refusals.into_iter().enumerate() {
        app.anaplan
            .script_starts(&import_tasks(), vec![Reply::status(anaplan)]);
        let response = start(&app, Some("refused"), "").await;
        assert_eq!(response.status(), status, "{anaplan}");
        if status == 409 {
            assert_eq!(response.headers()["retry-after"], "5");
        }
        let refused = problem(response).await;
        assert_eq!(
            refused["type"],
            format!("urn:anaplan-gateway:problem:{kind}")
        );
        assert_eq!(posts(&app), n + 1, "{anaplan}: sent once, never retried");
    }
    assert!(app.anaplan.started_tasks().is_empty());
    // Nothing was started, so the key is free: the same key now starts the task.
    app.anaplan.script_starts(&import_tasks(), vec![]);
    assert_eq!(start(&app, Some("refused"), "").await.status(), 202);
    assert_eq!(app.anaplan.started_tasks().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_start_is_one_call_in_the_budget_and_never_waits_past_its_bound() {
    let app = spawn_app_with(&["--upstream-rate", "1/m"]).await;
    assert_eq!(start(&app, None, "").await.status(), 202);
    let refused = start(&app, None, "").await;
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(
        problem(refused).await["type"],
        "urn:anaplan-gateway:problem:over-budget"
    );
    assert_eq!(posts(&app), 1, "nothing was sent past the budget");
}

#[tokio::test(start_paused = true)]
async fn starting_needs_the_right_and_keys_are_each_callers_own() {
    let entry = |name: &str, may_start: bool| {
        format!(
            r#"{{"name": "{name}", "keySha256": "{}", "models": ["{MODEL}"], "mayStart": {may_start}}}"#,
            sha256_hex(&format!("{name}-key-0123456789"))
        )
    };
    let content = format!(
        r#"{{"callers": [{}, {}, {}]}}"#,
        entry("reader", false),
        entry("loader", true),
        entry("nightly", true)
    );
    let file = callers_file("starts", &content);
    let app = spawn_app_with(&["--callers-file", file.to_str().unwrap()]).await;
    let start_as = |caller: &str| {
        let request = app.http.post(app.url(&start_route("import", IMPORT)));
        let request = request.bearer_auth(format!("{caller}-key-0123456789"));
        request.header("idempotency-key", "same-key").send()
    };
    let refused = start_as("reader").await.unwrap();
    assert_eq!(refused.status(), 403);
    let refused = problem(refused).await;
    assert!(refused["detail"].as_str().unwrap().contains("mayStart"));
    assert_eq!(app.anaplan.api_calls(), 0);
    // The same key from two callers is two keys: two starts.
    let loader: Value = start_as("loader").await.unwrap().json().await.unwrap();
    let nightly: Value = start_as("nightly").await.unwrap().json().await.unwrap();
    assert_ne!(loader["taskId"], nightly["taskId"]);
    assert_eq!(posts(&app), 2);
    let again = start_as("loader").await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(posts(&app), 2);
}

#[tokio::test(start_paused = true)]
async fn a_start_refused_for_its_token_is_made_once_with_a_fresh_one() {
    let app = spawn_app().await;
    assert_eq!(start(&app, None, "").await.status(), 202);
    // Anaplan refuses the token (401) before it reads the start: the start is sent again
    // with a new token, and made once.
    app.anaplan.revoke_tokens();
    assert_eq!(start(&app, Some("after-401"), "").await.status(), 202);
    assert_eq!(app.anaplan.started_tasks().len(), 2);
    assert_eq!(app.anaplan.authentications(), 2);
}

/// An import start with `key`, as the API hands it to the service.
pub(crate) fn keyed_import(key: &str) -> StartRequest {
    let request = StartRequest {
        kind: TaskKind::Import,
        model: Some(ModelId::parse("modelId", MODEL).unwrap()),
        object: Some(ObjectId::parse("objectId", IMPORT).unwrap()),
        workspace: Some(WorkspaceId::parse("workspaceId", WORKSPACE).unwrap()),
        options: StartOptions::defaults(TaskKind::Import),
        key: None,
    };
    request.with_key(IdempotencyKey::parse(key.as_bytes()).ok(), None)
}

/// Real time: a key's lease is on the wall clock, as a fleet shares it.
#[tokio::test]
async fn a_start_cut_off_mid_way_leaves_its_key_to_a_search_of_the_list() {
    let app = spawn_app_with(&["--timeout", "1s"]).await;
    let lost = Reply::Lost(Box::new(Reply::Stall));
    app.anaplan
        .script_starts(&import_tasks(), vec![lost, Reply::status(500)]);
    // The gateway stops while its start is out: the start's work is dropped where it stands.
    let service = app.service.clone();
    let first = tokio::spawn(async move { service.start(keyed_import("crash")).await });
    until("the first start to reach Anaplan", || posts(&app) == 1).await;
    first.abort();
    assert!(first.await.unwrap_err().is_cancelled());
    // The record stays in flight until its lease (2 x 1 s + 1 s) ends.
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let repeat = start(&app, Some("crash"), "").await;
    assert_eq!(repeat.status(), 202);
    let repeat: Value = repeat.json().await.unwrap();
    assert_eq!(repeat["taskId"], app.anaplan.started_tasks()[0].as_str());
    assert_eq!(posts(&app), 1, "found in the list, not started again");
}

/// How the simulated Anaplan answers one start in [`repeats_of_one_key_start_at_most_one_task`].
#[derive(Debug, Clone, Copy)]
enum Answer {
    Started,
    LostByReset,
    LostBy500,
    Busy,
    Refused,
}

impl Answer {
    fn reply(self) -> Reply {
        match self {
            Answer::Started => Reply::Own,
            Answer::LostByReset => Reply::Lost(Box::new(Reply::Reset)),
            Answer::LostBy500 => Reply::Lost(Box::new(Reply::status(500))),
            Answer::Busy => Reply::status(409),
            Answer::Refused => Reply::status(400),
        }
    }
}

#[test]
fn repeats_of_one_key_start_at_most_one_task() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    let app = runtime.block_on(spawn_app());
    let answer = prop_oneof![
        Just(Answer::Started),
        Just(Answer::LostByReset),
        Just(Answer::LostBy500),
        Just(Answer::Busy),
        Just(Answer::Refused),
    ];
    let answers = prop::collection::vec(answer, 1..5);
    let delays = prop::collection::vec(0u64..40, 2..8);
    let mut runner = TestRunner::new(Config::with_cases(96));
    let case = std::cell::Cell::new(300_000_000_000u64);
    let outcome = runner.run(&(answers, delays), |(answers, delays)| {
        case.set(case.get() + 1);
        // An import of its own for each case: its starts are scripted apart.
        let object = case.get().to_string();
        let path = format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports/{object}/tasks");
        let replies = answers.iter().map(|answer| answer.reply()).collect();
        app.anaplan.script_starts(&path, replies);
        let created_before = app.anaplan.started_tasks().len();
        let answered = runtime.block_on(async {
            let requests = delays.iter().map(|delay| {
                let url = app.url(&start_route("import", &object));
                let request = app
                    .http
                    .post(url)
                    .header("idempotency-key", format!("key-{object}"));
                async move {
                    tokio::time::sleep(Duration::from_millis(*delay)).await;
                    let response = request.send().await.unwrap();
                    let status = response.status().as_u16();
                    let task: Value = response.json().await.unwrap();
                    (status, task["taskId"].as_str().map(str::to_owned))
                }
            });
            futures_util::future::join_all(requests).await
        });
        let created = app.anaplan.started_tasks().split_off(created_before);
        prop_assert!(
            created.len() <= 1,
            "{answers:?} {delays:?}: started {created:?}"
        );
        for (status, task) in &answered {
            prop_assert!(
                [202, 400, 409].contains(status),
                "{answers:?}: {answered:?}"
            );
            if *status == 202 {
                prop_assert_eq!(task.as_ref(), created.first(), "{:?}", answered);
            }
        }
        Ok(())
    });
    outcome.unwrap();
}
