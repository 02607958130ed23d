//! `/v1/inbox`: what waits for the caller's organisation, and `/v1/inbox/webhook`, the
//! organisation's own webhook that is told of each new item.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use crate::api::providers::webhook_url;
use crate::api::{Answer, ApiError, Call, schema};
use crate::auth::policy;
use crate::cases::Org;
use crate::cases::subscription::OrgWebhook;
use crate::model::Timestamp;
use crate::notices::webhook;
use crate::registry::{InboxItem, WebhookChange};

#[derive(Serialize, utoipa::ToSchema)]
pub struct Inbox {
    #[schema(value_type = String, example = "ca:11")]
    pub org: Org,
    pub items: Vec<InboxItem>,
}

/// What waits for the caller's organisation, oldest first.
#[utoipa::path(get, path = "/v1/inbox", tag = "cases",
    responses((status = 200, body = Inbox), (status = 403, description = "forbidden: the key speaks for no organisation")),
    security(("bearer" = [])))]
pub async fn inbox(call: Call) -> Answer {
    let principal = call.require(policy::ACT_ON_CASES)?;
    let (org, items) = call.inbox(principal).await?;
    Ok(HttpResponse::Ok().json(Inbox { org, items }))
}

/// The body of `PUT /v1/inbox/webhook`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InboxWebhookRequest {
    #[schema(required = true, schema_with = schema::inbox_webhook_url)]
    pub url: Option<String>,
    /// Issue a new secret (shown in this answer only); a first registration always gets one.
    #[serde(default)]
    pub rotate_secret: bool,
}

/// An organisation's inbox webhook.
#[derive(Serialize, utoipa::ToSchema)]
pub struct InboxWebhook {
    #[schema(value_type = String, example = "ca:11")]
    pub org: Org,
    pub url: String,
    /// `whsec_...`: present only in the answer to a registration or a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: Timestamp,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: Timestamp,
}

fn view(hook: OrgWebhook, show_secret: bool) -> InboxWebhook {
    InboxWebhook {
        org: hook.org,
        url: hook.url.unwrap_or_default(),
        webhook_secret: show_secret.then(|| webhook::shown(hook.secret.expose())),
        created_at: hook.created_at,
        updated_at: hook.updated_at,
    }
}

/// The caller's organisation's inbox webhook.
#[utoipa::path(get, path = "/v1/inbox/webhook", operation_id = "get_inbox_webhook", tag = "cases",
    responses((status = 200, body = InboxWebhook), (status = 404, description = "not_found: the organisation has no inbox webhook")),
    security(("bearer" = [])))]
pub async fn get_webhook(call: Call) -> Answer {
    let principal = call.require(policy::ACT_ON_CASES)?;
    let (_, hook) = call.org_webhook(principal).await?;
    Ok(HttpResponse::Ok().json(view(hook, false)))
}

/// Register or change the caller's organisation's inbox webhook: each new inbox item is
/// posted to it, signed like providers' notices. The secret is in the answer to a
/// registration or a rotation only.
#[utoipa::path(put, path = "/v1/inbox/webhook", operation_id = "put_inbox_webhook", tag = "cases", request_body = InboxWebhookRequest,
    responses((status = 200, body = InboxWebhook), (status = 201, body = InboxWebhook),
              (status = 422, description = "url_required, invalid_webhook_url")),
    security(("bearer" = [])))]
pub async fn put_webhook(call: Call, payload: web::Payload) -> Answer {
    let principal = call.require(policy::ACT_ON_CASES)?.clone();
    let body: InboxWebhookRequest = call.json(payload).await?;
    let url = webhook_url(body.url)?
        .ok_or_else(|| ApiError::invalid("url_required", "url is required"))?;
    let change = WebhookChange {
        url,
        rotate_secret: body.rotate_secret,
    };
    let (hook, created) = call.put_org_webhook(&principal, change).await?;
    call.note(hook.org.to_string(), hook.url.clone().unwrap_or_default());
    let show = created || body.rotate_secret;
    let mut answer = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(answer.json(view(hook, show)))
}

/// Remove the caller's organisation's inbox webhook.
#[utoipa::path(delete, path = "/v1/inbox/webhook", operation_id = "delete_inbox_webhook", tag = "cases",
    responses((status = 204), (status = 404, description = "not_found: the organisation has no inbox webhook")),
    security(("bearer" = [])))]
pub async fn delete_webhook(call: Call) -> Answer {
    let principal = call.require(policy::ACT_ON_CASES)?;
    call.delete_org_webhook(principal).await?;
    Ok(HttpResponse::NoContent().finish())
}
