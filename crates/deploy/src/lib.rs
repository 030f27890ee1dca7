//! Blue-green deploys of the bot: two colours of the bot process on one host, one serving and one
//! in standby, sharing the store. [`ColourClient`] speaks to a colour's deploy endpoints (its
//! admin server, behind the admin token); [`cutover`] hands the sessions from the serving colour
//! to the one in standby: the active one finishes what it holds and hands over through the store
//! (staying warm), the candidate resumes the gateway and Lavalink sessions, so listeners hear no
//! gap and the interactions sent in between are answered.

#![allow(
    clippy::disallowed_methods,
    reason = "the orchestrator waits on other processes in real time: its bounds and figures are wall-clock"
)]

mod client;
mod cutover;
mod orchestrate;
pub mod summary;
mod watch;

pub use client::{ClientError, ColourClient};
pub use cutover::{CutoverError, CutoverReport, cutover};
pub use orchestrate::{
    DeployError, DeployReport, Ending, Plan, Slot, StepLine, deploy, resume, rollback,
    serving_colour,
};
pub use watch::{WatchOutcome, WatchRules, watch};
