//! `/debug/pprof/*` on the admin server: the token, the switch, the caps, and (with the
//! `profiling` feature) a CPU profile that names the function burning the CPU.

use std::sync::Arc;

use admin::pprof::{self, PprofSettings};
use admin::{AdminServer, AdminToken};
use reqwest::StatusCode;
use serde_json::Value;

const TOKEN: &str = "pprof-test-token";

async fn serve(enabled: bool, token: Option<&str>, max_seconds: u64) -> AdminServer {
    let router = pprof::router(PprofSettings {
        enabled,
        max_seconds,
        token: token.and_then(AdminToken::new).map(Arc::new),
    });
    AdminServer::start("127.0.0.1:0".parse().expect("addr"), router)
        .await
        .expect("server")
}

async fn get(server: &AdminServer, path: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client")
        .get(format!("http://{}{path}", server.addr()));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("request");
    let status = response.status();
    (status, response.bytes().await.expect("body").to_vec())
}

fn message(body: &[u8]) -> String {
    serde_json::from_slice::<Value>(body).expect("a JSON error")["error"]
        .as_str()
        .expect("an error message")
        .to_owned()
}

#[tokio::test]
async fn the_endpoints_refuse_without_the_token_and_when_disabled() {
    let server = serve(true, Some(TOKEN), 5).await;
    for path in [
        "/debug/pprof/profile?seconds=1",
        "/debug/pprof/heap",
        "/debug/pprof/allocs",
    ] {
        let (status, _) = get(&server, path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
        let (status, _) = get(&server, path, Some("wrong")).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
    }
    server.stop();

    // No admin token configured: the admin API refuses every call.
    let server = serve(true, None, 5).await;
    let (status, body) = get(&server, "/debug/pprof/allocs", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(message(&body).contains("admin.token"));
    server.stop();

    // profiling.enabled = false: not served, and the answer says how to switch it on.
    let server = serve(false, Some(TOKEN), 5).await;
    for path in ["/debug/pprof/profile?seconds=1", "/debug/pprof/allocs"] {
        let (status, body) = get(&server, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(message(&body).contains("profiling.enabled"), "{path}");
    }
    server.stop();
}

#[tokio::test]
async fn allocator_statistics_are_json() {
    let server = serve(true, Some(TOKEN), 5).await;
    let (status, body) = get(&server, "/debug/pprof/allocs", Some(TOKEN)).await;
    assert_eq!(status, StatusCode::OK);
    let figures: Value = serde_json::from_slice(&body).expect("JSON");
    for key in ["allocated_bytes", "resident_bytes", "heap_profiling"] {
        assert!(figures.get(key).is_some(), "{key} in {figures}");
    }
    assert_eq!(
        figures["profiling_built"],
        Value::Bool(cfg!(feature = "profiling"))
    );
    server.stop();
}

#[cfg(not(feature = "profiling"))]
#[tokio::test]
async fn without_the_feature_the_profiles_answer_501_saying_how_to_build() {
    let server = serve(true, Some(TOKEN), 5).await;
    for path in ["/debug/pprof/profile?seconds=1", "/debug/pprof/heap"] {
        let (status, body) = get(&server, path, Some(TOKEN)).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{path}");
        assert!(message(&body).contains("--features profiling"), "{path}");
    }
    server.stop();
}

#[cfg(feature = "profiling")]
mod with_the_feature {
    use std::sync::atomic::{AtomicBool, Ordering};

    use admin::profiling::stacks::Stacks;

    use super::*;

    #[tokio::test]
    async fn bad_parameters_are_refused_with_the_cap_in_the_message() {
        let server = serve(true, Some(TOKEN), 5).await;
        for (path, needle) in [
            ("/debug/pprof/profile?seconds=6", "5"),
            ("/debug/pprof/profile?seconds=0", "5"),
            ("/debug/pprof/profile?seconds=soon", "5"),
            ("/debug/pprof/profile?seconds=1&format=gif", "flamegraph"),
        ] {
            let (status, body) = get(&server, path, Some(TOKEN)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
            assert!(
                message(&body).contains(needle),
                "{path}: {}",
                message(&body)
            );
        }
        // A test binary's allocator cannot sample the heap: said plainly.
        let (status, body) = get(&server, "/debug/pprof/heap", Some(TOKEN)).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(message(&body).contains("jemalloc"));
        server.stop();
    }

    /// Burns CPU until `stop`, in a function whose name the profile must show.
    #[inline(never)]
    fn burn_cpu_in_a_named_function(stop: &AtomicBool) -> u64 {
        let mut x: u64 = 1;
        while !stop.load(Ordering::Relaxed) {
            for i in 0..10_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i));
            }
        }
        x
    }

    // One test takes CPU profiles (the sampling timer is process-wide): the named function, the
    // flamegraph, and one profile at a time.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_cpu_profile_shows_the_function_burning_cpu_and_one_runs_at_a_time() {
        let server = Arc::new(serve(true, Some(TOKEN), 5).await);
        let stop = Arc::new(AtomicBool::new(false));
        let burner = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || burn_cpu_in_a_named_function(&stop))
        };

        let (status, body) = get(&server, "/debug/pprof/profile?seconds=2", Some(TOKEN)).await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.starts_with(&[0x1f, 0x8b]), "gzipped");
        let stacks = Stacks::from_pprof(&body).expect("a pprof profile");
        assert!(stacks.total() > 0, "samples");
        let burning: i64 = stacks
            .stacks
            .iter()
            .filter(|(stack, _)| {
                stack
                    .iter()
                    .any(|frame| frame.contains("burn_cpu_in_a_named_function"))
            })
            .map(|(_, value)| value)
            .sum();
        assert!(
            burning > 0,
            "the burner is in the profile: {:?}",
            stacks.top_self(10)
        );
        // Where the samples landed: the burner, not the profiler's own unwinding.
        assert!(
            !stacks
                .top_self(3)
                .iter()
                .any(|(name, _)| name.starts_with("backtrace::")),
            "{:?}",
            stacks.top_self(3)
        );

        let (status, svg) = get(
            &server,
            "/debug/pprof/profile?seconds=1&format=flamegraph",
            Some(TOKEN),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let svg = String::from_utf8(svg).expect("UTF-8");
        assert!(svg.contains("<svg"));
        assert!(svg.contains("burn_cpu_in_a_named_function"));

        // Two profiles asked for at once: one runs, the other is refused (whichever arrives first
        // wins; both last long enough to overlap).
        let ask = || {
            let server = Arc::clone(&server);
            tokio::spawn(async move {
                get(&server, "/debug/pprof/profile?seconds=3", Some(TOKEN)).await
            })
        };
        let (first, second) = (ask(), ask());
        let (first, second) = (first.await.expect("first"), second.await.expect("second"));
        let mut statuses = [first.0, second.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "one profile at a time"
        );
        let refused = if first.0 == StatusCode::CONFLICT {
            &first.1
        } else {
            &second.1
        };
        assert!(message(refused).contains("one at a time"));

        stop.store(true, Ordering::Relaxed);
        burner.join().expect("burner");
    }
}
