//! `/v1/cases`, `/v1/referrals` and `/v1/inbox`: the referral workflow over HTTP. Validates
//! requests into `cases` values, applies a `cases::workflow` step to the case as read, and
//! writes it over the version read; a step that changes the registry (a suspension, a
//! listing at closure, the end of a suspension) writes the case in the same atomic write as
//! the entry, through `notices::Notices`. The expiry sweeper lives here too, beside the step
//! it takes.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::entries::check_protection;
use super::notices::NoticeService;
use super::{ApiError, Caller, State, note, query, read_json, read_json_or_default};
use crate::auth::{Principal, policy};
use crate::cases::referral::{self, NewReferral, Referral};
use crate::cases::workflow::{self, CaseError, ClosingWrite, NewCase};
use crate::cases::{Case, CaseState, Ground, Measure, Org, Step, StepDocument};
use crate::domain::{
    Category, Decision, DecisionInput, DomainName, IcpNumber, Province, Scope, Uscc, today_in_china,
};
use crate::model::{Actor, LiftRequest, NewEntry};
use crate::notices::Notices;
use crate::notices::model::NoticeAction;
use crate::records::RecordalStatus;
use crate::registry::Registry;
use crate::store::StoreError;
use crate::store::cases::Folder;

const MAX_SUMMARY: usize = 4000;
const MAX_TEXT: usize = 2000;
const MAX_NAME: usize = 200;
const MAX_DOCUMENTS: usize = 100;
/// How often a step is tried again when another organisation changed the case meanwhile.
const TRIES: usize = 4;

impl From<CaseError> for ApiError {
    fn from(e: CaseError) -> ApiError {
        match e {
            CaseError::Forbidden(message) => ApiError::ForbiddenBecause(message),
            CaseError::NotHolder(message) => ApiError::NotCaseHolder(message),
            CaseError::State(message) => ApiError::Conflict {
                code: "invalid_case_state",
                message,
            },
            CaseError::Invalid { code, message } => ApiError::Invalid { code, message },
        }
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct OpenCaseRequest {
    #[schema(example = "shop.example.cn")]
    pub domain: Option<String>,
    /// Whether the site has an ICP recordal.
    pub recorded: Option<bool>,
    #[schema(example = "京ICP备13025326号-2")]
    pub icp_number: Option<String>,
    /// GB/T 2260 code of the recordal province; taken from the ICP number when absent.
    #[schema(example = "11")]
    pub recordal_province: Option<String>,
    /// GB/T 2260 code of the province where the site is connected.
    #[schema(example = "44")]
    pub access_province: Option<String>,
    pub operator_name: Option<String>,
    #[schema(example = "91110108551385082Q")]
    pub operator_credit_code: Option<String>,
    #[schema(example = "counterfeit_goods")]
    pub category: Option<String>,
    pub summary: Option<String>,
    /// SHA-256 of each evidence document, 64 hex characters.
    pub evidence: Option<Vec<String>>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct NoteRequest {
    pub note: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct ReasonRequest {
    pub reason: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct SuspensionRequest {
    /// The written request: number, authority, date, optional document_sha256.
    #[schema(value_type = Option<Object>)]
    pub letter: Option<DecisionInput>,
    /// `national_security`, `public_safety` or `property`.
    pub ground: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct DecisionRequest {
    /// The administrative penalty decision.
    #[schema(value_type = Option<Object>)]
    pub decision: Option<DecisionInput>,
    /// The letter of administrative recommendation.
    #[schema(value_type = Option<Object>)]
    pub recommendation: Option<DecisionInput>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct CloseRequest {
    /// Any of `cancel_recordal`, `stop_access`, `stop_resolution`, `blacklist`.
    pub measures: Option<Vec<String>>,
    /// Ids of providers to notify besides those found by locating the site; each is told
    /// only what the measures ask of its kind.
    pub providers: Option<Vec<String>>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
pub struct SuspendRequest {
    /// Ids of access providers to notify besides those found by locating the site.
    pub providers: Option<Vec<String>>,
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct DocumentInput {
    pub kind: Option<String>,
    pub number: Option<String>,
    pub sha256: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct ReferralRequest {
    /// The receiving organisation: `amr:<province>`, `samr`, `ca:<province>` or `miit`.
    #[schema(example = "ca:11")]
    pub to: Option<String>,
    pub subject: Option<String>,
    pub domain: Option<String>,
    pub summary: Option<String>,
    pub documents: Option<Vec<DocumentInput>>,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AnswerRequest {
    pub result: Option<String>,
    pub documents: Option<Vec<DocumentInput>>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CaseList {
    pub cases: Vec<Case>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ReferralList {
    pub referrals: Vec<Referral>,
}

/// One thing waiting for an organisation.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InboxItem {
    /// `case` or `referral`.
    pub kind: &'static str,
    #[schema(value_type = String)]
    pub id: Uuid,
    /// What the organisation is expected to do: `accept_or_return`, `forward`,
    /// `execute_suspension`, `submit_decision`, `close` (cases), `accept_or_return`, `answer`
    /// (referrals).
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(with = "crate::model::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub since: OffsetDateTime,
    /// Seconds since `since`.
    pub age_seconds: i64,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Inbox {
    #[schema(value_type = String, example = "ca:11")]
    pub org: Org,
    pub items: Vec<InboxItem>,
}

#[derive(Deserialize)]
struct CaseQuery {
    state: Option<String>,
    domain: Option<String>,
}

/// The organisation the caller speaks for; keys of other roles have none.
fn org_of(principal: &Principal) -> Result<Org, ApiError> {
    Org::of(principal.role, principal.province).ok_or(ApiError::Forbidden)
}

fn text(
    value: Option<String>,
    field: &str,
    code: &'static str,
    max: usize,
) -> Result<String, ApiError> {
    let value = value.unwrap_or_default().trim().to_string();
    if value.is_empty() || value.chars().count() > max {
        return Err(ApiError::invalid(
            code,
            format!("{field} needs 1 to {max} characters"),
        ));
    }
    Ok(value)
}

fn sha256(value: &str, field: &str) -> Result<String, ApiError> {
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

fn document(
    value: Option<DecisionInput>,
    field: &str,
    code: &'static str,
) -> Result<Decision, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid(code, format!("{field} is required")))?;
    Decision::parse(value, today_in_china())
        .map_err(|e| ApiError::invalid(code, format!("{field}: {e}")))
}

fn documents(
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
            let number = d
                .number
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty());
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
            if number
                .as_ref()
                .is_some_and(|n| n.chars().count() > MAX_NAME)
            {
                return Err(ApiError::invalid(
                    "invalid_document",
                    format!("documents[{i}].number is too long"),
                ));
            }
            let kind = d
                .kind
                .map(|k| k.trim().to_string())
                .filter(|k| !k.is_empty())
                .unwrap_or_else(|| default_kind.to_string());
            if kind.chars().count() > 64 {
                return Err(ApiError::invalid(
                    "invalid_document",
                    format!("documents[{i}].kind is too long"),
                ));
            }
            Ok(StepDocument {
                kind,
                number,
                sha256,
            })
        })
        .collect()
}

/// Every provider, after checking that each of `named` is one of them.
async fn named_providers(
    state: &Registry,
    named: &[String],
) -> Result<Vec<crate::notices::model::Provider>, ApiError> {
    let providers = state.store.providers().await?;
    if let Some(unknown) = named
        .iter()
        .find(|id| !providers.iter().any(|p| &p.id == *id))
    {
        return Err(ApiError::invalid(
            "unknown_provider",
            format!("no provider with id {unknown:?}"),
        ));
    }
    Ok(providers)
}

/// Validates a new case in the order of its fields.
fn parse_case(body: OpenCaseRequest) -> Result<NewCase, ApiError> {
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
    let operator_name = body
        .operator_name
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    if operator_name
        .as_ref()
        .is_some_and(|n| n.chars().count() > MAX_NAME)
    {
        return Err(ApiError::invalid(
            "invalid_case",
            format!("operator_name has more than {MAX_NAME} characters"),
        ));
    }
    let operator_credit_code = body
        .operator_credit_code
        .as_deref()
        .map(|c| {
            Uscc::parse_strict(c).map_err(|e| ApiError::invalid("invalid_uscc", e.to_string()))
        })
        .transpose()?;
    let category = body
        .category
        .as_deref()
        .ok_or_else(|| ApiError::invalid("invalid_category", "category is required"))?;
    let category = Category::parse(category).ok_or_else(|| {
        ApiError::invalid(
            "invalid_category",
            format!("category {category:?} is not one of the categories in the API documentation"),
        )
    })?;
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

fn case_id(path: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(path).map_err(|_| ApiError::NotFound(format!("no case {path:?}")))
}

/// What the case store keeps for this module: cases and referrals, each a versioned JSON
/// document in its own folder.
trait Stored: Serialize + serde::de::DeserializeOwned {
    const FOLDER: Folder;
    const KIND: &'static str;
    fn version(&self) -> u64;
}

impl Stored for Case {
    const FOLDER: Folder = Folder::Cases;
    const KIND: &'static str = "case";
    fn version(&self) -> u64 {
        self.version
    }
}

impl Stored for Referral {
    const FOLDER: Folder = Folder::Referrals;
    const KIND: &'static str = "referral";
    fn version(&self) -> u64 {
        self.version
    }
}

fn decode<T: Stored>(doc: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(doc)
        .map_err(|e| ApiError::Internal(format!("a stored {}: {e}", T::KIND)))
}

async fn load<T: Stored>(state: &Registry, id: Uuid) -> Result<T, ApiError> {
    let doc = state
        .store
        .record(T::FOLDER, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no {} {id}", T::KIND)))?;
    decode(&doc)
}

async fn all<T: Stored>(state: &Registry) -> Result<Vec<T>, ApiError> {
    state
        .store
        .records(T::FOLDER)
        .await?
        .iter()
        .map(|doc| decode(doc))
        .collect()
}

async fn load_case(state: &Registry, id: Uuid) -> Result<Case, ApiError> {
    load(state, id).await
}

/// Every stored case, oldest first.
pub(crate) async fn all_cases(state: &Registry) -> Result<Vec<Case>, ApiError> {
    all(state).await
}

/// Whether the caller may read the case: auditors and national organisations read every
/// case, a provincial organisation those whose route passes through it.
fn readable(principal: &Principal, case: &Case) -> Result<(), ApiError> {
    match Org::of(principal.role, principal.province) {
        Some(org) if !case.visible_to(org) => Err(ApiError::OutOfProvince(format!(
            "case {} does not pass through {org}",
            case.id
        ))),
        _ => Ok(()),
    }
}

/// Applies a step that changes only the case (or referral), writing it over the version
/// read, reading again when another organisation changed it meanwhile.
async fn record_step<T: Stored>(
    state: &Registry,
    id: Uuid,
    step: impl Fn(&mut T) -> Result<(), CaseError>,
) -> Result<T, ApiError> {
    for _ in 0..TRIES {
        let mut record: T = load(state, id).await?;
        let expect = record.version();
        step(&mut record)?;
        let write = crate::model::CaseWrite {
            id,
            expect,
            doc: serde_json::to_vec(&record).map_err(|e| ApiError::Internal(e.to_string()))?,
        };
        match state.store.put_record(T::FOLDER, write).await {
            Ok(()) => return Ok(record),
            Err(StoreError::CaseChanged) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::CaseChanged.into())
}

/// The audit detail of a step: the timeline steps it added, as JSON, so that the audit log's
/// chain holds every step of every case with who, when and which documents.
fn steps_detail(steps: &[Step]) -> String {
    serde_json::to_string(steps).unwrap_or_default()
}

fn answer(req: &HttpRequest, case: &Case) -> HttpResponse {
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
pub async fn open(
    caller: Caller,
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::OPEN_CASES)?;
    let org = org_of(principal)?;
    if !matches!(org, Org::Amr(_)) {
        return Err(ApiError::ForbiddenBecause(
            "cases are opened by a provincial market regulator (an agency key with a province)"
                .into(),
        ));
    }
    let body: OpenCaseRequest =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
    let new = parse_case(body)?;
    let case = workflow::open(new, org, &principal.actor(), crate::model::now())?;
    state.store.put_record(Folder::Cases, case.write(0)).await?;
    tracing::info!(case_id = %case.id, domain = %case.domain, route = ?case.route.kind, by = %principal.key_id, "case opened");
    note(&req, case.id.to_string(), steps_detail(&case.timeline));
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/cases/{}", case.id)))
        .json(case))
}

/// Cases the caller may read, oldest first.
#[utoipa::path(get, path = "/v1/cases", tag = "cases",
    params(("state" = Option<String>, Query, description = "referred, held, closed or withdrawn"),
           ("domain" = Option<String>, Query, description = "only cases about this domain")),
    responses((status = 200, body = CaseList)), security(("bearer" = [])))]
pub async fn list(
    caller: Caller,
    state: State,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::READ_CASES)?;
    let params: CaseQuery = query(&req)?;
    let wanted = params
        .state
        .as_deref()
        .map(|s| {
            CaseState::parse(s).ok_or_else(|| {
                ApiError::InvalidParameter(format!(
                    "state {s:?} is not one of referred, held, closed, withdrawn"
                ))
            })
        })
        .transpose()?;
    let domain = params
        .domain
        .as_deref()
        .map(DomainName::parse)
        .transpose()?;
    let org = Org::of(principal.role, principal.province);
    let cases = all_cases(&state)
        .await?
        .into_iter()
        .filter(|c| org.is_none_or(|o| c.visible_to(o)))
        .filter(|c| wanted.is_none_or(|w| c.state == w))
        .filter(|c| domain.as_ref().is_none_or(|d| &c.domain == d))
        .collect();
    Ok(HttpResponse::Ok().json(CaseList { cases }))
}

/// One case with its timeline.
#[utoipa::path(get, path = "/v1/cases/{id}", tag = "cases", params(("id" = String, Path)),
    responses((status = 200, body = Case), (status = 404, description = "not_found"),
              (status = 403, description = "out_of_province")),
    security(("bearer" = [])))]
pub async fn get(
    caller: Caller,
    state: State,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::READ_CASES)?;
    let case = load_case(&state, case_id(&path)?).await?;
    readable(principal, &case)?;
    Ok(HttpResponse::Ok().json(case))
}

/// What a text-only step reads from its body.
enum Text {
    /// An optional `note`; an empty body is fine.
    Note,
    /// A required `reason`.
    Reason,
}

/// A workflow step that changes only the case and takes a text: accept, return, forward.
type TextStep = fn(&mut Case, Org, &Actor, String, OffsetDateTime) -> Result<(), CaseError>;

async fn text_step(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    kind: Text,
    step: TextStep,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    let org = org_of(principal)?;
    let id = case_id(&path)?;
    let limit = state.settings.limits.write_body_bytes;
    let text = match kind {
        Text::Note => {
            let body: NoteRequest = read_json_or_default(&req, payload, limit).await?;
            let note = body.note.unwrap_or_default();
            note.trim().chars().take(MAX_TEXT).collect()
        }
        Text::Reason => {
            let body: ReasonRequest = read_json(&req, payload, limit).await?;
            text(body.reason, "reason", "reason_required", MAX_TEXT)?
        }
    };
    let actor = principal.actor();
    let case = record_step(&state, id, |c| {
        step(c, org, &actor, text.clone(), crate::model::now())
    })
    .await?;
    Ok(answer(&req, &case))
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
    text_step(
        caller,
        state,
        req,
        path,
        payload,
        Text::Note,
        workflow::accept,
    )
    .await
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
    text_step(
        caller,
        state,
        req,
        path,
        payload,
        Text::Reason,
        workflow::give_back,
    )
    .await
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
    text_step(
        caller,
        state,
        req,
        path,
        payload,
        Text::Note,
        workflow::forward,
    )
    .await
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
    let org = org_of(principal)?;
    let id = case_id(&path)?;
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
    let actor = principal.actor();
    let case = record_step(&state, id, |c| {
        workflow::request_suspension(c, org, &actor, letter.clone(), ground, crate::model::now())
    })
    .await?;
    Ok(answer(&req, &case))
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
    notices: NoticeService,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    let org = org_of(principal)?;
    let id = case_id(&path)?;
    let body: SuspendRequest =
        read_json_or_default(&req, payload, state.settings.limits.write_body_bytes).await?;
    let named = body.providers.unwrap_or_default();
    let providers = named_providers(&state, &named).await?;
    let actor = principal.actor();
    for _ in 0..TRIES {
        let mut case = load_case(&state, id).await?;
        let expect = case.version;
        let now = crate::model::now();
        let expires = now + state.settings.cases.suspension();
        let entry_id = Uuid::now_v7();
        workflow::execute_suspension(&mut case, org, &actor, entry_id, expires, now)?;
        check_protection(&state, principal, &case.domain, None).await?;
        let Some(suspension) = case.suspension.clone() else {
            return Err(ApiError::Internal("an executed suspension vanished".into()));
        };
        let new = NewEntry {
            id: entry_id,
            domain: case.domain.clone(),
            scope: Scope::Subtree,
            category: case.category,
            reason: format!(
                "emergency suspension ({}) under case {}",
                suspension.ground.as_str(),
                case.id
            ),
            decision: suspension.letter,
            listed_at: now,
            listed_by: actor.clone(),
            protection_override: None,
            location: None,
            providers: named.clone(),
            suspended_until: Some(expires),
            replaces: None,
            case: Some(case.write(expect)),
        };
        match notices
            .list_for(&state, new, &providers, &[NoticeAction::StopAccess])
            .await
        {
            Ok(_) => {
                tracing::info!(case_id = %case.id, domain = %case.domain, by = %principal.key_id, "suspension executed");
                return Ok(answer(&req, &case));
            }
            Err(StoreError::CaseChanged) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::CaseChanged.into())
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
    let org = org_of(principal)?;
    let id = case_id(&path)?;
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
    let actor = principal.actor();
    let case = record_step(&state, id, |c| {
        workflow::submit_decision(
            c,
            org,
            &actor,
            decision.clone(),
            recommendation.clone(),
            crate::model::now(),
        )
    })
    .await?;
    Ok(answer(&req, &case))
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
    notices: NoticeService,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    let org = org_of(principal)?;
    let id = case_id(&path)?;
    let body: CloseRequest =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
    let measures = body
        .measures
        .unwrap_or_default()
        .iter()
        .map(|m| Measure::parse(m).ok_or_else(|| ApiError::invalid("invalid_measures", format!("measure {m:?} is not one of cancel_recordal, stop_access, stop_resolution, blacklist"))))
        .collect::<Result<Vec<_>, _>>()?;
    let named = body.providers.unwrap_or_default();
    let providers = named_providers(&state, &named).await?;
    let actor = principal.actor();
    for _ in 0..TRIES {
        let mut case = load_case(&state, id).await?;
        let expect = case.version;
        let suspension = case
            .suspension
            .as_ref()
            .filter(|s| s.in_force())
            .and_then(|s| s.entry_id);
        let now = crate::model::now();
        let write = workflow::close(&mut case, org, &actor, measures.clone(), now)?;
        if case.recordal_cancelled {
            let outcome = cancel_recordal(&state, &case, &actor, now).await?;
            if let Some(step) = case.timeline.last_mut() {
                step.note = format!("{}; {outcome}", step.note);
            }
        }
        let outcome = match write {
            ClosingWrite::None => {
                state
                    .store
                    .put_record(Folder::Cases, case.write(expect))
                    .await
            }
            ClosingWrite::List(entry_id) => {
                check_protection(&state, principal, &case.domain, None).await?;
                let Some(closure) = case.closure.clone() else {
                    return Err(ApiError::Internal("a closed case has no closure".into()));
                };
                let new = NewEntry {
                    id: entry_id,
                    domain: case.domain.clone(),
                    scope: Scope::Subtree,
                    category: case.category,
                    reason: format!("case {}: {}", case.id, case.summary),
                    decision: closure.decision,
                    listed_at: now,
                    listed_by: actor.clone(),
                    protection_override: None,
                    location: None,
                    providers: named.clone(),
                    suspended_until: None,
                    replaces: suspension,
                    case: Some(case.write(expect)),
                };
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
                notices
                    .list_for(&state, new, &providers, &actions)
                    .await
                    .map(|_| ())
            }
            ClosingWrite::EndSuspension => {
                end_suspension(
                    &state,
                    &notices,
                    &case,
                    expect,
                    &actor,
                    "the case closed without a registry measure",
                )
                .await
            }
        };
        match outcome {
            Ok(()) => {
                tracing::info!(case_id = %case.id, domain = %case.domain, by = %principal.key_id, "case closed");
                return Ok(answer(&req, &case));
            }
            Err(StoreError::CaseChanged) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::CaseChanged.into())
}

/// Marks the recordal of `case` cancelled in the shared records, before the closure is
/// written: the mark is idempotent, so a closure retried after a failure marks it again
/// harmlessly. Says what it did, for the timeline.
async fn cancel_recordal(
    state: &Registry,
    case: &Case,
    by: &Actor,
    now: OffsetDateTime,
) -> Result<String, ApiError> {
    let Some(number) = &case.icp_number else {
        return Ok("no ICP number on the case".into());
    };
    let found = state.store.recordals(std::slice::from_ref(number)).await?;
    let Some(Some(mut recordal)) = found.into_iter().next() else {
        return Ok(format!("recordal {number} is not in the shared records"));
    };
    if recordal.status == RecordalStatus::Cancelled {
        return Ok(format!("recordal {number} was already cancelled"));
    }
    recordal.status = RecordalStatus::Cancelled;
    recordal.updated_at = now;
    recordal.updated_by = by.clone();
    state.store.put_recordals(vec![recordal]).await?;
    Ok(format!(
        "recordal {number} marked cancelled in the shared records"
    ))
}

/// Ends the suspension of `case` (already marked ended) with an `expired` event, writing the
/// case over `expect` in the same atomic write.
async fn end_suspension(
    state: &Registry,
    notices: &Notices,
    case: &Case,
    expect: u64,
    by: &Actor,
    reason: &str,
) -> Result<(), StoreError> {
    let Some(suspension) = &case.suspension else {
        return Err(StoreError::NotListed);
    };
    let request = LiftRequest {
        entry_id: suspension.entry_id,
        reason: format!("{reason} (case {})", case.id),
        document: suspension.letter.clone(),
        lifted_at: suspension.ended_at.unwrap_or_else(crate::model::now),
        lifted_by: by.clone(),
        expire: true,
        case: Some(case.write(expect)),
    };
    notices.lift(state, &case.domain, request).await.map(|_| ())
}

/// The opener withdraws the case; a suspension in force ends with it.
#[utoipa::path(post, path = "/v1/cases/{id}/withdraw", tag = "cases", params(("id" = String, Path)), request_body = ReasonRequest,
    responses((status = 200, body = Case), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"), (status = 422, description = "reason_required")),
    security(("bearer" = [])))]
pub async fn withdraw(
    caller: Caller,
    state: State,
    notices: NoticeService,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    let org = org_of(principal)?;
    let id = case_id(&path)?;
    let body: ReasonRequest =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
    let reason = text(body.reason, "reason", "reason_required", MAX_TEXT)?;
    let actor = principal.actor();
    for _ in 0..TRIES {
        let mut case = load_case(&state, id).await?;
        let expect = case.version;
        let ends = workflow::withdraw(&mut case, org, &actor, reason.clone(), crate::model::now())?;
        let outcome = if ends {
            end_suspension(
                &state,
                &notices,
                &case,
                expect,
                &actor,
                "the case was withdrawn",
            )
            .await
        } else {
            state
                .store
                .put_record(Folder::Cases, case.write(expect))
                .await
        };
        match outcome {
            Ok(()) => return Ok(answer(&req, &case)),
            Err(StoreError::CaseChanged) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::CaseChanged.into())
}

/// What waits for the caller's organisation, oldest first.
#[utoipa::path(get, path = "/v1/inbox", tag = "cases",
    responses((status = 200, body = Inbox), (status = 403, description = "forbidden: the key speaks for no organisation")),
    security(("bearer" = [])))]
pub async fn inbox(caller: Caller, state: State) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    let org = org_of(principal)?;
    let now = crate::model::now();
    let mut items: Vec<InboxItem> = all_cases(&state)
        .await?
        .into_iter()
        .filter_map(|c| {
            workflow::waiting_for(&c, org).map(|(action, since)| InboxItem {
                kind: "case",
                id: c.id,
                action,
                domain: Some(c.domain.to_string()),
                subject: None,
                since,
                age_seconds: (now - since).whole_seconds(),
            })
        })
        .collect();
    items.extend(all::<Referral>(&state).await?.into_iter().filter_map(|r| {
        referral::waiting_for(&r, org).map(|(action, since)| InboxItem {
            kind: "referral",
            id: r.id,
            action,
            domain: r.domain.as_ref().map(ToString::to_string),
            subject: Some(r.subject.clone()),
            since,
            age_seconds: (now - since).whole_seconds(),
        })
    }));
    items.sort_by_key(|i| i.since);
    Ok(HttpResponse::Ok().json(Inbox { org, items }))
}

/// Refer a clue to an organisation of the other side (抄告/移交).
#[utoipa::path(post, path = "/v1/referrals", tag = "cases", request_body = ReferralRequest,
    responses((status = 201, body = Referral),
              (status = 422, description = "invalid_referral, invalid_domain, invalid_document")),
    security(("bearer" = [])))]
pub async fn refer(
    caller: Caller,
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    let org = org_of(principal)?;
    let body: ReferralRequest =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
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
    let referral = referral::send(new, org, &principal.actor(), crate::model::now())?;
    let write = crate::model::CaseWrite {
        id: referral.id,
        expect: 0,
        doc: serde_json::to_vec(&referral).map_err(|e| ApiError::Internal(e.to_string()))?,
    };
    state.store.put_record(Folder::Referrals, write).await?;
    note(
        &req,
        referral.id.to_string(),
        steps_detail(&referral.timeline),
    );
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/referrals/{}", referral.id)))
        .json(referral))
}

fn referral_readable(principal: &Principal, referral: &Referral) -> Result<(), ApiError> {
    match Org::of(principal.role, principal.province) {
        Some(org) if org.province().is_some() && org != referral.from && org != referral.to => {
            Err(ApiError::OutOfProvince(format!(
                "referral {} is between {} and {}",
                referral.id, referral.from, referral.to
            )))
        }
        _ => Ok(()),
    }
}

/// Referrals the caller may read: those it sent or received (national organisations and
/// auditors read all).
#[utoipa::path(get, path = "/v1/referrals", tag = "cases", responses((status = 200, body = ReferralList)), security(("bearer" = [])))]
pub async fn referrals(caller: Caller, state: State) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::READ_CASES)?;
    let referrals = all::<Referral>(&state)
        .await?
        .into_iter()
        .filter(|r| referral_readable(principal, r).is_ok())
        .collect();
    Ok(HttpResponse::Ok().json(ReferralList { referrals }))
}

#[utoipa::path(get, path = "/v1/referrals/{id}", tag = "cases", params(("id" = String, Path)),
    responses((status = 200, body = Referral), (status = 404, description = "not_found")), security(("bearer" = [])))]
pub async fn get_referral(
    caller: Caller,
    state: State,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::READ_CASES)?;
    let id = Uuid::parse_str(&path)
        .map_err(|_| ApiError::NotFound(format!("no referral {:?}", path.as_str())))?;
    let referral = load::<Referral>(&state, id).await?;
    referral_readable(principal, &referral)?;
    Ok(HttpResponse::Ok().json(referral))
}

/// The receiving organisation's steps on a referral: `accept`, `return` or `answer`.
#[utoipa::path(post, path = "/v1/referrals/{id}/{step}", tag = "cases",
    params(("id" = String, Path), ("step" = String, Path, description = "accept, return or answer")),
    request_body = AnswerRequest,
    responses((status = 200, body = Referral), (status = 403, description = "not_case_holder"),
              (status = 409, description = "invalid_case_state"),
              (status = 422, description = "reason_required, result_required, invalid_document")),
    security(("bearer" = [])))]
pub async fn referral_step_handler(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::ACT_ON_CASES)?;
    let org = org_of(principal)?;
    let (id, step) = path.into_inner();
    let id = Uuid::parse_str(&id).map_err(|_| ApiError::NotFound(format!("no referral {id:?}")))?;
    let limit = state.settings.limits.write_body_bytes;
    let actor = principal.actor();
    let now = crate::model::now();
    let referral = match step.as_str() {
        "accept" => {
            let _: NoteRequest = read_json_or_default(&req, payload, limit).await?;
            record_step(&state, id, |r| referral::accept(r, org, &actor, now)).await?
        }
        "return" => {
            let body: ReasonRequest = read_json(&req, payload, limit).await?;
            let reason = text(body.reason, "reason", "reason_required", MAX_TEXT)?;
            record_step(&state, id, |r| {
                referral::give_back(r, org, &actor, reason.clone(), now)
            })
            .await?
        }
        "answer" => {
            let body: AnswerRequest = read_json(&req, payload, limit).await?;
            let result = text(body.result, "result", "result_required", MAX_SUMMARY)?;
            let documents = documents(body.documents, "referral_document")?;
            record_step(&state, id, |r| {
                referral::answer(r, org, &actor, result.clone(), documents.clone(), now)
            })
            .await?
        }
        other => {
            return Err(ApiError::NotFound(format!(
                "no referral step {other:?}; use accept, return or answer"
            )));
        }
    };
    let added = referral.timeline.len().saturating_sub(1);
    note(
        &req,
        referral.id.to_string(),
        steps_detail(&referral.timeline[added..]),
    );
    Ok(HttpResponse::Ok().json(referral))
}

/// Ends suspensions whose time ran out, every `cases.expiry_sweep_ms`, until `shutdown`.
/// Several nodes may sweep: each expiry writes the case over the version read, so exactly
/// one node's write succeeds.
pub async fn sweep_expiries(
    registry: Arc<Registry>,
    notices: Arc<Notices>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) {
    let interval = std::time::Duration::from_millis(registry.settings.cases.expiry_sweep_ms);
    let system = Actor {
        key_id: "siteban".into(),
        name: "siteban expiry".into(),
        role: crate::domain::Role::Admin,
        province: None,
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = expire_due(&registry, &notices, &system).await {
            tracing::warn!(error = %e, "the suspension expiry sweep failed; trying again later");
        }
    }
}

/// One sweep: ends every suspension in force whose time has come.
pub async fn expire_due(
    registry: &Registry,
    notices: &Notices,
    system: &Actor,
) -> Result<usize, ApiError> {
    let now = crate::model::now();
    let due: Vec<Uuid> = all_cases(registry)
        .await?
        .into_iter()
        .filter(|c| {
            c.suspension
                .as_ref()
                .is_some_and(|s| s.in_force() && s.expires_at.is_some_and(|at| at <= now))
        })
        .map(|c| c.id)
        .collect();
    let mut expired = 0;
    for id in due {
        let mut case = load_case(registry, id).await?;
        let expect = case.version;
        if workflow::expire(&mut case, now).is_err() {
            continue;
        }
        match end_suspension(
            registry,
            notices,
            &case,
            expect,
            system,
            "the suspension expired",
        )
        .await
        {
            Ok(()) => {
                expired += 1;
                tracing::info!(case_id = %id, domain = %case.domain, "suspension expired");
            }
            // Another node expired it, or the case moved on: nothing to do here.
            Err(StoreError::CaseChanged | StoreError::NotListed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(expired)
}
