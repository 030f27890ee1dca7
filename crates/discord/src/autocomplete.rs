//! Autocomplete: a user typing into an option declared with suggestions, and the bot's answer
//! (up to 25 choices, once, within Discord's 3 s; there is no deferring an autocomplete).

use std::fmt;
use std::time::{Duration, Instant};

use telemetry::DiscordRoute;
use twilight_model::application::command::{CommandOptionChoice, CommandOptionChoiceValue};
use twilight_model::application::interaction::{Interaction, InteractionData};
use twilight_model::http::interaction::{
    InteractionResponse, InteractionResponseData, InteractionResponseType,
};
use twilight_model::id::Id;
use twilight_model::id::marker::ApplicationMarker;

use super::error::DiscordError;
use super::interaction::{CommandOption, OptionValue, options};
use super::rest::Rest;
use super::{ChannelId, GuildId, InteractionId, UserId};

/// The most choices Discord shows (and accepts) in one answer.
pub const MAX_CHOICES: usize = 25;
/// The longest name or string value of a choice, in characters.
pub const MAX_CHOICE_CHARS: usize = 100;
/// How long Discord waits for the answer.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// Someone is typing into an option the bot suggests values for.
#[derive(Debug)]
pub struct AutocompleteRequest {
    /// The interaction.
    pub id: InteractionId,
    /// The guild (none in DMs).
    pub guild: Option<GuildId>,
    /// The channel it is typed in.
    pub channel: Option<ChannelId>,
    /// Who is typing.
    pub user: UserId,
    /// The command name.
    pub name: String,
    /// The options so far; the one being typed is [`OptionValue::Focused`].
    pub options: Vec<CommandOption>,
    /// The typist's locale.
    pub locale: Option<String>,
    /// Answers it.
    pub responder: Suggestions,
}

/// The option being typed into: under which sub-command, its name and the text so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Focused<'a> {
    /// The sub-command it belongs to (`/playlist load name`: `load`).
    pub subcommand: Option<&'a str>,
    /// The option's name.
    pub option: &'a str,
    /// What has been typed so far.
    pub text: &'a str,
}

impl AutocompleteRequest {
    /// The option being typed into (Discord marks exactly one).
    pub fn focused(&self) -> Option<Focused<'_>> {
        focused_in(&self.options, None)
    }
}

fn focused_in<'a>(
    options: &'a [CommandOption],
    subcommand: Option<&'a str>,
) -> Option<Focused<'a>> {
    options.iter().find_map(|option| match &option.value {
        OptionValue::Focused(text) => Some(Focused {
            subcommand,
            option: &option.name,
            text,
        }),
        OptionValue::SubCommand(inner) => focused_in(inner, Some(&option.name)),
        OptionValue::SubCommandGroup(inner) => focused_in(inner, subcommand),
        _ => None,
    })
}

/// One suggestion: what the list shows and what the option gets when it is picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suggestion {
    /// What the user sees (cut to 100 characters).
    pub name: String,
    /// What the option's value becomes (at most 100 characters; longer ones are left out).
    pub value: String,
}

impl Suggestion {
    /// A suggestion whose name and value are the same text.
    pub fn same(text: impl Into<String>) -> Self {
        let text = text.into();
        Self {
            name: text.clone(),
            value: text,
        }
    }
}

/// Cuts `text` to at most `max` characters, ending in `…` when it was longer.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// Answers one autocomplete interaction.
pub struct Suggestions {
    rest: Rest,
    application: Id<ApplicationMarker>,
    id: InteractionId,
    token: String,
    received: Instant,
}

impl fmt::Debug for Suggestions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The token is a credential: never printed.
        f.debug_struct("Suggestions")
            .field("interaction", &self.id)
            .finish_non_exhaustive()
    }
}

impl Suggestions {
    /// When the interaction arrived from the gateway.
    pub fn received(&self) -> Instant {
        self.received
    }

    /// Answers with these suggestions: the first 25 whose value fits Discord's 100 characters,
    /// names cut to 100 characters. An empty list shows "no options match" and leaves the user
    /// free to send what they typed.
    pub async fn suggest(&self, suggestions: &[Suggestion]) -> Result<(), DiscordError> {
        let choices = choices(suggestions);
        let response = InteractionResponse {
            kind: InteractionResponseType::ApplicationCommandAutocompleteResult,
            data: Some(InteractionResponseData {
                choices: Some(choices),
                ..InteractionResponseData::default()
            }),
        };
        let interaction = self.rest.client().interaction(self.application);
        self.rest
            .send(
                DiscordRoute::InteractionCallback,
                interaction.create_response(self.id, &self.token, &response),
            )
            .await?;
        Ok(())
    }
}

/// Discord's choices for these suggestions: the first 25 whose value fits 100 characters, names
/// cut to 100 characters.
fn choices(suggestions: &[Suggestion]) -> Vec<CommandOptionChoice> {
    suggestions
        .iter()
        .filter(|suggestion| {
            !suggestion.value.is_empty()
                && suggestion.value.chars().count() <= MAX_CHOICE_CHARS
                && !suggestion.name.trim().is_empty()
        })
        .take(MAX_CHOICES)
        .map(|suggestion| CommandOptionChoice {
            name: truncate(&suggestion.name, MAX_CHOICE_CHARS),
            name_localizations: None,
            value: CommandOptionChoiceValue::String(suggestion.value.clone()),
        })
        .collect()
}

/// The request in an INTERACTION_CREATE of type 4.
pub(crate) fn request(interaction: Interaction, rest: &Rest) -> Option<AutocompleteRequest> {
    let user = interaction.author_id()?;
    let Some(InteractionData::ApplicationCommand(data)) = interaction.data else {
        return None;
    };
    Some(AutocompleteRequest {
        id: interaction.id,
        guild: interaction.guild_id,
        channel: interaction.channel.as_ref().map(|channel| channel.id),
        user,
        name: data.name.clone(),
        options: options(&data.options),
        locale: interaction.locale,
        responder: Suggestions {
            rest: rest.clone(),
            application: interaction.application_id,
            id: interaction.id,
            token: interaction.token,
            received: Instant::now(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn option(name: &str, value: OptionValue) -> CommandOption {
        CommandOption {
            name: name.to_owned(),
            value,
        }
    }

    #[test]
    fn the_focused_option_is_found_at_the_top_and_in_sub_commands() {
        let top = [
            option("page", OptionValue::Integer(2)),
            option("query", OptionValue::Focused("never gon".into())),
        ];
        assert_eq!(
            focused_in(&top, None),
            Some(Focused {
                subcommand: None,
                option: "query",
                text: "never gon"
            })
        );
        let nested = [option(
            "load",
            OptionValue::SubCommand(vec![option("name", OptionValue::Focused("ro".into()))]),
        )];
        assert_eq!(
            focused_in(&nested, None),
            Some(Focused {
                subcommand: Some("load"),
                option: "name",
                text: "ro"
            })
        );
        assert_eq!(
            focused_in(&[option("query", OptionValue::String("x".into()))], None),
            None
        );
    }

    #[test]
    fn names_are_cut_to_the_limit_with_an_ellipsis() {
        let long = "é".repeat(150);
        let cut = truncate(&long, MAX_CHOICE_CHARS);
        assert_eq!(cut.chars().count(), MAX_CHOICE_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(truncate("short", MAX_CHOICE_CHARS), "short");
    }

    #[test]
    fn choices_keep_discords_limits() {
        let mut suggestions: Vec<Suggestion> = (0..40)
            .map(|n| Suggestion {
                name: format!("{n} {}", "x".repeat(120)),
                value: format!("value {n}"),
            })
            .collect();
        suggestions.insert(0, Suggestion::same("v".repeat(101)));
        suggestions.insert(1, Suggestion::same(""));
        let choices = choices(&suggestions);
        assert_eq!(choices.len(), MAX_CHOICES);
        assert!(
            choices
                .iter()
                .all(|choice| choice.name.chars().count() <= MAX_CHOICE_CHARS)
        );
        // The value too long to be sent and the empty one are left out, not cut.
        assert_eq!(
            choices[0].value,
            CommandOptionChoiceValue::String("value 0".into())
        );
    }
}
