//! `dimby sim discord` as a process: its control endpoint takes the password given on the command
//! line (and refuses the token then), or the token when none is given.

use std::process::Stdio;

use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

const TOKEN: &str = "c2ltLWNsaQ.stand-in-token";

/// Starts `dimby sim discord` with `extra` arguments; returns it and its URL (its first line).
async fn start(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args([
            "sim",
            "discord",
            "--listen",
            "127.0.0.1:0",
            "--token",
            TOKEN,
        ])
        .args(extra)
        .env_remove("DIMBY_SIM_CONTROL_PASSWORD")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start dimby sim discord");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::time::timeout(test_support::GUARD, async {
        BufReader::new(stdout).lines().next_line().await
    })
    .await
    .expect("the stand-in printed its address within the guard")
    .expect("read stdout")
    .expect("a first line");
    let url = line
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    (child, url)
}

async fn state_status(url: &str, authorization: &str) -> u16 {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("{url}/sim/state"))
        .header("Authorization", authorization)
        .send()
        .await
        .expect("GET /sim/state")
        .status()
        .as_u16()
}

#[tokio::test]
async fn the_control_password_comes_from_the_command_line() {
    let (_child, url) = start(&["--control-password", "let-me-in"]).await;
    assert_eq!(state_status(&url, "let-me-in").await, 200);
    assert_eq!(state_status(&url, TOKEN).await, 403);
}

#[tokio::test]
async fn without_one_the_control_password_is_the_token() {
    let (_child, url) = start(&[]).await;
    assert_eq!(state_status(&url, TOKEN).await, 200);
    assert_eq!(state_status(&url, "let-me-in").await, 403);
}
