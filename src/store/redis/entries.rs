//! Entries in the Redis store: the Rust side of the entry scripts of `scripts.rs`. What an
//! entry's hash holds and how it is read back, feed events decoded from the stream, the active
//! set, and the arguments and answers of the list, lift, propose and reject scripts and of the
//! scripts that request and reject a lift. The keys are `keys.rs`'s, the active record's
//! bytes `store::encode_active`'s.

use std::collections::HashMap;

use crate::model::Timestamp;
use redis::streams::{StreamId, StreamRangeReply};
use redis::{AsyncCommands, Script, Value};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::Keys;
use super::scripts::{
    ACTIVE_CHANGED, ALREADY_ACTIVE, ALREADY_PENDING, CASE_CHANGED, LIFT_NOT_PENDING, LIFT_PENDING,
    NOT_LISTED, NOT_PENDING, WRITTEN,
};
use super::{RedisStore, redis_err};
use crate::domain::{Category, Decision, DomainName, Scope};
use crate::model::{
    ActiveRecord, Actor, CaseWrite, Entry, EntryStatus, Event, EventKind, LiftRequest, NewEntry,
    PendingLift, Review, ReviewedLift,
};
use crate::store::documents::{RefKind, hash_rows, ref_row, rows_of};
use crate::store::{
    ActiveSet, EntryQuery, FORMAT_VERSION, Refused, StatusFilter, StoreError, StoreResult,
    check_contiguous, check_retained, clamp_limit, decode_active, encode_active,
};

/// One `HSCAN` reply on the active hash: the next cursor, then (domain, active record) pairs.
type ScanPage = (u64, Vec<(String, Vec<u8>)>);

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
    lifted_at: Timestamp,
    /// A suspension that ended without a listing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    expired: bool,
    /// A suspension that a listing took the place of.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    replaced: bool,
    /// The second key's approval of a lift that waited for one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    review: Option<Review>,
}

/// Reading entries back, and the calls of the list and lift scripts (`notices.rs` calls them
/// too, with the scripts it extends, which take the same arguments first).
impl RedisStore {
    pub(super) async fn read_entries(&self, ids: &[String]) -> StoreResult<Vec<Entry>> {
        let hashes: Vec<HashMap<String, Vec<u8>>> = self
            .read_by_ids(ids, |pipe, id| {
                pipe.hgetall(Keys::entry(id));
            })
            .await?;
        hashes.into_iter().map(decode_entry).collect()
    }

    async fn entry_by_id(&self, id: Uuid) -> StoreResult<Entry> {
        Ok(self.entry_with_pending_lift(id).await?.0)
    }

    /// An entry, and its pending lift as stored, which a script that approves or rejects the
    /// lift compares byte for byte.
    async fn entry_with_pending_lift(&self, id: Uuid) -> StoreResult<(Entry, Option<Vec<u8>>)> {
        let hash: HashMap<String, Vec<u8>> = self
            .conn
            .clone()
            .hgetall(Keys::entry(id))
            .await
            .map_err(redis_err)?;
        let pending = hash.get(PENDING_LIFT).cloned();
        Ok((decode_entry(hash)?, pending))
    }

    /// The stored form of `entry`'s pending lift when it is `expected`; `LiftNotPending`
    /// otherwise.
    async fn pending_lift_as_stored(
        &self,
        entry: Uuid,
        expected: &PendingLift,
    ) -> StoreResult<(Entry, Vec<u8>)> {
        match self.entry_with_pending_lift(entry).await? {
            (entry, Some(stored)) if entry.pending_lift.as_ref() == Some(expected) => {
                Ok((entry, stored))
            }
            _ => Err(Refused::LiftNotPending.into()),
        }
    }

    /// The call of `script`, the list script or one extending it, for `entry`, replacing the
    /// suspension `replaces` and writing `case` when given.
    pub(super) fn list_invocation_of<'a>(
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
            replaced: true,
            review: None,
        })
        .map_err(StoreError::corrupt)?;
        let replaced = replaces.unwrap_or(Uuid::nil());
        let doc = serde_json::to_vec(&ListingDoc {
            v: FORMAT_VERSION,
            entry: entry.clone(),
        })
        .map_err(StoreError::corrupt)?;
        let mut invocation = script.prepare_invoke();
        write_keys(&mut invocation, entry.id);
        invocation
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
            .arg(
                approving
                    .map(|id| id.simple().to_string())
                    .unwrap_or_default(),
            )
            .arg(replaces.map_or(&[][..], |_| &replaced.as_bytes()[..]))
            .arg(replaced_end)
            .arg(replaced.simple().to_string());
        let event = (kind, entry.listed_at, self.retention_arg());
        let mut refs = rows_of(&entry, RefKind::Entry, entry.id);
        // The replaced suspension's end names the listing's decision as its document.
        if let Some(replaced) = replaces {
            let decision = entry.decision.document_sha256.iter();
            refs.extend(decision.map(|h| ref_row(h, RefKind::Entry, replaced)));
        }
        event_and_case_args(&mut invocation, &entry, event, case, refs);
        Ok(invocation)
    }

    /// Runs a prepared list invocation: the new sequence, or why nothing was written.
    pub(super) async fn invoke_list_with(
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
    pub(super) async fn refused(&self, domain: &DomainName, refusal: Refusal) -> StoreError {
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

    /// The active record of `domain`, as stored (the lift scripts compare it byte for byte)
    /// and decoded; `NotListed` when the domain has none.
    async fn active_record(&self, domain: &DomainName) -> StoreResult<(Vec<u8>, ActiveRecord)> {
        let current: Option<Vec<u8>> = self
            .conn
            .clone()
            .hget(Keys::active(), domain.as_str())
            .await
            .map_err(redis_err)?;
        let current = current.ok_or(Refused::NotListed)?;
        let record = decode_active(domain.as_str(), &current)?;
        Ok((current, record))
    }

    /// Lifts with `script` (the lift script or one extending it), writing the notices that
    /// `notices` derives from the entry being lifted in the same script call.
    pub(super) async fn lift_via(
        &self,
        script: &Script,
        request: LiftRequest,
        notices: &(dyn Fn(&Entry) -> Vec<crate::notices::model::Notice> + Sync),
    ) -> StoreResult<(Entry, Vec<crate::notices::model::Notice>)> {
        // Read the active entry, then lift it only if it is still the active one: a concurrent
        // lift and relist between the two steps makes the script answer ACTIVE_CHANGED and we
        // read again.
        let domain = request.domain.clone();
        for _ in 0..5 {
            let (current, record) = self.active_record(&domain).await?;
            if request.entry_id.is_some_and(|id| id != record.entry_id) {
                return Err(Refused::NotListed.into());
            }
            // What locating found, read before the entry: the notices derive from the entry's
            // providers, and a locate write landing before the script (a provider told to
            // stop) makes the script answer ACTIVE_CHANGED, so that it is told to restore.
            let located: Option<Vec<u8>> = self
                .conn
                .clone()
                .hget(Keys::entry(record.entry_id), LOCATED)
                .await
                .map_err(redis_err)?;
            let (entry, approving) = match &request.approval {
                Some(approval) => {
                    self.pending_lift_as_stored(record.entry_id, &approval.request)
                        .await?
                }
                None => (self.entry_by_id(record.entry_id).await?, Vec::new()),
            };
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
                replaced: false,
                review: request.approval.as_ref().map(|a| a.review.clone()),
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
            write_keys(&mut invocation, entry.id);
            invocation
                .key(Keys::by_seq(StatusFilter::Active))
                .key(Keys::by_seq(StatusFilter::Lifted))
                .key(Keys::pending_lifts())
                .key(Keys::case(case.map_or(Uuid::nil(), |c| c.id)))
                .arg(domain.as_str())
                .arg(current)
                .arg(doc)
                .arg(approving)
                .arg(located.unwrap_or_default());
            let event = (kind, request.lifted_at, self.retention_arg());
            let lifted = entry.clone().lifted(request.clone(), 0);
            let refs = rows_of(&lifted, RefKind::Entry, entry.id);
            event_and_case_args(&mut invocation, &entry, event, case, refs);
            super::notices::append_new_notices(&mut invocation, &written)?;
            let (outcome, seq): (i64, i64) = invocation
                .invoke_async(&mut self.conn.clone())
                .await
                .map_err(redis_err)?;
            match outcome {
                WRITTEN => return Ok((entry.lifted(request, seq as u64), written)),
                NOT_LISTED => return Err(Refused::NotListed.into()),
                LIFT_NOT_PENDING => return Err(Refused::LiftNotPending.into()),
                CASE_CHANGED => return Err(Refused::CaseChanged.into()),
                // ACTIVE_CHANGED: read again.
                _ => continue,
            }
        }
        Err(StoreError::Unavailable(
            "the entry kept changing while being lifted".into(),
        ))
    }
}

/// Why a listing script wrote nothing.
pub(super) enum Refusal {
    /// The domain has an active entry (its active record).
    Active(Vec<u8>),
    /// The domain has a pending entry (its id).
    Pending(Uuid),
    /// The entry to approve is not the pending one.
    NotPending,
    /// The case written alongside moved on since it was read.
    CaseChanged,
}

/// Decodes the answer of the list or propose script: the new sequence (0 for a proposal),
/// or why nothing was written.
fn refusal(ok: i64, value: Value) -> StoreResult<Result<u64, Refusal>> {
    match (ok, value) {
        (WRITTEN, Value::Int(seq)) => Ok(Ok(seq as u64)),
        (ALREADY_ACTIVE, Value::BulkString(current)) => Ok(Err(Refusal::Active(current))),
        (ALREADY_PENDING, Value::BulkString(id)) => {
            let id = std::str::from_utf8(&id)
                .ok()
                .and_then(|id| Uuid::parse_str(id).ok())
                .ok_or_else(|| StoreError::corrupt("pending id"))?;
            Ok(Err(Refusal::Pending(id)))
        }
        (NOT_PENDING, _) => Ok(Err(Refusal::NotPending)),
        (CASE_CHANGED, _) => Ok(Err(Refusal::CaseChanged)),
        (_, other) => Err(StoreError::corrupt(format!(
            "list script answered {other:?}"
        ))),
    }
}

/// An entry from its hash: the listing document, its sequence, and its end once lifted.
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
        let domain = entry.domain.clone();
        entry = entry.lifted(
            LiftRequest {
                domain,
                entry_id: None,
                reason: lift.reason,
                document: lift.document,
                lifted_at: lift.lifted_at,
                lifted_by: lift.lifted_by,
                expire: lift.expired,
                case: None,
                approval: None,
            },
            seq,
        );
        if lift.replaced {
            entry.status = EntryStatus::Replaced;
        }
        if let Some(ended) = &mut entry.lift {
            ended.review = lift.review;
        }
    }
    if let Some(located) = hash.remove(LOCATED) {
        let located: LocatedDoc = serde_json::from_slice(&located).map_err(StoreError::corrupt)?;
        entry.location = Some(located.location);
        entry.providers = located.providers;
    }
    if let Some(pending) = hash.remove(PENDING_LIFT) {
        entry.pending_lift = Some(serde_json::from_slice(&pending).map_err(StoreError::corrupt)?);
    }
    if let Some(rejected) = hash.remove(REJECTED_LIFTS) {
        entry.rejected_lifts = rejected
            .split(|b| *b == b'\n')
            .map(|line| serde_json::from_slice(line).map_err(StoreError::corrupt))
            .collect::<StoreResult<_>>()?;
    }
    Ok(entry)
}

/// The entry hash's field holding what locating found since the listing (`LocatedDoc`), which
/// takes the place of the listing document's `location` and `providers`.
pub(super) const LOCATED: &str = "located";

/// What the `located` field of an entry hash holds.
#[derive(serde::Serialize, serde::Deserialize)]
pub(super) struct LocatedDoc {
    pub(super) location: crate::model::Location,
    pub(super) providers: Vec<String>,
}

/// The entry hash's field holding its pending lift (JSON), while one waits.
const PENDING_LIFT: &str = "pending_lift";
/// The entry hash's field holding its rejected lifts, one JSON document a line (compact JSON
/// has no newline).
const REJECTED_LIFTS: &str = "rejected_lifts";

/// A feed event from its stream entry, whose id is `<seq>-0`.
/// Opens the keys of a list or lift call with those every registry write takes: the sequence
/// counter, the feed, the active hash and the entry's hash.
fn write_keys(invocation: &mut redis::ScriptInvocation<'_>, entry: Uuid) {
    invocation
        .key(Keys::seq())
        .key(Keys::feed())
        .key(Keys::active())
        .key(Keys::entry(entry));
}

/// Closes the keys and arguments of a list or lift call with those the scripts' closing part
/// reads: the document index, the event's entry id, scope and category, its time and the feed
/// retention from `event` with its type, the case version read and the case document (''
/// when no case is written), then the document index rows `refs` with the case's.
fn event_and_case_args(
    invocation: &mut redis::ScriptInvocation<'_>,
    entry: &Entry,
    (kind, at, retention): (EventKind, Timestamp, String),
    case: Option<&CaseWrite>,
    mut refs: Vec<String>,
) {
    if let Some(case) = case {
        refs.extend(hash_rows(&case.documents, RefKind::Case, case.id));
    }
    invocation
        .key(Keys::document_refs())
        .arg(entry.id.simple().to_string())
        .arg(entry.scope.as_str())
        .arg(entry.category.as_str())
        .arg(at.to_string())
        .arg(retention)
        .arg(kind.as_str())
        .arg(case.map_or_else(String::new, |c| c.expect.to_string()))
        .arg(case.map_or(&[][..], |c| &c.doc[..]))
        .arg(refs.join(" "));
}

pub(super) fn decode_event(id: &StreamId) -> StoreResult<Event> {
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
        at: time::OffsetDateTime::parse(
            &field("a")?,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| bad("time"))?
        .into(),
    })
}

fn stream_seq(id: &str) -> Option<u64> {
    id.split_once('-').and_then(|(ms, _)| ms.parse().ok())
}

/// The bodies of the entry methods of `Store`, which `redis.rs` hands on to.
impl RedisStore {
    /// Every entry made for `domain`, oldest first.
    pub(super) async fn entry_history(&self, domain: &DomainName) -> StoreResult<Vec<Entry>> {
        let ids: Vec<String> = self
            .conn
            .clone()
            .lrange(Keys::history(domain), 0, -1)
            .await
            .map_err(redis_err)?;
        self.read_entries(&ids).await
    }

    /// A page of entries in listing order after `after`, and the cursor of the next page.
    pub(super) async fn entry_page(
        &self,
        query: EntryQuery,
    ) -> StoreResult<(Vec<Entry>, Option<u64>)> {
        let (after, limit) = (query.after, clamp_limit(query.limit));
        let from = format!("({after}");
        let ids = self
            .page_of(
                &Keys::by_seq(query.filter),
                (&from, "+inf"),
                "BYSCORE",
                limit,
            )
            .await?;
        let more = ids.len() > limit;
        let entries = self.read_entries(&ids[..ids.len().min(limit)]).await?;
        let next = if more {
            entries.last().map(|e| e.seq)
        } else {
            None
        };
        Ok((entries, next))
    }

    pub(super) async fn feed_events(&self, after: u64, limit: usize) -> StoreResult<Vec<Event>> {
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
        // Events the transparency log does not cover yet are kept past the retention.
        let head = head.unwrap_or(0);
        let logged = self.logged.load(std::sync::atomic::Ordering::Relaxed);
        check_retained(after, head, self.retention.max(head.saturating_sub(logged)))?;
        Ok(events)
    }

    pub(super) async fn feed_head(&self) -> StoreResult<u64> {
        let head: Option<u64> = self
            .conn
            .clone()
            .get(Keys::seq())
            .await
            .map_err(redis_err)?;
        Ok(head.unwrap_or(0))
    }

    pub(super) async fn read_active_set(&self) -> StoreResult<ActiveSet> {
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
                let reply: redis::RedisResult<ScanPage> = redis::cmd("HSCAN")
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
            age: None,
        })
    }

    pub(super) async fn import_entries(&self, entries: Vec<NewEntry>) -> StoreResult<u64> {
        // Pipelined in chunks: each script call is still atomic on its own, and a domain that
        // already has an active entry is skipped by the script's own check.
        let mut imported = 0;
        let mut conn = self.conn.clone();
        for chunk in entries.chunks(1000) {
            let mut pipe = redis::pipe();
            pipe.load_script(&self.notice_scripts.list).ignore();
            let mut invocations = Vec::with_capacity(chunk.len());
            let entries: Vec<Entry> = chunk
                .iter()
                .map(|new| Entry::from_new(new.clone(), 0))
                .collect();
            for (entry, new) in entries.iter().zip(chunk) {
                let mut invocation =
                    self.list_invocation_of(&self.notice_scripts.list, entry, None, None, None)?;
                super::notices::append_job_and_notices(
                    &mut invocation,
                    entry.id,
                    new.locate.as_ref(),
                    &[],
                )?;
                invocations.push(invocation);
            }
            for invocation in &invocations {
                pipe.invoke_script(invocation);
            }
            let outcomes: Vec<(i64, Value)> =
                pipe.query_async(&mut conn).await.map_err(redis_err)?;
            imported += outcomes.iter().filter(|(ok, _)| *ok == WRITTEN).count() as u64;
        }
        Ok(imported)
    }

    pub(super) async fn propose_entry(&self, new: NewEntry) -> StoreResult<Entry> {
        let entry = Entry::pending(new);
        let doc = serde_json::to_vec(&ListingDoc {
            v: FORMAT_VERSION,
            entry: entry.clone(),
        })
        .map_err(StoreError::corrupt)?;
        let (ok, value): (i64, Value) = self
            .scripts
            .propose
            .key(Keys::active())
            .key(Keys::pending())
            .key(Keys::entry(entry.id))
            .key(Keys::history(&entry.domain))
            .key(Keys::document_refs())
            .arg(entry.domain.as_str())
            .arg(entry.id.simple().to_string())
            .arg(doc)
            .arg(rows_of(&entry, RefKind::Entry, entry.id).join(" "))
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        match refusal(ok, value)? {
            Ok(_) => Ok(entry),
            Err(refusal) => Err(self.refused(&entry.domain, refusal).await),
        }
    }

    /// The entry id the hash `key` of domain → entry id names for `domain`.
    async fn named_in(&self, key: String, domain: &DomainName) -> StoreResult<Option<String>> {
        self.conn
            .clone()
            .hget(key, domain.as_str())
            .await
            .map_err(redis_err)
    }

    pub(super) async fn pending_entry(&self, domain: &DomainName) -> StoreResult<Option<Entry>> {
        match self.named_in(Keys::pending(), domain).await? {
            None => Ok(None),
            Some(id) => Ok(self.read_entries(&[id]).await?.pop()),
        }
    }

    /// The entries the hash `key` of domain → entry id names (the pending listings, the
    /// pending lifts), oldest first, at most `limit`.
    pub(super) async fn entries_named_in(
        &self,
        key: String,
        limit: usize,
    ) -> StoreResult<Vec<Entry>> {
        let ids: Vec<String> = self.conn.clone().hvals(key).await.map_err(redis_err)?;
        let mut entries = self.read_entries(&ids).await?;
        entries.sort_by_key(|e| e.id);
        entries.truncate(clamp_limit(limit));
        Ok(entries)
    }

    pub(super) async fn request_entry_lift(
        &self,
        domain: &DomainName,
        entry_id: Uuid,
        request: PendingLift,
    ) -> StoreResult<Entry> {
        let (current, record) = self.active_record(domain).await?;
        if record.entry_id != entry_id {
            return Err(Refused::EntryChanged.into());
        }
        let mut entry = self.entry_by_id(entry_id).await?;
        if record.suspended {
            return Err(Refused::Suspended(Box::new(entry)).into());
        }
        let doc = serde_json::to_vec(&request).map_err(StoreError::corrupt)?;
        let outcome: i64 = self
            .scripts
            .request_lift
            .key(Keys::active())
            .key(Keys::entry(entry_id))
            .key(Keys::pending_lifts())
            .arg(domain.as_str())
            .arg(current)
            .arg(entry_id.simple().to_string())
            .arg(doc)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        match outcome {
            WRITTEN => {
                entry.pending_lift = Some(request);
                Ok(entry)
            }
            NOT_LISTED => Err(Refused::NotListed.into()),
            ACTIVE_CHANGED => Err(Refused::EntryChanged.into()),
            LIFT_PENDING => {
                let entry = self.entry_by_id(entry_id).await?;
                Err(Refused::LiftPending(Box::new(entry)).into())
            }
            other => Err(StoreError::corrupt(format!(
                "request lift script answered {other}"
            ))),
        }
    }

    pub(super) async fn reject_entry_lift(
        &self,
        domain: &DomainName,
        entry_id: Uuid,
        rejected: ReviewedLift,
    ) -> StoreResult<Entry> {
        let named = self.named_in(Keys::pending_lifts(), domain).await?;
        if named != Some(entry_id.simple().to_string()) {
            return Err(Refused::LiftNotPending.into());
        }
        let (mut entry, stored) = self
            .pending_lift_as_stored(entry_id, &rejected.request)
            .await?;
        let doc = serde_json::to_vec(&rejected).map_err(StoreError::corrupt)?;
        let outcome: i64 = self
            .scripts
            .reject_lift
            .key(Keys::entry(entry_id))
            .key(Keys::pending_lifts())
            .arg(domain.as_str())
            .arg(stored)
            .arg(doc)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        // LIFT_NOT_PENDING, the only other answer, wrote nothing.
        if outcome != WRITTEN {
            return Err(Refused::LiftNotPending.into());
        }
        entry.pending_lift = None;
        entry.rejected_lifts.push(rejected);
        Ok(entry)
    }

    pub(super) async fn reject_entry(
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
            .scripts
            .reject
            .key(Keys::pending())
            .key(Keys::entry(entry_id))
            .arg(domain.as_str())
            .arg(entry_id.simple().to_string())
            .arg(doc)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(redis_err)?;
        // PENDING_CHANGED, the only other answer, wrote nothing.
        if done == WRITTEN {
            Ok(entry)
        } else {
            Err(Refused::NotPending.into())
        }
    }
}
