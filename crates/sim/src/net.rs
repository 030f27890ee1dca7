//! What both stand-ins' servers share: serving HTTP/1 connections (with upgrades, for their
//! WebSockets) until a kill switch flips, every connection dying with it as with a dead process.

use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Accepts connections on `listener` and serves `app` on each until `kill` flips (or its sender
/// is gone); then it stops accepting and every connection ends at once.
pub(crate) async fn serve_until_killed(
    listener: TcpListener,
    app: axum::Router,
    mut kill: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = flipped(&mut kill) => return,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                continue;
            }
        };
        tracing::debug!(%peer, "connection");
        let service = TowerToHyperService::new(app.clone());
        let mut conn_kill = kill.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades();
            tokio::select! {
                result = conn => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, %error, "connection ended with an error");
                    }
                }
                () = flipped(&mut conn_kill) => {}
            }
        });
    }
}

/// Resolves once the flag is (or becomes) true, or its sender is gone.
pub(crate) async fn flipped(flag: &mut watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`; drop it here.
    let _ = flag.wait_for(|on| *on).await;
}
