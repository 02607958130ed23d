//! The transparency log's use cases: its key, kept at first start; the keeper that grows the
//! tree from the feed and signs a checkpoint of each growth; and the reads of checkpoints,
//! tiles and proofs. Every registry node runs a keeper; the one whose growth the store takes
//! first signs, and the others read what it wrote (`LogStore::grow_log`). The tree is a pure
//! function of the feed, so whichever node grows it, it is the same tree.

mod relay;

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tlog_tiles::Hash;
use tokio::sync::watch;

use super::{Registry, RegistryError, RegistryResult};
use crate::model::{Entry, Event};
use crate::store::log::LogName;
use crate::store::{Store, StoreError};
use crate::tlog::path::TilePath;
use crate::tlog::tree::{TILE_WIDTH, edge_tiles, tile_width};
use crate::tlog::{self, LogKey, TileId, Tree};
pub use relay::run_log_relay;

/// How many events the keeper reads at a time; it signs at least once per page.
const PAGE: usize = 1000;
/// How long the keeper sleeps when nothing wakes it, and after a failure.
const IDLE: Duration = Duration::from_secs(1);
/// After a wake, how long the keeper lets events gather before it grows the log: a burst of
/// listings then costs a few log writes a second, not one each, and a checkpoint still
/// covers a write well within a second.
const GATHER: Duration = Duration::from_millis(250);
/// How long to wait before asking the witnesses again when none cosigned.
const WITNESS_RETRY: Duration = Duration::from_secs(10);
/// Full tiles kept in memory for serving (8 KiB each): they never change.
const CACHED_TILES: usize = 4096;

/// The logs as this node knows them: the key, and the latest checkpoint of each log it
/// wrote or read.
pub struct Log {
    /// The signer key; none on a mirror, which relays the upstream's checkpoints.
    key: Option<LogKey>,
    /// The verifier key clients pin, `<origin>+<id>+<key>`.
    verifier: String,
    origin: String,
    /// Full tiles of the feed's log read before, for serving without a store read.
    full_tiles: std::sync::Mutex<std::collections::HashMap<TileId, bytes::Bytes>>,
    /// The witnesses each new checkpoint of the feed's log is submitted to.
    witnesses: Vec<Witness>,
    feed: RwLock<Option<Checkpoint>>,
    audit: RwLock<Option<Checkpoint>>,
    /// Why the stored audit log no longer matches its signed checkpoint, while it does not.
    audit_broken: RwLock<Option<String>>,
    /// On a mirror: why the upstream's latest checkpoint is not relayed, while it is not.
    relay_broken: RwLock<Option<String>>,
    /// On a mirror: the upstream's witnessed checkpoint (its size, the note) last found
    /// consistent with the checkpoint relayed, and when it was read.
    relayed_witnessed: RwLock<Option<(u64, Vec<u8>, std::time::Instant)>>,
}

/// A witness (C2SP `tlog-witness`) and the size it last cosigned, as far as this node knows.
struct Witness {
    key: tlog::WitnessKey,
    url: String,
    old: std::sync::atomic::AtomicU64,
    http: reqwest::Client,
}

impl Witness {
    /// Submits `checkpoint` with a consistency proof from the size the witness last cosigned
    /// (learnt from its `409` when unknown); answers its verified cosignature lines, none
    /// when it already holds a larger tree.
    async fn submit(
        &self,
        registry: &Registry,
        checkpoint: &Checkpoint,
    ) -> Result<Vec<String>, String> {
        use std::sync::atomic::Ordering;
        let text = tlog::note_text(&checkpoint.note).ok_or("the checkpoint is not a note")?;
        let mut old = self.old.load(Ordering::Relaxed);
        for _ in 0..2 {
            if old > checkpoint.size {
                return Ok(Vec::new());
            }
            let proof = if old == 0 || old == checkpoint.size {
                Vec::new()
            } else {
                registry
                    .prove_consistency(old, Some(checkpoint.size))
                    .await
                    .map_err(|e| e.to_string())?
                    .1
            };
            let response = self
                .http
                .post(format!("{}/add-checkpoint", self.url))
                .body(tlog::add_checkpoint_body(old, &proof, &checkpoint.note))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = response.text().await.map_err(|e| e.to_string())?;
            match status {
                200 => {
                    let lines: Vec<String> = body
                        .lines()
                        .filter(|line| self.key.cosigned(text, line).is_some())
                        .map(|line| format!("{line}\n"))
                        .collect();
                    if lines.is_empty() {
                        return Err("its answer carries no cosignature by its key".into());
                    }
                    self.old.store(checkpoint.size, Ordering::Relaxed);
                    return Ok(lines);
                }
                409 => {
                    old = body
                        .trim()
                        .parse()
                        .map_err(|_| format!("409 without a size: {body:?}"))?;
                    self.old.store(old, Ordering::Relaxed);
                }
                _ => return Err(format!("it answered {status}: {}", body.trim())),
            }
        }
        Err("it answered 409 twice".into())
    }
}

/// Submits each new checkpoint of the feed's log to the witnesses and keeps it, with their
/// cosignatures, as the witnessed checkpoint; stops at shutdown. A witness that fails is
/// logged and asked again with the next checkpoint.
pub async fn run_witnessing(registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
    let Some(log) = registry.log.get().filter(|log| !log.witnesses.is_empty()) else {
        return;
    };
    let mut submitted = 0;
    loop {
        if let Some(checkpoint) = log.latest(LogName::Feed).filter(|c| c.size > submitted) {
            let witnessed = match registry.store.log_witnessed().await {
                Ok(witnessed) => witnessed.map_or(0, |(size, _)| size),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the witnessed checkpoint");
                    0
                }
            };
            if witnessed < checkpoint.size {
                let answers = futures_util::future::join_all(
                    log.witnesses
                        .iter()
                        .map(|w| w.submit(&registry, &checkpoint)),
                )
                .await;
                let mut note = checkpoint.note.clone();
                for (witness, answer) in log.witnesses.iter().zip(answers) {
                    match answer {
                        Ok(lines) => lines
                            .iter()
                            .for_each(|l| note.extend_from_slice(l.as_bytes())),
                        Err(e) => {
                            registry.metrics.witness_failures.inc();
                            tracing::warn!(witness = %witness.url, error = %e, size = checkpoint.size, "a witness did not cosign");
                        }
                    }
                }
                if note.len() == checkpoint.note.len() {
                    // No witness cosigned: ask again after a pause, even if the log is idle.
                    tokio::select! {
                        _ = tokio::time::sleep(WITNESS_RETRY) => {}
                        _ = shutdown.changed() => return,
                    }
                    continue;
                }
                if let Err(e) = registry
                    .store
                    .put_log_witnessed(checkpoint.size, note)
                    .await
                {
                    tracing::warn!(error = %e, "cannot keep the witnessed checkpoint");
                    continue;
                }
            }
            submitted = checkpoint.size;
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE) => {}
            _ = shutdown.changed() => return,
        }
    }
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

fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

fn read<T: Clone>(lock: &RwLock<T>) -> T {
    lock.read().unwrap_or_else(|e| e.into_inner()).clone()
}

impl Log {
    /// The logs of the key in `key_file`, or else of the key kept in the store (made now
    /// when the store keeps none).
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
        Ok(Log::of(
            key.verifier().to_string(),
            origin.to_string(),
            Some(key),
        ))
    }

    /// The log of `verifier` and `origin`, signed with `key` if there is one, before any
    /// checkpoint is known.
    fn of(verifier: String, origin: String, key: Option<LogKey>) -> Log {
        Log {
            key,
            verifier,
            origin,
            full_tiles: std::sync::Mutex::new(std::collections::HashMap::new()),
            witnesses: Vec::new(),
            feed: RwLock::new(None),
            audit: RwLock::new(None),
            audit_broken: RwLock::new(None),
            relay_broken: RwLock::new(None),
            relayed_witnessed: RwLock::new(None),
        }
    }

    /// The log with the witnesses of `settings`, their keys checked.
    pub fn with_witnesses(
        mut self,
        settings: &crate::settings::TlogSettings,
    ) -> anyhow::Result<Log> {
        if settings.witnesses.is_empty() {
            return Ok(self);
        }
        crate::notices::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(settings.witness_timeout_ms))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("siteban/", env!("CARGO_PKG_VERSION")))
            .build()?;
        for witness in &settings.witnesses {
            let key = tlog::WitnessKey::parse(&witness.key)
                .map_err(|e| anyhow::anyhow!("tlog.witnesses {}: {e}", witness.url))?;
            self.witnesses.push(Witness {
                key,
                url: witness.url.trim_end_matches('/').to_string(),
                old: std::sync::atomic::AtomicU64::new(0),
                http: http.clone(),
            });
        }
        Ok(self)
    }

    /// The log of an upstream registry as a mirror relays it: no signer, and checkpoints
    /// checked against `verifier` and `origin` (default the key's name, as `siteban log-key`
    /// and the key made at first start name it).
    pub fn relayed(verifier: &str, origin: Option<&str>) -> Result<Log, String> {
        let named = tlog::verifier_origin(verifier)?;
        let origin = origin.map_or(named, str::to_string);
        Ok(Log::of(verifier.trim().to_string(), origin, None))
    }

    /// The verifier key clients pin.
    pub fn verifier(&self) -> &str {
        &self.verifier
    }

    /// The origin of log `which`'s checkpoints.
    pub fn origin(&self, which: LogName) -> String {
        match which {
            LogName::Feed => self.origin.clone(),
            LogName::Audit => tlog::audit_origin(&self.origin),
        }
    }

    fn slot(&self, which: LogName) -> &RwLock<Option<Checkpoint>> {
        match which {
            LogName::Feed => &self.feed,
            LogName::Audit => &self.audit,
        }
    }

    /// The latest checkpoint of log `which` this node wrote or read.
    pub fn latest(&self, which: LogName) -> Option<Checkpoint> {
        read(self.slot(which))
    }

    /// The size of the latest checkpoint of log `which`, without copying its note.
    pub fn latest_size(&self, which: LogName) -> Option<u64> {
        let latest = self.slot(which).read().unwrap_or_else(|e| e.into_inner());
        latest.as_ref().map(|c| c.size)
    }

    /// Keeps `checkpoint` as the latest unless a larger one is kept already.
    fn publish(&self, which: LogName, checkpoint: Checkpoint) {
        let mut latest = self.slot(which).write().unwrap_or_else(|e| e.into_inner());
        if latest.as_ref().is_none_or(|l| l.size <= checkpoint.size) {
            *latest = Some(checkpoint);
        }
    }

    /// Keeps `checkpoint`, read from the store, as the latest even if it is smaller: the store
    /// lost the newer one (a Redis failover that lost writes), and serving it would promise a
    /// tree no one holds.
    fn reset(&self, which: LogName, checkpoint: Checkpoint) {
        let mut latest = self.slot(which).write().unwrap_or_else(|e| e.into_inner());
        if which == LogName::Feed && latest.as_ref().is_some_and(|l| l.size > checkpoint.size) {
            // The store lost events: the tiles cached may not be the tree's any more.
            lock(&self.full_tiles).clear();
        }
        *latest = Some(checkpoint);
    }

    /// Why the stored audit log does not match its signed checkpoint, if it does not.
    pub fn audit_broken(&self) -> Option<String> {
        read(&self.audit_broken)
    }

    /// On a mirror: why the upstream's latest checkpoint is not relayed, if it is not.
    pub fn relay_broken(&self) -> Option<String> {
        read(&self.relay_broken)
    }

    fn sign(&self, which: LogName, tree: &Tree) -> Result<Vec<u8>, StoreError> {
        self.key
            .as_ref()
            .ok_or_else(|| StoreError::corrupt("a relayed log has no signer key"))?
            .sign(&self.origin(which), tree.size(), tree.root())
            .map_err(StoreError::corrupt)
    }
}

/// Log `which`'s tree as the store holds it, and its checkpoint.
async fn load(store: &dyn Store, which: LogName) -> Result<(Tree, Option<Vec<u8>>), StoreError> {
    let (size, note) = store.log_head(which).await?;
    let edges = edge_tiles(size);
    let ids: Vec<TileId> = edges.iter().map(|(id, _)| *id).collect();
    let data = store.log_tiles(which, size, &ids).await?;
    let mut tiles = BTreeMap::new();
    for (id, data) in ids.into_iter().zip(data) {
        if let Some(data) = data {
            tiles.insert(id, data);
        }
    }
    let tree = Tree::from_edges(size, &tiles).map_err(StoreError::corrupt)?;
    Ok((tree, note))
}

/// Opens the logs of `registry`'s settings and reads their latest checkpoints (signing them
/// at first start), so that the node serves them from its first request. An audit log that
/// does not match its checkpoint is reported, not refused: the node starts, not ready.
pub async fn open(registry: &Registry) -> anyhow::Result<()> {
    let settings = &registry.settings.tlog;
    let log = Log::open(
        registry.store.as_ref(),
        &settings.origin,
        settings.key_file.as_deref(),
    )
    .await?
    .with_witnesses(settings)?;
    if let Err(e) = Keeper::start(registry, &log, LogName::Feed).await {
        // The blacklist is served all the same; the keeper tries again every second.
        tracing::error!(error = %e, "the transparency log cannot be read; retrying");
        registry.metrics.log_failures.inc();
    }
    if let Err(e) = Keeper::start(registry, &log, LogName::Audit).await {
        audit_failed(registry, &log, &e);
    }
    let _ = registry.log.set(log);
    Ok(())
}

/// Marks the audit log as not matching its checkpoint: counted, logged, and `/readyz` 503.
fn audit_failed(registry: &Registry, log: &Log, error: &KeeperError) {
    let KeeperError::Tampered(why) = error else {
        tracing::error!(error = %error, "the audit log cannot be checked; retrying");
        return;
    };
    let mut broken = log.audit_broken.write().unwrap_or_else(|e| e.into_inner());
    if broken.as_deref() != Some(why.as_str()) {
        registry.metrics.audit_failures.inc();
        tracing::error!(reason = %why, "the stored audit log does not match its signed checkpoint");
    }
    *broken = Some(why.clone());
}

/// Why a keeper stopped.
#[derive(Debug, thiserror::Error)]
enum KeeperError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// What the store holds contradicts what the log signed.
    #[error("{0}")]
    Tampered(String),
}

/// Grows both logs, the feed's from its events and the audit log from its records, until they
/// cover everything stored; then waits for the index to move (or a second) and grows them
/// again, checking each time that the stored audit records still end where the audit log
/// signed; stops at shutdown.
pub async fn run_log_keeper(registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
    let Some(log) = registry.log.get() else {
        return;
    };
    let mut applied = registry.index.subscribe();
    let mut keepers: [Option<Keeper>; 2] = [None, None];
    loop {
        for (slot, which) in keepers.iter_mut().zip([LogName::Feed, LogName::Audit]) {
            let result = match slot.as_mut() {
                Some(keeper) => keeper.catch_up(&registry, log).await,
                None => Keeper::start(&registry, log, which).await.map(|started| {
                    *slot = Some(started);
                }),
            };
            match (result, which) {
                (Ok(()), LogName::Audit) => {
                    let mut broken = log.audit_broken.write().unwrap_or_else(|e| e.into_inner());
                    if broken.take().is_some() {
                        tracing::info!("the stored audit log matches its signed checkpoint again");
                    }
                }
                (Ok(()), LogName::Feed) => {}
                (Err(e), LogName::Audit) => {
                    audit_failed(&registry, log, &e);
                    *slot = None;
                }
                (Err(e), LogName::Feed) => {
                    tracing::error!(error = %e, "the transparency log cannot grow; retrying");
                    registry.metrics.log_failures.inc();
                    *slot = None;
                }
            }
        }
        tokio::select! {
            _ = applied.changed() => {}
            _ = tokio::time::sleep(IDLE) => {}
            _ = shutdown.changed() => return,
        }
        tokio::time::sleep(GATHER).await;
    }
}

/// The tree this node grows, the size the store holds, and for the audit log the last record
/// the tree covers.
struct Keeper {
    which: LogName,
    tree: Tree,
    stored: u64,
    /// Audit log: the sequence and hash of the record at the tree's size.
    head: (u64, String),
}

impl Keeper {
    /// The tree the store holds; its checkpoint signed again when it is missing or not
    /// signed by this node's key (the key was replaced). For the audit log, the stored
    /// record at the tree's size must be the one the tree's last leaf is.
    async fn start(registry: &Registry, log: &Log, which: LogName) -> Result<Keeper, KeeperError> {
        let store = registry.store.as_ref();
        let (tree, note) = load(store, which).await?;
        let root = tree.root();
        let signed = note.as_deref().and_then(|note| {
            tlog::open_checkpoint(note, log.verifier(), &log.origin(which))
                .ok()
                .filter(|c| c.size == tree.size())
        });
        let mut keeper = Keeper {
            which,
            stored: tree.size(),
            tree,
            head: (0, crate::audit::GENESIS.to_string()),
        };
        if which == LogName::Audit {
            keeper.head = keeper.audit_head(registry).await?;
            keeper.extends_known(registry, log, note.is_some()).await?;
        }
        match signed {
            Some(checkpoint) if checkpoint.root != root => {
                return Err(KeeperError::Tampered(format!(
                    "the {:?} log's checkpoint at {} does not match its tiles",
                    which,
                    keeper.tree.size()
                )));
            }
            Some(_) => log.reset(
                which,
                Checkpoint {
                    size: keeper.tree.size(),
                    root,
                    note: note.unwrap_or_default(),
                },
            ),
            None => {
                let note = log.sign(which, &keeper.tree)?;
                let size = keeper.tree.size();
                if store
                    .grow_log(which, size, size, Vec::new(), note.clone())
                    .await?
                {
                    log.reset(which, Checkpoint { size, root, note });
                }
            }
        }
        if which == LogName::Feed {
            registry.metrics.log_size.set(keeper.tree.size() as i64);
        }
        Ok(keeper)
    }

    /// For the audit log: a non-empty tree must have a checkpoint, and the tree must extend
    /// the latest checkpoint this node accepted (its size reached, its root kept), so that
    /// records rewritten and signed again after this node saw them are caught however the
    /// store's tree was made to match.
    async fn extends_known(
        &self,
        registry: &Registry,
        log: &Log,
        noted: bool,
    ) -> Result<(), KeeperError> {
        let size = self.tree.size();
        if size > 0 && !noted {
            return Err(KeeperError::Tampered(format!(
                "the audit log holds {size} records and no checkpoint"
            )));
        }
        let Some(known) = log.latest(LogName::Audit) else {
            return Ok(());
        };
        if size < known.size {
            return Err(KeeperError::Tampered(format!(
                "the audit log's tree has {size} records, fewer than the {} this node saw signed",
                known.size
            )));
        }
        let root = if size == known.size {
            self.tree.root()
        } else {
            registry
                .tiles_for(LogName::Audit, size, |r| {
                    tlog_tiles::tree_hash(known.size, r)
                })
                .await
                .map_err(|e| KeeperError::Tampered(format!("the audit log's tiles: {e}")))?
        };
        if root != known.root {
            return Err(KeeperError::Tampered(format!(
                "the audit log's first {} records are not the ones this node saw signed",
                known.size
            )));
        }
        Ok(())
    }

    /// The stored audit record at the tree's size, checked against the tree's last leaf
    /// (read from its tile): its sequence and hash.
    async fn audit_head(&self, registry: &Registry) -> Result<(u64, String), KeeperError> {
        let size = self.tree.size();
        if size == 0 {
            return Ok((0, crate::audit::GENESIS.to_string()));
        }
        let record = registry.store.audit(size - 1, 1).await?.into_iter().next();
        let Some(record) = record.filter(|r| r.seq == size) else {
            return Err(KeeperError::Tampered(format!(
                "the audit log signed {size} records, and the store no longer holds record {size}"
            )));
        };
        let leaf = leaf_at(registry.store.as_ref(), LogName::Audit, size - 1).await?;
        if record.sha256 != record.compute_hash()
            || tlog::audit_leaf_hash(record.seq, &record.sha256) != leaf
        {
            return Err(KeeperError::Tampered(format!(
                "audit record {size} is not the one the audit log signed"
            )));
        }
        Ok((record.seq, record.sha256))
    }

    /// Appends what the store holds after the tree, a page at a time, writing and signing
    /// each page; for the audit log, first checks that the record the tree ends with is
    /// still stored as it was.
    async fn catch_up(&mut self, registry: &Registry, log: &Log) -> Result<(), KeeperError> {
        if self.which == LogName::Audit && self.tree.size() > 0 {
            let (stored, _) = registry.store.log_head(LogName::Audit).await?;
            if stored < self.stored {
                return Err(KeeperError::Tampered(format!(
                    "the audit log's stored tree went back from {} records to {stored}",
                    self.stored
                )));
            }
            let head = self.audit_head(registry).await?;
            if head != self.head {
                return Err(KeeperError::Tampered(format!(
                    "audit record {} changed since the audit log signed it",
                    self.head.0
                )));
            }
        }
        loop {
            let appended = match self.which {
                LogName::Feed => self.append_events(registry).await?,
                LogName::Audit => self.append_records(registry).await?,
            };
            if appended == 0 {
                return Ok(());
            }
            self.write(registry, log).await?;
        }
    }

    async fn append_events(&mut self, registry: &Registry) -> Result<usize, KeeperError> {
        let events = registry.store.events(self.tree.size(), PAGE).await?;
        for event in &events {
            if event.seq != self.tree.size() + 1 {
                return Err(StoreError::corrupt(format!(
                    "the feed gives event {} after {}",
                    event.seq,
                    self.tree.size()
                ))
                .into());
            }
            self.tree.append(tlog::leaf_hash(event));
        }
        Ok(events.len())
    }

    /// Appends audit records, each checked to chain to the one before.
    async fn append_records(&mut self, registry: &Registry) -> Result<usize, KeeperError> {
        let records = registry.store.audit(self.tree.size(), PAGE).await?;
        let mut chain = crate::audit::Verifier::after(self.head.0, &self.head.1);
        for record in &records {
            chain
                .check(record)
                .map_err(|e| KeeperError::Tampered(format!("the stored audit log: {e}")))?;
            self.tree
                .append(tlog::audit_leaf_hash(record.seq, &record.sha256));
            self.head = (record.seq, record.sha256.clone());
        }
        Ok(records.len())
    }

    /// Writes the grown tree and its signed checkpoint; when another node wrote first, reads
    /// the tree it wrote instead.
    async fn write(&mut self, registry: &Registry, log: &Log) -> Result<(), KeeperError> {
        let store = registry.store.as_ref();
        let (size, root) = (self.tree.size(), self.tree.root());
        let note = log.sign(self.which, &self.tree)?;
        let tiles = self.tree.take_changed();
        if store
            .grow_log(self.which, self.stored, size, tiles, note.clone())
            .await?
        {
            self.stored = size;
            log.publish(self.which, Checkpoint { size, root, note });
            if self.which == LogName::Feed {
                registry.metrics.log_size.set(size as i64);
            }
        } else {
            *self = Keeper::start(registry, log, self.which).await?;
        }
        Ok(())
    }
}

/// The hash of leaf `index` of log `which`, from its tile.
async fn leaf_at(store: &dyn Store, which: LogName, index: u64) -> Result<Hash, StoreError> {
    let id = (0, index / TILE_WIDTH);
    let data = store.log_tiles(which, index + 1, &[id]).await?;
    let offset = (index % TILE_WIDTH) as usize * tlog_tiles::HASH_SIZE;
    match data.into_iter().next().flatten() {
        Some(data) if data.len() >= offset + tlog_tiles::HASH_SIZE => Ok(Hash(
            data[offset..offset + tlog_tiles::HASH_SIZE]
                .try_into()
                .expect("a hash's length"),
        )),
        _ => Err(StoreError::corrupt(format!(
            "leaf {index} of the {which:?} log is missing"
        ))),
    }
}

impl Registry {
    fn open_log(&self) -> RegistryResult<&Log> {
        self.log.get().ok_or_else(|| {
            if self.settings.mirror.enabled() {
                not_in_log("this mirror has not had the upstream's log key yet")
            } else {
                RegistryError::Internal("the transparency log is not open on this node".into())
            }
        })
    }

    /// The log's verifier key, for pinning.
    pub fn log_verifier(&self) -> RegistryResult<String> {
        Ok(self.open_log()?.verifier().to_string())
    }

    /// The latest signed checkpoint of the feed's log.
    pub fn log_checkpoint(&self) -> RegistryResult<Checkpoint> {
        self.checkpoint_of(LogName::Feed)
    }

    /// The latest checkpoint of the feed's log that the witnesses cosigned, its
    /// cosignatures after the log's signature.
    /// A mirror reads its upstream's when asked (at most once a second) and serves it once
    /// it is consistent with the checkpoint the mirror relays; one newer than that waits.
    pub async fn log_witnessed(&self) -> RegistryResult<(u64, Vec<u8>)> {
        let log = self.open_log()?;
        let none =
            || not_in_log("no witness has cosigned a checkpoint yet (or none is configured)");
        if log.key.is_some() {
            return self.store.log_witnessed().await?.ok_or_else(none);
        }
        let kept = read(&log.relayed_witnessed);
        if let Some((size, note, _)) = kept.as_ref().filter(|(.., at)| at.elapsed() < IDLE) {
            return Ok((*size, note.clone()));
        }
        let kept = kept.map(|(size, note, _)| (size, note));
        let Some((size, note)) = self.store.log_witnessed().await? else {
            return kept.ok_or_else(none);
        };
        let relayed = self.log_checkpoint()?;
        let witnessed = relay::opened(log, &note, "witnessed checkpoint")
            .ok()
            .filter(|w| w.size == size)
            .ok_or_else(|| {
                RegistryError::Store(StoreError::Unavailable(
                    "the upstream's witnessed checkpoint does not bear its log's signature".into(),
                ))
            })?;
        if size > relayed.size {
            return kept.ok_or_else(|| {
                not_in_log("the witnessed checkpoint is newer than the one this mirror relays yet; ask again in a second")
            });
        }
        match relay::prefix(self, size, witnessed.root, &relayed).await {
            Ok(()) => {}
            Err(Some(e)) => return Err(RegistryError::Store(StoreError::unavailable(e))),
            Err(None) => {
                self.metrics.log_failures.inc();
                tracing::error!(
                    size,
                    relayed = relayed.size,
                    "the upstream's witnessed checkpoint is not a prefix of the checkpoint relayed"
                );
                return Err(RegistryError::Store(StoreError::Unavailable(
                "the upstream's witnessed checkpoint is not consistent with the checkpoint this mirror relays".into(),
            )));
            }
        }
        *log.relayed_witnessed
            .write()
            .unwrap_or_else(|e| e.into_inner()) =
            Some((size, note.clone(), std::time::Instant::now()));
        Ok((size, note))
    }

    /// The latest signed checkpoint of the audit log.
    pub fn audit_checkpoint(&self) -> RegistryResult<Checkpoint> {
        self.checkpoint_of(LogName::Audit)
    }

    fn checkpoint_of(&self, which: LogName) -> RegistryResult<Checkpoint> {
        self.open_log()?.latest(which).ok_or_else(no_checkpoint)
    }

    /// The size of the latest checkpoint of log `which`, its note not copied.
    fn checkpoint_size(&self, which: LogName) -> RegistryResult<u64> {
        self.open_log()?
            .latest_size(which)
            .ok_or_else(no_checkpoint)
    }

    /// The size a proof is asked at: `size`, or the latest checkpoint's; never beyond it.
    fn proof_size(&self, size: Option<u64>) -> RegistryResult<u64> {
        let latest = self.checkpoint_size(LogName::Feed)?;
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
        which: LogName,
        size: u64,
        prove: impl Fn(&tlog::Reader) -> Result<T, tlog_tiles::Error>,
    ) -> RegistryResult<T> {
        let needed = tlog::tiles_needed(size, &prove);
        let ids: Vec<TileId> = needed.iter().map(|(id, _)| *id).collect();
        let data = self.store.log_tiles(which, size, &ids).await?;
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
            .tiles_for(LogName::Feed, size, |r| {
                tlog_tiles::prove_record(size, index, r)
            })
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
                    None if leaf_at(self.store.as_ref(), LogName::Feed, rebuilt.seq - 1)
                        .await?
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

    /// The inclusion proof of the listing of entry `entry_id` of `domain` in the latest
    /// checkpoint's tree; none while the checkpoint does not cover it yet.
    pub async fn prove_listing(
        &self,
        domain: &crate::domain::DomainName,
        entry_id: uuid::Uuid,
    ) -> RegistryResult<Option<Inclusion>> {
        let history = self.store.history(domain).await?;
        let Some(entry) = history.into_iter().find(|e| e.id == entry_id) else {
            return Ok(None);
        };
        let (_, proofs) = self.prove_entries(std::slice::from_ref(&entry)).await?;
        Ok(proofs.into_iter().find(|p| p.event.seq == entry.seq))
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
            .tiles_for(LogName::Feed, size, |r| {
                tlog_tiles::prove_tree(size, old, r)
            })
            .await?;
        Ok((size, proof))
    }

    /// The bytes of tile `path` as C2SP `tlog-tiles` serves them: hashes from the store,
    /// entries (each a big-endian 16-bit length and the leaf) from the feed while it holds
    /// them. Only what the latest checkpoint covers.
    pub async fn log_tile(&self, path: TilePath) -> RegistryResult<bytes::Bytes> {
        let log = self.open_log()?;
        let size = self.checkpoint_size(LogName::Feed)?;
        match path {
            TilePath::Hashes {
                level,
                index,
                width,
            } => {
                if tile_width(size, (level, index)) < width {
                    return Err(not_in_log("the log has no such tile yet"));
                }
                let full = width == TILE_WIDTH;
                if full && let Some(data) = lock(&log.full_tiles).get(&(level, index)) {
                    return Ok(data.clone());
                }
                let data = self
                    .store
                    .log_tiles(LogName::Feed, size, &[(level, index)])
                    .await?;
                let want = width as usize * tlog_tiles::HASH_SIZE;
                let data = match data.into_iter().next().flatten() {
                    Some(data) if data.len() >= want => {
                        bytes::Bytes::copy_from_slice(&data[..want])
                    }
                    _ => return Err(not_in_log("the log has no such tile")),
                };
                if full {
                    let mut cached = lock(&log.full_tiles);
                    if cached.len() >= CACHED_TILES {
                        cached.clear();
                    }
                    cached.insert((level, index), data.clone());
                }
                Ok(data)
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
                Ok(bundle.into())
            }
        }
    }
}

/// The feed events an entry made, rebuilt from it: its listing (a suspension's, when it was
/// one), and its lift or the end of its suspension (a suspension replaced by a listing has
/// none: the listing's event took its place).
fn events_of(entry: &Entry) -> Vec<Event> {
    use crate::model::{EntryStatus, EventKind};
    let mut listed = Event::listed(entry);
    if matches!(entry.status, EntryStatus::Expired | EntryStatus::Replaced) {
        listed.kind = EventKind::Suspended;
    }
    let mut events = vec![listed];
    if entry.lift.is_some() && entry.status != EntryStatus::Replaced {
        events.push(Event::lifted(entry));
    }
    events
}

fn no_checkpoint() -> RegistryError {
    not_in_log("the log has no checkpoint yet")
}

fn not_in_log(message: impl Into<String>) -> RegistryError {
    RegistryError::Absent {
        code: "not_in_log",
        message: message.into(),
    }
}
