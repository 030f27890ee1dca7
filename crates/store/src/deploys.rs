//! The deploy ledger's types: what a blue-green deploy records, step by step, and the last known
//! build of each colour (what a rollback starts again).
//!
//! Every text that goes into the ledger is bounded, by the same rules for every backend (checked
//! here, before the backend sees it): names ([`DeployStep::step`], [`NewDeploy::version`],
//! [`NewDeploy::commit`]) and a colour's build ([`ColourBuild`]'s version, commit, binary, config and
//! admin URL) are refused with [`Error::DeployField`] when empty or longer than their maximum (a cut
//! path or version would be wrong, not shorter); free text ([`DeployStep::detail`], a finished
//! deploy's reason) is truncated to [`MAX_DEPLOY_TEXT`] bytes, ending in a marker that says so.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use crate::{Error, Result};

/// The most bytes of a name in the ledger: a step's name, a deploy's version or commit.
pub const MAX_DEPLOY_NAME: usize = 256;

/// The most bytes of a field of a [`ColourBuild`] (a binary or config path, an admin URL, its
/// version and commit).
pub const MAX_BUILD_FIELD: usize = 4_096;

/// The most bytes of free text (a step's detail, a finished deploy's reason); longer text is cut to
/// this, marker included.
pub const MAX_DEPLOY_TEXT: usize = 4_096;

/// The most steps one deploy records; [`Store::record_deploy_step`](crate::Store::record_deploy_step)
/// refuses more ([`Error::TooManySteps`]).
pub const MAX_STEPS_PER_DEPLOY: usize = 1_000;

/// A name the ledger does not know (a colour, a deploy state or a step outcome).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?} (expected one of {expected})")]
pub struct UnknownLedgerName {
    /// What was parsed: `colour`, `deploy state` or `step outcome`.
    pub what: &'static str,
    /// The text that is not a name of one.
    pub value: String,
    /// The names there are.
    pub expected: &'static str,
}

/// One of the two slots of a blue-green deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Colour {
    /// The blue slot.
    Blue,
    /// The green slot.
    Green,
}

impl Colour {
    /// Both colours.
    pub const ALL: [Self; 2] = [Self::Blue, Self::Green];

    /// Its name: `blue` or `green` (as stored).
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Blue => "blue",
            Self::Green => "green",
        }
    }

    /// The other colour.
    #[must_use]
    pub const fn other(self) -> Self {
        match self {
            Self::Blue => Self::Green,
            Self::Green => Self::Blue,
        }
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Colour {
    type Err = UnknownLedgerName;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownLedgerName {
                what: "colour",
                value: s.to_owned(),
                expected: "blue, green",
            })
    }
}

/// Where a deploy is. The first four are a deploy in progress; the last four are final (see
/// [`DeployState::is_final`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeployState {
    /// Begun: the new colour is being started.
    Started,
    /// The new colour is up and its health gates are being checked.
    Gating,
    /// Traffic is being moved to the new colour.
    CutOver,
    /// The new colour serves, and is watched before the old one is let go.
    Watching,
    /// Final: the new colour stays.
    Promoted,
    /// Final: the new colour failed its gates before the cut-over; the old one kept serving.
    Rejected,
    /// Final: the new colour served and was rolled back to the old one.
    RolledBack,
    /// Final: the deploy itself failed (the orchestrator could not go on).
    Failed,
}

impl DeployState {
    /// Every state, in the order a deploy goes through them (the final ones last).
    pub const ALL: [Self; 8] = [
        Self::Started,
        Self::Gating,
        Self::CutOver,
        Self::Watching,
        Self::Promoted,
        Self::Rejected,
        Self::RolledBack,
        Self::Failed,
    ];

    /// Its name (as stored): `started`, `gating`, `cut_over`, `watching`, `promoted`, `rejected`,
    /// `rolled_back` or `failed`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Gating => "gating",
            Self::CutOver => "cut_over",
            Self::Watching => "watching",
            Self::Promoted => "promoted",
            Self::Rejected => "rejected",
            Self::RolledBack => "rolled_back",
            Self::Failed => "failed",
        }
    }

    /// Whether the deploy is over (promoted, rejected, rolled back or failed): nothing more is
    /// recorded for it, and another deploy may begin.
    pub const fn is_final(self) -> bool {
        matches!(
            self,
            Self::Promoted | Self::Rejected | Self::RolledBack | Self::Failed
        )
    }
}

impl fmt::Display for DeployState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DeployState {
    type Err = UnknownLedgerName;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == s)
            .ok_or_else(|| UnknownLedgerName {
                what: "deploy state",
                value: s.to_owned(),
                expected: "started, gating, cut_over, watching, promoted, rejected, rolled_back, \
                           failed",
            })
    }
}

/// How a deploy step went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepOutcome {
    /// It succeeded.
    Ok,
    /// It failed.
    Failed,
    /// Neither: something worth writing down.
    Info,
}

impl StepOutcome {
    /// Every outcome.
    pub const ALL: [Self; 3] = [Self::Ok, Self::Failed, Self::Info];

    /// Its name (as stored): `ok`, `failed` or `info`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Info => "info",
        }
    }
}

impl fmt::Display for StepOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for StepOutcome {
    type Err = UnknownLedgerName;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|o| o.as_str() == s)
            .ok_or_else(|| UnknownLedgerName {
                what: "step outcome",
                value: s.to_owned(),
                expected: "ok, failed, info",
            })
    }
}

/// A deploy about to begin, for [`Store::begin_deploy`](crate::Store::begin_deploy).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NewDeploy {
    /// When it began, unix milliseconds.
    pub started_at_ms: u64,
    /// The colour serving before it (`None`: nothing served, a first deploy).
    pub from_colour: Option<Colour>,
    /// The colour it starts the new build in.
    pub to_colour: Colour,
    /// The new build's version (1 to [`MAX_DEPLOY_NAME`] bytes).
    pub version: String,
    /// The new build's commit (1 to [`MAX_DEPLOY_NAME`] bytes).
    pub commit: String,
}

/// A deploy as the ledger has it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeployRecord {
    /// Its id, increasing with each [`Store::begin_deploy`](crate::Store::begin_deploy).
    pub id: u64,
    /// When it began, unix milliseconds.
    pub started_at_ms: u64,
    /// The colour serving before it.
    pub from_colour: Option<Colour>,
    /// The colour it started the new build in.
    pub to_colour: Colour,
    /// The new build's version.
    pub version: String,
    /// The new build's commit.
    pub commit: String,
    /// Where it is (or how it ended).
    pub state: DeployState,
    /// When `state` was set, unix milliseconds (`started_at_ms` until the first change).
    pub state_changed_at_ms: u64,
    /// Why it ended as it did (`None` while running, or if no reason was given).
    pub reason: Option<String>,
    /// When it ended, unix milliseconds (`None` while running).
    pub finished_at_ms: Option<u64>,
}

/// One step of a deploy, as the orchestrator records it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeployStep {
    /// When, unix milliseconds.
    pub at_ms: u64,
    /// What the step was, e.g. `start green` or `gate: health` (1 to [`MAX_DEPLOY_NAME`] bytes).
    pub step: String,
    /// How it went.
    pub outcome: StepOutcome,
    /// What happened (may be empty; cut to [`MAX_DEPLOY_TEXT`] bytes).
    pub detail: String,
}

/// What is needed to start a colour's build again (a rollback's other half).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ColourBuild {
    /// The colour.
    pub colour: Colour,
    /// The build's version.
    pub version: String,
    /// The build's commit.
    pub commit: String,
    /// The binary that runs it.
    pub binary: String,
    /// The config file it runs with.
    pub config: String,
    /// The address of its admin server.
    pub admin_url: String,
    /// When this was recorded, unix milliseconds.
    pub recorded_at_ms: u64,
}

/// Refuses an empty `value` or one longer than `max` bytes.
fn check_field(field: &'static str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max {
        return Err(Error::DeployField {
            field,
            len: value.len(),
            max,
        });
    }
    Ok(())
}

/// `text` as stored: itself if at most [`MAX_DEPLOY_TEXT`] bytes, otherwise cut (at a character
/// boundary) so that, with a marker saying how long it was, it is exactly that long or less.
pub(crate) fn bounded_text(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_DEPLOY_TEXT {
        return Cow::Borrowed(text);
    }
    let marker = format!("… [truncated from {} bytes]", text.len());
    let mut cut = MAX_DEPLOY_TEXT - marker.len();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    Cow::Owned(format!("{}{marker}", &text[..cut]))
}

/// Checks a deploy about to begin against the bounds.
pub(crate) fn check_new_deploy(deploy: &NewDeploy) -> Result<()> {
    check_field("version", &deploy.version, MAX_DEPLOY_NAME)?;
    check_field("commit", &deploy.commit, MAX_DEPLOY_NAME)
}

/// Checks a step's name against the bounds (its detail is cut with [`bounded_text`] instead).
pub(crate) fn check_step(step: &DeployStep) -> Result<()> {
    check_field("step", &step.step, MAX_DEPLOY_NAME)
}

/// Checks a colour's build against the bounds.
pub(crate) fn check_colour_build(build: &ColourBuild) -> Result<()> {
    check_field("version", &build.version, MAX_BUILD_FIELD)?;
    check_field("commit", &build.commit, MAX_BUILD_FIELD)?;
    check_field("binary", &build.binary, MAX_BUILD_FIELD)?;
    check_field("config", &build.config, MAX_BUILD_FIELD)?;
    check_field("admin_url", &build.admin_url, MAX_BUILD_FIELD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for colour in Colour::ALL {
            assert_eq!(colour.as_str().parse::<Colour>(), Ok(colour));
            assert_ne!(colour.other(), colour);
            assert_eq!(colour.other().other(), colour);
        }
        for state in DeployState::ALL {
            assert_eq!(state.as_str().parse::<DeployState>(), Ok(state));
        }
        for outcome in StepOutcome::ALL {
            assert_eq!(outcome.as_str().parse::<StepOutcome>(), Ok(outcome));
        }
        let error = "Blue".parse::<Colour>().expect_err("case matters");
        assert_eq!(error.what, "colour");
        assert!(error.to_string().contains("\"Blue\""), "{error}");
        assert!("cutover".parse::<DeployState>().is_err());
        assert!("".parse::<StepOutcome>().is_err());
    }

    #[test]
    fn the_final_states_are_the_last_four() {
        let finals: Vec<DeployState> = DeployState::ALL
            .into_iter()
            .filter(|s| s.is_final())
            .collect();
        assert_eq!(
            finals,
            [
                DeployState::Promoted,
                DeployState::Rejected,
                DeployState::RolledBack,
                DeployState::Failed
            ]
        );
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary_with_a_marker() {
        assert_eq!(bounded_text("short"), "short");
        let exact = "x".repeat(MAX_DEPLOY_TEXT);
        assert_eq!(bounded_text(&exact), exact);
        let long = "☃".repeat(MAX_DEPLOY_TEXT);
        let cut = bounded_text(&long);
        assert!(cut.len() <= MAX_DEPLOY_TEXT, "{}", cut.len());
        assert!(cut.len() > MAX_DEPLOY_TEXT - 40, "{}", cut.len());
        assert!(cut.starts_with("☃☃☃"));
        assert!(
            cut.ends_with(&format!("[truncated from {} bytes]", long.len())),
            "{cut}"
        );
    }
}
