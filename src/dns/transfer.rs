//! Zone transfers over TCP: AXFR (RFC 5936) streamed from one index view in messages of
//! bounded size, and IXFR (RFC 1995) as the net difference since the client's serial, read
//! from the store's feed, or the whole zone when the feed no longer holds it. Every message
//! repeats the question, so that owner names compress against the origin in each, and is
//! signed when the request was.

use std::time::Duration;

use tokio::io::AsyncWrite;

use super::Context;
use super::connections::write_all_within;
use super::request::{Request, TransferKind};
use super::tsig::Signer;
use super::wire::*;
use super::zone::{self, SerialPosition, soa_serial};
use crate::model::Event;
use crate::store::StoreError;

/// Upper bound of one transfer message, before its TSIG record. Small enough that a lost
/// connection wastes little, large enough that headers are a small share.
pub const MESSAGE_BYTES: usize = 16 * 1024;
/// Messages gathered before one write to the socket.
const MESSAGES_PER_WRITE: usize = 8;
/// Beyond this many events, a client is sent the whole zone rather than the difference.
const MAX_IXFR_EVENTS: u64 = 100_000;

/// One record of a transfer.
enum Rr<'a> {
    Soa(u32),
    Ns,
    /// A policy record with this owner relative to the origin.
    Cname(&'a str),
    /// `*.<name>`.
    Wildcard(&'a str),
}

/// Packs records into messages of at most [`MESSAGE_BYTES`].
struct Packer<'c> {
    ctx: &'c Context,
    request: &'c Request,
    current: Option<MessageWriter>,
    ready: Vec<Vec<u8>>,
    scratch: String,
}

impl<'c> Packer<'c> {
    fn new(ctx: &'c Context, request: &'c Request) -> Packer<'c> {
        Packer {
            ctx,
            request,
            current: None,
            ready: Vec::new(),
            scratch: String::with_capacity(256),
        }
    }

    fn push(&mut self, rr: Rr<'_>) {
        let zone = &self.ctx.zone;
        let size = match &rr {
            Rr::Soa(_) => 2 + 10 + name_len(&zone.ns) + name_len(&zone.hostmaster) + 20,
            Rr::Ns => 2 + 10 + name_len(&zone.ns),
            Rr::Cname(name) => name.len() + 3 + 10 + name_len(&zone.target),
            Rr::Wildcard(name) => name.len() + 5 + 10 + name_len(&zone.target),
        };
        if self
            .current
            .as_ref()
            .is_some_and(|w| w.len() + size > MESSAGE_BYTES)
        {
            self.flush();
        }
        let w = self.current.get_or_insert_with(|| {
            self.request
                .writer(RCODE_NOERROR, true, MESSAGE_BYTES + 512)
        });
        let ttl = zone.ttl;
        match rr {
            Rr::Soa(serial) => w.answer(Owner::UnderQuestion(""), TYPE_SOA, ttl, &zone.soa(serial)),
            Rr::Ns => w.answer(
                Owner::UnderQuestion(""),
                TYPE_NS,
                ttl,
                &RData::Name(&zone.ns),
            ),
            Rr::Cname(name) => w.answer(
                Owner::UnderQuestion(name),
                TYPE_CNAME,
                ttl,
                &RData::Name(&zone.target),
            ),
            Rr::Wildcard(name) => {
                self.scratch.clear();
                self.scratch.push_str("*.");
                self.scratch.push_str(name);
                w.answer(
                    Owner::UnderQuestion(&self.scratch),
                    TYPE_CNAME,
                    ttl,
                    &RData::Name(&zone.target),
                )
            }
        }
    }

    fn flush(&mut self) {
        if let Some(w) = self.current.take() {
            self.ready.push(w.finish());
        }
    }
}

/// Signs and writes the finished messages, each with its two-byte length; gives up when the
/// client reads nothing for `timeout` (`dns.tcp_idle_timeout_ms`).
async fn send<W: AsyncWrite + Unpin>(
    out: &mut W,
    messages: &mut Vec<Vec<u8>>,
    signer: &mut Option<Signer>,
    timeout: Duration,
) -> std::io::Result<()> {
    let mut buf = Vec::with_capacity(messages.len() * (MESSAGE_BYTES + 160));
    for message in messages.drain(..) {
        let message = match signer {
            Some(signer) => signer.sign(message),
            None => message,
        };
        buf.extend_from_slice(&(message.len() as u16).to_be_bytes());
        buf.extend_from_slice(&message);
    }
    write_all_within(out, &buf, timeout).await
}

/// Runs the transfer a request asked for and writes it to `out`.
pub async fn run<W: AsyncWrite + Unpin>(
    ctx: &Context,
    out: &mut W,
    request: &Request,
    kind: TransferKind,
    mut signer: Option<Signer>,
) -> std::io::Result<()> {
    let view = ctx.registry.index.view();
    let seq = view.seq();
    let serial = soa_serial(seq);
    let mut packer = Packer::new(ctx, request);
    if let TransferKind::Ixfr(client) = kind {
        match zone::position(seq, client) {
            SerialPosition::Current => {
                packer.push(Rr::Soa(serial));
                packer.flush();
                tracing::info!(peer = %request.peer, serial, "IXFR: the client is up to date");
                count(ctx, "ixfr");
                return send(out, &mut packer.ready, &mut signer, ctx.tcp_idle).await;
            }
            SerialPosition::Behind(from) if seq - from <= MAX_IXFR_EVENTS => {
                match events_between(ctx, from, seq).await {
                    Ok(events) => {
                        let difference = zone::difference(&events);
                        packer.push(Rr::Soa(serial));
                        packer.push(Rr::Soa(client));
                        for owner in &difference.removed {
                            packer.push(Rr::Cname(owner));
                        }
                        packer.push(Rr::Soa(serial));
                        for owner in &difference.added {
                            packer.push(Rr::Cname(owner));
                        }
                        packer.push(Rr::Soa(serial));
                        packer.flush();
                        tracing::info!(
                            peer = %request.peer,
                            from = client,
                            to = serial,
                            removed = difference.removed.len(),
                            added = difference.added.len(),
                            "IXFR sent"
                        );
                        count(ctx, "ixfr");
                        return send(out, &mut packer.ready, &mut signer, ctx.tcp_idle).await;
                    }
                    Err(e) => {
                        tracing::info!(peer = %request.peer, reason = %e, "IXFR answered with the whole zone");
                    }
                }
            }
            _ => {
                tracing::info!(peer = %request.peer, client, serial, "IXFR from an unknown serial: the whole zone");
            }
        }
    }
    // AXFR, or an IXFR answered AXFR-style: SOA, every record, SOA.
    let started = std::time::Instant::now();
    packer.push(Rr::Soa(serial));
    packer.push(Rr::Ns);
    let mut records = 2u64;
    for (name, record) in view.iter() {
        if record.is_suspended() {
            continue;
        }
        packer.push(Rr::Cname(name));
        records += 1;
        if record.is_subtree() {
            packer.push(Rr::Wildcard(name));
            records += 1;
        }
        if packer.ready.len() >= MESSAGES_PER_WRITE {
            send(out, &mut packer.ready, &mut signer, ctx.tcp_idle).await?;
        }
    }
    packer.push(Rr::Soa(serial));
    packer.flush();
    send(out, &mut packer.ready, &mut signer, ctx.tcp_idle).await?;
    count(ctx, "axfr");
    tracing::info!(
        peer = %request.peer,
        serial,
        records = records + 1,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "zone transfer sent"
    );
    Ok(())
}

fn count(ctx: &Context, result: &str) {
    ctx.registry
        .metrics
        .dns_transfers
        .with_label_values(&[result])
        .inc();
}

/// The feed events after `from` up to and including `to`.
async fn events_between(ctx: &Context, from: u64, to: u64) -> Result<Vec<Event>, StoreError> {
    let mut events = Vec::with_capacity((to - from) as usize);
    let mut after = from;
    while after < to {
        let page = ctx.registry.store.events(after, 10_000).await?;
        let Some(last) = page.last().map(|e| e.seq) else {
            return Err(StoreError::Unavailable(format!(
                "the feed ends at {after}, before {to}"
            )));
        };
        events.extend(page.into_iter().filter(|e| e.seq <= to));
        after = last;
    }
    Ok(events)
}
