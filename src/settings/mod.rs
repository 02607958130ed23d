//! Settings: defaults in code, then `config/default.toml`, then `--config FILE`, then
//! `SITEBAN__SECTION__KEY` environment variables (a list as one comma-separated value);
//! validated once at start with errors that name the key. `config/default.toml` documents
//! every key. Secrets never appear in `Debug` output.
//!
//! This module owns the whole (`Settings`), its loading and the order of validation; each
//! section's keys, defaults and checks live in the submodule named after it. Settings depend
//! on no other module of the service, so that every module can read them.

mod auth;
mod cases;
mod console;
mod dns;
mod documents;
mod entries;
mod index;
mod limits;
mod log;
mod mirror;
mod notices;
mod records;
mod server;
mod store;
mod tlog;

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

pub use auth::AuthSettings;
pub use cases::CaseSettings;
pub use console::ConsoleSettings;
pub use dns::{DnsSettings, TsigKeySettings, parse_network};
pub use documents::DocumentSettings;
pub use entries::{EntrySettings, ProtectionSettings};
pub use index::{FeedSettings, IndexSettings};
pub use limits::{LimitSettings, RateSettings};
pub use log::{LogFormat, LogSettings};
pub use mirror::{MIRROR_ROLES, MirrorKeySettings, MirrorSettings};
pub use notices::{LocateSettings, NoticeSettings};
pub use records::RecordSettings;
pub use server::{ServerSettings, TlsSettings};
pub use store::{Backend, RedisTarget, StoreSettings};
pub use tlog::{TlogSettings, WitnessSettings};

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
    pub documents: DocumentSettings,
    pub console: ConsoleSettings,
    pub mirror: MirrorSettings,
    pub tlog: TlogSettings,
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

/// A setting that holds a list, and the field it fills.
type ListField = fn(&mut Settings) -> &mut Vec<String>;

/// Every setting that holds a list. The environment gives each as one comma-separated value
/// (`SITEBAN__DNS__NOTIFY=192.0.2.1:53,192.0.2.2:53`); a list missing here could not be set
/// from the environment at all, which a test walking `config/default.toml` catches.
const LISTS: [(&str, ListField); 6] = [
    ("dns.notify", |s| &mut s.dns.notify),
    ("dns.transfer_allow", |s| &mut s.dns.transfer_allow),
    ("locate.nameservers", |s| &mut s.locate.nameservers),
    ("protection.names", |s| &mut s.protection.names),
    ("store.redis_cluster", |s| &mut s.store.redis_cluster),
    ("store.redis_sentinels", |s| &mut s.store.redis_sentinels),
];

/// The prefix of every variable that sets a key (`SITEBAN__SECTION__KEY`), matched without
/// regard to case as `config` matches it.
const PREFIX: &str = "SITEBAN__";

impl Settings {
    /// Loads the layered settings; `file` is the optional `--config FILE`.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let settings = Settings::layered(file, None)?;
        settings.validate()?;
        Ok(settings)
    }

    /// The layers, unvalidated. `environment` stands in for the process's variables, so that
    /// tests need not change the environment every test thread shares.
    fn layered(
        file: Option<&Path>,
        environment: Option<config::Map<String, String>>,
    ) -> Result<Settings, SettingsError> {
        let mut environment = match environment {
            Some(environment) => environment,
            None => process_environment()?,
        };
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
        // Lists are split here rather than by `config`, which would read a one-item value
        // that looks like a number (`53`) as a number, keep the blanks around the commas and
        // make an empty value a list of one empty item. An override is the top layer, where
        // the environment belongs.
        for (key, items) in take_lists(&mut environment) {
            builder = builder.set_override(key, items)?;
        }
        Ok(builder
            .add_source(
                config::Environment::with_prefix("SITEBAN")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .source(Some(environment)),
            )
            .build()?
            .try_deserialize()?)
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
        self.documents.validate()?;
        self.console.validate()?;
        self.mirror.validate()?;
        self.tlog.validate()?;
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

/// The variables of this process that may set a key: named with the prefix, in Unicode.
fn process_environment() -> Result<config::Map<String, String>, SettingsError> {
    let mut environment = config::Map::new();
    for (name, value) in std::env::vars_os() {
        // `config` skips a name that is not Unicode, as it cannot name a key.
        let Some(name) = name.into_string().ok().filter(|name| is_setting(name)) else {
            continue;
        };
        let value = value
            .into_string()
            .map_err(|_| config::ConfigError::Message(format!("{name} is not valid Unicode")))?;
        environment.insert(name, value);
    }
    Ok(environment)
}

fn is_setting(variable: &str) -> bool {
    variable
        .get(..PREFIX.len())
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case(PREFIX))
}

/// The variable that sets `key` (`dns.notify` → `SITEBAN__DNS__NOTIFY`).
fn variable_of(key: &str) -> String {
    format!("{PREFIX}{}", key.to_ascii_uppercase().replace('.', "__"))
}

/// Removes the list settings from `environment` and splits each at its commas: items are
/// trimmed, empty ones dropped, so an empty value is an empty list.
fn take_lists(environment: &mut config::Map<String, String>) -> Vec<(&'static str, Vec<String>)> {
    let mut lists = Vec::new();
    environment.retain(|variable, value| {
        let Some((key, _)) = LISTS
            .iter()
            .find(|(key, _)| variable.eq_ignore_ascii_case(&variable_of(key)))
        else {
            return true;
        };
        let items = value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        lists.push((*key, items));
        false
    });
    lists
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

    /// The keys of `config/default.toml` whose value is an array.
    fn lists_of_the_default_file() -> Vec<String> {
        fn walk(prefix: &str, table: config::Map<String, config::Value>, out: &mut Vec<String>) {
            for (key, value) in table {
                let key = format!("{prefix}{key}");
                match value.kind {
                    config::ValueKind::Array(_) => out.push(key),
                    config::ValueKind::Table(table) => walk(&format!("{key}."), table, out),
                    _ => {}
                }
            }
        }
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");
        let table = config::Config::builder()
            .add_source(config::File::new(file, config::FileFormat::Toml))
            .build()
            .unwrap()
            .try_deserialize()
            .unwrap();
        let mut lists = Vec::new();
        walk("", table, &mut lists);
        lists.sort();
        lists
    }

    #[test]
    fn every_list_setting_takes_a_comma_separated_environment_value() {
        let lists = lists_of_the_default_file();
        assert!(lists.len() >= 6, "{lists:?}");
        let values: [(&str, &[&str]); 5] = [
            ("one.example,two.example", &["one.example", "two.example"]),
            (
                " one.example , two.example ,",
                &["one.example", "two.example"],
            ),
            ("one.example", &["one.example"]),
            // Read as text, never as a number.
            ("53", &["53"]),
            // An empty value empties the list the file gives.
            ("", &[]),
        ];
        let mut failures = Vec::new();
        for key in &lists {
            let Some((_, field)) = LISTS.iter().find(|(list, _)| list == key) else {
                failures.push(format!(
                    "{key} is a list in config/default.toml, not in LISTS"
                ));
                continue;
            };
            let variable = format!("SITEBAN__{}", key.to_uppercase().replace('.', "__"));
            for (value, expected) in values {
                let environment = config::Map::from([(variable.clone(), value.to_string())]);
                match Settings::layered(None, Some(environment)) {
                    Ok(mut settings) => {
                        let loaded = field(&mut settings);
                        if loaded != expected {
                            failures.push(format!("{variable}={value:?} gave {loaded:?}"));
                        }
                    }
                    Err(e) => failures.push(format!("{variable}={value:?}: {e}")),
                }
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn lists_and_other_keys_come_from_the_environment_together() {
        let environment = config::Map::from([
            (
                "siteban__dns__notify".to_string(),
                "192.0.2.1:53".to_string(),
            ),
            ("SITEBAN__DNS__WORKERS".to_string(), "3".to_string()),
            (
                "SITEBAN__ENTRIES__REQUIRE_APPROVAL".to_string(),
                "true".to_string(),
            ),
            (
                "SITEBAN__ENTRIES__REQUIRE_LIFT_APPROVAL".to_string(),
                "true".to_string(),
            ),
            ("OTHER__DNS__LISTEN".to_string(), "127.0.0.1:53".to_string()),
            (
                "SITEBAN__DOCUMENTS__EARLIEST_DATE".to_string(),
                "2010-06-30".to_string(),
            ),
        ]);
        let settings = Settings::layered(None, Some(environment)).unwrap();
        assert_eq!(settings.dns.notify, ["192.0.2.1:53"]);
        assert_eq!(settings.dns.workers, 3);
        assert!(settings.entries.require_approval);
        assert!(settings.entries.require_lift_approval);
        assert_eq!(settings.dns.listen, "");
        assert_eq!(
            settings.documents.earliest_date,
            time::macros::date!(2010 - 06 - 30)
        );
        settings.validate().unwrap();
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
