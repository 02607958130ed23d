//! The locate worker: it claims due locate jobs with a lease, looks each site up (`locate`),
//! and writes what it found with the stop notices to the providers found that were not told
//! before, in one atomic write (`NoticeStore::record_location`). A failed attempt is retried
//! with back-off and jitter; a located site is located again every `locate.refresh_hours`.
//! It runs on every node that delivers notices; claims go through the store's atomic job
//! updates, so a job is worked on by one node at a time and taken over when a node dies.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Semaphore, mpsc, watch};

use super::Notices;
use super::worker::{backoff, gather};
use crate::model::{Entry, LocateJob, Location, LocationChange, LocationStatus, Timestamp};
use crate::notices::model::{LocatedProvider, Notice, NoticeBasis, Provider};
use crate::store::StoreResult;
use crate::store::notices::{LocateOutcome, Recorded, claim_locate_jobs};

/// How long the worker waits after being woken by a new job before claiming, so that the jobs
/// of listings arriving together are claimed together.
const GATHER: Duration = Duration::from_millis(50);

/// The most jobs claimed at once.
const MAX_BATCH: usize = 64;

/// How many jobs one claim takes: at least `concurrency`, and no more than the quota lets
/// through in half a lease, up to `MAX_BATCH`.
fn claim_batch(settings: &crate::settings::LocateSettings) -> usize {
    let half_lease = settings.lease_ms as f64 / 2000.0;
    let sites = half_lease * f64::from(settings.max_queries_per_second);
    (sites as usize).clamp(settings.concurrency.min(MAX_BATCH), MAX_BATCH)
}

/// How long the recorder waits after a finished attempt for others to write with it (every
/// write is a durable commit on the store and core that serve the listings), and the most it
/// writes at once.
const RECORD_GATHER: Duration = Duration::from_millis(100);
const RECORD_MAX: usize = 256;

/// The most changes of location an entry keeps; older ones are dropped first.
const HISTORY_KEPT: usize = 100;

/// Claims and works due locate jobs until `shutdown` fires, at most `locate.concurrency` at
/// once; the locator paces the lookups themselves (`locate.max_queries_per_second`).
pub async fn run_locating(notices: Arc<Notices>, mut shutdown: watch::Receiver<bool>) {
    let poll = Duration::from_millis(notices.locate.poll_interval_ms);
    let lease = Duration::from_millis(notices.locate.lease_ms);
    let slots = Arc::new(Semaphore::new(notices.locate.concurrency));
    let batch = claim_batch(&notices.locate);
    let (outcomes, recorder_rx) = mpsc::unbounded_channel();
    tokio::spawn(record(Arc::clone(&notices), recorder_rx));
    let mut failing = false;
    loop {
        // Claim only when a lookup can start, and as many as the quota gets through in half a
        // lease: a claimed job waits here for a slot while its lease runs.
        if slots.available_permits() == 0 {
            tokio::select! {
                _ = shutdown.changed() => return,
                permit = Arc::clone(&slots).acquire_owned() => drop(permit),
            }
            continue;
        }
        let now = crate::model::now();
        let claimed =
            match claim_locate_jobs(notices.store.as_ref(), &notices.node_id, now, lease, batch)
                .await
            {
                Ok(claimed) => {
                    failing = false;
                    claimed
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "the locate worker cannot read its jobs");
                    }
                    failing = true;
                    Vec::new()
                }
            };
        if claimed.is_empty() {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = notices.wake_locate.notified() => {
                    // Let the jobs of a burst of listings gather, so that one claim (one
                    // write) takes many of them instead of one write per listing.
                    tokio::time::sleep(GATHER).await;
                }
                _ = tokio::time::sleep(poll) => {}
            }
            continue;
        }
        for job in claimed {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let notices = Arc::clone(&notices);
            let outcomes = outcomes.clone();
            tokio::spawn(async move {
                let result = attempt(&notices, job.clone()).await;
                drop(slot);
                match result {
                    Ok(Some(outcome)) => {
                        let _ = outcomes.send(outcome);
                    }
                    Ok(None) => notices
                        .metrics
                        .locate_attempts
                        .with_label_values(&["ended"])
                        .inc(),
                    Err(e) => {
                        // The lease runs out and another attempt follows.
                        tracing::warn!(entry_id = %job.entry_id, error = %e, "a locate attempt failed in the store; it will be retried");
                        notices
                            .metrics
                            .locate_attempts
                            .with_label_values(&["lost"])
                            .inc();
                    }
                }
            });
        }
    }
}

/// Records finished attempts, as many as have arrived in one store write, while this node
/// still holds each job; then hands the notices written to delivery.
async fn record(
    notices: Arc<Notices>,
    mut outcomes: mpsc::UnboundedReceiver<(LocateOutcome, &'static str)>,
) {
    let mut batch = Vec::new();
    while gather(&mut outcomes, &mut batch, RECORD_MAX, RECORD_GATHER).await > 0 {
        let written: Vec<Vec<Notice>> = batch.iter().map(|(o, _)| o.notices.clone()).collect();
        let labels: Vec<&'static str> = batch.iter().map(|(_, label)| *label).collect();
        let recorded = notices
            .store
            .record_locations(batch.drain(..).map(|(o, _)| o).collect())
            .await;
        match recorded {
            Ok(recorded) => {
                for ((recorded, written), label) in recorded.iter().zip(&written).zip(&labels) {
                    let label = match recorded {
                        Recorded::Written(_) => {
                            notices.written(written);
                            *label
                        }
                        Recorded::Lost => "lost",
                        Recorded::Ended => "ended",
                    };
                    notices
                        .metrics
                        .locate_attempts
                        .with_label_values(&[label])
                        .inc();
                }
            }
            Err(e) => {
                // The leases run out and other attempts follow.
                tracing::warn!(error = %e, attempts = labels.len(), "cannot record locate attempts; they will be retried");
                notices
                    .metrics
                    .locate_attempts
                    .with_label_values(&["lost"])
                    .inc_by(labels.len() as u64);
            }
        }
    }
}

/// Locates the site of `job`, which this node holds: the outcome to record, with the metric
/// label of its result; `None` when the entry is no longer active (its job is removed here).
async fn attempt(
    notices: &Notices,
    job: LocateJob,
) -> StoreResult<Option<(LocateOutcome, &'static str)>> {
    let store = notices.store.as_ref();
    let entry = store
        .history(&job.domain)
        .await?
        .into_iter()
        .find(|e| e.id == job.entry_id);
    let all: Vec<Provider> = store
        .providers()
        .await?
        .into_iter()
        .filter(|p| job.kinds.contains(&p.kind))
        .collect();
    let entry = match entry {
        Some(entry) if crate::store::notices::still_located(&entry) => entry,
        other => {
            // Lifted, or gone: the store removes the job and writes nothing else. Should the
            // entry be active after all, what it holds is written back unchanged.
            let (location, providers) =
                other.map_or((None, Vec::new()), |e| (e.location, e.providers));
            let outcome = LocateOutcome {
                node: notices.node_id.clone(),
                attempt: job.attempts,
                job: job.clone(),
                location: location.unwrap_or(Location::pending(crate::model::now())),
                providers,
                notices: Vec::new(),
            };
            store.record_location(outcome).await?;
            return Ok(None);
        }
    };
    let found = notices.locate(&job.domain, &all).await;
    let now = crate::model::now();
    let (outcome, label) = outcome_of(notices, &entry, job, found, &all, now);
    if let Some(error) = &outcome.location.error {
        tracing::info!(domain = %entry.domain, attempts = outcome.location.attempts, error = %error, "locating a listed site failed; it will be retried");
    }
    Ok(Some((outcome, label)))
}

/// What an attempt that found `found` writes: the entry's location (what was found before
/// kept where this attempt found nothing), the job due again, and a stop notice to each
/// provider found that the entry has not told yet.
fn outcome_of(
    notices: &Notices,
    entry: &Entry,
    mut job: LocateJob,
    found: Location,
    providers: &[Provider],
    now: Timestamp,
) -> (LocateOutcome, &'static str) {
    let previous = entry.location.clone().unwrap_or(Location::pending(now));
    let failed = found.error.is_some();
    let attempt = job.attempts;
    let next = if failed {
        now + backoff(
            job.failures + 1,
            Duration::from_millis(notices.locate.backoff_base_ms),
            Duration::from_millis(notices.locate.backoff_max_ms),
        )
    } else {
        now + refresh_delay(notices.locate.refresh_hours)
    };
    job.finish(failed, next);
    let mut location = merge(&previous, found, providers);
    location.attempts = job.failures;
    location.next_attempt_at = Some(next);
    let mut told = entry.providers.clone();
    let basis = NoticeBasis {
        decision: entry.decision.clone(),
        category: entry.category,
        reason: entry.reason.clone(),
    };
    let plan = notices.plan();
    let mut new_notices: Vec<Notice> = Vec::new();
    for located in &location.providers {
        if told.contains(&located.id) {
            continue;
        }
        let Some(provider) = providers.iter().find(|p| p.id == located.id) else {
            continue;
        };
        told.push(provider.id.clone());
        new_notices.push(plan.notice(
            (&entry.id, &entry.domain, entry.scope, &basis),
            provider,
            provider.kind.stop_action(),
            now,
        ));
    }
    let label = if failed { "failed" } else { "located" };
    let outcome = LocateOutcome {
        node: notices.node_id.clone(),
        attempt,
        job,
        location,
        providers: told,
        notices: new_notices,
    };
    (outcome, label)
}

/// The location after an attempt that found `found`, given the one before. A failed attempt
/// keeps what was found before where it found nothing; a change of addresses or name servers
/// against an earlier attempt's is kept in the history.
fn merge(previous: &Location, found: Location, providers: &[Provider]) -> Location {
    let mut location = found;
    if location.status == LocationStatus::Failed {
        if location.addresses.is_empty() {
            location.addresses = previous.addresses.clone();
            location.cnames = previous.cnames.clone();
        }
        if location.nameservers.is_empty() {
            location.zone = previous.zone.clone();
            location.nameservers = previous.nameservers.clone();
        }
        location.providers = providers
            .iter()
            .filter_map(|p| {
                p.serves(&location.addresses, &location.nameservers)
                    .map(|why| LocatedProvider {
                        id: p.id.clone(),
                        name: p.name.clone(),
                        kind: p.kind,
                        matched_by: why,
                    })
            })
            .collect();
    }
    location.history = previous.history.clone();
    let was_found = !previous.addresses.is_empty() || !previous.nameservers.is_empty();
    let moved =
        previous.addresses != location.addresses || previous.nameservers != location.nameservers;
    if was_found && moved {
        location.history.push(LocationChange {
            at: location.located_at.unwrap_or_else(crate::model::now),
            from_addresses: previous.addresses.clone(),
            from_nameservers: previous.nameservers.clone(),
            to_addresses: location.addresses.clone(),
            to_nameservers: location.nameservers.clone(),
        });
        let excess = location.history.len().saturating_sub(HISTORY_KEPT);
        location.history.drain(..excess);
    }
    location
}

/// The delay until the next refresh: `hours`, less up to a tenth drawn at random, so that
/// entries listed together (an import) spread over the period instead of coming due at once.
fn refresh_delay(hours: u64) -> Duration {
    let full = Duration::from_secs(hours.saturating_mul(3600));
    full.mul_f64(1.0 - rand::rng().random_range(0.0..0.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProviderKind;

    fn location(addresses: &[&str], error: Option<&str>) -> Location {
        let mut l = Location::pending(crate::model::now());
        l.status = if error.is_some() {
            LocationStatus::Failed
        } else {
            LocationStatus::Located
        };
        l.addresses = addresses.iter().map(|a| a.parse().unwrap()).collect();
        l.error = error.map(String::from);
        l.located_at = Some(crate::model::now());
        l
    }

    fn access(id: &str, range: &str) -> Provider {
        serde_json::from_value(serde_json::json!({
            "id": id, "name": id, "kind": "access", "ranges": [range],
            "webhook_secret": "", "created_at": "2026-01-01T00:00:00Z",
            "updated_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn a_failed_attempt_keeps_what_was_found_and_maps_it() {
        let providers = [access("p_a", "192.0.2.0/24")];
        let before = location(&["192.0.2.1"], None);
        let after = merge(&before, location(&[], Some("timed out")), &providers);
        assert_eq!(after.status, LocationStatus::Failed);
        assert_eq!(after.addresses, before.addresses);
        assert_eq!(after.providers.len(), 1);
        assert_eq!(after.providers[0].kind, ProviderKind::Access);
        assert!(after.history.is_empty());
    }

    #[test]
    fn a_move_is_kept_in_the_history() {
        let before = location(&["192.0.2.1"], None);
        let after = merge(&before, location(&["198.51.100.1"], None), &[]);
        assert_eq!(after.history.len(), 1);
        assert_eq!(after.history[0].from_addresses, before.addresses);
        assert_eq!(after.history[0].to_addresses, after.addresses);
        let again = merge(&after, location(&["198.51.100.1"], None), &[]);
        assert_eq!(again.history.len(), 1);
        // The first location is not a move.
        let first = merge(
            &Location::pending(crate::model::now()),
            location(&["192.0.2.1"], None),
            &[],
        );
        assert!(first.history.is_empty());
    }

    #[test]
    fn refreshes_spread_over_the_last_tenth_of_the_period() {
        for _ in 0..100 {
            let delay = refresh_delay(24);
            assert!(delay <= Duration::from_secs(24 * 3600));
            assert!(delay > Duration::from_secs(24 * 3600).mul_f64(0.9));
        }
    }
}
