//! The bot as an application: the layered configuration (file, then `DIMBY_*`), [`serve`] (every
//! part started from a config and stopped in order), the config reload on file change and
//! SIGHUP, the log format (and its events counted by level), and the build's identity (version,
//! commit, deploy colour) on every log line and on `dimby_build_info`. `dimby run` and `dimby
//! demo` both come through [`serve`].

pub mod config;
pub mod gate;
pub mod handover;
pub mod hangup;
pub mod identity;
pub mod logging;
pub mod reload;
pub mod serve;
pub mod shared_identify;

pub use serve::{ServeOptions, StopMode, serve};
