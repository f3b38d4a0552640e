//! What the hub asks the store to keep: every lobby and direct message (history), and, for a
//! reserved name that is offline, the messages it will get when it next logs in. The hub only
//! decides; the I/O layer writes, stamps the time, and answers the sender of a queued message
//! once the message is safely stored.

use crate::{fold, Event, Hub, Output, SessionId};

/// A message to keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Kept {
    pub sender: String,
    /// The sender's session if it is a guest's (a name nobody verified): history belongs to
    /// an identity, and a guest's lasts as long as its session. `None`: an account's, a
    /// device's or the desk's, the name's for good.
    pub sender_guest: Option<SessionId>,
    /// `None`: the lobby.
    pub recipient: Option<String>,
    /// The recipient's session if it is a guest's.
    pub recipient_guest: Option<SessionId>,
    pub image: bool,
    /// The text, or the image's base64.
    pub body: String,
}

/// A queued message handed back at login, with its id in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued {
    pub id: i64,
    pub kept: Kept,
}

impl Kept {
    /// The message as an event for `to`.
    pub(crate) fn event(self, to: String) -> Event {
        match self.image {
            true => Event::Image { from: self.sender, to, data: self.body },
            false => Event::Direct { from: self.sender, to, text: self.body },
        }
    }
}

impl Hub {
    /// `session` itself if it is a named guest: its history is its own, not its name's.
    pub(crate) fn guest(&self, session: SessionId) -> Option<SessionId> {
        let s = self.sessions.get(&session)?;
        (s.name.is_some() && !s.verified).then_some(session)
    }

    pub(crate) fn keep(&mut self, kept: Kept) {
        self.out.push_back(Output::Keep(kept));
    }

    /// Whether a message to `to` should wait for it: a reserved name nobody holds now.
    pub(crate) fn queues_for(&self, to: &str) -> bool {
        let folded = fold(to);
        self.reserved.contains(&folded) && !self.names.contains_key(&folded)
    }

    /// The store handed back what was queued for `session`'s name: delivered now, or, if the
    /// session left meanwhile, given back to the queue.
    /// Messages that arrived for the session meanwhile follow.
    pub(crate) fn offline(&mut self, session: SessionId, queued: Vec<Queued>) {
        let name = self.sessions.get(&session).and_then(|s| s.name.clone());
        match name {
            Some(name) => {
                let held = self.sessions.get_mut(&session).and_then(|s| s.held.take()).unwrap_or_default();
                for q in queued {
                    self.deliver(session, q.kept.event(name.clone()));
                }
                for event in held {
                    self.deliver(session, event);
                }
            }
            None if !queued.is_empty() => {
                self.out.push_back(Output::Requeue { ids: queued.iter().map(|q| q.id).collect() })
            }
            None => {}
        }
    }
}
