//! Operations endpoints, open without a token: liveness, readiness, metrics and the OpenAPI
//! document.

use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;
use utoipa::OpenApi;

use super::{ApiDoc, ApiError, State};

/// 200 while the process runs.
#[utoipa::path(get, path = "/healthz", tag = "operations", responses((status = 200)))]
pub async fn healthz(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    operations(&req)?;
    Ok(HttpResponse::Ok().json(json!({"status": "ok"})))
}

/// Health, readiness and metrics take no token: they spend the client address's allowance
/// for them, apart from the anonymous quota that bad tokens spend.
fn operations(req: &HttpRequest) -> Result<(), ApiError> {
    Ok(super::limits(req)?.check_operations(req.peer_addr().map(|a| a.ip()))?)
}

/// The OpenAPI document takes no token: it spends the address's anonymous quota.
fn anonymous(req: &HttpRequest) -> Result<(), ApiError> {
    Ok(super::limits(req)?.check_anonymous(req.peer_addr().map(|a| a.ip()))?)
}

/// 200 when the store answers and the index has caught up with the feed; 503 with the reason
/// otherwise (checks are still answered from memory then).
#[utoipa::path(get, path = "/readyz", tag = "operations", responses((status = 200), (status = 503)))]
pub async fn readyz(state: State, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    operations(&req)?;
    let seq = state.index.seq();
    Ok(match state.readiness().await {
        // A mirror also says how long ago its upstream last confirmed what it serves.
        Ok(()) if state.settings.mirror.enabled() => HttpResponse::Ok().json(json!({
            "status": "ready",
            "seq": seq,
            "stale_seconds": state.health.stale_for().as_secs(),
        })),
        Ok(()) => HttpResponse::Ok().json(json!({"status": "ready", "seq": seq})),
        Err(reason) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "not_ready",
            "reason": reason,
            "seq": seq,
            "stale": true,
        })),
    })
}

/// Prometheus text exposition.
#[utoipa::path(get, path = "/metrics", tag = "operations", responses((status = 200, content_type = "text/plain")))]
pub async fn metrics(state: State, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    operations(&req)?;
    state.refresh_gauges();
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(state.metrics.render()))
}

pub async fn openapi(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    anonymous(&req)?;
    Ok(HttpResponse::Ok().json(ApiDoc::openapi()))
}
