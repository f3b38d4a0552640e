//! Chat: the lobby, direct messages and images between sessions that can carry them, typing
//! notices, and who comes and goes.

use crate::keep::Sent;
use crate::{fold, Door, Event, Hub, HubError, Kept, Kind, Output, Remote, SessionId, DESK, SUPPORT};

impl Hub {
    /// A lobby message goes to everyone in the lobby, never back into the PeerChat mesh it
    /// came from: every mesh peer heard it from its author already. In a cluster it is
    /// published once for the other nodes' sessions.
    pub(crate) fn lobby(&mut self, session: SessionId, me: String, text: String) {
        let text = self.config.word_filter.apply(text);
        let sender_guest = self.guest(session);
        self.keep(Kept { sender: me.clone(), sender_guest, body: text.clone(), ..Kept::default() });
        let caps = self.sessions[&session].caps();
        // Sized at once: collected from a filter, the list would grow by doubling.
        let mut to: Vec<SessionId> = Vec::with_capacity(self.lobby.len());
        to.extend(
            self.lobby
                .iter()
                .copied()
                .filter(|&id| caps.lobby_echo || id != session)
                .filter(|id| !caps.mesh || !self.sessions[id].caps().mesh),
        );
        if self.config.cluster {
            self.out.push_back(Output::Publish { from: me.clone(), text: text.clone(), mesh: caps.mesh });
        }
        if !to.is_empty() {
            self.out.push_back(Output::Broadcast { to, event: Event::Lobby { from: me, text } });
        }
    }

    /// Delivers a direct message or an image (`kept`, from `session`'s command of `kind`) to
    /// its recipient, if its protocol can carry it: here, or on the node that holds the name
    /// (which answers). A sender whose protocol wants it gets its message back, addressed as
    /// delivered, once it went through.
    pub(crate) fn direct(&mut self, session: SessionId, kind: Kind, mut kept: Kept) -> Result<Sent, HubError> {
        let to = kept.recipient.clone().unwrap_or_default();
        kept.sender_guest = self.guest(session);
        if fold(&to) == SUPPORT {
            return self.write_to_desk(session, kept).map(|()| Sent::Delivered);
        }
        let echo = self.sessions[&session].caps().direct_echo;
        if self.reachable(&to, |_| true).is_none() {
            if let Some(held) = self.elsewhere.holder(&to) {
                if !(if kept.image { held.caps().images } else { held.caps().direct }) {
                    return Err(HubError::Unreachable);
                }
                let (node, name) = (held.node, held.name.to_string());
                kept.recipient = Some(name.clone());
                let echo = echo.then(|| kept.clone().event(name));
                self.forward(node, session, kind, echo, Remote::Direct(kept));
                return Ok(Sent::Forwarded);
            }
        }
        self.direct_here(kept, echo.then_some(session))
    }

    /// Delivers a direct message to its recipient here, or queues it: a reserved name that is
    /// offline gets it when it next logs in, and one that is still being handed what waited
    /// for it gets it after that; the answer waits until the message is stored in its queue.
    /// `echo`: the sender here that gets its message back.
    pub(crate) fn direct_here(&mut self, mut kept: Kept, echo: Option<SessionId>) -> Result<Sent, HubError> {
        let to = kept.recipient.clone().unwrap_or_default();
        let image = kept.image;
        let Some((id, name)) = self.reachable(&to, |c| if image { c.images } else { c.direct }) else {
            if !self.queues_for(&to) {
                return Err(HubError::Unreachable);
            }
            if let Some(sender) = echo {
                self.deliver(sender, kept.clone().event(to));
            }
            return Ok(Sent::Queued(kept));
        };
        kept.recipient = Some(name.clone());
        kept.recipient_guest = self.guest(id);
        let echo = echo.filter(|&sender| sender != id);
        if self.draining(id) {
            // What waited for the recipient is still being handed over: this joins the queue.
            if let Some(sender) = echo {
                self.deliver(sender, kept.clone().event(name));
            }
            self.queued_behind_drain(id);
            return Ok(Sent::Queued(kept));
        }
        self.keep(kept.clone());
        let event = kept.event(name);
        if let Some(sender) = echo {
            self.deliver(sender, event.clone());
        }
        self.deliver(id, event);
        Ok(Sent::Delivered)
    }

    /// Tells the watchers that `name` came or went by `door` (`support` with no door: the
    /// desk opened or closed); `lobby`: it hears the lobby.
    pub(crate) fn presence(&mut self, name: String, door: Option<Door>, lobby: bool, online: bool) {
        if let (Some(door), false) = (door, online) {
            self.gone(&name, door);
        }
        if !self.watchers.is_empty() {
            let to = self.watchers.iter().copied().collect();
            let via = door.map_or(DESK, |door| self.door_name(door));
            self.out.push_back(Output::Broadcast { to, event: Event::Presence { name, via, lobby, online } });
        }
    }

    /// Who is in the lobby: here, then on other nodes (in the order of their names).
    pub(crate) fn in_lobby(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.lobby.iter().filter_map(|id| self.sessions[id].name.as_deref().map(String::from)).collect();
        let here = names.len();
        names.extend(self.elsewhere.in_lobby().map(String::from));
        names[here..].sort();
        names
    }

    /// A typing notice: delivered if `to` is online and shows them, dropped quietly if it is
    /// online and does not (it is no message), refused if nobody holds the name.
    pub(crate) fn typing(&mut self, me: String, to: String, active: bool) -> Result<(), HubError> {
        if fold(&to) == SUPPORT {
            return self.typing_to_desk(&me, active);
        }
        let Some((id, name)) = self.reachable(&to, |_| true) else {
            let held = self.elsewhere.holder(&to).ok_or(HubError::Unreachable)?;
            if held.caps().typing {
                let (node, to) = (held.node, held.name.to_string());
                self.out.push_back(Output::Forward { node, id: 0, command: Remote::Typing { from: me, to, active } });
            }
            return Ok(());
        };
        if self.sessions[&id].caps().typing {
            self.deliver(id, Event::Typing { from: me, to: name, active });
        }
        Ok(())
    }
}
