//! Providers and notices in the embedded store. Notices live in their own tables beside the
//! entries; a listing or lift with notices is one redb transaction, and every notice update
//! re-derives the notice's index rows (outbox, deadlines, counts) from the old and new record
//! inside the same transaction.

use std::collections::BTreeMap;

use crate::model::Timestamp;
use async_trait::async_trait;
use redb::{ReadableDatabase, ReadableTable, TableDefinition};
use uuid::Uuid;

use super::{
    ENTRIES, EmbeddedStore, counter, db_err, decode, encode, read_decoded, read_entry,
    take_pending, write_entry, write_lift, write_listing,
};
use crate::model::{Entry, LiftRequest, LocateJob, NewEntry};
use crate::notices::model::{Notice, NoticeStatus, Provider, Restores, epoch_ms};
use crate::store::notices::{
    LocateJobChange, LocateOutcome, NoticeChange, NoticePage, NoticePageQuery, NoticeStore,
    Recorded, still_located,
};
use crate::store::{StoreResult, clamp_limit};

/// Provider id → JSON of the provider.
const PROVIDERS: TableDefinition<&str, &[u8]> = TableDefinition::new("providers");
/// Notice id → JSON of the notice.
const NOTICES: TableDefinition<u128, &[u8]> = TableDefinition::new("notices");
/// (due time in ms, notice id): notices the delivery worker must look at.
const OUTBOX: TableDefinition<(u64, u128), ()> = TableDefinition::new("notice_outbox");
/// (deadline in ms, notice id): notices that become overdue unless acknowledged.
const DEADLINES: TableDefinition<(u64, u128), ()> = TableDefinition::new("notice_deadlines");
/// (provider id, notice id): each provider's notices in time order (ids are UUIDv7).
const BY_PROVIDER: TableDefinition<(&str, u128), ()> = TableDefinition::new("notices_by_provider");
/// Status → number of notices in it.
const COUNTS: TableDefinition<&str, u64> = TableDefinition::new("notice_counts");
/// The `meta` row set once `BY_ENTRY` covers the notices written before it existed.
const ENTRY_INDEX_COMPLETE: &str = "notices_by_entry_complete";
/// Set once every entry located before locating ran in the background has a locate job.
const LOCATE_JOBS_COMPLETE: &str = "locate_jobs_complete";
/// (entry id, notice id) → (): the notices written about each entry.
const BY_ENTRY: TableDefinition<(u128, u128), ()> = TableDefinition::new("notices_by_entry");
/// Entry id → JSON of the entry's locate job.
const LOCATE_JOBS: TableDefinition<u128, &[u8]> = TableDefinition::new("locate_jobs");
/// (due time in ms, entry id): locate jobs the locate worker must look at.
const LOCATE_DUE: TableDefinition<(u64, u128), ()> = TableDefinition::new("locate_due");

pub(super) fn create_tables(txn: &redb::WriteTransaction) -> StoreResult<()> {
    create_tables!(txn; PROVIDERS, NOTICES, OUTBOX, DEADLINES, BY_PROVIDER, COUNTS, BY_ENTRY,
        LOCATE_JOBS, LOCATE_DUE);
    Ok(())
}

/// Writes the locate job `new` over `old` (none for a new job; `new` none removes it) and moves
/// its row in the due index to match.
pub(super) fn write_locate_job(
    txn: &redb::WriteTransaction,
    id: u128,
    old: Option<&LocateJob>,
    new: Option<&LocateJob>,
) -> StoreResult<()> {
    let mut due = txn.open_table(LOCATE_DUE).map_err(db_err)?;
    if let Some(old) = old {
        due.remove((old.due_ms(), id)).map_err(db_err)?;
    }
    let mut jobs = txn.open_table(LOCATE_JOBS).map_err(db_err)?;
    match new {
        Some(new) => {
            due.insert((new.due_ms(), id), ()).map_err(db_err)?;
            jobs.insert(id, encode(new)?.as_slice()).map_err(db_err)?;
        }
        None => {
            jobs.remove(id).map_err(db_err)?;
        }
    }
    Ok(())
}

/// Writes one finished locate attempt inside an open transaction (`record_location`).
fn record_in(txn: &redb::WriteTransaction, outcome: LocateOutcome) -> StoreResult<Recorded> {
    let id = outcome.job.entry_id.as_u128();
    let Some(old) = read_locate_job(txn, id)? else {
        return Ok(Recorded::Lost);
    };
    if !old.held_by(&outcome.node, outcome.attempt) {
        return Ok(Recorded::Lost);
    }
    let mut entry = read_entry(&txn.open_table(ENTRIES).map_err(db_err)?, id)?;
    if !still_located(&entry) {
        write_locate_job(txn, id, Some(&old), None)?;
        return Ok(Recorded::Ended);
    }
    entry.location = Some(outcome.location);
    entry.providers = outcome.providers;
    write_entry(txn, &entry)?;
    for notice in &outcome.notices {
        write_notice(txn, None, notice)?;
    }
    write_locate_job(txn, id, Some(&old), Some(&outcome.job))?;
    Ok(Recorded::Written(Box::new(entry)))
}

/// A change of one record, as `NoticeChange` and `LocateJobChange` are.
type Change<T> = std::sync::Arc<dyn Fn(&mut T) -> bool + Send + Sync>;

/// A batch of compare-and-set changes in one open transaction: each record read, changed and
/// written back when its change says so; the record and whether it changed, or `None` for
/// one that is not there.
fn change_each<T: Clone>(
    txn: &redb::WriteTransaction,
    updates: &[(Uuid, Change<T>)],
    read: impl Fn(&redb::WriteTransaction, u128) -> StoreResult<Option<T>>,
    write: impl Fn(&redb::WriteTransaction, u128, &T, &T) -> StoreResult<()>,
) -> StoreResult<Vec<Option<(T, bool)>>> {
    let mut out = Vec::with_capacity(updates.len());
    for (id, change) in updates {
        let Some(old) = read(txn, id.as_u128())? else {
            out.push(None);
            continue;
        };
        let mut new = old.clone();
        if change(&mut new) {
            write(txn, id.as_u128(), &old, &new)?;
            out.push(Some((new, true)));
        } else {
            out.push(Some((old, false)));
        }
    }
    Ok(out)
}

fn read_locate_job(txn: &redb::WriteTransaction, id: u128) -> StoreResult<Option<LocateJob>> {
    read_decoded::<u128, LocateJob>(&txn.open_table(LOCATE_JOBS).map_err(db_err)?, id)
}

/// Writes `new` over `old` (none for a new notice) and moves its index rows to match.
fn write_notice(
    txn: &redb::WriteTransaction,
    old: Option<&Notice>,
    new: &Notice,
) -> StoreResult<()> {
    let id = new.id.as_u128();
    txn.open_table(NOTICES)
        .map_err(db_err)?
        .insert(id, encode(new)?.as_slice())
        .map_err(db_err)?;
    let mut outbox = txn.open_table(OUTBOX).map_err(db_err)?;
    let mut deadlines = txn.open_table(DEADLINES).map_err(db_err)?;
    if let Some(due) = old.and_then(Notice::outbox_due_ms) {
        outbox.remove((due, id)).map_err(db_err)?;
    }
    if let Some(due) = new.outbox_due_ms() {
        outbox.insert((due, id), ()).map_err(db_err)?;
    }
    if let Some(due) = old.and_then(Notice::deadline_due_ms) {
        deadlines.remove((due, id)).map_err(db_err)?;
    }
    if let Some(due) = new.deadline_due_ms() {
        deadlines.insert((due, id), ()).map_err(db_err)?;
    }
    if old.is_none() {
        txn.open_table(BY_PROVIDER)
            .map_err(db_err)?
            .insert((new.provider_id.as_str(), id), ())
            .map_err(db_err)?;
        txn.open_table(BY_ENTRY)
            .map_err(db_err)?
            .insert((new.entry_id.as_u128(), id), ())
            .map_err(db_err)?;
    }
    let old_status = old.map(|n| n.status);
    if old_status != Some(new.status) {
        let mut counts = txn.open_table(COUNTS).map_err(db_err)?;
        if let Some(status) = old_status {
            let n = counter(&counts, status.as_str())?;
            counts
                .insert(status.as_str(), n.saturating_sub(1))
                .map_err(db_err)?;
        }
        let n = counter(&counts, new.status.as_str())?;
        counts.insert(new.status.as_str(), n + 1).map_err(db_err)?;
    }
    Ok(())
}

impl EmbeddedStore {
    /// Lists an entry (`list` writes it, given the feed retention) and writes its notices and
    /// locate job in one transaction, shared with the listings that arrive with it (group
    /// commit), then moves the head on.
    async fn list_in_one_write(
        &self,
        notices: Vec<Notice>,
        job: Option<LocateJob>,
        list: impl Fn(&redb::WriteTransaction, u64) -> StoreResult<Entry> + Send + 'static,
    ) -> StoreResult<Entry> {
        let retention = self.retention;
        let entry = self
            .writer
            .commit(move |txn| {
                let entry = list(txn, retention)?;
                for notice in &notices {
                    write_notice(txn, None, notice)?;
                }
                if let Some(job) = &job {
                    write_locate_job(txn, job.entry_id.as_u128(), None, Some(job))?;
                }
                Ok(entry)
            })
            .await?;
        self.advance_head(entry.seq);
        Ok(entry)
    }
}

#[async_trait]
impl NoticeStore for EmbeddedStore {
    async fn put_provider(&self, provider: Provider) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            txn.open_table(PROVIDERS)
                .map_err(db_err)?
                .insert(provider.id.as_str(), encode(&provider)?.as_slice())
                .map_err(db_err)?;
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn delete_provider(&self, id: &str) -> StoreResult<bool> {
        let id = id.to_string();
        self.blocking(move |db| super::remove_named(db, PROVIDERS, &id))
            .await
    }

    async fn providers(&self) -> StoreResult<Vec<Provider>> {
        self.blocking(|db| super::read_all(db, PROVIDERS)).await
    }

    async fn provider(&self, id: &str) -> StoreResult<Option<Provider>> {
        let id = id.to_string();
        self.reading(move |txn| {
            let table = txn.open_table(PROVIDERS).map_err(db_err)?;
            let doc = table.get(id.as_str()).map_err(db_err)?;
            doc.map(|doc| decode(doc.value())).transpose()
        })
        .await
    }

    async fn list_with_notices(
        &self,
        mut new: NewEntry,
        notices: Vec<Notice>,
    ) -> StoreResult<Entry> {
        let job = new.locate.take();
        self.list_in_one_write(notices, job, move |txn, retention| {
            let entry = Entry::from_new(new.clone(), 0);
            write_listing(txn, entry, retention, new.replaces, new.case.as_ref())
        })
        .await
    }

    async fn approve_with_notices(
        &self,
        approved: Entry,
        notices: Vec<Notice>,
        job: Option<LocateJob>,
    ) -> StoreResult<Entry> {
        self.list_in_one_write(notices, job, move |txn, retention| {
            take_pending(txn, approved.domain.as_str(), approved.id)?;
            write_listing(txn, approved.clone(), retention, None, None)
        })
        .await
    }

    async fn lift_with_notices(
        &self,
        request: LiftRequest,
        restores: Restores,
    ) -> StoreResult<(Entry, Vec<Notice>)> {
        let retention = self.retention;
        let now = request.lifted_at;
        let (entry, notices) = self
            .blocking(move |db| {
                let txn = db.begin_write().map_err(db_err)?;
                let entry = write_lift(&txn, request, retention)?;
                let notices = restores.notices(&entry, now);
                for notice in &notices {
                    write_notice(&txn, None, notice)?;
                }
                txn.commit().map_err(db_err)?;
                Ok((entry, notices))
            })
            .await?;
        self.advance_head(entry.lift.as_ref().map_or(entry.seq, |l| l.seq));
        Ok((entry, notices))
    }

    async fn locate_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>> {
        self.blocking(move |db| due_ids(db, LOCATE_DUE, now, limit))
            .await
    }

    async fn update_locate_job(
        &self,
        id: Uuid,
        change: LocateJobChange,
    ) -> StoreResult<Option<(LocateJob, bool)>> {
        // One write transaction at a time: the read and the write cannot interleave with
        // another node's claim (nodes of an embedded store share one process).
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let Some(old) = read_locate_job(&txn, id.as_u128())? else {
                return Ok(None);
            };
            let mut new = old.clone();
            if !change(&mut new) {
                return Ok(Some((old, false)));
            }
            write_locate_job(&txn, id.as_u128(), Some(&old), Some(&new))?;
            txn.commit().map_err(db_err)?;
            Ok(Some((new, true)))
        })
        .await
    }

    async fn update_locate_jobs(
        &self,
        updates: Vec<(Uuid, LocateJobChange)>,
    ) -> StoreResult<Vec<Option<(LocateJob, bool)>>> {
        // Nothing to write: no commit (a durable one syncs the disk even when empty).
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        // One round of claims in one write, committed with the listings that arrive with it:
        // listings share the one writer with the locate worker.
        self.writer
            .commit(move |txn| {
                change_each(txn, &updates, read_locate_job, |txn, id, old, new| {
                    write_locate_job(txn, id, Some(old), Some(new))
                })
            })
            .await
    }

    async fn put_locate_job(&self, job: LocateJob) -> StoreResult<bool> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let id = job.entry_id.as_u128();
            if read_locate_job(&txn, id)?.is_some() {
                return Ok(false);
            }
            write_locate_job(&txn, id, None, Some(&job))?;
            txn.commit().map_err(db_err)?;
            Ok(true)
        })
        .await
    }

    async fn put_locate_jobs(&self, jobs: Vec<LocateJob>, complete: bool) -> StoreResult<usize> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let mut written = 0;
            for job in jobs {
                let id = job.entry_id.as_u128();
                if read_locate_job(&txn, id)?.is_none() {
                    write_locate_job(&txn, id, None, Some(&job))?;
                    written += 1;
                }
            }
            if complete {
                txn.open_table(super::META)
                    .map_err(db_err)?
                    .insert(LOCATE_JOBS_COMPLETE, 1)
                    .map_err(db_err)?;
            }
            txn.commit().map_err(db_err)?;
            Ok(written)
        })
        .await
    }

    async fn locate_jobs_complete(&self) -> StoreResult<bool> {
        self.marked(LOCATE_JOBS_COMPLETE).await
    }

    async fn record_location(&self, outcome: LocateOutcome) -> StoreResult<Recorded> {
        let mut recorded = self.record_locations(vec![outcome]).await?;
        Ok(recorded.pop().unwrap_or(Recorded::Lost))
    }

    async fn record_locations(&self, outcomes: Vec<LocateOutcome>) -> StoreResult<Vec<Recorded>> {
        // Nothing to write: no commit (a durable one syncs the disk even when empty).
        if outcomes.is_empty() {
            return Ok(Vec::new());
        }
        // One write for the batch, committed with the listings that arrive with it; each
        // outcome checks its own job, so one that lost its lease writes nothing and leaves the
        // others be.
        self.writer
            .commit(move |txn| {
                let mut out = Vec::with_capacity(outcomes.len());
                for outcome in &outcomes {
                    out.push(record_in(txn, outcome.clone())?);
                }
                Ok(out)
            })
            .await
    }

    async fn locate_queue(&self, now: Timestamp) -> StoreResult<(u64, Option<u64>)> {
        self.reading(move |txn| {
            let table = txn.open_table(LOCATE_DUE).map_err(db_err)?;
            let first = table.first().map_err(db_err)?.map(|(k, _)| k.value().0);
            let mut due = 0;
            for row in table.range(..=(epoch_ms(now), u128::MAX)).map_err(db_err)? {
                row.map_err(db_err)?;
                due += 1;
            }
            Ok((due, first.filter(|ms| *ms <= epoch_ms(now))))
        })
        .await
    }

    async fn notice(&self, id: Uuid) -> StoreResult<Option<Notice>> {
        self.reading(move |txn| {
            read_decoded::<u128, Notice>(&txn.open_table(NOTICES).map_err(db_err)?, id.as_u128())
        })
        .await
    }

    async fn update_notice(
        &self,
        id: Uuid,
        change: NoticeChange,
    ) -> StoreResult<Option<(Notice, bool)>> {
        // redb runs one write transaction at a time, so the read and the write below cannot
        // interleave with another update of the same notice.
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            let old = read_decoded::<u128, Notice>(
                &txn.open_table(NOTICES).map_err(db_err)?,
                id.as_u128(),
            )?;
            let Some(old) = old else {
                return Ok(None);
            };
            let mut new = old.clone();
            if !change(&mut new) {
                return Ok(Some((old, false)));
            }
            write_notice(&txn, Some(&old), &new)?;
            txn.commit().map_err(db_err)?;
            Ok(Some((new, true)))
        })
        .await
    }

    async fn update_notices(
        &self,
        updates: Vec<(Uuid, NoticeChange)>,
    ) -> StoreResult<Vec<Option<(Notice, bool)>>> {
        // Nothing to write: no commit (a durable one syncs the disk even when empty).
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        // One write for the whole batch, committed with the listings that arrive with it:
        // this is what keeps the delivery worker ahead of a burst of listings.
        self.writer
            .commit(move |txn| {
                let read = |txn: &redb::WriteTransaction, id| {
                    read_decoded::<u128, Notice>(&txn.open_table(NOTICES).map_err(db_err)?, id)
                };
                change_each(txn, &updates, read, |txn, _, old, new| {
                    write_notice(txn, Some(old), new)
                })
            })
            .await
    }

    async fn outbox_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>> {
        self.blocking(move |db| due_ids(db, OUTBOX, now, limit))
            .await
    }

    async fn deadlines_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>> {
        self.blocking(move |db| due_ids(db, DEADLINES, now, limit))
            .await
    }

    async fn provider_notices(&self, query: NoticePageQuery) -> StoreResult<NoticePage> {
        let limit = clamp_limit(query.limit);
        self.reading(move |txn| {
            let index = txn.open_table(BY_PROVIDER).map_err(db_err)?;
            let notices = txn.open_table(NOTICES).map_err(db_err)?;
            let start = query.after.map_or(0, |a| a.as_u128().saturating_add(1));
            let pid = query.provider_id.as_str();
            let mut out = Vec::new();
            let mut next = None;
            for row in index
                .range((pid, start)..=(pid, u128::MAX))
                .map_err(db_err)?
            {
                let (key, _) = row.map_err(db_err)?;
                let id = key.value().1;
                if out.len() == limit {
                    next = out.last().map(|n: &Notice| n.id);
                    break;
                }
                if let Some(notice) = read_decoded::<u128, Notice>(&notices, id)?
                    && query.status.is_none_or(|s| s == notice.status)
                {
                    out.push(notice);
                }
            }
            Ok(NoticePage { notices: out, next })
        })
        .await
    }

    async fn notice_counts(&self) -> StoreResult<BTreeMap<NoticeStatus, u64>> {
        self.reading(|txn| {
            let table = txn.open_table(COUNTS).map_err(db_err)?;
            let mut out = BTreeMap::new();
            for status in NoticeStatus::ALL {
                out.insert(status, counter(&table, status.as_str())?);
            }
            Ok(out)
        })
        .await
    }

    async fn entry_notices(&self, entry_id: Uuid) -> StoreResult<Vec<Notice>> {
        self.reading(move |txn| {
            let index = txn.open_table(BY_ENTRY).map_err(db_err)?;
            let notices = txn.open_table(NOTICES).map_err(db_err)?;
            let entry = entry_id.as_u128();
            let mut out = Vec::new();
            for row in index
                .range((entry, 0)..=(entry, u128::MAX))
                .map_err(db_err)?
            {
                let (key, _) = row.map_err(db_err)?;
                if let Some(notice) = read_decoded::<u128, Notice>(&notices, key.value().1)? {
                    out.push(notice);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn add_entry_notice_rows(
        &self,
        rows: Vec<(Uuid, Uuid)>,
        complete: bool,
    ) -> StoreResult<()> {
        self.blocking(move |db| {
            let txn = db.begin_write().map_err(db_err)?;
            {
                let mut index = txn.open_table(BY_ENTRY).map_err(db_err)?;
                for (entry, notice) in rows {
                    index
                        .insert((entry.as_u128(), notice.as_u128()), ())
                        .map_err(db_err)?;
                }
                if complete {
                    txn.open_table(super::META)
                        .map_err(db_err)?
                        .insert(ENTRY_INDEX_COMPLETE, 1)
                        .map_err(db_err)?;
                }
            }
            txn.commit().map_err(db_err)
        })
        .await
    }

    async fn entry_notices_complete(&self) -> StoreResult<bool> {
        self.marked(ENTRY_INDEX_COMPLETE).await
    }
}

fn due_ids(
    db: &redb::Database,
    table: TableDefinition<(u64, u128), ()>,
    now: Timestamp,
    limit: usize,
) -> StoreResult<Vec<Uuid>> {
    let txn = db.begin_read().map_err(db_err)?;
    let table = txn.open_table(table).map_err(db_err)?;
    let mut out = Vec::new();
    for row in table
        .range(..=(epoch_ms(now), u128::MAX))
        .map_err(db_err)?
        .take(limit)
    {
        let (key, _) = row.map_err(db_err)?;
        out.push(Uuid::from_u128(key.value().1));
    }
    Ok(out)
}
