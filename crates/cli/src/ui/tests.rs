//! The full-screen UI without a terminal: keys and events into the model, the screen drawn
//! on ratatui's `TestBackend` and read back as text (snapshots in `snapshots/`).

use super::model::{Command, Config, Effect, Event, Model, To};
use super::view;
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const COMMANDS: &[Command] = &[
    Command { name: "/connect", args: "name", what: "ask name for a private connection" },
    Command { name: "/get", args: "name remote-path", what: "fetch a file" },
    Command { name: "/quit", args: "", what: "leave" },
];

fn chatos() -> Model {
    let mut m = Model::new(Config::new("chatos", "lobby", "ann".into(), COMMANDS).at_private());
    m.clock = "14:02".into();
    m
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn alt(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::ALT)
}

/// Types `text` and says what the keys asked for.
fn typed(m: &mut Model, text: &str) -> Vec<Effect> {
    text.chars().flat_map(|c| m.key(key(KeyCode::Char(c)), 0.0)).collect()
}

fn enter(m: &mut Model) -> Vec<Effect> {
    m.key(key(KeyCode::Enter), 0.0)
}

fn chat(to: To, from: &str, text: &str) -> Event {
    Event::Chat { to, from: from.into(), text: text.into() }
}

/// The screen as text, one row a line, trailing spaces cut.
fn screen(m: &mut Model, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal.draw(|f| view::draw(f, m)).unwrap();
    let buffer = terminal.backend().buffer();
    (0..height)
        .map(|y| {
            let row: String = (0..width).map(|x| buffer[(x, y)].symbol().to_owned()).collect();
            row.trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_private_message_while_typing_leaves_the_input_alone_and_marks_its_buffer() {
    let mut m = chatos();
    typed(&mut m, "half typed li");
    let bell = m.apply(chat(To::Person("bob".into()), "bob", "are you there"), 0.0);
    assert!(bell, "a private message in a buffer not shown rings");
    assert_eq!(m.shown().input.text(), "half typed li");
    assert_eq!(m.shown().name, "lobby");
    assert!(m.shown().lines.is_empty(), "nothing printed into the lobby");
    let bob = &m.buffers[1];
    assert_eq!((bob.name.as_str(), bob.private, bob.unread), ("bob", true, 1));
    assert_eq!(m.title(), "(1) ann · chatos");
    let shown = screen(&mut m, 80, 6);
    assert!(shown.contains(" 1:lobby  2:bob(1)*"), "{shown}");
    assert!(shown.ends_with("[lobby] half typed li"), "{shown}");
    // Shown, it is read.
    m.key(alt('2'), 0.0);
    assert_eq!((m.current, m.buffers[1].unread), (1, 0));
    assert!(!m.apply(chat(To::Person("bob".into()), "bob", "hello?"), 0.0), "no bell for the buffer shown");
}

#[test]
fn text_typed_in_a_person_s_buffer_goes_privately_and_shows_as_ours() {
    let mut m = chatos();
    assert!(m.key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE), 0.0).is_empty());
    m.key(ctrl('u'), 0.0);
    typed(&mut m, "/query Bob");
    assert!(enter(&mut m).is_empty(), "/query is the UI's own");
    assert_eq!(m.shown().name, "Bob");
    typed(&mut m, "hi there");
    assert_eq!(enter(&mut m), vec![Effect::Send("@Bob hi there".into())]);
    // An error the server answers goes to the buffer it concerns.
    m.key(ctrl('p'), 0.0);
    m.apply(Event::Note { to: To::Active, text: "Unknown recipient".into(), error: true }, 0.0);
    let bob = screen_of(&mut m, 1);
    assert!(bob.contains("ann » hi there"), "{bob}");
    assert!(bob.contains("!! │ Unknown recipient"), "{bob}");
    // `@name text` from the lobby lands in name's buffer too; plain text is the lobby's.
    typed(&mut m, "@bob again");
    assert_eq!(enter(&mut m), vec![Effect::Send("@bob again".into())]);
    m.apply(Event::Note { to: To::Active, text: "unreachable user".into(), error: true }, 0.0);
    assert!(screen_of(&mut m, 0).contains("!! │ unreachable user"), "answered where it was typed");
    typed(&mut m, "hello all");
    assert_eq!(enter(&mut m), vec![Effect::Send("hello all".into())]);
    assert!(screen_of(&mut m, 1).contains("ann » again"));
    assert!(screen_of(&mut m, 0).contains("ann » hello all"));
}

/// Buffer `i` drawn.
fn screen_of(m: &mut Model, i: usize) -> String {
    let was = m.current;
    m.switch(i);
    let shown = screen(m, 80, 10);
    m.switch(was);
    shown
}

#[test]
fn up_recalls_the_lines_sent_in_this_buffer_and_down_comes_back_to_the_draft() {
    let mut m = chatos();
    for line in ["one", "two"] {
        typed(&mut m, line);
        enter(&mut m);
    }
    typed(&mut m, "draft");
    m.key(key(KeyCode::Up), 0.0);
    assert_eq!(m.shown().input.text(), "two");
    m.key(key(KeyCode::Up), 0.0);
    m.key(key(KeyCode::Up), 0.0);
    assert_eq!(m.shown().input.text(), "one");
    m.key(key(KeyCode::Down), 0.0);
    assert_eq!(m.shown().input.text(), "two");
    m.key(key(KeyCode::Down), 0.0);
    assert_eq!(m.shown().input.text(), "draft");
    // Another buffer has its own history.
    m.apply(chat(To::Person("bob".into()), "bob", "hi"), 0.0);
    m.key(ctrl('n'), 0.0);
    m.key(key(KeyCode::Up), 0.0);
    assert_eq!(m.shown().input.text(), "");
}

#[test]
fn tab_completes_names_and_commands_and_goes_round_them() {
    let mut m = chatos();
    for who in ["bob", "Bea", "carol"] {
        m.apply(chat(To::Main, who, "hi"), 0.0);
    }
    typed(&mut m, "hello b");
    m.key(key(KeyCode::Tab), 0.0);
    assert_eq!(m.shown().input.text(), "hello Bea ");
    m.key(key(KeyCode::Tab), 0.0);
    assert_eq!(m.shown().input.text(), "hello bob ");
    m.key(key(KeyCode::Tab), 0.0);
    assert_eq!(m.shown().input.text(), "hello Bea ");
    m.key(ctrl('u'), 0.0);
    typed(&mut m, "@ca");
    m.key(key(KeyCode::Tab), 0.0);
    assert_eq!(m.shown().input.text(), "@carol ");
    m.key(ctrl('u'), 0.0);
    typed(&mut m, "/co");
    m.key(key(KeyCode::Tab), 0.0);
    assert_eq!(m.shown().input.text(), "/connect ");
    m.key(ctrl('u'), 0.0);
    typed(&mut m, "nobody z");
    m.key(key(KeyCode::Tab), 0.0);
    assert_eq!(m.shown().input.text(), "nobody z");
}

#[test]
fn a_paste_of_several_lines_waits_for_enter_and_esc_drops_it() {
    let mut m = chatos();
    m.paste("first\nsecond\r\n\nthird\n");
    assert!(screen(&mut m, 80, 5).contains("Paste 3 lines as 3 messages? Enter sends them, Esc cancels"));
    let sent = enter(&mut m);
    let want: Vec<Effect> = ["first", "second", "third"].iter().map(|l| Effect::Send((*l).into())).collect();
    assert_eq!(sent, want);
    m.paste("a\nb");
    assert!(m.key(key(KeyCode::Esc), 0.0).is_empty());
    assert!(m.pasted.is_none());
    assert!(enter(&mut m).is_empty());
    // One line goes into the input, to be edited.
    m.paste("just one\n");
    assert_eq!(m.shown().input.text(), "just one");
}

#[test]
fn help_says_one_line_a_command_and_an_unknown_command_says_where_to_look() {
    let mut m = chatos();
    typed(&mut m, "/help");
    assert!(enter(&mut m).is_empty());
    let lines = m.shown().lines.len();
    assert_eq!(lines, COMMANDS.len() + 3, "the client's commands and /help, /query, /close");
    typed(&mut m, "/help get");
    enter(&mut m);
    assert_eq!(m.shown().lines.len(), lines + 1);
    typed(&mut m, "/frobnicate x");
    assert!(enter(&mut m).is_empty());
    let shown = screen(&mut m, 120, 30);
    assert!(shown.contains("/get name remote-path — fetch a file"), "{shown}");
    assert!(shown.contains("unknown command /frobnicate: /help lists the commands"), "{shown}");
    typed(&mut m, "/connect bob");
    assert_eq!(enter(&mut m), vec![Effect::Send("/connect bob".into())]);
}

#[test]
fn the_editing_keys_of_a_shell_work_on_the_input() {
    let mut m = chatos();
    typed(&mut m, "one two three");
    m.key(ctrl('w'), 0.0);
    m.key(ctrl('a'), 0.0);
    m.key(alt('f'), 0.0);
    m.key(ctrl('k'), 0.0);
    typed(&mut m, "!");
    m.key(ctrl('e'), 0.0);
    m.key(alt('b'), 0.0);
    assert_eq!((m.shown().input.text().as_str(), m.shown().input.cursor()), ("one!", 0));
    assert_eq!(m.key(ctrl('c'), 0.0), vec![Effect::Quit]);
    m.key(ctrl('u'), 0.0);
    m.key(ctrl('e'), 0.0);
    m.key(ctrl('u'), 0.0);
    assert_eq!(m.key(ctrl('d'), 0.0), vec![Effect::Quit], "Ctrl-D on an empty line quits");
}

#[test]
fn long_lines_wrap_under_their_text_and_keep_the_name_column() {
    let mut m = chatos();
    let long = "a line long enough that it must wrap on a screen this narrow, and then some more words";
    m.apply(chat(To::Main, "bob", long), 0.0);
    let shown = screen(&mut m, 60, 6);
    insta::assert_snapshot!("wrapped", shown);
    assert_eq!(view::wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
    assert_eq!(view::wrap("ab cd ef", 5), ["ab cd", "ef"]);
}

#[test]
fn pages_scroll_back_and_come_down_no_further_than_the_last_line() {
    let mut m = chatos();
    for n in 0..30 {
        m.apply(chat(To::Main, "bob", &format!("line {n}")), 0.0);
    }
    let bottom = screen(&mut m, 60, 8);
    assert!(bottom.contains("line 29"));
    m.key(key(KeyCode::PageUp), 0.0);
    let up = screen(&mut m, 60, 8);
    assert!(!up.contains("line 29") && up.contains("line 23"), "{up}");
    assert!(up.contains("scrolled up: PageDown"));
    // What comes meanwhile does not move the view; the bar counts it.
    m.apply(chat(To::Main, "carol", "new one"), 0.0);
    m.apply(chat(To::Main, "carol", "new two"), 0.0);
    let still = screen(&mut m, 60, 8);
    let (rows, rows_before) = (still.lines().take(6).collect::<Vec<_>>(), up.lines().take(6).collect::<Vec<_>>());
    assert_eq!(rows, rows_before, "{still}");
    assert!(still.contains("scrolled up, 2 new: PageDown"), "{still}");
    m.key(key(KeyCode::PageDown), 0.0);
    let down = screen(&mut m, 60, 8);
    assert!(down.contains("new two") && !down.contains("scrolled"), "{down}");
    m.key(key(KeyCode::PageUp), 0.0);
    for _ in 0..20 {
        m.key(key(KeyCode::PageUp), 0.0);
    }
    assert!(screen(&mut m, 60, 8).contains("line 0"), "the top is the first line");
    m.wheel(-1000);
    assert!(screen(&mut m, 60, 8).contains("line 29"));
}

#[test]
fn the_lobby_with_people_and_unread_buffers() {
    let mut m = chatos();
    m.status = "connected as ann".into();
    m.apply(Event::Person { name: "dave".into(), here: true, about: Some("jpc".into()) }, 0.0);
    m.apply(chat(To::Main, "bob", "hello all"), 0.0);
    typed(&mut m, "hi bob, how are things on your side of the bridge today?");
    enter(&mut m);
    m.apply(chat(To::Main, "carol", "hi both"), 0.0);
    m.apply(chat(To::Person("bob".into()), "bob", "psst"), 0.0);
    m.apply(
        Event::Note {
            to: To::Person("carol".into()),
            text: "carol asks for a private connection".into(),
            error: false,
        },
        0.0,
    );
    typed(&mut m, "half typed li");
    insta::assert_snapshot!("lobby", screen(&mut m, 80, 12));
}

#[test]
fn a_private_buffer_with_a_file_coming() {
    let mut m = chatos();
    m.apply(chat(To::Person("bob".into()), "bob", "I have the report"), 0.0);
    m.key(alt('2'), 0.0);
    typed(&mut m, "/get bob report.pdf");
    assert_eq!(enter(&mut m), vec![Effect::Send("/get bob report.pdf".into())]);
    let to = To::Person("bob".into());
    let progress =
        |done| Event::Progress { to: to.clone(), id: 7, label: "bob:report.pdf".into(), done, total: 3_000_000 };
    m.apply(progress(0), 10.0);
    m.apply(progress(1_200_000), 11.0);
    insta::assert_snapshot!("private_progress", screen(&mut m, 90, 8));
    m.apply(progress(3_000_000), 12.0);
    let done = screen(&mut m, 90, 8);
    assert!(done.contains("█] 100% 3.0 MB of 3.0 MB · done · bob:report.pdf"), "{done}");
    assert!(!done.contains('░'), "{done}");
    assert_eq!(done.matches("bob:report.pdf").count(), 1, "one line, drawn again");
}

#[test]
fn the_desk_shows_rings_and_ctrl_t_takes_the_last() {
    const TAKE: &[Command] = &[Command { name: "/take", args: "ID", what: "take ring ID" }];
    let mut m = Model::new(Config { typing: true, ..Config::new("nl", "desk", "support".into(), TAKE) });
    m.clock = "09:15".into();
    assert_eq!(m.key(ctrl('t'), 0.0), Vec::<Effect>::new(), "no ring yet");
    m.apply(Event::Note { to: To::Main, text: "[ring 41] someone wants support: /take 41".into(), error: false }, 0.0);
    m.apply(Event::Ring { id: "41".into(), open: true }, 0.0);
    m.apply(Event::Ring { id: "42".into(), open: true }, 0.0);
    m.apply(Event::Ring { id: "41".into(), open: false }, 0.0);
    assert_eq!(m.key(ctrl('t'), 0.0), vec![Effect::Send("/take 42".into())]);
    m.apply(chat(To::Main, "user", "my printer is on fire"), 0.0);
    m.apply(Event::Typing(Some("the end user is typing".into())), 0.0);
    // Typing is told when it starts and when it pauses, not for commands.
    assert_eq!(m.key(key(KeyCode::Char('o')), 1.0), vec![Effect::Typing(true)]);
    assert_eq!(m.key(key(KeyCode::Char('k')), 2.0), vec![]);
    assert_eq!(m.tick(5.0), None);
    assert_eq!(m.tick(6.0), Some(Effect::Typing(false)));
    insta::assert_snapshot!("desk", screen(&mut m, 80, 8));
}

#[tokio::test(start_paused = true)]
async fn waiting_to_reconnect_on_the_full_screen_ends_when_the_person_quits() {
    let (tx, mut msgs) = tokio::sync::mpsc::unbounded_channel();
    let screen = super::Screen(super::Mode::Full(tx));
    let (input, mut typed) = tokio::sync::mpsc::channel(4);
    input.send(super::Input::Line("hello?".into())).await.unwrap();
    drop(input);
    let start = tokio::time::Instant::now();
    assert!(!screen.pause(std::time::Duration::from_secs(8), &mut typed).await, "the person quit");
    assert_eq!(start.elapsed(), std::time::Duration::ZERO, "at once, not after the pause");
    match msgs.try_recv() {
        Ok(super::Msg::Event(Event::Note { text, error: true, .. })) => assert!(text.contains("not sent"), "{text}"),
        _ => panic!("the line typed meanwhile is answered"),
    }
    // Nobody quits: the whole pause, then on.
    let (_input, mut typed) = tokio::sync::mpsc::channel(4);
    assert!(screen.pause(std::time::Duration::from_secs(8), &mut typed).await);
    assert_eq!(start.elapsed(), std::time::Duration::from_secs(8));
}

#[test]
fn a_line_longer_than_the_screen_scrolls_sideways_to_keep_the_cursor_in_view() {
    let mut m = chatos();
    m.paste(&"word ".repeat(20_000));
    let text = screen(&mut m, 40, 3);
    let input = text.lines().last().unwrap();
    assert!(input.starts_with("[lobby] ") && input.ends_with("word"), "{input}");
    m.key(ctrl('a'), 0.0);
    let start = screen(&mut m, 40, 3);
    assert!(start.lines().last().unwrap().starts_with("[lobby] word word"), "{start}");
}
