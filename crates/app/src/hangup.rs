//! SIGHUP, handled for the whole life of the bot's process. Without a handler SIGHUP ends a
//! process (exit 129): before the reload watcher is up (start-up), or when there is no config file
//! to reload, a SIGHUP from an operator or a process manager would kill the bot. So the handler is
//! installed first thing (`main`, before the config is read) and stays: every SIGHUP is logged,
//! the reload watcher ([`crate::reload::watch`]) acts on it when there is a config file, and a
//! SIGHUP that came during start-up makes the watcher reload once as soon as it runs.

use std::path::PathBuf;
use std::sync::OnceLock;

use tokio::sync::watch;

/// The count of SIGHUPs so far, for the reload watcher.
static HANGUPS: OnceLock<watch::Sender<u64>> = OnceLock::new();

/// Starts handling SIGHUP for the rest of the process; `config` is the file a SIGHUP reloads
/// (none: a SIGHUP is logged and otherwise ignored). Must run inside the Tokio runtime; the
/// handler is in place when this returns. A second call changes nothing.
pub fn install(config: Option<PathBuf>) {
    #[cfg(unix)]
    {
        if HANGUPS.get().is_some() {
            return;
        }
        let mut signal = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot handle SIGHUP; a SIGHUP will end the process");
                return;
            }
        };
        let (tx, _) = watch::channel(0u64);
        if HANGUPS.set(tx.clone()).is_err() {
            return;
        }
        tracing::debug!("SIGHUP handled");
        tokio::spawn(async move {
            let mut count = 0u64;
            while signal.recv().await.is_some() {
                count += 1;
                let watcher = tx.receiver_count() > 0;
                match (&config, watcher) {
                    (Some(path), true) => tracing::info!(
                        path = %path.display(), "SIGHUP received; reloading the config file"
                    ),
                    (Some(path), false) => tracing::info!(
                        path = %path.display(),
                        "SIGHUP received during start-up; the config file is reloaded once the bot is up"
                    ),
                    (None, _) => tracing::info!(
                        "SIGHUP received; started without --config, so there is nothing to reload"
                    ),
                }
                tx.send_replace(count);
            }
        });
    }
    #[cfg(not(unix))]
    drop(config);
}

/// The count of SIGHUPs, changing with each one, when [`install`] ran.
pub fn subscribe() -> Option<watch::Receiver<u64>> {
    HANGUPS.get().map(watch::Sender::subscribe)
}
