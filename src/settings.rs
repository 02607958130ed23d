//! Settings: defaults in code, then `config/default.toml`, then `--config FILE`, then
//! `SITEBAN__SECTION__KEY` environment variables; validated once at start with errors that name
//! the key. `config/default.toml` documents every key. Secrets never appear in `Debug` output.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

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

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct EntrySettings {
    /// Four-eyes: a new entry stays `pending` until a different key of the same side approves.
    pub require_approval: bool,
}

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
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct ProtectionSettings {
    /// Names that must never be cut off (with everything below them), beside those that
    /// admins add through `/v1/protected`.
    pub names: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitSettings {
    /// Largest body of a write (entries, keys, protected names); batch checks use
    /// `server.body_limit_bytes`.
    pub write_body_bytes: usize,
    /// Time a client gets to send a request's head; a slower client is cut off.
    pub header_timeout_ms: u64,
    /// Time a client gets to send a request's body.
    pub body_timeout_ms: u64,
    /// Most long-polls (`/v1/feed?wait=`) held at once on this node.
    pub max_long_polls: usize,
    pub rate: RateSettings,
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            write_body_bytes: 64 * 1024,
            header_timeout_ms: 5000,
            body_timeout_ms: 10_000,
            max_long_polls: 1000,
            rate: RateSettings::default(),
        }
    }
}

/// Requests per second allowed per token, by role; 0 means no limit. A batch check counts
/// one per name. `anonymous` applies per client address to requests without a valid token.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RateSettings {
    pub admin: u32,
    pub agency: u32,
    pub telecom: u32,
    pub access_provider: u32,
    pub dns_provider: u32,
    pub auditor: u32,
    pub anonymous: u32,
    /// Seconds of quota that may be spent at once (the bucket size).
    pub burst_seconds: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerSettings {
    /// Address and port of the HTTP listener.
    pub listen: String,
    /// HTTP worker threads; 0 means one per core.
    pub workers: usize,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// Grace period for in-flight requests at shutdown.
    pub shutdown_grace_seconds: u64,
    pub tls: TlsSettings,
}

/// HTTPS instead of HTTP on `server.listen`, when both paths are set.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM certificate chain, leaf first.
    pub cert_path: Option<PathBuf>,
    /// PEM private key (PKCS #8, PKCS #1 or SEC1).
    pub key_path: Option<PathBuf>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            listen: "127.0.0.1:8080".into(),
            workers: 0,
            body_limit_bytes: 4 * 1024 * 1024,
            shutdown_grace_seconds: 10,
            tls: TlsSettings::default(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    #[default]
    Embedded,
    Redis,
}

#[derive(Debug, Clone, Deserialize)]
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

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeedSettings {
    /// How many feed events the store retains; older `after` values get `410`.
    pub retention: u64,
}

impl Default for FeedSettings {
    fn default() -> Self {
        FeedSettings {
            retention: 1_000_000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndexSettings {
    /// Changes held in the index overlay before they are merged into a new base.
    pub overlay_max: usize,
    /// How long a write waits for the local index to show it before answering.
    pub read_your_writes_ms: u64,
    /// How long the follower blocks on the store per read.
    pub follow_block_ms: u64,
}

impl Default for IndexSettings {
    fn default() -> Self {
        IndexSettings {
            overlay_max: 4096,
            read_your_writes_ms: 2000,
            follow_block_ms: 5000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Pretty,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    /// Default filter; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSettings {
    /// Origin of the RPZ zone served at `/v1/rpz` and by the DNS listener.
    pub rpz_zone: String,
    /// Name server named in the zone's NS and SOA records.
    pub rpz_ns: String,
    /// Mailbox of the zone's SOA record, in DNS form.
    pub rpz_hostmaster: String,
    /// TTL of the zone's records.
    pub rpz_ttl: u32,
    /// When set, listed names are rewritten to this host (`CNAME notice.example.`) instead of
    /// answering NXDOMAIN (`CNAME .`).
    pub rpz_notice_host: String,
    /// Address and port of the DNS listener, UDP and TCP on the same port; empty turns it off.
    pub listen: String,
    /// Resolvers (`host:port`) sent a NOTIFY after each change of the zone.
    pub notify: Vec<String>,
    /// Addresses or CIDR blocks allowed to transfer the RPZ zone (AXFR, IXFR).
    pub transfer_allow: Vec<String>,
    /// TSIG keys; when any is configured, transfers need a valid signature by one of them.
    pub tsig_keys: Vec<TsigKeySettings>,
    /// Origin of the DNSBL zone answered by the listener; empty turns it off.
    pub dnsbl_zone: String,
    /// Tasks answering UDP queries; 0 means one per core.
    pub workers: usize,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            rpz_zone: "rpz.siteban.".into(),
            rpz_ns: "localhost.".into(),
            rpz_hostmaster: "hostmaster.localhost.".into(),
            rpz_ttl: 60,
            rpz_notice_host: String::new(),
            listen: String::new(),
            notify: Vec::new(),
            transfer_allow: vec!["127.0.0.1".into(), "::1".into()],
            tsig_keys: Vec::new(),
            dnsbl_zone: "dnsbl.siteban.".into(),
            workers: 0,
        }
    }
}

/// Locating sites (`notices::locate`): which resolvers to ask and how long to wait.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LocateSettings {
    /// Upstream name servers as `address:port`; empty means the system's (`/etc/resolv.conf`).
    pub nameservers: Vec<String>,
    /// Timeout of one DNS query.
    pub timeout_ms: u64,
    /// Tries per query and name server.
    pub attempts: usize,
    /// Whether listing an entry locates it.
    pub on_listing: bool,
    /// The most a listing waits for locating, all lookups together.
    pub listing_budget_ms: u64,
}

impl Default for LocateSettings {
    fn default() -> Self {
        LocateSettings {
            nameservers: Vec::new(),
            timeout_ms: 2000,
            attempts: 2,
            on_listing: true,
            listing_budget_ms: 3000,
        }
    }
}

/// Notices to providers and their delivery (`notices`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NoticeSettings {
    /// Time a provider has to acknowledge each kind of notice before it is overdue.
    pub deadline_stop_access_seconds: u64,
    pub deadline_stop_resolution_seconds: u64,
    pub deadline_restore_seconds: u64,
    /// How long after its creation a notice is still pushed by webhook.
    pub retry_horizon_seconds: u64,
    /// First retry delay; each further retry doubles it, up to `backoff_max_ms`, with jitter.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Timeout of one webhook request.
    pub webhook_timeout_ms: u64,
    /// How long a node holds an attempt before another node may take it over.
    pub lease_ms: u64,
    /// How often the delivery worker looks for due attempts when nothing wakes it.
    pub poll_interval_ms: u64,
    /// Attempts claimed at once, and sent at once.
    pub batch: usize,
    pub concurrency: usize,
    /// How often overdue notices are looked for.
    pub sweep_interval_ms: u64,
    /// Whether this node runs the delivery worker and the overdue sweeper.
    pub deliver: bool,
}

impl Default for NoticeSettings {
    fn default() -> Self {
        NoticeSettings {
            deadline_stop_access_seconds: 1800,
            deadline_stop_resolution_seconds: 1800,
            deadline_restore_seconds: 1800,
            retry_horizon_seconds: 86_400,
            backoff_base_ms: 1000,
            backoff_max_ms: 600_000,
            webhook_timeout_ms: 5000,
            lease_ms: 30_000,
            poll_interval_ms: 250,
            batch: 64,
            concurrency: 32,
            sweep_interval_ms: 1000,
            deliver: true,
        }
    }
}

impl Settings {
    /// Validation of the `locate` and `notices` sections.
    fn validate_notices(&self) -> Result<(), SettingsError> {
        let invalid = |key, message: &str| SettingsError::Invalid {
            key,
            message: message.to_string(),
        };
        for server in &self.locate.nameservers {
            if server.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    "locate.nameservers",
                    &format!("{server:?} is not an address and port such as 127.0.0.1:53"),
                ));
            }
        }
        let l = &self.locate;
        let n = &self.notices;
        for (key, value) in [
            ("locate.timeout_ms", l.timeout_ms),
            ("locate.attempts", l.attempts as u64),
            ("locate.listing_budget_ms", l.listing_budget_ms),
            (
                "notices.deadline_stop_access_seconds",
                n.deadline_stop_access_seconds,
            ),
            (
                "notices.deadline_stop_resolution_seconds",
                n.deadline_stop_resolution_seconds,
            ),
            (
                "notices.deadline_restore_seconds",
                n.deadline_restore_seconds,
            ),
            ("notices.retry_horizon_seconds", n.retry_horizon_seconds),
            ("notices.backoff_base_ms", n.backoff_base_ms),
            ("notices.webhook_timeout_ms", n.webhook_timeout_ms),
            ("notices.poll_interval_ms", n.poll_interval_ms),
            ("notices.batch", n.batch as u64),
            ("notices.concurrency", n.concurrency as u64),
            ("notices.sweep_interval_ms", n.sweep_interval_ms),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        if n.backoff_max_ms < n.backoff_base_ms {
            return Err(invalid(
                "notices.backoff_max_ms",
                "must be at least notices.backoff_base_ms",
            ));
        }
        // A lease shorter than a request could end while the request is still running, and
        // another node would then send the same notice again at once.
        if n.lease_ms <= n.webhook_timeout_ms {
            return Err(invalid(
                "notices.lease_ms",
                "must be longer than notices.webhook_timeout_ms",
            ));
        }
        Ok(())
    }
}

/// One TSIG key (RFC 8945). The secret never appears in `Debug` output.
#[derive(Clone, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct TsigKeySettings {
    /// Key name, as both sides spell it (`transfer-key.` or `transfer-key`).
    pub name: String,
    /// Only `hmac-sha256` is accepted.
    pub algorithm: String,
    /// The shared secret, base64 as `tsig-keygen` prints it.
    pub secret: String,
}

impl std::fmt::Debug for TsigKeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TsigKeySettings")
            .field("name", &self.name)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid setting {key}: {message}")]
    Invalid { key: &'static str, message: String },
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

    pub fn validate(&self) -> Result<(), SettingsError> {
        let invalid = |key, message: &str| SettingsError::Invalid {
            key,
            message: message.to_string(),
        };
        self.listen_addr()?;
        if self.server.tls.cert_path.is_some() != self.server.tls.key_path.is_some() {
            return Err(invalid(
                "server.tls.cert_path",
                "server.tls.cert_path and server.tls.key_path go together",
            ));
        }
        if self.server.body_limit_bytes < 1024 {
            return Err(invalid("server.body_limit_bytes", "must be at least 1024"));
        }
        if self.store.backend == Backend::Redis && self.store.redis_url.is_empty() {
            return Err(invalid(
                "store.redis_url",
                "is required when store.backend is redis",
            ));
        }
        if self.store.redis_timeout_ms == 0 {
            return Err(invalid("store.redis_timeout_ms", "must be positive"));
        }
        if self.store.backend == Backend::Redis {
            crate::store::redis::Target::from_settings(&self.store)
                .map_err(|(key, message)| SettingsError::Invalid { key, message })?;
        }
        if self.store.min_replicas_ack > 0 && self.store.replica_ack_timeout_ms == 0 {
            return Err(invalid(
                "store.replica_ack_timeout_ms",
                "must be positive when store.min_replicas_ack is set",
            ));
        }
        if self.feed.retention == 0 {
            return Err(invalid("feed.retention", "must be positive"));
        }
        if !(self.cases.suspension_days > 0.0 && self.cases.suspension_days <= 3650.0) {
            return Err(invalid(
                "cases.suspension_days",
                "must be more than 0 and at most 3650",
            ));
        }
        if self.cases.expiry_sweep_ms == 0 {
            return Err(invalid("cases.expiry_sweep_ms", "must be positive"));
        }
        for (i, name) in self.protection.names.iter().enumerate() {
            if crate::domain::DomainName::parse(name).is_err() {
                return Err(SettingsError::Invalid {
                    key: "protection.names",
                    message: format!("entry {} ({name:?}) is not a valid domain name", i + 1),
                });
            }
        }
        if self.limits.write_body_bytes < 1024 {
            return Err(invalid("limits.write_body_bytes", "must be at least 1024"));
        }
        if self.limits.header_timeout_ms == 0 || self.limits.body_timeout_ms == 0 {
            return Err(invalid(
                "limits.header_timeout_ms",
                "timeouts must be positive",
            ));
        }
        if self.index.overlay_max == 0 {
            return Err(invalid("index.overlay_max", "must be positive"));
        }
        if self
            .auth
            .admin_token
            .as_deref()
            .is_some_and(|t| !t.is_empty() && t.len() < 16)
        {
            return Err(invalid(
                "auth.admin_token",
                "must be at least 16 characters",
            ));
        }
        for (key, name) in [
            ("dns.rpz_zone", &self.dns.rpz_zone),
            ("dns.rpz_ns", &self.dns.rpz_ns),
            ("dns.rpz_hostmaster", &self.dns.rpz_hostmaster),
        ] {
            if !is_absolute_name(name) {
                return Err(invalid(key, "must be an absolute DNS name ending in a dot"));
            }
        }
        for (key, value) in [
            (
                "records.import_max_records",
                self.records.import_max_records as u64,
            ),
            (
                "records.import_max_bytes",
                self.records.import_max_bytes as u64,
            ),
            ("records.import_timeout_ms", self.records.import_timeout_ms),
            (
                "records.import_max_errors",
                self.records.import_max_errors as u64,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be positive"));
            }
        }
        self.validate_notices()?;
        self.validate_dns()?;
        Ok(())
    }

    fn validate_dns(&self) -> Result<(), SettingsError> {
        let invalid = |key, message: String| SettingsError::Invalid { key, message };
        let dns = &self.dns;
        for (key, name) in [
            ("dns.rpz_notice_host", &dns.rpz_notice_host),
            ("dns.dnsbl_zone", &dns.dnsbl_zone),
        ] {
            if !name.is_empty() && !is_absolute_name(name) {
                return Err(invalid(
                    key,
                    "must be empty or an absolute DNS name ending in a dot".into(),
                ));
            }
        }
        if !dns.dnsbl_zone.is_empty() {
            let (rpz, dnsbl) = (
                dns.rpz_zone.to_ascii_lowercase(),
                dns.dnsbl_zone.to_ascii_lowercase(),
            );
            if rpz.ends_with(&format!(".{dnsbl}"))
                || dnsbl.ends_with(&format!(".{rpz}"))
                || rpz == dnsbl
            {
                return Err(invalid(
                    "dns.dnsbl_zone",
                    "must not be dns.rpz_zone, nor above or below it".into(),
                ));
            }
        }
        self.dns_listen_addr()?;
        for target in &dns.notify {
            if target.parse::<SocketAddr>().is_err() {
                return Err(invalid(
                    "dns.notify",
                    format!("{target:?} is not an address and port such as 127.0.0.1:53"),
                ));
            }
        }
        for allowed in &dns.transfer_allow {
            if parse_network(allowed).is_none() {
                return Err(invalid(
                    "dns.transfer_allow",
                    format!("{allowed:?} is not an address or CIDR block such as 192.0.2.0/24"),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for key in &dns.tsig_keys {
            let name = key.name.trim_end_matches('.').to_ascii_lowercase();
            if name.is_empty() || !is_absolute_name(&format!("{name}.")) {
                return Err(invalid(
                    "dns.tsig_keys",
                    format!("key name {:?} is not a DNS name", key.name),
                ));
            }
            if !names.insert(name) {
                return Err(invalid(
                    "dns.tsig_keys",
                    format!("key name {:?} is given twice", key.name),
                ));
            }
            if !key.algorithm.eq_ignore_ascii_case("hmac-sha256") {
                return Err(invalid(
                    "dns.tsig_keys",
                    format!(
                        "key {:?}: algorithm {:?} is not supported; use hmac-sha256",
                        key.name, key.algorithm
                    ),
                ));
            }
            use base64::Engine;
            match base64::engine::general_purpose::STANDARD.decode(key.secret.trim()) {
                Ok(secret) if secret.len() >= 16 => {}
                Ok(_) => {
                    return Err(invalid(
                        "dns.tsig_keys",
                        format!("key {:?}: the secret must be at least 16 bytes", key.name),
                    ));
                }
                Err(_) => {
                    return Err(invalid(
                        "dns.tsig_keys",
                        format!("key {:?}: the secret is not base64", key.name),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The DNS listener's address, or `None` when it is off.
    pub fn dns_listen_addr(&self) -> Result<Option<SocketAddr>, SettingsError> {
        if self.dns.listen.is_empty() {
            return Ok(None);
        }
        self.dns
            .listen
            .parse()
            .map(Some)
            .map_err(|e| SettingsError::Invalid {
                key: "dns.listen",
                message: format!("{e}: expected an address and port such as 127.0.0.1:5353"),
            })
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, SettingsError> {
        self.server
            .listen
            .parse()
            .map_err(|e| SettingsError::Invalid {
                key: "server.listen",
                message: format!("{e}: expected an address and port such as 127.0.0.1:8080"),
            })
    }
}

fn is_absolute_name(name: &str) -> bool {
    name.ends_with('.')
        && name.len() >= 2
        && name.len() <= 254
        && name[..name.len() - 1]
            .split('.')
            .all(|label| !label.is_empty() && label.len() <= 63)
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

/// An address or CIDR block of `dns.transfer_allow`; a bare address is a block of one.
pub fn parse_network(text: &str) -> Option<ipnet::IpNet> {
    let text = text.trim();
    text.parse::<ipnet::IpNet>().ok().or_else(|| {
        text.parse::<std::net::IpAddr>()
            .ok()
            .map(ipnet::IpNet::from)
    })
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
    fn notice_settings_are_checked_by_name() {
        let mut settings = Settings::default();
        settings.locate.nameservers = vec!["ns1.example.cn".into()];
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("locate.nameservers"), "{error}");
        let mut settings = Settings::default();
        settings.notices.lease_ms = settings.notices.webhook_timeout_ms;
        let error = settings.validate().unwrap_err().to_string();
        assert!(error.contains("notices.lease_ms"), "{error}");
    }

    #[test]
    fn dns_settings_are_checked_and_errors_name_the_key() {
        type Tweak = Box<dyn Fn(&mut DnsSettings)>;
        let cases: Vec<(&str, Tweak)> = vec![
            ("dns.listen", Box::new(|d| d.listen = "port 53".into())),
            (
                "dns.notify",
                Box::new(|d| d.notify = vec!["resolver".into()]),
            ),
            (
                "dns.transfer_allow",
                Box::new(|d| d.transfer_allow = vec!["10.0.0.0/33".into()]),
            ),
            (
                "dns.dnsbl_zone",
                Box::new(|d| d.dnsbl_zone = "dnsbl".into()),
            ),
            (
                "dns.dnsbl_zone",
                Box::new(|d| d.dnsbl_zone = "x.rpz.siteban.".into()),
            ),
            (
                "dns.rpz_notice_host",
                Box::new(|d| d.rpz_notice_host = "notice example".into()),
            ),
            (
                "dns.tsig_keys",
                Box::new(|d| {
                    d.tsig_keys = vec![TsigKeySettings {
                        name: "k.".into(),
                        algorithm: "hmac-md5".into(),
                        secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into(),
                    }]
                }),
            ),
            (
                "dns.tsig_keys",
                Box::new(|d| {
                    d.tsig_keys = vec![TsigKeySettings {
                        name: "k.".into(),
                        algorithm: "hmac-sha256".into(),
                        secret: "not base64!".into(),
                    }]
                }),
            ),
        ];
        for (key, tweak) in cases {
            let mut settings = Settings::default();
            tweak(&mut settings.dns);
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains(key), "{key}: {error}");
        }
        let mut settings = Settings::default();
        settings.dns.listen = "127.0.0.1:5353".into();
        settings.dns.notify = vec!["127.0.0.1:53".into()];
        settings.dns.transfer_allow = vec!["192.0.2.0/24".into(), "2001:db8::1".into()];
        settings.dns.rpz_notice_host = "notice.example.".into();
        settings.dns.tsig_keys = vec![TsigKeySettings {
            name: "transfer-key".into(),
            algorithm: "hmac-sha256".into(),
            secret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ=".into(),
        }];
        settings.validate().unwrap();
        assert!(!format!("{settings:?}").contains("c2VjcmV0"));
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
    fn debug_output_hides_the_admin_token() {
        let mut settings = Settings::default();
        settings.auth.admin_token = Some("very-secret-admin-token".into());
        assert!(!format!("{settings:?}").contains("very-secret"));
    }
}
