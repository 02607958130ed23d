//! `/v1/feed`, `/v1/snapshot` and `/v1/rpz`: how providers keep their own copy of the active
//! set. The feed is read from the store, except that a long-poll is answered from the events
//! this node applied when they hold all it asks for (`Registry::events_for_long_poll`);
//! snapshots and zones are written from one consistent view of this node's index, so their
//! `seq` is exact.

use std::io::Write;
use std::time::Duration;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use super::{Answer, ApiError, Call};
use crate::auth::policy;
use crate::dns::zone::{ZoneConfig, write_zone};
use crate::model::Event;

const MAX_WAIT_SECONDS: u64 = 30;
const MAX_LIMIT: usize = 10_000;
/// Up to this many entries, the JSON snapshot of a view is written once, kept in memory (about
/// 110 bytes an entry) and shared by every request for that view; larger sets are streamed to
/// each request, never held whole.
const SHARED_SNAPSHOT_MAX: usize = 2_000_000;
/// How a cache may keep a page of the feed: stored, but revalidated here on every request.
const FEED_CACHE: &str = "public, no-cache";

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct FeedQuery {
    /// The last seq already applied; default 0.
    #[param(schema_with = super::schema::sequence)]
    after: Option<u64>,
    /// 1 to 10000, default 1000.
    #[param(minimum = 1, maximum = 10000)]
    limit: Option<usize>,
    /// Seconds to wait for an event when there is none yet, 0 to 30; default 0.
    #[param(minimum = 0, maximum = 30)]
    wait: Option<u64>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct FeedPage {
    pub events: Vec<Event>,
    pub next: u64,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SnapshotQuery {
    /// `json` (default) or `text`.
    #[param(schema_with = super::schema::snapshot_format)]
    format: Option<String>,
}

/// Events after `after`, optionally waiting for one.
#[utoipa::path(get, path = "/v1/feed", tag = "feed",
    params(FeedQuery,
           ("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer of the same after and limit")),
    responses((status = 200, body = FeedPage, headers(("X-Blacklist-Seq" = u64), ("ETag" = String), ("Cache-Control" = String))),
              (status = 304, description = "no event since the page the given ETag names"),
              (status = 410, description = "snapshot_required")),
    security(("bearer" = [])))]
pub async fn feed(call: Call) -> Answer {
    call.require(policy::FEED)?;
    let params: FeedQuery = call.query()?;
    let after = params.after.unwrap_or(0);
    let limit = super::page_limit(params.limit, 1000, MAX_LIMIT)?;
    let wait = params.wait.unwrap_or(0);
    if wait > MAX_WAIT_SECONDS {
        return Err(ApiError::InvalidParameter(format!(
            "wait must be from 0 to {MAX_WAIT_SECONDS} seconds"
        )));
    }
    let mut events = if wait > 0 {
        call.events_for_long_poll(after, limit).await?
    } else {
        call.events(after, limit).await?
    };
    if events.is_empty() && wait > 0 {
        // Held until the answer is sent: the cap counts waiting requests only.
        let _slot = super::limits(&call.req)?.long_poll()?;
        // The index moves when the follower applies a new event; wake on that, then read the
        // events it applied (kept in memory: a thousand waiting mirrors cost no store read).
        // A key revoked or expiring meanwhile ends the wait at once: nothing more is sent on
        // its behalf.
        let arrived = call
            .index
            .wait_for(after.saturating_add(1), Duration::from_secs(wait));
        tokio::select! {
            arrived = arrived => {
                if arrived {
                    events = call.events_for_long_poll(after, limit).await?;
                }
            }
            () = call.key_ends() => return Err(ApiError::Unauthenticated),
        }
        // The key may have ended between the wake-up and the read.
        if call.key_ended() {
            return Err(ApiError::Unauthenticated);
        }
    }
    let next = events.last().map_or(after, |e| e.seq);
    // Events never change once numbered, so the page from `after` to `next` (of this limit)
    // is always the same: a cache in front (a CDN, a mirror's proxy) revalidates with
    // `If-None-Match` and gets `304` while nothing new arrived. `public, no-cache` lets a shared
    // cache keep the page but sends every request here, where the key is checked.
    let etag = format!("W/\"feed-{after}-{next}-{limit}\"");
    let seq = call.index.seq();
    if none_match(&call.req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, FEED_CACHE))
            .insert_header((super::SEQ_HEADER, seq))
            .finish());
    }
    Ok(HttpResponse::Ok()
        .insert_header((super::SEQ_HEADER, seq))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, FEED_CACHE))
        .json(FeedPage { events, next }))
}

/// The active set as of `seq`, as JSON or as text lines.
#[utoipa::path(get, path = "/v1/snapshot", tag = "feed",
    params(SnapshotQuery),
    responses((status = 200, description = "{\"seq\", \"entries\": [{\"domain\", \"scope\", \"entry_id\", \"category\", \"status\"}]}", headers(("X-Blacklist-Seq" = u64), ("X-Log-Size" = u64)))),
    security(("bearer" = [])))]
pub async fn snapshot(call: Call) -> Answer {
    call.require(policy::FEED)?;
    let params: SnapshotQuery = call.query()?;
    let view = call.index.view();
    let seq = view.seq();
    match params.format.as_deref() {
        None | Some("json") if view.len() <= SHARED_SNAPSHOT_MAX => {
            // Written once per view and sent to every request for it, as many mirrors
            // reloading at once ask for the same one.
            let index = std::sync::Arc::clone(&call.index);
            let body = tokio::task::spawn_blocking(move || index.snapshot.json(&view))
                .await
                .map_err(|e| ApiError::Internal(format!("writing a snapshot: {e}")))?;
            Ok(HttpResponse::Ok()
                .insert_header((super::SEQ_HEADER, seq))
                .insert_header((super::LOG_SIZE_HEADER, seq))
                .content_type("application/json")
                .body(body))
        }
        None | Some("json") => {
            let body = stream_body(move |out| crate::index::snapshot::write_json(out, &view));
            Ok(HttpResponse::Ok()
                .insert_header((super::SEQ_HEADER, seq))
                .insert_header((super::LOG_SIZE_HEADER, seq))
                .content_type("application/json")
                .streaming(body))
        }
        Some("text") => {
            let body = stream_body(move |out| {
                for (domain, record) in view.iter() {
                    if record.is_subtree() {
                        out.write_all(b"*.")?;
                    }
                    out.write_all(domain.as_bytes())?;
                    out.write_all(b"\n")?;
                }
                Ok(())
            });
            Ok(HttpResponse::Ok()
                .insert_header((super::SEQ_HEADER, seq))
                .insert_header((super::LOG_SIZE_HEADER, seq))
                .content_type("text/plain; charset=utf-8")
                .streaming(body))
        }
        Some(other) => Err(ApiError::InvalidParameter(format!(
            "format {other:?} is not one of json, text"
        ))),
    }
}

/// The active set as an RPZ zone file. The `ETag` names the feed sequence and the zone's
/// settings, so a provider polling with `If-None-Match` gets `304` until something changes.
#[utoipa::path(get, path = "/v1/rpz", tag = "feed",
    params(("If-None-Match" = Option<String>, Header, description = "an ETag from an earlier answer")),
    responses((status = 200, description = "RPZ zone file", content_type = "text/dns",
               headers(("ETag" = String), ("X-Blacklist-Seq" = u64), ("X-Log-Size" = u64))),
              (status = 304, description = "the zone has not changed since the given ETag")),
    security(("bearer" = [])))]
pub async fn rpz(call: Call) -> Answer {
    call.require(policy::RPZ)?;
    let view = call.index.view();
    let seq = view.seq();
    let zone = ZoneConfig::from_settings(&call.settings.dns);
    let etag = format!("W/\"rpz-{seq}-{}\"", zone.fingerprint());
    if none_match(&call.req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .insert_header((super::SEQ_HEADER, seq))
            .finish());
    }
    let body = stream_body(move |out| write_zone(out, &view, &zone));
    Ok(HttpResponse::Ok()
        .insert_header((super::SEQ_HEADER, seq))
        .insert_header((super::LOG_SIZE_HEADER, seq))
        .insert_header((header::ETAG, etag))
        .content_type("text/dns")
        .streaming(body))
}

/// Size of one chunk of a streamed body.
const CHUNK: usize = 256 * 1024;

/// A body written by `write` on a blocking thread and sent in chunks as the client takes
/// them, at most four chunks ahead: a snapshot or zone of ten million entries (over a
/// gigabyte of JSON) never sits whole in memory. A client that goes away stops the writer.
fn stream_body(
    write: impl FnOnce(&mut ChunkWriter) -> std::io::Result<()> + Send + 'static,
) -> impl futures_util::Stream<Item = Result<actix_web::web::Bytes, std::io::Error>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut out = ChunkWriter {
            buffer: Vec::with_capacity(CHUNK),
            sender,
        };
        let written = write(&mut out).and_then(|()| out.send());
        if let Err(e) = written
            && e.kind() != std::io::ErrorKind::BrokenPipe
        {
            tracing::error!(error = %e, "writing a streamed body failed");
        }
    });
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (Ok(chunk), receiver))
    })
}

struct ChunkWriter {
    buffer: Vec<u8>,
    sender: tokio::sync::mpsc::Sender<actix_web::web::Bytes>,
}

impl ChunkWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buffer, Vec::with_capacity(CHUNK));
        self.sender
            .blocking_send(chunk.into())
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl std::io::Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Whether `If-None-Match` names `etag` (weak comparison, as RFC 9110 asks for this header).
fn none_match(req: &HttpRequest, etag: &str) -> bool {
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_string();
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || strip(tag) == strip(etag))
}
