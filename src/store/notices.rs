//! The part of the store that keeps providers and the notice outbox, implemented by both
//! backends (`embedded/notices.rs`, `redis/notices.rs`). Listing and lifting with notices are
//! one atomic write each: no entry exists without the notices it ordered. A notice changes only
//! through `update_notice`, an atomic read-modify-write, so claims, results, acknowledgements
//! and overdue marks from many nodes never overwrite one another.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::model::Timestamp;
use async_trait::async_trait;
use uuid::Uuid;

use super::StoreResult;
use crate::model::{Entry, LiftRequest, LocateJob, Location, NewEntry};
use crate::notices::model::{Notice, NoticeStatus, Provider, Restores};

/// A change to apply to a notice inside the store's atomic update; it returns whether it
/// changed anything (nothing is written otherwise).
pub type NoticeChange = Arc<dyn Fn(&mut Notice) -> bool + Send + Sync>;

/// A change to a locate job inside the store's atomic update; it returns whether it changed
/// anything.
pub type LocateJobChange = Arc<dyn Fn(&mut LocateJob) -> bool + Send + Sync>;

/// A finished locate attempt of attempt number `attempt` by `node`, as the worker would write
/// it.
#[derive(Debug, Clone)]
pub struct LocateOutcome {
    pub node: String,
    pub attempt: u32,
    /// The job afterwards: due again for a retry or the next refresh.
    pub job: LocateJob,
    pub location: Location,
    /// Every provider told about the entry, those of `notices` included.
    pub providers: Vec<String>,
    /// Stop notices to the providers found that were not told before.
    pub notices: Vec<Notice>,
}

/// What became of a recorded locate attempt.
#[derive(Debug, Clone)]
pub enum Recorded {
    /// Written; the entry afterwards.
    Written(Box<Entry>),
    /// Not written: the attempt is no longer this node's.
    Lost,
    /// The entry is no longer active: its job was removed, nothing else written.
    Ended,
}

/// Whether `entry` still needs locating: active or suspended, not lifted.
pub fn still_located(entry: &Entry) -> bool {
    entry.lift.is_none()
        && matches!(
            entry.status,
            crate::model::EntryStatus::Active | crate::model::EntryStatus::Suspended
        )
}

/// Claims due locate jobs for `node`, each in one atomic update, so of several nodes racing
/// for the same job exactly one wins it.
pub async fn claim_locate_jobs(
    store: &dyn NoticeStore,
    node: &str,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> StoreResult<Vec<LocateJob>> {
    let due = store.locate_due(now, limit).await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let node_id = node.to_string();
    let change: LocateJobChange =
        Arc::new(move |job: &mut LocateJob| job.claim(&node_id, now, lease));
    let updates = due
        .into_iter()
        .map(|id| (id, Arc::clone(&change)))
        .collect();
    Ok(store
        .update_locate_jobs(updates)
        .await?
        .into_iter()
        .filter_map(|outcome| match outcome {
            Some((job, true)) => Some(job),
            _ => None,
        })
        .collect())
}

/// Which of a provider's notices a page holds: those after `after` (ids are time-ordered),
/// optionally of one status, at most `limit`.
#[derive(Debug, Clone)]
pub struct NoticePageQuery {
    pub provider_id: String,
    pub status: Option<NoticeStatus>,
    pub after: Option<Uuid>,
    pub limit: usize,
}

/// One page of a provider's notices, oldest first, and the cursor of the next page.
pub struct NoticePage {
    pub notices: Vec<Notice>,
    pub next: Option<Uuid>,
}

#[async_trait]
pub trait NoticeStore: Send + Sync {
    /// Creates or replaces a provider.
    async fn put_provider(&self, provider: Provider) -> StoreResult<()>;

    /// Removes a provider; false when there was none. Its notices stay.
    async fn delete_provider(&self, id: &str) -> StoreResult<bool>;

    async fn providers(&self) -> StoreResult<Vec<Provider>>;

    /// One provider, read alone.
    async fn provider(&self, id: &str) -> StoreResult<Option<Provider>>;

    /// Lists an entry and writes its notices and its locate job (`entry.locate`) in the same
    /// atomic write.
    async fn list_with_notices(&self, entry: NewEntry, notices: Vec<Notice>) -> StoreResult<Entry>;

    /// Approves the pending entry `approved` (its fields as they are to be listed, `review`
    /// set) and writes its notices and locate job, in one atomic write. `NotPending` when it
    /// no longer waits.
    async fn approve_with_notices(
        &self,
        approved: Entry,
        notices: Vec<Notice>,
        job: Option<LocateJob>,
    ) -> StoreResult<Entry>;

    /// Ids of the entries whose locate job is due (or whose lease ran out), earliest first.
    async fn locate_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>>;

    /// Applies `change` to the locate job of entry `id` atomically; the job afterwards and
    /// whether it changed, or `None` when the entry has no job.
    async fn update_locate_job(
        &self,
        id: Uuid,
        change: LocateJobChange,
    ) -> StoreResult<Option<(LocateJob, bool)>>;

    /// Applies several changes to locate jobs, each atomic on its own; the answers are in the
    /// order given. The embedded store shares one transaction among them.
    async fn update_locate_jobs(
        &self,
        updates: Vec<(Uuid, LocateJobChange)>,
    ) -> StoreResult<Vec<Option<(LocateJob, bool)>>> {
        let mut out = Vec::with_capacity(updates.len());
        for (id, change) in updates {
            out.push(self.update_locate_job(id, change).await?);
        }
        Ok(out)
    }

    /// Writes a locate job for an entry that has none (one listed before locating ran in the
    /// background, or without it); false when the entry has one already.
    async fn put_locate_job(&self, job: LocateJob) -> StoreResult<bool>;

    /// Writes locate jobs for the entries that have none, as `put_locate_job` does, in one
    /// write where the store can; with `complete`, also marks that every entry located before
    /// locating ran in the background has its job. Answers how many were written.
    async fn put_locate_jobs(&self, jobs: Vec<LocateJob>, complete: bool) -> StoreResult<usize>;

    /// Whether `put_locate_jobs(…, true)` has been made on this store.
    async fn locate_jobs_complete(&self) -> StoreResult<bool>;

    /// Writes a finished locate attempt in one atomic write: the job, the entry's location
    /// and providers, and the notices to the providers newly found; nothing when the attempt
    /// is no longer held (another node took it over), and the job alone is removed when the
    /// entry is no longer active.
    async fn record_location(&self, outcome: LocateOutcome) -> StoreResult<Recorded>;

    /// Writes several finished locate attempts, each atomic on its own; the answers are in the
    /// order given. The embedded store shares one transaction among them.
    async fn record_locations(&self, outcomes: Vec<LocateOutcome>) -> StoreResult<Vec<Recorded>> {
        let mut out = Vec::with_capacity(outcomes.len());
        for outcome in outcomes {
            out.push(self.record_location(outcome).await?);
        }
        Ok(out)
    }

    /// How many locate jobs are due at `now`, and the due time of the earliest of them.
    async fn locate_queue(&self, now: Timestamp) -> StoreResult<(u64, Option<u64>)>;

    /// Lifts the active entry of the request's domain and writes its `restore` notices, in the
    /// same atomic write, ending any pending lift of the entry. With `request.approval`, the
    /// approved lift must still be the entry's pending lift (`LiftNotPending`).
    async fn lift_with_notices(
        &self,
        request: LiftRequest,
        restores: Restores,
    ) -> StoreResult<(Entry, Vec<Notice>)>;

    async fn notice(&self, id: Uuid) -> StoreResult<Option<Notice>>;

    /// Applies `change` atomically; returns the notice afterwards and whether it changed, or
    /// `None` when there is no such notice.
    async fn update_notice(
        &self,
        id: Uuid,
        change: NoticeChange,
    ) -> StoreResult<Option<(Notice, bool)>>;

    /// Applies several changes, each atomic on its own; the answers are in the order given.
    /// Backends override this to share one transaction or one round trip among them.
    async fn update_notices(
        &self,
        updates: Vec<(Uuid, NoticeChange)>,
    ) -> StoreResult<Vec<Option<(Notice, bool)>>> {
        let mut out = Vec::with_capacity(updates.len());
        for (id, change) in updates {
            out.push(self.update_notice(id, change).await?);
        }
        Ok(out)
    }

    /// Ids of notices whose outbox time has come (next attempt due, or a lease run out).
    async fn outbox_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>>;

    /// Ids of notices whose deadline has passed while they were pending or delivered.
    async fn deadlines_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>>;

    /// A page of a provider's notices.
    async fn provider_notices(&self, query: NoticePageQuery) -> StoreResult<NoticePage>;

    /// How many notices are in each status, all providers together.
    async fn notice_counts(&self) -> StoreResult<BTreeMap<NoticeStatus, u64>>;

    /// Every notice written about an entry, oldest first, from the index each notice write
    /// adds to in its own transaction or script.
    async fn entry_notices(&self, entry_id: Uuid) -> StoreResult<Vec<Notice>>;

    /// Adds (entry id, notice id) rows to that index, for notices written before it existed,
    /// and with `complete` marks it as covering them all.
    async fn add_entry_notice_rows(
        &self,
        rows: Vec<(Uuid, Uuid)>,
        complete: bool,
    ) -> StoreResult<()>;

    /// Whether the index covers the notices written before it existed.
    async fn entry_notices_complete(&self) -> StoreResult<bool>;
}

/// Claims due attempts for `node`: each claim is one atomic update, so of several nodes
/// racing for the same attempt exactly one wins it.
pub async fn claim_due(
    store: &dyn NoticeStore,
    node: &str,
    now: Timestamp,
    lease: Duration,
    limit: usize,
) -> StoreResult<Vec<Notice>> {
    let due = store.outbox_due(now, limit).await?;
    if due.is_empty() {
        return Ok(Vec::new());
    }
    let node_id = node.to_string();
    let change: NoticeChange = Arc::new(move |n: &mut Notice| n.claim(&node_id, now, lease));
    let updates = due
        .into_iter()
        .map(|id| (id, Arc::clone(&change)))
        .collect();
    Ok(store
        .update_notices(updates)
        .await?
        .into_iter()
        .filter_map(|outcome| match outcome {
            Some((notice, true)) => Some(notice),
            _ => None,
        })
        .collect())
}
