//! The bot's core: per-guild music engines whose effects are carried out on the Lavalink cluster
//! and the store. The Discord side (commands in, answers and voice out) plugs into it.

pub mod commands;
mod display;
mod guild;
pub mod health_command;
pub mod runtime;
pub mod shell;
