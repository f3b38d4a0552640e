//! The full-screen UI end to end: real `switchboard` clients in pseudo-terminals
//! (`portable-pty`), their screens read back through a terminal emulator (`vt100`), against a
//! real hub. Keys are the bytes a terminal sends; every wait is for the screen to change.

use crate::nl::{next_desk_event, server_pem};
use crate::support::{start, WAIT};
use crate::web::Web;
use portable_pty::{native_pty_system, Child, CommandBuilder, PtySize};
use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

const ROWS: u16 = 30;
const COLS: u16 = 110;

/// A client on a terminal of its own.
struct Tty {
    name: String,
    child: Box<dyn Child + Send + Sync>,
    keys: Box<dyn Write + Send>,
    screen: Arc<Mutex<vt100::Parser>>,
    /// Bumped whenever the program wrote to its terminal.
    drawn: watch::Receiver<u64>,
}

impl Tty {
    fn spawn(args: &[&str], dir: &Path) -> Tty {
        let pty =
            native_pty_system().openpty(PtySize { rows: ROWS, cols: COLS, pixel_width: 0, pixel_height: 0 }).unwrap();
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_switchboard"));
        cmd.args(args);
        cmd.cwd(dir);
        cmd.env("TERM", "xterm-256color");
        let child = pty.slave.spawn_command(cmd).unwrap();
        drop(pty.slave);
        let mut output = pty.master.try_clone_reader().unwrap();
        let keys = pty.master.take_writer().unwrap();
        let screen =
            Arc::new(Mutex::new(vt100::Parser::new(NonZeroU16::new(ROWS).unwrap(), NonZeroU16::new(COLS).unwrap(), 0)));
        let (tell, drawn) = watch::channel(0u64);
        let parser = screen.clone();
        std::thread::spawn(move || {
            let _master = pty.master; // the terminal lives as long as its output is read
            let mut buf = [0u8; 8192];
            while let Ok(n) = output.read(&mut buf) {
                if n == 0 {
                    break;
                }
                parser.lock().unwrap().process(&buf[..n]);
                tell.send_modify(|n| *n += 1);
            }
        });
        Tty { name: args.join(" "), child, keys, screen, drawn }
    }

    /// The screen, one row a line.
    fn text(&self) -> String {
        self.screen.lock().unwrap().screen().contents()
    }

    /// The last row: the input line.
    fn input(&self) -> String {
        let parser = self.screen.lock().unwrap();
        let last = parser.screen().rows(0, COLS).nth(usize::from(ROWS) - 1).unwrap_or_default();
        last.trim_end().to_owned()
    }

    /// Waits until the screen passes `test`; `what` names it when it never does.
    async fn until(&mut self, what: &str, test: impl Fn(&Tty) -> bool) {
        let waited = tokio::time::timeout(WAIT, async {
            loop {
                if test(self) {
                    return;
                }
                if self.drawn.changed().await.is_err() {
                    return; // the program is gone: the test below fails with its last screen
                }
            }
        })
        .await;
        assert!(waited.is_ok() && test(self), "{}: never {what}; the screen:\n{}", self.name, self.text());
    }

    async fn shows(&mut self, text: &str) {
        self.until(&format!("showed {text:?}"), |t| t.text().contains(text)).await;
    }

    fn keys(&mut self, bytes: &str) {
        self.keys.write_all(bytes.as_bytes()).unwrap();
        self.keys.flush().unwrap();
    }

    /// Ctrl-C, and the exit status of the program, which gave the terminal back.
    async fn quit(self) {
        let status = self.quit_status().await;
        assert!(status.success(), "{status:?}");
    }

    async fn quit_status(mut self) -> portable_pty::ExitStatus {
        self.keys("\x03");
        let waited = tokio::task::spawn_blocking(move || self.child.wait().unwrap());
        tokio::time::timeout(WAIT, waited).await.expect("Ctrl-C ends the client").unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_message_while_typing_lands_in_its_own_buffer_and_the_input_line_stays() {
    let hub = start().await;
    let dir = tempfile::tempdir().unwrap();
    let addr = hub.chatos.to_string();
    let mut ann = Tty::spawn(&["chatos", "--addr", &addr, "--pseudo", "ann"], dir.path());
    ann.shows("connected as ann").await;
    let mut bob = Tty::spawn(&["chatos", "--addr", &addr, "--pseudo", "bob"], dir.path());
    bob.shows("connected as bob").await;

    bob.keys("hello ann\r");
    ann.shows("bob │ hello ann").await;
    ann.keys("half typed li");
    ann.until("kept the half line", |t| t.input() == "[lobby] half typed li").await;
    bob.keys("@ann are you there\r");
    ann.shows(" 2:bob(1)* ").await;
    assert_eq!(ann.input(), "[lobby] half typed li", "nothing wrote into the input line");
    assert!(!ann.text().contains("are you there"), "the lobby shows none of it:\n{}", ann.text());

    // Tab completes bob's name; Enter sends; Up brings the line back.
    ann.keys("\x15hi b\t");
    ann.until("completed bob", |t| t.input() == "[lobby] hi bob").await;
    ann.keys("\r");
    bob.shows("ann │ hi bob").await;
    ann.until("emptied the input", |t| t.input() == "[lobby]").await;
    ann.keys("\x1b[A");
    ann.until("recalled the last line", |t| t.input() == "[lobby] hi bob").await;

    // Alt-2 shows bob's buffer; what is typed there goes to bob alone.
    ann.keys("\x15\x1b2");
    ann.shows("bob │ are you there").await;
    assert!(ann.text().contains(" 2:bob "), "read, so no longer marked:\n{}", ann.text());
    ann.keys("yes, here\r");
    bob.shows(" 2:ann(1)* ").await;
    bob.keys("\x1b2");
    bob.shows("ann │ yes, here").await;

    // A name taken is said in the protocol's words, on the screen, until the person quits.
    let mut twin = Tty::spawn(&["chatos", "--addr", &addr, "--pseudo", "ANN"], dir.path());
    twin.shows("!! │ pseudonym unavailable").await;
    twin.shows("not connected · Ctrl-C quits").await;
    assert!(!twin.quit_status().await.success());
    ann.quit().await;
    bob.quit().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_fetched_over_a_chatos_link_shows_its_progress_bar_and_arrives_whole() {
    let hub = start().await;
    let dir = tempfile::tempdir().unwrap();
    let (share, downloads) = (dir.path().join("share"), dir.path().join("downloads"));
    std::fs::create_dir_all(&share).unwrap();
    std::fs::create_dir_all(&downloads).unwrap();
    let content: Vec<u8> = (0..1_000_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(share.join("big.bin"), &content).unwrap();
    let addr = hub.chatos.to_string();
    let share_arg = share.to_str().unwrap();
    let mut alice = Tty::spawn(&["chatos", "--addr", &addr, "--pseudo", "alice", "--share", share_arg], dir.path());
    alice.shows("connected as alice").await;
    let mut bob = Tty::spawn(&["chatos", "--addr", &addr, "--pseudo", "bob"], &downloads);
    bob.shows("connected as bob").await;

    bob.keys("/query alice\r");
    bob.shows(" 2:alice ").await;
    bob.keys("/connect alice\r");
    alice.shows(" 2:bob(1)* ").await;
    alice.keys("\x1b2");
    alice.shows("bob asks for a private connection").await;
    alice.keys("/accept bob\r");
    bob.shows("private connection with alice open").await;
    bob.keys("/get alice big.bin\r");
    bob.shows("100% 4.0 MB of 4.0 MB · done · alice:big.bin").await;
    bob.shows("alice:big.bin saved as big.bin (4000000 bytes)").await;
    assert_eq!(std::fs::read(downloads.join("big.bin")).unwrap(), content);
    // The sender's side has its bar too.
    alice.shows("100% 4.0 MB of 4.0 MB · done · big.bin to bob").await;
    alice.quit().await;
    bob.quit().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_nl_ring_is_taken_with_one_key_and_the_conversation_flows() {
    let hub = start().await;
    let pem = server_pem(&hub);
    let addr = hub.nl.to_string();
    let args = ["nl", "--addr", &addr, "--server-key", pem.to_str().unwrap(), "--uuid", "op"];
    let mut op = Tty::spawn(&args, &hub.data_dir());
    op.shows("chatos online").await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    ann.say("support", "hello").await;
    op.shows("Ctrl-T takes 1").await;
    op.keys("\x14");
    op.shows("[ring 1] yours").await;
    op.shows("user │ hello").await;
    op.keys("Let me look\r");
    // The end user hears support's words (after their own, and the typing around them).
    while next_desk_event(&mut ann).await["text"] != "Let me look" {}
    op.shows("support » Let me look").await;
    op.quit().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jpc_image_is_drawn_in_its_buffer_and_saved() {
    let hub = crate::support::start_with_store(|s| s.whitelist_add("lindsay", 0x0242_ac11_0002).unwrap()).await;
    let dir = tempfile::tempdir().unwrap();
    // Red above, blue below: half blocks draw it as two colours in one row of cells.
    let picture =
        image::RgbImage::from_fn(32, 32, |_, y| if y < 16 { image::Rgb([255, 0, 0]) } else { image::Rgb([0, 0, 255]) });
    picture.save(dir.path().join("pic.png")).unwrap();
    let downloads = dir.path().join("downloads");
    let addr = hub.jpc.to_string();
    let args = [
        "jpc",
        "--addr",
        &addr,
        "--mac",
        "02:42:ac:11:00:02",
        "--images",
        "blocks",
        "--downloads",
        downloads.to_str().unwrap(),
    ];
    let mut device = Tty::spawn(&args, dir.path());
    device.shows("connected to").await;
    // The device sends it to its own name: the hub hands it back.
    device.keys("/image lindsay pic.png\r");
    device.shows(" 2:lindsay(1)* ").await;
    device.keys("\x1b2");
    device.shows("image saved as").await;
    device.until("drew the picture with half blocks", |t| t.text().contains('▀') || t.text().contains('▄')).await;
    let saved = std::fs::read(downloads.join("image-lindsay-1.png")).unwrap();
    assert_eq!(saved, std::fs::read(dir.path().join("pic.png")).unwrap());
    device.quit().await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chathack_file_sent_directly_shows_its_progress_on_both_sides() {
    let hub = start().await;
    let dir = tempfile::tempdir().unwrap();
    let downloads = dir.path().join("downloads");
    let content: Vec<u8> = (0..50_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(dir.path().join("notes.bin"), &content).unwrap();
    let addr = hub.chathack.to_string();
    let max = "1000000";
    let mut ann = Tty::spawn(&["chathack", "--addr", &addr, "--login", "ann", "--max", max], dir.path());
    ann.shows("connected as ann").await;
    let dl = downloads.to_str().unwrap();
    let mut bob =
        Tty::spawn(&["chathack", "--addr", &addr, "--login", "bob", "--max", max, "--downloads", dl], dir.path());
    bob.shows("connected as bob").await;
    ann.keys("/private bob\r");
    bob.shows(" 2:ann(1)* ").await;
    bob.keys("\x1b2/accept ann\r");
    bob.shows("direct connection with ann open").await;
    ann.keys("\x1b2");
    ann.shows("direct connection with bob open").await;
    // Text typed in a person's buffer goes over the direct connection.
    ann.keys("just between us\r");
    bob.shows("ann │ just between us").await;
    ann.keys("/send bob notes.bin\r");
    ann.shows("100% 200.0 kB of 200.0 kB · done · notes.bin to bob").await;
    bob.shows("100% 200.0 kB of 200.0 kB · done · notes.bin from ann").await;
    bob.shows("ann sent notes.bin: saved as").await;
    assert_eq!(std::fs::read(downloads.join("notes.bin")).unwrap(), content);
    ann.quit().await;
    bob.quit().await;
    hub.stop().await;
}
