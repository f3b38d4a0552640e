//! The doors as the hub's tests know them: each protocol's name, capabilities and liveness, as
//! the server's table of doors declares them (the server's tests check that the two agree:
//! feature `testing`). The hub itself knows no protocol.

use crate::{Caps, Door, Liveness};
use std::time::Duration;

/// The protocols of the hub's tests, each as the server's table of doors declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    ChatOs,
    ChatHack,
    Jpc,
    Web,
    Nl,
    PeerChat,
    Irc,
}

impl Protocol {
    pub const ALL: [Protocol; 7] = [
        Protocol::ChatOs,
        Protocol::ChatHack,
        Protocol::Jpc,
        Protocol::Web,
        Protocol::Nl,
        Protocol::PeerChat,
        Protocol::Irc,
    ];

    pub fn door(self) -> Door {
        Door(self as u8)
    }

    pub fn name(self) -> &'static str {
        ["chatos", "chathack", "jpc", "web", "nl", "peerchat", "irc"][self as usize]
    }

    pub fn caps(self) -> Caps {
        match self {
            Protocol::ChatOs => Caps { lobby: true, direct: true, relay_links: true, ..Caps::NONE },
            Protocol::ChatHack => Caps { lobby: true, lobby_echo: true, direct_links: true, ..Caps::NONE },
            Protocol::Jpc => Caps { direct: true, images: true, ..Caps::NONE },
            Protocol::Web => Caps {
                lobby: true,
                lobby_echo: true,
                direct: true,
                images: true,
                direct_echo: true,
                typing: true,
                presence: true,
                rooms: true,
                ..Caps::NONE
            },
            Protocol::Nl => Caps { operator: true, ..Caps::NONE },
            Protocol::PeerChat => Caps { lobby: true, mesh: true, ..Caps::NONE },
            Protocol::Irc => Caps {
                lobby: true,
                direct: true,
                typing: true,
                presence: true,
                lobby_roster: true,
                rooms: true,
                ..Caps::NONE
            },
        }
    }

    pub fn liveness(self) -> Option<Liveness> {
        let (ping, silence, quiet_first) = match self {
            Protocol::Jpc => (2, 5, false),
            Protocol::Nl => (7, 10, true),
            Protocol::Irc => (90, 150, true),
            _ => return None,
        };
        Some(Liveness { ping_every: Duration::from_secs(ping), silence: Duration::from_secs(silence), quiet_first })
    }
}
