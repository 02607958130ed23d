//! The Redis store, for several siteban nodes sharing one registry. Every key is built by
//! [`Keys`] and carries the one hash tag `{siteban}`, so every multi-key script touches a single
//! hash slot and the same code runs on Redis Cluster. Each write is one Lua script: Redis runs a
//! script atomically and refuses a writing script up front when out of memory, and every script
//! here does its checks before its first write, so a failing write leaves nothing half done.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{AsyncCommands, Script, Value};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::Mutex;
use uuid::Uuid;

mod cases;
mod conn;
mod notices;
mod records;

use conn::Conn;
pub use conn::{Ack, Options, Target};

use super::{
    ActiveSet, FORMAT_VERSION, FollowBatch, FollowCursor, Refused, StatusFilter, Store, StoreError,
    StoreResult, check_contiguous, clamp_limit, decode_active, encode_active,
};
use crate::audit::{AuditEvent, AuditRecord};
use crate::domain::{Category, Decision, DomainName, Scope};
use crate::model::{
    Actor, CaseWrite, Entry, EntryStatus, Event, EventKind, KeyRecord, LiftRequest, NewEntry,
    ProtectedName, Review,
};

/// Builds every Redis key the service uses; nothing else in the code names a key.
struct Keys;

impl Keys {
    const TAG: &'static str = "{siteban}";

    fn named(name: &str) -> String {
        format!("{}:{name}", Self::TAG)
    }
    fn format() -> String {
        Self::named("format")
    }
    fn seq() -> String {
        Self::named("seq")
    }
    fn feed() -> String {
        Self::named("feed")
    }
    fn active() -> String {
        Self::named("active")
    }
    fn entry(id: Uuid) -> String {
        format!("{}:entry:{}", Self::TAG, id.simple())
    }
    fn history(domain: &DomainName) -> String {
        format!("{}:history:{}", Self::TAG, domain.as_str())
    }
    fn by_seq(filter: StatusFilter) -> String {
        Self::named(match filter {
            StatusFilter::All => "by_seq:all",
            StatusFilter::Active => "by_seq:active",
            StatusFilter::Lifted => "by_seq:lifted",
        })
    }
    fn keys() -> String {
        Self::named("keys")
    }
    fn keys_version() -> String {
        Self::named("keys:version")
    }
    fn keys_log() -> String {
        Self::named("keys:log")
    }
    fn pending() -> String {
        Self::named("pending")
    }
    fn audit() -> String {
        Self::named("audit")
    }
    fn audit_head() -> String {
        Self::named("audit:head")
    }
    fn protected() -> String {
        Self::named("protected")
    }
}

/// Lists an entry: checks that a referral case written alongside (KEYS[9], ARGV[11..12]) is
/// still at the version read, that the domain has no active entry (or only the suspension
/// ARGV[13] that this listing replaces: its record's category byte has the high bit) and, for
/// a direct listing, no pending one (for an approval, that the approved entry is the pending
/// one, which it takes out of the pending set); then takes the next sequence number and writes
/// the entry, its history link, the listing indexes, the feed event of type ARGV[10], the
/// replaced suspension's end and the case. The feed stream's entry id is `<seq>-0`, so stream
/// order is sequence order.
const LIST_SCRIPT: &str = r#"
if ARGV[11] ~= '' and (redis.call('HGET', KEYS[9], 'ver') or '0') ~= ARGV[11] then
  return {5, 0}
end
local current = redis.call('HGET', KEYS[3], ARGV[1])
if current and (ARGV[13] == '' or string.sub(current, 1, 16) ~= ARGV[13]
    or string.byte(current, 18) < 128) then
  return {0, current}
end
local pending = redis.call('HGET', KEYS[8], ARGV[1])
if ARGV[9] == '' then
  if pending then return {3, pending} end
else
  if pending ~= ARGV[9] then return {4, 0} end
  redis.call('HDEL', KEYS[8], ARGV[1])
end
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[4], 'doc', ARGV[3], 'seq', seq)
if ARGV[9] == '' then redis.call('RPUSH', KEYS[5], ARGV[4]) end
if current then
  local listed = redis.call('HGET', KEYS[10], 'seq')
  redis.call('HSET', KEYS[10], 'lift', ARGV[14], 'lift_seq', seq)
  redis.call('ZREM', KEYS[7], ARGV[15])
  redis.call('ZADD', KEYS[11], listed, ARGV[15])
end
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[6], seq, ARGV[4])
redis.call('ZADD', KEYS[7], seq, ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], seq .. '-0',
  't', ARGV[10], 'd', ARGV[1], 's', ARGV[5], 'i', ARGV[4], 'c', ARGV[6], 'a', ARGV[7])
if ARGV[11] ~= '' then
  redis.call('HSET', KEYS[9], 'doc', ARGV[12], 'ver', tonumber(ARGV[11]) + 1)
end
return {1, seq}
"#;

/// Lifts the active entry of a domain (or ends a suspension) when it is still the one the
/// caller read (else the caller reads again) and a referral case written alongside (KEYS[7],
/// ARGV[10..11]) is still at the version read, moving it from the active to the lifted index,
/// appending the event of type ARGV[9] and writing the case.
const LIFT_SCRIPT: &str = r#"
if ARGV[10] ~= '' and (redis.call('HGET', KEYS[7], 'ver') or '0') ~= ARGV[10] then
  return {5, 0}
end
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not current then return {0, 0} end
if current ~= ARGV[2] then return {2, 0} end
local listed = redis.call('HGET', KEYS[4], 'seq')
local seq = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[4], 'lift', ARGV[3], 'lift_seq', seq)
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[4])
redis.call('ZADD', KEYS[6], listed, ARGV[4])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[8], seq .. '-0',
  't', ARGV[9], 'd', ARGV[1], 's', ARGV[5], 'i', ARGV[4], 'c', ARGV[6], 'a', ARGV[7])
if ARGV[10] ~= '' then
  redis.call('HSET', KEYS[7], 'doc', ARGV[11], 'ver', tonumber(ARGV[10]) + 1)
end
return {1, seq}
"#;

/// Stores an entry as pending review, unless the domain has an active or pending entry.
const PROPOSE_SCRIPT: &str = r#"
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then return {0, current} end
local pending = redis.call('HGET', KEYS[2], ARGV[1])
if pending then return {3, pending} end
redis.call('HSET', KEYS[3], 'doc', ARGV[3], 'seq', 0)
redis.call('RPUSH', KEYS[4], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return {1, 0}
"#;

/// Rejects the pending entry the caller read, if it is still the pending one.
const REJECT_SCRIPT: &str = r#"
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], 'doc', ARGV[3])
return 1
"#;

/// Appends an audit record chained by the caller to the head it read; refuses (0) when the
/// head moved meanwhile, and the caller chains again. Lua has no SHA-256, hence the
/// compare-and-set rather than hashing here.
const AUDIT_SCRIPT: &str = r#"
local head = redis.call('GET', KEYS[2]) or ''
if head ~= ARGV[1] then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[3])
redis.call('SET', KEYS[2], ARGV[2])
return 1
"#;

/// Adds or removes a key and records the change in the key log that followers block on.
const KEY_SCRIPT: &str = r#"
if ARGV[1] == 'create' then
  redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
elseif redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then
  return 0
end
local version = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 1000, version .. '-0', 'op', ARGV[1], 'id', ARGV[2])
return version
"#;

/// What the entry hash's `doc` field holds: the entry as listed, without its sequence.
#[derive(Serialize, Deserialize)]
struct ListingDoc {
    v: u64,
    entry: Entry,
}

/// What the entry hash's `lift` field holds.
#[derive(Serialize, Deserialize)]
struct LiftDoc {
    reason: String,
    document: Decision,
    lifted_by: Actor,
    #[serde(with = "crate::model::rfc3339")]
    lifted_at: OffsetDateTime,
    /// A suspension that ended without a listing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    expired: bool,
}

pub struct RedisStore {
    target: Target,
    conn: Conn,
    /// The follower's own connection: blocking reads would stall every command queued behind
    /// them on a shared multiplexed connection, and need a longer response timeout.
    follow_conn: Mutex<Option<Conn>>,
    list: Script,
    key: Script,
    propose: Script,
    reject: Script,
    audit: Script,
    /// The list and lift scripts extended to write notices (`redis/notices.rs`).
    notice_scripts: notices::Scripts,
    case_scripts: cases::Scripts,
    retention: u64,
}

fn redis_err(e: redis::RedisError) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl RedisStore {
    /// Connects (to one server, a Cluster, or the primary the sentinels name), checks the
    /// stored format version and warns when Redis keeps nothing on disk.
    pub async fn connect(
        target: Target,
        options: Options,
        retention: u64,
    ) -> StoreResult<RedisStore> {
        let mut conn = Conn::connect(&target, options).await.map_err(redis_err)?;
        let format: Option<u64> = conn.get(Keys::format()).await.map_err(redis_err)?;
        match format {
            None => {
                let _: bool = conn
                    .set_nx(Keys::format(), FORMAT_VERSION)
                    .await
                    .map_err(redis_err)?;
            }
            Some(FORMAT_VERSION) => {}
            Some(other) => {
                return Err(StoreError::corrupt(format!(
                    "redis holds format {other}, this build reads {FORMAT_VERSION}"
                )));
            }
        }
        warn_without_persistence(&mut conn).await;
        conn.check_deployment().await;
        Ok(RedisStore {
            target,
            conn,
            follow_conn: Mutex::new(None),
            list: Script::new(LIST_SCRIPT),
            key: Script::new(KEY_SCRIPT),
            propose: Script::new(PROPOSE_SCRIPT),
            reject: Script::new(REJECT_SCRIPT),
            audit: Script::new(AUDIT_SCRIPT),
            notice_scripts: notices::Scripts::new(),
            case_scripts: cases::Scripts::new(),
            retention: retention.max(1),
        })
    }

    async fn read_entries(&self, ids: &[String]) -> StoreResult<Vec<Entry>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            let id = Uuid::parse_str(id).map_err(StoreError::corrupt)?;
            pipe.hgetall(Keys::entry(id));
        }
        let hashes: Vec<HashMap<String, Vec<u8>>> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        hashes.into_iter().map(decode_entry).collect()
    }

    async fn entry_by_id(&self, id: Uuid) -> StoreResult<Entry> {
        let hash: HashMap<String, Vec<u8>> = self
            .conn
            .clone()
            .hgetall(Keys::entry(id))
            .await
            .map_err(redis_err)?;
        decode_entry(hash)
    }

    /// The list script's call for `entry` (its keys all share the hash tag). With
    /// `approving`, the entry must be the pending one and leaves the pending set.
    fn list_invocation(
        &self,
        entry: &Entry,
        approving: Option<Uuid>,
    ) -> StoreResult<redis::ScriptInvocation<'_>> {
        self.list_invocation_of(&self.list, entry, approving, None, None)
    }

    /// The call of `script`, the list script or one extending it, for `entry`, replacing the
    /// suspension `replaces` and writing `case` when given.
    fn list_invocation_of<'a>(
        &self,
        script: &'a Script,
        entry: &Entry,
        approving: Option<Uuid>,
        replaces: Option<Uuid>,
        case: Option<&CaseWrite>,
    ) -> StoreResult<redis::ScriptInvocation<'a>> {
        let mut entry = entry.clone();
        if entry.status != EntryStatus::Suspended {
            entry.status = EntryStatus::Active;
        }
        entry.seq = 0;
        let kind = Event::listed(&entry).kind;
        let replaced_end = serde_json::to_vec(&LiftDoc {
            reason: format!("replaced by listing {} under the case's decision", entry.id),
            document: entry.decision.clone(),
            lifted_by: entry.listed_by.clone(),
            lifted_at: entry.listed_at,
            expired: false,
        })
        .map_err(StoreError::corrupt)?;
        let replaced = replaces.unwrap_or(Uuid::nil());
        let doc = serde_json::to_vec(&ListingDoc {
            v: FORMAT_VERSION,
            entry: entry.clone(),
        })
        .map_err(StoreError::corrupt)?;
        let mut invocation = script.prepare_invoke();
        invocation
            .key(Keys::seq())
            .key(Keys::feed())
            .key(Keys::active())
            .key(Keys::entry(entry.id))
            .key(Keys::history(&entry.domain))
            .key(Keys::by_seq(StatusFilter::All))
            .key(Keys::by_seq(StatusFilter::Active))
            .key(Keys::pending())
            .key(Keys::case(case.map_or(Uuid::nil(), |c| c.id)))
            .key(Keys::entry(replaced))
            .key(Keys::by_seq(StatusFilter::Lifted))
            .arg(entry.domain.as_str())
            .arg(&encode_active(&entry)[..])
            .arg(doc)
            .arg(entry.id.simple().to_string())
            .arg(entry.scope.as_str())
            .arg(entry.category.as_str())
            .arg(crate::model::rfc3339::format(&entry.listed_at))
            .arg(self.retention)
            .arg(
                approving
                    .map(|id| id.simple().to_string())
                    .unwrap_or_default(),
            )
            .arg(kind.as_str())
            .arg(case.map_or_else(String::new, |c| c.expect.to_string()))
            .arg(case.map_or(&[][..], |c| &c.doc[..]))
            .arg(replaces.map_or(&[][..], |_| &replaced.as_bytes()[..]))
            .arg(replaced_end)
            .arg(replaced.simple().to_string());
        Ok(invocation)
    }

    /// Runs a prepared list invocation: the new sequence, or why nothing was written.
    async fn invoke_list_with(
        &self,
        invocation: redis::ScriptInvocation<'_>,
    ) -> StoreResult<Result<u64, Refusal>> {
        let (ok, value): (i64, Value) = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        refusal(ok, value)
    }

    /// The error for a refused listing or proposal of `domain`.
    async fn refused(&self, domain: &DomainName, refusal: Refusal) -> StoreError {
        let id = match refusal {
            Refusal::Active(record) => match decode_active(domain.as_str(), &record) {
                Ok(record) => record.entry_id,
                Err(e) => return e,
            },
            Refusal::Pending(id) => id,
            Refusal::NotPending => return Refused::NotPending.into(),
            Refusal::CaseChanged => return Refused::CaseChanged.into(),
        };
        match self.entry_by_id(id).await {
            Ok(existing) => Refused::AlreadyListed(Box::new(existing)).into(),
            Err(e) => e,
        }
    }

    /// Lifts with `script` (the lift script or one extending it), writing the notices that
    /// `notices` derives from the entry being lifted in the same script call.
    async fn lift_via(
        &self,
        script: &Script,
        domain: &DomainName,
        request: LiftRequest,
        notices: &(dyn Fn(&Entry) -> Vec<crate::notices::model::Notice> + Sync),
    ) -> StoreResult<(Entry, Vec<crate::notices::model::Notice>)> {
        // Read the active entry, then lift it only if it is still the active one: a concurrent
        // lift and relist between the two steps makes the script answer 2 and we read again.
        for _ in 0..5 {
            let current: Option<Vec<u8>> = self
                .conn
                .clone()
                .hget(Keys::active(), domain.as_str())
                .await
                .map_err(redis_err)?;
            let Some(current) = current else {
                return Err(Refused::NotListed.into());
            };
            let record = decode_active(domain.as_str(), &current)?;
            if request.entry_id.is_some_and(|id| id != record.entry_id) {
                return Err(Refused::NotListed.into());
            }
            let entry = self.entry_by_id(record.entry_id).await?;
            if record.suspended && !request.expire {
                return Err(Refused::Suspended(Box::new(entry)).into());
            }
            if !record.suspended && request.expire {
                return Err(Refused::NotListed.into());
            }
            let doc = serde_json::to_vec(&LiftDoc {
                reason: request.reason.clone(),
                document: request.document.clone(),
                lifted_by: request.lifted_by.clone(),
                lifted_at: request.lifted_at,
                expired: request.expire,
            })
            .map_err(StoreError::corrupt)?;
            let kind = if request.expire {
                EventKind::Expired
            } else {
                EventKind::Lifted
            };
            let case = request.case.as_ref();
            let written = notices(&entry);
            let mut invocation = script.prepare_invoke();
            invocation
                .key(Keys::seq())
                .key(Keys::feed())
                .key(Keys::active())
                .key(Keys::entry(entry.id))
                .key(Keys::by_seq(StatusFilter::Active))
                .key(Keys::by_seq(StatusFilter::Lifted))
                .key(Keys::case(case.map_or(Uuid::nil(), |c| c.id)))
                .arg(domain.as_str())
                .arg(current)
                .arg(doc)
                .arg(entry.id.simple().to_string())
                .arg(entry.scope.as_str())
                .arg(entry.category.as_str())
                .arg(crate::model::rfc3339::format(&request.lifted_at))
                .arg(self.retention)
                .arg(kind.as_str())
                .arg(case.map_or_else(String::new, |c| c.expect.to_string()))
                .arg(case.map_or(&[][..], |c| &c.doc[..]));
            notices::append_new_notices(&mut invocation, &written)?;
            let (outcome, seq): (i64, i64) = invocation
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_err)?;
            match outcome {
                1 => return Ok((entry.lifted(request, seq as u64), written)),
                0 => return Err(Refused::NotListed.into()),
                5 => return Err(Refused::CaseChanged.into()),
                _ => continue,
            }
        }
        Err(StoreError::Unavailable(
            "the entry kept changing while being lifted".into(),
        ))
    }
}

/// Why a listing script wrote nothing.
enum Refusal {
    /// The domain has an active entry (its active record).
    Active(Vec<u8>),
    /// The domain has a pending entry (its id).
    Pending(Uuid),
    /// The entry to approve is not the pending one.
    NotPending,
    /// The case written alongside moved on since it was read.
    CaseChanged,
}

fn refusal(ok: i64, value: Value) -> StoreResult<Result<u64, Refusal>> {
    match (ok, value) {
        (1, Value::Int(seq)) => Ok(Ok(seq as u64)),
        (0, Value::BulkString(current)) => Ok(Err(Refusal::Active(current))),
        (3, Value::BulkString(id)) => {
            let id = std::str::from_utf8(&id)
                .ok()
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or_else(|| StoreError::corrupt("pending id"))?;
            Ok(Err(Refusal::Pending(id)))
        }
        (4, _) => Ok(Err(Refusal::NotPending)),
        (5, _) => Ok(Err(Refusal::CaseChanged)),
        (_, other) => Err(StoreError::corrupt(format!(
            "list script answered {other:?}"
        ))),
    }
}

/// Logs an error when the Redis instance keeps nothing on disk: an acknowledged entry would
/// then not survive a restart of Redis.
async fn warn_without_persistence(conn: &mut Conn) {
    let config: redis::RedisResult<HashMap<String, String>> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("appendonly")
        .arg("appendfsync")
        .query_async::<Vec<String>>(conn)
        .await
        .map(|v| {
            v.chunks(2)
                .filter(|c| c.len() == 2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect()
        });
    let save: redis::RedisResult<Vec<String>> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("save")
        .query_async(conn)
        .await;
    match (config, save) {
        (Ok(aof), Ok(save)) => {
            let aof_on = aof.get("appendonly").is_some_and(|v| v == "yes");
            let rdb_on = save.get(1).is_some_and(|v| !v.trim().is_empty());
            if !aof_on && !rdb_on {
                tracing::error!(
                    "THE REDIS STORE KEEPS NOTHING ON DISK (appendonly no, save \"\"): \
                     acknowledged entries will be lost when Redis restarts; \
                     enable appendonly yes with appendfsync always or everysec"
                );
            } else if !aof_on {
                tracing::warn!(
                    "redis has no append-only file: entries written since the last RDB save \
                     are lost if Redis stops; enable appendonly yes"
                );
            } else if aof.get("appendfsync").is_some_and(|v| v == "no") {
                tracing::warn!(
                    "redis leaves syncing its append-only file to the operating system \
                     (appendfsync no): set appendfsync always or everysec"
                );
            }
        }
        _ => tracing::warn!("cannot read the redis persistence settings (CONFIG GET refused)"),
    }
}

fn decode_entry(mut hash: HashMap<String, Vec<u8>>) -> StoreResult<Entry> {
    let number = |v: Option<Vec<u8>>| -> StoreResult<Option<u64>> {
        v.map(|b| {
            std::str::from_utf8(&b)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| StoreError::corrupt("entry sequence is not a number"))
        })
        .transpose()
    };
    let doc = hash
        .remove("doc")
        .ok_or_else(|| StoreError::corrupt("entry without a document"))?;
    let doc: ListingDoc = serde_json::from_slice(&doc).map_err(StoreError::corrupt)?;
    let mut entry = doc.entry;
    entry.seq = number(hash.remove("seq"))?.unwrap_or(0);
    if let Some(lift) = hash.remove("lift") {
        let lift: LiftDoc = serde_json::from_slice(&lift).map_err(StoreError::corrupt)?;
        let seq = number(hash.remove("lift_seq"))?.unwrap_or(0);
        entry = entry.lifted(
            LiftRequest {
                entry_id: None,
                reason: lift.reason,
                document: lift.document,
                lifted_at: lift.lifted_at,
                lifted_by: lift.lifted_by,
                expire: lift.expired,
                case: None,
            },
            seq,
        );
    }
    Ok(entry)
}

fn decode_event(id: &StreamId) -> StoreResult<Event> {
    let bad = |what: &str| StoreError::corrupt(format!("feed event {}: {what}", id.id));
    let field = |name: &str| -> StoreResult<String> {
        match id.map.get(name) {
            Some(Value::BulkString(b)) => String::from_utf8(b.clone()).map_err(|_| bad(name)),
            Some(Value::SimpleString(s)) => Ok(s.clone()),
            _ => Err(bad(name)),
        }
    };
    let seq = stream_seq(&id.id).ok_or_else(|| bad("id"))?;
    Ok(Event {
        seq,
        kind: EventKind::parse(&field("t")?).ok_or_else(|| bad("type"))?,
        domain: DomainName::parse(&field("d")?).map_err(|_| bad("domain"))?,
        scope: Scope::parse(&field("s")?).ok_or_else(|| bad("scope"))?,
        entry_id: Uuid::parse_str(&field("i")?).map_err(|_| bad("entry id"))?,
        category: Category::parse(&field("c")?).ok_or_else(|| bad("category"))?,
        at: OffsetDateTime::parse(&field("a")?, &time::format_description::well_known::Rfc3339)
            .map_err(|_| bad("time"))?,
    })
}

fn stream_seq(id: &str) -> Option<u64> {
    id.split_once('-').and_then(|(ms, _)| ms.parse().ok())
}

#[async_trait]
impl Store for RedisStore {
    async fn history(&self, domain: &DomainName) -> StoreResult<Vec<Entry>> {
        let ids: Vec<String> = self
            .conn
            .clone()
            .lrange(Keys::history(domain), 0, -1)
            .await
            .map_err(redis_err)?;
        self.read_entries(&ids).await
    }

    async fn entries(
        &self,
        filter: StatusFilter,
        after: u64,
        limit: usize,
    ) -> StoreResult<(Vec<Entry>, Option<u64>)> {
        let limit = clamp_limit(limit);
        let ids: Vec<String> = redis::cmd("ZRANGE")
            .arg(Keys::by_seq(filter))
            .arg(format!("({after}"))
            .arg("+inf")
            .arg("BYSCORE")
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let more = ids.len() > limit;
        let entries = self.read_entries(&ids[..ids.len().min(limit)]).await?;
        let next = if more {
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok((entries, next))
    }

    async fn events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        let limit = clamp_limit(limit);
        // Read the range and the head in one transaction, so that an event written between
        // the two reads cannot look like a trimmed history.
        let (range, head): (StreamRangeReply, Option<u64>) = redis::pipe()
            .atomic()
            .cmd("XRANGE")
            .arg(Keys::feed())
            .arg(format!("{}-0", after.saturating_add(1)))
            .arg("+")
            .arg("COUNT")
            .arg(limit)
            .get(Keys::seq())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let events = range
            .ids
            .iter()
            .map(decode_event)
            .collect::<StoreResult<Vec<_>>>()?;
        check_contiguous(after, &events, head.unwrap_or(0))?;
        Ok(events)
    }

    async fn head(&self) -> StoreResult<u64> {
        let head: Option<u64> = self
            .conn
            .clone()
            .get(Keys::seq())
            .await
            .map_err(redis_err)?;
        Ok(head.unwrap_or(0))
    }

    async fn follow(&self, cursor: FollowCursor, block: Duration) -> StoreResult<FollowBatch> {
        let mut guard = self.follow_conn.lock().await;
        if guard.is_none() {
            // Longer than the block, so a blocking read is never cut short, but bounded so
            // that a hung server is noticed. The follower only reads: no replica wait.
            let options = Options {
                timeout: Duration::from_secs(2),
                response_timeout: block + Duration::from_secs(5),
                ack: None,
            };
            let conn = Conn::connect(&self.target, options)
                .await
                .map_err(redis_err)?;
            *guard = Some(conn);
        }
        let conn = guard.as_mut().expect("connection set above");
        let reply: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREAD")
            .arg("COUNT")
            .arg(1000)
            .arg("BLOCK")
            .arg(block.as_millis().max(1) as u64)
            .arg("STREAMS")
            .arg(Keys::feed())
            .arg(Keys::keys_log())
            .arg(format!("{}-0", cursor.seq))
            .arg(format!("{}-0", cursor.keys_version))
            .query_async(conn)
            .await;
        let reply = match reply {
            Ok(reply) => reply,
            Err(e) => {
                // Drop the connection so the next call dials afresh.
                *guard = None;
                return Err(redis_err(e));
            }
        };
        drop(guard);
        let mut batch = FollowBatch {
            head: cursor.seq,
            ..FollowBatch::default()
        };
        let mut keys_changed = false;
        for stream in reply.map(|r| r.keys).unwrap_or_default() {
            if stream.key == Keys::feed() {
                batch.events = stream
                    .ids
                    .iter()
                    .map(decode_event)
                    .collect::<StoreResult<_>>()?;
                check_contiguous(cursor.seq, &batch.events, 0)?;
                batch.head = batch.events.last().map_or(cursor.seq, |e| e.seq);
            } else if !stream.ids.is_empty() {
                keys_changed = true;
            }
        }
        if keys_changed {
            batch.keys = Some(self.keys().await?);
        }
        Ok(batch)
    }

    async fn active_set(&self) -> StoreResult<ActiveSet> {
        // The scan is not atomic: the sequence read before it tells the follower where to
        // replay from, and replaying events over a newer state converges (see `Index::apply`).
        let mut conn = self.conn.clone();
        let (seq, len): (Option<u64>, usize) = redis::pipe()
            .get(Keys::seq())
            .hlen(Keys::active())
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        // Pages are fetched by their own task while the previous page is decoded, so that
        // Redis and this node work at the same time rather than in turn (at ten million
        // entries, a thousand round trips).
        let (pages, mut received) = tokio::sync::mpsc::channel(4);
        let fetch = tokio::spawn(async move {
            let mut cursor: u64 = 0;
            loop {
                let reply: redis::RedisResult<(u64, Vec<(String, Vec<u8>)>)> = redis::cmd("HSCAN")
                    .arg(Keys::active())
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(10_000)
                    .query_async(&mut conn)
                    .await;
                let next = reply.as_ref().map_or(0, |(next, _)| *next);
                if pages.send(reply.map(|(_, page)| page)).await.is_err() || next == 0 {
                    return;
                }
                cursor = next;
            }
        });
        let mut records = Vec::with_capacity(len + len / 16);
        while let Some(page) = received.recv().await {
            for (domain, bytes) in page.map_err(redis_err)? {
                records.push(decode_active(&domain, &bytes)?);
            }
        }
        fetch.await.map_err(StoreError::unavailable)?;
        Ok(ActiveSet {
            seq: seq.unwrap_or(0),
            records,
        })
    }

    async fn create_key(&self, key: KeyRecord) -> StoreResult<()> {
        let doc = serde_json::to_vec(&key).map_err(StoreError::corrupt)?;
        let _: u64 = self
            .key
            .key(Keys::keys())
            .key(Keys::keys_version())
            .key(Keys::keys_log())
            .arg("create")
            .arg(&key.id)
            .arg(doc)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(())
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let version: u64 = self
            .key
            .key(Keys::keys())
            .key(Keys::keys_version())
            .key(Keys::keys_log())
            .arg("revoke")
            .arg(id)
            .arg("")
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(version != 0)
    }

    async fn keys(&self) -> StoreResult<(u64, Vec<KeyRecord>)> {
        let (version, keys): (Option<u64>, HashMap<String, Vec<u8>>) = redis::pipe()
            .atomic()
            .get(Keys::keys_version())
            .hgetall(Keys::keys())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let keys = keys
            .values()
            .map(|doc| serde_json::from_slice(doc).map_err(StoreError::corrupt))
            .collect::<StoreResult<Vec<KeyRecord>>>()?;
        Ok((version.unwrap_or(0), keys))
    }

    async fn import(&self, entries: Vec<NewEntry>) -> StoreResult<u64> {
        // Pipelined in chunks: each script call is still atomic on its own, and a domain that
        // already has an active entry is skipped by the script's own check.
        let mut imported = 0;
        let mut conn = self.conn.clone();
        for chunk in entries.chunks(1000) {
            let mut pipe = redis::pipe();
            pipe.load_script(&self.list).ignore();
            let mut invocations = Vec::with_capacity(chunk.len());
            let entries: Vec<Entry> = chunk
                .iter()
                .map(|new| Entry::from_new(new.clone(), 0))
                .collect();
            for entry in &entries {
                invocations.push(self.list_invocation(entry, None)?);
            }
            for invocation in &invocations {
                pipe.invoke_script(invocation);
            }
            let outcomes: Vec<(i64, Value)> =
                pipe.query_async(&mut conn).await.map_err(redis_err)?;
            imported += outcomes.iter().filter(|(ok, _)| *ok == 1).count() as u64;
        }
        Ok(imported)
    }

    async fn propose(&self, new: NewEntry) -> StoreResult<Entry> {
        let entry = Entry::pending(new);
        let doc = serde_json::to_vec(&ListingDoc {
            v: FORMAT_VERSION,
            entry: entry.clone(),
        })
        .map_err(StoreError::corrupt)?;
        let (ok, value): (i64, Value) = self
            .propose
            .key(Keys::active())
            .key(Keys::pending())
            .key(Keys::entry(entry.id))
            .key(Keys::history(&entry.domain))
            .arg(entry.domain.as_str())
            .arg(entry.id.simple().to_string())
            .arg(doc)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        match refusal(ok, value)? {
            Ok(_) => Ok(entry),
            Err(refusal) => Err(self.refused(&entry.domain, refusal).await),
        }
    }

    async fn pending(&self, domain: &DomainName) -> StoreResult<Option<Entry>> {
        let id: Option<String> = self
            .conn
            .clone()
            .hget(Keys::pending(), domain.as_str())
            .await
            .map_err(redis_err)?;
        match id {
            None => Ok(None),
            Some(id) => Ok(self.read_entries(&[id]).await?.pop()),
        }
    }

    async fn pending_entries(&self, limit: usize) -> StoreResult<Vec<Entry>> {
        let ids: Vec<String> = self
            .conn
            .clone()
            .hvals(Keys::pending())
            .await
            .map_err(redis_err)?;
        let mut entries = self.read_entries(&ids).await?;
        entries.sort_by_key(|e| e.id);
        entries.truncate(clamp_limit(limit));
        Ok(entries)
    }

    async fn reject(
        &self,
        domain: &DomainName,
        entry_id: Uuid,
        review: Review,
    ) -> StoreResult<Entry> {
        let mut entry = self.entry_by_id(entry_id).await?;
        if entry.domain != *domain || entry.status != EntryStatus::Pending {
            return Err(Refused::NotPending.into());
        }
        entry.status = EntryStatus::Rejected;
        entry.review = Some(review);
        let doc = serde_json::to_vec(&ListingDoc {
            v: FORMAT_VERSION,
            entry: entry.clone(),
        })
        .map_err(StoreError::corrupt)?;
        let done: i64 = self
            .reject
            .key(Keys::pending())
            .key(Keys::entry(entry_id))
            .arg(domain.as_str())
            .arg(entry_id.simple().to_string())
            .arg(doc)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        if done == 1 {
            Ok(entry)
        } else {
            Err(Refused::NotPending.into())
        }
    }

    async fn append_audit(&self, event: AuditEvent) -> StoreResult<AuditRecord> {
        let mut conn = self.conn.clone();
        // Chain to the head we read; if another node appended meanwhile, read and chain again.
        for _ in 0..100 {
            let head: Option<String> = conn.get(Keys::audit_head()).await.map_err(redis_err)?;
            let head = head.unwrap_or_default();
            let (seq, prev) = match head.split_once(' ') {
                Some((seq, sha)) => (
                    seq.parse().map_err(|_| StoreError::corrupt("audit head"))?,
                    sha.to_string(),
                ),
                None => (0, crate::audit::GENESIS.to_string()),
            };
            let record = AuditRecord::chain(event.clone(), seq, &prev);
            let doc = serde_json::to_vec(&record).map_err(StoreError::corrupt)?;
            let done: i64 = self
                .audit
                .key(Keys::audit())
                .key(Keys::audit_head())
                .arg(&head)
                .arg(format!("{} {}", record.seq, record.sha256))
                .arg(doc)
                .invoke_async(&mut conn)
                .await
                .map_err(redis_err)?;
            if done == 1 {
                return Ok(record);
            }
        }
        Err(StoreError::Unavailable(
            "the audit log kept moving while appending".into(),
        ))
    }

    async fn audit(&self, after: u64, limit: usize) -> StoreResult<Vec<AuditRecord>> {
        // Record n sits at list index n - 1.
        let limit = clamp_limit(limit) as isize;
        let start = after as isize;
        let docs: Vec<Vec<u8>> = self
            .conn
            .clone()
            .lrange(Keys::audit(), start, start + limit - 1)
            .await
            .map_err(redis_err)?;
        docs.iter()
            .map(|doc| serde_json::from_slice(doc).map_err(StoreError::corrupt))
            .collect()
    }

    async fn protected(&self) -> StoreResult<Vec<ProtectedName>> {
        let docs: Vec<Vec<u8>> = self
            .conn
            .clone()
            .hvals(Keys::protected())
            .await
            .map_err(redis_err)?;
        docs.iter()
            .map(|doc| serde_json::from_slice(doc).map_err(StoreError::corrupt))
            .collect()
    }

    async fn protect(&self, name: ProtectedName) -> StoreResult<bool> {
        let doc = serde_json::to_vec(&name).map_err(StoreError::corrupt)?;
        self.conn
            .clone()
            .hset_nx(Keys::protected(), name.domain.as_str(), doc)
            .await
            .map_err(redis_err)
    }

    async fn unprotect(&self, name: &DomainName) -> StoreResult<bool> {
        let removed: i64 = self
            .conn
            .clone()
            .hdel(Keys::protected(), name.as_str())
            .await
            .map_err(redis_err)?;
        Ok(removed == 1)
    }
}
