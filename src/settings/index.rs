//! The `[feed]` and `[index]` sections: how much of the change feed the store keeps, and how
//! the in-memory index follows it. The feed itself is the store's, the index is `index`'s.

use serde::Deserialize;

use super::{SettingsError, positive};

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

impl FeedSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        positive([("feed.retention", self.retention)])
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

impl IndexSettings {
    pub(super) fn validate(&self) -> Result<(), SettingsError> {
        positive([("index.overlay_max", self.overlay_max as u64)])
    }
}
