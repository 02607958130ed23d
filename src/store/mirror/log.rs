//! The upstream's transparency log, as a mirror relays it: its checkpoint, witnessed
//! checkpoint, verifier key and hash tiles, read from the upstream's `/v1/log/…` as they are
//! asked for (the full tiles served are kept by `registry::log`, as on a registry node).
//! Checkpoints are checked before the mirror serves them (`registry::log::relay`). A mirror
//! keeps no log of its own: it signs nothing and keeps no audit log.

use async_trait::async_trait;

use super::{MirrorStore, holds_no};
use crate::store::log::{LogName, LogStore, TileId};
use crate::store::{StoreError, StoreResult};
use crate::tlog::path::TilePath;
use crate::tlog::tree::tile_width;

impl MirrorStore {
    /// Tile `id` as wide as the upstream's tree of `size` leaves makes it; none beyond it.
    async fn upstream_tile(&self, size: u64, id: TileId) -> StoreResult<Option<Vec<u8>>> {
        let width = tile_width(size, id);
        if width == 0 {
            return Ok(None);
        }
        let path = TilePath::Hashes {
            level: id.0,
            index: id.1,
            width,
        }
        .to_path();
        let Some((_, data)) = self.upstream.log(&format!("/v1/log/tile/{path}")).await? else {
            return Ok(None);
        };
        if data.len() as u64 != width * tlog_tiles::HASH_SIZE as u64 {
            return Err(StoreError::Unavailable(format!(
                "the upstream's tile {path} holds {} bytes, not {}",
                data.len(),
                width * tlog_tiles::HASH_SIZE as u64
            )));
        }
        Ok(Some(data.to_vec()))
    }
}

#[async_trait]
impl LogStore for MirrorStore {
    async fn log_key(&self, _generated: &str) -> StoreResult<String> {
        Err(holds_no("signer key"))
    }

    /// The upstream's latest checkpoint and its size (`X-Log-Size`, which the relay checks
    /// against the signed note).
    async fn log_head(&self, log: LogName) -> StoreResult<(u64, Option<Vec<u8>>)> {
        if log == LogName::Audit {
            return Err(holds_no("audit log"));
        }
        let Some((size, note)) = self.upstream.log("/v1/log/checkpoint").await? else {
            return Ok((0, None));
        };
        let size = size.ok_or_else(|| {
            StoreError::Unavailable("the upstream's checkpoint came without X-Log-Size".into())
        })?;
        Ok((size, Some(note.to_vec())))
    }

    async fn log_tiles(
        &self,
        log: LogName,
        size: u64,
        ids: &[TileId],
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if log == LogName::Audit {
            return Err(holds_no("audit log"));
        }
        futures_util::future::try_join_all(ids.iter().map(|id| self.upstream_tile(size, *id))).await
    }

    async fn grow_log(
        &self,
        _log: LogName,
        _from: u64,
        _to: u64,
        _tiles: Vec<(TileId, Vec<u8>)>,
        _checkpoint: Vec<u8>,
    ) -> StoreResult<bool> {
        Err(holds_no("log of its own"))
    }

    async fn log_witnessed(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let Some((size, note)) = self.upstream.log("/v1/log/witnessed").await? else {
            return Ok(None);
        };
        let size = size.ok_or_else(|| {
            StoreError::Unavailable(
                "the upstream's witnessed checkpoint came without X-Log-Size".into(),
            )
        })?;
        Ok(Some((size, note.to_vec())))
    }

    async fn put_log_witnessed(&self, _size: u64, _note: Vec<u8>) -> StoreResult<bool> {
        Err(holds_no("log of its own"))
    }

    /// `mirror.log_key`, or else the key the upstream publishes.
    async fn relayed_log_key(&self) -> StoreResult<Option<String>> {
        if let Some(key) = &self.log_key {
            return Ok(Some(key.clone()));
        }
        let Some((_, key)) = self.upstream.log("/v1/log/key").await? else {
            return Err(StoreError::Unavailable(
                "the upstream publishes no transparency log key".into(),
            ));
        };
        let key = String::from_utf8_lossy(&key).trim().to_string();
        tracing::warn!(key = %key, "the upstream's log key is taken as it gave it; pin it with mirror.log_key");
        Ok(Some(key))
    }
}
