//! One task per shard: receives gateway events, keeps the cache, turns what the core needs into
//! [`DiscordEvent`]s, keeps the shard's status, and closes (resumably) on request.

use std::collections::HashMap;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;

use crate::identify::IdentifyQueue;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use twilight_cache_inmemory::InMemoryCache;
use twilight_gateway::error::ReceiveMessageError;
use twilight_gateway::{CloseFrame, Event, EventTypeFlags, Message, Session, Shard, ShardState};
use twilight_model::gateway::payload::incoming::GuildCreate;

use super::event::{DiscordEvent, ShardStatus};
use super::interaction;
use super::rest::Rest;
use super::voice::VoiceTracker;
use super::{UserId, lock};

/// How long a resumable close may take before the session is handed over as it is.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a successor process needs to resume a shard's gateway session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardHandover {
    /// The shard id.
    pub shard: u32,
    /// The shard count.
    pub total: u32,
    /// Session id and last sequence; `None` if the shard had no session.
    pub session: Option<Session>,
    /// Where to resume (READY's `resume_gateway_url`).
    pub resume_url: Option<String>,
}

pub(crate) enum Control {
    Close {
        resumable: bool,
        reply: oneshot::Sender<ShardHandover>,
    },
}

/// What every shard task shares.
pub(crate) struct Shared {
    pub(crate) rest: Rest,
    pub(crate) cache: Arc<InMemoryCache>,
    pub(crate) bot: UserId,
    pub(crate) auto_defer: Duration,
    pub(crate) events: mpsc::UnboundedSender<DiscordEvent>,
    pub(crate) status: Mutex<HashMap<u32, ShardStatus>>,
    pub(crate) voice: Mutex<VoiceTracker>,
}

impl Shared {
    pub(crate) fn voice(&self) -> MutexGuard<'_, VoiceTracker> {
        self.voice.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn emit(&self, event: DiscordEvent) {
        // A core that stopped listening is no reason to stop the shard (it keeps heartbeating).
        let _ = self.events.send(event);
    }

    fn status(
        &self,
        shard: &Shard<IdentifyQueue>,
        change: impl FnOnce(&mut ShardStatus),
    ) -> ShardStatus {
        let id = shard.id();
        let mut all = lock(&self.status);
        let status = all
            .entry(id.number())
            .or_insert_with(|| ShardStatus::new(id.number(), id.total()));
        status.latency = shard.latency().average();
        change(status);
        status.clone()
    }

    fn handle(&self, shard: &Shard<IdentifyQueue>, event: Event) {
        let now = Instant::now();
        let gateway = match &event {
            Event::Ready(_) => Some(self.status(shard, |s| {
                if s.connected {
                    // The connection ended without an error surfacing (twilight reconnected).
                    s.disconnects += 1;
                }
                s.connected = true;
                s.identifies += 1;
                s.last_event = Some(now);
            })),
            Event::Resumed => Some(self.status(shard, |s| {
                if s.connected {
                    // The connection ended without an error surfacing (twilight reconnected).
                    s.disconnects += 1;
                }
                s.connected = true;
                s.resumes += 1;
                s.last_event = Some(now);
            })),
            Event::GatewayClose(_) => self.disconnected(shard),
            _ => {
                self.status(shard, |s| s.last_event = Some(now));
                None
            }
        };
        if let Some(status) = gateway {
            tracing::info!(
                shard = status.shard,
                connected = status.connected,
                resumes = status.resumes,
                "gateway status"
            );
            self.emit(DiscordEvent::Gateway(status));
        }

        // Voice: compare with the cache before it learns the new state, and tell the core only
        // after it has: the core reads the cache when it acts on the event (who is still in the
        // channel a listener left), and must not find the state from before.
        let voice = self.voice_events(&event);
        self.cache.update(&event);
        for event in voice {
            self.emit(event);
        }
        self.dispatch(event);
    }

    /// Replays a predecessor's cache as the GUILD_CREATEs a fresh session would have got (each
    /// one seeds the bot's voice and tells the core the guild is available), then takes its
    /// voice connections with their server halves.
    pub(crate) fn replay(&self, snapshot: crate::snapshot::CacheSnapshot) {
        for guild in snapshot.guilds {
            let event = Event::GuildCreate(Box::new(GuildCreate::Available(guild)));
            self.cache.update(&event);
            self.dispatch(event);
        }
        let mut voice = self.voice();
        for connection in snapshot.voice {
            voice.adopt(connection);
        }
    }

    /// What a voice event tells the core, judged against the cache as it was before the event.
    fn voice_events(&self, event: &Event) -> Vec<DiscordEvent> {
        match event {
            Event::VoiceStateUpdate(update) => {
                let Some(guild) = update.guild_id else {
                    return Vec::new();
                };
                if update.user_id == self.bot {
                    return self
                        .voice()
                        .state_update(guild, update.channel_id, &update.session_id);
                }
                let from = self
                    .cache
                    .voice_state(update.user_id, guild)
                    .map(|state| state.channel_id());
                if from == update.channel_id {
                    return Vec::new();
                }
                vec![DiscordEvent::UserVoice {
                    guild,
                    user: update.user_id,
                    from,
                    to: update.channel_id,
                }]
            }
            Event::VoiceServerUpdate(update) => self.voice().server_update(
                update.guild_id,
                &update.token,
                update.endpoint.as_deref(),
            ),
            _ => Vec::new(),
        }
    }

    fn dispatch(&self, event: Event) {
        match event {
            Event::GuildCreate(created) => match *created {
                GuildCreate::Available(guild) => {
                    for state in &guild.voice_states {
                        if state.user_id == self.bot
                            && let Some(channel) = state.channel_id
                        {
                            self.voice().seed(guild.id, channel, &state.session_id);
                        }
                    }
                    self.emit(DiscordEvent::GuildAvailable {
                        guild: guild.id,
                        name: guild.name,
                    });
                }
                GuildCreate::Unavailable(guild) => self.emit(DiscordEvent::GuildUnavailable {
                    guild: guild.id,
                    removed: false,
                }),
            },
            Event::GuildDelete(deleted) => self.emit(DiscordEvent::GuildUnavailable {
                guild: deleted.id,
                removed: deleted.unavailable != Some(true),
            }),
            Event::InteractionCreate(created) => {
                if let Some(event) = interaction::event(created.0, &self.rest, self.auto_defer) {
                    self.emit(event);
                }
            }
            _ => {}
        }
    }

    /// Marks the shard disconnected; the status if it was connected until now.
    fn disconnected(&self, shard: &Shard<IdentifyQueue>) -> Option<ShardStatus> {
        let mut was_connected = false;
        let status = self.status(shard, |s| {
            was_connected = s.connected;
            if s.connected {
                s.disconnects += 1;
            }
            s.connected = false;
        });
        was_connected.then_some(status)
    }
}

fn handover(shard: &Shard<IdentifyQueue>) -> ShardHandover {
    ShardHandover {
        shard: shard.id().number(),
        total: shard.id().total(),
        session: shard.session().cloned(),
        resume_url: shard.resume_url().map(ToOwned::to_owned),
    }
}

/// The next event, or `Err(())` once a requested close has been sent: polling on after that
/// would let twilight reconnect (and resume the session a successor is about to take).
fn next_event(
    shard: &mut Shard<IdentifyQueue>,
    closing: bool,
    cx: &mut Context<'_>,
) -> Poll<Result<Option<Result<Event, ReceiveMessageError>>, ()>> {
    loop {
        match shard.poll_next_unpin(cx) {
            Poll::Pending => {
                let closed = matches!(shard.state(), ShardState::Disconnected { .. });
                return if closing && closed {
                    Poll::Ready(Err(()))
                } else {
                    Poll::Pending
                };
            }
            Poll::Ready(None) => return Poll::Ready(Ok(None)),
            Poll::Ready(Some(Err(error))) => return Poll::Ready(Ok(Some(Err(error)))),
            Poll::Ready(Some(Ok(Message::Close(frame)))) => {
                return Poll::Ready(Ok(Some(Ok(Event::GatewayClose(frame)))));
            }
            Poll::Ready(Some(Ok(Message::Text(text)))) => {
                match twilight_gateway::parse(text, EventTypeFlags::all()) {
                    Ok(Some(event)) => return Poll::Ready(Ok(Some(Ok(Event::from(event))))),
                    Ok(None) => {}
                    Err(error) => return Poll::Ready(Ok(Some(Err(error)))),
                }
            }
        }
    }
}

/// Runs one shard until it is closed, fatally closed, or every [`super::Discord`] is dropped.
pub(crate) async fn run(
    mut shard: Shard<IdentifyQueue>,
    core: Arc<Shared>,
    mut control: mpsc::Receiver<Control>,
) {
    let number = shard.id().number();
    let sender = shard.sender();
    let mut closing = false;
    let mut reply_to: Option<oneshot::Sender<ShardHandover>> = None;
    let close_deadline = tokio::time::sleep(CLOSE_TIMEOUT);
    tokio::pin!(close_deadline);
    loop {
        let item = tokio::select! {
            command = control.recv(), if !closing => {
                let resumable = match command {
                    Some(Control::Close { resumable, reply }) => {
                        reply_to = Some(reply);
                        resumable
                    }
                    None => false,
                };
                let _ = sender.close(if resumable { CloseFrame::RESUME } else { CloseFrame::NORMAL });
                closing = true;
                close_deadline.as_mut().reset(tokio::time::Instant::now() + CLOSE_TIMEOUT);
                continue;
            }
            () = &mut close_deadline, if closing => {
                tracing::warn!(shard = number, "the close frame could not be sent in time");
                break;
            }
            item = poll_fn(|cx| next_event(&mut shard, closing, cx)) => item,
        };
        match item {
            Err(()) => break,
            Ok(None) => {
                tracing::warn!(shard = number, "shard closed for good");
                break;
            }
            Ok(Some(Ok(event))) => {
                let close = matches!(event, Event::GatewayClose(_));
                core.handle(&shard, event);
                if close && closing {
                    break;
                }
            }
            Ok(Some(Err(error))) => {
                tracing::warn!(shard = number, %error, "gateway error; twilight reconnects");
                if let Some(status) = core.disconnected(&shard) {
                    core.emit(DiscordEvent::Gateway(status));
                }
            }
        }
    }
    core.disconnected(&shard);
    let status = core.status(&shard, |s| s.running = false);
    tracing::info!(shard = number, "shard stopped");
    core.emit(DiscordEvent::Gateway(status));
    if let Some(reply) = reply_to {
        let _ = reply.send(handover(&shard));
    }
}
