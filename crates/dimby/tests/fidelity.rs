//! Fidelity proofs: the Lavalink v4 stand-in (`dimby sim lavalink`) driven by independent Python
//! clients, `tests/fidelity/lavalink_py_client.py` (Lavalink.py, unchanged) and
//! `tests/fidelity/conformance.py` (checks written from Lavalink's docs and server source).
//!
//! Each test starts its own stand-in on a free loopback port, runs one script against it with the
//! interpreter named by `DIMBY_PYTHON` (set by `./scripts/test` to a virtualenv holding
//! `tests/fidelity/requirements.txt`), and passes when the script exits 0. See docs/fidelity.md.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

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

fn start_node() -> Node {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_dimby"))
            .args([
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

/// Runs one fidelity script against a fresh stand-in and asserts it passed.
fn run_script(name: &str) {
    let interpreter = python();
    let node = start_node();
    let started = Instant::now();
    let mut child = KillOnDrop(
        Command::new(&interpreter)
            .arg(script(name))
            .args(["--url", &node.url, "--password", PASSWORD])
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
