//! The web front door: the web client's static files, the HTTP API it uses (described at
//! `/api/openapi.json`) and its WebSocket, served by axum. Each signed-in user is one hub
//! session of the web door ([`SPEC`], [`session`]).

mod api;
mod assets;
mod feed;
mod session;
mod upgrade;

use crate::doors::spec::{self, Spec};
use crate::net::transport::Transport;
use crate::Shared;
use bytes::Bytes;
use hub::{Caps, Event, HubError, RoomError};
use proto::web::{ErrorCode, Message, ServerEvent};
use session::Sessions;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;

/// What every request handler shares.
#[derive(Clone)]
pub(crate) struct Web {
    shared: Arc<Shared>,
    sessions: Arc<Sessions>,
}

crate::settings::settings! {
    /// The web client, its HTTP API and WebSocket: `[doors.web]`.
    pub struct WebConfig, flags WebFlags {
        /// Where the web client and its HTTP API are served.
        addr: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 8080)), flag "web-addr", value "HOST:PORT",
            legacy "web_addr";
        /// Where the web client is served over HTTPS (and WSS), with a certificate.
        tls_addr: Option<SocketAddr> = Some(SocketAddr::from(([0, 0, 0, 0], 8443))), flag "web-tls-addr",
            value "HOST:PORT", legacy "web_tls_addr";
        /// Seconds a web session stays signed in with no page open and no request.
        linger_secs: u64 = 30, flag "web-linger-secs", value "SECS", legacy "web_linger_secs";
        /// Largest image the web client may send, in bytes before base64. Keep its base64
        /// within the JPC frame bound, or devices cannot receive the largest.
        max_image: usize = 4 << 20, flag "web-max-image", value "BYTES", legacy "web_max_image";
        /// Seconds an HTTP request's body has to arrive whole after its head (which has 10 s):
        /// past them it is answered 408 and the connection closed, however steadily it trickles.
        body_timeout_secs: u64 = 20, flag "web-body-timeout-secs", value "SECS", legacy "web_body_timeout_secs";
        /// Origins whose pages may open the WebSocket besides the hub's own
        /// (`https://HOST[:PORT]`, or `*` for any).
        origins: Vec<String> = Vec::new(), flag "web-origins", value "ORIGIN,...", legacy "web_origins";
    }
}
crate::doors::spec::listen!(WebConfig: addr, tls_addr);

impl WebConfig {
    pub fn linger(&self) -> Duration {
        Duration::from_secs(self.linger_secs)
    }

    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs.max(1))
    }

    /// The longest base64 text of an image the web client may send.
    pub fn max_image_base64(&self) -> usize {
        self.max_image.div_ceil(3) * 4
    }

    /// The largest body of a message: an image, and room for the JSON around it.
    pub fn max_body(&self) -> usize {
        self.max_image_base64() + 64 * 1024
    }
}

/// The web door: the web client's users, each a session whatever its number of WebSockets.
pub(crate) static SPEC: Spec = Spec {
    door: hub::Door(3),
    name: "web",
    caps: Caps {
        lobby: true,
        lobby_echo: true,
        direct: true,
        images: true,
        direct_echo: true,
        typing: true,
        presence: true,
        rooms: true,
        ..Caps::NONE
    },
    liveness: spec::no_liveness,
    encode_event,
    encode_reply: |_, result| Some(encode_reply(result)),
    encode_queued,
    // Its pages hear `closing` from their session.
    goodbye: spec::no_goodbye,
    serve: |listener, shared, tls| Box::pin(serve(listener, shared, tls)),
    state: spec::no_state,
    also: spec::nothing_else,
};

/// The web front door's routes: the page, the HTTP API and the WebSocket, with sessions of
/// their own.
pub(crate) fn app(shared: Arc<Shared>) -> axum::Router {
    api::routes(Web { shared, sessions: Arc::default() })
}

/// Serves the web front door on `listener` until the task is aborted: HTTP/1.1 (and
/// WebSocket upgrades) by hyper, with a timeout on request heads.
async fn serve(listener: TcpListener, shared: Arc<Shared>, tls: bool) {
    let app = app(shared.clone());
    crate::net::listen::accept_loop(listener, shared, &SPEC, tls, move |stream, peer, shared, ticket| {
        Some(serve_connection(Held { stream, shared, ticket }, peer, app.clone()))
    })
    .await;
}

/// One HTTP connection, until it closes or upgrades (a WebSocket then lives on on its own,
/// holding the socket).
async fn serve_connection(stream: Held, peer: SocketAddr, app: axum::Router) {
    let (shared, tls) = (stream.shared.clone(), stream.stream.is_tls());
    if let Err(e) = crate::http::serve(stream, peer, tls, app).await {
        tracing::debug!(%peer, error = %e, "web connection ended");
        if e.is_timeout() {
            shared.metrics.timed_out.inc();
        }
    }
}

/// A web connection's socket: counted as open, and against its address's limits, for as
/// long as it lives, an HTTP connection's or, once upgraded, a WebSocket's.
struct Held {
    stream: Transport,
    shared: Arc<Shared>,
    ticket: crate::Ticket,
}

impl Held {
    fn metrics(&self) -> &crate::metrics::DoorMetrics {
        self.shared.metrics.door(SPEC.door, self.stream.is_tls())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.shared.release(self.ticket, SPEC.door, self.stream.is_tls());
    }
}

impl tokio::io::AsyncRead for Held {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let read = Pin::new(&mut self.stream).poll_read(cx, buf);
        self.metrics().bytes_in.inc_by((buf.filled().len() - before) as u64);
        read
    }
}

impl tokio::io::AsyncWrite for Held {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        !self.stream.is_tls() && self.stream.tcp().is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

pub(crate) fn error_code(e: HubError) -> ErrorCode {
    match e {
        HubError::NameTaken => ErrorCode::NameTaken,
        HubError::InvalidName => ErrorCode::InvalidName,
        HubError::NotYourName | HubError::NotLoggedIn => ErrorCode::Unauthorized,
        HubError::Unreachable => ErrorCode::Unreachable,
        HubError::LinkInProgress | HubError::NoSuchLink | HubError::NameFixed => ErrorCode::Refused,
        HubError::Unavailable => ErrorCode::Unavailable,
        HubError::Room(e) => match e {
            RoomError::BadName => ErrorCode::InvalidName,
            RoomError::NoSuchRoom => ErrorCode::NotFound,
            RoomError::NotInRoom => ErrorCode::NotInRoom,
            RoomError::CannotSend => ErrorCode::CannotSend,
            RoomError::NotOp => ErrorCode::NotOperator,
            RoomError::Full => ErrorCode::RoomFull,
            RoomError::InviteOnly => ErrorCode::InviteOnly,
            RoomError::Banned => ErrorCode::Banned,
            RoomError::BadKey => ErrorCode::WrongKey,
            RoomError::TooManyRooms => ErrorCode::TooManyRooms,
            RoomError::NoSuchName => ErrorCode::Unreachable,
            RoomError::TheyAreNotIn | RoomError::AlreadyIn | RoomError::ListFull => ErrorCode::Refused,
        },
    }
}

/// A room's member as the web shows it.
pub(crate) fn member(name: &str, m: hub::Member) -> proto::web::RoomMember {
    proto::web::RoomMember { name: name.to_owned(), op: m.op, voice: m.voice }
}

/// A web session's answer to its command: one JSON line.
pub(crate) fn encode_reply(result: Result<(), HubError>) -> Bytes {
    ServerEvent::Reply { error: result.err().map(error_code) }.to_line().into()
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// An event as one JSON line for a web session; `None` for what the web has no use for.
pub(crate) fn encode_event(event: &Event) -> Option<Bytes> {
    let message = |from: &str, to: Option<&str>, text: Option<&str>, image: Option<&str>| {
        ServerEvent::Message(Message {
            id: None,
            at: now_ms(),
            from: from.to_owned(),
            to: to.map(str::to_owned),
            text: text.map(str::to_owned),
            image: image.map(str::to_owned),
        })
    };
    let event = match event {
        Event::Lobby { from, text } => message(from, None, Some(text), None),
        Event::Direct { from, to, text } => message(from, Some(to), Some(text), None),
        Event::Image { from, to, data } => message(from, Some(to), None, Some(data)),
        Event::Typing { from, to, active } => {
            ServerEvent::Typing { from: from.clone(), to: to.clone(), active: *active }
        }
        Event::Presence { name, via, online, .. } => {
            // The desk is `support`, with protocol `desk`, as in the list of users.
            ServerEvent::Presence { name: name.clone(), protocol: (*via).into(), online: *online }
        }
        // Who writes to someone away is told as the roster would tell it.
        Event::Away { name, message } => ServerEvent::Away { name: name.clone(), message: message.clone() },
        Event::IsAway { name, message } => ServerEvent::Away { name: name.clone(), message: Some(message.clone()) },
        Event::Renamed { from, to, via } => {
            ServerEvent::Renamed { from: from.clone(), to: to.clone(), protocol: (*via).into() }
        }
        Event::Closing => ServerEvent::Closing { reason: "closed by the server".into() },
        Event::RoomSaid { room, from, text, .. } => message(from, Some(room), Some(text), None),
        Event::RoomJoined { room, name } => ServerEvent::RoomJoined { room: room.clone(), name: name.clone() },
        Event::RoomState { room, topic, members } => ServerEvent::RoomState {
            room: room.clone(),
            topic: topic.as_ref().map(|t| t.text.clone()),
            members: members.iter().map(|(name, m)| member(name, *m)).collect(),
        },
        Event::RoomParted { room, name, reason, by } => {
            ServerEvent::RoomLeft { room: room.clone(), name: name.clone(), reason: reason.clone(), by: by.clone() }
        }
        Event::RoomTopic { room, topic } => {
            ServerEvent::RoomTopic { room: room.clone(), topic: topic.text.clone(), by: topic.by.clone() }
        }
        Event::Invited { room, by } => ServerEvent::RoomInvited { room: room.clone(), by: by.clone() },
        _ => return None,
    };
    Some(event.to_line().into())
}

/// A queued message as one JSON line, with its id in the history and the time it was sent:
/// the page can tell it from what it loaded from the history.
pub(crate) fn encode_queued(queued: &hub::Queued) -> Option<Bytes> {
    let kept = &queued.kept;
    let body = Some(kept.body.clone());
    let message = Message {
        id: Some(queued.id),
        at: queued.at_ms,
        from: kept.sender.clone(),
        to: kept.recipient.clone(),
        text: if kept.image { None } else { body.clone() },
        image: if kept.image { body } else { None },
    };
    Some(ServerEvent::Message(message).to_line().into())
}
