//! The front doors, listed once. Each protocol's door file declares its [`Spec`]: its name,
//! what its sessions can carry (the hub decides by that alone), how it encodes the hub's
//! events and answers, what it says when the hub stops, and where it listens by the
//! configuration. Binding, the desk's `status`, the web's list of users, the router's
//! encoding and the test support read [`DOORS`]; a door is known by its index there
//! ([`hub::Door`]).

use crate::spec::Spec;
use hub::Door;

/// Every door. A door's place here is its [`hub::Door`].
pub(crate) static DOORS: [&Spec; 6] = [
    &crate::chatos::SPEC,
    &crate::chathack::SPEC,
    &crate::jpc::SPEC,
    &crate::web::SPEC,
    &crate::nl::SPEC,
    &crate::peerchat::SPEC,
];

/// The door of that index.
pub(crate) fn spec(door: Door) -> &'static Spec {
    DOORS[usize::from(door.0)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_door_is_at_its_own_index_under_its_own_name() {
        let mut names = std::collections::HashSet::new();
        for (i, spec) in DOORS.iter().enumerate() {
            assert_eq!(usize::from(spec.door.0), i, "{}", spec.name);
            assert!(names.insert(spec.name), "{} twice", spec.name);
        }
    }
}
