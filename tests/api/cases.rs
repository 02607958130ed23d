//! The referral workflow end to end, with keys of the organisations involved: the four routes,
//! emergency suspension and its expiry, closure with each measure, referrals between the
//! sides, the inbox, refusals, and the role check of every case endpoint.

use std::time::Duration;

use serde_json::{Value, json};

use crate::fixtures::Receiver;
use crate::helpers::{
    RedisServer, Store, TestApp, decision, eventually, spawn_app, spawn_app_on_redis,
    spawn_app_with,
};

/// Keys of the organisations in these tests.
struct Orgs {
    amr11: String,
    ca11: String,
    amr44: String,
    ca44: String,
    samr: String,
    miit: String,
    auditor: String,
}

async fn orgs(app: &TestApp) -> Orgs {
    Orgs {
        amr11: app.create_key("agency", Some("11")).await,
        ca11: app.create_key("telecom", Some("11")).await,
        amr44: app.create_key("agency", Some("44")).await,
        ca44: app.create_key("telecom", Some("44")).await,
        samr: app.create_key("agency", None).await,
        miit: app.create_key("telecom", None).await,
        auditor: app.create_key("auditor", None).await,
    }
}

fn case_body(domain: &str, icp: Option<&str>, access: &str) -> Value {
    let mut body = json!({
        "domain": domain,
        "recorded": icp.is_some(),
        "access_province": access,
        "operator_name": "北京某某科技有限公司",
        "operator_credit_code": "91110108551385082Q",
        "category": "counterfeit_goods",
        "summary": "sells counterfeit branded goods",
        "evidence": ["ab".repeat(32)],
    });
    if let Some(icp) = icp {
        body["icp_number"] = json!(icp);
    }
    body
}

fn decision_body(n: u32) -> Value {
    json!({
        "decision": decision(n),
        "recommendation": {"number": format!("京市监建〔2024〕{n}号"), "authority": "北京市市场监督管理局", "date": "2024-05-02"},
    })
}

fn suspension_body() -> Value {
    json!({
        "letter": {"number": "京市监函〔2024〕5号", "authority": "北京市市场监督管理局", "date": "2024-05-01"},
        "ground": "property",
    })
}

async fn open(app: &TestApp, token: &str, body: &Value) -> Value {
    let response = app.post(token, "/v1/cases", body).await;
    let status = response.status();
    let case: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "opening {body}: {case}");
    case
}

/// Takes a step; answers the status and body.
async fn step(app: &TestApp, token: &str, id: &Value, step: &str, body: &Value) -> (u16, Value) {
    let path = format!("/v1/cases/{}/{step}", id.as_str().unwrap());
    let response = app.post(token, &path, body).await;
    (response.status().as_u16(), response.json().await.unwrap())
}

async fn ok(app: &TestApp, token: &str, id: &Value, name: &str, body: &Value) -> Value {
    let (status, case) = step(app, token, id, name, body).await;
    assert_eq!(status, 200, "{name}: {case}");
    case
}

async fn inbox(app: &TestApp, token: &str) -> Value {
    let response = app.get(token, "/v1/inbox").await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

/// The actions waiting for the caller on case `id`.
async fn waiting(app: &TestApp, token: &str, id: &Value) -> Vec<String> {
    inbox(app, token).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["id"] == *id)
        .map(|i| i["action"].as_str().unwrap().to_string())
        .collect()
}

fn actions(case: &Value) -> Vec<String> {
    case["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["action"].as_str().unwrap().to_string())
        .collect()
}

/// A route to walk: domain, ICP number, access province, route kind, the organisations that
/// accept it in turn, the closing measure.
type Walk<'a> = (
    &'a str,
    Option<&'a str>,
    &'a str,
    &'a str,
    Vec<&'a String>,
    &'a str,
);

/// Each of the regulation's four routes, walked by the organisations on it, closed with a
/// different measure each.
pub async fn the_four_routes_end_to_end(store: Store) {
    let app = spawn_app(store).await;
    let o = orgs(&app).await;
    let routes = [
        (
            "r1.example.cn",
            None,
            "11",
            "unrecorded_local",
            vec![&o.ca11],
            "blacklist",
        ),
        (
            "r2.example.cn",
            None,
            "44",
            "unrecorded_elsewhere",
            vec![&o.samr, &o.miit, &o.ca44],
            "stop_resolution",
        ),
        (
            "r3.example.cn",
            Some("京ICP备13025326号-2"),
            "44",
            "recorded_local",
            vec![&o.ca11],
            "stop_access",
        ),
        (
            "r4.example.cn",
            Some("粤ICP备12345678号"),
            "11",
            "recorded_elsewhere",
            vec![&o.amr44, &o.ca44],
            "cancel_recordal",
        ),
    ];
    let routes: [Walk; 4] = routes;
    // The recordal that the fourth route's closure cancels, as the CA of Guangdong keeps it.
    let recordal = json!({
        "sponsor_name": "北京某某科技有限公司", "sponsor_code": "91110108551385082Q",
        "domains": ["r4.example.cn"], "access_provider": "Example Hosting", "access_province": "44",
    });
    let response = app
        .client
        .put(app.url("/v1/recordals/粤ICP备12345678号"))
        .bearer_auth(&o.ca44)
        .json(&recordal)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    for (domain, icp, access, kind, hops, measure) in routes {
        let case = open(&app, &o.amr11, &case_body(domain, icp, access)).await;
        let id = case["id"].clone();
        assert_eq!(case["route"]["kind"], kind, "{domain}");
        assert_eq!(case["route"]["hops"][0], "amr:11");
        assert_eq!(case["state"], "referred");
        // Organisations off the route cannot take the hand-over.
        for other in [&o.ca44, &o.miit, &o.ca11, &o.samr] {
            if hops.contains(&other) {
                continue;
            }
            let (status, body) = step(&app, other, &id, "accept", &json!({})).await;
            assert_eq!(status, 403, "{domain}: {body}");
            assert_eq!(body["error"]["code"], "not_case_holder");
        }
        for (i, hop) in hops.iter().enumerate() {
            assert_eq!(
                waiting(&app, hop, &id).await,
                ["accept_or_return"],
                "{domain} hop {i}"
            );
            let case = ok(&app, hop, &id, "accept", &json!({"note": "received"})).await;
            assert_eq!(case["state"], "held");
            if i + 1 < hops.len() {
                assert_eq!(waiting(&app, hop, &id).await, ["forward"]);
                ok(&app, hop, &id, "forward", &json!({})).await;
            }
        }
        let executor = *hops.last().unwrap();
        assert_eq!(waiting(&app, &o.amr11, &id).await, ["submit_decision"]);
        let (status, body) = step(
            &app,
            executor,
            &id,
            "close",
            &json!({"measures": [measure]}),
        )
        .await;
        assert_eq!(status, 409, "closing before the decision: {body}");
        assert_eq!(body["error"]["code"], "invalid_case_state");
        ok(&app, &o.amr11, &id, "decision", &decision_body(7)).await;
        assert_eq!(waiting(&app, executor, &id).await, ["close"]);
        let case = ok(
            &app,
            executor,
            &id,
            "close",
            &json!({"measures": [measure]}),
        )
        .await;
        assert_eq!(case["state"], "closed");
        assert_eq!(case["closure"]["measures"], json!([measure]));
        let check = app.check(&o.auditor, domain).await;
        if measure == "cancel_recordal" {
            assert_eq!(check["listed"], false, "{domain}");
            assert_eq!(case["recordal_cancelled"], true);
            assert!(case.get("entry_id").is_none());
            let note = case["timeline"].as_array().unwrap().last().unwrap()["note"].clone();
            assert!(
                note.as_str().unwrap().contains("marked cancelled"),
                "{note}"
            );
            let recordal: Value = app
                .get(&o.auditor, "/v1/recordals/粤ICP备12345678号")
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(recordal["status"], "cancelled", "{recordal}");
        } else {
            assert_eq!(check["listed"], true, "{domain}");
            assert_eq!(check["match"]["status"], "active");
            assert_eq!(
                check["match"]["entry_id"], case["entry_id"],
                "linked from the case"
            );
            let entry: Value = app
                .get(&o.auditor, &format!("/v1/entries/{domain}"))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(entry["current"]["case_id"], id, "linked from the entry");
            assert_eq!(
                entry["current"]["decision"]["number"],
                "京市监处罚〔2024〕7号"
            );
        }
        // Both sides and the auditor read the same timeline; nothing waits any more.
        let mut expected = vec!["opened".to_string()];
        for _ in hops.iter() {
            expected.extend(["handed_over".to_string(), "accepted".to_string()]);
        }
        expected.extend(["decision_submitted".to_string(), "closed".to_string()]);
        for reader in [&o.amr11, executor, &o.auditor] {
            let read: Value = app
                .get(reader, &format!("/v1/cases/{}", id.as_str().unwrap()))
                .await
                .json()
                .await
                .unwrap();
            assert_eq!(actions(&read), expected, "{domain}");
        }
        for token in [&o.amr11, executor] {
            assert!(waiting(&app, token, &id).await.is_empty());
        }
    }
    // A provincial organisation off every route reads none of them.
    let other = app.create_key("telecom", Some("31")).await;
    let cases: Value = app.get(&other, "/v1/cases").await.json().await.unwrap();
    assert_eq!(cases["cases"], json!([]));
    let all: Value = app.get(&o.auditor, "/v1/cases").await.json().await.unwrap();
    let first = all["cases"][0]["id"].as_str().unwrap().to_string();
    let response = app.get(&other, &format!("/v1/cases/{first}")).await;
    assert_eq!(response.status(), 403);
    assert_eq!(all["cases"].as_array().unwrap().len(), 4);
    let closed: Value = app
        .get(&o.miit, "/v1/cases?state=closed")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(closed["cases"].as_array().unwrap().len(), 4);
}

/// A returned hand-over goes back to its sender with the reason, and is sent again.
pub async fn a_returned_case_is_sent_again(store: Store) {
    let app = spawn_app(store).await;
    let o = orgs(&app).await;
    let case = open(&app, &o.amr11, &case_body("back.example.cn", None, "44")).await;
    let id = case["id"].clone();
    let (status, body) = step(&app, &o.samr, &id, "return", &json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "reason_required");
    let case = ok(
        &app,
        &o.samr,
        &id,
        "return",
        &json!({"reason": "evidence is missing"}),
    )
    .await;
    assert_eq!(case["holder"], "amr:11");
    assert_eq!(case["state"], "held");
    assert_eq!(waiting(&app, &o.amr11, &id).await, ["forward"]);
    ok(
        &app,
        &o.amr11,
        &id,
        "forward",
        &json!({"note": "evidence attached"}),
    )
    .await;
    ok(&app, &o.samr, &id, "accept", &json!({})).await;
    let returned = &case["timeline"].as_array().unwrap()[2];
    assert_eq!(returned["action"], "returned");
    assert_eq!(returned["org"], "samr");
    assert!(
        returned["note"]
            .as_str()
            .unwrap()
            .contains("evidence is missing")
    );
    // The opener withdraws; nothing is left in anyone's inbox.
    let case = ok(
        &app,
        &o.amr11,
        &id,
        "withdraw",
        &json!({"reason": "the site is gone"}),
    )
    .await;
    assert_eq!(case["state"], "withdrawn");
    assert!(waiting(&app, &o.samr, &id).await.is_empty());
    let (status, body) = step(&app, &o.samr, &id, "forward", &json!({})).await;
    assert_eq!(status, 409, "{body}");
}

/// A suspension: checked as `suspended`, a `suspended` event, not in the RPZ, not liftable as a
/// listing, and expired by the sweeper with an `expired` event.
pub async fn an_emergency_suspension_expires(store: Store) {
    // With four-eyes on lifts: the expiry is the registry's own lift and never waits for a
    // second key, and a lift asked for through the API is refused for a suspension.
    let app = spawn_app_with(store, |s| {
        s.cases.suspension_days = 3.0 / 86_400.0;
        s.cases.expiry_sweep_ms = 100;
        s.entries.require_lift_approval = true;
    })
    .await;
    let o = orgs(&app).await;
    let domain = "urgent.example.cn";
    let case = open(&app, &o.amr11, &case_body(domain, None, "11")).await;
    let id = case["id"].clone();
    let (status, body) = step(&app, &o.ca11, &id, "suspension-request", &suspension_body()).await;
    assert_eq!(status, 403, "only the opener requests: {body}");
    let (status, body) = step(
        &app,
        &o.amr11,
        &id,
        "suspension-request",
        &json!({"letter": {"number": "x"}, "ground": "property"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "invalid_letter");
    let (status, body) = step(
        &app,
        &o.amr11,
        &id,
        "suspension-request",
        &json!({"letter": suspension_body()["letter"], "ground": "boredom"}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "invalid_ground");
    ok(
        &app,
        &o.amr11,
        &id,
        "suspension-request",
        &suspension_body(),
    )
    .await;
    let (status, _) = step(&app, &o.ca11, &id, "suspend", &json!({})).await;
    assert_eq!(status, 409, "the CA must accept the case first");
    ok(&app, &o.ca11, &id, "accept", &json!({})).await;
    assert_eq!(waiting(&app, &o.ca11, &id).await, ["execute_suspension"]);
    let (status, _) = step(&app, &o.amr11, &id, "suspend", &json!({})).await;
    assert_eq!(status, 403, "the AMR does not execute");
    let case = ok(&app, &o.ca11, &id, "suspend", &json!({})).await;
    let entry_id = case["suspension"]["entry_id"].clone();
    let check = app.check(&o.auditor, &format!("www.{domain}")).await;
    assert_eq!(check["listed"], true);
    assert_eq!(check["match"]["status"], "suspended");
    assert_eq!(check["match"]["entry_id"], entry_id);
    let feed = app.feed(&o.auditor, "after=0").await;
    let events = feed["events"].as_array().unwrap();
    assert_eq!(events.last().unwrap()["type"], "suspended");
    let rpz = app.get(&o.auditor, "/v1/rpz").await.text().await.unwrap();
    assert!(
        !rpz.contains("urgent"),
        "a suspension stops access, not resolution: {rpz}"
    );
    let snapshot: Value = app
        .get(&o.auditor, "/v1/snapshot")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["entries"][0]["status"], "suspended");
    let response = app.lift(&o.ca11, domain).await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "suspended");
    let response = app.list(&o.ca11, domain).await;
    assert_eq!(
        response.status(),
        409,
        "a direct listing does not replace a suspension"
    );
    // The refusal says what is true: lifting is refused too, so it must not send the
    // client there.
    let message = response.json::<Value>().await.unwrap()["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("suspended") && !message.contains("lift it first"),
        "{message}"
    );
    eventually(
        Duration::from_secs(20),
        "the suspension to expire",
        || async {
            !app.check(&o.auditor, domain).await["listed"]
                .as_bool()
                .unwrap()
        },
    )
    .await;
    let feed = app.feed(&o.auditor, "after=0").await;
    let last = feed["events"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["type"], "expired");
    assert_eq!(last["entry_id"], entry_id);
    let case: Value = app
        .get(&o.amr11, &format!("/v1/cases/{}", id.as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(case["suspension"]["ended"], "expired");
    assert_eq!(actions(&case).last().unwrap(), "suspension_expired");
    assert_eq!(case["state"], "held", "the case itself goes on");
    let entry: Value = app
        .get(&o.auditor, &format!("/v1/entries/{domain}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(entry["current"], Value::Null);
    assert_eq!(entry["history"][0]["status"], "expired");
}

/// A suspension in force when the case closes: a listing measure turns it into a listing, in
/// one feed event; a closure with only `cancel_recordal` ends it; a withdrawal ends it too.
pub async fn closure_turns_a_suspension_into_a_listing(store: Store) {
    // A closure ends a suspension without waiting for a second key, four-eyes on lifts or not.
    let app = spawn_app_with(store, |s| s.entries.require_lift_approval = true).await;
    let o = orgs(&app).await;
    for (domain, measures, listed) in [
        ("s1.example.cn", json!(["blacklist", "stop_access"]), true),
        ("s2.example.cn", json!(["cancel_recordal"]), false),
        ("s3.example.cn", Value::Null, false),
    ] {
        let icp = measures
            .to_string()
            .contains("cancel")
            .then_some("京ICP备13025326号-2");
        let case = open(&app, &o.amr11, &case_body(domain, icp, "11")).await;
        let id = case["id"].clone();
        ok(
            &app,
            &o.amr11,
            &id,
            "suspension-request",
            &suspension_body(),
        )
        .await;
        ok(&app, &o.ca11, &id, "accept", &json!({})).await;
        let suspended = ok(&app, &o.ca11, &id, "suspend", &json!({})).await;
        let before = app.feed(&o.auditor, "after=0").await["next"]
            .as_u64()
            .unwrap();
        let case = if measures.is_null() {
            ok(
                &app,
                &o.amr11,
                &id,
                "withdraw",
                &json!({"reason": "the operator closed the site"}),
            )
            .await
        } else {
            ok(&app, &o.amr11, &id, "decision", &decision_body(9)).await;
            ok(&app, &o.ca11, &id, "close", &json!({"measures": measures})).await
        };
        let feed = app.feed(&o.auditor, &format!("after={before}")).await;
        let events = feed["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{domain}: one event: {feed}");
        let check = app.check(&o.auditor, domain).await;
        assert_eq!(check["listed"], listed, "{domain}");
        if listed {
            assert_eq!(events[0]["type"], "listed");
            assert_eq!(check["match"]["status"], "active");
            assert_eq!(check["match"]["entry_id"], case["entry_id"]);
            assert_eq!(case["suspension"]["ended"], "listed");
            let rpz = app.get(&o.auditor, "/v1/rpz").await.text().await.unwrap();
            assert!(rpz.contains(&format!("\n{domain} CNAME")), "{rpz}");
            let entry: Value = app
                .get(&o.auditor, &format!("/v1/entries/{domain}"))
                .await
                .json()
                .await
                .unwrap();
            let history = entry["history"].as_array().unwrap();
            assert_eq!(history.len(), 2);
            assert_eq!(history[0]["id"], suspended["suspension"]["entry_id"]);
            assert_eq!(
                history[0]["status"], "replaced",
                "the site stayed blocked throughout"
            );
            assert_eq!(history[1]["status"], "active");
        } else {
            assert_eq!(events[0]["type"], "expired");
            assert_eq!(events[0]["entry_id"], suspended["suspension"]["entry_id"]);
        }
    }
}

/// Refusals: identifiers that fail validation, organisations that may not open, steps out of
/// order, and a provincial organisation reading a case off its route.
pub async fn invalid_cases_and_steps_are_refused(store: Store) {
    let app = spawn_app(store).await;
    let o = orgs(&app).await;
    let base = case_body("bad.example.cn", None, "11");
    let with = |field: &str, value: Value| {
        let mut body = base.clone();
        body[field] = value;
        body
    };
    let cases = [
        (with("domain", json!("com.cn")), "public_suffix"),
        (
            with("domain", json!("http://x.example.cn/")),
            "invalid_domain",
        ),
        (with("recorded", Value::Null), "invalid_case"),
        (
            with("operator_credit_code", json!("91350203M0001QAY9I")),
            "invalid_uscc",
        ),
        (
            with("operator_credit_code", json!("91110108551385082")),
            "invalid_uscc",
        ),
        (with("access_province", json!("81")), "invalid_province"),
        (with("access_province", Value::Null), "invalid_province"),
        (with("category", json!("jaywalking")), "invalid_category"),
        (with("summary", json!("  ")), "invalid_case"),
        (with("evidence", json!(["nothex"])), "invalid_document"),
        (
            {
                let mut b = with("recorded", json!(true));
                b["icp_number"] = json!("京ICP备123号");
                b
            },
            "invalid_icp_number",
        ),
        (
            {
                let mut b = with("recorded", json!(true));
                b["icp_number"] = json!("京ICP备13025326号");
                b["recordal_province"] = json!("44");
                b
            },
            "invalid_case",
        ),
        (with("recorded", json!(true)), "invalid_case"),
    ];
    for (body, code) in cases {
        let response = app.post(&o.amr11, "/v1/cases", &body).await;
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], code, "{body}: {answer}");
    }
    for token in [&o.samr, &o.ca11, &o.miit] {
        let response = app.post(token, "/v1/cases", &base).await;
        assert_eq!(response.status(), 403);
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "forbidden");
    }
    let response = app.post(&o.amr11, "/v1/cases", &json!([1])).await;
    assert_eq!(response.status(), 400);
    let all: Value = app.get(&o.auditor, "/v1/cases").await.json().await.unwrap();
    assert_eq!(all["cases"], json!([]), "nothing was stored");
    // A credit code whose check character is wrong is kept as given and flagged, as the
    // shared records keep it, so that the link to the operator is not lost.
    let flagged = open(&app, &o.amr11, &{
        let mut body = with("operator_credit_code", json!("91350203m0001qay9b"));
        body["domain"] = json!("flagged.example.cn");
        body
    })
    .await;
    assert_eq!(flagged["operator_credit_code"], "91350203M0001QAY9B");
    assert_eq!(flagged["operator_credit_code_checksum_ok"], false);
    let checked = open(&app, &o.amr11, &{
        let mut body = with("operator_credit_code", json!("91110108551385082Q"));
        body["domain"] = json!("checked.example.cn");
        body
    })
    .await;
    assert_eq!(checked["operator_credit_code_checksum_ok"], true);
    let case = open(&app, &o.amr11, &base).await;
    let id = case["id"].clone();
    for (token, name, body, status, code) in [
        (&o.amr11, "accept", json!({}), 403, "not_case_holder"),
        (&o.ca11, "forward", json!({}), 409, "invalid_case_state"),
        (
            &o.ca11,
            "close",
            json!({"measures": ["blacklist"]}),
            409,
            "invalid_case_state",
        ),
        (
            &o.ca11,
            "decision",
            decision_body(3),
            403,
            "not_case_holder",
        ),
        (
            &o.amr44,
            "withdraw",
            json!({"reason": "x"}),
            403,
            "not_case_holder",
        ),
        (
            &o.amr11,
            "decision",
            json!({"recommendation": decision(1)}),
            422,
            "decision_required",
        ),
        (
            &o.amr11,
            "decision",
            json!({"decision": decision(1)}),
            422,
            "invalid_recommendation",
        ),
    ] {
        let (got, answer) = step(&app, token, &id, name, &body).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str().unwrap()),
            (status, code),
            "{name}: {answer}"
        );
    }
    ok(&app, &o.ca11, &id, "accept", &json!({})).await;
    ok(&app, &o.amr11, &id, "decision", &decision_body(3)).await;
    for (measures, code) in [
        (json!([]), "invalid_measures"),
        (json!(["shutdown"]), "invalid_measures"),
        (json!(["cancel_recordal"]), "invalid_measures"),
    ] {
        let (got, answer) = step(&app, &o.ca11, &id, "close", &json!({"measures": measures})).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str().unwrap()),
            (422, code),
            "{measures}"
        );
    }
    let response = app
        .get(&o.amr44, &format!("/v1/cases/{}", id.as_str().unwrap()))
        .await;
    assert_eq!(response.status(), 403);
    let response = app.get(&o.amr11, "/v1/cases/not-a-case").await;
    assert_eq!(response.status(), 404);
    let response = app.get(&o.amr11, "/v1/cases?state=open").await;
    assert_eq!(response.status(), 400);
}

/// A referral between the sides: sent with documents, accepted, answered; refused within one
/// side and by organisations it is not addressed to.
pub async fn referrals_cross_between_the_sides(store: Store) {
    let app = spawn_app(store).await;
    let o = orgs(&app).await;
    let body = json!({
        "to": "amr:11",
        "subject": "recordal under a forged business identity",
        "domain": "forged.example.cn",
        "summary": "the recordal names a company whose registration does not exist",
        "documents": [{"kind": "recordal_extract", "sha256": "cd".repeat(32)}],
    });
    let mut same_side = body.clone();
    same_side["to"] = json!("miit");
    let response = app.post(&o.ca11, "/v1/referrals", &same_side).await;
    assert_eq!(response.status(), 422);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "invalid_referral");
    let response = app.post(&o.ca11, "/v1/referrals", &body).await;
    assert_eq!(response.status(), 201);
    let referral: Value = response.json().await.unwrap();
    let id = referral["id"].as_str().unwrap().to_string();
    let items = inbox(&app, &o.amr11).await;
    assert_eq!(items["org"], "amr:11");
    assert_eq!(items["items"][0]["kind"], "referral");
    assert_eq!(items["items"][0]["action"], "accept_or_return");
    assert!(items["items"][0]["age_seconds"].as_i64().unwrap() >= 0);
    let response = app
        .post(&o.amr44, &format!("/v1/referrals/{id}/accept"), &json!({}))
        .await;
    assert_eq!(response.status(), 403);
    let response = app
        .post(
            &o.amr11,
            &format!("/v1/referrals/{id}/answer"),
            &json!({"result": "x"}),
        )
        .await;
    assert_eq!(response.status(), 409);
    let response = app
        .post(&o.amr11, &format!("/v1/referrals/{id}/accept"), &json!({}))
        .await;
    assert_eq!(response.status(), 200);
    let response = app
        .post(&o.amr11, &format!("/v1/referrals/{id}/answer"), &json!({"result": "business licence revoked", "documents": [{"number": "京市监处罚〔2024〕9号"}]}))
        .await;
    assert_eq!(response.status(), 200);
    let answered: Value = response.json().await.unwrap();
    assert_eq!(answered["state"], "answered");
    assert_eq!(answered["result"], "business licence revoked");
    let read: Value = app
        .get(&o.ca11, &format!("/v1/referrals/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(read["timeline"].as_array().unwrap().len(), 3, "{read}");
    let response = app.get(&o.ca44, &format!("/v1/referrals/{id}")).await;
    assert_eq!(response.status(), 403);
    let listed: Value = app
        .get(&o.auditor, "/v1/referrals")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listed["referrals"].as_array().unwrap().len(), 1);
}

/// Every case endpoint's role check: callers of other roles get `403 forbidden`, and no
/// caller is refused for its role when the policy names it.
pub async fn case_endpoints_check_roles(store: Store) {
    let app = spawn_app(store).await;
    let amr = app.create_key("agency", Some("11")).await;
    let case = open(&app, &amr, &case_body("roles.example.cn", None, "11")).await;
    let id = case["id"].as_str().unwrap().to_string();
    let ca = app.create_key("telecom", Some("11")).await;
    let referral: Value = app
        .post(
            &ca,
            "/v1/referrals",
            &json!({"to": "amr:11", "subject": "s", "summary": "s"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let rid = referral["id"].as_str().unwrap().to_string();
    let endpoints: Vec<(&str, String, &[&str])> = vec![
        ("POST", "/v1/cases".into(), &["agency"]),
        ("GET", "/v1/cases".into(), &["agency", "telecom", "auditor"]),
        (
            "GET",
            format!("/v1/cases/{id}"),
            &["agency", "telecom", "auditor"],
        ),
        ("GET", "/v1/inbox".into(), &["agency", "telecom"]),
        (
            "GET",
            "/v1/referrals".into(),
            &["agency", "telecom", "auditor"],
        ),
        (
            "GET",
            format!("/v1/referrals/{rid}"),
            &["agency", "telecom", "auditor"],
        ),
        ("POST", "/v1/referrals".into(), &["agency", "telecom"]),
        (
            "POST",
            format!("/v1/referrals/{rid}/accept"),
            &["agency", "telecom"],
        ),
    ];
    let mut steps: Vec<(&str, String, &[&str])> = [
        "accept",
        "return",
        "forward",
        "suspension-request",
        "suspend",
        "decision",
        "close",
        "withdraw",
    ]
    .iter()
    .map(|s| {
        (
            "POST",
            format!("/v1/cases/{id}/{s}"),
            &["agency", "telecom"][..],
        )
    })
    .collect();
    steps.extend(endpoints);
    let mut callers = Vec::new();
    for role in [
        "admin",
        "agency",
        "telecom",
        "access_provider",
        "dns_provider",
        "auditor",
    ] {
        let token = if role == "admin" {
            app.admin_token.clone()
        } else {
            app.create_key(role, None).await
        };
        callers.push((role, token));
    }
    for (method, path, allowed) in &steps {
        let unauthenticated = if *method == "GET" {
            app.client.get(app.url(path))
        } else {
            app.client.post(app.url(path)).json(&json!({}))
        };
        assert_eq!(
            unauthenticated.send().await.unwrap().status(),
            401,
            "{method} {path}"
        );
        for (role, token) in &callers {
            let response = if *method == "GET" {
                app.get(token, path).await
            } else {
                app.post(token, path, &json!({})).await
            };
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if allowed.contains(role) {
                assert_ne!(
                    body["error"]["code"], "unauthenticated",
                    "{method} {path} as {role}"
                );
                // National organisations may be refused by the workflow (not a holder, or
                // not a provincial AMR), never by the role check alone.
                if status == 403 {
                    assert!(
                        body["error"]["code"] == "not_case_holder"
                            || body["error"]["message"]
                                .as_str()
                                .unwrap()
                                .contains("provincial"),
                        "{method} {path} as {role}: {body}"
                    );
                }
            } else {
                assert_eq!(status, 403, "{method} {path} as {role}: {body}");
                assert_eq!(
                    body["error"]["code"], "forbidden",
                    "{method} {path} as {role}"
                );
            }
        }
    }
}

/// The notices of a provider, as a regulator reads them: (action, domain) pairs.
async fn notices_of(app: &TestApp, token: &str, provider: &Value) -> Vec<(String, String)> {
    let path = format!("/v1/notices?provider={}", provider["id"].as_str().unwrap());
    let page: Value = app.get(token, &path).await.json().await.unwrap();
    page["notices"]
        .as_array()
        .unwrap_or_else(|| panic!("notices of {provider}: {page}"))
        .iter()
        .map(|n| {
            (
                n["action"].as_str().unwrap().to_string(),
                n["domain"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// A suspension tells access providers only; a closure tells each provider what its measures
/// ask of that kind of provider; unknown providers are refused.
pub async fn measures_decide_which_providers_are_told(store: Store) {
    let app = spawn_app(store).await;
    let o = orgs(&app).await;
    let access = app
        .create_provider(&json!({"name": "access co", "kind": "access"}))
        .await;
    let dns = app
        .create_provider(&json!({"name": "dns co", "kind": "dns"}))
        .await;
    let both = json!([access["id"], dns["id"]]);
    let domain = "told.example.cn";
    let case = open(&app, &o.amr11, &case_body(domain, None, "11")).await;
    let id = case["id"].clone();
    ok(
        &app,
        &o.amr11,
        &id,
        "suspension-request",
        &suspension_body(),
    )
    .await;
    ok(&app, &o.ca11, &id, "accept", &json!({})).await;
    let (status, body) = step(
        &app,
        &o.ca11,
        &id,
        "suspend",
        &json!({"providers": ["p_nobody"]}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("unknown_provider"))
    );
    ok(&app, &o.ca11, &id, "suspend", &json!({"providers": both})).await;
    assert_eq!(
        notices_of(&app, &o.auditor, &access).await,
        [("stop_access".to_string(), domain.to_string())]
    );
    assert!(
        notices_of(&app, &o.auditor, &dns).await.is_empty(),
        "a suspension leaves resolution alone"
    );
    ok(&app, &o.amr11, &id, "decision", &decision_body(4)).await;
    ok(
        &app,
        &o.ca11,
        &id,
        "close",
        &json!({"measures": ["stop_resolution"], "providers": both}),
    )
    .await;
    assert_eq!(
        notices_of(&app, &o.auditor, &access).await.len(),
        1,
        "no second stop_access"
    );
    assert_eq!(
        notices_of(&app, &o.auditor, &dns).await,
        [("stop_resolution".to_string(), domain.to_string())]
    );
    // The case steps are in the audit log, naming the case.
    let audit: Value = app
        .get(&o.auditor, "/v1/audit?limit=1000")
        .await
        .json()
        .await
        .unwrap();
    let records: Vec<&Value> = audit["records"]
        .as_array()
        .unwrap_or_else(|| panic!("{audit}"))
        .iter()
        .filter(|r| r["target"] == id)
        .collect();
    let actions: Vec<&str> = records
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    // Each record carries the timeline steps its request added, documents included.
    let steps: Vec<Value> = records
        .iter()
        .flat_map(|r| serde_json::from_str::<Vec<Value>>(r["detail"].as_str().unwrap()).unwrap())
        .collect();
    let case: Value = app
        .get(&o.auditor, &format!("/v1/cases/{}", id.as_str().unwrap()))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        Value::Array(steps),
        case["timeline"],
        "the audit log holds the whole timeline"
    );
    assert_eq!(
        actions,
        [
            "case.open",
            "case.request_suspension",
            "case.accept",
            "case.suspend",
            "case.submit_decision",
            "case.close"
        ]
    );
}

async fn put_recordal(
    app: &TestApp,
    token: &str,
    icp: &str,
    sponsor: &str,
    domain: &str,
) -> (u16, Value) {
    let body = json!({
        "sponsor_name": "北京某某科技有限公司", "sponsor_code": sponsor,
        "domains": [domain], "access_provider": "Example Hosting", "access_province": "11",
    });
    let response = app
        .client
        .put(app.url(&format!("/v1/recordals/{icp}")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The operator named by a closed case whose listing stands is a blacklisted operator, even
/// for an unrecorded site: verify finds it and a new recordal of it is refused. A suspension
/// alone does not make one.
pub async fn operators_of_closed_cases_are_blacklisted(store: Store) {
    let app = spawn_app(store).await;
    let o = orgs(&app).await;
    let (listed, suspended) = ("91110000600037341L", "91350200MA2YJ1XR9G");
    let (status, body) =
        put_recordal(&app, &o.ca11, "京ICP备11111111号", listed, "own.example.cn").await;
    assert_eq!(status, 201, "{body}");
    for (domain, code, close) in [
        ("shady.example.cn", listed, true),
        ("pending.example.cn", suspended, false),
    ] {
        let mut body = case_body(domain, None, "11");
        body["operator_credit_code"] = json!(code);
        let case = open(&app, &o.amr11, &body).await;
        let id = case["id"].clone();
        ok(
            &app,
            &o.amr11,
            &id,
            "suspension-request",
            &suspension_body(),
        )
        .await;
        ok(&app, &o.ca11, &id, "accept", &json!({})).await;
        ok(&app, &o.ca11, &id, "suspend", &json!({})).await;
        if close {
            ok(&app, &o.amr11, &id, "decision", &decision_body(2)).await;
            ok(
                &app,
                &o.ca11,
                &id,
                "close",
                &json!({"measures": ["blacklist"]}),
            )
            .await;
        }
    }
    let verify: Value = app
        .get(&o.amr11, "/v1/verify?domain=own.example.cn")
        .await
        .json()
        .await
        .unwrap();
    let finding = verify["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "operator_blacklisted")
        .unwrap_or_else(|| panic!("{verify}"))
        .clone();
    assert_eq!(finding["listed_domain"], "shady.example.cn");
    let (status, body) = put_recordal(
        &app,
        &o.ca11,
        "京ICP备22222222号",
        listed,
        "next.example.cn",
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("operator_blacklisted")),
        "{body}"
    );
    let (status, body) = put_recordal(
        &app,
        &o.ca11,
        "京ICP备33333333号",
        suspended,
        "other.example.cn",
    )
    .await;
    assert_eq!(status, 201, "a suspension is not a blacklisting: {body}");
}

/// Sets the inbox webhook of the organisation of `token`; answers the status and body.
async fn put_webhook(app: &TestApp, token: &str, body: &Value) -> (u16, Value) {
    let response = app
        .client
        .put(app.url("/v1/inbox/webhook"))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// An organisation with a webhook is told of each new item of its inbox, signed, retried
/// after a refusal under the same id, and told once; another organisation's items stay
/// with it; a removed webhook is told nothing more.
pub async fn organisations_are_told_of_new_inbox_items(store: Store) {
    let app = spawn_app_with(store, |s| {
        s.notices.sweep_interval_ms = 100;
        s.notices.backoff_base_ms = 50;
        s.notices.backoff_max_ms = 200;
    })
    .await;
    let o = orgs(&app).await;
    // Each item's first request is refused: the second, under the same id, is taken.
    let receiver = Receiver::start(1);
    let (status, hook) = put_webhook(&app, &o.ca11, &json!({"url": receiver.url})).await;
    assert_eq!(status, 201, "{hook}");
    assert_eq!(hook["org"], "ca:11");
    let secret = hook["webhook_secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"));
    receiver.set_secret(secret);
    let response = app.get(&o.ca11, "/v1/inbox/webhook").await;
    assert_eq!(response.status(), 200);
    let read: Value = response.json().await.unwrap();
    assert_eq!(read["url"], receiver.url.as_str());
    assert!(read.get("webhook_secret").is_none(), "{read}");
    let (status, again) = put_webhook(&app, &o.ca11, &json!({"url": receiver.url})).await;
    assert_eq!(status, 200, "{again}");
    assert!(again.get("webhook_secret").is_none(), "{again}");
    for (body, code) in [
        (json!({}), "url_required"),
        (json!({"url": "ftp://example.cn/x"}), "invalid_webhook_url"),
        (
            json!({"url": "https://u:p@example.cn/x"}),
            "invalid_webhook_url",
        ),
    ] {
        let (status, error) = put_webhook(&app, &o.amr11, &body).await;
        assert_eq!((status, error["error"]["code"].as_str()), (422, Some(code)));
    }

    let case = open(&app, &o.amr11, &case_body("told.example.cn", None, "11")).await;
    let id = case["id"].clone();
    let accepted_for = |action: &str| {
        receiver
            .accepted()
            .into_iter()
            .filter(|d| d.body["item"]["id"] == id && d.body["item"]["action"] == action)
            .collect::<Vec<_>>()
    };
    eventually(
        Duration::from_secs(10),
        "the hand-over announced",
        || async { !accepted_for("accept_or_return").is_empty() },
    )
    .await;
    let told = &accepted_for("accept_or_return")[0];
    assert!(told.signature_ok);
    assert_eq!(told.body["type"], "inbox.item");
    assert_eq!(told.body["org"], "ca:11");
    assert_eq!(told.body["item"]["kind"], "case");
    assert_eq!(told.body["item"]["domain"], "told.example.cn");
    let attempts: Vec<_> = receiver
        .deliveries()
        .into_iter()
        .filter(|d| d.id == told.id)
        .collect();
    assert_eq!(
        attempts.len(),
        2,
        "one refused attempt, then the accepted one"
    );

    // The next item of the same organisation is a new announcement; the opener's own item
    // (submit_decision) goes nowhere, as its organisation has no webhook.
    ok(&app, &o.ca11, &id, "accept", &json!({})).await;
    ok(&app, &o.amr11, &id, "decision", &decision_body(3)).await;
    eventually(Duration::from_secs(10), "the closure announced", || async {
        !accepted_for("close").is_empty()
    })
    .await;
    let ids: Vec<String> = receiver.accepted().into_iter().map(|d| d.id).collect();
    assert_eq!(ids.len(), 2, "one announcement per item: {ids:?}");
    assert_ne!(ids[0], ids[1]);
    assert!(receiver.accepted().iter().all(|d| d.body["org"] == "ca:11"));

    // Removed: the organisation is told nothing more.
    let response = app
        .client
        .delete(app.url("/v1/inbox/webhook"))
        .bearer_auth(&o.ca11)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    let response = app.get(&o.ca11, "/v1/inbox/webhook").await;
    assert_eq!(response.status(), 404);
    // Another organisation's webhook sees a referral sent after the next case was opened:
    // the pass that announced it saw that case too, and sent nothing for it.
    let other = Receiver::start(0);
    let (status, hook) = put_webhook(&app, &o.amr11, &json!({"url": other.url})).await;
    assert_eq!(status, 201, "{hook}");
    other.set_secret(hook["webhook_secret"].as_str().unwrap());
    let quiet = open(&app, &o.amr11, &case_body("quiet.example.cn", None, "11")).await;
    assert_eq!(
        waiting(&app, &o.ca11, &quiet["id"]).await,
        ["accept_or_return"]
    );
    let referral = json!({"to": "amr:11", "subject": "s", "summary": "s"});
    let response = app.post(&o.ca11, "/v1/referrals", &referral).await;
    assert_eq!(response.status(), 201);
    eventually(
        Duration::from_secs(10),
        "the referral announced",
        || async {
            other
                .accepted()
                .iter()
                .any(|d| d.body["item"]["kind"] == "referral")
        },
    )
    .await;
    assert!(
        other
            .accepted()
            .iter()
            .all(|d| d.signature_ok && d.body["org"] == "amr:11")
    );
    assert_eq!(
        receiver.deliveries().len(),
        4,
        "nothing sent after the removal"
    );
}

/// Two nodes on one Redis announce together: every item is sent once, whichever node's
/// announcer claims it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_announce_each_inbox_item_once() {
    let redis = RedisServer::start();
    let node = || {
        spawn_app_on_redis(|s| {
            s.store.redis_url = redis.url();
            s.notices.sweep_interval_ms = 20;
        })
    };
    let (a, b) = (node().await, node().await);
    let o = orgs(&a).await;
    let receiver = Receiver::start(0);
    let (status, hook) = put_webhook(&a, &o.ca11, &json!({"url": receiver.url})).await;
    assert_eq!(status, 201, "{hook}");
    receiver.set_secret(hook["webhook_secret"].as_str().unwrap());
    // Keys made on one node reach the other through the key log.
    eventually(
        Duration::from_secs(10),
        "the key known to both nodes",
        || async { b.get(&o.amr11, "/v1/inbox").await.status() == 200 },
    )
    .await;
    let cases = 12;
    for n in 0..cases {
        let app = if n % 2 == 0 { &a } else { &b };
        open(
            app,
            &o.amr11,
            &case_body(&format!("twice{n}.example.cn"), None, "11"),
        )
        .await;
    }
    eventually(Duration::from_secs(20), "every case announced", || async {
        receiver.accepted().len() >= cases
    })
    .await;
    let mut ids: Vec<String> = receiver.deliveries().into_iter().map(|d| d.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), cases);
    assert_eq!(receiver.deliveries().len(), cases, "each item sent once");
    assert!(receiver.accepted().iter().all(|d| d.signature_ok));
}
