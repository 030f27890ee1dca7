//! The admin API's node endpoints and `dimby nodes`, against a cluster of stand-in nodes.

use std::sync::Arc;
use std::time::Duration;

use admin::{AdminServer, AdminState, AdminToken};
use cluster::{Cluster, ClusterConfig, ClusterEvent};
use serde_json::{Value, json};
use sim::lavalink::SimNode;
use test_support::node_spec;

const TOKEN: &str = "admin-test-token";

struct Rig {
    server: AdminServer,
    events: tokio::sync::mpsc::UnboundedReceiver<ClusterEvent>,
    _nodes: Vec<SimNode>,
}

async fn start(token: Option<&str>) -> Rig {
    let node = SimNode::start(sim::lavalink::NodeConfig::default().with_name("first"))
        .await
        .expect("stand-in");
    let (cluster, events) = Cluster::start(
        ClusterConfig::new(1, vec![node_spec(&node)]),
        clock::SystemClock::shared(),
    )
    .expect("cluster");
    let state = AdminState {
        cluster,
        token: token.and_then(AdminToken::new).map(Arc::new),
        health: None,
        node_hosts: Arc::new(admin::NodeHosts::default_for([])),
    };
    let server = AdminServer::start("127.0.0.1:0".parse().expect("addr"), admin::router(state))
        .await
        .expect("admin server");
    Rig {
        server,
        events,
        _nodes: vec![node],
    }
}

impl Rig {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }

    async fn wait_ready(&mut self, name: &str) {
        tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match self.events.recv().await {
                    Some(ClusterEvent::NodeReady { node, .. }) if node == name => return,
                    Some(_) => {}
                    None => panic!("cluster gone"),
                }
            }
        })
        .await
        .expect("node ready within the guard");
    }

    /// Runs `dimby nodes ...` against this server; returns (success, stdout + stderr).
    async fn cli(&self, args: &[&str], token: &str) -> (bool, String) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
            .arg("nodes")
            .args(args)
            .args(["--url", &self.url(""), "--token", token])
            .output()
            .await
            .expect("run dimby");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        (output.status.success(), text)
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

#[tokio::test]
async fn the_admin_api_needs_the_token() {
    let rig = start(Some(TOKEN)).await;
    let nodes = rig.url("/admin/nodes");
    let anonymous = http().get(&nodes).send().await.expect("answer");
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        anonymous
            .headers()
            .get("www-authenticate")
            .map(reqwest::header::HeaderValue::as_bytes),
        Some(&b"Bearer"[..])
    );
    let wrong = http()
        .get(&nodes)
        .bearer_auth("nope")
        .send()
        .await
        .expect("answer");
    assert_eq!(wrong.status(), 403);
    let right = http()
        .get(&nodes)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(right.status(), 200);
    let body: Value = right.json().await.expect("json");
    assert_eq!(body.as_array().map(Vec::len), Some(1));
    assert!(
        !body.to_string().contains("youshallnotpass"),
        "no password in the answer"
    );

    let disabled = start(None).await;
    let answer = http()
        .get(disabled.url("/admin/nodes"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 403);
    let body: Value = answer.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("admin.token"))
    );
}

#[tokio::test]
async fn bad_input_gets_a_clear_4xx_and_changes_nothing() {
    let rig = start(Some(TOKEN)).await;
    let post = |body: Value| {
        http()
            .post(rig.url("/admin/nodes"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };
    let bad_url = post(json!({"name": "x", "url": "not a url", "password": "p"}))
        .await
        .expect("answer");
    assert_eq!(bad_url.status(), 400);
    let body: Value = bad_url.json().await.expect("json");
    assert!(
        body["error"]
            .as_str()
            .is_some_and(|e| e.contains("not a url")),
        "{body}"
    );

    let duplicate = post(json!({"name": "first", "url": "http://127.0.0.1:1", "password": "p"}))
        .await
        .expect("answer");
    assert_eq!(duplicate.status(), 409);

    let malformed = http()
        .post(rig.url("/admin/nodes"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .expect("answer");
    assert_eq!(malformed.status(), 400);

    let unknown = http()
        .post(rig.url("/admin/nodes/ghost/drain"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer");
    assert_eq!(unknown.status(), 404);

    let list: Value = http()
        .get(rig.url("/admin/nodes"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(
        list.as_array().map(Vec::len),
        Some(1),
        "nothing changed: {list}"
    );
}

async fn answer(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

#[tokio::test]
async fn adding_a_node_checks_its_host_and_never_echoes_a_secret() {
    let rig = start(Some(TOKEN)).await;
    let post = |body: Value| {
        http()
            .post(rig.url("/admin/nodes"))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
    };

    // Hosts outside admin.node_hosts (unset: configured nodes, loopback, private ranges).
    for url in [
        "http://203.0.113.7:2333",
        "http://169.254.169.254/latest",
        "https://lavalink.example.com",
    ] {
        let (status, body) = answer(
            post(json!({"name": "outside", "url": url, "password": "p"}))
                .await
                .expect("answer"),
        )
        .await;
        assert_eq!(status, 403, "{url}: {body}");
        assert!(body.contains("admin.node_hosts"), "{url}: {body}");
    }

    // Secrets in refused bodies never come back.
    for (body, secret) in [
        (
            json!({"name": "n", "url": "http://127.0.0.1:9", "password": 314_159_265}),
            "314159265",
        ),
        (
            json!({"name": "n", "url": "http://127.0.0.1:9", "password": {"a": "object-secret"}}),
            "object-secret",
        ),
        (
            json!({"name": "n", "url": "ftp://user:scheme-secret@127.0.0.1", "password": "p"}),
            "scheme-secret",
        ),
        (
            json!({"name": "n", "url": "http://user:host-secret@[::1", "password": "p"}),
            "host-secret",
        ),
        (
            json!({"name": "n", "url": "http://user:outside-secret@203.0.113.7", "password": "p"}),
            "outside-secret",
        ),
        (
            json!({"name": 7, "url": "http://127.0.0.1:9", "password": "name-type-secret"}),
            "name-type-secret",
        ),
    ] {
        let (status, text) = answer(post(body.clone()).await.expect("answer")).await;
        assert!((400..500).contains(&status), "{body}: {status} {text}");
        assert!(!text.contains(secret), "{body}: {text}");
    }

    // The same server under another name.
    let first = rig.url("/admin/nodes");
    let list: Value = http()
        .get(&first)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    let first_url = list[0]["url"].as_str().expect("url").to_owned();
    let (status, body) = answer(
        post(json!({"name": "again", "url": format!("{first_url}/"), "password": "p"}))
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(body.contains("same address"), "{body}");

    // A loopback node with user info in its URL is added; the listing never shows it.
    let (status, body) = answer(
        post(json!({"name": "userinfo", "url": "http://user:view-secret@127.0.0.2:9", "password": "p"}))
            .await
            .expect("answer"),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert!(!body.contains("view-secret"), "{body}");
    let list = http()
        .get(&first)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer")
        .text()
        .await
        .expect("body");
    assert!(list.contains("userinfo"), "{list}");
    assert!(!list.contains("view-secret"), "{list}");
}

#[tokio::test]
async fn nodes_join_drain_and_enable_from_the_command_line() {
    let mut rig = start(Some(TOKEN)).await;
    rig.wait_ready("first").await;
    let late = SimNode::start(sim::lavalink::NodeConfig::default().with_name("late"))
        .await
        .expect("stand-in");

    let (ok, out) = rig
        .cli(
            &[
                "add",
                "--name",
                "late",
                "--node-url",
                &late.rest_url(),
                "--password",
                late.password(),
            ],
            TOKEN,
        )
        .await;
    assert!(ok, "{out}");
    rig.wait_ready("late").await;
    let (ok, out) = rig.cli(&["list"], TOKEN).await;
    assert!(ok, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("late") && l.contains("true")),
        "{out}"
    );

    let (ok, out) = rig.cli(&["drain", "late", "--hard"], TOKEN).await;
    assert!(ok, "{out}");
    let (ok, out) = rig.cli(&["list", "--json"], TOKEN).await;
    assert!(ok, "{out}");
    let nodes: Value = serde_json::from_str(&out).expect("json");
    let late_view = nodes
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == "late"))
        .expect("late listed");
    assert_eq!(late_view["draining"], "hard");
    assert_eq!(late_view["drain"]["remaining"], 0);
    assert_eq!(late_view["eligible"], false);

    let (ok, out) = rig.cli(&["enable", "late"], TOKEN).await;
    assert!(ok, "{out}");

    let (ok, out) = rig.cli(&["drain", "ghost"], TOKEN).await;
    assert!(!ok);
    assert!(out.contains("404") && out.contains("ghost"), "{out}");
    let (ok, out) = rig.cli(&["list"], "wrong-token").await;
    assert!(!ok);
    assert!(out.contains("token"), "{out}");
    late.shutdown().await;
}
