//! Settings: defaults in code, then `config/default.toml`, then `--config FILE`, then
//! `SITEBAN__SECTION__KEY` environment variables; validated once at start with errors that name
//! the key. `config/default.toml` documents every key. Secrets never appear in `Debug` output.
//!
//! This module owns the whole (`Settings`), its loading and the order of validation; each
//! section's keys, defaults and checks live in the submodule named after it. Settings depend
//! on no other module of the service, so that every module can read them.

mod auth;
mod cases;
mod dns;
mod entries;
mod index;
mod limits;
mod log;
mod notices;
mod records;
mod server;
mod store;

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

pub use auth::AuthSettings;
pub use cases::CaseSettings;
pub use dns::{DnsSettings, TsigKeySettings, parse_network};
pub use entries::{EntrySettings, ProtectionSettings};
pub use index::{FeedSettings, IndexSettings};
pub use limits::{LimitSettings, RateSettings};
pub use log::{LogFormat, LogSettings};
pub use notices::{LocateSettings, NoticeSettings};
pub use records::RecordSettings;
pub use server::{ServerSettings, TlsSettings};
pub use store::{Backend, RedisTarget, StoreSettings};

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub server: ServerSettings,
    pub store: StoreSettings,
    pub auth: AuthSettings,
    pub feed: FeedSettings,
    pub index: IndexSettings,
    pub log: LogSettings,
    pub dns: DnsSettings,
    pub locate: LocateSettings,
    pub notices: NoticeSettings,
    pub entries: EntrySettings,
    pub cases: CaseSettings,
    pub protection: ProtectionSettings,
    pub limits: LimitSettings,
    pub records: RecordSettings,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
}

/// The error for a key whose value is wrong; `message` says why, in lower case.
fn invalid(key: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        message: message.into(),
    }
}

/// Refuses the first of `values` (key and value) that is 0.
fn positive<const N: usize>(values: [(&'static str, u64); N]) -> Result<(), SettingsError> {
    match values.into_iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(invalid(key, "must be positive")),
        None => Ok(()),
    }
}

impl Settings {
    /// Loads the layered settings; `file` is the optional `--config FILE`.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let mut builder = config::Config::builder().add_source(
            config::File::with_name("config/default")
                .format(config::FileFormat::Toml)
                .required(false),
        );
        if let Some(file) = file {
            builder = builder.add_source(
                config::File::from(file)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let settings: Settings = builder
            .add_source(
                config::Environment::with_prefix("SITEBAN")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    // Lists come from the environment comma-separated:
                    // SITEBAN__DNS__NOTIFY=192.0.2.1:53,192.0.2.2:53
                    .list_separator(",")
                    .with_list_parse_key("dns.notify")
                    .with_list_parse_key("dns.transfer_allow")
                    .with_list_parse_key("store.redis_cluster")
                    .with_list_parse_key("store.redis_sentinels"),
            )
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    /// Checks every section and reports the first wrong key.
    ///
    /// The order below is the order in which errors have always been reported, which is why
    /// the RPZ zone's names are checked apart from the rest of `[dns]`: with several wrong
    /// keys, the same one is named as before.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.server.validate()?;
        self.store.validate()?;
        self.feed.validate()?;
        self.cases.validate()?;
        self.protection.validate()?;
        self.limits.validate()?;
        self.index.validate()?;
        self.auth.validate()?;
        self.dns.validate_zone_names()?;
        self.records.validate()?;
        self.locate.validate()?;
        self.notices.validate()?;
        self.dns.validate()?;
        Ok(())
    }

    /// The DNS listener's address, or `None` when it is off.
    pub fn dns_listen_addr(&self) -> Result<Option<SocketAddr>, SettingsError> {
        self.dns.listen_addr()
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, SettingsError> {
        self.server.listen_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Settings::default().validate().unwrap();
    }

    #[test]
    fn errors_name_the_key() {
        let mut settings = Settings::default();
        settings.server.listen = "nowhere".into();
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("server.listen"), "{error}");
        let mut settings = Settings::default();
        settings.dns.rpz_zone = "rpz.siteban".into();
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("dns.rpz_zone")
        );
    }

    #[test]
    fn the_first_wrong_key_is_reported_in_a_fixed_order() {
        // Pairs of wrong keys, the one reported first on the left.
        type Tweak = fn(&mut Settings);
        let cases: [(&str, Tweak, &str, Tweak); 5] = [
            (
                "server.body_limit_bytes",
                |s| s.server.body_limit_bytes = 0,
                "store.redis_timeout_ms",
                |s| s.store.redis_timeout_ms = 0,
            ),
            (
                "feed.retention",
                |s| s.feed.retention = 0,
                "cases.expiry_sweep_ms",
                |s| s.cases.expiry_sweep_ms = 0,
            ),
            (
                "index.overlay_max",
                |s| s.index.overlay_max = 0,
                "auth.admin_token",
                |s| s.auth.admin_token = Some("short".into()),
            ),
            (
                "dns.rpz_ns",
                |s| s.dns.rpz_ns = "ns".into(),
                "records.import_max_records",
                |s| s.records.import_max_records = 0,
            ),
            (
                "notices.batch",
                |s| s.notices.batch = 0,
                "dns.listen",
                |s| s.dns.listen = "port 53".into(),
            ),
        ];
        for (first, tweak_first, second, tweak_second) in cases {
            let mut settings = Settings::default();
            tweak_second(&mut settings);
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(second), "{second}: {error}");
            tweak_first(&mut settings);
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(first), "{first} before {second}: {error}");
        }
    }
}
