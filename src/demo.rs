//! `anaplan-gateway demo`: the gateway in front of a simulated Anaplan built into the binary.
//!
//! The simulator speaks Anaplan's documented JSON: tasks of every kind move through their states
//! over two minutes from the start, one model is busy with an export for the first two minutes and
//! another stays idle, and a DELETE cancels a running task. No credentials, no network.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::config::{Credentials, PasswordSource, RawSettings, Settings};
use crate::server;

/// The simulated workspace.
pub const WORKSPACE: &str = "8a8196b15b7dbae6015b8694411d13fe";
/// A model busy with an export for the first two minutes.
pub const BUSY_MODEL: &str = "75A40874E6B64FA3AE0743278996850F";
/// A model that stays idle.
pub const IDLE_MODEL: &str = "0B1C2D3E4F5061728394A5B6C7D8E9F0";
const TOKEN: &str = "demo-token-not-secret";
/// How long the busy model stays busy.
const BUSY_FOR: f64 = 120.0;
/// How long a cancel takes from CANCELLING to CANCELLED.
const CANCEL_TAKES: f64 = 5.0;

/// One simulated task: where it is filed and how it moves.
pub struct DemoTask {
    /// The gateway's kind name.
    pub kind: &'static str,
    /// The object it is filed under.
    pub object_id: &'static str,
    /// Its id.
    pub task_id: &'static str,
    /// Seconds queued, then seconds running.
    queued_for: f64,
    runs_for: f64,
    /// How it ends.
    outcome: Outcome,
}

#[derive(Clone, Copy)]
enum Outcome {
    Succeeds,
    Fails,
}

/// The simulated tasks, one scenario per line.
pub const TASKS: &[DemoTask] = &[
    DemoTask {
        kind: "import",
        object_id: "112000000009",
        task_id: "1B1D84DDD53847BAA621810B593C3FC1",
        queued_for: 10.0,
        runs_for: 50.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "import",
        object_id: "112000000010",
        task_id: "2C2D84DDD53847BAA621810B593C3FC2",
        queued_for: 0.0,
        runs_for: 45.0,
        outcome: Outcome::Fails,
    },
    DemoTask {
        kind: "export",
        object_id: "116000000002",
        task_id: "BFEC582EBD4146068FE4061831C8F0F0",
        queued_for: 0.0,
        runs_for: 30.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "action",
        object_id: "117000000019",
        task_id: "0690AA1C761F48549C3442A02F91D962",
        queued_for: 5.0,
        runs_for: 15.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "process",
        object_id: "118000000007",
        task_id: "4E4E84DDD53847BAA621810B593C3FC4",
        queued_for: 0.0,
        runs_for: 90.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "view-read",
        object_id: "101000000014",
        task_id: "0A06B0739F0E47BB92E2326C603D86EC",
        queued_for: 5.0,
        runs_for: 55.0,
        outcome: Outcome::Succeeds,
    },
    DemoTask {
        kind: "list-read",
        object_id: "101000000001",
        task_id: "5B06B0739F0E47BB92E2326C603D86ED",
        queued_for: 0.0,
        runs_for: 120.0,
        outcome: Outcome::Succeeds,
    },
];

#[derive(Clone)]
struct Simulation {
    started: Instant,
    /// Task id → seconds since start when a DELETE came.
    cancelled: Arc<Mutex<HashMap<String, f64>>>,
}

impl Simulation {
    fn elapsed(&self) -> f64 {
        self.started.elapsed().as_secs_f64()
    }
}

/// Starts the simulated Anaplan on a loopback port; returns its address.
pub async fn spawn_simulator() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
    let address = listener.local_addr()?;
    let simulation = Simulation {
        started: Instant::now(),
        cancelled: Arc::default(),
    };
    let app = Router::new()
        .route("/token/authenticate", post(token))
        .route("/token/refresh", post(token))
        .route("/2/0/models/{model}", get(model))
        .route(
            "/2/0/workspaces/{workspace}/models/{model}/status",
            get(model_status),
        )
        .route(
            "/2/0/workspaces/{workspace}/models/{model}/{collection}/{object}/{tasks}/{task}",
            get(task).delete(task),
        )
        .with_state(simulation);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(address)
}

fn authorised(headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value == format!("AnaplanAuthToken {TOKEN}") || value.starts_with("Basic ")
        })
}

fn not_found() -> Response {
    let body = json!({"status": {"code": 404, "message": "Not Found"}});
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

async fn token(headers: HeaderMap) -> Response {
    if !headers.contains_key(header::AUTHORIZATION) {
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"status": "FAILURE_BAD_HEADER"})),
        )
            .into_response();
    }
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as i64;
    let body = json!({
        "meta": {"validationUrl": "/token/validate"},
        "status": "SUCCESS",
        "statusMessage": "Login successful",
        "tokenInfo": {"expiresAt": now_ms + 35 * 60 * 1000, "tokenId": "demo", "tokenValue": TOKEN, "refreshTokenId": "demo"}
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

async fn model(headers: HeaderMap, Path(model): Path<String>) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if model != BUSY_MODEL && model != IDLE_MODEL {
        return not_found();
    }
    Json(
        json!({"model": {"id": model, "activeState": "UNLOCKED", "currentWorkspaceId": WORKSPACE}}),
    )
    .into_response()
}

async fn model_status(
    State(simulation): State<Simulation>,
    headers: HeaderMap,
    Path((workspace, model)): Path<(String, String)>,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let t = simulation.elapsed();
    let status = match (workspace == WORKSPACE, model.as_str()) {
        (true, BUSY_MODEL) if t < BUSY_FOR => json!({
            "exportTaskType": null,
            "taskId": "6EB7F52C07CA4E86909A213C608765A1-11",
            "currentStep": "Processing ...",
            "tooltip": "The system is currently processing an Export:\n\nExport started by user Jesse Smith (jesse.smith@yourcompany.com)\n\nExport started at 11:23 (UTC)\nTasks can be cancelled in Model Management.",
            "progress": t / BUSY_FOR,
            "creationTime": 1578569563167_i64
        }),
        (true, BUSY_MODEL | IDLE_MODEL) => json!({
            "peakMemoryUsageEstimate": null, "peakMemoryUsageTime": null, "progress": -1.0,
            "currentStep": "Open", "tooltip": null, "exportTaskType": null, "taskId": null
        }),
        _ => return not_found(),
    };
    // The busy model answers with the envelope, the idle one without: Anaplan does both.
    let body = if model == BUSY_MODEL {
        json!({"meta": {"schema": "https://api.anaplan.com/2/0/objects/dimension"},
               "status": {"code": 200, "message": "Success"}, "requestStatus": status})
    } else {
        json!({"requestStatus": status})
    };
    Json(body).into_response()
}

async fn task(
    State(simulation): State<Simulation>,
    method: Method,
    headers: HeaderMap,
    Path((workspace, model, collection, object, tasks, task_id)): Path<(
        String,
        String,
        String,
        String,
        String,
        String,
    )>,
) -> Response {
    if !authorised(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let kind = match (collection.as_str(), tasks.as_str()) {
        ("imports", "tasks") => "import",
        ("exports", "tasks") => "export",
        ("actions", "tasks") => "action",
        ("processes", "tasks") => "process",
        ("views", "readRequests") => "view-read",
        ("lists", "readRequests") => "list-read",
        _ => return not_found(),
    };
    let found = TASKS
        .iter()
        .find(|t| t.kind == kind && t.object_id == object && t.task_id == task_id);
    let Some(scenario) = found.filter(|_| workspace == WORKSPACE && model == BUSY_MODEL) else {
        return not_found();
    };
    let t = simulation.elapsed();
    let mut cancelled = simulation
        .cancelled
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    let (state, _) = scenario.state_at(t, cancelled.get(task_id.as_str()).copied());
    if method == Method::DELETE {
        if matches!(state, "COMPLETE" | "CANCELLED") {
            let body = json!({"status": {"code": 400, "message": "Task is already complete"}});
            return (StatusCode::BAD_REQUEST, Json(body)).into_response();
        }
        cancelled.entry(task_id.clone()).or_insert(t);
    }
    let cancelled_at = cancelled.get(task_id.as_str()).copied();
    drop(cancelled);
    Json(scenario.body(t, cancelled_at)).into_response()
}

impl DemoTask {
    /// Anaplan's state and progress at `t` seconds.
    fn state_at(&self, t: f64, cancelled_at: Option<f64>) -> (&'static str, f64) {
        let done_at = self.queued_for + self.runs_for;
        let running = ((t - self.queued_for) / self.runs_for).clamp(0.0, 1.0);
        match cancelled_at {
            Some(at) if at < done_at && t < at + CANCEL_TAKES => ("CANCELLING", running),
            Some(at) if at < done_at => (
                "CANCELLED",
                ((at - self.queued_for) / self.runs_for).clamp(0.0, 1.0),
            ),
            _ if t < self.queued_for => ("NOT_STARTED", 0.0),
            _ if t < done_at => ("IN_PROGRESS", running),
            _ => ("COMPLETE", 1.0),
        }
    }

    fn body(&self, t: f64, cancelled_at: Option<f64>) -> Value {
        let (state, progress) = self.state_at(t, cancelled_at);
        if self.kind.ends_with("-read") {
            let key = if self.kind == "view-read" {
                "viewReadRequest"
            } else {
                "listReadRequest"
            };
            let id_key = if self.kind == "view-read" {
                "viewId"
            } else {
                "listId"
            };
            return json!({
                "meta": {"schema": format!("https://api.anaplan.com/2/0/objects/{key}")},
                "status": {"code": 200, "message": "Success"},
                key: {"requestId": self.task_id, id_key: self.object_id.parse::<u64>().unwrap_or_default(),
                      "requestState": state, "availablePages": (progress * 100.0).floor() as u64,
                      "successful": true}
            });
        }
        let mut task = json!({
            "type": "taskInformation", "taskId": self.task_id, "taskState": state,
            "progress": progress, "creationTime": 1_571_258_347_545_i64,
            "currentStep": match state {
                "NOT_STARTED" => "Waiting to start",
                "IN_PROGRESS" => "Running...",
                "CANCELLING" => "Cancelling...",
                "CANCELLED" => "Cancelled.",
                _ => match self.outcome { Outcome::Succeeds => "Complete.", Outcome::Fails => "Failed." },
            },
        });
        if matches!(state, "COMPLETE" | "CANCELLED") {
            task["result"] = self.result(state == "COMPLETE");
        }
        json!({"meta": {"schema": "https://api.anaplan.com/2/0/objects/task"},
               "status": {"code": 200, "message": "Success"}, "task": task})
    }

    fn result(&self, complete: bool) -> Value {
        let successful = complete && matches!(self.outcome, Outcome::Succeeds);
        let rows = |ok: u32, failed: u32| {
            json!({
                "localMessageText": format!("Employees: {ok} ({ok}/{}) rows successful, {failed} failed ", ok + failed),
                "occurrences": failed, "type": "hierarchyRowsProcessed",
                "values": ["hierarchyName", "Employees", "successRowCount", ok.to_string(),
                           "failedCount", failed.to_string(), "totalRowCount", (ok + failed).to_string()]
            })
        };
        let mut result = json!({"objectId": self.object_id, "successful": successful,
                                "failureDumpAvailable": complete && !successful});
        match (self.kind, complete) {
            ("import", true) if successful => result["details"] = json!([rows(90, 0)]),
            ("import", true) => result["details"] = json!([rows(0, 90)]),
            ("process", true) => {
                result["nestedResults"] = json!([
                    {"objectId": "112000000009", "successful": true, "failureDumpAvailable": false, "details": [rows(90, 0)]},
                    {"objectId": "116000000002", "successful": true, "failureDumpAvailable": false}
                ])
            }
            _ => {}
        }
        result
    }
}

/// The example requests the demo prints, as paths with their query.
pub fn example_paths() -> Vec<String> {
    let mut paths: Vec<String> = TASKS
        .iter()
        .map(|t| {
            format!(
                "/tasks/{}/{}?modelId={BUSY_MODEL}&objectId={}",
                t.kind, t.task_id, t.object_id
            )
        })
        .collect();
    paths.push(format!("/models/{BUSY_MODEL}/status"));
    paths.push(format!("/models/{IDLE_MODEL}/status"));
    paths
}

/// The demo's settings: the raw settings with the demo's defaults, and the simulator's
/// credentials (its URLs are set once it runs).
pub fn settings(raw: &RawSettings) -> Result<Settings, Vec<String>> {
    let credentials = Credentials {
        username: "demo@example.com".into(),
        password: PasswordSource::Inline(SecretString::from("demo".to_owned())),
    };
    Settings::for_demo(raw, credentials)
}

/// Runs the demo with `settings` until Ctrl-C or SIGTERM.
pub async fn run(mut settings: Settings) -> anyhow::Result<()> {
    let simulator = spawn_simulator()
        .await
        .context("starting the simulated Anaplan")?;
    settings.anaplan.api_url = format!("http://{simulator}/2/0").parse()?;
    settings.anaplan.auth_url = format!("http://{simulator}").parse()?;
    server::run(&settings, || print_examples(&settings)).await
}

fn print_examples(settings: &Settings) {
    let base = format!("http://{}", settings.listen);
    println!(
        "anaplan-gateway demo: a simulated Anaplan with tasks that finish over the next two minutes."
    );
    println!(
        "Ask again every few seconds to watch them move (the gateway polls Anaplan at most every {}):\n",
        humantime::format_duration(settings.polling.interval)
    );
    for path in example_paths() {
        println!("  curl -s '{base}{path}'");
    }
    let list_read = &TASKS[6];
    println!("\nCancel the list read (it runs for two minutes otherwise):\n");
    println!(
        "  curl -s -X DELETE '{base}/tasks/{}/{}?modelId={BUSY_MODEL}&objectId={}'",
        list_read.kind, list_read.task_id, list_read.object_id
    );
    println!(
        "\nSee the headers (Age, Cache-Control, Cache-Status):\n\n  curl -si '{base}{}'",
        example_paths()[0]
    );
    println!(
        "\nAPI docs: {base}/docs   health: http://{}/readyz   metrics: http://{}/metrics",
        settings.admin_listen, settings.admin_listen
    );
    println!("Press Ctrl-C to stop.\n");
}
