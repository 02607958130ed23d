//! Shared records in the console: a registration by credit code, recordals by ICP number or
//! by domain, a domain's `verify` findings, and the import page (agencies import
//! registrations, telecom administrations recordals) whose file goes through the API's
//! streaming parser (`api::records::parse_import`) and rules, every bad line shown at the end.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, ResponseError, web};
use futures_util::{StreamExt, TryStreamExt};
use minijinja::context;
use serde::{Deserialize, Serialize};

use super::{ConsoleError, Shown, Staff, v};
use crate::api::ApiError;
use crate::api::records::{
    import_format, parse_import, recordal_view, refuse_blacklisted, registration_view,
};
use crate::auth::policy;
use crate::domain::{DomainName, IcpNumber, Uscc};
use crate::records::import::{Format, LineError, Parsed};
use crate::records::{Recordal, Registration};
use crate::registry::{csrf_matches, recordal_rule, registration_rule};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/records", web::get().to(look_up))
        .route("/records/import", web::get().to(import_form))
        .route("/records/import/registrations", web::post().to(import))
        .route("/records/import/recordals", web::post().to(import));
}

pub fn audit_action(route: &str) -> Option<&'static str> {
    Some(match route {
        "/console/records/import/registrations" => "registration.import",
        "/console/records/import/recordals" => "recordal.import",
        _ => return None,
    })
}

#[derive(Deserialize, Default)]
pub struct LookUp {
    uscc: Option<String>,
    icp: Option<String>,
    domain: Option<String>,
    verify: Option<String>,
}

/// One look-up's outcome: what was found, or the error code that explains why not.
#[derive(Serialize, Default)]
struct Found<T> {
    asked: Option<String>,
    found: Option<T>,
    code: Option<&'static str>,
}

fn trimmed(text: &Option<String>) -> Option<&str> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

/// Runs a look-up when the reader asked for one; a refusal the reader can fix (a malformed
/// code, nothing found) becomes its explanation on the page.
async fn found<T, F>(asked: Option<&str>, get: F) -> Result<Found<T>, ConsoleError>
where
    F: AsyncFnOnce(&str) -> Result<T, ConsoleError>,
{
    let Some(text) = asked else {
        return Ok(Found {
            asked: None,
            found: None,
            code: None,
        });
    };
    let outcome = get(text).await;
    let (found, code) = match outcome {
        Ok(found) => (Some(found), None),
        Err(ConsoleError::Api(e)) if e.status_code().is_client_error() => (None, Some(e.code())),
        Err(e) => return Err(e),
    };
    Ok(Found {
        asked: Some(text.to_string()),
        found,
        code,
    })
}

async fn look_up(staff: Staff, query: web::Query<LookUp>) -> Shown {
    staff.require(policy::READ_RECORDS)?;
    let registration = found(trimmed(&query.uscc), async |text| {
        let uscc =
            Uscc::parse(text).map_err(|e| ApiError::invalid("invalid_uscc", e.to_string()))?;
        Ok(registration_view(&staff.registration(&uscc).await?))
    })
    .await?;
    let recordal = found(trimmed(&query.icp), async |text| {
        let icp = IcpNumber::parse(text)
            .map_err(|e| ApiError::invalid("invalid_icp_number", e.to_string()))?;
        Ok(recordal_view(&staff.recordal(&icp).await?))
    })
    .await?;
    let by_domain = found(trimmed(&query.domain), async |text| {
        let domain = DomainName::parse(text)?;
        let list = staff.recordals_by_domain(&domain).await?;
        Ok(list.iter().map(recordal_view).collect::<Vec<_>>())
    })
    .await?;
    let may_verify = staff.may(policy::VERIFY);
    let verified = found(
        trimmed(&query.verify).filter(|_| may_verify),
        async |text| {
            let domain = DomainName::parse(text)?;
            let verified = staff.verify(&domain).await?;
            Ok(context! {
                domain => v(&domain.to_string()),
                recorded_as => v(&verified.recorded_as.map(|d| d.to_string())),
                listed => v(&verified.listed),
                findings => v(&verified.findings),
            })
        },
    )
    .await?;
    staff.page(
        "records.html",
        context! {
            registration => v(&registration),
            recordal => v(&recordal),
            by_domain => v(&by_domain),
            verified => v(&verified),
            may_verify => v(&may_verify),
            may_import => v(&(staff.may(policy::WRITE_REGISTRATIONS) || staff.may(policy::WRITE_RECORDALS))),
        },
    )
}

/// What the signed-in key imports: registrations (agencies) or recordals (telecom).
fn import_kind(staff: &Staff) -> Result<&'static str, ConsoleError> {
    if staff.may(policy::WRITE_REGISTRATIONS) {
        Ok("registrations")
    } else if staff.may(policy::WRITE_RECORDALS) {
        Ok("recordals")
    } else {
        Err(ApiError::Forbidden.into())
    }
}

async fn import_form(staff: Staff) -> Shown {
    let kind = import_kind(&staff)?;
    import_page(&staff, StatusCode::OK, kind, Outcome::default())
}

/// What an import did: applied (its counts) or refused (its code, and with
/// `import_rejected` the lines at fault).
#[derive(Serialize, Default)]
struct Outcome {
    done: bool,
    created: u64,
    updated: u64,
    checksum_failures: u64,
    code: Option<&'static str>,
    errors: Vec<LineError>,
    error_count: u64,
    valid: usize,
}

fn import_page(staff: &Staff, status: StatusCode, kind: &str, outcome: Outcome) -> Shown {
    staff.page_with(
        status,
        "records_import.html",
        context! {
            kind => v(&kind),
            outcome => v(&outcome),
            max_errors => v(&staff.state.settings.records.import_max_errors),
        },
    )
}

/// Applies an uploaded file (`multipart/form-data`: the `csrf` field first, then `file`).
async fn import(staff: Staff, req: HttpRequest, payload: web::Payload) -> Shown {
    let kind = import_kind(&staff)?;
    if !req.path().ends_with(kind) {
        return Err(ApiError::Forbidden.into());
    }
    staff.note(kind, "");
    let mut parts = Multipart::new(req.headers(), payload);
    let bad_form = |e: actix_multipart::MultipartError| {
        ConsoleError::from(ApiError::InvalidParameter(format!(
            "cannot read the form: {e}"
        )))
    };
    // The token comes before the file in the form, so a forged upload is refused before
    // any of its file is read.
    let mut csrf = String::new();
    let mut file = None;
    while let Some(mut field) = parts.try_next().await.map_err(bad_form)? {
        match field.name() {
            Some("csrf") => {
                let mut value = Vec::new();
                while let Some(chunk) = field.try_next().await.map_err(bad_form)? {
                    value.extend_from_slice(&chunk);
                    if value.len() > 256 {
                        break;
                    }
                }
                csrf = String::from_utf8_lossy(&value).into_owned();
            }
            Some("file") => {
                file = Some(field);
                break;
            }
            other => {
                return Err(ApiError::InvalidParameter(format!(
                    "the import form has no field {other:?}"
                ))
                .into());
            }
        }
    }
    if !csrf_matches(&staff.session, &csrf) {
        return Err(ConsoleError::Csrf);
    }
    let Some(field) = file else {
        return outcome_page(&staff, kind, refused("import_file_required"));
    };
    let format = match file_format(&field) {
        Ok(format) => format,
        Err(e) => return outcome_page(&staff, kind, refused(e.code())),
    };
    let body = field.map(|chunk| {
        chunk.map_err(|e| ApiError::InvalidParameter(format!("cannot read the file: {e}")))
    });
    let by = &staff.principal;
    let outcome = if kind == "registrations" {
        let parsed = parse_import(
            &staff.state,
            format,
            body,
            registration_rule(by),
            |r: &Registration| r.uscc.to_string(),
        )
        .await;
        match parsed {
            Ok(parsed) if parsed.error_count > 0 => rejection(parsed),
            Ok(parsed) => {
                let records = parsed.records.into_iter().map(|(_, r)| r).collect();
                applied(staff.import_registrations(records).await?)
            }
            Err(e) => refusal(e)?,
        }
    } else {
        let parsed = parse_import(
            &staff.state,
            format,
            body,
            recordal_rule(by),
            |r: &Recordal| r.icp_number.to_string(),
        )
        .await;
        match parsed {
            Ok(parsed) => {
                let (parsed, valid) = refuse_blacklisted(&staff.state, parsed).await?;
                if parsed.error_count > 0 {
                    Outcome {
                        valid,
                        ..rejection(parsed)
                    }
                } else {
                    let records = parsed.records.into_iter().map(|(_, r)| r).collect();
                    applied(staff.import_recordals(records).await?)
                }
            }
            Err(e) => refusal(e)?,
        }
    };
    let detail = if outcome.done {
        format!(
            "imported {} created {}",
            outcome.created + outcome.updated,
            outcome.created
        )
    } else {
        format!("rejected: {} line errors", outcome.error_count)
    };
    staff.note(kind, detail);
    outcome_page(&staff, kind, outcome)
}

/// The file's format: its declared type, else its name's extension (browsers send an
/// `.ndjson` file as `application/octet-stream`).
fn file_format(field: &actix_multipart::Field) -> Result<Format, ApiError> {
    let declared = field.content_type().map(|m| m.essence_str().to_string());
    if let Some(format) = declared.as_deref().and_then(Format::from_content_type) {
        return Ok(format);
    }
    let name = field
        .content_disposition()
        .and_then(|d| d.get_filename())
        .unwrap_or_default()
        .to_ascii_lowercase();
    if name.ends_with(".csv") {
        Ok(Format::Csv)
    } else if name.ends_with(".ndjson") || name.ends_with(".jsonl") {
        Ok(Format::Ndjson)
    } else {
        import_format(declared.as_deref().unwrap_or_default())
    }
}

fn refused(code: &'static str) -> Outcome {
    Outcome {
        code: Some(code),
        ..Outcome::default()
    }
}

/// A whole-import refusal the reader can fix (too many records, too large, wrong type) as
/// the page's outcome; a server fault stays an error.
fn refusal(e: ApiError) -> Result<Outcome, ConsoleError> {
    if e.status_code().is_client_error() {
        Ok(refused(e.code()))
    } else {
        Err(e.into())
    }
}

fn rejection<T>(parsed: Parsed<T>) -> Outcome {
    Outcome {
        code: Some("import_rejected"),
        valid: parsed.records.len(),
        errors: parsed.errors,
        error_count: parsed.error_count,
        ..Outcome::default()
    }
}

fn applied(imported: crate::registry::Imported) -> Outcome {
    Outcome {
        done: true,
        created: imported.counts.created,
        updated: imported.counts.updated,
        checksum_failures: imported.checksum_failures,
        ..Outcome::default()
    }
}

fn outcome_page(staff: &Staff, kind: &str, outcome: Outcome) -> Shown {
    let status = if outcome.code.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    import_page(staff, status, kind, outcome)
}
