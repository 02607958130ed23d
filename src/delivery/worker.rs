//! The delivery worker of notices: it claims due webhook attempts, sends them signed and
//! records each result. It runs on every node that delivers; claims and state changes go
//! through the store's atomic notice updates, so nodes never step on each other. (The
//! overdue sweeper is `registry::sweep`.)

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::{Semaphore, mpsc, watch};

use super::Notices;
use crate::notices::model::{Notice, Provider};
use crate::notices::webhook;
use crate::store::notices::{NoticeChange, claim_due};

/// The retry delay after attempt `attempt` (1-based): the base doubled per attempt, capped,
/// then drawn uniformly from its upper half so that many notices failing together (one
/// provider down) do not all come back at the same instant.
pub fn backoff(attempt: u32, base: Duration, max: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let full = base.saturating_mul(1u32 << exponent).min(max);
    let half = full / 2;
    half + full.mul_f64(rand::rng().random_range(0.0..=0.5))
}

/// A finished attempt, waiting to be recorded.
struct Outcome {
    notice: Notice,
    result: Result<(), String>,
    finished: crate::model::Timestamp,
}

/// Claims and sends due attempts until `shutdown` fires. Sends run as their own tasks, at most
/// `notices.concurrency` at once, so a slow webhook holds one slot and never the loop; their
/// outcomes go to a recorder that writes them in batches.
pub async fn run_delivery(notices: Arc<Notices>, mut shutdown: watch::Receiver<bool>) {
    let poll = Duration::from_millis(notices.settings.poll_interval_ms);
    let lease = Duration::from_millis(notices.settings.lease_ms);
    let slots = Arc::new(Semaphore::new(notices.settings.concurrency));
    let (outcomes, recorder_rx) = mpsc::unbounded_channel();
    tokio::spawn(record(Arc::clone(&notices), recorder_rx));
    let mut failing = false;
    // Claims wait for half the slots while sends are in flight.
    let half = (notices.settings.concurrency / 2).clamp(1, notices.settings.batch);
    let mut gathered = false;
    loop {
        // Claim no more than can be sent now: a claimed attempt is leased, and one waiting
        // here would only run its lease down.
        let free = slots.available_permits().min(notices.settings.batch);
        if free == 0 {
            tokio::select! {
                _ = shutdown.changed() => return,
                permit = Arc::clone(&slots).acquire_owned() => drop(permit),
            }
            continue;
        }
        // With most slots busy, let a few more sends end first: every claim is a store
        // write, and during a burst one claim per finished send would be one write per
        // notice, on the store and core that serve the listings.
        if free < half && !gathered {
            gathered = true;
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(CLAIM_GATHER) => {}
            }
            continue;
        }
        gathered = false;
        let now = crate::model::now();
        let claimed =
            match claim_due(notices.store.as_ref(), &notices.node_id, now, lease, free).await {
                Ok(claimed) => {
                    failing = false;
                    claimed
                }
                Err(e) => {
                    if !failing {
                        tracing::warn!(error = %e, "the delivery worker cannot read the outbox");
                    }
                    failing = true;
                    Vec::new()
                }
            };
        if claimed.is_empty() {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = notices.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            continue;
        }
        let providers: Arc<HashMap<String, Provider>> = match notices.store.providers().await {
            Ok(all) => Arc::new(all.into_iter().map(|p| (p.id.clone(), p)).collect()),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read providers; the claimed attempts are retried when their lease ends");
                continue;
            }
        };
        for notice in claimed {
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else {
                return;
            };
            let notices = Arc::clone(&notices);
            let providers = Arc::clone(&providers);
            let outcomes = outcomes.clone();
            tokio::spawn(async move {
                let result = send(&notices, &notice, providers.get(&notice.provider_id)).await;
                drop(slot);
                let finished = crate::model::now();
                let _ = outcomes.send(Outcome {
                    notice,
                    result,
                    finished,
                });
            });
        }
    }
}

/// Records attempt outcomes, as many as have arrived in one store update, while this node
/// still holds each attempt.
async fn record(notices: Arc<Notices>, mut outcomes: mpsc::UnboundedReceiver<Outcome>) {
    let mut batch = Vec::new();
    while gather(
        &mut outcomes,
        &mut batch,
        notices.settings.batch,
        RECORD_GATHER,
    )
    .await
        > 0
    {
        let updates = batch
            .iter()
            .map(|outcome| (outcome.notice.id, change_for(&notices, outcome)))
            .collect();
        let recorded = notices.store.update_notices(updates).await;
        for (index, outcome) in batch.iter().enumerate() {
            let after = match &recorded {
                Ok(all) => Ok(all.get(index).cloned().flatten()),
                Err(e) => Err(e.to_string()),
            };
            observe(&notices, outcome, after);
        }
        batch.clear();
    }
}

/// How long a claim waits for more sends to end when fewer than half the slots are free.
const CLAIM_GATHER: Duration = Duration::from_millis(20);

/// How long the recorder waits after an outcome for others to write with it: the webhook
/// has been sent; only the write of its result waits, and one commit takes many.
const RECORD_GATHER: Duration = Duration::from_millis(100);

/// Receives into `batch` what `receiver` has, waiting for the first item, then for up to
/// `window` for more, until `max`; returns how many are in `batch` (0: the sender is gone).
pub(super) async fn gather<T>(
    receiver: &mut mpsc::UnboundedReceiver<T>,
    batch: &mut Vec<T>,
    max: usize,
    window: Duration,
) -> usize {
    if receiver.recv_many(batch, max).await == 0 {
        return 0;
    }
    let deadline = tokio::time::sleep(window);
    tokio::pin!(deadline);
    while batch.len() < max {
        let room = max - batch.len();
        tokio::select! {
            _ = &mut deadline => break,
            received = receiver.recv_many(batch, room) => {
                if received == 0 {
                    break;
                }
            }
        }
    }
    batch.len()
}

fn change_for(notices: &Notices, outcome: &Outcome) -> NoticeChange {
    let node = notices.node_id.clone();
    let number = outcome.notice.attempts;
    let now = outcome.finished;
    match &outcome.result {
        Ok(()) => Arc::new(move |n: &mut Notice| n.held_by(&node, number) && n.delivered(now)),
        Err(error) => {
            let delay = backoff(
                number,
                Duration::from_millis(notices.settings.backoff_base_ms),
                Duration::from_millis(notices.settings.backoff_max_ms),
            );
            let error = error.clone();
            Arc::new(move |n: &mut Notice| {
                n.held_by(&node, number) && n.failed(now, error.clone(), delay)
            })
        }
    }
}

/// Metrics and logs of one recorded attempt.
fn observe(notices: &Notices, outcome: &Outcome, after: Result<Option<(Notice, bool)>, String>) {
    let notice = &outcome.notice;
    let label = match (&outcome.result, &after) {
        (Ok(()), _) => "delivered",
        (Err(_), Ok(Some((after, true)))) if after.delivery.next_attempt_at.is_none() => "gave_up",
        (Err(_), _) => "failed",
    };
    notices.metrics.deliveries.with_label_values(&[label]).inc();
    match (&outcome.result, after) {
        (Ok(()), Ok(_)) => {
            let age = (outcome.finished - notice.created_at)
                .as_seconds_f64()
                .max(0.0);
            notices.metrics.delivery_seconds.observe(age);
            tracing::debug!(notice_id = %notice.id, attempt = notice.attempts, "notice delivered");
        }
        (Err(error), Ok(_)) => {
            tracing::info!(notice_id = %notice.id, provider_id = %notice.provider_id, attempt = notice.attempts, error = %error, "webhook attempt failed");
        }
        (_, Err(e)) => {
            // The lease runs out and another attempt follows: at-least-once, same webhook-id.
            tracing::warn!(notice_id = %notice.id, error = %e, "cannot record a webhook attempt; it will be retried");
        }
    }
}

async fn send(
    notices: &Notices,
    notice: &Notice,
    provider: Option<&Provider>,
) -> Result<(), String> {
    let provider = provider.ok_or("the provider no longer exists")?;
    let url = provider
        .webhook_url
        .as_deref()
        .ok_or("the provider has no webhook")?;
    let body = (notices.body)(notice);
    post_signed(
        &notices.http,
        url,
        provider.webhook_secret.expose(),
        &notice.id.to_string(),
        body,
    )
    .await
}

/// Posts `body` to `url` signed with `secret` under `webhook-id` `id` (Standard Webhooks);
/// any 2xx answer is success.
pub(crate) async fn post_signed(
    http: &reqwest::Client,
    url: &str,
    secret: &str,
    id: &str,
    body: Vec<u8>,
) -> Result<(), String> {
    let timestamp = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = webhook::sign(secret, id, timestamp, &body).map_err(|e| e.to_string())?;
    let response = http
        .post(url)
        .header("content-type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {}", error_chain(&e)))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("the webhook answered {}", response.status()))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let base = Duration::from_millis(100);
        let max = Duration::from_secs(10);
        for attempt in 1..=20 {
            let full = (base * 2u32.pow((attempt - 1).min(20))).min(max);
            let delay = backoff(attempt, base, max);
            assert!(
                delay >= full / 2 && delay <= full,
                "attempt {attempt}: {delay:?}"
            );
        }
        assert!(backoff(u32::MAX, base, max) <= max);
    }
}
