//! The tamper-evident audit log: one record per state-changing request, each carrying the
//! SHA-256 of the record before it, so that altering, removing or reordering any record breaks
//! the chain from there on. This module owns the record, its hash and verification; the store
//! appends records, the API middleware writes them, the CLI exports and verifies them.

use std::collections::HashMap;

use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::model::Actor;

/// The hash the first record chains to.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before the store numbers and chains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    pub at: Timestamp,
    pub actor: Actor,
    /// The client's address as the server saw it.
    pub address: String,
    pub method: String,
    pub path: String,
    /// What was attempted, e.g. `entry.list`, `key.revoke`.
    pub action: String,
    /// What it was done to: a domain, a key id.
    #[serde(default)]
    pub target: String,
    /// The HTTP status of the answer.
    pub status: u16,
    /// `ok`, or the error code of the answer.
    pub outcome: String,
    #[serde(default)]
    pub request_id: String,
    /// Extra facts worth keeping (e.g. a protection override's justification).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// For a record that stands for repeated refusals: how many refusals of the same key,
    /// action and error code it counts (0 for any other record); the fields are the last
    /// one's.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeated: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Keeps refusals from growing the audit log without bound. Within an interval, the first
/// refusal of a key for one action and error code is written at once; the others are only
/// counted, and written as one record (`repeated`: their count) when the interval ends.
pub struct Refusals {
    interval: std::time::Duration,
    windows: std::sync::Mutex<HashMap<(String, String, String), Window>>,
}

struct Window {
    opened: std::time::Instant,
    /// The latest refusal counted, and how many were counted.
    last: Option<AuditEvent>,
    counted: u64,
}

impl Refusals {
    /// Coalesces per `interval`; a zero interval writes every refusal.
    pub fn new(interval: std::time::Duration) -> Refusals {
        Refusals {
            interval,
            windows: std::sync::Mutex::new(HashMap::new()),
        }
    }

    /// What to write for the refusal `event` seen at `now`: nothing while its interval runs
    /// (it is counted), else the summary of the interval that ended, if any, and the event.
    pub fn admit(&self, event: AuditEvent, now: std::time::Instant) -> Vec<AuditEvent> {
        if self.interval.is_zero() {
            return vec![event];
        }
        let key = (
            event.actor.key_id.clone(),
            event.action.clone(),
            event.outcome.clone(),
        );
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(window) = windows.get_mut(&key)
            && now.duration_since(window.opened) < self.interval
        {
            window.counted += 1;
            window.last = Some(event);
            return Vec::new();
        }
        let ended = windows.insert(key, Window::empty(now));
        ended
            .and_then(|mut window| window.summary())
            .into_iter()
            .chain([event])
            .collect()
    }

    /// The summaries of the intervals ended by `now` (all of them with `now` far ahead, at
    /// shutdown); their windows are forgotten.
    pub fn ended(&self, now: std::time::Instant) -> Vec<AuditEvent> {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        windows.retain(|_, window| {
            if now.saturating_duration_since(window.opened) < self.interval {
                return true;
            }
            out.extend(window.summary());
            false
        });
        out
    }
}

impl Window {
    fn empty(opened: std::time::Instant) -> Window {
        Window {
            opened,
            last: None,
            counted: 0,
        }
    }

    /// The record standing for the refusals counted, if any were.
    fn summary(&mut self) -> Option<AuditEvent> {
        let mut last = self.last.take()?;
        last.repeated = self.counted;
        Some(last)
    }
}

/// A numbered, chained audit record as stored and exported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditRecord {
    pub seq: u64,
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub event: AuditEvent,
    pub prev_sha256: String,
    pub sha256: String,
}

impl AuditRecord {
    /// Numbers `event` after the record `(prev_seq, prev_sha256)` and computes its hash.
    pub fn chain(event: AuditEvent, prev_seq: u64, prev_sha256: &str) -> AuditRecord {
        let mut record = AuditRecord {
            seq: prev_seq + 1,
            event,
            prev_sha256: prev_sha256.to_string(),
            sha256: String::new(),
        };
        record.sha256 = record.compute_hash();
        record
    }

    /// SHA-256 over the record's canonical JSON with the `sha256` field empty. serde_json
    /// writes struct fields in declaration order, so the bytes are the same on every node.
    pub fn compute_hash(&self) -> String {
        let mut unsigned = self.clone();
        unsigned.sha256.clear();
        hex::encode(Sha256::digest(unsigned.canonical_json()))
    }

    /// The bytes the hash is taken over.
    ///
    /// Encoding cannot fail here, so a failure is a bug and panics rather than returning a
    /// `Result`: serde_json fails only on a map with non-string keys or a `Serialize` impl
    /// that reports an error, and the record holds neither (strings, integers, a role enum, a
    /// province and a timestamp that serialise as strings). The panic replaces a silent
    /// fallback to empty bytes, which would have chained a hash of nothing into the log. A
    /// `Result` would reach `AuditRecord::chain` in both stores and every caller of
    /// `Verifier::check` only to handle a case that cannot occur.
    fn canonical_json(&self) -> Vec<u8> {
        serde_json::to_vec(self)
            .expect("an audit record holds only strings, integers and values encoded as strings")
    }
}

/// Where a chain first breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Tamper {
    #[error("record {seq} was altered: its content does not match its hash")]
    Altered { seq: u64 },
    #[error("records {expected} to {} were removed", found - 1)]
    Removed { expected: u64, found: u64 },
    #[error("record {found} is out of order: record {expected} was expected")]
    Reordered { expected: u64, found: u64 },
    #[error("record {seq} does not chain to the record before it")]
    Broken { seq: u64 },
    #[error("line {line} is not an audit record: {message}")]
    Unreadable { line: usize, message: String },
    #[error("there is no audit record to verify")]
    Empty,
    #[error("the audit log's checkpoint does not verify: {0}")]
    Checkpoint(String),
    #[error(
        "the log holds {found} records, and its signed checkpoint covers {signed}: records were \
         removed from its end"
    )]
    Truncated { signed: u64, found: u64 },
    #[error(
        "the first {size} records are not the ones the signed checkpoint covers: records were \
         altered, removed or renumbered, and the hashes after them computed again"
    )]
    NotSigned { size: u64 },
}

/// Checks a chain incrementally; feed it records in order.
pub struct Verifier {
    expected: u64,
    prev_sha256: String,
    pub verified: u64,
    /// The audit log's Merkle tree over the records verified (`tlog::audit_leaf`).
    tree: crate::tlog::Tree,
    /// A tree size whose root to keep, and the root once the chain reaches it.
    watched: Option<(u64, Option<tlog_tiles::Hash>)>,
}

impl Verifier {
    /// A verifier for a chain starting at the first record.
    pub fn new() -> Verifier {
        Verifier::after(0, GENESIS)
    }

    /// A verifier for a chain that continues after a known record.
    pub fn after(seq: u64, sha256: &str) -> Verifier {
        Verifier {
            expected: seq + 1,
            prev_sha256: sha256.to_string(),
            verified: 0,
            tree: crate::tlog::Tree::empty(),
            watched: None,
        }
    }

    pub fn check(&mut self, record: &AuditRecord) -> Result<(), Tamper> {
        if record.sha256 != record.compute_hash() {
            return Err(Tamper::Altered { seq: record.seq });
        }
        if record.seq > self.expected {
            return Err(Tamper::Removed {
                expected: self.expected,
                found: record.seq,
            });
        }
        if record.seq < self.expected {
            return Err(Tamper::Reordered {
                expected: self.expected,
                found: record.seq,
            });
        }
        if record.prev_sha256 != self.prev_sha256 {
            return Err(Tamper::Broken { seq: record.seq });
        }
        self.expected += 1;
        self.prev_sha256 = record.sha256.clone();
        self.verified += 1;
        self.tree
            .append(crate::tlog::audit_leaf_hash(record.seq, &record.sha256));
        if let Some((size, root)) = &mut self.watched
            && *size == self.tree.size()
        {
            *root = Some(self.tree.root());
        }
        Ok(())
    }

    /// A verifier of a whole log (from its first record) that also checks it against a
    /// signed checkpoint of the audit log (`check_anchor`).
    pub fn anchored(checkpoint: &crate::tlog::Verified) -> Verifier {
        let mut verifier = Verifier::new();
        verifier.watched = Some((
            checkpoint.size,
            (checkpoint.size == 0).then_some(tlog_tiles::EMPTY_HASH),
        ));
        verifier
    }

    /// After the last record: that there was one, and, for an anchored verifier, that the
    /// records reach the checkpoint's size and that the first of them make its root.
    pub fn finish(self, checkpoint: Option<&crate::tlog::Verified>) -> Result<Verifier, Tamper> {
        if self.verified == 0 {
            return Err(Tamper::Empty);
        }
        if let Some(checkpoint) = checkpoint {
            match self.watched {
                Some((_, Some(root))) if root == checkpoint.root => {}
                Some((_, Some(_))) => {
                    return Err(Tamper::NotSigned {
                        size: checkpoint.size,
                    });
                }
                _ => {
                    return Err(Tamper::Truncated {
                        signed: checkpoint.size,
                        found: self.verified,
                    });
                }
            }
        }
        Ok(self)
    }

    /// The hash of the last verified record.
    pub fn head(&self) -> &str {
        &self.prev_sha256
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Verifier::new()
    }
}

/// Opens a signed checkpoint of the audit log against the log's verifier key `key`
/// (`<origin>+<id>+<key>`; the audit log's origin is the key's, with `/audit`).
pub fn open_checkpoint(note: &[u8], key: &str) -> Result<crate::tlog::Verified, Tamper> {
    let origin = crate::tlog::audit_origin(key.trim().split('+').next().unwrap_or_default());
    crate::tlog::open_checkpoint(note, key, &origin).map_err(Tamper::Checkpoint)
}

/// Verifies an NDJSON export with `verifier` (`Verifier::new`, or `Verifier::anchored`),
/// which `Verifier::finish` then completes.
pub fn verify_ndjson(
    input: impl std::io::BufRead,
    mut verifier: Verifier,
) -> Result<Verifier, Tamper> {
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| Tamper::Unreadable {
            line: i + 1,
            message: e.to_string(),
        })?;
        if line.trim().is_empty() {
            continue;
        }
        let record: AuditRecord = serde_json::from_str(&line).map_err(|e| Tamper::Unreadable {
            line: i + 1,
            message: e.to_string(),
        })?;
        verifier.check(&record)?;
    }
    Ok(verifier)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn event(n: u16) -> AuditEvent {
        AuditEvent {
            at: crate::model::now(),
            actor: Actor {
                key_id: "k_1".into(),
                name: "Beijing AMR".into(),
                role: Role::Agency,
                province: None,
            },
            address: "127.0.0.1".into(),
            method: "POST".into(),
            path: "/v1/entries".into(),
            action: "entry.list".into(),
            target: format!("n{n}.example.cn"),
            status: 201,
            outcome: "ok".into(),
            request_id: String::new(),
            detail: String::new(),
            repeated: 0,
        }
    }

    fn chain(n: u16) -> Vec<AuditRecord> {
        let mut out: Vec<AuditRecord> = Vec::new();
        for i in 0..n {
            let (seq, prev) = out
                .last()
                .map_or((0, GENESIS.to_string()), |r| (r.seq, r.sha256.clone()));
            out.push(AuditRecord::chain(event(i), seq, &prev));
        }
        out
    }

    fn verify(records: &[AuditRecord]) -> Result<u64, Tamper> {
        let mut verifier = Verifier::new();
        for record in records {
            verifier.check(record)?;
        }
        Ok(verifier.verified)
    }

    #[test]
    fn the_hashed_bytes_never_change() {
        // Records already in stores carry hashes of these exact bytes: a change to the
        // encoding would make every one of them look altered.
        let at: Timestamp = time::OffsetDateTime::from_unix_timestamp(1_714_550_400)
            .unwrap()
            .into();
        let record = AuditRecord::chain(
            AuditEvent {
                at,
                target: "n0.example.cn".into(),
                ..event(0)
            },
            0,
            GENESIS,
        );
        let mut unsigned = record.clone();
        unsigned.sha256.clear();
        assert_eq!(
            String::from_utf8(unsigned.canonical_json()).unwrap(),
            concat!(
                r#"{"seq":1,"at":"2024-05-01T08:00:00Z","#,
                r#""actor":{"key_id":"k_1","name":"Beijing AMR","role":"agency"},"#,
                r#""address":"127.0.0.1","method":"POST","path":"/v1/entries","#,
                r#""action":"entry.list","target":"n0.example.cn","status":201,"#,
                r#""outcome":"ok","request_id":"","#,
                r#""prev_sha256":"0000000000000000000000000000000000000000000000000000000000000000","#,
                r#""sha256":""}"#
            )
        );
        assert_eq!(
            record.sha256,
            "dbec93d218f2745540919a1c1afe6dfd80a79f5be026ec25217a577d935fbc46"
        );

        let with_everything = AuditRecord::chain(
            AuditEvent {
                at: at + time::Duration::milliseconds(123),
                actor: Actor {
                    key_id: "k_2".into(),
                    name: "Guangdong CA".into(),
                    role: Role::Telecom,
                    province: Some(crate::domain::Province::parse("44").unwrap()),
                },
                address: "192.0.2.7".into(),
                method: "POST".into(),
                path: "/v1/entries/bad.example.cn/override".into(),
                action: "entry.override".into(),
                target: "bad.example.cn".into(),
                status: 200,
                outcome: "ok".into(),
                request_id: "r-1".into(),
                detail: "court order \"2024\" 1".into(),
                repeated: 0,
            },
            6,
            "ab",
        );
        assert_eq!(
            with_everything.sha256,
            "ad1bbd0237d5b0771c97515e69f38ec4f0606bcb3e3b9eed9bb45f659c9b2ed4"
        );
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(5));
    }

    #[test]
    fn each_kind_of_tampering_is_found_at_its_record() {
        let mut altered = chain(5);
        altered[2].event.target = "other.example.cn".into();
        assert_eq!(verify(&altered), Err(Tamper::Altered { seq: 3 }));

        let mut removed = chain(5);
        removed.remove(1);
        assert_eq!(
            verify(&removed),
            Err(Tamper::Removed {
                expected: 2,
                found: 3
            })
        );

        let mut reordered = chain(5);
        reordered.swap(1, 2);
        assert_eq!(
            verify(&reordered),
            Err(Tamper::Removed {
                expected: 2,
                found: 3
            })
        );

        // Rewriting a record and its hash still breaks the link to the next one.
        let mut rehashed = chain(5);
        rehashed[2].event.status = 500;
        rehashed[2].sha256 = rehashed[2].compute_hash();
        assert_eq!(verify(&rehashed), Err(Tamper::Broken { seq: 4 }));
    }

    fn refusal(key: &str, outcome: &str) -> AuditEvent {
        let mut e = event(1);
        e.actor.key_id = key.into();
        e.status = 403;
        e.outcome = outcome.into();
        e
    }

    #[test]
    fn refusals_are_written_once_per_interval_then_counted() {
        let refusals = Refusals::new(std::time::Duration::from_secs(60));
        let start = std::time::Instant::now();
        let later = |s: u64| start + std::time::Duration::from_secs(s);
        // The first refusal of a key, action and code goes out at once; the others count.
        assert_eq!(refusals.admit(refusal("k_1", "forbidden"), start).len(), 1);
        for s in 1..=3 {
            assert!(
                refusals
                    .admit(refusal("k_1", "forbidden"), later(s))
                    .is_empty()
            );
        }
        // Another key, or another code, is another window.
        assert_eq!(
            refusals.admit(refusal("k_2", "forbidden"), later(4)).len(),
            1
        );
        assert_eq!(
            refusals
                .admit(refusal("k_1", "out_of_province"), later(4))
                .len(),
            1
        );
        assert!(
            refusals.ended(later(59)).is_empty(),
            "no interval has ended"
        );
        // The interval ends: one record stands for the three counted.
        let ended = refusals.ended(later(61));
        assert_eq!(ended.len(), 1, "windows that counted nothing write nothing");
        assert_eq!(ended[0].repeated, 3);
        assert_eq!(ended[0].outcome, "forbidden");
        // A refusal after an interval ended writes the summary first, then itself.
        refusals.admit(refusal("k_1", "forbidden"), later(100));
        refusals.admit(refusal("k_1", "forbidden"), later(101));
        let written = refusals.admit(refusal("k_1", "forbidden"), later(170));
        assert_eq!(written.len(), 2);
        assert_eq!((written[0].repeated, written[1].repeated), (1, 0));
    }

    #[test]
    fn a_zero_interval_writes_every_refusal() {
        let refusals = Refusals::new(std::time::Duration::ZERO);
        let now = std::time::Instant::now();
        for _ in 0..3 {
            assert_eq!(refusals.admit(refusal("k_1", "forbidden"), now).len(), 1);
        }
        assert!(refusals.ended(now).is_empty());
    }

    #[test]
    fn a_record_without_repeats_hashes_as_before() {
        let json = serde_json::to_string(&event(1)).unwrap();
        assert!(!json.contains("repeated"), "{json}");
    }
}
