//! How long a listing takes to reach every node: writes N entries, each on the next of the
//! given nodes in turn, one after another, and after each `201` polls `GET /v1/check` on every
//! node (every millisecond) until all of them answer it as listed. Reports the time from the
//! `201` and from sending the write to the last node's first "listed", as percentiles.
//! Used by `benches/propagation.sh`:
//! `propagation N ADMIN_TOKEN http://127.0.0.1:8081 http://127.0.0.1:8082 ...`

use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().ok_or("N")?.parse()?;
    let admin = args.next().ok_or("ADMIN_TOKEN")?;
    let nodes: Vec<String> = args.collect();
    if nodes.is_empty() {
        return Err("usage: propagation N ADMIN_TOKEN NODE_URL...".into());
    }
    siteban::notices::install_crypto_provider();
    let client = reqwest::Client::new();
    let key = |role: &'static str| {
        let (client, admin, node) = (client.clone(), admin.clone(), nodes[0].clone());
        async move {
            let key: Value = client
                .post(format!("{node}/v1/keys"))
                .bearer_auth(admin)
                .json(&json!({"name": "propagation", "role": role}))
                .send()
                .await?
                .json()
                .await?;
            Ok::<String, reqwest::Error>(key["token"].as_str().unwrap_or_default().to_string())
        }
    };
    let agency = key("agency").await?;
    let reader = key("auditor").await?;
    // The keys reach the other nodes through the key log: wait until every node knows them.
    for node in &nodes {
        let start = Instant::now();
        while client
            .get(format!("{node}/v1/check?domain=warmup.example.cn"))
            .bearer_auth(&reader)
            .send()
            .await?
            .status()
            != 200
        {
            if start.elapsed() > Duration::from_secs(10) {
                return Err(format!("{node} never accepted the new key").into());
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let run = uuid::Uuid::now_v7().simple().to_string();
    let run = &run[run.len() - 8..];
    let mut after_201 = Vec::with_capacity(n);
    let mut after_send = Vec::with_capacity(n);
    for i in 0..n {
        let domain = format!("p{i}-{run}.example.cn");
        let writer = &nodes[i % nodes.len()];
        let sent = Instant::now();
        let response = client
            .post(format!("{writer}/v1/entries"))
            .bearer_auth(&agency)
            .json(&json!({
                "domain": domain, "scope": "subtree", "category": "counterfeit_goods",
                "reason": "propagation benchmark",
                "decision": {"number": format!("京市监处罚〔2024〕{i}号"),
                             "authority": "北京市市场监督管理局", "date": "2024-05-01"}
            }))
            .send()
            .await?;
        if response.status() != 201 {
            return Err(format!("write {i} answered {}", response.status()).into());
        }
        let acknowledged = Instant::now();
        let polls = nodes.iter().map(|node| {
            let (client, reader, domain) = (client.clone(), reader.clone(), domain.clone());
            let url = format!("{node}/v1/check");
            async move {
                loop {
                    let answer: Value = client
                        .get(&url)
                        .query(&[("domain", &domain)])
                        .bearer_auth(&reader)
                        .send()
                        .await?
                        .json()
                        .await?;
                    if answer["listed"] == true {
                        return Ok::<Instant, reqwest::Error>(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            }
        });
        let seen = futures_util::future::try_join_all(polls).await?;
        let last = seen.into_iter().max().unwrap_or(acknowledged);
        after_201.push(last.saturating_duration_since(acknowledged));
        after_send.push(last.saturating_duration_since(sent));
    }
    report("from the 201 to listed on every node", &mut after_201);
    report(
        "from sending the write to listed on every node",
        &mut after_send,
    );
    Ok(())
}

fn report(what: &str, times: &mut [Duration]) {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 * p).ceil() as usize).clamp(1, times.len()) - 1];
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    eprintln!(
        "{} writes, {what}: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        times.len(),
        ms(at(0.5)),
        ms(at(0.9)),
        ms(at(0.99)),
        ms(at(1.0))
    );
}
