//! Registrations and recordals in the Redis store. Four hashes under the one hash tag:
//! `{siteban}:registrations` (credit code → JSON), `{siteban}:recordals` (ICP number → JSON),
//! `{siteban}:recordals:by_domain` and `{siteban}:recordals:by_sponsor` (domain or credit
//! code → the ICP numbers naming it, joined by `\n`), and `{siteban}:records:version`, a
//! counter every recordal write increments.
//!
//! A put of registrations is one `HSET`, atomic by itself. A put of recordals reads the old
//! recordals and index rows, computes every changed row here, and writes them with one script
//! that first checks the version it read: Redis runs the script alone, so the rows it writes
//! are whole and consistent, and a writer that lost the race reads again. The script does no
//! JSON work, only a few large `HSET`/`HDEL` calls, so 100,000 recordals are one short step.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::LazyLock;

use async_trait::async_trait;
use redis::Script;

use super::{Keys, RedisStore, redis_err};
use crate::domain::{DomainName, IcpNumber, Uscc};
use crate::records::{Recordal, Registration};
use crate::store::records::{PutCounts, RecordStore, links};
use crate::store::{StoreError, StoreResult};

impl Keys {
    fn registrations() -> String {
        Self::named("registrations")
    }
    fn recordals() -> String {
        Self::named("recordals")
    }
    fn recordals_by_domain() -> String {
        Self::named("recordals:by_domain")
    }
    fn recordals_by_sponsor() -> String {
        Self::named("recordals:by_sponsor")
    }
    fn records_version() -> String {
        Self::named("records:version")
    }
}

/// Writes precomputed hash rows when the records version is still the one read. KEYS: the
/// version counter, then three hashes. ARGV: the expected version, the row count of each
/// hash, then the rows as field and value, hash by hash; an empty value deletes the field.
/// Rows go in batches below Lua's unpack limit. Answers -1 when the version moved on, else
/// the new version.
const PUT_ROWS_SCRIPT: &str = r#"
local version = redis.call('GET', KEYS[1]) or '0'
if version ~= ARGV[1] then return -1 end
local at = 5
local function apply(key, count)
  local sets, dels = {}, {}
  for i = 0, count - 1 do
    local field, value = ARGV[at + 2 * i], ARGV[at + 2 * i + 1]
    if value == '' then
      dels[#dels + 1] = field
      if #dels >= 2000 then redis.call('HDEL', key, unpack(dels)); dels = {} end
    else
      sets[#sets + 1] = field
      sets[#sets + 1] = value
      if #sets >= 4000 then redis.call('HSET', key, unpack(sets)); sets = {} end
    end
  end
  if #sets > 0 then redis.call('HSET', key, unpack(sets)) end
  if #dels > 0 then redis.call('HDEL', key, unpack(dels)) end
  at = at + 2 * count
end
apply(KEYS[2], tonumber(ARGV[2]))
apply(KEYS[3], tonumber(ARGV[3]))
apply(KEYS[4], tonumber(ARGV[4]))
return redis.call('INCR', KEYS[1])
"#;

static PUT_ROWS: LazyLock<Script> = LazyLock::new(|| Script::new(PUT_ROWS_SCRIPT));

/// Fields per `HMGET`, so that no single read reply grows without bound.
const READ_CHUNK: usize = 10_000;

/// How often a put of recordals reads again after another writer changed the records.
const PUT_TRIES: usize = 8;

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

impl RedisStore {
    /// `HMGET key fields...`, in chunks pipelined into one round trip.
    async fn hmget(&self, key: &str, fields: &[String]) -> StoreResult<Vec<Option<Vec<u8>>>> {
        if fields.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for chunk in fields.chunks(READ_CHUNK) {
            pipe.cmd("HMGET").arg(key).arg(chunk);
        }
        let replies: Vec<Vec<Option<Vec<u8>>>> = pipe
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(replies.into_iter().flatten().collect())
    }

    async fn recordals_named(&self, icps: &[String]) -> StoreResult<Vec<Recordal>> {
        self.hmget(&Keys::recordals(), icps)
            .await?
            .into_iter()
            .flatten()
            .map(|doc| serde_json::from_slice(&doc).map_err(|e| corrupt("recordal", e)))
            .collect()
    }

    /// One attempt at a put of recordals: `None` when another writer got in between.
    async fn try_put_recordals(&self, recordals: &[Recordal]) -> StoreResult<Option<PutCounts>> {
        let version: Option<String> = redis::cmd("GET")
            .arg(Keys::records_version())
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        let icps: Vec<String> = recordals.iter().map(|r| r.icp_number.to_string()).collect();
        let old: Vec<Option<Recordal>> = self
            .hmget(&Keys::recordals(), &icps)
            .await?
            .into_iter()
            .map(|doc| {
                doc.map(|d| serde_json::from_slice(&d).map_err(|e| corrupt("recordal", e)))
                    .transpose()
            })
            .collect::<StoreResult<_>>()?;
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
        let mut by_domain: HashMap<String, BTreeSet<String>> = domain_keys
            .iter()
            .cloned()
            .zip(
                self.hmget(&Keys::recordals_by_domain(), &domain_keys)
                    .await?,
            )
            .map(|(k, v)| (k, v.as_deref().map(split_icps).unwrap_or_default()))
            .collect();
        let mut by_sponsor: HashMap<String, BTreeSet<String>> = sponsor_keys
            .iter()
            .cloned()
            .zip(
                self.hmget(&Keys::recordals_by_sponsor(), &sponsor_keys)
                    .await?,
            )
            .map(|(k, v)| (k, v.as_deref().map(split_icps).unwrap_or_default()))
            .collect();
        let mut counts = PutCounts::default();
        for (recordal, old) in recordals.iter().zip(&old) {
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
            let (domains, (sponsor, icp)) = links(recordal);
            for (domain, icp) in domains {
                by_domain.entry(domain).or_default().insert(icp);
            }
            by_sponsor.entry(sponsor).or_default().insert(icp);
        }
        let joined = |set: &BTreeSet<String>| set.iter().cloned().collect::<Vec<_>>().join("\n");
        let mut invocation = PUT_ROWS.prepare_invoke();
        invocation
            .key(Keys::records_version())
            .key(Keys::recordals())
            .key(Keys::recordals_by_domain())
            .key(Keys::recordals_by_sponsor())
            .arg(version.unwrap_or_else(|| "0".into()))
            .arg(recordals.len())
            .arg(by_domain.len())
            .arg(by_sponsor.len());
        for (recordal, icp) in recordals.iter().zip(&icps) {
            let doc = serde_json::to_vec(recordal).map_err(StoreError::corrupt)?;
            invocation.arg(icp).arg(doc);
        }
        for (domain, set) in &by_domain {
            invocation.arg(domain).arg(joined(set));
        }
        for (sponsor, set) in &by_sponsor {
            invocation.arg(sponsor).arg(joined(set));
        }
        let answer: i64 = invocation
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok((answer >= 0).then_some(counts))
    }
}

#[async_trait]
impl RecordStore for RedisStore {
    async fn put_registrations(&self, registrations: Vec<Registration>) -> StoreResult<PutCounts> {
        if registrations.is_empty() {
            return Ok(PutCounts::default());
        }
        // One HSET: a single command, so Redis applies every field or none.
        let mut cmd = redis::cmd("HSET");
        cmd.arg(Keys::registrations());
        for registration in &registrations {
            let doc = serde_json::to_vec(registration).map_err(StoreError::corrupt)?;
            cmd.arg(registration.uscc.as_str()).arg(doc);
        }
        let created: u64 = cmd
            .query_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        Ok(PutCounts {
            created,
            updated: registrations.len() as u64 - created,
        })
    }

    async fn registrations(&self, codes: &[Uscc]) -> StoreResult<Vec<Option<Registration>>> {
        let fields: Vec<String> = codes.iter().map(Uscc::to_string).collect();
        self.hmget(&Keys::registrations(), &fields)
            .await?
            .into_iter()
            .map(|doc| {
                doc.map(|d| serde_json::from_slice(&d).map_err(|e| corrupt("registration", e)))
                    .transpose()
            })
            .collect()
    }

    async fn put_recordals(&self, recordals: Vec<Recordal>) -> StoreResult<PutCounts> {
        if recordals.is_empty() {
            return Ok(PutCounts::default());
        }
        for _ in 0..PUT_TRIES {
            if let Some(counts) = self.try_put_recordals(&recordals).await? {
                return Ok(counts);
            }
        }
        Err(StoreError::Unavailable(
            "recordals kept changing under this write; nothing was written".into(),
        ))
    }

    async fn recordals(&self, numbers: &[IcpNumber]) -> StoreResult<Vec<Option<Recordal>>> {
        let fields: Vec<String> = numbers.iter().map(IcpNumber::to_string).collect();
        self.hmget(&Keys::recordals(), &fields)
            .await?
            .into_iter()
            .map(|doc| {
                doc.map(|d| serde_json::from_slice(&d).map_err(|e| corrupt("recordal", e)))
                    .transpose()
            })
            .collect()
    }

    async fn recordals_by_domain(&self, domain: &DomainName) -> StoreResult<Vec<Recordal>> {
        let icps = self
            .hmget(&Keys::recordals_by_domain(), &[domain.to_string()])
            .await?
            .into_iter()
            .flatten()
            .flat_map(|v| split_icps(&v))
            .collect::<Vec<_>>();
        self.recordals_named(&icps).await
    }

    async fn recordals_by_sponsors(
        &self,
        codes: &[Uscc],
    ) -> StoreResult<HashMap<Uscc, Vec<Recordal>>> {
        let fields: Vec<String> = codes.iter().map(Uscc::to_string).collect();
        let rows = self.hmget(&Keys::recordals_by_sponsor(), &fields).await?;
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
