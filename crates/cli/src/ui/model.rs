//! What the full-screen UI shows and how it answers keys, without a terminal: buffers with
//! their scrollback, unread counts and input lines, the people seen, the status bar, Tab
//! completion, paste confirmation and the UI's own commands. Time is passed in (`now`, in
//! seconds since the UI started; `clock`, the wall clock's `HH:MM`), so all of it is tested
//! with ratatui's `TestBackend` and plain values.

use super::editor::Editor;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_image::protocol::Protocol;
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// After this long without a key, a person who was typing has paused.
pub const PAUSE: Duration = Duration::from_secs(4);
/// Lines kept in a buffer; older ones go.
const SCROLLBACK: usize = 10_000;
/// Lines recalled with Up in a buffer.
const HISTORY: usize = 500;

/// One command of a client, for `/help` and Tab completion.
pub struct Command {
    pub name: &'static str,
    pub args: &'static str,
    pub what: &'static str,
}

/// How a client's line mode is spoken from the full-screen UI.
pub struct Config {
    /// The client's name, for the title.
    pub app: &'static str,
    /// The main buffer's name (`lobby`, `desk`, `mesh`, ...).
    pub main: &'static str,
    /// Who this client is, for marking its own messages.
    pub me: String,
    pub commands: &'static [Command],
    /// How text typed in a person's buffer is said in line mode (`@bob text`); `None`: the
    /// protocol has no private message of its own and the text goes as typed.
    pub private: Option<fn(&str, &str) -> String>,
    /// Whether `@name text` is private to name in line mode (ChatOS, JPC).
    pub at_private: bool,
    /// Whether the server sends our own main-buffer messages back (else the UI shows them).
    pub echoed: bool,
    /// Whether text typed in the main buffer is a message (JPC's is not: only `@name text`).
    pub main_talks: bool,
    /// Whether the client wants to hear when the person starts and stops typing.
    pub typing: bool,
}

impl Config {
    /// A client whose main buffer talks, with no private message of its own, no echo of
    /// its own lines and no typing state: the other fields say where one differs.
    pub fn new(app: &'static str, main: &'static str, me: String, commands: &'static [Command]) -> Config {
        Config {
            app,
            main,
            me,
            commands,
            private: None,
            at_private: false,
            echoed: false,
            main_talks: true,
            typing: false,
        }
    }

    /// `@name text` is private to name (ChatOS, JPC), and so is text typed in name's buffer.
    pub fn at_private(self) -> Config {
        Config { private: Some(|to, text| format!("@{to} {text}")), at_private: true, ..self }
    }
}

/// Which buffer an event belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum To {
    Main,
    /// A person's buffer, made when first needed.
    Person(String),
    /// The buffer the person last typed a line in (a server's answer to it).
    Active,
}

/// What a client tells the UI.
pub enum Event {
    Chat {
        to: To,
        from: String,
        text: String,
    },
    Note {
        to: To,
        text: String,
        error: bool,
    },
    /// A transfer's progress: a line of the buffer, drawn again as it moves.
    Progress {
        to: To,
        id: u64,
        label: String,
        done: u64,
        total: u64,
    },
    /// An image received and saved at `path`; `picture`, how it is drawn (if it can be).
    Image {
        to: To,
        from: String,
        path: String,
        picture: Option<Picture>,
    },
    /// The connection's state, for the status bar.
    Status(String),
    /// Who is typing on the other side (`None`: nobody).
    Typing(Option<String>),
    /// Someone seen (`here`) or gone; `about`: what the server told of them (a protocol...).
    Person {
        name: String,
        here: bool,
        about: Option<String>,
    },
    /// An NL ring open (to take) or no longer.
    Ring {
        id: String,
        open: bool,
    },
}

/// An image ready to draw, and the rows and columns it takes.
pub struct Picture {
    pub protocol: Protocol,
    pub rows: u16,
    pub cols: u16,
}

/// What a key asks of the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// A line, as it would be typed in line mode.
    Send(String),
    Typing(bool),
    Quit,
}

pub enum LineKind {
    Chat { from: String, text: String, own: bool },
    Note { text: String, error: bool },
    Progress(Progress),
    Image { from: String, path: String, picture: Option<Picture> },
}

pub struct Line {
    pub clock: String,
    pub kind: LineKind,
}

pub struct Progress {
    pub id: u64,
    pub label: String,
    pub done: u64,
    pub total: u64,
    pub started: f64,
    pub now: f64,
}

impl Progress {
    /// Bytes a second so far.
    pub fn rate(&self) -> Option<f64> {
        let took = self.now - self.started;
        (took > 0.0 && self.done > 0).then(|| self.done as f64 / took)
    }

    /// Seconds left at the rate so far.
    pub fn left(&self) -> Option<f64> {
        self.rate().map(|r| self.total.saturating_sub(self.done) as f64 / r)
    }
}

pub struct Buffer {
    pub name: String,
    pub private: bool,
    pub lines: VecDeque<Line>,
    /// Messages arrived while another buffer was shown.
    pub unread: usize,
    /// Rows scrolled up from the bottom of `lines[..end]`.
    pub scroll: usize,
    /// While scrolled up, the lines there were then: those that come after do not move the
    /// view.
    pub end: Option<usize>,
    pub input: Editor,
    history: Vec<String>,
    /// The line of `history` shown, and what was typed before Up was pressed.
    recalled: Option<(usize, String)>,
}

impl Buffer {
    fn new(name: &str, private: bool) -> Buffer {
        Buffer {
            name: name.into(),
            private,
            lines: VecDeque::new(),
            unread: 0,
            scroll: 0,
            end: None,
            input: Editor::default(),
            history: Vec::new(),
            recalled: None,
        }
    }

    fn push(&mut self, clock: &str, kind: LineKind) {
        if self.lines.len() == SCROLLBACK {
            self.lines.pop_front();
            self.end = self.end.map(|end| end.saturating_sub(1));
        }
        self.lines.push_back(Line { clock: clock.into(), kind });
    }

    /// The lines the view ends with: all of them, or those there were when scrolled up.
    pub fn shown_end(&self) -> usize {
        self.end.unwrap_or(self.lines.len()).min(self.lines.len())
    }

    /// Lines that came while scrolled up.
    pub fn below(&self) -> usize {
        self.lines.len() - self.shown_end()
    }

    fn scroll_by(&mut self, up: isize) {
        if self.scroll == 0 && up > 0 {
            self.end = Some(self.lines.len());
        }
        self.scroll = self.scroll.saturating_add_signed(up);
        if self.scroll == 0 {
            self.end = None;
        }
    }
}

pub struct Person {
    pub name: String,
    pub about: Option<String>,
}

/// The state of Tab completion between two Tabs.
struct Completing {
    candidates: Vec<String>,
    next: usize,
    /// Characters the last candidate put before the cursor.
    inserted: usize,
}

pub struct Model {
    pub cfg: Config,
    pub clock: String,
    pub buffers: Vec<Buffer>,
    pub current: usize,
    /// By folded name.
    pub people: BTreeMap<String, Person>,
    pub status: String,
    pub typing: Option<String>,
    /// Open rings, oldest first.
    pub rings: Vec<String>,
    /// Lines pasted, waiting for Enter (send them) or Esc.
    pub pasted: Option<Vec<String>>,
    /// Rows of the message area when last drawn: a page for PageUp/PageDown.
    pub page: usize,
    active: usize,
    completing: Option<Completing>,
    /// When the last key that typed was pressed, while the person is typing.
    last_key: Option<f64>,
}

/// Folds a name for comparing, as the hub does.
fn fold(name: &str) -> String {
    hub::fold(name)
}

const LOCAL: &[Command] = &[
    Command { name: "/help", args: "[command]", what: "one line per command, or the one asked" },
    Command { name: "/query", args: "name", what: "open a private buffer with name" },
    Command { name: "/close", args: "", what: "close this private buffer" },
];

impl Model {
    pub fn new(cfg: Config) -> Model {
        let main = Buffer::new(cfg.main, false);
        Model {
            cfg,
            clock: String::new(),
            buffers: vec![main],
            current: 0,
            people: BTreeMap::new(),
            status: String::new(),
            typing: None,
            rings: Vec::new(),
            pasted: None,
            page: 10,
            active: 0,
            completing: None,
            last_key: None,
        }
    }

    pub fn shown(&self) -> &Buffer {
        &self.buffers[self.current]
    }

    fn shown_mut(&mut self) -> &mut Buffer {
        &mut self.buffers[self.current]
    }

    /// The buffer of `name`, made if there is none.
    fn person_buffer(&mut self, name: &str) -> usize {
        let folded = fold(name);
        if let Some(i) = self.buffers.iter().position(|b| b.private && fold(&b.name) == folded) {
            return i;
        }
        self.buffers.push(Buffer::new(name, true));
        self.buffers.len() - 1
    }

    fn buffer(&mut self, to: &To) -> usize {
        match to {
            To::Main => 0,
            To::Person(name) => self.person_buffer(name),
            To::Active => self.active.min(self.buffers.len() - 1),
        }
    }

    /// Private messages not yet seen, for the title.
    pub fn unseen_private(&self) -> usize {
        self.buffers.iter().filter(|b| b.private).map(|b| b.unread).sum()
    }

    pub fn title(&self) -> String {
        match self.unseen_private() {
            0 => format!("{} · {}", self.cfg.me, self.cfg.app),
            n => format!("({n}) {} · {}", self.cfg.me, self.cfg.app),
        }
    }

    fn seen(&mut self, name: &str, about: Option<String>) {
        let entry = self.people.entry(fold(name)).or_insert_with(|| Person { name: name.into(), about: None });
        if about.is_some() {
            entry.about = about;
        }
    }

    /// Takes an event of the client's; `true` when it deserves the bell.
    pub fn apply(&mut self, event: Event, now: f64) -> bool {
        let clock = self.clock.clone();
        match event {
            Event::Chat { to, from, text } => {
                let own = fold(&from) == fold(&self.cfg.me);
                if !own {
                    self.seen(&from, None);
                }
                let i = self.buffer(&to);
                self.buffers[i].push(&clock, LineKind::Chat { from, text, own });
                self.arrived(i, own)
            }
            Event::Note { to, text, error } => {
                let i = self.buffer(&to);
                self.buffers[i].push(&clock, LineKind::Note { text, error });
                // What happens with a person (a link asked, a file saved) is news there too.
                if self.buffers[i].private && i != self.current {
                    self.buffers[i].unread += 1;
                }
                false
            }
            Event::Progress { to, id, label, done, total } => {
                let i = self.buffer(&to);
                let found = self.buffers[i].lines.iter_mut().rev().find_map(|l| match &mut l.kind {
                    LineKind::Progress(p) if p.id == id => Some(p),
                    _ => None,
                });
                match found {
                    Some(p) => (p.done, p.total, p.now) = (done, total, now),
                    None => {
                        let p = Progress { id, label, done, total, started: now, now };
                        self.buffers[i].push(&clock, LineKind::Progress(p));
                    }
                }
                false
            }
            Event::Image { to, from, path, picture } => {
                self.seen(&from, None);
                let i = self.buffer(&to);
                self.buffers[i].push(&clock, LineKind::Image { from, path, picture });
                self.arrived(i, false)
            }
            Event::Status(text) => {
                self.status = text;
                false
            }
            Event::Typing(who) => {
                self.typing = who;
                false
            }
            Event::Person { name, here: true, about } => {
                self.seen(&name, about);
                false
            }
            Event::Person { name, here: false, .. } => {
                self.people.remove(&fold(&name));
                false
            }
            Event::Ring { id, open: true } => {
                self.rings.push(id);
                self.current != 0
            }
            Event::Ring { id, open: false } => {
                self.rings.retain(|r| *r != id);
                false
            }
        }
    }

    /// Counts a message that came to buffer `i`; `true` for the bell.
    fn arrived(&mut self, i: usize, own: bool) -> bool {
        if own || i == self.current {
            return false;
        }
        self.buffers[i].unread += 1;
        self.buffers[i].private
    }

    pub fn switch(&mut self, i: usize) {
        if i < self.buffers.len() {
            self.current = i;
            self.buffers[i].unread = 0;
        }
    }

    fn scroll(&mut self, up: isize) {
        self.shown_mut().scroll_by(up);
    }

    /// Scrolls the shown buffer by `rows` (mouse wheel: up is positive).
    pub fn wheel(&mut self, rows: isize) {
        self.scroll(rows);
    }

    /// The bottom of the view never goes past the last line: the view says how far it can go.
    pub fn clamp_scroll(&mut self, most: usize) {
        let b = self.shown_mut();
        if b.scroll > most {
            b.scroll_by(most as isize - b.scroll as isize);
        }
    }

    /// Text pasted: one line goes into the input; several wait for a confirmation.
    pub fn paste(&mut self, text: &str) {
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let lines: Vec<String> =
            text.trim_end_matches('\n').split('\n').filter(|l| !l.trim().is_empty()).map(str::to_owned).collect();
        match lines.len() {
            0 => {}
            1 => self.shown_mut().input.insert_str(&lines[0]),
            _ => self.pasted = Some(lines),
        }
    }

    /// Once a second or so: says when typing paused.
    pub fn tick(&mut self, now: f64) -> Option<Effect> {
        let last = self.last_key?;
        (now - last >= PAUSE.as_secs_f64()).then(|| {
            self.last_key = None;
            Effect::Typing(false)
        })
    }

    /// Answers a key.
    pub fn key(&mut self, key: KeyEvent, now: f64) -> Vec<Effect> {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let alt = key.modifiers.contains(KeyModifiers::ALT);
        if key.code != KeyCode::Tab {
            self.completing = None;
        }
        if self.pasted.is_some() {
            return match key.code {
                KeyCode::Enter => self.pasted.take().unwrap_or_default().iter().flat_map(|l| self.enter(l)).collect(),
                KeyCode::Char('c') if ctrl => vec![Effect::Quit],
                _ => {
                    self.pasted = None; // Esc, or any other key: not sent
                    Vec::new()
                }
            };
        }
        let mut effects = Vec::new();
        let input = &mut self.buffers[self.current].input;
        match key.code {
            KeyCode::Char('c') if ctrl => effects.push(Effect::Quit),
            KeyCode::Char('d') if ctrl && input.is_empty() => effects.push(Effect::Quit),
            KeyCode::Char('a') if ctrl => input.home(),
            KeyCode::Char('e') if ctrl => input.end(),
            KeyCode::Char('w') if ctrl => input.delete_word(),
            KeyCode::Char('u') if ctrl => input.delete_to_start(),
            KeyCode::Char('k') if ctrl => input.delete_to_end(),
            KeyCode::Char('d') if ctrl => input.delete(),
            KeyCode::Char('n') if ctrl => self.switch((self.current + 1) % self.buffers.len()),
            KeyCode::Char('p') if ctrl => self.switch((self.current + self.buffers.len() - 1) % self.buffers.len()),
            KeyCode::Char('t') if ctrl => match self.rings.last() {
                Some(id) => effects.push(Effect::Send(format!("/take {id}"))),
                None => self.note_here("no ring to take", true),
            },
            KeyCode::Char('b') if alt => input.word_left(),
            KeyCode::Char('f') if alt => input.word_right(),
            KeyCode::Char(c @ '1'..='9') if alt => self.switch(c as usize - '1' as usize),
            KeyCode::Char(c) if !ctrl && !alt => {
                input.insert(c);
                if self.cfg.typing && !input.text().starts_with('/') {
                    if self.last_key.is_none() {
                        effects.push(Effect::Typing(true));
                    }
                    self.last_key = Some(now);
                }
            }
            KeyCode::Left if alt || ctrl => input.word_left(),
            KeyCode::Right if alt || ctrl => input.word_right(),
            KeyCode::Left => input.left(),
            KeyCode::Right => input.right(),
            KeyCode::Home => input.home(),
            KeyCode::End => input.end(),
            KeyCode::Backspace => input.backspace(),
            KeyCode::Delete => input.delete(),
            KeyCode::Up => self.recall(true),
            KeyCode::Down => self.recall(false),
            KeyCode::PageUp => self.scroll(self.page.saturating_sub(1).max(1) as isize),
            KeyCode::PageDown => self.scroll(-(self.page.saturating_sub(1).max(1) as isize)),
            KeyCode::Tab => self.complete(),
            KeyCode::Enter => {
                let line = input.take();
                self.last_key = None;
                let b = &mut self.buffers[self.current];
                b.recalled = None;
                b.scroll_by(-(b.scroll as isize));
                if !line.trim().is_empty() && b.history.last() != Some(&line) {
                    if b.history.len() == HISTORY {
                        b.history.remove(0);
                    }
                    b.history.push(line.clone());
                }
                effects.extend(self.enter(&line));
            }
            _ => {}
        }
        effects
    }

    /// Up (`back`) or Down through the shown buffer's lines sent.
    fn recall(&mut self, back: bool) {
        let b = self.shown_mut();
        let at = match (&b.recalled, back) {
            (None, false) => return,
            (None, true) if b.history.is_empty() => return,
            (None, true) => {
                b.recalled = Some((b.history.len(), b.input.text()));
                b.history.len() - 1
            }
            (Some((i, _)), true) => i.saturating_sub(1),
            (Some((i, _)), false) => i + 1,
        };
        if at >= b.history.len() {
            let (_, draft) = b.recalled.take().unwrap_or_default();
            b.input.set(&draft);
        } else {
            b.recalled.as_mut().expect("recalling").0 = at;
            let line = b.history[at].clone();
            b.input.set(&line);
        }
    }

    fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.people.values().map(|p| p.name.clone()).collect();
        names.extend(self.buffers.iter().filter(|b| b.private).map(|b| b.name.clone()));
        names.sort_by_key(|n| fold(n));
        names.dedup_by_key(|n| fold(n));
        names
    }

    /// Tab: completes the word before the cursor with a command or a name; again, the next.
    fn complete(&mut self) {
        if let Some(c) = &mut self.completing {
            let next = c.candidates[c.next % c.candidates.len()].clone();
            c.next += 1;
            let inserted = std::mem::replace(&mut c.inserted, next.chars().count());
            self.buffers[self.current].input.replace_before(inserted, &next);
            return;
        }
        let before = self.shown().input.before_cursor();
        let word = before.rsplit(char::is_whitespace).next().unwrap_or_default().to_owned();
        let first_word = !before.trim_start().contains(char::is_whitespace);
        let (stem, candidates): (&str, Vec<String>) = if word.starts_with('/') && first_word {
            let commands = self.cfg.commands.iter().chain(LOCAL).map(|c| format!("{} ", c.name));
            (&word, commands.filter(|c| c.starts_with(&word)).collect())
        } else {
            let stem = word.trim_start_matches('@');
            let folded = fold(stem);
            let names = self.names().into_iter().filter(|n| fold(n).starts_with(&folded));
            (stem, names.map(|n| format!("{n} ")).collect())
        };
        if candidates.is_empty() {
            return;
        }
        let stem_len = stem.chars().count();
        self.buffers[self.current].input.replace_before(stem_len, &candidates[0]);
        let inserted = candidates[0].chars().count();
        self.completing = Some(Completing { candidates, next: 1, inserted });
    }

    /// A note in the shown buffer (the UI's own answers).
    fn note_here(&mut self, text: &str, error: bool) {
        let clock = self.clock.clone();
        self.shown_mut().push(&clock, LineKind::Note { text: text.into(), error });
    }

    /// A whole line entered in the shown buffer.
    fn enter(&mut self, line: &str) -> Vec<Effect> {
        if line.trim().is_empty() {
            return Vec::new();
        }
        self.active = self.current;
        if line.starts_with('/') {
            return self.command(line.trim());
        }
        let shown = self.shown();
        let (private, name) = (shown.private, shown.name.clone());
        let me = self.cfg.me.clone();
        let clock = self.clock.clone();
        // `@name text` in any buffer is private to name: shown in name's buffer (the server's
        // answer, where it was typed: where the person is looking).
        let at = line.strip_prefix('@').and_then(|r| r.split_once(' ')).filter(|_| self.cfg.at_private);
        if let Some((to, text)) = at {
            let i = self.person_buffer(to);
            self.buffers[i].push(&clock, LineKind::Chat { from: me, text: text.trim().into(), own: true });
            return vec![Effect::Send(line.into())];
        }
        match (private, self.cfg.private) {
            (true, Some(say)) => {
                self.shown_mut().push(&clock, LineKind::Chat { from: me, text: line.into(), own: true });
                vec![Effect::Send(say(&name, line))]
            }
            (true, None) => {
                self.note_here("this buffer takes only commands (/help)", true);
                Vec::new()
            }
            (false, _) => {
                if !self.cfg.echoed && self.cfg.main_talks {
                    self.shown_mut().push(&clock, LineKind::Chat { from: me, text: line.into(), own: true });
                }
                vec![Effect::Send(line.into())]
            }
        }
    }

    fn command(&mut self, line: &str) -> Vec<Effect> {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        let rest = rest.trim();
        match word {
            "/help" => {
                let asked = if rest.is_empty() { None } else { Some(format!("/{}", rest.trim_start_matches('/'))) };
                let lines: Vec<String> = self
                    .cfg
                    .commands
                    .iter()
                    .chain(LOCAL)
                    .filter(|c| asked.as_deref().is_none_or(|a| a == c.name))
                    .map(|c| format!("{} {} — {}", c.name, c.args, c.what).replace("  ", " "))
                    .collect();
                if lines.is_empty() {
                    self.note_here(&format!("no command {}: /help lists them", asked.unwrap_or_default()), true);
                }
                for l in lines {
                    self.note_here(&l, false);
                }
                Vec::new()
            }
            "/query" if !rest.is_empty() && !rest.contains(' ') => {
                let i = self.person_buffer(rest);
                self.switch(i);
                Vec::new()
            }
            "/close" if self.shown().private => {
                self.buffers.remove(self.current);
                self.switch(self.current - 1);
                self.active = 0;
                Vec::new()
            }
            "/close" => {
                self.note_here("the main buffer stays open (/quit to leave)", true);
                Vec::new()
            }
            w if self.cfg.commands.iter().any(|c| c.name == w) => vec![Effect::Send(line.into())],
            w => {
                self.note_here(&format!("unknown command {w}: /help lists the commands"), true);
                Vec::new()
            }
        }
    }
}
