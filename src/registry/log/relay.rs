//! A mirror's relay of its upstream's transparency log. The mirror serves the upstream's
//! signed checkpoints, tiles and proofs (its store reads them from the upstream), each
//! checkpoint only once it is checked here:
//!
//! - signed by the pinned key (`mirror.log_key`, or the key the upstream gave at start);
//! - consistent with the checkpoint relayed before (never smaller, never another tree);
//! - committing to the events the mirror relays in its own feed: the mirror grows a tree of
//!   its own from them, from the upstream's tiles where its window starts, and proves it a
//!   prefix of the upstream's.
//!
//! A checkpoint that fails is not relayed; the mirror keeps serving the last one that passed,
//! counts `siteban_log_failures_total`, and answers `/readyz` 503 with the reason until a
//! checkpoint passes again.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use tlog_tiles::Hash;
use tokio::sync::watch;

use super::{Checkpoint, IDLE, Log, PAGE};
use crate::registry::{Registry, RegistryError};
use crate::store::StoreError;
use crate::store::log::LogName;
use crate::tlog::tree::edge_tiles;
use crate::tlog::{self, TileId, Tree};

/// How many sizes of the relayed tree are kept with their roots, for the next checkpoints to
/// be proved against.
const ROOTS: usize = 256;

/// Why a round failed.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The upstream's log contradicts its key, its earlier checkpoints, or its feed.
    #[error("{0}")]
    Contradicted(String),
}

/// Relays the upstream's log on a mirror: learns its key, then checks each new checkpoint
/// (after every page of the feed applied, or every second) before serving it; stops at
/// shutdown.
pub async fn run_log_relay(registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
    let log = loop {
        match registry.store.relayed_log_key().await {
            Ok(Some(key)) => match Log::relayed(&key) {
                Ok(log) => {
                    let _ = registry.log.set(log);
                    break registry.log.get().expect("just set");
                }
                Err(e) => tracing::error!(error = %e, "the upstream's log key is not usable"),
            },
            Ok(None) => return,
            Err(e) => tracing::warn!(error = %e, "cannot read the upstream's log key; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(IDLE) => {}
            _ = shutdown.changed() => return,
        }
    };
    let mut applied = registry.index.subscribe();
    let mut relay = Relay::default();
    loop {
        match relay.round(&registry, log).await {
            Ok(()) => {
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
                relay = Relay::default();
            }
            Err(e) => {
                registry.metrics.log_failures.inc();
                tracing::warn!(error = %e, "cannot relay the upstream's log; retrying");
            }
        }
        tokio::select! {
            _ = applied.changed() => {}
            _ = tokio::time::sleep(IDLE) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// The tree of the events this mirror relayed, and its roots at recent sizes not yet proved
/// to be the upstream's.
#[derive(Default)]
struct Relay {
    tree: Option<Tree>,
    roots: VecDeque<(u64, Hash)>,
}

impl Relay {
    async fn round(&mut self, registry: &Registry, log: &Log) -> Result<(), RelayError> {
        let (_, note) = registry.store.log_head(LogName::Feed).await?;
        let Some(note) = note else {
            return Ok(());
        };
        let checkpoint =
            tlog::open_checkpoint(&note, log.verifier(), &log.origin(LogName::Feed))
                .map_err(|e| RelayError::Contradicted(format!("the upstream's checkpoint: {e}")))?;
        let checkpoint = Checkpoint {
            size: checkpoint.size,
            root: checkpoint.root,
            note,
        };
        if let Some(known) = log.latest(LogName::Feed) {
            consistent(registry, &known, &checkpoint).await?;
        }
        self.grow(registry, checkpoint.size).await?;
        self.prove(registry, &checkpoint).await?;
        registry.metrics.log_size.set(checkpoint.size as i64);
        log.publish(LogName::Feed, checkpoint);
        Ok(())
    }

    /// Appends the events of the mirror's window after the tree; starts the tree, at the
    /// window's start, from the upstream's tiles once its checkpoint covers that start.
    async fn grow(&mut self, registry: &Registry, size: u64) -> Result<(), RelayError> {
        let store = registry.store.as_ref();
        let tree = match self.tree.as_mut() {
            Some(tree) => tree,
            None => {
                let start = match store.events(0, 1).await {
                    Ok(events) => events.first().map_or(0, |e| e.seq - 1),
                    Err(StoreError::SnapshotRequired { oldest }) => oldest.saturating_sub(1),
                    Err(e) => return Err(e.into()),
                };
                if start > size {
                    return Ok(());
                }
                let ids: Vec<TileId> = edge_tiles(start).iter().map(|(id, _)| *id).collect();
                let data = store.log_tiles(LogName::Feed, &ids).await?;
                let tiles: BTreeMap<TileId, Vec<u8>> = ids
                    .into_iter()
                    .zip(data)
                    .filter_map(|(id, data)| Some((id, data?)))
                    .collect();
                let tree = Tree::from_edges(start, &tiles).map_err(StoreError::corrupt)?;
                self.roots.push_back((start, tree.root()));
                self.tree.insert(tree)
            }
        };
        loop {
            let events = match store.events(tree.size(), PAGE).await {
                Ok(events) => events,
                Err(StoreError::SnapshotRequired { .. }) => {
                    // The mirror loaded its set again: start again where its window starts.
                    *self = Relay::default();
                    return Ok(());
                }
                Err(e) => return Err(e.into()),
            };
            if events.is_empty() {
                return Ok(());
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
            if self.roots.len() >= ROOTS {
                self.roots.pop_front();
            }
            self.roots.push_back((tree.size(), tree.root()));
        }
    }

    /// Proves the relayed tree, at the largest size kept that `checkpoint` covers, a prefix of
    /// the checkpoint's tree: the events this mirror relayed up to there are the ones the
    /// upstream's log holds.
    async fn prove(
        &mut self,
        registry: &Registry,
        checkpoint: &Checkpoint,
    ) -> Result<(), RelayError> {
        let Some(&(size, root)) = self.roots.iter().rev().find(|(s, _)| *s <= checkpoint.size)
        else {
            return Ok(());
        };
        let holds = if size == 0 {
            true
        } else if size == checkpoint.size {
            root == checkpoint.root
        } else {
            let proof = registry
                .tiles_for(LogName::Feed, checkpoint.size, |r| {
                    tlog_tiles::prove_tree(checkpoint.size, size, r)
                })
                .await?;
            tlog::check_consistency(&proof, checkpoint.size, checkpoint.root, size, root)
        };
        if !holds {
            return Err(RelayError::Contradicted(format!(
                "the upstream's feed up to event {size} is not what its log of {} events holds",
                checkpoint.size
            )));
        }
        self.roots.retain(|(s, _)| *s >= size);
        Ok(())
    }
}

/// Checks that `checkpoint` extends `known`, the one relayed before: not smaller, the same
/// tree at the same size, and a consistency proof from its tiles that holds.
async fn consistent(
    registry: &Registry,
    known: &Checkpoint,
    checkpoint: &Checkpoint,
) -> Result<(), RelayError> {
    if checkpoint.size < known.size {
        return Err(RelayError::Contradicted(format!(
            "the upstream's log went back from {} events to {}",
            known.size, checkpoint.size
        )));
    }
    let holds = if checkpoint.size == known.size {
        checkpoint.root == known.root
    } else if known.size == 0 {
        true
    } else {
        let proof = registry
            .tiles_for(LogName::Feed, checkpoint.size, |r| {
                tlog_tiles::prove_tree(checkpoint.size, known.size, r)
            })
            .await?;
        tlog::check_consistency(
            &proof,
            checkpoint.size,
            checkpoint.root,
            known.size,
            known.root,
        )
    };
    if holds {
        Ok(())
    } else {
        Err(RelayError::Contradicted(format!(
            "the upstream's checkpoint of {} events does not extend the one of {} relayed before",
            checkpoint.size, known.size
        )))
    }
}
