//! The HTTP API: routes, request parsing and response shapes. This is the only module that
//! knows the JSON of the external contract (`docs/api.md`). Every handler authenticates
//! first, checks its role policy explicitly, then parses its input, in that order.

pub mod audit;
pub mod cases;
pub mod check;
pub mod documents;
pub mod entries;
pub mod error;
pub mod feed;
pub mod keys;
pub mod limits;
pub mod log;
pub mod notices;
pub mod ops;
pub mod protected;
pub mod providers;
pub mod public;
pub mod records;
pub mod schema;

use std::sync::Arc;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

use crate::auth::Principal;
use crate::domain::{Category, DateWindow, Role};
use crate::registry::Registry;
pub use error::ApiError;

pub type State = web::Data<Registry>;

/// What every authenticated handler starts from: the caller (authenticated, its quota spent),
/// this node's registry (the `Deref` target, so use cases read as `call.list(…)`) and the
/// request, for its body, query and audit note. The role check stays each handler's explicit
/// `call.require(…)`, made before any input is read.
pub struct Call {
    principal: Arc<Principal>,
    pub state: State,
    pub req: HttpRequest,
}

/// What a handler answers.
pub type Answer = Result<actix_web::HttpResponse, ApiError>;

impl Call {
    /// Allows the request only for the given roles.
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ApiError> {
        if roles.contains(&self.principal.role) {
            Ok(&self.principal)
        } else {
            Err(ApiError::Forbidden)
        }
    }

    /// Allows the request only for the given roles, then records `target` (the id the path
    /// names) as the request's target for the audit log.
    pub fn require_for(&self, roles: &[Role], target: &str) -> Result<&Principal, ApiError> {
        let principal = self.require(roles)?;
        self.note(target, "");
        Ok(principal)
    }

    /// Resolves when the caller's token stops authenticating (revoked or expired): a request
    /// that waits races its wait against this.
    pub async fn key_ends(&self) {
        if let Some(token) = token(&self.req) {
            self.auth.until_invalid(token).await;
        }
    }

    /// Whether the caller's token no longer authenticates.
    pub fn key_ended(&self) -> bool {
        token(&self.req)
            .and_then(|t| self.auth.authenticate(t))
            .is_none()
    }

    /// Records the target (and detail) of this request for the audit log.
    pub fn note(&self, target: impl Into<String>, detail: impl Into<String>) {
        note(&self.req, target, detail);
    }

    /// Reads a JSON body of at most `limits.write_body_bytes` (see [`read_json`]).
    pub async fn json<T: DeserializeOwned>(&self, payload: web::Payload) -> Result<T, ApiError> {
        read_json(&self.req, payload, self.settings.limits.write_body_bytes).await
    }

    /// Reads a JSON body of at most `server.body_limit_bytes`, the original contract's limit,
    /// which batch checks, keys and providers keep (see [`read_json`]).
    pub async fn large_json<T: DeserializeOwned>(
        &self,
        payload: web::Payload,
    ) -> Result<T, ApiError> {
        read_json(&self.req, payload, self.settings.server.body_limit_bytes).await
    }

    /// Like [`Call::json`], an empty body standing for the default value.
    pub async fn json_or_default<T: DeserializeOwned + Default>(
        &self,
        payload: web::Payload,
    ) -> Result<T, ApiError> {
        read_json_or_default(&self.req, payload, self.settings.limits.write_body_bytes).await
    }

    /// The dates a document in this request may bear: from `documents.earliest_date` to
    /// today in China.
    pub fn document_dates(&self) -> DateWindow {
        DateWindow::until_today(self.settings.documents.earliest_date)
    }

    /// The query string parsed into `T` (see [`query`]).
    pub fn query<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        query(&self.req)
    }
}

impl std::ops::Deref for Call {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        &self.state
    }
}

impl FromRequest for Call {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Call, ApiError>>;

    /// Fails with `401` when the bearer token is missing or unknown, `429` when over a quota;
    /// the role check is each handler's explicit `require`.
    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(authenticate(req))
    }
}

/// The feed sequence an answer reflects. A constant, so that the hot path does not parse the
/// header name on every check.
pub const SEQ_HEADER: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("x-blacklist-seq");

/// The transparency log's tree size an answer matches (`/v1/log/checkpoint`, `/v1/snapshot`,
/// `/v1/rpz`): the feed sequence it reflects, which is the number of the log's leaves.
pub const LOG_SIZE_HEADER: actix_web::http::header::HeaderName =
    actix_web::http::header::HeaderName::from_static("x-log-size");

fn authenticate(req: &HttpRequest) -> Result<Call, ApiError> {
    let state = req
        .app_data::<State>()
        .ok_or_else(|| ApiError::Internal("registry missing from app data".into()))?;
    let limits = limits(req)?;
    match principal(req, state) {
        Some(principal) => {
            limits.check(&principal)?;
            // The audit middleware reads who made a state-changing request from here; reads
            // (the hot path) skip the allocation.
            if !matches!(
                *req.method(),
                actix_web::http::Method::GET | actix_web::http::Method::HEAD
            ) {
                req.extensions_mut().insert(Arc::clone(&principal));
            }
            Ok(Call {
                principal,
                state: state.clone(),
                req: req.clone(),
            })
        }
        None => {
            // Guessing tokens costs the guesser's address its anonymous quota.
            limits.check_anonymous(req.peer_addr().map(|a| a.ip()))?;
            Err(ApiError::Unauthenticated)
        }
    }
}

/// This server's rate limits (the API's own, kept beside the registry in the app data).
pub(crate) fn limits(req: &HttpRequest) -> Result<&limits::Limits, ApiError> {
    req.app_data::<web::Data<limits::Limits>>()
        .map(|l| l.get_ref())
        .ok_or_else(|| ApiError::Internal("limits missing from app data".into()))
}

fn principal(req: &HttpRequest, registry: &Registry) -> Option<Arc<Principal>> {
    match token(req) {
        Some(token) => registry.auth.authenticate(token),
        None => registry.auth.anonymous(),
    }
}

/// The bearer token a request presents.
fn token(req: &HttpRequest) -> Option<&str> {
    let header = req
        .headers()
        .get(actix_web::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    crate::auth::bearer_token(header)
}

/// What a state-changing request did, for its audit record: set by the handler once it knows
/// the target (a domain, a key id) and anything worth keeping beside it.
#[derive(Debug, Clone, Default)]
pub struct AuditNote {
    pub target: String,
    pub detail: String,
}

/// Whether every answer of `route` carries `X-Blacklist-Seq`, errors included (the contract's
/// routes that answer from the index). Handlers set it on their own answers; `startup`'s
/// middleware adds it to the others.
pub fn carries_seq(route: &str) -> bool {
    matches!(route, "/v1/check" | "/v1/feed" | "/v1/snapshot")
}

/// The audit action of a request, or `None` for requests that change nothing (reads, and
/// batch checks, which are POSTs only to carry their names).
pub fn audit_action(method: &str, route: &str) -> Option<String> {
    let action = match (method, route) {
        ("GET" | "HEAD" | "OPTIONS", _) | ("POST", "/v1/check") => return None,
        ("POST", "/v1/entries") => "entry.submit",
        ("POST", "/v1/entries/{domain}/lift") => "entry.lift",
        ("POST", "/v1/entries/{domain}/approve") => "entry.approve",
        ("POST", "/v1/entries/{domain}/reject") => "entry.reject",
        ("POST", "/v1/entries/{domain}/lift/approve") => "entry.lift_approve",
        ("POST", "/v1/entries/{domain}/lift/reject") => "entry.lift_reject",
        ("POST", "/v1/entries/{domain}/locate") => "entry.locate",
        ("POST", "/v1/keys") => "key.create",
        ("DELETE", "/v1/keys/{id}") => "key.revoke",
        ("POST", "/v1/protected") => "protected.add",
        ("DELETE", "/v1/protected/{domain}") => "protected.remove",
        ("POST", "/v1/providers") => "provider.create",
        ("PATCH", "/v1/providers/{id}") => "provider.update",
        ("DELETE", "/v1/providers/{id}") => "provider.delete",
        ("POST", "/v1/notices/{id}/ack") => "notice.ack",
        ("POST", "/v1/cases") => "case.open",
        ("POST", "/v1/cases/{id}/accept") => "case.accept",
        ("POST", "/v1/cases/{id}/return") => "case.return",
        ("POST", "/v1/cases/{id}/forward") => "case.forward",
        ("POST", "/v1/cases/{id}/suspension-request") => "case.request_suspension",
        ("POST", "/v1/cases/{id}/suspend") => "case.suspend",
        ("POST", "/v1/cases/{id}/decision") => "case.submit_decision",
        ("POST", "/v1/cases/{id}/close") => "case.close",
        ("POST", "/v1/cases/{id}/withdraw") => "case.withdraw",
        ("PUT", "/v1/inbox/webhook") => "inbox_webhook.put",
        ("DELETE", "/v1/inbox/webhook") => "inbox_webhook.delete",
        ("POST", "/v1/referrals") => "referral.send",
        ("POST", "/v1/referrals/{id}/{step}") => "referral.step",
        ("PUT", "/v1/registrations/{uscc}") => "registration.put",
        ("POST", "/v1/registrations/import") => "registration.import",
        ("PUT", "/v1/recordals/{icp_number}") => "recordal.put",
        ("POST", "/v1/recordals/import") => "recordal.import",
        ("POST", "/v1/documents") => "document.upload",
        (method, route) => return Some(format!("{method} {route}")),
    };
    Some(action.to_string())
}

/// Records the target (and detail) of this request for the audit log.
pub fn note(req: &HttpRequest, target: impl Into<String>, detail: impl Into<String>) {
    req.extensions_mut().insert(AuditNote {
        target: target.into(),
        detail: detail.into(),
    });
}

/// Reads a JSON body of at most `limit` bytes and parses it; called after the role check so
/// that an unauthorised caller never learns how its body would have been judged.
pub async fn read_json<T: DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let body = read_body(req, payload, limit).await?;
    if body.is_empty() {
        return Err(ApiError::InvalidJson(
            "the request body is empty; a JSON object is expected".into(),
        ));
    }
    declared_json(req)?;
    parse_json(&body)
}

/// Like `read_json`, but an empty (or blank) body stands for the default value, for requests
/// whose fields are all optional.
pub async fn read_json_or_default<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<T, ApiError> {
    let body = read_body(req, payload, limit).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    declared_json(req)?;
    parse_json(&body)
}

/// Refuses a body not declared as JSON with `415 unsupported_media_type`. Judged only once
/// there is a body: a client that sends none to an endpoint whose body is optional (`curl -X
/// POST`) declares no type, and need not.
fn declared_json(req: &HttpRequest) -> Result<(), ApiError> {
    let declared = req.headers().get(actix_web::http::header::CONTENT_TYPE);
    match declared.map(|v| v.to_str()) {
        Some(Ok(value)) if is_json(value) => Ok(()),
        Some(Ok(value)) => Err(ApiError::UnsupportedMediaType(format!(
            "the body is declared {value:?}; send it as application/json"
        ))),
        Some(Err(_)) => Err(ApiError::UnsupportedMediaType(
            "the Content-Type header is not readable; send the body as application/json".into(),
        )),
        None => Err(ApiError::UnsupportedMediaType(
            "the body has no Content-Type; send it as application/json".into(),
        )),
    }
}

/// Whether a `Content-Type` names JSON: `application/json` or a structured `+json` type
/// (RFC 6839, `application/merge-patch+json`), in any case and with any parameters.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.strip_prefix("application/") {
        Some(subtype) => {
            subtype == "json" || subtype.strip_suffix("+json").is_some_and(|s| !s.is_empty())
        }
        None => false,
    }
}

/// Parses a request body (or a line of `siteban import`): a field no request of the kind has
/// is `422 unknown_field` naming it, anything else the JSON parser refuses `400 invalid_json`.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| match unknown_field(&e) {
        Some(message) => ApiError::invalid("unknown_field", message),
        None => ApiError::InvalidJson(format!("malformed JSON: {e}")),
    })
}

/// The message for a field that `#[serde(deny_unknown_fields)]` refused, or `None` for any
/// other error. serde reports the field only in its text, "unknown field `decison`, expected
/// one of `domain`, …" (or "…, there are no fields"), which is all this reads.
fn unknown_field(e: &serde_json::Error) -> Option<String> {
    /// Longest field name repeated back, in characters: a misspelling is short, a body made
    /// of one huge key need not be echoed whole.
    const MAX_CHARS: usize = 64;
    if !e.is_data() {
        return None;
    }
    let text = e.to_string();
    let position = format!(" at line {} column {}", e.line(), e.column());
    let text = text.strip_suffix(&position).unwrap_or(&text);
    let rest = text.strip_prefix("unknown field `")?;
    let (field, expected) = match rest.split_once("`, expected ") {
        Some((field, names)) => (field, format!("expected {names}")),
        None => (
            rest.strip_suffix("`, there are no fields")?,
            "there are no fields".to_owned(),
        ),
    };
    let field = match field.char_indices().nth(MAX_CHARS) {
        Some((cut, _)) => format!("{}…", &field[..cut]),
        None => field.to_owned(),
    };
    Some(format!("unknown field {field:?}: {expected}"))
}

/// Reads a body of at most `limit` bytes within `limits.body_timeout_ms`: a client that
/// trickles its body is cut off rather than holding a worker's attention.
async fn read_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let timeout = req
        .app_data::<State>()
        .map_or(10_000, |r| r.settings.limits.body_timeout_ms);
    read_body_within(req, payload, limit, timeout).await
}

/// Reads a body of at most `limit` bytes within `timeout` milliseconds: `413` as soon as it
/// is (or says it will be) longer, `408` when it is late.
pub async fn read_body_within(
    req: &HttpRequest,
    payload: web::Payload,
    limit: usize,
    timeout: u64,
) -> Result<web::BytesMut, ApiError> {
    tokio::time::timeout(
        std::time::Duration::from_millis(timeout),
        read_body_unbounded(req, payload, limit),
    )
    .await
    .map_err(|_| {
        ApiError::RequestTimeout(format!(
            "the request body did not arrive within {timeout} ms"
        ))
    })?
}

/// The body length the request declares (`Content-Length`), refused up front when it is
/// over `limit`, before any of the body is read.
pub fn declared_length(req: &HttpRequest, limit: usize) -> Result<Option<usize>, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge(limit));
    }
    Ok(declared)
}

async fn read_body_unbounded(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::BytesMut, ApiError> {
    let declared = declared_length(req, limit)?;
    let mut body = web::BytesMut::with_capacity(declared.unwrap_or(1024).min(limit));
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidJson(format!("cannot read the body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge(limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// A text field trimmed, an empty one counting as absent.
pub fn trimmed(value: Option<String>) -> Option<String> {
    value
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Refuses a text longer than `max` characters with `code` and the message `why` gives.
pub fn at_most(
    value: Option<&str>,
    max: usize,
    code: &'static str,
    why: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    match value {
        Some(v) if v.chars().count() > max => Err(ApiError::invalid(code, why())),
        _ => Ok(()),
    }
}

/// Longest name of a key or provider, in characters.
const MAX_DISPLAY_NAME: usize = 200;

/// The name of a key or a provider: 1 to 200 printable characters.
pub fn display_name(text: Option<String>) -> Result<String, ApiError> {
    let name = trimmed(text).unwrap_or_default();
    if name.is_empty()
        || name.chars().count() > MAX_DISPLAY_NAME
        || name.chars().any(char::is_control)
    {
        return Err(ApiError::invalid(
            "invalid_name",
            format!("name is required: 1 to {MAX_DISPLAY_NAME} printable characters"),
        ));
    }
    Ok(name)
}

/// A body field that names one of a fixed set of values: what `parse` makes of `value`, or
/// `code` with a message naming the field, the value and the `choices`.
pub fn one_of<T>(
    field: &str,
    value: &str,
    parse: impl FnOnce(&str) -> Option<T>,
    code: &'static str,
    choices: &str,
) -> Result<T, ApiError> {
    parse(value).ok_or_else(|| {
        ApiError::invalid(code, format!("{field} {value:?} is not one of {choices}"))
    })
}

/// An optional query parameter that names one of a fixed set of values, as [`one_of`] but
/// refused with `400 invalid_parameter`.
pub fn query_one_of<T>(
    field: &str,
    value: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
    choices: &str,
) -> Result<Option<T>, ApiError> {
    value
        .map(|v| {
            parse(v).ok_or_else(|| {
                ApiError::InvalidParameter(format!("{field} {v:?} is not one of {choices}"))
            })
        })
        .transpose()
}

/// The required `category` of a listing or a case.
pub fn category(value: Option<&str>) -> Result<Category, ApiError> {
    let value =
        value.ok_or_else(|| ApiError::invalid("invalid_category", "category is required"))?;
    one_of(
        "category",
        value,
        Category::parse,
        "invalid_category",
        "the categories in the API documentation",
    )
}

/// The `limit` of a page: `default` when absent, else from 1 to `max`.
pub fn page_limit(limit: Option<usize>, default: usize, max: usize) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(default);
    if !(1..=max).contains(&limit) {
        return Err(ApiError::InvalidParameter(format!(
            "limit must be from 1 to {max}"
        )));
    }
    Ok(limit)
}

/// The `cursor` of a page: `None` for the first page (absent or empty), else what `parse`
/// makes of a `next_cursor` this service gave out.
pub fn page_cursor<T>(
    cursor: Option<&str>,
    parse: impl FnOnce(&str) -> Option<T>,
) -> Result<Option<T>, ApiError> {
    match cursor {
        None | Some("") => Ok(None),
        Some(cursor) => parse(cursor).map(Some).ok_or_else(|| {
            ApiError::InvalidParameter("cursor is not one this service gave out".into())
        }),
    }
}

/// Parses the query string into `T`, mapping every failure to `400 invalid_parameter`.
pub fn query<T: DeserializeOwned>(req: &HttpRequest) -> Result<T, ApiError> {
    web::Query::<T>::from_query(req.query_string())
        .map(web::Query::into_inner)
        .map_err(|e| ApiError::InvalidParameter(format!("bad query parameter: {e}")))
}

/// The answer of a known path to a method it does not serve: 405 with the `Allow` header
/// RFC 9110 asks for.
pub fn not_allowed(allow: &'static str) -> actix_web::Route {
    web::to(
        move || async move { Err::<actix_web::HttpResponse, _>(ApiError::MethodNotAllowed(allow)) },
    )
}

/// What a mirror serves as a registry node does: checks, the log's tiles, the feed, the
/// snapshot, the RPZ and the operations endpoints, all answered from the index (the feed from
/// the mirror's window, the tiles from the upstream's).
fn read_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/check")
            .route(web::get().to(check::one))
            .route(web::post().to(check::batch))
            .default_service(not_allowed("GET, POST")),
    )
    .service(
        web::resource("/healthz")
            .route(web::get().to(ops::healthz))
            .default_service(not_allowed("GET")),
    )
    // The log's tiles are the other hot read: a CDN's misses and every verifier come here.
    // A scope of a fixed prefix, which actix matches without a regular expression.
    .service(web::scope(log::TILE_PATHS.trim_end_matches('/')).default_service(web::to(log::tile)))
    // Only the bulk answers are worth compressing; checks are small and latency-bound.
    .service(
        web::resource("/v1/feed")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(feed::feed))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/snapshot")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(feed::snapshot))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/rpz")
            .wrap(actix_web::middleware::Compress::default())
            .route(web::get().to(feed::rpz))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/readyz")
            .route(web::get().to(ops::readyz))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/metrics")
            .route(web::get().to(ops::metrics))
            .default_service(not_allowed("GET")),
    );
}

/// The routes of a mirror (`mirror.upstream` set); everything else is `mirror_refusal`.
pub fn mirror_routes(cfg: &mut web::ServiceConfig) {
    read_routes(cfg);
    feed_log_routes(cfg);
}

/// What a mirror answers to any request it does not serve: `405 read_only_mirror` for a
/// write, `404 not_on_mirror` for a read of what only the registry holds. No key is needed to
/// learn that, and nothing is read.
pub async fn mirror_refusal(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let write = !matches!(
        *req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    );
    let message = if write {
        "this node is a mirror: it takes no writes; send them to the registry"
    } else {
        "this node is a mirror: it serves checks, the feed, the snapshot, the RPZ and the transparency log; ask the registry for the rest"
    };
    Err(ApiError::Mirror {
        write,
        message: message.into(),
    })
}

/// Every route of the service. Checks come first and dynamic paths last: actix tries the
/// routes in order, and a path with a `{parameter}` costs a regular-expression match.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.configure(read_routes)
        .service(
            web::resource("/v1/public/check")
                .route(web::get().to(public::check))
                .default_service(not_allowed("GET")),
        )
        .service(
            web::resource("/openapi.json")
                .route(web::get().to(ops::openapi))
                .default_service(not_allowed("GET")),
        )
        .service(
            web::resource("/v1/entries")
                .route(web::post().to(entries::create))
                .route(web::get().to(entries::list))
                .default_service(not_allowed("POST, GET")),
        )
        .service(
            web::resource("/v1/keys")
                .route(web::post().to(keys::create))
                .route(web::get().to(keys::list))
                .default_service(not_allowed("POST, GET")),
        )
        .configure(log_routes)
        .configure(notice_routes)
        .configure(case_routes)
        .configure(records::routes)
        .configure(document_routes)
        .service(
            web::resource("/v1/keys/{id}")
                .route(web::delete().to(keys::revoke))
                .default_service(not_allowed("DELETE")),
        )
        .service(
            web::resource("/v1/protected")
                .route(web::get().to(protected::list))
                .route(web::post().to(protected::add))
                .default_service(not_allowed("GET, POST")),
        )
        .service(
            web::resource("/v1/audit")
                .route(web::get().to(audit::list))
                .default_service(not_allowed("GET")),
        )
        .service(
            web::resource("/v1/protected/{domain}")
                .route(web::delete().to(protected::remove))
                .default_service(not_allowed("DELETE")),
        )
        .service(
            web::resource("/v1/entries/{domain}/lift")
                .route(web::post().to(entries::lift))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/v1/entries/{domain}/lift/approve")
                .route(web::post().to(entries::approve_lift))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/v1/entries/{domain}/lift/reject")
                .route(web::post().to(entries::reject_lift))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/v1/entries/{domain}/locate")
                .route(web::post().to(entries::locate))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/v1/entries/{domain}/approve")
                .route(web::post().to(entries::approve))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/v1/entries/{domain}/reject")
                .route(web::post().to(entries::reject))
                .default_service(not_allowed("POST")),
        )
        .service(
            web::resource("/v1/entries/{domain}/proof")
                .route(web::get().to(log::entry_proof))
                .default_service(not_allowed("GET")),
        )
        .service(
            web::resource("/v1/entries/{domain}")
                .route(web::get().to(entries::get))
                .default_service(not_allowed("GET")),
        )
        .default_service(web::to(|| async {
            Err::<actix_web::HttpResponse, _>(ApiError::NotFound("no such path".into()))
        }));
}

/// The transparency logs' paths: the feed's (which a mirror serves too) and the audit
/// log's checkpoint.
fn log_routes(cfg: &mut web::ServiceConfig) {
    feed_log_routes(cfg);
    cfg.service(
        web::resource("/v1/audit/checkpoint")
            .route(web::get().to(log::audit_checkpoint))
            .default_service(not_allowed("GET")),
    );
}

/// The feed log's paths but its tiles, which `read_routes` puts near the top.
fn feed_log_routes(cfg: &mut web::ServiceConfig) {
    for (path, handler) in [
        ("/v1/log/key", web::get().to(log::key)),
        ("/v1/log/checkpoint", web::get().to(log::checkpoint)),
        ("/v1/log/witnessed", web::get().to(log::witnessed)),
        ("/v1/log/proof", web::get().to(log::proof)),
        ("/v1/log/consistency", web::get().to(log::consistency)),
    ] {
        cfg.service(
            web::resource(path)
                .route(handler)
                .default_service(not_allowed("GET")),
        );
    }
}

/// Routes of providers, locating and notices; static paths here come before the dynamic
/// paths of `routes`, and their own dynamic paths come last among them.
fn notice_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/providers")
            .route(web::post().to(providers::create))
            .route(web::get().to(providers::list))
            .default_service(not_allowed("POST, GET")),
    )
    .service(
        web::resource("/v1/locate")
            .route(web::get().to(notices::locate))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/notices")
            .route(web::get().to(notices::list))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/compliance")
            .route(web::get().to(notices::compliance))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/providers/{id}")
            .route(web::get().to(providers::get))
            .route(web::patch().to(providers::update))
            .route(web::delete().to(providers::delete))
            .default_service(not_allowed("GET, PATCH, DELETE")),
    )
    .service(
        web::resource("/v1/notices/{id}/ack")
            .route(web::post().to(notices::ack))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/notices/{id}")
            .route(web::get().to(notices::get))
            .default_service(not_allowed("GET")),
    );
}

/// Routes of uploaded documents: the upload, then a document's metadata, then the document.
fn document_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/documents")
            .route(web::post().to(documents::upload))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/documents/{sha256}/meta")
            .route(web::get().to(documents::meta))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/documents/{sha256}")
            .route(web::get().to(documents::download))
            .default_service(not_allowed("GET")),
    );
}

/// Routes of referral cases, referrals and the inbox: static paths first, then the steps of
/// one case, then the case itself.
fn case_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/v1/cases")
            .route(web::post().to(cases::open))
            .route(web::get().to(cases::list))
            .default_service(not_allowed("POST, GET")),
    )
    .service(
        web::resource("/v1/inbox")
            .route(web::get().to(cases::inbox))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/inbox/webhook")
            .route(web::get().to(cases::get_webhook))
            .route(web::put().to(cases::put_webhook))
            .route(web::delete().to(cases::delete_webhook))
            .default_service(not_allowed("GET, PUT, DELETE")),
    )
    .service(
        web::resource("/v1/referrals")
            .route(web::post().to(cases::refer))
            .route(web::get().to(cases::referrals))
            .default_service(not_allowed("POST, GET")),
    )
    .service(
        web::resource("/v1/cases/{id}/accept")
            .route(web::post().to(cases::accept))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/cases/{id}/return")
            .route(web::post().to(cases::give_back))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/cases/{id}/forward")
            .route(web::post().to(cases::forward))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/cases/{id}/suspension-request")
            .route(web::post().to(cases::request_suspension))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/cases/{id}/suspend")
            .route(web::post().to(cases::suspend))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/cases/{id}/decision")
            .route(web::post().to(cases::submit_decision))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/cases/{id}/close")
            .route(web::post().to(cases::close))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/cases/{id}/withdraw")
            .route(web::post().to(cases::withdraw))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/cases/{id}")
            .route(web::get().to(cases::get))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/referrals/{id}/{step}")
            .route(web::post().to(cases::referral_step_handler))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/referrals/{id}")
            .route(web::get().to(cases::get_referral))
            .default_service(not_allowed("GET")),
    );
}

/// The OpenAPI document, generated from the handlers' annotations.
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "siteban", description = "Shared national registry of illegal online-trading websites"),
    paths(
        keys::create, keys::list, keys::revoke,
        entries::create, entries::list, entries::get, entries::lift, entries::approve, entries::reject,
        entries::approve_lift, entries::reject_lift, entries::locate,
        protected::list, protected::add, protected::remove, audit::list,
        check::one, check::batch,
        feed::feed, feed::snapshot, feed::rpz,
        ops::healthz, ops::readyz, ops::metrics,
        providers::create, providers::list, providers::get, providers::update, providers::delete,
        notices::locate, notices::list, notices::get, notices::ack, notices::compliance,
        cases::open, cases::list, cases::get, cases::accept, cases::give_back, cases::forward,
        cases::request_suspension, cases::suspend, cases::submit_decision, cases::close,
        cases::withdraw, cases::inbox, cases::get_webhook, cases::put_webhook,
        cases::delete_webhook, cases::refer, cases::referrals, cases::get_referral,
        cases::referral_step_handler,
        records::put_registration, records::get_registration, records::import_registrations,
        records::put_recordal, records::get_recordal, records::recordals_by_domain,
        records::import_recordals, records::verify,
        documents::upload, documents::download, documents::meta,
        public::check,
        log::key, log::checkpoint, log::tile, log::proof, log::consistency, log::entry_proof,
        log::audit_checkpoint, log::witnessed,
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail)),
    modifiers(&BearerAuth, &ErrorResponses)
)]
pub struct ApiDoc;

/// Documents the error answers every operation may give, all in the one error shape, so that
/// clients (and schema-driven tests) know every status they can meet.
struct ErrorResponses;

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let errors = [
            ("400", "invalid_json, invalid_parameter"),
            ("401", "unauthenticated"),
            ("403", "forbidden, out_of_province"),
            ("404", "not_found, not_listed, not_pending"),
            ("405", "method_not_allowed"),
            ("408", "request_timeout"),
            (
                "409",
                "already_listed, already_protected, operator_blacklisted",
            ),
            ("410", "snapshot_required"),
            ("413", "payload_too_large"),
            (
                "422",
                "a field failed validation; the code names which rule",
            ),
            ("429", "rate_limited (with Retry-After)"),
            ("500", "internal"),
            ("503", "store_unavailable"),
        ];
        for item in openapi.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for (status, description) in errors {
                    if operation.responses.responses.contains_key(status) {
                        continue;
                    }
                    let response = ResponseBuilder::new()
                        .description(description)
                        .content(
                            "application/json",
                            ContentBuilder::new()
                                .schema(Some(Ref::from_schema_name("ErrorBody")))
                                .build(),
                        )
                        .build();
                    operation
                        .responses
                        .responses
                        .insert(status.to_string(), response.into());
                }
            }
        }
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        let cases = [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("application/json;charset=UTF-8", true),
            ("Application/JSON", true),
            (" application/json ", true),
            ("application/merge-patch+json", true),
            ("application/vnd.siteban+json; charset=utf-8", true),
            ("application/+json", false),
            ("application/jsonp", false),
            ("application/json-seq", false),
            ("application/x-ndjson", false),
            ("application/x-www-form-urlencoded", false),
            ("text/json", false),
            ("text/plain", false),
            ("text/plain; x=application/json", false),
            ("json", false),
            ("", false),
        ];
        for (content_type, expected) in cases {
            assert_eq!(is_json(content_type), expected, "{content_type:?}");
        }
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        name: Option<String>,
        inner: Option<Inner>,
        items: Option<Vec<Inner>>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        note: Option<String>,
    }

    #[test]
    fn unknown_fields_are_named_and_other_errors_stay_invalid_json() {
        let long = "k".repeat(100);
        let cases = [
            (
                r#"{"nmae": "x"}"#,
                "unknown_field",
                "unknown field \"nmae\": expected one of `name`, `inner`, `items`",
            ),
            (
                r#"{"inner": {"nte": "x"}}"#,
                "unknown_field",
                "unknown field \"nte\": expected `note`",
            ),
            (
                r#"{"items": [{"note": "a"}, {"n`, ote": "b"}]}"#,
                "unknown_field",
                "unknown field \"n`, ote\": expected `note`",
            ),
            (
                &format!(r#"{{"{long}": 1}}"#),
                "unknown_field",
                &format!("unknown field \"{}…\": expected one of", "k".repeat(64)),
            ),
            (
                r#"{"name": 5}"#,
                "invalid_json",
                "malformed JSON: invalid type",
            ),
            (r#"{"name": "x""#, "invalid_json", "malformed JSON: EOF"),
            (
                r#"{"name": "x", "name": "y"}"#,
                "invalid_json",
                "malformed JSON: duplicate field",
            ),
            ("[]", "invalid_json", "malformed JSON: invalid length 0"),
        ];
        for (body, code, message) in cases {
            let error = parse_json::<Outer>(body.as_bytes()).unwrap_err();
            assert_eq!(error.code(), code, "{body}");
            assert!(
                error.to_string().starts_with(message),
                "{body}: {error} does not start with {message}"
            );
        }
    }
}
