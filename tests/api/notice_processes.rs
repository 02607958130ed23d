//! Notices with the real binary: a restart of siteban while a notice is being retried loses
//! nothing (on both stores), and two nodes sharing one Redis never send one attempt twice.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

use crate::fixtures::Receiver;
use crate::helpers::{DEADLINE, Node, RedisServer, entry_body, eventually};

const ADMIN: &str = "notice-process-admin-token-0123456789";

fn env(store: Option<&RedisServer>, dir: &std::path::Path) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("SITEBAN__STORE__PATH", dir.display().to_string()),
        ("SITEBAN__AUTH__ADMIN_TOKEN", ADMIN.into()),
        ("SITEBAN__NOTICES__POLL_INTERVAL_MS", "20".into()),
        ("SITEBAN__NOTICES__BACKOFF_BASE_MS", "100".into()),
        ("SITEBAN__NOTICES__BACKOFF_MAX_MS", "200".into()),
        ("SITEBAN__NOTICES__WEBHOOK_TIMEOUT_MS", "1000".into()),
        ("SITEBAN__NOTICES__LEASE_MS", "1500".into()),
    ];
    match store {
        Some(redis) => {
            env.push(("SITEBAN__STORE__BACKEND", "redis".into()));
            env.push(("SITEBAN__STORE__REDIS_URL", redis.url()));
        }
        None => env.push(("SITEBAN__STORE__BACKEND", "embedded".into())),
    }
    env
}

async fn post(
    client: &reqwest::Client,
    node: &Node,
    token: &str,
    path: &str,
    body: &Value,
) -> Value {
    let response = client
        .post(node.url(path))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "POST {path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

/// An agency token and a provider pushing to `receiver`, made through `node`.
async fn setup(client: &reqwest::Client, node: &Node, receiver: &Receiver) -> (String, Value) {
    let agency = post(
        client,
        node,
        ADMIN,
        "/v1/keys",
        &json!({"name": "AMR", "role": "agency"}),
    )
    .await;
    let provider = post(
        client,
        node,
        ADMIN,
        "/v1/providers",
        &json!({"name": "Hook Hosting", "kind": "access", "webhook_url": receiver.url}),
    )
    .await;
    receiver.set_secret(provider["webhook_secret"].as_str().unwrap());
    (agency["token"].as_str().unwrap().to_string(), provider)
}

fn listing(domain: &str, provider: &Value) -> Value {
    let mut body = entry_body(domain);
    body["providers"] = json!([provider["id"]]);
    body
}

async fn restart_mid_retry(mut redis: Option<RedisServer>) {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let receiver = Receiver::start(usize::MAX);
    let mut node = Node::start(&env(redis.as_ref(), dir.path()), dir.path().join("a.log"));
    node.wait_ready(&client).await;
    let (agency, provider) = setup(&client, &node, &receiver).await;
    let entry = post(
        &client,
        &node,
        &agency,
        "/v1/entries",
        &listing("retry.example.cn", &provider),
    )
    .await;
    let id = entry["notices"][0]["id"].as_str().unwrap().to_string();
    eventually(DEADLINE, "two refused attempts", || async {
        receiver.deliveries().len() >= 2
    })
    .await;
    node.kill();
    if let Some(redis) = redis.as_mut() {
        // Redis restarts too: the outbox must come back from its append-only file.
        redis.restart();
    }
    let refused = receiver.deliveries().len();
    receiver.set_fail_first(0);

    let node = Node::start(&env(redis.as_ref(), dir.path()), dir.path().join("b.log"));
    node.wait_ready(&client).await;
    eventually(
        DEADLINE,
        "the notice to be delivered after the restart",
        || async { !receiver.accepted().is_empty() },
    )
    .await;
    let deliveries = receiver.deliveries();
    assert!(deliveries.iter().all(|d| d.signature_ok && d.id == id));
    assert_eq!(receiver.accepted().len(), 1);
    // Attempt numbers go on from where the first process stopped.
    let accepted = &receiver.accepted()[0];
    assert!(accepted.body["data"]["attempts"].as_u64().unwrap() > refused as u64);
    let key = post(
        &client,
        &node,
        ADMIN,
        "/v1/keys",
        &json!({"name": "hosting", "role": "access_provider", "provider_id": provider["id"]}),
    )
    .await;
    let token = key["token"].as_str().unwrap();
    eventually(DEADLINE, "the notice to show delivered", || async {
        let notice: Value = client
            .get(node.url(&format!("/v1/notices/{id}")))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        notice["status"] == "delivered"
    })
    .await;
}

#[tokio::test]
async fn embedded_notice_survives_a_restart_mid_retry() {
    restart_mid_retry(None).await;
}

#[tokio::test]
async fn redis_notice_survives_a_restart_of_siteban_and_redis_mid_retry() {
    restart_mid_retry(Some(RedisServer::start_with(true))).await;
}

#[tokio::test]
async fn two_nodes_on_one_redis_never_send_one_attempt_twice() {
    const LISTINGS: usize = 40;
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    // Every notice's first attempt is refused, so its retry is open to both nodes.
    let receiver = Receiver::start(1);
    let mut env = env(Some(&redis), dir.path());
    env.push(("SITEBAN__NOTICES__BACKOFF_BASE_MS", "20".into()));
    env.push(("SITEBAN__NOTICES__POLL_INTERVAL_MS", "5".into()));
    let a = Node::start(&env, dir.path().join("a.log"));
    let b = Node::start(&env, dir.path().join("b.log"));
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;
    let (agency, provider) = setup(&client, &a, &receiver).await;
    eventually(DEADLINE, "the key to work on node B", || async {
        client
            .get(b.url("/v1/check?domain=x.example.cn"))
            .bearer_auth(&agency)
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    for n in 0..LISTINGS {
        let node = if n % 2 == 0 { &a } else { &b };
        post(
            &client,
            node,
            &agency,
            "/v1/entries",
            &listing(&format!("shared{n}.example.cn"), &provider),
        )
        .await;
    }
    eventually(DEADLINE, "every notice to be accepted", || async {
        receiver.accepted().len() >= LISTINGS
    })
    .await;
    let mut attempts: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for delivery in receiver.deliveries() {
        assert!(delivery.signature_ok);
        attempts
            .entry(delivery.id.clone())
            .or_default()
            .push(delivery.body["data"]["attempts"].as_u64().unwrap());
    }
    assert_eq!(attempts.len(), LISTINGS);
    for (id, mut numbers) in attempts {
        numbers.sort();
        let distinct: BTreeSet<u64> = numbers.iter().copied().collect();
        assert_eq!(
            distinct.len(),
            numbers.len(),
            "notice {id}: an attempt sent twice: {numbers:?}"
        );
        assert_eq!(numbers, [1, 2], "notice {id}");
    }
    let accepted: BTreeSet<String> = receiver.accepted().into_iter().map(|d| d.id).collect();
    assert_eq!(accepted.len(), LISTINGS, "each notice accepted once");
    // Both nodes made attempts: the outbox is shared, not split by writer.
    for node in [&a, &b] {
        let text = client
            .get(node.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains("siteban_notice_deliveries_total{result="),
            "{text}"
        );
    }
}
