//! Rooms on the web: a web user joins, speaks in and leaves a room that IRC users are in too
//! (the web's rooms are IRC's channels), through the HTTP API and the WebSocket.

use crate::irc::Irc;
use crate::support::start;
use crate::web::Web;
use serde_json::{json, Value};

/// The next event of this `type`, passing over the others.
async fn next_of(web: &mut Web, kind: &str) -> Value {
    loop {
        let event = web.event().await;
        if event["type"] == kind {
            return event;
        }
    }
}

#[tokio::test]
async fn a_web_user_and_an_irc_user_share_a_room() {
    let hub = start().await;
    let mut pia = Web::sign_in(&hub, "pia").await;
    let (status, body) = pia.post("/api/rooms/join", json!({ "room": "#Den" })).await;
    assert_eq!((status, body), (200, json!({ "done": true })));
    assert_eq!(next_of(&mut pia, "room_joined").await, json!({ "type": "room_joined", "room": "#Den", "name": "pia" }));
    let state = next_of(&mut pia, "room_state").await;
    assert_eq!(state["members"], json!([{ "name": "pia", "op": true, "voice": false }]));

    let mut ann = Irc::register(hub.irc, "ann").await;
    ann.send("JOIN #den\r\n").await;
    assert_eq!(ann.expect(" 353 ").await, ":switchboard 353 ann = #Den :@pia ann");
    assert_eq!(next_of(&mut pia, "room_joined").await["name"], "ann");

    // Both ways; the web user gets its own message back (all its tabs show it).
    ann.send("PRIVMSG #den :hi pia\r\n").await;
    let m = pia.message().await;
    assert_eq!((m["from"].as_str(), m["to"].as_str(), m["text"].as_str()), (Some("ann"), Some("#Den"), Some("hi pia")));
    pia.say("#den", "hi ann").await;
    assert_eq!(ann.expect("PRIVMSG #Den").await, ":pia!pia@switchboard PRIVMSG #Den :hi ann");
    assert_eq!(pia.message().await["text"], "hi ann");

    // The room's history, for its members; no conversation with it.
    let (status, history) = pia.get("/api/history?with=%23DEN").await;
    assert_eq!(status, 200, "{history}");
    let said: Vec<(&str, &str, &str)> = history["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["from"].as_str().unwrap(), m["to"].as_str().unwrap(), m["text"].as_str().unwrap()))
        .collect();
    assert_eq!(said, [("ann", "#Den", "hi pia"), ("pia", "#Den", "hi ann")]);
    let (_, conversations) = pia.get("/api/conversations").await;
    assert_eq!(conversations["conversations"], json!([]));
    let outsider = Web::sign_in(&hub, "olly").await;
    let (status, body) = outsider.get("/api/history?with=%23den").await;
    assert_eq!((status, body["code"].as_str()), (409, Some("not_in_room")));

    // The rooms as the web lists them, and one with its members.
    let (status, list) = pia.get("/api/rooms").await;
    assert_eq!(status, 200);
    assert_eq!(list["rooms"], json!([{ "name": "#Den", "count": 2, "joined": true }]));
    let (_, one) = pia.get("/api/rooms?room=%23den").await;
    assert_eq!(one["rooms"][0]["members"][1], json!({ "name": "ann", "op": false, "voice": false }));
    let (status, none) = pia.get("/api/rooms?room=%23nowhere").await;
    assert_eq!((status, none["code"].as_str()), (404, Some("not_found")));

    // The operator on the web, and an IRC topic the web hears.
    ann.send("TOPIC #den :ours\r\n").await;
    assert_eq!(ann.expect(" 482 ").await, ":switchboard 482 ann #den :You're not channel operator");
    ann.send("PART #den :bye\r\n").await;
    let left = next_of(&mut pia, "room_left").await;
    assert_eq!(left, json!({ "type": "room_left", "room": "#Den", "name": "ann", "reason": "bye" }));

    // What goes wrong, in the API's words.
    let (status, body) = pia.post("/api/messages", json!({ "to": "#elsewhere", "text": "x" })).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    let (status, body) = pia.post("/api/rooms/join", json!({ "room": "#a b" })).await;
    assert_eq!((status, body["code"].as_str()), (400, Some("invalid_name")));
    let (status, body) = pia.post("/api/rooms/leave", json!({ "room": "#den" })).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = pia.post("/api/rooms/leave", json!({ "room": "#den" })).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "the room ended with its last member");
    hub.stop().await;
}

/// Typing in a room is told to its members who take typing notices (IRC's `+typing` with
/// `message-tags`, the web's typing event with the room as `to`), not to others.
#[tokio::test]
async fn typing_in_a_room_reaches_its_members_on_the_web_and_irc() {
    let hub = start().await;
    let mut pia = Web::sign_in(&hub, "pia").await;
    pia.post("/api/rooms/join", json!({ "room": "#den" })).await;
    let mut ann = Irc::connect(hub.irc).await;
    ann.send("CAP LS 302\r\nCAP REQ message-tags\r\nNICK ann\r\nUSER ann 0 * :Ann\r\nCAP END\r\n").await;
    ann.expect(" 366 ann #lobby ").await;
    ann.send("JOIN #den\r\n").await;
    ann.expect(" 366 ann #den ").await;
    let mut bob = Irc::connect(hub.irc).await;
    bob.send("CAP LS 302\r\nCAP REQ message-tags\r\nNICK bob\r\nUSER bob 0 * :Bob\r\nCAP END\r\n").await;
    bob.expect(" 366 bob #lobby ").await;

    ann.send("@+typing=active TAGMSG #den\r\n").await;
    assert_eq!(
        next_of(&mut pia, "typing").await,
        json!({ "type": "typing", "from": "ann", "to": "#den", "active": true })
    );
    use futures_util::SinkExt;
    let typing = json!({ "type": "typing", "to": "#den", "active": true }).to_string();
    pia.ws.send(tokio_tungstenite::tungstenite::Message::Text(typing.into())).await.unwrap();
    assert_eq!(ann.expect("TAGMSG").await, "@+typing=active :pia!pia@switchboard TAGMSG #den");
    // Bob is no member: he is not told, and his own typing there goes nowhere.
    bob.send("@+typing=active TAGMSG #den\r\nPRIVMSG ann :after typing\r\n").await;
    let heard = ann.until("PRIVMSG").await;
    assert!(!heard.iter().any(|l| l.contains("TAGMSG")), "{heard:#?}");
    assert_eq!(heard.last().unwrap(), ":bob!bob@switchboard PRIVMSG ann :after typing");
    pia.say("bob", "after typing").await;
    let heard = bob.until("PRIVMSG").await;
    assert!(!heard.iter().any(|l| l.contains("TAGMSG")), "{heard:#?}");
    hub.stop().await;
}
