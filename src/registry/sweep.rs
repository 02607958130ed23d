//! The sweepers: ending emergency suspensions whose time ran out, and marking notices
//! overdue at their deadline. Several nodes may sweep at once: each change is a
//! compare-and-set (a case's version, a notice's), so exactly one node's write succeeds.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use uuid::Uuid;

use super::{Registry, RegistryResult};
use crate::cases::workflow;
use crate::model::Actor;
use crate::notices::model::Notice;
use crate::store::notices::NoticeChange;
use crate::store::{Refused, StoreError, StoreResult};

/// Runs `pass` every `interval` (first after one interval) until `shutdown`.
async fn every<F, Fut>(interval: Duration, mut shutdown: watch::Receiver<bool>, what: &str, pass: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<usize, String>>,
{
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = pass().await {
            tracing::warn!(error = %e, "the {what} sweep failed; trying again later");
        }
    }
}

/// Ends suspensions whose time ran out, every `cases.expiry_sweep_ms`, until `shutdown`.
pub async fn run_expiry_sweeper(registry: Arc<Registry>, shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(registry.settings.cases.expiry_sweep_ms);
    every(interval, shutdown, "suspension expiry", || async {
        registry.expire_due().await.map_err(|e| e.to_string())
    })
    .await;
}

/// Deletes ended console sessions (idle, or their key revoked), every minute, until
/// `shutdown`.
pub async fn run_session_sweeper(registry: Arc<Registry>, shutdown: watch::Receiver<bool>) {
    every(Duration::from_secs(60), shutdown, "session", || async {
        registry.prune_sessions().await.map_err(|e| e.to_string())
    })
    .await;
}

/// Marks notices overdue and refreshes the notice gauges, every
/// `notices.sweep_interval_ms`, until `shutdown`.
pub async fn run_overdue_sweeper(registry: Arc<Registry>, shutdown: watch::Receiver<bool>) {
    // The gauges are right from the start, not one interval later.
    if let Err(e) = registry.mark_overdue().await {
        tracing::warn!(error = %e, "the overdue sweep failed; it runs again shortly");
    }
    let interval = Duration::from_millis(registry.notices.settings.sweep_interval_ms);
    every(interval, shutdown, "overdue", || async {
        registry.mark_overdue().await.map_err(|e| e.to_string())
    })
    .await;
}

impl Registry {
    /// One expiry sweep: ends every suspension in force whose time has come; answers how
    /// many this node ended.
    pub async fn expire_due(&self) -> RegistryResult<usize> {
        let system = Actor {
            key_id: "siteban".into(),
            name: "siteban expiry".into(),
            role: crate::domain::Role::Admin,
            province: None,
        };
        let now = crate::model::now();
        let due: Vec<Uuid> = self
            .store
            .cases()
            .await?
            .into_iter()
            .filter(|c| {
                c.suspension
                    .as_ref()
                    .is_some_and(|s| s.in_force() && s.expires_at.is_some_and(|at| at <= now))
            })
            .map(|c| c.id)
            .collect();
        let mut expired = 0;
        for id in due {
            let mut case = self.load_case(id).await?;
            let expect = case.version;
            if workflow::expire(&mut case, now).is_err() {
                continue;
            }
            match self
                .end_suspension(&case, expect, &system, "the suspension expired")
                .await
            {
                Ok(()) => {
                    expired += 1;
                    tracing::info!(case_id = %id, domain = %case.domain, "suspension expired");
                }
                // Another node expired it, or the case moved on: nothing to do here.
                Err(StoreError::Refused(Refused::CaseChanged | Refused::NotListed)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(expired)
    }

    /// One overdue sweep: every notice whose deadline has passed unacknowledged becomes
    /// overdue; then the notice gauges are brought up to date. Answers how many this node
    /// marked.
    pub async fn mark_overdue(&self) -> StoreResult<usize> {
        let notices = &self.notices;
        let mut marked = 0;
        loop {
            let now = crate::model::now();
            let due = self.store.deadlines_due(now, 1000).await?;
            let change: NoticeChange = Arc::new(move |n: &mut Notice| n.mark_overdue(now));
            let updates = due.iter().map(|id| (*id, Arc::clone(&change))).collect();
            let mut changed_any = false;
            for (notice, changed) in self
                .store
                .update_notices(updates)
                .await?
                .into_iter()
                .flatten()
            {
                if changed {
                    marked += 1;
                    changed_any = true;
                    notices.metrics.overdue_marked.inc();
                    tracing::info!(notice_id = %notice.id, provider_id = %notice.provider_id, action = notice.action.as_str(), "notice overdue");
                }
            }
            if due.len() < 1000 || !changed_any {
                break;
            }
        }
        notices.refresh_gauges().await?;
        Ok(marked)
    }
}
