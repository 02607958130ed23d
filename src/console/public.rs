//! The public pages, for anyone and without a key: `/notice`, the page a blocked visitor is
//! sent to through the RPZ's notice host (the blocked name is the request's `Host`), the
//! look-up `/lookup?domain=` and its JSON `/v1/public/check?domain=`. Both languages on every
//! page; rate-limited per address (`limits.rate.public`); what they may tell is the
//! registry's (`Registry::public_listing`).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use minijinja::context;
use serde::Deserialize;

use super::i18n::Lang;
use super::render;
use crate::api::public::{PublicView, find, spend};
use crate::api::{ApiError, State};
use crate::domain::DomainName;

#[derive(Deserialize)]
pub struct DomainQuery {
    domain: Option<String>,
}

/// `GET /notice`: the blocked name is the `Host` the visitor's browser asked for.
pub async fn notice(req: HttpRequest, state: State) -> HttpResponse {
    if let Err(e) = spend(&req) {
        return failed(&req, e);
    }
    let host = req.connection_info().host().to_string();
    let name = host_name(&host);
    let listing = match DomainName::parse(name) {
        Ok(domain) => match find(&state, &domain).await {
            Ok(listing) => listing,
            Err(e) => return failed(&req, e),
        },
        // A host that is not a domain name (an address): nothing is listed under it.
        Err(_) => None,
    };
    page(&req, &state, name, listing, StatusCode::OK)
}

/// What a listed site's visitor gets on any other path of its name: the RPZ sent the name to
/// the notice host, so the browser asks this node for the blocked site's own pages. A `GET`
/// whose `Host` is a listed name gets the notice (`451 Unavailable For Legal Reasons`);
/// anything else is the API's `404`, as before.
pub async fn fallback(req: HttpRequest, state: State) -> HttpResponse {
    use actix_web::ResponseError;
    let not_found = || ApiError::NotFound("no such path".into()).error_response();
    if req.method() != actix_web::http::Method::GET {
        return not_found();
    }
    let host = req.connection_info().host().to_string();
    let Ok(domain) = DomainName::parse(host_name(&host)) else {
        return not_found();
    };
    match find(&state, &domain).await {
        Ok(Some(listing)) => {
            if let Err(e) = spend(&req) {
                return failed(&req, e);
            }
            blocked(&req, &state, &domain, listing)
        }
        _ => not_found(),
    }
}

/// The notice for a visitor of a listed site: `451 Unavailable For Legal Reasons`.
fn blocked(
    req: &HttpRequest,
    state: &State,
    domain: &DomainName,
    listing: PublicView,
) -> HttpResponse {
    page(
        req,
        state,
        domain.as_str(),
        Some(listing),
        StatusCode::UNAVAILABLE_FOR_LEGAL_REASONS,
    )
}

/// `GET /`: the console, or the notice when the `Host` is a listed name (see [`fallback`]).
pub async fn root(req: HttpRequest, state: State) -> HttpResponse {
    let host = req.connection_info().host().to_string();
    if let Ok(domain) = DomainName::parse(host_name(&host))
        && let Ok(Some(listing)) = find(&state, &domain).await
    {
        return blocked(&req, &state, &domain, listing);
    }
    super::see_other("/console/")
}

/// `GET /lookup?domain=`: the look-up form, and its answer.
pub async fn lookup(
    req: HttpRequest,
    state: State,
    query: web::Query<DomainQuery>,
) -> HttpResponse {
    let asked = query
        .domain
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty());
    let Some(asked) = asked else {
        return page_of(&req, &state, None, None, None, StatusCode::OK);
    };
    if let Err(e) = spend(&req) {
        return failed(&req, e);
    }
    match DomainName::parse(asked) {
        Ok(domain) => match find(&state, &domain).await {
            Ok(listing) => page(&req, &state, domain.as_str(), listing, StatusCode::OK),
            Err(e) => failed(&req, e),
        },
        Err(e) => page_of(
            &req,
            &state,
            Some(asked),
            None,
            Some(ApiError::from(e).code()),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    }
}

/// The answer page for `name`: its listing, or "not listed".
fn page(
    req: &HttpRequest,
    state: &State,
    name: &str,
    listing: Option<PublicView>,
    status: StatusCode,
) -> HttpResponse {
    page_of(req, state, Some(name), Some(listing), None, status)
}

/// Renders the public page: the look-up form, and the answer for `name` when one was asked.
fn page_of(
    req: &HttpRequest,
    state: &State,
    name: Option<&str>,
    answer: Option<Option<PublicView>>,
    code: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let unicode = name.and_then(|n| DomainName::parse(n).ok()?.to_unicode());
    let listed = answer.as_ref().map(Option::is_some);
    let listing = answer.flatten();
    render(
        status,
        "public.html",
        context! {
            lang => super::v(&Lang::of(req).code()),
            path => super::v(&req.path()),
            name => super::v(&name),
            name_unicode => super::v(&unicode),
            listed => super::v(&listed),
            listing => super::v(&listing),
            code => super::v(&code),
            objection_contact => super::v(&&state.settings.console.objection_contact),
        },
    )
}

fn failed(req: &HttpRequest, e: ApiError) -> HttpResponse {
    use actix_web::ResponseError;
    let status = e.status_code();
    let _ = e.error_response();
    super::failure_page(Lang::of(req), status, e.code(), None)
}

/// The name of a `Host` header: without its port, without a final dot.
fn host_name(host: &str) -> &str {
    let name = if host.starts_with('[') {
        host
    } else {
        host.rsplit_once(':').map_or(host, |(name, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                name
            } else {
                host
            }
        })
    };
    name.trim_end_matches('.')
}

#[cfg(test)]
mod tests {
    use super::host_name;

    #[test]
    fn a_host_header_gives_its_name() {
        for (host, name) in [
            ("shop.example.cn", "shop.example.cn"),
            ("shop.example.cn:8080", "shop.example.cn"),
            ("shop.example.cn.", "shop.example.cn"),
            ("[::1]:8080", "[::1]:8080"),
            ("127.0.0.1:80", "127.0.0.1"),
        ] {
            assert_eq!(host_name(host), name, "{host}");
        }
    }
}
