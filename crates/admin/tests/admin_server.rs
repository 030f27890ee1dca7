//! The admin server under idle and half-sent connections: bounded, and `/livez` keeps answering.

use std::sync::Arc;
use std::time::Duration;

use admin::{self, AdminServer, AdminState, ServerLimits};
use cluster::{Cluster, ClusterConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn server(limits: ServerLimits) -> (AdminServer, Cluster, telemetry::Metrics) {
    let (cluster, _events) = Cluster::start(
        ClusterConfig::new(1, Vec::new()),
        clock::SystemClock::shared(),
    )
    .expect("cluster");
    let state = AdminState {
        cluster: cluster.clone(),
        token: None,
        health: None,
        node_hosts: Arc::new(admin::NodeHosts::default_for([])),
    };
    let metrics = telemetry::Metrics::new(["livez"]);
    let server = AdminServer::observed(
        "127.0.0.1:0".parse().expect("addr"),
        admin::router(state),
        limits,
        metrics.clone(),
    )
    .await
    .expect("server");
    (server, cluster, metrics)
}

/// The value of one series in the metrics' text exposition.
fn series(metrics: &telemetry::Metrics, name: &str) -> Option<f64> {
    metrics
        .encode(telemetry::Format::Prometheus)
        .lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse().ok())
}

/// Reads until the server closes the connection (EOF or reset); returns what it sent.
async fn until_closed(socket: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), async {
        let mut buf = [0u8; 1024];
        loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection within the guard");
    seen
}

async fn livez(addr: std::net::SocketAddr) -> u16 {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    tokio::time::timeout(
        Duration::from_secs(20),
        client.get(format!("http://{addr}/livez")).send(),
    )
    .await
    .expect("/livez answers within the guard")
    .expect("answer")
    .status()
    .as_u16()
}

#[tokio::test]
async fn idle_and_half_sent_connections_cannot_starve_livez() {
    // Timeouts far away: only the cap is at work here.
    let (server, _cluster, metrics) = server(ServerLimits {
        header_read_timeout: Duration::from_secs(3600),
        idle_timeout: Duration::from_secs(3600),
        max_connections: 8,
    })
    .await;
    let mut sockets = Vec::new();
    for i in 0..64 {
        let mut socket = TcpStream::connect(server.addr()).await.expect("connect");
        if i % 2 == 0 {
            socket
                .write_all(b"GET /livez HTTP/1.1\r\nHost: admin\r\n")
                .await
                .expect("half a request");
        }
        sockets.push(socket);
    }
    assert_eq!(livez(server.addr()).await, 200);
    // The server kept at most 8: the oldest idle ones made room, oldest first.
    for (i, socket) in sockets.iter_mut().take(56).enumerate() {
        let sent = until_closed(socket).await;
        assert!(sent.is_empty(), "connection {i} got {sent:?}");
    }
    assert_eq!(livez(server.addr()).await, 200, "and again");
    // Each shed connection is counted.
    let shed = series(
        &metrics,
        r#"dimby_admin_connections_closed_total{reason="shed"}"#,
    );
    assert!(shed.is_some_and(|n| n >= 56.0), "{shed:?}");
}

#[tokio::test]
async fn half_sent_headers_and_idle_connections_are_closed() {
    let (server, _cluster, _metrics) = server(ServerLimits {
        header_read_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_millis(300),
        max_connections: 64,
    })
    .await;
    // Headers that never finish.
    let mut half = TcpStream::connect(server.addr()).await.expect("connect");
    half.write_all(b"GET /livez HTTP/1.1\r\nHost: admin\r\n")
        .await
        .expect("half a request");
    until_closed(&mut half).await;

    // A keep-alive connection after its answer, then silent.
    let mut idle = TcpStream::connect(server.addr()).await.expect("connect");
    idle.write_all(b"GET /livez HTTP/1.1\r\nHost: admin\r\n\r\n")
        .await
        .expect("a request");
    let sent = until_closed(&mut idle).await;
    let text = String::from_utf8_lossy(&sent);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("ok\n"), "{text}");

    // A silent connection: never a byte.
    let mut silent = TcpStream::connect(server.addr()).await.expect("connect");
    assert!(until_closed(&mut silent).await.is_empty());
}
