//! What rooms are made of, as the doors and the cluster see them: commands, modes, what
//! crosses between nodes, what a query shows, and the checks on names and masks.

use crate::valid_name;

/// The hub's lobby, as rooms are named: it is no room, and cannot be joined as one.
pub const LOBBY_ROOM: &str = "#lobby";
/// The longest room name, in bytes (with its `#`).
pub const MAX_ROOM: usize = 64;
/// The most rooms a session may be in at once.
pub const MAX_ROOMS_EACH: usize = 64;
/// The longest topic, in bytes: longer ones are cut.
pub const MAX_TOPIC: usize = 390;
/// The most masks each of a room's lists (bans, ban exceptions, invite exceptions) holds,
/// and the most invitations waiting.
pub const MAX_BANS: usize = 100;

/// A room's name: `#` and a name as sessions have them (no space, no `@`), without a comma
/// (IRC lists rooms with them), at most [`MAX_ROOM`] bytes.
pub fn valid_room(name: &str) -> bool {
    name.len() <= MAX_ROOM && name.strip_prefix('#').is_some_and(|rest| !rest.contains(',') && valid_name(rest))
}

/// Whether ban mask `mask` (`*` any run, `?` any one character, case-insensitive) matches a
/// session named `name` of door `door`, seen as `name!name@door`.
pub fn matches_mask(mask: &str, name: &str, door: &str) -> bool {
    let seen: Vec<char> = format!("{name}!{name}@{door}").to_lowercase().chars().collect();
    let mask: Vec<char> = mask.to_lowercase().chars().collect();
    // The classic two-pointer glob match, backtracking to the last `*`.
    let (mut m, mut s, mut star, mut mark) = (0, 0, None, 0);
    while s < seen.len() {
        if m < mask.len() && (mask[m] == '?' || mask[m] == seen[s]) {
            m += 1;
            s += 1;
        } else if m < mask.len() && mask[m] == '*' {
            star = Some(m);
            mark = s;
            m += 1;
        } else if let Some(at) = star {
            m = at + 1;
            mark += 1;
            s = mark;
        } else {
            return false;
        }
    }
    mask[m..].iter().all(|&c| c == '*')
}

/// A member's standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Member {
    /// An operator: sets the topic under `+t`, modes, kicks, invites under `+i`.
    pub op: bool,
    /// May speak under `+m`.
    pub voice: bool,
}

/// A room's modes (as IRC names them: `+i +m +n +s +t +k +l`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomModes {
    /// Only the invited join (`+i`).
    pub invite_only: bool,
    /// Only operators and voiced members speak (`+m`).
    pub moderated: bool,
    /// Only members speak (`+n`).
    pub no_outside: bool,
    /// Shown only to its members (`+s`).
    pub secret: bool,
    /// Only operators set the topic (`+t`).
    pub topic_lock: bool,
    /// Joining takes this key (`+k`).
    pub key: Option<String>,
    /// At most this many members (`+l`).
    pub limit: Option<u32>,
}

impl Default for RoomModes {
    /// `+nt`, as IRC servers make a new channel.
    fn default() -> Self {
        RoomModes {
            invite_only: false,
            moderated: false,
            no_outside: true,
            secret: false,
            topic_lock: true,
            key: None,
            limit: None,
        }
    }
}

/// One mode a command sets or unsets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// A member's operator standing (`+o`).
    Op(String),
    /// A member's voice (`+v`).
    Voice(String),
    /// A ban mask (`+b`; see [`matches_mask`]).
    Ban(String),
    /// A ban exception (`+e`): who matches it is not banned.
    Except(String),
    /// An invite exception (`+I`): who matches it may join past `+i`.
    InviteExcept(String),
    InviteOnly,
    /// The key (ignored when unset).
    Key(String),
    /// The limit (ignored when unset).
    Limit(u32),
    Moderated,
    NoOutside,
    Secret,
    TopicLock,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    /// Set (`+`) or unset (`-`).
    pub on: bool,
    pub mode: Mode,
}

/// A room's topic and who set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic {
    pub text: String,
    pub by: String,
    /// When it was set, in seconds since the Unix epoch, as the door that set it said (the
    /// hub reads no clock).
    pub at: i64,
}

/// What a session asks of a room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomCommand {
    /// Join it (making it, if it does not exist: the maker is its operator).
    Join {
        room: String,
        key: Option<String>,
    },
    Part {
        room: String,
        reason: String,
    },
    /// A message (`notice`: IRC's `NOTICE`, which nobody answers).
    Say {
        room: String,
        text: String,
        notice: bool,
    },
    /// Set the topic (empty: none), at `at` (seconds since the Unix epoch).
    Topic {
        room: String,
        text: String,
        at: i64,
    },
    Mode {
        room: String,
        changes: Vec<ModeChange>,
    },
    Kick {
        room: String,
        name: String,
        reason: String,
    },
    Invite {
        room: String,
        name: String,
    },
}

impl RoomCommand {
    pub fn room(&self) -> &str {
        match self {
            RoomCommand::Join { room, .. }
            | RoomCommand::Part { room, .. }
            | RoomCommand::Say { room, .. }
            | RoomCommand::Topic { room, .. }
            | RoomCommand::Mode { room, .. }
            | RoomCommand::Kick { room, .. }
            | RoomCommand::Invite { room, .. } => room,
        }
    }
}

/// Why a room command was refused (IRC's numeric for each in brackets).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomError {
    /// Not a room's name, or the lobby's (479).
    BadName,
    NoSuchRoom,
    /// The session is not in the room (442).
    NotInRoom,
    /// `+n` and not a member, `+m` and no voice, or banned (404).
    CannotSend,
    /// Only its operators may (482).
    NotOp,
    /// `+l` reached (471).
    Full,
    /// `+i` and not invited (473).
    InviteOnly,
    /// A ban matches (474).
    Banned,
    /// `+k` and not its key (475).
    BadKey,
    /// The one named is not in the room (441).
    TheyAreNotIn,
    /// The one invited is in it already (443).
    AlreadyIn,
    /// In [`MAX_ROOMS_EACH`] rooms already (405).
    TooManyRooms,
    /// Nobody who can join rooms holds that name (401).
    NoSuchName,
    /// The ban list is full (478).
    ListFull,
}

/// A change to a room, decided on one node and carried out on every node (see the module).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomNews {
    Joined {
        room: String,
        name: String,
        member: Member,
    },
    /// `name` left, or was kicked out `by` an operator.
    Parted {
        room: String,
        name: String,
        reason: String,
        by: Option<String>,
    },
    /// `name` left the hub (its members are told by presence).
    Quit {
        room: String,
        name: String,
    },
    Said {
        room: String,
        from: String,
        text: String,
        notice: bool,
    },
    Topic {
        room: String,
        topic: Topic,
    },
    Modes {
        room: String,
        by: String,
        changes: Vec<ModeChange>,
    },
    Invited {
        room: String,
        name: String,
        by: String,
    },
    /// `from` is typing in the room, or stopped (not kept: only its members here hear it).
    Typing {
        room: String,
        from: String,
        active: bool,
    },
    /// The sending node's members of the room, and the room as it sees it (for a node that
    /// came up: it takes the topic and modes of a room it did not know).
    Sync {
        room: String,
        topic: Option<Topic>,
        modes: RoomModes,
        masks: Masks,
        members: Vec<(String, Member)>,
    },
}

/// A room's lists of masks (see [`matches_mask`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Masks {
    /// Who may not join or speak (`+b`)...
    pub bans: Vec<String>,
    /// ...unless they match one of these (`+e`).
    pub excepts: Vec<String>,
    /// Who may join past `+i` (`+I`).
    pub invexes: Vec<String>,
}

impl Masks {
    /// The list a mode of masks sets, and the mask; `None` for other modes.
    pub fn list_of<'m>(&mut self, mode: &'m Mode) -> Option<(&mut Vec<String>, &'m str)> {
        match mode {
            Mode::Ban(mask) => Some((&mut self.bans, mask)),
            Mode::Except(mask) => Some((&mut self.excepts, mask)),
            Mode::InviteExcept(mask) => Some((&mut self.invexes, mask)),
            _ => None,
        }
    }

    /// Whether a session named `name` of door `door` is banned: a ban matches, no exception.
    pub fn banned(&self, name: &str, door: &str) -> bool {
        let any = |list: &[String]| list.iter().any(|mask| matches_mask(mask, name, door));
        any(&self.bans) && !any(&self.excepts)
    }

    /// Whether it may join past `+i`.
    pub fn invited(&self, name: &str, door: &str) -> bool {
        self.invexes.iter().any(|mask| matches_mask(mask, name, door))
    }
}

/// A room as a query shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomView {
    pub name: String,
    pub topic: Option<Topic>,
    pub modes: RoomModes,
    pub masks: Masks,
    /// How many members it has, on every node.
    pub count: usize,
    /// Its members (here first, in the order they came), if they were asked for.
    pub members: Vec<(String, Member)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names() {
        for good in ["#rust", "#a", "#Ünïcode", "#with#hash", &format!("#{}", "x".repeat(63))] {
            assert!(valid_room(good), "{good}");
        }
        for bad in ["", "#", "rust", "#a,b", "#a b", "#a@b", "#a\u{7}", &format!("#{}", "x".repeat(64))] {
            assert!(!valid_room(bad), "{bad:?}");
        }
    }

    #[test]
    fn ban_masks() {
        assert!(matches_mask("ann!*@*", "Ann", "irc"));
        assert!(matches_mask("*!*@chatos", "bob", "chatos"));
        assert!(!matches_mask("*!*@chatos", "bob", "irc"));
        assert!(matches_mask("a?n*", "ann", "web"));
        assert!(matches_mask("*", "x", "y"));
        assert!(!matches_mask("ann", "ann", "irc"), "a bare mask names the whole of name!name@door");
        assert!(!matches_mask("b*!*@*", "ann", "irc"));
        assert!(matches_mask("*n*n*!*", "annan", "irc"));
    }
}
