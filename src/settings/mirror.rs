//! The `[mirror]` section: a node that follows a registry over HTTPS instead of holding a store
//! of its own (an edge mirror beside a provider's resolvers and gateways). Off while
//! `mirror.upstream` is empty. The mirror itself is `store::mirror`.

use std::path::PathBuf;

use serde::Deserialize;

use super::{SettingsError, invalid, positive};

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MirrorSettings {
    /// The registry's base URL (`https://…`); empty: this node is a registry node.
    pub upstream: String,
    /// File holding the provider key's token this mirror presents to the upstream.
    pub token_file: Option<PathBuf>,
    /// PEM file of certificate authorities trusted for the upstream, beside the system's.
    pub ca_file: Option<PathBuf>,
    /// The local copy of the active set, read at start before the upstream answers; default
    /// `<store.path>/mirror-copy.json`.
    pub copy_path: Option<PathBuf>,
    /// How often the local copy is rewritten when the set changed.
    pub save_seconds: u64,
    /// Without an answer from the upstream for this long, `/readyz` answers `503`; checks are
    /// answered from what the mirror has all the same.
    pub max_staleness_seconds: u64,
    /// How long one long-poll of the upstream's feed waits for an event (1 to 30).
    pub wait_seconds: u64,
    /// The longest pause between attempts while the upstream fails (with jitter).
    pub max_backoff_ms: u64,
    /// After a page of events, how long the next long-poll waits, so that a burst of events
    /// comes in a few pages: what a mirror costs the registry is bounded by this.
    pub pause_ms: u64,
    /// How many of the latest events the mirror keeps, for its own feed and IXFR.
    pub feed_window: u64,
    /// Serve checks, the feed, the snapshot and the RPZ without a key.
    pub open: bool,
    /// The mirror's own keys, for its own clients.
    pub keys: Vec<MirrorKeySettings>,
    /// The upstream's transparency log key to pin (`<origin>+<id>+<key>`, from its `GET
    /// /v1/log/key`); empty: taken from the upstream at start. The mirror relays only
    /// checkpoints this key signed.
    pub log_key: String,
    /// The origin of the upstream's log, the first line of its checkpoints; empty: the name
    /// of its key, as `siteban log-key` and the key made at first start name it.
    pub log_origin: String,
}

/// One key of a mirror's own clients: only the SHA-256 of its token is configured.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MirrorKeySettings {
    pub name: String,
    /// `access_provider`, `dns_provider` or `auditor`.
    pub role: String,
    /// Lower-case hex SHA-256 of the token (`printf %s "$TOKEN" | sha256sum`).
    pub token_sha256: String,
}

impl std::fmt::Debug for MirrorKeySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorKeySettings")
            .field("name", &self.name)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl Default for MirrorSettings {
    fn default() -> MirrorSettings {
        MirrorSettings {
            upstream: String::new(),
            token_file: None,
            ca_file: None,
            copy_path: None,
            save_seconds: 30,
            max_staleness_seconds: 300,
            wait_seconds: 25,
            max_backoff_ms: 30_000,
            pause_ms: 250,
            feed_window: 100_000,
            open: false,
            keys: Vec::new(),
            log_key: String::new(),
            log_origin: String::new(),
        }
    }
}

/// The roles a mirror's own key may carry: what a mirror serves is read by these.
pub const MIRROR_ROLES: [&str; 3] = ["access_provider", "dns_provider", "auditor"];

impl MirrorSettings {
    /// Whether this node is a mirror.
    pub fn enabled(&self) -> bool {
        !self.upstream.is_empty()
    }

    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        positive([
            ("mirror.save_seconds", self.save_seconds),
            ("mirror.max_staleness_seconds", self.max_staleness_seconds),
            ("mirror.wait_seconds", self.wait_seconds),
            ("mirror.max_backoff_ms", self.max_backoff_ms),
            ("mirror.feed_window", self.feed_window),
        ])?;
        if self.pause_ms > 10_000 {
            return Err(invalid(
                "mirror.pause_ms",
                "must be at most 10000: a listing must reach a mirror within seconds",
            ));
        }
        if self.wait_seconds > 30 {
            return Err(invalid(
                "mirror.wait_seconds",
                "must be at most 30, the feed's longest wait",
            ));
        }
        for key in &self.keys {
            if !MIRROR_ROLES.contains(&key.role.as_str()) {
                return Err(invalid(
                    "mirror.keys",
                    format!(
                        "role {:?} of key {:?} is not one of {}",
                        key.role,
                        key.name,
                        MIRROR_ROLES.join(", ")
                    ),
                ));
            }
            if key.token_sha256.len() != 64
                || !key
                    .token_sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            {
                return Err(invalid(
                    "mirror.keys",
                    format!(
                        "token_sha256 of key {:?} must be 64 lower-case hex digits",
                        key.name
                    ),
                ));
            }
        }
        if !self.log_key.is_empty() {
            crate::tlog::verifier_origin(&self.log_key)
                .map_err(|e| invalid("mirror.log_key", e))?;
        }
        if !self.enabled() {
            return Ok(());
        }
        let url = self.upstream.trim_end_matches('/');
        let Some(rest) = url
            .strip_prefix("https://")
            .or_else(|| url.strip_prefix("http://"))
        else {
            return Err(invalid(
                "mirror.upstream",
                "must be an https:// (or http://) URL",
            ));
        };
        if rest.is_empty() || rest.contains(['@', '?', '#', ' ']) {
            return Err(invalid(
                "mirror.upstream",
                "must name a host, without credentials, query or fragment",
            ));
        }
        if self.token_file.is_none() {
            return Err(invalid(
                "mirror.token_file",
                "is required with mirror.upstream: the upstream serves its feed to a key",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pinned_log_key_must_be_a_verifier_key() {
        let skey = crate::tlog::generate_key("registry.example.cn/log").unwrap();
        let verifier = crate::tlog::LogKey::new(&skey, "registry.example.cn/log")
            .unwrap()
            .verifier()
            .to_string();
        let mut settings = MirrorSettings {
            log_key: verifier,
            ..MirrorSettings::default()
        };
        settings.validate().unwrap();
        // The signer key itself, or anything else, is refused and named.
        for wrong in [skey.as_str(), "registry.example.cn/log", "x+1+2"] {
            settings.log_key = wrong.to_string();
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains("mirror.log_key"), "{wrong}: {error}");
            assert!(
                !error.contains(wrong),
                "the setting's text is not repeated: {error}"
            );
        }
    }
}
