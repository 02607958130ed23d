//! `/v1/inbox`: what waits for the caller's organisation.

use crate::model::Timestamp;
use actix_web::HttpResponse;
use serde::Serialize;
use uuid::Uuid;

use crate::api::{Answer, Call};
use crate::auth::policy;
use crate::cases::Org;

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
    #[schema(value_type = String, format = DateTime)]
    pub since: Timestamp,
    /// Seconds since `since`.
    pub age_seconds: i64,
}

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
    let now = crate::model::now();
    let (org, items) = call.inbox(principal).await?;
    let items = items
        .into_iter()
        .map(|i| InboxItem {
            kind: i.kind,
            id: i.id,
            action: i.action,
            domain: i.domain,
            subject: i.subject,
            since: i.since,
            age_seconds: (now - i.since).whole_seconds(),
        })
        .collect();
    Ok(HttpResponse::Ok().json(Inbox { org, items }))
}
