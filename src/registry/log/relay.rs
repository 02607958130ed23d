//! A mirror's relay of its upstream's transparency log. The mirror serves the upstream's
//! signed checkpoints, tiles and proofs (its store reads them from the upstream), each
//! checkpoint only once it is checked here:
//!
//! - signed by the pinned key (`mirror.log_key`, or the key the upstream gave at start);
//! - consistent with the checkpoint relayed before (a smaller one, from a node of several
//!   a moment behind, is passed over);
//! - committing to the events the mirror relays in its own feed: the mirror grows a tree of
//!   its own from them, from the upstream's tiles where its window starts, up to the
//!   checkpoint's size, and checks it is the checkpoint's tree or a prefix of it.
//!
//! The upstream's witnessed checkpoint is read when asked for, and served once it is consistent
//! with the checkpoint relayed (`Registry::log_witnessed`). A checkpoint that fails is not relayed; the mirror keeps serving the last one that
//! passed, counts `siteban_log_failures_total`, and answers `/readyz` 503 with the reason until
//! a checkpoint passes again. The relay reads the upstream's checkpoint at most once a second
//! while the mirror's feed is ahead of it, and once a minute when it is not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::{Checkpoint, IDLE, Log, PAGE, lock};
use crate::registry::{Registry, RegistryError};
use crate::store::StoreError;
use crate::store::log::LogName;
use crate::tlog::tree::edge_tiles;
use crate::tlog::{self, TileId, Tree};

/// How long the relay waits when the checkpoint it relays covers the mirror's feed, unless
/// the feed moves; and the longest wait between attempts to read the upstream's log key.
const QUIET: Duration = Duration::from_secs(60);

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
pub(super) enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The upstream's log contradicts its key, its earlier checkpoints, or its feed.
    #[error("{0}")]
    Contradicted(String),
}

/// Relays the upstream's log on a mirror: learns its key, then checks each new checkpoint
/// before serving it; stops at shutdown.
pub async fn run_log_relay(registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
    let Some(log) = open_relayed(&registry, &mut shutdown).await else {
        return;
    };
    let mut applied = registry.index.subscribe();
    let mut relay = Relay::default();
    loop {
        applied.borrow_and_update();
        let result = relay.round(&registry, log).await;
        let settled = result.is_ok();
        match result {
            Ok(false) => {}
            Ok(true) => {
                let mut broken = log.relay_broken.write().unwrap_or_else(|e| e.into_inner());
                if broken.take().is_some() {
                    tracing::info!("the upstream's log checks out again");
                }
            }
            Err(RelayError::Contradicted(why)) => {
                registry.metrics.log_failures.inc();
                let mut broken = log.relay_broken.write().unwrap_or_else(|e| e.into_inner());
                if broken.as_deref() != Some(why.as_str()) {
                    tracing::error!(reason = %why, "the upstream's transparency log does not check out; relaying the last checkpoint that did");
                }
                *broken = Some(why);
                // Tiles read before may be the ones that did not check out.
                lock(&log.full_tiles).clear();
                relay = Relay::default();
            }
            Err(e) => {
                registry.metrics.log_failures.inc();
                tracing::warn!(error = %e, "cannot relay the upstream's log; retrying");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE) => {}
            _ = shutdown.changed() => return,
        }
        let covered = log
            .latest_size(LogName::Feed)
            .is_some_and(|size| size >= registry.index.seq());
        if settled && covered {
            tokio::select! {
                _ = applied.changed() => {}
                _ = tokio::time::sleep(QUIET) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// The relayed log, once the upstream's key is known: `mirror.log_key`, or the key the
/// upstream publishes (asked again, less and less often, while it cannot be read).
async fn open_relayed<'r>(
    registry: &'r Registry,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<&'r Log> {
    let settings = &registry.settings.mirror;
    let origin = Some(settings.log_origin.as_str()).filter(|o| !o.is_empty());
    let mut pause = IDLE;
    let mut said = false;
    loop {
        let failure = match registry.store.relayed_log_key().await {
            Ok(Some(key)) => match Log::relayed(&key, origin) {
                Ok(log) => {
                    let _ = registry.log.set(log);
                    return registry.log.get();
                }
                Err(e) => format!("the upstream's log key is not usable: {e}"),
            },
            Ok(None) => return None,
            Err(e) => format!("cannot read the upstream's log key: {e}"),
        };
        if !said {
            tracing::warn!(error = %failure, "the transparency log is not relayed until the upstream's key is read; retrying");
            said = true;
        } else {
            tracing::debug!(error = %failure, "the upstream's log key is still not read");
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = shutdown.changed() => return None,
        }
        pause = (pause * 2).min(QUIET);
    }
}

/// The tree of the events this mirror relayed, checked up to the last checkpoint relayed.
#[derive(Default)]
struct Relay {
    tree: Option<Tree>,
}

impl Relay {
    /// Reads the upstream's checkpoint and relays it if it checks out; answers whether one
    /// was checked (none is when there is none yet, or it is older than the one relayed).
    async fn round(&mut self, registry: &Registry, log: &Log) -> Result<bool, RelayError> {
        let (size, note) = registry.store.log_head(LogName::Feed).await?;
        let known = log.latest(LogName::Feed);
        let Some(note) = note else {
            if known.is_some() {
                return Err(StoreError::Unavailable(
                    "the upstream serves no checkpoint any more".into(),
                )
                .into());
            }
            return Ok(false);
        };
        let checkpoint = opened(log, &note, "checkpoint")?;
        if checkpoint.size != size {
            return Err(StoreError::Unavailable(format!(
                "the upstream's checkpoint of {} events came with X-Log-Size {size}",
                checkpoint.size
            ))
            .into());
        }
        let checkpoint = Checkpoint {
            size: checkpoint.size,
            root: checkpoint.root,
            note,
        };
        match &known {
            // A node of several behind a load balancer, a moment behind the one read before.
            Some(known) if checkpoint.size < known.size => return Ok(false),
            Some(known) => {
                prefix(registry, known.size, known.root, &checkpoint)
                    .await
                    .map_err(|held| {
                        held.unwrap_or_else(|| {
                            RelayError::Contradicted(format!(
                                "the upstream's checkpoint of {} events does not extend the one of {} relayed before",
                                checkpoint.size, known.size
                            ))
                        })
                    })?;
            }
            None => {}
        }
        self.check_feed(registry, &checkpoint).await?;
        registry.metrics.log_size.set(checkpoint.size as i64);
        log.publish(LogName::Feed, checkpoint.clone());
        Ok(true)
    }

    /// Grows the tree of the mirror's own feed up to `checkpoint` (as far as the feed goes),
    /// and checks it is the checkpoint's tree or a prefix of it. The tree starts where the
    /// mirror's window starts, from the upstream's tiles, once a checkpoint covers that.
    async fn check_feed(
        &mut self,
        registry: &Registry,
        checkpoint: &Checkpoint,
    ) -> Result<(), RelayError> {
        let store = registry.store.as_ref();
        if self.tree.is_none() {
            let start = match store.events(0, 1).await {
                Ok(events) => events.first().map_or(0, |e| e.seq - 1),
                Err(StoreError::SnapshotRequired { oldest }) => oldest.saturating_sub(1),
                Err(e) => return Err(e.into()),
            };
            if start > checkpoint.size {
                return Ok(());
            }
            let ids: Vec<TileId> = edge_tiles(start).iter().map(|(id, _)| *id).collect();
            let data = store
                .log_tiles(LogName::Feed, checkpoint.size, &ids)
                .await?;
            let tiles: BTreeMap<TileId, Vec<u8>> = ids
                .into_iter()
                .zip(data)
                .filter_map(|(id, data)| Some((id, data?)))
                .collect();
            self.tree = Some(Tree::from_edges(start, &tiles).map_err(StoreError::corrupt)?);
        }
        let tree = self.tree.as_mut().expect("the tree was just made");
        while tree.size() < checkpoint.size {
            let want = (checkpoint.size - tree.size()).min(PAGE as u64) as usize;
            let events = match store.events(tree.size(), want).await {
                Ok(events) => events,
                Err(StoreError::SnapshotRequired { .. }) => {
                    // The mirror loaded its set again: start again where its window starts.
                    self.tree = None;
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            if events.is_empty() {
                break;
            }
            for event in &events {
                if event.seq != tree.size() + 1 {
                    return Err(StoreError::corrupt(format!(
                        "the mirror's feed gives event {} after {}",
                        event.seq,
                        tree.size()
                    ))
                    .into());
                }
                tree.append(tlog::leaf_hash(event));
            }
            tree.take_changed();
        }
        let (size, root) = (tree.size(), tree.root());
        prefix(registry, size, root, checkpoint)
            .await
            .map_err(|held| {
                held.unwrap_or_else(|| {
                    RelayError::Contradicted(format!(
                        "the upstream's feed up to event {size} is not what its log of {} events holds",
                        checkpoint.size
                    ))
                })
            })
    }
}

/// Opens `note`, the upstream's `what`, against the pinned key and origin.
pub(super) fn opened(log: &Log, note: &[u8], what: &str) -> Result<tlog::Verified, RelayError> {
    tlog::open_checkpoint(note, log.verifier(), &log.origin(LogName::Feed))
        .map_err(|e| RelayError::Contradicted(format!("the upstream's {what}: {e}")))
}

/// Checks that the tree of `size` leaves with root `root` is `checkpoint`'s tree or a prefix
/// of it (a consistency proof from the upstream's tiles). `Err(None)`: it is not; `Err(Some)`:
/// the check could not be made.
pub(super) async fn prefix(
    registry: &Registry,
    size: u64,
    root: tlog_tiles::Hash,
    checkpoint: &Checkpoint,
) -> Result<(), Option<RelayError>> {
    let holds = if size == checkpoint.size {
        root == checkpoint.root
    } else if size == 0 {
        true
    } else if size > checkpoint.size {
        false
    } else {
        let proof = registry
            .tiles_for(LogName::Feed, checkpoint.size, |r| {
                tlog_tiles::prove_tree(checkpoint.size, size, r)
            })
            .await
            .map_err(|e| Some(e.into()))?;
        tlog::check_consistency(&proof, checkpoint.size, checkpoint.root, size, root)
    };
    if holds { Ok(()) } else { Err(None) }
}
