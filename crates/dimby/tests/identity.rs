//! The build's identity as a process shows it: `dimby --version` names the version and the commit
//! the build script found, and `dimby run` with a deploy colour writes JSON log lines with
//! top-level `version` and `colour` keys and says the same in `dimby_build_info`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use sim::discord::{DiscordConfig, DiscordSim};
use sim::lavalink::SimNode;

/// What the build script should have found: `DIMBY_BUILD_COMMIT` when the build had it, else
/// HEAD's commit when git can tell (the build script reruns when HEAD moves), else `unknown`.
fn expected_commit() -> String {
    if let Some(given) = option_env!("DIMBY_BUILD_COMMIT").filter(|c| !c.trim().is_empty()) {
        return given.trim().to_owned();
    }
    std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map_or_else(|| "unknown".to_owned(), |c| c.trim().to_owned())
}

#[test]
fn version_prints_the_version_and_the_commit() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .arg("--version")
        .output()
        .expect("run dimby --version");
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "dimby {} (commit {})\n",
            env!("CARGO_PKG_VERSION"),
            expected_commit()
        )
    );
}

/// The JSON lines of `log` so far.
fn json_lines(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str(line).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coloured_bot_says_its_colour_and_build_on_every_line_and_in_build_info() {
    let discord = DiscordSim::start(DiscordConfig::default())
        .await
        .expect("discord stand-in");
    let node = SimNode::start(sim::lavalink::NodeConfig::default())
        .await
        .expect("lavalink stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("dimby.toml");
    std::fs::write(
        &config,
        test_support::run_config(&discord, &[&node], &dir.path().join("data"), ""),
    )
    .expect("write config");
    let log = dir.path().join("dimby.log");
    let mut bot = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args(["--log-format", "json", "run", "--config"])
        .arg(&config)
        .env("DIMBY_DEPLOY__COLOUR", "green")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"))
        .kill_on_drop(true)
        .spawn()
        .expect("start dimby run");

    let running = |line: &serde_json::Value| line["fields"]["message"] == "DimbyBot is running";
    test_support::until("the bot says it is running", || {
        json_lines(&log).iter().any(running)
    })
    .await;
    let lines = json_lines(&log);
    let version = env!("CARGO_PKG_VERSION");
    let commit = expected_commit();
    let identity = lines
        .iter()
        .position(|line| line["fields"]["message"] == "build identity")
        .expect("a build identity line");
    assert_eq!(lines[identity]["fields"]["commit"], commit.as_str());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["version"], version, "every line: {line}");
        if i < identity {
            assert!(line.get("colour").is_none(), "before the config: {line}");
        } else {
            assert_eq!(line["colour"], "green", "after the config: {line}");
        }
    }
    assert!(
        lines.len() > identity + 3,
        "lines after the config was read: {lines:?}"
    );

    let admin = lines
        .iter()
        .find(|line| running(line))
        .and_then(|line| line["fields"]["admin"].as_str())
        .expect("the running line names the admin address")
        .to_owned();
    let metrics = reqwest::get(format!("http://{admin}/metrics"))
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics text");
    let expected =
        format!(r#"dimby_build_info{{version="{version}",commit="{commit}",colour="green"}} 1"#);
    assert!(
        metrics.lines().any(|l| l.starts_with(&expected)),
        "{expected} in\n{metrics}"
    );

    bot.start_kill().expect("kill");
    let _ = tokio::time::timeout(Duration::from_secs(10), bot.wait()).await;
}
