//! The DNS listener's TCP connection budget: at most so many connections in all and from one
//! address, with a reserve that only `dns.transfer_allow` addresses may use, so that no client
//! can keep the resolvers from transferring the zone. It decides and counts; accepting,
//! closing and serving connections are left to `server`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use prometheus::IntGauge;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::settings::DnsSettings;

/// The limits of `[dns]` that bound TCP connections.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub total: usize,
    pub per_source: usize,
    /// Of `total`, what only sources allowed to transfer may use.
    pub reserve: usize,
}

impl Limits {
    pub fn from_settings(dns: &DnsSettings) -> Limits {
        Limits {
            total: dns.tcp_max_connections,
            per_source: dns.tcp_max_per_source,
            reserve: dns.tcp_transfer_reserve,
        }
    }
}

/// Which limit a connection is over; its `label` is the metric's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum OverLimit {
    #[error("this address has dns.tcp_max_per_source connections open")]
    Source,
    #[error("the listener has as many connections open as this address may use")]
    Total,
}

impl OverLimit {
    pub fn label(self) -> &'static str {
        match self {
            OverLimit::Source => "source_limit",
            OverLimit::Total => "total_limit",
        }
    }
}

/// The open TCP connections, in all and by source address.
pub struct Connections {
    limits: Limits,
    state: Mutex<State>,
    /// Mirrors `State::open`, for the metrics.
    gauge: IntGauge,
}

#[derive(Default)]
struct State {
    open: usize,
    by_source: HashMap<IpAddr, usize>,
}

impl Connections {
    pub fn new(limits: Limits, gauge: IntGauge) -> Arc<Connections> {
        Arc::new(Connections {
            limits,
            state: Mutex::default(),
            gauge,
        })
    }

    /// Takes a place for a connection from `source`, or says why there is none. `reserved`:
    /// the source may transfer the zone, and may use the reserve.
    pub fn admit(self: &Arc<Self>, source: IpAddr, reserved: bool) -> Result<Slot, OverLimit> {
        let source = source.to_canonical();
        let mut state = self.lock();
        let from_source = state.by_source.get(&source).copied().unwrap_or(0);
        if from_source >= self.limits.per_source {
            return Err(OverLimit::Source);
        }
        let limit = if reserved {
            self.limits.total
        } else {
            self.limits.total - self.limits.reserve
        };
        if state.open >= limit {
            return Err(OverLimit::Total);
        }
        state.open += 1;
        *state.by_source.entry(source).or_default() += 1;
        self.gauge.set(state.open as i64);
        Ok(Slot {
            connections: Arc::clone(self),
            source,
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One admitted connection's place; dropping it frees the place.
pub struct Slot {
    connections: Arc<Connections>,
    source: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut state = self.connections.lock();
        state.open -= 1;
        // An address with nothing open is forgotten, so that the map holds only the sources
        // connected now however many have come and gone.
        if let Some(count) = state.by_source.get_mut(&self.source) {
            *count -= 1;
            if *count == 0 {
                state.by_source.remove(&self.source);
            }
        }
        self.connections.gauge.set(state.open as i64);
    }
}

/// Writes all of `buf`, failing with `TimedOut` when the client takes none of it for `timeout`:
/// a client that reads nothing would otherwise hold its connection for as long as it likes.
pub async fn write_all_within<W: AsyncWrite + Unpin>(
    out: &mut W,
    mut buf: &[u8],
    timeout: Duration,
) -> std::io::Result<()> {
    while !buf.is_empty() {
        match tokio::time::timeout(timeout, out.write(buf)).await {
            Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(Ok(written)) => buf = &buf[written..],
            Ok(Err(e)) => return Err(e),
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client read nothing of the answer in time",
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn places_are_given_by_source_total_and_reserve_and_freed() {
        let connections = Connections::new(
            Limits {
                total: 5,
                per_source: 2,
                reserve: 2,
            },
            IntGauge::new("open", "open").unwrap(),
        );
        // (source, may transfer, outcome), in order; every admitted slot is kept.
        let steps = [
            (ip(1), false, Ok(())),
            (ip(1), false, Ok(())),
            (ip(1), false, Err(OverLimit::Source)),
            (ip(1), true, Err(OverLimit::Source)),
            (ip(2), false, Ok(())),
            (ip(3), false, Err(OverLimit::Total)),
            (ip(9), true, Ok(())),
            (ip(9), true, Ok(())),
            (ip(8), true, Err(OverLimit::Total)),
        ];
        let mut slots = Vec::new();
        for (i, (source, reserved, expected)) in steps.into_iter().enumerate() {
            let outcome = connections.admit(source, reserved);
            assert_eq!(
                outcome.as_ref().map(|_| ()).map_err(|e| *e),
                expected,
                "step {i}"
            );
            slots.extend(outcome.ok());
        }
        assert_eq!(connections.gauge.get(), 5);
        // An IPv4 address seen through an IPv6 socket is the same source.
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped());
        assert_eq!(
            connections.admit(mapped, true).err(),
            Some(OverLimit::Source)
        );
        slots.clear();
        assert_eq!(connections.gauge.get(), 0);
        assert!(connections.lock().by_source.is_empty());
        assert!(connections.admit(ip(3), false).is_ok());
    }

    #[tokio::test]
    async fn a_client_that_reads_nothing_is_given_up_on() {
        let (mut server, mut client) = tokio::io::duplex(64);
        let timeout = Duration::from_millis(50);
        write_all_within(&mut server, &[1; 64], timeout)
            .await
            .unwrap();
        let error = write_all_within(&mut server, &[2; 64], timeout)
            .await
            .unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        // A client that reads, however slowly, is served.
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 64 * 3];
            tokio::io::AsyncReadExt::read_exact(&mut client, &mut buf)
                .await
                .map(|_| buf)
        });
        write_all_within(&mut server, &[3; 128], Duration::from_secs(5))
            .await
            .unwrap();
        let read = reader.await.unwrap().unwrap();
        assert_eq!(read.len(), 192);
    }
}
