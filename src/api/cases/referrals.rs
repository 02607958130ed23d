//! `/v1/referrals`: referrals between the two sides, sent and answered.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    MAX_NAME, MAX_SUMMARY, MAX_TEXT, NoteRequest, ReasonRequest, documents, steps_detail, text,
};
use crate::api::{Answer, ApiError, Call};
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
    let body: ReferralRequest = call.json(payload).await?;
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
    let new = NewReferral {
        to,
        subject,
        domain,
        summary,
        documents,
    };
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
    let _limit = call.settings.limits.write_body_bytes;
    let step = match step.as_str() {
        "accept" => {
            let _: NoteRequest = call.json_or_default(payload).await?;
            ReferralStep::Accept
        }
        "return" => {
            let body: ReasonRequest = call.json(payload).await?;
            let reason = text(body.reason, "reason", "reason_required", MAX_TEXT)?;
            ReferralStep::Return { reason }
        }
        "answer" => {
            let body: AnswerRequest = call.json(payload).await?;
            let result = text(body.result, "result", "result_required", MAX_SUMMARY)?;
            let documents = documents(body.documents, "referral_document")?;
            ReferralStep::Answer { result, documents }
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no referral step {other:?}; use accept, return or answer"
            )));
        }
    };
    let referral = call.referral_step(principal, id, step).await?;
    let added = referral.timeline.len().saturating_sub(1);
    call.note(
        referral.id.to_string(),
        steps_detail(&referral.timeline[added..]),
    );
    Ok(HttpResponse::Ok().json(referral))
}
