//! `GET /v1/audit`: pages through the tamper-evident audit log (see `crate::audit`).

use actix_web::HttpResponse;
use serde::{Deserialize, Serialize};

use super::{Answer, Call};
use crate::audit::AuditRecord;
use crate::auth::policy;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// The last seq already read; default 0.
    #[param(schema_with = super::schema::sequence)]
    after: Option<u64>,
    /// 1 to 1000, default 100.
    #[param(minimum = 1, maximum = 1000)]
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
#[utoipa::path(get, path = "/v1/audit", operation_id = "list_audit", tag = "audit",
    params(AuditQuery),
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
