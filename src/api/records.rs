//! `/v1/registrations`, `/v1/recordals` and `/v1/verify`: the records the two sides share.
//! Agencies write business registrations, telecom administrations write website recordals,
//! both (and auditors) read both and cross-check a domain against them. Imports stream
//! NDJSON or CSV through `records::import` and are applied whole or not at all.

use std::time::{Duration, Instant};

use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::error::{ErrorCode, ErrorDetail};
use super::{Answer, ApiError, Call, not_allowed, note, query};
use crate::auth::policy;
use crate::domain::{DomainName, IcpNumber, Province, Uscc};
use crate::records::import::{self, Format, ImportError, ImportRow, LineError, Parsed};
use crate::records::verify::Finding;
use crate::records::{
    RecordError, Recordal, RecordalInput, RecordalStatus, Registration, RegistrationInput,
    RegistrationStatus,
};
use crate::registry::{Imported, Registry, recordal_rule, registration_rule};

/// Routes of the shared records; the static import paths come before the dynamic ones.
pub fn routes(cfg: &mut web::ServiceConfig) {
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

super::schema::documented_as!(RegistrationInput => super::schema::registration(false));

super::schema::documented_as!(RecordalInput => super::schema::recordal(false));

/// The document of one line of a registrations import: a [`RegistrationInput`] that names
/// its code.
pub struct RegistrationLine;

super::schema::documented_as!(RegistrationLine => super::schema::registration(true));

/// The document of one line of a recordals import: a [`RecordalInput`] that names its ICP
/// number.
pub struct RecordalLine;

super::schema::documented_as!(RecordalLine => super::schema::recordal(true));

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

pub fn registration_view(r: &Registration) -> RegistrationView {
    RegistrationView {
        uscc: r.uscc.to_string(),
        checksum_ok: r.uscc.checksum_ok(),
        uscc_province: r.uscc.province(),
        name: r.name.clone(),
        status: r.status,
        legal_representative: r.legal_representative.clone(),
        address: r.address.clone(),
        registered_province: r.registered_province,
        updated_at: r.updated_at.to_string(),
        updated_by: r.updated_by.clone(),
    }
}

pub fn recordal_view(r: &Recordal) -> RecordalView {
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
        updated_at: r.updated_at.to_string(),
        updated_by: r.updated_by.clone(),
    }
}

/// `text` as one segment of a URI path: every byte but the unreserved ASCII characters
/// percent-encoded (RFC 3986), so that a header carrying it is ASCII. An ICP number holds
/// Chinese characters, which a `Location` header may not carry as they are.
fn path_segment(text: &str) -> String {
    text.bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

fn path_uscc(text: &str) -> Result<Uscc, ApiError> {
    Uscc::parse(text).map_err(|e| ApiError::invalid("invalid_uscc", e.to_string()))
}

fn path_icp(text: &str) -> Result<IcpNumber, ApiError> {
    IcpNumber::parse(text).map_err(|e| ApiError::invalid("invalid_icp_number", e.to_string()))
}

/// Create or replace the registration of a unified social credit code. A code with a wrong
/// check character is accepted and flagged (`checksum_ok: false`).
#[utoipa::path(put, path = "/v1/registrations/{uscc}", tag = "records",
    request_body = RegistrationInput,
    params(("uscc" = String, Path, pattern = "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$", description = "unified social credit code")),
    responses((status = 201, description = "created", body = RegistrationView),
              (status = 200, description = "replaced", body = RegistrationView),
              (status = 403, description = "forbidden, out_of_province"),
              (status = 422, description = "invalid_uscc, invalid_record, invalid_province")),
    security(("bearer" = [])))]
pub async fn put_registration(
    call: Call,
    path: web::Path<String>,
    payload: web::Payload,
) -> Answer {
    let principal = call.require_for(policy::WRITE_REGISTRATIONS, &path)?;
    let input: RegistrationInput = call.json(payload).await?;
    let uscc = path_uscc(&path)?;
    let (registration, created) = call.put_registration(principal, &uscc, input).await?;
    call.note(
        uscc.as_str(),
        format!("status {}", registration.status.as_str()),
    );
    let mut response = if created {
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
    params(("uscc" = String, Path, pattern = "^[0-9A-HJ-NP-RTUW-Ya-hj-np-rtuw-y]{18}$", description = "unified social credit code")),
    responses((status = 200, body = RegistrationView), (status = 404, description = "not_found"),
              (status = 422, description = "invalid_uscc")),
    security(("bearer" = [])))]
pub async fn get_registration(call: Call, path: web::Path<String>) -> Answer {
    call.require(policy::READ_RECORDS)?;
    let uscc = path_uscc(&path)?;
    let registration = call.registration(&uscc).await?;
    Ok(HttpResponse::Ok().json(registration_view(&registration)))
}

/// Create or replace the recordal of an ICP number. Refused with 409 `operator_blacklisted`
/// when it would record a new site for a sponsor that has a blacklisted site.
#[utoipa::path(put, path = "/v1/recordals/{icp_number}", tag = "records",
    request_body = RecordalInput,
    params(("icp_number" = String, Path, format = "icp-number", min_length = 1, description = "ICP recordal number, URL-encoded")),
    responses((status = 201, description = "created", body = RecordalView),
              (status = 200, description = "replaced", body = RecordalView),
              (status = 403, description = "forbidden, out_of_province"),
              (status = 409, description = "operator_blacklisted"),
              (status = 422, description = "invalid_icp_number, invalid_record, invalid_uscc, invalid_domain, public_suffix, invalid_province")),
    security(("bearer" = [])))]
pub async fn put_recordal(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let principal = call.require_for(policy::WRITE_RECORDALS, &path)?;
    let input: RecordalInput = call.json(payload).await?;
    let icp = path_icp(&path)?;
    let (recordal, created) = call.put_recordal(principal, &icp, input).await?;
    call.note(icp.as_str(), format!("sponsor {}", recordal.sponsor_code));
    let mut response = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Ok()
    };
    Ok(response
        .insert_header((
            "Location",
            format!("/v1/recordals/{}", path_segment(icp.as_str())),
        ))
        .json(recordal_view(&recordal)))
}

/// The recordal of an ICP number (any accepted form; answered in canonical form).
#[utoipa::path(get, path = "/v1/recordals/{icp_number}", tag = "records",
    params(("icp_number" = String, Path, format = "icp-number", min_length = 1, description = "ICP recordal number, URL-encoded")),
    responses((status = 200, body = RecordalView), (status = 404, description = "not_found"),
              (status = 422, description = "invalid_icp_number")),
    security(("bearer" = [])))]
pub async fn get_recordal(call: Call, path: web::Path<String>) -> Answer {
    call.require(policy::READ_RECORDS)?;
    let icp = path_icp(&path)?;
    let recordal = call.recordal(&icp).await?;
    Ok(HttpResponse::Ok().json(recordal_view(&recordal)))
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
    params(("domain" = String, Query, format = "domain-name", min_length = 1, max_length = 1024, description = "the domain")),
    responses((status = 200, body = RecordalList),
              (status = 400, description = "invalid_parameter (no domain)"),
              (status = 422, description = "invalid_domain")),
    security(("bearer" = [])))]
pub async fn recordals_by_domain(call: Call) -> Answer {
    call.require(policy::READ_RECORDS)?;
    let domain = domain_param(&call.req)?;
    let recordals = call.recordals_by_domain(&domain).await?;
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
    params(("domain" = String, Query, format = "domain-name", min_length = 1, max_length = 1024, description = "the domain to verify")),
    responses((status = 200, body = VerifyResponse),
              (status = 400, description = "invalid_parameter (no domain)"),
              (status = 422, description = "invalid_domain")),
    security(("bearer" = [])))]
pub async fn verify(call: Call) -> Answer {
    call.require(policy::VERIFY)?;
    let domain = domain_param(&call.req)?;
    let verified = call.verify(&domain).await?;
    Ok(HttpResponse::Ok().json(VerifyResponse {
        domain: domain.to_string(),
        recorded_as: verified.recorded_as.map(|d| d.to_string()),
        listed: verified.listed,
        recordals: verified.recordals.iter().map(recordal_view).collect(),
        registrations: verified
            .registrations
            .iter()
            .map(registration_view)
            .collect(),
        findings: verified.findings,
        seq: verified.seq,
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
#[serde_with::skip_serializing_none]
#[derive(Serialize, utoipa::ToSchema)]
pub struct ImportRejection<'a> {
    pub error: ErrorDetail<'a>,
    /// The first `records.import_max_errors` line errors, in body order.
    pub errors: Option<Vec<LineError>>,
    /// How many lines had errors in all.
    pub error_count: Option<u64>,
}

fn rejected(errors: Vec<LineError>, error_count: u64, records: usize) -> HttpResponse {
    let message = format!(
        "{error_count} {} errors ({records} {} valid); nothing was applied: fix the lines listed and send the whole import again",
        if error_count == 1 {
            "line has"
        } else {
            "lines have"
        },
        if records == 1 { "was" } else { "were" }
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

/// Streams the body into the parser (`parse_import`), its format from its content type and
/// its declared length checked first.
async fn parse_body<R, T>(
    call: &Call,
    payload: web::Payload,
    validate: impl Fn(R) -> Result<T, RecordError> + Send + 'static,
    key: impl Fn(&T) -> String + Send + 'static,
) -> Result<Parsed<T>, ApiError>
where
    R: ImportRow + Send + 'static,
    T: Send + 'static,
{
    let content_type = call
        .req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let format = import_format(content_type)?;
    super::declared_length(&call.req, call.settings.records.import_max_bytes)?;
    let body = payload.map(|chunk| {
        chunk.map_err(|e| ApiError::InvalidParameter(format!("cannot read the body: {e}")))
    });
    parse_import(&call.state, format, body, validate, key).await
}

/// The format of an import from its content type.
pub fn import_format(content_type: &str) -> Result<Format, ApiError> {
    Format::from_content_type(content_type).ok_or_else(|| {
        ApiError::UnsupportedMediaType(format!(
            "an import is application/x-ndjson or text/csv, not {content_type:?}"
        ))
    })
}

/// Streams an import's body into the parser: chunks go through a small channel to a
/// blocking task that parses and validates as they come, so the body is never held whole;
/// the size limit and the time limit (`records.*`) are enforced here. The API reads the
/// request's body, the console a file field of its form.
pub async fn parse_import<R, T, S>(
    registry: &Registry,
    format: Format,
    mut body: S,
    validate: impl Fn(R) -> Result<T, RecordError> + Send + 'static,
    key: impl Fn(&T) -> String + Send + 'static,
) -> Result<Parsed<T>, ApiError>
where
    R: ImportRow + Send + 'static,
    T: Send + 'static,
    S: futures_util::Stream<Item = Result<bytes::Bytes, ApiError>> + Unpin,
{
    let settings = &registry.settings.records;
    let max_bytes = settings.import_max_bytes;
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
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
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

/// A parsed recordals import with the blacklisted-operator refusals added as line errors,
/// in line order, at most `records.import_max_errors` kept; and how many records were valid.
pub async fn refuse_blacklisted(
    registry: &Registry,
    parsed: Parsed<Recordal>,
) -> Result<(Parsed<Recordal>, usize), ApiError> {
    let Parsed {
        records,
        mut errors,
        mut error_count,
    } = parsed;
    let refs: Vec<&Recordal> = records.iter().map(|(_, r)| r).collect();
    let refused = registry.blacklisted_operators(&refs).await?;
    let valid = records.len() - refused.len();
    for (i, refusal) in refused {
        error_count += 1;
        errors.push(LineError {
            line: records[i].0,
            code: refusal.code,
            message: refusal.message,
        });
    }
    errors.sort_by_key(|e| e.line);
    errors.truncate(registry.settings.records.import_max_errors);
    let parsed = Parsed {
        records,
        errors,
        error_count,
    };
    Ok((parsed, valid))
}

/// The answer to an applied import, noted for its audit record.
fn imported(req: &HttpRequest, kind: &str, imported: Imported, started: Instant) -> HttpResponse {
    let counts = imported.counts;
    let total = counts.created + counts.updated;
    note(
        req,
        kind,
        format!("imported {total} created {}", counts.created),
    );
    HttpResponse::Ok().json(ImportSummary {
        imported: total,
        created: counts.created,
        updated: counts.updated,
        checksum_failures: imported.checksum_failures,
        normalised_icp_numbers: imported.normalised_icp_numbers,
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
        content(([RegistrationLine] = "application/x-ndjson"), ([RegistrationLine] = "text/csv"))),
    responses((status = 200, body = ImportSummary),
              (status = 413, description = "payload_too_large"),
              (status = 415, description = "unsupported_media_type"),
              (status = 422, description = "import_rejected (with errors: [{line, code, message}]), too_many_records", body = ImportRejection)),
    security(("bearer" = [])))]
pub async fn import_registrations(call: Call, payload: web::Payload) -> Answer {
    let principal = call.require(policy::WRITE_REGISTRATIONS)?;
    call.note("registrations", "");
    let started = Instant::now();
    let parsed = parse_body(
        &call,
        payload,
        registration_rule(principal),
        |r: &Registration| r.uscc.to_string(),
    )
    .await?;
    if parsed.error_count > 0 {
        call.note(
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
    let applied = call.import_registrations(records).await?;
    Ok(imported(&call.req, "registrations", applied, started))
}

/// Import recordals from NDJSON (one JSON object per line, as for `PUT`, with `icp_number`)
/// or CSV (columns `icp_number, sponsor_name, sponsor_code, domains, access_provider,
/// access_province, status`; `domains` separated by `;`). Every line is validated first,
/// including the blacklisted-operator rule; if any fails, nothing is applied and the answer
/// is 422 `import_rejected` with the lines at fault. Otherwise all records are applied in one
/// atomic write.
#[utoipa::path(post, path = "/v1/recordals/import", tag = "records",
    request_body(description = "one recordal per NDJSON line, or per CSV row under a header naming the columns (domains separated by ;)",
        content(([RecordalLine] = "application/x-ndjson"), ([RecordalLine] = "text/csv"))),
    responses((status = 200, body = ImportSummary),
              (status = 413, description = "payload_too_large"),
              (status = 415, description = "unsupported_media_type"),
              (status = 422, description = "import_rejected (with errors: [{line, code, message}]), too_many_records", body = ImportRejection)),
    security(("bearer" = [])))]
pub async fn import_recordals(call: Call, payload: web::Payload) -> Answer {
    let principal = call.require(policy::WRITE_RECORDALS)?;
    call.note("recordals", "");
    let started = Instant::now();
    let parsed = parse_body(&call, payload, recordal_rule(principal), |r: &Recordal| {
        r.icp_number.to_string()
    })
    .await?;
    let (parsed, valid) = refuse_blacklisted(&call.state, parsed).await?;
    if parsed.error_count > 0 {
        call.note(
            "recordals",
            format!("rejected: {} line errors", parsed.error_count),
        );
        return Ok(rejected(parsed.errors, parsed.error_count, valid));
    }
    let records = parsed.records;
    let records: Vec<Recordal> = records.into_iter().map(|(_, r)| r).collect();
    let applied = call.import_recordals(records).await?;
    Ok(imported(&call.req, "recordals", applied, started))
}
