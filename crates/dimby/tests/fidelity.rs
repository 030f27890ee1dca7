//! Fidelity proofs: the stand-ins driven by independent Python clients. The Lavalink v4 stand-in
//! (`dimby sim lavalink`) by `tests/fidelity/lavalink_py_client.py` (Lavalink.py, unchanged) and
//! `tests/fidelity/conformance.py` (checks written from Lavalink's docs and server source); the
//! Discord stand-in (`sim::discord`) by `tests/fidelity/discord_py_client.py` (discord.py,
//! unchanged).
//!
//! Each test starts its own stand-in on a free loopback port, runs one script against it with the
//! interpreter named by `DIMBY_PYTHON` (set by `./scripts/test` to a virtualenv holding
//! `tests/fidelity/requirements.txt`), and passes when the script exits 0. See docs/fidelity.md.

#![allow(
    clippy::disallowed_methods,
    reason = "the independent clients run on real time; their guards are real time too"
)]

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use sim::discord::{
    ButtonPress, DiscordConfig, DiscordSim, GuildInfo, GuildSpec, InteractionHandle,
    InteractionRecord, MessageChange, SlashCommand,
};
use twilight_model::application::command::{CommandOptionChoiceValue, CommandOptionType};
use twilight_model::channel::message::MessageFlags;
use twilight_model::gateway::Intents;
use twilight_model::http::interaction::InteractionResponseType;

const PASSWORD: &str = "youshallnotpass";
/// How long the stand-in may take to print its address.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);
/// A guard far above the scripts' own 55 s deadline: only a wedged interpreter hits it.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// Kills and reaps the child when dropped, so a failing assertion never leaves a node running.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What a pipe has yielded so far, collected on a thread of its own (so the child never blocks on
/// a full pipe). `finish` waits for the pipe's end, which comes when the child exits.
struct Drain {
    buf: Arc<Mutex<Vec<u8>>>,
    reader: thread::JoinHandle<()>,
}

impl Drain {
    fn finish(self) -> String {
        let _ = self.reader.join();
        text(&self.buf)
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> Drain {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&buf);
    let reader = thread::spawn(move || {
        let mut chunk = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("drain buffer")
                .extend_from_slice(&chunk[..n]);
        }
    });
    Drain { buf, reader }
}

fn text(buf: &Arc<Mutex<Vec<u8>>>) -> String {
    String::from_utf8_lossy(&buf.lock().expect("drain buffer")).into_owned()
}

/// The last `lines` lines of a log, without terminal colour codes, for a failure report.
fn log_tail(buf: &Arc<Mutex<Vec<u8>>>, lines: usize) -> String {
    let raw = text(buf);
    let mut plain = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI sequence: ESC [ parameters final-byte
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    let all: Vec<&str> = plain.lines().collect();
    let skip = all.len().saturating_sub(lines);
    let mut out = String::new();
    if skip > 0 {
        let _ = writeln!(out, "[{skip} earlier lines left out]");
    }
    out.push_str(&all[skip..].join("\n"));
    out
}

/// A running stand-in: its base URL and the log it writes on stderr.
struct Node {
    url: String,
    log: Arc<Mutex<Vec<u8>>>,
    _child: KillOnDrop,
}

/// The Lavalink stand-in, as the Lavalink scripts expect it.
fn start_node() -> Node {
    start_stand_in(&[
        "sim",
        "lavalink",
        "--listen",
        "127.0.0.1:0",
        "--password",
        PASSWORD,
        "--player-update-interval-ms",
        "500",
        "--stats-interval-ms",
        "2000",
    ])
}

/// Runs `dimby <args>` (a `sim` subcommand on port 0) and reads its address.
fn start_stand_in(args: &[&str]) -> Node {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_dimby"))
            .args(args)
            .env("DIMBY_LOG_FORMAT", "text")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the dimby binary"),
    );
    let stderr: ChildStderr = child.0.stderr.take().expect("stderr pipe");
    let log = drain(stderr).buf;
    let stdout = child.0.stdout.take().expect("stdout pipe");

    // The first stdout line is `listening on http://127.0.0.1:PORT`; read it on a thread so a
    // silent node fails the test after STARTUP_TIMEOUT instead of hanging it, then keep draining.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let read = reader.read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    let line = match rx.recv_timeout(STARTUP_TIMEOUT) {
        Ok(Ok(line)) => line,
        Ok(Err(err)) => panic!(
            "reading the stand-in's stdout: {err}\nstderr:\n{}",
            text(&log)
        ),
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "the stand-in printed no address within {STARTUP_TIMEOUT:?}\nstderr:\n{}",
            text(&log)
        ),
        Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
            "the stand-in's stdout reader stopped\nstderr:\n{}",
            text(&log)
        ),
    };
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| {
            panic!(
                "unexpected first stdout line {line:?}\nstderr:\n{}",
                text(&log)
            )
        })
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:"),
        "the stand-in must listen on loopback, said {url}"
    );
    Node {
        url,
        log,
        _child: child,
    }
}

fn python() -> PathBuf {
    match std::env::var_os("DIMBY_PYTHON") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => panic!(
            "DIMBY_PYTHON is not set: the fidelity proofs need the Python virtualenv with \
             tests/fidelity/requirements.txt. Run the tests with ./scripts/test, which creates it \
             and sets DIMBY_PYTHON."
        ),
    }
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fidelity")
        .join(name)
}

/// Runs one Lavalink fidelity script against a fresh stand-in and asserts it passed.
fn run_script(name: &str) {
    let interpreter = python();
    let node = start_node();
    run_script_against(
        &interpreter,
        name,
        &node,
        &["--url", &node.url, "--password", PASSWORD],
    );
}

/// Runs one fidelity script with `args` against a running stand-in and asserts it passed.
fn run_script_against(interpreter: &Path, name: &str, node: &Node, args: &[&str]) {
    let started = Instant::now();
    let mut child = KillOnDrop(
        Command::new(interpreter)
            .arg(script(name))
            .args(args)
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("run {} {name}: {err}", interpreter.display())),
    );
    let out = drain(child.0.stdout.take().expect("stdout pipe"));
    let err = drain(child.0.stderr.take().expect("stderr pipe"));

    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for the script") {
            break Some(status);
        }
        if started.elapsed() > SCRIPT_TIMEOUT {
            break None;
        }
        thread::sleep(Duration::from_millis(50));
    };
    if status.is_none() {
        // Past the guard: kill it so the pipes close and the drains end.
        let _ = child.0.kill();
        let _ = child.0.wait();
    }
    let (out, err) = (out.finish(), err.finish());
    let report = format!(
        "--- {name} stdout ---\n{out}\n--- {name} stderr ---\n{err}\n--- stand-in stderr ---\n{}",
        log_tail(&node.log, 60)
    );
    match status {
        None => panic!("{name} did not finish within {SCRIPT_TIMEOUT:?}\n{report}"),
        Some(status) => {
            assert!(status.success(), "{name} failed ({status})\n{report}");
            println!("{out}");
        }
    }
}

#[test]
fn lavalink_py_client_drives_the_stand_in() {
    run_script("lavalink_py_client.py");
}

#[test]
fn stand_in_conforms_to_the_lavalink_v4_docs() {
    run_script("conformance.py");
}

/// The token `dimby sim discord` is given (any non-empty token; this one proves `--token`).
const SIM_DISCORD_TOKEN: &str = "ZmlkZWxpdHk.discord-py.stand-in-token";

/// `dimby sim discord` as a process: discord.py logs in to it with the token it was given, finds
/// the demo guild and registers its commands (no interaction: nobody types in a process's guild).
#[test]
fn discord_py_client_logs_in_to_dimby_sim_discord() {
    let interpreter = python();
    let node = start_stand_in(&[
        "sim",
        "discord",
        "--listen",
        "127.0.0.1:0",
        "--token",
        SIM_DISCORD_TOKEN,
    ]);
    let rest_base = format!("{}/api/v10", node.url);
    run_script_against(
        &interpreter,
        "discord_py_client.py",
        &node,
        &[
            "--rest-base",
            &rest_base,
            "--token",
            SIM_DISCORD_TOKEN,
            "--no-interaction",
            "--guild-name",
            "DimbyBot demo",
            "--member-count",
            "4",
        ],
    );
}

/// What `discord_py_client.py` prints, followed by a command name, when it waits for that command.
const AWAITING: &str = "# awaiting /";
/// What the scripted user types after `/echo text:`.
const ECHO_TEXT: &str = "hello from alice";
/// What the scripted user has typed so far in `/find query:` (an autocomplete).
const TYPED_TEXT: &str = "nev";

/// `discord_py_client.py` running against an in-process stand-in: its stdout line by line (every
/// line kept for the report and sent on a channel that disconnects when the pipe ends, i.e. when
/// the script exits) and its stderr.
struct DiscordScript {
    child: KillOnDrop,
    started: Instant,
    out: Arc<Mutex<Vec<u8>>>,
    lines: mpsc::Receiver<String>,
    err: Drain,
}

impl DiscordScript {
    const NAME: &str = "discord_py_client.py";

    fn start(interpreter: &Path, args: &[String]) -> Self {
        let mut child = KillOnDrop(
            Command::new(interpreter)
                .arg(script(Self::NAME))
                .args(args)
                .env("PYTHONUNBUFFERED", "1")
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|err| {
                    panic!("run {} {}: {err}", interpreter.display(), Self::NAME)
                }),
        );
        let stdout = child.0.stdout.take().expect("stdout pipe");
        let err = drain(child.0.stderr.take().expect("stderr pipe"));
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&out);
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                sink.lock()
                    .expect("line buffer")
                    .extend_from_slice(line.as_bytes());
                // Nobody may listen any more; keep draining so that the script never blocks.
                let _ = tx.send(line.trim_end().to_owned());
                line.clear();
            }
        });
        Self {
            child,
            started: Instant::now(),
            out,
            lines,
            err,
        }
    }

    fn left(&self) -> Duration {
        SCRIPT_TIMEOUT.saturating_sub(self.started.elapsed())
    }

    /// Waits until the script says it waits for `/command`; what follows on that line (the
    /// message of a button to press).
    fn awaiting(&self, command: &str) -> Result<String, String> {
        let wanted = format!("{AWAITING}{command}");
        loop {
            match self.lines.recv_timeout(self.left()) {
                Ok(line) if line == wanted => return Ok(String::new()),
                Ok(line) if line.starts_with(&format!("{wanted} ")) => {
                    return Ok(line[wanted.len()..].trim().to_owned());
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    return Err(format!("no {wanted:?} within {SCRIPT_TIMEOUT:?}"));
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(format!("the script ended before {wanted:?}"));
                }
            }
        }
    }

    /// Waits for the script's end (killing it past the guard); its exit status (`None` when it
    /// had to be killed) and the report of its output.
    fn finish(mut self) -> (Option<std::process::ExitStatus>, String) {
        let status = loop {
            match self.lines.recv_timeout(self.left()) {
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    break Some(self.child.0.wait().expect("wait for the script"));
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = self.child.0.kill();
                    let _ = self.child.0.wait();
                    break None;
                }
            }
        };
        let report = format!(
            "--- {name} stdout ---\n{}\n--- {name} stderr ---\n{}",
            text(&self.out),
            self.err.finish(),
            name = Self::NAME,
        );
        (status, report)
    }

    /// Ends the test: stops the script and shows its output so far with the reason.
    fn fail(mut self, why: &str) -> ! {
        let _ = self.child.0.kill();
        let (status, report) = self.finish();
        panic!("{} ({status:?}): {why}\n{report}", Self::NAME);
    }
}

/// The arguments that tell the script what the stand-in holds.
fn discord_script_args(sim: &DiscordSim, guild: &GuildInfo, alice: &str) -> Vec<String> {
    [
        ("--rest-base", sim.rest_base()),
        ("--token", sim.token().to_owned()),
        ("--guild-id", guild.id.to_string()),
        ("--guild-name", "Fidelity guild".to_owned()),
        ("--member-count", "4".to_owned()),
        ("--bot-user-id", sim.bot_user_id().to_string()),
        ("--application-id", sim.application_id().to_string()),
        ("--voice-user-id", alice.to_owned()),
        ("--invoker-id", alice.to_owned()),
        ("--echo-text", ECHO_TEXT.to_owned()),
        ("--typed-text", TYPED_TEXT.to_owned()),
    ]
    .into_iter()
    .flat_map(|(flag, value)| [flag.to_owned(), value])
    .collect()
}

/// The connected session and the commands CommandTree.sync registered, while the script waits.
fn check_registration(sim: &DiscordSim, guild: &GuildInfo) -> Result<(), String> {
    // One session on shard [0, 1] with discord.py's default (unprivileged) intents.
    let sessions = sim.sessions();
    let wanted = Intents::GUILDS | Intents::GUILD_VOICE_STATES | Intents::GUILD_MESSAGES;
    let fine = matches!(sessions.as_slice(), [session]
        if session.connected && session.shard == [0, 1] && session.intents.contains(wanted));
    if !fine {
        return Err(format!("gateway sessions {sessions:?}"));
    }
    let mut commands: Vec<_> = sim
        .guild_commands(guild.id)
        .into_iter()
        .map(|command| {
            let options: Vec<_> = command
                .options
                .iter()
                .map(|option| {
                    let autocomplete = option.autocomplete.unwrap_or(false);
                    (
                        option.name.clone(),
                        option.kind,
                        option.required,
                        autocomplete,
                    )
                })
                .collect();
            (command.name, command.guild_id, options)
        })
        .collect();
    commands.sort_by(|a, b| a.0.cmp(&b.0));
    let text = (
        "text".to_owned(),
        CommandOptionType::String,
        Some(true),
        false,
    );
    let query = (
        "query".to_owned(),
        CommandOptionType::String,
        Some(true),
        true,
    );
    let expected = [
        ("echo".to_owned(), Some(guild.id), vec![text]),
        ("find".to_owned(), Some(guild.id), vec![query]),
        ("later".to_owned(), Some(guild.id), Vec::new()),
    ];
    if commands != expected {
        return Err(format!("the guild's commands {commands:?}"));
    }
    Ok(())
}

/// /echo: a message answered with the response, read, edited and followed up.
fn check_echo(record: &InteractionRecord, report: &str) {
    assert!(
        record.rejections.is_empty(),
        "the stand-in refused some of the bot's /echo calls: {:?}\n{report}",
        record.rejections
    );
    let callback = record.callback.as_ref().expect("the /echo callback");
    assert_eq!(
        callback.kind,
        InteractionResponseType::ChannelMessageWithSource,
        "{report}"
    );
    let content = callback
        .data
        .as_ref()
        .and_then(|data| data.content.as_deref());
    assert_eq!(content, Some("echo: hello from alice"), "{report}");
    let original = record.original_content().expect("the original response");
    assert_eq!(
        original.content, "echo (edited): hello from alice",
        "{report}"
    );
    assert_eq!(record.original_edits, 1, "{report}");
    assert!(!record.original_deleted, "{report}");
    let followups: Vec<&str> = record
        .followups
        .iter()
        .map(|m| m.content.as_str())
        .collect();
    assert_eq!(followups, ["followup: hello from alice"], "{report}");
}

/// /later: deferred (ephemeral), completed by the first follow-up, which created no message.
fn check_later(record: &InteractionRecord, report: &str) {
    assert!(
        record.rejections.is_empty(),
        "the stand-in refused some of the bot's /later calls: {:?}\n{report}",
        record.rejections
    );
    let kind = record.callback.as_ref().map(|callback| callback.kind);
    assert_eq!(
        kind,
        Some(InteractionResponseType::DeferredChannelMessageWithSource),
        "{report}"
    );
    let original = record
        .original_content()
        .expect("the completed deferred response");
    assert_eq!(original.content, "later: done", "{report}");
    let ephemeral = original
        .flags
        .is_some_and(|flags| flags.contains(MessageFlags::EPHEMERAL));
    assert!(ephemeral, "{report}");
    assert!(record.followups.is_empty(), "{report}");
}

/// /find typed in: discord.py's CommandTree answered the autocomplete with two choices made of
/// what was typed, and nothing else (no message).
fn check_find(runtime: &tokio::runtime::Runtime, find: &InteractionHandle, report: &str) {
    let choices = runtime
        .block_on(find.choices())
        .unwrap_or_else(|error| panic!("the autocomplete's choices: {error}\n{report}"));
    let choices: Vec<_> = choices
        .into_iter()
        .map(|choice| (choice.name, choice.value))
        .collect();
    let expected: Vec<_> = (1..=2)
        .map(|i| {
            let value = CommandOptionChoiceValue::String(format!("{TYPED_TEXT}-{i}"));
            (format!("{TYPED_TEXT} (track {i})"), value)
        })
        .collect();
    assert_eq!(choices, expected, "{report}");
    let record = find.record();
    assert!(
        record.rejections.is_empty(),
        "{:?}\n{report}",
        record.rejections
    );
    assert!(record.original.is_none(), "{report}");
}

/// The button press: answered with UPDATE_MESSAGE (type 7), which edited the button's message.
fn check_skip(record: &InteractionRecord, report: &str) {
    assert!(
        record.rejections.is_empty(),
        "{:?}\n{report}",
        record.rejections
    );
    let kind = record.callback.as_ref().map(|callback| callback.kind);
    assert_eq!(
        kind,
        Some(InteractionResponseType::UpdateMessage),
        "{report}"
    );
    let updated = record
        .updated_message
        .as_ref()
        .expect("the updated message");
    assert_eq!(updated.content, "Skipped", "{report}");
    assert!(updated.components.is_empty(), "{report}");
}

/// The channel's edits and deletions: /echo's @original edit, the press's update, discord.py's
/// `Message.edit` and `Message.delete` of its own message.
fn check_changes(sim: &DiscordSim, guild: &GuildInfo, report: &str) {
    let changes: Vec<String> = sim
        .message_changes(guild.text_channel())
        .into_iter()
        .map(|change| match change {
            MessageChange::Edited(message) => format!("edited {}", message.content),
            MessageChange::Deleted { .. } => "deleted".to_owned(),
        })
        .collect();
    let expected = [
        "edited echo (edited): hello from alice",
        "edited Skipped",
        "edited temporary (edited)",
        "deleted",
    ];
    assert_eq!(changes, expected, "{report}");
}

/// discord.py (unchanged) drives the Discord stand-in: login, READY and GUILD_CREATE into its
/// cache, the bot's voice state, guild commands registered through `CommandTree.sync`, then slash
/// commands invoked here by a scripted user and answered through discord.py's interaction API
/// (a response read back, edited and followed up; a deferred one completed by its follow-up; an
/// autocomplete; a button press answered with an update), and its own channel message edited
/// and deleted.
/// The script checks what discord.py saw; this test checks what the stand-in recorded.
#[test]
fn discord_py_client_drives_the_discord_stand_in() {
    let interpreter = python();
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime for the stand-in");
    let sim = runtime
        .block_on(DiscordSim::start(DiscordConfig::default()))
        .expect("start the Discord stand-in");
    let guild = sim
        .create_guild(&GuildSpec::named("Fidelity guild"))
        .expect("create the guild");
    let alice = guild.member("alice").expect("the default guild has alice");
    // Someone in voice before the bot connects: GUILD_CREATE carries her member and voice state.
    sim.join_voice(guild.id, alice, guild.voice_channel(0))
        .expect("alice joins Music");

    let script = DiscordScript::start(
        &interpreter,
        &discord_script_args(&sim, &guild, &alice.to_string()),
    );
    if let Err(why) = script
        .awaiting("echo")
        .and_then(|_| check_registration(&sim, &guild))
    {
        script.fail(&why);
    }
    let echo =
        SlashCommand::new(guild.id, guild.text_channel(), alice, "echo").string("text", ECHO_TEXT);
    let echo = sim.invoke(&echo).expect("invoke /echo as alice");
    if let Err(why) = script.awaiting("later") {
        script.fail(&why);
    }
    let later = SlashCommand::new(guild.id, guild.text_channel(), alice, "later");
    let later = sim.invoke(&later).expect("invoke /later as alice");
    if let Err(why) = script.awaiting("find") {
        script.fail(&why);
    }
    let typing = SlashCommand::new(guild.id, guild.text_channel(), alice, "find")
        .typing("query", TYPED_TEXT);
    let find = sim.autocomplete(&typing).expect("alice types in /find");
    let message = match script.awaiting("skip").map(|id| id.parse()) {
        Ok(Ok(id)) => id,
        Ok(Err(error)) => script.fail(&format!("the button's message id: {error}")),
        Err(why) => script.fail(&why),
    };
    let press = ButtonPress::new(guild.text_channel(), message, alice, "skip");
    let skip = sim.press_button(&press).expect("alice presses skip");
    let (status, report) = script.finish();
    let Some(status) = status else {
        panic!("the script did not finish within {SCRIPT_TIMEOUT:?}\n{report}");
    };
    assert!(status.success(), "the script failed ({status})\n{report}");

    // What the stand-in recorded of the bot's answers.
    check_echo(&echo.record(), &report);
    check_later(&later.record(), &report);
    check_find(&runtime, &find, &report);
    check_skip(&skip.record(), &report);
    check_changes(&sim, &guild, &report);
    // In the channel: /echo's two messages and the button's (updated); /later's answer is
    // ephemeral, discord.py's temporary message deleted.
    let in_channel: Vec<String> = sim
        .channel_messages(guild.text_channel())
        .into_iter()
        .map(|m| m.content)
        .collect();
    assert_eq!(
        in_channel,
        [
            "echo (edited): hello from alice",
            "followup: hello from alice",
            "Skipped",
        ],
        "{report}"
    );
    // The op 4s of Guild.change_voice_state: join Music self-deafened, then leave.
    let voice: Vec<_> = sim
        .voice_commands()
        .into_iter()
        .map(|command| (command.guild_id, command.channel_id, command.self_deaf))
        .collect();
    let expected = [
        (guild.id, Some(guild.voice_channel(0)), true),
        (guild.id, None, false),
    ];
    assert_eq!(voice, expected, "{report}");
    assert!(sim.bot_voice_state(guild.id).is_none(), "{report}");
    // One identify: discord.py never had to reconnect.
    assert_eq!(sim.identify_count(), 1, "{report}");
    println!("{report}");
    runtime.block_on(sim.shutdown());
}
