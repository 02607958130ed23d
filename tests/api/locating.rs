//! Locating in the background, run on each store against a real DNS server behind a relay that
//! drops, delays or black-holes queries: listings answer at once whatever the upstream does;
//! jobs are retried and complete once it recovers; nothing is located or notified twice; a site
//! that moves to another provider is followed; an IDN site is located. The process test at the
//! end kills a node in the middle of a lookup.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::fixtures::{CDN_NET_CN, DnsRelay, EXAMPLE_CN, IDN_ZONE, MOVED_EXAMPLE_CN, TestDns};
use crate::helpers::{
    DEADLINE, Node, RedisServer, Store, TestApp, entry_body, eventually, expect, spawn_app_with,
};
use crate::notices::{entry_when, once_located as located};

/// Every notice of the registry, as (provider id, entry id, action), read by an agency key.
async fn all_notices(app: &TestApp, token: &str) -> Vec<(String, String, String)> {
    let providers: Value = app.get(token, "/v1/providers").await.json().await.unwrap();
    let mut out = Vec::new();
    for provider in providers["providers"].as_array().unwrap() {
        let id = provider["id"].as_str().unwrap();
        let page: Value = app
            .get(token, &format!("/v1/notices?provider={id}&limit=1000"))
            .await
            .json()
            .await
            .unwrap();
        for n in page["notices"].as_array().unwrap() {
            out.push((
                n["provider_id"].as_str().unwrap().to_string(),
                n["entry_id"].as_str().unwrap().to_string(),
                n["action"].as_str().unwrap().to_string(),
            ));
        }
    }
    out.sort();
    out
}

async fn example_upstream() -> TestDns {
    TestDns::start(&[
        ("example.cn.", EXAMPLE_CN),
        ("cdn-net.cn.", CDN_NET_CN),
        ("xn--fsqu00a.xn--fiqs8s.", IDN_ZONE),
    ])
    .await
}

async fn locating_app(store: Store, relay: &DnsRelay) -> TestApp {
    let address = relay.address.to_string();
    spawn_app_with(store, move |s| {
        s.locate.on_listing = true;
        s.locate.nameservers = vec![address];
        s.locate.timeout_ms = 200;
        s.locate.attempts = 1;
        s.locate.listing_budget_ms = 500;
        s.locate.max_queries_per_second = 500;
    })
    .await
}

/// The providers of the example zones: the CDN's range, another range, the DNS host.
async fn providers(app: &TestApp) -> (Value, Value, Value) {
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
    (hosting, other, dnsco)
}

pub async fn listings_never_wait_for_a_failing_upstream(store: Store) {
    let dns = example_upstream().await;
    let relay = DnsRelay::start(dns.address).await;
    let app = locating_app(store, &relay).await;
    let agency = app.create_key("agency", None).await;
    providers(&app).await;

    // Black-holed: every listing still answers 201, its location pending.
    relay.black_hole(true);
    let names = [
        "shop.example.cn",
        "direct.example.cn",
        "xn--fsqu00a.xn--fiqs8s",
    ];
    for name in names {
        let entry = expect(app.list(&agency, name).await, 201, name).await;
        assert_eq!(entry["location"]["status"], "pending", "{entry}");
        assert_eq!(entry["notices"], json!([]));
        assert_eq!(app.check(&agency, name).await["listed"], true);
    }
    // Attempts fail and are counted, and nobody is told anything meanwhile.
    let entry = located(&app, &agency, "shop.example.cn").await;
    assert_eq!(entry["location"]["status"], "failed", "{entry}");
    assert!(entry["location"]["error"].is_string());
    entry_when(&app, &agency, "shop.example.cn", "a retry", |c| {
        c["location"]["attempts"].as_u64() >= Some(2)
    })
    .await;
    assert!(all_notices(&app, &agency).await.is_empty());
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("siteban_locate_attempts_total{result=\"failed\"}"));
    assert!(metrics.contains("siteban_locate_queue"));

    // The upstream recovers, dropping a few queries first and answering late: every job
    // completes, and each provider is told once per entry.
    relay.drop_first(3);
    relay.delay(20);
    relay.black_hole(false);
    for name in names {
        entry_when(&app, &agency, name, "located", |c| {
            c["location"]["status"] == "located"
        })
        .await;
    }
    let entry = located(&app, &agency, "shop.example.cn").await;
    assert_eq!(entry["location"]["attempts"], 0, "{entry}");
    assert!(entry["location"]["error"].is_null());
    // Each entry's providers found, told once each: 2 per entry.
    let expected = |entries: &[Value]| {
        let mut out = Vec::new();
        for e in entries {
            for p in e["location"]["providers"].as_array().unwrap() {
                let action = if p["kind"] == "dns" {
                    "stop_resolution"
                } else {
                    "stop_access"
                };
                out.push((
                    p["id"].as_str().unwrap().to_string(),
                    e["id"].as_str().unwrap().to_string(),
                    action.to_string(),
                ));
            }
        }
        out.sort();
        out
    };
    let mut entries = Vec::new();
    for name in names {
        entries.push(located(&app, &agency, name).await);
    }
    let want = expected(&entries);
    assert_eq!(want.len(), 6, "{entries:?}");
    eventually(DEADLINE, "every provider told", || {
        let app = &app;
        let agency = &agency;
        async move { all_notices(app, agency).await.len() >= 6 }
    })
    .await;
    assert_eq!(all_notices(&app, &agency).await, want);

    // Locating again on demand finds nothing new: nobody is told twice.
    let response = app
        .post(&agency, "/v1/entries/shop.example.cn/locate", &json!({}))
        .await;
    let asked = expect(response, 202, "locating again").await;
    assert_eq!(asked["domain"], "shop.example.cn");
    let before = relay.seen();
    let first_at = entries[0]["location"]["located_at"].clone();
    entry_when(
        &app,
        &agency,
        "shop.example.cn",
        "the second attempt",
        |c| {
            relay.seen() > before
                && c["location"]["status"] == "located"
                && c["location"]["located_at"] != first_at
        },
    )
    .await;
    assert_eq!(all_notices(&app, &agency).await, want);
    let entry = located(&app, &agency, "shop.example.cn").await;
    assert!(entry["location"]["history"].is_null(), "it did not move");

    // A lifted entry's job ends: locating it again is refused.
    expect(app.lift(&agency, "direct.example.cn").await, 200, "lift").await;
    let response = app
        .post(&agency, "/v1/entries/direct.example.cn/locate", &json!({}))
        .await;
    expect(response, 404, "locating a lifted entry").await;
}

pub async fn a_site_that_moves_is_followed(store: Store) {
    let before = example_upstream().await;
    let after = TestDns::start(&[("example.cn.", MOVED_EXAMPLE_CN)]).await;
    let relay = DnsRelay::start(before.address).await;
    let app = locating_app(store, &relay).await;
    let agency = app.create_key("agency", None).await;
    let telecom = app.create_key("telecom", None).await;
    let (hosting, other, dnsco) = providers(&app).await;

    let entry = expect(app.list(&agency, "shop.example.cn").await, 201, "listing").await;
    let id = entry["id"].as_str().unwrap().to_string();
    let first = located(&app, &agency, "shop.example.cn").await;
    assert_eq!(
        first["location"]["addresses"],
        json!(["203.0.113.7", "2001:db8::7"])
    );
    eventually(DEADLINE, "the first providers told", || {
        let (app, agency) = (&app, &agency);
        async move { all_notices(app, agency).await.len() == 2 }
    })
    .await;

    // The site moves to another provider's range; a telecom key asks for it to be located
    // again. The new provider is told; the first ones are not told again.
    relay.switch_to(after.address);
    let response = app
        .post(&telecom, "/v1/entries/shop.example.cn/locate", &json!({}))
        .await;
    expect(response, 202, "locating again").await;
    let moved = entry_when(&app, &agency, "shop.example.cn", "the move", |c| {
        c["location"]["addresses"] == json!(["198.51.100.20"])
    })
    .await;
    let change = &moved["location"]["history"][0];
    assert_eq!(
        change["from_addresses"],
        json!(["203.0.113.7", "2001:db8::7"])
    );
    assert_eq!(change["to_addresses"], json!(["198.51.100.20"]));
    assert_eq!(
        change["from_nameservers"],
        json!(["ns1.dnsco.cn", "ns2.dnsco.cn"])
    );
    assert!(change["at"].is_string());
    let told: Vec<&str> = moved["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(told.len(), 3, "{moved}");
    let mut expected = vec![
        (
            hosting["id"].as_str().unwrap().to_string(),
            id.clone(),
            "stop_access".to_string(),
        ),
        (
            other["id"].as_str().unwrap().to_string(),
            id.clone(),
            "stop_access".to_string(),
        ),
        (
            dnsco["id"].as_str().unwrap().to_string(),
            id.clone(),
            "stop_resolution".to_string(),
        ),
    ];
    expected.sort();
    assert_eq!(all_notices(&app, &agency).await, expected);

    // Providers and auditors may not ask for locating.
    let auditor = app.create_key("auditor", None).await;
    let response = app
        .post(&auditor, "/v1/entries/shop.example.cn/locate", &json!({}))
        .await;
    assert_eq!(response.status(), 403);
}

pub async fn idn_sites_are_located(store: Store) {
    let dns = example_upstream().await;
    let relay = DnsRelay::start(dns.address).await;
    let app = locating_app(store, &relay).await;
    let agency = app.create_key("agency", None).await;
    let (hosting, _, dnsco) = providers(&app).await;
    expect(
        app.list(&agency, "例子.中国").await,
        201,
        "listing an IDN site",
    )
    .await;
    let entry = located(&app, &agency, "xn--fsqu00a.xn--fiqs8s").await;
    assert_eq!(entry["location"]["status"], "located", "{entry}");
    assert_eq!(entry["location"]["zone"], "xn--fsqu00a.xn--fiqs8s");
    assert_eq!(entry["location"]["nameservers"], json!(["ns1.dnsco.cn"]));
    assert_eq!(entry["location"]["addresses"], json!(["203.0.113.9"]));
    let mut told: Vec<&str> = entry["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    told.sort();
    let mut expected = vec![
        hosting["id"].as_str().unwrap(),
        dnsco["id"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(told, expected);
    eventually(DEADLINE, "the DNS provider told to stop resolution", || {
        let (app, agency) = (&app, &agency);
        let dnsco = dnsco["id"].as_str().unwrap().to_string();
        async move {
            all_notices(app, agency)
                .await
                .iter()
                .any(|(p, _, action)| *p == dnsco && action == "stop_resolution")
        }
    })
    .await;
}

pub async fn imports_are_located_unless_told_not_to(store: Store) {
    let dns = example_upstream().await;
    let relay = DnsRelay::start(dns.address).await;
    let app = locating_app(store, &relay).await;
    let agency = app.create_key("agency", None).await;
    let (hosting, _, dnsco) = providers(&app).await;
    let dates = siteban::domain::DateWindow::until_today(
        siteban::settings::DocumentSettings::default().earliest_date,
    );
    let file = |domain: &str| {
        let mut body = entry_body(domain);
        body["decision"]["date"] = "2024-05-01".into();
        siteban::import::read(format!("{body}\n").as_bytes(), dates).unwrap()
    };
    let located = file("shop.example.cn");
    let report = app
        .registry
        .import(located.listings, located.lines, located.sha256, true)
        .await
        .unwrap();
    assert_eq!(report.imported, 1);
    let entry = entry_when(&app, &agency, "shop.example.cn", "located", |c| {
        c["location"]["status"] == "located"
    })
    .await;
    let mut told: Vec<&str> = entry["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    told.sort();
    let mut expected = vec![
        hosting["id"].as_str().unwrap(),
        dnsco["id"].as_str().unwrap(),
    ];
    expected.sort();
    assert_eq!(told, expected);

    // `--no-locate`: no location, no job, nobody told.
    let quiet = file("direct.example.cn");
    app.registry
        .import(quiet.listings, quiet.lines, quiet.sha256, false)
        .await
        .unwrap();
    let history: Value = app
        .get(&agency, "/v1/entries/direct.example.cn")
        .await
        .json()
        .await
        .unwrap();
    assert!(history["current"]["location"].is_null(), "{history}");
    let due = || async {
        app.registry
            .store
            .locate_due(siteban::model::now(), 100)
            .await
            .unwrap()
    };
    let id: uuid::Uuid = history["current"]["id"].as_str().unwrap().parse().unwrap();
    assert!(!due().await.contains(&id));

    // `--no-locate --url`: each line sent to the running node says `"locate": false`; a line
    // saying so in a direct import is not located either; a listing saying so tells only the
    // providers it names.
    let text = |domain: &str| {
        let mut body = entry_body(domain);
        body["decision"]["date"] = "2024-05-01".into();
        format!("{body}\n")
    };
    let token_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(token_file.path(), &agency).unwrap();
    let node = siteban::remote::Node::new(
        &app.address,
        siteban::remote::Token::read(Some(token_file.path())).unwrap(),
    )
    .unwrap();
    let bodies =
        siteban::import::read_bodies(text("remote.example.cn").as_bytes(), dates, false).unwrap();
    let sent = siteban::commands::import_through(&node, bodies, 2)
        .await
        .unwrap();
    assert_eq!(sent.listed, 1, "{:?}", sent.refused);
    let mut line: Value = serde_json::from_str(&text("line.example.cn")).unwrap();
    line["locate"] = false.into();
    let read = siteban::import::read(format!("{line}\n").as_bytes(), dates).unwrap();
    app.registry
        .import(read.listings, read.lines, read.sha256, true)
        .await
        .unwrap();
    let mut named = entry_body("named.example.cn");
    named["locate"] = false.into();
    named["providers"] = json!([hosting["id"]]);
    let listed = expect(
        app.post(&agency, "/v1/entries", &named).await,
        201,
        "a listing not located",
    )
    .await;
    assert_eq!(listed["notices"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        listed["notices"][0]["provider_id"], hosting["id"],
        "{listed}"
    );
    let due = due().await;
    for domain in ["remote.example.cn", "line.example.cn", "named.example.cn"] {
        let history: Value = app
            .get(&agency, &format!("/v1/entries/{domain}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(history["current"]["status"], "active", "{history}");
        assert!(history["current"]["location"].is_null(), "{history}");
        let id: uuid::Uuid = history["current"]["id"].as_str().unwrap().parse().unwrap();
        assert!(!due.contains(&id), "{domain} has a locate job");
    }
}

/// A store written before locating ran in the background holds entries that were located
/// when listed and have no locate job: at start each gets one, due within
/// `locate.refresh_hours`, once per store; an entry listed without locating gets none.
pub async fn older_located_entries_get_locate_jobs_once(store: Store) {
    // A node with locating off leaves the store as an older version would have.
    let app = spawn_app_with(store, |s| s.locate.on_listing = false).await;
    assert!(!app.registry.store.locate_jobs_complete().await.unwrap());
    let dates = siteban::domain::DateWindow::until_today(
        siteban::settings::DocumentSettings::default().earliest_date,
    );
    let old_entry = |domain: &str, located: bool| {
        let mut body = entry_body(domain);
        body["decision"]["date"] = "2024-05-01".into();
        let (_, listing) = siteban::import::read(format!("{body}\n").as_bytes(), dates)
            .unwrap()
            .listings
            .remove(0);
        let now = siteban::model::now();
        siteban::model::NewEntry {
            id: uuid::Uuid::now_v7(),
            domain: listing.domain,
            scope: listing.scope,
            category: listing.category,
            reason: listing.reason,
            decision: listing.decision,
            listed_at: now,
            listed_by: siteban::model::Actor {
                key_id: "k_old".into(),
                name: "an older version".into(),
                role: siteban::domain::Role::Agency,
                province: None,
            },
            protection_override: None,
            location: located.then(|| siteban::model::Location::pending(now)),
            providers: Vec::new(),
            suspended_until: None,
            replaces: None,
            case: None,
            locate: None,
        }
    };
    let located = old_entry("old.example.cn", true);
    let unlocated = old_entry("quiet.example.cn", false);
    let (located_id, unlocated_id) = (located.id, unlocated.id);
    app.registry
        .store
        .import(vec![located, unlocated])
        .await
        .unwrap();

    // A node of this version with locating on, started on such a store, gives the located
    // entry its job, and only it.
    assert_eq!(
        app.registry.give_older_entries_locate_jobs().await.unwrap(),
        0,
        "not with locating off"
    );
    let mut settings = app.registry.settings.clone();
    settings.locate.on_listing = true;
    let node = siteban::startup::build_registry(
        &settings,
        std::sync::Arc::clone(&app.registry.store),
        None,
    )
    .unwrap();
    let written = node.give_older_entries_locate_jobs().await.unwrap();
    assert_eq!(written, 1);
    let within_the_period = siteban::model::now() + std::time::Duration::from_secs(25 * 3600);
    let due = app
        .registry
        .store
        .locate_due(within_the_period, 100)
        .await
        .unwrap();
    assert!(due.contains(&located_id), "{due:?}");
    assert!(!due.contains(&unlocated_id), "{due:?}");
    // Once per store: a second start gives nothing more.
    assert_eq!(node.give_older_entries_locate_jobs().await.unwrap(), 0);
    assert!(app.registry.store.locate_jobs_complete().await.unwrap());
}

const ADMIN: &str = "locate-process-admin-token-0123456789";

fn node_env(redis: &RedisServer, dir: &std::path::Path, dns: &str) -> Vec<(&'static str, String)> {
    vec![
        ("SITEBAN__STORE__PATH", dir.display().to_string()),
        ("SITEBAN__AUTH__ADMIN_TOKEN", ADMIN.into()),
        ("SITEBAN__STORE__BACKEND", "redis".into()),
        ("SITEBAN__STORE__REDIS_URL", redis.url()),
        ("SITEBAN__LOCATE__ON_LISTING", "true".into()),
        ("SITEBAN__LOCATE__NAMESERVERS", dns.into()),
        ("SITEBAN__LOCATE__TIMEOUT_MS", "1500".into()),
        ("SITEBAN__LOCATE__ATTEMPTS", "1".into()),
        ("SITEBAN__LOCATE__LISTING_BUDGET_MS", "1500".into()),
        ("SITEBAN__LOCATE__LEASE_MS", "2000".into()),
        ("SITEBAN__LOCATE__BACKOFF_BASE_MS", "100".into()),
        ("SITEBAN__LOCATE__BACKOFF_MAX_MS", "200".into()),
        ("SITEBAN__LOCATE__POLL_INTERVAL_MS", "20".into()),
    ]
}

async fn call(
    client: &reqwest::Client,
    node: &Node,
    token: &str,
    path: &str,
    body: Option<&Value>,
) -> Value {
    let request = match body {
        Some(body) => client.post(node.url(path)).json(body),
        None => client.get(node.url(path)),
    };
    let response = request.bearer_auth(token).send().await.unwrap();
    assert!(
        response.status().is_success(),
        "{path}: {}",
        response.status()
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_node_killed_mid_lookup_leaves_the_job_to_another() {
    let redis = RedisServer::start();
    let dns = example_upstream().await;
    let relay = DnsRelay::start(dns.address).await;
    relay.black_hole(true);
    let client = crate::helpers::client();
    let (dir1, dir2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let address = relay.address.to_string();
    let mut first = Node::start(
        &node_env(&redis, dir1.path(), &address),
        dir1.path().join("node.log"),
    );
    first.wait_ready(&client).await;
    let agency = call(
        &client,
        &first,
        ADMIN,
        "/v1/keys",
        Some(&json!({"name": "agency", "role": "agency"})),
    )
    .await["token"]
        .as_str()
        .unwrap()
        .to_string();
    let hosting = call(
        &client,
        &first,
        ADMIN,
        "/v1/providers",
        Some(&json!({"name": "CDN Hosting", "kind": "access", "ranges": ["203.0.113.0/24"]})),
    )
    .await;
    let entry = call(
        &client,
        &first,
        &agency,
        "/v1/entries",
        Some(&entry_body("shop.example.cn")),
    )
    .await;
    assert_eq!(entry["location"]["status"], "pending");

    // The first node is in the middle of its lookup (the upstream got its query and never
    // answers) when it is killed.
    eventually(DEADLINE, "the first node's lookup", || {
        let seen = relay.seen();
        async move { seen > 0 }
    })
    .await;
    first.kill();
    relay.black_hole(false);

    // The second node takes the job over once the lease has run out, and locates the site
    // once: one notice, one success.
    let second = Node::start(
        &node_env(&redis, dir2.path(), &address),
        dir2.path().join("node.log"),
    );
    second.wait_ready(&client).await;
    let start = std::time::Instant::now();
    let current = loop {
        let history = call(
            &client,
            &second,
            &agency,
            "/v1/entries/shop.example.cn",
            None,
        )
        .await;
        if history["current"]["location"]["status"] == "located" {
            break history["current"].clone();
        }
        assert!(
            start.elapsed() < DEADLINE,
            "not located by the second node: {history}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(current["providers"], json!([hosting["id"]]));
    let notices = call(
        &client,
        &second,
        &agency,
        &format!("/v1/notices?provider={}", hosting["id"].as_str().unwrap()),
        None,
    )
    .await;
    let per_entry: BTreeMap<String, usize> =
        notices["notices"]
            .as_array()
            .unwrap()
            .iter()
            .fold(BTreeMap::new(), |mut counts, n| {
                *counts
                    .entry(n["entry_id"].as_str().unwrap().to_string())
                    .or_default() += 1;
                counts
            });
    assert_eq!(per_entry.len(), 1, "{notices}");
    assert!(per_entry.values().all(|n| *n == 1), "{notices}");
    let metrics = client
        .get(second.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("siteban_locate_attempts_total{result=\"located\"} 1"),
        "{metrics}"
    );
}
