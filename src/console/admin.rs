//! Administration in the console (admins only): keys (list, create with a role, province and
//! provider, the new token shown once, revoke), providers (list, register, remove) and
//! protected names (list, add, remove). Forms become the API's request bodies and go through
//! its parsing (`api::keys::new_key`, `api::providers::new_provider`,
//! `api::protected::protect_request`) and the registry's use cases.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use actix_web::{ResponseError, web};
use minijinja::{Value, context};
use serde_json::{Value as Json, json};

use super::{ConsoleError, Form, Shown, Staff, see_other, v};
use crate::api::ApiError;
use crate::api::keys::{CreateKeyRequest, new_key};
use crate::api::protected::{ProtectRequest, protect_request};
use crate::api::providers::{ProviderRequest, new_provider};
use crate::auth::policy;
use crate::domain::{DomainName, Province, Role};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin", web::get().to(to_keys))
        .route("/admin/keys", web::get().to(keys))
        .route("/admin/keys", web::post().to(create_key))
        .route("/admin/keys/{id}/revoke", web::post().to(revoke_key))
        .route("/admin/providers", web::get().to(providers))
        .route("/admin/providers", web::post().to(create_provider))
        .route(
            "/admin/providers/{id}/delete",
            web::post().to(delete_provider),
        )
        .route("/admin/protected", web::get().to(protected))
        .route("/admin/protected", web::post().to(protect))
        .route(
            "/admin/protected/{domain}/remove",
            web::post().to(unprotect),
        );
}

pub fn audit_action(route: &str) -> Option<&'static str> {
    Some(match route {
        "/console/admin/keys" => "key.create",
        "/console/admin/keys/{id}/revoke" => "key.revoke",
        "/console/admin/providers" => "provider.create",
        "/console/admin/providers/{id}/delete" => "provider.delete",
        "/console/admin/protected" => "protected.add",
        "/console/admin/protected/{domain}/remove" => "protected.remove",
        _ => return None,
    })
}

async fn to_keys(staff: Staff) -> Shown {
    staff.require(policy::MANAGE_KEYS)?;
    Ok(see_other("/console/admin/keys"))
}

/// The API's JSON body from a form's fields: blank fields left out, as a client would.
fn body(fields: Json) -> Json {
    let mut body = fields;
    if let Json::Object(map) = &mut body {
        map.retain(|_, v| !v.is_null());
    }
    body
}

fn request<T: serde::de::DeserializeOwned>(body: Json) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| ApiError::InvalidJson(e.to_string()))
}

/// The lines of a text area, blank ones left out.
fn lines(form: &Form, name: &str) -> Vec<String> {
    form.get(name)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// A refusal the reader can fix shown on the page; anything else stays an error.
fn shown_refusal(e: ConsoleError) -> Result<&'static str, ConsoleError> {
    match e {
        ConsoleError::Api(e) if e.status_code().is_client_error() => Ok(e.code()),
        e => Err(e),
    }
}

fn status_of(code: Option<&str>) -> StatusCode {
    match code {
        Some("not_found") => StatusCode::NOT_FOUND,
        Some(_) => StatusCode::UNPROCESSABLE_ENTITY,
        None => StatusCode::OK,
    }
}

fn provinces() -> Vec<String> {
    Province::ALL.iter().map(ToString::to_string).collect()
}

// ---------------------------------------------------------------------------------------
// Keys

async fn keys(staff: Staff) -> Shown {
    staff.require(policy::MANAGE_KEYS)?;
    keys_page(&staff, None, Value::from(()), &HashMap::new()).await
}

async fn keys_page(
    staff: &Staff,
    code: Option<&str>,
    created: Value,
    values: &HashMap<String, String>,
) -> Shown {
    let mut keys = staff.keys().await?;
    keys.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let keys: Vec<_> = keys
        .iter()
        .map(|k| crate::api::keys::view(k, None))
        .collect();
    let providers = staff.providers().await?;
    let providers: Vec<_> = providers
        .iter()
        .map(|p| crate::api::providers::view(p, false))
        .collect();
    let status = if created.is_none() {
        status_of(code)
    } else {
        StatusCode::CREATED
    };
    staff.page_with(
        status,
        "admin_keys.html",
        context! {
            keys => v(&keys),
            providers => v(&providers),
            roles => v(&Role::ALL.iter().map(|r| r.as_str()).collect::<Vec<_>>()),
            provinces => v(&provinces()),
            code => v(&code),
            created => created,
            values => v(values),
        },
    )
}

async fn create_key(staff: Staff, payload: web::Payload) -> Shown {
    let admin = staff.require(policy::MANAGE_KEYS)?;
    let form = staff.form(payload).await?;
    let made = async {
        let asked: CreateKeyRequest = request(body(json!({
            "name": form.text("name"),
            "role": form.text("role"),
            "province": form.text("province"),
            "provider_id": form.text("provider_id"),
            "expires_at": form.text("expires_on").map(|day| format!("{day}T23:59:59+08:00")),
        })))?;
        let (record, token) = new_key(&staff.state, asked).await?;
        staff.note(record.id.as_str(), format!("role {}", record.role.as_str()));
        staff.create_key(record.clone()).await?;
        tracing::info!(key_id = %record.id, role = record.role.as_str(), by = %admin.key_id, "key created");
        Ok::<_, ConsoleError>(crate::api::keys::view(&record, Some(token)))
    }
    .await;
    match made {
        Ok(key) => keys_page(&staff, None, v(&key), &HashMap::new()).await,
        Err(e) => {
            let code = shown_refusal(e)?;
            keys_page(&staff, Some(code), Value::from(()), &form.values()).await
        }
    }
}

async fn revoke_key(staff: Staff, path: web::Path<String>, payload: web::Payload) -> Shown {
    let admin = staff.require(policy::MANAGE_KEYS)?;
    staff.note(path.as_str(), "");
    staff.form(payload).await?;
    staff.revoke_key(&path).await?;
    tracing::info!(key_id = %path, by = %admin.key_id, "key revoked");
    Ok(see_other("/console/admin/keys"))
}

// ---------------------------------------------------------------------------------------
// Providers

async fn providers(staff: Staff) -> Shown {
    staff.require(policy::MANAGE_PROVIDERS)?;
    providers_page(&staff, None, Value::from(()), &HashMap::new()).await
}

async fn providers_page(
    staff: &Staff,
    code: Option<&str>,
    created: Value,
    values: &HashMap<String, String>,
) -> Shown {
    let mut providers = staff.providers().await?;
    providers.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    let providers: Vec<_> = providers
        .iter()
        .map(|p| crate::api::providers::view(p, false))
        .collect();
    let status = if created.is_none() {
        status_of(code)
    } else {
        StatusCode::CREATED
    };
    staff.page_with(
        status,
        "admin_providers.html",
        context! {
            providers => v(&providers),
            provinces => v(&provinces()),
            code => v(&code),
            created => created,
            values => v(values),
        },
    )
}

async fn create_provider(staff: Staff, payload: web::Payload) -> Shown {
    let admin = staff.require(policy::MANAGE_PROVIDERS)?;
    let form = staff.form(payload).await?;
    let made = async {
        let kind = form.text("kind");
        let (ranges, nameservers) = match kind.as_deref() {
            Some("dns") => (None, Some(lines(&form, "nameservers"))),
            _ => (Some(lines(&form, "ranges")), None),
        };
        let asked: ProviderRequest = request(body(json!({
            "name": form.text("name"),
            "kind": kind,
            "province": form.text("province"),
            "ranges": ranges,
            "nameservers": nameservers,
            "webhook_url": form.text("webhook_url"),
        })))?;
        let provider = new_provider(asked)?;
        staff.note(provider.id.as_str(), format!("kind {}", provider.kind.as_str()));
        staff.put_provider(provider.clone()).await?;
        tracing::info!(provider_id = %provider.id, kind = provider.kind.as_str(), by = %admin.key_id, "provider registered");
        Ok::<_, ConsoleError>(crate::api::providers::view(&provider, true))
    }
    .await;
    match made {
        Ok(provider) => providers_page(&staff, None, v(&provider), &HashMap::new()).await,
        Err(e) => {
            let code = shown_refusal(e)?;
            providers_page(&staff, Some(code), Value::from(()), &form.values()).await
        }
    }
}

async fn delete_provider(staff: Staff, path: web::Path<String>, payload: web::Payload) -> Shown {
    let admin = staff.require(policy::MANAGE_PROVIDERS)?;
    staff.note(path.as_str(), "");
    staff.form(payload).await?;
    staff.delete_provider(&path).await?;
    tracing::info!(provider_id = %path, by = %admin.key_id, "provider removed");
    Ok(see_other("/console/admin/providers"))
}

// ---------------------------------------------------------------------------------------
// Protected names

async fn protected(staff: Staff) -> Shown {
    staff.require(policy::MANAGE_PROTECTED)?;
    protected_page(&staff, None, &HashMap::new()).await
}

async fn protected_page(
    staff: &Staff,
    code: Option<&str>,
    values: &HashMap<String, String>,
) -> Shown {
    let mut names = staff.protected_names().await?;
    names.sort_by(|a, b| a.domain.cmp(&b.domain));
    staff.page_with(
        status_of(code),
        "admin_protected.html",
        context! { names => v(&names), code => v(&code), values => v(values) },
    )
}

async fn protect(staff: Staff, payload: web::Payload) -> Shown {
    let admin = staff.require(policy::MANAGE_PROTECTED)?;
    let form = staff.form(payload).await?;
    if let Some(domain) = form.text("domain") {
        staff.note(domain, "");
    }
    let added = async {
        let asked: ProtectRequest = request(body(json!({
            "domain": form.text("domain"),
            "note": form.text("note"),
        })))?;
        let (domain, note) = protect_request(asked)?;
        staff.protect(admin, domain, &note).await?;
        Ok::<_, ConsoleError>(())
    }
    .await;
    match added {
        Ok(()) => Ok(see_other("/console/admin/protected")),
        Err(e) => {
            let code = shown_refusal(e)?;
            protected_page(&staff, Some(code), &form.values()).await
        }
    }
}

async fn unprotect(staff: Staff, path: web::Path<String>, payload: web::Payload) -> Shown {
    staff.require(policy::MANAGE_PROTECTED)?;
    staff.note(path.as_str(), "");
    staff.form(payload).await?;
    let domain = DomainName::parse(&path)?;
    staff.unprotect(&domain).await?;
    Ok(see_other("/console/admin/protected"))
}
