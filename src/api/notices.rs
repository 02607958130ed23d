//! `/v1/locate`, `/v1/notices` and `/v1/compliance`: locating a site, the notices a provider
//! pulls and acknowledges, and the regulators' summary of who complied. Provider keys see only
//! their own provider's notices; another provider's notice is answered as not found.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Answer, ApiError, Call, page_cursor, page_limit, query_one_of};
use crate::auth::{Principal, policy};
use crate::domain::{DomainName, Role, Scope};
use crate::model::Timestamp;
use crate::notices::model::{
    Location, Notice, NoticeAction, NoticeBasis, NoticeStatus, StatusChange,
};
use crate::registry::ProviderCompliance;
use crate::store::notices::NoticePageQuery;

/// A notice as providers and regulators see it (and as webhooks carry it in `data`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct NoticeView {
    #[schema(value_type = String)]
    pub id: Uuid,
    #[schema(value_type = String)]
    pub entry_id: Uuid,
    /// Why the provider must act: the decision, category and reason (absent on notices made
    /// before notices carried them). A provider key may also read the entry itself.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<NoticeBasis>,
    pub provider_id: String,
    pub provider_name: String,
    pub action: NoticeAction,
    #[schema(value_type = String)]
    pub domain: DomainName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_unicode: Option<String>,
    #[schema(value_type = String)]
    pub scope: Scope,
    pub status: NoticeStatus,
    #[schema(value_type = String)]
    pub created_at: Timestamp,
    #[schema(value_type = String)]
    pub deadline: Timestamp,
    pub attempts: u32,
    #[schema(value_type = Option<String>)]
    pub delivered_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub acknowledged_at: Option<Timestamp>,
    #[schema(value_type = Option<String>)]
    pub overdue_at: Option<Timestamp>,
    /// When the next webhook attempt is due, while pushing goes on.
    #[schema(value_type = Option<String>)]
    pub next_attempt_at: Option<Timestamp>,
    /// What went wrong with the last webhook attempt, if it failed.
    pub last_error: Option<String>,
    pub history: Vec<StatusChange>,
}

impl From<&Notice> for NoticeView {
    fn from(n: &Notice) -> NoticeView {
        NoticeView {
            id: n.id,
            entry_id: n.entry_id,
            basis: n.basis.clone(),
            provider_id: n.provider_id.clone(),
            provider_name: n.provider_name.clone(),
            action: n.action,
            domain_unicode: n.domain.to_unicode(),
            domain: n.domain.clone(),
            scope: n.scope,
            status: n.status,
            created_at: n.created_at,
            deadline: n.deadline,
            attempts: n.attempts,
            delivered_at: n.delivered_at,
            acknowledged_at: n.acknowledged_at,
            overdue_at: n.overdue_at,
            next_attempt_at: n.delivery.next_attempt_at,
            last_error: n.delivery.last_error.clone(),
            history: n.history.clone(),
        }
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct NoticePageView {
    pub notices: Vec<NoticeView>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct LocateView {
    #[schema(value_type = String)]
    pub domain: DomainName,
    #[serde(flatten)]
    pub location: Location,
}

#[derive(Deserialize)]
struct LocateQuery {
    domain: Option<String>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct NoticeQuery {
    /// `pending`, `delivered`, `acknowledged` or `overdue`; every notice when absent.
    #[param(schema_with = super::schema::notice_status)]
    status: Option<String>,
    /// The provider id. Required of regulators and auditors; a provider key may leave it out
    /// (it reads its own provider's notices only).
    #[param(required = true)]
    provider: Option<String>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page; absent or empty for the first.
    #[param(schema_with = super::schema::notice_cursor)]
    cursor: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AckRequest {
    /// What the provider did, kept in the notice's history (at most 2,000 characters).
    #[schema(schema_with = super::schema::reason)]
    pub note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ComplianceReport {
    pub generated_at: String,
    pub providers: Vec<ProviderCompliance>,
}

/// The provider a caller's key speaks for, if it is a provider key.
fn own_provider(principal: &Principal) -> Result<Option<&str>, ApiError> {
    match principal.role {
        Role::AccessProvider | Role::DnsProvider => {
            principal.provider_id.as_deref().map(Some).ok_or_else(|| {
                ApiError::invalid(
                    "provider_required",
                    "this key is bound to no provider; ask the admin for a key with provider_id",
                )
            })
        }
        _ => Ok(None),
    }
}

/// Look up where a site is served from and which registered providers serve it.
#[utoipa::path(get, path = "/v1/locate", tag = "notices",
    params(("domain" = String, Query, format = "domain-name", min_length = 1, max_length = 1024, description = "the name to locate")),
    responses((status = 200, body = LocateView), (status = 400, description = "invalid_parameter"),
              (status = 422, description = "invalid_domain")),
    security(("bearer" = [])))]
pub async fn locate(call: Call) -> Answer {
    call.require(policy::LOCATE)?;
    let params: LocateQuery = call.query()?;
    let domain = params
        .domain
        .ok_or_else(|| ApiError::InvalidParameter("domain is required".into()))?;
    let domain = DomainName::parse(&domain)?;
    let location = call.locate(&domain).await?;
    Ok(HttpResponse::Ok().json(LocateView { domain, location }))
}

/// A provider's notices, oldest first: the caller's own for provider keys; regulators name
/// the provider with `provider`.
#[utoipa::path(get, path = "/v1/notices", operation_id = "list_notices", tag = "notices",
    params(NoticeQuery),
    responses((status = 200, body = NoticePageView), (status = 400, description = "invalid_parameter")),
    security(("bearer" = [])))]
pub async fn list(call: Call) -> Answer {
    let principal = call.require(policy::READ_NOTICES)?;
    let params: NoticeQuery = call.query()?;
    let provider = match own_provider(principal)? {
        Some(own) => {
            if params.provider.as_deref().is_some_and(|p| p != own) {
                return Err(ApiError::InvalidParameter(
                    "a provider key reads its own provider's notices only".into(),
                ));
            }
            own.to_string()
        }
        None => params.provider.ok_or_else(|| {
            ApiError::InvalidParameter("provider is required: the id of a provider".into())
        })?,
    };
    let status = query_one_of(
        "status",
        params.status.as_deref(),
        NoticeStatus::parse,
        "pending, delivered, acknowledged, overdue",
    )?;
    let limit = page_limit(params.limit, 100, 1000)?;
    let after = page_cursor(params.cursor.as_deref(), |c| Uuid::parse_str(c).ok())?;
    let query = NoticePageQuery {
        provider_id: provider.clone(),
        status,
        after,
        limit,
    };
    let page = call.provider_notices(query).await?;
    Ok(HttpResponse::Ok().json(NoticePageView {
        notices: page.notices.iter().map(NoticeView::from).collect(),
        next_cursor: page.next.map(|id| id.to_string()),
    }))
}

fn notice_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound(format!("no notice with id {text:?}")))
}

/// A notice the caller may see: provider keys only their own.
async fn visible(call: &Call, principal: &Principal, id: Uuid) -> Result<Notice, ApiError> {
    Ok(call.notice(own_provider(principal)?, id).await?)
}

/// One notice with its history.
#[utoipa::path(get, path = "/v1/notices/{id}", operation_id = "get_notice", tag = "notices",
    params(("id" = String, Path, description = "notice id")),
    responses((status = 200, body = NoticeView), (status = 404, description = "not_found")),
    security(("bearer" = [])))]
pub async fn get(call: Call, path: web::Path<String>) -> Answer {
    let principal = call.require(policy::READ_NOTICES)?;
    let notice = visible(&call, principal, notice_id(&path)?).await?;
    Ok(HttpResponse::Ok().json(NoticeView::from(&notice)))
}

/// Record that the provider carried the notice out. Acknowledging again changes nothing.
#[utoipa::path(post, path = "/v1/notices/{id}/ack", tag = "notices", request_body = Option<AckRequest>,
    params(("id" = String, Path, description = "notice id")),
    responses((status = 200, body = NoticeView), (status = 404, description = "not_found"),
              (status = 422, description = "invalid_note")),
    security(("bearer" = [])))]
pub async fn ack(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let principal = call.require_for(policy::ACK_NOTICES, &path)?;
    let body: AckRequest = call.json_or_default(payload).await?;
    let id = notice_id(&path)?;
    visible(&call, principal, id).await?;
    let note = super::trimmed(body.note);
    super::at_most(note.as_deref(), 2000, "invalid_note", || {
        "note is longer than 2000 characters".into()
    })?;
    let (notice, changed) = call.acknowledge(id, note).await?;
    if changed {
        tracing::info!(notice_id = %id, provider_id = %notice.provider_id, by = %principal.key_id, "notice acknowledged");
    }
    Ok(HttpResponse::Ok().json(NoticeView::from(&notice)))
}

/// Per provider: notices sent, delivered, acknowledged, overdue, and the median time to
/// acknowledge. It reads every notice of every provider: a report, not a hot path.
#[utoipa::path(get, path = "/v1/compliance", tag = "notices",
    responses((status = 200, body = ComplianceReport)), security(("bearer" = [])))]
pub async fn compliance(call: Call) -> Answer {
    call.require(policy::COMPLIANCE)?;
    let report = call.compliance().await?;
    Ok(HttpResponse::Ok().json(ComplianceReport {
        generated_at: crate::model::now().to_string(),
        providers: report,
    }))
}

/// The body of a webhook delivery: the Standard Webhooks envelope around the notice, in the
/// same shape as `GET /v1/notices/{id}`. The delivery worker is given this function at start.
pub fn webhook_body(notice: &Notice) -> Vec<u8> {
    let envelope = serde_json::json!({
        "type": format!("notice.{}", notice.action.as_str()),
        "timestamp": crate::model::now().to_string(),
        "data": NoticeView::from(notice),
    });
    // A `serde_json::Value` with string keys always encodes.
    serde_json::to_vec(&envelope).expect("a JSON value encodes")
}
