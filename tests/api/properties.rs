//! Property tests of everything that reads untrusted bytes: Anaplan's JSON through the
//! normalisers, the callers' paths and queries, and `Retry-After`. Nothing panics, and an id that
//! passes its check is exactly Anaplan's alphabet. `PROPTEST_CASES` sets how many inputs each
//! property tries (`.ci/run` raises it).

use anaplan_gateway::address::{ModelAddress, Scope, TaskAddress, Tenant};
use anaplan_gateway::api::params::{model_request, task_request};
use anaplan_gateway::ids::{ModelId, ObjectId, TaskId, TaskKind, WorkspaceId};
use anaplan_gateway::schema::{ModelReport, TaskStatus};
use anaplan_gateway::upstream::runs::{self, RunEnvelope};
use anaplan_gateway::upstream::wire::{self, ReadRequestEnvelope, TaskEnvelope};
use anaplan_gateway::upstream::{WireTaskStatus, parse_retry_after};
use axum::http::Uri;
use proptest::prelude::*;
use serde_json::{Value, json};
use std::time::Duration;

const WORKSPACE: &str = "8a8196b15b7dbae6015b8694411d13fe";
const MODEL: &str = "75A40874E6B64FA3AE0743278996850F";

/// The keys of Anaplan's task, read request and model status shapes.
const KEYS: &[&str] = &[
    "task",
    "taskState",
    "requestState",
    "progress",
    "currentStep",
    "result",
    "details",
    "values",
    "nestedResults",
    "successful",
    "failureDumpAvailable",
    "objectId",
    "creationTime",
    "viewReadRequest",
    "listReadRequest",
    "availablePages",
    "requestStatus",
    "tooltip",
    "taskId",
    "occurrences",
    "localMessageText",
    "type",
    "meta",
];
/// Values Anaplan gives meaning to.
const STATES: &[&str] = &[
    "COMPLETE",
    "IN_PROGRESS",
    "CANCELLED",
    "NOT_STARTED",
    "Processing ...",
];

/// Any JSON value, a few levels deep, with the keys Anaplan's shapes use so that the normalisers
/// meet them with every type in every place.
fn json_value() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        prop::sample::select(KEYS).prop_map(str::to_owned),
        "[a-z]{1,8}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::from),
        prop::sample::select(STATES).prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::from),
            prop::collection::btree_map(key.clone(), inner, 0..8)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

fn address(kind: TaskKind) -> TaskAddress {
    let model = ModelAddress::new(
        WorkspaceId::parse("workspaceId", WORKSPACE).unwrap(),
        ModelId::parse("modelId", MODEL).unwrap(),
    );
    let object = ObjectId::parse("objectId", "112000000009").unwrap();
    let task = TaskId::parse("taskId", "1B1D84DDD53847BAA621810B593C3FC1").unwrap();
    TaskAddress::new(Scope::Model(model), kind, Some(object), task)
}

/// Normalises `body` the way the client does for every shape; any outcome but a panic is fine.
fn normalise_everything(body: &[u8]) {
    if let Ok(envelope) = serde_json::from_slice::<TaskEnvelope>(body) {
        let task = TaskStatus::from_wire(
            &address(TaskKind::Process),
            WireTaskStatus::Task(envelope.task),
        );
        serde_json::to_vec(&task).unwrap();
    }
    if let Ok(envelope) = serde_json::from_slice::<ReadRequestEnvelope>(body)
        && let Some(request) = envelope.into_request()
    {
        let wire = WireTaskStatus::ReadRequest(request);
        serde_json::to_vec(&TaskStatus::from_wire(&address(TaskKind::ViewRead), wire)).unwrap();
    }
    let value = serde_json::from_slice::<Value>(body).unwrap_or_default();
    if let Ok(status) = wire::model_status(value.clone()) {
        let at = address(TaskKind::Import);
        let report = ModelReport::from_wire(at.model().unwrap(), status);
        serde_json::to_vec(&report).unwrap();
    }
    if let Ok(envelope) = serde_json::from_slice::<RunEnvelope>(body) {
        let wire = WireTaskStatus::Run(envelope.run);
        serde_json::to_vec(&TaskStatus::from_wire(&run_address(), wire)).unwrap();
    }
    let _ = runs::listed_runs(value.clone());
    let _ = wire::listed_tasks(value);
}

/// A CloudWorks run's address, in the tenant's scope.
fn run_address() -> TaskAddress {
    let kind = TaskKind::IntegrationRun;
    let integration = ObjectId::parse_for(kind, "objectId", "c0ffee00a1b24c3d9e8f7a6b5c4d3e2f");
    let task = TaskId::parse("taskId", "3f0c9a5e7b214d6c8e1a2b3c4d5e6f70").unwrap();
    let scope = Scope::Tenant(Tenant::Default);
    TaskAddress::new(scope, kind, Some(integration.unwrap()), task)
}

fn is_hex32(text: &str) -> bool {
    text.len() == 32 && text.bytes().all(|b| b.is_ascii_hexdigit())
}

proptest! {
    #[test]
    fn the_normalisers_read_any_json_without_panicking(value in json_value()) {
        let wrapped = [
            json!({"task": value.clone()}),
            json!({"viewReadRequest": value.clone()}),
            json!({"listReadRequest": value.clone()}),
            json!({"requestStatus": value.clone()}),
            json!({"run": value.clone()}),
            json!({"history_of_runs": value.clone()}),
            value,
        ];
        for body in wrapped {
            normalise_everything(&serde_json::to_vec(&body).unwrap());
        }
    }

    #[test]
    fn the_normalisers_read_any_bytes_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        normalise_everything(&bytes);
    }

    #[test]
    fn ids_that_pass_are_exactly_anaplans_alphabet(text in "\\PC{0,40}|[0-9A-Fa-f]{30,34}|[0-9]{0,22}") {
        prop_assert_eq!(TaskId::parse("taskId", &text).is_ok(), is_hex32(&text));
        prop_assert_eq!(ModelId::parse("modelId", &text).is_ok(), is_hex32(&text));
        prop_assert_eq!(WorkspaceId::parse("workspaceId", &text).is_ok(), is_hex32(&text));
        let digits = (1..=20).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit());
        prop_assert_eq!(ObjectId::parse("objectId", &text).is_ok(), digits);
        let integration = ObjectId::parse_for(TaskKind::IntegrationRun, "objectId", &text);
        prop_assert_eq!(integration.is_ok(), is_hex32(&text));
        if let Ok(task) = TaskId::parse("taskId", &text) {
            prop_assert_eq!(task.as_str(), text.as_str());
            let upper = task.in_case_of(TaskKind::Import);
            prop_assert_eq!(upper.as_str(), text.to_ascii_uppercase());
            let lower = task.in_case_of(TaskKind::IntegrationRun);
            prop_assert_eq!(lower.as_str(), text.to_ascii_lowercase());
        }
    }

    #[test]
    fn any_path_and_query_is_read_without_panicking(
        kind in "[a-z-]{0,10}|import|view-read|integration-run|%[0-9A-F]{2}",
        task in "\\PC{0,40}|[0-9a-fA-F%]{30,40}",
        query in "[a-zA-Z0-9=&%+_.-]{0,80}",
    ) {
        let text = format!("/tasks/{kind}/{task}?{query}");
        let Ok(uri) = text.parse::<Uri>() else { return Ok(()) };
        if let Ok(request) = task_request(&uri, None) {
            prop_assert!(is_hex32(request.task.as_str()));
            let object = request.object.unwrap();
            match request.model {
                Some(model) => {
                    prop_assert!(is_hex32(model.as_str()));
                    prop_assert!(object.as_str().bytes().all(|b| b.is_ascii_digit()));
                }
                None => prop_assert!(is_hex32(object.as_str())),
            }
        }
        let text = format!("/models/{task}/status?{query}");
        if let Ok(uri) = text.parse::<Uri>()
            && let Ok(request) = model_request(&uri)
        {
            prop_assert!(is_hex32(request.model.as_str()));
        }
    }

    #[test]
    fn any_retry_after_is_read_without_panicking(
        text in "\\PC{0,40}|[0-9]{1,30}|[A-Z][a-z]{2}, [0-9]{2} [A-Z][a-z]{2} [0-9]{4} [0-9:]{8} GMT",
    ) {
        let parsed = parse_retry_after(&text);
        if let Ok(seconds) = text.trim().parse::<u64>() {
            prop_assert_eq!(parsed, Some(Duration::from_secs(seconds)));
        }
    }
}
