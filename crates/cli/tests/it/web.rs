//! The web front door over loopback: its HTTP API and WebSocket with a real HTTP client,
//! meeting ChatOS, ChatHack and JPC users in the lobby and in direct messages, and every bad
//! request answered with a 4xx and a JSON error.

use crate::jpc::{Jpc, LINDSAY};
use crate::support::{start, start_prepared, start_with, start_with_accounts, start_with_store, Hack, Hub, Raw, WAIT};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use proto::chathack::{ClientPacket, ServerPacket};
use proto::chatos::Packet;
use proto::jpc::{Message as JpcMessage, IMAGE, TEXT};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A PNG of one pixel.
pub const PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49,
    0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0x00, 0x05, 0x00, 0x01, 0xff, 0x89, 0x99, 0x3d,
    0x1d, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// An HTTP answer: its status and its JSON body (`Value::Null` if it has none).
pub async fn answer(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, if text.is_empty() { Value::Null } else { serde_json::from_str(&text).expect("a JSON body") })
}

/// A web user: signed in through the API, with one WebSocket open.
pub struct Web {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub name: String,
    pub ws: Ws,
}

impl Web {
    pub async fn sign_in(hub: &Hub, name: &str) -> Web {
        Web::sign_in_with(hub, json!({ "name": name })).await
    }

    pub async fn sign_in_with(hub: &Hub, body: Value) -> Web {
        Web::sign_in_at(hub.web, body).await
    }

    /// Signs in on the web front door at `web`.
    pub async fn sign_in_at(web: std::net::SocketAddr, body: Value) -> Web {
        let http = reqwest::Client::new();
        let base = format!("http://{web}");
        let (status, session) =
            answer(http.post(format!("{base}/api/session")).json(&body).send().await.unwrap()).await;
        assert_eq!(status, 201, "signing in: {session}");
        let token = session["token"].as_str().unwrap().to_owned();
        let url = format!("ws://{web}/ws?token={token}");
        let ws = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await.unwrap().unwrap().0;
        Web { http, base, token, name: session["name"].as_str().unwrap().to_owned(), ws }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let request = self.http.post(format!("{}{path}", self.base)).bearer_auth(&self.token).json(&body);
        answer(request.send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        answer(self.http.get(format!("{}{path}", self.base)).bearer_auth(&self.token).send().await.unwrap()).await
    }

    /// Sends text and expects it taken.
    pub async fn say(&self, to: &str, text: &str) {
        let (status, body) = self.post("/api/messages", json!({ "to": to, "text": text })).await;
        assert_eq!((status, body), (200, json!({ "sent": true })));
    }

    /// The next event on the WebSocket.
    pub async fn event(&mut self) -> Value {
        next_event(&mut self.ws).await
    }

    /// The next message event, passing over presence and typing notices.
    pub async fn message(&mut self) -> Value {
        next_message(&mut self.ws).await
    }
}

pub async fn open_ws(hub: &Hub, token: &str) -> Ws {
    let url = format!("ws://{}/ws?token={token}", hub.web);
    tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(url)).await.unwrap().unwrap().0
}

pub async fn next_event(ws: &mut Ws) -> Value {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next()).await.expect("timed out waiting for an event");
        match m.expect("the WebSocket closed").unwrap() {
            WsMessage::Text(t) => return serde_json::from_str(&t).unwrap(),
            WsMessage::Close(c) => panic!("the WebSocket closed: {c:?}"),
            _ => {}
        }
    }
}

/// The next message event, passing over presence and typing notices.
pub async fn next_message(ws: &mut Ws) -> Value {
    loop {
        let e = next_event(ws).await;
        if e["type"] == "message" {
            return e;
        }
    }
}

/// The fields of a message event that do not depend on the clock.
fn msg(e: &Value) -> Value {
    json!({ "from": e["from"], "to": e["to"], "text": e["text"], "image": e["image"] })
}

#[tokio::test]
async fn lobby_between_web_chatos_and_chathack() {
    let hub = start().await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    let mut hack = Hack::guest(hub.chathack, "hack").await;

    ann.say("lobby", "hello from the web").await;
    let mine = ann.message().await;
    assert_eq!(msg(&mine), json!({ "from": "ann", "to": null, "text": "hello from the web", "image": null }));
    assert!(mine["at"].as_i64().unwrap() > 1_600_000_000_000, "a time in milliseconds");
    os.expect(Packet::Sma { sender: "ann".into(), message: "hello from the web".into() }).await;
    hack.expect(ServerPacket::Global { login: "ann".into(), message: "hello from the web".into() }).await;

    os.send(&Packet::Sma { sender: "os".into(), message: "hi from ChatOS".into() }).await;
    assert_eq!(msg(&ann.message().await), json!({ "from": "os", "to": null, "text": "hi from ChatOS", "image": null }));
    hack.send(&ClientPacket::Global { login: "hack".into(), message: "hi from ChatHack".into() }).await;
    let e = ann.message().await;
    assert_eq!(msg(&e), json!({ "from": "hack", "to": null, "text": "hi from ChatHack", "image": null }));

    // The lobby's history, oldest first: what was just said is in it (history is read after
    // what the hub kept is written).
    let (status, body) = ann.get("/api/history").await;
    assert_eq!(status, 200);
    let texts: Vec<&str> = body["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["hello from the web", "hi from ChatOS", "hi from ChatHack"]);
    hub.stop().await;
}

#[tokio::test]
async fn direct_messages_between_web_and_chatos() {
    let hub = start().await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let mut second_tab = open_ws(&hub, &ann.token).await;
    let mut os = Raw::login(hub.chatos, "os").await;

    ann.say("OS", "psst").await;
    os.expect(Packet::Spm { sender: "ann".into(), recipient: "os".into(), message: "psst".into() }).await;
    // The sender's tabs see what it wrote.
    let echo = json!({ "from": "ann", "to": "os", "text": "psst", "image": null });
    assert_eq!(msg(&ann.message().await), echo);
    assert_eq!(msg(&next_message(&mut second_tab).await), echo);

    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "back at you".into() }).await;
    assert_eq!(msg(&ann.message().await), json!({ "from": "os", "to": "ann", "text": "back at you", "image": null }));
    assert_eq!(msg(&next_message(&mut second_tab).await)["text"], "back at you");

    // ChatOS carries no images: the sender is told, in its own protocol.
    let image = base64::engine::general_purpose::STANDARD.encode(PIXEL_PNG);
    let (status, body) = ann.post("/api/messages", json!({ "to": "os", "image": image })).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("unreachable")));
    assert_eq!(body["error"], "os is not online, or cannot receive this");

    // The conversation, from the store, either way round.
    let (_, history) = ann.get("/api/history?with=os").await;
    assert_eq!(history["messages"].as_array().unwrap().len(), 2, "{history}");
    assert_eq!(history["messages"][0]["text"], "psst");
    assert_eq!(history["messages"][1]["from"], "os");
    assert_eq!(ann.get("/api/conversations").await, (200, json!({ "conversations": ["os"] })));
    hub.stop().await;
}

/// What `lindsay` gets when Ann writes to her.
fn tell_lindsay(kind: u8, message: &str) -> JpcMessage {
    JpcMessage::Tell { sender: "ann".into(), recipient: "lindsay".into(), kind, message: message.into() }
}

/// A hub that knows the JPC device `lindsay`.
async fn with_lindsay() -> Hub {
    start_with_store(|s| s.whitelist_add("lindsay", LINDSAY).unwrap()).await
}

#[tokio::test]
async fn web_and_jpc_text_and_images_both_ways() {
    let hub = with_lindsay().await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let mut bob = Web::sign_in(&hub, "bob").await;
    let mut lindsay = Jpc::hello(&hub, LINDSAY, "lindsay").await;

    ann.say("lindsay", "hello device").await;
    assert_eq!(lindsay.next_not_heartbeat().await, Some(tell_lindsay(TEXT, "hello device")));

    let image = base64::engine::general_purpose::STANDARD.encode(PIXEL_PNG);
    let (status, _) = ann.post("/api/messages", json!({ "to": "lindsay", "image": image })).await;
    assert_eq!(status, 200);
    assert_eq!(lindsay.next_not_heartbeat().await, Some(tell_lindsay(IMAGE, &image)));

    // The device answers, text and image; the web user gets both.
    lindsay.send(&JpcMessage::Send { recipient: "ann".into(), kind: TEXT, message: "hi web".into() }).await;
    // Ann's page showed what she sent, then shows the answers.
    let echoes = [ann.message().await, ann.message().await];
    assert_eq!(msg(&echoes[0]), json!({ "from": "ann", "to": "lindsay", "text": "hello device", "image": null }));
    assert_eq!(msg(&echoes[1]), json!({ "from": "ann", "to": "lindsay", "text": null, "image": image }));
    let got = ann.message().await;
    assert_eq!(msg(&got), json!({ "from": "lindsay", "to": "ann", "text": "hi web", "image": null }));
    lindsay.send(&JpcMessage::Send { recipient: "ann".into(), kind: IMAGE, message: image.clone() }).await;
    assert_eq!(msg(&ann.message().await), json!({ "from": "lindsay", "to": "ann", "text": null, "image": image }));

    // Between web users, an image is inline.
    let (status, _) = ann.post("/api/messages", json!({ "to": "bob", "image": image })).await;
    assert_eq!(status, 200);
    assert_eq!(msg(&bob.message().await), json!({ "from": "ann", "to": "bob", "text": null, "image": image }));
    hub.stop().await;
}

#[tokio::test]
async fn a_message_to_an_offline_device_waits_for_its_hello() {
    let hub = with_lindsay().await;
    let ann = Web::sign_in(&hub, "ann").await;
    let (_, users) = ann.get("/api/users").await;
    let lindsay_entry = users["users"].as_array().unwrap().iter().find(|u| u["name"] == "lindsay").cloned();
    assert_eq!(lindsay_entry, Some(json!({ "name": "lindsay", "protocol": "jpc", "online": false })));

    ann.say("lindsay", "while you were out").await;
    let mut lindsay = Jpc::connect(hub.jpc).await;
    lindsay.send(&JpcMessage::Hello { mac: LINDSAY }).await;
    assert_eq!(lindsay.next_not_heartbeat().await, Some(tell_lindsay(TEXT, "while you were out")));
    hub.stop().await;
}

#[tokio::test]
async fn accounts_sign_in_with_their_password_and_find_what_waited() {
    let hub = start_with_accounts(&[("Ann", "secret")]).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/session", hub.web);
    let post = |body: Value| {
        let r = http.post(&url).json(&body);
        async move { answer(r.send().await.unwrap()).await }
    };
    let (status, body) = post(json!({ "name": "ann" })).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("name_taken")));
    let (status, body) = post(json!({ "name": "ann", "password": "wrong" })).await;
    assert_eq!((status, body["code"].as_str()), (401, Some("wrong_password")));

    // A message to the account while it is away is kept, and is in its history at sign-in.
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "for later".into() }).await;
    os.expect_error(proto::chatos::ErrorCode::Ok).await;
    let ann = Web::sign_in_with(&hub, json!({ "name": "ann", "password": "secret" })).await;
    assert_eq!(ann.name, "Ann", "the name as the account spells it");
    let (status, body) = ann.get("/api/history?with=os").await;
    assert_eq!(status, 200);
    assert_eq!(body["messages"][0]["text"], "for later");
    hub.stop().await;
}

#[tokio::test]
async fn typing_and_presence_reach_web_users() {
    let hub = start().await;
    let mut bob = Web::sign_in(&hub, "bob").await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    assert_eq!(bob.event().await, json!({ "type": "presence", "name": "ann", "protocol": "web", "online": true }));
    let _os = Raw::login(hub.chatos, "os").await;
    assert_eq!(bob.event().await, json!({ "type": "presence", "name": "os", "protocol": "chatos", "online": true }));
    assert_eq!(ann.event().await["name"], "os");

    ann.ws.send(WsMessage::Text(r#"{"type":"typing","to":"BOB","active":true}"#.into())).await.unwrap();
    assert_eq!(bob.event().await, json!({ "type": "typing", "from": "ann", "to": "bob", "active": true }));
    // Typing to a ChatOS user goes nowhere, quietly; garbage on the socket is ignored.
    ann.ws.send(WsMessage::Text(r#"{"type":"typing","to":"os","active":true}"#.into())).await.unwrap();
    ann.ws.send(WsMessage::Text("not json".into())).await.unwrap();
    ann.ws.send(WsMessage::Text(r#"{"type":"typing","to":"bob","active":false}"#.into())).await.unwrap();
    assert_eq!(bob.event().await, json!({ "type": "typing", "from": "ann", "to": "bob", "active": false }));

    // Signing out: the user leaves at once, and its token is dead.
    let r = ann.http.delete(format!("{}/api/session", ann.base)).bearer_auth(&ann.token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 204);
    assert_eq!(bob.event().await, json!({ "type": "presence", "name": "ann", "protocol": "web", "online": false }));
    assert_eq!(ann.event().await["type"], "closing");
    let (status, body) = ann.get("/api/users").await;
    assert_eq!((status, body["code"].as_str()), (401, Some("unauthorized")));
    hub.stop().await;
}

/// Away: a web user sees who is away (in the list of users and as it changes), is told when
/// it writes to someone away, and says it is away itself, which IRC sees.
#[tokio::test]
async fn web_users_see_who_is_away_and_go_away_themselves() {
    let hub = start().await;
    let mut pia = Web::sign_in(&hub, "pia").await;
    let mut irc = crate::irc::Irc::connect(hub.irc).await;
    irc.send("CAP LS 302\r\nCAP REQ :away-notify\r\nNICK ann\r\nUSER ann 0 * :Ann\r\nCAP END\r\n").await;
    irc.expect(" 366 ann #lobby ").await;
    assert_eq!(pia.event().await["name"], "ann");
    irc.send("AWAY :at lunch\r\n").await;
    assert_eq!(pia.event().await, json!({ "type": "away", "name": "ann", "message": "at lunch" }));
    let (_, users) = pia.get("/api/users").await;
    let ann = users["users"].as_array().unwrap().iter().find(|u| u["name"] == "ann").unwrap().clone();
    assert_eq!(ann, json!({ "name": "ann", "protocol": "irc", "online": true, "away": "at lunch" }));
    pia.say("ann", "there?").await;
    assert_eq!(pia.event().await["text"], "there?", "what it sent, back");
    assert_eq!(pia.event().await, json!({ "type": "away", "name": "ann", "message": "at lunch" }));
    irc.expect("PRIVMSG ann :there?").await;
    irc.send("AWAY\r\n").await;
    assert_eq!(pia.event().await, json!({ "type": "away", "name": "ann" }));
    // The web user goes away and comes back.
    let (status, body) = pia.post("/api/away", json!({ "message": "brb" })).await;
    assert_eq!((status, body), (200, json!({ "done": true })));
    assert_eq!(irc.expect(" AWAY").await, ":pia!pia@switchboard AWAY brb");
    let (status, _) = pia.post("/api/away", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(irc.expect(" AWAY").await, ":pia!pia@switchboard AWAY");
    let (status, body) = pia.post("/api/away", json!({ "message": 7 })).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("bad_request")));
    hub.stop().await;
}

/// On tokio's paused clock: reachable for the whole linger, gone right after it.
#[tokio::test(start_paused = true)]
async fn a_session_with_no_page_open_lingers_then_ends() {
    let hub = start().await; // 30 s
    let http = reqwest::Client::new();
    let (_, session) = answer(
        http.post(format!("http://{}/api/session", hub.web)).json(&json!({"name": "ann"})).send().await.unwrap(),
    )
    .await;
    let token = session["token"].as_str().unwrap();
    let mut os = Raw::login(hub.chatos, "os").await;
    let there = Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "there?".into() };
    tokio::time::sleep(Duration::from_millis(29_900)).await;
    os.send(&there).await;
    assert_eq!(os.recv().await, Packet::error(proto::chatos::ErrorCode::Ok), "still there as it lingers");
    tokio::time::sleep(Duration::from_millis(200)).await;
    os.send(&there).await;
    assert_eq!(os.recv().await, Packet::error(proto::chatos::ErrorCode::UnreachableUser), "gone after 30 s");
    let r = http.get(format!("http://{}/api/users", hub.web)).bearer_auth(token).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    // The name is free again.
    let r = http.post(format!("http://{}/api/session", hub.web)).json(&json!({"name": "ann"})).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 201);
    // A request puts it off: a minute of one every 20 s keeps it, then it lingers its 30 s.
    let token = answer(r).await.1["token"].as_str().unwrap().to_owned();
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_secs(20)).await;
        let r = http.get(format!("http://{}/api/users", hub.web)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
    }
    tokio::time::sleep(Duration::from_millis(29_900)).await;
    os.send(&there).await;
    assert_eq!(os.recv().await, Packet::error(proto::chatos::ErrorCode::Ok));
    tokio::time::sleep(Duration::from_millis(200)).await;
    os.send(&there).await;
    assert_eq!(os.recv().await, Packet::error(proto::chatos::ErrorCode::UnreachableUser));
    hub.stop().await;
}

#[tokio::test]
async fn bad_requests_get_4xx_and_a_json_error() {
    let hub = start_with(|c| c.doors.web.max_image = 1000).await;
    let ann = Web::sign_in(&hub, "ann").await;
    let base = format!("http://{}", hub.web);
    let http = reqwest::Client::new();
    let raw = |method: reqwest::Method, path: &str, token: Option<&str>, body: &'static str| {
        let mut r = http.request(method, format!("{base}{path}")).body(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        async move { answer(r.send().await.unwrap()).await }
    };
    use reqwest::Method;
    let t = Some(ann.token.as_str());
    let big: &'static str =
        Box::leak(format!("{{\"to\":\"lobby\",\"text\":\"{}\"}}", "x".repeat(200_000)).into_boxed_str());
    let image: &'static str =
        Box::leak(format!("{{\"to\":\"ann\",\"image\":\"{}\"}}", "A".repeat(2000)).into_boxed_str());
    // Method, path, token, body, the status and error code expected.
    type Case<'a> = (Method, &'a str, Option<&'a str>, &'static str, u16, &'a str);
    let cases: Vec<Case> = vec![
        (Method::POST, "/api/session", None, "{\"name\":", 400, "bad_request"),
        (Method::POST, "/api/session", None, "[1,2]", 400, "bad_request"),
        (Method::POST, "/api/session", None, "{\"name\":\"has space\"}", 400, "invalid_name"),
        (Method::POST, "/api/session", None, "{\"name\":\"lobby\"}", 400, "invalid_name"),
        (Method::POST, "/api/session", None, "{\"name\":\"ANN\"}", 409, "name_taken"),
        (Method::POST, "/api/messages", None, "{\"to\":\"lobby\",\"text\":\"x\"}", 401, "unauthorized"),
        (Method::POST, "/api/messages", Some("forged"), "{\"to\":\"lobby\",\"text\":\"x\"}", 401, "unauthorized"),
        (Method::POST, "/api/messages", t, "{\"to\":\"lobby\",\"text\":", 400, "bad_request"),
        (Method::POST, "/api/messages", t, "{\"to\":\"nobody\",\"text\":\"x\"}", 404, "unreachable"),
        (Method::POST, "/api/messages", t, "{\"to\":\"lobby\"}", 400, "bad_request"),
        (Method::POST, "/api/messages", t, "{\"to\":\"lobby\",\"text\":\"  \"}", 400, "bad_request"),
        (Method::POST, "/api/messages", t, "{\"to\":\"ann\",\"text\":\"x\",\"image\":\"AA==\"}", 400, "bad_request"),
        (Method::POST, "/api/messages", t, "{\"to\":\"ann\",\"image\":\"not base64!\"}", 400, "bad_request"),
        (Method::POST, "/api/messages", t, "{\"to\":\"lobby\",\"image\":\"AA==\"}", 400, "bad_request"),
        (Method::POST, "/api/messages", t, image, 413, "too_large"),
        (Method::POST, "/api/messages", t, big, 413, "too_large"),
        (Method::GET, "/api/history?limit=lots", t, "", 400, "bad_request"),
        (Method::GET, "/api/history", None, "", 401, "unauthorized"),
        (Method::GET, "/api/users", None, "", 401, "unauthorized"),
        (Method::GET, "/ws", t, "", 400, "bad_request"),
        (Method::GET, "/ws", None, "", 401, "unauthorized"),
        (Method::GET, "/api/nothing-here", t, "", 404, "not_found"),
        (Method::GET, "/secrets.txt", None, "", 404, "not_found"),
        (Method::DELETE, "/ws", t, "", 405, "method_not_allowed"),
        (Method::PUT, "/api/messages", t, "{}", 405, "method_not_allowed"),
    ];
    for (method, path, token, body, status, code) in cases {
        let (got, answer) = raw(method.clone(), path, token, body).await;
        assert_eq!((got, answer["code"].as_str()), (status, Some(code)), "{method} {path} {:.60}", body);
        assert!(answer["error"].as_str().is_some_and(|e| !e.is_empty()), "an error message for {path}");
    }
    // A text longer than ChatOS carries.
    let (status, body) = ann.post("/api/messages", json!({ "to": "lobby", "text": "x".repeat(1025) })).await;
    assert_eq!((status, body["code"].as_str()), (413, Some("too_large")));
    // After all that, the user is still in and the hub still serves.
    ann.say("lobby", "still here").await;
    hub.stop().await;
}

#[tokio::test]
async fn the_page_and_the_openapi_document_are_served() {
    let hub = start().await;
    let base = format!("http://{}", hub.web);
    let page = reqwest::get(format!("{base}/")).await.unwrap();
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    assert!(page.text().await.unwrap().contains("<script type=\"module\" src=\"app.js\">"));
    for (file, media) in [("app.js", "text/javascript"), ("api.js", "text/javascript"), ("style.css", "text/css")] {
        let r = reqwest::get(format!("{base}/{file}")).await.unwrap();
        assert_eq!(r.status().as_u16(), 200, "{file}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(media), "{file}");
    }
    let (status, doc) = answer(reqwest::get(format!("{base}/api/openapi.json")).await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/session",
        "/api/messages",
        "/api/history",
        "/api/users",
        "/api/conversations",
        "/api/rooms",
        "/api/rooms/join",
        "/api/rooms/leave",
        "/ws",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is described");
    }
    assert!(doc["paths"]["/api/session"]["post"].is_object() && doc["paths"]["/api/session"]["delete"].is_object());
    hub.stop().await;
}

#[tokio::test]
async fn what_comes_while_no_page_is_open_is_sent_when_one_opens() {
    let hub = start_with_accounts(&[("ann", "secret")]).await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "while you were out".into() }).await;
    os.expect_error(proto::chatos::ErrorCode::Ok).await;
    // Signed in through the API alone: the queued message waits for a page to show it; the
    // first page to open gets it, marked as replayed.
    let http = reqwest::Client::new();
    let (_, session) = answer(
        http.post(format!("http://{}/api/session", hub.web))
            .json(&json!({ "name": "ann", "password": "secret" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let token = session["token"].as_str().unwrap().to_owned();
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "and now".into() }).await;
    os.expect_error(proto::chatos::ErrorCode::Ok).await;
    let mut page = open_ws(&hub, &token).await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "live".into() }).await;
    // Nothing lost, and in order: what waited for the account, then what came after. Until a
    // page has shown what waited, what comes joins the queue behind it: all three come as
    // queued messages, marked "replayed", with their ids in the history.
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = next_message(&mut page).await;
        assert!(m["id"].is_i64() && m["replayed"] == true, "{m}");
        got.push(m["text"].as_str().unwrap().to_owned());
    }
    assert_eq!(got, ["while you were out", "and now", "live"]);
    hub.stop().await;
}

#[tokio::test]
async fn a_page_that_opens_late_gets_what_came_before_marked_replayed() {
    let hub = start().await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/session", hub.web);
    let (_, session) = answer(http.post(&url).json(&json!({ "name": "ann" })).send().await.unwrap()).await;
    let token = session["token"].as_str().unwrap();
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "are you there?".into() }).await;
    os.expect_error(proto::chatos::ErrorCode::Ok).await;
    // The answer to a command of the session comes through its queue after that message:
    // once it is here, the session has taken the message, with no page to show it.
    let send = http.post(format!("http://{}/api/messages", hub.web)).bearer_auth(token);
    let sent = answer(send.json(&json!({ "to": "lobby", "text": "brb" })).send().await.unwrap()).await;
    assert_eq!(sent, (200, json!({ "sent": true })));
    let mut page = open_ws(&hub, token).await;
    let m = next_message(&mut page).await;
    assert_eq!((m["text"].as_str(), m["replayed"].as_bool()), (Some("are you there?"), Some(true)));
    hub.stop().await;
}

/// Password guessing is held back per address, across the web and ChatHack: past the
/// attempts of a window, even the right password is refused unchecked until the window ends;
/// a right password before that starts afresh. Guests are never held back.
/// On tokio's paused clock: the minute's window passes in no time.
#[tokio::test(start_paused = true)]
async fn password_guessing_is_throttled_per_address_on_the_web_and_chathack() {
    let hub = start_prepared(|store| store.add_account("ann", "secret").unwrap(), |c| c.login_attempts = 3).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/api/session", hub.web);
    let sign_in = |password: &str| {
        let r = http.post(&url).json(&json!({ "name": "ann", "password": password }));
        async move {
            let (status, body) = answer(r.send().await.unwrap()).await;
            (status, body["code"].as_str().map(str::to_owned))
        }
    };
    let hack = |password: &str| {
        let login = ClientPacket::LoginWithPassword { login: "ann".into(), password: password.into() };
        async move {
            let mut hack = Hack::connect(hub.chathack).await;
            hack.send(&login).await;
            hack.next().await
        }
    };
    let wrong = (401, Some("wrong_password".to_owned()));
    let held = (429, Some("too_many_attempts".to_owned()));

    // Two wrong, then the right one: a fresh start.
    assert_eq!(sign_in("guess1").await, wrong);
    assert_eq!(hack("guess2").await, Some(ServerPacket::Ack(2)));
    let (status, body) =
        answer(http.post(&url).json(&json!({ "name": "ann", "password": "secret" })).send().await.unwrap()).await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();
    let (status, _) = answer(http.delete(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(status, 204);

    // Three wrong on either door, and the right one is refused without a check.
    assert_eq!(sign_in("guess3").await, wrong);
    assert_eq!(hack("guess4").await, Some(ServerPacket::Ack(2)));
    assert_eq!(sign_in("guess5").await, wrong);
    let (status, body) =
        answer(http.post(&url).json(&json!({ "name": "ann", "password": "secret" })).send().await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (429, Some("too_many_attempts")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("try again in"), "{body}");
    assert_eq!(sign_in("guess6").await, held);
    assert_eq!(hack("secret").await, Some(ServerPacket::Ack(2)), "ChatHack refuses too");
    // Guests are not held back.
    let (status, _) = answer(http.post(&url).json(&json!({ "name": "guest" })).send().await.unwrap()).await;
    assert_eq!(status, 201);

    // Once the window is over, the right password works again.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(hack("secret").await, Some(ServerPacket::Ack(3)));
    hub.stop().await;
}

/// A web client whose connections come from `ip` (one of loopback's many addresses).
fn client_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder().local_address(std::net::IpAddr::from(ip)).build().unwrap()
}

/// A ChatHack login with a password from `ip`: the server's answer.
async fn hack_from(hub: &Hub, ip: [u8; 4], login: &str, password: &str) -> Option<ServerPacket> {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(std::net::SocketAddr::from((ip, 0))).unwrap();
    let mut hack = Hack::from_stream(socket.connect(hub.chathack).await.unwrap());
    hack.send(&ClientPacket::LoginWithPassword { login: login.into(), password: password.into() }).await;
    hack.next().await
}

#[tokio::test]
async fn guesses_at_one_account_from_many_addresses_are_held_back_and_its_owner_still_gets_in() {
    let hub = start_prepared(
        |store| {
            store.add_account("ann", "secret").unwrap();
            store.add_account("bob", "hunter2").unwrap();
        },
        |c| {
            c.login_attempts = 5;
            c.login_account_attempts = 10;
        },
    )
    .await;
    let url = format!("http://{}/api/session", hub.web);
    let sign_in = |ip: [u8; 4], name: &str, password: &str| {
        let r = client_from(ip).post(&url).json(&json!({ "name": name, "password": password }));
        async move { answer(r.send().await.unwrap()).await.0 }
    };
    // Twelve addresses, five wrong passwords each: once ten failed, every other address gets
    // one guess, not five.
    let (mut checked, mut held) = (0, 0);
    for a in 2..14u8 {
        for guess in 0..5 {
            match sign_in([127, 0, 0, a], "ann", &format!("guess{a}.{guess}")).await {
                401 => checked += 1,
                429 => held += 1,
                other => panic!("{other}"),
            }
        }
    }
    assert_eq!((checked, held), (10 + 10, 40));
    // Every address that guessed is held back from ann, her password or not, on either door;
    // from an address that never failed, she gets in.
    assert_eq!(sign_in([127, 0, 0, 13], "ann", "secret").await, 429);
    assert_eq!(hack_from(&hub, [127, 0, 0, 13], "ann", "secret").await, Some(ServerPacket::Ack(2)));
    assert_eq!(sign_in([127, 0, 0, 50], "ann", "secret").await, 201);
    // Wrong passwords on ChatHack count as well: ten addresses, one guess each, guard bob;
    // he gets in on ChatHack from another.
    for a in 60..70u8 {
        assert_eq!(hack_from(&hub, [127, 0, 0, a], "bob", "guess").await, Some(ServerPacket::Ack(2)));
    }
    assert_eq!(sign_in([127, 0, 0, 60], "bob", "hunter2").await, 429, "one attempt of five: the account's guard");
    assert_eq!(hack_from(&hub, [127, 0, 0, 70], "bob", "hunter2").await, Some(ServerPacket::Ack(3)));
    hub.stop().await;
}
