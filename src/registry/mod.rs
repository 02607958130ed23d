//! The registry service: every use case of siteban, whoever calls it (the HTTP API, the
//! command line, the sweepers). A use case takes validated values and the caller's
//! principal, checks the registry's rules (roles within a step, provinces, protected names,
//! the case workflow, the records rules), makes the one atomic store write the step implies
//! and answers once this node's index shows it. It knows no HTTP and no JSON; the store
//! knows no rules beyond the atomic checks of its writes.
//!
//! - `mod.rs`: one node's state (store, index, key cache, notices), bootstrap,
//!   read-your-writes and readiness; `follow`: the feed follower.
//! - `entries`: listing, four-eyes approval and rejection, reading entries; `lifts`: lifting,
//!   and four-eyes on lifts; `protection`: protected names.
//! - `cases`, `referrals`, `inbox`: the referral workflow; `announce`: organisations' inbox
//!   webhooks and the announcer that calls them.
//! - `records`: shared records, their provincial rules, the blacklisted-operator rule and
//!   verify; `import`: the bulk import of entries.
//! - `public`: what anyone may learn of a listing without a key.
//! - `sessions`: console sessions (sign-in, idle and revoked keys, sign-out).
//! - `sweep`: the sweepers (suspension expiry, overdue notices, ended sessions).
//! - `reads`: keys, providers, notices, the feed and the audit log, as the callers read them.
//! - `documents`: uploaded documents, who may read them, and the flag beside every document
//!   hash an answer shows.

mod announce;
mod cases;
mod documents;
mod entries;
mod error;
mod follow;
mod import;
mod inbox;
mod lifts;
pub mod log;
mod protection;
mod public;
mod reads;
mod records;
mod referrals;
mod sessions;
mod sweep;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::auth::Authenticator;
use crate::delivery::Notices;
use crate::domain::DomainName;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::store::{Store, StoreResult};

pub use announce::{WebhookChange, run_announcer};
pub use cases::{CaseStep, case_opener, org_of};
pub use documents::{DocumentInfo, MAX_REFERENCES, Reference};
pub use entries::{EntryFilter, Listing, Review as ReviewDecision, ReviewAsked, Subject, Written};
pub use error::{RegistryError, RegistryResult};
pub use follow::follow;
pub use import::{ImportReport, import_actor, invalid_lines};
pub use inbox::InboxItem;
pub use lifts::Lifted;
pub use public::PublicListing;
pub use reads::ProviderCompliance;
pub use records::{Imported, Verified, recordal_rule, registration_rule};
pub use referrals::ReferralStep;
pub use sessions::{SignedIn, csrf_matches};
pub use sweep::{run_expiry_sweeper, run_overdue_sweeper, run_session_sweeper};

/// One node's registry: the store, and what this node keeps current from it.
pub struct Registry {
    pub store: Arc<dyn Store>,
    pub index: Arc<Index>,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    /// Locating sites, planning notices and waking the delivery worker.
    pub notices: Arc<Notices>,
    pub settings: Settings,
    pub health: FollowerHealth,
    /// Protected names from configuration (validated at start).
    pub configured_protection: Vec<DomainName>,
    /// Wakes the inbox announcer when a case or referral changes on this node.
    pub inbox_wake: tokio::sync::Notify,
    /// The latest events the follower applied, for the feed's long-polls.
    pub recent: crate::index::recent::Recent,
    /// The transparency log, once opened (`Log::open`); never on a mirror.
    pub log: std::sync::OnceLock<log::Log>,
}

/// How many of the latest events a node keeps in memory for the feed's long-polls: a follower
/// woken by a new event reads it from there, not from the store.
pub const RECENT_EVENTS: usize = 10_000;

/// What the follower last knew of the store, for readiness and the lag metrics.
pub struct FollowerHealth {
    started: Instant,
    /// Milliseconds after `started` of the last successful read from the store; negative when
    /// what the node loaded at start was already that old.
    last_ok_ms: AtomicI64,
    /// Newest feed sequence seen in the store.
    pub head: AtomicU64,
    /// Cuts the follower's back-off short: a write of this node waits for it.
    wake: tokio::sync::Notify,
}

impl FollowerHealth {
    pub fn new() -> FollowerHealth {
        FollowerHealth {
            started: Instant::now(),
            last_ok_ms: AtomicI64::new(0),
            head: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
        }
    }

    pub fn mark_ok(&self, head: u64) {
        self.mark_ok_aged(head, Duration::ZERO);
    }

    /// As `mark_ok`, for what was known to be current `age` ago (a mirror's local copy).
    pub fn mark_ok_aged(&self, head: u64, age: Duration) {
        let at = self.started.elapsed().as_millis() as i64 - age.as_millis() as i64;
        self.last_ok_ms.store(at, Ordering::Relaxed);
        self.head.fetch_max(head, Ordering::Relaxed);
    }

    /// Time since the store last answered the follower.
    pub fn stale_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as i64;
        let since = now.saturating_sub(self.last_ok_ms.load(Ordering::Relaxed));
        Duration::from_millis(since.max(0) as u64)
    }
}

impl Default for FollowerHealth {
    fn default() -> Self {
        FollowerHealth::new()
    }
}

impl Registry {
    /// Loads the index and keys from the store; the node serves nothing before this.
    pub async fn bootstrap(&self) -> StoreResult<()> {
        let started = Instant::now();
        let active = self.store.active_set().await?;
        self.recent.reset(active.seq);
        self.index.load(active.seq, &active.records);
        let (version, keys) = self.store.keys().await?;
        self.auth.replace(version, &keys);
        self.health
            .mark_ok_aged(active.seq, active.age.unwrap_or_default());
        tracing::info!(
            entries = active.records.len(),
            seq = active.seq,
            keys = keys.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "index loaded"
        );
        Ok(())
    }

    /// Waits, bounded, until this node's index shows `seq` (read-your-writes).
    pub(crate) async fn await_index(&self, seq: u64) {
        let timeout = Duration::from_millis(self.settings.index.read_your_writes_ms);
        if self.index.seq() < seq {
            // The store has the write; a follower backing off after an error would otherwise
            // leave it unseen here for up to its whole back-off.
            self.health.wake.notify_one();
        }
        if !self.index.wait_for(seq, timeout).await {
            tracing::warn!(
                seq,
                "the index did not show a write in time; the follower will apply it"
            );
        }
    }

    /// Why the node is not ready, if it is not: the store must answer and the index must have
    /// applied everything the store holds.
    pub async fn readiness(&self) -> Result<(), String> {
        let head = match tokio::time::timeout(Duration::from_secs(1), self.store.head()).await {
            Ok(Ok(head)) => head,
            Ok(Err(e)) => return Err(format!("store unreachable: {e}; the index is stale")),
            Err(_) => return Err("store did not answer within 1 s; the index is stale".into()),
        };
        self.health.head.fetch_max(head, Ordering::Relaxed);
        if self.index.seq() < head && !self.index.wait_for(head, Duration::from_secs(1)).await {
            return Err(format!(
                "index is behind the feed: applied {} of {head}",
                self.index.seq()
            ));
        }
        if let Some(why) = self.log.get().and_then(|log| log.audit_broken()) {
            return Err(format!(
                "the stored audit log does not match its signed checkpoint: {why}"
            ));
        }
        if let Some(why) = self.log.get().and_then(|log| log.relay_broken()) {
            return Err(format!(
                "the upstream's transparency log does not check out: {why}"
            ));
        }
        let stale = self.health.stale_for();
        let mirror = &self.settings.mirror;
        if mirror.enabled() {
            // A mirror answers from what it has while the upstream is away, up to a limit.
            if stale > Duration::from_secs(mirror.max_staleness_seconds) {
                return Err(format!(
                    "the upstream has not answered for {} s (mirror.max_staleness_seconds is {})",
                    stale.as_secs(),
                    mirror.max_staleness_seconds
                ));
            }
            return Ok(());
        }
        let limit =
            Duration::from_millis(self.settings.index.follow_block_ms) + Duration::from_secs(5);
        if stale > limit {
            return Err(format!(
                "the feed follower has not reached the store for {} s",
                stale.as_secs()
            ));
        }
        Ok(())
    }

    /// Brings the gauges up to date; called when metrics are scraped.
    pub fn refresh_gauges(&self) {
        let view = self.index.view();
        let head = self.health.head.load(Ordering::Relaxed).max(view.seq());
        self.metrics.index_entries.set(view.len() as i64);
        self.metrics.index_bytes.set(view.heap_bytes() as i64);
        self.metrics.applied_seq.set(view.seq() as i64);
        self.metrics.store_head_seq.set(head as i64);
        self.metrics
            .follower_lag_events
            .set(head.saturating_sub(view.seq()) as i64);
        self.metrics
            .follower_stale_seconds
            .set(self.health.stale_for().as_secs_f64());
    }
}
