//! The embedded store: one redb database file in the data directory, for a single node. Every
//! write is one redb transaction committed with `Durability::Immediate`, so a `201` means the
//! entry, its history link and its feed event are on disk together or not at all.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};
use tokio::sync::watch;
use uuid::Uuid;

/// Creates each named table in the write transaction `txn` (opening a table creates it), so
/// that readers never meet a missing one.
macro_rules! create_tables {
    ($txn:expr; $($table:expr),+ $(,)?) => {
        $( $txn.open_table($table).map_err(db_err)?; )+
    };
}

mod cases;
mod documents;
mod group;
mod log;
mod notices;
mod records;

use super::{
    ActiveSet, EntryQuery, FORMAT_VERSION, FollowBatch, FollowCursor, Refused, StatusFilter, Store,
    StoreError, StoreResult, check_contiguous, check_retained, clamp_limit, decode_active,
    encode_active,
};
use crate::audit::{AuditEvent, AuditRecord};
use crate::domain::DomainName;
use crate::model::{
    CaseWrite, Entry, EntryStatus, Event, KeyRecord, Lift, LiftRequest, NewEntry, PendingLift,
    ProtectedName, Review, ReviewedLift,
};
use crate::store::documents::{RefKind, rows_of};

const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// Entry id → JSON of the entry.
const ENTRIES: TableDefinition<u128, &[u8]> = TableDefinition::new("entries");
/// Domain → compact record of its active entry (see `encode_active`).
const ACTIVE: TableDefinition<&str, &[u8]> = TableDefinition::new("active");
/// (domain, entry id) → (): the history of a domain; ids are UUIDv7, so in creation order.
const HISTORY: TableDefinition<(&str, u128), ()> = TableDefinition::new("history");
/// Domain → id of its entry waiting for review.
const PENDING: TableDefinition<&str, u128> = TableDefinition::new("pending");
/// Domain → id of its active entry whose lift waits for approval.
const PENDING_LIFTS: TableDefinition<&str, u128> = TableDefinition::new("pending_lifts");
/// Audit seq → JSON of the chained record.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Protected domain → JSON of the protected name.
const PROTECTED: TableDefinition<&str, &[u8]> = TableDefinition::new("protected");
/// Listing seq → entry id, for paging through all, active and lifted entries.
const BY_SEQ: TableDefinition<u64, u128> = TableDefinition::new("by_seq");
const BY_SEQ_ACTIVE: TableDefinition<u64, u128> = TableDefinition::new("by_seq_active");
const BY_SEQ_LIFTED: TableDefinition<u64, u128> = TableDefinition::new("by_seq_lifted");
/// Feed seq → JSON of the event, trimmed to the retention.
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Key id → JSON of the key record.
const KEYS: TableDefinition<&str, &[u8]> = TableDefinition::new("keys");

const SEQ: &str = "seq";
const KEYS_VERSION: &str = "keys_version";
const FORMAT: &str = "format";
/// 1 once the document index covers the records written before it existed.
const REFS_COMPLETE: &str = "document_refs_complete";
const IMPORT_BATCH: usize = 10_000;

pub struct EmbeddedStore {
    db: Arc<Database>,
    /// Newest committed feed sequence, so followers in this process wake on a write.
    head: watch::Sender<u64>,
    keys_version: watch::Sender<u64>,
    retention: u64,
    /// Writes listings and the workers' batches, together when they arrive together.
    writer: Arc<group::Writer>,
}

fn db_err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Unavailable(e.into().to_string())
}

impl EmbeddedStore {
    /// Whether the `meta` mark `name` (set to 1 once a backfill completes) is set.
    pub(super) async fn marked(&self, name: &'static str) -> StoreResult<bool> {
        self.reading(move |txn| {
            let meta = txn.open_table(META).map_err(db_err)?;
            Ok(counter(&meta, name)? == 1)
        })
        .await
    }

    /// Opens (or creates) the database in `dir`, checking its format version.
    pub fn open(dir: &Path, retention: u64) -> StoreResult<EmbeddedStore> {
        std::fs::create_dir_all(dir).map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
        let db = Database::create(dir.join("siteban.redb")).map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => StoreError::Held(dir.to_path_buf()),
            e => db_err(e),
        })?;
        let txn = db.begin_write().map_err(db_err)?;
        let (seq, keys_version) = {
            let mut meta = txn.open_table(META).map_err(db_err)?;
            let format = meta.get(FORMAT).map_err(db_err)?.map(|v| v.value());
            match format {
                None => {
                    meta.insert(FORMAT, FORMAT_VERSION).map_err(db_err)?;
                }
                Some(FORMAT_VERSION) => {}
                Some(other) => {
                    return Err(StoreError::corrupt(format!(
                        "data directory holds format {other}, this build reads {FORMAT_VERSION}"
                    )));
                }
            }
            (counter(&meta, SEQ)?, counter(&meta, KEYS_VERSION)?)
        };
        create_tables!(txn; ENTRIES, ACTIVE, HISTORY, BY_SEQ, BY_SEQ_ACTIVE, BY_SEQ_LIFTED, EVENTS,
            KEYS, PENDING, PENDING_LIFTS, AUDIT, PROTECTED);
        notices::create_tables(&txn)?;
        cases::create_tables(&txn)?;
        records::create_tables(&txn)?;
        documents::create_tables(&txn)?;
        log::create_tables(&txn)?;
        txn.commit().map_err(db_err)?;
        let db = Arc::new(db);
        let writer = group::Writer::start(Arc::clone(&db)).map_err(|e| {
            StoreError::Unavailable(format!("cannot start the store's writer: {e}"))
        })?;
        Ok(EmbeddedStore {
            writer: Arc::new(writer),
            db,
            head: watch::channel(seq).0,
            keys_version: watch::channel(keys_version).0,
            retention: retention.max(1),
        })
    }

    /// Runs blocking database work off the async runtime.
    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Database) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || work(&db))
            .await
            .map_err(StoreError::unavailable)?
    }

    /// Runs `work` on a read transaction, on the blocking pool.
    async fn reading<T: Send + 'static>(
        &self,
        work: impl FnOnce(&redb::ReadTransaction) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        self.blocking(move |db| work(&db.begin_read().map_err(db_err)?))
            .await
    }

    fn advance_head(&self, seq: u64) {
        self.head.send_if_modified(|head| {
            let newer = seq > *head;
            if newer {
                *head = seq;
            }
            newer
        });
    }
}

fn encode<T: serde::Serialize>(value: &T) -> StoreResult<Vec<u8>> {
    serde_json::to_vec(value).map_err(StoreError::corrupt)
}

/// The JSON value stored under `key` in `table`, decoded.
fn read_decoded<'k, K: redb::Key + 'static, T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<K, &'static [u8]>,
    key: impl std::borrow::Borrow<K::SelfType<'k>>,
) -> StoreResult<Option<T>> {
    let value = table.get(key).map_err(db_err)?;
    value.map(|v| decode(v.value())).transpose()
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> StoreResult<T> {
    serde_json::from_slice(bytes).map_err(StoreError::corrupt)
}

/// Fails with `AlreadyListed` when `domain` has an active or a pending entry.
fn refuse_if_taken(txn: &redb::WriteTransaction, domain: &str) -> StoreResult<()> {
    let entries = txn.open_table(ENTRIES).map_err(db_err)?;
    let active = txn.open_table(ACTIVE).map_err(db_err)?;
    let current = match active.get(domain).map_err(db_err)? {
        Some(existing) => Some(decode_active(domain, existing.value())?.entry_id.as_u128()),
        None => txn
            .open_table(PENDING)
            .map_err(db_err)?
            .get(domain)
            .map_err(db_err)?
            .map(|v| v.value()),
    };
    match current {
        Some(id) => Err(Refused::AlreadyListed(Box::new(read_entry(&entries, id)?)).into()),
        None => Ok(()),
    }
}

/// Writes `entry` as active (or suspended) inside an open transaction: its record, active-set
/// slot, history link, listing indexes, feed event and document index rows, and the case
/// document of `case`.
/// `replaces` names the domain's suspension that a listing may take the place of. Returns the
/// entry with its sequence number.
fn write_listing(
    txn: &redb::WriteTransaction,
    mut entry: Entry,
    retention: u64,
    replaces: Option<Uuid>,
    case: Option<&CaseWrite>,
) -> StoreResult<Entry> {
    if let Some(case) = case {
        cases::write_case(txn, case)?;
    }
    let replaced = match replaces.map(|id| current_suspension(txn, entry.domain.as_str(), id)) {
        Some(Ok(Some(replaced))) => Some(replaced),
        Some(Err(e)) => return Err(e),
        _ => {
            refuse_if_taken(txn, entry.domain.as_str())?;
            None
        }
    };
    let seq = next_seq(txn)?;
    entry.seq = seq;
    if entry.status != EntryStatus::Suspended {
        entry.status = EntryStatus::Active;
    }
    if let Some(mut old) = replaced {
        let listed_seq = old.seq;
        old.status = EntryStatus::Replaced;
        old.lifted_at = Some(entry.listed_at);
        old.lift = Some(Lift {
            reason: format!("replaced by listing {} under the case's decision", entry.id),
            document: entry.decision.clone(),
            lifted_by: entry.listed_by.clone(),
            seq,
            review: None,
        });
        write_entry(txn, &old)?;
        index_as_lifted(txn, listed_seq, old.id.as_u128())?;
    }
    let id = entry.id.as_u128();
    write_entry(txn, &entry)?;
    txn.open_table(ACTIVE)
        .map_err(db_err)?
        .insert(entry.domain.as_str(), encode_active(&entry).as_slice())
        .map_err(db_err)?;
    txn.open_table(HISTORY)
        .map_err(db_err)?
        .insert((entry.domain.as_str(), id), ())
        .map_err(db_err)?;
    txn.open_table(BY_SEQ)
        .map_err(db_err)?
        .insert(seq, id)
        .map_err(db_err)?;
    txn.open_table(BY_SEQ_ACTIVE)
        .map_err(db_err)?
        .insert(seq, id)
        .map_err(db_err)?;
    append_event(txn, &Event::listed(&entry), retention)?;
    Ok(entry)
}

/// The domain's active suspension when it is the entry `id`; `None` when the domain has no
/// active record (the listing then goes ahead as a new one); an error when another entry is
/// active.
fn current_suspension(
    txn: &redb::WriteTransaction,
    domain: &str,
    id: Uuid,
) -> StoreResult<Option<Entry>> {
    let active = txn.open_table(ACTIVE).map_err(db_err)?;
    let Some(bytes) = active.get(domain).map_err(db_err)? else {
        return Ok(None);
    };
    let record = decode_active(domain, bytes.value())?;
    let entries = txn.open_table(ENTRIES).map_err(db_err)?;
    let current = read_entry(&entries, record.entry_id.as_u128())?;
    if record.entry_id != id || !record.suspended {
        return Err(Refused::AlreadyListed(Box::new(current)).into());
    }
    Ok(Some(current))
}

/// Takes the pending entry `id` of `domain` out of the pending set, or fails with
/// `NotPending` when another (or none) is pending.
fn take_pending(txn: &redb::WriteTransaction, domain: &str, id: Uuid) -> StoreResult<Entry> {
    let mut pending = txn.open_table(PENDING).map_err(db_err)?;
    match pending.get(domain).map_err(db_err)?.map(|v| v.value()) {
        Some(current) if current == id.as_u128() => {}
        _ => return Err(Refused::NotPending.into()),
    }
    pending.remove(domain).map_err(db_err)?;
    read_entry(&txn.open_table(ENTRIES).map_err(db_err)?, id.as_u128())
}

/// Lifts the active entry of `domain` inside an open transaction and appends its event; a
/// pending lift of the entry ends with it (an approved one must still be the pending one).
fn write_lift(
    txn: &redb::WriteTransaction,
    request: LiftRequest,
    retention: u64,
) -> StoreResult<Entry> {
    let domain = &request.domain;
    let mut active = txn.open_table(ACTIVE).map_err(db_err)?;
    let record = match active.remove(domain.as_str()).map_err(db_err)? {
        Some(bytes) => decode_active(domain.as_str(), bytes.value())?,
        None => return Err(Refused::NotListed.into()),
    };
    // The caller dropping the transaction on this error leaves the entry active.
    if request.entry_id.is_some_and(|id| id != record.entry_id) {
        return Err(Refused::NotListed.into());
    }
    let id = record.entry_id.as_u128();
    let entry = read_entry(&txn.open_table(ENTRIES).map_err(db_err)?, id)?;
    if record.suspended && !request.expire {
        return Err(Refused::Suspended(Box::new(entry)).into());
    }
    if !record.suspended && request.expire {
        return Err(Refused::NotListed.into());
    }
    if let Some(approval) = &request.approval
        && entry.pending_lift.as_ref() != Some(&approval.request)
    {
        return Err(Refused::LiftNotPending.into());
    }
    txn.open_table(PENDING_LIFTS)
        .map_err(db_err)?
        .remove(domain.as_str())
        .map_err(db_err)?;
    if let Some(case) = &request.case {
        cases::write_case(txn, case)?;
    }
    let seq = next_seq(txn)?;
    let listed_seq = entry.seq;
    let entry = entry.lifted(request, seq);
    write_entry(txn, &entry)?;
    index_as_lifted(txn, listed_seq, id)?;
    append_event(txn, &Event::lifted(&entry), retention)?;
    Ok(entry)
}

/// Writes `entry`'s record and the index rows of the documents it names.
fn write_entry(txn: &redb::WriteTransaction, entry: &Entry) -> StoreResult<()> {
    txn.open_table(ENTRIES)
        .map_err(db_err)?
        .insert(entry.id.as_u128(), encode(entry)?.as_slice())
        .map_err(db_err)?;
    documents::add_refs(txn, &rows_of(entry, RefKind::Entry, entry.id))
}

/// Moves entry `id`, listed at `listed_seq`, from the active to the lifted listing index.
fn index_as_lifted(txn: &redb::WriteTransaction, listed_seq: u64, id: u128) -> StoreResult<()> {
    txn.open_table(BY_SEQ_ACTIVE)
        .map_err(db_err)?
        .remove(listed_seq)
        .map_err(db_err)?;
    txn.open_table(BY_SEQ_LIFTED)
        .map_err(db_err)?
        .insert(listed_seq, id)
        .map_err(db_err)?;
    Ok(())
}

fn next_seq(txn: &redb::WriteTransaction) -> StoreResult<u64> {
    bump(txn, SEQ)
}

/// A counter of a table of counters (the meta table, the notice counts); 0 before its first
/// write.
pub(super) fn counter(
    table: &impl ReadableTable<&'static str, u64>,
    key: &str,
) -> StoreResult<u64> {
    Ok(table.get(key).map_err(db_err)?.map_or(0, |v| v.value()))
}

/// Adds one to a counter of the meta table and answers its new value.
fn bump(txn: &redb::WriteTransaction, key: &str) -> StoreResult<u64> {
    let mut meta = txn.open_table(META).map_err(db_err)?;
    let value = counter(&meta, key)? + 1;
    meta.insert(key, value).map_err(db_err)?;
    Ok(value)
}

fn append_event(txn: &redb::WriteTransaction, event: &Event, retention: u64) -> StoreResult<()> {
    let mut events = txn.open_table(EVENTS).map_err(db_err)?;
    events
        .insert(event.seq, encode(event)?.as_slice())
        .map_err(db_err)?;
    // Never past what the transparency log covers: its tree is built from the feed.
    let logged = counter(&txn.open_table(META).map_err(db_err)?, log::LOG_SIZE)?;
    let cutoff = event.seq.saturating_sub(retention).min(logged);
    if cutoff > 0 {
        events.retain_in(..=cutoff, |_, _| false).map_err(db_err)?;
    }
    Ok(())
}

/// The active entry `entry_id` of `domain`, read inside a write: `NotListed` when the domain
/// has no active entry, `EntryChanged` when another is active, `Suspended` for a suspension.
fn active_listing(
    txn: &redb::WriteTransaction,
    domain: &str,
    entry_id: Uuid,
) -> StoreResult<Entry> {
    let active = txn.open_table(ACTIVE).map_err(db_err)?;
    let Some(bytes) = active.get(domain).map_err(db_err)? else {
        return Err(Refused::NotListed.into());
    };
    let record = decode_active(domain, bytes.value())?;
    if record.entry_id != entry_id {
        return Err(Refused::EntryChanged.into());
    }
    let entry = read_entry(
        &txn.open_table(ENTRIES).map_err(db_err)?,
        entry_id.as_u128(),
    )?;
    if record.suspended {
        return Err(Refused::Suspended(Box::new(entry)).into());
    }
    Ok(entry)
}

/// Writes `entry` back, and files it in (or takes it out of) the pending lifts by whether it
/// has one.
fn write_pending_lift(txn: &redb::WriteTransaction, entry: &Entry) -> StoreResult<()> {
    write_entry(txn, entry)?;
    let mut pending = txn.open_table(PENDING_LIFTS).map_err(db_err)?;
    if entry.pending_lift.is_some() {
        pending
            .insert(entry.domain.as_str(), entry.id.as_u128())
            .map_err(db_err)?;
    } else {
        pending.remove(entry.domain.as_str()).map_err(db_err)?;
    }
    Ok(())
}

/// The entries a table of domain → entry id names (the pending listings, the pending lifts),
/// oldest first, at most `limit`.
fn entries_named_in(
    db: &Database,
    table: TableDefinition<&str, u128>,
    limit: usize,
) -> StoreResult<Vec<Entry>> {
    let txn = db.begin_read().map_err(db_err)?;
    let named = txn.open_table(table).map_err(db_err)?;
    let entries = txn.open_table(ENTRIES).map_err(db_err)?;
    let mut out = Vec::new();
    for row in named.iter().map_err(db_err)? {
        let (_, id) = row.map_err(db_err)?;
        out.push(read_entry(&entries, id.value())?);
    }
    out.sort_by_key(|e: &Entry| e.id);
    out.truncate(clamp_limit(limit));
    Ok(out)
}

fn read_entry(table: &impl ReadableTable<u128, &'static [u8]>, id: u128) -> StoreResult<Entry> {
    let bytes = table
        .get(id)
        .map_err(db_err)?
        .ok_or_else(|| StoreError::corrupt(format!("missing entry {}", Uuid::from_u128(id))))?;
    decode(bytes.value())
}

/// Up to `limit` feed events after `after`, and the feed's head, as one read sees them.
fn read_events(db: &Database, after: u64, limit: usize) -> StoreResult<(Vec<Event>, u64)> {
    let txn = db.begin_read().map_err(db_err)?;
    let head = counter(&txn.open_table(META).map_err(db_err)?, SEQ)?;
    let events = docs_after(&txn.open_table(EVENTS).map_err(db_err)?, after, limit)?;
    check_contiguous(after, &events, head)?;
    Ok((events, head))
}

fn read_keys(db: &Database) -> StoreResult<(u64, Vec<KeyRecord>)> {
    // One read transaction, so that the version is the one of the keys read.
    let txn = db.begin_read().map_err(db_err)?;
    let version = counter(&txn.open_table(META).map_err(db_err)?, KEYS_VERSION)?;
    Ok((version, docs(&txn, KEYS)?))
}

/// Every value of a table of JSON documents keyed by name, in key order.
pub(super) fn read_all<T: serde::de::DeserializeOwned>(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
) -> StoreResult<Vec<T>> {
    docs(&db.begin_read().map_err(db_err)?, table)
}

/// Up to `limit` JSON documents of a table keyed by sequence, after `after`, in order.
fn docs_after<T: serde::de::DeserializeOwned>(
    table: &impl ReadableTable<u64, &'static [u8]>,
    after: u64,
    limit: usize,
) -> StoreResult<Vec<T>> {
    let mut out = Vec::new();
    for row in table
        .range(after.saturating_add(1)..)
        .map_err(db_err)?
        .take(limit)
    {
        let (_, value) = row.map_err(db_err)?;
        out.push(decode(value.value())?);
    }
    Ok(out)
}

/// Removes the row `key` of a table keyed by name in a write of its own; false when there
/// was none.
pub(super) fn remove_named(
    db: &Database,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> StoreResult<bool> {
    let txn = db.begin_write().map_err(db_err)?;
    let removed = remove_row(&txn, table, key)?;
    txn.commit().map_err(db_err)?;
    Ok(removed)
}

/// Removes the row `key` of a table keyed by name inside `txn`; false when there was none.
fn remove_row(
    txn: &redb::WriteTransaction,
    table: TableDefinition<&str, &[u8]>,
    key: &str,
) -> StoreResult<bool> {
    Ok(txn
        .open_table(table)
        .map_err(db_err)?
        .remove(key)
        .map_err(db_err)?
        .is_some())
}

/// Every value of a table of JSON documents keyed by name, as `txn` sees it.
fn docs<T: serde::de::DeserializeOwned>(
    txn: &redb::ReadTransaction,
    table: TableDefinition<&str, &[u8]>,
) -> StoreResult<Vec<T>> {
    let table = txn.open_table(table).map_err(db_err)?;
    let mut out = Vec::new();
    for row in table.iter().map_err(db_err)? {
        let (_, value) = row.map_err(db_err)?;
        out.push(decode(value.value())?);
    }
    Ok(out)
}

fn bump_keys_version(txn: &redb::WriteTransaction) -> StoreResult<u64> {
    bump(txn, KEYS_VERSION)
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn history(&self, domain: &DomainName) -> StoreResult<Vec<Entry>> {
        let domain = domain.clone();
        self.reading(move |txn| {
            let history = txn.open_table(HISTORY).map_err(db_err)?;
            let entries = txn.open_table(ENTRIES).map_err(db_err)?;
            let mut out = Vec::new();
            let name = domain.as_str();
            for row in history
                .range((name, 0u128)..=(name, u128::MAX))
                .map_err(db_err)?
            {
                let (key, _) = row.map_err(db_err)?;
                out.push(read_entry(&entries, key.value().1)?);
            }
            Ok(out)
        })
        .await
    }

    async fn entries(&self, query: EntryQuery) -> StoreResult<(Vec<Entry>, Option<u64>)> {
        let EntryQuery {
            filter,
            after,
            limit,
        } = query;
        let limit = clamp_limit(limit);
        self.reading(move |txn| {
            let index = match filter {
                StatusFilter::All => BY_SEQ,
                StatusFilter::Active => BY_SEQ_ACTIVE,
                StatusFilter::Lifted => BY_SEQ_LIFTED,
            };
            let index = txn.open_table(index).map_err(db_err)?;
            let entries = txn.open_table(ENTRIES).map_err(db_err)?;
            let mut out = Vec::with_capacity(limit);
            let mut more = false;
            for row in index.range(after.saturating_add(1)..).map_err(db_err)? {
                if out.len() == limit {
                    more = true;
                    break;
                }
                let (_, id) = row.map_err(db_err)?;
                out.push(read_entry(&entries, id.value())?);
            }
            let next = if more {
                out.last().map(|e: &Entry| e.seq)
            } else {
                None
            };
            Ok((out, next))
        })
        .await
    }

    async fn events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let limit = clamp_limit(limit);
        let retention = self.retention;
        self.blocking(move |db| {
            let (events, head) = read_events(db, after, limit)?;
            // Events the transparency log does not cover yet are kept past the retention.
            let logged = counter(
                &db.begin_read()
                    .map_err(db_err)?
                    .open_table(META)
                    .map_err(db_err)?,
                log::LOG_SIZE,
            )?;
            check_retained(after, head, retention.max(head.saturating_sub(logged)))?;
            Ok(events)
        })
        .await
    }

    async fn head(&self) -> StoreResult<u64> {
        Ok(*self.head.borrow())
    }

    async fn follow(&self, cursor: FollowCursor, block: Duration) -> StoreResult<FollowBatch> {
        let mut head_rx = self.head.subscribe();
        let mut keys_rx = self.keys_version.subscribe();
        let deadline = tokio::time::Instant::now() + block;
        loop {
            let head = *head_rx.borrow_and_update();
            let keys_version = *keys_rx.borrow_and_update();
            if head > cursor.seq || keys_version != cursor.keys_version {
                let keys_changed = keys_version != cursor.keys_version;
                return self
                    .blocking(move |db| {
                        let events = if head > cursor.seq {
                            read_events(db, cursor.seq, 1000)?.0
                        } else {
                            Vec::new()
                        };
                        let keys = if keys_changed {
                            Some(read_keys(db)?)
                        } else {
                            None
                        };
                        Ok(FollowBatch { events, keys, head })
                    })
                    .await;
            }
            tokio::select! {
                _ = head_rx.changed() => {}
                _ = keys_rx.changed() => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Ok(FollowBatch { head, ..FollowBatch::default() });
                }
            }
        }
    }

    async fn active_set(&self) -> StoreResult<ActiveSet> {
        self.reading(|txn| {
            let seq = counter(&txn.open_table(META).map_err(db_err)?, SEQ)?;
            let active = txn.open_table(ACTIVE).map_err(db_err)?;
            let mut records = Vec::with_capacity(active.len().map_err(db_err)? as usize);
            for row in active.iter().map_err(db_err)? {
                let (domain, bytes) = row.map_err(db_err)?;
                records.push(decode_active(domain.value(), bytes.value())?);
            }
            Ok(ActiveSet {
                seq,
                records,
                age: None,
            })
        })
        .await
    }

    async fn create_key(&self, key: KeyRecord) -> StoreResult<()> {
        let version = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(db_err)?;
                txn.open_table(KEYS)
                    .map_err(db_err)?
                    .insert(key.id.as_str(), encode(&key)?.as_slice())
                    .map_err(db_err)?;
                let version = bump_keys_version(&txn)?;
                txn.commit().map_err(db_err)?;
                Ok(version)
            })
            .await?;
        self.keys_version.send_replace(version);
        Ok(())
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        let outcome = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(db_err)?;
                if !remove_row(&txn, KEYS, &id)? {
                    return Ok(None);
                }
                let version = bump_keys_version(&txn)?;
                txn.commit().map_err(db_err)?;
                Ok(Some(version))
            })
            .await?;
        if let Some(version) = outcome {
            self.keys_version.send_replace(version);
        }
        Ok(outcome.is_some())
    }

    async fn keys(&self) -> StoreResult<(u64, Vec<KeyRecord>)> {
        self.blocking(read_keys).await
    }

    async fn import(&self, entries: Vec<NewEntry>) -> StoreResult<u64> {
        let retention = self.retention;
        let mut imported = 0;
        let mut head = 0;
        let mut batches = entries.into_iter().peekable();
        while batches.peek().is_some() {
            let batch: Vec<NewEntry> = batches.by_ref().take(IMPORT_BATCH).collect();
            let (count, last) = self
                .blocking(move |db| {
                    let txn = db.begin_write().map_err(db_err)?;
                    let (mut count, mut last) = (0, 0);
                    for mut new in batch {
                        let job = new.locate.take();
                        match write_listing(&txn, Entry::from_new(new, 0), retention, None, None) {
                            Ok(entry) => {
                                if let Some(job) = &job {
                                    notices::write_locate_job(
                                        &txn,
                                        job.entry_id.as_u128(),
                                        None,
                                        Some(job),
                                    )?;
                                }
                                count += 1;
                                last = entry.seq;
                            }
                            Err(StoreError::Refused(Refused::AlreadyListed(_))) => {}
                            Err(e) => return Err(e),
                        }
                    }
                    txn.commit().map_err(db_err)?;
                    Ok((count, last))
                })
                .await?;
            imported += count;
            head = head.max(last);
        }
        self.advance_head(head);
        Ok(imported)
    }

    async fn propose(&self, new: NewEntry) -> StoreResult<Entry> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let entry = Entry::pending(new);
            refuse_if_taken(&txn, entry.domain.as_str())?;
            let id = entry.id.as_u128();
            write_entry(&txn, &entry)?;
            txn.open_table(PENDING)
                .map_err(db_err)?
                .insert(entry.domain.as_str(), id)
                .map_err(db_err)?;
            txn.open_table(HISTORY)
                .map_err(db_err)?
                .insert((entry.domain.as_str(), id), ())
                .map_err(db_err)?;
            txn.commit().map_err(db_err)?;
            Ok(entry)
        })
        .await
    }

    async fn pending(&self, domain: &DomainName) -> StoreResult<Option<Entry>> {
        let domain = domain.clone();
        self.reading(move |txn| {
            let pending = txn.open_table(PENDING).map_err(db_err)?;
            let Some(id) = pending
                .get(domain.as_str())
                .map_err(db_err)?
                .map(|v| v.value())
            else {
                return Ok(None);
            };
            Ok(Some(read_entry(
                &txn.open_table(ENTRIES).map_err(db_err)?,
                id,
            )?))
        })
        .await
    }

    async fn pending_entries(&self, limit: usize) -> StoreResult<Vec<Entry>> {
        self.blocking(move |db| entries_named_in(db, PENDING, limit))
            .await
    }

    async fn reject(&self, domain: &DomainName, id: Uuid, review: Review) -> StoreResult<Entry> {
        let domain = domain.clone();
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut entry = take_pending(&txn, domain.as_str(), id)?;
            entry.status = EntryStatus::Rejected;
            entry.review = Some(review);
            txn.open_table(ENTRIES)
                .map_err(db_err)?
                .insert(entry.id.as_u128(), encode(&entry)?.as_slice())
                .map_err(db_err)?;
            txn.commit().map_err(db_err)?;
            Ok(entry)
        })
        .await
    }

    async fn request_lift(&self, entry: &Entry, request: PendingLift) -> StoreResult<Entry> {
        let (domain, entry_id) = (entry.domain.clone(), entry.id);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut entry = active_listing(&txn, domain.as_str(), entry_id)?;
            if entry.pending_lift.is_some() {
                return Err(Refused::LiftPending(Box::new(entry)).into());
            }
            entry.pending_lift = Some(request);
            write_pending_lift(&txn, &entry)?;
            txn.commit().map_err(db_err)?;
            Ok(entry)
        })
        .await
    }

    async fn pending_lifts(&self, limit: usize) -> StoreResult<Vec<Entry>> {
        self.blocking(move |db| entries_named_in(db, PENDING_LIFTS, limit))
            .await
    }

    async fn reject_lift(&self, entry: &Entry, rejected: ReviewedLift) -> StoreResult<Entry> {
        let (domain, entry_id) = (entry.domain.clone(), entry.id);
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut entry = match active_listing(&txn, domain.as_str(), entry_id) {
                Ok(entry) if entry.pending_lift.as_ref() == Some(&rejected.request) => entry,
                Ok(_) | Err(StoreError::Refused(_)) => return Err(Refused::LiftNotPending.into()),
                Err(e) => return Err(e),
            };
            entry.pending_lift = None;
            entry.rejected_lifts.push(rejected);
            write_pending_lift(&txn, &entry)?;
            txn.commit().map_err(db_err)?;
            Ok(entry)
        })
        .await
    }

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<AuditRecord> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let record = {
                let mut audit = txn.open_table(AUDIT).map_err(db_err)?;
                let (seq, prev) = match audit.last().map_err(db_err)? {
                    Some((_, last)) => {
                        let last: AuditRecord = decode(last.value())?;
                        (last.seq, last.sha256)
                    }
                    None => (0, crate::audit::GENESIS.to_string()),
                };
                let record = AuditRecord::chain(event, seq, &prev);
                audit
                    .insert(record.seq, encode(&record)?.as_slice())
                    .map_err(db_err)?;
                record
            };
            txn.commit().map_err(db_err)?;
            Ok(record)
        })
        .await
    }

    async fn audit(&self, after: u64, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        let limit = clamp_limit(limit);
        self.reading(move |txn| docs_after(&txn.open_table(AUDIT).map_err(db_err)?, after, limit))
            .await
    }

    async fn protected(&self) -> StoreResult<Vec<ProtectedName>> {
        self.blocking(|db| read_all(db, PROTECTED)).await
    }

    async fn protect(&self, name: ProtectedName) -> StoreResult<bool> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let added = {
                let mut table = txn.open_table(PROTECTED).map_err(db_err)?;
                if table.get(name.domain.as_str()).map_err(db_err)?.is_some() {
                    false
                } else {
                    table
                        .insert(name.domain.as_str(), encode(&name)?.as_slice())
                        .map_err(db_err)?;
                    true
                }
            };
            txn.commit().map_err(db_err)?;
            Ok(added)
        })
        .await
    }

    async fn unprotect(&self, name: &DomainName) -> StoreResult<bool> {
        let name = name.clone();
        self.blocking(move |db| remove_named(db, PROTECTED, name.as_str()))
            .await
    }
}
