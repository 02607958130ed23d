//! The real binary as operators run it: durability across SIGKILL on both stores, two nodes
//! sharing one Redis, and a Redis outage while checks go on.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{DEADLINE, Node, RedisServer, entry_body, eventually};

const ADMIN: &str = "process-test-admin-token-0123456789";

fn embedded_env(dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("SITEBAN__STORE__BACKEND", "embedded".into()),
        ("SITEBAN__STORE__PATH", dir.display().to_string()),
        ("SITEBAN__AUTH__ADMIN_TOKEN", ADMIN.into()),
    ]
}

fn redis_env(redis: &RedisServer, dir: &std::path::Path) -> Vec<(&'static str, String)> {
    vec![
        ("SITEBAN__STORE__BACKEND", "redis".into()),
        ("SITEBAN__STORE__REDIS_URL", redis.url()),
        ("SITEBAN__STORE__PATH", dir.display().to_string()),
        ("SITEBAN__AUTH__ADMIN_TOKEN", ADMIN.into()),
    ]
}

async fn make_key(client: &reqwest::Client, node: &Node, role: &str) -> (String, String) {
    let key: Value = client
        .post(node.url("/v1/keys"))
        .bearer_auth(ADMIN)
        .json(&json!({"name": role, "role": role}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (
        key["id"].as_str().unwrap().into(),
        key["token"].as_str().unwrap().into(),
    )
}

async fn listed(client: &reqwest::Client, node: &Node, token: &str, domain: &str) -> Option<bool> {
    let response = client
        .get(node.url("/v1/check"))
        .query(&[("domain", domain)])
        .bearer_auth(token)
        .send()
        .await
        .ok()?;
    if response.status() != 200 {
        return None;
    }
    response.json::<Value>().await.ok()?["listed"].as_bool()
}

async fn post_entry(
    client: &reqwest::Client,
    node: &Node,
    token: &str,
    domain: &str,
) -> reqwest::StatusCode {
    client
        .post(node.url("/v1/entries"))
        .bearer_auth(token)
        .json(&entry_body(domain))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn embedded_entry_survives_sigkill_right_after_201() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start(&embedded_env(dir.path()), dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (_, agency) = make_key(&client, &node, "agency").await;
    assert_eq!(
        post_entry(&client, &node, &agency, "durable.example.cn").await,
        201
    );
    node.kill();

    let node = Node::start(&embedded_env(dir.path()), dir.path().join("node2.log"));
    node.wait_ready(&client).await;
    assert_eq!(
        listed(&client, &node, &agency, "www.durable.example.cn").await,
        Some(true)
    );
}

#[tokio::test]
async fn redis_entry_survives_sigkill_of_siteban_and_redis_right_after_201() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start_with(true);
    let mut node = Node::start(&redis_env(&redis, dir.path()), dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (_, agency) = make_key(&client, &node, "agency").await;
    assert_eq!(
        post_entry(&client, &node, &agency, "durable.example.cn").await,
        201
    );
    node.kill();
    redis.restart();

    let node = Node::start(&redis_env(&redis, dir.path()), dir.path().join("node2.log"));
    node.wait_ready(&client).await;
    assert_eq!(
        listed(&client, &node, &agency, "www.durable.example.cn").await,
        Some(true)
    );
}

#[tokio::test]
async fn two_nodes_on_one_redis_see_each_others_writes_and_keys() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let redis = RedisServer::start();
    let a = Node::start(&redis_env(&redis, dir.path()), dir.path().join("a.log"));
    let b = Node::start(&redis_env(&redis, dir.path()), dir.path().join("b.log"));
    a.wait_ready(&client).await;
    b.wait_ready(&client).await;

    // A key made through A works on B within a second.
    let (key_id, agency) = make_key(&client, &a, "agency").await;
    eventually(
        Duration::from_secs(1),
        "the key to work on node B",
        || async { listed(&client, &b, &agency, "x.example.cn").await.is_some() },
    )
    .await;

    // An entry written on A is listed on B within a second, and the other way round.
    assert_eq!(
        post_entry(&client, &a, &agency, "shared.example.cn").await,
        201
    );
    eventually(
        Duration::from_secs(1),
        "node B to list the entry",
        || async { listed(&client, &b, &agency, "www.shared.example.cn").await == Some(true) },
    )
    .await;
    assert_eq!(
        post_entry(&client, &b, &agency, "other.example.cn").await,
        201
    );
    eventually(
        Duration::from_secs(1),
        "node A to list the entry",
        || async { listed(&client, &a, &agency, "other.example.cn").await == Some(true) },
    )
    .await;
    // Both nodes numbered their writes from one sequence.
    let feed: Value = client
        .get(a.url("/v1/feed"))
        .bearer_auth(&agency)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let seqs: Vec<u64> = feed["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2]);

    // A key revoked on A stops working on B within a second.
    let response = client
        .delete(a.url(&format!("/v1/keys/{key_id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    eventually(
        Duration::from_secs(1),
        "the revoked key to fail on node B",
        || async {
            client
                .get(b.url("/v1/check?domain=x.example.cn"))
                .bearer_auth(&agency)
                .send()
                .await
                .is_ok_and(|r| r.status() == 401)
        },
    )
    .await;
}

#[tokio::test]
async fn checks_go_on_while_redis_is_down_and_writes_resume_after() {
    let client = crate::helpers::client();
    let dir = tempfile::tempdir().unwrap();
    let mut redis = RedisServer::start_with(true);
    let node = Node::start(&redis_env(&redis, dir.path()), dir.path().join("node.log"));
    node.wait_ready(&client).await;
    let (_, agency) = make_key(&client, &node, "agency").await;
    assert_eq!(
        post_entry(&client, &node, &agency, "before.example.cn").await,
        201
    );

    redis.kill();
    // Checks keep being answered from memory; readiness reports the stale index.
    assert_eq!(
        listed(&client, &node, &agency, "before.example.cn").await,
        Some(true)
    );
    eventually(DEADLINE, "readyz to report the outage", || async {
        let response = client.get(node.url("/readyz")).send().await.unwrap();
        response.status() == 503
            && response.json::<Value>().await.unwrap()["reason"]
                .as_str()
                .is_some_and(|r| r.contains("store"))
    })
    .await;
    let response = client
        .post(node.url("/v1/entries"))
        .bearer_auth(&agency)
        .json(&entry_body("during.example.cn"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "store_unavailable"
    );
    assert_eq!(
        listed(&client, &node, &agency, "before.example.cn").await,
        Some(true)
    );
    let metrics = client
        .get(node.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("siteban_follower_errors_total{kind=\"store\"}"),
        "{metrics}"
    );

    redis.restart();
    eventually(DEADLINE, "writes to succeed again", || async {
        post_entry(&client, &node, &agency, "after.example.cn").await == 201
    })
    .await;
    assert_eq!(
        listed(&client, &node, &agency, "after.example.cn").await,
        Some(true)
    );
    assert_eq!(
        listed(&client, &node, &agency, "during.example.cn").await,
        Some(false)
    );
    node.wait_ready(&client).await;
}
