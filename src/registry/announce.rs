//! Telling organisations what waits for them. An organisation registers a webhook of its own
//! (`/v1/inbox/webhook`), and every node that delivers notices announces each new inbox item
//! through it, signed as the providers' notices are. The items are worked out from the cases
//! and referrals themselves at every pass, so nothing is lost when a node dies between a step
//! and its announcement: the next pass finds the item still unannounced. Each attempt is
//! claimed with a compare-and-set on the announcement's document, so one node sends it; a
//! failed attempt comes back after a back-off. Delivery is at least once, under one
//! `webhook-id` (the announcement's id) across attempts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use tokio::sync::watch;
use uuid::Uuid;

use super::cases::TRIES;
use super::inbox::{InboxItem, waiting};
use super::{Registry, RegistryError, RegistryResult, org_of};
use crate::auth::Principal;
use crate::cases::Org;
use crate::cases::subscription::{Announced, Announcement, OrgWebhook};
use crate::delivery::worker::{backoff, post_signed};
use crate::model::{Secret, Timestamp};
use crate::notices::webhook;
use crate::store::{Refused, StoreError, StoreResult};

/// What an organisation asks of its webhook.
#[derive(Debug, Clone)]
pub struct WebhookChange {
    /// Where announcements go (already checked as an http or https URL).
    pub url: String,
    /// Issue a new secret (a first registration always gets one).
    pub rotate_secret: bool,
}

/// What a node may do with an announcement now.
enum Claim {
    /// Its attempt is this node's.
    Taken(Announcement),
    /// It was delivered.
    Sent,
    /// Another node holds it, or it waits for its next attempt.
    NotNow,
}

/// The body of one announcement.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    org: Org,
    item: &'a InboxItem,
}

impl Registry {
    /// The webhook of the organisation `by` speaks for, if it has one.
    pub async fn org_webhook(&self, by: &Principal) -> RegistryResult<(Org, OrgWebhook)> {
        let org = org_of(by)?;
        match self.store.org_webhook(OrgWebhook::id_of(org)).await? {
            Some(hook) if hook.url.is_some() => Ok((org, hook)),
            _ => Err(no_webhook(org)),
        }
    }

    /// Registers or changes the webhook of the organisation `by` speaks for. Answers the
    /// webhook and whether it is new; its secret is to be shown when it is new or rotated.
    pub async fn put_org_webhook(
        &self,
        by: &Principal,
        change: WebhookChange,
    ) -> RegistryResult<(OrgWebhook, bool)> {
        let org = org_of(by)?;
        for _ in 0..TRIES {
            let stored = self.store.org_webhook(OrgWebhook::id_of(org)).await?;
            let expect = stored.as_ref().map_or(0, |h| h.version);
            let now = crate::model::now();
            let created = stored.as_ref().is_none_or(|h| h.url.is_none());
            let hook = match stored {
                Some(hook) => OrgWebhook {
                    url: Some(change.url.clone()),
                    secret: if change.rotate_secret || created {
                        Secret::new(webhook::new_secret())
                    } else {
                        hook.secret
                    },
                    version: expect + 1,
                    updated_at: now,
                    ..hook
                },
                None => OrgWebhook {
                    org,
                    url: Some(change.url.clone()),
                    secret: Secret::new(webhook::new_secret()),
                    version: 1,
                    created_at: now,
                    updated_at: now,
                },
            };
            match self.store.put_org_webhook(&hook, expect).await {
                Ok(()) => {
                    tracing::info!(%org, by = %by.key_id, "inbox webhook set");
                    return Ok(self.told((hook, created)));
                }
                Err(StoreError::Refused(Refused::CaseChanged)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Refused::CaseChanged.into())
    }

    /// Removes the webhook of the organisation `by` speaks for.
    pub async fn delete_org_webhook(&self, by: &Principal) -> RegistryResult<()> {
        for _ in 0..TRIES {
            let (org, hook) = self.org_webhook(by).await?;
            let removed = OrgWebhook {
                url: None,
                version: hook.version + 1,
                updated_at: crate::model::now(),
                ..hook.clone()
            };
            match self.store.put_org_webhook(&removed, hook.version).await {
                Ok(()) => {
                    tracing::info!(%org, by = %by.key_id, "inbox webhook removed");
                    return Ok(());
                }
                Err(StoreError::Refused(Refused::CaseChanged)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Refused::CaseChanged.into())
    }

    /// Wakes this node's announcer, as a case or referral changed here; answers `changed`.
    pub(super) fn told<T>(&self, changed: T) -> T {
        self.inbox_wake.notify_one();
        changed
    }

    /// One pass: announces every inbox item of every organisation with a webhook that was
    /// not announced yet and is due; answers how many attempts this node made.
    /// `sent` holds the announcements this node knows were sent (a final state), so that an
    /// item that waits for days is not read from the store at every pass; it keeps only those
    /// still waiting.
    async fn announce_due(&self, sent: &mut HashSet<Uuid>) -> StoreResult<usize> {
        let hooks: Vec<OrgWebhook> = self
            .store
            .org_webhooks()
            .await?
            .into_iter()
            .filter(|h| h.url.is_some())
            .collect();
        if hooks.is_empty() {
            sent.clear();
            return Ok(0);
        }
        let cases = self.store.cases().await?;
        let referrals = self.store.referrals().await?;
        let now = crate::model::now();
        let mut claimed = Vec::new();
        let mut current = HashSet::new();
        for hook in &hooks {
            for item in waiting(hook.org, &cases, &referrals, now) {
                let id =
                    Announcement::id_for(hook.org, item.kind, item.id, item.action, item.since);
                current.insert(id);
                if sent.contains(&id) {
                    continue;
                }
                match self.claim(id, hook.org, now).await? {
                    Claim::Taken(claim) => claimed.push((hook.clone(), item, claim)),
                    Claim::Sent => {
                        sent.insert(id);
                    }
                    Claim::NotNow => {}
                }
            }
        }
        let attempts = claimed.len();
        let delivered: Vec<Option<Uuid>> = futures_util::stream::iter(claimed)
            .map(|(hook, item, claim)| async move { self.attempt(&hook, item, claim).await })
            .buffer_unordered(self.notices.settings.concurrency)
            .collect()
            .await;
        sent.extend(delivered.into_iter().flatten());
        sent.retain(|id| current.contains(id));
        Ok(attempts)
    }

    /// Takes announcement `id` for one attempt by this node, unless it was sent, is held by
    /// another node, or waits for its next attempt.
    async fn claim(&self, id: Uuid, org: Org, now: Timestamp) -> StoreResult<Claim> {
        let stored = self.store.announcement(id).await?;
        match &stored {
            Some(a) if a.state == Announced::Sent => return Ok(Claim::Sent),
            Some(a) if !a.is_takeable(now) => return Ok(Claim::NotNow),
            _ => {}
        }
        let expect = stored.as_ref().map_or(0, |a| a.version);
        let lease = Duration::from_millis(self.notices.settings.lease_ms);
        let claim = Announcement {
            id,
            org,
            state: Announced::Due,
            attempts: stored.as_ref().map_or(0, |a| a.attempts) + 1,
            until: now + lease,
            last_error: stored.and_then(|a| a.last_error),
            version: expect + 1,
        };
        match self.store.put_announcement(&claim, expect).await {
            Ok(()) => Ok(Claim::Taken(claim)),
            // Another node took it first.
            Err(StoreError::Refused(Refused::CaseChanged)) => Ok(Claim::NotNow),
            Err(e) => Err(e),
        }
    }

    /// Sends one claimed announcement and records how it went; answers its id when it was
    /// delivered and recorded as sent.
    async fn attempt(
        &self,
        hook: &OrgWebhook,
        item: InboxItem,
        claim: Announcement,
    ) -> Option<Uuid> {
        let result = self.send(hook, &item, &claim).await;
        let settings = &self.notices.settings;
        let now = crate::model::now();
        let mut after = Announcement {
            version: claim.version + 1,
            ..claim.clone()
        };
        let label = match &result {
            Ok(()) => {
                after.state = Announced::Sent;
                after.until = now;
                after.last_error = None;
                "delivered"
            }
            Err(error) => {
                let base = Duration::from_millis(settings.backoff_base_ms);
                let max = Duration::from_millis(settings.backoff_max_ms);
                after.until = now + backoff(claim.attempts, base, max);
                after.last_error = Some(error.clone());
                tracing::info!(org = %hook.org, announcement = %claim.id, attempt = claim.attempts, error = %error, "inbox webhook attempt failed");
                "failed"
            }
        };
        self.metrics
            .inbox_announcements
            .with_label_values(&[label])
            .inc();
        match self.store.put_announcement(&after, claim.version).await {
            Ok(()) => (after.state == Announced::Sent).then_some(claim.id),
            Err(e) => {
                // The lease runs out and another attempt follows, under the same webhook-id.
                tracing::warn!(announcement = %claim.id, error = %e, "cannot record an inbox webhook attempt; it will be repeated");
                None
            }
        }
    }

    async fn send(
        &self,
        hook: &OrgWebhook,
        item: &InboxItem,
        claim: &Announcement,
    ) -> Result<(), String> {
        let url = hook.url.as_deref().ok_or("the webhook was removed")?;
        let body = serde_json::to_vec(&Body {
            kind: "inbox.item",
            org: hook.org,
            item,
        })
        .map_err(|e| e.to_string())?;
        let id = claim.id.to_string();
        post_signed(&self.notices.http, url, hook.secret.expose(), &id, body).await
    }
}

fn no_webhook(org: Org) -> RegistryError {
    RegistryError::NotFound(format!("{org} has no inbox webhook"))
}

/// Announces due inbox items whenever a case or referral changes on this node, and every
/// `notices.sweep_interval_ms` for changes made elsewhere and retries, until `shutdown`.
pub async fn run_announcer(registry: Arc<Registry>, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(registry.notices.settings.sweep_interval_ms);
    let mut failing = false;
    let mut sent = HashSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            _ = registry.inbox_wake.notified() => {}
            _ = tokio::time::sleep(interval) => {}
        }
        match registry.announce_due(&mut sent).await {
            Ok(_) => failing = false,
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "the inbox announcer cannot read the store; trying again shortly");
                }
                failing = true;
            }
        }
    }
}
