//! The HTTP API and the WebSocket. Every failure is a 4xx with an [`ErrorBody`]; only a
//! server that is stopping answers 503.

use super::session::{Attached, Gone, WebSession, WsItem};
use super::upgrade::Socket;
use super::{assets, Web};
use crate::msg::HubMsg;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use hub::{Command, RoomCommand};
use proto::web::{
    AwayRequest, ClientEvent, ErrorBody, ErrorCode, Message, MessageRequest, RoomRequest, SessionRequest,
    SessionResponse, User, LOBBY,
};
use serde::Deserialize;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// The most history one request returns.
const MAX_HISTORY: usize = 500;
/// The largest body of a sign-in: a name and a password, in JSON.
const SESSION_BODY: usize = 4 * 1024;
/// The largest message the page may send on its WebSocket (typing notices only).
const WS_MAX_IN: usize = 16 * 1024;
/// A WebSocket's read buffer: small, since the page sends only typing notices (a larger
/// message grows it for its time). Its writes are gathered by `upgrade::Gathered`, which
/// holds no buffer between batches.
const WS_READ_BUFFER: usize = 256;
const WS_MAX_WRITE_BUFFER: usize = 8 << 20;
/// How often an open WebSocket is pinged.
const WS_PING: Duration = Duration::from_secs(20);
/// How long a WebSocket that closes has to take its last events and the close frame.
const WS_GOODBYE: Duration = Duration::from_secs(5);

pub(super) fn routes(web: Web) -> Router {
    // Health, where orchestrators look for it; the figures have a listener of their own.
    let ops = crate::ops::health(web.shared.clone());
    Router::new()
        .route("/api/openapi.json", get(assets::openapi))
        .route("/api/session", post(create_session).delete(delete_session))
        .route("/api/messages", post(send_message))
        .route("/api/history", get(history))
        .route("/api/conversations", get(conversations))
        .route("/api/users", get(users))
        .route("/api/rooms", get(rooms))
        .route("/api/rooms/join", post(join_room))
        .route("/api/rooms/leave", post(leave_room))
        .route("/api/away", post(away))
        .route("/ws", get(websocket))
        .route("/", get(assets::index))
        .route("/{file}", get(assets::file))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(web)
        .merge(ops)
}

/// A failed request: its status and the JSON body that says why.
pub(super) struct ApiError(pub StatusCode, pub ErrorCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(status, code, error) = self;
        match code {
            ErrorCode::BadRequest | ErrorCode::TooLarge | ErrorCode::Timeout => {
                tracing::info!(status = status.as_u16(), ?code, %error, "bad web request")
            }
            _ => tracing::debug!(status = status.as_u16(), ?code, %error, "refused a web request"),
        }
        let mut response = (status, Json(ErrorBody { code, error })).into_response();
        if matches!(code, ErrorCode::TooLarge | ErrorCode::Timeout) {
            // What is left of the body is never read: the connection cannot carry another
            // request.
            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        response
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn bad(error: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, error.into())
}

fn stopping() -> ApiError {
    ApiError(StatusCode::SERVICE_UNAVAILABLE, ErrorCode::Unavailable, "the server is stopping".into())
}

async fn method_not_allowed() -> ApiError {
    ApiError(StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed, "not with this method".into())
}

async fn not_found() -> ApiError {
    ApiError(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such page or endpoint".into())
}

/// The hub's refusal as an HTTP answer; `to` names the recipient, if there was one.
fn refused(code: ErrorCode, to: Option<&str>) -> ApiError {
    let (status, error) = match code {
        ErrorCode::NameTaken => (
            StatusCode::CONFLICT,
            "that name is taken: someone online has it, or it belongs to an account or a device".into(),
        ),
        ErrorCode::InvalidName => (
            StatusCode::BAD_REQUEST,
            format!("a name is 1 to {} characters, with no spaces or control characters", hub::MAX_NAME),
        ),
        ErrorCode::Unreachable => {
            (StatusCode::NOT_FOUND, format!("{} is not online, or cannot receive this", to.unwrap_or("the recipient")))
        }
        ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, "not signed in".into()),
        ErrorCode::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "the hub cannot do that now (its cluster cannot be reached): try again shortly".into(),
        ),
        ErrorCode::NotFound => (StatusCode::NOT_FOUND, format!("no room is named {}", to.unwrap_or("so"))),
        ErrorCode::NotInRoom => (StatusCode::CONFLICT, format!("you are not in {}", to.unwrap_or("that room"))),
        ErrorCode::CannotSend => (
            StatusCode::FORBIDDEN,
            format!("you cannot speak in {} (members only, moderated, or banned)", to.unwrap_or("that room")),
        ),
        ErrorCode::NotOperator => (StatusCode::FORBIDDEN, "only the room's operators may".into()),
        ErrorCode::RoomFull => (StatusCode::CONFLICT, format!("{} is full", to.unwrap_or("the room"))),
        ErrorCode::InviteOnly => {
            (StatusCode::FORBIDDEN, format!("{} takes the invited only", to.unwrap_or("the room")))
        }
        ErrorCode::Banned => (StatusCode::FORBIDDEN, format!("you are banned from {}", to.unwrap_or("the room"))),
        ErrorCode::WrongKey => {
            (StatusCode::FORBIDDEN, format!("{} takes a key: not that one", to.unwrap_or("the room")))
        }
        ErrorCode::TooManyRooms => {
            (StatusCode::CONFLICT, format!("you are in {} rooms already: leave one first", hub::MAX_ROOMS_EACH))
        }
        _ => (StatusCode::CONFLICT, "refused".into()),
    };
    ApiError(status, code, error)
}

/// The request body as `T`, read only now (after the caller checked what it could without
/// it), or why not. It must be at most `limit` bytes: a `Content-Length` over that is
/// answered 413 at once, nothing of the body read; a body that grows past it is answered 413
/// there. It must arrive whole within `web_body_timeout_secs` of its head, else 408, however
/// steadily it trickles in. Not that JSON: 400.
async fn parse<T: for<'de> Deserialize<'de>>(web: &Web, headers: &HeaderMap, body: Body, limit: usize) -> ApiResult<T> {
    let too_large = || {
        ApiError(StatusCode::PAYLOAD_TOO_LARGE, ErrorCode::TooLarge, format!("the request body is over {limit} bytes"))
    };
    let announced = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.trim().parse::<u64>().ok());
    if announced.is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let read = async {
        let mut stream = body.into_data_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| bad(format!("reading the request body: {e}")))?;
            if bytes.len() + chunk.len() > limit {
                return Err(too_large());
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    };
    let timeout = web.shared.config.doors.web.body_timeout();
    let bytes = tokio::time::timeout(timeout, read).await.map_err(|_| {
        let error = format!("the request body did not arrive whole within {} s", timeout.as_secs());
        ApiError(StatusCode::REQUEST_TIMEOUT, ErrorCode::Timeout, error)
    })??;
    serde_json::from_slice(&bytes).map_err(|e| bad(format!("malformed JSON: {e}")))
}

/// The session of the request's bearer token (`Authorization: Bearer …`, or `?token=` where
/// a browser cannot set headers: the WebSocket).
fn session(web: &Web, headers: &HeaderMap, query_token: Option<&str>) -> ApiResult<Arc<WebSession>> {
    let header_token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim);
    let Some(token) = header_token.or(query_token) else {
        return Err(ApiError(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "missing bearer token".into()));
    };
    web.sessions.get(token).ok_or_else(|| {
        ApiError(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "unknown or expired token: sign in again".into())
    })
}

async fn create_session(
    State(web): State<Web>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<(StatusCode, Json<SessionResponse>)> {
    let req: SessionRequest = parse(&web, &headers, body, SESSION_BODY).await?;
    let mut name = req.name.trim().to_owned();
    if !hub::valid_name(&name) || name.eq_ignore_ascii_case(LOBBY) {
        return Err(refused(ErrorCode::InvalidName, None));
    }
    let account = req.password.is_some();
    let origin = peer.ip().to_canonical();
    if let Some(password) = req.password {
        let (logins, account) = (&web.shared.logins, hub::fold(&name));
        if let Err(refused) = logins.attempt(origin, &account, tokio::time::Instant::now()) {
            let left = refused.retry_in().as_secs().max(1);
            tracing::info!(%origin, name, ?refused, "web: too many password attempts; refused unchecked");
            let error = format!("too many sign-in attempts: try again in {left} s");
            return Err(ApiError(StatusCode::TOO_MANY_REQUESTS, ErrorCode::TooManyAttempts, error));
        }
        let checked = name.clone();
        let verdict = web.shared.store.call(move |s| s.verify(&checked, &password)).await.map_err(|_| stopping())?;
        match verdict {
            Ok(store::Verdict::Ok(registered)) => {
                logins.succeeded(origin, &account, tokio::time::Instant::now());
                name = registered;
            }
            Ok(verdict) => {
                if verdict == store::Verdict::WrongPassword {
                    logins.failed(origin, &account, tokio::time::Instant::now());
                }
                return Err(ApiError(
                    StatusCode::UNAUTHORIZED,
                    ErrorCode::WrongPassword,
                    "wrong name or password".into(),
                ));
            }
            Err(e) => {
                tracing::error!(error = %e, "checking a web sign-in");
                web.shared.metrics.store_read_failed("checking a password", &e);
                return Err(stopping());
            }
        }
    }
    match web.sessions.open(&web.shared, origin, name, account).await {
        Ok(Ok(s)) => {
            let body = SessionResponse { token: s.token.clone(), name: s.name.clone(), account };
            Ok((StatusCode::CREATED, Json(body)))
        }
        Ok(Err(code)) => Err(refused(code, None)),
        Err(Gone) => Err(stopping()),
    }
}

async fn delete_session(State(web): State<Web>, headers: HeaderMap) -> ApiResult<StatusCode> {
    session(&web, &headers, None)?.end();
    Ok(StatusCode::NO_CONTENT)
}

async fn send_message(State(web): State<Web>, headers: HeaderMap, body: Body) -> ApiResult<Json<serde_json::Value>> {
    // Signed in first: a stranger's body is never read.
    let me = session(&web, &headers, None)?;
    let req: MessageRequest = parse(&web, &headers, body, web.shared.config.doors.web.max_body()).await?;
    let to = req.to.trim().to_owned();
    let lobby = to.eq_ignore_ascii_case(LOBBY);
    let config = &web.shared.config;
    let command = match (req.text, req.image) {
        (Some(text), None) => {
            if text.trim().is_empty() {
                return Err(bad("the message is empty"));
            }
            if text.len() > config.doors.chatos.max_string {
                return Err(ApiError(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::TooLarge,
                    format!("the message is too long: at most {} bytes", config.doors.chatos.max_string),
                ));
            }
            match lobby {
                true => Command::Lobby { sender: me.name.clone(), text },
                false if to.starts_with('#') => {
                    Command::Room(RoomCommand::Say { room: to.clone(), text, notice: false })
                }
                false => Command::Direct { sender: None, to: to.clone(), text },
            }
        }
        (None, Some(image)) => {
            if lobby {
                return Err(bad("images go to a person, not to the lobby"));
            }
            if image.len() > config.doors.web.max_image_base64() {
                return Err(ApiError(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::TooLarge,
                    format!("the image is too large: at most {} bytes", config.doors.web.max_image),
                ));
            }
            if base64::engine::general_purpose::STANDARD.decode(&image).is_err() {
                return Err(bad("the image is not base64 (standard alphabet, padded)"));
            }
            Command::Image { sender: None, to: to.clone(), data: image }
        }
        _ => return Err(bad("give either \"text\" or \"image\"")),
    };
    match me.command(&web.shared, command).await {
        Ok(None) => {}
        Ok(Some(code)) => return Err(refused(code, Some(&to))),
        Err(Gone) => return Err(session_gone(&me)),
    }
    Ok(Json(serde_json::json!({ "sent": true })))
}

fn session_gone(me: &WebSession) -> ApiError {
    match me.has_ended() {
        true => ApiError(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, "the session ended: sign in again".into()),
        false => stopping(),
    }
}

#[derive(Deserialize)]
struct HistoryQuery {
    /// A person's name: the conversation with them; absent: the lobby.
    with: Option<String>,
    limit: Option<usize>,
    before: Option<i64>,
}

/// Waits until every message the hub kept so far is in the store, so that a read of history
/// shows what was sent or received just before it.
async fn written(web: &Web) -> ApiResult<()> {
    let (reply, written) = tokio::sync::oneshot::channel();
    web.shared.hub.send(HubMsg::Written { reply }).await.map_err(|_| stopping())?;
    written.await.map_err(|_| stopping())
}

async fn history(
    State(web): State<Web>,
    headers: HeaderMap,
    query: Result<Query<HistoryQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<serde_json::Value>> {
    let me = session(&web, &headers, None)?;
    let Query(q) = query.map_err(|e| bad(e.body_text()))?;
    let limit = q.limit.unwrap_or(100).min(MAX_HISTORY);
    let with = q.with.filter(|w| !w.eq_ignore_ascii_case(LOBBY));
    // A room's history is its members' to read.
    if let Some(room) = with.as_ref().filter(|w| w.starts_with('#')) {
        let (tx, rx) = oneshot::channel();
        let asked = HubMsg::Rooms { session: me.session, rooms: Some(vec![room.clone()]), reply: tx };
        web.shared.hub.send(asked).await.map_err(|_| stopping())?;
        let (_, mine) = rx.await.map_err(|_| stopping())?;
        if !mine.iter().any(|r| hub::fold_room(r) == hub::fold_room(room)) {
            return Err(refused(ErrorCode::NotInRoom, Some(room)));
        }
    }
    written(&web).await?;
    let me = me.clone();
    let stored = web
        .shared
        .store
        .call(move |s| match with {
            Some(room) if room.starts_with('#') => s.room_history(&room, limit, q.before),
            Some(other) => s.conversation(me.identity(), &other, limit, q.before),
            None => s.lobby_history(limit, q.before),
        })
        .await
        .map_err(|_| stopping())?
        .map_err(|e| {
            tracing::error!(error = %e, "reading history");
            web.shared.metrics.store_read_failed("reading history", &e);
            stopping()
        })?;
    let messages: Vec<Message> = stored
        .into_iter()
        .map(|s| {
            let image = s.kind == 1;
            Message {
                id: Some(s.id),
                at: s.at_ms,
                from: s.sender,
                to: s.recipient,
                text: (!image).then(|| s.body.clone()),
                image: image.then_some(s.body),
            }
        })
        .collect();
    Ok(Json(serde_json::json!({ "messages": messages })))
}

async fn conversations(State(web): State<Web>, headers: HeaderMap) -> ApiResult<Json<serde_json::Value>> {
    let me = session(&web, &headers, None)?;
    written(&web).await?;
    let partners = web.shared.store.call(move |s| s.partners(me.identity(), 200)).await.map_err(|_| stopping())?;
    let partners = partners.map_err(|e| {
        tracing::error!(error = %e, "reading conversations");
        web.shared.metrics.store_read_failed("reading conversations", &e);
        stopping()
    })?;
    Ok(Json(serde_json::json!({ "conversations": partners })))
}

/// Who is online and on which protocol, then the names that can be written to offline:
/// white-listed JPC devices and accounts.
#[derive(Deserialize)]
struct RoomsQuery {
    /// One room's name: it alone, with its members.
    room: Option<String>,
}

/// `GET /api/rooms`: the rooms the session may see (a secret one only if it is in it), or
/// one room with its members.
async fn rooms(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(query): Query<RoomsQuery>,
) -> ApiResult<Json<serde_json::Value>> {
    let me = session(&web, &headers, None)?;
    let (tx, rx) = oneshot::channel();
    let asked = query.room.map(|r| vec![r]);
    let one = asked.is_some();
    web.shared
        .hub
        .send(HubMsg::Rooms { session: me.session, rooms: asked, reply: tx })
        .await
        .map_err(|_| stopping())?;
    let (views, mine) = rx.await.map_err(|_| stopping())?;
    if one && views.is_empty() {
        return Err(ApiError(StatusCode::NOT_FOUND, ErrorCode::NotFound, "no such room".into()));
    }
    let rooms: Vec<proto::web::Room> = views
        .into_iter()
        .map(|v| proto::web::Room {
            joined: mine.iter().any(|r| hub::fold_room(r) == hub::fold_room(&v.name)),
            topic: v.topic.map(|t| t.text),
            count: v.count,
            members: v.members.iter().map(|(name, m)| super::member(name, *m)).collect(),
            name: v.name,
        })
        .collect();
    Ok(Json(serde_json::json!({ "rooms": rooms })))
}

/// `POST /api/rooms/join`: joins a room, making it if nobody has; what it is comes on the
/// WebSocket (`room_joined`, `room_state`).
async fn join_room(State(web): State<Web>, headers: HeaderMap, body: Body) -> ApiResult<Json<serde_json::Value>> {
    let me = session(&web, &headers, None)?;
    let req: RoomRequest = parse(&web, &headers, body, 4096).await?;
    let command = Command::Room(RoomCommand::Join { room: req.room.clone(), key: req.key });
    room_command(&web, &me, command, &req.room).await
}

/// `POST /api/away`: away with a message, or back.
async fn away(State(web): State<Web>, headers: HeaderMap, body: Body) -> ApiResult<Json<serde_json::Value>> {
    let me = session(&web, &headers, None)?;
    let req: AwayRequest = parse(&web, &headers, body, 4096).await?;
    match me.command(&web.shared, Command::Away { message: req.message }).await {
        Ok(None) => Ok(Json(serde_json::json!({ "done": true }))),
        Ok(Some(code)) => Err(refused(code, None)),
        Err(Gone) => Err(session_gone(&me)),
    }
}

/// `POST /api/rooms/leave`.
async fn leave_room(State(web): State<Web>, headers: HeaderMap, body: Body) -> ApiResult<Json<serde_json::Value>> {
    let me = session(&web, &headers, None)?;
    let req: RoomRequest = parse(&web, &headers, body, 4096).await?;
    let command = Command::Room(RoomCommand::Part { room: req.room.clone(), reason: String::new() });
    room_command(&web, &me, command, &req.room).await
}

async fn room_command(web: &Web, me: &WebSession, command: Command, room: &str) -> ApiResult<Json<serde_json::Value>> {
    match me.command(&web.shared, command).await {
        Ok(None) => Ok(Json(serde_json::json!({ "done": true }))),
        Ok(Some(code)) => Err(refused(code, Some(room))),
        Err(Gone) => Err(session_gone(me)),
    }
}

async fn users(State(web): State<Web>, headers: HeaderMap) -> ApiResult<Json<serde_json::Value>> {
    session(&web, &headers, None)?;
    let (tx, rx) = oneshot::channel();
    web.shared.hub.send(HubMsg::Roster { reply: tx }).await.map_err(|_| stopping())?;
    let roster = rx.await.map_err(|_| stopping())?;
    let away = |name: &str| roster.away_of(name).map(str::to_owned);
    let offline = web
        .shared
        .store
        .call(|s| Ok::<_, store::StoreError>((s.whitelist()?, s.account_names()?)))
        .await
        .map_err(|_| stopping())?;
    let (devices, accounts) = offline.map_err(|e| {
        tracing::error!(error = %e, "reading the white-list");
        web.shared.metrics.store_read_failed("reading the white-list and accounts", &e);
        stopping()
    })?;
    let mut seen: rustc_hash::FxHashSet<String> = roster.online.iter().map(|(n, _)| hub::fold(n)).collect();
    // The desk first: online while it has operators (on any node), and written to even when not.
    let desk = User { name: hub::SUPPORT.into(), protocol: hub::DESK.into(), online: roster.desk_open, away: None };
    let online = roster.online.iter().map(|(name, via)| User {
        name: name.clone(),
        protocol: (*via).into(),
        online: true,
        away: away(name),
    });
    let mut users: Vec<User> = std::iter::once(desk).chain(online).collect();
    let offline = devices.into_iter().map(|d| (d.name, "jpc")).chain(accounts.into_iter().map(|a| (a, "account")));
    for (name, protocol) in offline {
        if seen.insert(hub::fold(&name)) {
            users.push(User { name, protocol: protocol.into(), online: false, away: None });
        }
    }
    Ok(Json(serde_json::json!({ "users": users })))
}

#[derive(Deserialize)]
struct WsQuery {
    token: Option<String>,
}

async fn websocket(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<WsQuery>,
    tls: Option<axum::Extension<crate::http::Tls>>,
    mut request: axum::extract::Request,
) -> ApiResult<Response> {
    let tls = tls.is_some_and(|t| t.0 .0);
    let me = session(&web, &headers, q.token.as_deref())?;
    if !same_origin(&headers, &web.shared.config.doors.web.origins) {
        let error = "a page of another origin may not open this WebSocket (see web_origins)".into();
        return Err(ApiError(StatusCode::FORBIDDEN, ErrorCode::Forbidden, error));
    }
    let answer = super::upgrade::accept(request.method(), &headers).map_err(bad)?;
    let on_upgrade = request
        .extensions_mut()
        .remove::<hyper::upgrade::OnUpgrade>()
        .ok_or_else(|| bad("this connection cannot be upgraded to a WebSocket"))?;
    let shared = web.shared.clone();
    let config = WebSocketConfig::default()
        .max_message_size(Some(WS_MAX_IN))
        .max_frame_size(Some(WS_MAX_IN))
        .read_buffer_size(WS_READ_BUFFER)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER);
    tokio::spawn(async move {
        let socket = match super::upgrade::open(on_upgrade, config).await {
            Ok(socket) => socket,
            Err(e) => return tracing::debug!(session = me.session.0, error = %e, "a WebSocket's upgrade failed"),
        };
        let attached = me.attach();
        run_socket(socket, &me, &shared, attached, tls).await;
        me.detach();
    });
    Ok(answer)
}

/// Whether a WebSocket's upgrade may go on, by its `Origin`: none (not a browser's page),
/// the request's own host (the page the hub serves, however it is reached: the scheme is not
/// compared, so a proxy in front that speaks TLS changes nothing), or one of `allowed`
/// (`https://chat.example.org`, or `*` for any). A bearer token is not sent by a browser on
/// its own, so this is hardening: a page elsewhere cannot use a token it stole.
fn same_origin(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Ok(origin) = origin.to_str() else { return false };
    let origin = origin.trim().trim_end_matches('/');
    if allowed.iter().any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin)) {
        return true;
    }
    let authority = origin.split_once("://").map_or(origin, |(_, rest)| rest);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    host.is_some_and(|host| !authority.is_empty() && host.trim().eq_ignore_ascii_case(authority))
}

/// What a WebSocket has yet to write: events' JSON, pings, and the ends of pages of queued
/// messages (reported once everything before them is written), with the bytes of text.
#[derive(Default)]
struct Unsent {
    items: VecDeque<Unwritten>,
    bytes: usize,
    /// Pages whose every message went to the socket, awaiting the flush that writes them.
    pages: Vec<i64>,
    /// Something went to the socket since its last flush.
    dirty: bool,
}

enum Unwritten {
    Item(WsItem),
    Ping,
}

impl Unsent {
    fn push(&mut self, item: Unwritten) {
        if let Unwritten::Item(WsItem::Text(text)) = &item {
            self.bytes += text.len();
        }
        self.items.push_back(item);
    }

    fn writing(&self) -> bool {
        !self.items.is_empty() || self.dirty
    }

    /// Hands the socket what it takes now and flushes it. Ready with the pages written, once
    /// everything is.
    fn poll_write(
        &mut self,
        sink: &mut SplitSink<Socket, WsMessage>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Vec<i64>, tokio_tungstenite::tungstenite::Error>> {
        while !self.items.is_empty() {
            ready!(sink.poll_ready_unpin(cx))?;
            let message = match self.items.pop_front().expect("not empty") {
                Unwritten::Item(WsItem::Text(text)) => {
                    self.bytes -= text.len();
                    WsMessage::Text(text.as_ref().into())
                }
                Unwritten::Item(WsItem::PageEnd(last)) => {
                    self.pages.push(last);
                    continue;
                }
                Unwritten::Ping => WsMessage::Ping(Bytes::new()),
            };
            sink.start_send_unpin(message)?;
            self.dirty = true;
        }
        // A burst (everyone who came online while the page opened) leaves no queue behind.
        if self.items.capacity() > 0 {
            self.items = VecDeque::new();
        }
        ready!(sink.poll_flush_unpin(cx))?;
        self.dirty = false;
        Poll::Ready(Ok(std::mem::take(&mut self.pages)))
    }
}

/// Sends the session's events to one WebSocket, and takes typing notices from it, until
/// either side closes, or the session ends. Events keep being taken while the socket is slow
/// to write; once more than `outbound_limit` bytes of them wait, the socket is closed as too
/// slow, as any connection of any front door would be (the session itself lingers on, as
/// when a page closes).
async fn run_socket(socket: Socket, me: &WebSession, shared: &crate::Shared, attached: Attached, tls: bool) {
    let Attached { replay, events, mut ended } = attached;
    let limit = shared.config.outbound_limit;
    let (mut sink, mut stream) = socket.split();
    let mut unsent = Unsent::default();
    replay.into_iter().for_each(|item| unsent.push(Unwritten::Item(item)));
    let mut ping = tokio::time::interval(WS_PING);
    ping.tick().await;
    let close = loop {
        let writing = unsent.writing();
        tokio::select! {
            written = std::future::poll_fn(|cx| unsent.poll_write(&mut sink, cx)), if writing => match written {
                Ok(pages) => {
                    for last in pages {
                        Box::pin(me.page_written(shared, last)).await;
                    }
                }
                Err(_) => return,
            },
            () = events.ready() => {
                // Take everything that waits: a socket slow to write falls behind in bytes
                // here, where they are counted, not in the session's feed.
                let taken = events.take(|item| unsent.push(Unwritten::Item(item)));
                if taken.is_err() || unsent.bytes > limit {
                    break Some((1008, "too slow"));
                }
            },
            _ = async { let _ = ended.wait_for(|&e| e).await; } => {
                // What the session said last (its closing notice) still goes out.
                let _ = events.take(|item| unsent.push(Unwritten::Item(item)));
                break Some((1000, "session ended"));
            }
            incoming = stream.next() => match incoming {
                Some(Ok(WsMessage::Text(text))) => match serde_json::from_str::<ClientEvent>(&text) {
                    Ok(ClientEvent::Typing { to, active }) => {
                        // Typing to someone gone is no error worth a word.
                        let _ = Box::pin(me.command(shared, Command::Typing { to, active })).await;
                    }
                    Err(e) => tracing::debug!(session = me.session.0, error = %e, "ignored a WebSocket message"),
                },
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => unsent.push(Unwritten::Ping),
        }
    };
    let Some((code, reason)) = close else { return };
    if reason == "too slow" {
        shared.metrics.door(super::SPEC.door, tls).slow_consumers.inc();
        tracing::warn!(session = me.session.0, unsent = unsent.bytes, "a WebSocket that does not read: closed");
        return; // nothing more goes to a socket that does not read
    }
    // The last words and the close frame, if the socket takes them soon.
    let goodbye = async {
        std::future::poll_fn(|cx| unsent.poll_write(&mut sink, cx)).await?;
        sink.send(WsMessage::Close(Some(CloseFrame { code: code.into(), reason: reason.into() }))).await
    };
    let _ = Box::pin(tokio::time::timeout(WS_GOODBYE, goodbye)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn future_size<'a, F, Fut>(_: F) -> usize
    where
        F: Fn(Socket, &'a WebSession, &'a crate::Shared, Attached, bool) -> Fut,
    {
        std::mem::size_of::<Fut>()
    }

    /// Every open WebSocket is one such task, idle most of the time: what it does rarely (a
    /// typing notice, a page written, its goodbye) is boxed when it happens.
    #[test]
    fn a_websocket_s_task_is_small() {
        let size = future_size(run_socket);
        assert!(size <= 1100, "a WebSocket's future is {size} bytes");
    }
}
