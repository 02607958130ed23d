//! The `[tlog]` section: the transparency log's origin (the name its checkpoints and key
//! carry) and where its signer key comes from. The log itself is `tlog`'s and
//! `registry::log`'s.

use std::path::PathBuf;

use serde::Deserialize;

use super::{SettingsError, invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlogSettings {
    /// The log's origin: the first line of every checkpoint and the name of its key. It
    /// should name this registry uniquely, such as `blacklist.example.gov.cn/log`.
    pub origin: String,
    /// A file holding the signer key (`PRIVATE+KEY+<origin>+<id>+<key>`, from `siteban
    /// log-key`). Unset: the key is made at first start and kept in the store.
    pub key_file: Option<PathBuf>,
}

impl Default for TlogSettings {
    fn default() -> Self {
        TlogSettings {
            origin: "siteban.invalid/log".into(),
            key_file: None,
        }
    }
}

impl TlogSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        let valid = !self.origin.is_empty()
            && !self
                .origin
                .chars()
                .any(|c| c.is_whitespace() || c == '+' || c.is_control());
        if !valid {
            return Err(invalid(
                "tlog.origin",
                "must be a non-empty name without spaces or '+'",
            ));
        }
        Ok(())
    }
}
