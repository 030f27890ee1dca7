//! Reloading the Lavalink node set while the bot runs: on SIGHUP, and when the config file's
//! content changes (polled, then debounced until it stops changing, so a half-written file is
//! never read). A file that fails validation changes nothing: the running set stays and the error
//! is logged with the key it names.
//!
//! Polling the content (not file-system events) also sees Kubernetes ConfigMap updates, which
//! swap a symlink rather than write the file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cluster::Cluster;
use tokio::task::JoinHandle;

use crate::config::Config;

/// How the watcher looks for changes.
#[derive(Debug, Clone, Copy)]
pub struct WatchSettings {
    /// How often the file is read.
    pub poll: Duration,
    /// How long the content must stay the same before it is applied.
    pub settle: Duration,
}

impl Default for WatchSettings {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(2),
            settle: Duration::from_millis(500),
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// The node set now matches the file.
    Applied {
        /// Nodes in the file.
        nodes: usize,
    },
    /// The file was refused; the running set is unchanged.
    Refused {
        /// Why (names the key).
        reason: String,
    },
}

/// Reads `path` and brings the cluster's node set in line with it.
pub fn reload(path: &Path, cluster: &Cluster) -> ReloadOutcome {
    let outcome = match Config::load(Some(path)) {
        Ok(config) => match cluster.reconcile(&config.lavalink.nodes) {
            Ok(()) => ReloadOutcome::Applied {
                nodes: config.lavalink.nodes.len(),
            },
            Err(error) => ReloadOutcome::Refused {
                reason: error.to_string(),
            },
        },
        Err(error) => ReloadOutcome::Refused {
            reason: error.to_string(),
        },
    };
    match &outcome {
        ReloadOutcome::Applied { nodes } => {
            tracing::info!(path = %path.display(), nodes, "config reloaded; node set updated");
        }
        ReloadOutcome::Refused { reason } => tracing::error!(
            path = %path.display(), %reason,
            "config reload refused; keeping the running node set"
        ),
    }
    outcome
}

/// Watches `path` and SIGHUP until the task is aborted; `applied` sees every outcome.
pub fn watch(
    path: PathBuf,
    cluster: Cluster,
    settings: WatchSettings,
    applied: tokio::sync::mpsc::UnboundedSender<ReloadOutcome>,
) -> JoinHandle<()> {
    // What is applied now is what the file holds now, not when the task first runs.
    let mut last = std::fs::read(&path).ok();
    // The process-wide handler when it is installed (`dimby run`); a SIGHUP that came before
    // this watcher (during start-up) is acted on at once.
    let (mut hangup, mut early) = match crate::hangup::subscribe() {
        Some(mut hangups) => {
            let early = *hangups.borrow_and_update() > 0;
            (Hangup::Process(hangups), early)
        }
        None => (Hangup::Own(hangup_signal()), false),
    };
    tokio::spawn(async move {
        loop {
            let by_signal = std::mem::take(&mut early)
                || tokio::select! {
                    () = tokio::time::sleep(settings.poll) => false,
                    () = hangup.next() => true,
                };
            let current = std::fs::read(&path).ok();
            if !by_signal && current == last {
                continue;
            }
            // Debounce: wait until the content stops changing.
            let mut settled = current;
            loop {
                tokio::time::sleep(settings.settle).await;
                let again = std::fs::read(&path).ok();
                if again == settled {
                    break;
                }
                settled = again;
            }
            last.clone_from(&settled);
            let _ = applied.send(reload(&path, &cluster));
        }
    })
}

/// Where the watcher hears SIGHUP: the process-wide handler ([`crate::hangup`]), or its own.
enum Hangup {
    Process(tokio::sync::watch::Receiver<u64>),
    Own(OwnHangup),
}

impl Hangup {
    async fn next(&mut self) {
        match self {
            Self::Process(hangups) => {
                if hangups.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
            Self::Own(own) => next_hangup(own).await,
        }
    }
}

#[cfg(unix)]
type OwnHangup = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type OwnHangup = ();

#[cfg(unix)]
fn hangup_signal() -> OwnHangup {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(signal) => Some(signal),
        Err(error) => {
            tracing::warn!(%error, "cannot listen for SIGHUP; config reloads on file change only");
            None
        }
    }
}

#[cfg(not(unix))]
fn hangup_signal() -> OwnHangup {}

#[cfg(unix)]
async fn next_hangup(hangup: &mut OwnHangup) {
    match hangup {
        Some(signal) => {
            if signal.recv().await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

#[cfg(not(unix))]
async fn next_hangup(_: &mut OwnHangup) {
    std::future::pending::<()>().await;
}
