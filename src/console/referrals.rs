//! Referrals in the console: those the organisation sent and those it received, the form
//! that sends one (`api::cases::new_referral`'s rules), and a referral's page with, as buttons, only the steps its receiver may take now
//! (`cases::referral::waiting_for`). Forms become the API's step bodies and go through its
//! parsing (`api::cases::referral_step_of`) and the registry's use case.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{ResponseError, web};
use minijinja::context;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{ConsoleError, Form, Shown, Staff, see_other, v};
use crate::api::ApiError;
use crate::api::cases::{ReferralRequest, new_referral, referral_step_of, steps_detail};
use crate::auth::policy;
use crate::cases::referral::waiting_for;
use crate::registry::org_of;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/referrals", web::get().to(list))
        .route("/referrals/new", web::get().to(new_form))
        .route("/referrals/new", web::post().to(send))
        .route("/referrals/{id}", web::get().to(page))
        .route("/referrals/{id}/{step}", web::post().to(step));
}

pub fn audit_action(route: &str) -> Option<&'static str> {
    Some(match route {
        "/console/referrals/new" => "referral.send",
        "/console/referrals/{id}/{step}" => "referral.step",
        _ => return None,
    })
}

fn referral_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text).map_err(|_| ApiError::NotFound(format!("no referral {text:?}")))
}

async fn list(staff: Staff) -> Shown {
    let by = staff.require(policy::READ_CASES)?;
    let mut referrals = staff.referrals(by).await?;
    referrals.sort_by_key(|r| std::cmp::Reverse(r.sent_at));
    let org = org_of(by).ok();
    let (received, sent): (Vec<_>, Vec<_>) = match org {
        Some(org) => referrals
            .into_iter()
            .filter(|r| r.to == org || r.from == org)
            .partition(|r| r.to == org),
        // National organisations' and auditors' keys read every referral.
        None => (Vec::new(), referrals),
    };
    staff.page(
        "referrals.html",
        context! {
            received => v(&received),
            sent => v(&sent),
            own => v(&org.is_some()),
            may_send => v(&(org.is_some() && staff.may(policy::ACT_ON_CASES))),
        },
    )
}

async fn new_form(staff: Staff) -> Shown {
    let by = staff.require(policy::ACT_ON_CASES)?;
    org_of(by)?;
    send_page(&staff, StatusCode::OK, None, &HashMap::new())
}

fn send_page(
    staff: &Staff,
    status: StatusCode,
    code: Option<&str>,
    values: &HashMap<String, String>,
) -> Shown {
    staff.page_with(
        status,
        "referral_new.html",
        context! { code => v(&code), values => v(values) },
    )
}

/// Sends a referral: the form becomes the API's request body, parsed by its rules.
async fn send(staff: Staff, payload: web::Payload) -> Shown {
    let by = staff.require(policy::ACT_ON_CASES)?;
    org_of(by)?;
    let form = staff.form(payload).await?;
    let sent = async {
        let mut body = json!({
            "to": form.text("to"),
            "subject": form.text("subject"),
            "domain": form.text("domain"),
            "summary": form.text("summary"),
        });
        if let Json::Object(map) = &mut body {
            map.retain(|_, v| !v.is_null());
        }
        let asked: ReferralRequest =
            serde_json::from_value(body).map_err(|e| ApiError::InvalidJson(e.to_string()))?;
        Ok::<_, ConsoleError>(staff.refer(by, new_referral(asked)?).await?)
    }
    .await;
    match sent {
        Ok(referral) => {
            staff.note(referral.id.to_string(), steps_detail(&referral.timeline));
            Ok(see_other(&format!("/console/referrals/{}", referral.id)))
        }
        Err(ConsoleError::Api(e)) if e.status_code().is_client_error() => {
            send_page(&staff, e.status_code(), Some(e.code()), &form.values())
        }
        Err(e) => Err(e),
    }
}

async fn page(staff: Staff, path: web::Path<String>) -> Shown {
    let by = staff.require(policy::READ_CASES)?;
    let referral = staff.referral(by, referral_id(&path)?).await?;
    let steps: &[&str] = match org_of(by) {
        Ok(org) if staff.may(policy::ACT_ON_CASES) => match waiting_for(&referral, org) {
            Some(("accept_or_return", _)) => &["accept", "return"],
            Some(("answer", _)) => &["answer"],
            _ => &[],
        },
        _ => &[],
    };
    staff.page(
        "referral.html",
        context! { referral => v(&referral), steps => v(&steps) },
    )
}

/// Takes a step: the form becomes the step's API body, parsed by the API's rules.
async fn step(staff: Staff, path: web::Path<(String, String)>, payload: web::Payload) -> Shown {
    let by = staff.require(policy::ACT_ON_CASES)?;
    org_of(by)?;
    let (id, step) = path.into_inner();
    let id = referral_id(&id)?;
    staff.note(id.to_string(), step.as_str());
    let form = staff.form(payload).await?;
    let step = referral_step_of(&step, step_body(&step, &form).to_string().as_bytes())?;
    staff.referral_step(by, id, step).await?;
    Ok(see_other(&format!("/console/referrals/{id}")))
}

fn step_body(step: &str, form: &Form) -> Json {
    let mut body = match step {
        "return" => json!({ "reason": form.text("reason") }),
        "answer" => json!({ "result": form.text("result") }),
        _ => json!({}),
    };
    if let Json::Object(map) = &mut body {
        map.retain(|_, v| !v.is_null());
    }
    body
}
