//! Shared scaffolding for tests (and the benchmarks that drive the real bot) on the stand-ins:
//! a cluster's node spec for a stand-in node, a `dimby run` config pointing at the stand-ins, a
//! free loopback port, waiting on a condition under a guard, and the production Discord layer on
//! the Discord stand-in ([`discord_layer`]), the two colours' slots of `dimby deploy`
//! ([`deploy_slots`]), a throwaway PostgreSQL server ([`postgres`]), and TrackStarts counted per
//! guild ([`track_starts`]). Used as a dev-dependency, and by
//! the tools crate's benchmarks; never by the production binary.

pub mod deploy_slots;
pub mod discord_layer;
pub mod postgres;
pub mod track_starts;

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use cluster::NodeSpec;
use sim::discord::DiscordSim;
use sim::lavalink::SimNode;

/// How long a wait may take before the test fails: a failure guard, never a delay.
pub const GUARD: Duration = Duration::from_secs(30);

/// The cluster's spec of a stand-in node: its name, REST URL and password, no region, priority
/// 0, weight 1, enabled.
pub fn node_spec(node: &SimNode) -> NodeSpec {
    NodeSpec {
        name: node.name().to_owned(),
        url: node.rest_url(),
        password: node.password().to_owned(),
        region: None,
        priority: 0,
        weight: 1.0,
        enabled: true,
    }
}

/// A `dimby run` config (TOML) on the stand-ins: Discord, the nodes, the store in `data_dir`,
/// the admin server on a free loopback port; `extra` is appended as it is (more sections).
pub fn run_config(
    discord: &DiscordSim,
    nodes: &[&SimNode],
    data_dir: &Path,
    extra: &str,
) -> String {
    let mut config = format!(
        r#"[discord]
token = "{token}"
gateway_url = "{gateway}"
rest_proxy = "{rest}"

[admin]
listen = "127.0.0.1:0"

[store]
data_dir = "{data}"
"#,
        token = discord.token(),
        gateway = discord.gateway_url(),
        rest = discord.rest_addr(),
        data = data_dir.display(),
    );
    for node in nodes {
        // Writing to a String cannot fail.
        let _ = write!(
            config,
            r#"
[[lavalink.nodes]]
name = "{name}"
url = "{url}"
password = "{password}"
"#,
            name = node.name(),
            url = node.rest_url(),
            password = node.password(),
        );
    }
    if !extra.is_empty() {
        config.push('\n');
        config.push_str(extra);
    }
    config
}

/// A loopback address whose port was free a moment ago (for a child process that must be told
/// its port before it starts).
///
/// # Panics
/// When no loopback port can be bound.
pub fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("a bound listener's address")
}

/// Waits until `done` holds, checking it every 10 ms; fails the test after [`GUARD`] naming
/// `what`.
///
/// # Panics
/// When `done` does not hold within the guard.
pub async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let waited = tokio::time::timeout(GUARD, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(waited.is_ok(), "timed out waiting for {what}");
}

/// The commit `exe` (a `dimby` binary) says it was built from (`dimby --version`), as a deploy of
/// it must name it (`dimby deploy run --commit`).
///
/// # Panics
/// When the binary does not run or prints something else.
pub fn binary_commit(exe: &Path) -> String {
    let output = std::process::Command::new(exe)
        .arg("--version")
        .output()
        .expect("dimby --version");
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .rsplit_once("(commit ")
        .and_then(|(_, rest)| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected dimby --version: {text}"))
        .to_owned()
}
