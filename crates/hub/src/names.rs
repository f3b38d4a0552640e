//! Names: what a valid one is, and the folded form under which two names are the same.

/// The longest name, in bytes.
pub const MAX_NAME: usize = 64;

/// What the names of PeerChat mesh peers end with in the hub (`ann@peerchat`).
pub const MESH_SUFFIX: &str = "@peerchat";

/// The form under which names are compared: `Alice` and `alice` are one name.
pub fn fold(name: &str) -> String {
    name.to_lowercase()
}

/// A name is 1 to [`MAX_NAME`] bytes with no whitespace, no control character, and no `@`
/// (kept for names bridged from elsewhere, such as `ann@peerchat`).
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len()) && !name.chars().any(|c| c.is_whitespace() || c.is_control() || c == '@')
}
