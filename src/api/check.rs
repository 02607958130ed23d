//! `/v1/check`: is a name listed? Answered from this node's in-memory index only; a check
//! never waits on the store, unless it asks for the proof of a listing (`proof=true`).

use std::borrow::Cow;

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Answer, ApiError, Call};
use crate::api::error::ErrorDetail;
use crate::auth::policy;
use crate::domain::{Category, DomainName, Scope};
use crate::index::Lookup;
use crate::metrics::Metrics;

/// Most names in one batch check.
pub const MAX_BATCH: usize = 10_000;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// At most 10,000 names; an invalid one fails alone, in its place in the results.
    #[schema(max_items = 10000)]
    pub domains: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckMatch<'a> {
    pub domain: &'a str,
    #[schema(value_type = String)]
    pub entry_id: uuid::Uuid,
    #[schema(value_type = String)]
    pub scope: Scope,
    #[schema(value_type = String)]
    pub category: Category,
    pub status: &'static str,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CheckResult<'a> {
    pub domain: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain_unicode: Option<String>,
    pub listed: bool,
    #[serde(rename = "match")]
    pub matched: Option<CheckMatch<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// With `proof=true`, for a listed name: the inclusion proof of the listing's event in
    /// the transparency log, or null while the latest checkpoint does not cover it yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proof: Option<Option<super::log::EventProof>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum BatchItem<'a> {
    Checked(CheckResult<'a>),
    Failed {
        domain: &'a str,
        error: ErrorDetail<'a>,
    },
}

#[derive(Serialize)]
struct BatchResponse<'a> {
    results: Vec<BatchItem<'a>>,
    seq: u64,
}

fn result<'a>(name: &'a DomainName, lookup: &Lookup, metrics: &Metrics) -> CheckResult<'a> {
    let matched = lookup.hit.map(|hit| CheckMatch {
        domain: &name.as_str()[hit.start..],
        entry_id: hit.entry_id(),
        scope: hit.scope(),
        category: hit.category(),
        status: hit.status(),
    });
    if matched.is_some() {
        metrics.checks_listed.inc();
    } else {
        metrics.checks_clear.inc();
    }
    CheckResult {
        domain: name.as_str(),
        domain_unicode: name.to_unicode(),
        listed: matched.is_some(),
        matched,
        seq: None,
        proof: None,
    }
}

/// Check one name.
#[utoipa::path(get, path = "/v1/check", tag = "checks",
    params(("domain" = String, Query, format = "domain-name", min_length = 1, max_length = 1024, description = "the name to check, Unicode or ASCII"),
           ("proof" = Option<bool>, Query, description = "with true, a listed name's answer carries the inclusion proof of its listing in the transparency log")),
    responses((status = 200, body = CheckResult, headers(("X-Blacklist-Seq" = u64))),
              (status = 422, description = "invalid_domain")),
    security(("bearer" = [])))]
pub async fn one(call: Call) -> Answer {
    call.require(policy::CHECK)?;
    let domain = query_param(call.req.query_string(), "domain")
        .ok_or_else(|| ApiError::InvalidParameter("the domain parameter is required".into()))?;
    let name = DomainName::parse(&domain).inspect_err(|_| call.metrics.checks_invalid.inc())?;
    let lookup = call.index.lookup(name.as_str());
    let mut body = result(&name, &lookup, &call.metrics);
    body.seq = Some(lookup.seq);
    let proof = match query_param(call.req.query_string(), "proof").as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::InvalidParameter(format!(
                "proof {other:?} is not true or false"
            )));
        }
    };
    if proof && call.settings.mirror.enabled() {
        return Err(ApiError::Mirror {
            write: false,
            message: "this node is a mirror: a listing's proof comes from the registry's entries; ask the registry, or prove the listing's event with GET /v1/log/proof".into(),
        });
    }
    if let (true, Some(matched)) = (proof, &body.matched) {
        let domain = DomainName::parse(matched.domain)?;
        // No proof yet (no checkpoint covers the listing, or none at all): null.
        let inclusion = match call.prove_listing(&domain, matched.entry_id).await {
            Ok(inclusion) => inclusion,
            Err(crate::registry::RegistryError::Absent { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        body.proof = Some(inclusion.map(super::log::EventProof::from));
    }
    // One allocation of the right size rather than a growing string.
    let mut json = Vec::with_capacity(320);
    serde_json::to_writer(&mut json, &body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(HttpResponse::Ok()
        .insert_header((super::SEQ_HEADER, lookup.seq))
        .content_type("application/json")
        .body(json))
}

/// The first value of parameter `key` in a query string. The hot path of every check: a
/// query with nothing encoded in it (no `%`, no `+`) is split in place, without decoding or
/// allocating; any other goes through `form_urlencoded`, so both read a query alike.
fn query_param<'a>(query: &'a str, key: &str) -> Option<Cow<'a, str>> {
    if !query.bytes().any(|b| b == b'%' || b == b'+') {
        return query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == key).then_some(Cow::Borrowed(v))
        });
    }
    form_urlencoded::parse(query.as_bytes()).find_map(|(k, v)| (k == key).then_some(v))
}

/// Check up to 10,000 names at once; an invalid name fails alone.
#[utoipa::path(post, path = "/v1/check", tag = "checks", request_body = BatchRequest,
    responses((status = 200, description = "one result per name, in input order", headers(("X-Blacklist-Seq" = u64))),
              (status = 422, description = "too_many_domains")),
    security(("bearer" = [])))]
pub async fn batch(call: Call, payload: web::Payload) -> Answer {
    let principal = call.require(policy::CHECK)?;
    let body: BatchRequest = call.large_json(payload).await?;
    if body.domains.len() > MAX_BATCH {
        return Err(ApiError::invalid(
            "too_many_domains",
            format!(
                "{} names given; at most {MAX_BATCH} per request",
                body.domains.len()
            ),
        ));
    }
    // A batch counts one per name; the request itself already counted one.
    super::limits(&call.req)?.check_batch(principal, body.domains.len() as u32)?;
    // One view for the whole batch, so every answer is as of the same sequence.
    let view = call.index.view();
    let names: Vec<Result<DomainName, ApiError>> = body
        .domains
        .iter()
        .map(|d| DomainName::parse(d).map_err(ApiError::from))
        .collect();
    let results = names
        .iter()
        .zip(&body.domains)
        .map(|(name, given)| match name {
            Ok(name) => {
                let lookup = Lookup {
                    seq: view.seq(),
                    hit: view.find(name.as_str()),
                };
                BatchItem::Checked(result(name, &lookup, &call.metrics))
            }
            Err(e) => {
                call.metrics.checks_invalid.inc();
                BatchItem::Failed {
                    domain: given,
                    error: ErrorDetail {
                        code: e.code(),
                        message: e.to_string(),
                    },
                }
            }
        })
        .collect();
    let seq = view.seq();
    Ok(HttpResponse::Ok()
        .insert_header((super::SEQ_HEADER, seq))
        .json(BatchResponse { results, seq }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn the_plain_and_the_decoding_paths_read_a_query_alike() {
        for (query, want) in [
            ("domain=shop.example.cn", Some("shop.example.cn")),
            ("x=1&domain=a.cn&domain=b.cn", Some("a.cn")),
            ("domain", Some("")),
            ("domain=", Some("")),
            ("domains=a.cn", None),
            ("", None),
            ("domain=%E4%BE%8B%E5%AD%90.cn", Some("例子.cn")),
            ("dom%61in=a.cn", Some("a.cn")),
            ("domain=a+b.cn", Some("a b.cn")),
        ] {
            assert_eq!(query_param(query, "domain").as_deref(), want, "{query}");
        }
    }

    proptest! {
        #[test]
        fn query_param_agrees_with_form_urlencoded(query in "[a-z=&%+.0-9A-F]{0,40}") {
            let general = form_urlencoded::parse(query.as_bytes())
                .find_map(|(k, v)| (k == "domain").then_some(v));
            prop_assert_eq!(query_param(&query, "domain"), general);
        }

        #[test]
        fn query_param_agrees_on_plain_queries(query in "(domain|x|y)(=[a-z.]{0,6})?(&(domain|x|y)(=[a-z.]{0,6})?){0,3}") {
            let general = form_urlencoded::parse(query.as_bytes())
                .find_map(|(k, v)| (k == "domain").then_some(v));
            prop_assert_eq!(query_param(&query, "domain"), general);
        }
    }
}
