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
    assert_eq!(irc.line().await.unwrap(), ":switchboard CAP * LS :sasl=PLAIN server-time echo-message multi-prefix message-tags userhost-in-names cap-notify batch draft/chathistory account-tag extended-join account-notify away-notify labeled-response");
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

/// The history lines of one `CHATHISTORY` answer, without the batch's ends; each checked to
/// be in batch `id`, and with a time and a message id.
async fn history(irc: &mut Irc, ask: &str, id: &str, target: &str) -> Vec<String> {
    irc.send(&format!("{ask}\r\n")).await;
    assert_eq!(irc.expect(" BATCH +").await, format!(":switchboard BATCH +{id} chathistory {target}"));
    let mut lines = irc.until(&format!("BATCH -{id}")).await;
    assert_eq!(lines.pop().unwrap(), format!(":switchboard BATCH -{id}"));
    lines
        .into_iter()
        .map(|line| {
            let (tags, line) = line.split_once(' ').unwrap();
            let tags: Vec<&str> = tags.strip_prefix('@').unwrap().split(';').collect();
            assert_eq!(tags[0], format!("batch={id}"), "{tags:?}");
            humantime::parse_rfc3339(tags[1].strip_prefix("time=").unwrap()).unwrap();
            let msgid = tags[2].strip_prefix("msgid=").unwrap();
            format!("{msgid} {line}")
        })
        .collect()
}

/// `CHATHISTORY` reads the lobby, a room one is in and one's own conversations from the
/// store, in a batch, each message with its time and id; `TARGETS` says where one talked.
/// With `server-time`, what others say live comes with its time too.
#[tokio::test]
async fn chathistory_reads_the_lobby_a_room_and_one_s_conversations_in_batches() {
    let hub = start().await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Sma { sender: "os".into(), message: "before ann came".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let mut ann = Irc::connect(hub.irc).await;
    ann.send(
        "CAP LS 302\r\nCAP REQ :batch server-time message-tags draft/chathistory\r\nNICK ann\r\nUSER ann 0 * :A\r\n",
    )
    .await;
    ann.send("CAP END\r\n").await;
    ann.expect(" 366 ann #lobby ").await;
    os.send(&Packet::Sma { sender: "os".into(), message: "live".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let live = ann.line().await.unwrap();
    let (time, line) = live.split_once(' ').unwrap();
    assert_eq!(line, ":os!os@switchboard PRIVMSG #lobby :live");
    let at = humantime::parse_rfc3339(time.strip_prefix("@time=").unwrap()).unwrap();
    assert!(std::time::SystemTime::now().duration_since(at).unwrap() < std::time::Duration::from_secs(60));

    let lobby = history(&mut ann, "CHATHISTORY LATEST #lobby * 10", "h1", "#lobby").await;
    assert_eq!(lobby.len(), 2, "{lobby:#?}");
    assert!(lobby[0].ends_with(" :os!os@switchboard PRIVMSG #lobby :before ann came"), "{lobby:#?}");
    assert!(lobby[1].ends_with(" :os!os@switchboard PRIVMSG #lobby :live"), "{lobby:#?}");
    let live_id = lobby[1].split(' ').next().unwrap();
    let before = history(&mut ann, &format!("CHATHISTORY BEFORE #lobby msgid={live_id} 10"), "h2", "#lobby").await;
    assert_eq!(before, lobby[..1]);
    let after =
        history(&mut ann, "CHATHISTORY AFTER #lobby timestamp=2000-01-01T00:00:00.000Z 1", "h3", "#lobby").await;
    assert_eq!(after, lobby[..1]);

    // A room's history is its members'.
    let mut bob = Irc::register(hub.irc, "bob").await;
    bob.send("JOIN #rust\r\n").await;
    bob.expect(" 366 bob #rust ").await;
    bob.send("PRIVMSG #rust :in rust\r\n").await;
    ann.send("CHATHISTORY LATEST #rust * 10\r\n").await;
    assert_eq!(
        ann.expect("FAIL").await,
        ":switchboard FAIL CHATHISTORY INVALID_TARGET LATEST #rust :You are not in that channel"
    );
    ann.send("JOIN #rust\r\n").await;
    ann.expect(" 366 ann #rust ").await;
    let rust = history(&mut ann, "CHATHISTORY LATEST #Rust * 10", "h5", "#Rust").await;
    assert_eq!(rust.len(), 1, "{rust:#?}");
    assert!(rust[0].ends_with(" :bob!bob@switchboard PRIVMSG #Rust :in rust"), "{rust:#?}");

    // One's own conversations, both ways; nobody else's.
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "psst".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    ann.expect("PRIVMSG ann :psst").await;
    ann.send("PRIVMSG os :hi os\r\n").await;
    os.expect(Packet::Spm { sender: "ann".into(), recipient: "os".into(), message: "hi os".into() }).await;
    let talk = history(&mut ann, "CHATHISTORY LATEST os * 10", "h6", "os").await;
    assert_eq!(talk.len(), 2, "{talk:#?}");
    assert!(talk[0].ends_with(" :os!os@switchboard PRIVMSG ann :psst"), "{talk:#?}");
    assert!(talk[1].ends_with(" :ann!ann@switchboard PRIVMSG os :hi os"), "{talk:#?}");
    bob.send("CAP REQ batch\r\nCHATHISTORY LATEST os * 10\r\n").await;
    assert_eq!(bob.expect("BATCH").await, ":switchboard BATCH +h1 chathistory os");
    assert_eq!(bob.line().await.unwrap(), ":switchboard BATCH -h1", "nothing of ann's");

    // Where ann talked, the most recent last.
    ann.send("CHATHISTORY TARGETS timestamp=2000-01-01T00:00:00.000Z timestamp=2100-01-01T00:00:00.000Z 10\r\n").await;
    assert_eq!(ann.expect(" BATCH +").await, ":switchboard BATCH +h7 draft/chathistory-targets");
    let targets = ann.until("BATCH -h7").await;
    let named: Vec<&str> = targets.iter().filter_map(|l| l.split(' ').nth(4)).collect();
    assert_eq!(named, ["#lobby", "#rust", "os"], "{targets:#?}");
    assert!(targets[0].starts_with("@batch=h7 :switchboard CHATHISTORY TARGETS #lobby 20"), "{targets:#?}");

    // What is wrong is said so.
    ann.send("CHATHISTORY SOMETIME #lobby * 1\r\nCHATHISTORY LATEST #lobby * 0\r\nCHATHISTORY BEFORE #lobby *\r\n")
        .await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard FAIL CHATHISTORY UNKNOWN_COMMAND SOMETIME :Unknown command");
    assert_eq!(ann.line().await.unwrap(), ":switchboard FAIL CHATHISTORY INVALID_PARAMS LATEST :Invalid limit");
    assert_eq!(ann.line().await.unwrap(), ":switchboard FAIL CHATHISTORY NEED_MORE_PARAMS BEFORE :Missing parameters");
    hub.stop().await;
}

/// Who is signed in to an account (on any protocol: its name is reserved) is told with
/// `account-tag` on what they say, in a `JOIN` with `extended-join`, by `WHOIS` (330) and
/// by WHOX, and in history; a guest is not.
#[tokio::test]
async fn accounts_are_told_in_tags_joins_whois_and_whox() {
    let hub = start_prepared(|s| s.add_account("ann", "pw").unwrap(), |_| {}).await;
    let mut bob = Irc::connect(hub.irc).await;
    bob.send(
        "CAP LS 302\r\nCAP REQ :account-tag extended-join account-notify\r\nNICK bob\r\nUSER bob 0 * :B\r\nCAP END\r\n",
    )
    .await;
    let burst = bob.until(" 366 bob #lobby ").await;
    assert!(burst.contains(&":bob!bob@switchboard JOIN #lobby * :bob".to_owned()), "{burst:#?}");
    let isupport = burst.iter().filter(|l| l.contains(" 005 ")).cloned().collect::<Vec<_>>().join(" ");
    assert!(isupport.contains(" WHOX "), "{isupport}");

    let mut ann = Irc::connect(hub.irc).await;
    ann.send(&format!(
        "CAP LS 302\r\nCAP REQ sasl\r\nNICK ann\r\nUSER ann 0 * :Ann\r\nAUTHENTICATE PLAIN\r\nAUTHENTICATE {}\r\nCAP END\r\n",
        plain("ann", "pw")
    ))
    .await;
    ann.expect(" 366 ann #lobby ").await;
    assert_eq!(bob.line().await.unwrap(), "@account=ann :ann!ann@switchboard JOIN #lobby ann :ann");
    let mut os = Raw::login(hub.chatos, "os").await;
    assert_eq!(bob.line().await.unwrap(), ":os!os@switchboard JOIN #lobby * :os");
    ann.send("PRIVMSG #lobby :signed in\r\n").await;
    assert_eq!(bob.line().await.unwrap(), "@account=ann :ann!ann@switchboard PRIVMSG #lobby :signed in");
    os.expect(Packet::Sma { sender: "ann".into(), message: "signed in".into() }).await;
    os.send(&Packet::Sma { sender: "os".into(), message: "a guest".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    assert_eq!(bob.line().await.unwrap(), ":os!os@switchboard PRIVMSG #lobby :a guest");

    bob.send("WHOIS ann\r\nWHOIS os\r\n").await;
    let whois = bob.until(" 318 bob ann ").await;
    assert!(whois.contains(&":switchboard 330 bob ann ann :is logged in as".to_owned()), "{whois:#?}");
    let whois = bob.until(" 318 bob os ").await;
    assert!(!whois.iter().any(|l| l.contains(" 330 ")), "{whois:#?}");
    bob.send("WHO #lobby %tcnfar,42\r\n").await;
    let mut who = bob.until(" 315 bob #lobby ").await;
    who.sort();
    assert_eq!(
        who,
        [
            ":switchboard 315 bob #lobby :End of WHO list",
            ":switchboard 354 bob 42 #lobby ann H ann :ann",
            ":switchboard 354 bob 42 #lobby bob H 0 :bob",
            ":switchboard 354 bob 42 #lobby os H 0 :os",
        ]
    );
    // History says who was an account's too.
    bob.send("CAP REQ :batch server-time\r\n").await;
    bob.expect(" ACK ").await;
    bob.send("CHATHISTORY LATEST #lobby * 2\r\n").await;
    let history = bob.until(" BATCH -").await;
    assert_eq!(history.len(), 4, "{history:#?}");
    assert!(history[1].ends_with(";account=ann :ann!ann@switchboard PRIVMSG #lobby :signed in"), "{history:#?}");
    assert!(history[2].ends_with(" :os!os@switchboard PRIVMSG #lobby :a guest"), "{history:#?}");
    assert!(!history[2].contains("account="), "{history:#?}");
    hub.stop().await;
}

/// `AWAY`: marked (306) and back (305); `away-notify` tells who asked for it; who writes to a
/// nick that is away is told `301`, and `WHOIS`, `USERHOST` and `WHO` show it.
#[tokio::test]
async fn away_is_told_to_who_asks_for_it_and_to_who_writes() {
    let hub = start().await;
    let mut ann = Irc::connect(hub.irc).await;
    ann.send("CAP LS 302\r\nCAP REQ :away-notify\r\nNICK ann\r\nUSER ann 0 * :Ann\r\nCAP END\r\n").await;
    let burst = ann.until(" 366 ann #lobby ").await;
    assert!(burst.iter().any(|l| l.contains(" AWAYLEN=390 ")), "{burst:#?}");
    let mut bob = Irc::register(hub.irc, "bob").await;
    ann.expect(":bob!bob@switchboard JOIN #lobby").await;
    bob.send("AWAY :at lunch\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 306 bob :You have been marked as being away");
    assert_eq!(ann.line().await.unwrap(), ":bob!bob@switchboard AWAY :at lunch");
    ann.send("PRIVMSG bob :there?\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 301 ann bob :at lunch");
    assert_eq!(bob.line().await.unwrap(), ":ann!ann@switchboard PRIVMSG bob :there?");
    ann.send("WHOIS bob\r\n").await;
    let whois = ann.until(" 318 ann bob ").await;
    assert!(whois.contains(&":switchboard 301 ann bob :at lunch".to_owned()), "{whois:#?}");
    ann.send("USERHOST bob ann\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 302 ann :bob=-bob@switchboard ann=+ann@switchboard");
    ann.send("WHO #lobby %nf\r\n").await;
    let mut who = ann.until(" 315 ann #lobby ").await;
    who.sort();
    assert_eq!(who[1..], [":switchboard 354 ann ann :H", ":switchboard 354 ann bob :G"], "{who:#?}");

    // Without away-notify, bob is not told that ann is away, but hears it when he writes.
    ann.send("AWAY :gone fishing\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 306 ann :You have been marked as being away");
    bob.send("PRIVMSG ann :hm\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 301 bob ann :gone fishing", "and no AWAY before it");
    assert_eq!(ann.line().await.unwrap(), ":bob!bob@switchboard PRIVMSG ann :hm");
    // A ChatOS user writing to an away IRC user: its message arrives (ChatOS has no 301).
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "hello".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    assert_eq!(ann.expect("PRIVMSG ann").await, ":os!os@switchboard PRIVMSG ann :hello");
    bob.expect(":os!os@switchboard JOIN #lobby").await;
    bob.send("AWAY\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 305 bob :You are no longer marked as being away");
    assert_eq!(ann.line().await.unwrap(), ":bob!bob@switchboard AWAY");
    hub.stop().await;
}

/// `WHOWAS`: who left, on any door, newest first, with its door and when; `406` for a nick
/// never seen, `431` without one.
#[tokio::test]
async fn whowas_tells_who_left_on_which_door_and_when() {
    let hub = start().await;
    let mut ann = Irc::register(hub.irc, "ann").await;
    let os = Raw::login(hub.chatos, "bob").await;
    ann.expect(":bob!bob@switchboard JOIN #lobby").await;
    drop(os);
    ann.expect(":bob!bob@switchboard QUIT").await;
    let mut bob = Irc::register(hub.irc, "Bob").await;
    bob.send("QUIT :bye\r\n").await;
    ann.expect(":Bob!Bob@switchboard QUIT").await;
    ann.send("WHOWAS bob\r\n").await;
    let was = ann.until(" 369 ann bob ").await;
    assert_eq!(was.len(), 5, "{was:#?}");
    assert_eq!(was[0], ":switchboard 314 ann Bob Bob switchboard * :Bob");
    assert!(was[1].starts_with(":switchboard 312 ann Bob switchboard :was on irc, left 20"), "{was:#?}");
    assert_eq!(was[2], ":switchboard 314 ann bob bob switchboard * :bob");
    assert!(was[3].starts_with(":switchboard 312 ann bob switchboard :was on chatos, left 20"), "{was:#?}");
    assert_eq!(was[4], ":switchboard 369 ann bob :End of WHOWAS");
    ann.send("WHOWAS bob 1\r\n").await;
    assert_eq!(ann.until(" 369 ann bob ").await.len(), 3);
    ann.send("WHOWAS nobody\r\nWHOWAS\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 406 ann nobody :There was no such nickname");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 369 ann nobody :End of WHOWAS");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 431 ann :No nickname given");
    hub.stop().await;
}

/// `labeled-response`: each labeled message is answered with its label: one line tagged,
/// several in a `labeled-response` batch, `ACK` when nothing answers; only with `batch`.
#[tokio::test]
async fn labeled_messages_are_answered_with_their_labels() {
    let hub = start().await;
    let mut ann = Irc::connect(hub.irc).await;
    ann.send(
        "CAP LS 302\r\nCAP REQ :batch labeled-response echo-message\r\nNICK ann\r\nUSER ann 0 * :A\r\nCAP END\r\n",
    )
    .await;
    ann.expect(" 366 ann #lobby ").await;
    let mut bob = Irc::register(hub.irc, "bob").await;
    ann.expect(":bob!bob@switchboard JOIN #lobby").await;
    ann.send("@label=a\\sb PING x\r\n@label=2 PONG x\r\n@label=3 PRIVMSG #lobby :hi\r\n").await;
    assert_eq!(ann.line().await.unwrap(), "@label=a\\sb :switchboard PONG switchboard :x");
    assert_eq!(ann.line().await.unwrap(), "@label=2 :switchboard ACK");
    assert_eq!(ann.line().await.unwrap(), "@label=3 :ann!ann@switchboard PRIVMSG #lobby :hi");
    // The hub's answers: a message nobody gets, and one to a nick that is away.
    bob.expect("PRIVMSG #lobby :hi").await;
    bob.send("AWAY :out\r\n").await;
    bob.expect(" 306 ").await;
    ann.send("@label=4 PRIVMSG nobody :x\r\n@label=5 PRIVMSG bob :there?\r\n").await;
    assert_eq!(ann.line().await.unwrap(), "@label=4 :switchboard 401 ann nobody :No such nick/channel");
    assert_eq!(
        ann.until("BATCH -").await,
        [
            "@label=5 :switchboard BATCH +l1 labeled-response",
            "@batch=l1 :ann!ann@switchboard PRIVMSG bob :there?",
            "@batch=l1 :switchboard 301 ann bob :out",
            ":switchboard BATCH -l1",
        ]
    );
    // What the door answers after asking the hub, and room commands.
    ann.send("@label=6 WHOIS bob\r\n").await;
    let whois = ann.until("BATCH -").await;
    assert_eq!(whois[0], "@label=6 :switchboard BATCH +l2 labeled-response");
    assert!(whois[1..whois.len() - 1].iter().all(|l| l.starts_with("@batch=l2 :switchboard 3")), "{whois:#?}");
    assert!(whois.iter().any(|l| l.ends_with(" 318 ann bob :End of /WHOIS list")), "{whois:#?}");
    ann.send("@label=7 PART #nowhere\r\n@label=8 AWAY :gone\r\n").await;
    assert_eq!(ann.line().await.unwrap(), "@label=7 :switchboard 403 ann #nowhere :No such channel");
    assert_eq!(ann.line().await.unwrap(), "@label=8 :switchboard 306 ann :You have been marked as being away");
    // What a room command changes goes to all it concerns as it does unlabeled; then the ACK.
    ann.send("@label=9 JOIN #new\r\n").await;
    let joined = ann.until(" ACK").await;
    assert_eq!(joined[0], ":ann!ann@switchboard JOIN #new");
    assert_eq!(joined.last().unwrap(), "@label=9 :switchboard ACK");
    // A batch of history is within the answer's batch.
    ann.send("@label=10 CHATHISTORY LATEST #lobby * 1\r\n").await;
    let history = ann.until("BATCH -l").await;
    assert_eq!(history[0], "@label=10 :switchboard BATCH +l4 labeled-response", "{history:#?}");
    assert_eq!(history[1], "@batch=l4 :switchboard BATCH +h3 chathistory #lobby", "{history:#?}");
    assert_eq!(history[2], "@batch=h3 :ann!ann@switchboard PRIVMSG #lobby :hi", "{history:#?}");
    assert_eq!(history[3..], ["@batch=l4 :switchboard BATCH -h3", ":switchboard BATCH -l4"], "{history:#?}");
    // A nick change, and a refused one.
    ann.send("@label=11 NICK anna\r\n@label=12 NICK bob\r\n").await;
    assert_eq!(ann.line().await.unwrap(), "@label=11 :ann!ann@switchboard NICK anna");
    assert_eq!(ann.line().await.unwrap(), "@label=12 :switchboard 433 anna bob :Nickname is already in use");
    assert_eq!(bob.expect(" NICK ").await, ":ann!ann@switchboard NICK anna");
    // A label over the bound is no label; without batch, no labels.
    let long = "x".repeat(65);
    ann.send(&format!("@label={long} PING y\r\n")).await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard PONG switchboard :y");
    bob.send("CAP REQ labeled-response\r\n").await;
    bob.expect(" ACK ").await;
    bob.send("@label=9 PING z\r\n").await;
    assert_eq!(bob.expect("PONG").await, ":switchboard PONG switchboard :z");
    hub.stop().await;
}

/// `NICK` once registered: the hub renames the session. Everyone sees one `NICK` (not a
/// quit and a join), in the lobby and in rooms, on the web too; `MONITOR` sees the old nick
/// go and the new one come; what is taken (on any door), invalid or an account's is refused.
#[tokio::test]
async fn a_guest_changes_nick_and_every_door_sees_the_same_user_under_the_new_one() {
    let hub = start_prepared(|s| s.add_account("acct", "pw").unwrap(), |_| {}).await;
    let mut pia = crate::web::Web::sign_in(&hub, "pia").await;
    let mut ann = Irc::register(hub.irc, "ann").await;
    let mut bob = Irc::register(hub.irc, "bob").await;
    ann.expect(":bob!bob@switchboard JOIN #lobby").await;
    ann.send("MONITOR + bob,robert\r\nJOIN #x\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 730 ann :bob!bob@switchboard");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 731 ann :robert");
    ann.expect(" 366 ann #x ").await;
    bob.send("JOIN #x\r\nAWAY :brb\r\n").await;
    bob.expect(" 306 bob ").await;
    ann.expect(":bob!bob@switchboard JOIN #x").await;

    bob.send("NICK robert\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":bob!bob@switchboard NICK robert");
    assert_eq!(ann.line().await.unwrap(), ":bob!bob@switchboard NICK robert", "once, for the lobby and #x");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 731 ann :bob");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 730 ann :robert!robert@switchboard");
    loop {
        let event = pia.event().await;
        if event["type"] == "renamed" {
            let renamed = serde_json::json!({ "type": "renamed", "from": "bob", "to": "robert", "protocol": "irc" });
            assert_eq!(event, renamed);
            break;
        }
    }
    // The same user: in the same room, with the same away message, reached by the new nick.
    ann.send("NAMES #x\r\nPRIVMSG robert :hi\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 353 ann = #x :@ann robert");
    ann.expect(" 366 ann #x ").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 301 ann robert :brb");
    assert_eq!(bob.line().await.unwrap(), ":ann!ann@switchboard PRIVMSG robert :hi");
    pia.say("robert", "from the web").await;
    assert_eq!(bob.line().await.unwrap(), ":pia!pia@switchboard PRIVMSG robert :from the web");
    ann.send("PRIVMSG bob :old\r\nWHOWAS bob\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 401 ann bob :No such nick/channel");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 314 ann bob bob switchboard * :bob");
    ann.expect(" 369 ann bob ").await;

    // Refused: taken here or on the web, alike, an account's, invalid; the same nick is a no-op.
    bob.send("NICK ann\r\nNICK PIA\r\nNICK \u{430}nn\r\nNICK acct\r\nNICK 9x\r\nNICK robert\r\nPING done\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 433 robert ann :Nickname is already in use");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 433 robert PIA :Nickname is already in use");
    assert_eq!(
        bob.line().await.unwrap(),
        ":switchboard 433 robert \u{430}nn :Nickname is already in use",
        "ann's look-alike"
    );
    assert_eq!(bob.line().await.unwrap(), ":switchboard 433 robert acct :Nickname is already in use");
    assert_eq!(bob.line().await.unwrap(), ":switchboard 432 robert 9x :Erroneous nickname");
    assert_eq!(bob.line().await.unwrap(), ":switchboard PONG switchboard :done");
    // A nick that differs only in case is a change that others see.
    bob.send("NICK Robert\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":robert!robert@switchboard NICK Robert");

    // An account's name stays.
    let mut acct = Irc::connect(hub.irc).await;
    acct.send(&format!(
        "CAP LS 302\r\nCAP REQ sasl\r\nNICK acct\r\nUSER a 0 * :A\r\nAUTHENTICATE PLAIN\r\nAUTHENTICATE {}\r\nCAP END\r\n",
        plain("acct", "pw")
    ))
    .await;
    acct.expect(" 366 acct #lobby ").await;
    acct.send("NICK other\r\n").await;
    assert_eq!(
        acct.expect(" 400 ").await,
        ":switchboard 400 acct NICK :An account's name, or one the desk is talking with, cannot change"
    );
    hub.stop().await;
}
