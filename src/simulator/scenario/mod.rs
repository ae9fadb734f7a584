//! The demo's scenario: tasks of every kind that move through their states over two minutes from
//! the start, one model busy with an export for those two minutes and another idle, and cancels
//! that take a running task through `CANCELLING` to `CANCELLED`. Anaplan's documented JSON.

use std::collections::HashMap;

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::reply::Reply;

pub mod tasks;
use tasks::{DemoTask, Outcome, TASKS};

/// The simulated workspace.
pub const WORKSPACE: &str = "8a8196b15b7dbae6015b8694411d13fe";
/// A model busy with an export for the first two minutes.
pub const BUSY_MODEL: &str = "75A40874E6B64FA3AE0743278996850F";
/// A model that stays idle.
pub const IDLE_MODEL: &str = "0B1C2D3E4F5061728394A5B6C7D8E9F0";
/// How long the busy model stays busy.
const BUSY_FOR: f64 = 120.0;
/// How long a cancel takes from CANCELLING to CANCELLED.
const CANCEL_TAKES: f64 = 5.0;

/// The import inside the failing process whose rows were rejected.
const FAILING_ACTION: &str = "112000000011";
/// A failure dump's rows, as Anaplan writes them.
const DUMP_ROWS: &str = "_Status_,Employees,Salary,_Line_,_Error_1_\n\
E,Ann Example,not a number,2,Invalid number\n\
E,Bob Example,-,3,Invalid number\n";

/// The scenario's clock and the cancels it was asked for.
pub struct Scenario {
    started: Instant,
    /// Task id → seconds since the start when a DELETE came.
    cancelled: HashMap<String, f64>,
}

impl Scenario {
    /// The demo's scenario, starting now.
    pub fn demo() -> Self {
        Self {
            started: Instant::now(),
            cancelled: HashMap::new(),
        }
    }

    /// The answer to `method` on `path` (below `/2/0`), if the scenario knows the path.
    pub fn reply(&mut self, method: &Method, path: &str) -> Option<Reply> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let t = self.started.elapsed().as_secs_f64();
        match segments.as_slice() {
            ["models", model] => Some(model_reply(model)),
            ["models", model, "alm", collection, task] => {
                let found = TASKS.iter().find(|demo| {
                    alm_collection(demo.kind) == Some(*collection) && demo.task_id == *task
                });
                Some(match found.filter(|_| *model == BUSY_MODEL) {
                    Some(demo) => Reply::ok(demo.alm_body(model, t)),
                    None => Reply::not_found(),
                })
            }
            ["workspaces", workspace, "models", model, "status"] => {
                Some(model_status_reply(workspace, model, t))
            }
            [
                "workspaces",
                workspace,
                "models",
                model,
                collection,
                object,
                "tasks",
            ] if *workspace == WORKSPACE && *model == BUSY_MODEL => {
                Some(self.task_list(collection, object, t))
            }
            [
                "workspaces",
                workspace,
                "models",
                model,
                collection,
                object,
                "tasks",
                task,
                dump @ ..,
            ] if *workspace == WORKSPACE && *model == BUSY_MODEL && !dump.is_empty() => {
                let found = find_task(collection, "tasks", object, task);
                Some(found.map_or_else(Reply::not_found, |scenario| {
                    self.dump_reply(scenario, dump, t)
                }))
            }
            [
                "workspaces",
                workspace,
                "models",
                model,
                collection,
                object,
                tasks,
                task,
            ] => {
                let found = find_task(collection, tasks, object, task)
                    .filter(|_| *workspace == WORKSPACE && *model == BUSY_MODEL);
                Some(match found {
                    Some(scenario) => self.task_reply(scenario, method, t),
                    None => Reply::not_found(),
                })
            }
            _ => None,
        }
    }

    fn task_reply(&mut self, scenario: &DemoTask, method: &Method, t: f64) -> Reply {
        let (state, _) = scenario.state_at(t, self.cancelled.get(scenario.task_id).copied());
        if method == Method::DELETE {
            if matches!(state, "COMPLETE" | "CANCELLED") {
                let body = json!({"status": {"code": 400, "message": "Task is already complete"}});
                return Reply::Json(StatusCode::BAD_REQUEST, body);
            }
            self.cancelled
                .entry(scenario.task_id.to_owned())
                .or_insert(t);
        }
        let cancelled_at = self.cancelled.get(scenario.task_id).copied();
        Reply::ok(scenario.body(t, cancelled_at))
    }
}

impl Scenario {
    /// The tasks filed under `object`, as Anaplan lists them (200 and none for an unknown one).
    fn task_list(&self, collection: &str, object: &str, t: f64) -> Reply {
        let tasks: Vec<Value> = TASKS
            .iter()
            .filter(|task| find_task(collection, "tasks", object, task.task_id).is_some())
            .map(|task| {
                let cancelled_at = self.cancelled.get(task.task_id).copied();
                let (state, _) = task.state_at(t, cancelled_at);
                json!({"taskId": task.task_id, "taskState": state,
                       "creationTime": 1_571_258_347_545_i64 + (task.queued_for * 1000.0) as i64})
            })
            .collect();
        Reply::ok(
            json!({"meta": {"paging": {"currentPageSize": tasks.len(), "offset": 0,
                                  "totalSize": tasks.len()}}, "tasks": tasks}),
        )
    }

    /// A failed import's dump (`dump/chunks[/0]`), or that of the failing import inside a
    /// failed process (`dumps/{action}/chunks[/0]`), once the task has finished; else 404.
    fn dump_reply(&self, scenario: &DemoTask, dump: &[&str], t: f64) -> Reply {
        let cancelled_at = self.cancelled.get(scenario.task_id).copied();
        let (state, _) = scenario.state_at(t, cancelled_at);
        let failed = state == "COMPLETE" && matches!(scenario.outcome, Outcome::Fails);
        let chunks = match (scenario.kind, dump) {
            ("import", ["dump", chunks @ ..]) => chunks,
            ("process", ["dumps", FAILING_ACTION, chunks @ ..]) => chunks,
            _ => return Reply::not_found(),
        };
        match chunks {
            _ if !failed => Reply::not_found(),
            ["chunks"] => {
                Reply::ok(json!({"meta": {}, "chunks": [{"id": "0", "name": "Chunk 0"}]}))
            }
            ["chunks", "0"] => Reply::Text(DUMP_ROWS.to_owned()),
            _ => Reply::not_found(),
        }
    }
}

fn find_task(collection: &str, tasks: &str, object: &str, task: &str) -> Option<&'static DemoTask> {
    let kind = match (collection, tasks) {
        ("imports", "tasks") => "import",
        ("exports", "tasks") => "export",
        ("actions", "tasks") => "action",
        ("processes", "tasks") => "process",
        ("views", "readRequests") => "view-read",
        ("lists", "readRequests") => "list-read",
        _ => return None,
    };
    TASKS
        .iter()
        .find(|t| t.kind == kind && t.object_id == object && t.task_id == task)
}

/// Where ALM files tasks of the gateway's `kind`.
fn alm_collection(kind: &str) -> Option<&'static str> {
    match kind {
        "alm-sync" => Some("syncTasks"),
        "alm-comparison-report" => Some("comparisonReportTasks"),
        "alm-summary-report" => Some("summaryReportTasks"),
        _ => None,
    }
}

fn model_reply(model: &str) -> Reply {
    if model != BUSY_MODEL && model != IDLE_MODEL {
        return Reply::not_found();
    }
    Reply::ok(
        json!({"model": {"id": model, "activeState": "UNLOCKED", "currentWorkspaceId": WORKSPACE}}),
    )
}

fn model_status_reply(workspace: &str, model: &str, t: f64) -> Reply {
    let status = match (workspace == WORKSPACE, model) {
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
        _ => return Reply::not_found(),
    };
    // The busy model answers with the envelope, the idle one without: Anaplan does both.
    Reply::ok(if model == BUSY_MODEL {
        json!({"meta": {"schema": "https://api.anaplan.com/2/0/objects/dimension"},
               "status": {"code": 200, "message": "Success"}, "requestStatus": status})
    } else {
        json!({"requestStatus": status})
    })
}

impl DemoTask {
    /// An ALM task's status at `t` seconds.
    fn alm_body(&self, model: &str, t: f64) -> Value {
        let (state, _) = self.state_at(t, None);
        let task = super::alm::AlmTask {
            id: self.task_id,
            model,
            creation_ms: 1_614_870_183_373,
            succeeds: matches!(self.outcome, Outcome::Succeeds),
            source_revision: super::alm::DEMO_SOURCE_REVISION,
            target_revision: super::alm::DEMO_TARGET_REVISION,
        };
        super::alm::task_body(task, state)
    }

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
            ("process", true) if !successful => {
                result["nestedResults"] = json!([
                    {"objectId": "112000000009", "successful": true, "failureDumpAvailable": false, "details": [rows(90, 0)]},
                    {"objectId": FAILING_ACTION, "successful": false, "failureDumpAvailable": true, "details": [rows(0, 90)]}
                ])
            }
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
