//! The transparency log's use cases: its key, kept at first start; the keeper that grows the
//! tree from the feed and signs a checkpoint of each growth; and the reads of checkpoints,
//! tiles and proofs. Every registry node runs a keeper; the one whose growth the store takes
//! first signs, and the others read what it wrote (`LogStore::grow_log`). The tree is a pure
//! function of the feed, so whichever node grows it, it is the same tree.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tlog_tiles::Hash;
use tokio::sync::watch;

use super::{Registry, RegistryError, RegistryResult};
use crate::model::{Entry, Event};
use crate::store::{Store, StoreError};
use crate::tlog::path::TilePath;
use crate::tlog::tree::{TILE_WIDTH, edge_tiles, tile_width};
use crate::tlog::{self, LogKey, TileId, Tree};

/// How many events the keeper reads at a time; it signs at least once per page.
const PAGE: usize = 1000;
/// How long the keeper sleeps when nothing wakes it, and after a failure.
const IDLE: Duration = Duration::from_secs(1);

/// The log as this node knows it: its key and the latest checkpoint it wrote or read.
pub struct Log {
    key: LogKey,
    latest: RwLock<Option<Checkpoint>>,
}

/// A signed checkpoint: the tree's size and root, and the signed note.
#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub size: u64,
    pub root: Hash,
    pub note: Vec<u8>,
}

/// An inclusion proof of one event.
#[derive(Debug, Clone)]
pub struct Inclusion {
    pub event: Event,
    pub leaf: Vec<u8>,
    pub size: u64,
    pub proof: Vec<Hash>,
}

impl Log {
    /// The log of the key in `key_file`, or else of the key kept in the store (made now when
    /// the store keeps none).
    pub async fn open(
        store: &dyn Store,
        origin: &str,
        key_file: Option<&std::path::Path>,
    ) -> anyhow::Result<Log> {
        let skey = match key_file {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("cannot read tlog.key_file {}: {e}", path.display())
            })?,
            None => {
                let generated = tlog::generate_key(origin).map_err(anyhow::Error::msg)?;
                store.log_key(&generated).await?
            }
        };
        let key = LogKey::new(&skey, origin).map_err(anyhow::Error::msg)?;
        Ok(Log {
            key,
            latest: RwLock::new(None),
        })
    }

    /// The verifier key clients pin.
    pub fn verifier(&self) -> &str {
        self.key.verifier()
    }

    pub fn origin(&self) -> &str {
        self.key.origin()
    }

    /// The latest checkpoint this node wrote or read.
    pub fn latest(&self) -> Option<Checkpoint> {
        self.latest
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn publish(&self, checkpoint: Checkpoint) {
        let mut latest = self.latest.write().unwrap_or_else(|e| e.into_inner());
        if latest.as_ref().is_none_or(|l| l.size <= checkpoint.size) {
            *latest = Some(checkpoint);
        }
    }
}

/// The tree as the store holds it, and its checkpoint.
async fn load(store: &dyn Store) -> Result<(Tree, Option<Vec<u8>>), StoreError> {
    let (size, note) = store.log_head().await?;
    let edges = edge_tiles(size);
    let ids: Vec<TileId> = edges.iter().map(|(id, _)| *id).collect();
    let data = store.log_tiles(&ids).await?;
    let mut tiles = BTreeMap::new();
    for (id, data) in ids.into_iter().zip(data) {
        if let Some(data) = data {
            tiles.insert(id, data);
        }
    }
    let tree = Tree::from_edges(size, &tiles).map_err(StoreError::corrupt)?;
    Ok((tree, note))
}

/// Opens the log of `registry`'s settings and reads its latest checkpoint (signing one at
/// first start), so that the node serves one from its first request.
pub async fn open(registry: &Registry) -> anyhow::Result<()> {
    let settings = &registry.settings.tlog;
    let log = Log::open(
        registry.store.as_ref(),
        &settings.origin,
        settings.key_file.as_deref(),
    )
    .await?;
    Keeper::start(registry, &log).await?;
    let _ = registry.log.set(log);
    Ok(())
}

/// Grows the log from the feed until it covers every event, then waits for the index to move
/// (or a second) and grows it again; stops at shutdown.
pub async fn run_log_keeper(registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
    let Some(log) = registry.log.get() else {
        return;
    };
    let mut applied = registry.index.subscribe();
    let mut keeper: Option<Keeper> = None;
    loop {
        let result = match keeper.as_mut() {
            Some(keeper) => keeper.catch_up(&registry, log).await,
            None => match Keeper::start(&registry, log).await {
                Ok(started) => {
                    keeper = Some(started);
                    continue;
                }
                Err(e) => Err(e),
            },
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "the transparency log cannot grow; retrying");
            registry.metrics.log_failures.inc();
            keeper = None;
        }
        tokio::select! {
            _ = applied.changed() => {}
            _ = tokio::time::sleep(IDLE) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The tree this node grows, and the size the store holds.
struct Keeper {
    tree: Tree,
    stored: u64,
}

impl Keeper {
    /// The tree the store holds; its checkpoint signed again when it is missing or not
    /// signed by this node's key (the key was replaced).
    async fn start(registry: &Registry, log: &Log) -> Result<Keeper, StoreError> {
        let store = registry.store.as_ref();
        let (tree, note) = load(store).await?;
        let root = tree.root();
        let signed = note.as_deref().and_then(|note| {
            tlog::open_checkpoint(note, log.verifier(), log.origin())
                .ok()
                .filter(|c| c.size == tree.size())
        });
        match signed {
            Some(checkpoint) if checkpoint.root != root => {
                return Err(StoreError::corrupt(format!(
                    "the log's checkpoint at {} does not match its tiles",
                    tree.size()
                )));
            }
            Some(_) => log.publish(Checkpoint {
                size: tree.size(),
                root,
                note: note.unwrap_or_default(),
            }),
            None => {
                let note = log
                    .key
                    .sign(tree.size(), root)
                    .map_err(StoreError::corrupt)?;
                if store
                    .grow_log(tree.size(), tree.size(), Vec::new(), note.clone())
                    .await?
                {
                    log.publish(Checkpoint {
                        size: tree.size(),
                        root,
                        note,
                    });
                }
            }
        }
        registry.metrics.log_size.set(tree.size() as i64);
        Ok(Keeper {
            stored: tree.size(),
            tree,
        })
    }

    /// Appends every event the feed holds after the tree, a page at a time, writing and
    /// signing each page.
    async fn catch_up(&mut self, registry: &Registry, log: &Log) -> Result<(), StoreError> {
        loop {
            let events = registry.store.events(self.tree.size(), PAGE).await?;
            if events.is_empty() {
                return Ok(());
            }
            for event in &events {
                if event.seq != self.tree.size() + 1 {
                    return Err(StoreError::corrupt(format!(
                        "the feed gives event {} after {}",
                        event.seq,
                        self.tree.size()
                    )));
                }
                self.tree.append(tlog::leaf_hash(event));
            }
            self.write(registry, log).await?;
        }
    }

    /// Writes the grown tree and its signed checkpoint; when another node wrote first, reads
    /// the tree it wrote instead.
    async fn write(&mut self, registry: &Registry, log: &Log) -> Result<(), StoreError> {
        let store = registry.store.as_ref();
        let (size, root) = (self.tree.size(), self.tree.root());
        let note = log.key.sign(size, root).map_err(StoreError::corrupt)?;
        let tiles = self.tree.take_changed();
        if store
            .grow_log(self.stored, size, tiles, note.clone())
            .await?
        {
            self.stored = size;
            log.publish(Checkpoint { size, root, note });
            registry.metrics.log_size.set(size as i64);
        } else {
            *self = Keeper::start(registry, log).await?;
        }
        Ok(())
    }
}

impl Registry {
    fn open_log(&self) -> RegistryResult<&Log> {
        self.log.get().ok_or_else(|| {
            RegistryError::Internal("the transparency log is not open on this node".into())
        })
    }

    /// The log's verifier key, for pinning.
    pub fn log_verifier(&self) -> RegistryResult<String> {
        Ok(self.open_log()?.verifier().to_string())
    }

    /// The latest signed checkpoint.
    pub fn log_checkpoint(&self) -> RegistryResult<Checkpoint> {
        self.open_log()?
            .latest()
            .ok_or_else(|| RegistryError::Absent {
                code: "not_in_log",
                message: "the log has no checkpoint yet".into(),
            })
    }

    /// The size a proof is asked at: `size`, or the latest checkpoint's; never beyond it.
    fn proof_size(&self, size: Option<u64>) -> RegistryResult<u64> {
        let latest = self.log_checkpoint()?.size;
        match size {
            None => Ok(latest),
            Some(size) if size <= latest => Ok(size),
            Some(size) => Err(not_in_log(format!(
                "the log's latest checkpoint has {latest} leaves, fewer than {size}"
            ))),
        }
    }

    /// The tiles `prove` reads in the tree of `size` leaves, from the store.
    async fn tiles_for<T>(
        &self,
        size: u64,
        prove: impl Fn(&tlog::Reader) -> Result<T, tlog_tiles::Error>,
    ) -> RegistryResult<T> {
        let needed = tlog::tiles_needed(size, &prove);
        let ids: Vec<TileId> = needed.iter().map(|(id, _)| *id).collect();
        let data = self.store.log_tiles(&ids).await?;
        let mut tiles = BTreeMap::new();
        for ((id, width), data) in needed.into_iter().zip(data) {
            let want = width as usize * tlog_tiles::HASH_SIZE;
            match data {
                Some(data) if data.len() >= want => {
                    tiles.insert(id, data[..want].to_vec());
                }
                _ => {
                    return Err(RegistryError::Store(StoreError::corrupt(format!(
                        "the log's tile {}/{} is missing",
                        id.0, id.1
                    ))));
                }
            }
        }
        prove(&tlog::Reader::Tiles(tiles))
            .map_err(|e| RegistryError::Internal(format!("log proof: {e}")))
    }

    /// The inclusion proof of feed event `seq` (leaf `seq - 1`) in the tree of `size` leaves
    /// (default: the latest checkpoint's). The event is read from the feed, or rebuilt from
    /// its entry once the feed has dropped it.
    pub async fn prove_event(&self, seq: u64, size: Option<u64>) -> RegistryResult<Inclusion> {
        let size = self.proof_size(size)?;
        if seq == 0 || seq > size {
            return Err(not_in_log(format!(
                "event {seq} is not in the log's tree of {size} leaves"
            )));
        }
        let event = match self.store.events(seq - 1, 1).await {
            Ok(events) => events.into_iter().next(),
            Err(StoreError::SnapshotRequired { .. }) => None,
            Err(e) => return Err(e.into()),
        }
        .ok_or_else(|| not_in_log(format!("event {seq} is no longer in the feed")))?;
        self.include(event, size).await
    }

    async fn include(&self, event: Event, size: u64) -> RegistryResult<Inclusion> {
        let index = event.seq - 1;
        let proof = self
            .tiles_for(size, |r| tlog_tiles::prove_record(size, index, r))
            .await?;
        Ok(Inclusion {
            leaf: tlog::leaf(&event),
            event,
            size,
            proof,
        })
    }

    /// The inclusion proofs of every event of the entries of `history` (each listing, and each lift
    /// or end of a suspension) in the latest checkpoint's tree. Each event is read from the
    /// feed; once the feed has dropped it, it is rebuilt from its entry, and proved only when
    /// the rebuilt leaf is the one the tree holds.
    pub async fn prove_entries(&self, history: &[Entry]) -> RegistryResult<(u64, Vec<Inclusion>)> {
        let size = self.proof_size(None)?;
        let mut proofs = Vec::new();
        for entry in history {
            for rebuilt in events_of(entry) {
                if rebuilt.seq == 0 || rebuilt.seq > size {
                    continue;
                }
                let event = match self.store.events(rebuilt.seq - 1, 1).await {
                    Ok(events) => events.into_iter().next(),
                    Err(StoreError::SnapshotRequired { .. }) => None,
                    Err(e) => return Err(e.into()),
                }
                .filter(|e| e.seq == rebuilt.seq && e.entry_id == entry.id);
                let event = match event {
                    Some(event) => event,
                    None if self.leaf_hash_at(rebuilt.seq - 1).await?
                        == tlog::leaf_hash(&rebuilt) =>
                    {
                        rebuilt
                    }
                    None => continue,
                };
                proofs.push(self.include(event, size).await?);
            }
        }
        Ok((size, proofs))
    }

    /// The hash of leaf `index`, from its tile.
    async fn leaf_hash_at(&self, index: u64) -> RegistryResult<Hash> {
        let id = (0, index / TILE_WIDTH);
        let data = self.store.log_tiles(&[id]).await?;
        let offset = (index % TILE_WIDTH) as usize * tlog_tiles::HASH_SIZE;
        match data.into_iter().next().flatten() {
            Some(data) if data.len() >= offset + tlog_tiles::HASH_SIZE => Ok(Hash(
                data[offset..offset + tlog_tiles::HASH_SIZE]
                    .try_into()
                    .expect("a hash's length"),
            )),
            _ => Err(not_in_log(format!("leaf {index} is not in the log"))),
        }
    }

    /// The consistency proof of the tree of `old` leaves with that of `size` (default: the
    /// latest checkpoint's).
    pub async fn prove_consistency(
        &self,
        old: u64,
        size: Option<u64>,
    ) -> RegistryResult<(u64, Vec<Hash>)> {
        let size = self.proof_size(size)?;
        if old == 0 || old > size {
            return Err(not_in_log(format!(
                "a consistency proof needs 1 <= from <= {size}, not {old}"
            )));
        }
        let proof = self
            .tiles_for(size, |r| tlog_tiles::prove_tree(size, old, r))
            .await?;
        Ok((size, proof))
    }

    /// The bytes of tile `path` as C2SP `tlog-tiles` serves them: hashes from the store,
    /// entries (each a big-endian 16-bit length and the leaf) from the feed while it holds
    /// them. Only what the latest checkpoint covers.
    pub async fn log_tile(&self, path: TilePath) -> RegistryResult<Vec<u8>> {
        let size = self.log_checkpoint()?.size;
        match path {
            TilePath::Hashes {
                level,
                index,
                width,
            } => {
                if tile_width(size, (level, index)) < width {
                    return Err(not_in_log("the log has no such tile yet"));
                }
                let data = self.store.log_tiles(&[(level, index)]).await?;
                let want = width as usize * tlog_tiles::HASH_SIZE;
                match data.into_iter().next().flatten() {
                    Some(data) if data.len() >= want => Ok(data[..want].to_vec()),
                    _ => Err(not_in_log("the log has no such tile")),
                }
            }
            TilePath::Entries { index, width } => {
                let first = index.saturating_mul(TILE_WIDTH);
                if size.saturating_sub(first).min(TILE_WIDTH) < width {
                    return Err(not_in_log("the log has no such entry bundle yet"));
                }
                let events = match self.store.events(first, width as usize).await {
                    Ok(events) => events,
                    Err(StoreError::SnapshotRequired { .. }) => Vec::new(),
                    Err(e) => return Err(e.into()),
                };
                if events.len() as u64 != width {
                    return Err(not_in_log(
                        "the feed no longer holds these entries; the hash tiles remain",
                    ));
                }
                let mut bundle = Vec::new();
                for event in &events {
                    let leaf = tlog::leaf(event);
                    bundle.extend_from_slice(&(leaf.len() as u16).to_be_bytes());
                    bundle.extend_from_slice(&leaf);
                }
                Ok(bundle)
            }
        }
    }
}

/// The feed events an entry made, rebuilt from it: its listing (a suspension's, when it was
/// one), and its lift or the end of its suspension.
fn events_of(entry: &Entry) -> Vec<Event> {
    let mut listed = Event::listed(entry);
    if entry.status == crate::model::EntryStatus::Expired {
        listed.kind = crate::model::EventKind::Suspended;
    }
    let mut events = vec![listed];
    if entry.lift.is_some() {
        events.push(Event::lifted(entry));
    }
    events
}

fn not_in_log(message: impl Into<String>) -> RegistryError {
    RegistryError::Absent {
        code: "not_in_log",
        message: message.into(),
    }
}
