//! Who was here: the last names that left, here or on another node, newest first, with the
//! door each was on and when it left (IRC's `WHOWAS`). A few, bounded: the oldest goes when a
//! name leaves while [`WAS_KEPT`] are kept.

use crate::{fold, Door, Hub};
use std::collections::VecDeque;
use std::time::Instant;

/// How many departures are kept (ergo keeps 100 too).
pub const WAS_KEPT: usize = 100;

/// A name that left.
#[derive(Debug)]
pub(crate) struct Gone {
    name: Box<str>,
    door: Door,
    left: Instant,
}

/// One departure, as a query shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Was {
    pub name: String,
    /// The door it was on (its name).
    pub via: &'static str,
    pub left: Instant,
}

/// The departures kept, newest first.
pub(crate) type Departures = VecDeque<Gone>;

impl Hub {
    /// `name`, on `door`, left (here or on another node).
    pub(crate) fn gone(&mut self, name: &str, door: Door) {
        if self.was.len() == WAS_KEPT {
            self.was.pop_back();
        }
        self.was.push_front(Gone { name: name.into(), door, left: self.now });
    }

    /// The last `count` departures of `name` (in any case, of its folding), newest first.
    pub fn whowas(&self, name: &str, count: usize) -> Vec<Was> {
        let folded = fold(name);
        self.was
            .iter()
            .filter(|g| fold(&g.name) == folded)
            .take(count)
            .map(|g| Was { name: g.name.to_string(), via: self.door_name(g.door), left: g.left })
            .collect()
    }

    /// `Err` with what does not hold: few are kept, newest first.
    pub(crate) fn check_whowas(&self) -> Result<(), String> {
        if self.was.len() > WAS_KEPT {
            return Err(format!("{} departures kept", self.was.len()));
        }
        if self.was.iter().zip(self.was.iter().skip(1)).any(|(newer, older)| newer.left < older.left) {
            return Err("departures out of order".into());
        }
        Ok(())
    }
}
