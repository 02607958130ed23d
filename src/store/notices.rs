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
use crate::model::{Entry, LiftRequest, NewEntry};
use crate::notices::model::{Notice, NoticeStatus, Provider, Restores};

/// A change to apply to a notice inside the store's atomic update; it returns whether it
/// changed anything (nothing is written otherwise).
pub type NoticeChange = Arc<dyn Fn(&mut Notice) -> bool + Send + Sync>;

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

    /// Lists an entry and writes its notices in the same atomic write.
    async fn list_with_notices(&self, entry: NewEntry, notices: Vec<Notice>) -> StoreResult<Entry>;

    /// Approves the pending entry `approved` (its fields as they are to be listed, `review`
    /// set) and writes its notices, in one atomic write. `NotPending` when it no longer waits.
    async fn approve_with_notices(
        &self,
        approved: Entry,
        notices: Vec<Notice>,
    ) -> StoreResult<Entry>;

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
