//! How long a listing on a registry takes to reach every edge mirror: lists N names on the
//! registry, one after another; before each, every mirror is long-polled on its own feed
//! (`GET /v1/feed?after=<seq>&wait=30`), and once a mirror's feed shows the event, a check on
//! that mirror must answer the name as listed. Reports, over the N listings, the time from the
//! `201` to the last mirror answering listed (p50, p99, max), and the same for the median
//! mirror. Used by `benches/mirror.sh`:
//! `mirror_fanout N REGISTRY_URL AGENCY_TOKEN MIRROR_TOKEN MIRROR_URL...`

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().ok_or("N")?.parse()?;
    let registry = args.next().ok_or("REGISTRY_URL")?;
    let agency = args.next().ok_or("AGENCY_TOKEN")?;
    let token = args.next().ok_or("MIRROR_TOKEN")?;
    let mirrors: Vec<String> = args.collect();
    if mirrors.is_empty() {
        return Err(
            "usage: mirror_fanout N REGISTRY_URL AGENCY_TOKEN MIRROR_TOKEN MIRROR_URL...".into(),
        );
    }
    siteban::notices::install_crypto_provider();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(60))
        .build()?;
    let mut seq: u64 = client
        .get(format!("{registry}/v1/check?domain=warm-up.example.cn"))
        .bearer_auth(&agency)
        .send()
        .await?
        .headers()
        .get("x-blacklist-seq")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .ok_or("the registry sent no X-Blacklist-Seq")?;
    let run = std::process::id();
    let mut last = Vec::with_capacity(n);
    let mut median = Vec::with_capacity(n);
    for i in 0..n {
        let domain = format!("fanout-{run}-{i}.example.cn");
        let mut waits = Vec::with_capacity(mirrors.len());
        for mirror in &mirrors {
            let (client, mirror, token, domain) = (
                client.clone(),
                mirror.clone(),
                token.clone(),
                domain.clone(),
            );
            waits.push(tokio::spawn(async move {
                reached(&client, &mirror, &token, seq, &domain).await
            }));
        }
        let response = client
            .post(format!("{registry}/v1/entries"))
            .bearer_auth(&agency)
            .json(&json!({
                "domain": domain, "scope": "subtree", "category": "counterfeit_goods",
                "reason": "edge mirror fan-out benchmark",
                "decision": {"number": format!("京市监处罚〔2026〕{i}号"),
                             "authority": "北京市市场监督管理局", "date": "2026-03-01"}
            }))
            .send()
            .await?;
        let listed_at = Instant::now();
        if response.status() != 201 {
            return Err(format!("listing {domain}: {}", response.text().await?).into());
        }
        let entry: Value = response.json().await?;
        seq = entry["seq"].as_u64().ok_or("a 201 without seq")?;
        let mut times = Vec::with_capacity(waits.len());
        for wait in waits {
            let at = wait.await??;
            times.push(at.saturating_duration_since(listed_at));
        }
        times.sort();
        last.push(*times.last().unwrap_or(&Duration::ZERO));
        median.push(times[times.len() / 2]);
    }
    last.sort();
    median.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let at =
        |v: &[Duration], q: f64| v[((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1];
    println!(
        "{n} listings, {} mirrors: from the 201 to the last mirror answering listed: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; to the median mirror: p50 {:.1} ms, p99 {:.1} ms",
        mirrors.len(),
        ms(at(&last, 0.50)),
        ms(at(&last, 0.99)),
        ms(*last.last().unwrap_or(&Duration::ZERO)),
        ms(at(&median, 0.50)),
        ms(at(&median, 0.99)),
    );
    Ok(())
}

/// When `mirror` answers `domain` as listed: long-polls its feed past `after`, then checks.
async fn reached(
    client: &reqwest::Client,
    mirror: &str,
    token: &str,
    after: u64,
    domain: &str,
) -> Result<Instant, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut after = after;
    loop {
        if Instant::now() > deadline {
            return Err(format!("{mirror} never listed {domain}"));
        }
        let page = get_json(
            client,
            &format!("{mirror}/v1/feed?after={after}&wait=30&limit=100"),
            token,
        )
        .await?;
        let events = page["events"].as_array().cloned().unwrap_or_default();
        if events.iter().any(|e| e["domain"] == domain) {
            let check =
                get_json(client, &format!("{mirror}/v1/check?domain={domain}"), token).await?;
            if check["listed"] == true {
                return Ok(Instant::now());
            }
            return Err(format!(
                "{mirror}'s feed has {domain} but its check does not"
            ));
        }
        after = page["next"].as_u64().unwrap_or(after);
    }
}

async fn get_json(client: &reqwest::Client, url: &str, token: &str) -> Result<Value, String> {
    client
        .get(url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())
}
