//! A voice probe for a candidate in standby: a short gateway session of its own, on the staging
//! guild's shard only, that joins a voice channel and hands back what a Lavalink node needs to
//! connect there (the deploy gate plays a probe track through it), then leaves and closes.
//!
//! The serving process keeps its own sessions: this one identifies once (one of the
//! application's session starts) and only sends Update Voice State for the staging guild, a
//! guild used for nothing else. Both sessions see the guild's events; this one reads only its
//! voice events and READY.

use std::time::Duration;

use futures_util::StreamExt as _;
use twilight_gateway::StreamExt as _;
use twilight_gateway::{CloseFrame, ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId};

use crate::identify::IdentifyQueue;
use twilight_model::gateway::payload::outgoing::UpdateVoiceState;

use crate::{ChannelId, DiscordError, GuildId, Standby};

/// A joined voice channel, until [`VoiceProbe::leave`].
pub struct VoiceProbe {
    shard: Shard<IdentifyQueue>,
    guild: GuildId,
    /// What the node needs to connect (token, endpoint, session, channel).
    pub voice: lavalink::model::VoiceState,
}

impl std::fmt::Debug for VoiceProbe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VoiceProbe")
            .field("guild", &self.guild)
            .field("endpoint", &self.voice.endpoint)
            .finish_non_exhaustive()
    }
}

impl Standby {
    /// Opens a session on `guild`'s shard, joins `channel` (deafened) and waits for the voice
    /// state and server, within `bound`.
    pub async fn voice_probe(
        &self,
        guild: GuildId,
        channel: ChannelId,
        bound: Duration,
    ) -> Result<VoiceProbe, DiscordError> {
        let total = self.shard_range()?.total;
        let number = crate::shard_of(guild, total);
        // The application's identify queue: its turn after the serving process's identifies
        // (shared), or its own with the application's limits (a retry 5 s after Discord refused
        // one within 5 s of the serving process's).
        let queue = self.identify_queue();
        let mut config = ConfigBuilder::new(
            self.settings.token.clone(),
            Intents::GUILDS | Intents::GUILD_VOICE_STATES,
        )
        .queue(queue);
        if let Some(url) = &self.settings.gateway_url {
            config = config.proxy_url(url.clone());
        }
        let mut shard = Shard::with_config(ShardId::new(number, total), config.build());
        let failed = |message: String| DiscordError::VoiceProbe { guild, message };
        let joined = tokio::time::timeout(bound, join(&mut shard, self.bot, guild, channel))
            .await
            .map_err(|_| failed(format!("no voice connection within {bound:?}")))
            .and_then(|joined| joined.map_err(failed));
        match joined {
            Ok(voice) => Ok(VoiceProbe {
                shard,
                guild,
                voice,
            }),
            Err(error) => {
                close(&mut shard).await;
                Err(error)
            }
        }
    }
}

impl VoiceProbe {
    /// Leaves the channel (waiting up to `bound` for Discord to say so) and closes the session.
    pub async fn leave(mut self, bound: Duration) {
        let leave = UpdateVoiceState::new(self.guild, None, true, false);
        self.shard.command(&leave);
        let guild = self.guild;
        let left = tokio::time::timeout(bound, async {
            while let Some(item) = self
                .shard
                .next_event(EventTypeFlags::VOICE_STATE_UPDATE)
                .await
            {
                if let Ok(Event::VoiceStateUpdate(state)) = item
                    && state.guild_id == Some(guild)
                    && state.channel_id.is_none()
                {
                    return;
                }
            }
        })
        .await;
        if left.is_err() {
            tracing::warn!(%guild, "the voice probe's leave was not confirmed in time");
        }
        close(&mut self.shard).await;
    }
}

/// READY, then the join, then the bot's own voice state and the voice server.
async fn join(
    shard: &mut Shard<IdentifyQueue>,
    bot: crate::UserId,
    guild: GuildId,
    channel: ChannelId,
) -> Result<lavalink::model::VoiceState, String> {
    let wanted = EventTypeFlags::READY
        | EventTypeFlags::GATEWAY_INVALIDATE_SESSION
        | EventTypeFlags::GUILD_CREATE
        | EventTypeFlags::VOICE_STATE_UPDATE
        | EventTypeFlags::VOICE_SERVER_UPDATE;
    let mut session = None;
    let mut server = None;
    while let Some(item) = shard.next_event(wanted).await {
        let event = match item {
            Ok(event) => event,
            Err(error) => {
                // A message that could not be read: twilight goes on (or reconnects).
                tracing::debug!(%error, "the voice probe's gateway session");
                continue;
            }
        };
        match event {
            Event::Ready(_) => {
                shard.command(&UpdateVoiceState::new(guild, Some(channel), true, false));
            }
            // Closed (an identify refused with op 9 within Discord's 5 s of the serving
            // process's, a reconnect request): twilight connects again and identifies through
            // its queue; a fatal close ends the stream below. The caller's bound caps the retries.
            Event::GatewayClose(_) | Event::GatewayInvalidateSession(_) => {
                session = None;
                server = None;
            }
            Event::VoiceStateUpdate(state)
                if state.guild_id == Some(guild) && state.user_id == bot =>
            {
                if state.channel_id != Some(channel) {
                    continue;
                }
                session = Some(state.session_id.clone());
            }
            Event::VoiceServerUpdate(update) if update.guild_id == guild => {
                if let Some(endpoint) = update.endpoint {
                    server = Some((update.token, endpoint));
                }
            }
            _ => {}
        }
        if let (Some(session_id), Some((token, endpoint))) = (&session, &server) {
            return Ok(lavalink::model::VoiceState {
                token: token.clone(),
                endpoint: endpoint.clone(),
                session_id: session_id.clone(),
                channel_id: Some(channel.to_string()),
            });
        }
    }
    Err("the gateway connection ended".to_owned())
}

/// Closes the session (not resumable) and stops polling once the close is sent: a twilight
/// shard polled after its close connects again, which would identify once more.
async fn close(shard: &mut Shard<IdentifyQueue>) {
    shard.close(CloseFrame::NORMAL);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Some(item) = shard.next().await {
            if matches!(item, Ok(twilight_gateway::Message::Close(_))) {
                return;
            }
        }
    })
    .await;
}
