//! Speed of notice delivery: posts LISTINGS listings (each naming one provider with a webhook)
//! to a running siteban node, CONCURRENCY at a time, and measures for each the time from the
//! `201` reaching the client to the signed webhook reaching this program's receiver.
//! `notice_latency URL ADMIN_TOKEN [LISTINGS] [CONCURRENCY]`; `benches/notices.sh` runs it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use serde_json::{Value, json};

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

async fn receive(arrivals: web::Data<Arrivals>, req: HttpRequest) -> HttpResponse {
    if let Some(id) = req
        .headers()
        .get("webhook-id")
        .and_then(|v| v.to_str().ok())
    {
        arrivals
            .lock()
            .unwrap()
            .entry(id.to_string())
            .or_insert_with(Instant::now);
    }
    HttpResponse::NoContent().finish()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .cloned()
        .unwrap_or("http://127.0.0.1:8080".into());
    let admin = args.get(2).cloned().expect("the admin token");
    let listings: usize = args.get(3).map_or(1000, |n| n.parse().unwrap());
    let concurrency: usize = args.get(4).map_or(4, |n| n.parse().unwrap());
    siteban::notices::install_crypto_provider();
    let client = reqwest::Client::new();

    let arrivals: Arrivals = Arc::default();
    let data = web::Data::new(Arc::clone(&arrivals));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let hook = format!("http://127.0.0.1:{}/hook", listener.local_addr()?.port());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/hook", web::post().to(receive))
    })
    .workers(1)
    .listen(listener)?
    .run();
    let handle = server.handle();
    tokio::spawn(server);

    let post = |token: String, path: &str, body: Value| {
        let request = client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body);
        async move { request.send().await }
    };
    let provider: Value = post(
        admin.clone(),
        "/v1/providers",
        json!({"name": "bench hosting", "kind": "access", "webhook_url": hook}),
    )
    .await?
    .json()
    .await?;
    let agency: Value = post(
        admin.clone(),
        "/v1/keys",
        json!({"name": "bench", "role": "agency"}),
    )
    .await?
    .json()
    .await?;
    let agency = agency["token"].as_str().unwrap().to_string();
    let run = rand::random::<u32>();

    let started = Instant::now();
    let created: Vec<(String, Instant)> = futures_util::stream::iter(0..listings)
        .map(|n| {
            let body = json!({
                "domain": format!("b{run}-{n}.example.cn"),
                "category": "counterfeit_goods",
                "decision": {"number": format!("京市监处罚〔2024〕{n}号"), "authority": "北京市市场监督管理局", "date": "2024-05-01"},
                "providers": [provider["id"]],
            });
            let request = post(agency.clone(), "/v1/entries", body);
            async move {
                let response = request.await.expect("the listing is answered");
                assert_eq!(response.status(), 201);
                let at = Instant::now();
                let entry: Value = response.json().await.unwrap();
                (entry["notices"][0]["id"].as_str().unwrap().to_string(), at)
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let listing_secs = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(60);
    while arrivals.lock().unwrap().len() < listings {
        assert!(Instant::now() < deadline, "webhooks missing after 60 s");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let arrivals = arrivals.lock().unwrap().clone();
    let mut latencies: Vec<f64> = created
        .iter()
        .map(|(id, at)| {
            // A webhook can arrive before the client has read its 201: count that as zero.
            arrivals[id].saturating_duration_since(*at).as_secs_f64() * 1000.0
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    println!(
        "listings={listings} concurrency={concurrency} listings_per_s={:.0} p50_ms={:.2} p90_ms={:.2} p99_ms={:.2} max_ms={:.2}",
        listings as f64 / listing_secs,
        percentile(&latencies, 50.0),
        percentile(&latencies, 90.0),
        percentile(&latencies, 99.0),
        latencies.last().copied().unwrap_or(0.0),
    );
    handle.stop(true).await;
    Ok(())
}
