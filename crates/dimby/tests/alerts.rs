//! Health alerts to a local webhook receiver: one per incident, then the recovery; a dead webhook
//! breaks nothing.

use std::time::Duration;

use axum::routing::post;
use axum::{Json, Router};
use cluster::{Cluster, ClusterConfig, NodeSpec};
use dimby::config::Secret;
use dimby::health::alerts::{self, AlertEvent, AlertSettings};
use dimby::health::{HealthContext, ProbeSettings, probes};
use health::{HealthRegistry, Status};
use serde_json::Value;
use sim::lavalink::SimNode;
use tokio::sync::mpsc;

/// A webhook receiver on loopback; every posted body comes out of the channel.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = Router::new().route(
        "/hook",
        post(move |Json(body): Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, rx)
}

async fn probed_node() -> (SimNode, HealthRegistry) {
    let node = SimNode::start(sim::lavalink::NodeConfig::default().with_name("n1"))
        .await
        .expect("stand-in");
    let spec = NodeSpec {
        name: "n1".into(),
        url: node.rest_url(),
        password: node.password().to_owned(),
        region: None,
        priority: 0,
        weight: 1.0,
        enabled: true,
    };
    let mut config = ClusterConfig::new(1, vec![spec]);
    config.breaker.open_for = Duration::from_millis(300);
    config.client.reconnect.max_delay = Duration::from_millis(100);
    let (cluster, _events) = Cluster::start(config, clock::SystemClock::shared()).expect("cluster");
    let registry = HealthRegistry::new(clock::SystemClock::shared());
    let context = HealthContext {
        registry: registry.clone(),
        cluster,
        store: None,
        discord: None,
        options: dimby::health::HealthOptions::default(),
    };
    context.start(ProbeSettings {
        interval: Duration::from_millis(50),
        timeout: Duration::from_secs(1),
        failure_threshold: 1,
    });
    (node, registry)
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), rx.recv())
        .await
        .expect("within the guard")
        .expect("open")
}

/// Waits until `check` of `component` has been reported with `status` `times` more times.
async fn probe_rounds(registry: &HealthRegistry, check: &str, status: Status, times: usize) {
    let mut updates = registry.subscribe();
    let mut seen = 0;
    tokio::time::timeout(Duration::from_secs(15), async {
        while seen < times {
            if let Ok(r) = updates.recv().await
                && r.spec.name == check
                && r.status == status
            {
                seen += 1;
            }
        }
    })
    .await
    .expect("probe rounds within the guard");
}

#[tokio::test]
async fn one_alert_per_incident_then_the_recovery() {
    let (node, registry) = probed_node().await;
    probe_rounds(&registry, probes::NODE_STATE, Status::Pass, 1).await;
    let (url, mut received) = receiver().await;
    let (_tasks, mut events) = alerts::start(
        &registry,
        serde_json::from_value::<Secret>(Value::String(url)).expect("secret"),
        AlertSettings::default(),
    );

    node.crash();
    let mut firing = Vec::new();
    // The node's state check (and others) fail: one message each.
    while !firing
        .iter()
        .any(|t: &String| t.contains("lavalink:state (n1)"))
    {
        let body = next(&mut received).await;
        let text = body["content"].as_str().expect("content").to_owned();
        assert!(text.starts_with("🔴"), "{text}");
        firing.push(text);
    }
    // Many more failing rounds: no more messages for the same incident.
    probe_rounds(&registry, probes::NODE_STATE, Status::Fail, 5).await;
    let state_alerts = firing
        .iter()
        .filter(|t| t.contains("lavalink:state (n1)"))
        .count();
    while let Ok(body) = received.try_recv() {
        let text = body["content"].as_str().unwrap_or_default().to_owned();
        assert!(
            !text.contains("lavalink:state (n1)"),
            "a second alert for one incident: {text}"
        );
    }
    assert_eq!(state_alerts, 1);

    node.restart().await.expect("restart");
    loop {
        let body = next(&mut received).await;
        let text = body["content"].as_str().expect("content").to_owned();
        if text.contains("lavalink:state (n1)") {
            assert!(
                text.starts_with("✅") && text.contains("recovered"),
                "{text}"
            );
            break;
        }
    }
    let sent = next(&mut events).await;
    assert!(
        matches!(
            sent,
            AlertEvent::Sent {
                recovery: false,
                ..
            }
        ),
        "{sent:?}"
    );
}

#[tokio::test]
async fn a_dead_webhook_breaks_nothing() {
    let (node, registry) = probed_node().await;
    probe_rounds(&registry, probes::NODE_STATE, Status::Pass, 1).await;
    let (_tasks, mut events) = alerts::start(
        &registry,
        serde_json::from_value::<Secret>(Value::String("http://127.0.0.1:9/hook".into()))
            .expect("secret"),
        AlertSettings {
            attempts: 2,
            ..AlertSettings::default()
        },
    );
    node.crash();
    let failed = next(&mut events).await;
    assert!(matches!(failed, AlertEvent::Failed { .. }), "{failed:?}");
    // The probes go on regardless.
    probe_rounds(&registry, probes::NODE_STATE, Status::Fail, 3).await;
}
