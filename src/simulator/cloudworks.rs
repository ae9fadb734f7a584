//! CloudWorks on the simulated Anaplan, below `/cloudworks/2/0`: integrations run one run at a
//! time (a second start is 409), each run moves by the [`RunPlan`] and answers its status with
//! no state field, as CloudWorks does; an integration's history lists its runs, a cancel goes to
//! the integration, and a run that left rows behind has a dump.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use tokio::time::Instant;

use super::reply::Reply;

/// The demo's integration, and the run it has under way from the scenario's start.
pub const DEMO_INTEGRATION: &str = "c0ffee00a1b24c3d9e8f7a6b5c4d3e2f";
/// The demo's run: it loads most rows, leaves some behind (partial success) and has a dump.
pub const DEMO_RUN: &str = "3f0c9a5e7b214d6c8e1a2b3c4d5e6f70";

/// The rows a run's import left behind, as CloudWorks' dump gives them.
const DUMP_ROWS: &str = "Employees,Salary,Error\nAnn Example,not a number,Invalid number\n";

/// How a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Every row loaded.
    Success,
    /// Loaded, with rows left behind (`executionErrorCode` 38).
    Partial,
    /// Failed.
    Failure,
}

/// How runs started from now on move.
#[derive(Debug, Clone, Copy)]
pub struct RunPlan {
    /// Time until the run ends.
    pub runs_for: Duration,
    /// How it ends.
    pub ends: RunEnd,
}

impl Default for RunPlan {
    fn default() -> Self {
        Self {
            runs_for: Duration::from_secs(20),
            ends: RunEnd::Success,
        }
    }
}

struct Run {
    id: String,
    integration: String,
    started: Instant,
    /// `startDate`: the simulated Anaplan's wall clock.
    started_at: DateTime<Utc>,
    plan: RunPlan,
    cancelled_at: Option<Instant>,
}

impl Run {
    /// When it ended, and how (`None`: cancelled), if it has.
    fn ended(&self) -> Option<(Instant, Option<RunEnd>)> {
        let ends_at = self.started + self.plan.runs_for;
        match self.cancelled_at {
            Some(at) if at < ends_at => Some((at, None)),
            _ => (Instant::now() >= ends_at).then_some((ends_at, Some(self.plan.ends))),
        }
    }

    fn body(&self) -> Value {
        let date = |at: DateTime<Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut run = json!({"id": self.id, "integrationId": self.integration,
            "startDate": date(self.started_at), "creationDate": date(self.started_at),
            "message": "Running", "executionErrorCode": null, "triggerSource": "manual",
            "createdBy": "Sim User", "flowGroupId": null});
        if let Some((at, end)) = self.ended() {
            let took = chrono::Duration::from_std(at - self.started).unwrap_or_default();
            run["endDate"] = json!(date(self.started_at + took));
            let (success, message, code) = match end {
                Some(RunEnd::Success) => (true, "Success", None),
                Some(RunEnd::Partial) => (true, "1 row successful, 1 ignored", Some(38)),
                Some(RunEnd::Failure) => (false, "Process failed", Some(12)),
                None => (false, "Cancelled", None),
            };
            run["success"] = json!(success);
            run["message"] = json!(message);
            run["executionErrorCode"] = json!(code);
        }
        run
    }
}

/// The runs started, and how new ones move.
#[derive(Default)]
pub struct Runs {
    /// How runs started from now on move.
    pub plan: RunPlan,
    runs: Vec<Run>,
}

impl Runs {
    /// The demo's runs: one of [`DEMO_INTEGRATION`], under way.
    pub fn demo() -> Self {
        let mut runs = Self::default();
        runs.start(
            DEMO_INTEGRATION,
            DEMO_RUN.to_owned(),
            RunPlan {
                runs_for: Duration::from_secs(30),
                ends: RunEnd::Partial,
            },
        );
        runs
    }

    fn start(&mut self, integration: &str, id: String, plan: RunPlan) {
        self.runs.push(Run {
            id,
            integration: integration.to_owned(),
            started: Instant::now(),
            started_at: Utc::now(),
            plan,
            cancelled_at: None,
        });
    }

    /// The answer to `method` on `path` (below `/cloudworks/2/0`), as CloudWorks gives it.
    pub fn reply(&mut self, method: &Method, path: &str) -> Reply {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["integrations", integration, "run"]) => self.run(integration),
            ("POST", ["integrations", integration, "cancel"]) => self.cancel(integration),
            ("GET", ["integrations", "run", run]) => match self.find(run) {
                Some(run) => Reply::ok(envelope("run", run.body())),
                None => Reply::not_found(),
            },
            ("GET", ["integrations", "run", run, "dumps"]) => match self.find(run) {
                Some(run)
                    if run
                        .ended()
                        .is_some_and(|(_, end)| end != Some(RunEnd::Success)) =>
                {
                    Reply::Text(DUMP_ROWS.to_owned())
                }
                Some(_) => refusal(404, "Your integration run was successful / no errors"),
                None => Reply::not_found(),
            },
            ("GET", ["integrations", "runs", integration]) => {
                let runs: Vec<Value> = (self.runs.iter())
                    .filter(|run| run.integration == *integration)
                    .map(Run::body)
                    .collect();
                let total = runs.len();
                let runs = match runs.is_empty() {
                    true => json!({}),
                    false => Value::from(runs),
                };
                Reply::ok(json!({"history_of_runs": {"integrationId": integration,
                    "runs": runs, "totalRuns": total}}))
            }
            _ => Reply::not_found(),
        }
    }

    fn find(&self, id: &str) -> Option<&Run> {
        self.runs.iter().find(|run| run.id == id)
    }

    fn under_way(&mut self, integration: &str) -> Option<&mut Run> {
        (self.runs.iter_mut()).find(|run| run.integration == integration && run.ended().is_none())
    }

    fn run(&mut self, integration: &str) -> Reply {
        if self.under_way(integration).is_some() {
            return refusal(409, "Integration is already running");
        }
        let id = format!("7e{:030x}", self.runs.len() + 1);
        self.start(integration, id.clone(), self.plan);
        Reply::ok(envelope("run", json!({"id": id})))
    }

    fn cancel(&mut self, integration: &str) -> Reply {
        match self.under_way(integration) {
            Some(run) => {
                run.cancelled_at = Some(Instant::now());
                let state = json!({"integration_id": integration, "state": "cancelled"});
                Reply::ok(json!({"success": true, "message": state}))
            }
            None => refusal(409, &format!("{integration} is not in running state")),
        }
    }
}

/// CloudWorks' success envelope around `value`.
fn envelope(key: &str, value: Value) -> Value {
    json!({"status": {"code": 200, "message": "Success"}, key: value})
}

/// CloudWorks' error body.
fn refusal(code: u16, message: &str) -> Reply {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Reply::Json(
        status,
        json!({"status": {"code": code, "message": message}, "path": "", "timestamp": ""}),
    )
}
