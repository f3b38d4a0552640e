//! The front doors, listed once. Each protocol's door file declares its [`Spec`] (its name,
//! what its sessions can carry, how it encodes the hub's events and answers, what it says when
//! the hub stops, how it serves a listener) and its settings (`[doors.NAME]` in the TOML file,
//! with its flags: where it listens, its bounds). The one line of a door in [`doors!`] puts
//! both in their tables: [`DOORS`] (binding, the desk's `status`, the web's list of users, the
//! router's encoding, the figures and the test support read it; a door is known by its index
//! there, [`hub::Door`]) and [`Doors`], the doors' part of the configuration.

pub(crate) mod chathack;
pub(crate) mod chatos;
pub(crate) mod irc;
pub(crate) mod jpc;
pub(crate) mod nl;
pub(crate) mod peerchat;
pub(crate) mod spec;
pub(crate) mod web;

use crate::doors::spec::Spec;
use crate::settings::Described;
use hub::Door;

/// The table of doors: `name: Settings, Flags => SPEC`, in the order of their index.
macro_rules! doors {
    ($( $name:ident : $config:ty, $flags:ty => $spec:expr ),* $(,)?) => {
        /// Every door. A door's place here is its [`hub::Door`].
        pub(crate) static DOORS: [&Spec; [$(stringify!($name)),*].len()] = [$( &$spec ),*];

        /// The doors' settings: `[doors.NAME]` in the TOML file.
        #[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct Doors {
            $( pub $name: $config, )*
        }

        /// The doors' flags.
        #[derive(Debug, Clone, Default, clap::Args)]
        pub struct DoorsFlags {
            $( #[command(flatten)] pub $name: $flags, )*
        }

        impl DoorsFlags {
            /// Sets in `doors` what was given.
            pub fn apply(self, doors: &mut Doors) {
                $( self.$name.apply(&mut doors.$name); )*
            }
        }

        impl Doors {
            /// Every door's settings, as the docs list them (`doors.NAME.…`).
            pub fn described(table: &str) -> Vec<Described> {
                let mut all = Vec::new();
                $( all.extend(<$config>::described(&format!("{table}.{}", stringify!($name)))); )*
                all
            }

            /// Each door's name and its settings' flat TOML names of before, with theirs now.
            pub fn legacy() -> Vec<(&'static str, &'static [(&'static str, &'static str)])> {
                vec![$( (stringify!($name), <$config>::legacy()), )*]
            }

            /// Where door `door` listens.
            pub(crate) fn listen(&self, door: Door) -> &dyn spec::Listen {
                let all: [&dyn spec::Listen; DOORS.len()] = [$( &self.$name ),*];
                all[usize::from(door.0)]
            }

            pub(crate) fn listen_mut(&mut self, door: Door) -> &mut dyn spec::Listen {
                let all: [&mut dyn spec::Listen; DOORS.len()] = [$( &mut self.$name ),*];
                all.into_iter().nth(usize::from(door.0)).expect("a door of the table")
            }

            /// The doors' names, in the table's order.
            #[cfg(test)]
            pub(crate) const NAMES: [&'static str; DOORS.len()] = [$(stringify!($name)),*];
        }
    };
}

doors! {
    chatos: chatos::ChatosConfig, chatos::ChatosFlags => chatos::SPEC,
    chathack: chathack::ChathackConfig, chathack::ChathackFlags => chathack::SPEC,
    jpc: jpc::JpcConfig, jpc::JpcFlags => jpc::SPEC,
    web: web::WebConfig, web::WebFlags => web::SPEC,
    nl: nl::NlConfig, nl::NlFlags => nl::SPEC,
    peerchat: peerchat::PeerchatConfig, peerchat::PeerchatFlags => peerchat::SPEC,
    irc: irc::IrcConfig, irc::IrcFlags => irc::SPEC,
}

/// The door of that index.
pub(crate) fn spec(door: Door) -> &'static Spec {
    DOORS[usize::from(door.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hub's tests connect sessions as each door would: with its caps and liveness. (A
    /// door they do not use need not be among theirs.)
    #[test]
    fn the_hub_s_tests_know_each_door_as_the_table_declares_it() {
        let config = crate::Config::default();
        for protocol in hub::testing::Protocol::ALL {
            let spec = spec(protocol.door());
            assert_eq!(spec.name, protocol.name(), "the hub's tests' door {:?}", protocol.door());
            assert_eq!(spec.caps, protocol.caps(), "{}", spec.name);
            assert_eq!((spec.liveness)(&config), protocol.liveness(), "{}", spec.name);
        }
    }

    #[test]
    fn each_door_is_at_its_own_index_under_its_own_name() {
        let mut names = std::collections::HashSet::new();
        for (i, spec) in DOORS.iter().enumerate() {
            assert_eq!(usize::from(spec.door.0), i, "{}", spec.name);
            assert_eq!(Doors::NAMES[i], spec.name, "its settings are its own");
            assert!(names.insert(spec.name), "{} twice", spec.name);
        }
    }
}
