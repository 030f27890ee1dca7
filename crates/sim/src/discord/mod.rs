//! A Discord stand-in: gateway v10 over WebSocket (with `zlib-stream` and `zstd-stream`
//! transport compression) and the REST subset under `/api/v10` that a twilight 0.18 bot uses,
//! on one loopback port, with scripted users, awaitable answers, fault injection and an
//! injected clock for interaction deadlines.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sim::discord::{DiscordConfig, DiscordSim, GuildSpec, SlashCommand};
//!
//! let sim = DiscordSim::start(DiscordConfig::default()).await?;
//! let guild = sim.create_guild(&GuildSpec::default())?;
//! // Point twilight at sim.gateway_url() and sim.rest_addr(); once the bot registered /play:
//! let alice = guild.member("alice").expect("default member");
//! let play = SlashCommand::new(guild.id, guild.text_channel(), alice, "play").string("query", "x");
//! let interaction = sim.invoke(&play)?;
//! let response = interaction.response().await?;
//! # let _ = response; Ok(()) }
//! ```
//!
//! See docs/sim-discord.md for what is faithful and what is simplified.

#![allow(
    clippy::disallowed_methods,
    reason = "Discord's stand-in runs on real time: its snowflakes and timestamps are wall-clock as Discord's are, and its recordings compare with other processes'"
)]

mod components;
mod compression;
mod config;
mod control;
mod faults;
mod gateway;
mod interactions;
mod messages;
mod model;
mod requests;
mod resources;
mod rest;
mod server;
mod slash;
mod state;
mod users;
mod voice;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use twilight_model::id::Id;
use twilight_model::id::marker::{ApplicationMarker, UserMarker};

pub use components::ButtonPress;
pub use config::{API_VERSION, DEFAULT_TOKEN, DiscordConfig, SimError, WaitError};
pub use faults::{Fault, FaultSummary, Faults};
pub use gateway::close_code;
pub use gateway::{ConnectionInfo, SessionInfo};
pub use interactions::{InteractionHandle, InteractionRecord};
pub use messages::MessageChange;
pub use slash::{SlashCommand, SlashOptions};
pub use users::{GuildInfo, GuildSpec, MemberSpec};
pub use voice::VoiceCommand;

use state::{DEFAULT_WAIT, Shared};

/// A running Discord stand-in. Dropping it stops it (every connection ends).
#[derive(Debug)]
pub struct DiscordSim {
    shared: Arc<Shared>,
    server: Option<JoinHandle<()>>,
}

impl DiscordSim {
    /// Binds `config.listen` (127.0.0.1:0 by default) and serves the gateway and REST there.
    pub async fn start(config: DiscordConfig) -> Result<Self, SimError> {
        if config.heartbeat_interval.is_zero() {
            return Err(SimError::Config(
                "heartbeat_interval must be longer than zero",
            ));
        }
        if config.token.is_empty() {
            return Err(SimError::Config("the token must not be empty"));
        }
        if config.control_password.is_empty() {
            return Err(SimError::Config("the control password must not be empty"));
        }
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|cause| SimError::Bind {
                addr: config.listen,
                cause,
            })?;
        let addr = listener.local_addr().map_err(|cause| SimError::Bind {
            addr: config.listen,
            cause,
        })?;
        let demo = config.demo_guild;
        let shared = Shared::new(config, addr);
        let server = tokio::spawn(server::accept_loop(listener, Arc::clone(&shared)));
        let sim = Self {
            shared,
            server: Some(server),
        };
        if demo {
            sim.create_guild(&GuildSpec::named("DimbyBot demo"))?;
        }
        tracing::info!(%addr, "discord stand-in listening");
        Ok(sim)
    }

    /// The gateway URL (`ws://127.0.0.1:PORT`), for twilight's `ConfigBuilder::proxy_url`.
    /// READY's `resume_gateway_url` and `GET /gateway/bot` give the same.
    pub fn gateway_url(&self) -> String {
        gateway::gateway_url(&self.shared)
    }

    /// The REST address, for twilight-http's `ClientBuilder::proxy(addr.to_string(), true)`.
    pub fn rest_addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// The REST base URL (`http://127.0.0.1:PORT/api/v10`).
    pub fn rest_base(&self) -> String {
        format!("http://{}/api/v10", self.shared.addr)
    }

    /// The bot token the stand-in accepts.
    pub fn token(&self) -> &str {
        &self.shared.config.token
    }

    /// The bot's user id.
    pub fn bot_user_id(&self) -> Id<UserMarker> {
        self.shared.config.bot_user_id
    }

    /// The bot's application id.
    pub fn application_id(&self) -> Id<ApplicationMarker> {
        self.shared.config.application_id
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &DiscordConfig {
        &self.shared.config
    }

    /// Fault injection and gateway control.
    pub fn faults(&self) -> Faults {
        Faults {
            shared: Arc::clone(&self.shared),
        }
    }

    /// The gateway sessions (live or resumable).
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.shared.read(|core| core.sessions.session_infos())
    }

    /// The live gateway connections.
    pub fn connections(&self) -> Vec<ConnectionInfo> {
        self.shared.read(|core| core.sessions.connection_infos())
    }

    /// How many Identify payloads were accepted.
    pub fn identify_count(&self) -> u32 {
        self.shared.read(|core| core.identifies)
    }

    /// How many Identify payloads were refused for breaking Discord's identify limits (a second
    /// one in a `max_concurrency` bucket within 5 s, or past `session_start_total`), each
    /// answered with Invalid Session (op 9): 0 when the clients' identify queue is right.
    pub fn identify_refusals(&self) -> u32 {
        self.shared.read(|core| core.identify_refusals)
    }

    /// Waits (10 s guard) until `check` holds for the sessions, and returns them.
    pub async fn wait_for_sessions(
        &self,
        mut check: impl FnMut(&[SessionInfo]) -> bool,
    ) -> Result<Vec<SessionInfo>, WaitError> {
        self.shared
            .wait_until("gateway sessions", DEFAULT_WAIT, |core| {
                let sessions = core.sessions.session_infos();
                check(&sessions).then_some(sessions)
            })
            .await
    }

    /// Stops serving: every connection ends (gateway connections without a close frame).
    pub async fn shutdown(mut self) {
        self.shared.kill.send_replace(true);
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for DiscordSim {
    fn drop(&mut self) {
        self.shared.kill.send_replace(true);
    }
}

/// Runs a stand-in until Ctrl-C: what `dimby sim discord --listen ADDR` runs. With
/// [`DiscordConfig::standalone`] it has a demo guild; the token, gateway URL and REST base are
/// logged at info level.
pub async fn run_standalone(config: DiscordConfig) -> Result<(), SimError> {
    let sim = DiscordSim::start(config).await?;
    tracing::info!(
        gateway = %sim.gateway_url(),
        rest = %sim.rest_base(),
        token = %sim.token(),
        control = %format!("http://{}/sim/state", sim.rest_addr()),
        "discord stand-in ready",
    );
    tokio::signal::ctrl_c().await.map_err(SimError::Signal)?;
    sim.shutdown().await;
    Ok(())
}
