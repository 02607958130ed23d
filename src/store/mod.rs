//! Durable storage of entries, the feed and keys, behind one trait with two backends: the
//! embedded redb store (default, single node) and Redis (shared by many nodes). Only this module
//! knows keys, tables and encodings; the format is private and versioned (`FORMAT_VERSION`).

pub mod cases;
pub mod documents;
pub mod embedded;
pub mod log;
pub mod mirror;
pub mod notices;
pub mod records;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditRecord};
use crate::domain::DomainName;
use crate::model::{
    ActiveRecord, Entry, Event, KeyRecord, NewEntry, PendingLift, ProtectedName, Review,
    ReviewedLift,
};

/// Version of the stored format; a store written by another version is refused at start.
pub const FORMAT_VERSION: u64 = 1;

/// What a write of the registry refused to do, by the rules the store enforces atomically:
/// the registry's outcomes, not failures. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("an active entry for this domain already exists")]
    AlreadyListed(Box<Entry>),
    #[error("no active entry for this domain")]
    NotListed,
    #[error("no entry of this domain is waiting for review")]
    NotPending,
    /// The domain's active record is an emergency suspension, which only its case ends.
    #[error("the domain is suspended under a referral case")]
    Suspended(Box<Entry>),
    /// The referral case changed since the caller read it.
    #[error("the case changed meanwhile")]
    CaseChanged,
    /// The domain's active entry is no longer the one the caller read.
    #[error("another entry of this domain is active")]
    EntryChanged,
    /// A lift of the active entry already waits for approval.
    #[error("a lift of this entry already waits for approval")]
    LiftPending(Box<Entry>),
    /// The lift to approve or reject is no longer the entry's pending lift.
    #[error("no lift of this entry waits for approval")]
    LiftNotPending,
}

/// Why the store did not do what was asked: a refusal by the registry's rules, or a failure
/// of the store itself.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The events after the requested sequence are no longer retained.
    #[error("feed history before sequence {oldest} is no longer retained")]
    SnapshotRequired { oldest: u64 },
    /// The store could not be reached or did not answer in time. A write without an answer,
    /// or with too few replica acknowledgements, may still have been applied (all of it or
    /// none of it); one that could not be sent was not.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with something this version cannot read.
    #[error("store data is corrupt or of another format: {0}")]
    Corrupt(String),
    /// Another process, such as a running server, has the embedded database in this data
    /// directory open; redb admits one process at a time.
    #[error("another process holds the embedded store in {}", .0.display())]
    Held(std::path::PathBuf),
    /// This node is a mirror: it holds the active set only, not this.
    #[error("this node is a mirror of the registry and holds no {0}")]
    Mirror(&'static str),
}

impl StoreError {
    pub fn unavailable(e: impl std::fmt::Display) -> StoreError {
        StoreError::Unavailable(e.to_string())
    }

    pub fn corrupt(e: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt(e.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Which entries a listing in feed order returns (pending entries have no place in it; see
/// `Store::pending_entries`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusFilter {
    All,
    Active,
    Lifted,
}

/// A page of entries in listing order: those of `filter` listed after sequence `after`, at
/// most `limit` (clamped by the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryQuery {
    pub filter: StatusFilter,
    pub after: u64,
    pub limit: usize,
}

/// Where a follower stands: the last feed event and the last key change it has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowCursor {
    pub seq: u64,
    pub keys_version: u64,
    /// The entry of the event at `seq`, when the follower applied it (not after a reload).
    /// A store whose feed can lose events (Redis, across a failover: events the old primary
    /// had not yet passed to its replica) checks that its feed still holds this event at
    /// `seq`; if not, the number was given to another write and the node must reload.
    pub entry_at_seq: Option<uuid::Uuid>,
}

/// What changed after a cursor: feed events in order, and the whole key set when it changed.
#[derive(Debug, Default)]
pub struct FollowBatch {
    pub events: Vec<Event>,
    pub keys: Option<(u64, Vec<KeyRecord>)>,
    /// The newest feed sequence the store holds, for the lag metric.
    pub head: u64,
}

/// The active set for loading an index: every record, and the sequence from which the feed
/// must be replayed to make it exact (the load itself need not be atomic).
pub struct ActiveSet {
    pub seq: u64,
    pub records: Vec<ActiveRecord>,
    /// How long ago the set was known to be current, when not now: a mirror's local copy,
    /// read at start, is as old as its last save.
    pub age: Option<Duration>,
}

pub use cases::CaseStore;
pub use documents::DocumentStore;
pub use log::LogStore;
pub use notices::NoticeStore;
pub use records::RecordStore;

/// Providers and notices live behind `NoticeStore`, shared records behind `RecordStore`,
/// uploaded documents behind `DocumentStore`: supertraits, so that their methods stay
/// together in `store/notices.rs`, `store/records.rs` and `store/documents.rs`.
#[async_trait]
pub trait Store:
    NoticeStore + CaseStore + RecordStore + DocumentStore + LogStore + Send + Sync + 'static
{
    /// Every entry ever made for `domain`, oldest first.
    async fn history(&self, domain: &DomainName) -> StoreResult<Vec<Entry>>;

    /// Entries in listing order, starting after listing sequence `after`; returns the page and
    /// the cursor of the next page.
    async fn entries(&self, query: EntryQuery) -> StoreResult<(Vec<Entry>, Option<u64>)>;

    /// Feed events after `after`, at most `limit`. `SnapshotRequired` when some of them are no
    /// longer retained.
    async fn events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>>;

    /// The newest feed sequence number (0 when empty).
    async fn head(&self) -> StoreResult<u64>;

    /// Changes after `cursor`, waiting up to `block` for one to happen.
    async fn follow(&self, cursor: FollowCursor, block: Duration) -> StoreResult<FollowBatch>;

    async fn active_set(&self) -> StoreResult<ActiveSet>;

    async fn create_key(&self, key: KeyRecord) -> StoreResult<()>;

    /// Removes a key; false when there was none with that id.
    async fn revoke_key(&self, id: &str) -> StoreResult<bool>;

    /// All keys and the key-change version they reflect.
    async fn keys(&self) -> StoreResult<(u64, Vec<KeyRecord>)>;

    /// Bulk import of entries, for seeding and migrations: written in batches, each batch
    /// atomic, without waiting for followers.
    async fn import(&self, entries: Vec<NewEntry>) -> StoreResult<u64>;

    /// Stores a new entry as pending review: no sequence number, no feed event, not in the
    /// active set. `AlreadyListed` when the domain has an active or pending entry.
    async fn propose(&self, entry: NewEntry) -> StoreResult<Entry>;

    /// The pending entry of `domain`, if any.
    async fn pending(&self, domain: &DomainName) -> StoreResult<Option<Entry>>;

    /// Every pending entry, oldest first, at most `limit`.
    async fn pending_entries(&self, limit: usize) -> StoreResult<Vec<Entry>>;

    /// Rejects the pending entry `entry_id` of `domain`; it stays in the history.
    async fn reject(
        &self,
        domain: &DomainName,
        id: uuid::Uuid,
        review: Review,
    ) -> StoreResult<Entry>;

    /// Records `request` as the pending lift of `entry` (as read), in one atomic write that
    /// checks that the entry is still its domain's active one (`EntryChanged`; `NotListed` when
    /// none is), is not a suspension (`Suspended`) and has no pending lift (`LiftPending`).
    /// Nothing else changes: no feed event, no notice.
    async fn request_lift(&self, entry: &Entry, request: PendingLift) -> StoreResult<Entry>;

    /// Every entry with a pending lift, oldest first, at most `limit`.
    async fn pending_lifts(&self, limit: usize) -> StoreResult<Vec<Entry>>;

    /// Rejects the pending lift of the active `entry` (as read): clears it and keeps `rejected`
    /// on the entry, in one atomic write; `LiftNotPending` when `rejected.request` is no longer
    /// the entry's pending lift. (An approval is a lift: `lift_with_notices`.)
    async fn reject_lift(&self, entry: &Entry, rejected: ReviewedLift) -> StoreResult<Entry>;

    /// Appends to the audit log, numbering and chaining the record atomically.
    async fn append_audit(&self, event: AuditEvent) -> StoreResult<AuditRecord>;

    /// Audit records after `after`, at most `limit`, in order.
    async fn audit(&self, after: u64, limit: usize) -> StoreResult<Vec<AuditRecord>>;

    /// Names protected through the API.
    async fn protected(&self) -> StoreResult<Vec<ProtectedName>>;

    /// Adds a protected name; false when it was already there.
    async fn protect(&self, name: ProtectedName) -> StoreResult<bool>;

    /// Removes a protected name; false when it was not there.
    async fn unprotect(&self, name: &DomainName) -> StoreResult<bool>;
}

/// The active-set record both backends keep per domain: 16 bytes of entry id, then scope and
/// category, all the index needs. The category byte's high bit marks a suspension (the Redis
/// scripts test it too).
pub(crate) fn encode_active(entry: &Entry) -> [u8; 18] {
    let mut out = [0u8; 18];
    out[..16].copy_from_slice(entry.id.as_bytes());
    out[16] = entry.scope.to_u8();
    out[17] = entry.category.to_u8();
    if entry.status == crate::model::EntryStatus::Suspended {
        out[17] |= SUSPENDED_BIT;
    }
    out
}

/// The mark of a suspension in an active record's category byte.
pub(crate) const SUSPENDED_BIT: u8 = 0x80;

pub(crate) fn decode_active(domain: &str, bytes: &[u8]) -> StoreResult<ActiveRecord> {
    use crate::domain::{Category, Scope};
    let bad = || StoreError::corrupt(format!("active record of {domain}"));
    if bytes.len() != 18 {
        return Err(bad());
    }
    Ok(ActiveRecord {
        domain: DomainName::parse(domain).map_err(|_| bad())?,
        entry_id: uuid::Uuid::from_slice(&bytes[..16]).map_err(|_| bad())?,
        scope: Scope::from_u8(bytes[16]).ok_or_else(bad)?,
        category: Category::from_u8(bytes[17] & !SUSPENDED_BIT).ok_or_else(bad)?,
        suspended: bytes[17] & SUSPENDED_BIT != 0,
    })
}

/// Checks that `events` continue right after `after`; a gap (or nothing while the store holds
/// newer events, `head`) means the history was trimmed.
pub(crate) fn check_contiguous(after: u64, events: &[Event], head: u64) -> StoreResult<()> {
    match events.first() {
        Some(first) if first.seq != after.saturating_add(1) => {
            Err(StoreError::SnapshotRequired { oldest: first.seq })
        }
        None if after < head => Err(StoreError::SnapshotRequired { oldest: head + 1 }),
        _ => Ok(()),
    }
}

/// Refuses a read of the feed from before what its retention keeps (the newest `retention`
/// events up to `head`), even where the store still holds older events: Redis trims a
/// stream by whole nodes, so hundreds may linger, and a client must not come to depend on
/// them.
pub(crate) fn check_retained(after: u64, head: u64, retention: u64) -> StoreResult<()> {
    let oldest = head.saturating_sub(retention) + 1;
    if after.saturating_add(1) < oldest {
        return Err(StoreError::SnapshotRequired { oldest });
    }
    Ok(())
}

/// Checks that a page size is usable.
pub(crate) fn clamp_limit(limit: usize) -> usize {
    limit.clamp(1, 10_000)
}

#[cfg(test)]
mod retention_tests {
    use super::*;

    #[test]
    fn the_retained_window_is_exact_and_any_cursor_is_safe() {
        // Head 300, retention 3: events 298 to 300 are retained.
        assert!(check_retained(297, 300, 3).is_ok());
        assert!(matches!(
            check_retained(296, 300, 3),
            Err(StoreError::SnapshotRequired { oldest: 298 })
        ));
        assert!(check_retained(0, 2, 3).is_ok());
        assert!(check_retained(u64::MAX, 300, 3).is_ok());
    }
}
