//! Away: a session may say that it is away, with a message (IRC's `AWAY`), until it says it
//! is back or leaves. Whoever watches presence is told of each change (`Event::Away`); who
//! writes to a name that is away is told its message (`Event::IsAway`); the roster shows it.
//!
//! In a cluster each change is news for every other node (`Output::Away`, `Input::Away`),
//! kept there with the name it is held by: it goes with the name, and a node that comes up
//! is told who is away (as it is told the rooms). News of a name its node does not hold (any
//! more, or yet) is dropped.

use crate::cluster::Node;
use crate::{fold, Event, Hub, HubError, Output, SessionId};

/// The longest away message, in bytes (IRC's `AWAYLEN`); a longer one is cut.
pub const MAX_AWAY: usize = 390;

/// An away message as it is kept: on one line, within [`MAX_AWAY`], `None` if nothing is left.
fn tidy(message: Option<String>) -> Option<Box<str>> {
    let message = message?.replace(['\r', '\n'], " ");
    let message = message.trim();
    let mut cut = message.len().min(MAX_AWAY);
    while !message.is_char_boundary(cut) {
        cut -= 1;
    }
    let message = message[..cut].trim_end();
    (!message.is_empty()).then(|| message.into())
}

impl Hub {
    /// `me` (of `session`) is away with `message`, or back (`None`, or nothing but spaces).
    pub(crate) fn set_away(&mut self, session: SessionId, me: String, message: Option<String>) -> Result<(), HubError> {
        let message = tidy(message);
        let before = match &message {
            Some(m) => self.away.insert(session, m.clone()),
            None => self.away.remove(&session),
        };
        if before == message {
            return Ok(());
        }
        let message = message.map(String::from);
        if self.config.cluster {
            self.out.push_back(Output::Away { name: me.clone(), message: message.clone() });
        }
        self.tell_away(Some(session), me, message);
        Ok(())
    }

    /// Everyone who watches presence but `not` hears that `name` is away (or back).
    fn tell_away(&mut self, not: Option<SessionId>, name: String, message: Option<String>) {
        let to: Vec<SessionId> = self.watchers.iter().copied().filter(|&id| Some(id) != not).collect();
        if !to.is_empty() {
            self.out.push_back(Output::Broadcast { to, event: Event::Away { name, message } });
        }
    }

    /// `node` says that `name`, which it holds, is away with `message` (or back).
    pub(crate) fn remote_away(&mut self, node: Node, name: String, message: Option<String>) {
        let folded = fold(&name);
        let Some(held) = self.elsewhere.holder(&folded).filter(|h| h.node == node) else { return };
        let name = String::from(&*held.name);
        let message = tidy(message);
        let before = match &message {
            Some(m) => self.elsewhere.away.insert(folded.into(), m.clone()),
            None => self.elsewhere.away.remove(folded.as_str()),
        };
        if before != message {
            self.tell_away(None, name, message.map(String::from));
        }
    }

    /// The away message of whoever holds `name`, here or on another node, if it is away.
    pub fn away_of(&self, name: &str) -> Option<&str> {
        let folded = fold(name);
        match self.names.get(folded.as_str()) {
            Some(id) => self.away.get(id).map(|m| &**m),
            None => self.elsewhere.away.get(folded.as_str()).map(|m| &**m),
        }
    }

    /// Who is away, here and on the other nodes, with their messages (in the order of names).
    pub fn aways(&self) -> Vec<(String, String)> {
        let here = self.away.iter().filter_map(|(id, m)| Some((self.sessions.get(id)?.name.as_deref()?, &**m)));
        let there = self.elsewhere.away.iter().filter_map(|(f, m)| Some((&*self.elsewhere.holder(f)?.name, &**m)));
        let mut all: Vec<(String, String)> = here.chain(there).map(|(n, m)| (n.to_owned(), m.to_owned())).collect();
        all.sort();
        all
    }

    /// Tells every other node who is away here (a node came up).
    pub(crate) fn away_announce(&mut self) {
        let mut news: Vec<(String, String)> = self
            .away
            .iter()
            .filter_map(|(id, m)| Some((self.sessions.get(id)?.name.as_deref()?.to_owned(), m.to_string())))
            .collect();
        news.sort();
        self.out.extend(news.into_iter().map(|(name, m)| Output::Away { name, message: Some(m) }));
    }

    /// `sender` wrote to `to`: if `to` is away, `sender` is told so.
    pub(crate) fn tell_if_away(&mut self, sender: SessionId, to: &str) {
        let folded = fold(to);
        let (name, message) = match self.names.get(folded.as_str()) {
            Some(id) => match (self.away.get(id), self.sessions.get(id).and_then(|s| s.name.as_deref())) {
                (Some(m), Some(name)) => (name.to_owned(), m.to_string()),
                _ => return,
            },
            None => match (self.elsewhere.away.get(folded.as_str()), self.elsewhere.holder(&folded)) {
                (Some(m), Some(held)) => (held.name.to_string(), m.to_string()),
                _ => return,
            },
        };
        if sender_is_not(self, sender, &name) {
            self.deliver(sender, Event::IsAway { name, message });
        }
    }

    /// `Err` with what does not hold: only named sessions here are away, and only names
    /// held elsewhere are away there.
    pub(crate) fn check_away(&self) -> Result<(), String> {
        if let Some(id) = self.away.keys().find(|id| self.sessions.get(id).is_none_or(|s| s.name.is_none())) {
            return Err(format!("{id:?} is away, and gone or unnamed"));
        }
        if let Some(f) = self.elsewhere.away.keys().find(|f| self.elsewhere.holder(f).is_none()) {
            return Err(format!("{f:?} is away elsewhere, and held nowhere"));
        }
        Ok(())
    }
}

/// Whether `sender` is someone else than `name` (who writes to itself is not told).
fn sender_is_not(hub: &Hub, sender: SessionId, name: &str) -> bool {
    hub.sessions.get(&sender).and_then(|s| s.name.as_deref()).is_none_or(|me| !crate::same_name(me, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_away_message_is_one_line_within_its_bound_or_none() {
        assert_eq!(tidy(None), None);
        assert_eq!(tidy(Some("   ".into())), None);
        assert_eq!(tidy(Some(" at lunch\r\nback at 2 ".into())).as_deref(), Some("at lunch  back at 2"));
        let long = tidy(Some("é".repeat(MAX_AWAY))).unwrap();
        assert!(long.len() <= MAX_AWAY && long.chars().all(|c| c == 'é'), "{}", long.len());
        assert_eq!(long.len(), MAX_AWAY / 2 * 2);
    }
}
