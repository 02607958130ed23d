//! Trust and safety: province scoping, protected names, four-eyes approval, the audit log,
//! rate limits, resource limits against slow and oversized clients, key expiry, and the
//! Bearer scheme in any case.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use siteban::audit::{AuditRecord, Verifier};

use crate::helpers::{
    DEADLINE, Store, TestApp, entry_body, eventually, expect, spawn_app, spawn_app_with,
};

pub async fn provincial_keys_act_within_their_province(store: Store) {
    let app = spawn_app(store).await;
    let beijing_amr = app.create_key("agency", Some("11")).await;
    let beijing_ca = app.create_key("telecom", Some("11")).await;
    let shanghai_amr = app.create_key("agency", Some("31")).await;
    let samr = app.create_key("agency", None).await;

    for domain in ["a.example.cn", "b.example.cn", "c.example.cn"] {
        app.listed(&beijing_amr, domain).await;
    }
    app.listed(&samr, "national.example.cn").await;

    let response = app.lift(&shanghai_amr, "a.example.cn").await;
    assert_eq!(response.status(), 403);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "out_of_province");
    assert_eq!(
        app.check(&samr, "a.example.cn").await["listed"],
        true,
        "nothing changed"
    );

    // The same province, either side, may lift; a national key may lift any entry.
    assert_eq!(app.lift(&beijing_ca, "a.example.cn").await.status(), 200);
    assert_eq!(app.lift(&samr, "b.example.cn").await.status(), 200);
    // A provincial key may not lift a national key's entry.
    assert_eq!(
        app.lift(&beijing_amr, "national.example.cn").await.status(),
        403
    );
    assert_eq!(app.lift(&samr, "national.example.cn").await.status(), 200);

    let history: Value = app
        .get(&samr, "/v1/entries/c.example.cn")
        .await
        .json()
        .await
        .unwrap();
    let listed_by = &history["current"]["listed_by"];
    assert_eq!(listed_by["role"], "agency");
    assert_eq!(listed_by["province"], "11");
    assert!(listed_by["key_id"].as_str().unwrap().starts_with("k_"));
    assert_eq!(listed_by["name"], "test agency");
}

pub async fn protected_names_are_never_listed_without_an_override(store: Store) {
    let app = spawn_app_with(store, |s| s.protection.names = vec!["gov.cn".into()]).await;
    let national_ca = app.create_key("telecom", None).await;
    let provincial_ca = app.create_key("telecom", Some("44")).await;
    let samr = app.create_key("agency", None).await;
    let auditor = app.create_key("auditor", None).await;

    let response = app
        .post(
            &app.admin_token,
            "/v1/protected",
            &json!({"domain": "Drive.Example.COM", "note": "shared storage"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let again = app
        .post(
            &app.admin_token,
            "/v1/protected",
            &json!({"domain": "drive.example.com"}),
        )
        .await;
    assert_eq!(again.status(), 409);
    let names: Value = app
        .get(&auditor, "/v1/protected")
        .await
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = names["names"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["domain"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["drive.example.com", "gov.cn"]);

    // Equal, below and above a protected name are all refused.
    for domain in [
        "drive.example.com",
        "x.drive.example.com",
        "example.com",
        "fake.gov.cn",
    ] {
        let response = app.list(&samr, domain).await;
        assert_eq!(response.status(), 422, "{domain}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"]["code"],
            "protected_domain"
        );
    }
    assert_eq!(
        app.list(&samr, "drive-example.com").await.status(),
        201,
        "a sibling is not protected"
    );

    // Only a national telecom key may override, and only with a justification.
    let mut body = entry_body("x.drive.example.com");
    body["override_protection"] = json!({"justification": "court order 2024-17 names this host"});
    for token in [&samr, &provincial_ca] {
        let response = app.post(token, "/v1/entries", &body).await;
        assert_eq!(response.status(), 403);
    }
    let mut empty = body.clone();
    empty["override_protection"] = json!({"justification": " "});
    let response = app.post(&national_ca, "/v1/entries", &empty).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_override"
    );
    let response = app.post(&national_ca, "/v1/entries", &body).await;
    assert_eq!(response.status(), 201);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(
        entry["protection_override"]["protected"],
        "drive.example.com"
    );
    assert_eq!(
        app.check(&samr, "x.drive.example.com").await["listed"],
        true
    );

    // The override is on record in the audit log.
    let audit: Value = app
        .get(&auditor, "/v1/audit?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let record = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| {
            r["action"] == "entry.submit"
                && r["status"] == 201
                && r["target"] == "x.drive.example.com"
        })
        .expect("the override's audit record");
    assert!(
        record["detail"]
            .as_str()
            .unwrap()
            .contains("court order 2024-17")
    );

    // Names added through the API can be removed; configured ones cannot.
    let response = app
        .client
        .delete(app.url("/v1/protected/drive.example.com"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    app.listed(&samr, "example.com").await;
    let response = app
        .client
        .delete(app.url("/v1/protected/gov.cn"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

pub async fn four_eyes_entries_wait_for_a_second_key(store: Store) {
    let app = spawn_app_with(store, |s| s.entries.require_approval = true).await;
    let first = app.create_key("agency", Some("11")).await;
    let second = app.create_key("agency", Some("11")).await;
    let other_province = app.create_key("agency", Some("31")).await;
    let telecom = app.create_key("telecom", Some("11")).await;

    let provider = app
        .create_provider(&json!({"name": "held access", "kind": "access"}))
        .await;
    let mut body = entry_body("held.example.cn");
    body["providers"] = json!([provider["id"]]);
    let response = app.post(&first, "/v1/entries", &body).await;
    assert_eq!(response.status(), 201);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["status"], "pending");
    assert_eq!(
        entry["notices"],
        json!([]),
        "no one is told before the approval"
    );
    assert_eq!(app.check(&first, "held.example.cn").await["listed"], false);
    assert_eq!(app.feed(&first, "after=0").await["events"], json!([]));
    assert_eq!(
        app.list(&second, "held.example.cn").await.status(),
        409,
        "one entry per domain"
    );
    let pending: Value = app
        .get(&first, "/v1/entries?status=pending")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(pending["entries"][0]["domain"], "held.example.cn");

    let approve = "/v1/entries/held.example.cn/approve";
    for (token, why) in [
        (&first, "the same key"),
        (&telecom, "the other side"),
        (&other_province, "another province"),
    ] {
        let response = app.post(token, approve, &json!({})).await;
        assert_eq!(response.status(), 403, "approval by {why}");
    }
    let response = app
        .post(&second, approve, &json!({"reason": "checked the decision"}))
        .await;
    assert_eq!(response.status(), 200);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["status"], "active");
    assert_eq!(entry["review"]["outcome"], "approved");
    // The approval lists the entry and tells its provider, as a direct listing would.
    assert_eq!(entry["notices"][0]["provider_id"], provider["id"]);
    assert_eq!(entry["notices"][0]["action"], "stop_access");
    assert_eq!(entry["seq"], 1);
    assert_eq!(
        app.check(&first, "www.held.example.cn").await["listed"],
        true
    );
    assert_eq!(
        app.feed(&first, "after=0").await["events"][0]["type"],
        "listed"
    );
    assert_eq!(app.post(&second, approve, &json!({})).await.status(), 404);

    app.listed(&first, "refused.example.cn").await;
    let response = app
        .post(
            &second,
            "/v1/entries/refused.example.cn/reject",
            &json!({"reason": "wrong decision"}),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.json::<Value>().await.unwrap()["status"],
        "rejected"
    );
    assert_eq!(
        app.check(&first, "refused.example.cn").await["listed"],
        false
    );
    let history: Value = app
        .get(&first, "/v1/entries/refused.example.cn")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["history"][0]["status"], "rejected");
    assert_eq!(history["current"], Value::Null);
    // A rejected domain may be submitted again.
    app.listed(&first, "refused.example.cn").await;
}

/// Every state-changing request is on record, chained; reads and batch checks are not.
pub async fn state_changes_are_audited_in_a_chain(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", Some("11")).await;
    let auditor = app.create_key("auditor", None).await;
    app.listed(&agency, "audited.example.cn").await;
    assert_eq!(app.list(&agency, "com.cn").await.status(), 422);
    app.check(&agency, "audited.example.cn").await;
    app.post(&agency, "/v1/check", &json!({"domains": ["a.example.cn"]}))
        .await;
    assert_eq!(app.lift(&agency, "audited.example.cn").await.status(), 200);

    let response = app.get(&agency, "/v1/audit").await;
    assert_eq!(response.status(), 403);
    let page: Value = app
        .get(&auditor, "/v1/audit?after=0&limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let records: Vec<AuditRecord> = serde_json::from_value(page["records"].clone()).unwrap();
    let actions: Vec<(&str, u16, &str)> = records
        .iter()
        .map(|r| {
            (
                r.event.action.as_str(),
                r.event.status,
                r.event.outcome.as_str(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("key.create", 201, "ok"),
            ("key.create", 201, "ok"),
            ("entry.submit", 201, "ok"),
            ("entry.submit", 422, "public_suffix"),
            ("entry.lift", 200, "ok"),
        ]
    );
    let submit = &records[2].event;
    assert_eq!(submit.target, "audited.example.cn");
    assert_eq!(submit.actor.province.map(|p| p.code()), Some("11"));
    assert_eq!(submit.address, "127.0.0.1");
    assert!(!submit.request_id.is_empty());
    assert_eq!(page["next"], 5);
    let mut verifier = Verifier::new();
    for record in &records {
        verifier.check(record).unwrap();
    }
    let page: Value = app
        .get(&auditor, "/v1/audit?after=5")
        .await
        .json()
        .await
        .unwrap();
    // Reading the audit log is not itself a change.
    assert_eq!(page["records"], json!([]));
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let app = spawn_app_with(Store::Embedded, |s| {
        s.limits.rate.access_provider = 5;
        s.limits.rate.anonymous = 3;
    })
    .await;
    let provider = app.create_key("access_provider", None).await;
    let other = app.create_key("access_provider", None).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(app.get(&provider, "/v1/check?domain=a.example.cn").await);
    }
    let limited = statuses
        .into_iter()
        .find(|r| r.status() == 429)
        .expect("a 429 within 8 quick requests");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after));
    assert_eq!(
        limited.json::<Value>().await.unwrap()["error"]["code"],
        "rate_limited"
    );
    // Quotas are per token.
    assert_eq!(
        app.get(&other, "/v1/check?domain=a.example.cn")
            .await
            .status(),
        200
    );
    // A batch counts one per name: 10 names are more than a bucket of 5 can ever hold, and
    // the answer says so instead of sending the client back for ever.
    let response = app
        .post(
            &other,
            "/v1/check",
            &json!({"domains": (0..10).map(|i| format!("n{i}.example.cn")).collect::<Vec<_>>()}),
        )
        .await;
    assert_eq!(response.status(), 422);
    assert!(!response.headers().contains_key("retry-after"));
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "batch_over_quota"
    );
    // Requests without a valid token spend their address's quota.
    let mut anonymous = Vec::new();
    for _ in 0..6 {
        anonymous.push(
            app.get("not-a-token", "/v1/check?domain=a.example.cn")
                .await
                .status()
                .as_u16(),
        );
    }
    assert!(anonymous.contains(&429), "{anonymous:?}");
    let metrics = app.registry.metrics.render();
    assert!(
        metrics.contains("siteban_rate_limited_total{kind=\"token\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("siteban_rate_limited_total{kind=\"address\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn slow_and_oversized_clients_are_cut_off() {
    let app = spawn_app_with(Store::Embedded, |s| {
        s.limits.header_timeout_ms = 500;
        s.limits.body_timeout_ms = 500;
        s.limits.max_long_polls = 1;
    })
    .await;
    let agency = app.create_key("agency", None).await;
    let address = app.address.trim_start_matches("http://").to_string();

    // A client that sends its request head one byte at a time is cut off.
    let started = Instant::now();
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut cut_off = false;
    for byte in head.iter() {
        if stream.write_all(&[*byte]).is_err() {
            cut_off = true;
            break;
        }
        let mut buf = [0u8; 256];
        match stream.read(&mut buf) {
            Ok(0) => {
                cut_off = true;
                break;
            }
            Ok(n) => {
                let answer = String::from_utf8_lossy(&buf[..n]);
                assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
                cut_off = true;
                break;
            }
            Err(_) => {}
        }
        assert!(
            started.elapsed() < DEADLINE,
            "the slow client was never cut off"
        );
    }
    assert!(cut_off);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "cut off after {:?}",
        started.elapsed()
    );

    // A body that trickles in gets 408 request_timeout.
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "POST /v1/entries HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {agency}\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n{{\"domain\":"
    )
    .unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).unwrap();
    answer.extend_from_slice(&buf[..n]);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("request_timeout"), "{answer}");

    // An oversized write body is refused before it is read.
    let big = json!({"domain": "a.example.cn", "reason": "x".repeat(100_000)});
    let response = app.post(&agency, "/v1/entries", &big).await;
    assert_eq!(response.status(), 413);

    // Long-polls beyond the cap are refused while one waits.
    let waiting = {
        let client = app.client.clone();
        let url = app.url("/v1/feed?after=0&wait=2");
        let token = agency.clone();
        tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    eventually(DEADLINE, "the first long-poll to wait", || async {
        app.limits.long_polls_waiting() == 1
    })
    .await;
    let refused = app.get(&agency, "/v1/feed?after=0&wait=2").await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    assert_eq!(waiting.await.unwrap(), 200);
    assert_eq!(
        app.get(&agency, "/v1/feed?after=0&wait=1").await.status(),
        200,
        "the slot is free again"
    );
}

#[tokio::test]
async fn keys_can_expire() {
    let app = spawn_app(Store::Embedded).await;
    let expires_at =
        siteban::model::rfc3339::format(&(siteban::model::now() + time::Duration::seconds(2)));
    let key: Value = app
        .post(
            &app.admin_token,
            "/v1/keys",
            &json!({"name": "short", "role": "auditor", "expires_at": expires_at}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(key["expires_at"], json!(expires_at));
    let token = key["token"].as_str().unwrap().to_string();
    assert_eq!(
        app.get(&token, "/v1/check?domain=a.example.cn")
            .await
            .status(),
        200
    );
    eventually(DEADLINE, "the key to expire", || async {
        app.get(&token, "/v1/check?domain=a.example.cn")
            .await
            .status()
            == 401
    })
    .await;
    let past = app
        .post(
            &app.admin_token,
            "/v1/keys",
            &json!({"name": "old", "role": "auditor", "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(past.status(), 422);
    assert_eq!(
        past.json::<Value>().await.unwrap()["error"]["code"],
        "invalid_expiry"
    );
}

#[tokio::test]
async fn tls_listener_serves_https_with_the_configured_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, certified.cert.pem()).unwrap();
    std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
    let app = spawn_app_with(Store::Embedded, |s| {
        s.server.tls.cert_path = Some(cert.clone());
        s.server.tls.key_path = Some(key.clone());
    })
    .await;
    let port = app.address.rsplit(':').next().unwrap().to_string();
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(certified.cert.pem().as_bytes()).unwrap(),
        )
        .build()
        .unwrap();
    let response = client
        .get(format!(
            "https://localhost:{port}/v1/check?domain=a.example.cn"
        ))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        403,
        "HTTPS reaches the API (the admin may not check)"
    );
    let response = client
        .get(format!("https://localhost:{port}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // Plain HTTP on the TLS port gets no answer, and an unknown certificate is not trusted.
    assert!(
        crate::helpers::client()
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .map(|r| r.status() != 200)
            .unwrap_or(true)
    );
    assert!(
        crate::helpers::client()
            .get(format!("https://localhost:{port}/healthz"))
            .send()
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = spawn_app(Store::Embedded).await;
    let token = app.create_key("auditor", None).await;
    let cases = [
        (format!("Bearer {token}"), 200),
        (format!("bearer {token}"), 200),
        (format!("BEARER {token}"), 200),
        (format!("bEARER  {token}"), 200),
        (format!("Basic {token}"), 401),
        (format!("Token {token}"), 401),
        (format!("Bearer{token}"), 401),
        (token.clone(), 401),
    ];
    for (header, status) in cases {
        let response = app
            .client
            .get(app.url("/v1/check?domain=a.example.cn"))
            .header("authorization", &header)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "Authorization: {header}");
    }
}

/// Starts a long-poll of the feed with `token` for events after the newest, waiting up to 20
/// seconds; answers its status and how long it took.
async fn long_poll(app: &TestApp, token: &str) -> tokio::task::JoinHandle<(u16, Duration)> {
    let head = app.registry.index.seq();
    let client = app.client.clone();
    let url = app.url(&format!("/v1/feed?after={head}&wait=20"));
    let token = token.to_string();
    tokio::spawn(async move {
        let started = std::time::Instant::now();
        let response = client.get(url).bearer_auth(token).send().await.unwrap();
        (response.status().as_u16(), started.elapsed())
    })
}

#[tokio::test]
async fn a_waiting_long_poll_ends_when_its_key_is_revoked_or_expires() {
    let app = spawn_app(Store::Embedded).await;
    let agency = app.create_key("agency", None).await;
    let make_key = |expires_at: Option<String>| {
        let mut body = json!({"name": "feed reader", "role": "auditor"});
        if let Some(at) = expires_at {
            body["expires_at"] = json!(at);
        }
        body
    };

    // Revoked while waiting: the wait ends at once with 401, and the listing that follows the
    // revocation is not delivered on the revoked key's behalf.
    let key = expect(
        app.post(&app.admin_token, "/v1/keys", &make_key(None))
            .await,
        201,
        "creating the key",
    )
    .await;
    let token = key["token"].as_str().unwrap().to_string();
    let waiting = long_poll(&app, &token).await;
    eventually(DEADLINE, "the long-poll to wait", || async {
        app.limits.long_polls_waiting() == 1
    })
    .await;
    let revoked = app
        .client
        .delete(app.url(&format!("/v1/keys/{}", key["id"].as_str().unwrap())))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    expect(
        app.list(&agency, "after-revocation.example.cn").await,
        201,
        "listing",
    )
    .await;
    let (status, took) = waiting.await.unwrap();
    assert_eq!(
        status, 401,
        "a revoked key's long-poll answered {status} after {took:?}"
    );
    assert!(took < Duration::from_secs(10), "ended after {took:?}");

    // Expiring while waiting: the wait ends when the key does, not when the wait would.
    let expires_at =
        siteban::model::rfc3339::format(&(siteban::model::now() + time::Duration::seconds(2)));
    let key = expect(
        app.post(&app.admin_token, "/v1/keys", &make_key(Some(expires_at)))
            .await,
        201,
        "creating the expiring key",
    )
    .await;
    let token = key["token"].as_str().unwrap();
    let (status, took) = long_poll(&app, token).await.await.unwrap();
    assert_eq!(
        status, 401,
        "an expired key's long-poll answered {status} after {took:?}"
    );
    assert!(took < Duration::from_secs(10), "ended after {took:?}");

    // A key that stays keeps waiting until its event comes.
    let waiting = long_poll(&app, &agency).await;
    eventually(DEADLINE, "the agency's long-poll to wait", || async {
        app.limits.long_polls_waiting() == 1
    })
    .await;
    expect(app.list(&agency, "later.example.cn").await, 201, "listing").await;
    assert_eq!(waiting.await.unwrap().0, 200);
}

#[tokio::test]
async fn a_batch_that_fits_the_bucket_passes_for_a_client_that_obeys_retry_after() {
    // 5 names a second, a bucket of 5: a batch of 5 always passes in the end, one of 6 never
    // does and is told so at once.
    let app = spawn_app_with(Store::Embedded, |s| s.limits.rate.access_provider = 5).await;
    let provider = app.create_key("access_provider", None).await;
    let batch = |n: usize| json!({"domains": (0..n).map(|i| format!("n{i}.example.cn")).collect::<Vec<_>>()});
    let started = Instant::now();
    let mut passed = 0;
    while passed < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "batches of 5 starve"
        );
        let response = app.post(&provider, "/v1/check", &batch(5)).await;
        match response.status().as_u16() {
            200 => passed += 1,
            429 => {
                let wait: u64 = response.headers()["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse()
                    .unwrap();
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => panic!("a batch of 5 answered {other}"),
        }
    }
    // Once the bucket has refilled, the request itself passes and the batch is judged.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = app.post(&provider, "/v1/check", &batch(6)).await;
    assert_eq!(response.status(), 422);
    let error = response.json::<Value>().await.unwrap();
    assert_eq!(error["error"]["code"], "batch_over_quota");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 5"),
        "{error}"
    );
}

#[tokio::test]
async fn health_checks_have_their_own_allowance() {
    let app = spawn_app_with(Store::Embedded, |s| {
        s.limits.rate.anonymous = 2;
        s.limits.rate.operations = 50;
    })
    .await;
    // Bad requests from the load balancer's address use up the anonymous quota ...
    for _ in 0..10 {
        app.get("not-a-token", "/v1/check?domain=a.example.cn")
            .await;
    }
    assert_eq!(
        app.get("not-a-token", "/v1/check?domain=a.example.cn")
            .await
            .status(),
        429
    );
    // ... and its health checks still pass.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let status = app.client.get(app.url(path)).send().await.unwrap().status();
        assert_eq!(status, 200, "{path}");
    }
}

#[tokio::test]
async fn repeated_refusals_of_one_key_are_audited_as_one_record_with_their_count() {
    let app = spawn_app_with(Store::Embedded, |s| s.limits.refusal_audit_seconds = 1).await;
    let provider = app.create_key("access_provider", None).await;
    let refused = |records: &[AuditRecord]| {
        records
            .iter()
            .filter(|r| r.event.action == "entry.submit" && r.event.outcome == "forbidden")
            .map(|r| r.event.repeated)
            .collect::<Vec<u64>>()
    };
    for i in 0..500 {
        let response = app
            .post(
                &provider,
                "/v1/entries",
                &entry_body(&format!("n{i}.example.cn")),
            )
            .await;
        assert_eq!(response.status(), 403);
    }
    let records = app.registry.store.audit(0, 10_000).await.unwrap();
    let first = refused(&records);
    assert!(first.len() <= 2, "{} records for 500 refusals", first.len());
    eventually(
        DEADLINE,
        "the count of the refusals to be written",
        || async {
            let records = app.registry.store.audit(0, 10_000).await.unwrap();
            let counts = refused(&records);
            // A plain record is one refusal; a summary counts `repeated` of them.
            counts.iter().map(|&n| n.max(1)).sum::<u64>() == 500
        },
    )
    .await;
    // The chain still verifies.
    let records = app.registry.store.audit(0, 10_000).await.unwrap();
    let mut verifier = Verifier::new();
    for record in &records {
        verifier.check(record).unwrap();
    }
}

#[test]
fn rate_limits_are_on_by_default() {
    let shipped = siteban::settings::Settings::load(None).unwrap();
    let rate = &shipped.limits.rate;
    for (role, per_second) in [
        ("admin", rate.admin),
        ("agency", rate.agency),
        ("telecom", rate.telecom),
        ("access_provider", rate.access_provider),
        ("dns_provider", rate.dns_provider),
        ("auditor", rate.auditor),
        ("anonymous", rate.anonymous),
        ("operations", rate.operations),
    ] {
        assert!(
            per_second > 0,
            "limits.rate.{role} is off in config/default.toml"
        );
    }
    assert!(shipped.limits.refusal_audit_seconds > 0);
}

#[tokio::test]
async fn error_answers_of_checks_and_the_feed_carry_the_sequence() {
    let app = spawn_app(Store::Embedded).await;
    let provider = app.create_key("access_provider", None).await;
    for path in [
        "/v1/check",
        "/v1/check?domain=-bad-.cn",
        "/v1/feed?wait=31",
        "/v1/snapshot?format=xml",
    ] {
        let response = app.get(&provider, path).await;
        assert!(response.status().is_client_error(), "{path}");
        assert_eq!(response.headers()["x-blacklist-seq"], "0", "{path}");
    }
    let response = app
        .get("not-a-token", "/v1/check?domain=a.example.cn")
        .await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("x-blacklist-seq"));
}
