//! The slash commands, defined once: the table [`SPECS`] feeds registration with Discord
//! ([`definitions`]), parsing of each interaction into a typed [`Command`] (options checked
//! against the same bounds Discord was told), the `/help` text and the metrics' `command` label.

use std::fmt;

use music::{FilterChange, LoopMode};
use twilight_model::application::command::{
    Command as DiscordCommand, CommandOption as CommandOptionDefinition, CommandType,
};
use twilight_model::application::interaction::InteractionContextType;
use twilight_model::channel::ChannelType;
use twilight_util::builder::command::{
    BooleanBuilder, ChannelBuilder, CommandBuilder, IntegerBuilder, NumberBuilder, RoleBuilder,
    StringBuilder, SubCommandBuilder,
};

use discord::{CommandOption, OptionValue};

/// Which command: one per entry of [`SPECS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandKind {
    /// `/play query`
    Play,
    /// `/pause`
    Pause,
    /// `/resume`
    Resume,
    /// `/skip [to]`
    Skip,
    /// `/stop`
    Stop,
    /// `/queue [page]`
    Queue,
    /// `/nowplaying`
    NowPlaying,
    /// `/seek position`
    Seek,
    /// `/volume level`
    Volume,
    /// `/loop mode`
    Loop,
    /// `/shuffle`
    Shuffle,
    /// `/remove position`
    Remove,
    /// `/move from to`
    Move,
    /// `/clear`
    Clear,
    /// `/leave`
    Leave,
    /// `/filter preset|equalizer|timescale|reset`
    Filter,
    /// `/247`
    Stay,
    /// `/autoplay`
    Autoplay,
    /// `/previous`
    Previous,
    /// `/replay`
    Replay,
    /// `/history [page]`
    History,
    /// `/lyrics [query] [page]`
    Lyrics,
    /// `/playlist save|load|list|show|delete`
    Playlist,
    /// `/settings show|dj-role|vote-skip|volume|announce|defaults`
    Settings,
    /// `/health`
    Health,
    /// `/help`
    Help,
}

/// What an option holds and its bounds (the same ones Discord enforces in its client).
#[derive(Debug, Clone, Copy)]
pub enum OptionKind {
    /// Free text.
    Text,
    /// An integer in `min..=max`.
    Integer {
        /// The smallest value.
        min: i64,
        /// The largest value (`None`: no upper bound).
        max: Option<i64>,
    },
    /// One of these words.
    Choice(&'static [&'static str]),
    /// A number in `min..=max`.
    Number {
        /// The smallest value.
        min: f64,
        /// The largest value.
        max: f64,
    },
    /// Text, with suggestions while it is typed (Discord's autocomplete).
    Suggested(Suggest),
    /// A role of the guild.
    Role,
    /// A text channel of the guild.
    TextChannel,
    /// Yes or no.
    Boolean,
}

/// Where the suggestions for an option come from while it is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggest {
    /// Tracks a search finds (a URL typed is left as it is).
    Tracks,
    /// The names of the typist's saved playlists.
    Playlists,
    /// One of these words (the value must be one of them).
    Words(&'static [&'static str]),
}

/// One option of a command.
#[derive(Debug, Clone, Copy)]
pub struct OptionSpec {
    /// Its name.
    pub name: &'static str,
    /// What Discord shows for it.
    pub description: &'static str,
    /// What it holds.
    pub kind: OptionKind,
    /// Whether it must be given.
    pub required: bool,
}

/// One command: its name, its description (registration and `/help`) and its options.
#[derive(Debug, Clone, Copy)]
pub struct CommandSpec {
    /// Which command.
    pub kind: CommandKind,
    /// Its name, as typed after the slash.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its options, in order (none when it has sub-commands).
    pub options: &'static [OptionSpec],
    /// Its sub-commands (`/filter preset ...`), in order; empty for a plain command.
    pub subcommands: &'static [SubcommandSpec],
    /// Whether it controls playback (the caller must be in the bot's voice channel).
    pub controls_playback: bool,
}

/// One sub-command of a command: its name, what it does and its options.
#[derive(Debug, Clone, Copy)]
pub struct SubcommandSpec {
    /// Its name, as typed after the command's.
    pub name: &'static str,
    /// What it does.
    pub description: &'static str,
    /// Its options, in order.
    pub options: &'static [OptionSpec],
}

const fn required(name: &'static str, description: &'static str, kind: OptionKind) -> OptionSpec {
    OptionSpec {
        name,
        description,
        kind,
        required: true,
    }
}

const fn optional(name: &'static str, description: &'static str, kind: OptionKind) -> OptionSpec {
    OptionSpec {
        name,
        description,
        kind,
        required: false,
    }
}

const POSITIVE: OptionKind = OptionKind::Integer { min: 1, max: None };

const fn spec(
    kind: CommandKind,
    name: &'static str,
    description: &'static str,
    options: &'static [OptionSpec],
    controls_playback: bool,
) -> CommandSpec {
    CommandSpec {
        kind,
        name,
        description,
        options,
        subcommands: &[],
        controls_playback,
    }
}

/// A command made of sub-commands.
const fn group(
    kind: CommandKind,
    name: &'static str,
    description: &'static str,
    subcommands: &'static [SubcommandSpec],
    controls_playback: bool,
) -> CommandSpec {
    CommandSpec {
        kind,
        name,
        description,
        options: &[],
        subcommands,
        controls_playback,
    }
}

const fn subcommand(
    name: &'static str,
    description: &'static str,
    options: &'static [OptionSpec],
) -> SubcommandSpec {
    SubcommandSpec {
        name,
        description,
        options,
    }
}

const PLAYLIST_NAME: OptionKind = OptionKind::Suggested(Suggest::Playlists);

const TIMESCALE: OptionKind = OptionKind::Number {
    min: music::MIN_TIMESCALE,
    max: music::MAX_TIMESCALE,
};

/// Every command the bot has, in the order `/help` lists them.
pub const SPECS: &[CommandSpec] = &[
    spec(
        CommandKind::Play,
        "play",
        "Play a song or playlist (a URL or words to search for)",
        &[required(
            "query",
            "A URL, or what to search for",
            OptionKind::Suggested(Suggest::Tracks),
        )],
        false,
    ),
    spec(CommandKind::Pause, "pause", "Pause playback", &[], true),
    spec(CommandKind::Resume, "resume", "Resume playback", &[], true),
    spec(
        CommandKind::Skip,
        "skip",
        "Skip the current track (or skip to a position in the queue)",
        &[optional("to", "Queue position to skip to", POSITIVE)],
        true,
    ),
    spec(
        CommandKind::Stop,
        "stop",
        "Stop playback and clear the queue",
        &[],
        true,
    ),
    spec(
        CommandKind::Queue,
        "queue",
        "Show the queue",
        &[optional("page", "Page number", POSITIVE)],
        false,
    ),
    spec(
        CommandKind::NowPlaying,
        "nowplaying",
        "Show the current track and its position",
        &[],
        false,
    ),
    spec(
        CommandKind::Seek,
        "seek",
        "Seek in the current track",
        &[required(
            "position",
            "Where to go: 1:23 or seconds",
            OptionKind::Text,
        )],
        true,
    ),
    spec(
        CommandKind::Volume,
        "volume",
        "Set the volume",
        &[required(
            "level",
            "0 to 200 (100 is normal)",
            OptionKind::Integer {
                min: 0,
                max: Some(200),
            },
        )],
        true,
    ),
    spec(
        CommandKind::Loop,
        "loop",
        "Loop the track, the queue, or nothing",
        &[required(
            "mode",
            "What to loop",
            OptionKind::Choice(&["off", "track", "queue"]),
        )],
        true,
    ),
    spec(
        CommandKind::Shuffle,
        "shuffle",
        "Shuffle the queue",
        &[],
        true,
    ),
    spec(
        CommandKind::Remove,
        "remove",
        "Remove a track from the queue",
        &[required("position", "Its position in /queue", POSITIVE)],
        true,
    ),
    spec(
        CommandKind::Move,
        "move",
        "Move a track in the queue",
        &[
            required("from", "Its position now", POSITIVE),
            required("to", "Its new position", POSITIVE),
        ],
        true,
    ),
    spec(
        CommandKind::Clear,
        "clear",
        "Clear the queue (the current track keeps playing)",
        &[],
        true,
    ),
    spec(
        CommandKind::Leave,
        "leave",
        "Stop, clear the queue and leave the voice channel",
        &[],
        true,
    ),
    spec(
        CommandKind::Previous,
        "previous",
        "Play the previous track again (the current one comes next)",
        &[],
        true,
    ),
    spec(
        CommandKind::Replay,
        "replay",
        "Play the current track again from the start",
        &[],
        true,
    ),
    spec(
        CommandKind::History,
        "history",
        "The tracks played here lately, newest first",
        &[optional("page", "Page number", POSITIVE)],
        false,
    ),
    spec(
        CommandKind::Lyrics,
        "lyrics",
        "Lyrics of the current track, or of what a search finds",
        &[
            optional(
                "query",
                "A song to find instead of the current track",
                OptionKind::Text,
            ),
            optional("page", "Page number", POSITIVE),
        ],
        false,
    ),
    group(
        CommandKind::Playlist,
        "playlist",
        "Your saved playlists: save the queue, load one, list, show or delete them",
        &[
            subcommand(
                "save",
                "Save the current track and the queue as a playlist (a name you have is replaced)",
                &[required("name", "Its name", PLAYLIST_NAME)],
            ),
            subcommand(
                "load",
                "Queue one of your playlists",
                &[required("name", "Its name", PLAYLIST_NAME)],
            ),
            subcommand("list", "Your playlists", &[]),
            subcommand(
                "show",
                "The tracks of one of your playlists",
                &[
                    required("name", "Its name", PLAYLIST_NAME),
                    optional("page", "Page number", POSITIVE),
                ],
            ),
            subcommand(
                "delete",
                "Delete one of your playlists",
                &[required("name", "Its name", PLAYLIST_NAME)],
            ),
        ],
        false,
    ),
    spec(
        CommandKind::Stay,
        "247",
        "24/7: stay in the voice channel even with nothing to play (switches on or off)",
        &[],
        true,
    ),
    spec(
        CommandKind::Autoplay,
        "autoplay",
        "When the queue ends, keep playing related tracks (switches on or off)",
        &[],
        true,
    ),
    group(
        CommandKind::Filter,
        "filter",
        "Audio filters: presets like bass boost and nightcore, or your own settings",
        &[
            subcommand(
                "preset",
                "Turn on a preset (it stacks with presets on other filters)",
                &[required(
                    "name",
                    "Which preset",
                    OptionKind::Suggested(Suggest::Words(&music::PRESET_NAMES)),
                )],
            ),
            subcommand(
                "equalizer",
                "Set one equalizer band (0 is 25 Hz, 14 is 16 kHz; gain 0 is flat)",
                &[
                    required(
                        "band",
                        "The band, 0 to 14",
                        OptionKind::Integer {
                            min: 0,
                            max: Some(14),
                        },
                    ),
                    required(
                        "gain",
                        "From -0.25 (muted) to 1.0 (doubled)",
                        OptionKind::Number {
                            min: music::MIN_GAIN as f64,
                            max: music::MAX_GAIN as f64,
                        },
                    ),
                ],
            ),
            subcommand(
                "timescale",
                "Set speed, pitch and rate (1.0 is unchanged)",
                &[
                    optional("speed", "Playback speed, 0.25 to 3.0", TIMESCALE),
                    optional("pitch", "Pitch, 0.25 to 3.0", TIMESCALE),
                    optional("rate", "Speed and pitch together, 0.25 to 3.0", TIMESCALE),
                ],
            ),
            subcommand("reset", "Turn every filter off", &[]),
        ],
        true,
    ),
    group(
        CommandKind::Settings,
        "settings",
        "This server's settings: who may control playback, vote skip, defaults (Manage Server)",
        &[
            subcommand("show", "Show this server's settings", &[]),
            subcommand(
                "dj-role",
                "Only this role (and the track's requester) may stop, clear, change volume, filters and order; others vote to skip",
                &[optional(
                    "role",
                    "The DJ role (leave out to let everyone control playback)",
                    OptionKind::Role,
                )],
            ),
            subcommand(
                "vote-skip",
                "The share of the channel's listeners whose votes skip a track",
                &[required(
                    "percent",
                    "1 to 100",
                    OptionKind::Integer {
                        min: 1,
                        max: Some(100),
                    },
                )],
            ),
            subcommand(
                "volume",
                "The volume playback starts at",
                &[required(
                    "level",
                    "0 to 200 (100 is normal)",
                    OptionKind::Integer {
                        min: 0,
                        max: Some(200),
                    },
                )],
            ),
            subcommand(
                "announce",
                "Where the now-playing panel and announcements go",
                &[optional(
                    "channel",
                    "A text channel (leave out: where /play was typed)",
                    OptionKind::TextChannel,
                )],
            ),
            subcommand(
                "defaults",
                "Whether 24/7 and autoplay start on in a fresh session",
                &[
                    optional("stay", "24/7 on by default", OptionKind::Boolean),
                    optional("autoplay", "Autoplay on by default", OptionKind::Boolean),
                ],
            ),
        ],
        false,
    ),
    spec(
        CommandKind::Health,
        "health",
        "Health of the bot's subsystems (Manage Server or a configured admin)",
        &[],
        false,
    ),
    spec(
        CommandKind::Help,
        "help",
        "What each command does",
        &[],
        false,
    ),
];

impl CommandKind {
    /// Every command, in the order of [`SPECS`].
    pub fn all() -> impl Iterator<Item = Self> {
        SPECS.iter().map(|spec| spec.kind)
    }

    /// Its entry in [`SPECS`].
    pub fn spec(self) -> &'static CommandSpec {
        // Every kind has exactly one entry (checked by a test); the first entry stands in for
        // the impossible miss rather than a panic.
        SPECS
            .iter()
            .find(|spec| spec.kind == self)
            .unwrap_or(&SPECS[0])
    }

    /// Its name: what follows the slash, and its `command` label in the metrics.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The command with this name.
    pub fn from_name(name: &str) -> Option<Self> {
        SPECS
            .iter()
            .find(|spec| spec.name == name)
            .map(|spec| spec.kind)
    }
}

impl fmt::Display for CommandKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "/{}", self.name())
    }
}

/// A command with its options parsed and checked.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Play (or queue) what `query` finds.
    Play {
        /// A URL, a prefixed identifier or words to search for (trimmed, not empty).
        query: String,
    },
    /// Pause.
    Pause,
    /// Resume.
    Resume,
    /// Skip the current track, or to a 1-based queue position.
    Skip {
        /// The queue position to skip to.
        to: Option<usize>,
    },
    /// Stop and clear the queue.
    Stop,
    /// Show a page of the queue (1-based).
    Queue {
        /// The page.
        page: usize,
    },
    /// Show the current track.
    NowPlaying,
    /// Go to a position in the current track.
    Seek {
        /// Milliseconds from the start.
        position_ms: u64,
    },
    /// Set the volume (0 to 200).
    Volume {
        /// The level.
        level: i64,
    },
    /// Set what repeats.
    Loop {
        /// The mode.
        mode: LoopMode,
    },
    /// Shuffle the queue.
    Shuffle,
    /// Remove a queued track (1-based).
    Remove {
        /// Its position.
        position: usize,
    },
    /// Move a queued track (1-based positions).
    Move {
        /// Its position now.
        from: usize,
        /// Its new position.
        to: usize,
    },
    /// Clear the queue.
    Clear,
    /// Stop, clear and leave the voice channel.
    Leave,
    /// Change the audio filters.
    Filter {
        /// What to change.
        change: FilterChange,
    },
    /// A saved-playlist action.
    Playlist(PlaylistAction),
    /// Show or change this server's settings.
    Settings(SettingsAction),
    /// Switch 24/7 on or off.
    Stay,
    /// Switch autoplay on or off.
    Autoplay,
    /// Play the previous track again.
    Previous,
    /// Play the current track from the start.
    Replay,
    /// Show a page of the history (1-based).
    History {
        /// The page.
        page: usize,
    },
    /// Show a page of lyrics (1-based): of the current track, or of what `query` finds.
    Lyrics {
        /// What to find instead of the current track (trimmed, not empty).
        query: Option<String>,
        /// The page.
        page: usize,
    },
    /// The probes' results.
    Health,
    /// The list of commands.
    Help,
}

/// What `/settings` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingsAction {
    /// Show the settings.
    Show,
    /// Set (or, with `None`, clear) the DJ role.
    DjRole(Option<u64>),
    /// The share of listeners whose votes skip, in percent.
    VoteSkip(u8),
    /// The volume playback starts at.
    Volume(u16),
    /// Where announcements go (`None`: where /play was typed).
    Announce(Option<u64>),
    /// Whether 24/7 and autoplay start on (a value not given stays as it is).
    Defaults {
        /// 24/7.
        stay: Option<bool>,
        /// Autoplay.
        autoplay: Option<bool>,
    },
}

impl SettingsAction {
    /// Whether it changes something (only Manage Server may).
    pub fn changes(&self) -> bool {
        !matches!(self, Self::Show)
    }
}

/// `/settings <action>`'s options, read.
fn settings(args: &Args<'_>, action: &str) -> Result<SettingsAction, CommandError> {
    Ok(match action {
        "show" => SettingsAction::Show,
        "dj-role" => SettingsAction::DjRole(args.role("role")?),
        "vote-skip" => SettingsAction::VoteSkip(
            u8::try_from(args.integer("percent")?.unwrap_or(50)).unwrap_or(50),
        ),
        "volume" => SettingsAction::Volume(
            u16::try_from(args.integer("level")?.unwrap_or(100)).unwrap_or(100),
        ),
        "announce" => SettingsAction::Announce(args.channel("channel")?),
        "defaults" => {
            let (stay, autoplay) = (args.boolean("stay")?, args.boolean("autoplay")?);
            if stay.is_none() && autoplay.is_none() {
                return Err(CommandError::Invalid {
                    command: args.kind,
                    reason: "give `stay`, `autoplay` or both.".into(),
                });
            }
            SettingsAction::Defaults { stay, autoplay }
        }
        _ => {
            return Err(CommandError::Subcommand {
                command: args.kind,
                choices: subcommand_names(args.kind.spec()),
            });
        }
    })
}

/// What `/playlist` does; names are as typed (trimmed), matched without regard to case by the
/// store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaylistAction {
    /// Save the current track and the queue.
    Save(String),
    /// Queue a saved playlist.
    Load(String),
    /// List the caller's playlists.
    List,
    /// Show a page of a playlist's tracks.
    Show(String, usize),
    /// Delete a playlist.
    Delete(String),
}

/// Why an interaction is not a command the bot can run; the text is the answer for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A name the bot never registered (a stale registration, most likely).
    #[error("I don't know the command /{0}.")]
    Unknown(String),
    /// A required option is missing.
    #[error("{command} needs `{option}`.")]
    Missing {
        /// The command.
        command: CommandKind,
        /// The option.
        option: &'static str,
    },
    /// An option holds the wrong kind of value.
    #[error("{command}: `{option}` must be {expected}.")]
    WrongType {
        /// The command.
        command: CommandKind,
        /// The option.
        option: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// An integer option outside its bounds.
    #[error("{command}: `{option}` must be {bounds} (got {got}).")]
    OutOfBounds {
        /// The command.
        command: CommandKind,
        /// The option.
        option: &'static str,
        /// The bounds, in words.
        bounds: String,
        /// The value given.
        got: i64,
    },
    /// A sub-command the command does not have, or none given.
    #[error("{command}: choose one of {choices}.")]
    Subcommand {
        /// The command.
        command: CommandKind,
        /// Its sub-commands, in words.
        choices: String,
    },
    /// A value that does not mean anything for the option.
    #[error("{command}: {reason}")]
    Invalid {
        /// The command.
        command: CommandKind,
        /// What is wrong and what to give instead.
        reason: String,
    },
}

impl Command {
    /// Parses an invocation's name and options, checking them against [`SPECS`].
    pub fn parse(name: &str, options: &[CommandOption]) -> Result<Self, CommandError> {
        let kind =
            CommandKind::from_name(name).ok_or_else(|| CommandError::Unknown(name.into()))?;
        let spec = kind.spec();
        if !spec.subcommands.is_empty() {
            return Self::parse_subcommand(spec, options);
        }
        let args = Args {
            kind,
            specs: spec.options,
            options,
        };
        Ok(match kind {
            CommandKind::Play => {
                let query = args.text("query")?.unwrap_or_default().trim().to_owned();
                if query.is_empty() {
                    return Err(CommandError::Invalid {
                        command: kind,
                        reason: "tell me what to play: a URL or words to search for.".into(),
                    });
                }
                Self::Play { query }
            }
            CommandKind::Pause => Self::Pause,
            CommandKind::Resume => Self::Resume,
            CommandKind::Skip => Self::Skip {
                to: args.position("to")?,
            },
            CommandKind::Stop => Self::Stop,
            CommandKind::Queue => Self::Queue {
                page: args.position("page")?.unwrap_or(1),
            },
            CommandKind::NowPlaying => Self::NowPlaying,
            CommandKind::Seek => {
                let text = args.text("position")?.unwrap_or_default();
                let position_ms =
                    music::parse_timestamp(text).map_err(|error| CommandError::Invalid {
                        command: kind,
                        reason: format!(
                            "{error}. Give a time like 1:23, 1:02:03 or a number of seconds."
                        ),
                    })?;
                Self::Seek { position_ms }
            }
            CommandKind::Volume => Self::Volume {
                level: args.integer("level")?.unwrap_or_default(),
            },
            CommandKind::Loop => {
                let mode = args.text("mode")?.unwrap_or_default();
                let mode = mode.parse().map_err(|_| CommandError::Invalid {
                    command: kind,
                    reason: format!("unknown loop mode {mode:?}: choose off, track or queue."),
                })?;
                Self::Loop { mode }
            }
            CommandKind::Shuffle => Self::Shuffle,
            CommandKind::Remove => Self::Remove {
                position: args.position("position")?.unwrap_or(1),
            },
            CommandKind::Move => Self::Move {
                from: args.position("from")?.unwrap_or(1),
                to: args.position("to")?.unwrap_or(1),
            },
            CommandKind::Clear => Self::Clear,
            CommandKind::Leave => Self::Leave,
            CommandKind::Stay => Self::Stay,
            CommandKind::Autoplay => Self::Autoplay,
            CommandKind::Previous => Self::Previous,
            CommandKind::Replay => Self::Replay,
            CommandKind::History => Self::History {
                page: args.position("page")?.unwrap_or(1),
            },
            CommandKind::Lyrics => Self::Lyrics {
                query: args
                    .text("query")?
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                    .map(str::to_owned),
                page: args.position("page")?.unwrap_or(1),
            },
            CommandKind::Health => Self::Health,
            CommandKind::Help => Self::Help,
            // Made of sub-commands: parsed above.
            CommandKind::Filter | CommandKind::Playlist | CommandKind::Settings => {
                return Err(CommandError::Subcommand {
                    command: kind,
                    choices: subcommand_names(spec),
                });
            }
        })
    }

    /// A command made of sub-commands: the one given (the only option, holding its own options),
    /// parsed against its spec.
    fn parse_subcommand(
        spec: &'static CommandSpec,
        options: &[CommandOption],
    ) -> Result<Self, CommandError> {
        let kind = spec.kind;
        let unknown = || CommandError::Subcommand {
            command: kind,
            choices: subcommand_names(spec),
        };
        let (sub, inner) = match options {
            [
                CommandOption {
                    name,
                    value: OptionValue::SubCommand(inner),
                },
            ] => (
                spec.subcommands
                    .iter()
                    .find(|sub| sub.name == name)
                    .ok_or_else(unknown)?,
                inner.as_slice(),
            ),
            _ => return Err(unknown()),
        };
        let args = Args {
            kind,
            specs: sub.options,
            options: inner,
        };
        match (kind, sub.name) {
            (CommandKind::Filter, "preset") => {
                let name = args.text("name")?.unwrap_or_default();
                let preset = music::preset(name).ok_or_else(|| CommandError::Invalid {
                    command: kind,
                    reason: format!(
                        "unknown preset {name:?}: choose one of {}.",
                        music::PRESET_NAMES.join(", ")
                    ),
                })?;
                Ok(Self::Filter {
                    change: FilterChange::Preset(preset),
                })
            }
            (CommandKind::Filter, "equalizer") => Ok(Self::Filter {
                change: FilterChange::Band {
                    band: u8::try_from(args.integer("band")?.unwrap_or_default()).unwrap_or(0),
                    // Within -0.25..=1.0 (checked): exact enough as f32.
                    #[allow(clippy::cast_possible_truncation, reason = "bounded to -0.25..=1.0")]
                    gain: args.number("gain")?.unwrap_or_default() as f32,
                },
            }),
            (CommandKind::Filter, "timescale") => {
                let (speed, pitch, rate) = (
                    args.number("speed")?,
                    args.number("pitch")?,
                    args.number("rate")?,
                );
                if speed.is_none() && pitch.is_none() && rate.is_none() {
                    return Err(CommandError::Invalid {
                        command: kind,
                        reason:
                            "give at least one of `speed`, `pitch` and `rate` (1.0 is unchanged)."
                                .into(),
                    });
                }
                Ok(Self::Filter {
                    change: FilterChange::Timescale { speed, pitch, rate },
                })
            }
            (CommandKind::Filter, "reset") => Ok(Self::Filter {
                change: FilterChange::Reset,
            }),
            (CommandKind::Settings, action) => Ok(Self::Settings(settings(&args, action)?)),
            (CommandKind::Playlist, "list") => Ok(Self::Playlist(PlaylistAction::List)),
            (CommandKind::Playlist, action) => {
                let name = args.text("name")?.unwrap_or_default().trim().to_owned();
                if name.is_empty() {
                    return Err(CommandError::Invalid {
                        command: kind,
                        reason: "give the playlist a name.".into(),
                    });
                }
                Ok(Self::Playlist(match action {
                    "save" => PlaylistAction::Save(name),
                    "load" => PlaylistAction::Load(name),
                    "show" => PlaylistAction::Show(name, args.position("page")?.unwrap_or(1)),
                    "delete" => PlaylistAction::Delete(name),
                    _ => return Err(unknown()),
                }))
            }
            _ => Err(unknown()),
        }
    }

    /// Which command it is.
    pub fn kind(&self) -> CommandKind {
        match self {
            Self::Play { .. } => CommandKind::Play,
            Self::Pause => CommandKind::Pause,
            Self::Resume => CommandKind::Resume,
            Self::Skip { .. } => CommandKind::Skip,
            Self::Stop => CommandKind::Stop,
            Self::Queue { .. } => CommandKind::Queue,
            Self::NowPlaying => CommandKind::NowPlaying,
            Self::Seek { .. } => CommandKind::Seek,
            Self::Volume { .. } => CommandKind::Volume,
            Self::Loop { .. } => CommandKind::Loop,
            Self::Shuffle => CommandKind::Shuffle,
            Self::Remove { .. } => CommandKind::Remove,
            Self::Move { .. } => CommandKind::Move,
            Self::Clear => CommandKind::Clear,
            Self::Leave => CommandKind::Leave,
            Self::Filter { .. } => CommandKind::Filter,
            Self::Stay => CommandKind::Stay,
            Self::Autoplay => CommandKind::Autoplay,
            Self::Previous => CommandKind::Previous,
            Self::Replay => CommandKind::Replay,
            Self::History { .. } => CommandKind::History,
            Self::Lyrics { .. } => CommandKind::Lyrics,
            Self::Playlist(_) => CommandKind::Playlist,
            Self::Settings(_) => CommandKind::Settings,
            Self::Health => CommandKind::Health,
            Self::Help => CommandKind::Help,
        }
    }
}

/// An invocation's options, read against the command's spec: an option must be in the spec,
/// have its kind and be within its bounds; a missing required one is an error.
struct Args<'a> {
    kind: CommandKind,
    specs: &'static [OptionSpec],
    options: &'a [CommandOption],
}

impl<'a> Args<'a> {
    fn value(&self, name: &'static str) -> Result<Option<&'a OptionValue>, CommandError> {
        let value = self
            .options
            .iter()
            .find(|option| option.name == name)
            .map(|option| &option.value);
        let required = self
            .specs
            .iter()
            .any(|option| option.name == name && option.required);
        if value.is_none() && required {
            return Err(CommandError::Missing {
                command: self.kind,
                option: name,
            });
        }
        Ok(value)
    }

    fn text(&self, name: &'static str) -> Result<Option<&'a str>, CommandError> {
        match self.value(name)? {
            None => Ok(None),
            Some(OptionValue::String(text)) => {
                if let Some(
                    OptionKind::Choice(choices) | OptionKind::Suggested(Suggest::Words(choices)),
                ) = self.kind_of(name)
                    && !choices.contains(&text.as_str())
                {
                    return Err(CommandError::Invalid {
                        command: self.kind,
                        reason: format!("`{name}` must be one of {}.", choices.join(", ")),
                    });
                }
                Ok(Some(text))
            }
            Some(_) => Err(self.wrong_type(name, "text")),
        }
    }

    fn integer(&self, name: &'static str) -> Result<Option<i64>, CommandError> {
        let value = match self.value(name)? {
            None => return Ok(None),
            Some(OptionValue::Integer(value)) => *value,
            Some(_) => return Err(self.wrong_type(name, "a whole number")),
        };
        if let Some(OptionKind::Integer { min, max }) = self.kind_of(name)
            && (value < min || max.is_some_and(|max| value > max))
        {
            return Err(CommandError::OutOfBounds {
                command: self.kind,
                option: name,
                bounds: match max {
                    Some(max) => format!("between {min} and {max}"),
                    None => format!("at least {min}"),
                },
                got: value,
            });
        }
        Ok(Some(value))
    }

    fn number(&self, name: &'static str) -> Result<Option<f64>, CommandError> {
        let value = match self.value(name)? {
            None => return Ok(None),
            Some(OptionValue::Number(value)) => *value,
            // Discord sends a whole number typed into a number option as a number; a client
            // may send it as an integer.
            #[allow(clippy::cast_precision_loss, reason = "option values are small")]
            Some(OptionValue::Integer(value)) => *value as f64,
            Some(_) => return Err(self.wrong_type(name, "a number")),
        };
        if let Some(OptionKind::Number { min, max }) = self.kind_of(name)
            && !(min..=max).contains(&value)
        {
            return Err(CommandError::Invalid {
                command: self.kind,
                reason: format!("`{name}` must be between {min} and {max} (got {value})."),
            });
        }
        Ok(Some(value))
    }

    fn role(&self, name: &'static str) -> Result<Option<u64>, CommandError> {
        match self.value(name)? {
            None => Ok(None),
            Some(OptionValue::Role(id)) => Ok(Some(id.get())),
            Some(_) => Err(self.wrong_type(name, "a role")),
        }
    }

    fn channel(&self, name: &'static str) -> Result<Option<u64>, CommandError> {
        match self.value(name)? {
            None => Ok(None),
            Some(OptionValue::Channel(id)) => Ok(Some(id.get())),
            Some(_) => Err(self.wrong_type(name, "a channel")),
        }
    }

    fn boolean(&self, name: &'static str) -> Result<Option<bool>, CommandError> {
        match self.value(name)? {
            None => Ok(None),
            Some(OptionValue::Boolean(value)) => Ok(Some(*value)),
            Some(_) => Err(self.wrong_type(name, "true or false")),
        }
    }

    /// A 1-based position (its spec's bounds keep it at least 1).
    fn position(&self, name: &'static str) -> Result<Option<usize>, CommandError> {
        Ok(self
            .integer(name)?
            .map(|value| usize::try_from(value).unwrap_or(usize::MAX)))
    }

    fn kind_of(&self, name: &str) -> Option<OptionKind> {
        self.specs
            .iter()
            .find(|option| option.name == name)
            .map(|option| option.kind)
    }

    fn wrong_type(&self, option: &'static str, expected: &'static str) -> CommandError {
        CommandError::WrongType {
            command: self.kind,
            option,
            expected,
        }
    }
}

/// Every command as registered with Discord.
pub fn definitions() -> Vec<DiscordCommand> {
    SPECS.iter().map(definition).collect()
}

fn definition(spec: &CommandSpec) -> DiscordCommand {
    let mut builder = CommandBuilder::new(spec.name, spec.description, CommandType::ChatInput)
        .contexts([InteractionContextType::Guild]);
    for option in spec.options {
        builder = builder.option(option_definition(option));
    }
    for sub in spec.subcommands {
        let mut sub_builder = SubCommandBuilder::new(sub.name, sub.description);
        for option in sub.options {
            sub_builder = sub_builder.option(option_definition(option));
        }
        builder = builder.option(sub_builder);
    }
    builder.build()
}

fn option_definition(option: &OptionSpec) -> CommandOptionDefinition {
    match option.kind {
        OptionKind::Text => StringBuilder::new(option.name, option.description)
            .required(option.required)
            .build(),
        OptionKind::Choice(choices) => StringBuilder::new(option.name, option.description)
            .required(option.required)
            .choices(choices.iter().map(|c| (*c, *c)))
            .build(),
        OptionKind::Integer { min, max } => {
            let integer = IntegerBuilder::new(option.name, option.description)
                .required(option.required)
                .min_value(min);
            match max {
                Some(max) => integer.max_value(max),
                None => integer,
            }
            .build()
        }
        OptionKind::Number { min, max } => NumberBuilder::new(option.name, option.description)
            .required(option.required)
            .min_value(min)
            .max_value(max)
            .build(),
        OptionKind::Suggested(_) => StringBuilder::new(option.name, option.description)
            .required(option.required)
            .autocomplete(true)
            .build(),
        OptionKind::Role => RoleBuilder::new(option.name, option.description)
            .required(option.required)
            .build(),
        OptionKind::TextChannel => ChannelBuilder::new(option.name, option.description)
            .required(option.required)
            .channel_types([ChannelType::GuildText])
            .build(),
        OptionKind::Boolean => BooleanBuilder::new(option.name, option.description)
            .required(option.required)
            .build(),
    }
}

/// Where the suggestions for an option being typed come from: the option of `command` (under
/// `subcommand`, for a command made of them) named `option`, if it has suggestions.
pub fn suggestions_for(command: &str, subcommand: Option<&str>, option: &str) -> Option<Suggest> {
    let spec = SPECS.iter().find(|spec| spec.name == command)?;
    let options = match subcommand {
        None => spec.options,
        Some(name) => {
            spec.subcommands
                .iter()
                .find(|sub| sub.name == name)?
                .options
        }
    };
    match options.iter().find(|spec| spec.name == option)?.kind {
        OptionKind::Suggested(suggest) => Some(suggest),
        _ => None,
    }
}

/// A command's sub-commands, in words: `preset, equalizer, timescale or reset`.
fn subcommand_names(spec: &CommandSpec) -> String {
    let names: Vec<&str> = spec.subcommands.iter().map(|sub| sub.name).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => (*last).to_owned(),
        None => String::new(),
    }
}

/// The `/help` answer: every command with its options and what it does.
pub fn help_text() -> String {
    let mut text = String::from("**Commands**\n");
    for spec in SPECS {
        if spec.subcommands.is_empty() {
            help_line(&mut text, spec.name, spec.options, spec.description);
        }
        for sub in spec.subcommands {
            let name = format!("{} {}", spec.name, sub.name);
            help_line(&mut text, &name, sub.options, sub.description);
        }
    }
    text
}

fn help_line(text: &mut String, name: &str, options: &[OptionSpec], description: &str) {
    text.push_str("`/");
    text.push_str(name);
    for option in options {
        text.push(' ');
        if option.required {
            text.push_str(option.name);
        } else {
            text.push('[');
            text.push_str(option.name);
            text.push(']');
        }
    }
    text.push_str("`: ");
    text.push_str(description);
    text.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(name: &str, value: OptionValue) -> CommandOption {
        CommandOption {
            name: name.into(),
            value,
        }
    }

    #[test]
    fn every_kind_has_exactly_one_spec_with_a_unique_name() {
        let kinds: Vec<CommandKind> = CommandKind::all().collect();
        assert_eq!(kinds.len(), 26);
        for kind in &kinds {
            assert_eq!(SPECS.iter().filter(|s| s.kind == *kind).count(), 1);
            assert_eq!(CommandKind::from_name(kind.name()), Some(*kind));
        }
        let names: std::collections::HashSet<_> = SPECS.iter().map(|s| s.name).collect();
        assert_eq!(names.len(), SPECS.len());
        assert_eq!(definitions().len(), SPECS.len());
    }

    #[test]
    fn options_are_typed_and_bounded_by_the_spec() {
        assert_eq!(
            Command::parse("volume", &[option("level", OptionValue::Integer(150))]),
            Ok(Command::Volume { level: 150 })
        );
        let error = Command::parse("volume", &[option("level", OptionValue::Integer(300))])
            .expect_err("out of bounds");
        assert_eq!(
            error.to_string(),
            "/volume: `level` must be between 0 and 200 (got 300)."
        );
        let error = Command::parse("remove", &[option("position", OptionValue::Integer(0))])
            .expect_err("below 1");
        assert!(error.to_string().contains("at least 1"), "{error}");
        assert_eq!(
            Command::parse("volume", &[]),
            Err(CommandError::Missing {
                command: CommandKind::Volume,
                option: "level"
            })
        );
        let error = Command::parse(
            "volume",
            &[option("level", OptionValue::String("loud".into()))],
        )
        .expect_err("text for a number");
        assert!(error.to_string().contains("whole number"), "{error}");
        assert_eq!(
            Command::parse(
                "loop",
                &[option("mode", OptionValue::String("track".into()))]
            ),
            Ok(Command::Loop {
                mode: LoopMode::Track
            })
        );
        let error = Command::parse("loop", &[option("mode", OptionValue::String("all".into()))])
            .expect_err("not a choice");
        assert!(error.to_string().contains("off, track, queue"), "{error}");
        assert_eq!(
            Command::parse(
                "seek",
                &[option("position", OptionValue::String("1:23".into()))]
            ),
            Ok(Command::Seek {
                position_ms: 83_000
            })
        );
        let error = Command::parse(
            "seek",
            &[option("position", OptionValue::String("banana".into()))],
        )
        .expect_err("not a time");
        assert!(error.to_string().contains("1:23"), "{error}");
        assert_eq!(Command::parse("queue", &[]), Ok(Command::Queue { page: 1 }));
        assert_eq!(
            Command::parse("play", &[option("query", OptionValue::String("  ".into()))])
                .map_err(|e| e.to_string().contains("tell me what to play")),
            Err(true)
        );
        assert_eq!(
            Command::parse("dance", &[]),
            Err(CommandError::Unknown("dance".into()))
        );
    }

    #[test]
    fn registration_and_help_come_from_the_same_table() {
        let volume = definitions()
            .into_iter()
            .find(|c| c.name == "volume")
            .expect("volume");
        let level = &volume.options[0];
        assert_eq!(level.name, "level");
        assert_eq!(
            level.max_value,
            Some(twilight_model::application::command::CommandOptionValue::Integer(200))
        );
        let help = help_text();
        for spec in SPECS {
            assert!(help.contains(&format!("`/{}", spec.name)), "{help}");
        }
        assert!(help.contains("`/skip [to]`"), "{help}");
        assert!(help.contains("`/move from to`"), "{help}");
    }
}
