//! SIGHUP never ends `dimby run`: not during start-up, not without a config file.
#![cfg(unix)]

use std::process::Stdio;
use std::time::Duration;

use app::reload::{ReloadOutcome, WatchSettings, watch};
use cluster::Cluster;
use sim::lavalink::SimNode;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr};

/// A REST endpoint that takes connections and never answers: the bot stays in its start-up
/// (checking Discord's REST API) while the test signals it.
async fn silent_rest() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

fn spawn(args: &[&str], rest: std::net::SocketAddr, data: &std::path::Path) -> Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .arg("run")
        .args(args)
        .env("RUST_LOG", "app=debug,warn")
        .env("DIMBY_DISCORD_TOKEN", "hangup-test-token")
        .env("DIMBY_DISCORD__REST_PROXY", rest.to_string())
        .env("DIMBY_ADMIN__LISTEN", "127.0.0.1:0")
        .env("DIMBY_STORE__DATA_DIR", data)
        .env_remove("DIMBY_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start dimby run")
}

/// Reads log lines until one contains `needle`; panics if the process ends first.
async fn wait_for(lines: &mut Lines<BufReader<ChildStderr>>, child: &mut Child, needle: &str) {
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            if line.contains(needle) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or_else(|_| panic!("no {needle:?} within the guard"));
    if !found {
        let status = child.wait().await.expect("status");
        panic!("the process ended before logging {needle:?}: {status}");
    }
}

fn hangup(child: &Child) {
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
}

async fn still_running_after_hangup(args: &[&str], dir: &tempfile::TempDir, expect: &str) {
    let (rest, silent) = silent_rest().await;
    let mut child = spawn(args, rest, &dir.path().join("data"));
    let mut lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    wait_for(&mut lines, &mut child, "SIGHUP handled").await;
    for _ in 0..2 {
        hangup(&child);
        wait_for(&mut lines, &mut child, expect).await;
    }
    assert!(
        child.try_wait().expect("status").is_none(),
        "still running after two SIGHUPs"
    );
    child.kill().await.expect("kill");
    silent.abort();
}

#[tokio::test]
async fn sighup_without_a_config_file_is_logged_and_ignored() {
    let dir = tempfile::tempdir().expect("temp dir");
    still_running_after_hangup(&[], &dir, "nothing to reload").await;
}

#[tokio::test]
async fn sighup_during_start_up_waits_for_the_watcher() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("dimby.toml");
    std::fs::write(&config, "[bot]\nposition_tick = \"5s\"\n").expect("write");
    let config = config.to_str().expect("utf-8 path").to_owned();
    still_running_after_hangup(&["--config", &config], &dir, "during start-up").await;
}

async fn next(outcomes: &mut tokio::sync::mpsc::UnboundedReceiver<ReloadOutcome>) -> ReloadOutcome {
    tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
        .await
        .expect("a reload within the guard")
        .expect("watcher alive")
}

fn node_toml(node: &SimNode) -> String {
    format!(
        "[[lavalink.nodes]]\nname = \"{}\"\nurl = \"{}\"\npassword = \"{}\"\n",
        node.name(),
        node.rest_url(),
        node.password()
    )
}

/// A SIGHUP that came before the watcher ran (during start-up) is acted on as soon as it runs;
/// later ones as they come. (Its own test binary: the signal goes to this process.)
#[tokio::test]
async fn a_sighup_during_start_up_reloads_once_the_watcher_runs() {
    let a = SimNode::start(sim::lavalink::NodeConfig::default().with_name("a"))
        .await
        .expect("stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dimby.toml");
    std::fs::write(&path, node_toml(&a)).expect("write");
    let config = app::config::Config::load(Some(&path)).expect("config");
    let (cluster, _events) =
        Cluster::start(config.cluster(1), clock::SystemClock::shared()).expect("cluster");

    // This test process handles SIGHUP from here on, as `dimby run` does from its first line.
    app::hangup::install(Some(path.clone()));
    let mut counted = app::hangup::subscribe().expect("installed");
    let hangup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &std::process::id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    };
    hangup();
    tokio::time::timeout(Duration::from_secs(10), counted.changed())
        .await
        .expect("the SIGHUP counted within the guard")
        .expect("handler alive");

    // The file is unchanged and the watcher never polls (an hour): only the SIGHUP that came
    // before it can make it reload.
    let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let watcher = watch(
        path.clone(),
        cluster.clone(),
        WatchSettings {
            poll: Duration::from_secs(3600),
            settle: Duration::from_millis(20),
        },
        tx,
    );
    assert_eq!(
        next(&mut outcomes).await,
        ReloadOutcome::Applied { nodes: 1 }
    );
    hangup();
    assert_eq!(
        next(&mut outcomes).await,
        ReloadOutcome::Applied { nodes: 1 }
    );
    watcher.abort();
}
