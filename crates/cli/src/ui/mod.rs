//! The clients' screen. On a terminal, one full-screen chat UI shared by every client
//! (ratatui on crossterm): a buffer per conversation, the people seen, a bar of buffers and
//! status, and an input line nothing else writes into. With `--plain`, or when stdin or
//! stdout is not a terminal, line mode: every event one line on stdout, exactly as scripts
//! and tests read it.
//!
//! A client tells its screen what happened (`chat`, `note`, `error`, `progress`, ...) with
//! the line it prints in line mode, and reads what the person typed from the receiver
//! `start` gives: in both modes, lines of line mode (the UI turns text typed in bob's
//! buffer into `@bob text`, or what the client's `Config` says).

mod editor;
pub mod model;
mod plain;
pub mod view;

#[cfg(test)]
mod tests;

pub use model::{Command, Config, To};

use crossterm::event::{Event as TermEvent, EventStream, KeyEventKind, MouseEventKind};
use crossterm::{cursor, event, execute, terminal};
use futures_util::StreamExt;
use model::{Effect, Event, Model, Picture};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use ratatui_image::picker::Picker;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// What the person did.
pub enum Input {
    /// A line, in line mode's words.
    Line(String),
    /// Started (`true`) or stopped typing.
    Typing(bool),
}

/// How received images are drawn in the full-screen UI.
#[derive(Clone, Copy, Debug, Default, clap::ValueEnum)]
pub enum Images {
    /// Ask the terminal what it can (sixel, kitty, iTerm2), else half blocks.
    #[default]
    Auto,
    /// Unicode half blocks, on any terminal with colours.
    Blocks,
    /// Not drawn: only saved.
    Off,
}

/// The options every client shares.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct UiArgs {
    /// Line mode even on a terminal: one line per event, as with a pipe.
    #[arg(long)]
    pub plain: bool,
}

/// Where a client says what happened.
#[derive(Clone)]
pub struct Screen(Mode);

#[derive(Clone)]
enum Mode {
    Plain(plain::Term),
    Full(mpsc::UnboundedSender<Msg>),
}

enum Msg {
    Event(Event),
    Image { to: To, from: String, path: String, bytes: Vec<u8> },
    Close(oneshot::Sender<()>),
}

/// Whether the full-screen UI holds the terminal, and so whether anyone may draw.
static ACTIVE: Mutex<bool> = Mutex::new(false);

impl Screen {
    /// Starts the screen: full-screen when stdin and stdout are a terminal and `--plain` was
    /// not given. The receiver ends when the person quits (Ctrl-C, Ctrl-D, end of input).
    pub fn start(cfg: Config, args: &UiArgs, images: Images) -> (Screen, mpsc::Receiver<Input>) {
        let full = !args.plain && std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        if !full {
            let (term, rx) = plain::Term::start(cfg.typing);
            return (Screen(Mode::Plain(term)), rx);
        }
        let (tx, msgs) = mpsc::unbounded_channel();
        let (input, rx) = mpsc::channel(64);
        let picker = match images {
            Images::Auto => Some(Picker::from_query_stdio().unwrap_or_else(|_| Picker::halfblocks())),
            Images::Blocks => Some(Picker::halfblocks()),
            Images::Off => None,
        };
        match enter() {
            Ok(terminal) => {
                let welcome = "/help lists the commands · Alt-1..9 or Ctrl-N/P show the buffers · Ctrl-C quits";
                let _ = tx.send(Msg::Event(Event::Note { to: To::Main, text: welcome.into(), error: false }));
                tokio::spawn(run(Model::new(cfg), terminal, msgs, input, picker));
            }
            Err(e) => {
                restore();
                eprintln!("error: the terminal cannot be used full-screen ({e}): line mode");
                let (term, rx) = plain::Term::start(cfg.typing);
                return (Screen(Mode::Plain(term)), rx);
            }
        }
        (Screen(Mode::Full(tx)), rx)
    }

    fn send(&self, event: Event) {
        if let Mode::Full(tx) = &self.0 {
            let _ = tx.send(Msg::Event(event));
        }
    }

    fn print(&self, line: &str) {
        if let Mode::Plain(term) = &self.0 {
            term.say(line);
        }
    }

    /// Whether this is line mode.
    pub fn plain(&self) -> bool {
        matches!(self.0, Mode::Plain(_))
    }

    /// A message from `from`; `plain`, its line in line mode.
    pub fn chat(&self, to: To, from: &str, text: &str, plain: String) {
        self.print(&plain);
        self.send(Event::Chat { to, from: from.into(), text: text.into() });
    }

    /// Something that happened: `{tag} {text}` in line mode.
    pub fn note(&self, to: To, tag: &str, text: String) {
        self.print(&tagged(tag, &text));
        self.send(Event::Note { to, text, error: false });
    }

    /// An error: `error: {text}` in line mode.
    pub fn error(&self, to: To, text: String) {
        self.print(&format!("error: {text}"));
        self.send(Event::Note { to, text, error: true });
    }

    /// The connection's state: a line (`{tag} {text}`) in line mode, the status bar on the
    /// full screen (reconnections never flood the buffers).
    pub fn status(&self, tag: &str, text: String) {
        self.print(&tagged(tag, &text));
        self.send(Event::Status(text));
    }

    /// After the connection ended for good: line mode ends at once; the full screen stays
    /// until the person quits, so that what was said last can still be read.
    pub async fn linger(&self, input: &mut mpsc::Receiver<Input>) {
        if self.plain() {
            return;
        }
        self.send(Event::Status("not connected · Ctrl-C quits".into()));
        while let Some(said) = input.recv().await {
            if let Input::Line(_) = said {
                self.send(Event::Note { to: To::Active, text: "not connected: Ctrl-C quits".into(), error: true });
            }
        }
    }

    /// Who is typing on the other side; `plain`, the line mode's line.
    pub fn typing(&self, who: Option<String>, plain: &str) {
        self.print(plain);
        self.send(Event::Typing(who));
    }

    /// A transfer's progress (the full screen only).
    pub fn progress(&self, to: To, id: u64, label: &str, done: u64, total: u64) {
        self.send(Event::Progress { to, id, label: label.into(), done, total });
    }

    /// An image received from `from` and saved at `path`; `plain`, the line mode's line.
    pub fn image(&self, to: To, from: &str, path: &Path, bytes: Vec<u8>, plain: String) {
        self.print(&plain);
        if let Mode::Full(tx) = &self.0 {
            let path = path.display().to_string();
            let _ = tx.send(Msg::Image { to, from: from.into(), path, bytes });
        }
    }

    /// Someone seen, or gone (the full screen's list of people).
    pub fn person(&self, name: &str, here: bool, about: Option<String>) {
        self.send(Event::Person { name: name.into(), here, about });
    }

    /// An NL ring open or no longer (the full screen takes the last with Ctrl-T).
    pub fn ring(&self, id: &str, open: bool) {
        self.send(Event::Ring { id: id.into(), open });
    }

    /// Waits `pause` before trying to connect again. On the full screen the person may quit
    /// meanwhile (`false`), and a line typed is answered that it cannot go yet; in line mode
    /// lines wait, to go once connected.
    pub async fn pause(&self, pause: Duration, input: &mut mpsc::Receiver<Input>) -> bool {
        if self.plain() {
            tokio::time::sleep(pause).await;
            return true;
        }
        let slept = tokio::time::sleep(pause);
        tokio::pin!(slept);
        loop {
            tokio::select! {
                _ = &mut slept => return true,
                said = input.recv() => match said {
                    None => return false,
                    Some(Input::Line(_)) => {
                        let text = "not connected: not sent (Ctrl-C quits)".into();
                        self.send(Event::Note { to: To::Active, text, error: true });
                    }
                    Some(Input::Typing(_)) => {}
                },
            }
        }
    }

    /// Gives the terminal back as it was (the client is quitting).
    pub async fn close(&self) {
        match &self.0 {
            Mode::Plain(term) => term.close(),
            Mode::Full(tx) => {
                let (done, closed) = oneshot::channel();
                if tx.send(Msg::Close(done)).is_ok() {
                    let _ = tokio::time::timeout(Duration::from_secs(1), closed).await;
                }
                restore();
            }
        }
    }
}

/// `{tag} {text}`, or the text alone.
fn tagged(tag: &str, text: &str) -> String {
    if tag.is_empty() {
        text.to_owned()
    } else {
        format!("{tag} {text}")
    }
}

/// A new id for a transfer's progress.
pub fn transfer_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

type Term = Terminal<CrosstermBackend<std::io::Stdout>>;

/// Takes the terminal: raw mode, the alternate screen, the mouse and bracketed paste.
fn enter() -> std::io::Result<Term> {
    let mut active = ACTIVE.lock().expect("ui lock");
    terminal::enable_raw_mode()?;
    *active = true;
    execute!(
        std::io::stdout(),
        terminal::EnterAlternateScreen,
        event::EnableMouseCapture,
        event::EnableBracketedPaste
    )?;
    // The window's title is kept (xterm's title stack), to be put back on the way out.
    let _ = std::io::stdout().write_all(b"\x1b[22;0t");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        match ACTIVE.try_lock() {
            Ok(mut active) => {
                if std::mem::take(&mut *active) {
                    give_back();
                }
            }
            // Held while drawing: maybe by this very thread, panicking in the middle of it.
            Err(std::sync::TryLockError::WouldBlock) => give_back(),
            Err(std::sync::TryLockError::Poisoned(p)) => {
                if std::mem::take(&mut *p.into_inner()) {
                    give_back();
                }
            }
        }
        hook(info);
    }));
    Terminal::new(CrosstermBackend::new(std::io::stdout()))
}

/// Gives the terminal back, if the UI holds it; the UI draws no more after.
pub fn restore() {
    let mut active = ACTIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if std::mem::take(&mut *active) {
        give_back();
    }
}

/// The terminal as it was before the full screen.
fn give_back() {
    let _ = std::io::stdout().write_all(b"\x1b[23;0t");
    let _ = execute!(
        std::io::stdout(),
        event::DisableBracketedPaste,
        event::DisableMouseCapture,
        terminal::LeaveAlternateScreen,
        cursor::Show
    );
    let _ = terminal::disable_raw_mode();
}

/// Whether the full screen holds the terminal (logs then go nowhere, not over it).
pub fn active() -> bool {
    *ACTIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Where logs go: stderr, except while the full screen is drawn.
pub struct LogWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = Box<dyn Write>;

    fn make_writer(&'a self) -> Self::Writer {
        if active() {
            Box::new(std::io::sink())
        } else {
            Box::new(std::io::stderr())
        }
    }
}

/// The wall clock, `HH:MM`.
fn clock() -> String {
    chrono::Local::now().format("%H:%M").to_string()
}

/// The full screen's task: keys and the client's events in, drawing and typed lines out.
async fn run(
    mut model: Model,
    mut terminal: Term,
    mut msgs: mpsc::UnboundedReceiver<Msg>,
    input: mpsc::Sender<Input>,
    picker: Option<Picker>,
) {
    let start = Instant::now();
    let mut input = Some(input);
    let mut keys = EventStream::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut title = String::new();
    model.clock = clock();
    loop {
        let mut bell = false;
        let mut effects = Vec::new();
        let now = start.elapsed().as_secs_f64();
        tokio::select! {
            key = keys.next() => match key {
                Some(Ok(TermEvent::Key(k))) if k.kind != KeyEventKind::Release => effects = model.key(k, now),
                Some(Ok(TermEvent::Paste(text))) => model.paste(&text),
                Some(Ok(TermEvent::Mouse(m))) => match m.kind {
                    MouseEventKind::ScrollUp => model.wheel(3),
                    MouseEventKind::ScrollDown => model.wheel(-3),
                    _ => continue,
                },
                Some(Ok(_)) => {}
                Some(Err(_)) | None => effects.push(Effect::Quit),
            },
            msg = msgs.recv() => {
                let mut next = msg;
                // Everything already waiting is taken before drawing once.
                for _ in 0..1024 {
                    match next {
                        Some(Msg::Event(e)) => bell |= model.apply(e, now),
                        Some(Msg::Image { to, from, path, bytes }) => {
                            let picture = picker.as_ref().and_then(|p| picture(p, &bytes));
                            bell |= model.apply(Event::Image { to, from, path, picture }, now);
                        }
                        Some(Msg::Close(done)) => {
                            restore();
                            let _ = done.send(());
                            return;
                        }
                        None => {
                            restore();
                            return;
                        }
                    }
                    match msgs.try_recv() {
                        Ok(m) => next = Some(m),
                        Err(_) => break,
                    }
                }
            }
            _ = tick.tick() => {
                let paused = model.tick(now);
                // Nothing to draw again unless the minute changed.
                if paused.is_none() && clock() == model.clock {
                    continue;
                }
                model.clock = clock();
                effects.extend(paused);
            }
        }
        for effect in effects {
            let said = match effect {
                Effect::Send(line) => Input::Line(line),
                Effect::Typing(typing) => Input::Typing(typing),
                Effect::Quit => {
                    input = None; // the client hears the end of input, and closes the screen
                    model.status = "quitting".into();
                    continue;
                }
            };
            if let Some(tx) = &input {
                let _ = tx.send(said).await;
            }
        }
        let active = ACTIVE.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if !*active {
            return;
        }
        if bell {
            let _ = std::io::stdout().write_all(b"\x07");
        }
        if model.title() != title {
            title = model.title();
            let _ = execute!(std::io::stdout(), terminal::SetTitle(&title));
        }
        let _ = terminal.draw(|f| view::draw(f, &mut model));
    }
}

/// An image made ready to draw, at most 48 columns by 16 rows, its shape kept.
fn picture(picker: &Picker, bytes: &[u8]) -> Option<Picture> {
    // Whatever the image says of its size, decoding it takes no more than this.
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(8192);
    limits.max_image_height = Some(8192);
    limits.max_alloc = Some(64 << 20);
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes)).with_guessed_format().ok()?;
    reader.limits(limits);
    let image = reader.decode().ok()?;
    let font = picker.font_size();
    let (w, h) = (u32::from(font.width.max(1)), u32::from(font.height.max(1)));
    let cols = image.width().div_ceil(w).clamp(1, 48);
    let rows = image.height().div_ceil(h).clamp(1, 16);
    let size = ratatui::layout::Size::new(cols as u16, rows as u16);
    let protocol = picker.new_protocol(image, size, ratatui_image::Resize::Fit(None)).ok()?;
    let area = protocol.size();
    Some(Picture { rows: area.height.max(1), cols: area.width.max(1), protocol })
}

/// A transfer's progress bar: told to the screen as bytes go, every 1% or so.
pub struct Meter {
    screen: Screen,
    to: To,
    id: u64,
    label: String,
    done: u64,
    total: u64,
    shown: u64,
}

impl Meter {
    pub fn new(screen: &Screen, to: To, label: String, total: u64) -> Meter {
        let meter = Meter { screen: screen.clone(), to, id: transfer_id(), label, done: 0, total, shown: 0 };
        meter.show();
        meter
    }

    fn show(&self) {
        self.screen.progress(self.to.clone(), self.id, &self.label, self.done, self.total);
    }

    /// `n` more bytes went.
    pub fn add(&mut self, n: u64) {
        self.set(self.done + n);
    }

    /// `done` bytes went so far.
    pub fn set(&mut self, done: u64) {
        self.done = done;
        if done.saturating_sub(self.shown) >= (self.total / 100).max(16 * 1024) || done >= self.total {
            self.shown = done;
            self.show();
        }
    }
}
