//! The API's edge against clients that do not play fair: half-open
//! connections are closed, connections past the limit are turned away and
//! counted while the node keeps answering, large bodies are admitted a few
//! at a time, and every error (also those below the handlers) is JSON.

use std::time::{Duration, Instant};

use polypact::api::{self, ApiConfig, EdgeLimits};
use polypact::node::{NodeBuilder, NodeConfig};
use polypact::op::MemberKey;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::api::TOKEN;

/// A node whose API runs with `limits`; returns its address.
async fn api_with(limits: EdgeLimits) -> (String, tempfile::TempDir, tokio::sync::oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap();
    let node =
        NodeBuilder::new(NodeConfig::new(dir.path().join("data")), MemberKey::from_seed(9)).start().unwrap();
    let mut config = ApiConfig::new(TOKEN);
    config.edge = limits;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(api::serve(listener, node.handle, config, async move {
        let _ = stopped.await;
    }));
    (addr, dir, stop)
}

/// Whether the server closes `stream` within `limit` (a read returns 0 or fails).
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

async fn health(addr: &str) -> u16 {
    reqwest::get(format!("http://{addr}/health")).await.map(|r| r.status().as_u16()).unwrap_or(0)
}

#[tokio::test]
async fn a_half_open_connection_is_closed() {
    let limits = EdgeLimits { header_read_timeout: Duration::from_millis(300), ..EdgeLimits::default() };
    let (addr, _dir, _stop) = api_with(limits).await;
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").await.unwrap(); // never finishes the headers
    assert!(
        closed_within(&mut stream, Duration::from_secs(10)).await,
        "the half-open connection stayed open"
    );
    assert_eq!(health(&addr).await, 200);
}

#[tokio::test]
async fn connections_past_the_limit_are_turned_away_and_counted() {
    let limits = EdgeLimits { max_connections: 4, ..EdgeLimits::default() };
    let (addr, _dir, _stop) = api_with(limits).await;
    // Four idle connections take every slot…
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(&addr).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    // …a fifth is closed at once…
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    assert!(closed_within(&mut extra, Duration::from_secs(5)).await, "the fifth connection was served");
    // …and once they go, the node answers again and has counted the refusal.
    drop(idle);
    let deadline = Instant::now() + Duration::from_secs(10);
    while health(&addr).await != 200 {
        assert!(Instant::now() < deadline, "the node never answered again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let metrics = crate::api::metrics(&reqwest::Client::new(), &format!("http://{addr}")).await;
    let refused = metrics
        .lines()
        .find(|l| l.starts_with("polypact_api_refused_total{reason=\"connections\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|n| n.parse::<u64>().ok());
    assert!(refused.is_some_and(|n| n >= 1), "{metrics}");
}

#[tokio::test]
async fn errors_below_the_handlers_are_json() {
    let (addr, _dir, _stop) = api_with(EdgeLimits::default()).await;
    let http = reqwest::Client::new();
    // A body over the limit.
    let big = vec![b'x'; api::MAX_BODY_BYTES + 1];
    let r = http
        .post(format!("http://{addr}/v1/code"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/octet-stream")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    let body: Value = r.json().await.expect("a JSON error");
    assert_eq!(body["code"], "body_too_large", "{body}");
    // A method a route does not take.
    let r = http.delete(format!("http://{addr}/health")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let body: Value = r.json().await.expect("a JSON error");
    assert_eq!(body["code"], "method_not_allowed", "{body}");
    // A body that is not JSON where JSON is due.
    let r = http
        .post(format!("http://{addr}/v1/partnerships"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_client_error());
    let body: Value = r.json().await.expect("a JSON error");
    assert!(body["code"].is_string() && body["error"].is_string(), "{body}");
}

#[tokio::test]
async fn large_bodies_are_admitted_a_few_at_a_time() {
    let limits = EdgeLimits { max_large_bodies: 1, large_body_bytes: 1024, ..EdgeLimits::default() };
    let (addr, _dir, _stop) = api_with(limits).await;
    // One slow upload holds the only slot: it announces 64 KiB and sends 1 KiB.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /v1/code HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/octet-stream\r\nContent-Length: 65536\r\n\r\n"
    );
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(&[0u8; 1024]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A second large body is told to come back; a small request goes through.
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/v1/code"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/octet-stream")
        .body(vec![0u8; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let body: Value = r.json().await.expect("a JSON error");
    assert_eq!(body["code"], "busy", "{body}");
    assert_eq!(health(&addr).await, 200);
    drop(slow);
}
