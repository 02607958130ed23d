//! The `[auth]` section: the bootstrap admin token and the longest key lifetime. Tokens
//! themselves are handled by `auth`; this module keeps the admin token out of `Debug` output.

use serde::Deserialize;

use super::{SettingsError, invalid};

#[derive(Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct AuthSettings {
    /// The bootstrap admin token. When empty, one is generated on first start and written to
    /// `admin_token` in the data directory.
    pub admin_token: Option<String>,
    /// Longest lifetime of a key, in days, applied when `POST /v1/keys` gives none; 0 means
    /// keys do not expire unless asked to.
    pub key_max_days: u32,
}

impl std::fmt::Debug for AuthSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSettings")
            .field(
                "admin_token",
                &self.admin_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AuthSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if self
            .admin_token
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t.len() < 16)
        {
            return Err(invalid(
                "auth.admin_token",
                "must be at least 16 characters",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::settings::Settings;

    #[test]
    fn debug_output_hides_the_admin_token() {
        let mut settings = Settings::default();
        settings.auth.admin_token = Some("very-secret-admin-token".into());
        assert!(!format!("{settings:?}").contains("very-secret"));
    }
}
