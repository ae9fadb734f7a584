//! One HTTP/1.1 connection kept open across requests of every size, held ones included: hyper's
//! read buffer, as patched in `vendor/hyper`, grows for long headers and, while a request is
//! served, reads into a small buffer of its own that a request coming behind it outgrows.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Reads one answer from `stream`: its status code and its body, by its `content-length`.
async fn answer(stream: &mut TcpStream, buffered: &mut Vec<u8>) -> (String, Vec<u8>) {
    let head_end = loop {
        if let Some(at) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        read_more(stream, buffered).await;
    };
    let head = String::from_utf8_lossy(&buffered[..head_end]).to_lowercase();
    let status = head.split(' ').nth(1).unwrap().to_owned();
    let length: usize = (head.lines())
        .find_map(|line| line.strip_prefix("content-length: "))
        .map_or(0, |length| length.trim().parse().unwrap());
    while buffered.len() < head_end + length {
        read_more(stream, buffered).await;
    }
    let body = buffered[head_end..head_end + length].to_vec();
    buffered.drain(..head_end + length);
    (status, body)
}

/// How long a read may take before the test fails rather than hangs.
const WITHIN: std::time::Duration = std::time::Duration::from_secs(30);

async fn read_more(stream: &mut TcpStream, buffered: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let read = tokio::time::timeout(WITHIN, stream.read(&mut chunk)).await;
    let read = read.expect("the gateway answered in time").unwrap();
    assert!(read > 0, "the connection closed before the answer ended");
    buffered.extend_from_slice(&chunk[..read]);
}

#[tokio::test]
async fn one_connection_answers_short_long_held_and_pipelined_requests_in_turn() {
    let app = spawn_app().await;
    app.anaplan.on(&import_path(TASK), running_at(0.5));
    let route = import_route(TASK);
    let request = |extra: &str| format!("GET {route} HTTP/1.1\r\nHost: gateway\r\n{extra}\r\n");
    let mut stream = TcpStream::connect(app.address).await.unwrap();
    let mut buffered = Vec::new();

    stream.write_all(request("").as_bytes()).await.unwrap();
    let (status, first) = answer(&mut stream, &mut buffered).await;
    assert_eq!(status, "200");
    assert!(String::from_utf8_lossy(&first).contains(TASK));

    // Headers longer than the first read buffer (8 KiB), sent in pieces.
    let long = request(&format!("x-padding: {}\r\n", "p".repeat(12_000)));
    for piece in long.as_bytes().chunks(1500) {
        stream.write_all(piece).await.unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let (status, second) = answer(&mut stream, &mut buffered).await;
    assert_eq!(
        (status.as_str(), &second),
        ("200", &first),
        "the cached answer"
    );

    // A request held for a second, and behind it, sent while it is held, one longer than the
    // buffer a connection reads into while its request is served (512 bytes).
    let tag = etag(&app, &route).await;
    let held = request(&format!("if-none-match: {tag}\r\nprefer: wait=1\r\n"));
    stream.write_all(held.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let behind = request(&format!("x-padding: {}\r\n", "q".repeat(2000)));
    stream.write_all(behind.as_bytes()).await.unwrap();
    let (status, body) = answer(&mut stream, &mut buffered).await;
    assert_eq!(
        (status.as_str(), body.len()),
        ("304", 0),
        "held, then unchanged"
    );
    let (status, body) = answer(&mut stream, &mut buffered).await;
    assert_eq!((status.as_str(), &body), ("200", &first));

    // Two at once, in one write.
    let pair = request("") + &request("connection: close\r\n");
    stream.write_all(pair.as_bytes()).await.unwrap();
    for _ in 0..2 {
        let (status, body) = answer(&mut stream, &mut buffered).await;
        assert_eq!((status.as_str(), &body), ("200", &first));
    }
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(WITHIN, stream.read_to_end(&mut rest)).await;
    closed.expect("closed in time").unwrap();
    assert!(
        rest.is_empty() && buffered.is_empty(),
        "closed after the last"
    );
    assert_eq!(app.anaplan.api_calls(), 1, "one poll served them all");
}

/// The answer's tag, asked on a connection of its own.
async fn etag(app: &TestApp, route: &str) -> String {
    let answer = app.http.get(app.url(route)).send().await.unwrap();
    answer.headers()["etag"].to_str().unwrap().to_owned()
}
