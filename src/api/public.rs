//! `GET /v1/public/check?domain=`: whether a name is listed and on what public basis, for
//! anyone, without a key, rate-limited per address (`limits.rate.public`). What it may tell
//! is the registry's (`Registry::public_listing`); the console's public pages show the same.

use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{ApiError, State};
use crate::domain::DomainName;
use crate::registry::PublicListing;

#[derive(Deserialize)]
pub struct DomainQuery {
    pub domain: Option<String>,
}

/// The answer: `listing` only when `listed`.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicCheck {
    pub domain: String,
    pub listed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing: Option<PublicView>,
}

/// A listing as the public may see it: no key names, no reason, no case.
#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicView {
    /// The listed name: the name asked about, or the parent whose subtree is listed.
    pub domain: String,
    pub scope: &'static str,
    pub category: &'static str,
    /// When the listing took effect (RFC 3339).
    pub since: String,
    pub decision: PublicDecision,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PublicDecision {
    pub number: String,
    pub authority: String,
    /// `YYYY-MM-DD`.
    pub date: String,
}

impl From<PublicListing> for PublicView {
    fn from(l: PublicListing) -> PublicView {
        PublicView {
            domain: l.domain.to_string(),
            scope: l.scope.as_str(),
            category: l.category.as_str(),
            since: l.since.to_string(),
            decision: PublicDecision {
                number: l.decision_number,
                authority: l.decision_authority,
                date: l.decision_date.to_string(),
            },
        }
    }
}

/// Spends one unit of the caller's address's allowance for the public answers.
pub fn spend(req: &HttpRequest) -> Result<(), ApiError> {
    super::limits(req)?
        .check_public(req.peer_addr().map(|a| a.ip()))
        .map_err(ApiError::from)
}

/// The public view of what blocks `domain`, if anything.
pub async fn find(state: &State, domain: &DomainName) -> Result<Option<PublicView>, ApiError> {
    Ok(state.public_listing(domain).await?.map(PublicView::from))
}

/// Whether a name is listed, and on what public basis: the decision, the category and
/// since when; never who listed it, the reason, or anything of a case not closed. No key.
#[utoipa::path(get, path = "/v1/public/check", operation_id = "public_check", tag = "public",
    params(("domain" = String, Query, format = "domain-name", min_length = 1, max_length = 1024, description = "the name asked about, Unicode or ASCII")),
    responses((status = 200, body = PublicCheck),
              (status = 400, description = "invalid_parameter: no domain"),
              (status = 422, description = "invalid_domain"),
              (status = 429, description = "rate_limited")))]
pub async fn check(req: HttpRequest, state: State) -> Result<HttpResponse, ApiError> {
    spend(&req)?;
    let query: DomainQuery = super::query(&req)?;
    let text = query
        .domain
        .as_deref()
        .ok_or_else(|| ApiError::InvalidParameter("domain is required".into()))?;
    let domain = DomainName::parse(text)?;
    let listing = find(&state, &domain).await?;
    Ok(HttpResponse::Ok().json(PublicCheck {
        domain: domain.to_string(),
        listed: listing.is_some(),
        listing,
    }))
}
