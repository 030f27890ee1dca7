//! `dimby demo` as a process, as the README runs it: it becomes ready, serves `/metrics`, and when
//! one of its Lavalink stand-ins crashes `/healthz` turns `warn`, the alert reaches a local webhook
//! receiver and the recovery follows once the node is back.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::post;
use tokio::sync::mpsc;

const GUARD: Duration = Duration::from_secs(60);

/// A local webhook receiver: every body it gets goes down the channel.
async fn receiver() -> (SocketAddr, mpsc::UnboundedReceiver<serde_json::Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |body: axum::Json<serde_json::Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body.0);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (addr, rx)
}

/// Polls `url` until `done` accepts its status and body.
async fn until(
    client: &reqwest::Client,
    url: &str,
    what: &str,
    mut done: impl FnMut(u16, &str) -> bool,
) -> String {
    tokio::time::timeout(GUARD, async {
        loop {
            if let Ok(response) = client.get(url).send().await {
                let status = response.status().as_u16();
                let body = response.text().await.unwrap_or_default();
                if done(status, &body) {
                    return body;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
}

/// The next webhook message whose content satisfies `check`.
async fn message(
    hooks: &mut mpsc::UnboundedReceiver<serde_json::Value>,
    what: &str,
    check: impl Fn(&str) -> bool,
) -> String {
    tokio::time::timeout(GUARD, async {
        loop {
            let body = hooks.recv().await.expect("receiver open");
            let content = body["content"].as_str().unwrap_or_default().to_owned();
            if check(&content) {
                return content;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no webhook message: {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_alerts_on_a_crashed_node_and_recovers() {
    let (hook, mut hooks) = receiver().await;
    let admin = test_support::free_port();
    let data = tempfile::tempdir().expect("temp dir");
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args(["demo", "--guilds", "2", "--every", "1", "--admin-listen"])
        .arg(admin.to_string())
        .arg("--alert-webhook")
        .arg(format!("http://{hook}/hook"))
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start dimby demo");
    // The log is drained throughout; the end of the alerts' start-up grace is reported.
    let (grace_tx, grace_over) = tokio::sync::oneshot::channel();
    let stderr = demo.stderr.take().expect("stderr");
    tokio::spawn(async move {
        use tokio::io::AsyncBufReadExt as _;
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut grace_tx = Some(grace_tx);
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("start-up grace over")
                && let Some(tx) = grace_tx.take()
            {
                let _ = tx.send(());
            }
        }
    });
    let client = reqwest::Client::new();
    let base = format!("http://{admin}");

    until(
        &client,
        &format!("{base}/readyz"),
        "readiness",
        |status, _| status == 200,
    )
    .await;
    let metrics = until(
        &client,
        &format!("{base}/metrics"),
        "metrics",
        |status, body| status == 200 && body.contains("dimby_tracks_started_total"),
    )
    .await;
    assert!(metrics.contains("dimby_lavalink_node_up{node=\"lavalink-1\"} 1"));

    // Alerts page once the start-up grace is over (a blip before it would not page).
    tokio::time::timeout(GUARD, grace_over)
        .await
        .expect("the start-up grace ends within the guard")
        .expect("log read");

    // Crash lavalink-1 through its control endpoint; it comes back after 5 s.
    let nodes: serde_json::Value = client
        .get(format!("{base}/admin/nodes"))
        .bearer_auth("demo")
        .send()
        .await
        .expect("nodes")
        .json()
        .await
        .expect("json");
    let victim = nodes
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["name"] == "lavalink-1"))
        .and_then(|n| n["url"].as_str())
        .expect("lavalink-1 and its url")
        .to_owned();
    let crashed = client
        .post(format!("{victim}/sim/fault"))
        .header("Authorization", "youshallnotpass")
        .json(&serde_json::json!({"fault": "crash", "restartAfterMs": 5000}))
        .send()
        .await
        .expect("fault");
    assert!(crashed.status().is_success(), "{}", crashed.status());

    // One node down: the service warns (failover keeps the music going); an alert names the node.
    until(
        &client,
        &format!("{base}/healthz"),
        "/healthz warn",
        |status, body| status == 200 && body.contains("\"status\":\"warn\""),
    )
    .await;
    let firing = message(&mut hooks, "the firing alert", |c| {
        c.contains("lavalink") && c.contains("lavalink-1") && c.contains("failing")
    })
    .await;
    assert!(!firing.contains("youshallnotpass"), "no secret in an alert");
    message(&mut hooks, "the recovery", |c| {
        c.contains("lavalink-1") && c.contains("recovered")
    })
    .await;
}
