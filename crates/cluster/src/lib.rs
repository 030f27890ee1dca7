//! Many Lavalink nodes as one: the node registry (static, reloadable, changed at run time), node
//! health (socket state, active probes, silence, a circuit breaker per node with slow start and
//! flap damping), selection (penalty, region affinity, priority tiers, weights), the player ledger,
//! failover (resume first after a blip, move at once after a graceful close or a hang) and drain.
//!
//! The bot calls [`Cluster`] and never a node directly; everything that happens comes out of one
//! ordered stream of typed [`ClusterEvent`]s.

mod breaker;
mod cluster;
mod config;
mod events;
mod failover;
mod ledger;
mod node;
pub mod selection;
pub mod window;

pub use breaker::{Breaker, CircuitState, Transition};
pub use cluster::{
    Applied, Cluster, ClusterError, DetachedSession, DrainProgress, Link, LyricsAnswer, NodeView,
    PlayerView, VoiceConnection,
};
pub use config::{
    BreakerConfig, ClientTemplate, ClusterConfig, FailoverConfig, NodeSpec, ProbeConfig,
    RegionRule, SelectionPolicy, SpecError, validate_nodes,
};
pub use events::{ClusterEvent, DrainMode, DrainReport, HandoverOutcome, MoveCause, MoveOutcome};
pub use ledger::{Observed, PlayerRecord, Recreate};
