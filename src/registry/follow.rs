//! The feed follower of a node: keeps the index and the key cache current from the store,
//! backing off while the store fails and reloading the whole active set when the feed cannot
//! bring the node up to date.

use std::sync::Arc;
use std::time::Duration;

use super::Registry;
use crate::store::StoreError;

/// Keeps the index and the key cache current from the store until `shutdown` fires.
pub async fn follow(registry: Arc<Registry>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let block = Duration::from_millis(registry.settings.index.follow_block_ms);
    let mut backoff = Duration::from_millis(100);
    // A mirror's upstream is shared by thousands of mirrors: they back off further, and every
    // pause is jittered so that they do not come back all at once.
    let max_backoff = match &registry.settings.mirror {
        mirror if mirror.enabled() => Duration::from_millis(mirror.max_backoff_ms),
        _ => Duration::from_secs(2),
    };
    let mut failing = false;
    // The event at the index's sequence, as applied here; unknown after a (re)load.
    let mut applied: Option<(u64, uuid::Uuid)> = None;
    loop {
        let seq = registry.index.seq();
        let cursor = crate::store::FollowCursor {
            seq,
            keys_version: registry.auth.version(),
            entry_at_seq: applied.filter(|(at, _)| *at == seq).map(|(_, id)| id),
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
                // Before the index moves, so that a long-poll woken by it finds the events.
                registry.recent.push(&batch.events);
                match registry.index.apply(&batch.events) {
                    Ok(()) => {
                        if let Some(last) = batch.events.last() {
                            applied = Some((last.seq, last.entry_id));
                        }
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
                applied = None;
                if let Err(e) = registry.bootstrap().await {
                    tracing::warn!(error = %e, "reloading the index failed");
                }
                failing = true;
                // A reload is costly: the back-off runs in full, whatever writes wait.
                if sleep_or_stop(&mut shutdown, None, jittered(backoff)).await {
                    return;
                }
                backoff = (backoff * 2).min(max_backoff);
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
                if sleep_or_stop(
                    &mut shutdown,
                    Some(&registry.health.wake),
                    jittered(backoff),
                )
                .await
                {
                    return;
                }
                backoff = (backoff * 2).min(max_backoff);
            }
        }
    }
}

/// Somewhere from half of `delay` to all of it.
fn jittered(delay: Duration) -> Duration {
    delay.mul_f64(rand::random_range(0.5..=1.0))
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
