//! Referrals between the two sides (抄告/移交): sending one, and the receiver's steps. Like a
//! case, a referral changes only by a compare-and-set on its version.

use uuid::Uuid;

use super::cases::{TRIES, org_of};
use super::{Registry, RegistryError, RegistryResult};
use crate::auth::Principal;
use crate::cases::Org;
use crate::cases::StepDocument;
use crate::cases::referral::{self, NewReferral, Referral};
use crate::cases::workflow::{Acting, CaseError};
use crate::store::{Refused, StoreError};

/// The receiving organisation's step on a referral.
#[derive(Debug, Clone)]
pub enum ReferralStep {
    Accept,
    Return {
        reason: String,
    },
    Answer {
        result: String,
        documents: Vec<StepDocument>,
    },
}

impl Registry {
    /// Sends a referral from the organisation `by` speaks for.
    pub async fn refer(&self, by: &Principal, new: NewReferral) -> RegistryResult<Referral> {
        let org = org_of(by)?;
        let referral = referral::send(new, org, &by.actor(), crate::model::now())?;
        self.store.put_referral(&referral, 0).await?;
        Ok(self.told(self.marked(referral).await))
    }

    /// The referrals `by` may read: those its organisation sent or received (national
    /// organisations and auditors read all).
    pub async fn referrals(&self, by: &Principal) -> RegistryResult<Vec<Referral>> {
        let mut referrals: Vec<Referral> = self
            .store
            .referrals()
            .await?
            .into_iter()
            .filter(|r| readable(by, r).is_ok())
            .collect();
        self.mark_uploaded(&mut referrals).await;
        Ok(referrals)
    }

    /// One referral, if `by` may read it.
    pub async fn referral(&self, by: &Principal, id: Uuid) -> RegistryResult<Referral> {
        let referral = self
            .store
            .referral(id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("no referral {id}")))?;
        readable(by, &referral)?;
        Ok(self.marked(referral).await)
    }

    /// Takes the receiver's `step` on referral `id`, reading again when it changed meanwhile.
    pub async fn referral_step(
        &self,
        by: &Principal,
        id: Uuid,
        step: ReferralStep,
    ) -> RegistryResult<Referral> {
        let who = Acting {
            org: org_of(by)?,
            by: by.actor(),
            now: crate::model::now(),
        };
        for _ in 0..TRIES {
            let mut referral = self
                .store
                .referral(id)
                .await?
                .ok_or_else(|| RegistryError::NotFound(format!("no referral {id}")))?;
            let expect = referral.version;
            let taken: Result<(), CaseError> = match &step {
                ReferralStep::Accept => referral::accept(&mut referral, &who),
                ReferralStep::Return { reason } => {
                    referral::give_back(&mut referral, &who, reason.clone())
                }
                ReferralStep::Answer { result, documents } => {
                    referral::answer(&mut referral, &who, result.clone(), documents.clone())
                }
            };
            taken?;
            match self.store.put_referral(&referral, expect).await {
                Ok(()) => return Ok(self.told(self.marked(referral).await)),
                Err(StoreError::Refused(Refused::CaseChanged)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(Refused::CaseChanged.into())
    }
}

fn readable(by: &Principal, referral: &Referral) -> RegistryResult<()> {
    match Org::of(by.role, by.province) {
        Some(org) if org.province().is_some() && org != referral.from && org != referral.to => {
            Err(RegistryError::OutOfProvince(format!(
                "referral {} is between {} and {}",
                referral.id, referral.from, referral.to
            )))
        }
        _ => Ok(()),
    }
}
