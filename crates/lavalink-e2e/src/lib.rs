//! End-to-end tests of the Lavalink node client (`crates/lavalink`) against the node stand-in
//! (`crates/sim`), over loopback. The tests live in `tests/`; this library holds their shared
//! helpers: starting a stand-in and a client on one clock, and waiting for events without sleeping.

use std::time::Duration;

use clock::{ManualClock, SharedClock};
use lavalink::client::SilencePolicy;
use lavalink::{NodeClient, NodeConfig, NodeEvent};
use sim::lavalink::SimNode;
use tokio::sync::mpsc;

/// How long a test waits for something that should happen at once (a failure guard, not a delay).
pub const GUARD: Duration = Duration::from_secs(10);

/// The bot user id the tests connect as.
pub const USER_ID: u64 = 170_000_000_000_000_001;

/// A stand-in node and a client connected to it, sharing one manual clock.
pub struct Pair {
    /// The clock both sides run on.
    pub clock: ManualClock,
    /// The stand-in.
    pub node: SimNode,
    /// The client.
    pub client: NodeClient,
    /// The client's events.
    pub events: mpsc::Receiver<NodeEvent>,
    /// The session id from the first `ready`.
    pub session_id: String,
}

/// A client configuration for `node` with test-friendly timings.
pub fn client_config(node: &SimNode) -> NodeConfig {
    let mut config =
        NodeConfig::new("sim", &node.rest_url(), node.password(), USER_ID).expect("client config");
    config.request_timeout = Duration::from_secs(5);
    config.reconnect.min_delay = Duration::from_millis(20);
    config.reconnect.max_delay = Duration::from_millis(200);
    config.silence = SilencePolicy {
        // The stand-in does answer pings; tests that want silence switch pings off.
        ping_interval: None,
        ..SilencePolicy::default()
    };
    config
}

/// Starts a stand-in on a manual clock and a client against it, and waits for `ready`.
pub async fn pair() -> Pair {
    pair_with(|_| {}).await
}

/// Like [`pair`], with a chance to change the client's configuration first.
pub async fn pair_with(tweak: impl FnOnce(&mut NodeConfig)) -> Pair {
    let clock = ManualClock::new();
    let node = start_node(&clock.shared()).await;
    let mut config = client_config(&node);
    tweak(&mut config);
    let (client, mut events) = NodeClient::connect(config, clock.shared());
    let session_id = wait_ready(&mut events).await.0;
    Pair {
        clock,
        node,
        client,
        events,
        session_id,
    }
}

/// Starts a stand-in on `clock`.
pub async fn start_node(clock: &SharedClock) -> SimNode {
    let config = sim::lavalink::NodeConfig::default().with_clock(clock.clone());
    SimNode::start(config).await.expect("start stand-in")
}

/// Waits for the next `Ready`, skipping other events; returns `(session_id, resumed)`.
pub async fn wait_ready(events: &mut mpsc::Receiver<NodeEvent>) -> (String, bool) {
    wait_for(events, |event| match event {
        NodeEvent::Ready {
            session_id,
            resumed,
        } => Some((session_id.clone(), *resumed)),
        _ => None,
    })
    .await
}

/// Waits until `pick` accepts an event, skipping the others, with [`GUARD`] as a failure guard.
/// On failure the panic lists what was skipped, to show what happened instead.
pub async fn wait_for<T>(
    events: &mut mpsc::Receiver<NodeEvent>,
    mut pick: impl FnMut(&NodeEvent) -> Option<T>,
) -> T {
    let mut skipped = Vec::new();
    let found = tokio::time::timeout(GUARD, async {
        loop {
            match events.recv().await {
                Some(event) => {
                    if let Some(found) = pick(&event) {
                        return Some(found);
                    }
                    skipped.push(format!("{event:?}").chars().take(200).collect::<String>());
                }
                None => return None,
            }
        }
    })
    .await;
    let Ok(found) = found else {
        panic!("the awaited event did not come within {GUARD:?}; seen: {skipped:#?}")
    };
    found.unwrap_or_else(|| {
        panic!("the client stopped before the awaited event; seen: {skipped:#?}")
    })
}
