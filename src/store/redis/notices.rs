//! Providers and notices in the Redis store. The list and lift scripts are extended, not
//! copied: the notice writes are spliced in before their final `return`, so a listing and its
//! notices are one script call and so one atomic step. A notice is a hash (`doc`, `ver`);
//! every change is a compare-and-set on `ver` that also moves the notice's rows in the outbox,
//! deadline and count keys, so two nodes can never both win the same attempt.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::model::Timestamp;
use async_trait::async_trait;
use redis::{AsyncCommands, Script, ScriptInvocation};
use uuid::Uuid;

use super::entries::LocatedDoc;
use super::keys::Keys;
use super::scripts::{LIFT, LIST, Lua, VERSION_MOVED, WRITTEN, outcomes};
use super::{RedisStore, redis_err};
use crate::model::{Entry, LiftRequest, LocateJob, NewEntry};
use crate::notices::model::{Notice, NoticeStatus, Provider, Restores, epoch_ms};
use crate::store::notices::{
    LocateJobChange, LocateOutcome, NoticeChange, NoticePage, NoticePageQuery, NoticeStore,
    Recorded, still_located,
};
use crate::store::{StoreError, StoreResult, clamp_limit};

/// Writes the notices passed at the end of the call. Counting from the end keeps this
/// independent of how many keys and arguments the script it extends takes; it answers
/// nothing, the script it extends does. Its locals are named apart from the extended
/// script's (`notice_`), and it declares no `seq`, which the success answer after it reads.
///
/// KEYS, the last 3 + 3n: the outbox, the deadlines, the counts, then each notice's hash, its
/// provider's index and its entry's index.
///
/// ARGV, the last 4n + 1: each notice's id, document, outbox score and deadline score (''
/// when it has none), then n, the number of notices.
const NOTICE_WRITES: &str = r#"
local notice_count = tonumber(ARGV[#ARGV])
local notice_keys = #KEYS - 3 - 3 * notice_count
local notice_args = #ARGV - 1 - 4 * notice_count
local notice_outbox = KEYS[notice_keys + 1]
local notice_deadlines = KEYS[notice_keys + 2]
local notice_counts = KEYS[notice_keys + 3]
for i = 0, notice_count - 1 do
  local notice = KEYS[notice_keys + 4 + 3 * i]
  local provider_notices = KEYS[notice_keys + 5 + 3 * i]
  local entry_notices = KEYS[notice_keys + 6 + 3 * i]
  local id = ARGV[notice_args + 1 + 4 * i]
  local doc = ARGV[notice_args + 2 + 4 * i]
  local outbox_score = ARGV[notice_args + 3 + 4 * i]
  local deadline_score = ARGV[notice_args + 4 + 4 * i]
  redis.call('HSET', notice, 'doc', doc, 'ver', 1)
  if outbox_score ~= '' then redis.call('ZADD', notice_outbox, outbox_score, id) end
  if deadline_score ~= '' then redis.call('ZADD', notice_deadlines, deadline_score, id) end
  redis.call('ZADD', provider_notices, 0, id)
  redis.call('ZADD', entry_notices, 0, id)
  redis.call('HINCRBY', notice_counts, 'pending', 1)
end
"#;

/// Writes a listing's locate job, in the list script after the notice writes (whose
/// `notice_keys` and `notice_args` it reads). KEYS just before the notices' part: the job's
/// hash, the due index. ARGV just before the notices' part: the entry id, the job's document,
/// its due score ('' when the listing has no job).
const LOCATE_WRITE: &str = r#"
local locate_score = ARGV[notice_args]
if locate_score ~= '' then
  redis.call('HSET', KEYS[notice_keys - 1], 'doc', ARGV[notice_args - 1], 'ver', 1)
  redis.call('ZADD', KEYS[notice_keys], locate_score, ARGV[notice_args - 2])
end
"#;

/// Compare-and-set of a locate job, moving its row in the due index.
///
/// KEYS: 1 the job hash, 2 the due index. ARGV: 1 the entry id, 2 the version read, 3 the new
/// document, 4 its due score.
///
/// Answers `WRITTEN`, or `VERSION_MOVED` when the version moved on (the caller reads again).
const UPDATE_LOCATE: Lua = Lua {
    keys: "job due",
    argv: "id expected doc score",
    outcomes: outcomes![WRITTEN, VERSION_MOVED],
    body: r#"
local ver = redis.call('HGET', job, 'ver')
if ver ~= expected then return VERSION_MOVED end
redis.call('HSET', job, 'doc', doc, 'ver', tonumber(ver) + 1)
redis.call('ZADD', due, score, id)
return WRITTEN
"#,
};

/// Writes a locate job unless the entry has one.
///
/// KEYS: 1 the job hash, 2 the due index. ARGV: 1 the entry id, 2 the document, 3 its due
/// score. Answers `WRITTEN`, or `VERSION_MOVED` when a job is there already.
const PUT_LOCATE: Lua = Lua {
    keys: "job due",
    argv: "id doc score",
    outcomes: outcomes![WRITTEN, VERSION_MOVED],
    body: r#"
if redis.call('EXISTS', job) == 1 then return VERSION_MOVED end
redis.call('HSET', job, 'doc', doc, 'ver', 1)
redis.call('ZADD', due, score, id)
return WRITTEN
"#,
};

/// The entry is no longer active: its locate job was removed.
const ENDED: i64 = 2;

/// Records a finished locate attempt: the job (compare-and-set on the version the worker read
/// after its claim), the entry's `located` field, and the new notices, spliced in as in the
/// list script. A lifted entry only loses its job.
///
/// KEYS: 1 the job hash, 2 the due index, 3 the entry hash, then the notice keys.
/// ARGV: 1 the entry id, 2 the version read, 3 the job's new document, 4 its due score,
/// 5 the `located` document, then the notice arguments.
///
/// Answers `{WRITTEN, 0}`, `{VERSION_MOVED, 0}` or `{ENDED, 0}`.
const RECORD_LOCATION: Lua = Lua {
    keys: "job due entry",
    argv: "id expected doc score located",
    outcomes: outcomes![WRITTEN, VERSION_MOVED, ENDED],
    body: r#"
local ver = redis.call('HGET', job, 'ver')
if ver ~= expected then return {VERSION_MOVED, 0} end
if redis.call('HEXISTS', entry, 'lift') == 1 or redis.call('EXISTS', entry) == 0 then
  redis.call('DEL', job)
  redis.call('ZREM', due, id)
  return {ENDED, 0}
end
redis.call('HSET', job, 'doc', doc, 'ver', tonumber(ver) + 1)
redis.call('ZADD', due, score, id)
redis.call('HSET', entry, 'located', located) -- entries::LOCATED
local seq = 0
return {WRITTEN, seq}
"#,
};

/// Where the notice writes go: right before the success answer of the list and lift scripts,
/// after every check that can refuse the write.
const SUCCESS: &str = "return {WRITTEN, seq}";

/// Compare-and-set of one notice, moving its rows in the outbox, deadline and count keys.
///
/// KEYS: 1 the notice hash, 2 the outbox, 3 the deadlines, 4 the counts.
///
/// ARGV: 1 id, 2 the version read, 3 new document, 4 outbox score, 5 deadline score (''
/// removes the row), 6 old status, 7 new status.
///
/// Answers `WRITTEN`, or `VERSION_MOVED` when the version moved on (the caller reads again).
pub(super) const UPDATE: Lua = Lua {
    keys: "notice outbox deadlines counts",
    argv: "id expected doc outbox_score deadline_score old_status new_status",
    outcomes: outcomes![WRITTEN, VERSION_MOVED],
    body: r#"
local ver = redis.call('HGET', notice, 'ver')
if ver ~= expected then return VERSION_MOVED end
redis.call('HSET', notice, 'doc', doc, 'ver', tonumber(ver) + 1)
if outbox_score == '' then redis.call('ZREM', outbox, id) else redis.call('ZADD', outbox, outbox_score, id) end
if deadline_score == '' then redis.call('ZREM', deadlines, id) else redis.call('ZADD', deadlines, deadline_score, id) end
if old_status ~= new_status then
  redis.call('HINCRBY', counts, old_status, -1)
  redis.call('HINCRBY', counts, new_status, 1)
end
return WRITTEN
"#,
};

/// How often an update re-reads a notice that another node changed meanwhile.
const UPDATE_TRIES: usize = 16;

pub(super) struct Scripts {
    pub(super) list: Script,
    lift: Script,
    update: Script,
    update_locate: Script,
    put_locate: Script,
    record_location: Script,
}

/// `script` with the notice writes spliced in before its success answer.
fn with_notice_writes(script: &str) -> String {
    assert!(
        script.matches(SUCCESS).count() == 1,
        "the script must answer success in exactly one place"
    );
    script.replacen(SUCCESS, &format!("{NOTICE_WRITES}{SUCCESS}"), 1)
}

/// `script` with the notice writes and then the locate job's write spliced in before its
/// success answer.
fn with_job_and_notice_writes(script: &str) -> String {
    with_notice_writes(script).replacen(SUCCESS, &format!("{LOCATE_WRITE}{SUCCESS}"), 1)
}

impl Scripts {
    pub(super) fn new() -> Scripts {
        Scripts {
            list: Script::new(&with_job_and_notice_writes(&LIST.text())),
            lift: Script::new(&with_notice_writes(&LIFT.text())),
            update: UPDATE.script(),
            update_locate: UPDATE_LOCATE.script(),
            put_locate: PUT_LOCATE.script(),
            record_location: Script::new(&with_notice_writes(&RECORD_LOCATION.text())),
        }
    }
}

/// Appends a listing's locate job (or its absence) and its notices to a call of the extended
/// list script, in the layout `LOCATE_WRITE` and `NOTICE_WRITES` read.
pub(super) fn append_job_and_notices(
    invocation: &mut ScriptInvocation<'_>,
    entry: Uuid,
    job: Option<&LocateJob>,
    notices: &[Notice],
) -> StoreResult<()> {
    invocation
        .key(Keys::locate_job(entry))
        .key(Keys::locate_due())
        .arg(entry.simple().to_string())
        .arg(match job {
            Some(job) => serde_json::to_vec(job).map_err(StoreError::corrupt)?,
            None => Vec::new(),
        })
        .arg(score(job.map(LocateJob::due_ms)));
    append_new_notices(invocation, notices)
}

fn score(ms: Option<u64>) -> String {
    ms.map_or_else(String::new, |ms| ms.to_string())
}

/// Appends new notices to a list or lift call in the layout `NOTICE_WRITES` reads.
pub(super) fn append_new_notices(
    invocation: &mut ScriptInvocation<'_>,
    notices: &[Notice],
) -> StoreResult<()> {
    invocation
        .key(Keys::notice_outbox())
        .key(Keys::notice_deadlines())
        .key(Keys::notice_counts());
    for notice in notices {
        invocation
            .key(Keys::notice(notice.id))
            .key(Keys::provider_notices(&notice.provider_id))
            .key(Keys::entry_notices(notice.entry_id));
    }
    for notice in notices {
        invocation
            .arg(notice.id.simple().to_string())
            .arg(serde_json::to_vec(notice).map_err(StoreError::corrupt)?)
            .arg(score(notice.outbox_due_ms()))
            .arg(score(notice.deadline_due_ms()));
    }
    invocation.arg(notices.len());
    Ok(())
}

fn decode_notice(bytes: &[u8]) -> StoreResult<Notice> {
    serde_json::from_slice(bytes).map_err(StoreError::corrupt)
}

impl RedisStore {
    /// Lists `entry` (or, `approving`, the pending entry it approves) with its notices in one
    /// call of the extended list script.
    async fn list_entry_with_notices(
        &self,
        entry: Entry,
        approving: Option<Uuid>,
        replaces: Option<Uuid>,
        case: Option<&crate::model::CaseWrite>,
        notices: Vec<Notice>,
        job: Option<LocateJob>,
    ) -> StoreResult<Entry> {
        let mut invocation =
            self.list_invocation_of(&self.notice_scripts.list, &entry, approving, replaces, case)?;
        append_job_and_notices(&mut invocation, entry.id, job.as_ref(), &notices)?;
        match self.invoke_list_with(invocation).await? {
            Ok(seq) => Ok(Entry {
                seq,
                status: if entry.status == crate::model::EntryStatus::Suspended {
                    entry.status
                } else {
                    crate::model::EntryStatus::Active
                },
                ..entry
            }),
            Err(refusal) => Err(self.refused(&entry.domain, refusal).await),
        }
    }

    /// The update script's call that moves notice `id` from `old`, read at version `ver`,
    /// to `new`.
    fn update_invocation(
        &self,
        id: Uuid,
        ver: &str,
        old: &Notice,
        new: &Notice,
    ) -> StoreResult<ScriptInvocation<'_>> {
        let doc = serde_json::to_vec(new).map_err(StoreError::corrupt)?;
        let mut invocation = self.notice_scripts.update.prepare_invoke();
        invocation
            .key(Keys::notice(id))
            .key(Keys::notice_outbox())
            .key(Keys::notice_deadlines())
            .key(Keys::notice_counts())
            .arg(id.simple().to_string())
            .arg(ver)
            .arg(doc)
            .arg(score(new.outbox_due_ms()))
            .arg(score(new.deadline_due_ms()))
            .arg(old.status.as_str())
            .arg(new.status.as_str());
        Ok(invocation)
    }

    async fn read_locate_job(&self, id: Uuid) -> StoreResult<Option<(LocateJob, String)>> {
        let (doc, ver): (Option<Vec<u8>>, Option<String>) = redis::cmd("HMGET")
            .arg(Keys::locate_job(id))
            .arg("doc")
            .arg("ver")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        match (doc, ver) {
            (Some(doc), Some(ver)) => Ok(Some((
                serde_json::from_slice(&doc).map_err(StoreError::corrupt)?,
                ver,
            ))),
            _ => Ok(None),
        }
    }

    async fn read_notice(&self, id: Uuid) -> StoreResult<Option<(Notice, String)>> {
        let (doc, ver): (Option<Vec<u8>>, Option<String>) = redis::cmd("HMGET")
            .arg(Keys::notice(id))
            .arg("doc")
            .arg("ver")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        match (doc, ver) {
            (Some(doc), Some(ver)) => Ok(Some((decode_notice(&doc)?, ver))),
            _ => Ok(None),
        }
    }

    async fn read_notices(&self, ids: &[String]) -> StoreResult<Vec<Notice>> {
        let docs: Vec<Option<Vec<u8>>> = self
            .read_by_ids(ids, |pipe, id| {
                pipe.hget(Keys::notice(id), "doc");
            })
            .await?;
        docs.into_iter()
            .flatten()
            .map(|doc| decode_notice(&doc))
            .collect()
    }

    async fn due(&self, key: String, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>> {
        let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
            .arg(key)
            .arg("-inf")
            .arg(epoch_ms(now))
            .arg("LIMIT")
            .arg(0)
            .arg(limit)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        ids.iter()
            .map(|id| Uuid::parse_str(id).map_err(StoreError::corrupt))
            .collect()
    }
}

#[async_trait]
impl NoticeStore for RedisStore {
    async fn put_provider(&self, provider: Provider) -> StoreResult<()> {
        let doc = serde_json::to_vec(&provider).map_err(StoreError::corrupt)?;
        let _: i64 = self
            .conn
            .clone()
            .hset(Keys::providers(), &provider.id, doc)
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn delete_provider(&self, id: &str) -> StoreResult<bool> {
        let removed: i64 = self
            .conn
            .clone()
            .hdel(Keys::providers(), id)
            .await
            .map_err(redis_err)?;
        Ok(removed > 0)
    }

    async fn providers(&self) -> StoreResult<Vec<Provider>> {
        self.hash_docs(Keys::providers()).await
    }

    async fn provider(&self, id: &str) -> StoreResult<Option<Provider>> {
        let doc: Option<Vec<u8>> = self
            .conn
            .clone()
            .hget(Keys::providers(), id)
            .await
            .map_err(redis_err)?;
        doc.map(|doc| serde_json::from_slice(&doc).map_err(StoreError::corrupt))
            .transpose()
    }

    async fn list_with_notices(
        &self,
        mut new: NewEntry,
        notices: Vec<Notice>,
    ) -> StoreResult<Entry> {
        let (replaces, case, job) = (new.replaces, new.case.clone(), new.locate.take());
        let entry = Entry::from_new(new, 0);
        self.list_entry_with_notices(entry, None, replaces, case.as_ref(), notices, job)
            .await
    }

    async fn approve_with_notices(
        &self,
        approved: Entry,
        notices: Vec<Notice>,
        job: Option<LocateJob>,
    ) -> StoreResult<Entry> {
        // The list script itself refuses unless this very entry is the pending one.
        let id = approved.id;
        self.list_entry_with_notices(approved, Some(id), None, None, notices, job)
            .await
    }

    async fn locate_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>> {
        self.due(Keys::locate_due(), now, limit).await
    }

    async fn update_locate_job(
        &self,
        id: Uuid,
        change: LocateJobChange,
    ) -> StoreResult<Option<(LocateJob, bool)>> {
        for _ in 0..UPDATE_TRIES {
            let Some((old, ver)) = self.read_locate_job(id).await? else {
                return Ok(None);
            };
            let mut new = old.clone();
            if !change(&mut new) {
                return Ok(Some((old, false)));
            }
            let written: i64 = self
                .notice_scripts
                .update_locate
                .key(Keys::locate_job(id))
                .key(Keys::locate_due())
                .arg(id.simple().to_string())
                .arg(&ver)
                .arg(serde_json::to_vec(&new).map_err(StoreError::corrupt)?)
                .arg(new.due_ms())
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_err)?;
            if written == WRITTEN {
                return Ok(Some((new, true)));
            }
        }
        Err(StoreError::Unavailable(format!(
            "the locate job of {id} kept changing while being updated"
        )))
    }

    async fn put_locate_job(&self, job: LocateJob) -> StoreResult<bool> {
        let written: i64 = self
            .notice_scripts
            .put_locate
            .key(Keys::locate_job(job.entry_id))
            .key(Keys::locate_due())
            .arg(job.entry_id.simple().to_string())
            .arg(serde_json::to_vec(&job).map_err(StoreError::corrupt)?)
            .arg(job.due_ms())
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(written == WRITTEN)
    }

    async fn put_locate_jobs(&self, jobs: Vec<LocateJob>, complete: bool) -> StoreResult<usize> {
        // One script a job (each checks its own key); the mark goes last, once all are in.
        let mut written = 0;
        for job in jobs {
            if self.put_locate_job(job).await? {
                written += 1;
            }
        }
        if complete {
            let () = redis::cmd("SET")
                .arg(Keys::locate_jobs_complete())
                .arg(1)
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_err)?;
        }
        Ok(written)
    }

    async fn locate_jobs_complete(&self) -> StoreResult<bool> {
        self.marked(Keys::locate_jobs_complete()).await
    }

    async fn record_location(&self, outcome: LocateOutcome) -> StoreResult<Recorded> {
        let id = outcome.job.entry_id;
        let Some((held, ver)) = self.read_locate_job(id).await? else {
            return Ok(Recorded::Lost);
        };
        if !held.held_by(&outcome.node, outcome.attempt) {
            return Ok(Recorded::Lost);
        }
        let located = LocatedDoc {
            location: outcome.location,
            providers: outcome.providers,
        };
        let mut invocation = self.notice_scripts.record_location.prepare_invoke();
        invocation
            .key(Keys::locate_job(id))
            .key(Keys::locate_due())
            .key(Keys::entry(id))
            .arg(id.simple().to_string())
            .arg(&ver)
            .arg(serde_json::to_vec(&outcome.job).map_err(StoreError::corrupt)?)
            .arg(outcome.job.due_ms())
            .arg(serde_json::to_vec(&located).map_err(StoreError::corrupt)?);
        append_new_notices(&mut invocation, &outcome.notices)?;
        let (answer, _): (i64, i64) = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        match answer {
            WRITTEN => match self.read_entries(&[id.simple().to_string()]).await?.pop() {
                Some(entry) if still_located(&entry) => Ok(Recorded::Written(Box::new(entry))),
                _ => Ok(Recorded::Ended),
            },
            ENDED => Ok(Recorded::Ended),
            _ => Ok(Recorded::Lost),
        }
    }

    async fn locate_queue(&self, now: Timestamp) -> StoreResult<(u64, Option<u64>)> {
        let (due, first): (u64, Vec<(String, f64)>) = redis::pipe()
            .cmd("ZCOUNT")
            .arg(Keys::locate_due())
            .arg("-inf")
            .arg(epoch_ms(now))
            .cmd("ZRANGE")
            .arg(Keys::locate_due())
            .arg(0)
            .arg(0)
            .arg("WITHSCORES")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let oldest = first
            .first()
            .map(|(_, ms)| *ms as u64)
            .filter(|ms| *ms <= epoch_ms(now));
        Ok((due, oldest))
    }

    async fn lift_with_notices(
        &self,
        request: LiftRequest,
        restores: Restores,
    ) -> StoreResult<(Entry, Vec<Notice>)> {
        let now = request.lifted_at;
        let restore = move |entry: &Entry| restores.notices(entry, now);
        self.lift_via(&self.notice_scripts.lift, request, &restore)
            .await
    }

    async fn notice(&self, id: Uuid) -> StoreResult<Option<Notice>> {
        Ok(self.read_notice(id).await?.map(|(notice, _)| notice))
    }

    async fn update_notice(
        &self,
        id: Uuid,
        change: NoticeChange,
    ) -> StoreResult<Option<(Notice, bool)>> {
        for _ in 0..UPDATE_TRIES {
            let Some((old, ver)) = self.read_notice(id).await? else {
                return Ok(None);
            };
            let mut new = old.clone();
            if !change(&mut new) {
                return Ok(Some((old, false)));
            }
            let written: i64 = self
                .update_invocation(id, &ver, &old, &new)?
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_err)?;
            // VERSION_MOVED: read again.
            if written == WRITTEN {
                return Ok(Some((new, true)));
            }
        }
        Err(StoreError::Unavailable(format!(
            "notice {id} kept changing while being updated"
        )))
    }

    async fn update_notices(
        &self,
        updates: Vec<(Uuid, NoticeChange)>,
    ) -> StoreResult<Vec<Option<(Notice, bool)>>> {
        // One round trip to read every notice and one to compare-and-set them all; a notice
        // another node changed in between is retried on its own.
        if updates.is_empty() {
            return Ok(Vec::new());
        }
        let mut read = redis::pipe();
        for (id, _) in &updates {
            read.cmd("HMGET")
                .arg(Keys::notice(*id))
                .arg("doc")
                .arg("ver");
        }
        let current: Vec<(Option<Vec<u8>>, Option<String>)> = read
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let mut out: Vec<Option<(Notice, bool)>> = Vec::with_capacity(updates.len());
        // The script may not be loaded on this server yet: load it first in the same batch.
        let mut write = redis::pipe();
        write.load_script(&self.notice_scripts.update).ignore();
        let mut pending = Vec::new();
        for (index, ((id, change), (doc, ver))) in updates.iter().zip(current).enumerate() {
            let (Some(doc), Some(ver)) = (doc, ver) else {
                out.push(None);
                continue;
            };
            let old = decode_notice(&doc)?;
            let mut new = old.clone();
            if !change(&mut new) {
                out.push(Some((old, false)));
                continue;
            }
            write.invoke_script(&self.update_invocation(*id, &ver, &old, &new)?);
            pending.push(index);
            out.push(Some((new, true)));
        }
        if pending.is_empty() {
            return Ok(out);
        }
        let written: Vec<i64> = write
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        for (index, written) in pending.into_iter().zip(written) {
            if written != WRITTEN {
                let (id, change) = &updates[index];
                out[index] = self.update_notice(*id, Arc::clone(change)).await?;
            }
        }
        Ok(out)
    }

    async fn outbox_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>> {
        self.due(Keys::notice_outbox(), now, limit).await
    }

    async fn deadlines_due(&self, now: Timestamp, limit: usize) -> StoreResult<Vec<Uuid>> {
        self.due(Keys::notice_deadlines(), now, limit).await
    }

    async fn provider_notices(&self, query: NoticePageQuery) -> StoreResult<NoticePage> {
        let limit = clamp_limit(query.limit);
        let key = Keys::provider_notices(&query.provider_id);
        let mut from = query
            .after
            .map_or_else(|| "-".to_string(), |a| format!("({}", a.simple()));
        let mut out: Vec<Notice> = Vec::new();
        loop {
            let ids = self.page_of(&key, (&from, "+"), "BYLEX", limit).await?;
            let exhausted = ids.len() <= limit;
            for notice in self.read_notices(&ids).await? {
                if out.len() == limit {
                    let next = out.last().map(|n| n.id);
                    return Ok(NoticePage { notices: out, next });
                }
                if query.status.is_none_or(|s| s == notice.status) {
                    out.push(notice);
                }
            }
            match ids.last() {
                Some(last) if !exhausted => from = format!("({last}"),
                _ => {
                    return Ok(NoticePage {
                        notices: out,
                        next: None,
                    });
                }
            }
        }
    }

    async fn notice_counts(&self) -> StoreResult<BTreeMap<NoticeStatus, u64>> {
        let counts: HashMap<String, i64> = self
            .conn
            .clone()
            .hgetall(Keys::notice_counts())
            .await
            .map_err(redis_err)?;
        Ok(NoticeStatus::ALL
            .into_iter()
            .map(|s| {
                (
                    s,
                    counts.get(s.as_str()).copied().unwrap_or(0).max(0) as u64,
                )
            })
            .collect())
    }

    async fn entry_notices(&self, entry_id: Uuid) -> StoreResult<Vec<Notice>> {
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(Keys::entry_notices(entry_id))
            .arg(0)
            .arg(-1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        self.read_notices(&ids).await
    }

    async fn add_entry_notice_rows(
        &self,
        rows: Vec<(Uuid, Uuid)>,
        complete: bool,
    ) -> StoreResult<()> {
        // Each row is its own idempotent ZADD: a pipeline cut short leaves rows that a rerun
        // adds again, and the mark goes last.
        let mut pipe = redis::pipe();
        for (entry, notice) in &rows {
            pipe.cmd("ZADD")
                .arg(Keys::entry_notices(*entry))
                .arg(0)
                .arg(notice.simple().to_string())
                .ignore();
        }
        if complete {
            pipe.cmd("SET")
                .arg(Keys::entry_notices_complete())
                .arg(1)
                .ignore();
        }
        if rows.is_empty() && !complete {
            return Ok(());
        }
        pipe.query_async::<()>(&mut self.conn.clone())
            .await
            .map_err(redis_err)
    }

    async fn entry_notices_complete(&self) -> StoreResult<bool> {
        self.marked(Keys::entry_notices_complete()).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_extended_scripts_write_notices_before_answering_success() {
        for script in [LIST.text(), LIFT.text()] {
            let extended = with_notice_writes(&script);
            let writes = extended.find("local notice_count = tonumber").unwrap();
            assert!(writes < extended.find(SUCCESS).unwrap());
            // Every early answer (a refusal) still comes before the writes.
            let refusals: Vec<usize> = extended
                .match_indices("return {")
                .map(|(at, _)| at)
                .filter(|at| !extended[*at..].starts_with(SUCCESS))
                .collect();
            assert!(!refusals.is_empty());
            assert!(refusals.iter().all(|at| *at < writes));
        }
    }
}
