//! What the tests that run the bot as a process (`dimby run`) share: starting it on a config with
//! its admin server on a free port, waiting for `/readyz`, reading `/metrics`, signalling it and
//! reaping it. Every wait is bounded by [`GUARD`] and fails the test naming what it waited for.

#![allow(
    dead_code,
    reason = "each test binary uses the part it needs of what the process tests share"
)]

pub mod rig;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How long a wait may take before the test fails: a failure guard, never a delay.
pub const GUARD: Duration = Duration::from_secs(60);

/// A `dimby run` process with its admin server.
pub struct BotProcess {
    pub child: tokio::process::Child,
    pub admin: SocketAddr,
}

impl BotProcess {
    /// Starts `dimby run --config config` with `RUST_LOG=info`, its stderr in `log`, its admin
    /// server on a free loopback port, and `envs` on top.
    pub fn spawn(config: &Path, log: &Path, envs: &[(&str, String)]) -> Self {
        let admin = test_support::free_port();
        let log = std::fs::File::create(log).expect("log file");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"));
        for (key, value) in envs {
            command.env(key, value);
        }
        let child = command
            .args(["run", "--config"])
            .arg(config)
            .env("RUST_LOG", "info,bot::guild=debug")
            .env("DIMBY_ADMIN__LISTEN", admin.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .expect("start dimby run");
        Self { child, admin }
    }

    /// Waits for `/readyz` to answer 200.
    pub async fn ready(&self) {
        let url = format!("http://{}/readyz", self.admin);
        tokio::time::timeout(GUARD, async {
            loop {
                if reqwest::get(&url)
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{url} never ready"));
    }

    /// The value of the series `series` (its name with its labels, as `/metrics` prints it).
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let text = reqwest::get(format!("http://{}/metrics", self.admin))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
    }

    /// The series once it reads `expected`, or what it reads when the guard runs out.
    pub async fn metric_settled(&self, series: &str, expected: f64) -> Option<f64> {
        let settled = tokio::time::timeout(GUARD, async {
            loop {
                if self.metric(series).await == Some(expected) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        match settled {
            Ok(()) => Some(expected),
            Err(_) => self.metric(series).await,
        }
    }

    /// Sends `signal` (`-KILL`, `-TERM`, ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("a running process");
        let sent = std::process::Command::new("kill")
            .args([signal, &pid.to_string()])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill {signal}");
    }

    /// Waits for the process to exit; its exit code.
    pub async fn exit(mut self) -> Option<i32> {
        tokio::time::timeout(GUARD, self.child.wait())
            .await
            .expect("exits")
            .expect("exit status")
            .code()
    }
}
