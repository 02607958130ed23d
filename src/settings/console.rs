//! The `[console]` section: how long a signed-in console session lasts without use, and what
//! the public notice page tells a visitor about objecting to a listing. Sessions themselves are
//! the registry's (`registry::sessions`), the pages the console's.

use serde::Deserialize;

use super::{SettingsError, invalid, positive};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleSettings {
    /// A session unused for this long has ended; the next request signs in again.
    pub idle_minutes: u64,
    /// Where a visitor of a blocked site raises an objection, shown on `/notice` and
    /// `/lookup` after the decision's authority (an address, a telephone number or a web
    /// page). Empty: the pages say only to contact the authority that decided.
    pub objection_contact: String,
}

impl Default for ConsoleSettings {
    fn default() -> ConsoleSettings {
        ConsoleSettings {
            idle_minutes: 30,
            objection_contact: String::new(),
        }
    }
}

impl ConsoleSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        positive([("console.idle_minutes", self.idle_minutes)])?;
        // A day: longer would keep a forgotten signed-in browser open overnight and beyond.
        if self.idle_minutes > 24 * 60 {
            return Err(invalid(
                "console.idle_minutes",
                "must be at most 1440 (a day)",
            ));
        }
        if self.objection_contact.chars().count() > 500 {
            return Err(invalid(
                "console.objection_contact",
                "must be at most 500 characters",
            ));
        }
        Ok(())
    }
}
