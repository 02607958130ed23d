//! The one mapping from everything that can go wrong in a request to an HTTP status and a
//! stable `code`. Client errors say what to fix; server errors never show internals to the
//! client and are logged once here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::DomainError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("this key's role may not do this")]
    Forbidden,
    #[error("{0}")]
    InvalidJson(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    NotFound(String),
    #[error("method not allowed here")]
    MethodNotAllowed,
    #[error("{0}")]
    Domain(#[from] DomainError),
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0}")]
    AlreadyListed(String),
    #[error("{0}")]
    NotListed(String),
    #[error("{0}")]
    SnapshotRequired(String),
    #[error("the registry store is unavailable; nothing was written, try again")]
    StoreUnavailable(String),
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    /// A 422 with the given stable code.
    pub fn invalid(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthenticated => "unauthenticated",
            ApiError::Forbidden => "forbidden",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::InvalidParameter(_) => "invalid_parameter",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Domain(e) => e.code(),
            ApiError::Invalid { code, .. } => code,
            ApiError::AlreadyListed(_) => "already_listed",
            ApiError::NotListed(_) => "not_listed",
            ApiError::SnapshotRequired(_) => "snapshot_required",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::Internal(_) => "internal",
        }
    }
}

#[derive(Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    pub code: &'a str,
    pub message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden => StatusCode::FORBIDDEN,
            ApiError::InvalidJson(_) | ApiError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_) | ApiError::NotListed(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Domain(_) | ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::AlreadyListed(_) => StatusCode::CONFLICT,
            ApiError::SnapshotRequired(_) => StatusCode::GONE,
            ApiError::StoreUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::StoreUnavailable(cause) => {
                tracing::warn!(cause = %cause, "store unavailable for a request");
            }
            ApiError::Internal(cause) => tracing::error!(cause = %cause, "internal error"),
            _ => {}
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(self, ApiError::Unauthenticated) {
            response.insert_header(("WWW-Authenticate", "Bearer"));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        })
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::AlreadyListed(entry) => ApiError::AlreadyListed(format!(
                "{} already has an active entry ({}) under decision {}; lift it first",
                entry.domain, entry.id, entry.decision.number
            )),
            StoreError::NotListed => ApiError::NotListed("this domain has no active entry".into()),
            StoreError::SnapshotRequired { oldest } => ApiError::SnapshotRequired(format!(
                "events before {oldest} are no longer retained: load /v1/snapshot and follow from its seq"
            )),
            StoreError::Unavailable(cause) => ApiError::StoreUnavailable(cause),
            StoreError::Corrupt(cause) => ApiError::Internal(cause),
        }
    }
}
