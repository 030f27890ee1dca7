//! The bot as an application: the layered configuration (file, then `DIMBY_*`), [`serve`] (every
//! part started from a config and stopped in order), the config reload on file change and
//! SIGHUP, and the log format. `dimby run` and `dimby demo` both come through [`serve`].

pub mod config;
pub mod handover;
pub mod hangup;
pub mod logging;
pub mod reload;
pub mod serve;

pub use serve::{ServeOptions, StopMode, serve};
