//! Health alerts to a local webhook receiver: one per incident, then the recovery; a dead webhook
//! breaks nothing.

use std::sync::Arc;
use std::time::Duration;

use admin::checks::alerts::{self, AlertEvent, AlertSettings};
use admin::checks::{HealthContext, ProbeSettings, probes};
use app::config::Secret;
use axum::routing::post;
use axum::{Json, Router};
use cluster::{Cluster, ClusterConfig, NodeSpec};
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
        ..test_support::node_spec(&node)
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
        options: admin::checks::HealthOptions::default(),
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
        AlertSettings {
            startup_grace: Duration::ZERO,
            ..AlertSettings::default()
        },
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
            startup_grace: Duration::ZERO,
            ..AlertSettings::default()
        },
    );
    node.crash();
    let failed = next(&mut events).await;
    assert!(matches!(failed, AlertEvent::Failed { .. }), "{failed:?}");
    // The probes go on regardless.
    probe_rounds(&registry, probes::NODE_STATE, Status::Fail, 3).await;
}

/// A probe whose status the test sets.
struct Scripted {
    spec: health::ProbeSpec,
    status: std::sync::Mutex<Status>,
}

#[async_trait::async_trait]
impl health::Probe for Scripted {
    fn spec(&self) -> &health::ProbeSpec {
        &self.spec
    }

    async fn check(&self) -> health::Observation {
        let status = *self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        health::Observation::with(status, "scripted")
    }
}

fn scripted(name: &str) -> Scripted {
    Scripted {
        spec: health::ProbeSpec::new(name, "test", Duration::from_secs(1), Duration::from_secs(1)),
        status: std::sync::Mutex::new(Status::Pass),
    }
}

/// Sets the probe's status and checks it once (the result goes to the notifier).
async fn report(registry: &HealthRegistry, probe: &Scripted, status: Status) {
    *probe
        .status
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner) = status;
    registry.check(probe).await;
}

async fn next_text(received: &mut mpsc::UnboundedReceiver<Value>) -> String {
    next(received).await["content"]
        .as_str()
        .expect("content")
        .to_owned()
}

#[tokio::test]
async fn nothing_pages_during_the_start_up_grace() {
    let clock = clock::ManualClock::new();
    let registry = HealthRegistry::new(clock.shared());
    let (url, mut received) = receiver().await;
    let (_tasks, _events) = alerts::start_with_clock(
        &registry,
        serde_json::from_value::<Secret>(Value::String(url)).expect("secret"),
        AlertSettings {
            startup_grace: Duration::from_secs(30),
            ..AlertSettings::default()
        },
        clock.shared(),
    );
    // The start-up blip: failing, then recovered, all within the grace.
    let blip = scripted("lavalink:eligibleNodes");
    // Still failing when the grace ends (and registered from the start, so the grace cannot end
    // early: not every check has passed).
    let stuck = Arc::new(scripted("store:roundTrip"));
    let registered: Arc<dyn health::Probe> = stuck.clone();
    registry.register(&registered);
    report(&registry, &blip, Status::Fail).await;
    report(&registry, &blip, Status::Pass).await;
    report(&registry, &stuck, Status::Fail).await;

    clock.advance(Duration::from_secs(30));
    let first = next_text(&mut received).await;
    assert!(
        first.starts_with("🔴") && first.contains("store:roundTrip"),
        "{first}"
    );
    report(&registry, &stuck, Status::Pass).await;
    let second = next_text(&mut received).await;
    assert!(
        second.starts_with("✅") && second.contains("store:roundTrip"),
        "the blip never paged: {second}"
    );
    // After the grace, a failure pages at once.
    report(&registry, &blip, Status::Fail).await;
    let third = next_text(&mut received).await;
    assert!(
        third.starts_with("🔴") && third.contains("lavalink:eligibleNodes"),
        "{third}"
    );
}

#[tokio::test]
async fn recoveries_are_never_dropped_and_held_back_alerts_are_summarized() {
    let clock = clock::ManualClock::new();
    let registry = HealthRegistry::new(clock.shared());
    let (url, mut received) = receiver().await;
    let (_tasks, mut events) = alerts::start_with_clock(
        &registry,
        serde_json::from_value::<Secret>(Value::String(url)).expect("secret"),
        AlertSettings {
            max_messages: 2,
            window: Duration::from_secs(60),
            startup_grace: Duration::ZERO,
            ..AlertSettings::default()
        },
        clock.shared(),
    );
    // Every node crashed: four incidents at once, two over the limit.
    let probes: Vec<Scripted> = ["n1", "n2", "n3", "n4"]
        .into_iter()
        .map(|n| scripted(&format!("lavalink:state-{n}")))
        .collect();
    for probe in &probes {
        report(&registry, probe, Status::Fail).await;
    }
    let mut held_back = 0;
    while held_back < 2 {
        if let AlertEvent::Suppressed { recovery, .. } = next(&mut events).await {
            assert!(!recovery);
            held_back += 1;
        }
    }
    for n in ["n1", "n2"] {
        let text = next_text(&mut received).await;
        assert!(text.starts_with("🔴") && text.contains(n), "{n}: {text}");
    }
    // They all recover within the same minute: every recovery goes out, over the limit.
    for probe in &probes {
        report(&registry, probe, Status::Pass).await;
    }
    let first = next_text(&mut received).await;
    assert!(
        first.starts_with("✅") && first.contains("state-n1"),
        "{first}"
    );
    assert!(
        first.contains("2 alert(s) held back by the rate limit")
            && first.contains("state-n3 failing")
            && first.contains("state-n4 failing"),
        "the held-back alerts are summarized: {first}"
    );
    for n in ["n2", "n3", "n4"] {
        let text = next_text(&mut received).await;
        assert!(text.starts_with("✅") && text.contains(n), "{text}");
    }

    // Held back with nothing going out after it: summarized on its own once the window has room.
    let late = scripted("lavalink:state-n5");
    report(&registry, &late, Status::Fail).await;
    loop {
        if let AlertEvent::Suppressed { check, .. } = next(&mut events).await {
            assert!(check.contains("n5"), "{check}");
            break;
        }
    }
    clock.advance(Duration::from_secs(60));
    let summary = next_text(&mut received).await;
    assert!(
        summary.starts_with("⚠️ 1 alert(s) held back") && summary.contains("state-n5 failing"),
        "{summary}"
    );
}

#[tokio::test]
async fn the_grace_ends_once_every_check_has_passed() {
    let clock = clock::ManualClock::new();
    let registry = HealthRegistry::new(clock.shared());
    let (url, mut received) = receiver().await;
    let (_tasks, mut events) = alerts::start_with_clock(
        &registry,
        serde_json::from_value::<Secret>(Value::String(url)).expect("secret"),
        AlertSettings {
            startup_grace: Duration::from_secs(3600),
            ..AlertSettings::default()
        },
        clock.shared(),
    );
    // Below its threshold a failing check only warns: that does not end the grace.
    let nodes = Scripted {
        spec: health::ProbeSpec::new(
            "lavalink:eligibleNodes",
            "test",
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .threshold(2),
        status: std::sync::Mutex::new(Status::Pass),
    };
    report(&registry, &nodes, Status::Fail).await;
    report(&registry, &nodes, Status::Fail).await;
    // Up: the grace is over without the clock moving, and nothing paged for the blip.
    report(&registry, &nodes, Status::Pass).await;
    loop {
        if let AlertEvent::GraceOver { early, failing } = next(&mut events).await {
            assert!(early);
            assert_eq!(failing, 0);
            break;
        }
    }
    let store = scripted("store:roundTrip");
    report(&registry, &store, Status::Fail).await;
    let first = next_text(&mut received).await;
    assert!(
        first.starts_with("🔴") && first.contains("store:roundTrip"),
        "{first}"
    );
}

#[tokio::test]
async fn quarantined_guilds_are_announced_without_their_ids() {
    use admin::checks::quarantine::{QuarantineProbe, STORE_QUARANTINE};
    const DAMAGED: u64 = 9_191_919;
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
        .await
        .expect("store");
    let entry = store::QueueEntry {
        track: "t".to_owned(),
        requester_id: 1,
        title: "T".to_owned(),
        author: "A".to_owned(),
        length_ms: 1,
        uri: None,
        added_at_unix_ms: 1,
    };
    store::Store::enqueue(&sqlite, DAMAGED, &[entry.clone(), entry], None)
        .await
        .expect("enqueue");
    sqlx::query("UPDATE queue_entries SET pos = 5 WHERE guild_id = ?1 AND pos = 1")
        .bind(DAMAGED.cast_signed())
        .execute(sqlite.pool())
        .await
        .expect("damage");
    let guard = Arc::new(store::QuarantineGuard::new(Arc::new(sqlite)));
    store::Store::load_all_guilds(guard.as_ref())
        .await
        .expect("load");

    let registry = HealthRegistry::new(clock::SystemClock::shared());
    let (url, mut received) = receiver().await;
    let (_tasks, _events) = alerts::start(
        &registry,
        serde_json::from_value::<Secret>(Value::String(url)).expect("secret"),
        AlertSettings {
            startup_grace: Duration::ZERO,
            ..AlertSettings::default()
        },
    );
    let _probe = registry.spawn(Arc::new(QuarantineProbe::new(
        guard,
        ProbeSettings {
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(1),
            failure_threshold: 1,
        },
    )));
    let text = next_text(&mut received).await;
    assert!(text.contains(STORE_QUARANTINE), "{text}");
    assert!(text.contains("warning"), "{text}");
    assert!(text.contains("1 guild(s) quarantined"), "{text}");
    assert!(!text.contains(&DAMAGED.to_string()), "no guild id: {text}");
}
