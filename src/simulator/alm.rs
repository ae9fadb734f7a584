//! Application lifecycle management on the simulated Anaplan: where ALM tasks are started and
//! read (`/models/{modelId}/alm/…`, no workspace), how their bodies look, and the reports they
//! make, which are read with the revisions of a report's result.

use axum::http::StatusCode;
use serde_json::{Value, json};

use super::reply::Reply;

/// The collections ALM files its tasks under.
const COLLECTIONS: [&str; 3] = ["syncTasks", "comparisonReportTasks", "summaryReportTasks"];

/// A comparison report, as Anaplan writes it: tab-separated text.
pub const COMPARISON_REPORT: &str = "Type\tName\tChange\nLine Item\tRevenue.Price\tModified\n\
List\tProducts\tCreated\n";

/// The revisions the demo's reports compare.
pub const DEMO_SOURCE_REVISION: &str = "E7F7A2B0C1D2E3F405162738495A33BE";
/// The demo's target revision.
pub const DEMO_TARGET_REVISION: &str = "7957A2B0C1D2E3F405162738495A62C4";

/// `(collection, model)` when `path` (below `/2/0`) is where a model's ALM tasks are started
/// and listed.
pub fn target(path: &str) -> Option<(&str, &str)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["models", model, "alm", collection] if COLLECTIONS.contains(collection) => {
            Some((*collection, *model))
        }
        _ => None,
    }
}

/// `(collection, model, task)` when `path` (below `/2/0`) is an ALM task's.
pub fn task_path(path: &str) -> Option<(&str, &str, &str)> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["models", model, "alm", collection, task] if COLLECTIONS.contains(collection) => {
            Some((*collection, *model, *task))
        }
        _ => None,
    }
}

/// A task's status body: ALM's task shape, its result once it is complete. A sync that fails
/// says why in `result.error`; a report that succeeds names its revisions and its file.
pub fn task_body(task: AlmTask<'_>, state: &str) -> Value {
    let mut body = json!({"taskId": task.id, "taskState": state, "creationTime": task.creation_ms,
    "currentStep": match state {
        "NOT_STARTED" => "Waiting to start",
        "IN_PROGRESS" => "Running...",
        _ if task.succeeds => "Complete.",
        _ => "Failed.",
    }});
    if state == "COMPLETE" {
        body["result"] = match task.succeeds {
            true => json!({"successful": true,
                "sourceRevisionId": task.source_revision, "targetRevisionId": task.target_revision,
                "reportFileUrl": format!("https://api.anaplan.com/2/0/models/{}/alm/comparisonReports/{}/{}",
                    task.model, task.target_revision, task.source_revision)}),
            false => json!({"successful": false, "error": {
                "title": "Model Synchronization Failed",
                "messageText": "Your current workspace size is 998.9 MB.",
                "subtitle": "Completing this sync would cause your workspace to exceed its size limit of 1.0 GB."}}),
        };
    }
    json!({"meta": {"schema": "https://api.anaplan.com/2/0/models/objects/task"},
           "status": {"code": 200, "message": "Success"}, "task": body})
}

/// What an ALM task's body is made of.
pub struct AlmTask<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub creation_ms: i64,
    pub succeeds: bool,
    pub source_revision: &'a str,
    pub target_revision: &'a str,
}

/// The revisions a start's body names: `(source, target)`.
pub fn revisions(body: &[u8]) -> (String, String) {
    let body: Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |name: &str| body[name].as_str().unwrap_or_default().to_owned();
    (field("sourceRevisionId"), field("targetRevisionId"))
}

/// A report of two revisions (`…/alm/comparisonReports/{target}/{source}` or
/// `…/summaryReports/…`): a comparison report only to a caller that accepts octets, as
/// Anaplan answers 406 otherwise.
pub fn report(path: &str, accept: &str) -> Option<Reply> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["models", _, "alm", collection, target, source] = segments.as_slice() else {
        return None;
    };
    match *collection {
        "comparisonReports" if accept.contains("application/octet-stream") => {
            Some(Reply::Text(COMPARISON_REPORT.to_owned()))
        }
        "comparisonReports" => Some(Reply::Json(
            StatusCode::NOT_ACCEPTABLE,
            json!({"status": {"code": 406, "message": "Not Acceptable"}}),
        )),
        "summaryReports" => Some(Reply::ok(json!({"summaryReport": {
            "targetRevisionId": target, "sourceRevisionId": source,
            "totals": {"modified": 1, "created": 1},
            "differences": {"lineItems": {"modified": 1}, "lists": {"created": 1}}}}))),
        _ => None,
    }
}
