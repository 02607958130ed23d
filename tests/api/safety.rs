//! Trust and safety: province scoping, protected names, four-eyes approval of listings and
//! of lifts, the audit log, rate limits, resource limits against slow and oversized clients,
//! key expiry, and the Bearer scheme in any case.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use siteban::audit::{AuditRecord, Verifier};
use siteban::model::Entry;
use siteban::store::{Refused, StoreError};

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

/// Four-eyes on lifts (`entries.require_lift_approval`): a lift through the API waits on the
/// active entry, which stays listed, until another key of the requester's side approves it.
pub async fn four_eyes_lifts_wait_for_a_second_key(store: Store) {
    let app = spawn_app_with(store, |s| s.entries.require_lift_approval = true).await;
    let first = app.create_key("agency", Some("11")).await;
    let second = app.create_key("agency", Some("11")).await;
    let other_province = app.create_key("agency", Some("31")).await;
    let telecom = app.create_key("telecom", Some("11")).await;
    let auditor = app.create_key("auditor", None).await;

    let provider = app
        .create_provider(&json!({"name": "freed access", "kind": "access"}))
        .await;
    let mut body = entry_body("freed.example.cn");
    body["providers"] = json!([provider["id"]]);
    let listed = expect(app.post(&first, "/v1/entries", &body).await, 201, "listing").await;
    let lister = listed["listed_by"]["key_id"].clone();
    let notices = format!("/v1/notices?provider={}", provider["id"].as_str().unwrap());
    let sent = || async {
        let page = expect(app.get(&first, &notices).await, 200, "the notices").await;
        page["notices"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| (n["id"].clone(), n["action"].clone()))
            .collect::<Vec<_>>()
    };
    let notices_before = sent().await;
    assert_eq!(notices_before.len(), 1);
    let rpz_before = app.get(&first, "/v1/rpz").await.text().await.unwrap();

    let entry = expect(
        app.lift(&first, "freed.example.cn").await,
        202,
        "asking for a lift",
    )
    .await;
    assert_eq!(entry["status"], "active");
    assert_eq!(entry["pending_lift"]["requested_by"]["key_id"], lister);
    assert_eq!(entry["pending_lift"]["reason"], "the operator complied");
    assert_eq!(
        entry["pending_lift"]["document"]["number"],
        "京市监撤〔2024〕7号"
    );
    assert_eq!(entry["notices"], json!([]));
    // Nothing is lifted: checks, feed, RPZ and notices are as they were.
    assert_eq!(
        app.check(&first, "www.freed.example.cn").await["listed"],
        true
    );
    let feed = app.feed(&first, "after=0").await;
    assert_eq!(feed["events"].as_array().unwrap().len(), 1, "{feed}");
    assert_eq!(
        app.get(&first, "/v1/rpz").await.text().await.unwrap(),
        rpz_before
    );
    assert_eq!(sent().await, notices_before);
    // One lift waits at a time.
    let response = app.lift(&second, "freed.example.cn").await;
    assert_eq!(response.status(), 409);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "lift_pending"
    );
    // The four-eyes queue shows it, and so does the domain.
    let queue: Value = expect(
        app.get(&auditor, "/v1/entries?status=pending_lift").await,
        200,
        "the pending lifts",
    )
    .await;
    assert_eq!(queue["entries"].as_array().unwrap().len(), 1, "{queue}");
    assert_eq!(queue["entries"][0]["domain"], "freed.example.cn");
    let history = expect(
        app.get(&first, "/v1/entries/freed.example.cn").await,
        200,
        "the domain",
    )
    .await;
    assert_eq!(
        history["current"]["pending_lift"]["requested_by"]["key_id"],
        lister
    );

    let approve = "/v1/entries/freed.example.cn/lift/approve";
    for (token, code, why) in [
        (&first, "forbidden", "the requesting key"),
        (&telecom, "forbidden", "the other side"),
        (&other_province, "out_of_province", "another province"),
    ] {
        let response = app.post(token, approve, &json!({})).await;
        assert_eq!(response.status(), 403, "approval by {why}");
        assert_eq!(
            response.json::<Value>().await.unwrap()["error"]["code"],
            code,
            "approval by {why}"
        );
    }
    assert_eq!(app.check(&first, "freed.example.cn").await["listed"], true);
    let entry = expect(
        app.post(&second, approve, &json!({"reason": "checked the document"}))
            .await,
        200,
        "approving the lift",
    )
    .await;
    assert_eq!(entry["status"], "lifted");
    assert!(entry.get("pending_lift").is_none(), "{entry}");
    // Who asked and who approved are on the lift.
    assert_eq!(entry["lift"]["lifted_by"]["key_id"], lister);
    assert_eq!(entry["lift"]["review"]["outcome"], "approved");
    assert_eq!(entry["lift"]["review"]["reason"], "checked the document");
    assert_ne!(entry["lift"]["review"]["by"]["key_id"], lister);
    assert_eq!(entry["lift"]["document"]["number"], "京市监撤〔2024〕7号");
    // The approval lifts as a direct lift does: restore notices, an event, the index.
    assert_eq!(entry["notices"][0]["provider_id"], provider["id"]);
    assert_eq!(entry["notices"][0]["action"], "restore");
    assert_eq!(
        app.check(&first, "www.freed.example.cn").await["listed"],
        false
    );
    let feed = app.feed(&first, "after=0").await;
    assert_eq!(feed["events"][1]["type"], "lifted");
    let history = expect(
        app.get(&auditor, "/v1/entries/freed.example.cn").await,
        200,
        "the domain",
    )
    .await;
    assert_eq!(history["current"], Value::Null);
    assert_eq!(
        history["history"][0]["lift"]["review"]["outcome"],
        "approved"
    );
    let response = app.post(&second, approve, &json!({})).await;
    assert_eq!(response.status(), 404);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "not_pending"
    );
    let queue = app.get(&auditor, "/v1/entries?status=pending_lift").await;
    assert_eq!(expect(queue, 200, "the queue").await["entries"], json!([]));

    // A rejection keeps the entry listed, and the rejected request on record.
    let kept = app.listed(&first, "kept.example.cn").await;
    expect(app.lift(&first, "kept.example.cn").await, 202, "a lift").await;
    let reject = "/v1/entries/kept.example.cn/lift/reject";
    let response = app.post(&telecom, reject, &json!({})).await;
    assert_eq!(response.status(), 403, "the other side may not reject");
    let entry = expect(
        app.post(
            &second,
            reject,
            &json!({"reason": "the document is unsigned"}),
        )
        .await,
        200,
        "rejecting the lift",
    )
    .await;
    assert_eq!(entry["status"], "active");
    assert!(entry.get("pending_lift").is_none(), "{entry}");
    let rejected = &entry["rejected_lifts"][0];
    assert_eq!(rejected["review"]["outcome"], "rejected");
    assert_eq!(rejected["review"]["reason"], "the document is unsigned");
    assert_eq!(rejected["request"]["requested_by"]["key_id"], lister);
    assert_eq!(entry["notices"], json!([]));
    assert_eq!(app.check(&first, "kept.example.cn").await["listed"], true);
    assert_eq!(app.post(&second, reject, &json!({})).await.status(), 404);
    // It may be asked for again, and every rejection stays on record.
    expect(
        app.lift(&second, "kept.example.cn").await,
        202,
        "a new lift",
    )
    .await;
    let entry = expect(app.post(&first, reject, &json!({})).await, 200, "rejecting").await;
    let rejected = entry["rejected_lifts"].as_array().unwrap();
    assert_eq!(rejected.len(), 2, "{entry}");
    assert_eq!(rejected[0]["review"]["reason"], "the document is unsigned");
    assert_ne!(rejected[1]["request"]["requested_by"]["key_id"], lister);
    // An approval naming another entry is refused.
    expect(
        app.lift(&second, "kept.example.cn").await,
        202,
        "a new lift",
    )
    .await;
    let approve = "/v1/entries/kept.example.cn/lift/approve";
    let other = json!({"entry_id": listed["id"]});
    assert_eq!(app.post(&first, approve, &other).await.status(), 404);
    let entry = expect(
        app.post(&first, approve, &json!({"entry_id": kept["id"]}))
            .await,
        200,
        "approving the new lift",
    )
    .await;
    assert_eq!(entry["status"], "lifted");
    assert_eq!(entry["rejected_lifts"].as_array().unwrap().len(), 2);

    // A national key's lift: a provincial key may not approve it, another national key may.
    let samr = app.create_key("agency", None).await;
    let samr_too = app.create_key("agency", None).await;
    app.listed(&samr, "national.example.cn").await;
    expect(app.lift(&samr, "national.example.cn").await, 202, "a lift").await;
    let approve = "/v1/entries/national.example.cn/lift/approve";
    let response = app.post(&second, approve, &json!({})).await;
    assert_eq!(response.status(), 403);
    assert_eq!(
        response.json::<Value>().await.unwrap()["error"]["code"],
        "out_of_province"
    );
    expect(
        app.post(&samr_too, approve, &json!({})).await,
        200,
        "approval",
    )
    .await;

    // The request and the decisions are in the audit log.
    let audit = expect(
        app.get(&auditor, "/v1/audit?limit=1000").await,
        200,
        "the audit log",
    )
    .await;
    let records = audit["records"].as_array().unwrap();
    let on_record = |action: &str, status: u16, target: &str| {
        records
            .iter()
            .any(|r| r["action"] == action && r["status"] == status && r["target"] == target)
    };
    assert!(on_record("entry.lift", 202, "freed.example.cn"));
    assert!(on_record("entry.lift_approve", 200, "freed.example.cn"));
    assert!(on_record("entry.lift_reject", 200, "kept.example.cn"));
}

/// Four-eyes on listings and on lifts are separate settings: with the first alone, a lift
/// takes effect at once, as it always did.
pub async fn lifts_are_immediate_without_lift_approval(store: Store) {
    let app = spawn_app_with(store, |s| s.entries.require_approval = true).await;
    let first = app.create_key("telecom", None).await;
    let second = app.create_key("telecom", None).await;
    app.listed(&first, "direct.example.cn").await;
    expect(
        app.post(&second, "/v1/entries/direct.example.cn/approve", &json!({}))
            .await,
        200,
        "approving the listing",
    )
    .await;
    let entry = expect(app.lift(&first, "direct.example.cn").await, 200, "a lift").await;
    assert_eq!(entry["status"], "lifted");
    assert!(entry["lift"].get("review").is_none(), "{entry}");
    assert_eq!(
        app.check(&first, "direct.example.cn").await["listed"],
        false
    );
    let response = app
        .post(
            &second,
            "/v1/entries/direct.example.cn/lift/approve",
            &json!({}),
        )
        .await;
    assert_eq!(response.status(), 404, "nothing waits");
}

/// A lift request, its approval and its rejection are each one compare-and-set on the entry:
/// of racing requests one wins, of a racing approval and rejection one wins, and the store
/// refuses a request for an entry that is no longer the active one.
pub async fn lift_requests_and_approvals_are_atomic(store: Store) {
    let app = spawn_app_with(store, |s| s.entries.require_lift_approval = true).await;
    let mut keys = Vec::new();
    for _ in 0..4 {
        keys.push(app.create_key("agency", Some("11")).await);
    }
    let domain = "raced.example.cn";
    app.listed(&keys[0], domain).await;
    let answers = futures_util::future::join_all(keys.iter().map(|k| app.lift(k, domain))).await;
    let mut requester = None;
    for (i, response) in answers.into_iter().enumerate() {
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap();
        match status {
            202 => {
                assert!(requester.is_none(), "two requests won");
                requester = Some(i);
            }
            409 => assert_eq!(body["error"]["code"], "lift_pending"),
            _ => panic!("a racing lift request answered {status}: {body}"),
        }
    }
    let requester = requester.expect("one request won");
    let others: Vec<&String> = (0..keys.len())
        .filter(|i| *i != requester)
        .map(|i| &keys[i])
        .collect();
    let (approve, reject, nobody) = (
        format!("/v1/entries/{domain}/lift/approve"),
        format!("/v1/entries/{domain}/lift/reject"),
        json!({}),
    );
    let (approved, rejected) = tokio::join!(
        app.post(others[0], &approve, &nobody),
        app.post(others[1], &reject, &nobody),
    );
    let outcome = (approved.status().as_u16(), rejected.status().as_u16());
    assert!(
        matches!(outcome, (200, 404) | (404, 200)),
        "one of a racing approval and rejection wins: {outcome:?}"
    );
    assert_eq!(
        app.check(&keys[0], domain).await["listed"],
        outcome.1 == 200,
        "a rejection keeps the entry listed, an approval lifts it"
    );

    // The store's own checks, on a pending lift.
    let domain = siteban::domain::DomainName::parse("moved.example.cn").unwrap();
    app.listed(&keys[0], domain.as_str()).await;
    expect(app.lift(&keys[1], domain.as_str()).await, 202, "a lift").await;
    let store = &app.registry.store;
    let entry = store.history(&domain).await.unwrap().pop().unwrap();
    let pending = entry.pending_lift.clone().expect("a pending lift");
    let code = |e: StoreError| {
        siteban::api::ApiError::from(siteban::registry::RegistryError::from(e)).code()
    };
    // An entry that is not the active one any more, the active one itself, and an entry of a
    // domain that has none.
    let moved_on = Entry {
        id: uuid::Uuid::now_v7(),
        ..entry.clone()
    };
    let refused = store
        .request_lift(&moved_on, pending.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::Refused(Refused::EntryChanged)),
        "{refused:?}"
    );
    assert_eq!(code(refused), "entry_changed");
    let refused = store
        .request_lift(&entry, pending.clone())
        .await
        .unwrap_err();
    assert_eq!(code(refused), "lift_pending");
    let unlisted = Entry {
        domain: siteban::domain::DomainName::parse("never.example.cn").unwrap(),
        ..entry.clone()
    };
    let refused = store
        .request_lift(&unlisted, pending.clone())
        .await
        .unwrap_err();
    assert_eq!(code(refused), "not_listed");
    // A rejection of another request than the pending one changes nothing.
    let mut stale = pending.clone();
    stale.reason.push_str(" (as first drafted)");
    let review = siteban::model::Review {
        outcome: "rejected".into(),
        by: pending.requested_by.clone(),
        at: siteban::model::now(),
        reason: String::new(),
        proposed_at: pending.requested_at,
    };
    let rejected = siteban::model::ReviewedLift {
        request: stale,
        review,
    };
    let refused = store.reject_lift(&entry, rejected).await.unwrap_err();
    assert!(
        matches!(refused, StoreError::Refused(Refused::LiftNotPending)),
        "{refused:?}"
    );
    let entry = store.history(&domain).await.unwrap().pop().unwrap();
    assert_eq!(entry.pending_lift, Some(pending));
    assert!(entry.rejected_lifts.is_empty());
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
    // A path spelled with escapes reaches its route, and is audited as that route.
    let escaped = app
        .post(&agency, "/v1/%65ntries", &entry_body("escaped.example.cn"))
        .await;
    assert_eq!(escaped.status(), 201);

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
            ("entry.submit", 201, "ok"),
        ]
    );
    let submit = &records[2].event;
    assert_eq!(submit.target, "audited.example.cn");
    assert_eq!(submit.actor.province.map(|p| p.code()), Some("11"));
    assert_eq!(submit.address, "127.0.0.1");
    assert!(!submit.request_id.is_empty());
    assert_eq!(records[5].event.target, "escaped.example.cn");
    assert_eq!(page["next"], 6);
    let mut verifier = Verifier::new();
    for record in &records {
        verifier.check(record).unwrap();
    }
    let page: Value = app
        .get(&auditor, "/v1/audit?after=6")
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
