//! The rules of each step of a case: which organisation may take it, in which state, and what
//! it changes, including the timeline. Pure functions over a `Case`; the registry writes that
//! some steps imply (a suspension, a listing, an expiry) are made by `api::cases` in the same
//! atomic write as the changed case.
//!
//! Who acts: the receiving organisation accepts or returns a hand-over; the holder forwards
//! along the route; the opener (the investigating AMR) requests a suspension, submits the
//! decision and may withdraw; the telecom organisation at the end of the route, once holding
//! the case, executes the suspension and the closing measures.

use crate::model::Timestamp;
use uuid::Uuid;

use super::{
    Case, CaseState, Closure, Ground, Handover, Measure, Org, Step, StepDocument, Suspension,
    routing,
};
use crate::domain::{Category, Decision, DomainName, IcpNumber, Province, Uscc};
use crate::model::Actor;

/// Why a step was refused, and whose fault it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaseError {
    /// The organisation may never take this step (403 `forbidden`).
    #[error("{0}")]
    Forbidden(String),
    /// Another organisation holds the case for this step (403 `not_case_holder`).
    #[error("{0}")]
    NotHolder(String),
    /// Not in this state (409 `invalid_case_state`).
    #[error("{0}")]
    State(String),
    /// A field is wrong (422 with the code).
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
}

fn invalid(code: &'static str, message: impl Into<String>) -> CaseError {
    CaseError::Invalid {
        code,
        message: message.into(),
    }
}

/// The facts of a new case, validated by `api::cases`.
#[derive(Debug, Clone)]
pub struct NewCase {
    pub domain: DomainName,
    pub recorded: bool,
    pub icp_number: Option<IcpNumber>,
    pub recordal_province: Option<Province>,
    pub access_province: Province,
    pub operator_name: Option<String>,
    pub operator_credit_code: Option<Uscc>,
    pub category: Category,
    pub summary: String,
    pub evidence: Vec<String>,
}

/// Refuses an empty or blank `text` with `code`.
pub(super) fn required(text: &str, code: &'static str, message: &str) -> Result<(), CaseError> {
    if text.trim().is_empty() {
        return Err(invalid(code, message));
    }
    Ok(())
}

/// Who takes a case step, for which organisation, and when.
#[derive(Debug, Clone)]
pub struct Acting {
    pub org: Org,
    pub by: Actor,
    pub now: Timestamp,
}

impl Acting {
    /// The timeline step of `action` taken now, with no note or documents yet.
    pub(super) fn step(&self, action: &str) -> Step {
        step(action, self.org, &self.by, self.now)
    }
}

fn step(action: &str, org: Org, by: &Actor, at: Timestamp) -> Step {
    Step {
        action: action.into(),
        org: Some(org),
        by: Some(by.clone()),
        at,
        note: String::new(),
        documents: Vec::new(),
    }
}

/// Opens a case for the AMR `org` and hands it to the next organisation on its route.
pub fn open(new: NewCase, org: Org, by: &Actor, now: Timestamp) -> Result<Case, CaseError> {
    let Org::Amr(province) = org else {
        return Err(CaseError::Forbidden(
            "cases are opened by a provincial market regulator (an agency key with a province)"
                .into(),
        ));
    };
    let recordal = if new.recorded {
        let icp = new
            .icp_number
            .as_ref()
            .ok_or_else(|| invalid("invalid_case", "a recorded site needs its icp_number"))?;
        match new.recordal_province {
            Some(p) if p != icp.province() => {
                return Err(invalid(
                    "invalid_case",
                    format!(
                        "recordal_province {} differs from the province of {} ({})",
                        p.code(),
                        icp.as_str(),
                        icp.province().code()
                    ),
                ));
            }
            _ => Some(icp.province()),
        }
    } else {
        if new.icp_number.is_some() || new.recordal_province.is_some() {
            return Err(invalid(
                "invalid_case",
                "a site that is not recorded has no icp_number or recordal_province",
            ));
        }
        None
    };
    let route = routing::route(province, recordal, new.access_province);
    let mut opened = step("opened", org, by, now);
    opened.note = format!("route {}", route.kind.as_str());
    opened.documents = new
        .evidence
        .iter()
        .map(|hash| StepDocument::new("evidence", None, Some(hash.clone())))
        .collect();
    let mut case = Case {
        id: Uuid::now_v7(),
        version: 1,
        domain_unicode: new.domain.to_unicode(),
        domain: new.domain,
        recorded: new.recorded,
        icp_number: new.icp_number,
        recordal_province: recordal,
        access_province: new.access_province,
        operator_name: new.operator_name,
        operator_credit_code_checksum_ok: new.operator_credit_code.as_ref().map(Uscc::checksum_ok),
        operator_credit_code: new.operator_credit_code,
        category: new.category,
        summary: new.summary,
        evidence: new.evidence,
        opener: org,
        opened_by: by.clone(),
        opened_at: now,
        route,
        hop: 0,
        holder: org,
        handover: None,
        state: CaseState::Held,
        since: now,
        suspension: None,
        closure: None,
        entry_id: None,
        recordal_cancelled: false,
        timeline: vec![opened],
    };
    hand_over(&mut case, by, now, String::new());
    Ok(case)
}

/// Hands the case from its holder to the next organisation on the route.
fn hand_over(case: &mut Case, by: &Actor, now: Timestamp, note: String) {
    let to = case.route.hops[case.hop + 1];
    case.handover = Some(Handover {
        from: case.holder,
        to,
        hop: case.hop + 1,
        at: now,
    });
    case.state = CaseState::Referred;
    case.since = now;
    let mut handed = step("handed_over", case.holder, by, now);
    handed.note = if note.is_empty() {
        format!("to {to}")
    } else {
        format!("to {to}: {note}")
    };
    case.timeline.push(handed);
}

fn require_open(case: &Case) -> Result<(), CaseError> {
    if case.state.is_open() {
        Ok(())
    } else {
        Err(CaseError::State(format!(
            "the case is {}",
            case.state.as_str()
        )))
    }
}

fn require_receiver(case: &Case, org: Org) -> Result<Handover, CaseError> {
    require_open(case)?;
    match &case.handover {
        Some(h) if h.to == org => Ok(h.clone()),
        Some(h) => Err(CaseError::NotHolder(format!(
            "the case waits for {}, not {org}",
            h.to
        ))),
        None => Err(CaseError::State(format!(
            "no hand-over of this case is waiting; {} holds it",
            case.holder
        ))),
    }
}

fn require_holder(case: &Case, org: Org) -> Result<(), CaseError> {
    require_open(case)?;
    if let Some(h) = &case.handover {
        return Err(if h.to == org {
            CaseError::State("accept the hand-over first".into())
        } else {
            CaseError::NotHolder(format!("the case waits for {}, not {org}", h.to))
        });
    }
    only(case.holder == org, || {
        format!("{} holds the case, not {org}", case.holder)
    })
}

fn require_opener(case: &Case, org: Org) -> Result<(), CaseError> {
    require_open(case)?;
    only(case.opener == org, || {
        format!(
            "only the opener {} may take this step, not {org}",
            case.opener
        )
    })
}

/// The executing telecom organisation, holding the case at the end of its route.
fn require_executor(case: &Case, org: Org) -> Result<(), CaseError> {
    require_holder(case, org)?;
    let at_the_end = case.hop + 1 == case.route.hops.len();
    only(at_the_end && org.is_telecom(), || {
        format!(
            "only {} at the end of the route executes measures",
            case.executor()
        )
    })
}

/// Lets the step go on when `allowed`; otherwise refuses the organisation with the message
/// `why` gives.
fn only(allowed: bool, why: impl FnOnce() -> String) -> Result<(), CaseError> {
    if allowed {
        Ok(())
    } else {
        Err(CaseError::NotHolder(why()))
    }
}

fn touch(case: &mut Case, now: Timestamp) {
    case.version += 1;
    case.since = now;
}

pub fn accept(case: &mut Case, who: &Acting, note: String) -> Result<(), CaseError> {
    let handover = require_receiver(case, who.org)?;
    case.holder = who.org;
    case.hop = handover.hop;
    case.handover = None;
    case.state = CaseState::Held;
    touch(case, who.now);
    let mut accepted = who.step("accepted");
    accepted.note = note;
    case.timeline.push(accepted);
    Ok(())
}

/// Returns a hand-over to the organisation that sent it, with a reason.
pub fn give_back(case: &mut Case, who: &Acting, reason: String) -> Result<(), CaseError> {
    let handover = require_receiver(case, who.org)?;
    required(&reason, "reason_required", "a returned case needs a reason")?;
    case.handover = None;
    case.holder = handover.from;
    case.state = CaseState::Held;
    touch(case, who.now);
    let mut returned = who.step("returned");
    returned.note = format!("to {}: {reason}", handover.from);
    case.timeline.push(returned);
    Ok(())
}

/// Hands the case on along its route: an intermediate hop forwarding, or a holder sending it
/// again after it was returned.
pub fn forward(case: &mut Case, who: &Acting, note: String) -> Result<(), CaseError> {
    require_holder(case, who.org)?;
    if case.hop + 1 >= case.route.hops.len() {
        return Err(CaseError::State(
            "the case is at the end of its route; the holder executes the measures".into(),
        ));
    }
    case.version += 1;
    hand_over(case, &who.by, who.now, note);
    Ok(())
}

pub fn request_suspension(
    case: &mut Case,
    who: &Acting,
    letter: Decision,
    ground: Ground,
) -> Result<(), CaseError> {
    require_opener(case, who.org)?;
    if case.suspension.is_some() {
        return Err(CaseError::State(
            "a suspension was already requested for this case".into(),
        ));
    }
    if case.closure.is_some() {
        return Err(CaseError::State("the decision is already submitted".into()));
    }
    let mut requested = who.step("suspension_requested");
    requested.note = ground.as_str().into();
    requested.documents = vec![StepDocument::of("suspension_letter", &letter)];
    case.suspension = Some(Suspension {
        letter,
        ground,
        requested_by: who.by.clone(),
        requested_at: who.now,
        entry_id: None,
        executed_by: None,
        executed_at: None,
        expires_at: None,
        ended: None,
        ended_at: None,
    });
    case.version += 1;
    case.timeline.push(requested);
    Ok(())
}

/// Executes the requested suspension: the caller writes entry `entry_id` as `suspended`
/// until `expires_at` together with the case.
pub fn execute_suspension(
    case: &mut Case,
    who: &Acting,
    entry_id: Uuid,
    expires_at: Timestamp,
) -> Result<(), CaseError> {
    require_executor(case, who.org)?;
    let suspension = case
        .suspension
        .as_mut()
        .ok_or_else(|| CaseError::State("no suspension was requested for this case".into()))?;
    if suspension.entry_id.is_some() {
        return Err(CaseError::State(
            "the suspension was already executed".into(),
        ));
    }
    suspension.entry_id = Some(entry_id);
    suspension.executed_by = Some(who.by.clone());
    suspension.executed_at = Some(who.now);
    suspension.expires_at = Some(expires_at);
    case.version += 1;
    let mut executed = who.step("suspension_executed");
    executed.note = format!("until {expires_at}");
    case.timeline.push(executed);
    Ok(())
}

/// Ends a suspension in force because its time ran out (siteban's own step).
pub fn expire(case: &mut Case, now: Timestamp) -> Result<(), CaseError> {
    let suspension = case
        .suspension
        .as_mut()
        .filter(|s| s.in_force())
        .ok_or_else(|| CaseError::State("no suspension is in force".into()))?;
    suspension.ended = Some("expired".into());
    suspension.ended_at = Some(now);
    case.version += 1;
    case.timeline.push(Step {
        action: "suspension_expired".into(),
        org: None,
        by: None,
        at: now,
        note: String::new(),
        documents: Vec::new(),
    });
    Ok(())
}

pub fn submit_decision(
    case: &mut Case,
    who: &Acting,
    decision: Decision,
    recommendation: Decision,
) -> Result<(), CaseError> {
    require_opener(case, who.org)?;
    if case.closure.is_some() {
        return Err(CaseError::State("the decision is already submitted".into()));
    }
    let mut submitted = who.step("decision_submitted");
    submitted.documents = vec![
        StepDocument::of("penalty_decision", &decision),
        StepDocument::of("recommendation_letter", &recommendation),
    ];
    case.closure = Some(Closure {
        decision,
        recommendation,
        submitted_by: who.by.clone(),
        submitted_at: who.now,
        measures: Vec::new(),
        executed_by: None,
        executed_at: None,
    });
    touch(case, who.now);
    case.timeline.push(submitted);
    Ok(())
}

/// What closing a case does to the registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosingWrite {
    /// Nothing: no registry measure and no suspension in force.
    None,
    /// List the site as entry `.0` (replacing the suspension in force, if any).
    List(Uuid),
    /// End the suspension in force without a listing.
    EndSuspension,
}

/// Closes the case with `measures`; says what the caller writes to the registry with it.
pub fn close(
    case: &mut Case,
    who: &Acting,
    measures: Vec<Measure>,
) -> Result<ClosingWrite, CaseError> {
    require_executor(case, who.org)?;
    if case.closure.is_none() {
        return Err(CaseError::State(
            "the opener has not submitted the penalty decision yet".into(),
        ));
    }
    let mut measures = measures;
    measures.sort();
    measures.dedup();
    if measures.is_empty() {
        return Err(invalid("invalid_measures", "choose at least one measure"));
    }
    if measures.contains(&Measure::CancelRecordal) && !case.recorded {
        return Err(invalid(
            "invalid_measures",
            "cancel_recordal needs a recorded site",
        ));
    }
    let in_force = case.suspension.as_ref().is_some_and(|s| s.in_force());
    let write = if measures.iter().any(|m| m.lists()) {
        let id = Uuid::now_v7();
        case.entry_id = Some(id);
        ClosingWrite::List(id)
    } else if in_force {
        ClosingWrite::EndSuspension
    } else {
        ClosingWrite::None
    };
    if let Some(s) = case.suspension.as_mut().filter(|s| s.in_force()) {
        s.ended = Some(
            if matches!(write, ClosingWrite::List(_)) {
                "listed"
            } else {
                "ended"
            }
            .into(),
        );
        s.ended_at = Some(who.now);
    }
    case.recordal_cancelled = measures.contains(&Measure::CancelRecordal);
    let mut closed = who.step("closed");
    closed.note = measures
        .iter()
        .map(|m| m.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    if let Some(closure) = case.closure.as_mut() {
        closure.measures = measures;
        closure.executed_by = Some(who.by.clone());
        closure.executed_at = Some(who.now);
    }
    case.state = CaseState::Closed;
    touch(case, who.now);
    case.timeline.push(closed);
    Ok(write)
}

/// Withdraws the case; says whether a suspension in force must end with it.
pub fn withdraw(case: &mut Case, who: &Acting, reason: String) -> Result<bool, CaseError> {
    require_opener(case, who.org)?;
    required(&reason, "reason_required", "a withdrawal needs a reason")?;
    let mut ends = false;
    if let Some(s) = case.suspension.as_mut().filter(|s| s.in_force()) {
        s.ended = Some("withdrawn".into());
        s.ended_at = Some(who.now);
        ends = true;
    }
    case.handover = None;
    case.state = CaseState::Withdrawn;
    touch(case, who.now);
    let mut withdrawn = who.step("withdrawn");
    withdrawn.note = reason;
    case.timeline.push(withdrawn);
    Ok(ends)
}

/// A step tried on a copy of a case: whether its rules accept it.
type Attempt<'a> = dyn Fn(&mut Case) -> bool + 'a;

/// The steps `org` may take on the case now, each found by trying it on a copy with the
/// same rules that take it (`accept`, `return`, `forward`, `suspension-request`, `suspend`,
/// `decision`, `close`, `withdraw`), so that a page offers exactly what would be accepted.
pub fn steps_open_to(case: &Case, org: Org, by: &Actor, now: Timestamp) -> Vec<&'static str> {
    let who = Acting {
        org,
        by: by.clone(),
        now,
    };
    let letter = Decision {
        number: String::new(),
        authority: String::new(),
        date: now.date(),
        document_sha256: None,
        document_uploaded: None,
    };
    let tries: [(&'static str, &Attempt); 8] = [
        ("accept", &|c| accept(c, &who, String::new()).is_ok()),
        ("return", &|c| give_back(c, &who, "-".into()).is_ok()),
        ("forward", &|c| forward(c, &who, String::new()).is_ok()),
        ("suspension-request", &|c| {
            request_suspension(c, &who, letter.clone(), Ground::Property).is_ok()
        }),
        ("suspend", &|c| {
            execute_suspension(c, &who, Uuid::nil(), now).is_ok()
        }),
        ("decision", &|c| {
            submit_decision(c, &who, letter.clone(), letter.clone()).is_ok()
        }),
        ("close", &|c| {
            close(c, &who, vec![Measure::Blacklist]).is_ok()
        }),
        ("withdraw", &|c| withdraw(c, &who, "-".into()).is_ok()),
    ];
    tries
        .into_iter()
        .filter(|(_, allowed)| allowed(&mut case.clone()))
        .map(|(step, _)| step)
        .collect()
}

/// What waits for `org` on this case, if anything: the action and since when.
pub fn waiting_for(case: &Case, org: Org) -> Option<(&'static str, Timestamp)> {
    if !case.state.is_open() {
        return None;
    }
    if let Some(h) = &case.handover {
        return (h.to == org).then_some(("accept_or_return", h.at));
    }
    let at_end = case.hop + 1 == case.route.hops.len();
    if case.holder == org {
        if !at_end {
            return Some(("forward", case.since));
        }
        if let Some(s) = case.suspension.as_ref().filter(|s| s.entry_id.is_none())
            && case.closure.is_none()
        {
            return Some(("execute_suspension", s.requested_at));
        }
        if let Some(c) = &case.closure {
            return Some(("close", c.submitted_at));
        }
        return None;
    }
    if case.opener == org && at_end && case.closure.is_none() {
        return Some(("submit_decision", case.since));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Role;

    fn p(code: &str) -> Province {
        Province::parse(code).unwrap()
    }

    fn actor(org: Org) -> Actor {
        let role = if org.is_market() {
            Role::Agency
        } else {
            Role::Telecom
        };
        Actor {
            key_id: format!("k_{org}"),
            name: org.to_string(),
            role,
            province: org.province(),
        }
    }

    fn acting(org: Org, now: Timestamp) -> Acting {
        Acting {
            org,
            by: actor(org),
            now,
        }
    }

    fn decision(number: &str) -> Decision {
        Decision::parse(
            crate::domain::DecisionInput {
                number: Some(number.into()),
                authority: Some("北京市市场监督管理局".into()),
                date: Some("2026-01-05".into()),
                document_sha256: None,
            },
            crate::domain::DateWindow::until_today(time::macros::date!(2000 - 01 - 01)),
        )
        .unwrap()
    }

    fn new_case(recordal: Option<&str>, access: &str) -> NewCase {
        NewCase {
            domain: DomainName::parse("shop.example.cn").unwrap(),
            recorded: recordal.is_some(),
            icp_number: recordal.map(|r| IcpNumber::parse(r).unwrap()),
            recordal_province: None,
            access_province: p(access),
            operator_name: None,
            operator_credit_code: None,
            category: Category::CounterfeitGoods,
            summary: "sells counterfeit goods".into(),
            evidence: Vec::new(),
        }
    }

    #[test]
    fn a_case_walks_its_route_and_closes() {
        let (amr, samr, miit, ca) = (Org::Amr(p("11")), Org::Samr, Org::Miit, Org::Ca(p("44")));
        let now = crate::model::now();
        let mut case = open(new_case(None, "44"), amr, &actor(amr), now).unwrap();
        assert_eq!(case.route.hops, vec![amr, samr, miit, ca]);
        assert_eq!(
            waiting_for(&case, samr).map(|w| w.0),
            Some("accept_or_return")
        );
        assert_eq!(
            accept(&mut case, &acting(miit, now), String::new()).unwrap_err(),
            CaseError::NotHolder("the case waits for samr, not miit".into())
        );
        accept(&mut case, &acting(samr, now), String::new()).unwrap();
        assert_eq!(waiting_for(&case, samr).map(|w| w.0), Some("forward"));
        forward(&mut case, &acting(samr, now), String::new()).unwrap();
        give_back(&mut case, &acting(miit, now), "missing evidence".into()).unwrap();
        assert_eq!(case.holder, samr);
        forward(&mut case, &acting(samr, now), "evidence attached".into()).unwrap();
        accept(&mut case, &acting(miit, now), String::new()).unwrap();
        // MIIT hands the case to the CA of the province where the site is accessed.
        assert_eq!(waiting_for(&case, miit).map(|w| w.0), Some("forward"));
        forward(&mut case, &acting(miit, now), String::new()).unwrap();
        assert_eq!(
            waiting_for(&case, ca).map(|w| w.0),
            Some("accept_or_return")
        );
        accept(&mut case, &acting(ca, now), String::new()).unwrap();
        assert_eq!(
            waiting_for(&case, amr).map(|w| w.0),
            Some("submit_decision")
        );
        assert!(matches!(
            close(&mut case, &acting(ca, now), vec![Measure::Blacklist]),
            Err(CaseError::State(_))
        ));
        submit_decision(
            &mut case,
            &acting(amr, now),
            decision("京市监处罚〔2026〕1号"),
            decision("京市监建〔2026〕1号"),
        )
        .unwrap();
        assert_eq!(waiting_for(&case, ca).map(|w| w.0), Some("close"));
        assert!(matches!(
            close(&mut case, &acting(miit, now), vec![Measure::Blacklist]),
            Err(CaseError::NotHolder(_))
        ));
        let write = close(
            &mut case,
            &acting(ca, now),
            vec![Measure::Blacklist, Measure::StopAccess],
        )
        .unwrap();
        assert!(matches!(write, ClosingWrite::List(_)));
        assert_eq!(case.state, CaseState::Closed);
        let actions: Vec<&str> = case.timeline.iter().map(|s| s.action.as_str()).collect();
        assert_eq!(
            actions,
            [
                "opened",
                "handed_over",
                "accepted",
                "handed_over",
                "returned",
                "handed_over",
                "accepted",
                "handed_over",
                "accepted",
                "decision_submitted",
                "closed"
            ]
        );
        assert!(matches!(
            withdraw(&mut case, &acting(amr, now), "x".into()),
            Err(CaseError::State(_))
        ));
    }

    #[test]
    fn a_suspension_ends_by_expiry_or_becomes_a_listing() {
        let (amr, ca) = (Org::Amr(p("11")), Org::Ca(p("11")));
        let now = crate::model::now();
        let mut case = open(
            new_case(Some("京ICP备13025326号-2"), "44"),
            amr,
            &actor(amr),
            now,
        )
        .unwrap();
        assert_eq!(case.route.hops, vec![amr, ca]);
        request_suspension(
            &mut case,
            &acting(amr, now),
            decision("京市监函〔2026〕3号"),
            Ground::Property,
        )
        .unwrap();
        assert!(matches!(
            execute_suspension(&mut case, &acting(ca, now), Uuid::now_v7(), now),
            Err(CaseError::State(_))
        ));
        accept(&mut case, &acting(ca, now), String::new()).unwrap();
        assert_eq!(
            waiting_for(&case, ca).map(|w| w.0),
            Some("execute_suspension")
        );
        assert!(matches!(
            execute_suspension(&mut case, &acting(amr, now), Uuid::now_v7(), now),
            Err(CaseError::NotHolder(_))
        ));
        execute_suspension(&mut case, &acting(ca, now), Uuid::now_v7(), now).unwrap();
        let mut expired = case.clone();
        expire(&mut expired, now).unwrap();
        assert!(expire(&mut expired, now).is_err());
        submit_decision(
            &mut case,
            &acting(amr, now),
            decision("京市监处罚〔2026〕1号"),
            decision("京市监建〔2026〕1号"),
        )
        .unwrap();
        let mut ended = case.clone();
        assert_eq!(
            close(&mut ended, &acting(ca, now), vec![Measure::CancelRecordal]).unwrap(),
            ClosingWrite::EndSuspension
        );
        assert!(ended.recordal_cancelled);
        assert!(matches!(
            close(&mut case, &acting(ca, now), vec![Measure::StopResolution]).unwrap(),
            ClosingWrite::List(_)
        ));
        assert_eq!(case.suspension.unwrap().ended.as_deref(), Some("listed"));
    }

    #[test]
    fn only_a_provincial_amr_opens_and_facts_must_agree() {
        let now = crate::model::now();
        for org in [Org::Samr, Org::Miit, Org::Ca(p("11"))] {
            assert!(matches!(
                open(new_case(None, "11"), org, &actor(org), now),
                Err(CaseError::Forbidden(_))
            ));
        }
        let amr = Org::Amr(p("11"));
        let mut mismatch = new_case(Some("粤ICP备12345678号"), "11");
        mismatch.recordal_province = Some(p("11"));
        assert!(matches!(
            open(mismatch, amr, &actor(amr), now),
            Err(CaseError::Invalid {
                code: "invalid_case",
                ..
            })
        ));
        let mut unrecorded = new_case(None, "11");
        unrecorded.recordal_province = Some(p("44"));
        assert!(matches!(
            open(unrecorded, amr, &actor(amr), now),
            Err(CaseError::Invalid { .. })
        ));
        let mut no_number = new_case(None, "11");
        no_number.recorded = true;
        assert!(matches!(
            open(no_number, amr, &actor(amr), now),
            Err(CaseError::Invalid { .. })
        ));
        let case = open(
            new_case(Some("粤ICP备12345678号"), "11"),
            amr,
            &actor(amr),
            now,
        )
        .unwrap();
        assert_eq!(
            case.route.hops,
            vec![amr, Org::Amr(p("44")), Org::Ca(p("44"))]
        );
    }
}
