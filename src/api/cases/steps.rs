//! The steps of a case (`/v1/cases/{id}/…`): each handler parses its body into a
//! `CaseStep` and the registry takes it for the caller's organisation.

use actix_web::web;

use super::{
    CloseRequest, DecisionRequest, MAX_TEXT, NoteRequest, ReasonRequest, SuspendRequest,
    SuspensionRequest, answer, case_id, document, text,
};
use crate::api::{Answer, ApiError, Call, one_of, parse_json};
use crate::auth::{Principal, policy};
use crate::cases::{Case, Ground, Measure};
use crate::domain::DateWindow;
use crate::registry::{CaseStep, org_of};

/// The caller's principal if it may take a step on the case of `path`: a key acting on cases,
/// of an organisation, naming a case id. Checked before the body is read.
fn acting(call: &Call, path: &str) -> Result<Principal, ApiError> {
    let principal = call.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(path)?;
    Ok(principal.clone())
}

/// Takes `step` on the case of `path` and answers the case, its new steps noted for the
/// audit log.
async fn take(call: &Call, by: &Principal, path: &str, step: CaseStep) -> Answer {
    let case = call.case_step(by, case_id(path)?, step).await?;
    Ok(answer(&call.req, &case))
}

/// What a text-only step reads from its body: an optional `note` (an empty body is fine).
async fn note_of(call: &Call, payload: web::Payload) -> Result<String, ApiError> {
    let body: NoteRequest = call.json_or_default(payload).await?;
    Ok(note(body))
}

fn note(body: NoteRequest) -> String {
    body.note
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_TEXT)
        .collect()
}

/// A required `reason`.
async fn reason_of(call: &Call, payload: web::Payload) -> Result<String, ApiError> {
    let body: ReasonRequest = call.json(payload).await?;
    reason(body)
}

fn reason(body: ReasonRequest) -> Result<String, ApiError> {
    text(body.reason, "reason", "reason_required", MAX_TEXT)
}

/// Accept the hand-over waiting for the caller's organisation.
#[utoipa::path(post, path = "/v1/cases/{id}/accept", tag = "cases", params(("id" = String, Path)), request_body = NoteRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state")),
    security(("bearer" = [])))]
pub async fn accept(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let by = acting(&call, &path)?;
    let note = note_of(&call, payload).await?;
    take(&call, &by, &path, CaseStep::Accept { note }).await
}

/// Return the hand-over to the organisation that sent it, with a reason.
#[utoipa::path(post, path = "/v1/cases/{id}/return", tag = "cases", params(("id" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"), (status = 422, description = "reason_required")),
    security(("bearer" = [])))]
pub async fn give_back(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let by = acting(&call, &path)?;
    let reason = reason_of(&call, payload).await?;
    take(&call, &by, &path, CaseStep::Return { reason }).await
}

/// Hand the case on to the next organisation of its route (or send it again once returned).
#[utoipa::path(post, path = "/v1/cases/{id}/forward", tag = "cases", params(("id" = String, Path)), request_body = NoteRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state")),
    security(("bearer" = [])))]
pub async fn forward(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let by = acting(&call, &path)?;
    let note = note_of(&call, payload).await?;
    take(&call, &by, &path, CaseStep::Forward { note }).await
}

/// The opener's written request for an emergency suspension of access.
#[utoipa::path(post, path = "/v1/cases/{id}/suspension-request", tag = "cases", params(("id" = String, Path)), request_body = SuspensionRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"),
              (status = 422, description = "invalid_letter, invalid_ground")),
    security(("bearer" = [])))]
pub async fn request_suspension(
    call: Call,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let by = acting(&call, &path)?;
    let body: SuspensionRequest = call.json(payload).await?;
    let step = suspension_request(body, call.document_dates())?;
    take(&call, &by, &path, step).await
}

fn suspension_request(body: SuspensionRequest, dates: DateWindow) -> Result<CaseStep, ApiError> {
    let letter = document(body.letter, "letter", "invalid_letter", dates)?;
    let ground = one_of(
        "ground",
        body.ground.as_deref().unwrap_or_default(),
        Ground::parse,
        "invalid_ground",
        "national_security, public_safety, property",
    )?;
    Ok(CaseStep::RequestSuspension { letter, ground })
}

/// Execute the requested suspension: the domain enters the registry as `suspended`.
#[utoipa::path(post, path = "/v1/cases/{id}/suspend", tag = "cases", params(("id" = String, Path)), request_body = SuspendRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state, already_listed"),
              (status = 422, description = "protected_domain")),
    security(("bearer" = [])))]
pub async fn suspend(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let by = acting(&call, &path)?;
    let body: SuspendRequest = call.json_or_default(payload).await?;
    let providers = body.providers.unwrap_or_default();
    take(&call, &by, &path, CaseStep::Suspend { providers }).await
}

/// The opener submits the penalty decision and the letter of administrative recommendation.
#[utoipa::path(post, path = "/v1/cases/{id}/decision", tag = "cases", params(("id" = String, Path)), request_body = DecisionRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"),
              (status = 422, description = "decision_required, invalid_decision, invalid_recommendation")),
    security(("bearer" = [])))]
pub async fn submit_decision(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let by = acting(&call, &path)?;
    let body: DecisionRequest = call.json(payload).await?;
    let step = decision(body, call.document_dates())?;
    take(&call, &by, &path, step).await
}

fn decision(body: DecisionRequest, dates: DateWindow) -> Result<CaseStep, ApiError> {
    if body.decision.is_none() {
        return Err(ApiError::invalid(
            "decision_required",
            "closing a case needs the administrative penalty decision",
        ));
    }
    let decision = document(body.decision, "decision", "invalid_decision", dates)?;
    let recommendation = document(
        body.recommendation,
        "recommendation",
        "invalid_recommendation",
        dates,
    )?;
    Ok(CaseStep::SubmitDecision {
        decision,
        recommendation,
    })
}

/// The executing telecom organisation closes the case with its measures.
#[utoipa::path(post, path = "/v1/cases/{id}/close", tag = "cases", params(("id" = String, Path)), request_body = CloseRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state, already_listed"),
              (status = 422, description = "invalid_measures, protected_domain")),
    security(("bearer" = [])))]
pub async fn close(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let by = acting(&call, &path)?;
    let body: CloseRequest = call.json(payload).await?;
    take(&call, &by, &path, closing(body)?).await
}

fn closing(body: CloseRequest) -> Result<CaseStep, ApiError> {
    let measures = body
        .measures
        .unwrap_or_default()
        .iter()
        .map(|m| {
            one_of(
                "measure",
                m,
                Measure::parse,
                "invalid_measures",
                "cancel_recordal, stop_access, stop_resolution, blacklist",
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let providers = body.providers.unwrap_or_default();
    Ok(CaseStep::Close {
        measures,
        providers,
    })
}

/// The opener withdraws the case; a suspension in force ends with it.
#[utoipa::path(post, path = "/v1/cases/{id}/withdraw", tag = "cases", params(("id" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"), (status = 422, description = "reason_required")),
    security(("bearer" = [])))]
pub async fn withdraw(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let by = acting(&call, &path)?;
    let reason = reason_of(&call, payload).await?;
    take(&call, &by, &path, CaseStep::Withdraw { reason }).await
}

/// The step named as in its path (`accept`, `return`, …) from a JSON body, by the rules its
/// endpoint applies: for the console, which turns its forms into the same bodies.
pub fn step_of(step: &str, body: &[u8], dates: DateWindow) -> Result<CaseStep, ApiError> {
    fn parsed<T: serde::de::DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            Ok(T::default())
        } else {
            parse_json(body)
        }
    }
    Ok(match step {
        "accept" => CaseStep::Accept {
            note: note(parsed(body)?),
        },
        "return" => CaseStep::Return {
            reason: reason(parsed(body)?)?,
        },
        "forward" => CaseStep::Forward {
            note: note(parsed(body)?),
        },
        "suspension-request" => suspension_request(parse_json(body)?, dates)?,
        "suspend" => {
            let body: SuspendRequest = parsed(body)?;
            CaseStep::Suspend {
                providers: body.providers.unwrap_or_default(),
            }
        }
        "decision" => decision(parse_json(body)?, dates)?,
        "close" => closing(parse_json(body)?)?,
        "withdraw" => CaseStep::Withdraw {
            reason: reason(parsed(body)?)?,
        },
        other => return Err(ApiError::NotFound(format!("a case has no step {other:?}"))),
    })
}
