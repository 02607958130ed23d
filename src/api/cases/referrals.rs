//! `/v1/referrals`: referrals between the two sides, sent and answered.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    MAX_NAME, MAX_SUMMARY, MAX_TEXT, NoteRequest, ReasonRequest, documents, steps_detail, text,
};
use crate::api::{Answer, ApiError, Call, parse_json};
use crate::auth::policy;
use crate::cases::Org;
use crate::cases::referral::{NewReferral, Referral};
use crate::domain::DomainName;
use crate::registry::{ReferralStep, org_of};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReferralRequest {
    #[schema(required = true, schema_with = crate::api::schema::organisation)]
    pub to: Option<String>,
    #[schema(required = true, schema_with = crate::api::schema::subject)]
    pub subject: Option<String>,
    #[schema(schema_with = crate::api::schema::optional_domain)]
    pub domain: Option<String>,
    #[schema(required = true, schema_with = crate::api::schema::summary)]
    pub summary: Option<String>,
    #[schema(schema_with = crate::api::schema::documents)]
    pub documents: Option<Vec<DocumentInput>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerRequest {
    #[schema(required = true, schema_with = crate::api::schema::summary)]
    pub result: Option<String>,
    #[schema(schema_with = crate::api::schema::documents)]
    pub documents: Option<Vec<DocumentInput>>,
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DocumentInput {
    pub kind: Option<String>,
    pub number: Option<String>,
    pub sha256: Option<String>,
}
#[derive(Serialize, utoipa::ToSchema)]
pub struct ReferralList {
    pub referrals: Vec<Referral>,
}

/// Refer a clue to an organisation of the other side (抄告/移交).
#[utoipa::path(post, path = "/v1/referrals", tag = "cases", request_body = ReferralRequest,
    responses((status = 201, body = Referral),
              (status = 422, description = "invalid_referral, invalid_domain, invalid_document")),
    security(("bearer" = [])))]
pub async fn refer(call: Call, payload: web::Payload) -> Answer {
    let principal = call.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    let new = new_referral(call.json(payload).await?)?;
    let referral = call.refer(principal, new).await?;
    call.note(referral.id.to_string(), steps_detail(&referral.timeline));
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/referrals/{}", referral.id)))
        .json(referral))
}

/// Referrals the caller may read: those it sent or received (national organisations and
/// auditors read all).
#[utoipa::path(get, path = "/v1/referrals", tag = "cases", responses((status = 200, body = ReferralList)), security(("bearer" = [])))]
pub async fn referrals(call: Call) -> Answer {
    let principal = call.require(policy::READ_CASES)?;
    let referrals = call.referrals(principal).await?;
    Ok(HttpResponse::Ok().json(ReferralList { referrals }))
}

#[utoipa::path(get, path = "/v1/referrals/{id}", tag = "cases", params(("id" = String, Path)),
    responses((status = 200, body = Referral), (status = 404, description = "not_found")), security(("bearer" = [])))]
pub async fn get_referral(call: Call, path: web::Path<String>) -> Answer {
    let principal = call.require(policy::READ_CASES)?;
    let id = Uuid::parse_str(&path)
        .map_err(|_| ApiError::NotFound(format!("no referral {:?}", path.as_str())))?;
    Ok(HttpResponse::Ok().json(call.referral(principal, id).await?))
}

/// The receiving organisation's steps on a referral: `accept`, `return` or `answer`.
#[utoipa::path(post, path = "/v1/referrals/{id}/{step}", tag = "cases",
    params(("id" = String, Path), ("step" = String, Path, description = "accept, return or answer (`return` takes a ReasonRequest, `accept` a NoteRequest or nothing)")),
    request_body = AnswerRequest,
    responses((status = 200, body = Referral), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"),
              (status = 422, description = "reason_required, result_required, invalid_document")),
    security(("bearer" = [])))]
pub async fn referral_step_handler(
    call: Call,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Answer {
    let principal = call.require(policy::ACT_ON_CASES)?;
    org_of(principal)?;
    let (id, step) = path.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound(format!("no referral {id:?}")))?;
    let step = match step.as_str() {
        "accept" => {
            let _: NoteRequest = call.json_or_default(payload).await?;
            ReferralStep::Accept
        }
        "return" => return_step(call.json(payload).await?)?,
        "answer" => answer_step(call.json(payload).await?)?,
        other => return Err(no_step(other)),
    };
    let referral = call.referral_step(principal, id, step).await?;
    let added = referral.timeline.len().saturating_sub(1);
    call.note(
        referral.id.to_string(),
        steps_detail(&referral.timeline[added..]),
    );
    Ok(HttpResponse::Ok().json(referral))
}

/// The referral a request describes: the rules of `POST /v1/referrals`, which the console's
/// form follows too.
pub fn new_referral(body: ReferralRequest) -> Result<NewReferral, ApiError> {
    let to = body.to.as_deref().unwrap_or_default();
    let to = Org::parse(to).ok_or_else(|| {
        ApiError::invalid(
            "invalid_referral",
            format!("to {to:?} is not an organisation (amr:<province>, samr, ca:<province>, miit)"),
        )
    })?;
    let subject = text(body.subject, "subject", "invalid_referral", MAX_NAME)?;
    let domain = body.domain.as_deref().map(DomainName::parse).transpose()?;
    let summary = text(body.summary, "summary", "invalid_referral", MAX_SUMMARY)?;
    let documents = documents(body.documents, "referral_document")?;
    Ok(NewReferral {
        to,
        subject,
        domain,
        summary,
        documents,
    })
}

fn no_step(step: &str) -> ApiError {
    ApiError::NotFound(format!(
        "no referral step {step:?}; use accept, return or answer"
    ))
}

fn return_step(body: ReasonRequest) -> Result<ReferralStep, ApiError> {
    let reason = text(body.reason, "reason", "reason_required", MAX_TEXT)?;
    Ok(ReferralStep::Return { reason })
}

fn answer_step(body: AnswerRequest) -> Result<ReferralStep, ApiError> {
    let result = text(body.result, "result", "result_required", MAX_SUMMARY)?;
    let documents = documents(body.documents, "referral_document")?;
    Ok(ReferralStep::Answer { result, documents })
}

/// The receiver's step named as in its path (`accept`, `return`, `answer`) from a JSON body,
/// by the rules its endpoint applies: for the console, which turns its forms into the same
/// bodies.
pub fn referral_step_of(step: &str, body: &[u8]) -> Result<ReferralStep, ApiError> {
    Ok(match step {
        "accept" => {
            if !body.iter().all(u8::is_ascii_whitespace) {
                let _: NoteRequest = parse_json(body)?;
            }
            ReferralStep::Accept
        }
        "return" => return_step(parse_json(body)?)?,
        "answer" => answer_step(parse_json(body)?)?,
        other => return Err(no_step(other)),
    })
}
