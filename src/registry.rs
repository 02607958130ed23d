//! The registry service of one node: the store, the in-memory index and key cache kept current
//! from it, and the rules that tie them together (a write is answered once this node's index
//! shows it; readiness means the store answers and the index has caught up).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::auth::Authenticator;
use crate::domain::DomainName;
use crate::index::Index;
use crate::metrics::Metrics;
use crate::settings::Settings;
use crate::store::{Store, StoreError, StoreResult};

pub struct Registry {
    pub store: Arc<dyn Store>,
    pub index: Arc<Index>,
    pub auth: Arc<Authenticator>,
    pub metrics: Arc<Metrics>,
    pub settings: Settings,
    pub health: FollowerHealth,
    pub limits: crate::limits::Limits,
    /// Protected names from configuration (validated at start).
    pub configured_protection: Vec<DomainName>,
}

/// What the follower last knew of the store, for readiness and the lag metrics.
pub struct FollowerHealth {
    started: Instant,
    /// Milliseconds after `started` of the last successful read from the store.
    last_ok_ms: AtomicU64,
    /// Newest feed sequence seen in the store.
    pub head: AtomicU64,
    /// Cuts the follower's back-off short: a write of this node waits for it.
    wake: tokio::sync::Notify,
}

impl FollowerHealth {
    pub fn new() -> FollowerHealth {
        FollowerHealth {
            started: Instant::now(),
            last_ok_ms: AtomicU64::new(0),
            head: AtomicU64::new(0),
            wake: tokio::sync::Notify::new(),
        }
    }

    pub fn mark_ok(&self, head: u64) {
        self.last_ok_ms
            .store(self.started.elapsed().as_millis() as u64, Ordering::Relaxed);
        self.head.fetch_max(head, Ordering::Relaxed);
    }

    /// Time since the store last answered the follower.
    pub fn stale_for(&self) -> Duration {
        let now = self.started.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_ok_ms.load(Ordering::Relaxed)))
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
        self.index.load(active.seq, &active.records);
        let (version, keys) = self.store.keys().await?;
        self.auth.replace(version, &keys);
        self.health.mark_ok(active.seq);
        tracing::info!(
            entries = active.records.len(),
            seq = active.seq,
            keys = keys.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "index loaded"
        );
        Ok(())
    }

    /// Every protected name, from configuration and from the store.
    pub async fn protected_names(&self) -> StoreResult<Vec<crate::model::ProtectedName>> {
        let mut names: Vec<crate::model::ProtectedName> = self
            .configured_protection
            .iter()
            .map(|domain| crate::model::ProtectedName {
                domain: domain.clone(),
                note: "configured in protection.names".into(),
                added_by: None,
                added_at: None,
            })
            .collect();
        names.extend(self.store.protected().await?);
        Ok(names)
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
        let stale = self.health.stale_for();
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

/// Keeps the index and the key cache current from the store until `shutdown` fires.
pub async fn follow(registry: Arc<Registry>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let block = Duration::from_millis(registry.settings.index.follow_block_ms);
    let mut backoff = Duration::from_millis(100);
    let mut failing = false;
    loop {
        let cursor = crate::store::FollowCursor {
            seq: registry.index.seq(),
            keys_version: registry.auth.version(),
        };
        let outcome = tokio::select! {
            _ = shutdown.changed() => return,
            outcome = registry.store.follow(cursor, block) => outcome,
        };
        let result = match outcome {
            Ok(batch) => {
                if let Some((version, keys)) = &batch.keys {
                    registry.auth.replace(*version, keys);
                }
                match registry.index.apply(&batch.events) {
                    Ok(()) => {
                        registry
                            .health
                            .mark_ok(batch.head.max(registry.index.seq()));
                        Ok(())
                    }
                    Err(gap) => Err(StoreError::corrupt(gap)),
                }
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                if failing {
                    tracing::info!("the feed follower reached the store again");
                }
                failing = false;
                backoff = Duration::from_millis(100);
            }
            Err(StoreError::SnapshotRequired { .. }) | Err(StoreError::Corrupt(_)) => {
                // The feed no longer holds what this node missed, or could not be applied:
                // reload the whole active set, then follow from there.
                registry
                    .metrics
                    .follower_errors
                    .with_label_values(&["resync"])
                    .inc();
                tracing::warn!("the feed cannot bring this node up to date; reloading the index");
                if let Err(e) = registry.bootstrap().await {
                    tracing::warn!(error = %e, "reloading the index failed");
                }
                failing = true;
                // A reload is costly: the back-off runs in full, whatever writes wait.
                if sleep_or_stop(&mut shutdown, None, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(e) => {
                registry
                    .metrics
                    .follower_errors
                    .with_label_values(&["store"])
                    .inc();
                if !failing {
                    tracing::warn!(error = %e, "the feed follower cannot read the store; checks are answered from the last index");
                }
                failing = true;
                if sleep_or_stop(&mut shutdown, Some(&registry.health.wake), backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// Sleeps for `delay` unless shutdown or a wake-up comes first; returns whether shutdown did.
async fn sleep_or_stop(
    shutdown: &mut tokio::sync::watch::Receiver<bool>,
    wake: Option<&tokio::sync::Notify>,
    delay: Duration,
) -> bool {
    let woken = async {
        match wake {
            Some(wake) => wake.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = shutdown.changed() => true,
        _ = woken => false,
        _ = tokio::time::sleep(delay) => false,
    }
}
