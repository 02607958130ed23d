//! The in-memory index that answers every check. Reads are lock-free: a check loads the current
//! [`View`] through `ArcSwap` and never waits on a writer or on the store. Writes come only from
//! the feed, in sequence order, through [`Index::apply`].
//!
//! A view is a compact immutable base [`table::Table`] plus a small overlay of changes since the
//! base was built. Each apply publishes a new view with a copied overlay; when the overlay grows
//! past `overlay_max`, a background thread folds it into a new base, so the cost of a write stays
//! bounded by the overlay size rather than the number of entries.

pub mod recent;
pub mod snapshot;
pub mod table;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::watch;
use uuid::Uuid;

use crate::domain::{Category, Scope};
use crate::model::{ActiveRecord, Event, EventKind};
pub use table::Record;
use table::Table;

/// Status byte of an index record; only active entries are held today.
pub const STATUS_ACTIVE: u8 = 0;
/// An emergency suspension: checked as listed, left out of the RPZ.
pub const STATUS_SUSPENDED: u8 = 1;

type Overlay = hashbrown::HashMap<Arc<str>, (Option<Record>, u64), foldhash::fast::RandomState>;

/// One consistent state of the index: every name in it is as of `seq`.
pub struct View {
    base: Arc<Table>,
    /// Names changed since `base` was built: `Some` for listed, `None` for lifted, each with the
    /// sequence number that set it (used to know what a finished merge already holds).
    overlay: Arc<Overlay>,
    seq: u64,
    active: usize,
}

/// The answer to a lookup: the most specific matching entry, if any, and the view's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lookup {
    pub seq: u64,
    pub hit: Option<Hit>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Byte offset in the looked-up name where the matching entry's name starts.
    pub start: usize,
    pub record: Record,
}

impl Hit {
    pub fn entry_id(&self) -> Uuid {
        Uuid::from_bytes(self.record.entry_id)
    }

    pub fn scope(&self) -> Scope {
        Scope::from_u8(self.record.scope).unwrap_or_default()
    }

    pub fn category(&self) -> Category {
        Category::from_u8(self.record.category).unwrap_or(Category::Other)
    }

    /// The entry's status as checks report it: `active` or `suspended`.
    pub fn status(&self) -> &'static str {
        if self.record.is_suspended() {
            "suspended"
        } else {
            "active"
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IndexError {
    #[error("feed gap: expected event {expected}, got {got}")]
    Gap { expected: u64, got: u64 },
}

pub struct Index {
    view: ArcSwap<View>,
    /// Serialises writers; readers never take it.
    writer: Mutex<()>,
    applied: watch::Sender<u64>,
    overlay_max: usize,
    merging: AtomicBool,
    seed: u64,
    /// The JSON snapshot of the latest view asked for, shared by every request for it.
    pub snapshot: snapshot::Shared,
}

impl Index {
    pub fn new(overlay_max: usize) -> Arc<Index> {
        let seed = rand::random();
        let (applied, _) = watch::channel(0);
        Arc::new(Index {
            view: ArcSwap::from_pointee(View {
                base: Arc::new(Table::empty(seed)),
                overlay: Arc::default(),
                seq: 0,
                active: 0,
            }),
            writer: Mutex::new(()),
            applied,
            overlay_max: overlay_max.max(1),
            merging: AtomicBool::new(false),
            seed,
            snapshot: snapshot::Shared::default(),
        })
    }

    /// Replaces the whole index with `records`, the active set as of `seq`.
    pub fn load(&self, seq: u64, records: &[ActiveRecord]) {
        let base = Table::build(
            self.seed,
            records.len(),
            records.iter().map(|r| (r.domain.as_str(), record_of(r))),
        );
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        self.view.store(Arc::new(View {
            active: base.len(),
            base: Arc::new(base),
            overlay: Arc::default(),
            seq,
        }));
        self.applied.send_replace(seq);
    }

    /// Applies feed events in order. Events at or below the current sequence are skipped, so a
    /// replay after a non-atomic load converges; a gap stops the batch with an error.
    pub fn apply(self: &Arc<Self>, events: &[Event]) -> Result<(), IndexError> {
        let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.view.load_full();
        let mut overlay: Option<Overlay> = None;
        let (mut seq, mut active) = (current.seq, current.active);
        let mut result = Ok(());
        for event in events {
            if event.seq <= seq {
                continue;
            }
            if event.seq != seq + 1 {
                result = Err(IndexError::Gap {
                    expected: seq + 1,
                    got: event.seq,
                });
                break;
            }
            let overlay = overlay.get_or_insert_with(|| (*current.overlay).clone());
            let name = event.domain.as_str();
            let existing = match overlay.get(name) {
                Some((record, _)) => *record,
                None => current.base.get(name),
            };
            match event.kind {
                EventKind::Listed | EventKind::Suspended => {
                    // A listing may take the place of the name's suspension (a case closed).
                    let record = Record {
                        entry_id: event.entry_id.into_bytes(),
                        scope: event.scope.to_u8(),
                        category: event.category.to_u8(),
                        status: if event.kind == EventKind::Suspended {
                            STATUS_SUSPENDED
                        } else {
                            STATUS_ACTIVE
                        },
                    };
                    overlay.insert(name.into(), (Some(record), event.seq));
                    if existing.is_none() {
                        active += 1;
                    }
                }
                EventKind::Lifted | EventKind::Expired => {
                    // Only the entry the event names is removed: during a replay the name may
                    // already hold a newer listing.
                    if existing.is_some_and(|r| r.entry_id == event.entry_id.into_bytes()) {
                        overlay.insert(name.into(), (None, event.seq));
                        active -= 1;
                    }
                }
            }
            seq = event.seq;
        }
        if seq != current.seq {
            let overlay = overlay
                .map(Arc::new)
                .unwrap_or_else(|| current.overlay.clone());
            let overlay_len = overlay.len();
            self.view.store(Arc::new(View {
                base: current.base.clone(),
                overlay,
                seq,
                active,
            }));
            self.applied.send_replace(seq);
            if overlay_len > self.overlay_max && !self.merging.swap(true, Ordering::AcqRel) {
                let index = Arc::clone(self);
                std::thread::Builder::new()
                    .name("index-merge".into())
                    .spawn(move || index.merge())
                    .map_err(|e| tracing::error!(error = %e, "cannot start the index merge"))
                    .ok();
            }
        }
        result
    }

    /// Folds the overlay of the current view into a new base, then publishes a view whose
    /// overlay keeps only what was applied while the merge ran.
    fn merge(&self) {
        let snapshot = self.view.load_full();
        let base = Table::build(
            self.seed,
            snapshot.active,
            snapshot
                .base
                .iter()
                .filter(|(name, _)| !snapshot.overlay.contains_key(*name))
                .chain(
                    snapshot
                        .overlay
                        .iter()
                        .filter_map(|(name, (record, _))| record.map(|r| (&**name, r))),
                ),
        );
        let base = Arc::new(base);
        {
            let _writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            let current = self.view.load_full();
            let overlay: Overlay = current
                .overlay
                .iter()
                .filter(|(_, (_, seq))| *seq > snapshot.seq)
                .map(|(name, value)| (name.clone(), *value))
                .collect();
            self.view.store(Arc::new(View {
                base,
                overlay: Arc::new(overlay),
                seq: current.seq,
                active: current.active,
            }));
        }
        self.merging.store(false, Ordering::Release);
    }

    /// Finds the most specific entry matching `name` (normalised, no trailing dot): the name
    /// itself under any scope, or the nearest parent with a subtree entry.
    pub fn lookup(&self, name: &str) -> Lookup {
        let view = self.view.load();
        Lookup {
            seq: view.seq,
            hit: view.find(name),
        }
    }

    /// The current consistent view, for snapshots.
    pub fn view(&self) -> Arc<View> {
        self.view.load_full()
    }

    pub fn seq(&self) -> u64 {
        self.view.load().seq
    }

    pub fn len(&self) -> usize {
        self.view.load().active
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Follows the applied sequence: the receiver sees every new sequence this index applies
    /// or loads (intermediate values may be skipped).
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.applied.subscribe()
    }

    /// Waits until the index has applied `seq`, for at most `timeout`. Returns whether it did.
    pub async fn wait_for(&self, seq: u64, timeout: Duration) -> bool {
        let mut applied = self.applied.subscribe();
        tokio::time::timeout(timeout, applied.wait_for(|&s| s >= seq))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

impl View {
    fn get(&self, name: &str) -> Option<Record> {
        match self.overlay.get(name) {
            Some((record, _)) => *record,
            None => self.base.get(name),
        }
    }

    /// See [`Index::lookup`].
    pub fn find(&self, name: &str) -> Option<Hit> {
        let mut start = 0;
        loop {
            let suffix = &name[start..];
            if let Some(record) = self.get(suffix)
                && (start == 0 || record.is_subtree())
            {
                return Some(Hit { start, record });
            }
            match suffix.bytes().position(|b| b == b'.') {
                Some(dot) => start += dot + 1,
                None => return None,
            }
        }
    }

    pub fn seq(&self) -> u64 {
        self.seq
    }

    pub fn len(&self) -> usize {
        self.active
    }

    pub fn is_empty(&self) -> bool {
        self.active == 0
    }

    /// Every active name with its record, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Record)> {
        self.base
            .iter()
            .filter(|(name, _)| !self.overlay.contains_key(*name))
            .chain(
                self.overlay
                    .iter()
                    .filter_map(|(name, (record, _))| record.map(|r| (&**name, r))),
            )
    }

    pub fn heap_bytes(&self) -> usize {
        self.base.heap_bytes() + self.overlay.len() * 64
    }
}

fn record_of(record: &ActiveRecord) -> Record {
    Record {
        entry_id: record.entry_id.into_bytes(),
        scope: record.scope.to_u8(),
        category: record.category.to_u8(),
        status: if record.suspended {
            STATUS_SUSPENDED
        } else {
            STATUS_ACTIVE
        },
    }
}

#[cfg(test)]
mod tests;
