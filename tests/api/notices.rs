//! Behaviour of providers, locating and notices, run on each store: provider management and
//! key binding, locating against a real DNS server, notices written with listings and lifts,
//! signed webhook delivery with retries against a real receiver, pull and acknowledgement,
//! overdue marking on time, and the compliance summary.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::{Receiver, example_dns};
use crate::helpers::{
    DEADLINE, Store, TestApp, entry_body, eventually, expect, spawn_app, spawn_app_with,
};

async fn notices_of(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let response = app.get(token, &format!("/v1/notices?{query}")).await;
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["notices"]
        .as_array()
        .unwrap()
        .clone()
}

async fn notice(app: &TestApp, token: &str, id: &str) -> Value {
    let response = app.get(token, &format!("/v1/notices/{id}")).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn listing_naming(domain: &str, providers: &[&Value]) -> Value {
    let mut body = entry_body(domain);
    body["providers"] = json!(
        providers
            .iter()
            .map(|p| p["id"].clone())
            .collect::<Vec<_>>()
    );
    body
}

pub async fn providers_are_managed_and_keys_bound_to_them(store: Store) {
    let app = spawn_app(store).await;
    let admin = app.admin_token.clone();
    let created = app
        .create_provider(&json!({
            "name": "Example Hosting", "kind": "access", "province": "11",
            "ranges": ["203.0.113.0/24", "2001:db8::/32"],
            "webhook_url": "https://hooks.example.cn/siteban"
        }))
        .await;
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["webhook_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    assert_eq!(
        created["ranges"],
        json!(["203.0.113.0/24", "2001:db8::/32"])
    );
    assert_eq!(created["province"], "11");

    // The secret is shown once: never in a read, a list, or an update without rotation.
    let read: Value = app
        .get(&admin, &format!("/v1/providers/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert!(read.get("webhook_secret").is_none());
    let listed = app.get(&admin, "/v1/providers").await.text().await.unwrap();
    assert!(!listed.contains(&secret[6..]), "a list shows no secret");
    let response = app
        .client
        .patch(app.url(&format!("/v1/providers/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"name": "Example Hosting Ltd", "webhook_url": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["name"], "Example Hosting Ltd");
    assert_eq!(updated["webhook_url"], Value::Null);
    assert_eq!(
        updated["ranges"], created["ranges"],
        "fields not given stay"
    );
    assert!(updated.get("webhook_secret").is_none());
    let rotated: Value = app
        .client
        .patch(app.url(&format!("/v1/providers/{id}")))
        .bearer_auth(&admin)
        .json(&json!({"rotate_secret": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_secret = rotated["webhook_secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_") && new_secret != secret);

    // Keys of provider roles are bound to a provider of their kind.
    let key = |body: Value| {
        let app = &app;
        async move { app.post(&app.admin_token, "/v1/keys", &body).await }
    };
    for (body, code) in [
        (
            json!({"name": "x", "role": "access_provider"}),
            "provider_required",
        ),
        (
            json!({"name": "x", "role": "access_provider", "provider_id": "p_nope"}),
            "unknown_provider",
        ),
        (
            json!({"name": "x", "role": "dns_provider", "provider_id": id}),
            "invalid_provider",
        ),
        (
            json!({"name": "x", "role": "agency", "provider_id": id}),
            "invalid_provider",
        ),
    ] {
        let response = key(body.clone()).await;
        assert_eq!(response.status(), 422, "{body}");
        let error = response.json::<Value>().await.unwrap()["error"].clone();
        assert_eq!(error["code"], code, "{body}");
        let message = error["message"].as_str().unwrap();
        assert!(
            !message.contains("a access") && !message.contains("a agency"),
            "{message}"
        );
    }
    let response = key(json!({"name": "x", "role": "access_provider", "provider_id": id})).await;
    assert_eq!(response.status(), 201);
    let key_view: Value = response.json().await.unwrap();
    assert_eq!(key_view["provider_id"], id.as_str());

    let response = app
        .client
        .delete(app.url(&format!("/v1/providers/{id}")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app.get(&admin, &format!("/v1/providers/{id}")).await;
    assert_eq!(response.status(), 404);

    // The OpenAPI document describes every new endpoint.
    let openapi = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for path in [
        "/v1/providers",
        "/v1/providers/{id}",
        "/v1/locate",
        "/v1/notices",
        "/v1/notices/{id}",
        "/v1/notices/{id}/ack",
        "/v1/compliance",
    ] {
        assert!(
            openapi.contains(&format!("\"{path}\"")),
            "{path} in the OpenAPI document"
        );
    }
}

pub async fn listing_locates_the_site_and_notifies_its_providers(store: Store) {
    let dns = example_dns().await;
    let app = spawn_app_with(store, |s| {
        s.locate.on_listing = true;
        s.locate.nameservers = vec![dns.address.to_string()];
        s.locate.timeout_ms = 1000;
        s.locate.listing_budget_ms = 2000;
    })
    .await;
    let agency = app.create_key("agency", Some("11")).await;
    let hosting = app
        .create_provider(
            &json!({"name": "CDN Hosting", "kind": "access", "ranges": ["203.0.113.0/24"]}),
        )
        .await;
    let other = app
        .create_provider(
            &json!({"name": "Other Hosting", "kind": "access", "ranges": ["198.51.100.0/24"]}),
        )
        .await;
    let dnsco = app
        .create_provider(&json!({"name": "DNS Co", "kind": "dns", "nameservers": ["dnsco.cn"]}))
        .await;
    app.create_provider(
        &json!({"name": "Unrelated DNS", "kind": "dns", "nameservers": ["elsewhere.cn"]}),
    )
    .await;

    let located: Value = app
        .get(&agency, "/v1/locate?domain=Shop.Example.CN")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(located["domain"], "shop.example.cn");
    assert_eq!(
        located["addresses"],
        json!(["203.0.113.7", "2001:db8::7"]),
        "{located}"
    );
    assert_eq!(located["cnames"], json!(["edge.cdn-net.cn"]));
    assert_eq!(located["zone"], "example.cn");
    assert_eq!(
        located["nameservers"],
        json!(["ns1.dnsco.cn", "ns2.dnsco.cn"])
    );
    let found: BTreeSet<&str> = located["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        BTreeSet::from([
            hosting["id"].as_str().unwrap(),
            dnsco["id"].as_str().unwrap()
        ])
    );
    assert!(located["error"].is_null());

    // Listing answers at once, the location pending, and notifies the provider named; the
    // locate worker then stores what it found and notifies the providers found.
    let response = app
        .post(
            &agency,
            "/v1/entries",
            &listing_naming("shop.example.cn", &[&other]),
        )
        .await;
    assert_eq!(response.status(), 201);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["location"]["status"], "pending", "{entry}");
    assert_eq!(entry["location"]["attempts"], 0);
    let named: Vec<&str> = entry["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["provider_id"].as_str().unwrap())
        .collect();
    assert_eq!(named, [other["id"].as_str().unwrap()]);
    let entry = once_located(&app, &agency, "shop.example.cn").await;
    assert_eq!(entry["location"]["status"], "located", "{entry}");
    assert_eq!(entry["location"]["addresses"], located["addresses"]);
    assert!(entry["location"]["next_attempt_at"].is_string());
    let mut all = Vec::new();
    for p in [&hosting, &other, &dnsco] {
        let query = format!("provider={}", p["id"].as_str().unwrap());
        let provider = p["id"].as_str().unwrap().to_string();
        eventually(DEADLINE, "the provider found told", || {
            let (app, agency, query) = (&app, &agency, &query);
            async move { !notices_of(app, agency, query).await.is_empty() }
        })
        .await;
        let theirs = notices_of(&app, &agency, &query).await;
        assert!(theirs.iter().all(|n| n["provider_id"] == provider.as_str()));
        all.extend(theirs);
    }
    let mut sent: Vec<(String, String)> = all
        .iter()
        .map(|n| {
            (
                n["provider_id"].as_str().unwrap().into(),
                n["action"].as_str().unwrap().into(),
            )
        })
        .collect();
    sent.sort();
    let mut expected = vec![
        (
            hosting["id"].as_str().unwrap().to_string(),
            "stop_access".to_string(),
        ),
        (
            other["id"].as_str().unwrap().to_string(),
            "stop_access".to_string(),
        ),
        (
            dnsco["id"].as_str().unwrap().to_string(),
            "stop_resolution".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(sent, expected);
    let history: Value = app
        .get(&agency, "/v1/entries/shop.example.cn")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["current"]["location"]["zone"], "example.cn");
    assert_eq!(history["current"]["providers"].as_array().unwrap().len(), 3);

    // Each provider sees its own notice only; another's is not found.
    let hosting_key = app.provider_key(&hosting).await;
    let dns_key = app.provider_key(&dnsco).await;
    let mine = notices_of(&app, &hosting_key, "").await;
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["action"], "stop_access");
    assert_eq!(mine[0]["status"], "pending");
    assert_eq!(mine[0]["domain"], "shop.example.cn");
    assert_eq!(mine[0]["history"][0]["status"], "pending");
    // The order states its basis: the listing's decision, category and reason.
    let listing = listing_naming("shop.example.cn", &[]);
    assert_eq!(
        mine[0]["basis"]["decision"]["number"],
        listing["decision"]["number"]
    );
    assert_eq!(
        mine[0]["basis"]["decision"]["authority"],
        listing["decision"]["authority"]
    );
    assert_eq!(
        mine[0]["basis"]["decision"]["date"],
        listing["decision"]["date"]
    );
    assert_eq!(mine[0]["basis"]["category"], listing["category"]);
    assert_eq!(mine[0]["basis"]["reason"], listing["reason"]);
    // A provider reads the entries its notices name, and no others.
    let read: Value = expect(
        app.get(&hosting_key, "/v1/entries/shop.example.cn").await,
        200,
        "a notified provider reading the entry",
    )
    .await;
    assert_eq!(read["current"]["id"], mine[0]["entry_id"]);
    let stranger = app
        .create_provider(&json!({"name": "Not told", "kind": "access"}))
        .await;
    let stranger_key = app.provider_key(&stranger).await;
    let response = app.get(&stranger_key, "/v1/entries/shop.example.cn").await;
    assert_eq!(response.status(), 403);
    let theirs = notices_of(&app, &dns_key, "status=pending").await;
    assert_eq!(theirs.len(), 1);
    let response = app
        .get(
            &dns_key,
            &format!("/v1/notices/{}", mine[0]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(response.status(), 404);
    let response = app
        .post(
            &dns_key,
            &format!("/v1/notices/{}/ack", mine[0]["id"].as_str().unwrap()),
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 404);

    // Acknowledging records completion, once.
    let id = mine[0]["id"].as_str().unwrap();
    let response = app
        .post(
            &hosting_key,
            &format!("/v1/notices/{id}/ack"),
            &json!({"note": "blocked at the edge"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    let acked: Value = response.json().await.unwrap();
    assert_eq!(acked["status"], "acknowledged");
    assert_eq!(acked["history"][1]["note"], "blocked at the edge");
    let again: Value = app
        .client
        .post(app.url(&format!("/v1/notices/{id}/ack")))
        .bearer_auth(&hosting_key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["acknowledged_at"], acked["acknowledged_at"]);
    assert!(
        notices_of(&app, &hosting_key, "status=pending")
            .await
            .is_empty()
    );
    assert_eq!(
        notices_of(&app, &hosting_key, "status=acknowledged")
            .await
            .len(),
        1
    );

    // Lifting sends restore notices to every provider the listing notified.
    let response = app.lift(&agency, "shop.example.cn").await;
    assert_eq!(response.status(), 200);
    let lifted: Value = response.json().await.unwrap();
    let restores: Vec<&str> = lifted["notices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["action"].as_str().unwrap())
        .collect();
    assert_eq!(restores, ["restore"; 3]);
    let mine = notices_of(&app, &hosting_key, "").await;
    assert_eq!(mine.len(), 2);
    assert_eq!(mine[1]["action"], "restore");

    // Regulators read any provider's notices and the compliance summary.
    let regulator_view = notices_of(
        &app,
        &agency,
        &format!("provider={}", hosting["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(regulator_view.len(), 2);
    let report: Value = app
        .get(&agency, "/v1/compliance")
        .await
        .json()
        .await
        .unwrap();
    let row = report["providers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["provider_id"] == hosting["id"])
        .unwrap()
        .clone();
    assert_eq!(row["sent"], 2);
    assert_eq!(row["acknowledged"], 1);
    assert_eq!(row["overdue"], 0);
    assert!(row["median_seconds_to_acknowledge"].as_f64().unwrap() >= 0.0);

    // A site the resolvers cannot place is still listed, with the failure on record.
    let response = app.list(&agency, "nowhere.example.org").await;
    assert_eq!(response.status(), 201);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["notices"], json!([]));
    let entry = once_located(&app, &agency, "nowhere.example.org").await;
    assert_eq!(entry["location"]["status"], "failed", "{entry}");
    assert!(entry["location"]["error"].is_string(), "{entry}");
    assert!(entry["location"]["attempts"].as_u64().unwrap() >= 1);
}

/// The current entry of `domain` once its first locate attempt has ended.
pub async fn once_located(app: &TestApp, token: &str, domain: &str) -> Value {
    entry_when(app, token, domain, "its first locate attempt", |current| {
        current["location"]["status"] != "pending"
    })
    .await
}

/// The current entry of `domain` once `holds` holds for it (`what` says what is awaited).
pub async fn entry_when(
    app: &TestApp,
    token: &str,
    domain: &str,
    what: &str,
    holds: impl Fn(&Value) -> bool,
) -> Value {
    let start = std::time::Instant::now();
    loop {
        let history: Value = app
            .get(token, &format!("/v1/entries/{domain}"))
            .await
            .json()
            .await
            .unwrap();
        let current = history["current"].clone();
        if holds(&current) {
            return current;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{domain}: timed out waiting for {what}: {current}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

pub async fn webhooks_are_signed_retried_and_delivered(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let receiver = Receiver::start(3);
    let provider = app
        .create_provider(
            &json!({"name": "Hook Hosting", "kind": "access", "webhook_url": receiver.url}),
        )
        .await;
    receiver.set_secret(provider["webhook_secret"].as_str().unwrap());
    let response = app
        .post(
            &agency,
            "/v1/entries",
            &listing_naming("hooked.example.cn", &[&provider]),
        )
        .await;
    assert_eq!(response.status(), 201);
    let entry: Value = response.json().await.unwrap();
    let notice_id = entry["notices"][0]["id"].as_str().unwrap().to_string();

    eventually(DEADLINE, "the webhook to be accepted", || async {
        !receiver.accepted().is_empty()
    })
    .await;
    let deliveries = receiver.deliveries();
    assert_eq!(deliveries.len(), 4, "three refusals, then success");
    for (n, delivery) in deliveries.iter().enumerate() {
        assert!(delivery.signature_ok, "attempt {n} is signed");
        assert_eq!(
            delivery.id, notice_id,
            "one stable webhook-id for de-duplication"
        );
        assert_eq!(delivery.body["type"], "notice.stop_access");
        assert_eq!(delivery.body["data"]["attempts"], n as u64 + 1);
        assert_eq!(delivery.body["data"]["domain"], "hooked.example.cn");
    }
    // Back-off: the gaps grow (50 ms base doubling, with jitter in the upper half).
    let gaps: Vec<Duration> = deliveries.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(gaps[2] >= Duration::from_millis(100), "{gaps:?}");

    let key = app.provider_key(&provider).await;
    eventually(DEADLINE, "the notice to show delivered", || async {
        notice(&app, &key, &notice_id).await["status"] == "delivered"
    })
    .await;
    let delivered = notice(&app, &key, &notice_id).await;
    assert_eq!(delivered["attempts"], 4);
    assert!(delivered["delivered_at"].is_string());
    assert!(delivered["next_attempt_at"].is_null());
    assert_eq!(delivered["history"][1]["status"], "delivered");
    let text = metrics(&app).await;
    assert!(
        text.contains("siteban_notice_deliveries_total{result=\"failed\"} 3"),
        "{text}"
    );
    assert!(text.contains("siteban_notice_deliveries_total{result=\"delivered\"} 1"));
    assert!(text.contains("siteban_notices_created_total{action=\"stop_access\"} 1"));

    // A webhook that never accepts is pushed until the retry horizon, then left to be pulled.
    drop(receiver);
    let app = spawn_app_with(store, |s| s.notices.retry_horizon_seconds = 1).await;
    let agency = app.create_key("agency", None).await;
    let refusing = Receiver::start(usize::MAX);
    let provider = app
        .create_provider(
            &json!({"name": "Down Hosting", "kind": "access", "webhook_url": refusing.url}),
        )
        .await;
    refusing.set_secret(provider["webhook_secret"].as_str().unwrap());
    let entry: Value = app
        .post(
            &agency,
            "/v1/entries",
            &listing_naming("down.example.cn", &[&provider]),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = entry["notices"][0]["id"].as_str().unwrap().to_string();
    let key = app.provider_key(&provider).await;
    eventually(
        Duration::from_secs(5),
        "pushing to stop at the horizon",
        || async {
            notice(&app, &key, &id).await["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("gave up"))
        },
    )
    .await;
    let given_up = notice(&app, &key, &id).await;
    assert_eq!(given_up["status"], "pending");
    assert!(given_up["next_attempt_at"].is_null());
    let pulled = notices_of(&app, &key, "status=pending").await;
    assert_eq!(pulled.len(), 1, "still there to be pulled");
    assert!(refusing.deliveries().iter().all(|d| d.signature_ok));
}

pub async fn overdue_notices_change_status_on_time(store: Store) {
    let app = spawn_app_with(store, |s| s.notices.deadline_stop_resolution_seconds = 1).await;
    let agency = app.create_key("agency", None).await;
    let auditor = app.create_key("auditor", None).await;
    let provider = app
        .create_provider(&json!({"name": "Slow DNS", "kind": "dns", "nameservers": ["slowdns.cn"]}))
        .await;
    let key = app.provider_key(&provider).await;
    let started = std::time::Instant::now();
    let entry: Value = app
        .post(
            &agency,
            "/v1/entries",
            &listing_naming("late.example.cn", &[&provider]),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = entry["notices"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(entry["notices"][0]["action"], "stop_resolution");
    eventually(
        Duration::from_secs(3),
        "the notice to become overdue",
        || async { notice(&app, &key, &id).await["status"] == "overdue" },
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "not before its deadline"
    );
    let overdue = notice(&app, &key, &id).await;
    let statuses: Vec<&str> = overdue["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["pending", "overdue"]);
    assert!(overdue["overdue_at"].is_string());
    eventually(DEADLINE, "the overdue gauge", || async {
        metrics(&app).await.contains("siteban_notices_overdue 1")
    })
    .await;
    let report: Value = app
        .get(&auditor, "/v1/compliance")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["providers"][0]["overdue"], 1);
    assert_eq!(report["providers"][0]["overdue_open"], 1);

    // A late acknowledgement is recorded as such.
    let response = app
        .post(&key, &format!("/v1/notices/{id}/ack"), &json!({}))
        .await;
    assert_eq!(response.status(), 200);
    let report: Value = app
        .get(&auditor, "/v1/compliance")
        .await
        .json()
        .await
        .unwrap();
    let row = &report["providers"][0];
    assert_eq!(row["acknowledged"], 1);
    assert_eq!(row["acknowledged_late"], 1);
    assert_eq!(row["overdue_open"], 0);
    let median = row["median_seconds_to_acknowledge"].as_f64().unwrap();
    assert!(median >= 1.0);
    // To the millisecond, as the times it comes from: no float noise in the answer.
    assert_eq!((median * 1000.0).round() / 1000.0, median, "{median}");
    assert!(
        row["median_seconds_to_acknowledge"].to_string().len() <= 12,
        "{}",
        row["median_seconds_to_acknowledge"]
    );
    eventually(DEADLINE, "the overdue gauge to fall", || async {
        metrics(&app).await.contains("siteban_notices_overdue 0")
    })
    .await;
}
