//! One Lavalink v4 node: the wire model ([`model`]), lavaplayer's binary track format ([`codec`])
//! and the node client ([`client`]) with REST, the event socket, resuming and reconnection.
//!
//! Nothing here knows about Discord types or other nodes; the cluster crate builds on this.

pub mod client;
pub mod codec;
pub mod model;

pub use client::redact_url;
pub use client::{NodeClient, NodeConfig, NodeEvent};
