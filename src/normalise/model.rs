//! Model status, from either wire shape to the normalised [`ModelReport`].

use super::progress;
use crate::address::ModelAddress;
use crate::schema::{Activity, ModelReport, ModelState, Person};
use crate::upstream::wire::WireModelStatus;

fn model_state(step: Option<&str>) -> ModelState {
    let step = step.unwrap_or_default().trim().to_ascii_lowercase();
    match step.as_str() {
        "open" => ModelState::Open,
        "closed" => ModelState::Closed,
        "closing" => ModelState::Closing,
        _ if step.starts_with("processing") => ModelState::Processing,
        _ if step.starts_with("updating") => ModelState::Updating,
        _ if step.contains("maintenance") => ModelState::Maintenance,
        _ => ModelState::Unknown,
    }
}

/// The rest of the first line that contains `marker` (matched without regard to case).
fn after<'t>(text: &'t str, marker: &str) -> Option<&'t str> {
    text.lines().find_map(|line| {
        let at = line.to_ascii_lowercase().find(marker)?;
        let rest = line[at + marker.len()..].trim();
        (!rest.is_empty()).then_some(rest)
    })
}

/// `Jesse Smith (jesse.smith@yourcompany.com)` → name and email.
fn person(text: &str) -> Person {
    match text.strip_suffix(')').and_then(|t| t.rsplit_once(" (")) {
        Some((name, email)) => Person {
            name: Some(name.trim().to_owned()),
            email: Some(email.trim().to_owned()),
        },
        None => Person {
            name: Some(text.to_owned()),
            email: None,
        },
    }
}

/// Reads what it can from the tooltip; any other wording leaves fields empty, never fails.
fn activity(tooltip: Option<&str>, task_id: Option<String>) -> Option<Activity> {
    let tooltip = tooltip.unwrap_or_default();
    let kind = after(tooltip, "processing an ")
        .or_else(|| after(tooltip, "processing a "))
        .map(|rest| rest.trim_end_matches(':').trim().to_ascii_lowercase());
    let activity = Activity {
        kind,
        task_id,
        started_by: after(tooltip, "started by user ").map(person),
        started_at: after(tooltip, "started at ").map(str::to_owned),
    };
    (activity != Activity::default()).then_some(activity)
}

impl ModelReport {
    /// Normalises `requestStatus` for the model at `at`.
    pub fn from_wire(at: &ModelAddress, wire: WireModelStatus) -> Self {
        let state = model_state(wire.current_step.as_deref());
        let busy = matches!(state, ModelState::Processing | ModelState::Updating);
        ModelReport {
            model_id: at.model.to_string(),
            workspace_id: at.workspace.to_string(),
            state,
            busy,
            progress: progress(wire.progress),
            // An idle model has no activity, whatever stale text Anaplan leaves behind.
            activity: busy
                .then(|| activity(wire.tooltip.as_deref(), wire.task_id))
                .flatten(),
            current_step: wire.current_step,
            tooltip: wire.tooltip,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ModelId, WorkspaceId};
    use crate::normalise::fixture;
    use crate::upstream::wire;

    fn model_report(body: &str) -> ModelReport {
        let status = wire::model_status(serde_json::from_str(body).unwrap()).unwrap();
        let at = ModelAddress::new(
            WorkspaceId::parse("w", "8a8196b15b7dbae6015b8694411d13fe").unwrap(),
            ModelId::parse("m", "75A40874E6B64FA3AE0743278996850F").unwrap(),
        );
        ModelReport::from_wire(&at, status)
    }

    fn model_fixture(name: &str) -> ModelReport {
        model_report(&fixture(name))
    }

    /// Some of Anaplan's examples give the status alone, without `requestStatus` around it; a
    /// body that is neither is unreadable, never a status of nothing.
    #[test]
    fn a_model_status_without_its_request_status_reads_the_same() {
        let alone = r#"{"currentStep":"Closed","progress":-1.0,"tooltip":null,"taskId":null}"#;
        let wrapped = format!(r#"{{"requestStatus":{alone}}}"#);
        let json = |report: ModelReport| serde_json::to_value(report).unwrap();
        assert_eq!(json(model_report(alone)), json(model_report(&wrapped)));
        assert_eq!(model_report(alone).state, ModelState::Closed);
        assert!(wire::model_status(serde_json::json!({"model": {}})).is_err());
        assert!(wire::model_status(serde_json::json!([])).is_err());
    }

    #[test]
    fn a_busy_model_reads_its_activity_from_the_tooltip() {
        let status = model_fixture("model_status_export.json");
        assert_eq!(status.state, ModelState::Processing);
        assert!(status.busy);
        assert_eq!(status.progress, Some(0.44110000000000005));
        assert_eq!(
            status.activity,
            Some(Activity {
                kind: Some("export".into()),
                task_id: Some("6EB7F52C07CA4E86909A213C608765A1-11".into()),
                started_by: Some(Person {
                    name: Some("Jesse Smith".into()),
                    email: Some("jesse.smith@yourcompany.com".into()),
                }),
                started_at: Some("11:23 (UTC)".into()),
            })
        );
    }

    #[test]
    fn both_model_status_shapes_and_idle_models() {
        let bare = model_fixture("model_status_import_bare.json");
        assert_eq!(bare.state, ModelState::Processing);
        assert_eq!(bare.activity.unwrap().kind.as_deref(), Some("import"));

        let open = model_fixture("model_status_open.json");
        assert_eq!((open.state, open.busy), (ModelState::Open, false));
        assert_eq!(open.progress, None);
        assert_eq!(open.activity, None);

        let updating = model_fixture("model_status_updating.json");
        assert_eq!(
            (updating.state, updating.busy),
            (ModelState::Updating, true)
        );
        assert_eq!(
            updating.activity, None,
            "nothing is known about a writeback"
        );
    }

    #[test]
    fn other_tooltip_wording_and_steps_never_fail() {
        let odd = activity(Some("Something else entirely"), None);
        assert_eq!(odd, None);
        let partial = activity(
            Some("Process started by user svc-account"),
            Some("ABC".into()),
        );
        let partial = partial.unwrap();
        assert_eq!(
            partial.started_by.unwrap().name.as_deref(),
            Some("svc-account")
        );
        assert_eq!(partial.kind, None);
        assert_eq!(model_state(Some("Hibernating")), ModelState::Unknown);
        assert_eq!(model_state(Some("Closed")), ModelState::Closed);
        assert_eq!(model_state(None), ModelState::Unknown);
    }
}
