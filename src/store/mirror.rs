//! The store of an edge mirror: no database, but the registry it follows over HTTPS. The active
//! set comes from the upstream's snapshot (or, at start, from the mirror's local copy), changes
//! from long-polls of its feed; the latest events are kept for the mirror's own feed and IXFR.
//! The keys are the mirror's own, from its settings. Everything else a registry node stores, a
//! mirror does not hold: those methods answer `StoreError::Mirror` (`mirror/refused.rs`), and
//! the API refuses such requests before they get here.
//!
//! - `mirror/upstream.rs`: the HTTP client of the upstream's feed and snapshot.
//! - `mirror/refused.rs`: the methods a mirror does not serve.

mod refused;
mod upstream;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::{ActiveSet, EntryQuery, FollowBatch, FollowCursor, Store, StoreError, StoreResult};
use crate::audit::{AuditEvent, AuditRecord};
use crate::domain::{DomainName, Role};
use crate::model::{
    Entry, Event, KeyRecord, NewEntry, PendingLift, ProtectedName, Review, ReviewedLift, Timestamp,
};
use crate::settings::Settings;
pub use upstream::Upstream;

/// The latest events, after `base`: the sequence the active set was loaded at.
struct Window {
    base: u64,
    events: VecDeque<Event>,
    capacity: usize,
    /// The upstream's newest sequence, as its last answer said.
    head: u64,
}

impl Window {
    fn last(&self) -> u64 {
        self.base + self.events.len() as u64
    }

    fn push(&mut self, events: &[Event]) {
        for event in events {
            if event.seq != self.last() + 1 {
                // The follower applies the same batch and reloads on a gap; keep the window
                // contiguous by starting it over here.
                self.events.clear();
                self.base = event.seq - 1;
            }
            self.events.push_back(event.clone());
            if self.events.len() > self.capacity {
                self.events.pop_front();
                self.base += 1;
            }
        }
        self.head = self.head.max(self.last());
    }
}

pub struct MirrorStore {
    upstream: Upstream,
    copy: PathBuf,
    window: Mutex<Window>,
    keys: Vec<KeyRecord>,
    /// Whether the first load, which reads the local copy, has been made.
    started: AtomicBool,
}

impl MirrorStore {
    /// A mirror of `settings.mirror.upstream`; nothing is fetched yet.
    pub fn new(settings: &Settings) -> anyhow::Result<MirrorStore> {
        let mirror = &settings.mirror;
        let keys = mirror
            .keys
            .iter()
            .map(|key| KeyRecord {
                id: format!("mirror-{}", key.name),
                name: key.name.clone(),
                role: Role::parse(&key.role).unwrap_or(Role::Auditor),
                province: None,
                token_sha256: key.token_sha256.clone(),
                provider_id: None,
                created_at: Timestamp::now(),
                expires_at: None,
            })
            .collect();
        Ok(MirrorStore {
            upstream: Upstream::new(mirror)?,
            copy: copy_path(settings),
            window: Mutex::new(Window {
                base: 0,
                events: VecDeque::new(),
                capacity: mirror.feed_window as usize,
                head: 0,
            }),
            keys,
            started: AtomicBool::new(false),
        })
    }

    /// Where the local copy is kept.
    pub fn copy_path(&self) -> &Path {
        &self.copy
    }

    fn window(&self) -> std::sync::MutexGuard<'_, Window> {
        self.window.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The active set from the local copy, if there is a readable one.
    async fn read_copy(&self) -> Option<ActiveSet> {
        let path = self.copy.clone();
        let read = tokio::task::spawn_blocking(move || -> Result<Option<ActiveSet>, String> {
            let bytes = match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(e.to_string()),
            };
            // The copy was current when it was saved, and is as stale as that is old.
            let age = std::fs::metadata(&path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|saved| saved.elapsed().ok())
                .unwrap_or_default();
            let (seq, records) = crate::index::snapshot::read_json(&bytes)?;
            Ok(Some(ActiveSet {
                seq,
                records,
                age: Some(age),
            }))
        })
        .await;
        match read {
            Ok(Ok(set)) => set,
            Ok(Err(e)) => {
                tracing::warn!(path = %self.copy.display(), error = %e, "the mirror's local copy is unreadable; loading from the upstream");
                None
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the mirror's local copy failed");
                None
            }
        }
    }
}

/// The local copy's path: `mirror.copy_path`, else `<store.path>/mirror-copy.json`.
pub fn copy_path(settings: &Settings) -> PathBuf {
    settings
        .mirror
        .copy_path
        .clone()
        .unwrap_or_else(|| settings.store.path.join("mirror-copy.json"))
}

/// Writes the local copy with `write`, atomically: a temporary file beside it, synced, then
/// renamed over it, so that a crash leaves the old copy or the new one, never half of one.
pub fn save_copy(
    path: &Path,
    write: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    use std::io::Write;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
    }
    let temporary = path.with_extension("json.partial");
    let file = std::fs::File::create(&temporary)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
    write(&mut out)?;
    out.flush()?;
    out.get_ref().sync_all()?;
    drop(out);
    std::fs::rename(&temporary, path)?;
    if let Some(dir) = dir {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The error of everything a mirror does not hold.
fn holds_no(what: &'static str) -> StoreError {
    StoreError::Mirror(what)
}

#[async_trait]
impl Store for MirrorStore {
    async fn events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let window = self.window();
        if after < window.base {
            return Err(StoreError::SnapshotRequired {
                oldest: window.base + 1,
            });
        }
        let skip = (after - window.base) as usize;
        Ok(window
            .events
            .iter()
            .skip(skip)
            .take(super::clamp_limit(limit))
            .cloned()
            .collect())
    }

    async fn head(&self) -> StoreResult<u64> {
        Ok(self.window().head)
    }

    async fn follow(&self, cursor: FollowCursor, _block: Duration) -> StoreResult<FollowBatch> {
        let keys = (cursor.keys_version != 1).then(|| (1, self.keys.clone()));
        let page = self.upstream.feed(cursor.seq).await?;
        if page.head < cursor.seq {
            // The upstream is behind what this mirror applied: restored from an older copy,
            // or its feed was given to other writes. Load its set again.
            return Err(StoreError::corrupt(format!(
                "the upstream is at {} but this mirror applied {}",
                page.head, cursor.seq
            )));
        }
        let mut window = self.window();
        if window.last() != cursor.seq {
            window.events.clear();
            window.base = cursor.seq;
        }
        window.push(&page.events);
        window.head = window.head.max(page.head);
        Ok(FollowBatch {
            head: window.head,
            events: page.events,
            keys,
        })
    }

    async fn active_set(&self) -> StoreResult<ActiveSet> {
        let first = !self.started.swap(true, Ordering::SeqCst);
        let copied = if first { self.read_copy().await } else { None };
        let set = match copied {
            Some(set) => {
                tracing::info!(path = %self.copy.display(), seq = set.seq, "serving from the mirror's local copy");
                set
            }
            None => self.upstream.snapshot().await?,
        };
        let mut window = self.window();
        window.events.clear();
        window.base = set.seq;
        window.head = window.head.max(set.seq);
        Ok(set)
    }

    async fn keys(&self) -> StoreResult<(u64, Vec<KeyRecord>)> {
        Ok((1, self.keys.clone()))
    }

    async fn history(&self, _domain: &DomainName) -> StoreResult<Vec<Entry>> {
        Err(holds_no("entries"))
    }

    async fn entries(&self, _query: EntryQuery) -> StoreResult<(Vec<Entry>, Option<u64>)> {
        Err(holds_no("entries"))
    }

    async fn create_key(&self, _key: KeyRecord) -> StoreResult<()> {
        Err(holds_no("keys"))
    }

    async fn revoke_key(&self, _id: &str) -> StoreResult<bool> {
        Err(holds_no("keys"))
    }

    async fn import(&self, _entries: Vec<NewEntry>) -> StoreResult<u64> {
        Err(holds_no("entries"))
    }

    async fn propose(&self, _entry: NewEntry) -> StoreResult<Entry> {
        Err(holds_no("entries"))
    }

    async fn pending(&self, _domain: &DomainName) -> StoreResult<Option<Entry>> {
        Err(holds_no("entries"))
    }

    async fn pending_entries(&self, _limit: usize) -> StoreResult<Vec<Entry>> {
        Err(holds_no("entries"))
    }

    async fn reject(
        &self,
        _domain: &DomainName,
        _id: uuid::Uuid,
        _review: Review,
    ) -> StoreResult<Entry> {
        Err(holds_no("entries"))
    }

    async fn request_lift(&self, _entry: &Entry, _request: PendingLift) -> StoreResult<Entry> {
        Err(holds_no("entries"))
    }

    async fn pending_lifts(&self, _limit: usize) -> StoreResult<Vec<Entry>> {
        Err(holds_no("entries"))
    }

    async fn reject_lift(&self, _entry: &Entry, _rejected: ReviewedLift) -> StoreResult<Entry> {
        Err(holds_no("entries"))
    }

    async fn append_audit(&self, _event: AuditEvent) -> StoreResult<AuditRecord> {
        Err(holds_no("the audit log"))
    }

    async fn audit(&self, _after: u64, _limit: usize) -> StoreResult<Vec<AuditRecord>> {
        Err(holds_no("the audit log"))
    }

    async fn protected(&self) -> StoreResult<Vec<ProtectedName>> {
        Err(holds_no("protected names"))
    }

    async fn protect(&self, _name: ProtectedName) -> StoreResult<bool> {
        Err(holds_no("protected names"))
    }

    async fn unprotect(&self, _name: &DomainName) -> StoreResult<bool> {
        Err(holds_no("protected names"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Category, Scope};
    use crate::model::EventKind;

    fn event(seq: u64) -> Event {
        Event {
            seq,
            kind: EventKind::Listed,
            domain: DomainName::parse(&format!("shop{seq}.example.cn")).unwrap(),
            scope: Scope::Exact,
            entry_id: uuid::Uuid::now_v7(),
            category: Category::CounterfeitGoods,
            at: Timestamp::now(),
        }
    }

    #[test]
    fn the_window_keeps_the_latest_events_contiguous() {
        let mut window = Window {
            base: 10,
            events: VecDeque::new(),
            capacity: 3,
            head: 10,
        };
        window.push(&[event(11), event(12)]);
        assert_eq!((window.base, window.last()), (10, 12));
        window.push(&[event(13), event(14)]);
        assert_eq!((window.base, window.last(), window.head), (11, 14, 14));
        // A gap starts the window over at the event after it.
        window.push(&[event(20)]);
        assert_eq!((window.base, window.last()), (19, 20));
        assert_eq!(window.events.len(), 1);
    }
}
