//! The staff console (`/console/…`) and the public pages (`/notice`, `/lookup`): HTML for
//! people, on the same listener and with the same roles as the API. Every page calls the
//! registry's use cases and the API's parsing, so no rule is written twice; this module owns
//! only sessions' cookies, forms, the page templates (`templates/`, compiled into the binary)
//! and their texts (`locales/`, Fluent, Simplified Chinese first).
//!
//! - `mod.rs`: routes, the signed-in `Staff` extractor, forms and their CSRF token, rendering
//!   and error pages. `i18n`: languages and messages. `public`: the public pages.
//! - `home` (home and inbox), `entries` (search, entry page, listing, lifting, four-eyes),
//!   `cases` (cases), `referrals` (referrals sent and received), `records` (look-ups,
//!   `verify`, imports), `providers` (compliance), `audit` (the log), `admin` (keys,
//!   providers, protected names).

mod admin;
mod audit;
mod cases;
mod entries;
mod home;
pub mod i18n;
mod providers;
mod public;
mod records;
mod referrals;

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use actix_web::cookie::{Cookie, SameSite};
use actix_web::dev::{Payload, ServiceResponse};
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, ResponseError, web};
use futures_util::future::LocalBoxFuture;
use minijinja::value::Kwargs;
use minijinja::{Environment, Value, context};
use serde::Serialize;

use crate::api::{ApiError, State};
use crate::auth::Principal;
use crate::domain::Role;
use crate::model::Session;
use crate::registry::{Registry, RegistryError, csrf_matches};
use i18n::Lang;

/// The session cookie: `HttpOnly`, `SameSite=Strict`, `Secure` whenever TLS is on.
pub const SESSION_COOKIE: &str = "siteban_session";
/// The sign-in form's token, before there is a session to hold one (double submit).
const SIGN_IN_COOKIE: &str = "siteban_sign_in";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(public::root))
        .route("/notice", web::get().to(public::notice))
        .route("/lookup", web::get().to(public::lookup))
        .route("/console", web::get().to(to_console))
        .service(
            web::scope("/console")
                .wrap(ErrorHandlers::new().default_handler(error_page))
                .route("/static/console.css", web::get().to(stylesheet))
                .route("/static/htmx.min.js", web::get().to(script))
                .route("/static/console.js", web::get().to(own_script))
                .route("/sign-in", web::get().to(home::sign_in_form))
                .route("/sign-in", web::post().to(home::sign_in))
                .route("/sign-out", web::post().to(home::sign_out))
                .route("/language", web::get().to(switch_language))
                .route("/", web::get().to(home::home))
                .route("/inbox", web::get().to(home::inbox))
                .configure(entries::routes)
                .configure(cases::routes)
                .configure(referrals::routes)
                .configure(records::routes)
                .configure(providers::routes)
                .configure(audit::routes)
                .configure(admin::routes)
                .default_service(web::to(not_found)),
        );
}

/// The node's answer to a path no route serves: the notice for a listed site's visitor,
/// otherwise the API's `404` (`public::fallback`). Set as the application's default service.
pub async fn fallback(req: HttpRequest, state: State) -> HttpResponse {
    public::fallback(req, state).await
}

/// The audit action of a console request that changes something: the API's action for the
/// same use case, so that the log reads the same whichever way a person acted.
pub fn audit_action(method: &str, route: &str) -> Option<Option<String>> {
    if !route.starts_with("/console") {
        return None;
    }
    if method != "POST" {
        return Some(None);
    }
    let action = match route {
        "/console/sign-in" => "console.sign_in",
        "/console/sign-out" => "console.sign_out",
        other => match entries::audit_action(other)
            .or_else(|| cases::audit_action(other))
            .or_else(|| referrals::audit_action(other))
            .or_else(|| records::audit_action(other))
            .or_else(|| admin::audit_action(other))
        {
            Some(action) => action,
            None => return Some(Some(format!("POST {other}"))),
        },
    };
    Some(Some(action.to_string()))
}

async fn to_console() -> HttpResponse {
    see_other("/console/")
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    let lang = Lang::of(&req);
    failure_page(lang, StatusCode::NOT_FOUND, "not_found", None)
}

/// A `303 See Other`: where a form's answer sends the browser.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("static/console.css"))
}

/// The console's own enhancement (upload progress), beside htmx: a file, since the pages'
/// policy allows no inline script.
async fn own_script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("static/console.js"))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=86400"))
        .body(include_str!("static/htmx.min.js"))
}

#[derive(serde::Deserialize)]
struct LanguageQuery {
    to: String,
    next: Option<String>,
}

/// The language switch: remembered in a cookie for a year, then back to the page.
async fn switch_language(query: web::Query<LanguageQuery>) -> HttpResponse {
    let lang = Lang::parse(&query.to).unwrap_or(Lang::Zh);
    let cookie = Cookie::build(i18n::LANG_COOKIE, lang.code())
        .path("/")
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::days(365))
        .finish();
    let mut answer = see_other(&local_path(query.next.as_deref()));
    let _ = answer.add_cookie(&cookie);
    answer
}

/// A path on this site to return to; anything else (another site, a scheme) goes home.
/// Browsers drop tabs and line breaks from a URL and read `\\` as `/`, so `/\t/host` and
/// `/\\host` would leave the site: a path with either, or any blank, is refused too.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p
                    .chars()
                    .any(|c| c == '\\' || c.is_whitespace() || c.is_control()) =>
        {
            p.into()
        }
        _ => "/console/".into(),
    }
}

// ---------------------------------------------------------------------------------------
// Templates

static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    macro_rules! templates {
        ($($name:literal),* $(,)?) => {
            $(env
                .add_template($name, include_str!(concat!("templates/", $name)))
                .expect(concat!("the template ", $name, " parses"));)*
        };
    }
    templates!(
        "base.html",
        "error.html",
        "macros.html",
        "sign_in.html",
        "home.html",
        "inbox.html",
        "public.html",
        "entries.html",
        "entry.html",
        "entry_new.html",
        "review.html",
        "cases.html",
        "case.html",
        "case_new.html",
        "check.html",
        "referrals.html",
        "referral.html",
        "referral_new.html",
        "records.html",
        "records_import.html",
        "providers.html",
        "audit.html",
        "admin_keys.html",
        "admin_providers.html",
        "admin_protected.html",
    );
    env.add_function("t", translate);
    env.add_function("t_in", translate_in);
    env.add_function("explain", explain);
    env.add_filter("when", when);
    env
});

/// `t("key", name=value…)`: the message in the page's language (`lang` in the context).
fn translate(
    state: &minijinja::State,
    key: &str,
    args: Kwargs,
) -> Result<String, minijinja::Error> {
    translate_in(page_lang(state).code(), key, args)
}

/// `t_in("en", "key", name=value…)`: the message in a given language, for the pages that
/// speak both at once (the public notice).
fn translate_in(lang: &str, key: &str, args: Kwargs) -> Result<String, minijinja::Error> {
    let lang = Lang::parse(lang).unwrap_or(Lang::Zh);
    let mut values = Vec::new();
    for name in args.args() {
        let value: Value = args.get(name)?;
        let text = match value.as_str() {
            Some(s) => s.to_string(),
            None => value.to_string(),
        };
        values.push((name, text));
    }
    Ok(lang.text(key, &values))
}

/// `explain(code)`: what an error code means, in the page's language.
fn explain(state: &minijinja::State, code: &str) -> String {
    page_lang(state).error(code)
}

thread_local! {
    /// The language of the page being rendered on this thread, for `t` and `explain` in
    /// imported macros too, which do not see the page's context.
    static RENDERING: std::cell::Cell<Lang> = const { std::cell::Cell::new(Lang::Zh) };
}

fn page_lang(_: &minijinja::State) -> Lang {
    RENDERING.with(std::cell::Cell::get)
}

/// A stored time (RFC 3339, UTC) as China reads it: `2026-05-01 16:00`, Beijing time.
fn when(value: Value) -> String {
    let Some(text) = value.as_str() else {
        return value.to_string();
    };
    let parsed = time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339);
    match parsed {
        Ok(at) => {
            let at = at.to_offset(time::macros::offset!(+8));
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}",
                at.year(),
                at.month() as u8,
                at.day(),
                at.hour(),
                at.minute()
            )
        }
        Err(_) => text.to_string(),
    }
}

/// Renders a template to an HTML answer.
pub fn render(status: StatusCode, name: &str, ctx: Value) -> HttpResponse {
    let lang = ctx
        .get_attr("lang")
        .ok()
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or(Lang::Zh);
    RENDERING.with(|l| l.set(lang));
    match TEMPLATES.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => html_answer(status, html),
        Err(e) => {
            tracing::error!(error = %e, template = name, "cannot render a console page");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("internal error")
        }
    }
}

fn html_answer(status: StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Frame-Options", "DENY"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "same-origin"))
        .insert_header((
            "Content-Security-Policy",
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .body(html)
}

/// An error page: what the code means in the reader's language, and a way back.
fn failure_page(
    lang: Lang,
    status: StatusCode,
    code: &'static str,
    staff: Option<&Staff>,
) -> HttpResponse {
    let mut answer = render(
        status,
        "error.html",
        context! {
            lang => v(&lang.code()),
            staff => v(&staff.map(Staff::view)),
            code => v(&code),
            status => v(&status.as_u16()),
        },
    );
    answer
        .extensions_mut()
        .insert(crate::api::error::ErrorCode(code));
    answer
}

/// Replaces the body of a console error answer that a handler or an extractor gave without
/// one (a `ConsoleError`) with the page in the reader's language.
fn error_page<B: actix_web::body::MessageBody + 'static>(
    res: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let Some(failure) = res.response().extensions().get::<Failure>().cloned() else {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    };
    let (req, _) = res.into_parts();
    let lang = Lang::of(&req);
    let answer = failure_page(lang, failure.status, failure.code, None);
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, answer).map_into_right_body(),
    ))
}

#[derive(Clone)]
struct Failure {
    status: StatusCode,
    code: &'static str,
}

/// What a console request can fail with: not signed in (to the sign-in page), a form
/// without its token, or anything the API would answer with an error code.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("sign in first")]
    SignIn { next: String },
    #[error("the form's token is missing or wrong")]
    Csrf,
    #[error(transparent)]
    Api(#[from] ApiError),
}

impl From<RegistryError> for ConsoleError {
    fn from(e: RegistryError) -> ConsoleError {
        ConsoleError::Api(e.into())
    }
}

impl From<crate::domain::DomainError> for ConsoleError {
    fn from(e: crate::domain::DomainError) -> ConsoleError {
        ConsoleError::Api(e.into())
    }
}

impl ConsoleError {
    pub fn code(&self) -> &'static str {
        match self {
            ConsoleError::SignIn { .. } => "unauthenticated",
            ConsoleError::Csrf => "csrf_failed",
            ConsoleError::Api(e) => e.code(),
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::Csrf => StatusCode::FORBIDDEN,
            ConsoleError::Api(e) => e.status_code(),
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn { next } = self {
            let to = format!(
                "/console/sign-in?next={}",
                form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
            );
            return see_other(&to);
        }
        if let ConsoleError::Api(e) = self {
            // Logs server faults once, as the API does.
            let _ = e.error_response();
        }
        let status = self.status_code();
        let mut answer = HttpResponse::build(status).finish();
        answer.extensions_mut().insert(Failure {
            status,
            code: self.code(),
        });
        answer
            .extensions_mut()
            .insert(crate::api::error::ErrorCode(self.code()));
        answer
    }
}

pub type Shown = Result<HttpResponse, ConsoleError>;

// ---------------------------------------------------------------------------------------
// The signed-in person

/// A request made in a signed-in console session: the key it signed in with, the session
/// (for its form token), the page's language and the registry.
pub struct Staff {
    pub principal: Arc<Principal>,
    pub session: Session,
    pub lang: Lang,
    pub state: State,
    pub req: HttpRequest,
}

#[derive(Serialize)]
pub struct StaffView {
    name: String,
    role: &'static str,
    province: Option<String>,
    org: Option<String>,
    csrf: String,
    /// The pages of the menu this key may open.
    nav: Vec<&'static str>,
}

impl Staff {
    /// Allows the page only for the given roles (the API's policy of the same use case).
    pub fn require(&self, roles: &[Role]) -> Result<&Principal, ConsoleError> {
        if roles.contains(&self.principal.role) {
            Ok(&self.principal)
        } else {
            Err(ApiError::Forbidden.into())
        }
    }

    pub fn may(&self, roles: &[Role]) -> bool {
        roles.contains(&self.principal.role)
    }

    fn view(&self) -> StaffView {
        use crate::auth::policy;
        let mut nav = vec!["home"];
        for (page, roles) in [
            ("inbox", policy::ACT_ON_CASES),
            ("entries", policy::READ_ENTRIES),
            ("review", policy::WRITE_ENTRIES),
            ("cases", policy::READ_CASES),
            ("referrals", policy::READ_CASES),
            ("records", policy::READ_RECORDS),
            ("providers", policy::COMPLIANCE),
            ("audit", policy::READ_AUDIT),
            ("admin", policy::MANAGE_KEYS),
        ] {
            if self.may(roles) {
                nav.push(page);
            }
        }
        StaffView {
            name: self.principal.name.clone(),
            role: self.principal.role.as_str(),
            province: self.principal.province.map(|p| p.to_string()),
            org: crate::registry::org_of(&self.principal)
                .ok()
                .map(|o| o.to_string()),
            csrf: self.session.csrf.clone(),
            nav,
        }
    }

    /// Renders a page for this person: `ctx` beside the language, the menu and the form
    /// token.
    pub fn page(&self, name: &str, ctx: Value) -> Shown {
        self.page_with(StatusCode::OK, name, ctx)
    }

    pub fn page_with(&self, status: StatusCode, name: &str, ctx: Value) -> Shown {
        let base = context! {
            lang => v(&self.lang.code()),
            staff => v(&self.view()),
            path => v(&self.req.path()),
        };
        Ok(render(status, name, context! { ..base, ..ctx,}))
    }

    /// Reads a form (`application/x-www-form-urlencoded`) and checks its token.
    pub async fn form(&self, payload: web::Payload) -> Result<Form, ConsoleError> {
        let limit = self.state.settings.limits.write_body_bytes;
        let body = crate::api::read_body_within(&self.req, payload, limit, 30_000).await?;
        let form = Form::parse(&body);
        if !csrf_matches(&self.session, form.get("csrf").unwrap_or("")) {
            return Err(ConsoleError::Csrf);
        }
        Ok(form)
    }

    /// The dates a document in this request may bear (as `api::Call::document_dates`).
    pub fn document_dates(&self) -> crate::domain::DateWindow {
        crate::domain::DateWindow::until_today(self.state.settings.documents.earliest_date)
    }

    /// Records the target of this request for the audit log.
    pub fn note(&self, target: impl Into<String>, detail: impl Into<String>) {
        crate::api::note(&self.req, target, detail);
    }
}

impl std::ops::Deref for Staff {
    type Target = Registry;

    fn deref(&self) -> &Registry {
        &self.state
    }
}

impl FromRequest for Staff {
    type Error = ConsoleError;
    type Future = LocalBoxFuture<'static, Result<Staff, ConsoleError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let state = req
                .app_data::<State>()
                .cloned()
                .ok_or_else(|| ApiError::Internal("registry missing from app data".into()))?;
            let next = match req.query_string() {
                "" => req.path().to_string(),
                q => format!("{}?{q}", req.path()),
            };
            let next = if req.method() == actix_web::http::Method::GET {
                next
            } else {
                "/console/".to_string()
            };
            let Some(cookie) = req.cookie(SESSION_COOKIE) else {
                return Err(ConsoleError::SignIn { next });
            };
            let Some(signed) = state.signed_in(cookie.value()).await? else {
                return Err(ConsoleError::SignIn { next });
            };
            crate::api::limits(&req)?
                .check(&signed.principal)
                .map_err(ApiError::from)?;
            if req.method() != actix_web::http::Method::GET {
                req.extensions_mut().insert(Arc::clone(&signed.principal));
            }
            Ok(Staff {
                principal: signed.principal,
                session: signed.session,
                lang: Lang::of(&req),
                state,
                req,
            })
        })
    }
}

/// A submitted form's fields, in order; a field given twice keeps every value.
pub struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(
            form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The field's first value, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The field's first value, trimmed; none when absent or blank.
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    }

    /// Every value of the field (checkboxes).
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// The fields as the template shows them back after a refusal.
    pub fn values(&self) -> HashMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

/// The session cookie for `value`: `Secure` when this node serves TLS.
pub fn session_cookie(registry: &Registry, value: &str) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, value.to_string())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(registry.settings.server.tls.cert_path.is_some())
        .finish()
}

/// A random 256-bit token, hex-encoded (form tokens before a session exists).
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    hex::encode(bytes)
}

/// A value of a page's context, from anything serialisable.
pub fn v<T: Serialize + ?Sized>(value: &T) -> Value {
    Value::from(minijinja::value::Serde(value))
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        for (next, to) in [
            (
                Some("/console/cases?state=held"),
                "/console/cases?state=held",
            ),
            (None, "/console/"),
            (Some("https://evil.example/"), "/console/"),
            (Some("//evil.example/"), "/console/"),
            (Some("/\\evil.example/"), "/console/"),
            (Some("/\t/evil.example/"), "/console/"),
            (Some("/\n/evil.example/"), "/console/"),
            (Some("console/"), "/console/"),
        ] {
            assert_eq!(local_path(next), to, "{next:?}");
        }
    }
}
