//! Which build runs and as which colour: every log line carries `version` and `colour`, and
//! `dimby_build_info` carries `version`, `commit` and `colour`.
//!
//! The binary says which build it is ([`set_build`], before the log is set up: its build script
//! knows the commit); the colour comes from the configuration (`deploy.colour`), so lines written
//! before the configuration is read carry the version only. [`adopt`], at the start of
//! [`serve`](crate::serve), sets the colour for the log and tells the metrics.
//!
//! The log's identity is one per process (the subscriber is). Several bots served in one process
//! (tests, benchmarks) share it, and the last `adopt` wins; each bot's metrics keep their own.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, Ordering};

use store::Colour;
use telemetry::Identity;

use crate::config::Config;

/// A build: its version and the commit it was built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Build {
    /// The version (`0.1.0`).
    pub version: &'static str,
    /// The commit (12 hex digits), or `unknown`.
    pub commit: &'static str,
}

impl Default for Build {
    /// What a process that did not say its build is: this crate's version, an unknown commit.
    fn default() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION"),
            commit: Identity::UNKNOWN_COMMIT,
        }
    }
}

/// The colour before the configuration said it.
const COLOUR_UNKNOWN: u8 = 0;
const COLOUR_NONE: u8 = 1;
const COLOUR_BLUE: u8 = 2;
const COLOUR_GREEN: u8 = 3;

/// The build and the colour of a process, as the log reads them on every line: one lock-free
/// read of each.
#[derive(Debug)]
pub struct ProcessIdentity {
    build: OnceLock<Build>,
    colour: AtomicU8,
}

impl Default for ProcessIdentity {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcessIdentity {
    /// No build said, the colour not yet known.
    pub const fn new() -> Self {
        Self {
            build: OnceLock::new(),
            colour: AtomicU8::new(COLOUR_UNKNOWN),
        }
    }

    /// Says which build this is; the first call wins (a binary has one build).
    pub fn set_build(&self, build: Build) {
        let _ = self.build.set(build);
    }

    /// The build said, or [`Build::default`].
    pub fn build(&self) -> Build {
        self.build.get().copied().unwrap_or_default()
    }

    /// Sets the colour (`None`: a process without a colour).
    pub fn set_colour(&self, colour: Option<Colour>) {
        let code = match colour {
            None => COLOUR_NONE,
            Some(Colour::Blue) => COLOUR_BLUE,
            Some(Colour::Green) => COLOUR_GREEN,
        };
        self.colour.store(code, Ordering::Relaxed);
    }

    /// The colour once the configuration said it: `Some(None)` for a process without one.
    pub fn colour(&self) -> Option<Option<Colour>> {
        match self.colour.load(Ordering::Relaxed) {
            COLOUR_NONE => Some(None),
            COLOUR_BLUE => Some(Some(Colour::Blue)),
            COLOUR_GREEN => Some(Some(Colour::Green)),
            _ => None,
        }
    }

    /// The log's `colour` field: `blue`, `green` or `none`; `None` (no field) until the
    /// configuration said it.
    pub fn colour_label(&self) -> Option<&'static str> {
        self.colour()
            .map(|colour| colour.map_or(Identity::NO_COLOUR, Colour::as_str))
    }

    /// What `dimby_build_info` says.
    pub fn identity(&self) -> Identity {
        let build = self.build();
        Identity {
            version: build.version,
            commit: build.commit,
            colour: self.colour().flatten().map(Colour::as_str),
        }
    }
}

static PROCESS: ProcessIdentity = ProcessIdentity::new();

/// This process's identity (what the log carries).
pub fn process() -> &'static ProcessIdentity {
    &PROCESS
}

/// Says which build this process runs; the binary calls it first thing, with its version and the
/// commit its build script found.
pub fn set_build(build: Build) {
    PROCESS.set_build(build);
}

/// Takes the colour from `config`: from now on every log line carries it, and `metrics`'
/// `dimby_build_info` says this build and colour. Logs the identity once, commit included.
/// `metrics` also read the process's log counts from now on (`dimby_log_events_total`, since the
/// start: [`crate::logging::counts`]).
pub fn adopt(config: &Config, metrics: &telemetry::Metrics) {
    PROCESS.set_colour(config.deploy.colour);
    let identity = PROCESS.identity();
    metrics.set_identity(identity);
    crate::logging::counts::attach(metrics);
    // The line itself carries the version and the colour, as every line does.
    tracing::info!(commit = identity.commit, "build identity");
}

#[cfg(test)]
mod tests {
    use store::Colour;
    use telemetry::Identity;

    use super::{Build, ProcessIdentity};

    #[test]
    fn the_colour_is_unknown_until_set_then_none_blue_or_green() {
        let identity = ProcessIdentity::new();
        assert_eq!(identity.colour(), None);
        assert_eq!(identity.colour_label(), None);
        assert_eq!(identity.identity().colour_label(), "none");
        for (colour, label) in [
            (None, "none"),
            (Some(Colour::Blue), "blue"),
            (Some(Colour::Green), "green"),
        ] {
            identity.set_colour(colour);
            assert_eq!(identity.colour(), Some(colour));
            assert_eq!(identity.colour_label(), Some(label));
            assert_eq!(identity.identity().colour_label(), label);
        }
    }

    #[test]
    fn the_first_build_said_is_kept() {
        let identity = ProcessIdentity::new();
        assert_eq!(identity.build(), Build::default());
        assert_eq!(identity.build().commit, Identity::UNKNOWN_COMMIT);
        let build = Build {
            version: "1.2.3",
            commit: "0123456789ab",
        };
        identity.set_build(build);
        identity.set_build(Build {
            version: "9",
            commit: "other",
        });
        assert_eq!(identity.build(), build);
        identity.set_colour(Some(Colour::Blue));
        assert_eq!(
            identity.identity(),
            Identity {
                version: "1.2.3",
                commit: "0123456789ab",
                colour: Some("blue"),
            }
        );
    }
}
