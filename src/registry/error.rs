//! What a use case of the registry can refuse, and why: every refusal names whose rule it is
//! (a field's, a role's, a province's, the case's, the registry's state), and store failures
//! pass through whole. `api::error` maps each to an HTTP status and code, once.

use crate::domain::DomainError;
use crate::model::{Entry, EntryStatus};
use crate::store::{Refused, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A value breaks a rule; `code` names the rule.
    #[error("{message}")]
    Invalid { code: &'static str, message: String },
    /// A domain name that is not one, or not listable.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// The caller's key may not do this, for the reason given.
    #[error("{0}")]
    Forbidden(String),
    /// The caller's key acts for another province than the one the target belongs to.
    #[error("{0}")]
    OutOfProvince(String),
    /// Another organisation holds the case (or referral) for this step.
    #[error("{0}")]
    NotCaseHolder(String),
    #[error("{0}")]
    NotFound(String),
    /// What was asked for is not there, for the reason `code` names (a document that was
    /// never uploaded, whether or not a record names it).
    #[error("{message}")]
    Absent { code: &'static str, message: String },
    /// The registry's state forbids the step; `code` says which state.
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("{0}")]
    AlreadyListed(String),
    #[error("{0}")]
    NotListed(String),
    #[error("{0}")]
    NotPending(String),
    /// The store failed (unreachable, corrupt, or the feed no longer holds what was asked).
    #[error(transparent)]
    Store(StoreError),
    /// A fault of this service.
    #[error("{0}")]
    Internal(String),
}

pub type RegistryResult<T> = Result<T, RegistryError>;

impl RegistryError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> RegistryError {
        RegistryError::Invalid {
            code,
            message: message.into(),
        }
    }
}

/// The refusals of the store's atomic writes, told as the registry tells them.
impl From<StoreError> for RegistryError {
    fn from(e: StoreError) -> RegistryError {
        match e {
            StoreError::Refused(refused) => refused.into(),
            failure => RegistryError::Store(failure),
        }
    }
}

impl From<Refused> for RegistryError {
    fn from(refused: Refused) -> RegistryError {
        match refused {
            Refused::AlreadyListed(entry) if entry.status == EntryStatus::Suspended => {
                RegistryError::AlreadyListed(format!(
                    "{} is suspended under case {} (entry {}): the case's closure lists it, \
                     replacing the suspension; it cannot be listed on its own meanwhile",
                    entry.domain,
                    case_of(&entry),
                    entry.id
                ))
            }
            Refused::AlreadyListed(entry) => RegistryError::AlreadyListed(format!(
                "{} already has an active entry ({}) under decision {}; lift it first",
                entry.domain, entry.id, entry.decision.number
            )),
            Refused::NotListed => {
                RegistryError::NotListed("this domain has no active entry".into())
            }
            Refused::Suspended(entry) => suspended(&entry),
            Refused::CaseChanged => RegistryError::Conflict {
                code: "case_changed",
                message: "the case changed while this step was being written; read it again".into(),
            },
            Refused::NotPending => RegistryError::NotPending(
                "this domain has no entry waiting for review, or another one than given".into(),
            ),
            Refused::EntryChanged => RegistryError::Conflict {
                code: "entry_changed",
                message: "the domain's active entry changed while the lift was being asked \
                          for; read it again"
                    .into(),
            },
            Refused::LiftPending(entry) => RegistryError::Conflict {
                code: "lift_pending",
                message: format!(
                    "a lift of {} (entry {}) asked for by {} already waits for approval; \
                     approve or reject it first",
                    entry.domain,
                    entry.id,
                    entry
                        .pending_lift
                        .as_ref()
                        .map_or("another key", |p| p.requested_by.name.as_str()),
                ),
            },
            Refused::LiftNotPending => RegistryError::NotPending(
                "this domain has no lift waiting for approval, or another entry than given is \
                 active"
                    .into(),
            ),
        }
    }
}

fn suspended(entry: &Entry) -> RegistryError {
    RegistryError::Conflict {
        code: "suspended",
        message: format!(
            "{} is suspended under case {}: the suspension ends with the case's closure, its withdrawal or its expiry",
            entry.domain,
            case_of(entry)
        ),
    }
}

/// The case a suspension belongs to, for messages.
fn case_of(entry: &Entry) -> String {
    entry
        .case_id
        .map_or_else(|| "?".into(), |id| id.to_string())
}
