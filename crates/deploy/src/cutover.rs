//! The cutover: the serving colour hands its sessions over through the store and stays warm in
//! standby; the candidate, in standby, takes them over. Used both ways: a deploy (to the
//! candidate) and a rollback (back to the warm old colour).

use std::time::{Duration, Instant};

use admin::deploy::{DeployState, Phase};
use serde::{Deserialize, Serialize};

use crate::client::{ClientError, ColourClient};

/// How a cutover went.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CutoverReport {
    /// From the handover request to the old colour's records written (back in standby), ms.
    pub handover_ms: u64,
    /// From the takeover request to the new colour serving, ms.
    pub takeover_ms: u64,
    /// From the handover request to the new colour serving, ms: while no process answers
    /// (interactions wait in the gateway sessions and are answered on resume).
    pub total_ms: u64,
    /// The old colour afterwards.
    pub from: DeployState,
    /// The new colour afterwards.
    pub to: DeployState,
}

/// Why a cutover did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CutoverError {
    /// A colour is not where a cutover starts (the old one serving, the new one in standby):
    /// nothing was changed.
    #[error("cannot cut over: {0}")]
    NotReady(String),
    /// The old colour did not hand over; nothing else was changed.
    #[error("the serving colour did not hand over: {0}")]
    Handover(ClientError),
    /// The new colour did not take over; the old one was asked to take its sessions back.
    #[error(
        "the new colour did not take over ({cause}); the old colour {}",
        if *restored { "took its sessions back and serves" } else { "could not take them back either" }
    )]
    Takeover {
        /// Why.
        cause: String,
        /// Whether the old colour serves again.
        restored: bool,
    },
}

/// Hands the sessions from `from` (serving) to `to` (standby), each step within `bound`. When
/// `to` fails to take over, `from` takes its sessions back (the failed start handed them back
/// through the store).
pub async fn cutover(
    from: &ColourClient,
    to: &ColourClient,
    bound: Duration,
) -> Result<CutoverReport, CutoverError> {
    let (old, new) = (
        from.state()
            .await
            .map_err(|e| CutoverError::NotReady(e.to_string()))?,
        to.state()
            .await
            .map_err(|e| CutoverError::NotReady(e.to_string()))?,
    );
    if old.phase != Phase::Serving || new.phase != Phase::Standby {
        return Err(CutoverError::NotReady(format!(
            "{} is {} (needs serving), {} is {} (needs standby)",
            from.base(),
            old.phase.as_str(),
            to.base(),
            new.phase.as_str()
        )));
    }
    let began = Instant::now();
    from.handover().await.map_err(CutoverError::Handover)?;
    let handed = from
        .wait_phase(Phase::Standby, bound)
        .await
        .map_err(CutoverError::Handover)?;
    let handover = began.elapsed();
    tracing::info!(from = from.base(), took = ?handover, "handed over");

    let asked = Instant::now();
    let taken = match take_over(to, bound).await {
        Ok(state) => state,
        Err(cause) => {
            tracing::error!(to = to.base(), %cause, "the takeover failed; the old colour takes its sessions back");
            let restored = take_over(from, bound).await.is_ok();
            return Err(CutoverError::Takeover { cause, restored });
        }
    };
    let report = CutoverReport {
        handover_ms: millis(handover),
        takeover_ms: millis(asked.elapsed()),
        total_ms: millis(began.elapsed()),
        from: handed,
        to: taken,
    };
    tracing::info!(
        from = from.base(),
        to = to.base(),
        total_ms = report.total_ms,
        "cut over"
    );
    Ok(report)
}

/// Asks `colour` to take over and waits until it serves; a takeover that fails sends the colour
/// back to standby with the reason.
async fn take_over(colour: &ColourClient, bound: Duration) -> Result<DeployState, String> {
    let before = colour.state().await.map_err(|e| e.to_string())?;
    colour.takeover().await.map_err(|e| e.to_string())?;
    // A failed takeover comes back to standby: a standby entered after the request.
    let settled = colour
        .wait_for("to serve or fail", bound, |state| {
            state.phase == Phase::Serving
                || (state.phase == Phase::Standby && state.since_unix_ms != before.since_unix_ms)
        })
        .await
        .map_err(|e| e.to_string())?;
    match settled.phase {
        Phase::Serving => Ok(settled),
        _ => Err(settled
            .last_error
            .unwrap_or_else(|| "back in standby".to_owned())),
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
