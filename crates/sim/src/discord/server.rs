//! The HTTP server: the gateway at `/`, REST under `/api/v10` and the control endpoint under
//! `/sim` on one port, and an accept loop whose connections all end when the stand-in shuts
//! down.

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tokio::net::TcpListener;

use super::control;
use super::gateway;
use super::interactions;
use super::messages;
use super::resources;
use super::rest::{self, ApiError};
use super::state::Shared;

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        0,
        "405: Method Not Allowed",
    )
}

/// Every route of the stand-in.
pub(crate) fn router(shared: &Arc<Shared>) -> Router {
    let bot = Router::new()
        .route("/gateway/bot", get(rest::get_gateway_bot))
        .route(
            "/users/@me",
            get(rest::get_current_user).patch(resources::modify_current_user),
        )
        .route("/users/{user}", get(resources::get_user))
        .route("/oauth2/applications/@me", get(rest::get_application))
        .route("/applications/@me", get(rest::get_application))
        .route(
            "/applications/{app}/commands",
            get(rest::get_global_commands)
                .put(rest::put_global_commands)
                .post(rest::post_global_command),
        )
        .route(
            "/applications/{app}/commands/{command}",
            get(resources::get_global_command)
                .patch(resources::edit_global_command)
                .delete(resources::delete_global_command),
        )
        .route(
            "/applications/{app}/guilds/{guild}/commands/{command}",
            get(resources::get_guild_command)
                .patch(resources::edit_guild_command)
                .delete(resources::delete_guild_command),
        )
        .route(
            "/applications/{app}/guilds/{guild}/commands",
            get(rest::get_guild_commands)
                .put(rest::put_guild_commands)
                .post(rest::post_guild_command),
        )
        .route("/channels/{channel}", get(rest::get_channel))
        .route(
            "/channels/{channel}/messages",
            get(resources::list_messages).post(rest::create_message),
        )
        .route(
            "/channels/{channel}/typing",
            post(resources::trigger_typing),
        )
        .route(
            "/channels/{channel}/messages/{message}",
            get(messages::get_message)
                .patch(messages::edit_message)
                .delete(messages::delete_message),
        )
        .route("/guilds/{guild}", get(rest::get_guild))
        .route("/guilds/{guild}/roles", get(resources::get_roles))
        .route("/guilds/{guild}/channels", get(resources::get_channels))
        .route("/guilds/{guild}/members", get(resources::list_members))
        .route("/guilds/{guild}/members/{user}", get(rest::get_member))
        .route(
            "/guilds/{guild}/voice-states/{user}",
            get(rest::get_voice_state),
        )
        .route_layer(from_fn_with_state(Arc::clone(shared), rest::authorize));
    // Interaction and webhook endpoints authenticate with the token in the path.
    let open = Router::new()
        .route("/gateway", get(rest::get_gateway))
        .route(
            "/interactions/{id}/{token}/callback",
            post(interactions::callback),
        )
        .route(
            "/webhooks/{app}/{token}",
            post(interactions::create_followup),
        )
        .route(
            "/webhooks/{app}/{token}/messages/@original",
            get(interactions::get_original)
                .patch(interactions::edit_original)
                .delete(interactions::delete_original),
        )
        .route(
            "/webhooks/{app}/{token}/messages/{message}",
            get(interactions::get_followup)
                .patch(interactions::edit_followup)
                .delete(interactions::delete_followup),
        );
    let api = bot
        .merge(open)
        .fallback(rest::not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(from_fn_with_state(Arc::clone(shared), rest::rate_limits));
    Router::new()
        .route("/", get(gateway::upgrade))
        .nest("/api/v10", api)
        .merge(control::router(shared))
        .fallback(rest::not_found)
        .with_state(Arc::clone(shared))
}

/// Accepts connections until the kill switch flips; each connection ends with it.
pub(crate) async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let kill = shared.kill.subscribe();
    crate::net::serve_until_killed(listener, router(&shared), kill).await;
}
