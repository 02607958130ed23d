//! The naive design the index replaces, for the load benchmark: the same HTTP stack answering
//! `GET /v1/check` with one Redis round trip per check (an `HMGET` of every suffix of the name).
//! `naive_check REDIS_URL PORT ENTRIES.ndjson` loads the entries into its own hash, then serves.

use std::io::BufRead;

use actix_web::{App, HttpResponse, HttpServer, web};
use redis::aio::ConnectionManager;
use serde_json::{Value, json};

const HASH: &str = "naive:active";

async fn check(
    conn: web::Data<ConnectionManager>,
    query: web::Query<std::collections::HashMap<String, String>>,
) -> HttpResponse {
    let Some(name) = query.get("domain") else {
        return HttpResponse::BadRequest().finish();
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let suffixes: Vec<&str> = std::iter::successors(Some(name.as_str()), |s| {
        s.split_once('.').map(|(_, rest)| rest)
    })
    .collect();
    let found: Vec<Option<String>> = match redis::cmd("HMGET")
        .arg(HASH)
        .arg(&suffixes)
        .query_async(&mut conn.get_ref().clone())
        .await
    {
        Ok(found) => found,
        Err(_) => return HttpResponse::ServiceUnavailable().finish(),
    };
    let hit = found
        .iter()
        .enumerate()
        .find_map(|(i, v)| match v.as_deref() {
            Some("subtree") => Some(suffixes[i]),
            Some(_) if i == 0 => Some(suffixes[i]),
            _ => None,
        });
    HttpResponse::Ok().json(json!({"domain": name, "listed": hit.is_some(), "match": hit.map(|d| json!({"domain": d}))}))
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(8090);
    let file = args.next();
    let client = redis::Client::open(url)?;
    let mut conn = ConnectionManager::new(client).await?;
    if let Some(file) = file {
        let reader = std::io::BufReader::new(std::fs::File::open(file)?);
        let mut pipe = redis::pipe();
        let mut pending = 0;
        for line in reader.lines() {
            let entry: Value = serde_json::from_str(&line?)?;
            let domain = entry["domain"]
                .as_str()
                .unwrap_or_default()
                .to_ascii_lowercase();
            pipe.hset(HASH, domain, entry["scope"].as_str().unwrap_or("subtree"))
                .ignore();
            pending += 1;
            if pending == 10_000 {
                pipe.query_async::<()>(&mut conn).await?;
                pipe = redis::pipe();
                pending = 0;
            }
        }
        if pending > 0 {
            pipe.query_async::<()>(&mut conn).await?;
        }
    }
    let data = web::Data::new(conn);
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/v1/check", web::get().to(check))
            .route("/healthz", web::get().to(healthz))
    })
    .workers(1)
    .bind(("127.0.0.1", port))?
    .run()
    .await?;
    Ok(())
}
