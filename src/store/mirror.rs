//! The store of an edge mirror: no database, but the registry it follows over HTTPS. The active
//! set comes from the upstream's snapshot (or, at start, from the mirror's local copy), changes
//! from long-polls of its feed; the latest events are kept for the mirror's own feed and IXFR.
//! The keys are the mirror's own, from its settings. The upstream's transparency log is read
//! from it as asked for. Everything else a registry node stores, a mirror does not hold: those
//! methods answer `StoreError::Mirror` (`mirror/refused.rs`), and the API refuses such
//! requests before they get here.
//!
//! - `mirror/upstream.rs`: the HTTP client of the upstream's feed, snapshot and log.
//! - `mirror/log.rs`: the upstream's transparency log.
//! - `mirror/refused.rs`: the methods a mirror does not serve.

mod log;
mod refused;
mod upstream;

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::{ActiveSet, EntryQuery, FollowBatch, FollowCursor, Store, StoreError, StoreResult};
use crate::audit::{AuditEvent, AuditRecord};
use crate::domain::{DomainName, Role};
use crate::index::recent::Recent;
use crate::model::{
    Entry, Event, KeyRecord, NewEntry, PendingLift, ProtectedName, Review, ReviewedLift, Timestamp,
};
use crate::settings::Settings;
pub use upstream::Upstream;

pub struct MirrorStore {
    upstream: Upstream,
    /// After a page with events (not a full one), the next long-poll waits this long.
    pause: Duration,
    /// When the last page with events arrived, and whether it was full.
    last_page: Mutex<Option<(Instant, bool)>>,
    copy: PathBuf,
    /// The latest events received, for the mirror's own feed and IXFR.
    window: Recent,
    /// The upstream's newest sequence, as its last answer said.
    head: AtomicU64,
    keys: Vec<KeyRecord>,
    /// Whether the first load, which reads the local copy, has been made.
    started: AtomicBool,
    /// Since when the upstream has answered with a sequence older than this mirror's.
    behind_since: Mutex<Option<Instant>>,
    /// How long the upstream may stay behind before the mirror loads its set again: two
    /// long-polls, in which a node that lagged for a moment has caught up.
    behind_for: Duration,
    /// `mirror.log_key`, if set.
    log_key: Option<String>,
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
            pause: Duration::from_millis(mirror.pause_ms),
            last_page: Mutex::new(None),
            copy: copy_path(settings),
            window: Recent::new(mirror.feed_window as usize),
            head: AtomicU64::new(0),
            keys,
            started: AtomicBool::new(false),
            behind_since: Mutex::new(None),
            behind_for: Duration::from_secs(2 * mirror.wait_seconds),
            log_key: Some(mirror.log_key.trim().to_string()).filter(|k| !k.is_empty()),
        })
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
        self.window
            .after(after, super::clamp_limit(limit))
            .ok_or(StoreError::SnapshotRequired {
                oldest: self.window.base() + 1,
            })
    }

    async fn head(&self) -> StoreResult<u64> {
        Ok(self.head.load(Ordering::Relaxed))
    }

    async fn follow(&self, cursor: FollowCursor, _block: Duration) -> StoreResult<FollowBatch> {
        let keys = (cursor.keys_version != 1).then(|| (1, self.keys.clone()));
        // A burst of listings reaches the mirror in a few pages rather than one request per
        // event: that bounds what each mirror costs the registry (a page and a new long-poll
        // per pause at most). A full page means more is waiting: no pause then.
        let last = *self.last_page.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, false)) = last {
            tokio::time::sleep_until((at + self.pause).into()).await;
        }
        let page = self.upstream.feed(cursor.seq).await?;
        if !page.events.is_empty() {
            *self.last_page.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((Instant::now(), page.full));
        }
        if page.head < cursor.seq {
            // The upstream is behind what this mirror applied. One node of several behind a
            // load balancer may lag for a moment; a registry restored from an older copy, or
            // whose feed numbers were given to other writes, stays behind: then load its set
            // again.
            let mut behind = self.behind_since.lock().unwrap_or_else(|e| e.into_inner());
            let since = *behind.get_or_insert_with(Instant::now);
            if since.elapsed() < self.behind_for {
                return Ok(FollowBatch {
                    head: cursor.seq,
                    events: Vec::new(),
                    keys,
                });
            }
            *behind = None;
            let why = format!(
                "the upstream has been behind this mirror for {} s: it is at {}, this mirror applied {}",
                self.behind_for.as_secs(),
                page.head,
                cursor.seq
            );
            tracing::warn!("{why}; loading its set again");
            return Err(StoreError::corrupt(why));
        }
        *self.behind_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
        if self.window.last() != cursor.seq {
            self.window.reset(cursor.seq);
        }
        self.window.push(&page.events);
        let head = self
            .head
            .fetch_max(page.head, Ordering::Relaxed)
            .max(page.head);
        Ok(FollowBatch {
            head,
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
        self.window.reset(set.seq);
        self.head.fetch_max(set.seq, Ordering::Relaxed);
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
