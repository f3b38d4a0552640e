//! Line mode (`--plain`, or a pipe): every event is one line on stdout, input is plain lines.
//! A console that tells when the person is typing (the NL one) reads the keys one by one on a
//! terminal (raw mode, with a small line editor), so typing can be told the moment it starts
//! and when it pauses; what it prints goes above the line being typed, which is then drawn
//! again.

use super::Input;
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use super::model::PAUSE;

/// The console's screen: where it prints, and the line being typed.
#[derive(Clone)]
pub struct Term {
    /// The line being typed, when keys are read one by one.
    editing: Option<Arc<Mutex<String>>>,
}

impl Term {
    /// Starts reading input; the receiver ends when input does (end of file, Ctrl-D, Ctrl-C).
    /// With `typing`, keys are read one by one on a terminal.
    pub fn start(typing: bool) -> (Term, mpsc::Receiver<Input>) {
        let (tx, rx) = mpsc::channel(64);
        let raw = typing
            && std::io::stdin().is_terminal()
            && std::io::stdout().is_terminal()
            && terminal::enable_raw_mode().is_ok();
        if !raw {
            tokio::spawn(async move {
                let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
                while let Ok(Some(line)) = stdin.next_line().await {
                    if tx.send(Input::Line(line)).await.is_err() {
                        break;
                    }
                }
            });
            return (Term { editing: None }, rx);
        }
        let editing = Arc::new(Mutex::new(String::new()));
        let term = Term { editing: Some(editing.clone()) };
        let screen = term.clone();
        std::thread::spawn(move || keys(&screen, &editing, &tx));
        (term, rx)
    }

    /// Prints `line` above the line being typed.
    pub fn say(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        match &self.editing {
            None => {
                let _ = writeln!(out, "{line}");
            }
            Some(editing) => {
                let typed = editing.lock().expect("input lock");
                let _ = write!(out, "\r\x1b[2K{}\r\n> {typed}", line.replace('\n', "\r\n"));
            }
        }
        let _ = out.flush();
    }

    fn redraw(&self, typed: &str) {
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[2K> {typed}");
        let _ = out.flush();
    }
}

impl Term {
    /// Gives the terminal back as it was (the console is quitting).
    pub fn close(&self) {
        if self.editing.is_some() {
            let _ = terminal::disable_raw_mode();
            println!();
        }
    }
}

/// Reads keys until the end of input, on a thread of its own (crossterm reads block).
fn keys(term: &Term, editing: &Mutex<String>, tx: &mpsc::Sender<Input>) {
    let mut last_key: Option<Instant> = None;
    term.redraw("");
    loop {
        match event::poll(Duration::from_millis(250)) {
            Ok(true) => {}
            Ok(false) => {
                if last_key.is_some_and(|t| t.elapsed() >= PAUSE) {
                    last_key = None;
                    if tx.blocking_send(Input::Typing(false)).is_err() {
                        break;
                    }
                }
                continue;
            }
            Err(_) => break,
        }
        let Ok(Event::Key(key)) = event::read() else { continue };
        if key.kind == KeyEventKind::Release {
            continue;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let mut typed = editing.lock().expect("input lock");
        let send = match key.code {
            KeyCode::Char('c' | 'd') if ctrl => break,
            KeyCode::Enter => {
                let line = std::mem::take(&mut *typed);
                last_key = None;
                Some(Input::Line(line))
            }
            KeyCode::Backspace => {
                typed.pop();
                None
            }
            KeyCode::Char(c) if !ctrl => {
                typed.push(c);
                // The first key after a pause (or of a line) says typing started.
                let started = last_key.is_none();
                last_key = Some(Instant::now());
                started.then_some(Input::Typing(true))
            }
            _ => None,
        };
        let shown = typed.clone();
        drop(typed);
        term.redraw(&shown);
        if let Some(input) = send {
            if tx.blocking_send(input).is_err() {
                break;
            }
        }
    }
    let _ = terminal::disable_raw_mode();
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\r\n");
    let _ = out.flush();
}
