//! `/v1/log/…`: the transparency log over the feed, for providers and auditors to verify
//! what they were given: the verifier key to pin, the latest signed checkpoint, the tiles
//! (C2SP `tlog-tiles`), and inclusion and consistency proofs as JSON. Proofs of an entry's
//! events are `GET /v1/entries/{domain}/proof`.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};

use super::{Answer, ApiError, Call};
use crate::auth::policy;
use crate::domain::DomainName;
use crate::model::Event;
use crate::registry::log::Inclusion;
use crate::tlog::encode_hash;
use crate::tlog::path::TilePath;

/// Tiles never change: a partial tile's width is in its path. Hash tiles show nothing of the
/// list and any cache may keep them; entry bundles are the feed's events, for their reader
/// alone. Header values made once, not parsed on every answer.
const IMMUTABLE: HeaderValue = HeaderValue::from_static("public, max-age=31536000, immutable");
const IMMUTABLE_PRIVATE: HeaderValue =
    HeaderValue::from_static("private, max-age=31536000, immutable");
const OCTETS: HeaderValue = HeaderValue::from_static("application/octet-stream");

/// Where tiles are served: every path under it, by [`tile`] (a scope's default service, so
/// that actix routes them without a regular expression), and the route they are counted as.
pub const TILE_PATHS: &str = "/v1/log/tile/";
pub const TILE_ROUTE: &str = "/v1/log/tile/{path}";

/// The log's verifier key, `<name>+<id>+<key>` (C2SP signed-note), for pinning.
#[utoipa::path(get, path = "/v1/log/key", tag = "log",
    responses((status = 200, description = "the verifier key", content_type = "text/plain")),
    security(("bearer" = [])))]
pub async fn key(call: Call) -> Answer {
    call.require(policy::LOG)?;
    let key = call.log_verifier()?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(format!("{key}\n")))
}

/// The latest checkpoint (C2SP `tlog-checkpoint`), a signed note. It covers every event
/// written more than a second ago.
#[utoipa::path(get, path = "/v1/log/checkpoint", tag = "log",
    responses((status = 200, description = "the signed checkpoint", content_type = "text/plain",
               headers(("X-Log-Size" = u64))),
              (status = 404, description = "not_in_log: no checkpoint yet")),
    security(("bearer" = [])))]
pub async fn checkpoint(call: Call) -> Answer {
    call.require(policy::LOG)?;
    let checkpoint = call.log_checkpoint()?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((super::LOG_SIZE_HEADER, checkpoint.size))
        .content_type("text/plain; charset=utf-8")
        .body(checkpoint.note))
}

/// The latest checkpoint that the configured witnesses cosigned (C2SP `tlog-cosignature`):
/// the log's signature, then one cosignature line per witness that cosigned it.
#[utoipa::path(get, path = "/v1/log/witnessed", tag = "log",
    responses((status = 200, description = "the checkpoint with its cosignatures", content_type = "text/plain",
               headers(("X-Log-Size" = u64))),
              (status = 404, description = "not_in_log: no witness has cosigned one")),
    security(("bearer" = [])))]
pub async fn witnessed(call: Call) -> Answer {
    call.require(policy::LOG)?;
    let (size, note) = call.log_witnessed().await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((super::LOG_SIZE_HEADER, size))
        .content_type("text/plain; charset=utf-8")
        .body(note))
}

/// The latest checkpoint of the audit log (origin: the log's, with `/audit`), a signed note
/// over the audit records' Merkle tree, for `siteban audit verify`.
#[utoipa::path(get, path = "/v1/audit/checkpoint", tag = "audit",
    responses((status = 200, description = "the signed checkpoint of the audit log", content_type = "text/plain",
               headers(("X-Log-Size" = u64))),
              (status = 404, description = "not_in_log: no checkpoint yet")),
    security(("bearer" = [])))]
pub async fn audit_checkpoint(call: Call) -> Answer {
    call.require(policy::READ_AUDIT)?;
    let checkpoint = call.audit_checkpoint()?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((super::LOG_SIZE_HEADER, checkpoint.size))
        .content_type("text/plain; charset=utf-8")
        .body(checkpoint.note))
}

/// A tile: `tile/<L>/<N>[.p/<W>]` (hashes) or `tile/entries/<N>[.p/<W>]` (each entry a
/// big-endian 16-bit length and the leaf), as C2SP `tlog-tiles` names them.
#[utoipa::path(get, path = "/v1/log/tile/{path}", tag = "log",
    params(("path" = String, Path, min_length = 5, max_length = 60, description = "the tile's path after `tile/`, such as `0/x001/234` or `entries/000.p/17`")),
    responses((status = 200, description = "the tile", content_type = "application/octet-stream",
               headers(("Cache-Control" = String))),
              (status = 404, description = "not_in_log, not_found")),
    security(("bearer" = [])))]
pub async fn tile(call: Call) -> Answer {
    if !matches!(
        *call.req.method(),
        actix_web::http::Method::GET | actix_web::http::Method::HEAD
    ) {
        return Err(ApiError::MethodNotAllowed("GET"));
    }
    call.require(policy::LOG)?;
    let path = call.req.path().strip_prefix(TILE_PATHS).unwrap_or_default();
    let tile = TilePath::parse(path)
        .ok_or_else(|| ApiError::NotFound(format!("tile/{path} is not a tile path")))?;
    let data = call.log_tile(tile).await?;
    let cache = match tile {
        TilePath::Hashes { .. } => IMMUTABLE,
        TilePath::Entries { .. } => IMMUTABLE_PRIVATE,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, cache))
        .insert_header((header::CONTENT_TYPE, OCTETS))
        .body(data))
}

#[derive(Deserialize)]
struct ProofQuery {
    seq: u64,
    size: Option<u64>,
}

/// An event's inclusion proof (RFC 9162 §2.1.3): the hashes, in order, from its leaf up.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EventProof {
    pub event: Event,
    /// The leaf's bytes (`docs/api.md`): its hash is the SHA-256 of a zero byte and these.
    pub leaf: String,
    /// The leaf's index: `seq - 1`.
    pub index: u64,
    /// The tree size the proof is against.
    pub size: u64,
    /// Base64 hashes.
    pub proof: Vec<String>,
}

impl From<Inclusion> for EventProof {
    fn from(inclusion: Inclusion) -> EventProof {
        EventProof {
            index: inclusion.event.seq - 1,
            leaf: String::from_utf8_lossy(&inclusion.leaf).into_owned(),
            event: inclusion.event,
            size: inclusion.size,
            proof: inclusion.proof.iter().map(encode_hash).collect(),
        }
    }
}

/// The inclusion proof of feed event `seq`.
#[utoipa::path(get, path = "/v1/log/proof", tag = "log",
    params(("seq" = u64, Query, minimum = 0, description = "the feed sequence of the event"),
           ("size" = Option<u64>, Query, minimum = 0, description = "the tree size to prove against; default the latest checkpoint's")),
    responses((status = 200, body = EventProof),
              (status = 404, description = "not_in_log")),
    security(("bearer" = [])))]
pub async fn proof(call: Call) -> Answer {
    call.require(policy::LOG)?;
    let query: ProofQuery = call.query()?;
    let inclusion = call.prove_event(query.seq, query.size).await?;
    Ok(HttpResponse::Ok().json(EventProof::from(inclusion)))
}

#[derive(Deserialize)]
struct ConsistencyQuery {
    from: u64,
    to: Option<u64>,
}

/// A consistency proof (RFC 9162 §2.1.4) between two tree sizes.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub from: u64,
    pub to: u64,
    /// Base64 hashes.
    pub proof: Vec<String>,
}

/// The proof that the tree of `from` leaves is a prefix of the tree of `to` leaves.
#[utoipa::path(get, path = "/v1/log/consistency", tag = "log",
    params(("from" = u64, Query, minimum = 0, description = "the smaller tree size"),
           ("to" = Option<u64>, Query, minimum = 0, description = "the larger tree size; default the latest checkpoint's")),
    responses((status = 200, body = ConsistencyProof),
              (status = 404, description = "not_in_log")),
    security(("bearer" = [])))]
pub async fn consistency(call: Call) -> Answer {
    call.require(policy::LOG)?;
    let query: ConsistencyQuery = call.query()?;
    let from = query.from;
    let (to, proof) = call.prove_consistency(from, query.to).await?;
    Ok(HttpResponse::Ok().json(ConsistencyProof {
        from,
        to,
        proof: proof.iter().map(encode_hash).collect(),
    }))
}

/// The inclusion proofs of a domain's entries' events.
#[derive(Serialize, utoipa::ToSchema)]
pub struct EntryProofs {
    #[schema(value_type = String)]
    pub domain: DomainName,
    /// The tree size every proof is against: the latest checkpoint's.
    pub size: u64,
    pub events: Vec<EventProof>,
}

/// Proofs that each listing and lift of a domain's entries is in the log, against the latest
/// checkpoint; events newer than it are left out.
#[utoipa::path(get, path = "/v1/entries/{domain}/proof", operation_id = "entry_proof", tag = "entries",
    params(("domain" = String, Path, format = "domain-name", min_length = 1, max_length = 1024, description = "the domain")),
    responses((status = 200, body = EntryProofs), (status = 404, description = "not_found, not_in_log")),
    security(("bearer" = [])))]
pub async fn entry_proof(call: Call, path: web::Path<String>) -> Answer {
    let principal = call.require(policy::READ_DOMAIN_ENTRIES)?;
    let domain = DomainName::parse(&path)?;
    let history = call.history_for(principal, &domain).await?;
    if history.is_empty() {
        return Err(ApiError::NotFound(format!(
            "{domain} has never been listed"
        )));
    }
    let (size, proofs) = call.prove_entries(&history).await?;
    Ok(HttpResponse::Ok().json(EntryProofs {
        domain,
        size,
        events: proofs.into_iter().map(EventProof::from).collect(),
    }))
}
