//! Tasks started on the simulated Anaplan: each start creates a task that waits, runs and ends as
//! the [`StartPlan`] says, answers its status, is listed with its object's tasks and can be
//! cancelled. A scripted `Reply::Lost` creates the task and then loses the answer. ALM's tasks
//! are filed under their model, whose id stands for the object.

use std::time::Duration;

use axum::http::Method;
use serde_json::{Value, json};
use tokio::time::Instant;

use super::alm::{self, AlmTask};
use super::reply::Reply;

/// How started tasks move.
#[derive(Debug, Clone, Copy)]
pub struct StartPlan {
    /// Time in `NOT_STARTED`.
    pub queued_for: Duration,
    /// Time in `IN_PROGRESS`.
    pub runs_for: Duration,
    /// Whether it ends successful.
    pub succeeds: bool,
}

impl Default for StartPlan {
    fn default() -> Self {
        Self {
            queued_for: Duration::from_secs(2),
            runs_for: Duration::from_secs(20),
            succeeds: true,
        }
    }
}

/// One started task.
struct StartedTask {
    collection: String,
    object: String,
    id: String,
    started: Instant,
    /// `creationTime`: the simulated Anaplan's wall clock, ms since the epoch.
    creation_ms: i64,
    plan: StartPlan,
    cancelled_at: Option<Instant>,
    /// An ALM task's `(source, target)` revisions, from its start's body.
    revisions: (String, String),
}

/// The started tasks and how new ones move.
#[derive(Default)]
pub struct Starts {
    /// How tasks started from now on move.
    pub plan: StartPlan,
    tasks: Vec<StartedTask>,
}

/// The collections whose objects' tasks can be started, and what their tasks are called.
const STARTABLE: [(&str, &str); 6] = [
    ("imports", "tasks"),
    ("exports", "tasks"),
    ("actions", "tasks"),
    ("processes", "tasks"),
    ("views", "readRequests"),
    ("lists", "readRequests"),
];

/// `(collection, object)` when `path` (below `/2/0`) is where `object`'s tasks are started.
pub fn start_target(path: &str) -> Option<(&str, &str)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["workspaces", _, "models", _, collection, object, tasks]
            if STARTABLE.contains(&(*collection, *tasks)) =>
        {
            Some((*collection, *object))
        }
        _ => alm::target(path),
    }
}

impl Starts {
    /// Creates a task of `object` in `collection` from a start's `body`, answered as Anaplan
    /// answers a start (201 for ALM's).
    pub fn create(&mut self, collection: &str, object: &str, body: &[u8]) -> Reply {
        let id = format!("5A{:030X}", self.tasks.len() + 1);
        let task = StartedTask {
            collection: collection.to_owned(),
            object: object.to_owned(),
            id,
            started: Instant::now(),
            creation_ms: chrono::Utc::now().timestamp_millis(),
            plan: self.plan,
            cancelled_at: None,
            revisions: alm::revisions(body),
        };
        let (state, _) = task.state();
        if task.is_alm() {
            let answer = task.body();
            self.tasks.push(task);
            return Reply::Json(axum::http::StatusCode::CREATED, answer);
        }
        let answer = match collection {
            "views" | "lists" => {
                let key = read_key(collection);
                json!({key: {"requestId": task.id, "requestState": state, "url": ""}})
            }
            _ => json!({
                "meta": {"schema": "https://api.anaplan.com/2/0/models/objects/task"},
                "status": {"code": 200, "message": "Success"},
                "task": {"taskId": task.id, "taskState": state, "creationTime": task.creation_ms}
            }),
        };
        self.tasks.push(task);
        Reply::ok(answer)
    }

    /// Ids of every task started, in order.
    pub fn ids(&self) -> Vec<String> {
        self.tasks.iter().map(|task| task.id.clone()).collect()
    }

    /// The answer to a started task's status or cancel, if `path` names one.
    pub fn reply(&mut self, method: &Method, path: &str) -> Option<Reply> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (collection, object, id) = match segments.as_slice() {
            ["workspaces", _, "models", _, collection, object, _, id] => {
                (*collection, *object, *id)
            }
            _ => alm::task_path(path)?,
        };
        let task = (self.tasks.iter_mut())
            .find(|task| task.id == id && task.object == object && task.collection == collection)?;
        if method == Method::DELETE && task.state().0 != "COMPLETE" {
            task.cancelled_at.get_or_insert(Instant::now());
        }
        Some(Reply::ok(task.body()))
    }

    /// The tasks started on `object`, as a task list shows them.
    pub fn listed(&self, collection: &str, object: &str) -> Vec<Value> {
        let mine = |task: &&StartedTask| task.collection == collection && task.object == object;
        (self.tasks.iter().filter(mine))
            .map(|task| {
                json!({"taskId": task.id, "taskState": task.state().0, "creationTime": task.creation_ms})
            })
            .collect()
    }
}

fn read_key(collection: &str) -> &'static str {
    match collection {
        "views" => "viewReadRequest",
        _ => "listReadRequest",
    }
}

impl StartedTask {
    /// Anaplan's state and progress now.
    fn state(&self) -> (&'static str, f64) {
        let since = self.started.elapsed();
        let running = since.saturating_sub(self.plan.queued_for);
        let progress = running.as_secs_f64() / self.plan.runs_for.as_secs_f64().max(0.001);
        match self.cancelled_at {
            Some(_) => ("CANCELLED", progress.min(1.0)),
            None if since < self.plan.queued_for => ("NOT_STARTED", 0.0),
            None if progress < 1.0 => ("IN_PROGRESS", progress),
            None => ("COMPLETE", 1.0),
        }
    }

    fn is_alm(&self) -> bool {
        self.collection.ends_with("Tasks")
    }

    fn body(&self) -> Value {
        let (state, progress) = self.state();
        if self.is_alm() {
            let task = AlmTask {
                id: &self.id,
                model: &self.object,
                creation_ms: self.creation_ms,
                succeeds: self.plan.succeeds,
                source_revision: &self.revisions.0,
                target_revision: &self.revisions.1,
            };
            return alm::task_body(task, state);
        }
        if matches!(self.collection.as_str(), "views" | "lists") {
            let pages = (progress * 10.0).floor() as u64;
            let request = json!({"requestId": self.id, "requestState": state,
                                 "availablePages": pages, "successful": self.plan.succeeds});
            return json!({read_key(&self.collection): request});
        }
        let mut task = json!({"taskId": self.id, "taskState": state, "progress": progress,
        "creationTime": self.creation_ms,
        "currentStep": match state {
            "NOT_STARTED" => "Waiting to start",
            "IN_PROGRESS" => "Running...",
            "CANCELLED" => "Cancelled.",
            _ if self.plan.succeeds => "Complete.",
            _ => "Failed.",
        }});
        if matches!(state, "COMPLETE" | "CANCELLED") {
            let successful = state == "COMPLETE" && self.plan.succeeds;
            task["result"] = json!({"objectId": self.object, "successful": successful,
                                    "failureDumpAvailable": false});
        }
        json!({"status": {"code": 200, "message": "Success"}, "task": task})
    }
}
