//! How the model is drawn: the messages of the shown buffer (time, name column, text wrapped
//! under itself), the people seen on the right, the bar of buffers with the status, and the
//! input line at the bottom.
//!
//! ```text
//! 14:02        bob │ hello all
//! 14:03        ann » hi bob, a long line wraps
//!                  │ under its own text
//!  1:lobby  2:bob(2)*  3:carol                  connected as ann
//! [lobby] half typed li
//! ```

use super::model::{Buffer, LineKind, Model, Progress};
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// The width of the name column.
const NAME: usize = 10;
/// `HH:MM ` + the name column + ` │ `.
const PREFIX: usize = 6 + NAME + 3;
/// The people list's width, when the screen is wide enough for it.
const PEOPLE: u16 = 16;

const COLOURS: [Color; 12] = [
    Color::Cyan,
    Color::Green,
    Color::Yellow,
    Color::Blue,
    Color::Magenta,
    Color::LightRed,
    Color::LightGreen,
    Color::LightYellow,
    Color::LightBlue,
    Color::LightMagenta,
    Color::LightCyan,
    Color::Red,
];

/// The same colour for a name everywhere and every time (FNV-1a of its folded form).
pub fn colour(name: &str) -> Color {
    let hash = hub::fold(name)
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    COLOURS[(hash % COLOURS.len() as u64) as usize]
}

/// One row of the message area.
enum Row {
    Text(Line<'static>),
    /// Row `part` of the picture of line `line` of the buffer.
    Picture {
        line: usize,
        part: u16,
    },
}

pub fn draw(f: &mut Frame, m: &mut Model) {
    let area = f.area();
    let [top, bar, input] =
        Layout::vertical([Constraint::Min(1), Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let people_width = if area.width >= 70 { PEOPLE } else { 0 };
    let [messages, people] = Layout::horizontal([Constraint::Min(1), Constraint::Length(people_width)]).areas(top);
    draw_messages(f, m, messages);
    if people_width > 0 {
        draw_people(f, m, people);
    }
    f.render_widget(Paragraph::new(bar_line(m, bar.width as usize)), bar);
    draw_input(f, m, input);
}

fn draw_messages(f: &mut Frame, m: &mut Model, area: Rect) {
    let height = area.height as usize;
    m.page = height;
    let b = m.shown();
    let want = height + b.scroll;
    let mut rows: Vec<Row> = Vec::new(); // bottom first
    let mut all = true;
    for i in (0..b.shown_end()).rev() {
        if rows.len() >= want {
            all = false;
            break;
        }
        let mut these = line_rows(b, i, area.width as usize);
        these.reverse();
        rows.extend(these);
    }
    if all {
        let most = rows.len().saturating_sub(height);
        m.clamp_scroll(most);
    }
    let b = m.shown();
    let visible: Vec<&Row> = rows.iter().skip(b.scroll).take(height).collect();
    let first_y = area.y + area.height - visible.len() as u16;
    let mut pictures = Vec::new();
    for (k, row) in visible.iter().rev().enumerate() {
        let y = first_y + k as u16;
        let rect = Rect { x: area.x, y, width: area.width, height: 1 };
        match row {
            Row::Text(line) => f.render_widget(Paragraph::new(line.clone()), rect),
            Row::Picture { line, part: 0 } => pictures.push((*line, y)),
            Row::Picture { .. } => {}
        }
    }
    for (line, y) in pictures {
        if let LineKind::Image { picture: Some(p), .. } = &b.lines[line].kind {
            let fits = y + p.rows <= area.y + area.height;
            if fits {
                let width = p.cols.min(area.width.saturating_sub(PREFIX as u16));
                let rect = Rect { x: area.x + PREFIX as u16, y, width, height: p.rows };
                f.render_widget(ratatui_image::Image::new(&p.protocol), rect);
            }
        }
    }
}

/// The rows of line `i` of `b`, top first.
fn line_rows(b: &Buffer, i: usize, width: usize) -> Vec<Row> {
    let line = &b.lines[i];
    let dim = Style::new().fg(Color::DarkGray);
    let (name, name_style, sep, text, text_style) = match &line.kind {
        LineKind::Chat { from, text, own } => {
            let style =
                Style::new().fg(colour(from)).add_modifier(if *own { Modifier::BOLD } else { Modifier::empty() });
            (from.clone(), style, if *own { "»" } else { "│" }, text.clone(), Style::new())
        }
        LineKind::Note { text, error: false } => ("--".into(), dim, "│", text.clone(), dim),
        LineKind::Note { text, error: true } => {
            ("!!".into(), Style::new().fg(Color::Red), "│", text.clone(), Style::new().fg(Color::Red))
        }
        LineKind::Progress(p) => ("file".into(), dim, "│", progress(p, width.saturating_sub(PREFIX)), Style::new()),
        LineKind::Image { from, path, .. } => {
            (from.clone(), Style::new().fg(colour(from)), "│", format!("image saved as {path}"), Style::new())
        }
    };
    let text_width = width.saturating_sub(PREFIX).max(10);
    let mut rows = Vec::new();
    for (k, piece) in wrap(&text, text_width).into_iter().enumerate() {
        let head = if k == 0 {
            vec![
                Span::styled(format!("{:>5} ", line.clock), dim),
                Span::styled(pad_left(&name, NAME), name_style),
                Span::styled(format!(" {sep} "), dim),
            ]
        } else {
            vec![Span::raw(" ".repeat(6 + NAME)), Span::styled(format!(" {sep} "), dim)]
        };
        let mut spans = head;
        spans.push(Span::styled(piece, text_style));
        rows.push(Row::Text(Line::from(spans)));
    }
    if let LineKind::Image { picture: Some(p), .. } = &line.kind {
        rows.extend((0..p.rows).map(|part| Row::Picture { line: i, part }));
    }
    rows
}

/// `name` cut or padded to `width` columns, on the right.
fn pad_left(name: &str, width: usize) -> String {
    let mut cut = String::new();
    for c in name.chars() {
        if cut.width() + c.width().unwrap_or(0) > width {
            break;
        }
        cut.push(c);
    }
    format!("{}{cut}", " ".repeat(width - cut.width()))
}

/// Cuts `text` into rows of at most `width` columns, at spaces where it can.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut rows = Vec::new();
    for para in text.split('\n') {
        let mut row = String::new();
        for word in para.split_inclusive(' ') {
            if row.width() + word.trim_end().width() > width && !row.is_empty() {
                rows.push(std::mem::take(&mut row).trim_end().to_owned());
            }
            for c in word.chars() {
                if row.width() + c.width().unwrap_or(0) > width && c != ' ' {
                    rows.push(std::mem::take(&mut row));
                }
                row.push(c);
            }
        }
        rows.push(row.trim_end().to_owned());
    }
    rows
}

/// `1.4 MB`.
pub fn size(bytes: u64) -> String {
    match bytes {
        b if b < 1000 => format!("{b} B"),
        b if b < 1_000_000 => format!("{:.1} kB", b as f64 / 1e3),
        b if b < 1_000_000_000 => format!("{:.1} MB", b as f64 / 1e6),
        b => format!("{:.1} GB", b as f64 / 1e9),
    }
}

/// A transfer's line: `[█████░░░░░]  48% 1.4 MB of 3.0 MB · 1.1 MB/s · 2 s left · label`, the bar
/// as wide as the line leaves room for (5 to 20 cells).
fn progress(p: &Progress, width: usize) -> String {
    let fraction = if p.total == 0 { 1.0 } else { (p.done as f64 / p.total as f64).min(1.0) };
    let mut tail = format!(" {:>3}% {} of {}", (fraction * 100.0).floor(), size(p.done), size(p.total));
    if p.done >= p.total {
        tail.push_str(" · done");
    } else if let (Some(rate), Some(left)) = (p.rate(), p.left()) {
        tail.push_str(&format!(" · {}/s · {} s left", size(rate as u64), left.ceil()));
    }
    tail.push_str(&format!(" · {}", p.label));
    let cells = width.saturating_sub(tail.width() + 2).clamp(5, 20);
    let full = (fraction * cells as f64).round() as usize;
    format!("[{}{}]{tail}", "█".repeat(full), "░".repeat(cells - full))
}

fn draw_people(f: &mut Frame, m: &Model, area: Rect) {
    let block = Block::new().borders(Borders::LEFT).title(format!(" people {} ", m.people.len()));
    let inner = block.inner(area);
    f.render_widget(block, area);
    let lines: Vec<Line> = m
        .people
        .values()
        .map(|p| {
            let mut spans = vec![Span::raw(" "), Span::styled(p.name.clone(), Style::new().fg(colour(&p.name)))];
            if let Some(about) = &p.about {
                spans.push(Span::styled(format!(" {about}"), Style::new().fg(Color::DarkGray)));
            }
            Line::from(spans)
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}

/// ` 1:lobby  2:bob(2)*  3:carol     bob is typing · connected as ann`.
fn bar_line(m: &Model, width: usize) -> Line<'static> {
    let base = Style::new().bg(Color::Blue).fg(Color::White);
    let mut spans = Vec::new();
    for (i, b) in m.buffers.iter().enumerate() {
        let mut text = format!(" {}:{}", i + 1, b.name);
        if b.unread > 0 {
            text.push_str(&format!("({})", b.unread));
            if b.private {
                text.push('*');
            }
        }
        text.push(' ');
        let style = match (i == m.current, b.unread > 0) {
            (true, _) => base.add_modifier(Modifier::REVERSED),
            (false, true) => base.add_modifier(Modifier::BOLD).fg(Color::Yellow),
            (false, false) => base,
        };
        spans.push(Span::styled(text, style));
    }
    let mut right = Vec::new();
    if m.shown().scroll > 0 {
        match m.shown().below() {
            0 => right.push("scrolled up: PageDown".to_owned()),
            n => right.push(format!("scrolled up, {n} new: PageDown")),
        }
    }
    if let Some(t) = &m.typing {
        right.push(t.clone());
    }
    if !m.rings.is_empty() {
        right.push(format!("{} ring(s): Ctrl-T takes {}", m.rings.len(), m.rings.last().expect("a ring")));
    }
    if !m.status.is_empty() {
        right.push(m.status.clone());
    }
    let right = format!("{} ", right.join(" · "));
    let used: usize = spans.iter().map(|s| s.content.width()).sum();
    let gap = width.saturating_sub(used + right.width());
    spans.push(Span::styled(" ".repeat(gap), base));
    spans.push(Span::styled(right, base));
    Line::from(spans)
}

fn draw_input(f: &mut Frame, m: &Model, area: Rect) {
    if let Some(lines) = &m.pasted {
        let ask = format!("Paste {0} lines as {0} messages? Enter sends them, Esc cancels", lines.len());
        f.render_widget(Paragraph::new(ask).style(Style::new().add_modifier(Modifier::BOLD)), area);
        return;
    }
    let b = m.shown();
    let prompt = format!("[{}] ", b.name);
    let text: Vec<char> = b.input.text().chars().collect();
    let cursor = b.input.cursor();
    let room = (area.width as usize).saturating_sub(prompt.width() + 1).max(1);
    // Scrolled sideways so that the cursor shows: as many characters before it as fit.
    let (mut skip, mut before) = (cursor, 0);
    while skip > 0 && before + text[skip - 1].width().unwrap_or(0) <= room {
        skip -= 1;
        before += text[skip].width().unwrap_or(0);
    }
    let shown: String = text[skip..].iter().take(room * 2).collect();
    let line = Line::from(vec![Span::styled(prompt.clone(), Style::new().fg(Color::Cyan)), Span::raw(shown)]);
    f.render_widget(Paragraph::new(line), area);
    let x = area.x + (prompt.width() + before) as u16;
    f.set_cursor_position(Position { x: x.min(area.x + area.width - 1), y: area.y });
}
