//! `/livez`, `/readyz`, `/healthz` and `dimby health check` against stand-in nodes and a real
//! SQLite store.

use std::sync::Arc;
use std::time::Duration;

use admin::checks::{HealthContext, HealthOptions, ProbeSettings, probes, quarantine};
use admin::{self, AdminServer, AdminState, AdminToken};
use cluster::{Cluster, ClusterConfig, NodeSpec};
use health::{HealthRegistry, Status};
use serde_json::Value;
use sim::lavalink::SimNode;

const TOKEN: &str = "health-test-token";

struct Rig {
    server: AdminServer,
    cluster: Cluster,
    registry: HealthRegistry,
    nodes: Vec<SimNode>,
    _dir: tempfile::TempDir,
}

async fn start(nodes: usize) -> Rig {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
        .await
        .expect("store");
    start_on(nodes, dir, Arc::new(store), HealthOptions::default()).await
}

/// A rig whose probes look at `store` (in `dir`), with `options`.
async fn start_on(
    nodes: usize,
    dir: tempfile::TempDir,
    store: Arc<dyn store::Store>,
    options: HealthOptions,
) -> Rig {
    let nodes = sim::lavalink::start_nodes(nodes, sim::lavalink::NodeConfig::default())
        .await
        .expect("stand-ins");
    let specs: Vec<NodeSpec> = nodes.iter().map(test_support::node_spec).collect();
    let mut config = ClusterConfig::new(1, specs);
    config.client.reconnect.max_delay = Duration::from_millis(200);
    let (cluster, _events) = Cluster::start(config, clock::SystemClock::shared()).expect("cluster");
    let registry = HealthRegistry::new(clock::SystemClock::shared());
    let context = HealthContext {
        registry: registry.clone(),
        cluster: cluster.clone(),
        store: Some(store),
        discord: None,
        options,
    };
    context.start(ProbeSettings {
        interval: Duration::from_millis(100),
        timeout: Duration::from_secs(1),
        failure_threshold: 1,
    });
    let state = AdminState {
        cluster: cluster.clone(),
        token: AdminToken::new(TOKEN).map(Arc::new),
        health: Some(context),
        node_hosts: Arc::new(admin::NodeHosts::default_for([])),
    };
    let server = AdminServer::start("127.0.0.1:0".parse().expect("addr"), admin::router(state))
        .await
        .expect("server");
    Rig {
        server,
        cluster,
        registry,
        nodes,
        _dir: dir,
    }
}

impl Rig {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr())
    }

    /// Waits until the cached result of `check` (for `component`, if given) has `status`.
    async fn wait_status(&self, check: &str, component: Option<&str>, status: Status) {
        let mut updates = self.registry.subscribe();
        let matches = |r: &health::CheckResult| {
            r.spec.name == check
                && r.spec.component_id.as_deref() == component
                && r.status == status
        };
        if self.registry.results().iter().any(matches) {
            return;
        }
        tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                match updates.recv().await {
                    Ok(result) if matches(&result) => return,
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        panic!("registry gone")
                    }
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{check} {component:?} never became {status:?}"));
    }

    /// Runs `dimby health check` against this server; returns (exit code, output).
    async fn check(&self, extra: &[&str]) -> (i32, String) {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
            .args(["health", "check", "--url", &self.url(""), "--token", TOKEN])
            .args(extra)
            .output()
            .await
            .expect("run dimby");
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    }
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
}

/// Everything passes: the endpoints say so, and details only with the token.
async fn check_all_pass(rig: &Rig) {
    rig.wait_status(probes::CLUSTER, None, Status::Pass).await;
    rig.wait_status(probes::STORE, None, Status::Pass).await;
    for node in ["sim-1", "sim-2"] {
        rig.wait_status(probes::NODE_STATE, Some(node), Status::Pass)
            .await;
        rig.wait_status(probes::NODE_RESPONSE, Some(node), Status::Pass)
            .await;
    }
    rig.wait_status(probes::RUNTIME_LAG, None, Status::Pass)
        .await;

    let live = http().get(rig.url("/livez")).send().await.expect("answer");
    assert_eq!(live.status(), 200);
    let ready = http()
        .get(rig.url("/readyz?verbose"))
        .send()
        .await
        .expect("answer");
    assert_eq!(ready.status(), 200);
    let text = ready.text().await.expect("body");
    assert!(
        text.contains("[+]lavalink") && text.contains("[+]store"),
        "{text}"
    );

    let anonymous = http()
        .get(rig.url("/healthz"))
        .send()
        .await
        .expect("answer");
    assert_eq!(anonymous.status(), 200);
    assert_eq!(
        anonymous
            .headers()
            .get("content-type")
            .map(reqwest::header::HeaderValue::as_bytes),
        Some(&b"application/health+json"[..])
    );
    let body: Value = anonymous.json().await.expect("json");
    assert_eq!(
        body,
        serde_json::json!({"status": "pass"}),
        "anonymous callers see the status only"
    );

    let detailed: Value = http()
        .get(rig.url("/healthz"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("json");
    assert_eq!(detailed["status"], "pass");
    let responses = detailed["checks"]["lavalink:responseTime"]
        .as_array()
        .expect("per-node entries");
    assert_eq!(responses.len(), 2);
    assert!(
        responses
            .iter()
            .all(|e| e["observedUnit"] == "ms" && e["time"].is_string())
    );
    assert!(
        !detailed.to_string().contains("youshallnotpass"),
        "no secret in the report"
    );
    let (code, out) = rig.check(&[]).await;
    assert_eq!(code, 0, "{out}");
}

#[tokio::test]
async fn endpoints_follow_the_probes_from_pass_to_warn_to_fail() {
    let rig = start(2).await;
    check_all_pass(&rig).await;

    // One node crashes: the service warns (failover keeps playback going).
    rig.nodes[0].crash();
    rig.wait_status(probes::NODE_STATE, Some("sim-1"), Status::Fail)
        .await;
    rig.wait_status(probes::CLUSTER, None, Status::Warn).await;
    let answer = http()
        .get(rig.url("/healthz"))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200, "warn is 2xx");
    let (code, out) = rig.check(&[]).await;
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("sim-1"), "{out}");
    let (code, out) = rig.check(&["--require", "store"]).await;
    assert_eq!(code, 0, "the store alone passes: {out}");

    // Every node down: not ready, and the report fails with 503.
    rig.nodes[1].crash();
    rig.wait_status(probes::CLUSTER, None, Status::Fail).await;
    let ready = http()
        .get(rig.url("/readyz?verbose"))
        .send()
        .await
        .expect("answer");
    assert_eq!(ready.status(), 503);
    assert!(ready.text().await.expect("body").contains("[-]lavalink"));
    let answer = http()
        .get(rig.url("/healthz"))
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 503);
    let (code, out) = rig.check(&["--json"]).await;
    assert_eq!(code, 2, "{out}");
    let report: Value = serde_json::from_str(&out).expect("--json prints the report");
    assert_eq!(report["status"], "fail");
}

#[tokio::test]
async fn the_gate_is_unknown_when_it_cannot_tell() {
    let rig = start(1).await;
    // Unreachable.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args([
            "health",
            "check",
            "--url",
            "http://127.0.0.1:9",
            "--timeout",
            "500ms",
        ])
        .output()
        .await
        .expect("run dimby");
    assert_eq!(output.status.code(), Some(3));
    // Something that is not a health report (the liveness answer, as if it were the base URL).
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args(["health", "check", "--url", &rig.url("/livez?")])
        .output()
        .await
        .expect("run dimby");
    assert_eq!(output.status.code(), Some(3));
    // A required component with no check.
    rig.wait_status(probes::STORE, None, Status::Pass).await;
    let (code, out) = rig.check(&["--require", "discord"]).await;
    assert_eq!(code, 3, "{out}");
}

#[tokio::test]
async fn a_refused_token_never_passes_the_gate() {
    let rig = start(1).await;
    rig.wait_status(probes::STORE, None, Status::Pass).await;
    let wrong = http()
        .get(rig.url("/healthz"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .expect("answer");
    assert_eq!(wrong.status(), 403, "a wrong token is refused, not ignored");
    for json in [false, true] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
            .args([
                "health",
                "check",
                "--url",
                &rig.url(""),
                "--token",
                "not-the-token",
            ])
            .args(json.then_some("--json"))
            .output()
            .await
            .expect("run dimby");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{stdout}");
        assert!(stdout.contains("refused the admin token"), "{stdout}");
        assert!(stderr.contains("refused the admin token"), "{stderr}");
        assert!(!stdout.contains("not-the-token"), "{stdout}");
        if json {
            let report: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
            assert_eq!(report["status"], "unknown", "{report}");
        }
    }
    // Anonymous, the gate still judges the overall status.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args(["health", "check", "--url", &rig.url("")])
        .env_remove("DIMBY_ADMIN_TOKEN")
        .output()
        .await
        .expect("run dimby");
    assert_ne!(output.status.code(), Some(3));
}

#[tokio::test]
async fn the_direct_check_prints_json_and_no_secret() {
    let node = SimNode::start(sim::lavalink::NodeConfig::default().with_name("n1"))
        .await
        .expect("stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dimby.toml");
    let run = |toml: String, json: bool| {
        std::fs::write(&path, toml).expect("write");
        let path = path.clone();
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
                .args(["health", "check", "--direct", "--config"])
                .arg(&path)
                .args(json.then_some("--json"))
                .output()
                .await
                .expect("run dimby");
            (
                output.status.code().unwrap_or(-1),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            )
        }
    };
    let good = format!(
        "[[lavalink.nodes]]\nname = \"n1\"\nurl = \"{}\"\npassword = \"{}\"\n",
        node.rest_url(),
        node.password()
    );
    let (code, all, stdout) = run(good, true).await;
    assert_eq!(code, 0, "{all}");
    let report: Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(report["status"], "pass", "{report}");
    assert_eq!(report["checks"]["lavalink:version"][0]["componentId"], "n1");

    for (toml, secret) in [
        (
            "[[lavalink.nodes]]\nname = \"n1\"\nurl = \"http://127.0.0.1:9\"\npassword = \"direct-unclosed-secret\n".to_owned(),
            "direct-unclosed-secret",
        ),
        (
            "[[lavalink.nodes]]\nname = \"n1\"\nurl = \"http://user:direct-url-secret@127.0.0.1:9\"\npassword = \"p\"\n".to_owned(),
            "direct-url-secret",
        ),
    ] {
        for json in [false, true] {
            let (code, all, stdout) = run(toml.clone(), json).await;
            assert_eq!(code, 2, "{all}");
            assert!(!all.contains(secret), "{all}");
            if json {
                let report: Value = serde_json::from_str(&stdout).expect("JSON");
                assert_eq!(report["status"], "fail", "{report}");
            }
        }
    }
}

#[tokio::test]
async fn the_direct_check_reads_the_config_and_asks_each_node() {
    let node = SimNode::start(sim::lavalink::NodeConfig::default().with_name("n1"))
        .await
        .expect("stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |toml: String| {
        let path = dir.path().join("dimby.toml");
        std::fs::write(&path, toml).expect("write");
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
                .args(["health", "check", "--direct", "--config"])
                .arg(&path)
                .output()
                .await
                .expect("run dimby");
            (
                output.status.code().unwrap_or(-1),
                String::from_utf8_lossy(&output.stdout).into_owned(),
            )
        }
    };
    let node_toml = |password: &str| {
        format!(
            "[[lavalink.nodes]]\nname = \"n1\"\nurl = \"{}\"\npassword = \"{password}\"\n",
            node.rest_url()
        )
    };
    let (code, out) = run(node_toml(node.password())).await;
    assert_eq!(code, 0, "{out}");
    let (code, out) = run(node_toml("wrong")).await;
    assert_eq!(code, 2, "{out}");
    assert!(
        out.contains("refused the password") && !out.contains("wrong"),
        "{out}"
    );
    let (code, out) = run("[admin]\nlisten = 5\n".to_owned()).await;
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("admin.listen"), "{out}");
}

#[tokio::test]
async fn voice_probes_follow_the_nodes_voice_connections() {
    use lavalink::model::{GuildId, UpdatePlayer, UpdatePlayerTrack, VoiceState};
    let rig = start(1).await;
    rig.wait_status(probes::NODE_STATE, Some(rig.nodes[0].name()), Status::Pass)
        .await;
    let track = match rig.cluster.load_tracks("sim:length:600000").await {
        Ok(lavalink::model::LoadResult::Track(track)) => track,
        other => panic!("a track: {other:?}"),
    };
    let guild = GuildId(7);
    rig.cluster
        .update(
            guild,
            UpdatePlayer {
                track: Some(Some(UpdatePlayerTrack::encoded(track.encoded))),
                voice: Some(VoiceState {
                    token: "voice-token".into(),
                    endpoint: "sim-voice-eu-1.discord.media:443".into(),
                    session_id: "voice-session".into(),
                    channel_id: Some("70".into()),
                }),
                ..UpdatePlayer::default()
            },
        )
        .await
        .expect("a player");

    // Connected: a pass that counts the connection (not the "no voice connection" pass). The
    // probe runs every 100 ms; each wait listens from its start.
    let registry = rig.registry.clone();
    let wait = |want: Status, counted: bool| {
        let mut updates = registry.subscribe();
        async move {
            tokio::time::timeout(Duration::from_secs(15), async {
                loop {
                    if let Ok(r) = updates.recv().await
                        && r.spec.name == admin::checks::bot_probes::VOICE_CONNECTED
                        && r.status == want
                        && r.observation.output.is_none() == counted
                    {
                        return r;
                    }
                }
            })
            .await
            .expect("the voice probe reached the state")
        }
    };
    let up = wait(Status::Pass, true).await;
    assert_eq!(up.observation.observed_value, Some(100.0.into()));
    let ping = admin::checks::bot_probes::VoicePingProbe::new(
        rig.cluster.clone(),
        ProbeSettings::default(),
    );
    assert_eq!(health::Probe::check(&ping).await.status, Status::Pass);

    // Discord closes the voice socket: the node reports it down and the check fails.
    rig.nodes[0]
        .close_voice(guild, 4006, "session no longer valid")
        .expect("fault");
    let down = wait(Status::Fail, false).await;
    assert_eq!(down.observation.observed_value, Some(0.0.into()));
    assert!(
        down.observation
            .output
            .is_some_and(|o| o.contains("0 of 1")),
        "names the count"
    );
}

#[tokio::test]
async fn node_player_readiness_and_stats_age_are_probed() {
    use admin::checks::bot_probes::{NodeReadyProbe, NodeStatsAgeProbe};
    let rig = start(1).await;
    let node = rig.nodes[0].name().to_owned();
    rig.wait_status(probes::NODE_STATE, Some(&node), Status::Pass)
        .await;
    let spec = || {
        health::ProbeSpec::new(
            "lavalink:playerReady",
            "component",
            Duration::from_secs(1),
            Duration::from_secs(1),
        )
        .component(node.clone())
    };
    let ready = |identifier: &str| {
        NodeReadyProbe::new(
            spec(),
            rig.cluster.clone(),
            node.clone(),
            identifier.to_owned(),
        )
    };
    let check = |probe: NodeReadyProbe| async move { health::Probe::check(&probe).await.status };
    assert_eq!(check(ready("sim:track:probe")).await, Status::Pass);
    assert_eq!(
        check(ready("sim:empty")).await,
        Status::Warn,
        "found nothing"
    );
    assert_eq!(
        check(ready("sim:error:fault")).await,
        Status::Fail,
        "a load error"
    );

    // Stats: a real node sends them once a minute; the stand-in's first comes at once.
    let stats = |stale_after| {
        NodeStatsAgeProbe::new(spec(), rig.cluster.clone(), node.clone(), stale_after)
    };
    let fresh = health::Probe::check(&stats(Duration::from_secs(3600))).await;
    assert_eq!(fresh.status, Status::Pass, "{fresh:?}");
    let stale = health::Probe::check(&stats(Duration::ZERO)).await;
    assert_eq!(stale.status, Status::Warn, "{stale:?}");

    // The node crashes: it can no longer load anything.
    rig.nodes[0].crash();
    assert_eq!(check(ready("sim:track:probe")).await, Status::Fail);
}

impl Rig {
    /// The output of `check`'s last result.
    fn output(&self, check: &str) -> String {
        self.registry
            .results()
            .into_iter()
            .find(|r| r.spec.name == check)
            .and_then(|r| r.observation.output)
            .unwrap_or_default()
    }

    async fn readyz(&self) -> (u16, String) {
        let ready = http()
            .get(self.url("/readyz?verbose"))
            .send()
            .await
            .expect("answer");
        let status = ready.status().as_u16();
        (status, ready.text().await.expect("body"))
    }
}

async fn store_with_a_guild(dir: &tempfile::TempDir) -> store::SqliteStore {
    let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
        .await
        .expect("store");
    store::Store::set_volume(&store, 5, 50)
        .await
        .expect("write");
    store
}

#[tokio::test]
async fn a_deleted_wal_fails_the_store_check_and_readiness() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with_a_guild(&dir).await;
    let wal = dir.path().join("dimby.sqlite3-wal");
    let rig = start_on(1, dir, Arc::new(store.clone()), HealthOptions::default()).await;
    rig.wait_status(probes::STORE, None, Status::Pass).await;
    rig.wait_status(probes::CLUSTER, None, Status::Pass).await;
    assert_eq!(rig.readyz().await.0, 200);

    std::fs::remove_file(&wal).expect("delete the WAL");
    // Writes still go on (into the deleted file); the probe is what notices.
    store::Store::set_volume(&store, 5, 60)
        .await
        .expect("write");
    rig.wait_status(probes::STORE, None, Status::Fail).await;
    let output = rig.output(probes::STORE);
    assert!(output.contains("dimby.sqlite3-wal"), "{output}");
    assert!(output.contains("was deleted"), "{output}");
    assert!(output.contains("SIGTERM"), "says what to do: {output}");
    let (status, text) = rig.readyz().await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("[-]store"), "{text}");
}

/// Undoes `chattr +i` on drop, so that the temporary directory can be removed.
struct Immutable(std::path::PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

#[tokio::test]
async fn a_store_the_process_cannot_write_fails_readiness() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = store_with_a_guild(&dir).await;
    store.close().await;
    drop(store);
    let path = dir.path().join("dimby.sqlite3");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    // Root writes whatever the mode: make the file immutable instead.
    let _undo = if std::fs::OpenOptions::new().write(true).open(&path).is_ok() {
        let made = std::process::Command::new("chattr")
            .arg("+i")
            .arg(&path)
            .status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!(
                "skipped: this process writes read-only files and chattr +i is not available"
            );
            return;
        }
        Some(Immutable(path.clone()))
    } else {
        None
    };
    // It opens (SQLite falls back to reading only) and answers reads, as in the incident.
    let store = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
        .await
        .expect("opens read-only");
    store::Store::ping(&store).await.expect("reads work");
    let rig = start_on(1, dir, Arc::new(store.clone()), HealthOptions::default()).await;
    rig.wait_status(probes::CLUSTER, None, Status::Pass).await;
    rig.wait_status(probes::STORE, None, Status::Fail).await;
    let output = rig.output(probes::STORE);
    assert!(output.contains("cannot be written"), "{output}");
    assert!(output.contains("readonly"), "{output}");
    let (status, text) = rig.readyz().await;
    assert_eq!(status, 503, "{text}");
    assert!(text.contains("[-]store"), "{text}");
    store.close().await;
}

#[tokio::test]
async fn quarantined_guilds_warn_alert_and_count_without_failing_readiness() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = store::SqliteStore::open(&store::SqliteConfig::new(dir.path()))
        .await
        .expect("store");
    let entry = store::QueueEntry {
        track: "QAAAjQIAJFJpY2sgQXN0bGV5".to_owned(),
        requester_id: 1,
        title: "Title".to_owned(),
        author: "Author".to_owned(),
        length_ms: 180_000,
        uri: None,
        added_at_unix_ms: 1_700_000_000_000,
    };
    for guild in [7_001_u64, 7_002] {
        store::Store::enqueue(
            &sqlite,
            guild,
            &[entry.clone(), entry.clone(), entry.clone()],
            None,
        )
        .await
        .expect("enqueue");
    }
    // A gap in guild 7001's queue positions (0, 1, 7), as a damaged file would have.
    sqlx::query("UPDATE queue_entries SET pos = 7 WHERE guild_id = 7001 AND pos = 2")
        .execute(sqlite.pool())
        .await
        .expect("damage");
    let guard = Arc::new(store::QuarantineGuard::new(Arc::new(sqlite)));
    let loaded = store::Store::load_all_guilds(guard.as_ref())
        .await
        .expect("the load does not fail");
    assert_eq!(
        loaded.guilds.iter().map(|g| g.guild_id).collect::<Vec<_>>(),
        [7_002]
    );
    let event = quarantine::StoreQuarantine {
        damaged: loaded.damaged,
    };
    assert_eq!(event.damaged.len(), 1);
    assert_eq!(event.damaged[0].guild_id, 7_001);
    let metrics = bot::runtime::command_metrics();
    event.record(&metrics);
    let exposition = metrics.encode(telemetry::Format::Prometheus);
    assert!(
        exposition.contains("dimby_store_quarantined_guilds 1"),
        "{exposition}"
    );
    assert!(!exposition.contains("7001"), "no guild id in the metrics");

    let options = HealthOptions {
        quarantine: Some(Arc::clone(&guard)),
        ..HealthOptions::default()
    };
    let rig = start_on(1, dir, guard.clone(), options).await;
    rig.wait_status(quarantine::STORE_QUARANTINE, None, Status::Fail)
        .await;
    rig.wait_status(probes::STORE, None, Status::Pass).await;
    rig.wait_status(probes::CLUSTER, None, Status::Pass).await;
    let output = rig.output(quarantine::STORE_QUARANTINE);
    assert!(output.contains("1 guild(s) quarantined"), "{output}");
    assert!(!output.contains("7001"), "the count, not the ids: {output}");
    // A warning: the other guilds are served, so the process stays ready.
    let (status, text) = rig.readyz().await;
    assert_eq!(status, 200, "{text}");
    // Writes for the quarantined guild change nothing; the others are served.
    assert!(matches!(
        store::Store::set_volume(guard.as_ref(), 7_001, 10).await,
        Err(store::Error::Quarantined { guild_id: 7_001 })
    ));
    store::Store::set_volume(guard.as_ref(), 7_002, 10)
        .await
        .expect("served");
}
