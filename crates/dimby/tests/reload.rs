//! Reloading the node set from the config file while the cluster runs.

use std::time::Duration;

use app::reload::{ReloadOutcome, WatchSettings, watch};
use cluster::{Cluster, ClusterEvent};
use sim::lavalink::SimNode;

fn node_toml(node: &SimNode) -> String {
    format!(
        "[[lavalink.nodes]]\nname = \"{}\"\nurl = \"{}\"\npassword = \"{}\"\n",
        node.name(),
        node.rest_url(),
        node.password()
    )
}

async fn next(outcomes: &mut tokio::sync::mpsc::UnboundedReceiver<ReloadOutcome>) -> ReloadOutcome {
    tokio::time::timeout(Duration::from_secs(10), outcomes.recv())
        .await
        .expect("a reload within the guard")
        .expect("watcher alive")
}

#[tokio::test]
async fn a_changed_file_adds_nodes_and_a_bad_one_changes_nothing() {
    let a = SimNode::start(sim::lavalink::NodeConfig::default().with_name("a"))
        .await
        .expect("stand-in");
    let b = SimNode::start(sim::lavalink::NodeConfig::default().with_name("b"))
        .await
        .expect("stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("dimby.toml");
    std::fs::write(&path, node_toml(&a)).expect("write");
    let config = app::config::Config::load(Some(&path)).expect("config");
    let (cluster, mut events) =
        Cluster::start(config.cluster(1), clock::SystemClock::shared()).expect("cluster");
    let (tx, mut outcomes) = tokio::sync::mpsc::unbounded_channel();
    let watcher = watch(
        path.clone(),
        cluster.clone(),
        WatchSettings {
            poll: Duration::from_millis(20),
            settle: Duration::from_millis(20),
        },
        tx,
    );

    std::fs::write(&path, format!("{}{}", node_toml(&a), node_toml(&b))).expect("write");
    assert_eq!(
        next(&mut outcomes).await,
        ReloadOutcome::Applied { nodes: 2 }
    );
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Some(ClusterEvent::NodeReady { node, .. }) = events.recv().await
                && node == "b"
            {
                return;
            }
        }
    })
    .await
    .expect("b ready");

    std::fs::write(
        &path,
        "[[lavalink.nodes]]\nname = \"a\"\nurl = \"nonsense\"\npassword = \"p\"\n",
    )
    .expect("write");
    let ReloadOutcome::Refused { reason } = next(&mut outcomes).await else {
        panic!("a bad file was applied")
    };
    assert!(reason.contains("lavalink.nodes[0]"), "{reason}");
    let names: Vec<String> = cluster.nodes().into_iter().map(|v| v.name).collect();
    assert_eq!(names, ["a", "b"], "the running set is unchanged");

    // A line that does not parse and holds a secret: the refusal (and its log line) names the
    // key, file, line and column, never the line.
    std::fs::write(
        &path,
        format!(
            "{}[[lavalink.nodes]]\nname = \"c\"\nurl = \"http://127.0.0.1:9\"\npassword = \"reload-secret-unclosed\n",
            node_toml(&a)
        ),
    )
    .expect("write");
    let ReloadOutcome::Refused { reason } = next(&mut outcomes).await else {
        panic!("a file that does not parse was applied")
    };
    assert!(!reason.contains("reload-secret-unclosed"), "{reason}");
    assert!(reason.contains("lavalink.nodes[].password"), "{reason}");
    assert!(reason.contains("dimby.toml, line 8, column"), "{reason}");
    watcher.abort();
}
