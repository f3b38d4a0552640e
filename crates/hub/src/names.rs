//! Names: what a valid one is, the folded form under which two names are one, and the
//! skeleton under which two names look alike.
//!
//! Names are compared as PRECIS folds them (RFC 8265, UsernameCaseMapped, as ergo does): width
//! mapping (`ａｌｉｃｅ` is `alice`), case mapping, NFC; characters outside the identifier class
//! (spaces, controls, default-ignorable, invisible and bidi-control characters, symbols) make
//! a name invalid. Two different names may still look alike (Cyrillic `а` for Latin `a`):
//! their skeletons (Unicode TS #39, with combining marks dropped, so `ALİCE` looks like
//! `alice`) are equal, and the hub refuses a name that looks like one reserved or connected.

use crate::cluster::Claiming;
use crate::{Done, Event, Hub, HubError, Output, SessionId, SUPPORT};
use precis_core::profile::Profile;
use precis_profiles::UsernameCaseMapped;
use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// The longest name, in bytes.
pub const MAX_NAME: usize = 64;

fn profile() -> &'static UsernameCaseMapped {
    static PROFILE: OnceLock<UsernameCaseMapped> = OnceLock::new();
    PROFILE.get_or_init(UsernameCaseMapped::default)
}

/// Printable ASCII but for the space: PRECIS folds it by lowering its case, nothing more.
fn plain_ascii(name: &str) -> bool {
    name.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// The name as PRECIS folds it, or `None` if it is no valid identifier.
fn precis(name: &str) -> Option<String> {
    if name.is_empty() {
        return None;
    }
    if plain_ascii(name) {
        return Some(name.to_ascii_lowercase());
    }
    profile().enforce(name).ok().map(|folded| folded.into_owned())
}

/// The form under which names are compared: `Alice`, `ALICE` and `ａｌｉｃｅ` are one name.
/// A string that is no valid name (a recipient someone typed) is only lower-cased, so it
/// matches no valid name it does not equal.
pub fn fold(name: &str) -> String {
    precis(name).unwrap_or_else(|| name.to_lowercase())
}

/// Whether `a` and `b` are one name.
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || (plain_ascii(a) && plain_ascii(b) && a.eq_ignore_ascii_case(b)) || fold(a) == fold(b)
}

/// A name is 1 to [`MAX_NAME`] bytes that PRECIS accepts as a username (letters, digits and
/// printable ASCII; no spaces, controls, invisible or bidi-control characters), without `@`
/// (kept for the peers of a bridged mesh, `NAME@MESH`, such as `ann@peerchat`).
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len()) && !name.contains('@') && precis(name).is_some()
}

/// What a name looks like: the TS #39 skeleton of its folded form, folded again, with
/// combining marks dropped. Two names that look alike have one skeleton.
pub fn skeleton(name: &str) -> String {
    let folded = fold(name);
    let skeleton: String = unicode_security::confusable_detection::skeleton(&folded).collect();
    skeleton.to_lowercase().nfd().filter(|&c| !is_combining_mark(c)).collect()
}

/// A 64-bit digest of a name's skeleton, for the hub's tables of look-alikes (8 bytes a name,
/// not a string). SipHash with fixed keys: finding a name whose digest equals a given one's
/// is 2^64 work.
pub(crate) fn skeleton_digest(name: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    skeleton(name).hash(&mut h);
    h.finish()
}

impl Hub {
    /// The reserved names (accounts, white-listed devices) are now `names`.
    pub(crate) fn reserve(&mut self, names: &[String]) {
        self.reserved = names.iter().map(|n| fold(n)).collect();
        self.reserved_looks = names.iter().map(|n| skeleton_digest(n)).collect();
    }

    /// Takes `name` for `session`. Refused: an invalid name; `support`, or a name that looks
    /// like it; a name held, or that looks like one held, here or on another node; a reserved
    /// name, or one that looks like a reserved name, unless the front door verified the login
    /// (a password, a MAC). In a cluster the name is then held here while it is claimed, and
    /// the login is answered once the claim is.
    pub(crate) fn login(&mut self, session: SessionId, name: String, verified: bool) -> Result<Done, HubError> {
        let (door, caps) = (self.sessions[&session].door, self.sessions[&session].caps());
        let valid = match caps.mesh {
            // Mesh peers are bridged as `NAME@MESH`, the only names with an `@`.
            true => {
                name.split_once('@').is_some_and(|(n, mesh)| valid_name(n) && valid_name(mesh))
                    && name.len() <= MAX_NAME
            }
            false => valid_name(&name),
        };
        if !valid {
            return Err(HubError::InvalidName);
        }
        let folded = fold(&name);
        let look = skeleton_digest(&folded);
        if look == skeleton_digest(SUPPORT) {
            return Err(HubError::NameTaken);
        }
        if let Some(&holder) = self.names.get(folded.as_str()) {
            // A device reconnecting at once replaces its own stale session.
            let stale = verified
                && self.live.contains_key(&session)
                && self.sessions[&holder].door == door
                && self.sessions[&holder].name.is_some();
            if !stale {
                return Err(HubError::NameTaken);
            }
            self.close(holder, Event::Closing);
        }
        let reserved = self.reserved.contains(&folded);
        if !verified && reserved {
            return Err(HubError::NameTaken);
        }
        if self.looks.contains_key(&look) || (self.reserved_looks.contains(&look) && !(verified && reserved)) {
            return Err(HubError::NameTaken); // a look-alike of someone else
        }
        if self.elsewhere.holds(&folded, look) {
            return Err(HubError::NameTaken); // on another node
        }
        self.names.insert(folded.into(), session);
        self.looks.insert(look, session);
        if self.config.cluster {
            self.claiming.insert(session, Claiming { name: name.clone(), verified, waiting: Vec::new(), was: None });
            self.out.push_back(Output::Claim { session, name, was: None });
            return Ok(Done::Later);
        }
        self.logged_in(session, name, verified);
        Ok(Done::Now)
    }

    /// `session` has `name`: it joins the lobby and the watchers as its protocol can, everyone
    /// watching is told, and what waited for a reserved name follows.
    pub(crate) fn logged_in(&mut self, session: SessionId, name: String, verified: bool) {
        let s = self.sessions.get_mut(&session).expect("caller checked");
        let (door, caps) = (s.door, s.caps());
        s.name = Some(name.as_str().into());
        s.verified = verified;
        if caps.lobby {
            self.lobby.insert(session);
        }
        self.presence(name, Some(door), caps.lobby, true);
        if caps.presence {
            self.watchers.insert(session);
        }
        if caps.lobby_roster {
            let names = self.in_lobby();
            self.deliver(session, Event::InLobby { names });
        }
        // A reserved name may have messages waiting: after the login's answer, they follow.
        if verified && (caps.direct || caps.images) {
            self.start_drain(session);
        }
        self.drop_met_deadlines();
    }

    /// `session`, named (or claiming) `name`, leaves: the name and its look are free again,
    /// here and, in a cluster, everywhere.
    pub(crate) fn release(&mut self, session: SessionId, name: &str) {
        self.unhold(session, name);
        if self.config.cluster {
            self.out.push_back(Output::Release { session, name: name.to_owned() });
        }
    }

    /// The name and its look are free again here.
    pub(crate) fn unhold(&mut self, session: SessionId, name: &str) {
        let folded = fold(name);
        let look = skeleton_digest(&folded);
        if self.names.get(folded.as_str()) == Some(&session) {
            self.names.remove(folded.as_str());
        }
        if self.looks.get(&look) == Some(&session) {
            self.looks.remove(&look);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_is_precis() {
        for (name, folded) in
            [("Alice", "alice"), ("ａｌｉｃｅ", "alice"), ("ÉLODIE", "élodie"), ("x-Y_z.1", "x-y_z.1")]
        {
            assert_eq!(fold(name), folded, "{name:?}");
            assert!(valid_name(name), "{name:?}");
        }
        assert!(same_name("BOB", "bob") && same_name("ｂｏｂ", "Bob") && !same_name("bob", "bobby"));
    }

    #[test]
    fn invisible_bidi_and_control_characters_make_a_name_invalid() {
        for bad in [
            "",
            "a b",
            "tab\there",
            "x@y",
            "bell\u{7}",
            "alice\u{200B}",
            "al\u{AD}ice",
            "\u{202E}ecila",
            "a\u{2066}b",
            "★",
            "\u{FFFD}",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(!valid_name(&"n".repeat(MAX_NAME + 1)));
        assert!(valid_name(&"n".repeat(MAX_NAME)));
    }

    #[test]
    fn look_alikes_share_a_skeleton() {
        let alice = skeleton("alice");
        for look_alike in ["\u{430}lice", "ali\u{441}e", "ALİCE", "ａｌｉｃｅ", "Alice", "аlicе"] {
            assert_eq!(skeleton(look_alike), alice, "{look_alike:?}");
            assert_eq!(skeleton_digest(look_alike), skeleton_digest("alice"));
        }
        assert_eq!(skeleton("h4x0r"), skeleton("H4XOR"));
        assert_ne!(skeleton("alice"), skeleton("alicia"));
        assert_ne!(skeleton_digest("alice"), skeleton_digest("bob"));
    }
}
