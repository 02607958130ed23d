//! `/v1/entries`: listing a domain under a penalty decision, lifting it under a document, the
//! second key's review of a listing or a lift (four-eyes), and reading entries and a domain's
//! history.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Answer, ApiError, Call, one_of, page_cursor, page_limit, schema};
use crate::auth::policy;
use crate::domain::{Category, DateWindow, Decision, DecisionInput, DomainName, Scope};
use crate::model::{Entry, EntryStatus};
use crate::notices::model::{Notice, NoticeAction};
use crate::registry::{EntryFilter, Lifted, Listing, ReviewAsked, ReviewDecision, Subject};
use crate::store::StatusFilter;

/// Longest accepted `reason`, in characters.
const MAX_REASON: usize = 2000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEntryRequest {
    #[schema(required = true, schema_with = schema::listable_domain)]
    pub domain: Option<String>,
    #[schema(schema_with = schema::scope)]
    pub scope: Option<String>,
    #[schema(required = true, schema_with = schema::category)]
    pub category: Option<String>,
    #[schema(schema_with = schema::reason)]
    pub reason: Option<String>,
    /// The administrative penalty decision the listing rests on.
    #[schema(required = true, schema_with = schema::document)]
    pub decision: Option<DecisionInput>,
    /// Lists a protected name deliberately; national telecom keys only.
    pub override_protection: Option<OverrideRequest>,
    /// Ids of providers to notify besides those found by locating the site.
    #[schema(schema_with = schema::provider_ids)]
    pub providers: Option<Vec<String>>,
    /// `false`: the site is not located, and only the providers named are told (`true` by
    /// default; a node with `locate.on_listing = false` locates nothing). A listing waiting
    /// for review is located as the node locates listings when it is approved.
    pub locate: Option<bool>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideRequest {
    /// Why the protected name is listed all the same: 1 to 2,000 characters, checked when
    /// the name is protected.
    pub justification: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// The entry meant (the pending one, or the one whose lift is pending); when absent,
    /// whichever is pending for the domain.
    #[schema(format = "uuid")]
    pub entry_id: Option<String>,
    #[schema(schema_with = schema::reason)]
    pub reason: Option<String>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftEntryRequest {
    #[schema(schema_with = schema::reason)]
    pub reason: Option<String>,
    /// The written document that orders the lift.
    #[schema(required = true, schema_with = schema::document)]
    pub document: Option<DecisionInput>,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// `active`, `lifted`, `pending` (listings waiting for review) or `pending_lift` (active
    /// entries whose lift waits for approval); every entry when absent.
    #[param(schema_with = schema::entry_status)]
    status: Option<String>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page; absent or empty for the first.
    #[param(pattern = "^[0-9]{0,19}$")]
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct EntryPage {
    pub entries: Vec<Entry>,
    pub next_cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct DomainHistory {
    #[schema(value_type = String)]
    pub domain: DomainName,
    pub current: Option<Entry>,
    /// The entry waiting for review, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pending: Option<Entry>,
    pub history: Vec<Entry>,
}

pub fn reason(text: Option<String>) -> Result<String, ApiError> {
    let text = super::trimmed(text);
    super::at_most(text.as_deref(), MAX_REASON, "invalid_reason", || {
        format!("reason is longer than {MAX_REASON} characters")
    })?;
    Ok(text.unwrap_or_default())
}

/// Validates the fields of a listing request in the contract's order: domain, scope,
/// category, decision (dated within `dates`).
pub fn parse_listing(
    body: &CreateEntryRequest,
    dates: DateWindow,
) -> Result<(DomainName, Scope, Category, Decision, String), ApiError> {
    let domain = body
        .domain
        .as_deref()
        .ok_or_else(|| ApiError::invalid("invalid_domain", "domain is required"))?;
    let domain = DomainName::parse_listable(domain)?;
    let scope = match body.scope.as_deref() {
        None => Scope::Subtree,
        Some(text) => one_of(
            "scope",
            text,
            Scope::parse,
            "invalid_scope",
            "subtree, exact",
        )?,
    };
    let category = super::category(body.category.as_deref())?;
    let decision = decision(
        body.decision.clone(),
        "decision_required",
        "an entry needs the administrative penalty decision it rests on",
        "invalid_decision",
        dates,
    )?;
    Ok((
        domain,
        scope,
        category,
        decision,
        reason(body.reason.clone())?,
    ))
}

/// The listing a request asks for, its fields validated in the contract's order.
pub fn listing_of(body: CreateEntryRequest, dates: DateWindow) -> Result<Listing, ApiError> {
    let (domain, scope, category, decision, reason) = parse_listing(&body, dates)?;
    Ok(Listing {
        domain,
        scope,
        category,
        decision,
        reason,
        providers: body.providers.unwrap_or_default(),
        locate: body.locate.unwrap_or(true),
        override_protection: body
            .override_protection
            .map(|o| o.justification.unwrap_or_default()),
    })
}

/// The penalty decision a listing rests on, or the document that orders a lift: refused with
/// `required` and `why` when absent, with `invalid` when it does not parse or is not dated
/// within `dates`.
pub fn decision(
    value: Option<DecisionInput>,
    required: &'static str,
    why: &str,
    invalid: &'static str,
    dates: DateWindow,
) -> Result<Decision, ApiError> {
    let value = value.ok_or_else(|| ApiError::invalid(required, why))?;
    Decision::parse(value, dates).map_err(|e| ApiError::invalid(invalid, e.to_string()))
}

/// A notice written with a listing or lift, as its answer names it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct NoticeSummary {
    #[schema(value_type = String)]
    pub id: Uuid,
    pub provider_id: String,
    pub action: NoticeAction,
    pub deadline: String,
}

/// An entry with the notices its listing or lift wrote.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EntryWithNotices {
    #[serde(flatten)]
    pub entry: Entry,
    pub notices: Vec<NoticeSummary>,
}

fn with_notices(entry: Entry, notices: &[Notice]) -> EntryWithNotices {
    EntryWithNotices {
        entry,
        notices: notices
            .iter()
            .map(|n| NoticeSummary {
                id: n.id,
                provider_id: n.provider_id.clone(),
                action: n.action,
                deadline: n.deadline.to_string(),
            })
            .collect(),
    }
}

/// List a domain under a penalty decision.
#[utoipa::path(post, path = "/v1/entries", operation_id = "create_entry", tag = "entries", request_body = CreateEntryRequest,
    responses((status = 201, body = EntryWithNotices), (status = 409, description = "already_listed"),
              (status = 422, description = "invalid_domain, public_suffix, invalid_scope, invalid_category, decision_required, invalid_decision, protected_domain, unknown_provider")),
    security(("bearer" = [])))]
pub async fn create(call: Call, payload: web::Payload) -> Answer {
    let principal = call.require(policy::WRITE_ENTRIES)?;
    let body: CreateEntryRequest = call.json(payload).await?;
    if let Some(domain) = &body.domain {
        call.note(domain.clone(), "");
    }
    let listing = listing_of(body, call.document_dates())?;
    call.note(listing.domain.as_str(), "");
    let domain = listing.domain.clone();
    let (entry, written) = call.list(principal, listing).await?;
    if let Some(o) = &entry.protection_override {
        call.note(
            domain.as_str(),
            format!(
                "protection of {} overridden: {}",
                o.protected, o.justification
            ),
        );
    }
    tracing::info!(domain = %entry.domain, entry_id = %entry.id, seq = entry.seq, status = entry.status.as_str(), by = %principal.key_id, "entry submitted");
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/entries/{}", entry.domain)))
        .json(with_notices(entry, &written)))
}

/// Lift the active entry of a domain under a written document; with
/// `entries.require_lift_approval`, ask for the lift, which waits for a second key (`202`).
#[utoipa::path(post, path = "/v1/entries/{domain}/lift", tag = "entries", request_body = LiftEntryRequest,
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the listed domain")),
    responses((status = 200, body = EntryWithNotices, description = "lifted"),
              (status = 202, body = EntryWithNotices, description = "the lift waits for approval (`pending_lift`); nothing was lifted"),
              (status = 404, description = "not_listed"),
              (status = 403, description = "forbidden, out_of_province"),
              (status = 409, description = "suspended, lift_pending, entry_changed"),
              (status = 422, description = "invalid_domain, document_required, invalid_document")),
    security(("bearer" = [])))]
pub async fn lift(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let principal = call.require_for(policy::WRITE_ENTRIES, &path)?;
    let body: LiftEntryRequest = call.json(payload).await?;
    let domain = DomainName::parse(&path)?;
    let document = decision(
        body.document,
        "document_required",
        "lifting needs the written document that orders it",
        "invalid_document",
        call.document_dates(),
    )?;
    let reason = reason(body.reason)?;
    match call.lift(principal, &domain, document, reason).await? {
        Lifted::Done(entry, written) => {
            tracing::info!(domain = %entry.domain, entry_id = %entry.id, notices = written.len(), by = %principal.key_id, "entry lifted");
            Ok(HttpResponse::Ok().json(with_notices(entry, &written)))
        }
        Lifted::Requested(entry) => {
            call.note(
                domain.as_str(),
                "lift requested; waits for a second key's approval",
            );
            tracing::info!(domain = %entry.domain, entry_id = %entry.id, by = %principal.key_id, "lift requested");
            Ok(HttpResponse::Accepted().json(with_notices(entry, &[])))
        }
    }
}

async fn review(
    call: Call,
    path: web::Path<String>,
    payload: web::Payload,
    subject: Subject,
    approve: bool,
) -> Answer {
    let principal = call.require_for(policy::WRITE_ENTRIES, &path)?;
    let body: ReviewRequest = call.json_or_default(payload).await?;
    let domain = DomainName::parse(&path)?;
    let wanted = body
        .entry_id
        .as_deref()
        .map(|id| {
            Uuid::parse_str(id)
                .map_err(|_| ApiError::invalid("invalid_entry_id", "entry_id is not an entry id"))
        })
        .transpose()?;
    let reason = reason(body.reason)?;
    let decision = if approve {
        ReviewDecision::Approve
    } else {
        ReviewDecision::Reject
    };
    let asked = ReviewAsked {
        subject,
        domain,
        wanted,
        decision,
        reason,
    };
    let (entry, written) = call.review(principal, asked).await?;
    tracing::info!(domain = %entry.domain, entry_id = %entry.id, status = entry.status.as_str(), notices = written.len(), by = %principal.key_id, "entry reviewed");
    Ok(HttpResponse::Ok().json(with_notices(entry, &written)))
}

/// Approve the entry of a domain waiting for review; it is listed at once.
#[utoipa::path(post, path = "/v1/entries/{domain}/approve", tag = "entries", request_body = ReviewRequest,
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the domain")),
    responses((status = 200, body = Entry), (status = 404, description = "not_pending"),
              (status = 403, description = "forbidden, out_of_province")),
    security(("bearer" = [])))]
pub async fn approve(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    review(call, path, payload, Subject::Listing, true).await
}

/// Reject the entry of a domain waiting for review; it never takes effect.
#[utoipa::path(post, path = "/v1/entries/{domain}/reject", tag = "entries", request_body = ReviewRequest,
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the domain")),
    responses((status = 200, body = Entry), (status = 404, description = "not_pending"),
              (status = 403, description = "forbidden, out_of_province")),
    security(("bearer" = [])))]
pub async fn reject(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    review(call, path, payload, Subject::Listing, false).await
}

/// Approve the lift of a domain that waits for a second key; the entry is lifted at once,
/// with its restore notices.
#[utoipa::path(post, path = "/v1/entries/{domain}/lift/approve", tag = "entries", request_body = ReviewRequest,
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the domain")),
    responses((status = 200, body = EntryWithNotices), (status = 404, description = "not_pending"),
              (status = 403, description = "forbidden, out_of_province"),
              (status = 422, description = "invalid_domain, invalid_entry_id, invalid_reason")),
    security(("bearer" = [])))]
pub async fn approve_lift(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    review(call, path, payload, Subject::Lift, true).await
}

/// Reject the lift of a domain that waits for a second key; the entry stays listed and keeps
/// the rejected request in `rejected_lifts`.
#[utoipa::path(post, path = "/v1/entries/{domain}/lift/reject", tag = "entries", request_body = ReviewRequest,
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the domain")),
    responses((status = 200, body = EntryWithNotices), (status = 404, description = "not_pending"),
              (status = 403, description = "forbidden, out_of_province"),
              (status = 422, description = "invalid_domain, invalid_entry_id, invalid_reason")),
    security(("bearer" = [])))]
pub async fn reject_lift(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    review(call, path, payload, Subject::Lift, false).await
}

/// Have the site of a domain's active entry located again now, in the background (the entry's
/// `location` shows when); a provider found that was not told gets its stop notice.
#[utoipa::path(post, path = "/v1/entries/{domain}/locate", operation_id = "locate_entry", tag = "entries",
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the listed domain")),
    responses((status = 202, body = EntryWithNotices, description = "queued: the entry as it stands, `notices` empty"),
              (status = 404, description = "not_listed"),
              (status = 422, description = "invalid_domain")),
    security(("bearer" = [])))]
pub async fn locate(call: Call, path: web::Path<String>) -> Answer {
    let principal = call.require_for(policy::RELOCATE, &path)?;
    let domain = DomainName::parse(&path)?;
    let entry = call.relocate(&domain).await?;
    tracing::info!(domain = %entry.domain, entry_id = %entry.id, by = %principal.key_id, "locating again asked for");
    Ok(HttpResponse::Accepted().json(with_notices(entry, &[])))
}

/// A domain's current entry and its whole history.
#[utoipa::path(get, path = "/v1/entries/{domain}", operation_id = "get_entry", tag = "entries",
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the domain")),
    responses((status = 200, body = DomainHistory), (status = 404, description = "not_found")),
    security(("bearer" = [])))]
pub async fn get(call: Call, path: web::Path<String>) -> Answer {
    let principal = call.require(policy::READ_DOMAIN_ENTRIES)?;
    let domain = DomainName::parse(&path)?;
    let history = call.history_for(principal, &domain).await?;
    if history.is_empty() {
        return Err(ApiError::NotFound(format!(
            "{domain} has never been listed"
        )));
    }
    let current = history
        .iter()
        .rev()
        .find(|e| matches!(e.status, EntryStatus::Active | EntryStatus::Suspended))
        .cloned();
    let pending = history
        .iter()
        .rev()
        .find(|e| e.status == EntryStatus::Pending)
        .cloned();
    Ok(HttpResponse::Ok().json(DomainHistory {
        domain,
        current,
        pending,
        history,
    }))
}

/// Entries in listing order, a page at a time.
#[utoipa::path(get, path = "/v1/entries", operation_id = "list_entries", tag = "entries",
    params(ListQuery),
    responses((status = 200, body = EntryPage), (status = 400, description = "invalid_parameter")),
    security(("bearer" = [])))]
pub async fn list(call: Call) -> Answer {
    call.require(policy::READ_ENTRIES)?;
    let params: ListQuery = call.query()?;
    let filter = match params.status.as_deref() {
        None => EntryFilter::Stored(StatusFilter::All),
        Some("active") => EntryFilter::Stored(StatusFilter::Active),
        Some("lifted") => EntryFilter::Stored(StatusFilter::Lifted),
        Some("pending") => EntryFilter::Pending,
        Some("pending_lift") => EntryFilter::PendingLift,
        Some(other) => {
            return Err(ApiError::InvalidParameter(format!(
                "status {other:?} is not one of active, lifted, pending, pending_lift"
            )));
        }
    };
    let limit = page_limit(params.limit, 100, 1000)?;
    let after = page_cursor(params.cursor.as_deref(), |c| c.parse().ok())?.unwrap_or(0);
    let (entries, next) = call.entries(filter, after, limit).await?;
    Ok(HttpResponse::Ok().json(EntryPage {
        entries,
        next_cursor: next.map(|n| n.to_string()),
    }))
}
