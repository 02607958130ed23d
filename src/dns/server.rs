//! Answering DNS messages, over UDP and TCP: parsing with `hickory-proto`, TSIG, EDNS
//! versions, the zone a question belongs to, and the answer (SOA and NS of both zones, RPZ
//! records, DNSBL listings) or the transfer to run. Questions outside the configured zones are
//! REFUSED. TCP connections are admitted by `connections`, which sets their limits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Edns, Message};
use hickory_proto::rr::{Name, RData as HRData};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::watch;

use super::Context;
use super::connections::{Connections, Limits, write_all_within};
use super::dnsbl;
use super::request::{Request, TransferKind};
use super::transfer;
use super::tsig::{self, Signer, Verdict};
use super::wire::*;
use super::zone::soa_serial;

pub enum Outcome {
    /// Nothing to send (a response, or too short to answer).
    Drop,
    Reply(Vec<u8>),
    Transfer(Box<(Request, TransferKind, Option<Signer>)>),
}

enum Zone {
    Rpz,
    Dnsbl,
}

/// Answers one message. Only a DNSBL listing writes an address record.
pub async fn handle(ctx: &Context, packet: &[u8], peer: SocketAddr, tcp: bool) -> Outcome {
    if packet.len() < 12 || packet[2] & 0x80 != 0 {
        return Outcome::Drop;
    }
    let id = u16::from_be_bytes([packet[0], packet[1]]);
    let opcode = (packet[2] >> 3) & 0x0f;
    let bare = |rcode| Outcome::Reply(bare_reply(id, opcode, packet[2] & 1 != 0, rcode));
    let Ok(message) = Message::from_vec(packet) else {
        return bare(RCODE_FORMERR);
    };
    if opcode != OPCODE_QUERY {
        // This server is a primary: NOTIFY is something it sends, not something it obeys.
        return bare(RCODE_NOTIMP);
    }
    if message.queries.len() != 1 {
        return bare(RCODE_FORMERR);
    }
    let query = &message.queries[0];
    // Zones are matched label by label, not on the name joined with dots: a label holding a
    // dot (`ex\.ample`) must neither spell an origin's labels nor hide them.
    let zone = if under(&query.name, &ctx.zone.origin) {
        Some(Zone::Rpz)
    } else if ctx
        .dnsbl
        .as_deref()
        .is_some_and(|origin| under(&query.name, origin))
    {
        Some(Zone::Dnsbl)
    } else {
        None
    };
    let mut qname = String::with_capacity(64);
    let mut plain = true;
    for label in query.name.iter() {
        if !qname.is_empty() {
            qname.push('.');
        }
        for &b in label {
            if b.is_ascii_graphic() && b != b'.' && b != b'\\' {
                qname.push(char::from(b.to_ascii_lowercase()));
            } else {
                // Not a name this service could hold: no lookup may see it.
                plain = false;
            }
        }
    }
    let edns_version = message.edns.as_ref().map(Edns::version);
    let request = Request {
        id,
        qtype: u16::from(query.query_type),
        qclass: u16::from(query.query_class),
        qname,
        edns: message.edns.is_some(),
        peer,
        tcp,
        message,
    };
    let mut signer = None;
    let tsig = match tsig::find(packet) {
        Ok(tsig) => tsig,
        Err(tsig::Malformed) => return bare(RCODE_FORMERR),
    };
    if let Some(record) = tsig {
        match tsig::verify(&ctx.keys, packet, record) {
            Verdict::Signed(s) => signer = Some(s),
            Verdict::Failed(failure) => {
                ctx.registry
                    .metrics
                    .dns_transfers
                    .with_label_values(&["notauth"])
                    .inc();
                tracing::info!(peer = %peer, key = %failure.key_name, error = failure.error, "TSIG verification failed");
                let w = request.writer(RCODE_NOTAUTH, false, 128);
                return Outcome::Reply(failure.finish(w.finish()));
            }
        }
    }
    if edns_version.is_some_and(|version| version != EDNS_VERSION) {
        // RFC 6891 (6.1.3): a version this server does not speak gets BADVERS, and the OPT
        // record of the answer names the version it does.
        let w = request.writer(RCODE_BADVERS, false, 128);
        return Outcome::Reply(finish(&request, w, &mut signer));
    }
    let Some(zone) = zone.filter(|_| request.qclass == CLASS_IN) else {
        return Outcome::Reply(finish(
            &request,
            request.writer(RCODE_REFUSED, false, 128),
            &mut signer,
        ));
    };
    if !plain {
        // In the zone, but with a label no registered name holds (a dot, a space, a byte
        // outside printable ASCII): such a name does not exist here. Never the apex, whose
        // labels are plain.
        let origin = match zone {
            Zone::Rpz => ctx.zone.origin.as_str(),
            Zone::Dnsbl => ctx.dnsbl.as_deref().unwrap_or_default(),
        };
        let mut w = request.writer(RCODE_NXDOMAIN, true, 256);
        negative(ctx, &mut w, origin);
        return Outcome::Reply(finish(&request, w, &mut signer));
    }
    match zone {
        Zone::Rpz => rpz(ctx, request, signer),
        Zone::Dnsbl => Outcome::Reply(dnsbl_answer(ctx, &request, &mut signer).await),
    }
}

/// Whether `name` is `origin` (lower case, no final dot) or below it, label by label.
fn under(name: &Name, origin: &str) -> bool {
    let mut labels = name.iter().rev();
    origin.rsplit('.').all(|expected| {
        labels
            .next()
            .is_some_and(|label| label.eq_ignore_ascii_case(expected.as_bytes()))
    })
}

/// The name relative to `origin` ("" for the apex).
fn relative<'a>(qname: &'a str, origin: &str) -> &'a str {
    if qname.len() == origin.len() {
        ""
    } else {
        &qname[..qname.len() - origin.len() - 1]
    }
}

/// A response with no question, for requests that cannot be parsed.
fn bare_reply(id: u16, opcode: u8, recursion_desired: bool, rcode: u8) -> Vec<u8> {
    MessageWriter::new(
        id,
        Flags {
            response: true,
            opcode,
            recursion_desired,
            rcode,
            ..Flags::default()
        },
        12,
    )
    .finish()
}

/// Adds EDNS when the request had it, signs when it was signed, and truncates an answer too
/// big for UDP to its header and question.
pub fn finish(request: &Request, mut w: MessageWriter, signer: &mut Option<Signer>) -> Vec<u8> {
    if request.edns {
        w.edns();
    }
    let limit = if request.tcp {
        usize::from(u16::MAX)
    } else if request.edns {
        usize::from(EDNS_PAYLOAD.min(request.message.max_payload().max(512)))
    } else {
        512
    };
    let mut bytes = w.finish();
    if bytes.len() + 100 > limit {
        let mut flags = u16::from_be_bytes([bytes[2], bytes[3]]);
        flags |= 1 << 9;
        let question_end = 12 + request.labels().map(|l| l.len() + 1).sum::<usize>() + 5;
        bytes.truncate(question_end);
        bytes[2..4].copy_from_slice(&flags.to_be_bytes());
        bytes[6..12].fill(0);
    }
    match signer {
        Some(signer) => signer.sign(bytes),
        None => bytes,
    }
}

fn soa(ctx: &Context, serial: u32) -> RData<'_> {
    ctx.zone.soa(serial)
}

/// The SOA of `origin` in the authority section, for negative answers.
fn negative(ctx: &Context, w: &mut MessageWriter, origin: &str) {
    let serial = soa_serial(ctx.registry.index.seq());
    w.authority(
        Owner::Name(origin),
        TYPE_SOA,
        ctx.zone.ttl,
        &soa(ctx, serial),
    );
}

/// SOA, NS and ANY at a zone's apex.
fn apex(ctx: &Context, request: &Request, origin: &str, signer: &mut Option<Signer>) -> Vec<u8> {
    let ttl = ctx.zone.ttl;
    let serial = soa_serial(ctx.registry.index.seq());
    let mut w = request.writer(RCODE_NOERROR, true, 256);
    let (soa_wanted, ns_wanted) = match request.qtype {
        TYPE_SOA => (true, false),
        TYPE_NS => (false, true),
        TYPE_ANY => (true, true),
        _ => (false, false),
    };
    if soa_wanted {
        w.answer(Owner::UnderQuestion(""), TYPE_SOA, ttl, &soa(ctx, serial));
    }
    if ns_wanted {
        w.answer(
            Owner::UnderQuestion(""),
            TYPE_NS,
            ttl,
            &RData::Name(&ctx.zone.ns),
        );
    }
    if !soa_wanted && !ns_wanted {
        negative(ctx, &mut w, origin);
    }
    finish(request, w, signer)
}

fn rpz(ctx: &Context, request: Request, mut signer: Option<Signer>) -> Outcome {
    let origin = ctx.zone.origin.as_str();
    let kind = match request.qtype {
        TYPE_AXFR => Some(TransferKind::Axfr),
        TYPE_IXFR => {
            let serial = request
                .message
                .authorities
                .iter()
                .find_map(|r| match &r.data {
                    HRData::SOA(soa) => Some(soa.serial),
                    _ => None,
                });
            match serial {
                Some(serial) => Some(TransferKind::Ixfr(serial)),
                None => {
                    let w = request.writer(RCODE_FORMERR, false, 128);
                    return Outcome::Reply(finish(&request, w, &mut signer));
                }
            }
        }
        _ => None,
    };
    if let Some(kind) = kind {
        if let Err(rcode) = may_transfer(ctx, &request, signer.is_some()) {
            let w = request.writer(rcode, false, 128);
            return Outcome::Reply(finish(&request, w, &mut signer));
        }
        if !request.tcp {
            // RFC 1995: an IXFR over UDP that does not fit is answered with the current SOA
            // alone, and the client retries over TCP. AXFR is never sent over UDP.
            let w = match kind {
                TransferKind::Ixfr(_) => {
                    let mut w = request.writer(RCODE_NOERROR, true, 256);
                    let serial = soa_serial(ctx.registry.index.seq());
                    w.answer(
                        Owner::UnderQuestion(""),
                        TYPE_SOA,
                        ctx.zone.ttl,
                        &soa(ctx, serial),
                    );
                    w
                }
                TransferKind::Axfr => request.writer(RCODE_FORMERR, false, 128),
            };
            return Outcome::Reply(finish(&request, w, &mut signer));
        }
        return Outcome::Transfer(Box::new((request, kind, signer)));
    }
    let rel = relative(&request.qname, origin);
    if rel.is_empty() {
        return Outcome::Reply(apex(ctx, &request, origin, &mut signer));
    }
    // The zone's own records: `name` for every listing, `*.name` for subtree listings;
    // suspensions stop access, not resolution, so they are not in the zone.
    let view = ctx.registry.index.view();
    let exists = view.find(rel).is_some_and(|hit| {
        !hit.record.is_suspended() && (hit.start == 0 || (rel.starts_with("*.") && hit.start == 2))
    });
    let mut w;
    if exists {
        w = request.writer(RCODE_NOERROR, true, 256);
        w.answer(
            Owner::UnderQuestion(""),
            TYPE_CNAME,
            ctx.zone.ttl,
            &RData::Name(&ctx.zone.target),
        );
    } else {
        w = request.writer(RCODE_NXDOMAIN, true, 256);
        negative(ctx, &mut w, origin);
    }
    Outcome::Reply(finish(&request, w, &mut signer))
}

/// Transfers only to allowed addresses, and only signed when keys are configured.
fn may_transfer(ctx: &Context, request: &Request, signed: bool) -> Result<(), u8> {
    let refused = || {
        ctx.registry
            .metrics
            .dns_transfers
            .with_label_values(&["refused"])
            .inc();
    };
    if !ctx.allowed(request.peer.ip()) {
        tracing::info!(peer = %request.peer, "zone transfer refused: address not in dns.transfer_allow");
        refused();
        return Err(RCODE_REFUSED);
    }
    if !ctx.keys.is_empty() && !signed {
        tracing::info!(peer = %request.peer, "zone transfer refused: not signed with a TSIG key");
        refused();
        return Err(RCODE_REFUSED);
    }
    Ok(())
}

async fn dnsbl_answer(ctx: &Context, request: &Request, signer: &mut Option<Signer>) -> Vec<u8> {
    let origin = ctx.dnsbl.as_deref().unwrap_or_default();
    let rel = relative(&request.qname, origin);
    if rel.is_empty() {
        return apex(ctx, request, origin, signer);
    }
    let ttl = ctx.zone.ttl;
    let Some(hit) = dnsbl::lookup(&ctx.registry.index, rel) else {
        let mut w = request.writer(RCODE_NXDOMAIN, true, 256);
        negative(ctx, &mut w, origin);
        return finish(request, w, signer);
    };
    let (a, txt) = match request.qtype {
        TYPE_A => (true, false),
        TYPE_TXT => (false, true),
        TYPE_ANY => (true, true),
        _ => (false, false),
    };
    let decision = if txt {
        ctx.decisions
            .number(ctx.registry.store.as_ref(), &rel[hit.start..], &hit)
            .await
    } else {
        None
    };
    let mut w = request.writer(RCODE_NOERROR, true, 512);
    if a {
        w.answer(
            Owner::UnderQuestion(""),
            TYPE_A,
            ttl,
            &RData::A(dnsbl::LISTED),
        );
    }
    if txt {
        let strings = dnsbl::txt_strings(&hit, decision.as_deref());
        w.answer(
            Owner::UnderQuestion(""),
            TYPE_TXT,
            ttl,
            &RData::Txt(&strings),
        );
    }
    if !a && !txt {
        negative(ctx, &mut w, origin);
    }
    finish(request, w, signer)
}

/// Answers UDP queries until shutdown. Several of these run on one socket.
pub async fn serve_udp(
    ctx: Arc<Context>,
    socket: Arc<UdpSocket>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 4096];
    loop {
        let (len, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(e) => {
                    // ICMP errors from earlier sends surface here on some systems; they
                    // concern one client, never the socket.
                    tracing::debug!(error = %e, "UDP receive failed");
                    continue;
                }
            },
        };
        // Almost every answer comes from memory and is ready at once. One that must wait (a
        // DNSBL TXT whose decision number is not cached yet reads the store) is answered from
        // its own task, so that it never holds up the queries behind it.
        let outcome = {
            use futures_util::FutureExt;
            handle(&ctx, &buf[..len], peer, false).now_or_never()
        };
        match outcome {
            Some(outcome) => reply_udp(&socket, outcome, peer).await,
            None => {
                let (ctx, socket, packet) =
                    (Arc::clone(&ctx), Arc::clone(&socket), buf[..len].to_vec());
                tokio::spawn(async move {
                    let outcome = handle(&ctx, &packet, peer, false).await;
                    reply_udp(&socket, outcome, peer).await;
                });
            }
        }
    }
}

async fn reply_udp(socket: &UdpSocket, outcome: Outcome, peer: SocketAddr) {
    if let Outcome::Reply(reply) = outcome
        && let Err(e) = socket.send_to(&reply, peer).await
    {
        tracing::debug!(error = %e, %peer, "UDP send failed");
    }
}

/// Accepts TCP connections until shutdown. One over a limit of `connections` is closed as
/// soon as it is accepted: left unaccepted, it would wait in the kernel's backlog, holding a
/// place there that an allowed resolver may need, while its client waits for `connect()`.
pub async fn serve_tcp(
    ctx: Arc<Context>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) {
    let metrics = &ctx.registry.metrics;
    let connections = Connections::new(
        Limits::from_settings(&ctx.registry.settings.dns),
        metrics.dns_tcp_open.clone(),
    );
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, most often: wait for connections to end.
                    tracing::warn!(error = %e, "TCP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let slot = match connections.admit(peer.ip(), ctx.allowed(peer.ip())) {
            Ok(slot) => slot,
            Err(over) => {
                metrics
                    .dns_tcp_closed
                    .with_label_values(&[over.label()])
                    .inc();
                // Debug, not info: a client that keeps connecting would flood the log.
                tracing::debug!(%peer, reason = %over, "DNS TCP connection closed at once");
                drop(stream);
                continue;
            }
        };
        let ctx = Arc::clone(&ctx);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(&ctx, stream, peer, shutdown).await {
                tracing::debug!(error = %e, %peer, "DNS TCP connection ended");
            }
            drop(slot);
        });
    }
}

/// Serves one connection's queries in turn, until the client closes it, stays idle for
/// `dns.tcp_idle_timeout_ms`, or reads nothing of an answer for as long.
async fn connection(
    ctx: &Context,
    mut stream: TcpStream,
    peer: SocketAddr,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let idle = ctx.tcp_idle;
    let closed = |reason: &str| {
        ctx.registry
            .metrics
            .dns_tcp_closed
            .with_label_values(&[reason])
            .inc();
    };
    stream.set_nodelay(true)?;
    loop {
        let mut length = [0u8; 2];
        let read = tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            read = tokio::time::timeout(idle, stream.read_exact(&mut length)) => read,
        };
        match read {
            Ok(Ok(_)) => {}
            // Closed by the client: a normal end.
            Ok(Err(_)) => return Ok(()),
            Err(_) => {
                closed("idle");
                return Ok(());
            }
        }
        let mut packet = vec![0u8; usize::from(u16::from_be_bytes(length))];
        match tokio::time::timeout(idle, stream.read_exact(&mut packet)).await {
            Ok(read) => read.map(drop)?,
            Err(_) => {
                closed("idle");
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "message not sent in time",
                ));
            }
        }
        let written = match handle(ctx, &packet, peer, true).await {
            Outcome::Drop => return Ok(()),
            Outcome::Reply(reply) => {
                let mut framed = Vec::with_capacity(reply.len() + 2);
                framed.extend_from_slice(&(reply.len() as u16).to_be_bytes());
                framed.extend_from_slice(&reply);
                write_all_within(&mut stream, &framed, idle).await
            }
            Outcome::Transfer(transfer) => {
                let (request, kind, signer) = *transfer;
                transfer::run(ctx, &mut stream, &request, kind, signer).await
            }
        };
        if let Err(e) = written {
            if e.kind() == std::io::ErrorKind::TimedOut {
                closed("write_timeout");
            }
            return Err(e);
        }
    }
}
