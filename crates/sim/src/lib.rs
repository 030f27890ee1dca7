//! Stand-ins for the services DimbyBot talks to but that cannot run on a developer machine or in
//! CI: in-process servers that speak the real wire protocols over loopback, with faults that can
//! be switched on at run time and time driven by an injected [`clock::Clock`].
//!
//! - [`lavalink`]: a Lavalink v4 node (REST, event socket, resuming, playback model, catalogue,
//!   fault injection and a control endpoint).
//!
//! - [`discord`]: a Discord gateway v10 and REST subset (sessions, resume, compression,
//!   interactions, voice, scripted users, fault injection).

pub mod discord;
pub mod lavalink;
mod net;
