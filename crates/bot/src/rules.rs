//! Who may do what in a guild, by its `/settings`: without a DJ role everyone in the bot's voice
//! channel may control playback; with one, stopping, clearing, the volume, the filters and the
//! queue's order are for DJs and for whoever asked for the current track, and others skip by
//! vote (a share of the channel's listeners). A DJ is a member with the role, a member with
//! Manage Server, or a listener alone with the bot.
//!
//! Pure rules over what the caller is; the guild's actor asks them and keeps the votes.

use std::collections::HashSet;

use discord::{CommandInvocation, Permissions, UserId};
use store::GuildSettings;

use super::commands::{Command, SettingsAction};

/// Whether the caller may change the server's settings (Manage Server or Administrator).
pub fn manages_server(invocation: &CommandInvocation) -> bool {
    invocation.member_permissions.is_some_and(|permissions| {
        permissions.contains(Permissions::MANAGE_GUILD)
            || permissions.contains(Permissions::ADMINISTRATOR)
    })
}

/// Whether the caller counts as a DJ: the role, Manage Server, or alone with the bot.
pub fn is_dj(invocation: &CommandInvocation, role: u64, listeners: &[UserId]) -> bool {
    invocation.member_roles.iter().any(|id| id.get() == role)
        || manages_server(invocation)
        || listeners == [invocation.user]
}

/// The commands a DJ role keeps for DJs and the current track's requester.
pub fn for_djs(command: &Command) -> bool {
    matches!(
        command,
        Command::Stop
            | Command::Clear
            | Command::Leave
            | Command::Volume { .. }
            | Command::Filter { .. }
            | Command::Move { .. }
    )
}

/// The refusal of a command the caller may not run here, if they may not.
pub fn refusal(
    settings: &GuildSettings,
    invocation: &CommandInvocation,
    command: &Command,
    requester: Option<u64>,
    listeners: &[UserId],
) -> Option<String> {
    if let Command::Settings(action) = command {
        return (action.changes() && !manages_server(invocation))
            .then(|| "Changing the settings needs the Manage Server permission.".to_owned());
    }
    let role = settings.dj_role_id?;
    if !for_djs(command)
        || is_dj(invocation, role, listeners)
        || requester == Some(invocation.user.get())
    {
        return None;
    }
    Some(format!(
        "Only DJs (<@&{role}>) and whoever asked for the current track can do that here."
    ))
}

/// How many votes skip a track: the share of the listeners, rounded up, at least one.
pub fn votes_needed(listeners: usize, percent: u8) -> usize {
    (listeners * usize::from(percent)).div_ceil(100).max(1)
}

/// The skip votes for the current track.
#[derive(Debug, Default)]
pub struct SkipVotes {
    /// The track voted on (its track and when it was queued): another track starts afresh.
    track: Option<(String, u64)>,
    voters: HashSet<UserId>,
}

/// What a vote did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vote {
    /// Counted; not enough yet.
    Counted {
        /// The votes now.
        votes: usize,
        /// The votes needed.
        needed: usize,
    },
    /// This voter had voted already.
    Again {
        /// The votes now.
        votes: usize,
        /// The votes needed.
        needed: usize,
    },
    /// Enough: skip (the votes are spent).
    Passed {
        /// The votes that passed it.
        votes: usize,
    },
}

impl SkipVotes {
    /// `voter` votes to skip `track`; only votes of those still listening count.
    pub fn vote(
        &mut self,
        track: (String, u64),
        voter: UserId,
        listeners: &[UserId],
        percent: u8,
    ) -> Vote {
        if self.track.as_ref() != Some(&track) {
            self.track = Some(track);
            self.voters.clear();
        }
        self.voters.retain(|user| listeners.contains(user));
        let first = self.voters.insert(voter);
        let count = self.voters.len();
        let needed = votes_needed(listeners.len(), percent);
        if count >= needed {
            self.track = None;
            self.voters.clear();
            return Vote::Passed { votes: count };
        }
        if first {
            Vote::Counted {
                votes: count,
                needed,
            }
        } else {
            Vote::Again {
                votes: count,
                needed,
            }
        }
    }
}

/// The settings in words, for `/settings show` and after a change.
pub fn describe(settings: &GuildSettings) -> String {
    let dj = settings.dj_role_id.map_or_else(
        || "none: everyone in my voice channel controls playback".to_owned(),
        |role| format!("<@&{role}>: others vote to skip"),
    );
    let announce = settings.announce_channel_id.map_or_else(
        || "where /play was typed".to_owned(),
        |channel| format!("<#{channel}>"),
    );
    let on = |value: bool| if value { "on" } else { "off" };
    format!(
        "**Settings**\nDJ role: {dj}\nVote skip: {}% of the listeners\nStarting volume: {}\n\
         Now-playing panel and announcements: {announce}\n24/7 by default: {}\n\
         Autoplay by default: {}",
        settings.vote_skip_percent,
        settings.default_volume,
        on(settings.stay_by_default),
        on(settings.autoplay_by_default),
    )
}

/// The settings after `action` (`Show` changes nothing).
pub fn changed(mut settings: GuildSettings, action: &SettingsAction) -> GuildSettings {
    match action {
        SettingsAction::Show => {}
        SettingsAction::DjRole(role) => settings.dj_role_id = *role,
        SettingsAction::VoteSkip(percent) => settings.vote_skip_percent = *percent,
        SettingsAction::Volume(level) => settings.default_volume = *level,
        SettingsAction::Announce(channel) => settings.announce_channel_id = *channel,
        SettingsAction::Defaults { stay, autoplay } => {
            if let Some(stay) = stay {
                settings.stay_by_default = *stay;
            }
            if let Some(autoplay) = autoplay {
                settings.autoplay_by_default = *autoplay;
            }
        }
    }
    settings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn votes_needed_rounds_up_and_is_at_least_one() {
        assert_eq!(votes_needed(1, 50), 1);
        assert_eq!(votes_needed(3, 50), 2);
        assert_eq!(votes_needed(4, 50), 2);
        assert_eq!(votes_needed(5, 100), 5);
        assert_eq!(votes_needed(10, 1), 1);
        assert_eq!(votes_needed(0, 50), 1);
    }

    #[test]
    fn votes_count_once_per_listener_and_start_afresh_on_another_track() {
        let (a, b, c) = (UserId::new(1), UserId::new(2), UserId::new(3));
        let listeners = [a, b, c];
        let track = || ("one".to_owned(), 1);
        let mut votes = SkipVotes::default();
        assert_eq!(
            votes.vote(track(), a, &listeners, 50),
            Vote::Counted {
                votes: 1,
                needed: 2
            }
        );
        assert_eq!(
            votes.vote(track(), a, &listeners, 50),
            Vote::Again {
                votes: 1,
                needed: 2
            }
        );
        // Another track: a's vote was for the old one.
        assert_eq!(
            votes.vote(("two".to_owned(), 2), b, &listeners, 50),
            Vote::Counted {
                votes: 1,
                needed: 2
            }
        );
        assert_eq!(
            votes.vote(("two".to_owned(), 2), c, &listeners, 50),
            Vote::Passed { votes: 2 }
        );
        // A voter who left no longer counts.
        assert_eq!(
            votes.vote(track(), a, &listeners, 50),
            Vote::Counted {
                votes: 1,
                needed: 2
            }
        );
        assert_eq!(
            votes.vote(track(), b, &[b, c], 100),
            Vote::Counted {
                votes: 1,
                needed: 2
            }
        );
    }
}
