//! What `dimby run` says when Discord's REST API cannot be checked at start.

use std::time::Duration;

use discord::{Settings, Standby};

const TOKEN: &str = "startup-test-token-secret";

/// A REST endpoint that takes connections and never answers: every request times out.
#[tokio::test]
async fn a_rest_timeout_says_it_timed_out_and_does_not_blame_the_token() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let mut settings = Settings::new(TOKEN);
    settings.rest_proxy = Some(addr.to_string());
    settings.rest_timeout = Duration::from_millis(200);
    let Err(error) = Standby::connect(settings).await else {
        panic!("a silent REST API was accepted")
    };
    let advice = error.startup_advice();
    assert!(advice.contains("timed out"), "{advice}");
    assert!(advice.contains("token was not checked"), "{advice}");
    assert!(!advice.contains("is discord.token right"), "{advice}");
    assert!(!advice.contains(TOKEN), "{advice}");
    silent.abort();
}

/// Nothing listens: the transport's reason is given, not an empty cause.
#[tokio::test]
async fn an_unreachable_rest_api_says_what_the_transport_said() {
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let mut settings = Settings::new(TOKEN);
    settings.rest_proxy = Some(addr.to_string());
    let Err(error) = Standby::connect(settings).await else {
        panic!("an unreachable REST API was accepted")
    };
    let advice = error.startup_advice();
    assert!(
        advice.starts_with("cannot reach Discord's REST API ("),
        "{advice}"
    );
    assert!(!advice.contains("()"), "{advice}");
    assert!(!advice.contains(TOKEN), "{advice}");
}
