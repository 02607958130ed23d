//! `/v1/providers`: the admin's register of access and DNS providers: what they host (address
//! ranges, name-server suffixes), where their webhook is, and the secret their deliveries are
//! signed with, shown once at creation or rotation. Also the binding of provider keys.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Deserializer, Serialize};

use super::{Answer, ApiError, Call, one_of};
use crate::auth::policy;
use crate::domain::{Cidr, DomainName, Province};
use crate::model::Secret;
use crate::notices::model::{Provider, ProviderKind, new_provider_id};
use crate::notices::webhook;

pub use crate::api::schema::{MAX_ITEMS, MAX_URL};

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn explicit<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The body of `POST /v1/providers` and `PATCH /v1/providers/{id}`. Its document,
/// [`super::schema::provider_request`], is one shape per kind: an access provider with
/// address ranges, a DNS provider with name-server suffixes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderRequest {
    pub name: Option<String>,
    /// `access` or `dns`; cannot change after creation.
    pub kind: Option<String>,
    #[serde(default, deserialize_with = "explicit")]
    pub province: Option<Option<String>>,
    /// Access providers: the address ranges they host (CIDR, IPv4 and IPv6).
    pub ranges: Option<Vec<String>>,
    /// DNS providers: the name-server host suffixes they operate.
    pub nameservers: Option<Vec<String>>,
    /// Where notices are pushed (`http` or `https`); `null` for pull only.
    #[serde(default, deserialize_with = "explicit")]
    pub webhook_url: Option<Option<String>>,
    /// On update: issue a new webhook secret (shown in this answer only).
    #[serde(default)]
    pub rotate_secret: bool,
}

super::schema::documented_as!(ProviderRequest => super::schema::provider_request(false));

/// The document of a `PATCH /v1/providers/{id}` body, which is read as a [`ProviderRequest`]:
/// every field optional, and the lists those of the stored provider's kind.
pub struct ProviderUpdate;

super::schema::documented_as!(ProviderUpdate => super::schema::provider_request(true));

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderView {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    #[schema(value_type = Option<String>)]
    pub province: Option<Province>,
    #[schema(value_type = Vec<String>)]
    pub ranges: Vec<Cidr>,
    #[schema(value_type = Vec<String>)]
    pub nameservers: Vec<DomainName>,
    pub webhook_url: Option<String>,
    /// `whsec_...`: present only in the answer to a creation or a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProviderList {
    pub providers: Vec<ProviderView>,
}

pub fn view(p: &Provider, show_secret: bool) -> ProviderView {
    ProviderView {
        id: p.id.clone(),
        name: p.name.clone(),
        kind: p.kind,
        province: p.province,
        ranges: p.ranges.clone(),
        nameservers: p.nameservers.clone(),
        webhook_url: p.webhook_url.clone(),
        webhook_secret: show_secret.then(|| webhook::shown(p.webhook_secret.expose())),
        created_at: p.created_at.to_string(),
        updated_at: p.updated_at.to_string(),
    }
}

fn province(text: Option<String>) -> Result<Option<Province>, ApiError> {
    text.map(|p| Province::parse(&p))
        .transpose()
        .map_err(|e| ApiError::invalid("invalid_province", e.to_string()))
}

fn ranges(kind: ProviderKind, list: Vec<String>) -> Result<Vec<Cidr>, ApiError> {
    ListRule::of(ProviderKind::Access)
        .parse(kind, list, |r| Cidr::parse(r).map_err(|e| e.to_string()))
}

fn nameservers(kind: ProviderKind, list: Vec<String>) -> Result<Vec<DomainName>, ApiError> {
    ListRule::of(ProviderKind::Dns).parse(kind, list, |n| {
        DomainName::parse(n).map_err(|e| format!("{n:?}: {e}"))
    })
}

/// A list field that only one kind of provider has: its error code and wording.
struct ListRule {
    owner: ProviderKind,
    code: &'static str,
    not_owner: &'static str,
    items: &'static str,
}

impl ListRule {
    /// The rule of the list that providers of kind `owner` keep.
    fn of(owner: ProviderKind) -> ListRule {
        let (code, not_owner, items) = match owner {
            ProviderKind::Access => (
                "invalid_range",
                "only access providers host address ranges",
                "ranges",
            ),
            ProviderKind::Dns => (
                "invalid_nameserver",
                "only DNS providers operate name servers",
                "name-server suffixes",
            ),
        };
        ListRule {
            owner,
            code,
            not_owner,
            items,
        }
    }

    /// The list parsed item by item with `parse` (whose error is the message), duplicates
    /// in a row dropped; refused for a provider of another kind or beyond `MAX_ITEMS`.
    fn parse<T: PartialEq>(
        &self,
        kind: ProviderKind,
        list: Vec<String>,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> Result<Vec<T>, ApiError> {
        if kind != self.owner && !list.is_empty() {
            return Err(ApiError::invalid(self.code, self.not_owner));
        }
        if list.len() > MAX_ITEMS {
            return Err(ApiError::invalid(
                self.code,
                format!("at most {MAX_ITEMS} {}", self.items),
            ));
        }
        let mut out = list
            .iter()
            .map(|item| parse(item).map_err(|message| ApiError::invalid(self.code, message)))
            .collect::<Result<Vec<_>, _>>()?;
        out.dedup();
        Ok(out)
    }
}

pub(crate) fn webhook_url(text: Option<String>) -> Result<Option<String>, ApiError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let bad = |why: &str| ApiError::invalid("invalid_webhook_url", why.to_string());
    if text.len() > MAX_URL {
        return Err(bad("webhook_url is longer than 2000 characters"));
    }
    let url = reqwest::Url::parse(&text).map_err(|e| bad(&format!("webhook_url: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(bad("webhook_url must be an http or https URL with a host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "webhook_url must not carry credentials; deliveries are signed instead",
        ));
    }
    Ok(Some(url.to_string()))
}

/// Register a provider; its webhook secret is in this answer only.
#[utoipa::path(post, path = "/v1/providers", operation_id = "create_provider", tag = "providers", request_body = ProviderRequest,
    responses((status = 201, body = ProviderView),
              (status = 422, description = "invalid_name, invalid_kind, invalid_province, invalid_range, invalid_nameserver, invalid_webhook_url")),
    security(("bearer" = [])))]
pub async fn create(call: Call, payload: web::Payload) -> Answer {
    let admin = call.require(policy::MANAGE_PROVIDERS)?;
    let body: ProviderRequest = call.large_json(payload).await?;
    let provider = new_provider(body)?;
    let kind = provider.kind;
    call.note(provider.id.as_str(), format!("kind {}", kind.as_str()));
    call.put_provider(provider.clone()).await?;
    tracing::info!(provider_id = %provider.id, kind = kind.as_str(), by = %admin.key_id, "provider registered");
    Ok(HttpResponse::Created()
        .insert_header(("Location", format!("/v1/providers/{}", provider.id)))
        .json(view(&provider, true)))
}

/// The provider a creation request describes, with a new webhook secret (not yet stored):
/// the rules of `POST /v1/providers`, which the console's form follows too.
pub fn new_provider(body: ProviderRequest) -> Result<Provider, ApiError> {
    let name = super::display_name(body.name)?;
    let kind = body.kind.unwrap_or_default();
    let kind = one_of(
        "kind",
        &kind,
        ProviderKind::parse,
        "invalid_kind",
        "access, dns",
    )?;
    let province = province(body.province.flatten())?;
    let ranges = ranges(kind, body.ranges.unwrap_or_default())?;
    let nameservers = nameservers(kind, body.nameservers.unwrap_or_default())?;
    let webhook_url = webhook_url(body.webhook_url.flatten())?;
    let now = crate::model::now();
    Ok(Provider {
        id: new_provider_id(),
        name,
        kind,
        province,
        ranges,
        nameservers,
        webhook_url,
        webhook_secret: Secret::new(webhook::new_secret()),
        created_at: now,
        updated_at: now,
    })
}

/// Every provider, without secrets.
#[utoipa::path(get, path = "/v1/providers", operation_id = "list_providers", tag = "providers",
    responses((status = 200, body = ProviderList)), security(("bearer" = [])))]
pub async fn list(call: Call) -> Answer {
    call.require(policy::READ_PROVIDERS)?;
    let mut providers = call.providers().await?;
    providers.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then_with(|| a.id.cmp(&b.id))
    });
    Ok(HttpResponse::Ok().json(ProviderList {
        providers: providers.iter().map(|p| view(p, false)).collect(),
    }))
}

/// One provider, without its secret.
#[utoipa::path(get, path = "/v1/providers/{id}", operation_id = "get_provider", tag = "providers",
    params(("id" = String, Path, description = "provider id")),
    responses((status = 200, body = ProviderView), (status = 404, description = "not_found")),
    security(("bearer" = [])))]
pub async fn get(call: Call, path: web::Path<String>) -> Answer {
    call.require(policy::READ_PROVIDERS)?;
    Ok(HttpResponse::Ok().json(view(&call.provider(&path).await?, false)))
}

/// Change a provider: the fields given replace the stored ones; `rotate_secret` issues a new
/// secret, shown in this answer only.
#[utoipa::path(patch, path = "/v1/providers/{id}", tag = "providers", request_body = ProviderUpdate,
    params(("id" = String, Path, description = "provider id")),
    responses((status = 200, body = ProviderView), (status = 404, description = "not_found"),
              (status = 422, description = "as for creation; invalid_kind when the kind would change")),
    security(("bearer" = [])))]
pub async fn update(call: Call, path: web::Path<String>, payload: web::Payload) -> Answer {
    let admin = call.require_for(policy::MANAGE_PROVIDERS, &path)?;
    let body: ProviderRequest = call.large_json(payload).await?;
    let mut provider = call.provider(&path).await?;
    if let Some(text) = body.name {
        provider.name = super::display_name(Some(text))?;
    }
    if let Some(kind) = body.kind
        && kind != provider.kind.as_str()
    {
        return Err(ApiError::invalid(
            "invalid_kind",
            "a provider's kind cannot change; register a new provider",
        ));
    }
    if let Some(text) = body.province {
        provider.province = province(text)?;
    }
    if let Some(list) = body.ranges {
        provider.ranges = ranges(provider.kind, list)?;
    }
    if let Some(list) = body.nameservers {
        provider.nameservers = nameservers(provider.kind, list)?;
    }
    if let Some(url) = body.webhook_url {
        provider.webhook_url = webhook_url(url)?;
    }
    if body.rotate_secret {
        provider.webhook_secret = Secret::new(webhook::new_secret());
    }
    provider.updated_at = crate::model::now();
    call.put_provider(provider.clone()).await?;
    tracing::info!(provider_id = %provider.id, rotated = body.rotate_secret, by = %admin.key_id, "provider updated");
    Ok(HttpResponse::Ok().json(view(&provider, body.rotate_secret)))
}

/// Remove a provider. Its notices stay, for the record; keys bound to it keep seeing them.
#[utoipa::path(delete, path = "/v1/providers/{id}", tag = "providers",
    params(("id" = String, Path, description = "provider id")),
    responses((status = 204), (status = 404, description = "not_found")),
    security(("bearer" = [])))]
pub async fn delete(call: Call, path: web::Path<String>) -> Answer {
    let admin = call.require_for(policy::MANAGE_PROVIDERS, &path)?;
    call.delete_provider(&path).await?;
    tracing::info!(provider_id = %path, by = %admin.key_id, "provider removed");
    Ok(HttpResponse::NoContent().finish())
}
