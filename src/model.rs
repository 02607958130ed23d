//! Registry records: entries, lifts, feed events, API keys and uploaded documents, shared by the
//! store, the index and the API. Parsing of outside input lives in `domain`; JSON request
//! shapes live in `api`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::{Category, Decision, DocumentType, DomainName, Province, Role, Scope};

/// Who did something: the key that made the request, copied onto the record so that it stays
/// readable after the key is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Actor {
    pub key_id: String,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub province: Option<Province>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryStatus {
    /// Waiting for a second key's approval (`entries.require_approval`); not checked as listed.
    Pending,
    Active,
    Lifted,
    /// Refused at review; never took effect.
    Rejected,
    /// An emergency suspension of access, executed for a referral case before its decision:
    /// checked as listed, left out of the RPZ, ended by the case's closure or by expiry.
    Suspended,
    /// A suspension that ended without becoming a listing (its time ran out, or the case
    /// closed without a registry measure).
    Expired,
    /// A suspension that its case's closure turned into a listing: the entry that follows it
    /// in the history took its place. Not lifted: the site stayed blocked throughout.
    Replaced,
}

impl EntryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EntryStatus::Pending => "pending",
            EntryStatus::Active => "active",
            EntryStatus::Lifted => "lifted",
            EntryStatus::Rejected => "rejected",
            EntryStatus::Suspended => "suspended",
            EntryStatus::Replaced => "replaced",
            EntryStatus::Expired => "expired",
        }
    }
}

/// The second key's decision on a pending entry, or on a pending lift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Review {
    /// `approved` or `rejected`.
    pub outcome: String,
    pub by: Actor,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub reason: String,
    /// When the entry (or the lift) was submitted for review.
    #[schema(value_type = String, format = DateTime)]
    pub proposed_at: Timestamp,
}

/// A lift waiting for a second key's approval (`entries.require_lift_approval`): the document
/// and reason it was asked under, by whom and when. The entry stays active meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PendingLift {
    pub reason: String,
    #[schema(value_type = Object)]
    pub document: Decision,
    pub requested_by: Actor,
    #[schema(value_type = String, format = DateTime)]
    pub requested_at: Timestamp,
}

impl PendingLift {
    /// The lift of `entry` this request asks for, made at `at` (with `approval` when a second
    /// key approved it): under the request's document and reason, by the key that asked.
    pub fn into_lift(
        self,
        entry: &Entry,
        at: Timestamp,
        approval: Option<ReviewedLift>,
    ) -> LiftRequest {
        LiftRequest {
            domain: entry.domain.clone(),
            entry_id: Some(entry.id),
            reason: self.reason,
            document: self.document,
            lifted_at: at,
            lifted_by: self.requested_by,
            expire: false,
            case: None,
            approval,
        }
    }
}

/// A second key's decision on a pending lift: the request as the reviewer read it (the store
/// refuses the decision unless it is still the pending one) and the review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ReviewedLift {
    pub request: PendingLift,
    pub review: Review,
}

/// A national telecom key's deliberate listing of a protected name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProtectionOverride {
    pub justification: String,
    /// The protected name the entry touches.
    #[schema(value_type = String)]
    pub protected: DomainName,
}

/// A validated listing request, ready to be written. The store assigns `seq`.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// UUIDv7, so ids sort by listing time.
    pub id: Uuid,
    pub domain: DomainName,
    pub scope: Scope,
    pub category: Category,
    /// Why the site is listed, in the submitter's words (may be empty).
    pub reason: String,
    /// The penalty decision the listing rests on.
    pub decision: Decision,
    pub listed_at: Timestamp,
    /// The key that submitted it.
    pub listed_by: Actor,
    /// Set when a protected name was listed deliberately, with its justification.
    pub protection_override: Option<ProtectionOverride>,
    /// What locating the site found when it was listed (see `notices`).
    pub location: Option<Location>,
    /// Ids of the providers told to stop serving the site: those located and those named.
    pub providers: Vec<String>,
    /// For an emergency suspension, when it expires; `None` for a listing.
    pub suspended_until: Option<Timestamp>,
    /// The suspension of the same domain that this listing replaces (a case's closure).
    pub replaces: Option<Uuid>,
    /// The referral case written in the same atomic step, when the entry comes from one.
    pub case: Option<CaseWrite>,
    /// The job of locating the site, written in the same atomic step; `None` when it is not
    /// located.
    pub locate: Option<LocateJob>,
}

/// A referral case document written in the same atomic step as a registry change, so that
/// the case and the entry it names never disagree. The store keeps the document opaque and
/// only compares versions.
#[derive(Debug, Clone)]
pub struct CaseWrite {
    /// The case (or referral) id.
    pub id: Uuid,
    /// The version the caller read (0 for none); the store refuses the whole write when the
    /// stored case has moved on, and the caller reads again.
    pub expect: u64,
    /// The case after the change, as stored (its version is `expect + 1`).
    pub doc: Vec<u8>,
    /// The document hashes the case names ([`NamesDocuments`]), for the store's index of
    /// which records name which document, written in the same step.
    pub documents: Vec<String>,
}

/// How an entry ended: the document that lifted it and the feed sequence of the lift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Lift {
    pub reason: String,
    #[schema(value_type = Object)]
    pub document: Decision,
    pub lifted_by: Actor,
    pub seq: u64,
    /// The second key's approval, when the lift waited for one (`lifted_by` asked for it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
}

impl NewEntry {
    /// A listing of `domain` by `listed_by` at `listed_at` under `decision`, with a new
    /// time-ordered id; nothing located, no provider named, not a suspension, no case.
    pub fn new(
        domain: DomainName,
        scope: Scope,
        category: Category,
        decision: Decision,
        reason: String,
        listed_by: Actor,
        listed_at: Timestamp,
    ) -> NewEntry {
        NewEntry {
            id: Uuid::now_v7(),
            domain,
            scope,
            category,
            reason,
            decision,
            listed_at,
            listed_by,
            protection_override: None,
            location: None,
            providers: Vec::new(),
            suspended_until: None,
            replaces: None,
            case: None,
            locate: None,
        }
    }
}

/// A validated lift request, ready to be written. The store assigns the sequence number.
#[derive(Debug, Clone)]
pub struct LiftRequest {
    pub domain: DomainName,
    /// The active entry the caller decided to lift; the store refuses if another is active.
    pub entry_id: Option<Uuid>,
    /// Why it is lifted.
    pub reason: String,
    /// The document it is lifted under (a decision revoking the penalty, a court ruling).
    pub document: Decision,
    pub lifted_at: Timestamp,
    /// The key that lifted it (for an approved lift, the one that asked for it).
    pub lifted_by: Actor,
    /// Ends a suspension (an `expired` event) instead of lifting a listing; the store refuses
    /// a lift of a suspension and an expiry of a listing.
    pub expire: bool,
    /// The referral case written in the same atomic step.
    pub case: Option<CaseWrite>,
    /// The pending lift this lift approves; the store refuses the lift unless it is still the
    /// entry's pending lift.
    pub approval: Option<ReviewedLift>,
}

/// One blacklist entry: a listing of one domain under one decision, active or lifted.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Entry {
    #[schema(value_type = String)]
    pub id: Uuid,
    #[schema(value_type = String, example = "shop.example.cn")]
    pub domain: DomainName,
    /// The Unicode form of `domain`, present only when it differs.
    pub domain_unicode: Option<String>,
    #[schema(value_type = String, example = "subtree")]
    pub scope: Scope,
    #[schema(value_type = String, example = "counterfeit_goods")]
    pub category: Category,
    pub reason: String,
    pub status: EntryStatus,
    #[schema(value_type = Object)]
    pub decision: Decision,
    #[schema(value_type = String, format = DateTime)]
    pub listed_at: Timestamp,
    pub listed_by: Actor,
    /// The feed sequence number of the listing.
    pub seq: u64,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub lifted_at: Option<Timestamp>,
    pub lift: Option<Lift>,
    /// A lift waiting for a second key's approval; the entry stays active until then.
    pub pending_lift: Option<PendingLift>,
    /// Lifts of this entry that a second key rejected, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rejected_lifts: Vec<ReviewedLift>,
    pub review: Option<Review>,
    pub protection_override: Option<ProtectionOverride>,
    /// What locating the site found when it was listed; absent when it was not located.
    pub location: Option<Location>,
    /// Ids of the providers sent notices about this entry.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub providers: Vec<String>,
    /// The referral case the entry was made from.
    #[schema(value_type = Option<String>)]
    pub case_id: Option<Uuid>,
    /// When a suspension expires unless its case closes first.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<Timestamp>,
}

impl Entry {
    /// A new entry waiting for review: no feed sequence until it is approved.
    pub fn pending(new: NewEntry) -> Entry {
        let mut entry = Entry::from_new(new, 0);
        entry.status = EntryStatus::Pending;
        entry
    }

    pub fn from_new(new: NewEntry, seq: u64) -> Entry {
        Entry {
            id: new.id,
            domain_unicode: new.domain.to_unicode(),
            domain: new.domain,
            scope: new.scope,
            category: new.category,
            reason: new.reason,
            status: if new.suspended_until.is_some() {
                EntryStatus::Suspended
            } else {
                EntryStatus::Active
            },
            decision: new.decision,
            listed_at: new.listed_at,
            listed_by: new.listed_by,
            seq,
            lifted_at: None,
            lift: None,
            pending_lift: None,
            rejected_lifts: Vec::new(),
            location: new.location,
            providers: new.providers,
            review: None,
            protection_override: new.protection_override,
            case_id: new.case.as_ref().map(|c| c.id),
            expires_at: new.suspended_until,
        }
    }

    /// The listing request this entry was made from, to write it again when approved.
    pub fn as_new(&self) -> NewEntry {
        NewEntry {
            id: self.id,
            domain: self.domain.clone(),
            scope: self.scope,
            category: self.category,
            reason: self.reason.clone(),
            decision: self.decision.clone(),
            listed_at: self.listed_at,
            listed_by: self.listed_by.clone(),
            protection_override: self.protection_override.clone(),
            location: self.location.clone(),
            providers: self.providers.clone(),
            suspended_until: self.expires_at,
            replaces: None,
            case: None,
            locate: None,
        }
    }

    /// Marks the entry lifted by `request` at feed sequence `seq`. A lift waiting for
    /// approval ends with it: approved by `request`, or overtaken by a lift that needed none.
    pub fn lifted(mut self, request: LiftRequest, seq: u64) -> Entry {
        self.status = if request.expire {
            EntryStatus::Expired
        } else {
            EntryStatus::Lifted
        };
        self.lifted_at = Some(request.lifted_at);
        self.pending_lift = None;
        self.lift = Some(Lift {
            reason: request.reason,
            document: request.document,
            lifted_by: request.lifted_by,
            seq,
            review: request.approval.map(|approved| approved.review),
        });
        self
    }
}

/// A record that names signed documents by their SHA-256: an entry (its decision and its
/// lift's document), a case or a referral (their letters and the documents of their steps).
pub trait NamesDocuments {
    /// Every hash the record names, each once, in lower-case hex.
    fn document_hashes(&self) -> Vec<String>;

    /// Sets `document_uploaded` beside every hash the record shows, as `uploaded` tells.
    fn mark_uploaded(&mut self, uploaded: &dyn Fn(&str) -> bool);

    /// What the record names `sha256` as (`decision`, `lift.document`, a step document's
    /// kind), each once; empty when it does not name it.
    fn names_as(&self, sha256: &str) -> Vec<String>;
}

/// The hashes of `named`, each once and in order.
pub fn distinct_hashes<'a>(named: impl IntoIterator<Item = Option<&'a String>>) -> Vec<String> {
    let mut hashes: Vec<String> = named.into_iter().flatten().cloned().collect();
    hashes.sort_unstable();
    hashes.dedup();
    hashes
}

impl NamesDocuments for Entry {
    fn document_hashes(&self) -> Vec<String> {
        let lift = self.lift.as_ref().map(|l| &l.document);
        distinct_hashes(
            [Some(&self.decision), lift]
                .into_iter()
                .flatten()
                .map(|d| d.document_sha256.as_ref()),
        )
    }

    fn mark_uploaded(&mut self, uploaded: &dyn Fn(&str) -> bool) {
        self.decision.mark_uploaded(uploaded);
        if let Some(lift) = &mut self.lift {
            lift.document.mark_uploaded(uploaded);
        }
        if let Some(pending) = &mut self.pending_lift {
            pending.document.mark_uploaded(uploaded);
        }
    }

    fn names_as(&self, sha256: &str) -> Vec<String> {
        let lift = self.lift.as_ref().map(|l| &l.document);
        [("decision", Some(&self.decision)), ("lift.document", lift)]
            .into_iter()
            .filter(|(_, d)| d.and_then(|d| d.document_sha256.as_deref()) == Some(sha256))
            .map(|(name, _)| name.to_owned())
            .collect()
    }
}

/// A signed document as uploaded, without its bytes: what the store keeps beside them under
/// the document's SHA-256. Only the first upload of the same bytes is recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocumentMeta {
    /// SHA-256 of the bytes, 64 lower-case hex characters.
    pub sha256: String,
    pub content_type: DocumentType,
    /// Length of the bytes.
    pub size: u64,
    pub uploaded_by: Actor,
    pub uploaded_at: Timestamp,
}

/// What the index keeps of an active entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRecord {
    pub domain: DomainName,
    pub entry_id: Uuid,
    pub scope: Scope,
    pub category: Category,
    /// An emergency suspension rather than a listing.
    pub suspended: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Listed,
    Lifted,
    /// An emergency suspension began: checked as listed, not in the RPZ.
    Suspended,
    /// A suspension ended without becoming a listing.
    Expired,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Listed => "listed",
            EventKind::Lifted => "lifted",
            EventKind::Suspended => "suspended",
            EventKind::Expired => "expired",
        }
    }

    pub fn parse(input: &str) -> Option<EventKind> {
        Some(match input {
            "listed" => EventKind::Listed,
            "lifted" => EventKind::Lifted,
            "suspended" => EventKind::Suspended,
            "expired" => EventKind::Expired,
            _ => return None,
        })
    }

    /// Whether the event puts a record in the active set (a listing replaces a suspension).
    pub fn adds(self) -> bool {
        matches!(self, EventKind::Listed | EventKind::Suspended)
    }
}

/// One change of the active set, numbered by the feed sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Event {
    pub seq: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    #[schema(value_type = String)]
    pub domain: DomainName,
    #[schema(value_type = String)]
    pub scope: Scope,
    #[schema(value_type = String)]
    pub entry_id: Uuid,
    #[schema(value_type = String)]
    pub category: Category,
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
}

impl Event {
    pub fn listed(entry: &Entry) -> Event {
        let kind = if entry.status == EntryStatus::Suspended {
            EventKind::Suspended
        } else {
            EventKind::Listed
        };
        Event::of(entry, entry.seq, kind, entry.listed_at)
    }

    /// The lift event of an entry that `Entry::lifted` has marked.
    pub fn lifted(entry: &Entry) -> Event {
        let kind = if entry.status == EntryStatus::Expired {
            EventKind::Expired
        } else {
            EventKind::Lifted
        };
        let seq = entry.lift.as_ref().map_or(entry.seq, |lift| lift.seq);
        Event::of(entry, seq, kind, entry.lifted_at.unwrap_or(entry.listed_at))
    }

    fn of(entry: &Entry, seq: u64, kind: EventKind, at: Timestamp) -> Event {
        Event {
            seq,
            kind,
            domain: entry.domain.clone(),
            scope: entry.scope,
            entry_id: entry.id,
            category: entry.category,
            at,
        }
    }
}

/// An API key as stored: the token itself is never kept, only its SHA-256.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub province: Option<Province>,
    /// Lower-case hex SHA-256 of the token.
    pub token_sha256: String,
    /// The provider an `access_provider` or `dns_provider` key speaks for.
    pub provider_id: Option<String>,
    pub created_at: Timestamp,
    /// After this the token no longer authenticates.
    pub expires_at: Option<Timestamp>,
}

/// A signed-in console session. The cookie value is never kept: `id` is derived from its
/// SHA-256, and the key is named by its token's SHA-256, as the key record names it, so that
/// revoking the key ends every session it signed in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub id: Uuid,
    /// The stored version, for the compare-and-set of each write.
    pub version: u64,
    /// Lower-case hex SHA-256 of the key's token.
    pub token_sha256: String,
    /// The form token every console form carries back.
    pub csrf: String,
    pub created_at: Timestamp,
    /// The last request made with it; idle past `console.idle_minutes`, it has ended.
    pub last_seen: Timestamp,
}

/// A name that must never be cut off, with who protected it.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ProtectedName {
    #[schema(value_type = String)]
    pub domain: DomainName,
    pub note: String,
    /// Absent for names from configuration.
    pub added_by: Option<Actor>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub added_at: Option<Timestamp>,
}

/// Now, to the millisecond (what every record keeps).
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// A moment in UTC to the millisecond, written as RFC 3339 (`2026-05-01T08:00:00.123Z`)
/// wherever it is stored or sent: its serde is its own, so no field spells it out. (In the
/// OpenAPI document a field of this type says `value_type = String, format = DateTime`:
/// utoipa describes only its own primitive types inline.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    /// Now, truncated to the millisecond.
    pub fn now() -> Timestamp {
        let now = OffsetDateTime::now_utc();
        Timestamp(
            now.replace_nanosecond(now.nanosecond() / 1_000_000 * 1_000_000)
                .unwrap_or(now),
        )
    }
}

impl From<OffsetDateTime> for Timestamp {
    fn from(at: OffsetDateTime) -> Timestamp {
        Timestamp(at)
    }
}

impl std::ops::Deref for Timestamp {
    type Target = OffsetDateTime;

    fn deref(&self) -> &OffsetDateTime {
        &self.0
    }
}

impl std::ops::Add<time::Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, by: time::Duration) -> Timestamp {
        Timestamp(self.0 + by)
    }
}

impl std::ops::Add<std::time::Duration> for Timestamp {
    type Output = Timestamp;

    fn add(self, by: std::time::Duration) -> Timestamp {
        Timestamp(self.0 + by)
    }
}

impl std::ops::Sub<time::Duration> for Timestamp {
    type Output = Timestamp;

    fn sub(self, by: time::Duration) -> Timestamp {
        Timestamp(self.0 - by)
    }
}

impl std::ops::Sub for Timestamp {
    type Output = time::Duration;

    fn sub(self, earlier: Timestamp) -> time::Duration {
        self.0 - earlier.0
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&rfc3339::format(&self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        rfc3339::serialize(&self.0, s)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        rfc3339::deserialize(d).map(Timestamp)
    }
}

pub mod rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;
    use time::format_description::well_known::Rfc3339;

    pub fn format(at: &OffsetDateTime) -> String {
        at.to_offset(time::UtcOffset::UTC)
            .format(&Rfc3339)
            .unwrap_or_default()
    }

    pub fn serialize<S: Serializer>(at: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        OffsetDateTime::parse(&text, &Rfc3339).map_err(serde::de::Error::custom)
    }
}

/// Which part of the network a provider runs, and so which notice it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProviderKind {
    /// Hosts or connects sites: told to stop access.
    Access,
    /// Runs the authoritative name servers of sites: told to stop resolution.
    Dns,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 2] = [ProviderKind::Access, ProviderKind::Dns];

    pub fn parse(text: &str) -> Option<ProviderKind> {
        match text {
            "access" => Some(ProviderKind::Access),
            "dns" => Some(ProviderKind::Dns),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Access => "access",
            ProviderKind::Dns => "dns",
        }
    }
}

/// A provider found to serve a site, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LocatedProvider {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub matched_by: String,
}

/// Where locating an entry's site stands: `pending` until the first attempt ends, then
/// `located` or `failed` after each attempt (a failed one is retried with back-off).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LocationStatus {
    Pending,
    Located,
    Failed,
}

/// A change of where a site sits, found by locating it again: when, and from which addresses
/// and name servers to which.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LocationChange {
    #[schema(value_type = String, format = DateTime)]
    pub at: Timestamp,
    #[schema(value_type = Vec<String>)]
    pub from_addresses: Vec<IpAddr>,
    #[schema(value_type = Vec<String>)]
    pub from_nameservers: Vec<DomainName>,
    #[schema(value_type = Vec<String>)]
    pub to_addresses: Vec<IpAddr>,
    #[schema(value_type = Vec<String>)]
    pub to_nameservers: Vec<DomainName>,
}

/// What locating a site found: its addresses (after following CNAMEs), the name servers of its
/// zone, and the providers they map to. Kept on the entry as evidence of who was told and why,
/// with where locating stands and how the site moved.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Location {
    /// Records written before locating ran in the background have no status: they were
    /// located when listed.
    #[serde(default = "LocationStatus::located")]
    pub status: LocationStatus,
    /// Attempts made since the last one that succeeded (0 while pending or once located).
    #[serde(default)]
    pub attempts: u32,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub addresses: Vec<IpAddr>,
    /// The CNAME chain from the name to the addresses, in order.
    #[serde(default)]
    pub cnames: Vec<String>,
    /// The zone whose name servers were found (the name itself or its closest parent).
    pub zone: Option<String>,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub nameservers: Vec<DomainName>,
    #[serde(default)]
    pub providers: Vec<LocatedProvider>,
    /// When the last attempt ended; absent while pending.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub located_at: Option<Timestamp>,
    /// Set when the last attempt failed or ran out of time; what was found before is kept.
    pub error: Option<String>,
    /// When the next attempt is due (a retry, or the periodic refresh).
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_attempt_at: Option<Timestamp>,
    /// Every change of addresses or name servers found by a later attempt, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<LocationChange>,
}

impl LocationStatus {
    fn located() -> LocationStatus {
        LocationStatus::Located
    }
}

impl Location {
    /// A location not looked up yet, its first attempt due at `due`.
    pub fn pending(due: Timestamp) -> Location {
        Location {
            status: LocationStatus::Pending,
            attempts: 0,
            addresses: Vec::new(),
            cnames: Vec::new(),
            zone: None,
            nameservers: Vec::new(),
            providers: Vec::new(),
            located_at: None,
            error: None,
            next_attempt_at: Some(due),
            history: Vec::new(),
        }
    }
}

/// The job of locating an entry's site, in the store beside the entry: due at `due_at`, or
/// held by a node until its lease ends. It lasts while the entry is active: after each attempt
/// it is due again, for a retry or for the periodic refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocateJob {
    pub entry_id: Uuid,
    pub domain: DomainName,
    /// The kinds of provider this entry notifies (a suspension tells DNS providers only).
    pub kinds: Vec<ProviderKind>,
    /// Attempts started, all together; a claim is identified by this number.
    pub attempts: u32,
    /// Attempts failed since the last success.
    pub failures: u32,
    pub due_at: Timestamp,
    pub held_by: Option<String>,
    pub lease_until: Option<Timestamp>,
}

impl LocateJob {
    pub fn new(
        entry_id: Uuid,
        domain: DomainName,
        kinds: Vec<ProviderKind>,
        due_at: Timestamp,
    ) -> LocateJob {
        LocateJob {
            entry_id,
            domain,
            kinds,
            attempts: 0,
            failures: 0,
            due_at,
            held_by: None,
            lease_until: None,
        }
    }

    /// When the worker must look at the job: when it is due, or when its lease runs out.
    pub fn due_ms(&self) -> u64 {
        epoch_ms(self.lease_until.unwrap_or(self.due_at))
    }

    /// Takes the job for `node` until `now + lease`, if it is due and no live lease holds it.
    pub fn claim(&mut self, node: &str, now: Timestamp, lease: std::time::Duration) -> bool {
        if self.due_ms() > epoch_ms(now) {
            return false;
        }
        self.attempts += 1;
        self.held_by = Some(node.to_string());
        self.lease_until = Some(now + lease);
        true
    }

    /// Whether `node` still holds attempt `attempt` (no other node took it over meanwhile).
    pub fn held_by(&self, node: &str, attempt: u32) -> bool {
        self.attempts == attempt && self.held_by.as_deref() == Some(node)
    }

    /// Ends the held attempt: due again at `next`, a failure counted or the count reset.
    pub fn finish(&mut self, failed: bool, next: Timestamp) {
        self.failures = if failed { self.failures + 1 } else { 0 };
        self.due_at = next;
        self.held_by = None;
        self.lease_until = None;
    }

    /// Makes the job due at `now` (an explicit request), unless an attempt is running.
    pub fn hurry(&mut self, now: Timestamp) -> bool {
        if self.held_by.is_some() && self.due_ms() > epoch_ms(now) {
            return false;
        }
        self.due_at = now;
        self.held_by = None;
        self.lease_until = None;
        true
    }
}

/// Milliseconds since the Unix epoch: the score of time-ordered store indexes.
pub fn epoch_ms(at: Timestamp) -> u64 {
    (at.unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

/// A secret kept as it is because it is used as it is (an HMAC key: a webhook's, a TSIG
/// key's): serialised as its text, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Secret {
    fn from(text: &str) -> Secret {
        Secret::new(text)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}
