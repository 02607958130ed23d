//! The referral workflow's cases: opening one, each step of the regulation's route, and the
//! registry write a step implies. A step reads the case, applies the `cases::workflow` rule for
//! the caller's organisation and writes it over the version read; when another organisation
//! changed the case meanwhile, the step is taken again on the new version. A step that changes
//! the registry (a suspension, a listing at closure, the end of a suspension) carries the case
//! on the registry write, so that the case and its entry never disagree.

use crate::model::Timestamp;
use uuid::Uuid;

use super::{Registry, RegistryError, RegistryResult};
use crate::auth::Principal;
use crate::cases::workflow::{self, Acting, CaseError, ClosingWrite, NewCase};
use crate::cases::{Case, CaseState, Ground, Measure, Org};
use crate::domain::{Decision, DomainName, Scope};
use crate::model::{Actor, LiftRequest, NewEntry};
use crate::notices::model::{NoticeAction, Provider};
use crate::records::RecordalStatus;
use crate::store::cases::case_write;
use crate::store::{Refused, StoreError, StoreResult};

/// How often a step is tried again when another organisation changed the case meanwhile.
pub(super) const TRIES: usize = 4;

/// One step of an organisation on a case, with what it carries.
#[derive(Debug, Clone)]
pub enum CaseStep {
    /// The receiver accepts the hand-over, with an optional note.
    Accept { note: String },
    /// The receiver returns the hand-over to its sender, with a reason.
    Return { reason: String },
    /// The holder hands the case on along its route (or sends it again once returned).
    Forward { note: String },
    /// The opener's written request for an emergency suspension of access.
    RequestSuspension { letter: Decision, ground: Ground },
    /// The executing telecom organisation suspends access: the domain enters the registry as
    /// `suspended`, telling access providers (those found and those named).
    Suspend { providers: Vec<String> },
    /// The opener submits the penalty decision and the letter of recommendation.
    SubmitDecision {
        decision: Decision,
        recommendation: Decision,
    },
    /// The executing telecom organisation closes the case with its measures.
    Close {
        measures: Vec<Measure>,
        providers: Vec<String>,
    },
    /// The opener withdraws the case; a suspension in force ends with it.
    Withdraw { reason: String },
}

impl From<CaseError> for RegistryError {
    fn from(e: CaseError) -> RegistryError {
        match e {
            CaseError::Forbidden(message) => RegistryError::Forbidden(message),
            CaseError::NotHolder(message) => RegistryError::NotCaseHolder(message),
            CaseError::State(message) => RegistryError::Conflict {
                code: "invalid_case_state",
                message,
            },
            CaseError::Invalid { code, message } => RegistryError::Invalid { code, message },
        }
    }
}

/// The organisation a key speaks for; keys of other roles have none and may take no step.
pub fn org_of(by: &Principal) -> RegistryResult<Org> {
    Org::of(by.role, by.province)
        .ok_or_else(|| RegistryError::Forbidden("this key's role may not do this".into()))
}

/// What a case's step wrote, for the caller's answer and audit record.
fn changed(outcome: StoreResult<()>) -> Option<RegistryResult<()>> {
    match outcome {
        Ok(()) => Some(Ok(())),
        Err(StoreError::Refused(Refused::CaseChanged)) => None,
        Err(e) => Some(Err(e.into())),
    }
}

fn case_changed() -> RegistryError {
    Refused::CaseChanged.into()
}

/// The organisation of `by` if it may open cases: a provincial market regulator only.
pub fn case_opener(by: &Principal) -> RegistryResult<Org> {
    let org = org_of(by)?;
    if !matches!(org, Org::Amr(_)) {
        return Err(RegistryError::Forbidden(
            "cases are opened by a provincial market regulator (an agency key with a province)"
                .into(),
        ));
    }
    Ok(org)
}

impl Registry {
    /// Opens a case (a provincial market regulator only).
    pub async fn open_case(&self, by: &Principal, new: NewCase) -> RegistryResult<Case> {
        let case = workflow::open(new, case_opener(by)?, &by.actor(), crate::model::now())?;
        self.store.put_case(&case, 0).await?;
        tracing::info!(case_id = %case.id, domain = %case.domain, route = ?case.route.kind, by = %by.key_id, "case opened");
        Ok(self.told(self.marked(case).await))
    }

    /// The cases `by` may read, oldest first, optionally only those in `state` or about
    /// `domain`: auditors and national organisations read every case, a provincial
    /// organisation those whose route passes through it.
    pub async fn cases(
        &self,
        by: &Principal,
        state: Option<CaseState>,
        domain: Option<&DomainName>,
    ) -> RegistryResult<Vec<Case>> {
        let org = Org::of(by.role, by.province);
        let mut cases: Vec<Case> = self
            .store
            .cases()
            .await?
            .into_iter()
            .filter(|c| org.is_none_or(|o| c.visible_to(o)))
            .filter(|c| state.is_none_or(|w| c.state == w))
            .filter(|c| domain.is_none_or(|d| &c.domain == d))
            .collect();
        self.mark_uploaded(&mut cases).await;
        Ok(cases)
    }

    /// One case, if `by` may read it.
    pub async fn case(&self, by: &Principal, id: Uuid) -> RegistryResult<Case> {
        let case = self.load_case(id).await?;
        match Org::of(by.role, by.province) {
            Some(org) if !case.visible_to(org) => Err(RegistryError::OutOfProvince(format!(
                "case {} does not pass through {org}",
                case.id
            ))),
            _ => Ok(self.marked(case).await),
        }
    }

    pub(super) async fn load_case(&self, id: Uuid) -> RegistryResult<Case> {
        self.store
            .case(id)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("no case {id}")))
    }

    /// Takes `step` on case `id` for the organisation `by` speaks for. The answer is the case
    /// as written; its timeline ends with the steps this call added.
    pub async fn case_step(
        &self,
        by: &Principal,
        id: Uuid,
        step: CaseStep,
    ) -> RegistryResult<Case> {
        let org = org_of(by)?;
        let actor = by.actor();
        // The providers a step names must exist before anything is tried.
        let providers = match &step {
            CaseStep::Suspend { providers } | CaseStep::Close { providers, .. } => {
                self.named_providers(providers).await?
            }
            _ => Vec::new(),
        };
        for _ in 0..TRIES {
            let mut case = self.load_case(id).await?;
            let expect = case.version;
            let now = crate::model::now();
            let who = Acting {
                org,
                by: actor.clone(),
                now,
            };
            let outcome = match &step {
                CaseStep::Accept { note } => {
                    workflow::accept(&mut case, &who, note.clone())?;
                    self.store.put_case(&case, expect).await
                }
                CaseStep::Return { reason } => {
                    workflow::give_back(&mut case, &who, reason.clone())?;
                    self.store.put_case(&case, expect).await
                }
                CaseStep::Forward { note } => {
                    workflow::forward(&mut case, &who, note.clone())?;
                    self.store.put_case(&case, expect).await
                }
                CaseStep::RequestSuspension { letter, ground } => {
                    workflow::request_suspension(&mut case, &who, letter.clone(), *ground)?;
                    self.store.put_case(&case, expect).await
                }
                CaseStep::SubmitDecision {
                    decision,
                    recommendation,
                } => {
                    workflow::submit_decision(
                        &mut case,
                        &who,
                        decision.clone(),
                        recommendation.clone(),
                    )?;
                    self.store.put_case(&case, expect).await
                }
                CaseStep::Suspend { providers: named } => {
                    self.suspend(by, &mut case, expect, &who, named, &providers)
                        .await?
                }
                CaseStep::Close {
                    measures,
                    providers: named,
                } => {
                    self.close(by, &mut case, expect, &who, measures, named, &providers)
                        .await?
                }
                CaseStep::Withdraw { reason } => {
                    let ends = workflow::withdraw(&mut case, &who, reason.clone())?;
                    if ends {
                        self.end_suspension(&case, expect, &actor, "the case was withdrawn")
                            .await
                    } else {
                        self.store.put_case(&case, expect).await
                    }
                }
            };
            match changed(outcome) {
                Some(Ok(())) => {
                    if matches!(step, CaseStep::Suspend { .. }) {
                        tracing::info!(case_id = %case.id, domain = %case.domain, by = %by.key_id, "suspension executed");
                    } else if matches!(step, CaseStep::Close { .. }) {
                        tracing::info!(case_id = %case.id, domain = %case.domain, by = %by.key_id, "case closed");
                    }
                    return Ok(self.told(self.marked(case).await));
                }
                Some(Err(e)) => return Err(e),
                None => continue,
            }
        }
        Err(case_changed())
    }

    /// Executes the requested suspension: lists the domain as `suspended` until the
    /// configured time, telling access providers, with the case in the same write.
    async fn suspend(
        &self,
        by: &Principal,
        case: &mut Case,
        expect: u64,
        who: &Acting,
        named: &[String],
        providers: &[Provider],
    ) -> RegistryResult<StoreResult<()>> {
        let expires = who.now + self.settings.cases.suspension();
        let entry_id = Uuid::now_v7();
        workflow::execute_suspension(case, who, entry_id, expires)?;
        self.check_protection(by, &case.domain, None).await?;
        let suspension = case
            .suspension
            .clone()
            .ok_or_else(|| RegistryError::Internal("an executed suspension vanished".into()))?;
        let reason = format!(
            "emergency suspension ({}) under case {}",
            suspension.ground.as_str(),
            case.id
        );
        let mut new = case_entry(
            case,
            expect,
            entry_id,
            suspension.letter,
            reason,
            who,
            named,
        )?;
        new.suspended_until = Some(expires);
        Ok(self
            .write_listing(new, providers, &[NoticeAction::StopAccess], true)
            .await
            .map(|_| ()))
    }

    /// Closes the case with its measures: cancels the recordal in the shared records when
    /// asked, then lists the domain (replacing a suspension in force), ends the suspension,
    /// or writes the case alone.
    #[allow(clippy::too_many_arguments)]
    async fn close(
        &self,
        by: &Principal,
        case: &mut Case,
        expect: u64,
        who: &Acting,
        measures: &[Measure],
        named: &[String],
        providers: &[Provider],
    ) -> RegistryResult<StoreResult<()>> {
        let (actor, now) = (&who.by, who.now);
        let suspension = case
            .suspension
            .as_ref()
            .filter(|s| s.in_force())
            .and_then(|s| s.entry_id);
        let write = workflow::close(case, who, measures.to_vec())?;
        if case.recordal_cancelled {
            let outcome = self.cancel_recordal(case, actor, now).await?;
            if let Some(step) = case.timeline.last_mut() {
                step.note = format!("{}; {outcome}", step.note);
            }
        }
        Ok(match write {
            ClosingWrite::None => self.store.put_case(case, expect).await,
            ClosingWrite::List(entry_id) => {
                self.check_protection(by, &case.domain, None).await?;
                let closure = case.closure.clone().ok_or_else(|| {
                    RegistryError::Internal("a closed case has no closure".into())
                })?;
                let reason = format!("case {}: {}", case.id, case.summary);
                let mut new =
                    case_entry(case, expect, entry_id, closure.decision, reason, who, named)?;
                new.replaces = suspension;
                let mut actions = Vec::new();
                if closure
                    .measures
                    .iter()
                    .any(|m| matches!(m, Measure::StopAccess | Measure::Blacklist))
                {
                    actions.push(NoticeAction::StopAccess);
                }
                if closure
                    .measures
                    .iter()
                    .any(|m| matches!(m, Measure::StopResolution | Measure::Blacklist))
                {
                    actions.push(NoticeAction::StopResolution);
                }
                self.write_listing(new, providers, &actions, true)
                    .await
                    .map(|_| ())
            }
            ClosingWrite::EndSuspension => {
                self.end_suspension(
                    case,
                    expect,
                    actor,
                    "the case closed without a registry measure",
                )
                .await
            }
        })
    }

    /// Marks the recordal of `case` cancelled in the shared records, before the closure is
    /// written: the mark is idempotent, so a closure retried after a failure marks it again
    /// harmlessly. Says what it did, for the timeline.
    async fn cancel_recordal(
        &self,
        case: &Case,
        by: &Actor,
        now: Timestamp,
    ) -> RegistryResult<String> {
        let Some(number) = &case.icp_number else {
            return Ok("no ICP number on the case".into());
        };
        let found = self.store.recordals(std::slice::from_ref(number)).await?;
        let Some(Some(mut recordal)) = found.into_iter().next() else {
            return Ok(format!("recordal {number} is not in the shared records"));
        };
        if recordal.status == RecordalStatus::Cancelled {
            return Ok(format!("recordal {number} was already cancelled"));
        }
        recordal.status = RecordalStatus::Cancelled;
        recordal.updated_at = now;
        recordal.updated_by = by.clone();
        self.store.put_recordals(vec![recordal]).await?;
        Ok(format!(
            "recordal {number} marked cancelled in the shared records"
        ))
    }

    /// Ends the suspension of `case` (already marked ended) with an `expired` event, writing
    /// the case over `expect` in the same atomic write.
    pub(super) async fn end_suspension(
        &self,
        case: &Case,
        expect: u64,
        by: &Actor,
        reason: &str,
    ) -> StoreResult<()> {
        let Some(suspension) = &case.suspension else {
            return Err(Refused::NotListed.into());
        };
        let request = LiftRequest {
            domain: case.domain.clone(),
            entry_id: suspension.entry_id,
            reason: format!("{reason} (case {})", case.id),
            document: suspension.letter.clone(),
            lifted_at: suspension.ended_at.unwrap_or_else(crate::model::now),
            lifted_by: by.clone(),
            expire: true,
            case: Some(case_write(case, expect)?),
            approval: None,
        };
        self.write_lift(request).await.map(|_| ())
    }
}

/// The entry a case step lists as `id`: the case's domain and whole subtree, its category,
/// under `document`, naming the providers `named`, written with the case read at `expect`.
fn case_entry(
    case: &Case,
    expect: u64,
    id: Uuid,
    document: Decision,
    reason: String,
    who: &Acting,
    named: &[String],
) -> RegistryResult<NewEntry> {
    let mut new = NewEntry::new(
        case.domain.clone(),
        Scope::Subtree,
        case.category,
        document,
        reason,
        who.by.clone(),
        who.now,
    );
    new.id = id;
    new.providers = named.to_vec();
    new.case = Some(case_write(case, expect)?);
    Ok(new)
}
