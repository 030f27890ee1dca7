//! The REST API of a Lavalink v4 node, with the real server's status codes and messages.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use lavalink::codec::{self, DecodedTrack};
use lavalink::model::{
    ErrorResponse, Filters, Git, GuildId, IncomingMessage, Info, LoadResult, Player, PlaylistData,
    PlaylistInfo, SessionInfo, Track, TrackInfo, UpdatePlayer, UpdateSession, Version,
};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::catalogue::{self, Loaded};
use super::config::LAVAPLAYER_VERSION;
use super::node::AppState;
use super::playback::{NewTrack, SimPlayer, Timing};

/// A failed REST call: status and message. The `error_body` middleware turns it into
/// Lavalink's error body (it knows the path and the time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

/// Carried from a failed handler to the `error_body` middleware.
#[derive(Debug, Clone)]
struct ErrorMarker(String);

impl ApiError {
    /// An error with a status and message.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The response before the body is filled in.
    pub fn into_response_with_marker(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(ErrorMarker(self.message));
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.into_response_with_marker()
    }
}

/// Adds `Lavalink-Api-Version: 4` to every answer.
pub(crate) async fn api_version(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert("Lavalink-Api-Version", HeaderValue::from_static("4"));
    response
}

/// Fills in Lavalink's error body `{timestamp, status, error, trace?, message, path}`.
///
/// `trace` only when the query asks for it: Lavalink's `application.yml` sets
/// `server.error.include-stacktrace: ON_PARAM`, and Spring Boot's error controller then adds the
/// stack trace when the `trace` parameter is present and not `false` (any case).
pub(crate) async fn error_body(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path().to_owned();
    let wants_trace = trace_requested(request.uri());
    let mut response = next.run(request).await;
    let Some(ErrorMarker(message)) = response.extensions_mut().remove::<ErrorMarker>() else {
        return response;
    };
    let status = response.status();
    let body = ErrorResponse {
        timestamp: shared.wall_now_ms(),
        status: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Error").to_owned(),
        trace: wants_trace.then(|| stack_trace(status, &message)),
        message,
        path,
    };
    let mut answer = (status, Json(body)).into_response();
    for (name, value) in response.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    answer
}

/// Whether the query asks for the stack trace, as Spring Boot's
/// `AbstractErrorController.getTraceParameter` decides: the first `trace` parameter is present
/// and is not `false` (ignoring case), so `trace`, `trace=` and `trace=1` ask for it too.
fn trace_requested(uri: &Uri) -> bool {
    Query::<Vec<(String, String)>>::try_from_uri(uri).is_ok_and(|Query(pairs)| {
        pairs
            .iter()
            .find(|(name, _)| name == "trace")
            .is_some_and(|(_, value)| !value.eq_ignore_ascii_case("false"))
    })
}

/// A stack trace for an error body. The real node prints the Java exception behind the error
/// (usually Spring's `ResponseStatusException`) and its frames; the stand-in has no Java frames,
/// so it writes the exception line a `ResponseStatusException` would give and one frame that
/// says where it comes from.
fn stack_trace(status: StatusCode, message: &str) -> String {
    let name = status
        .canonical_reason()
        .unwrap_or("ERROR")
        .to_ascii_uppercase()
        .replace([' ', '-'], "_");
    format!(
        "org.springframework.web.server.ResponseStatusException: {} {name} \"{message}\"\n\tat dimby.sim.lavalink.Rest(stand-in)\n",
        status.as_u16()
    )
}

/// REST authorization: missing gives 401, wrong gives 403, both without a body (as Lavalink).
pub(crate) async fn authorize(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match request.headers().get(header::AUTHORIZATION) {
        None => {
            tracing::warn!(path = %request.uri().path(), "authorization missing");
            StatusCode::UNAUTHORIZED.into_response()
        }
        Some(value) if value.as_bytes() != shared.config.password.as_bytes() => {
            tracing::warn!(path = %request.uri().path(), "authorization failed");
            StatusCode::FORBIDDEN.into_response()
        }
        Some(_) => {
            tracing::debug!(method = %request.method(), path = %request.uri().path(), "request");
            next.run(request).await
        }
    }
}

/// Anything no route matched (Spring's message for a missing resource).
pub(crate) async fn not_found(request: Request) -> ApiError {
    no_route(request.uri())
}

fn no_route(uri: &Uri) -> ApiError {
    let path = uri.path().trim_start_matches('/');
    ApiError::not_found(format!("No static resource {path}."))
}

/// `GET /version`.
pub(crate) async fn version(State(shared): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain;charset=UTF-8")],
        shared.config.version.clone(),
    )
}

/// `GET /v4/info`.
pub(crate) async fn info(State(shared): State<AppState>) -> Json<Info> {
    let semver = shared.config.version.clone();
    let mut numbers = semver
        .split(['.', '-', '+'])
        .map(|part| part.parse::<u32>().unwrap_or_default());
    Json(Info {
        version: Version {
            major: numbers.next().unwrap_or_default(),
            minor: numbers.next().unwrap_or_default(),
            patch: numbers.next().unwrap_or_default(),
            semver,
            pre_release: None,
            build: None,
        },
        build_time: 1_735_689_600_000,
        git: Git {
            branch: "sim".into(),
            commit: "0000000".into(),
            commit_time: 1_735_689_600_000,
        },
        jvm: "21.0.5".into(),
        lavaplayer: LAVAPLAYER_VERSION.into(),
        source_managers: ["youtube", "soundcloud", "http", "sim"]
            .map(String::from)
            .to_vec(),
        filters: [
            "volume",
            "equalizer",
            "karaoke",
            "timescale",
            "tremolo",
            "vibrato",
            "distortion",
            "rotation",
            "channelMix",
            "lowPass",
        ]
        .map(String::from)
        .to_vec(),
        plugins: shared.config.plugins.clone(),
    })
}

/// `GET /v4/stats` (frameStats always null).
pub(crate) async fn stats(State(shared): State<AppState>) -> impl IntoResponse {
    let load = shared.overload_level();
    Json(shared.with_state(|state, now| state.stats(None, now, load)))
}

#[derive(Debug, Deserialize)]
pub(crate) struct LoadQuery {
    identifier: Option<String>,
}

/// `GET /v4/loadtracks?identifier=`.
pub(crate) async fn load_tracks(
    Query(query): Query<LoadQuery>,
) -> Result<Json<LoadResult>, ApiError> {
    let identifier = query
        .identifier
        .ok_or_else(|| ApiError::bad_request("Required parameter 'identifier' is not present."))?;
    tracing::debug!(identifier, "loading");
    let result = match catalogue::load(&identifier) {
        Loaded::Track(info) => LoadResult::Track(encode(info)?),
        Loaded::Playlist {
            name,
            selected,
            tracks,
        } => LoadResult::Playlist(PlaylistData {
            info: PlaylistInfo {
                name,
                selected_track: selected,
            },
            plugin_info: Map::new(),
            tracks: tracks.into_iter().map(encode).collect::<Result<_, _>>()?,
        }),
        Loaded::Search(tracks) => {
            LoadResult::Search(tracks.into_iter().map(encode).collect::<Result<_, _>>()?)
        }
        Loaded::Empty => LoadResult::Empty,
        Loaded::Error(exception) => LoadResult::Error(exception),
    };
    Ok(Json(result))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DecodeQuery {
    encoded_track: Option<String>,
    track: Option<String>,
}

/// `GET /v4/decodetrack?encodedTrack=`.
pub(crate) async fn decode_track(
    Query(query): Query<DecodeQuery>,
) -> Result<Json<Track>, ApiError> {
    let encoded = query
        .encoded_track
        .or(query.track)
        .ok_or_else(|| ApiError::bad_request("No track to decode provided"))?;
    Ok(Json(decoded_track(&encoded)?))
}

/// `POST /v4/decodetracks` with a JSON array of encoded tracks.
pub(crate) async fn decode_tracks(body: Bytes) -> Result<Json<Vec<Track>>, ApiError> {
    let encoded: Vec<String> = parse_body(&body)?;
    if encoded.is_empty() {
        return Err(ApiError::bad_request("No tracks to decode provided"));
    }
    let tracks = encoded
        .iter()
        .map(|one| decoded_track(one))
        .collect::<Result<_, _>>()?;
    Ok(Json(tracks))
}

/// `PATCH /v4/sessions/{sessionId}`; on a server without session resuming the route does not
/// exist: 404 as for any unknown path, whatever the session and body.
pub(crate) async fn update_session(
    State(shared): State<AppState>,
    Path(session_id): Path<String>,
    uri: Uri,
    body: Bytes,
) -> Result<Json<SessionInfo>, ApiError> {
    if !shared.config.behaviour.session_resuming {
        tracing::debug!(session = session_id, "no session resuming on this server");
        return Err(no_route(&uri));
    }
    let update: UpdateSession = parse_body(&body)?;
    shared.with_state(|state, _| {
        let session = state
            .open_session(&session_id)
            .ok_or_else(session_not_found)?;
        if let Some(resuming) = update.resuming {
            session.resuming = resuming;
        }
        if let Some(timeout) = update.timeout {
            session.timeout_secs = timeout;
        }
        tracing::info!(
            session = session_id,
            resuming = session.resuming,
            timeout = session.timeout_secs,
            "session updated"
        );
        Ok(Json(SessionInfo {
            resuming: session.resuming,
            timeout: session.timeout_secs,
        }))
    })
}

/// `GET /v4/sessions/{sessionId}/players`.
pub(crate) async fn players(
    State(shared): State<AppState>,
    Path(session_id): Path<String>,
) -> Result<Json<Vec<Player>>, ApiError> {
    shared.with_state(|state, now| {
        let timing = state.timing;
        let session = state
            .open_session(&session_id)
            .ok_or_else(session_not_found)?;
        Ok(Json(
            session
                .players
                .values()
                .map(|player| player.to_model(now, &timing))
                .collect(),
        ))
    })
}

/// `GET /v4/sessions/{sessionId}/players/{guildId}`: never creates a player.
pub(crate) async fn player(
    State(shared): State<AppState>,
    Path((session_id, guild)): Path<(String, String)>,
) -> Result<Json<Player>, ApiError> {
    let guild = parse_guild(&guild)?;
    shared.with_state(|state, now| {
        let timing = state.timing;
        let session = state
            .open_session(&session_id)
            .ok_or_else(session_not_found)?;
        let player = session
            .players
            .get(&guild)
            .ok_or_else(|| ApiError::not_found("Player not found"))?;
        Ok(Json(player.to_model(now, &timing)))
    })
}

/// `DELETE /v4/sessions/{sessionId}/players/{guildId}`: 204, TrackEnd `stopped` if one played.
pub(crate) async fn destroy_player(
    State(shared): State<AppState>,
    Path((session_id, guild)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let guild = parse_guild(&guild)?;
    shared.with_state(|state, now| {
        let session = state
            .open_session(&session_id)
            .ok_or_else(session_not_found)?;
        let messages = session
            .players
            .remove(&guild)
            .map(|mut player| player.stop(now))
            .unwrap_or_default();
        for message in messages {
            state.send(&session_id, message);
        }
        Ok(StatusCode::NO_CONTENT)
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PatchQuery {
    #[serde(default)]
    no_replace: bool,
}

/// What a PATCH asks about the track, after the checks.
enum TrackRequest {
    Stop,
    Play(Box<NewTrack>),
}

/// `PATCH /v4/sessions/{sessionId}/players/{guildId}?noReplace=`, in the order of Lavalink's
/// `PlayerRestHandler.patchPlayer`. On a server that serves requests one at a time
/// ([`super::ServerBehaviour::serial_player_patches`], see [`serial_service`]) it takes its time
/// (real time) and is applied and answered at the end of it.
pub(crate) async fn update_player(
    State(shared): State<AppState>,
    Path((session_id, guild)): Path<(String, String)>,
    Query(query): Query<PatchQuery>,
    body: Bytes,
) -> Result<Json<Player>, ApiError> {
    if let Some(each) = shared.config.behaviour.serial_player_patches {
        tokio::time::sleep(each).await;
    }
    patch_player(&shared, &session_id, &guild, &query, &body)
}

/// On a server that serves its REST requests one at a time (a single event loop kept busy by
/// player PATCHes, as NodeLink under load), every request waits for those ahead of it, in order
/// of arrival, and runs to the end on a task of its own: a client that gives up waiting does not
/// stop it (a real server carries out a request whose client has gone).
pub(crate) async fn serial_service(
    State(shared): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if shared.config.behaviour.serial_player_patches.is_none() {
        return next.run(request).await;
    }
    let served = tokio::spawn(async move {
        let _turn = shared.rest_turns.lock().await;
        next.run(request).await
    });
    served
        .await
        .unwrap_or_else(|_| ApiError::internal("the request was cancelled").into_response())
}

/// One player PATCH, checked and applied.
fn patch_player(
    shared: &AppState,
    session_id: &str,
    guild: &str,
    query: &PatchQuery,
    body: &[u8],
) -> Result<Json<Player>, ApiError> {
    let guild = parse_guild(guild)?;
    let mut update: UpdatePlayer = parse_body(body)?;
    if update.track == Some(None) {
        // Lavalink's `track` is a non-nullable `Omissible<PlayerUpdateTrack>`: kotlinx refuses
        // the null while reading the body, before the session is looked up.
        tracing::debug!("malformed request body: track is null");
        return Err(malformed_body());
    }
    shared
        .with_state(|state, _| state.open_session(session_id).map(|_| ()))
        .ok_or_else(session_not_found)?;

    let (encoded, identifier, user_data) = match update.track.take().flatten() {
        Some(track) => {
            if update.encoded_track.is_some() || update.identifier.is_some() {
                return Err(ApiError::bad_request(
                    "Cannot specify both track and encodedTrack/identifier",
                ));
            }
            (track.encoded, track.identifier, track.user_data)
        }
        None => (update.encoded_track.take(), update.identifier.take(), None),
    };
    if encoded.is_some() && identifier.is_some() {
        return Err(ApiError::bad_request(
            "Cannot specify both encodedTrack and identifier",
        ));
    }
    if let Some(filters) = &update.filters {
        validate_filters(filters)?;
    }
    if update
        .voice
        .as_ref()
        .is_some_and(|voice| !voice.is_complete())
    {
        return Err(ApiError::bad_request(
            "token, endpoint, sessionId and channelId must be provided in voice state",
        ));
    }
    if update.end_time == Some(Some(0)) {
        return Err(ApiError::bad_request("End time must be greater than 0"));
    }

    // Lavalink loads the track after applying the other fields, so a failed load still leaves
    // them applied; the load itself does not depend on the player, so it is resolved here
    // (without the lock) and its outcome applied in that order below.
    let new_track = match (encoded, identifier) {
        (Some(None), _) => Some(Ok(TrackRequest::Stop)),
        (Some(Some(encoded)), _) => Some(resolve_encoded(&encoded)),
        (None, Some(identifier)) => Some(resolve_identifier(&identifier)),
        (None, None) => None,
    };

    let request = PatchRequest {
        update,
        user_data,
        new_track,
        no_replace: query.no_replace,
    };
    shared.with_state(|state, now| {
        let timing = state.timing;
        let session = state
            .open_session(session_id)
            .ok_or_else(session_not_found)?;
        let player = session
            .players
            .entry(guild)
            .or_insert_with(|| SimPlayer::new(guild));
        let (out, result) = apply(player, now, &timing, request);
        let answer = player.to_model(now, &timing);
        for message in out {
            state.send(session_id, message);
        }
        result.map(|()| Json(answer))
    })
}

/// A checked PATCH.
struct PatchRequest {
    update: UpdatePlayer,
    user_data: Option<Map<String, Value>>,
    new_track: Option<Result<TrackRequest, ApiError>>,
    no_replace: bool,
}

/// Applies a checked PATCH to a player; answers the messages to send and whether the track
/// part failed (the rest stays applied, as in Lavalink).
fn apply(
    player: &mut SimPlayer,
    now: Instant,
    timing: &Timing,
    request: PatchRequest,
) -> (Vec<IncomingMessage>, Result<(), ApiError>) {
    let PatchRequest {
        update,
        user_data,
        new_track,
        no_replace,
    } = request;
    let mut out = Vec::new();
    let playing_new = new_track.is_some();
    // NodeLink plays a PATCH with any of these through its ffmpeg seek path.
    let seek_path =
        update.position.is_some() || update.filters.is_some() || update.end_time.is_some();
    // A changed voice state (re)connects; the voice gateway becoming ready sends an update.
    if update
        .voice
        .is_some_and(|voice| player.set_voice(now, voice))
    {
        out.push(player.update_message(now, timing));
    }
    if !playing_new {
        if let Some(paused) = update.paused {
            player.set_paused(now, paused);
        }
        if let Some(user_data) = user_data.clone() {
            player.set_user_data(user_data);
        }
    }
    if let Some(volume) = update.volume {
        player.set_volume(volume);
    }
    if !playing_new {
        if let Some(position) = update.position.filter(|_| player.has_track()) {
            player.seek(now, position, timing);
            out.push(player.update_message(now, timing));
        }
        if let Some(end_time) = update.end_time {
            player.set_end_time(now, end_time);
        }
    }
    if let Some(filters) = update.filters {
        player.set_filters(filters);
        out.push(player.update_message(now, timing));
    }
    let result = match new_track {
        Some(_) if no_replace && player.has_track() => {
            tracing::debug!("skipping play request because of noReplace");
            Ok(())
        }
        Some(Ok(TrackRequest::Play(mut new))) => {
            if let Some(position) = update.position {
                new.position = Some(position);
            }
            if let Some(user_data) = user_data {
                new.user_data = user_data;
            }
            new.end_time = update.end_time.flatten();
            let paused = update.paused.unwrap_or(false);
            let at_position = update.position.is_some();
            out.extend(player.play(now, *new, paused, at_position, timing));
            Ok(())
        }
        Some(Ok(TrackRequest::Stop)) => {
            player.set_paused(now, update.paused.unwrap_or(false));
            out.extend(player.stop(now));
            Ok(())
        }
        Some(Err(error)) => Err(error),
        None => Ok(()),
    };
    if seek_path && result.is_ok() {
        player.seek_path_taken(now, timing);
    }
    (out, result)
}

fn resolve_encoded(encoded: &str) -> Result<TrackRequest, ApiError> {
    let decoded = codec::decode_track(encoded)
        .map_err(|error| ApiError::internal(format!("Failed to decode track: {error}")))?;
    Ok(TrackRequest::Play(Box::new(new_track(
        decoded,
        encoded.to_owned(),
    ))))
}

fn resolve_identifier(identifier: &str) -> Result<TrackRequest, ApiError> {
    let info = match catalogue::load(identifier) {
        Loaded::Track(info) => info,
        Loaded::Empty => return Err(ApiError::bad_request("No matches found for identifier")),
        Loaded::Playlist { .. } | Loaded::Search(_) => {
            return Err(ApiError::bad_request(
                "Cannot play a playlist or search result",
            ));
        }
        Loaded::Error(exception) => {
            return Err(ApiError::bad_request(exception.message.unwrap_or_default()));
        }
    };
    let decoded = fresh(info);
    let encoded = codec::encode_decoded(&decoded)
        .map_err(|error| ApiError::internal(format!("Failed to encode track: {error}")))?;
    Ok(TrackRequest::Play(Box::new(new_track(decoded, encoded))))
}

fn new_track(decoded: DecodedTrack, encoded: String) -> NewTrack {
    let position = Some(decoded.info.position).filter(|p| *p > 0);
    NewTrack {
        behaviour: catalogue::behaviour(&decoded.info),
        decoded,
        encoded,
        user_data: Map::new(),
        position,
        end_time: None,
    }
}

/// A freshly loaded track as lavaplayer would encode it: the current message version and the
/// source's own bytes (the probe name of an `http` track).
fn fresh(info: TrackInfo) -> DecodedTrack {
    DecodedTrack {
        version: codec::CURRENT_VERSION,
        source_data: catalogue::source_data(&info),
        info,
    }
}

/// Encodes track info as a freshly loaded track.
fn encode(info: TrackInfo) -> Result<Track, ApiError> {
    let decoded = fresh(info);
    let encoded = codec::encode_decoded(&decoded)
        .map_err(|error| ApiError::internal(format!("Failed to encode track: {error}")))?;
    Ok(Track {
        encoded,
        info: decoded.info,
        plugin_info: Map::new(),
        user_data: Map::new(),
    })
}

/// Decodes an encoded track for the decode endpoints (500 when malformed, as Lavalink).
fn decoded_track(encoded: &str) -> Result<Track, ApiError> {
    let decoded = codec::decode_track(encoded)
        .map_err(|error| ApiError::internal(format!("Failed to decode track: {error}")))?;
    Ok(Track {
        encoded: encoded.to_owned(),
        info: decoded.info,
        plugin_info: Map::new(),
        user_data: Map::new(),
    })
}

fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|error| {
        tracing::debug!(%error, "malformed request body");
        malformed_body()
    })
}

/// A body that does not read as the expected type. In Lavalink the kotlinx converter throws,
/// Spring turns that into `HttpMessageNotReadableException`, whose default handler calls
/// `sendError(400)` without a message, so Undertow fills in the reason phrase and Spring Boot's
/// error attributes report it as the message.
fn malformed_body() -> ApiError {
    ApiError::bad_request("Bad Request")
}

fn parse_guild(raw: &str) -> Result<GuildId, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Method parameter 'guildId': Failed to convert value of type 'java.lang.String' to required type 'long'; For input string: \"{raw}\""
        ))
    })
}

fn session_not_found() -> ApiError {
    ApiError::not_found("Session not found")
}

/// Range checks on filters (documented ranges; see docs/sim.md for where the real node differs).
fn validate_filters(filters: &Filters) -> Result<(), ApiError> {
    let bad = |message: String| Err(ApiError::bad_request(message));
    if let Some(volume) = filters.volume.filter(|v| !(0.0..=5.0).contains(v)) {
        return bad(format!(
            "Filter volume must be between 0.0 and 5.0, got {volume}"
        ));
    }
    for band in filters.equalizer.iter().flatten() {
        if band.band > 14 {
            return bad(format!(
                "Equalizer band must be between 0 and 14, got {}",
                band.band
            ));
        }
        if !(-0.25..=1.0).contains(&band.gain) {
            return bad(format!(
                "Equalizer gain must be between -0.25 and 1.0, got {} for band {}",
                band.gain, band.band
            ));
        }
    }
    if let Some(timescale) = filters.timescale {
        for (name, value) in [
            ("speed", timescale.speed),
            ("pitch", timescale.pitch),
            ("rate", timescale.rate),
        ] {
            if value.is_some_and(|v| v < 0.0) {
                return bad(format!("Timescale {name} must be at least 0.0"));
            }
        }
    }
    for (name, depth) in [
        ("Tremolo", filters.tremolo.and_then(|t| t.depth)),
        ("Vibrato", filters.vibrato.and_then(|v| v.depth)),
    ] {
        if depth.is_some_and(|d| d <= 0.0 || d > 1.0) {
            return bad(format!("{name} depth must be above 0.0 and at most 1.0"));
        }
    }
    if filters
        .vibrato
        .and_then(|v| v.frequency)
        .is_some_and(|f| f <= 0.0 || f > 14.0)
    {
        return bad("Vibrato frequency must be above 0.0 and at most 14.0".into());
    }
    if filters
        .tremolo
        .and_then(|t| t.frequency)
        .is_some_and(|f| f <= 0.0)
    {
        return bad("Tremolo frequency must be above 0.0".into());
    }
    Ok(())
}
