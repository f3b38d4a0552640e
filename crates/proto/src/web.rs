//! The web client's JSON: the bodies of the HTTP API and the messages of its WebSocket.
//!
//! One shape, [`Message`], serves live updates and history alike, so the page renders both
//! the same way. Every server message has a `type`; unknown fields are ignored on input, as
//! JSON APIs do, but a body that is not the JSON asked for is a [`serde_json::Error`] the
//! server answers with 400.

use serde::{Deserialize, Serialize};

/// `POST /api/session`: a guest name, or an account's name and password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionRequest {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// The answer to `POST /api/session`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionResponse {
    pub token: String,
    /// The name as the hub holds it.
    pub name: String,
    /// Whether the name is an account's (signed in with a password).
    pub account: bool,
}

/// What `to` names for the lobby in `POST /api/messages`.
pub const LOBBY: &str = "lobby";

/// `POST /api/messages`: text, or an image (base64, standard alphabet), to a name or to
/// [`LOBBY`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// A message, live or from history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Its id in the history; absent on live updates (they are stored after delivery).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<i64>,
    /// Milliseconds since the Unix epoch.
    pub at: i64,
    pub from: String,
    /// `None`: the lobby.
    pub to: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// An image, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// Someone online, or a name that can be written to while offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    /// `chatos`, `chathack`, `jpc`, `web`, or, for an offline account, `account`.
    pub protocol: String,
    pub online: bool,
    /// Its away message, while it is away.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub away: Option<String>,
}

/// Why a request failed, as the `code` of an error body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    BadRequest,
    InvalidName,
    NameTaken,
    WrongPassword,
    Unauthorized,
    Unreachable,
    TooLarge,
    NotFound,
    Refused,
    Unavailable,
    /// Too many sign-ins with a password from this address lately (HTTP 429).
    TooManyAttempts,
    /// The path exists, not with this method (HTTP 405).
    MethodNotAllowed,
    /// The request's body did not arrive whole in time (HTTP 408).
    Timeout,
    /// Not from here: a WebSocket opened by a page of another origin (HTTP 403).
    Forbidden,
    /// Rooms: the session is not in that room.
    NotInRoom,
    /// Rooms: it may not speak there (members only, or moderated, or banned).
    CannotSend,
    /// Rooms: only its operators may.
    NotOperator,
    /// Rooms: it is full.
    RoomFull,
    /// Rooms: only the invited join.
    InviteOnly,
    /// Rooms: a ban keeps the session out.
    Banned,
    /// Rooms: it takes a key, not this one.
    WrongKey,
    /// Rooms: the session is in as many as it may be.
    TooManyRooms,
}

/// The body of every 4xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub error: String,
}

/// What the server sends on the WebSocket (and, internally, the hub task to a web session).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerEvent {
    /// The answer to the session's last command (internal: never sent on the WebSocket).
    Reply {
        error: Option<ErrorCode>,
    },
    Message(Message),
    Typing {
        from: String,
        to: String,
        active: bool,
    },
    Presence {
        name: String,
        protocol: String,
        online: bool,
    },
    /// `name` is away with `message`, or back (no message).
    Away {
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// `from` (on `protocol`) is named `to` now: the same user, in the same rooms, with
    /// the same away message.
    Renamed {
        from: String,
        to: String,
        protocol: String,
    },
    /// The session is over; the WebSocket closes after this.
    Closing {
        reason: String,
    },
    /// `name` joined `room` (the session itself too, when it joins).
    RoomJoined {
        room: String,
        name: String,
    },
    /// The room the session just joined: its topic and members.
    RoomState {
        room: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
        members: Vec<RoomMember>,
    },
    /// `name` left `room`, or was put out of it `by` an operator.
    RoomLeft {
        room: String,
        name: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// `by` set the topic of `room` (empty: none).
    RoomTopic {
        room: String,
        topic: String,
        by: String,
    },
    /// `by` invites the session to `room`.
    RoomInvited {
        room: String,
        by: String,
    },
}

/// A member of a room: an operator runs it, a voice may speak when it is moderated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomMember {
    pub name: String,
    pub op: bool,
    pub voice: bool,
}

/// `POST /api/away`: away with `message`, or back (none, or nothing but spaces).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AwayRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `POST /api/rooms/join` and `/api/rooms/leave`: a room's name (`#` and a name), and its
/// key, for a room that has one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomRequest {
    pub room: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// A room in `GET /api/rooms`: its members only when one room is asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Room {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// How many members it has, on every node.
    pub count: usize,
    /// The session is one of them.
    pub joined: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<RoomMember>,
}

/// What the page sends on the WebSocket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientEvent {
    Typing { to: String, active: bool },
}

impl ServerEvent {
    /// One line of JSON, ending in `\n` (JSON escapes every newline inside strings).
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("plain data serialises");
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_on_the_wire() {
        let m = ServerEvent::Message(Message {
            id: None,
            at: 5,
            from: "a".into(),
            to: None,
            text: Some("hi\nthere".into()),
            image: None,
        });
        assert_eq!(
            m.to_line(),
            b"{\"type\":\"message\",\"at\":5,\"from\":\"a\",\"to\":null,\"text\":\"hi\\nthere\"}\n"
        );
        let r = ServerEvent::Reply { error: Some(ErrorCode::NameTaken) };
        assert_eq!(r.to_line(), b"{\"type\":\"reply\",\"error\":\"name_taken\"}\n");
        let c: ClientEvent = serde_json::from_str(r#"{"type":"typing","to":"bob","active":true,"x":1}"#).unwrap();
        assert_eq!(c, ClientEvent::Typing { to: "bob".into(), active: true });
        assert!(serde_json::from_str::<ClientEvent>(r#"{"type":"dance"}"#).is_err());
        assert!(serde_json::from_str::<SessionRequest>(r#"{"nam":"x"}"#).is_err());
    }
}
