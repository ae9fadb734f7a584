//! CloudWorks' JSON for integration runs, read as leniently as the Integration API's
//! (<https://cloudworks.docs.apiary.io>): a run's status, an integration's history of runs, and
//! a started run's id. A run has no state field: its `endDate`, `success` and `message` say it.

use serde::Deserialize;
use serde_json::Value;

use super::wire::{flag, id_text, number};

/// `{"status": {…}, "run": {…}}` from `GET /integrations/run/{runId}`.
#[derive(Debug, Deserialize)]
pub struct RunEnvelope {
    /// The run.
    pub run: WireRun,
}

/// A CloudWorks run as CloudWorks reports it.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireRun {
    /// The run id (lower-case hex).
    #[serde(default, deserialize_with = "id_text")]
    pub id: Option<String>,
    /// The integration the run belongs to.
    #[serde(default, deserialize_with = "id_text")]
    pub integration_id: Option<String>,
    /// When the run started (ISO 8601).
    pub start_date: Option<String>,
    /// When it ended; absent while it runs.
    pub end_date: Option<String>,
    /// Whether it worked, once it has ended (partial success counts).
    #[serde(default, deserialize_with = "flag")]
    pub success: Option<bool>,
    /// `Running`, `Success`, `Cancelled`, `Process failed`, row counts, …
    pub message: Option<String>,
    /// Null on success; 38 is partial success; other codes are Anaplan's to explain.
    #[serde(default, deserialize_with = "number")]
    pub execution_error_code: Option<i64>,
    /// `manual`, `scheduled`, …
    pub trigger_source: Option<String>,
    /// When the run was created (ISO 8601).
    pub creation_date: Option<String>,
}

impl WireRun {
    /// When the run started (or else was created), in milliseconds since the epoch.
    pub fn started_ms(&self) -> Option<i64> {
        let date = self
            .start_date
            .as_deref()
            .or(self.creation_date.as_deref())?;
        let date = chrono::DateTime::parse_from_rfc3339(date).ok()?;
        Some(date.timestamp_millis())
    }
}

/// An integration's runs, from `GET /integrations/runs/{integrationId}`:
/// `{"history_of_runs": {"runs": […], "totalRuns": n}}`, the runs absent or `{}` when there
/// are none. A body that is neither is refused, never read as an empty history.
pub fn listed_runs(body: Value) -> Result<Vec<WireRun>, String> {
    let history = match body {
        Value::Object(mut fields) => fields.remove("history_of_runs"),
        _ => return Err("a history of runs that is not an object".into()),
    };
    let Some(Value::Object(mut history)) = history else {
        return Err("no `history_of_runs` object in the answer".into());
    };
    let runs = match history.remove("runs") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(none)) if none.is_empty() => return Ok(Vec::new()),
        Some(runs @ Value::Array(_)) => runs,
        Some(_) => return Err("`runs` is not a list".into()),
    };
    let runs: Vec<WireRun> = serde_json::from_value(runs).map_err(|err| err.to_string())?;
    match runs.iter().any(|run| run.id.is_none()) {
        true => Err("a listed run has no id".into()),
        false => Ok(runs),
    }
}

/// `{"status": {…}, "run": {"id": …}}` from `POST /integrations/{integrationId}/run`.
#[derive(Debug, Deserialize)]
pub struct StartedRun {
    /// The new run.
    pub run: WireRun,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_reads_its_runs_and_an_empty_one_reads_as_none() {
        let body = serde_json::json!({"history_of_runs": {"runs": [
            {"id": "91a01d97958d44baaa58ad8a3d45804e", "success": "true", "endDate": "x"},
            {"id": 7, "executionErrorCode": "38"}
        ], "totalRuns": 2}});
        let runs = listed_runs(body).unwrap();
        assert_eq!(runs[0].success, Some(true));
        assert_eq!(runs[1].id.as_deref(), Some("7"));
        assert_eq!(runs[1].execution_error_code, Some(38));
        for empty in [
            serde_json::json!({"history_of_runs": {"runs": {}, "totalRuns": 0}}),
            serde_json::json!({"history_of_runs": {"totalRuns": 0}}),
        ] {
            assert!(listed_runs(empty).unwrap().is_empty());
        }
    }

    #[test]
    fn a_body_that_is_no_history_is_refused_never_empty() {
        for body in [
            serde_json::json!([]),
            serde_json::json!({"runs": []}),
            serde_json::json!({"history_of_runs": {"runs": 3}}),
            serde_json::json!({"history_of_runs": {"runs": [{"success": true}]}}),
        ] {
            assert!(listed_runs(body.clone()).is_err(), "{body}");
        }
    }
}
