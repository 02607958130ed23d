//! The one mapping from everything that can go wrong in a request to an HTTP status and a
//! stable `code`. Client errors say what to fix; server errors never show internals to the
//! client and are logged once here.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::{Deserialize, Serialize};

use super::limits::RateLimited;
use crate::domain::DomainError;
use crate::registry::RegistryError;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("a valid bearer token is required")]
    Unauthenticated,
    #[error("this key's role may not do this")]
    Forbidden,
    #[error("{0}")]
    ForbiddenBecause(String),
    #[error("{0}")]
    OutOfProvince(String),
    #[error("{0}")]
    InvalidJson(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{0}")]
    InvalidParameter(String),
    #[error("{0}")]
    NotFound(String),
    /// A `404` with a code more telling than `not_found`.
    #[error("{message}")]
    Absent { code: &'static str, message: String },
    #[error("this path answers only {0}")]
    MethodNotAllowed(&'static str),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Domain(#[from] DomainError),
    /// Another organisation holds the case (or referral) for this step.
    #[error("{0}")]
    NotCaseHolder(String),
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    #[error("{0}")]
    AlreadyListed(String),
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    NotListed(String),
    #[error("{0}")]
    NotPending(String),
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    SnapshotRequired(String),
    #[error(
        "the registry store is unavailable or did not answer in time; a write may not have \
         taken effect: read it back or send it again"
    )]
    StoreUnavailable(String),
    /// A request only the registry serves, sent to a mirror: `405` for a write, `404` for a
    /// read.
    #[error("{message}")]
    Mirror { write: bool, message: String },
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
            ApiError::Forbidden | ApiError::ForbiddenBecause(_) => "forbidden",
            ApiError::OutOfProvince(_) => "out_of_province",
            ApiError::NotCaseHolder(_) => "not_case_holder",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::InvalidParameter(_) => "invalid_parameter",
            ApiError::NotFound(_) => "not_found",
            ApiError::Absent { code, .. } => code,
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Domain(e) => e.code(),
            ApiError::Invalid { code, .. } => code,
            ApiError::AlreadyListed(_) => "already_listed",
            ApiError::Conflict { code, .. } => code,
            ApiError::NotListed(_) => "not_listed",
            ApiError::NotPending(_) => "not_pending",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::SnapshotRequired(_) => "snapshot_required",
            ApiError::StoreUnavailable(_) => "store_unavailable",
            ApiError::Mirror { write: true, .. } => "read_only_mirror",
            ApiError::Mirror { write: false, .. } => "not_on_mirror",
            ApiError::Internal(_) => "internal",
        }
    }
}

/// The error code of an answer, kept in the response's extensions for the audit log.
#[derive(Debug, Clone, Copy)]
pub struct ErrorCode(pub &'static str);

/// The body of every error answer; the command line's `--url` reads it back
/// (`crate::remote`), borrowing the code, which is never escaped.
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorBody<'a> {
    #[serde(borrow)]
    pub error: ErrorDetail<'a>,
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct ErrorDetail<'a> {
    pub code: &'a str,
    pub message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden
            | ApiError::ForbiddenBecause(_)
            | ApiError::OutOfProvince(_)
            | ApiError::NotCaseHolder(_) => StatusCode::FORBIDDEN,
            ApiError::InvalidJson(_) | ApiError::InvalidParameter(_) => StatusCode::BAD_REQUEST,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotFound(_)
            | ApiError::Absent { .. }
            | ApiError::NotListed(_)
            | ApiError::NotPending(_) => StatusCode::NOT_FOUND,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::MethodNotAllowed(_) | ApiError::Mirror { write: true, .. } => {
                StatusCode::METHOD_NOT_ALLOWED
            }
            ApiError::Mirror { write: false, .. } => StatusCode::NOT_FOUND,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Domain(_) | ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::AlreadyListed(_) | ApiError::Conflict { .. } => StatusCode::CONFLICT,
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
        if let ApiError::MethodNotAllowed(allow) = self {
            response.insert_header(("Allow", *allow));
        }
        if let ApiError::Mirror { write: true, .. } = self {
            // A mirror's writable surface is empty; what it serves is read with GET (and the
            // batch check with POST, routed before this answer).
            response.insert_header(("Allow", "GET"));
        }
        if let ApiError::RateLimited { retry_after, .. } = self {
            response.insert_header(("Retry-After", retry_after.to_string()));
        }
        // The audit log records the outcome of every state-changing request by this code.
        let mut response = response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        });
        response.extensions_mut().insert(ErrorCode(self.code()));
        response
    }
}

impl From<RateLimited> for ApiError {
    fn from(e: RateLimited) -> ApiError {
        if e.never_fits {
            ApiError::Invalid {
                code: "batch_over_quota",
                message: e.message,
            }
        } else {
            ApiError::RateLimited {
                message: e.message,
                retry_after: e.retry_after,
            }
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> ApiError {
        match e {
            RegistryError::Invalid { code, message } => ApiError::Invalid { code, message },
            RegistryError::Domain(e) => ApiError::Domain(e),
            RegistryError::Forbidden(message) => ApiError::ForbiddenBecause(message),
            RegistryError::OutOfProvince(message) => ApiError::OutOfProvince(message),
            RegistryError::NotCaseHolder(message) => ApiError::NotCaseHolder(message),
            RegistryError::NotFound(message) => ApiError::NotFound(message),
            RegistryError::Absent { code, message } => ApiError::Absent { code, message },
            RegistryError::Conflict { code, message } => ApiError::Conflict { code, message },
            RegistryError::AlreadyListed(message) => ApiError::AlreadyListed(message),
            RegistryError::NotListed(message) => ApiError::NotListed(message),
            RegistryError::NotPending(message) => ApiError::NotPending(message),
            RegistryError::Store(StoreError::SnapshotRequired { oldest }) => {
                ApiError::SnapshotRequired(format!(
                    "events before {oldest} are no longer retained: load /v1/snapshot and follow from its seq"
                ))
            }
            RegistryError::Store(StoreError::Unavailable(cause)) => {
                ApiError::StoreUnavailable(cause)
            }
            RegistryError::Store(StoreError::Mirror(what)) => ApiError::Mirror {
                write: true,
                message: format!(
                    "this node is a mirror and holds no {what}: send this to the registry"
                ),
            },
            RegistryError::Store(e) => ApiError::Internal(e.to_string()),
            RegistryError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}
