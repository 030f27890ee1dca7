//! The bot's core: per-guild music engines whose effects are carried out on the Lavalink cluster
//! and the store. The Discord side (commands in, answers and voice out) plugs into it.
//!
//! One actor per guild ([`runtime`]) owns the guild's state and reads one channel of inputs;
//! [`commands`] is the one definition of every slash command; [`activity`] is what the bot saw
//! lately, for the health probes.

pub mod activity;
pub mod buttons;
pub mod commands;
mod display;
mod guild;
pub mod health_command;
pub mod panel;
pub mod rules;
pub mod runtime;
pub mod shell;
pub mod suggest;
