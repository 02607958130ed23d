//! Lifting an entry, and four-eyes on lifts. A lift that takes effect is one atomic write of
//! the lift, its event and the `restore` notices (`NoticeStore::lift_with_notices`); the
//! answer waits until this node's index shows it. With `entries.require_lift_approval`, a
//! lift asked for through the API is first only a request kept on the active entry
//! (`Store::request_lift`), until another key of the requester's side approves it (written
//! then as a direct lift is, ending the request in the same write) or rejects it. Lifts the
//! registry makes itself (a suspension's expiry, a case's closure) call `write_lift` and never
//! wait.

use super::entries::{Review, ReviewAsked, Written, check_province, check_reviewer};
use super::{Registry, RegistryError, RegistryResult};
use crate::auth::Principal;
use crate::domain::{Decision, DomainName};
use crate::model::{Entry, EntryStatus, LiftRequest, PendingLift, ReviewedLift};
use crate::notices::model::{Notice, Restores};
use crate::store::{Refused, StoreError};

/// What a lift through the API did.
#[derive(Debug)]
pub enum Lifted {
    /// The entry was lifted; the `restore` notices written with it.
    Done(Entry, Vec<Notice>),
    /// The lift waits for a second key's approval (`Entry::pending_lift`); nothing else
    /// changed.
    Requested(Entry),
}

impl Registry {
    /// Lifts the active entry of `domain` under `document`, telling each provider it had
    /// ordered to stop to restore the site; with `entries.require_lift_approval`, records the
    /// lift as waiting for a second key instead. A provincial key lifts only its province's
    /// entries.
    pub async fn lift(
        &self,
        by: &Principal,
        domain: &DomainName,
        document: Decision,
        reason: String,
    ) -> RegistryResult<Lifted> {
        let current = self
            .history(domain)
            .await?
            .into_iter()
            .rev()
            .find(|e| matches!(e.status, EntryStatus::Active | EntryStatus::Suspended))
            .ok_or_else(|| RegistryError::NotListed("this domain has no active entry".into()))?;
        check_province(by, &current)?;
        let now = crate::model::now();
        let request = PendingLift {
            reason,
            document,
            requested_by: by.actor(),
            requested_at: now,
        };
        if self.settings.entries.require_lift_approval {
            let entry = self.store.request_lift(&current, request).await?;
            return Ok(Lifted::Requested(self.marked(entry).await));
        }
        let lift = request.into_lift(&current, now, None);
        let (entry, notices) = self.write_lift(lift).await?;
        Ok(Lifted::Done(self.marked(entry).await, notices))
    }

    /// Approves or rejects the lift of `domain` that waits for a second key (`wanted`, when
    /// given, must be the entry's id). The reviewer is another key of the requester's side,
    /// within its province and the entry's. An approval lifts the entry as a direct lift
    /// does, with the requester's document and reason, and keeps the approval on the lift; a
    /// rejection leaves the entry listed and keeps the rejected request on it.
    pub(super) async fn review_lift(
        &self,
        by: &Principal,
        asked: ReviewAsked,
    ) -> RegistryResult<Written> {
        let domain = &asked.domain;
        let not_pending =
            || RegistryError::NotPending(format!("{domain} has no lift waiting for approval"));
        let entry = self
            .history(domain)
            .await?
            .into_iter()
            .rev()
            .find(|e| e.pending_lift.is_some() && asked.wanted.is_none_or(|id| id == e.id))
            .ok_or_else(not_pending)?;
        let request = entry.pending_lift.clone().ok_or_else(not_pending)?;
        check_reviewer(by, &request.requested_by, &entry, "lift")?;
        let reviewed = ReviewedLift {
            review: asked
                .decision
                .by(by, asked.reason.clone(), request.requested_at),
            request,
        };
        let (entry, notices) = match asked.decision {
            Review::Approve => {
                let at = reviewed.review.at;
                let request = reviewed
                    .request
                    .clone()
                    .into_lift(&entry, at, Some(reviewed));
                // The entry lifted or replaced meanwhile: its lift no longer waits.
                self.write_lift(request).await.map_err(|e| match e {
                    StoreError::Refused(Refused::NotListed) => not_pending(),
                    e => e.into(),
                })?
            }
            Review::Reject => (self.store.reject_lift(&entry, reviewed).await?, Vec::new()),
        };
        Ok((self.marked(entry).await, notices))
    }

    /// Writes a lift (or the end of a suspension) with its `restore` notices in one atomic
    /// write and waits for this node's index.
    pub(crate) async fn write_lift(
        &self,
        request: LiftRequest,
    ) -> crate::store::StoreResult<(Entry, Vec<Notice>)> {
        let restores = Restores {
            plan: self.notices.plan(),
            providers: self.store.providers().await?,
        };
        let (entry, notices) = self.store.lift_with_notices(request, restores).await?;
        Ok(self.settled(entry, notices).await)
    }
}
