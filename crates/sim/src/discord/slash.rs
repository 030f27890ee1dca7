//! Slash commands and their autocompletes as a scripted user types them: the options (also in
//! sub-commands and groups), the check against the registered command, and the validation of
//! the choices the bot answers an autocomplete with.

use twilight_model::application::command::{
    Command, CommandOption, CommandOptionChoice, CommandOptionChoiceValue, CommandOptionType,
    CommandType,
};
use twilight_model::application::interaction::application_command::{
    CommandData, CommandDataOption, CommandOptionValue,
};
use twilight_model::application::interaction::{Interaction, InteractionData, InteractionType};
use twilight_model::http::interaction::InteractionResponseData;
use twilight_model::id::Id;
use twilight_model::id::marker::{ChannelMarker, GuildMarker, UserMarker};

use super::config::SimError;
use super::interactions::{self, Invocation};
use super::rest::ApiError;
use super::state::{Core, Dispatch, Shared};

/// Options of a command or sub-command, as Discord sends them (builder).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SlashOptions(pub Vec<CommandDataOption>);

impl SlashOptions {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a string option.
    #[must_use]
    pub fn string(self, name: &str, value: impl Into<String>) -> Self {
        self.option(name, CommandOptionValue::String(value.into()))
    }

    /// Adds an integer option.
    #[must_use]
    pub fn integer(self, name: &str, value: i64) -> Self {
        self.option(name, CommandOptionValue::Integer(value))
    }

    /// Adds a boolean option.
    #[must_use]
    pub fn boolean(self, name: &str, value: bool) -> Self {
        self.option(name, CommandOptionValue::Boolean(value))
    }

    /// Adds the option the user is typing in (for [`DiscordSim::autocomplete`]): `focused:
    /// true` and the partial text as a string, whatever the option's type (the stand-in gives
    /// it the type the command declares).
    ///
    /// [`DiscordSim::autocomplete`]: super::DiscordSim::autocomplete
    #[must_use]
    pub fn typing(self, name: &str, partial: impl Into<String>) -> Self {
        self.option(
            name,
            CommandOptionValue::Focused(partial.into(), CommandOptionType::String),
        )
    }

    /// Adds a sub-command with its options.
    #[must_use]
    pub fn subcommand(self, name: &str, options: SlashOptions) -> Self {
        self.option(name, CommandOptionValue::SubCommand(options.0))
    }

    /// Adds a sub-command group holding one sub-command (`options` holds that sub-command).
    #[must_use]
    pub fn subcommand_group(self, name: &str, options: SlashOptions) -> Self {
        self.option(name, CommandOptionValue::SubCommandGroup(options.0))
    }

    /// Adds any option value.
    #[must_use]
    pub fn option(mut self, name: &str, value: CommandOptionValue) -> Self {
        self.0.push(CommandDataOption {
            name: name.to_owned(),
            value,
        });
        self
    }
}

/// A slash command a scripted user invokes (or, with a focused option, is typing).
#[derive(Debug, Clone)]
pub struct SlashCommand {
    /// The guild.
    pub guild_id: Id<GuildMarker>,
    /// The channel it is typed in.
    pub channel_id: Id<ChannelMarker>,
    /// The user invoking it (a member of the guild).
    pub user_id: Id<UserMarker>,
    /// The command name (must be registered for the guild or globally).
    pub name: String,
    /// The options as Discord sends them.
    pub options: Vec<CommandDataOption>,
    /// The user's locale (`en-US` unless set).
    pub locale: String,
}

impl SlashCommand {
    /// `/name` by `user` in `channel` of `guild`, without options.
    pub fn new(
        guild_id: Id<GuildMarker>,
        channel_id: Id<ChannelMarker>,
        user_id: Id<UserMarker>,
        name: impl Into<String>,
    ) -> Self {
        Self {
            guild_id,
            channel_id,
            user_id,
            name: name.into(),
            options: Vec::new(),
            locale: "en-US".into(),
        }
    }

    fn with(mut self, build: impl FnOnce(SlashOptions) -> SlashOptions) -> Self {
        self.options = build(SlashOptions(self.options)).0;
        self
    }

    /// Adds a string option.
    #[must_use]
    pub fn string(self, name: &str, value: impl Into<String>) -> Self {
        self.with(|options| options.string(name, value))
    }

    /// Adds an integer option.
    #[must_use]
    pub fn integer(self, name: &str, value: i64) -> Self {
        self.with(|options| options.integer(name, value))
    }

    /// Adds a boolean option.
    #[must_use]
    pub fn boolean(self, name: &str, value: bool) -> Self {
        self.with(|options| options.boolean(name, value))
    }

    /// Adds the option the user is typing in, with its partial text (see
    /// [`SlashOptions::typing`]); for [`DiscordSim::autocomplete`].
    ///
    /// [`DiscordSim::autocomplete`]: super::DiscordSim::autocomplete
    #[must_use]
    pub fn typing(self, name: &str, partial: impl Into<String>) -> Self {
        self.with(|options| options.typing(name, partial))
    }

    /// Adds a sub-command with its options (`/playlist load name:…`).
    #[must_use]
    pub fn subcommand(self, name: &str, options: SlashOptions) -> Self {
        self.with(|list| list.subcommand(name, options))
    }

    /// Adds a sub-command group; `options` holds its sub-command.
    #[must_use]
    pub fn subcommand_group(self, name: &str, options: SlashOptions) -> Self {
        self.with(|list| list.subcommand_group(name, options))
    }

    /// Adds any option value.
    #[must_use]
    pub fn option(self, name: &str, value: CommandOptionValue) -> Self {
        self.with(|options| options.option(name, value))
    }

    /// Sets the user's locale (`de`, `en-GB`, ...).
    #[must_use]
    pub fn locale(mut self, locale: impl Into<String>) -> Self {
        self.locale = locale.into();
        self
    }
}

/// The registered chat-input command of that name (the guild's first, then global).
fn registered(core: &Core, spec: &SlashCommand) -> Result<Command, SimError> {
    core.guild_commands
        .get(&spec.guild_id)
        .into_iter()
        .flatten()
        .chain(core.global_commands.iter())
        .find(|command| command.name == spec.name && command.kind == CommandType::ChatInput)
        .cloned()
        .ok_or_else(|| SimError::UnknownCommand(spec.name.clone()))
}

/// The paths (option names from the top) of the focused options.
fn focused_paths(options: &[CommandDataOption], prefix: &[String], out: &mut Vec<Vec<String>>) {
    for option in options {
        let mut path = prefix.to_vec();
        path.push(option.name.clone());
        match &option.value {
            CommandOptionValue::Focused(..) => out.push(path),
            CommandOptionValue::SubCommand(inner) | CommandOptionValue::SubCommandGroup(inner) => {
                focused_paths(inner, &path, out);
            }
            _ => {}
        }
    }
}

/// The declaration of the option at `path`.
fn declared<'a>(options: &'a [CommandOption], path: &[String]) -> Option<&'a CommandOption> {
    let (first, rest) = path.split_first()?;
    let option = options.iter().find(|option| &option.name == first)?;
    if rest.is_empty() {
        Some(option)
    } else {
        declared(option.options.as_deref()?, rest)
    }
}

/// Gives every focused option the type `kind`.
fn set_focused_kind(options: &mut [CommandDataOption], kind: CommandOptionType) {
    for option in options {
        match &mut option.value {
            CommandOptionValue::Focused(_, focused) => *focused = kind,
            CommandOptionValue::SubCommand(inner) | CommandOptionValue::SubCommandGroup(inner) => {
                set_focused_kind(inner, kind);
            }
            _ => {}
        }
    }
}

fn data(command: &Command, options: Vec<CommandDataOption>, core: &mut Core) -> InteractionData {
    InteractionData::ApplicationCommand(Box::new(CommandData {
        guild_id: command.guild_id,
        id: command.id.unwrap_or_else(|| core.ids.next()),
        kind: CommandType::ChatInput,
        name: command.name.clone(),
        options,
        resolved: None,
        target_id: None,
    }))
}

/// Builds the interaction for a slash command and registers it.
pub(crate) fn create_slash(
    core: &mut Core,
    shared: &Shared,
    spec: &SlashCommand,
) -> Result<(Interaction, Dispatch), SimError> {
    let command = registered(core, spec)?;
    let mut focused = Vec::new();
    focused_paths(&spec.options, &[], &mut focused);
    if let Some(path) = focused.first() {
        return Err(SimError::Refused(format!(
            "/{} is sent with option `{}` focused: an invoked command has no focused option \
             (use DiscordSim::autocomplete)",
            spec.name,
            path.join(" ")
        )));
    }
    let data = data(&command, spec.options.clone(), core);
    let invocation = Invocation {
        guild_id: spec.guild_id,
        channel_id: spec.channel_id,
        user_id: spec.user_id,
        locale: spec.locale.clone(),
        kind: InteractionType::ApplicationCommand,
        data,
        raw_data: None,
        message: None,
        focused_kind: None,
    };
    interactions::create(core, shared, invocation)
}

/// Whether the partial text passes Discord's client-side validation for the option type
/// ("you may receive partial strings, but not invalid numbers").
fn partial_ok(kind: CommandOptionType, text: &str) -> bool {
    match kind {
        CommandOptionType::Integer => text.is_empty() || text == "-" || text.parse::<i64>().is_ok(),
        CommandOptionType::Number => {
            text.is_empty()
                || text == "-"
                || text
                    .trim_end_matches('.')
                    .parse::<f64>()
                    .is_ok_and(f64::is_finite)
        }
        _ => true,
    }
}

/// Builds an APPLICATION_COMMAND_AUTOCOMPLETE interaction: exactly one focused option, declared
/// with `autocomplete: true` in the registered command.
pub(crate) fn create_autocomplete(
    core: &mut Core,
    shared: &Shared,
    spec: &SlashCommand,
) -> Result<(Interaction, Dispatch), SimError> {
    let command = registered(core, spec)?;
    let mut focused = Vec::new();
    focused_paths(&spec.options, &[], &mut focused);
    let [path] = focused.as_slice() else {
        return Err(SimError::Refused(format!(
            "an autocomplete needs exactly one focused option; /{} has {}",
            spec.name,
            focused.len()
        )));
    };
    let name = path.join(" ");
    let option = declared(&command.options, path).ok_or_else(|| {
        SimError::Refused(format!(
            "/{} declares no option `{name}` (registered: {:?})",
            spec.name,
            command.options.iter().map(|o| &o.name).collect::<Vec<_>>()
        ))
    })?;
    let autocompletes = matches!(
        option.kind,
        CommandOptionType::String | CommandOptionType::Integer | CommandOptionType::Number
    ) && option.autocomplete == Some(true);
    if !autocompletes {
        return Err(SimError::Refused(format!(
            "option `{name}` of /{} is not declared with autocomplete: true",
            spec.name
        )));
    }
    let mut options = spec.options.clone();
    set_focused_kind(&mut options, option.kind);
    let text = focused_text(&options).unwrap_or_default();
    if !partial_ok(option.kind, &text) {
        return Err(SimError::Refused(format!(
            "{text:?} in option `{name}` ({:?}) does not pass Discord's client-side validation",
            option.kind
        )));
    }
    let kind = option.kind;
    let data = data(&command, options, core);
    let invocation = Invocation {
        guild_id: spec.guild_id,
        channel_id: spec.channel_id,
        user_id: spec.user_id,
        locale: spec.locale.clone(),
        kind: InteractionType::ApplicationCommandAutocomplete,
        data,
        raw_data: None,
        message: None,
        focused_kind: Some(kind),
    };
    interactions::create(core, shared, invocation)
}

fn focused_text(options: &[CommandDataOption]) -> Option<String> {
    options.iter().find_map(|option| match &option.value {
        CommandOptionValue::Focused(text, _) => Some(text.clone()),
        CommandOptionValue::SubCommand(inner) | CommandOptionValue::SubCommandGroup(inner) => {
            focused_text(inner)
        }
        _ => None,
    })
}

/// Checks an APPLICATION_COMMAND_AUTOCOMPLETE_RESULT's choices as Discord documents them: at
/// most 25, names of 1 to 100 characters, values of the focused option's type (strings up to
/// 100 characters, integers within ±(2^53 - 1), numbers for NUMBER). 50035 otherwise, with the
/// error at the field (`data.choices.3.name`).
pub(crate) fn check_choices(
    kind: Option<CommandOptionType>,
    data: Option<&InteractionResponseData>,
) -> Result<(), ApiError> {
    let Some(choices) = data.and_then(|data| data.choices.as_ref()) else {
        return Err(ApiError::invalid_form_at(
            &["data", "choices"],
            "BASE_TYPE_REQUIRED",
            "This field is required",
        ));
    };
    if choices.len() > 25 {
        return Err(ApiError::invalid_form_at(
            &["data", "choices"],
            "BASE_TYPE_MAX_LENGTH",
            "Must be 25 or fewer in length.",
        ));
    }
    for (index, choice) in choices.iter().enumerate() {
        let index = index.to_string();
        if !(1..=100).contains(&choice.name.chars().count()) {
            return Err(ApiError::invalid_form_at(
                &["data", "choices", &index, "name"],
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            ));
        }
        if let Some((code, message)) = kind.and_then(|kind| bad_value(kind, choice)) {
            return Err(ApiError::invalid_form_at(
                &["data", "choices", &index, "value"],
                code,
                &message,
            ));
        }
    }
    Ok(())
}

/// What is wrong with a choice's value for an option of type `kind`.
fn bad_value(
    kind: CommandOptionType,
    choice: &CommandOptionChoice,
) -> Option<(&'static str, String)> {
    const MAX_SAFE: i64 = (1 << 53) - 1;
    match (kind, &choice.value) {
        (CommandOptionType::String, CommandOptionChoiceValue::String(text)) => {
            (text.chars().count() > 100).then(|| {
                (
                    "BASE_TYPE_MAX_LENGTH",
                    "Must be 100 or fewer in length.".into(),
                )
            })
        }
        (CommandOptionType::String, other) => Some((
            "STRING_TYPE_CONVERT",
            format!("Value {other:?} is not a string."),
        )),
        (CommandOptionType::Integer, CommandOptionChoiceValue::Integer(value)) => {
            (!(-MAX_SAFE..=MAX_SAFE).contains(value)).then(|| {
                (
                    "NUMBER_TYPE_MAX",
                    format!("int value should be less than or equal to {MAX_SAFE}."),
                )
            })
        }
        (CommandOptionType::Number, CommandOptionChoiceValue::Number(value)) => (!value
            .is_finite())
        .then(|| ("NUMBER_TYPE_COERCE", "Value is not a valid number.".into())),
        (CommandOptionType::Number, CommandOptionChoiceValue::Integer(_)) => None,
        (CommandOptionType::Integer, other) => {
            Some(("NUMBER_TYPE_COERCE", format!("Value {other:?} is not int.")))
        }
        (CommandOptionType::Number, other) => Some((
            "NUMBER_TYPE_COERCE",
            format!("Value {other:?} is not a valid number."),
        )),
        _ => None,
    }
}
