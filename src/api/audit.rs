//! `GET /v1/audit`: pages through the tamper-evident audit log (see `crate::audit`).

use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};

use super::{Answer, Call};
use crate::audit::AuditRecord;
use crate::auth::policy;

#[derive(Deserialize)]
struct AuditQuery {
    after: Option<u64>,
    limit: Option<usize>,
}

/// A page of the log; the command line's `--url` reads it back (`crate::remote`).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub records: Vec<AuditRecord>,
    /// The seq of the last record returned, or `after` when there is none.
    pub next: u64,
}

/// Audit records after `after`, oldest first.
#[utoipa::path(get, path = "/v1/audit", tag = "audit",
    params(("after" = Option<u64>, Query, description = "last seq already read, default 0"),
           ("limit" = Option<usize>, Query, description = "1 to 1000, default 100")),
    responses((status = 200, body = AuditPage)),
    security(("bearer" = [])))]
pub async fn list(call: Call) -> Answer {
    call.require(policy::READ_AUDIT)?;
    let params: AuditQuery = call.query()?;
    let after = params.after.unwrap_or(0);
    let limit = super::page_limit(params.limit, 100, 1000)?;
    let records = call.audit_records(after, limit).await?;
    let next = records.last().map_or(after, |r| r.seq);
    Ok(HttpResponse::Ok().json(AuditPage { records, next }))
}
