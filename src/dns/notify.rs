//! NOTIFY (RFC 1996) to the resolvers of `dns.notify` after each change of the zone. One task
//! per resolver follows the index's applied sequence: bursts of changes are coalesced into at
//! most one NOTIFY per [`MIN_INTERVAL`], and a NOTIFY without an answer is sent again a few
//! times (a newer change replaces it).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

use super::Context;
use super::wire::*;
use super::zone::soa_serial;

pub const MIN_INTERVAL: Duration = Duration::from_millis(200);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);
const ATTEMPTS: usize = 3;

/// Builds the NOTIFY message for the zone at `serial`, with the new SOA in the answer section.
pub fn message(ctx: &Context, id: u16, serial: u32) -> Vec<u8> {
    let zone = &ctx.zone;
    let mut w = MessageWriter::new(
        id,
        Flags {
            opcode: OPCODE_NOTIFY,
            authoritative: true,
            ..Flags::default()
        },
        256,
    );
    w.question(
        zone.origin.split('.').map(str::as_bytes),
        TYPE_SOA,
        CLASS_IN,
    );
    w.answer(
        Owner::UnderQuestion(""),
        TYPE_SOA,
        zone.ttl,
        &zone.soa(serial),
    );
    w.finish()
}

/// Notifies `target` of every change until shutdown. NOTIFY is sent from `local` (the
/// listener's address, port chosen by the system), which resolvers match against the primary
/// they were configured with.
pub async fn run(
    ctx: Arc<Context>,
    target: SocketAddr,
    local: IpAddr,
    mut applied: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let socket = match UdpSocket::bind(SocketAddr::new(local, 0)).await {
        Ok(socket) => socket,
        Err(e) => {
            tracing::error!(error = %e, %target, "cannot open a socket for NOTIFY; resolvers will only refresh on their own");
            return;
        }
    };
    let mut last_sent: Option<Instant> = None;
    applied.mark_unchanged();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return,
            changed = applied.changed() => if changed.is_err() { return },
        }
        // Coalesce: changes that arrive within the interval go out in one NOTIFY.
        if let Some(last) = last_sent {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep_until(last + MIN_INTERVAL) => {}
            }
        }
        let serial = soa_serial(*applied.borrow_and_update());
        last_sent = Some(Instant::now());
        let id: u16 = rand::random();
        let packet = message(&ctx, id, serial);
        let mut answered = false;
        for attempt in 1..=ATTEMPTS {
            if let Err(e) = socket.send_to(&packet, target).await {
                tracing::warn!(error = %e, %target, "NOTIFY not sent");
            }
            let deadline = Instant::now() + ANSWER_TIMEOUT;
            let mut buf = [0u8; 512];
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    _ = tokio::time::sleep_until(deadline) => break,
                    received = socket.recv_from(&mut buf) => {
                        if let Ok((len, from)) = received
                            && from == target
                            && len >= 12
                            && buf[..2] == id.to_be_bytes()
                            && buf[2] & 0x80 != 0
                        {
                            answered = true;
                            break;
                        }
                    }
                }
            }
            if answered || applied.has_changed().unwrap_or(false) {
                break;
            }
            tracing::debug!(%target, serial, attempt, "NOTIFY not answered");
        }
        let result = if answered { "answered" } else { "unanswered" };
        ctx.registry
            .metrics
            .dns_notifies
            .with_label_values(&[result])
            .inc();
        if answered {
            tracing::debug!(%target, serial, "NOTIFY answered");
        } else if !applied.has_changed().unwrap_or(false) {
            tracing::warn!(%target, serial, "NOTIFY not answered after {ATTEMPTS} attempts");
        }
    }
}
