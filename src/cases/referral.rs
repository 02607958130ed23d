//! Referrals between the two sides (抄告/移交): a clue outside one side's remit, sent in
//! writing with its documents to an organisation of the other side, which accepts it (or
//! returns it with a reason) and answers with the result. Pure rules; HTTP is `api::cases`'.

use crate::model::Timestamp;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::workflow::{Acting, CaseError, required};
use super::{Org, Step, StepDocument};
use crate::domain::DomainName;
use crate::model::Actor;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    Sent,
    Accepted,
    Answered,
    Returned,
}

impl ReferralState {
    pub fn as_str(self) -> &'static str {
        match self {
            ReferralState::Sent => "sent",
            ReferralState::Accepted => "accepted",
            ReferralState::Answered => "answered",
            ReferralState::Returned => "returned",
        }
    }
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Referral {
    #[schema(value_type = String)]
    pub id: Uuid,
    pub version: u64,
    #[schema(value_type = String, example = "amr:11")]
    pub from: Org,
    #[schema(value_type = String, example = "ca:11")]
    pub to: Org,
    pub subject: String,
    #[schema(value_type = Option<String>)]
    pub domain: Option<DomainName>,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documents: Vec<StepDocument>,
    pub state: ReferralState,
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub result_documents: Vec<StepDocument>,
    #[schema(value_type = String, format = DateTime)]
    pub sent_at: Timestamp,
    /// When what the referral waits for began.
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    pub timeline: Vec<Step>,
}

impl crate::model::NamesDocuments for Referral {
    fn document_hashes(&self) -> Vec<String> {
        let named = self.documents.iter().chain(&self.result_documents);
        crate::model::distinct_hashes(super::step_hashes(&self.timeline, named))
    }

    fn mark_uploaded(&mut self, uploaded: &dyn Fn(&str) -> bool) {
        let named = self.documents.iter_mut().chain(&mut self.result_documents);
        super::mark_steps(&mut self.timeline, named, uploaded);
    }

    fn names_as(&self, sha256: &str) -> Vec<String> {
        let named = self.documents.iter().chain(&self.result_documents);
        super::step_kinds(&self.timeline, named, sha256)
    }
}

fn step(
    action: &str,
    org: Org,
    by: &Actor,
    at: Timestamp,
    note: String,
    documents: Vec<StepDocument>,
) -> Step {
    Step {
        action: action.into(),
        org: Some(org),
        by: Some(by.clone()),
        at,
        note,
        documents,
    }
}

/// What a new referral says, validated by `api::cases`.
pub struct NewReferral {
    pub to: Org,
    pub subject: String,
    pub domain: Option<DomainName>,
    pub summary: String,
    pub documents: Vec<StepDocument>,
}

/// Sends a referral from `from` to an organisation of the other side.
pub fn send(
    new: NewReferral,
    from: Org,
    by: &Actor,
    now: Timestamp,
) -> Result<Referral, CaseError> {
    if from.is_market() == new.to.is_market() {
        return Err(CaseError::Invalid {
            code: "invalid_referral",
            message: format!(
                "a referral goes to the other side: {from} cannot refer to {}",
                new.to
            ),
        });
    }
    let sent = step(
        "sent",
        from,
        by,
        now,
        format!("to {}", new.to),
        new.documents.clone(),
    );
    Ok(Referral {
        id: Uuid::now_v7(),
        version: 1,
        from,
        to: new.to,
        subject: new.subject,
        domain: new.domain,
        summary: new.summary,
        documents: new.documents,
        state: ReferralState::Sent,
        result: None,
        result_documents: Vec::new(),
        sent_at: now,
        since: now,
        timeline: vec![sent],
    })
}

fn require(referral: &Referral, org: Org, state: ReferralState) -> Result<(), CaseError> {
    if referral.to != org {
        return Err(CaseError::NotHolder(format!(
            "the referral is addressed to {}, not {org}",
            referral.to
        )));
    }
    if referral.state != state {
        return Err(CaseError::State(format!(
            "the referral is {}",
            referral.state.as_str()
        )));
    }
    Ok(())
}

fn advance(referral: &mut Referral, state: ReferralState, step: Step) {
    referral.state = state;
    referral.version += 1;
    referral.since = step.at;
    referral.timeline.push(step);
}

pub fn accept(referral: &mut Referral, who: &Acting) -> Result<(), CaseError> {
    require(referral, who.org, ReferralState::Sent)?;
    advance(referral, ReferralState::Accepted, who.step("accepted"));
    Ok(())
}

pub fn give_back(referral: &mut Referral, who: &Acting, reason: String) -> Result<(), CaseError> {
    require(referral, who.org, ReferralState::Sent)?;
    required(
        &reason,
        "reason_required",
        "a returned referral needs a reason",
    )?;
    advance(
        referral,
        ReferralState::Returned,
        Step {
            note: reason,
            ..who.step("returned")
        },
    );
    Ok(())
}

pub fn answer(
    referral: &mut Referral,
    who: &Acting,
    result: String,
    documents: Vec<StepDocument>,
) -> Result<(), CaseError> {
    require(referral, who.org, ReferralState::Accepted)?;
    required(&result, "result_required", "an answer needs the result")?;
    referral.result = Some(result.clone());
    referral.result_documents = documents.clone();
    advance(
        referral,
        ReferralState::Answered,
        Step {
            note: result,
            documents,
            ..who.step("answered")
        },
    );
    Ok(())
}

/// What waits for `org` on this referral: the action and since when.
pub fn waiting_for(referral: &Referral, org: Org) -> Option<(&'static str, Timestamp)> {
    if referral.to != org {
        return None;
    }
    match referral.state {
        ReferralState::Sent => Some(("accept_or_return", referral.since)),
        ReferralState::Accepted => Some(("answer", referral.since)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Province, Role};

    fn actor(org: Org) -> Actor {
        Actor {
            key_id: format!("k_{org}"),
            name: org.to_string(),
            role: if org.is_market() {
                Role::Agency
            } else {
                Role::Telecom
            },
            province: org.province(),
        }
    }

    #[test]
    fn a_referral_goes_to_the_other_side_and_is_answered() {
        let bj = Province::parse("11").unwrap();
        let (ca, amr) = (Org::Ca(bj), Org::Amr(bj));
        let now = crate::model::now();
        let new = |to| NewReferral {
            to,
            subject: "unlicensed trading platform".into(),
            domain: None,
            summary: "recordal lists a company that does not exist".into(),
            documents: Vec::new(),
        };
        assert!(send(new(Org::Miit), ca, &actor(ca), now).is_err());
        let mut referral = send(new(amr), ca, &actor(ca), now).unwrap();
        assert_eq!(
            waiting_for(&referral, amr).map(|w| w.0),
            Some("accept_or_return")
        );
        let as_amr = Acting {
            org: amr,
            by: actor(amr),
            now,
        };
        let as_samr = Acting {
            org: Org::Samr,
            by: actor(Org::Samr),
            now,
        };
        assert!(matches!(
            accept(&mut referral, &as_samr),
            Err(CaseError::NotHolder(_))
        ));
        assert!(matches!(
            answer(&mut referral, &as_amr, "done".into(), Vec::new()),
            Err(CaseError::State(_))
        ));
        accept(&mut referral, &as_amr).unwrap();
        answer(
            &mut referral,
            &as_amr,
            "business licence revoked".into(),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(referral.state, ReferralState::Answered);
        assert_eq!(waiting_for(&referral, amr), None);
        assert_eq!(referral.timeline.len(), 3);
    }
}
