//! The steps of a case (`/v1/cases/{id}/…`): each handler parses its body into a
//! `CaseStep` and the registry takes it for the caller's organisation.

use actix_web::{HttpRequest, HttpResponse, web};

use super::{
    CloseRequest, DecisionRequest, MAX_TEXT, NoteRequest, ReasonRequest, SuspendRequest,
    SuspensionRequest, answer, case_id, document, text,
};
use crate::api::{ApiError, Caller, State, read_json, read_json_or_default};
use crate::auth::policy;
use crate::cases::{Case, Ground, Measure};
use crate::registry::{CaseStep, org_of};

/// Takes `step` on the case of `path` and answers the case, its new steps noted for the
/// audit log.
async fn take(
    state: &State,
    req: &HttpRequest,
    principal: &crate::auth::Principal,
    path: &str,
    step: CaseStep,
) -> Result<HttpResponse, ApiError> {
    let case = state.case_step(principal, case_id(path)?, step).await?;
    Ok(answer(req, &case))
}

/// What a text-only step reads from its body: an optional `note` (an empty body is fine).
async fn note_of(
    state: &State,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<String, ApiError> {
    let body: NoteRequest =
        read_json_or_default(req, payload, state.settings.limits.write_body_bytes).await?;
    Ok(body
        .note
        .unwrap_or_default()
        .trim()
        .chars()
        .take(MAX_TEXT)
        .collect())
}

/// A required `reason`.
async fn reason_of(
    state: &State,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<String, ApiError> {
    let body: ReasonRequest =
        read_json(req, payload, state.settings.limits.write_body_bytes).await?;
    text(body.reason, "reason", "reason_required", MAX_TEXT)
}

/// Accept the hand-over waiting for the caller's organisation.
#[utoipa::path(post, path = "/v1/cases/{id}/accept", tag = "cases", params(("id" = String, Path)), request_body = NoteRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state")),
    security(("bearer" = [])))]
pub async fn accept(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(&path)?;
    let note = note_of(&state, &req, payload).await?;
    take(&state, &req, principal, &path, CaseStep::Accept { note }).await
}

/// Return the hand-over to the organisation that sent it, with a reason.
#[utoipa::path(post, path = "/v1/cases/{id}/return", tag = "cases", params(("id" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"), (status = 422, description = "reason_required")),
    security(("bearer" = [])))]
pub async fn give_back(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(&path)?;
    let reason = reason_of(&state, &req, payload).await?;
    take(&state, &req, principal, &path, CaseStep::Return { reason }).await
}

/// Hand the case on to the next organisation of its route (or send it again once returned).
#[utoipa::path(post, path = "/v1/cases/{id}/forward", tag = "cases", params(("id" = String, Path)), request_body = NoteRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state")),
    security(("bearer" = [])))]
pub async fn forward(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(&path)?;
    let note = note_of(&state, &req, payload).await?;
    take(&state, &req, principal, &path, CaseStep::Forward { note }).await
}

/// The opener's written request for an emergency suspension of access.
#[utoipa::path(post, path = "/v1/cases/{id}/suspension-request", tag = "cases", params(("id" = String, Path)), request_body = SuspensionRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"),
              (status = 422, description = "invalid_letter, invalid_ground")),
    security(("bearer" = [])))]
pub async fn request_suspension(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(&path)?;
    let body: SuspensionRequest =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
    let letter = document(body.letter, "letter", "invalid_letter")?;
    let ground = body.ground.as_deref().unwrap_or_default();
    let ground = Ground::parse(ground).ok_or_else(|| {
        ApiError::invalid(
            "invalid_ground",
            format!("ground {ground:?} is not one of national_security, public_safety, property"),
        )
    })?;
    take(
        &state,
        &req,
        principal,
        &path,
        CaseStep::RequestSuspension { letter, ground },
    )
    .await
}

/// Execute the requested suspension: the domain enters the registry as `suspended`.
#[utoipa::path(post, path = "/v1/cases/{id}/suspend", tag = "cases", params(("id" = String, Path)), request_body = SuspendRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state, already_listed"),
              (status = 422, description = "protected_domain")),
    security(("bearer" = [])))]
pub async fn suspend(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(&path)?;
    let body: SuspendRequest =
        read_json_or_default(&req, payload, state.settings.limits.write_body_bytes).await?;
    let providers = body.providers.unwrap_or_default();
    take(
        &state,
        &req,
        principal,
        &path,
        CaseStep::Suspend { providers },
    )
    .await
}

/// The opener submits the penalty decision and the letter of administrative recommendation.
#[utoipa::path(post, path = "/v1/cases/{id}/decision", tag = "cases", params(("id" = String, Path)), request_body = DecisionRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"),
              (status = 422, description = "decision_required, invalid_decision, invalid_recommendation")),
    security(("bearer" = [])))]
pub async fn submit_decision(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(&path)?;
    let body: DecisionRequest =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
    if body.decision.is_none() {
        return Err(ApiError::invalid(
            "decision_required",
            "closing a case needs the administrative penalty decision",
        ));
    }
    let decision = document(body.decision, "decision", "invalid_decision")?;
    let recommendation = document(
        body.recommendation,
        "recommendation",
        "invalid_recommendation",
    )?;
    let step = CaseStep::SubmitDecision {
        decision,
        recommendation,
    };
    take(&state, &req, principal, &path, step).await
}

/// The executing telecom organisation closes the case with its measures.
#[utoipa::path(post, path = "/v1/cases/{id}/close", tag = "cases", params(("id" = String, Path)), request_body = CloseRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state, already_listed"),
              (status = 422, description = "invalid_measures, protected_domain")),
    security(("bearer" = [])))]
pub async fn close(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(&path)?;
    let body: CloseRequest =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
    let measures = body
        .measures
        .unwrap_or_default()
        .iter()
        .map(|m| Measure::parse(m).ok_or_else(|| ApiError::invalid("invalid_measures", format!("measure {m:?} is not one of cancel_recordal, stop_access, stop_resolution, blacklist"))))
        .collect::<Result<Vec<_>, _>>()?;
    let providers = body.providers.unwrap_or_default();
    take(
        &state,
        &req,
        principal,
        &path,
        CaseStep::Close {
            measures,
            providers,
        },
    )
    .await
}

/// The opener withdraws the case; a suspension in force ends with it.
#[utoipa::path(post, path = "/v1/cases/{id}/withdraw", tag = "cases", params(("id" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"), (status = 422, description = "reason_required")),
    security(("bearer" = [])))]
pub async fn withdraw(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    case_id(&path)?;
    let reason = reason_of(&state, &req, payload).await?;
    take(
        &state,
        &req,
        principal,
        &path,
        CaseStep::Withdraw { reason },
    )
    .await
}
