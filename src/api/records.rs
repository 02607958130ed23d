//! `/v1/registrations`, `/v1/recordals` and `/v1/verify`: the records the two sides share.
//! Agencies write business registrations, telecom administrations write website recordals,
//! both (and auditors) read both and cross-check a domain against them. Imports stream
//! NDJSON or CSV through `records::import` and are applied whole or not at all.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, ErrorDetail};
use super::{ApiError, Caller, State, note, query, read_json};
use crate::auth::{Principal, policy};
use crate::domain::{DomainName, IcpNumber, Province, Uscc};
use crate::records::import::{self, Format, ImportError, ImportRow, LineError, Parsed};
use crate::records::verify::{self, Finding};
use crate::records::{
    RecordError, Recordal, RecordalInput, RecordalStatus, Registration, RegistrationInput,
    RegistrationStatus,
};
use crate::store::records::PutCounts;

/// Routes of the shared records; the static import paths come before the dynamic ones.
pub fn routes(cfg: &mut web::ServiceConfig) {
    let not_allowed = |allow: &'static str| {
        web::to(move || async move { Err::<HttpResponse, _>(ApiError::MethodNotAllowed(allow)) })
    };
    cfg.service(
        web::resource("/v1/verify")
            .route(web::get().to(verify))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/recordals")
            .route(web::get().to(recordals_by_domain))
            .default_service(not_allowed("GET")),
    )
    .service(
        web::resource("/v1/registrations/import")
            .route(web::post().to(import_registrations))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/recordals/import")
            .route(web::post().to(import_recordals))
            .default_service(not_allowed("POST")),
    )
    .service(
        web::resource("/v1/registrations/{uscc}")
            .route(web::put().to(put_registration))
            .route(web::get().to(get_registration))
            .default_service(not_allowed("PUT, GET")),
    )
    .service(
        web::resource("/v1/recordals/{icp_number}")
            .route(web::put().to(put_recordal))
            .route(web::get().to(get_recordal))
            .default_service(not_allowed("PUT, GET")),
    );
}

/// A registration as answered.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RegistrationView {
    #[schema(example = "91110108551385082Q")]
    pub uscc: String,
    /// False when the code's check character is wrong (the record is kept, flagged).
    pub checksum_ok: bool,
    /// The province of the registering authority, from the code (positions 3 and 4).
    #[schema(value_type = Option<String>)]
    pub uscc_province: Option<Province>,
    pub name: String,
    pub status: RegistrationStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_representative: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub registered_province: Option<Province>,
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub updated_by: crate::model::Actor,
}

/// A recordal as answered.
#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordalView {
    #[schema(example = "京ICP备13025326号-2")]
    pub icp_number: String,
    /// The recordal of the subject, without the site number.
    pub subject: String,
    pub site: Option<u32>,
    /// The province of the ICP prefix.
    #[schema(value_type = String)]
    pub province: Province,
    /// What was rewritten in the ICP number as submitted (`missing_hao`, `whitespace`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub icp_normalisations: Vec<crate::domain::IcpNormalisation>,
    pub sponsor_name: String,
    pub sponsor_code: String,
    /// False when the sponsor code's check character is wrong (the record is kept, flagged).
    pub sponsor_code_checksum_ok: bool,
    pub domains: Vec<String>,
    pub access_provider: String,
    #[schema(value_type = String)]
    pub access_province: Province,
    pub status: RecordalStatus,
    pub updated_at: String,
    #[schema(value_type = Object)]
    pub updated_by: crate::model::Actor,
}

fn registration_view(r: &Registration) -> RegistrationView {
    RegistrationView {
        uscc: r.uscc.to_string(),
        checksum_ok: r.uscc.checksum_ok(),
        uscc_province: r.uscc.province(),
        name: r.name.clone(),
        status: r.status,
        legal_representative: r.legal_representative.clone(),
        address: r.address.clone(),
        registered_province: r.registered_province,
        updated_at: crate::model::rfc3339::format(&r.updated_at),
        updated_by: r.updated_by.clone(),
    }
}

fn recordal_view(r: &Recordal) -> RecordalView {
    RecordalView {
        icp_number: r.icp_number.to_string(),
        subject: r.icp_number.subject().to_owned(),
        site: r.icp_number.site(),
        province: r.icp_number.province(),
        icp_normalisations: r.icp_normalisations.clone(),
        sponsor_name: r.sponsor_name.clone(),
        sponsor_code: r.sponsor_code.to_string(),
        sponsor_code_checksum_ok: r.sponsor_code.checksum_ok(),
        domains: r.domains.iter().map(ToString::to_string).collect(),
        access_provider: r.access_provider.clone(),
        access_province: r.access_province,
        status: r.status,
        updated_at: crate::model::rfc3339::format(&r.updated_at),
        updated_by: r.updated_by.clone(),
    }
}

/// Writes registrations in a task of its own: a client that goes away mid-write does not cut
/// the write (or the store's writer lock) short; it completes or fails whole either way.
async fn put_registrations(
    state: &State,
    registrations: Vec<Registration>,
) -> Result<PutCounts, ApiError> {
    let store = std::sync::Arc::clone(&state.store);
    tokio::spawn(async move { store.put_registrations(registrations).await })
        .await
        .map_err(|e| ApiError::Internal(format!("registration write failed: {e}")))?
        .map_err(ApiError::from)
}

/// Writes recordals in a task of its own, as [`put_registrations`] does.
async fn put_recordals(state: &State, recordals: Vec<Recordal>) -> Result<PutCounts, ApiError> {
    let store = std::sync::Arc::clone(&state.store);
    tokio::spawn(async move { store.put_recordals(recordals).await })
        .await
        .map_err(|e| ApiError::Internal(format!("recordal write failed: {e}")))?
        .map_err(ApiError::from)
}

fn record_error(error: RecordError) -> ApiError {
    ApiError::invalid(error.code, error.message)
}

fn path_uscc(text: &str) -> Result<Uscc, ApiError> {
    Uscc::parse(text).map_err(|e| ApiError::invalid("invalid_uscc", e.to_string()))
}

fn path_icp(text: &str) -> Result<IcpNumber, ApiError> {
    IcpNumber::parse(text).map_err(|e| ApiError::invalid("invalid_icp_number", e.to_string()))
}

/// A provincial agency key writes registrations of its own province's authorities.
fn registration_in_province(caller: &Principal, uscc: &Uscc) -> Result<(), RecordError> {
    match caller.province {
        Some(own) if uscc.province() != Some(own) => Err(RecordError::new(
            "out_of_province",
            format!(
                "this key acts for province {own}; {uscc} was registered in region {}",
                uscc.region()
            ),
        )),
        _ => Ok(()),
    }
}

/// A provincial telecom key writes recordals of its own province's prefix.
fn recordal_in_province(caller: &Principal, icp: &IcpNumber) -> Result<(), RecordError> {
    match caller.province {
        Some(own) if icp.province() != own => Err(RecordError::new(
            "out_of_province",
            format!(
                "this key acts for province {own}; {icp} is recorded in province {}",
                icp.province()
            ),
        )),
        _ => Ok(()),
    }
}

fn province_error(error: RecordError) -> ApiError {
    ApiError::OutOfProvince(error.message)
}

/// The listed name covering `domain` in this node's index, if any. A suspension is not a
/// blacklisting: it stops access while the case runs.
fn listed_in(state: &State) -> impl Fn(&DomainName) -> Option<String> + '_ {
    move |domain: &DomainName| {
        state
            .index
            .lookup(domain.as_str())
            .hit
            .filter(|hit| !hit.record.is_suspended())
            .map(|hit| domain.as_str()[hit.start..].to_owned())
    }
}

/// The listed sites of `sponsors` known from closed referral cases: a case names its
/// operator's credit code, and its closure's entry is still the one listed for its domain.
/// This finds the operators of unrecorded sites, which no recordal names.
async fn case_sites(
    state: &State,
    sponsors: &[Uscc],
) -> Result<HashMap<Uscc, Vec<verify::ListedSite>>, ApiError> {
    let mut out: HashMap<Uscc, Vec<verify::ListedSite>> = HashMap::new();
    if sponsors.is_empty() {
        return Ok(out);
    }
    for case in super::cases::all_cases(state).await? {
        let (Some(code), Some(entry_id)) = (case.operator_credit_code, case.entry_id) else {
            continue;
        };
        if !sponsors.contains(&code) {
            continue;
        }
        let hit = state.index.lookup(case.domain.as_str()).hit;
        if let Some(hit) = hit.filter(|h| h.entry_id() == entry_id && !h.record.is_suspended()) {
            out.entry(code).or_default().push(verify::ListedSite {
                icp_number: case
                    .icp_number
                    .map_or_else(|| format!("case {}", case.id), |n| n.to_string()),
                domain: case.domain.to_string(),
                listed: case.domain.as_str()[hit.start..].to_string(),
            });
        }
    }
    Ok(out)
}

/// Refuses recordals that would record a new site (a new recordal, or a new domain on an
/// existing one) for a sponsor that already has a blacklisted site: by index in `recordals`.
async fn blacklisted_operators(
    state: &State,
    recordals: &[&Recordal],
) -> Result<Vec<(usize, RecordError)>, ApiError> {
    let numbers: Vec<IcpNumber> = recordals.iter().map(|r| r.icp_number.clone()).collect();
    let existing = state.store.recordals(&numbers).await?;
    let adding: Vec<(usize, &Recordal)> = recordals
        .iter()
        .zip(&existing)
        .enumerate()
        .filter(|(_, (new, old))| match old {
            None => true,
            Some(old) => new.domains.iter().any(|d| !old.domains.contains(d)),
        })
        .map(|(i, (new, _))| (i, *new))
        .collect();
    if adding.is_empty() {
        return Ok(Vec::new());
    }
    let sponsors: Vec<Uscc> = adding
        .iter()
        .map(|(_, r)| r.sponsor_code)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let stored = state.store.recordals_by_sponsors(&sponsors).await?;
    let from_cases = case_sites(state, &sponsors).await?;
    let listed = listed_in(state);
    let mut refused = Vec::new();
    for (i, recordal) in adding {
        let mut sites = verify::listed_sites(std::slice::from_ref(recordal), &listed);
        if let Some(others) = stored.get(&recordal.sponsor_code) {
            sites.extend(verify::listed_sites(others, &listed));
        }
        if let Some(known) = from_cases.get(&recordal.sponsor_code) {
            sites.extend(known.iter().cloned());
        }
        if let Some(site) = sites.first() {
            refused.push((
                i,
                RecordError::new(
                    "operator_blacklisted",
                    format!(
                        "the sponsor {} has a blacklisted site ({} is listed as {}): a blacklisted operator may not record new sites",
                        recordal.sponsor_code, site.domain, site.listed
                    ),
                ),
            ));
        }
    }
    Ok(refused)
}

/// Create or replace the registration of a unified social credit code. A code with a wrong
/// check character is accepted and flagged (`checksum_ok: false`).
#[utoipa::path(put, path = "/v1/registrations/{uscc}", tag = "records",
    request_body = RegistrationInput,
    params(("uscc" = String, Path, description = "unified social credit code")),
    responses((status = 201, description = "created", body = RegistrationView),
              (status = 200, description = "replaced", body = RegistrationView),
              (status = 403, description = "forbidden, out_of_province"),
              (status = 422, description = "invalid_uscc, invalid_record, invalid_province")),
    security(("bearer" = [])))]
pub async fn put_registration(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::WRITE_REGISTRATIONS)?;
    note(&req, path.as_str(), "");
    let input: RegistrationInput =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
    let uscc = path_uscc(&path)?;
    registration_in_province(principal, &uscc).map_err(province_error)?;
    let registration = input
        .validate(Some(&uscc), &principal.actor(), crate::model::now())
        .map_err(record_error)?;
    note(
        &req,
        uscc.as_str(),
        format!("status {}", registration.status.as_str()),
    );
    let counts = put_registrations(&state, vec![registration.clone()]).await?;
    let mut response = if counts.created == 1 {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header(("Location", format!("/v1/registrations/{uscc}")))
        .json(registration_view(&registration)))
}

/// The registration of a unified social credit code.
#[utoipa::path(get, path = "/v1/registrations/{uscc}", tag = "records",
    params(("uscc" = String, Path, description = "unified social credit code")),
    responses((status = 200, body = RegistrationView), (status = 404, description = "not_found"),
              (status = 422, description = "invalid_uscc")),
    security(("bearer" = [])))]
pub async fn get_registration(
    caller: Caller,
    state: State,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(policy::READ_RECORDS)?;
    let uscc = path_uscc(&path)?;
    match state.store.registrations(&[uscc]).await?.pop().flatten() {
        Some(registration) => Ok(HttpResponse::Ok().json(registration_view(&registration))),
        None => Err(ApiError::NotFound(format!("no registration of {uscc}"))),
    }
}

/// Create or replace the recordal of an ICP number. Refused with 409 `operator_blacklisted`
/// when it would record a new site for a sponsor that has a blacklisted site.
#[utoipa::path(put, path = "/v1/recordals/{icp_number}", tag = "records",
    request_body = RecordalInput,
    params(("icp_number" = String, Path, description = "ICP recordal number, URL-encoded")),
    responses((status = 201, description = "created", body = RecordalView),
              (status = 200, description = "replaced", body = RecordalView),
              (status = 403, description = "forbidden, out_of_province"),
              (status = 409, description = "operator_blacklisted"),
              (status = 422, description = "invalid_icp_number, invalid_record, invalid_uscc, invalid_domain, public_suffix, invalid_province")),
    security(("bearer" = [])))]
pub async fn put_recordal(
    caller: Caller,
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::WRITE_RECORDALS)?;
    note(&req, path.as_str(), "");
    let input: RecordalInput =
        read_json(&req, payload, state.settings.limits.write_body_bytes).await?;
    let icp = path_icp(&path)?;
    recordal_in_province(principal, &icp).map_err(province_error)?;
    let recordal = input
        .validate(Some(&icp), &principal.actor(), crate::model::now())
        .map_err(record_error)?;
    note(
        &req,
        icp.as_str(),
        format!("sponsor {}", recordal.sponsor_code),
    );
    if let Some((_, refusal)) = blacklisted_operators(&state, &[&recordal])
        .await?
        .into_iter()
        .next()
    {
        return Err(ApiError::Conflict {
            code: refusal.code,
            message: refusal.message,
        });
    }
    let counts = put_recordals(&state, vec![recordal.clone()]).await?;
    let mut response = if counts.created == 1 {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header(("Location", format!("/v1/recordals/{icp}")))
        .json(recordal_view(&recordal)))
}

/// The recordal of an ICP number (any accepted form; answered in canonical form).
#[utoipa::path(get, path = "/v1/recordals/{icp_number}", tag = "records",
    params(("icp_number" = String, Path, description = "ICP recordal number, URL-encoded")),
    responses((status = 200, body = RecordalView), (status = 404, description = "not_found"),
              (status = 422, description = "invalid_icp_number")),
    security(("bearer" = [])))]
pub async fn get_recordal(
    caller: Caller,
    state: State,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    caller.require(policy::READ_RECORDS)?;
    let icp = path_icp(&path)?;
    match state
        .store
        .recordals(std::slice::from_ref(&icp))
        .await?
        .pop()
        .flatten()
    {
        Some(recordal) => Ok(HttpResponse::Ok().json(recordal_view(&recordal))),
        None => Err(ApiError::NotFound(format!("no recordal {icp}"))),
    }
}

#[derive(Deserialize)]
struct DomainQuery {
    domain: Option<String>,
}

fn domain_param(req: &HttpRequest) -> Result<DomainName, ApiError> {
    let q: DomainQuery = query(req)?;
    let text = q.domain.ok_or_else(|| {
        ApiError::InvalidParameter("the domain query parameter is required".into())
    })?;
    Ok(DomainName::parse(&text)?)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RecordalList {
    pub domain: String,
    pub recordals: Vec<RecordalView>,
}

/// The recordals naming a domain exactly (active and cancelled).
#[utoipa::path(get, path = "/v1/recordals", tag = "records",
    params(("domain" = String, Query, description = "the domain")),
    responses((status = 200, body = RecordalList),
              (status = 400, description = "invalid_parameter (no domain)"),
              (status = 422, description = "invalid_domain")),
    security(("bearer" = [])))]
pub async fn recordals_by_domain(
    caller: Caller,
    state: State,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(policy::READ_RECORDS)?;
    let domain = domain_param(&req)?;
    let recordals = state.store.recordals_by_domain(&domain).await?;
    Ok(HttpResponse::Ok().json(RecordalList {
        domain: domain.to_string(),
        recordals: recordals.iter().map(recordal_view).collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct VerifyResponse {
    pub domain: String,
    /// The recorded name the recordals name: the domain itself or the nearest parent
    /// that is recorded; null when none is.
    pub recorded_as: Option<String>,
    /// Whether the domain is listed in this node's blacklist index.
    pub listed: bool,
    pub recordals: Vec<RecordalView>,
    /// The registrations of the recordals' sponsors that exist.
    pub registrations: Vec<RegistrationView>,
    /// Empty when nothing was found wrong.
    pub findings: Vec<Finding>,
    /// The feed sequence of the index that answered `listed` and `operator_blacklisted`.
    pub seq: u64,
}

/// Cross-check a domain against the shared records: its recordal (the name or the nearest
/// recorded parent), the sponsor's registration, and the sponsor's other sites in the
/// blacklist. Findings: `not_recorded`, `recordal_cancelled`, `invalid_credit_code`,
/// `entity_not_registered`, `entity_not_active`, `sponsor_name_mismatch`,
/// `access_province_mismatch`, `operator_blacklisted`.
#[utoipa::path(get, path = "/v1/verify", tag = "records",
    params(("domain" = String, Query, description = "the domain to verify")),
    responses((status = 200, body = VerifyResponse),
              (status = 400, description = "invalid_parameter (no domain)"),
              (status = 422, description = "invalid_domain")),
    security(("bearer" = [])))]
pub async fn verify(
    caller: Caller,
    state: State,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    caller.require(policy::VERIFY)?;
    let domain = domain_param(&req)?;
    let lookup = state.index.lookup(domain.as_str());
    let mut recorded_as = None;
    let mut recordals = Vec::new();
    for name in domain.suffixes() {
        // Stop at the public suffix: `com.cn` is nobody's site.
        let Ok(name) = DomainName::parse_listable(name) else {
            break;
        };
        let found = state.store.recordals_by_domain(&name).await?;
        if !found.is_empty() {
            recorded_as = Some(name.to_string());
            recordals = found;
            break;
        }
    }
    let sponsors: Vec<Uscc> = recordals
        .iter()
        .map(|r| r.sponsor_code)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let registrations: HashMap<Uscc, Registration> = state
        .store
        .registrations(&sponsors)
        .await?
        .into_iter()
        .flatten()
        .map(|r| (r.uscc, r))
        .collect();
    let sponsor_recordals = state.store.recordals_by_sponsors(&sponsors).await?;
    let from_cases = case_sites(&state, &sponsors).await?;
    let listed = listed_in(&state);
    let findings = verify::findings(
        &domain,
        &recordals,
        &registrations,
        &sponsor_recordals,
        &from_cases,
        &listed,
    );
    let mut registration_views: Vec<RegistrationView> =
        registrations.values().map(registration_view).collect();
    registration_views.sort_by(|a, b| a.uscc.cmp(&b.uscc));
    Ok(HttpResponse::Ok().json(VerifyResponse {
        domain: domain.to_string(),
        recorded_as,
        listed: lookup.hit.is_some(),
        recordals: recordals.iter().map(recordal_view).collect(),
        registrations: registration_views,
        findings,
        seq: lookup.seq,
    }))
}

/// The answer to an applied import.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportSummary {
    /// Records applied (created + updated).
    pub imported: u64,
    pub created: u64,
    pub updated: u64,
    /// Records kept with a credit code whose check character is wrong.
    pub checksum_failures: u64,
    /// Recordals whose ICP number was normalised (always 0 for registrations).
    pub normalised_icp_numbers: u64,
    /// Time from the first byte read to the commit, in milliseconds.
    pub elapsed_ms: u64,
}

/// The answer to a refused import: the error shape, and with `import_rejected` the lines at
/// fault (absent for `too_many_records`).
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportRejection<'a> {
    pub error: ErrorDetail<'a>,
    /// The first `records.import_max_errors` line errors, in body order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<LineError>>,
    /// How many lines had errors in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_count: Option<u64>,
}

fn rejected(errors: Vec<LineError>, error_count: u64, records: usize) -> HttpResponse {
    let message = format!(
        "{error_count} line(s) have errors ({records} were valid); nothing was applied: fix the lines listed and send the whole import again"
    );
    let mut response = HttpResponse::UnprocessableEntity().json(ImportRejection {
        error: ErrorDetail {
            code: "import_rejected",
            message,
        },
        errors: Some(errors),
        error_count: Some(error_count),
    });
    response
        .extensions_mut()
        .insert(ErrorCode("import_rejected"));
    response
}

/// Streams the body into the parser: chunks go through a small channel to a blocking task
/// that parses and validates as they come, so the body is never held whole; the size limit
/// and the time limit are enforced here.
async fn parse_body<R, T>(
    req: &HttpRequest,
    state: &State,
    mut payload: web::Payload,
    validate: impl Fn(R) -> Result<T, RecordError> + Send + 'static,
    key: impl Fn(&T) -> String + Send + 'static,
) -> Result<Parsed<T>, ApiError>
where
    R: ImportRow + Send + 'static,
    T: Send + 'static,
{
    let content_type = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = Format::from_content_type(content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "an import is application/x-ndjson or text/csv, not {content_type:?}"
        ))
    })?;
    let settings = &state.settings.records;
    let max_bytes = settings.import_max_bytes;
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max_bytes) {
        return Err(ApiError::PayloadTooLarge(max_bytes));
    }
    let limits = import::Limits {
        max_records: settings.import_max_records,
        max_errors: settings.import_max_errors,
    };
    let (sender, receiver) = tokio::sync::mpsc::channel(16);
    let parser = tokio::task::spawn_blocking(move || {
        import::parse(
            format,
            import::ChannelReader::new(receiver),
            limits,
            validate,
            key,
        )
    });
    let timeout = Duration::from_millis(settings.import_timeout_ms);
    let pump = async {
        let mut total = 0usize;
        while let Some(chunk) = payload.next().await {
            let chunk = chunk
                .map_err(|e| ApiError::InvalidParameter(format!("cannot read the body: {e}")))?;
            total += chunk.len();
            if total > max_bytes {
                return Err(ApiError::PayloadTooLarge(max_bytes));
            }
            if sender.send(Ok(chunk)).await.is_err() {
                // The parser stopped early (too many records); its answer says why.
                break;
            }
        }
        Ok(())
    };
    let pumped = match tokio::time::timeout(timeout, pump).await {
        Ok(outcome) => outcome,
        Err(_) => Err(ApiError::RequestTimeout(format!(
            "the import body did not arrive within {} ms",
            timeout.as_millis()
        ))),
    };
    if let Err(error) = &pumped {
        // Stops the parser at once; the body's own error is the answer.
        let _ = sender.send(Err(error.to_string())).await;
    }
    drop(sender);
    let parsed = parser
        .await
        .map_err(|e| ApiError::Internal(format!("import parser failed: {e}")))?;
    pumped?;
    parsed.map_err(|e| match e {
        ImportError::TooManyRecords(_) => ApiError::invalid("too_many_records", e.to_string()),
        ImportError::Read(message) => ApiError::InvalidParameter(message),
    })
}

/// The answer to an applied import, noted for its audit record and logged.
fn imported(
    req: &HttpRequest,
    kind: &str,
    counts: PutCounts,
    checksum_failures: u64,
    normalised_icp_numbers: u64,
    started: Instant,
) -> HttpResponse {
    let imported = counts.created + counts.updated;
    note(
        req,
        kind,
        format!("imported {imported} created {}", counts.created),
    );
    tracing::info!(
        kind,
        created = counts.created,
        updated = counts.updated,
        "records imported"
    );
    HttpResponse::Ok().json(ImportSummary {
        imported,
        created: counts.created,
        updated: counts.updated,
        checksum_failures,
        normalised_icp_numbers,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// Import registrations from NDJSON (one JSON object per line, as for `PUT`, with `uscc`) or
/// CSV (header row naming the columns `uscc, name, status, legal_representative, address,
/// registered_province`). Every line is validated first; if any fails, nothing is applied
/// and the answer is 422 `import_rejected` with the lines at fault. Otherwise all records
/// are applied in one atomic write.
#[utoipa::path(post, path = "/v1/registrations/import", tag = "records",
    request_body(description = "one registration per NDJSON line, or per CSV row under a header naming the columns",
        content(([RegistrationInput] = "application/x-ndjson"), ([RegistrationInput] = "text/csv"))),
    responses((status = 200, body = ImportSummary),
              (status = 413, description = "payload_too_large"),
              (status = 415, description = "unsupported_media_type"),
              (status = 422, description = "import_rejected (with errors: [{line, code, message}]), too_many_records", body = ImportRejection)),
    security(("bearer" = [])))]
pub async fn import_registrations(
    caller: Caller,
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::WRITE_REGISTRATIONS)?.clone();
    note(&req, "registrations", "");
    let started = Instant::now();
    let actor = principal.actor();
    let at = crate::model::now();
    let parsed = parse_body(
        &req,
        &state,
        payload,
        move |row: RegistrationInput| {
            let registration = row.validate(None, &actor, at)?;
            registration_in_province(&principal, &registration.uscc)?;
            Ok(registration)
        },
        |r: &Registration| r.uscc.to_string(),
    )
    .await?;
    if parsed.error_count > 0 {
        note(
            &req,
            "registrations",
            format!("rejected: {} line errors", parsed.error_count),
        );
        return Ok(rejected(
            parsed.errors,
            parsed.error_count,
            parsed.records.len(),
        ));
    }
    let records: Vec<Registration> = parsed.records.into_iter().map(|(_, r)| r).collect();
    let checksum_failures = records.iter().filter(|r| !r.uscc.checksum_ok()).count() as u64;
    let counts = put_registrations(&state, records).await?;
    Ok(imported(
        &req,
        "registrations",
        counts,
        checksum_failures,
        0,
        started,
    ))
}

/// Import recordals from NDJSON (one JSON object per line, as for `PUT`, with `icp_number`)
/// or CSV (columns `icp_number, sponsor_name, sponsor_code, domains, access_provider,
/// access_province, status`; `domains` separated by `;`). Every line is validated first,
/// including the blacklisted-operator rule; if any fails, nothing is applied and the answer
/// is 422 `import_rejected` with the lines at fault. Otherwise all records are applied in one
/// atomic write.
#[utoipa::path(post, path = "/v1/recordals/import", tag = "records",
    request_body(description = "one recordal per NDJSON line, or per CSV row under a header naming the columns (domains separated by ;)",
        content(([RecordalInput] = "application/x-ndjson"), ([RecordalInput] = "text/csv"))),
    responses((status = 200, body = ImportSummary),
              (status = 413, description = "payload_too_large"),
              (status = 415, description = "unsupported_media_type"),
              (status = 422, description = "import_rejected (with errors: [{line, code, message}]), too_many_records", body = ImportRejection)),
    security(("bearer" = [])))]
pub async fn import_recordals(
    caller: Caller,
    state: State,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let principal = caller.require(policy::WRITE_RECORDALS)?.clone();
    note(&req, "recordals", "");
    let started = Instant::now();
    let actor = principal.actor();
    let at = crate::model::now();
    let parsed = parse_body(
        &req,
        &state,
        payload,
        move |row: RecordalInput| {
            let recordal = row.validate(None, &actor, at)?;
            recordal_in_province(&principal, &recordal.icp_number)?;
            Ok(recordal)
        },
        |r: &Recordal| r.icp_number.to_string(),
    )
    .await?;
    let Parsed {
        records,
        mut errors,
        mut error_count,
    } = parsed;
    let refs: Vec<&Recordal> = records.iter().map(|(_, r)| r).collect();
    for (i, refusal) in blacklisted_operators(&state, &refs).await? {
        error_count += 1;
        errors.push(LineError {
            line: records[i].0,
            code: refusal.code,
            message: refusal.message,
        });
    }
    if error_count > 0 {
        errors.sort_by_key(|e| e.line);
        errors.truncate(state.settings.records.import_max_errors);
        note(
            &req,
            "recordals",
            format!("rejected: {error_count} line errors"),
        );
        return Ok(rejected(errors, error_count, records.len()));
    }
    let records: Vec<Recordal> = records.into_iter().map(|(_, r)| r).collect();
    let checksum_failures = records
        .iter()
        .filter(|r| !r.sponsor_code.checksum_ok())
        .count() as u64;
    let normalised = records
        .iter()
        .filter(|r| !r.icp_normalisations.is_empty())
        .count() as u64;
    let counts = put_recordals(&state, records).await?;
    Ok(imported(
        &req,
        "recordals",
        counts,
        checksum_failures,
        normalised,
        started,
    ))
}
