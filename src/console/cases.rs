//! Cases in the console: the cases an organisation may read, the form that opens one (its
//! credit code and ICP number checked as they are typed), and a case's page: its facts, its
//! route drawn as a path, its timeline with documents, and as buttons only the steps the
//! organisation may take now (`cases::workflow::steps_open_to`). Forms become the API's
//! request bodies and go through its parsing (`api::cases`) and the registry's use cases.

use actix_web::http::StatusCode;
use actix_web::{ResponseError, web};
use minijinja::context;
use serde::Deserialize;
use serde_json::{Value as Json, json};

use super::{ConsoleError, Form, Shown, Staff, see_other};
use crate::api::ApiError;
use crate::api::cases::{OpenCaseRequest, case_id, parse_case, step_of};
use crate::auth::policy;
use crate::cases::{CaseState, workflow};
use crate::domain::{Category, IcpNumber, Uscc};
use crate::registry::org_of;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/cases", web::get().to(list))
        .route("/cases/new", web::get().to(new_form))
        .route("/cases/new", web::post().to(open))
        .route("/check/{field}", web::get().to(check_field))
        .route("/cases/{id}", web::get().to(page))
        .route("/cases/{id}/{step}", web::post().to(step));
}

pub fn audit_action(route: &str) -> Option<&'static str> {
    Some(match route {
        "/console/cases/new" => "case.open",
        "/console/cases/{id}/{step}" => "case.step",
        _ => return None,
    })
}

#[derive(Deserialize)]
pub struct CasesQuery {
    state: Option<String>,
}

async fn list(staff: Staff, query: web::Query<CasesQuery>) -> Shown {
    let by = staff.require(policy::READ_CASES)?;
    let state = query.state.as_deref().and_then(CaseState::parse);
    let mut cases = staff.cases(by, state, None).await?;
    cases.reverse();
    staff.page(
        "cases.html",
        context! {
            cases => super::v(&cases),
            state => super::v(&state.map(CaseState::as_str)),
            may_open => super::v(&(staff.may(policy::OPEN_CASES) && crate::registry::case_opener(by).is_ok())),
        },
    )
}

async fn new_form(staff: Staff) -> Shown {
    let by = staff.require(policy::OPEN_CASES)?;
    crate::registry::case_opener(by)?;
    form_page(&staff, StatusCode::OK, None, &Default::default())
}

fn form_page(
    staff: &Staff,
    status: StatusCode,
    code: Option<&str>,
    values: &std::collections::HashMap<String, String>,
) -> Shown {
    staff.page_with(
        status,
        "case_new.html",
        context! {
            code => super::v(&code),
            values => super::v(&values),
            categories => super::v(&Category::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>()),
        },
    )
}

/// The API's request to open a case, from the form's fields.
fn open_request(form: &Form) -> Result<OpenCaseRequest, ApiError> {
    let recorded = form.get("recorded").map(|v| v == "yes");
    let mut body = json!({
        "domain": form.text("domain"),
        "recorded": recorded,
        "icp_number": form.text("icp_number"),
        "recordal_province": form.text("recordal_province"),
        "access_province": form.text("access_province"),
        "operator_name": form.text("operator_name"),
        "operator_credit_code": form.text("operator_credit_code"),
        "category": form.text("category"),
        "summary": form.text("summary"),
    });
    if let Json::Object(map) = &mut body {
        map.retain(|_, v| !v.is_null());
    }
    serde_json::from_value(body).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

async fn open(staff: Staff, payload: web::Payload) -> Shown {
    let by = staff.require(policy::OPEN_CASES)?;
    crate::registry::case_opener(by)?;
    let form = staff.form(payload).await?;
    let opened = async {
        let new = parse_case(open_request(&form)?)?;
        Ok::<_, ConsoleError>(staff.open_case(by, new).await?)
    }
    .await;
    match opened {
        Ok(case) => {
            staff.note(case.id.to_string(), "");
            Ok(see_other(&format!("/console/cases/{}", case.id)))
        }
        Err(ConsoleError::Api(e)) if e.status_code().is_client_error() => {
            form_page(&staff, e.status_code(), Some(e.code()), &form.values())
        }
        Err(e) => Err(e),
    }
}

/// The field being typed, under its own name in the form (htmx sends the input's value).
#[derive(Deserialize)]
pub struct FieldQuery {
    operator_credit_code: Option<String>,
    icp_number: Option<String>,
}

/// Checks one field of the case form as it is typed (`uscc` or `icp`): a fragment that
/// explains the refusal, or says the value is well formed, for the form to show beside it.
async fn check_field(
    staff: Staff,
    field: web::Path<String>,
    query: web::Query<FieldQuery>,
) -> Shown {
    staff.require(policy::OPEN_CASES)?;
    let value = match field.as_str() {
        "uscc" => query.operator_credit_code.as_deref(),
        _ => query.icp_number.as_deref(),
    };
    let value = value.unwrap_or("").trim();
    let (code, note) = match field.as_str() {
        _ if value.is_empty() => (None, None),
        "uscc" => match Uscc::parse(value) {
            Ok(code) if !code.checksum_ok() => (None, Some("check-uscc-checksum")),
            Ok(_) => (None, Some("check-ok")),
            Err(_) => (Some("invalid_uscc"), None),
        },
        "icp" => match IcpNumber::parse(value) {
            Ok(_) => (None, Some("check-ok")),
            Err(_) => (Some("invalid_icp_number"), None),
        },
        _ => return Err(ApiError::NotFound("no such field".into()).into()),
    };
    staff.page(
        "check.html",
        context! { code => super::v(&code), note => super::v(&note),},
    )
}

async fn page(staff: Staff, path: web::Path<String>) -> Shown {
    let by = staff.require(policy::READ_CASES)?;
    let case = staff.case(by, case_id(&path)?).await?;
    let steps = match org_of(by) {
        Ok(org) if staff.may(policy::ACT_ON_CASES) => {
            workflow::steps_open_to(&case, org, &by.actor(), crate::model::now())
        }
        _ => Vec::new(),
    };
    let route: Vec<String> = case.route.hops.iter().map(ToString::to_string).collect();
    staff.page(
        "case.html",
        context! {
            case => super::v(&case),
            route => super::v(&route),
            steps => super::v(&steps),
        },
    )
}

/// Takes a step: the form becomes the step's API body, parsed by the API's rules.
async fn step(staff: Staff, path: web::Path<(String, String)>, payload: web::Payload) -> Shown {
    let by = staff.require(policy::ACT_ON_CASES)?;
    org_of(by)?;
    let (id, step) = path.into_inner();
    let id = case_id(&id)?;
    staff.note(id.to_string(), step.as_str());
    let form = staff.form(payload).await?;
    let body = step_body(&step, &form);
    let step = step_of(&step, body.to_string().as_bytes(), staff.document_dates())?;
    staff.case_step(by, id, step).await?;
    Ok(see_other(&format!("/console/cases/{id}")))
}

/// A step's JSON body from its form.
fn step_body(step: &str, form: &Form) -> Json {
    let document = |prefix: &str| {
        let mut d = json!({
            "number": form.text(&format!("{prefix}_number")),
            "authority": form.text(&format!("{prefix}_authority")),
            "date": form.text(&format!("{prefix}_date")),
            "document_sha256": form.text(&format!("{prefix}_sha256")),
        });
        if let Json::Object(map) = &mut d {
            map.retain(|_, v| !v.is_null());
        }
        d
    };
    let mut body = match step {
        "accept" | "forward" => json!({ "note": form.text("note") }),
        "return" | "withdraw" => json!({ "reason": form.text("reason") }),
        "suspension-request" => {
            json!({ "letter": document("letter"), "ground": form.text("ground") })
        }
        "decision" => json!({
            "decision": document("decision"),
            "recommendation": document("recommendation"),
        }),
        "close" => json!({ "measures": form.all("measures") }),
        _ => json!({}),
    };
    if let Json::Object(map) = &mut body {
        map.retain(|_, v| !v.is_null());
    }
    body
}
