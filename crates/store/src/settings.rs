//! Per-guild settings an admin sets with `/settings` ([`GuildSettings`]), kept apart from the
//! guild's playback state so that `/leave` ([`Store::forget_guild`](crate::Store::forget_guild))
//! does not erase them, and the now-playing panel's message ([`PanelMessage`]), kept with the
//! guild's state.

use std::ops::RangeInclusive;

use crate::{Error, MAX_VOLUME, Result};

/// The share of the listeners, in percent, that a vote-skip may ask for
/// ([`GuildSettings::vote_skip_percent`]; [`Error::GuildSetting`] outside it).
pub const VOTE_SKIP_PERCENT: RangeInclusive<u8> = 1..=100;

/// The highest default volume ([`GuildSettings::default_volume`]), as the bot sees it: the
/// highest volume, [`MAX_VOLUME`].
pub const MAX_DEFAULT_VOLUME: u16 = MAX_VOLUME;

/// The longest locale ([`GuildSettings::locale`]), in characters.
pub const MAX_LOCALE_CHARS: usize = 16;

/// The message of a guild's now-playing panel ([`GuildState::panel`](crate::GuildState::panel)),
/// so that the bot edits the same message again after a restart instead of posting another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PanelMessage {
    /// The channel the message is in.
    pub channel_id: u64,
    /// The message.
    pub message_id: u64,
}

/// What an admin set for a guild with `/settings` ([`Store::guild_settings`](crate::Store::guild_settings),
/// [`Store::set_guild_settings`](crate::Store::set_guild_settings)). Kept in a table of its own:
/// [`Store::forget_guild`](crate::Store::forget_guild) (`/leave`) does not erase it. A guild that
/// never set any has [`GuildSettings::default`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct GuildSettings {
    /// The role whose members may use the DJ commands, if one is set.
    pub dj_role_id: Option<u64>,
    /// The share of the listeners, in percent, whose votes skip a track: within
    /// [`VOTE_SKIP_PERCENT`] (default 50).
    pub vote_skip_percent: u8,
    /// The volume a new player starts at, 0 to [`MAX_DEFAULT_VOLUME`] (default 100).
    pub default_volume: u16,
    /// The channel where the bot announces tracks, if one is set.
    pub announce_channel_id: Option<u64>,
    /// Whether 24/7 mode is on for a guild the bot joins (default off).
    pub stay_by_default: bool,
    /// Whether autoplay is on for a guild the bot joins (default off).
    pub autoplay_by_default: bool,
    /// The language the bot answers in (a tag such as `en-US`: 1 to [`MAX_LOCALE_CHARS`] ASCII
    /// letters, digits, `-` or `_`), if one is set; without one, the guild's or the user's.
    pub locale: Option<String>,
}

impl Default for GuildSettings {
    fn default() -> Self {
        Self {
            dj_role_id: None,
            vote_skip_percent: 50,
            default_volume: crate::DEFAULT_VOLUME,
            announce_channel_id: None,
            stay_by_default: false,
            autoplay_by_default: false,
            locale: None,
        }
    }
}

/// What is wrong with a stored or given vote-skip share, if anything.
pub(crate) fn percent_problem(percent: i64) -> Option<String> {
    let (low, high) = (VOTE_SKIP_PERCENT.start(), VOTE_SKIP_PERCENT.end());
    let fits = u8::try_from(percent).is_ok_and(|p| VOTE_SKIP_PERCENT.contains(&p));
    (!fits).then(|| format!("is {percent}; it must be {low} to {high} (percent of the listeners)"))
}

/// What is wrong with a stored or given default volume, if anything.
pub(crate) fn volume_problem(volume: i64) -> Option<String> {
    let fits = u16::try_from(volume).is_ok_and(|v| v <= MAX_DEFAULT_VOLUME);
    (!fits).then(|| format!("is {volume}; it must be 0 to {MAX_DEFAULT_VOLUME}"))
}

/// What is wrong with a stored or given locale, if anything (the message never shows it).
pub(crate) fn locale_problem(locale: &str) -> Option<String> {
    const RULE: &str = "characters, ASCII letters, digits, '-' or '_' (such as en-US), or none";
    let chars = locale.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if chars == 0 {
        Some(format!(
            "is empty; it must be 1 to {MAX_LOCALE_CHARS} {RULE}"
        ))
    } else if chars > MAX_LOCALE_CHARS {
        Some(format!(
            "is {chars} characters long; it must be 1 to {MAX_LOCALE_CHARS} {RULE}"
        ))
    } else if !locale.chars().all(allowed) {
        Some(format!(
            "holds a character that is not allowed; it must be 1 to {MAX_LOCALE_CHARS} {RULE}"
        ))
    } else {
        None
    }
}

/// The first setting of `settings` that is out of bounds, with what is wrong with it.
pub(crate) fn settings_problem(settings: &GuildSettings) -> Option<(&'static str, String)> {
    if let Some(message) = percent_problem(i64::from(settings.vote_skip_percent)) {
        return Some(("vote_skip_percent", message));
    }
    if let Some(message) = volume_problem(i64::from(settings.default_volume)) {
        return Some(("default_volume", message));
    }
    settings
        .locale
        .as_deref()
        .and_then(locale_problem)
        .map(|message| ("locale", message))
}

/// Checks what [`Store::set_guild_settings`](crate::Store::set_guild_settings) is given before any
/// database work: [`Error::GuildSetting`] names the first setting out of bounds.
pub(crate) fn check_guild_settings(settings: &GuildSettings) -> Result<()> {
    match settings_problem(settings) {
        Some((key, message)) => Err(Error::GuildSetting { key, message }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_within_bounds() {
        let defaults = GuildSettings::default();
        assert_eq!(
            (defaults.vote_skip_percent, defaults.default_volume),
            (50, 100)
        );
        assert!(check_guild_settings(&defaults).is_ok());
    }

    #[test]
    fn out_of_bounds_settings_are_named_with_their_bounds() {
        let refused = |settings: GuildSettings| match check_guild_settings(&settings) {
            Err(Error::GuildSetting { key, message }) => (key, message),
            other => panic!("{settings:?}: expected a refusal, got {other:?}"),
        };
        let (key, message) = refused(GuildSettings {
            vote_skip_percent: 0,
            ..GuildSettings::default()
        });
        assert_eq!(key, "vote_skip_percent");
        assert!(
            message.contains("is 0") && message.contains("1 to 100"),
            "{message}"
        );
        let (key, message) = refused(GuildSettings {
            default_volume: 201,
            ..GuildSettings::default()
        });
        assert_eq!(key, "default_volume");
        assert!(
            message.contains("201") && message.contains("0 to 200"),
            "{message}"
        );
        for (locale, says) in [
            ("", "is empty"),
            ("abcdefghijklmnopq", "17 characters"),
            ("en US", "not allowed"),
            ("en\n", "not allowed"),
            ("fr-FRé", "not allowed"),
        ] {
            let (key, message) = refused(GuildSettings {
                locale: Some(locale.to_owned()),
                ..GuildSettings::default()
            });
            assert_eq!(key, "locale");
            assert!(
                message.contains(says) && message.contains("1 to 16"),
                "{message}"
            );
        }
        let error = check_guild_settings(&GuildSettings {
            vote_skip_percent: 101,
            ..GuildSettings::default()
        })
        .expect_err("refused");
        assert_eq!(
            error.to_string(),
            "guild setting vote_skip_percent is 101; it must be 1 to 100 (percent of the \
             listeners); nothing was written"
        );
    }

    #[test]
    fn settings_at_the_bounds_pass() {
        for settings in [
            GuildSettings {
                vote_skip_percent: 1,
                default_volume: 0,
                locale: Some("a".to_owned()),
                ..GuildSettings::default()
            },
            GuildSettings {
                dj_role_id: Some(u64::MAX),
                vote_skip_percent: 100,
                default_volume: MAX_DEFAULT_VOLUME,
                announce_channel_id: Some(0),
                stay_by_default: true,
                autoplay_by_default: true,
                locale: Some("es-419_abcdefghi".to_owned()),
            },
        ] {
            assert!(check_guild_settings(&settings).is_ok(), "{settings:?}");
        }
    }
}
