//! The behaviour suite: what the API contract promises, run on each store.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::helpers::{Store, decision, entry_body, expect, spawn_app, spawn_app_with};

pub use crate::bad_input::bad_input_is_refused_and_changes_nothing;
pub use crate::cases::{
    a_returned_case_is_sent_again, an_emergency_suspension_expires, case_endpoints_check_roles,
    closure_turns_a_suspension_into_a_listing, invalid_cases_and_steps_are_refused,
    measures_decide_which_providers_are_told, operators_of_closed_cases_are_blacklisted,
    organisations_are_told_of_new_inbox_items, referrals_cross_between_the_sides,
    the_four_routes_end_to_end,
};
pub use crate::locating::{
    a_site_that_moves_is_followed, idn_sites_are_located, imports_are_located_unless_told_not_to,
    listings_never_wait_for_a_failing_upstream, older_located_entries_get_locate_jobs_once,
};
pub use crate::log::{
    audit_tampering_is_caught_against_the_signed_checkpoint, the_log_outlives_the_feeds_retention,
    the_log_proves_the_feed_with_tiles_and_proofs,
};
pub use crate::notices::{
    listing_locates_the_site_and_notifies_its_providers, overdue_notices_change_status_on_time,
    providers_are_managed_and_keys_bound_to_them, webhooks_are_signed_retried_and_delivered,
};
pub use crate::roles::every_role_gets_what_the_matrix_says;
pub use crate::safety::{
    four_eyes_entries_wait_for_a_second_key, four_eyes_lifts_wait_for_a_second_key,
    lift_requests_and_approvals_are_atomic, lifts_are_immediate_without_lift_approval,
    protected_names_are_never_listed_without_an_override,
    provincial_keys_act_within_their_province, state_changes_are_audited_in_a_chain,
};

pub async fn list_check_lift_and_relist(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", Some("11")).await;
    let provider = app.create_key("access_provider", None).await;

    let response = app.list(&agency, "Shop.Example.CN.").await;
    assert_eq!(response.status(), 201);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["domain"], "shop.example.cn");
    assert_eq!(entry["status"], "active");
    assert_eq!(entry["seq"], 1);
    assert_eq!(entry["listed_by"]["province"], "11");
    assert_eq!(entry["decision"]["number"], "京市监处罚〔2024〕123号");

    // Read-your-writes: the check right after the 201 sees the entry.
    let check = app.check(&provider, "www.shop.example.cn").await;
    assert_eq!(check["listed"], true);
    assert_eq!(check["match"]["domain"], "shop.example.cn");
    assert_eq!(check["match"]["entry_id"], entry["id"]);
    assert_eq!(check["match"]["status"], "active");
    assert_eq!(check["seq"], 1);
    let check = app.check(&provider, "notshop.example.cn").await;
    assert_eq!(check["listed"], false);
    assert_eq!(check["match"], Value::Null);

    let response = app.lift(&agency, "shop.example.cn").await;
    assert_eq!(response.status(), 200);
    let lifted: Value = response.json().await.unwrap();
    assert_eq!(lifted["status"], "lifted");
    assert_eq!(lifted["lift"]["seq"], 2);
    assert!(lifted["lifted_at"].is_string());
    assert_eq!(
        app.check(&provider, "www.shop.example.cn").await["listed"],
        false
    );

    let mut relist = entry_body("shop.example.cn");
    relist["decision"] = decision(456);
    assert_eq!(
        app.post(&agency, "/v1/entries", &relist).await.status(),
        201
    );
    let history: Value = app
        .get(&agency, "/v1/entries/shop.example.cn")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(history["history"].as_array().unwrap().len(), 2);
    assert_eq!(history["history"][0]["status"], "lifted");
    assert_eq!(
        history["current"]["decision"]["number"],
        "京市监处罚〔2024〕456号"
    );
    assert_eq!(history["current"]["seq"], 3);
}

pub async fn exact_scope_matches_the_name_alone(store: Store) {
    let app = spawn_app(store).await;
    let telecom = app.create_key("telecom", None).await;
    let mut body = entry_body("only.example.com");
    body["scope"] = json!("exact");
    assert_eq!(app.post(&telecom, "/v1/entries", &body).await.status(), 201);
    assert_eq!(
        app.check(&telecom, "only.example.com").await["listed"],
        true
    );
    assert_eq!(
        app.check(&telecom, "www.only.example.com").await["listed"],
        false
    );
    // The most specific entry wins when several match.
    app.listed(&telecom, "example.com").await;
    let check = app.check(&telecom, "only.example.com").await;
    assert_eq!(check["match"]["domain"], "only.example.com");
    assert_eq!(check["match"]["scope"], "exact");
    let check = app.check(&telecom, "www.only.example.com").await;
    assert_eq!(check["match"]["domain"], "example.com");
}

pub async fn idn_names_are_listed_and_checked_in_either_form(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let response = app.list(&agency, "例子.中国").await;
    assert_eq!(response.status(), 201);
    let entry: Value = response.json().await.unwrap();
    assert_eq!(entry["domain"], "xn--fsqu00a.xn--fiqs8s");
    assert_eq!(entry["domain_unicode"], "例子.中国");
    let check = app.check(&agency, "WWW.例子.中国.").await;
    assert_eq!(check["listed"], true);
    assert_eq!(check["domain"], "www.xn--fsqu00a.xn--fiqs8s");
    assert_eq!(
        app.check(&agency, "www.xn--fsqu00a.xn--fiqs8s").await["listed"],
        true
    );
}

pub async fn conflicts_and_missing_entries(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    app.listed(&agency, "dup.example.cn").await;
    let response = app.list(&agency, "DUP.example.cn").await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "already_listed");

    let response = app.lift(&agency, "never.example.cn").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "not_listed"
    );
    let response = app.get(&agency, "/v1/entries/never.example.cn").await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "not_found"
    );
    // Lifting twice: the second finds nothing active.
    assert_eq!(app.lift(&agency, "dup.example.cn").await.status(), 200);
    assert_eq!(app.lift(&agency, "dup.example.cn").await.status(), 404);
}

pub async fn entries_page_by_status(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    for i in 0..7 {
        app.listed(&agency, &format!("p{i}.example.cn")).await;
    }
    for i in [1, 4] {
        assert_eq!(
            app.lift(&agency, &format!("p{i}.example.cn"))
                .await
                .status(),
            200
        );
    }
    async fn all_pages(app: &crate::helpers::TestApp, token: &str, query: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut cursor = String::new();
        loop {
            let page: Value = app
                .get(
                    token,
                    &format!("/v1/entries?{query}&limit=2&cursor={cursor}"),
                )
                .await
                .json()
                .await
                .unwrap();
            for entry in page["entries"].as_array().unwrap() {
                names.push(entry["domain"].as_str().unwrap().to_string());
            }
            match page["next_cursor"].as_str() {
                Some(next) => cursor = next.to_string(),
                None => return names,
            }
        }
    }
    let active = all_pages(&app, &agency, "status=active").await;
    assert_eq!(
        active,
        ["p0", "p2", "p3", "p5", "p6"].map(|p| format!("{p}.example.cn"))
    );
    let lifted = all_pages(&app, &agency, "status=lifted").await;
    assert_eq!(lifted, ["p1", "p4"].map(|p| format!("{p}.example.cn")));
    assert_eq!(all_pages(&app, &agency, "").await.len(), 7);
}

pub async fn batch_checks_answer_in_order(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    app.listed(&agency, "bad.example.cn").await;
    let response = app
        .post(
            &agency,
            "/v1/check",
            &json!({"domains": ["x.bad.example.cn", "good.example.cn", "http://bad.example.cn/", "BAD.example.cn"]}),
        )
        .await;
    let seq_header = response.headers().get("x-blacklist-seq").cloned();
    let body = expect(response, 200, "a batch of four").await;
    assert_eq!(seq_header.unwrap(), "1");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(results[0]["listed"], true);
    assert_eq!(results[1]["listed"], false);
    assert_eq!(results[2]["domain"], "http://bad.example.cn/");
    assert_eq!(results[2]["error"]["code"], "invalid_domain");
    assert_eq!(results[3]["domain"], "bad.example.cn");
    assert_eq!(results[3]["listed"], true);
    assert!(results[0].get("seq").is_none());
    assert_eq!(body["seq"], 1);

    let full: Vec<String> = (0..10_000).map(|i| format!("n{i}.example.org")).collect();
    let response = app
        .post(&agency, "/v1/check", &json!({"domains": full}))
        .await;
    let body = expect(response, 200, "a full batch").await;
    assert_eq!(body["results"].as_array().unwrap().len(), 10_000);
    let too_many: Vec<String> = (0..10_001).map(|i| format!("n{i}.example.org")).collect();
    let response = app
        .post(&agency, "/v1/check", &json!({"domains": too_many}))
        .await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "too_many_domains"
    );
}

pub async fn feed_pages_and_long_polls(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let provider = app.create_key("dns_provider", None).await;
    for i in 0..3 {
        app.listed(&agency, &format!("f{i}.example.cn")).await;
    }
    assert_eq!(app.lift(&agency, "f1.example.cn").await.status(), 200);

    let page = app.feed(&provider, "after=0&limit=2").await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0]["seq"], 1);
    assert_eq!(events[0]["type"], "listed");
    assert_eq!(events[0]["category"], "counterfeit_goods");
    assert_eq!(page["next"], 2);
    let page = app.feed(&provider, "after=2").await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["type"], "lifted");
    assert_eq!(events[1]["domain"], "f1.example.cn");
    assert_eq!(page["next"], 4);

    // Nothing new: without wait the answer is immediate and empty.
    let page = app.feed(&provider, "after=4").await;
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["next"], 4);
    // An `after` beyond the newest seq is not an error; it waits and answers empty.
    let start = Instant::now();
    let page = app.feed(&provider, "after=99&wait=1").await;
    assert_eq!(page["events"], json!([]));
    assert_eq!(page["next"], 99);
    assert!(start.elapsed() >= Duration::from_millis(900));

    // A long poll is answered as soon as an event arrives.
    let poll = {
        let client = app.client.clone();
        let url = app.url("/v1/feed?after=4&wait=20");
        let token = provider.clone();
        tokio::spawn(async move {
            let started = Instant::now();
            let body: Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (body, started.elapsed())
        })
    };
    crate::helpers::eventually(
        crate::helpers::DEADLINE,
        "the long poll to wait",
        || async { app.limits.long_polls_waiting() == 1 },
    )
    .await;
    app.listed(&agency, "late.example.cn").await;
    let (body, elapsed) = poll.await.unwrap();
    assert_eq!(body["events"][0]["domain"], "late.example.cn");
    assert_eq!(body["events"][0]["seq"], 5);
    assert!(
        elapsed < Duration::from_secs(10),
        "long poll took {elapsed:?}"
    );

    let response = app.get(&provider, "/v1/feed?after=0").await;
    assert_eq!(response.headers()["x-blacklist-seq"], "5");
}

pub async fn feed_history_beyond_retention_needs_a_snapshot(store: Store) {
    let app = spawn_app_with(store, |s| s.feed.retention = 3).await;
    let agency = app.create_key("agency", None).await;
    for i in 0..300 {
        app.listed(&agency, &format!("r{i}.example.cn")).await;
    }
    // The feed keeps what the transparency log does not cover yet; a moment later it does.
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.get(&agency, "/v1/log/checkpoint").await.headers()["x-log-size"] != "300" {
        assert!(
            Instant::now() < deadline,
            "the log did not cover the listings"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = app.get(&agency, "/v1/feed?after=0").await;
    assert_eq!(response.status(), 410);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "snapshot_required"
    );
    // The snapshot's seq is a valid place to follow from.
    let snapshot: Value = app.get(&agency, "/v1/snapshot").await.json().await.unwrap();
    assert_eq!(snapshot["seq"], 300);
    assert_eq!(snapshot["entries"].as_array().unwrap().len(), 300);
    let page = app.feed(&agency, "after=300").await;
    assert_eq!(page["events"], json!([]));
    let page = app.feed(&agency, "after=299").await;
    assert_eq!(page["events"][0]["seq"], 300);
    // Exactly the retained events: the last 3 (298 to 300), and nothing older, however the
    // store trims (a Redis stream trims by whole nodes and keeps more than it must).
    assert_eq!(
        app.feed(&agency, "after=297").await["events"][0]["seq"],
        298
    );
    let response = app.get(&agency, "/v1/feed?after=296").await;
    assert_eq!(response.status(), 410);
    assert!(
        response.headers().contains_key("x-blacklist-seq"),
        "errors carry the seq too"
    );
}

/// The active set as a consumer keeps it: domain -> (scope, status).
type ActiveSet = BTreeMap<String, (String, String)>;

/// A consumer that loads the snapshot at some point and applies every later event ends with
/// exactly the active set, whatever sequence of listings, lifts, case suspensions, their
/// withdrawal and their replacement by a case's listing happened.
pub async fn snapshot_plus_feed_reconstructs_the_active_set(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let amr = app.create_key("agency", Some("11")).await;
    let ca = app.create_key("telecom", Some("11")).await;
    let seed: u64 = rand::rng().random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // domain -> (scope, status, the case of a suspension)
    let mut model: BTreeMap<String, (String, String, Option<String>)> = BTreeMap::new();
    let mut consumer: Option<(u64, ActiveSet)> = None;
    let case_step = |id: &str, step: &str| format!("/v1/cases/{id}/{step}");
    for step in 0..150 {
        let domain = format!("d{}.example.cn", rng.random_range(0..25));
        match model.get(&domain).cloned() {
            Some((_, status, None)) if status == "active" => {
                if rng.random_bool(0.6) {
                    let response = app.lift(&agency, &domain).await;
                    assert_eq!(response.status(), 200, "seed {seed}");
                    model.remove(&domain);
                }
            }
            Some((_, _, Some(case))) => {
                if rng.random_bool(0.5) {
                    let body = json!({"reason": "the site is gone"});
                    let response = app.post(&amr, &case_step(&case, "withdraw"), &body).await;
                    assert_eq!(response.status(), 200, "seed {seed}");
                    model.remove(&domain);
                } else {
                    let body = json!({"decision": decision(5), "recommendation": decision(6)});
                    let response = app.post(&amr, &case_step(&case, "decision"), &body).await;
                    assert_eq!(response.status(), 200, "seed {seed}");
                    let body = json!({"measures": ["blacklist"]});
                    let response = app.post(&ca, &case_step(&case, "close"), &body).await;
                    assert_eq!(response.status(), 200, "seed {seed}");
                    model.insert(domain, ("subtree".into(), "active".into(), None));
                }
            }
            Some(_) => unreachable!("an active entry has no case here"),
            None if rng.random_bool(0.3) => {
                let body = json!({
                    "domain": domain, "recorded": false, "access_province": "11",
                    "category": "fraud", "summary": "defrauds buyers",
                });
                let case: Value = app
                    .post(&amr, "/v1/cases", &body)
                    .await
                    .json()
                    .await
                    .unwrap();
                let id = case["id"].as_str().unwrap().to_string();
                let letter = json!({"letter": decision(1), "ground": "property"});
                for (token, name, body) in [
                    (&amr, "suspension-request", letter),
                    (&ca, "accept", json!({})),
                    (&ca, "suspend", json!({})),
                ] {
                    let response = app.post(token, &case_step(&id, name), &body).await;
                    assert_eq!(response.status(), 200, "{name}, seed {seed}");
                }
                model.insert(domain, ("subtree".into(), "suspended".into(), Some(id)));
            }
            None => {
                let mut body = entry_body(&domain);
                if rng.random_bool(0.5) {
                    body["scope"] = json!("exact");
                }
                let response = app.post(&agency, "/v1/entries", &body).await;
                assert_eq!(response.status(), 201, "seed {seed}");
                let scope = body["scope"].as_str().unwrap().to_string();
                model.insert(domain, (scope, "active".into(), None));
            }
        }
        if step == 60 {
            let snapshot: Value = app.get(&agency, "/v1/snapshot").await.json().await.unwrap();
            let set = snapshot["entries"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| {
                    (
                        e["domain"].as_str().unwrap().to_string(),
                        (
                            e["scope"].as_str().unwrap().to_string(),
                            e["status"].as_str().unwrap().to_string(),
                        ),
                    )
                })
                .collect();
            consumer = Some((snapshot["seq"].as_u64().unwrap(), set));
        }
    }
    let (mut after, mut set) = consumer.unwrap();
    loop {
        let page = app.feed(&agency, &format!("after={after}&limit=7")).await;
        let events = page["events"].as_array().unwrap();
        if events.is_empty() {
            break;
        }
        for event in events {
            assert_eq!(
                event["seq"].as_u64().unwrap(),
                after + 1,
                "seq numbers step by one"
            );
            after += 1;
            let domain = event["domain"].as_str().unwrap().to_string();
            let scope = event["scope"].as_str().unwrap().to_string();
            match event["type"].as_str().unwrap() {
                "listed" => {
                    set.insert(domain, (scope, "active".into()));
                }
                "suspended" => {
                    set.insert(domain, (scope, "suspended".into()));
                }
                "lifted" | "expired" => {
                    set.remove(&domain);
                }
                other => panic!("unknown event type {other}"),
            }
        }
    }
    let expected: ActiveSet = model
        .into_iter()
        .map(|(domain, (scope, status, _))| (domain, (scope, status)))
        .collect();
    assert_eq!(set, expected, "seed {seed}");
    let snapshot: Value = app.get(&agency, "/v1/snapshot").await.json().await.unwrap();
    assert_eq!(snapshot["seq"].as_u64().unwrap(), after);
    assert_eq!(
        snapshot["entries"].as_array().unwrap().len(),
        expected.len()
    );
}

pub async fn snapshot_text_and_rpz_zone(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    let dns = app.create_key("dns_provider", None).await;
    app.listed(&agency, "tree.example.cn").await;
    let mut body = entry_body("one.example.net");
    body["scope"] = json!("exact");
    assert_eq!(app.post(&agency, "/v1/entries", &body).await.status(), 201);

    let response = app.get(&dns, "/v1/snapshot?format=text").await;
    assert_eq!(response.headers()["x-blacklist-seq"], "2");
    let mut lines: Vec<String> = response
        .text()
        .await
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    lines.sort();
    assert_eq!(lines, ["*.tree.example.cn", "one.example.net"]);

    let response = app.get(&dns, "/v1/rpz").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/dns");
    let zone = response.text().await.unwrap();
    assert!(zone.starts_with("$ORIGIN rpz.siteban.\n"), "{zone}");
    let records: Vec<&str> = zone.lines().filter(|l| l.contains("CNAME")).collect();
    assert_eq!(records.len(), 3, "{zone}");
    assert!(records.contains(&"tree.example.cn CNAME ."));
    assert!(records.contains(&"*.tree.example.cn CNAME ."));
    assert!(records.contains(&"one.example.net CNAME ."));
    let serial = |zone: &str| -> u64 {
        let soa = zone.lines().find(|l| l.contains(" SOA ")).unwrap();
        soa.split_whitespace().nth(4).unwrap().parse().unwrap()
    };
    let before = serial(&zone);
    assert_eq!(app.lift(&agency, "one.example.net").await.status(), 200);
    let after = app.get(&dns, "/v1/rpz").await.text().await.unwrap();
    assert!(
        serial(&after) > before,
        "the SOA serial grows with every change"
    );
    assert!(!after.contains("one.example.net"));
    let response = app.get(&dns, "/v1/snapshot?format=xml").await;
    assert_eq!(response.status(), 400);
}

pub async fn keys_are_created_listed_and_revoked(store: Store) {
    let app = spawn_app(store).await;
    let response = app
        .post(
            &app.admin_token,
            "/v1/keys",
            &json!({"name": "Guangdong CA", "role": "telecom", "province": "44"}),
        )
        .await;
    assert_eq!(response.status(), 201);
    let key: Value = response.json().await.unwrap();
    let token = key["token"].as_str().unwrap().to_string();
    assert_eq!(key["role"], "telecom");
    assert_eq!(key["province"], "44");
    assert!(key["created_at"].is_string());

    let keys: Value = app
        .get(&app.admin_token, "/v1/keys")
        .await
        .json()
        .await
        .unwrap();
    let listed = keys["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].get("token").is_none(), "tokens are shown once");
    assert!(!keys.to_string().contains(&token));

    assert_eq!(app.check(&token, "a.example.cn").await["listed"], false);
    let response = app
        .client
        .delete(app.url(&format!("/v1/keys/{}", key["id"].as_str().unwrap())))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app.get(&token, "/v1/check?domain=a.example.cn").await;
    assert_eq!(
        response.status(),
        401,
        "a revoked token stops working at once"
    );
    let response = app
        .client
        .delete(app.url("/v1/keys/k_missing"))
        .bearer_auth(&app.admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    // Tokens are stored only as hashes.
    let (_, records) = app.registry.store.keys().await.unwrap();
    assert!(records.iter().all(|r| r.token_sha256.len() == 64));
    if store == Store::Embedded {
        let raw = std::fs::read(app.data_dir.path().join("siteban.redb")).unwrap();
        assert!(!raw.windows(token.len()).any(|w| w == token.as_bytes()));
    }
}

pub async fn operations_endpoints(store: Store) {
    let app = spawn_app(store).await;
    let agency = app.create_key("agency", None).await;
    app.listed(&agency, "m.example.cn").await;
    app.check(&agency, "m.example.cn").await;
    let healthz = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(healthz.status(), 200);
    assert!(healthz.headers().contains_key("x-request-id"));
    let readyz = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(readyz.status(), 200);
    // Requests are counted by the pattern of the route they took; tiles, served by a scope
    // of their prefix, by the path of the API's description.
    let auditor = app.create_key("auditor", None).await;
    for path in [
        "/v1/entries/m.example.cn",
        "/v1/log/tile/0/000.p/1",
        "/v1/no-such-path",
    ] {
        app.client
            .get(app.url(path))
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap();
    }
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "siteban_http_requests_total{method=\"GET\",route=\"/v1/check\",status=\"200\"} 1",
        "siteban_http_request_duration_seconds_bucket{route=\"/v1/check\"",
        "siteban_http_requests_total{method=\"GET\",route=\"/v1/entries/{domain}\",status=\"200\"} 1",
        "siteban_http_requests_total{method=\"GET\",route=\"/v1/log/tile/{path}\"",
        "siteban_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"} 1",
        "siteban_checks_total{result=\"listed\"} 1",
        "siteban_index_entries 1",
        "siteban_index_applied_seq 1",
        "siteban_follower_lag_events 0",
        "siteban_follower_stale_seconds",
    ] {
        assert!(metrics.contains(name), "{name} missing from\n{metrics}");
    }
    for line in metrics
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        assert!(line.starts_with("siteban_"), "{line}");
    }
    let openapi: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(openapi["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/keys",
        "/v1/keys/{id}",
        "/v1/entries",
        "/v1/entries/{domain}",
        "/v1/entries/{domain}/lift",
        "/v1/check",
        "/v1/feed",
        "/v1/snapshot",
        "/v1/rpz",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(
            openapi["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
}
