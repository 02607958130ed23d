//! Registrations and recordals in the Redis store, as four families of bucketed hashes under
//! the one hash tag: `{siteban}:registrations:<b>` (credit code → JSON),
//! `{siteban}:recordals:<b>` (ICP number → JSON), `{siteban}:recordals:by_domain:<b>` and
//! `{siteban}:recordals:by_sponsor:<b>` (domain or credit code → the ICP numbers naming it,
//! joined by `\n`), where `<b>` is the FNV-1a hash of the field modulo [`BUCKETS`]. Counters
//! `{siteban}:records:version:registrations` and `{siteban}:records:version:recordals` grow
//! with every committed put of their kind. `keys.rs` builds these keys.
//!
//! A put is staged, then committed in one step. Staging reads the version, reads the old
//! rows, copies each touched bucket to a staging key (`{siteban}:stage:<token>:<bucket key>`,
//! expiring in an hour) and applies the changed rows there, in pipelines of ordinary
//! commands: no single command is long, and readers never see a staging key. The commit is
//! one script that checks the version is still the one read and renames every staged bucket
//! over its live bucket (the old one is unlinked, freed in the background): Redis runs it
//! alone, so readers see all of the put or none of it, and its cost is one rename per touched
//! bucket however many records the put holds. A writer that lost the race discards its stage
//! and starts again. Writers of one kind take turns through a lock with a lease
//! (`{siteban}:records:lock:<kind>`), so that many concurrent writers do not starve one
//! another; the lock only orders them, the version check is what keeps a put whole. The
//! commit leaves a marker, so that a commit whose answer timed out can be read back rather
//! than guessed.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::keys::{Family, Keys};
use super::scripts::{Lua, outcomes};
use super::{RedisStore, redis_err};
use crate::domain::{DomainName, IcpNumber, Uscc};
use crate::records::{Recordal, Registration};
use crate::store::records::{PutCounts, RecordStore, links};
use crate::store::{StoreError, StoreResult};

/// Buckets per family. Part of the stored format: changing it moves every field.
pub const BUCKETS: u64 = 256;

/// Seconds a staging key lives: a put is staged well within it, and an abandoned one vanishes.
const STAGE_TTL_SECONDS: u64 = 3600;

/// A field no record has (domains, ICP numbers and codes never hold NUL): it keeps a staged
/// bucket in existence however many fields the put deletes, so that a commit can tell an
/// emptied bucket from a lost (expired) stage.
const STAGE_SENTINEL: &str = "\u{0}staged";

/// Commands per pipeline while reading: each pipeline is one round trip, and each of its
/// commands is short, so other clients are served in between.
const PIPELINE_COMMANDS: usize = 2_000;

/// Bytes of arguments per staging pipeline: small enough that each round trip stays far
/// inside the response timeout.
const PIPELINE_BYTES: usize = 512 * 1024;

/// Fields per staging `HSET`.
const FIELDS_PER_HSET: usize = 200;

/// How often a put reads again after another writer committed first. Writers of one kind
/// take turns through the writer lock, so this happens only when a lease ran out.
const PUT_TRIES: usize = 8;

/// How long a writer holds the lock of its kind at most; a writer that dies frees it then.
const LOCK_LEASE_MS: u64 = 120_000;

/// How long a writer waits for the lock before answering that the store is unavailable.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

/// How often the outcome of a commit whose answer timed out is read back.
const COMMIT_READS: usize = 20;

/// The bucket of a field: FNV-1a (64 bits) modulo [`BUCKETS`], stable across builds.
fn bucket_of(field: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in field.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash % BUCKETS
}

/// Commit: another put of the kind committed since staging began; the caller discards its
/// stage and starts again.
const LOST_RACE: i64 = -1;
/// Commit: a staging key is gone (it expired); nothing is changed.
const STAGE_EXPIRED: i64 = -2;
/// Unlock: the lock was the caller's, and is free now.
const RELEASED: i64 = 1;
/// Unlock: the lock is no longer the caller's (its lease ran out); nothing is changed.
const NOT_HELD: i64 = 0;

/// Commits a staged put.
///
/// KEYS: 1 the version counter, 2 the commit marker, then pairs of (staging key, live key).
///
/// ARGV: 1 the version read before staging, 2 the sentinel field that kept each staged
/// bucket in existence (`STAGE_SENTINEL`).
///
/// Answers the new version, `LOST_RACE` or `STAGE_EXPIRED`.
pub(super) const COMMIT_SCRIPT: Lua = Lua {
    keys: "version_counter marker",
    argv: "expected sentinel",
    outcomes: outcomes![LOST_RACE, STAGE_EXPIRED],
    body: r#"
local version = redis.call('GET', version_counter) or '0'
if version ~= expected then return LOST_RACE end
for i = 3, #KEYS, 2 do
  if redis.call('EXISTS', KEYS[i]) == 0 then return STAGE_EXPIRED end
end
for i = 3, #KEYS, 2 do
  local stage, live = KEYS[i], KEYS[i + 1]
  redis.call('HDEL', stage, sentinel)
  redis.call('UNLINK', live)
  if redis.call('EXISTS', stage) == 1 then
    redis.call('RENAME', stage, live)
    redis.call('PERSIST', live)
  end
end
local new = redis.call('INCR', version_counter)
redis.call('SET', marker, new, 'EX', 3600)
return new
"#,
};

static COMMIT: LazyLock<Script> = LazyLock::new(|| COMMIT_SCRIPT.script());

/// Releases a writer lock if it is still held by the caller's token.
///
/// KEYS: 1 the lock. ARGV: 1 the caller's token.
///
/// Answers `RELEASED` or `NOT_HELD`; the caller needs neither, as the lease frees a lock in
/// the end.
pub(super) const UNLOCK_SCRIPT: Lua = Lua {
    keys: "lock",
    argv: "token",
    outcomes: outcomes![RELEASED, NOT_HELD],
    body: r#"
if redis.call('GET', lock) == token then
  redis.call('DEL', lock)
  return RELEASED
end
return NOT_HELD
"#,
};

static UNLOCK: LazyLock<Script> = LazyLock::new(|| UNLOCK_SCRIPT.script());

/// The changes to one bucket: fields to set (with their values) and fields to delete.
type BucketChanges = (Vec<(String, Vec<u8>)>, Vec<String>);

/// Changed rows of one put, by family and bucket.
#[derive(Default)]
struct Rows {
    buckets: BTreeMap<(Family, u64), BucketChanges>,
}

impl Rows {
    fn set(&mut self, family: Family, field: String, value: Vec<u8>) {
        let bucket = bucket_of(&field);
        self.buckets
            .entry((family, bucket))
            .or_default()
            .0
            .push((field, value));
    }

    fn delete(&mut self, family: Family, field: String) {
        let bucket = bucket_of(&field);
        self.buckets
            .entry((family, bucket))
            .or_default()
            .1
            .push(field);
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::corrupt(format!("{what}: {e}"))
}

fn split_icps(value: &[u8]) -> BTreeSet<String> {
    String::from_utf8_lossy(value)
        .split('\n')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn decode_all<T: serde::de::DeserializeOwned>(
    what: &str,
    docs: Vec<Option<Vec<u8>>>,
) -> StoreResult<Vec<Option<T>>> {
    docs.into_iter()
        .map(|doc| {
            doc.map(|d| serde_json::from_slice(&d).map_err(|e| corrupt(what, e)))
                .transpose()
        })
        .collect()
}

impl RedisStore {
    /// Takes the writer lock of `kind` (`SET NX` with a lease), waiting with jittered pauses
    /// while another writer holds it. Writers taking turns keeps the optimistic commit from
    /// starving under many concurrent writers; the version check still guards a writer whose
    /// lease ran out.
    async fn lock(&self, kind: &str) -> StoreResult<String> {
        let token = uuid::Uuid::now_v7().simple().to_string();
        let started = std::time::Instant::now();
        let mut pause_ms = 2u64;
        loop {
            let taken: redis::RedisResult<Option<String>> = redis::cmd("SET")
                .arg(Keys::records_lock(kind))
                .arg(&token)
                .arg("NX")
                .arg("PX")
                .arg(LOCK_LEASE_MS)
                .query_async(&mut self.conn.clone())
                .await;
            let taken = match taken {
                Ok(taken) => taken,
                Err(e) => {
                    // The lock may be taken even so (a reply lost, or too few replicas
                    // acknowledged it): give it back rather than leave it to its lease.
                    self.unlock(kind, &token).await;
                    return Err(redis_err(e));
                }
            };
            if taken.is_some() {
                return Ok(token);
            }
            if started.elapsed() > LOCK_WAIT {
                return Err(StoreError::Unavailable(format!(
                    "another {kind} write held the store for over {} s; nothing was written",
                    LOCK_WAIT.as_secs()
                )));
            }
            let jitter = rand::random::<u64>() % (pause_ms + 1);
            tokio::time::sleep(std::time::Duration::from_millis(pause_ms + jitter)).await;
            pause_ms = (pause_ms * 2).min(50);
        }
    }

    async fn unlock(&self, kind: &str, token: &str) {
        let released: redis::RedisResult<i64> = UNLOCK
            .key(Keys::records_lock(kind))
            .arg(token)
            .invoke_async(&mut self.conn.clone())
            .await;
        if let Err(e) = released {
            // The lease frees it in the end.
            tracing::warn!(error = %e, kind, "could not confirm the release of the records writer lock");
        }
    }

    /// Runs `commands` (each with the byte size of its arguments) in pipelines of at most
    /// [`PIPELINE_COMMANDS`] commands and about [`PIPELINE_BYTES`], one after the other.
    async fn run_pipelined(&self, commands: Vec<(redis::Cmd, usize)>) -> StoreResult<()> {
        let mut pipe = redis::pipe();
        let (mut count, mut bytes) = (0, 0);
        let total = commands.len();
        for (i, (cmd, size)) in commands.into_iter().enumerate() {
            pipe.add_command(cmd).ignore();
            count += 1;
            bytes += size;
            if count == PIPELINE_COMMANDS || bytes >= PIPELINE_BYTES || i + 1 == total {
                pipe.query_async::<()>(&mut self.conn.clone())
                    .await
                    .map_err(redis_err)?;
                pipe = redis::pipe();
                (count, bytes) = (0, 0);
            }
        }
        Ok(())
    }

    /// The value of each field in its family, in the order given.
    async fn get_fields(
        &self,
        family: Family,
        fields: &[String],
    ) -> StoreResult<Vec<Option<Vec<u8>>>> {
        let mut out = Vec::with_capacity(fields.len());
        for chunk in fields.chunks(PIPELINE_COMMANDS) {
            let mut pipe = redis::pipe();
            for field in chunk {
                pipe.cmd("HGET")
                    .arg(Keys::record_bucket(family, bucket_of(field)))
                    .arg(field);
            }
            let values: Vec<Option<Vec<u8>>> = pipe
                .query_async(&mut self.conn.clone())
                .await
                .map_err(redis_err)?;
            out.extend(values);
        }
        Ok(out)
    }

    /// The documents of `family` under `keys` (a `what` each), in order; `None` where
    /// there is none.
    async fn docs<K: ToString, T: serde::de::DeserializeOwned>(
        &self,
        family: Family,
        what: &str,
        keys: &[K],
    ) -> StoreResult<Vec<Option<T>>> {
        let fields: Vec<String> = keys.iter().map(ToString::to_string).collect();
        decode_all(what, self.get_fields(family, &fields).await?)
    }

    async fn version(&self, kind: &str) -> StoreResult<String> {
        let version: Option<String> = redis::cmd("GET")
            .arg(Keys::records_version(kind))
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(version.unwrap_or_else(|| "0".into()))
    }

    /// Stages `rows` and commits them if the `kind` version is still `version`: `Ok(true)`
    /// when committed, `Ok(false)` when another put committed first (nothing changed).
    async fn stage_and_commit(&self, kind: &str, version: String, rows: Rows) -> StoreResult<bool> {
        let token = uuid::Uuid::now_v7().simple().to_string();
        let mut commands = Vec::new();
        let mut pairs = Vec::with_capacity(rows.buckets.len());
        for ((family, bucket), (sets, dels)) in rows.buckets {
            let stage = Keys::record_stage(&token, family, bucket);
            let live = Keys::record_bucket(family, bucket);
            let mut copy = redis::cmd("COPY");
            copy.arg(&live).arg(&stage);
            commands.push((copy, 0));
            let mut sentinel = redis::cmd("HSET");
            sentinel.arg(&stage).arg(STAGE_SENTINEL).arg(1);
            commands.push((sentinel, 0));
            let mut expire = redis::cmd("EXPIRE");
            expire.arg(&stage).arg(STAGE_TTL_SECONDS);
            commands.push((expire, 0));
            for chunk in sets.chunks(FIELDS_PER_HSET) {
                let mut hset = redis::cmd("HSET");
                hset.arg(&stage);
                let mut size = 0;
                for (field, value) in chunk {
                    hset.arg(field).arg(value);
                    size += field.len() + value.len();
                }
                commands.push((hset, size));
            }
            for chunk in dels.chunks(FIELDS_PER_HSET) {
                let mut hdel = redis::cmd("HDEL");
                hdel.arg(&stage).arg(chunk);
                commands.push((hdel, chunk.iter().map(String::len).sum()));
            }
            pairs.push((stage, live));
        }
        let staged = self.run_pipelined(commands).await;
        let outcome = match staged {
            Ok(()) => self.commit(kind, &token, &version, &pairs).await,
            Err(e) => Err(e),
        };
        if !matches!(outcome, Ok(true)) {
            // Best effort: the stage expires anyway.
            let stages: Vec<&String> = pairs.iter().map(|(stage, _)| stage).collect();
            for chunk in stages.chunks(PIPELINE_COMMANDS) {
                let _: redis::RedisResult<()> = redis::cmd("UNLINK")
                    .arg(chunk)
                    .query_async(&mut self.conn.clone())
                    .await;
            }
        }
        outcome
    }

    async fn commit(
        &self,
        kind: &str,
        token: &str,
        version: &str,
        pairs: &[(String, String)],
    ) -> StoreResult<bool> {
        let mut invocation = COMMIT.prepare_invoke();
        invocation
            .key(Keys::records_version(kind))
            .key(Keys::records_commit(token))
            .arg(version)
            .arg(STAGE_SENTINEL);
        for (stage, live) in pairs {
            invocation.key(stage).key(live);
        }
        match invocation.invoke_async::<i64>(&mut self.conn.clone()).await {
            Ok(STAGE_EXPIRED) => Err(StoreError::Unavailable(
                "a staged write expired before its commit; nothing was written".into(),
            )),
            // The new version, or LOST_RACE.
            Ok(answer) => Ok(answer >= 0),
            Err(e) if e.is_timeout() => {
                if self.committed(token).await? {
                    Ok(true)
                } else {
                    Err(redis_err(e))
                }
            }
            Err(e) => Err(redis_err(e)),
        }
    }

    /// Whether the commit with marker `token` happened, for a commit whose answer timed
    /// out. Redis runs one command at a time, so a read answered after the commit was sent
    /// is answered after the script ran: the marker is there exactly when it committed.
    async fn committed(&self, token: &str) -> StoreResult<bool> {
        let mut last = None;
        for _ in 0..COMMIT_READS {
            let marker: redis::RedisResult<Option<String>> = redis::cmd("GET")
                .arg(Keys::records_commit(token))
                .query_async(&mut self.conn.clone())
                .await;
            match marker {
                Ok(marker) => return Ok(marker.is_some()),
                Err(e) if e.is_timeout() => last = Some(e),
                Err(e) => return Err(redis_err(e)),
            }
        }
        Err(last.map_or_else(
            || StoreError::Unavailable("the outcome of a records write is unknown".into()),
            redis_err,
        ))
    }

    async fn recordals_named(&self, icps: &[String]) -> StoreResult<Vec<Recordal>> {
        let docs = self.get_fields(Family::Recordals, icps).await?;
        Ok(decode_all("recordal", docs)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// One attempt at a put of recordals: `None` when another writer committed first.
    async fn try_put_recordals(&self, recordals: &[Recordal]) -> StoreResult<Option<PutCounts>> {
        let version = self.version("recordals").await?;
        let icps: Vec<String> = recordals.iter().map(|r| r.icp_number.to_string()).collect();
        let old: Vec<Option<Recordal>> =
            decode_all("recordal", self.get_fields(Family::Recordals, &icps).await?)?;
        // Every index row the put touches, with its current value.
        let mut domain_keys = HashSet::new();
        let mut sponsor_keys = HashSet::new();
        for recordal in recordals.iter().chain(old.iter().flatten()) {
            let (domains, (sponsor, _)) = links(recordal);
            domain_keys.extend(domains.into_iter().map(|(d, _)| d));
            sponsor_keys.insert(sponsor);
        }
        let domain_keys: Vec<String> = domain_keys.into_iter().collect();
        let sponsor_keys: Vec<String> = sponsor_keys.into_iter().collect();
        let read_sets = |keys: &[String], values: Vec<Option<Vec<u8>>>| {
            keys.iter()
                .cloned()
                .zip(values)
                .map(|(k, v)| (k, v.as_deref().map(split_icps).unwrap_or_default()))
                .collect::<HashMap<String, BTreeSet<String>>>()
        };
        let mut by_domain = read_sets(
            &domain_keys,
            self.get_fields(Family::ByDomain, &domain_keys).await?,
        );
        let mut by_sponsor = read_sets(
            &sponsor_keys,
            self.get_fields(Family::BySponsor, &sponsor_keys).await?,
        );
        let mut counts = PutCounts::default();
        let mut rows = Rows::default();
        for ((recordal, old), icp) in recordals.iter().zip(&old).zip(&icps) {
            if let Some(old) = old {
                counts.updated += 1;
                let (domains, (sponsor, icp)) = links(old);
                for (domain, icp) in domains {
                    if let Some(set) = by_domain.get_mut(&domain) {
                        set.remove(&icp);
                    }
                }
                if let Some(set) = by_sponsor.get_mut(&sponsor) {
                    set.remove(&icp);
                }
            } else {
                counts.created += 1;
            }
            let (domains, (sponsor, icp_link)) = links(recordal);
            for (domain, icp) in domains {
                by_domain.entry(domain).or_default().insert(icp);
            }
            by_sponsor.entry(sponsor).or_default().insert(icp_link);
            let doc = serde_json::to_vec(recordal).map_err(StoreError::corrupt)?;
            rows.set(Family::Recordals, icp.clone(), doc);
        }
        for (family, sets) in [
            (Family::ByDomain, by_domain),
            (Family::BySponsor, by_sponsor),
        ] {
            for (field, set) in sets {
                if set.is_empty() {
                    rows.delete(family, field);
                } else {
                    let joined = set.into_iter().collect::<Vec<_>>().join("\n");
                    rows.set(family, field, joined.into_bytes());
                }
            }
        }
        Ok(self
            .stage_and_commit("recordals", version, rows)
            .await?
            .then_some(counts))
    }

    /// One attempt at a put of registrations: `None` when another writer committed first.
    async fn try_put_registrations(
        &self,
        registrations: &[Registration],
    ) -> StoreResult<Option<PutCounts>> {
        let version = self.version("registrations").await?;
        let codes: Vec<String> = registrations.iter().map(|r| r.uscc.to_string()).collect();
        let old = self.get_fields(Family::Registrations, &codes).await?;
        let mut counts = PutCounts::default();
        let mut rows = Rows::default();
        for ((registration, code), old) in registrations.iter().zip(codes).zip(old) {
            if old.is_some() {
                counts.updated += 1;
            } else {
                counts.created += 1;
            }
            let doc = serde_json::to_vec(registration).map_err(StoreError::corrupt)?;
            rows.set(Family::Registrations, code, doc);
        }
        Ok(self
            .stage_and_commit("registrations", version, rows)
            .await?
            .then_some(counts))
    }
}

impl RedisStore {
    /// Takes the writer lock of `kind`, runs `attempt` until it commits (`None`: another
    /// writer moved the version on between the read and the commit), at most `PUT_TRIES`
    /// times, and releases the lock.
    async fn put_locked<F>(&self, kind: &str, attempt: impl Fn() -> F) -> StoreResult<PutCounts>
    where
        F: Future<Output = StoreResult<Option<PutCounts>>>,
    {
        let token = self.lock(kind).await?;
        let mut outcome = Err(StoreError::Unavailable(format!(
            "{kind} kept changing under this write; nothing was written"
        )));
        for _ in 0..PUT_TRIES {
            match attempt().await {
                Ok(None) => continue,
                Ok(Some(counts)) => outcome = Ok(counts),
                Err(e) => outcome = Err(e),
            }
            break;
        }
        self.unlock(kind, &token).await;
        outcome
    }
}

#[async_trait]
impl RecordStore for RedisStore {
    async fn put_registrations(&self, registrations: Vec<Registration>) -> StoreResult<PutCounts> {
        if registrations.is_empty() {
            return Ok(PutCounts::default());
        }
        self.put_locked("registrations", || {
            self.try_put_registrations(&registrations)
        })
        .await
    }

    async fn registrations(&self, codes: &[Uscc]) -> StoreResult<Vec<Option<Registration>>> {
        self.docs(Family::Registrations, "registration", codes)
            .await
    }

    async fn put_recordals(&self, recordals: Vec<Recordal>) -> StoreResult<PutCounts> {
        if recordals.is_empty() {
            return Ok(PutCounts::default());
        }
        self.put_locked("recordals", || self.try_put_recordals(&recordals))
            .await
    }

    async fn recordals(&self, numbers: &[IcpNumber]) -> StoreResult<Vec<Option<Recordal>>> {
        self.docs(Family::Recordals, "recordal", numbers).await
    }

    async fn recordals_by_domain(&self, domain: &DomainName) -> StoreResult<Vec<Recordal>> {
        let icps: Vec<String> = self
            .get_fields(Family::ByDomain, &[domain.to_string()])
            .await?
            .into_iter()
            .flatten()
            .flat_map(|v| split_icps(&v))
            .collect();
        self.recordals_named(&icps).await
    }

    async fn recordals_by_sponsors(
        &self,
        codes: &[Uscc],
    ) -> StoreResult<HashMap<Uscc, Vec<Recordal>>> {
        let fields: Vec<String> = codes.iter().map(Uscc::to_string).collect();
        let rows = self.get_fields(Family::BySponsor, &fields).await?;
        let mut wanted: Vec<String> = Vec::new();
        let mut owners: Vec<(Uscc, BTreeSet<String>)> = Vec::new();
        for (code, row) in codes.iter().zip(rows) {
            if let Some(row) = row {
                let icps = split_icps(&row);
                wanted.extend(icps.iter().cloned());
                owners.push((*code, icps));
            }
        }
        let found: HashMap<String, Recordal> = self
            .recordals_named(&wanted)
            .await?
            .into_iter()
            .map(|r| (r.icp_number.to_string(), r))
            .collect();
        Ok(owners
            .into_iter()
            .map(|(code, icps)| {
                let list = icps
                    .iter()
                    .filter_map(|icp| found.get(icp).cloned())
                    .collect();
                (code, list)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_stable_and_spread() {
        // FNV-1a of the empty string is the offset basis.
        assert_eq!(bucket_of(""), 0xcbf2_9ce4_8422_2325 % BUCKETS);
        assert_eq!(bucket_of("shop.example.cn"), bucket_of("shop.example.cn"));
        let used: HashSet<u64> = (0..10_000)
            .map(|i| bucket_of(&format!("site{i}.example.cn")))
            .collect();
        assert_eq!(used.len() as u64, BUCKETS);
    }
}
