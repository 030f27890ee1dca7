//! Pairs the bot's VOICE_STATE_UPDATE (voice session id, channel) with VOICE_SERVER_UPDATE
//! (token, endpoint) into the complete voice state a Lavalink node needs.

use std::collections::HashMap;

use lavalink::model::VoiceState;

use super::event::{BotVoiceEvent, DiscordEvent};
use super::{ChannelId, GuildId};

#[derive(Debug, Default)]
struct Slot {
    channel: Option<ChannelId>,
    session_id: Option<String>,
    token: Option<String>,
    endpoint: Option<String>,
    leaving: bool,
}

impl Slot {
    fn complete(&self) -> Option<VoiceState> {
        Some(VoiceState {
            token: self.token.clone()?,
            endpoint: self.endpoint.clone()?,
            session_id: self.session_id.clone()?,
            channel_id: Some(self.channel?.to_string()),
        })
    }
}

/// The bot's voice connection per guild.
#[derive(Debug, Default)]
pub(crate) struct VoiceTracker {
    slots: HashMap<GuildId, Slot>,
}

impl VoiceTracker {
    /// The bot asked to leave: the coming `channel_id: null` is a leave, not a kick.
    pub(crate) fn leave_requested(&mut self, guild: GuildId) {
        self.slots.entry(guild).or_default().leaving = true;
    }

    /// The bot asked to join (or move): a pending leave is forgotten.
    pub(crate) fn join_requested(&mut self, guild: GuildId) {
        if let Some(slot) = self.slots.get_mut(&guild) {
            slot.leaving = false;
        }
    }

    /// The channel the bot is in.
    pub(crate) fn channel(&self, guild: GuildId) -> Option<ChannelId> {
        self.slots.get(&guild).and_then(|slot| slot.channel)
    }

    /// The complete voice state, if both halves are known.
    pub(crate) fn complete(&self, guild: GuildId) -> Option<VoiceState> {
        self.slots.get(&guild).and_then(Slot::complete)
    }

    /// Seeds the state from GUILD_CREATE (the bot already in voice, e.g. after a restart): no
    /// events, and no token until the next VOICE_SERVER_UPDATE.
    pub(crate) fn seed(&mut self, guild: GuildId, channel: ChannelId, session_id: &str) {
        let slot = self.slots.entry(guild).or_default();
        if slot.session_id.as_deref() != Some(session_id) {
            slot.token = None;
            slot.endpoint = None;
        }
        slot.channel = Some(channel);
        slot.session_id = Some(session_id.to_owned());
    }

    /// Every voice connection the bot has (a channel and a session), for a successor.
    pub(crate) fn bot_voices(&self) -> Vec<crate::snapshot::BotVoice> {
        let mut voices: Vec<_> = self
            .slots
            .iter()
            .filter_map(|(guild, slot)| {
                Some(crate::snapshot::BotVoice {
                    guild: *guild,
                    channel: slot.channel?,
                    session_id: slot.session_id.clone()?,
                    token: slot.token.clone(),
                    endpoint: slot.endpoint.clone(),
                })
            })
            .collect();
        voices.sort_by_key(|voice| voice.guild);
        voices
    }

    /// Takes a predecessor's voice connection as its own (no events: nothing changed).
    pub(crate) fn adopt(&mut self, voice: crate::snapshot::BotVoice) {
        self.slots.insert(
            voice.guild,
            Slot {
                channel: Some(voice.channel),
                session_id: Some(voice.session_id),
                token: voice.token,
                endpoint: voice.endpoint,
                leaving: false,
            },
        );
    }

    /// The bot's own VOICE_STATE_UPDATE.
    pub(crate) fn state_update(
        &mut self,
        guild: GuildId,
        channel: Option<ChannelId>,
        session_id: &str,
    ) -> Vec<DiscordEvent> {
        let Some(channel) = channel else {
            let Some(slot) = self.slots.remove(&guild) else {
                return Vec::new();
            };
            if slot.channel.is_none() && !slot.leaving {
                return Vec::new();
            }
            let event = if slot.leaving {
                BotVoiceEvent::Left {
                    guild,
                    channel: slot.channel,
                }
            } else {
                BotVoiceEvent::Disconnected {
                    guild,
                    channel: slot.channel,
                }
            };
            return vec![DiscordEvent::BotVoice(event)];
        };
        let slot = self.slots.entry(guild).or_default();
        let new_session = slot.session_id.as_deref() != Some(session_id);
        if new_session && slot.session_id.is_some() {
            // A new voice connection: the old server half is stale.
            slot.token = None;
            slot.endpoint = None;
        }
        let previous = slot.channel.replace(channel);
        slot.session_id = Some(session_id.to_owned());
        slot.leaving = false;
        let mut events = Vec::new();
        match previous {
            None => events.push(DiscordEvent::BotVoice(BotVoiceEvent::Joined {
                guild,
                channel,
            })),
            Some(from) if from != channel => {
                events.push(DiscordEvent::BotVoice(BotVoiceEvent::Moved {
                    guild,
                    from,
                    to: channel,
                }));
            }
            Some(_) => {}
        }
        if (previous != Some(channel) || new_session)
            && let Some(voice) = slot.complete()
        {
            events.push(DiscordEvent::VoiceReady { guild, voice });
        }
        events
    }

    /// VOICE_SERVER_UPDATE; a null endpoint means "wait for the next one".
    pub(crate) fn server_update(
        &mut self,
        guild: GuildId,
        token: &str,
        endpoint: Option<&str>,
    ) -> Vec<DiscordEvent> {
        let slot = self.slots.entry(guild).or_default();
        let Some(endpoint) = endpoint else {
            slot.token = None;
            slot.endpoint = None;
            return Vec::new();
        };
        slot.token = Some(token.to_owned());
        slot.endpoint = Some(endpoint.to_owned());
        slot.complete()
            .map(|voice| vec![DiscordEvent::VoiceReady { guild, voice }])
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use twilight_model::id::Id;

    use super::*;

    fn ready(events: &[DiscordEvent]) -> Option<&VoiceState> {
        events.iter().find_map(|event| match event {
            DiscordEvent::VoiceReady { voice, .. } => Some(voice),
            _ => None,
        })
    }

    #[test]
    fn both_halves_in_either_order_make_one_voice_state() {
        let guild = Id::new(1);
        let channel = Id::new(2);
        let mut tracker = VoiceTracker::default();
        let events = tracker.state_update(guild, Some(channel), "s1");
        assert!(matches!(
            events[..],
            [DiscordEvent::BotVoice(BotVoiceEvent::Joined { .. })]
        ));
        assert!(tracker.server_update(guild, "t", None).is_empty());
        let events = tracker.server_update(guild, "t", Some("e:443"));
        let voice = ready(&events).expect("complete");
        assert_eq!(voice.channel_id.as_deref(), Some("2"));
        assert!(voice.is_complete());

        let mut other = VoiceTracker::default();
        assert!(other.server_update(guild, "t", Some("e")).is_empty());
        let events = other.state_update(guild, Some(channel), "s1");
        assert!(ready(&events).is_some());
    }

    #[test]
    fn moves_leaves_and_kicks() {
        let guild = Id::new(1);
        let mut tracker = VoiceTracker::default();
        tracker.state_update(guild, Some(Id::new(2)), "s1");
        tracker.server_update(guild, "t", Some("e"));
        let events = tracker.state_update(guild, Some(Id::new(3)), "s1");
        assert!(matches!(
            events[0],
            DiscordEvent::BotVoice(BotVoiceEvent::Moved { .. })
        ));
        assert_eq!(
            ready(&events).and_then(|v| v.channel_id.as_deref()),
            Some("3")
        );
        let events = tracker.state_update(guild, None, "s1");
        assert!(matches!(
            events[..],
            [DiscordEvent::BotVoice(BotVoiceEvent::Disconnected { .. })]
        ));
        tracker.state_update(guild, Some(Id::new(2)), "s2");
        tracker.leave_requested(guild);
        let events = tracker.state_update(guild, None, "s2");
        assert!(matches!(
            events[..],
            [DiscordEvent::BotVoice(BotVoiceEvent::Left { .. })]
        ));
        assert!(tracker.complete(guild).is_none());
    }
}
