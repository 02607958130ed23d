//! The embedded store's transparency logs: tiles by level and index (a table per log), each
//! tree's size in `meta`, the checkpoints and the signer key in a table of notes. `append_event` reads the
//! size so that the feed's retention never drops an event the tree does not cover.

use async_trait::async_trait;
use redb::{ReadableTable, TableDefinition};

use super::{EmbeddedStore, META, counter, db_err};
use crate::store::StoreResult;
use crate::store::log::{LogName, LogStore, TileId};

/// (level, index) → the tile's hashes, of the feed's log and of the audit log.
const TILES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("log_tiles");
const AUDIT_TILES: TableDefinition<(u8, u64), &[u8]> = TableDefinition::new("audit_log_tiles");
/// `checkpoint`, `audit_checkpoint`, `key` → bytes.
const NOTES: TableDefinition<&str, &[u8]> = TableDefinition::new("log_notes");
/// The `meta` counter of the feed log's size.
pub(super) const LOG_SIZE: &str = "log_size";
const AUDIT_LOG_SIZE: &str = "audit_log_size";
/// The `meta` counter of the size of the witnessed checkpoint (note `witnessed`).
const WITNESSED_SIZE: &str = "log_witnessed_size";

/// A table of tiles.
type Tiles = TableDefinition<'static, (u8, u64), &'static [u8]>;

/// The tiles table, the size counter and the checkpoint note of `log`.
fn of(log: LogName) -> (Tiles, &'static str, &'static str) {
    match log {
        LogName::Feed => (TILES, LOG_SIZE, "checkpoint"),
        LogName::Audit => (AUDIT_TILES, AUDIT_LOG_SIZE, "audit_checkpoint"),
    }
}

pub(super) fn create_tables(txn: &redb::WriteTransaction) -> StoreResult<()> {
    txn.open_table(TILES).map_err(db_err)?;
    txn.open_table(AUDIT_TILES).map_err(db_err)?;
    txn.open_table(NOTES).map_err(db_err)?;
    Ok(())
}

#[async_trait]
impl LogStore for EmbeddedStore {
    async fn log_key(&self, generated: &str) -> StoreResult<String> {
        let generated = generated.to_string();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let key = {
                let mut notes = txn.open_table(NOTES).map_err(db_err)?;
                let kept = notes
                    .get("key")
                    .map_err(db_err)?
                    .map(|v| v.value().to_vec());
                match kept {
                    Some(kept) => {
                        String::from_utf8(kept).map_err(crate::store::StoreError::corrupt)?
                    }
                    None => {
                        notes.insert("key", generated.as_bytes()).map_err(db_err)?;
                        generated
                    }
                }
            };
            txn.commit().map_err(db_err)?;
            Ok(key)
        })
        .await
    }

    async fn log_head(&self, log: LogName) -> StoreResult<(u64, Option<Vec<u8>>)> {
        let (_, size, note) = of(log);
        self.reading(move |txn| {
            let meta = txn.open_table(META).map_err(db_err)?;
            let notes = txn.open_table(NOTES).map_err(db_err)?;
            let checkpoint = notes.get(note).map_err(db_err)?;
            Ok((
                counter(&meta, size)?,
                checkpoint.map(|v| v.value().to_vec()),
            ))
        })
        .await
    }

    async fn log_tiles(
        &self,
        log: LogName,
        _size: u64,
        ids: &[TileId],
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        let ids = ids.to_vec();
        let (table, _, _) = of(log);
        self.reading(move |txn| {
            let tiles = txn.open_table(table).map_err(db_err)?;
            ids.iter()
                .map(|id| Ok(tiles.get(id).map_err(db_err)?.map(|v| v.value().to_vec())))
                .collect()
        })
        .await
    }

    async fn grow_log(
        &self,
        log: LogName,
        from: u64,
        to: u64,
        tiles: Vec<(TileId, Vec<u8>)>,
        checkpoint: Vec<u8>,
    ) -> StoreResult<bool> {
        let (table_of, size, note) = of(log);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut meta = txn.open_table(META).map_err(db_err)?;
                if counter(&meta, size)? != from {
                    return Ok(false);
                }
                let mut table = txn.open_table(table_of).map_err(db_err)?;
                for (id, data) in &tiles {
                    table.insert(id, data.as_slice()).map_err(db_err)?;
                }
                let mut notes = txn.open_table(NOTES).map_err(db_err)?;
                notes.insert(note, checkpoint.as_slice()).map_err(db_err)?;
                meta.insert(size, to).map_err(db_err)?;
            }
            txn.commit().map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn log_witnessed(&self) -> StoreResult<Option<(u64, Vec<u8>)>> {
        self.reading(|txn| {
            let meta = txn.open_table(META).map_err(db_err)?;
            let notes = txn.open_table(NOTES).map_err(db_err)?;
            let Some(note) = notes.get("witnessed").map_err(db_err)? else {
                return Ok(None);
            };
            Ok(Some((
                counter(&meta, WITNESSED_SIZE)?,
                note.value().to_vec(),
            )))
        })
        .await
    }

    async fn put_log_witnessed(&self, size: u64, note: Vec<u8>) -> StoreResult<bool> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut meta = txn.open_table(META).map_err(db_err)?;
                let mut notes = txn.open_table(NOTES).map_err(db_err)?;
                let kept = notes
                    .get("witnessed")
                    .map_err(db_err)?
                    .map(|n| n.value().len());
                let kept_size = counter(&meta, WITNESSED_SIZE)?;
                // At the same size, the note with more cosignatures is kept.
                if let Some(kept) = kept
                    && (kept_size > size || (kept_size == size && kept >= note.len()))
                {
                    return Ok(false);
                }
                notes.insert("witnessed", note.as_slice()).map_err(db_err)?;
                meta.insert(WITNESSED_SIZE, size).map_err(db_err)?;
            }
            txn.commit().map_err(db_err)?;
            Ok(true)
        })
        .await
    }
}
