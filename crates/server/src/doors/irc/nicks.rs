//! Hub names as IRC nicks, and back. A hub name that IRC can carry as a nick is its nick; in
//! one that it cannot (a PeerChat peer's `ann@peerchat`, a ChatOS `9lives` or `a.b`) each
//! character IRC gives a meaning, a leading one a nick cannot start with, and `\` itself, is
//! written `\` and two hex digits of its code: `ann\40peerchat`, `\39lives`, `a\2eb`. The
//! mapping is reversible, and no IRC user can take a nick that is another's mapped name: an
//! IRC nick may not hold `\`.

use std::borrow::Cow;

/// Characters a nick never holds (IRC gives them a meaning), and the escape.
fn inside(c: char) -> bool {
    ",*?!@.: \\".contains(c) || c.is_control()
}

/// Characters a nick does not start with (channels' signs, prefixes, digits).
fn first(c: char) -> bool {
    c.is_ascii_digit() || "-#&:$+~%@".contains(c)
}

/// The nick IRC sees for hub name `name`.
pub(crate) fn nick(name: &str) -> Cow<'_, str> {
    let mut chars = name.chars();
    let plain = match chars.next() {
        Some(c) => !first(c) && !inside(c) && !chars.any(inside),
        None => true,
    };
    if plain {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 8);
    for (i, c) in name.chars().enumerate() {
        if inside(c) || (i == 0 && first(c)) {
            // Every such character is ASCII but for controls, which no hub name holds.
            out.push_str(&format!("\\{:02x}", u32::from(c) & 0xff));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// The hub name of IRC nick `nick` (`\XX` decoded; anything else as it is).
pub(crate) fn name(nick: &str) -> Cow<'_, str> {
    if !nick.contains('\\') {
        return Cow::Borrowed(nick);
    }
    let mut out = String::with_capacity(nick.len());
    let mut rest = nick;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let hex = rest.get(at + 1..at + 3).and_then(|h| u8::from_str_radix(h, 16).ok());
        match hex {
            Some(b) if b.is_ascii() => {
                out.push(char::from(b));
                rest = &rest[at + 3..];
            }
            _ => {
                out.push('\\');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// `nick!nick@host` of hub name `name`.
pub(crate) fn source(name: &str) -> String {
    let nick = nick(name);
    format!("{nick}!{nick}@{}", super::HOST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_irc_cannot_carry_are_escaped_and_come_back() {
        for (name, shown) in [
            ("ann", "ann"),
            ("élodie", "élodie"),
            ("ann@peerchat", "ann\\40peerchat"),
            ("9lives", "\\39lives"),
            ("a.b", "a\\2eb"),
            ("a\\b", "a\\5cb"),
            ("-x", "\\2dx"),
            ("a-9", "a-9"),
            ("what?!", "what\\3f\\21"),
        ] {
            assert_eq!(nick(name), shown, "{name}");
            assert_eq!(name_of(shown), name, "{shown}");
        }
        // What is no escape stays as it is.
        assert_eq!(name("a\\zz"), "a\\zz");
        assert_eq!(name("a\\"), "a\\");
        assert_eq!(source("ann@peerchat"), "ann\\40peerchat!ann\\40peerchat@switchboard");
    }

    fn name_of(nick: &str) -> String {
        name(nick).into_owned()
    }
}
