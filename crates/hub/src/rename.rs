//! A change of name (IRC's `NICK` once registered): a guest of a door that carries rooms takes
//! another name, checked as a login's would be. Everything the hub keeps of the session is
//! by its id (the lobby, the watchers, its rooms here, its away message), so only the tables
//! of names change; who is told who comes and goes, and the session itself, are told the new
//! name. The old one is recorded as gone, for `WHOWAS`.
//!
//! In a cluster the new name is claimed first, held here meanwhile beside the old one, and
//! the old one is released once the claim is granted. The other nodes learn of it from the
//! claim, which says what the name was: they rename the session in what they know of it
//! (its name, its away message, its rooms there) at once, so that nobody sees it leave and
//! come back. A name that looks like the old one has the same claim: it is renamed in place.

use crate::cluster::{Claiming, Held, Node};
use crate::names::{skeleton, skeleton_digest, valid_name};
use crate::{fold, Caps, Done, Door, Event, Hub, HubError, Output, SessionId, SUPPORT};

impl Hub {
    /// `session`, named `me`, asks to be named `name` instead.
    pub(crate) fn rename(&mut self, session: SessionId, me: String, name: String) -> Result<Done, HubError> {
        let s = &self.sessions[&session];
        if !s.caps().rooms || s.caps().mesh {
            return Err(HubError::InvalidName); // only the doors that can say a new name
        }
        if s.verified || self.desk.talks_with(&fold(&me)) {
            return Err(HubError::NameFixed);
        }
        if name == me {
            return Ok(Done::Now);
        }
        if !valid_name(&name) {
            return Err(HubError::InvalidName);
        }
        let folded = fold(&name);
        let look = skeleton_digest(&folded);
        let mine = |id: Option<&SessionId>| id.is_none_or(|&id| id == session);
        if look == skeleton_digest(SUPPORT)
            || !mine(self.names.get(folded.as_str()))
            || !mine(self.looks.get(&look))
            || self.reserved.contains(&folded)
            || self.reserved_looks.contains(&look)
            || self.elsewhere.holds(&folded, look)
        {
            return Err(HubError::NameTaken);
        }
        let alike = skeleton(&me) == skeleton(&name);
        if !self.config.cluster || alike {
            // Alike, the claim is this session's already: it only names it anew.
            if self.config.cluster {
                self.out.push_back(Output::Claim { session, name: name.clone(), was: Some(me.clone()) });
            }
            self.renamed(session, me, name);
            return Ok(Done::Now);
        }
        self.names.insert(folded.into(), session);
        self.looks.insert(look, session);
        let claiming = Claiming { name: name.clone(), verified: false, waiting: Vec::new(), was: Some(me.clone()) };
        self.claiming.insert(session, claiming);
        self.out.push_back(Output::Claim { session, name, was: Some(me) });
        Ok(Done::Later)
    }

    /// `session`, named `was`, is named `name` now: it holds the new name and not the old,
    /// the old is recorded as gone, and who is told who comes and goes is told.
    pub(crate) fn renamed(&mut self, session: SessionId, was: String, name: String) {
        self.unhold(session, &was);
        let folded = fold(&name);
        self.looks.insert(skeleton_digest(&folded), session);
        self.names.insert(folded.into(), session);
        let s = self.sessions.get_mut(&session).expect("caller checked");
        s.name = Some(name.as_str().into());
        let door = s.door;
        self.gone(&was, door);
        self.tell_renamed(Some(session), was, name, door);
    }

    /// Who is told who comes and goes (and `session`, if it is not among them) is told that
    /// `from` is `to` now.
    fn tell_renamed(&mut self, session: Option<SessionId>, from: String, to: String, door: Door) {
        let mut told: Vec<SessionId> = self.watchers.iter().copied().collect();
        if let Some(session) = session.filter(|s| !self.watchers.contains(s)) {
            told.push(session);
        }
        if !told.is_empty() {
            let via = self.door_name(door);
            self.out.push_back(Output::Broadcast { to: told, event: Event::Renamed { from, to, via } });
        }
    }

    /// In a cluster: `node`'s session named `was` holds `name` now (`Input::Joined` with
    /// `was`). `false` if this node did not know it as `node`'s: then it is a plain join.
    pub(crate) fn remote_renamed(&mut self, node: Node, was: &str, name: &str, door: Door, caps: Caps) -> bool {
        let old = fold(was);
        if self.elsewhere.holder(&old).is_none_or(|h| h.node != node) {
            return false;
        }
        let folded = fold(name);
        let away = self.elsewhere.away.get(old.as_str()).cloned();
        let held = self.elsewhere.remove(&old).expect("just seen");
        if let Some(other) = (folded != old).then(|| self.elsewhere.remove(&folded)).flatten() {
            // Somebody else's, as this node knew it: the directory is right, they are gone.
            let lobby = other.caps().lobby;
            self.presence(other.name.into(), Some(other.door), lobby, false);
        }
        self.elsewhere.insert(&folded, Held::new(node, name, door, caps));
        if let Some(away) = away {
            self.elsewhere.away.insert(folded.as_str().into(), away);
        }
        self.rooms_renamed(node, &old, name);
        self.gone(&held.name, held.door);
        self.tell_renamed(None, held.name.into(), name.to_owned(), door);
        true
    }
}
