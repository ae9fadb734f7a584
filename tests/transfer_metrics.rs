//! `anaplan_gateway_transfer_bytes_total` on the admin listener: the bytes callers were given and
//! sent. Apart from tests/metrics.rs, since a transfer's calls move the series that test counts
//! exactly (the recorder is process-wide).

#[path = "api/helpers.rs"]
mod helpers;

use helpers::*;

/// Transfers count the bytes their callers sent and were given.
#[tokio::test(start_paused = true)]
async fn transfers_count_their_bytes_both_ways() {
    let app = spawn_app().await;
    let (export, export_task) = ("116000000002", "BFEC582EBD4146068FE4061831C8F0F0");
    let status =
        format!("/workspaces/{WORKSPACE}/models/{MODEL}/exports/{export}/tasks/{export_task}");
    app.anaplan
        .on(&status, Reply::ok(fixture("export_complete.json")));
    let chunks = vec![
        bytes::Bytes::from("a,b\n"),
        bytes::Bytes::from("1,2\n3,4\n"),
    ];
    app.anaplan.put_file(
        export,
        anaplan_gateway::simulator::FileContent::Stored(chunks),
    );
    let file = format!(
        "/tasks/export/{export_task}/file?modelId={MODEL}&objectId={export}&workspaceId={WORKSPACE}"
    );
    assert_eq!(
        app.get(&file).await.text().await.unwrap(),
        "a,b\n1,2\n3,4\n"
    );
    app.anaplan.list_file("113000000000", "Employees.csv");
    let upload = app.url(&format!(
        "/models/{MODEL}/files/113000000000?workspaceId={WORKSPACE}"
    ));
    let uploaded = app
        .http
        .put(upload)
        .body(vec![b'x'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    let metrics_url = format!("http://{}/metrics", app.admin_address);
    let text = app
        .http
        .get(metrics_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bytes = |direction: &str| {
        let name = format!(r#"anaplan_gateway_transfer_bytes_total{{direction="{direction}"}}"#);
        sample(&text, &name)
    };
    assert_eq!(bytes("download"), 12.0);
    assert_eq!(bytes("upload"), 1000.0);
}
