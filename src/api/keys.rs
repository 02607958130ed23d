//! `/v1/keys`: the admin's management of API keys. A token is shown once, at creation; only
//! its SHA-256 is stored.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Answer, ApiError, Call, one_of};
use crate::auth::{hash_token, new_key_id, new_token, policy};
use crate::domain::{Province, Role};
use crate::model::KeyRecord;
use crate::registry::Registry;

/// The body of `POST /v1/keys`; its document is [`super::schema::key_request`], one shape for
/// provider keys (which name their provider) and one for the other roles.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    pub name: Option<String>,
    pub role: Option<String>,
    pub province: Option<String>,
    /// RFC 3339 time after which the token stops working.
    pub expires_at: Option<String>,
    /// The provider an `access_provider` or `dns_provider` key speaks for (required for them).
    pub provider_id: Option<String>,
}

super::schema::documented_as!(CreateKeyRequest => super::schema::key_request());

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    /// Present only in the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub name: String,
    #[schema(value_type = String)]
    pub role: Role,
    #[schema(value_type = Option<String>)]
    pub province: Option<Province>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider_id: Option<String>,
    pub created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyList {
    pub keys: Vec<KeyView>,
}

pub fn view(record: &KeyRecord, token: Option<String>) -> KeyView {
    KeyView {
        id: record.id.clone(),
        token,
        name: record.name.clone(),
        role: record.role,
        province: record.province,
        provider_id: record.provider_id.clone(),
        created_at: record.created_at.to_string(),
        expires_at: record.expires_at.as_ref().map(ToString::to_string),
    }
}

/// Create a key; the token is in this answer only.
#[utoipa::path(post, path = "/v1/keys", operation_id = "create_key", tag = "keys", request_body = CreateKeyRequest,
    responses((status = 201, body = KeyView), (status = 422, description = "invalid_name, invalid_role, invalid_province, provider_required, unknown_provider, invalid_provider")),
    security(("bearer" = [])))]
pub async fn create(call: Call, payload: web::Payload) -> Answer {
    let admin = call.require(policy::MANAGE_KEYS)?;
    let body: CreateKeyRequest = call.large_json(payload).await?;
    let (record, token) = new_key(&call, body).await?;
    call.note(record.id.as_str(), format!("role {}", record.role.as_str()));
    call.create_key(record.clone()).await?;
    tracing::info!(key_id = %record.id, role = record.role.as_str(), by = %admin.key_id, "key created");
    Ok(HttpResponse::Created().json(view(&record, Some(token))))
}

/// The key a creation request describes, with its token (not yet stored): the rules of
/// `POST /v1/keys`, which the console's form follows too.
pub async fn new_key(
    registry: &Registry,
    body: CreateKeyRequest,
) -> Result<(KeyRecord, String), ApiError> {
    let name = super::display_name(body.name)?;
    let role = one_of(
        "role",
        &body.role.unwrap_or_default(),
        Role::parse,
        "invalid_role",
        "admin, agency, telecom, access_provider, dns_provider, auditor",
    )?;
    let province = body
        .province
        .map(|p| Province::parse(&p))
        .transpose()
        .map_err(|e| ApiError::invalid("invalid_province", e.to_string()))?;
    let now = crate::model::now();
    let max_days = registry.settings.auth.key_max_days;
    let latest = (max_days > 0).then(|| now + time::Duration::days(max_days.into()));
    let expires_at = match body.expires_at.as_deref() {
        None => latest,
        Some(text) => {
            let at: crate::model::Timestamp =
                time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
                    .map_err(|_| {
                        ApiError::invalid("invalid_expiry", "expires_at is not an RFC 3339 time")
                    })?
                    .into();
            if at <= now {
                return Err(ApiError::invalid(
                    "invalid_expiry",
                    "expires_at is in the past",
                ));
            }
            if latest.is_some_and(|latest| at > latest) {
                return Err(ApiError::invalid(
                    "invalid_expiry",
                    format!("expires_at is more than auth.key_max_days ({max_days}) away"),
                ));
            }
            Some(at)
        }
    };
    let provider_id = registry.key_provider(role, body.provider_id).await?;
    let token = new_token();
    let record = KeyRecord {
        id: new_key_id(),
        name,
        role,
        province,
        token_sha256: hex::encode(hash_token(&token)),
        provider_id,
        created_at: now,
        expires_at,
    };
    Ok((record, token))
}

/// Every key, without tokens.
#[utoipa::path(get, path = "/v1/keys", operation_id = "list_keys", tag = "keys", responses((status = 200, body = KeyList)),
    security(("bearer" = [])))]
pub async fn list(call: Call) -> Answer {
    call.require(policy::MANAGE_KEYS)?;
    let keys = call.keys().await?;
    Ok(HttpResponse::Ok().json(KeyList {
        keys: keys.iter().map(|k| view(k, None)).collect(),
    }))
}

/// Revoke a key; its token stops working at once.
#[utoipa::path(delete, path = "/v1/keys/{id}", tag = "keys",
    params(("id" = String, Path, description = "key id")),
    responses((status = 204), (status = 404, description = "not_found")),
    security(("bearer" = [])))]
pub async fn revoke(call: Call, path: web::Path<String>) -> Answer {
    let admin = call.require_for(policy::MANAGE_KEYS, &path)?;
    call.revoke_key(&path).await?;
    tracing::info!(key_id = %path, by = %admin.key_id, "key revoked");
    Ok(HttpResponse::NoContent().finish())
}
