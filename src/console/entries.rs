//! Entries in the console: search, a domain's page (its decision, history, location and the
//! providers told), the listing and lift forms, and the four-eyes queue. Forms become the
//! API's own request values and go through the API's parsing and the registry's use cases.

use actix_web::http::StatusCode;
use actix_web::{ResponseError, web};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{ConsoleError, Form, Shown, Staff, see_other};
use crate::api::ApiError;
use crate::api::entries::{CreateEntryRequest, decision, listing_of, reason};
use crate::auth::policy;
use crate::domain::{Category, DomainName, Role};
use crate::model::EntryStatus;
use crate::registry::{EntryFilter, Lifted, ReviewAsked, ReviewDecision, Subject};
use crate::store::StatusFilter;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/entries", web::get().to(search))
        .route("/entries/new", web::get().to(new_form))
        .route("/entries/new", web::post().to(create))
        .route("/review", web::get().to(queue))
        .route("/entries/{domain}", web::get().to(page))
        .route("/entries/{domain}/lift", web::post().to(lift))
        .route("/entries/{domain}/locate", web::post().to(locate))
        .route("/entries/{domain}/{step}", web::post().to(review));
}

pub fn audit_action(route: &str) -> Option<&'static str> {
    Some(match route {
        "/console/entries/new" => "entry.submit",
        "/console/entries/{domain}/lift" => "entry.lift",
        "/console/entries/{domain}/locate" => "entry.locate",
        "/console/entries/{domain}/{step}" => "entry.review",
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct SearchQuery {
    domain: Option<String>,
    status: Option<String>,
    after: Option<u64>,
}

const PAGE: usize = 50;

/// Search by name (to the domain's page), or browse entries by status, a page at a time.
async fn search(staff: Staff, query: web::Query<SearchQuery>) -> Shown {
    staff.require(policy::READ_ENTRIES)?;
    if let Some(domain) = query
        .domain
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        return match DomainName::parse(domain) {
            Ok(name) => Ok(see_other(&format!("/console/entries/{name}"))),
            Err(e) => staff.page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                "entries.html",
                context! { code => super::v(&ApiError::from(e).code()), domain => super::v(&domain), entries => super::v(&Vec::<()>::new()),},
            ),
        };
    }
    let status = query.status.as_deref().unwrap_or("active");
    let filter = match status {
        "all" => EntryFilter::Stored(StatusFilter::All),
        "lifted" => EntryFilter::Stored(StatusFilter::Lifted),
        _ => EntryFilter::Stored(StatusFilter::Active),
    };
    let (entries, next) = staff
        .entries(filter, query.after.unwrap_or(0), PAGE)
        .await?;
    staff.page(
        "entries.html",
        context! { entries => super::v(&entries), next => super::v(&next), status => super::v(&status),},
    )
}

/// A domain's page: the entry in force, one waiting for review, and the whole history.
async fn page(staff: Staff, path: web::Path<String>) -> Shown {
    let by = staff.require(policy::READ_DOMAIN_ENTRIES)?;
    let domain = DomainName::parse(&path)?;
    let history = staff.history_for(by, &domain).await?;
    if history.is_empty() {
        return Err(ApiError::NotFound(format!("{domain} has never been listed")).into());
    }
    let current = history
        .iter()
        .rev()
        .find(|e| matches!(e.status, EntryStatus::Active | EntryStatus::Suspended))
        .cloned();
    let pending = history
        .iter()
        .rev()
        .find(|e| e.status == EntryStatus::Pending)
        .cloned();
    let mut notices = Vec::new();
    for entry in history.iter().rev() {
        notices.extend(staff.entry_notices(by, entry).await?);
    }
    // A provider's key learns the names of no other provider.
    let own = matches!(by.role, Role::AccessProvider | Role::DnsProvider)
        .then(|| by.provider_id.clone().unwrap_or_default());
    let providers = staff.providers().await.unwrap_or_default();
    let names: std::collections::HashMap<_, _> = providers
        .iter()
        .filter(|p| own.as_ref().is_none_or(|own| *own == p.id))
        .map(|p| (p.id.clone(), p.name.clone()))
        .collect();
    staff.page(
        "entry.html",
        context! {
            domain => super::v(&domain.as_str()),
            domain_unicode => super::v(&domain.to_unicode()),
            current => super::v(&current),
            pending => super::v(&pending),
            history => super::v(&history.iter().rev().collect::<Vec<_>>()),
            provider_names => super::v(&names),
            notices => super::v(&notices),
            may_write => super::v(&staff.may(policy::WRITE_ENTRIES)),
            may_relocate => super::v(&staff.may(policy::RELOCATE)),
        },
    )
}

/// The listing form.
async fn new_form(staff: Staff) -> Shown {
    staff.require(policy::WRITE_ENTRIES)?;
    form_page(&staff, StatusCode::OK, None, &Default::default()).await
}

async fn form_page(
    staff: &Staff,
    status: StatusCode,
    code: Option<&str>,
    values: &std::collections::HashMap<String, String>,
) -> Shown {
    let providers = staff.providers().await.unwrap_or_default();
    staff.page_with(
        status,
        "entry_new.html",
        context! {
            code => super::v(&code),
            values => super::v(&values),
            categories => super::v(&Category::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
            providers => super::v(&providers),
        },
    )
}

/// The API's listing request made from the form's fields.
fn listing_request(form: &Form) -> Result<CreateEntryRequest, ApiError> {
    let mut body = json!({
        "domain": form.text("domain"),
        "scope": form.text("scope"),
        "category": form.text("category"),
        "reason": form.text("reason"),
        "decision": {
            "number": form.text("decision_number"),
            "authority": form.text("decision_authority"),
            "date": form.text("decision_date"),
            "document_sha256": form.text("decision_sha256"),
        },
        "providers": form.all("providers"),
    });
    if let Some(justification) = form.text("override_justification") {
        body["override_protection"] = json!({ "justification": justification });
    }
    strip_nulls(&mut body);
    serde_json::from_value(body).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

/// Absent fields are left out, as a client leaves them out of its JSON.
fn strip_nulls(value: &mut Json) {
    if let Json::Object(map) = value {
        map.retain(|_, v| !v.is_null());
        map.values_mut().for_each(strip_nulls);
    }
}

/// Lists a domain; a refusal shows the form again, with its explanation and the values.
async fn create(staff: Staff, payload: web::Payload) -> Shown {
    let by = staff.require(policy::WRITE_ENTRIES)?;
    let form = staff.form(payload).await?;
    let listed = async {
        let listing = listing_of(listing_request(&form)?, staff.document_dates())?;
        staff.note(listing.domain.as_str(), "");
        Ok::<_, ConsoleError>(staff.list(by, listing).await?)
    }
    .await;
    match listed {
        Ok((entry, _)) => Ok(see_other(&format!("/console/entries/{}", entry.domain))),
        Err(ConsoleError::Api(e)) if e.status_code().is_client_error() => {
            form_page(&staff, e.status_code(), Some(e.code()), &form.values()).await
        }
        Err(e) => Err(e),
    }
}

/// Lifts (or asks to lift) the domain's active entry under a document.
async fn lift(staff: Staff, path: web::Path<String>, payload: web::Payload) -> Shown {
    let by = staff.require(policy::WRITE_ENTRIES)?;
    staff.note(path.as_str(), "");
    let form = staff.form(payload).await?;
    let domain = DomainName::parse(&path)?;
    let input = serde_json::from_value(strip(json!({
        "number": form.text("document_number"),
        "authority": form.text("document_authority"),
        "date": form.text("document_date"),
        "document_sha256": form.text("document_sha256"),
    })))
    .map_err(|e| ApiError::InvalidJson(e.to_string()))?;
    let document = decision(
        Some(input),
        "document_required",
        "lifting needs the written document that orders it",
        "invalid_document",
        staff.document_dates(),
    )?;
    let reason = reason(form.text("reason"))?;
    if let Lifted::Requested(_) = staff.lift(by, &domain, document, reason).await? {
        staff.note(
            domain.as_str(),
            "lift requested; waits for a second key's approval",
        );
    }
    Ok(see_other(&format!("/console/entries/{domain}")))
}

/// Has the site located again now, by the locate worker of some node.
async fn locate(staff: Staff, path: web::Path<String>, payload: web::Payload) -> Shown {
    staff.require(policy::RELOCATE)?;
    staff.note(path.as_str(), "");
    staff.form(payload).await?;
    let domain = DomainName::parse(&path)?;
    staff.relocate(&domain).await?;
    Ok(see_other(&format!("/console/entries/{domain}")))
}

fn strip(mut value: Json) -> Json {
    strip_nulls(&mut value);
    value
}

/// Approves or rejects a listing or a lift that waits for a second key.
async fn review(staff: Staff, path: web::Path<(String, String)>, payload: web::Payload) -> Shown {
    let by = staff.require(policy::WRITE_ENTRIES)?;
    let (domain, step) = path.into_inner();
    staff.note(domain.as_str(), "");
    let form = staff.form(payload).await?;
    let (subject, decision) = match step.as_str() {
        "approve" => (Subject::Listing, ReviewDecision::Approve),
        "reject" => (Subject::Listing, ReviewDecision::Reject),
        "lift-approve" => (Subject::Lift, ReviewDecision::Approve),
        "lift-reject" => (Subject::Lift, ReviewDecision::Reject),
        _ => return Err(ApiError::NotFound(format!("no step {step}")).into()),
    };
    let domain = DomainName::parse(&domain)?;
    let wanted = form
        .text("entry_id")
        .map(|id| {
            uuid::Uuid::parse_str(&id)
                .map_err(|_| ApiError::invalid("invalid_entry_id", "entry_id is not an entry id"))
        })
        .transpose()?;
    let asked = ReviewAsked {
        subject,
        domain,
        wanted,
        decision,
        reason: reason(form.text("reason"))?,
    };
    staff.state.review(by, asked).await?;
    Ok(see_other("/console/review"))
}

/// The four-eyes queue: listings and lifts that wait for a second key.
async fn queue(staff: Staff) -> Shown {
    staff.require(policy::WRITE_ENTRIES)?;
    let (listings, _) = staff.entries(EntryFilter::Pending, 0, 1000).await?;
    let (lifts, _) = staff.entries(EntryFilter::PendingLift, 0, 1000).await?;
    staff.page(
        "review.html",
        context! { listings => super::v(&listings), lifts => super::v(&lifts), me => super::v(&&staff.principal.key_id),},
    )
}
