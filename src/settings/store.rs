//! The `[store]` section: which backend, where its data lives, and for Redis the deployment
//! (one server, a Cluster or Sentinel), timeouts and replica acknowledgements. Connecting is
//! left to `store::redis`, which turns these keys into a `Target`; this module only checks
//! their shape, and keeps credentials in the URLs out of `Debug` output.

use std::borrow::Cow;
use std::path::PathBuf;

use redis::{ConnectionInfo, IntoConnectionInfo};
use serde::Deserialize;

use super::{SettingsError, invalid};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Embedded,
    Redis,
}

/// The store settings. Their `Debug` output hides the passwords in the Redis URLs.
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    pub backend: Backend,
    /// Data directory of the embedded store.
    pub path: PathBuf,
    pub redis_url: String,
    /// Response and connect timeout of ordinary Redis commands.
    pub redis_timeout_ms: u64,
    /// Seed nodes of a Redis Cluster (`redis://host:port`); when set, `redis_url` gives
    /// nothing but is still parsed.
    pub redis_cluster: Vec<String>,
    /// Sentinels watching the primary `redis_master_name`; the primary is reached with the
    /// database and credentials of `redis_url`.
    pub redis_sentinels: Vec<String>,
    pub redis_master_name: String,
    /// Replicas that must acknowledge a write (`WAIT`) before it is confirmed; 0 = none.
    pub min_replicas_ack: u32,
    /// How long a write waits for those acknowledgements.
    pub replica_ack_timeout_ms: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            backend: Backend::Embedded,
            path: PathBuf::from("./data"),
            redis_url: "redis://127.0.0.1:6379/0".into(),
            redis_timeout_ms: 500,
            redis_cluster: Vec::new(),
            redis_sentinels: Vec::new(),
            redis_master_name: String::new(),
            min_replicas_ack: 0,
            replica_ack_timeout_ms: 1000,
        }
    }
}

impl std::fmt::Debug for StoreSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured, so that a new field cannot be added without deciding here whether it
        // holds a secret.
        let StoreSettings {
            backend,
            path,
            redis_url,
            redis_timeout_ms,
            redis_cluster,
            redis_sentinels,
            redis_master_name,
            min_replicas_ack,
            replica_ack_timeout_ms,
        } = self;
        fn redact_all(urls: &[String]) -> Vec<Cow<'_, str>> {
            urls.iter().map(|u| redact_url(u)).collect()
        }
        f.debug_struct("StoreSettings")
            .field("backend", backend)
            .field("path", path)
            .field("redis_url", &redact_url(redis_url))
            .field("redis_timeout_ms", redis_timeout_ms)
            .field("redis_cluster", &redact_all(redis_cluster))
            .field("redis_sentinels", &redact_all(redis_sentinels))
            .field("redis_master_name", redis_master_name)
            .field("min_replicas_ack", min_replicas_ack)
            .field("replica_ack_timeout_ms", replica_ack_timeout_ms)
            .finish()
    }
}

impl StoreSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        if self.backend == Backend::Redis && self.redis_url.is_empty() {
            return Err(invalid(
                "store.redis_url",
                "is required when store.backend is redis",
            ));
        }
        if self.redis_timeout_ms == 0 {
            return Err(invalid("store.redis_timeout_ms", "must be positive"));
        }
        if self.backend == Backend::Redis {
            self.validate_redis_deployment()?;
        }
        if self.min_replicas_ack > 0 && self.replica_ack_timeout_ms == 0 {
            return Err(invalid(
                "store.replica_ack_timeout_ms",
                "must be positive when store.min_replicas_ack is set",
            ));
        }
        Ok(())
    }

    /// Where the store is, for an operator to read: the data directory, or the Redis URLs
    /// with their passwords hidden, and which backend.
    pub fn location(&self) -> String {
        let urls = |urls: &[String]| {
            urls.iter()
                .map(|u| redact_url(u))
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self.backend {
            Backend::Embedded => format!("{} (embedded)", self.path.display()),
            Backend::Redis if !self.redis_cluster.is_empty() => {
                format!("{} (Redis Cluster)", urls(&self.redis_cluster))
            }
            Backend::Redis if !self.redis_sentinels.is_empty() => format!(
                "{} (Redis Sentinel, primary {})",
                urls(&self.redis_sentinels),
                self.redis_master_name.trim()
            ),
            Backend::Redis => format!("{} (Redis)", redact_url(&self.redis_url)),
        }
    }

    /// Checks the keys that name the Redis deployment (see [`StoreSettings::redis_target`]).
    pub fn validate_redis_deployment(&self) -> Result<(), SettingsError> {
        self.redis_target().map(|_| ())
    }

    /// The Redis deployment these keys name: every URL parses, at most one of
    /// `redis_cluster` and `redis_sentinels` is set, a Cluster uses database 0, and sentinels
    /// come with `redis_master_name`. The URLs are parsed by the Redis client's own parser,
    /// so that the settings accept exactly the URLs the store can connect to, and the error
    /// text quotes the client's reason. Every seed is parsed before any database is looked
    /// at, so that an unreadable URL is reported before a wrong database.
    pub fn redis_target(&self) -> Result<RedisTarget, SettingsError> {
        let parse = |key: &'static str, url: &str| {
            url.into_connection_info()
                .map_err(|e| invalid(key, format!("{url:?} is not a redis:// URL: {e}")))
        };
        let parse_all = |key: &'static str, urls: &[String]| {
            urls.iter()
                .map(|url| parse(key, url))
                .collect::<Result<Vec<_>, _>>()
        };
        let primary = parse("store.redis_url", &self.redis_url)?;
        if !self.redis_cluster.is_empty() && !self.redis_sentinels.is_empty() {
            return Err(invalid(
                "store.redis_cluster",
                "store.redis_cluster and store.redis_sentinels exclude each other",
            ));
        }
        if !self.redis_cluster.is_empty() {
            let nodes = parse_all("store.redis_cluster", &self.redis_cluster)?;
            if nodes.iter().any(|n| n.redis_settings().db() != 0) {
                return Err(invalid(
                    "store.redis_cluster",
                    "a Redis Cluster has only database 0",
                ));
            }
            return Ok(RedisTarget::Cluster(nodes));
        }
        if !self.redis_sentinels.is_empty() {
            if self.redis_master_name.trim().is_empty() {
                return Err(invalid(
                    "store.redis_master_name",
                    "is required with store.redis_sentinels",
                ));
            }
            return Ok(RedisTarget::Sentinel {
                sentinels: parse_all("store.redis_sentinels", &self.redis_sentinels)?,
                master: self.redis_master_name.trim().to_string(),
                primary,
            });
        }
        Ok(RedisTarget::Standalone(primary))
    }
}

/// Where the Redis store lives, as the settings name it, its URLs parsed.
#[derive(Clone, Debug)]
pub enum RedisTarget {
    /// One server (`store.redis_url`).
    Standalone(ConnectionInfo),
    /// Seed nodes of a Cluster (`store.redis_cluster`); the client learns the rest.
    Cluster(Vec<ConnectionInfo>),
    /// Sentinels and the name of the primary they watch. The primary is reached with the
    /// database and credentials of `store.redis_url` (its host and port are not used).
    Sentinel {
        sentinels: Vec<ConnectionInfo>,
        master: String,
        primary: ConnectionInfo,
    },
}

/// `url` with its password replaced by `***`, for `Debug` output: `redis://user:***@host/0`.
/// A URL without a password comes back as it is.
///
/// This is deliberately not a URL parser. It finds the credentials the way a reader would, from
/// the last `@` after the scheme, so that a URL too broken for the Redis client (a password
/// with an unescaped `/`, say) still has its password hidden; at worst it hides more than the
/// password. Without a `scheme://`, everything before the last `@` is hidden, since there is
/// no telling user from password. Unix-socket URLs carry the password in the query
/// (`redis+unix:///run/redis.sock?pass=…`), so a `pass` parameter is hidden too.
fn redact_url(url: &str) -> Cow<'_, str> {
    const HIDDEN: &str = "***";
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return match url.rfind('@') {
            Some(at) => Cow::Owned(format!("{HIDDEN}{}", &url[at..])),
            None => Cow::Borrowed(url),
        };
    };
    let (scheme, rest) = url.split_at(scheme_end);
    let mut changed = false;
    let mut out = String::with_capacity(url.len());
    out.push_str(scheme);
    let after_credentials = match rest.rfind('@') {
        Some(at) => {
            let credentials = &rest[..at];
            match credentials.split_once(':') {
                Some((user, _password)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(HIDDEN);
                    changed = true;
                }
                // A user name alone is not a secret.
                None => out.push_str(credentials),
            }
            &rest[at..]
        }
        None => rest,
    };
    match after_credentials.split_once('?') {
        Some((before_query, query)) => {
            out.push_str(before_query);
            out.push('?');
            for (i, pair) in query.split('&').enumerate() {
                if i > 0 {
                    out.push('&');
                }
                match pair.split_once('=') {
                    Some(("pass", _)) => {
                        out.push_str("pass=");
                        out.push_str(HIDDEN);
                        changed = true;
                    }
                    _ => out.push_str(pair),
                }
            }
        }
        None => out.push_str(after_credentials),
    }
    if changed {
        Cow::Owned(out)
    } else {
        Cow::Borrowed(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;

    #[test]
    fn passwords_in_redis_urls_are_hidden() {
        let cases = [
            // Password only.
            (
                "redis://:s3cret@db.example:6379/0",
                "redis://:***@db.example:6379/0",
            ),
            // User and password.
            (
                "redis://siteban:s3cret@db.example:6379/0",
                "redis://siteban:***@db.example:6379/0",
            ),
            ("rediss://u:s3cret@db.example", "rediss://u:***@db.example"),
            // A password holding `@` and `:` is hidden whole.
            (
                "redis://u:s3:c@ret@db.example:6379",
                "redis://u:***@db.example:6379",
            ),
            // No credentials, or a user name alone: as it is.
            ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
            (
                "redis://siteban@db.example:6379/0",
                "redis://siteban@db.example:6379/0",
            ),
            ("", ""),
            // The password of a Unix-socket URL is a query parameter.
            (
                "redis+unix:///run/redis.sock?db=1&pass=s3cret",
                "redis+unix:///run/redis.sock?db=1&pass=***",
            ),
            (
                "redis://127.0.0.1:6379/0?protocol=resp3",
                "redis://127.0.0.1:6379/0?protocol=resp3",
            ),
            // Malformed: an unescaped `/` in the password, no scheme, or no URL at all.
            (
                "redis://u:s3/cret@db.example:6379",
                "redis://u:***@db.example:6379",
            ),
            ("u:s3cret@db.example:6379", "***@db.example:6379"),
            ("redis//u:s3cret@db.example", "***@db.example"),
            ("not a url", "not a url"),
        ];
        for (url, shown) in cases {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn debug_output_hides_redis_passwords() {
        let store = StoreSettings {
            redis_url: "redis://siteban:url-secret@db.example:6379/0".into(),
            redis_cluster: vec!["redis://:cluster-secret@node1.example:7000".into()],
            redis_sentinels: vec!["redis://u:sentinel-secret@s1.example:26379".into()],
            ..StoreSettings::default()
        };
        let debug = format!("{store:?}");
        assert!(!debug.contains("secret"), "{debug}");
        assert!(
            debug.contains("\"redis://siteban:***@db.example:6379/0\""),
            "{debug}"
        );
        assert!(debug.contains("node1.example:7000"), "{debug}");
        assert!(debug.contains("s1.example:26379"), "{debug}");
    }

    #[test]
    fn the_location_names_the_store_without_passwords() {
        let mut store = StoreSettings::default();
        assert_eq!(store.location(), "./data (embedded)");
        store.backend = Backend::Redis;
        store.redis_url = "redis://siteban:url-secret@db.example:6379/0".into();
        assert_eq!(
            store.location(),
            "redis://siteban:***@db.example:6379/0 (Redis)"
        );
        store.redis_sentinels = vec![
            "redis://u:sentinel-secret@s1.example:26379".into(),
            "redis://s2.example:26379".into(),
        ];
        store.redis_master_name = "siteban".into();
        assert_eq!(
            store.location(),
            "redis://u:***@s1.example:26379, redis://s2.example:26379 \
             (Redis Sentinel, primary siteban)"
        );
        store.redis_sentinels.clear();
        store.redis_cluster = vec!["redis://:cluster-secret@node1.example:7000".into()];
        assert_eq!(
            store.location(),
            "redis://:***@node1.example:7000 (Redis Cluster)"
        );
    }

    #[test]
    fn debug_output_without_secrets_matches_the_derived_one() {
        // What `#[derive(Debug)]` printed before credentials were hidden: a URL without a
        // password must still read the same.
        let store = StoreSettings {
            redis_cluster: vec!["redis://127.0.0.1:7000".into()],
            ..StoreSettings::default()
        };
        assert_eq!(
            format!("{store:?}"),
            "StoreSettings { backend: Embedded, path: \"./data\", \
             redis_url: \"redis://127.0.0.1:6379/0\", redis_timeout_ms: 500, \
             redis_cluster: [\"redis://127.0.0.1:7000\"], redis_sentinels: [], \
             redis_master_name: \"\", min_replicas_ack: 0, replica_ack_timeout_ms: 1000 }"
        );
    }

    #[test]
    fn redis_deployments_are_checked_by_key() {
        let mut settings = Settings::default();
        settings.store.backend = Backend::Redis;
        settings.validate().unwrap();
        settings.store.redis_sentinels = vec!["redis://127.0.0.1:26379".into()];
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("store.redis_master_name"), "{error}");
        settings.store.redis_master_name = "siteban".into();
        settings.validate().unwrap();
        settings.store.redis_cluster = vec!["redis://127.0.0.1:7000".into()];
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("store.redis_cluster"), "{error}");
        settings.store.redis_sentinels.clear();
        settings.store.redis_cluster = vec!["tcp://nowhere".into()];
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("store.redis_cluster"), "{error}");
        settings.store.redis_cluster.clear();
        settings.store.min_replicas_ack = 1;
        settings.store.replica_ack_timeout_ms = 0;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("store.replica_ack_timeout_ms"), "{error}");
    }

    #[test]
    fn a_cluster_has_only_database_0() {
        let store = StoreSettings {
            backend: Backend::Redis,
            redis_cluster: vec!["redis://127.0.0.1:7000/1".into()],
            ..StoreSettings::default()
        };
        assert_eq!(
            store.validate().unwrap_err().to_string(),
            "invalid setting store.redis_cluster: a Redis Cluster has only database 0"
        );
    }

    #[test]
    fn the_embedded_backend_ignores_the_redis_deployment() {
        let store = StoreSettings {
            redis_cluster: vec!["tcp://nowhere".into()],
            redis_sentinels: vec!["redis://127.0.0.1:26379".into()],
            ..StoreSettings::default()
        };
        store.validate().unwrap();
    }
}
