//! The `[cases]` section: how long an emergency suspension lasts and how its expiry is swept.
//! The cases themselves are `cases`'s.

use serde::Deserialize;

use super::{SettingsError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CaseSettings {
    /// Days an emergency suspension lasts unless its case closes first; fractions allowed.
    pub suspension_days: f64,
    /// How often a node looks for suspensions whose time ran out, in milliseconds.
    pub expiry_sweep_ms: u64,
    /// Whether this node runs the expiry sweeper. Every node can: an expiry is a
    /// compare-and-set on the case in the store, so only one node's succeeds.
    pub expire: bool,
}

impl Default for CaseSettings {
    fn default() -> CaseSettings {
        CaseSettings {
            suspension_days: 30.0,
            expiry_sweep_ms: 60_000,
            expire: true,
        }
    }
}

impl CaseSettings {
    pub fn suspension(&self) -> time::Duration {
        time::Duration::seconds_f64(self.suspension_days * 86_400.0)
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if !(self.suspension_days > 0.0 && self.suspension_days <= 3650.0) {
            return Err(invalid(
                "cases.suspension_days",
                "must be more than 0 and at most 3650",
            ));
        }
        if self.expiry_sweep_ms == 0 {
            return Err(invalid("cases.expiry_sweep_ms", "must be positive"));
        }
        Ok(())
    }
}
