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
    /// Witnesses (C2SP `tlog-witness`) the registry submits each new checkpoint to; their
    /// cosignatures are served with it.
    pub witnesses: Vec<WitnessSettings>,
    /// How long one submission to a witness may take.
    pub witness_timeout_ms: u64,
}

/// A witness: where it takes checkpoints, and its cosigning key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessSettings {
    /// Its submission prefix: `add-checkpoint` is posted below it.
    pub url: String,
    /// Its verifier key, `<name>+<key id>+<base64 key>` (timestamped Ed25519, type 0x04).
    pub key: String,
}

impl Default for TlogSettings {
    fn default() -> Self {
        TlogSettings {
            origin: "siteban.invalid/log".into(),
            key_file: None,
            witnesses: Vec::new(),
            witness_timeout_ms: 5000,
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
        super::positive([("tlog.witness_timeout_ms", self.witness_timeout_ms)])?;
        for witness in &self.witnesses {
            if !(witness.url.starts_with("http://") || witness.url.starts_with("https://")) {
                return Err(invalid(
                    "tlog.witnesses",
                    format!("{:?} is not an http:// or https:// URL", witness.url),
                ));
            }
            if witness.key.trim().splitn(3, '+').count() != 3 {
                return Err(invalid(
                    "tlog.witnesses",
                    "a witness key is <name>+<key id>+<base64 key>",
                ));
            }
        }
        Ok(())
    }
}
