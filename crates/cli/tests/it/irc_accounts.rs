//! IRC accounts and IRCv3 capabilities: SASL PLAIN and PASS sign in to an account (what was
//! queued for it comes with `server-time`), `echo-message`, `multi-prefix`.

use crate::irc::Irc;
use crate::support::{start, start_prepared, Raw};
use base64::Engine;
use proto::chatos::{ErrorCode, Packet};

fn plain(authcid: &str, password: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("\0{authcid}\0{password}"))
}

#[tokio::test]
async fn sasl_signs_in_to_an_account_and_what_waited_for_it_comes_with_its_time() {
    let hub = start_prepared(|s| s.add_account("Ann", "pw").unwrap(), |_| {}).await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "while you were away".into() }).await;
    os.expect_error(ErrorCode::Ok).await;

    let mut irc = Irc::connect(hub.irc).await;
    irc.send("CAP LS 302\r\nNICK guessing\r\nUSER ann 0 * :Ann\r\n").await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard CAP * LS :sasl=PLAIN server-time echo-message multi-prefix message-tags userhost-in-names cap-notify");
    irc.send("CAP REQ :sasl server-time\r\n").await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard CAP * ACK :sasl server-time");
    // A wrong password first, then the right one.
    irc.send(&format!("AUTHENTICATE PLAIN\r\nAUTHENTICATE {}\r\n", plain("ann", "nope"))).await;
    assert_eq!(irc.line().await.unwrap(), "AUTHENTICATE +");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 904 * :SASL authentication failed");
    irc.send(&format!("AUTHENTICATE PLAIN\r\nAUTHENTICATE {}\r\nCAP END\r\n", plain("ann", "pw"))).await;
    assert_eq!(irc.line().await.unwrap(), "AUTHENTICATE +");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 900 * Ann!ann@switchboard Ann :You are now logged in as Ann");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 903 * :SASL authentication successful");
    // The account's name is the nick; the queue comes after the welcome, with its time.
    assert_eq!(irc.line().await.unwrap(), ":switchboard 001 Ann :Welcome to the Switchboard hub, Ann!ann@switchboard");
    irc.expect(" 366 Ann #lobby ").await;
    let queued = irc.line().await.unwrap();
    let (time, line) = queued.split_once(' ').unwrap();
    assert_eq!(line, ":os!os@switchboard PRIVMSG Ann :while you were away");
    let time = time.strip_prefix("@time=").unwrap_or_else(|| panic!("no time: {queued}"));
    let at = humantime::parse_rfc3339(time).unwrap();
    let age = std::time::SystemTime::now().duration_since(at).unwrap();
    assert!(age < std::time::Duration::from_secs(60), "{time}");
    hub.stop().await;
}

#[tokio::test]
async fn a_reserved_nick_takes_its_password_by_sasl_or_pass() {
    let hub = start_prepared(|s| s.add_account("ann", "pw").unwrap(), |_| {}).await;
    // Without a password, an account's name is taken, as any held nick.
    let mut guest = Irc::connect(hub.irc).await;
    guest.send("NICK ann\r\nUSER x 0 * :X\r\n").await;
    assert_eq!(guest.line().await.unwrap(), ":switchboard 433 * ann :Nickname is already in use");
    // PASS with the wrong password is refused; with the right one it signs in.
    let mut pass = Irc::connect(hub.irc).await;
    pass.send("PASS wrong\r\nNICK ann\r\nUSER x 0 * :X\r\n").await;
    assert_eq!(pass.line().await.unwrap(), ":switchboard 464 * :Password incorrect");
    pass.send("PASS pw\r\nNICK ann\r\n").await;
    assert_eq!(pass.line().await.unwrap(), ":switchboard 001 ann :Welcome to the Switchboard hub, ann!x@switchboard");
    // PASS for a nick without an account is a guest's login.
    let mut bob = Irc::connect(hub.irc).await;
    bob.send("PASS whatever\r\nNICK bob\r\nUSER bob 0 * :Bob\r\n").await;
    bob.expect(" 001 bob ").await;
    // SASL without asking for the capability, an unknown mechanism, an abort.
    let mut cy = Irc::connect(hub.irc).await;
    cy.send("AUTHENTICATE PLAIN\r\nCAP REQ sasl\r\nAUTHENTICATE EXTERNAL\r\nAUTHENTICATE PLAIN\r\nAUTHENTICATE *\r\n")
        .await;
    assert_eq!(
        cy.line().await.unwrap(),
        ":switchboard 904 * :SASL authentication failed (ask for the sasl capability first)"
    );
    assert_eq!(cy.line().await.unwrap(), ":switchboard CAP * ACK :sasl");
    assert_eq!(cy.line().await.unwrap(), ":switchboard 908 * PLAIN :are available SASL mechanisms");
    assert_eq!(cy.line().await.unwrap(), ":switchboard 904 * :SASL authentication failed");
    assert_eq!(cy.line().await.unwrap(), "AUTHENTICATE +");
    assert_eq!(cy.line().await.unwrap(), ":switchboard 906 * :SASL authentication aborted");
    cy.send(&format!("AUTHENTICATE PLAIN\r\nAUTHENTICATE {}\r\n", "A".repeat(400))).await;
    assert_eq!(cy.line().await.unwrap(), "AUTHENTICATE +");
    cy.send("AUTHENTICATE =\r\n").await;
    assert_eq!(cy.line().await.unwrap(), ":switchboard 904 * :SASL authentication failed", "not base64 of PLAIN");
    hub.stop().await;
}

#[tokio::test]
async fn echo_message_gives_what_was_sent_back_and_multi_prefix_shows_every_prefix() {
    let hub = start().await;
    let mut os = Raw::login(hub.chatos, "os").await;
    let mut ann = Irc::connect(hub.irc).await;
    ann.send("CAP LS 302\r\nCAP REQ :echo-message multi-prefix\r\nNICK ann\r\nUSER ann 0 * :Ann\r\nCAP END\r\n").await;
    ann.expect(" CAP * ACK :echo-message multi-prefix").await;
    ann.expect(" 366 ann #lobby ").await;
    ann.send("PRIVMSG #lobby :to all\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard PRIVMSG #lobby :to all");
    os.expect(Packet::Sma { sender: "ann".into(), message: "to all".into() }).await;
    ann.send("PRIVMSG os :to you\r\nPRIVMSG nobody :lost\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard PRIVMSG os :to you");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 401 ann nobody :No such nick/channel");
    ann.send("JOIN #x\r\nMODE #x +v ann\r\nPRIVMSG #x :in x\r\nNAMES #x\r\nCAP LIST\r\n").await;
    ann.expect(" 366 ann #x ").await;
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard MODE #x +v ann");
    assert_eq!(ann.line().await.unwrap(), ":ann!ann@switchboard PRIVMSG #x :in x");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 353 ann = #x :@+ann");
    ann.expect(" 366 ann #x ").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard CAP ann LIST :echo-message multi-prefix");
    // Without multi-prefix, the highest prefix only.
    let mut bob = Irc::register(hub.irc, "bob").await;
    bob.send("JOIN #x\r\n").await;
    assert_eq!(bob.expect(" 353 ").await, ":switchboard 353 bob = #x :@ann bob");
    hub.stop().await;
}

/// `message-tags`: `+typing` on `TAGMSG` crosses to and from the web's typing notices;
/// `userhost-in-names` shows each name as `nick!user@host`.
#[tokio::test]
async fn typing_crosses_between_irc_and_the_web_and_names_come_with_their_hosts() {
    let hub = start().await;
    let mut pia = crate::web::Web::sign_in(&hub, "pia").await;
    let mut ann = Irc::connect(hub.irc).await;
    ann.send("CAP LS 302\r\nCAP REQ :message-tags userhost-in-names cap-notify\r\nNICK ann\r\nUSER ann 0 * :Ann\r\n")
        .await;
    ann.send("CAP END\r\n").await;
    let burst = ann.until(" 366 ann #lobby ").await;
    assert!(burst.contains(&":switchboard 353 ann = #lobby :pia!pia@switchboard ann!ann@switchboard".to_owned()));
    ann.send("@+typing=active TAGMSG pia\r\n").await;
    loop {
        let event = pia.event().await;
        if event["type"] == "typing" {
            assert_eq!(event, serde_json::json!({ "type": "typing", "from": "ann", "to": "pia", "active": true }));
            break;
        }
    }
    use futures_util::SinkExt;
    let typing = serde_json::json!({ "type": "typing", "to": "ann", "active": true }).to_string();
    pia.ws.send(tokio_tungstenite::tungstenite::Message::Text(typing.into())).await.unwrap();
    assert_eq!(ann.expect("TAGMSG").await, "@+typing=active :pia!pia@switchboard TAGMSG ann");
    // A client that did not ask for message-tags is not told.
    let mut bob = Irc::register(hub.irc, "bob").await;
    let typing = serde_json::json!({ "type": "typing", "to": "bob", "active": true }).to_string();
    pia.ws.send(tokio_tungstenite::tungstenite::Message::Text(typing.into())).await.unwrap();
    pia.say("bob", "after typing").await;
    assert_eq!(bob.line().await.unwrap(), ":pia!pia@switchboard PRIVMSG bob :after typing", "and no TAGMSG");
    hub.stop().await;
}

/// Signing in to an account whose name an older IRC connection holds (one that may be
/// stale: a client reconnecting at once) takes the name over; the old link is closed.
#[tokio::test]
async fn a_sasl_login_takes_its_name_over_from_an_older_irc_connection_of_the_account() {
    let hub = start_prepared(|s| s.add_account("ann", "pw").unwrap(), |_| {}).await;
    let sasl = format!(
        "CAP LS 302\r\nCAP REQ sasl\r\nNICK ann\r\nUSER ann 0 * :Ann\r\nAUTHENTICATE PLAIN\r\nAUTHENTICATE {}\r\nCAP END\r\n",
        plain("ann", "pw")
    );
    let mut old = Irc::connect(hub.irc).await;
    old.send(&sasl).await;
    old.expect(" 366 ann #lobby ").await;
    let mut new = Irc::connect(hub.irc).await;
    new.send(&sasl).await;
    new.expect(" 366 ann #lobby ").await;
    assert_eq!(old.expect("ERROR").await, "ERROR :Closing link");
    assert_eq!(old.line().await, None);
    hub.stop().await;
}
