//! The `[entries]` and `[protection]` sections: whether a listing, and a lift, need a second
//! key's approval, and the names that must never be cut off. Applying them is left to the API and
//! the registry.

use serde::Deserialize;

use super::SettingsError;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EntrySettings {
    /// Four-eyes: a new entry stays `pending` until a different key of the same side approves.
    pub require_approval: bool,
    /// Four-eyes on lifts: a lift asked for through the API waits, recorded on the active
    /// entry, until a different key of the requester's side approves it. Independent of
    /// `require_approval`; lifts the system makes (a suspension's expiry, a case's closure)
    /// never wait.
    pub require_lift_approval: bool,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ProtectionSettings {
    /// Names that must never be cut off (with everything below them), beside those that
    /// admins add through `/v1/protected`.
    pub names: Vec<String>,
}

impl ProtectionSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        for (i, name) in self.names.iter().enumerate() {
            if crate::domain::DomainName::parse(name).is_err() {
                return Err(SettingsError::Invalid {
                    key: "protection.names",
                    message: format!("entry {} ({name:?}) is not a valid domain name", i + 1),
                });
            }
        }
        Ok(())
    }
}
