//! Signing in and out, the home page (the organisation, what waits for it, overdue notices,
//! recent listings) and the inbox.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::i18n::Lang;
use super::{Form, SESSION_COOKIE, SIGN_IN_COOKIE, Shown, Staff, local_path, render, see_other};
use crate::api::{ApiError, State};
use crate::auth::policy;
use crate::notices::model::NoticeStatus;

#[derive(Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// The sign-in form. Before a session exists, its token is a cookie the form repeats.
pub async fn sign_in_form(req: HttpRequest, query: web::Query<Next>) -> HttpResponse {
    sign_in_page(&req, query.next.as_deref(), None, StatusCode::OK)
}

fn sign_in_page(
    req: &HttpRequest,
    next: Option<&str>,
    code: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let token = super::random_token();
    let mut answer = render(
        status,
        "sign_in.html",
        context! {
            lang => super::v(&Lang::of(req).code()),
            path => super::v(&req.path()),
            next => super::v(&local_path(next)),
            csrf => super::v(&&token),
            code => super::v(&code),
        },
    );
    let cookie = Cookie::build(SIGN_IN_COOKIE, token)
        .path("/console/sign-in")
        .http_only(true)
        .same_site(SameSite::Strict)
        .finish();
    let _ = answer.add_cookie(&cookie);
    answer
}

/// Signs in with a key's token; the session cookie goes on this answer, a redirect.
pub async fn sign_in(req: HttpRequest, state: State, payload: web::Payload) -> HttpResponse {
    let limit = state.settings.limits.write_body_bytes;
    let body = match crate::api::read_body_within(&req, payload, limit, 30_000).await {
        Ok(body) => body,
        Err(e) => return sign_in_page(&req, None, Some(e.code()), StatusCode::BAD_REQUEST),
    };
    let form = Form::parse(&body);
    let next = form.get("next");
    let expected = req.cookie(SIGN_IN_COOKIE);
    let presented = form.get("csrf").unwrap_or("");
    let token_ok = expected.is_some_and(|c| {
        !presented.is_empty()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                c.value().as_bytes(),
                presented.as_bytes(),
            ))
    });
    if !token_ok {
        return sign_in_page(&req, next, Some("csrf_failed"), StatusCode::FORBIDDEN);
    }
    // Guessing tokens costs the guesser's address its anonymous quota, as on the API.
    let address = req.peer_addr().map(|a| a.ip());
    let token = form.get("token").unwrap_or("").trim();
    let signed = match state.sign_in(token).await {
        Ok(signed) => signed,
        Err(e) => {
            let limited = crate::api::limits(&req)
                .map(|l| l.check_anonymous(address))
                .ok()
                .and_then(Result::err);
            let code = match (limited, ApiError::from(e)) {
                (Some(_), _) => "rate_limited",
                (None, ApiError::ForbiddenBecause(_)) => "invalid_token",
                (None, other) => other.code(),
            };
            return sign_in_page(&req, next, Some(code), StatusCode::UNAUTHORIZED);
        }
    };
    let (cookie, signed) = signed;
    req.extensions_mut()
        .insert(std::sync::Arc::clone(&signed.principal));
    let mut answer = see_other(&local_path(next));
    let _ = answer.add_cookie(&super::session_cookie(&state, &cookie));
    let mut spent = Cookie::build(SIGN_IN_COOKIE, "")
        .path("/console/sign-in")
        .finish();
    spent.make_removal();
    let _ = answer.add_cookie(&spent);
    answer
}

/// Ends the session; its cookie is removed.
pub async fn sign_out(staff: Staff, payload: web::Payload) -> Shown {
    staff.form(payload).await?;
    if let Some(cookie) = staff.req.cookie(SESSION_COOKIE) {
        staff.state.sign_out(cookie.value()).await?;
    }
    let mut answer = see_other("/console/sign-in");
    let mut removal = super::session_cookie(&staff.state, "");
    removal.make_removal();
    let _ = answer.add_cookie(&removal);
    Ok(answer)
}

/// How many of the latest feed events the home page shows.
const RECENT: u64 = 10;

/// Home: the organisation, what waits for it, overdue notices and recent listings.
pub async fn home(staff: Staff) -> Shown {
    let inbox = if staff.may(policy::ACT_ON_CASES) {
        staff
            .inbox(&staff.principal)
            .await
            .ok()
            .map(|(_, items)| items)
    } else {
        None
    };
    let overdue = if staff.may(policy::COMPLIANCE) {
        let counts = staff.notice_counts().await?;
        Some(counts.get(&NoticeStatus::Overdue).copied().unwrap_or(0))
    } else {
        None
    };
    // The latest changes from the feed, newest first: a read of a few events, however many
    // entries the registry holds.
    let recent = if staff.may(policy::READ_ENTRIES) {
        let head = staff.index.seq();
        let mut events = staff
            .events(head.saturating_sub(RECENT), RECENT as usize)
            .await?;
        events.reverse();
        Some(events)
    } else {
        None
    };
    staff.page(
        "home.html",
        context! {
            inbox_count => super::v(&inbox.as_ref().map(Vec::len)),
            overdue => super::v(&overdue),
            recent => super::v(&recent),
        },
    )
}

/// What waits for the organisation, oldest first, with its age and next action.
pub async fn inbox(staff: Staff) -> Shown {
    let by = staff.require(policy::ACT_ON_CASES)?;
    let (org, items) = staff.inbox(by).await?;
    staff.page(
        "inbox.html",
        context! { org => super::v(&org.to_string()), items => super::v(&items),},
    )
}
