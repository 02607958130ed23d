//! The DNS listener: the RPZ zone by zone transfer (AXFR, IXFR) with NOTIFY, and the DNSBL
//! zone, served over UDP and TCP on `dns.listen` from this node's index. It runs on a runtime
//! and threads of its own, so that DNS load and HTTP load do not queue behind each other, and
//! stops when the application does.
//!
//! `zone` is the zone as data, `wire` writes messages, `request` is a parsed question,
//! `server` answers it, `transfer` streams transfers, `tsig` signs and verifies, `notify`
//! tells resolvers of changes, `dnsbl` answers listings, `connections` bounds the TCP
//! connections. `server` hands a transfer to `transfer` and never the other way round.

pub mod connections;
pub mod dnsbl;
pub mod notify;
pub mod request;
pub mod server;
pub mod transfer;
pub mod tsig;
pub mod wire;
pub mod zone;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::Context as _;
use tokio::sync::watch;

use crate::registry::Registry;
use crate::settings::parse_network;

/// What every answer needs: the registry (index and store) and the zones' settings.
pub struct Context {
    pub registry: Arc<Registry>,
    pub zone: zone::ZoneConfig,
    /// Origin of the DNSBL zone in lower case without the final dot; `None` when off.
    pub dnsbl: Option<String>,
    pub allow: Vec<ipnet::IpNet>,
    pub keys: tsig::Keys,
    pub decisions: dnsbl::Decisions,
    /// How long a TCP connection may wait for a query, or for the client to read (RFC 7766
    /// asks for seconds).
    pub tcp_idle: Duration,
}

impl Context {
    pub fn new(registry: Arc<Registry>) -> Context {
        let dns = &registry.settings.dns;
        Context {
            zone: zone::ZoneConfig::from_settings(dns),
            dnsbl: Some(dns.dnsbl_zone.trim_end_matches('.').to_ascii_lowercase())
                .filter(|z| !z.is_empty()),
            allow: dns
                .transfer_allow
                .iter()
                .filter_map(|a| parse_network(a))
                .collect(),
            keys: tsig::Keys::from_settings(&dns.tsig_keys),
            decisions: dnsbl::Decisions::default(),
            tcp_idle: Duration::from_millis(dns.tcp_idle_timeout_ms),
            registry,
        }
    }

    /// Whether `ip` is in `dns.transfer_allow`.
    pub fn allowed(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.allow.iter().any(|net| net.contains(&ip))
    }
}

/// A running DNS listener. Dropping it stops it.
pub struct DnsServer {
    address: SocketAddr,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl DnsServer {
    /// Binds UDP and TCP on `address` (port 0 picks one free for both) and starts serving.
    pub fn start(registry: Arc<Registry>, address: SocketAddr) -> anyhow::Result<DnsServer> {
        let (udp, tcp) = bind(address)?;
        let address = udp.local_addr()?;
        let settings = &registry.settings;
        let workers = match settings.dns.workers {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let targets: Vec<SocketAddr> = settings
            .dns
            .notify
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect();
        let ctx = Arc::new(Context::new(registry));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .thread_name("siteban-dns")
            .enable_all()
            .build()
            .context("cannot start the DNS runtime")?;
        let thread = std::thread::Builder::new()
            .name("siteban-dns-main".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let udp = match tokio::net::UdpSocket::from_std(udp) {
                        Ok(udp) => Arc::new(udp),
                        Err(e) => {
                            tracing::error!(error = %e, "cannot serve DNS over UDP");
                            return;
                        }
                    };
                    let tcp = match tokio::net::TcpListener::from_std(tcp) {
                        Ok(tcp) => tcp,
                        Err(e) => {
                            tracing::error!(error = %e, "cannot serve DNS over TCP");
                            return;
                        }
                    };
                    for _ in 0..workers {
                        tokio::spawn(server::serve_udp(
                            Arc::clone(&ctx),
                            Arc::clone(&udp),
                            shutdown_rx.clone(),
                        ));
                    }
                    tokio::spawn(server::serve_tcp(
                        Arc::clone(&ctx),
                        tcp,
                        shutdown_rx.clone(),
                    ));
                    for target in targets {
                        tokio::spawn(notify::run(
                            Arc::clone(&ctx),
                            target,
                            address.ip(),
                            ctx.registry.index.subscribe(),
                            shutdown_rx.clone(),
                        ));
                    }
                    let mut shutdown_rx = shutdown_rx;
                    let _ = shutdown_rx.wait_for(|stop| *stop).await;
                });
                runtime.shutdown_timeout(std::time::Duration::from_secs(1));
            })
            .context("cannot start the DNS thread")?;
        tracing::info!(%address, workers, "DNS listener serving");
        Ok(DnsServer {
            address,
            shutdown,
            thread: Some(thread),
        })
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops serving and waits for the listener's thread to end.
    pub fn stop(mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        // Signals only: joining here could block a runtime thread that drops the server.
        let _ = self.shutdown.send(true);
    }
}

/// Binds UDP and TCP to the same address. With port 0 the system picks the UDP port, which may
/// be taken for TCP: then try again with another.
fn bind(address: SocketAddr) -> anyhow::Result<(std::net::UdpSocket, std::net::TcpListener)> {
    let mut attempts = 0;
    loop {
        let udp = std::net::UdpSocket::bind(address)
            .with_context(|| format!("cannot listen on {address}/udp (dns.listen)"))?;
        let bound = udp.local_addr()?;
        match std::net::TcpListener::bind(bound) {
            Ok(tcp) => {
                udp.set_nonblocking(true)?;
                tcp.set_nonblocking(true)?;
                return Ok((udp, tcp));
            }
            Err(e) if address.port() == 0 && attempts < 20 => {
                attempts += 1;
                tracing::debug!(error = %e, "TCP port taken; binding another pair");
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot listen on {bound}/tcp (dns.listen)"));
            }
        }
    }
}
