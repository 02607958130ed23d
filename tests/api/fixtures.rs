//! Real peers for the notice tests: an authoritative DNS server (hickory-server, in-process on
//! loopback UDP and TCP) serving zones the test writes, and a webhook receiver (actix-web on
//! port 0) that fails a set number of times per notice before accepting, and checks the
//! Standard Webhooks signature of every request it gets with its own HMAC code.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hickory_server::Server;
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::store::file::{FileConfig, FileZoneHandler};
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

/// An authoritative DNS server for the given zones, on a loopback port of its own.
pub struct TestDns {
    pub address: SocketAddr,
    _server: Server<Catalog>,
    _dir: tempfile::TempDir,
}

impl TestDns {
    /// `zones`: (origin, zone file text).
    pub async fn start(zones: &[(&str, &str)]) -> TestDns {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::new();
        for (origin, text) in zones {
            let path = dir.path().join(format!("{origin}zone"));
            std::fs::write(&path, text).unwrap();
            let name = Name::from_str(origin).unwrap();
            let handler = FileZoneHandler::try_from_config(
                name.clone(),
                ZoneType::Primary,
                AxfrPolicy::Deny,
                None,
                &FileConfig { zone_path: path },
            )
            .unwrap_or_else(|e| panic!("zone {origin}: {e}"));
            catalog.upsert(LowerName::new(&name), vec![Arc::new(handler)]);
        }
        // UDP and TCP on one port: take a free UDP port and try it for TCP, a few times over,
        // since another process may hold that port number for TCP.
        let mut tries = 0;
        let (udp, tcp, address) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let address = udp.local_addr().unwrap();
            match tokio::net::TcpListener::bind(address).await {
                Ok(tcp) => break (udp, tcp, address),
                Err(e) => {
                    tries += 1;
                    assert!(
                        tries < 20,
                        "no loopback port free for both UDP and TCP: {e}"
                    );
                }
            }
        };
        let mut server = Server::new(catalog);
        server.register_socket(udp);
        server.register_listener(tcp, Duration::from_secs(5), 65_535);
        TestDns {
            address,
            _server: server,
            _dir: dir,
        }
    }
}

/// The zones of the locating tests: `shop.example.cn` is a CNAME to a host in the CDN's
/// zone, whose addresses an access provider hosts; `example.cn` is served by `dnsco.cn`.
pub const EXAMPLE_CN: &str = "\
$ORIGIN example.cn.
$TTL 60
@       IN SOA ns1.dnsco.cn. hostmaster.example.cn. 1 3600 600 86400 60
@       IN NS  ns1.dnsco.cn.
@       IN NS  ns2.dnsco.cn.
shop    IN CNAME edge.cdn-net.cn.
direct  IN A   198.51.100.20
";

pub const CDN_NET_CN: &str = "\
$ORIGIN cdn-net.cn.
$TTL 60
@       IN SOA ns.cdn-net.cn. hostmaster.cdn-net.cn. 1 3600 600 86400 60
@       IN NS  ns.cdn-net.cn.
edge    IN A    203.0.113.7
edge    IN AAAA 2001:db8::7
";

pub async fn example_dns() -> TestDns {
    TestDns::start(&[("example.cn.", EXAMPLE_CN), ("cdn-net.cn.", CDN_NET_CN)]).await
}

/// A UDP relay in front of an upstream DNS server that misbehaves on demand: it drops the first
/// `drop_first` queries, answers the others after `delay_ms`, or, black-holed, never answers.
/// Its upstream may be switched, so that a site seems to move between two lookups.
pub struct DnsRelay {
    pub address: SocketAddr,
    state: Arc<RelayState>,
    task: tokio::task::JoinHandle<()>,
}

struct RelayState {
    upstream: Mutex<SocketAddr>,
    drop_first: AtomicUsize,
    delay_ms: AtomicU64,
    black_hole: AtomicBool,
    /// Queries received, dropped ones included.
    seen: AtomicUsize,
}

impl DnsRelay {
    pub async fn start(upstream: SocketAddr) -> DnsRelay {
        let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let address = socket.local_addr().unwrap();
        let state = Arc::new(RelayState {
            upstream: Mutex::new(upstream),
            drop_first: AtomicUsize::new(0),
            delay_ms: AtomicU64::new(0),
            black_hole: AtomicBool::new(false),
            seen: AtomicUsize::new(0),
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 65_535];
            loop {
                let Ok((n, client)) = socket.recv_from(&mut buf).await else {
                    return;
                };
                shared.seen.fetch_add(1, Ordering::SeqCst);
                if shared.black_hole.load(Ordering::SeqCst) {
                    continue;
                }
                let dropped = shared
                    .drop_first
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                        left.checked_sub(1)
                    })
                    .is_ok();
                if dropped {
                    continue;
                }
                let query = buf[..n].to_vec();
                let upstream = *shared.upstream.lock().unwrap();
                let delay = Duration::from_millis(shared.delay_ms.load(Ordering::SeqCst));
                let socket = Arc::clone(&socket);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let out = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
                    out.send_to(&query, upstream).await.unwrap();
                    let mut answer = vec![0u8; 65_535];
                    if let Ok(Ok(n)) =
                        tokio::time::timeout(Duration::from_secs(5), out.recv(&mut answer)).await
                    {
                        let _ = socket.send_to(&answer[..n], client).await;
                    }
                });
            }
        });
        DnsRelay {
            address,
            state,
            task,
        }
    }

    pub fn drop_first(&self, n: usize) {
        self.state.drop_first.store(n, Ordering::SeqCst);
    }

    pub fn delay(&self, ms: u64) {
        self.state.delay_ms.store(ms, Ordering::SeqCst);
    }

    pub fn black_hole(&self, on: bool) {
        self.state.black_hole.store(on, Ordering::SeqCst);
    }

    pub fn switch_to(&self, upstream: SocketAddr) {
        *self.state.upstream.lock().unwrap() = upstream;
    }

    pub fn seen(&self) -> usize {
        self.state.seen.load(Ordering::SeqCst)
    }
}

impl Drop for DnsRelay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The zone of an IDN site, 例子.中国, in its A-label form: served by `dnsco.cn`, hosted at
/// an address of the CDN's range.
pub const IDN_ZONE: &str = "\
$ORIGIN xn--fsqu00a.xn--fiqs8s.
$TTL 60
@       IN SOA ns1.dnsco.cn. hostmaster.dnsco.cn. 1 3600 600 86400 60
@       IN NS  ns1.dnsco.cn.
@       IN A   203.0.113.9
";

/// `shop.example.cn` after it moved: its own zone now, hosted at another provider's address.
pub const MOVED_EXAMPLE_CN: &str = "\
$ORIGIN example.cn.
$TTL 60
@       IN SOA ns1.dnsco.cn. hostmaster.example.cn. 2 3600 600 86400 60
@       IN NS  ns1.dnsco.cn.
@       IN NS  ns2.dnsco.cn.
shop    IN A   198.51.100.20
";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: String,
    pub signature_ok: bool,
    pub body: Value,
    pub accepted: bool,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct ReceiverState {
    secret: Mutex<Option<String>>,
    fail_first: std::sync::atomic::AtomicUsize,
    seen: Mutex<HashMap<String, usize>>,
    deliveries: Mutex<Vec<Delivery>>,
}

/// A webhook receiver that answers 503 to the first `fail_first` requests for each
/// `webhook-id`, then 204.
pub struct Receiver {
    pub url: String,
    state: Arc<ReceiverState>,
    handle: actix_web::dev::ServerHandle,
}

/// Checks a Standard Webhooks signature the way a provider would, independently of siteban.
pub fn signature_valid(secret: &str, req: &HttpRequest, body: &[u8]) -> bool {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return false;
    };
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return false;
    };
    // Standard Webhooks receivers refuse timestamps more than five minutes off.
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    if (now - timestamp).abs() > 300 {
        return false;
    }
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|s| s == expected)
}

async fn receive(
    state: web::Data<ReceiverState>,
    req: HttpRequest,
    body: web::Bytes,
) -> HttpResponse {
    let secret = state.secret.lock().unwrap().clone().unwrap_or_default();
    let id = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let signature_ok = signature_valid(&secret, &req, &body);
    let count = {
        let mut seen = state.seen.lock().unwrap();
        let count = seen.entry(id.clone()).or_default();
        *count += 1;
        *count
    };
    let accepted =
        signature_ok && count > state.fail_first.load(std::sync::atomic::Ordering::SeqCst);
    state.deliveries.lock().unwrap().push(Delivery {
        id,
        signature_ok,
        body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        accepted,
        at: std::time::Instant::now(),
    });
    if accepted {
        HttpResponse::NoContent().finish()
    } else {
        HttpResponse::ServiceUnavailable().finish()
    }
}

impl Receiver {
    pub fn start(fail_first: usize) -> Receiver {
        let state = Arc::new(ReceiverState {
            fail_first: fail_first.into(),
            ..ReceiverState::default()
        });
        let data = web::Data::from(Arc::clone(&state));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/hook", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .listen(listener)
        .unwrap()
        .run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            state,
            handle,
        }
    }

    /// The secret to check signatures with, as the provider was shown it.
    pub fn set_secret(&self, secret: &str) {
        *self.state.secret.lock().unwrap() = Some(secret.to_string());
    }

    /// From now on, refuse only the first `n` requests of each notice.
    pub fn set_fail_first(&self, n: usize) {
        self.state
            .fail_first
            .store(n, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state.deliveries.lock().unwrap().clone()
    }

    pub fn accepted(&self) -> Vec<Delivery> {
        self.deliveries()
            .into_iter()
            .filter(|d| d.accepted)
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        drop(self.handle.stop(false));
    }
}
