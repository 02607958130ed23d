//! The Redis store, for several siteban nodes sharing one registry: `RedisStore`, opening it
//! (the stored format check, the warning when Redis keeps nothing on disk) and the `Store`
//! trait, whose entry and follower methods are handed on to the files that own them. API
//! keys, the audit log and protected names are short enough to stay here.
//!
//! The layout: `redis/keys.rs` builds every key, all under the one hash tag `{siteban}`, so
//! every multi-key script touches a single hash slot and the same code runs on Redis Cluster;
//! `redis/scripts.rs` holds the Lua scripts of entries, keys and the audit log, with the
//! outcome codes they answer; `redis/entries.rs` encodes entries and decodes events and
//! script answers; `redis/follower.rs` is the follower with its own connection;
//! `redis/conn.rs` reaches the deployment; `redis/notices.rs`, `redis/cases.rs`,
//! `redis/records.rs` and `redis/documents.rs` implement the other stores. Each write is one
//! Lua script: Redis runs a script atomically and refuses a writing script up front when out
//! of memory, and every script here does its checks before its first write, so a failing
//! write leaves nothing half done.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use redis::AsyncCommands;
use uuid::Uuid;

mod cases;
mod conn;
mod documents;
mod entries;
mod follower;
mod keys;
mod log;
mod notices;
mod records;
mod scripts;

use conn::Conn;
pub use conn::{Ack, Options, Target};
use keys::Keys;
use scripts::{NO_SUCH_KEY, WRITTEN};

use super::{
    ActiveSet, EntryQuery, FORMAT_VERSION, FollowBatch, FollowCursor, Store, StoreError,
    StoreResult, clamp_limit,
};
use crate::audit::{AuditEvent, AuditRecord};
use crate::domain::DomainName;
use crate::model::{
    Entry, Event, KeyRecord, NewEntry, PendingLift, ProtectedName, Review, ReviewedLift,
};

/// The store on Redis. Every command but the follower's goes through one multiplexed
/// connection, cloned per call.
pub struct RedisStore {
    conn: Conn,
    /// The follower's own connection: blocking reads would stall every command queued behind
    /// them on a shared multiplexed connection, and need a longer response timeout.
    follower: follower::Follower,
    /// The scripts of entries, keys and the audit log (`redis/scripts.rs`).
    scripts: scripts::Scripts,
    /// The list and lift scripts extended to write notices (`redis/notices.rs`).
    notice_scripts: notices::Scripts,
    case_scripts: cases::Scripts,
    document_scripts: documents::Scripts,
    log_scripts: log::Scripts,
    /// How many events the feed stream keeps, at least (it is trimmed approximately).
    retention: u64,
    /// The transparency log's size as this node last read or wrote it: the feed is never
    /// trimmed past it (`redis/log.rs`).
    logged: std::sync::atomic::AtomicU64,
}

/// A Redis failure as the store reports it; every file of the Redis store maps errors
/// through this.
/// Decodes JSON documents read from Redis; one that does not decode is corruption.
fn decode_docs<'a, T: serde::de::DeserializeOwned>(
    docs: impl IntoIterator<Item = &'a Vec<u8>>,
) -> StoreResult<Vec<T>> {
    docs.into_iter()
        .map(|doc| serde_json::from_slice(doc).map_err(StoreError::corrupt))
        .collect()
}

impl RedisStore {
    /// Whether the mark `key` (set to 1 once a backfill completes) is set.
    pub(super) async fn marked(&self, key: String) -> StoreResult<bool> {
        let mark: Option<u8> = redis::cmd("GET")
            .arg(key)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(mark == Some(1))
    }

    /// Every document of the hash `key`, in no particular order.
    async fn hash_docs<T: serde::de::DeserializeOwned>(&self, key: String) -> StoreResult<Vec<T>> {
        let docs: Vec<Vec<u8>> = self.conn.clone().hvals(key).await.map_err(redis_err)?;
        decode_docs(&docs)
    }

    /// The members of the sorted set `key` from `min` to `max` (`by`: `BYSCORE` or `BYLEX`),
    /// one more than a page of `limit` so that the caller knows whether another follows.
    async fn page_of(
        &self,
        key: &str,
        (min, max): (&str, &str),
        by: &str,
        limit: usize,
    ) -> StoreResult<Vec<String>> {
        redis::cmd("ZRANGE")
            .arg(key)
            .arg(min)
            .arg(max)
            .arg(by)
            .arg("LIMIT")
            .arg(0)
            .arg(limit + 1)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)
    }
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
            follower: follower::Follower::new(target),
            conn,
            scripts: scripts::Scripts::new(),
            notice_scripts: notices::Scripts::new(),
            case_scripts: cases::Scripts::new(),
            document_scripts: documents::Scripts::new(),
            log_scripts: log::Scripts::new(),
            retention: retention.max(1),
            logged: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Reads one value per id in one round trip; `read` adds each id's command.
    async fn read_by_ids<T: redis::FromRedisValue>(
        &self,
        ids: &[String],
        read: impl Fn(&mut redis::Pipeline, Uuid),
    ) -> StoreResult<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for id in ids {
            read(&mut pipe, Uuid::parse_str(id).map_err(StoreError::corrupt)?);
        }
        pipe.query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)
    }

    /// Runs the key script: `create` with the key's record, or `revoke` (answering the new
    /// key version, or `NO_SUCH_KEY`).
    async fn change_key(&self, op: &str, id: &str, doc: &[u8]) -> StoreResult<i64> {
        self.scripts
            .key
            .key(Keys::keys())
            .key(Keys::keys_version())
            .key(Keys::keys_log())
            .arg(op)
            .arg(id)
            .arg(doc)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)
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

#[async_trait]
impl Store for RedisStore {
    async fn history(&self, domain: &DomainName) -> StoreResult<Vec<Entry>> {
        self.entry_history(domain).await
    }

    async fn entries(&self, query: EntryQuery) -> StoreResult<(Vec<Entry>, Option<u64>)> {
        self.entry_page(query).await
    }

    async fn events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
        self.feed_events(after, limit).await
    }

    async fn head(&self) -> StoreResult<u64> {
        self.feed_head().await
    }

    async fn follow(&self, cursor: FollowCursor, block: Duration) -> StoreResult<FollowBatch> {
        self.follow_changes(cursor, block).await
    }

    async fn active_set(&self) -> StoreResult<ActiveSet> {
        self.read_active_set().await
    }

    async fn create_key(&self, key: KeyRecord) -> StoreResult<()> {
        let doc = serde_json::to_vec(&key).map_err(StoreError::corrupt)?;
        self.change_key("create", &key.id, &doc).await?;
        Ok(())
    }

    async fn revoke_key(&self, id: &str) -> StoreResult<bool> {
        let version = self.change_key("revoke", id, b"").await?;
        Ok(version != NO_SUCH_KEY)
    }

    async fn keys(&self) -> StoreResult<(u64, Vec<KeyRecord>)> {
        let (version, keys): (Option<u64>, HashMap<String, Vec<u8>>) = redis::pipe()
            .atomic()
            .get(Keys::keys_version())
            .hgetall(Keys::keys())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok((version.unwrap_or(0), decode_docs(keys.values())?))
    }

    async fn import(&self, entries: Vec<NewEntry>) -> StoreResult<u64> {
        self.import_entries(entries).await
    }

    async fn propose(&self, new: NewEntry) -> StoreResult<Entry> {
        self.propose_entry(new).await
    }

    async fn pending(&self, domain: &DomainName) -> StoreResult<Option<Entry>> {
        self.pending_entry(domain).await
    }

    async fn pending_entries(&self, limit: usize) -> StoreResult<Vec<Entry>> {
        self.entries_named_in(Keys::pending(), limit).await
    }

    async fn reject(&self, domain: &DomainName, id: Uuid, review: Review) -> StoreResult<Entry> {
        self.reject_entry(domain, id, review).await
    }

    async fn request_lift(&self, entry: &Entry, request: PendingLift) -> StoreResult<Entry> {
        self.request_entry_lift(&entry.domain, entry.id, request)
            .await
    }

    async fn pending_lifts(&self, limit: usize) -> StoreResult<Vec<Entry>> {
        self.entries_named_in(Keys::pending_lifts(), limit).await
    }

    async fn reject_lift(&self, entry: &Entry, rejected: ReviewedLift) -> StoreResult<Entry> {
        self.reject_entry_lift(&entry.domain, entry.id, rejected)
            .await
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
                .scripts
                .audit
                .key(Keys::audit())
                .key(Keys::audit_head())
                .arg(&head)
                .arg(format!("{} {}", record.seq, record.sha256))
                .arg(doc)
                .invoke_async(&mut conn)
                .await
                .map_err(redis_err)?;
            // HEAD_MOVED: read the head and chain again.
            if done == WRITTEN {
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
        decode_docs(&docs)
    }

    async fn protected(&self) -> StoreResult<Vec<ProtectedName>> {
        self.hash_docs(Keys::protected()).await
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
