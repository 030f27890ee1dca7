//! `dimby drill deploy`: the deploy rehearsal, the whole thing on this machine with every part its
//! own process. The stand-ins run as `dimby sim discord` and two `dimby sim lavalink` nodes; the
//! two colours run as `dimby run --standby` from their slots' scripts; every deploy is
//! `dimby deploy run` as an operator types it. The drill acts only from outside: users through
//! the Discord stand-in's control endpoint (guilds, voice, `/play`, `/nowplaying` at a steady
//! rate), the nodes through their REST API and `/sim/fault`.
//!
//! What it rehearses, in order, and what must hold (a broken expectation fails the drill; the
//! figures are printed, never judged):
//! 1. a first deploy brings blue up; every guild plays;
//! 2. five good deploys in a row, alternating colours: each promoted with its gate's voice probe
//!    passed (the colours' config has a staging guild), no false rollback, no colour's shard
//!    identifying again (the probe's own session is the one identify per deploy), no player
//!    paused, restarted or missing, no audio lost at the nodes, every command answered;
//! 3. a build with a wrong Discord token and one with a wrong Lavalink password: stopped at the
//!    gate, the serving colour untouched;
//! 4. a build that passes its gate and then fails every command (`deploy.rehearsal_fault`):
//!    rolled back by the watch, with the time from the first failing signal to the old colour
//!    serving again;
//! 5. a Lavalink node crashed in the middle of a deploy: the deploy is promoted or rolled back,
//!    not left half-done, and every guild plays again with its track and its queue.

#![allow(
    clippy::disallowed_methods,
    reason = "a drill runs separate processes in real time"
)]

mod audio;
mod listeners;
mod standins;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::json;

use audio::Sampler;
use listeners::{Answers, Listeners};
use standins::{DiscordControl, Guild, NodeControl, StandIn};

/// The drills.
#[derive(Debug, clap::Subcommand)]
pub enum DrillCommand {
    /// Blue-green deploys against standalone stand-ins (docs/runbooks/deploys.md, "Rehearsing").
    Deploy(DeployArgs),
}

/// Options of `dimby drill deploy`.
#[derive(Debug, Clone, clap::Args)]
pub struct DeployArgs {
    /// A directory for the processes' configs, logs, store and the drill's report (created;
    /// default: a new one under the system's temp directory, removed when the drill passes).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Guilds playing.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=200))]
    pub guilds: u64,
    /// Commands per second from the scripted listeners.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=200))]
    pub rate: u32,
    /// Good deploys in a row.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub good: u64,
    /// How long each deploy watches the new colour (`deploy.watch`, 10 s at least).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub watch: Duration,
}

/// Runs a drill.
pub async fn run(command: DrillCommand) -> anyhow::Result<()> {
    match command {
        DrillCommand::Deploy(args) => deploy_drill(&args).await,
    }
}

const TOKEN: &str = "drill-discord-token";
const NODE_PASSWORD: &str = "drill-node-password";
const ADMIN_TOKEN: &str = "drill-admin-token";
/// The track every guild plays (an hour: it never ends during the drill), and its title.
const TRACK: &str = "sim:length:3600000";
const TITLE: &str = "Sim: 3600000 ms";
/// Two more in each queue.
const QUEUED: [&str; 2] = ["sim:length:1800001", "sim:length:1800002"];
/// How long the guilds may take to play, and a failed-over player to play again.
const SETTLE: Duration = Duration::from_secs(60);

/// One deploy as the drill saw it.
#[derive(Debug, Clone, serde::Serialize)]
struct Rehearsal {
    name: String,
    version: String,
    exit_code: Option<i32>,
    ending: String,
    reason: String,
    serving_after: Option<String>,
    gate_ms: Option<u64>,
    /// The gate's voice probe: passed or not (`None`: not run).
    voice_probe: Option<bool>,
    cutover_ms: Option<u64>,
    rollback_after_failing_ms: Option<u64>,
    took_ms: u64,
}

/// The world the drill runs in.
struct World {
    exe: PathBuf,
    dir: PathBuf,
    discord: DiscordControl,
    nodes: Vec<NodeControl>,
    guilds: Vec<Guild>,
    slots: test_support::deploy_slots::Slots,
    deploy_config: PathBuf,
    base: String,
    /// The commit of the binary every colour runs (each deploy names it).
    commit: String,
}

async fn deploy_drill(args: &DeployArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.watch >= Duration::from_secs(10),
        "--watch must be at least 10s (deploy.watch's lower bound)"
    );
    let began = Instant::now();
    let dir = args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("dimby-deploy-drill-{}", std::process::id()))
    });
    std::fs::create_dir_all(&dir).with_context(|| format!("{}", dir.display()))?;
    let exe = std::env::current_exe().context("this binary's path")?;
    println!("dimby drill deploy: in {}", dir.display());

    let discord = StandIn::start(
        &exe,
        &["discord", "--listen", "127.0.0.1:0", "--token", TOKEN],
        &dir.join("sim-discord.log"),
    )
    .await
    .context("the Discord stand-in")?;
    let mut nodes = Vec::new();
    for name in ["node-a", "node-b"] {
        let node = StandIn::start(
            &exe,
            &[
                "lavalink",
                "--listen",
                "127.0.0.1:0",
                "--password",
                NODE_PASSWORD,
                "--name",
                name,
                "--player-update-interval-ms",
                "1000",
                "--stats-interval-ms",
                "5000",
            ],
            &dir.join(format!("sim-{name}.log")),
        )
        .await
        .with_context(|| format!("the Lavalink stand-in {name}"))?;
        nodes.push((name, node));
    }
    let outcome = rehearse(args, &exe, &dir, &discord, &nodes).await;
    for (_, node) in nodes {
        node.stop().await;
    }
    discord.stop().await;
    match outcome {
        Ok(()) => {
            println!(
                "dimby drill deploy: passed in {:.0} s",
                began.elapsed().as_secs_f64()
            );
            if args.dir.is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            Ok(())
        }
        Err(error) => Err(error.context(format!(
            "the drill failed; the processes' logs are in {}",
            dir.display()
        ))),
    }
}

async fn rehearse(
    args: &DeployArgs,
    exe: &Path,
    dir: &Path,
    discord: &StandIn,
    nodes: &[(&str, StandIn)],
) -> anyhow::Result<()> {
    let control = DiscordControl::new(&discord.base, TOKEN)?;
    let node_controls = nodes
        .iter()
        .map(|(name, node)| NodeControl::new(name, &node.base, NODE_PASSWORD))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut guilds = Vec::new();
    for n in 0..args.guilds {
        guilds.push(control.guild_with_listener(&format!("Drill {n}")).await?);
    }
    let staging = control.staging_guild().await?;
    let base = colour_config(&discord.base, nodes, &dir.join("data"), &staging);
    let slots = test_support::deploy_slots::Slots::new(dir, exe, ADMIN_TOKEN);
    let deploy_config = dir.join("deploy.toml");
    std::fs::write(
        &deploy_config,
        format!(
            "{base}\n[deploy]\nwatch = \"{}\"\n{}",
            humantime::format_duration(args.watch),
            slots.sections(exe)
        )
        .replace(
            "[admin]\n",
            &format!("[admin]\ntoken = \"{ADMIN_TOKEN}\"\n"),
        ),
    )
    .context("the deploy config")?;
    let mut world = World {
        exe: exe.to_path_buf(),
        dir: dir.to_path_buf(),
        discord: control,
        nodes: node_controls,
        guilds,
        slots,
        deploy_config,
        base,
        commit: test_support::binary_commit(exe),
    };
    let mut rehearsals = Vec::new();
    let queues = first_deploy(&mut world, &mut rehearsals).await?;
    let sampler = Sampler::start(
        world.nodes.clone(),
        world.guilds.iter().map(|g| g.id.clone()).collect(),
    );
    let result = scenarios(args, &mut world, &sampler, &mut rehearsals, &queues).await;
    sampler.stop().await;
    world.slots.stop_both();
    print_rehearsals(&rehearsals);
    let json = serde_json::to_string_pretty(&rehearsals)?;
    std::fs::write(dir.join("drill-report.json"), json).context("the drill's report")?;
    result
}

/// The config both colours run with (the slots' scripts add the colour, the admin address and
/// token): the standalone stand-ins, the shared store, the gate's voice probe in the staging
/// guild (its id and voice channel's).
fn colour_config(
    discord: &str,
    nodes: &[(&str, StandIn)],
    data: &Path,
    (staging, voice): &(String, String),
) -> String {
    let host = discord.trim_start_matches("http://");
    let mut config = format!(
        "[discord]\ntoken = \"{TOKEN}\"\ngateway_url = \"ws://{host}\"\nrest_proxy = \"{host}\"\n\n\
         [admin]\nlisten = \"127.0.0.1:0\"\n\n[store]\ndata_dir = \"{}\"\n",
        data.display()
    );
    for (name, node) in nodes {
        // Writing to a String cannot fail.
        let _ = write!(
            config,
            "\n[[lavalink.nodes]]\nname = \"{name}\"\nurl = \"{}\"\npassword = \"{NODE_PASSWORD}\"\n",
            node.base
        );
    }
    let _ = write!(
        config,
        "\n[deploy.probe]\nguild = {staging}\nvoice_channel = {voice}\ntrack = \"{TRACK}\"\nlisten = \"1s\"\n"
    );
    config
}

/// Blue comes up from nothing; every guild plays a long track with two more queued. The queues
/// as `/queue` shows them, by guild.
async fn first_deploy(
    world: &mut World,
    rehearsals: &mut Vec<Rehearsal>,
) -> anyhow::Result<Vec<String>> {
    world.slots.configure("blue", &world.base);
    let first = deploy_run(world, "first deploy", "drill-0").await?;
    expect(&first, "promoted")?;
    rehearsals.push(first);
    for guild in &world.guilds {
        for query in std::iter::once(TRACK).chain(QUEUED) {
            let id = world
                .discord
                .invoke(guild, "play", json!({ "query": query }))
                .await?;
            world.discord.answer(&id, SETTLE).await?;
        }
    }
    wait_all_playing(world).await?;
    queues(world).await
}

/// Every guild's `/queue` answer.
async fn queues(world: &World) -> anyhow::Result<Vec<String>> {
    let mut shown = Vec::new();
    for guild in &world.guilds {
        let id = world.discord.invoke(guild, "queue", json!({})).await?;
        shown.push(world.discord.answer(&id, SETTLE).await?);
    }
    Ok(shown)
}

/// Waits until every guild plays [`TRACK`] on some node.
async fn wait_all_playing(world: &World) -> anyhow::Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let mut playing = 0;
        for (index, node) in world.nodes.iter().enumerate() {
            if let Some((players, _)) = node.players(index).await {
                playing += world
                    .guilds
                    .iter()
                    .filter(|g| {
                        players
                            .get(&g.id)
                            .is_some_and(|p| p.track.is_some() && !p.paused)
                    })
                    .count();
            }
        }
        if playing >= world.guilds.len() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{playing} of {} guilds playing after {SETTLE:?}",
            world.guilds.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn scenarios(
    args: &DeployArgs,
    world: &mut World,
    sampler: &Sampler,
    rehearsals: &mut Vec<Rehearsal>,
    queues_before: &[String],
) -> anyhow::Result<()> {
    good_deploys(args, world, sampler, rehearsals).await?;
    refused_builds(args, world, sampler, rehearsals).await?;
    failing_build(args, world, sampler, rehearsals).await?;
    node_crash(args, world, sampler, rehearsals).await?;
    let queues_after = queues(world).await?;
    for ((guild, before), after) in world.guilds.iter().zip(queues_before).zip(&queues_after) {
        anyhow::ensure!(
            before == after,
            "guild {}'s queue changed over the drill:\nbefore: {before}\nafter: {after}",
            guild.id
        );
    }
    println!(
        "  queues: all {} intact after every deploy (as /queue shows them)",
        world.guilds.len()
    );
    Ok(())
}

/// The serving colour now (from the last rehearsal), and the other.
fn colours(rehearsals: &[Rehearsal]) -> anyhow::Result<(&'static str, &'static str)> {
    match rehearsals.last().and_then(|r| r.serving_after.as_deref()) {
        Some("blue") => Ok(("blue", "green")),
        Some("green") => Ok(("green", "blue")),
        other => anyhow::bail!("no colour serves after the last deploy ({other:?})"),
    }
}

/// Five good deploys in a row, listeners at work: each promoted, nothing heard.
async fn good_deploys(
    args: &DeployArgs,
    world: &mut World,
    sampler: &Sampler,
    rehearsals: &mut Vec<Rehearsal>,
) -> anyhow::Result<()> {
    let identifies_before = world.discord.identify_count().await?;
    sampler.with(audio::Ledger::restart_accounts);
    let listeners = Listeners::start(&world.discord, &world.guilds, args.rate);
    let mut outcome = Ok(());
    for n in 1..=args.good {
        let (_, candidate) = colours(rehearsals)?;
        world.slots.configure(candidate, &world.base);
        let rehearsal = deploy_run(world, "good build", &format!("drill-good-{n}")).await?;
        let ended = expect(&rehearsal, "promoted");
        rehearsals.push(rehearsal);
        if ended.is_err() {
            outcome = ended;
            break;
        }
    }
    let answers = listeners.finish(TITLE).await?;
    outcome?;
    let audio = sampler.with(|ledger| ledger.totals());
    let identified = world
        .discord
        .identify_count()
        .await?
        .saturating_sub(identifies_before);
    print_answers("good deploys", &answers);
    println!(
        "  good deploys: {} players; audio at the nodes: {} ms lost, {} paused, {} restarted, {} missing samples; {identified} identifies (the gates' voice probes)",
        world.guilds.len(),
        audio.lost_ms,
        audio.paused,
        audio.restarts,
        audio.missing
    );
    // Each gate's voice probe opens one session of its own; the colours' shards only resume.
    anyhow::ensure!(
        identified == args.good,
        "{identified} identifies over {} deploys: only the voice probes' ({}) were expected",
        args.good,
        args.good
    );
    anyhow::ensure!(
        rehearsals
            .iter()
            .rev()
            .take(usize::try_from(args.good)?)
            .all(|r| r.voice_probe == Some(true)),
        "a good deploy's gate did not pass its voice probe"
    );
    expect_nothing_heard(&audio, "the good deploys")?;
    expect_answered("good deploys", &answers, false)
}

/// The wrong token, the wrong node password: stopped at the gate, nothing heard.
async fn refused_builds(
    args: &DeployArgs,
    world: &mut World,
    sampler: &Sampler,
    rehearsals: &mut Vec<Rehearsal>,
) -> anyhow::Result<()> {
    sampler.with(audio::Ledger::restart_accounts);
    let listeners = Listeners::start(&world.discord, &world.guilds, args.rate);
    for (name, version, config, check) in [
        (
            "wrong Discord token",
            "drill-wrong-token",
            world.base.replace(TOKEN, "drill-wrong-token"),
            "discord_rest",
        ),
        (
            "wrong Lavalink password",
            "drill-wrong-password",
            world.base.replace(NODE_PASSWORD, "drill-wrong-password"),
            "lavalink:node-a",
        ),
    ] {
        let (serving, candidate) = colours(rehearsals)?;
        world.slots.configure(candidate, &config);
        let rehearsal = deploy_run(world, name, version).await?;
        expect(&rehearsal, "rejected")?;
        anyhow::ensure!(
            rehearsal.reason.contains(check),
            "{name}: rejected for another reason than the {check} check: {}",
            rehearsal.reason
        );
        anyhow::ensure!(
            rehearsal.serving_after.as_deref() == Some(serving),
            "{name}: {serving} no longer serves"
        );
        anyhow::ensure!(
            rehearsal.cutover_ms.is_none(),
            "{name}: a refused build was cut over to"
        );
        rehearsals.push(rehearsal);
    }
    let answers = listeners.finish(TITLE).await?;
    let audio = sampler.with(|ledger| ledger.totals());
    print_answers("refused builds", &answers);
    expect_nothing_heard(&audio, "a refused build")?;
    expect_answered("refused builds", &answers, false)
}

/// A build that fails every command once it serves: rolled back, nothing heard.
async fn failing_build(
    args: &DeployArgs,
    world: &mut World,
    sampler: &Sampler,
    rehearsals: &mut Vec<Rehearsal>,
) -> anyhow::Result<()> {
    sampler.with(audio::Ledger::restart_accounts);
    let listeners = Listeners::start(&world.discord, &world.guilds, args.rate);
    let (serving, candidate) = colours(rehearsals)?;
    world.slots.configure(
        candidate,
        &format!("{}\n[deploy]\nrehearsal_fault = \"commands\"\n", world.base),
    );
    let rehearsal = deploy_run(world, "failing build", "drill-failing").await?;
    let answers = listeners.finish(TITLE).await?;
    expect(&rehearsal, "rolled_back")?;
    anyhow::ensure!(
        rehearsal.serving_after.as_deref() == Some(serving),
        "the failing build: {serving} does not serve again"
    );
    anyhow::ensure!(
        rehearsal.rollback_after_failing_ms.is_some(),
        "the failing build: no time from the failing signal to the rollback"
    );
    rehearsals.push(rehearsal);
    let audio = sampler.with(|ledger| ledger.totals());
    print_answers("failing build", &answers);
    expect_nothing_heard(&audio, "the failing build's rollback")?;
    expect_answered("failing build", &answers, true)
}

/// A node crashes while the new colour is being watched: the deploy ends cleanly and every
/// guild plays again.
async fn node_crash(
    args: &DeployArgs,
    world: &mut World,
    sampler: &Sampler,
    rehearsals: &mut Vec<Rehearsal>,
) -> anyhow::Result<()> {
    sampler.with(audio::Ledger::restart_accounts);
    let listeners = Listeners::start(&world.discord, &world.guilds, args.rate);
    let (_, candidate) = colours(rehearsals)?;
    world.slots.configure(candidate, &world.base);
    let candidate_client = deploy::ColourClient::new(world.slots.admin_url(candidate), ADMIN_TOKEN);
    let crash = async {
        candidate_client
            .wait_phase(admin::deploy::Phase::Serving, SETTLE)
            .await
            .context("the candidate never served")?;
        world.nodes[1].fault(&json!({ "fault": "crash" })).await?;
        anyhow::Ok(Instant::now())
    };
    let (rehearsal, crashed) = tokio::join!(
        deploy_run(world, "node crashed mid-deploy", "drill-node-crash"),
        crash
    );
    let rehearsal = rehearsal?;
    let crashed_at = crashed?;
    anyhow::ensure!(
        rehearsal.ending == "promoted" || rehearsal.ending == "rolled_back",
        "node crash: the deploy ended {} ({})",
        rehearsal.ending,
        rehearsal.reason
    );
    rehearsals.push(rehearsal);
    wait_all_playing(world).await?;
    let answers = listeners.finish(TITLE).await?;
    let audio = sampler.with(|ledger| ledger.totals());
    print_answers("node crash", &answers);
    #[allow(clippy::cast_precision_loss, reason = "milliseconds")]
    let gaps =
        crate::bench::Percentiles::of(audio.move_gaps_ms.iter().map(|&ms| ms as f64).collect());
    println!(
        "  node crash: {} players moved off the crashed node, {} restarted; the last played again {} ms after the crash; audio gap per moved player p50 {:.0} ms, max {:.0} ms (to within a 250 ms sampling period)",
        audio.moves,
        audio.restarts,
        audio.moved_at.map_or_else(
            || "-".to_owned(),
            |at| at
                .saturating_duration_since(crashed_at)
                .as_millis()
                .to_string()
        ),
        gaps.p50,
        gaps.max
    );
    anyhow::ensure!(
        audio.moves > 0,
        "node crash: no player was on the crashed node"
    );
    anyhow::ensure!(
        audio.restarts == 0,
        "node crash: {} players restarted their track",
        audio.restarts
    );
    expect_answered("node crash", &answers, true)
}

/// `dimby deploy run` as an operator runs it, and its report.
async fn deploy_run(world: &World, name: &str, version: &str) -> anyhow::Result<Rehearsal> {
    let report_path = world.dir.join(format!("deploy-{version}.json"));
    let began = Instant::now();
    let status = tokio::process::Command::new(&world.exe)
        .args([
            "deploy",
            "run",
            "--version",
            version,
            "--commit",
            &world.commit,
            "--config",
        ])
        .arg(&world.deploy_config)
        .arg("--report")
        .arg(&report_path)
        .arg("--summary")
        .arg(world.dir.join(format!("deploy-{version}.md")))
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(
            world.dir.join(format!("deploy-{version}.log")),
        )?)
        .kill_on_drop(true)
        .status();
    let status = tokio::time::timeout(Duration::from_secs(600), status)
        .await
        .with_context(|| format!("{name}: dimby deploy run did not end within 10 minutes"))?
        .with_context(|| format!("{name}: dimby deploy run"))?;
    let text = std::fs::read_to_string(&report_path)
        .with_context(|| format!("{name}: the report {}", report_path.display()))?;
    let report: deploy::DeployReport =
        serde_json::from_str(&text).with_context(|| format!("{name}: the report"))?;
    let rehearsal = Rehearsal {
        name: name.to_owned(),
        version: version.to_owned(),
        exit_code: status.code(),
        ending: report.ending.as_str().to_owned(),
        reason: report.reason.clone(),
        serving_after: report.serving.clone(),
        gate_ms: report.gate_ms,
        voice_probe: report.gate.as_ref().and_then(|gate| {
            gate.checks
                .iter()
                .find(|check| check.name == "voice_probe")
                .map(|check| check.passed)
        }),
        cutover_ms: report.cutover.as_ref().map(|c| c.total_ms),
        rollback_after_failing_ms: report.rollback_after_failing_ms,
        took_ms: u64::try_from(began.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    println!(
        "  {name} ({version}): {} in {} ms{}",
        rehearsal.ending,
        rehearsal.took_ms,
        if rehearsal.ending == "promoted" {
            String::new()
        } else {
            format!(": {}", rehearsal.reason)
        }
    );
    Ok(rehearsal)
}

/// The deploy ended as expected, and its exit code says so (0 only when promoted).
fn expect(rehearsal: &Rehearsal, ending: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        rehearsal.ending == ending,
        "{} ({}): expected {ending}, it ended {}: {}",
        rehearsal.name,
        rehearsal.version,
        rehearsal.ending,
        rehearsal.reason
    );
    let code = i32::from(ending != "promoted");
    anyhow::ensure!(
        rehearsal.exit_code == Some(code),
        "{} ({}): dimby deploy run exited with {:?} for {ending}",
        rehearsal.name,
        rehearsal.version,
        rehearsal.exit_code
    );
    Ok(())
}

/// Nothing heard at the nodes over a stretch: no audio lost, no player paused, restarted or
/// missing. `what` names what the listeners would have heard, for the failure message. (The node
/// crash does not use it: a crash is heard, as players move off the crashed node; it checks only
/// that none restarted.)
fn expect_nothing_heard(audio: &audio::GuildAudio, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        audio.lost_ms == 0 && audio.paused == 0 && audio.restarts == 0 && audio.missing == 0,
        "the listeners heard {what}: {audio:?}"
    );
    Ok(())
}

fn print_answers(stretch: &str, answers: &Answers) {
    let waits = crate::bench::Percentiles::of(answers.waits_ms.clone());
    println!(
        "  {stretch}: {} commands sent, {} unanswered, {} refused by Discord's deadline, {} failed; wait p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        answers.sent,
        answers.unanswered,
        answers.refused,
        answers.failed,
        waits.p50,
        waits.p99,
        waits.max
    );
}

/// Every command answered in Discord's window; failed ones only where a failure is rehearsed.
fn expect_answered(stretch: &str, answers: &Answers, failures_allowed: bool) -> anyhow::Result<()> {
    anyhow::ensure!(answers.sent > 0, "{stretch}: no command was sent");
    anyhow::ensure!(
        answers.unanswered == 0 && answers.refused == 0,
        "{stretch}: {} commands unanswered, {} answered past Discord's deadline",
        answers.unanswered,
        answers.refused
    );
    anyhow::ensure!(
        failures_allowed || answers.failed == 0,
        "{stretch}: {} commands failed",
        answers.failed
    );
    Ok(())
}

fn print_rehearsals(rehearsals: &[Rehearsal]) {
    println!("  deploy                      ending       gate     cutover  rollback after failing");
    for r in rehearsals {
        let ms = |v: Option<u64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v} ms"));
        println!(
            "  {:<27} {:<12} {:>8} {:>10} {:>10}",
            r.name,
            r.ending,
            ms(r.gate_ms),
            ms(r.cutover_ms),
            ms(r.rollback_after_failing_ms)
        );
    }
}
