//! `/v1/protected`: names that must never be cut off. Configured names
//! (`protection.names`) are listed beside those admins add here; only the latter can be
//! removed through the API.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Answer, ApiError, Call};
use crate::auth::policy;
use crate::domain::DomainName;
use crate::model::ProtectedName;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProtectRequest {
    #[schema(required = true, schema_with = super::schema::any_domain)]
    pub domain: Option<String>,
    pub note: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProtectedList {
    pub names: Vec<ProtectedName>,
}

/// Every protected name.
#[utoipa::path(get, path = "/v1/protected", operation_id = "list_protected", tag = "protection", responses((status = 200, body = ProtectedList)),
    security(("bearer" = [])))]
pub async fn list(call: Call) -> Answer {
    call.require(policy::READ_PROTECTED)?;
    let mut names = call.protected_names().await?;
    names.sort_by(|a, b| a.domain.cmp(&b.domain));
    Ok(HttpResponse::Ok().json(ProtectedList { names }))
}

/// Protect a name (and everything below it).
#[utoipa::path(post, path = "/v1/protected", tag = "protection", request_body = ProtectRequest,
    responses((status = 201, body = ProtectedName), (status = 409, description = "already_protected"),
              (status = 422, description = "invalid_domain")),
    security(("bearer" = [])))]
pub async fn add(call: Call, payload: web::Payload) -> Answer {
    let admin = call.require(policy::MANAGE_PROTECTED)?;
    let body: ProtectRequest = call.json(payload).await?;
    if let Some(domain) = &body.domain {
        call.note(domain.clone(), "");
    }
    let (domain, note) = protect_request(body)?;
    let name = call.protect(admin, domain, &note).await?;
    Ok(HttpResponse::Created().json(name))
}

/// The name and note a protection request gives: the rules of `POST /v1/protected`, which
/// the console's form follows too.
pub fn protect_request(body: ProtectRequest) -> Result<(DomainName, String), ApiError> {
    let domain = body
        .domain
        .ok_or_else(|| ApiError::invalid("invalid_domain", "domain is required"))?;
    let domain = DomainName::parse(&domain)?;
    Ok((domain, body.note.unwrap_or_default()))
}

/// Remove a name added through the API.
#[utoipa::path(delete, path = "/v1/protected/{domain}", tag = "protection",
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the protected name")),
    responses((status = 204), (status = 404, description = "not_found")),
    security(("bearer" = [])))]
pub async fn remove(call: Call, path: web::Path<String>) -> Answer {
    call.require_for(policy::MANAGE_PROTECTED, &path)?;
    let domain = DomainName::parse(&path)?;
    call.unprotect(&domain).await?;
    Ok(HttpResponse::NoContent().finish())
}
