//! The admin server when the process runs out of file descriptors: `dimby demo` with a low fd
//! limit (set on the running process with util-linux's `prlimit`) and a flood of idle
//! connections. Accepting fails with "too many open files"; the server closes its oldest idle
//! connection to make room, counts it, and `/livez` keeps answering.
#![cfg(target_os = "linux")]

use std::time::Duration;

const GUARD: Duration = Duration::from_secs(60);

async fn get(client: &reqwest::Client, url: &str) -> Option<(u16, String)> {
    let response = client.get(url).send().await.ok()?;
    let status = response.status().as_u16();
    Some((status, response.text().await.unwrap_or_default()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn livez_answers_when_the_process_runs_out_of_file_descriptors() {
    let admin = test_support::free_port();
    let data = tempfile::tempdir().expect("temp dir");
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_dimby"))
        .args(["demo", "--guilds", "1", "--every", "3600", "--admin-listen"])
        .arg(admin.to_string())
        .arg("--data-dir")
        .arg(data.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start dimby demo");
    let pid = demo.id().expect("pid");
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let base = format!("http://{admin}");
    tokio::time::timeout(GUARD, async {
        while get(&client, &format!("{base}/readyz")).await.map(|r| r.0) != Some(200) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the demo is ready within the guard");

    // Leave the demo 24 descriptors beyond what it holds now.
    let open = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("the demo's fds")
        .count();
    let limit = open + 24;
    let set = std::process::Command::new("prlimit")
        .arg(format!("--pid={pid}"))
        .arg(format!("--nofile={limit}:{limit}"))
        .status()
        .expect("run prlimit (util-linux)");
    assert!(set.success(), "prlimit failed");

    // Four times as many idle connections as it has descriptors left.
    let mut idle = Vec::new();
    for _ in 0..96 {
        idle.push(
            tokio::net::TcpStream::connect(admin)
                .await
                .expect("connect"),
        );
    }
    let (status, _) = tokio::time::timeout(GUARD, get(&client, &format!("{base}/livez")))
        .await
        .expect("/livez within the guard")
        .expect("/livez answers");
    assert_eq!(status, 200);
    let (_, metrics) = get(&client, &format!("{base}/metrics"))
        .await
        .expect("/metrics answers");
    let closed: f64 = metrics
        .lines()
        .find_map(|line| {
            line.strip_prefix(r#"dimby_admin_connections_closed_total{reason="accept_failed"}"#)?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0.0);
    assert!(
        closed >= 1.0,
        "the accept failures made room by closing idle connections: {closed}"
    );
    drop(idle);
    demo.start_kill().expect("stop the demo");
    let _ = demo.wait().await;
}
