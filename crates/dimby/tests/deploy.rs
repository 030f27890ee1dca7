//! Blue-green cutover between two `dimby run` processes sharing one store, driven through their
//! deploy endpoints as `dimby deploy` drives them: blue serves, green waits in standby and passes
//! the gate; the cutover hands every session to green and a rollback hands them back to the warm
//! blue. Across both, no player on the Lavalink stand-in is restarted, no shard identifies, and
//! every command sent meanwhile is answered. A candidate with a wrong token or a wrong Lavalink
//! password fails the gate and never touches the serving colour.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use admin::deploy::Phase;
use deploy::ColourClient;
use lavalink::model::GuildId as LavalinkGuild;
use sim::discord::{DiscordSim, GuildInfo, GuildSpec, SlashCommand};
use sim::lavalink::SimNode;
use test_support::deploy_slots::Slots;
use test_support::track_starts::TrackStarts;

const GUARD: Duration = Duration::from_secs(60);
const GUILDS: usize = 6;
const ADMIN_TOKEN: &str = "deploy-test-admin-token";
const TRACK: &str = "sim:length:600000";
/// The title the stand-in gives [`TRACK`].
const TITLE: &str = "Sim: 600000 ms";

/// One colour: a `dimby run` child process and a client of its deploy endpoints.
struct Colour {
    child: tokio::process::Child,
    client: ColourClient,
}

fn spawn(config: &Path, log: &Path, colour: &str, standby: bool, env: &[(&str, &str)]) -> Colour {
    let admin = test_support::free_port();
    let log = std::fs::File::create(log).expect("log file");
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"));
    command.args(["run", "--config"]).arg(config);
    if standby {
        command.arg("--standby");
    }
    let child = command
        .env("RUST_LOG", "info")
        .env("DIMBY_DEPLOY__COLOUR", colour)
        .env("DIMBY_ADMIN__LISTEN", admin.to_string())
        .env("DIMBY_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("DIMBY_DEPLOY__GATE_LOG_WINDOW", "1s")
        .envs(env.iter().copied())
        .stdout(std::process::Stdio::null())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("start dimby run");
    Colour {
        child,
        client: ColourClient::new(format!("http://{admin}"), ADMIN_TOKEN),
    }
}

impl Colour {
    /// SIGTERM, and the exit code.
    async fn stop(mut self) -> Option<i32> {
        let pid = self.child.id().expect("pid");
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        tokio::time::timeout(GUARD, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("exit status")
            .code()
    }
}

fn guilds(discord: &DiscordSim) -> Vec<GuildInfo> {
    (0..GUILDS)
        .map(|i| {
            let guild = discord
                .create_guild(&GuildSpec::named(format!("Deploy {i}")))
                .expect("guild");
            let alice = guild.member("alice").expect("alice");
            discord
                .join_voice(guild.id, alice, guild.voice_channel(0))
                .expect("alice joins voice");
            guild
        })
        .collect()
}

fn lavalink_guilds(guilds: &[GuildInfo]) -> Vec<LavalinkGuild> {
    guilds.iter().map(|g| LavalinkGuild(g.id.get())).collect()
}

fn command(guild: &GuildInfo, name: &str) -> SlashCommand {
    SlashCommand::new(
        guild.id,
        guild.text_channel(),
        guild.member("alice").expect("alice"),
        name,
    )
}

async fn answer(discord: &DiscordSim, command: &SlashCommand) -> String {
    let handle = discord.invoke(command).expect("invoke");
    handle
        .original_within(GUARD)
        .await
        .expect("answered within the guard")
        .content
}

/// Every guild's player playing on the node, in the one session it has.
async fn all_playing(node: &SimNode, guilds: &[GuildInfo]) -> String {
    tokio::time::timeout(GUARD, async {
        loop {
            let sessions = node.sessions();
            if let [session] = sessions.as_slice() {
                let playing = guilds
                    .iter()
                    .filter(|g| {
                        node.player(&session.id, LavalinkGuild(g.id.get()))
                            .is_some_and(|p| p.track.is_some() && !p.paused && p.state.connected)
                    })
                    .count();
                if playing == guilds.len() && session.connected {
                    return session.id.clone();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every guild playing in one session")
}

/// The colour at `base` says on /metrics that it is in standby after one handover.
async fn assert_handed_over_once(base: &str) {
    let scraped = reqwest::get(format!("{base}/metrics"))
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("the exposition");
    for sample in [
        r#"dimby_deploy_phase{phase="standby"} 1"#,
        r#"dimby_deploy_phase{phase="serving"} 0"#,
        r#"dimby_deploy_phase_changes_total{phase="handing_over"} 1"#,
    ] {
        assert!(
            scraped.contains(sample),
            "{sample} missing from {base}/metrics"
        );
    }
    // A warm standby holds no node, shard or probe: it says nothing about them, rather than that
    // they are down (which would page for every deploy).
    for gone in [
        "dimby_lavalink_node_up{",
        "dimby_gateway_shard_connected{",
        "dimby_health_check_status{",
    ] {
        assert!(
            !scraped.lines().any(|line| line.starts_with(gone)),
            "{gone} on the standby's {base}/metrics:\n{scraped}"
        );
    }
}

/// Scripted listeners: `/nowplaying` round the guilds every 50 ms until stopped; returns each
/// answer's text (`None`: unanswered within the guard).
fn listeners(
    discord: &Arc<DiscordSim>,
    guilds: &[GuildInfo],
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Vec<Option<String>>> {
    let discord = Arc::clone(discord);
    let guilds = guilds.to_vec();
    tokio::spawn(async move {
        let mut handles = Vec::new();
        let mut next = 0;
        while !stop.load(Ordering::SeqCst) {
            let guild = &guilds[next % guilds.len()];
            next += 1;
            handles.push(
                discord
                    .invoke(&command(guild, "nowplaying"))
                    .expect("invoke"),
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mut answers = Vec::new();
        for handle in handles {
            answers.push(
                tokio::time::timeout(GUARD, handle.original())
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .map(|message| message.content),
            );
        }
        answers
    })
}

/// How many of `answers` name the current track.
fn with_the_track(answers: &[Option<String>]) -> usize {
    answers
        .iter()
        .filter(|a| a.as_deref().is_some_and(|text| text.contains(TITLE)))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cutover_and_a_rollback_keep_every_player_playing_and_answer_everything_sent_meanwhile() {
    discord::install_crypto_provider();
    let discord = Arc::new(
        DiscordSim::start(sim::discord::DiscordConfig::default())
            .await
            .expect("Discord stand-in"),
    );
    let node = SimNode::start(sim::lavalink::NodeConfig::default())
        .await
        .expect("Lavalink stand-in");
    let guilds = guilds(&discord);
    let dir = tempfile::tempdir().expect("temp dir");
    let config = dir.path().join("dimby.toml");
    std::fs::write(
        &config,
        test_support::run_config(&discord, &[&node], &dir.path().join("data"), ""),
    )
    .expect("config");

    let blue = spawn(&config, &dir.path().join("blue.log"), "blue", false, &[]);
    let serving = blue
        .client
        .wait_phase(Phase::Serving, GUARD)
        .await
        .expect("blue serves");
    assert_eq!(serving.colour, "blue");
    let starts = TrackStarts::count(&[&node]);
    for guild in &guilds {
        let text = answer(&discord, &command(guild, "play").string("query", TRACK)).await;
        assert!(!text.is_empty());
    }
    let session = all_playing(&node, &guilds).await;
    starts
        .settle(&lavalink_guilds(&guilds), GUARD)
        .await
        .expect("every started track's TrackStart");

    let green = spawn(&config, &dir.path().join("green.log"), "green", true, &[]);
    let standby = green
        .client
        .wait_phase(Phase::Standby, GUARD)
        .await
        .expect("green waits in standby");
    assert_eq!(standby.colour, "green");
    assert!(
        !green.client.ready().await.expect("readyz"),
        "standby is not ready"
    );
    let gate = green.client.gate().await.expect("the gate runs");
    assert!(gate.passed, "{gate:#?}");
    let names: Vec<&str> = gate.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        ["discord_rest", "commands", "lavalink:sim", "store", "log"],
        "{gate:#?}"
    );

    let identifies = discord.identify_count();
    let stop = Arc::new(AtomicBool::new(false));
    let sending = listeners(&discord, &guilds, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_millis(200)).await;

    let forth = deploy::cutover(&blue.client, &green.client, GUARD)
        .await
        .expect("the cutover to green");
    let taken = forth.to.last_takeover.as_ref().expect("green's takeover");
    assert_eq!(taken.playing_on, GUILDS, "{forth:#?}");
    assert_eq!(taken.guilds, GUILDS, "{forth:#?}");
    assert_eq!((taken.shards_resumed, taken.lavalink_sessions), (1, 1));
    assert_eq!(forth.from.phase, Phase::Standby, "blue stays warm");
    // The phases are metrics too.
    assert_handed_over_once(blue.client.base()).await;
    assert_eq!(all_playing(&node, &guilds).await, session);

    let back = deploy::cutover(&green.client, &blue.client, GUARD)
        .await
        .expect("the rollback to blue");
    assert_eq!(
        back.to.last_takeover.as_ref().map(|t| t.playing_on),
        Some(GUILDS)
    );
    assert_eq!(all_playing(&node, &guilds).await, session);
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    let answers = sending.await.expect("the listeners");
    assert!(!answers.is_empty());
    assert_eq!(
        with_the_track(&answers),
        answers.len(),
        "every command sent across both cutovers is answered: {answers:?}"
    );
    assert_eq!(starts.total(), 0, "no player was started again");
    assert_eq!(discord.identify_count(), identifies, "every shard resumed");
    // Blue controls the players again: a skip goes to the node.
    let skipped = answer(&discord, &command(&guilds[0], "skip")).await;
    assert!(!skipped.is_empty());

    assert_eq!(green.stop().await, Some(0));
    assert_eq!(blue.stop().await, Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_candidate_with_a_wrong_token_or_lavalink_password_fails_the_gate() {
    discord::install_crypto_provider();
    let discord = DiscordSim::start(sim::discord::DiscordConfig::default())
        .await
        .expect("Discord stand-in");
    let node = SimNode::start(sim::lavalink::NodeConfig::default())
        .await
        .expect("Lavalink stand-in");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let config = dir.path().join("dimby.toml");
    let good = test_support::run_config(&discord, &[&node], &data, "");
    std::fs::write(&config, &good).expect("config");
    let blue = spawn(&config, &dir.path().join("blue.log"), "blue", false, &[]);
    blue.client
        .wait_phase(Phase::Serving, GUARD)
        .await
        .expect("blue serves");

    let wrong_token = spawn(
        &config,
        &dir.path().join("green-token.log"),
        "green",
        true,
        &[("DIMBY_DISCORD_TOKEN", "not-the-token")],
    );
    wrong_token
        .client
        .wait_phase(Phase::Standby, GUARD)
        .await
        .expect("standby");
    let gate = wrong_token.client.gate().await.expect("the gate runs");
    assert!(!gate.passed, "{gate:#?}");
    let discord_check = &gate.checks[0];
    assert_eq!(discord_check.name, "discord_rest");
    assert!(!discord_check.passed);
    assert!(
        !discord_check.detail.contains("not-the-token"),
        "no secret in the report: {gate:#?}"
    );
    assert_eq!(wrong_token.stop().await, Some(0));

    let wrong_password = dir.path().join("wrong-password.toml");
    std::fs::write(
        &wrong_password,
        good.replace(
            &format!("password = \"{}\"", node.password()),
            "password = \"not-the-password\"",
        ),
    )
    .expect("config");
    let green = spawn(
        &wrong_password,
        &dir.path().join("green-password.log"),
        "green",
        true,
        &[],
    );
    green
        .client
        .wait_phase(Phase::Standby, GUARD)
        .await
        .expect("standby");
    let gate = green.client.gate().await.expect("the gate runs");
    assert!(!gate.passed, "{gate:#?}");
    let failed: Vec<&str> = gate
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["lavalink:sim"], "{gate:#?}");
    assert!(
        gate.checks
            .iter()
            .all(|c| !c.detail.contains("not-the-password"))
    );
    // The gate run is counted, by check, on the candidate's /metrics.
    let scraped = reqwest::get(format!("{}/metrics", green.client.base()))
        .await
        .expect("/metrics")
        .text()
        .await
        .expect("the exposition");
    for sample in [
        r#"dimby_deploy_gates_total{result="failed"} 1"#,
        r#"dimby_deploy_gate_checks_total{check="lavalink",result="failed"} 1"#,
        r#"dimby_deploy_gate_checks_total{check="discord_rest",result="passed"} 1"#,
        r#"dimby_deploy_gate_checks_total{check="log",result="passed"} 1"#,
    ] {
        assert!(scraped.contains(sample), "{sample} missing:\n{scraped}");
    }
    assert!(!scraped.contains("not-the-password"));

    // The serving colour never noticed.
    let state = blue.client.state().await.expect("blue's state");
    assert_eq!(state.phase, Phase::Serving);
    assert!(state.last_handover.is_none());
    assert_eq!(green.stop().await, Some(0));
    assert_eq!(blue.stop().await, Some(0));
}

/// The gate's voice probe, while blue serves: green joins the staging guild's voice channel on a
/// session of its own, plays the probe track on the node until it advances, then stops and
/// leaves; blue's session, its guilds and its player are untouched. A probe into a text channel
/// fails with the guild named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_voice_probe_plays_in_the_staging_guild_beside_the_serving_colour() {
    discord::install_crypto_provider();
    let discord = Arc::new(
        DiscordSim::start(sim::discord::DiscordConfig::default())
            .await
            .expect("Discord stand-in"),
    );
    let node = SimNode::start(sim::lavalink::NodeConfig::default())
        .await
        .expect("Lavalink stand-in");
    let guilds = guilds(&discord);
    let staging = discord
        .create_guild(&GuildSpec::named("Staging"))
        .expect("the staging guild");
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let base = test_support::run_config(&discord, &[&node], &data, "");
    let config = dir.path().join("dimby.toml");
    std::fs::write(&config, &base).expect("config");
    let blue = spawn(&config, &dir.path().join("blue.log"), "blue", false, &[]);
    blue.client
        .wait_phase(Phase::Serving, GUARD)
        .await
        .expect("blue serves");
    for guild in &guilds {
        answer(&discord, &command(guild, "play").string("query", TRACK)).await;
    }
    let session = all_playing(&node, &guilds).await;
    let identifies = discord.identify_count();

    let probing = |channel: u64| {
        format!(
            "{base}\n[deploy.probe]\nguild = {}\nvoice_channel = {channel}\n\
             track = \"{TRACK}\"\nlisten = \"1s\"\n",
            staging.id
        )
    };
    let probe_config = dir.path().join("probe.toml");
    std::fs::write(&probe_config, probing(staging.voice_channel(0).get())).expect("config");
    let (gate, probe) = probe_gate(&probe_config, &dir.path().join("green.log")).await;
    assert!(gate.passed && probe.passed, "{gate:#?}");
    assert!(probe.detail.contains("advanced"), "{gate:#?}");
    // One identify for the probe's own session; the probe left the channel and its player is gone.
    assert_eq!(discord.identify_count(), identifies + 1);
    let bot = discord.bot_user_id();
    assert_eq!(
        discord
            .voice_state(staging.id, bot)
            .and_then(|v| v.channel_id),
        None,
        "the probe left"
    );
    assert!(
        node.sessions().iter().all(|s| node
            .player(&s.id, LavalinkGuild(staging.id.get()))
            .is_none()),
        "the probe's player was destroyed"
    );
    // Blue serves on as before: the same session, every guild playing, commands answered.
    assert_eq!(all_playing(&node, &guilds).await, session);
    assert!(
        answer(&discord, &command(&guilds[0], "nowplaying"))
            .await
            .contains(TITLE)
    );
    assert_eq!(
        blue.client.state().await.expect("blue").phase,
        Phase::Serving
    );

    // Into a text channel: no voice connection, the gate fails naming the guild.
    std::fs::write(&probe_config, probing(staging.text_channel().get())).expect("config");
    let (gate, probe) = probe_gate(&probe_config, &dir.path().join("green-2.log")).await;
    assert!(!gate.passed && !probe.passed, "{gate:#?}");
    assert!(probe.detail.contains(&staging.id.to_string()), "{gate:#?}");
    assert_eq!(blue.stop().await, Some(0));
}

/// Green in standby with `config`: its gate's report and voice probe check; green stopped.
async fn probe_gate(
    config: &Path,
    log: &Path,
) -> (admin::deploy::GateReport, admin::deploy::GateCheck) {
    let green = spawn(config, log, "green", true, &[]);
    green
        .client
        .wait_phase(Phase::Standby, GUARD)
        .await
        .expect("standby");
    let gate = green.client.gate().await.expect("the gate runs");
    let probe = gate
        .checks
        .iter()
        .find(|c| c.name == "voice_probe")
        .cloned()
        .unwrap_or_else(|| panic!("a voice_probe check: {gate:#?}"));
    assert_eq!(green.stop().await, Some(0));
    (gate, probe)
}

/// `dimby deploy run`: its exit code and its JSON report.
async fn deploy_run(deploy_config: &Path, version: &str, dir: &Path) -> (i32, serde_json::Value) {
    deploy_run_as(deploy_config, version, &commit(), dir).await
}

/// `dimby deploy run` naming `commit` as the build's.
async fn deploy_run_as(
    deploy_config: &Path,
    version: &str,
    commit: &str,
    dir: &Path,
) -> (i32, serde_json::Value) {
    let report = dir.join(format!("report-{version}.json"));
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
            .args(["deploy", "run", "--config"])
            .arg(deploy_config)
            .args(["--version", version, "--commit", commit])
            .arg("--report")
            .arg(&report)
            .arg("--summary")
            .arg(dir.join(format!("summary-{version}.md")))
            .env_remove("GITHUB_STEP_SUMMARY")
            .output(),
    )
    .await
    .expect("the deploy ends")
    .expect("dimby deploy run");
    let code = output.status.code().expect("an exit code");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|_| {
        panic!(
            "no report; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (code, serde_json::from_str(&text).expect("the report"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(
    clippy::too_many_lines,
    reason = "one story of four deploys on the same stand-ins, read top-down"
)]
async fn dimby_deploy_promotes_a_good_build_rejects_a_bad_one_and_rolls_back_a_failing_one() {
    discord::install_crypto_provider();
    let discord = Arc::new(
        DiscordSim::start(sim::discord::DiscordConfig::default())
            .await
            .expect("Discord stand-in"),
    );
    let node = SimNode::start(sim::lavalink::NodeConfig::default())
        .await
        .expect("Lavalink stand-in");
    let guilds = guilds(&discord);
    let dir = tempfile::tempdir().expect("temp dir");
    let base = test_support::run_config(&discord, &[&node], &dir.path().join("data"), "");
    let exe = Path::new(env!("CARGO_BIN_EXE_dimby"));
    let slots = Slots::new(dir.path(), exe, ADMIN_TOKEN);
    let deploy_config = dir.path().join("deploy.toml");
    std::fs::write(
        &deploy_config,
        format!("{base}\n[deploy]\nwatch = \"10s\"\n{}", slots.sections(exe)).replace(
            "[admin]\n",
            &format!("[admin]\ntoken = \"{ADMIN_TOKEN}\"\n"),
        ),
    )
    .expect("deploy config");
    let blue = ColourClient::new(slots.admin_url("blue"), ADMIN_TOKEN);
    let green = ColourClient::new(slots.admin_url("green"), ADMIN_TOKEN);

    // A first deploy: nothing serves, blue takes over.
    slots.configure("blue", &base);
    let (code, report) = deploy_run(&deploy_config, "1.0.0", dir.path()).await;
    assert_eq!(
        (code, report["ending"].as_str()),
        (0, Some("promoted")),
        "{report:#}"
    );
    assert_eq!(report["serving"], "blue");
    let starts = TrackStarts::count(&[&node]);
    for guild in &guilds {
        answer(&discord, &command(guild, "play").string("query", TRACK)).await;
    }
    let session = all_playing(&node, &guilds).await;
    starts
        .settle(&lavalink_guilds(&guilds), GUARD)
        .await
        .expect("every started track's TrackStart");

    // A good build goes to green, with listeners at work throughout.
    slots.configure("green", &base);
    let identifies = discord.identify_count();
    let stop = Arc::new(AtomicBool::new(false));
    let sending = listeners(&discord, &guilds, Arc::clone(&stop));
    let (code, report) = deploy_run(&deploy_config, "1.1.0", dir.path()).await;
    stop.store(true, Ordering::SeqCst);
    let answers = sending.await.expect("the listeners");
    assert_eq!(
        (code, report["ending"].as_str()),
        (0, Some("promoted")),
        "{report:#}"
    );
    assert_eq!(report["serving"], "green");
    assert_eq!(report["gate"]["passed"], true, "{report:#}");
    let checks = report["gate"]["checks"]
        .as_array()
        .expect("the gate's checks");
    assert!(
        checks
            .iter()
            .any(|c| c["name"] == "log" && c["passed"] == true),
        "the gate watched the candidate's log: {report:#}"
    );
    assert_eq!(
        report["cutover"]["to"]["last_takeover"]["playing_on"], GUILDS,
        "{report:#}"
    );
    assert!(report["watch"]["failing"].is_null(), "{report:#}");
    assert_eq!(with_the_track(&answers), answers.len(), "{answers:?}");
    assert_eq!(starts.total(), 0, "no player started again");
    assert_eq!(discord.identify_count(), identifies, "every shard resumed");
    assert_eq!(all_playing(&node, &guilds).await, session);

    // A build with a wrong node password: stopped at the gate, green never noticed.
    slots.configure(
        "blue",
        &base.replace(
            &format!("password = \"{}\"", node.password()),
            "password = \"wrong\"",
        ),
    );
    let (code, report) = deploy_run(&deploy_config, "1.2.0-bad-password", dir.path()).await;
    assert_eq!(
        (code, report["ending"].as_str()),
        (1, Some("rejected")),
        "{report:#}"
    );
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("lavalink:sim")),
        "{report:#}"
    );
    let state = green.state().await.expect("green");
    assert_eq!(state.phase, Phase::Serving);
    assert!(
        blue.state().await.is_err(),
        "the rejected build was stopped"
    );

    // A deploy naming another commit than the binary its slot starts (its prepare did not
    // install the new build): refused before the gate, green never noticed.
    slots.configure("blue", &base);
    let (code, report) = deploy_run_as(
        &deploy_config,
        "1.2.1-stale-binary",
        "0000000000ab",
        dir.path(),
    )
    .await;
    assert_eq!(
        (code, report["ending"].as_str()),
        (1, Some("rejected")),
        "{report:#}"
    );
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not 0000000000ab")),
        "{report:#}"
    );
    assert!(
        report["gate"].is_null(),
        "no gate for a stale binary: {report:#}"
    );
    assert_eq!(green.state().await.expect("green").phase, Phase::Serving);

    // A build that passes the gate and then fails every command: rolled back to green.
    slots.configure(
        "blue",
        &format!("{base}\n[deploy]\nrehearsal_fault = \"commands\"\n"),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let sending = listeners(&discord, &guilds, Arc::clone(&stop));
    let (code, report) = deploy_run(&deploy_config, "1.3.0-fails", dir.path()).await;
    stop.store(true, Ordering::SeqCst);
    let answers = sending.await.expect("the listeners");
    assert_eq!(
        (code, report["ending"].as_str()),
        (1, Some("rolled_back")),
        "{report:#}"
    );
    assert_eq!(report["serving"], "green");
    assert!(report["watch"]["failing"].as_str().is_some(), "{report:#}");
    assert!(
        report["rollback_after_failing_ms"].as_u64().is_some(),
        "{report:#}"
    );
    assert_eq!(green.state().await.expect("green").phase, Phase::Serving);
    assert!(
        answers.iter().all(Option::is_some),
        "every command got an answer, failed or not: {answers:?}"
    );
    assert_eq!(starts.total(), 0, "no player started again");
    assert_eq!(all_playing(&node, &guilds).await, session);

    let history = std::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args(["deploy", "history", "--config"])
        .arg(&deploy_config)
        .output()
        .expect("dimby deploy history");
    let history = String::from_utf8_lossy(&history.stdout);
    assert_eq!(history.lines().count(), 5, "{history}");
    assert!(
        history
            .lines()
            .next()
            .is_some_and(|l| l.contains("rolled_back")),
        "{history}"
    );

    // A rollback by hand to blue (stopped: started again in standby from its slot), and the
    // ledger follows.
    slots.configure("blue", &base);
    let code = cli(&["deploy", "rollback"], &deploy_config).await.0;
    assert_eq!(code, 0);
    assert_eq!(blue.state().await.expect("blue").phase, Phase::Serving);
    assert_eq!(green.state().await.expect("green").phase, Phase::Standby);
    assert_eq!(all_playing(&node, &guilds).await, session);
    assert_eq!(starts.total(), 0, "no player started again");
    let (_, status) = cli(&["deploy", "status"], &deploy_config).await;
    assert!(status.contains("blue: serving"), "{status}");
    assert!(
        status.contains("ledger: blue is the active colour"),
        "{status}"
    );

    // `prepare` ran for each deploy's candidate before it started, and never for a rollback.
    let commit = commit();
    assert_eq!(
        slots.prepared(),
        [
            format!("blue 1.0.0 {commit}"),
            format!("green 1.1.0 {commit}"),
            format!("blue 1.2.0-bad-password {commit}"),
            "blue 1.2.1-stale-binary 0000000000ab".to_owned(),
            format!("blue 1.3.0-fails {commit}"),
        ]
    );

    // After a reboot both colours start in standby: the ledger's active colour takes over.
    slots.stop_both();
    slots.start_both();
    let (code, said) = cli(&["deploy", "resume"], &deploy_config).await;
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("blue took over"), "{said}");
    assert_eq!(blue.state().await.expect("blue").phase, Phase::Serving);
    assert_eq!(green.state().await.expect("green").phase, Phase::Standby);
    drop(slots);
}

/// The commit the binary under test was built from: every deploy here deploys it.
fn commit() -> String {
    test_support::binary_commit(Path::new(env!("CARGO_BIN_EXE_dimby")))
}

/// A `dimby` command with the deploy config: its exit code and what it printed.
async fn cli(args: &[&str], deploy_config: &Path) -> (i32, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
            .args(args)
            .arg("--config")
            .arg(deploy_config)
            .output(),
    )
    .await
    .expect("the command ends")
    .expect("dimby");
    (
        output.status.code().expect("an exit code"),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

/// The deploy benchmark's own scenario, small: its figures are printed, never asserted as
/// timings; what is asserted is that nothing was lost.
#[test]
fn the_deploy_benchmark_loses_no_command_and_no_audio() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args([
            "bench",
            "deploy",
            "--json",
            "--guilds",
            "5",
            "--deploys",
            "2",
            "--watch",
            "1",
        ])
        .output()
        .expect("dimby bench deploy");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: tools::bench::deploy::Report =
        serde_json::from_slice(&output.stdout).expect("the report");
    assert_eq!(
        report.endings,
        ["promoted", "promoted", "rolled_back"],
        "{report:#?}"
    );
    assert!(report.commands_sent > 0, "{report:#?}");
    assert_eq!(report.commands_unanswered, 0, "{report:#?}");
    assert_eq!(report.track_starts, 0, "{report:#?}");
    assert!(report.rollback_after_failing_ms.is_some(), "{report:#?}");
}
