//! `/metrics` over HTTP: the formats a scraper can ask for, and the credentials it must send
//! when they are configured.

use admin::AdminServer;
use admin::metrics::{ScrapeAuth, router};
use telemetry::Metrics;

async fn serve(auth: ScrapeAuth) -> (AdminServer, String) {
    let metrics = Metrics::new(["play"]);
    metrics.record_command(
        "play",
        telemetry::CommandOutcome::Ok,
        std::time::Duration::from_millis(2),
    );
    let server = AdminServer::start("127.0.0.1:0".parse().expect("addr"), router(metrics, auth))
        .await
        .expect("listen");
    let url = format!("http://{}/metrics", server.addr());
    (server, url)
}

#[tokio::test]
async fn open_metrics_speak_prometheus_text_and_openmetrics_on_request() {
    let (_server, url) = serve(ScrapeAuth::default()).await;
    let client = reqwest::Client::new();

    let response = client.get(&url).send().await.expect("scrape");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.expect("body");
    assert!(
        text.contains("# TYPE dimby_commands_total counter"),
        "{text}"
    );
    assert!(text.contains(r#"dimby_commands_total{command="play",outcome="ok"} 1"#));
    assert!(!text.contains("# EOF"));

    let response = client
        .get(&url)
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .expect("scrape");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.expect("body");
    assert!(text.contains("# TYPE dimby_commands counter"), "{text}");
    assert!(text.ends_with("# EOF\n"));
}

#[tokio::test]
async fn configured_credentials_are_required() {
    let (_server, url) = serve(ScrapeAuth::new(Some("prom:s3cret"), None)).await;
    let client = reqwest::Client::new();

    let response = client.get(&url).send().await.expect("scrape");
    assert_eq!(response.status(), 401);
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Basic")
    );
    let response = client
        .get(&url)
        .basic_auth("prom", Some("wrong"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 401);
    let body = response.text().await.expect("body");
    assert!(
        !body.contains("s3cret"),
        "the expected secret is never echoed: {body}"
    );
    let response = client
        .get(&url)
        .basic_auth("prom", Some("s3cret"))
        .send()
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
}
