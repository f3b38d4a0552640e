//! Chat: the lobby, direct messages and images between sessions that can carry them, typing
//! notices, and who comes and goes.

use crate::keep::Sent;
use crate::{fold, Door, Event, Hub, HubError, Kept, Output, SessionId, DESK, SUPPORT};

impl Hub {
    /// A lobby message goes to everyone in the lobby, never back into the PeerChat mesh it
    /// came from: every mesh peer heard it from its author already.
    pub(crate) fn lobby(&mut self, session: SessionId, me: String, text: String) {
        let text = self.config.word_filter.apply(text);
        let sender_guest = self.guest(session);
        self.keep(Kept { sender: me.clone(), sender_guest, body: text.clone(), ..Kept::default() });
        let caps = self.sessions[&session].caps;
        let to: Vec<SessionId> = self
            .lobby
            .iter()
            .copied()
            .filter(|&id| caps.lobby_echo || id != session)
            .filter(|id| !caps.mesh || !self.sessions[id].caps.mesh)
            .collect();
        if !to.is_empty() {
            self.out.push_back(Output::Broadcast { to, event: Event::Lobby { from: me, text } });
        }
    }

    /// Delivers a direct message or an image (`event`, whose `to` is filled in here) to `to`,
    /// if its protocol can carry it.
    /// A reserved name that is offline gets it when it next logs in, and one that is still
    /// being handed what waited for it gets it after that: the answer waits until the message
    /// is stored in its queue.
    /// A sender whose protocol wants it gets its message back, addressed as delivered.
    pub(crate) fn direct(&mut self, session: SessionId, mut kept: Kept) -> Result<Sent, HubError> {
        let to = kept.recipient.clone().unwrap_or_default();
        kept.sender_guest = self.guest(session);
        if fold(&to) == SUPPORT {
            return self.write_to_desk(session, kept).map(|()| Sent::Delivered);
        }
        let image = kept.image;
        let echo = self.sessions[&session].caps.direct_echo;
        let Some((id, name)) = self.reachable(&to, |c| if image { c.images } else { c.direct }) else {
            if !self.queues_for(&to) {
                return Err(HubError::Unreachable);
            }
            if echo {
                self.deliver(session, kept.clone().event(to));
            }
            return Ok(Sent::Queued(kept));
        };
        kept.recipient = Some(name.clone());
        kept.recipient_guest = self.guest(id);
        if self.draining(id) {
            // What waited for the recipient is still being handed over: this joins the queue.
            if echo && id != session {
                self.deliver(session, kept.clone().event(name));
            }
            self.queued_behind_drain(id);
            return Ok(Sent::Queued(kept));
        }
        self.keep(kept.clone());
        let event = kept.event(name);
        if echo && id != session {
            self.deliver(session, event.clone());
        }
        self.deliver(id, event);
        Ok(Sent::Delivered)
    }

    /// Tells the watchers that `name` came or went by `door` (`support` with no door: the
    /// desk opened or closed).
    pub(crate) fn presence(&mut self, name: String, door: Option<Door>, online: bool) {
        if !self.watchers.is_empty() {
            let to = self.watchers.iter().copied().collect();
            let via = door.map_or(DESK, |door| self.door_name(door));
            self.out.push_back(Output::Broadcast { to, event: Event::Presence { name, via, online } });
        }
    }

    /// A typing notice: delivered if `to` is online and shows them, dropped quietly if it is
    /// online and does not (it is no message), refused if nobody holds the name.
    pub(crate) fn typing(&mut self, me: String, to: String, active: bool) -> Result<(), HubError> {
        if fold(&to) == SUPPORT {
            return self.typing_to_desk(&me, active);
        }
        let (id, name) = self.reachable(&to, |_| true).ok_or(HubError::Unreachable)?;
        if self.sessions[&id].caps.typing {
            self.deliver(id, Event::Typing { from: me, to: name, active });
        }
        Ok(())
    }
}
