//! `/v1/inbox`: what waits for the caller's organisation.

use actix_web::HttpResponse;
use serde::Serialize;

use crate::api::{Answer, Call};
use crate::auth::policy;
use crate::cases::Org;
use crate::registry::InboxItem;

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
