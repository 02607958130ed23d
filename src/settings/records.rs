//! The `[records]` section: the bounds of one import of registrations or recordals. Parsing
//! the import is left to `records`.

use serde::Deserialize;

use super::{SettingsError, positive};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RecordSettings {
    /// Most records (non-blank lines) in one import of registrations or recordals.
    pub import_max_records: usize,
    /// Largest import body in bytes; it is parsed as it streams in, never held whole.
    pub import_max_bytes: usize,
    /// Time a client gets to send a whole import body.
    pub import_timeout_ms: u64,
    /// Most per-line errors listed in a refused import (all are counted).
    pub import_max_errors: usize,
}

impl Default for RecordSettings {
    fn default() -> Self {
        RecordSettings {
            import_max_records: 200_000,
            import_max_bytes: 256 * 1024 * 1024,
            import_timeout_ms: 300_000,
            import_max_errors: 1000,
        }
    }
}

impl RecordSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        positive([
            ("records.import_max_records", self.import_max_records as u64),
            ("records.import_max_bytes", self.import_max_bytes as u64),
            ("records.import_timeout_ms", self.import_timeout_ms),
            ("records.import_max_errors", self.import_max_errors as u64),
        ])?;
        Ok(())
    }
}
