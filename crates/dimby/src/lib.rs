//! DimbyBot: a Discord music bot on a cluster of Lavalink v4 nodes, with its operator CLI.
//!
//! The library holds everything the `dimby` binary runs, so integration tests can start the same
//! pieces in-process: the admin HTTP server, the benchmarks and the command line.

// The binary exports one symbol for jemalloc (main.rs); the library has no unsafe code at all.
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod bench;
pub mod bot;
pub mod cli;
pub mod config;
pub mod demo;
pub mod discord;
pub mod hangup;
pub mod health;
pub mod health_cli;
pub mod logging;
pub mod nodes_cli;
pub mod perf;
pub mod profile_cli;
pub mod profiling;
pub mod reload;
