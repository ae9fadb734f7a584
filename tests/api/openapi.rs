//! The checked-in `openapi/openapi.json` is the document the code generates.
//! Regenerate it with `UPDATE_OPENAPI=1 cargo test --test api openapi`.

use crate::helpers::*;
use serde_json::Value;

const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");

#[test]
fn the_checked_in_document_matches_the_code() {
    let generated = anaplan_gateway::api::openapi().to_pretty_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(CHECKED_IN, &generated).unwrap();
    }
    let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
    assert!(
        checked_in == generated,
        "openapi/openapi.json is out of date: run `UPDATE_OPENAPI=1 cargo test --test api openapi`"
    );
}

#[test]
fn the_document_describes_every_route_and_error() {
    let document: Value = serde_json::to_value(anaplan_gateway::api::openapi()).unwrap();
    let task = &document["paths"]["/tasks/{kind}/{taskId}"];
    for method in ["get", "delete"] {
        let responses = &task[method]["responses"];
        for status in ["200", "400", "404", "409", "502", "503", "504"] {
            assert!(responses[status].is_object(), "{method} {status}");
        }
        let params: Vec<&str> = task[method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        let conditional: &[&str] = match method {
            "get" => &["If-None-Match", "Prefer"],
            _ => &[],
        };
        let names = [
            "kind",
            "taskId",
            "modelId",
            "objectId",
            "objectName",
            "workspaceId",
        ];
        let expected: Vec<&str> = names
            .into_iter()
            .chain(conditional.iter().copied())
            .collect();
        assert_eq!(params, expected);
    }
    assert!(document["paths"]["/models/{modelId}/status"]["get"].is_object());
    let schemas = &document["components"]["schemas"];
    for schema in [
        "Task",
        "TaskResult",
        "NestedResult",
        "Detail",
        "TaskState",
        "TaskKind",
        "ModelStatus",
        "ModelState",
        "Activity",
        "Problem",
    ] {
        assert!(schemas[schema].is_object(), "schema {schema}");
    }
    assert_eq!(schemas["Task"]["example"]["state"], "succeeded");
    // Every required field of a task's result is in the example, so generated clients and
    // linters accept it.
    let result_example = &schemas["Task"]["example"]["result"];
    for field in schemas["TaskResult"]["required"].as_array().unwrap() {
        let field = field.as_str().unwrap();
        assert!(
            !result_example[field].is_null() || field == "objectName",
            "{field}"
        );
    }
    // An event stream is text to a generated client (its schema admits a string), and to a
    // validator reading it as events, each one a TaskEvent.
    let events = &document["paths"]["/tasks/{kind}/{taskId}/events"]["get"]["responses"]["200"];
    let stream = &events["content"]["text/event-stream"];
    let branches = stream["schema"]["anyOf"].as_array().unwrap();
    assert!(branches.iter().any(|branch| branch["type"] == "string"));
    assert_eq!(
        stream["itemSchema"]["$ref"],
        "#/components/schemas/TaskEvent"
    );
    assert_eq!(
        schemas["TaskEvent"]["required"],
        serde_json::json!(["data"])
    );
    assert!(
        stream["example"]
            .as_str()
            .unwrap()
            .starts_with("event: status\n")
    );
}

#[tokio::test]
async fn the_document_and_swagger_ui_are_served_from_the_binary() {
    let app = spawn_app().await;
    let served: Value = app.get("/openapi.json").await.json().await.unwrap();
    assert_eq!(
        served,
        serde_json::to_value(anaplan_gateway::api::openapi()).unwrap()
    );
    let docs = app.get("/docs/").await;
    assert_eq!(docs.status(), 200);
    let page = docs.text().await.unwrap();
    assert!(page.contains("swagger-ui"));
    assert!(
        !page.contains("cdn") && !page.contains("unpkg"),
        "no assets from a CDN"
    );
    let script = app.get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(
        script.status(),
        200,
        "Swagger UI's assets are in the binary"
    );
    assert_eq!(app.anaplan.total_calls(), 0);
}

#[test]
fn an_operation_offers_no_example_for_both_object_id_and_object_name() {
    // Swagger UI's "Try it out" fills every example in; both together are a 400.
    let document: Value = serde_json::to_value(anaplan_gateway::api::openapi()).unwrap();
    let mut named = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let parameters = operation["parameters"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let find = |name: &str| parameters.iter().find(|p| p["name"] == name).cloned();
            if let (Some(id), Some(name)) = (find("objectId"), find("objectName")) {
                named += 1;
                let examples = [&id, &name].map(|p| !p["example"].is_null());
                assert_ne!(examples, [true, true], "{method} {path}");
            }
        }
    }
    assert!(
        named >= 9,
        "objectName is offered on every route taking objectId"
    );
}
