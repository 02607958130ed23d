//! Listing speed with locating in the background: starts an authoritative DNS server for a
//! wildcard zone and a UDP relay in front of it in this process, then a `siteban serve` (the
//! binary given) whose upstream is the relay, and posts LISTINGS listings, CONCURRENCY at a
//! time. MODE is `off` (locating off), `answer` (the relay answers after 1 ms) or `blackhole`
//! (the relay never answers while the listings are posted, then recovers). Prints listings per
//! second and listing latency percentiles; with locating on, the time from the end of the
//! listings (the black hole's end) until every entry is located and every notice delivered.
//! `locate_load BIN MODE [LISTINGS] [CONCURRENCY] [MAX_QUERIES_PER_SECOND]`;
//! `benches/locate.sh` runs it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use hickory_server::Server;
use hickory_server::proto::rr::{LowerName, Name};
use hickory_server::store::file::{FileConfig, FileZoneHandler};
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use serde_json::{Value, json};

const ADMIN: &str = "bench-admin-token-0123456789abcdef";

const ZONE: &str = "\
$ORIGIN example.cn.
$TTL 60
@       IN SOA ns1.dnsco.cn. hostmaster.example.cn. 1 3600 600 86400 60
@       IN NS  ns1.dnsco.cn.
*       IN A   203.0.113.7
";

type Arrivals = Arc<Mutex<HashSet<String>>>;

async fn receive(arrivals: web::Data<Arrivals>, req: HttpRequest) -> HttpResponse {
    if let Some(id) = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
    {
        arrivals.lock().unwrap().insert(id.to_string());
    }
    HttpResponse::NoContent().finish()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The authoritative server, on a loopback UDP port of its own.
async fn authoritative(dir: &std::path::Path) -> (Server<Catalog>, SocketAddr) {
    let path = dir.join("example.cn.zone");
    std::fs::write(&path, ZONE).unwrap();
    let name = Name::from_str("example.cn.").unwrap();
    let handler = FileZoneHandler::try_from_config(
        name.clone(),
        ZoneType::Primary,
        AxfrPolicy::Deny,
        None,
        &FileConfig { zone_path: path },
    )
    .unwrap();
    let mut catalog = Catalog::new();
    catalog.upsert(LowerName::new(&name), vec![Arc::new(handler)]);
    let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = udp.local_addr().unwrap();
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    (server, address)
}

/// A UDP relay to `upstream` that delays each answer by 1 ms, or drops every query while
/// `black_hole` is set.
async fn relay(upstream: SocketAddr, black_hole: Arc<AtomicBool>) -> SocketAddr {
    let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let address = socket.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, client)) = socket.recv_from(&mut buf).await {
            if black_hole.load(Ordering::SeqCst) {
                continue;
            }
            let query = buf[..n].to_vec();
            let socket = Arc::clone(&socket);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
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
    address
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let binary = args.get(1).cloned().expect("the siteban binary");
    let mode = args.get(2).cloned().unwrap_or("answer".into());
    let listings: usize = args.get(3).map_or(10_000, |n| n.parse().unwrap());
    let concurrency: usize = args.get(4).map_or(16, |n| n.parse().unwrap());
    let qps: u32 = args.get(5).map_or(500, |n| n.parse().unwrap());
    let locating = mode != "off";
    siteban::notices::install_crypto_provider();

    let dir = tempfile::tempdir()?;
    let (_dns, upstream) = authoritative(dir.path()).await;
    let black_hole = Arc::new(AtomicBool::new(mode == "blackhole"));
    let relay = relay(upstream, Arc::clone(&black_hole)).await;

    let port = free_port();
    // With SERVER_CPU set, the server runs pinned to that CPU (this program is pinned by the
    // script to another).
    let mut command = match std::env::var("SERVER_CPU") {
        Ok(cpu) => {
            let mut c = Command::new("taskset");
            c.args(["-c", &cpu, &binary]);
            c
        }
        Err(_) => Command::new(&binary),
    };
    let log = std::fs::File::create(dir.path().join("siteban.log"))?;
    let mut server = command
        .args(["serve", "--config", "config/unlimited.toml"])
        .env("SITEBAN__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SITEBAN__SERVER__WORKERS", "1")
        .env("SITEBAN__AUTH__ADMIN_TOKEN", ADMIN)
        .env("SITEBAN__STORE__PATH", dir.path())
        .env("SITEBAN__LOG__LEVEL", "warn")
        .env("SITEBAN__LOCATE__ON_LISTING", locating.to_string())
        .env("SITEBAN__LOCATE__NAMESERVERS", relay.to_string())
        .env("SITEBAN__LOCATE__MAX_QUERIES_PER_SECOND", qps.to_string())
        .env("SITEBAN__LOCATE__TIMEOUT_MS", "1000")
        .env("SITEBAN__LOCATE__ATTEMPTS", "1")
        .env("SITEBAN__LOCATE__LISTING_BUDGET_MS", "2000")
        .env("SITEBAN__LOCATE__BACKOFF_BASE_MS", "1000")
        .env("SITEBAN__LOCATE__BACKOFF_MAX_MS", "4000")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let ready = Instant::now();
    while !client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .is_ok_and(|r| r.status() == 200)
    {
        anyhow::ensure!(ready.elapsed() < Duration::from_secs(20), "no ready server");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let arrivals: Arrivals = Arc::default();
    let data = web::Data::new(Arc::clone(&arrivals));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let hook = format!("http://127.0.0.1:{}/hook", listener.local_addr()?.port());
    let receiver = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::post().to(receive))
    })
    .workers(1)
    .listen(listener)?
    .run();
    let handle = receiver.handle();
    tokio::spawn(receiver);

    let post = |token: &str, path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    // With NO_WEBHOOKS set, the providers pull their notices: nothing is pushed, and the
    // drain ends when every notice is written.
    let push = std::env::var_os("NO_WEBHOOKS").is_none();
    for mut provider in [
        json!({"name": "hosting", "kind": "access", "ranges": ["203.0.113.0/24"]}),
        json!({"name": "dns co", "kind": "dns", "nameservers": ["dnsco.cn"]}),
    ] {
        if push {
            provider["webhook_url"] = json!(hook);
        }
        post(ADMIN, "/v1/providers", provider)
            .await?
            .error_for_status()?;
    }
    let agency: Value = post(
        ADMIN,
        "/v1/keys",
        json!({"name": "bench", "role": "agency"}),
    )
    .await?
    .json()
    .await?;
    let agency = agency["token"].as_str().unwrap().to_string();

    let started = Instant::now();
    let mut latencies: Vec<f64> = futures_util::stream::iter(0..listings)
        .map(|n| {
            let body = json!({
                "domain": format!("b{n}.example.cn"),
                "category": "counterfeit_goods",
                "decision": {"number": format!("京市监处罚〔2024〕{n}号"), "authority": "北京市市场监督管理局", "date": "2024-05-01"},
            });
            let request = post(&agency, "/v1/entries", body);
            async move {
                let sent = Instant::now();
                let response = request.await.expect("the listing is answered");
                assert_eq!(response.status(), 201);
                sent.elapsed().as_secs_f64() * 1000.0
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let listing_secs = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let mut line = format!(
        "mode={mode} listings={listings} concurrency={concurrency} listings_per_s={:.0} p50_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        listings as f64 / listing_secs,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0.0),
    );
    if locating {
        // The black hole lifts when the listings are done; every site then has two providers
        // to be told.
        black_hole.store(false, Ordering::SeqCst);
        let lifted = Instant::now();
        let notices_written = || async {
            let text = client
                .get(format!("{base}/metrics"))
                .send()
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            Some(
                text.lines()
                    .filter(|l| l.starts_with("siteban_notices_created_total{"))
                    .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                    .sum::<f64>() as usize,
            )
        };
        loop {
            let done = if push {
                arrivals.lock().unwrap().len()
            } else {
                notices_written().await.unwrap_or(0)
            };
            if done >= 2 * listings {
                break;
            }
            anyhow::ensure!(
                lifted.elapsed() < Duration::from_secs(1800),
                "not drained after 30 minutes: {} webhooks",
                arrivals.lock().unwrap().len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        line.push_str(&format!(
            " qps={qps} webhooks={push} drain_s={:.1}",
            lifted.elapsed().as_secs_f64()
        ));
    }
    println!("{line}");
    handle.stop(true).await;
    let _ = server.kill();
    let _ = server.wait();
    Ok(())
}
