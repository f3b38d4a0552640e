//! IRC messages, as the Modern IRC client protocol (modern.ircdocs.horse) and IRCv3's
//! message tags frame them: `[@tags ][:source ]COMMAND[ params][ :trailing]`, one a line,
//! ending in `\r\n` (a bare `\n` is taken too).
//!
//! A line's tags may take 8191 bytes (with their `@` and the space after them) and the rest
//! 512 with its line end; a longer line is never buffered whole: it is skipped and reported
//! once, as [`Item::TooLong`] (the server answers `417 ERR_INPUTTOOLONG`). A line that is not
//! UTF-8 is [`Item::NotUtf8`] (the server answers `FAIL * INVALID_UTF8`). Commands are
//! case-insensitive and read in upper case.

use crate::line::{Line, LineDecoder};
use bytes::BytesMut;

/// The longest tags part of a line, with its `@` and the space after it.
pub const MAX_TAGS: usize = 8191;
/// The longest rest of a line, with its `\r\n`.
pub const MAX_LINE: usize = 512;

/// One IRC message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    /// Its tags, in order, values unescaped (`None`: a tag without a value).
    pub tags: Vec<(String, Option<String>)>,
    /// Who it is from (`nick!user@host` or a server's name), if it says.
    pub source: Option<String>,
    /// Its command in upper case (`PRIVMSG`), or a numeric (`001`).
    pub command: String,
    /// Its parameters, the last one as it came after `:` if it did.
    pub params: Vec<String>,
}

/// What a line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Message(Message),
    /// A line over the bounds: skipped.
    TooLong,
    /// A line that is not UTF-8, or holds a NUL or a carriage return: skipped.
    NotUtf8,
    /// A line with no command (empty, only tags and a source, or a command of anything but
    /// letters and digits): skipped, as the spec says of empty lines.
    Empty,
}

/// Reads IRC lines off a byte stream, never holding more than one line's bound of them.
#[derive(Debug, Clone)]
pub struct Codec {
    lines: LineDecoder,
}

impl Default for Codec {
    fn default() -> Self {
        Codec { lines: LineDecoder::new(MAX_TAGS + MAX_LINE - 2) }
    }
}

impl Codec {
    /// The next line in `buf`, taken off its front; `None` until one is whole.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Item> {
        Some(match self.lines.decode(buf)? {
            Line::Oversized => Item::TooLong,
            Line::Text(line) => parse_line(&line),
        })
    }
}

/// One line, without its line end.
pub fn parse_line(line: &[u8]) -> Item {
    let rest = match line.first() {
        Some(b'@') => {
            let end = line.iter().position(|&b| b == b' ').unwrap_or(line.len());
            if end + 1 > MAX_TAGS {
                return Item::TooLong;
            }
            &line[(end + 1).min(line.len())..]
        }
        _ => line,
    };
    // The rest, with the `\r\n` it came with or should have.
    if rest.len() + 2 > MAX_LINE {
        return Item::TooLong;
    }
    if line.iter().any(|&b| b == 0 || b == b'\r') {
        return Item::NotUtf8;
    }
    match std::str::from_utf8(line) {
        Ok(text) => Message::parse(text).map_or(Item::Empty, Item::Message),
        Err(_) => Item::NotUtf8,
    }
}

impl Message {
    /// A message from `source` (a server's name, or `nick!user@host`).
    pub fn new(source: &str, command: &str, params: &[&str]) -> Message {
        Message {
            tags: Vec::new(),
            source: Some(source.to_owned()),
            command: command.to_owned(),
            params: params.iter().map(|&p| p.to_owned()).collect(),
        }
    }

    /// One line's message (without its line end); `None` if it has no command, or one of
    /// anything but ASCII letters and digits.
    pub fn parse(line: &str) -> Option<Message> {
        let mut rest = line.trim_start_matches(' ');
        let mut message = Message::default();
        if let Some(tagged) = rest.strip_prefix('@') {
            let (tags, after) = tagged.split_once(' ').unwrap_or((tagged, ""));
            message.tags = tags
                .split(';')
                .filter(|t| !t.is_empty())
                .map(|t| match t.split_once('=') {
                    Some((key, value)) => (key.to_owned(), Some(unescape(value))),
                    None => (t.to_owned(), None),
                })
                .collect();
            rest = after.trim_start_matches(' ');
        }
        if let Some(sourced) = rest.strip_prefix(':') {
            let (source, after) = sourced.split_once(' ').unwrap_or((sourced, ""));
            message.source = Some(source.to_owned());
            rest = after.trim_start_matches(' ');
        }
        let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
        if command.is_empty() || !command.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        message.command = command.to_ascii_uppercase();
        loop {
            rest = rest.trim_start_matches(' ');
            if rest.is_empty() {
                break;
            }
            if let Some(trailing) = rest.strip_prefix(':') {
                message.params.push(trailing.to_owned());
                break;
            }
            let (param, after) = rest.split_once(' ').unwrap_or((rest, ""));
            message.params.push(param.to_owned());
            rest = after;
        }
        Some(message)
    }

    /// The message as a line, with its `\r\n`. Only the last parameter may be empty or hold
    /// spaces; it goes after a `:` when there are several (as servers word a message's text,
    /// which some clients expect), or when it must. A parameter that cannot stand in the middle
    /// (empty, with a space, or starting with `:`) goes last after a `:`, so every parameter
    /// reads back as it was. Line ends and NULs in parameters become spaces: they would end
    /// the line. Commands whose parameters are all words (`MODE`, `INVITE`, `BATCH`,
    /// `CHATHISTORY`, and the numerics that list modes, a topic's setter, an invitation or a
    /// ban) take the `:` only when they must, as servers send them.
    pub fn to_line(&self) -> Vec<u8> {
        let words_only = matches!(
            self.command.as_str(),
            "MODE" | "INVITE" | "BATCH" | "CHATHISTORY" | "221" | "324" | "333" | "341" | "346" | "348" | "367"
        );
        let mut out = String::with_capacity(64);
        if !self.tags.is_empty() {
            out.push('@');
            for (i, (key, value)) in self.tags.iter().enumerate() {
                if i > 0 {
                    out.push(';');
                }
                out.push_str(key);
                if let Some(value) = value {
                    out.push('=');
                    escape_into(value, &mut out);
                }
            }
            out.push(' ');
        }
        if let Some(source) = &self.source {
            out.push(':');
            out.push_str(source);
            out.push(' ');
        }
        out.push_str(&self.command);
        let last = self.params.len().saturating_sub(1);
        for (i, param) in self.params.iter().enumerate() {
            out.push(' ');
            let unsafe_char = |c: char| matches!(c, '\r' | '\n' | '\0');
            let plain = !param.is_empty() && !param.starts_with(':') && !param.contains(|c| c == ' ' || unsafe_char(c));
            if i == last && (!plain || (last > 0 && !words_only)) {
                out.push(':');
            }
            out.extend(param.chars().map(|c| if unsafe_char(c) { ' ' } else { c }));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// The value of tag `key`, if it has one.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags.iter().find(|(k, _)| k == key).and_then(|(_, v)| v.as_deref())
    }
}

/// A tag's value as it goes on the wire (`;` as `\:`, a space as `\s`, ...).
pub fn escape_tag(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    escape_into(value, &mut out);
    out
}

/// A tag's value as it goes on the wire.
fn escape_into(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            ';' => out.push_str("\\:"),
            ' ' => out.push_str("\\s"),
            '\\' => out.push_str("\\\\"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\0' => {}
            c => out.push(c),
        }
    }
}

/// A tag's value as it came on the wire: `\:` is `;`, `\s` a space, `\\` a backslash, `\r`
/// and `\n` line ends, any other escaped character itself, and a lone `\` at the end nothing.
fn unescape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(':') => out.push(';'),
            Some('s') => out.push(' '),
            Some('r') => out.push('\r'),
            Some('n') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(chunks: &[&[u8]]) -> Vec<Item> {
        let (mut codec, mut buf, mut out) = (Codec::default(), BytesMut::new(), Vec::new());
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            while let Some(item) = codec.decode(&mut buf) {
                out.push(item);
            }
            assert!(buf.len() <= MAX_TAGS + MAX_LINE);
        }
        out
    }

    /// The same items whole and a byte at a time.
    fn decoded(input: &[u8]) -> Vec<Item> {
        let whole = items(&[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(items(&bytes), whole);
        whole
    }

    fn msg(tags: &[(&str, Option<&str>)], source: Option<&str>, command: &str, params: &[&str]) -> Item {
        Item::Message(Message {
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.map(str::to_owned))).collect(),
            source: source.map(str::to_owned),
            command: command.into(),
            params: params.iter().map(|p| p.to_string()).collect(),
        })
    }

    #[test]
    fn registration_as_clients_send_it() {
        assert_eq!(
            decoded(b"CAP LS 302\r\nNICK alice\r\nUSER alice 0 * :Alice Liddell\r\n"),
            [
                msg(&[], None, "CAP", &["LS", "302"]),
                msg(&[], None, "NICK", &["alice"]),
                msg(&[], None, "USER", &["alice", "0", "*", "Alice Liddell"]),
            ]
        );
        // Lower case commands, a bare `\n`, extra spaces, an empty trailing parameter.
        assert_eq!(
            decoded(b"privmsg  #lobby   :hi there\ntopic #lobby :\r\n"),
            [msg(&[], None, "PRIVMSG", &["#lobby", "hi there"]), msg(&[], None, "TOPIC", &["#lobby", ""])]
        );
    }

    #[test]
    fn tags_and_sources() {
        assert_eq!(
            decoded(b"@time=2026-12-03T18:00:00.000Z;+typing=active;bot :nick!u@h PRIVMSG #lobby ::-)\r\n"),
            [msg(
                &[("time", Some("2026-12-03T18:00:00.000Z")), ("+typing", Some("active")), ("bot", None)],
                Some("nick!u@h"),
                "PRIVMSG",
                &["#lobby", ":-)"]
            )]
        );
        assert_eq!(
            decoded(b"@label=a\\sb\\:c\\\\d\\x\\ PING x\r\n"),
            [msg(&[("label", Some("a b;c\\dx"))], None, "PING", &["x"])]
        );
    }

    #[test]
    fn lines_without_a_command_over_the_bounds_or_not_utf8_are_skipped_and_said() {
        let long_rest = format!("PRIVMSG #lobby :{}\r\n", "x".repeat(MAX_LINE - 17));
        assert_eq!(long_rest.len(), MAX_LINE + 1);
        let fits = format!("PRIVMSG #lobby :{}\r\n", "x".repeat(MAX_LINE - 18));
        let long_tags = format!("@a={} PING x\r\n", "t".repeat(MAX_TAGS - 3));
        let tags_fit = format!("@a={} PING x\r\n", "t".repeat(MAX_TAGS - 4));
        let mut input = Vec::new();
        for part in
            ["\r\n", "@a=b :src\r\n", &long_rest, &fits, &long_tags, &tags_fit, &format!("{}\r\n", "y".repeat(20_000))]
        {
            input.extend_from_slice(part.as_bytes());
        }
        input.extend_from_slice(b"PRIVMSG #lobby :\xff\xfe\r\nPRIVMSG #lobby :a\0b\r\nPRIVMSG #lobby :a\rb\nQUIT\r\n");
        let got = decoded(&input);
        assert_eq!(got.len(), 11);
        assert_eq!(got[..3], [Item::Empty, Item::Empty, Item::TooLong]);
        assert!(matches!(&got[3], Item::Message(m) if m.params[1].len() == MAX_LINE - 18));
        assert_eq!(got[4], Item::TooLong);
        assert!(matches!(&got[5], Item::Message(m) if m.command == "PING"));
        assert_eq!(got[6..], [Item::TooLong, Item::NotUtf8, Item::NotUtf8, Item::NotUtf8, msg(&[], None, "QUIT", &[])]);
    }

    #[test]
    fn messages_print_as_lines_that_read_back() {
        let m = Message {
            tags: vec![("time".into(), Some("a;b c\\".into())), ("x".into(), None)],
            source: Some("irc.example".into()),
            command: "PRIVMSG".into(),
            params: vec!["#lobby".into(), ":-) hi".into()],
        };
        assert_eq!(m.to_line(), b"@time=a\\:b\\sc\\\\;x :irc.example PRIVMSG #lobby ::-) hi\r\n");
        assert_eq!(parse_line(&m.to_line()[..m.to_line().len() - 2]), Item::Message(m));
        assert_eq!(Message::new("s", "001", &["bob", "Welcome"]).to_line(), b":s 001 bob :Welcome\r\n");
        assert_eq!(Message::new("s", "PING", &[""]).to_line(), b":s PING :\r\n");
        assert_eq!(Message::new("s", "NOTICE", &["*", "a\r\nQUIT"]).to_line(), b":s NOTICE * :a  QUIT\r\n");
        // Parameters that are all words go bare, unless the last must not.
        assert_eq!(Message::new("a", "MODE", &["#r", "+ov", "b", "c"]).to_line(), b":a MODE #r +ov b c\r\n");
        assert_eq!(Message::new("a", "MODE", &["#r", "+b", ":x"]).to_line(), b":a MODE #r +b ::x\r\n");
        assert_eq!(Message::new("s", "341", &["a", "b", "#r"]).to_line(), b":s 341 a b #r\r\n");
        assert_eq!(
            Message::new("s", "BATCH", &["+1", "chathistory", "#r"]).to_line(),
            b":s BATCH +1 chathistory #r\r\n"
        );
    }
}
