//! The HTTP API: routes, request parsing and response shapes. This is the only module that
//! knows the JSON of the external contract (`../shared/API.md`). Every handler authenticates
//! first, checks its role policy explicitly, then parses its input, in that order.

pub mod check;
pub mod entries;
pub mod error;
pub mod feed;
pub mod keys;
pub mod notices;
pub mod ops;
pub mod providers;

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::auth::Principal;
use crate::domain::Role;
use crate::registry::Registry;
pub use error::ApiError;

pub type State = web::Data<Registry>;

/// The authenticated caller of a request. Extracting it fails with `401` when the bearer token
/// is missing or unknown; the role check is each handler's explicit `require`.
pub struct Caller(pub Arc<Principal>);

impl Caller {
    /// Allows the request only for the given roles.
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        if roles.contains(&self.0.role) {
            Ok(&self.0)
        } else {
            Err(ApiError::Forbidden)
        }
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Caller, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, ApiError> {
    let registry = req
        .app_data::<State>()
        .ok_or_else(|| ApiError::Internal("registry missing from app data".into()))?;
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::Unauthenticated)?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or(ApiError::Unauthenticated)?;
    registry
        .auth
        .authenticate(token)
        .map(Caller)
        .ok_or(ApiError::Unauthenticated)
}

/// Reads a JSON body of at most `limit` bytes and parses it; called after the role check so
/// that an unauthorised caller never learns how its body would have been judged.
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidJson(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    if body.is_empty() {
        return Err(ApiError::InvalidJson(
            "the request body is empty; a JSON object is expected".into(),
        ));
    }
    serde_json::from_slice(&body).map_err(|e| ApiError::InvalidJson(format!("malformed JSON: {e}")))
}

/// Parses the query string into `T`, mapping every failure to `400 invalid_parameter`.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::InvalidParameter(format!("bad query parameter: {e}")))
}

/// Every route of the service. Checks come first and dynamic paths last: actix tries the
/// routes in order, and a path with a `{parameter}` costs a regular-expression match.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let not_allowed =
        || web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed) });
    cfg.service(
        web::resource("/v1/check")
            .route(web::get().to(check::one))
            .route(web::post().to(check::batch))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/healthz")
            .route(web::get().to(ops::healthz))
            .default_service(not_allowed()),
    )
    // Only the bulk answers are worth compressing; checks are small and latency-bound.
    .service(
        web::resource("/v1/feed")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(feed::feed))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/snapshot")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(feed::snapshot))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/rpz")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(feed::rpz))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(ops::readyz))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(ops::metrics))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/openapi.json")
            .route(web::get().to(ops::openapi))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/entries")
            .route(web::post().to(entries::create))
            .route(web::get().to(entries::list))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/keys")
            .route(web::post().to(keys::create))
            .route(web::get().to(keys::list))
            .default_service(not_allowed()),
    )
    .configure(notice_routes)
    .service(
        web::resource("/v1/keys/{id}")
            .route(web::delete().to(keys::revoke))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/entries/{domain}/lift")
            .route(web::post().to(entries::lift))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/entries/{domain}")
            .route(web::get().to(entries::get))
            .default_service(not_allowed()),
    )
    .default_service(web::to(|| async {
        Err::<actix_web::HttpResponse, _>(ApiError::NotFound("no such path".into()))
    }));
}

/// Routes of providers, locating and notices; static paths here come before the dynamic
/// paths of `routes`, and their own dynamic paths come last among them.
fn notice_routes(cfg: &mut web::ServiceConfig) {
    let not_allowed =
        || web::to(|| async { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed) });
    cfg.service(
        web::resource("/v1/providers")
            .route(web::post().to(providers::create))
            .route(web::get().to(providers::list))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/locate")
            .route(web::get().to(notices::locate))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/notices")
            .route(web::get().to(notices::list))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/compliance")
            .route(web::get().to(notices::compliance))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/providers/{id}")
            .route(web::get().to(providers::get))
            .route(web::patch().to(providers::update))
            .route(web::delete().to(providers::delete))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/notices/{id}/ack")
            .route(web::post().to(notices::ack))
            .default_service(not_allowed()),
    )
    .service(
        web::resource("/v1/notices/{id}")
            .route(web::get().to(notices::get))
            .default_service(not_allowed()),
    );
}

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "siteban", description = "Shared national registry of illegal online-trading websites"),
    paths(
        keys::create, keys::list, keys::revoke,
        entries::create, entries::list, entries::get, entries::lift,
        check::one, check::batch,
        feed::feed, feed::snapshot, feed::rpz,
        ops::healthz, ops::readyz, ops::metrics,
        providers::create, providers::list, providers::get, providers::update, providers::delete,
        notices::locate, notices::list, notices::get, notices::ack, notices::compliance,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
