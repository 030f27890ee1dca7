//! The slash commands: their definitions (registered with Discord) and their names.

use twilight_model::application::command::{Command, CommandType};
use twilight_model::application::interaction::InteractionContextType;
use twilight_util::builder::command::{CommandBuilder, IntegerBuilder, StringBuilder};

/// Every command the bot registers.
pub fn definitions() -> Vec<Command> {
    let guild_only = |name: &str, description: &str| {
        CommandBuilder::new(name, description, CommandType::ChatInput)
            .contexts([InteractionContextType::Guild])
    };
    let position = |name: &str, description: &str| {
        IntegerBuilder::new(name, description)
            .min_value(1)
            .required(true)
    };
    vec![
        guild_only(
            "play",
            "Play a song or playlist (a URL or words to search for)",
        )
        .option(StringBuilder::new("query", "A URL, or what to search for").required(true))
        .build(),
        guild_only("pause", "Pause playback").build(),
        guild_only("resume", "Resume playback").build(),
        guild_only(
            "skip",
            "Skip the current track (or skip to a position in the queue)",
        )
        .option(IntegerBuilder::new("to", "Queue position to skip to").min_value(1))
        .build(),
        guild_only("stop", "Stop playback and clear the queue").build(),
        guild_only("queue", "Show the queue")
            .option(IntegerBuilder::new("page", "Page number").min_value(1))
            .build(),
        guild_only("nowplaying", "Show the current track and its position").build(),
        guild_only("seek", "Seek in the current track")
            .option(StringBuilder::new("position", "Where to go: 1:23 or seconds").required(true))
            .build(),
        guild_only("volume", "Set the volume")
            .option(
                IntegerBuilder::new("level", "0 to 200 (100 is normal)")
                    .min_value(0)
                    .max_value(200)
                    .required(true),
            )
            .build(),
        guild_only("loop", "Loop the track, the queue, or nothing")
            .option(
                StringBuilder::new("mode", "What to loop")
                    .required(true)
                    .choices(["off", "track", "queue"].map(|c| (c, c))),
            )
            .build(),
        guild_only("shuffle", "Shuffle the queue").build(),
        guild_only("remove", "Remove a track from the queue")
            .option(position("position", "Its position in /queue"))
            .build(),
        guild_only("move", "Move a track in the queue")
            .option(position("from", "Its position now"))
            .option(position("to", "Its new position"))
            .build(),
        guild_only("clear", "Clear the queue (the current track keeps playing)").build(),
        guild_only("leave", "Stop, clear the queue and leave the voice channel").build(),
        guild_only(
            "health",
            "Health of the bot's subsystems (Manage Server or a configured admin)",
        )
        .build(),
    ]
}

#[cfg(test)]
mod tests {
    use super::definitions;

    #[test]
    fn every_command_of_the_issue_is_defined_once() {
        let names: Vec<String> = definitions().into_iter().map(|c| c.name).collect();
        for name in [
            "play",
            "pause",
            "resume",
            "skip",
            "stop",
            "queue",
            "nowplaying",
            "seek",
            "volume",
            "loop",
            "shuffle",
            "remove",
            "move",
            "clear",
            "leave",
            "health",
        ] {
            assert_eq!(names.iter().filter(|n| *n == name).count(), 1, "{name}");
        }
        assert_eq!(names.len(), 16);
    }
}
