//! `/v1/cases`: opening a case, reading cases, and (in `steps`) each step of the referral
//! workflow; `/v1/referrals` is in `referrals`, `/v1/inbox` in `inbox`. Handlers parse the
//! request into `cases` values and call one use case of the registry.

mod inbox;
mod referrals;
mod steps;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Answer, ApiError, Call, at_most, note, query_one_of, schema, trimmed};
use crate::auth::policy;
use crate::cases::workflow::NewCase;
use crate::cases::{Case, CaseState, Step, StepDocument};
use crate::domain::{DateWindow, Decision, DecisionInput, DomainName, IcpNumber, Province, Uscc};

pub use inbox::*;
pub use referrals::*;
pub use steps::*;

pub use crate::api::schema::{MAX_DOCUMENTS, MAX_NAME, MAX_SUMMARY, MAX_TEXT};

/// The body of `POST /v1/cases`; its document is [`schema::case_request`], one shape for a
/// recorded site (with its ICP number) and one for a site without a recordal.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenCaseRequest {
    pub domain: Option<String>,
    /// Whether the site has an ICP recordal.
    pub recorded: Option<bool>,
    pub icp_number: Option<String>,
    /// GB/T 2260 code of the recordal province; taken from the ICP number when absent.
    pub recordal_province: Option<String>,
    /// GB/T 2260 code of the province where the site is connected.
    pub access_province: Option<String>,
    pub operator_name: Option<String>,
    pub operator_credit_code: Option<String>,
    pub category: Option<String>,
    pub summary: Option<String>,
    pub evidence: Option<Vec<String>>,
}

schema::documented_as!(OpenCaseRequest => schema::case_request());

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteRequest {
    pub note: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonRequest {
    #[schema(required = true, schema_with = schema::required_reason)]
    pub reason: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspensionRequest {
    /// The written request: number, authority, date, optional document_sha256.
    #[schema(required = true, schema_with = schema::document)]
    pub letter: Option<DecisionInput>,
    #[schema(required = true, schema_with = schema::ground)]
    pub ground: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// The administrative penalty decision.
    #[schema(required = true, schema_with = schema::document)]
    pub decision: Option<DecisionInput>,
    /// The letter of administrative recommendation.
    #[schema(required = true, schema_with = schema::document)]
    pub recommendation: Option<DecisionInput>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseRequest {
    #[schema(schema_with = schema::measures)]
    pub measures: Option<Vec<String>>,
    /// Ids of providers to notify besides those found by locating the site; each is told
    /// only what the measures ask of its kind.
    #[schema(schema_with = schema::provider_ids)]
    pub providers: Option<Vec<String>>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Ids of access providers to notify besides those found by locating the site.
    #[schema(schema_with = schema::provider_ids)]
    pub providers: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseList {
    pub cases: Vec<Case>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct CaseQuery {
    /// `referred`, `held`, `closed` or `withdrawn`; every state when absent.
    #[param(schema_with = schema::case_state)]
    state: Option<String>,
    /// Only cases about this domain.
    #[param(schema_with = schema::any_domain)]
    domain: Option<String>,
}

pub(super) fn text(
    value: Option<String>,
    field: &str,
    code: &'static str,
    max: usize,
) -> Result<String, ApiError> {
    let value = trimmed(value).unwrap_or_default();
    if value.is_empty() {
        return Err(ApiError::invalid(
            code,
            format!("{field} needs 1 to {max} characters"),
        ));
    }
    at_most(Some(&value), max, code, || {
        format!("{field} needs 1 to {max} characters")
    })?;
    Ok(value)
}

pub(super) fn sha256(value: &str, field: &str) -> Result<String, ApiError> {
    let lower = value.trim().to_ascii_lowercase();
    if lower.len() != 64 || !lower.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ApiError::invalid(
            "invalid_document",
            format!("{field} must be a SHA-256 in 64 hex characters"),
        ));
    }
    Ok(lower)
}

fn province(value: Option<&str>, field: &str) -> Result<Option<Province>, ApiError> {
    value
        .map(|v| {
            Province::parse(v)
                .map_err(|e| ApiError::invalid("invalid_province", format!("{field}: {e}")))
        })
        .transpose()
}

pub(super) fn document(
    value: Option<DecisionInput>,
    field: &str,
    code: &'static str,
    dates: DateWindow,
) -> Result<Decision, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid(code, format!("{field} is required")))?;
    Decision::parse(value, dates).map_err(|e| ApiError::invalid(code, format!("{field}: {e}")))
}

pub(super) fn documents(
    values: Option<Vec<DocumentInput>>,
    default_kind: &str,
) -> Result<Vec<StepDocument>, ApiError> {
    let values = values.unwrap_or_default();
    if values.len() > MAX_DOCUMENTS {
        return Err(ApiError::invalid(
            "invalid_document",
            format!("at most {MAX_DOCUMENTS} documents"),
        ));
    }
    values
        .into_iter()
        .enumerate()
        .map(|(i, d)| {
            let number = trimmed(d.number);
            let sha256 = d
                .sha256
                .as_deref()
                .map(|h| sha256(h, &format!("documents[{i}].sha256")))
                .transpose()?;
            if number.is_none() && sha256.is_none() {
                return Err(ApiError::invalid(
                    "invalid_document",
                    format!("documents[{i}] needs a number or a sha256"),
                ));
            }
            at_most(number.as_deref(), MAX_NAME, "invalid_document", || {
                format!("documents[{i}].number is too long")
            })?;
            let kind = trimmed(d.kind).unwrap_or_else(|| default_kind.to_string());
            at_most(Some(&kind), 64, "invalid_document", || {
                format!("documents[{i}].kind is too long")
            })?;
            Ok(StepDocument::new(&kind, number, sha256))
        })
        .collect()
}

/// Validates a new case in the order of its fields.
pub fn parse_case(body: OpenCaseRequest) -> Result<NewCase, ApiError> {
    let domain = body
        .domain
        .as_deref()
        .ok_or_else(|| ApiError::invalid("invalid_domain", "domain is required"))?;
    let domain = DomainName::parse_listable(domain)?;
    let recorded = body
        .recorded
        .ok_or_else(|| ApiError::invalid("invalid_case", "recorded (true or false) is required"))?;
    let icp_number = body
        .icp_number
        .as_deref()
        .map(|n| {
            IcpNumber::parse(n).map_err(|e| ApiError::invalid("invalid_icp_number", e.to_string()))
        })
        .transpose()?;
    let recordal_province = province(body.recordal_province.as_deref(), "recordal_province")?;
    let access_province = province(body.access_province.as_deref(), "access_province")?
        .ok_or_else(|| ApiError::invalid("invalid_province", "access_province is required"))?;
    let operator_name = trimmed(body.operator_name);
    at_most(operator_name.as_deref(), MAX_NAME, "invalid_case", || {
        format!("operator_name has more than {MAX_NAME} characters")
    })?;
    let operator_credit_code = body
        .operator_credit_code
        .as_deref()
        .map(|c| {
            // Kept even with a wrong check character, and flagged, as the shared records keep
            // it: dropping it would lose the link to the operator.
            Uscc::parse(c).map_err(|e| ApiError::invalid("invalid_uscc", e.to_string()))
        })
        .transpose()?;
    let category = super::category(body.category.as_deref())?;
    let summary = text(body.summary, "summary", "invalid_case", MAX_SUMMARY)?;
    let evidence = body.evidence.unwrap_or_default();
    if evidence.len() > MAX_DOCUMENTS {
        return Err(ApiError::invalid(
            "invalid_document",
            format!("at most {MAX_DOCUMENTS} evidence documents"),
        ));
    }
    let evidence = evidence
        .iter()
        .enumerate()
        .map(|(i, h)| sha256(h, &format!("evidence[{i}]")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NewCase {
        domain,
        recorded,
        icp_number,
        recordal_province,
        access_province,
        operator_name,
        operator_credit_code,
        category,
        summary,
        evidence,
    })
}

pub fn case_id(path: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(path).map_err(|_| ApiError::NotFound(format!("no case {path:?}")))
}

/// The audit detail of a step: the timeline steps it added, as JSON, so that the audit log's
/// chain holds every step of every case with who, when and which documents.
pub fn steps_detail(steps: &[Step]) -> String {
    serde_json::to_string(steps).unwrap_or_else(|e| format!("the steps could not be encoded: {e}"))
}

pub(super) fn answer(req: &HttpRequest, case: &Case) -> HttpResponse {
    let added = case.timeline.len().saturating_sub(1);
    note(
        req,
        case.id.to_string(),
        steps_detail(&case.timeline[added..]),
    );
    HttpResponse::Ok().json(case)
}

/// Open a case against a website (a provincial market regulator).
#[utoipa::path(post, path = "/v1/cases", tag = "cases", request_body = OpenCaseRequest,
    responses((status = 201, body = Case),
              (status = 403, description = "forbidden: not a provincial AMR key"),
              (status = 422, description = "invalid_domain, public_suffix, invalid_case, invalid_icp_number, invalid_province, invalid_uscc, invalid_category, invalid_document")),
    security(("bearer" = [])))]
pub async fn open(call: Call, payload: web::Payload) -> Answer {
    let principal = call.require(policy::OPEN_CASES)?;
    crate::registry::case_opener(principal)?;
    let body: OpenCaseRequest = call.json(payload).await?;
    let new = parse_case(body)?;
    let case = call.open_case(principal, new).await?;
    call.note(case.id.to_string(), steps_detail(&case.timeline));
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/cases/{}", case.id)))
        .json(case))
}

/// Cases the caller may read, oldest first.
#[utoipa::path(get, path = "/v1/cases", operation_id = "list_cases", tag = "cases",
    params(CaseQuery),
    responses((status = 200, body = CaseList)), security(("bearer" = [])))]
pub async fn list(call: Call) -> Answer {
    let principal = call.require(policy::READ_CASES)?;
    let params: CaseQuery = call.query()?;
    let wanted = query_one_of(
        "state",
        params.state.as_deref(),
        CaseState::parse,
        "referred, held, closed, withdrawn",
    )?;
    let domain = params
        .domain
        .as_deref()
        .map(DomainName::parse)
        .transpose()?;
    let cases = call.cases(principal, wanted, domain.as_ref()).await?;
    Ok(HttpResponse::Ok().json(CaseList { cases }))
}

/// One case with its timeline.
#[utoipa::path(get, path = "/v1/cases/{id}", operation_id = "get_case", tag = "cases", params(("id" = String, Path)),
    responses((status = 200, body = Case), (status = 404, description = "not_found"),
              (status = 403, description = "out_of_province")),
    security(("bearer" = [])))]
pub async fn get(call: Call, path: web::Path<String>) -> Answer {
    let principal = call.require(policy::READ_CASES)?;
    let case = call.case(principal, case_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(case))
}
