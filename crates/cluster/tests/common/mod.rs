//! Shared set-up for the cluster's tests: stand-in nodes and a cluster on one manual clock, and
//! waiting for cluster events without sleeping.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use clock::ManualClock;
use cluster::{Cluster, ClusterConfig, ClusterEvent};
use lavalink::model::{GuildId, UpdatePlayer, UpdatePlayerTrack, VoiceState};
use sim::lavalink::SimNode;
use tokio::sync::mpsc;

/// A failure guard for things that should happen at once.
pub const GUARD: Duration = Duration::from_secs(20);

/// Stand-ins and a cluster over them.
pub struct Rig {
    pub clock: ManualClock,
    pub nodes: Vec<SimNode>,
    pub cluster: Cluster,
    pub events: mpsc::UnboundedReceiver<ClusterEvent>,
}

pub use test_support::node_spec;

/// `n` stand-ins (named sim-1..sim-n) and a cluster connected to all of them.
pub async fn rig(n: usize) -> Rig {
    rig_with(n, |_| {}).await
}

pub async fn rig_with(n: usize, tweak: impl FnOnce(&mut ClusterConfig)) -> Rig {
    rig_like(n, |_| {}, tweak).await
}

/// `n` stand-ins set up by `node` (a server behaviour, cores...) and a cluster over them.
pub async fn rig_like(
    n: usize,
    node: impl FnOnce(&mut sim::lavalink::NodeConfig),
    tweak: impl FnOnce(&mut ClusterConfig),
) -> Rig {
    let clock = ManualClock::new();
    let mut config = sim::lavalink::NodeConfig::default().with_clock(clock.shared());
    node(&mut config);
    let nodes = sim::lavalink::start_nodes(n, config)
        .await
        .expect("stand-ins");
    let mut config = config_for(&nodes);
    tweak(&mut config);
    let (cluster, events) = Cluster::start(config, clock.shared()).expect("cluster");
    let mut rig = Rig {
        clock,
        nodes,
        cluster,
        events,
    };
    let mut ready = std::collections::HashSet::new();
    while ready.len() < n {
        let node = rig
            .wait_for(|e| match e {
                ClusterEvent::NodeReady { node, .. } => Some(node.clone()),
                _ => None,
            })
            .await;
        ready.insert(node);
    }
    rig
}

/// The cluster configuration the rigs use for these stand-ins.
pub fn config_for(nodes: &[SimNode]) -> ClusterConfig {
    let mut config = ClusterConfig::new(1, nodes.iter().map(node_spec).collect());
    config.probe.timeout = Duration::from_millis(300);
    config.client.request_timeout = Duration::from_secs(5);
    config.client.reconnect.min_delay = Duration::from_millis(10);
    config.client.reconnect.max_delay = Duration::from_millis(100);
    config
}

pub fn voice(guild: GuildId) -> VoiceState {
    VoiceState {
        token: format!("token-{guild}"),
        endpoint: "sim-voice-eu-1.discord.media:443".into(),
        session_id: format!("voice-session-{guild}"),
        channel_id: Some(format!("{}", guild.0 + 1)),
    }
}

pub fn play(encoded: &str, guild: GuildId) -> UpdatePlayer {
    UpdatePlayer {
        track: Some(Some(UpdatePlayerTrack::encoded(encoded))),
        voice: Some(voice(guild)),
        ..UpdatePlayer::default()
    }
}

impl Rig {
    /// Waits until `pick` accepts an event, skipping the others (a failure guard, not a delay).
    pub async fn wait_for<T>(&mut self, mut pick: impl FnMut(&ClusterEvent) -> Option<T>) -> T {
        let mut seen = Vec::new();
        let found = tokio::time::timeout(GUARD, async {
            while let Some(event) = self.events.recv().await {
                if let Some(found) = pick(&event) {
                    return Some(found);
                }
                if seen.len() < 40 {
                    seen.push(format!("{event:?}").chars().take(160).collect::<String>());
                }
            }
            None
        })
        .await;
        let Ok(found) = found else {
            panic!("the awaited cluster event did not come within {GUARD:?}; seen: {seen:#?}")
        };
        found.unwrap_or_else(|| panic!("the cluster stopped; seen: {seen:#?}"))
    }

    /// The stand-in named `name`.
    pub fn node(&self, name: &str) -> &SimNode {
        self.nodes
            .iter()
            .find(|n| n.name() == name)
            .unwrap_or_else(|| panic!("no stand-in {name}"))
    }

    /// Loads a track of `length_ms` and returns its encoded form.
    pub async fn track(&self, length_ms: u64) -> String {
        let result = self
            .cluster
            .load_tracks(&format!("sim:length:{length_ms}"))
            .await
            .expect("load");
        result.tracks()[0].encoded.clone()
    }

    /// Starts `count` players (guilds 1..=count) on the cluster; returns guild -> node.
    pub async fn start_players(&self, count: u64, length_ms: u64) -> HashMap<GuildId, String> {
        let encoded = self.track(length_ms).await;
        let mut placed = HashMap::new();
        for id in 1..=count {
            let guild = GuildId(id);
            match self.cluster.update(guild, play(&encoded, guild)).await {
                Ok(cluster::Applied::OnNode(node)) => {
                    placed.insert(guild, node);
                }
                other => panic!("player {id} not placed: {other:?}"),
            }
        }
        self.wait_started(placed.keys()).await;
        placed
    }

    /// Waits until the cluster has read the TrackStart and the first playerUpdate of every
    /// guild's play from its node (both go out at the start): a message read after the test
    /// steps the clock would be stamped with the later instant.
    pub async fn wait_started<'a>(&self, guilds: impl IntoIterator<Item = &'a GuildId>) {
        let guilds: Vec<GuildId> = guilds.into_iter().copied().collect();
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let waiting = guilds
                .iter()
                .filter(|g| {
                    self.cluster
                        .player(**g)
                        .is_none_or(|p| !p.record.started || p.record.last_update.is_none())
                })
                .count();
            if waiting == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{waiting} players never reported their start"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// The stand-in's view of a guild's player on node `name` (the position the node plays at).
    pub fn sim_position(&self, name: &str, guild: GuildId) -> Option<u64> {
        let node = self.node(name);
        node.sessions()
            .iter()
            .find_map(|s| node.player(&s.id, guild))
            .map(|p| p.state.position)
    }

    /// Waits until the cluster's ledger has observed `position_ms` for every guild (its
    /// playerUpdates were read), a failure guard bounding the wait.
    pub async fn wait_observed(&self, guilds: &[GuildId], position_ms: u64) {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let behind = guilds
                .iter()
                .filter(|g| {
                    self.cluster
                        .player(**g)
                        .is_none_or(|p| p.record.position.position_ms != position_ms)
                })
                .count();
            if behind == 0 {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{behind} players never reported {position_ms} ms"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Waits until the cluster has a sign of life from `node` at the clock's current instant
    /// (its answer to the ping the clock step triggered).
    pub async fn wait_seen_now(&self, node: &str) {
        let deadline = tokio::time::Instant::now() + GUARD;
        loop {
            let seen = self
                .cluster
                .nodes()
                .into_iter()
                .find(|v| v.name == node)
                .and_then(|v| v.last_seen_ms);
            if seen == Some(0) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{node} never answered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        }
    }

    /// Collects `count` finished moves.
    pub async fn moves(&mut self, count: usize) -> Vec<ClusterEvent> {
        let mut moves = Vec::new();
        while moves.len() < count {
            let event = self
                .wait_for(|e| matches!(e, ClusterEvent::MoveFinished { .. }).then(|| e.clone()))
                .await;
            moves.push(event);
        }
        moves
    }
}
