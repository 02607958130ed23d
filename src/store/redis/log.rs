//! The Redis store's transparency logs: a string per tile (`{siteban}:log:tile:<L>:<N>`, and
//! `{siteban}:auditlog:…` for the audit log), each tree's size and latest checkpoint, and the
//! signer key. The tree grows by one script that
//! checks the size first, so that of two nodes growing it at once one writes and the other
//! reads what it wrote. The size read or written last bounds the feed's trimming
//! (`retention_arg`).

use std::sync::atomic::Ordering;

use async_trait::async_trait;
use redis::Script;

use super::keys::Keys;
use super::scripts::{Lua, VERSION_MOVED, WRITTEN, outcomes};
use super::{RedisStore, redis_err};
use crate::store::StoreResult;
use crate::store::log::{LogName, LogStore, TileId};

/// Grows the tree: if its size is still `from`, writes each tile (KEYS 3 on, ARGV 4 on, in
/// the same order), the checkpoint and the size `to`.
const GROW: Lua = Lua {
    keys: "size checkpoint",
    argv: "from to note",
    outcomes: outcomes![WRITTEN, VERSION_MOVED],
    body: r#"
if (redis.call('GET', size) or '0') ~= from then return {VERSION_MOVED, 0} end
for i = 3, #KEYS do
  redis.call('SET', KEYS[i], ARGV[i + 1])
end
redis.call('SET', checkpoint, note)
redis.call('SET', size, to)
return {WRITTEN, 0}
"#,
};

/// Keeps the witnessed checkpoint of `size` leaves unless one of a larger size is kept, or
/// one of the same size with at least as many cosignatures (as long a note).
const WITNESS: Lua = Lua {
    keys: "kept_size note_key",
    argv: "size note",
    outcomes: outcomes![WRITTEN, VERSION_MOVED],
    body: r#"
local kept = redis.call('GET', note_key)
if kept then
  local at = tonumber(redis.call('GET', kept_size) or '0')
  if at > tonumber(size) or (at == tonumber(size) and string.len(kept) >= string.len(note)) then
    return {VERSION_MOVED, 0}
  end
end
redis.call('SET', note_key, note)
redis.call('SET', kept_size, size)
return {WRITTEN, 0}
"#,
};

pub(super) struct Scripts {
    grow: Script,
    witness: Script,
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts {
            grow: GROW.script(),
            witness: WITNESS.script(),
        }
    }
}

impl RedisStore {
    /// The retention argument of the list and lift scripts: how many events the feed keeps,
    /// and the log's size as this node knows it.
    pub(super) fn retention_arg(&self) -> String {
        format!("{} {}", self.retention, self.logged.load(Ordering::Relaxed))
    }

    fn saw_log_size(&self, size: u64) {
        self.logged.fetch_max(size, Ordering::Relaxed);
    }
}

#[async_trait]
impl LogStore for RedisStore {
    async fn log_key(&self, generated: &str) -> StoreResult<String> {
        let mut conn = self.conn.clone();
        let (key,): (String,) = redis::pipe()
            .cmd("SET")
            .arg(Keys::log("key"))
            .arg(generated)
            .arg("NX")
            .ignore()
            .get(Keys::log("key"))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        Ok(key)
    }

    async fn log_head(&self, log: LogName) -> StoreResult<(u64, Option<Vec<u8>>)> {
        let (size, checkpoint): (Option<u64>, Option<Vec<u8>>) = redis::pipe()
            .get(Keys::log_of(log, "size"))
            .get(Keys::log_of(log, "checkpoint"))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let size = size.unwrap_or(0);
        if log == LogName::Feed {
            self.saw_log_size(size);
        }
        Ok((size, checkpoint))
    }

    async fn log_tiles(
        &self,
        log: LogName,
        _size: u64,
        ids: &[TileId],
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for &(level, index) in ids {
            pipe.get(Keys::log_tile(log, level, index));
        }
        pipe.query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)
    }

    async fn grow_log(
        &self,
        log: LogName,
        from: u64,
        to: u64,
        tiles: Vec<(TileId, Vec<u8>)>,
        checkpoint: Vec<u8>,
    ) -> StoreResult<bool> {
        let mut invocation = self.log_scripts.grow.prepare_invoke();
        invocation
            .key(Keys::log_of(log, "size"))
            .key(Keys::log_of(log, "checkpoint"))
            .arg(from.to_string())
            .arg(to.to_string())
            .arg(checkpoint);
        for ((level, index), data) in &tiles {
            invocation
                .key(Keys::log_tile(log, *level, *index))
                .arg(data.as_slice());
        }
        // Not waiting for replicas: the tree is made again from the feed if a failover loses
        // this write, and the events it covers are still in the feed (`retention_arg`).
        let (outcome, _): (i64, i64) = invocation
            .invoke_async(&mut self.conn.unacknowledged())
            .await
            .map_err(redis_err)?;
        if outcome == WRITTEN && log == LogName::Feed {
            self.saw_log_size(to);
        }
        Ok(outcome == WRITTEN)
    }

    async fn log_witnessed(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        let (size, note): (Option<u64>, Option<Vec<u8>>) = redis::pipe()
            .get(Keys::log("witnessed_size"))
            .get(Keys::log("witnessed"))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(note.map(|note| (size.unwrap_or(0), note)))
    }

    async fn put_log_witnessed(&self, size: u64, note: Vec<u8>) -> StoreResult<bool> {
        let (outcome, _): (i64, i64) = self
            .log_scripts
            .witness
            .key(Keys::log("witnessed_size"))
            .key(Keys::log("witnessed"))
            .arg(size.to_string())
            .arg(note)
            .invoke_async(&mut self.conn.unacknowledged())
            .await
            .map_err(redis_err)?;
        Ok(outcome == WRITTEN)
    }
}
