//! The web client in a real browser: headless Chromium driven through ChromeDriver (both
//! from Debian's packages; `scripts/test` installs them). Two people sign in, chat in the
//! lobby and privately, see each other typing, and one sends an image to a JPC device, which
//! receives it as a type-1 TELL. A screenshot of the chat is kept under
//! `target/test-artifacts/`.

use crate::jpc::LINDSAY;
use crate::support::{start_prepared, Proc, WAIT};
use fantoccini::{Client, ClientBuilder, Locator};
use proto::nlchat::{ChatState, Command as Nl, Io};
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::{Child, Command};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const IMAGE_FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/fixtures/badge.png");

/// ChromeDriver on a loopback port, killed with the test.
struct Driver {
    _child: Child,
    url: String,
}

async fn chromedriver() -> Driver {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "the browser tests need Debian's chromium and chromium-driver: scripts/test installs them"
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(CHROMEDRIVER)
        .args([format!("--port={port}"), "--allowed-ips=127.0.0.1".into()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Driver { _child: child, url }
}

/// A new headless browser (its own profile) showing the hub's page.
async fn browser(driver: &Driver, page: &str) -> Client {
    browser_with(driver, page, &[]).await
}

/// A new headless browser with these flags too.
async fn browser_with(driver: &Driver, page: &str, flags: &[&str]) -> Client {
    let mut args = vec![
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1200,760",
    ];
    args.extend(flags);
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": args,
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client =
        ClientBuilder::new(connector).capabilities(caps).connect(&driver.url).await.expect("a browser session");
    client.goto(page).await.unwrap();
    client
}

/// Waits for the element `css` finds.
async fn find(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait().at_most(WAIT).for_element(Locator::Css(css)).await.unwrap_or_else(|e| panic!("no {css}: {e}"))
}

/// Waits until a message whose text is `text` shows in the open conversation.
async fn shows_message(c: &Client, text: &str) {
    let xpath = format!("//ol[@id='messages']//div[@class='body' and text()='{text}']");
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(&xpath))
        .await
        .unwrap_or_else(|e| panic!("no message {text:?}: {e}"));
}

/// Clicks what `css` finds. The sidebar is redrawn whenever someone comes or goes, so an
/// element found may be replaced before the click lands: find it again then.
async fn click(c: &Client, css: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match find(c, css).await.click().await {
            Ok(()) => return,
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, css, "clicking again");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot click {css}: {e}"),
        }
    }
}

async fn sign_in(c: &Client, name: &str) {
    find(c, "#name").await.send_keys(name).await.unwrap();
    find(c, "#join").await.click().await.unwrap();
    let me = find(c, "#me").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    while me.text().await.unwrap() != name {
        assert!(tokio::time::Instant::now() < deadline, "{name} did not get in");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn write(c: &Client, text: &str) {
    find(c, "#text").await.send_keys(text).await.unwrap();
    find(c, "#send").await.click().await.unwrap();
}

/// Waits until `css`'s text contains `want`.
async fn text_contains(c: &Client, css: &str, want: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = find(c, css).await.text().await.unwrap();
        if text.contains(want) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "{css} shows {text:?}, not {want:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn artifact(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).parent().unwrap().join("test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_people_chat_in_the_browser_and_send_an_image_to_a_jpc_device() {
    let hub = start_prepared(|s| s.whitelist_add("lindsay", LINDSAY).unwrap(), |c| c.doors.web.max_image = 2000).await;
    // Lindsay is a real `switchboard jpc` device client: it keeps its heartbeats going however
    // long the browser takes, and saves the images it gets.
    let downloads = tempfile::tempdir().unwrap();
    let jpc_addr = hub.jpc.to_string();
    let mac = store::format_mac(LINDSAY);
    let dl = downloads.path().to_str().unwrap().to_owned();
    let mut lindsay = Proc::spawn(&["jpc", "--addr", &jpc_addr, "--mac", &mac, "--downloads", &dl], downloads.path());
    lindsay.expect_line("[jpc] connected").await;
    let driver = chromedriver().await;
    let page = format!("http://{}/", hub.web);
    let ann = browser(&driver, &page).await;
    let bob = browser(&driver, &page).await;

    // A name that is not allowed is refused with a clear word.
    find(&ann, "#name").await.send_keys("two words").await.unwrap();
    click(&ann, "#join").await;
    text_contains(&ann, "#signin-error", "no spaces").await;
    find(&ann, "#name").await.clear().await.unwrap();
    sign_in(&ann, "ann").await;
    // A name someone holds is refused, and the page says why.
    find(&bob, "#name").await.send_keys("ANN").await.unwrap();
    click(&bob, "#join").await;
    text_contains(&bob, "#signin-error", "that name is taken").await;
    find(&bob, "#name").await.clear().await.unwrap();
    sign_in(&bob, "bob").await;

    // The lobby.
    write(&ann, "hello everyone").await;
    shows_message(&bob, "hello everyone").await;
    shows_message(&ann, "hello everyone").await;
    write(&bob, "hi ann").await;
    shows_message(&ann, "hi ann").await;

    // Bob writes to Ann privately; Ann sees the conversation light up and opens it.
    click(&bob, "#online button[data-person='ann']").await;
    text_contains(&bob, "#room-title", "ann").await;
    write(&bob, "just between us").await;
    shows_message(&bob, "just between us").await;
    find(&ann, "#conversations button[data-conversation='bob'] .unread").await;
    click(&ann, "#conversations button[data-conversation='bob']").await;
    shows_message(&ann, "just between us").await;

    // Ann types: Bob sees it; she sends, and it is gone.
    find(&ann, "#text").await.send_keys("sure").await.unwrap();
    text_contains(&bob, "#typing", "ann is typing").await;
    click(&ann, "#send").await;
    shows_message(&bob, "sure").await;

    // Ann sends an image to the JPC device: it gets a type-1 TELL and saves the file's bytes.
    click(&ann, "#online button[data-person='lindsay']").await;
    text_contains(&ann, "#room-subtitle", "JPC").await;
    write(&ann, "a picture for you").await;
    lindsay.expect_line("[tell] ann: a picture for you").await;
    find(&ann, "#image-input").await.send_keys(IMAGE_FIXTURE).await.unwrap();
    let saved = lindsay.expect_line("[image] ann: saved as").await;
    let path = saved.split("saved as ").nth(1).unwrap().split(" (").next().unwrap();
    let bytes = std::fs::read(IMAGE_FIXTURE).unwrap();
    assert_eq!(std::fs::read(downloads.path().join(path)).unwrap(), bytes, "the device has the very file");
    // Ann's page shows it inline; the device answers.
    find(&ann, "#messages img.inline-image").await;
    lindsay.type_line("@ann got it, thanks").await;
    shows_message(&ann, "got it, thanks").await;

    // An image over the limit is refused, and the page says so.
    let big = artifact("too-big.png");
    std::fs::write(&big, [&bytes[..], &[0u8; 4000][..]].concat()).unwrap();
    find(&ann, "#image-input").await.send_keys(big.to_str().unwrap()).await.unwrap();
    text_contains(&ann, "#toast", "the image is too large: at most 2000 bytes").await;
    std::fs::remove_file(&big).unwrap();

    // ChatOS carries no images: the page offers none. A person who left cannot be written
    // to, and the page says so.
    let os = crate::support::Raw::login(hub.chatos, "os").await;
    click(&ann, "#online button[data-person='os']").await;
    text_contains(&ann, "#room-subtitle", "ChatOS").await;
    assert_eq!(find(&ann, "#image-input").await.attr("disabled").await.unwrap().as_deref(), Some("true"));
    drop(os);
    text_contains(&ann, "#room-subtitle", "not online").await;
    write(&ann, "still there?").await;
    text_contains(&ann, "#toast", "os is not online, or cannot receive this").await;

    // Bob contacts support; an NL operator takes the ring and answers, typing first.
    let mut operator = crate::nl::NlRaw::join(&hub, "op").await;
    click(&bob, "#contact-support").await;
    text_contains(&bob, "#room-subtitle", "the next free operator answers").await;
    write(&bob, "my screen is blank").await;
    let Some(Nl::Ring { id, .. }) = operator.next().await else { panic!("no ring") };
    operator.send(&Nl::RingAck { id, uuid: "op".into() }).await;
    assert!(matches!(operator.next().await, Some(Nl::RingAckAck { .. })));
    let Some(Nl::Msg { msg, .. }) = operator.next().await else { panic!("no message") };
    assert_eq!(msg, ["my screen is blank"]);
    shows_message(&bob, hub::notice::JOINED).await;
    operator.send(&Nl::ChatState { uuid: "op".into(), io: Io::Out, state: ChatState::Composing }).await;
    text_contains(&bob, "#typing", "support is typing").await;
    operator.send(&Nl::Msg { msg: vec!["try switching it on".into()], io: Io::Out, uuid: "op".into() }).await;
    shows_message(&bob, "try switching it on").await;
    text_contains(&bob, "#conversations", "support").await;

    // Back to the conversation with the device, for the record.
    click(&ann, "#conversations button[data-conversation='lindsay']").await;
    find(&ann, "#messages img.inline-image").await;
    let drawn = "return [...document.querySelectorAll('#messages img.inline-image')]
                 .every(img => img.complete && img.naturalWidth > 0)";
    let loaded = async {
        while ann.execute(drawn, vec![]).await.unwrap() != serde_json::Value::Bool(true) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, loaded).await.expect("the images never loaded");
    let png = ann.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 10_000, "a real screenshot");
    std::fs::write(artifact("web-chat.png"), &png).unwrap();
    std::fs::write(artifact("web-chat-bob.png"), bob.screenshot().await.unwrap()).unwrap();

    ann.close().await.unwrap();
    bob.close().await.unwrap();
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_over_https_with_a_self_signed_certificate_talks_over_wss() {
    let hub = crate::support::start_with(|c| c.tls_self_signed = vec!["localhost".into(), "127.0.0.1".into()]).await;
    let https = hub.running.as_ref().unwrap().tls_addr("web").unwrap();
    let driver = chromedriver().await;
    let page = format!("https://{https}/");
    let ann = browser_with(&driver, &page, &["--ignore-certificate-errors"]).await;
    let bob = browser_with(&driver, &page, &["--ignore-certificate-errors"]).await;
    sign_in(&ann, "ann").await;
    sign_in(&bob, "bob").await;
    // What one writes reaches the other's page over its WebSocket: WSS.
    write(&ann, "hello over https").await;
    shows_message(&bob, "hello over https").await;
    write(&bob, "and back over wss").await;
    shows_message(&ann, "and back over wss").await;
    assert_eq!(ann.current_url().await.unwrap().scheme(), "https");
    ann.close().await.unwrap();
    bob.close().await.unwrap();
    hub.stop().await;
}

/// A room on the web: the page joins (and so makes) `#den`, an IRC user joins it too, and
/// they talk; the page lists the room and shows who is in it; leaving it closes its tab;
/// who is away shows, and a new nick.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_user_makes_a_room_in_the_browser_and_talks_there_with_an_irc_user() {
    let hub = start_prepared(|_| {}, |_| {}).await;
    let driver = chromedriver().await;
    let pia = browser(&driver, &format!("http://{}/", hub.web)).await;
    sign_in(&pia, "pia").await;
    find(&pia, "#room-name").await.send_keys("den").await.unwrap();
    click(&pia, "#join-room-button").await;
    text_contains(&pia, "#room-title", "# den").await;
    text_contains(&pia, "#rooms", "den").await;
    text_contains(&pia, "#room-subtitle", "1 here: @pia").await;

    let mut ann = crate::irc::Irc::register(hub.irc, "ann").await;
    ann.send("JOIN #den\r\n").await;
    ann.expect(" 366 ann #den ").await;
    text_contains(&pia, "#room-subtitle", "2 here: @pia, ann").await;
    ann.send("PRIVMSG #den :hello from IRC\r\n").await;
    shows_message(&pia, "hello from IRC").await;
    write(&pia, "hello from the web").await;
    assert_eq!(ann.expect("PRIVMSG #den").await, ":pia!pia@switchboard PRIVMSG #den :hello from the web");
    shows_message(&pia, "hello from the web").await;
    // Typing in the room shows in the room.
    ann.send("@+typing=active TAGMSG #den\r\n").await;
    text_contains(&pia, "#typing", "ann is typing").await;
    ann.send("TOPIC #den\r\n").await;
    ann.expect(" 331 ann #den ").await;
    let png = pia.screenshot().await.unwrap();
    std::fs::write(artifact("web-room.png"), png).unwrap();
    // The page opened again finds the room it is in, and the room's history.
    pia.refresh().await.unwrap();
    click(&pia, "button[data-room='den']").await;
    shows_message(&pia, "hello from IRC").await;
    shows_message(&pia, "hello from the web").await;

    // Leaving: the tab closes, the lobby shows, and the IRC user sees the part.
    click(&pia, "#leave-room").await;
    assert_eq!(ann.expect(" PART ").await, ":pia!pia@switchboard PART #den");
    text_contains(&pia, "#room-title", "# lobby").await;

    // Away: the page shows who is away, and says that its user is.
    ann.send("AWAY :at lunch\r\n").await;
    ann.expect(" 306 ").await;
    click(&pia, "button[data-person='ann']").await;
    text_contains(&pia, "#room-subtitle", "away: at lunch").await;
    find(&pia, "#away-text").await.send_keys("brb\n").await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        ann.send("USERHOST pia\r\n").await;
        if ann.expect(" 302 ann ").await == ":switchboard 302 ann :pia=-pia@switchboard" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the page never said pia is away");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A new nick: the page lists the same user, still away, under it.
    ann.send("NICK annie\r\n").await;
    ann.expect(" NICK annie").await;
    click(&pia, "button[data-person='annie']").await;
    text_contains(&pia, "#room-subtitle", "away: at lunch").await;
    hub.stop().await;
}
