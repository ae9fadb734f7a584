//! Guarding the tenant: `GATEWAY_ALLOWED_MODELS` limits the models the gateway asks about, and
//! a refused request sends nothing upstream, not even a workspace lookup.

use crate::helpers::*;

const OTHER_MODEL: &str = "95A40874E6B64FA3AE0743278996850F";

#[tokio::test(start_paused = true)]
async fn a_model_outside_the_allow_list_is_refused_with_no_upstream_call() {
    let allowed = format!("{WORKSPACE}/{MODEL}");
    let app = spawn_app_with(&["--allowed-models", &allowed]).await;
    let other = format!("modelId={OTHER_MODEL}&objectId={IMPORT}");
    let elsewhere = "workspaceId=9a8196b15b7dbae6015b8694411d13fe";
    let refused = [
        format!("/tasks/import/{TASK}?{other}"),
        format!("/tasks/import/{TASK}/events?{other}"),
        format!("/tasks/import/{TASK}/dump?{other}"),
        format!("/tasks/import?{other}"),
        format!("/models/{OTHER_MODEL}/status"),
        format!("/tasks/import/{TASK}?modelId={MODEL}&objectId={IMPORT}&{elsewhere}"),
    ];
    for route in &refused {
        let response = app.get(route).await;
        assert_eq!(response.status(), 403, "{route}");
        let problem: serde_json::Value = response.json().await.unwrap();
        assert_eq!(
            problem["type"],
            "urn:anaplan-gateway:problem:model-not-allowed"
        );
    }
    let cancel = app.delete(&format!("/tasks/import/{TASK}?{other}")).await;
    assert_eq!(cancel.status(), 403);
    assert_eq!(app.anaplan.total_calls(), 0, "nothing reached Anaplan");
}

#[tokio::test(start_paused = true)]
async fn an_allowed_model_is_asked_about_in_the_workspace_the_list_names() {
    let allowed = format!("{WORKSPACE}/{MODEL}");
    let app = spawn_app_with(&["--allowed-models", &allowed]).await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    // No workspaceId: the allow-list names it, so the model is not looked up.
    let route = format!("/tasks/import/{TASK}?modelId={MODEL}&objectId={IMPORT}");
    assert_eq!(app.get(&route).await.status(), 200);
    let lookups = app
        .anaplan
        .calls(reqwest::Method::GET, &format!("/models/{MODEL}"));
    assert_eq!(lookups, 0);
}

#[test]
fn a_malformed_allow_list_stops_the_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_anaplan-gateway"))
        .args([
            "--allowed-models",
            "not-a-model",
            "--username",
            "u",
            "--password",
            "p",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("GATEWAY_ALLOWED_MODELS"), "{stderr}");
}

/// Opens a connection and sends the start of a request whose headers never finish.
async fn half_open(address: std::net::SocketAddr) -> tokio::net::TcpStream {
    use tokio::io::AsyncWriteExt;
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream
        .write_all(b"GET /tasks/import HTTP/1.1\r\nHost: gateway\r\nX-Slow: ")
        .await
        .unwrap();
    stream
}

/// Whether the gateway closed `stream` (it reads end of stream, or a reset) within an hour of
/// the tests' paused clock: never open for good.
async fn closed(stream: &mut tokio::net::TcpStream) -> bool {
    use tokio::io::AsyncReadExt;
    let mut buffer = [0u8; 512];
    let until_closed = async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                // A 408 or similar before the close is fine: read on to the end.
                Ok(_) => continue,
            }
        }
    };
    let an_hour = std::time::Duration::from_secs(3600);
    tokio::time::timeout(an_hour, until_closed).await.is_ok()
}

#[tokio::test(start_paused = true)]
async fn headers_that_never_finish_are_cut_off_after_the_header_timeout() {
    let app = spawn_app_with(&["--header-timeout", "10s"]).await;
    let started = tokio::time::Instant::now();
    let mut slow = half_open(app.address).await;
    assert!(closed(&mut slow).await);
    let held_for = started.elapsed();
    assert!(
        held_for >= std::time::Duration::from_secs(10)
            && held_for < std::time::Duration::from_secs(11),
        "{held_for:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn past_the_connection_cap_callers_wait_while_probes_are_answered() {
    let app = spawn_app_with(&["--max-connections", "2", "--header-timeout", "10s"]).await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    let _slow = [half_open(app.address).await, half_open(app.address).await];
    // Both places are taken: a real caller waits (in the listen backlog) ...
    let caller = {
        let request = app.http.get(app.url(&import_route(TASK)));
        tokio::spawn(async move { request.send().await.unwrap().status() })
    };
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    assert!(!caller.is_finished(), "answered past the cap");
    // ... while the admin listener, with places of its own, answers the kubelet's probe.
    let probe = reqwest::get(format!("http://{}/readyz", app.admin_address)).await;
    assert_eq!(probe.unwrap().status(), 200);
    // Once the slow connections are cut off, the caller is answered.
    assert_eq!(caller.await.unwrap(), 200);
}

/// Opens a connection to `address` from `from` (another loopback address) and sends nothing.
async fn idle_from(from: std::net::IpAddr, address: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((from, 0).into()).unwrap();
    socket.connect(address).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn idle_connections_from_one_pod_leave_the_probes_answered() {
    let app = spawn_app_with(&["--header-timeout", "10s"]).await;
    // Another pod opens more idle connections to the admin listener than it has places.
    let pod: std::net::IpAddr = [127, 0, 0, 2].into();
    let mut idle = Vec::new();
    for _ in 0..64 {
        idle.push(idle_from(pod, app.admin_address).await);
    }
    // The kubelet's probes are answered at once, not after the header timeout.
    let started = tokio::time::Instant::now();
    for probe in ["livez", "readyz"] {
        let answer = reqwest::get(format!("http://{}/{probe}", app.admin_address)).await;
        assert_eq!(answer.unwrap().status(), 200);
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(1),
        "probes waited {:?}",
        started.elapsed()
    );
    // Once fewer than a quarter of the places were free (past 48), the pod's connections were
    // closed at once; the rest wait out their timeout.
    let mut closed_at_once = 0;
    for stream in &mut idle[48..] {
        closed_at_once += usize::from(closed(stream).await);
    }
    assert_eq!(closed_at_once, 16);
    assert_eq!(started.elapsed().as_secs(), 0, "closed at once");
}

#[tokio::test(start_paused = true)]
async fn a_burst_of_made_up_ids_costs_anaplan_no_more_than_the_budget() {
    let app = spawn_app_with(&["--upstream-rate", "10/s", "--timeout", "10s"]).await;
    app.anaplan
        .answer_any_task(Reply::ok(fixture("task_in_progress.json")));
    let started = tokio::time::Instant::now();
    let routes: Vec<String> = (0..1000).map(|n| import_route(&task_id(n))).collect();
    let answers = routes.iter().map(|route| app.get(route));
    let statuses: Vec<u16> = futures_util::future::join_all(answers)
        .await
        .iter()
        .map(|response| response.status().as_u16())
        .collect();
    let took = started.elapsed().as_secs_f64();
    let calls = app.anaplan.api_calls();
    // The burst of ten at once, then ten a second, however many ask.
    assert!(
        calls as f64 <= 10.0 + 10.0 * took + 1.0,
        "{calls} calls in {took:.1} s"
    );
    // Callers whose turn came within their bound were answered; the rest were told to come back.
    let answered = statuses.iter().filter(|status| **status == 200).count();
    let refused = statuses.iter().filter(|status| **status == 503).count();
    assert_eq!(answered + refused, 1000, "{statuses:?}");
    assert!(
        answered >= 10 && refused > 0,
        "{answered} answered, {refused} refused"
    );
    let refusal = app.get(&import_route(&task_id(999))).await;
    if refusal.status() == 503 {
        assert!(refusal.headers().contains_key("retry-after"));
        let problem: serde_json::Value = refusal.json().await.unwrap();
        assert_eq!(problem["type"], "urn:anaplan-gateway:problem:over-budget");
    }
}

#[tokio::test(start_paused = true)]
async fn a_refresh_gives_way_to_a_caller_with_no_answer() {
    let app = spawn_app_with(&["--upstream-rate", "1/s"]).await;
    app.anaplan.answer_any_task(running_at(0.5));
    let known = import_route(&task_id(1));
    assert_eq!(app.get(&known).await.status(), 200);
    // Past its poll time, and the budget spent again on another task.
    tokio::time::advance(std::time::Duration::from_millis(5500)).await;
    assert_eq!(app.get(&import_route(&task_id(2))).await.status(), 200);
    // The refresh of the known task asks first; its caller is answered at once, stale ...
    let stale = app.get(&known).await;
    assert_eq!(cache_status(&stale), "anaplan-gateway; hit; detail=stale");
    // ... yet a caller with no answer, asking after it, goes first.
    let cold = app.get(&import_route(&task_id(3))).await;
    assert_eq!(cold.status(), 200);
    let refreshes = || {
        app.anaplan
            .calls(reqwest::Method::GET, &import_path(&task_id(1)))
    };
    assert_eq!(refreshes(), 1, "the refresh waited for the caller");
    // Its turn comes next.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(refreshes(), 2);
}

/// Sends `request` as raw bytes and returns the status line's code.
async fn raw_status(address: std::net::SocketAddr, request: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 1024];
    let read = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    answer.split(' ').nth(1).unwrap_or_default().to_owned()
}

#[tokio::test]
async fn an_http_1_1_request_needs_exactly_one_host() {
    let app = spawn_app().await;
    app.anaplan.on(
        &import_path(TASK),
        Reply::ok(fixture("task_in_progress.json")),
    );
    let route = import_route(TASK);
    let none = format!("GET {route} HTTP/1.1\r\nConnection: close\r\n\r\n");
    let two = format!("GET {route} HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(app.address, &none).await, "400");
    assert_eq!(raw_status(app.address, &two).await, "400");
    assert_eq!(
        raw_status(app.admin_address, "GET /livez HTTP/1.1\r\n\r\n").await,
        "400"
    );
    assert_eq!(app.anaplan.total_calls(), 0, "nothing reached Anaplan");
    // One Host, or HTTP/1.0 (where it is optional), is served.
    let one = format!("GET {route} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(app.address, &one).await, "200");
    let old = format!("GET {route} HTTP/1.0\r\n\r\n");
    assert_eq!(raw_status(app.address, &old).await, "200");
}

/// Real time: the kernel completes the handshakes of the connections it queues. With the
/// gateway at its connection cap, a burst waits in the listen backlog, as large as it is set
/// (by default the kernel's own bound), instead of being dropped past the runtime's 128.
#[tokio::test]
async fn a_burst_past_the_connection_cap_waits_in_the_listen_backlog() {
    for (backlog, all_queued) in [("512", true), ("16", false)] {
        let args = ["--max-connections", "1", "--listen-backlog", backlog];
        let app = spawn_app_with(&args).await;
        let _held = tokio::net::TcpStream::connect(app.address).await.unwrap();
        let connect = || {
            let dial = tokio::net::TcpStream::connect(app.address);
            tokio::time::timeout(std::time::Duration::from_millis(500), dial)
        };
        let burst = futures_util::future::join_all((0..300).map(|_| connect())).await;
        let queued = burst
            .iter()
            .filter(|dial| matches!(dial, Ok(Ok(_))))
            .count();
        match all_queued {
            true => assert_eq!(queued, 300, "backlog {backlog}"),
            false => assert!(queued < 100, "backlog {backlog}: {queued} queued"),
        }
    }
}
