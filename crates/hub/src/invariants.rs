//! What must hold of the hub between any two inputs, whatever they were: checked by the
//! state-machine fuzz target after every step, and by the tests.

use crate::timers::Due;
use crate::{fold, skeleton_digest, Hub, SessionId};
use std::time::Instant;

impl Hub {
    /// `Err` with what does not hold: one session per name, and every name held by a live
    /// session that has it; every table of sessions (lobby, watchers, liveness, look-alikes)
    /// holds only live ones; unfinished links and pending asks are between live sessions;
    /// the desk's operators, rings and conversations agree; only named sessions drain queues;
    /// what is known of other nodes agrees with itself; every deadline has its timer.
    pub fn check_invariants(&self) -> Result<(), String> {
        let exists = |s: SessionId| self.sessions.contains_key(&s);
        // A session claiming its name (in a cluster) holds it meanwhile; one claiming a new
        // name holds both.
        let held = |id: &SessionId| {
            let s = self.sessions.get(id);
            let claimed = self.claiming.get(id).map(|c| c.name.as_str());
            [s.and_then(|s| s.name.as_deref()), claimed.filter(|_| s.is_some())]
        };
        for (id, claiming) in &self.claiming {
            match self.sessions.get(id) {
                None => return Err(format!("{id:?} claims a name, and is gone")),
                Some(s) if s.name.is_some() != claiming.was.is_some() => {
                    return Err(format!("{id:?} is named {:?} and claims {claiming:?}", s.name))
                }
                Some(s) if s.name.as_deref() != claiming.was.as_deref() => {
                    return Err(format!("{id:?} is named {:?} and renames itself from {:?}", s.name, claiming.was))
                }
                Some(_) => {}
            }
        }
        let named = self.sessions.values().filter(|s| s.name.is_some()).count() + self.claiming.len();
        if named != self.names.len() {
            return Err(format!("{named} named sessions, {} names held", self.names.len()));
        }
        for (folded, id) in &self.names {
            let names = held(id);
            if !names.iter().flatten().any(|name| *fold(name) == **folded) {
                return Err(format!("{folded:?} is held by {id:?}, named {names:?}"));
            }
        }
        for (look, id) in &self.looks {
            let names = held(id);
            if !names.iter().flatten().any(|name| skeleton_digest(name) == *look) {
                return Err(format!("a look is held by {id:?}, named {names:?}"));
            }
        }
        let tables = [("lobby", self.lobby.iter().collect::<Vec<_>>()), ("watchers", self.watchers.iter().collect())];
        for (table, ids) in tables {
            if let Some(id) = ids.into_iter().find(|id| self.sessions.get(id).is_none_or(|s| s.name.is_none())) {
                return Err(format!("{id:?} in the {table} is gone or unnamed"));
            }
        }
        if let Some(id) = self.live.keys().find(|&&id| !exists(id)) {
            return Err(format!("{id:?} is watched for liveness but gone"));
        }
        let deadlines: std::collections::HashSet<SessionId> = self.unnamed.iter().map(|&(_, id)| id).collect();
        if let Some(id) = self.sessions.keys().find(|&&id| !self.in_or_gone(id) && !deadlines.contains(&id)) {
            return Err(format!("{id:?} has not logged in and has no login deadline"));
        }
        if let Some((id, _)) = self.sessions.iter().find(|(id, s)| s.live != self.live.contains_key(id)) {
            return Err(format!("{id:?} says otherwise than the liveness table whether it is watched"));
        }
        if let Some((id, _)) = self.sessions.iter().find(|(_, s)| s.drain.is_some() && s.name.is_none()) {
            return Err(format!("{id:?} drains a queue with no name"));
        }
        let in_rooms = |id: SessionId| self.sessions.get(&id).is_some_and(|s| s.name.is_some() && s.caps().rooms);
        self.rooms.check(in_rooms)?;
        self.check_timers()?;
        self.elsewhere.check()?;
        self.check_away()?;
        self.check_whowas()?;
        self.links.check(exists)?;
        self.asks.check(exists)?;
        self.desk.check(exists)
    }

    /// Every deadline has its timer, set for no later than it: nothing due is slept through.
    fn check_timers(&self) -> Result<(), String> {
        let timers = &self.timers;
        let unset =
            |due: Due, at: Instant| (!timers.set_by(due, at)).then(|| format!("{due:?} at {at:?} has no timer"));
        let tables = [
            (Due::Links, self.links.deadlines().collect::<Vec<_>>()),
            (Due::Asks, self.asks.deadlines().collect()),
            (Due::Rings, self.desk.deadlines().collect()),
            (Due::Forwards, self.elsewhere.deadlines(self.config.answer_timeout).collect()),
        ];
        for (due, deadlines) in tables {
            if let Some(e) = deadlines.into_iter().find_map(|at| unset(due, at)) {
                return Err(e);
            }
        }
        for (&id, s) in &self.live {
            let l = &s.rule;
            let since = if l.quiet_first { s.last_ping.max(s.last_heard) } else { s.last_ping };
            if let Some(e) = unset(Due::Live(id), (s.last_heard + l.silence).min(since + l.ping_every)) {
                return Err(e);
            }
        }
        Ok(())
    }
}
