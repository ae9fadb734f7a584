//! Names for ids: `objectName` instead of `objectId` (and a file's name in an upload's path),
//! resolved from the model's list of that kind: one list call however many callers ask, kept
//! for `GATEWAY_NAMES_TTL`, listed again once on a miss; several matches are 409 with their
//! ids, none is 404. Counts are of upstream list calls.

use std::time::Duration;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::Value;

use crate::helpers::*;
use anaplan_gateway::simulator::Reply;

/// Where Anaplan lists the model's imports.
fn imports() -> String {
    format!("/workspaces/{WORKSPACE}/models/{MODEL}/imports")
}

fn lists(app: &TestApp) -> usize {
    app.anaplan.calls(Method::GET, &imports())
}

/// The gateway path of the task, its import named `name` (encoded as a query is).
fn named_route(name: &str) -> String {
    let name: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    format!("/tasks/import/{TASK}?modelId={MODEL}&objectName={name}&workspaceId={WORKSPACE}")
}

async fn app_with_imports() -> TestApp {
    let app = spawn_app().await;
    app.anaplan
        .list_object("imports", IMPORT, "Import Employees.csv");
    app.anaplan
        .list_object("imports", "112000000010", "Import Salaries.csv");
    app.anaplan.on(&import_path(TASK), running_at(0.5));
    app
}

#[tokio::test(start_paused = true)]
async fn many_callers_asking_by_name_cost_one_list_call_and_get_both_id_and_name() {
    let app = app_with_imports().await;
    // Anaplan takes a second to list: every caller comes while the one list call is out.
    let list = serde_json::json!({"imports": [{"id": IMPORT, "name": "Import Employees.csv"}]});
    let slow = Reply::After(Duration::from_secs(1), Box::new(Reply::ok(list)));
    app.anaplan.on(&imports(), slow);
    let route = named_route("Import Employees.csv");
    let answers = join_all((0..50).map(|_| app.get(&route))).await;
    for answer in answers {
        assert_eq!(answer.status(), 200);
        let task: Value = answer.json().await.unwrap();
        assert_eq!(task["objectId"], IMPORT);
        assert_eq!(task["objectName"], "Import Employees.csv");
    }
    assert_eq!(lists(&app), 1, "one list call for fifty callers");
    assert_eq!(app.anaplan.calls(Method::GET, &import_path(TASK)), 1);

    // Case is ignored where nothing matches exactly; the answer spells the name as Anaplan does.
    let task: Value = app
        .get(&named_route("import EMPLOYEES.csv"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(task["objectName"], "Import Employees.csv");
    assert_eq!(lists(&app), 1, "the list is kept");
}

#[tokio::test(start_paused = true)]
async fn an_unknown_name_is_listed_again_once_and_then_404_and_a_new_object_is_found() {
    let app = app_with_imports().await;
    app.get(&named_route("Import Employees.csv")).await;
    tokio::time::sleep(Duration::from_secs(10)).await;

    let unknown = app.get(&named_route("Import Products.csv")).await;
    assert_eq!(unknown.status(), 404);
    let problem: Value = unknown.json().await.unwrap();
    assert_eq!(problem["type"], "urn:anaplan-gateway:problem:no-such-name");
    assert_eq!(lists(&app), 2, "listed again once for the miss");
    // Made-up names right after cost nothing more: the list was just made.
    for name in ["Nope", "Nope either", "Still nope"] {
        assert_eq!(app.get(&named_route(name)).await.status(), 404);
    }
    assert_eq!(lists(&app), 2);

    // An import added to the model is found by the next miss past the poll interval.
    app.anaplan
        .list_object("imports", "112000000012", "Import Products.csv");
    app.anaplan.on(
        &import_path(TASK).replace(IMPORT, "112000000012"),
        running_at(0.1),
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    let found: Value = app
        .get(&named_route("Import Products.csv"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["objectId"], "112000000012");
    assert_eq!(lists(&app), 3);
}

#[tokio::test(start_paused = true)]
async fn a_list_is_kept_for_the_names_ttl_then_made_again() {
    let app = app_with_imports().await;
    app.get(&named_route("Import Employees.csv")).await;
    tokio::time::sleep(Duration::from_secs(4 * 60)).await;
    app.get(&named_route("Import Employees.csv")).await;
    assert_eq!(lists(&app), 1, "kept within GATEWAY_NAMES_TTL (5m)");
    tokio::time::sleep(Duration::from_secs(2 * 60)).await;
    app.get(&named_route("Import Employees.csv")).await;
    assert_eq!(lists(&app), 2, "made again past it");
}

#[tokio::test(start_paused = true)]
async fn a_name_several_objects_share_is_409_with_their_ids() {
    let app = app_with_imports().await;
    app.anaplan.list_object("imports", "112000000013", "Twice");
    app.anaplan.list_object("imports", "112000000014", "Twice");
    let answer = app.get(&named_route("Twice")).await;
    assert_eq!(answer.status(), 409);
    let problem: Value = answer.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "urn:anaplan-gateway:problem:ambiguous-name"
    );
    assert_eq!(
        problem["candidates"],
        serde_json::json!(["112000000013", "112000000014"])
    );
}

#[tokio::test(start_paused = true)]
async fn bad_names_are_refused_before_anything_reaches_anaplan() {
    let app = app_with_imports().await;
    let both = format!("{}&objectId={IMPORT}", named_route("Import Employees.csv"));
    let alm = format!("/tasks/alm-sync/{TASK}?modelId={MODEL}&objectName=Sync");
    let too_long = named_route(&"x".repeat(256));
    for route in [
        both,
        alm,
        too_long,
        named_route(" "),
        named_route("tab\there"),
    ] {
        let answer = app.get(&route).await;
        assert_eq!(answer.status(), 400, "{route}");
    }
    assert_eq!(app.anaplan.api_calls(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_start_and_a_list_take_a_name_too() {
    let app = app_with_imports().await;
    let start = format!(
        "/tasks/import?modelId={MODEL}&objectName=Import%20Salaries.csv&workspaceId={WORKSPACE}"
    );
    let started = app.http.post(app.url(&start)).send().await.unwrap();
    assert_eq!(started.status(), 202);
    let location = started.headers()["location"].to_str().unwrap().to_owned();
    assert!(location.contains("objectId=112000000010"), "{location}");
    let listed = app.get(&start).await;
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["tasks"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(lists(&app), 1);
}

#[tokio::test(start_paused = true)]
async fn an_upload_names_its_file_by_name() {
    let app = spawn_app().await;
    app.anaplan.list_file("113000000000", "Employees.csv");
    let route = format!("/models/{MODEL}/files/employees.csv?workspaceId={WORKSPACE}");
    let answer = app.http.put(app.url(&route)).body("Employee\nAnn\n");
    let answer = answer.send().await.unwrap();
    assert_eq!(answer.status(), 200);
    let uploaded: Value = answer.json().await.unwrap();
    assert_eq!(uploaded["fileId"], "113000000000");
    assert_eq!(uploaded["fileName"], "Employees.csv");
    let unknown = format!("/models/{MODEL}/files/Products.csv?workspaceId={WORKSPACE}");
    let answer = app
        .http
        .put(app.url(&unknown))
        .body("x\n")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 404);
}

#[tokio::test(start_paused = true)]
async fn a_failed_list_call_is_every_waiting_callers_answer_and_not_asked_again_at_once() {
    let app = app_with_imports().await;
    let failing = Reply::After(Duration::from_secs(1), Box::new(Reply::status(500)));
    app.anaplan.on(&imports(), failing);
    let route = named_route("Import Employees.csv");
    let answers = join_all((0..20).map(|_| app.get(&route))).await;
    assert!(answers.iter().all(|answer| answer.status() == 502));
    assert_eq!(app.get(&route).await.status(), 502);
    assert_eq!(
        lists(&app),
        1,
        "one failed call answers every caller within the interval"
    );
    tokio::time::sleep(Duration::from_secs(6)).await;
    app.get(&route).await;
    assert_eq!(lists(&app), 2, "asked again past the poll interval");
}

#[tokio::test(start_paused = true)]
async fn a_name_on_a_later_page_of_the_list_is_found() {
    let app = app_with_imports().await;
    app.anaplan.page_names(2);
    for n in 11..=13 {
        let id = format!("1120000000{n}");
        app.anaplan
            .list_object("imports", &id, &format!("Import {n}.csv"));
    }
    app.anaplan.on(
        &import_path(TASK).replace(IMPORT, "112000000013"),
        running_at(0.2),
    );
    let found: Value = app
        .get(&named_route("Import 13.csv"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(found["objectId"], "112000000013");
    // Five imports two to a page: the list is read at offsets 0, 2 and 4, once each.
    assert_eq!(lists(&app), 3);
}
