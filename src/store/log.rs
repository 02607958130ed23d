//! The part of the store that keeps the transparency logs, implemented by both backends
//! (`embedded/log.rs`, `redis/log.rs`): for each log (`LogName`: the feed's, the audit
//! log's), the tiles of its Merkle tree, the tree's size and its latest signed checkpoint;
//! and the signer key made at first start. The tiles are
//! kept for the whole history, after the feed's retention has dropped their events: a store
//! never trims an event the tree does not cover yet. What the tiles hold is `tlog`'s; the
//! store keeps bytes.

use async_trait::async_trait;

use super::StoreResult;

/// A tile by its level and its index within the level.
pub type TileId = (u8, u64);

/// Which log: the one over the feed's events, or the one over the audit records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogName {
    Feed,
    Audit,
}

#[async_trait]
pub trait LogStore {
    /// The log's signer key kept in the store; `generated` is kept when there is none yet,
    /// so every node signs with the key of the first.
    async fn log_key(&self, generated: &str) -> StoreResult<String>;

    /// How many leaves the tree has, and the latest signed checkpoint (none before the
    /// first).
    async fn log_head(&self, log: LogName) -> StoreResult<(u64, Option<Vec<u8>>)>;

    /// The data of each tile as stored, for a tree of at least `size` leaves; none for a tile
    /// never written. A tile grows until it is full: the data of a smaller tree's tile is a
    /// prefix. A store that keeps the tiles gives them as it holds them; one that relays
    /// another's log (a mirror) reads them as wide as a tree of `size` leaves makes them.
    async fn log_tiles(
        &self,
        log: LogName,
        size: u64,
        ids: &[TileId],
    ) -> StoreResult<Vec<Option<Vec<u8>>>>;

    /// Grows the tree from `from` leaves to `to`: writes `tiles` (each with all its data) and
    /// `checkpoint` in one write, if the tree still has `from` leaves. False when another
    /// node grew it first: nothing is written.
    async fn grow_log(
        &self,
        log: LogName,
        from: u64,
        to: u64,
        tiles: Vec<(TileId, Vec<u8>)>,
        checkpoint: Vec<u8>,
    ) -> StoreResult<bool>;

    /// The latest checkpoint of the feed's log that witnesses cosigned, with its size.
    async fn log_witnessed(&self) -> StoreResult<Option<(u64, Vec<u8>)>>;

    /// Keeps `note`, the feed log's checkpoint of `size` leaves with witnesses'
    /// cosignatures, unless one of a larger size is kept; answers whether it was kept.
    async fn put_log_witnessed(&self, size: u64, note: Vec<u8>) -> StoreResult<bool>;

    /// The verifier key of the log this store relays from elsewhere (a mirror's upstream);
    /// none for a store that keeps a log of its own.
    async fn relayed_log_key(&self) -> StoreResult<Option<String>> {
        Ok(None)
    }
}
