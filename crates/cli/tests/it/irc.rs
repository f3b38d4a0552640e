//! The IRC door, spoken to over loopback by a raw IRC client: registration, `#lobby` shared
//! with the other protocols, direct messages both ways, the numerics of what goes wrong.

use crate::jpc::{Jpc, LINDSAY};
use crate::support::{start, start_prepared, Hack, Raw, WAIT};
use proto::chatos::{ErrorCode, Packet};
use std::net::SocketAddr;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// An IRC client as raw lines.
pub struct Irc {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    writer: OwnedWriteHalf,
}

impl Irc {
    pub async fn connect(addr: SocketAddr) -> Irc {
        let (reader, writer) = TcpStream::connect(addr).await.unwrap().into_split();
        Irc { lines: BufReader::new(reader).lines(), writer }
    }

    /// Registers as `nick` (with `CAP` negotiation, as modern clients do) and waits for the
    /// end of `#lobby`'s names.
    pub async fn register(addr: SocketAddr, nick: &str) -> Irc {
        let mut irc = Irc::connect(addr).await;
        irc.send(&format!("CAP LS 302\r\nNICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n")).await;
        irc.expect(" CAP * LS ").await;
        irc.send("CAP END\r\n").await;
        irc.expect(&format!(" 001 {nick} ")).await;
        irc.expect(&format!(" 366 {nick} #lobby ")).await;
        irc
    }

    pub async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.unwrap();
    }

    /// The next line; `None` once the server closed.
    pub async fn line(&mut self) -> Option<String> {
        timeout(WAIT, self.lines.next_line()).await.expect("timed out waiting for a line").unwrap()
    }

    /// The next line, however long it takes (for tests on tokio's paused clock, where a
    /// timeout would fire before the server's own timers).
    pub async fn line_whenever(&mut self) -> Option<String> {
        self.lines.next_line().await.unwrap()
    }

    /// Reads up to the first line that holds `what`, and returns it.
    pub async fn expect(&mut self, what: &str) -> String {
        loop {
            match self.line().await {
                Some(line) if line.contains(what) => return line,
                Some(_) => {}
                None => panic!("the server closed before saying {what:?}"),
            }
        }
    }

    /// Everything up to the line that holds `what`, that line included.
    pub async fn until(&mut self, what: &str) -> Vec<String> {
        let mut all = Vec::new();
        loop {
            let line = self.line().await.unwrap_or_else(|| panic!("closed before {what:?}: {all:#?}"));
            let done = line.contains(what);
            all.push(line);
            if done {
                return all;
            }
        }
    }
}

#[tokio::test]
async fn an_irc_user_meets_chatos_and_chathack_users_in_the_lobby_and_directly() {
    let hub = start_prepared(|s| s.whitelist_add("lindsay", LINDSAY).unwrap(), |_| {}).await;
    let mut os = Raw::login(hub.chatos, "os").await;
    let mut lindsay = Jpc::hello(&hub, LINDSAY, "lindsay").await;
    let mut ann = Irc::connect(hub.irc).await;
    ann.send("CAP LS 302\r\nNICK ann\r\nUSER ann 0 * :Ann\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard CAP * LS :sasl=PLAIN server-time echo-message multi-prefix message-tags userhost-in-names cap-notify batch draft/chathistory account-tag extended-join account-notify away-notify labeled-response");
    ann.send("CAP REQ :server-time chghost\r\nCAP END\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard CAP * NAK :server-time chghost", "all or nothing");
    let burst = ann.until(" 366 ann #lobby ").await;
    assert_eq!(burst[0], ":switchboard 001 ann :Welcome to the Switchboard hub, ann!ann@switchboard");
    let isupport: Vec<&String> = burst.iter().filter(|l| l.contains(" 005 ")).collect();
    // Its source, its command, the nick and 13 tokens before the text: 15 parameters.
    let words = |l: &str| l.split(" :").next().unwrap().split(' ').count();
    assert!(isupport.iter().all(|l| words(l) <= 16), "15 parameters a line at most: {isupport:#?}");
    let isupport = isupport.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n");
    for token in [
        "CASEMAPPING=rfc8265",
        "CHANTYPES=#",
        "UTF8ONLY",
        "NICKLEN=",
        "TARGMAX=PRIVMSG:4,NOTICE:4",
        "CHATHISTORY=100",
        "MSGREFTYPES=msgid,timestamp",
    ] {
        assert!(isupport.contains(token), "{isupport}");
    }
    assert!(burst.iter().any(|l| l.contains(" 376 ann ")), "a MOTD: {burst:#?}");
    // Joined to the lobby, which holds everyone who hears it (not the JPC device).
    let join = burst.iter().position(|l| l == ":ann!ann@switchboard JOIN #lobby").expect("joined");
    let names = burst.iter().position(|l| l == ":switchboard 353 ann = #lobby :os ann").expect("names");
    assert!(join < names, "{burst:#?}");

    os.send(&Packet::Sma { sender: "os".into(), message: "hi from ChatOS".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    assert_eq!(ann.line().await.unwrap(), ":os!os@switchboard PRIVMSG #lobby :hi from ChatOS");
    ann.send("PRIVMSG #lobby :hi from IRC\r\n").await;
    os.expect(Packet::Sma { sender: "ann".into(), message: "hi from IRC".into() }).await;

    // Directly, both ways, and to a device on JPC.
    ann.send("PRIVMSG os :psst\r\n").await;
    os.expect(Packet::Spm { sender: "ann".into(), recipient: "os".into(), message: "psst".into() }).await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ANN".into(), message: "back".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    assert_eq!(ann.line().await.unwrap(), ":os!os@switchboard PRIVMSG ann :back");
    ann.send("PRIVMSG Lindsay :kettle on\r\n").await;
    let tell = proto::jpc::Message::Tell {
        sender: "ann".into(),
        recipient: "lindsay".into(),
        kind: proto::jpc::TEXT,
        message: "kettle on".into(),
    };
    assert_eq!(lindsay.next_not_heartbeat().await, Some(tell));

    // Who comes to the lobby and goes, on another protocol.
    let hack = Hack::guest(hub.chathack, "hack").await;
    assert_eq!(ann.line().await.unwrap(), ":hack!hack@switchboard JOIN #lobby");
    drop(hack);
    assert_eq!(ann.line().await.unwrap(), ":hack!hack@switchboard QUIT :Left chathack");

    // WHOIS says which protocol a user is on; ISON who is online.
    ann.send("WHOIS os\r\nISON os nobody lindsay\r\n").await;
    let whois = ann.until(" 318 ann os ").await;
    assert_eq!(whois[0], ":switchboard 311 ann os os switchboard * :os");
    assert_eq!(whois[1], ":switchboard 312 ann os switchboard :on chatos");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 303 ann :os lindsay");
    ann.send("PING :tok en\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard PONG switchboard :tok en");
    ann.send("QUIT :bye now\r\n").await;
    assert_eq!(ann.line().await.unwrap(), "ERROR :Closing link: 127.0.0.1 (Quit: bye now)");
    assert_eq!(ann.line().await, None);
    hub.stop().await;
}

#[tokio::test]
async fn what_goes_wrong_gets_its_numeric_and_the_connection_goes_on() {
    let hub = start().await;
    let _os = Raw::login(hub.chatos, "os").await;
    let mut irc = Irc::connect(hub.irc).await;
    irc.send("PRIVMSG #lobby :too soon\r\nNICK\r\nNICK 9lives\r\nUSER x\r\n").await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard 451 * :You have not registered");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 431 * :No nickname given");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 432 * 9lives :Erroneous nickname");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 461 * USER :Not enough parameters");
    // A name held on another protocol is taken here, whatever its case; then another nick.
    irc.send("NICK OS\r\nUSER x 0 * :X\r\n").await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard 433 * OS :Nickname is already in use");
    irc.send("NICK bea\r\n").await;
    irc.expect(" 366 bea #lobby ").await;

    irc.send("PRIVMSG nobody :hello?\r\nNOTICE nobody :quiet\r\nPRIVMSG\r\nPRIVMSG os\r\nPRIVMSG os :\r\n").await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard 401 bea nobody :No such nick/channel");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 411 bea :No recipient given (PRIVMSG)");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 412 bea :No text to send");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 412 bea :No text to send");
    irc.send("FROB x\r\nJOIN elsewhere\r\nUSER y 0 * :Y\r\n").await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard 421 bea FROB :Unknown command");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 479 bea elsewhere :Illegal channel name");
    assert_eq!(irc.line().await.unwrap(), ":switchboard 462 bea :You may not reregister");
    // A line over 512 bytes is refused and skipped, never buffered; bad UTF-8 too.
    irc.send(&format!("PRIVMSG #lobby :{}\r\n", "x".repeat(600))).await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard 417 bea :Input line was too long");
    irc.writer.write_all(b"PRIVMSG #lobby :\xff\r\n").await.unwrap();
    assert_eq!(irc.line().await.unwrap(), ":switchboard FAIL * INVALID_UTF8 :Messages must be UTF-8");
    irc.send("PRIVMSG nobody,os :two\r\n").await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard 401 bea nobody :No such nick/channel");
    irc.send("PING x\r\n").await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard PONG switchboard :x");
    hub.stop().await;
}

#[tokio::test]
async fn at_shutdown_an_irc_client_hears_a_notice_and_the_link_closing() {
    let hub = start().await;
    let mut irc = Irc::register(hub.irc, "ann").await;
    hub.stop().await;
    assert_eq!(irc.line().await.unwrap(), ":switchboard NOTICE * :The server is shutting down");
    assert_eq!(irc.line().await.unwrap(), "ERROR :Closing link: server shutting down");
    assert_eq!(irc.line().await, None);
}

/// Clients of the `irc` library from PyPI (`scripts/test` installs it), talking with ChatOS.
#[tokio::test]
async fn clients_of_an_irc_library_meet_a_chatos_user() {
    let hub = start().await;
    let mut os = Raw::login(hub.chatos, "os").await;
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/irc_clients.py");
    let port = hub.irc.port().to_string();
    let mut irc =
        crate::support::Proc::spawn_program("python3", &[script, "127.0.0.1", &port, "ann", "bob"], dir.path());
    irc.expect_line("ann endofnames").await;
    // Ann came first: she sees bob join the lobby (each client's lines come in order; the two
    // clients', in any order).
    let mut seen = Vec::new();
    while !(seen.iter().any(|l: &String| l.starts_with("bob endofnames"))
        && seen.contains(&"ann join bob #lobby".to_owned()))
    {
        seen.push(irc.expect_line("").await);
    }
    assert!(seen.iter().any(|l| l.starts_with("bob welcome")), "{seen:#?}");

    irc.type_line("ann say #lobby hello all").await;
    assert_eq!(irc.expect_line("bob pubmsg").await, "bob pubmsg ann #lobby hello all");
    os.expect(Packet::Sma { sender: "ann".into(), message: "hello all".into() }).await;
    os.send(&Packet::Sma { sender: "os".into(), message: "hi both".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let mut heard =
        [irc.expect_line("pubmsg os #lobby hi both").await, irc.expect_line("pubmsg os #lobby hi both").await];
    heard.sort();
    assert_eq!(heard, ["ann pubmsg os #lobby hi both", "bob pubmsg os #lobby hi both"]);
    irc.type_line("bob say os just you").await;
    os.expect(Packet::Spm { sender: "bob".into(), recipient: "os".into(), message: "just you".into() }).await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "ann".into(), message: "and you".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    irc.expect_line("ann privmsg os ann and you").await;
    irc.type_line("ann WHOIS os").await;
    assert_eq!(irc.expect_line("ann whoisserver").await, "ann whoisserver switchboard ann os switchboard on chatos");
    irc.type_line("ann say nobody hello?").await;
    irc.expect_line("ann nosuchnick switchboard ann nobody No such nick/channel").await;
    irc.type_line("bob QUIT :bye").await;
    irc.expect_line("ann quit bob None Left irc").await;
    hub.stop().await;
}

/// Bots send their first commands right behind `USER`: they wait for the login's answer,
/// then go (or get 451 if the nick was refused).
#[tokio::test]
async fn commands_sent_right_behind_registration_wait_for_its_answer() {
    let hub = start().await;
    let mut os = Raw::login(hub.chatos, "os").await;
    let mut bot = Irc::connect(hub.irc).await;
    bot.send("NICK bot\r\nUSER bot 0 * :Bot\r\nJOIN #lobby\r\nPRIVMSG #lobby :at once\r\nPRIVMSG os :and you\r\n")
        .await;
    os.expect(Packet::Sma { sender: "bot".into(), message: "at once".into() }).await;
    os.expect(Packet::Spm { sender: "bot".into(), recipient: "os".into(), message: "and you".into() }).await;
    bot.expect(" 366 bot #lobby ").await;
    let mut taken = Irc::connect(hub.irc).await;
    taken.send("NICK os\r\nUSER os 0 * :Os\r\nPRIVMSG #lobby :no\r\n").await;
    assert_eq!(taken.line().await.unwrap(), ":switchboard 433 * os :Nickname is already in use");
    assert_eq!(taken.line().await.unwrap(), ":switchboard 451 * :You have not registered");
    hub.stop().await;
}

/// The server pings a client quiet for `irc-ping-secs` (90), and closes one that has not
/// answered `irc-ping-timeout-secs` (60) later; a client that answers stays.
#[tokio::test(start_paused = true)]
async fn a_quiet_client_is_pinged_and_one_that_does_not_answer_is_closed() {
    let hub = start().await;
    let mut ann = Irc::register(hub.irc, "ann").await;
    let mut bob = Irc::register(hub.irc, "bob").await;
    let start = tokio::time::Instant::now();
    assert_eq!(ann.line_whenever().await.unwrap(), ":bob!bob@switchboard JOIN #lobby");
    assert_eq!(ann.line_whenever().await.unwrap(), ":switchboard PING switchboard");
    assert_eq!(start.elapsed().as_secs(), 90);
    ann.send("PONG switchboard\r\n").await;
    assert_eq!(bob.line_whenever().await.unwrap(), ":switchboard PING switchboard");
    // Bob does not answer: 60 s after his ping he is closed, and ann sees him quit.
    assert_eq!(bob.line_whenever().await.unwrap(), "ERROR :Closing link");
    assert_eq!(bob.line_whenever().await, None);
    assert_eq!(start.elapsed().as_secs(), 150);
    assert_eq!(ann.line_whenever().await.unwrap(), ":bob!bob@switchboard QUIT :Left irc");
    // Ann, who answered, is pinged again 90 s after her answer, and is still here.
    assert_eq!(ann.line_whenever().await.unwrap(), ":switchboard PING switchboard");
    assert_eq!(start.elapsed().as_secs(), 180);
    ann.send("PING :still\r\n").await;
    assert_eq!(ann.line_whenever().await.unwrap(), ":switchboard PONG switchboard :still");
    hub.stop().await;
}

/// Names of other protocols that are no IRC nicks show escaped (`\` and two hex digits), and
/// an IRC user reaches them by that nick.
#[tokio::test]
async fn names_that_are_no_nicks_are_shown_escaped_and_reached_so() {
    let hub = start().await;
    let mut lives = Raw::login(hub.chatos, "9lives").await;
    let _dotted = Raw::login(hub.chatos, "a.b").await;
    let mut ann = Irc::connect(hub.irc).await;
    ann.send("NICK ann\r\nUSER ann 0 * :Ann\r\n").await;
    let burst = ann.until(" 366 ann #lobby ").await;
    assert!(burst.contains(&":switchboard 353 ann = #lobby :\\39lives a\\2eb ann".to_owned()), "{burst:#?}");
    lives.send(&Packet::Sma { sender: "9lives".into(), message: "meow".into() }).await;
    lives.expect_error(ErrorCode::Ok).await;
    assert_eq!(ann.line().await.unwrap(), ":\\39lives!\\39lives@switchboard PRIVMSG #lobby :meow");
    ann.send("PRIVMSG \\39lives :hello cat\r\nWHOIS a\\2eb\r\n").await;
    lives.expect(Packet::Spm { sender: "ann".into(), recipient: "9lives".into(), message: "hello cat".into() }).await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 311 ann a\\2eb a\\2eb switchboard * :a\\2eb");
    // No IRC user takes a nick with `\`: it is how those names are written.
    let mut other = Irc::connect(hub.irc).await;
    other.send("NICK a\\2eb\r\n").await;
    assert_eq!(other.line().await.unwrap(), ":switchboard 432 * a\\2eb :Erroneous nickname");
    hub.stop().await;
}

/// `MONITOR` says who of a list is online, then who comes and goes (of any protocol);
/// `TIME`, `INFO` and `ADMIN` answer.
#[tokio::test]
async fn monitor_follows_who_comes_and_goes_and_the_server_says_its_time_and_info() {
    let hub = start().await;
    let _bob = Raw::login(hub.chatos, "bob").await;
    let mut ann = Irc::register(hub.irc, "ann").await;
    ann.send("MONITOR + bob,os\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 730 ann :bob!bob@switchboard");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 731 ann :os");
    let os = Raw::login(hub.chatos, "os").await;
    ann.expect(":os!os@switchboard JOIN #lobby").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 730 ann :os!os@switchboard");
    drop(os);
    ann.expect(":os!os@switchboard QUIT").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 731 ann :os");
    ann.send("MONITOR - bob\r\nMONITOR L\r\nMONITOR S\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 732 ann :os");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 733 ann :End of MONITOR list");
    assert_eq!(ann.line().await.unwrap(), ":switchboard 731 ann :os");
    ann.send("TIME\r\nINFO\r\nADMIN\r\n").await;
    let time = ann.line().await.unwrap();
    assert!(time.starts_with(":switchboard 391 ann switchboard :20"), "{time}");
    assert!(ann.until(" 374 ann ").await[0].starts_with(":switchboard 371 ann :Switchboard "));
    assert_eq!(ann.until(" 259 ann ").await.len(), 4);
    hub.stop().await;
}
